//! The bare host: the host functions Tutti's token imports, over a hash map, with no gas charging,
//! no bounds-checked helpers and no outcome. The runtime benchmark measures the runtime against
//! this host on bare wasmtime; the peer benchmark (`bench/peers`) also runs the token on wasmi
//! with it, so both engines do the same host work.
//!
//! `Bare` holds the state and does each function's work on a memory slice; `wasmtime_linker`
//! binds it to wasmtime (the peer benchmark binds it to wasmi). Out-of-bounds pointers panic: the
//! token is trusted here.

use std::{collections::HashMap, sync::Arc};

use wasmtime::{Caller, Engine, Linker};

/// Host state for one call.
pub struct Bare {
    /// The call's arguments.
    pub input: Vec<u8>,
    /// The last value a host function left for the contract to read.
    pub register: Vec<u8>,
    /// The contract's storage before the call.
    pub storage: Arc<HashMap<Vec<u8>, Vec<u8>>>,
    /// Writes of this call (an empty value is a removal).
    pub writes: HashMap<Vec<u8>, Vec<u8>>,
    /// Events emitted: (name, payload).
    pub events: Vec<(Vec<u8>, Vec<u8>)>,
    /// The caller's address.
    pub caller: [u8; 32],
}

fn bytes(m: &[u8], p: i32, l: i32) -> Vec<u8> {
    m[p as usize..p as usize + l as usize].to_vec()
}

impl Bare {
    /// A call with these arguments over this storage.
    pub fn new(input: Vec<u8>, storage: Arc<HashMap<Vec<u8>, Vec<u8>>>, caller: [u8; 32]) -> Self {
        Bare {
            input,
            register: Vec::new(),
            storage,
            writes: HashMap::new(),
            events: Vec::new(),
            caller,
        }
    }

    /// `input() -> len`: the arguments into the register.
    pub fn input(&mut self) -> i32 {
        self.register = self.input.clone();
        self.register.len() as i32
    }

    /// `register_len() -> len`.
    pub fn register_len(&self) -> i32 {
        self.register.len() as i32
    }

    /// `register_read(ptr)`.
    pub fn register_read(&self, m: &mut [u8], p: i32) {
        m[p as usize..p as usize + self.register.len()].copy_from_slice(&self.register);
    }

    /// `storage_read(key) -> len or -1`: the value into the register.
    pub fn storage_read(&mut self, m: &[u8], kp: i32, kl: i32) -> i64 {
        let k = bytes(m, kp, kl);
        match self.writes.get(&k).or_else(|| self.storage.get(&k)).cloned() {
            Some(v) => {
                let n = v.len() as i64;
                self.register = v;
                n
            }
            None => -1,
        }
    }

    /// `storage_write(key, value) -> existed`.
    pub fn storage_write(&mut self, m: &[u8], kp: i32, kl: i32, vp: i32, vl: i32) -> i32 {
        let (k, v) = (bytes(m, kp, kl), bytes(m, vp, vl));
        i32::from(self.writes.insert(k, v).is_some())
    }

    /// `storage_remove(key) -> existed`.
    pub fn storage_remove(&mut self, m: &[u8], kp: i32, kl: i32) -> i32 {
        let k = bytes(m, kp, kl);
        i32::from(self.writes.insert(k, Vec::new()).is_some())
    }

    /// `caller(ptr)`: 32 bytes.
    pub fn caller(&self, m: &mut [u8], p: i32) {
        m[p as usize..p as usize + 32].copy_from_slice(&self.caller);
    }

    /// `attached_value(ptr)`: 16 bytes, none attached.
    pub fn attached_value(&self, m: &mut [u8], p: i32) {
        m[p as usize..p as usize + 16].fill(0);
    }

    /// `emit_event(name, data)`.
    pub fn emit_event(&mut self, m: &[u8], np: i32, nl: i32, dp: i32, dl: i32) {
        let e = (bytes(m, np, nl), bytes(m, dp, dl));
        self.events.push(e);
    }
}

/// `Bare` on wasmtime, with the instance's memory.
pub struct WasmtimeBare {
    /// The host state.
    pub bare: Bare,
    /// The instance's exported memory, set after instantiation.
    pub memory: Option<wasmtime::Memory>,
}

/// Defines the bare host functions on `$linker` for callers of type `$caller` whose data has a
/// `bare: Bare` field; `$mem` maps `&mut $caller` to `(memory, &mut Bare)`. wasmtime's and wasmi's
/// linkers share the `func_wrap(module, name, closure)` shape, so both engines get the same
/// bindings from this one list (`value_return` ignores the value; the token's other imports are
/// left to the caller).
macro_rules! define_bare_host {
    ($linker:expr, $caller:ty, $mem:expr) => {{
        let l = $linker;
        l.func_wrap("tutti_v1", "input", |mut c: $caller| c.data_mut().bare.input())
            .unwrap();
        l.func_wrap("tutti_v1", "register_len", |c: $caller| c.data().bare.register_len())
            .unwrap();
        l.func_wrap("tutti_v1", "register_read", |mut c: $caller, p: i32| {
            let (m, s) = $mem(&mut c);
            s.register_read(m, p)
        })
        .unwrap();
        l.func_wrap("tutti_v1", "storage_read", |mut c: $caller, kp: i32, kl: i32| -> i64 {
            let (m, s) = $mem(&mut c);
            s.storage_read(m, kp, kl)
        })
        .unwrap();
        l.func_wrap(
            "tutti_v1",
            "storage_write",
            |mut c: $caller, kp: i32, kl: i32, vp: i32, vl: i32| -> i32 {
                let (m, s) = $mem(&mut c);
                s.storage_write(m, kp, kl, vp, vl)
            },
        )
        .unwrap();
        l.func_wrap(
            "tutti_v1",
            "storage_remove",
            |mut c: $caller, kp: i32, kl: i32| -> i32 {
                let (m, s) = $mem(&mut c);
                s.storage_remove(m, kp, kl)
            },
        )
        .unwrap();
        l.func_wrap("tutti_v1", "caller", |mut c: $caller, p: i32| {
            let (m, s) = $mem(&mut c);
            s.caller(m, p)
        })
        .unwrap();
        l.func_wrap("tutti_v1", "attached_value", |mut c: $caller, p: i32| {
            let (m, s) = $mem(&mut c);
            s.attached_value(m, p)
        })
        .unwrap();
        l.func_wrap(
            "tutti_v1",
            "emit_event",
            |mut c: $caller, np: i32, nl: i32, dp: i32, dl: i32| {
                let (m, s) = $mem(&mut c);
                s.emit_event(m, np, nl, dp, dl)
            },
        )
        .unwrap();
        l.func_wrap("tutti_v1", "value_return", |_: $caller, _: i32, _: i32| {})
            .unwrap();
    }};
}
// Used by the peer benchmark (bench/peers), which includes this module; the runtime bench uses it
// only through `wasmtime_linker`.
#[allow(unused_imports)]
pub(crate) use define_bare_host;

/// The host functions `define_bare_host` defines.
pub const BARE_FUNCTIONS: [&str; 10] = [
    "input",
    "register_len",
    "register_read",
    "storage_read",
    "storage_write",
    "storage_remove",
    "caller",
    "attached_value",
    "emit_event",
    "value_return",
];

/// The bare host functions for wasmtime (the token's other imports are left for
/// `define_unknown_imports_as_traps`).
pub fn wasmtime_linker(engine: &Engine) -> Linker<WasmtimeBare> {
    fn mem<'a>(c: &'a mut Caller<'_, WasmtimeBare>) -> (&'a mut [u8], &'a mut Bare) {
        let m = c.data().memory.expect("memory");
        let (m, s) = m.data_and_store_mut(c);
        (m, &mut s.bare)
    }
    let mut l = Linker::new(engine);
    define_bare_host!(&mut l, Caller<'_, WasmtimeBare>, mem);
    l
}

/// wasmtime's default configuration with the runtime's pooling settings (`slots` instances).
pub fn pooled_config(slots: u32) -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_memories(slots)
        .total_tables(slots)
        .total_core_instances(slots)
        .max_memory_size(16 << 20);
    pool.linear_memory_keep_resident(256 * 1024)
        .table_keep_resident(64 * 1024);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    config
}

/// A module compiled once on bare wasmtime, ready to instantiate per call.
pub struct BareWasmtime {
    engine: Engine,
    pre: wasmtime::InstancePre<WasmtimeBare>,
}

impl BareWasmtime {
    /// Compiles `wasm` with `config`.
    pub fn new(config: &wasmtime::Config, wasm: &[u8]) -> Self {
        let engine = Engine::new(config).unwrap();
        let module = wasmtime::Module::new(&engine, wasm).unwrap();
        let mut linker = wasmtime_linker(&engine);
        linker.define_unknown_imports_as_traps(&module).unwrap();
        let pre = linker.instantiate_pre(&module).unwrap();
        BareWasmtime { engine, pre }
    }

    /// Instantiates the module and calls `method` with `bare` as the host state; returns the state.
    pub fn call(&self, method: &str, bare: Bare) -> Bare {
        let mut store = wasmtime::Store::new(&self.engine, WasmtimeBare { bare, memory: None });
        let inst = self.pre.instantiate(&mut store).unwrap();
        let m = inst.get_memory(&mut store, "memory").unwrap();
        store.data_mut().memory = Some(m);
        let f = inst.get_typed_func::<(), ()>(&mut store, method).unwrap();
        f.call(&mut store, ()).unwrap();
        store.into_data().bare
    }
}
