//! Staking actions: what a transaction on the beacon chain (shard 0) asks of the validator
//! registry. The rules they are checked against live with the beacon state (`tutti-chain`'s
//! `staking` module); amounts are in the smallest unit, commissions in basis points
//! (10,000 = 100 %).

use alloc::string::String;
use parity_scale_codec::{Decode, Encode};

use crate::Amount;

/// A compressed BLS12-381 G1 public key: a validator's consensus key.
pub type BlsPublicKey = [u8; 48];
/// A compressed BLS12-381 G2 signature.
pub type BlsSignature = [u8; 96];

/// A staking action, signed by the account it acts for.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum StakeAction {
    /// Register a validator operated by the signer, with its self-stake taken from the signer's
    /// balance.
    #[codec(index = 0)]
    CreateValidator {
        /// The consensus key (one validator per key).
        key: BlsPublicKey,
        /// Proof of possession: the key's signature over itself, so nobody registers a key
        /// built to cancel others' in an aggregate.
        proof: BlsSignature,
        /// Self-stake.
        self_stake: Amount,
        /// Commission on rewards, basis points.
        commission_bps: u16,
        /// The highest commission it may ever set (fixed).
        max_commission_bps: u16,
        /// The most its commission may move within one epoch (fixed).
        max_change_bps: u16,
        /// A display name.
        name: String,
    },
    /// Change a validator's commission and/or name (its operator only).
    #[codec(index = 1)]
    EditValidator {
        /// The validator.
        key: BlsPublicKey,
        /// New commission, basis points.
        commission_bps: Option<u16>,
        /// New name.
        name: Option<String>,
    },
    /// Delegate part of the signer's balance to a validator.
    #[codec(index = 2)]
    Delegate {
        /// The validator.
        key: BlsPublicKey,
        /// Amount.
        amount: Amount,
    },
    /// Undelegate: the amount stops earning at once and is paid back after the unbonding period.
    #[codec(index = 3)]
    Undelegate {
        /// The validator.
        key: BlsPublicKey,
        /// Amount.
        amount: Amount,
    },
    /// Pay the signer every reward its delegations earned.
    #[codec(index = 4)]
    CollectRewards,
    /// Report a validator that signed two different blocks at one (shard, epoch, height, view,
    /// phase); the reporter gets part of what is cut.
    #[codec(index = 5)]
    ReportDoubleSign(alloc::boxed::Box<DoubleSign>),
}

/// A header and a validator's signature of it in some phase.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedHeader {
    /// The header (its hash is what was signed).
    pub header: crate::BlockHeader,
    /// The validator's BLS signature of the phase's message for it.
    pub signature: BlsSignature,
}

/// Evidence of double signing: one key's signatures of two different headers of one shard and
/// epoch, at one height, in one view and phase.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DoubleSign {
    /// The validator's key.
    pub key: BlsPublicKey,
    /// The phase both signatures were given in.
    pub phase: crate::fbft::Phase,
    /// The view both were given in.
    pub view: u64,
    /// The first signed header.
    pub first: SignedHeader,
    /// The second, a different header at the same height.
    pub second: SignedHeader,
}

impl StakeAction {
    /// A short name, for logs and display.
    pub fn kind(&self) -> &'static str {
        match self {
            StakeAction::CreateValidator { .. } => "create-validator",
            StakeAction::EditValidator { .. } => "edit-validator",
            StakeAction::Delegate { .. } => "delegate",
            StakeAction::Undelegate { .. } => "undelegate",
            StakeAction::CollectRewards => "collect-rewards",
            StakeAction::ReportDoubleSign(_) => "report-double-sign",
        }
    }

    /// How much of the signer's spendable balance the action locks (self-stake, delegation).
    pub fn locks(&self) -> Amount {
        match self {
            StakeAction::CreateValidator { self_stake, .. } => *self_stake,
            StakeAction::Delegate { amount, .. } => *amount,
            _ => 0,
        }
    }
}
