//! Tutti's JSON-RPC API (DESIGN.md section 9), defined once: [`TuttiApi`] generates both the
//! server interface the node implements (`TuttiApiServer`) and the Rust client
//! (`TuttiApiClient`, usable with jsonrpsee's HTTP and WebSocket clients). [`types`] holds the
//! JSON shapes, [`errors`] the error codes, [`openrpc`] the `rpc_discover` document.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use tutti_rpc::{TuttiApiClient, client::http};
//! let client = http("http://127.0.0.1:9500")?;
//! println!("chain {} at height {}", client.chain_id().await?, client.block_number(None).await?);
//! # Ok(()) }
//! ```

pub mod errors;
pub mod openrpc;
pub mod types;

use jsonrpsee::{core::SubscriptionResult, proc_macros::rpc, types::ErrorObjectOwned};

use types::*;

/// Result of an RPC method.
pub type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// The `tutti_` namespace.
#[rpc(server, client, namespace = "tutti")]
pub trait TuttiApi {
    /// The chain id transactions must sign.
    #[method(name = "chainId")]
    async fn chain_id(&self) -> RpcResult<u64>;

    /// Chain id, genesis, head and pool size in one answer.
    #[method(name = "status")]
    async fn status(&self) -> RpcResult<StatusView>;

    /// The head height of a shard (default: the node's lowest tracked shard).
    #[method(name = "blockNumber")]
    async fn block_number(&self, shard: Option<u32>) -> RpcResult<u64>;

    /// A block by height or tag of a shard (default: the node's lowest tracked shard); `null` if
    /// there is none. `full` returns whole transactions.
    #[method(name = "getBlockByNumber")]
    async fn get_block_by_number(
        &self,
        block: BlockId,
        full: Option<bool>,
        shard: Option<u32>,
    ) -> RpcResult<Option<BlockView>>;

    /// A block by header hash, on any tracked shard; `null` if unknown.
    #[method(name = "getBlockByHash")]
    async fn get_block_by_hash(&self, hash: String, full: Option<bool>) -> RpcResult<Option<BlockView>>;

    /// An account (balance, nonce, code hash) at a block (default: latest).
    #[method(name = "getAccount")]
    async fn get_account(&self, address: String, block: Option<BlockId>) -> RpcResult<AccountView>;

    /// A balance at a block (default: latest), as a decimal string.
    #[method(name = "getBalance")]
    async fn get_balance(&self, address: String, block: Option<BlockId>) -> RpcResult<String>;

    /// Submits a SCALE-encoded signed transaction (`0x` hex); returns its hash. Submitting a
    /// transaction already pending returns its hash again.
    #[method(name = "sendRawTransaction")]
    async fn send_raw_transaction(&self, tx: String) -> RpcResult<String>;

    /// A transaction, pending or committed; `null` if unknown.
    #[method(name = "getTransaction")]
    async fn get_transaction(&self, hash: String) -> RpcResult<Option<TxView>>;

    /// A committed transaction's outcome, following its receipts across the tracked shards
    /// (status `pending` until every receipt of the tree, callbacks and refunds included, ran);
    /// `null` while the transaction itself is pending or unknown.
    #[method(name = "getTransactionReceipt")]
    async fn get_transaction_receipt(&self, hash: String) -> RpcResult<Option<TxReceiptView>>;

    /// A read-only contract call on the latest state (`args`: SCALE, `0x` hex).
    #[method(name = "call")]
    async fn call(
        &self,
        contract: String,
        method: String,
        args: Option<String>,
        gas: Option<u64>,
    ) -> RpcResult<CallResultView>;

    /// Gas a call transaction needs: its inclusion cost plus what the call uses on the latest
    /// state, run as `from` with `value` attached. Fails with `EXECUTION_FAILED` if the call fails.
    #[method(name = "estimateGas")]
    async fn estimate_gas(
        &self,
        from: String,
        contract: String,
        method: String,
        args: Option<String>,
        value: Option<String>,
    ) -> RpcResult<u64>;

    /// A contract's code (`0x` hex) at a block; `null` for accounts without code.
    #[method(name = "getCode")]
    async fn get_code(&self, address: String, block: Option<BlockId>) -> RpcResult<Option<String>>;

    /// A contract's ABI (the `tutti:abi` section its module carries: methods, events, types) at
    /// a block; `null` for accounts without code and contracts built without one.
    #[method(name = "getAbi")]
    async fn get_abi(&self, address: String, block: Option<BlockId>) -> RpcResult<Option<serde_json::Value>>;

    /// A contract storage value (`0x` hex) at a block; `null` if absent.
    #[method(name = "getStorageAt")]
    async fn get_storage_at(&self, address: String, key: String, block: Option<BlockId>) -> RpcResult<Option<String>>;

    /// An account (no `key`) or a storage value (`key`) with its Merkle proof against the state
    /// root of a block.
    #[method(name = "getProof")]
    async fn get_proof(&self, address: String, key: Option<String>, block: Option<BlockId>) -> RpcResult<ProofView>;

    /// Shards and where to reach them.
    #[method(name = "getShardingStructure")]
    async fn get_sharding_structure(&self) -> RpcResult<ShardingView>;

    /// A shard's committee (default: this node's shard) at an epoch (default: the epoch of the
    /// height being decided).
    #[method(name = "getCommittee")]
    async fn get_committee(&self, shard: Option<u32>, epoch: Option<u64>) -> RpcResult<CommitteeView>;

    /// The beacon chain's validators (stake, commission, delegators, elected seats) and epoch
    /// parameters, at its head. Served by nodes that track shard 0.
    #[method(name = "getValidators")]
    async fn get_validators(&self) -> RpcResult<ValidatorsView>;

    /// An account's delegations on the beacon chain (amounts, unpaid rewards, unbonding).
    #[method(name = "getDelegations")]
    async fn get_delegations(&self, address: String) -> RpcResult<Vec<DelegationView>>;

    /// Subscriptions: `newHeads` (BlockView without transactions), `events` (EventNotice, with an
    /// optional filter `{contract, name}`), `pendingTransactions` (hashes as they enter the pool).
    /// Each covers every shard the node serves, or the one named by the filter's `shard`.
    /// Notifications arrive as `tutti_subscription`; cancel with `tutti_unsubscribe`.
    #[subscription(name = "subscribe" => "subscription", unsubscribe = "unsubscribe", item = serde_json::Value)]
    async fn subscribe_to(&self, kind: String, filter: Option<EventFilter>) -> SubscriptionResult;
}

/// The `rpc_` namespace.
#[rpc(server, client, namespace = "rpc")]
pub trait DiscoverApi {
    /// The OpenRPC document describing every method.
    #[method(name = "discover")]
    async fn discover(&self) -> RpcResult<serde_json::Value>;
}

/// Client constructors.
pub mod client {
    use jsonrpsee::{
        http_client::{HttpClient, HttpClientBuilder},
        ws_client::{WsClient, WsClientBuilder},
    };

    /// An HTTP client (calls only). Requests time out after 60 s.
    pub fn http(url: &str) -> Result<HttpClient, jsonrpsee::core::ClientError> {
        HttpClientBuilder::default()
            .max_request_size(16 * 1024 * 1024)
            .max_response_size(64 * 1024 * 1024)
            .request_timeout(std::time::Duration::from_secs(60))
            .build(url)
    }

    /// A WebSocket client (calls and subscriptions).
    pub async fn ws(url: &str) -> Result<WsClient, jsonrpsee::core::ClientError> {
        WsClientBuilder::default()
            .max_request_size(16 * 1024 * 1024)
            .max_response_size(64 * 1024 * 1024)
            .request_timeout(std::time::Duration::from_secs(60))
            .build(url)
            .await
    }
}
