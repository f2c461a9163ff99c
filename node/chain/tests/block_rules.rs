//! The block rules (`tutti_chain::block`): a block built on the head validates; every field a
//! proposer could forge is refused with the rule it breaks.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tutti_chain::{
    BatchError, BlockError, Chain, Genesis, MemStore, TxError,
    block::{self, Built},
    genesis::{GenesisAccount, GenesisParams, GenesisValidator},
};
use tutti_crypto::bls::SecretKey;
use tutti_primitives::{
    Action, Address, BlockHeader, CommitCertificate, Hash, PublicKey, Receipt, ReceiptBatch, ReceiptBody,
    SignedTransaction, Transaction,
};
use tutti_runtime::{Runtime, RuntimeConfig};

fn user(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn addr(k: &SigningKey) -> Address {
    Address::from_public_key(&k.verifying_key().to_bytes())
}

fn transfer(k: &SigningKey, nonce: u64, amount: u128) -> SignedTransaction {
    Transaction {
        chain_id: 7,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit: 2_000_000,
        gas_price: 1,
        action: Action::Transfer {
            to: addr(&user(2)),
            amount,
        },
    }
    .sign(k)
}

fn setup() -> (SecretKey, Runtime, Chain) {
    let key = SecretKey::from_seed(&[9; 32]);
    let g = Genesis {
        chain_id: 7,
        num_shards: 1,
        timestamp_ms: 1_000,
        accounts: vec![GenesisAccount {
            address: addr(&user(1)).to_string(),
            balance: "1000000000000000".into(),
        }],
        validators: vec![GenesisValidator {
            bls_public_key: format!("0x{}", hex::encode(key.public_key().to_bytes())),
            stake: "1".into(),
            shard: 0,
            bls_pop: None,
            operator: None,
        }],
        params: GenesisParams::default(),
    };
    let chain = Chain::open(Arc::new(MemStore::new()), &g).unwrap();
    (key, Runtime::new(RuntimeConfig::default()).unwrap(), chain)
}

#[test]
fn a_built_block_validates_and_forgeries_are_refused_by_rule() {
    let (key, runtime, chain) = setup();
    let txs = vec![transfer(&user(1), 0, 5), transfer(&user(1), 1, 6)];
    let Built { header, txs, .. } = block::build(
        &chain,
        &runtime,
        &key,
        txs,
        vec![],
        vec![],
        Default::default(),
        5_000,
        false,
        0,
        None,
    )
    .unwrap();
    assert_eq!(txs.len(), 2);
    let no_cert = |_: &BlockHeader, _: &CommitCertificate| Err("no committee signs here".to_string());
    let check = |h: &BlockHeader, txs: &[SignedTransaction], incoming: &[ReceiptBatch], now: Option<u64>| {
        block::validate(&chain, &runtime, h, txs, incoming, &[], now, |_| false, &no_cert)
    };
    let out = check(&header, &txs, &[], Some(5_000)).unwrap();
    assert_eq!(out.state_root, header.state_root);

    let forged = |f: &dyn Fn(&mut BlockHeader)| {
        let mut h = header.clone();
        f(&mut h);
        check(&h, &txs, &[], Some(5_000)).unwrap_err()
    };
    assert!(matches!(
        forged(&|h| h.parent_hash.0[0] ^= 1),
        BlockError::NotOnHead { .. }
    ));
    assert!(matches!(forged(&|h| h.height += 1), BlockError::NotOnHead { .. }));
    assert!(matches!(
        forged(&|h| h.chain_id = 8),
        BlockError::WrongPlace { chain_id: 8, .. }
    ));
    assert!(matches!(
        forged(&|h| h.shard_id = 1),
        BlockError::WrongPlace { shard: 1, .. }
    ));
    assert!(matches!(
        forged(&|h| h.epoch = 1),
        BlockError::WrongPlace { epoch: 1, .. }
    ));
    assert!(matches!(
        forged(&|h| h.timestamp_ms = 1_000),
        BlockError::TimestampNotAfterParent {
            got: 1_000,
            parent: 1_000
        }
    ));
    assert!(matches!(
        forged(&|h| h.timestamp_ms = 5_000 + block::MAX_CLOCK_DRIFT_MS + 1),
        BlockError::TimestampAhead { .. }
    ));
    assert!(matches!(forged(&|h| h.randomness.0[0] ^= 1), BlockError::BadRandomness));
    assert!(matches!(
        forged(&|h| h.proposer = [0; 48]),
        BlockError::BadKey {
            what: "proposer key",
            ..
        }
    ));
    let other = SecretKey::from_seed(&[10; 32]).public_key().to_bytes();
    assert!(matches!(forged(&|h| h.proposer = other), BlockError::BadRandomness));
    assert!(matches!(
        forged(&|h| h.state_root.0[0] ^= 1),
        BlockError::StateRoot { .. }
    ));
    assert!(matches!(forged(&|h| h.gas_used += 1), BlockError::GasUsed { .. }));
    // The published load is what the block left: sources trust it to stop sending.
    assert_eq!(header.congestion.consumed, vec![0]);
    assert!(matches!(
        forged(&|h| h.congestion.delayed += 1),
        BlockError::Congestion { .. }
    ));
    assert!(matches!(
        forged(&|h| h.congestion.consumed = vec![]),
        BlockError::Congestion { .. }
    ));
    assert!(matches!(
        forged(&|h| h.outgoing_receipts_root.0[0] ^= 1),
        BlockError::ReceiptsRoot { which: "outgoing", .. }
    ));
    assert!(matches!(
        forged(&|h| h.incoming_receipts_root.0[0] ^= 1),
        BlockError::ReceiptsRoot { which: "incoming", .. }
    ));

    // The body: a dropped transaction, a bad signature, a replay, receipts without a proof.
    assert!(matches!(
        check(&header, &txs[..1], &[], None).unwrap_err(),
        BlockError::TxRoot { .. }
    ));
    let mut bad = txs.clone();
    bad[1].signature.0[0] ^= 1;
    let mut h = header.clone();
    h.tx_root = tutti_chain::chain::tx_root(&bad);
    assert!(matches!(
        check(&h, &bad, &[], None).unwrap_err(),
        BlockError::BadTransaction {
            error: TxError::BadSignature(_),
            ..
        }
    ));
    let replay = vec![txs[0].clone(), txs[0].clone()];
    h.tx_root = tutti_chain::chain::tx_root(&replay);
    assert!(matches!(
        check(&h, &replay, &[], None).unwrap_err(),
        BlockError::Skipped {
            error: TxError::NonceTooLow { got: 0, expected: 1 },
            ..
        }
    ));
    let receipt = Receipt {
        id: Hash([1; 32]),
        source_shard: 1,
        dest_shard: 0,
        seq: 0,
        predecessor: Address::default(),
        receiver: addr(&user(1)),
        signer: Address::default(),
        gas_price: 0,
        body: ReceiptBody::Transfer { amount: 1 << 60 },
    };
    // Receipts enter only in a proven batch from another shard (a one-shard chain has none).
    let batch = ReceiptBatch {
        header: header.clone(),
        cert: CommitCertificate {
            view: 0,
            signature: [0; 96],
            signers: vec![1],
        },
        dest: 0,
        first_seq: 0,
        receipts: vec![receipt],
        path: vec![],
    };
    assert!(matches!(
        check(&header, &txs, std::slice::from_ref(&batch), None).unwrap_err(),
        BlockError::Incoming {
            index: 0,
            error: BatchError::BadSource { source_shard: 0, .. }
        }
    ));
    assert!(matches!(
        check(&header, &txs, &vec![batch; block::MAX_INCOMING_BATCHES + 1], None).unwrap_err(),
        BlockError::TooManyBatches { .. }
    ));

    // Nothing was written: the genuine block still validates.
    check(&header, &txs, &[], None).unwrap();
}

/// A deploy of almost the largest size a node admits (2.5 MiB), with gas for its inclusion only
/// (it fails out of gas before its code is read, and still takes its bytes in the block).
fn large_deploy(k: &SigningKey, nonce: u64) -> SignedTransaction {
    let rules = tutti_chain::TxRules::new(7);
    Transaction {
        chain_id: 7,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit: rules.inclusion.of(rules.max_tx_bytes) + 1_000_000,
        gas_price: 1,
        action: Action::Deploy {
            code: vec![nonce as u8; rules.max_tx_bytes - 1024],
            init_method: None,
            args: vec![],
            value: 0,
        },
    }
    .sign(k)
}

/// A block's body fits a consensus message: `build` takes the large transactions that fit
/// `MAX_BODY_BYTES` and leaves the rest, and a body over it is refused before anything runs.
#[test]
fn a_block_body_stays_within_its_byte_limit() {
    let (key, runtime, chain) = setup();
    let all: Vec<SignedTransaction> = (0..5).map(|n| large_deploy(&user(1), n)).collect();
    let built = block::build(
        &chain,
        &runtime,
        &key,
        all.clone(),
        vec![],
        vec![],
        Default::default(),
        5_000,
        false,
        0,
        None,
    )
    .unwrap();
    assert_eq!(built.txs.len(), 2, "two of 2.5 MiB fit 6 MiB");
    assert!(matches!(built.output.skipped[0].1, TxError::BlockFull { .. }));
    let bytes = block::body_bytes(&built.txs, &[], &[]);
    assert!(bytes <= block::MAX_BODY_BYTES, "{bytes}");
    assert!(
        built.output.skipped.iter().all(|(_, e)| e.is_retryable()),
        "{:?}",
        built.output.skipped
    );
    let no_cert = |_: &BlockHeader, _: &CommitCertificate| Err("no committee signs here".to_string());
    let check = |h: &BlockHeader, txs: &[SignedTransaction]| {
        block::validate(&chain, &runtime, h, txs, &[], &[], Some(5_000), |_| false, &no_cert)
    };
    check(&built.header, &built.txs).unwrap();

    // A proposer that takes three (7.5 MiB) breaks the rule, whatever its header says.
    let mut h = built.header.clone();
    h.tx_root = tutti_chain::chain::tx_root(&all[..3]);
    assert!(matches!(
        check(&h, &all[..3]).unwrap_err(),
        BlockError::TooLarge { bytes } if bytes > block::MAX_BODY_BYTES
    ));
}
