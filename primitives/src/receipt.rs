//! Receipts, call failures and events.
//!
//! A receipt is what a transaction or a contract call produces for another account: a call to
//! execute, data (the result of a call) for a callback that waits for it, or a transfer (including
//! refunds). Receipts are routed by the receiver's home shard; the source shard numbers them per
//! (source, destination) pair so that delivery is exactly once and in order.

use alloc::{string::String, vec::Vec};
use core::fmt;
use parity_scale_codec::{Decode, Encode};

use crate::{Address, Amount, Gas, Hash, ShardId, hash::hash_encoded, tags};

/// Why a call failed. The set is closed: every failure a contract call can meet maps to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum FailureKind {
    /// Gas ran out; gas used equals the limit.
    #[codec(index = 0)]
    OutOfGas,
    /// The contract called `panic` (its message is in [`CallFailure::message`]).
    #[codec(index = 1)]
    Panic,
    /// A wasm trap: unreachable, out-of-bounds access, division by zero, bad host pointer...
    #[codec(index = 2)]
    Trap,
    /// The deterministic call-depth / stack-height limit was exceeded.
    #[codec(index = 3)]
    StackOverflow,
    /// Linear memory or tables grew past the limit.
    #[codec(index = 4)]
    MemoryLimit,
    /// The method is not exported by the contract.
    #[codec(index = 5)]
    MethodNotFound,
    /// There is no contract at the address.
    #[codec(index = 6)]
    NoContract,
    /// The contract's code failed validation.
    #[codec(index = 7)]
    InvalidCode,
    /// A transfer or attached value exceeded the balance.
    #[codec(index = 8)]
    InsufficientBalance,
    /// A host function was called with arguments it refuses (bad promise index, oversize key...).
    #[codec(index = 9)]
    HostError,
    /// A staking action broke a staking rule (the message says which and what to change).
    #[codec(index = 10)]
    Staking,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            FailureKind::OutOfGas => "out of gas",
            FailureKind::Panic => "panic",
            FailureKind::Trap => "trap",
            FailureKind::StackOverflow => "stack overflow",
            FailureKind::MemoryLimit => "memory limit",
            FailureKind::MethodNotFound => "method not found",
            FailureKind::NoContract => "no contract",
            FailureKind::InvalidCode => "invalid code",
            FailureKind::InsufficientBalance => "insufficient balance",
            FailureKind::HostError => "host error",
            FailureKind::Staking => "staking rule",
        };
        f.write_str(s)
    }
}

/// A failed call: its kind and a message a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CallFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// Details (the panic message, the trap, the rule broken).
    pub message: String,
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.kind, self.message)
        }
    }
}

/// An event emitted by a contract.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Event {
    /// The contract that emitted it.
    pub contract: Address,
    /// Event name, e.g. `Transfer`.
    pub name: String,
    /// SCALE-encoded payload.
    pub data: Vec<u8>,
}

/// Where the result of a call must be sent: the callback receipt waiting for `data_id`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DataReceiver {
    /// The id the callback waits for.
    pub data_id: Hash,
    /// The account whose callback waits (the caller).
    pub receiver: Address,
}

/// What a receipt asks its receiver to do.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ReceiptBody {
    /// Execute a method. It runs once every id in `input_data_ids` has arrived as a
    /// [`ReceiptBody::Data`] receipt; its result is sent to each of `output_data_receivers`.
    #[codec(index = 0)]
    Call {
        /// Method name.
        method: String,
        /// SCALE-encoded arguments.
        args: Vec<u8>,
        /// Tokens attached (refunded to the predecessor if the call fails).
        value: Amount,
        /// Gas prepaid for the call.
        gas: Gas,
        /// Results this call waits for (a callback), in promise order.
        input_data_ids: Vec<Hash>,
        /// Callbacks that wait for this call's result.
        output_data_receivers: Vec<DataReceiver>,
    },
    /// The result of a call, for the callback waiting on `data_id`.
    #[codec(index = 1)]
    Data {
        /// Which input this fills.
        data_id: Hash,
        /// The call's return data, or its failure.
        result: Result<Vec<u8>, CallFailure>,
    },
    /// Credit tokens (transfers from contracts, refunds).
    #[codec(index = 2)]
    Transfer {
        /// Amount credited.
        amount: Amount,
    },
}

/// A receipt, routed to the receiver's home shard.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Receipt {
    /// Unique id, derived from what created it (see [`Receipt::derive_id`]).
    pub id: Hash,
    /// The shard that produced it.
    pub source_shard: ShardId,
    /// The receiver's home shard.
    pub dest_shard: ShardId,
    /// Position in the (source, destination) stream; assigned when it enters the outbox.
    pub seq: u64,
    /// The account that created it (the caller, for the receiver).
    pub predecessor: Address,
    /// The account that executes it.
    pub receiver: Address,
    /// The signer of the transaction at the root of this receipt tree.
    pub signer: Address,
    /// The gas price of that transaction (unused prepaid gas is refunded to the signer at it).
    pub gas_price: Amount,
    /// What to do.
    pub body: ReceiptBody,
}

impl Receipt {
    /// The id of the `index`-th receipt created by the transaction or receipt `parent`.
    pub fn derive_id(parent: &Hash, index: u32) -> Hash {
        hash_encoded(tags::RECEIPT, &(parent, index))
    }

    /// The id of the `index`-th data dependency created by the transaction or receipt `parent`.
    pub fn derive_data_id(parent: &Hash, index: u32) -> Hash {
        hash_encoded(tags::DATA_ID, &(parent, index))
    }

    /// The hash committed to in receipt roots.
    pub fn hash(&self) -> Hash {
        hash_encoded(tags::RECEIPT, self)
    }
}

/// The leaf of a block's outgoing-receipts root for destination `dest`: its receipts for `dest`
/// (possibly none), whose sequence numbers start at `first_seq`.
pub fn outgoing_leaf(source: ShardId, dest: ShardId, first_seq: u64, receipts: &[Receipt]) -> Hash {
    hash_encoded(tags::OUTGOING_RECEIPTS, &(source, dest, first_seq, receipts))
}

/// The leaves of a block's outgoing-receipts root, one per shard `0..num_shards` (also when
/// empty, so a destination can prove it holds *all* of the block's receipts for it): `outgoing`
/// in block order, split by destination; `first_seq[d]` is the stream position of the first.
pub fn outgoing_leaves(source: ShardId, num_shards: u32, first_seq: &[u64], outgoing: &[Receipt]) -> Vec<Hash> {
    (0..num_shards)
        .map(|d| {
            let mine: Vec<Receipt> = outgoing.iter().filter(|r| r.dest_shard == d).cloned().collect();
            outgoing_leaf(source, d, first_seq.get(d as usize).copied().unwrap_or(0), &mine)
        })
        .collect()
}

/// A block's outgoing-receipts root (the header's `outgoing_receipts_root`).
pub fn outgoing_root(source: ShardId, num_shards: u32, first_seq: &[u64], outgoing: &[Receipt]) -> Hash {
    crate::merkle_root(&outgoing_leaves(source, num_shards, first_seq, outgoing))
}

/// Most receipts one batch (everything one source block sends one destination) may carry. A
/// destination refuses a larger batch (it bounds what a peer can make a node hash and hold), so
/// a source never puts more in one block for one destination: its schedule stops taking work
/// before that (`tutti_runtime::schedule`), and what is left waits, in order, for the next block.
pub const MAX_BATCH_RECEIPTS: usize = 100_000;

/// Most bytes the receipts of one batch may take, SCALE encoded ([`receipts_bytes`]): 3 MiB. A
/// block body takes at most this much of incoming receipts in all, so a batch always fits a
/// block (`tutti_chain::block::MAX_BODY_BYTES`) with room left for the largest transaction; a
/// source's schedule stops sending a destination more in one block the same way as for
/// [`MAX_BATCH_RECEIPTS`].
pub const MAX_BATCH_BYTES: usize = 3 << 20;

/// The encoded bytes of `receipts` (what [`MAX_BATCH_BYTES`] bounds).
pub fn receipts_bytes<'a>(receipts: impl IntoIterator<Item = &'a Receipt>) -> usize {
    receipts.into_iter().map(|r| r.encoded_size()).sum()
}

/// What a source shard's block sent one destination, with the proof that it is all of it: the
/// source header (its `outgoing_receipts_root`), the commit certificate of that header (signed by
/// more than 2/3 of the source committee at the header's epoch), and the Merkle path of the
/// destination's leaf.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ReceiptBatch {
    /// The source block's header.
    pub header: crate::BlockHeader,
    /// The source block's commit certificate.
    pub cert: crate::CommitCertificate,
    /// The destination shard.
    pub dest: ShardId,
    /// The stream position of the first receipt (the cursor, for an empty batch).
    pub first_seq: u64,
    /// The receipts, in stream order.
    pub receipts: Vec<Receipt>,
    /// The siblings from the destination's leaf to the root ([`crate::merkle_proof`]).
    pub path: Vec<Hash>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn receipt_round_trips_and_ids_are_distinct() {
        let parent = Hash([3; 32]);
        let r = Receipt {
            id: Receipt::derive_id(&parent, 0),
            source_shard: 0,
            dest_shard: 1,
            seq: 9,
            predecessor: Address([1; 32]),
            receiver: Address([2; 32]),
            signer: Address([1; 32]),
            gas_price: 1,
            body: ReceiptBody::Call {
                method: "pong".into(),
                args: vec![],
                value: 0,
                gas: 10,
                input_data_ids: vec![Receipt::derive_data_id(&parent, 0)],
                output_data_receivers: vec![],
            },
        };
        let enc = r.encode();
        assert_eq!(Receipt::decode(&mut &enc[..]).unwrap(), r);
        assert_ne!(Receipt::derive_id(&parent, 0), Receipt::derive_id(&parent, 1));
        assert_ne!(Receipt::derive_id(&parent, 0), Receipt::derive_data_id(&parent, 0));
    }
}
