//! Tutti's consensus crate. It holds the BLS signature layer the chain needs now (block signing,
//! per-block randomness) and FBFT will need next (aggregate certificates): see [`bls`].

pub mod bls;
