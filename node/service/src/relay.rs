//! Cross-shard receipts between nodes: the batches a shard's nodes wait to include
//! ([`Inbox`]), and how much of them a block takes ([`incoming_budget`]).
//!
//! How batches travel (the async part is in [`crate::consensus`]):
//! - **Push**: after committing a block, every node of the source shard publishes the block's
//!   batch for each destination it sent receipts to on that destination's receipts topic. The
//!   nodes of a committee build byte-identical batches, so gossip carries one message, not one per
//!   member, and no single node (the leader) has to survive the commit for it to leave.
//! - **Pull**: a destination validator asks a node of each source shard, about once a second, for
//!   the batches from the position it expects next (`SyncRequest::Receipts`) whenever the inbox
//!   holds nothing ready from that source. The source answers from its store (`Chain::
//!   receipt_batches_from`), where the outgoing receipts stay. So a lost push, a leader killed
//!   right after commit, or a destination that was down only delays delivery.
//! - **Include**: the proposer takes the ready batches (each continuing its source's stream
//!   from the cursor in state) into its block; validators re-check every batch
//!   (`tutti_chain::block::check_incoming`), so a batch the proposer made up fails the block.
//!
//! The inbox checks everything a batch proves (path, certificate, destination, size) when it
//! arrives, so a peer sending a forged batch is scored down at once; a batch already consumed
//! or too far ahead is dropped without blame (an honest node may be late or early).

use std::collections::BTreeMap;

use tutti_chain::{
    BatchError, ShardSpec, block,
    foreign::{self, Consumed, Finality, ForeignError},
    receipts::{check_shape, verify_batch},
};
use tutti_primitives::{BlockHeader, CommitCertificate, ReceiptBatch, ShardId};

/// Most receipts the inbox holds per source beyond the cursor (more waits at the source).
pub const MAX_PENDING_RECEIPTS: u64 = 200_000;

/// What became of an offered batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Offered {
    /// Valid and new: kept.
    New,
    /// Valid but not useful now (consumed already, held already, or too far ahead).
    Known,
    /// Invalid: the sender is to blame.
    Refused(BatchError),
}

/// Verified batches held while the beacon chain catches up with their source blocks, at most.
pub const MAX_UNFINAL_BATCHES: usize = 256;

/// Source certificates remembered as verified, at most (then the memory starts over).
pub const MAX_VERIFIED_CERTS: usize = 8_192;

/// The verified batches a shard has received and not yet included, per source, by position; and
/// the source certificates this node verified (so block validation does not pair them again).
#[derive(Debug)]
pub struct Inbox {
    spec: ShardSpec,
    pending: BTreeMap<ShardId, BTreeMap<u64, ReceiptBatch>>,
    /// Verified batches whose source block the beacon chain does not hold yet, by (source,
    /// position): promoted to `pending` once it does ([`Inbox::promote`]), at most
    /// [`MAX_UNFINAL_BATCHES`].
    unfinal: BTreeMap<(ShardId, u64), ReceiptBatch>,
    verified: std::collections::HashSet<(tutti_primitives::Hash, tutti_primitives::Hash)>,
}

/// What identifies a verified certificate: the header it signs and its own bytes.
fn cert_key(h: &BlockHeader, c: &CommitCertificate) -> (tutti_primitives::Hash, tutti_primitives::Hash) {
    use parity_scale_codec::Encode;
    (h.hash(), tutti_primitives::Hash(*blake3::hash(&c.encode()).as_bytes()))
}

impl Inbox {
    /// An empty inbox of the shard `spec` describes.
    pub fn new(spec: ShardSpec) -> Inbox {
        Inbox {
            spec,
            pending: BTreeMap::new(),
            unfinal: BTreeMap::new(),
            verified: Default::default(),
        }
    }

    /// Whether this exact certificate over this header was verified here before.
    pub fn cert_verified(&self, h: &BlockHeader, c: &CommitCertificate) -> bool {
        self.verified.contains(&cert_key(h, c))
    }

    /// Remembers a certificate that passed the committee check.
    pub fn remember_cert(&mut self, h: &BlockHeader, c: &CommitCertificate) {
        if self.verified.len() >= MAX_VERIFIED_CERTS {
            self.verified.clear();
        }
        self.verified.insert(cert_key(h, c));
    }

    /// Offers a batch when this shard expects `cursor` next from the batch's source and last
    /// consumed source block `last`: every rule of [`verify_batch`] is checked except that it
    /// must start exactly at the cursor (a batch after a gap is kept until the gap is filled).
    /// [`Inbox::triage`], [`Inbox::verify`] and [`Inbox::insert`] in one (a node runs them
    /// apart, so the certificate check holds no lock).
    pub fn offer(
        &mut self,
        batch: ReceiptBatch,
        cursor: u64,
        last: &Consumed,
        check_cert: impl FnOnce(&BlockHeader, &CommitCertificate) -> Result<(), String>,
    ) -> Offered {
        match self.triage(&batch, cursor) {
            Err(e) => return Offered::Refused(e),
            Ok(false) => return Offered::Known,
            Ok(true) => {}
        }
        if let Err(e) = Inbox::verify(&batch, &self.spec, cursor, last, check_cert) {
            return Offered::Refused(e);
        }
        self.remember_cert(&batch.header, &batch.cert);
        self.insert(batch)
    }

    /// The cheap part: refuses a batch no honest node sends (shape); `Ok(false)` when it is not
    /// useful now (consumed already, held already, or too far ahead), `Ok(true)` when it is worth
    /// verifying.
    pub fn triage(&self, batch: &ReceiptBatch, cursor: u64) -> Result<bool, BatchError> {
        check_shape(batch, &self.spec)?;
        let source = batch.header.shard_id;
        let first = batch.first_seq;
        let end = first.saturating_add(batch.receipts.len() as u64);
        let held = self.pending.get(&source).is_some_and(|p| p.contains_key(&first))
            || self.unfinal.contains_key(&(source, first));
        Ok(!(end <= cursor || held || first > cursor.saturating_add(MAX_PENDING_RECEIPTS)))
    }

    /// The costly part: path and certificate (not the cursor, except that a batch must not start
    /// inside what was consumed).
    pub fn verify(
        batch: &ReceiptBatch,
        spec: &ShardSpec,
        cursor: u64,
        last: &Consumed,
        check_cert: impl FnOnce(&BlockHeader, &CommitCertificate) -> Result<(), String>,
    ) -> Result<(), BatchError> {
        let first = batch.first_seq;
        let shard = spec.shard_id;
        verify_batch(batch, spec, first, last, check_cert)?;
        if first < cursor {
            // Starts inside what was consumed: an honest source never cuts a batch so.
            return Err(BatchError::Replay {
                source_shard: batch.header.shard_id,
                shard,
                got: first,
                expected: cursor,
            });
        }
        Ok(())
    }

    /// Holds a verified batch whose source block the beacon chain does not hold yet (dropped
    /// when [`MAX_UNFINAL_BATCHES`] wait already: it is pulled again).
    pub fn hold(&mut self, batch: ReceiptBatch) -> Offered {
        let key = (batch.header.shard_id, batch.first_seq);
        if self.unfinal.contains_key(&key) || self.unfinal.len() >= MAX_UNFINAL_BATCHES {
            return Offered::Known;
        }
        self.unfinal.insert(key, batch);
        Offered::New
    }

    /// Moves the held batches whose source block became final (`finality`) to the ready ones;
    /// drops those the beacon chain holds another block for.
    pub fn promote(&mut self, finality: impl Fn(&BlockHeader) -> Finality) {
        let mut done = Vec::new();
        for (key, b) in &self.unfinal {
            match finality(&b.header) {
                Finality::NotYet => {}
                f => done.push((*key, f == Finality::Final)),
            }
        }
        for (key, is_final) in done {
            if let Some(b) = self.unfinal.remove(&key)
                && is_final
            {
                self.insert(b);
            }
        }
    }

    /// Keeps a verified batch.
    pub fn insert(&mut self, batch: ReceiptBatch) -> Offered {
        let held = self.pending.entry(batch.header.shard_id).or_default();
        if held.contains_key(&batch.first_seq) {
            return Offered::Known;
        }
        held.insert(batch.first_seq, batch);
        Offered::New
    }

    /// The shard this inbox is for.
    pub fn spec(&self) -> &ShardSpec {
        &self.spec
    }

    /// The batches ready to include, given each source's cursor: per source the run of held
    /// batches that continues the stream, at most `max_batches` in all and `max_receipts`
    /// receipts (a batch that would pass it is left for the next block, unless it is the first: a
    /// batch larger than a block's budget still goes, alone), and receipts of at most
    /// [`block::MAX_BATCH_BYTES`] bytes (each batch alone is within it). Sources take turns at the front
    /// (`first`, then the shards after it, wrapping): when the budget is short, the source that
    /// is "allowed" this block (round robin by height, as NEP-539) goes first, so no source
    /// starves another.
    pub fn ready(
        &self,
        cursor: impl Fn(ShardId) -> u64,
        max_batches: usize,
        max_receipts: usize,
        first: ShardId,
    ) -> Vec<ReceiptBatch> {
        let mut out = Vec::new();
        let (mut receipts, mut bytes) = (0, 0);
        let turns = self.pending.range(first..).chain(self.pending.range(..first));
        for (source, held) in turns {
            let mut next = cursor(*source);
            while let Some(b) = held.get(&next) {
                let size = tutti_primitives::receipt::receipts_bytes(&b.receipts);
                let fits = receipts + b.receipts.len() <= max_receipts || (out.is_empty() && max_receipts > 0);
                if out.len() >= max_batches || !fits || bytes + size > block::MAX_BATCH_BYTES {
                    return out;
                }
                bytes += size;
                receipts += b.receipts.len();
                next += b.receipts.len() as u64;
                out.push(b.clone());
            }
        }
        out
    }

    /// Whether nothing from `source` is ready at `cursor` (time to pull).
    pub fn waiting_on(&self, source: ShardId, cursor: u64) -> bool {
        !(self.pending.get(&source).is_some_and(|p| p.contains_key(&cursor))
            || self.unfinal.contains_key(&(source, cursor)))
    }

    /// Drops what the chain has consumed from `source` (everything before `cursor`).
    pub fn consumed(&mut self, source: ShardId, cursor: u64) {
        self.unfinal
            .retain(|(s, first), b| *s != source || first.saturating_add(b.receipts.len() as u64) > cursor);
        if let Some(p) = self.pending.get_mut(&source) {
            p.retain(|first, b| first.saturating_add(b.receipts.len() as u64) > cursor);
        }
    }

    /// Receipts held, in all.
    pub fn held(&self) -> usize {
        self.pending
            .values()
            .flat_map(|p| p.values())
            .map(|b| b.receipts.len())
            .sum()
    }
}

/// Why a followed header is refused (the peer that sent it is to blame).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    /// From a shard that does not exist.
    #[error("a header of shard {shard}, but the chain has {num_shards} shards")]
    WrongShard {
        /// Its shard.
        shard: ShardId,
        /// Shards in all.
        num_shards: u32,
    },
    /// Breaks a rule for headers of other shards (chain, the epoch of its height).
    #[error("{0}")]
    Foreign(#[from] ForeignError),
    /// Its congestion does not have one entry per shard.
    #[error("its congestion lists {got} shards, not {num_shards}")]
    Malformed {
        /// Entries.
        got: usize,
        /// Shards in all.
        num_shards: u32,
    },
    /// Its certificate is not its committee's.
    #[error("its certificate: {0}")]
    Certificate(String),
}

/// The other shards as this shard follows them: the latest certified header of each, for the
/// load it publishes (congestion control between shards). Every node publishes each block it
/// commits, with its certificate, on the chain-wide headers topic; a stopped shard publishes
/// nothing, so its last load stays while the receipts sent to it pile up, and its room closes.
#[derive(Debug)]
pub struct Loads {
    spec: ShardSpec,
    shard: ShardId,
    num_shards: u32,
    latest: BTreeMap<ShardId, BlockHeader>,
}

impl Loads {
    /// Nothing followed yet, for the shard `spec` describes.
    pub fn new(spec: ShardSpec) -> Loads {
        Loads {
            shard: spec.shard_id,
            num_shards: spec.num_shards,
            spec,
            latest: BTreeMap::new(),
        }
    }

    /// The cheap checks: `Ok(true)` when the header is well formed and newer than the one
    /// followed (worth a certificate check), `Ok(false)` when it is not newer or is this shard's
    /// own (the topic carries every shard's headers; a node follows its own chain directly).
    pub fn triage(&self, h: &BlockHeader) -> Result<bool, FollowError> {
        if h.shard_id >= self.num_shards {
            return Err(FollowError::WrongShard {
                shard: h.shard_id,
                num_shards: self.num_shards,
            });
        }
        if h.congestion.consumed.len() != self.num_shards as usize {
            return Err(FollowError::Malformed {
                got: h.congestion.consumed.len(),
                num_shards: self.num_shards,
            });
        }
        if h.shard_id == self.shard {
            return Ok(false);
        }
        foreign::check_header(&self.spec, h)?;
        Ok(self.latest.get(&h.shard_id).is_none_or(|l| h.height > l.height))
    }

    /// Follows a header that passed [`Loads::triage`] and its certificate check; false if a
    /// newer one arrived meanwhile.
    pub fn insert(&mut self, h: BlockHeader) -> bool {
        if h.shard_id == self.shard || self.latest.get(&h.shard_id).is_some_and(|l| l.height >= h.height) {
            return false;
        }
        self.latest.insert(h.shard_id, h);
        true
    }

    /// The latest header followed from `shard`.
    pub fn latest(&self, shard: ShardId) -> Option<&BlockHeader> {
        self.latest.get(&shard)
    }

    /// The load of each other shard seen from this one, given what this shard has sent each
    /// (`sent(d)`: its outgoing cursor for `d`): receipts `d` has not consumed plus its delayed
    /// queue. A shard not heard from yet is taken to have consumed nothing.
    pub fn loads(&self, sent: impl Fn(ShardId) -> u64) -> BTreeMap<ShardId, u64> {
        (0..self.num_shards)
            .filter(|d| *d != self.shard)
            .map(|d| {
                let load = match self.latest.get(&d) {
                    Some(h) => h.congestion.load_from(self.shard, sent(d)),
                    None => sent(d),
                };
                (d, load)
            })
            .collect()
    }
}

pub use tutti_chain::block::incoming_budget;

#[cfg(test)]
mod tests {
    use super::*;
    use tutti_primitives::{
        Address, Hash, Receipt, ReceiptBody, merkle_proof,
        receipt::{outgoing_leaves, outgoing_root},
    };

    const SHARDS: u32 = 3;

    /// Nothing consumed yet.
    const NONE: Consumed = Consumed {
        height: 0,
        hash: Hash::ZERO,
    };

    /// Shard `shard` of a chain of [`SHARDS`] shards (chain id 1).
    fn spec(shard: ShardId) -> ShardSpec {
        let g = tutti_chain::Genesis {
            chain_id: 1,
            num_shards: SHARDS,
            timestamp_ms: 0,
            accounts: vec![],
            validators: vec![],
            params: Default::default(),
        };
        g.spec_of(shard)
    }

    /// A batch from `source` to shard 1 holding positions `first..first + n`, proven against its
    /// own header; the certificate is "good" when its view is 0 (see `cert_ok`).
    fn batch(source: ShardId, first: u64, n: u64) -> ReceiptBatch {
        let receipts: Vec<Receipt> = (first..first + n)
            .map(|seq| Receipt {
                id: Hash([seq as u8; 32]),
                source_shard: source,
                dest_shard: 1,
                seq,
                predecessor: Address::default(),
                receiver: Address::default(),
                signer: Address::default(),
                gas_price: 0,
                body: ReceiptBody::Transfer { amount: 1 },
            })
            .collect();
        let first_seq = vec![0, first, 0];
        let leaves = outgoing_leaves(source, SHARDS, &first_seq, &receipts);
        let header = BlockHeader {
            chain_id: 1,
            shard_id: source,
            height: first + 1,
            // The epoch of its height (default genesis: 3,600 blocks an epoch).
            epoch: (first + 1) / 3_600,
            view: 0,
            parent_hash: Hash::ZERO,
            timestamp_ms: 0,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
            outgoing_receipts_root: outgoing_root(source, SHARDS, &first_seq, &receipts),
            incoming_receipts_root: Hash::ZERO,
            crosslinks_root: Hash::ZERO,
            gas_used: 0,
            congestion: Default::default(),
            proposer: [0; 48],
            randomness_proof: [0; 96],
            randomness: Hash::ZERO,
            parent_commit: None,
        };
        ReceiptBatch {
            header,
            cert: CommitCertificate {
                view: 0,
                signature: [0; 96],
                signers: vec![1],
            },
            dest: 1,
            first_seq: first,
            receipts,
            path: merkle_proof(&leaves, 1).unwrap(),
        }
    }

    fn cert_ok(_: &BlockHeader, c: &CommitCertificate) -> Result<(), String> {
        if c.view == 0 {
            Ok(())
        } else {
            Err("not the committee's".into())
        }
    }

    #[test]
    fn the_inbox_keeps_valid_batches_in_stream_order_and_refuses_forgeries() {
        let mut inbox = Inbox::new(spec(1));
        // Out of order: the later batch waits for the gap to fill.
        assert_eq!(inbox.offer(batch(0, 3, 2), 0, &NONE, cert_ok), Offered::New);
        assert!(inbox.waiting_on(0, 0));
        assert!(
            inbox.ready(|_| 0, 64, 1_000, 0).is_empty(),
            "nothing continues position 0 yet"
        );
        assert_eq!(inbox.offer(batch(0, 0, 3), 0, &NONE, cert_ok), Offered::New);
        assert_eq!(inbox.offer(batch(2, 0, 1), 0, &NONE, cert_ok), Offered::New);
        let firsts = |v: Vec<ReceiptBatch>| v.iter().map(|b| (b.header.shard_id, b.first_seq)).collect::<Vec<_>>();
        assert_eq!(firsts(inbox.ready(|_| 0, 64, 1_000, 0)), vec![(0, 0), (0, 3), (2, 0)]);
        // Their certificates are remembered (block validation skips them); another is not.
        let b = batch(0, 0, 3);
        assert!(inbox.cert_verified(&b.header, &b.cert));
        let mut other = b.cert.clone();
        other.signers = vec![3];
        assert!(!inbox.cert_verified(&b.header, &other));
        assert_eq!(
            firsts(inbox.ready(|_| 0, 2, 1_000, 0)),
            vec![(0, 0), (0, 3)],
            "batch cap"
        );
        assert_eq!(firsts(inbox.ready(|_| 0, 64, 4, 0)), vec![(0, 0)], "receipt budget");
        assert_eq!(
            firsts(inbox.ready(|_| 0, 64, 1, 0)),
            vec![(0, 0)],
            "a first batch over the budget still goes"
        );
        assert!(inbox.ready(|_| 0, 64, 0, 0).is_empty(), "no budget, nothing");
        // Round robin: the allowed source goes first, then the ones after it, wrapping.
        assert_eq!(firsts(inbox.ready(|_| 0, 64, 1_000, 2)), vec![(2, 0), (0, 0), (0, 3)]);
        assert_eq!(
            firsts(inbox.ready(|_| 0, 64, 3, 1)),
            vec![(2, 0)],
            "shard 2's turn before 0's"
        );
        assert_eq!(inbox.held(), 6);

        // Held again, consumed already, or too far ahead: not useful, nobody blamed.
        assert_eq!(inbox.offer(batch(0, 0, 3), 0, &NONE, cert_ok), Offered::Known);
        assert_eq!(inbox.offer(batch(0, 0, 3), 3, &NONE, cert_ok), Offered::Known);
        assert_eq!(
            inbox.offer(batch(0, MAX_PENDING_RECEIPTS + 1, 1), 0, &NONE, cert_ok),
            Offered::Known
        );

        // Forgeries are refused with their reason.
        let refused = |b: ReceiptBatch| match inbox.triage(&b, 0) {
            Err(e) => e,
            Ok(_) => Inbox::verify(&b, &spec(1), 0, &NONE, cert_ok).unwrap_err(),
        };
        let mut bad_cert = batch(2, 1, 1);
        bad_cert.cert.view = 9;
        assert!(matches!(refused(bad_cert), BatchError::Certificate { .. }));
        let mut bad_path = batch(2, 1, 1);
        bad_path.path[0].0[0] ^= 1;
        assert!(matches!(refused(bad_path), BatchError::BadPath { .. }));
        let mut wrong_dest = batch(2, 1, 1);
        wrong_dest.dest = 2;
        assert!(matches!(refused(wrong_dest), BatchError::WrongDestination { .. }));
        assert!(
            matches!(refused(batch(1, 0, 1)), BatchError::BadSource { .. }),
            "from itself"
        );
        assert!(matches!(refused(batch(0, 0, 0)), BatchError::Empty));
        // Headers a past committee or another chain signed (tutti_chain::foreign).
        let mut past_epoch = batch(2, 1, 1);
        past_epoch.header.height = 3_600 * 5;
        assert!(matches!(
            refused(past_epoch),
            BatchError::Foreign(ForeignError::WrongEpoch {
                epoch: 0,
                expected: 5,
                ..
            })
        ));
        let mut other_chain = batch(2, 1, 1);
        other_chain.header.chain_id = 2;
        assert!(matches!(
            refused(other_chain),
            BatchError::Foreign(ForeignError::WrongChain { .. })
        ));
        let passed = Consumed {
            height: 2,
            hash: Hash([1; 32]),
        };
        assert!(matches!(
            Inbox::verify(&batch(2, 1, 1), &spec(1), 0, &passed, cert_ok),
            Err(BatchError::Foreign(ForeignError::NotAfter { height: 2, last: 2, .. }))
        ));
        let mut stale_forged = batch(0, 0, 3);
        stale_forged.receipts[0].seq = 7;
        assert!(
            matches!(
                inbox.offer(stale_forged, 3, &NONE, cert_ok),
                Offered::Refused(BatchError::Mismatch { .. })
            ),
            "a consumed batch that is also malformed is still refused"
        );
        // A batch starting inside what was consumed is cut by nobody honest.
        assert!(matches!(
            Inbox::verify(&batch(0, 2, 3), &spec(1), 3, &NONE, cert_ok),
            Err(BatchError::Replay {
                got: 2,
                expected: 3,
                ..
            })
        ));

        // Consumed: dropped.
        inbox.consumed(0, 5);
        assert_eq!(
            firsts(inbox.ready(|s| if s == 0 { 5 } else { 0 }, 64, 1_000, 0)),
            vec![(2, 0)]
        );
        assert_eq!(inbox.held(), 1);
        assert!(inbox.waiting_on(0, 5));
    }

    #[test]
    fn batches_wait_for_the_beacon_then_become_ready_or_are_dropped() {
        let mut inbox = Inbox::new(spec(1));
        let firsts = |v: Vec<ReceiptBatch>| v.iter().map(|b| (b.header.shard_id, b.first_seq)).collect::<Vec<_>>();
        assert_eq!(inbox.hold(batch(0, 0, 2)), Offered::New);
        assert_eq!(inbox.hold(batch(2, 0, 1)), Offered::New);
        assert!(!inbox.waiting_on(0, 0), "held: no need to pull it again");
        assert_eq!(inbox.triage(&batch(0, 0, 2), 0), Ok(false), "held: not verified again");
        inbox.promote(|_| Finality::NotYet);
        assert!(inbox.ready(|_| 0, 64, 1_000, 0).is_empty(), "not final: not ready");
        // Shard 0's block is final; the beacon holds another block at shard 2's height.
        inbox.promote(|h| {
            if h.shard_id == 0 {
                Finality::Final
            } else {
                Finality::Conflicts(ForeignError::NotOnBeacon {
                    shard: h.shard_id,
                    height: h.height,
                    got: h.hash(),
                    beacon: Hash::ZERO,
                })
            }
        });
        assert_eq!(firsts(inbox.ready(|_| 0, 64, 1_000, 0)), vec![(0, 0)]);
        assert!(inbox.waiting_on(2, 0), "the fork is gone: pull shard 2 again");
        // Bounded: past the limit, batches are not held (they are pulled again later).
        for i in 0..MAX_UNFINAL_BATCHES as u64 {
            inbox.hold(batch(2, 10 + i, 1));
        }
        assert_eq!(inbox.hold(batch(2, 5_000, 1)), Offered::Known);
        // Consumed: dropped from the held ones too.
        inbox.consumed(2, 20);
        assert!(inbox.waiting_on(2, 15));
        assert!(!inbox.waiting_on(2, 25));
    }

    #[test]
    fn loads_follow_the_newest_certified_header_of_each_other_shard() {
        let mut loads = Loads::new(spec(1));
        let header = |shard: ShardId, height: u64, delayed: u64, consumed_from_1: u64| {
            let mut h = batch(0, 0, 1).header;
            h.shard_id = shard;
            h.height = height;
            h.congestion = tutti_primitives::Congestion {
                delayed,
                consumed: vec![0, consumed_from_1, 0],
            };
            h
        };
        // Nothing heard yet: everything sent counts as unconsumed.
        assert_eq!(loads.loads(|d| d as u64 * 10), [(0, 0), (2, 20)].into_iter().collect());
        assert_eq!(loads.triage(&header(2, 5, 3, 15)), Ok(true));
        assert!(loads.insert(header(2, 5, 3, 15)));
        // Shard 2 consumed 15 of the 20 sent and queues 3: load 8.
        assert_eq!(loads.loads(|d| d as u64 * 10)[&2], 8);
        // Older or equal headers are not followed; newer ones are.
        assert_eq!(loads.triage(&header(2, 5, 0, 20)), Ok(false));
        assert!(!loads.insert(header(2, 4, 0, 20)));
        assert!(loads.insert(header(2, 6, 0, 20)));
        assert_eq!(loads.loads(|d| d as u64 * 10)[&2], 0);
        assert_eq!(loads.latest(2).map(|h| h.height), Some(6));
        // Its own shard's: not followed (no blame: the topic carries every shard's headers).
        assert_eq!(loads.triage(&header(1, 9, 0, 0)), Ok(false));
        assert!(!loads.insert(header(1, 9, 0, 0)));
        // A shard that does not exist, a malformed load: the sender is to blame.
        assert!(matches!(
            loads.triage(&header(3, 9, 0, 0)),
            Err(FollowError::WrongShard { .. })
        ));
        let mut short = header(0, 9, 0, 0);
        short.congestion.consumed.pop();
        assert!(matches!(
            loads.triage(&short),
            Err(FollowError::Malformed { got: 2, .. })
        ));
        // A past committee's header far ahead (which would freeze the room for that shard), and
        // another chain's: refused before any certificate check.
        assert!(matches!(
            loads.triage(&header(2, u64::MAX / 2, 0, 0)),
            Err(FollowError::Foreign(ForeignError::WrongEpoch { epoch: 0, .. }))
        ));
        let mut other_chain = header(2, 9, 0, 0);
        other_chain.chain_id = 9;
        assert!(matches!(
            loads.triage(&other_chain),
            Err(FollowError::Foreign(ForeignError::WrongChain { .. }))
        ));
    }

    #[test]
    fn the_incoming_budget_keeps_the_delayed_queue_within_a_block() {
        assert_eq!(incoming_budget(0, 1_000), 1_000);
        assert_eq!(incoming_budget(400, 1_000), 600);
        assert_eq!(incoming_budget(1_000, 1_000), 0);
        assert_eq!(incoming_budget(u64::MAX, 1_000), 0);
    }
}
