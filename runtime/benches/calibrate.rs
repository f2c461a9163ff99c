//! Gas calibration: nanoseconds per gas unit for every host function (marginal cost: a loop that
//! calls it minus the same loop without the call), for plain wasm operators, bulk memory, the
//! per-call base, and for whole calls of the example contracts. Gas tracks wall time when the
//! ns/gas column is flat; the spread (max / min) should stay within 2x.
//!
//! `cargo bench -p tutti-runtime --bench calibrate` prints a markdown table (numbers in BENCHMARKS.md).

use std::{hint::black_box, sync::Arc, time::Instant};

use ed25519_dalek::{Signer, SigningKey};
use tutti_primitives::{Address, codec::Encode};
use tutti_runtime::{CallContext, CallOutcome, Runtime, StateView};

mod common;
use common::*;

const REPS: usize = 51;

/// Median wall time (ns) and gas of one call.
fn measure(rt: &Runtime, code: &tutti_primitives::Hash, ctx: &CallContext, state: &Arc<dyn StateView>) -> (f64, u64) {
    let run = || rt.execute(code, ctx.clone(), state.clone()).unwrap();
    let first: CallOutcome = run();
    assert!(first.is_ok(), "{} failed: {:?}", ctx.method, first.result);
    for _ in 0..3 {
        black_box(run());
    }
    let mut times: Vec<f64> = (0..REPS)
        .map(|_| {
            let t = Instant::now();
            black_box(run());
            t.elapsed().as_nanos() as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[REPS / 2], first.gas_used)
}

struct Row {
    /// Counted in the spread (host functions and example calls) or shown for information.
    counted: bool,
    name: String,
    gas: f64,
    ns: f64,
}

fn loop_module(import: &str, body: &str, n: u32, data: &str) -> Vec<u8> {
    let src = format!(
        r#"(module
            {import}
            (memory (export "memory") 2)
            {data}
            (func (export "run") (local $i i32) (local $x i64)
                (loop $l
                    (i32.store (i32.const 0) (local.get $i))
                    {body}
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))
                (i64.store (i32.const 128) (local.get $x))))"#
    );
    wat::parse_str(&src).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn main() {
    let rt = runtime();
    let mut rows = Vec::new();

    // State with the key used by the storage_read/has/remove cases (key = 32 zero bytes, the loop
    // counter at the front is 0 only on the first iteration, so use a fixed key at offset 512).
    let mut st = MapState::default();
    st.0.insert(vec![7u8; 32], vec![1u8; 64]);
    let state: Arc<dyn StateView> = Arc::new(st);
    let key = SigningKey::from_bytes(&[5; 32]);
    let msg = [9u8; 64];
    let sig = key.sign(&msg).to_bytes();
    let hexs = |b: &[u8]| b.iter().map(|x| format!("\\{x:02x}")).collect::<String>();
    let data = format!(
        r#"(data (i32.const 512) "{}") (data (i32.const 1024) "{}") (data (i32.const 1100) "{}") (data (i32.const 1200) "{}") (data (i32.const 1300) "Transfer")"#,
        hexs(&[7u8; 32]),
        hexs(&sig),
        hexs(key.verifying_key().as_bytes()),
        hexs(&msg)
    );
    let imp = |name: &str, sig: &str| format!(r#"(import "tutti_v1" "{name}" (func $h {sig}))"#);
    let cases: Vec<(&str, String, &str, u32)> = vec![
        (
            "storage_write 32B key, 64B value",
            imp("storage_write", "(param i32 i32 i32 i32) (result i32)"),
            "(drop (call $h (i32.const 0) (i32.const 32) (i32.const 64) (i32.const 64)))",
            1000,
        ),
        (
            "storage_read hit 32B/64B",
            imp("storage_read", "(param i32 i32) (result i64)"),
            "(drop (call $h (i32.const 512) (i32.const 32)))",
            1000,
        ),
        (
            "storage_read miss 32B",
            imp("storage_read", "(param i32 i32) (result i64)"),
            "(drop (call $h (i32.const 0) (i32.const 32)))",
            1000,
        ),
        (
            "storage_has 32B",
            imp("storage_has", "(param i32 i32) (result i32)"),
            "(drop (call $h (i32.const 512) (i32.const 32)))",
            1000,
        ),
        (
            "storage_remove 32B",
            imp("storage_remove", "(param i32 i32) (result i32)"),
            "(drop (call $h (i32.const 0) (i32.const 32)))",
            1000,
        ),
        ("input 64B", imp("input", "(result i32)"), "(drop (call $h))", 1000),
        ("caller", imp("caller", "(param i32)"), "(call $h (i32.const 64))", 1000),
        (
            "block_height",
            imp("block_height", "(result i64)"),
            "(drop (call $h))",
            1000,
        ),
        ("gas_left", imp("gas_left", "(result i64)"), "(drop (call $h))", 1000),
        (
            "emit_event 8B + 64B",
            imp("emit_event", "(param i32 i32 i32 i32)"),
            "(call $h (i32.const 1300) (i32.const 8) (i32.const 64) (i32.const 64))",
            200,
        ),
        (
            "log 64B",
            imp("log", "(param i32 i32)"),
            "(call $h (i32.const 64) (i32.const 64))",
            200,
        ),
        (
            "blake3 1 KiB",
            imp("blake3", "(param i32 i32 i32)"),
            "(call $h (i32.const 2048) (i32.const 1024) (i32.const 64))",
            500,
        ),
        (
            "ed25519_verify 64B",
            imp("ed25519_verify", "(param i32 i32 i32 i32) (result i32)"),
            "(drop (call $h (i32.const 1024) (i32.const 1100) (i32.const 1200) (i32.const 64)))",
            50,
        ),
        (
            "value_return 64B",
            imp("value_return", "(param i32 i32)"),
            "(call $h (i32.const 64) (i32.const 64))",
            1000,
        ),
        (
            "promise_create 8B method, 64B args",
            imp("promise_create", "(param i32 i32 i32 i32 i32 i32 i64 i64) (result i32)"),
            "(drop (call $h (i32.const 512) (i32.const 1300) (i32.const 8) (i32.const 64) (i32.const 64) (i32.const 4000) (i64.const 0) (i64.const 0)))",
            60,
        ),
        (
            "transfer",
            imp("transfer", "(param i32 i32)"),
            "(call $h (i32.const 512) (i32.const 4000))",
            60,
        ),
        (
            "memory.fill 4 KiB",
            String::new(),
            "(memory.fill (i32.const 8192) (i32.const 1) (i32.const 4096))",
            1000,
        ),
        (
            "memory.copy 4 KiB",
            String::new(),
            "(memory.copy (i32.const 8192) (i32.const 16384) (i32.const 4096))",
            1000,
        ),
        (
            "wasm: 5 dependent i64 multiply-adds",
            String::new(),
            "(local.set $x (i64.add (i64.mul (local.get $x) (i64.const 7)) (i64.extend_i32_u (local.get $i)))) (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 7)) (i64.extend_i32_u (local.get $i)))) (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 7)) (i64.extend_i32_u (local.get $i)))) (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 7)) (i64.extend_i32_u (local.get $i)))) (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 7)) (i64.extend_i32_u (local.get $i))))",
            1000,
        ),
    ];
    for (name, import, body, n) in cases {
        let with = rt.load(&loop_module(&import, body, n, &data)).unwrap().code_hash;
        let without = rt.load(&loop_module(&import, "", n, &data)).unwrap().code_hash;
        let mut c = ctx("run", vec![0; 64]);
        c.balance = u128::MAX / 2;
        c.gas_limit = 1_000_000_000;
        let (t1, g1) = measure(&rt, &with, &c, &state);
        let (t0, g0) = measure(&rt, &without, &c, &state);
        rows.push(Row {
            counted: !(name.starts_with("memory.") || name.starts_with("wasm")),
            name: name.to_string(),
            gas: (g1 - g0) as f64 / f64::from(n),
            ns: ((t1 - t0) / f64::from(n)).max(0.01),
        });
    }

    // Plain wasm: the empty loop itself (a few operators per iteration), marginal over 1 iteration.
    let long = rt.load(&loop_module("", "", 100_000, &data)).unwrap().code_hash;
    let short = rt.load(&loop_module("", "", 1, &data)).unwrap().code_hash;
    let c = ctx("run", vec![]);
    let (t1, g1) = measure(&rt, &long, &c, &state);
    let (t0, g0) = measure(&rt, &short, &c, &state);
    rows.push(Row {
        counted: false,
        name: "wasm loop (store, add, compare, branch)".into(),
        gas: (g1 - g0) as f64 / 99_999.0,
        ns: (t1 - t0) / 99_999.0,
    });
    // Per-call base: instantiate and call an empty method.
    let (t, g) = measure(&rt, &short, &c, &state);
    rows.push(Row {
        counted: true,
        name: "call base (instantiate + empty call)".into(),
        gas: g as f64,
        ns: t,
    });

    // Memory growth: a call that grows its memory by 255 pages and writes one byte into every
    // 4 KiB of them (the page faults an attacker would ask for), against the same call growing by
    // none; marginal per page. A grown instance is never reused, so the cost of unmapping it is in
    // the call too.
    let grow = |initial: u32, pages: u32| {
        let src = format!(
            r#"(module
                (memory (export "memory") {initial})
                (func (export "run") (local $a i32)
                    (drop (memory.grow (i32.const {pages})))
                    (local.set $a (i32.const 0))
                    (block $done (loop $l
                        (br_if $done (i32.ge_u (local.get $a) (i32.mul (memory.size) (i32.const 65536))))
                        (i32.store8 (local.get $a) (i32.const 1))
                        (local.set $a (i32.add (local.get $a) (i32.const 4096)))
                        (br $l)))))"#
        );
        rt.load(&wat::parse_str(&src).unwrap()).unwrap().code_hash
    };
    let (grown, flat, big) = (grow(1, 255), grow(1, 0), grow(256, 0));
    let mut c = ctx("run", vec![]);
    c.gas_limit = 2_000_000_000;
    let (t1, g1) = measure(&rt, &grown, &c, &state);
    let (t0, g0) = measure(&rt, &flat, &c, &state);
    rows.push(Row {
        counted: true,
        name: "memory.grow, per 64 KiB page (written every 4 KiB)".into(),
        gas: (g1 - g0) as f64 / 255.0,
        ns: (t1 - t0) / 255.0,
    });
    // The same pages declared as initial memory instead of grown (charged at instantiation).
    let (t2, g2) = measure(&rt, &big, &c, &state);
    rows.push(Row {
        counted: false,
        name: "initial memory, per 64 KiB page (written every 4 KiB)".into(),
        gas: (g2 - g0) as f64 / 255.0,
        ns: (t2 - t0) / 255.0,
    });

    // Whole calls of the example contracts.
    let token = rt.load(tutti_examples::TOKEN).unwrap().code_hash;
    let token_state: Arc<dyn StateView> = Arc::new(token_state(&rt));
    let counter = rt.load(tutti_examples::COUNTER).unwrap().code_hash;
    let pp = rt.load(tutti_examples::PING_PONG).unwrap().code_hash;
    let empty: Arc<dyn StateView> = Arc::new(MapState::default());
    let examples: Vec<(&str, tutti_primitives::Hash, CallContext, &Arc<dyn StateView>)> = vec![
        (
            "token.transfer",
            token,
            ctx("transfer", (Address([2; 32]), 10u128).encode()),
            &token_state,
        ),
        (
            "token.balance_of",
            token,
            ctx("balance_of", (OWNER,).encode()),
            &token_state,
        ),
        (
            "token.approve",
            token,
            ctx("approve", (Address([2; 32]), 10u128).encode()),
            &token_state,
        ),
        ("counter.increment", counter, ctx("increment", (1u64,).encode()), &empty),
        (
            "ping_pong.ping (2 promises)",
            pp,
            ctx("ping", (Address([4; 32]), 1u64).encode()),
            &empty,
        ),
        ("ping_pong.pong", pp, ctx("pong", (1u64,).encode()), &empty),
    ];
    for (name, code, c, st) in examples {
        let (t, g) = measure(&rt, &code, &c, st);
        let attached = rt.execute(&code, c.clone(), st.clone()).unwrap().gas_attached;
        rows.push(Row {
            counted: true,
            name: format!("example {name}"),
            gas: (g - attached) as f64,
            ns: t,
        });
    }

    println!("| case | gas | ns | ns per 1000 gas | in spread |");
    println!("|---|---:|---:|---:|:---:|");
    let mut ratios = Vec::new();
    for r in &rows {
        let ratio = r.ns / r.gas * 1000.0;
        if r.counted {
            ratios.push(ratio);
        }
        let counted = if r.counted { "yes" } else { "info" };
        println!("| {} | {:.1} | {:.1} | {:.1} | {counted} |", r.name, r.gas, r.ns, ratio);
    }
    let max = ratios.iter().copied().fold(f64::MIN, f64::max);
    let min = ratios.iter().copied().fold(f64::MAX, f64::min);
    println!(
        "\nspread over host functions and example calls (max / min ns per gas): {:.2}x (goal: at most 2x)",
        max / min
    );
}
