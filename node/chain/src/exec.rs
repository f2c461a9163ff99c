//! Block execution over the authenticated state, with the receipt rules of
//! [`tutti_runtime::apply`] (the same core the local executor uses).
//!
//! A block runs the block schedule of [`tutti_runtime::schedule`] (incoming receipts, transactions,
//! delayed queue, same-shard receipts, budget, outbox: the same function `LocalNet` runs) over the
//! state at its parent, with the delayed queue in state slots `q/i/` + index from `q/head` to
//! `q/tail` and the stream cursors at `n/` + source (incoming) and `o/` + destination (outgoing).
//! Then, here:
//! - Fees: every transaction burns its inclusion cost, every execution the gas it burnt, at its
//!   gas price. Burnt tokens leave circulation; their running total is state key [`BURNT`], so
//!   supply = genesis supply - burnt total, provably. (Validator rewards come from staking
//!   issuance on the beacon chain, not from fees, so a proposer gains nothing by stuffing blocks.)
//! - The block's `(height, randomness)` goes into ring slot `height % RANDOMNESS_WINDOW` (state
//!   key `r/`), so contracts can read the randomness of a recent block (`randomness_at`).
//! - All state changes are applied to the tree at version = height; the tree update goes into
//!   the block's write batch. A storage error while executing aborts the block (it is never
//!   turned into "value absent" for a contract).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, RwLock},
};

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{
    Account, Address, Amount, CallFailure, Congestion, Gas, Hash, Height, RANDOMNESS_WINDOW, Receipt, ShardId,
    SignedTransaction, StakeAction,
};
use tutti_runtime::{
    BlockContext, Runtime, StateChange, StateView,
    apply::{Execution, ShardState},
    schedule::{self, Limits, QUEUE_BASE, ScheduleState, Skip},
};

use crate::{
    ChainError, Result, StateDb, Store, WriteBatch,
    account::{account_key, code_key, storage_key},
    beacon::{self, EpochEnd, EpochSpec, Kv},
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
    /// Epochs and staking (the beacon chain runs them; every shard counts epochs alike).
    pub epochs: EpochSpec,
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
    /// Per source, the source block whose receipts `incoming` ends with (what the state records
    /// as last consumed: [`crate::foreign`]).
    pub consumed: Vec<(ShardId, crate::foreign::Consumed)>,
    /// True when every transaction's signature was already verified by this node (its own pool
    /// admitted them); false re-verifies each one (a block from someone else).
    pub signatures_checked: bool,
    /// Per destination shard, how many transactions for it the block may admit (congestion
    /// control between shards, as the proposer sees it; empty when checking someone else's block).
    pub room: std::collections::BTreeMap<ShardId, u64>,
    /// Beacon blocks: the shard blocks crosslinked (checked by the caller, in order).
    pub crosslinks: Vec<tutti_primitives::Crosslink>,
    /// Most bytes (encoded) the transactions may take: what the block body leaves them
    /// (`crate::block::tx_room`).
    pub max_tx_bytes: usize,
    /// The parent's commit certificate the header carries (its signers are rewarded on the
    /// beacon chain; checked by the caller).
    pub parent_commit: Option<tutti_primitives::CommitCertificate>,
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
    /// Per destination shard: the stream position of the block's first receipt for it (the
    /// cursor when there is none); with `outgoing`, the leaves of the outgoing-receipts root.
    pub first_outgoing: Vec<u64>,
    /// Gas burnt by the block.
    pub gas_used: Gas,
    /// Tokens burnt as fees by the block (they leave circulation; state key [`BURNT`]).
    pub fees_burnt: Amount,
    /// Receipts left in the delayed queue.
    pub delayed: u64,
    /// Per source shard: the sequence number this shard expects next from it (0 for itself).
    pub consumed: Vec<u64>,
    /// The state's value writes, for the newest-value cache once the batch is written.
    pub state_writes: StateWrites,
    /// What ending the epoch did, when this is the last beacon block of an epoch.
    pub epoch_end: Option<EpochEnd>,
}

impl BlockOutput {
    /// The block's outgoing-receipts root (one leaf per destination shard).
    pub fn outgoing_root(&self, shard: ShardId, num_shards: u32) -> Hash {
        tutti_primitives::receipt::outgoing_root(shard, num_shards, &self.first_outgoing, &self.outgoing)
    }

    /// The shard's load after the block, as its header publishes it.
    pub fn congestion(&self) -> Congestion {
        Congestion {
            delayed: self.delayed,
            consumed: self.consumed.clone(),
        }
    }
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
    epochs: EpochSpec,
}

impl Kv for BlockState {
    fn get<T: Decode>(&self, key: &[u8], what: &'static str) -> Option<T> {
        self.get_decoded(key, what)
    }
    fn put<T: Encode>(&mut self, key: Vec<u8>, value: Option<&T>) {
        self.put_encoded(key, value);
    }
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
    fn stake(
        &mut self,
        signer: &Address,
        action: &StakeAction,
        block: &BlockContext,
    ) -> std::result::Result<Vec<u8>, String> {
        if block.shard_id != 0 {
            return Err(format!(
                "staking actions run on the beacon chain (shard 0); this is shard {}",
                block.shard_id
            ));
        }
        let epochs = self.epochs;
        beacon::apply_action(self, &epochs, signer, action, epochs.epoch_of(block.height)).map_err(|e| e.to_string())
    }
}

pub(crate) const QUEUE_HEAD: &[u8] = b"q/head";
pub(crate) const QUEUE_TAIL: &[u8] = b"q/tail";
/// State key of the total of fees burnt since genesis (a SCALE `u128`).
pub const BURNT: &[u8] = b"z/burnt";

/// State key of the next sequence number expected from `source`.
pub(crate) fn incoming_cursor_key(source: ShardId) -> Vec<u8> {
    key(b"n/", &source.to_be_bytes())
}

/// State key of the next sequence number of the stream to `dest`.
pub(crate) fn outgoing_cursor_key(dest: ShardId) -> Vec<u8> {
    key(b"o/", &dest.to_be_bytes())
}

fn queue_item(i: u64) -> Vec<u8> {
    key(b"q/i/", &i.to_be_bytes())
}

impl ScheduleState for BlockState {
    fn queue_bounds(&self) -> (u64, u64) {
        (
            self.get_decoded(QUEUE_HEAD, "queue head").unwrap_or(QUEUE_BASE),
            self.get_decoded(QUEUE_TAIL, "queue tail").unwrap_or(QUEUE_BASE),
        )
    }
    fn set_queue_bounds(&mut self, head: u64, tail: u64) {
        // Only the bound that moved is written, so an untouched key stays absent.
        let (old_head, old_tail) = self.queue_bounds();
        if head != old_head {
            self.put_encoded(QUEUE_HEAD.to_vec(), Some(&head));
        }
        if tail != old_tail {
            self.put_encoded(QUEUE_TAIL.to_vec(), Some(&tail));
        }
    }
    fn take_queued(&mut self, i: u64) -> Option<Receipt> {
        let r = self.get_decoded::<Receipt>(&queue_item(i), "queued receipt");
        self.put(queue_item(i), None);
        r
    }
    fn put_queued(&mut self, i: u64, receipt: &Receipt) {
        self.put_encoded(queue_item(i), Some(receipt));
    }
    fn next_incoming(&self, source: ShardId) -> u64 {
        self.get_decoded(&incoming_cursor_key(source), "stream sequence")
            .unwrap_or(0)
    }
    fn set_next_incoming(&mut self, source: ShardId, seq: u64) {
        self.put_encoded(incoming_cursor_key(source), Some(&seq));
    }
    fn next_outgoing(&self, dest: ShardId) -> u64 {
        self.get_decoded(&outgoing_cursor_key(dest), "stream sequence")
            .unwrap_or(0)
    }
    fn set_next_outgoing(&mut self, dest: ShardId, seq: u64) {
        self.put_encoded(outgoing_cursor_key(dest), Some(&seq));
    }
}

/// The state at `version`, read-only in effect: writes go to an overlay that is dropped. For
/// views (read-only calls).
pub fn read_state(db: &StateDb<dyn Store>, version: u64, epochs: EpochSpec) -> impl ShardState + Kv + use<> {
    BlockState {
        view: Arc::new(View {
            db: db.clone(),
            version: Some(version),
            overlay: Arc::new(RwLock::new(Overlay::new())),
            error: Arc::new(Mutex::new(None)),
        }),
        epochs,
    }
}

/// Writes `accounts` as the state at version 0 and returns the genesis state root.
pub fn write_genesis(db: &StateDb<dyn Store>, accounts: &[(Address, Account)], batch: &mut WriteBatch) -> Result<Hash> {
    let entries: Vec<_> = accounts.iter().map(|(a, acc)| (account_key(a), acc.encode())).collect();
    write_genesis_state(db, &entries, batch)
}

/// The state root of a genesis state (computed in memory).
pub fn genesis_root(entries: &[(Vec<u8>, Vec<u8>)]) -> Result<Hash> {
    let mem: Arc<dyn Store> = Arc::new(crate::MemStore::new());
    write_genesis_state(&StateDb::new(mem), entries, &mut WriteBatch::new())
}

/// Writes state `entries` (key, value) as the state at version 0 and returns the genesis state
/// root.
pub fn write_genesis_state(
    db: &StateDb<dyn Store>,
    entries: &[(Vec<u8>, Vec<u8>)],
    batch: &mut WriteBatch,
) -> Result<Hash> {
    let (root, _) = db.apply(0, entries.iter().map(|(k, v)| (k.clone(), Some(v.clone()))), batch)?;
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
    let mut st = BlockState {
        view: view.clone(),
        epochs: spec.epochs,
    };
    let block = BlockContext {
        height: input.height,
        timestamp_ms: input.timestamp_ms,
        randomness: input.randomness,
        shard_id: spec.shard_id,
        num_shards: spec.num_shards,
    };
    let limits = Limits {
        max_receipts_per_block: spec.max_receipts_per_block,
        block_gas_limit: spec.block_gas_limit,
        room: input.room,
        max_outgoing_per_destination: tutti_primitives::receipt::MAX_BATCH_RECEIPTS,
        max_outgoing_bytes_per_destination: tutti_primitives::receipt::MAX_BATCH_BYTES,
        max_tx_bytes: input.max_tx_bytes,
    };
    let scheduled = schedule::run_block(runtime, &mut st, &block, limits, &input.txs, input.incoming, |stx| {
        let len = stx.encoded_size();
        if input.signatures_checked {
            txcheck::check_rules(stx, len, &spec.rules)
        } else {
            txcheck::check_stateless(stx, len, &spec.rules)
        }
    })?;
    let mut out = BlockOutput {
        state_root: Hash::ZERO,
        batch: WriteBatch::new(),
        included: scheduled.included,
        skipped: scheduled
            .skipped
            .into_iter()
            .map(|(h, skip)| (h, tx_error(skip)))
            .collect(),
        executions: scheduled.executions,
        outgoing: scheduled.outgoing,
        first_outgoing: scheduled.first_outgoing,
        gas_used: scheduled.gas_used,
        fees_burnt: scheduled.fees_burnt,
        delayed: scheduled.delayed,
        consumed: scheduled.consumed,
        state_writes: StateWrites::default(),
        epoch_end: None,
    };

    st.put_encoded(randomness_key(input.height), Some(&(input.height, input.randomness)));
    for (source, consumed) in &input.consumed {
        st.put_encoded(crate::foreign::last_consumed_key(*source), Some(consumed));
    }

    let burnt: Amount = st.get_decoded(BURNT, "burnt total").unwrap_or(0);
    st.put_encoded(BURNT.to_vec(), Some(&burnt.saturating_add(out.fees_burnt)));

    if spec.shard_id == 0 {
        let reward = |e: crate::staking::StakingError| {
            ChainError::Storage(format!("block {}: issuing rewards: {e}", input.height))
        };
        for link in &input.crosslinks {
            let h = &link.header;
            st.put_encoded(beacon::crosslink_key(h.shard_id), Some(&(h.height, h.hash())));
            beacon::reward_signers(&mut st, &spec.epochs, h.shard_id, h.epoch, &link.cert).map_err(reward)?;
        }
        if let Some(cert) = &input.parent_commit
            && input.height > 1
        {
            let epoch = spec.epochs.epoch_of(input.height - 1);
            beacon::reward_signers(&mut st, &spec.epochs, 0, epoch, cert).map_err(reward)?;
        }
    }

    if spec.shard_id == 0 && spec.epochs.is_last_of_epoch(input.height) {
        let epoch = spec.epochs.epoch_of(input.height);
        let end = beacon::end_epoch(&mut st, &spec.epochs, spec.num_shards, epoch, &input.randomness)
            .map_err(|e| ChainError::Storage(format!("block {}: ending epoch {epoch}: {e}", input.height)))?;
        out.epoch_end = Some(end);
    }

    if let Some(e) = view.error.lock().expect("error lock poisoned").take() {
        return Err(ChainError::Storage(format!("block {} aborted: {e}", input.height)));
    }
    drop(st);
    let overlay = std::mem::take(&mut *view.overlay.write().expect("overlay lock poisoned"));
    (out.state_root, out.state_writes) = db.apply(input.height, overlay, &mut out.batch)?;
    Ok(out)
}

/// The chain's name for why the schedule left a transaction out.
fn tx_error(skip: Skip<TxError>) -> TxError {
    match skip {
        Skip::Refused(e) => e,
        Skip::NonceTooLow { got, expected } => TxError::NonceTooLow { got, expected },
        Skip::NonceTooHigh { got, expected } => TxError::NonceTooHigh { got, expected },
        Skip::Congested { budget } => TxError::Congested { budget },
        Skip::ShardCongested { shard } => TxError::ShardCongested { shard },
        Skip::GasLimit { got, left } => TxError::GasLimit { got, min: 0, max: left },
        Skip::OutboxFull { shard, limit } => TxError::OutboxFull { shard, limit },
        Skip::BlockFull { bytes, left } => TxError::BlockFull { bytes, left },
        Skip::CannotPay { need, have } => TxError::CannotPayYet { need, have },
    }
}
