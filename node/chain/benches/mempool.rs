//! Admission into a full pool under the filling attack of issue 29: 390 senders x 256
//! transactions (99,840, the pool's 100,000 nearly full) whose cheap ones are not the ends of
//! their senders' runs (price 1 + nonce), so the cheapest run end is dear. A newcomer priced
//! below every run end is refused, one above the cheapest is admitted by evicting it; the pool
//! must find that run end without walking the cheap transactions in front of it.
//!
//! `cargo bench -p tutti-chain --bench mempool`
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use tutti_chain::{Mempool, MempoolConfig, TxRules, account::Account};
use tutti_primitives::{Action, Address, Amount, Nonce, PublicKey, SignedTransaction, Transaction};

fn tx(k: &SigningKey, nonce: Nonce, price: Amount) -> SignedTransaction {
    Transaction {
        chain_id: 7,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit: 2_000_000,
        gas_price: price,
        action: Action::Transfer {
            to: Address([9; 32]),
            amount: 1,
        },
    }
    .sign(k)
}

fn key(i: u32) -> SigningKey {
    let mut seed = [7u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    SigningKey::from_bytes(&seed)
}

const RICH: Account = Account {
    balance: 1 << 100,
    nonce: 0,
    code_hash: None,
};

fn full_pool() -> Mempool {
    let mut p = Mempool::new(
        MempoolConfig {
            max_txs: 100_000,
            max_per_sender: 256,
            ..MempoolConfig::default()
        },
        TxRules::new(7),
    );
    for s in 0..390 {
        let k = key(s);
        for n in 0..256 {
            let t = tx(&k, n, 1 + u128::from(n));
            let h = t.hash();
            p.insert_checked(t, h, &RICH).unwrap();
        }
    }
    // Fill the last 160 slots with single transactions dearer than every run end.
    for s in 390..550 {
        let t = tx(&key(s), 0, 1_000);
        let h = t.hash();
        p.insert_checked(t, h, &RICH).unwrap();
    }
    assert_eq!(p.len(), 100_000);
    p
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mempool_full");
    g.sample_size(20);
    let pool = std::sync::Mutex::new(full_pool());
    let refused = tx(&key(10_000), 0, 100);
    let refused_hash = refused.hash();
    g.bench_function("newcomer_refused", |b| {
        let mut p = pool.lock().unwrap();
        b.iter(|| {
            assert!(p.insert_checked(refused.clone(), refused_hash, &RICH).is_err());
        })
    });
    // Evicts the cheapest run end (sender 389's last, the newest at price 256), then puts the
    // pool back: the newcomer leaves and the evicted transaction returns (it continues its run).
    let admitted = tx(&key(10_001), 0, 2_000);
    let admitted_hash = admitted.hash();
    let victim = tx(&key(389), 255, 256);
    let victim_hash = victim.hash();
    g.bench_function("newcomer_evicts_and_back", |b| {
        let mut p = pool.lock().unwrap();
        b.iter(|| {
            let evicted = p.insert_checked(admitted.clone(), admitted_hash, &RICH);
            assert_eq!(evicted, Ok(tutti_chain::Admitted::Evicted(victim_hash)));
            p.remove(&admitted_hash);
            p.insert_checked(victim.clone(), victim_hash, &RICH).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
