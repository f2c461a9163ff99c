//! Receipt batches between shards: what a source shard's committed block sent one destination,
//! with the proof that it is all of it ([`ReceiptBatch`]), made from the store
//! ([`Chain::receipt_batch`]) and checked by the destination ([`verify_batch`]).
//!
//! A destination shard `d` accepts a batch only if, in this order (cheap checks first):
//! 1. it holds at least one and at most [`MAX_BATCH_RECEIPTS`] receipts taking at most
//!    [`MAX_BATCH_BYTES`] (an empty batch proves something but delivers nothing, so nobody needs
//!    to send one);
//! 2. it is for `d`, from another existing shard of this chain, and its header claims the epoch
//!    of its height ([`crate::foreign::check_header`]);
//! 3. its receipts are the source's, for `d`, numbered `first_seq, first_seq + 1, ...`;
//! 4. the destination's leaf (`source, d, first_seq, receipts`) is at index `d` of the header's
//!    outgoing-receipts root, by the Merkle path (the number of leaves is `d`'s own shard count);
//! 5. `first_seq` is the next position `d` expects from the source (kept in `d`'s state: below it
//!    is a replay, above it a gap);
//! 6. its header is above the source block `d` last consumed receipts of (kept in `d`'s state:
//!    [`crate::foreign::check_after`]), so no committee can sign a block `d` already passed;
//! 7. the commit certificate signs the header with more than 2/3 of the source committee at the
//!    header's epoch (checked by the caller's `check_cert`, which knows the committees).

use parity_scale_codec::Decode;
use tutti_primitives::{
    BlockHeader, CommitCertificate, Hash, Height, Receipt, ReceiptBatch, ShardId, merkle_proof, merkle_verify,
    receipt::{outgoing_leaf, outgoing_leaves},
};

use crate::{
    Chain, ChainError, Column, Result, ShardSpec,
    chain::stream_key,
    exec::{QUEUE_HEAD, QUEUE_TAIL, incoming_cursor_key, outgoing_cursor_key},
    foreign::{self, Consumed, ForeignError},
};

pub use tutti_primitives::receipt::{MAX_BATCH_BYTES, MAX_BATCH_RECEIPTS};

/// Most bytes of receipts one answer to a pull carries ([`Chain::receipt_batches_from`]): 16
/// MiB, half of what an answer may take on the wire, so several large batches never make an
/// answer no one can receive.
pub const MAX_PULL_BYTES: usize = 16 << 20;

/// Why a receipt batch was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// No receipts.
    #[error("the batch carries no receipts")]
    Empty,
    /// More receipts than [`MAX_BATCH_RECEIPTS`].
    #[error("the batch carries {receipts} receipts, more than {MAX_BATCH_RECEIPTS}")]
    Oversize {
        /// How many.
        receipts: usize,
    },
    /// Receipts taking more bytes than [`MAX_BATCH_BYTES`].
    #[error("the batch's receipts take {bytes} bytes, more than {MAX_BATCH_BYTES}")]
    TooManyBytes {
        /// How many.
        bytes: usize,
    },
    /// For another shard.
    #[error("the batch is for shard {dest}, not this shard {shard}")]
    WrongDestination {
        /// The batch's destination.
        dest: ShardId,
        /// This shard.
        shard: ShardId,
    },
    /// From a shard that does not exist, or from this shard itself.
    #[error("the batch comes from shard {source_shard}, which cannot send to shard {shard} of {shards}")]
    BadSource {
        /// The header's shard.
        source_shard: ShardId,
        /// This shard.
        shard: ShardId,
        /// How many shards there are.
        shards: u32,
    },
    /// A receipt's own fields disagree with its place in the batch.
    #[error("receipt {index} of the batch: {reason}")]
    Mismatch {
        /// Its index.
        index: usize,
        /// What disagrees.
        reason: &'static str,
    },
    /// The Merkle path does not lead to the header's outgoing-receipts root.
    #[error("the batch from shard {source_shard} block {height} does not match its header's outgoing-receipts root")]
    BadPath {
        /// The source shard.
        source_shard: ShardId,
        /// The source block.
        height: Height,
    },
    /// Its source header breaks a rule for headers of other shards.
    #[error("the batch's source header: {0}")]
    Foreign(#[from] ForeignError),
    /// Its receipts were already delivered.
    #[error(
        "the batch from shard {source_shard} starts at {got}; shard {shard} already has everything before {expected}"
    )]
    Replay {
        /// The source shard.
        source_shard: ShardId,
        /// This shard.
        shard: ShardId,
        /// Its first position.
        got: u64,
        /// The next position expected.
        expected: u64,
    },
    /// Receipts before it are missing.
    #[error("the batch from shard {source_shard} starts at {got}; shard {shard} expects {expected} first")]
    Gap {
        /// The source shard.
        source_shard: ShardId,
        /// This shard.
        shard: ShardId,
        /// Its first position.
        got: u64,
        /// The next position expected.
        expected: u64,
    },
    /// The commit certificate does not carry the source committee's quorum.
    #[error("the certificate of shard {source_shard} block {height}: {reason}")]
    Certificate {
        /// The source shard.
        source_shard: ShardId,
        /// The source block.
        height: Height,
        /// Why.
        reason: String,
    },
}

/// Checks what a batch for shard `spec` must be on its face, without state or signatures (rules
/// 1 to 3 of the module doc): cheap, so run first on anything from the network.
pub fn check_shape(batch: &ReceiptBatch, spec: &ShardSpec) -> std::result::Result<(), BatchError> {
    let (shard, num_shards) = (spec.shard_id, spec.num_shards);
    let source_shard = batch.header.shard_id;
    if batch.receipts.is_empty() {
        return Err(BatchError::Empty);
    }
    if batch.receipts.len() > MAX_BATCH_RECEIPTS {
        return Err(BatchError::Oversize {
            receipts: batch.receipts.len(),
        });
    }
    let bytes = tutti_primitives::receipt::receipts_bytes(&batch.receipts);
    if bytes > MAX_BATCH_BYTES {
        return Err(BatchError::TooManyBytes { bytes });
    }
    if batch.dest != shard {
        return Err(BatchError::WrongDestination {
            dest: batch.dest,
            shard,
        });
    }
    if source_shard >= num_shards || source_shard == shard {
        return Err(BatchError::BadSource {
            source_shard,
            shard,
            shards: num_shards,
        });
    }
    foreign::check_header(spec, &batch.header)?;
    for (index, r) in batch.receipts.iter().enumerate() {
        let reason = if r.source_shard != source_shard {
            "its source shard is not the header's"
        } else if r.dest_shard != shard {
            "its destination is not this shard"
        } else if Some(r.seq) != batch.first_seq.checked_add(index as u64) {
            "its sequence number is not its position in the stream"
        } else {
            continue;
        };
        return Err(BatchError::Mismatch { index, reason });
    }
    Ok(())
}

/// Checks a receipt batch for shard `spec`, which expects position `expected` next from the
/// batch's source and last consumed receipts of source block `last` (rules in the module doc).
/// `check_cert` verifies a commit certificate over a header against the source committee of the
/// header's epoch.
pub fn verify_batch(
    batch: &ReceiptBatch,
    spec: &ShardSpec,
    expected: u64,
    last: &Consumed,
    check_cert: impl FnOnce(&BlockHeader, &CommitCertificate) -> std::result::Result<(), String>,
) -> std::result::Result<(), BatchError> {
    check_shape(batch, spec)?;
    let (shard, num_shards) = (spec.shard_id, spec.num_shards);
    let h = &batch.header;
    let source_shard = h.shard_id;
    let leaf = outgoing_leaf(source_shard, shard, batch.first_seq, &batch.receipts);
    if !merkle_verify(
        &h.outgoing_receipts_root,
        &leaf,
        shard as usize,
        num_shards as usize,
        &batch.path,
    ) {
        return Err(BatchError::BadPath {
            source_shard,
            height: h.height,
        });
    }
    let got = batch.first_seq;
    if got < expected {
        return Err(BatchError::Replay {
            source_shard,
            shard,
            got,
            expected,
        });
    }
    if got > expected {
        return Err(BatchError::Gap {
            source_shard,
            shard,
            got,
            expected,
        });
    }
    foreign::check_after(h, last)?;
    check_cert(h, &batch.cert).map_err(|reason| BatchError::Certificate {
        source_shard,
        height: h.height,
        reason,
    })
}

impl Chain {
    /// The batch that committed block `height` of this shard sent shard `dest` (possibly empty),
    /// with its proof; `None` if the block is not (yet) stored with a certificate.
    pub fn receipt_batch(&self, height: Height, dest: ShardId) -> Result<Option<ReceiptBatch>> {
        let spec = self.spec();
        if dest >= spec.num_shards {
            return Ok(None);
        }
        let Some(block) = self.block_by_number(height)? else {
            return Ok(None);
        };
        let Some(cert) = block.commit.clone() else {
            return Ok(None);
        };
        let outgoing = self.outgoing(height)?;
        let first_seq = match self.first_outgoing(height)? {
            Some(first) if first.len() == spec.num_shards as usize => first,
            // Blocks stored before the positions were kept with their receipts: from the state
            // of that height (which pruning may have removed since).
            _ => {
                let mut first_seq = Vec::with_capacity(spec.num_shards as usize);
                for d in 0..spec.num_shards {
                    let first = match outgoing.iter().find(|r| r.dest_shard == d) {
                        Some(r) => r.seq,
                        // No receipt for d: its stream's cursor, unchanged by this block.
                        None => self.cursor(&outgoing_cursor_key(d), height)?,
                    };
                    first_seq.push(first);
                }
                first_seq
            }
        };
        let leaves: Vec<Hash> = outgoing_leaves(spec.shard_id, spec.num_shards, &first_seq, &outgoing);
        let path = merkle_proof(&leaves, dest as usize)
            .ok_or_else(|| ChainError::Tree(format!("no leaf {dest} among {} outgoing leaves", leaves.len())))?;
        let receipts: Vec<Receipt> = outgoing.into_iter().filter(|r| r.dest_shard == dest).collect();
        Ok(Some(ReceiptBatch {
            header: block.header,
            cert,
            dest,
            first_seq: first_seq[dest as usize],
            receipts,
            path,
        }))
    }

    /// The next stream position this shard expects from `source`, at the head.
    pub fn next_incoming(&self, source: ShardId) -> Result<u64> {
        self.cursor(&incoming_cursor_key(source), self.head().header.height)
    }

    /// The next stream position this shard expects from `source` and the source block it last
    /// consumed receipts of, both at one head (read apart, a commit in between could pair a new
    /// cursor with an old block, or the reverse).
    pub fn incoming_position(&self, source: ShardId) -> Result<(u64, Consumed)> {
        let height = self.head().header.height;
        Ok((
            self.cursor(&incoming_cursor_key(source), height)?,
            self.consumed_at(source, height)?,
        ))
    }

    /// The source block this shard last consumed receipts of from `source`, at the head.
    pub fn last_consumed(&self, source: ShardId) -> Result<Consumed> {
        self.consumed_at(source, self.head().header.height)
    }

    fn consumed_at(&self, source: ShardId, height: Height) -> Result<Consumed> {
        match self.state().get(&foreign::last_consumed_key(source), height)? {
            Some(bytes) => Consumed::decode(&mut bytes.as_slice()).map_err(|e| ChainError::Corrupt {
                what: "last consumed source block",
                detail: e.to_string(),
            }),
            None => Ok(Consumed::default()),
        }
    }

    /// The stream position the next receipt this shard sends `dest` gets, at the head.
    pub fn next_outgoing(&self, dest: ShardId) -> Result<u64> {
        self.cursor(&outgoing_cursor_key(dest), self.head().header.height)
    }

    /// How many receipts wait in the delayed queue at the head.
    pub fn delayed(&self) -> Result<u64> {
        let height = self.head().header.height;
        // Absent bounds are the queue's base (a new shard's empty queue).
        let bound = |key: &[u8]| -> Result<u64> {
            match self.state().get(key, height)? {
                Some(_) => self.cursor(key, height),
                None => Ok(tutti_runtime::schedule::QUEUE_BASE),
            }
        };
        Ok(bound(QUEUE_TAIL)?.saturating_sub(bound(QUEUE_HEAD)?))
    }

    /// The batches for `dest` from stream position `from` on, consecutive, as long as they hold
    /// at most `max_receipts` receipts and [`MAX_PULL_BYTES`] bytes of them in all (at least one
    /// batch when there is one): what a destination that expects `from` next asks for. Empty
    /// when no committed block's batch starts at `from` (nothing new, or a position inside a
    /// batch).
    pub fn receipt_batches_from(&self, dest: ShardId, from: u64, max_receipts: usize) -> Result<Vec<ReceiptBatch>> {
        let mut out = Vec::new();
        let mut next = from;
        let (mut count, mut taken) = (0, 0);
        while let Some(bytes) = self.store().get(Column::Receipts, &stream_key(dest, next))? {
            let height = Height::decode(&mut bytes.as_slice()).map_err(|e| ChainError::Corrupt {
                what: "stream index",
                detail: e.to_string(),
            })?;
            let Some(batch) = self.receipt_batch(height, dest)? else {
                break;
            };
            if batch.first_seq != next || batch.receipts.is_empty() {
                return Err(ChainError::Corrupt {
                    what: "stream index",
                    detail: format!(
                        "position {next} for shard {dest} points at block {height}, whose batch starts at {}",
                        batch.first_seq
                    ),
                });
            }
            let size = tutti_primitives::receipt::receipts_bytes(&batch.receipts);
            if !out.is_empty() && (count + batch.receipts.len() > max_receipts || taken + size > MAX_PULL_BYTES) {
                break;
            }
            count += batch.receipts.len();
            taken += size;
            next += batch.receipts.len() as u64;
            out.push(batch);
            if count >= max_receipts {
                break;
            }
        }
        Ok(out)
    }

    /// A stream cursor (a SCALE `u64`, 0 when absent) in the state at `height`.
    fn cursor(&self, key: &[u8], height: Height) -> Result<u64> {
        match self.state().get(key, height)? {
            Some(bytes) => u64::decode(&mut bytes.as_slice()).map_err(|e| ChainError::Corrupt {
                what: "stream cursor",
                detail: e.to_string(),
            }),
            None => Ok(0),
        }
    }
}
