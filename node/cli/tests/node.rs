//! `tutti dev` as a process: the wallet commands against it, a clean stop and restart, and a
//! SIGKILL while transactions stream in, after which every block the node had reported is still
//! there and the chain goes on.

mod common;

use std::{
    path::Path,
    process::{Command, Output},
    time::{Duration, Instant},
};

use common::{DevNode, free_port, log};

use parity_scale_codec::Encode;
use tutti_node::dev;
use tutti_primitives::{Action, PublicKey, Transaction};
use tutti_rpc::{
    TuttiApiClient,
    types::{BlockId, hex0x},
};

/// A 1-unit transfer from `key` to dev account 4.
fn transfer(key: &ed25519_dalek::SigningKey, nonce: u64) -> tutti_primitives::SignedTransaction {
    Transaction {
        chain_id: dev::DEV_CHAIN_ID,
        signer: PublicKey(key.verifying_key().to_bytes()),
        nonce,
        gas_limit: 2_000_000,
        gas_price: 1,
        action: Action::Transfer {
            to: dev::dev_address(4),
            amount: 1,
        },
    }
    .sign(key)
}

async fn ready(n: &DevNode, dir: &Path) -> jsonrpsee::http_client::HttpClient {
    let c = tutti_rpc::client::http(&n.rpc).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Ready once RPC answers and the example deployment (if any) has printed its addresses.
    loop {
        if c.chain_id().await.is_ok() && log(dir).contains("Ready.") {
            return c;
        }
        assert!(Instant::now() < deadline, "node did not start:\n{}", log(dir));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_height(c: &jsonrpsee::http_client::HttpClient, above: u64) -> u64 {
    wait_height_on(c, None, above).await
}

/// Waits until `shard`'s head (default: the lowest shard) is above `above`.
async fn wait_height_on(c: &jsonrpsee::http_client::HttpClient, shard: Option<u32>, above: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = c.block_number(shard).await.unwrap();
        if h > above {
            return h;
        }
        assert!(Instant::now() < deadline, "the chain stalled at {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tutti(rpc: &str, keys: &Path, args: &[&str]) -> Output {
    let rpc_flag: &[&str] = if args[0] == "keys" { &[] } else { &["--rpc", rpc] };
    Command::new(env!("CARGO_BIN_EXE_tutti"))
        .args(args)
        .args(rpc_flag)
        .env("TUTTI_KEYS_DIR", keys)
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_commands_then_a_clean_stop_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let port = free_port();
    let mut n = common::start(dir.path(), port, 100, &[]);
    let c = ready(&n, dir.path()).await;
    let rpc = n.rpc.clone();
    let text = log(dir.path());
    assert!(text.contains("dev0") && text.contains("token"), "{text}");

    // A second node on the same data directory is refused at once, with the reason, and the
    // first one goes on serving.
    let mut second = Command::new(env!("CARGO_BIN_EXE_tutti"))
        .args(["dev", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--rpc-addr", &format!("127.0.0.1:{}", free_port())])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while second.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            second.kill().unwrap();
            panic!("a second node on a data directory in use did not stop");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = second.wait_with_output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", out(&refused));
    assert!(out(&refused).contains("in use by another process"), "{}", out(&refused));
    let h = wait_height(&c, 0).await;
    wait_height(&c, h).await;

    // Keys.
    let o = tutti(&rpc, &keys, &["keys", "new", "alice", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let alice: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let alice = alice["address"].as_str().unwrap().to_string();
    let o = tutti(&rpc, &keys, &["keys", "new", "alice"]);
    assert_eq!(o.status.code(), Some(2), "a second key with the same name is refused");
    let o = tutti(&rpc, &keys, &["keys", "list"]);
    assert!(out(&o).contains("alice") && out(&o).contains("dev9"), "{}", out(&o));
    let o = tutti(&rpc, &keys, &["keys", "show", "alice"]);
    assert!(out(&o).contains(&alice));

    // A native transfer.
    let o = tutti(
        &rpc,
        &keys,
        &["send", "--from", "dev0", "--to", &alice, "--amount", "5000000000atto"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("status      success"), "{}", out(&o));
    let o = tutti(&rpc, &keys, &["account", &alice, "--json"]);
    let acc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(acc["balance"], "5000000000");
    // Amounts in tokens (a bare number is tokens): 0.25 token is 25 x 10^16 of the smallest
    // unit; shown both ways.
    let o = tutti(
        &rpc,
        &keys,
        &["send", "--from", "dev0", "--to", &alice, "--amount", "0.25tokens"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = tutti(&rpc, &keys, &["account", &alice]);
    assert!(
        out(&o).contains("balance   0.25 TUTTI  (250000005000000000 atto)"),
        "{}",
        out(&o)
    );
    let o = tutti(
        &rpc,
        &keys,
        &["send", "--from", "dev0", "--to", &alice, "--amount", "1.2.3tokens"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("not a number of tokens"), "{}", out(&o));

    // A token transfer from dev0 (which holds the example token's supply) to alice, as JSON.
    let token = c
        .get_account(
            tutti_primitives::Address::for_contract(&dev::dev_address(0), 1).to_string(),
            None,
        )
        .await
        .unwrap();
    assert!(token.code_hash.is_some(), "the example token is deployed");
    let o = tutti(
        &rpc,
        &keys,
        &[
            "call",
            "--from",
            "dev0",
            &token.address,
            "transfer",
            "--arg",
            &format!("address:{alice}"),
            "--arg",
            "u128:777",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let receipt: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(receipt["status"], "success");
    assert_eq!(receipt["events"][0]["name"], "Transfer");
    let tx_hash = receipt["transactionHash"].as_str().unwrap().to_string();
    let o = tutti(
        &rpc,
        &keys,
        &[
            "view",
            &token.address,
            "balance_of",
            "--arg",
            &format!("address:{alice}"),
            "--returns",
            "u128",
        ],
    );
    assert_eq!(out(&o).trim(), "777");
    // The same through raw RPC.
    let v = c
        .call(
            token.address.clone(),
            "balance_of".into(),
            Some(hex0x(&alice.parse::<tutti_primitives::Address>().unwrap().encode())),
            None,
        )
        .await
        .unwrap();
    assert_eq!(v.return_data.unwrap(), hex0x(&777u128.encode()));

    // The token describes itself (its module carries its ABI): arguments by name, results and
    // events decoded, no type strings.
    let o = tutti(&rpc, &keys, &["abi", &token.address]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("call             transfer(to: Address, amount: u128)\n"),
        "{}",
        out(&o)
    );
    assert!(
        out(&o).contains("view             balance_of(owner: Address) -> u128"),
        "{}",
        out(&o)
    );
    assert!(
        out(&o).contains("event            Transfer: TransferEvent"),
        "{}",
        out(&o)
    );
    let abi = c.get_abi(token.address.clone(), None).await.unwrap().expect("an ABI");
    assert_eq!(abi["contract"], "tutti-example-token");
    assert_eq!(
        c.get_abi(alice.clone(), None).await.unwrap(),
        None,
        "a plain account has none"
    );
    let o = tutti(
        &rpc,
        &keys,
        &[
            "call",
            "--from",
            "dev0",
            &token.address,
            "transfer",
            "--arg",
            &format!("to={alice}"),
            "--arg",
            "amount=223",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains(&format!(
            "event       Transfer {{\"from\":\"{}\",\"to\":\"{alice}\",\"amount\":\"223\"}}",
            dev::dev_address(0)
        )),
        "{}",
        out(&o)
    );
    let o = tutti(
        &rpc,
        &keys,
        &[
            "view",
            &token.address,
            "balance_of",
            "--args",
            &format!("{{\"owner\": \"{alice}\"}}"),
        ],
    );
    assert_eq!(out(&o).trim(), "\"1000\"", "{}", out(&o));
    // Arguments that do not match the ABI are refused before anything is signed.
    for (args, needle) in [
        (
            vec!["--arg", "to=tt1nope", "--arg", "amount=1"],
            "argument `to: Address`",
        ),
        (
            vec!["--arg", "recipient=x", "--arg", "amount=1"],
            "no parameter `recipient`",
        ),
        (vec!["--arg", "amount=1"], "missing argument `to: Address`"),
        (
            vec!["--arg", &format!("to={alice}"), "--arg", "amount=-5"],
            "argument `amount: u128`",
        ),
    ] {
        let mut cmd = vec!["call", "--from", "dev0", &token.address, "transfer"];
        cmd.extend(args.iter().copied());
        let o = tutti(&rpc, &keys, &cmd);
        assert_ne!(o.status.code(), Some(0), "{}", out(&o));
        assert!(out(&o).contains(needle), "{needle}: {}", out(&o));
    }
    let o = tutti(&rpc, &keys, &["tx", &tx_hash]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = tutti(&rpc, &keys, &["block", "latest", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // Readable errors.
    let o = tutti(
        &rpc,
        &keys,
        &["send", "--from", "nobody", "--to", &alice, "--amount", "1"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("tutti keys new nobody"), "{}", out(&o));
    let o = tutti(
        &rpc,
        &keys,
        &["send", "--from", "alice", "--to", "tt1bad", "--amount", "1"],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = tutti("http://127.0.0.1:1", &keys, &["block"]);
    assert!(out(&o).contains("cannot reach the node"), "{}", out(&o));

    // A deploy says the new contract's address (and shard) on its first line, and in its JSON.
    let wasm = dir.path().join("counter.wasm");
    std::fs::write(&wasm, tutti_examples::COUNTER).unwrap();
    let o = tutti(&rpc, &keys, &["deploy", wasm.to_str().unwrap(), "--from", "dev5"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    let counter = first
        .strip_prefix("contract    ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("first line: {first}"));
    assert!(first.contains("(shard "), "{first}");
    let o = tutti(&rpc, &keys, &["view", counter, "get", "--returns", "u64", "--json"]);
    assert_eq!(o.status.code(), Some(0), "the deployed contract answers: {}", out(&o));
    let o = tutti(
        &rpc,
        &keys,
        &["deploy", wasm.to_str().unwrap(), "--from", "dev5", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["contract"]
            .as_str()
            .is_some_and(|a| a.starts_with("tt1") && a != counter),
        "{v}"
    );
    assert_eq!(v["status"], "success", "{v}");

    // Clean stop: SIGTERM, exit 0.
    let status = Command::new("kill")
        .args(["-TERM", &n.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = n.child.wait().unwrap();
    assert!(code.success(), "{code:?}\n{}", log(dir.path()));
    let text = log(dir.path());
    let stopped_at: u64 = text
        .split("stopped cleanly at height ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));

    // Restart: the same chain continues.
    let mut n = common::start(dir.path(), port, 100, &[]);
    let c = ready(&n, dir.path()).await;
    let h = c.block_number(None).await.unwrap();
    assert!(h >= stopped_at, "restarted at {h}, stopped at {stopped_at}");
    // The log is appended to: the first run's "Ready." is in it already, and RPC may answer
    // before the banner of this run is written. Wait for the banner.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log(dir.path()).contains("(continuing)") {
        assert!(
            Instant::now() < deadline,
            "no \"(continuing)\" banner:\n{}",
            log(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        c.get_transaction_receipt(tx_hash).await.unwrap().unwrap().status,
        "success"
    );
    wait_height(&c, h).await;
    let o = tutti(
        &rpc,
        &keys,
        &[
            "send",
            "--from",
            "alice",
            "--to",
            &dev::dev_address(3).to_string(),
            "--amount",
            "1atto",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    n.child.kill().unwrap();
    n.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_transactions_stream_loses_no_reported_block() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut n = common::start(dir.path(), port, 100, &["--no-examples"]);
    let c = ready(&n, dir.path()).await;
    let key = dev::dev_key(2);

    // Stream transfers; record every block the node reports, and the transactions it reports final.
    let mut reported: Vec<(u64, String, String)> = Vec::new();
    let mut final_txs = Vec::new();
    let mut nonce = 0u64;
    let mut seen = 0u64;
    let started = Instant::now();
    while reported.len() < 20 || final_txs.len() < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "too slow:\n{}",
            log(dir.path())
        );
        for _ in 0..20 {
            let tx = transfer(&key, nonce);
            let h = c.send_raw_transaction(hex0x(&tx.encode())).await.unwrap();
            nonce += 1;
            if nonce.is_multiple_of(25) {
                final_txs.push(h);
            }
        }
        let head = c.block_number(None).await.unwrap();
        while seen < head {
            seen += 1;
            let b = c
                .get_block_by_number(BlockId::Number(seen), None, None)
                .await
                .unwrap()
                .unwrap();
            reported.push((b.height, b.hash, b.state_root));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Keep only transactions the node reported final.
    let mut reported_final = Vec::new();
    for h in &final_txs {
        if c.get_transaction_receipt(h.clone()).await.unwrap().is_some() {
            reported_final.push(h.clone());
        }
    }
    // Kill it mid-stream: submissions keep going until the process is gone.
    let submitter = {
        let c = c.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let mut nonce = nonce;
            loop {
                let tx = transfer(&key, nonce);
                if c.send_raw_transaction(hex0x(&tx.encode())).await.is_err() {
                    break;
                }
                nonce += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    n.child.kill().unwrap(); // SIGKILL
    n.child.wait().unwrap();
    submitter.await.unwrap();

    let mut n = common::start(dir.path(), port, 100, &["--no-examples"]);
    let c = ready(&n, dir.path()).await;
    let head = c.block_number(None).await.unwrap();
    let last = reported.last().unwrap().0;
    assert!(head >= last, "head {head} is below the last reported block {last}");
    for (height, hash, root) in &reported {
        let b = c
            .get_block_by_number(BlockId::Number(*height), None, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (&b.hash, &b.state_root),
            (hash, root),
            "block {height} changed after the crash"
        );
    }
    for h in &reported_final {
        assert!(
            c.get_transaction_receipt(h.clone()).await.unwrap().is_some(),
            "{h} lost"
        );
    }
    // The head's state root matches the state (the node checks it on open; check it here too),
    // on the shard of the account asked about.
    let shards = c.get_sharding_structure().await.unwrap().num_shards;
    let shard = dev::dev_address(4).home_shard(shards);
    let shard_head = c.block_number(Some(shard)).await.unwrap();
    let b = c
        .get_block_by_number(BlockId::Number(shard_head), None, Some(shard))
        .await
        .unwrap()
        .unwrap();
    let p = c
        .get_proof(dev::dev_address(4).to_string(), None, Some(BlockId::Number(shard_head)))
        .await
        .unwrap();
    assert_eq!(p.state_root, b.state_root);
    // And it continues, accepting the sender's next nonce.
    let next = c
        .get_account(dev::dev_address(2).to_string(), None)
        .await
        .unwrap()
        .nonce;
    let tx = transfer(&key, next);
    c.send_raw_transaction(hex0x(&tx.encode())).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.block_number(None).await.unwrap() <= head + 2 {
        assert!(
            Instant::now() < deadline,
            "the chain stalled after the restart:\n{}",
            log(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    n.child.kill().unwrap();
    n.child.wait().unwrap();
}

/// The README's Lottery recipes: enter, draw and inspect a round with `tutti call` / `tutti view`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lottery_round_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let mut n = common::start(dir.path(), free_port(), 100, &["--lottery-round-secs", "5"]);
    let c = ready(&n, dir.path()).await;
    let rpc = n.rpc.clone();
    let lottery = tutti_primitives::Address::for_contract(&dev::dev_address(0), 4).to_string();
    let round_ty = "id=u64,price=u128,opened=u64,close=u64,tickets=u64,players=u32,entries=u32,pot=u128";
    let view_json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["view", lottery.as_str()];
        all.extend_from_slice(args);
        all.push("--json");
        let o = tutti(&rpc, &keys, &all);
        assert_eq!(o.status.code(), Some(0), "{}", out(&o));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["decoded"].clone()
    };
    let round = view_json(&["round", "--returns", round_ty]);
    assert_eq!(
        (round["id"].as_str(), round["tickets"].as_str()),
        (Some("1"), Some("0")),
        "{round}"
    );
    let close: u64 = round["close"].as_str().unwrap().parse().unwrap();

    // Ticket prices in tokens, and once in the smallest unit.
    let ten = "10";
    for (who, tickets, value) in [("dev1", "u32:3", "30000000000000000000atto"), ("dev2", "u32:1", ten)] {
        let o = tutti(
            &rpc,
            &keys,
            &[
                "call", "--from", who, &lottery, "enter", "--arg", tickets, "--value", value,
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", out(&o));
        assert!(out(&o).contains("event       Entered"), "{}", out(&o));
    }
    let o = tutti(
        &rpc,
        &keys,
        &[
            "call", "--from", "dev2", &lottery, "enter", "--arg", "u32:2", "--value", ten,
        ],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(
        out(&o).contains("attach exactly the ticket price times the tickets"),
        "{}",
        out(&o)
    );

    // dev3 lives on another shard than the Lottery (on a two-shard dev chain): its entry is a
    // cross-shard call carrying its value; a refused one gets the value back on dev3's shard.
    let shards = c.get_sharding_structure().await.unwrap().num_shards;
    assert_ne!(
        dev::dev_address(3).home_shard(shards),
        dev::dev_address(0).home_shard(shards),
        "the test wants dev3 on another shard than the Lottery"
    );
    let o = tutti(
        &rpc,
        &keys,
        &[
            "call", "--from", "dev3", &lottery, "enter", "--arg", "u32:1", "--value", ten,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("event       Entered"), "{}", out(&o));
    let dev3 = |c: &jsonrpsee::http_client::HttpClient| {
        let c = c.clone();
        async move {
            c.get_account(dev::dev_address(3).to_string(), None)
                .await
                .unwrap()
                .balance
                .parse::<u128>()
                .unwrap()
        }
    };
    let before_refusal = dev3(&c).await;
    let o = tutti(
        &rpc,
        &keys,
        &[
            "call", "--from", "dev3", &lottery, "enter", "--arg", "u32:2", "--value", ten,
        ],
    );
    assert_ne!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("attach exactly the ticket price times the tickets"),
        "{}",
        out(&o)
    );
    let lost = before_refusal - dev3(&c).await;
    assert!(
        lost < 10u128.pow(18),
        "the refused entry's 10 tokens came back across shards (only gas was paid: {lost})"
    );
    let mine = view_json(&[
        "tickets",
        "--arg",
        "u64:1",
        "--arg",
        &format!("address:{}", dev::dev_address(1)),
        "--returns",
        "count=u64,paid=u128,ranges=vec<(u64,u32)>",
    ]);
    assert_eq!(
        mine,
        serde_json::json!({"count": "3", "paid": "30000000000000000000", "ranges": [["0", 3]]})
    );

    // Rounds count blocks of the Lottery's own shard.
    let shards = c.get_sharding_structure().await.unwrap().num_shards;
    wait_height_on(&c, Some(dev::dev_address(0).home_shard(shards)), close).await;
    let balances = |c: &jsonrpsee::http_client::HttpClient| {
        let c = c.clone();
        async move {
            let mut b = Vec::new();
            for i in [1, 2, 3] {
                let a = c.get_account(dev::dev_address(i).to_string(), None).await.unwrap();
                b.push(a.balance.parse::<u128>().unwrap());
            }
            b
        }
    };
    let before = balances(&c).await;
    // Anyone draws; dev9 from the other shard, too.
    let o = tutti(&rpc, &keys, &["call", "--from", "dev9", &lottery, "draw"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("event       Drawn"), "{}", out(&o));
    let result = view_json(&[
        "result",
        "--arg",
        "u64:1",
        "--returns",
        &format!(
            "option<(round=({round_ty}),outcome=enum{{Won(winner=address,ticket=u64,prize=u128,fee=u128,\
             randomness_height=u64),Refunded(player=address,amount=u128)}},settled_at=u64)>"
        ),
    ]);
    let won = &result["outcome"]["Won"];
    assert_eq!(
        won["randomness_height"].as_str(),
        Some((close + 1).to_string().as_str()),
        "{result}"
    );
    assert_eq!(won["prize"], "47500000000000000000", "50 tokens less the 5 % fee");
    assert_eq!(won["fee"], "2500000000000000000");
    let winner = won["winner"].as_str().unwrap();
    let ticket: u64 = won["ticket"].as_str().unwrap().parse().unwrap();
    // Tickets 0-2 are dev1's, 3 dev2's, 4 dev3's.
    let w = match ticket {
        0..=2 => 0,
        3 => 1,
        _ => 2,
    };
    let expected = dev::dev_address(w as u32 + 1);
    assert_eq!(winner, expected.to_string());
    let owner = view_json(&[
        "owner_of",
        "--arg",
        "u64:1",
        "--arg",
        &format!("u64:{ticket}"),
        "--returns",
        "option<address>",
    ]);
    assert_eq!(owner, winner);
    let after = balances(&c).await;
    assert_eq!(
        after[w] - before[w],
        47_500_000_000_000_000_000,
        "the winner got the prize (on its own shard)"
    );
    for other in (0..3).filter(|o| *o != w) {
        assert_eq!(after[other], before[other], "the other players got nothing");
    }
    let next = view_json(&["round", "--returns", round_ty]);
    assert_eq!(next["id"], "2");
    let _ = n.child.kill();
    let _ = n.child.wait();
}

/// The README's staking recipe: a validator created and delegated to with `tutti stake`, listed
/// by `tutti validators`, elected at its first epoch's end; rules broken are named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staking_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let mut n = common::start(dir.path(), free_port(), 100, &[]);
    let c = ready(&n, dir.path()).await;
    let rpc = n.rpc.clone();
    let shards = c.get_sharding_structure().await.unwrap().num_shards;
    let on = |shard: u32| {
        (0..dev::DEV_ACCOUNTS)
            .filter(|i| dev::dev_address(*i).home_shard(shards) == shard)
            .map(|i| format!("dev{i}"))
            .collect::<Vec<_>>()
    };
    let (beacon, other) = (on(0), on(1));
    let key_file = dir.path().join("validator.key");
    let key_file = key_file.to_str().unwrap();
    let o = tutti(&rpc, &keys, &["keys", "new-validator", key_file]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("BLS public key  0x"), "{}", out(&o));
    let o = tutti(&rpc, &keys, &["keys", "new-validator", key_file]);
    assert_eq!(o.status.code(), Some(2), "an existing key file is not overwritten");

    let o = tutti(
        &rpc,
        &keys,
        &[
            "stake",
            "create-validator",
            "--from",
            &beacon[0],
            "--validator-key",
            key_file,
            "--self-stake",
            "20000tokens",
            "--name",
            "cli-validator",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("status      success"), "{}", out(&o));
    let o = tutti(
        &rpc,
        &keys,
        &[
            "stake",
            "delegate",
            "--from",
            &beacon[1],
            "--validator",
            "cli-validator",
            "--amount",
            "100.5tokens",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // Rules broken: from another shard (refused before sending), more than delegated (fails on
    // chain, exit 1), an unknown name.
    let o = tutti(
        &rpc,
        &keys,
        &[
            "stake",
            "delegate",
            "--from",
            &other[0],
            "--validator",
            "cli-validator",
            "--amount",
            "1tokens",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("lives on shard 1"), "{}", out(&o));
    let o = tutti(
        &rpc,
        &keys,
        &[
            "stake",
            "undelegate",
            "--from",
            &beacon[1],
            "--validator",
            "cli-validator",
            "--amount",
            "200tokens",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("cannot undelegate"), "{}", out(&o));
    let o = tutti(
        &rpc,
        &keys,
        &[
            "stake",
            "delegate",
            "--from",
            &beacon[1],
            "--validator",
            "nobody",
            "--amount",
            "1tokens",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("no validator is named `nobody`"), "{}", out(&o));

    let o = tutti(&rpc, &keys, &["validators"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let table = out(&o);
    assert!(
        table.contains("cli-validator") && table.contains("20,100.5 TUTTI"),
        "{table}"
    );
    // Elected at the end of the epoch it registered in, for two epochs later (three candidates
    // for two shards of whole committees: the two largest stakes, so this one).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let o = tutti(&rpc, &keys, &["validators", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mine = v["validators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "cli-validator")
            .unwrap()
            .clone();
        if let Some(seat) = mine["seats"].as_array().unwrap().first() {
            let epoch = v["epoch"].as_u64().unwrap();
            assert!(seat["epoch"].as_u64().unwrap() > epoch, "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "never elected: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = n.child.kill();
}
