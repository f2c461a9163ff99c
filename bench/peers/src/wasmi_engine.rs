//! wasmi (the interpreter pallet-contracts runs ink! contracts on) with fuel metering, running
//! Tutti's example token over the bare host (the same host work as bare wasmtime).

use std::{collections::HashMap, sync::Arc};

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::Address;
use wasmi::{Caller, CompilationMode, Config, Engine, Error, ExternType, Linker, Module, Store};

use crate::{
    Transfer,
    common::{OWNER, bare::Bare},
    tutti::{AMOUNT, HOLDER, holders_state, setup_runtime},
};

/// Fuel given to each call (far more than a transfer uses).
const FUEL: u64 = 100_000_000;

/// Host state: the bare host and the instance's memory.
struct Host {
    bare: Bare,
    memory: Option<wasmi::Memory>,
}

type C<'a> = Caller<'a, Host>;

fn mem<'a>(c: &'a mut C<'_>) -> (&'a mut [u8], &'a mut Bare) {
    let m = c.data().memory.expect("memory");
    let (m, h) = m.data_and_store_mut(c);
    (m, &mut h.bare)
}

fn linker(engine: &Engine, module: &Module) -> Linker<Host> {
    let mut l = Linker::new(engine);
    l.func_wrap("tutti_v1", "input", |mut c: C<'_>| c.data_mut().bare.input())
        .unwrap();
    l.func_wrap("tutti_v1", "register_len", |c: C<'_>| c.data().bare.register_len())
        .unwrap();
    l.func_wrap("tutti_v1", "register_read", |mut c: C<'_>, p: i32| {
        let (m, s) = mem(&mut c);
        s.register_read(m, p)
    })
    .unwrap();
    l.func_wrap("tutti_v1", "storage_read", |mut c: C<'_>, kp: i32, kl: i32| -> i64 {
        let (m, s) = mem(&mut c);
        s.storage_read(m, kp, kl)
    })
    .unwrap();
    l.func_wrap(
        "tutti_v1",
        "storage_write",
        |mut c: C<'_>, kp: i32, kl: i32, vp: i32, vl: i32| -> i32 {
            let (m, s) = mem(&mut c);
            s.storage_write(m, kp, kl, vp, vl)
        },
    )
    .unwrap();
    l.func_wrap("tutti_v1", "storage_remove", |mut c: C<'_>, kp: i32, kl: i32| -> i32 {
        let (m, s) = mem(&mut c);
        s.storage_remove(m, kp, kl)
    })
    .unwrap();
    l.func_wrap("tutti_v1", "caller", |mut c: C<'_>, p: i32| {
        let (m, s) = mem(&mut c);
        s.caller(m, p)
    })
    .unwrap();
    l.func_wrap("tutti_v1", "attached_value", |mut c: C<'_>, p: i32| {
        let (m, s) = mem(&mut c);
        s.attached_value(m, p)
    })
    .unwrap();
    l.func_wrap(
        "tutti_v1",
        "emit_event",
        |mut c: C<'_>, np: i32, nl: i32, dp: i32, dl: i32| {
            let (m, s) = mem(&mut c);
            s.emit_event(m, np, nl, dp, dl)
        },
    )
    .unwrap();
    l.func_wrap("tutti_v1", "value_return", |_: C<'_>, _: i32, _: i32| {})
        .unwrap();
    // The token's other imports (logging, promises, panic) trap: a transfer does not call them.
    let defined = [
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
    for import in module.imports() {
        if let ExternType::Func(ty) = import.ty()
            && !defined.contains(&import.name())
        {
            let name = import.name().to_string();
            l.func_new(import.module(), import.name(), ty.clone(), move |_, _, _| {
                Err(Error::new(format!("{name} is not provided by the bare host")))
            })
            .unwrap();
        }
    }
    l
}

/// The token translated once (eagerly); each transfer gets a new store and instance, fuel set.
pub struct Wasmi {
    engine: Engine,
    module: Module,
    linker: Linker<Host>,
    storage: Arc<HashMap<Vec<u8>, Vec<u8>>>,
    args: Vec<u8>,
}

impl Wasmi {
    /// Translates the token.
    pub fn new() -> Self {
        let mut config = Config::default();
        config.consume_fuel(true).compilation_mode(CompilationMode::Eager);
        let engine = Engine::new(&config);
        let module = Module::new(&engine, crate::token()).expect("token translates");
        let linker = linker(&engine, &module);
        let rt = setup_runtime();
        Wasmi {
            engine,
            module,
            linker,
            storage: Arc::new(holders_state(&rt).0.into_iter().collect()),
            args: (HOLDER, AMOUNT).encode(),
        }
    }

    fn call(&self) -> (Bare, u64) {
        let host = Host {
            bare: Bare::new(self.args.clone(), self.storage.clone(), OWNER.0),
            memory: None,
        };
        let mut store = Store::new(&self.engine, host);
        store.set_fuel(FUEL).unwrap();
        let inst = self
            .linker
            .instantiate_and_start(&mut store, &self.module)
            .expect("instantiates");
        store.data_mut().memory = inst.get_memory(&store, "memory");
        let f = inst
            .get_typed_func::<(), ()>(&store, "transfer")
            .expect("transfer exported");
        f.call(&mut store, ()).expect("transfer runs");
        let used = FUEL - store.get_fuel().unwrap();
        let bare = store.into_data().bare;
        assert_eq!(bare.events.len(), 1);
        (bare, used)
    }
}

impl Transfer for Wasmi {
    fn transfer(&mut self) -> u64 {
        self.call().1
    }

    fn verify(&mut self) -> String {
        let (st, used) = self.call();
        assert_eq!(st.writes.len(), 2, "two balances written");
        let (from, to, amount) = <(Address, Address, u128)>::decode(&mut &st.events[0].1[..]).expect("Transfer event");
        assert_eq!((from, to, amount), (OWNER, HOLDER, AMOUNT));
        format!("{used} fuel")
    }
}
