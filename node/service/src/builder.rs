//! The composition root of a node: configuration in, a running node out (store and chain, pool,
//! committee source, network, the consensus shell, the RPC server). `tutti node` (and so every
//! process of `tutti testnet`) and `tutti dev` start through [`launch`]; they differ only in
//! what they pass: a libp2p network or none (a committee of one needs no peers), and, for `tutti
//! dev`, the pages and dev-only RPC methods.

use std::{net::SocketAddr, sync::Arc};

use jsonrpsee::{Methods, RpcModule, server::ServerHandle};
use tokio::{sync::watch, task::JoinHandle};
use tutti_network::{
    Network,
    memory::MemoryHub,
    p2p::{P2pConfig, P2pNetwork},
};

use crate::{
    Node, NodeConfig, RpcConfig,
    consensus::{self, ShellConfig},
    node::NodeError,
    web::Site,
};

/// How the node reaches its peers.
pub enum Transport {
    /// libp2p (listen address, bootnodes, identity).
    P2p(P2pConfig),
    /// No peers: an in-memory network holding only this node. For a committee of one.
    Alone,
}

/// Dev-only additions to the RPC port: extra methods made from the node, static pages.
pub type Extras = Box<dyn FnOnce(Arc<Node>) -> Methods + Send>;

/// What to start.
pub struct Launch {
    /// The chain, keys and pool.
    pub node: NodeConfig,
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
    /// The node.
    pub node: Arc<Node>,
    /// Where RPC is served.
    pub rpc_addr: SocketAddr,
    /// The network identity (libp2p peer id, or the in-memory one).
    pub peer_id: String,
    rpc: ServerHandle,
    consensus: JoinHandle<Result<(), NodeError>>,
    stop: watch::Sender<bool>,
}

/// Opens the chain, serves RPC, joins the network and starts consensus.
pub async fn launch(l: Launch) -> Result<Launched, LaunchError> {
    let config = l.node;
    let node = tokio::task::spawn_blocking(move || Node::open(config))
        .await
        .map_err(|e| LaunchError::Task(e.to_string()))??;
    let extras = match l.extras {
        Some(f) => f(node.clone()),
        None => RpcModule::new(()).into(),
    };
    let (rpc_addr, rpc) = crate::serve_with(node.clone(), &l.rpc, l.site, extras)
        .await
        .map_err(|source| LaunchError::Rpc {
            addr: l.rpc.addr,
            source,
        })?;
    let (stop, shutdown) = watch::channel(false);
    let (peer_id, consensus) = match l.transport {
        Transport::P2p(mut p2p) => {
            // The topics are those of the shard the node runs (a validator's from the genesis).
            p2p.shard = node.chain().spec().shard_id;
            let (net, events) = P2pNetwork::start(p2p).map_err(|e| LaunchError::Network(e.to_string()))?;
            let peer = net.local_peer().to_string();
            (
                peer,
                tokio::spawn(consensus::run(node.clone(), net, events, l.shell, shutdown)),
            )
        }
        Transport::Alone => {
            let hub = MemoryHub::new();
            let (net, events) = hub.join();
            let peer = net.local_peer().to_string();
            (
                peer,
                tokio::spawn(consensus::run(node.clone(), net, events, l.shell, shutdown)),
            )
        }
    };
    Ok(Launched {
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
    pub async fn run_until(mut self, signal: impl std::future::Future<Output = ()>) -> Result<(), String> {
        let result = tokio::select! {
            _ = signal => {
                let _ = self.stop.send(true);
                (&mut self.consensus).await
            }
            r = &mut self.consensus => r,
        };
        let _ = self.rpc.stop();
        self.rpc.stopped().await;
        let h = self.node.chain().head().header.height;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("consensus stopped at height {h}: {e}")),
            Err(e) => Err(format!("consensus panicked at height {h}: {e}")),
        }
    }
}
