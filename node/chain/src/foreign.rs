//! Headers of other shards, and what this shard accepts of them. Three paths take a header that
//! another shard's committee signed: a receipt batch (its source header), a crosslink (beacon
//! chain) and a followed header (congestion). Whoever can sign for *some* committee must not be
//! able to speak for the chain now, so every such header must, before its certificate is checked:
//! 1. be of this chain (`chain_id`), from another shard that exists;
//! 2. claim the epoch of its height ([`crate::beacon::EpochSpec::epoch_of`]): the committee
//!    that signs it is the one seated at that height, not a past one the header names. A past
//!    committee can therefore only sign headers at the heights it was seated for;
//! 3. for receipt batches, move past what this shard already consumed from that source: its
//!    height is above the last consumed source block's (kept in state, [`last_consumed`]), so a
//!    past committee cannot sign a block this shard already has a successor of.
//!
//! Rules 1-3 hold in [`crate::block::validate`], so they bind every node. A past committee can
//! still sign a fork at heights of its own epoch that no batch consumed yet; what closes that is
//! the beacon chain: its crosslinks are one contiguous, epoch-bound chain per shard, and a node
//! votes for (and its inbox keeps) a batch only once its source header is that chain's block at
//! that height ([`Finality`]; the rule lives in the node's shell, which holds the beacon).

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{BlockHeader, Hash, Height, ReceiptBatch, ShardId};

use crate::ShardSpec;

/// Why a header of another shard is refused before its certificate is looked at.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForeignError {
    /// Signed for another chain.
    #[error("the header is of chain {chain_id}, this is chain {expected}")]
    WrongChain {
        /// Its chain id.
        chain_id: u64,
        /// This chain's.
        expected: u64,
    },
    /// From a shard that does not exist, or from this shard itself.
    #[error("the header is of shard {shard}, which is not another shard of {shards} (this is {this})")]
    WrongShard {
        /// Its shard.
        shard: ShardId,
        /// This shard.
        this: ShardId,
        /// Shards in all.
        shards: u32,
    },
    /// Its epoch is not the epoch of its height: it names a committee not seated at that height.
    #[error("shard {shard} block {height} claims epoch {epoch}; that height is in epoch {expected}")]
    WrongEpoch {
        /// Its shard.
        shard: ShardId,
        /// Its height.
        height: Height,
        /// The epoch it claims.
        epoch: u64,
        /// The epoch of its height.
        expected: u64,
    },
    /// At or below the source block this shard last consumed receipts of.
    #[error("shard {shard} block {height} is not past block {last}, whose receipts this shard already consumed")]
    NotAfter {
        /// Its shard.
        shard: ShardId,
        /// Its height.
        height: Height,
        /// The last consumed source block's height.
        last: Height,
    },
    /// The beacon chain holds another block of that shard at that height.
    #[error("shard {shard} block {height} is {got}, but the beacon chain holds {beacon} at that height")]
    NotOnBeacon {
        /// Its shard.
        shard: ShardId,
        /// Its height.
        height: Height,
        /// Its hash.
        got: Hash,
        /// The hash the beacon chain holds.
        beacon: Hash,
    },
}

/// Checks rules 1 and 2 of the module doc for a header that shard `spec` takes from another shard.
pub fn check_header(spec: &ShardSpec, h: &BlockHeader) -> Result<(), ForeignError> {
    if h.chain_id != spec.rules.chain_id {
        return Err(ForeignError::WrongChain {
            chain_id: h.chain_id,
            expected: spec.rules.chain_id,
        });
    }
    if h.shard_id >= spec.num_shards || h.shard_id == spec.shard_id {
        return Err(ForeignError::WrongShard {
            shard: h.shard_id,
            this: spec.shard_id,
            shards: spec.num_shards,
        });
    }
    let expected = spec.epochs.epoch_of(h.height);
    if h.epoch != expected {
        return Err(ForeignError::WrongEpoch {
            shard: h.shard_id,
            height: h.height,
            epoch: h.epoch,
            expected,
        });
    }
    Ok(())
}

/// The source block this shard last consumed receipts of, per source: `(height, header hash)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Consumed {
    /// The source block's height (0: nothing consumed yet; a genesis block sends nothing).
    pub height: Height,
    /// Its header hash.
    pub hash: Hash,
}

/// State key of what this shard last consumed from `source` ([`Consumed`]).
pub fn last_consumed_key(source: ShardId) -> Vec<u8> {
    let mut k = b"n/last/".to_vec();
    k.extend_from_slice(&source.to_be_bytes());
    k
}

/// What a block's receipt batches (in order) leave consumed, per source: each source's last
/// batch's header.
pub fn consumed_by(batches: &[ReceiptBatch]) -> Vec<(ShardId, Consumed)> {
    let mut out: std::collections::BTreeMap<ShardId, Consumed> = std::collections::BTreeMap::new();
    for b in batches {
        out.insert(
            b.header.shard_id,
            Consumed {
                height: b.header.height,
                hash: b.header.hash(),
            },
        );
    }
    out.into_iter().collect()
}

/// Rule 3 of the module doc: a batch's source header must be above `last`.
pub fn check_after(h: &BlockHeader, last: &Consumed) -> Result<(), ForeignError> {
    if h.height <= last.height {
        return Err(ForeignError::NotAfter {
            shard: h.shard_id,
            height: h.height,
            last: last.height,
        });
    }
    Ok(())
}

/// Where a source header stands on the beacon chain, as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finality {
    /// The beacon chain holds exactly this block at that height.
    Final,
    /// The beacon chain has not reached that height of that shard yet.
    NotYet,
    /// The beacon chain holds another block at that height: the header is a fork.
    Conflicts(ForeignError),
}

impl Finality {
    /// Compares a header with the hash the beacon chain holds at its height (`None`: none yet).
    pub fn of(h: &BlockHeader, beacon: Option<Hash>) -> Finality {
        match beacon {
            None => Finality::NotYet,
            Some(b) if b == h.hash() => Finality::Final,
            Some(b) => Finality::Conflicts(ForeignError::NotOnBeacon {
                shard: h.shard_id,
                height: h.height,
                got: h.hash(),
                beacon: b,
            }),
        }
    }
}
