//! Four validator processes on loopback, over libp2p (`tutti testnet --no-start`, then four
//! `tutti node --config`): every node reports the same block at every height; a transaction
//! sent to one node is final once on all; killing the leader (SIGKILL) makes the other three
//! change view and go on; the killed node restarts, syncs and takes part again.

mod common;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use parity_scale_codec::Encode;
use tutti_node::dev;
use tutti_primitives::{Action, Address, PublicKey, Transaction};
use tutti_rpc::{
    TuttiApiClient,
    types::{BlockId, parse_hash},
};

/// A base port with base..base+3 and base+1000..base+1003 free.
fn free_base() -> u16 {
    free_base_for(4)
}

/// `tutti node --config DIR/config.toml`, logging (appended) to `DIR/node.log`.
fn spawn_node(dir: &Path, log_filter: &str) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("node.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_tutti"))
        .args(["node", "--config"])
        .arg(dir.join("config.toml"))
        .env("RUST_LOG", log_filter)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap()
}

struct Net {
    dir: PathBuf,
    base: u16,
    children: Vec<Option<Child>>,
}

impl Net {
    fn start_node(&mut self, i: usize) {
        let nd = self.dir.join(format!("node-{i}"));
        self.children[i] = Some(spawn_node(&nd, "info,tutti_node=debug,libp2p_gossipsub=error"));
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn client(&self, i: usize) -> HttpClient {
        HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(10))
            .build(format!("http://127.0.0.1:{}", self.base + i as u16))
            .unwrap()
    }

    fn logs(&self) -> String {
        (0..self.children.len())
            .map(|i| {
                let log = std::fs::read_to_string(self.dir.join(format!("node-{i}/node.log"))).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                format!(
                    "--- node {i} (last lines) ---\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}

async fn height(c: &HttpClient) -> Option<u64> {
    c.block_number(None).await.ok()
}

/// Waits until every listed node is at `at_least` or more. The bound is generous (a loaded
/// 2-core machine runs several of these networks at once, and some open genesis files of 60,000
/// accounts in a debug build): a healthy run meets the condition long before it.
async fn wait_all(net: &Net, nodes: &[usize], at_least: u64, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    while std::time::Instant::now() < deadline {
        let mut all = true;
        for &i in nodes {
            if height(&net.client(i)).await.is_none_or(|h| h < at_least) {
                all = false;
            }
        }
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}\n{}", net.logs());
}

async fn block_hash(c: &HttpClient, h: u64) -> String {
    let b = c
        .get_block_by_number(BlockId::Number(h), Some(false), None)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("block {h} missing"));
    b.hash
}

async fn same_chain(net: &Net, nodes: &[usize]) -> u64 {
    let mut top = u64::MAX;
    for &i in nodes {
        top = top.min(height(&net.client(i)).await.unwrap());
    }
    for h in 1..=top {
        let first = block_hash(&net.client(nodes[0]), h).await;
        for &i in &nodes[1..] {
            assert_eq!(
                block_hash(&net.client(i), h).await,
                first,
                "node {i} differs at height {h}"
            );
        }
    }
    top
}

/// `tutti testnet` for four validators with short blocks and timeouts, files in `dir`.
fn testnet_command(dir: &Path, base: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tutti"));
    c.args([
        "testnet",
        "--validators",
        "4",
        "--block-time",
        "300",
        "--base-timeout",
        "1500",
    ])
    .args(["--base-port", &base.to_string(), "--data-dir"])
    .arg(dir);
    c
}

/// Dev account 0's first transfer (nonce 0) on the testnet chain.
fn dev_transfer(to: Address, amount: u128) -> tutti_primitives::SignedTransaction {
    dev_transfer_at(0, to, amount)
}

/// Dev account 0's transfer with this nonce.
fn dev_transfer_at(nonce: u64, to: Address, amount: u128) -> tutti_primitives::SignedTransaction {
    let k = dev::dev_key(0);
    Transaction {
        chain_id: dev::TESTNET_CHAIN_ID,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit: 2_000_000,
        gas_price: 1,
        action: Action::Transfer { to, amount },
    }
    .sign(&k)
}

fn setup(dir: &Path, base: u16) {
    let out = testnet_command(dir, base).arg("--no-start").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("node 3  shard 0  RPC http://127.0.0.1:{}", base + 3)),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_finalize_survive_a_killed_leader_and_resync_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let base = free_base();
    setup(&dir, base);
    let mut net = Net {
        dir: dir.clone(),
        base,
        children: (0..4).map(|_| None).collect(),
    };
    for i in 0..4 {
        net.start_node(i);
    }
    let all = [0, 1, 2, 3];
    wait_all(&net, &all, 3, "three blocks on all four nodes").await;

    // A transfer sent to node 3 is final once, on every node.
    let tx = dev_transfer(Address([9; 32]), 5);
    let hash = net
        .client(3)
        .send_raw_transaction(format!("0x{}", hex::encode(tx.encode())))
        .await
        .unwrap();
    assert_eq!(parse_hash(&hash).unwrap(), tx.hash());
    let mut at = None;
    for _ in 0..300 {
        if let Ok(Some(r)) = net.client(0).get_transaction_receipt(hash.clone()).await {
            at = Some(r.block_height);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let at = at.unwrap_or_else(|| panic!("the transfer was never final\n{}", net.logs()));
    wait_all(&net, &all, at, "every node to reach the transfer's block").await;
    for i in all {
        let c = net.client(i);
        let r = c.get_transaction_receipt(hash.clone()).await.unwrap().unwrap();
        assert_eq!(r.block_height, at, "node {i}");
        let acc = c.get_account(Address([9; 32]).to_string(), None).await.unwrap();
        assert_eq!(acc.balance, "5", "node {i}: paid exactly once");
        let sender = c.get_account(tx.tx.sender().to_string(), None).await.unwrap();
        assert_eq!(sender.nonce, 1, "node {i}");
    }
    same_chain(&net, &all).await;

    // Kill the leader of the height being decided: the other three change view and go on.
    let committee = net.client(0).get_committee(None, None).await.unwrap();
    let leader = committee.leader as usize;
    net.kill(leader);
    let rest: Vec<usize> = all.iter().copied().filter(|i| *i != leader).collect();
    // Every height above `from` was undecided at the kill. The killed node may still have proposed
    // the next one (the others can commit it), but nothing after it; any four heights in a row
    // include one it leads in view 0 (leaders rotate (height + view) mod 4), which needs a view
    // change.
    let mut from = 0;
    for &i in &rest {
        from = from.max(height(&net.client(i)).await.unwrap());
    }
    from += 1;
    wait_all(&net, &rest, from + 4, "four more blocks without the killed leader").await;
    let killed_key = &committee.members[leader].bls_public_key;
    for h in from + 1..=from + 4 {
        let b = net
            .client(rest[0])
            .get_block_by_number(BlockId::Number(h), Some(false), None)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(&b.proposer, killed_key, "block {h} proposed by the killed node");
    }
    // (A node that synced that height instead of voting on it never changed view itself.)
    let mut changed = 0;
    for &i in &rest {
        let metrics = reqwest_metrics(base + i as u16).await;
        assert!(metrics.contains("tutti_view_changes_total"), "{metrics}");
        changed += usize::from(!metrics.contains("tutti_view_changes_total 0"));
    }
    assert!(
        changed >= 2,
        "view changes counted on {changed} of 3 nodes\n{}",
        net.logs()
    );
    let top = same_chain(&net, &rest).await;

    // The killed node restarts on its data dir, syncs what it missed, and follows again.
    net.start_node(leader);
    wait_all(&net, &all, top + 3, "the restarted node to sync and follow").await;
    same_chain(&net, &all).await;
    let metrics = reqwest_metrics(base + rest[0] as u16).await;
    assert!(!metrics.contains("tutti_peers 0"), "{metrics}");
}

/// GET /metrics over a plain TCP connection.
async fn reqwest_metrics(port: u16) -> String {
    use std::io::{Read, Write};
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap()
}

/// A running `tutti testnet`, its output lines collected as they come.
struct Supervised {
    child: Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// `tutti testnet --shards 2 --validators 3 --static-committees` (six nodes, each running its
/// genesis shard: these tests stop chosen validators of a shard) in `dir`.
fn sharded_testnet_command(dir: &Path, base: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tutti"));
    c.args(["testnet", "--shards", "2", "--validators", "3", "--block-time", "300"])
        .arg("--static-committees")
        .args(["--base-timeout", "1500", "--base-port", &base.to_string(), "--data-dir"])
        .arg(dir);
    c
}

impl Supervised {
    fn start(dir: &Path, base: u16, extra: &[&str]) -> Self {
        Self::spawn(testnet_command(dir, base), extra, "info,libp2p_gossipsub=error")
    }

    /// Runs a testnet command with `extra` arguments and node logs at `log`, collecting its output.
    fn spawn(mut command: Command, extra: &[&str], log: &str) -> Self {
        let child = command
            .args(extra)
            .env("RUST_LOG", log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut me = Self {
            child,
            lines: Default::default(),
        };
        me.collect_output();
        me
    }

    /// Collects the child's output lines as they come.
    fn collect_output(&mut self) {
        let out: Box<dyn std::io::Read + Send> = Box::new(self.child.stdout.take().unwrap());
        let err: Box<dyn std::io::Read + Send> = Box::new(self.child.stderr.take().unwrap());
        for stream in [out, err] {
            let lines = self.lines.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
    }

    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until a line contains `text`; returns that line.
    async fn wait_line(&self, text: &str) -> String {
        for _ in 0..1200 {
            if let Some(l) = self.lines.lock().unwrap().iter().rev().find(|l| l.contains(text)) {
                return l.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the testnet never printed `{text}`:\n{}", self.output());
    }

    /// The pid the testnet printed for node `i` (the latest, after restarts).
    async fn pid(&self, i: usize) -> u32 {
        let line = self.wait_line(&format!("node {i}  pid ")).await;
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    }

    async fn wait_exit(&mut self) -> std::process::ExitStatus {
        for _ in 0..1200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the testnet did not stop:\n{}", self.output());
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // Its nodes stop when it ends (their standard input closes).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill").arg(sig).arg(pid.to_string()).status().unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_testnet_keeps_three_of_four_finalizing_stops_below_a_quorum_and_restarts_the_dead() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let base = free_base();
    let net = Net {
        dir: dir.clone(),
        base,
        children: (0..4).map(|_| None).collect(),
    };
    let all = [0, 1, 2, 3];

    // Without restarts: a SIGKILLed node is reported and stays down; the other three go on.
    let mut testnet = Supervised::start(&dir, base, &[]);
    wait_all(&net, &all, 2, "two blocks on all four nodes").await;
    signal(testnet.pid(1).await, "-KILL");
    let report = testnet.wait_line("node 1 exited").await;
    assert!(report.contains("signal: 9"), "{report}");
    testnet.wait_line("node 1 stays down").await;
    // The report shows the end of the node's log.
    assert!(testnet.output().contains("  | "), "{}", testnet.output());
    let rest = [0, 2, 3];
    let mut h = 0;
    for &i in &rest {
        h = h.max(height(&net.client(i)).await.unwrap());
    }
    wait_all(&net, &rest, h + 4, "four more blocks from the three left").await;
    assert!(
        testnet.child.try_wait().unwrap().is_none(),
        "the testnet stopped:\n{}",
        testnet.output()
    );
    let top = same_chain(&net, &rest).await;

    // A second death leaves two of four, no quorum: the testnet says so and stops the rest.
    signal(testnet.pid(2).await, "-KILL");
    let status = testnet.wait_exit().await;
    assert_eq!(status.code(), Some(1), "{}", testnet.output());
    assert!(testnet.output().contains("fewer than a quorum"), "{}", testnet.output());
    for i in [0, 3] {
        let mut down = false;
        for _ in 0..200 {
            if height(&net.client(i)).await.is_none() {
                down = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(down, "node {i} still serves after the testnet stopped");
    }
    drop(testnet);

    // With restarts: the chain continues; a killed node comes back, syncs and follows.
    let mut testnet = Supervised::start(&dir, base, &["--restart-dead", "1"]);
    wait_all(&net, &all, top + 1, "the four nodes to continue the chain").await;
    let old = testnet.pid(0).await;
    signal(old, "-KILL");
    testnet.wait_line("node 0 started again").await;
    let mut h = 0;
    for &i in &all {
        h = h.max(height(&net.client(i)).await.unwrap_or(0));
    }
    wait_all(&net, &all, h + 3, "the restarted node to follow again").await;
    same_chain(&net, &all).await;

    // SIGTERM stops the testnet and every node, with success.
    signal(testnet.child.id(), "-TERM");
    let status = testnet.wait_exit().await;
    assert!(status.success(), "{}", testnet.output());
    for i in all {
        assert!(height(&net.client(i)).await.is_none(), "node {i} still serves");
    }
}

/// A base port with `n` RPC ports and `n` p2p ports (+1000) free, below the kernel's ephemeral
/// range (so no outgoing connection of any process takes the port of a killed node before its
/// restart) and never handed to another test of this binary (tests run at once).
fn free_base_for(n: u16) -> u16 {
    static HANDED: std::sync::Mutex<Vec<(u16, u16)>> = std::sync::Mutex::new(Vec::new());
    // Ports 10000-30999: the ephemeral range starts at 32768 on Linux.
    let start = (std::process::id() % 200) * 100;
    for step in 0..1_000u32 {
        let base = (10_000 + (start + step * 97) % 20_000) as u16;
        let mut handed = HANDED.lock().unwrap();
        let overlaps = |lo: u16| handed.iter().any(|(b, m)| lo < b + m && *b < lo + n);
        if overlaps(base)
            || overlaps(base + 1000)
            || handed.iter().any(|(b, m)| base < b + 1000 + m && b + 1000 < base + n)
        {
            continue;
        }
        let ok = (0..n).all(|i| {
            TcpListener::bind(("127.0.0.1", base + i)).is_ok()
                && TcpListener::bind(("127.0.0.1", base + 1000 + i)).is_ok()
        });
        if ok {
            handed.push((base, n));
            return base;
        }
    }
    panic!("no free ports");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_of_three_run_their_own_chains_and_refuse_other_shards_transactions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let base = free_base_for(7);
    let mut testnet = Supervised::spawn(
        sharded_testnet_command(&dir, base),
        &["--rpc-node"],
        "info,libp2p_gossipsub=error",
    );
    let line = testnet.wait_line("node 5  pid").await;
    assert!(line.contains("shard 1"), "{line}");
    let line = testnet.wait_line("node 6  pid").await;
    assert!(line.contains("RPC node (every shard)"), "{line}");
    let net = Net {
        dir: dir.clone(),
        base,
        children: (0..6).map(|_| None).collect(),
    };
    let all = [0, 1, 2, 3, 4, 5];
    wait_all(&net, &all, 3, "three blocks on both shards").await;
    // Each shard is one chain of its own: the same blocks within a shard, different across.
    same_chain(&net, &[0, 1, 2]).await;
    same_chain(&net, &[3, 4, 5]).await;
    let g0 = block_hash(&net.client(0), 0).await;
    let g1 = block_hash(&net.client(3), 0).await;
    assert_ne!(g0, g1, "each shard has its own genesis");
    for (node, shard) in [(0, 0), (4, 1)] {
        let committee = net.client(node).get_committee(None, None).await.unwrap();
        assert_eq!(committee.shard_id, shard);
        assert_eq!(committee.members.len(), 3);
        let other = net.client(node).get_committee(Some(1 - shard), None).await.unwrap_err();
        assert!(
            other.to_string().contains(&format!(
                "shard {} lives on shard {}, which this node does not track",
                1 - shard,
                1 - shard
            )),
            "{other}"
        );
        // An account of the other shard: refused with WRONG_SHARD, naming its shard.
        let away = common::address_on(1 - shard as usize, 2);
        let e = net.client(node).get_balance(away.to_string(), None).await.unwrap_err();
        assert!(e.to_string().contains("1012"), "{e}");
        assert!(
            e.to_string().contains(&format!("ask a node of shard {}", 1 - shard)),
            "{e}"
        );
        let layout = net.client(node).get_sharding_structure().await.unwrap();
        assert_eq!((layout.num_shards, layout.this_shard), (2, shard));
        let tracked: Vec<bool> = layout.shards.iter().map(|s| s.tracked).collect();
        assert_eq!(tracked, [shard == 0, shard == 1]);
        // Every shard's committee, tracked or not: three validators each, none in both.
        assert!(layout.shards.iter().all(|s| s.committee.len() == 3), "{layout:?}");
        assert!(
            layout.shards[0]
                .committee
                .iter()
                .all(|m| !layout.shards[1].committee.contains(m))
        );
        assert!(layout.shards.iter().all(|s| !s.congested), "{layout:?}");
        // The other shard's head is known from the headers this node follows (over libp2p).
        let mut followed = None;
        for _ in 0..600 {
            let layout = net.client(node).get_sharding_structure().await.unwrap();
            followed = layout.shards[1 - shard as usize].head;
            if followed.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            followed.is_some(),
            "node {node} never followed shard {}'s headers",
            1 - shard
        );
    }

    // A dev account lives on one shard; its transfer is taken there and refused on the other,
    // with the shard to use.
    let me = dev::dev_address(0);
    let home = me.home_shard(2) as usize;
    let tx = dev_transfer(me, 5);
    let raw = format!("0x{}", hex::encode(tx.encode()));
    let wrong = net
        .client(3 * (1 - home))
        .send_raw_transaction(raw.clone())
        .await
        .unwrap_err();
    assert!(
        wrong.to_string().contains(&format!("ask a node of shard {home}")) && wrong.to_string().contains("1012"),
        "{wrong}"
    );
    let hash = net.client(3 * home).send_raw_transaction(raw).await.unwrap();
    let mut final_at = None;
    for _ in 0..300 {
        if let Ok(Some(r)) = net.client(3 * home + 1).get_transaction_receipt(hash.clone()).await {
            final_at = Some(r.block_height);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(final_at.is_some(), "the transfer never became final on shard {home}");

    // A transfer to an account of the other shard: taken by its sender's shard, credited once on
    // every node of the other shard (a receipt batch, pushed or pulled between processes).
    let away = 1 - home;
    let to = common::address_on(away, 2);
    let tx = dev_transfer_at(1, to, 777);
    let sent = net
        .client(3 * home + 2)
        .send_raw_transaction(format!("0x{}", hex::encode(tx.encode())))
        .await
        .unwrap();
    let away_clients: Vec<HttpClient> = (0..3).map(|i| net.client(3 * away + i)).collect();
    let credited = common::balances_reach(&away_clients, &to, 777).await;
    assert!(
        credited,
        "the cross-shard transfer never reached every node of shard {away}"
    );
    let h = net.client(3 * away).block_number(None).await.unwrap();
    wait_all(
        &net,
        &[3 * away, 3 * away + 1, 3 * away + 2],
        h + 3,
        "three more blocks",
    )
    .await;
    for i in 0..3 {
        let b = net
            .client(3 * away + i)
            .get_balance(to.to_string(), None)
            .await
            .unwrap();
        assert_eq!(b, "777", "credited once");
    }
    // A node of the sender's shard sees its part done and says where the rest went.
    let r = net
        .client(3 * home)
        .get_transaction_receipt(sent)
        .await
        .unwrap()
        .expect("final on the sender's shard");
    assert_eq!((r.status.as_str(), r.continues_on.clone()), ("sent", vec![away as u32]));

    // The CLI, pointed at a node of the other shard, finds the sender's shard from the endpoints
    // the testnet wrote (`shard-rpc`) and says where the transfer continues.
    let out = Command::new(env!("CARGO_BIN_EXE_tutti"))
        .args(["send", "--rpc", &format!("http://127.0.0.1:{}", base + 3 * away as u16)])
        .args(["--from", "dev0", "--to", &to.to_string(), "--amount", "5atto"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "lives on shard {home}, served at http://127.0.0.1:{}",
            base + 3 * home as u16
        )),
        "{stderr}"
    );
    assert!(stdout.contains("status      sent"), "{stdout}");
    assert!(stdout.contains(&format!("continues   on shard {away}")), "{stdout}");
    let layout = net.client(0).get_sharding_structure().await.unwrap();
    let rpcs: Vec<&str> = layout.shards.iter().map(|s| s.rpc.as_str()).collect();
    assert_eq!(
        rpcs,
        [
            format!("http://127.0.0.1:{base}"),
            format!("http://127.0.0.1:{}", base + 3)
        ],
        "every shard's endpoint is known"
    );

    // The partner's RPC node (`--rpc-node`): a full node tracking both shards in one process
    // (one swarm, one port). It serves every account, and a cross-shard transfer sent through it
    // is final only once the whole tree ran, on both shards.
    let partner = dir.join("node-6");
    let rpc_port = base + 6;
    let url = format!("http://127.0.0.1:{rpc_port}");
    let pc = HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(10))
        .build(&url)
        .unwrap();
    let want = (
        height(&net.client(0)).await.unwrap(),
        height(&net.client(3)).await.unwrap(),
    );
    let mut synced = false;
    for _ in 0..1200 {
        if let Ok(layout) = pc.get_sharding_structure().await
            && layout.shards.iter().all(|s| s.tracked)
            && layout.shards[0].head >= Some(want.0)
            && layout.shards[1].head >= Some(want.1)
        {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let partner_log = || std::fs::read_to_string(partner.join("node.log")).unwrap_or_default();
    assert!(
        synced,
        "the tracking node never caught up with both shards:\n{}",
        partner_log()
    );
    // An account of either shard, no WRONG_SHARD: 777 + the 5 sent by the CLI above, once.
    let mut balance = String::new();
    for _ in 0..1200 {
        balance = pc.get_balance(to.to_string(), None).await.unwrap();
        if balance == "782" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(balance, "782");
    let out = Command::new(env!("CARGO_BIN_EXE_tutti"))
        .args([
            "send",
            "--rpc",
            &url,
            "--from",
            "dev0",
            "--to",
            &to.to_string(),
            "--amount",
            "9atto",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        partner_log()
    );
    assert!(stdout.contains("status      success"), "{stdout}");
    assert!(
        stdout.contains(&format!("shard {away}")),
        "the credit on shard {away} shows: {stdout}"
    );
    signal(testnet.child.id(), "-TERM");
    assert!(testnet.wait_exit().await.success(), "{}", testnet.output());
}

/// The balance of `a` on node `i`, if it answers.
async fn balance_on(net: &Net, i: usize, a: &Address) -> Option<u128> {
    net.client(i).get_balance(a.to_string(), None).await.ok()?.parse().ok()
}

/// Waits until every listed node reports `want` as `a`'s balance.
async fn wait_balance(net: &Net, nodes: &[usize], a: &Address, want: u128, what: &str) {
    let clients: Vec<HttpClient> = nodes.iter().map(|&i| net.client(i)).collect();
    assert!(
        common::balances_reach(&clients, a, want).await,
        "timed out waiting for {what}\n{}",
        net.logs()
    );
}

/// Sends dev account 0's transfer to node `i` and waits until it is final there; returns its height.
async fn final_transfer(net: &Net, i: usize, nonce: u64, to: Address, amount: u128) -> u64 {
    let tx = dev_transfer_at(nonce, to, amount);
    let hash = net
        .client(i)
        .send_raw_transaction(format!("0x{}", hex::encode(tx.encode())))
        .await
        .unwrap();
    for _ in 0..1200 {
        if let Ok(Some(r)) = net.client(i).get_transaction_receipt(hash.clone()).await {
            return r.block_height;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("transfer {nonce} never became final on node {i}\n{}", net.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_shard_receipts_survive_a_stalled_destination_and_a_source_leader_killed_after_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let base = free_base_for(6);
    let mut testnet = Supervised::spawn(
        sharded_testnet_command(&dir, base),
        &["--restart-dead", "5"],
        "info,tutti_node=debug,libp2p_gossipsub=error",
    );
    let net = Net {
        dir: dir.clone(),
        base,
        children: (0..6).map(|_| None).collect(),
    };
    wait_all(&net, &[0, 1, 2, 3, 4, 5], 2, "two blocks on both shards").await;
    let src = dev::dev_address(0).home_shard(2) as usize;
    let dst = 1 - src;
    let (src_nodes, dst_nodes) = ([3 * src, 3 * src + 1, 3 * src + 2], [3 * dst, 3 * dst + 1, 3 * dst + 2]);
    let to = common::address_on(dst, 2);

    // 1. The destination stalls (two of its three validators killed): the source goes on
    //    finalizing and sending; nothing is credited until the destination is back (restarted by
    //    the testnet), then everything is, in order, once.
    signal(testnet.pid(dst_nodes[1]).await, "-KILL");
    signal(testnet.pid(dst_nodes[2]).await, "-KILL");
    for (nonce, amount) in [(0, 1), (1, 2), (2, 3)] {
        final_transfer(&net, src_nodes[nonce as usize], nonce, to, amount).await;
    }
    testnet.wait_line(&format!("node {} started again", dst_nodes[2])).await;
    wait_balance(
        &net,
        &dst_nodes,
        &to,
        6,
        "the destination to credit what was sent while it was stalled",
    )
    .await;

    // 2. The source shard's leader is killed right after it commits a block with a receipt for
    //    the destination: the batch still arrives (its committee peers push it, or the
    //    destination pulls it from them).
    let view = net.client(src_nodes[0]).get_committee(None, None).await.unwrap();
    let leader = src_nodes[view.leader as usize];
    final_transfer(&net, leader, 3, to, 4).await;
    signal(testnet.pid(leader).await, "-KILL");
    wait_balance(&net, &dst_nodes, &to, 10, "the receipt of the killed leader's block").await;

    // Once: more blocks on the destination change nothing.
    let h = net.client(dst_nodes[0]).block_number(None).await.unwrap();
    wait_all(&net, &dst_nodes, h + 3, "three more destination blocks").await;
    for &i in &dst_nodes {
        assert_eq!(balance_on(&net, i, &to).await, Some(10), "node {i}");
    }
    same_chain(&net, &dst_nodes).await;
    signal(testnet.child.id(), "-TERM");
    assert!(testnet.wait_exit().await.success(), "{}", testnet.output());
}

/// `tutti testnet --shards 2 --validators 4 --epoch-blocks 6`: every validator runs both shards
/// and signs wherever the beacon elects it. Through five epochs both shards finalize across every
/// boundary; each block of an epoch from 2 on is proposed by a member of the committee elected
/// for its shard and epoch (`tutti_getCommittee(shard, epoch)`), no validator sits on both shards
/// in one epoch, and validators move between shards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elected_committees_move_validators_between_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let base = free_base_for(8);
    let mut command = Command::new(env!("CARGO_BIN_EXE_tutti"));
    command
        .args(["testnet", "--shards", "2", "--validators", "4", "--block-time", "300"])
        .args([
            "--base-timeout",
            "1500",
            "--epoch-blocks",
            "6",
            "--base-port",
            &base.to_string(),
        ])
        .arg("--data-dir")
        .arg(&dir);
    let testnet = Supervised::spawn(command, &[], "info,libp2p_gossipsub=error");
    testnet.wait_line("node 7  pid").await;
    let net = Net {
        dir: dir.clone(),
        base,
        children: (0..8).map(|_| None).collect(),
    };
    // Each validator runs the beacon, its genesis shard and the shards it is elected to: ask
    // whichever node serves a shard now.
    let c = net.client(0);
    let last = 6 * 6;
    let mut at = (0, 0);
    for _ in 0..3000 {
        let h0 = c.block_number(Some(0)).await.unwrap_or(0);
        let h1 = shard_height(&net, 8, 1).await;
        at = (h0, h1);
        if h0 >= last && h1 >= last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        at.0 >= last && at.1 >= last,
        "both shards should pass height {last}; they are at {at:?}\n{}\n{}",
        testnet.output(),
        net.logs()
    );
    let mut placements = std::collections::BTreeSet::new();
    for epoch in 0..6u64 {
        let mut seats = Vec::new();
        for shard in 0..2u32 {
            let committee = shard_committee(&net, 8, shard, epoch).await;
            let keys: Vec<String> = committee.members.iter().map(|m| m.bls_public_key.clone()).collect();
            for h in epoch * 6..(epoch + 1) * 6 {
                let b = shard_block(&net, 8, shard, h.max(1)).await;
                assert!(
                    keys.contains(&b.proposer),
                    "shard {shard} block {h} (epoch {epoch}) proposed by {} outside {keys:?}",
                    b.proposer
                );
            }
            seats.push(keys);
        }
        assert!(
            seats[0].iter().all(|k| !seats[1].contains(k)),
            "epoch {epoch}: a validator on both shards: {seats:?}"
        );
        placements.insert(seats);
    }
    assert!(placements.len() > 1, "nobody moved in six epochs: {placements:?}");
    // Validators moved into shard 1 by restoring its state from a snapshot (when they leave is
    // pure logic, tested in `tracking::tests`).
    let logs: String = (0..8)
        .map(|i| std::fs::read_to_string(dir.join(format!("node-{i}/node.log"))).unwrap_or_default())
        .collect();
    assert!(
        logs.lines()
            .any(|l| l.contains("restored the state from a snapshot") && l.contains("shard=1")),
        "no validator restored shard 1 from a snapshot\n{}",
        net.logs()
    );
}

/// The head height of `shard` on the first of `n` nodes that serves it (0 if none).
async fn shard_height(net: &Net, n: usize, shard: u32) -> u64 {
    for i in 0..n {
        if let Ok(h) = net.client(i).block_number(Some(shard)).await {
            return h;
        }
    }
    0
}

/// The committee of `shard` at `epoch` from any of `n` nodes that serves the shard.
async fn shard_committee(net: &Net, n: usize, shard: u32, epoch: u64) -> tutti_rpc::types::CommitteeView {
    for i in 0..n {
        if let Ok(c) = net.client(i).get_committee(Some(shard), Some(epoch)).await {
            return c;
        }
    }
    panic!("no node serves the committee of shard {shard}\n{}", net.logs());
}

/// Block `h` of `shard` from any of `n` nodes that has it.
async fn shard_block(net: &Net, n: usize, shard: u32, h: u64) -> tutti_rpc::types::BlockView {
    for i in 0..n {
        if let Ok(Some(b)) = net
            .client(i)
            .get_block_by_number(BlockId::Number(h), Some(false), Some(shard))
            .await
        {
            return b;
        }
    }
    panic!("no node has block {h} of shard {shard}\n{}", net.logs());
}

/// A validator run twice with a copied key (`tutti testnet --no-start`, then node 0's key in a
/// fifth `tutti node`): when that key leads, its two copies propose two blocks; the other
/// nodes report the double signing from their reporter account, the beacon slashes it
/// (`tutti_getValidators` shows it slashed) and the chain goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_run_with_a_copied_key_is_slashed_from_the_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let base = free_base_for(5);
    setup(&dir, base);
    // Node 4: node 0's validator key in a process of its own.
    let copy = dir.join("node-4");
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["validator.key", "reporter.key"] {
        std::fs::copy(dir.join("node-0").join(f), copy.join(f)).unwrap();
    }
    let config = std::fs::read_to_string(dir.join("node-0/config.toml"))
        .unwrap()
        .replace(&format!("127.0.0.1:{}", base), &format!("127.0.0.1:{}", base + 4))
        .replace(&format!("/tcp/{}\"", base + 1000), &format!("/tcp/{}\"", base + 1004));
    std::fs::write(copy.join("config.toml"), config).unwrap();
    let mut net = Net {
        dir: dir.clone(),
        base,
        children: (0..5).map(|_| None).collect(),
    };
    for i in 0..5 {
        net.start_node(i);
    }
    wait_all(&net, &[1, 2, 3], 2, "two blocks on the honest nodes").await;
    let key = std::fs::read_to_string(dir.join("node-0/validator.key")).unwrap();
    let sk =
        tutti_consensus::bls::SecretKey::from_bytes(&hex::decode(key.trim()).unwrap().try_into().unwrap()).unwrap();
    let bad = format!("0x{}", hex::encode(sk.public_key().to_bytes()));
    let mut slashed = false;
    for _ in 0..1200 {
        if let Ok(v) = net.client(1).get_validators().await
            && v.validators.iter().any(|x| x.bls_public_key == bad && x.slashed)
        {
            slashed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(slashed, "the copied key was never slashed\n{}", net.logs());
    let logs = (0..4)
        .map(|i| std::fs::read_to_string(dir.join(format!("node-{i}/node.log"))).unwrap_or_default())
        .collect::<String>();
    assert!(logs.contains("double signing reported"), "{logs}");
    let h = height(&net.client(1)).await.unwrap();
    wait_all(&net, &[1, 2, 3], h + 3, "the chain to go on after the slashing").await;
}

/// `tutti testnet --validators 4 --spares 1 --epoch-blocks 6`: the spare's node follows the
/// chain, the testnet registers it by transaction, the beacon elects it for two epochs after the
/// registration's epoch, and it proposes blocks from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spare_validator_registers_by_transaction_and_joins_at_e_plus_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let base = free_base_for(5);
    let testnet = Supervised::spawn(
        testnet_command(&dir, base),
        &["--spares", "1", "--epoch-blocks", "6"],
        "info,libp2p_gossipsub=error",
    );
    let line = testnet.wait_line("node 4  pid").await;
    assert!(line.contains("spare validator"), "{line}");
    let line = testnet.wait_line("spare validator 0 registered by transaction").await;
    let hash = line.split_whitespace().nth(6).unwrap().to_string();
    let net = Net {
        dir: dir.clone(),
        base,
        children: (0..5).map(|_| None).collect(),
    };
    let c = net.client(0);
    let mut at = None;
    for _ in 0..600 {
        if let Ok(Some(r)) = c.get_transaction_receipt(hash.clone()).await {
            assert_eq!(r.status, "success", "{r:?}");
            at = Some(r.block_height);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let at = at.unwrap_or_else(|| panic!("the registration never landed\n{}", testnet.output()));
    let joins = at / 6 + 2;
    let key = std::fs::read_to_string(dir.join("node-4/validator.key")).unwrap();
    let sk =
        tutti_consensus::bls::SecretKey::from_bytes(&hex::decode(key.trim()).unwrap().try_into().unwrap()).unwrap();
    let spare = format!("0x{}", hex::encode(sk.public_key().to_bytes()));
    let before = c.get_committee(None, Some(joins - 1)).await.unwrap();
    assert!(before.members.iter().all(|m| m.bls_public_key != spare), "seated early");
    let mut proposed = None;
    for _ in 0..1200 {
        let head = height(&c).await.unwrap_or(0);
        if head >= (joins + 1) * 6 {
            let members = c.get_committee(None, Some(joins)).await.unwrap().members;
            assert!(
                members.iter().any(|m| m.bls_public_key == spare),
                "not elected: {members:?}"
            );
            let mut found = None;
            for h in joins * 6..head {
                let b = c
                    .get_block_by_number(BlockId::Number(h), Some(false), None)
                    .await
                    .unwrap()
                    .unwrap();
                if b.proposer == spare {
                    found = Some(h);
                    break;
                }
            }
            proposed = found;
            if proposed.is_some() || head >= (joins + 3) * 6 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        proposed.is_some(),
        "the spare never proposed a block after epoch {joins}\n{}\n{}",
        testnet.output(),
        net.logs()
    );
}

/// Node 4 of a testnet set up in `dir`: node 0's configuration without its keys (a full node),
/// on its own ports.
fn full_node_config(dir: &Path, base: u16) -> PathBuf {
    let full = dir.join("node-4");
    std::fs::create_dir_all(&full).unwrap();
    let config: String = std::fs::read_to_string(dir.join("node-0/config.toml"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("validator-key") && !l.starts_with("reporter-key"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace(&format!("127.0.0.1:{}", base), &format!("127.0.0.1:{}", base + 4))
        .replace(&format!("/tcp/{}\"", base + 1000), &format!("/tcp/{}\"", base + 1004));
    std::fs::write(full.join("config.toml"), config).unwrap();
    full
}

/// `tutti node --sync snapshot --config DIR/config.toml`, logging (appended) to `DIR/node.log`.
fn spawn_snapshot_node(dir: &Path, log_filter: &str) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("node.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_tutti"))
        .args(["node", "--sync", "snapshot", "--config"])
        .arg(dir.join("config.toml"))
        .env("RUST_LOG", log_filter)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap()
}

/// `tutti node --sync snapshot`: a full node (no key) joins a four-validator testnet with epochs
/// of six blocks past epoch 3. It walks the beacon's epoch ends to learn the committee, restores
/// the state of a validator's certified head from the validators' chunks, then executes only
/// the blocks after it: it holds a transfer made before it started, reports the same blocks as
/// the validators from then on, and holds no block below its snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_started_from_a_snapshot_restores_the_state_and_follows_the_head() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let base = free_base_for(5);
    let out = testnet_command(&dir, base)
        .args(["--epoch-blocks", "6", "--no-start"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let full = full_node_config(&dir, base);
    let mut net = Net {
        dir: dir.clone(),
        base,
        children: (0..5).map(|_| None).collect(),
    };
    for i in 0..4 {
        net.start_node(i);
    }
    let to = Address([0x5a; 32]);
    wait_all(&net, &[0, 1, 2, 3], 2, "the first blocks").await;
    final_transfer(&net, 0, 0, to, 4_321).await;
    wait_all(&net, &[0, 1, 2, 3], 3 * 6 + 2, "epoch 3").await;
    net.children[4] = Some(spawn_snapshot_node(&full, "info,libp2p_gossipsub=error"));
    let goal = height(&net.client(0)).await.unwrap() + 4;
    wait_all(&net, &[4], goal, "the snapshot node to follow the head").await;
    wait_all(&net, &[0], goal, "node 0 at the goal").await;
    assert_eq!(
        block_hash(&net.client(4), goal).await,
        block_hash(&net.client(0), goal).await
    );
    assert_eq!(
        balance_on(&net, 4, &to).await,
        Some(4_321),
        "state from before the snapshot"
    );
    let log = std::fs::read_to_string(full.join("node.log")).unwrap();
    assert!(log.contains("restored the state from a snapshot"), "{log}");
    let below = net
        .client(4)
        .get_block_by_number(BlockId::Number(1), Some(false), None)
        .await;
    let e = below.expect_err("no block below the snapshot").to_string();
    assert!(e.contains("started from a state snapshot"), "{e}");
}

/// A snapshot restore killed half-way resumes: a full node restoring a state of 60,000 extra
/// genesis accounts (15 chunks) is killed (SIGKILL) once it has stored a chunk, while the
/// validators are paused (SIGSTOP) so it cannot have finished; restarted, it resumes after the
/// entries it had stored, finishes, and follows the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_restore_killed_half_way_resumes_and_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let base = free_base_for(5);
    setup(&dir, base);
    let path = dir.join("genesis.json");
    let mut g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let accounts = g["accounts"].as_array_mut().unwrap();
    for i in 0..60_000u32 {
        let mut a = [9u8; 32];
        a[..4].copy_from_slice(&i.to_le_bytes());
        accounts.push(serde_json::json!({ "address": Address(a).to_string(), "balance": "1" }));
    }
    std::fs::write(&path, serde_json::to_string(&g).unwrap()).unwrap();
    let full = full_node_config(&dir, base);
    let mut net = Net {
        dir: dir.clone(),
        base,
        children: (0..5).map(|_| None).collect(),
    };
    for i in 0..4 {
        net.start_node(i);
    }
    wait_all(&net, &[0, 1, 2, 3], 2, "the first blocks").await;
    let filter = "info,tutti_node::snapshot=debug,libp2p_gossipsub=error";
    net.children[4] = Some(spawn_snapshot_node(&full, filter));
    let log = || std::fs::read_to_string(full.join("node.log")).unwrap_or_default();
    let mut stored = false;
    for _ in 0..6000 {
        if log().contains("snapshot sync: chunk stored") {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(stored, "no chunk stored\n{}", log());
    let validators: Vec<u32> = (0..4).map(|i| net.children[i].as_ref().unwrap().id()).collect();
    for pid in &validators {
        signal(*pid, "-STOP");
    }
    net.kill(4);
    let first = log();
    for pid in &validators {
        signal(*pid, "-CONT");
    }
    assert!(
        !first.contains("restored the state from a snapshot"),
        "the restore finished before the kill: the state is too small for this test\n{first}"
    );
    net.children[4] = Some(spawn_snapshot_node(&full, filter));
    let goal = height(&net.client(0)).await.unwrap() + 2;
    wait_all(&net, &[4], goal, "the resumed node to follow the head").await;
    wait_all(&net, &[0], goal, "node 0 at the goal").await;
    assert_eq!(
        block_hash(&net.client(4), goal).await,
        block_hash(&net.client(0), goal).await
    );
    let all = log();
    let second = &all[first.len()..];
    assert!(
        second.contains("resuming after the state entries already stored"),
        "the restart did not resume\n{second}"
    );
    assert!(second.contains("restored the state from a snapshot"), "{second}");
}
