//! The environment of the running call: who called, with what, in which block; events, logs,
//! transfers and hashing.

use alloc::string::String;
use parity_scale_codec::Encode;
use tutti_primitives::Address;

use crate::sys;

/// The immediate caller: the signer for a transaction, the calling contract for a cross-contract call.
pub fn caller() -> Address {
    sys::caller()
}

/// The signer of the transaction at the root of this call chain.
pub fn signer() -> Address {
    sys::signer()
}

/// This contract's address.
pub fn self_address() -> Address {
    sys::self_address()
}

/// Tokens attached to this call.
pub fn attached_value() -> u128 {
    sys::attached_value()
}

/// This contract's balance, including the attached value and minus what it already sent.
pub fn balance() -> u128 {
    sys::balance()
}

/// The current block height.
pub fn block_height() -> u64 {
    sys::block_height()
}

/// The current block timestamp in ms since the Unix epoch.
pub fn block_timestamp() -> u64 {
    sys::block_timestamp()
}

/// The block's randomness (a BLS-signature VRF output; see DESIGN.md section 6).
pub fn randomness() -> [u8; 32] {
    sys::randomness()
}

/// The randomness of the block at `height`: the current block or one of the
/// [`tutti_primitives::RANDOMNESS_WINDOW`]` - 1` before it. `None` for a future height, the
/// genesis, or a block that has left the window.
///
/// Reading the randomness of a fixed height chosen in advance (say, the first block after
/// ticket sales close) instead of the current block's means whoever sends the transaction, and
/// whoever includes it, cannot pick the value by picking the block.
pub fn randomness_at(height: u64) -> Option<[u8; 32]> {
    sys::randomness_at(height)
}

/// The shard executing this call.
pub fn shard_id() -> u32 {
    sys::shard_id()
}

/// Gas left.
pub fn gas_left() -> u64 {
    sys::gas_left()
}

/// Emits event `name` with a SCALE-encoded payload.
pub fn emit<T: Encode>(name: &str, payload: &T) {
    sys::emit_event(name, &payload.encode());
}

/// Writes a log line (not part of consensus state).
pub fn log(msg: &str) {
    sys::log(msg);
}

/// Sends `amount` tokens to `to` (delivered as a transfer receipt).
pub fn transfer(to: &Address, amount: u128) {
    sys::transfer(to, amount);
}

/// blake3 of `data`.
pub fn blake3(data: &[u8]) -> [u8; 32] {
    sys::blake3(data)
}

/// ed25519 verification under the chain's signature rule (the one transactions use: canonical
/// encodings, no small-order key or nonce, the cofactored equation; see
/// `tutti_primitives::tx::verify_ed25519`).
pub fn ed25519_verify(sig: &[u8; 64], pk: &[u8; 32], msg: &[u8]) -> bool {
    sys::ed25519_verify(sig, pk, msg)
}

/// Stops the call; the failure carries `msg`. State changes of this call are discarded.
pub fn panic_str(msg: &str) -> ! {
    sys::panic(msg)
}

/// Stops the call with a formatted message.
pub fn panic_string(msg: String) -> ! {
    sys::panic(&msg)
}
