//! The Tutti contract SDK (`no_std`).
//!
//! A contract is a crate of type `cdylib` whose methods live in an `impl` block marked
//! [`contract`]. Methods are associated functions (no `self`): state lives in typed, lazily loaded
//! storage handles ([`storage::Item`], [`storage::Map`], [`storage::Vector`]) declared as consts.
//!
//! ```
//! use tutti_sdk::prelude::*;
//!
//! const COUNT: Item<u64> = Item::new(b"c");
//!
//! pub struct Counter;
//!
//! #[contract]
//! impl Counter {
//!     #[call]
//!     pub fn increment(by: u64) -> u64 {
//!         let n = COUNT.get().unwrap_or(0) + by;
//!         COUNT.set(&n);
//!         n
//!     }
//!
//!     #[view]
//!     pub fn get() -> u64 {
//!         COUNT.get().unwrap_or(0)
//!     }
//! }
//!
//! // Natively, the same code runs against the test environment.
//! tutti_sdk::testing::reset();
//! assert_eq!(Counter::increment(2), 2);
//! assert_eq!(Counter::get(), 2);
//! ```
//!
//! Method kinds: `#[init]` (runs once, only as the deploy's init call), `#[call]` (may change state), `#[call(payable)]` (may
//! receive tokens; other methods refuse attached value), `#[view]` (reads only) and
//! `#[callback]` (a `#[call]` that receives promise results through parameters marked
//! `#[callback_result]`, typed as `Result<T, CallFailure>`; only the contract itself may call
//! it, the caller of the callbacks its promises schedule, unless it is marked
//! `#[callback(public)]`). Arguments are decoded from the
//! SCALE-encoded tuple of the parameters; the return value is SCALE-encoded.
//!
//! **ABI.** Natively, `#[contract]` also gives the contract an `abi()` function: its methods
//! (kind, named parameters, return type) and the events listed in
//! `#[contract(events(Name: PayloadType, ...))]`, with every type described by `scale-info`
//! (parameter, return and event types must derive `scale_info::TypeInfo`). `tutti contract
//! build` and the workspace's build embed it in the module, where `tutti_getAbi`, `tutti abi`,
//! `tutti call` and `tutti view` read it (see the `tutti-abi` crate).
//!
//! ```
//! # use tutti_sdk::prelude::*;
//! # pub struct Counter;
//! #[contract(events(Incremented: (u64, u64)))]
//! impl Counter {
//!     #[call]
//!     pub fn increment(by: u64) -> u64 {
//!         env::emit("Incremented", &(by, by));
//!         by
//!     }
//! }
//! let abi = Counter::abi();
//! assert_eq!(abi.methods[0].name, "increment");
//! assert_eq!(abi.methods[0].params[0].name, "by");
//! assert!(abi.describe().contains("increment(by: u64) -> u64"));
//! ```
#![no_std]

extern crate alloc;
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

pub mod env;
pub mod promise;
pub mod storage;
pub mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[cfg(target_arch = "wasm32")]
mod rt;

pub use parity_scale_codec as codec;
pub use scale_info;
/// This SDK's version (recorded in ABIs).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The contract ABI, built natively by `#[contract]` (see the `tutti-abi` crate).
#[cfg(not(target_arch = "wasm32"))]
pub mod abi {
    pub use tutti_abi::{Abi, Builder, Kind, meta};
}
pub use tutti_primitives::{Address, Amount, CallFailure, FailureKind, Gas};
pub use tutti_sdk_macros::contract;

/// Everything a contract usually needs.
pub mod prelude {
    pub use crate::{
        Address, Amount, CallFailure, FailureKind, contract, env,
        promise::{Call, Promise},
        require,
        storage::{Item, IterableMap, IterableSet, Map, Vector},
    };
    pub use alloc::{
        borrow::ToOwned,
        boxed::Box,
        format,
        string::{String, ToString},
        vec,
        vec::Vec,
    };
    pub use parity_scale_codec::{Decode, Encode};
    pub use scale_info::TypeInfo;
}

/// Stops the call with `msg` (surfaced as a `Panic` failure with this message) unless `cond` holds.
#[macro_export]
macro_rules! require {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            $crate::env::panic_str(&$crate::__private::format!($($msg)+));
        }
    };
}

/// Support for the `#[contract]` macro. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use alloc::format;
    use alloc::vec::Vec;
    use parity_scale_codec::{Decode, Encode};

    use crate::{env, storage::Item};

    const INITIALIZED: Item<bool> = Item::new(b"\x00tutti/initialized");

    /// The first statement of every private `#[callback]` (so native unit tests see the rule
    /// too): only the contract itself, the caller of the callbacks its promises schedule, may
    /// call it.
    pub fn only_self(method: &str) {
        if env::caller() != env::self_address() {
            env::panic_str(&format!(
                "`{method}` is a callback: only this contract may call it (mark it #[callback(public)] to let anyone)"
            ));
        }
    }

    /// Checks the method kind rules before running a method.
    pub fn enter(method: &str, payable: bool, init: bool) {
        if !payable && env::attached_value() != 0 {
            env::panic_str(&format!("method `{method}` is not payable: attach no tokens"));
        }
        if init {
            if INITIALIZED.get().unwrap_or(false) {
                env::panic_str("the contract is already initialized");
            }
            // Set by the runtime only while the deploy's own init receipt runs.
            if !crate::sys::storage_has(tutti_primitives::INIT_PENDING_KEY) {
                env::panic_str(&format!(
                    "`{method}` is an init method: it runs only as part of its contract's deploy (the deploy's init_method)"
                ));
            }
            INITIALIZED.set(&true);
        }
    }

    /// Decodes the call's arguments.
    pub fn args<T: Decode>(method: &str) -> T {
        let input = crate::sys::input();
        let mut slice = input.as_slice();
        match T::decode(&mut slice) {
            Ok(v) if slice.is_empty() => v,
            _ => env::panic_str(&format!(
                "arguments of `{method}` do not decode: expected the SCALE encoding of its parameter tuple"
            )),
        }
    }

    /// Decodes promise result `i` for a callback.
    pub fn callback_result<T: Decode>(i: u32) -> Result<T, crate::CallFailure> {
        crate::promise::result::<T>(i)
    }

    /// Returns a method's value.
    pub fn ret<T: Encode>(v: &T) {
        let bytes: Vec<u8> = v.encode();
        if !bytes.is_empty() {
            crate::sys::value_return(&bytes);
        }
    }
}
