//! The native test environment: contract logic runs as ordinary Rust, against a thread-local
//! mock of the host, so it unit-tests without wasm. Set the context with the setters, call the
//! contract's methods directly, then inspect storage, events, transfers and promises.
//!
//! A contract `panic` (from [`crate::env::panic_str`] or `require!`) becomes a Rust panic with the
//! same message; use [`expect_panic`] to assert on it.

use std::{
    cell::RefCell,
    collections::BTreeMap,
    string::{String, ToString},
    vec::Vec,
};

use tutti_primitives::{Address, CallFailure};

/// A promise recorded by the mock host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedPromise {
    /// The callee (`self_address` for callbacks).
    pub receiver: Address,
    /// Method.
    pub method: String,
    /// SCALE-encoded arguments.
    pub args: Vec<u8>,
    /// Attached value.
    pub value: u128,
    /// Static gas.
    pub gas: u64,
    /// Weight of the unused-gas share.
    pub weight: u64,
    /// Indices of the promises a callback waits for (empty for a plain call).
    pub after: Vec<u32>,
}

/// The mock host's state.
#[derive(Clone, Debug)]
pub struct MockEnv {
    /// Contract storage.
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The call's input.
    pub input: Vec<u8>,
    /// The caller.
    pub caller: Address,
    /// The transaction signer.
    pub signer: Address,
    /// This contract.
    pub self_address: Address,
    /// Attached value.
    pub attached_value: u128,
    /// Contract balance.
    pub balance: u128,
    /// Block height.
    pub block_height: u64,
    /// Block timestamp (ms).
    pub block_timestamp: u64,
    /// Block randomness.
    pub randomness: [u8; 32],
    /// Randomness of earlier blocks, for `randomness_at` (the window rule applies).
    pub past_randomness: BTreeMap<u64, [u8; 32]>,
    /// Shard id.
    pub shard_id: u32,
    /// Gas reported by `gas_left`.
    pub gas_left: u64,
    /// Events emitted (name, data).
    pub events: Vec<(String, Vec<u8>)>,
    /// Log lines.
    pub logs: Vec<String>,
    /// Transfers made (to, amount).
    pub transfers: Vec<(Address, u128)>,
    /// Promises created; joins appear as entries with an empty method and `after` listing members.
    pub promises: Vec<RecordedPromise>,
    /// Results handed to a callback.
    pub promise_results: Vec<Result<Vec<u8>, CallFailure>>,
    /// The last return value.
    pub returned: Option<Vec<u8>>,
}

impl Default for MockEnv {
    fn default() -> Self {
        MockEnv {
            storage: BTreeMap::new(),
            input: Vec::new(),
            caller: Address([1; 32]),
            signer: Address([1; 32]),
            self_address: Address([0xcc; 32]),
            attached_value: 0,
            balance: 0,
            block_height: 1,
            block_timestamp: 1_000,
            randomness: [7; 32],
            past_randomness: BTreeMap::new(),
            shard_id: 0,
            gas_left: 1_000_000_000,
            events: Vec::new(),
            logs: Vec::new(),
            transfers: Vec::new(),
            promises: Vec::new(),
            promise_results: Vec::new(),
            returned: None,
        }
    }
}

std::thread_local! {
    static ENV: RefCell<MockEnv> = RefCell::new(MockEnv::default());
}

/// Runs `f` with the mock environment.
pub fn with<R>(f: impl FnOnce(&mut MockEnv) -> R) -> R {
    ENV.with(|e| f(&mut e.borrow_mut()))
}

/// Resets the environment to its defaults (empty storage, caller `[1; 32]`).
pub fn reset() {
    with(|e| *e = MockEnv::default());
}

/// Sets the caller (and signer).
pub fn set_caller(a: Address) {
    with(|e| {
        e.caller = a;
        e.signer = a;
    });
}

/// Sets the attached value; the balance grows by it, as on chain.
pub fn attach(value: u128) {
    with(|e| {
        e.attached_value = value;
        e.balance += value;
    });
}

/// Sets the block height.
pub fn set_block_height(h: u64) {
    with(|e| e.block_height = h);
}

/// Sets the block randomness.
pub fn set_randomness(r: [u8; 32]) {
    with(|e| e.randomness = r);
}

/// Records the randomness of the earlier block at `height`, for `randomness_at`.
pub fn set_randomness_at(height: u64, r: [u8; 32]) {
    with(|e| {
        e.past_randomness.insert(height, r);
    });
}

/// Sets the results a callback will read.
pub fn set_promise_results(r: Vec<Result<Vec<u8>, CallFailure>>) {
    with(|e| e.promise_results = r);
}

/// Takes the events emitted so far.
pub fn take_events() -> Vec<(String, Vec<u8>)> {
    with(|e| std::mem::take(&mut e.events))
}

/// Takes the promises created so far.
pub fn take_promises() -> Vec<RecordedPromise> {
    with(|e| std::mem::take(&mut e.promises))
}

/// Takes the transfers made so far.
pub fn take_transfers() -> Vec<(Address, u128)> {
    with(|e| std::mem::take(&mut e.transfers))
}

/// Runs `f`, expecting a contract panic; returns its message. Storage is rolled back to what it
/// was before `f`, as the chain would.
pub fn expect_panic<R: std::fmt::Debug>(f: impl FnOnce() -> R) -> String {
    let before = with(|e| e.clone());
    let prev = std::panic::take_hook();
    std::panic::set_hook(std::boxed::Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(prev);
    with(|e| *e = before);
    match r {
        Ok(v) => std::panic!("expected the call to fail, it returned {v:?}"),
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

/// The mock implementations behind [`crate::sys`].
pub(crate) mod native {
    use super::*;

    pub fn input_() -> Vec<u8> {
        with(|e| e.input.clone())
    }
    pub fn storage_read_(k: &[u8]) -> Option<Vec<u8>> {
        with(|e| e.storage.get(k).cloned())
    }
    pub fn storage_write_(k: &[u8], v: &[u8]) -> bool {
        with(|e| e.storage.insert(k.to_vec(), v.to_vec()).is_some())
    }
    pub fn storage_remove_(k: &[u8]) -> bool {
        with(|e| e.storage.remove(k).is_some())
    }
    pub fn storage_has_(k: &[u8]) -> bool {
        with(|e| e.storage.contains_key(k))
    }
    pub fn caller_() -> Address {
        with(|e| e.caller)
    }
    pub fn signer_() -> Address {
        with(|e| e.signer)
    }
    pub fn self_address_() -> Address {
        with(|e| e.self_address)
    }
    pub fn attached_value_() -> u128 {
        with(|e| e.attached_value)
    }
    pub fn balance_() -> u128 {
        with(|e| e.balance)
    }
    pub fn block_height_() -> u64 {
        with(|e| e.block_height)
    }
    pub fn block_timestamp_() -> u64 {
        with(|e| e.block_timestamp)
    }
    pub fn randomness_() -> [u8; 32] {
        with(|e| e.randomness)
    }
    pub fn randomness_at_(height: u64) -> Option<[u8; 32]> {
        with(|e| {
            let now = e.block_height;
            if height == now {
                Some(e.randomness)
            } else if height == 0 || height > now || now - height >= tutti_primitives::RANDOMNESS_WINDOW {
                None
            } else {
                e.past_randomness.get(&height).copied()
            }
        })
    }
    pub fn shard_id_() -> u32 {
        with(|e| e.shard_id)
    }
    pub fn gas_left_() -> u64 {
        with(|e| e.gas_left)
    }
    pub fn emit_event_(name: &str, data: &[u8]) {
        with(|e| e.events.push((name.to_string(), data.to_vec())))
    }
    pub fn log_(msg: &str) {
        with(|e| e.logs.push(msg.to_string()))
    }
    pub fn transfer_(to: &Address, amount: u128) {
        let ok = with(|e| match e.balance.checked_sub(amount) {
            Some(b) => {
                e.balance = b;
                e.transfers.push((*to, amount));
                true
            }
            None => false,
        });
        if !ok {
            std::panic!("transfer of {amount} exceeds the contract balance");
        }
    }
    pub fn blake3_(data: &[u8]) -> [u8; 32] {
        *blake3::hash(data).as_bytes()
    }
    pub fn ed25519_verify_(sig: &[u8; 64], pk: &[u8; 32], msg: &[u8]) -> bool {
        tutti_primitives::tx::verify_ed25519(pk, msg, sig).is_ok()
    }
    fn record(p: RecordedPromise) -> u32 {
        with(|e| {
            e.balance = e
                .balance
                .checked_sub(p.value)
                .expect("attached value exceeds the contract balance");
            e.promises.push(p);
            (e.promises.len() - 1) as u32
        })
    }
    pub fn promise_create_(acc: &Address, method: &str, args: &[u8], value: u128, gas: u64, weight: u64) -> u32 {
        record(RecordedPromise {
            receiver: *acc,
            method: method.to_string(),
            args: args.to_vec(),
            value,
            gas,
            weight,
            after: Vec::new(),
        })
    }
    pub fn promise_then_(idx: u32, method: &str, args: &[u8], value: u128, gas: u64, weight: u64) -> u32 {
        let me = self_address_();
        record(RecordedPromise {
            receiver: me,
            method: method.to_string(),
            args: args.to_vec(),
            value,
            gas,
            weight,
            after: std::vec![idx],
        })
    }
    pub fn promise_and_(idx: &[u32]) -> u32 {
        let me = self_address_();
        record(RecordedPromise {
            receiver: me,
            method: String::new(),
            args: Vec::new(),
            value: 0,
            gas: 0,
            weight: 0,
            after: idx.to_vec(),
        })
    }
    pub fn promise_results_count_() -> u32 {
        with(|e| e.promise_results.len() as u32)
    }
    pub fn promise_result_(i: u32) -> Result<Vec<u8>, CallFailure> {
        with(|e| e.promise_results.get(i as usize).cloned())
            .unwrap_or_else(|| std::panic!("promise result {i} does not exist"))
    }
    pub fn value_return_(data: &[u8]) {
        with(|e| e.returned = Some(data.to_vec()))
    }
    pub fn panic_(msg: &str) -> ! {
        std::panic!("{msg}")
    }
}
