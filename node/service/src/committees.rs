//! Committee sources. [`GenesisCommittees`]: each genesis validator sits on the shard the genesis
//! names, in every epoch, in file order, with its stake as voting power. [`BeaconCommittees`]:
//! the genesis committees in epochs 0 and 1 (and in every epoch on a chain with
//! `staticCommittees`), then the committees the beacon chain elected for each epoch, read from
//! its state.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, OnceLock},
};

use tutti_chain::{Chain, Genesis, election::voting_powers};
use tutti_consensus::{
    bls::{PublicKey, Signature},
    fbft::{
        CertKind, QuorumCert,
        committee::{CommitteeSource, Seat, SourceError, Verifier},
        verify_certificate,
    },
};
use tutti_primitives::{BlockHeader, CommitCertificate, ShardId};

/// Checks that `cert` commits `header` with more than 2/3 of the power of the committee of the
/// header's shard at the header's epoch (the check a destination runs on a receipt batch).
pub fn check_commit(
    source: &dyn CommitteeSource,
    header: &BlockHeader,
    cert: &CommitCertificate,
) -> Result<(), String> {
    let v = source
        .verifier(header.shard_id, header.epoch)
        .map_err(|e| e.to_string())?;
    let qc = QuorumCert {
        height: header.height,
        hash: header.hash(),
        cert: cert.clone(),
    };
    verify_certificate(&v.committee, &v.crypto, CertKind::Commit, &qc)
}

/// Verifiers built once per key (shard, or shard and epoch), the newest `limit` kept.
struct Verifiers<K: Ord + Copy> {
    built: Mutex<BTreeMap<K, Arc<Verifier>>>,
    limit: usize,
}

impl<K: Ord + Copy> Verifiers<K> {
    fn new(limit: usize) -> Self {
        Verifiers {
            built: Mutex::new(BTreeMap::new()),
            limit,
        }
    }

    fn get(
        &self,
        key: K,
        build: impl FnOnce() -> Result<Arc<Verifier>, SourceError>,
    ) -> Result<Arc<Verifier>, SourceError> {
        if let Some(v) = self.built.lock().expect("verifier cache poisoned").get(&key) {
            return Ok(v.clone());
        }
        let v = build()?;
        let mut built = self.built.lock().expect("verifier cache poisoned");
        built.insert(key, v.clone());
        while built.len() > self.limit {
            built.pop_first();
        }
        Ok(v)
    }
}

/// Committees read from the genesis file.
#[derive(Clone)]
pub struct GenesisCommittees {
    num_shards: u32,
    /// Per shard, its seats.
    seats: Vec<Vec<Seat>>,
    /// Per shard, its verifier (the same in every epoch).
    verifiers: Arc<Verifiers<ShardId>>,
}

impl std::fmt::Debug for GenesisCommittees {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesisCommittees")
            .field("num_shards", &self.num_shards)
            .field("seats", &self.seats)
            .finish()
    }
}

impl GenesisCommittees {
    /// Reads the genesis validators (keys, proofs of possession, stakes).
    pub fn new(g: &Genesis) -> Result<Self, SourceError> {
        let invalid = |reason: String| SourceError::Invalid {
            shard: 0,
            epoch: 0,
            reason,
        };
        let powers = g.powers().map_err(|e| invalid(e.to_string()))?;
        let mut seats = vec![Vec::new(); g.num_shards.max(1) as usize];
        for (i, v) in g.validators.iter().enumerate() {
            let key = g.validator_key(v).map_err(|e| invalid(e.to_string()))?;
            let key = PublicKey::from_bytes(&key).map_err(|e| invalid(format!("genesis validator {i}'s key: {e}")))?;
            let pop = match v.bls_pop {
                Some(_) => {
                    let bytes = g.validator_pop(v).map_err(|e| invalid(e.to_string()))?;
                    Some(
                        Signature::from_bytes(&bytes)
                            .map_err(|e| invalid(format!("genesis validator {i}'s blsPop: {e}")))?,
                    )
                }
                None => None,
            };
            let shard = seats.get_mut(v.shard as usize).ok_or_else(|| SourceError::Invalid {
                shard: v.shard,
                epoch: 0,
                reason: format!("genesis validator {i} sits on shard {}, which does not exist", v.shard),
            })?;
            shard.push(Seat {
                key,
                pop,
                power: powers[i],
            });
        }
        Ok(GenesisCommittees {
            num_shards: g.num_shards,
            verifiers: Arc::new(Verifiers::new(seats.len())),
            seats,
        })
    }
}

impl CommitteeSource for GenesisCommittees {
    fn seats(&self, shard: ShardId, epoch: u64) -> Result<Vec<Seat>, SourceError> {
        match self.seats.get(shard as usize) {
            None => Err(SourceError::UnknownShard {
                shard,
                shards: self.num_shards,
            }),
            Some(seats) if seats.is_empty() => Err(SourceError::Unknown { shard, epoch }),
            Some(seats) => Ok(seats.clone()),
        }
    }

    fn verifier(&self, shard: ShardId, epoch: u64) -> Result<Arc<Verifier>, SourceError> {
        self.verifiers.get(shard, || {
            Verifier::new(&self.seats(shard, epoch)?)
                .map(Arc::new)
                .map_err(|reason| SourceError::Invalid { shard, epoch, reason })
        })
    }
}

/// Committees elected on the beacon chain (module doc). Every epoch's assignment is written two
/// epochs ahead by a committed (final) beacon block and never changes, so it is read once per
/// epoch and kept.
pub struct BeaconCommittees {
    genesis: GenesisCommittees,
    num_shards: u32,
    fixed: bool,
    beacon: OnceLock<Arc<Chain>>,
    /// Epoch -> the seats of every shard (the newest few epochs).
    elected: Mutex<BTreeMap<u64, Arc<Vec<Vec<Seat>>>>>,
    /// (Epoch, shard) -> its verifier (the newest few epochs').
    verifiers: Verifiers<(u64, ShardId)>,
}

/// How many epochs' committees a [`BeaconCommittees`] keeps in memory.
const KEPT_EPOCHS: usize = 8;

impl BeaconCommittees {
    /// The source of a chain, before it knows where its beacon chain is ([`Self::follow`]).
    pub fn new(g: &Genesis) -> Result<Self, SourceError> {
        Ok(BeaconCommittees {
            genesis: GenesisCommittees::new(g)?,
            num_shards: g.num_shards.max(1),
            fixed: g.params.static_committees,
            beacon: OnceLock::new(),
            elected: Mutex::new(BTreeMap::new()),
            verifiers: Verifiers::new(KEPT_EPOCHS * g.num_shards.max(1) as usize),
        })
    }

    /// Reads elected committees from `beacon` (this process's copy of shard 0) from now on.
    pub fn follow(&self, beacon: Arc<Chain>) {
        let _ = self.beacon.set(beacon);
    }

    fn elected(&self, epoch: u64) -> Result<Arc<Vec<Vec<Seat>>>, SourceError> {
        if let Some(a) = self.elected.lock().expect("committee cache poisoned").get(&epoch) {
            return Ok(a.clone());
        }
        let invalid = |reason: String| SourceError::Invalid {
            shard: 0,
            epoch,
            reason,
        };
        let chain = self.beacon.get().ok_or_else(|| {
            invalid("this node does not track the beacon chain (shard 0), where the committees after epoch 1 are elected; run it with --track-shards including 0".into())
        })?;
        let head = chain.head().header.height;
        let read = chain
            .read_beacon(head, |b| {
                b.assignment(epoch).map(|a| {
                    a.iter()
                        .map(|c| {
                            c.iter()
                                .map(|e| (e.key, e.power, b.validator(&e.key).map(|v| v.proof)))
                                .collect::<Vec<_>>()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .map_err(|e| invalid(format!("reading the beacon state: {e}")))?;
        let Some(assignment) = read else {
            return Err(SourceError::Unknown { shard: 0, epoch });
        };
        let shards = Arc::new(seats_of(assignment).map_err(invalid)?);
        let mut cache = self.elected.lock().expect("committee cache poisoned");
        cache.insert(epoch, shards.clone());
        while cache.len() > KEPT_EPOCHS {
            cache.pop_first();
        }
        Ok(shards)
    }
}

/// An elected member: BLS key, stake, registered proof of possession.
pub type ElectedSeat = ([u8; 48], tutti_primitives::Amount, Option<[u8; 96]>);

/// The seats of every shard from an elected assignment: per shard, each member's key, stake and
/// registered proof of possession (all zero or absent: none), voting powers scaled from stakes.
pub fn seats_of(assignment: Vec<Vec<ElectedSeat>>) -> Result<Vec<Vec<Seat>>, String> {
    let mut shards = Vec::with_capacity(assignment.len());
    for committee in assignment {
        let powers = voting_powers(&committee.iter().map(|(_, p, _)| *p).collect::<Vec<_>>());
        let mut seats = Vec::with_capacity(committee.len());
        for ((key, _, proof), power) in committee.into_iter().zip(powers) {
            let key = PublicKey::from_bytes(&key).map_err(|e| format!("an elected key is not a valid BLS key: {e}"))?;
            let pop = proof
                .filter(|p| p.iter().any(|b| *b != 0))
                .and_then(|p| Signature::from_bytes(&p).ok());
            seats.push(Seat { key, pop, power });
        }
        shards.push(seats);
    }
    Ok(shards)
}

impl CommitteeSource for BeaconCommittees {
    fn seats(&self, shard: ShardId, epoch: u64) -> Result<Vec<Seat>, SourceError> {
        if self.fixed || epoch < 2 {
            return self.genesis.seats(shard, epoch);
        }
        if shard >= self.num_shards {
            return Err(SourceError::UnknownShard {
                shard,
                shards: self.num_shards,
            });
        }
        match self.elected(epoch)?.get(shard as usize) {
            Some(seats) if !seats.is_empty() => Ok(seats.clone()),
            _ => Err(SourceError::Unknown { shard, epoch }),
        }
    }

    /// Built once per (epoch, shard): an elected assignment never changes once written.
    fn verifier(&self, shard: ShardId, epoch: u64) -> Result<Arc<Verifier>, SourceError> {
        if self.fixed || epoch < 2 {
            return self.genesis.verifier(shard, epoch);
        }
        self.verifiers.get((epoch, shard), || {
            Verifier::new(&self.seats(shard, epoch)?)
                .map(Arc::new)
                .map_err(|reason| SourceError::Invalid { shard, epoch, reason })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tutti_consensus::bls::SecretKey;

    #[test]
    fn genesis_validators_sit_on_their_shards_at_every_epoch() {
        let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        let g = crate::dev::testnet_genesis(&keys);
        let source = GenesisCommittees::new(&g).expect("a valid genesis");
        let seats = source.seats(0, 0).expect("shard 0");
        assert_eq!(seats.len(), 4);
        for (seat, key) in seats.iter().zip(&keys) {
            assert_eq!(seat.key, key.public_key());
            assert!(seat.pop.is_some_and(|p| seat.key.verify_possession(&p)));
        }
        assert_eq!(source.seats(0, 7).expect("any epoch"), seats);
        assert!(matches!(
            source.seats(g.num_shards, 0),
            Err(SourceError::UnknownShard { .. })
        ));

        // Two shards: validators 0 and 1 on shard 0, 2 and 3 on shard 1.
        let mut g2 = g.clone();
        g2.num_shards = 2;
        for (i, v) in g2.validators.iter_mut().enumerate() {
            v.shard = (i / 2) as u32;
        }
        let source = GenesisCommittees::new(&g2).expect("a valid genesis");
        let keys_of = |s: ShardId| -> Vec<PublicKey> { source.seats(s, 3).unwrap().iter().map(|x| x.key).collect() };
        assert_eq!(keys_of(0), vec![keys[0].public_key(), keys[1].public_key()]);
        assert_eq!(keys_of(1), vec![keys[2].public_key(), keys[3].public_key()]);
    }

    #[test]
    fn commit_certificates_need_two_thirds_of_the_members_of_that_shard_and_epoch() {
        use tutti_consensus::fbft::message::{commit_message, tags};
        let keys: Vec<SecretKey> = (1..=4u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        let source = GenesisCommittees::new(&crate::dev::testnet_genesis(&keys)).expect("a valid genesis");
        let header = BlockHeader {
            height: 5,
            ..crate::dev::testnet_genesis(&keys).header(tutti_primitives::Hash::ZERO)
        };
        let sign = |signers: &[usize], by: &[SecretKey]| {
            let msg = commit_message(header.height, &header.hash(), 0);
            let sigs: Vec<_> = by.iter().map(|k| k.sign(tags::COMMIT, &msg)).collect();
            let mut bitmap = vec![0u8; 1];
            for i in signers {
                bitmap[0] |= 1 << i;
            }
            CommitCertificate {
                view: 0,
                signature: tutti_consensus::bls::Signature::aggregate(&sigs)
                    .expect("signatures")
                    .to_bytes(),
                signers: bitmap,
            }
        };
        // Three of four members: a quorum.
        check_commit(&source, &header, &sign(&[0, 1, 2], &keys[..3])).expect("a quorum");
        // Two of four: not more than 2/3.
        let e = check_commit(&source, &header, &sign(&[0, 1], &keys[..2])).unwrap_err();
        assert!(e.contains("not more than 2/3"), "{e}");
        // Strangers' signatures under members' bits do not verify.
        let strangers: Vec<SecretKey> = (10..=12u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        assert!(check_commit(&source, &header, &sign(&[0, 1, 2], &strangers)).is_err());
        // Another shard has no such committee.
        let elsewhere = BlockHeader {
            shard_id: 3,
            ..header.clone()
        };
        assert!(check_commit(&source, &elsewhere, &sign(&[0, 1, 2], &keys[..3])).is_err());
    }
}
