//! Tutti's consensus crate: FBFT as a pure state machine ([`fbft`]: committees and quorums,
//! messages and their signing tags, the core, the persisted signing record) and its deterministic
//! simulator ([`sim`], feature `test-utils`). It depends on primitives and the crypto crate only:
//! block rules live in `tutti-chain`, I/O in the node's shell.

pub use tutti_crypto::bls;
pub mod fbft;
#[cfg(feature = "test-utils")]
pub mod sim;
