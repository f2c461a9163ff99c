//! Tutti's consensus crate: the BLS signature layer ([`bls`]: block signing, per-block
//! randomness, aggregate certificates) and block production for a committee of one ([`solo`], the
//! `tutti dev` chain). FBFT for larger committees builds on both.

pub mod bls;
pub mod fbft;
#[cfg(feature = "test-utils")]
pub mod sim;
pub mod solo;
