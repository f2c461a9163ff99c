//! Genesis: the chain's first state and block, read from a JSON file.
//!
//! ```json
//! {
//!   "chainId": 7357,
//!   "numShards": 1,
//!   "timestampMs": 1763683200000,
//!   "accounts": [{ "address": "tt1...", "balance": "1000000000000000000000000" }],
//!   "validators": [{ "blsPublicKey": "0x...96 hex digits...", "stake": "1000000" }],
//!   "params": { "blockGasLimit": 100000000000, "maxReceiptsPerBlock": 50000 }
//! }
//! ```
//!
//! Amounts are decimal strings (they exceed what JSON numbers hold exactly). Unknown fields are
//! refused, so a typo does not silently give a different chain.

use std::{collections::BTreeSet, path::Path};

use serde::{Deserialize, Serialize};
use tutti_primitives::{
    Account, Address, Amount, BlockHeader, ChainId, Gas, Hash, tagged_hash, tags::GENESIS_RANDOMNESS,
};

use crate::{ShardSpec, TxRules};

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
    /// Proof of possession of the key (its BLS signature over itself), `0x` + 192 hex digits.
    /// Required for committees of more than one, where keys are aggregated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bls_pop: Option<String>,
}

/// Chain parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GenesisParams {
    /// Most gas a block's transactions may buy.
    pub block_gas_limit: Gas,
    /// Most receipts executed per block (the rest wait in the delayed queue).
    pub max_receipts_per_block: usize,
}

impl Default for GenesisParams {
    /// 100 G gas (about 10 s of single-core execution at the schedule's 0.1 ns per gas: room for
    /// 66 000 transfers), 50 000 receipts (a same-shard transfer is one, so a block can carry
    /// 50 000 transfers before congestion control holds transactions back).
    fn default() -> Self {
        GenesisParams {
            block_gas_limit: 100_000_000_000,
            max_receipts_per_block: 50_000,
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
        if self.num_shards != 1 {
            return Err(GenesisError::Invalid(format!(
                "numShards is {}; this node runs a single-shard chain (numShards 1) until sharding lands",
                self.num_shards
            )));
        }
        if self.validators.is_empty() {
            return Err(GenesisError::Invalid("validators is empty; a chain needs one".into()));
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
            if stake == 0 || stake > u64::MAX as Amount {
                return Err(GenesisError::Invalid(format!(
                    "stake `{}` must be between 1 and {} (it is the validator's voting power)",
                    v.stake,
                    u64::MAX
                )));
            }
            if self.validators.len() > 1 {
                self.validator_pop(v)?;
            }
        }
        if self.params.max_receipts_per_block == 0 {
            return Err(GenesisError::Invalid(
                "params.maxReceiptsPerBlock must be at least 1".into(),
            ));
        }
        Ok(())
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

    /// The validators' voting powers (their stakes), in committee order.
    pub fn powers(&self) -> Result<Vec<u64>, GenesisError> {
        self.validators
            .iter()
            .map(|v| Ok(amount(&v.stake, "stake")? as u64))
            .collect()
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

    /// The total supply at genesis.
    pub fn supply(&self) -> Result<Amount, GenesisError> {
        Ok(self.accounts()?.iter().map(|(_, a)| a.balance).sum())
    }

    /// The execution parameters of shard 0.
    pub fn spec(&self) -> ShardSpec {
        ShardSpec {
            shard_id: 0,
            num_shards: self.num_shards,
            rules: TxRules::new(self.chain_id),
            max_receipts_per_block: self.params.max_receipts_per_block,
            block_gas_limit: self.params.block_gas_limit,
        }
    }

    /// The genesis header over the genesis state root.
    pub fn header(&self, state_root: Hash) -> BlockHeader {
        BlockHeader {
            chain_id: self.chain_id,
            shard_id: 0,
            height: 0,
            epoch: 0,
            view: 0,
            parent_hash: Hash::ZERO,
            timestamp_ms: self.timestamp_ms,
            tx_root: Hash::ZERO,
            state_root,
            outgoing_receipts_root: Hash::ZERO,
            incoming_receipts_root: Hash::ZERO,
            gas_used: 0,
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
                bls_pop: None,
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
        bad(g, "must be between 1");
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
