//! Accounts.

use parity_scale_codec::{Decode, Encode};

use crate::{Amount, Hash, Nonce};

/// An account: balance, next nonce, and code for contracts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Account {
    /// Balance in the smallest unit.
    pub balance: Amount,
    /// The nonce the next transaction from this account must carry.
    pub nonce: Nonce,
    /// Hash of the contract code, for contracts.
    pub code_hash: Option<Hash>,
}
