//! The committee election: the swap-or-not shuffle against Ethereum's vectors (SHA-256), then the
//! election's rules with Tutti's blake3 shuffle.

use sha2::{Digest, Sha256};
use tutti_chain::election::{
    CLAMP_PERCENT, Candidate, ElectionError, ElectionParams, SHUFFLE_ROUNDS, blake3_shuffle_hash, elect, shard_of,
    shuffled_index, shuffled_indices,
};

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn seed_of(hex32: &str) -> [u8; 32] {
    hex::decode(hex32).unwrap().try_into().unwrap()
}

#[test]
fn the_shuffle_matches_ethereums_vectors() {
    let text = include_str!("data/shuffle_vectors.txt");
    let mut cases = 0;
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let mut parts = line.split(' ');
        let (seed, count, want) = (
            seed_of(parts.next().unwrap()),
            parts.next().unwrap().parse::<u64>().unwrap(),
            parts.next().unwrap(),
        );
        let all = shuffled_indices(count, &seed, SHUFFLE_ROUNDS, sha256);
        if let Some(digest) = want.strip_prefix("sha256:") {
            let bytes: Vec<u8> = all.iter().flat_map(|i| i.to_le_bytes()).collect();
            assert_eq!(hex::encode(sha256(&bytes)), digest, "count {count}");
        } else {
            let want: Vec<u64> = if want == "-" {
                Vec::new()
            } else {
                want.split(',').map(|x| x.parse().unwrap()).collect()
            };
            assert_eq!(all, want, "seed {} count {count}", hex::encode(seed));
            // The one-index form gives the same.
            for (i, w) in want.iter().enumerate() {
                assert_eq!(shuffled_index(i as u64, count, &seed, SHUFFLE_ROUNDS, sha256), *w);
            }
        }
        cases += 1;
    }
    assert_eq!(cases, 92, "every case of the file ran");
}

#[test]
fn the_blake3_shuffle_is_a_permutation_that_the_seed_changes() {
    let seed = [7u8; 32];
    for count in [1u64, 2, 17, 256, 257, 1000] {
        let mut m = shuffled_indices(count, &seed, SHUFFLE_ROUNDS, blake3_shuffle_hash);
        let first = m.clone();
        m.sort_unstable();
        assert_eq!(m, (0..count).collect::<Vec<_>>(), "a permutation of {count}");
        if count >= 17 {
            assert_ne!(first, (0..count).collect::<Vec<_>>(), "it moves something");
            let other = shuffled_indices(count, &[8u8; 32], SHUFFLE_ROUNDS, blake3_shuffle_hash);
            assert_ne!(first, other, "another seed, another order");
        }
        assert_eq!(
            first,
            shuffled_indices(count, &seed, SHUFFLE_ROUNDS, blake3_shuffle_hash)
        );
    }
    // Not Ethereum's (another hash), so no vector from there can be replayed against Tutti's.
    assert_ne!(
        shuffled_indices(100, &seed, SHUFFLE_ROUNDS, blake3_shuffle_hash),
        shuffled_indices(100, &seed, SHUFFLE_ROUNDS, sha256)
    );
}

fn key(i: u32) -> [u8; 48] {
    let mut k = [0u8; 48];
    k[..4].copy_from_slice(&i.to_be_bytes());
    k
}

fn candidates(stakes: &[u128]) -> Vec<Candidate> {
    stakes
        .iter()
        .enumerate()
        .map(|(i, s)| Candidate {
            key: key(i as u32),
            stake: *s,
        })
        .collect()
}

const PARAMS: ElectionParams = ElectionParams {
    num_shards: 2,
    seats_per_shard: 4,
    min_seats_per_shard: 2,
};

#[test]
fn seats_go_to_the_largest_stakes_with_power_clamped_around_the_median() {
    // Ten candidates for eight seats; one with no stake, one whale.
    let c = candidates(&[100, 100, 100, 100, 100, 100, 1, 0, 10_000, 50]);
    let a = elect(&c, PARAMS, &[1; 32], blake3_shuffle_hash).unwrap();
    assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4]);
    let elected: Vec<[u8; 48]> = a.iter().flatten().map(|e| e.key).collect();
    for out in [6, 7] {
        assert!(!elected.contains(&key(out)), "the two smallest stakes are left out");
    }
    // Median of the elected stakes is 100: power within 85..=115.
    let whale = a.iter().flatten().find(|e| e.key == key(8)).unwrap();
    let band = 100 * CLAMP_PERCENT / 100;
    assert_eq!(whale.power, 100 + band, "the whale is capped");
    let small = a.iter().flatten().find(|e| e.key == key(9)).unwrap();
    assert_eq!(small.power, 100 - band, "the small one is raised");
    assert!(shard_of(&a, &key(8)).is_some() && shard_of(&a, &key(7)).is_none());
    // Small stakes keep their band (7 x 15 % rounds down to 1), huge ones do not overflow.
    let a = elect(
        &candidates(&[7, 7, 7, 7, 1, 1, 1, 9]),
        PARAMS,
        &[1; 32],
        blake3_shuffle_hash,
    )
    .unwrap();
    let powers: Vec<u128> = a.iter().flatten().map(|e| e.power).collect();
    assert!(powers.iter().all(|p| (6..=8).contains(p)), "{powers:?}");
    let a = elect(&candidates(&[u128::MAX; 8]), PARAMS, &[1; 32], blake3_shuffle_hash).unwrap();
    assert!(a.iter().flatten().all(|e| e.power == u128::MAX));
}

#[test]
fn the_election_is_deterministic_whatever_the_order_of_candidates() {
    let c = candidates(&[5, 9, 7, 3, 8, 6, 4, 2, 1]);
    let a = elect(&c, PARAMS, &[3; 32], blake3_shuffle_hash).unwrap();
    let mut reversed = c.clone();
    reversed.reverse();
    assert_eq!(elect(&reversed, PARAMS, &[3; 32], blake3_shuffle_hash).unwrap(), a);
    // Another seed reshuffles the same seats.
    let b = elect(&c, PARAMS, &[4; 32], blake3_shuffle_hash).unwrap();
    let keys = |x: &Vec<Vec<tutti_chain::election::Elected>>| {
        let mut k: Vec<_> = x.iter().flatten().map(|e| e.key).collect();
        k.sort();
        k
    };
    assert_eq!(keys(&a), keys(&b));
    let reseeded = (0..10u8).any(|s| elect(&c, PARAMS, &[s; 32], blake3_shuffle_hash).unwrap() != a);
    assert!(reseeded, "seeds change the assignment");
    // A duplicate key gets one seat.
    let mut dup = c.clone();
    dup.push(c[1].clone());
    let d = elect(&dup, PARAMS, &[3; 32], blake3_shuffle_hash).unwrap();
    assert_eq!(d.iter().flatten().filter(|e| e.key == c[1].key).count(), 1);
}

#[test]
fn too_few_candidates_keep_the_old_assignment_and_uneven_counts_fill_whole_committees() {
    let e = elect(&candidates(&[5, 5, 5, 0, 0]), PARAMS, &[0; 32], blake3_shuffle_hash).unwrap_err();
    assert_eq!(
        e,
        ElectionError::TooFewCandidates {
            candidates: 3,
            num_shards: 2,
            min_seats_per_shard: 2
        }
    );
    // Seven candidates for two shards: three seats each (whole committees), the smallest waits.
    let a = elect(
        &candidates(&[7, 6, 5, 4, 3, 2, 1]),
        PARAMS,
        &[0; 32],
        blake3_shuffle_hash,
    )
    .unwrap();
    assert_eq!(a.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3]);
    assert!(shard_of(&a, &key(6)).is_none());
    let bad = ElectionParams {
        min_seats_per_shard: 5,
        ..PARAMS
    };
    assert!(matches!(
        elect(&candidates(&[1; 10]), bad, &[0; 32], blake3_shuffle_hash),
        Err(ElectionError::Params(_))
    ));
}
