//! The development chain's well-known keys (never use them for anything of value) and genesis, and
//! the testnet genesis. (The dev faucet is `tutti dev`'s own, in the CLI.)

use ed25519_dalek::SigningKey;
use tutti_chain::{
    Genesis,
    genesis::{GenesisAccount, GenesisParams, GenesisValidator},
};
use tutti_consensus::bls::SecretKey;
use tutti_primitives::{Address, Amount, ShardId};

/// The dev chain's id.
pub const DEV_CHAIN_ID: u64 = 7357;
/// Funded dev accounts.
pub const DEV_ACCOUNTS: u32 = 10;
/// Each dev account's balance: a billion tokens of 10^18 units.
pub const DEV_BALANCE: Amount = 1_000_000_000 * 10u128.pow(18);
/// The genesis timestamp (2026-01-01T00:00:00Z), fixed so that every dev chain has the same genesis.
pub const DEV_GENESIS_MS: u64 = 1_767_225_600_000;

/// Dev account `i` (its secret key is derived from a public string: anyone can sign for it).
pub fn dev_key(i: u32) -> SigningKey {
    SigningKey::from_bytes(&blake3::derive_key("tutti dev account v1", &i.to_le_bytes()))
}

/// The address of dev account `i`.
pub fn dev_address(i: u32) -> Address {
    Address::from_public_key(&dev_key(i).verifying_key().to_bytes())
}

/// The dev validator's BLS key (shard 0's).
pub fn dev_validator() -> SecretKey {
    dev_validator_of(0)
}

/// The BLS key of the dev validator of `shard` (a committee of one per shard).
pub fn dev_validator_of(shard: ShardId) -> SecretKey {
    if shard == 0 {
        SecretKey::from_seed(&blake3::derive_key("tutti dev validator v1", &[]))
    } else {
        SecretKey::from_seed(&blake3::derive_key("tutti dev validator v1", &shard.to_le_bytes()))
    }
}

/// The dev chain's genesis with one shard: [`DEV_ACCOUNTS`] funded accounts, one validator.
pub fn dev_genesis() -> Genesis {
    dev_genesis_of(1)
}

/// The dev chain's genesis with `shards` shards: [`DEV_ACCOUNTS`] funded accounts (each on its
/// home shard), one validator per shard ([`dev_validator_of`]).
pub fn dev_genesis_of(shards: u32) -> Genesis {
    Genesis {
        chain_id: DEV_CHAIN_ID,
        num_shards: shards,
        timestamp_ms: DEV_GENESIS_MS,
        accounts: (0..DEV_ACCOUNTS)
            .map(|i| GenesisAccount {
                address: dev_address(i).to_string(),
                balance: DEV_BALANCE.to_string(),
            })
            .collect(),
        validators: (0..shards)
            .map(|shard| GenesisValidator {
                bls_public_key: format!("0x{}", hex::encode(dev_validator_of(shard).public_key().to_bytes())),
                stake: DEV_STAKE.to_string(),
                shard,
                bls_pop: None,
                operator: None,
            })
            .collect(),
        params: dev_params(),
    }
}

/// A genesis validator's stake on dev chains and testnets: 10,000 tokens.
pub const DEV_STAKE: u128 = 10_000 * 10u128.pow(18);

/// Chain parameters of dev chains and testnets: epochs of 30 blocks (a minute or so), 1,000
/// tokens of self-stake, 2 epochs of unbonding, committees of 1 to 16 seats, half of a
/// committee changing per epoch at most.
pub fn dev_params() -> GenesisParams {
    GenesisParams {
        epoch_blocks: 30,
        min_self_stake: (1_000 * 10u128.pow(18)).to_string(),
        unbonding_epochs: 2,
        seats_per_shard: 16,
        min_seats_per_shard: 1,
        max_churn_percent: 50,
        ..GenesisParams::default()
    }
}

/// The chain id of `tutti testnet` chains.
pub const TESTNET_CHAIN_ID: u64 = 7358;

/// A testnet's genesis: the dev accounts funded as in [`dev_genesis`], and a committee of
/// `validators` with equal stakes and their proofs of possession.
pub fn testnet_genesis(validators: &[SecretKey]) -> Genesis {
    let mut g = dev_genesis();
    g.chain_id = TESTNET_CHAIN_ID;
    g.validators = validators
        .iter()
        .map(|k| GenesisValidator {
            bls_public_key: format!("0x{}", hex::encode(k.public_key().to_bytes())),
            stake: DEV_STAKE.to_string(),
            shard: 0,
            bls_pop: Some(format!("0x{}", hex::encode(k.prove_possession().to_bytes()))),
            operator: None,
        })
        .collect();
    g
}

/// A testnet of `shards` shards: the validators in order, `validators.len() / shards` to a shard
/// (the first ones on shard 0), accounts on their home shards.
pub fn sharded_testnet_genesis(validators: &[SecretKey], shards: u32) -> Genesis {
    let mut g = testnet_genesis(validators);
    let per_shard = validators.len().div_ceil(shards.max(1) as usize).max(1);
    g.num_shards = shards;
    for (i, v) in g.validators.iter_mut().enumerate() {
        v.shard = (i / per_shard) as u32;
    }
    g
}
