//! State sync against replay, in one run: a chain whose blocks create `STATE_SYNC_ACCOUNTS`
//! accounts (native transfers from the dev accounts to new addresses, 2,000 per block) is served
//! by three full nodes over libp2p on loopback; a fourth restores the head's state from them
//! (`snapshot::sync`: certificate check, chunks with range proofs from the three peers, the
//! chain installed at that block), and, for the baseline, a fresh chain re-executes the same
//! blocks from genesis (signatures, VRF, execution, commit). Each timed three times,
//! alternately.
//!
//! `cargo bench -p tutti-node --bench state_sync` (`STATE_SYNC_ACCOUNTS`, 200 000 by default)

use std::{path::Path, sync::Arc, time::Instant};

use tokio::sync::watch;
use tutti_chain::{Chain, MempoolConfig, SledStore, Store, StoredBlock, block};
use tutti_consensus::{bls::SecretKey, fbft::core::Config as CoreConfig};
use tutti_network::{
    Multiaddr, Network,
    p2p::{P2pConfig, P2pNetwork},
};
use tutti_node::{
    Node, NodeConfig,
    consensus::{self, ShellConfig},
    dev, snapshot, solo,
};
use tutti_primitives::{Action, Address, PublicKey, SignedTransaction, Transaction};
use tutti_runtime::{Runtime, RuntimeConfig};

const PER_BLOCK: u32 = 2_000;

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    format!(
        "min {:.2} / median {:.2} / max {:.2}",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1]
    )
}

fn transfers(block: u32, nonces: &mut [u64]) -> Vec<SignedTransaction> {
    (0..PER_BLOCK)
        .map(|i| {
            let s = (i % dev::DEV_ACCOUNTS) as usize;
            let k = dev::dev_key(s as u32);
            let mut to = [0u8; 32];
            to[..4].copy_from_slice(&block.to_le_bytes());
            to[4..8].copy_from_slice(&i.to_le_bytes());
            to[8] = 0xbe;
            nonces[s] += 1;
            Transaction {
                chain_id: dev::TESTNET_CHAIN_ID,
                signer: PublicKey(k.verifying_key().to_bytes()),
                nonce: nonces[s] - 1,
                gas_limit: 2_000_000,
                gas_price: 1,
                action: Action::Transfer {
                    to: Address(to),
                    amount: 1,
                },
            }
            .sign(&k)
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn replay(g: &tutti_chain::Genesis, key: &SecretKey, blocks: &[StoredBlock], runtime: &Runtime) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::open(Arc::new(SledStore::open(dir.path()).unwrap()), g).unwrap();
    let t = Instant::now();
    for b in blocks {
        solo::verify_block(&chain.head().header, b, &key.public_key()).unwrap();
        let mut out = block::validate(
            &chain,
            runtime,
            &b.header,
            &b.txs,
            &b.incoming,
            &b.crosslinks,
            None,
            |_| false,
            &|_, _| Ok(()),
        )
        .unwrap();
        chain.commit(b, &mut out).unwrap();
    }
    t.elapsed().as_secs_f64()
}

fn main() {
    let accounts: u32 = std::env::var("STATE_SYNC_ACCOUNTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = SecretKey::from_seed(&[5; 32]);
    let mut g = dev::testnet_genesis(std::slice::from_ref(&key));
    g.params.static_committees = true;
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    // The source chain.
    let blocks: Vec<StoredBlock> = {
        let chain = Chain::open(Arc::new(SledStore::open(source.join("db")).unwrap()), &g).unwrap();
        let mut nonces = vec![0u64; dev::DEV_ACCOUNTS as usize];
        let mut blocks = Vec::new();
        for b in 0..accounts.div_ceil(PER_BLOCK) {
            let ts = chain.head().header.timestamp_ms + 1_000;
            let p = solo::produce_and_commit(&chain, &runtime, &key, transfers(b, &mut nonces), ts, false).unwrap();
            assert_eq!(p.block.txs.len(), PER_BLOCK as usize, "every transfer included");
            blocks.push(p.block);
        }
        blocks
    };
    let height = blocks.len() as u64;
    // Three serving full nodes over libp2p on loopback.
    let (stop, shutdown) = watch::channel(false);
    let servers: Vec<Multiaddr> = rt.block_on(async {
        let mut addrs = Vec::new();
        for i in 0..3 {
            let dir = work.path().join(format!("server-{i}"));
            copy_dir(&source, &dir);
            let node = Node::open(NodeConfig {
                shard: Some(0),
                genesis: g.clone(),
                data_dir: Some(dir),
                validators: Vec::new(),
                block_time: std::time::Duration::from_millis(1_000),
                max_block_txs: 10_000,
                mempool: MempoolConfig::default(),
                state_window: None,
            })
            .unwrap();
            let mut secret = [0u8; 32];
            secret[0] = i + 1;
            let (net, events) = P2pNetwork::start(P2pConfig {
                secret,
                listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
                bootnodes: Vec::new(),
                chain_id: g.chain_id,
                shards: vec![0],
                max_peers: tutti_network::p2p::DEFAULT_MAX_PEERS,
            })
            .unwrap();
            let peer = net.local_peer();
            let addr = loop {
                if let Some(a) = net.listen_addrs().first() {
                    break a.clone();
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            };
            addrs.push(format!("{addr}/p2p/{peer}").parse().unwrap());
            let config = ShellConfig {
                record_dir: None,
                core: CoreConfig::default(),
                block_time: std::time::Duration::from_millis(1_000),
            };
            tokio::spawn(consensus::run(node, net, events, config, shutdown.clone()));
        }
        addrs
    });
    let (mut replays, mut syncs) = (Vec::new(), Vec::new());
    let mut leaves = 0;
    let mut peers = 0;
    for run in 0..3u8 {
        replays.push(replay(&g, &key, &blocks, &runtime));
        let dir = tempfile::tempdir().unwrap();
        let (secs, report) = rt.block_on(async {
            let (net, events) = P2pNetwork::start(P2pConfig {
                secret: [100 + run; 32],
                listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
                bootnodes: servers.clone(),
                chain_id: g.chain_id,
                shards: vec![0],
                max_peers: tutti_network::p2p::DEFAULT_MAX_PEERS,
            })
            .unwrap();
            let (_stop_drain, _drained) = snapshot::drain(net.clone(), events);
            while net.peers().len() < 3 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
            let t = Instant::now();
            let report = snapshot::sync(net, &g, 0, store, None).await.unwrap().unwrap();
            (t.elapsed().as_secs_f64(), report)
        });
        assert_eq!(report.height, height);
        leaves = report.leaves;
        peers = peers.max(report.peers);
        syncs.push(secs);
        let restored = Chain::open(Arc::new(SledStore::open(dir.path()).unwrap()), &g).unwrap();
        assert_eq!(
            restored.head().header.state_root,
            blocks.last().unwrap().header.state_root
        );
    }
    let _ = stop.send(true);
    let per_m = |v: &[f64]| v.iter().map(|s| s * 1_000_000.0 / leaves as f64).collect::<Vec<_>>();
    println!(
        "state sync of {leaves} state entries ({} blocks of {PER_BLOCK} transfers), 3 runs:",
        blocks.len()
    );
    println!(
        "  snapshot from 3 peers (up to {peers} served one run): {} s",
        stats(syncs.clone())
    );
    println!(
        "  replay from genesis:                          {} s",
        stats(replays.clone())
    );
    println!("  snapshot, seconds per million entries: {}", stats(per_m(&syncs)));
    println!("  replay, seconds per million entries:   {}", stats(per_m(&replays)));
    let ratios: Vec<f64> = replays.iter().zip(&syncs).map(|(r, s)| r / s).collect();
    println!("  replay / snapshot, per run: {}", stats(ratios));
}
