//! Snapshot sync over the network (`tutti_node::snapshot`): on a two-shard chain with elected
//! committees (epochs of four blocks), a new node of shard 1 learns the committees by walking the
//! beacon chain's epoch ends from genesis, checks a peer's head certificate, restores the state at
//! that block in chunks, refusing (and scoring down) a peer that serves altered chunks, then
//! catches up by executing only the blocks after it and follows the head: every block it commits
//! matches the state root the committee certified.

mod common;

use std::{sync::Arc, time::Duration};

use common::{Member, start_node, stop_all, until};
use parity_scale_codec::{Decode, Encode};
use tokio::sync::watch;
use tutti_chain::{Chain, MempoolConfig, SledStore, Store, genesis::GenesisAccount};
use tutti_consensus::{bls::SecretKey, fbft::core::Config as CoreConfig};
use tutti_network::{Event, Network, memory::MemoryHub};
use tutti_node::{
    Node, NodeConfig,
    consensus::{self, ShellConfig, SyncRequest},
    dev, snapshot,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_restores_a_certified_snapshot_refuses_a_lying_peer_and_follows_the_head() {
    let hub = MemoryHub::new();
    let keys: Vec<SecretKey> = (0..4u8).map(|i| SecretKey::from_seed(&[i + 61; 32])).collect();
    let mut g = dev::sharded_testnet_genesis(&keys, 2);
    g.params.epoch_blocks = 4;
    g.params.seats_per_shard = 2;
    g.params.min_seats_per_shard = 1;
    g.params.max_churn_percent = 50;
    // Enough state for several chunks.
    for i in 0..9_000u32 {
        let mut a = [3u8; 32];
        a[..4].copy_from_slice(&i.to_le_bytes());
        g.accounts.push(GenesisAccount {
            address: tutti_primitives::Address(a).to_string(),
            balance: "1000".into(),
        });
    }
    let mut members: Vec<Member> = Vec::new();
    for k in &keys {
        let beacon = start_node(&hub, g.clone(), vec![k.clone()], Some(0), None);
        let other = start_node(&hub, g.clone(), vec![k.clone()], Some(1), Some(&beacon.node));
        members.push(beacon);
        members.push(other);
    }
    until("both shards in epoch 5", || {
        members.iter().all(|m| m.node.chain().head().header.height >= 5 * 4)
    })
    .await;

    // The new node's network handle (its requests only; nothing to serve yet).
    let (net, mut events) = hub.join_shard(1);
    let me = net.local_peer();
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    // A liar on shard 1: honest heads, altered state chunks.
    let (liar_net, mut liar_events) = hub.join_shard(1);
    let liar = liar_net.local_peer();
    let honest = members[1].node.clone();
    let lies = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let told = lies.clone();
    tokio::spawn(async move {
        while let Some(ev) = liar_events.recv().await {
            let Event::Request { data, reply, .. } = ev else {
                continue;
            };
            let answer = match SyncRequest::decode(&mut &data[..]) {
                Ok(SyncRequest::Head) => Some((*honest.chain().head()).clone()).encode(),
                Ok(SyncRequest::State { height, start, max }) => {
                    let mut c = honest.chain().state().chunk(height, start, max).ok();
                    if let Some(c) = c.as_mut()
                        && let Some(e) = c.entries.last_mut()
                    {
                        e.1.push(1);
                        told.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    c.encode()
                }
                _ => continue,
            };
            let _ = reply.send(answer);
        }
    });
    // At first the new node reaches only the liar on shard 1 (and the beacon nodes).
    let honest_peers: Vec<_> = members.iter().skip(1).step_by(2).map(|m| m.peer).collect();
    for p in &honest_peers {
        hub.set_link(me, *p, false);
    }
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path().join("db")).unwrap());
    let genesis = g.clone();
    let sync = tokio::spawn(async move { snapshot::sync(net, &genesis, 1, store, None).await });
    until("the liar scored down", || hub.score(&me, &liar) < 0).await;
    assert!(lies.load(std::sync::atomic::Ordering::SeqCst) > 0);
    for p in &honest_peers {
        hub.set_link(me, *p, true);
    }
    let report = tokio::time::timeout(Duration::from_secs(120), sync)
        .await
        .expect("the sync finishes")
        .unwrap()
        .unwrap()
        .expect("a restore was needed");
    assert!(report.refused >= 1, "{report:?}");
    assert!(report.leaves > 9_000 / 2, "{report:?}");
    assert!(report.height >= 5 * 4, "a head of epoch 5 or later: {report:?}");
    let base = report.height;

    // The restored chain opens at that block and catches up by executing the blocks after it.
    let node = Node::open(NodeConfig {
        shard: Some(1),
        genesis: g.clone(),
        data_dir: Some(dir.path().to_path_buf()),
        validators: Vec::new(),
        block_time: Duration::from_millis(100),
        max_block_txs: 1_000,
        mempool: MempoolConfig::default(),
        state_window: None,
    })
    .unwrap();
    node.follow_beacon(&members[0].node);
    assert_eq!(node.chain().head().header.height, base);
    assert_eq!(node.chain().first_block().unwrap(), base);
    assert!(node.chain().block_by_number(1).unwrap().is_none());
    let (net, events) = hub.join_shard(1);
    hub.set_link(net.local_peer(), liar, false);
    let (stop, shutdown) = watch::channel(false);
    let config = ShellConfig {
        record_dir: None,
        core: CoreConfig {
            base_timeout_ms: 1_000,
            max_timeout_ms: 8_000,
            ..CoreConfig::default()
        },
        block_time: Duration::from_millis(100),
    };
    let task = tokio::spawn(consensus::run(node.clone(), net, events, config, shutdown));
    let goal = members[1].node.chain().head().header.height + 8;
    until("the restored node follows the head", || {
        node.chain().head().header.height >= goal
    })
    .await;
    let theirs: &Chain = members[1].node.chain();
    until("the committee reaches the goal too", || {
        theirs.head().header.height >= goal
    })
    .await;
    assert_eq!(
        node.chain().block_by_number(goal).unwrap().unwrap().header,
        theirs.block_by_number(goal).unwrap().unwrap().header,
        "the same block, executed from the restored state"
    );
    let probe = dev::dev_address(0);
    assert_eq!(
        node.chain().account(&probe, goal).unwrap(),
        theirs.account(&probe, goal).unwrap()
    );
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
    stop_all(members).await;
}
