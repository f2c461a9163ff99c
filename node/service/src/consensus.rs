//! The consensus shell: drives the pure FBFT [`Core`] over the chain and a [`Network`].
//!
//! It performs the core's outputs in order:
//! - `Persist`: writes the signing record (checksummed, fsynced) before anything after it is sent;
//!   if that fails, the rest of the batch is dropped (nothing signed leaves the node).
//! - `Broadcast` / `Send`: publishes on the consensus topic (votes to the leader travel on it
//!   too; committees are small and every message is self-authenticating).
//! - `Build`: waits until `block_time` after the parent, builds a block from the pool on the head
//!   ([`block::build`]) and feeds it back as `Built`.
//! - `Validate`: checks the proposal against the head with the chain's block rules
//!   ([`block::validate`]: place, timestamp, the proposer's VRF randomness, transaction root,
//!   signatures the pool has not checked, then execution against the header's roots and gas).
//!   The result is kept so `Commit` does not execute twice.
//! - `Commit`: stores block and certificate in one batch, clears the pool, notifies RPC
//!   subscribers, and publishes the block on the blocks topic (for full nodes and laggards).
//! - `SetTimer`, `Sync` (asks one peer for up to [`SYNC_BATCH`] committed blocks from a height,
//!   and again while the answers are full), `Fetch` (asks for a block by hash), `Rejected`
//!   (the gossip message is rejected, so its sender loses score).
//!
//! It also answers peers' sync requests ([`SyncRequest`]) and admits gossiped transactions, and
//! moves cross-shard receipts ([`crate::relay`]): it publishes the batches of each committed
//! block to their destinations, keeps verified incoming batches in an [`Inbox`] (a forged one
//! scores its sender down), pulls missing ones from the source shards, and gives the ready ones to
//! the blocks it builds.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use parity_scale_codec::{Decode, DecodeLimit, Encode};
use tokio::sync::{mpsc, oneshot, watch};
use tutti_chain::{
    BlockOutput, StoredBlock, TxError, block,
    foreign::{self, Finality},
    snapshot::StateChunk,
};
use tutti_consensus::bls::SecretKey;
use tutti_consensus::fbft::{
    committee::Committee,
    core::{Config as CoreConfig, Core, Head, Input, Output, Timer},
    crypto::BlsCrypto,
    message::{Message, Proposal},
    record,
};
use tutti_network::{Event, Gossip, Network, Pace, PeerId, Rates, Topic, Verdict};
use tutti_primitives::{
    BlockHeader, CommitCertificate, Crosslink, Hash, Height, ReceiptBatch, ShardId, SignedTransaction,
};

use crate::{
    SubmitError,
    committees::check_commit,
    metrics::{Phase, Step},
    node::{ConsensusView, Node, NodeError, now_ms},
    relay::{Inbox, Offered, incoming_budget},
};

/// Most blocks one sync answer carries.
pub const SYNC_BATCH: u32 = 32;
/// Most bytes of blocks one sync answer carries (at least one block is always sent).
const SYNC_BYTES: usize = 16 << 20;
/// Bytes of transactions gathered into one gossip message (more go in the next).
const TX_GOSSIP_BYTES: usize = 1 << 20;
/// Most transactions one gossip message may carry.
const MAX_GOSSIP_TXS: usize = 20_000;
/// Nesting limit when decoding peers' data.
const DEPTH_LIMIT: u32 = 32;
/// Most receipts one pull answer carries (at least one batch is always sent).
pub const PULL_RECEIPTS: u32 = 20_000;
/// How often a validator asks the source shards for batches it lacks.
const PULL_EVERY: Duration = Duration::from_secs(1);

/// What a peer can ask for.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncRequest {
    /// Committed blocks (with their commit certificates) from `from` on; answered with a SCALE
    /// `Vec<StoredBlock>` (empty if the peer has none).
    Blocks {
        /// First height.
        from: Height,
        /// Most blocks wanted (capped at [`SYNC_BATCH`]).
        max: u32,
    },
    /// A block by hash, committed or proposed at the height being decided; answered with a
    /// SCALE `Option<Proposal>`.
    Block(Hash),
    /// The receipt batches for shard `dest` from stream position `from` on (consecutive, about
    /// `max` receipts, capped at [`PULL_RECEIPTS`]); answered with a SCALE `Vec<ReceiptBatch>`
    /// (empty when none starts at `from`).
    Receipts {
        /// The asking shard.
        dest: ShardId,
        /// The position it expects next.
        from: u64,
        /// Most receipts wanted.
        max: u32,
    },
    /// The head block with its certificate; answered with a SCALE `Option<StoredBlock>` (none
    /// before the first block).
    Head,
    /// State entries with proofs against the root at `height` (at most [`MAX_PROOF_KEYS`]);
    /// answered with a SCALE `Option<Vec<(Option<Vec<u8>>, Vec<u8>)>>` (value, proof bytes;
    /// none when that height's state is not held).
    Proofs {
        /// The height.
        height: Height,
        /// The state keys.
        keys: Vec<Vec<u8>>,
    },
    /// A chunk of the state tree's leaves at `height` from leaf `start`; answered with a SCALE
    /// `Option<StateChunk>` (none when that height's state is not held).
    State {
        /// The height.
        height: Height,
        /// The first leaf's index.
        start: u64,
        /// Most leaves wanted.
        max: u64,
    },
}

/// State chunks a node serves at once; further requests fail until one is done.
pub const SERVED_CHUNKS: usize = 4;

/// Other sync requests a node answers at once; further requests fail until one is done.
pub const ANSWERING: usize = 8;

/// Most keys one [`SyncRequest::Proofs`] answers.
pub const MAX_PROOF_KEYS: usize = 1024;

/// The consensus shell's settings.
#[derive(Clone, Debug)]
pub struct ShellConfig {
    /// The directory of the signing records, one file per (shard, epoch) (`None`: memory only, for
    /// tests that never restart).
    pub record_dir: Option<PathBuf>,
    /// Timeouts and bounds of the core.
    pub core: CoreConfig,
    /// Least time between a block and the next.
    pub block_time: Duration,
}

enum Internal {
    Timeout(Timer),
    Build {
        height: Height,
        view: u64,
        parent_commit: Option<CommitCertificate>,
    },
    Synced {
        peer: PeerId,
        blocks: Vec<StoredBlock>,
    },
    SyncDone,
    Fetched {
        peer: PeerId,
        proposal: Box<Proposal>,
    },
    PullDone(ShardId),
    LinksDone(ShardId),
}

/// A block this node executed at the height being decided.
struct Executed {
    txs: Vec<SignedTransaction>,
    incoming: Vec<ReceiptBatch>,
    crosslinks: Vec<Crosslink>,
    output: BlockOutput,
}

/// Decodes a peer's bytes: bounded nesting, no trailing bytes.
fn decode_bounded<T: Decode>(mut bytes: &[u8]) -> Result<T, parity_scale_codec::Error> {
    let t = T::decode_with_depth_limit(DEPTH_LIMIT, &mut bytes)?;
    if !bytes.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(t)
}

/// A block's body: its transactions and incoming receipt batches.
pub fn encode_body(txs: &[SignedTransaction], incoming: &[ReceiptBatch], crosslinks: &[Crosslink]) -> Vec<u8> {
    (txs, incoming, crosslinks).encode()
}

type Body = (Vec<SignedTransaction>, Vec<ReceiptBatch>, Vec<Crosslink>);

fn decode_body(body: &[u8]) -> Result<Body, String> {
    decode_bounded::<Body>(body).map_err(|e| format!("the block body does not decode: {e}"))
}

/// A committed block as a proposal and its certificate.
fn proposal_of(b: &StoredBlock) -> Proposal {
    Proposal {
        header: b.header.clone(),
        body: encode_body(&b.txs, &b.incoming, &b.crosslinks),
    }
}

/// This node's seat in a committee and the key that holds it.
type Signer = Option<(usize, SecretKey)>;

/// The committee of (`shard`, `epoch`) from the node's committee source, the crypto that checks
/// its signatures, and this node's seat in it with the key that holds it.
fn committee(node: &Node, shard: ShardId, epoch: u64) -> Result<(Committee, BlsCrypto, Signer), NodeError> {
    let cfg = |e: String| NodeError::Config(e);
    let seats = node.committees().seats(shard, epoch).map_err(|e| cfg(e.to_string()))?;
    let committee = Committee::from_seats(&seats).map_err(|e| cfg(e.to_string()))?;
    let signer = node.seat_in(&seats.iter().map(|s| s.key).collect::<Vec<_>>());
    let crypto = BlsCrypto::from_seats(&seats, signer.clone())
        .map_err(|e| cfg(format!("the committee of shard {shard} at epoch {epoch}: {e}")))?;
    Ok((committee, crypto, signer))
}

/// Checks a proposal on top of the head with the chain's block rules ([`block::validate`]) and
/// executes it. `now_ms`: this node's clock, to bound the timestamp (`None` for a block already
/// certified by the committee).
/// A batch's certificate this node's inbox already verified is not verified again.
fn check_block(node: &Node, inbox: &Mutex<Inbox>, p: &Proposal, now_ms: Option<u64>) -> Result<Executed, Refusal> {
    let (txs, incoming, crosslinks) = decode_body(&p.body)?;
    if now_ms.is_some() {
        // The vote rule of `tutti_chain::foreign`: a proposal's receipt batches come from source
        // blocks the beacon chain holds (a certified block was checked so by its committee).
        // This node's beacon may lag the proposer's by a block: wait a little for it, then
        // leave the block undecided (checked again if proposed again), never invalid.
        let deadline = Instant::now() + FINALITY_WAIT;
        for b in &incoming {
            loop {
                match node.source_finality(&b.header).map_err(|e| e.to_string())? {
                    Finality::Final => break,
                    Finality::Conflicts(e) => return Err(Refusal::Invalid(format!("receipt batch: {e}"))),
                    Finality::NotYet if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                    Finality::NotYet => {
                        return Err(Refusal::Undecided(format!(
                            "receipt batch from shard {} block {}: the beacon chain does not hold that block yet",
                            b.header.shard_id, b.header.height
                        )));
                    }
                }
            }
        }
    }
    let check_cert = |h: &BlockHeader, c: &CommitCertificate| check_cert_once(node, inbox, h, c);
    let output = block::validate(
        node.chain(),
        node.runtime(),
        &p.header,
        &txs,
        &incoming,
        &crosslinks,
        now_ms,
        |hash| node.is_pooled(hash),
        &check_cert,
    )
    .map_err(|e| e.to_string())?;
    Ok(Executed {
        txs,
        incoming,
        crosslinks,
        output,
    })
}

/// How long a validator waits for its beacon chain to hold a proposal's source blocks.
const FINALITY_WAIT: Duration = Duration::from_secs(2);

/// Why a block was not accepted.
#[derive(Debug)]
enum Refusal {
    /// It breaks a rule.
    Invalid(String),
    /// It cannot be decided yet (see [`Input::Undecided`]).
    Undecided(String),
}

impl From<String> for Refusal {
    fn from(reason: String) -> Self {
        Refusal::Invalid(reason)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Invalid(r) => write!(f, "{r}"),
            Refusal::Undecided(r) => write!(f, "undecided: {r}"),
        }
    }
}

/// Checks another shard's commit certificate against its committee, unless this node's inbox
/// verified this very certificate before (then remembers it).
fn check_cert_once(node: &Node, inbox: &Mutex<Inbox>, h: &BlockHeader, c: &CommitCertificate) -> Result<(), String> {
    if inbox.lock().expect("inbox lock poisoned").cert_verified(h, c) {
        return Ok(());
    }
    check_commit(node.committees(), h, c)?;
    inbox.lock().expect("inbox lock poisoned").remember_cert(h, c);
    Ok(())
}

/// Admits a batch of gossiped transactions: rejected if any is malformed, badly signed or for
/// another chain (an honest node passes on only what it admitted). The batch itself is passed on
/// only when every transaction in it was new and admitted; otherwise it is ignored, and the ones
/// this node admitted fresh are returned to be published in its own batch. So one fresh
/// transaction cannot carry thousands of unfunded or stale ones across the network.
fn admit_gossiped(node: &Node, txs: &[Vec<u8>]) -> (Verdict, Vec<Vec<u8>>) {
    let raws: Vec<&[u8]> = txs.iter().map(|t| t.as_slice()).collect();
    let mut fresh = Vec::new();
    for (raw, admitted) in txs.iter().zip(node.admit_batch(&raws)) {
        match admitted {
            Ok((_, true)) => fresh.push(raw),
            // Already pooled: it travelled here before.
            Ok((_, false)) => {}
            Err(SubmitError::Invalid(
                TxError::Malformed(_)
                | TxError::BadSignature(_)
                | TxError::WrongChain { .. }
                | TxError::TooLarge { .. }
                | TxError::ArgsTooLarge { .. },
            )) => return (Verdict::Reject, Vec::new()),
            // Stale, unfunded, pool full...: not necessarily the sender's fault, not passed on.
            Err(_) => {}
        }
    }
    if fresh.len() == txs.len() {
        (Verdict::Accept, Vec::new())
    } else {
        (Verdict::Ignore, fresh.into_iter().cloned().collect())
    }
}

/// The batches the next block takes from the inbox: each source's run from its cursor, within
/// the incoming budget (what keeps the delayed queue bounded) and [`block::MAX_INCOMING_BATCHES`].
fn ready_batches(node: &Node, inbox: &Mutex<Inbox>) -> Result<Vec<ReceiptBatch>, tutti_chain::ChainError> {
    let chain = node.chain();
    let spec = chain.spec();
    let budget = incoming_budget(chain.delayed()?, spec.max_receipts_per_block);
    if budget == 0 {
        return Ok(Vec::new());
    }
    let mut cursors = HashMap::new();
    for s in (0..spec.num_shards).filter(|s| *s != spec.shard_id) {
        cursors.insert(s, chain.next_incoming(s)?);
    }
    // Round robin: the source allowed first this block.
    let next = chain.head().header.height + 1;
    let first = (next % u64::from(spec.num_shards)) as ShardId;
    let mut inbox = inbox.lock().expect("inbox lock poisoned");
    inbox.promote(|h| node.source_finality(h).unwrap_or(Finality::NotYet));
    Ok(inbox.ready(
        |s| cursors.get(&s).copied().unwrap_or(u64::MAX),
        block::MAX_INCOMING_BATCHES,
        budget,
        first,
    ))
}

/// Follows another shard's header from the headers topic: shape and age first, then its
/// certificate against that shard's committee (once per certificate: the inbox remembers).
/// Runs on a blocking thread.
fn follow_header(node: &Node, inbox: &Mutex<Inbox>, h: BlockHeader, cert: CommitCertificate) -> Verdict {
    match node.loads().triage(&h) {
        Err(e) => {
            tracing::debug!(shard = h.shard_id, height = h.height, "refused a followed header: {e}");
            return Verdict::Reject;
        }
        Ok(false) => return Verdict::Ignore,
        Ok(true) => {}
    }
    if let Err(e) = check_cert_once(node, inbox, &h, &cert) {
        tracing::debug!(shard = h.shard_id, height = h.height, "refused a followed header: {e}");
        return Verdict::Reject;
    }
    node.offer_crosslink(Crosslink {
        header: h.clone(),
        cert,
    });
    if node.follow(h) {
        Verdict::Accept
    } else {
        Verdict::Ignore
    }
}

/// Offers a batch from the network to the inbox: triage under the lock, the path and
/// certificate checks outside it. Runs on a blocking thread (a certificate check is a pairing).
fn offer_batch(node: &Node, inbox: &Mutex<Inbox>, batch: ReceiptBatch) -> Offered {
    let source = batch.header.shard_id;
    let chain = node.chain();
    let (cursor, last) = match chain.incoming_position(source) {
        Ok(read) => read,
        Err(e) => {
            tracing::warn!("cannot read the receipt cursor of shard {source}: {e}");
            return Offered::Known;
        }
    };
    let spec = {
        let inbox = inbox.lock().expect("inbox lock poisoned");
        match inbox.triage(&batch, cursor) {
            Err(e) => return Offered::Refused(e),
            Ok(false) => return Offered::Known,
            Ok(true) => inbox.spec().clone(),
        }
    };
    // Ready only once the beacon chain holds its source block (tutti_chain::foreign): a batch
    // not final yet is held (verified) and promoted when it is (`ready_batches`). The lookup
    // comes before the certificate: a fork the beacon refutes costs no pairing.
    let is_final = match node.source_finality(&batch.header) {
        Ok(Finality::Final) => true,
        Ok(Finality::NotYet) => false,
        Ok(Finality::Conflicts(e)) => return Offered::Refused(e.into()),
        Err(e) => {
            tracing::warn!("cannot read the beacon chain: {e}");
            return Offered::Known;
        }
    };
    if let Err(e) = Inbox::verify(&batch, &spec, cursor, &last, |h, c| {
        check_commit(node.committees(), h, c)
    }) {
        return Offered::Refused(e);
    }
    let mut inbox = inbox.lock().expect("inbox lock poisoned");
    inbox.remember_cert(&batch.header, &batch.cert);
    if is_final {
        inbox.insert(batch)
    } else {
        inbox.hold(batch)
    }
}

/// Per-height phase timing for the metrics.
struct Timing {
    height: Height,
    started: Instant,
    proposed: Option<Instant>,
    prepared: Option<Instant>,
}

struct Shell<N: Network + Clone> {
    node: Arc<Node>,
    net: N,
    core: Core<BlsCrypto>,
    me: Option<usize>,
    /// The key of this node's seat in the current epoch's committee.
    key: Option<SecretKey>,
    config: ShellConfig,
    internal: mpsc::UnboundedSender<Internal>,
    executed: HashMap<Hash, Executed>,
    syncing: bool,
    timing: Timing,
    /// A failure that must stop the node (a certified block this node cannot apply).
    fatal: Option<String>,
    /// Gossiped transaction batches, to the admission task.
    txs_in: mpsc::Sender<Gossip>,
    /// (height, view) last observed, to count view changes.
    last_view: (Height, u64),
    /// Verified receipt batches from other shards, not yet included.
    inbox: Arc<Mutex<Inbox>>,
    /// Source shards being pulled from now.
    pulling: HashSet<ShardId>,
    /// Shards whose blocks a beacon validator is fetching to crosslink now.
    links_pulling: HashSet<ShardId>,
    /// The epoch whose committee is not known yet (the core waits at its boundary).
    waiting_epoch: Option<u64>,
    /// Double signing seen in proposals and votes.
    watch: crate::watch::DoubleSignWatch,
    /// State chunks served at once ([`SERVED_CHUNKS`]).
    serving: Arc<tokio::sync::Semaphore>,
    /// Other sync requests answered at once ([`ANSWERING`]).
    answering: Arc<tokio::sync::Semaphore>,
    /// How fast each peer may ask.
    rates: Arc<Mutex<Rates>>,
}

/// Transactions move apart from consensus, so a flood of them never delays a vote: one task
/// gathers what clients submit here into batches (up to [`TX_GOSSIP_BYTES`], or what arrives
/// within 20 ms) and publishes each as one gossip message (one libp2p signature and check per
/// batch); another admits the batches peers gossip (dropped, without penalty, if it falls behind)
/// and publishes what it admitted fresh from a batch it does not pass on whole ([`admit_gossiped`]).
fn spawn_tx_tasks<N: Network + Clone>(
    node: Arc<Node>,
    net: N,
    resend: mpsc::UnboundedSender<Vec<u8>>,
    mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
) -> mpsc::Sender<Gossip> {
    let out_net = net.clone();
    tokio::spawn(async move {
        while let Some(first) = outgoing.recv().await {
            let mut bytes = first.len();
            let mut batch = vec![first];
            let deadline = tokio::time::sleep(Duration::from_millis(20));
            tokio::pin!(deadline);
            while bytes < TX_GOSSIP_BYTES && batch.len() < MAX_GOSSIP_TXS {
                tokio::select! {
                    next = outgoing.recv() => match next {
                        Some(tx) => {
                            bytes += tx.len();
                            batch.push(tx);
                        }
                        None => break,
                    },
                    _ = &mut deadline => break,
                }
            }
            out_net.publish(Topic::Transactions, batch.encode());
        }
    });
    let (txs_in, mut incoming) = mpsc::channel::<Gossip>(256);
    tokio::spawn(async move {
        while let Some(g) = incoming.recv().await {
            let verdict = match decode_bounded::<Vec<Vec<u8>>>(&g.data) {
                Ok(txs) if !txs.is_empty() && txs.len() <= MAX_GOSSIP_TXS => {
                    let node = node.clone();
                    let (verdict, fresh) = tokio::task::spawn_blocking(move || admit_gossiped(&node, &txs))
                        .await
                        .unwrap_or((Verdict::Ignore, Vec::new()));
                    for raw in fresh {
                        let _ = resend.send(raw);
                    }
                    verdict
                }
                _ => Verdict::Reject,
            };
            net.validated(g.peer, g.id, verdict);
        }
    });
    txs_in
}

/// The answer to a sync request from the store (a block being decided is looked up in the core
/// first, on the loop).
fn answer(node: &Node, req: SyncRequest) -> Vec<u8> {
    let chain = node.chain();
    match req {
        SyncRequest::Blocks { from, max } => {
            let head = chain.head().header.height;
            let mut blocks = Vec::new();
            let mut bytes = 0;
            let mut h = from.max(1);
            while h <= head && blocks.len() < max.min(SYNC_BATCH) as usize && bytes < SYNC_BYTES {
                match chain.block_by_number(h) {
                    Ok(Some(b)) => {
                        bytes += b.encoded_size();
                        blocks.push(b);
                    }
                    _ => break,
                }
                h += 1;
            }
            blocks.encode()
        }
        SyncRequest::Block(hash) => chain
            .block_by_hash(&hash)
            .ok()
            .flatten()
            .map(|b| proposal_of(&b))
            .encode(),
        SyncRequest::Head => {
            let head = chain.head();
            head.commit.is_some().then(|| (*head).clone()).encode()
        }
        SyncRequest::Proofs { height, keys } => {
            let proofs: Option<tutti_chain::snapshot::ProofAnswer> = (keys.len() <= MAX_PROOF_KEYS)
                .then(|| {
                    keys.iter()
                        .map(|k| chain.proof(k, height).map(|(v, p)| (v, p.to_bytes())).ok())
                        .collect()
                })
                .flatten();
            proofs.encode()
        }
        SyncRequest::State { height, start, max } => state_chunk(node, height, start, max).encode(),
        SyncRequest::Receipts { dest, from, max } => chain
            .receipt_batches_from(dest, from, max.min(PULL_RECEIPTS) as usize)
            .unwrap_or_else(|e| {
                tracing::error!(dest, from, "cannot read receipt batches: {e}");
                Vec::new()
            })
            .encode(),
    }
}

/// A chunk of the state at `height`, if this node holds it.
fn state_chunk(node: &Node, height: Height, start: u64, max: u64) -> Option<StateChunk> {
    let chain = node.chain();
    if height < chain.oldest_state() || height > chain.head().header.height {
        return None;
    }
    match chain.state().chunk(height, start, max) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(height, start, "cannot serve a state chunk: {e}");
            None
        }
    }
}

/// Runs a committee member (or a full node) until `shutdown` turns true.
pub async fn run<N: Network + Clone>(
    node: Arc<Node>,
    net: N,
    mut events: mpsc::Receiver<Event>,
    config: ShellConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), NodeError> {
    if let Some(dir) = &config.record_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            NodeError::Config(format!(
                "cannot create the signing records' directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let (core, signer) = epoch_core(&node, &config)?;
    let me = signer.as_ref().map(|(i, _)| *i);
    let (internal, mut internal_rx) = mpsc::unbounded_channel();
    let (gossip_tx, gossip_rx) = mpsc::unbounded_channel();
    node.set_gossip(gossip_tx.clone());
    let txs_in = spawn_tx_tasks(node.clone(), net.clone(), gossip_tx, gossip_rx);
    let inbox = Arc::new(Mutex::new(Inbox::new(node.chain().spec().clone())));
    let mut shell = Shell {
        node,
        net,
        core,
        me,
        key: signer.map(|(_, k)| k),
        config,
        internal,
        executed: HashMap::new(),
        syncing: false,
        timing: Timing {
            height: 0,
            started: Instant::now(),
            proposed: None,
            prepared: None,
        },
        fatal: None,
        txs_in,
        last_view: (0, 0),
        inbox,
        pulling: HashSet::new(),
        links_pulling: HashSet::new(),
        waiting_epoch: None,
        watch: crate::watch::DoubleSignWatch::new(),
        serving: Arc::new(tokio::sync::Semaphore::new(SERVED_CHUNKS)),
        answering: Arc::new(tokio::sync::Semaphore::new(ANSWERING)),
        rates: Arc::new(Mutex::new(Rates::default())),
    };
    tracing::info!(
        member = ?shell.me,
        height = shell.core.height(),
        "consensus started ({} validators)",
        shell.core.committee().len()
    );
    shell.drive(Input::Start).await;
    shell.start_sync(shell.core.height());
    let mut pull = tokio::time::interval(PULL_EVERY);
    pull.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
            ev = events.recv() => match ev {
                Some(ev) => shell.on_event(ev).await,
                // The network goes away as part of a shutdown, or it failed.
                None if *shutdown.borrow() => break,
                None => return Err(NodeError::Config("the network stopped".into())),
            },
            Some(i) = internal_rx.recv() => shell.on_internal(i).await,
            _ = pull.tick() => shell.pull(),

        }
        if let Some(reason) = shell.fatal.take() {
            return Err(NodeError::Config(reason));
        }
        if shell.core.finished() {
            shell.next_epoch().await;
        }
    }
    Ok(())
}

/// The FBFT core of the epoch of the height after the head: that epoch's committee, this node's
/// seat in it, its signing record, and the epoch's last height.
fn epoch_core(node: &Node, config: &ShellConfig) -> Result<(Core<BlsCrypto>, Signer), NodeError> {
    let spec = node.chain().spec();
    let head = node.chain().head();
    let epoch = spec.epochs.epoch_of(head.header.height + 1);
    let shard = spec.shard_id;
    let (committee, crypto, signer) = committee(node, shard, epoch)?;
    let me = signer.as_ref().map(|(i, _)| *i);
    let saved = match &config.record_dir {
        Some(dir) => record::load_for(dir, shard, epoch).map_err(|e| NodeError::Config(e.to_string()))?,
        None => None,
    };
    let mut core_config = config.core.clone();
    core_config.shard = shard;
    core_config.epoch = epoch;
    core_config.last_height = Some((epoch + 1) * spec.epochs.epoch_blocks - 1);
    let core = Core::new(
        crypto,
        committee,
        me,
        core_config,
        Head {
            height: head.header.height,
            hash: head.header.hash(),
            cert: head.commit.clone(),
        },
        saved,
    );
    Ok((core, signer))
}

impl<N: Network + Clone> Shell<N> {
    /// The core finished its epoch (it committed the epoch's last block): the next epoch's core
    /// takes over, with that epoch's committee and signing record, and gets the messages that
    /// arrived early. While that committee is not known (the beacon has not elected it yet),
    /// the node waits at the boundary and tries again on the next event.
    async fn next_epoch(&mut self) {
        let epoch = self.node.chain().spec().epochs.epoch_of(self.core.height());
        match epoch_core(&self.node, &self.config) {
            Ok((core, signer)) => {
                let handover = std::mem::replace(&mut self.core, core).take_handover();
                self.me = signer.as_ref().map(|(i, _)| *i);
                self.key = signer.map(|(_, k)| k);
                let me = self.me;
                self.waiting_epoch = None;
                tracing::info!(
                    epoch,
                    member = ?me,
                    height = self.core.height(),
                    handed_over = handover.len(),
                    "epoch {epoch} begins ({} validators)",
                    self.core.committee().len()
                );
                self.drive(Input::Start).await;
                for m in handover {
                    self.drive(Input::Message(m)).await;
                }
            }
            Err(e) => {
                if self.waiting_epoch != Some(epoch) {
                    tracing::warn!(epoch, "waiting at the epoch boundary: {e}");
                    self.waiting_epoch = Some(epoch);
                }
            }
        }
    }

    /// Feeds `first` and every input its outputs lead to; true if the core rejected `first`.
    async fn drive(&mut self, first: Input) -> Verdict {
        let mut queue = VecDeque::from([first]);
        let (mut rejected, mut unchecked) = (false, false);
        let mut first_level = true;
        while let Some(input) = queue.pop_front() {
            let outputs = self.core.handle(input);
            let mut outputs = outputs.into_iter();
            while let Some(o) = outputs.next() {
                match o {
                    Output::Persist(r) => {
                        if let Some(dir) = &self.config.record_dir
                            && let Err(e) = record::save(&record::path(dir, r.shard, r.epoch), &r)
                        {
                            // Nothing signed after this may leave the node.
                            tracing::error!("cannot save the signing record, not sending what was signed: {e}");
                            outputs.by_ref().for_each(drop);
                        }
                    }
                    Output::Broadcast(m) => self.net.publish(Topic::Consensus, m.to_bytes()),
                    Output::Send { to, message } => {
                        if Some(to) == self.me {
                            queue.push_back(Input::Message(message));
                        } else {
                            self.net.publish(Topic::Consensus, message.to_bytes());
                        }
                    }
                    Output::Build {
                        height,
                        view,
                        parent_commit,
                        ..
                    } => self.schedule_build(height, view, parent_commit),
                    Output::Validate(p) => {
                        let verdict = self.validate(p).await;
                        queue.push_back(verdict);
                    }
                    Output::Commit { proposal, cert } => self.commit(proposal, cert).await,
                    Output::SetTimer { timer, after_ms } => {
                        let internal = self.internal.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(after_ms)).await;
                            let _ = internal.send(Internal::Timeout(timer));
                        });
                    }
                    Output::Sync { height } => self.start_sync(height),
                    Output::Fetch { hash } => self.start_fetch(hash),
                    Output::Rejected { kind, reason } => {
                        tracing::debug!(kind, "rejected: {reason}");
                        rejected |= first_level;
                    }
                    Output::Unchecked { .. } => unchecked |= first_level,
                }
            }
            first_level = false;
        }
        self.observe();
        // What the first input (a message from a peer) deserves: blame if it was invalid, no
        // passing on if it could not be checked here, passing on otherwise.
        if rejected {
            Verdict::Reject
        } else if unchecked {
            Verdict::Ignore
        } else {
            Verdict::Accept
        }
    }

    /// Publishes where consensus stands (RPC, metrics).
    fn observe(&mut self) {
        let st = self.core.status();
        let view = st.changing_to.unwrap_or(st.view);
        self.node.set_consensus_view(ConsensusView {
            height: st.height,
            view,
            leader: st.leader as u32,
            changing_view: st.changing_to.is_some(),
        });
        let m = self.node.metrics();
        m.set_view(view);
        // Count every move to a later view at one height, however it happened (own timeout,
        // joining others, or straight to a NEWVIEW).
        if self.last_view.0 == st.height && view > self.last_view.1 {
            m.view_change();
        }
        self.last_view = (st.height, view);
        let now = Instant::now();
        let t = &mut self.timing;
        if t.height != st.height {
            *t = Timing {
                height: st.height,
                started: now,
                proposed: None,
                prepared: None,
            };
        }
        if t.proposed.is_none() && st.proposal.is_some() {
            t.proposed = Some(now);
            m.phase(Phase::Propose, (now - t.started).as_secs_f64());
        }
        if let (Some(p), None, Some((v, _))) = (t.proposed, t.prepared, st.lock)
            && v == st.view
        {
            t.prepared = Some(now);
            m.phase(Phase::Prepare, (now - p).as_secs_f64());
        }
    }

    fn schedule_build(&mut self, height: Height, view: u64, parent_commit: Option<CommitCertificate>) {
        let parent_ts = self.node.chain().head().header.timestamp_ms;
        let due = parent_ts.saturating_add(self.config.block_time.as_millis() as u64);
        let wait = due
            .saturating_sub(now_ms())
            .min(self.config.block_time.as_millis() as u64);
        let internal = self.internal.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let _ = internal.send(Internal::Build {
                height,
                view,
                parent_commit,
            });
        });
    }

    async fn build(&mut self, height: Height, view: u64, parent_commit: Option<CommitCertificate>) {
        if self.core.height() != height {
            return;
        }
        let Some(key) = self.key.clone() else {
            return;
        };
        let node = self.node.clone();
        let inbox = self.inbox.clone();
        let started = Instant::now();
        let built = tokio::task::spawn_blocking(move || {
            let candidates = node.candidates();
            let incoming = ready_batches(&node, &inbox)?;
            let crosslinks = node.ready_crosslinks();
            block::build(
                node.chain(),
                node.runtime(),
                &key,
                candidates,
                incoming,
                crosslinks,
                node.room(),
                now_ms(),
                true,
                view,
                parent_commit,
            )
        })
        .await;
        match built {
            Ok(Ok(b)) => {
                self.node.metrics().step(Step::Execute, started.elapsed().as_secs_f64());
                let proposal = Proposal {
                    body: encode_body(&b.txs, &b.incoming, &b.crosslinks),
                    header: b.header,
                };
                self.executed.insert(
                    proposal.hash(),
                    Executed {
                        txs: b.txs,
                        incoming: b.incoming,
                        crosslinks: b.crosslinks,
                        output: b.output,
                    },
                );
                self.drive(Input::Built(proposal)).await;
            }
            Ok(Err(e)) => tracing::error!(height, view, "building a block failed: {e}"),
            Err(e) => tracing::error!(height, view, "building a block panicked: {e}"),
        }
    }

    /// Checks a proposal: the core's answer ([`Input::Validated`], or [`Input::Undecided`]).
    async fn validate(&mut self, p: Proposal) -> Input {
        let hash = p.hash();
        if self.executed.contains_key(&hash) {
            return Input::Validated { hash, valid: true };
        }
        let (node, inbox) = (self.node.clone(), self.inbox.clone());
        let started = Instant::now();
        let checked = tokio::task::spawn_blocking(move || check_block(&node, &inbox, &p, Some(now_ms()))).await;
        let valid = match checked {
            Ok(Ok(e)) => {
                self.node.metrics().step(Step::Execute, started.elapsed().as_secs_f64());
                self.executed.insert(hash, e);
                true
            }
            Ok(Err(Refusal::Undecided(reason))) => {
                tracing::info!(%hash, "proposal left undecided: {reason}");
                return Input::Undecided { hash };
            }
            Ok(Err(Refusal::Invalid(reason))) => {
                tracing::warn!(%hash, "invalid proposal: {reason}");
                false
            }
            Err(e) => {
                tracing::error!(%hash, "checking a proposal panicked: {e}");
                false
            }
        };
        Input::Validated { hash, valid }
    }

    async fn commit(&mut self, proposal: Proposal, cert: CommitCertificate) {
        let hash = proposal.hash();
        let height = proposal.header.height;
        let executed = match self.executed.remove(&hash) {
            Some(e) => Ok(e),
            None => {
                let (node, inbox) = (self.node.clone(), self.inbox.clone());
                let p = proposal.clone();
                tokio::task::spawn_blocking(move || check_block(&node, &inbox, &p, None).map_err(|r| r.to_string()))
                    .await
                    .unwrap_or_else(|e| Err(format!("panicked: {e}")))
            }
        };
        let Executed {
            txs,
            incoming,
            crosslinks,
            mut output,
        } = match executed {
            Ok(e) => e,
            Err(reason) => {
                self.fatal = Some(format!(
                    "the committee certified block {height} ({hash}) but this node cannot apply it: {reason}"
                ));
                return;
            }
        };
        let block = StoredBlock {
            header: proposal.header.clone(),
            txs,
            incoming,
            crosslinks,
            commit: Some(cert.clone()),
        };
        let node = self.node.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            node.chain().commit(&block, &mut output)?;
            node.metrics().step(Step::Store, started.elapsed().as_secs_f64());
            Ok::<_, tutti_chain::ChainError>(node.committed(Arc::new(block), &output))
        })
        .await;
        match stored {
            Ok(Ok(notice)) => {
                tracing::debug!(
                    height,
                    txs = notice.block.txs.len(),
                    view = cert.view,
                    "block committed"
                );
                self.executed.clear();
                if self.node.chain().spec().num_shards > 1 {
                    // For the other shards, which follow this one's load.
                    self.net.publish(Topic::Headers, (&notice.block.header, &cert).encode());
                }
                self.net.publish(Topic::Blocks, (proposal, cert).encode());
                self.relay_committed(&notice.block);
                if let Some(p) = self.timing.prepared.or(self.timing.proposed) {
                    self.node.metrics().phase(Phase::Commit, p.elapsed().as_secs_f64());
                }
            }
            Ok(Err(e)) => self.fatal = Some(format!("storing block {height} failed: {e}")),
            Err(e) => self.fatal = Some(format!("storing block {height} panicked: {e}")),
        }
    }

    fn start_sync(&mut self, from: Height) {
        if self.syncing {
            return;
        }
        self.syncing = true;
        let net = self.net.clone();
        let internal = self.internal.clone();
        let shard = self.node.chain().spec().shard_id;
        tokio::spawn(async move {
            let request = SyncRequest::Blocks { from, max: SYNC_BATCH }.encode();
            match net.request(shard, request, Vec::new()).await {
                Ok((peer, bytes)) => match decode_bounded::<Vec<StoredBlock>>(&bytes) {
                    Ok(blocks) if blocks.len() <= SYNC_BATCH as usize => {
                        let _ = internal.send(Internal::Synced { peer, blocks });
                        return;
                    }
                    Ok(_) => net.penalise(peer, "sync answer over the batch size"),
                    Err(e) => net.penalise(peer, &format!("sync answer does not decode: {e}")),
                },
                Err(e) => tracing::debug!("sync from {from}: {e}"),
            }
            let _ = internal.send(Internal::SyncDone);
        });
    }

    async fn on_synced(&mut self, peer: PeerId, blocks: Vec<StoredBlock>) {
        self.syncing = false;
        let full = blocks.len() == SYNC_BATCH as usize;
        let mut advanced = 0;
        for b in blocks {
            let height = b.header.height;
            if height < self.core.height() {
                continue;
            }
            let Some(cert) = b.commit.clone() else {
                self.net.penalise(peer, "synced block without a certificate");
                return;
            };
            if self
                .drive(Input::Synced {
                    proposal: proposal_of(&b),
                    cert,
                })
                .await
                == Verdict::Reject
            {
                self.net.penalise(peer, "synced block with an invalid certificate");
                return;
            }
            if self.core.height() != height + 1 {
                break;
            }
            advanced += 1;
            if self.fatal.is_some() {
                return;
            }
        }
        if advanced > 0 {
            tracing::info!(advanced, head = self.core.height() - 1, "synced blocks from {peer}");
        }
        if full && advanced > 0 {
            self.start_sync(self.core.height());
        }
    }

    fn start_fetch(&mut self, hash: Hash) {
        let net = self.net.clone();
        let internal = self.internal.clone();
        let shard = self.node.chain().spec().shard_id;
        tokio::spawn(async move {
            let mut tried = Vec::new();
            for _ in 0..3 {
                let Ok((peer, bytes)) = net
                    .request(shard, SyncRequest::Block(hash).encode(), tried.clone())
                    .await
                else {
                    return;
                };
                tried.push(peer);
                match decode_bounded::<Option<Proposal>>(&bytes) {
                    Ok(Some(p)) if p.hash() == hash => {
                        let _ = internal.send(Internal::Fetched {
                            peer,
                            proposal: Box::new(p),
                        });
                        return;
                    }
                    Ok(None) => {}
                    Ok(Some(_)) => net.penalise(peer, "fetched block has another hash"),
                    Err(e) => net.penalise(peer, &format!("fetch answer does not decode: {e}")),
                }
            }
        });
    }

    async fn on_internal(&mut self, i: Internal) {
        match i {
            Internal::Timeout(t) => {
                self.drive(Input::Timeout(t)).await;
            }
            Internal::Build {
                height,
                view,
                parent_commit,
            } => self.build(height, view, parent_commit).await,
            Internal::Synced { peer, blocks } => self.on_synced(peer, blocks).await,
            Internal::SyncDone => self.syncing = false,
            Internal::Fetched { peer, proposal } => {
                if self.drive(Input::Fetched(*proposal)).await == Verdict::Reject {
                    self.net.penalise(peer, "fetched block rejected");
                }
            }
            Internal::PullDone(source) => {
                self.pulling.remove(&source);
            }
            Internal::LinksDone(shard) => {
                self.links_pulling.remove(&shard);
            }
        }
    }

    /// After a commit: publishes the block's batch for every shard it sent receipts to (every
    /// node does; the batches are identical, so gossip carries one), and drops from the inbox
    /// what the block consumed.
    fn relay_committed(&mut self, block: &StoredBlock) {
        {
            let chain = self.node.chain();
            let mut inbox = self.inbox.lock().expect("inbox lock poisoned");
            for source in block.incoming.iter().map(|b| b.header.shard_id).collect::<HashSet<_>>() {
                if let Ok(cursor) = chain.next_incoming(source) {
                    inbox.consumed(source, cursor);
                }
            }
            self.node.metrics().set_inbox(inbox.held());
        }
        let (node, net, height) = (self.node.clone(), self.net.clone(), block.header.height);
        tokio::task::spawn_blocking(move || {
            let chain = node.chain();
            let outgoing = match chain.outgoing(height) {
                Ok(o) => o,
                Err(e) => return tracing::error!(height, "cannot read the block's outgoing receipts: {e}"),
            };
            let dests: std::collections::BTreeSet<ShardId> = outgoing.iter().map(|r| r.dest_shard).collect();
            for dest in dests {
                match chain.receipt_batch(height, dest) {
                    Ok(Some(batch)) => net.publish_to(dest, Topic::Receipts, batch.encode()),
                    Ok(None) => {}
                    Err(e) => tracing::error!(height, dest, "cannot make the receipt batch: {e}"),
                }
            }
        });
    }

    /// Asks one node of each source shard for the batches from this shard's cursor, where the
    /// inbox holds nothing ready (validators only: they are the ones who build blocks).
    fn pull(&mut self) {
        if self.me.is_none() {
            return;
        }
        if self.node.chain().spec().shard_id == 0 {
            self.pull_crosslinks();
        }
        let chain = self.node.chain();
        let spec = chain.spec();
        let dest = spec.shard_id;
        for source in (0..spec.num_shards).filter(|s| *s != dest) {
            if self.pulling.contains(&source) {
                continue;
            }
            let Ok(from) = chain.next_incoming(source) else {
                continue;
            };
            if !self.inbox.lock().expect("inbox lock poisoned").waiting_on(source, from) {
                continue;
            }
            self.pulling.insert(source);
            let (node, net, inbox, internal) = (
                self.node.clone(),
                self.net.clone(),
                self.inbox.clone(),
                self.internal.clone(),
            );
            tokio::spawn(async move {
                let request = SyncRequest::Receipts {
                    dest,
                    from,
                    max: PULL_RECEIPTS,
                };
                match net.request(source, request.encode(), Vec::new()).await {
                    Ok((peer, bytes)) => match decode_bounded::<Vec<ReceiptBatch>>(&bytes) {
                        Ok(batches) => {
                            let node = node.clone();
                            let verdict = tokio::task::spawn_blocking(move || {
                                let mut new = 0;
                                for b in batches {
                                    if b.header.shard_id != source {
                                        return Err(format!(
                                            "a batch of shard {} in an answer for shard {source}",
                                            b.header.shard_id
                                        ));
                                    }
                                    match offer_batch(&node, &inbox, b) {
                                        Offered::New => new += 1,
                                        Offered::Known => {}
                                        Offered::Refused(e) => return Err(e.to_string()),
                                    }
                                }
                                Ok(new)
                            })
                            .await
                            .unwrap_or(Ok(0));
                            match verdict {
                                Ok(0) => {}
                                Ok(new) => tracing::debug!(source, from, new, "pulled receipt batches"),
                                Err(reason) => {
                                    tracing::warn!(%peer, source, "refused a pulled receipt batch: {reason}");
                                    net.penalise(peer, &format!("bad receipt batch: {reason}"));
                                }
                            }
                        }
                        Err(e) => net.penalise(peer, &format!("receipts answer does not decode: {e}")),
                    },
                    Err(e) => tracing::debug!(source, "pulling receipts: {e}"),
                }
                let _ = internal.send(Internal::PullDone(source));
            });
        }
    }

    /// Beacon validators: for each shard whose next block to crosslink is not held although its
    /// followed headers are past it, asks a node of that shard for its blocks from there and
    /// keeps those whose commit certificates hold (a peer sending others is scored down).
    fn pull_crosslinks(&mut self) {
        for (shard, next, held) in self.node.crosslink_needs() {
            let past = self.node.loads().latest(shard).is_some_and(|h| h.height >= next);
            if held || !past || !self.links_pulling.insert(shard) {
                continue;
            }
            let (node, net, inbox, internal) = (
                self.node.clone(),
                self.net.clone(),
                self.inbox.clone(),
                self.internal.clone(),
            );
            tokio::spawn(async move {
                let request = SyncRequest::Blocks {
                    from: next,
                    max: SYNC_BATCH,
                };
                match net.request(shard, request.encode(), Vec::new()).await {
                    Ok((peer, bytes)) => match decode_bounded::<Vec<StoredBlock>>(&bytes) {
                        Ok(blocks) if blocks.len() <= SYNC_BATCH as usize => {
                            let checked = tokio::task::spawn_blocking(move || {
                                for b in blocks {
                                    if b.header.shard_id != shard {
                                        return Err(format!(
                                            "a block of shard {} for shard {shard}",
                                            b.header.shard_id
                                        ));
                                    }
                                    let Some(cert) = b.commit else {
                                        return Err("a block without its certificate".to_string());
                                    };
                                    foreign::check_header(node.chain().spec(), &b.header).map_err(|e| e.to_string())?;
                                    check_cert_once(&node, &inbox, &b.header, &cert)?;
                                    node.offer_crosslink(Crosslink { header: b.header, cert });
                                }
                                Ok(())
                            })
                            .await
                            .unwrap_or(Ok(()));
                            if let Err(reason) = checked {
                                tracing::warn!(%peer, shard, "refused blocks to crosslink: {reason}");
                                net.penalise(peer, &format!("bad blocks to crosslink: {reason}"));
                            }
                        }
                        Ok(_) => net.penalise(peer, "blocks answer over the batch size"),
                        Err(e) => net.penalise(peer, &format!("blocks answer does not decode: {e}")),
                    },
                    Err(e) => tracing::debug!(shard, "fetching blocks to crosslink: {e}"),
                }
                let _ = internal.send(Internal::LinksDone(shard));
            });
        }
    }

    /// A header gossiped on the chain-wide headers topic: checked off the consensus loop.
    fn on_header_gossip(&self, g: Gossip) {
        let (node, net, inbox) = (self.node.clone(), self.net.clone(), self.inbox.clone());
        tokio::spawn(async move {
            let verdict = match decode_bounded::<(BlockHeader, CommitCertificate)>(&g.data) {
                Err(e) => {
                    tracing::debug!(peer = %g.peer, "undecodable header: {e}");
                    Verdict::Reject
                }
                Ok((h, cert)) => tokio::task::spawn_blocking(move || follow_header(&node, &inbox, h, cert))
                    .await
                    .unwrap_or(Verdict::Ignore),
            };
            net.validated(g.peer, g.id, verdict);
        });
    }

    /// A batch gossiped on this shard's receipts topic: checked off the consensus loop.
    fn on_receipts_gossip(&self, g: Gossip) {
        let (node, net, inbox) = (self.node.clone(), self.net.clone(), self.inbox.clone());
        tokio::spawn(async move {
            let verdict = match decode_bounded::<ReceiptBatch>(&g.data) {
                Err(e) => {
                    tracing::debug!(peer = %g.peer, "undecodable receipt batch: {e}");
                    Verdict::Reject
                }
                Ok(batch) => {
                    let source = batch.header.shard_id;
                    let height = batch.header.height;
                    match tokio::task::spawn_blocking(move || offer_batch(&node, &inbox, batch)).await {
                        Ok(Offered::New) => Verdict::Accept,
                        Ok(Offered::Known) | Err(_) => Verdict::Ignore,
                        Ok(Offered::Refused(e)) => {
                            tracing::warn!(peer = %g.peer, source, height, "refused a gossiped receipt batch: {e}");
                            Verdict::Reject
                        }
                    }
                }
            };
            net.validated(g.peer, g.id, verdict);
        });
    }

    async fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Gossip(g) if g.topic == Topic::Transactions => {
                if let Err(mpsc::error::TrySendError::Full(g)) = self.txs_in.try_send(g) {
                    self.net.validated(g.peer, g.id, Verdict::Ignore);
                }
            }
            Event::Gossip(g) if g.topic == Topic::Receipts => self.on_receipts_gossip(g),
            Event::Gossip(g) if g.topic == Topic::Headers => self.on_header_gossip(g),
            Event::Gossip(g) => self.on_gossip(g).await,
            Event::Request { peer, data, reply } => self.on_request(peer, &data, reply),
            Event::PeerConnected(p) => {
                tracing::debug!(%p, "peer connected");
                self.node.metrics().set_peers(self.net.peers().len());
            }
            Event::PeerDisconnected(p) => {
                tracing::debug!(%p, "peer disconnected");
                self.node.metrics().set_peers(self.net.peers().len());
            }
        }
    }

    /// A peer's sync request: paced per peer ([`Rates`]), answered off the consensus loop by at
    /// most [`ANSWERING`] tasks at once ([`SERVED_CHUNKS`] for state chunks). A refused request
    /// is dropped (the peer sees a failure and may ask another peer); a peer that keeps asking
    /// while refused loses score.
    fn on_request(&mut self, peer: PeerId, data: &[u8], reply: oneshot::Sender<Vec<u8>>) {
        let req = match decode_bounded::<SyncRequest>(data) {
            Ok(req) => req,
            Err(e) => return self.net.penalise(peer, &format!("sync request does not decode: {e}")),
        };
        let pace = self
            .rates
            .lock()
            .expect("rates lock poisoned")
            .request(peer, Instant::now());
        match pace {
            Pace::Serve => {}
            Pace::Refuse => return self.node.metrics().request_refused(),
            Pace::Penalise => {
                self.node.metrics().request_refused();
                return self.net.penalise(peer, "sync requests faster than allowed");
            }
        }
        // The block being decided is only in the core: answered here, at once.
        if let SyncRequest::Block(hash) = &req
            && let Some(p) = self.core.block(hash)
        {
            let answer = Some(p.clone()).encode();
            self.rates
                .lock()
                .expect("rates lock poisoned")
                .answered(&peer, answer.len());
            let _ = reply.send(answer);
            return;
        }
        let limit = match req {
            SyncRequest::State { .. } => &self.serving,
            _ => &self.answering,
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "busy answering sync requests: one refused");
            return self.node.metrics().request_refused();
        };
        let (node, rates) = (self.node.clone(), self.rates.clone());
        tokio::task::spawn_blocking(move || {
            let answer = answer(&node, req);
            rates.lock().expect("rates lock poisoned").answered(&peer, answer.len());
            let _ = reply.send(answer);
            drop(permit);
        });
    }

    /// Watches proposals and votes of the height being decided for double signing
    /// ([`DoubleSignWatch`]); reports what it catches to the beacon chain.
    fn watch_proposal(&mut self, m: &Message) {
        let now = self.core.height();
        let members = self.core.committee().members();
        let evidence = match m {
            Message::Announce {
                view,
                proposal,
                signature,
            }
            | Message::NewView {
                view,
                proposal,
                signature,
                ..
            } => {
                let leader = self.core.committee().leader(proposal.header.height, *view);
                let Some(key) = members.get(leader).map(|m| m.id) else {
                    return;
                };
                self.watch.proposal(now, *view, key, &proposal.header, signature)
            }
            Message::Prepare(v) | Message::Commit(v) => {
                let phase = if matches!(m, Message::Prepare(_)) {
                    tutti_primitives::fbft::Phase::Prepare
                } else {
                    tutti_primitives::fbft::Phase::Commit
                };
                let Some(key) = members.get(v.signer as usize).map(|m| m.id) else {
                    return;
                };
                self.watch.vote(now, phase, v.height, v.view, key, v.hash, &v.signature)
            }
            _ => None,
        };
        let Some(evidence) = evidence else {
            return;
        };
        let (height, view, phase) = (evidence.first.header.height, evidence.view, evidence.phase);
        let validator = hex::encode(evidence.key);
        match self.node.report_double_sign(evidence) {
            Ok(true) => tracing::warn!(
                height,
                view,
                ?phase,
                %validator,
                "double signing reported to the beacon chain"
            ),
            Ok(false) => tracing::warn!(
                height,
                view,
                ?phase,
                %validator,
                "double signing seen (no reporter account configured to report it)"
            ),
            Err(e) => tracing::warn!(height, view, "reporting double signing failed: {e}"),
        }
    }

    async fn on_gossip(&mut self, g: Gossip) {
        let verdict = match g.topic {
            Topic::Consensus => match Message::from_bytes(&g.data) {
                Err(e) => {
                    tracing::debug!(peer = %g.peer, "undecodable consensus message: {e}");
                    Verdict::Reject
                }
                Ok(m) => {
                    // Votes reach the double-sign watch once their signature held (the core
                    // checks every vote it passes on), so forged ones cost it nothing.
                    let vote = matches!(m, Message::Prepare(_) | Message::Commit(_)).then(|| m.clone());
                    if vote.is_none() {
                        self.watch_proposal(&m);
                    }
                    let verdict = self.drive(Input::Message(m)).await;
                    if let Some(v) = vote
                        && verdict == Verdict::Accept
                    {
                        self.watch_proposal(&v);
                    }
                    verdict
                }
            },
            Topic::Blocks => match decode_bounded::<(Proposal, CommitCertificate)>(&g.data) {
                Err(_) => Verdict::Reject,
                Ok((p, cert)) => {
                    let height = p.header.height;
                    let at = self.core.height();
                    if height < at {
                        Verdict::Ignore
                    } else if height > at {
                        self.start_sync(at);
                        Verdict::Ignore
                    } else {
                        match self.drive(Input::Synced { proposal: p, cert }).await {
                            Verdict::Reject => Verdict::Reject,
                            _ => Verdict::Accept,
                        }
                    }
                }
            },
            // Routed to their tasks before this.
            Topic::Transactions | Topic::Receipts | Topic::Headers => Verdict::Ignore,
        };
        self.net.validated(g.peer, g.id, verdict);
    }
}
