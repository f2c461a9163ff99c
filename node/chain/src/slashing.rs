//! Slashing for double signing, checked from evidence submitted on the beacon chain.
//!
//! Rules:
//! - Evidence ([`DoubleSign`]) holds one key's signatures, in one phase and view, of two headers
//!   with the same shard, epoch and height and different hashes. It is valid when both
//!   signatures verify under the key for that phase's message (`tutti_primitives::fbft`). A
//!   header's hash commits to its shard and epoch, so nobody can present two honest signatures
//!   from different places as one double signing.
//! - The headers must be of this chain, and the key a registered validator seated on that shard
//!   in that epoch (a key signing where it holds no seat endangers nobody; counting it would let
//!   an operator cut its own delegators for made-up equivocations). Evidence from an epoch more
//!   than the unbonding period before the current one is stale (the stake it would cut may have
//!   left).
//! - A validator is slashed once (tombstoned, as Cosmos does): any later report against it is
//!   refused, so n reports cut its delegations once, not 1 - 0.9^n of them. Each offense (key,
//!   shard, epoch, height, view) is also marked, whatever phases it shows in.
//! - Penalty: [`SLASH_BPS`] of every delegation to the validator (delegated and still
//!   unbonding amounts alike, so undelegating just before does not escape it); the reporter
//!   gets half of what the operator's own delegation lost ([`Cut::reward`]), the rest is burnt. The validator is marked slashed and never stands
//!   for election again, so it leaves its committee from the next election on; its delegators
//!   may still undelegate.

use tutti_primitives::{BlockHeader, DoubleSign, tagged_hash};

use crate::staking::{BlsKey, StakeStore, StakingError};

/// The part of every delegation cut for double signing, basis points (10 %).
pub const SLASH_BPS: u16 = 1_000;

/// Why evidence of double signing was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The two headers are at different heights.
    #[error("the two headers are at heights {first} and {second}; double signing is two blocks at one height")]
    DifferentHeights {
        /// First header's height.
        first: u64,
        /// Second header's height.
        second: u64,
    },
    /// The two headers belong to different shards or epochs.
    #[error("the two headers belong to different shards or epochs")]
    DifferentPlace,
    /// Both headers are the same block.
    #[error("both signatures are of the same block; that is not double signing")]
    SameBlock,
    /// A signature does not verify under the key.
    #[error("the {which} signature does not verify under the reported key")]
    BadSignature {
        /// `first` or `second`.
        which: &'static str,
    },
    /// The headers are of another chain.
    #[error("the headers are of chain {chain_id}, this is chain {expected}")]
    WrongChain {
        /// Their chain id.
        chain_id: u64,
        /// This chain's.
        expected: u64,
    },
    /// The key or a signature is not a valid curve point.
    #[error("the reported key or a signature is not a valid BLS12-381 encoding")]
    Malformed,
}

/// Checks that `ev` shows its key signing two different blocks at one (shard, epoch, height,
/// view, phase).
pub fn verify(ev: &DoubleSign) -> Result<(), EvidenceError> {
    let (a, b) = (&ev.first.header, &ev.second.header);
    if a.height != b.height {
        return Err(EvidenceError::DifferentHeights {
            first: a.height,
            second: b.height,
        });
    }
    if (a.chain_id, a.shard_id, a.epoch) != (b.chain_id, b.shard_id, b.epoch) {
        return Err(EvidenceError::DifferentPlace);
    }
    let (ha, hb) = (a.hash(), b.hash());
    if ha == hb {
        return Err(EvidenceError::SameBlock);
    }
    let key = tutti_crypto::bls::PublicKey::from_bytes(&ev.key).map_err(|_| EvidenceError::Malformed)?;
    for (which, h, sig) in [("first", ha, &ev.first.signature), ("second", hb, &ev.second.signature)] {
        let sig = tutti_crypto::bls::Signature::from_bytes(sig).map_err(|_| EvidenceError::Malformed)?;
        let (tag, msg) = ev.phase.signed(a.height, ev.view, &h);
        if !key.verify(tag, &msg, &sig) {
            return Err(EvidenceError::BadSignature { which });
        }
    }
    Ok(())
}

/// The identity of an offense (key, shard, epoch, height, view), to punish it once.
pub fn offense_id(ev: &DoubleSign) -> tutti_primitives::Hash {
    use parity_scale_codec::Encode;
    let h: &BlockHeader = &ev.first.header;
    tagged_hash(
        tutti_primitives::tags::DOUBLE_SIGN,
        &(ev.key, h.shard_id, h.epoch, h.height, ev.view).encode(),
    )
}

/// What a slash cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cut {
    /// From every delegation, self-stake included.
    pub total: tutti_primitives::Amount,
    /// From the operator's own delegation (its self-stake).
    pub own: tutti_primitives::Amount,
}

impl Cut {
    /// The reporter's reward: half of what the operator itself lost, never the delegators' part
    /// (paid from their cut, a report by the operator's own second account would earn it half
    /// of its delegators' loss, more than its own; this way reporting itself always costs the
    /// operator twice what it earns).
    pub fn reward(&self) -> tutti_primitives::Amount {
        self.own / 2
    }
}

/// Cuts [`SLASH_BPS`] of every delegation to `key` (delegated and unbonding) and marks the
/// validator slashed; returns what was cut (the caller pays the reporter [`Cut::reward`] and
/// burns the rest).
pub fn slash(st: &mut impl StakeStore, key: &BlsKey) -> Result<Cut, StakingError> {
    let mut v = st.validator(key).ok_or_else(|| StakingError::UnknownValidator {
        key: format!("0x{}", hex::encode(key)),
    })?;
    let cut_of = |a: tutti_primitives::Amount| crate::staking::mul_div(a, u128::from(SLASH_BPS), 10_000);
    let mut cut = Cut::default();
    for (who, mut d) in st.delegations(key) {
        let mut theirs = cut_of(d.amount);
        d.amount -= theirs;
        v.total -= theirs;
        for (amount, _) in d.unbonding.iter_mut() {
            let c = cut_of(*amount);
            *amount -= c;
            theirs += c;
        }
        cut.total += theirs;
        if who == v.operator {
            cut.own += theirs;
        }
        st.put_delegation(key, &who, Some(&d));
    }
    v.slashed = true;
    st.put_validator(&v);
    Ok(cut)
}
