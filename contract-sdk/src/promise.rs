//! Cross-contract calls as promises (NEAR-style). A [`Call`] becomes a receipt for the callee's
//! shard when the current call succeeds; [`Promise::then`] chains a callback on this contract that
//! receives the callee's result (its return value, or a [`CallFailure`]) once it arrives, possibly
//! several blocks later when the callee lives on another shard. State changed before the call is
//! not rolled back when the callee fails: the callback is where to compensate.
//!
//! ```
//! use tutti_sdk::prelude::*;
//! # tutti_sdk::testing::reset();
//! let other = Address([9; 32]);
//! Call::new(other, "ping")
//!     .args(&(7u64,))
//!     .send()
//!     .then(Call::callback("on_pong").args(&(7u64,)));
//! assert_eq!(tutti_sdk::testing::take_promises().len(), 2);
//! ```

use alloc::{format, string::String, vec::Vec};
use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{Address, CallFailure, FailureKind};

use crate::{env, sys};

/// A call to make: receiver, method, arguments, attached value and gas.
#[derive(Clone, Debug)]
pub struct Call {
    receiver: Address,
    method: String,
    args: Vec<u8>,
    value: u128,
    gas: u64,
    weight: u64,
}

impl Call {
    /// A call of `method` on `receiver`, with no arguments, no value, no static gas and weight 1
    /// (it receives a share of the gas left when the current call ends).
    pub fn new(receiver: Address, method: &str) -> Self {
        Call {
            receiver,
            method: String::from(method),
            args: Vec::new(),
            value: 0,
            gas: 0,
            weight: 1,
        }
    }

    /// A callback on this contract, for [`Promise::then`].
    pub fn callback(method: &str) -> Self {
        Call::new(env::self_address(), method)
    }

    /// Arguments: pass the tuple of the callee's parameters, e.g. `&(to, amount)`.
    pub fn args<A: Encode>(mut self, args: &A) -> Self {
        self.args = args.encode();
        self
    }

    /// Tokens to attach (taken from this contract's balance now, refunded if the callee fails).
    pub fn value(mut self, value: u128) -> Self {
        self.value = value;
        self
    }

    /// Gas reserved for the call now.
    pub fn gas(mut self, gas: u64) -> Self {
        self.gas = gas;
        self
    }

    /// Weight of this call's share of the gas left when the current call ends (0 for none).
    pub fn weight(mut self, weight: u64) -> Self {
        self.weight = weight;
        self
    }

    /// Creates the promise.
    pub fn send(self) -> Promise {
        Promise(sys::promise_create(
            &self.receiver,
            &self.method,
            &self.args,
            self.value,
            self.gas,
            self.weight,
        ))
    }
}

/// A handle to a promise created in this call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Promise(u32);

impl Promise {
    /// Runs `callback` on this contract after this promise completes, successfully or not.
    pub fn then(self, callback: Call) -> Promise {
        Promise(sys::promise_then(
            self.0,
            &callback.method,
            &callback.args,
            callback.value,
            callback.gas,
            callback.weight,
        ))
    }

    /// A promise that completes when both do; a callback chained on it receives both results.
    pub fn and(self, other: Promise) -> Promise {
        Promise(sys::promise_and(&[self.0, other.0]))
    }

    /// Joins any number of promises.
    pub fn all(promises: &[Promise]) -> Promise {
        let idx: Vec<u32> = promises.iter().map(|p| p.0).collect();
        Promise(sys::promise_and(&idx))
    }

    /// The host's index of this promise.
    pub fn index(&self) -> u32 {
        self.0
    }
}

/// How many results this callback received.
pub fn results_count() -> u32 {
    sys::promise_results_count()
}

/// Result `i` of the promises this callback waited for, decoded as `T`.
pub fn result<T: Decode>(i: u32) -> Result<T, CallFailure> {
    let bytes = sys::promise_result(i)?;
    let mut slice = bytes.as_slice();
    match T::decode(&mut slice) {
        Ok(v) if slice.is_empty() => Ok(v),
        _ => Err(CallFailure {
            kind: FailureKind::HostError,
            message: format!(
                "result {i} ({} bytes) does not decode as the expected type",
                bytes.len()
            ),
        }),
    }
}
