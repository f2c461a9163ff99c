//! A deterministic, in-memory, multi-shard executor for tests and contract developers.
//!
//! It runs N shards block by block with the receipt rules of DESIGN.md section 4, without
//! consensus, networking or authenticated storage:
//!
//! - A transaction executes on its signer's home shard and becomes one receipt (a transfer or a
//!   call) for the receiver's home shard. Prepaid gas (`gas_limit * gas_price`) and attached value
//!   leave the signer at once; unused gas is refunded to the signer when the call ends.
//! - In a block each shard runs its transactions, then its receipt queue, at most
//!   [`LocalNet::max_receipts_per_block`] receipts; the rest wait (the delayed queue). Same-shard
//!   receipts made in the block join the queue at once; cross-shard receipts go to the outbox,
//!   numbered per (source, destination) pair, and are delivered when the block ends, so they run
//!   in a later block. Delivery checks the sequence number: exactly once, in order.
//! - A call's result goes to each callback waiting for it as a data receipt; a callback runs once
//!   all its inputs have arrived. Value attached to a failed call is refunded to the caller.
//!
//! Everything is deterministic: same transactions, same state roots, gas and results.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
};

use ed25519_dalek::SigningKey;
use parity_scale_codec::Encode;
use tutti_primitives::{
    Action, Address, Amount, CallFailure, ChainId, Event, FailureKind, Gas, Hash, Height, Nonce, PublicKey, Receipt,
    ReceiptBody, ShardId, SignedTransaction, Transaction, hash::hash_encoded,
};

use crate::{BlockContext, CallContext, CallOutcome, Runtime, RuntimeError, StateView};

/// Errors of the local executor (refused transactions, misuse).
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Signature, chain id, nonce or balance check failed.
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
    /// Unknown account or contract.
    #[error("{0}")]
    NotFound(String),
}

/// Result alias.
pub type LocalResult<T> = std::result::Result<T, LocalError>;

/// An account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode)]
pub struct Account {
    /// Balance.
    pub balance: Amount,
    /// Next nonce.
    pub nonce: Nonce,
    /// Code, for contracts.
    pub code_hash: Option<Hash>,
}

#[derive(Default)]
struct Storage(BTreeMap<(Address, Vec<u8>), Vec<u8>>);

impl StateView for Storage {
    fn storage_get(&self, contract: &Address, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(&(*contract, key.to_vec())).cloned()
    }
}

#[derive(Default)]
struct Shard {
    accounts: BTreeMap<Address, Account>,
    storage: Arc<Storage>,
    txs: Vec<SignedTransaction>,
    queue: VecDeque<Receipt>,
    postponed: HashMap<Hash, Receipt>,
    waiting: HashMap<Hash, Hash>,
    data: HashMap<Hash, Result<Vec<u8>, CallFailure>>,
    outbox: Vec<Receipt>,
    next_out: BTreeMap<ShardId, u64>,
    next_in: BTreeMap<ShardId, u64>,
}

/// What executing a transaction or receipt produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// True for a transaction (which only turns into its first receipt), false for a receipt.
    pub transaction: bool,
    /// Shard where it ran.
    pub shard: ShardId,
    /// Block height.
    pub height: Height,
    /// Receiver (the contract, for calls).
    pub receiver: Address,
    /// Method, for calls.
    pub method: Option<String>,
    /// Return data or failure.
    pub result: Result<Vec<u8>, CallFailure>,
    /// Gas used, including gas attached to the receipts it created.
    pub gas_used: Gas,
    /// Gas burnt by this execution alone (gas used minus gas passed on to receipts).
    pub gas_burnt: Gas,
    /// Events.
    pub events: Vec<Event>,
    /// Logs.
    pub logs: Vec<String>,
    /// Ids of the receipts it produced.
    pub children: Vec<Hash>,
}

impl Execution {
    /// A successful record that used no gas, emitted nothing and produced no receipts yet.
    fn empty(transaction: bool, shard: ShardId, height: Height, receiver: Address, method: Option<String>) -> Self {
        Execution {
            transaction,
            shard,
            height,
            receiver,
            method,
            result: Ok(Vec::new()),
            gas_used: 0,
            gas_burnt: 0,
            events: Vec::new(),
            logs: Vec::new(),
            children: Vec::new(),
        }
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

    fn account_mut(&mut self, a: &Address) -> &mut Account {
        let s = self.shard_of(a) as usize;
        self.shards[s].accounts.entry(*a).or_default()
    }

    /// The account, if it exists.
    pub fn account(&self, a: &Address) -> Option<&Account> {
        self.shards[self.shard_of(a) as usize].accounts.get(a)
    }

    /// Balance of `a` (0 if unknown).
    pub fn balance(&self, a: &Address) -> Amount {
        self.account(a).map_or(0, |x| x.balance)
    }

    /// A contract's storage value.
    pub fn storage(&self, contract: &Address, key: &[u8]) -> Option<Vec<u8>> {
        self.shards[self.shard_of(contract) as usize]
            .storage
            .storage_get(contract, key)
    }

    /// Creates a funded account on `shard` with a deterministic key.
    pub fn create_account(&mut self, shard: ShardId, balance: Amount) -> (Address, SigningKey) {
        loop {
            let seed = hash_encoded("tutti/local/key/v1", &self.next_key);
            self.next_key += 1;
            let key = SigningKey::from_bytes(&seed.0);
            let addr = Address::from_public_key(&key.verifying_key().to_bytes());
            if self.shard_of(&addr) == shard % self.num_shards() {
                self.account_mut(&addr).balance = balance;
                return (addr, key);
            }
        }
    }

    /// Deploys `code` as a genesis contract on `shard` and runs `init_method` (if any) as `owner`.
    /// Returns the contract address. Fails if the code is invalid or the init call fails.
    pub fn deploy(
        &mut self,
        shard: ShardId,
        code: &[u8],
        owner: Address,
        init: Option<(&str, Vec<u8>)>,
    ) -> LocalResult<Address> {
        let loaded = self.runtime.load(code)?;
        let addr = loop {
            let a = Address::for_contract(
                &Address(hash_encoded("tutti/local/deployer/v1", &owner).0),
                self.next_deploy,
            );
            self.next_deploy += 1;
            if self.shard_of(&a) == shard % self.num_shards() {
                break a;
            }
        };
        self.account_mut(&addr).code_hash = Some(loaded.code_hash);
        if let Some((method, args)) = init {
            let ctx = self.context(
                addr,
                owner,
                owner,
                method,
                args,
                0,
                300_000_000,
                Vec::new(),
                Hash::ZERO,
                false,
            );
            let out = self.execute(&loaded.code_hash, ctx);
            if let Err(f) = &out.result {
                return Err(LocalError::NotFound(format!("init `{method}` failed: {f}")));
            }
            self.apply(addr, &out);
        }
        Ok(addr)
    }

    #[allow(clippy::too_many_arguments)]
    fn context(
        &self,
        contract: Address,
        predecessor: Address,
        signer: Address,
        method: &str,
        args: Vec<u8>,
        value: Amount,
        gas_limit: Gas,
        promise_results: Vec<Result<Vec<u8>, CallFailure>>,
        origin: Hash,
        read_only: bool,
    ) -> CallContext {
        let shard_id = self.shard_of(&contract);
        CallContext {
            contract,
            predecessor,
            signer,
            method: method.to_string(),
            args,
            value,
            balance: self.balance(&contract).saturating_add(value),
            gas_limit,
            block: BlockContext {
                height: self.height + 1,
                timestamp_ms: (self.height + 1) * 1_000,
                randomness: hash_encoded("tutti/local/randomness/v1", &(self.height + 1)),
                shard_id,
                num_shards: self.num_shards(),
            },
            promise_results,
            origin,
            gas_price: 0,
            read_only,
        }
    }

    fn execute(&self, code: &Hash, ctx: CallContext) -> CallOutcome {
        let state: Arc<dyn StateView> = self.shards[ctx.block.shard_id as usize].storage.clone();
        match self.runtime.execute(code, ctx, state) {
            Ok(o) => o,
            Err(e) => CallOutcome::failed(FailureKind::InvalidCode, e.to_string(), 0, 0),
        }
    }

    /// Applies a successful outcome's state changes and balance to the contract.
    fn apply(&mut self, contract: Address, out: &CallOutcome) {
        let s = self.shard_of(&contract) as usize;
        // The runtime dropped its reference to the storage when the call ended.
        let storage = Arc::get_mut(&mut self.shards[s].storage).expect("no call holds the shard storage");
        for ch in &out.state_changes {
            match &ch.value {
                Some(v) => storage.0.insert((contract, ch.key.clone()), v.clone()),
                None => storage.0.remove(&(contract, ch.key.clone())),
            };
        }
        self.account_mut(&contract).balance = out.balance;
    }

    /// Runs a read-only call against the current state.
    pub fn view(&self, contract: &Address, method: &str, args: Vec<u8>) -> LocalResult<CallOutcome> {
        let code = self
            .account(contract)
            .and_then(|a| a.code_hash)
            .ok_or_else(|| LocalError::NotFound(format!("no contract at {contract}")))?;
        let ctx = self.context(
            *contract,
            Address::default(),
            Address::default(),
            method,
            args,
            0,
            300_000_000,
            Vec::new(),
            Hash::ZERO,
            true,
        );
        Ok(self.execute(&code, ctx))
    }

    /// Builds and signs a transaction from `key` with its next nonce.
    pub fn sign(&self, key: &SigningKey, gas_limit: Gas, action: Action) -> SignedTransaction {
        let pk = PublicKey(key.verifying_key().to_bytes());
        let nonce = self.account(&pk.address()).map_or(0, |a| a.nonce)
            + self.shards[self.shard_of(&pk.address()) as usize]
                .txs
                .iter()
                .filter(|t| t.tx.signer == pk)
                .count() as u64;
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
        let sender = tx.sender();
        let shard = self.shard_of(&sender) as usize;
        let queued = self.shards[shard]
            .txs
            .iter()
            .filter(|t| t.tx.signer == tx.signer)
            .count() as u64;
        let expected = self.account(&sender).map_or(0, |a| a.nonce) + queued;
        if tx.nonce != expected {
            return refuse(format!("nonce {} is not the next nonce {expected}", tx.nonce));
        }
        if matches!(tx.action, Action::Deploy { .. }) {
            return refuse("deploy transactions are executed by the chain (issue 3); use LocalNet::deploy");
        }
        let hash = stx.hash();
        self.shards[shard].txs.push(stx);
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

    /// Produces one block on every shard.
    pub fn produce_block(&mut self) -> BlockReport {
        let mut report = BlockReport {
            height: self.height + 1,
            ..Default::default()
        };
        for s in 0..self.shards.len() {
            let mut executed = Vec::new();
            for stx in std::mem::take(&mut self.shards[s].txs) {
                executed.push(self.run_tx(stx));
            }
            let mut budget = self.max_receipts_per_block;
            while budget > 0 {
                let Some(r) = self.shards[s].queue.pop_front() else {
                    break;
                };
                budget -= 1;
                executed.push(r.id);
                self.run_receipt(r);
            }
            report.executed.push(executed);
        }
        // End of block: deliver the outboxes.
        for s in 0..self.shards.len() {
            for r in std::mem::take(&mut self.shards[s].outbox) {
                self.deliver(r).expect("the executor numbers its own receipts in order");
            }
        }
        self.height += 1;
        report.pending = self.shards.iter().map(|s| s.queue.len() + s.postponed.len()).collect();
        report
    }

    /// Produces blocks until no shard has work left (or `max_blocks`); returns how many it made.
    pub fn run_until_idle(&mut self, max_blocks: usize) -> usize {
        for n in 0..max_blocks {
            let busy = self.shards.iter().any(|s| !s.txs.is_empty() || !s.queue.is_empty());
            if !busy {
                return n;
            }
            self.produce_block();
        }
        max_blocks
    }

    /// Delivers a cross-shard receipt to its destination, checking its sequence number.
    pub fn deliver(&mut self, r: Receipt) -> LocalResult<()> {
        let n = self.shards.len();
        let dst = &mut self.shards[r.dest_shard as usize % n];
        let expected = dst.next_in.get(&r.source_shard).copied().unwrap_or(0);
        if r.seq != expected {
            return Err(LocalError::OutOfOrder {
                id: r.id,
                source_shard: r.source_shard,
                got: r.seq,
                expected,
            });
        }
        dst.next_in.insert(r.source_shard, expected + 1);
        dst.queue.push_back(r);
        Ok(())
    }

    /// Routes a new receipt: same shard joins the queue now, other shards go to the outbox.
    fn route(&mut self, from: ShardId, mut r: Receipt) -> Hash {
        r.source_shard = from;
        r.dest_shard = self.shard_of(&r.receiver);
        let id = r.id;
        let src = &mut self.shards[from as usize];
        if r.dest_shard == from {
            src.queue.push_back(r);
        } else {
            let seq = src.next_out.entry(r.dest_shard).or_insert(0);
            r.seq = *seq;
            *seq += 1;
            src.outbox.push(r);
        }
        id
    }

    fn record(&mut self, id: Hash, e: Execution) {
        self.executions.insert(id, e);
    }

    fn run_tx(&mut self, stx: SignedTransaction) -> Hash {
        let hash = stx.hash();
        let tx = stx.tx;
        let sender = tx.sender();
        let shard = self.shard_of(&sender);
        let prepaid = u128::from(tx.gas_limit).saturating_mul(tx.gas_price);
        let (receiver, value, body, method) = match tx.action {
            Action::Transfer { to, amount } => (to, amount, ReceiptBody::Transfer { amount }, None),
            Action::Call {
                contract,
                method,
                args,
                value,
            } => (
                contract,
                value,
                ReceiptBody::Call {
                    method: method.clone(),
                    args,
                    value,
                    gas: tx.gas_limit,
                    input_data_ids: Vec::new(),
                    output_data_receivers: Vec::new(),
                },
                Some(method),
            ),
            Action::Deploy { .. } => unreachable!("refused at submit"),
        };
        let cost = match &body {
            ReceiptBody::Call { .. } => value.saturating_add(prepaid),
            _ => value,
        };
        let height = self.height + 1;
        let acc = self.account_mut(&sender);
        acc.nonce += 1;
        let mut exec = Execution::empty(true, shard, height, receiver, method);
        if acc.balance < cost {
            exec.result = Err(CallFailure {
                kind: FailureKind::InsufficientBalance,
                message: format!("balance {} is below value + prepaid gas {cost}", acc.balance),
            });
        } else {
            acc.balance -= cost;
            let r = Receipt {
                id: Receipt::derive_id(&hash, 0),
                source_shard: shard,
                dest_shard: 0,
                seq: 0,
                predecessor: sender,
                receiver,
                signer: sender,
                gas_price: tx.gas_price,
                body,
            };
            exec.children.push(self.route(shard, r));
        }
        self.record(hash, exec);
        hash
    }

    fn refund(
        &mut self,
        from: ShardId,
        parent: &Hash,
        index: u32,
        to: Address,
        amount: Amount,
        signer: Address,
    ) -> Option<Hash> {
        if amount == 0 {
            return None;
        }
        let r = Receipt {
            id: Receipt::derive_id(parent, index),
            source_shard: from,
            dest_shard: 0,
            seq: 0,
            predecessor: Address::default(),
            receiver: to,
            signer,
            gas_price: 0,
            body: ReceiptBody::Transfer { amount },
        };
        Some(self.route(from, r))
    }

    fn run_receipt(&mut self, r: Receipt) {
        let shard = self.shard_of(&r.receiver);
        match r.body.clone() {
            ReceiptBody::Transfer { amount } => {
                let acc = self.account_mut(&r.receiver);
                acc.balance = acc.balance.saturating_add(amount);
                let exec = Execution::empty(false, shard, self.height + 1, r.receiver, None);
                self.record(r.id, exec);
            }
            ReceiptBody::Data { data_id, result } => {
                let sh = &mut self.shards[shard as usize];
                sh.data.insert(data_id, result);
                if let Some(waiting) = sh.waiting.remove(&data_id) {
                    let ready = sh.postponed.get(&waiting).is_some_and(|p| match &p.body {
                        ReceiptBody::Call { input_data_ids, .. } => {
                            input_data_ids.iter().all(|d| sh.data.contains_key(d))
                        }
                        _ => false,
                    });
                    if ready && let Some(p) = sh.postponed.remove(&waiting) {
                        sh.queue.push_front(p);
                    }
                }
            }
            ReceiptBody::Call {
                method,
                args,
                value,
                gas,
                input_data_ids,
                output_data_receivers,
            } => {
                let sh = &mut self.shards[shard as usize];
                let missing: Vec<Hash> = input_data_ids
                    .iter()
                    .filter(|d| !sh.data.contains_key(*d))
                    .copied()
                    .collect();
                if !missing.is_empty() {
                    for d in missing {
                        sh.waiting.insert(d, r.id);
                    }
                    sh.postponed.insert(r.id, r);
                    return;
                }
                let results: Vec<_> = input_data_ids.iter().filter_map(|d| sh.data.remove(d)).collect();
                let code = self.account(&r.receiver).and_then(|a| a.code_hash);
                let out = match code {
                    Some(code) => {
                        let mut ctx = self.context(
                            r.receiver,
                            r.predecessor,
                            r.signer,
                            &method,
                            args,
                            value,
                            gas,
                            results,
                            r.id,
                            false,
                        );
                        ctx.gas_price = r.gas_price;
                        self.execute(&code, ctx)
                    }
                    None => CallOutcome::failed(
                        FailureKind::NoContract,
                        format!("no contract at {}", r.receiver),
                        0,
                        self.balance(&r.receiver),
                    ),
                };
                let mut children = Vec::new();
                let mut index = out.receipts.len() as u32;
                if out.is_ok() {
                    self.apply(r.receiver, &out);
                    for child in out.receipts.clone() {
                        children.push(self.route(shard, child));
                    }
                } else if let Some(id) = self.refund(shard, &r.id, index, r.predecessor, value, r.signer) {
                    index += 1;
                    children.push(id);
                }
                for dr in output_data_receivers {
                    let data = Receipt {
                        id: Receipt::derive_id(&r.id, index),
                        source_shard: shard,
                        dest_shard: 0,
                        seq: 0,
                        predecessor: r.receiver,
                        receiver: dr.receiver,
                        signer: r.signer,
                        gas_price: 0,
                        body: ReceiptBody::Data {
                            data_id: dr.data_id,
                            result: out.result.clone(),
                        },
                    };
                    index += 1;
                    children.push(self.route(shard, data));
                }
                let unused = gas.saturating_sub(out.gas_used);
                let refund = u128::from(unused).saturating_mul(r.gas_price);
                if let Some(id) = self.refund(shard, &r.id, index, r.signer, refund, r.signer) {
                    children.push(id);
                }
                let exec = Execution {
                    transaction: false,
                    shard,
                    height: self.height + 1,
                    receiver: r.receiver,
                    method: Some(method),
                    result: out.result,
                    gas_used: out.gas_used,
                    gas_burnt: out.gas_used - out.gas_attached,
                    events: out.events,
                    logs: out.logs,
                    children,
                };
                self.record(r.id, exec);
            }
        }
    }

    /// A hash of a shard's whole state (accounts and storage), to compare runs.
    pub fn state_root(&self, shard: ShardId) -> Hash {
        let s = &self.shards[shard as usize];
        let accounts: Vec<_> = s.accounts.iter().collect();
        let storage: Vec<_> = s.storage.0.iter().collect();
        hash_encoded("tutti/local/state/v1", &(accounts, storage, &s.next_in, &s.next_out))
    }
}
