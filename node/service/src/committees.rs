//! The committee source of a chain without staking ([`GenesisCommittees`]): the genesis
//! validators sit on shard 0 in every epoch, in file order, with their stakes as voting power.
//! The beacon chain's source replaces it once staking elects committees.

use tutti_chain::Genesis;
use tutti_consensus::{
    bls::{PublicKey, Signature},
    fbft::committee::{CommitteeSource, Seat, SourceError},
};
use tutti_primitives::ShardId;

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
}
