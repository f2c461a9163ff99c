//! Types shared by every Tutti crate, and the one place where their encodings are defined.
//!
//! Everything that is hashed or signed is SCALE-encoded and hashed with blake3 behind a domain tag
//! (`blake3(tag || scale(value))`, see [`hash`]). The crate is `no_std` + `alloc` so that contracts,
//! the browser (compiled to wasm) and the node share the same definitions.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod account;
pub mod address;
pub mod block;
pub mod fbft;
pub mod gas;
pub mod hash;
pub mod receipt;
pub mod stake;
pub mod tx;

pub use account::Account;
pub use address::{Address, AddressError};
pub use block::{BlockHeader, CommitCertificate, Congestion, Crosslink, crosslinks_root};
pub use hash::{Hash, merkle_proof, merkle_root, merkle_verify, tagged_hash, tags};
pub use receipt::{CallFailure, DataReceiver, Event, FailureKind, Receipt, ReceiptBatch, ReceiptBody};
pub use stake::{BlsPublicKey, BlsSignature, DoubleSign, SignedHeader, StakeAction};
pub use tx::{Action, PublicKey, Signature, SignedTransaction, Transaction};

/// Re-export of the codec so dependants use the exact same version.
pub use parity_scale_codec as codec;

/// An amount of tokens in the smallest unit.
pub type Amount = u128;
/// Decimals of the native token: one token is 10^18 of the smallest unit (`atto`).
pub const TOKEN_DECIMALS: u32 = 18;
/// One native token, in the smallest unit.
pub const TOKEN: Amount = 10u128.pow(TOKEN_DECIMALS);
/// Units of gas: one unit for wasm execution, host functions and storage alike.
pub type Gas = u64;
/// A shard id. Shard 0 is the beacon chain.
pub type ShardId = u32;
/// The id of a chain (mainnet, testnet, a dev chain), signed into every transaction.
pub type ChainId = u64;
/// A block height.
pub type Height = u64;
/// A per-account transaction counter.
pub type Nonce = u64;

/// Contract storage key the runtime sets, at deploy, to the id of the receipt that runs the
/// contract's init method, and removes once that receipt ran. While it is set the contract accepts
/// no other call, and the SDK runs `#[init]` methods only while it is set: so init runs exactly
/// once, as part of the deploy, with the deployer's arguments, and nobody can call it first. (Keys
/// starting with byte 0 are reserved for the runtime and the SDK.)
pub const INIT_PENDING_KEY: &[u8] = b"\x00tutti/init-pending";

/// How many recent blocks' randomness a contract can read (`randomness_at`): the current block
/// and the `RANDOMNESS_WINDOW - 1` before it. Shards keep them in state, in a ring of this size.
pub const RANDOMNESS_WINDOW: Height = 65_536;
