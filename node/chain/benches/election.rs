//! The committee election for 1,000 and 100,000 candidates (all elected: 4 shards of 250 / 25,000
//! seats), shuffle included.
//!
//! `cargo bench -p tutti-chain --bench election`
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use tutti_chain::election::{Candidate, ElectionParams, blake3_shuffle_hash, elect};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("election");
    g.sample_size(10);
    for n in [1_000u32, 100_000] {
        let candidates: Vec<Candidate> = (0..n)
            .map(|i| {
                let mut key = [0u8; 48];
                key[..4].copy_from_slice(&i.to_le_bytes());
                Candidate {
                    key,
                    stake: 1_000 + u128::from(i % 97),
                }
            })
            .collect();
        let params = ElectionParams {
            num_shards: 4,
            seats_per_shard: n / 4,
            min_seats_per_shard: 4,
            max_churn_percent: 25,
        };
        g.bench_function(format!("elect_{n}"), |b| {
            b.iter(|| elect(&candidates, params, None, &[9; 32], blake3_shuffle_hash).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
