//! Block rules, in one place: building the next block on the head ([`build`]) and checking a
//! proposed one ([`validate`]). Consensus decides *which* block is final (leaders, votes,
//! certificates); this module decides what a valid block *is*.
//!
//! A block at height h on shard s is valid on top of the head (h - 1) when:
//! 1. it extends the head (parent hash and height), and is for this chain and shard and for the
//!    epoch of its height (`EpochSpec::epoch_of`: every shard counts epochs by its own height);
//! 2. its timestamp is after the parent's and at most [`MAX_CLOCK_DRIFT_MS`] ahead of the
//!    validator's clock;
//! 3. its randomness is the proposer's VRF output over the parent's randomness (a BLS signature
//!    by the proposer's key, the proof in the header);
//! 4. its transaction root commits to its transactions, and every transaction passes the
//!    stateless checks (signature, chain id, bounds);
//! 0. its body (transactions, receipt batches, crosslinks) takes at most [`MAX_BODY_BYTES`]
//!    encoded, so it fits a consensus message: the transactions take at most what the batches
//!    and crosslinks leave ([`tx_room`]), a rule of execution (rule 6);
//! 5. its incoming receipts come in proven batches ([`ReceiptBatch`]: source header, commit
//!    certificate, Merkle path), at most [`MAX_INCOMING_BATCHES`] whose receipts take at most
//!    [`MAX_BATCH_BYTES`] in all, none empty, each passing
//!    [`crate::verify_batch`] against the stream cursors in the parent's state (advanced by the
//!    block's earlier batches), so every receipt is delivered once and in order per source; and
//!    together within the incoming budget the parent's delayed queue leaves ([`incoming_budget`]:
//!    one batch may pass it alone), so no proposer can grow the queue without bound;
//! 6. executing it includes every transaction (none is skipped) and gives the header's state root,
//!    receipt roots, gas used and congestion (the delayed queue and how much of each source's
//!    stream the shard has consumed, which sources read to stop sending to a congested shard). The outgoing-receipts root is a Merkle root over one leaf per
//!    destination shard, also when empty ([`tutti_primitives::receipt::outgoing_root`]), so a
//!    destination can prove it holds all of a block's receipts for it;
//! 7. on the beacon chain, its crosslinks pass [`check_crosslinks`] and match the header's
//!    crosslinks root, and the parent certificate it carries holds (its signers are rewarded);
//!    other shards' blocks carry no crosslinks.

use std::collections::{BTreeMap, HashSet};

use parity_scale_codec::Encode;

use tutti_crypto::bls::{self, BlsError, SecretKey, Signature};
use tutti_primitives::{
    BlockHeader, CommitCertificate, Crosslink, Gas, Hash, Height, Receipt, ReceiptBatch, ShardId, SignedTransaction,
    crosslinks_root,
};
use tutti_runtime::Runtime;

use crate::{
    BlockInput, BlockOutput, Chain, ChainError,
    chain::{receipts_root, tx_root},
    foreign::{self, Consumed, ForeignError},
    receipts::{BatchError, verify_batch},
    txcheck::{self, TxError},
};

/// How far ahead of a validator's clock a proposal's timestamp may be, ms.
pub const MAX_CLOCK_DRIFT_MS: u64 = 15_000;

/// Most receipt batches one block may carry (each costs a validator a certificate check).
pub const MAX_INCOMING_BATCHES: usize = 64;

/// Most bytes a block's body may take: its transactions, receipt batches and crosslinks, SCALE
/// encoded (`(txs, batches, crosslinks)`). 6 MiB: under the 8 MiB a consensus message may take
/// (`tutti_consensus::fbft::message::MAX_MESSAGE_BYTES`), which leaves 2 MiB for the header, its
/// certificates and, in a view change, the votes (about 160 bytes a seat).
pub const MAX_BODY_BYTES: usize = 6 << 20;

pub use tutti_primitives::receipt::MAX_BATCH_BYTES;

/// The encoded size of a block body.
pub fn body_bytes(txs: &[SignedTransaction], incoming: &[ReceiptBatch], crosslinks: &[Crosslink]) -> usize {
    (txs, incoming, crosslinks).encoded_size()
}

/// The bytes a block body with these receipt batches and crosslinks leaves its transactions
/// (the length prefix of the transaction list counted at its largest). Incoming receipts take at
/// most [`MAX_BATCH_BYTES`] and crosslinks about 64 KiB, so at least 2.9 MiB is left: more than
/// the largest transaction (`TxRules::max_tx_bytes`, 2.5 MiB).
pub fn tx_room(incoming: &[ReceiptBatch], crosslinks: &[Crosslink]) -> usize {
    const TX_COUNT_PREFIX: usize = 4;
    MAX_BODY_BYTES.saturating_sub(body_bytes(&[], incoming, crosslinks) - 1 + TX_COUNT_PREFIX)
}

/// The longest prefix of `batches` whose receipts take at most [`MAX_BATCH_BYTES`] in all (each
/// batch alone does: [`crate::receipts::check_shape`]).
pub fn within_incoming_bytes(mut batches: Vec<ReceiptBatch>) -> Vec<ReceiptBatch> {
    let mut bytes = 0usize;
    let keep = batches
        .iter()
        .take_while(|b| {
            bytes = bytes.saturating_add(tutti_primitives::receipt::receipts_bytes(&b.receipts));
            bytes <= MAX_BATCH_BYTES
        })
        .count();
    batches.truncate(keep);
    batches
}

/// Most crosslinks one beacon block may carry (each costs a validator a certificate check).
pub const MAX_CROSSLINKS: usize = 64;

/// Why a crosslink was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrosslinkError {
    /// Only beacon blocks carry crosslinks.
    #[error("only beacon (shard 0) blocks carry crosslinks")]
    NotBeacon,
    /// More than [`MAX_CROSSLINKS`].
    #[error("{count} crosslinks, more than {MAX_CROSSLINKS}")]
    TooMany {
        /// How many.
        count: usize,
    },
    /// For another chain, for the beacon itself or for a shard that does not exist.
    #[error("a header of chain {chain_id} shard {shard} cannot be crosslinked here")]
    WrongPlace {
        /// Its chain.
        chain_id: u64,
        /// Its shard.
        shard: ShardId,
    },
    /// Breaks a rule for headers of other shards (chain, shard, the epoch of its height).
    #[error("{0}")]
    Foreign(ForeignError),
    /// Not the next block of its shard after the latest crosslink (counting the block's earlier
    /// ones).
    #[error("shard {shard} block {height} does not extend its latest crosslink (block {expected} on {parent})")]
    NotNext {
        /// The shard.
        shard: ShardId,
        /// The header's height.
        height: Height,
        /// The height expected.
        expected: Height,
        /// The hash it must extend.
        parent: Hash,
    },
    /// The certificate does not hold for that shard's committee at the header's epoch.
    #[error("shard {shard} block {height}: {reason}")]
    Certificate {
        /// The shard.
        shard: ShardId,
        /// The height.
        height: Height,
        /// Why.
        reason: String,
    },
}

/// Checks a commit certificate over a source shard's header against that shard's committee at
/// the header's epoch (the caller knows the committees).
pub type CertCheck<'a> = &'a dyn Fn(&BlockHeader, &CommitCertificate) -> Result<(), String>;

/// Why a proposed block is invalid (or could not be checked).
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// It does not build on this node's head.
    #[error("block {height} (parent {parent}) does not extend the head {head_height} ({head})")]
    NotOnHead {
        /// The block's height.
        height: Height,
        /// Its parent hash.
        parent: Hash,
        /// The head's height.
        head_height: Height,
        /// The head's hash.
        head: Hash,
    },
    /// It is for another chain, shard or epoch.
    #[error(
        "block is for chain {chain_id} shard {shard} epoch {epoch}; this is chain {expected_chain} shard {expected_shard} epoch {expected_epoch}"
    )]
    WrongPlace {
        /// The block's chain id.
        chain_id: u64,
        /// The block's shard.
        shard: u32,
        /// The block's epoch.
        epoch: u64,
        /// This chain.
        expected_chain: u64,
        /// This shard.
        expected_shard: u32,
        /// The epoch expected.
        expected_epoch: u64,
    },
    /// The timestamp is not after the parent's.
    #[error("timestamp {got} ms is not after the parent's {parent} ms")]
    TimestampNotAfterParent {
        /// The block's timestamp.
        got: u64,
        /// The parent's.
        parent: u64,
    },
    /// The timestamp is too far ahead of the validator's clock.
    #[error("timestamp is {ahead_ms} ms ahead of this node's clock (at most {MAX_CLOCK_DRIFT_MS})")]
    TimestampAhead {
        /// How far ahead.
        ahead_ms: u64,
    },
    /// The proposer key or the randomness proof does not decode.
    #[error("the {what} does not decode: {error}")]
    BadKey {
        /// Which field.
        what: &'static str,
        /// Why.
        error: BlsError,
    },
    /// The randomness is not the proposer's VRF output over the parent's.
    #[error("the randomness is not the proposer's VRF output over the parent's")]
    BadRandomness,
    /// The transaction root does not match the transactions.
    #[error("the transaction root {header} does not match the transactions ({computed})")]
    TxRoot {
        /// In the header.
        header: Hash,
        /// Computed from the body.
        computed: Hash,
    },
    /// A transaction fails the stateless checks.
    #[error("transaction {hash}: {error}")]
    BadTransaction {
        /// The transaction.
        hash: Hash,
        /// Why.
        error: TxError,
    },
    /// A transaction does not apply (its nonce, balance, the gas limit or the receipt budget).
    #[error("transaction {hash} does not apply: {error}")]
    Skipped {
        /// The transaction.
        hash: Hash,
        /// Why.
        error: TxError,
    },
    /// A crosslink breaks a rule.
    #[error("crosslink {index}: {error}")]
    Crosslink {
        /// Its position in the block.
        index: usize,
        /// Why.
        error: CrosslinkError,
    },
    /// The crosslinks root does not match the crosslinks.
    #[error("the crosslinks root {header} does not match the crosslinks ({computed})")]
    CrosslinksRoot {
        /// In the header.
        header: Hash,
        /// Computed from the body.
        computed: Hash,
    },
    /// The parent certificate the beacon header carries does not hold (its signers are rewarded).
    #[error("the parent's commit certificate does not hold: {0}")]
    ParentCommit(String),
    /// More receipt batches than [`MAX_INCOMING_BATCHES`].
    #[error("the block carries {count} receipt batches, more than {MAX_INCOMING_BATCHES}")]
    TooManyBatches {
        /// How many.
        count: usize,
    },
    /// More incoming receipts than the budget the parent's delayed queue leaves
    /// ([`incoming_budget`]), in more than one batch (or any, with no budget).
    #[error("the block takes {got} incoming receipts in {batches} batches; the delayed queue leaves room for {budget}")]
    IncomingOverBudget {
        /// Receipts taken.
        got: usize,
        /// In how many batches.
        batches: usize,
        /// The budget.
        budget: usize,
    },
    /// The incoming receipts take more than [`MAX_BATCH_BYTES`] in all.
    #[error("the block's incoming receipts take {bytes} bytes, more than {MAX_BATCH_BYTES}")]
    IncomingOverBytes {
        /// Their encoded size.
        bytes: usize,
    },
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("the block body takes {bytes} bytes, more than {MAX_BODY_BYTES}")]
    TooLarge {
        /// Its encoded size.
        bytes: usize,
    },
    /// An incoming receipt batch is refused.
    #[error("incoming receipt batch {index}: {error}")]
    Incoming {
        /// Its index in the block.
        index: usize,
        /// Why.
        error: BatchError,
    },
    /// The state root differs from executing the block.
    #[error("state root {header} but executing the block gives {computed}")]
    StateRoot {
        /// In the header.
        header: Hash,
        /// Computed.
        computed: Hash,
    },
    /// A receipts root differs from executing the block.
    #[error("the {which} receipts root {header} does not match executing the block ({computed})")]
    ReceiptsRoot {
        /// "outgoing" or "incoming".
        which: &'static str,
        /// In the header.
        header: Hash,
        /// Computed.
        computed: Hash,
    },
    /// The published congestion differs from executing the block.
    #[error("the header's congestion {header:?} does not match executing the block ({computed:?})")]
    Congestion {
        /// In the header.
        header: tutti_primitives::Congestion,
        /// Computed.
        computed: tutti_primitives::Congestion,
    },
    /// The gas used differs from executing the block.
    #[error("gas used {header} but executing the block uses {computed}")]
    GasUsed {
        /// In the header.
        header: Gas,
        /// Computed.
        computed: Gas,
    },
    /// Executing it failed (storage, or an incoming-receipt rule).
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// A block built on the head: header, the transactions that applied, and what executing them did.
pub struct Built {
    /// The header (unsigned; certificates come from the committee).
    pub header: BlockHeader,
    /// The transactions included.
    pub txs: Vec<SignedTransaction>,
    /// The receipt batches included.
    pub incoming: Vec<ReceiptBatch>,
    /// The crosslinks included (beacon blocks).
    pub crosslinks: Vec<Crosslink>,
    /// What executing them did.
    pub output: BlockOutput,
}

/// Checks a block's crosslinks in order (rule 7): only on the beacon chain, at most
/// [`MAX_CROSSLINKS`], each a header of another shard of this chain that extends that shard's
/// latest crosslink by one block (counting the block's earlier crosslinks) with a commit
/// certificate of that shard's committee at the header's epoch.
pub fn check_crosslinks(chain: &Chain, links: &[Crosslink], check_cert: CertCheck<'_>) -> Result<(), BlockError> {
    let spec = chain.spec();
    let fail = |index, error| Err(BlockError::Crosslink { index, error });
    if links.is_empty() {
        return Ok(());
    }
    if spec.shard_id != 0 {
        return fail(0, CrosslinkError::NotBeacon);
    }
    if links.len() > MAX_CROSSLINKS {
        return fail(0, CrosslinkError::TooMany { count: links.len() });
    }
    let mut tip: std::collections::HashMap<ShardId, (Height, Hash)> = std::collections::HashMap::new();
    for (index, l) in links.iter().enumerate() {
        let h = &l.header;
        if h.chain_id != spec.rules.chain_id || h.shard_id == 0 || h.shard_id >= spec.num_shards {
            return fail(
                index,
                CrosslinkError::WrongPlace {
                    chain_id: h.chain_id,
                    shard: h.shard_id,
                },
            );
        }
        if let Err(e) = foreign::check_header(spec, h) {
            return fail(index, CrosslinkError::Foreign(e));
        }
        let (height, parent) = match tip.get(&h.shard_id) {
            Some(t) => *t,
            None => chain.crosslinked(h.shard_id)?.unwrap_or((0, Hash::ZERO)),
        };
        if h.height != height + 1 || h.parent_hash != parent {
            return fail(
                index,
                CrosslinkError::NotNext {
                    shard: h.shard_id,
                    height: h.height,
                    expected: height + 1,
                    parent,
                },
            );
        }
        check_cert(h, &l.cert).or_else(|reason| {
            fail(
                index,
                CrosslinkError::Certificate {
                    shard: h.shard_id,
                    height: h.height,
                    reason,
                },
            )
        })?;
        tip.insert(h.shard_id, (h.height, h.hash()));
    }
    Ok(())
}

/// How many incoming receipts the next block may take when `delayed` receipts already wait in
/// the shard's queue and a block runs at most `per_block`: whatever keeps the queue from growing
/// past one block's worth (the queue drains by `per_block` a block, so it stays bounded however
/// fast the sources send; what is not taken waits at the sources). One batch larger than the
/// budget may still go alone while the budget is not 0 (a source block may send up to
/// `MAX_BATCH_RECEIPTS`, which could otherwise never be taken), so the queue stays below one
/// block's worth plus one batch.
pub fn incoming_budget(delayed: u64, per_block: usize) -> usize {
    per_block.saturating_sub(delayed.min(per_block as u64) as usize)
}

/// Checks a block's receipt batches in order against the stream cursors at the head (rule 5) and
/// the incoming budget the head's delayed queue leaves ([`incoming_budget`]), and returns their
/// receipts, in order.
pub fn check_incoming(
    chain: &Chain,
    batches: &[ReceiptBatch],
    check_cert: CertCheck<'_>,
) -> Result<Vec<Receipt>, BlockError> {
    if batches.len() > MAX_INCOMING_BATCHES {
        return Err(BlockError::TooManyBatches { count: batches.len() });
    }
    let spec = chain.spec();
    if !batches.is_empty() {
        let budget = incoming_budget(chain.delayed()?, spec.max_receipts_per_block);
        let got: usize = batches.iter().map(|b| b.receipts.len()).sum();
        let alone = batches.len() == 1 && budget > 0;
        if got > budget && !alone {
            return Err(BlockError::IncomingOverBudget {
                got,
                batches: batches.len(),
                budget,
            });
        }
        let bytes: usize = batches
            .iter()
            .map(|b| tutti_primitives::receipt::receipts_bytes(&b.receipts))
            .sum();
        if bytes > MAX_BATCH_BYTES {
            return Err(BlockError::IncomingOverBytes { bytes });
        }
    }
    let mut next: std::collections::HashMap<ShardId, (u64, Consumed)> = std::collections::HashMap::new();
    let mut receipts = Vec::new();
    for (index, b) in batches.iter().enumerate() {
        let source = b.header.shard_id;
        let (expected, last) = match next.get(&source) {
            Some(n) => *n,
            None => (chain.next_incoming(source)?, chain.last_consumed(source)?),
        };
        verify_batch(b, spec, expected, &last, check_cert).map_err(|error| BlockError::Incoming { index, error })?;
        let consumed = Consumed {
            height: b.header.height,
            hash: b.header.hash(),
        };
        next.insert(source, (expected + b.receipts.len() as u64, consumed));
        receipts.extend(b.receipts.iter().cloned());
    }
    Ok(receipts)
}

/// Builds the next block on the head from `candidates` (those that do not apply are left out),
/// the receipt batches `incoming` (verified by the caller, in stream order: see
/// [`check_incoming`]) and, on the beacon chain, the `crosslinks` (verified by the caller, each
/// extending its shard's latest: see [`check_crosslinks`]) as the proposer holding `key` in
/// `view`, carrying `parent_commit`.
/// `signatures_checked`: every candidate's signature was verified when this node admitted it
/// (otherwise execution checks). `room`: per destination shard, how many candidates for it may
/// enter (congestion control between shards; the others are left out).
#[allow(clippy::too_many_arguments)]
pub fn build(
    chain: &Chain,
    runtime: &Runtime,
    key: &SecretKey,
    candidates: Vec<SignedTransaction>,
    incoming: Vec<ReceiptBatch>,
    crosslinks: Vec<Crosslink>,
    room: BTreeMap<ShardId, u64>,
    timestamp_ms: u64,
    signatures_checked: bool,
    view: u64,
    parent_commit: Option<CommitCertificate>,
) -> Result<Built, ChainError> {
    let crosslinks = if chain.spec().shard_id == 0 {
        crosslinks
    } else {
        Vec::new()
    };
    let incoming = within_incoming_bytes(incoming);
    let max_tx_bytes = tx_room(&incoming, &crosslinks);
    let parent = chain.head();
    let p = &parent.header;
    let height = p.height + 1;
    let (proof, randomness) = bls::randomness(key, &p.randomness);
    // Timestamps never go backwards, even if the clock does.
    let timestamp_ms = timestamp_ms.max(p.timestamp_ms + 1);
    let receipts: Vec<Receipt> = incoming.iter().flat_map(|b| b.receipts.iter().cloned()).collect();
    let incoming_root = receipts_root(&receipts);
    let output = chain.execute(
        runtime,
        BlockInput {
            height,
            timestamp_ms,
            randomness,
            txs: candidates.clone(),
            incoming: receipts,
            consumed: foreign::consumed_by(&incoming),
            signatures_checked,
            room,
            crosslinks: crosslinks.clone(),
            parent_commit: parent_commit.clone(),
            max_tx_bytes,
        },
    )?;
    let included: HashSet<Hash> = output.included.iter().copied().collect();
    let txs: Vec<SignedTransaction> = candidates
        .into_iter()
        .filter(|t| included.contains(&t.hash()))
        .collect();
    let header = BlockHeader {
        chain_id: p.chain_id,
        shard_id: p.shard_id,
        height,
        epoch: chain.spec().epochs.epoch_of(height),
        view,
        parent_hash: p.hash(),
        timestamp_ms,
        tx_root: tx_root(&txs),
        state_root: output.state_root,
        outgoing_receipts_root: output.outgoing_root(p.shard_id, chain.spec().num_shards),
        incoming_receipts_root: incoming_root,
        crosslinks_root: crosslinks_root(&crosslinks),
        gas_used: output.gas_used,
        congestion: output.congestion(),
        proposer: key.public_key().to_bytes(),
        randomness_proof: proof.to_bytes(),
        randomness,
        parent_commit,
    };
    Ok(Built {
        header,
        txs,
        incoming,
        crosslinks,
        output,
    })
}

/// Checks a proposed block on top of the head (rules in the module doc) and returns what
/// executing it did, ready to commit. `now_ms`: this node's clock (`None` skips the drift rule,
/// for blocks that are already certified). `signature_checked(hash)`: this node already verified
/// that transaction's signature (it is in its pool). `check_cert` checks the source committees'
/// certificates of the receipt batches.
#[allow(clippy::too_many_arguments)]
pub fn validate(
    chain: &Chain,
    runtime: &Runtime,
    header: &BlockHeader,
    txs: &[SignedTransaction],
    incoming: &[ReceiptBatch],
    crosslinks: &[Crosslink],
    now_ms: Option<u64>,
    signature_checked: impl Fn(&Hash) -> bool,
    check_cert: CertCheck<'_>,
) -> Result<BlockOutput, BlockError> {
    let head = chain.head();
    let parent = &head.header;
    let spec = chain.spec();
    let h = header;
    if h.parent_hash != parent.hash() || h.height != parent.height + 1 {
        return Err(BlockError::NotOnHead {
            height: h.height,
            parent: h.parent_hash,
            head_height: parent.height,
            head: parent.hash(),
        });
    }
    let epoch = spec.epochs.epoch_of(h.height);
    if h.chain_id != spec.rules.chain_id || h.shard_id != spec.shard_id || h.epoch != epoch {
        return Err(BlockError::WrongPlace {
            chain_id: h.chain_id,
            shard: h.shard_id,
            epoch: h.epoch,
            expected_chain: spec.rules.chain_id,
            expected_shard: spec.shard_id,
            expected_epoch: epoch,
        });
    }
    if h.timestamp_ms <= parent.timestamp_ms {
        return Err(BlockError::TimestampNotAfterParent {
            got: h.timestamp_ms,
            parent: parent.timestamp_ms,
        });
    }
    if let Some(now) = now_ms
        && h.timestamp_ms > now.saturating_add(MAX_CLOCK_DRIFT_MS)
    {
        return Err(BlockError::TimestampAhead {
            ahead_ms: h.timestamp_ms - now,
        });
    }
    let proposer = bls::PublicKey::from_bytes(&h.proposer).map_err(|error| BlockError::BadKey {
        what: "proposer key",
        error,
    })?;
    let proof = Signature::from_bytes(&h.randomness_proof).map_err(|error| BlockError::BadKey {
        what: "randomness proof",
        error,
    })?;
    if !bls::verify_randomness(&proposer, &parent.randomness, &proof, &h.randomness) {
        return Err(BlockError::BadRandomness);
    }
    let bytes = body_bytes(txs, incoming, crosslinks);
    if bytes > MAX_BODY_BYTES {
        return Err(BlockError::TooLarge { bytes });
    }
    let computed = tx_root(txs);
    if h.tx_root != computed {
        return Err(BlockError::TxRoot {
            header: h.tx_root,
            computed,
        });
    }
    for tx in txs {
        let hash = tx.hash();
        if !signature_checked(&hash) {
            txcheck::check_stateless(tx, tx.encoded_size(), &spec.rules)
                .map_err(|error| BlockError::BadTransaction { hash, error })?;
        }
    }
    let incoming_receipts = check_incoming(chain, incoming, check_cert)?;
    let computed = crosslinks_root(crosslinks);
    if h.crosslinks_root != computed {
        return Err(BlockError::CrosslinksRoot {
            header: h.crosslinks_root,
            computed,
        });
    }
    check_crosslinks(chain, crosslinks, check_cert)?;
    // On the beacon chain the parent certificate's signers are rewarded, so it must hold.
    if spec.shard_id == 0
        && let Some(cert) = &h.parent_commit
        && parent.height > 0
    {
        check_cert(parent, cert).map_err(BlockError::ParentCommit)?;
    }
    let output = chain.execute(
        runtime,
        BlockInput {
            height: h.height,
            timestamp_ms: h.timestamp_ms,
            randomness: h.randomness,
            txs: txs.to_vec(),
            incoming: incoming_receipts.clone(),
            consumed: foreign::consumed_by(incoming),
            signatures_checked: true,
            room: BTreeMap::new(),
            crosslinks: crosslinks.to_vec(),
            parent_commit: h.parent_commit.clone(),
            max_tx_bytes: tx_room(incoming, crosslinks),
        },
    )?;
    if let Some((hash, error)) = output.skipped.first() {
        return Err(BlockError::Skipped {
            hash: *hash,
            error: error.clone(),
        });
    }
    if output.state_root != h.state_root {
        return Err(BlockError::StateRoot {
            header: h.state_root,
            computed: output.state_root,
        });
    }
    let checks = [
        (
            "outgoing",
            h.outgoing_receipts_root,
            output.outgoing_root(spec.shard_id, spec.num_shards),
        ),
        ("incoming", h.incoming_receipts_root, receipts_root(&incoming_receipts)),
    ];
    for (which, header, computed) in checks {
        if header != computed {
            return Err(BlockError::ReceiptsRoot {
                which,
                header,
                computed,
            });
        }
    }
    let congestion = output.congestion();
    if h.congestion != congestion {
        return Err(BlockError::Congestion {
            header: h.congestion.clone(),
            computed: congestion,
        });
    }
    if output.gas_used != h.gas_used {
        return Err(BlockError::GasUsed {
            header: h.gas_used,
            computed: output.gas_used,
        });
    }
    Ok(output)
}
