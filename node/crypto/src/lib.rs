//! Tutti's validator cryptography, shared by the block rules (`tutti-chain`: the proposer's VRF
//! randomness) and consensus (`tutti-consensus`: votes and certificates): BLS12-381 signatures,
//! proofs of possession, aggregation and the per-block randomness ([`bls`]).

pub mod bls;
