//! wasmi (the interpreter pallet-contracts runs ink! contracts on) with fuel metering, running
//! Tutti's example token over the bare host (the same host work as bare wasmtime).

use std::{collections::HashMap, sync::Arc};

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::Address;
use wasmi::{Caller, CompilationMode, Config, Engine, Error, ExternType, Linker, Module, Store};

use crate::{
    Transfer,
    common::{
        OWNER,
        bare::{BARE_FUNCTIONS, Bare, define_bare_host},
    },
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
    define_bare_host!(&mut l, C<'_>, mem);
    // The token's other imports (logging, promises, panic) trap: a transfer does not call them.
    for import in module.imports() {
        if let ExternType::Func(ty) = import.ty()
            && !BARE_FUNCTIONS.contains(&import.name())
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
