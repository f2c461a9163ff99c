//! Hostile modules: each gets a clean, deterministic failure, and none may crash or hang the process.

use std::sync::Arc;

use tutti_primitives::{Address, FailureKind};
use tutti_runtime::{
    CallContext, CallOutcome, EmptyState, Runtime, RuntimeConfig, RuntimeError, ValidationError,
    instrument::STACK_LIMIT,
};

fn rt() -> Runtime {
    Runtime::new(RuntimeConfig::default()).unwrap()
}

fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("test module parses")
}

fn load_err(src: &str) -> ValidationError {
    match rt().load(&wasm(src)) {
        Err(RuntimeError::Invalid(e)) => e,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn run_with(rt: &Runtime, src: &str, method: &str, gas: u64) -> CallOutcome {
    let h = rt.load(&wasm(src)).expect("module loads").code_hash;
    let ctx = CallContext::new(Address([9; 32]), Address([1; 32]), method, vec![], gas);
    rt.execute(&h, ctx, Arc::new(EmptyState)).unwrap()
}

fn run(src: &str, gas: u64) -> CallOutcome {
    run_with(&rt(), src, "run", gas)
}

/// Runs twice on two fresh runtimes and checks both runs agree exactly.
fn run_twice(src: &str, gas: u64) -> CallOutcome {
    let a = run(src, gas);
    assert_eq!(a, run(src, gas), "two runs disagree");
    a
}

const GAS: u64 = 50_000_000;

#[test]
fn infinite_loop_runs_out_of_gas_using_the_whole_limit() {
    let out = run_twice(
        r#"(module (memory (export "memory") 1) (func (export "run") (loop br 0)))"#,
        GAS,
    );
    assert_eq!(out.failure_kind(), Some(FailureKind::OutOfGas));
    assert_eq!(out.gas_used, GAS);
}

/// Enough gas to grow the memory to its limit (each page costs `GasSchedule::memory_page`).
const GROW_GAS: u64 = 1_000_000_000;

#[test]
fn memory_growth_past_the_limit_fails() {
    let src = r#"(module (memory (export "memory") 1)
        (func (export "run") (loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))))"#;
    let out = run_twice(src, GROW_GAS);
    assert_eq!(out.failure_kind(), Some(FailureKind::MemoryLimit), "{:?}", out.result);
    // A single huge request fails the same way.
    let big = r#"(module (memory (export "memory") 1)
        (func (export "run") (drop (memory.grow (i32.const 60000)))))"#;
    assert_eq!(run(big, GROW_GAS).failure_kind(), Some(FailureKind::MemoryLimit));
}

#[test]
fn initial_memory_over_the_cap_is_rejected() {
    let e = load_err(r#"(module (memory (export "memory") 1000) (func (export "run")))"#);
    assert!(matches!(e, ValidationError::MemoryTooLarge { pages: 1000, .. }), "{e}");
}

#[test]
fn unbounded_recursion_is_a_deterministic_stack_overflow() {
    let small = r#"(module (memory (export "memory") 1) (func $f (export "run") (call $f)))"#;
    let out = run_twice(small, 1_000_000_000);
    assert_eq!(out.failure_kind(), Some(FailureKind::StackOverflow), "{:?}", out.result);
    assert!(out.result.unwrap_err().message.contains(&STACK_LIMIT.to_string()));

    // Large frames: 1000 i64 locals each, touched so the compiler keeps them.
    let mut locals = String::new();
    let mut touch = String::new();
    for i in 0..1000 {
        locals.push_str(" i64");
        touch.push_str(&format!("(local.set {i} (i64.const {i}))"));
    }
    let big =
        format!(r#"(module (memory (export "memory") 1) (func $f (export "run") (local{locals}) {touch} (call $f)))"#);
    let out = run_twice(&big, 1_000_000_000);
    assert_eq!(out.failure_kind(), Some(FailureKind::StackOverflow), "{:?}", out.result);
    assert!(
        !out.result.unwrap_err().message.contains("native"),
        "the deterministic limit must fire first"
    );

    // Deep operand stacks and indirect recursion through a table.
    let indirect = r#"(module (memory (export "memory") 1)
        (type $t (func))
        (table 1 funcref) (elem (i32.const 0) $f)
        (func $f (export "run") (call_indirect (type $t) (i32.const 0))))"#;
    let out = run_twice(indirect, 1_000_000_000);
    assert_eq!(out.failure_kind(), Some(FailureKind::StackOverflow), "{:?}", out.result);
}

#[test]
fn bounded_recursion_still_works() {
    // Depth 100 recursion returns normally and leaves the stack counter balanced.
    let src = r#"(module
        (import "tutti_v1" "value_return" (func $ret (param i32 i32)))
        (memory (export "memory") 1)
        (func $down (param i32) (result i32)
            (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
                (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1)))))))
        (func (export "run")
            (i32.store (i32.const 0) (call $down (i32.const 100)))
            (i32.store (i32.const 4) (call $down (i32.const 100)))
            (call $ret (i32.const 0) (i32.const 8))))"#;
    let out = run_twice(src, GAS);
    assert_eq!(out.result, Ok([100u32.to_le_bytes(), 100u32.to_le_bytes()].concat()));
}

#[test]
fn huge_modules_are_rejected_and_deep_nesting_is_bounded() {
    let mut big = wasm(r#"(module (memory (export "memory") 1) (func (export "run")))"#);
    // A custom section padding the module past the cap.
    let pad = 3 * 1024 * 1024;
    big.push(0);
    let mut len = Vec::new();
    let mut n = pad + 2;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            len.push(b);
            break;
        }
        len.push(b | 0x80);
    }
    big.extend_from_slice(&len);
    big.extend_from_slice(&[1, b'x']);
    big.extend(std::iter::repeat_n(0u8, pad));
    assert!(matches!(
        rt().load(&big),
        Err(RuntimeError::Invalid(ValidationError::TooLarge { .. }))
    ));

    // 40,000 nested blocks: within the body-size cap, so it must compile (deploy gas is per byte).
    let depth = 40_000;
    let nested = format!(
        r#"(module (memory (export "memory") 1) (func (export "run") {} {}))"#,
        "(block ".repeat(depth),
        ")".repeat(depth)
    );
    let rt = rt();
    let loaded = rt
        .load(&wasm(&nested))
        .expect("deeply nested but small module compiles");
    assert_eq!(loaded.deploy_gas, rt.schedule().deploy_cost(wasm(&nested).len()));
    assert!(run_with(&rt, &nested, "run", GAS).is_ok());

    // 200,000 nested blocks exceed the function-size cap.
    let deeper = format!(
        r#"(module (memory (export "memory") 1) (func (export "run") {} {}))"#,
        "(block ".repeat(200_000),
        ")".repeat(200_000)
    );
    let e = load_err(&deeper);
    assert!(
        matches!(
            e,
            ValidationError::OverLimit {
                what: "function body bytes",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn out_of_bounds_pointers_trap_cleanly() {
    for (name, call) in [
        (
            "storage_write",
            "(drop (call $w (i32.const -16) (i32.const 8) (i32.const 0) (i32.const 1)))",
        ),
        (
            "key past the end",
            "(drop (call $w (i32.const 65530) (i32.const 100) (i32.const 0) (i32.const 1)))",
        ),
        ("caller", "(call $c (i32.const 65520))"),
        (
            "overflowing length",
            "(drop (call $w (i32.const 10) (i32.const -1) (i32.const 0) (i32.const 1)))",
        ),
    ] {
        let src = format!(
            r#"(module
                (import "tutti_v1" "storage_write" (func $w (param i32 i32 i32 i32) (result i32)))
                (import "tutti_v1" "caller" (func $c (param i32)))
                (memory (export "memory") 1)
                (func (export "run") {call}))"#
        );
        let out = run_twice(&src, GAS);
        let kind = out.failure_kind();
        // A 4 GiB length is priced before it is checked, so it runs out of gas first.
        let ok = match name {
            "overflowing length" => kind == Some(FailureKind::OutOfGas) && out.gas_used == GAS,
            _ => kind == Some(FailureKind::Trap) && out.result.as_ref().unwrap_err().message.contains("out-of-bounds"),
        };
        assert!(ok, "{name}: {:?}", out.result);
    }
}

#[test]
fn start_functions_are_rejected() {
    let e = load_err(r#"(module (memory (export "memory") 1) (func $s) (start $s) (func (export "run")))"#);
    assert_eq!(e, ValidationError::StartFunction);
}

#[test]
fn unknown_imports_and_wrong_signatures_are_rejected() {
    let e = load_err(r#"(module (import "env" "abort" (func)) (memory (export "memory") 1) (func (export "run")))"#);
    assert!(
        matches!(&e, ValidationError::UnknownImport { module, name } if module == "env" && name == "abort"),
        "{e}"
    );
    let e =
        load_err(r#"(module (import "tutti_v1" "nope" (func)) (memory (export "memory") 1) (func (export "run")))"#);
    assert!(matches!(e, ValidationError::UnknownImport { .. }));
    let e = load_err(
        r#"(module (import "tutti_v1" "log" (func (param i64))) (memory (export "memory") 1) (func (export "run")))"#,
    );
    assert!(matches!(e, ValidationError::ImportSignature { .. }), "{e}");
    let e = load_err(r#"(module (import "tutti_v1" "memory" (memory 1)) (func (export "run")))"#);
    assert_eq!(e, ValidationError::ImportedMemory);
    let e =
        load_err(r#"(module (import "tutti_v1" "g" (global i32)) (memory (export "memory") 1) (func (export "run")))"#);
    assert!(matches!(e, ValidationError::UnknownImport { .. }));
}

#[test]
fn missing_or_bad_exports_are_rejected() {
    let e = load_err(r#"(module (memory 1) (func (export "run")))"#);
    assert!(matches!(e, ValidationError::MissingExport(_)), "{e}");
    let e = load_err(r#"(module (memory (export "memory") 1))"#);
    assert!(matches!(e, ValidationError::MissingExport(_)), "{e}");
    let e = load_err(r#"(module (func (export "run")))"#);
    assert_eq!(e, ValidationError::MemoryCount(0));
    let e = load_err(r#"(module (memory (export "memory") 1) (func (export "run") (param i32)))"#);
    assert_eq!(e, ValidationError::ExportSignature("run".into()));
    let e = load_err(r#"(module (memory (export "memory") 1) (func (export "__tutti_stack")))"#);
    assert!(matches!(e, ValidationError::ReservedExport(_)));
}

#[test]
fn disabled_features_are_rejected() {
    for (what, src) in [
        (
            "simd",
            r#"(module (memory (export "memory") 1) (func (export "run") (drop (v128.const i64x2 0 0))))"#,
        ),
        (
            "memory64",
            r#"(module (memory (export "memory") i64 1) (func (export "run")))"#,
        ),
        (
            "multi-memory",
            r#"(module (memory (export "memory") 1) (memory 1) (func (export "run")))"#,
        ),
        (
            "threads",
            r#"(module (memory (export "memory") 1 1 shared) (func (export "run")))"#,
        ),
        (
            "tail calls",
            r#"(module (memory (export "memory") 1) (func $f (export "run") (return_call $f)))"#,
        ),
    ] {
        let e = load_err(src);
        assert!(
            matches!(e, ValidationError::Malformed(_) | ValidationError::MemoryCount(_)),
            "{what}: {e}"
        );
    }
}

#[test]
fn floats_are_allowed_and_nans_are_canonical() {
    // 0/0 produces a NaN whose bits differ between CPUs without canonicalization.
    let src = r#"(module
        (import "tutti_v1" "value_return" (func $ret (param i32 i32)))
        (memory (export "memory") 1)
        (func (export "run")
            (f32.store (i32.const 0) (f32.div (f32.const 0) (f32.const 0)))
            (f64.store (i32.const 4) (f64.sqrt (f64.const -1)))
            (call $ret (i32.const 0) (i32.const 12))))"#;
    let out = run_twice(src, GAS);
    let bytes = out.result.unwrap();
    assert_eq!(u32::from_le_bytes(bytes[0..4].try_into().unwrap()), 0x7fc0_0000);
    assert_eq!(
        u64::from_le_bytes(bytes[4..12].try_into().unwrap()),
        0x7ff8_0000_0000_0000
    );
}

#[test]
fn panics_and_host_errors_carry_messages() {
    let src = r#"(module
        (import "tutti_v1" "panic" (func $p (param i32 i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "boom: bad input")
        (func (export "run") (call $p (i32.const 0) (i32.const 15))))"#;
    let out = run_twice(src, GAS);
    let f = out.result.unwrap_err();
    assert_eq!((f.kind, f.message.as_str()), (FailureKind::Panic, "boom: bad input"));

    let oversize_key = r#"(module
        (import "tutti_v1" "storage_write" (func $w (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 2)
        (func (export "run") (drop (call $w (i32.const 0) (i32.const 70000) (i32.const 0) (i32.const 1)))))"#;
    let f = run(oversize_key, GAS).result.unwrap_err();
    assert_eq!(f.kind, FailureKind::HostError);
    assert!(f.message.contains("storage key"), "{}", f.message);

    let bad_promise = r#"(module
        (import "tutti_v1" "promise_then" (func $t (param i32 i32 i32 i32 i32 i32 i64 i64) (result i32)))
        (memory (export "memory") 1)
        (func (export "run") (drop (call $t (i32.const 7) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0) (i64.const 0) (i64.const 0)))))"#;
    let f = run(bad_promise, GAS).result.unwrap_err();
    assert!(f.message.contains("promise index 7 does not exist"), "{}", f.message);
}

#[test]
fn gas_attached_to_promises_cannot_exceed_the_limit() {
    let src = r#"(module
        (import "tutti_v1" "promise_create" (func $c (param i32 i32 i32 i32 i32 i32 i64 i64) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 100) "m")
        (func (export "run") (drop (call $c (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 200) (i64.const -1) (i64.const 0)))))"#;
    let out = run_twice(src, GAS);
    assert_eq!(out.failure_kind(), Some(FailureKind::OutOfGas));
    assert_eq!(out.gas_used, GAS);
}

#[test]
fn every_host_function_in_the_table_is_provided() {
    // A module importing every host function with the table's signature must load.
    let ty = |t: &wasmparser::ValType| t.to_string();
    let mut imports = String::new();
    for (i, f) in tutti_runtime::host::HOST_FUNCTIONS.iter().enumerate() {
        let params: Vec<_> = f.params.iter().map(ty).collect();
        let results: Vec<_> = f.results.iter().map(ty).collect();
        imports.push_str(&format!(
            "(import \"tutti_v1\" \"{}\" (func $f{i} (param {}) (result {})))\n",
            f.name,
            params.join(" "),
            results.join(" ")
        ));
    }
    let src = format!(r#"(module {imports} (memory (export "memory") 1) (func (export "run")))"#);
    assert!(run(&src, GAS).is_ok());
}

#[test]
fn recursion_gas_is_pinned() {
    // Gas depends only on the instrumentation and wasmtime's per-operator fuel, never on the
    // machine; a change here means every node must upgrade together.
    let small = r#"(module (memory (export "memory") 1) (func $f (export "run") (call $f)))"#;
    let out = run(small, 1_000_000_000);
    assert_eq!(out.failure_kind(), Some(FailureKind::StackOverflow));
    assert_eq!(out.gas_used, PINNED_RECURSION_GAS, "recursion gas changed");
}

/// 84,000 (call base + 1 page) + 4,096 frames (16,384 slots / 4 per frame) x 10 instrumentation
/// operators + 9. Changes with the gas schedule or the instrumentation, by design.
const PINNED_RECURSION_GAS: u64 = 124_969;

/// A module's ABI section is optional; a malformed, duplicated or oversize one is refused at
/// upload with the rule it breaks, and the module without it still loads.
#[test]
fn a_bad_abi_section_is_refused_and_none_is_fine() {
    let token = tutti_examples::TOKEN;
    rt().load(token).expect("the token with its ABI loads");
    let abi = tutti_abi::read(token).unwrap().expect("the token carries its ABI");
    let refused = |wasm: &[u8]| match rt().load(wasm) {
        Err(RuntimeError::Invalid(ValidationError::Abi(m))) => m,
        other => panic!("expected an ABI error, got {other:?}"),
    };
    assert!(refused(&tutti_abi::embed(token, &abi)).contains("appears twice"));
    // A section of garbage, appended by hand.
    let section = |payload: &[u8]| {
        let name = tutti_abi::SECTION.as_bytes();
        let mut body = vec![name.len() as u8];
        body.extend_from_slice(name);
        body.extend_from_slice(payload);
        let mut out = wasm(r#"(module (memory (export "memory") 1) (func (export "m")))"#);
        out.push(0);
        let mut n = body.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { b } else { b | 0x80 });
            if n == 0 {
                break;
            }
        }
        out.extend_from_slice(&body);
        out
    };
    assert!(refused(&section(b"not json")).contains("not valid ABI JSON"));
    assert!(refused(&section(&vec![b' '; tutti_abi::MAX_ABI_BYTES + 1])).contains("over the limit"));
    rt().load(&wasm(r#"(module (memory (export "memory") 1) (func (export "m")))"#))
        .expect("no ABI at all is fine");
}

/// Nested joins that name one promise over and over (64 copies, then 64 copies of that join, four
/// levels deep) stay one member: the callback waits for one result, the call's receipts stay few,
/// and the cost is bounded. Before joins were deduplicated, this built 2^24 members (2^30 with
/// five levels) and one receipt per repeat.
#[test]
fn nested_joins_of_one_promise_stay_one_member() {
    let src = r#"(module
        (import "tutti_v1" "promise_create" (func $create (param i32 i32 i32 i32 i32 i32 i64 i64) (result i32)))
        (import "tutti_v1" "promise_and" (func $and (param i32 i32) (result i32)))
        (import "tutti_v1" "promise_then" (func $then (param i32 i32 i32 i32 i32 i32 i64 i64) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 64) "m")
        (func (export "run") (local $p i32) (local $i i32) (local $level i32)
            (local.set $p (call $create (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 0) (i32.const 0)
                (i32.const 96) (i64.const 0) (i64.const 1)))
            (loop $levels
                (local.set $i (i32.const 0))
                (loop $fill
                    (i32.store (i32.add (i32.const 256) (i32.shl (local.get $i) (i32.const 2))) (local.get $p))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $fill (i32.lt_u (local.get $i) (i32.const 64))))
                (local.set $p (call $and (i32.const 256) (i32.const 64)))
                (local.set $level (i32.add (local.get $level) (i32.const 1)))
                (br_if $levels (i32.lt_u (local.get $level) (i32.const 4))))
            (drop (call $then (local.get $p) (i32.const 64) (i32.const 1) (i32.const 0) (i32.const 0)
                (i32.const 96) (i64.const 0) (i64.const 1)))))"#;
    let out = run_twice(src, GAS);
    assert!(out.result.is_ok(), "{:?}", out.result);
    let ids: usize = out
        .receipts
        .iter()
        .map(|r| match &r.body {
            tutti_primitives::ReceiptBody::Call {
                input_data_ids,
                output_data_receivers,
                ..
            } => input_data_ids.len() + output_data_receivers.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(out.receipts.len(), 2, "the call and its callback");
    assert_eq!(ids, 2, "one data id each way: the callback waits for one result");
    // What the call burnt itself (the rest of the limit is attached to the promises).
    let burnt = out.gas_used - out.gas_attached;
    assert!(burnt < 1_000_000, "bounded cost: {burnt}");

    // Joins past the handle cap are refused with a clear message.
    let many = r#"(module
        (import "tutti_v1" "promise_create" (func $create (param i32 i32 i32 i32 i32 i32 i64 i64) (result i32)))
        (import "tutti_v1" "promise_and" (func $and (param i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 64) "m")
        (func (export "run") (local $p i32)
            (local.set $p (call $create (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 0) (i32.const 0)
                (i32.const 96) (i64.const 0) (i64.const 1)))
            (i32.store (i32.const 256) (local.get $p))
            (loop $again
                (drop (call $and (i32.const 256) (i32.const 1)))
                (br $again))))"#;
    let out = run_twice(many, GAS);
    let failure = out.result.unwrap_err();
    assert!(
        failure.message.contains("promises and joins in one call"),
        "{}",
        failure.message
    );
}

/// A call whose promises would make more than `caps::MAX_OUTGOING_BYTES` of receipts traps at
/// the promise that passes it; below it, the receipts take no more than the count says.
#[test]
fn the_receipts_one_call_makes_are_bounded_in_bytes() {
    use tutti_primitives::codec::Encode;
    use tutti_runtime::host::caps;
    // `run` makes promises with the largest arguments (256 KiB) until one is refused; `three`
    // makes three.
    let src = |count: &str| {
        format!(
            r#"(module
        (import "tutti_v1" "promise_create" (func $create (param i32 i32 i32 i32 i32 i32 i64 i64) (result i32)))
        (memory (export "memory") 6)
        (data (i32.const 64) "m")
        (func (export "run") (local $i i32)
            (loop $more
                (drop (call $create (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 65536) (i32.const {args})
                    (i32.const 96) (i64.const 0) (i64.const 1)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br_if $more (i32.lt_u (local.get $i) (i32.const {count}))))))"#,
            args = caps::MAX_ARGS
        )
    };
    let out = run_twice(&src("1000"), GAS);
    let failure = out.result.unwrap_err();
    assert_eq!(failure.kind, FailureKind::HostError);
    assert!(failure.message.contains("bytes of receipts"), "{}", failure.message);
    assert!(out.receipts.is_empty(), "a failed call sends nothing");

    let out = run_twice(&src("3"), GAS);
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(out.receipts.len(), 3);
    let bytes: usize = out.receipts.iter().map(|r| r.encoded_size()).sum();
    let counted = 3 * (1 + caps::MAX_ARGS + caps::RECEIPT_BYTES);
    assert!(bytes <= counted, "{bytes} bytes of receipts, counted {counted}");
    assert!(counted <= caps::MAX_OUTGOING_BYTES);
}

/// When every instance slot is taken by calls running at once, another call gets no outcome (a
/// failure recorded for it would depend on what else the node was doing, so nodes would
/// disagree): `execute` says the runtime is exhausted, and the call runs once a slot frees.
#[test]
fn a_full_instance_pool_is_the_nodes_fault_never_the_calls() {
    let rt = Arc::new(
        Runtime::new(RuntimeConfig {
            max_concurrent_calls: 1,
            reuse_instances: false,
            ..RuntimeConfig::default()
        })
        .unwrap(),
    );
    let spin = rt
        .load(&wasm(
            r#"(module (memory (export "memory") 1) (func (export "run") (loop br 0)))"#,
        ))
        .unwrap()
        .code_hash;
    let quick = rt
        .load(&wasm(r#"(module (memory (export "memory") 1) (func (export "run")))"#))
        .unwrap()
        .code_hash;
    let ctx = |gas| CallContext::new(Address([9; 32]), Address([1; 32]), "run", vec![], gas);
    let holder = {
        let rt = rt.clone();
        std::thread::spawn(move || {
            loop {
                match rt.execute(&spin, ctx(3_000_000_000), Arc::new(EmptyState)) {
                    Err(RuntimeError::Exhausted(_)) => continue,
                    other => return other.unwrap(),
                }
            }
        })
    };
    let mut exhausted = 0;
    while !holder.is_finished() {
        match rt.execute(&quick, ctx(GAS), Arc::new(EmptyState)) {
            Ok(out) => assert!(out.result.is_ok(), "a call got the pool's failure: {:?}", out.result),
            Err(RuntimeError::Exhausted(_)) => exhausted += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(holder.join().unwrap().failure_kind(), Some(FailureKind::OutOfGas));
    assert!(exhausted > 0, "the spinning call held the only slot for a while");
    // The slot is free again: the call runs.
    assert!(
        rt.execute(&quick, ctx(GAS), Arc::new(EmptyState))
            .unwrap()
            .result
            .is_ok()
    );
}

/// A call that attaches gas to a promise and then fails: the promise is dropped, so the gas
/// attached to it was never spent and is not charged (the caller's refund returns it).
#[test]
fn a_failed_call_is_not_charged_the_gas_attached_to_its_dropped_promises() {
    let src = r#"(module
        (import "tutti_v1" "promise_create" (func $c (param i32 i32 i32 i32 i32 i32 i64 i64) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 100) "m")
        (func (export "run")
            (drop (call $c (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 200)
                (i64.const 5000000) (i64.const 0)))
            unreachable))"#;
    let out = run_twice(src, GAS);
    assert_eq!(out.failure_kind(), Some(FailureKind::Trap));
    assert_eq!(out.gas_attached, 0);
    assert!(out.receipts.is_empty());
    assert!(
        out.gas_used < 1_000_000,
        "charged {} gas for a call that ran a few instructions",
        out.gas_used
    );
}

/// Growing memory is charged per page before the memory grows, at the price a page costs the
/// node (`GasSchedule::memory_page`, calibrated by `cargo bench -p tutti-runtime --bench
/// calibrate`); wasmtime's own per-page fuel is at most 255, so 255 pages (16 MiB mapped,
/// zeroed and faulted in) cost about 65k gas before.
#[test]
fn memory_growth_is_charged_per_page_before_it_happens() {
    let page = tutti_primitives::gas::GasSchedule::default().memory_page;
    let src = r#"(module (memory (export "memory") 1)
        (func (export "run") (drop (memory.grow (i32.const 255)))))"#;
    let out = run_twice(src, GROW_GAS);
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert!(out.gas_used >= 255 * page, "255 pages cost {} gas", out.gas_used);
    // Without the gas for the pages, the call fails before the memory grows.
    let short = run_twice(src, 255 * page / 2);
    assert_eq!(short.failure_kind(), Some(FailureKind::OutOfGas));
    // A request past the limit is charged only the room left, then fails as MemoryLimit.
    let big = r#"(module (memory (export "memory") 1)
        (func (export "run") (drop (memory.grow (i32.const 60000)))))"#;
    assert_eq!(run(big, GROW_GAS).failure_kind(), Some(FailureKind::MemoryLimit));
}

/// The charge is a host import the instrumentation adds after the module's own: calls, tables,
/// exports and other imports still reach the functions they named.
#[test]
fn the_grow_charge_keeps_every_function_index_right() {
    let src = r#"(module
        (import "tutti_v1" "block_height" (func $h (result i64)))
        (type $t (func (result i32)))
        (memory (export "memory") 1)
        (table 1 funcref)
        (elem (i32.const 0) $g)
        (func $g (result i32) (i32.const 7))
        (func (export "run")
            (drop (call $h))
            (drop (memory.grow (i32.const 2)))
            (if (i32.ne (call_indirect (type $t) (i32.const 0)) (i32.const 7)) (then unreachable))
            (if (i32.ne (call $g) (i32.const 7)) (then unreachable))
            (if (i32.ne (memory.size) (i32.const 3)) (then unreachable))))"#;
    let out = run_twice(src, GAS);
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert!(out.gas_used >= 2 * tutti_primitives::gas::GasSchedule::default().memory_page);
}
