//! Hosts, not just ports: the two-shard testnet (`tutti testnet --shards 2 --validators 3
//! --no-start`, six `tutti node` processes) with every node in its own network namespace, on its
//! own address (a veth pair to a bridge), bootnodes by address, RPC on that address. Blocks are
//! finalized on both shards and a cross-shard transfer is credited on every node of the other
//! shard, so the configuration works across hosts and not only on 127.0.0.1.
//!
//! Needs root and `ip` (iproute2); where namespaces cannot be created the test says so and passes
//! without running (CI runs as root).

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use parity_scale_codec::Encode;
use tutti_node::dev;
use tutti_primitives::{Action, PublicKey, Transaction};
use tutti_rpc::TuttiApiClient;

const NODES: usize = 6;
const RPC_PORT: u16 = 9500;
const P2P_PORT: u16 = 30300;

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespaces, bridge and node processes; all removed on drop.
struct Hosts {
    tag: String,
    subnet: String,
    children: Vec<Child>,
    dir: PathBuf,
}

impl Hosts {
    fn ns(&self, i: usize) -> String {
        format!("{}-{i}", self.tag)
    }

    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    fn addr(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, i + 1)
    }

    /// A bridge in the root namespace (with an address, so this test reaches the nodes' RPC) and
    /// one namespace per node, joined to it by a veth pair.
    fn create(&self) -> Result<(), String> {
        let br = self.bridge();
        ip(&["link", "add", &br, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{}.254/24", self.subnet), "dev", &br])?;
        // Bridged packets skip the host's firewall (a FORWARD policy of DROP, as Docker sets, would
        // otherwise cut the hosts off from each other); older iproute2 lacks the option.
        let _ = ip(&["link", "set", "dev", &br, "type", "bridge", "nf_call_iptables", "0"]);
        ip(&["link", "set", &br, "up"])?;
        for i in 0..NODES {
            let ns = self.ns(i);
            let (outside, inside) = (format!("{}a{i}", self.tag), format!("{}b{i}", self.tag));
            ip(&["netns", "add", &ns])?;
            ip(&["link", "add", &outside, "type", "veth", "peer", "name", &inside])?;
            ip(&["link", "set", &inside, "netns", &ns])?;
            ip(&["link", "set", &outside, "master", &br, "up"])?;
            ip(&[
                "netns",
                "exec",
                &ns,
                "ip",
                "addr",
                "add",
                &format!("{}/24", self.addr(i)),
                "dev",
                &inside,
            ])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", &inside, "up"])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    fn client(&self, i: usize) -> HttpClient {
        HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(10))
            .build(format!("http://{}:{RPC_PORT}", self.addr(i)))
            .unwrap()
    }

    fn logs(&self) -> String {
        (0..NODES)
            .map(|i| {
                let log = std::fs::read_to_string(self.dir.join(format!("node-{i}/node.log"))).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(12).collect();
                format!(
                    "--- node {i} ---\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for i in 0..NODES {
            let _ = ip(&["netns", "del", &self.ns(i)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}

/// Rewrites node `i`'s config for its own host: RPC and p2p on its address, bootnodes by address.
fn rehost(dir: &Path, hosts: &Hosts, i: usize, base: u16) {
    let path = dir.join(format!("node-{i}/config.toml"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text = text.replace(
        &format!("rpc-addr = \"127.0.0.1:{}\"", base + i as u16),
        &format!("rpc-addr = \"{}:{RPC_PORT}\"", hosts.addr(i)),
    );
    for j in 0..NODES {
        text = text.replace(
            &format!("/ip4/127.0.0.1/tcp/{}", base + 1000 + j as u16),
            &format!("/ip4/{}/tcp/{P2P_PORT}", hosts.addr(j)),
        );
        text = text.replace(
            &format!("\"http://127.0.0.1:{}\"", base + j as u16),
            &format!("\"http://{}:{RPC_PORT}\"", hosts.addr(j)),
        );
    }
    assert!(
        !text.contains("127.0.0.1"),
        "node {i}'s config still names loopback:\n{text}"
    );
    std::fs::write(&path, text).unwrap();
}

async fn height(c: &HttpClient) -> Option<u64> {
    c.block_number(None).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_on_six_hosts_finalize_and_deliver_a_cross_shard_transfer() {
    let tag = format!("tn{}", std::process::id() % 100_000);
    let pid = std::process::id();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let mut hosts = Hosts {
        tag,
        subnet: format!("10.{}.{}", 100 + (pid / 250) % 100, pid % 250),
        children: Vec::new(),
        dir: dir.clone(),
    };
    if let Err(e) = hosts.create() {
        eprintln!("skipped: cannot create network namespaces here ({e}); run as root with iproute2");
        return;
    }
    let base = 9500;
    let out = Command::new(env!("CARGO_BIN_EXE_tutti"))
        .args(["testnet", "--shards", "2", "--validators", "3", "--block-time", "300"])
        .arg("--static-committees")
        .args([
            "--base-timeout",
            "1500",
            "--base-port",
            &base.to_string(),
            "--no-start",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for i in 0..NODES {
        rehost(&dir, &hosts, i, base);
        let nd = dir.join(format!("node-{i}"));
        let log = std::fs::File::create(nd.join("node.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &hosts.ns(i)])
            .arg(env!("CARGO_BIN_EXE_tutti"))
            .args(["node", "--config"])
            .arg(nd.join("config.toml"))
            .env("RUST_LOG", "info,libp2p_gossipsub=error")
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        hosts.children.push(child);
    }

    // Both shards finalize over the addresses.
    let mut ok = false;
    for _ in 0..600 {
        let mut all = true;
        for i in 0..NODES {
            all &= height(&hosts.client(i)).await.is_some_and(|h| h >= 3);
        }
        if all {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the six hosts did not reach height 3:\n{}", hosts.logs());

    // A cross-shard transfer, sent to a node of the sender's shard, credited on the other shard.
    let me = dev::dev_address(0);
    let home = me.home_shard(2) as usize;
    let away = 1 - home;
    let to = common::address_on(away, 2);
    let k = dev::dev_key(0);
    let tx = Transaction {
        chain_id: dev::TESTNET_CHAIN_ID,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce: 0,
        gas_limit: 2_000_000,
        gas_price: 1,
        action: Action::Transfer { to, amount: 4_242 },
    }
    .sign(&k);
    hosts
        .client(3 * home)
        .send_raw_transaction(format!("0x{}", hex::encode(tx.encode())))
        .await
        .unwrap();
    let clients: Vec<HttpClient> = (0..3).map(|i| hosts.client(3 * away + i)).collect();
    let credited = common::balances_reach(&clients, &to, 4_242).await;
    assert!(
        credited,
        "the transfer never reached shard {away}'s hosts:\n{}",
        hosts.logs()
    );
}
