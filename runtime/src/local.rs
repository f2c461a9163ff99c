//! A deterministic, in-memory, multi-shard executor for tests and contract developers.
//!
//! It runs N shards block by block with the chain's own block schedule ([`crate::schedule`]: the
//! same function, receipt rules, receipt budget, block gas limit and congestion control as a node),
//! without consensus, networking or authenticated storage:
//!
//! - A transaction executes on its signer's home shard and becomes one receipt (a transfer or a
//!   call) for the receiver's home shard, or deploys a contract on that shard.
//! - In a block each shard runs its incoming receipts' checks, its transactions, then its receipt
//!   queue, at most [`LocalNet::max_receipts_per_block`] receipts; the rest wait (the delayed
//!   queue). A transaction left out for congestion or the block gas limit waits for a later block.
//!   Cross-shard receipts go to the outbox, numbered per (source, destination) pair, and are
//!   delivered when the block ends, so they run in a later block. Delivery checks the sequence
//!   number: exactly once, in order.
//!
//! Everything is deterministic: same transactions, same state roots, gas and results.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use ed25519_dalek::SigningKey;
use tutti_primitives::{
    Account, Action, Address, Amount, CallFailure, ChainId, Gas, Hash, Height, INIT_PENDING_KEY, PublicKey, Receipt,
    ShardId, SignedTransaction, Transaction, codec::Encode, hash::hash_encoded,
};

pub use crate::apply::Execution;
use crate::{
    BlockContext, CallContext, CallOutcome, Runtime, RuntimeError, StateChange, StateView,
    apply::{self, ShardState},
    schedule::{self, Limits, QUEUE_BASE, ScheduleState},
};

/// Errors of the local executor (refused transactions, misuse).
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Signature, chain id or nonce check failed.
    #[error("transaction refused: {0}")]
    Refused(String),
    /// Deployment failed validation or compilation.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A receipt arrived out of order or twice.
    #[error("receipt {id} from shard {source_shard} has sequence {got}, expected {expected}")]
    OutOfOrder {
        /// Receipt id.
        id: Hash,
        /// Source shard.
        source_shard: ShardId,
        /// Its sequence number.
        got: u64,
        /// The next expected one.
        expected: u64,
    },
    /// Unknown account or contract, or a failed init.
    #[error("{0}")]
    NotFound(String),
}

/// Result alias.
pub type LocalResult<T> = std::result::Result<T, LocalError>;

#[derive(Default)]
struct Storage(BTreeMap<(Address, Vec<u8>), Vec<u8>>);

impl StateView for Storage {
    fn storage_get(&self, contract: &Address, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(&(*contract, key.to_vec())).cloned()
    }

    fn randomness_at(&self, height: Height) -> Option<Hash> {
        Some(local_randomness(height))
    }
}

/// The local network's randomness of block `height` (a fixed function of the height, so tests
/// can predict it).
pub fn local_randomness(height: Height) -> Hash {
    hash_encoded("tutti/local/randomness/v1", &height)
}

struct Shard {
    accounts: BTreeMap<Address, Account>,
    codes: BTreeMap<Hash, Vec<u8>>,
    storage: Arc<Storage>,
    txs: Vec<SignedTransaction>,
    /// The delayed queue: slots `queue_bounds.0..queue_bounds.1`.
    queue: BTreeMap<u64, Receipt>,
    queue_bounds: (u64, u64),
    /// Receipts delivered from other shards, run by the next block.
    inbox: Vec<Receipt>,
    postponed: BTreeMap<Hash, Receipt>,
    waiting: BTreeMap<Hash, Hash>,
    data: BTreeMap<Hash, Result<Vec<u8>, CallFailure>>,
    outbox: Vec<Receipt>,
    next_out: BTreeMap<ShardId, u64>,
    next_in: BTreeMap<ShardId, u64>,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            accounts: BTreeMap::new(),
            codes: BTreeMap::new(),
            storage: Arc::default(),
            txs: Vec::new(),
            queue: BTreeMap::new(),
            queue_bounds: (QUEUE_BASE, QUEUE_BASE),
            inbox: Vec::new(),
            postponed: BTreeMap::new(),
            waiting: BTreeMap::new(),
            data: BTreeMap::new(),
            outbox: Vec::new(),
            next_out: BTreeMap::new(),
            next_in: BTreeMap::new(),
        }
    }
}

impl Shard {
    /// Receipts waiting to run: queued, delivered, postponed.
    fn pending(&self) -> usize {
        self.queue.len() + self.inbox.len() + self.postponed.len()
    }
}

impl ScheduleState for Shard {
    fn queue_bounds(&self) -> (u64, u64) {
        self.queue_bounds
    }
    fn set_queue_bounds(&mut self, head: u64, tail: u64) {
        self.queue_bounds = (head, tail);
    }
    fn take_queued(&mut self, i: u64) -> Option<Receipt> {
        self.queue.remove(&i)
    }
    fn put_queued(&mut self, i: u64, receipt: &Receipt) {
        self.queue.insert(i, receipt.clone());
    }
    fn next_incoming(&self, source: ShardId) -> u64 {
        self.next_in.get(&source).copied().unwrap_or(0)
    }
    fn set_next_incoming(&mut self, source: ShardId, seq: u64) {
        self.next_in.insert(source, seq);
    }
    fn next_outgoing(&self, dest: ShardId) -> u64 {
        self.next_out.get(&dest).copied().unwrap_or(0)
    }
    fn set_next_outgoing(&mut self, dest: ShardId, seq: u64) {
        self.next_out.insert(dest, seq);
    }
}

/// Inserts `Some(v)` or removes on `None`.
fn set<V>(map: &mut BTreeMap<Hash, V>, key: Hash, value: Option<V>) {
    match value {
        Some(v) => map.insert(key, v),
        None => map.remove(&key),
    };
}

impl ShardState for Shard {
    fn account(&self, a: &Address) -> Account {
        self.accounts.get(a).cloned().unwrap_or_default()
    }
    fn set_account(&mut self, a: &Address, account: Account) {
        self.accounts.insert(*a, account);
    }
    fn code(&self, hash: &Hash) -> Option<Vec<u8>> {
        self.codes.get(hash).cloned()
    }
    fn put_code(&mut self, hash: Hash, code: Vec<u8>) {
        self.codes.insert(hash, code);
    }
    fn storage_view(&self) -> Arc<dyn StateView> {
        self.storage.clone()
    }
    fn apply_storage(&mut self, contract: &Address, changes: &[StateChange]) {
        // The runtime dropped its reference to the storage when the call ended.
        let storage = Arc::get_mut(&mut self.storage).expect("no call holds the shard storage");
        for ch in changes {
            match &ch.value {
                Some(v) => storage.0.insert((*contract, ch.key.clone()), v.clone()),
                None => storage.0.remove(&(*contract, ch.key.clone())),
            };
        }
    }
    fn data(&self, id: &Hash) -> Option<Result<Vec<u8>, CallFailure>> {
        self.data.get(id).cloned()
    }
    fn set_data(&mut self, id: Hash, result: Option<Result<Vec<u8>, CallFailure>>) {
        set(&mut self.data, id, result);
    }
    fn waiting(&self, id: &Hash) -> Option<Hash> {
        self.waiting.get(id).copied()
    }
    fn set_waiting(&mut self, id: Hash, receipt: Option<Hash>) {
        set(&mut self.waiting, id, receipt);
    }
    fn postponed(&self, id: &Hash) -> Option<Receipt> {
        self.postponed.get(id).cloned()
    }
    fn set_postponed(&mut self, id: Hash, receipt: Option<Receipt>) {
        set(&mut self.postponed, id, receipt);
    }
}

/// What one block did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockReport {
    /// Height.
    pub height: Height,
    /// Ids executed, per shard, in order.
    pub executed: Vec<Vec<Hash>>,
    /// Receipts still queued or waiting, per shard, after the block.
    pub pending: Vec<usize>,
    /// Transactions dropped because they can never apply (nonce below the account's), per shard.
    pub dropped: Vec<Vec<Hash>>,
    /// Per shard, the shards it admitted no transaction for (congested destinations).
    pub closed: Vec<Vec<ShardId>>,
    /// Per shard, how many receipts its block sent each shard.
    pub sent: Vec<Vec<usize>>,
    /// Per shard, how many bytes of receipts (encoded) its block sent each shard.
    pub sent_bytes: Vec<Vec<usize>>,
}

/// The local multi-shard network.
pub struct LocalNet {
    runtime: Arc<Runtime>,
    chain_id: ChainId,
    shards: Vec<Shard>,
    height: Height,
    executions: HashMap<Hash, Execution>,
    next_key: u64,
    next_deploy: u64,
    /// Most receipts one shard executes per block.
    pub max_receipts_per_block: usize,
    /// Most gas one shard's transactions may buy per block.
    pub block_gas_limit: Gas,
    /// Most receipts one shard's block may send one other shard (one batch).
    pub max_outgoing_per_destination: usize,
    /// Most bytes of receipts one shard's block may send one other shard (one batch).
    pub max_outgoing_bytes_per_destination: usize,
    /// Gas price used by the helpers that build transactions.
    pub gas_price: Amount,
}

fn refuse<T>(msg: impl Into<String>) -> LocalResult<T> {
    Err(LocalError::Refused(msg.into()))
}

impl LocalNet {
    /// A network of `num_shards` shards (at least 1).
    pub fn new(runtime: Arc<Runtime>, num_shards: u32) -> Self {
        LocalNet {
            runtime,
            chain_id: 1,
            shards: (0..num_shards.max(1)).map(|_| Shard::default()).collect(),
            height: 0,
            executions: HashMap::new(),
            next_key: 0,
            next_deploy: 0,
            max_receipts_per_block: 1_000,
            block_gas_limit: 100_000_000_000,
            max_outgoing_per_destination: tutti_primitives::receipt::MAX_BATCH_RECEIPTS,
            max_outgoing_bytes_per_destination: tutti_primitives::receipt::MAX_BATCH_BYTES,
            gas_price: 1,
        }
    }

    /// Number of shards.
    pub fn num_shards(&self) -> u32 {
        self.shards.len() as u32
    }

    /// The chain id signed into transactions.
    pub fn chain_id(&self) -> ChainId {
        self.chain_id
    }

    /// Current height (blocks produced so far).
    pub fn height(&self) -> Height {
        self.height
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn shard_of(&self, a: &Address) -> ShardId {
        a.home_shard(self.num_shards())
    }

    fn shard(&self, a: &Address) -> &Shard {
        &self.shards[self.shard_of(a) as usize]
    }

    /// The account, if it exists.
    pub fn account(&self, a: &Address) -> Option<&Account> {
        self.shard(a).accounts.get(a)
    }

    /// Balance of `a` (0 if unknown).
    pub fn balance(&self, a: &Address) -> Amount {
        self.account(a).map_or(0, |x| x.balance)
    }

    /// A contract's storage value.
    pub fn storage(&self, contract: &Address, key: &[u8]) -> Option<Vec<u8>> {
        self.shard(contract).storage.storage_get(contract, key)
    }

    /// The context of the next block on `shard`.
    fn block(&self, shard: ShardId) -> BlockContext {
        BlockContext {
            height: self.height + 1,
            timestamp_ms: (self.height + 1) * 1_000,
            randomness: local_randomness(self.height + 1),
            shard_id: shard,
            num_shards: self.num_shards(),
        }
    }

    /// Creates a funded account on `shard` with a deterministic key.
    pub fn create_account(&mut self, shard: ShardId, balance: Amount) -> (Address, SigningKey) {
        loop {
            let seed = hash_encoded("tutti/local/key/v1", &self.next_key);
            self.next_key += 1;
            let key = SigningKey::from_bytes(&seed.0);
            let addr = Address::from_public_key(&key.verifying_key().to_bytes());
            let s = self.shard_of(&addr);
            if s == shard % self.num_shards() {
                self.shards[s as usize].set_account(
                    &addr,
                    Account {
                        balance,
                        ..Account::default()
                    },
                );
                return (addr, key);
            }
        }
    }

    /// Adds `amount` to the balance of `a` (on its home shard), creating the account if needed.
    pub fn fund(&mut self, a: &Address, amount: Amount) {
        let s = self.shard_of(a) as usize;
        let mut acc = self.shards[s].account(a);
        acc.balance = acc.balance.saturating_add(amount);
        self.shards[s].set_account(a, acc);
    }

    /// Deploys `code` as a genesis contract on `shard` and runs `init` (if any) as `owner`.
    /// Returns the contract address. Fails if the code is invalid or the init call fails.
    pub fn deploy(
        &mut self,
        shard: ShardId,
        code: &[u8],
        owner: Address,
        init: Option<(&str, Vec<u8>)>,
    ) -> LocalResult<Address> {
        let loaded = self.runtime.load(code)?;
        let shard = shard % self.num_shards();
        // A contract lives on its deployer's shard: draw pseudo-deployers until one lives on
        // `shard`.
        let addr = loop {
            let deployer = Address(hash_encoded("tutti/local/deployer/v1", &(owner, self.next_deploy)).0);
            self.next_deploy += 1;
            if self.shard_of(&deployer) == shard {
                break Address::for_contract(&deployer, 0);
            }
        };
        let block = self.block(shard);
        let sh = &mut self.shards[shard as usize];
        sh.put_code(loaded.code_hash, code.to_vec());
        sh.set_account(
            &addr,
            Account {
                code_hash: Some(loaded.code_hash),
                ..Account::default()
            },
        );
        if let Some((method, args)) = init {
            // As a deploy transaction would: the init call runs under the init-pending mark.
            let mark = |v: Option<Vec<u8>>| StateChange {
                key: INIT_PENDING_KEY.to_vec(),
                value: v,
            };
            sh.apply_storage(&addr, &[mark(Some(vec![0; 32]))]);
            let mut ctx = CallContext::new(addr, owner, method, args, 300_000_000);
            ctx.block = block;
            let out = apply::execute_loaded(&self.runtime, sh, &loaded.code_hash, ctx);
            sh.apply_storage(&addr, &[mark(None)]);
            if let Err(f) = &out.result {
                sh.set_account(&addr, Account::default());
                return Err(LocalError::NotFound(format!("init `{method}` failed: {f}")));
            }
            sh.apply_storage(&addr, &out.state_changes);
        }
        Ok(addr)
    }

    /// Runs a read-only call against the current state.
    pub fn view(&self, contract: &Address, method: &str, args: Vec<u8>) -> LocalResult<CallOutcome> {
        let sh = self.shard(contract);
        let acc = sh.account(contract);
        let code = acc
            .code_hash
            .ok_or_else(|| LocalError::NotFound(format!("no contract at {contract}")))?;
        let mut ctx = CallContext::new(*contract, Address::default(), method, args, 300_000_000);
        ctx.block = self.block(self.shard_of(contract));
        ctx.balance = acc.balance;
        ctx.read_only = true;
        Ok(apply::execute_loaded(&self.runtime, sh, &code, ctx))
    }

    /// Builds and signs a transaction from `key` with its next nonce.
    pub fn sign(&self, key: &SigningKey, gas_limit: Gas, action: Action) -> SignedTransaction {
        let pk = PublicKey(key.verifying_key().to_bytes());
        let queued = self
            .shard(&pk.address())
            .txs
            .iter()
            .filter(|t| t.tx.signer == pk)
            .count() as u64;
        let nonce = self.account(&pk.address()).map_or(0, |a| a.nonce) + queued;
        Transaction {
            chain_id: self.chain_id,
            signer: pk,
            nonce,
            gas_limit,
            gas_price: self.gas_price,
            action,
        }
        .sign(key)
    }

    /// Signs and submits a call; returns the transaction hash.
    pub fn call(
        &mut self,
        key: &SigningKey,
        contract: Address,
        method: &str,
        args: Vec<u8>,
        value: Amount,
        gas: Gas,
    ) -> LocalResult<Hash> {
        let tx = self.sign(
            key,
            gas,
            Action::Call {
                contract,
                method: method.into(),
                args,
                value,
            },
        );
        self.submit(tx)
    }

    /// Checks and queues a transaction on its signer's shard.
    pub fn submit(&mut self, stx: SignedTransaction) -> LocalResult<Hash> {
        stx.verify().or_else(|e| refuse(e.to_string()))?;
        let tx = &stx.tx;
        if tx.chain_id != self.chain_id {
            return refuse(format!(
                "chain id {} does not match this chain ({})",
                tx.chain_id, self.chain_id
            ));
        }
        if let Action::Call { args, .. } = &tx.action
            && args.len() > crate::host::caps::MAX_ARGS
        {
            return refuse(format!(
                "the call's arguments take {} bytes, over the limit of {}",
                args.len(),
                crate::host::caps::MAX_ARGS
            ));
        }
        let sender = tx.sender();
        let queued = self
            .shard(&sender)
            .txs
            .iter()
            .filter(|t| t.tx.signer == tx.signer)
            .count() as u64;
        let expected = self.account(&sender).map_or(0, |a| a.nonce) + queued;
        if tx.nonce != expected {
            return refuse(format!("nonce {} is not the next nonce {expected}", tx.nonce));
        }
        let hash = stx.hash();
        let s = self.shard_of(&sender) as usize;
        self.shards[s].txs.push(stx);
        Ok(hash)
    }

    /// What executing a transaction or receipt produced.
    pub fn execution(&self, id: &Hash) -> Option<&Execution> {
        self.executions.get(id)
    }

    /// Every execution in the tree rooted at `id` (a transaction hash), depth first.
    pub fn trace(&self, id: &Hash) -> Vec<&Execution> {
        let mut out = Vec::new();
        let mut stack = vec![*id];
        while let Some(i) = stack.pop() {
            if let Some(e) = self.executions.get(&i) {
                out.push(e);
                stack.extend(e.children.iter().rev());
            }
        }
        out
    }

    /// The call a transaction turned into (the first receipt executed in its trace), if it ran:
    /// its result, gas and events.
    pub fn first_call(&self, tx: &Hash) -> Option<&Execution> {
        self.trace(tx).into_iter().find(|e| !e.transaction)
    }

    /// How many transactions for each other shard `source` may admit in its next block
    /// (congestion control between shards): the room under the limit of each destination's
    /// load seen from it, receipts it sent that the destination has not run yet plus its delayed
    /// queue ([`schedule::room`]). A node learns this from the destinations' headers; here every
    /// shard's state is at hand.
    fn room_for(&self, source: ShardId) -> std::collections::BTreeMap<ShardId, u64> {
        let from = &self.shards[source as usize];
        (0..self.shards.len() as ShardId)
            .filter(|d| *d != source)
            .map(|d| {
                let dest = &self.shards[d as usize];
                let (head, tail) = dest.queue_bounds();
                let unconsumed = from.next_outgoing(d).saturating_sub(dest.next_incoming(source));
                (
                    d,
                    schedule::room(unconsumed + (tail - head), self.max_receipts_per_block),
                )
            })
            .collect()
    }

    /// Produces one block on every shard.
    pub fn produce_block(&mut self) -> BlockReport {
        let mut report = BlockReport {
            height: self.height + 1,
            ..Default::default()
        };
        // Every shard sees the others as they were after the last block (as a node sees their
        // latest headers).
        let rooms: Vec<_> = (0..self.shards.len() as ShardId).map(|s| self.room_for(s)).collect();
        for (s, room) in rooms.into_iter().enumerate() {
            report
                .closed
                .push(room.iter().filter(|(_, left)| **left == 0).map(|(d, _)| *d).collect());
            let limits = Limits {
                max_receipts_per_block: self.max_receipts_per_block,
                block_gas_limit: self.block_gas_limit,
                room,
                max_outgoing_per_destination: self.max_outgoing_per_destination,
                max_outgoing_bytes_per_destination: self.max_outgoing_bytes_per_destination,
                // No block body here: transactions are bounded by gas alone.
                max_tx_bytes: usize::MAX,
            };
            let block = self.block(s as ShardId);
            let shard = &mut self.shards[s];
            let txs = std::mem::take(&mut shard.txs);
            let incoming = std::mem::take(&mut shard.inbox);
            // Signatures, chain id and nonces were checked on submission.
            let done = schedule::run_block(&self.runtime, shard, &block, limits, &txs, incoming, |_| {
                Ok::<(), std::convert::Infallible>(())
            })
            .expect("the executor delivers its own receipts in order, and its queue starts at 2^63");
            let dropped: Vec<Hash> = done
                .skipped
                .iter()
                .filter(|(_, skip)| !skip.is_retryable())
                .map(|(h, _)| *h)
                .collect();
            // Left out for congestion or gas: they wait, in order, for a later block.
            let waiting: std::collections::HashSet<Hash> = done
                .skipped
                .iter()
                .filter(|(_, skip)| skip.is_retryable())
                .map(|(h, _)| *h)
                .collect();
            shard.txs = txs.into_iter().filter(|t| waiting.contains(&t.hash())).collect();
            let mut sent = vec![0; self.shards.len()];
            let mut bytes = vec![0; self.shards.len()];
            for r in &done.outgoing {
                if let Some(n) = sent.get_mut(r.dest_shard as usize) {
                    *n += 1;
                    bytes[r.dest_shard as usize] += r.encoded_size();
                }
            }
            report.sent.push(sent);
            report.sent_bytes.push(bytes);
            let shard = &mut self.shards[s];
            shard.outbox.extend(done.outgoing);
            report
                .executed
                .push(done.executions.iter().map(|(id, _)| *id).collect());
            self.executions.extend(done.executions);
            report.dropped.push(dropped);
        }
        // End of block: deliver the outboxes.
        for s in 0..self.shards.len() {
            for r in std::mem::take(&mut self.shards[s].outbox) {
                self.deliver(r).expect("the executor numbers its own receipts in order");
            }
        }
        self.height += 1;
        report.pending = self.shards.iter().map(Shard::pending).collect();
        report
    }

    /// Whether no shard has transactions or receipts left to run (postponed callbacks wait for
    /// results that are not coming from anything queued).
    pub fn is_idle(&self) -> bool {
        self.shards
            .iter()
            .all(|s| s.txs.is_empty() && s.queue.is_empty() && s.inbox.is_empty())
    }

    /// Produces blocks until no shard has work left (or `max_blocks`); returns how many it made.
    pub fn run_until_idle(&mut self, max_blocks: usize) -> usize {
        for n in 0..max_blocks {
            if self.is_idle() {
                return n;
            }
            self.produce_block();
        }
        max_blocks
    }

    /// Delivers a cross-shard receipt to its destination, checking its sequence number; it runs
    /// in the destination's next block (which checks the sequence again, as a node does).
    pub fn deliver(&mut self, r: Receipt) -> LocalResult<()> {
        let n = self.shards.len();
        let dst = &mut self.shards[r.dest_shard as usize % n];
        // The stream continues after the last receipt of this source already waiting, if any.
        let expected = match dst.inbox.iter().rev().find(|x| x.source_shard == r.source_shard) {
            Some(last) => last.seq + 1,
            None => dst.next_incoming(r.source_shard),
        };
        if r.seq != expected {
            return Err(LocalError::OutOfOrder {
                id: r.id,
                source_shard: r.source_shard,
                got: r.seq,
                expected,
            });
        }
        dst.inbox.push(r);
        Ok(())
    }

    /// A hash of a shard's whole state (accounts and storage), to compare runs.
    pub fn state_root(&self, shard: ShardId) -> Hash {
        let s = &self.shards[shard as usize];
        let accounts: Vec<_> = s.accounts.iter().collect();
        let storage: Vec<_> = s.storage.0.iter().collect();
        hash_encoded("tutti/local/state/v1", &(accounts, storage, &s.next_in, &s.next_out))
    }
}
