//! Transaction signature checks: one at a time against batches of 64 and 256, and the strict
//! cofactorless check the chain used before (`ed25519-dalek`'s `verify_strict`) as the baseline.
//!
//! `cargo bench -p tutti-chain --bench signatures -- --warm-up-time 2 --measurement-time 5`
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use tutti_chain::txcheck::verify_signatures;
use tutti_primitives::{Action, Address, PublicKey, SignedTransaction, Transaction};

fn txs(n: usize) -> Vec<SignedTransaction> {
    (0..n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let k = SigningKey::from_bytes(&seed);
            Transaction {
                chain_id: 7,
                signer: PublicKey(k.verifying_key().to_bytes()),
                nonce: i as u64,
                gas_limit: 2_000_000,
                gas_price: 1,
                action: Action::Transfer {
                    to: Address([9; 32]),
                    amount: 1,
                },
            }
            .sign(&k)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let all = txs(256);
    let mut g = c.benchmark_group("signatures");
    g.throughput(Throughput::Elements(256));
    g.bench_function("strict_one_at_a_time_baseline", |b| {
        b.iter(|| {
            for t in &all {
                let vk = ed25519_dalek::VerifyingKey::from_bytes(&t.tx.signer.0).unwrap();
                let sig = ed25519_dalek::Signature::from_bytes(&t.signature.0);
                vk.verify_strict(t.hash().as_bytes(), &sig).unwrap();
            }
        })
    });
    g.bench_function("one_at_a_time", |b| {
        b.iter(|| {
            for t in &all {
                t.verify().unwrap();
            }
        })
    });
    for size in [16usize, 64, 256] {
        g.bench_with_input(BenchmarkId::new("batches_of", size), &size, |b, &size| {
            b.iter(|| {
                for chunk in all.chunks(size) {
                    let refs: Vec<&SignedTransaction> = chunk.iter().collect();
                    assert!(verify_signatures(&refs).iter().all(|r| r.is_ok()));
                }
            })
        });
    }
    // One bad signature in a batch of 64: the batch fails and is checked one by one.
    let mut bad = all[..64].to_vec();
    bad[10].tx.nonce += 1;
    g.throughput(Throughput::Elements(64));
    g.bench_function("batch_of_64_with_one_bad", |b| {
        b.iter(|| {
            let refs: Vec<&SignedTransaction> = bad.iter().collect();
            assert_eq!(verify_signatures(&refs).iter().filter(|r| r.is_err()).count(), 1);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
