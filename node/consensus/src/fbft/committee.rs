//! A committee: its members' identities (BLS public key bytes) and voting power, the leader of
//! each (height, view), the quorum rule and signer bitmaps.
//!
//! Rules:
//! - A quorum is strictly more than 2/3 of the total voting power (`3 * power > 2 * total`).
//! - The leader of view `v` at height `h` is member `(h + v) mod n`: leadership rotates every
//!   block and moves to the next member on every view change (round robin).
//! - A bitmap has exactly `ceil(n / 8)` bytes, bit `i % 8` of byte `i / 8` for member `i`, and no
//!   bit set past member `n - 1`; any other bitmap is refused.

use tutti_crypto::bls::{PublicKey, Signature};
use tutti_primitives::{Height, ShardId};

/// Most members a committee may have (bounds bitmaps and vote tables).
pub const MAX_MEMBERS: usize = 4096;

/// One committee member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its BLS public key (compressed G1), which identifies it in block headers.
    pub id: [u8; 48],
    /// Its voting power (stake).
    pub power: u64,
}

/// Why a committee or a bitmap was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitteeError {
    /// No members, or more than [`MAX_MEMBERS`].
    #[error("a committee has 1 to {MAX_MEMBERS} members, not {0}")]
    Size(usize),
    /// A member without voting power.
    #[error("member {0} has no voting power")]
    NoPower(usize),
    /// The same key twice.
    #[error("members {0} and {1} have the same key")]
    Duplicate(usize, usize),
    /// Total voting power overflows.
    #[error("the total voting power overflows u64")]
    Overflow,
    /// A bitmap of the wrong length or naming non-members.
    #[error("signer bitmap of {got} bytes for {members} members (or with bits past the last member)")]
    Bitmap {
        /// Its length.
        got: usize,
        /// Committee size.
        members: usize,
    },
}

/// A validator's seat in a committee, as a [`CommitteeSource`] describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seat {
    /// Its BLS public key.
    pub key: PublicKey,
    /// Its proof of possession of the key, checked before the key is aggregated (a committee of
    /// one, which aggregates nothing, may go without).
    pub pop: Option<Signature>,
    /// Its voting power.
    pub power: u64,
}

/// Why a committee source has no committee to give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The shard does not exist.
    #[error("shard {shard} does not exist (the chain has {shards} shards)")]
    UnknownShard {
        /// The shard asked for.
        shard: ShardId,
        /// How many there are.
        shards: u32,
    },
    /// The source does not know that epoch's committee (yet).
    #[error("the committee of shard {shard} at epoch {epoch} is not known")]
    Unknown {
        /// The shard.
        shard: ShardId,
        /// The epoch.
        epoch: u64,
    },
    /// What the source holds does not make a committee.
    #[error("the committee of shard {shard} at epoch {epoch}: {reason}")]
    Invalid {
        /// The shard.
        shard: ShardId,
        /// The epoch.
        epoch: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Where committees come from: the seats of shard `s` at epoch `e`, in bitmap order. Read from the
/// genesis while there is no staking; from the beacon chain's state once there is. The same inputs
/// give the same committee on every node.
pub trait CommitteeSource: Send + Sync {
    /// The seats of `shard` at `epoch`.
    fn seats(&self, shard: ShardId, epoch: u64) -> Result<Vec<Seat>, SourceError>;

    /// The committee of `shard` at `epoch` ready to check certificates: its members' proofs of
    /// possession checked (one pairing each). The default builds it on every call; a source that
    /// keeps committees builds each once, so refusing a junk certificate costs one aggregate
    /// check, not a pairing per member.
    fn verifier(&self, shard: ShardId, epoch: u64) -> Result<std::sync::Arc<Verifier>, SourceError> {
        Verifier::new(&self.seats(shard, epoch)?)
            .map(std::sync::Arc::new)
            .map_err(|reason| SourceError::Invalid { shard, epoch, reason })
    }
}

/// A committee with its members' keys checked, ready to check certificates.
pub struct Verifier {
    /// The committee.
    pub committee: Committee,
    /// Its members' keys (proofs of possession checked).
    pub crypto: crate::fbft::crypto::BlsCrypto,
}

impl Verifier {
    /// Checks the seats' proofs of possession and builds the committee.
    pub fn new(seats: &[Seat]) -> Result<Verifier, String> {
        Ok(Verifier {
            committee: Committee::from_seats(seats).map_err(|e| e.to_string())?,
            crypto: crate::fbft::crypto::BlsCrypto::from_seats(seats, None).map_err(|e| e.to_string())?,
        })
    }
}

/// A committee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committee {
    members: Vec<Member>,
    total: u64,
}

impl Committee {
    /// The committee of `seats` (identities are the keys' bytes).
    pub fn from_seats(seats: &[Seat]) -> Result<Self, CommitteeError> {
        Committee::new(
            seats
                .iter()
                .map(|s| Member {
                    id: s.key.to_bytes(),
                    power: s.power,
                })
                .collect(),
        )
    }

    /// A committee of `members`, in index order.
    pub fn new(members: Vec<Member>) -> Result<Self, CommitteeError> {
        if members.is_empty() || members.len() > MAX_MEMBERS {
            return Err(CommitteeError::Size(members.len()));
        }
        let mut total = 0u64;
        let mut seen = std::collections::HashMap::new();
        for (i, m) in members.iter().enumerate() {
            if m.power == 0 {
                return Err(CommitteeError::NoPower(i));
            }
            if let Some(j) = seen.insert(m.id, i) {
                return Err(CommitteeError::Duplicate(j, i));
            }
            total = total.checked_add(m.power).ok_or(CommitteeError::Overflow)?;
        }
        Ok(Committee { members, total })
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Never true: a committee has at least one member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The members, by index.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Total voting power.
    pub fn total_power(&self) -> u64 {
        self.total
    }

    /// The index of the member with this key.
    pub fn index_of(&self, id: &[u8; 48]) -> Option<usize> {
        self.members.iter().position(|m| &m.id == id)
    }

    /// The leader of `view` at `height`.
    pub fn leader(&self, height: Height, view: u64) -> usize {
        let n = self.members.len() as u64;
        ((height % n + view % n) % n) as usize
    }

    /// Voting power of a set of distinct members (indices past the end count nothing).
    pub fn power_of(&self, members: impl IntoIterator<Item = usize>) -> u64 {
        members
            .into_iter()
            .filter_map(|i| self.members.get(i))
            .map(|m| m.power)
            .sum()
    }

    /// Strictly more than 2/3 of the total power.
    pub fn is_quorum(&self, power: u64) -> bool {
        3 * power as u128 > 2 * self.total as u128
    }

    /// Strictly more than 1/3 of the total power: at least one honest member is among them.
    pub fn is_over_third(&self, power: u64) -> bool {
        3 * power as u128 > self.total as u128
    }

    /// The bitmap naming `members` (indices must be in range).
    pub fn bitmap(&self, members: impl IntoIterator<Item = usize>) -> Vec<u8> {
        let mut map = vec![0u8; self.members.len().div_ceil(8)];
        for i in members {
            map[i / 8] |= 1 << (i % 8);
        }
        map
    }

    /// The members a bitmap names, in index order.
    pub fn signers(&self, bitmap: &[u8]) -> Result<Vec<usize>, CommitteeError> {
        let n = self.members.len();
        let bad = || CommitteeError::Bitmap {
            got: bitmap.len(),
            members: n,
        };
        if bitmap.len() != n.div_ceil(8) {
            return Err(bad());
        }
        let mut out = Vec::new();
        for (byte, b) in bitmap.iter().enumerate() {
            for bit in 0..8 {
                if b & (1 << bit) != 0 {
                    let i = byte * 8 + bit;
                    if i >= n {
                        return Err(bad());
                    }
                    out.push(i);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committee(powers: &[u64]) -> Committee {
        Committee::new(
            powers
                .iter()
                .enumerate()
                .map(|(i, &power)| Member {
                    id: [i as u8; 48],
                    power,
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn quorum_is_strictly_more_than_two_thirds_of_power() {
        let c = committee(&[1, 1, 1, 1]);
        assert!(!c.is_quorum(2));
        assert!(c.is_quorum(3));
        let c = committee(&[1, 1, 1]);
        assert!(!c.is_quorum(2), "exactly 2/3 is not enough");
        assert!(c.is_quorum(3));
        let c = committee(&[70, 10, 10, 10]);
        assert!(c.is_quorum(c.power_of([0])), "one member with 70% is a quorum alone");
        assert!(!c.is_quorum(c.power_of([1, 2, 3])));
        assert!(c.is_over_third(c.power_of([0])) && !c.is_over_third(c.power_of([1, 2, 3])));
        let c = committee(&[1, 1, 1, 1, 1, 1]);
        assert!(
            !c.is_over_third(2) && c.is_over_third(3),
            "exactly 1/3 is not more than 1/3"
        );
        let big = committee(&[u64::MAX / 2, u64::MAX / 2]);
        assert!(big.is_quorum(u64::MAX - 1), "no overflow in the rule");
    }

    #[test]
    fn leaders_rotate_by_height_and_view() {
        let c = committee(&[1, 1, 1, 1]);
        assert_eq!(c.leader(0, 0), 0);
        assert_eq!(c.leader(1, 0), 1);
        assert_eq!(c.leader(1, 1), 2);
        assert_eq!(c.leader(3, 2), 1);
        assert_eq!(c.leader(u64::MAX, u64::MAX), ((u64::MAX % 4) * 2 % 4) as usize);
    }

    #[test]
    fn bitmaps_round_trip_and_refuse_bad_shapes() {
        let c = committee(&[1; 10]);
        let map = c.bitmap([0, 3, 9]);
        assert_eq!(map, vec![0b1001, 0b10]);
        assert_eq!(c.signers(&map).unwrap(), vec![0, 3, 9]);
        assert!(c.signers(&[0xff]).is_err(), "too short");
        assert!(c.signers(&[0, 0, 0]).is_err(), "too long");
        assert!(c.signers(&[0, 0b100]).is_err(), "bit past the last member");
    }

    #[test]
    fn bad_committees_are_refused() {
        assert_eq!(Committee::new(vec![]), Err(CommitteeError::Size(0)));
        let m = |id: u8, power| Member { id: [id; 48], power };
        assert_eq!(Committee::new(vec![m(1, 1), m(2, 0)]), Err(CommitteeError::NoPower(1)));
        assert_eq!(
            Committee::new(vec![m(1, 1), m(2, 1), m(1, 1)]),
            Err(CommitteeError::Duplicate(0, 2))
        );
        assert_eq!(
            Committee::new(vec![m(1, u64::MAX), m(2, 1)]),
            Err(CommitteeError::Overflow)
        );
    }
}
