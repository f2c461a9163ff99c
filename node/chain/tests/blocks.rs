//! Block execution over the authenticated state: transfers, deploys and calls, callbacks, the
//! delayed queue, skipped transactions, determinism and restart.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tutti_chain::{
    BlockInput, BlockOutput, MemStore, ShardSpec, SledStore, StateDb, Store, TxError, TxRules, WriteBatch,
    account::{account_key, storage_key},
    execute_block, write_genesis,
};
use tutti_primitives::{
    Account, Action, Address, Hash, PublicKey, SignedTransaction, Transaction,
    codec::{Decode, Encode},
};
use tutti_runtime::{GasSchedule, Runtime, RuntimeConfig};

const CHAIN: u64 = 7;

struct Node {
    runtime: Runtime,
    store: Arc<dyn Store>,
    db: StateDb<dyn Store>,
    spec: ShardSpec,
    height: u64,
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn addr(k: &SigningKey) -> Address {
    Address::from_public_key(&k.verifying_key().to_bytes())
}

impl Node {
    fn new(store: Arc<dyn Store>, funded: &[&SigningKey]) -> Node {
        let db = StateDb::new(store.clone());
        let mut batch = WriteBatch::new();
        let accounts: Vec<_> = funded
            .iter()
            .map(|k| {
                (
                    addr(k),
                    Account {
                        balance: 1 << 80,
                        nonce: 0,
                        code_hash: None,
                    },
                )
            })
            .collect();
        write_genesis(&db, &accounts, &mut batch).unwrap();
        store.write(batch).unwrap();
        Node::open(store)
    }

    fn open(store: Arc<dyn Store>) -> Node {
        let db = StateDb::new(store.clone());
        let mut height = 0;
        while db.root(height + 1).unwrap().is_some() {
            height += 1;
        }
        let spec = ShardSpec {
            shard_id: 0,
            num_shards: 1,
            rules: TxRules::new(CHAIN),
            max_receipts_per_block: 1_000,
            block_gas_limit: 50_000_000_000,
            epochs: tutti_chain::genesis::GenesisParams::default().epoch_spec(1),
        };
        Node {
            runtime: Runtime::new(RuntimeConfig::default()).unwrap(),
            store,
            db,
            spec,
            height,
        }
    }

    fn block(&mut self, txs: Vec<SignedTransaction>) -> BlockOutput {
        let input = BlockInput {
            height: self.height + 1,
            timestamp_ms: 1_000,
            randomness: Hash([(self.height + 1) as u8; 32]),
            txs,
            incoming: vec![],
            consumed: vec![],
            signatures_checked: false,
            room: Default::default(),
            crosslinks: Vec::new(),
            parent_commit: None,
            max_tx_bytes: tutti_chain::block::MAX_BODY_BYTES,
        };
        let out = execute_block(&self.runtime, &self.db, Some(self.height), &self.spec, input).unwrap();
        self.store.write(out.batch.clone()).unwrap();
        self.height += 1;
        out
    }

    fn account(&self, a: &Address) -> Account {
        self.db
            .get(&account_key(a), self.height)
            .unwrap()
            .map(|b| Account::decode(&mut &b[..]).unwrap())
            .unwrap_or_default()
    }

    fn nonce(&self, k: &SigningKey) -> u64 {
        self.account(&addr(k)).nonce
    }
}

fn tx(k: &SigningKey, nonce: u64, gas: u64, action: Action) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit: gas,
        gas_price: 1,
        action,
    }
    .sign(k)
}

fn deploy(n: &mut Node, k: &SigningKey, code: &[u8], init: Option<(&str, Vec<u8>)>) -> Address {
    let nonce = n.nonce(k);
    let (init_method, args) = match init {
        Some((m, a)) => (Some(m.to_string()), a),
        None => (None, vec![]),
    };
    let out = n.block(vec![tx(
        k,
        nonce,
        1_000_000_000,
        Action::Deploy {
            code: code.to_vec(),
            init_method,
            args,
            value: 0,
        },
    )]);
    let res = out.executions[0].1.result.clone().expect("deploy succeeds");
    Address(res.try_into().unwrap())
}

fn call(n: &mut Node, k: &SigningKey, contract: Address, method: &str, args: Vec<u8>) -> BlockOutput {
    let nonce = n.nonce(k);
    n.block(vec![tx(
        k,
        nonce,
        100_000_000,
        Action::Call {
            contract,
            method: method.into(),
            args,
            value: 0,
        },
    )])
}

#[test]
fn transfers_change_balances_and_nonces_and_the_root() {
    let (a, b) = (key(1), key(2));
    let mut n = Node::new(Arc::new(MemStore::new()), &[&a]);
    let root0 = n.db.root(0).unwrap().unwrap();
    let t = tx(
        &a,
        0,
        2_000_000,
        Action::Transfer {
            to: addr(&b),
            amount: 500,
        },
    );
    let out_tx_len = t.encoded_size();
    let out = n.block(vec![t]);
    assert_eq!(out.included.len(), 1);
    assert_ne!(out.state_root, root0);
    assert_eq!(n.account(&addr(&b)).balance, 500);
    assert_eq!(n.account(&addr(&a)).nonce, 1);
    let fee = u128::from(GasSchedule::default().inclusion_cost(out_tx_len));
    assert_eq!(
        n.account(&addr(&a)).balance,
        (1 << 80) - 500 - fee,
        "a transfer pays its value and its inclusion fee (gas price 1), nothing more"
    );
    assert_eq!(out.fees_burnt, fee);
    let burnt = n.db.get(tutti_chain::exec::BURNT, n.height).unwrap().unwrap();
    assert_eq!(
        u128::decode(&mut burnt.as_slice()).unwrap(),
        fee,
        "the burnt total is in state"
    );
    // The new balance is provable against the block's root.
    let (v, proof) = n.db.get_with_proof(&account_key(&addr(&b)), n.height).unwrap();
    proof
        .verify(out.state_root, &account_key(&addr(&b)), v.as_deref())
        .unwrap();
}

#[test]
fn bad_transactions_are_skipped_not_included() {
    let a = key(1);
    let mut n = Node::new(Arc::new(MemStore::new()), &[&a]);
    let mut forged = tx(
        &a,
        0,
        2_000_000,
        Action::Transfer {
            to: Address([9; 32]),
            amount: 1,
        },
    );
    forged.tx.nonce = 5;
    let wrong_chain = Transaction {
        chain_id: 99,
        ..tx(
            &a,
            0,
            2_000_000,
            Action::Transfer {
                to: Address([9; 32]),
                amount: 1,
            },
        )
        .tx
    }
    .sign(&a);
    let good = tx(
        &a,
        0,
        2_000_000,
        Action::Transfer {
            to: Address([9; 32]),
            amount: 1,
        },
    );
    let replay = good.clone();
    let out = n.block(vec![forged, wrong_chain, good, replay]);
    assert_eq!(out.included.len(), 1);
    let reasons: Vec<_> = out.skipped.iter().map(|(_, e)| e.clone()).collect();
    assert!(matches!(reasons[0], TxError::BadSignature(_)));
    assert!(matches!(reasons[1], TxError::WrongChain { .. }));
    assert_eq!(reasons[2], TxError::NonceTooLow { got: 0, expected: 1 });
}

#[test]
fn deploy_call_and_same_shard_callbacks_in_one_chain() {
    let a = key(1);
    let mut n = Node::new(Arc::new(MemStore::new()), &[&a]);
    let init = ("Tutti".to_string(), "TUT".to_string(), 6u8, 1_000u128).encode();
    let token = deploy(&mut n, &a, tutti_examples::TOKEN, Some(("init", init)));
    let out = call(&mut n, &a, token, "transfer", (Address([5; 32]), 40u128).encode());
    assert!(
        out.executions.iter().all(|(_, e)| e.result.is_ok()),
        "{:?}",
        out.executions
    );
    let bal = |n: &Node, who: Address| {
        let k = storage_key(&token, &[b"b".as_slice(), &who.encode()].concat());
        n.db.get(&k, n.height)
            .unwrap()
            .map(|v| u128::decode(&mut &v[..]).unwrap())
    };
    assert_eq!(bal(&n, Address([5; 32])), Some(40));
    assert_eq!(bal(&n, addr(&a)), Some(960));

    // Ping-pong on one shard: call, pong and callback all run within the same block.
    let p1 = deploy(&mut n, &a, tutti_examples::PING_PONG, None);
    let p2 = deploy(&mut n, &a, tutti_examples::PING_PONG, None);
    let out = call(&mut n, &a, p1, "ping", (p2, 41u64).encode());
    let methods: Vec<_> = out
        .executions
        .iter()
        .filter_map(|(_, e)| e.method.clone().filter(|_| !e.transaction))
        .collect();
    assert_eq!(methods, vec!["ping", "pong", "on_pong"]);
    let last = n.db.get(&storage_key(&p1, b"l"), n.height).unwrap();
    assert_eq!(last, Some(42u64.encode()));
    assert_eq!(out.delayed, 0);
    assert!(out.outgoing.is_empty());
}

fn increments(n: &Node, a: &SigningKey, counter: Address, count: u64) -> Vec<SignedTransaction> {
    (0..count)
        .map(|i| {
            tx(
                a,
                n.nonce(a) + i,
                100_000_000,
                Action::Call {
                    contract: counter,
                    method: "increment".into(),
                    args: (1u64,).encode(),
                    value: 0,
                },
            )
        })
        .collect()
}

#[test]
fn transactions_wait_when_the_receipt_budget_is_full() {
    let a = key(1);
    let mut n = Node::new(Arc::new(MemStore::new()), &[&a]);
    let counter = deploy(&mut n, &a, tutti_examples::COUNTER, None);
    n.spec.max_receipts_per_block = 2;
    let txs = increments(&n, &a, counter, 5);
    let out = n.block(txs.clone());
    // Each call is one receipt: two fill the budget, the other three wait in the pool.
    assert_eq!(out.included, vec![txs[0].hash(), txs[1].hash()]);
    // The first of them is refused for congestion, the later ones because it must come first;
    // all three stay in the pool.
    assert_eq!(
        out.skipped.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
        txs[2..].iter().map(|t| t.hash()).collect::<Vec<_>>()
    );
    assert_eq!(out.skipped[0].1, TxError::Congested { budget: 2 });
    let next = txs[2].tx.nonce;
    assert_eq!(
        out.skipped[1].1,
        TxError::NonceTooHigh {
            got: next + 1,
            expected: next
        }
    );
    assert!(out.skipped.iter().all(|(_, e)| e.is_retryable()));
    let get = |n: &Node| {
        n.db.get(&storage_key(&counter, b"c"), n.height)
            .unwrap()
            .map(|v| u64::decode(&mut &v[..]).unwrap())
    };
    assert_eq!(get(&n), Some(2));
    // The two refunds the calls made are queued for the next block.
    assert_eq!(out.delayed, 2);

    // The rest go in as the budget frees up, and every receipt runs exactly once.
    let mut rest = txs[2..].to_vec();
    let mut blocks = 0;
    let mut delayed = out.delayed;
    while (!rest.is_empty() || delayed > 0) && blocks < 20 {
        let out = n.block(rest.clone());
        rest.retain(|t| !out.included.contains(&t.hash()));
        delayed = out.delayed;
        blocks += 1;
    }
    assert!(rest.is_empty() && delayed == 0, "drained in {blocks} blocks");
    assert_eq!(get(&n), Some(5));
}

#[test]
fn the_delayed_queue_persists_across_blocks() {
    let a = key(1);
    let mut n = Node::new(Arc::new(MemStore::new()), &[&a]);
    let p1 = deploy(&mut n, &a, tutti_examples::PING_PONG, None);
    let p2 = deploy(&mut n, &a, tutti_examples::PING_PONG, None);
    let p3 = deploy(&mut n, &a, tutti_examples::PING_PONG, None);
    n.spec.max_receipts_per_block = 2;
    // Each `ping_both` fans out: two pongs (and their refunds), then a joined callback that
    // jumps the queue once both answers are in. Far more than 2 receipts per block.
    let nonce = n.nonce(&a);
    let ping = |i: u64| {
        tx(
            &a,
            nonce + i,
            100_000_000,
            Action::Call {
                contract: p1,
                method: "ping_both".into(),
                args: (p2, p3, 10 * i).encode(),
                value: 0,
            },
        )
    };
    let out = n.block(vec![ping(0), ping(1)]);
    assert_eq!(out.included.len(), 2);
    let mut peak = out.delayed;
    let mut ran = out.executions.iter().filter(|(_, e)| !e.transaction).count();
    let mut seen: std::collections::HashSet<Hash> = out.executions.iter().map(|(id, _)| *id).collect();
    let mut blocks = 1;
    let mut delayed = out.delayed;
    while delayed > 0 && blocks < 40 {
        let out = n.block(vec![]);
        assert!(
            out.executions.iter().filter(|(_, e)| !e.transaction).count() <= 2,
            "at most the budget runs per block"
        );
        for (id, e) in &out.executions {
            assert!(seen.insert(*id), "receipt {id} ran twice");
            ran += usize::from(!e.transaction);
        }
        delayed = out.delayed;
        peak = peak.max(delayed);
        blocks += 1;
    }
    assert_eq!(delayed, 0, "the queue drains");
    assert!(peak > 2, "the queue held more than one block's budget (peak {peak})");
    let read = |c: &Address, k: &[u8]| {
        n.db.get(&storage_key(c, k), n.height)
            .unwrap()
            .map(|v| u64::decode(&mut &v[..]).unwrap())
    };
    assert_eq!(read(&p2, b"s"), Some(2), "p2 served both pings");
    assert_eq!(read(&p3, b"s"), Some(2), "p3 served both pings");
    // The second ping (n = 10) answered 11 and 12 last.
    assert_eq!(read(&p1, b"l"), Some(23));
    // ping_both x2, 4 pongs, 2 on_both, and a refund for each of the 8 calls that had gas left.
    assert!(ran >= 8, "{ran} receipts ran");
}

#[test]
fn same_blocks_same_roots_on_any_backend_and_after_restart() {
    let run = |store: Arc<dyn Store>| {
        let a = key(1);
        let mut n = Node::new(store, &[&a]);
        let c = deploy(&mut n, &a, tutti_examples::COUNTER, Some(("init", (7u64,).encode())));
        let out = call(&mut n, &a, c, "increment", (3u64,).encode());
        (out.state_root, out.gas_used)
    };
    let dir = tempfile::tempdir().unwrap();
    let sled: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
    let mem = run(Arc::new(MemStore::new()));
    assert_eq!(mem, run(sled.clone()));
    drop(sled);

    // Restart on the same directory: the chain continues from the stored head.
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
    let mut n = Node::open(store);
    assert_eq!(n.height, 2);
    assert_eq!(n.db.root(2).unwrap(), Some(mem.0));
    let a = key(1);
    let out = n.block(vec![tx(
        &a,
        n.nonce(&a),
        2_000_000,
        Action::Transfer {
            to: Address([8; 32]),
            amount: 1,
        },
    )]);
    assert_eq!(out.included.len(), 1, "the nonce was read back from disk");
}

#[test]
fn recent_randomness_is_kept_in_state_for_contracts() {
    use tutti_runtime::apply::ShardState;
    let a = key(1);
    let mut n = Node::new(Arc::new(MemStore::default()), &[&a]);
    for _ in 0..3 {
        n.block(vec![]);
    }
    let view = tutti_chain::exec::read_state(&n.db, n.height, n.spec.epochs).storage_view();
    for h in 1..=3u64 {
        assert_eq!(view.randomness_at(h), Some(Hash([h as u8; 32])), "block {h}");
    }
    assert_eq!(view.randomness_at(4), None, "not produced yet");
    assert_eq!(
        view.randomness_at(3 + tutti_primitives::RANDOMNESS_WINDOW),
        None,
        "the slot of block 3 does not answer for a later height"
    );
    let earlier = tutti_chain::exec::read_state(&n.db, 2, n.spec.epochs).storage_view();
    assert_eq!(
        earlier.randomness_at(3),
        None,
        "versioned: block 3 is not in the state of block 2"
    );
}
