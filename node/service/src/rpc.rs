//! The JSON-RPC server: [`TuttiApiServer`] over the shards a process tracks ([`Shards`]), served
//! by jsonrpsee over HTTP and WebSocket on one port, with request, response, batch, connection
//! and subscription limits and CORS for browser dApps.
//!
//! Routing: account, code, storage, proof, call and estimate requests go to the address's home
//! shard; a transaction to its signer's; transactions and receipts are looked up on every tracked
//! shard, and a transaction's receipt follows its receipts across them (final only when the whole
//! tree ran). Blocks by number and the head describe the lowest tracked shard. What lives on an
//! untracked shard is refused with `WRONG_SHARD`, naming the shard and an endpoint.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc};

use futures::StreamExt;
use jsonrpsee::{
    Methods, PendingSubscriptionSink, RpcModule, SubscriptionMessage,
    core::{SubscriptionResult, async_trait, to_json_raw_value},
    server::{
        BatchRequestConfig, BatchResponseBuilder, MethodResponse, ServerBuilder, ServerConfig, ServerHandle,
        middleware::rpc::{Batch, BatchEntry, Notification, Request, RpcServiceBuilder, RpcServiceT},
    },
    types::ErrorObjectOwned,
};
use tokio::sync::broadcast::error::RecvError;
use tower_http::cors::{Any, CorsLayer};
use tutti_chain::{
    ChainError, MempoolError, StoredBlock, TxError,
    account::{account_key, storage_key},
};
use tutti_primitives::{Address, Height, ShardId, SignedTransaction};
use tutti_rpc::{
    DiscoverApiServer, RpcResult, TuttiApiServer,
    errors::{self, error, error_with, invalid_params},
    openrpc,
    types::*,
};
use tutti_runtime::{CallOutcome, apply::Execution};

use crate::{
    node::{Node, SubmitError},
    shards::{ElsewhereError, Shards},
    web::{Site, SiteLayer},
};

/// Server limits.
#[derive(Clone, Debug)]
pub struct RpcConfig {
    /// Listen address.
    pub addr: SocketAddr,
    /// Largest request body, bytes (a transaction carrying a 2 MiB contract is 4 MiB of hex).
    pub max_request_bytes: u32,
    /// Largest response body, bytes.
    pub max_response_bytes: u32,
    /// Most concurrent connections.
    pub max_connections: u32,
    /// Most calls in one batch.
    pub max_batch: u32,
    /// Most subscriptions per connection.
    pub max_subscriptions: u32,
    /// Messages a connection may leave unread before its subscriptions are closed (at least 1).
    pub message_buffer: u32,
    /// Most gas a `tutti_call` or `tutti_estimateGas` may use.
    pub max_call_gas: u64,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            addr: ([127, 0, 0, 1], 9500).into(),
            max_request_bytes: 8 * 1024 * 1024,
            max_response_bytes: 32 * 1024 * 1024,
            max_connections: 512,
            max_batch: 1_000,
            max_subscriptions: 64,
            message_buffer: 1024,
            max_call_gas: 3_000_000_000,
        }
    }
}

/// Starts the server; returns its bound address and handle.
pub async fn serve(node: Arc<Node>, config: &RpcConfig) -> std::io::Result<(SocketAddr, ServerHandle)> {
    serve_with(Shards::one(node), config, None, RpcModule::new(())).await
}

/// Starts the server with static pages in front of it and extra methods (such as the dev
/// faucet) beside the standard ones.
pub async fn serve_with(
    shards: Arc<Shards>,
    config: &RpcConfig,
    site: Option<Arc<Site>>,
    extra: impl Into<Methods>,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([http::Method::POST, http::Method::GET, http::Method::OPTIONS])
        .allow_headers([http::header::CONTENT_TYPE]);
    let server = ServerBuilder::default()
        .set_config(
            ServerConfig::builder()
                .max_request_body_size(config.max_request_bytes)
                .max_response_body_size(config.max_response_bytes)
                .max_connections(config.max_connections)
                .max_subscriptions_per_connection(config.max_subscriptions)
                .set_message_buffer_capacity(config.message_buffer.max(1))
                .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch))
                .build(),
        )
        .set_http_middleware(
            tower::ServiceBuilder::new()
                // `/metrics` is answered outside CORS: only the operator's own tools (and pages of
                // the node's own origin) read it, not a page of any origin in a visitor's browser.
                .layer({
                    let node = shards.primary().clone();
                    SiteLayer::new(None).with_metrics(Arc::new(move || node.metrics().render()))
                })
                .layer(cors)
                .layer(SiteLayer::new(site))
                .layer(crate::idcheck::IdCheckLayer::new(config.max_request_bytes as usize)),
        )
        .set_rpc_middleware({
            let max_response_bytes = config.max_response_bytes as usize;
            RpcServiceBuilder::new().layer_fn(move |inner| ConcurrentBatch {
                inner,
                max_response_bytes,
            })
        })
        .build(config.addr)
        .await?;
    let addr = server.local_addr()?;
    let mut methods = module(shards, config.max_call_gas, format!("http://{addr}"));
    methods
        .merge(extra)
        .map_err(|e| std::io::Error::other(format!("extra RPC methods: {e}")))?;
    let handle = server.start(methods);
    Ok((addr, handle))
}

/// Runs the calls of a JSON-RPC batch concurrently, up to [`BATCH_CONCURRENCY`] at a time
/// (jsonrpsee's own batch handling awaits one call after another), so that the transactions of
/// a batch reach the admission batcher together and have their signatures checked in one go.
/// Responses keep the request order, and the response size limit still applies to the whole
/// batch.
#[derive(Clone)]
struct ConcurrentBatch<S> {
    inner: S,
    max_response_bytes: usize,
}

impl<S> RpcServiceT for ConcurrentBatch<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Clone
        + Send
        + Sync
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.inner.call(request)
    }

    fn notification<'a>(&self, n: Notification<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.inner.notification(n)
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let inner = self.inner.clone();
        let limit = self.max_response_bytes;
        async move {
            let mut notified = false;
            let mut calls = Vec::new();
            for entry in batch {
                match entry {
                    Ok(BatchEntry::Call(req)) => calls.push(futures::future::Either::Left(inner.call(req))),
                    Ok(BatchEntry::Notification(n)) => {
                        notified = true;
                        inner.notification(n).await;
                    }
                    Err(e) => {
                        let (err, id) = e.into_parts();
                        calls.push(futures::future::Either::Right(futures::future::ready(
                            MethodResponse::error(id, err),
                        )));
                    }
                }
            }
            let mut out = BatchResponseBuilder::new_with_limit(limit);
            let mut responses = futures::stream::iter(calls).buffered(BATCH_CONCURRENCY);
            while let Some(rp) = responses.next().await {
                if let Err(too_big) = out.append(rp) {
                    return too_big;
                }
            }
            if out.is_empty() && notified {
                MethodResponse::notification()
            } else {
                MethodResponse::from_batch(out.finish())
            }
        }
    }
}

/// Most calls of one JSON-RPC batch in progress at once (bounded so that a batch of expensive
/// calls cannot occupy every blocking thread).
const BATCH_CONCURRENCY: usize = 64;

/// Most transactions whose signatures one admission batch checks together.
const ADMISSION_BATCH: usize = 512;

type Job = (
    Vec<u8>,
    tokio::sync::oneshot::Sender<Result<tutti_primitives::Hash, SubmitError>>,
);

/// Gathers submitted transactions into batches for [`Node::submit_batch`]: one batch per idle
/// worker (one per core), holding whatever arrived while the workers were busy. A lone
/// transaction on an idle node goes through at once, as a batch of one.
#[derive(Clone)]
struct Submitter {
    jobs: tokio::sync::mpsc::Sender<Job>,
}

impl Submitter {
    fn start(node: Arc<Node>) -> Self {
        let (jobs, mut rx) = tokio::sync::mpsc::channel::<Job>(4 * ADMISSION_BATCH);
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let idle = Arc::new(tokio::sync::Semaphore::new(workers));
        tokio::spawn(async move {
            loop {
                let Ok(worker) = idle.clone().acquire_owned().await else {
                    return;
                };
                let Some(first) = rx.recv().await else {
                    return;
                };
                let mut batch = vec![first];
                while batch.len() < ADMISSION_BATCH {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let node = node.clone();
                tokio::task::spawn_blocking(move || {
                    let raws: Vec<&[u8]> = batch.iter().map(|(raw, _)| raw.as_slice()).collect();
                    let results = node.submit_batch(&raws);
                    for ((_, reply), r) in batch.into_iter().zip(results) {
                        let _ = reply.send(r);
                    }
                    drop(worker);
                });
            }
        });
        Submitter { jobs }
    }

    async fn submit(&self, raw: Vec<u8>) -> RpcResult<tutti_primitives::Hash> {
        let gone = || error(errors::NODE_ERROR, "the node is shutting down");
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs.send((raw, reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?.map_err(submit_error)
    }
}

/// Every method, as one module, over the tracked `shards`; `own_url` is where this server is
/// reached (the endpoint of the shards it tracks).
pub fn module(shards: Arc<Shards>, max_call_gas: u64, own_url: String) -> RpcModule<()> {
    let api = Api {
        shards,
        max_call_gas,
        own_url,
        submitters: Arc::default(),
        reads: Arc::new(tokio::sync::Semaphore::new(RPC_READS)),
    };
    let mut m = RpcModule::new(());
    m.merge(TuttiApiServer::into_rpc(api.clone()))
        .expect("method names are unique");
    m.merge(DiscoverApiServer::into_rpc(api))
        .expect("method names are unique");
    m
}

/// Per shard, the node submitted to and its submitter.
type Submitters = BTreeMap<ShardId, (Arc<Node>, Submitter)>;

#[derive(Clone)]
struct Api {
    shards: Arc<Shards>,
    max_call_gas: u64,
    own_url: String,
    /// Per shard, started on the first submission (it needs the server's runtime), with the node
    /// it submits to (a shard left and joined again has a new one).
    submitters: Arc<std::sync::Mutex<Submitters>>,
    /// Turns to read the store ([`Api::read`]).
    reads: Arc<tokio::sync::Semaphore>,
}

/// Block notices of one or more shards, merged.
type HeadsRx = tokio::sync::mpsc::Receiver<Arc<crate::BlockNotice>>;

/// The `WRONG_SHARD` error of something on an untracked shard.
fn elsewhere(e: ElsewhereError) -> ErrorObjectOwned {
    error_with(
        errors::WRONG_SHARD,
        e.to_string(),
        WrongShardData {
            shard: e.shard,
            rpc: e.rpc,
        },
    )
}

/// A committee seat as the RPC shows it.
fn member_view(s: &tutti_consensus::fbft::committee::Seat) -> MemberView {
    MemberView {
        bls_public_key: format!("0x{}", hex::encode(s.key.to_bytes())),
        stake: s.power.to_string(),
    }
}

/// The JSON-RPC error of a store failure (code `NODE_ERROR`).
pub fn node_error(e: ChainError) -> ErrorObjectOwned {
    match e {
        e @ ChainError::Pruned { .. } => error(errors::STATE_PRUNED, e.to_string()),
        e => error(errors::NODE_ERROR, format!("the node could not read its store: {e}")),
    }
}

fn tx_error(e: &TxError) -> ErrorObjectOwned {
    if let TxError::ShardCongested { shard } = e {
        return error_with(
            errors::SHARD_CONGESTED,
            e.to_string(),
            serde_json::json!({ "shard": shard }),
        );
    }
    let code = match e {
        TxError::NonceTooLow { .. } | TxError::NonceTooHigh { .. } => errors::BAD_NONCE,
        TxError::InsufficientBalance { .. } | TxError::CostOverflow => errors::INSUFFICIENT_BALANCE,
        _ => errors::INVALID_TRANSACTION,
    };
    error(code, e.to_string())
}

fn submit_error(e: SubmitError) -> ErrorObjectOwned {
    match e {
        SubmitError::Invalid(e) => tx_error(&e),
        SubmitError::Pool(MempoolError::Invalid(e)) => tx_error(&e),
        SubmitError::Pool(e @ (MempoolError::NonceGap { .. } | MempoolError::GappedFull { .. })) => {
            error(errors::BAD_NONCE, e.to_string())
        }
        SubmitError::Pool(e @ MempoolError::OverCommitted { .. }) => error(errors::INSUFFICIENT_BALANCE, e.to_string()),
        SubmitError::Pool(e) => error(errors::POOL_REFUSED, e.to_string()),
        SubmitError::Chain(e) => node_error(e),
    }
}

fn address(s: &str) -> RpcResult<Address> {
    parse_address(s).map_err(invalid_params)
}

fn bytes(s: &str, what: &str) -> RpcResult<Vec<u8>> {
    parse_hex(s).map_err(|e| invalid_params(format!("{what}: {e}")))
}

fn cert(c: &tutti_primitives::CommitCertificate) -> CertificateView {
    CertificateView {
        view: c.view,
        signature: hex0x(&c.signature),
        signers: hex0x(&c.signers),
    }
}

/// The JSON view of a stored block.
pub fn block_view(b: &StoredBlock, full: bool) -> BlockView {
    let h = &b.header;
    BlockView {
        hash: h.hash().to_string(),
        height: h.height,
        parent_hash: h.parent_hash.to_string(),
        chain_id: h.chain_id,
        shard_id: h.shard_id,
        epoch: h.epoch,
        view: h.view,
        timestamp_ms: h.timestamp_ms,
        tx_root: h.tx_root.to_string(),
        state_root: h.state_root.to_string(),
        outgoing_receipts_root: h.outgoing_receipts_root.to_string(),
        incoming_receipts_root: h.incoming_receipts_root.to_string(),
        crosslinks_root: h.crosslinks_root.to_string(),
        crosslinks: b
            .crosslinks
            .iter()
            .map(|l| CrosslinkView {
                shard_id: l.header.shard_id,
                height: l.header.height,
                hash: l.header.hash().to_string(),
                epoch: l.header.epoch,
                cert: cert(&l.cert),
            })
            .collect(),
        gas_used: h.gas_used,
        proposer: hex0x(&h.proposer),
        randomness: h.randomness.to_string(),
        randomness_proof: hex0x(&h.randomness_proof),
        parent_commit: h.parent_commit.as_ref().map(cert),
        commit: b.commit.as_ref().map(cert),
        transactions: b
            .txs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if full {
                    TxOrHash::Full(Box::new(TxView::new(t, Some(h.height), Some(i as u32))))
                } else {
                    TxOrHash::Hash(t.hash().to_string())
                }
            })
            .collect(),
    }
}

fn execution_view(id: &tutti_primitives::Hash, e: &Execution) -> ExecutionView {
    ExecutionView {
        id: id.to_string(),
        height: e.height,
        shard_id: e.shard,
        receiver: e.receiver.to_string(),
        method: e.method.clone(),
        status: if e.result.is_ok() { "success" } else { "failure" }.into(),
        return_data: e.result.as_ref().ok().map(|d| hex0x(d)),
        failure: e.result.as_ref().err().map(FailureView::from),
        gas_used: e.gas_used,
        gas_burnt: e.gas_burnt,
        fee: e.fee.to_string(),
        events: e.events.iter().map(EventView::from).collect(),
        logs: e.logs.clone(),
        receipts: e.children.iter().map(|c| c.to_string()).collect(),
    }
}

fn call_view(out: &CallOutcome, height: Height) -> CallResultView {
    CallResultView {
        status: if out.is_ok() { "success" } else { "failure" }.into(),
        return_data: out.result.as_ref().ok().map(|d| hex0x(d)),
        failure: out.result.as_ref().err().map(FailureView::from),
        gas_used: out.gas_used,
        logs: out.logs.clone(),
        events: out.events.iter().map(EventView::from).collect(),
        height,
    }
}

impl Api {
    /// The lowest tracked shard's node (head, blocks by number, chain id).
    fn node(&self) -> Arc<Node> {
        self.shards.primary()
    }

    /// The code of the contract at `address` at a block (`None` for plain accounts).
    fn code_of(&self, address: &str, block: Option<BlockId>) -> RpcResult<Option<Vec<u8>>> {
        let a = self::address(address)?;
        let node = self.home(&a)?;
        let height = Api::height(&node, block)?;
        let chain = node.chain();
        let acc = chain.account(&a, height).map_err(node_error)?;
        let Some(h) = acc.code_hash else { return Ok(None) };
        chain.code(&h, height).map_err(node_error)
    }

    /// The node of `a`'s home shard.
    fn home(&self, a: &Address) -> RpcResult<Arc<Node>> {
        self.shards.home(a).map_err(elsewhere)
    }

    /// The node of a requested shard (default: the primary).
    fn of_shard(&self, shard: Option<ShardId>) -> RpcResult<Arc<Node>> {
        let Some(shard) = shard else {
            return Ok(self.node().clone());
        };
        if shard >= self.shards.num_shards() {
            return Err(invalid_params(format!(
                "shard {shard} does not exist (this chain has {} shard(s))",
                self.shards.num_shards()
            )));
        }
        self.shards.shard(shard, || format!("shard {shard}")).map_err(elsewhere)
    }

    /// The node of the beacon chain (shard 0), or where to find one.
    fn beacon(&self) -> RpcResult<Arc<Node>> {
        self.shards
            .shard(0, || "the beacon chain's staking registry".to_string())
            .map_err(elsewhere)
    }

    fn height(node: &Node, block: Option<BlockId>) -> RpcResult<Height> {
        let head = node.chain().head().header.height;
        match block.unwrap_or(BlockId::Tag(BlockTag::Latest)) {
            BlockId::Tag(BlockTag::Latest) => Ok(head),
            BlockId::Tag(BlockTag::Earliest) => Ok(0),
            BlockId::Number(n) if n <= head => Ok(n),
            BlockId::Number(n) => Err(invalid_params(format!("block {n} is beyond the head ({head})"))),
        }
    }

    fn account_view(&self, address: &str, block: Option<BlockId>) -> RpcResult<AccountView> {
        let a = self::address(address)?;
        let node = self.home(&a)?;
        let height = Api::height(&node, block)?;
        let acc = node.chain().account(&a, height).map_err(node_error)?;
        Ok(AccountView {
            address: a.to_string(),
            balance: acc.balance.to_string(),
            nonce: acc.nonce,
            code_hash: acc.code_hash.map(|h| h.to_string()),
            height,
        })
    }

    /// Runs `f` (store reads) on a blocking thread, at most [`RPC_READS`] at once: a read of a
    /// receipt tree, a validator scan or a proof never holds an async worker that consensus and
    /// the network share. `BUSY` when no turn comes within [`RPC_CALL_PATIENCE`].
    async fn read<T: Send + 'static>(&self, f: impl FnOnce(&Api) -> RpcResult<T> + Send + 'static) -> RpcResult<T> {
        let permit = tokio::time::timeout(RPC_CALL_PATIENCE, self.reads.clone().acquire_owned())
            .await
            .map_err(|_| {
                error(
                    errors::BUSY,
                    format!(
                        "this node reads for {RPC_READS} requests at once and none finished within {} s; retry",
                        RPC_CALL_PATIENCE.as_secs()
                    ),
                )
            })?
            .expect("the reads semaphore is never closed");
        let api = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&api)
        })
        .await
        .map_err(|e| error(errors::NODE_ERROR, format!("the request did not complete: {e}")))?
    }

    async fn blocking<T: Send + 'static>(
        node: Arc<Node>,
        f: impl FnOnce(Arc<Node>) -> T + Send + 'static,
    ) -> RpcResult<T> {
        tokio::task::spawn_blocking(move || f(node))
            .await
            .map_err(|e| error(errors::NODE_ERROR, format!("the call did not complete: {e}")))
    }

    /// Accepts a subscription to block notices of `shard` (default: every tracked shard), or
    /// rejects it (`None`) when the shard is not served here.
    async fn accept_heads(
        &self,
        pending: PendingSubscriptionSink,
        shard: Option<ShardId>,
    ) -> Result<Option<(jsonrpsee::SubscriptionSink, HeadsRx)>, jsonrpsee::core::SubscriptionError> {
        match self.heads_of(shard) {
            Ok(rx) => Ok(Some((pending.accept().await?, rx))),
            Err(e) => {
                pending.reject(e).await;
                Ok(None)
            }
        }
    }

    /// Forwards block notices of the tracked shards (or of `shard` only) into one channel.
    fn heads_of(&self, shard: Option<ShardId>) -> RpcResult<HeadsRx> {
        let nodes: Vec<Arc<Node>> = match shard {
            Some(s) => vec![self.of_shard(Some(s))?],
            None => self.shards.all(),
        };
        Ok(merge(nodes.iter().map(|n| n.subscribe_heads()).collect()))
    }
}

/// Sends a notification to a subscriber, or ends its subscription when the subscriber has let
/// its connection's whole buffer of messages (`RpcConfig::message_buffer`) wait unread: a client
/// that never reads must not hold the node's notices (whole blocks) in memory.
fn notify(sink: &mut jsonrpsee::SubscriptionSink, msg: SubscriptionMessage) -> SubscriptionResult {
    use jsonrpsee::core::server::TrySendError;
    match sink.try_send(msg) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) => Err(
            "the subscriber reads too slowly: its connection's buffer is full, so the subscription is closed".into(),
        ),
        Err(TrySendError::Closed(_)) => Err("the subscription is closed".into()),
    }
}

/// Forwards several broadcast channels (one per shard) into one (a lagging subscriber skips what
/// it missed, as on one shard); the forwarders end when the subscriber goes.
fn merge<T: Clone + Send + 'static>(
    sources: Vec<tokio::sync::broadcast::Receiver<T>>,
) -> tokio::sync::mpsc::Receiver<T> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    for mut source in sources {
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                match source.recv().await {
                    Ok(item) => {
                        if tx.send(item).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }
    rx
}

/// The bodies of the RPC methods that read the store: run by [`Api::read`] on a blocking thread.
impl Api {
    fn get_block_by_number_now(
        &self,
        block: BlockId,
        full: Option<bool>,
        shard: Option<u32>,
    ) -> RpcResult<Option<BlockView>> {
        let node = self.of_shard(shard)?;
        let head = node.chain().head().header.height;
        let height = match block {
            BlockId::Tag(BlockTag::Latest) => head,
            BlockId::Tag(BlockTag::Earliest) => 0,
            BlockId::Number(n) => n,
        };
        let first = node.chain().first_block().map_err(node_error)?;
        if height < first {
            return Err(error(
                errors::STATE_PRUNED,
                format!(
                    "block {height} is not held: this node started from a state snapshot at height {first} and keeps \
                     blocks {first} and later (ask an archive node)"
                ),
            ));
        }
        let b = node.chain().block_by_number(height).map_err(node_error)?;
        Ok(b.map(|b| block_view(&b, full.unwrap_or(false))))
    }

    fn get_block_by_hash_now(&self, hash: String, full: Option<bool>) -> RpcResult<Option<BlockView>> {
        let h = parse_hash(&hash).map_err(invalid_params)?;
        for n in self.shards.all() {
            if let Some(b) = n.chain().block_by_hash(&h).map_err(node_error)? {
                return Ok(Some(block_view(&b, full.unwrap_or(false))));
            }
        }
        Ok(None)
    }

    fn get_account_now(&self, address: String, block: Option<BlockId>) -> RpcResult<AccountView> {
        self.account_view(&address, block)
    }

    fn get_balance_now(&self, address: String, block: Option<BlockId>) -> RpcResult<String> {
        Ok(self.account_view(&address, block)?.balance)
    }

    fn get_transaction_now(&self, hash: String) -> RpcResult<Option<TxView>> {
        let h = parse_hash(&hash).map_err(invalid_params)?;
        for n in self.shards.all() {
            if let Some((t, loc)) = n.chain().transaction(&h).map_err(node_error)? {
                return Ok(Some(TxView::new(&t, Some(loc.height), Some(loc.index))));
            }
            if let Some(t) = n.pending_tx(&h) {
                return Ok(Some(TxView::new(&t, None, None)));
            }
        }
        Ok(None)
    }

    fn get_transaction_receipt_now(&self, hash: String) -> RpcResult<Option<TxReceiptView>> {
        let h = parse_hash(&hash).map_err(invalid_params)?;
        let mut home = None;
        for n in self.shards.all() {
            if let Some(loc) = n.chain().tx_location(&h).map_err(node_error)? {
                home = Some((n.clone(), loc));
                break;
            }
        }
        let Some((node, loc)) = home else {
            return Ok(None);
        };
        let chain = node.chain();
        let block_hash = chain
            .block_by_number(loc.height)
            .map_err(node_error)?
            .map(|b| b.header.hash().to_string())
            .unwrap_or_default();
        // Pending while some receipt of the tree has not run yet, on any tracked shard (it may be
        // queued or on its way between shards).
        let crate::shards::ReceiptTree {
            executions: tree,
            waiting,
            elsewhere,
        } = self.shards.receipt_tree(&node, &h, 1_024).map_err(node_error)?;
        let executions: Vec<ExecutionView> = tree.iter().map(|(id, e)| execution_view(id, e)).collect();
        let failure = tree
            .iter()
            .find_map(|(_, e)| e.result.as_ref().err().map(FailureView::from));
        let status = if failure.is_some() {
            "failure"
        } else if waiting {
            "pending"
        } else if !elsewhere.is_empty() {
            "sent"
        } else {
            "success"
        };
        // The first call's return data: for a call transaction its call receipt's (the
        // transaction's own execution only forwards the call); for a deploy the transaction's
        // result, the new address.
        let return_data = tree
            .iter()
            .find(|(_, e)| {
                if e.transaction {
                    e.method.is_none() && e.result.as_ref().is_ok_and(|d| !d.is_empty())
                } else {
                    e.method.is_some()
                }
            })
            .and_then(|(_, e)| e.result.as_ref().ok().map(|d| hex0x(d)));
        Ok(Some(TxReceiptView {
            transaction_hash: h.to_string(),
            block_height: loc.height,
            block_hash,
            status: status.into(),
            gas_burnt: tree.iter().map(|(_, e)| e.gas_burnt).sum(),
            fee: tree.iter().map(|(_, e)| e.fee).sum::<u128>().to_string(),
            return_data,
            failure,
            events: tree
                .iter()
                .flat_map(|(_, e)| e.events.iter().map(EventView::from))
                .collect(),
            executions,
            continues_on: elsewhere.into_iter().collect(),
        }))
    }

    fn get_code_now(&self, address: String, block: Option<BlockId>) -> RpcResult<Option<String>> {
        Ok(self.code_of(&address, block)?.map(|c| hex0x(&c)))
    }

    fn get_abi_now(&self, address: String, block: Option<BlockId>) -> RpcResult<Option<serde_json::Value>> {
        let Some(code) = self.code_of(&address, block)? else {
            return Ok(None);
        };
        // Uploads were checked: a section that does not read is a node fault.
        let abi = tutti_abi::read(&code).map_err(|e| error(errors::NODE_ERROR, e.to_string()))?;
        Ok(abi.map(|a| serde_json::to_value(a).expect("an ABI serialises")))
    }

    fn get_storage_at_now(&self, address: String, key: String, block: Option<BlockId>) -> RpcResult<Option<String>> {
        let a = self::address(&address)?;
        let k = bytes(&key, "key")?;
        let node = self.home(&a)?;
        let height = Api::height(&node, block)?;
        let v = node.chain().storage(&a, &k, height).map_err(node_error)?;
        Ok(v.map(|v| hex0x(&v)))
    }

    fn get_proof_now(&self, address: String, key: Option<String>, block: Option<BlockId>) -> RpcResult<ProofView> {
        let a = self::address(&address)?;
        let node = self.home(&a)?;
        let height = Api::height(&node, block)?;
        let state_key = match key {
            Some(k) => storage_key(&a, &bytes(&k, "key")?),
            None => account_key(&a),
        };
        let chain = node.chain();
        let (value, proof) = chain.proof(&state_key, height).map_err(node_error)?;
        let root = chain
            .block_by_number(height)
            .map_err(node_error)?
            .map(|b| b.header.state_root)
            .ok_or_else(|| error(errors::NODE_ERROR, format!("block {height} is missing")))?;
        Ok(ProofView {
            key: hex0x(&state_key),
            value: value.map(|v| hex0x(&v)),
            state_root: root.to_string(),
            height,
            proof: hex0x(&proof.to_bytes()),
        })
    }

    fn get_committee_now(&self, shard: Option<u32>, epoch: Option<u64>) -> RpcResult<CommitteeView> {
        let node = self.of_shard(shard)?;
        let shard = node.chain().spec().shard_id;
        let deciding = node.chain().head().header.height + 1;
        let epoch = epoch.unwrap_or_else(|| node.chain().spec().epochs.epoch_of(deciding));
        let seats = node
            .committees()
            .seats(shard, epoch)
            .map_err(|e| invalid_params(e.to_string()))?;
        let c = node.consensus_view();
        Ok(CommitteeView {
            shard_id: shard,
            epoch,
            height: c.height,
            view: c.view,
            leader: c.leader,
            changing_view: c.changing_view,
            members: seats.iter().map(member_view).collect(),
        })
    }

    fn get_validators_now(&self) -> RpcResult<ValidatorsView> {
        let beacon = self.beacon()?;
        let chain = beacon.chain();
        let height = chain.head().header.height;
        let spec = chain.spec().epochs;
        let epoch = spec.epoch_of(height + 1);
        let (validators, elected) = chain
            .read_beacon(height, |b| {
                let elected: Vec<_> = (epoch..=epoch + 2)
                    .filter_map(|e| Some((e, b.assignment(e)?)))
                    .collect();
                (b.validators(), elected)
            })
            .map_err(node_error)?;
        let validators = validators
            .into_iter()
            .map(|(v, ds)| {
                let self_stake = ds.iter().find(|(w, _)| *w == v.operator).map_or(0, |(_, d)| d.amount);
                let mut seats = Vec::new();
                for (epoch, assignment) in &elected {
                    for (shard, committee) in assignment.iter().enumerate() {
                        if let Some(x) = committee.iter().find(|x| x.key == v.key) {
                            seats.push(SeatView {
                                epoch: *epoch,
                                shard: shard as u32,
                                power: x.power.to_string(),
                            });
                        }
                    }
                }
                ValidatorView {
                    bls_public_key: hex0x(&v.key),
                    name: v.name.clone(),
                    operator: v.operator.to_string(),
                    commission_bps: v.commission_bps,
                    max_commission_bps: v.max_commission_bps,
                    max_change_bps: v.max_change_bps,
                    stake: v.total.to_string(),
                    self_stake: self_stake.to_string(),
                    delegators: ds.len() as u32,
                    unpaid_rewards: ds.iter().map(|(_, d)| d.reward).sum::<u128>().to_string(),
                    candidate: self_stake >= spec.staking.min_self_stake && !v.slashed,
                    slashed: v.slashed,
                    blocks_seated: v.blocks_seated,
                    blocks_signed: v.blocks_signed,
                    seats,
                }
            })
            .collect();
        Ok(ValidatorsView {
            height,
            epoch,
            epoch_blocks: spec.epoch_blocks,
            next_epoch_height: (epoch + 1) * spec.epoch_blocks,
            min_self_stake: spec.staking.min_self_stake.to_string(),
            min_delegation: spec.staking.min_delegation.to_string(),
            unbonding_epochs: spec.staking.unbonding_epochs,
            validators,
        })
    }

    fn get_delegations_now(&self, address: String) -> RpcResult<Vec<DelegationView>> {
        let who = self::address(&address)?;
        let beacon = self.beacon()?;
        let chain = beacon.chain();
        let validators = chain
            .read_beacon(chain.head().header.height, |b| b.validators())
            .map_err(node_error)?;
        Ok(validators
            .into_iter()
            .filter_map(|(v, ds)| {
                let (_, d) = ds.into_iter().find(|(w, _)| *w == who)?;
                Some(DelegationView {
                    validator: hex0x(&v.key),
                    name: v.name,
                    amount: d.amount.to_string(),
                    reward: d.reward.to_string(),
                    unbonding: d
                        .unbonding
                        .iter()
                        .map(|(amount, epoch)| UnbondingView {
                            amount: amount.to_string(),
                            epoch: *epoch,
                        })
                        .collect(),
                })
            })
            .collect())
    }

    fn status_now(&self) -> RpcResult<StatusView> {
        let primary = self.node();
        let chain = primary.chain();
        let head = chain.head();
        Ok(StatusView {
            chain_id: head.header.chain_id,
            genesis_hash: chain.genesis_hash().to_string(),
            head: head.header.height,
            head_hash: head.header.hash().to_string(),
            pending: self.shards.all().iter().map(|n| n.pending_count()).sum(),
            burnt: chain.burnt(head.header.height).map_err(node_error)?.to_string(),
            token_symbol: primary.config().genesis.params.token_symbol.clone(),
            token_decimals: tutti_primitives::TOKEN_DECIMALS,
        })
    }

    fn get_sharding_structure_now(&self) -> RpcResult<ShardingView> {
        // Every shard of the chain: the tracked ones with their heads and this endpoint, the
        // others with an endpoint where one is known.
        let congested = |shard| self.shards.all().iter().any(|n| n.room().get(&shard) == Some(&0));
        // The epoch of the height being decided.
        let primary = self.node();
        let chain = primary.chain();
        let epoch = chain.spec().epochs.epoch_of(chain.head().header.height + 1);
        let committee = |shard| {
            self.node()
                .committees()
                .seats(shard, epoch)
                .map(|seats| seats.iter().map(member_view).collect())
                .unwrap_or_default()
        };
        let crosslinked = |shard| {
            let beacon = self.shards.get(0)?;
            beacon.chain().crosslinked(shard).ok().flatten().map(|(h, _)| h)
        };
        Ok(ShardingView {
            num_shards: self.shards.num_shards(),
            this_shard: self.node().chain().spec().shard_id,
            shards: (0..self.shards.num_shards())
                .map(|shard_id| match self.shards.get(shard_id) {
                    Some(n) => {
                        let head = n.chain().head();
                        ShardView {
                            shard_id,
                            rpc: self.own_url.clone(),
                            tracked: true,
                            head: Some(head.header.height),
                            delayed_receipts: Some(head.header.congestion.delayed),
                            congested: congested(shard_id),
                            committee: committee(shard_id),
                            crosslinked: crosslinked(shard_id),
                        }
                    }
                    None => {
                        let followed = self.node().loads().latest(shard_id).cloned();
                        ShardView {
                            shard_id,
                            rpc: self.shards.endpoint(shard_id),
                            tracked: false,
                            head: followed.as_ref().map(|h| h.height),
                            delayed_receipts: followed.as_ref().map(|h| h.congestion.delayed),
                            congested: congested(shard_id),
                            committee: committee(shard_id),
                            crosslinked: crosslinked(shard_id),
                        }
                    }
                })
                .collect(),
        })
    }
}

#[async_trait]
impl TuttiApiServer for Api {
    async fn chain_id(&self) -> RpcResult<u64> {
        Ok(self.node().config().genesis.chain_id)
    }

    async fn status(&self) -> RpcResult<StatusView> {
        self.read(move |api| api.status_now()).await
    }

    async fn block_number(&self, shard: Option<u32>) -> RpcResult<u64> {
        Ok(self.of_shard(shard)?.chain().head().header.height)
    }

    async fn get_block_by_number(
        &self,
        block: BlockId,
        full: Option<bool>,
        shard: Option<u32>,
    ) -> RpcResult<Option<BlockView>> {
        self.read(move |api| api.get_block_by_number_now(block, full, shard))
            .await
    }

    async fn get_block_by_hash(&self, hash: String, full: Option<bool>) -> RpcResult<Option<BlockView>> {
        self.read(move |api| api.get_block_by_hash_now(hash, full)).await
    }

    async fn get_account(&self, address: String, block: Option<BlockId>) -> RpcResult<AccountView> {
        self.read(move |api| api.get_account_now(address, block)).await
    }

    async fn get_balance(&self, address: String, block: Option<BlockId>) -> RpcResult<String> {
        self.read(move |api| api.get_balance_now(address, block)).await
    }

    async fn send_raw_transaction(&self, tx: String) -> RpcResult<String> {
        let raw = bytes(&tx, "tx")?;
        // To the signer's shard (bytes that do not decode go to the primary, which says why).
        let node = match <SignedTransaction as parity_scale_codec::Decode>::decode(&mut raw.as_slice()) {
            Ok(stx) => self
                .shards
                .shard(stx.tx.sender().home_shard(self.shards.num_shards()), || {
                    format!("the signer {} of this transaction", stx.tx.sender())
                })
                .map_err(elsewhere)?,
            Err(_) => self.node().clone(),
        };
        let shard = node.chain().spec().shard_id;
        let submitter = {
            let mut all = self.submitters.lock().expect("submitters lock poisoned");
            match all.get(&shard) {
                Some((n, s)) if Arc::ptr_eq(n, &node) => s.clone(),
                _ => {
                    let s = Submitter::start(node.clone());
                    all.insert(shard, (node, s.clone()));
                    s
                }
            }
        };
        Ok(submitter.submit(raw).await?.to_string())
    }

    async fn get_transaction(&self, hash: String) -> RpcResult<Option<TxView>> {
        self.read(move |api| api.get_transaction_now(hash)).await
    }

    async fn get_transaction_receipt(&self, hash: String) -> RpcResult<Option<TxReceiptView>> {
        self.read(move |api| api.get_transaction_receipt_now(hash)).await
    }

    async fn call(
        &self,
        contract: String,
        method: String,
        args: Option<String>,
        gas: Option<u64>,
    ) -> RpcResult<CallResultView> {
        let c = address(&contract)?;
        let args = args.map(|a| bytes(&a, "args")).transpose()?.unwrap_or_default();
        let gas = gas.unwrap_or(self.max_call_gas);
        if gas > self.max_call_gas {
            return Err(invalid_params(format!(
                "gas {gas} is above this node's limit for calls ({})",
                self.max_call_gas
            )));
        }
        let node = self.home(&c)?;
        let permit = rpc_call_permit(&node).await?;
        Api::blocking(node, move |node| {
            let _permit = permit;
            let height = node.chain().head().header.height;
            let out = node.chain().view(node.rpc_runtime(), &c, &method, args, gas);
            call_view(&out, height)
        })
        .await
    }

    async fn estimate_gas(
        &self,
        from: String,
        contract: String,
        method: String,
        args: Option<String>,
        value: Option<String>,
    ) -> RpcResult<u64> {
        let from = address(&from)?;
        let c = address(&contract)?;
        let args = args.map(|a| bytes(&a, "args")).transpose()?.unwrap_or_default();
        let value: u128 = match value {
            Some(v) => v
                .parse()
                .map_err(|e| invalid_params(format!("value `{v}` is not a decimal amount: {e}")))?,
            None => 0,
        };
        let gas = self.max_call_gas;
        let node = self.home(&c)?;
        let permit = rpc_call_permit(&node).await?;
        let (out, inclusion) = Api::blocking(node, move |node| {
            let _permit = permit;
            // A call transaction's size does not depend on the gas numbers much; estimate
            // the inclusion cost from a transaction of the same shape.
            let size = 200 + method.len() + args.len();
            let inclusion = node.rpc_runtime().schedule().inclusion_cost(size);
            let out = node
                .chain()
                .simulate(node.rpc_runtime(), &from, &c, &method, args, value, gas);
            (out, inclusion)
        })
        .await?;
        match &out.result {
            Ok(_) => Ok(inclusion + out.gas_used),
            Err(f) => Err(error_with(
                errors::EXECUTION_FAILED,
                format!("the call fails, so no gas limit makes it succeed: {f}"),
                FailureView::from(f),
            )),
        }
    }

    async fn get_code(&self, address: String, block: Option<BlockId>) -> RpcResult<Option<String>> {
        self.read(move |api| api.get_code_now(address, block)).await
    }

    async fn get_abi(&self, address: String, block: Option<BlockId>) -> RpcResult<Option<serde_json::Value>> {
        self.read(move |api| api.get_abi_now(address, block)).await
    }

    async fn get_storage_at(&self, address: String, key: String, block: Option<BlockId>) -> RpcResult<Option<String>> {
        self.read(move |api| api.get_storage_at_now(address, key, block)).await
    }

    async fn get_proof(&self, address: String, key: Option<String>, block: Option<BlockId>) -> RpcResult<ProofView> {
        self.read(move |api| api.get_proof_now(address, key, block)).await
    }

    async fn get_sharding_structure(&self) -> RpcResult<ShardingView> {
        self.read(move |api| api.get_sharding_structure_now()).await
    }

    async fn get_committee(&self, shard: Option<u32>, epoch: Option<u64>) -> RpcResult<CommitteeView> {
        self.read(move |api| api.get_committee_now(shard, epoch)).await
    }

    async fn get_validators(&self) -> RpcResult<ValidatorsView> {
        self.read(move |api| api.get_validators_now()).await
    }

    async fn get_delegations(&self, address: String) -> RpcResult<Vec<DelegationView>> {
        self.read(move |api| api.get_delegations_now(address)).await
    }

    async fn subscribe_to(
        &self,
        pending: PendingSubscriptionSink,
        kind: String,
        filter: Option<EventFilter>,
    ) -> SubscriptionResult {
        let shard = filter.as_ref().and_then(|f| f.shard);
        match kind.as_str() {
            "newHeads" => {
                let Some((mut sink, mut rx)) = self.accept_heads(pending, shard).await? else {
                    return Ok(());
                };
                while let Some(n) = rx.recv().await {
                    let msg = SubscriptionMessage::from(to_json_raw_value(&block_view(&n.block, false))?);
                    notify(&mut sink, msg)?;
                }
                Ok(())
            }
            "events" => {
                let filter = filter.unwrap_or_default();
                let contract = match &filter.contract {
                    Some(c) => match parse_address(c) {
                        Ok(a) => Some(a.to_string()),
                        Err(e) => {
                            pending.reject(invalid_params(e)).await;
                            return Ok(());
                        }
                    },
                    None => None,
                };
                let Some((mut sink, mut rx)) = self.accept_heads(pending, shard).await? else {
                    return Ok(());
                };
                while let Some(n) = rx.recv().await {
                    for ev in &n.events {
                        if contract.as_ref().is_some_and(|c| *c != ev.event.contract)
                            || filter.name.as_ref().is_some_and(|x| *x != ev.event.name)
                        {
                            continue;
                        }
                        notify(&mut sink, SubscriptionMessage::from(to_json_raw_value(ev)?))?;
                    }
                }
                Ok(())
            }
            "pendingTransactions" => {
                let nodes: Vec<Arc<Node>> = match shard {
                    Some(s) => match self.of_shard(Some(s)) {
                        Ok(n) => vec![n],
                        Err(e) => {
                            pending.reject(e).await;
                            return Ok(());
                        }
                    },
                    None => self.shards.all(),
                };
                let mut rx = merge(nodes.iter().map(|n| n.subscribe_pending()).collect());
                let mut sink = pending.accept().await?;
                while let Some(h) = rx.recv().await {
                    notify(&mut sink, SubscriptionMessage::from(to_json_raw_value(&h.to_string())?))?;
                }
                Ok(())
            }
            other => {
                pending
                    .reject(invalid_params(format!(
                        "unknown subscription `{other}`; use newHeads, events or pendingTransactions"
                    )))
                    .await;
                Ok(())
            }
        }
    }
}

#[async_trait]
impl DiscoverApiServer for Api {
    async fn discover(&self) -> RpcResult<serde_json::Value> {
        Ok(openrpc::document(env!("CARGO_PKG_VERSION")))
    }
}

/// Encodes a signed transaction as the `0x` hex `tutti_sendRawTransaction` takes.
pub fn raw_tx(stx: &SignedTransaction) -> String {
    hex0x(&parity_scale_codec::Encode::encode(stx))
}

/// RPC requests that read the store at once (the rest wait their turn).
pub const RPC_READS: usize = 16;

/// How long a read-only call waits for its turn before the node answers `BUSY`.
const RPC_CALL_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// A turn to run a read-only call on `node` (at most `RPC_CALLS` run at once), or `BUSY`.
async fn rpc_call_permit(node: &Arc<Node>) -> RpcResult<tokio::sync::OwnedSemaphorePermit> {
    node.rpc_call_permit(RPC_CALL_PATIENCE).await.ok_or_else(|| {
        error(
            errors::BUSY,
            format!(
                "this node runs {} read-only calls at once and none finished within {} s; retry",
                crate::RPC_CALLS,
                RPC_CALL_PATIENCE.as_secs()
            ),
        )
    })
}
