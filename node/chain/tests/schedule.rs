//! The chain and `LocalNet` run one block schedule: the same signed transactions, on two shards
//! with a small receipt budget (so the delayed queue, congestion control and cross-shard streams
//! all take part), give the same executions (results, gas, fees, events, in the same order, in the
//! same blocks) and the same balances and contract storage.

use std::{collections::HashSet, sync::Arc};

use ed25519_dalek::SigningKey;
use tutti_chain::{
    BlockInput, MemStore, ShardSpec, StateDb, Store, TxError, TxRules, WriteBatch,
    account::{account_key, storage_key},
    execute_block, write_genesis,
};
use tutti_primitives::{
    Account, Action, Address, Receipt, SignedTransaction,
    codec::{Decode, Encode},
};
use tutti_runtime::{
    Runtime, RuntimeConfig,
    local::{LocalNet, local_randomness},
};

const SHARDS: u32 = 2;
const BUDGET: usize = 3;
const GAS: u64 = 1_000_000_000;

/// One shard of the chain, in memory.
struct ChainShard {
    store: Arc<dyn Store>,
    db: StateDb<dyn Store>,
    spec: ShardSpec,
    height: u64,
    pool: Vec<SignedTransaction>,
    inbox: Vec<Receipt>,
}

impl ChainShard {
    fn account(&self, a: &Address) -> Account {
        self.db
            .get(&account_key(a), self.height)
            .unwrap()
            .map(|b| Account::decode(&mut &b[..]).unwrap())
            .unwrap_or_default()
    }
}

struct Both {
    congested: usize,
    max_delayed: u64,
    cross_shard: usize,
    runtime: Runtime,
    local: LocalNet,
    chain: Vec<ChainShard>,
}

impl Both {
    fn new(funded: &[(Address, u128)]) -> Both {
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let mut local = LocalNet::new(Arc::new(Runtime::new(RuntimeConfig::default()).unwrap()), SHARDS);
        local.max_receipts_per_block = BUDGET;
        for (a, b) in funded {
            local.fund(a, *b);
        }
        let chain = (0..SHARDS)
            .map(|s| {
                let store: Arc<dyn Store> = Arc::new(MemStore::default());
                let db = StateDb::new(store.clone());
                let accounts: Vec<_> = funded
                    .iter()
                    .filter(|(a, _)| a.home_shard(SHARDS) == s)
                    .map(|(a, b)| {
                        (
                            *a,
                            Account {
                                balance: *b,
                                ..Account::default()
                            },
                        )
                    })
                    .collect();
                let mut batch = WriteBatch::new();
                write_genesis(&db, &accounts, &mut batch).unwrap();
                store.write(batch).unwrap();
                ChainShard {
                    store,
                    db,
                    spec: ShardSpec {
                        shard_id: s,
                        num_shards: SHARDS,
                        rules: TxRules::new(local.chain_id()),
                        max_receipts_per_block: BUDGET,
                        block_gas_limit: local.block_gas_limit,
                        epochs: tutti_chain::genesis::GenesisParams::default().epoch_spec(SHARDS),
                    },
                    height: 0,
                    pool: Vec::new(),
                    inbox: Vec::new(),
                }
            })
            .collect();
        Both {
            congested: 0,
            max_delayed: 0,
            cross_shard: 0,
            runtime,
            local,
            chain,
        }
    }

    fn submit(&mut self, tx: SignedTransaction) {
        let s = tx.tx.sender().home_shard(SHARDS) as usize;
        self.local.submit(tx.clone()).unwrap();
        self.chain[s].pool.push(tx);
    }

    /// One block on every shard of both; checks they did the same.
    fn block(&mut self) {
        let report = self.local.produce_block();
        let mut outboxes = Vec::new();
        for (s, shard) in self.chain.iter_mut().enumerate() {
            let h = shard.height + 1;
            let input = BlockInput {
                height: h,
                timestamp_ms: h * 1_000,
                randomness: local_randomness(h),
                txs: shard.pool.clone(),
                incoming: std::mem::take(&mut shard.inbox),
                consumed: vec![],
                signatures_checked: false,
                room: Default::default(),
                crosslinks: Vec::new(),
                parent_commit: None,
                max_tx_bytes: tutti_chain::block::MAX_BODY_BYTES,
            };
            let out = execute_block(&self.runtime, &shard.db, Some(shard.height), &shard.spec, input).unwrap();
            shard.store.write(out.batch.clone()).unwrap();
            shard.height = h;
            let waiting: HashSet<_> = out
                .skipped
                .iter()
                .filter(|(_, e)| e.is_retryable())
                .map(|(hash, _)| *hash)
                .collect();
            shard.pool.retain(|t| waiting.contains(&t.hash()));
            self.congested += out
                .skipped
                .iter()
                .filter(|(_, e)| matches!(e, TxError::Congested { .. }))
                .count();
            self.max_delayed = self.max_delayed.max(out.delayed);
            self.cross_shard += out.outgoing.len();
            let ids: Vec<_> = out.executions.iter().map(|(id, _)| *id).collect();
            assert_eq!(
                ids, report.executed[s],
                "block {h} shard {s}: the same work in the same order"
            );
            for (id, e) in &out.executions {
                assert!(
                    e.result.is_ok(),
                    "block {h} shard {s}: {id} {:?} failed: {:?}",
                    e.method,
                    e.result
                );
                assert_eq!(Some(e), self.local.execution(id), "block {h} shard {s}: execution {id}");
            }
            outboxes.push(out.outgoing);
        }
        // Delivered in source order, as LocalNet does at the end of a block.
        for r in outboxes.into_iter().flatten() {
            self.chain[r.dest_shard as usize].inbox.push(r);
        }
    }

    fn busy(&self) -> bool {
        self.chain.iter().any(|s| !s.pool.is_empty() || !s.inbox.is_empty()) || !self.local.is_idle()
    }
}

/// A key whose account, and the contract it deploys with nonce 0, live on `shard` (a contract
/// is deployed from an account on its own shard).
fn key(n: u8, shard: u32) -> SigningKey {
    (0..=255u8)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[0] = n;
            seed[1] = i;
            SigningKey::from_bytes(&seed)
        })
        .find(|k| addr(k).home_shard(SHARDS) == shard && Address::for_contract(&addr(k), 0).home_shard(SHARDS) == shard)
        .expect("one key in four qualifies")
}

fn addr(k: &SigningKey) -> Address {
    Address::from_public_key(&k.verifying_key().to_bytes())
}

fn sign(local: &LocalNet, k: &SigningKey, nonce: u64, action: Action) -> SignedTransaction {
    let mut t = local.sign(k, GAS, action).tx;
    t.nonce = nonce;
    t.sign(k)
}

#[test]
fn the_chain_and_localnet_run_the_same_schedule() {
    let alice = key(1, 0);
    let bob = key(2, 1);
    let carol = key(3, 1);
    let funded: Vec<_> = [&alice, &bob, &carol].iter().map(|k| (addr(k), 1u128 << 90)).collect();
    let mut both = Both::new(&funded);

    // Deploys: ping-pong by alice (shard 0) and by bob (shard 1), the token by carol.
    let deploy = |code: &[u8], init: Option<(&str, Vec<u8>)>| Action::Deploy {
        code: code.to_vec(),
        init_method: init.as_ref().map(|(m, _)| m.to_string()),
        args: init.map(|(_, a)| a).unwrap_or_default(),
        value: 0,
    };
    let d1 = sign(&both.local, &alice, 0, deploy(tutti_examples::PING_PONG, None));
    let d2 = sign(&both.local, &bob, 0, deploy(tutti_examples::PING_PONG, None));
    let init = ("T".to_string(), "T".to_string(), 0u8, 1_000_000u128).encode();
    let d3 = sign(
        &both.local,
        &carol,
        0,
        deploy(tutti_examples::TOKEN, Some(("init", init))),
    );
    for t in [&d1, &d2, &d3] {
        both.submit(t.clone());
    }
    for _ in 0..6 {
        both.block();
    }
    let (pa, pb, token) = (
        Address::for_contract(&addr(&alice), 0),
        Address::for_contract(&addr(&bob), 0),
        Address::for_contract(&addr(&carol), 0),
    );

    // A burst larger than the receipt budget: cross-shard pings with callbacks both ways,
    // transfers both ways, a token transfer-and-call to a contract on another shard, and a
    // transaction with a stale nonce (dropped by both).
    let mut n = [1u64, 1, 1];
    let mut next = |i: usize| {
        n[i] += 1;
        n[i] - 1
    };
    let mut txs = Vec::new();
    for round in 0..4u64 {
        txs.push(sign(
            &both.local,
            &alice,
            next(0),
            Action::Call {
                contract: pa,
                method: "ping".into(),
                args: (pb, round).encode(),
                value: 0,
            },
        ));
        txs.push(sign(
            &both.local,
            &bob,
            next(1),
            Action::Call {
                contract: pb,
                method: "ping".into(),
                args: (pa, 100 + round).encode(),
                value: 0,
            },
        ));
        txs.push(sign(
            &both.local,
            &carol,
            next(2),
            Action::Call {
                contract: token,
                method: "transfer_and_call".into(),
                args: (pa, 10u128 + u128::from(round), b"half".to_vec()).encode(),
                value: 0,
            },
        ));
        txs.push(sign(
            &both.local,
            &alice,
            next(0),
            Action::Transfer {
                to: addr(&bob),
                amount: 1_000 + u128::from(round),
            },
        ));
    }
    for t in txs {
        both.submit(t);
    }
    let mut blocks = 0;
    while both.busy() || blocks < 3 {
        both.block();
        blocks += 1;
        assert!(blocks < 60, "the work never drained");
    }
    for _ in 0..4 {
        both.block();
    }

    // Every rule took part.
    assert!(both.congested > 0, "no transaction waited for congestion");
    assert!(both.max_delayed > 0, "the delayed queue was never used");
    assert!(both.cross_shard >= 16, "{} cross-shard receipts", both.cross_shard);

    // Same balances, nonces and contract storage on both.
    for a in [addr(&alice), addr(&bob), addr(&carol), pa, pb, token] {
        let shard = &both.chain[a.home_shard(SHARDS) as usize];
        let on_chain = shard.account(&a);
        let local = both.local.account(&a).cloned().unwrap_or_default();
        assert_eq!(on_chain, local, "account {a}");
    }
    // Ping-pong's served count, last pong and failures.
    for (c, k) in [(pa, b"s"), (pb, b"s"), (pa, b"l"), (pb, b"l"), (pa, b"f")] {
        let shard = &both.chain[c.home_shard(SHARDS) as usize];
        let on_chain = shard.db.get(&storage_key(&c, k), shard.height).unwrap();
        assert_eq!(on_chain, both.local.storage(&c, k), "storage of {c}");
        assert!(on_chain.is_some() || k == b"f", "{c} has {k:?}");
    }
}

#[test]
fn incoming_receipts_must_continue_their_stream_on_the_chain() {
    use tutti_primitives::{Hash, ReceiptBody};
    use tutti_runtime::schedule::ScheduleError;
    let alice = key(1, 0);
    let mut both = Both::new(&[(addr(&alice), 1 << 80)]);
    let r = |seq, dest_shard| Receipt {
        id: Receipt::derive_id(&Hash::ZERO, seq as u32),
        source_shard: 0,
        dest_shard,
        seq,
        predecessor: Address::default(),
        receiver: addr(&key(2, 1)),
        signer: Address::default(),
        gas_price: 0,
        body: ReceiptBody::Transfer { amount: 1 },
    };
    let shard = &mut both.chain[1];
    let run = |shard: &ChainShard, incoming: Vec<Receipt>| {
        let input = BlockInput {
            height: shard.height + 1,
            timestamp_ms: 1_000,
            randomness: local_randomness(1),
            txs: vec![],
            incoming,
            consumed: vec![],
            signatures_checked: false,
            room: Default::default(),
            crosslinks: Vec::new(),
            parent_commit: None,
            max_tx_bytes: tutti_chain::block::MAX_BODY_BYTES,
        };
        execute_block(&both.runtime, &shard.db, Some(shard.height), &shard.spec, input)
    };
    let refused = |e: tutti_chain::ChainError| match e {
        tutti_chain::ChainError::Schedule(ScheduleError::OutOfOrder { got, expected, .. }) => (got, expected),
        other => panic!("refused for another reason: {other}"),
    };
    // A gap, a receipt for another shard, a duplicate within the block: refused, typed.
    assert_eq!(refused(run(shard, vec![r(1, 1)]).unwrap_err()), (1, 0));
    assert_eq!(refused(run(shard, vec![r(0, 0)]).unwrap_err()), (0, 0));
    assert_eq!(refused(run(shard, vec![r(0, 1), r(0, 1)]).unwrap_err()), (0, 1));
    // In order: accepted, and the cursor is in state, so a replay in the next block is refused.
    let out = run(shard, vec![r(0, 1), r(1, 1)]).unwrap();
    shard.store.write(out.batch).unwrap();
    shard.height += 1;
    assert_eq!(refused(run(shard, vec![r(1, 1)]).unwrap_err()), (1, 2));
    assert!(run(shard, vec![r(2, 1)]).is_ok());
}
