//! The committee source of a chain without staking ([`GenesisCommittees`]): the genesis
//! validators sit on shard 0 in every epoch, in file order, with their stakes as voting power.
//! The beacon chain's source replaces it once staking elects committees.

use tutti_chain::Genesis;
use tutti_consensus::{
    bls::{PublicKey, Signature},
    fbft::{
        BlsCrypto, CertKind, Committee, QuorumCert,
        committee::{CommitteeSource, Seat, SourceError},
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
    let seats = source.seats(header.shard_id, header.epoch).map_err(|e| e.to_string())?;
    let committee = Committee::from_seats(&seats).map_err(|e| e.to_string())?;
    let crypto = BlsCrypto::from_seats(&seats, None).map_err(|e| e.to_string())?;
    let qc = QuorumCert {
        height: header.height,
        hash: header.hash(),
        cert: cert.clone(),
    };
    verify_certificate(&committee, &crypto, CertKind::Commit, &qc)
}

/// Committees read from the genesis file.
#[derive(Clone, Debug)]
pub struct GenesisCommittees {
    num_shards: u32,
    seats: Vec<Seat>,
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
        let mut seats = Vec::with_capacity(g.validators.len());
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
            seats.push(Seat {
                key,
                pop,
                power: powers[i],
            });
        }
        Ok(GenesisCommittees {
            num_shards: g.num_shards,
            seats,
        })
    }
}

impl CommitteeSource for GenesisCommittees {
    fn seats(&self, shard: ShardId, _epoch: u64) -> Result<Vec<Seat>, SourceError> {
        if shard >= self.num_shards {
            return Err(SourceError::UnknownShard {
                shard,
                shards: self.num_shards,
            });
        }
        if shard != 0 {
            // Every genesis validator sits on shard 0 until genesis files place them on shards.
            return Err(SourceError::Unknown { shard, epoch: _epoch });
        }
        Ok(self.seats.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tutti_consensus::bls::SecretKey;

    #[test]
    fn the_genesis_committee_sits_on_shard_0_at_every_epoch() {
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
