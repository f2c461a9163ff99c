//! The block schedule: in what order one shard's block runs its work, and how much of it. One pure
//! function over [`ScheduleState`], driven by the chain (`tutti_chain::exec`, over the
//! authenticated state) and by [`crate::local::LocalNet`] (in memory), so contract developers test
//! against the rules the chain runs.
//!
//! Rules of a block on shard `s`:
//! 1. Incoming cross-shard receipts must carry the next sequence number of their (source, s)
//!    stream and be addressed to `s`; anything else refuses the whole block
//!    ([`ScheduleError::OutOfOrder`]). The cursor is in state, so it is covered by the state root.
//! 2. Transactions run first, in block order. One that fails the caller's stateless check, does
//!    not carry exactly its sender's account nonce, or does not fit the block gas limit is skipped
//!    (not included). So is one that arrives when the receipts waiting to run (delayed queue,
//!    incoming, and those made by earlier transactions of the block) already fill the block's
//!    receipt budget (congestion control: it can wait for a later block), and so is one whose
//!    receiver lives on a shard the block has no room left for ([`Limits::room`]: the proposer's
//!    view of how congested each destination is, see `tutti_primitives::Congestion`; empty when a
//!    validator re-runs a block, since the choice is the proposer's and leaving a transaction out
//!    is always valid). Each included one turns into its first receipt.
//! 3. Then receipts run in this order, at most `max_receipts_per_block`: the delayed queue (oldest
//!    first), incoming receipts, then same-shard receipts made by this block. A call that completes
//!    a postponed callback puts it at the front. What does not run stays queued: the unread part of
//!    the stored queue where it is, ready callbacks in the slots just in front of it, the rest
//!    appended. A block reads only the queued receipts it runs.
//! 4. Receipts for other shards get the next sequence number of their (s, destination) stream and
//!    leave in the block's outbox, in the order they were made. No destination gets more than
//!    [`Limits::max_outgoing_per_destination`] receipts or [`Limits::max_outgoing_bytes_per_destination`]
//!    bytes of them (what it accepts in one batch). A transaction whose receipt leaves for shard
//!    `d` enters only while `d`'s outbox can take that receipt and still one receipt's execution
//!    ([`MAX_RECEIPTS_PER_APPLICATION`], [`MAX_RECEIPT_BYTES_PER_APPLICATION`]); otherwise it is
//!    skipped ([`Skip::OutboxFull`]: it stays in the pool) and transactions for other shards go
//!    on. So transactions never take the room the block's receipts need: receipts run while every
//!    outbox can take one more execution, and the rest stay queued, in order.
//! 5. The block's transactions take at most [`Limits::max_tx_bytes`] encoded bytes (what the
//!    block body leaves them beside its receipt batches and crosslinks): one that does not fit
//!    what is left is skipped ([`Skip::BlockFull`]) and a smaller one may still enter.

use std::collections::VecDeque;

use tutti_primitives::{Action, Amount, Gas, Hash, Receipt, ShardId, SignedTransaction, codec::Encode};

use crate::{
    BlockContext, Runtime,
    apply::{self, Applied, Execution, ShardState},
};

/// Index of the first delayed-queue slot of a new shard: the middle of the range, so ready
/// receipts can always be put in front of the queue.
pub const QUEUE_BASE: u64 = 1 << 63;

/// The state a block schedule reads and writes beyond accounts and contracts: the delayed queue
/// and the cursors of the cross-shard receipt streams.
pub trait ScheduleState: ShardState {
    /// The delayed queue's slots `head..tail` (both [`QUEUE_BASE`] on a new shard).
    fn queue_bounds(&self) -> (u64, u64);
    /// Moves the delayed queue's bounds.
    fn set_queue_bounds(&mut self, head: u64, tail: u64);
    /// Takes the receipt in slot `i` out of the queue (`None` if the slot is empty).
    fn take_queued(&mut self, i: u64) -> Option<Receipt>;
    /// Puts a receipt in slot `i`.
    fn put_queued(&mut self, i: u64, receipt: &Receipt);
    /// The next sequence number expected from `source` (0 at first).
    fn next_incoming(&self, source: ShardId) -> u64;
    /// Sets the next sequence number expected from `source`.
    fn set_next_incoming(&mut self, source: ShardId, seq: u64);
    /// The sequence number the next receipt for `dest` gets (0 at first).
    fn next_outgoing(&self, dest: ShardId) -> u64;
    /// Sets the sequence number the next receipt for `dest` gets.
    fn set_next_outgoing(&mut self, dest: ShardId, seq: u64);
}

/// The per-block limits of a shard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most receipts executed per block (the rest wait in the delayed queue).
    pub max_receipts_per_block: usize,
    /// Most gas the block's transactions may buy in total.
    pub block_gas_limit: Gas,
    /// Per destination shard, how many more transactions for it this block may admit (none
    /// listed: no limit): the room left under a destination's congestion limit as the proposer
    /// sees it ([`room`]); 0 for a congested one. The others wait in the pool.
    pub room: std::collections::BTreeMap<ShardId, u64>,
    /// Most receipts the block may send one destination (one batch:
    /// `tutti_primitives::receipt::MAX_BATCH_RECEIPTS` on the chain). The block stops taking
    /// transactions and receipts while one more application could pass it.
    pub max_outgoing_per_destination: usize,
    /// Most bytes of receipts (encoded) the block may send one destination (one batch:
    /// `tutti_primitives::receipt::MAX_BATCH_BYTES` on the chain), under the same rule.
    pub max_outgoing_bytes_per_destination: usize,
    /// Most bytes (encoded) the block's transactions may take in all.
    pub max_tx_bytes: usize,
}

/// Most receipts one application (a transaction, or one receipt's execution) can make: its
/// promises (at most `MAX_PROMISES`), one data receipt per callback waiting for its result (each
/// made by a `promise_then` of one call: at most `MAX_PROMISES`, since joins hold each promise
/// once), the attached value returned, and the unused gas refunded.
pub const MAX_RECEIPTS_PER_APPLICATION: usize = 2 * crate::host::caps::MAX_PROMISES + 2;

/// Most bytes of receipts (encoded) one receipt's execution can make: its promises and transfers
/// (`caps::MAX_OUTGOING_BYTES`), the copies of its result (`caps::MAX_RESULT_FANOUT_BYTES`), the
/// attached value returned and the unused gas refunded (a transfer receipt each). A
/// transaction makes one receipt, of its own size and [`TX_RECEIPT_BYTES`] more at most.
pub const MAX_RECEIPT_BYTES_PER_APPLICATION: usize = crate::host::caps::MAX_OUTGOING_BYTES
    + crate::host::caps::MAX_RESULT_FANOUT_BYTES
    + 2 * crate::host::caps::RECEIPT_BYTES;

/// What a transaction's first receipt may take beyond the transaction's own encoded size (its
/// ids, addresses and numbers, less the signature and key the transaction carries).
pub const TX_RECEIPT_BYTES: usize = crate::host::caps::RECEIPT_BYTES;

/// How many blocks' worth of receipts (the receipt budget) a destination may owe a source, with
/// its own delayed queue, before the source closes to it (admits no transaction for it).
pub const CONGESTION_BLOCKS: u64 = 4;

/// How many more transactions a source may admit for a destination whose load, seen from the
/// source, is `load` receipts (receipts from that source it has not consumed plus its delayed
/// queue, see `tutti_primitives::Congestion`), on shards that run `max_receipts_per_block`: the
/// room under [`CONGESTION_BLOCKS`] blocks' worth. 0 means congested.
pub fn room(load: u64, max_receipts_per_block: usize) -> u64 {
    CONGESTION_BLOCKS
        .saturating_mul(max_receipts_per_block as u64)
        .saturating_sub(load)
}

/// The shard a transaction's first receipt goes to: the receiver's home shard for a transfer or
/// a call, the sender's (this one) for a deploy or a staking action.
pub fn destination(stx: &SignedTransaction, shard: ShardId, num_shards: u32) -> ShardId {
    match &stx.tx.action {
        Action::Transfer { to, .. } => to.home_shard(num_shards),
        Action::Call { contract, .. } => contract.home_shard(num_shards),
        Action::Deploy { .. } | Action::Stake(_) => shard,
    }
}

/// Why a transaction was left out of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip<E> {
    /// The caller's stateless check refused it.
    Refused(E),
    /// Its nonce is below the account nonce (a replay): it can never apply.
    NonceTooLow {
        /// The transaction's nonce.
        got: u64,
        /// The account nonce.
        expected: u64,
    },
    /// Its nonce is above the account nonce: it may apply once the ones before it have.
    NonceTooHigh {
        /// The transaction's nonce.
        got: u64,
        /// The account nonce.
        expected: u64,
    },
    /// The receipts already waiting fill the block's budget (congestion control).
    Congested {
        /// The block's receipt budget.
        budget: usize,
    },
    /// Its receiver lives on a shard this block has no room left for ([`Limits::room`]).
    ShardCongested {
        /// That shard.
        shard: ShardId,
    },
    /// The block's outbox for some destination is as full as a batch may be
    /// ([`Limits::max_outgoing_per_destination`], [`Limits::max_outgoing_bytes_per_destination`]).
    OutboxFull {
        /// That destination.
        shard: ShardId,
        /// Receipts one block may send one destination.
        limit: usize,
    },
    /// Its sender cannot pay its most, at this point of the block: the value it moves (or locks)
    /// and its gas limit at its price (a fee it cannot pay would buy it block space). It may be
    /// payable later (refunds and incoming transfers arrive), so it waits.
    CannotPay {
        /// What it may cost.
        need: Amount,
        /// The sender's balance.
        have: Amount,
    },
    /// It does not fit the bytes left for transactions ([`Limits::max_tx_bytes`]).
    BlockFull {
        /// Its encoded size.
        bytes: usize,
        /// What is left.
        left: usize,
    },
    /// Its gas limit does not fit in what is left of the block gas limit.
    GasLimit {
        /// The transaction's gas limit.
        got: Gas,
        /// What is left of the block's gas limit.
        left: Gas,
    },
}

impl<E> Skip<E> {
    /// Whether the transaction may apply in a later block (it should stay in a pool).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Skip::NonceTooHigh { .. }
                | Skip::Congested { .. }
                | Skip::ShardCongested { .. }
                | Skip::OutboxFull { .. }
                | Skip::BlockFull { .. }
                | Skip::CannotPay { .. }
                | Skip::GasLimit { .. }
        )
    }
}

/// A block that breaks a schedule rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// An incoming receipt does not continue its stream, or is for another shard.
    #[error(
        "incoming receipt {id} from shard {source_shard} for shard {dest_shard} has sequence {got}; \
         shard {shard} expects {expected} from it"
    )]
    OutOfOrder {
        /// The receipt.
        id: Hash,
        /// Its source shard.
        source_shard: ShardId,
        /// Its destination shard.
        dest_shard: ShardId,
        /// Its sequence number.
        got: u64,
        /// This shard.
        shard: ShardId,
        /// The next sequence number expected from the source.
        expected: u64,
    },
    /// The delayed queue reached the bottom of its index range (2^63 ready callbacks in front).
    #[error("the delayed queue cannot grow at its front")]
    QueueFront,
}

/// What a block's schedule did.
#[derive(Debug)]
pub struct Scheduled<E> {
    /// Hashes of the included transactions, in order.
    pub included: Vec<Hash>,
    /// Transactions left out, and why.
    pub skipped: Vec<(Hash, Skip<E>)>,
    /// Every execution (transactions and receipts), in order.
    pub executions: Vec<(Hash, Execution)>,
    /// Receipts for other shards, numbered, in the order they were made.
    pub outgoing: Vec<Receipt>,
    /// Per destination shard `0..num_shards`: the stream position of the block's first receipt
    /// for it (the stream's cursor when the block sent it none). Leaves of the outgoing root.
    pub first_outgoing: Vec<u64>,
    /// Gas burnt by the block.
    pub gas_used: Gas,
    /// Tokens burnt as fees by the block.
    pub fees_burnt: Amount,
    /// Receipts left in the delayed queue.
    pub delayed: u64,
    /// Per source shard `0..num_shards`: the sequence number this shard expects next from it
    /// after the block (0 for itself). With `delayed`, what the header publishes as the shard's
    /// congestion.
    pub consumed: Vec<u64>,
}

/// The receipts a block still has to run, in order: `front` (ready callbacks, which jump the
/// queue), the stored delayed queue `stored` (slot indexes, loaded one at a time), then `back`
/// (incoming receipts and those the block made).
struct Work {
    front: VecDeque<Receipt>,
    stored: std::ops::Range<u64>,
    back: VecDeque<Receipt>,
}

impl Work {
    fn len(&self) -> u64 {
        self.front.len() as u64 + (self.stored.end - self.stored.start) + self.back.len() as u64
    }

    /// The next receipt to run; a stored one leaves its slot.
    fn pop(&mut self, st: &mut impl ScheduleState) -> Option<Receipt> {
        if let Some(r) = self.front.pop_front() {
            return Some(r);
        }
        for i in self.stored.by_ref() {
            if let Some(r) = st.take_queued(i) {
                return Some(r);
            }
        }
        self.back.pop_front()
    }
}

/// Runs one block of shard `block.shard_id` over `st`: incoming receipts, transactions, receipts
/// (rules in the module doc). `check` is the caller's stateless transaction check (signature,
/// chain id, bounds); account nonces, gas and the receipt budget are checked here.
pub fn run_block<S: ScheduleState, E>(
    runtime: &Runtime,
    st: &mut S,
    block: &BlockContext,
    limits: Limits,
    txs: &[SignedTransaction],
    incoming: Vec<Receipt>,
    mut check: impl FnMut(&SignedTransaction) -> Result<(), E>,
) -> Result<Scheduled<E>, ScheduleError> {
    let shard = block.shard_id;
    let mut out = Scheduled {
        included: Vec::new(),
        skipped: Vec::new(),
        executions: Vec::new(),
        outgoing: Vec::new(),
        first_outgoing: Vec::new(),
        gas_used: 0,
        fees_burnt: 0,
        delayed: 0,
        consumed: Vec::new(),
    };
    let first_outgoing: Vec<u64> = (0..block.num_shards).map(|d| st.next_outgoing(d)).collect();

    // 1. Incoming receipts must continue their streams.
    for r in &incoming {
        let expected = st.next_incoming(r.source_shard);
        if r.seq != expected || r.dest_shard != shard {
            return Err(ScheduleError::OutOfOrder {
                id: r.id,
                source_shard: r.source_shard,
                dest_shard: r.dest_shard,
                got: r.seq,
                shard,
                expected,
            });
        }
        st.set_next_incoming(r.source_shard, expected + 1);
    }

    let (head, tail) = st.queue_bounds();
    let mut work = Work {
        front: VecDeque::new(),
        stored: head..tail.max(head),
        back: incoming.into(),
    };

    // 2. Transactions.
    let mut left = Left {
        gas_bought: 0,
        tx_bytes: 0,
        room: limits.room.clone(),
    };
    let mut sent = Sent {
        receipts: vec![0; block.num_shards as usize],
        bytes: vec![0; block.num_shards as usize],
    };
    for stx in txs {
        let hash = stx.hash();
        if let Some(shard) = tx_outbox_full(&sent, &limits, tx_receipt(stx, block)) {
            out.skipped.push((
                hash,
                Skip::OutboxFull {
                    shard,
                    limit: limits.max_outgoing_per_destination,
                },
            ));
            continue;
        }
        if let Err(skip) = admit(st, stx, &mut check, &work, &limits, &mut left, block) {
            out.skipped.push((hash, skip));
            continue;
        }
        let applied = apply::apply_transaction(runtime, st, block, stx);
        out.included.push(hash);
        route(st, &mut work, &mut out, &mut sent, block, applied, hash);
    }

    // 3. Receipts, bounded.
    let mut budget = limits.max_receipts_per_block;
    while budget > 0 && outbox_full(&sent, &limits).is_none() {
        let Some(r) = work.pop(st) else { break };
        budget -= 1;
        let id = r.id;
        let applied = apply::apply_receipt(runtime, st, block, r);
        route(st, &mut work, &mut out, &mut sent, block, applied, id);
    }
    out.delayed = requeue(st, work, (head, tail))?;
    out.first_outgoing = first_outgoing;
    out.consumed = (0..block.num_shards)
        .map(|s| if s == shard { 0 } else { st.next_incoming(s) })
        .collect();
    Ok(out)
}

/// The most a transaction can cost its sender: the value it moves or locks and its gas limit at
/// its price (saturating: a cost past `u128` is never payable).
pub fn max_cost(stx: &SignedTransaction) -> Amount {
    let value = match &stx.tx.action {
        Action::Transfer { amount, .. } => *amount,
        Action::Deploy { value, .. } | Action::Call { value, .. } => *value,
        Action::Stake(a) => a.locks(),
    };
    u128::from(stx.tx.gas_limit)
        .saturating_mul(stx.tx.gas_price)
        .saturating_add(value)
}

/// What the block sent each destination so far: receipts and their encoded bytes.
struct Sent {
    receipts: Vec<usize>,
    bytes: Vec<usize>,
}

/// For a transaction: the destination of its first receipt and the most bytes that receipt can
/// take, when it leaves the shard.
fn tx_receipt(stx: &SignedTransaction, block: &BlockContext) -> Option<(ShardId, usize)> {
    let dest = destination(stx, block.shard_id, block.num_shards);
    (dest != block.shard_id).then(|| (dest, stx.encoded_size().saturating_add(TX_RECEIPT_BYTES)))
}

/// Whether `d`'s outbox could take `receipts` more receipts of `bytes` more bytes.
fn room_for(sent: &Sent, limits: &Limits, d: usize, receipts: usize, bytes: usize) -> bool {
    sent.receipts[d].saturating_add(receipts) <= limits.max_outgoing_per_destination
        && sent.bytes[d].saturating_add(bytes) <= limits.max_outgoing_bytes_per_destination
}

/// The first destination whose outbox one more receipt's execution could push past
/// [`Limits::max_outgoing_per_destination`] receipts or
/// [`Limits::max_outgoing_bytes_per_destination`] bytes, if any (then the block runs no more
/// receipts).
fn outbox_full(sent: &Sent, limits: &Limits) -> Option<ShardId> {
    (0..sent.receipts.len())
        .find(|d| {
            !room_for(
                sent,
                limits,
                *d,
                MAX_RECEIPTS_PER_APPLICATION,
                MAX_RECEIPT_BYTES_PER_APPLICATION,
            )
        })
        .map(|d| d as ShardId)
}

/// For a transaction whose receipt goes to another shard (`tx`: where, and how large it can
/// be): that shard, if its outbox could not take the receipt and still leave room for one
/// receipt's execution. Only the transaction's own destination counts (another full outbox does
/// not hold back a transaction that sends it nothing), and transactions never take the room the
/// receipts of the block need: whatever they send, the block runs its receipts.
fn tx_outbox_full(sent: &Sent, limits: &Limits, tx: Option<(ShardId, usize)>) -> Option<ShardId> {
    let (dest, bytes) = tx?;
    let d = dest as usize;
    let fits = d < sent.receipts.len()
        && room_for(
            sent,
            limits,
            d,
            1 + MAX_RECEIPTS_PER_APPLICATION,
            bytes.saturating_add(MAX_RECEIPT_BYTES_PER_APPLICATION),
        );
    (!fits).then_some(dest)
}

/// What the block's transactions used so far of what it may admit.
struct Left {
    gas_bought: Gas,
    tx_bytes: usize,
    room: std::collections::BTreeMap<ShardId, u64>,
}

/// Whether a transaction enters the block (rule 2); if it does, it takes its gas and its room.
fn admit<S: ScheduleState, E>(
    st: &S,
    stx: &SignedTransaction,
    check: &mut impl FnMut(&SignedTransaction) -> Result<(), E>,
    work: &Work,
    limits: &Limits,
    left: &mut Left,
    block: &BlockContext,
) -> Result<(), Skip<E>> {
    let gas_bought = left.gas_bought;
    check(stx).map_err(Skip::Refused)?;
    let account = st.account(&stx.tx.sender());
    let expected = account.nonce;
    let got = stx.tx.nonce;
    if got < expected {
        return Err(Skip::NonceTooLow { got, expected });
    }
    if got > expected {
        return Err(Skip::NonceTooHigh { got, expected });
    }
    let need = max_cost(stx);
    let have = account.balance;
    if have < need {
        return Err(Skip::CannotPay { need, have });
    }
    // Congestion control: a transaction enters only while the receipts waiting to run fit in
    // this block's budget, so the delayed queue cannot grow without bound.
    if work.len() >= limits.max_receipts_per_block as u64 {
        return Err(Skip::Congested {
            budget: limits.max_receipts_per_block,
        });
    }
    let bytes = if limits.max_tx_bytes == usize::MAX {
        0
    } else {
        stx.encoded_size()
    };
    let tx_bytes = left.tx_bytes.saturating_add(bytes);
    if tx_bytes > limits.max_tx_bytes {
        return Err(Skip::BlockFull {
            bytes,
            left: limits.max_tx_bytes - left.tx_bytes,
        });
    }
    let fits = gas_bought
        .checked_add(stx.tx.gas_limit)
        .is_some_and(|g| g <= limits.block_gas_limit);
    if !fits {
        return Err(Skip::GasLimit {
            got: stx.tx.gas_limit,
            left: limits.block_gas_limit.saturating_sub(gas_bought),
        });
    }
    let dest = destination(stx, block.shard_id, block.num_shards);
    if dest != block.shard_id
        && let Some(room) = left.room.get_mut(&dest)
    {
        if *room == 0 {
            return Err(Skip::ShardCongested { shard: dest });
        }
        *room -= 1;
    }
    left.gas_bought = gas_bought + stx.tx.gas_limit;
    left.tx_bytes = tx_bytes;
    Ok(())
}

/// Routes what one application produced (rules 3 and 4) and records its execution.
fn route<S: ScheduleState, E>(
    st: &mut S,
    work: &mut Work,
    out: &mut Scheduled<E>,
    sent: &mut Sent,
    block: &BlockContext,
    applied: Applied,
    id: Hash,
) {
    for mut r in applied.receipts {
        r.source_shard = block.shard_id;
        r.dest_shard = r.receiver.home_shard(block.num_shards);
        if r.dest_shard == block.shard_id {
            work.back.push_back(r);
        } else {
            let seq = st.next_outgoing(r.dest_shard);
            r.seq = seq;
            st.set_next_outgoing(r.dest_shard, seq + 1);
            let d = r.dest_shard as usize;
            if d < sent.receipts.len() {
                sent.receipts[d] += 1;
                sent.bytes[d] += r.encoded_size();
            }
            out.outgoing.push(r);
        }
    }
    if let Some(p) = applied.ready {
        work.front.push_front(p);
    }
    if let Some(e) = applied.execution {
        out.gas_used = out.gas_used.saturating_add(e.gas_burnt);
        out.fees_burnt = out.fees_burnt.saturating_add(e.fee);
        out.executions.push((id, e));
    }
}

/// Leaves what did not run in the delayed queue: unread stored receipts where they are, ready
/// ones in front of them, new ones behind. Returns the queue's length.
fn requeue<S: ScheduleState>(st: &mut S, work: Work, (head, tail): (u64, u64)) -> Result<u64, ScheduleError> {
    let Work { front, stored, back } = work;
    let new_head = stored
        .start
        .checked_sub(front.len() as u64)
        .ok_or(ScheduleError::QueueFront)?;
    for (i, r) in front.iter().enumerate() {
        st.put_queued(new_head + i as u64, r);
    }
    let mut new_tail = stored.end;
    for r in &back {
        st.put_queued(new_tail, r);
        new_tail += 1;
    }
    if (new_head, new_tail) != (head, tail) {
        st.set_queue_bounds(new_head, new_tail);
    }
    Ok(new_tail - new_head)
}
