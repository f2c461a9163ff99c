//! Nodes in one process for the shell tests: each a full node (chain, pool, consensus shell) on
//! an in-memory network.
#![allow(dead_code)]

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;
use tutti_chain::{Genesis, MempoolConfig};
use tutti_consensus::{bls::SecretKey, fbft::core::Config as CoreConfig};
use tutti_network::{Network, PeerId, memory::MemoryHub};
use tutti_node::{
    Node, NodeConfig,
    consensus::{self, ShellConfig},
};

/// A running node.
pub struct Member {
    pub node: Arc<Node>,
    pub peer: PeerId,
    pub stop: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<Result<(), tutti_node::NodeError>>,
}

/// A node of `genesis` with this validator key (its seat's shard), or a full node of shard 0
/// (`None`), joined to `hub` on its shard; 100 ms blocks, 1 s base timeout.
pub fn start_member(hub: &MemoryHub, genesis: Genesis, key: Option<SecretKey>) -> Member {
    start_node(hub, genesis, key.into_iter().collect(), None, None)
}

/// A node of `shard` (`None`: its key's genesis seat) signing with `keys` wherever they are
/// elected, reading elected committees from `beacon` (this "process"'s shard 0) when given.
pub fn start_node(
    hub: &MemoryHub,
    genesis: Genesis,
    keys: Vec<SecretKey>,
    shard: Option<u32>,
    beacon: Option<&Arc<Node>>,
) -> Member {
    let node = Node::open(NodeConfig {
        shard,
        genesis,
        data_dir: None,
        validators: keys,
        block_time: Duration::from_millis(100),
        max_block_txs: 1_000,
        mempool: MempoolConfig::default(),
        state_window: None,
    })
    .unwrap();
    if let Some(b) = beacon {
        node.follow_beacon(b);
    }
    let (net, events) = hub.join_shard(node.chain().spec().shard_id);
    let peer = net.local_peer();
    let (stop, shutdown) = watch::channel(false);
    let config = ShellConfig {
        record_dir: None,
        core: CoreConfig {
            base_timeout_ms: 1_000,
            max_timeout_ms: 8_000,
            max_buffered: 1024,
            ..CoreConfig::default()
        },
        block_time: Duration::from_millis(100),
    };
    let task = tokio::spawn(consensus::run(node.clone(), net, events, config, shutdown));
    Member { node, peer, stop, task }
}

/// Stops members and checks each stopped cleanly.
pub async fn stop_all(members: impl IntoIterator<Item = Member>) {
    for m in members {
        m.stop.send(true).unwrap();
        m.task.await.unwrap().unwrap();
    }
}

/// A member's head height.
pub fn height(m: &Member) -> u64 {
    m.node.chain().head().header.height
}

/// Waits (up to a minute) until `f` holds.
pub async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// One RPC server over these nodes (one per shard), on a free loopback port: its address and
/// handle.
pub async fn serve_rpc(nodes: Vec<Arc<Node>>) -> (std::net::SocketAddr, jsonrpsee::server::ServerHandle) {
    let shards = tutti_node::Shards::new(nodes, Default::default()).unwrap();
    let config = tutti_node::RpcConfig {
        addr: ([127, 0, 0, 1], 0).into(),
        ..Default::default()
    };
    tutti_node::serve_with(shards, &config, None, jsonrpsee::RpcModule::new(()))
        .await
        .unwrap()
}
