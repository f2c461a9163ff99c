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
            let nets = P2pNetwork::start_shards(p2p).map_err(|e| LaunchError::Network(e.to_string()))?;
            let peer = nets
                .first()
                .map(|(net, _)| net.local_peer().to_string())
                .unwrap_or_default();
            let tasks = nodes
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
