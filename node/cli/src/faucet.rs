//! `tutti dev`'s faucet: the RPC method `dev_faucet`, which gives browser wallets tokens. Dev-only,
//! so it lives with `tutti dev` and not in the node library.

use std::sync::{Arc, Mutex};

use ed25519_dalek::SigningKey;
use jsonrpsee::{RpcModule, types::ErrorObjectOwned};
use parity_scale_codec::Encode;
use tutti_chain::{MempoolError, TxError};
use tutti_node::{Shards, SubmitError, dev::dev_key, rpc::node_error};
use tutti_primitives::{Action, Address, Amount, PublicKey, Transaction};
use tutti_rpc::errors::{self, error, invalid_params};

/// The dev account the faucet pays from.
pub const FAUCET_ACCOUNT: u32 = 9;
/// What one faucet request pays: 1 000 tokens.
pub const FAUCET_AMOUNT: Amount = 1_000 * 10u128.pow(18);
/// The faucet only tops up accounts holding less than this: 10 000 tokens.
pub const FAUCET_CAP: Amount = 10_000 * 10u128.pow(18);

/// The dev chain's faucet, as the RPC method `dev_faucet(address) -> transaction hash`: a transfer
/// of [`FAUCET_AMOUNT`] from dev account [`FAUCET_ACCOUNT`] to an account holding less than
/// [`FAUCET_CAP`] (on any shard: the transfer crosses shards when it must). For `tutti dev`
/// only: a new browser wallet gets tokens to play with.
pub fn faucet_module(shards: Arc<Shards>) -> RpcModule<Faucet> {
    let mut m = RpcModule::new(Faucet {
        shards,
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
    shards: Arc<Shards>,
    key: SigningKey,
    next_nonce: Mutex<Option<u64>>,
}

impl Faucet {
    fn drip(&self, to: &Address) -> Result<String, ErrorObjectOwned> {
        let read = |a: &Address| {
            let node = self
                .shards
                .home(a)
                .map_err(|e| error(errors::WRONG_SHARD, e.to_string()))?;
            let chain = node.chain();
            chain.account(a, chain.head().header.height).map_err(node_error)
        };
        let balance = read(to)?.balance;
        if balance >= FAUCET_CAP {
            return Err(error(
                errors::POOL_REFUSED,
                format!("{to} already holds {balance} units; the faucet only tops up accounts below {FAUCET_CAP}"),
            ));
        }
        let from = Address::from_public_key(&self.key.verifying_key().to_bytes());
        let node = self
            .shards
            .home(&from)
            .map_err(|e| error(errors::WRONG_SHARD, e.to_string()))?;
        let mut next = self.next_nonce.lock().unwrap_or_else(|p| p.into_inner());
        // The chain's nonce does not count pending transfers, so the faucet remembers its own; when
        // the two disagree (a transfer dropped, a restart) it starts again from the chain's.
        for attempt in 0..2 {
            let nonce = match *next {
                Some(n) if attempt == 0 => n,
                _ => read(&from)?.nonce,
            };
            let tx = Transaction {
                chain_id: node.config().genesis.chain_id,
                signer: PublicKey(self.key.verifying_key().to_bytes()),
                nonce,
                gas_limit: node.runtime().schedule().inclusion_cost(200),
                gas_price: 1,
                action: Action::Transfer {
                    to: *to,
                    amount: FAUCET_AMOUNT,
                },
            }
            .sign(&self.key);
            match node.submit_raw(&tx.encode()) {
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
