//! State snapshot cost per million keys, on sled: serving (reading the leaves of one version
//! with range proofs, in 4,096-leaf chunks), restoring (verifying every chunk against the root
//! and writing the tree), and, as the baseline, writing the same keys through the state tree in
//! blocks of 10,000 keys (what replaying blocks does to the state, before any transaction
//! executes: a lower bound on re-execution). Each measured three times, alternately, in one run.
//!
//! `cargo bench -p tutti-chain --bench snapshot` (`SNAPSHOT_KEYS` sets the size, 200 000 by default;
//! `SNAPSHOT_RUNS` the runs, 3). For instruction counts, `SNAPSHOT_PHASE=setup|write|restore` with
//! one run does only the source state and the chunks (`setup`), plus the baseline (`write`) or the
//! restore (`restore`): under `valgrind --tool=callgrind`, a phase costs its count minus `setup`'s.

use std::{sync::Arc, time::Instant};

use parity_scale_codec::Encode;
use tutti_chain::{
    SledStore, StateDb, Store, StoredBlock, WriteBatch,
    snapshot::{CHUNK_KEYS, Restore, StateChunk},
};

fn key(i: u64) -> Vec<u8> {
    let mut k = b"a/".to_vec();
    k.extend_from_slice(blake3::hash(&i.to_le_bytes()).as_bytes());
    k
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    format!(
        "min {:.2} / median {:.2} / max {:.2}",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1]
    )
}

/// Writes `n` keys in blocks of 10 000 into a fresh store; returns the store, root and version.
fn write(n: u64) -> (tempfile::TempDir, Arc<dyn Store>, tutti_primitives::Hash, u64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("sled"));
    let db = StateDb::new(store.clone());
    let t = Instant::now();
    let mut root = tutti_primitives::Hash::ZERO;
    let mut version = 0;
    for (v, start) in (0..n).step_by(10_000).enumerate() {
        let mut b = WriteBatch::new();
        let changes = (start..(start + 10_000).min(n)).map(|i| (key(i), Some(vec![7u8; 48])));
        let (r, w) = db.apply(v as u64, changes, &mut b).expect("apply");
        store.write(b).expect("write");
        store.flush().expect("flush");
        db.install(w);
        root = r;
        version = v as u64;
    }
    (dir, store, root, version, t.elapsed().as_secs_f64())
}

fn genesis() -> tutti_chain::Genesis {
    tutti_chain::Genesis {
        chain_id: 1,
        num_shards: 1,
        timestamp_ms: 0,
        accounts: vec![],
        validators: vec![],
        params: Default::default(),
    }
}

/// Restores `chunks` (the state of `version`, root `root`) into an empty sled store and checks the
/// root it wrote; returns the seconds from the restore's start to its data being flushed.
fn restore_chunks(chunks: Vec<StateChunk>, root: tutti_primitives::Hash, version: u64) -> f64 {
    let target_dir = tempfile::tempdir().expect("temp dir");
    let target: Arc<dyn Store> = Arc::new(SledStore::open(target_dir.path()).expect("sled"));
    let mut block = StoredBlock {
        header: genesis().header_of(0, root),
        txs: vec![],
        incoming: vec![],
        crosslinks: vec![],
        commit: None,
    };
    block.header.height = version;
    let t = Instant::now();
    let mut r = Restore::begin(target.clone(), block).expect("begin");
    for c in chunks {
        r.add(c).expect("a valid chunk");
    }
    // The chain metadata is not needed here: check the root the restore wrote.
    let _ = r.finish(&genesis(), 0);
    target.flush().expect("flush");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(
        StateDb::new(target).root(version).expect("root"),
        Some(root),
        "restored root"
    );
    secs
}

fn main() {
    let n: u64 = std::env::var("SNAPSHOT_KEYS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let per_m = 1_000_000.0 / n as f64;
    let runs: usize = std::env::var("SNAPSHOT_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let phase = std::env::var("SNAPSHOT_PHASE").unwrap_or_else(|_| "all".into());
    if phase != "all" {
        let (_dir, store, root, version, _) = write(n);
        let db = StateDb::new(store);
        let chunks: Vec<StateChunk> = (0..n.div_ceil(CHUNK_KEYS))
            .map(|i| db.chunk(version, i * CHUNK_KEYS, CHUNK_KEYS).expect("chunk"))
            .collect();
        match phase.as_str() {
            "write" => {
                write(n);
            }
            "restore" => {
                restore_chunks(chunks, root, version);
            }
            _ => {}
        }
        println!("phase {phase} done");
        return;
    }
    let (mut replay, mut serve, mut restore) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    for _ in 0..runs {
        let (_dir, store, root, version, secs) = write(n);
        replay.push(secs * per_m);
        let db = StateDb::new(store);
        let t = Instant::now();
        let mut chunks: Vec<StateChunk> = Vec::new();
        let mut start = 0;
        loop {
            let c = db.chunk(version, start, CHUNK_KEYS).expect("chunk");
            if c.entries.is_empty() {
                break;
            }
            start += c.entries.len() as u64;
            chunks.push(c);
        }
        serve.push(t.elapsed().as_secs_f64() * per_m);
        bytes = chunks.iter().map(|c| c.encoded_size()).sum::<usize>();
        assert_eq!(start, n, "every leaf served");

        restore.push(restore_chunks(chunks, root, version) * per_m);
    }
    println!("snapshot of {n} keys (48-byte values), seconds per million keys, {runs} runs:");
    println!(
        "  write through the tree in blocks (replay baseline): {}",
        stats(replay.clone())
    );
    println!(
        "  serve (read leaves + range proofs):                 {}",
        stats(serve.clone())
    );
    println!(
        "  restore (verify chunks + write tree):               {}",
        stats(restore.clone())
    );
    println!(
        "  chunks on the wire: {:.1} MiB per million keys",
        bytes as f64 * per_m / (1 << 20) as f64
    );
    let ratios: Vec<f64> = replay.iter().zip(&restore).map(|(a, b)| a / b).collect();
    println!("  replay / restore, per run: {}", stats(ratios));
}
