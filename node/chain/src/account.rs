//! Accounts and where they live in the state tree.
//!
//! State keys (all in the one authenticated tree, versioned by height):
//! - `a/` ++ address: the [`Account`] (SCALE).
//! - `c/` ++ code hash: contract code.
//! - `s/` ++ address ++ key: contract storage.

use tutti_primitives::{Address, Hash};

pub use tutti_primitives::Account;

/// The state key of an account.
pub fn account_key(a: &Address) -> Vec<u8> {
    let mut k = b"a/".to_vec();
    k.extend_from_slice(&a.0);
    k
}

/// The state key of contract code.
pub fn code_key(h: &Hash) -> Vec<u8> {
    let mut k = b"c/".to_vec();
    k.extend_from_slice(&h.0);
    k
}

/// The state key of a contract storage entry.
pub fn storage_key(contract: &Address, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(34 + key.len());
    k.extend_from_slice(b"s/");
    k.extend_from_slice(&contract.0);
    k.extend_from_slice(key);
    k
}
