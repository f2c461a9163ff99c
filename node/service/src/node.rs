//! The node: chain, mempool and the block production loop, with broadcast channels the RPC
//! subscriptions read.
//!
//! Concurrency: RPC handlers read the chain (versioned state, so reads never block a block
//! commit) and admit transactions (signatures are verified before the pool's lock is taken). One
//! producer task builds, executes and commits a block every `block_time`; a block is reported
//! (newHeads, receipts) only after its batch is durable.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::sync::broadcast;
use tutti_chain::{
    Chain, ChainError, Genesis, MemStore, Mempool, MempoolConfig, MempoolError, SledStore, Store, StoredBlock, TxError,
    txcheck,
};
use tutti_consensus::{
    bls::{PublicKey, SecretKey},
    fbft::committee::CommitteeSource,
};

use crate::committees::BeaconCommittees;
use tutti_primitives::{Address, Crosslink, Hash, ShardId, SignedTransaction};
use tutti_rpc::types::{EventNotice, EventView};
use tutti_runtime::{Runtime, RuntimeConfig};

/// Node settings.
#[derive(Clone)]
pub struct NodeConfig {
    /// The shard this node runs (`None`: a validator's own shard from the genesis, shard 0 for a
    /// full node).
    pub shard: Option<ShardId>,
    /// The chain.
    pub genesis: Genesis,
    /// Where the store lives (`None`: in memory, for tests).
    pub data_dir: Option<PathBuf>,
    /// The validator keys this node may sign with: in each epoch, the one seated in the shard's
    /// committee, if any (empty: a full node, which follows the chain without signing). A
    /// validator process gives its key to every shard it runs, so it signs wherever it is
    /// elected; `tutti dev` gives every shard all its dev keys.
    pub validators: Vec<SecretKey>,
    /// Time between blocks.
    pub block_time: Duration,
    /// Most transactions per block.
    pub max_block_txs: usize,
    /// Pool limits.
    pub mempool: MempoolConfig,
    /// Keep the state of this many blocks below the head, pruning older versions (`None`: an
    /// archive node, which keeps every version).
    pub state_window: Option<u64>,
}

/// Why the node could not start or do something.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The ledger failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Block production failed.
    #[error(transparent)]
    #[cfg(feature = "test-utils")]
    Block(#[from] crate::solo::ProduceError),
    /// The configuration is inconsistent.
    #[error("{0}")]
    Config(String),
}

/// Why a submitted transaction was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Broke a rule.
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// Refused by the pool.
    #[error(transparent)]
    Pool(MempoolError),
    /// The store failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// A committed block as subscribers see it.
#[derive(Debug)]
pub struct BlockNotice {
    /// The block.
    pub block: Arc<StoredBlock>,
    /// Every event its executions emitted, in order.
    pub events: Vec<EventNotice>,
}

/// Where consensus stands, as the RPC reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsensusView {
    /// The height being decided.
    pub height: u64,
    /// The current view (or the view being changed to).
    pub view: u64,
    /// Committee index of that view's leader.
    pub leader: u32,
    /// Whether a view change is under way.
    pub changing_view: bool,
}

/// A running node's state.
pub struct Node {
    chain: Arc<Chain>,
    /// Runs blocks (building, validating, syncing): nothing else, so whatever else the node does
    /// never takes its instances.
    runtime: Runtime,
    /// Runs read-only calls for RPC (`tutti_call`, `tutti_estimateGas`), at most
    /// [`RPC_CALLS`] at once ([`Node::rpc_call_permit`]).
    rpc_runtime: Runtime,
    rpc_calls: Arc<tokio::sync::Semaphore>,
    keys: Vec<SecretKey>,
    members: Vec<PublicKey>,
    committees: Arc<BeaconCommittees>,
    config: NodeConfig,
    mempool: Mutex<Mempool>,
    heads: broadcast::Sender<Arc<BlockNotice>>,
    pending: broadcast::Sender<Hash>,
    gossip: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Vec<u8>>>>,
    consensus: Mutex<ConsensusView>,
    metrics: crate::metrics::Metrics,
    /// The other shards' latest certified headers (their published load).
    loads: Mutex<crate::relay::Loads>,
    /// Per other shard, how many transactions for it the next block may admit (congestion
    /// control between shards); refreshed on every commit and followed header.
    room: Mutex<std::collections::BTreeMap<ShardId, u64>>,
    /// Beacon nodes: other shards' certified blocks (certificates checked) waiting to be
    /// crosslinked, by (shard, height).
    crosslinks: Mutex<std::collections::BTreeMap<(ShardId, u64), Crosslink>>,
    /// This process's beacon node (shard 0), when it is another node.
    beacon: std::sync::OnceLock<std::sync::Weak<Node>>,
    /// The account that signs double-signing reports (it gets the reporter's reward).
    reporter: Mutex<Option<ed25519_dalek::SigningKey>>,
}

/// Most crosslinks a beacon node holds waiting per shard.
const MAX_HELD_CROSSLINKS: u64 = 4 * tutti_chain::block::MAX_CROSSLINKS as u64;

/// Wall-clock time, ms since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Most read-only contract calls (RPC) a node runs at once.
pub const RPC_CALLS: usize = 16;

impl Node {
    /// Opens (or creates) the chain and checks the validator key against the genesis committee.
    pub fn open(config: NodeConfig) -> Result<Arc<Node>, NodeError> {
        Self::open_with(config, RuntimeConfig::default())
    }

    /// [`Node::open`] with a runtime of other settings (a benchmark under valgrind, which cannot
    /// reserve address space for 64 pooled calls, runs with a few).
    pub fn open_with(config: NodeConfig, runtime: RuntimeConfig) -> Result<Arc<Node>, NodeError> {
        let runtime_config = runtime;
        let g = &config.genesis;
        g.check().map_err(|e| NodeError::Config(e.to_string()))?;
        let committees = Arc::new(BeaconCommittees::new(g).map_err(|e| NodeError::Config(e.to_string()))?);
        // A validator runs the shard its key sits on in the genesis unless told another; a full
        // node, or a validator not elected yet, the one it is told (or 0).
        let seat_shard = config.validators.iter().find_map(|key| {
            let pk = key.public_key();
            (0..g.num_shards.max(1)).find(|&s| {
                committees
                    .seats(s, 0)
                    .is_ok_and(|seats| seats.iter().any(|x| x.key == pk))
            })
        });
        if seat_shard.is_none() && !config.validators.is_empty() {
            tracing::info!(
                "no validator key of this node sits in the genesis committee: it follows the chain and signs once elected"
            );
        }
        let shard = config.shard.or(seat_shard).unwrap_or(0);
        let members: Vec<PublicKey> = committees
            .seats(shard, 0)
            .map_err(|e| NodeError::Config(e.to_string()))?
            .into_iter()
            .map(|s| s.key)
            .collect();
        let store: Arc<dyn Store> = match &config.data_dir {
            // Blocks are journaled and applied to sled in the background (`JournaledStore`).
            Some(dir) => Arc::new(tutti_chain::JournaledStore::open(Arc::new(SledStore::open(
                dir.join("db"),
            )?))?),
            None => Arc::new(MemStore::new()),
        };
        let chain = Arc::new(Chain::open_shard(store, g, shard)?);
        chain.set_state_window(config.state_window);
        if shard == 0 {
            committees.follow(chain.clone());
        }
        let rpc_slots = runtime_config.max_concurrent_calls.clamp(1, RPC_CALLS as u32);
        let rpc_config = RuntimeConfig {
            max_concurrent_calls: rpc_slots,
            ..runtime_config.clone()
        };
        let runtime = Runtime::new(runtime_config)
            .map_err(|e| NodeError::Config(format!("cannot start the contract runtime: {e}")))?;
        let rpc_runtime = Runtime::new(rpc_config)
            .map_err(|e| NodeError::Config(format!("cannot start the contract runtime for RPC calls: {e}")))?;
        let rpc_calls = Arc::new(tokio::sync::Semaphore::new(rpc_slots as usize));
        let mempool = Mempool::new(config.mempool.clone(), chain.spec().rules.clone());
        let loads = crate::relay::Loads::new(chain.spec().clone());
        let (heads, _) = broadcast::channel(256);
        let (pending, _) = broadcast::channel(16_384);
        Ok(Arc::new(Node {
            chain,
            runtime,
            rpc_runtime,
            rpc_calls,
            keys: config.validators.clone(),
            members,
            committees,
            config,
            mempool: Mutex::new(mempool),
            heads,
            pending,
            gossip: Mutex::new(None),
            consensus: Mutex::new(ConsensusView {
                height: 0,
                view: 0,
                leader: 0,
                changing_view: false,
            }),
            metrics: crate::metrics::Metrics::new(),
            loads: Mutex::new(loads),
            room: Mutex::new(Default::default()),
            crosslinks: Mutex::new(Default::default()),
            beacon: std::sync::OnceLock::new(),
            reporter: Mutex::new(None),
        }))
        .inspect(|node| node.refresh_room())
    }

    /// Holds another shard's certified block for this beacon node's next blocks (whose caller
    /// checked the certificate); ignored on other shards and when already crosslinked or too far
    /// ahead.
    pub fn offer_crosslink(&self, link: Crosslink) {
        let shard = link.header.shard_id;
        if self.chain.spec().shard_id != 0
            || shard == 0
            || tutti_chain::foreign::check_header(self.chain.spec(), &link.header).is_err()
        {
            return;
        }
        let Ok(Some((done, _))) = self.chain.crosslinked(shard) else {
            return;
        };
        let height = link.header.height;
        if height > done && height <= done + MAX_HELD_CROSSLINKS {
            self.crosslinks
                .lock()
                .expect("crosslinks lock poisoned")
                .insert((shard, height), link);
        }
    }

    /// The next crosslink height each other shard needs (beacon nodes), and whether it is held.
    pub fn crosslink_needs(&self) -> Vec<(ShardId, u64, bool)> {
        let held = self.crosslinks.lock().expect("crosslinks lock poisoned");
        (1..self.chain.spec().num_shards)
            .filter_map(|s| {
                let (done, _) = self.chain.crosslinked(s).ok()??;
                Some((s, done + 1, held.contains_key(&(s, done + 1))))
            })
            .collect()
    }

    /// The crosslinks the next beacon block can carry: per shard, the held blocks that extend its
    /// latest crosslink one after another, at most `MAX_CROSSLINKS` in all.
    pub fn ready_crosslinks(&self) -> Vec<Crosslink> {
        if self.chain.spec().shard_id != 0 {
            return Vec::new();
        }
        let held = self.crosslinks.lock().expect("crosslinks lock poisoned");
        let mut out = Vec::new();
        for s in 1..self.chain.spec().num_shards {
            let Ok(Some((mut height, mut hash))) = self.chain.crosslinked(s) else {
                continue;
            };
            while out.len() < tutti_chain::block::MAX_CROSSLINKS {
                match held.get(&(s, height + 1)) {
                    Some(l) if l.header.parent_hash == hash => {
                        height += 1;
                        hash = l.header.hash();
                        out.push(l.clone());
                    }
                    _ => break,
                }
            }
        }
        out
    }

    /// The other shards as this node follows them (their latest certified headers).
    pub fn loads(&self) -> std::sync::MutexGuard<'_, crate::relay::Loads> {
        self.loads.lock().expect("loads lock poisoned")
    }

    /// Follows another shard's certified header (checked by the caller); true if it was newer.
    pub fn follow(&self, header: tutti_primitives::BlockHeader) -> bool {
        let newer = self.loads().insert(header);
        if newer {
            self.refresh_room();
        }
        newer
    }

    /// Each other shard's load as this node sees it (receipts this shard sent it that it has not
    /// consumed, plus its delayed queue).
    pub fn shard_loads(&self) -> std::collections::BTreeMap<ShardId, u64> {
        let sent = |d| self.chain.next_outgoing(d).unwrap_or(0);
        self.loads().loads(sent)
    }

    /// Recomputes the room left for each other shard (after a commit or a followed header).
    pub fn refresh_room(&self) {
        let per_block = self.chain.spec().max_receipts_per_block;
        let room = self
            .shard_loads()
            .into_iter()
            .map(|(d, load)| (d, tutti_runtime::schedule::room(load, per_block)))
            .collect();
        *self.room.lock().expect("room lock poisoned") = room;
    }

    /// Per other shard, how many transactions for it the next block may admit.
    pub fn room(&self) -> std::collections::BTreeMap<ShardId, u64> {
        self.room.lock().expect("room lock poisoned").clone()
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The chain, shared.
    pub fn chain_arc(&self) -> Arc<Chain> {
        self.chain.clone()
    }

    /// The contract runtime that runs blocks.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The contract runtime for read-only calls (RPC): its own instances, so no load on it can
    /// change how a block executes. Hold a [`Node::rpc_call_permit`] while using it.
    pub fn rpc_runtime(&self) -> &Runtime {
        &self.rpc_runtime
    }

    /// Waits (at most `patience`) for a turn to run a read-only call: at most [`RPC_CALLS`] run
    /// at once, fewer than the RPC runtime's instances, so none waits for an instance.
    pub async fn rpc_call_permit(&self, patience: std::time::Duration) -> Option<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(patience, self.rpc_calls.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// The settings.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Where this node learns the committee of a shard at an epoch.
    pub fn committees(&self) -> &dyn CommitteeSource {
        self.committees.as_ref()
    }

    /// Makes this node read elected committees from `beacon` (the process's shard 0) and send
    /// its double-signing reports there.
    pub fn follow_beacon(&self, beacon: &Arc<Node>) {
        self.committees.follow(beacon.chain.clone());
        if !std::ptr::eq(self, beacon.as_ref()) {
            let _ = self.beacon.set(Arc::downgrade(beacon));
        }
    }

    /// Signs double-signing reports with `key` (an account on shard 0, which pays their gas and
    /// receives the reporter's reward).
    pub fn set_reporter(&self, key: ed25519_dalek::SigningKey) {
        *self.reporter.lock().expect("reporter lock poisoned") = Some(key);
    }

    /// Where another shard's header stands on this process's beacon chain
    /// ([`tutti_chain::foreign::Finality`]): the rule a node applies before it keeps a receipt
    /// batch or votes for a block that includes one. On a chain with static committees no
    /// committee ever retires, so its certificate is enough ([`Finality::Final`]); a node of an
    /// elected chain without a beacon node waits ([`Finality::NotYet`]).
    ///
    /// [`Finality::Final`]: tutti_chain::foreign::Finality::Final
    /// [`Finality::NotYet`]: tutti_chain::foreign::Finality::NotYet
    pub fn source_finality(
        &self,
        h: &tutti_primitives::BlockHeader,
    ) -> Result<tutti_chain::foreign::Finality, tutti_chain::ChainError> {
        use tutti_chain::foreign::Finality;
        if self.config.genesis.params.static_committees {
            return Ok(Finality::Final);
        }
        let hash = if self.chain.spec().shard_id == 0 {
            self.chain.final_hash(h.shard_id, h.height)?
        } else {
            match self.beacon.get().and_then(|w| w.upgrade()) {
                Some(beacon) => beacon.chain().final_hash(h.shard_id, h.height)?,
                None => None,
            }
        };
        Ok(Finality::of(h, hash))
    }

    /// Submits a report of `evidence` (already checked) to the beacon chain, signed by the
    /// reporter account; `Ok(false)` when this node has no reporter or no beacon node.
    pub fn report_double_sign(self: &Arc<Self>, evidence: tutti_primitives::DoubleSign) -> Result<bool, SubmitError> {
        let Some(key) = self.reporter.lock().expect("reporter lock poisoned").clone() else {
            return Ok(false);
        };
        let beacon = if self.chain.spec().shard_id == 0 {
            self.clone()
        } else {
            match self.beacon.get().and_then(|w| w.upgrade()) {
                Some(b) => b,
                None => return Ok(false),
            }
        };
        let signer = tutti_primitives::PublicKey(key.verifying_key().to_bytes());
        let head = beacon.chain().head().header.height;
        let nonce = beacon.chain().account(&signer.address(), head)?.nonce;
        let stx = tutti_primitives::Transaction {
            chain_id: beacon.chain().spec().rules.chain_id,
            signer,
            nonce,
            gas_limit: 100_000_000,
            gas_price: 1,
            action: tutti_primitives::Action::Stake(tutti_primitives::StakeAction::ReportDoubleSign(Box::new(
                evidence,
            ))),
        }
        .sign(&key);
        beacon.submit_raw(&parity_scale_codec::Encode::encode(&stx))?;
        Ok(true)
    }

    /// The genesis committee's keys, in bitmap order.
    pub fn members(&self) -> &[PublicKey] {
        &self.members
    }

    /// The validator keys this node may sign with.
    pub fn validator_keys(&self) -> &[SecretKey] {
        &self.keys
    }

    /// This node's seat among `seats` and the key that holds it (`None`: none of its keys).
    pub fn seat_in(&self, seats: &[PublicKey]) -> Option<(usize, SecretKey)> {
        seats
            .iter()
            .enumerate()
            .find_map(|(i, pk)| self.keys.iter().find(|k| k.public_key() == *pk).map(|k| (i, k.clone())))
    }

    /// This node's index in the genesis committee of its shard (`None` for a full node).
    pub fn member_index(&self) -> Option<usize> {
        self.seat_in(&self.members).map(|(i, _)| i)
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Where consensus stands.
    pub fn consensus_view(&self) -> ConsensusView {
        let mut v = self.consensus.lock().expect("consensus view lock poisoned").clone();
        if self.members.len() == 1 {
            // The committee of one decides the block after the head, in view 0, alone.
            v.height = self.chain.head().header.height + 1;
        }
        v
    }

    /// Updates where consensus stands (the consensus task does).
    pub fn set_consensus_view(&self, view: ConsensusView) {
        *self.consensus.lock().expect("consensus view lock poisoned") = view;
    }

    /// Sends every transaction this node admits from a client (not those from gossip) to
    /// `sink`, which publishes them to peers.
    pub fn set_gossip(&self, sink: tokio::sync::mpsc::UnboundedSender<Vec<u8>>) {
        *self.gossip.lock().expect("gossip lock poisoned") = Some(sink);
    }

    /// Subscribes to committed blocks.
    pub fn subscribe_heads(&self) -> broadcast::Receiver<Arc<BlockNotice>> {
        self.heads.subscribe()
    }

    /// How many subscribers to committed blocks there are now.
    pub fn head_subscribers(&self) -> usize {
        self.heads.receiver_count()
    }

    /// Subscribes to hashes of transactions entering the pool.
    pub fn subscribe_pending(&self) -> broadcast::Receiver<Hash> {
        self.pending.subscribe()
    }

    /// Number of pooled transactions.
    pub fn pending_count(&self) -> usize {
        self.mempool.lock().expect("mempool lock poisoned").len()
    }

    /// A pooled transaction.
    pub fn pending_tx(&self, hash: &Hash) -> Option<Arc<SignedTransaction>> {
        self.mempool.lock().expect("mempool lock poisoned").get(hash)
    }

    /// Admits raw transaction bytes into the pool (and passes them on to peers). A transaction
    /// already pooled is accepted again (same hash) so that clients can retry safely.
    pub fn submit_raw(&self, bytes: &[u8]) -> Result<Hash, SubmitError> {
        let (hash, new) = self.admit_raw(bytes)?;
        if new && let Some(sink) = &*self.gossip.lock().expect("gossip lock poisoned") {
            let _ = sink.send(bytes.to_vec());
        }
        Ok(hash)
    }

    /// Admits raw transaction bytes into the pool without passing them on; also says whether
    /// the transaction is new to the pool.
    pub fn admit_raw(&self, bytes: &[u8]) -> Result<(Hash, bool), SubmitError> {
        self.admit_batch(&[bytes]).pop().expect("one result per transaction")
    }

    /// [`Node::submit_raw`] for many transactions at once: their signatures are checked in one
    /// batch. One result per transaction, in order.
    pub fn submit_batch(&self, raws: &[&[u8]]) -> Vec<Result<Hash, SubmitError>> {
        let admitted = self.admit_batch(raws);
        let gossip = self.gossip.lock().expect("gossip lock poisoned").clone();
        raws.iter()
            .zip(admitted)
            .map(|(raw, r)| {
                let (hash, new) = r?;
                if new && let Some(sink) = &gossip {
                    let _ = sink.send(raw.to_vec());
                }
                Ok(hash)
            })
            .collect()
    }

    /// [`Node::admit_raw`] for many transactions at once, signatures checked in one batch.
    /// Transactions are admitted in the order given (so one sender's nonces can follow each
    /// other in a batch).
    pub fn admit_batch(&self, raws: &[&[u8]]) -> Vec<Result<(Hash, bool), SubmitError>> {
        let rules = &self.chain.spec().rules;
        let checked: Vec<Result<SignedTransaction, TxError>> = raws
            .iter()
            .map(|raw| {
                let stx = txcheck::decode(raw, rules)?;
                txcheck::check_rules(&stx, raw.len(), rules)?;
                Ok(stx)
            })
            .collect();
        let passed: Vec<&SignedTransaction> = checked.iter().filter_map(|c| c.as_ref().ok()).collect();
        let mut signatures = txcheck::verify_signatures(&passed).into_iter();
        checked
            .into_iter()
            .map(|c| {
                let stx = c?;
                signatures
                    .next()
                    .expect("one signature result per checked transaction")?;
                self.submit_checked(stx)
            })
            .collect()
    }

    /// Admits a transaction that passed the stateless checks.
    fn submit_checked(&self, stx: SignedTransaction) -> Result<(Hash, bool), SubmitError> {
        let hash = stx.hash();
        let spec = self.chain.spec();
        let dest = tutti_runtime::schedule::destination(&stx, spec.shard_id, spec.num_shards);
        if self.room.lock().expect("room lock poisoned").get(&dest) == Some(&0) {
            return Err(SubmitError::Invalid(TxError::ShardCongested { shard: dest }));
        }
        if let tutti_primitives::Action::Stake(action) = &stx.tx.action
            && let Err(e) = self.chain.check_stake(&stx.tx.sender(), action)
            && e.is_final()
        {
            return Err(SubmitError::Invalid(TxError::Staking(e)));
        }
        // The account is read under the pool's lock: a block commits its state before
        // `committed` takes this lock to clear its transactions, so the pool never sees an
        // account older than its own contents. (Read before the lock, a block committed in
        // between left the sender's next nonce looking like a gap, and it waited there.)
        let mut pool = self.mempool.lock().expect("mempool lock poisoned");
        let head = self.chain.head().header.height;
        let account = self.chain.account(&stx.tx.sender(), head)?;
        let admitted = pool.insert_checked(stx, hash, &account);
        drop(pool);
        match admitted {
            Ok(_) => {
                let _ = self.pending.send(hash);
                Ok((hash, true))
            }
            Err(MempoolError::Duplicate(h)) => Ok((h, false)),
            Err(MempoolError::Invalid(e)) => Err(SubmitError::Invalid(e)),
            Err(e) => Err(SubmitError::Pool(e)),
        }
    }

    /// The pooled transactions the next block should try, in order.
    pub fn candidates(&self) -> Vec<SignedTransaction> {
        let height = self.chain.head().header.height;
        let pool = self.mempool.lock().expect("mempool lock poisoned");
        let nonce = |a: &Address| self.chain.account(a, height).map(|acc| acc.nonce).unwrap_or(0);
        let max_bytes = tutti_chain::block::MAX_BODY_BYTES;
        pool.select(
            nonce,
            self.config.max_block_txs,
            self.chain.spec().block_gas_limit,
            max_bytes,
        )
        .into_iter()
        .map(|t| (*t).clone())
        .collect()
    }

    /// Whether a transaction is in the pool (its signature was checked when it entered).
    pub fn is_pooled(&self, hash: &Hash) -> bool {
        self.mempool.lock().expect("mempool lock poisoned").get(hash).is_some()
    }

    /// Produces, commits and announces one block from the pool without consensus (a committee
    /// of one; tests only: nodes produce blocks through the consensus shell).
    #[cfg(feature = "test-utils")]
    pub fn produce_block(&self) -> Result<Arc<BlockNotice>, NodeError> {
        let key = match (self.seat_in(&self.members), self.members.len()) {
            (Some((_, k)), 1) => k,
            _ => {
                return Err(NodeError::Config(
                    "only the validator of a committee of one produces blocks alone".into(),
                ));
            }
        };
        let t0 = std::time::Instant::now();
        let candidates = self.candidates();
        let t1 = std::time::Instant::now();
        let mut produced = crate::solo::produce(&self.chain, &self.runtime, &key, candidates, now_ms(), true)?;
        let writes = produced.output.state_writes.len();
        let t2 = std::time::Instant::now();
        self.chain.commit(&produced.block, &mut produced.output)?;
        let t3 = std::time::Instant::now();
        let notice = self.committed(Arc::new(produced.block), &produced.output);
        tracing::debug!(
            "block {}: {} txs, {} state writes; select {:?}, execute {:?}, commit {:?}, announce {:?}",
            notice.block.header.height,
            notice.block.txs.len(),
            writes,
            t1 - t0,
            t2 - t1,
            t3 - t2,
            t3.elapsed()
        );
        Ok(notice)
    }

    /// After a block is committed: clears its transactions from the pool and announces it.
    pub fn committed(&self, block: Arc<StoredBlock>, output: &tutti_chain::BlockOutput) -> Arc<BlockNotice> {
        let produced = output;
        self.metrics.committed(&block);
        if !block.crosslinks.is_empty() {
            let mut held = self.crosslinks.lock().expect("crosslinks lock poisoned");
            for l in &block.crosslinks {
                let s = l.header.shard_id;
                held.retain(|(shard, h), _| *shard != s || *h > l.header.height);
            }
        }
        {
            let mut pool = self.mempool.lock().expect("mempool lock poisoned");
            let mut senders = std::collections::BTreeMap::new();
            for t in &block.txs {
                pool.remove(&t.hash());
                let n = senders.entry(t.tx.sender()).or_insert(0);
                *n = (*n).max(t.tx.nonce + 1);
            }
            for (sender, next) in senders {
                pool.remove_committed(&sender, next);
            }
            pool.tick();
            // Transactions that cannot apply any more leave; those that did not fit wait.
            for (h, e) in &produced.skipped {
                if !e.is_retryable() {
                    pool.remove(h);
                }
            }
        }
        let height = block.header.height;
        let mut events = Vec::new();
        for (id, e) in &produced.executions {
            for ev in &e.events {
                events.push(EventNotice {
                    event: EventView::from(ev),
                    height,
                    execution: id.to_string(),
                });
            }
        }
        self.refresh_room();
        let notice = Arc::new(BlockNotice { block, events });
        let _ = self.heads.send(notice.clone());
        notice
    }
}
