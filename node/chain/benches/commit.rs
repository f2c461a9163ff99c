//! Block commit cost against the number of state writes: the jmt update (hashing the changed
//! paths) and the atomic sled batch + flush, on a store that already holds 100 000 keys; for an
//! archive node and for a pruning node (which also indexes the value entries each update
//! supersedes), measured alternately in one run.
//!
//! `cargo bench -p tutti-chain --bench commit`

use std::{sync::Arc, time::Instant};

use tutti_chain::{SledStore, StateDb, Store, WriteBatch};

fn key(i: u64) -> Vec<u8> {
    let mut k = b"a/".to_vec();
    k.extend_from_slice(blake3::hash(&i.to_le_bytes()).as_bytes());
    k
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Node {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    db: StateDb<dyn Store>,
    version: u64,
}

fn node(pruning: bool) -> Node {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("sled"));
    let db = StateDb::new(store.clone());
    if pruning {
        db.track_superseded();
    }
    let mut n = Node {
        _dir: dir,
        store,
        db,
        version: 0,
    };
    for chunk in 0..10u64 {
        let changes = (chunk * 10_000..(chunk + 1) * 10_000).map(|i| (key(i), Some(vec![7u8; 48])));
        commit(&mut n, changes.collect());
    }
    n.store.flush().expect("flush");
    n
}

/// Applies, writes, flushes and installs one version; returns (tree update ms, write ms).
fn commit(n: &mut Node, changes: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> (f64, f64) {
    let t = Instant::now();
    let mut b = WriteBatch::new();
    let (_, writes) = n.db.apply(n.version, changes, &mut b).expect("apply");
    let t1 = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    n.store.write(b).expect("write");
    n.store.flush().expect("flush");
    n.db.install(writes);
    let t2 = t.elapsed().as_secs_f64() * 1e3;
    n.version += 1;
    (t1, t2)
}

fn main() {
    let mut archive = node(false);
    let mut pruning = node(true);
    println!("state writes | archive: tree update ms | write + flush ms | total ms | pruning: total ms | ratio");
    println!("---|---|---|---|---|---");
    for writes in [1u64, 100, 1_000, 10_000, 40_000] {
        let (mut upd, mut wr, mut pr) = (Vec::new(), Vec::new(), Vec::new());
        for rep in 0..5u64 {
            // Updates of existing keys, spread over the tree, as transfers do; half of them read
            // before (in the newest-value cache, as a block's execution leaves them).
            let changes: Vec<_> = (0..writes)
                .map(|i| (key((i * 7_919 + rep * 13) % 100_000), Some(rep.to_le_bytes().repeat(6))))
                .collect();
            for n in [&archive, &pruning] {
                for (k, _) in changes.iter().step_by(2) {
                    let _ = n.db.get(k, n.version.saturating_sub(1));
                }
            }
            let (u, w) = commit(&mut archive, changes.clone());
            upd.push(u);
            wr.push(w);
            let (u, w) = commit(&mut pruning, changes);
            pr.push(u + w);
        }
        let (u, w, p) = (median(upd), median(wr), median(pr));
        println!(
            "{writes} | {u:.2} | {w:.2} | {:.2} | {p:.2} | {:.2}x",
            u + w,
            p / (u + w)
        );
    }
}
