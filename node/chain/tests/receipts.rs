//! Receipt batches between two shards: a committed block's batch for the other shard verifies
//! and delivers its transfer exactly once; every forgery (path, receipts, header, destination,
//! sequence, certificate, size) is refused with the rule it breaks.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tutti_chain::{
    BatchError, BlockInput, Chain, Genesis, MemStore, ShardSpec, StateDb, Store, TxRules, WriteBatch,
    account::account_key,
    block::{self, Built},
    execute_block,
    receipts::MAX_BATCH_RECEIPTS,
    verify_batch, write_genesis,
};
use tutti_crypto::bls::SecretKey;
use tutti_primitives::{
    Account, Action, Address, BlockHeader, CommitCertificate, Hash, PublicKey, ReceiptBatch, Transaction, codec::Decode,
};
use tutti_runtime::{Runtime, RuntimeConfig};

const SHARDS: u32 = 2;

fn user(n: u8) -> SigningKey {
    (0..=255u8)
        .map(|i| {
            let mut seed = [n; 32];
            seed[1] = i;
            SigningKey::from_bytes(&seed)
        })
        .find(|k| addr(k).home_shard(SHARDS) == 0)
        .expect("one key in two lives on shard 0")
}

fn addr(k: &SigningKey) -> Address {
    Address::from_public_key(&k.verifying_key().to_bytes())
}

/// An address on shard 1.
fn on_shard_1() -> Address {
    (0..=255u8)
        .map(|i| Address([i; 32]))
        .find(|a| a.home_shard(SHARDS) == 1)
        .expect("one address in two lives on shard 1")
}

/// A stand-in certificate: the test's committee check accepts exactly this one.
fn cert(view: u64) -> CommitCertificate {
    CommitCertificate {
        view,
        signature: [7; 96],
        signers: vec![1],
    }
}

fn committee_check(h: &BlockHeader, c: &CommitCertificate) -> Result<(), String> {
    if *c == cert(h.view) {
        Ok(())
    } else {
        Err("not signed by more than 2/3 of the source committee".into())
    }
}

/// Shard 0's chain, one funded account, and blocks made by one proposer.
struct Source {
    chain: Chain,
    runtime: Runtime,
    key: SecretKey,
    nonce: u64,
}

impl Source {
    fn new() -> Source {
        let key = SecretKey::from_seed(&[9; 32]);
        let g = Genesis {
            chain_id: 7,
            num_shards: SHARDS,
            timestamp_ms: 1_000,
            accounts: vec![tutti_chain::genesis::GenesisAccount {
                address: addr(&user(1)).to_string(),
                balance: "1000000000000000".into(),
            }],
            validators: vec![tutti_chain::genesis::GenesisValidator {
                bls_public_key: format!("0x{}", hex::encode(key.public_key().to_bytes())),
                stake: "1".into(),
                shard: 0,
                bls_pop: None,
            }],
            params: Default::default(),
        };
        Source {
            chain: Chain::open(Arc::new(MemStore::new()), &g).unwrap(),
            runtime: Runtime::new(RuntimeConfig::default()).unwrap(),
            key,
            nonce: 0,
        }
    }

    /// Commits a block holding `transfers` transfers to shard 1 (of 1, 2, ... units).
    fn block(&mut self, transfers: u64) {
        let txs = (0..transfers)
            .map(|i| {
                Transaction {
                    chain_id: 7,
                    signer: PublicKey(user(1).verifying_key().to_bytes()),
                    nonce: self.nonce + i,
                    gas_limit: 2_000_000,
                    gas_price: 1,
                    action: Action::Transfer {
                        to: on_shard_1(),
                        amount: u128::from(i + 1),
                    },
                }
                .sign(&user(1))
            })
            .collect();
        self.nonce += transfers;
        let parent_commit = self.chain.head().commit.clone();
        let Built {
            header,
            txs,
            mut output,
        } = block::build(
            &self.chain,
            &self.runtime,
            &self.key,
            txs,
            5_000,
            false,
            0,
            parent_commit,
        )
        .unwrap();
        let block = tutti_chain::StoredBlock {
            header,
            txs,
            incoming: vec![],
            commit: Some(cert(0)),
        };
        self.chain.commit(&block, &mut output).unwrap();
    }
}

/// Shard 1's state, executing delivered receipts.
struct Destination {
    store: Arc<dyn Store>,
    db: StateDb<dyn Store>,
    spec: ShardSpec,
    height: u64,
    runtime: Runtime,
}

impl Destination {
    fn new() -> Destination {
        let store: Arc<dyn Store> = Arc::new(MemStore::new());
        let db = StateDb::new(store.clone());
        let mut batch = WriteBatch::new();
        write_genesis(&db, &[], &mut batch).unwrap();
        store.write(batch).unwrap();
        Destination {
            store,
            db,
            spec: ShardSpec {
                shard_id: 1,
                num_shards: SHARDS,
                rules: TxRules::new(7),
                max_receipts_per_block: 1_000,
                block_gas_limit: 1 << 40,
            },
            height: 0,
            runtime: Runtime::new(RuntimeConfig::default()).unwrap(),
        }
    }

    /// The next position expected from shard 0 (in state).
    fn expected(&self) -> u64 {
        self.db
            .get(b"n/\x00\x00\x00\x00", self.height)
            .unwrap()
            .map(|b| u64::decode(&mut b.as_slice()).unwrap())
            .unwrap_or(0)
    }

    fn verify(&self, b: &ReceiptBatch) -> Result<(), BatchError> {
        verify_batch(b, 1, SHARDS, self.expected(), committee_check)
    }

    /// Verifies and executes a batch in the next block.
    fn deliver(&mut self, b: &ReceiptBatch) -> Result<(), BatchError> {
        self.verify(b)?;
        let input = BlockInput {
            height: self.height + 1,
            timestamp_ms: 1_000,
            randomness: Hash::ZERO,
            txs: vec![],
            incoming: b.receipts.clone(),
            signatures_checked: true,
        };
        let out = execute_block(&self.runtime, &self.db, Some(self.height), &self.spec, input).unwrap();
        self.store.write(out.batch).unwrap();
        self.height += 1;
        Ok(())
    }

    fn balance(&self, a: &Address) -> u128 {
        self.db
            .get(&account_key(a), self.height)
            .unwrap()
            .map(|b| Account::decode(&mut b.as_slice()).unwrap().balance)
            .unwrap_or(0)
    }
}

#[test]
fn a_batch_is_delivered_once_and_forgeries_are_refused_by_rule() {
    let mut src = Source::new();
    let mut dst = Destination::new();
    src.block(3);
    let batch = src.chain.receipt_batch(1, 1).unwrap().expect("block 1 is committed");
    assert_eq!(batch.receipts.len(), 3);
    assert_eq!(batch.first_seq, 0);
    // The batch for shard 0 itself is the empty leaf, with a path of its own.
    let own = src.chain.receipt_batch(1, 0).unwrap().unwrap();
    assert!(own.receipts.is_empty());
    assert_eq!(src.chain.receipt_batch(1, SHARDS).unwrap(), None, "no shard 2");
    assert_eq!(src.chain.receipt_batch(9, 1).unwrap(), None, "no block 9");

    // Forgeries, each refused by its own rule, before anything is delivered.
    let forged = |f: &dyn Fn(&mut ReceiptBatch)| {
        let mut b = batch.clone();
        f(&mut b);
        dst.verify(&b).unwrap_err()
    };
    assert!(matches!(forged(&|b| b.path[0].0[0] ^= 1), BatchError::BadPath { .. }));
    assert!(matches!(forged(&|b| b.path.clear()), BatchError::BadPath { .. }));
    assert!(matches!(
        forged(
            &|b| if let tutti_primitives::ReceiptBody::Transfer { amount } = &mut b.receipts[1].body {
                *amount += 1_000_000
            }
        ),
        BatchError::BadPath { .. }
    ));
    assert!(matches!(
        forged(&|b| {
            b.receipts.pop();
        }),
        BatchError::BadPath { .. }
    ));
    assert!(matches!(
        forged(&|b| b.header.outgoing_receipts_root.0[0] ^= 1),
        BatchError::BadPath { .. }
    ));
    assert!(matches!(
        forged(&|b| b.receipts[2].seq = 5),
        BatchError::Mismatch { index: 2, .. }
    ));
    assert!(matches!(
        forged(&|b| b.receipts[0].dest_shard = 0),
        BatchError::Mismatch { index: 0, .. }
    ));
    assert!(matches!(
        forged(&|b| b.dest = 0),
        BatchError::WrongDestination { dest: 0, shard: 1 }
    ));
    assert!(matches!(
        forged(&|b| b.header.shard_id = 1),
        BatchError::BadSource { source_shard: 1, .. }
    ));
    assert!(matches!(
        forged(&|b| b.header.shard_id = 5),
        BatchError::BadSource { source_shard: 5, .. }
    ));
    assert!(matches!(
        forged(&|b| b.cert.signers = vec![0]),
        BatchError::Certificate { height: 1, .. }
    ));
    assert!(matches!(
        forged(&|b| {
            let r = b.receipts[0].clone();
            b.receipts = vec![r; MAX_BATCH_RECEIPTS + 1];
        }),
        BatchError::Oversize { .. }
    ));
    assert_eq!(dst.balance(&on_shard_1()), 0);

    // Genuine: delivered once, paid once; the same batch again is a replay.
    dst.deliver(&batch).unwrap();
    assert_eq!(dst.balance(&on_shard_1()), 1 + 2 + 3);
    assert_eq!(dst.expected(), 3);
    assert!(matches!(
        dst.deliver(&batch),
        Err(BatchError::Replay {
            got: 0,
            expected: 3,
            ..
        })
    ));

    // The next blocks: a batch that skips one is a gap; in order, both deliver.
    src.block(2);
    src.block(1);
    let second = src.chain.receipt_batch(2, 1).unwrap().unwrap();
    let third = src.chain.receipt_batch(3, 1).unwrap().unwrap();
    assert_eq!((second.first_seq, third.first_seq), (3, 5));
    assert!(matches!(
        dst.deliver(&third),
        Err(BatchError::Gap {
            got: 5,
            expected: 3,
            ..
        })
    ));
    dst.deliver(&second).unwrap();
    dst.deliver(&third).unwrap();
    assert_eq!(dst.balance(&on_shard_1()), 6 + 3 + 1);
    // An empty block's batch carries the cursor and nothing to deliver.
    src.block(0);
    let empty = src.chain.receipt_batch(4, 1).unwrap().unwrap();
    assert_eq!((empty.first_seq, empty.receipts.len()), (6, 0));
    dst.verify(&empty).unwrap();
}
