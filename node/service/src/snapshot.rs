//! Snapshot sync: a node with no chain for a shard starts from a recent certified block of it
//! instead of re-executing from genesis.
//!
//! 1. Target: the head block of a peer of the shard ([`SyncRequest::Head`]), whose commit
//!    certificate must verify against the shard's committee at the block's epoch. Epochs 0 and 1
//!    (and every epoch with static committees) have the genesis committees; a later epoch `e`'s
//!    committee is learnt by walking the beacon chain's epoch ends from the genesis: the last
//!    beacon block of epoch `k` (certified by the committee of `k`, already known) holds in its
//!    state the committees of `k + 2`, read with proofs against its state root
//!    ([`SyncRequest::Proofs`]). The peers must hold the state at those epoch ends (an archive
//!    node, or a state window longer than the chain) for a walk that starts at genesis.
//! 2. State: the leaves of the state tree at the target's height, in chunks of
//!    [`CHUNK_KEYS`] leaves ([`SyncRequest::State`]), several in flight at once, spread over the
//!    shard's peers, each checked by [`Restore`] before it is written. A peer whose chunk does
//!    not verify, or that says the state ends early, is scored down and not asked again; one that
//!    does not hold the height is asked no more. A restart resumes the restore the store holds.
//! 3. The block becomes the chain's head; the consensus shell then syncs blocks from the next
//!    height like any node that is behind.

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{StreamExt, future::BoxFuture, stream::FuturesUnordered};
use parity_scale_codec::{Decode, DecodeLimit, Encode};
use tokio::sync::oneshot;
use tutti_chain::{
    Genesis, Store, StoredBlock, beacon,
    snapshot::{CHUNK_KEYS, ProofAnswer, Proven, Restore, RestoreError, StateChunk},
};
use tutti_consensus::fbft::committee::{CommitteeSource, Seat, SourceError};
use tutti_network::{NetError, Network, PeerId};
use tutti_primitives::{Height, ShardId};

use crate::{
    committees::{GenesisCommittees, check_commit, seats_of},
    consensus::SyncRequest,
};

/// Chunks in flight at once.
const IN_FLIGHT: usize = 6;
/// Nesting limit when decoding peers' answers.
const DEPTH_LIMIT: u32 = 32;

/// What a snapshot sync did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The height restored.
    pub height: Height,
    /// Leaves (state entries) restored.
    pub leaves: u64,
    /// Distinct peers that served verified chunks.
    pub peers: usize,
    /// Chunks refused (and their senders scored down).
    pub refused: u32,
    /// How long it took.
    pub elapsed: Duration,
}

/// Why a snapshot sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The store.
    #[error(transparent)]
    Chain(#[from] tutti_chain::ChainError),
    /// No usable peer or answer.
    #[error("{0}")]
    Peers(String),
}

fn decode<T: Decode>(mut bytes: &[u8]) -> Result<T, String> {
    T::decode_with_depth_limit(DEPTH_LIMIT, &mut bytes).map_err(|e| e.to_string())
}

/// Restores the state of shard `shard` into `store` from peers over `net`, unless `store` already
/// holds a chain (then `Ok(None)`); resumes a restore the store holds. `local` is a committee
/// source this process already has (a beacon chain it follows), tried before walking the
/// beacon's epoch ends over the network.
pub async fn sync<N: Network + Clone>(
    net: N,
    genesis: &Genesis,
    shard: ShardId,
    store: Arc<dyn Store>,
    local: Option<Arc<dyn CommitteeSource>>,
) -> Result<Option<Report>, SyncError> {
    if store.get(tutti_chain::Column::Meta, b"genesis")?.is_some() {
        return Ok(None);
    }
    let started = Instant::now();
    let target = match Restore::pending_target(&*store)? {
        Some(t) => {
            tracing::info!(
                shard,
                height = t.header.height,
                "resuming the state restore in the data directory"
            );
            t
        }
        None => {
            let mut walk = Walk::new(net.clone(), genesis, local)?;
            pick_target(&net, &mut walk, shard).await?
        }
    };
    let height = target.header.height;
    let restorer = Restorer::start(store, target)?;
    if restorer.next > 0 {
        tracing::info!(
            shard,
            stored = restorer.next,
            "snapshot sync: resuming after the state entries already stored"
        );
    }
    let mut fetch = Fetch {
        net,
        shard,
        height,
        restorer,
        liars: HashSet::new(),
        lacking: HashSet::new(),
        served: HashSet::new(),
        refused: 0,
    };
    let leaves = fetch.run(genesis.clone()).await?;
    Ok(Some(Report {
        height,
        leaves,
        peers: fetch.served.len(),
        refused: fetch.refused,
        elapsed: started.elapsed(),
    }))
}

/// Drains a shard's network events while its node is not running yet (a snapshot sync): peers'
/// requests go unanswered, gossip is ignored. Send `true` on the returned sender to get the
/// events back.
pub fn drain<N: Network>(
    net: N,
    mut events: tokio::sync::mpsc::Receiver<tutti_network::Event>,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<tokio::sync::mpsc::Receiver<tutti_network::Event>>,
) {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                ev = events.recv() => match ev {
                    Some(tutti_network::Event::Gossip(g)) => {
                        net.validated(g.peer, g.id, tutti_network::Verdict::Ignore)
                    }
                    Some(_) => {}
                    None => break,
                },
            }
        }
        events
    });
    (stop, task)
}

/// Asks peers of `shard` for their head until one gives a block whose certificate verifies.
async fn pick_target<N: Network + Clone>(
    net: &N,
    walk: &mut Walk<N>,
    shard: ShardId,
) -> Result<StoredBlock, SyncError> {
    let mut tried: Vec<PeerId> = Vec::new();
    let mut waited = Instant::now();
    loop {
        let (peer, bytes) = match net.request(shard, SyncRequest::Head.encode(), tried.clone()).await {
            Ok(x) => x,
            Err(NetError::NoPeer { .. }) if !tried.is_empty() => {
                tried.clear();
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => {
                if waited.elapsed() > Duration::from_secs(10) {
                    tracing::info!(shard, "snapshot sync: waiting for a peer of the shard ({e})");
                    waited = Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        tried.push(peer);
        let block = match decode::<Option<StoredBlock>>(&bytes) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(e) => {
                net.penalise(peer, &format!("head answer does not decode: {e}"));
                continue;
            }
        };
        match walk.check(&block, shard).await {
            Ok(()) => {
                tracing::info!(
                    shard,
                    height = block.header.height,
                    epoch = block.header.epoch,
                    "snapshot sync: restoring the state of a certified block from {peer}"
                );
                return Ok(block);
            }
            Err(Blame::Peer(e)) => net.penalise(peer, &format!("head block refused: {e}")),
            Err(Blame::Nobody(e)) => {
                tracing::info!(shard, "snapshot sync: cannot check the head of {peer} yet: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Why a block could not be checked: the peer's fault (scored down) or not (retry).
enum Blame {
    Peer(String),
    Nobody(String),
}

/// Committees learnt from the genesis and the beacon chain's epoch ends (module doc).
struct Walk<N> {
    net: N,
    local: Option<Arc<dyn CommitteeSource>>,
    epoch_blocks: u64,
    num_shards: u32,
    committees: Known,
}

/// The committees a walk knows.
struct Known {
    genesis: GenesisCommittees,
    fixed: bool,
    /// Epoch -> seats of every shard.
    known: BTreeMap<u64, Vec<Vec<Seat>>>,
}

impl CommitteeSource for Known {
    fn seats(&self, shard: ShardId, epoch: u64) -> Result<Vec<Seat>, SourceError> {
        if self.fixed || epoch < 2 {
            return self.genesis.seats(shard, epoch);
        }
        match self.known.get(&epoch).and_then(|s| s.get(shard as usize)) {
            Some(seats) if !seats.is_empty() => Ok(seats.clone()),
            _ => Err(SourceError::Unknown { shard, epoch }),
        }
    }
}

impl<N: Network + Clone> Walk<N> {
    fn new(net: N, g: &Genesis, local: Option<Arc<dyn CommitteeSource>>) -> Result<Self, SyncError> {
        Ok(Walk {
            net,
            local,
            epoch_blocks: g.params.epoch_spec(g.num_shards).epoch_blocks.max(1),
            num_shards: g.num_shards.max(1),
            committees: Known {
                genesis: GenesisCommittees::new(g).map_err(|e| SyncError::Peers(e.to_string()))?,
                fixed: g.params.static_committees,
                known: BTreeMap::new(),
            },
        })
    }

    /// Checks that `block` is a committed block of `shard`: its place and epoch, and its
    /// certificate against that epoch's committee (learnt first if needed).
    async fn check(&mut self, block: &StoredBlock, shard: ShardId) -> Result<(), Blame> {
        let h = &block.header;
        if h.shard_id != shard || h.epoch != h.height / self.epoch_blocks || h.height == 0 {
            return Err(Blame::Peer(format!(
                "block {} of shard {} at epoch {} is not a block of shard {shard} at its height's epoch",
                h.height, h.shard_id, h.epoch
            )));
        }
        let cert = block
            .commit
            .as_ref()
            .ok_or_else(|| Blame::Peer("the block has no commit certificate".into()))?;
        if let Some(local) = &self.local
            && local.seats(shard, h.epoch).is_ok()
        {
            return check_commit(local.as_ref(), h, cert).map_err(Blame::Peer);
        }
        self.learn(h.epoch).await.map_err(Blame::Nobody)?;
        check_commit(&self.committees, h, cert).map_err(Blame::Peer)
    }

    /// Learns the committees of `epoch` by walking the beacon's epoch ends two at a time.
    async fn learn(&mut self, epoch: u64) -> Result<(), String> {
        if self.committees.fixed || epoch < 2 || self.committees.known.contains_key(&epoch) {
            return Ok(());
        }
        let mut k = self
            .committees
            .known
            .range(..epoch)
            .rev()
            .map(|(e, _)| *e)
            .find(|e| e % 2 == epoch % 2)
            .unwrap_or(epoch % 2);
        while k < epoch {
            let mut last_error = String::new();
            let mut done = false;
            let mut tried = Vec::new();
            for _ in 0..5 {
                match self.step(k, &mut tried).await {
                    Ok(()) => {
                        done = true;
                        break;
                    }
                    Err(e) => last_error = e,
                }
            }
            if !done {
                return Err(format!(
                    "cannot learn the committees of epoch {} from the beacon chain: {last_error}",
                    k + 2
                ));
            }
            k += 2;
        }
        Ok(())
    }

    /// From the last beacon block of epoch `k` (certified by `k`'s committee), the committees of
    /// `k + 2`.
    async fn step(&mut self, k: u64, tried: &mut Vec<PeerId>) -> Result<(), String> {
        let last = (k + 1) * self.epoch_blocks - 1;
        let (peer, bytes) = self
            .net
            .request(0, SyncRequest::Blocks { from: last, max: 1 }.encode(), tried.clone())
            .await
            .map_err(|e| e.to_string())?;
        tried.push(peer);
        let blocks: Vec<StoredBlock> = decode(&bytes).map_err(|e| {
            self.net.penalise(peer, &format!("blocks answer does not decode: {e}"));
            e
        })?;
        let Some(block) = blocks.into_iter().find(|b| b.header.height == last) else {
            return Err(format!("{peer} does not have beacon block {last}"));
        };
        let h = &block.header;
        let cert_ok = h.shard_id == 0
            && h.epoch == k
            && block
                .commit
                .as_ref()
                .is_some_and(|c| check_commit(&self.committees, h, c).is_ok());
        if !cert_ok {
            self.net
                .penalise(peer, "a beacon epoch end whose certificate does not verify");
            return Err(format!("{peer} sent beacon block {last} without a valid certificate"));
        }
        let root = h.state_root;
        let target = k + 2;
        let a = proven(&self.net, last, root, vec![beacon::assignment_key(target)]).await?;
        let assignment = beacon::assignment(&a, target)
            .ok_or_else(|| format!("the beacon state at {last} holds no committees for epoch {target}"))?;
        let keys: BTreeSet<[u8; 48]> = assignment.iter().flatten().map(|e| e.key).collect();
        let mut proofs = BTreeMap::new();
        let keys: Vec<[u8; 48]> = keys.into_iter().collect();
        for part in keys.chunks(crate::consensus::MAX_PROOF_KEYS) {
            let v = proven(&self.net, last, root, part.iter().map(beacon::validator_key).collect()).await?;
            for key in part {
                proofs.insert(*key, beacon::validator(&v, key).map(|v| v.proof));
            }
        }
        let seats = seats_of(
            assignment
                .into_iter()
                .map(|c| {
                    c.into_iter()
                        .map(|e| (e.key, e.power, proofs.get(&e.key).copied().flatten()))
                        .collect()
                })
                .collect(),
        )?;
        if seats.len() != self.num_shards as usize {
            return Err(format!(
                "epoch {target} elects {} committees for {} shards",
                seats.len(),
                self.num_shards
            ));
        }
        tracing::debug!(
            epoch = target,
            "snapshot sync: learnt the committees from beacon block {last}"
        );
        self.committees.known.insert(target, seats);
        Ok(())
    }
}

/// State entries of shard 0 at `height`, read from a peer with proofs against `root`.
async fn proven<N: Network>(
    net: &N,
    height: Height,
    root: tutti_primitives::Hash,
    keys: Vec<Vec<u8>>,
) -> Result<Proven, String> {
    let request = SyncRequest::Proofs {
        height,
        keys: keys.clone(),
    };
    let (peer, bytes) = net
        .request(0, request.encode(), Vec::new())
        .await
        .map_err(|e| e.to_string())?;
    let answer: Option<ProofAnswer> = decode(&bytes).map_err(|e| {
        net.penalise(peer, &format!("proofs answer does not decode: {e}"));
        e
    })?;
    let Some(answer) = answer.filter(|a| a.len() == keys.len()) else {
        return Err(format!("{peer} does not hold the beacon state at {height}"));
    };
    let entries = keys.into_iter().zip(answer).map(|(k, (v, p))| (k, v, p)).collect();
    Proven::verify(root, entries).map_err(|e| {
        net.penalise(peer, &format!("state proofs that do not verify: {e}"));
        format!("{peer} sent state proofs that do not verify: {e}")
    })
}

/// The restore, on its own thread (`jmt`'s restore is not `Send`).
struct Restorer {
    commands: std::sync::mpsc::Sender<Command>,
    next: u64,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Restorer {
    /// Waits for the thread to let go of the store (the node opens it next).
    fn drop(&mut self) {
        self.commands = std::sync::mpsc::channel().0;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

enum Command {
    Add(StateChunk, oneshot::Sender<(Result<(), RestoreError>, u64)>),
    Finish(Genesis, ShardId, oneshot::Sender<(Result<(), RestoreError>, u64)>),
}

impl Restorer {
    fn start(store: Arc<dyn Store>, target: StoredBlock) -> Result<Restorer, SyncError> {
        let (commands, rx) = std::sync::mpsc::channel::<Command>();
        let (ready, started) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("state-restore".into())
            .spawn(move || {
                let mut r = match Restore::begin(store, target) {
                    Ok(r) => {
                        let _ = ready.send(Ok(r.next_leaf()));
                        r
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                while let Ok(c) = rx.recv() {
                    match c {
                        Command::Add(chunk, reply) => {
                            let res = r.add(chunk);
                            let _ = reply.send((res, r.next_leaf()));
                        }
                        Command::Finish(g, shard, reply) => {
                            let res = r.finish(&g, shard);
                            let _ = reply.send((res, r.next_leaf()));
                        }
                    }
                }
            })
            .map_err(|e| SyncError::Peers(format!("cannot start the restore thread: {e}")))?;
        let next = started
            .recv()
            .map_err(|_| SyncError::Peers("the restore thread stopped".into()))??;
        Ok(Restorer {
            commands,
            next,
            thread: Some(thread),
        })
    }

    async fn call(
        &mut self,
        make: impl FnOnce(oneshot::Sender<(Result<(), RestoreError>, u64)>) -> Command,
    ) -> Result<Result<(), RestoreError>, SyncError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| SyncError::Peers("the restore thread stopped".into()))?;
        let (res, next) = rx
            .await
            .map_err(|_| SyncError::Peers("the restore thread stopped".into()))?;
        self.next = next;
        Ok(res)
    }
}

type Answer = (u64, Result<(PeerId, Option<StateChunk>), String>);

/// The chunk fetching loop.
struct Fetch<N> {
    net: N,
    shard: ShardId,
    height: Height,
    restorer: Restorer,
    /// Peers that sent bad data: never asked again.
    liars: HashSet<PeerId>,
    /// Peers that do not hold the height: not asked while others are.
    lacking: HashSet<PeerId>,
    served: HashSet<PeerId>,
    refused: u32,
}

impl<N: Network + Clone> Fetch<N> {
    /// Asks a random peer of the shard (the network picks one) for the chunk at `start`.
    fn ask(&self, start: u64) -> BoxFuture<'static, Answer> {
        let net = self.net.clone();
        let shard = self.shard;
        let request = SyncRequest::State {
            height: self.height,
            start,
            max: CHUNK_KEYS,
        }
        .encode();
        let avoid: Vec<PeerId> = self.liars.iter().chain(&self.lacking).copied().collect();
        let liars: Vec<PeerId> = self.liars.iter().copied().collect();
        Box::pin(async move {
            // Prefer a peer that holds the height, then any that is not a liar.
            let mut answer = Err(String::new());
            for exclude in [avoid, liars] {
                match net.request(shard, request.clone(), exclude).await {
                    Ok((peer, bytes)) => {
                        answer = match decode::<Option<StateChunk>>(&bytes) {
                            Ok(c) => Ok((peer, c)),
                            Err(e) => {
                                net.penalise(peer, &format!("state chunk does not decode: {e}"));
                                Err(format!("{peer} sent a state chunk that does not decode"))
                            }
                        };
                        break;
                    }
                    Err(e) => answer = Err(e.to_string()),
                }
            }
            if answer.is_err() {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            (start, answer)
        })
    }

    fn refuse(&mut self, peer: PeerId, why: &str) {
        self.refused += 1;
        self.liars.insert(peer);
        self.net.penalise(peer, why);
        tracing::warn!(%peer, "snapshot sync: {why}");
    }

    async fn run(&mut self, genesis: Genesis) -> Result<u64, SyncError> {
        let mut total: Option<(u64, PeerId)> = None;
        let mut ready: BTreeMap<u64, (PeerId, StateChunk)> = BTreeMap::new();
        let mut flying: FuturesUnordered<BoxFuture<'static, Answer>> = FuturesUnordered::new();
        let mut flying_at: BTreeSet<u64> = BTreeSet::new();
        let mut reported = Instant::now();
        let mut lacking_rounds = 0u32;
        loop {
            let next = self.restorer.next;
            // The end: a peer said the tree has no leaf at `next`, or `next` reached the count.
            let claimed_end = match (ready.get(&next), total) {
                (Some((peer, c)), _) if c.entries.is_empty() => Some(*peer),
                (_, Some((t, peer))) if next >= t => Some(peer),
                _ => None,
            };
            if let Some(claimant) = claimed_end {
                let (g, shard) = (genesis.clone(), self.shard);
                match self.restorer.call(|r| Command::Finish(g, shard, r)).await? {
                    Ok(()) => {
                        tracing::info!(shard, leaves = next, "snapshot sync: state complete");
                        return Ok(next);
                    }
                    Err(RestoreError::Incomplete { .. }) => {
                        self.refuse(claimant, "said the state ends where it does not");
                        ready.remove(&next);
                        total = None;
                        continue;
                    }
                    Err(e) => return Err(SyncError::Peers(e.to_string())),
                }
            }
            // Use a held chunk that covers `next`.
            ready.retain(|s, (_, c)| *s + c.entries.len() as u64 > next || (*s == next && c.entries.is_empty()));
            let usable = ready
                .iter()
                .find(|(s, (_, c))| **s <= next && **s + c.entries.len() as u64 > next)
                .map(|(s, _)| *s);
            if let Some(s) = usable {
                let (peer, chunk) = ready.remove(&s).expect("found above");
                match self.restorer.call(|r| Command::Add(chunk, r)).await? {
                    Ok(()) => {
                        self.served.insert(peer);
                        tracing::debug!(shard = self.shard, next = self.restorer.next, %peer, "snapshot sync: chunk stored");
                    }
                    Err(RestoreError::BadChunk(e)) => {
                        self.refuse(peer, &format!("sent a state chunk that does not verify ({e})"))
                    }
                    Err(e) => return Err(SyncError::Peers(e.to_string())),
                }
                if reported.elapsed() > Duration::from_secs(5) {
                    reported = Instant::now();
                    match total {
                        Some((t, _)) => tracing::info!(
                            shard = self.shard,
                            "snapshot sync: {}% ({} of {t} state entries)",
                            self.restorer.next * 100 / t.max(1),
                            self.restorer.next
                        ),
                        None => tracing::info!(
                            shard = self.shard,
                            "snapshot sync: {} state entries",
                            self.restorer.next
                        ),
                    }
                }
                continue;
            }
            // Keep up to IN_FLIGHT chunks asked for: the one at `next`, and the following ones
            // once the count is known.
            let wanted: Vec<u64> = (0..IN_FLIGHT as u64)
                .map(|i| next + i * CHUNK_KEYS)
                .take_while(|s| match total {
                    Some((t, _)) => *s < t || *s == next,
                    None => *s == next,
                })
                .collect();
            for s in wanted {
                let covered = ready.contains_key(&s) || flying_at.contains(&s);
                if !covered && flying.len() < IN_FLIGHT {
                    flying.push(self.ask(s));
                    flying_at.insert(s);
                }
            }
            let Some((start, answer)) = flying.next().await else {
                continue;
            };
            flying_at.remove(&start);
            match answer {
                Ok((peer, Some(chunk))) => {
                    if chunk.start != start || chunk.entries.len() as u64 > CHUNK_KEYS {
                        self.refuse(peer, "sent a state chunk it was not asked for");
                        continue;
                    }
                    lacking_rounds = 0;
                    if total.is_none() && chunk.leaves > 0 {
                        total = Some((chunk.leaves, peer));
                    }
                    if start >= self.restorer.next {
                        ready.insert(start, (peer, chunk));
                    }
                }
                Ok((peer, None)) => {
                    self.lacking.insert(peer);
                    lacking_rounds += 1;
                    if lacking_rounds > 20 {
                        return Err(SyncError::Peers(format!(
                            "no peer holds the state of shard {} at height {} any more; delete the data directory \
                             and start again to restore a newer one",
                            self.shard, self.height
                        )));
                    }
                    if lacking_rounds.is_multiple_of(5) {
                        // Every peer asked lacks it: maybe they were behind; ask them again.
                        self.lacking.clear();
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
                Err(e) => tracing::debug!(start, "snapshot sync: chunk request failed: {e}"),
            }
        }
    }
}
