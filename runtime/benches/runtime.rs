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
use wasmtime::{Caller, Engine, Linker, Module, Store};

mod common;
use common::*;

/// Host state of the bare baseline.
struct Bare {
    input: Vec<u8>,
    register: Vec<u8>,
    storage: Arc<HashMap<Vec<u8>, Vec<u8>>>,
    writes: HashMap<Vec<u8>, Vec<u8>>,
    events: Vec<(Vec<u8>, Vec<u8>)>,
    memory: Option<wasmtime::Memory>,
}

fn bare_linker(engine: &Engine) -> Linker<Bare> {
    type C<'a> = Caller<'a, Bare>;
    fn mem<'a>(c: &'a mut C<'_>) -> (&'a mut [u8], &'a mut Bare) {
        let m = c.data().memory.expect("memory");
        m.data_and_store_mut(c)
    }
    fn bytes(m: &[u8], p: i32, l: i32) -> Vec<u8> {
        m[p as usize..p as usize + l as usize].to_vec()
    }
    let mut l = Linker::new(engine);
    l.func_wrap("tutti_v1", "input", |mut c: C<'_>| {
        let i = c.data().input.clone();
        let n = i.len() as i32;
        c.data_mut().register = i;
        n
    })
    .unwrap();
    l.func_wrap("tutti_v1", "register_len", |c: C<'_>| c.data().register.len() as i32)
        .unwrap();
    l.func_wrap("tutti_v1", "register_read", |mut c: C<'_>, p: i32| {
        let (m, s) = mem(&mut c);
        m[p as usize..p as usize + s.register.len()].copy_from_slice(&s.register);
    })
    .unwrap();
    l.func_wrap("tutti_v1", "storage_read", |mut c: C<'_>, kp: i32, kl: i32| -> i64 {
        let (m, s) = mem(&mut c);
        let k = bytes(m, kp, kl);
        match s.writes.get(&k).or_else(|| s.storage.get(&k)).cloned() {
            Some(v) => {
                let n = v.len() as i64;
                s.register = v;
                n
            }
            None => -1,
        }
    })
    .unwrap();
    l.func_wrap(
        "tutti_v1",
        "storage_write",
        |mut c: C<'_>, kp: i32, kl: i32, vp: i32, vl: i32| -> i32 {
            let (m, s) = mem(&mut c);
            let (k, v) = (bytes(m, kp, kl), bytes(m, vp, vl));
            i32::from(s.writes.insert(k, v).is_some())
        },
    )
    .unwrap();
    l.func_wrap("tutti_v1", "storage_remove", |mut c: C<'_>, kp: i32, kl: i32| -> i32 {
        let (m, s) = mem(&mut c);
        let k = bytes(m, kp, kl);
        i32::from(s.writes.insert(k, Vec::new()).is_some())
    })
    .unwrap();
    l.func_wrap("tutti_v1", "caller", |mut c: C<'_>, p: i32| {
        let (m, _) = mem(&mut c);
        m[p as usize..p as usize + 32].copy_from_slice(&OWNER.0);
    })
    .unwrap();
    l.func_wrap("tutti_v1", "attached_value", |mut c: C<'_>, p: i32| {
        let (m, _) = mem(&mut c);
        m[p as usize..p as usize + 16].fill(0);
    })
    .unwrap();
    l.func_wrap(
        "tutti_v1",
        "emit_event",
        |mut c: C<'_>, np: i32, nl: i32, dp: i32, dl: i32| {
            let (m, s) = mem(&mut c);
            let e = (bytes(m, np, nl), bytes(m, dp, dl));
            s.events.push(e);
        },
    )
    .unwrap();
    l.func_wrap("tutti_v1", "value_return", |_: C<'_>, _: i32, _: i32| {})
        .unwrap();
    l
}

fn token_transfer(c: &mut Criterion) {
    let rt = runtime();
    let state = token_state(&rt);
    let h = rt.load(tutti_examples::TOKEN).unwrap().code_hash;
    let args = (Address([2; 32]), 10u128).encode();
    let shared: Arc<MapState> = Arc::new(state.clone());

    let bare_storage = Arc::new(state.0.into_iter().collect::<HashMap<_, _>>());
    let bare = |config: &wasmtime::Config| {
        let engine = Engine::new(config).unwrap();
        let module = Module::new(&engine, tutti_examples::TOKEN).unwrap();
        let mut linker = bare_linker(&engine);
        linker.define_unknown_imports_as_traps(&module).unwrap();
        let pre = linker.instantiate_pre(&module).unwrap();
        (engine, pre)
    };
    let mut pooled = wasmtime::Config::new();
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_memories(64)
        .total_tables(64)
        .total_core_instances(64)
        .max_memory_size(16 << 20);
    pool.linear_memory_keep_resident(256 * 1024)
        .table_keep_resident(64 * 1024);
    pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));

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
        ("bare_wasmtime_pooling", pooled),
    ] {
        let (engine, pre) = bare(&config);
        g.bench_function(name, |b| {
            b.iter(|| {
                let st = Bare {
                    input: args.clone(),
                    register: Vec::new(),
                    storage: bare_storage.clone(),
                    writes: HashMap::new(),
                    events: Vec::new(),
                    memory: None,
                };
                let mut store = Store::new(&engine, st);
                let inst = pre.instantiate(&mut store).unwrap();
                let m = inst.get_memory(&mut store, "memory").unwrap();
                store.data_mut().memory = Some(m);
                let f = inst.get_typed_func::<(), ()>(&mut store, "transfer").unwrap();
                f.call(&mut store, ()).unwrap();
                let st = store.into_data();
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
