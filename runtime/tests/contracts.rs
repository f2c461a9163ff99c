//! The example contracts through the runtime: methods, arguments, events, method rules, gas.

use std::sync::Arc;

use tutti_primitives::{Address, FailureKind, codec::Encode};
use tutti_runtime::{CallContext, CallOutcome, EmptyState, Runtime, RuntimeConfig, StateView};

struct Map(std::collections::BTreeMap<Vec<u8>, Vec<u8>>);
impl StateView for Map {
    fn storage_get(&self, _: &Address, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key).cloned()
    }
}

fn rt() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

fn call(rt: &Runtime, code: &[u8], state: &mut Map, method: &str, args: Vec<u8>, value: u128) -> CallOutcome {
    let h = rt.load(code).expect("load").code_hash;
    let mut ctx = CallContext::new(Address([9; 32]), Address([1; 32]), method, args, 50_000_000);
    ctx.value = value;
    ctx.balance = value;
    let snapshot = Map(state.0.clone());
    let out = rt.execute(&h, ctx, Arc::new(snapshot)).expect("execute");
    if out.is_ok() {
        for ch in &out.state_changes {
            match &ch.value {
                Some(v) => state.0.insert(ch.key.clone(), v.clone()),
                None => state.0.remove(&ch.key),
            };
        }
    }
    out
}

/// Runs `init` as a deploy would: under the runtime's init-pending mark.
fn init(rt: &Runtime, code: &[u8], state: &mut Map, args: Vec<u8>) -> CallOutcome {
    state.0.insert(tutti_primitives::INIT_PENDING_KEY.to_vec(), vec![0; 32]);
    let out = call(rt, code, state, "init", args, 0);
    state.0.remove(tutti_primitives::INIT_PENDING_KEY);
    out
}

#[test]
fn counter_init_increment_get() {
    let rt = rt();
    let code = tutti_examples::COUNTER;
    let mut st = Map(Default::default());
    assert!(init(&rt, code, &mut st, (10u64,).encode()).is_ok());
    let out = call(&rt, code, &mut st, "increment", (5u64,).encode(), 0);
    assert_eq!(out.result, Ok(15u64.encode()));
    assert_eq!(out.events.len(), 1);
    assert_eq!(out.events[0].name, "Incremented");
    assert_eq!(out.events[0].data, (5u64, 15u64).encode());
    assert_eq!(call(&rt, code, &mut st, "get", vec![], 0).result, Ok(15u64.encode()));
}

#[test]
fn method_rules_fail_with_messages() {
    let rt = rt();
    let code = tutti_examples::COUNTER;
    let mut st = Map(Default::default());
    let outside = call(&rt, code, &mut st, "init", (1u64,).encode(), 0);
    let msg = outside.result.unwrap_err().message;
    assert!(msg.contains("runs only as part of its contract's deploy"), "{msg}");
    assert!(init(&rt, code, &mut st, (1u64,).encode()).is_ok());
    let again = init(&rt, code, &mut st, (1u64,).encode());
    assert_eq!(again.result.unwrap_err().message, "the contract is already initialized");
    let paid = call(&rt, code, &mut st, "increment", (1u64,).encode(), 5);
    let f = paid.result.unwrap_err();
    assert_eq!(f.kind, FailureKind::Panic);
    assert!(f.message.contains("not payable"), "{}", f.message);
    assert_eq!(paid.balance, 5, "the balance is untouched on failure");
    let bad_args = call(&rt, code, &mut st, "increment", vec![1, 2], 0);
    assert!(bad_args.result.unwrap_err().message.contains("do not decode"));
    let trailing = call(&rt, code, &mut st, "increment", (1u64, 2u8).encode(), 0);
    assert!(trailing.result.is_err(), "trailing bytes are refused");
    let missing = call(&rt, code, &mut st, "nope", vec![], 0);
    assert_eq!(missing.failure_kind(), Some(FailureKind::MethodNotFound));
    let overflow = {
        call(&rt, code, &mut st, "increment", (u64::MAX - 1,).encode(), 0);
        call(&rt, code, &mut st, "increment", (5u64,).encode(), 0)
    };
    assert_eq!(overflow.result.unwrap_err().message, "counter overflow");
    assert!(overflow.state_changes.is_empty() && overflow.events.is_empty());
}

#[test]
fn token_transfer_and_views() {
    let rt = rt();
    let code = tutti_examples::TOKEN;
    let mut st = Map(Default::default());
    let init_args = ("Tutti".to_string(), "TUT".to_string(), 6u8, 1_000u128).encode();
    assert!(init(&rt, code, &mut st, init_args).is_ok());
    let to = Address([2; 32]);
    let out = call(&rt, code, &mut st, "transfer", (to, 250u128).encode(), 0);
    assert!(out.is_ok(), "{:?}", out.result);
    assert_eq!(out.events[0].name, "Transfer");
    let bal = |st: &mut Map, a: Address| call(&rt, code, st, "balance_of", (a,).encode(), 0).result.unwrap();
    assert_eq!(bal(&mut st, to), 250u128.encode());
    assert_eq!(bal(&mut st, Address([1; 32])), 750u128.encode());
    let too_much = call(&rt, code, &mut st, "transfer", (to, 751u128).encode(), 0);
    assert_eq!(
        too_much.result.unwrap_err().message,
        "insufficient token balance: have 750, need 751"
    );
}

#[test]
fn same_call_same_gas_and_result() {
    let rt = rt();
    let a = call(
        &rt,
        tutti_examples::COUNTER,
        &mut Map(Default::default()),
        "increment",
        (3u64,).encode(),
        0,
    );
    let rt2 = Runtime::new(RuntimeConfig::default()).unwrap();
    let b = call(
        &rt2,
        tutti_examples::COUNTER,
        &mut Map(Default::default()),
        "increment",
        (3u64,).encode(),
        0,
    );
    assert_eq!(a, b);
    assert!(a.gas_used > 0);
}

#[test]
fn views_cannot_write() {
    let rt = rt();
    let h = rt.load(tutti_examples::COUNTER).unwrap().code_hash;
    let mut ctx = CallContext::new(
        Address([9; 32]),
        Address([1; 32]),
        "increment",
        (1u64,).encode(),
        50_000_000,
    );
    ctx.read_only = true;
    let out = rt.execute(&h, ctx, Arc::new(EmptyState)).unwrap();
    assert_eq!(out.failure_kind(), Some(FailureKind::HostError));
    assert!(out.result.unwrap_err().message.contains("read-only"));
}

#[test]
fn gas_limit_below_call_base_is_out_of_gas() {
    let rt = rt();
    let h = rt.load(tutti_examples::COUNTER).unwrap().code_hash;
    let ctx = CallContext::new(Address([9; 32]), Address([1; 32]), "get", vec![], 10);
    let out = rt.execute(&h, ctx, Arc::new(EmptyState)).unwrap();
    assert_eq!(out.failure_kind(), Some(FailureKind::OutOfGas));
    assert_eq!(out.gas_used, 10);
}

#[test]
fn every_gas_limit_gives_a_deterministic_outcome() {
    // Sweep gas limits across the whole call: each either succeeds or runs out of gas using
    // exactly the limit, and a second run agrees.
    let rt = rt();
    let h = rt.load(tutti_examples::COUNTER).unwrap().code_hash;
    let run = |gas| {
        let ctx = CallContext::new(Address([9; 32]), Address([1; 32]), "increment", (1u64,).encode(), gas);
        rt.execute(&h, ctx, Arc::new(EmptyState)).unwrap()
    };
    let full = run(50_000_000).gas_used;
    for gas in (full.saturating_sub(3_000)..=full + 10).step_by(97) {
        let a = run(gas);
        assert_eq!(a, run(gas));
        match a.failure_kind() {
            None => assert!(gas >= full),
            Some(FailureKind::OutOfGas) => assert_eq!(a.gas_used, gas),
            other => panic!("unexpected {other:?} at gas {gas}"),
        }
    }
}

/// Knows the randomness of every earlier height (`[h % 251; 32]`), like a chain whose ring holds them.
struct History;
impl StateView for History {
    fn storage_get(&self, _: &Address, _: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn randomness_at(&self, height: u64) -> Option<tutti_primitives::Hash> {
        Some(tutti_primitives::Hash([(height % 251) as u8; 32]))
    }
}

#[test]
fn randomness_at_reads_recent_blocks_only() {
    use tutti_primitives::{Hash, RANDOMNESS_WINDOW};
    // `run` takes a height as 8 LE bytes of input and returns [found] ++ 32 bytes.
    let src = r#"(module
        (import "tutti_v1" "input" (func $input (result i32)))
        (import "tutti_v1" "register_read" (func $read (param i32)))
        (import "tutti_v1" "randomness_at" (func $at (param i64 i32) (result i32)))
        (import "tutti_v1" "value_return" (func $ret (param i32 i32)))
        (memory (export "memory") 1)
        (func (export "run")
            (drop (call $input))
            (call $read (i32.const 64))
            (i32.store8 (i32.const 0) (call $at (i64.load (i32.const 64)) (i32.const 1)))
            (call $ret (i32.const 0) (i32.const 33))))"#;
    let rt = rt();
    let code = wat::parse_str(src).unwrap();
    let h = rt.load(&code).expect("load").code_hash;
    let now = RANDOMNESS_WINDOW + 500;
    let ask = |height: u64| {
        let mut ctx = CallContext::new(
            Address([9; 32]),
            Address([1; 32]),
            "run",
            height.to_le_bytes().to_vec(),
            50_000_000,
        );
        ctx.block.height = now;
        ctx.block.randomness = Hash([0xee; 32]);
        let out = rt.execute(&h, ctx, Arc::new(History)).expect("execute");
        let bytes = out.result.clone().expect("runs");
        (bytes[0] == 1).then(|| bytes[1..].to_vec())
    };
    assert_eq!(ask(now), Some(vec![0xee; 32]), "the current block's own randomness");
    assert_eq!(ask(now - 1), Some(vec![((now - 1) % 251) as u8; 32]));
    let oldest = now - (RANDOMNESS_WINDOW - 1);
    assert_eq!(
        ask(oldest),
        Some(vec![(oldest % 251) as u8; 32]),
        "the oldest block in the window"
    );
    assert_eq!(ask(oldest - 1), None, "a block that left the window");
    assert_eq!(ask(now + 1), None, "a future block");
    assert_eq!(ask(0), None, "the genesis");
    assert_eq!(ask(u64::MAX), None);
}

/// A `#[callback]` is called by the contract's own promises; anyone else calling it (to fake a
/// promise's result, say a refund in the token's `resolve_transfer`) is refused by the SDK
/// before the method runs.
#[test]
fn only_the_contract_itself_may_call_its_callbacks() {
    let rt = rt();
    let mut st = Map(Default::default());
    let outsider = call(&rt, tutti_examples::PING_PONG, &mut st, "on_pong", (5u64,).encode(), 0);
    let f = outsider.result.unwrap_err();
    assert_eq!(f.kind, FailureKind::Panic);
    assert!(f.message.contains("only this contract may call it"), "{}", f.message);
    let token = call(
        &rt,
        tutti_examples::TOKEN,
        &mut st,
        "resolve_transfer",
        (Address([1; 32]), Address([2; 32]), 10u128).encode(),
        0,
    );
    assert!(
        token
            .result
            .unwrap_err()
            .message
            .contains("only this contract may call it")
    );
    // The contract itself gets past the rule (and then lacks the promise result it expects).
    let h = rt.load(tutti_examples::PING_PONG).unwrap().code_hash;
    let ctx = CallContext::new(
        Address([9; 32]),
        Address([9; 32]),
        "on_pong",
        (5u64,).encode(),
        50_000_000,
    );
    let own = rt.execute(&h, ctx, Arc::new(Map(Default::default()))).unwrap();
    let msg = own.result.unwrap_err().message;
    assert!(!msg.contains("only this contract"), "{msg}");
}
