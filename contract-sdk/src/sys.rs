//! The raw host interface, as safe functions. In wasm they call the `tutti_v1` imports; natively
//! they act on the thread-local test environment of [`crate::testing`].

#[cfg(target_arch = "wasm32")]
use alloc::string::String;
use alloc::vec::Vec;
use tutti_primitives::{Address, CallFailure};

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod imp {
    use super::*;
    use parity_scale_codec::Decode;

    #[link(wasm_import_module = "tutti_v1")]
    unsafe extern "C" {
        fn input() -> u32;
        fn register_len() -> u32;
        fn register_read(ptr: *mut u8);
        fn storage_read(kp: *const u8, kl: u32) -> i64;
        fn storage_write(kp: *const u8, kl: u32, vp: *const u8, vl: u32) -> u32;
        fn storage_remove(kp: *const u8, kl: u32) -> u32;
        fn storage_has(kp: *const u8, kl: u32) -> u32;
        fn caller(out: *mut u8);
        fn signer(out: *mut u8);
        fn self_address(out: *mut u8);
        fn attached_value(out: *mut u8);
        fn balance(out: *mut u8);
        fn block_height() -> u64;
        fn block_timestamp() -> u64;
        fn randomness(out: *mut u8);
        fn randomness_at(height: u64, out: *mut u8) -> u32;
        fn shard_id() -> u32;
        fn gas_left() -> u64;
        fn emit_event(np: *const u8, nl: u32, dp: *const u8, dl: u32);
        fn log(p: *const u8, l: u32);
        fn transfer(to: *const u8, amount: *const u8);
        fn blake3(p: *const u8, l: u32, out: *mut u8);
        fn ed25519_verify(sig: *const u8, pk: *const u8, mp: *const u8, ml: u32) -> u32;
        fn promise_create(
            acc: *const u8,
            mp: *const u8,
            ml: u32,
            ap: *const u8,
            al: u32,
            vp: *const u8,
            gas: u64,
            weight: u64,
        ) -> u32;
        fn promise_then(
            idx: u32,
            mp: *const u8,
            ml: u32,
            ap: *const u8,
            al: u32,
            vp: *const u8,
            gas: u64,
            weight: u64,
        ) -> u32;
        fn promise_and(p: *const u32, n: u32) -> u32;
        fn promise_results_count() -> u32;
        fn promise_result(i: u32) -> i64;
        fn value_return(p: *const u8, l: u32);
        fn panic(p: *const u8, l: u32) -> !;
    }

    fn take_register(len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len);
        // SAFETY: the host writes exactly `len` bytes (the register's length) into the buffer,
        // whose capacity is `len`; then the length is set to what was written.
        unsafe {
            register_read(v.as_mut_ptr());
            v.set_len(len);
        }
        v
    }

    fn fixed<const N: usize>(f: unsafe extern "C" fn(*mut u8)) -> [u8; N] {
        let mut out = [0u8; N];
        // SAFETY: each getter writes exactly N bytes at the pointer.
        unsafe { f(out.as_mut_ptr()) };
        out
    }

    // SAFETY (for every wrapper below): pointers and lengths come from live Rust slices and
    // arrays, and the host bounds-checks them again.
    pub fn input_() -> Vec<u8> {
        let n = unsafe { input() } as usize;
        take_register(n)
    }
    pub fn storage_read_(k: &[u8]) -> Option<Vec<u8>> {
        let n = unsafe { storage_read(k.as_ptr(), k.len() as u32) };
        if n < 0 { None } else { Some(take_register(n as usize)) }
    }
    pub fn storage_write_(k: &[u8], v: &[u8]) -> bool {
        unsafe { storage_write(k.as_ptr(), k.len() as u32, v.as_ptr(), v.len() as u32) != 0 }
    }
    pub fn storage_remove_(k: &[u8]) -> bool {
        unsafe { storage_remove(k.as_ptr(), k.len() as u32) != 0 }
    }
    pub fn storage_has_(k: &[u8]) -> bool {
        unsafe { storage_has(k.as_ptr(), k.len() as u32) != 0 }
    }
    pub fn caller_() -> Address {
        Address(fixed::<32>(caller))
    }
    pub fn signer_() -> Address {
        Address(fixed::<32>(signer))
    }
    pub fn self_address_() -> Address {
        Address(fixed::<32>(self_address))
    }
    pub fn attached_value_() -> u128 {
        u128::from_le_bytes(fixed::<16>(attached_value))
    }
    pub fn balance_() -> u128 {
        u128::from_le_bytes(fixed::<16>(balance))
    }
    pub fn block_height_() -> u64 {
        unsafe { block_height() }
    }
    pub fn block_timestamp_() -> u64 {
        unsafe { block_timestamp() }
    }
    pub fn randomness_() -> [u8; 32] {
        fixed::<32>(randomness)
    }
    pub fn randomness_at_(height: u64) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        (unsafe { randomness_at(height, out.as_mut_ptr()) } != 0).then_some(out)
    }
    pub fn shard_id_() -> u32 {
        unsafe { shard_id() }
    }
    pub fn gas_left_() -> u64 {
        unsafe { gas_left() }
    }
    pub fn emit_event_(name: &str, data: &[u8]) {
        unsafe { emit_event(name.as_ptr(), name.len() as u32, data.as_ptr(), data.len() as u32) }
    }
    pub fn log_(msg: &str) {
        unsafe { log(msg.as_ptr(), msg.len() as u32) }
    }
    pub fn transfer_(to: &Address, amount: u128) {
        let a = amount.to_le_bytes();
        unsafe { transfer(to.0.as_ptr(), a.as_ptr()) }
    }
    pub fn blake3_(data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        unsafe { blake3(data.as_ptr(), data.len() as u32, out.as_mut_ptr()) };
        out
    }
    pub fn ed25519_verify_(sig: &[u8; 64], pk: &[u8; 32], msg: &[u8]) -> bool {
        unsafe { ed25519_verify(sig.as_ptr(), pk.as_ptr(), msg.as_ptr(), msg.len() as u32) != 0 }
    }
    pub fn promise_create_(acc: &Address, method: &str, args: &[u8], value: u128, gas: u64, weight: u64) -> u32 {
        let v = value.to_le_bytes();
        unsafe {
            promise_create(
                acc.0.as_ptr(),
                method.as_ptr(),
                method.len() as u32,
                args.as_ptr(),
                args.len() as u32,
                v.as_ptr(),
                gas,
                weight,
            )
        }
    }
    pub fn promise_then_(idx: u32, method: &str, args: &[u8], value: u128, gas: u64, weight: u64) -> u32 {
        let v = value.to_le_bytes();
        unsafe {
            promise_then(
                idx,
                method.as_ptr(),
                method.len() as u32,
                args.as_ptr(),
                args.len() as u32,
                v.as_ptr(),
                gas,
                weight,
            )
        }
    }
    pub fn promise_and_(idx: &[u32]) -> u32 {
        unsafe { promise_and(idx.as_ptr(), idx.len() as u32) }
    }
    pub fn promise_results_count_() -> u32 {
        unsafe { promise_results_count() }
    }
    pub fn promise_result_(i: u32) -> Result<Vec<u8>, CallFailure> {
        let n = unsafe { promise_result(i) };
        if n >= 0 {
            Ok(take_register(n as usize))
        } else {
            let len = unsafe { register_len() } as usize;
            let raw = take_register(len);
            Err(
                CallFailure::decode(&mut raw.as_slice()).unwrap_or_else(|_| CallFailure {
                    kind: tutti_primitives::FailureKind::HostError,
                    message: String::from("undecodable failure"),
                }),
            )
        }
    }
    pub fn value_return_(data: &[u8]) {
        unsafe { value_return(data.as_ptr(), data.len() as u32) }
    }
    pub fn panic_(msg: &str) -> ! {
        unsafe { panic(msg.as_ptr(), msg.len() as u32) }
    }
}

#[cfg(not(target_arch = "wasm32"))]
use crate::testing::native as imp;

macro_rules! forward {
    ($( $(#[$m:meta])* fn $name:ident / $imp:ident ( $($a:ident : $t:ty),* ) $(-> $r:ty)? ;)*) => {
        $( $(#[$m])* #[inline] pub fn $name($($a: $t),*) $(-> $r)? { imp::$imp($($a),*) } )*
    };
}

forward! {
    /// The call's SCALE-encoded arguments.
    fn input / input_() -> Vec<u8>;
    /// Reads a storage value.
    fn storage_read / storage_read_(key: &[u8]) -> Option<Vec<u8>>;
    /// Writes a storage value; true if the key existed.
    fn storage_write / storage_write_(key: &[u8], value: &[u8]) -> bool;
    /// Removes a key; true if it existed.
    fn storage_remove / storage_remove_(key: &[u8]) -> bool;
    /// Whether a key exists.
    fn storage_has / storage_has_(key: &[u8]) -> bool;
    /// The immediate caller.
    fn caller / caller_() -> Address;
    /// The signer of the originating transaction.
    fn signer / signer_() -> Address;
    /// This contract's address.
    fn self_address / self_address_() -> Address;
    /// Tokens attached to this call.
    fn attached_value / attached_value_() -> u128;
    /// This contract's balance (including the attached value).
    fn balance / balance_() -> u128;
    /// Current block height.
    fn block_height / block_height_() -> u64;
    /// Current block timestamp (ms).
    fn block_timestamp / block_timestamp_() -> u64;
    /// The block's randomness.
    fn randomness / randomness_() -> [u8; 32];
    /// The randomness of a recent block, if still available.
    fn randomness_at / randomness_at_(height: u64) -> Option<[u8; 32]>;
    /// The executing shard.
    fn shard_id / shard_id_() -> u32;
    /// Gas left in this call.
    fn gas_left / gas_left_() -> u64;
    /// Emits an event.
    fn emit_event / emit_event_(name: &str, data: &[u8]);
    /// Writes a log line.
    fn log / log_(msg: &str);
    /// Sends tokens (a transfer receipt).
    fn transfer / transfer_(to: &Address, amount: u128);
    /// blake3 of `data`.
    fn blake3 / blake3_(data: &[u8]) -> [u8; 32];
    /// ed25519 verification under the chain's signature rule.
    fn ed25519_verify / ed25519_verify_(sig: &[u8; 64], pk: &[u8; 32], msg: &[u8]) -> bool;
    /// Creates a call promise.
    fn promise_create / promise_create_(account: &Address, method: &str, args: &[u8], value: u128, gas: u64, weight: u64) -> u32;
    /// Chains a callback on this contract after promise `idx`.
    fn promise_then / promise_then_(idx: u32, method: &str, args: &[u8], value: u128, gas: u64, weight: u64) -> u32;
    /// Joins promises.
    fn promise_and / promise_and_(idx: &[u32]) -> u32;
    /// How many promise results this callback received.
    fn promise_results_count / promise_results_count_() -> u32;
    /// Promise result `i`.
    fn promise_result / promise_result_(i: u32) -> Result<Vec<u8>, CallFailure>;
    /// Sets the return value.
    fn value_return / value_return_(data: &[u8]);
    /// Stops the call with a message.
    fn panic / panic_(msg: &str) -> !;
}
