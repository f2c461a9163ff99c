//! State snapshots: a shard's state at one certified height, served in chunks with range proofs
//! and restored chunk by chunk by a node that does not have it ([`Restore`]), then installed as
//! the head of a chain that starts there ([`Restore::finish`]) instead of at genesis.
//!
//! Rules:
//! - A chunk is the leaves (key hash, value) of the state tree at one version from leaf index
//!   `start` on, at most [`CHUNK_KEYS`] of them and about [`CHUNK_BYTES`], with the range proof
//!   of its last key ([`StateDb::chunk`]). Chunks are addressed by leaf index, so a client can ask
//!   several peers for different chunks at once and knows exactly which peer sent a bad one: a
//!   chunk verifies against the root together with every leaf before it, which the client
//!   already verified.
//! - [`Restore`] hands each chunk to `jmt`'s `JellyfishMerkleRestore`, which checks it against the
//!   expected root before writing anything. That type changes its partial nodes before checking,
//!   so after a refused chunk the restore is rebuilt from what the store holds (the rightmost
//!   stored leaf and its ancestors), and goes on from the leaf after it.
//! - Every write of the restore goes with a progress record (leaves stored, rightmost stored
//!   leaf) in the same atomic batch: a node killed mid-restore resumes where its store stands.
//! - The tree's root node is written last, and only if its hash is the expected root: a peer that
//!   claims the state ends early (an empty or short chunk) gets the finish refused and nothing
//!   written.
//! - The target block (its header's height and state root, its commit certificate) is recorded
//!   when the restore begins; a store holding an unfinished restore is not a chain
//!   ([`Chain::open_shard`](crate::Chain::open_shard) refuses it). Finishing writes the block as
//!   the head, with the state kept from its height on (no blocks or state below it).

use std::sync::{Arc, Mutex};

use jmt::{
    KeyHash, OwnedValue, RootHash, Version,
    proof::SparseMerkleRangeProof,
    restore::{JellyfishMerkleRestore, StateSnapshotReceiver},
    storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader, TreeWriter},
};
use parity_scale_codec::{Decode, Encode};
use tutti_primitives::Hash;

use crate::{ChainError, Column, Genesis, Result, StateDb, Store, StoredBlock, WriteBatch, state::Blake3Hasher};

/// Most leaves in one chunk.
pub const CHUNK_KEYS: u64 = 4096;
/// About the most value bytes in one chunk (a chunk holds at least one leaf whatever its size).
pub const CHUNK_BYTES: usize = 8 << 20;

/// Leaves of the state tree at one version, with the range proof of the last.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StateChunk {
    /// How many leaves the tree has at that version (what the server says; used for progress).
    pub leaves: u64,
    /// Index of the first leaf.
    pub start: u64,
    /// The leaves, by key hash (increasing).
    pub entries: Vec<([u8; 32], Vec<u8>)>,
    /// The range proof of the last leaf (borsh, as `jmt` encodes it); empty with no entries.
    pub proof: Vec<u8>,
}

impl<S: Store + ?Sized> StateDb<S> {
    /// The leaves of the tree at `version` from index `start`, at most `max` (capped at
    /// [`CHUNK_KEYS`]) and about [`CHUNK_BYTES`], with the range proof of the last one.
    pub fn chunk(&self, version: Version, start: u64, max: u64) -> Result<StateChunk> {
        let tree = jmt::JellyfishMerkleTree::<_, Blake3Hasher>::new(self);
        if self.root(version)?.is_none() {
            return Err(ChainError::Tree(format!("no state at version {version}")));
        }
        let leaves = tree.get_leaf_count(version).map_err(tree_err)? as u64;
        let mut entries = Vec::new();
        let mut bytes = 0;
        if start < leaves {
            let iter = jmt::JellyfishMerkleIterator::new_by_index(Arc::new(self.clone()), version, start as usize)
                .map_err(tree_err)?;
            for item in iter {
                let (kh, value) = item.map_err(tree_err)?;
                bytes += value.len() + 32;
                entries.push((kh.0, value));
                if entries.len() as u64 >= max.clamp(1, CHUNK_KEYS) || bytes >= CHUNK_BYTES {
                    break;
                }
            }
        }
        let proof = match entries.last() {
            Some((last, _)) => {
                let proof = tree.get_range_proof(KeyHash(*last), version).map_err(tree_err)?;
                borsh::to_vec(&proof).map_err(tree_err)?
            }
            None => Vec::new(),
        };
        Ok(StateChunk {
            leaves,
            start,
            entries,
            proof,
        })
    }
}

fn tree_err(e: impl std::fmt::Display) -> ChainError {
    ChainError::Tree(e.to_string())
}

fn corrupt(what: &'static str, e: impl std::fmt::Display) -> ChainError {
    ChainError::Corrupt {
        what,
        detail: e.to_string(),
    }
}

/// Why a chunk or the finish was refused.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The chunk does not verify against the root with the leaves before it (or is malformed):
    /// its sender lied.
    #[error("state chunk refused: {0}")]
    BadChunk(String),
    /// The state received so far does not make the expected root: a peer said the state ends
    /// where it does not.
    #[error("the state received so far does not have the expected root {expected}: {detail}")]
    Incomplete {
        /// The root asked for.
        expected: Hash,
        /// What `jmt` said.
        detail: String,
    },
    /// The store failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

const TARGET_KEY: &[u8] = b"restore-target";
const PROGRESS_KEY: &[u8] = b"restore-progress";

/// What the restore has made durable.
#[derive(Clone, Debug, Default, Encode, Decode)]
struct Progress {
    /// Leaves written.
    leaves: u64,
    /// The rightmost leaf written (borsh `(NodeKey, LeafNode)`).
    rightmost: Option<Vec<u8>>,
}

/// The restore's view of the store: reads nodes like the state tree, writes each batch with the
/// progress record, and writes the root only if it is the expected one.
struct Sink {
    store: Arc<dyn Store>,
    db: StateDb<dyn Store>,
    version: Version,
    root: Hash,
    progress: Mutex<Progress>,
}

impl Sink {
    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().expect("restore progress lock poisoned")
    }
}

impl TreeReader for Sink {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        self.db.get_node_option(node_key)
    }

    fn get_value_option(&self, max_version: Version, key_hash: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        self.db.get_value_option(max_version, key_hash)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        match &self.progress().rightmost {
            Some(b) => Ok(Some(borsh::from_slice(b)?)),
            None => Ok(None),
        }
    }
}

impl TreeWriter for Sink {
    fn write_node_batch(&self, node_batch: &NodeBatch) -> anyhow::Result<()> {
        let mut progress = self.progress().clone();
        let mut batch = WriteBatch::new();
        for (key, node) in node_batch.nodes() {
            if key.version() != self.version {
                anyhow::bail!(
                    "the restore wrote a node of version {} (restoring {})",
                    key.version(),
                    self.version
                );
            }
            match node {
                Node::Leaf(leaf) => {
                    progress.leaves += 1;
                    let newer = match &progress.rightmost {
                        Some(b) => {
                            let (_, old): (NodeKey, LeafNode) = borsh::from_slice(b)?;
                            leaf.key_hash() > old.key_hash()
                        }
                        None => true,
                    };
                    if newer {
                        progress.rightmost = Some(borsh::to_vec(&(key.clone(), leaf.clone()))?);
                    }
                }
                Node::Internal(_) | Node::Null => {}
            }
            if key.nibble_path().is_empty() {
                let hash = match node {
                    Node::Internal(n) => n.hash::<Blake3Hasher>(),
                    Node::Leaf(l) => l.hash::<Blake3Hasher>(),
                    Node::Null => [0; 32],
                };
                if hash != self.root.0 {
                    anyhow::bail!("the restored tree's root would be {} ", Hash(hash));
                }
            }
            batch.put(Column::StateNodes, borsh::to_vec(key)?, borsh::to_vec(node)?);
        }
        for ((version, kh), value) in node_batch.values() {
            batch.put(
                Column::StateValues,
                crate::state::value_key(kh, *version),
                crate::state::value_entry(value.as_deref()),
            );
        }
        batch.put(Column::Meta, PROGRESS_KEY.to_vec(), progress.encode());
        self.store.write(batch)?;
        // Durable before the next chunk is asked for: a kill loses at most the chunk in hand.
        self.store.flush()?;
        *self.progress() = progress;
        Ok(())
    }
}

/// A state restore in progress into a store (module doc).
pub struct Restore {
    store: Arc<dyn Store>,
    sink: Arc<Sink>,
    inner: Option<JellyfishMerkleRestore<Blake3Hasher>>,
    target: StoredBlock,
    /// Leaves added (stored or held by the restore).
    next: u64,
}

impl Restore {
    /// Starts restoring the state of `target` (a block of another node's chain, already checked
    /// by the caller: its commit certificate against its committee) into `store`, or resumes the
    /// restore `store` holds for that same block. Refuses a store that holds a chain or a restore
    /// of another block.
    pub fn begin(store: Arc<dyn Store>, target: StoredBlock) -> Result<Restore> {
        if store.get(Column::Meta, b"genesis")?.is_some() {
            return Err(ChainError::Storage(
                "this data directory already holds a chain; a snapshot is restored into an empty one".into(),
            ));
        }
        match store.get(Column::Meta, TARGET_KEY)? {
            Some(b) => {
                let pending: StoredBlock = decode(&b, "restore target")?;
                if pending.header.hash() != target.header.hash() {
                    return Err(ChainError::Storage(format!(
                        "this data directory holds an unfinished restore of height {} ({}); resume that one or \
                         use an empty directory",
                        pending.header.height,
                        pending.header.hash()
                    )));
                }
            }
            None => {
                if !store.prefix(Column::StateNodes, &[], 1)?.is_empty() {
                    return Err(ChainError::Storage(
                        "this data directory holds state but no chain or restore; use an empty directory".into(),
                    ));
                }
                let mut batch = WriteBatch::new();
                batch.put(Column::Meta, TARGET_KEY.to_vec(), target.encode());
                store.write(batch)?;
                store.flush()?;
            }
        }
        Self::open(store, target)
    }

    /// The restore `store` holds, if any (to resume it after a restart).
    pub fn pending(store: Arc<dyn Store>) -> Result<Option<Restore>> {
        match store.get(Column::Meta, TARGET_KEY)? {
            Some(b) => {
                let target: StoredBlock = decode(&b, "restore target")?;
                Self::open(store, target).map(Some)
            }
            None => Ok(None),
        }
    }

    /// The block whose state `store` is restoring, if any.
    pub fn pending_target(store: &dyn Store) -> Result<Option<StoredBlock>> {
        store
            .get(Column::Meta, TARGET_KEY)?
            .map(|b| decode(&b, "restore target"))
            .transpose()
    }

    fn open(store: Arc<dyn Store>, target: StoredBlock) -> Result<Restore> {
        let progress: Progress = match store.get(Column::Meta, PROGRESS_KEY)? {
            Some(b) => decode(&b, "restore progress")?,
            None => Progress::default(),
        };
        let next = progress.leaves;
        let sink = Arc::new(Sink {
            db: StateDb::new(store.clone()),
            store: store.clone(),
            version: target.header.height,
            root: target.header.state_root,
            progress: Mutex::new(progress),
        });
        let mut r = Restore {
            store,
            sink,
            inner: None,
            target,
            next,
        };
        r.rebuild()?;
        Ok(r)
    }

    /// Starts the `jmt` restore again from what the store holds.
    fn rebuild(&mut self) -> Result<()> {
        self.inner = None;
        self.next = self.sink.progress().leaves;
        if self.complete()? {
            return Ok(());
        }
        self.inner = Some(
            JellyfishMerkleRestore::new(
                self.sink.clone(),
                self.target.header.height,
                RootHash(self.target.header.state_root.0),
            )
            .map_err(tree_err)?,
        );
        Ok(())
    }

    /// Whether the whole state is stored (its root written).
    fn complete(&self) -> Result<bool> {
        Ok(self.sink.db.root(self.target.header.height)? == Some(self.target.header.state_root))
    }

    /// The block whose state is restored.
    pub fn target(&self) -> &StoredBlock {
        &self.target
    }

    /// Index of the next leaf wanted.
    pub fn next_leaf(&self) -> u64 {
        self.next
    }

    /// Adds a chunk starting at or before [`Self::next_leaf`] (leaves before it are skipped).
    /// A chunk that does not verify is refused, nothing of it is kept, and the restore goes on
    /// from what the store holds (its [`Self::next_leaf`] may move back).
    pub fn add(&mut self, chunk: StateChunk) -> Result<(), RestoreError> {
        let bad = |m: String| RestoreError::BadChunk(m);
        if chunk.start > self.next {
            return Err(bad(format!(
                "it starts at leaf {} but leaf {} is wanted",
                chunk.start, self.next
            )));
        }
        let skip = (self.next - chunk.start) as usize;
        if skip >= chunk.entries.len() {
            return Err(bad(format!(
                "it holds leaves {}..{}, none at or after leaf {}",
                chunk.start,
                chunk.start + chunk.entries.len() as u64,
                self.next
            )));
        }
        let proof: SparseMerkleRangeProof<Blake3Hasher> =
            borsh::from_slice(&chunk.proof).map_err(|e| bad(format!("its proof does not decode: {e}")))?;
        let entries: Vec<(KeyHash, OwnedValue)> = chunk
            .entries
            .into_iter()
            .skip(skip)
            .map(|(k, v)| (KeyHash(k), v))
            .collect();
        let n = entries.len() as u64;
        let Some(inner) = self.inner.as_mut() else {
            return Err(bad("the state is already complete".into()));
        };
        // `jmt` panics on a key that is not above the previous one in some paths; check first.
        if entries.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(bad("its keys are not in increasing order".into()));
        }
        match inner.add_chunk(entries, proof) {
            Ok(()) => {
                self.next += n;
                Ok(())
            }
            Err(e) => {
                self.rebuild()?;
                Err(bad(e.to_string()))
            }
        }
    }

    /// How many leaves are stored durably (a restart resumes from there).
    pub fn stored_leaves(&self) -> u64 {
        self.sink.progress().leaves
    }

    /// Ends the restore when a peer says no leaf follows: writes the root if the state received
    /// makes the expected one (else refuses and goes on from what the store holds), then installs
    /// the target block as the head of the chain of shard `shard` of `genesis`.
    pub fn finish(&mut self, genesis: &Genesis, shard: tutti_primitives::ShardId) -> Result<(), RestoreError> {
        if let Some(inner) = self.inner.take()
            && let Err(e) = inner.finish()
        {
            self.rebuild()?;
            return Err(RestoreError::Incomplete {
                expected: self.target.header.state_root,
                detail: e.to_string(),
            });
        }
        if !self.complete()? {
            self.rebuild()?;
            return Err(RestoreError::Incomplete {
                expected: self.target.header.state_root,
                detail: "the root was not written".into(),
            });
        }
        let mut batch = WriteBatch::new();
        crate::Chain::install_snapshot(&mut batch, genesis, shard, &self.target)?;
        batch.delete(Column::Meta, TARGET_KEY.to_vec());
        batch.delete(Column::Meta, PROGRESS_KEY.to_vec());
        self.store.write(batch)?;
        self.store.flush()?;
        Ok(())
    }
}

fn decode<T: Decode>(bytes: &[u8], what: &'static str) -> Result<T> {
    T::decode(&mut &bytes[..]).map_err(|e| corrupt(what, e))
}

/// A state key, its value (or none) and the proof bytes of that.
pub type ProvenEntry = (Vec<u8>, Option<Vec<u8>>, Vec<u8>);

/// Values (or none) with their proof bytes, in the order of the keys asked.
pub type ProofAnswer = Vec<(Option<Vec<u8>>, Vec<u8>)>;

/// State entries proven against a root (values read from a peer without its state): the
/// beacon registry and committees as a read-only [`Kv`](crate::beacon::Kv) for a node that
/// follows committees from headers alone. A key not proven reads as absent and is noted.
#[derive(Debug, Default)]
pub struct Proven {
    values: std::collections::HashMap<Vec<u8>, Option<Vec<u8>>>,
    problems: std::cell::RefCell<Vec<String>>,
}

impl Proven {
    /// Checks each `(key, value, proof bytes)` against `root`; the first that fails refuses all.
    pub fn verify(root: Hash, entries: Vec<ProvenEntry>) -> Result<Proven> {
        let mut values = std::collections::HashMap::new();
        for (key, value, proof) in entries {
            crate::StateProof::from_bytes(&proof)?.verify(root, &key, value.as_deref())?;
            values.insert(key, value);
        }
        Ok(Proven {
            values,
            problems: Default::default(),
        })
    }

    /// What went wrong in reads so far: keys read that were not proven, values that did not
    /// decode.
    pub fn problems(&self) -> Vec<String> {
        self.problems.borrow().clone()
    }
}

impl crate::beacon::Kv for Proven {
    fn get<T: Decode>(&self, key: &[u8], what: &'static str) -> Option<T> {
        match self.values.get(key) {
            Some(Some(b)) => match T::decode(&mut &b[..]) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.problems
                        .borrow_mut()
                        .push(format!("the proven {what} does not decode: {e}"));
                    None
                }
            },
            Some(None) => None,
            None => {
                self.problems
                    .borrow_mut()
                    .push(format!("{what} (key {}) was not proven", hex::encode(key)));
                None
            }
        }
    }

    fn put<T: Encode>(&mut self, _key: Vec<u8>, _value: Option<&T>) {
        unreachable!("proven state is read-only")
    }
}
