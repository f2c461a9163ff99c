//! Receipt batches between two shards: a committed block's batch for the other shard verifies
//! and delivers its transfer exactly once; every forgery (path, receipts, header, destination,
//! sequence, certificate, size) is refused with the rule it breaks.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tutti_chain::{
    BatchError, BlockError, Chain, Genesis, MemStore, TxError,
    block::{self, Built},
    receipts::MAX_BATCH_RECEIPTS,
    verify_batch,
};
use tutti_crypto::bls::SecretKey;
use tutti_primitives::{
    Action, Address, BlockHeader, CommitCertificate, PublicKey, ReceiptBatch, SignedTransaction, Transaction,
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

fn genesis(keys: &[&SecretKey]) -> Genesis {
    Genesis {
        chain_id: 7,
        num_shards: SHARDS,
        timestamp_ms: 1_000,
        accounts: vec![tutti_chain::genesis::GenesisAccount {
            address: addr(&user(1)).to_string(),
            balance: "1000000000000000".into(),
        }],
        validators: keys
            .iter()
            .enumerate()
            .map(|(shard, key)| tutti_chain::genesis::GenesisValidator {
                bls_public_key: format!("0x{}", hex::encode(key.public_key().to_bytes())),
                stake: "1".into(),
                shard: shard as u32,
                bls_pop: None,
                operator: None,
            })
            .collect(),
        params: Default::default(),
    }
}

fn keys() -> (SecretKey, SecretKey) {
    (SecretKey::from_seed(&[9; 32]), SecretKey::from_seed(&[10; 32]))
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
        let (key, other) = keys();
        Source {
            chain: Chain::open_shard(Arc::new(MemStore::new()), &genesis(&[&key, &other]), 0).unwrap(),
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
        self.commit(txs);
    }

    /// Commits a block holding `calls` calls, each with the largest arguments (256 KiB), to an
    /// account of shard 1.
    fn large_calls(&mut self, calls: u64) {
        let txs = (0..calls)
            .map(|i| {
                Transaction {
                    chain_id: 7,
                    signer: PublicKey(user(1).verifying_key().to_bytes()),
                    nonce: self.nonce + i,
                    gas_limit: 100_000_000,
                    gas_price: 1,
                    action: Action::Call {
                        contract: on_shard_1(),
                        method: "m".into(),
                        args: vec![0; tutti_chain::txcheck::MAX_CALL_ARGS],
                        value: 0,
                    },
                }
                .sign(&user(1))
            })
            .collect();
        self.nonce += calls;
        assert_eq!(self.commit(txs), calls as usize, "every call was included");
    }

    /// Builds and commits a block of `txs`; returns how many were included.
    fn commit(&mut self, txs: Vec<SignedTransaction>) -> usize {
        let parent_commit = self.chain.head().commit.clone();
        let Built {
            header,
            txs,
            mut output,
            ..
        } = block::build(
            &self.chain,
            &self.runtime,
            &self.key,
            txs,
            vec![],
            vec![],
            Default::default(),
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
            crosslinks: vec![],
            commit: Some(cert(0)),
        };
        assert!(output.skipped.is_empty(), "{:?}", output.skipped);
        let included = block.txs.len();
        self.chain.commit(&block, &mut output).unwrap();
        included
    }
}

/// Shard 1: its proposer's chain and a validator's replica, which re-checks every block.
struct Destination {
    chain: Chain,
    replica: Chain,
    runtime: Runtime,
    key: SecretKey,
}

impl Destination {
    fn new() -> Destination {
        let (other, key) = keys();
        let g = genesis(&[&other, &key]);
        Destination {
            chain: Chain::open_shard(Arc::new(MemStore::new()), &g, 1).unwrap(),
            replica: Chain::open_shard(Arc::new(MemStore::new()), &g, 1).unwrap(),
            runtime: Runtime::new(RuntimeConfig::default()).unwrap(),
            key,
        }
    }

    /// The next position expected from shard 0 (in state).
    fn expected(&self) -> u64 {
        self.chain.next_incoming(0).unwrap()
    }

    fn verify(&self, b: &ReceiptBatch) -> Result<(), BatchError> {
        let last = self.chain.last_consumed(0).unwrap();
        verify_batch(b, self.chain.spec(), self.expected(), &last, committee_check)
    }

    /// The proposer checks the batch and builds a block with it; the replica validates that
    /// block (re-checking the batch) and both commit it.
    fn deliver(&mut self, b: &ReceiptBatch) -> Result<(), BatchError> {
        let unwrap_batch = |e: BlockError| match e {
            BlockError::Incoming { error, .. } => error,
            other => panic!("not a batch error: {other}"),
        };
        block::check_incoming(&self.chain, std::slice::from_ref(b), &committee_check).map_err(unwrap_batch)?;
        let parent_commit = self.chain.head().commit.clone();
        let built = block::build(
            &self.chain,
            &self.runtime,
            &self.key,
            vec![],
            vec![b.clone()],
            vec![],
            Default::default(),
            5_000 + self.chain.head().header.height,
            true,
            0,
            parent_commit,
        )
        .unwrap();
        assert_ne!(
            built.header.incoming_receipts_root,
            self.replica.head().header.incoming_receipts_root
        );
        // A validator refuses the same header with a forged batch, then accepts the real one.
        let mut forged = b.clone();
        forged.path[0].0[0] ^= 1;
        let refused = block::validate(
            &self.replica,
            &self.runtime,
            &built.header,
            &[],
            &[forged],
            &[],
            None,
            |_| false,
            &committee_check,
        )
        .unwrap_err();
        assert!(
            matches!(
                refused,
                BlockError::Incoming {
                    index: 0,
                    error: BatchError::BadPath { .. }
                }
            ),
            "{refused}"
        );
        let without = block::validate(
            &self.replica,
            &self.runtime,
            &built.header,
            &[],
            &[],
            &[],
            None,
            |_| false,
            &committee_check,
        )
        .unwrap_err();
        assert!(
            matches!(
                without,
                BlockError::ReceiptsRoot { which: "incoming", .. } | BlockError::StateRoot { .. }
            ),
            "{without}"
        );
        let mut replica_out = block::validate(
            &self.replica,
            &self.runtime,
            &built.header,
            &[],
            &built.incoming,
            &[],
            None,
            |_| false,
            &committee_check,
        )
        .unwrap();
        let stored = tutti_chain::StoredBlock {
            header: built.header,
            txs: vec![],
            incoming: built.incoming,
            crosslinks: vec![],
            commit: Some(cert(0)),
        };
        let mut out = built.output;
        self.chain.commit(&stored, &mut out).unwrap();
        self.replica.commit(&stored, &mut replica_out).unwrap();
        Ok(())
    }

    fn balance(&self, a: &Address) -> u128 {
        let height = self.chain.head().header.height;
        let replica = self.replica.account(a, height).unwrap().balance;
        let own = self.chain.account(a, height).unwrap().balance;
        assert_eq!(own, replica, "proposer and validator agree");
        own
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
    // Few receipts, too many bytes: a batch must fit a block body beside its transactions.
    assert!(matches!(
        forged(&|b| {
            b.receipts[0].body = tutti_primitives::ReceiptBody::Call {
                method: "m".into(),
                args: vec![0; tutti_chain::receipts::MAX_BATCH_BYTES],
                value: 0,
                gas: 0,
                input_data_ids: vec![],
                output_data_receivers: vec![],
            }
        }),
        BatchError::TooManyBytes { .. }
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
    // An empty block's batch carries the cursor and nothing to deliver: nobody needs to send it.
    src.block(0);
    let empty = src.chain.receipt_batch(4, 1).unwrap().unwrap();
    assert_eq!((empty.first_seq, empty.receipts.len()), (6, 0));
    assert_eq!(dst.verify(&empty), Err(BatchError::Empty));

    // What a destination pulls: the batches from a position on, consecutive, within a size.
    let from = |seq: u64, max: usize| -> Vec<(u64, usize)> {
        src.chain
            .receipt_batches_from(1, seq, max)
            .unwrap()
            .iter()
            .map(|b| (b.first_seq, b.receipts.len()))
            .collect()
    };
    assert_eq!(from(0, 100), vec![(0, 3), (3, 2), (5, 1)]);
    assert_eq!(from(3, 100), vec![(3, 2), (5, 1)]);
    assert_eq!(
        from(0, 4),
        vec![(0, 3)],
        "a batch that passes the size waits for the next answer"
    );
    assert_eq!(from(0, 1), vec![(0, 3)], "but the first batch is always sent");
    assert_eq!(from(4, 100), vec![], "not the start of a batch");
    assert_eq!(from(6, 100), vec![], "nothing new");
    assert!(
        src.chain.receipt_batches_from(0, 0, 100).unwrap().is_empty(),
        "nothing for itself"
    );
}

#[test]
fn a_proposer_admits_only_the_room_a_congested_destination_leaves() {
    let src = Source::new();
    let txs: Vec<SignedTransaction> = (0..5)
        .map(|nonce| {
            Transaction {
                chain_id: 7,
                signer: PublicKey(user(1).verifying_key().to_bytes()),
                nonce,
                gas_limit: 2_000_000,
                gas_price: 1,
                action: Action::Transfer {
                    to: on_shard_1(),
                    amount: 1,
                },
            }
            .sign(&user(1))
        })
        .collect();
    let room = [(1, 2)].into_iter().collect();
    let built = block::build(
        &src.chain,
        &src.runtime,
        &src.key,
        txs,
        vec![],
        vec![],
        room,
        5_000,
        false,
        0,
        None,
    )
    .unwrap();
    assert_eq!(built.txs.len(), 2, "two fit the room left for shard 1");
    assert_eq!(built.output.skipped[0].1, TxError::ShardCongested { shard: 1 });
    // Nonce order: the later ones wait behind the first that did not fit.
    assert!(
        built.output.skipped[1..]
            .iter()
            .all(|(_, e)| matches!(e, TxError::NonceTooHigh { .. }))
    );
    // Leaving transactions out is the proposer's choice: the block is valid for everyone.
    block::validate(
        &src.chain,
        &src.runtime,
        &built.header,
        &built.txs,
        &[],
        &[],
        None,
        |_| false,
        &committee_check,
    )
    .unwrap();
    assert_eq!(built.header.congestion.consumed, vec![0; SHARDS as usize]);
}

/// A pull answer carries at most `MAX_PULL_BYTES` (16 MiB) of receipts however few they are:
/// fourteen blocks each sending five calls of 256 KiB across (17.5 MiB in all) are answered
/// within the bound, the rest next time (once, an answer took every batch whatever its
/// bytes, and past what an answer may take on the wire a destination could never pull them).
#[test]
fn a_pull_answer_is_bounded_in_bytes() {
    let mut src = Source::new();
    for _ in 0..14 {
        src.large_calls(5);
    }
    let answer = src.chain.receipt_batches_from(1, 0, 20_000).unwrap();
    let bytes: usize = answer
        .iter()
        .map(|b| tutti_primitives::receipt::receipts_bytes(&b.receipts))
        .sum();
    assert!(bytes <= tutti_chain::receipts::MAX_PULL_BYTES, "{bytes}");
    assert!((10..14).contains(&answer.len()), "{} batches", answer.len());
    let rest = src
        .chain
        .receipt_batches_from(1, 5 * answer.len() as u64, 20_000)
        .unwrap();
    assert_eq!(answer.len() + rest.len(), 14, "the rest next time");
}
