//! Instance reuse (`RuntimeConfig::reuse_instances`): a reused instance behaves exactly as a fresh
//! one. A probe module whose methods would reveal any leftover state (a mutable global and a
//! memory cell counted up on every call, memory grown, a trap half way through), a module that
//! writes its table (never reused), and the example contracts run call for call on a runtime with
//! reuse and one without, with identical outcomes.

use std::sync::Arc;

use tutti_primitives::{Address, FailureKind, codec::Encode};
use tutti_runtime::{CallContext, CallOutcome, EmptyState, Runtime, RuntimeConfig, StateView};

fn runtime(reuse: bool) -> Runtime {
    Runtime::new(RuntimeConfig {
        max_concurrent_calls: 4,
        reuse_instances: reuse,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

/// Counts calls in a mutable global and in memory, returns both: anything but (1, 1) means the
/// instance carried state over from an earlier call.
const PROBE: &str = r#"(module
  (import "tutti_v1" "value_return" (func $ret (param i32 i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (global $h (mut i64) (i64.const 7))
  (data (i32.const 2048) "\05")
  (func $bump
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (global.set $h (i64.add (global.get $h) (i64.const 1)))
    (i32.store (i32.const 1024) (i32.add (i32.load (i32.const 1024)) (i32.const 1)))
    (i32.store8 (i32.const 2048) (i32.add (i32.load8_u (i32.const 2048)) (i32.const 1))))
  (func (export "bump")
    (call $bump)
    (i32.store (i32.const 0) (global.get $g))
    (i32.store (i32.const 4) (i32.load (i32.const 1024)))
    (i32.store8 (i32.const 8) (i32.load8_u (i32.const 2048)))
    (i64.store (i32.const 9) (global.get $h))
    (call $ret (i32.const 0) (i32.const 17)))
  (func (export "bump_and_trap")
    (call $bump)
    unreachable)
  (func (export "grow")
    (call $bump)
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 65536) (i32.const 9)))
  (func (export "spin")
    (local $i i32)
    (call $bump)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100000))))))"#;

/// The fresh-instance answer of `bump`: global 1, memory cell 1, data byte 6, i64 global 8.
fn fresh_bump() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&1i32.to_le_bytes());
    v.extend_from_slice(&1i32.to_le_bytes());
    v.push(6);
    v.extend_from_slice(&8i64.to_le_bytes());
    v
}

fn call(rt: &Runtime, wasm: &[u8], method: &str, args: Vec<u8>, gas: u64, state: Arc<dyn StateView>) -> CallOutcome {
    let h = rt.load(wasm).expect("load").code_hash;
    let ctx = CallContext::new(Address([9; 32]), Address([1; 32]), method, args, gas);
    rt.execute(&h, ctx, state).expect("execute")
}

#[test]
fn a_reused_instance_starts_from_the_fresh_state() {
    let wasm = wat::parse_str(PROBE).unwrap();
    let rt = runtime(true);
    let bump = |rt: &Runtime| call(rt, &wasm, "bump", vec![], 10_000_000, Arc::new(EmptyState));
    for _ in 0..5 {
        assert_eq!(bump(&rt).result, Ok(fresh_bump()));
    }
    assert_eq!(rt.parked_instances(), 1, "one instance, reused");
    // A trap half way: the instance is dropped, the next call is fresh.
    let trapped = call(&rt, &wasm, "bump_and_trap", vec![], 10_000_000, Arc::new(EmptyState));
    assert_eq!(trapped.failure_kind(), Some(FailureKind::Trap));
    assert_eq!(bump(&rt).result, Ok(fresh_bump()));
    // Memory grown: that instance is not parked again; the next call still sees one page.
    assert!(call(&rt, &wasm, "grow", vec![], 10_000_000, Arc::new(EmptyState)).is_ok());
    assert_eq!(bump(&rt).result, Ok(fresh_bump()));
    // Out of gas in a loop: dropped too.
    let starved = call(&rt, &wasm, "spin", vec![], 200_000, Arc::new(EmptyState));
    assert_eq!(starved.failure_kind(), Some(FailureKind::OutOfGas));
    assert_eq!(bump(&rt).result, Ok(fresh_bump()));
}

#[test]
fn every_probe_outcome_matches_fresh_instances() {
    let wasm = wat::parse_str(PROBE).unwrap();
    let (reused, fresh) = (runtime(true), runtime(false));
    let script = [
        ("bump", 10_000_000),
        ("grow", 10_000_000),
        ("bump", 10_000_000),
        ("bump_and_trap", 10_000_000),
        ("spin", 200_000),
        ("spin", 50_000_000),
        ("bump", 10_000_000),
        ("nope", 10_000_000),
        ("bump", 1_000),
        ("bump", 10_000_000),
    ];
    for round in 0..3 {
        for (method, gas) in script {
            let a = call(&reused, &wasm, method, vec![], gas, Arc::new(EmptyState));
            let b = call(&fresh, &wasm, method, vec![], gas, Arc::new(EmptyState));
            assert_eq!(a, b, "round {round}, {method} with {gas} gas");
        }
    }
    assert_eq!(fresh.parked_instances(), 0);
}

#[test]
fn code_that_writes_its_table_is_never_reused() {
    let wasm = wat::parse_str(
        r#"(module
          (import "tutti_v1" "value_return" (func $ret (param i32 i32)))
          (memory (export "memory") 1)
          (table $t 2 funcref)
          (elem declare func $one $two)
          (func $one (result i32) (i32.const 1))
          (func $two (result i32) (i32.const 2))
          (func (export "swap")
            (i32.store (i32.const 0)
              (if (result i32) (ref.is_null (table.get $t (i32.const 0)))
                (then (i32.const 0))
                (else (call_indirect (result i32) (i32.const 0)))))
            (table.set $t (i32.const 0) (ref.func $two))
            (call $ret (i32.const 0) (i32.const 4))))"#,
    )
    .unwrap();
    let rt = runtime(true);
    for _ in 0..3 {
        let out = call(&rt, &wasm, "swap", vec![], 10_000_000, Arc::new(EmptyState));
        assert_eq!(
            out.result,
            Ok(0i32.to_le_bytes().to_vec()),
            "the table is fresh each call"
        );
    }
    assert_eq!(rt.parked_instances(), 0);
}

struct Map(std::collections::BTreeMap<Vec<u8>, Vec<u8>>);
impl StateView for Map {
    fn storage_get(&self, _: &Address, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key).cloned()
    }
}

/// Runs `calls` on the code with state applied after each success, on a runtime with reuse and
/// one without, and requires the same outcome for every call.
fn same_outcomes(code: &[u8], calls: &[(&str, Vec<u8>, u64)]) {
    let (reused, fresh) = (runtime(true), runtime(false));
    let mut state = std::collections::BTreeMap::new();
    state.insert(tutti_primitives::INIT_PENDING_KEY.to_vec(), vec![0; 32]);
    for (i, (method, args, gas)) in calls.iter().enumerate() {
        let snapshot: Arc<dyn StateView> = Arc::new(Map(state.clone()));
        let a = call(&reused, code, method, args.clone(), *gas, snapshot.clone());
        let b = call(&fresh, code, method, args.clone(), *gas, snapshot);
        assert_eq!(a, b, "call {i}: {method}");
        if a.is_ok() {
            for ch in &a.state_changes {
                match &ch.value {
                    Some(v) => state.insert(ch.key.clone(), v.clone()),
                    None => state.remove(&ch.key),
                };
            }
        }
        if *method == "init" {
            state.remove(tutti_primitives::INIT_PENDING_KEY);
        }
    }
    assert!(reused.parked_instances() > 0, "the example's instances were reused");
}

#[test]
fn the_token_behaves_the_same_with_reused_instances() {
    let (a, b) = (Address([2; 32]), Address([3; 32]));
    let mut calls = vec![(
        "init",
        ("Tutti".to_string(), "TUT".to_string(), 6u8, 1_000_000u128).encode(),
        50_000_000,
    )];
    for i in 0..20u128 {
        calls.push((
            "transfer",
            (if i % 2 == 0 { a } else { b }, 1_000 + i).encode(),
            50_000_000,
        ));
        calls.push(("balance_of", (a,).encode(), 50_000_000));
    }
    calls.push(("transfer", (a, 10_000_000u128).encode(), 50_000_000));
    calls.push(("transfer", (a, 5u128).encode(), 30_000));
    calls.push(("transfer", vec![1, 2, 3], 50_000_000));
    calls.push(("approve", (b, 77u128).encode(), 50_000_000));
    calls.push(("total_supply", vec![], 50_000_000));
    calls.push(("transfer", (b, 1u128).encode(), 50_000_000));
    same_outcomes(tutti_examples::TOKEN, &calls);
}

#[test]
fn the_counter_behaves_the_same_with_reused_instances() {
    let mut calls = vec![("init", (10u64,).encode(), 50_000_000)];
    for i in 0..10u64 {
        calls.push(("increment", (i,).encode(), 50_000_000));
        calls.push(("get", vec![], 50_000_000));
    }
    calls.push(("increment", vec![9], 50_000_000));
    calls.push(("increment", (u64::MAX,).encode(), 50_000_000));
    calls.push(("get", vec![], 50_000_000));
    same_outcomes(tutti_examples::COUNTER, &calls);
}
