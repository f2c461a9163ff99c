//! A source shard serves a receipt batch long after the state of its block is pruned: with three
//! shards, a block that sends to one destination still proves the other destinations' leaves,
//! whose first positions come from the stream cursors of that height. A destination held back
//! past the source's state window must still get a batch whose proof holds.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tutti_chain::{Chain, Genesis, MemStore, StoredBlock, block, foreign::Consumed, verify_batch};
use tutti_crypto::bls::SecretKey;
use tutti_primitives::{Action, Address, BlockHeader, CommitCertificate, PublicKey, Transaction};
use tutti_runtime::{Runtime, RuntimeConfig};

const SHARDS: u32 = 3;

fn cert() -> CommitCertificate {
    CommitCertificate {
        view: 0,
        signature: [7; 96],
        signers: vec![1],
    }
}

fn accept(_: &BlockHeader, c: &CommitCertificate) -> Result<(), String> {
    if *c == cert() {
        Ok(())
    } else {
        Err("not the committee's".into())
    }
}

fn addr(k: &SigningKey) -> Address {
    Address::from_public_key(&k.verifying_key().to_bytes())
}

/// A key whose account lives on shard 0.
fn sender() -> SigningKey {
    (0..=255u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .find(|k| addr(k).home_shard(SHARDS) == 0)
        .expect("a key on shard 0")
}

fn on_shard(s: u32) -> Address {
    (0..=255u8)
        .map(|i| Address([i; 32]))
        .find(|a| a.home_shard(SHARDS) == s)
        .expect("an address on every shard")
}

#[test]
fn a_batch_is_proven_after_the_state_of_its_block_is_pruned() {
    let keys: Vec<SecretKey> = (0..SHARDS as u8).map(|i| SecretKey::from_seed(&[50 + i; 32])).collect();
    let genesis = Genesis {
        chain_id: 7,
        num_shards: SHARDS,
        timestamp_ms: 1_000,
        accounts: vec![tutti_chain::genesis::GenesisAccount {
            address: addr(&sender()).to_string(),
            balance: "1000000000000000000000".into(),
        }],
        validators: keys
            .iter()
            .enumerate()
            .map(|(s, k)| tutti_chain::genesis::GenesisValidator {
                bls_public_key: format!("0x{}", hex::encode(k.public_key().to_bytes())),
                stake: "1".into(),
                shard: s as u32,
                bls_pop: None,
                operator: None,
            })
            .collect(),
        params: Default::default(),
    };
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let source = Chain::open_shard(Arc::new(MemStore::new()), &genesis, 0).unwrap();
    source.set_state_window(Some(2));
    let mut nonce = 0;
    let mut block = |to: Option<u32>| {
        let txs = to
            .map(|s| {
                let tx = Transaction {
                    chain_id: 7,
                    signer: PublicKey(sender().verifying_key().to_bytes()),
                    nonce,
                    gas_limit: 2_000_000,
                    gas_price: 1,
                    action: Action::Transfer {
                        to: on_shard(s),
                        amount: 5,
                    },
                }
                .sign(&sender());
                nonce += 1;
                vec![tx]
            })
            .unwrap_or_default();
        let built = block::build(
            &source,
            &runtime,
            &keys[0],
            txs,
            vec![],
            vec![],
            Default::default(),
            2_000 + source.head().header.height,
            false,
            0,
            source.head().commit.clone(),
        )
        .unwrap();
        let mut out = built.output;
        let stored = StoredBlock {
            header: built.header,
            txs: built.txs,
            incoming: vec![],
            crosslinks: vec![],
            commit: Some(cert()),
        };
        source.commit(&stored, &mut out).unwrap();
    };
    // Block 1 sends shard 2 its first receipt (its cursor becomes 1); block 2 sends only shard 1,
    // so block 2's leaf for shard 2 starts at 1, read from the cursors of height 2.
    block(Some(2));
    block(Some(1));
    // Shard 1 is held back while the source moves on, sends shard 2 more (so the cursor of
    // block 2's height is superseded) and prunes the state of block 2.
    for _ in 0..8 {
        block(Some(2));
    }
    block(None);
    assert!(source.oldest_state() > 2, "the state of block 2 is pruned");
    let batch = source.receipt_batch(2, 1).unwrap().expect("block 2 is committed");
    assert_eq!((batch.first_seq, batch.receipts.len()), (0, 1));
    let spec = genesis.spec_of(1);
    verify_batch(&batch, &spec, 0, &Consumed::default(), accept).expect("the batch proves itself after pruning");
    // Block 1's batch for shard 2 as well.
    let batch = source.receipt_batch(1, 2).unwrap().expect("block 1 is committed");
    verify_batch(&batch, &genesis.spec_of(2), 0, &Consumed::default(), accept).expect("block 1's batch");
}
