//! Criterion benchmarks of the runtime (numbers in BENCHMARKS.md):
//! - `token_transfer`: one token transfer from cached code in the runtime (instantiate + call +
//!   storage overlay + outcome) against the same wasm on bare wasmtime (no fuel, no
//!   instrumentation, minimal host functions over a map), both with wasmtime's default allocator
//!   and with the same pooling allocator settings as the runtime, measured side by side.
//! - `throughput`: 1,000 token transfers to different receivers, state applied between calls,
//!   on one core (no signatures, no state commitment).
//! - `compile`: validate + instrument + compile 10 / 100 / 1000 KiB modules.

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::{collections::HashMap, hint::black_box, sync::Arc};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tutti_primitives::{Address, codec::Encode};

mod common;
use common::{bare, *};

fn token_transfer(c: &mut Criterion) {
    let rt = runtime();
    let state = token_state(&rt);
    let h = rt.load(tutti_examples::TOKEN).unwrap().code_hash;
    let args = (Address([2; 32]), 10u128).encode();
    let shared: Arc<MapState> = Arc::new(state.clone());

    let bare_storage = Arc::new(state.0.into_iter().collect::<HashMap<_, _>>());

    let mut g = c.benchmark_group("token_transfer");
    g.bench_function("tutti_runtime", |b| {
        b.iter(|| {
            let out = rt.execute(&h, ctx("transfer", args.clone()), shared.clone()).unwrap();
            debug_assert!(out.is_ok());
            black_box(out)
        })
    });
    for (name, config) in [
        ("bare_wasmtime_default", wasmtime::Config::new()),
        ("bare_wasmtime_pooling", bare::pooled_config(64)),
    ] {
        let bare = bare::BareWasmtime::new(&config, tutti_examples::TOKEN);
        g.bench_function(name, |b| {
            b.iter(|| {
                let st = bare.call("transfer", bare::Bare::new(args.clone(), bare_storage.clone(), OWNER.0));
                debug_assert_eq!(st.events.len(), 1);
                black_box((st.writes, st.events))
            })
        });
    }
    g.finish();
}

fn throughput(c: &mut Criterion) {
    let rt = runtime();
    let h = rt.load(tutti_examples::TOKEN).unwrap().code_hash;
    let base = token_state(&rt);
    const N: u64 = 1_000;
    let mut g = c.benchmark_group("throughput");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("token_transfers_1000", |b| {
        b.iter(|| {
            let mut st = Arc::new(base.clone());
            for i in 0..N {
                let mut to = [3u8; 32];
                to[..8].copy_from_slice(&i.to_le_bytes());
                let out = rt
                    .execute(&h, ctx("transfer", (Address(to), 1u128).encode()), st.clone())
                    .unwrap();
                assert!(out.is_ok());
                Arc::get_mut(&mut st).expect("no call holds the state").apply(&out);
            }
            black_box(st)
        })
    });
    g.finish();
}

/// A valid module of about `kib` KiB: many exported-free functions of straight-line arithmetic.
pub fn module_of_size(kib: usize) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction as I, MemorySection, MemoryType,
        TypeSection, ValType,
    };
    let target = kib * 1024;
    let mut body = Function::new(vec![(1, ValType::I32)]);
    for k in 0..60 {
        body.instruction(&I::LocalGet(0));
        body.instruction(&I::I32Const(k * 7919));
        body.instruction(&I::I32Add);
        body.instruction(&I::LocalGet(1));
        body.instruction(&I::I32Xor);
        body.instruction(&I::LocalSet(1));
    }
    body.instruction(&I::LocalGet(1));
    body.instruction(&I::End);
    let body_len = body.byte_len();
    let n = (target / (body_len + 2)).max(1) as u32;
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32], [ValType::I32]);
    types.ty().function([], []);
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    for _ in 0..n {
        funcs.function(0);
        code.function(&body);
    }
    funcs.function(1);
    let mut run = Function::new(vec![]);
    run.instruction(&I::End);
    code.function(&run);
    let mut mem = MemorySection::new();
    mem.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("run", ExportKind::Func, n);
    let mut m = wasm_encoder::Module::new();
    m.section(&types)
        .section(&funcs)
        .section(&mem)
        .section(&exports)
        .section(&code);
    m.finish()
}

fn compile(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    for kib in [10usize, 100, 1000] {
        let wasm = module_of_size(kib);
        g.throughput(Throughput::Bytes(wasm.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(format!("{kib}KiB")), &wasm, |b, wasm| {
            b.iter(|| {
                rt.clear_cache();
                black_box(rt.load(wasm).unwrap())
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = token_transfer, throughput, compile
}
criterion_main!(benches);
