//! The development chain: well-known keys (never use them for anything of value), its genesis,
//! and the faucet that gives browser wallets tokens.

use std::sync::{Arc, Mutex};

use ed25519_dalek::SigningKey;
use jsonrpsee::{RpcModule, types::ErrorObjectOwned};
use parity_scale_codec::Encode;
use tutti_chain::{
    Genesis, MempoolError, TxError,
    genesis::{GenesisAccount, GenesisParams, GenesisValidator},
};
use tutti_consensus::bls::SecretKey;
use tutti_primitives::{Action, Address, Amount, PublicKey, Transaction};
use tutti_rpc::errors::{self, error, invalid_params};

use crate::{Node, SubmitError, rpc::node_error};

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

/// The dev validator's BLS key.
pub fn dev_validator() -> SecretKey {
    SecretKey::from_seed(&blake3::derive_key("tutti dev validator v1", &[]))
}

/// The dev chain's genesis: [`DEV_ACCOUNTS`] funded accounts, one validator.
pub fn dev_genesis() -> Genesis {
    Genesis {
        chain_id: DEV_CHAIN_ID,
        num_shards: 1,
        timestamp_ms: DEV_GENESIS_MS,
        accounts: (0..DEV_ACCOUNTS)
            .map(|i| GenesisAccount {
                address: dev_address(i).to_string(),
                balance: DEV_BALANCE.to_string(),
            })
            .collect(),
        validators: vec![GenesisValidator {
            bls_public_key: format!("0x{}", hex::encode(dev_validator().public_key().to_bytes())),
            stake: "1000000".into(),
            bls_pop: None,
        }],
        params: GenesisParams::default(),
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
            stake: "1000000".into(),
            bls_pop: Some(format!("0x{}", hex::encode(k.prove_possession().to_bytes()))),
        })
        .collect();
    g
}

/// The dev account the faucet pays from.
pub const FAUCET_ACCOUNT: u32 = 9;
/// What one faucet request pays: 1 000 tokens.
pub const FAUCET_AMOUNT: Amount = 1_000 * 10u128.pow(18);
/// The faucet only tops up accounts holding less than this: 10 000 tokens.
pub const FAUCET_CAP: Amount = 10_000 * 10u128.pow(18);

/// The dev chain's faucet, as the RPC method `dev_faucet(address) -> transaction hash`: a transfer
/// of [`FAUCET_AMOUNT`] from dev account [`FAUCET_ACCOUNT`] to an account holding less than
/// [`FAUCET_CAP`]. For `tutti dev` only: a new browser wallet gets tokens to play with.
pub fn faucet_module(node: Arc<Node>) -> RpcModule<Faucet> {
    let mut m = RpcModule::new(Faucet {
        node,
        key: dev_key(FAUCET_ACCOUNT),
        next_nonce: Mutex::new(None),
    });
    m.register_blocking_method("dev_faucet", |params, faucet, _| {
        let (to,): (String,) = params.parse()?;
        let to = tutti_rpc::types::parse_address(&to).map_err(invalid_params)?;
        faucet.drip(&to)
    })
    .expect("dev_faucet is registered once");
    m
}

/// State of [`faucet_module`].
pub struct Faucet {
    node: Arc<Node>,
    key: SigningKey,
    next_nonce: Mutex<Option<u64>>,
}

impl Faucet {
    fn drip(&self, to: &Address) -> Result<String, ErrorObjectOwned> {
        let chain = self.node.chain();
        let head = chain.head().header.height;
        let read = |a: &Address| chain.account(a, head).map_err(node_error);
        let balance = read(to)?.balance;
        if balance >= FAUCET_CAP {
            return Err(error(
                errors::POOL_REFUSED,
                format!("{to} already holds {balance} units; the faucet only tops up accounts below {FAUCET_CAP}"),
            ));
        }
        let from = Address::from_public_key(&self.key.verifying_key().to_bytes());
        let mut next = self.next_nonce.lock().unwrap_or_else(|p| p.into_inner());
        // The chain's nonce does not count pending transfers, so the faucet remembers its own; when
        // the two disagree (a transfer dropped, a restart) it starts again from the chain's.
        for attempt in 0..2 {
            let nonce = match *next {
                Some(n) if attempt == 0 => n,
                _ => read(&from)?.nonce,
            };
            let tx = Transaction {
                chain_id: self.node.config().genesis.chain_id,
                signer: PublicKey(self.key.verifying_key().to_bytes()),
                nonce,
                gas_limit: self.node.runtime().schedule().inclusion_cost(200),
                gas_price: 1,
                action: Action::Transfer {
                    to: *to,
                    amount: FAUCET_AMOUNT,
                },
            }
            .sign(&self.key);
            match self.node.submit_raw(&tx.encode()) {
                Ok(hash) => {
                    *next = Some(nonce + 1);
                    return Ok(hash.to_string());
                }
                Err(SubmitError::Invalid(TxError::NonceTooLow { .. }))
                | Err(SubmitError::Pool(MempoolError::NonceGap { .. }))
                    if attempt == 0 =>
                {
                    *next = None;
                }
                Err(e) => {
                    return Err(error(
                        errors::POOL_REFUSED,
                        format!("the faucet transfer was refused: {e}"),
                    ));
                }
            }
        }
        Err(error(
            errors::POOL_REFUSED,
            "the faucet could not find its nonce; try again",
        ))
    }
}
