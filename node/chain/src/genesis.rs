//! Genesis: the chain's first state and block, read from a JSON file.
//!
//! ```json
//! {
//!   "chainId": 7357,
//!   "numShards": 1,
//!   "timestampMs": 1763683200000,
//!   "accounts": [{ "address": "tt1...", "balance": "1000000000000000000000000" }],
//!   "validators": [{ "blsPublicKey": "0x...96 hex digits...", "stake": "1000000", "shard": 0 }],
//!   "params": { "blockGasLimit": 100000000000, "maxReceiptsPerBlock": 50000, "epochBlocks": 3600 }
//! }
//! ```
//!
//! Every `params` field may be left out (its default is documented on [`GenesisParams`]).
//!
//! Amounts are decimal strings (they exceed what JSON numbers hold exactly). Unknown fields are
//! refused, so a typo does not silently give a different chain.
//!
//! With `numShards` S > 1 (at most [`MAX_SHARDS`]), shard 0 is the beacon chain and also holds
//! accounts; every account starts on its home shard (`address[0..8]` LE mod S) and every
//! validator sits on the shard it names (`shard`, default 0), each shard with at least one.

use std::{collections::BTreeSet, path::Path};

use serde::{Deserialize, Serialize};
use tutti_primitives::{
    Account, Address, Amount, BlockHeader, ChainId, Congestion, Gas, Hash, ShardId, tagged_hash,
    tags::GENESIS_RANDOMNESS,
};

use crate::{
    ShardSpec, TxRules,
    beacon::{self, EpochSpec, Kv},
    election::{Elected, ElectionParams},
    staking::{self, StakeStore, StakingParams},
};

/// A state key and its encoded value.
pub type StateEntry = (Vec<u8>, Vec<u8>);

/// The genesis state being built, as encoded values by state key.
#[derive(Default)]
struct GenesisKv(std::collections::BTreeMap<Vec<u8>, Vec<u8>>);

impl Kv for GenesisKv {
    fn get<T: parity_scale_codec::Decode>(&self, key: &[u8], _what: &'static str) -> Option<T> {
        // Only this module writes these values, so they decode.
        self.0.get(key).and_then(|v| T::decode(&mut v.as_slice()).ok())
    }
    fn put<T: parity_scale_codec::Encode>(&mut self, key: Vec<u8>, value: Option<&T>) {
        match value {
            Some(v) => self.0.insert(key, v.encode()),
            None => self.0.remove(&key),
        };
    }
}

/// Why a genesis file was refused.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// Could not read the file.
    #[error("cannot read genesis file {path}: {err}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        err: std::io::Error,
    },
    /// Not valid JSON, or not the expected shape (serde's message names line and column).
    #[error("genesis file {path} is not valid: {err}")]
    Json {
        /// The file.
        path: String,
        /// The parser's message.
        err: serde_json::Error,
    },
    /// Valid JSON, but an invalid chain.
    #[error("genesis is invalid: {0}")]
    Invalid(String),
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Most shards a chain may have.
pub const MAX_SHARDS: u32 = 64;

/// An account funded at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GenesisAccount {
    /// `tt1…` or `0x…` address.
    pub address: String,
    /// Balance, decimal.
    pub balance: String,
}

/// A validator of the genesis committee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GenesisValidator {
    /// Compressed BLS12-381 G1 public key, `0x` + 96 hex digits.
    pub bls_public_key: String,
    /// Stake, decimal.
    pub stake: String,
    /// The shard whose committee it sits on (0 when absent).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shard: u32,
    /// Proof of possession of the key (its BLS signature over itself), `0x` + 192 hex digits.
    /// Required for committees of more than one, where keys are aggregated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bls_pop: Option<String>,
    /// The account that operates it in the staking registry (may edit it, holds its
    /// self-stake). When absent, an address no key controls
    /// (`blake3("tutti/address/genesis-operator/v1" || key)`): the stake stays bonded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

/// Chain parameters; a field left out of the file takes its default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct GenesisParams {
    /// Most gas a block's transactions may buy.
    pub block_gas_limit: Gas,
    /// Most receipts executed per block (the rest wait in the delayed queue).
    pub max_receipts_per_block: usize,
    /// Beacon blocks per epoch (committees change at epoch boundaries).
    pub epoch_blocks: u64,
    /// Least self-stake to create a validator and to stand for election, decimal.
    pub min_self_stake: String,
    /// Least amount of one delegation, decimal.
    pub min_delegation: String,
    /// Epochs an undelegated amount stays locked.
    pub unbonding_epochs: u64,
    /// Most seats per shard an election fills.
    pub seats_per_shard: u32,
    /// Fewest seats per shard: below it an election keeps the previous committees.
    pub min_seats_per_shard: u32,
    /// Most of a shard's seats that may change hands in one election, percent.
    pub max_churn_percent: u32,
    /// Keep the genesis committees in every epoch (elections still run and are recorded, but
    /// do not seat anybody): for networks whose membership must not move.
    pub static_committees: bool,
    /// Tokens issued for every block of every shard once the beacon chain crosslinks it (beacon
    /// blocks through their child's parent certificate), shared by the block's signers by
    /// voting power, decimal.
    pub block_reward: String,
    /// The native token's symbol, shown by wallets and pages (1 to 11 characters: capital
    /// letters and digits, starting with a letter). Its decimals are fixed at 18
    /// (`tutti_primitives::TOKEN_DECIMALS`), so a raw amount means the same on every chain.
    pub token_symbol: String,
}

impl GenesisParams {
    /// Epochs and staking parameters for `num_shards` shards. An amount that does not parse
    /// (refused by [`Genesis::check`]) reads as the largest amount, so nobody can stake.
    pub fn epoch_spec(&self, num_shards: u32) -> EpochSpec {
        EpochSpec {
            // The chain's id is the genesis's, not a parameter: [`Genesis::epoch_spec`] sets it.
            chain_id: 0,
            epoch_blocks: self.epoch_blocks.max(1),
            staking: StakingParams {
                min_self_stake: self.min_self_stake.parse().unwrap_or(Amount::MAX),
                min_delegation: self.min_delegation.parse().unwrap_or(Amount::MAX),
                unbonding_epochs: self.unbonding_epochs,
            },
            election: ElectionParams {
                num_shards: num_shards.max(1),
                seats_per_shard: self.seats_per_shard,
                min_seats_per_shard: self.min_seats_per_shard,
                max_churn_percent: self.max_churn_percent,
            },
            static_committees: self.static_committees,
            block_reward: self.block_reward.parse().unwrap_or(0),
        }
    }
}

impl Default for GenesisParams {
    /// 100 G gas (about 10 s of single-core execution at the schedule's 0.1 ns per gas: room for
    /// 66 000 transfers), 50 000 receipts (a same-shard transfer is one, so a block can carry
    /// 50 000 transfers before congestion control holds transactions back).
    ///
    /// Staking: epochs of 3,600 blocks (about two hours at 2 s blocks), 10,000 tokens of
    /// self-stake, delegations of at least 1 token, 7 epochs of unbonding, up to 100 seats per
    /// shard and at least 4 (one faulty member tolerated), a quarter of a committee changing per
    /// epoch at most.
    fn default() -> Self {
        GenesisParams {
            block_gas_limit: 100_000_000_000,
            max_receipts_per_block: 50_000,
            epoch_blocks: 3_600,
            min_self_stake: "10000000000000000000000".into(),
            min_delegation: "1000000000000000000".into(),
            unbonding_epochs: 7,
            seats_per_shard: 100,
            min_seats_per_shard: 4,
            max_churn_percent: 25,
            static_committees: false,
            block_reward: "1000000000000000000".into(),
            token_symbol: "TUTTI".into(),
        }
    }
}

/// A genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Genesis {
    /// The chain id every transaction signs.
    pub chain_id: ChainId,
    /// Number of shards (1 for a single-node chain).
    pub num_shards: u32,
    /// Genesis timestamp, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Funded accounts.
    pub accounts: Vec<GenesisAccount>,
    /// The first committee.
    pub validators: Vec<GenesisValidator>,
    /// Chain parameters.
    #[serde(default)]
    pub params: GenesisParams,
}

fn amount(s: &str, what: &str) -> Result<Amount, GenesisError> {
    s.parse::<Amount>()
        .map_err(|e| GenesisError::Invalid(format!("{what} `{s}` is not a decimal amount: {e}")))
}

impl Genesis {
    /// Reads and checks a genesis file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Genesis, GenesisError> {
        let path = path.as_ref();
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| GenesisError::Io { path: p.clone(), err })?;
        let g: Genesis = serde_json::from_str(&text).map_err(|err| GenesisError::Json { path: p, err })?;
        g.check()?;
        Ok(g)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("genesis serializes")
    }

    /// Checks the values: a chain id, one shard (more come with sharding), well-formed unique
    /// addresses and amounts, a total supply that fits, at least one validator with a well-formed key.
    pub fn check(&self) -> Result<(), GenesisError> {
        self.accounts()?;
        if self.chain_id == 0 {
            return Err(GenesisError::Invalid("chainId must not be 0".into()));
        }
        if self.num_shards == 0 || self.num_shards > MAX_SHARDS {
            return Err(GenesisError::Invalid(format!(
                "numShards is {}; it must be between 1 and {MAX_SHARDS}",
                self.num_shards
            )));
        }
        if self.validators.is_empty() {
            return Err(GenesisError::Invalid("validators is empty; a chain needs one".into()));
        }
        let sym = &self.params.token_symbol;
        if !(1..=11).contains(&sym.len())
            || !sym.starts_with(|c: char| c.is_ascii_uppercase())
            || !sym.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(GenesisError::Invalid(format!(
                "params.tokenSymbol `{sym}`: use 1 to 11 capital letters and digits, starting with a letter (like TUTTI)"
            )));
        }
        let mut keys = BTreeSet::new();
        for v in &self.validators {
            if !keys.insert(self.validator_key(v)?) {
                return Err(GenesisError::Invalid(format!(
                    "validator key {} is listed twice",
                    v.bls_public_key
                )));
            }
        }
        for v in &self.validators {
            let stake = amount(&v.stake, "stake")?;
            if stake == 0 {
                return Err(GenesisError::Invalid(format!(
                    "validator {} has stake 0; its stake is its voting power and must be at least 1",
                    v.bls_public_key
                )));
            }
            if v.shard >= self.num_shards {
                return Err(GenesisError::Invalid(format!(
                    "validator {} sits on shard {}, but the chain has shards 0 to {}",
                    v.bls_public_key,
                    v.shard,
                    self.num_shards - 1
                )));
            }
            if self.validators.iter().filter(|w| w.shard == v.shard).count() > 1 {
                self.validator_pop(v)?;
            }
        }
        for shard in 0..self.num_shards {
            if !self.validators.iter().any(|v| v.shard == shard) {
                return Err(GenesisError::Invalid(format!(
                    "shard {shard} has no validator; every shard needs a committee"
                )));
            }
        }
        if self.params.max_receipts_per_block == 0 {
            return Err(GenesisError::Invalid(
                "params.maxReceiptsPerBlock must be at least 1".into(),
            ));
        }
        let p = &self.params;
        amount(&p.min_self_stake, "params.minSelfStake")?;
        amount(&p.min_delegation, "params.minDelegation")?;
        amount(&p.block_reward, "params.blockReward")?;
        if p.epoch_blocks == 0 {
            return Err(GenesisError::Invalid("params.epochBlocks must be at least 1".into()));
        }
        if p.seats_per_shard == 0 || p.min_seats_per_shard > p.seats_per_shard {
            return Err(GenesisError::Invalid(format!(
                "params.seatsPerShard ({}) must be at least 1 and at least params.minSeatsPerShard ({})",
                p.seats_per_shard, p.min_seats_per_shard
            )));
        }
        if p.max_churn_percent > 100 {
            return Err(GenesisError::Invalid(format!(
                "params.maxChurnPercent is {}; it is a percentage (0 to 100)",
                p.max_churn_percent
            )));
        }
        for v in &self.validators {
            self.operator(v)?;
        }
        Ok(())
    }

    /// A genesis validator's operator account (see [`GenesisValidator::operator`]).
    pub fn operator(&self, v: &GenesisValidator) -> Result<Address, GenesisError> {
        match &v.operator {
            Some(a) => a
                .parse()
                .map_err(|e| GenesisError::Invalid(format!("validator operator `{a}`: {e}"))),
            None => Ok(Address(
                tagged_hash(tutti_primitives::tags::GENESIS_OPERATOR, &self.validator_key(v)?).0,
            )),
        }
    }

    /// Epochs and staking parameters ([`GenesisParams::epoch_spec`]).
    pub fn epoch_spec(&self) -> EpochSpec {
        EpochSpec {
            chain_id: self.chain_id,
            ..self.params.epoch_spec(self.num_shards)
        }
    }

    /// The genesis state of `shard`, as state keys and values: the accounts whose home shard it
    /// is; on the beacon chain also the staking registry (each genesis validator with its stake
    /// as self-stake) and the committees of epochs 0 and 1.
    pub fn state_of(&self, shard: ShardId) -> Result<Vec<StateEntry>, GenesisError> {
        use parity_scale_codec::Encode;
        let mut map = GenesisKv::default();
        for (a, acc) in self.accounts_on(shard)? {
            map.0.insert(crate::account::account_key(&a), acc.encode());
        }
        if shard == 0 {
            let n = self.num_shards.max(1) as usize;
            let mut committees: Vec<Vec<Elected>> = vec![Vec::new(); n];
            for v in &self.validators {
                let key = self.validator_key(v)?;
                let stake = amount(&v.stake, "stake")?;
                let operator = self.operator(v)?;
                let mut reg = beacon::Registry(&mut map);
                let balance = reg.balance(&operator);
                reg.set_balance(&operator, balance.saturating_add(stake));
                staking::create_validator(
                    &mut reg,
                    &StakingParams {
                        min_self_stake: 0,
                        min_delegation: 0,
                        unbonding_epochs: 0,
                    },
                    &operator,
                    staking::NewValidator {
                        key,
                        pop_verified: true,
                        proof: match v.bls_pop {
                            Some(_) => self.validator_pop(v)?,
                            None => [0; 96],
                        },
                        self_stake: stake,
                        commission_bps: 0,
                        max_commission_bps: staking::MAX_BPS,
                        max_change_bps: staking::MAX_BPS,
                        name: format!("genesis-{}", hex::encode(&key[..4])),
                    },
                    0,
                )
                .map_err(|e| GenesisError::Invalid(format!("validator {}: {e}", v.bls_public_key)))?;
                if let Some(c) = committees.get_mut(v.shard as usize) {
                    c.push(Elected { key, power: stake });
                }
            }
            for epoch in [0, 1] {
                map.put(beacon::assignment_key(epoch), Some(&committees));
            }
            // Every other shard's genesis block is its first crosslink, so the next must extend it.
            for s in 1..self.num_shards.max(1) {
                let root = crate::exec::genesis_root(&self.state_of(s)?)
                    .map_err(|e| GenesisError::Invalid(format!("shard {s}'s genesis state: {e}")))?;
                map.put(beacon::crosslink_key(s), Some(&(0u64, self.header_of(s, root).hash())));
            }
        }
        Ok(map.0.into_iter().collect())
    }

    /// The raw 48 bytes of a validator's key (whether it is a valid curve point is checked by
    /// the consensus layer).
    pub fn validator_key(&self, v: &GenesisValidator) -> Result<[u8; 48], GenesisError> {
        let s = v.bls_public_key.strip_prefix("0x").unwrap_or(&v.bls_public_key);
        let bytes = hex::decode(s)
            .map_err(|e| GenesisError::Invalid(format!("blsPublicKey `{}` is not hex: {e}", v.bls_public_key)))?;
        bytes
            .try_into()
            .map_err(|b: Vec<u8>| GenesisError::Invalid(format!("blsPublicKey has {} bytes, expected 48", b.len())))
    }

    /// The raw 96 bytes of a validator's proof of possession (checked by the consensus layer).
    pub fn validator_pop(&self, v: &GenesisValidator) -> Result<[u8; 96], GenesisError> {
        let pop = v.bls_pop.as_deref().ok_or_else(|| {
            GenesisError::Invalid(format!(
                "validator {} has no blsPop; every key of a committee of more than one needs its proof of possession",
                v.bls_public_key
            ))
        })?;
        let bytes = hex::decode(pop.strip_prefix("0x").unwrap_or(pop))
            .map_err(|e| GenesisError::Invalid(format!("blsPop `{pop}` is not hex: {e}")))?;
        bytes
            .try_into()
            .map_err(|b: Vec<u8>| GenesisError::Invalid(format!("blsPop has {} bytes, expected 96", b.len())))
    }

    /// The validators' voting powers (their stakes, scaled by
    /// [`crate::election::voting_powers`] over the whole genesis), in file order.
    pub fn powers(&self) -> Result<Vec<u64>, GenesisError> {
        let stakes = self
            .validators
            .iter()
            .map(|v| amount(&v.stake, "stake"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::election::voting_powers(&stakes))
    }

    /// The funded accounts, parsed, in file order.
    pub fn accounts(&self) -> Result<Vec<(Address, Account)>, GenesisError> {
        let mut seen = BTreeSet::new();
        let mut total: Amount = 0;
        let mut out = Vec::with_capacity(self.accounts.len());
        for a in &self.accounts {
            let address: Address = a
                .address
                .parse()
                .map_err(|e| GenesisError::Invalid(format!("account address `{}`: {e}", a.address)))?;
            if !seen.insert(address) {
                return Err(GenesisError::Invalid(format!("account {address} is listed twice")));
            }
            let balance = amount(&a.balance, "balance")?;
            total = total
                .checked_add(balance)
                .ok_or_else(|| GenesisError::Invalid("the total supply overflows u128".into()))?;
            out.push((
                address,
                Account {
                    balance,
                    ..Account::default()
                },
            ));
        }
        Ok(out)
    }

    /// The total supply at genesis: the accounts' balances and the validators' stakes.
    pub fn supply(&self) -> Result<Amount, GenesisError> {
        let mut total: Amount = self.accounts()?.iter().map(|(_, a)| a.balance).sum();
        for v in &self.validators {
            total = total
                .checked_add(amount(&v.stake, "stake")?)
                .ok_or_else(|| GenesisError::Invalid("the total supply overflows u128".into()))?;
        }
        Ok(total)
    }

    /// The funded accounts that start on `shard` (their home shard).
    pub fn accounts_on(&self, shard: ShardId) -> Result<Vec<(Address, Account)>, GenesisError> {
        let n = self.num_shards.max(1);
        Ok(self
            .accounts()?
            .into_iter()
            .filter(|(a, _)| a.home_shard(n) == shard)
            .collect())
    }

    /// The execution parameters of shard 0.
    pub fn spec(&self) -> ShardSpec {
        self.spec_of(0)
    }

    /// The execution parameters of `shard`.
    pub fn spec_of(&self, shard: ShardId) -> ShardSpec {
        ShardSpec {
            shard_id: shard,
            num_shards: self.num_shards,
            rules: TxRules::new(self.chain_id).on_shard(shard, self.num_shards.max(1)),
            max_receipts_per_block: self.params.max_receipts_per_block,
            block_gas_limit: self.params.block_gas_limit,
            epochs: self.epoch_spec(),
        }
    }

    /// Shard 0's genesis header over the genesis state root.
    pub fn header(&self, state_root: Hash) -> BlockHeader {
        self.header_of(0, state_root)
    }

    /// `shard`'s genesis header over its genesis state root.
    pub fn header_of(&self, shard: ShardId, state_root: Hash) -> BlockHeader {
        BlockHeader {
            chain_id: self.chain_id,
            shard_id: shard,
            height: 0,
            epoch: 0,
            view: 0,
            parent_hash: Hash::ZERO,
            timestamp_ms: self.timestamp_ms,
            tx_root: Hash::ZERO,
            state_root,
            outgoing_receipts_root: Hash::ZERO,
            incoming_receipts_root: Hash::ZERO,
            crosslinks_root: Hash::ZERO,
            gas_used: 0,
            congestion: Congestion {
                delayed: 0,
                consumed: vec![0; self.num_shards.max(1) as usize],
            },
            proposer: [0; 48],
            randomness_proof: [0; 96],
            randomness: tagged_hash(GENESIS_RANDOMNESS, &state_root.0),
            parent_commit: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Genesis {
        Genesis {
            chain_id: 7,
            num_shards: 1,
            timestamp_ms: 1,
            accounts: vec![GenesisAccount {
                address: Address([1; 32]).to_string(),
                balance: "1000".into(),
            }],
            validators: vec![GenesisValidator {
                bls_public_key: format!("0x{}", "ab".repeat(48)),
                stake: "1".into(),
                shard: 0,
                bls_pop: None,
                operator: None,
            }],
            params: GenesisParams::default(),
        }
    }

    #[test]
    fn round_trips_and_refuses_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genesis.json");
        std::fs::write(&path, sample().to_json()).unwrap();
        assert_eq!(Genesis::from_file(&path).unwrap(), sample());

        let bad = |g: Genesis, needle: &str| {
            let e = g.check().unwrap_err().to_string();
            assert!(e.contains(needle), "{e} should mention {needle}");
        };
        let mut g = sample();
        g.accounts.push(g.accounts[0].clone());
        bad(g, "listed twice");
        let mut g = sample();
        g.accounts[0].balance = "-1".into();
        bad(g, "not a decimal amount");
        let mut g = sample();
        g.accounts[0].address = "tt1nope".into();
        bad(g, "account address");
        let mut g = sample();
        g.validators.clear();
        bad(g, "validators is empty");
        let mut g = sample();
        g.validators[0].bls_public_key = "0xabcd".into();
        bad(g, "expected 48");
        let mut g = sample();
        g.validators[0].stake = "0".into();
        bad(g, "must be at least 1");
        let mut g = sample();
        g.validators.push(g.validators[0].clone());
        bad(g, "listed twice");
        let mut g = sample();
        let mut other = g.validators[0].clone();
        other.bls_public_key = format!("0x{}", "cd".repeat(48));
        g.validators.push(other);
        bad(g.clone(), "has no blsPop");
        for v in &mut g.validators {
            v.bls_pop = Some("0x12".into());
        }
        bad(g.clone(), "expected 96");
        for v in &mut g.validators {
            v.bls_pop = Some(format!("0x{}", "ef".repeat(96)));
        }
        g.check().unwrap();
        let mut g = sample();
        g.accounts.push(GenesisAccount {
            address: Address([2; 32]).to_string(),
            balance: u128::MAX.to_string(),
        });
        bad(g, "overflows");

        // Shards: a count in range, validators on existing shards, a committee on every shard,
        // proofs of possession wherever a shard has more than one validator.
        let mut g = sample();
        g.num_shards = 0;
        bad(g.clone(), "between 1 and 64");
        g.num_shards = MAX_SHARDS + 1;
        bad(g, "between 1 and 64");
        let mut g = sample();
        g.num_shards = 2;
        bad(g.clone(), "shard 1 has no validator");
        let mut other = g.validators[0].clone();
        other.bls_public_key = format!("0x{}", "cd".repeat(48));
        other.shard = 2;
        g.validators.push(other);
        bad(g.clone(), "sits on shard 2");
        g.validators[1].shard = 1;
        g.check()
            .expect("one validator on each shard needs no proof of possession");
        let json = g.to_json();
        assert!(json.contains("\"shard\": 1"), "{json}");
        assert_eq!(serde_json::from_str::<Genesis>(&json).unwrap(), g);
        // Each shard's genesis state holds the accounts whose home shard it is.
        let mut g2 = g.clone();
        g2.accounts = (0..8u8)
            .map(|i| GenesisAccount {
                address: Address([i; 32]).to_string(),
                balance: "5".into(),
            })
            .collect();
        let on = |s| {
            g2.accounts_on(s)
                .unwrap()
                .into_iter()
                .map(|(a, _)| a)
                .collect::<Vec<_>>()
        };
        let (zero, one) = (on(0), on(1));
        assert_eq!(zero.len() + one.len(), 8);
        assert!(zero.iter().all(|a| a.home_shard(2) == 0) && one.iter().all(|a| a.home_shard(2) == 1));
        assert!(!zero.is_empty() && !one.is_empty());
        assert_eq!(g2.spec_of(1).rules.shard, 1);
        assert_ne!(g2.header_of(0, Hash::ZERO).hash(), g2.header_of(1, Hash::ZERO).hash());

        std::fs::write(&path, "{\"chainId\": 7, \"bogus\": 1}").unwrap();
        let e = Genesis::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("unknown field `bogus`") && e.contains("line 1"), "{e}");
        std::fs::write(&path, &sample().to_json()[..40]).unwrap();
        assert!(matches!(Genesis::from_file(&path), Err(GenesisError::Json { .. })));
        assert!(matches!(
            Genesis::from_file(dir.path().join("missing.json")),
            Err(GenesisError::Io { .. })
        ));
    }
}
