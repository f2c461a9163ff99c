//! State snapshots (`tutti_chain::snapshot`): a chain's state at a height served in chunks with
//! range proofs, restored into an empty store by a node that checks every chunk, and installed
//! as the head of a chain that then executes the next blocks exactly like the source. Hostile
//! chunks (altered, reordered, truncated, from the wrong place) are refused without harm, and a
//! restore stopped half-way resumes from its store.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tutti_chain::{
    Chain, Genesis, MemStore, SledStore, Store,
    block::{self, Built},
    genesis::{GenesisAccount, GenesisParams, GenesisValidator},
    snapshot::{Restore, RestoreError, StateChunk},
};
use tutti_crypto::bls::SecretKey;
use tutti_primitives::{Action, Address, CommitCertificate, PublicKey, SignedTransaction, Transaction};
use tutti_runtime::{Runtime, RuntimeConfig};

fn user(n: u32) -> SigningKey {
    let mut seed = [7u8; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    SigningKey::from_bytes(&seed)
}

fn addr(k: &SigningKey) -> Address {
    Address::from_public_key(&k.verifying_key().to_bytes())
}

fn genesis(key: &SecretKey) -> Genesis {
    Genesis {
        chain_id: 7,
        num_shards: 1,
        timestamp_ms: 1_000,
        accounts: vec![GenesisAccount {
            address: addr(&user(0)).to_string(),
            balance: "1000000000000000000".into(),
        }],
        validators: vec![GenesisValidator {
            bls_public_key: format!("0x{}", hex::encode(key.public_key().to_bytes())),
            stake: "1".into(),
            shard: 0,
            bls_pop: None,
            operator: None,
        }],
        params: GenesisParams::default(),
    }
}

fn transfer(nonce: u64, to: Address) -> SignedTransaction {
    let k = user(0);
    Transaction {
        chain_id: 7,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit: 2_000_000,
        gas_price: 1,
        action: Action::Transfer { to, amount: 1_000 },
    }
    .sign(&k)
}

/// Builds and commits one block of `txs` on `chain` (a committee of one: the certificate is not
/// checked by `commit`).
fn commit(chain: &Chain, runtime: &Runtime, key: &SecretKey, txs: Vec<SignedTransaction>) {
    let ts = chain.head().header.timestamp_ms + 1_000;
    let Built {
        header,
        txs,
        incoming,
        crosslinks,
        mut output,
    } = block::build(
        chain,
        runtime,
        key,
        txs,
        vec![],
        vec![],
        Default::default(),
        ts,
        false,
        0,
        None,
    )
    .unwrap();
    let block = tutti_chain::StoredBlock {
        header,
        txs,
        incoming,
        crosslinks,
        commit: Some(CommitCertificate {
            view: 0,
            signature: [1; 96],
            signers: vec![1],
        }),
    };
    chain.commit(&block, &mut output).unwrap();
}

/// A chain with `accounts` funded accounts after a few blocks.
fn source(accounts: u32) -> (SecretKey, Genesis, Runtime, Chain) {
    let key = SecretKey::from_seed(&[9; 32]);
    let g = genesis(&key);
    let chain = Chain::open(Arc::new(MemStore::new()), &g).unwrap();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let mut nonce = 0;
    for batch in (1..=accounts).collect::<Vec<_>>().chunks(400) {
        let txs = batch
            .iter()
            .map(|i| {
                nonce += 1;
                transfer(nonce - 1, addr(&user(*i)))
            })
            .collect();
        commit(&chain, &runtime, &key, txs);
    }
    (key, g, runtime, chain)
}

/// Restores `chain`'s head state into `store` with chunks of `size` leaves, each passed through
/// `tamper` first (which may return an error it expects `add` to give).
fn restore_all(chain: &Chain, store: Arc<dyn Store>, g: &Genesis, size: u64) {
    let head = chain.head();
    let mut r = Restore::begin(store, (*head).clone()).unwrap();
    loop {
        let chunk = chain.state().chunk(head.header.height, r.next_leaf(), size).unwrap();
        if chunk.entries.is_empty() {
            r.finish(g, 0).unwrap();
            return;
        }
        r.add(chunk).unwrap();
    }
}

#[test]
fn a_restored_chain_holds_the_same_state_and_goes_on_like_the_source() {
    let (key, g, runtime, a) = source(1_200);
    let head = a.head();
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    restore_all(&a, store.clone(), &g, 97);
    let b = Chain::open(store, &g).unwrap();
    assert_eq!(b.head().header, head.header);
    assert_eq!(b.first_block().unwrap(), head.header.height);
    assert_eq!(b.oldest_state(), head.header.height);
    for i in [0, 1, 600, 1_200, 5_000] {
        let a_acc = a.account(&addr(&user(i)), head.header.height).unwrap();
        assert_eq!(
            b.account(&addr(&user(i)), head.header.height).unwrap(),
            a_acc,
            "account {i}"
        );
    }
    assert!(b.block_by_number(1).unwrap().is_none(), "no history below the snapshot");
    assert!(matches!(
        b.account(&addr(&user(1)), 1),
        Err(tutti_chain::ChainError::Pruned { .. })
    ));
    // Both execute the next block alike.
    let next = vec![transfer(1_200, addr(&user(77_777)))];
    commit(&a, &runtime, &key, next.clone());
    commit(&b, &runtime, &key, next);
    assert_eq!(b.head().header.state_root, a.head().header.state_root);
    assert_eq!(b.head().header.hash(), a.head().header.hash());
}

#[test]
fn hostile_chunks_are_refused_and_the_restore_goes_on() {
    let (_, g, _, a) = source(700);
    let head = a.head();
    let v = head.header.height;
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let mut r = Restore::begin(store.clone(), (*head).clone()).unwrap();
    let good = |r: &Restore| a.state().chunk(v, r.next_leaf(), 64).unwrap();
    let bad = |e: Result<(), RestoreError>| match e {
        Err(RestoreError::BadChunk(m)) => m,
        other => panic!("expected a refused chunk, got {other:?}"),
    };
    r.add(good(&r)).unwrap();
    r.add(good(&r)).unwrap();
    let at = r.next_leaf();
    assert_eq!(at, 128);

    // A value changed.
    let mut c = good(&r);
    c.entries[3].1[0] ^= 1;
    bad(r.add(c));
    // Two leaves swapped.
    let mut c = good(&r);
    c.entries.swap(1, 2);
    bad(r.add(c));
    // A leaf left out.
    let mut c = good(&r);
    c.entries.remove(5);
    bad(r.add(c));
    // The proof of another chunk.
    let mut c = good(&r);
    c.proof = a.state().chunk(v, 0, 64).unwrap().proof;
    bad(r.add(c));
    // Garbage proof bytes, a chunk from later on, an empty one.
    let mut c = good(&r);
    c.proof = vec![0xff; 40];
    bad(r.add(c));
    bad(r.add(a.state().chunk(v, at + 10, 64).unwrap()));
    bad(r.add(StateChunk {
        leaves: 0,
        start: at,
        entries: vec![],
        proof: vec![],
    }));
    // State of another version (the genesis).
    bad(r.add(a.state().chunk(0, at, 64).unwrap()));

    // After every refusal the restore may have stepped back to what it stored; an overlapping
    // chunk is trimmed, and the state completes with the right root.
    assert!(r.next_leaf() <= at);
    r.add(a.state().chunk(v, r.next_leaf().saturating_sub(3), 64).unwrap())
        .unwrap();
    // A peer that says the state ends here: the finish is refused and nothing is written.
    match r.finish(&g, 0) {
        Err(RestoreError::Incomplete { .. }) => {}
        other => panic!("an early end must be refused, got {other:?}"),
    }
    assert!(
        Chain::open(store.clone(), &g).is_err(),
        "an unfinished restore is not a chain"
    );
    loop {
        let c = good(&r);
        if c.entries.is_empty() {
            break;
        }
        r.add(c).unwrap();
    }
    r.finish(&g, 0).unwrap();
    let b = Chain::open(store, &g).unwrap();
    assert_eq!(b.head().header.state_root, head.header.state_root);
}

#[test]
fn a_restore_stopped_half_way_resumes_from_its_store() {
    let (_, g, _, a) = source(900);
    let head = a.head();
    let v = head.header.height;
    let dir = tempfile::tempdir().unwrap();
    {
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        let mut r = Restore::begin(store, (*head).clone()).unwrap();
        for _ in 0..5 {
            r.add(a.state().chunk(v, r.next_leaf(), 50).unwrap()).unwrap();
        }
        assert!(r.stored_leaves() > 0 && r.stored_leaves() <= 250);
        // Killed here: the restore and the store go away.
    }
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
    assert!(
        Chain::open(store.clone(), &g)
            .err()
            .is_some_and(|e| e.to_string().contains("unfinished state restore")),
        "the chain refuses to open on an unfinished restore"
    );
    let other = {
        let mut b = (*head).clone();
        b.header.height += 1;
        b
    };
    assert!(
        Restore::begin(store.clone(), other).is_err(),
        "a restore of another block is refused"
    );
    let mut r = Restore::pending(store.clone()).unwrap().expect("a pending restore");
    let resumed_at = r.next_leaf();
    assert!(resumed_at > 0, "resumes where the store stands, not from scratch");
    loop {
        let c = a.state().chunk(v, r.next_leaf(), 50).unwrap();
        if c.entries.is_empty() {
            break;
        }
        r.add(c).unwrap();
    }
    r.finish(&g, 0).unwrap();
    drop(r);
    let b = Chain::open(store, &g).unwrap();
    assert_eq!(b.head().header, head.header);
    assert!(b.state().root(v).unwrap() == Some(head.header.state_root));
}

/// A store whose `flush` waits until the test lets it go, telling the test it got there.
struct GatedStore {
    inner: MemStore,
    gate: std::sync::Mutex<Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>>,
}

impl Store for GatedStore {
    fn get(&self, col: tutti_chain::Column, key: &[u8]) -> tutti_chain::Result<Option<Vec<u8>>> {
        self.inner.get(col, key)
    }
    fn prefix(&self, col: tutti_chain::Column, p: &[u8], limit: usize) -> tutti_chain::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.prefix(col, p, limit)
    }
    fn seek_prev(&self, col: tutti_chain::Column, key: &[u8]) -> tutti_chain::Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.inner.seek_prev(col, key)
    }
    fn seek_prev_n(
        &self,
        col: tutti_chain::Column,
        key: &[u8],
        n: usize,
    ) -> tutti_chain::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.seek_prev_n(col, key, n)
    }
    fn write(&self, batch: tutti_chain::WriteBatch) -> tutti_chain::Result<()> {
        self.inner.write(batch)
    }
    fn flush(&self) -> tutti_chain::Result<()> {
        if let Some((reached, release)) = self.gate.lock().unwrap().take() {
            reached.send(()).unwrap();
            release.recv().unwrap();
        }
        Ok(())
    }
}

/// A block's records reach the store a moment before its commit moves the head (after the
/// flush); in that moment its transaction must not look done, since the head's state (what
/// `tutti_getBalance` reads) does not show it yet.
#[test]
fn a_transaction_is_not_found_before_its_block_is_the_head() {
    let key = SecretKey::from_seed(&[9; 32]);
    let g = genesis(&key);
    let store = Arc::new(GatedStore {
        inner: MemStore::new(),
        gate: std::sync::Mutex::new(None),
    });
    let chain = Arc::new(Chain::open(store.clone(), &g).unwrap());
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let tx = transfer(0, addr(&user(1)));
    let hash = tx.hash();
    let (reached_tx, reached) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    *store.gate.lock().unwrap() = Some((reached_tx, release_rx));
    let committing = {
        let (chain, runtime, key) = (chain.clone(), runtime.clone(), key.clone());
        std::thread::spawn(move || commit(&chain, &runtime, &key, vec![tx]))
    };
    reached.recv().unwrap();
    // Written, not yet the head.
    assert_eq!(chain.head().header.height, 0);
    assert!(
        !store
            .inner
            .prefix(tutti_chain::Column::Index, b"", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(chain.tx_location(&hash).unwrap(), None);
    assert!(chain.execution_tree(&hash, 10).unwrap().is_empty());
    assert!(chain.transaction(&hash).unwrap().is_none());
    release.send(()).unwrap();
    committing.join().unwrap();
    assert_eq!(chain.head().header.height, 1);
    assert_eq!(chain.tx_location(&hash).unwrap().map(|l| l.height), Some(1));
    assert_eq!(
        chain.execution_tree(&hash, 10).unwrap().len(),
        2,
        "the transaction and its transfer"
    );
}
