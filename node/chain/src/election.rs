//! Committee election (the beacon chain's, at the end of each epoch): which validators get seats
//! and on which shard. Pure and deterministic: every node computes the same assignment from the
//! same stake snapshot and seed.
//!
//! - **Seats by stake** (after Harmony's EPoS): candidates are ranked by stake (ties by key), the
//!   top `num_shards x seats_per_shard` are elected, and each elected validator's voting power is
//!   its stake clamped to within [`CLAMP_PERCENT`] of the elected stakes' median, so no single
//!   stake dominates a committee and no tiny one is worthless. With fewer candidates than
//!   `num_shards x min_seats_per_shard` the election fails ([`ElectionError::TooFewCandidates`])
//!   and the caller keeps the previous assignment.
//! - **Shards by a swap-or-not shuffle** ([`shuffled_indices`]): Ethereum's
//!   `compute_shuffled_index` (phase 0, 90 rounds), checked against its vectors with SHA-256 and
//!   run here with blake3 behind the [`tags::SHUFFLE`] domain tag, seeded by the randomness of the
//!   epoch's last beacon block. The elected validators, in key order, are permuted and the list is
//!   cut into `num_shards` contiguous committees (Ethereum's `compute_committee` slicing): each
//!   validator's *target* shard.
//! - **Bounded churn**: with a previous assignment, a re-elected validator stays on its shard unless
//!   it is among the first `max_churn_percent` of that shard's seats (at least one) that the
//!   shuffle sends elsewhere, taken in shuffle order. The freed seats, and those of validators no
//!   longer elected, go to the movers and the newcomers, each to its target shard while it has
//!   room, the rest to the shards with free seats in shard order. So a shard gains at most its
//!   bound plus the seats its departed validators left (which must be filled), every shard has
//!   exactly its seat count, and with a bound of 100 % the result is the shuffle's target.

use tutti_primitives::{Amount, ShardId, tags};

/// Rounds of the swap-or-not shuffle (Ethereum's mainnet `SHUFFLE_ROUND_COUNT`).
pub const SHUFFLE_ROUNDS: u8 = 90;

/// How far an elected validator's voting power may be from the median stake, percent (Harmony's
/// EPoS uses 15 %).
pub const CLAMP_PERCENT: u128 = 15;

/// A 32-byte hash function the shuffle draws its bits from.
pub type ShuffleHash = fn(&[u8]) -> [u8; 32];

/// The shuffle's hash on Tutti: blake3 behind the [`tags::SHUFFLE`] domain tag.
pub fn blake3_shuffle_hash(data: &[u8]) -> [u8; 32] {
    tutti_primitives::tagged_hash(tags::SHUFFLE, data).0
}

/// Ethereum's `compute_shuffled_index`: where `index` of `0..count` goes under the swap-or-not
/// permutation for `seed`, with `rounds` rounds of `hash`. `index < count` is required.
pub fn shuffled_index(mut index: u64, count: u64, seed: &[u8; 32], rounds: u8, hash: ShuffleHash) -> u64 {
    assert!(
        index < count,
        "shuffled_index: index {index} is not below count {count}"
    );
    let mut buf = [0u8; 32 + 1 + 4];
    buf[..32].copy_from_slice(seed);
    for round in 0..rounds {
        buf[32] = round;
        let pivot = u64::from_le_bytes(hash(&buf[..33])[..8].try_into().expect("8 bytes")) % count;
        let flip = (pivot + count - index) % count;
        let position = index.max(flip);
        buf[33..].copy_from_slice(&((position / 256) as u32).to_le_bytes());
        let source = hash(&buf);
        let byte = source[((position % 256) / 8) as usize];
        if (byte >> (position % 8)) & 1 == 1 {
            index = flip;
        }
    }
    index
}

/// [`shuffled_index`] for every index of `0..count` at once: the mapping, `out[i] =
/// shuffled_index(i)`. Each round's pivot and 256-position source hashes are computed once, so the
/// whole list costs `rounds x (1 + count / 256)` hashes instead of `2 x rounds x count`.
pub fn shuffled_indices(count: u64, seed: &[u8; 32], rounds: u8, hash: ShuffleHash) -> Vec<u64> {
    if count == 0 {
        return Vec::new();
    }
    let blocks = count.div_ceil(256) as usize;
    let mut buf = [0u8; 32 + 1 + 4];
    buf[..32].copy_from_slice(seed);
    let mut pivots = Vec::with_capacity(rounds as usize);
    let mut sources: Vec<[u8; 32]> = Vec::with_capacity(rounds as usize * blocks);
    for round in 0..rounds {
        buf[32] = round;
        pivots.push(u64::from_le_bytes(hash(&buf[..33])[..8].try_into().expect("8 bytes")) % count);
        for block in 0..blocks {
            buf[33..].copy_from_slice(&(block as u32).to_le_bytes());
            sources.push(hash(&buf));
        }
    }
    (0..count)
        .map(|mut index| {
            for (round, pivot) in pivots.iter().enumerate() {
                let flip = (pivot + count - index) % count;
                let position = index.max(flip);
                let source = &sources[round * blocks + (position / 256) as usize];
                if (source[((position % 256) / 8) as usize] >> (position % 8)) & 1 == 1 {
                    index = flip;
                }
            }
            index
        })
        .collect()
}

/// A validator standing for election: its BLS public key and its stake (self-stake plus
/// delegations) in the snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// BLS public key (compressed G1).
    pub key: [u8; 48],
    /// Stake.
    pub stake: Amount,
}

/// An elected validator's seat: its key and its voting power (its stake, clamped around the
/// median).
#[derive(Clone, Debug, PartialEq, Eq, parity_scale_codec::Encode, parity_scale_codec::Decode)]
pub struct Elected {
    /// BLS public key.
    pub key: [u8; 48],
    /// Voting power.
    pub power: Amount,
}

/// How many seats an election fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionParams {
    /// Shards (committees).
    pub num_shards: u32,
    /// Seats per shard when there are enough candidates.
    pub seats_per_shard: u32,
    /// Fewest seats a shard may have (below it the election fails and the old assignment stays).
    pub min_seats_per_shard: u32,
    /// Most of a shard's seats the shuffle may reassign in one election, percent (at least one
    /// seat); seats freed by validators who were not re-elected are filled whatever the bound.
    pub max_churn_percent: u32,
}

/// Why an election could not produce an assignment (the caller keeps the previous one).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElectionError {
    /// Not enough candidates with stake to give every shard its minimum committee.
    #[error(
        "{candidates} candidates with stake cannot seat {min_seats_per_shard} validators on each of {num_shards} shards"
    )]
    TooFewCandidates {
        /// Candidates with stake.
        candidates: usize,
        /// Shards.
        num_shards: u32,
        /// Fewest seats per shard.
        min_seats_per_shard: u32,
    },
    /// The parameters make no committee (no shard, or a minimum above the seat count).
    #[error("no committee can be formed: {0}")]
    Params(&'static str),
}

/// Elects the committees: `result[s]` is shard `s`'s committee (see the module doc). `previous`:
/// the keys of each shard's committee in the epoch before, for the churn bound (`None` at genesis).
pub fn elect(
    candidates: &[Candidate],
    params: ElectionParams,
    previous: Option<&[Vec<[u8; 48]>]>,
    seed: &[u8; 32],
    hash: ShuffleHash,
) -> Result<Vec<Vec<Elected>>, ElectionError> {
    let ElectionParams {
        num_shards,
        seats_per_shard,
        min_seats_per_shard,
        max_churn_percent,
    } = params;
    if num_shards == 0 || seats_per_shard == 0 {
        return Err(ElectionError::Params("zero shards or zero seats per shard"));
    }
    if min_seats_per_shard > seats_per_shard {
        return Err(ElectionError::Params(
            "the minimum committee is larger than the seats per shard",
        ));
    }
    let mut ranked: Vec<&Candidate> = candidates.iter().filter(|c| c.stake > 0).collect();
    let shards = num_shards as usize;
    if ranked.len() < shards * min_seats_per_shard.max(1) as usize {
        return Err(ElectionError::TooFewCandidates {
            candidates: ranked.len(),
            num_shards,
            min_seats_per_shard,
        });
    }
    // Highest stake first; equal stakes by key, so every node ranks alike. One seat per key.
    ranked.sort_by(|a, b| b.stake.cmp(&a.stake).then(a.key.cmp(&b.key)));
    ranked.dedup_by(|a, b| a.key == b.key);
    ranked.truncate(shards * seats_per_shard as usize);
    // Whole committees only: as many seats as divide evenly.
    let seats = ranked.len() - ranked.len() % shards;
    ranked.truncate(seats);
    let median = {
        let mut stakes: Vec<Amount> = ranked.iter().map(|c| c.stake).collect();
        stakes.sort_unstable();
        stakes[stakes.len() / 2]
    };
    // median x 15 / 100, without overflow for any stake.
    let band = median / 100 * CLAMP_PERCENT + median % 100 * CLAMP_PERCENT / 100;
    let (low, high) = (median - band, median.saturating_add(band));
    // The permutation runs over the elected in key order, so it does not depend on how the
    // candidates were listed.
    ranked.sort_by_key(|c| c.key);
    let mapping = shuffled_indices(seats as u64, seed, SHUFFLE_ROUNDS, hash);
    let per = seats / shards;
    // Shuffle order: position i holds elected validator mapping[i], whose target is i / per.
    let order: Vec<usize> = mapping.iter().map(|&i| i as usize).collect();
    let committees = match previous {
        None => (0..shards).map(|s| order[s * per..(s + 1) * per].to_vec()).collect(),
        Some(previous) => bounded(&order, per, shards, max_churn_percent, |v| {
            let key = &ranked[v].key;
            previous.iter().position(|c| c.contains(key)).filter(|s| *s < shards)
        }),
    };
    debug_assert!(committees.iter().all(|c: &Vec<usize>| c.len() == per));
    Ok(committees
        .into_iter()
        .map(|c| {
            c.into_iter()
                .map(|v| Elected {
                    key: ranked[v].key,
                    power: ranked[v].stake.clamp(low, high),
                })
                .collect()
        })
        .collect())
}

/// The churn-bounded placement (module doc): `order` lists the elected (indexes) in shuffle order,
/// so position `i` targets shard `i / per`; `old(v)` is a re-elected validator's previous shard.
fn bounded(
    order: &[usize],
    per: usize,
    shards: usize,
    max_churn_percent: u32,
    old: impl Fn(usize) -> Option<usize>,
) -> Vec<Vec<usize>> {
    let bound = (per * max_churn_percent as usize / 100).max(1);
    let mut committees: Vec<Vec<usize>> = vec![Vec::new(); shards];
    let mut moving: Vec<usize> = Vec::new(); // shuffle positions still to place
    let mut left = vec![0usize; shards];
    for (pos, &v) in order.iter().enumerate() {
        let t = pos / per;
        match old(v) {
            Some(o) if o == t => committees[o].push(pos),
            Some(o) if left[o] < bound => {
                left[o] += 1;
                moving.push(pos);
            }
            Some(o) => committees[o].push(pos),
            None => moving.push(pos),
        }
    }
    // A shard that kept more than its seats (the seat count shrank) releases the last of them.
    for c in committees.iter_mut() {
        while c.len() > per {
            moving.push(c.pop().expect("longer than per"));
        }
    }
    moving.sort_unstable();
    let mut deferred = Vec::new();
    for pos in moving {
        let t = pos / per;
        if committees[t].len() < per {
            committees[t].push(pos);
        } else {
            deferred.push(pos);
        }
    }
    let mut free = (0..shards)
        .filter(|s| committees[*s].len() < per)
        .collect::<Vec<_>>()
        .into_iter();
    let mut shard = free.next();
    for pos in deferred {
        let s = shard.expect("as many seats as elected validators");
        committees[s].push(pos);
        if committees[s].len() == per {
            shard = free.next();
        }
    }
    committees
        .into_iter()
        .map(|mut c| {
            c.sort_unstable();
            c.into_iter().map(|pos| order[pos]).collect()
        })
        .collect()
}

/// The largest total voting power of one committee: powers are `u64` in consensus, and sums of
/// them stay exact in any integer type it uses.
pub const MAX_TOTAL_POWER: u64 = 1 << 48;

/// Voting powers for stakes (in the smallest unit, possibly far above `u64`): every stake shifted
/// right by the fewest bits that bring their total to at most [`MAX_TOTAL_POWER`], at least 1
/// each. Proportional up to that rounding, and the same on every node.
pub fn voting_powers(stakes: &[Amount]) -> Vec<u64> {
    let total = stakes.iter().fold(0u128, |t, s| t.saturating_add(*s));
    let mut shift = 0;
    while (total >> shift) > u128::from(MAX_TOTAL_POWER) {
        shift += 1;
    }
    stakes
        .iter()
        .map(|s| u64::try_from(s >> shift).unwrap_or(MAX_TOTAL_POWER).max(1))
        .collect()
}

/// The shard a key sits on in an assignment, if elected.
pub fn shard_of(assignment: &[Vec<Elected>], key: &[u8; 48]) -> Option<ShardId> {
    assignment
        .iter()
        .position(|c| c.iter().any(|e| &e.key == key))
        .map(|s| s as ShardId)
}
