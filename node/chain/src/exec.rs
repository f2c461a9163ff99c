//! Block execution over the authenticated state, with the receipt rules of
//! [`tutti_runtime::apply`] (the same core the local executor uses).
//!
//! Rules of a block on shard `s`:
//! 1. Incoming cross-shard receipts must carry the next sequence number of their (source, s)
//!    stream (kept in state); anything else makes the block invalid.
//! 2. Transactions run first, in block order. A transaction that fails the stateless checks, does
//!    not carry exactly its sender's account nonce, or does not fit the block gas limit is skipped
//!    (not included). So is one that arrives when the receipts waiting to run (delayed queue,
//!    incoming, and those made by earlier transactions of the block) already fill the block's
//!    receipt budget (congestion control: it stays in the pool for a later block). Each included
//!    one turns into its first receipt.
//! 3. Then receipts run in this order, at most `max_receipts_per_block`: the delayed queue (kept in
//!    state, oldest first, slots `q/i/` + index from `q/head` to `q/tail`; a new chain starts at
//!    index 2^63), incoming receipts, then same-shard receipts made by this block. A call that
//!    completes a postponed callback puts it at the front. What does not run stays queued: the
//!    unread part of the stored queue where it is, ready callbacks in the slots just in front of
//!    it, the rest appended. A block reads only the queued receipts it runs.
//! 4. Receipts for other shards get the next sequence number of their (s, destination) stream and
//!    leave in the block's outbox.
//! 5. Fees: every transaction burns its inclusion cost, every execution the gas it burnt, at its
//!    gas price. Burnt tokens leave circulation; their running total is state key [`BURNT`], so
//!    supply = genesis supply - burnt total, provably. (Validator rewards come from staking
//!    issuance on the beacon chain, not from fees, so a proposer gains nothing by stuffing blocks.)
//! 6. The block's `(height, randomness)` goes into ring slot `height % RANDOMNESS_WINDOW` (state
//!    key `r/`), so contracts can read the randomness of a recent block (`randomness_at`).
//! 7. All state changes are applied to the tree at version = height; the tree update goes into
//!    the block's write batch. A storage error while executing aborts the block (it is never
//!    turned into "value absent" for a contract).

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex, RwLock},
};

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{
    Account, Address, Amount, CallFailure, Gas, Hash, Height, RANDOMNESS_WINDOW, Receipt, ShardId, SignedTransaction,
};
use tutti_runtime::{
    BlockContext, Runtime, StateChange, StateView,
    apply::{self, Applied, Execution, ShardState},
};

use crate::{
    ChainError, Result, StateDb, Store, WriteBatch,
    account::{account_key, code_key, storage_key},
    state::StateWrites,
    txcheck::{self, TxError, TxRules},
};

/// A shard's execution parameters.
#[derive(Clone, Debug)]
pub struct ShardSpec {
    /// The shard.
    pub shard_id: ShardId,
    /// How many shards.
    pub num_shards: u32,
    /// Transaction rules (chain id, bounds).
    pub rules: TxRules,
    /// Most receipts executed per block.
    pub max_receipts_per_block: usize,
    /// Most gas the block's transactions may buy in total.
    pub block_gas_limit: Gas,
}

/// What goes into a block.
#[derive(Clone, Debug)]
pub struct BlockInput {
    /// Height (the new state version).
    pub height: Height,
    /// Timestamp, ms.
    pub timestamp_ms: u64,
    /// The block's randomness.
    pub randomness: Hash,
    /// Candidate transactions, in order.
    pub txs: Vec<SignedTransaction>,
    /// Cross-shard receipts delivered to this shard.
    pub incoming: Vec<Receipt>,
    /// True when every transaction's signature was already verified by this node (its own pool
    /// admitted them); false re-verifies each one (a block from someone else).
    pub signatures_checked: bool,
}

/// What a block did.
#[derive(Debug)]
pub struct BlockOutput {
    /// State root after the block.
    pub state_root: Hash,
    /// The state update; add the block and indexes to it and write it atomically.
    pub batch: WriteBatch,
    /// Hashes of the included transactions, in order.
    pub included: Vec<Hash>,
    /// Transactions left out, and why.
    pub skipped: Vec<(Hash, TxError)>,
    /// Every execution (transactions and receipts), in order.
    pub executions: Vec<(Hash, Execution)>,
    /// Receipts for other shards, numbered.
    pub outgoing: Vec<Receipt>,
    /// Gas burnt by the block.
    pub gas_used: Gas,
    /// Tokens burnt as fees by the block (they leave circulation; state key [`BURNT`]).
    pub fees_burnt: Amount,
    /// Receipts left in the delayed queue.
    pub delayed: u64,
    /// The state's value writes, for the newest-value cache once the batch is written.
    pub state_writes: StateWrites,
}

type Overlay = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Reads through the block's overlay to the state at the parent version.
struct View {
    db: StateDb<dyn Store>,
    version: Option<u64>,
    overlay: Arc<RwLock<Overlay>>,
    error: Arc<Mutex<Option<String>>>,
}

impl View {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = self.overlay.read().expect("overlay lock poisoned").get(key) {
            return v.clone();
        }
        let version = self.version?;
        match self.db.get(key, version) {
            Ok(v) => v,
            Err(e) => {
                self.error
                    .lock()
                    .expect("error lock poisoned")
                    .get_or_insert(e.to_string());
                None
            }
        }
    }
}

impl StateView for View {
    fn storage_get(&self, contract: &Address, key: &[u8]) -> Option<Vec<u8>> {
        self.get(&storage_key(contract, key))
    }

    fn randomness_at(&self, height: Height) -> Option<Hash> {
        let bytes = self.get(&randomness_key(height))?;
        match <(Height, Hash)>::decode(&mut bytes.as_slice()) {
            Ok((h, r)) if h == height => Some(r),
            _ => None,
        }
    }
}

/// State key of the ring slot holding `(height, randomness)` for `height`
/// (`RANDOMNESS_WINDOW` slots, so contracts can read a recent block's randomness).
fn randomness_key(height: Height) -> Vec<u8> {
    key(b"r/", &(height % RANDOMNESS_WINDOW).to_be_bytes())
}

/// The state of one block in progress.
struct BlockState {
    view: Arc<View>,
}

impl BlockState {
    fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.view
            .overlay
            .write()
            .expect("overlay lock poisoned")
            .insert(key, value);
    }

    fn get_decoded<T: Decode>(&self, key: &[u8], what: &'static str) -> Option<T> {
        let bytes = self.view.get(key)?;
        match T::decode(&mut bytes.as_slice()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.view
                    .error
                    .lock()
                    .expect("error lock poisoned")
                    .get_or_insert(format!("corrupt {what}: {e}"));
                None
            }
        }
    }

    fn put_encoded<T: Encode>(&mut self, key: Vec<u8>, value: Option<&T>) {
        self.put(key, value.map(|v| v.encode()));
    }
}

fn key(prefix: &[u8], id: &[u8]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(id);
    k
}

impl ShardState for BlockState {
    fn account(&self, a: &Address) -> Account {
        self.get_decoded(&account_key(a), "account").unwrap_or_default()
    }
    fn set_account(&mut self, a: &Address, account: Account) {
        self.put_encoded(account_key(a), Some(&account));
    }
    fn code(&self, hash: &Hash) -> Option<Vec<u8>> {
        self.view.get(&code_key(hash))
    }
    fn put_code(&mut self, hash: Hash, code: Vec<u8>) {
        self.put(code_key(&hash), Some(code));
    }
    fn storage_view(&self) -> Arc<dyn StateView> {
        self.view.clone()
    }
    fn apply_storage(&mut self, contract: &Address, changes: &[StateChange]) {
        let mut o = self.view.overlay.write().expect("overlay lock poisoned");
        for ch in changes {
            o.insert(storage_key(contract, &ch.key), ch.value.clone());
        }
    }
    fn data(&self, id: &Hash) -> Option<Result<Vec<u8>, CallFailure>> {
        self.get_decoded(&key(b"d/", &id.0), "callback data")
    }
    fn set_data(&mut self, id: Hash, result: Option<Result<Vec<u8>, CallFailure>>) {
        self.put_encoded(key(b"d/", &id.0), result.as_ref());
    }
    fn waiting(&self, id: &Hash) -> Option<Hash> {
        self.get_decoded(&key(b"w/", &id.0), "waiting index")
    }
    fn set_waiting(&mut self, id: Hash, receipt: Option<Hash>) {
        self.put_encoded(key(b"w/", &id.0), receipt.as_ref());
    }
    fn postponed(&self, id: &Hash) -> Option<Receipt> {
        self.get_decoded(&key(b"p/", &id.0), "postponed receipt")
    }
    fn set_postponed(&mut self, id: Hash, receipt: Option<Receipt>) {
        self.put_encoded(key(b"p/", &id.0), receipt.as_ref());
    }
}

const QUEUE_HEAD: &[u8] = b"q/head";
/// State key of the total of fees burnt since genesis (a SCALE `u128`).
pub const BURNT: &[u8] = b"z/burnt";
const QUEUE_TAIL: &[u8] = b"q/tail";

fn queue_item(i: u64) -> Vec<u8> {
    key(b"q/i/", &i.to_be_bytes())
}

/// Index of the first delayed-queue slot of a new chain: the middle of the range, so ready
/// receipts can always be put in front of the queue.
const QUEUE_BASE: u64 = 1 << 63;

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
    fn pop(&mut self, st: &mut BlockState) -> Option<Receipt> {
        if let Some(r) = self.front.pop_front() {
            return Some(r);
        }
        for i in self.stored.by_ref() {
            let r = st.get_decoded::<Receipt>(&queue_item(i), "queued receipt");
            st.put(queue_item(i), None);
            if r.is_some() {
                return r;
            }
        }
        self.back.pop_front()
    }
}

/// The state at `version`, read-only in effect: writes go to an overlay that is dropped. For
/// views (read-only calls).
pub fn read_state(db: &StateDb<dyn Store>, version: u64) -> impl ShardState + use<> {
    BlockState {
        view: Arc::new(View {
            db: db.clone(),
            version: Some(version),
            overlay: Arc::new(RwLock::new(Overlay::new())),
            error: Arc::new(Mutex::new(None)),
        }),
    }
}

/// Writes `accounts` as the state at version 0 and returns the genesis state root.
pub fn write_genesis(db: &StateDb<dyn Store>, accounts: &[(Address, Account)], batch: &mut WriteBatch) -> Result<Hash> {
    let (root, _) = db.apply(
        0,
        accounts.iter().map(|(a, acc)| (account_key(a), Some(acc.encode()))),
        batch,
    )?;
    Ok(root)
}

/// Executes a block on top of the state at `parent_version`.
pub fn execute_block(
    runtime: &Runtime,
    db: &StateDb<dyn Store>,
    parent_version: Option<u64>,
    spec: &ShardSpec,
    input: BlockInput,
) -> Result<BlockOutput> {
    let view = Arc::new(View {
        db: db.clone(),
        version: parent_version,
        overlay: Arc::new(RwLock::new(Overlay::new())),
        error: Arc::new(Mutex::new(None)),
    });
    let mut st = BlockState { view: view.clone() };
    let block = BlockContext {
        height: input.height,
        timestamp_ms: input.timestamp_ms,
        randomness: input.randomness,
        shard_id: spec.shard_id,
        num_shards: spec.num_shards,
    };
    let mut out = BlockOutput {
        state_root: Hash::ZERO,
        batch: WriteBatch::new(),
        included: Vec::new(),
        skipped: Vec::new(),
        executions: Vec::new(),
        outgoing: Vec::new(),
        gas_used: 0,
        fees_burnt: 0,
        delayed: 0,
        state_writes: StateWrites::default(),
    };

    // 1. Incoming receipts must continue their streams.
    let mut incoming = Vec::with_capacity(input.incoming.len());
    for r in input.incoming {
        let k = key(b"n/", &r.source_shard.to_be_bytes());
        let expected: u64 = st.get_decoded(&k, "stream sequence").unwrap_or(0);
        if r.seq != expected || r.dest_shard != spec.shard_id {
            return Err(ChainError::Tree(format!(
                "incoming receipt {} from shard {} has sequence {} for shard {}, expected {expected} for shard {}",
                r.id, r.source_shard, r.seq, r.dest_shard, spec.shard_id
            )));
        }
        st.put_encoded(k, Some(&(expected + 1)));
        incoming.push(r);
    }

    // 3 (first part). The delayed queue, oldest first, read lazily: only the receipts this
    // block runs are loaded.
    let head: u64 = st.get_decoded(QUEUE_HEAD, "queue head").unwrap_or(QUEUE_BASE);
    let tail: u64 = st.get_decoded(QUEUE_TAIL, "queue tail").unwrap_or(QUEUE_BASE);
    let mut work = Work {
        front: VecDeque::new(),
        stored: head..tail.max(head),
        back: incoming.into(),
    };
    let route = |st: &mut BlockState, work: &mut Work, out: &mut BlockOutput, applied: Applied, id: Hash| {
        for mut r in applied.receipts {
            r.source_shard = spec.shard_id;
            r.dest_shard = r.receiver.home_shard(spec.num_shards);
            if r.dest_shard == spec.shard_id {
                work.back.push_back(r);
            } else {
                let k = key(b"o/", &r.dest_shard.to_be_bytes());
                let seq: u64 = st.get_decoded(&k, "stream sequence").unwrap_or(0);
                r.seq = seq;
                st.put_encoded(k, Some(&(seq + 1)));
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
    };

    // 2. Transactions.
    let mut gas_bought: Gas = 0;
    for stx in &input.txs {
        let hash = stx.hash();
        let len = stx.encoded_size();
        let rules_ok = if input.signatures_checked {
            txcheck::check_rules(stx, len, &spec.rules)
        } else {
            txcheck::check_stateless(stx, len, &spec.rules)
        };
        let check = rules_ok.and_then(|()| {
            let acc = st.account(&stx.tx.sender());
            if stx.tx.nonce < acc.nonce {
                return Err(TxError::NonceTooLow {
                    got: stx.tx.nonce,
                    expected: acc.nonce,
                });
            }
            if stx.tx.nonce > acc.nonce {
                return Err(TxError::NonceTooHigh {
                    got: stx.tx.nonce,
                    expected: acc.nonce,
                });
            }
            Ok(())
        });
        if let Err(e) = check {
            out.skipped.push((hash, e));
            continue;
        }
        // Congestion control: a transaction enters only while the receipts waiting to run fit
        // in this block's budget, so the delayed queue cannot grow without bound.
        if work.len() >= spec.max_receipts_per_block as u64 {
            out.skipped.push((
                hash,
                TxError::Congested {
                    budget: spec.max_receipts_per_block,
                },
            ));
            continue;
        }
        let Some(total) = gas_bought
            .checked_add(stx.tx.gas_limit)
            .filter(|g| *g <= spec.block_gas_limit)
        else {
            out.skipped.push((
                hash,
                TxError::GasLimit {
                    got: stx.tx.gas_limit,
                    min: 0,
                    max: spec.block_gas_limit - gas_bought,
                },
            ));
            continue;
        };
        gas_bought = total;
        let applied = apply::apply_transaction(runtime, &mut st, &block, stx);
        out.included.push(hash);
        route(&mut st, &mut work, &mut out, applied, hash);
    }

    // 3. Receipts, bounded.
    let mut budget = spec.max_receipts_per_block;
    while budget > 0 {
        let Some(r) = work.pop(&mut st) else { break };
        budget -= 1;
        let id = r.id;
        let applied = apply::apply_receipt(runtime, &mut st, &block, r);
        route(&mut st, &mut work, &mut out, applied, id);
    }
    // Whatever is left waits in the delayed queue: unread stored receipts stay where they are,
    // ready ones go in front of them, new ones behind.
    let Work { front, stored, back } = work;
    let new_head = stored.start.checked_sub(front.len() as u64).ok_or_else(|| {
        ChainError::Tree(format!(
            "block {}: the delayed queue cannot grow at its front",
            input.height
        ))
    })?;
    for (i, r) in front.iter().enumerate() {
        st.put_encoded(queue_item(new_head + i as u64), Some(r));
    }
    let mut new_tail = stored.end;
    for r in &back {
        st.put_encoded(queue_item(new_tail), Some(r));
        new_tail += 1;
    }
    if new_head != head {
        st.put_encoded(QUEUE_HEAD.to_vec(), Some(&new_head));
    }
    if new_tail != tail {
        st.put_encoded(QUEUE_TAIL.to_vec(), Some(&new_tail));
    }
    out.delayed = new_tail - new_head;

    st.put_encoded(randomness_key(input.height), Some(&(input.height, input.randomness)));

    let burnt: Amount = st.get_decoded(BURNT, "burnt total").unwrap_or(0);
    st.put_encoded(BURNT.to_vec(), Some(&burnt.saturating_add(out.fees_burnt)));

    if let Some(e) = view.error.lock().expect("error lock poisoned").take() {
        return Err(ChainError::Storage(format!("block {} aborted: {e}", input.height)));
    }
    drop(st);
    let overlay = std::mem::take(&mut *view.overlay.write().expect("overlay lock poisoned"));
    (out.state_root, out.state_writes) = db.apply(input.height, overlay, &mut out.batch)?;
    Ok(out)
}
