//! The receipt rules of DESIGN.md section 4 as a pure core, over a [`ShardState`] that the local
//! executor implements with maps and the chain with its authenticated state. Routing (which shard,
//! sequence numbers, queues, per-block budgets) stays with the caller.
//!
//! Rules:
//! - A transaction increments its sender's nonce and turns into one receipt (transfer or call), or
//!   deploys a contract; value and prepaid gas (`gas_limit * gas_price`) leave the sender at once.
//! - A transfer receipt credits its receiver (creating the account).
//! - A call receipt runs once every input it waits for has arrived (until then it is postponed).
//!   On success its storage changes and balance apply and its receipts are returned for routing; on
//!   failure nothing applies and the attached value goes back to the caller. Either way its result
//!   goes to every callback waiting for it, and unused prepaid gas goes back to the signer.
//! - A data receipt stores a result; if it completes a postponed call, that call is returned ready.
//! - A deploy with an init method marks the new contract with the id of its init receipt (storage
//!   key [`INIT_PENDING_KEY`]). Until that receipt has run, every other call to the contract fails,
//!   so nobody can call init first with their own arguments. The mark goes when the init receipt
//!   has run; if init failed, the code is removed too (the address holds no contract), so a
//!   contract never stays deployed but uninitialized.
//! - Receipt ids derive from the parent id and a running index, so they are the same on every node.

use std::sync::Arc;

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{
    Account, Action, Address, Amount, CallFailure, Event, FailureKind, Gas, Hash, Height, INIT_PENDING_KEY, Receipt,
    ReceiptBody, ShardId, SignedTransaction, StakeAction,
};

use crate::{BlockContext, CallContext, CallOutcome, Runtime, StateChange, StateView, host::caps};

/// What the receipt rules need from a shard's state.
pub trait ShardState {
    /// An account (the default, empty account if it does not exist).
    fn account(&self, a: &Address) -> Account;
    /// Stores an account.
    fn set_account(&mut self, a: &Address, account: Account);
    /// Contract code by hash.
    fn code(&self, hash: &Hash) -> Option<Vec<u8>>;
    /// Stores contract code.
    fn put_code(&mut self, hash: Hash, code: Vec<u8>);
    /// A view of contract storage including every change applied so far.
    fn storage_view(&self) -> Arc<dyn StateView>;
    /// Applies a successful call's storage changes.
    fn apply_storage(&mut self, contract: &Address, changes: &[StateChange]);
    /// A result that arrived for a callback, if any.
    fn data(&self, id: &Hash) -> Option<Result<Vec<u8>, CallFailure>>;
    /// Stores (or with `None` removes) an arrived result.
    fn set_data(&mut self, id: Hash, result: Option<Result<Vec<u8>, CallFailure>>);
    /// The postponed call waiting for data `id`, if any.
    fn waiting(&self, id: &Hash) -> Option<Hash>;
    /// Records (or clears) which postponed call waits for data `id`.
    fn set_waiting(&mut self, id: Hash, receipt: Option<Hash>);
    /// A postponed call by receipt id.
    fn postponed(&self, id: &Hash) -> Option<Receipt>;
    /// Stores (or removes) a postponed call.
    fn set_postponed(&mut self, id: Hash, receipt: Option<Receipt>);
    /// Carries out a staking action signed by `signer` (its gas is already paid); returns what
    /// the transaction returns, or why the action was refused (nothing changed then). Only the
    /// beacon chain's state holds the validator registry, so by default every action is refused.
    fn stake(&mut self, signer: &Address, action: &StakeAction, block: &BlockContext) -> Result<Vec<u8>, String> {
        let _ = (signer, action);
        Err(format!(
            "staking actions run on the beacon chain (shard 0); this is shard {}",
            block.shard_id
        ))
    }
}

/// What executing a transaction or receipt produced.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Execution {
    /// True for a transaction, false for a receipt.
    pub transaction: bool,
    /// Shard where it ran.
    pub shard: ShardId,
    /// Block height.
    pub height: Height,
    /// Receiver (the contract, for calls and deploys).
    pub receiver: Address,
    /// Method, for calls.
    pub method: Option<String>,
    /// Return data (the contract address for a deploy) or failure.
    pub result: Result<Vec<u8>, CallFailure>,
    /// Gas used, including gas attached to the receipts it created.
    pub gas_used: Gas,
    /// Gas burnt by this execution alone.
    pub gas_burnt: Gas,
    /// Tokens burnt as its fee (gas burnt x gas price; less when the sender could not pay it all).
    pub fee: Amount,
    /// Events.
    pub events: Vec<Event>,
    /// Logs.
    pub logs: Vec<String>,
    /// Ids of the receipts it produced.
    pub children: Vec<Hash>,
}

impl Execution {
    fn empty(transaction: bool, block: &BlockContext, receiver: Address, method: Option<String>) -> Self {
        Execution {
            transaction,
            shard: block.shard_id,
            height: block.height,
            receiver,
            method,
            result: Ok(Vec::new()),
            gas_used: 0,
            gas_burnt: 0,
            fee: 0,
            events: Vec::new(),
            logs: Vec::new(),
            children: Vec::new(),
        }
    }
}

/// The result of applying one transaction or receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The record (`None` when a call was postponed until its inputs arrive).
    pub execution: Option<Execution>,
    /// New receipts to route, in order (their ids are in `execution.children`).
    pub receipts: Vec<Receipt>,
    /// A postponed call that has every input now and can run.
    pub ready: Option<Receipt>,
}

fn fail(kind: FailureKind, message: impl Into<String>) -> Result<Vec<u8>, CallFailure> {
    Err(CallFailure {
        kind,
        message: message.into(),
    })
}

fn receipt(
    id: Hash,
    block: &BlockContext,
    predecessor: Address,
    receiver: Address,
    signer: Address,
    gas_price: Amount,
    body: ReceiptBody,
) -> Receipt {
    Receipt {
        id,
        source_shard: block.shard_id,
        dest_shard: receiver.home_shard(block.num_shards),
        seq: 0,
        predecessor,
        receiver,
        signer,
        gas_price,
        body,
    }
}

/// Applies a transaction whose signature, chain id and size were already checked. Its nonce must
/// be the sender's account nonce (the caller skips it otherwise).
pub fn apply_transaction(
    runtime: &Runtime,
    state: &mut dyn ShardState,
    block: &BlockContext,
    stx: &SignedTransaction,
) -> Applied {
    let hash = stx.hash();
    let tx = &stx.tx;
    let sender = tx.sender();
    let prepaid = u128::from(tx.gas_limit).saturating_mul(tx.gas_price);
    let (receiver, value, method) = match &tx.action {
        Action::Transfer { to, amount } => (*to, *amount, None),
        Action::Call {
            contract,
            method,
            value,
            ..
        } => (*contract, *value, Some(method.clone())),
        Action::Deploy { value, .. } => (Address::for_contract(&sender, tx.nonce), *value, None),
        // What a staking action locks leaves the balance inside the registry, not here.
        Action::Stake(_) => (sender, 0, None),
    };
    let mut exec = Execution::empty(true, block, receiver, method);
    let mut out = Applied {
        execution: None,
        receipts: Vec::new(),
        ready: None,
    };
    let mut acc = state.account(&sender);
    acc.nonce += 1;
    let inclusion = runtime.schedule().inclusion_cost(stx.encoded_size());
    let cost = value.saturating_add(prepaid);
    if acc.balance < cost {
        // Only what the sender has of the inclusion fee is burnt.
        let fee = u128::from(inclusion).saturating_mul(tx.gas_price).min(acc.balance);
        acc.balance -= fee;
        state.set_account(&sender, acc.clone());
        exec.gas_used = inclusion;
        exec.gas_burnt = inclusion;
        exec.fee = fee;
        exec.result = fail(
            FailureKind::InsufficientBalance,
            format!("balance {} is below value + prepaid gas {cost}", acc.balance + fee),
        );
        out.execution = Some(exec);
        return out;
    }
    if tx.gas_limit < inclusion {
        let fee = prepaid;
        acc.balance -= fee;
        state.set_account(&sender, acc);
        exec.gas_used = tx.gas_limit;
        exec.gas_burnt = tx.gas_limit;
        exec.fee = fee;
        exec.result = fail(
            FailureKind::OutOfGas,
            format!("gas limit {} is below the inclusion cost {inclusion}", tx.gas_limit),
        );
        out.execution = Some(exec);
        return out;
    }
    exec.gas_used = inclusion;
    exec.gas_burnt = inclusion;
    exec.fee = u128::from(inclusion).saturating_mul(tx.gas_price);
    // Value and all prepaid gas leave now; a transfer gets its unused gas back at once, a call
    // through its receipt's refund, a deploy through a refund receipt.
    acc.balance -= cost;
    if matches!(tx.action, Action::Transfer { .. }) {
        acc.balance += u128::from(tx.gas_limit - inclusion).saturating_mul(tx.gas_price);
    }
    state.set_account(&sender, acc);
    let body = match &tx.action {
        Action::Stake(action) => {
            out.execution = Some(stake(runtime, state, block, stx, exec, action));
            return out;
        }
        Action::Transfer { amount, .. } => ReceiptBody::Transfer { amount: *amount },
        Action::Call {
            method, args, value, ..
        } => ReceiptBody::Call {
            method: method.clone(),
            args: args.clone(),
            value: *value,
            gas: tx.gas_limit - inclusion,
            input_data_ids: Vec::new(),
            output_data_receivers: Vec::new(),
        },
        Action::Deploy {
            code,
            init_method,
            args,
            value,
        } => {
            return deploy(
                runtime,
                state,
                block,
                stx,
                hash,
                exec,
                code,
                init_method.as_deref(),
                args,
                *value,
            );
        }
    };
    let r = receipt(
        Receipt::derive_id(&hash, 0),
        block,
        sender,
        receiver,
        sender,
        tx.gas_price,
        body,
    );
    exec.children.push(r.id);
    out.execution = Some(exec);
    out.receipts.push(r);
    out
}

/// Runs a staking action whose inclusion and prepaid gas were taken: charges its fixed gas,
/// asks the state to carry it out, and gives the unused gas back at once.
fn stake(
    runtime: &Runtime,
    state: &mut dyn ShardState,
    block: &BlockContext,
    stx: &SignedTransaction,
    mut exec: Execution,
    action: &StakeAction,
) -> Execution {
    let tx = &stx.tx;
    let sender = tx.sender();
    let gas = runtime.schedule().stake_cost(action);
    if tx.gas_limit - exec.gas_used < gas {
        exec.result = fail(
            FailureKind::OutOfGas,
            format!(
                "a {} action needs {gas} gas on top of the inclusion cost {}",
                action.kind(),
                exec.gas_used
            ),
        );
        exec.gas_used = tx.gas_limit;
    } else {
        exec.gas_used += gas;
        exec.result = state
            .stake(&sender, action, block)
            .or_else(|message| fail(FailureKind::Staking, message));
        let mut acc = state.account(&sender);
        acc.balance = acc
            .balance
            .saturating_add(u128::from(tx.gas_limit - exec.gas_used).saturating_mul(tx.gas_price));
        state.set_account(&sender, acc);
    }
    exec.gas_burnt = exec.gas_used;
    exec.fee = u128::from(exec.gas_used).saturating_mul(tx.gas_price);
    exec
}

#[allow(clippy::too_many_arguments)]
fn deploy(
    runtime: &Runtime,
    state: &mut dyn ShardState,
    block: &BlockContext,
    stx: &SignedTransaction,
    hash: Hash,
    mut exec: Execution,
    code: &[u8],
    init_method: Option<&str>,
    args: &[u8],
    value: Amount,
) -> Applied {
    let tx = &stx.tx;
    let sender = tx.sender();
    let contract = exec.receiver;
    let mut receipts = Vec::new();
    let mut index = 0u32;
    let mut refund_value = value;
    let mut gas_left = tx.gas_limit - exec.gas_used;
    if contract.home_shard(block.num_shards) != block.shard_id {
        exec.result = fail(
            FailureKind::HostError,
            "the new contract's address lives on another shard; deploy from an account on that shard",
        );
    } else if state.account(&contract).code_hash.is_some() {
        exec.result = fail(
            FailureKind::HostError,
            format!("a contract already exists at {contract}"),
        );
    } else if runtime.schedule().deploy_cost(code.len()) > gas_left {
        // The deploy's price depends on its size alone: a deploy that cannot pay is refused
        // before its code is validated or compiled.
        exec.result = fail(
            FailureKind::OutOfGas,
            format!(
                "deploying {} bytes needs {} gas on top of the inclusion cost {}",
                code.len(),
                runtime.schedule().deploy_cost(code.len()),
                exec.gas_used
            ),
        );
        exec.gas_used = tx.gas_limit;
        gas_left = 0;
    } else {
        match runtime.load(code) {
            Err(e) => {
                exec.result = fail(FailureKind::InvalidCode, e.to_string());
                let burnt = runtime.schedule().deploy_cost(code.len());
                exec.gas_used += burnt;
                gas_left -= burnt;
            }
            Ok(loaded) => {
                exec.gas_used += loaded.deploy_gas;
                gas_left -= loaded.deploy_gas;
                state.put_code(loaded.code_hash, code.to_vec());
                let mut acc = state.account(&contract);
                acc.code_hash = Some(loaded.code_hash);
                state.set_account(&contract, acc);
                exec.result = Ok(contract.0.to_vec());
                refund_value = 0;
                let body = match init_method {
                    Some(m) => ReceiptBody::Call {
                        method: m.to_string(),
                        args: args.to_vec(),
                        value,
                        gas: gas_left,
                        input_data_ids: Vec::new(),
                        output_data_receivers: Vec::new(),
                    },
                    None => ReceiptBody::Transfer { amount: value },
                };
                if init_method.is_some() {
                    gas_left = 0;
                }
                if init_method.is_some() || value > 0 {
                    let id = Receipt::derive_id(&hash, index);
                    if init_method.is_some() {
                        set_init_pending(state, &contract, Some(id));
                    }
                    receipts.push(receipt(id, block, sender, contract, sender, tx.gas_price, body));
                    index += 1;
                }
            }
        }
    }
    exec.gas_burnt = exec.gas_used;
    exec.fee = u128::from(exec.gas_used).saturating_mul(tx.gas_price);
    let refund = refund_value.saturating_add(u128::from(gas_left).saturating_mul(tx.gas_price));
    if refund > 0 {
        receipts.push(receipt(
            Receipt::derive_id(&hash, index),
            block,
            Address::default(),
            sender,
            sender,
            0,
            ReceiptBody::Transfer { amount: refund },
        ));
    }
    exec.children = receipts.iter().map(|r| r.id).collect();
    Applied {
        execution: Some(exec),
        receipts,
        ready: None,
    }
}

/// Applies one receipt on its receiver's shard.
pub fn apply_receipt(runtime: &Runtime, state: &mut dyn ShardState, block: &BlockContext, r: Receipt) -> Applied {
    match r.body.clone() {
        ReceiptBody::Transfer { amount } => {
            let mut acc = state.account(&r.receiver);
            acc.balance = acc.balance.saturating_add(amount);
            state.set_account(&r.receiver, acc);
            Applied {
                execution: Some(Execution::empty(false, block, r.receiver, None)),
                receipts: Vec::new(),
                ready: None,
            }
        }
        ReceiptBody::Data { data_id, result } => {
            state.set_data(data_id, Some(result));
            let mut ready = None;
            if let Some(waiting) = state.waiting(&data_id) {
                state.set_waiting(data_id, None);
                if let Some(p) = state.postponed(&waiting)
                    && let ReceiptBody::Call { input_data_ids, .. } = &p.body
                    && input_data_ids.iter().all(|d| state.data(d).is_some())
                {
                    state.set_postponed(waiting, None);
                    ready = Some(p);
                }
            }
            // Recorded like a transfer (no gas, no effect beyond the data), so a receipt tree
            // shows when a callback's input arrived, on whichever shard.
            Applied {
                execution: Some(Execution::empty(false, block, r.receiver, None)),
                receipts: Vec::new(),
                ready,
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
            let missing: Vec<Hash> = input_data_ids
                .iter()
                .filter(|d| state.data(d).is_none())
                .copied()
                .collect();
            if !missing.is_empty() {
                for d in missing {
                    state.set_waiting(d, Some(r.id));
                }
                state.set_postponed(r.id, Some(r));
                return Applied {
                    execution: None,
                    receipts: Vec::new(),
                    ready: None,
                };
            }
            let mut results = Vec::with_capacity(input_data_ids.len());
            for d in &input_data_ids {
                results.extend(state.data(d));
                state.set_data(*d, None);
            }
            let mut account = state.account(&r.receiver);
            // The account's nonce says whether to look for the mark, so ordinary calls read no more state.
            let pending = match account.code_hash {
                Some(_) if account.nonce == INIT_PENDING_NONCE => init_pending(state, &r.receiver),
                _ => None,
            };
            let is_init = pending == Some(r.id);
            let mut out = match account.code_hash {
                Some(_) if pending.is_some() && !is_init => CallOutcome::failed(
                    FailureKind::HostError,
                    format!(
                        "the contract at {} is not initialized yet: its deploy's init call has not run",
                        r.receiver
                    ),
                    0,
                    account.balance,
                ),
                Some(code) => {
                    let ctx = CallContext {
                        contract: r.receiver,
                        predecessor: r.predecessor,
                        signer: r.signer,
                        method: method.clone(),
                        args,
                        value,
                        balance: account.balance.saturating_add(value),
                        gas_limit: gas,
                        block: block.clone(),
                        promise_results: results,
                        origin: r.id,
                        gas_price: r.gas_price,
                        read_only: false,
                    };
                    execute_loaded(runtime, state, &code, ctx)
                }
                None => CallOutcome::failed(
                    FailureKind::NoContract,
                    format!("no contract at {}", r.receiver),
                    0,
                    account.balance,
                ),
            };
            // Each callback waiting for the result gets a copy: a result too large for all of
            // them fails the call (bounding what one execution sends, see `caps`).
            if let Ok(result) = &out.result {
                let copies = output_data_receivers.len();
                let bytes = (result.len() + caps::RECEIPT_BYTES).saturating_mul(copies);
                if copies > 0 && bytes > caps::MAX_RESULT_FANOUT_BYTES {
                    out = CallOutcome::failed(
                        FailureKind::HostError,
                        format!(
                            "the result of {} bytes goes to {copies} callbacks: {bytes} bytes of receipts, more than {}",
                            result.len(),
                            caps::MAX_RESULT_FANOUT_BYTES
                        ),
                        // What the call burnt itself: the gas it attached to its promises (now
                        // dropped) goes back, as for any failed call.
                        out.gas_used - out.gas_attached,
                        account.balance,
                    );
                }
            }
            if is_init {
                set_init_pending(state, &r.receiver, None);
                account.nonce = 0;
                if !out.is_ok() {
                    // A failed init leaves no contract behind (nobody else may initialize it).
                    account.code_hash = None;
                }
                state.set_account(&r.receiver, account);
            }
            let mut receipts = Vec::new();
            let mut index = out.receipts.len() as u32;
            if out.is_ok() {
                state.apply_storage(&r.receiver, &out.state_changes);
                let mut acc = state.account(&r.receiver);
                acc.balance = out.balance;
                state.set_account(&r.receiver, acc);
                receipts.extend(out.receipts.iter().cloned());
            } else if value > 0 {
                receipts.push(receipt(
                    Receipt::derive_id(&r.id, index),
                    block,
                    Address::default(),
                    r.predecessor,
                    r.signer,
                    0,
                    ReceiptBody::Transfer { amount: value },
                ));
                index += 1;
            }
            for dr in output_data_receivers {
                let body = ReceiptBody::Data {
                    data_id: dr.data_id,
                    result: out.result.clone().map_err(cut_message),
                };
                receipts.push(receipt(
                    Receipt::derive_id(&r.id, index),
                    block,
                    r.receiver,
                    dr.receiver,
                    r.signer,
                    0,
                    body,
                ));
                index += 1;
            }
            let refund = u128::from(gas.saturating_sub(out.gas_used)).saturating_mul(r.gas_price);
            if refund > 0 {
                receipts.push(receipt(
                    Receipt::derive_id(&r.id, index),
                    block,
                    Address::default(),
                    r.signer,
                    r.signer,
                    0,
                    ReceiptBody::Transfer { amount: refund },
                ));
            }
            let execution = Execution {
                transaction: false,
                shard: block.shard_id,
                height: block.height,
                receiver: r.receiver,
                method: Some(method),
                result: out.result,
                gas_used: out.gas_used,
                gas_burnt: out.gas_used - out.gas_attached,
                fee: u128::from(out.gas_used - out.gas_attached).saturating_mul(r.gas_price),
                events: out.events,
                logs: out.logs,
                children: receipts.iter().map(|x| x.id).collect(),
            };
            Applied {
                execution: Some(execution),
                receipts,
                ready: None,
            }
        }
    }
}

/// A failure as a callback receives it: the message cut to [`caps::MAX_PANIC`] bytes (on a
/// character boundary), so failures fit [`caps::MAX_RESULT_FANOUT_BYTES`] however many wait.
fn cut_message(mut f: CallFailure) -> CallFailure {
    if f.message.len() > caps::MAX_PANIC {
        let mut end = caps::MAX_PANIC;
        while !f.message.is_char_boundary(end) {
            end -= 1;
        }
        f.message.truncate(end);
    }
    f
}

/// A contract account's nonce while its init receipt is pending (contracts sign nothing, so their
/// nonce is otherwise always 0): a hint that spares every other call a read of the mark.
const INIT_PENDING_NONCE: u64 = 1;

/// The id of the init receipt `contract` still waits for, if any.
fn init_pending(state: &dyn ShardState, contract: &Address) -> Option<Hash> {
    let v = state.storage_view().storage_get(contract, INIT_PENDING_KEY)?;
    Some(Hash(v.try_into().ok()?))
}

/// Sets or clears the mark (storage key and nonce hint).
fn set_init_pending(state: &mut dyn ShardState, contract: &Address, receipt: Option<Hash>) {
    let mut acc = state.account(contract);
    acc.nonce = if receipt.is_some() { INIT_PENDING_NONCE } else { 0 };
    state.set_account(contract, acc);
    state.apply_storage(
        contract,
        &[StateChange {
            key: INIT_PENDING_KEY.to_vec(),
            value: receipt.map(|h| h.0.to_vec()),
        }],
    );
}

/// Runs a call, loading the contract's code into the runtime's cache first if needed (after a
/// restart the cache is empty; the code is in state).
pub fn execute_loaded(runtime: &Runtime, state: &dyn ShardState, code: &Hash, ctx: CallContext) -> CallOutcome {
    let balance = ctx.balance;
    // Compiles the code from state; the failed outcome if it cannot.
    let load = || match state.code(code) {
        Some(wasm) => runtime
            .load(&wasm)
            .err()
            .map(|e| CallOutcome::failed(FailureKind::InvalidCode, e.to_string(), 0, balance)),
        None => Some(CallOutcome::failed(
            FailureKind::InvalidCode,
            format!("code {code} is missing from state"),
            0,
            balance,
        )),
    };
    if !runtime.is_loaded(code)
        && let Some(failed) = load()
    {
        return failed;
    }
    // A call that cannot start is the node's affair, not the call's: its code was dropped from
    // the cache meanwhile (load it again), or no instance is free (wait for other calls to
    // finish; block execution has a runtime of its own, so this wait is for calls of the node's
    // own making). Either way the outcome is the one every node computes.
    let mut ctx = ctx;
    let mut wait = std::time::Duration::from_millis(1);
    let mut waited = std::time::Duration::ZERO;
    loop {
        match runtime.try_execute(code, ctx, state.storage_view()) {
            Ok(o) => return o,
            Err(busy) if busy.not_loaded => {
                if let Some(failed) = load() {
                    return failed;
                }
                ctx = *busy.ctx;
            }
            Err(busy) => {
                assert!(
                    waited < EXHAUSTED_PATIENCE,
                    "the contract runtime has had no free instance for {waited:?}: {}",
                    busy.reason
                );
                std::thread::sleep(wait);
                waited += wait;
                wait = (wait * 2).min(std::time::Duration::from_millis(100));
                ctx = *busy.ctx;
            }
        }
    }
}

/// How long a call waits for a free instance before the node gives up (a panic: it cannot
/// compute the outcome every other node computes).
const EXHAUSTED_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);
