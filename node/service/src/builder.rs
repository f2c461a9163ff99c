//! The composition root of a node: configuration in, a running node out (store and chain, pool,
//! committee source, network, the consensus shell, the RPC server). `tutti node` (and so every
//! process of `tutti testnet`) and `tutti dev` start through [`launch`]; they differ only in
//! what they pass: one or more shards over libp2p (a validator's, plus any others it tracks, all
//! through one swarm), or every shard of the chain over the in-memory network (each with a
//! committee of one), and, for `tutti dev`, the pages and dev-only RPC methods. One RPC server
//! serves all the shards a process runs ([`Shards`]).

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc};

use jsonrpsee::{Methods, RpcModule, server::ServerHandle};
use tokio::{sync::watch, task::JoinHandle};
use tutti_network::{
    Network,
    memory::MemoryHub,
    p2p::{P2pConfig, P2pNetwork},
};

use crate::{
    Node, NodeConfig, RpcConfig, Shards,
    consensus::{self, ShellConfig},
    node::NodeError,
    web::Site,
};

/// How the node reaches its peers.
pub enum Transport {
    /// libp2p (listen address, bootnodes, identity).
    P2p(P2pConfig),
    /// No peers: an in-memory network joining only the shards of this process. For committees of
    /// one.
    Alone,
}

/// Dev-only additions to the RPC port: extra methods made from the shards, static pages.
pub type Extras = Box<dyn FnOnce(Arc<Shards>) -> Methods + Send>;

/// What to start.
pub struct Launch {
    /// The shards to run, one node each (chain, keys and pool); the first is the primary.
    pub nodes: Vec<NodeConfig>,
    /// RPC endpoints of other shards, named to clients that ask for them.
    pub endpoints: BTreeMap<u32, String>,
    /// The JSON-RPC server.
    pub rpc: RpcConfig,
    /// The consensus shell.
    pub shell: ShellConfig,
    /// The network.
    pub transport: Transport,
    /// Pages served on the RPC port.
    pub site: Option<Arc<Site>>,
    /// Extra RPC methods.
    pub extras: Option<Extras>,
    /// Follow the elections (libp2p, elected committees): also run whichever shard the beacon
    /// seats this node's keys on, while it does ([`crate::tracking`]).
    pub follow: Option<FollowOptions>,
    /// Start each shard whose data directory holds no chain from a state snapshot of a recent
    /// certified block ([`crate::snapshot`]) instead of from genesis (libp2p only; the shards
    /// must be named).
    pub snapshot: bool,
}

/// How a validator follows the elections.
#[derive(Clone, Default)]
pub struct FollowOptions {
    /// Keep a left shard's data directory (else deleted).
    pub keep_left: bool,
    /// The account that reports double signing on shards started for a seat.
    pub reporter: Option<ed25519_dalek::SigningKey>,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The chain or configuration.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The RPC address.
    #[error("cannot serve RPC on {addr}: {source}")]
    Rpc {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The network.
    #[error("cannot start the network: {0}")]
    Network(String),
    /// A blocking task failed.
    #[error("the node's start-up task failed: {0}")]
    Task(String),
}

/// A running node.
pub struct Launched {
    /// The shards it runs.
    pub shards: Arc<Shards>,
    /// The primary node (the first asked for: a validator's own shard).
    pub node: Arc<Node>,
    /// Where RPC is served.
    pub rpc_addr: SocketAddr,
    /// The network identity (libp2p peer id, or the in-memory one).
    pub peer_id: String,
    rpc: ServerHandle,
    consensus: Vec<JoinHandle<Result<(), NodeError>>>,
    stop: watch::Sender<bool>,
}

/// Opens the chains, serves RPC, joins the network and starts consensus on every shard.
pub async fn launch(l: Launch) -> Result<Launched, LaunchError> {
    let mut configs = l.nodes;
    // Committees after epoch 1 are elected on the beacon chain and read from its state: a
    // process that does not run shard 0 also follows it (a full node of it, under the data
    // directory's `shard-0`).
    let elected = configs.first().is_some_and(|c| !c.genesis.params.static_committees);
    if elected
        && let Some(first) = configs.first()
        && !configs.iter().any(|c| c.shard == Some(0))
        && first.shard.is_some()
    {
        let beacon = NodeConfig {
            shard: Some(0),
            data_dir: first.data_dir.as_ref().map(|d| d.join("shard-0")),
            ..first.clone()
        };
        configs.push(beacon);
    }
    // Snapshot sync runs before the chains open, over the network started for it.
    let mut started = None;
    if l.snapshot {
        let Transport::P2p(p2p) = &l.transport else {
            return Err(LaunchError::Network(
                "snapshot sync takes the state from peers: it needs the libp2p transport".into(),
            ));
        };
        let mut p2p = p2p.clone();
        p2p.shards = configs
            .iter()
            .map(|c| {
                c.shard.ok_or_else(|| {
                    LaunchError::Node(NodeError::Config(
                        "snapshot sync needs the shard of each node named".into(),
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let nets = P2pNetwork::start_shards(p2p).map_err(|e| LaunchError::Network(e.to_string()))?;
        started = Some(snapshot_sync(&configs, nets).await?);
    }
    let mut nodes: Vec<Arc<Node>> = Vec::new();
    for config in configs {
        nodes.push(
            tokio::task::spawn_blocking(move || Node::open(config))
                .await
                .map_err(|e| LaunchError::Task(e.to_string()))??,
        );
    }
    if let Some(beacon) = nodes.iter().find(|n| n.chain().spec().shard_id == 0).cloned() {
        for n in &nodes {
            n.follow_beacon(&beacon);
        }
    }
    let shards = Shards::new(nodes.clone(), l.endpoints).map_err(NodeError::Config)?;
    let node = shards.primary().clone();
    let extras = match l.extras {
        Some(f) => f(shards.clone()),
        None => RpcModule::new(()).into(),
    };
    let (rpc_addr, rpc) = crate::serve_with(shards.clone(), &l.rpc, l.site, extras)
        .await
        .map_err(|source| LaunchError::Rpc {
            addr: l.rpc.addr,
            source,
        })?;
    let (stop, shutdown) = watch::channel(false);
    let (peer_id, consensus) = match l.transport {
        Transport::P2p(mut p2p) => {
            // The topics are those of the shards the node runs (a validator's from the genesis).
            p2p.shards = nodes.iter().map(|n| n.chain().spec().shard_id).collect();
            let nets = match started {
                Some(nets) => nets,
                None => P2pNetwork::start_shards(p2p).map_err(|e| LaunchError::Network(e.to_string()))?,
            };
            let peer = nets
                .first()
                .map(|(net, _)| net.local_peer().to_string())
                .unwrap_or_default();
            let joiner = nets.first().map(|(net, _)| net.clone());
            let mut tasks: Vec<JoinHandle<Result<(), NodeError>>> = nodes
                .iter()
                .zip(nets)
                .map(|(n, (net, events))| {
                    tokio::spawn(consensus::run(
                        n.clone(),
                        net,
                        events,
                        l.shell.clone(),
                        shutdown.clone(),
                    ))
                })
                .collect();
            let template = nodes.first().map(|n| n.config().clone());
            if let (Some(opts), Some(joiner), Some(template)) = (l.follow, joiner, template)
                && elected
                && !template.validators.is_empty()
                && let Some(data_dir) = template.data_dir.clone()
            {
                let follow = crate::tracking::Follow {
                    template,
                    data_dir,
                    keep_left: opts.keep_left,
                    shell: l.shell.clone(),
                    reporter: opts.reporter,
                };
                tasks.push(tokio::spawn(crate::tracking::follow(
                    shards.clone(),
                    joiner,
                    follow,
                    shutdown.clone(),
                )));
            }
            (peer, tasks)
        }
        Transport::Alone => {
            let hub = MemoryHub::new();
            let mut peer = String::new();
            let mut tasks = Vec::new();
            for n in &nodes {
                let (net, events) = hub.join_shard(n.chain().spec().shard_id);
                if peer.is_empty() {
                    peer = net.local_peer().to_string();
                }
                tasks.push(tokio::spawn(consensus::run(
                    n.clone(),
                    net,
                    events,
                    l.shell.clone(),
                    shutdown.clone(),
                )));
            }
            (peer, tasks)
        }
    };
    Ok(Launched {
        shards,
        node,
        rpc_addr,
        peer_id,
        rpc,
        consensus,
        stop,
    })
}

type Nets = Vec<(P2pNetwork, tokio::sync::mpsc::Receiver<tutti_network::Event>)>;

/// Restores the state of every shard of `configs` whose data directory holds no chain (or an
/// unfinished restore), over `nets` (one per config, in order), and gives the networks back.
/// Meanwhile the networks' events are drained: peers' requests go unanswered and gossip is
/// ignored (this node has nothing to serve yet).
async fn snapshot_sync(configs: &[NodeConfig], nets: Nets) -> Result<Nets, LaunchError> {
    let mut drains = Vec::new();
    let mut handles = Vec::new();
    for (net, events) in nets {
        handles.push(net.clone());
        drains.push(crate::snapshot::drain(net, events));
    }
    let mut result = Ok(());
    for (config, net) in configs.iter().zip(&handles) {
        let (Some(dir), Some(shard)) = (&config.data_dir, config.shard) else {
            continue;
        };
        let store: Arc<dyn tutti_chain::Store> = match tutti_chain::SledStore::open(dir.join("db")) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                result = Err(LaunchError::Node(e.into()));
                break;
            }
        };
        match crate::snapshot::sync(net.clone(), &config.genesis, shard, store, None).await {
            Ok(Some(r)) => tracing::info!(
                shard,
                height = r.height,
                entries = r.leaves,
                peers = r.peers,
                refused = r.refused,
                "restored the state from a snapshot in {:.1} s",
                r.elapsed.as_secs_f64()
            ),
            Ok(None) => tracing::info!(shard, "the data directory holds the chain: no snapshot needed"),
            Err(e) => {
                result = Err(LaunchError::Node(NodeError::Config(format!(
                    "snapshot sync of shard {shard}: {e}"
                ))));
                break;
            }
        }
    }
    let mut nets = Vec::new();
    for (net, (stop, drain)) in handles.into_iter().zip(drains) {
        let _ = stop.send(true);
        let events = drain.await.map_err(|e| LaunchError::Task(e.to_string()))?;
        nets.push((net, events));
    }
    result.map(|()| nets)
}

impl Launched {
    /// Runs until `signal` resolves (then stops consensus, finishing the block in progress) or
    /// consensus stops on its own (a fatal error). Stops the RPC server either way.
    /// With several shards, the first to stop on its own stops the others.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) -> Result<(), String> {
        let Launched {
            shards,
            rpc,
            consensus,
            stop,
            ..
        } = self;
        // Each shard's task says when it ends, so the first to stop on its own stops the rest.
        let (ended, mut any_ended) = tokio::sync::mpsc::channel::<()>(consensus.len().max(1));
        let watched: Vec<_> = consensus
            .into_iter()
            .map(|task| {
                let ended = ended.clone();
                tokio::spawn(async move {
                    let r = task.await;
                    let _ = ended.send(()).await;
                    r
                })
            })
            .collect();
        tokio::select! {
            _ = signal => {}
            _ = any_ended.recv() => {}
        }
        let _ = stop.send(true);
        let mut results = Vec::new();
        for w in watched {
            results.push(w.await.unwrap_or_else(Err));
        }
        let _ = rpc.stop();
        rpc.stopped().await;
        let heights: Vec<String> = shards
            .all()
            .iter()
            .map(|n| {
                format!(
                    "shard {} at height {}",
                    n.chain().spec().shard_id,
                    n.chain().head().header.height
                )
            })
            .collect();
        let heights = heights.join(", ");
        for r in results {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("consensus stopped ({heights}): {e}")),
                Err(e) => return Err(format!("consensus panicked ({heights}): {e}")),
            }
        }
        Ok(())
    }
}
