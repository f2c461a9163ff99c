//! Tutti's runtime (wasmtime, fuel metering, pooled instances) with the example token, and the same
//! module on bare wasmtime with the bare host (the baseline of the runtime's own benchmark).

use std::{collections::HashMap, sync::Arc};

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{Address, Hash};
use tutti_runtime::{Runtime, RuntimeConfig};

use crate::{
    Transfer,
    common::{MapState, OWNER, bare, ctx, token_state},
};

/// The receiver, a holder before the measured transfers.
pub const HOLDER: Address = Address([2; 32]);
/// Tokens each measured transfer moves.
pub const AMOUNT: u128 = 10;

/// The token's storage with OWNER holding the supply and HOLDER 1,000 of it.
pub fn holders_state(rt: &Runtime) -> MapState {
    let mut st = token_state(rt);
    let h = rt.load(crate::token()).expect("token loads").code_hash;
    let out = rt
        .execute(&h, ctx("transfer", (HOLDER, 1_000u128).encode()), Arc::new(st.clone()))
        .expect("runs");
    assert!(out.is_ok(), "{:?}", out.result);
    st.apply(&out);
    st
}

/// A runtime for setting up state (two pooled slots: it also runs under valgrind).
pub fn setup_runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_concurrent_calls: 2,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

/// Tutti's runtime from cached code; each transfer instantiates the module, runs it metered and
/// returns the outcome (state changes, events, gas), as the chain's executor calls it.
pub struct Tutti {
    rt: Runtime,
    code: Hash,
    state: Arc<MapState>,
    args: Vec<u8>,
}

impl Tutti {
    /// The runtime with `slots` pooled instances.
    pub fn new(slots: u32) -> Self {
        let rt = Runtime::new(RuntimeConfig {
            max_concurrent_calls: slots,
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        let code = rt.load(crate::token()).expect("token loads").code_hash;
        let state = Arc::new(holders_state(&rt));
        Tutti {
            rt,
            code,
            state,
            args: (HOLDER, AMOUNT).encode(),
        }
    }
}

impl Transfer for Tutti {
    fn transfer(&mut self) -> u64 {
        let out = self
            .rt
            .execute(&self.code, ctx("transfer", self.args.clone()), self.state.clone())
            .expect("runs");
        assert!(out.is_ok());
        out.gas_used
    }

    fn verify(&mut self) -> String {
        let out = self
            .rt
            .execute(&self.code, ctx("transfer", self.args.clone()), self.state.clone())
            .expect("runs");
        assert!(out.is_ok(), "{:?}", out.result);
        assert_eq!(out.state_changes.len(), 2, "two balances written");
        assert_eq!(out.events.len(), 1);
        let (from, to, amount) =
            <(Address, Address, u128)>::decode(&mut &out.events[0].data[..]).expect("Transfer event");
        assert_eq!((from, to, amount), (OWNER, HOLDER, AMOUNT));
        format!("{} gas", out.gas_used)
    }
}

/// The token on bare wasmtime (pooled like the runtime): no metering, a hash-map host.
pub struct BareWasmtime {
    module: bare::BareWasmtime,
    storage: Arc<HashMap<Vec<u8>, Vec<u8>>>,
    args: Vec<u8>,
}

impl BareWasmtime {
    /// Compiled once, with `slots` pooled instances.
    pub fn new(slots: u32) -> Self {
        let rt = setup_runtime();
        BareWasmtime {
            module: bare::BareWasmtime::new(&bare::pooled_config(slots), crate::token()),
            storage: Arc::new(holders_state(&rt).0.into_iter().collect()),
            args: (HOLDER, AMOUNT).encode(),
        }
    }

    fn call(&self) -> bare::Bare {
        let st = self.module.call(
            "transfer",
            bare::Bare::new(self.args.clone(), self.storage.clone(), OWNER.0),
        );
        assert_eq!(st.events.len(), 1);
        st
    }
}

impl Transfer for BareWasmtime {
    fn transfer(&mut self) -> u64 {
        self.call();
        0
    }

    fn verify(&mut self) -> String {
        let st = self.call();
        assert_eq!(st.writes.len(), 2, "two balances written");
        "no metering".into()
    }
}
