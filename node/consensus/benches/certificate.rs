//! Verifying a commit certificate with real BLS, for committees of 64, 256 and 1000 signers (the
//! whole committee signed). The baseline in the same run is one plain signature check, so the
//! ratio shows what the aggregate check adds (summing the signers' keys).
//!
//! `cargo bench -p tutti-consensus --bench certificate`

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tutti_consensus::{
    bls::{PublicKey, SecretKey, Signature},
    fbft::{
        BlsCrypto, CertKind, Committee, Crypto, Member, QuorumCert, Sig,
        message::{commit_message, tags},
        verify_certificate,
    },
    sim::validator_secret,
};
use tutti_primitives::{CommitCertificate, Hash};

fn setup(n: usize) -> (Committee, BlsCrypto, QuorumCert) {
    let sks: Vec<SecretKey> = (0..n).map(validator_secret).collect();
    let keys: Vec<(PublicKey, Signature)> = sks.iter().map(|k| (k.public_key(), k.prove_possession())).collect();
    let committee = Committee::new(
        keys.iter()
            .map(|(pk, _)| Member {
                id: pk.to_bytes(),
                power: 1,
            })
            .collect(),
    )
    .expect("valid committee");
    let crypto = BlsCrypto::new(&keys, None).expect("valid keys");
    let hash = Hash([7; 32]);
    let msg = commit_message(10, &hash, 0);
    let sigs: Vec<Sig> = sks.iter().map(|k| k.sign(tags::COMMIT, &msg).to_bytes()).collect();
    let qc = QuorumCert {
        height: 10,
        hash,
        cert: CommitCertificate {
            view: 0,
            signature: crypto.aggregate(&sigs).expect("aggregates"),
            signers: committee.bitmap(0..n),
        },
    };
    (committee, crypto, qc)
}

fn certificate(c: &mut Criterion) {
    let mut g = c.benchmark_group("certificate_verify");
    g.sample_size(20);
    let one = SecretKey::from_seed(&[1; 32]);
    let sig = one.sign(tags::COMMIT, b"m");
    g.bench_function("baseline_one_signature", |b| {
        b.iter(|| assert!(one.public_key().verify(tags::COMMIT, b"m", &sig)))
    });
    for n in [64usize, 256, 1000] {
        let (committee, crypto, qc) = setup(n);
        g.bench_with_input(BenchmarkId::new("signers", n), &n, |b, _| {
            b.iter(|| verify_certificate(&committee, &crypto, CertKind::Commit, &qc).expect("valid"))
        });
    }
    g.finish();
}

criterion_group!(benches, certificate);
criterion_main!(benches);
