//! The signature scheme FBFT runs on, behind a small trait so the simulation can swap it.
//!
//! [`BlsCrypto`] is the production scheme (BLS12-381, see [`crate::bls`]): one node's secret key
//! plus the committee's public keys, each admitted only with a valid proof of possession.
//! [`InsecureCrypto`] (feature `test-utils`) models the same algebra with keyed hashes (a
//! signature is a keyed hash, an aggregate is the sum of the signatures mod 2^256) so that long
//! simulation campaigns are not dominated by pairings. It is not a signature scheme: anyone can
//! compute any member's key. The simulation suite runs a share of its seeds on [`BlsCrypto`] so
//! the real path is exercised too.

use super::committee::Seat;
use crate::bls::{self, PublicKey, SecretKey, Signature};

/// A signature or aggregate signature as carried on the wire (compressed G2 for BLS).
pub type Sig = [u8; 96];

/// What the FBFT core needs from a signature scheme. Members are named by committee index.
pub trait Crypto {
    /// Signs `tag || msg` with this node's key; `None` for a node without a key (a full node).
    fn sign(&self, tag: &[u8], msg: &[u8]) -> Option<Sig>;
    /// Checks member `member`'s signature over `tag || msg`.
    fn verify(&self, member: usize, tag: &[u8], msg: &[u8], sig: &Sig) -> bool;
    /// Combines signatures over one message; `None` if any is malformed or there are none.
    fn aggregate(&self, sigs: &[Sig]) -> Option<Sig>;
    /// Checks an aggregate of `members`' signatures over `tag || msg` with one check.
    fn verify_aggregate(&self, members: &[usize], tag: &[u8], msg: &[u8], sig: &Sig) -> bool;
}

/// Why a committee's keys were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A proof of possession did not verify (a possible rogue key).
    #[error("member {0}: the proof of possession does not verify")]
    BadPossession(usize),
    /// A member of a committee of more than one has no proof of possession.
    #[error("member {0} has no proof of possession; a committee's keys are aggregated only with one")]
    MissingPossession(usize),
    /// The secret key is not the committee member's.
    #[error("the secret key does not belong to committee member {0}")]
    NotMember(usize),
}

/// BLS12-381 with proof of possession: the production [`Crypto`].
#[derive(Clone)]
pub struct BlsCrypto {
    keys: Vec<PublicKey>,
    secret: Option<SecretKey>,
}

impl BlsCrypto {
    /// The committee's keys, each with its proof of possession, and this node's secret key with
    /// its committee index (`None` for a full node). Every proof is checked.
    pub fn new(members: &[(PublicKey, Signature)], me: Option<(usize, SecretKey)>) -> Result<Self, KeyError> {
        for (i, (pk, pop)) in members.iter().enumerate() {
            if !pk.verify_possession(pop) {
                return Err(KeyError::BadPossession(i));
            }
        }
        let secret = match me {
            Some((i, sk)) => {
                if members.get(i).map(|m| m.0) != Some(sk.public_key()) {
                    return Err(KeyError::NotMember(i));
                }
                Some(sk)
            }
            None => None,
        };
        Ok(BlsCrypto {
            keys: members.iter().map(|m| m.0).collect(),
            secret,
        })
    }

    /// The crypto of a committee described by its seats. Every key must come with a proof of
    /// possession, except the one key of a committee of one (aggregating a single key admits no
    /// rogue-key attack).
    pub fn from_seats(seats: &[Seat], me: Option<(usize, SecretKey)>) -> Result<Self, KeyError> {
        if let [only] = seats
            && only.pop.is_none()
        {
            let secret = match me {
                Some((0, sk)) if sk.public_key() == only.key => Some(sk),
                Some((i, _)) => return Err(KeyError::NotMember(i)),
                None => None,
            };
            return Ok(BlsCrypto {
                keys: vec![only.key],
                secret,
            });
        }
        let members = seats
            .iter()
            .enumerate()
            .map(|(i, s)| s.pop.map(|pop| (s.key, pop)).ok_or(KeyError::MissingPossession(i)))
            .collect::<Result<Vec<_>, _>>()?;
        BlsCrypto::new(&members, me)
    }

    /// The committee's public keys, by index.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }
}

impl Crypto for BlsCrypto {
    fn sign(&self, tag: &[u8], msg: &[u8]) -> Option<Sig> {
        self.secret.as_ref().map(|sk| sk.sign(tag, msg).to_bytes())
    }

    fn verify(&self, member: usize, tag: &[u8], msg: &[u8], sig: &Sig) -> bool {
        let (Some(pk), Ok(sig)) = (self.keys.get(member), Signature::from_bytes(sig)) else {
            return false;
        };
        pk.verify(tag, msg, &sig)
    }

    fn aggregate(&self, sigs: &[Sig]) -> Option<Sig> {
        let sigs: Option<Vec<Signature>> = sigs.iter().map(|s| Signature::from_bytes(s).ok()).collect();
        Signature::aggregate(&sigs?).ok().map(|s| s.to_bytes())
    }

    fn verify_aggregate(&self, members: &[usize], tag: &[u8], msg: &[u8], sig: &Sig) -> bool {
        let Ok(sig) = Signature::from_bytes(sig) else {
            return false;
        };
        let keys: Option<Vec<&PublicKey>> = members.iter().map(|&i| self.keys.get(i)).collect();
        match keys.map(|k| bls::aggregate_keys(k.into_iter())) {
            Some(Ok(agg)) => agg.verify(tag, msg, &sig),
            _ => false,
        }
    }
}

/// Keyed-hash stand-in for BLS in simulations (see the module doc). NOT a signature scheme.
#[cfg(any(test, feature = "test-utils"))]
#[derive(Clone)]
pub struct InsecureCrypto {
    me: Option<usize>,
    members: usize,
}

#[cfg(any(test, feature = "test-utils"))]
impl InsecureCrypto {
    /// The scheme for a committee of `members`, signing as member `me`.
    pub fn new(members: usize, me: Option<usize>) -> Self {
        InsecureCrypto { me, members }
    }

    fn member_sig(member: usize, tag: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(member as u64).to_le_bytes());
        let mut h = blake3::Hasher::new_keyed(&key);
        h.update(&(tag.len() as u64).to_le_bytes());
        h.update(tag);
        h.update(msg);
        *h.finalize().as_bytes()
    }

    fn add(a: &mut [u8; 32], b: &[u8]) {
        let mut carry = 0u16;
        for i in 0..32 {
            let s = a[i] as u16 + b[i] as u16 + carry;
            a[i] = s as u8;
            carry = s >> 8;
        }
    }

    fn widen(s: [u8; 32]) -> Sig {
        let mut out = [0u8; 96];
        out[..32].copy_from_slice(&s);
        out
    }
}

#[cfg(any(test, feature = "test-utils"))]
impl Crypto for InsecureCrypto {
    fn sign(&self, tag: &[u8], msg: &[u8]) -> Option<Sig> {
        self.me.map(|m| Self::widen(Self::member_sig(m, tag, msg)))
    }

    fn verify(&self, member: usize, tag: &[u8], msg: &[u8], sig: &Sig) -> bool {
        member < self.members && *sig == Self::widen(Self::member_sig(member, tag, msg))
    }

    fn aggregate(&self, sigs: &[Sig]) -> Option<Sig> {
        if sigs.is_empty() || sigs.iter().any(|s| s[32..].iter().any(|&b| b != 0)) {
            return None;
        }
        let mut acc = [0u8; 32];
        for s in sigs {
            Self::add(&mut acc, &s[..32]);
        }
        Some(Self::widen(acc))
    }

    fn verify_aggregate(&self, members: &[usize], tag: &[u8], msg: &[u8], sig: &Sig) -> bool {
        if members.is_empty() || members.iter().any(|&m| m >= self.members) {
            return false;
        }
        let mut acc = [0u8; 32];
        for &m in members {
            Self::add(&mut acc, &Self::member_sig(m, tag, msg));
        }
        *sig == Self::widen(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_scheme(crypto: &dyn Fn(Option<usize>) -> Box<dyn Crypto>) {
        let signers: Vec<Box<dyn Crypto>> = (0..4).map(|i| crypto(Some(i))).collect();
        let observer = crypto(None);
        assert!(observer.sign(b"t", b"m").is_none(), "a full node cannot sign");
        let sigs: Vec<Sig> = signers.iter().map(|c| c.sign(b"t", b"m").unwrap()).collect();
        assert!(observer.verify(2, b"t", b"m", &sigs[2]));
        assert!(!observer.verify(1, b"t", b"m", &sigs[2]), "wrong member");
        assert!(!observer.verify(2, b"u", b"m", &sigs[2]), "wrong tag");
        assert!(!observer.verify(9, b"t", b"m", &sigs[2]), "no such member");
        let agg = observer.aggregate(&sigs[..3]).unwrap();
        assert!(observer.verify_aggregate(&[0, 1, 2], b"t", b"m", &agg));
        assert!(
            !observer.verify_aggregate(&[0, 1, 3], b"t", b"m", &agg),
            "claims a non-signer"
        );
        assert!(!observer.verify_aggregate(&[0, 1], b"t", b"m", &agg), "hides a signer");
        assert!(!observer.verify_aggregate(&[0, 1, 2], b"t", b"x", &agg));
        assert!(!observer.verify_aggregate(&[], b"t", b"m", &agg));
        assert!(observer.aggregate(&[]).is_none());
        assert!(
            observer.aggregate(&[[0xaa; 96]]).is_none(),
            "garbage does not aggregate"
        );
    }

    #[test]
    fn bls_and_the_insecure_model_agree_on_the_algebra() {
        let sks: Vec<SecretKey> = (0..4u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        let members: Vec<(PublicKey, Signature)> = sks.iter().map(|k| (k.public_key(), k.prove_possession())).collect();
        check_scheme(&|me| Box::new(BlsCrypto::new(&members, me.map(|i| (i, sks[i].clone()))).unwrap()));
        check_scheme(&|me| Box::new(InsecureCrypto::new(4, me)));
    }

    #[test]
    fn bls_committees_need_proofs_of_possession_and_a_matching_key() {
        let sks: Vec<SecretKey> = (0..3u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        let mut members: Vec<(PublicKey, Signature)> =
            sks.iter().map(|k| (k.public_key(), k.prove_possession())).collect();
        assert_eq!(
            BlsCrypto::new(&members, Some((1, sks[2].clone()))).err(),
            Some(KeyError::NotMember(1))
        );
        members[2].1 = sks[1].prove_possession();
        assert_eq!(BlsCrypto::new(&members, None).err(), Some(KeyError::BadPossession(2)));
    }

    #[test]
    fn seats_need_proofs_of_possession_except_a_committee_of_one() {
        let sks: Vec<SecretKey> = (1..=3u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        let seat = |sk: &SecretKey, pop: bool| Seat {
            key: sk.public_key(),
            pop: pop.then(|| sk.prove_possession()),
            power: 1,
        };
        let one = [seat(&sks[0], false)];
        assert!(BlsCrypto::from_seats(&one, Some((0, sks[0].clone()))).is_ok());
        assert_eq!(
            BlsCrypto::from_seats(&one, Some((0, sks[1].clone()))).err(),
            Some(KeyError::NotMember(0))
        );
        let three = [seat(&sks[0], true), seat(&sks[1], false), seat(&sks[2], true)];
        assert_eq!(
            BlsCrypto::from_seats(&three, None).err(),
            Some(KeyError::MissingPossession(1))
        );
        let three = [seat(&sks[0], true), seat(&sks[1], true), seat(&sks[2], true)];
        assert!(BlsCrypto::from_seats(&three, Some((2, sks[2].clone()))).is_ok());
    }
}
