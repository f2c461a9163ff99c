//! Single-validator block production over a real store: headers, certificates, randomness chain,
//! indexes, reopen.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tutti_chain::{
    Chain, Genesis, SledStore, Store,
    genesis::{GenesisAccount, GenesisParams, GenesisValidator},
};
use tutti_consensus::bls::SecretKey;
use tutti_node::solo::{self, ProduceError};
use tutti_primitives::{Action, Address, PublicKey, SignedTransaction, Transaction};
use tutti_runtime::{Runtime, RuntimeConfig};

fn user(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn addr(k: &SigningKey) -> Address {
    Address::from_public_key(&k.verifying_key().to_bytes())
}

fn genesis(bls: &SecretKey) -> Genesis {
    Genesis {
        chain_id: 7,
        num_shards: 1,
        timestamp_ms: 1_000,
        accounts: vec![GenesisAccount {
            address: addr(&user(1)).to_string(),
            balance: "1000000000000000".into(),
        }],
        validators: vec![GenesisValidator {
            bls_public_key: format!("0x{}", hex::encode(bls.public_key().to_bytes())),
            stake: "1".into(),
            shard: 0,
            bls_pop: None,
            operator: None,
        }],
        params: GenesisParams::default(),
    }
}

fn transfer(k: &SigningKey, nonce: u64, to: Address, amount: u128) -> SignedTransaction {
    signed(k, nonce, 2_000_000, Action::Transfer { to, amount })
}

#[test]
fn blocks_chain_up_verify_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::from_seed(&[9; 32]);
    let g = genesis(&key);
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let a = user(1);
    let b = addr(&user(2));
    let mut headers = Vec::new();
    {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        let chain = Chain::open(store, &g).unwrap();
        headers.push(chain.head().header.clone());
        for n in 0..3u64 {
            let txs = vec![transfer(&a, n, b, 10)];
            let p = solo::produce_and_commit(&chain, &runtime, &key, txs, 0, false).unwrap();
            assert_eq!(p.block.txs.len(), 1);
            solo::verify_block(&headers[n as usize], &p.block, &key.public_key()).unwrap();
            assert_eq!(
                p.block.header.timestamp_ms,
                1_000 + n + 1,
                "timestamps never go backwards"
            );
            headers.push(p.block.header.clone());
        }
        // The parent's certificate rides in the child's header.
        let b2 = chain.block_by_number(2).unwrap().unwrap();
        assert_eq!(
            b2.header.parent_commit,
            chain.block_by_number(1).unwrap().unwrap().commit
        );
        assert_ne!(headers[1].randomness, headers[2].randomness);
        let tx = transfer(&a, 1, b, 10).hash();
        assert_eq!(chain.tx_location(&tx).unwrap().unwrap().height, 2);
        assert_eq!(
            chain.execution_tree(&tx, 10).unwrap().len(),
            2,
            "the transaction and its transfer receipt"
        );
        assert_eq!(chain.account(&b, 3).unwrap().balance, 30);
        assert_eq!(
            chain.account(&b, 1).unwrap().balance,
            10,
            "older versions stay readable"
        );
    }
    // Reopen: same head, and it continues.
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
    let chain = Chain::open(store, &g).unwrap();
    assert_eq!(chain.head().header, headers[3]);
    let p = solo::produce_and_commit(&chain, &runtime, &key, vec![transfer(&a, 3, b, 10)], 0, false).unwrap();
    solo::verify_block(&headers[3], &p.block, &key.public_key()).unwrap();
    assert_eq!(chain.account(&b, 4).unwrap().balance, 40);

    // Another genesis on the same store is refused with a message that says what to do.
    let mut other = g.clone();
    other.chain_id = 8;
    let store: Arc<dyn Store> = Arc::new(SledStore::open(tempfile::tempdir().unwrap().path()).unwrap());
    Chain::open(store.clone(), &g).unwrap();
    let e = Chain::open(store.clone(), &other).err().unwrap().to_string();
    assert!(e.contains("another data directory"), "{e}");

    // A store in an older layout is refused, not misread.
    let mut b = tutti_chain::WriteBatch::new();
    b.put(
        tutti_chain::Column::Meta,
        b"format".to_vec(),
        1u32.to_le_bytes().to_vec(),
    );
    store.write(b).unwrap();
    let e = Chain::open(store, &g).err().unwrap().to_string();
    assert!(
        e.contains("storage format 1") && e.contains("new data directory"),
        "{e}"
    );
}

/// A chain in memory whose blocks run at most `budget` receipts.
fn chain_with_receipt_budget(budget: usize) -> (SecretKey, Runtime, Chain) {
    let key = SecretKey::from_seed(&[9; 32]);
    let mut g = genesis(&key);
    g.params.max_receipts_per_block = budget;
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let chain = Chain::open(Arc::new(tutti_chain::MemStore::new()), &g).unwrap();
    (key, runtime, chain)
}

/// Transactions whose receipts wait for later blocks: the execution tree of each is complete,
/// whether a receipt ran in the transaction's block or after.
#[test]
fn execution_trees_span_blocks_when_receipts_wait() {
    let (key, runtime, chain) = chain_with_receipt_budget(2);
    let a = user(1);
    let txs: Vec<_> = (0..2).map(|n| transfer(&a, n, addr(&user(2 + n as u8)), 5)).collect();
    // Block 1 carries both transfers and runs both receipts; it has room for exactly them.
    let p = solo::produce_and_commit(&chain, &runtime, &key, txs.clone(), 0, false).unwrap();
    assert_eq!(p.block.txs.len(), 2);
    for t in &txs {
        let tree = chain.execution_tree(&t.hash(), 10).unwrap();
        assert_eq!(tree.len(), 2, "the transaction and its transfer receipt");
        assert!(tree[0].1.transaction && !tree[1].1.transaction);
        assert_eq!(tree[0].1.children, vec![tree[1].0]);
    }
    // Three more with a budget of two: the third waits in the pool (congestion control), so
    // nothing is delayed; a receipt made in one block and run in the next is looked up by id.
    let more: Vec<_> = (2..5).map(|n| transfer(&a, n, addr(&user(9)), 1)).collect();
    let p = solo::produce_and_commit(&chain, &runtime, &key, more.clone(), 0, false).unwrap();
    assert_eq!(p.block.txs.len(), 2);
    assert_eq!(p.output.skipped.len(), 1);
    assert!(p.output.skipped[0].1.is_retryable());
    assert!(
        chain.execution_tree(&more[2].hash(), 10).unwrap().is_empty(),
        "not included"
    );
    let p = solo::produce_and_commit(&chain, &runtime, &key, vec![more[2].clone()], 0, false).unwrap();
    assert_eq!(p.block.txs.len(), 1);
    assert_eq!(chain.execution_tree(&more[2].hash(), 10).unwrap().len(), 2);
    assert_eq!(chain.account(&addr(&user(9)), 3).unwrap().balance, 3);
}

fn signed(k: &SigningKey, nonce: u64, gas_limit: u64, action: Action) -> SignedTransaction {
    Transaction {
        chain_id: 7,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit,
        gas_price: 1,
        action,
    }
    .sign(k)
}

/// A call whose joined callback runs a block after the transaction: its execution tree still
/// holds every execution, found in the transaction's record and the later block's.
#[test]
fn an_execution_tree_follows_receipts_into_later_blocks() {
    use parity_scale_codec::Encode;
    let (key, runtime, chain) = chain_with_receipt_budget(3);
    let a = user(1);
    let mut pp = Vec::new();
    for n in 0..3u64 {
        let deploy = Action::Deploy {
            code: tutti_examples::PING_PONG.to_vec(),
            init_method: None,
            args: vec![],
            value: 0,
        };
        let p = solo::produce_and_commit(
            &chain,
            &runtime,
            &key,
            vec![signed(&a, n, 1_000_000_000, deploy)],
            0,
            false,
        )
        .unwrap();
        let res = p.output.executions[0].1.result.clone().expect("deployed");
        pp.push(Address(res.try_into().unwrap()));
    }
    let call = Action::Call {
        contract: pp[0],
        method: "ping_both".into(),
        args: (pp[1], pp[2], 5u64).encode(),
        value: 0,
    };
    let tx = signed(&a, 3, 100_000_000, call);
    let p = solo::produce_and_commit(&chain, &runtime, &key, vec![tx.clone()], 0, false).unwrap();
    assert!(p.output.delayed > 0, "the callback waits for the next block");
    let first = chain.execution_tree(&tx.hash(), 100).unwrap();
    let mut height = chain.head().header.height;
    while chain.head().commit.is_some() && height < 10 {
        let p = solo::produce_and_commit(&chain, &runtime, &key, vec![], 0, false).unwrap();
        height = p.block.header.height;
        if p.output.delayed == 0 {
            break;
        }
    }
    let tree = chain.execution_tree(&tx.hash(), 100).unwrap();
    assert!(tree.len() > first.len(), "later executions joined the tree");
    let methods: Vec<_> = tree.iter().filter_map(|(_, e)| e.method.clone()).collect();
    assert!(methods.contains(&"on_both".to_string()), "{methods:?}");
    let heights: std::collections::BTreeSet<_> = tree.iter().map(|(_, e)| e.height).collect();
    assert!(heights.len() >= 2, "executions from more than one block: {heights:?}");
    let ids: std::collections::HashSet<_> = tree.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), tree.len(), "each execution once");
}

#[test]
fn tampered_blocks_are_refused() {
    let key = SecretKey::from_seed(&[9; 32]);
    let g = genesis(&key);
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let chain = Chain::open(Arc::new(tutti_chain::MemStore::new()), &g).unwrap();
    let parent = chain.head().header.clone();
    let p = solo::produce(
        &chain,
        &runtime,
        &key,
        vec![transfer(&user(1), 0, addr(&user(2)), 1)],
        5_000,
        false,
    )
    .unwrap();
    let pk = key.public_key();
    solo::verify_block(&parent, &p.block, &pk).unwrap();

    let reason = |b: &tutti_chain::StoredBlock| match solo::verify_block(&parent, b, &pk) {
        Err(ProduceError::Invalid { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let mut b = p.block.clone();
    b.header.randomness.0[0] ^= 1;
    assert!(reason(&b).contains("randomness"));
    let mut b = p.block.clone();
    b.txs.clear();
    assert!(reason(&b).contains("transaction root"));
    let mut b = p.block.clone();
    b.header.gas_used += 1;
    assert!(reason(&b).contains("certificate does not verify"));
    let mut b = p.block.clone();
    b.commit = None;
    assert!(reason(&b).contains("no commit certificate"));
    let other = SecretKey::from_seed(&[10; 32]).public_key();
    assert!(solo::verify_block(&parent, &p.block, &other).is_err());

    // A block that does not extend the head is not committed.
    let mut out = p.output;
    let mut b = p.block.clone();
    b.header.parent_hash.0[0] ^= 1;
    assert!(chain.commit(&b, &mut out).is_err());
    assert_eq!(chain.head().header.height, 0);
}
