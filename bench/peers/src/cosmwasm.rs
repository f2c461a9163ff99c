//! CosmWasm: cosmwasm-vm (the VM wasmd runs, wasmer singlepass with its gas middleware) with
//! cw20-base from crates.io, built to wasm32 by `bench/run` (bench/cw20). The code is pinned in
//! the VM's in-memory cache (its fastest path); each transfer takes an instance from the cache,
//! runs `execute` with a JSON message, and hands the backend (storage) back, as wasmd does per
//! message. Storage is the VM's in-memory `MockStorage` and addresses are checked by its
//! `MockApi` (bech32), cheaper than wasmd's IAVL store behind cgo callbacks.

use std::path::{Path, PathBuf};

use cosmwasm_std::{Checksum, Empty, Env, MessageInfo};
use cosmwasm_vm::{
    Backend, Cache, CacheOptions, InstanceOptions, Size, call_execute, call_instantiate, call_query,
    capabilities_from_csv,
    testing::{MockApi, MockQuerier, MockStorage, mock_backend, mock_env, mock_info},
};
use serde_json::json;

use crate::Transfer;

type B = Backend<MockApi, MockStorage, MockQuerier>;

/// Gas limit per message (wasmd's default block gas 10^7 SDK gas times its multiplier 140 is far
/// above a transfer).
const GAS_LIMIT: u64 = 1_000_000_000_000;

/// cw20-base, pinned; the backend between calls.
pub struct CosmWasm {
    cache: Cache<MockApi, MockStorage, MockQuerier>,
    checksum: Checksum,
    backend: Option<B>,
    env: Env,
    info: MessageInfo,
    msg: Vec<u8>,
    holder: String,
    dir: PathBuf,
}

impl CosmWasm {
    /// Stores, checks and pins `wasm`, instantiates cw20 with the supply at `owner` and gives
    /// `holder` 1,000 of it.
    pub fn new(wasm: &Path) -> Self {
        let code =
            std::fs::read(wasm).unwrap_or_else(|e| panic!("reading {}: {e} (bench/run builds it)", wasm.display()));
        let dir = std::env::temp_dir().join(format!("tutti-peers-cosmwasm-{}", std::process::id()));
        let options = CacheOptions::new(
            &dir,
            capabilities_from_csv(
                "iterator,staking,stargate,cosmwasm_1_1,cosmwasm_1_2,cosmwasm_1_3,cosmwasm_1_4,cosmwasm_2_0,cosmwasm_2_1,cosmwasm_2_2,cosmwasm_3_0",
            ),
            Size::mebi(200),
            Size::mebi(32),
        );
        // SAFETY: a fresh directory of this process; nothing else writes there.
        let cache = unsafe { Cache::new(options) }.expect("cosmwasm cache");
        let checksum = cache
            .store_code(&code, true, true)
            .expect("cw20-base passes the VM's checks");
        cache.pin(&checksum).expect("pinned");
        let backend = mock_backend(&[]);
        let owner = backend.api.addr_make("owner");
        let holder = backend.api.addr_make("holder");
        let mut me = CosmWasm {
            cache,
            checksum,
            backend: Some(backend),
            env: mock_env(),
            info: mock_info(&owner, &[]),
            msg: serde_json::to_vec(&json!({"transfer": {"recipient": holder, "amount": "10"}})).unwrap(),
            holder: holder.clone(),
            dir,
        };
        let init = json!({
            "name": "Tutti", "symbol": "TUT", "decimals": 6,
            "initial_balances": [{"address": owner, "amount": "1000000000000000000"}],
            "mint": null, "marketing": null,
        });
        let mut inst = me.instance();
        call_instantiate::<_, _, _, Empty>(&mut inst, &me.env, &me.info, &serde_json::to_vec(&init).unwrap())
            .expect("instantiate runs")
            .unwrap();
        let setup = json!({"transfer": {"recipient": holder, "amount": "1000"}});
        call_execute::<_, _, _, Empty>(&mut inst, &me.env, &me.info, &serde_json::to_vec(&setup).unwrap())
            .expect("execute runs")
            .unwrap();
        me.backend = inst.recycle();
        me
    }

    fn instance(&mut self) -> cosmwasm_vm::Instance<MockApi, MockStorage, MockQuerier> {
        let backend = self.backend.take().expect("backend returned");
        self.cache
            .get_instance(&self.checksum, backend, InstanceOptions { gas_limit: GAS_LIMIT })
            .expect("instance")
    }

    fn balance(&mut self, address: &str) -> u128 {
        let mut inst = self.instance();
        let q = serde_json::to_vec(&json!({"balance": {"address": address}})).unwrap();
        let out = call_query(&mut inst, &self.env, &q).expect("query runs").unwrap();
        self.backend = inst.recycle();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        v["balance"].as_str().expect("balance").parse().unwrap()
    }
}

impl Transfer for CosmWasm {
    fn transfer(&mut self) -> u64 {
        let mut inst = self.instance();
        let res = call_execute::<_, _, _, Empty>(&mut inst, &self.env, &self.info, &self.msg).expect("execute runs");
        assert!(res.is_ok());
        let used = GAS_LIMIT - inst.get_gas_left();
        self.backend = inst.recycle();
        used
    }

    fn verify(&mut self) -> String {
        let holder = self.holder.clone();
        let before = self.balance(&holder);
        let gas = self.transfer();
        assert_eq!(self.balance(&holder), before + 10);
        format!("{gas} CosmWasm gas")
    }
}

impl Drop for CosmWasm {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
