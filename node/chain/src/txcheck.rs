//! Stateless and stateful transaction checks, shared by the mempool and block execution.
//!
//! Rules, in the order they are checked (cheapest first, signature before anything that needs
//! state): size, gas limit bounds, gas price floor, chain id, ed25519 signature (the rule of
//! [`tutti_primitives::tx::verify_ed25519`]); then against the sender's account: nonce (not below
//! the account nonce) and balance (value + gas limit x gas price, checked arithmetic).
//!
//! Signatures can be checked in batches ([`verify_signatures`]): one multi-scalar multiplication
//! for the whole batch, about 2.5x cheaper per signature than one at a time from 64 signatures
//! up, with exactly the answers single checks give.

use tutti_primitives::{Action, Amount, ChainId, Gas, Nonce, ShardId, SignedTransaction, codec::Decode};

use tutti_runtime::gas::{GasSchedule, HostCost};

use crate::account::Account;

/// Limits a transaction must respect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxRules {
    /// The chain's id.
    pub chain_id: ChainId,
    /// Largest encoded transaction, bytes (a deploy carries its code).
    pub max_tx_bytes: usize,
    /// Most gas one transaction may buy.
    pub max_gas: Gas,
    /// The inclusion cost every transaction must at least buy (`base + per_byte * encoded size`;
    /// the runtime's gas schedule).
    pub inclusion: HostCost,
    /// Lowest accepted gas price.
    pub min_gas_price: Amount,
    /// This shard: a transaction is accepted only on its signer's home shard.
    pub shard: ShardId,
    /// How many shards the chain has.
    pub num_shards: u32,
}

impl TxRules {
    /// Defaults for a chain: 2.5 MiB transactions (a 2 MiB contract plus arguments), 10 G gas
    /// (about 1 s of execution), at least the inclusion cost of the gas schedule, price at least 1.
    pub fn new(chain_id: ChainId) -> Self {
        TxRules {
            chain_id,
            max_tx_bytes: 2 * 1024 * 1024 + 512 * 1024,
            max_gas: 10_000_000_000,
            inclusion: GasSchedule::default().transaction,
            min_gas_price: 1,
            shard: 0,
            num_shards: 1,
        }
    }

    /// The same rules on shard `shard` of `num_shards`.
    pub fn on_shard(self, shard: ShardId, num_shards: u32) -> Self {
        TxRules {
            shard,
            num_shards,
            ..self
        }
    }
}

/// Largest arguments of a call transaction: what a contract may attach to a promise
/// (`caps::MAX_ARGS`, 256 KiB). A call's arguments travel in its receipt, which may cross to
/// another shard, and a receipt batch carries 3 MiB at most; only a deploy carries more (its
/// code, which stays on its shard).
pub const MAX_CALL_ARGS: usize = tutti_runtime::host::caps::MAX_ARGS;

/// Why a transaction was refused. Each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The bytes are not a SCALE-encoded signed transaction.
    #[error("transaction bytes do not decode: {0}")]
    Malformed(String),
    /// Over the size cap.
    #[error("transaction is {size} bytes, over the limit of {max}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// A call's arguments are over [`MAX_CALL_ARGS`].
    #[error(
        "the call's arguments take {size} bytes, over the limit of {max}; pass large data in storage or in several calls"
    )]
    ArgsTooLarge {
        /// Their size.
        size: usize,
        /// The cap.
        max: usize,
    },
    /// Gas limit outside the bounds.
    #[error("gas limit {got} is outside [{min}, {max}] (the minimum is this transaction's inclusion cost)")]
    GasLimit {
        /// Requested.
        got: Gas,
        /// Lower bound.
        min: Gas,
        /// Upper bound.
        max: Gas,
    },
    /// Gas price below the floor.
    #[error("gas price {got} is below the minimum {min}")]
    GasPriceTooLow {
        /// Offered.
        got: Amount,
        /// The floor.
        min: Amount,
    },
    /// Signed for another chain.
    #[error("chain id {got} does not match this chain ({expected})")]
    WrongChain {
        /// In the transaction.
        got: ChainId,
        /// This chain.
        expected: ChainId,
    },
    /// The signer's account lives on another shard.
    #[error("the signer's account lives on shard {home}, not on this shard {shard}; send it to a node of shard {home}")]
    WrongShard {
        /// The signer's home shard.
        home: ShardId,
        /// This shard.
        shard: ShardId,
    },
    /// Signature or public key refused.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// Already used nonce (a replay, or an old transaction).
    #[error("nonce {got} is below the account nonce {expected} (already used)")]
    NonceTooLow {
        /// In the transaction.
        got: Nonce,
        /// The account's next nonce.
        expected: Nonce,
    },
    /// Cannot pay value + gas.
    #[error("balance {have} cannot pay value + gas limit x gas price = {need}")]
    InsufficientBalance {
        /// Required.
        need: Amount,
        /// Available.
        have: Amount,
    },
    /// A nonce past the account nonce: an earlier transaction of the sender has not applied
    /// yet (in a block, it waits for a later one).
    #[error("nonce {got} is above the account nonce {expected}: transaction {expected} of this sender must come first")]
    NonceTooHigh {
        /// In the transaction.
        got: Nonce,
        /// The account's next nonce.
        expected: Nonce,
    },
    /// The amount overflows.
    #[error("value + gas limit x gas price overflows")]
    CostOverflow,
    /// The block's receipt budget is already spoken for: the transaction waits for a later
    /// block (it stays in the pool).
    #[error("the block's receipt budget ({budget}) is full; the transaction waits for a later block")]
    Congested {
        /// Receipts per block.
        budget: usize,
    },
    /// The block already sends a destination as many receipts as one batch may carry: the
    /// transaction waits for a later block (it stays in the pool).
    #[error(
        "the block's receipts for shard {shard} reach what one batch may carry ({limit} receipts, or its bytes); the transaction waits for a later block"
    )]
    OutboxFull {
        /// The destination.
        shard: ShardId,
        /// Receipts per batch.
        limit: usize,
    },
    /// In a block, after the block's earlier transactions: the sender cannot pay value + gas limit
    /// x gas price now (its prepaid gas comes back only with its refunds); it waits.
    #[error(
        "at this point of the block the balance {have} cannot pay value + gas limit x gas price = {need}; it waits for a later block"
    )]
    CannotPayYet {
        /// Required.
        need: Amount,
        /// Available.
        have: Amount,
    },
    /// The block's body has no room left for it (it waits for a later block).
    #[error("the block has {left} bytes left for transactions and this one takes {bytes}; it waits for a later block")]
    BlockFull {
        /// Its encoded size.
        bytes: usize,
        /// Bytes left in the block.
        left: usize,
    },
    /// A staking action from an account that does not live on the beacon chain.
    #[error(
        "staking transactions run on the beacon chain (shard 0), and this signer's account lives on shard {shard}; stake from an account on shard 0"
    )]
    StakingOffBeacon {
        /// The signer's home shard.
        shard: ShardId,
    },
    /// A staking action that breaks a staking rule.
    #[error("{0}")]
    Staking(#[from] crate::staking::StakingError),
    /// The receiver's shard is congested (the receipts this shard sent it pile up unconsumed):
    /// the transaction waits in the pool, or is refused at submission, until it drains.
    #[error("shard {shard} is congested (too many receipts waiting for it); try again once it drains")]
    ShardCongested {
        /// The receiver's shard.
        shard: ShardId,
    },
}

impl TxError {
    /// Whether a transaction skipped for this reason may still apply in a later block (it
    /// stays in the pool) rather than being dropped.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TxError::GasLimit { .. }
                | TxError::Congested { .. }
                | TxError::ShardCongested { .. }
                | TxError::OutboxFull { .. }
                | TxError::BlockFull { .. }
                | TxError::CannotPayYet { .. }
                | TxError::NonceTooHigh { .. }
        )
    }
}

/// The most a transaction can cost its sender: attached value + gas limit x gas price.
pub fn max_cost(stx: &SignedTransaction) -> Result<Amount, TxError> {
    let value = match &stx.tx.action {
        Action::Transfer { amount, .. } => *amount,
        Action::Deploy { value, .. } | Action::Call { value, .. } => *value,
        Action::Stake(a) => a.locks(),
    };
    u128::from(stx.tx.gas_limit)
        .checked_mul(stx.tx.gas_price)
        .and_then(|g| g.checked_add(value))
        .ok_or(TxError::CostOverflow)
}

/// Decodes raw bytes (as received over RPC or the network) into a signed transaction, refusing
/// oversize input before decoding and trailing bytes after.
pub fn decode(bytes: &[u8], rules: &TxRules) -> Result<SignedTransaction, TxError> {
    if bytes.len() > rules.max_tx_bytes {
        return Err(TxError::TooLarge {
            size: bytes.len(),
            max: rules.max_tx_bytes,
        });
    }
    let mut slice = bytes;
    let stx = SignedTransaction::decode(&mut slice).map_err(|e| TxError::Malformed(e.to_string()))?;
    if !slice.is_empty() {
        return Err(TxError::Malformed(format!("{} trailing bytes", slice.len())));
    }
    Ok(stx)
}

/// Checks the signatures of `txs` under the transaction signature rule, in one batch: the
/// result for each is what [`SignedTransaction::verify`] says of it alone. A batch that fails
/// is checked again one signature at a time to find the bad ones.
pub fn verify_signatures(txs: &[&SignedTransaction]) -> Vec<Result<(), TxError>> {
    use tutti_primitives::tx::check_signature_encodings;
    let bad = |e: tutti_primitives::tx::SignatureError| Err(TxError::BadSignature(e.to_string()));
    let mut out: Vec<Result<(), TxError>> = txs
        .iter()
        .map(|t| check_signature_encodings(&t.tx.signer.0, &t.signature.0).or_else(bad))
        .collect();
    let hashes: Vec<_> = txs.iter().map(|t| t.hash()).collect();
    let candidates: Vec<usize> = (0..txs.len()).filter(|i| out[*i].is_ok()).collect();
    if candidates.len() > 1 {
        let mut batch = ed25519_zebra::batch::Verifier::new();
        for &i in &candidates {
            let t = txs[i];
            batch.queue((
                ed25519_zebra::VerificationKeyBytes::from(t.tx.signer.0),
                ed25519_zebra::Signature::from_bytes(&t.signature.0),
                hashes[i].as_bytes(),
            ));
        }
        // The random coefficients only decide how unlikely a false acceptance is (2^-128);
        // under the cofactored rule the answer does not depend on them.
        if batch.verify(rand::thread_rng()).is_ok() {
            return out;
        }
    }
    for i in candidates {
        let t = txs[i];
        out[i] =
            tutti_primitives::tx::verify_ed25519(&t.tx.signer.0, hashes[i].as_bytes(), &t.signature.0).or_else(bad);
    }
    out
}

/// Checks that need no state. `encoded_len` is the transaction's encoded size.
pub fn check_stateless(stx: &SignedTransaction, encoded_len: usize, rules: &TxRules) -> Result<(), TxError> {
    check_rules(stx, encoded_len, rules)?;
    stx.verify().map_err(|e| TxError::BadSignature(e.to_string()))
}

/// [`check_stateless`] without the signature (for transactions whose signature this node
/// already verified when it admitted them to its pool).
pub fn check_rules(stx: &SignedTransaction, encoded_len: usize, rules: &TxRules) -> Result<(), TxError> {
    if encoded_len > rules.max_tx_bytes {
        return Err(TxError::TooLarge {
            size: encoded_len,
            max: rules.max_tx_bytes,
        });
    }
    let tx = &stx.tx;
    let min_gas = rules.inclusion.of(encoded_len);
    if tx.gas_limit < min_gas || tx.gas_limit > rules.max_gas {
        return Err(TxError::GasLimit {
            got: tx.gas_limit,
            min: min_gas,
            max: rules.max_gas,
        });
    }
    if tx.gas_price < rules.min_gas_price {
        return Err(TxError::GasPriceTooLow {
            got: tx.gas_price,
            min: rules.min_gas_price,
        });
    }
    if tx.chain_id != rules.chain_id {
        return Err(TxError::WrongChain {
            got: tx.chain_id,
            expected: rules.chain_id,
        });
    }
    if let Action::Call { args, .. } = &tx.action
        && args.len() > MAX_CALL_ARGS
    {
        return Err(TxError::ArgsTooLarge {
            size: args.len(),
            max: MAX_CALL_ARGS,
        });
    }
    let home = if rules.num_shards > 1 {
        tx.sender().home_shard(rules.num_shards)
    } else {
        0
    };
    if home != rules.shard {
        return Err(TxError::WrongShard {
            home,
            shard: rules.shard,
        });
    }
    if let Action::Stake(action) = &tx.action {
        if home != 0 {
            return Err(TxError::StakingOffBeacon { shard: home });
        }
        crate::staking::check_action(action)?;
    }
    max_cost(stx)?;
    Ok(())
}

/// Checks against the sender's account. A nonce above the account nonce passes (the mempool holds
/// it until the gap fills); block execution requires it to be exactly the account nonce.
pub fn check_account(stx: &SignedTransaction, account: &Account) -> Result<(), TxError> {
    if stx.tx.nonce < account.nonce {
        return Err(TxError::NonceTooLow {
            got: stx.tx.nonce,
            expected: account.nonce,
        });
    }
    let need = max_cost(stx)?;
    if account.balance < need {
        return Err(TxError::InsufficientBalance {
            need,
            have: account.balance,
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use tutti_primitives::{Address, PublicKey, Transaction, codec::Encode};

    pub(crate) fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    pub(crate) fn tx(k: &SigningKey, nonce: Nonce, price: Amount, amount: Amount) -> SignedTransaction {
        Transaction {
            chain_id: 7,
            signer: PublicKey(k.verifying_key().to_bytes()),
            nonce,
            gas_limit: 2_000_000,
            gas_price: price,
            action: Action::Transfer {
                to: Address([9; 32]),
                amount,
            },
        }
        .sign(k)
    }

    /// A call's arguments travel in its receipt, maybe to another shard: at most what a promise
    /// may carry. A deploy's code is not bounded by it (it stays on its shard).
    #[test]
    fn call_arguments_are_bounded() {
        let k = key(1);
        let call = |n: usize| {
            Transaction {
                chain_id: 7,
                signer: PublicKey(k.verifying_key().to_bytes()),
                nonce: 0,
                gas_limit: 1_000_000_000,
                gas_price: 1,
                action: Action::Call {
                    contract: Address([9; 32]),
                    method: "m".into(),
                    args: vec![0; n],
                    value: 0,
                },
            }
            .sign(&k)
        };
        let rules = TxRules::new(7);
        let ok = call(MAX_CALL_ARGS);
        check_stateless(&ok, ok.encoded_size(), &rules).unwrap();
        let big = call(MAX_CALL_ARGS + 1);
        assert_eq!(
            check_stateless(&big, big.encoded_size(), &rules),
            Err(TxError::ArgsTooLarge {
                size: MAX_CALL_ARGS + 1,
                max: MAX_CALL_ARGS
            })
        );
    }

    /// Batches answer what single checks answer, for every mix of good and bad signatures.
    #[test]
    fn batched_signature_checks_agree_with_single_checks() {
        let good: Vec<_> = (0..40u8).map(|i| tx(&key(1 + i % 7), u64::from(i), 1, 5)).collect();
        let mut tampered = good[3].clone();
        tampered.tx.nonce += 100;
        let mut weak_key = good[4].clone();
        weak_key.tx.signer.0 = [0; 32];
        weak_key.tx.signer.0[0] = 1;
        let mut weak_nonce = good[5].clone();
        weak_nonce.signature.0[..32].copy_from_slice(&[0; 32]);
        let mut big_s = good[6].clone();
        big_s.signature.0[63] |= 0xf0;
        let mut not_a_point = good[7].clone();
        not_a_point.signature.0[..32].copy_from_slice(&[2; 32]);
        let bad = [tampered, weak_key, weak_nonce, big_s, not_a_point];
        for b in &bad {
            assert!(b.verify().is_err());
        }
        let all_good: Vec<&SignedTransaction> = good.iter().collect();
        assert!(verify_signatures(&all_good).iter().all(|r| r.is_ok()));
        assert!(verify_signatures(&[]).is_empty());
        // Each bad one alone, at the front, in the middle, at the end; then all of them.
        for b in &bad {
            for at in [0, 17, 40] {
                let mut mix = all_good.clone();
                mix.insert(at, b);
                let got = verify_signatures(&mix);
                let want: Vec<_> = mix
                    .iter()
                    .map(|t| t.verify().map_err(|e| TxError::BadSignature(e.to_string())))
                    .collect();
                assert_eq!(got, want);
                assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1);
            }
        }
        let mut mix = all_good.clone();
        for (i, b) in bad.iter().enumerate() {
            mix.insert(i * 9, b);
        }
        assert_eq!(verify_signatures(&mix).iter().filter(|r| r.is_err()).count(), bad.len());
        assert_eq!(verify_signatures(&[&bad[0]]).len(), 1);
        assert!(verify_signatures(&[&bad[0]])[0].is_err());
    }

    #[test]
    fn each_rule_refuses_with_its_own_error() {
        let rules = TxRules::new(7);
        let k = key(1);
        let good = tx(&k, 0, 1, 5);
        let len = good.encode().len();
        assert_eq!(check_stateless(&good, len, &rules), Ok(()));

        let mut t = good.clone();
        t.tx.gas_limit = 10;
        assert!(matches!(
            check_stateless(&t, len, &rules),
            Err(TxError::GasLimit { got: 10, .. })
        ));
        t.tx.gas_limit = u64::MAX;
        assert!(matches!(
            check_stateless(&t, len, &rules),
            Err(TxError::GasLimit { .. })
        ));
        let mut t = good.clone();
        t.tx.gas_price = 0;
        assert!(matches!(
            check_stateless(&t, len, &rules),
            Err(TxError::GasPriceTooLow { .. })
        ));
        let t = Transaction {
            chain_id: 8,
            ..good.tx.clone()
        }
        .sign(&k);
        assert_eq!(
            check_stateless(&t, len, &rules),
            Err(TxError::WrongChain { got: 8, expected: 7 })
        );
        let mut t = good.clone();
        t.tx.nonce = 1; // signature no longer matches
        assert!(matches!(
            check_stateless(&t, len, &rules),
            Err(TxError::BadSignature(_))
        ));
        let t = Transaction {
            gas_price: u128::MAX,
            ..good.tx.clone()
        }
        .sign(&k);
        assert_eq!(check_stateless(&t, len, &rules), Err(TxError::CostOverflow));
        assert!(matches!(
            check_stateless(&good, rules.max_tx_bytes + 1, &rules),
            Err(TxError::TooLarge { .. })
        ));
        // On a chain of 4 shards, only the signer's home shard takes it, and the error names it.
        let home = good.tx.sender().home_shard(4);
        let here = rules.clone().on_shard(home, 4);
        assert_eq!(check_stateless(&good, len, &here), Ok(()));
        let elsewhere = rules.clone().on_shard((home + 1) % 4, 4);
        let e = check_stateless(&good, len, &elsewhere).unwrap_err();
        assert_eq!(
            e,
            TxError::WrongShard {
                home,
                shard: (home + 1) % 4
            }
        );
        assert!(
            e.to_string().contains(&format!("send it to a node of shard {home}")),
            "{e}"
        );

        let acc = Account {
            balance: 2_000_004,
            nonce: 3,
            code_hash: None,
        };
        assert_eq!(
            check_account(&tx(&k, 2, 1, 5), &acc),
            Err(TxError::NonceTooLow { got: 2, expected: 3 })
        );
        assert_eq!(
            check_account(&tx(&k, 3, 1, 5), &acc),
            Err(TxError::InsufficientBalance {
                need: 2_000_005,
                have: 2_000_004
            })
        );
        assert_eq!(
            check_account(&tx(&k, 9, 1, 4), &acc),
            Ok(()),
            "a future nonce passes the account check"
        );
        assert!(
            TxError::NonceTooLow { got: 2, expected: 3 }
                .to_string()
                .contains("already used")
        );
    }

    #[test]
    fn raw_bytes_are_bounded_and_strict() {
        let rules = TxRules::new(7);
        let enc = tx(&key(1), 0, 1, 5).encode();
        assert!(decode(&enc, &rules).is_ok());
        assert!(matches!(
            decode(&enc[..enc.len() - 1], &rules),
            Err(TxError::Malformed(_))
        ));
        let mut trailing = enc.clone();
        trailing.push(0);
        assert!(matches!(decode(&trailing, &rules), Err(TxError::Malformed(m)) if m.contains("trailing")));
        assert!(matches!(decode(b"garbage", &rules), Err(TxError::Malformed(_))));
        assert!(matches!(
            decode(&vec![0; rules.max_tx_bytes + 1], &rules),
            Err(TxError::TooLarge { .. })
        ));
        assert!(matches!(decode(&[], &rules), Err(TxError::Malformed(_))));
    }
}
