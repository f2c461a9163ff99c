//! Block commit cost against the number of state writes: the jmt update (hashing the changed
//! paths) and the atomic sled batch + flush, on a store that already holds 100 000 keys.
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

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("sled"));
    let db = StateDb::new(store.clone());
    let mut version = 0;
    // Base state.
    for chunk in 0..10u64 {
        let mut b = WriteBatch::new();
        let changes = (chunk * 10_000..(chunk + 1) * 10_000).map(|i| (key(i), Some(vec![7u8; 48])));
        let _ = db.apply(version, changes, &mut b).expect("apply");
        store.write(b).expect("write");
        version += 1;
    }
    store.flush().expect("flush");
    println!("state writes | tree update ms | batch write + flush ms | total ms | µs per write");
    println!("---|---|---|---|---");
    for writes in [1u64, 100, 1_000, 10_000, 40_000] {
        let (mut upd, mut wr) = (Vec::new(), Vec::new());
        for rep in 0..5u64 {
            // Updates of existing keys, spread over the tree, as transfers do.
            let changes: Vec<_> = (0..writes)
                .map(|i| (key((i * 7_919 + rep * 13) % 100_000), Some(rep.to_le_bytes().repeat(6))))
                .collect();
            let t = Instant::now();
            let mut b = WriteBatch::new();
            let _ = db.apply(version, changes, &mut b).expect("apply");
            let t1 = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            store.write(b).expect("write");
            store.flush().expect("flush");
            let t2 = t.elapsed().as_secs_f64() * 1e3;
            version += 1;
            upd.push(t1);
            wr.push(t2);
        }
        let (u, w) = (median(upd), median(wr));
        println!(
            "{writes} | {u:.2} | {w:.2} | {:.2} | {:.1}",
            u + w,
            (u + w) * 1e3 / writes as f64
        );
    }
}
