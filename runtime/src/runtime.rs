//! The runtime: a deterministic wasmtime engine, the compiled-code cache, and call execution.

use std::{
    collections::{BTreeSet, HashMap},
    hash::{Hash as _, Hasher},
    sync::{
        Arc, Mutex, OnceLock, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use tutti_primitives::{CallFailure, FailureKind, Gas, Hash, Receipt, ReceiptBody, tags};
use wasmtime::{
    Config, Engine, Global, Instance, InstanceAllocationStrategy, InstancePre, Linker, Memory, PoolingAllocationConfig,
    Store, Trap, Val,
};

use crate::{
    gas::GasSchedule,
    host::{self, Abort, HostState, Pending},
    instrument::{self, STACK_GLOBAL_EXPORT, STACK_LIMIT},
    outcome::{CallContext, CallOutcome, StateChange, StateView},
    validate::{self, Limits, ValidationError},
};

/// Errors of the runtime itself (not of a contract call, which always yields a [`CallOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The module broke a validation rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// wasmtime refused the (validated, instrumented) module; a bug or a resource limit.
    #[error("compilation failed: {0}")]
    Compile(String),
    /// The engine could not be configured.
    #[error("engine setup failed: {0}")]
    Engine(String),
    /// `execute` was given a code hash that was never loaded.
    #[error("no compiled code for hash {0}: deploy or load the code first")]
    UnknownCode(Hash),
    /// No instance could be made for the call: every pool slot is taken by other calls running
    /// at once, or the machine refused memory. A fault of the node, never the call's outcome
    /// (that would depend on what else the node is doing): retry when calls finish.
    #[error("no instance for the call: {0}")]
    Exhausted(String),
}

/// Result alias of the runtime.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// A call that could not start, given back ([`Runtime::try_execute`]): no instance could be
/// made for it, or its code is not (or no longer) in the cache.
#[derive(Debug)]
pub struct Busy {
    /// The call.
    pub ctx: Box<CallContext>,
    /// Why (the pool's or the system's words).
    pub reason: String,
    /// The code is not in the cache (load it and try again).
    pub not_loaded: bool,
}

/// Runtime settings.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Module limits checked at upload and enforced at run time.
    pub limits: Limits,
    /// Prices.
    pub schedule: GasSchedule,
    /// Most calls executing at once (pooling allocator slots).
    pub max_concurrent_calls: u32,
    /// Reuse a contract's instance for its next call after restoring what a call can change
    /// (memory, mutable globals; see [`Runtime::execute`]) instead of instantiating afresh. The
    /// outcome is the same either way (tested); reuse skips instance setup and teardown.
    pub reuse_instances: bool,
    /// Most bytes of code the compiled-code cache keeps, counted as the instrumented wasm of
    /// each module (its machine code is a few times that). Past it the least recently used
    /// modules are dropped; they are compiled again from state when called (outcomes do not
    /// depend on the cache).
    pub max_cached_code_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            limits: Limits::default(),
            schedule: GasSchedule::default(),
            max_concurrent_calls: 64,
            reuse_instances: true,
            max_cached_code_bytes: 256 << 20,
        }
    }
}

/// Code that has been validated, instrumented and compiled.
struct Prepared {
    pre: InstancePre<HostState>,
    methods: BTreeSet<String>,
    initial_pages: u64,
    /// Export names of the mutable globals (the stack-height global included), when instances
    /// of this code may be reused; `None` when the code changes tables or segments.
    reset_globals: Option<Vec<String>>,
    /// A fresh instance's memory and mutable globals, taken from the first instance before its
    /// call: what a reused instance is put back to.
    initial: OnceLock<InitialState>,
    /// What it counts against [`RuntimeConfig::max_cached_code_bytes`].
    bytes: usize,
    /// When it was last used ([`Runtime`]'s use counter): the eviction order.
    last_used: AtomicU64,
}

/// The state of a freshly instantiated module that a call can change.
struct InitialState {
    /// Size of the fresh memory in bytes.
    memory_len: usize,
    /// Its non-zero runs (offset, bytes): the data segments as placed. Everything else is zero.
    runs: Vec<(usize, Box<[u8]>)>,
    globals: Vec<Val>,
}

impl InitialState {
    /// Granule of the non-zero runs (runs closer than this are merged).
    const STEP: usize = 64;

    fn new(memory: &[u8], globals: Vec<Val>) -> Self {
        let mut runs: Vec<(usize, Vec<u8>)> = Vec::new();
        for (i, chunk) in memory.chunks(Self::STEP).enumerate() {
            if chunk.iter().all(|&b| b == 0) {
                continue;
            }
            let at = i * Self::STEP;
            match runs.last_mut() {
                Some((start, bytes)) if *start + bytes.len() == at => bytes.extend_from_slice(chunk),
                _ => runs.push((at, chunk.to_vec())),
            }
        }
        InitialState {
            memory_len: memory.len(),
            runs: runs.into_iter().map(|(at, b)| (at, b.into_boxed_slice())).collect(),
            globals,
        }
    }

    /// Puts `memory` (of `memory_len` bytes) back to this content: one `memset` and the data
    /// runs. (Copying a whole saved image reads as much again, about twice the time; comparing
    /// pages first to skip the untouched ones was slower still: measured in BENCHMARKS.md.)
    fn restore(&self, memory: &mut [u8]) {
        memory.fill(0);
        for (at, bytes) in &self.runs {
            memory[*at..*at + bytes.len()].copy_from_slice(bytes);
        }
    }
}

/// An instance parked between calls, already put back to its initial state.
struct Warm {
    store: Store<HostState>,
    instance: Instance,
    memory: Memory,
    globals: Vec<Global>,
    uses: u32,
}

/// Calls one reused instance serves before it is dropped (bounds anything a store accumulates).
const MAX_USES: u32 = 4096;
/// Parked instances per code.
const WARM_PER_CODE: usize = 4;

/// What loading code produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedCode {
    /// `blake3("tutti/code/v1" || wasm)`: how the chain and the cache name the code.
    pub code_hash: Hash,
    /// Gas to charge for deploying it (linear in its size).
    pub deploy_gas: Gas,
    /// Exported methods.
    pub methods: BTreeSet<String>,
}

/// The contract runtime. Cheap to share across threads (`&self` everywhere).
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: RwLock<HashMap<(Hash, u64), Arc<Prepared>>>,
    /// Bytes the cache holds, and its bound.
    cached_bytes: Mutex<usize>,
    max_cached_bytes: usize,
    /// Counts cache uses (the recency of each entry).
    uses: AtomicU64,
    compat: u64,
    schedule: Arc<GasSchedule>,
    limits: Limits,
    /// Parked instances by code hash (empty when reuse is off).
    warm: Mutex<HashMap<Hash, Vec<Warm>>>,
    /// Most instances parked at once; the pool has this many slots on top of the calls'. Zero
    /// when reuse is off.
    max_warm: usize,
}

/// Native stack wasm may use; the deterministic limit (see [`instrument`]) fires long before.
const MAX_WASM_STACK: usize = 1024 * 1024;

/// The hash that names a piece of code.
pub fn code_hash(wasm: &[u8]) -> Hash {
    tutti_primitives::tagged_hash(tags::CODE, wasm)
}

impl Runtime {
    /// Builds the engine with the deterministic configuration.
    pub fn new(config: RuntimeConfig) -> Result<Self> {
        let mut c = Config::new();
        c.consume_fuel(true)
            .operator_cost(crate::gas::operator_cost(&config.schedule))
            .cranelift_nan_canonicalization(true)
            .wasm_simd(false)
            .wasm_relaxed_simd(false)
            .wasm_memory64(false)
            .wasm_multi_memory(false)
            .wasm_tail_call(false)
            .wasm_custom_page_sizes(false)
            .wasm_wide_arithmetic(false)
            .wasm_bulk_memory(true)
            .wasm_multi_value(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .native_unwind_info(false)
            .wasm_backtrace_max_frames(None);
        let max_memory = (config.limits.max_memory_pages as usize) * 65536;
        let max_warm = if config.reuse_instances {
            (config.max_concurrent_calls / 2).max(1)
        } else {
            0
        };
        let slots = config.max_concurrent_calls + max_warm;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_memories(slots)
            .total_tables(slots)
            .total_core_instances(slots)
            .max_memory_size(max_memory)
            .table_elements(config.limits.max_table_elements as usize)
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            // Reset small memories and tables with memset instead of madvise: most calls touch
            // only a few pages, and this roughly halves instantiation time.
            .linear_memory_keep_resident(256 * 1024)
            .table_keep_resident(64 * 1024);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&c).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        host::define(&mut linker).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let compat = h.finish();
        Ok(Runtime {
            engine,
            linker,
            cache: RwLock::new(HashMap::new()),
            cached_bytes: Mutex::new(0),
            max_cached_bytes: config.max_cached_code_bytes,
            uses: AtomicU64::new(0),
            compat,
            schedule: Arc::new(config.schedule),
            limits: config.limits,
            warm: Mutex::new(HashMap::new()),
            max_warm: max_warm as usize,
        })
    }

    /// The gas schedule in force.
    pub fn schedule(&self) -> &GasSchedule {
        &self.schedule
    }

    /// The module limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validates `wasm` without compiling it.
    pub fn check(&self, wasm: &[u8]) -> Result<BTreeSet<String>, ValidationError> {
        Ok(validate::validate(wasm, &self.limits)?.methods)
    }

    /// Validates, instruments and compiles `wasm`, and caches it under its code hash (keyed together
    /// with the engine's compatibility hash). Loading code that is already cached is cheap.
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedCode> {
        let hash = code_hash(wasm);
        let deploy_gas = self.schedule.deploy_cost(wasm.len());
        if let Some(p) = self.cached(&hash) {
            return Ok(LoadedCode {
                code_hash: hash,
                deploy_gas,
                methods: p.methods.clone(),
            });
        }
        let info = validate::validate(wasm, &self.limits)?;
        let instrumented = instrument::instrument(wasm, &info).map_err(RuntimeError::Compile)?;
        let module =
            wasmtime::Module::new(&self.engine, &instrumented).map_err(|e| RuntimeError::Compile(e.to_string()))?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| RuntimeError::Compile(e.to_string()))?;
        let reset_globals = (!info.mutates_tables_or_segments).then(|| {
            let mut names: Vec<String> = info
                .mutable_globals
                .iter()
                .map(|&g| instrument::global_export(g))
                .collect();
            names.push(STACK_GLOBAL_EXPORT.to_string());
            names
        });
        let prepared = Arc::new(Prepared {
            pre,
            methods: info.methods.clone(),
            initial_pages: info.initial_pages,
            reset_globals,
            initial: OnceLock::new(),
            bytes: instrumented.len(),
            last_used: AtomicU64::new(self.uses.fetch_add(1, Ordering::Relaxed)),
        });
        self.insert_cached(hash, prepared);
        Ok(LoadedCode {
            code_hash: hash,
            deploy_gas,
            methods: info.methods,
        })
    }

    /// Caches a compiled module, dropping the least recently used ones while the cache holds
    /// more than its bound (never the new one).
    fn insert_cached(&self, hash: Hash, prepared: Arc<Prepared>) {
        let mut cache = self.cache.write().expect("code cache lock poisoned");
        let mut bytes = self.cached_bytes.lock().expect("code cache lock poisoned");
        *bytes += prepared.bytes;
        if let Some(old) = cache.insert((hash, self.compat), prepared) {
            *bytes -= old.bytes;
        }
        if *bytes <= self.max_cached_bytes {
            return;
        }
        let mut by_age: Vec<((Hash, u64), u64, usize)> = cache
            .iter()
            .filter(|(k, _)| k.0 != hash)
            .map(|(k, p)| (*k, p.last_used.load(Ordering::Relaxed), p.bytes))
            .collect();
        by_age.sort_by_key(|(_, used, _)| *used);
        let mut dropped = Vec::new();
        for (key, _, size) in by_age {
            if *bytes <= self.max_cached_bytes {
                break;
            }
            cache.remove(&key);
            *bytes -= size;
            dropped.push(key.0);
        }
        drop((cache, bytes));
        let mut warm = self.warm.lock().expect("instance pool lock poisoned");
        for h in dropped {
            warm.remove(&h);
        }
    }

    /// Bytes of code the compiled-code cache holds ([`RuntimeConfig::max_cached_code_bytes`]).
    pub fn cached_code_bytes(&self) -> usize {
        *self.cached_bytes.lock().expect("code cache lock poisoned")
    }

    /// Drops every compiled module from the cache (they are recompiled on the next `load`).
    pub fn clear_cache(&self) {
        self.cache.write().expect("code cache lock poisoned").clear();
        *self.cached_bytes.lock().expect("code cache lock poisoned") = 0;
        self.warm.lock().expect("instance pool lock poisoned").clear();
    }

    /// Instances parked for reuse, over all code (for tests and metrics).
    pub fn parked_instances(&self) -> usize {
        self.warm
            .lock()
            .expect("instance pool lock poisoned")
            .values()
            .map(Vec::len)
            .sum()
    }

    /// True when code with this hash is compiled and cached.
    pub fn is_loaded(&self, hash: &Hash) -> bool {
        self.cached(hash).is_some()
    }

    fn cached(&self, hash: &Hash) -> Option<Arc<Prepared>> {
        let p = self
            .cache
            .read()
            .expect("code cache lock poisoned")
            .get(&(*hash, self.compat))
            .cloned()?;
        p.last_used
            .store(self.uses.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        Some(p)
    }

    /// Executes one call of loaded code. Never panics on anything the contract does: every failure
    /// is a [`CallOutcome`] with a [`FailureKind`].
    ///
    /// Each call runs in an instance that is, as far as the contract can observe, fresh: either a
    /// new one, or (with [`RuntimeConfig::reuse_instances`]) one that served an earlier successful
    /// call of the same code and was then put back: every byte of its memory restored to the
    /// fresh instance's, every mutable global (the stack-height one included) to its initial
    /// value, new fuel and new host state. Tables and segments are restored by never reusing
    /// code that can change them (`table.set` and the like, see validation), and an instance
    /// whose call failed, or whose memory grew, is dropped.
    pub fn execute(&self, code: &Hash, ctx: CallContext, state: Arc<dyn StateView>) -> Result<CallOutcome> {
        match self.try_execute(code, ctx, state) {
            Ok(out) => Ok(out),
            Err(busy) if busy.not_loaded => Err(RuntimeError::UnknownCode(*code)),
            Err(busy) => Err(RuntimeError::Exhausted(busy.reason)),
        }
    }

    /// [`Runtime::execute`], giving the call back when it could not start (no instance could be
    /// made for it, or its code is not cached: [`Busy`]) so the caller can try again.
    pub fn try_execute(
        &self,
        code: &Hash,
        ctx: CallContext,
        state: Arc<dyn StateView>,
    ) -> std::result::Result<CallOutcome, Busy> {
        let Some(prepared) = self.cached(code) else {
            return Err(Busy {
                ctx: Box::new(ctx),
                reason: format!("no compiled code for hash {code}"),
                not_loaded: true,
            });
        };
        self.run(code, &prepared, ctx, state)
    }

    /// A parked instance of `code`, if any.
    fn take_warm(&self, code: &Hash) -> Option<Warm> {
        self.warm
            .lock()
            .expect("instance pool lock poisoned")
            .get_mut(code)
            .and_then(Vec::pop)
    }

    /// Puts an instance whose call succeeded back to its initial state and parks it; drops it
    /// when that is not possible (its memory grew) or the pool is full.
    fn park(&self, code: &Hash, prepared: &Prepared, mut warm: Warm) {
        let Some(initial) = prepared.initial.get() else { return };
        if warm.uses >= MAX_USES || warm.memory.data_size(&warm.store) != initial.memory_len {
            return;
        }
        initial.restore(warm.memory.data_mut(&mut warm.store));
        for (g, v) in warm.globals.iter().zip(&initial.globals) {
            if g.set(&mut warm.store, *v).is_err() {
                return;
            }
        }
        // Let go of the call's state snapshot while parked.
        let st = warm.store.data_mut();
        st.state = Arc::new(crate::outcome::EmptyState);
        st.memory = None;
        let mut pool = self.warm.lock().expect("instance pool lock poisoned");
        let parked: usize = pool.values().map(Vec::len).sum();
        if parked >= self.max_warm {
            // Full: start over rather than track recency (the hot code refills it first).
            pool.clear();
        }
        let list = pool.entry(*code).or_default();
        if list.len() < WARM_PER_CODE {
            list.push(warm);
        }
    }

    fn run(
        &self,
        code: &Hash,
        prepared: &Prepared,
        ctx: CallContext,
        state: Arc<dyn StateView>,
    ) -> std::result::Result<CallOutcome, Busy> {
        let limit = ctx.gas_limit;
        let start_balance = ctx.balance;
        let base = self.schedule.call_base.saturating_add(
            self.schedule
                .instantiate_per_page
                .saturating_mul(prepared.initial_pages),
        );
        if limit < base {
            return Ok(CallOutcome::failed(
                FailureKind::OutOfGas,
                format!("the call needs at least {base} gas"),
                limit,
                start_balance,
            ));
        }
        if !prepared.methods.contains(&ctx.method) {
            let msg = format!("the contract has no method `{}`", ctx.method);
            return Ok(CallOutcome::failed(
                FailureKind::MethodNotFound,
                msg,
                base,
                start_balance,
            ));
        }
        let method = ctx.method.clone();
        let st = HostState {
            balance: ctx.balance,
            ctx,
            state,
            schedule: self.schedule.clone(),
            memory: None,
            register: Vec::new(),
            overlay: Default::default(),
            events: Vec::new(),
            logs: Vec::new(),
            return_data: Vec::new(),
            pending: Vec::new(),
            promises: Vec::new(),
            gas_attached: 0,
            outgoing_bytes: 0,
            data_ids: 0,
            max_memory_bytes: (self.limits.max_memory_pages as usize) * 65536,
            max_table_elements: self.limits.max_table_elements as usize,
        };
        let reusable = self.max_warm > 0 && prepared.reset_globals.is_some();
        let warm = if reusable { self.take_warm(code) } else { None };
        let (mut store, mut parts) = match warm {
            Some(w) => {
                let mut store = w.store;
                *store.data_mut() = st;
                (store, Some((w.instance, w.memory, w.globals, w.uses)))
            }
            None => {
                let mut store = Store::new(&self.engine, st);
                store.limiter(|s| s);
                (store, None)
            }
        };
        if store.set_fuel(limit - base).is_err() {
            return Ok(CallOutcome::failed(
                FailureKind::HostError,
                "fuel is not enabled",
                limit,
                start_balance,
            ));
        }
        // A new instance: a trap while instantiating (a data segment out of bounds) is the code's
        // outcome; any other failure (no free pool slot, no memory) is the node's.
        let mut fresh = match parts {
            Some(_) => None,
            None => match prepared.pre.instantiate(&mut store) {
                Err(e) if e.downcast_ref::<wasmtime::Trap>().is_none() => {
                    return Err(Busy {
                        ctx: Box::new(store.into_data().ctx),
                        reason: e.to_string(),
                        not_loaded: false,
                    });
                }
                made => Some(made),
            },
        };

        let mut instance = None;
        let result = (|| -> wasmtime::Result<()> {
            let (inst, memory) = match &parts {
                Some((inst, memory, ..)) => (*inst, *memory),
                None => {
                    let inst = fresh.take().expect("a new instance was made above")?;
                    let memory = inst
                        .get_memory(&mut store, "memory")
                        .ok_or_else(|| wasmtime::Error::new(Abort::Host("the contract exports no memory".into())))?;
                    if reusable {
                        let globals = self.fresh_globals(prepared, &mut store, inst)?;
                        if prepared.initial.get().is_none() {
                            let values = globals.iter().map(|g| g.get(&mut store)).collect();
                            let _ = prepared.initial.set(InitialState::new(memory.data(&store), values));
                        }
                        parts = Some((inst, memory, globals, 0));
                    }
                    (inst, memory)
                }
            };
            instance = Some(inst);
            store.data_mut().memory = Some(memory);
            let f = inst.get_typed_func::<(), ()>(&mut store, &method)?;
            f.call(&mut store, ())
        })();

        let left = store.get_fuel().unwrap_or(0);
        match result {
            Ok(()) => {
                let out = self.success(&mut store, limit, left);
                if let Some((instance, memory, globals, uses)) = parts {
                    let warm = Warm {
                        store,
                        instance,
                        memory,
                        globals,
                        uses: uses + 1,
                    };
                    self.park(code, prepared, warm);
                }
                Ok(out)
            }
            Err(e) => {
                let stack_overflow = instance.is_some_and(|inst| {
                    inst.get_global(&mut store, STACK_GLOBAL_EXPORT)
                        .and_then(|g| g.get(&mut store).i32())
                        .is_some_and(|v| v as u32 > STACK_LIMIT)
                });
                let failure = classify(&e, stack_overflow);
                let spent = if failure.kind == FailureKind::OutOfGas {
                    limit
                } else {
                    limit - left
                };
                // A failed call's promises are dropped: the gas attached to them was never
                // spent, and goes back to the caller with the rest of the unused gas.
                let gas_used = spent.saturating_sub(store.data().gas_attached);
                let logs = std::mem::take(&mut store.data_mut().logs);
                let mut out = CallOutcome::failed(failure.kind, failure.message, gas_used, start_balance);
                out.logs = logs;
                Ok(out)
            }
        }
    }

    /// Handles on a new instance's mutable globals, in `reset_globals` order.
    fn fresh_globals(
        &self,
        prepared: &Prepared,
        store: &mut Store<HostState>,
        inst: Instance,
    ) -> wasmtime::Result<Vec<Global>> {
        let names = prepared.reset_globals.as_deref().unwrap_or_default();
        names
            .iter()
            .map(|n| {
                inst.get_global(&mut *store, n)
                    .ok_or_else(|| wasmtime::Error::new(Abort::Host(format!("instrumented global {n} missing"))))
            })
            .collect()
    }

    fn success(&self, store: &mut Store<HostState>, limit: Gas, mut left: Gas) -> CallOutcome {
        let st = store.data_mut();
        // Share the unused gas among promises by weight (integer shares, remainder to the first).
        let total_weight: u128 = st
            .pending
            .iter()
            .map(|p| match p {
                Pending::Call(c) => u128::from(c.weight),
                Pending::Transfer { .. } => 0,
            })
            .sum();
        if total_weight > 0 && left > 0 {
            let pool = left;
            let mut given = 0u64;
            let mut first = None;
            for (i, p) in st.pending.iter_mut().enumerate() {
                if let Pending::Call(c) = p
                    && c.weight > 0
                {
                    let share = (u128::from(pool) * u128::from(c.weight) / total_weight) as u64;
                    c.gas = c.gas.saturating_add(share);
                    given += share;
                    first.get_or_insert(i);
                }
            }
            if let Some(Pending::Call(c)) = first.and_then(|i| st.pending.get_mut(i)) {
                c.gas = c.gas.saturating_add(pool - given);
            }
            st.gas_attached = st.gas_attached.saturating_add(pool);
            left = 0;
        }
        let ctx = &st.ctx;
        let receipts = st
            .pending
            .drain(..)
            .enumerate()
            .map(|(i, p)| {
                let (receiver, body) = match p {
                    Pending::Call(c) => (
                        c.receiver,
                        ReceiptBody::Call {
                            method: c.method,
                            args: c.args,
                            value: c.value,
                            gas: c.gas,
                            input_data_ids: c.input_data_ids,
                            output_data_receivers: c.output_data_receivers,
                        },
                    ),
                    Pending::Transfer { to, amount } => (to, ReceiptBody::Transfer { amount }),
                };
                Receipt {
                    id: Receipt::derive_id(&ctx.origin, i as u32),
                    source_shard: ctx.block.shard_id,
                    dest_shard: receiver.home_shard(ctx.block.num_shards),
                    seq: 0,
                    predecessor: ctx.contract,
                    receiver,
                    signer: ctx.signer,
                    gas_price: ctx.gas_price,
                    body,
                }
            })
            .collect();
        let state_changes = std::mem::take(&mut st.overlay)
            .into_iter()
            .map(|(key, value)| StateChange { key, value })
            .collect();
        CallOutcome {
            result: Ok(std::mem::take(&mut st.return_data)),
            gas_used: limit - left,
            gas_attached: st.gas_attached,
            events: std::mem::take(&mut st.events),
            logs: std::mem::take(&mut st.logs),
            state_changes,
            receipts,
            balance: st.balance,
        }
    }
}

fn classify(e: &wasmtime::Error, stack_overflow: bool) -> CallFailure {
    let f = |kind, message: String| CallFailure { kind, message };
    if let Some(a) = e.downcast_ref::<Abort>() {
        return match a {
            Abort::OutOfGas => f(FailureKind::OutOfGas, String::new()),
            Abort::Panic(m) => f(FailureKind::Panic, m.clone()),
            Abort::BadPointer => f(FailureKind::Trap, a.to_string()),
            Abort::Host(m) => f(FailureKind::HostError, m.clone()),
            Abort::Balance(m) => f(FailureKind::InsufficientBalance, m.clone()),
            Abort::MemoryLimit(_) => f(FailureKind::MemoryLimit, a.to_string()),
        };
    }
    if let Some(t) = e.downcast_ref::<Trap>() {
        return match t {
            Trap::OutOfFuel => f(FailureKind::OutOfGas, String::new()),
            Trap::UnreachableCodeReached if stack_overflow => f(
                FailureKind::StackOverflow,
                format!("call stack deeper than {STACK_LIMIT} slots"),
            ),
            // Only reachable if the deterministic limit failed to fire first: report it the same way.
            Trap::StackOverflow => f(FailureKind::StackOverflow, "native stack exhausted".into()),
            other => f(FailureKind::Trap, other.to_string()),
        };
    }
    f(FailureKind::Trap, e.to_string())
}
