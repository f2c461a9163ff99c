//! The JSON-RPC server against bad input, and its methods and subscriptions against a node whose
//! blocks the test produces by hand (no timing involved).

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::Arc,
    time::Duration,
};

use ed25519_dalek::SigningKey;
use jsonrpsee::{core::client::SubscriptionClientT, rpc_params};
use parity_scale_codec::Encode;
use serde_json::{Value, json};
use tutti_chain::{MempoolConfig, StateProof, account::account_key};
use tutti_node::{
    Node, NodeConfig, RpcConfig,
    dev::{self, dev_key},
    rpc::raw_tx,
};
use tutti_primitives::{Action, Address, PublicKey, SignedTransaction, Transaction};
use tutti_rpc::{
    TuttiApiClient,
    errors::{BAD_NONCE, INSUFFICIENT_BALANCE, INVALID_TRANSACTION},
    types::{BlockId, BlockTag, BlockView, EventFilter, EventNotice, parse_hash, parse_hex},
};

struct Env {
    node: Arc<Node>,
    addr: SocketAddr,
    _handle: jsonrpsee::server::ServerHandle,
}

async fn start() -> Env {
    let node = Node::open(NodeConfig {
        shard: None,
        genesis: dev::dev_genesis(),
        data_dir: None,
        validators: vec![dev::dev_validator()],
        block_time: Duration::from_secs(3600),
        max_block_txs: 10_000,
        mempool: MempoolConfig::default(),
        state_window: None,
    })
    .unwrap();
    let cfg = RpcConfig {
        addr: ([127, 0, 0, 1], 0).into(),
        max_batch: 50,
        ..RpcConfig::default()
    };
    let (addr, handle) = tutti_node::serve(node.clone(), &cfg).await.unwrap();
    Env {
        node,
        addr,
        _handle: handle,
    }
}

impl Env {
    fn http(&self) -> jsonrpsee::http_client::HttpClient {
        tutti_rpc::client::http(&format!("http://{}", self.addr)).unwrap()
    }

    async fn block(&self) -> u64 {
        let n = self.node.clone();
        tokio::task::spawn_blocking(move || n.produce_block().unwrap().block.header.height)
            .await
            .unwrap()
    }
}

/// A raw HTTP POST; returns (status, headers, body).
fn post(addr: SocketAddr, body: &str, extra_headers: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(req.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

async fn post_json(addr: SocketAddr, body: String) -> Value {
    let (_, _, b) = tokio::task::spawn_blocking(move || post(addr, &body, ""))
        .await
        .unwrap();
    serde_json::from_str(&b).unwrap_or_else(|e| panic!("not JSON ({e}): {b}"))
}

fn code_of(v: &Value) -> i64 {
    v["error"]["code"].as_i64().unwrap_or_else(|| panic!("no error in {v}"))
}

fn tx(k: &SigningKey, nonce: u64, gas: u64, action: Action) -> SignedTransaction {
    Transaction {
        chain_id: dev::DEV_CHAIN_ID,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit: gas,
        gas_price: 1,
        action,
    }
    .sign(k)
}

fn to(n: u8) -> Action {
    Action::Transfer {
        to: Address([n; 32]),
        amount: 1,
    }
}

async fn send_err(c: &jsonrpsee::http_client::HttpClient, raw: String) -> (i32, String) {
    match c.send_raw_transaction(raw).await {
        Err(jsonrpsee::core::ClientError::Call(e)) => (e.code(), e.message().to_string()),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_get_standard_codes() {
    let env = start().await;
    let a = env.addr;
    assert_eq!(code_of(&post_json(a, "{not json".into()).await), -32700);
    assert_eq!(
        code_of(&post_json(a, r#"{"jsonrpc":"2.0","id":1}"#.into()).await),
        -32600
    );
    let v = post_json(
        a,
        r#"{"jsonrpc":"2.0","id":1,"method":"tutti_nope","params":[]}"#.into(),
    )
    .await;
    assert_eq!(code_of(&v), -32601);
    let v = post_json(
        a,
        r#"{"jsonrpc":"2.0","id":1,"method":"tutti_getBlockByNumber","params":["banana"]}"#.into(),
    )
    .await;
    assert_eq!(code_of(&v), -32602);
    let v = post_json(
        a,
        r#"{"jsonrpc":"2.0","id":1,"method":"tutti_getAccount","params":["tt1nope"]}"#.into(),
    )
    .await;
    assert_eq!(code_of(&v), -32602);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("not an address"),
        "{v}"
    );
    let v = post_json(
        a,
        r#"{"jsonrpc":"2.0","id":1,"method":"tutti_getBalance","params":[]}"#.into(),
    )
    .await;
    assert_eq!(code_of(&v), -32602, "missing parameter");
    let v = post_json(
        a,
        r#"{"jsonrpc":"2.0","id":1,"method":"tutti_getAccount","params":["tt1ayf9zn4ch6jdw6zy2l4x0z7q8k2d2nnwcqrcuxuugw3lkye2vuvqa7dveu", 99]}"#.into(),
    )
    .await;
    assert!(
        v["error"]["message"].as_str().unwrap().contains("beyond the head"),
        "{v}"
    );

    // Batches: within the limit each call answers; over it the batch is refused.
    let batch: Vec<Value> = (0..3)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"tutti_blockNumber","params":[]}))
        .collect();
    let v = post_json(a, serde_json::to_string(&batch).unwrap()).await;
    assert_eq!(v.as_array().unwrap().len(), 3);
    let batch: Vec<Value> = (0..51)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"tutti_blockNumber","params":[]}))
        .collect();
    let v = post_json(a, serde_json::to_string(&batch).unwrap()).await;
    assert_eq!(code_of(&v), -32010, "{v}");

    // Ids the server cannot echo (object, array, boolean, fraction): -32600 with `"id": null`,
    // not a bare `null`; in a batch, that entry alone.
    for id in ["{}", "[1]", "true", "1.5"] {
        let v = post_json(
            a,
            format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tutti_chainId","params":[]}}"#),
        )
        .await;
        assert_eq!(code_of(&v), -32600, "id {id}: {v}");
        assert!(v["id"].is_null() && v.get("id").is_some(), "{v}");
    }
    let v = post_json(
        a,
        r#"[{"jsonrpc":"2.0","id":{},"method":"tutti_chainId"},{"jsonrpc":"2.0","id":2,"method":"tutti_chainId"}]"#
            .into(),
    )
    .await;
    let answers = v.as_array().unwrap();
    assert_eq!(answers.len(), 2, "{v}");
    assert!(answers.iter().any(|x| x["id"] == 2 && x["result"].is_number()), "{v}");
    assert!(answers.iter().any(|x| x["id"].is_null() && code_of(x) == -32600), "{v}");

    // Oversize request: refused before it is parsed.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tutti_sendRawTransaction","params":["0x{}"]}}"#,
        "00".repeat(5 * 1024 * 1024)
    );
    let (status, _, body) = tokio::task::spawn_blocking(move || post(a, &big, "")).await.unwrap();
    assert!(status == 413 || body.contains("too big"), "{status} {body}");

    // CORS preflight for browser dApps.
    let (status, head, _) = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(a).unwrap();
        s.write_all(
            format!(
                "OPTIONS / HTTP/1.1\r\nHost: {a}\r\nOrigin: http://localhost:8080\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse::<u16>().unwrap();
        (status, head.to_lowercase(), body.to_string())
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert!(head.contains("access-control-allow-origin: *"), "{head}");

    // The metrics are for the operator: a page of another origin may not read them.
    let head = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(a).unwrap();
        s.write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {a}\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out.split_once("\r\n\r\n").unwrap().0.to_lowercase()
    })
    .await
    .unwrap();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("access-control-allow-origin"), "{head}");

    // The node keeps serving.
    assert_eq!(env.http().block_number(None).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_transactions_are_refused_with_application_codes() {
    let env = start().await;
    let c = env.http();
    let k = dev_key(3);

    let (code, msg) = send_err(&c, "0xdeadbeef".into()).await;
    assert_eq!(code, INVALID_TRANSACTION);
    assert!(msg.contains("do not decode"), "{msg}");
    match c.send_raw_transaction("zz".into()).await {
        Err(jsonrpsee::core::ClientError::Call(e)) => assert_eq!(e.code(), -32602),
        other => panic!("{other:?}"),
    }

    let mut forged = tx(&k, 0, 2_000_000, to(1));
    forged.tx.nonce = 1;
    let (code, msg) = send_err(&c, raw_tx(&forged)).await;
    assert_eq!(code, INVALID_TRANSACTION);
    assert!(msg.contains("bad signature"), "{msg}");

    let mut other_chain = tx(&k, 0, 2_000_000, to(1)).tx;
    other_chain.chain_id = 1;
    let (code, msg) = send_err(&c, raw_tx(&other_chain.sign(&k))).await;
    assert_eq!(code, INVALID_TRANSACTION);
    assert!(msg.contains("chain id 1 does not match"), "{msg}");

    let (code, msg) = send_err(&c, raw_tx(&tx(&k, 0, 10, to(1)))).await;
    assert_eq!(code, INVALID_TRANSACTION);
    assert!(msg.contains("inclusion cost"), "{msg}");

    let poor = SigningKey::from_bytes(&[77; 32]);
    let (code, msg) = send_err(&c, raw_tx(&tx(&poor, 0, 2_000_000, to(1)))).await;
    assert_eq!(code, INSUFFICIENT_BALANCE);
    assert!(msg.contains("cannot pay"), "{msg}");

    let oversize = tx(
        &k,
        0,
        2_000_000,
        Action::Deploy {
            code: vec![0; 3 * 1024 * 1024],
            init_method: None,
            args: vec![],
            value: 0,
        },
    );
    let (code, msg) = send_err(&c, raw_tx(&oversize)).await;
    assert_eq!(code, INVALID_TRANSACTION);
    assert!(msg.contains("over the limit"), "{msg}");

    // A good one, submitted twice (idempotent), then replayed after inclusion.
    let good = tx(&k, 0, 2_000_000, to(1));
    let h1 = c.send_raw_transaction(raw_tx(&good)).await.unwrap();
    let h2 = c.send_raw_transaction(raw_tx(&good)).await.unwrap();
    assert_eq!(h1, h2);
    assert_eq!(c.get_transaction(h1.clone()).await.unwrap().unwrap().block_height, None);
    assert_eq!(c.get_transaction_receipt(h1.clone()).await.unwrap(), None, "pending");
    env.block().await;
    let (code, msg) = send_err(&c, raw_tx(&good)).await;
    assert_eq!(code, BAD_NONCE);
    assert!(msg.contains("already used"), "{msg}");
    let r = c.get_transaction_receipt(h1).await.unwrap().unwrap();
    assert_eq!(r.status, "success");
    assert_eq!(r.block_height, 1);
}

/// A JSON-RPC batch of transactions, bad ones among good ones: every entry gets its own answer,
/// in order; the good ones (one sender's nonces in sequence among them) are all admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_transactions_answers_each_in_order() {
    let env = start().await;
    let k = dev_key(4);
    let mut txs: Vec<String> = (0..40).map(|n| raw_tx(&tx(&k, n, 2_000_000, to(1)))).collect();
    let mut forged = tx(&k, 40, 2_000_000, to(1));
    forged.tx.nonce = 41;
    txs.insert(7, raw_tx(&forged));
    txs.insert(20, "0xdeadbeef".into());
    let batch: Vec<Value> = txs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"jsonrpc":"2.0","id":i,"method":"tutti_sendRawTransaction","params":[t]}))
        .collect();
    let v = post_json(env.addr, serde_json::to_string(&batch).unwrap()).await;
    let answers = v.as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(answers.len(), 42);
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a["id"].as_u64(), Some(i as u64), "answers keep the request order");
        match i {
            7 => {
                assert_eq!(code_of(a), i64::from(INVALID_TRANSACTION));
                assert!(a["error"]["message"].as_str().unwrap().contains("bad signature"), "{a}");
            }
            20 => assert_eq!(code_of(a), i64::from(INVALID_TRANSACTION)),
            _ => assert!(a["result"].is_string(), "{a}"),
        }
    }
    assert_eq!(env.node.pending_count(), 40);
    let n = env.node.clone();
    let block = tokio::task::spawn_blocking(move || n.produce_block().unwrap())
        .await
        .unwrap();
    assert_eq!(block.block.txs.len(), 40, "all forty in nonce order");
}

fn wat_module(body: &str) -> Vec<u8> {
    wat::parse_str(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_through_rpc_token_events_proofs_and_a_hostile_module() {
    let env = start().await;
    let c = env.http();
    let ws = tutti_rpc::client::ws(&format!("ws://{}", env.addr)).await.unwrap();
    let mut heads = ws
        .subscribe::<BlockView, _>("tutti_subscribe", rpc_params!["newHeads"], "tutti_unsubscribe")
        .await
        .unwrap();
    let filter = EventFilter {
        contract: None,
        name: Some("Transfer".into()),
        shard: None,
    };
    let mut events = ws
        .subscribe::<EventNotice, _>("tutti_subscribe", rpc_params!["events", filter], "tutti_unsubscribe")
        .await
        .unwrap();
    let mut pending = ws
        .subscribe::<String, _>(
            "tutti_subscribe",
            rpc_params!["pendingTransactions"],
            "tutti_unsubscribe",
        )
        .await
        .unwrap();
    let bad = ws
        .subscribe::<Value, _>("tutti_subscribe", rpc_params!["bogus"], "tutti_unsubscribe")
        .await;
    assert!(format!("{:?}", bad.err().unwrap()).contains("unknown subscription"));

    let owner = dev_key(0);
    let supply = 1_000_000u128;
    let deploy = tx(
        &owner,
        0,
        2_000_000_000,
        Action::Deploy {
            code: tutti_examples::TOKEN.to_vec(),
            init_method: Some("init".into()),
            args: ("T".to_string(), "T".to_string(), 0u8, supply).encode(),
            value: 0,
        },
    );
    let dh = c.send_raw_transaction(raw_tx(&deploy)).await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), pending.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap(),
        dh
    );
    env.block().await;
    let head = tokio::time::timeout(Duration::from_secs(10), heads.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(head.height, 1);
    let r = c.get_transaction_receipt(dh).await.unwrap().unwrap();
    assert_eq!(r.status, "success", "{r:?}");
    let token = Address::for_contract(&dev::dev_address(0), 0);
    assert_eq!(parse_hex(r.return_data.as_ref().unwrap()).unwrap(), token.0.to_vec());

    // A token transfer, seen as an event and through a view.
    let bob = Address([5; 32]);
    let est = c
        .estimate_gas(
            dev::dev_address(0).to_string(),
            token.to_string(),
            "transfer".into(),
            Some(tutti_rpc::types::hex0x(&(bob, 40u128).encode())),
            None,
        )
        .await
        .unwrap();
    let call = tx(
        &owner,
        1,
        est,
        Action::Call {
            contract: token,
            method: "transfer".into(),
            args: (bob, 40u128).encode(),
            value: 0,
        },
    );
    let th = c.send_raw_transaction(raw_tx(&call)).await.unwrap();
    env.block().await;
    let r = c.get_transaction_receipt(th.clone()).await.unwrap().unwrap();
    assert_eq!(r.status, "success", "the estimate is enough: {r:?}");
    let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ev.event.name, "Transfer");
    assert_eq!(ev.event.contract, token.to_string());
    let v = c
        .call(
            token.to_string(),
            "balance_of".into(),
            Some(tutti_rpc::types::hex0x(&bob.encode())),
            None,
        )
        .await
        .unwrap();
    assert_eq!(parse_hex(v.return_data.as_ref().unwrap()).unwrap(), 40u128.encode());
    // A view cannot write.
    let v = c
        .call(
            token.to_string(),
            "transfer".into(),
            Some(tutti_rpc::types::hex0x(&(bob, 1u128).encode())),
            None,
        )
        .await
        .unwrap();
    assert_eq!(v.status, "failure");

    // The account proof verifies against the block's state root.
    let p = c.get_proof(bob.to_string(), None, None).await.unwrap();
    assert!(p.value.is_none(), "bob holds tokens, not a native account");
    let alice = dev::dev_address(0);
    let p = c.get_proof(alice.to_string(), None, None).await.unwrap();
    let proof = StateProof::from_bytes(&parse_hex(&p.proof).unwrap()).unwrap();
    let value = parse_hex(p.value.as_ref().unwrap()).unwrap();
    proof
        .verify(parse_hash(&p.state_root).unwrap(), &account_key(&alice), Some(&value))
        .unwrap();
    assert!(
        proof
            .verify(parse_hash(&p.state_root).unwrap(), &account_key(&bob), Some(&value))
            .is_err()
    );

    // A hostile contract: deployed, called, it burns its gas and fails; the node keeps going.
    let spin = wat_module(r#"(module (memory (export "memory") 1) (func (export "spin") (loop (br 0))))"#);
    let d = tx(
        &owner,
        2,
        500_000_000,
        Action::Deploy {
            code: spin,
            init_method: None,
            args: vec![],
            value: 0,
        },
    );
    c.send_raw_transaction(raw_tx(&d)).await.unwrap();
    env.block().await;
    let spinner = Address::for_contract(&dev::dev_address(0), 2);
    let h = c
        .send_raw_transaction(raw_tx(&tx(
            &owner,
            3,
            50_000_000,
            Action::Call {
                contract: spinner,
                method: "spin".into(),
                args: vec![],
                value: 0,
            },
        )))
        .await
        .unwrap();
    env.block().await;
    let r = c.get_transaction_receipt(h).await.unwrap().unwrap();
    assert_eq!(r.status, "failure");
    assert_eq!(r.failure.unwrap().kind, "OutOfGas");
    let v = c
        .call(spinner.to_string(), "spin".into(), None, Some(10_000_000))
        .await
        .unwrap();
    assert_eq!(v.failure.unwrap().kind, "OutOfGas");
    match c
        .estimate_gas(alice.to_string(), spinner.to_string(), "spin".into(), None, None)
        .await
    {
        Err(jsonrpsee::core::ClientError::Call(e)) => assert_eq!(e.code(), tutti_rpc::errors::EXECUTION_FAILED),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.block_number(None).await.unwrap(), 4);

    // Blocks by number and hash agree; the committee and sharding answer for the one shard.
    let b = c
        .get_block_by_number(BlockId::Tag(BlockTag::Latest), Some(true), None)
        .await
        .unwrap()
        .unwrap();
    let same = c.get_block_by_hash(b.hash.clone(), Some(true)).await.unwrap().unwrap();
    assert_eq!(b, same);
    assert!(b.commit.is_some() && b.parent_commit.is_some());
    assert!(
        c.get_block_by_number(BlockId::Number(99), None, None)
            .await
            .unwrap()
            .is_none()
    );
    let committee = c.get_committee(None, None).await.unwrap();
    assert_eq!(committee.members.len(), 1);
    assert_eq!(
        (committee.height, committee.view, committee.leader),
        (5, 0, 0),
        "the block after the head"
    );
    assert!(c.get_committee(Some(3), None).await.is_err());
    assert_eq!(c.get_sharding_structure().await.unwrap().num_shards, 1);
    let code = c.get_code(token.to_string(), None).await.unwrap().unwrap();
    assert_eq!(parse_hex(&code).unwrap(), tutti_examples::TOKEN);
    let st = c.status().await.unwrap();
    assert_eq!(st.head, 4);
    assert!(st.burnt.parse::<u128>().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_lists_exactly_the_served_methods() {
    let env = start().await;
    let v = post_json(
        env.addr,
        r#"{"jsonrpc":"2.0","id":1,"method":"rpc_discover","params":[]}"#.into(),
    )
    .await;
    let mut listed: Vec<String> = v["result"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    let module = tutti_node::rpc::module(tutti_node::Shards::one(env.node.clone()), 1, String::new());
    let mut served: Vec<String> = module.method_names().map(String::from).collect();
    served.sort();
    assert_eq!(listed, served);
}

/// Staking through RPC: a validator created and delegated to shows up in `tutti_getValidators`
/// and `tutti_getDelegations`; rules no pending transaction can fix are refused at submission,
/// the others fail in their receipt with the rule they break.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staking_through_rpc_validators_and_delegations() {
    use tutti_primitives::StakeAction;
    let env = start().await;
    let c = env.http();
    let (op, delegator) = (dev_key(1), dev_key(2));
    let token: u128 = 10u128.pow(18);
    let bls = tutti_consensus::bls::SecretKey::from_seed(&[42; 32]);
    let key = bls.public_key().to_bytes();
    let create = |proof: [u8; 96], self_stake| {
        Action::Stake(StakeAction::CreateValidator {
            key,
            proof,
            self_stake,
            commission_bps: 500,
            max_commission_bps: 1_000,
            max_change_bps: 100,
            name: "rpc-validator".into(),
        })
    };
    let gas = 30_000_000;
    // Refused at once: a proof by another key, a self-stake below the minimum (1,000 tokens).
    let other = tutti_consensus::bls::SecretKey::from_seed(&[43; 32])
        .prove_possession()
        .to_bytes();
    let (code, msg) = send_err(&c, raw_tx(&tx(&op, 0, gas, create(other, 2_000 * token)))).await;
    assert_eq!(code, INVALID_TRANSACTION);
    assert!(msg.contains("proof of possession"), "{msg}");
    let (_, msg) = send_err(
        &c,
        raw_tx(&tx(&op, 0, gas, create(bls.prove_possession().to_bytes(), token))),
    )
    .await;
    assert!(
        msg.contains("self-stake of 1000000000000000000 is below the minimum"),
        "{msg}"
    );
    // Admitted: the creation, and a delegation to the validator it creates (still pending).
    let proof = bls.prove_possession().to_bytes();
    c.send_raw_transaction(raw_tx(&tx(&op, 0, gas, create(proof, 2_000 * token))))
        .await
        .unwrap();
    let delegate = Action::Stake(StakeAction::Delegate {
        key,
        amount: 300 * token,
    });
    let d = c
        .send_raw_transaction(raw_tx(&tx(&delegator, 0, gas, delegate)))
        .await
        .unwrap();
    let too_much = Action::Stake(StakeAction::Undelegate {
        key,
        amount: 301 * token,
    });
    let u = c
        .send_raw_transaction(raw_tx(&tx(&delegator, 1, gas, too_much)))
        .await
        .unwrap();
    env.block().await;
    assert_eq!(c.get_transaction_receipt(d).await.unwrap().unwrap().status, "success");
    let r = c.get_transaction_receipt(u.clone()).await.unwrap().unwrap();
    let f = r.failure.expect("undelegating more than delegated fails");
    assert!(f.message.contains("cannot undelegate"), "{f:?}");
    let shown = c.get_transaction(u).await.unwrap().unwrap();
    assert!(
        matches!(&shown.action, tutti_rpc::types::ActionView::Stake { kind, .. } if kind == "undelegate"),
        "{:?}",
        shown.action
    );

    let v = c.get_validators().await.unwrap();
    assert_eq!(v.epoch_blocks, 30);
    let mine = v
        .validators
        .iter()
        .find(|x| x.name == "rpc-validator")
        .expect("registered");
    assert_eq!(mine.stake, (2_300 * token).to_string());
    assert_eq!(mine.self_stake, (2_000 * token).to_string());
    assert_eq!(
        mine.operator,
        Address::from_public_key(&op.verifying_key().to_bytes()).to_string()
    );
    assert_eq!((mine.delegators, mine.commission_bps, mine.candidate), (2, 500, true));
    assert!(mine.seats.is_empty(), "not elected before its first epoch ends");
    let genesis = v
        .validators
        .iter()
        .find(|x| x.name != "rpc-validator")
        .expect("the dev validator");
    assert_eq!(genesis.seats.iter().map(|s| s.epoch).collect::<Vec<_>>(), vec![0, 1]);

    let mine = c
        .get_delegations(Address::from_public_key(&delegator.verifying_key().to_bytes()).to_string())
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        (mine[0].name.as_str(), mine[0].amount.clone()),
        ("rpc-validator", (300 * token).to_string())
    );
    assert!(c.get_delegations("tt1nope".into()).await.is_err());

    // The epoch's last block (height 29) elects epoch 2 with the new validator in it.
    while env.block().await < 29 {}
    let v = c.get_validators().await.unwrap();
    let mine = v.validators.iter().find(|x| x.name == "rpc-validator").unwrap();
    assert_eq!(mine.seats.iter().map(|s| s.epoch).collect::<Vec<_>>(), vec![2]);
}

/// A node keeping the state of the last 5 blocks: reads at the head and within the window
/// answer, reads below it fail with STATE_PRUNED naming the oldest height kept (what the store
/// deletes is checked in `tutti_chain::state`'s pruning test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruning_node_answers_within_its_window_and_refuses_older_state_clearly() {
    let node = Node::open(NodeConfig {
        shard: None,
        genesis: dev::dev_genesis(),
        data_dir: None,
        validators: vec![dev::dev_validator()],
        block_time: Duration::from_secs(3600),
        max_block_txs: 10_000,
        mempool: MempoolConfig::default(),
        state_window: Some(5),
    })
    .unwrap();
    let cfg = RpcConfig {
        addr: ([127, 0, 0, 1], 0).into(),
        ..RpcConfig::default()
    };
    let (addr, _handle) = tutti_node::serve(node.clone(), &cfg).await.unwrap();
    let env = Env {
        node: node.clone(),
        addr,
        _handle,
    };
    let c = env.http();
    let k = dev_key(3);
    for nonce in 0..20 {
        c.send_raw_transaction(raw_tx(&tx(&k, nonce, 2_000_000, to(1))))
            .await
            .unwrap();
        env.block().await;
    }
    let head = node.chain().head().header.height;
    assert_eq!(node.chain().oldest_state(), head - 5);
    let who = Address::from_public_key(&k.verifying_key().to_bytes()).to_string();
    assert!(
        c.get_balance(who.clone(), Some(BlockId::Number(head - 5)))
            .await
            .is_ok()
    );
    for old in [2, head - 6] {
        let e = c
            .get_balance(who.clone(), Some(BlockId::Number(old)))
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("1014") && e.to_string().contains(&format!("heights {} and later", head - 5)),
            "{e}"
        );
        let e = c
            .get_proof(who.clone(), None, Some(BlockId::Number(old)))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("was pruned"), "{e}");
    }
    // The head still proves.
    let p = c.get_proof(who, None, None).await.unwrap();
    assert_eq!(p.height, head);
    // Blocks themselves are kept (a node syncing from this one replays them).
    assert!(
        c.get_block_by_number(BlockId::Number(1), Some(false), None)
            .await
            .unwrap()
            .is_some()
    );
}

/// Read-only calls under load never change how blocks execute: 120 calls that each spin until
/// their gas runs out, all at once over RPC, while blocks run a contract. Each call gets its own
/// outcome (out of gas) or `BUSY`; the node under load computes the same state roots as a node
/// without it, and every block's call succeeds. (RPC calls once shared the block runtime's
/// instances: with all of them taken, a block's call was recorded as a trap and the node
/// diverged.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_calls_under_load_never_change_how_blocks_execute() {
    let loaded = start().await;
    let quiet = start().await;
    let owner = dev_key(0);
    let code = wat_module(
        r#"(module
            (import "tutti_v1" "storage_write" (func $write (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 0) "m")
            (func (export "spin") (loop br 0))
            (func (export "mark") (drop (call $write (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))))"#,
    );
    let deploy = tx(
        &owner,
        0,
        2_000_000_000,
        Action::Deploy {
            code,
            init_method: None,
            args: vec![],
            value: 0,
        },
    );
    let contract = Address::for_contract(&dev::dev_address(0), 0);
    let both = |t: &SignedTransaction| {
        for env in [&loaded, &quiet] {
            env.node.submit_raw(&t.encode()).unwrap();
        }
    };
    both(&deploy);
    assert_eq!(loaded.block().await, quiet.block().await);

    let load: Vec<_> = (0..120)
        .map(|_| {
            let c = loaded.http();
            let contract = contract.to_string();
            tokio::spawn(async move { c.call(contract, "spin".into(), None, Some(100_000_000)).await })
        })
        .collect();
    for nonce in 1..=8 {
        let mark = tx(
            &owner,
            nonce,
            50_000_000,
            Action::Call {
                contract,
                method: "mark".into(),
                args: vec![],
                value: 0,
            },
        );
        both(&mark);
        let (a, b) = (loaded.block().await, quiet.block().await);
        assert_eq!(a, b);
        let root = |env: &Env| env.node.chain().block_by_number(a).unwrap().unwrap().header.state_root;
        assert_eq!(root(&loaded), root(&quiet), "block {a}: the node under load diverged");
        let r = loaded
            .http()
            .get_transaction_receipt(mark.hash().to_string())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status, "success", "block {a}: {r:?}");
    }
    let (mut spun, mut busy) = (0, 0);
    for call in load {
        match call.await.unwrap() {
            Ok(out) => {
                let failure = format!("{:?}", out.failure).to_lowercase();
                assert!(
                    failure.contains("gas"),
                    "a spin ended otherwise than out of gas: {failure}"
                );
                spun += 1;
            }
            Err(jsonrpsee::core::ClientError::Call(e)) if e.code() == tutti_rpc::errors::BUSY => busy += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(spun > 0, "{spun} calls ran, {busy} were told BUSY");
}

/// A WebSocket client subscribes to new blocks and never reads its socket: once its connection
/// has a full buffer of unread messages, the node closes the subscription and drops its
/// receiver, so it holds none of the notices (whole blocks) for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_is_dropped() {
    let env = start().await;
    let cfg = RpcConfig {
        addr: ([127, 0, 0, 1], 0).into(),
        message_buffer: 8,
        ..RpcConfig::default()
    };
    let (addr, _handle) = tutti_node::serve(env.node.clone(), &cfg).await.unwrap();
    // A small receive buffer, so the kernel soon stops taking the server's writes.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.write_all(
        format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    // One masked text frame: the subscription.
    let payload = br#"{"jsonrpc":"2.0","id":1,"method":"tutti_subscribe","params":["newHeads"]}"#;
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).unwrap();
    for _ in 0..1200 {
        if env.node.head_subscribers() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(env.node.head_subscribers(), 1, "the subscription was accepted");
    let mut blocks = 0;
    while env.node.head_subscribers() > 0 {
        assert!(blocks < 20_000, "still subscribed after {blocks} unread blocks");
        env.block().await;
        blocks += 1;
    }
    eprintln!("the subscription was closed after {blocks} unread blocks");
    // The node keeps serving, and the subscriber's socket is still open (only its subscription
    // went).
    assert!(env.http().block_number(None).await.unwrap() > 0);
    drop(s);
}
