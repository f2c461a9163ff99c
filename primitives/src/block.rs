//! Block headers and commit certificates.
//!
//! A header commits to the transactions, the state, the receipts it sends (per destination shard)
//! and receives, and carries the commit certificate of its parent, so that block N is final once
//! block N+1 shows more than 2/3 of the committee's voting power signed it.

use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

use crate::{ChainId, Gas, Hash, Height, ShardId, hash::hash_encoded, tags};

/// An aggregate BLS signature (G2, 96 bytes compressed) and the bitmap of committee members who signed.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CommitCertificate {
    /// The view in which the block was committed.
    pub view: u64,
    /// Aggregate signature over the commit message.
    pub signature: [u8; 96],
    /// Bit i set when committee member i signed.
    pub signers: Vec<u8>,
}

/// A shard's load after a block, published in its header for the shards that send it receipts:
/// congestion control between shards (after NEAR's NEP-539). A source compares what it sent the
/// shard with what the shard consumed, and stops admitting transactions for it while the
/// difference plus the delayed queue is large ([`Congestion::load_from`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Congestion {
    /// Receipts waiting in the shard's delayed queue after the block.
    pub delayed: u64,
    /// Per source shard (index = shard id, one entry per shard): the sequence number the shard
    /// expects next from that source, i.e. how much of the stream it has consumed (its own entry
    /// is 0).
    pub consumed: Vec<u64>,
}

impl Congestion {
    /// The load a source sees on this shard: receipts it sent (`sent`: its outgoing cursor for
    /// this shard) that the shard has not consumed yet, plus the shard's delayed queue.
    pub fn load_from(&self, source: ShardId, sent: u64) -> u64 {
        let consumed = self.consumed.get(source as usize).copied().unwrap_or(0);
        sent.saturating_sub(consumed).saturating_add(self.delayed)
    }
}

/// A block header.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BlockHeader {
    /// Chain id.
    pub chain_id: ChainId,
    /// The shard this block belongs to.
    pub shard_id: ShardId,
    /// Height (genesis is 0).
    pub height: Height,
    /// Epoch (committees change per epoch).
    pub epoch: u64,
    /// Consensus view in which it was proposed.
    pub view: u64,
    /// Hash of the parent header.
    pub parent_hash: Hash,
    /// Milliseconds since the Unix epoch, as set by the proposer.
    pub timestamp_ms: u64,
    /// Root of the block's transactions.
    pub tx_root: Hash,
    /// Root of the state after the block.
    pub state_root: Hash,
    /// Root over the outgoing receipts, per destination shard.
    pub outgoing_receipts_root: Hash,
    /// Root over the incoming receipts executed in this block.
    pub incoming_receipts_root: Hash,
    /// Root over the crosslinks the block carries ([`crosslinks_root`]; beacon blocks only).
    pub crosslinks_root: Hash,
    /// Gas used by the block.
    pub gas_used: Gas,
    /// The shard's load after the block (for congestion control between shards).
    pub congestion: Congestion,
    /// The proposer's BLS public key (G1, 48 bytes compressed).
    pub proposer: [u8; 48],
    /// The proposer's BLS signature over the parent's randomness (a VRF output proof).
    pub randomness_proof: [u8; 96],
    /// `blake3` of `randomness_proof`: the block's randomness, readable by contracts.
    pub randomness: Hash,
    /// The commit certificate of the parent (absent for the first block after genesis).
    pub parent_commit: Option<CommitCertificate>,
}

impl BlockHeader {
    /// The header hash, which identifies the block.
    pub fn hash(&self) -> Hash {
        hash_encoded(tags::HEADER, self)
    }
}

/// A shard block's header with its commit certificate, carried to the beacon chain: what
/// rewards and liveness are computed from and what a light client follows.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Crosslink {
    /// The shard block's header.
    pub header: BlockHeader,
    /// Its commit certificate (more than 2/3 of its committee's power).
    pub cert: CommitCertificate,
}

/// The root a beacon header commits its crosslinks to: the Merkle root of
/// `blake3("tutti/crosslink/v1" || scale(crosslink))`, in order (zero for none).
pub fn crosslinks_root(links: &[Crosslink]) -> Hash {
    crate::merkle_root(
        &links
            .iter()
            .map(|l| hash_encoded(tags::CROSSLINK, l))
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_hash_is_pinned() {
        let h = BlockHeader {
            chain_id: 7,
            shard_id: 1,
            height: 42,
            epoch: 2,
            view: 3,
            parent_hash: Hash([1; 32]),
            timestamp_ms: 1_700_000_000_000,
            tx_root: Hash([2; 32]),
            state_root: Hash([3; 32]),
            outgoing_receipts_root: Hash([4; 32]),
            incoming_receipts_root: Hash([5; 32]),
            crosslinks_root: Hash([10; 32]),
            gas_used: 21_000,
            congestion: Congestion {
                delayed: 5,
                consumed: alloc::vec![0, 0, 9],
            },
            proposer: [6; 48],
            randomness_proof: [7; 96],
            randomness: Hash([8; 32]),
            parent_commit: Some(CommitCertificate {
                view: 3,
                signature: [9; 96],
                signers: alloc::vec![0b1011],
            }),
        };
        let enc = h.encode();
        assert_eq!(
            enc.len(),
            8 + 4 + 8 + 8 + 8 + 32 + 8 + 32 * 5 + 8 + (8 + 1 + 3 * 8) + 48 + 96 + 32 + 1 + 8 + 96 + 1 + 1
        );
        assert_eq!(BlockHeader::decode(&mut &enc[..]).unwrap(), h);
        assert_eq!(
            hex::encode(h.hash().0),
            "75b273bb6d4d07b6fbf6eff085ed8ac89555de574218e70bb71ff240edc85d31"
        );
    }
}
