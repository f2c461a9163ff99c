//! Validators that follow the elections: a validator process runs the beacon chain (shard 0) and
//! the shards it is told to, plus whichever shard the beacon seats one of its keys on, and only
//! while it does ([`follow`]).
//!
//! Rules:
//! - Every [`CHECK_EVERY`], the beacon's head state gives the committees of its epoch `e` and of
//!   `e + 1` and, once elected at the end of `e`, `e + 2`. A shard with one of this process's keys
//!   seated in any of them is started at once: its topics joined on the running swarm, its state
//!   restored from a snapshot when its data directory is empty ([`crate::snapshot`], checked
//!   against the committees of the beacon this process follows), then blocks synced to the head.
//!   An election at the end of `e` leaves the whole epoch `e + 1` for that.
//! - A shard tracked only for a seat is left once its own head has passed every epoch in which a
//!   key of this process sits on it and the beacon seats none there in `e`, `e + 1` or `e + 2`:
//!   its consensus stops (finishing the block in progress), its topics are left, and its data
//!   directory is deleted unless the configuration keeps it (`left-shards = "keep"`, which makes a
//!   later return a block sync from where it stopped instead of a snapshot).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use tokio::{sync::watch, task::JoinHandle};
use tutti_chain::{BeaconRead, SledStore, Store};
use tutti_network::{Event, Network, p2p::P2pNetwork};
use tutti_primitives::ShardId;

use crate::{
    Node, NodeConfig, NodeError, Shards,
    committees::BeaconCommittees,
    consensus::{self, ShellConfig},
};

/// How often the beacon's committees are read.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Starts and stops tracking shards on a running network.
pub trait Joiner: Send + Sync + 'static {
    /// The network handle of a shard.
    type Net: Network + Clone;
    /// Starts receiving `shard`'s traffic.
    fn join(&self, shard: ShardId) -> Result<(Self::Net, tokio::sync::mpsc::Receiver<Event>), String>;
    /// Stops it.
    fn leave(&self, shard: ShardId);
}

impl Joiner for P2pNetwork {
    type Net = P2pNetwork;
    fn join(&self, shard: ShardId) -> Result<(P2pNetwork, tokio::sync::mpsc::Receiver<Event>), String> {
        self.join_shard(shard).map_err(|e| e.to_string())
    }
    fn leave(&self, shard: ShardId) {
        self.leave_shard(shard)
    }
}

/// How a validator follows the elections.
#[derive(Clone)]
pub struct Follow {
    /// The node settings of a shard started for a seat (its shard and data directory are set
    /// per shard: `shard-N` under this directory).
    pub template: NodeConfig,
    /// Where the shards' data directories go.
    pub data_dir: PathBuf,
    /// Keep the data of a shard left (else it is deleted).
    pub keep_left: bool,
    /// The consensus shell's settings.
    pub shell: ShellConfig,
    /// The account that reports double signing, if any.
    pub reporter: Option<ed25519_dalek::SigningKey>,
}

/// A shard started for a seat.
struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), NodeError>>,
}

/// Follows the elections until `shutdown` turns true (module doc). The shards already in
/// `shards` are the fixed ones: never left.
pub async fn follow<J: Joiner>(
    shards: Arc<Shards>,
    joiner: J,
    f: Follow,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), NodeError> {
    let fixed: BTreeSet<ShardId> = shards.all().iter().map(|n| n.chain().spec().shard_id).collect();
    let beacon = shards
        .get(0)
        .ok_or_else(|| NodeError::Config("following the elections needs the beacon chain (shard 0)".into()))?;
    let keys: Vec<[u8; 48]> = f
        .template
        .validators
        .iter()
        .map(|k| k.public_key().to_bytes())
        .collect();
    let joiner = Arc::new(joiner);
    let mut running: BTreeMap<ShardId, Running> = BTreeMap::new();
    let mut starting: BTreeMap<ShardId, JoinHandle<Result<Running, NodeError>>> = BTreeMap::new();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break Ok(());
                }
            }
            _ = tick.tick() => {}
        }
        // Shards whose start finished.
        let done: Vec<ShardId> = starting
            .iter()
            .filter(|(_, t)| t.is_finished())
            .map(|(s, _)| *s)
            .collect();
        for s in done {
            let task = starting.remove(&s).expect("listed above");
            match task.await {
                Ok(Ok(r)) => {
                    running.insert(s, r);
                }
                Ok(Err(e)) => tracing::warn!(shard = s, "could not start tracking shard {s}: {e}; trying again"),
                Err(e) => tracing::warn!(shard = s, "starting shard {s} panicked: {e}"),
            }
        }
        // A shard's consensus that stopped on its own is fatal, as for the fixed shards.
        if let Some(s) = running.iter().find(|(_, r)| r.task.is_finished()).map(|(s, _)| *s) {
            let r = running.remove(&s).expect("found above");
            match r.task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => break Err(e),
                Err(e) => break Err(NodeError::Config(format!("shard {s}'s consensus panicked: {e}"))),
            }
        }
        let chain = beacon.chain();
        let head = chain.head().header.height;
        let epoch = chain.spec().epochs.epoch_of(head);
        let seated = match chain.read_beacon(head, |b: &dyn BeaconRead| {
            (epoch.saturating_sub(1)..=epoch + 2)
                .map(|e| (e, b.assignment(e)))
                .collect::<Vec<_>>()
        }) {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!("reading the committees: {e}");
                continue;
            }
        };
        // Per shard, the epochs in which a key of ours sits there.
        let mut mine: BTreeMap<ShardId, BTreeSet<u64>> = BTreeMap::new();
        for (e, a) in &seated {
            for (s, committee) in a.iter().flatten().enumerate() {
                if committee.iter().any(|m| keys.contains(&m.key)) {
                    mine.entry(s as ShardId).or_default().insert(*e);
                }
            }
        }
        let tracked: BTreeMap<ShardId, Option<u64>> = running
            .keys()
            .chain(starting.keys())
            .map(|s| {
                let own = shards
                    .get(*s)
                    .map(|n| n.chain().spec().epochs.epoch_of(n.chain().head().header.height));
                (*s, own)
            })
            .collect();
        let (join, leave) = plan(&mine, epoch, &fixed, &tracked);
        for s in join {
            tracing::info!(shard = s, epochs = ?mine.get(&s), "elected to shard {s}: starting to track it");
            starting.insert(s, tokio::spawn(start(shards.clone(), joiner.clone(), f.clone(), s)));
        }
        for s in leave {
            let Some(r) = running.remove(&s) else {
                continue;
            };
            stop(&shards, joiner.as_ref(), &f, s, r).await?;
        }
    };
    for (_, t) in starting {
        t.abort();
    }
    for (s, r) in running {
        let _ = r.stop.send(true);
        match r.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(shard = s, "shard {s} stopped: {e}"),
            Err(e) => tracing::warn!(shard = s, "shard {s} panicked: {e}"),
        }
    }
    result
}

/// What to start and stop tracking. `mine`: per shard, the epochs (from the beacon's epoch `epoch`
/// minus one to plus two) in which a key of this process sits there; `tracked`: the shards
/// started for a seat, with the epoch of their own head (`None`: still starting). Join a shard not
/// fixed nor tracked with a seat from `epoch` on; leave a tracked shard with no seat from the
/// epoch its own chain is in (or the beacon's, if earlier) on.
pub fn plan(
    mine: &BTreeMap<ShardId, BTreeSet<u64>>,
    epoch: u64,
    fixed: &BTreeSet<ShardId>,
    tracked: &BTreeMap<ShardId, Option<u64>>,
) -> (Vec<ShardId>, Vec<ShardId>) {
    let seated_from = |s: &ShardId, from: u64| mine.get(s).is_some_and(|es| es.iter().any(|e| *e >= from));
    let join = mine
        .keys()
        .filter(|s| !fixed.contains(s) && !tracked.contains_key(s) && seated_from(s, epoch))
        .copied()
        .collect();
    let leave = tracked
        .iter()
        .filter(|(s, own)| match own {
            Some(own) => !seated_from(s, (*own).min(epoch)),
            None => false,
        })
        .map(|(s, _)| *s)
        .collect();
    (join, leave)
}

/// Starts tracking shard `s`: network, snapshot if needed, chain, consensus.
async fn start<J: Joiner>(shards: Arc<Shards>, joiner: Arc<J>, f: Follow, s: ShardId) -> Result<Running, NodeError> {
    let beacon = shards
        .get(0)
        .ok_or_else(|| NodeError::Config("no beacon chain".into()))?;
    let dir = f.data_dir.join(format!("shard-{s}"));
    let (net, events) = joiner.join(s).map_err(NodeError::Config)?;
    let (stop_drain, drained) = crate::snapshot::drain(net.clone(), events);
    let restored = async {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.join("db"))?);
        let committees = BeaconCommittees::new(&f.template.genesis).map_err(|e| NodeError::Config(e.to_string()))?;
        committees.follow(beacon.chain_arc());
        let local: Arc<dyn tutti_consensus::fbft::committee::CommitteeSource> = Arc::new(committees);
        match crate::snapshot::sync(net.clone(), &f.template.genesis, s, store, Some(local)).await {
            Ok(Some(r)) => tracing::info!(
                shard = s,
                height = r.height,
                entries = r.leaves,
                peers = r.peers,
                "restored the state from a snapshot in {:.1} s",
                r.elapsed.as_secs_f64()
            ),
            Ok(None) => tracing::info!(
                shard = s,
                "the data directory holds the chain: syncing blocks from its head"
            ),
            Err(e) => return Err(NodeError::Config(format!("snapshot sync of shard {s}: {e}"))),
        }
        Ok(())
    }
    .await;
    let _ = stop_drain.send(true);
    let events = drained.await.map_err(|e| NodeError::Config(e.to_string()))?;
    if let Err(e) = restored {
        joiner.leave(s);
        return Err(e);
    }
    let config = NodeConfig {
        shard: Some(s),
        data_dir: Some(dir),
        ..f.template.clone()
    };
    let node = match tokio::task::spawn_blocking(move || Node::open(config)).await {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            joiner.leave(s);
            return Err(e);
        }
        Err(e) => {
            joiner.leave(s);
            return Err(NodeError::Config(e.to_string()));
        }
    };
    node.follow_beacon(&beacon);
    if let Some(k) = &f.reporter {
        node.set_reporter(k.clone());
    }
    shards.add(node.clone()).map_err(NodeError::Config)?;
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(consensus::run(node, net, events, f.shell.clone(), shutdown));
    Ok(Running { stop, task })
}

/// Stops tracking shard `s`.
async fn stop<J: Joiner>(shards: &Shards, joiner: &J, f: &Follow, s: ShardId, r: Running) -> Result<(), NodeError> {
    tracing::info!(shard = s, "no longer seated on shard {s}: leaving it");
    let _ = r.stop.send(true);
    let result = r
        .task
        .await
        .unwrap_or_else(|e| Err(NodeError::Config(format!("shard {s}'s consensus panicked: {e}"))));
    shards.remove(s);
    joiner.leave(s);
    if !f.keep_left {
        let dir = f.data_dir.join(format!("shard-{s}"));
        // The chain's store closes when its last user lets go; deleting under it is safe on
        // Unix (the files go when closed).
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(shard = s, "cannot delete {}: {e}", dir.display());
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seats(list: &[(ShardId, &[u64])]) -> BTreeMap<ShardId, BTreeSet<u64>> {
        list.iter().map(|(s, es)| (*s, es.iter().copied().collect())).collect()
    }

    #[test]
    fn shards_are_joined_when_elected_and_left_after_the_last_seated_epoch() {
        let fixed: BTreeSet<ShardId> = [0, 2].into();
        let none = BTreeMap::new();
        // Elected to shard 1 for epoch e + 2: join now (the whole of e + 1 to sync).
        assert_eq!(plan(&seats(&[(1, &[7])]), 5, &fixed, &none), (vec![1], vec![]));
        // Fixed shards are never joined or left; a past seat is no reason to join.
        assert_eq!(
            plan(&seats(&[(0, &[5]), (2, &[6]), (3, &[4])]), 5, &fixed, &none),
            (vec![], vec![])
        );
        // Tracked and seated in some epoch to come: stay (also across a gap of one epoch).
        let tracked: BTreeMap<ShardId, Option<u64>> = [(1, Some(5))].into();
        assert_eq!(plan(&seats(&[(1, &[5])]), 5, &fixed, &tracked), (vec![], vec![]));
        assert_eq!(plan(&seats(&[(1, &[4, 7])]), 5, &fixed, &tracked), (vec![], vec![]));
        // The last seat was epoch 4 and the shard's own chain is in epoch 5: leave.
        assert_eq!(plan(&seats(&[(1, &[4])]), 5, &fixed, &tracked), (vec![], vec![1]));
        assert_eq!(plan(&BTreeMap::new(), 5, &fixed, &tracked), (vec![], vec![1]));
        // Its own chain still finishes epoch 4 (the beacon is ahead): stay until it is past.
        let behind: BTreeMap<ShardId, Option<u64>> = [(1, Some(4))].into();
        assert_eq!(plan(&seats(&[(1, &[4])]), 5, &fixed, &behind), (vec![], vec![]));
        // A shard still starting is neither joined again nor left.
        let starting: BTreeMap<ShardId, Option<u64>> = [(1, None)].into();
        assert_eq!(plan(&seats(&[(1, &[7])]), 5, &fixed, &starting), (vec![], vec![]));
        assert_eq!(plan(&BTreeMap::new(), 5, &fixed, &starting), (vec![], vec![]));
    }
}
