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
    max_churn_percent: 25,
};

#[test]
fn seats_go_to_the_largest_stakes_with_power_clamped_around_the_median() {
    // Ten candidates for eight seats; one with no stake, one whale.
    let c = candidates(&[100, 100, 100, 100, 100, 100, 1, 0, 10_000, 50]);
    let a = elect(&c, PARAMS, None, &[1; 32], blake3_shuffle_hash).unwrap();
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
        None,
        &[1; 32],
        blake3_shuffle_hash,
    )
    .unwrap();
    let powers: Vec<u128> = a.iter().flatten().map(|e| e.power).collect();
    assert!(powers.iter().all(|p| (6..=8).contains(p)), "{powers:?}");
    let a = elect(
        &candidates(&[u128::MAX; 8]),
        PARAMS,
        None,
        &[1; 32],
        blake3_shuffle_hash,
    )
    .unwrap();
    assert!(a.iter().flatten().all(|e| e.power == u128::MAX));
}

#[test]
fn the_election_is_deterministic_whatever_the_order_of_candidates() {
    let c = candidates(&[5, 9, 7, 3, 8, 6, 4, 2, 1]);
    let a = elect(&c, PARAMS, None, &[3; 32], blake3_shuffle_hash).unwrap();
    let mut reversed = c.clone();
    reversed.reverse();
    assert_eq!(
        elect(&reversed, PARAMS, None, &[3; 32], blake3_shuffle_hash).unwrap(),
        a
    );
    // Another seed reshuffles the same seats.
    let b = elect(&c, PARAMS, None, &[4; 32], blake3_shuffle_hash).unwrap();
    let keys = |x: &Vec<Vec<tutti_chain::election::Elected>>| {
        let mut k: Vec<_> = x.iter().flatten().map(|e| e.key).collect();
        k.sort();
        k
    };
    assert_eq!(keys(&a), keys(&b));
    let reseeded = (0..10u8).any(|s| elect(&c, PARAMS, None, &[s; 32], blake3_shuffle_hash).unwrap() != a);
    assert!(reseeded, "seeds change the assignment");
    // A duplicate key gets one seat.
    let mut dup = c.clone();
    dup.push(c[1].clone());
    let d = elect(&dup, PARAMS, None, &[3; 32], blake3_shuffle_hash).unwrap();
    assert_eq!(d.iter().flatten().filter(|e| e.key == c[1].key).count(), 1);
}

#[test]
fn too_few_candidates_keep_the_old_assignment_and_uneven_counts_fill_whole_committees() {
    let e = elect(
        &candidates(&[5, 5, 5, 0, 0]),
        PARAMS,
        None,
        &[0; 32],
        blake3_shuffle_hash,
    )
    .unwrap_err();
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
        None,
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
        elect(&candidates(&[1; 10]), bad, None, &[0; 32], blake3_shuffle_hash),
        Err(ElectionError::Params(_))
    ));
}

/// Keys of each committee.
fn keys_of(a: &[Vec<tutti_chain::election::Elected>]) -> Vec<Vec<[u8; 48]>> {
    a.iter().map(|c| c.iter().map(|e| e.key).collect()).collect()
}

/// Seats of shard `s` in `now` that were not in shard `s` before.
fn arrivals(before: &[Vec<[u8; 48]>], now: &[Vec<[u8; 48]>], s: usize) -> usize {
    now[s].iter().filter(|k| !before[s].contains(k)).count()
}

#[test]
fn reshuffles_move_at_most_the_churn_bound_of_each_shard_plus_the_seats_left_empty() {
    const SHARDS: u32 = 4;
    const SEATS: u32 = 8;
    let params = ElectionParams {
        num_shards: SHARDS,
        seats_per_shard: SEATS,
        min_seats_per_shard: 4,
        max_churn_percent: 25,
    };
    let bound = (SEATS * 25 / 100) as usize;
    let mut rng_state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    // 40 candidates for 32 seats; stakes drift every epoch, so some leave and some join.
    let mut stakes: Vec<u128> = (0..40).map(|_| 1_000 + u128::from(next() % 500)).collect();
    let mut before = keys_of(&elect(&candidates(&stakes), params, None, &[0; 32], blake3_shuffle_hash).unwrap());
    let (mut moved, mut forced_total) = (0, 0);
    for epoch in 1..=60u8 {
        for s in stakes.iter_mut() {
            if next() % 5 == 0 {
                *s = 1_000 + u128::from(next() % 500);
            }
        }
        let now = keys_of(
            &elect(
                &candidates(&stakes),
                params,
                Some(&before),
                &[epoch; 32],
                blake3_shuffle_hash,
            )
            .unwrap(),
        );
        let mut all: Vec<[u8; 48]> = now.iter().flatten().copied().collect();
        assert!(now.iter().all(|c| c.len() == SEATS as usize), "every shard full");
        all.sort();
        all.dedup();
        assert_eq!(all.len(), (SHARDS * SEATS) as usize, "one seat per validator");
        for s in 0..SHARDS as usize {
            // Seats of shard s whose validator was not re-elected must be filled.
            let forced = before[s].iter().filter(|k| !all.contains(k)).count();
            let came = arrivals(&before, &now, s);
            assert!(
                came <= bound + forced,
                "epoch {epoch} shard {s}: {came} arrivals, bound {bound} + {forced} seats left empty"
            );
            moved += came;
            forced_total += forced;
        }
        before = now;
    }
    assert!(moved > forced_total, "the shuffle does move validators between shards");
    // With a bound of 100 % the result is the shuffle's target, the assignment made from nothing.
    let free = ElectionParams {
        max_churn_percent: 100,
        ..params
    };
    let c = candidates(&stakes);
    assert_eq!(
        elect(&c, free, Some(&before), &[99; 32], blake3_shuffle_hash).unwrap(),
        elect(&c, free, None, &[99; 32], blake3_shuffle_hash).unwrap()
    );
    // Unchanged stakes and a bound of 0 % still move one seat per shard at most.
    let tight = ElectionParams {
        max_churn_percent: 0,
        ..params
    };
    let now = keys_of(&elect(&c, tight, Some(&before), &[98; 32], blake3_shuffle_hash).unwrap());
    let all: Vec<[u8; 48]> = now.iter().flatten().copied().collect();
    for s in 0..SHARDS as usize {
        let forced = before[s].iter().filter(|k| !all.contains(k)).count();
        assert!(arrivals(&before, &now, s) <= 1 + forced);
    }
}

#[test]
fn voting_powers_keep_proportions_fit_u64_and_give_every_stake_a_vote() {
    use tutti_chain::election::{MAX_TOTAL_POWER, voting_powers};
    // Small stakes are their own powers.
    assert_eq!(voting_powers(&[1, 2, 1_000_000]), vec![1, 2, 1_000_000]);
    // Stakes in 10^-18 tokens, far past u64: shifted alike, total within the bound.
    let token = 10u128.pow(18);
    let stakes = [10_000 * token, 20_000 * token, 1, u128::MAX / 4];
    let p = voting_powers(&stakes);
    assert!(p.iter().map(|x| u128::from(*x)).sum::<u128>() <= u128::from(MAX_TOTAL_POWER) + 4);
    assert_eq!(p[2], 1, "a dust stake still votes");
    let q = voting_powers(&stakes[..2]);
    assert_eq!(q[1], 2 * q[0], "proportions hold");
    assert!(
        u128::from(q[0]) + u128::from(q[1]) > u128::from(MAX_TOTAL_POWER) / 2,
        "no precision thrown away"
    );
    assert!(voting_powers(&[]).is_empty());
}
