//! What goes into a call (context, state access) and what comes out (the outcome).

use tutti_primitives::{Address, Amount, CallFailure, Event, FailureKind, Gas, Hash, Height, Receipt, ShardId};

/// Read access to contract storage. The chain implements it over its authenticated state; the
/// local executor over a map. Writes never go through it: they come back in
/// [`CallOutcome::state_changes`] and the caller applies them only if the call succeeded.
pub trait StateView: Send + Sync + 'static {
    /// The value stored under `key` by `contract`, if any.
    fn storage_get(&self, contract: &Address, key: &[u8]) -> Option<Vec<u8>>;

    /// The randomness of the earlier block at `height` on this shard, if the state still holds
    /// it. The runtime asks only for heights below the current block and within
    /// [`tutti_primitives::RANDOMNESS_WINDOW`] of it; the default knows none.
    fn randomness_at(&self, height: Height) -> Option<Hash> {
        let _ = height;
        None
    }
}

/// Empty state, for one-off runs (`tutti contract run`) and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyState;

impl StateView for EmptyState {
    fn storage_get(&self, _: &Address, _: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// Facts about the block a call executes in.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BlockContext {
    /// Block height.
    pub height: Height,
    /// Block timestamp, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// The block's randomness (see DESIGN.md section 6).
    pub randomness: Hash,
    /// The shard executing the call.
    pub shard_id: ShardId,
    /// How many shards there are (to route receipts).
    pub num_shards: u32,
}

/// Everything a call needs besides code and state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallContext {
    /// The contract being called.
    pub contract: Address,
    /// Who called it (the signer for a transaction, the calling contract for a receipt).
    pub predecessor: Address,
    /// The signer of the originating transaction.
    pub signer: Address,
    /// The exported method to run.
    pub method: String,
    /// SCALE-encoded arguments.
    pub args: Vec<u8>,
    /// Tokens attached to the call (already included in `balance`).
    pub value: Amount,
    /// The contract's balance at the start of the call, including `value`.
    pub balance: Amount,
    /// Most gas the call may use, including gas attached to the promises it creates.
    pub gas_limit: Gas,
    /// The block.
    pub block: BlockContext,
    /// Results of the promises a callback waited for, in order.
    pub promise_results: Vec<Result<Vec<u8>, CallFailure>>,
    /// Id of the transaction or receipt being executed; receipt ids derive from it.
    pub origin: Hash,
    /// Gas price of the originating transaction, copied into the receipts the call creates.
    pub gas_price: Amount,
    /// A view call: state writes, transfers and promises are refused.
    pub read_only: bool,
}

impl CallContext {
    /// A context for calling `method` on `contract` directly from `caller`, on a single shard.
    pub fn new(contract: Address, caller: Address, method: impl Into<String>, args: Vec<u8>, gas_limit: Gas) -> Self {
        CallContext {
            contract,
            predecessor: caller,
            signer: caller,
            method: method.into(),
            args,
            value: 0,
            balance: 0,
            gas_limit,
            block: BlockContext {
                num_shards: 1,
                ..BlockContext::default()
            },
            promise_results: Vec::new(),
            origin: Hash::ZERO,
            gas_price: 0,
            read_only: false,
        }
    }
}

/// One storage change of the called contract: a new value, or removal (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    /// Storage key.
    pub key: Vec<u8>,
    /// New value, or `None` when removed.
    pub value: Option<Vec<u8>>,
}

/// The result of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOutcome {
    /// Return data on success, or why it failed.
    pub result: Result<Vec<u8>, CallFailure>,
    /// Gas charged to the caller: execution plus gas attached to outgoing receipts.
    /// Equals the limit when the call ran out of gas.
    pub gas_used: Gas,
    /// Of `gas_used`, the part attached to outgoing receipts (prepaid for their execution).
    pub gas_attached: Gas,
    /// Events emitted (empty on failure).
    pub events: Vec<Event>,
    /// Log lines (kept on failure too, to help debugging; never part of consensus state).
    pub logs: Vec<String>,
    /// Storage changes of the contract, sorted by key (empty on failure).
    pub state_changes: Vec<StateChange>,
    /// Receipts to route (calls, callbacks, transfers), without sequence numbers (empty on failure).
    pub receipts: Vec<Receipt>,
    /// The contract's balance after the call (the starting balance on failure).
    pub balance: Amount,
}

impl CallOutcome {
    /// A failed outcome that used `gas_used`.
    pub fn failed(kind: FailureKind, message: impl Into<String>, gas_used: Gas, balance: Amount) -> Self {
        CallOutcome {
            result: Err(CallFailure {
                kind,
                message: message.into(),
            }),
            gas_used,
            gas_attached: 0,
            events: Vec::new(),
            logs: Vec::new(),
            state_changes: Vec::new(),
            receipts: Vec::new(),
            balance,
        }
    }

    /// True when the call succeeded.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The failure kind, if it failed.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        self.result.as_ref().err().map(|f| f.kind)
    }
}
