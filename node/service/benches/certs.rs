//! The cost of refusing a junk commit certificate (right signers, wrong signature) against a
//! committee of `CERTS_MEMBERS` validators (100 by default), as a node checks one from a receipt
//! batch, a crosslink or a followed header (`committees::check_commit`):
//! - **cold**: the committee built for the check (every member's proof of possession verified:
//!   one pairing each), as every check did before committees were kept;
//! - **warm**: the committee kept by its source (`CommitteeSource::verifier`): one aggregate of
//!   the signers' keys and one pairing check.
//!
//! Then a flood of 1,000 junk certificates at the warm cost, next to a 1 s block interval.
//!
//! `cargo bench -p tutti-node --bench certs` (`CERTS_MEMBERS`, `CERTS_ROUNDS`)

use std::time::Instant;

use tutti_consensus::{
    bls::{SecretKey, Signature},
    fbft::message::{commit_message, tags},
};
use tutti_node::{committees::GenesisCommittees, committees::check_commit, dev};
use tutti_primitives::{BlockHeader, CommitCertificate, Hash};

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() {
    let members: usize = std::env::var("CERTS_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rounds: usize = std::env::var("CERTS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let keys: Vec<SecretKey> = (0..members)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            SecretKey::from_seed(&seed)
        })
        .collect();
    let genesis = dev::testnet_genesis(&keys);
    let header = BlockHeader {
        height: 5,
        ..genesis.header(Hash::ZERO)
    };
    // Every member "signs" (a full bitmap), but the signature is one member's over another block.
    let wrong = commit_message(header.height + 1, &header.hash(), 0);
    let signature: Signature = keys[0].sign(tags::COMMIT, &wrong);
    let mut signers = vec![0u8; members.div_ceil(8)];
    for i in 0..members {
        signers[i / 8] |= 1 << (i % 8);
    }
    let junk = CommitCertificate {
        view: 0,
        signature: signature.to_bytes(),
        signers,
    };
    let warm_source = GenesisCommittees::new(&genesis).expect("a valid genesis");
    assert!(check_commit(&warm_source, &header, &junk).is_err(), "junk is refused");
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let source = GenesisCommittees::new(&genesis).expect("a valid genesis");
        // The first check builds the committee (what every check cost before).
        assert!(check_commit(&source, &header, &junk).is_err());
        cold.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        assert!(check_commit(&warm_source, &header, &junk).is_err());
        warm.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (c0, c1, c2) = stats(cold);
    let (w0, w1, w2) = stats(warm);
    println!("committee of {members}, {rounds} rounds, ms per refused junk certificate (min / median / max):");
    println!("  cold (committee built per check): {c0:.2} / {c1:.2} / {c2:.2}");
    println!("  warm (committee kept):            {w0:.2} / {w1:.2} / {w2:.2}");
    println!(
        "  ratio cold / warm (medians): {:.1}x; a flood of 1,000 junk certificates: {:.2} s of one core warm, {:.1} s cold, against a 1 s block interval",
        c1 / w1,
        w1,
        c1
    );
}
