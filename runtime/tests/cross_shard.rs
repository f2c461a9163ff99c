//! Cross-shard calls and callbacks end to end on the local multi-shard executor.

use std::sync::Arc;

use tutti_primitives::{
    Action, Address, FailureKind, Hash, Receipt, ReceiptBody,
    codec::{Decode, Encode},
};
use tutti_runtime::{
    Runtime, RuntimeConfig,
    local::{LocalError, LocalNet},
};

const GAS: u64 = 100_000_000;

fn net(shards: u32) -> LocalNet {
    LocalNet::new(Arc::new(Runtime::new(RuntimeConfig::default()).unwrap()), shards)
}

fn view<T: Decode>(net: &LocalNet, c: Address, method: &str, args: Vec<u8>) -> T {
    let out = net.view(&c, method, args).unwrap();
    T::decode(&mut &out.result.expect("view succeeds")[..]).unwrap()
}

fn total_balance(net: &LocalNet, accounts: &[Address]) -> u128 {
    accounts.iter().map(|a| net.balance(a)).sum()
}

fn burnt(net: &LocalNet, tx: &Hash) -> u128 {
    net.trace(tx).iter().map(|e| u128::from(e.gas_burnt)).sum()
}

#[test]
fn ping_pong_across_shards_with_callback() {
    let mut net = net(2);
    let (user, key) = net.create_account(0, 10_000_000_000);
    let a = net.deploy(0, tutti_examples::PING_PONG, user, None).unwrap();
    let b = net.deploy(1, tutti_examples::PING_PONG, user, None).unwrap();
    assert_eq!(a.home_shard(2), 0);
    assert_eq!(b.home_shard(2), 1);

    let tx = net.call(&key, a, "ping", (b, 4u64).encode(), 0, GAS).unwrap();
    let blocks = net.run_until_idle(10);
    assert_eq!(blocks, 3, "ping (shard 0), pong (shard 1), callback (shard 0)");
    assert_eq!(view::<Option<u64>>(&net, a, "last_pong", vec![]), Some(5));
    assert_eq!(view::<u64>(&net, b, "served", vec![]), 1);

    let trace = net.trace(&tx);
    // The first record is the transaction itself (converted into the `ping` receipt).
    let calls: Vec<_> = trace
        .iter()
        .skip(1)
        .filter_map(|e| e.method.as_deref().map(|m| (m, e.shard, e.height)))
        .collect();
    assert_eq!(calls, vec![("ping", 0, 1), ("pong", 1, 2), ("on_pong", 0, 3)]);
    let pong = trace.iter().find(|e| e.method.as_deref() == Some("pong")).unwrap();
    assert_eq!(pong.events[0].name, "Pong");
    // Gas: everything the signer prepaid is either burnt or refunded.
    assert_eq!(total_balance(&net, &[user, a, b]) + burnt(&net, &tx), 10_000_000_000);
}

#[test]
fn callee_failure_reaches_the_callback() {
    let mut net = net(2);
    let (user, key) = net.create_account(0, 10_000_000_000);
    let a = net.deploy(0, tutti_examples::PING_PONG, user, None).unwrap();
    let b = net.deploy(1, tutti_examples::PING_PONG, user, None).unwrap();
    let tx = net.call(&key, a, "ping", (b, 13u64).encode(), 0, GAS).unwrap();
    net.run_until_idle(10);
    assert_eq!(view::<u32>(&net, a, "failures", vec![]), 1);
    assert_eq!(view::<Option<u64>>(&net, a, "last_pong", vec![]), None);
    let trace = net.trace(&tx);
    let pong = trace.iter().find(|e| e.method.as_deref() == Some("pong")).unwrap();
    let f = pong.result.clone().unwrap_err();
    assert_eq!((f.kind, f.message.as_str()), (FailureKind::Panic, "pong refuses 13"));
    let cb = trace.iter().find(|e| e.method.as_deref() == Some("on_pong")).unwrap();
    assert_eq!(cb.events[0].name, "PongFailed");
    assert_eq!(cb.events[0].data, (13u64, "pong refuses 13".to_string()).encode());
}

fn token_setup(net: &mut LocalNet) -> (Address, ed25519_dalek::SigningKey, Address, Address) {
    let (user, key) = net.create_account(0, 10_000_000_000);
    let init = ("Tutti".to_string(), "TUT".to_string(), 6u8, 1_000u128).encode();
    let token = net
        .deploy(0, tutti_examples::TOKEN, user, Some(("init", init)))
        .unwrap();
    let receiver = net.deploy(1, tutti_examples::PING_PONG, user, None).unwrap();
    (user, key, token, receiver)
}

#[test]
fn transfer_and_call_refunds_when_the_receiver_fails() {
    let mut net = net(2);
    let (user, key, token, receiver) = token_setup(&mut net);
    net.call(
        &key,
        token,
        "transfer_and_call",
        (receiver, 100u128, b"fail".to_vec()).encode(),
        0,
        GAS,
    )
    .unwrap();
    net.run_until_idle(10);
    assert_eq!(view::<u128>(&net, token, "balance_of", (user,).encode()), 1_000);
    assert_eq!(view::<u128>(&net, token, "balance_of", (receiver,).encode()), 0);
    assert_eq!(view::<u128>(&net, receiver, "received_from", (user,).encode()), 0);
}

#[test]
fn transfer_and_call_refunds_the_unused_part() {
    let mut net = net(2);
    let (user, key, token, receiver) = token_setup(&mut net);
    let tx = net
        .call(
            &key,
            token,
            "transfer_and_call",
            (receiver, 100u128, b"half".to_vec()).encode(),
            0,
            GAS,
        )
        .unwrap();
    net.run_until_idle(10);
    assert_eq!(view::<u128>(&net, token, "balance_of", (user,).encode()), 950);
    assert_eq!(view::<u128>(&net, token, "balance_of", (receiver,).encode()), 50);
    assert_eq!(view::<u128>(&net, receiver, "received_from", (user,).encode()), 50);
    let resolve = net
        .trace(&tx)
        .into_iter()
        .find(|e| e.method.as_deref() == Some("resolve_transfer"))
        .unwrap();
    assert_eq!(resolve.result, Ok(50u128.encode()));
    assert!(resolve.events.iter().any(|e| e.name == "Refund"));
}

#[test]
fn value_attached_to_a_failed_call_is_refunded() {
    let mut net = net(2);
    let (user, key) = net.create_account(0, 10_000_000_000);
    let b = net.deploy(1, tutti_examples::PING_PONG, user, None).unwrap();
    // `pong` is not payable: the call fails and the 777 tokens come back.
    let tx = net.call(&key, b, "pong", (1u64,).encode(), 777, GAS).unwrap();
    net.run_until_idle(10);
    assert_eq!(net.balance(&b), 0);
    let spent = burnt(&net, &tx);
    assert_eq!(net.balance(&user), 10_000_000_000 - spent);
}

#[test]
fn receipts_are_delivered_exactly_once_and_in_order() {
    let mut net = net(2);
    let r = |seq| Receipt {
        id: Receipt::derive_id(&Hash::ZERO, seq as u32),
        source_shard: 0,
        dest_shard: 1,
        seq,
        predecessor: Address::default(),
        receiver: Address([1; 32]),
        signer: Address::default(),
        gas_price: 0,
        body: ReceiptBody::Transfer { amount: 1 },
    };
    net.deliver(r(0)).unwrap();
    assert!(matches!(
        net.deliver(r(0)),
        Err(LocalError::OutOfOrder {
            got: 0,
            expected: 1,
            ..
        })
    ));
    assert!(matches!(
        net.deliver(r(2)),
        Err(LocalError::OutOfOrder {
            got: 2,
            expected: 1,
            ..
        })
    ));
    net.deliver(r(1)).unwrap();
}

#[test]
fn the_delayed_queue_bounds_each_block() {
    let mut net = net(1);
    net.max_receipts_per_block = 2;
    let (user, key) = net.create_account(0, 10_000_000_000);
    let c = net.deploy(0, tutti_examples::COUNTER, user, None).unwrap();
    for _ in 0..5 {
        net.call(&key, c, "increment", (1u64,).encode(), 0, GAS).unwrap();
    }
    // The chain's congestion control: once the receipts waiting fill the budget (two), later
    // transactions wait for a later block instead of growing the delayed queue.
    let first = net.produce_block();
    assert_eq!(first.executed[0].len(), 2 + 2, "2 transactions, then their 2 receipts");
    assert_eq!(view::<u64>(&net, c, "get", vec![]), 2);
    assert!(
        first.dropped[0].is_empty(),
        "congested transactions wait, they are not dropped"
    );
    net.run_until_idle(10);
    assert_eq!(view::<u64>(&net, c, "get", vec![]), 5);
}

#[test]
fn sources_stop_admitting_transactions_for_a_congested_shard_until_it_drains() {
    // Shards 0 and 2 each send shard 1 thirty transfers at once; shard 1 runs two receipts a
    // block. Each source admits only the room left under shard 1's limit (what it sent and shard
    // 1 did not run yet, plus shard 1's delayed queue), then closes to it: the rest wait in the
    // pools, shard 1's queue stays bounded, and every transfer is credited once in the end.
    let mut net = net(3);
    net.max_receipts_per_block = 2;
    let limit = tutti_runtime::schedule::CONGESTION_BLOCKS * 2;
    let (receiver, _) = net.create_account(1, 0);
    let mut senders = Vec::new();
    for shard in [0, 2] {
        for _ in 0..30 {
            senders.push(net.create_account(shard, 1_000_000_000_000));
        }
    }
    for (_, key) in &senders {
        let tx = net.sign(
            key,
            GAS,
            Action::Transfer {
                to: receiver,
                amount: 7,
            },
        );
        net.submit(tx).unwrap();
    }
    let (mut closed_blocks, mut peak) = (0, 0);
    for _ in 0..200 {
        let report = net.produce_block();
        if report.closed[0].contains(&1) && report.closed[2].contains(&1) {
            closed_blocks += 1;
        }
        assert!(
            report.closed[1].is_empty(),
            "shard 1 sends nothing: {:?}",
            report.closed
        );
        peak = peak.max(report.pending[1] as u64);
        if net.is_idle() {
            break;
        }
    }
    assert!(net.is_idle(), "everything ran");
    assert!(closed_blocks > 0, "the sources never closed to the congested shard");
    // Each source fills at most the room it saw: the queue never passes the limit per source.
    assert!(peak <= 2 * limit, "shard 1 queued {peak}, limit {limit} per source");
    assert_eq!(net.balance(&receiver), 7 * senders.len() as u128);
}

#[test]
fn bad_transactions_are_refused() {
    let mut net = net(1);
    let (_, key) = net.create_account(0, 1_000);
    let tx = net.sign(
        &key,
        GAS,
        Action::Transfer {
            to: Address([5; 32]),
            amount: 1,
        },
    );
    let mut forged = tx.clone();
    forged.tx.nonce = 9;
    assert!(matches!(net.submit(forged), Err(LocalError::Refused(m)) if m.contains("signature")));
    let mut other_chain = tx.clone();
    other_chain.tx.chain_id = 99;
    let other_chain = other_chain.tx.sign(&key);
    assert!(matches!(net.submit(other_chain), Err(LocalError::Refused(m)) if m.contains("chain id")));
    net.submit(tx.clone()).unwrap();
    assert!(matches!(net.submit(tx), Err(LocalError::Refused(m)) if m.contains("nonce")));
}

#[test]
fn same_transactions_same_state_roots() {
    let run = || {
        let mut net = net(3);
        let (user, key) = net.create_account(0, 10_000_000_000);
        let init = ("T".to_string(), "T".to_string(), 0u8, 1_000u128).encode();
        let token = net
            .deploy(2, tutti_examples::TOKEN, user, Some(("init", init)))
            .unwrap();
        let a = net.deploy(0, tutti_examples::PING_PONG, user, None).unwrap();
        let b = net.deploy(1, tutti_examples::PING_PONG, user, None).unwrap();
        net.call(&key, a, "ping", (b, 1u64).encode(), 0, GAS).unwrap();
        net.call(
            &key,
            token,
            "transfer_and_call",
            (b, 10u128, b"half".to_vec()).encode(),
            0,
            GAS,
        )
        .unwrap();
        net.call(&key, a, "ping", (b, 13u64).encode(), 0, GAS).unwrap();
        net.run_until_idle(20);
        (0..3).map(|s| net.state_root(s)).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn joined_promises_deliver_both_results_to_one_callback() {
    let mut net = net(3);
    let (user, key) = net.create_account(0, 10_000_000_000);
    let a = net.deploy(0, tutti_examples::PING_PONG, user, None).unwrap();
    let b = net.deploy(1, tutti_examples::PING_PONG, user, None).unwrap();
    let c = net.deploy(2, tutti_examples::PING_PONG, user, None).unwrap();
    let tx = net.call(&key, a, "ping_both", (b, c, 4u64).encode(), 0, GAS).unwrap();
    net.run_until_idle(10);
    // pong(4) = 5 on shard 1, pong(5) = 6 on shard 2.
    assert_eq!(view::<Option<u64>>(&net, a, "last_pong", vec![]), Some(11));
    let trace = net.trace(&tx);
    let cb: Vec<_> = trace
        .iter()
        .filter(|e| e.method.as_deref() == Some("on_both"))
        .collect();
    assert_eq!(cb.len(), 1, "the callback runs once, after both results arrived");
    assert_eq!(cb[0].events[0].name, "BothReceived");

    // One side failing: 12 -> pong(12) = 13 succeeds, pong(13) fails.
    net.call(&key, a, "ping_both", (b, c, 12u64).encode(), 0, GAS).unwrap();
    net.run_until_idle(10);
    assert_eq!(view::<Option<u64>>(&net, a, "last_pong", vec![]), Some(13));
    assert_eq!(view::<u32>(&net, a, "failures", vec![]), 1);
}

#[test]
fn deploy_transactions_install_code_and_refund_what_is_unused() {
    let mut net = net(1);
    let (user, key) = net.create_account(0, 100_000_000_000_000);
    let deploy = |net: &LocalNet, code: &[u8], gas: u64, value: u128| {
        let args = (5u64,).encode();
        net.sign(
            &key,
            gas,
            Action::Deploy {
                code: code.to_vec(),
                init_method: Some("init".into()),
                args,
                value,
            },
        )
    };
    let before = net.balance(&user);
    let tx = net
        .submit(deploy(&net, tutti_examples::COUNTER, 1_000_000_000, 0))
        .unwrap();
    net.run_until_idle(5);
    let exec = net.execution(&tx).unwrap().clone();
    let contract = Address(exec.result.clone().expect("deployed").try_into().unwrap());
    assert_eq!(
        view::<u64>(&net, contract, "get", vec![]),
        5,
        "init ran with its arguments"
    );
    assert_eq!(net.balance(&user) + burnt(&net, &tx), before, "unused gas came back");

    // Invalid code: refused with the rule, the attached value comes back, only validation is charged.
    let before = net.balance(&user);
    let tx = net
        .submit(deploy(&net, b"\0asm\x01\0\0\0garbage", 1_000_000_000, 777))
        .unwrap();
    net.run_until_idle(5);
    let f = net.execution(&tx).unwrap().result.clone().unwrap_err();
    assert_eq!(f.kind, FailureKind::InvalidCode);
    assert!(f.message.contains("invalid wasm"), "{}", f.message);
    assert_eq!(net.balance(&user) + burnt(&net, &tx), before);

    // Too little gas for the deploy cost: out of gas, the whole limit is used.
    let tx = net.submit(deploy(&net, tutti_examples::COUNTER, 2_000_000, 0)).unwrap();
    net.run_until_idle(5);
    let e = net.execution(&tx).unwrap();
    assert_eq!(e.result.clone().unwrap_err().kind, FailureKind::OutOfGas);
    assert_eq!(e.gas_used, 2_000_000);
}

#[test]
fn init_runs_only_as_the_deploys_own_call_and_cannot_be_front_run() {
    let mut net = net(1);
    let (user, key) = net.create_account(0, 100_000_000_000_000);
    let (_, attacker) = net.create_account(0, 100_000_000_000_000);
    let deploy_tx = |net: &LocalNet, init: Option<(&str, Vec<u8>)>| {
        net.sign(
            &key,
            1_000_000_000,
            Action::Deploy {
                code: tutti_examples::COUNTER.to_vec(),
                init_method: init.as_ref().map(|(m, _)| m.to_string()),
                args: init.map(|(_, a)| a).unwrap_or_default(),
                value: 0,
            },
        )
    };
    // The attacker sees the deploy coming, predicts the address and calls init first, in the same
    // block and ahead of it.
    let nonce = net.account(&user).map_or(0, |a| a.nonce);
    let predicted = Address::for_contract(&user, nonce);
    let hijack = net
        .call(&attacker, predicted, "init", (666u64,).encode(), 0, GAS)
        .unwrap();
    let deployed = net.submit(deploy_tx(&net, Some(("init", (5u64,).encode())))).unwrap();
    net.run_until_idle(5);
    let f = net.first_call(&hijack).unwrap().result.clone().unwrap_err();
    assert!(f.message.contains("not initialized yet"), "{}", f.message);
    assert_eq!(net.execution(&deployed).unwrap().result, Ok(predicted.0.to_vec()));
    assert_eq!(
        view::<u64>(&net, predicted, "get", vec![]),
        5,
        "the deployer's init ran"
    );
    let again = net
        .call(&attacker, predicted, "init", (666u64,).encode(), 0, GAS)
        .unwrap();
    net.run_until_idle(5);
    let f = net.first_call(&again).unwrap().result.clone().unwrap_err();
    assert_eq!(f.message, "the contract is already initialized");

    // A failing init leaves no contract behind, so nobody can initialize it later.
    let nonce = net.account(&user).map_or(0, |a| a.nonce);
    let failing = Address::for_contract(&user, nonce);
    net.submit(deploy_tx(&net, Some(("init", vec![1, 2, 3])))).unwrap();
    net.run_until_idle(5);
    assert!(
        net.account(&failing).is_none_or(|a| a.code_hash.is_none()),
        "the failed deploy left no code"
    );
    let later = net
        .call(&attacker, failing, "init", (666u64,).encode(), 0, GAS)
        .unwrap();
    net.run_until_idle(5);
    assert_eq!(
        net.first_call(&later).unwrap().result.clone().unwrap_err().kind,
        FailureKind::NoContract
    );

    // Deployed without init: its init method cannot be called at all afterwards.
    let nonce = net.account(&user).map_or(0, |a| a.nonce);
    let bare = Address::for_contract(&user, nonce);
    net.submit(deploy_tx(&net, None)).unwrap();
    net.run_until_idle(5);
    let late = net.call(&attacker, bare, "init", (666u64,).encode(), 0, GAS).unwrap();
    net.run_until_idle(5);
    let f = net.first_call(&late).unwrap().result.clone().unwrap_err();
    assert!(
        f.message.contains("runs only as part of its contract's deploy"),
        "{}",
        f.message
    );
}

/// No block sends one destination more receipts than a batch may carry: with the limit at 140
/// (one application's worst case plus 10, so a block takes work while it has sent at most 10),
/// 300 pings (each a same-shard call that calls across) leave shard 0 over many blocks, every
/// block within the limit (and shard 1's answers too), and every pong and callback runs once. Without the limit, shard 0's first block would send all 300 and the destination
/// would refuse the batch for good.
#[test]
fn a_block_never_sends_one_destination_more_than_a_batch_carries() {
    use tutti_runtime::schedule::MAX_RECEIPTS_PER_APPLICATION;
    let mut net = net(2);
    let limit = MAX_RECEIPTS_PER_APPLICATION + 10;
    net.max_outgoing_per_destination = limit;
    net.max_receipts_per_block = 10_000;
    let (user, key) = net.create_account(0, 1_000_000_000_000);
    let a = net.deploy(0, tutti_examples::PING_PONG, user, None).unwrap();
    let b = net.deploy(1, tutti_examples::PING_PONG, user, None).unwrap();
    net.run_until_idle(10);
    let n = 300u64;
    for i in 0..n {
        net.call(&key, a, "ping", (b, i).encode(), 0, GAS).unwrap();
    }
    let (mut blocks, mut most, mut total) = (0, 0, 0);
    for _ in 0..100 {
        let report = net.produce_block();
        let sent = report.sent[0][1];
        assert!(sent <= limit, "block {} sent {sent} receipts to shard 1", report.height);
        assert!(report.sent[1][0] <= limit, "shard 1's answers: {:?}", report.sent);
        most = most.max(sent);
        total += sent;
        blocks += 1;
        if net.is_idle() {
            break;
        }
    }
    assert!(net.is_idle(), "everything ran");
    assert_eq!(total, n as usize, "each ping sent one pong, once");
    assert!(
        most > limit - MAX_RECEIPTS_PER_APPLICATION,
        "blocks fill up to the limit: {most}"
    );
    assert!(blocks > 3, "the pings took several blocks: {blocks}");
    // Every pong ran once: pong refuses 13, and its callback records the failure.
    assert_eq!(view::<u64>(&net, b, "served", vec![]), n - 1);
    assert_eq!(view::<u32>(&net, a, "failures", vec![]), 1);
}

/// A contract for the byte bounds on receipts: `go(target, n)` makes `n` promises with the
/// largest arguments (256 KiB) to `target.sink`; `fan(target, n)` makes one promise to
/// `target.big` (which returns 256 KiB) and `n` callbacks on it, each recording whether the
/// result was a failure (`f`) or not (`o`).
const SPRAY: &str = r#"(module
  (import "tutti_v1" "input" (func $input (result i32)))
  (import "tutti_v1" "register_read" (func $read (param i32)))
  (import "tutti_v1" "promise_create" (func $create (param i32 i32 i32 i32 i32 i32 i64 i64) (result i32)))
  (import "tutti_v1" "promise_then" (func $then (param i32 i32 i32 i32 i32 i32 i64 i64) (result i32)))
  (import "tutti_v1" "promise_result" (func $result (param i32) (result i64)))
  (import "tutti_v1" "storage_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "tutti_v1" "value_return" (func $ret (param i32 i32)))
  (memory (export "memory") 6)
  (data (i32.const 100) "sink")
  (data (i32.const 110) "big")
  (data (i32.const 120) "cb")
  (data (i32.const 130) "fo")
  (func (export "go") (local $i i32) (local $n i32)
    (drop (call $input)) (call $read (i32.const 0))
    (local.set $n (i32.load8_u (i32.const 32)))
    (block $done (loop $more
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (drop (call $create (i32.const 0) (i32.const 100) (i32.const 4) (i32.const 65536) (i32.const 262144)
        (i32.const 200) (i64.const 1000000) (i64.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $more))))
  (func (export "sink"))
  (func (export "big") (call $ret (i32.const 65536) (i32.const 262144)))
  (func (export "fan") (local $p i32) (local $i i32) (local $n i32)
    (drop (call $input)) (call $read (i32.const 0))
    (local.set $n (i32.load8_u (i32.const 32)))
    (local.set $p (call $create (i32.const 0) (i32.const 110) (i32.const 3) (i32.const 0) (i32.const 0)
      (i32.const 200) (i64.const 5000000) (i64.const 1)))
    (block $done (loop $more
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (drop (call $then (local.get $p) (i32.const 120) (i32.const 2) (i32.const 0) (i32.const 0)
        (i32.const 200) (i64.const 5000000) (i64.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $more))))
  (func (export "cb")
    (if (i64.lt_s (call $result (i32.const 0)) (i64.const 0))
      (then (drop (call $write (i32.const 130) (i32.const 1) (i32.const 130) (i32.const 1))))
      (else (drop (call $write (i32.const 131) (i32.const 1) (i32.const 131) (i32.const 1)))))))"#;

fn spray_args(target: Address, n: u8) -> Vec<u8> {
    let mut a = target.0.to_vec();
    a.push(n);
    a
}

/// No block sends one destination more bytes of receipts than a batch may carry
/// (`MAX_BATCH_BYTES`, 3 MiB): 20 calls each sending three 256 KiB promises across (15 MiB in
/// all) leave over several blocks, each within the bound, and every promise runs once. Without
/// the bound the first block sends all 15 MiB: a batch the destination refuses for good.
#[test]
fn a_block_never_sends_one_destination_more_bytes_than_a_batch_carries() {
    use tutti_primitives::receipt::MAX_BATCH_BYTES;
    let mut net = net(2);
    let code = wat::parse_str(SPRAY).unwrap();
    let (user, key) = net.create_account(0, 1_000_000_000_000_000);
    let a = net.deploy(0, &code, user, None).unwrap();
    let b = net.deploy(1, &code, user, None).unwrap();
    let calls: Vec<Hash> = (0..20)
        .map(|_| net.call(&key, a, "go", spray_args(b, 3), 0, GAS).unwrap())
        .collect();
    let (mut blocks, mut most) = (0, 0);
    for _ in 0..100 {
        let report = net.produce_block();
        let bytes = report.sent_bytes[0][1];
        assert!(
            bytes <= MAX_BATCH_BYTES,
            "block {} sent {bytes} bytes to shard 1",
            report.height
        );
        most = most.max(bytes);
        blocks += 1;
        if net.is_idle() {
            break;
        }
    }
    assert!(net.is_idle(), "everything ran");
    assert!(blocks > 5, "the calls took several blocks: {blocks}");
    assert!(most > MAX_BATCH_BYTES / 3, "blocks fill up: {most} bytes at most");
    for tx in &calls {
        let sinks = net
            .trace(tx)
            .iter()
            .filter(|e| e.method.as_deref() == Some("sink") && e.result.is_ok())
            .count();
        assert_eq!(sinks, 3, "each call's three promises ran once");
    }
}

/// A result goes to every callback waiting for it, one copy each: a 256 KiB result may go to two
/// callbacks, not three (the call returning it fails instead, and the callbacks get that
/// failure), so one execution never sends more than `caps::MAX_RESULT_FANOUT_BYTES` of results.
#[test]
fn a_result_too_large_for_its_callbacks_fails_the_call() {
    let mut net = net(2);
    let code = wat::parse_str(SPRAY).unwrap();
    let (user, key) = net.create_account(0, 1_000_000_000_000_000);
    let two = net.deploy(0, &code, user, None).unwrap();
    let three = net.deploy(0, &code, user, None).unwrap();
    let target = net.deploy(1, &code, user, None).unwrap();
    let ok = net.call(&key, two, "fan", spray_args(target, 2), 0, GAS).unwrap();
    net.run_until_idle(20);
    let too_many = net.call(&key, three, "fan", spray_args(target, 3), 0, GAS).unwrap();
    net.run_until_idle(20);
    let big = |tx: &Hash| {
        net.trace(tx)
            .into_iter()
            .find(|e| e.method.as_deref() == Some("big"))
            .expect("the promise ran")
            .result
            .clone()
    };
    assert_eq!(big(&ok).map(|r| r.len()), Ok(256 * 1024));
    assert_eq!(
        net.storage(&two, b"o"),
        Some(b"o".to_vec()),
        "both callbacks got the result"
    );
    assert_eq!(net.storage(&two, b"f"), None);
    let Err(failure) = big(&too_many) else {
        panic!("a 256 KiB result went to three callbacks");
    };
    assert_eq!(failure.kind, FailureKind::HostError);
    assert!(failure.message.contains("3 callbacks"), "{}", failure.message);
    assert_eq!(
        net.storage(&three, b"f"),
        Some(b"f".to_vec()),
        "the callbacks got the failure"
    );
    assert_eq!(net.storage(&three, b"o"), None);
}

/// A deploy whose gas cannot pay for its size fails out of gas before its code is validated or
/// compiled (its price depends on the size alone), so an underfunded deploy costs a node no
/// compilation and leaves nothing in the code cache.
#[test]
fn a_deploy_that_cannot_pay_is_refused_before_its_code_is_compiled() {
    let mut net = net(1);
    let (_, key) = net.create_account(0, 1 << 60);
    let code = tutti_examples::COUNTER.to_vec();
    let schedule = net.runtime().schedule().clone();
    // Its inclusion and a little: far below the deploy's price.
    let gas = schedule.inclusion_cost(code.len() + 300) + 10_000;
    assert!(gas - schedule.inclusion_cost(code.len()) < schedule.deploy_cost(code.len()));
    let tx = net.sign(
        &key,
        gas,
        Action::Deploy {
            code: code.clone(),
            init_method: None,
            args: vec![],
            value: 0,
        },
    );
    let hash = net.submit(tx).unwrap();
    net.run_until_idle(5);
    let e = &net.trace(&hash)[0];
    let failure = e.result.clone().unwrap_err();
    assert_eq!(failure.kind, FailureKind::OutOfGas, "{failure}");
    assert_eq!(e.gas_used, gas, "the whole limit is used");
    assert!(
        !net.runtime().is_loaded(&tutti_runtime::code_hash(&code)),
        "the code was compiled"
    );
}

/// A transaction its sender cannot pay for is left out, not included with the fee it cannot
/// pay: after a first transfer drains the account, a second one takes no block space and waits
/// until the sender can pay (once, a sender could drain its account and have later transactions
/// ride free, taking block gas and priority at a price they never paid).
#[test]
fn a_transaction_its_sender_cannot_pay_for_is_left_out() {
    let mut net = net(1);
    let (sender, key) = net.create_account(0, 10_000_000);
    let to = Address([3; 32]);
    let gas = 2_000_000;
    // Each can pay alone; after the first (7M moved, its inclusion fee burnt) the second cannot.
    let drain = net.sign(&key, gas, Action::Transfer { to, amount: 7_000_000 });
    let first = net.submit(drain).unwrap();
    let next = net.sign(&key, gas, Action::Transfer { to, amount: 1 });
    let second = net.submit(next).unwrap();
    let report = net.produce_block();
    assert!(net.trace(&first)[0].result.is_ok());
    assert!(net.trace(&second).is_empty(), "the unpayable transaction ran");
    assert!(
        report.dropped[0].is_empty(),
        "it waits (a refund or a transfer may come)"
    );
    assert_eq!(net.account(&sender).unwrap().nonce, 1);
    net.fund(&sender, 10_000_000);
    net.produce_block();
    assert!(net.trace(&second)[0].result.is_ok(), "once funded, it runs");
}

/// Transactions never take the room the block's receipts need, and a full outbox holds back
/// only the transactions that send to it: twelve calls of 256 KiB to another shard per block
/// (3 MiB, a whole batch) leave every other transaction and every receipt of its shard running,
/// and the calls go over the next blocks. (Once the transaction phase stopped everything as soon
/// as one outbox passed half a batch: same-shard transfers and every receipt waited for as long
/// as an attacker paid for one large call a block.)
#[test]
fn calls_filling_one_outbox_hold_back_nothing_else() {
    use tutti_primitives::receipt::MAX_BATCH_BYTES;
    let mut net = net(2);
    let (_, attacker) = net.create_account(0, 1_000_000_000_000_000);
    let (alice, key) = net.create_account(0, 1_000_000_000_000);
    let (bob, _) = net.create_account(0, 0);
    let (target, _) = net.create_account(1, 0);
    let mut calls = Vec::new();
    let mut send = |net: &mut LocalNet| {
        for _ in 0..12 {
            let t = net.sign(
                &attacker,
                100_000_000,
                Action::Call {
                    contract: target,
                    method: "x".into(),
                    args: vec![0; 256 * 1024],
                    value: 0,
                },
            );
            calls.push(net.submit(t).unwrap());
        }
    };
    send(&mut net);
    let t = net.sign(&key, 10_000_000, Action::Transfer { to: bob, amount: 5 });
    net.submit(t).unwrap();
    let report = net.produce_block();
    assert!(report.sent_bytes[0][1] <= MAX_BATCH_BYTES);
    assert_eq!(net.account(&alice).unwrap().nonce, 1, "alice's transfer was included");
    assert_eq!(net.balance(&bob), 5, "and its receipt ran");
    for _ in 0..2 {
        send(&mut net);
        let report = net.produce_block();
        assert!(report.sent_bytes[0][1] <= MAX_BATCH_BYTES);
    }
    net.run_until_idle(20);
    assert!(
        calls.iter().all(|c| net.trace(c).len() >= 2),
        "every call went across, once"
    );
}

/// The compiled-code cache is bounded (least recently used modules dropped past
/// `max_cached_code_bytes`), and outcomes never depend on it: a network whose runtime can keep
/// almost nothing compiled (every call compiles its code again from state) ends with the state
/// roots, results and gas of one that keeps everything. (Once the cache grew with every code
/// loaded, through `tutti_call` too, for the life of the process.)
#[test]
fn the_code_cache_is_bounded_and_outcomes_do_not_depend_on_it() {
    let tiny = Runtime::new(RuntimeConfig {
        max_cached_code_bytes: 1,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let mut nets = [LocalNet::new(Arc::new(tiny), 2), net(2)];
    let mut traces = Vec::new();
    for net in &mut nets {
        let (user, key) = net.create_account(0, 1_000_000_000_000);
        let a = net.deploy(0, tutti_examples::PING_PONG, user, None).unwrap();
        let b = net.deploy(1, tutti_examples::PING_PONG, user, None).unwrap();
        let c = net.deploy(0, tutti_examples::COUNTER, user, None).unwrap();
        net.run_until_idle(10);
        let mut calls = Vec::new();
        for i in 0..5u64 {
            calls.push(net.call(&key, a, "ping", (b, i).encode(), 0, GAS).unwrap());
            calls.push(net.call(&key, c, "increment", (i,).encode(), 0, GAS).unwrap());
        }
        net.run_until_idle(20);
        let t: Vec<Vec<(Option<String>, bool, u64)>> = calls
            .iter()
            .map(|h| {
                net.trace(h)
                    .iter()
                    .map(|e| (e.method.clone(), e.result.is_ok(), e.gas_used))
                    .collect()
            })
            .collect();
        traces.push((t, net.state_root(0), net.state_root(1)));
    }
    assert_eq!(traces[0], traces[1]);
    // Instrumentation only adds bytes: both modules cached would take at least this much.
    let both = tutti_examples::COUNTER.len() + tutti_examples::PING_PONG.len();
    assert!(
        nets[0].runtime().cached_code_bytes() < both,
        "the tiny cache keeps only the module last loaded: {} bytes",
        nets[0].runtime().cached_code_bytes()
    );
    assert!(nets[1].runtime().cached_code_bytes() > 0);
}
