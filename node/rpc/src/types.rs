//! JSON shapes of the API. Conventions: hashes and byte strings are `0x` hex; addresses are
//! bech32m `tt1…`; amounts are decimal strings (they exceed what JSON numbers hold exactly); gas,
//! heights and nonces are numbers; field names are camelCase.

use serde::{Deserialize, Serialize};
use tutti_primitives::{Action, Address, CallFailure, Event, Hash, SignedTransaction, StakeAction};

/// `0x` + lowercase hex.
pub fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Parses `0x` hex (the prefix is optional).
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| format!("`{s}` is not hex: {e}"))
}

/// Parses a 32-byte `0x` hash.
pub fn parse_hash(s: &str) -> Result<Hash, String> {
    let bytes = parse_hex(s)?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("a hash has 32 bytes, `{s}` has {}", b.len()))?;
    Ok(Hash(arr))
}

/// A block: `latest`, `earliest`, or a height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BlockId {
    /// A height.
    Number(u64),
    /// `latest` or `earliest`.
    Tag(BlockTag),
}

/// Named blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockTag {
    /// The head.
    Latest,
    /// Genesis.
    Earliest,
}

/// A block header with its certificate and its transactions (hashes, or full when asked).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockView {
    /// Header hash.
    pub hash: String,
    /// Height.
    pub height: u64,
    /// Parent header hash.
    pub parent_hash: String,
    /// Chain id.
    pub chain_id: u64,
    /// Shard.
    pub shard_id: u32,
    /// Epoch.
    pub epoch: u64,
    /// Consensus view.
    pub view: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Merkle root of the transaction hashes.
    pub tx_root: String,
    /// State root after the block.
    pub state_root: String,
    /// Root of the receipts sent to other shards.
    pub outgoing_receipts_root: String,
    /// Root of the receipts received from other shards.
    pub incoming_receipts_root: String,
    /// Root of the crosslinks (beacon blocks).
    pub crosslinks_root: String,
    /// The shard blocks this beacon block crosslinks.
    pub crosslinks: Vec<CrosslinkView>,
    /// Gas burnt.
    pub gas_used: u64,
    /// Proposer's BLS public key.
    pub proposer: String,
    /// The block's randomness (what contracts read).
    pub randomness: String,
    /// The proposer's VRF proof of the randomness.
    pub randomness_proof: String,
    /// The parent's commit certificate.
    pub parent_commit: Option<CertificateView>,
    /// This block's commit certificate.
    pub commit: Option<CertificateView>,
    /// Transaction hashes, or full transactions when asked.
    pub transactions: Vec<TxOrHash>,
}

/// A shard block crosslinked by a beacon block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrosslinkView {
    /// The shard.
    pub shard_id: u32,
    /// The block's height.
    pub height: u64,
    /// The block's hash.
    pub hash: String,
    /// Its epoch.
    pub epoch: u64,
    /// Its commit certificate (whose signers the beacon rewarded).
    pub cert: CertificateView,
}

/// A transaction hash or the full transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TxOrHash {
    /// Only the hash.
    Hash(String),
    /// The whole transaction.
    Full(Box<TxView>),
}

/// An aggregate BLS signature and the bitmap of who signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateView {
    /// View.
    pub view: u64,
    /// Aggregate signature.
    pub signature: String,
    /// Signer bitmap.
    pub signers: String,
}

/// An account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    /// Address.
    pub address: String,
    /// Balance.
    pub balance: String,
    /// Next nonce.
    pub nonce: u64,
    /// Code hash for contracts.
    pub code_hash: Option<String>,
    /// The height the answer was read at.
    pub height: u64,
}

/// A transaction's action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ActionView {
    /// Native transfer.
    #[serde(rename_all = "camelCase")]
    Transfer {
        /// Receiver.
        to: String,
        /// Amount.
        amount: String,
    },
    /// Contract deployment.
    #[serde(rename_all = "camelCase")]
    Deploy {
        /// Code hash (the code itself is at `tutti_getCode`).
        code_hash: String,
        /// Code size, bytes.
        code_size: usize,
        /// Init method.
        init_method: Option<String>,
        /// Init arguments.
        args: String,
        /// Value.
        value: String,
    },
    /// Contract call.
    #[serde(rename_all = "camelCase")]
    Call {
        /// Contract.
        contract: String,
        /// Method.
        method: String,
        /// SCALE arguments.
        args: String,
        /// Value.
        value: String,
    },
    /// Staking action on the beacon chain; fields that do not apply to its kind are left out.
    #[serde(rename_all = "camelCase")]
    Stake {
        /// `create-validator`, `edit-validator`, `delegate`, `undelegate` or `collect-rewards`.
        kind: String,
        /// The validator's BLS key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bls_key: Option<String>,
        /// Self-stake or amount (de)delegated.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amount: Option<String>,
        /// Commission, basis points.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commission_bps: Option<u16>,
        /// Highest commission, basis points (creation).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_commission_bps: Option<u16>,
        /// Most change per epoch, basis points (creation).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_change_bps: Option<u16>,
        /// Validator name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}

impl ActionView {
    fn stake(a: &StakeAction) -> ActionView {
        let mut v = ActionView::Stake {
            kind: a.kind().to_string(),
            bls_key: None,
            amount: None,
            commission_bps: None,
            max_commission_bps: None,
            max_change_bps: None,
            name: None,
        };
        if let ActionView::Stake {
            bls_key,
            amount,
            commission_bps,
            max_commission_bps,
            max_change_bps,
            name,
            ..
        } = &mut v
        {
            match a {
                StakeAction::CreateValidator {
                    key,
                    self_stake,
                    commission_bps: c,
                    max_commission_bps: m,
                    max_change_bps: d,
                    name: n,
                    ..
                } => {
                    *bls_key = Some(hex0x(key));
                    *amount = Some(self_stake.to_string());
                    (*commission_bps, *max_commission_bps, *max_change_bps) = (Some(*c), Some(*m), Some(*d));
                    *name = Some(n.clone());
                }
                StakeAction::EditValidator {
                    key,
                    commission_bps: c,
                    name: n,
                } => {
                    *bls_key = Some(hex0x(key));
                    *commission_bps = *c;
                    *name = n.clone();
                }
                StakeAction::Delegate { key, amount: x } | StakeAction::Undelegate { key, amount: x } => {
                    *bls_key = Some(hex0x(key));
                    *amount = Some(x.to_string());
                }
                StakeAction::CollectRewards => {}
                StakeAction::ReportDoubleSign(ev) => *bls_key = Some(hex0x(&ev.key)),
            }
        }
        v
    }
}

/// A transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxView {
    /// Hash.
    pub hash: String,
    /// Sender address.
    pub sender: String,
    /// Signer's ed25519 public key.
    pub signer: String,
    /// Nonce.
    pub nonce: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Gas price.
    pub gas_price: String,
    /// Chain id.
    pub chain_id: u64,
    /// Action.
    pub action: ActionView,
    /// Block height (absent while pending).
    pub block_height: Option<u64>,
    /// Index in the block.
    pub index: Option<u32>,
}

impl TxView {
    /// The view of a transaction.
    pub fn new(stx: &SignedTransaction, block_height: Option<u64>, index: Option<u32>) -> TxView {
        let t = &stx.tx;
        let action = match &t.action {
            Action::Transfer { to, amount } => ActionView::Transfer {
                to: to.to_string(),
                amount: amount.to_string(),
            },
            Action::Deploy {
                code,
                init_method,
                args,
                value,
            } => ActionView::Deploy {
                code_hash: tutti_primitives::hash::tagged_hash(tutti_primitives::tags::CODE, code).to_string(),
                code_size: code.len(),
                init_method: init_method.clone(),
                args: hex0x(args),
                value: value.to_string(),
            },
            Action::Call {
                contract,
                method,
                args,
                value,
            } => ActionView::Call {
                contract: contract.to_string(),
                method: method.clone(),
                args: hex0x(args),
                value: value.to_string(),
            },
            Action::Stake(a) => ActionView::stake(a),
        };
        TxView {
            hash: stx.hash().to_string(),
            sender: t.sender().to_string(),
            signer: hex0x(&t.signer.0),
            nonce: t.nonce,
            gas_limit: t.gas_limit,
            gas_price: t.gas_price.to_string(),
            chain_id: t.chain_id,
            action,
            block_height,
            index,
        }
    }
}

/// A contract event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// Emitting contract.
    pub contract: String,
    /// Name.
    pub name: String,
    /// SCALE payload.
    pub data: String,
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        EventView {
            contract: e.contract.to_string(),
            name: e.name.clone(),
            data: hex0x(&e.data),
        }
    }
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureView {
    /// Kind (`OutOfGas`, `Panic`, `Trap`, ...).
    pub kind: String,
    /// Details.
    pub message: String,
}

impl From<&CallFailure> for FailureView {
    fn from(f: &CallFailure) -> Self {
        FailureView {
            kind: format!("{:?}", f.kind),
            message: f.message.clone(),
        }
    }
}

/// One execution: the transaction itself, or a receipt it caused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionView {
    /// Transaction hash or receipt id.
    pub id: String,
    /// Block height.
    pub height: u64,
    /// Shard.
    pub shard_id: u32,
    /// Receiver.
    pub receiver: String,
    /// Method, for calls.
    pub method: Option<String>,
    /// `success` or `failure`.
    pub status: String,
    /// Return data (the contract address for a deploy).
    pub return_data: Option<String>,
    /// Failure.
    pub failure: Option<FailureView>,
    /// Gas used (including gas attached to receipts it created).
    pub gas_used: u64,
    /// Gas burnt by this execution.
    pub gas_burnt: u64,
    /// Tokens burnt as its fee.
    pub fee: String,
    /// Events.
    pub events: Vec<EventView>,
    /// Logs.
    pub logs: Vec<String>,
    /// Ids of the receipts it created.
    pub receipts: Vec<String>,
}

/// A transaction's outcome: its own execution and those of the receipts it caused so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxReceiptView {
    /// Transaction hash.
    pub transaction_hash: String,
    /// Block height.
    pub block_height: u64,
    /// Block hash.
    pub block_hash: String,
    /// `success` when the transaction and every call it caused succeeded, `failure` when the
    /// transaction or any call failed, `pending` while some receipt has not run yet, `sent` when
    /// everything on the shards this node serves ran and succeeded and the rest continues on the
    /// shards in `continuesOn` (ask a node of those shards).
    pub status: String,
    /// Gas burnt by the transaction and its receipts so far.
    pub gas_burnt: u64,
    /// Tokens burnt as fees so far.
    pub fee: String,
    /// Return data of the first call (or the new contract's address for a deploy).
    pub return_data: Option<String>,
    /// The first failure, if any.
    pub failure: Option<FailureView>,
    /// Every event, in order.
    pub events: Vec<EventView>,
    /// Executions: the transaction first, then its receipts breadth first.
    pub executions: Vec<ExecutionView>,
    /// Shards this node does not serve where the transaction's receipts continue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub continues_on: Vec<u32>,
}

/// The result of a read-only call or a gas estimate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallResultView {
    /// `success` or `failure`.
    pub status: String,
    /// Return data.
    pub return_data: Option<String>,
    /// Failure.
    pub failure: Option<FailureView>,
    /// Gas used.
    pub gas_used: u64,
    /// Logs.
    pub logs: Vec<String>,
    /// Events it would emit.
    pub events: Vec<EventView>,
    /// The height the call ran at.
    pub height: u64,
}

/// A state value with its Merkle proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofView {
    /// The state key (`a/` + address for accounts, `s/` + address + key for storage).
    pub key: String,
    /// Value, if present.
    pub value: Option<String>,
    /// The state root it verifies against.
    pub state_root: String,
    /// The block height of that root.
    pub height: u64,
    /// The Jellyfish Merkle proof (borsh bytes as `jmt` 0.12 defines them).
    pub proof: String,
}

/// The shard layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardingView {
    /// Number of shards.
    pub num_shards: u32,
    /// The shard this node runs.
    pub this_shard: u32,
    /// Per shard: id and an RPC endpoint.
    pub shards: Vec<ShardView>,
}

/// One shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardView {
    /// Shard id.
    pub shard_id: u32,
    /// An RPC endpoint serving it.
    pub rpc: String,
    /// Whether this endpoint serves it (accounts, calls and transactions of this shard).
    pub tracked: bool,
    /// Its head height, when this node knows it (tracked, or followed through its headers).
    pub head: Option<u64>,
    /// Receipts waiting in its delayed queue at that head, when known.
    pub delayed_receipts: Option<u64>,
    /// Whether a shard this node tracks sees it congested: transactions for it are refused
    /// (`SHARD_CONGESTED`) until it drains.
    pub congested: bool,
    /// Its committee at the epoch of this node's head (from the committee source: the genesis
    /// until staking), in bitmap order.
    pub committee: Vec<MemberView>,
    /// The height of its latest block crosslinked on the beacon chain (when this node follows
    /// the beacon chain).
    #[serde(default)]
    pub crosslinked: Option<u64>,
}

/// A committee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitteeView {
    /// Shard.
    pub shard_id: u32,
    /// Epoch.
    pub epoch: u64,
    /// Members, in bitmap order.
    pub members: Vec<MemberView>,
    /// The height being decided.
    pub height: u64,
    /// The current view at that height (or the view being changed to).
    pub view: u64,
    /// Index in `members` of that view's leader.
    pub leader: u32,
    /// Whether a view change is under way.
    pub changing_view: bool,
}

/// A committee member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    /// BLS public key.
    pub bls_public_key: String,
    /// Stake.
    pub stake: String,
}

/// The beacon chain's staking registry and epochs, at one height.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorsView {
    /// The beacon height read.
    pub height: u64,
    /// The epoch of the next beacon block.
    pub epoch: u64,
    /// Beacon blocks per epoch.
    pub epoch_blocks: u64,
    /// The height of the first block of the next epoch.
    pub next_epoch_height: u64,
    /// Least self-stake to stand for election.
    pub min_self_stake: String,
    /// Least delegation.
    pub min_delegation: String,
    /// Epochs an undelegated amount stays locked.
    pub unbonding_epochs: u64,
    /// Every registered validator, in key order.
    pub validators: Vec<ValidatorView>,
}

/// A registered validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorView {
    /// BLS public key.
    pub bls_public_key: String,
    /// Display name.
    pub name: String,
    /// The account that operates it.
    pub operator: String,
    /// Commission, basis points.
    pub commission_bps: u16,
    /// Highest commission it may set.
    pub max_commission_bps: u16,
    /// Most its commission may move per epoch.
    pub max_change_bps: u16,
    /// Total delegated stake (self-stake included).
    pub stake: String,
    /// The operator's own delegation.
    pub self_stake: String,
    /// How many accounts delegate to it (the operator included).
    pub delegators: u32,
    /// Rewards owed to its delegators, not yet collected.
    pub unpaid_rewards: String,
    /// Whether it stands in the next election (self-stake at least the minimum, not slashed).
    pub candidate: bool,
    /// Slashed for double signing (never elected again).
    pub slashed: bool,
    /// Crosslinked (and beacon) blocks whose committee it sat in.
    pub blocks_seated: u64,
    /// Of those, the ones it signed (uptime = signed / seated).
    pub blocks_signed: u64,
    /// Its seats in the elected committees of this epoch, the next and the one after (when
    /// elected): `{epoch, shard, power}`.
    pub seats: Vec<SeatView>,
}

/// A seat in an epoch's elected committee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatView {
    /// Epoch.
    pub epoch: u64,
    /// Shard.
    pub shard: u32,
    /// Voting power (stake clamped around the median).
    pub power: String,
}

/// One delegation of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegationView {
    /// The validator's BLS key.
    pub validator: String,
    /// The validator's name.
    pub name: String,
    /// Delegated (earning).
    pub amount: String,
    /// Rewards earned, not yet collected.
    pub reward: String,
    /// Undelegated amounts still locked, with the epoch each is paid back in.
    pub unbonding: Vec<UnbondingView>,
}

/// An undelegated amount waiting for its lock to end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnbondingView {
    /// Amount.
    pub amount: String,
    /// Paid back at the end of the epoch before this one.
    pub epoch: u64,
}

/// The chain's identity and head, for `tutti_chainId` callers that want more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// Chain id.
    pub chain_id: u64,
    /// Genesis hash.
    pub genesis_hash: String,
    /// Head height.
    pub head: u64,
    /// Head hash.
    pub head_hash: String,
    /// Pending transactions in the pool.
    pub pending: usize,
    /// Total fees burnt.
    pub burnt: String,
    /// The native token's symbol (genesis `params.tokenSymbol`).
    #[serde(default = "default_symbol")]
    pub token_symbol: String,
    /// The native token's decimals (18: amounts are integers of 10^-18 token).
    #[serde(default = "default_decimals")]
    pub token_decimals: u32,
}

fn default_symbol() -> String {
    "TUTTI".into()
}

fn default_decimals() -> u32 {
    tutti_primitives::TOKEN_DECIMALS
}

/// Event subscription filter: all given fields must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventFilter {
    /// Only events of this contract.
    pub contract: Option<String>,
    /// Only events with this name.
    pub name: Option<String>,
    /// Only this shard (default: every shard the node tracks). Also filters `newHeads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
}

/// Where to send what belongs to another shard (the `data` of a `WRONG_SHARD` error).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrongShardData {
    /// The shard that holds it.
    pub shard: u32,
    /// An RPC endpoint of that shard, when this node knows one (else empty).
    pub rpc: String,
}

/// An event notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventNotice {
    /// The event.
    #[serde(flatten)]
    pub event: EventView,
    /// Block height.
    pub height: u64,
    /// The execution (transaction hash or receipt id) that emitted it.
    pub execution: String,
}

/// Parses an address in either form, with a message that says which forms exist.
pub fn parse_address(s: &str) -> Result<Address, String> {
    s.parse::<Address>()
        .map_err(|e| format!("`{s}` is not an address (tt1… or 0x + 64 hex digits): {e}"))
}
