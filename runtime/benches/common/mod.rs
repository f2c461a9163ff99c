//! Helpers shared by the runtime benchmarks.
#![allow(dead_code)]

pub mod bare;

use std::{collections::BTreeMap, sync::Arc};

use tutti_primitives::{Address, codec::Encode};
use tutti_runtime::{CallContext, CallOutcome, Runtime, RuntimeConfig, StateView};

/// In-memory storage for one contract.
#[derive(Default, Clone)]
pub struct MapState(pub BTreeMap<Vec<u8>, Vec<u8>>);

impl StateView for MapState {
    fn storage_get(&self, _: &Address, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key).cloned()
    }
}

impl MapState {
    /// Applies a successful outcome.
    pub fn apply(&mut self, out: &CallOutcome) {
        for ch in &out.state_changes {
            match &ch.value {
                Some(v) => self.0.insert(ch.key.clone(), v.clone()),
                None => self.0.remove(&ch.key),
            };
        }
    }
}

/// The token owner and caller.
pub const OWNER: Address = Address([1; 32]);
/// The token contract's address.
pub const TOKEN_ADDR: Address = Address([9; 32]);

/// A runtime with the default configuration.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

/// A call context on the token with a 100M gas limit.
pub fn ctx(method: &str, args: Vec<u8>) -> CallContext {
    CallContext::new(TOKEN_ADDR, OWNER, method, args, 100_000_000)
}

/// A token initialized with the whole supply held by OWNER.
pub fn token_state(rt: &Runtime) -> MapState {
    let h = rt.load(tutti_examples::TOKEN).expect("token loads").code_hash;
    let init = ("Tutti".to_string(), "TUT".to_string(), 6u8, u128::MAX / 2).encode();
    // Under the init-pending mark, as a deploy runs it.
    let mut pending = MapState::default();
    pending
        .0
        .insert(tutti_primitives::INIT_PENDING_KEY.to_vec(), vec![0; 32]);
    let out = rt.execute(&h, ctx("init", init), Arc::new(pending)).unwrap();
    assert!(out.is_ok(), "{:?}", out.result);
    let mut st = MapState::default();
    st.apply(&out);
    st
}
