//! Authenticated, versioned state: a Jellyfish Merkle tree (`jmt`) with a blake3 hasher, stored in
//! a [`Store`], versioned by block height.
//!
//! Rules:
//! - A state key is hashed to its tree position as `blake3("tutti/state-key/v1" || key)`.
//! - Values are stored per (key hash, version); reading at version `v` returns the newest value
//!   written at or below `v`, so every past root can be read and proven until it is pruned.
//! - [`StateDb::apply`] computes the new root and puts the tree update into the caller's
//!   [`WriteBatch`]: it is committed together with the block that made it, or not at all.
//! - Nodes made stale by an update are indexed by the version they became stale at, for pruning:
//!   one entry per version (key: version, big-endian; value: the borsh `Vec<NodeKey>`), not one per
//!   node, since a store pays per key written. With pruning on ([`StateDb::track_superseded`]),
//!   the value entries an update supersedes are indexed the same way (key: version, big-endian,
//!   then `v`; value: the borsh `Vec<(KeyHash, Version)>`).
//! - [`StateDb::prune`] deletes what only versions below a horizon need: nodes stale since a
//!   version at or below it and value entries superseded at or below it. Reads below the horizon
//!   are then wrong, so the caller refuses them (the chain keeps the horizon).
//! - The newest value of recently used keys is cached in memory ([`StateDb::install`] after a
//!   batch is durably written; a miss fills it only when no write happened during the read), so
//!   reads at the head do not walk the store's versioned values. A cached entry `(v, value)` is
//!   the newest write of its key, so it answers every read at a version at or above `v`.

use std::sync::{Arc, Mutex};

use hashlink::LruCache;

use jmt::{
    JellyfishMerkleTree, KeyHash, OwnedValue, SimpleHasher, Version,
    proof::SparseMerkleProof,
    storage::{LeafNode, Node, NodeKey, TreeReader},
};
use tutti_primitives::Hash;

use crate::{ChainError, Column, Result, Store, WriteBatch};

/// blake3 for the tree's internal hashing.
#[derive(Clone)]
pub struct Blake3Hasher(blake3::Hasher);

impl SimpleHasher for Blake3Hasher {
    fn new() -> Self {
        Blake3Hasher(blake3::Hasher::new())
    }
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn finalize(self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

const KEY_TAG: &[u8] = b"tutti/state-key/v1";

/// The tree position of a state key.
pub fn key_hash(key: &[u8]) -> KeyHash {
    let mut h = Blake3Hasher::new();
    h.update(KEY_TAG);
    h.update(key);
    KeyHash(h.finalize())
}

/// A proof that a key has (or has not) a value under a root.
#[derive(Clone, Debug)]
pub struct StateProof(SparseMerkleProof<Blake3Hasher>);

impl StateProof {
    /// Checks that under `root`, `key` holds `value` (or is absent when `value` is `None`).
    pub fn verify(&self, root: Hash, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.0
            .verify(jmt::RootHash(root.0), key_hash(key), value)
            .map_err(|e| ChainError::BadProof(e.to_string()))
    }

    /// The proof's bytes (borsh, as `jmt` defines them), for RPC clients.
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(&self.0).expect("encoding into a Vec cannot fail")
    }

    /// Reads a proof from [`StateProof::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        borsh::from_slice(bytes)
            .map(StateProof)
            .map_err(|e| ChainError::BadProof(format!("proof bytes do not decode: {e}")))
    }
}

/// The state tree over a store.
pub struct StateDb<S: Store + ?Sized> {
    store: Arc<S>,
    latest: Arc<Mutex<Latest>>,
    superseded: Arc<std::sync::atomic::AtomicBool>,
}

impl<S: Store + ?Sized> Clone for StateDb<S> {
    fn clone(&self) -> Self {
        StateDb {
            store: self.store.clone(),
            latest: self.latest.clone(),
            superseded: self.superseded.clone(),
        }
    }
}

/// What one [`StateDb::prune`] call deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Tree nodes.
    pub nodes: usize,
    /// Value entries.
    pub values: usize,
    /// Stale-index entries (one per version and kind).
    pub versions: usize,
}

/// How many keys the newest-value cache holds by default.
pub const DEFAULT_CACHE_KEYS: usize = 200_000;

/// The newest value of recently read or written keys.
struct Latest {
    /// key hash -> (version of its newest write, value).
    map: LruCache<KeyHash, (Version, Option<OwnedValue>)>,
    /// Bumped by every [`StateDb::install`]: a miss read before a bump may be stale.
    generation: u64,
    /// The newest version installed (or known at open); misses read below it are not cached.
    newest: Option<Version>,
}

/// The value writes of one [`StateDb::apply`], to [`StateDb::install`] once they are durable.
#[derive(Debug, Default)]
pub struct StateWrites {
    version: Version,
    values: Vec<(KeyHash, Option<OwnedValue>)>,
}

impl StateWrites {
    /// How many keys the update wrote.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the update wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
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

/// A stored value entry: tag 1 and the value, or tag 0 for a deletion.
pub(crate) fn value_entry(value: Option<&[u8]>) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.map_or(1, |x| x.len() + 1));
    match value {
        Some(x) => {
            v.push(1);
            v.extend_from_slice(x);
        }
        None => v.push(0),
    }
    v
}

pub(crate) fn value_key(kh: &KeyHash, version: Version) -> Vec<u8> {
    let mut k = Vec::with_capacity(40);
    k.extend_from_slice(&kh.0);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

impl<S: Store + ?Sized> StateDb<S> {
    /// The state held by `store`, with the default newest-value cache.
    pub fn new(store: Arc<S>) -> Self {
        Self::with_cache(store, DEFAULT_CACHE_KEYS)
    }

    /// The state held by `store`, caching the newest value of up to `keys` keys (at least one).
    pub fn with_cache(store: Arc<S>, keys: usize) -> Self {
        StateDb {
            store,
            latest: Arc::new(Mutex::new(Latest {
                map: LruCache::new(keys.max(1)),
                generation: 0,
                newest: None,
            })),
            superseded: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    /// From now on, index the value entries each update supersedes, so [`StateDb::prune`] can
    /// delete them (costs one store seek per key written that the cache does not answer).
    pub fn track_superseded(&self) {
        self.superseded.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Deletes what only versions below `keep_from` need (module doc), at most `limit` versions'
    /// worth, into `batch`.
    pub fn prune(&self, keep_from: Version, limit: usize, batch: &mut WriteBatch) -> Result<Pruned> {
        let mut done = Pruned::default();
        for (k, v) in self.store.prefix(Column::StateStale, &[], limit)? {
            let since = match k.get(..8) {
                Some(b) => Version::from_be_bytes(b.try_into().expect("8 bytes")),
                None => return Err(corrupt("stale index key", "shorter than a version")),
            };
            if since > keep_from {
                break;
            }
            match &k[8..] {
                [] => {
                    let nodes: Vec<NodeKey> = borsh::from_slice(&v).map_err(|e| corrupt("stale node keys", e))?;
                    for n in &nodes {
                        batch.delete(
                            Column::StateNodes,
                            borsh::to_vec(n).map_err(|e| corrupt("state node key", e))?,
                        );
                    }
                    done.nodes += nodes.len();
                }
                b"v" => {
                    let values: Vec<(KeyHash, Version)> =
                        borsh::from_slice(&v).map_err(|e| corrupt("superseded values", e))?;
                    for (kh, ver) in &values {
                        batch.delete(Column::StateValues, value_key(kh, *ver));
                    }
                    done.values += values.len();
                }
                _ => return Err(corrupt("stale index key", "unknown kind")),
            }
            batch.delete(Column::StateStale, k);
            done.versions += 1;
        }
        Ok(done)
    }

    fn latest(&self) -> std::sync::MutexGuard<'_, Latest> {
        self.latest.lock().expect("state cache lock poisoned")
    }

    /// Says that the store holds every version up to `version` (the head at open), so that
    /// reads at or above it may fill the cache.
    pub fn set_newest(&self, version: Version) {
        let mut l = self.latest();
        l.newest = Some(l.newest.map_or(version, |n| n.max(version)));
        l.generation += 1;
    }

    /// Records writes that are now durable in the store: their values become the cached newest.
    /// Call it after the batch holding them is written, in version order.
    pub fn install(&self, writes: StateWrites) {
        let mut l = self.latest();
        l.generation += 1;
        l.newest = Some(l.newest.map_or(writes.version, |n| n.max(writes.version)));
        for (kh, v) in writes.values {
            l.map.insert(kh, (writes.version, v));
        }
    }

    /// Forgets every cached value (after the store changed behind the cache's back).
    pub fn clear_cache(&self) {
        let mut l = self.latest();
        l.map.clear();
        l.generation += 1;
    }

    fn tree(&self) -> JellyfishMerkleTree<'_, Self, Blake3Hasher> {
        JellyfishMerkleTree::new(self)
    }

    /// The root at `version`, or `None` if no state was written at that version.
    pub fn root(&self, version: Version) -> Result<Option<Hash>> {
        Ok(self
            .tree()
            .get_root_hash_option(version)
            .map_err(tree_err)?
            .map(|r| Hash(r.0)))
    }

    /// The value of `key` at `version`.
    pub fn get(&self, key: &[u8], version: Version) -> Result<Option<Vec<u8>>> {
        self.get_value_option(version, key_hash(key)).map_err(tree_err)
    }

    /// The value of `key` at `version` with a proof against that version's root.
    pub fn get_with_proof(&self, key: &[u8], version: Version) -> Result<(Option<Vec<u8>>, StateProof)> {
        let (v, proof) = self.tree().get_with_proof(key_hash(key), version).map_err(tree_err)?;
        Ok((v, StateProof(proof)))
    }

    /// Writes `changes` (value, or `None` to delete) as `version`, which must be above every
    /// version written before. Returns the new root and the value writes to
    /// [`StateDb::install`] once `batch`, which receives the update, is written.
    pub fn apply(
        &self,
        version: Version,
        changes: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
        batch: &mut WriteBatch,
    ) -> Result<(Hash, StateWrites)> {
        let set: Vec<(KeyHash, Option<OwnedValue>)> = changes.into_iter().map(|(k, v)| (key_hash(&k), v)).collect();
        let (root, update) = self.tree().put_value_set(set, version).map_err(tree_err)?;
        for (node_key, node) in update.node_batch.nodes() {
            let k = borsh::to_vec(node_key).map_err(|e| corrupt("state node key", e))?;
            let v = borsh::to_vec(node).map_err(|e| corrupt("state node", e))?;
            batch.put(Column::StateNodes, k, v);
        }
        for ((ver, kh), value) in update.node_batch.values() {
            batch.put(Column::StateValues, value_key(kh, *ver), value_entry(value.as_deref()));
        }
        let mut stale: std::collections::BTreeMap<Version, Vec<&NodeKey>> = Default::default();
        for s in &update.stale_node_index_batch {
            stale.entry(s.stale_since_version).or_default().push(&s.node_key);
        }
        for (since, keys) in stale {
            let v = borsh::to_vec(&keys).map_err(|e| corrupt("stale node keys", e))?;
            batch.put(Column::StateStale, since.to_be_bytes().to_vec(), v);
        }
        if self.superseded.load(std::sync::atomic::Ordering::Relaxed) && version > 0 {
            let mut old: Vec<(KeyHash, Version)> = Vec::new();
            for (ver, kh) in update.node_batch.values().keys() {
                if *ver != version {
                    continue;
                }
                let cached = self.latest().map.get(kh).map(|(v, _)| *v);
                let previous = match cached {
                    // A cached write below this version is the newest entry before it (an
                    // absent key is cached at version 0, so it is looked up).
                    Some(v) if v > 0 && v < version => Some(v),
                    _ => self.read_value(version - 1, *kh)?.map(|(v, _)| v),
                };
                if let Some(v) = previous {
                    old.push((*kh, v));
                }
            }
            if !old.is_empty() {
                let mut key = version.to_be_bytes().to_vec();
                key.push(b'v');
                batch.put(
                    Column::StateStale,
                    key,
                    borsh::to_vec(&old).map_err(|e| corrupt("superseded values", e))?,
                );
            }
        }
        let values = update
            .node_batch
            .values()
            .iter()
            .filter(|((ver, _), _)| *ver == version)
            .map(|((_, kh), v)| (*kh, v.clone()))
            .collect();
        Ok((Hash(root.0), StateWrites { version, values }))
    }

    /// The newest value at or below `max_version`, from the store.
    fn read_value(&self, max_version: Version, key_hash: KeyHash) -> Result<Option<(Version, Option<OwnedValue>)>> {
        let Some((k, v)) = self
            .store
            .seek_prev(Column::StateValues, &value_key(&key_hash, max_version))?
        else {
            return Ok(None);
        };
        if k.len() != 40 || k[..32] != key_hash.0 {
            return Ok(None);
        }
        let ver = Version::from_be_bytes(k[32..].try_into().expect("40-byte key"));
        match v.split_first() {
            Some((1, rest)) => Ok(Some((ver, Some(rest.to_vec())))),
            Some((0, _)) => Ok(Some((ver, None))),
            _ => Err(corrupt("state value", "bad tag")),
        }
    }
}

impl<S: Store + ?Sized> TreeReader for StateDb<S> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let k = borsh::to_vec(node_key)?;
        match self.store.get(Column::StateNodes, &k)? {
            Some(bytes) => Ok(Some(borsh::from_slice(&bytes).map_err(|e| corrupt("state node", e))?)),
            None => Ok(None),
        }
    }

    fn get_value_option(&self, max_version: Version, key_hash: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        let generation = {
            let mut l = self.latest();
            if let Some((ver, v)) = l.map.get(&key_hash)
                && *ver <= max_version
            {
                return Ok(v.clone());
            }
            l.generation
        };
        let found = self.read_value(max_version, key_hash)?;
        let mut l = self.latest();
        // Cache only what is the newest value: read at or above the newest version, with no
        // install since the read began.
        if l.generation == generation && l.newest.is_some_and(|n| max_version >= n) {
            let entry = found.clone().unwrap_or((0, None));
            // An absent key is cached as deleted at version 0: it answers reads at any version.
            l.map.insert(key_hash, entry);
        }
        Ok(found.and_then(|(_, v)| v))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only a state restore asks this, and it reads its own progress record instead.
        anyhow::bail!("the state tree does not track its rightmost leaf; restores go through snapshot::Restore")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemStore, SledStore};

    fn commit<S: Store + ?Sized>(db: &StateDb<S>, store: &S, version: Version, ch: Vec<(&str, Option<&str>)>) -> Hash {
        let mut b = WriteBatch::new();
        let (root, _) = db
            .apply(
                version,
                ch.into_iter()
                    .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()))),
                &mut b,
            )
            .unwrap();
        store.write(b).unwrap();
        root
    }

    fn scenario<S: Store + ?Sized>(store: Arc<S>) -> Vec<Hash> {
        let db = StateDb::new(store.clone());
        let r0 = commit(&db, &store, 0, vec![("alice", Some("10")), ("bob", Some("5"))]);
        let r1 = commit(&db, &store, 1, vec![("alice", Some("7")), ("carol", Some("3"))]);
        let r2 = commit(&db, &store, 2, vec![("bob", None)]);
        assert_eq!(db.get(b"alice", 0).unwrap(), Some(b"10".to_vec()));
        assert_eq!(db.get(b"alice", 1).unwrap(), Some(b"7".to_vec()));
        assert_eq!(
            db.get(b"alice", 2).unwrap(),
            Some(b"7".to_vec()),
            "unchanged keys read through"
        );
        assert_eq!(db.get(b"bob", 1).unwrap(), Some(b"5".to_vec()));
        assert_eq!(db.get(b"bob", 2).unwrap(), None, "deleted at 2");
        assert_eq!(db.get(b"carol", 0).unwrap(), None, "not yet written at 0");
        assert_eq!(db.root(1).unwrap(), Some(r1));
        assert_eq!(db.root(7).unwrap(), None);
        assert!(r0 != r1 && r1 != r2);
        vec![r0, r1, r2]
    }

    #[test]
    fn versions_read_back_and_roots_match_across_backends() {
        let mem = scenario(Arc::new(MemStore::new()));
        let dir = tempfile::tempdir().unwrap();
        let sled = scenario(Arc::new(SledStore::open(dir.path()).unwrap()));
        assert_eq!(mem, sled, "same changes, same roots, whatever the backend");
    }

    /// Reads through the newest-value cache answer like the store at every version, with a
    /// cache that holds everything and one that evicts on nearly every read.
    #[test]
    fn cached_reads_match_the_history_at_every_version() {
        for cap in [1usize, 4, 1_000] {
            let store = Arc::new(MemStore::new());
            let db = StateDb::with_cache(store.clone(), cap);
            let uncached = StateDb::new(store.clone());
            // history[v][k]: the value of key k after version v.
            let mut history: Vec<Vec<Option<u64>>> = Vec::new();
            let mut random = RandomKeys::new(12, 0x9e37_79b9_7f4a_7c15);
            for version in 0..40u64 {
                let changes = random.step(5);
                let cur = random.values.clone();
                let mut b = WriteBatch::new();
                let (_, writes) = db.apply(version, changes, &mut b).unwrap();
                // Reads between apply and install see the previous version only.
                if version > 0 {
                    for (k, old) in history[version as usize - 1].iter().enumerate() {
                        let want = old.map(|v| v.to_le_bytes().to_vec());
                        assert_eq!(db.get(format!("k{k}").as_bytes(), version - 1).unwrap(), want);
                    }
                }
                store.write(b).unwrap();
                db.install(writes);
                history.push(cur.clone());
                for _ in 0..30 {
                    let k = (random.next() % cur.len() as u64) as usize;
                    let at = random.next() % (version + 2);
                    let want = history[at.min(version) as usize][k].map(|v| v.to_le_bytes().to_vec());
                    let key = format!("k{k}");
                    assert_eq!(db.get(key.as_bytes(), at).unwrap(), want, "cap {cap}, key {k} at {at}");
                    assert_eq!(uncached.get(key.as_bytes(), at).unwrap(), want);
                }
            }
        }
    }

    /// Keys `k0..kN` changed at random (xorshift): each step sets a key with chance 1/`m`,
    /// deletes a set one with chance 1/`m`.
    struct RandomKeys {
        values: Vec<Option<u64>>,
        x: u64,
    }

    impl RandomKeys {
        fn new(keys: usize, seed: u64) -> Self {
            RandomKeys {
                values: vec![None; keys],
                x: seed,
            }
        }

        fn next(&mut self) -> u64 {
            self.x ^= self.x << 13;
            self.x ^= self.x >> 7;
            self.x ^= self.x << 17;
            self.x
        }

        /// One version's changes.
        fn step(&mut self, m: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
            let mut changes = Vec::new();
            for k in 0..self.values.len() {
                match self.next() % m {
                    0 => {
                        let v = self.next() % 1000;
                        self.values[k] = Some(v);
                        changes.push((format!("k{k}").into_bytes(), Some(v.to_le_bytes().to_vec())));
                    }
                    1 if self.values[k].is_some() => {
                        self.values[k] = None;
                        changes.push((format!("k{k}").into_bytes(), None));
                    }
                    _ => {}
                }
            }
            changes
        }
    }

    /// Pruning below a horizon keeps every read, root and proof at and above it exactly as
    /// before, deletes most of what only older versions used, and runs again without harm.
    #[test]
    fn pruning_keeps_every_version_above_the_horizon() {
        let store = Arc::new(MemStore::new());
        let db = StateDb::with_cache(store.clone(), 8);
        db.track_superseded();
        let mut history: Vec<Vec<Option<u64>>> = Vec::new();
        let mut roots = Vec::new();
        let mut random = RandomKeys::new(16, 0x2545_f491_4f6c_dd1d);
        for version in 0..60u64 {
            let changes = random.step(4);
            let cur = random.values.clone();
            let mut b = WriteBatch::new();
            let (root, writes) = db.apply(version, changes, &mut b).unwrap();
            store.write(b).unwrap();
            db.install(writes);
            history.push(cur.clone());
            roots.push(root);
        }
        let count = |col| store.prefix(col, &[], usize::MAX).unwrap().len();
        let (nodes, values) = (count(Column::StateNodes), count(Column::StateValues));
        let keep_from = 45;
        let mut b = WriteBatch::new();
        let done = db.prune(keep_from, usize::MAX, &mut b).unwrap();
        store.write(b).unwrap();
        db.clear_cache();
        assert!(done.nodes > 0 && done.values > 0, "{done:?}");
        assert_eq!(count(Column::StateNodes), nodes - done.nodes);
        assert_eq!(count(Column::StateValues), values - done.values);
        assert!(
            values - done.values < values / 2,
            "most superseded values went: {done:?} of {values}"
        );
        for version in keep_from..60 {
            assert_eq!(
                db.root(version).unwrap(),
                Some(roots[version as usize]),
                "root {version}"
            );
            for (k, want) in history[version as usize].iter().enumerate() {
                let key = format!("k{k}");
                let want = want.map(|v| v.to_le_bytes().to_vec());
                assert_eq!(db.get(key.as_bytes(), version).unwrap(), want, "{key} at {version}");
                let (got, proof) = db.get_with_proof(key.as_bytes(), version).unwrap();
                assert_eq!(got, want);
                proof
                    .verify(roots[version as usize], key.as_bytes(), want.as_deref())
                    .unwrap();
            }
        }
        // Below the horizon the old roots are gone.
        assert_eq!(db.root(10).unwrap(), None);
        // Again: nothing left to delete at that horizon.
        let mut b = WriteBatch::new();
        assert_eq!(db.prune(keep_from, usize::MAX, &mut b).unwrap(), Pruned::default());
    }

    /// A store reopened with a cache starts cold and fills from reads at the head.
    #[test]
    fn a_reopened_cache_fills_from_the_store() {
        let store = Arc::new(MemStore::new());
        let roots = scenario(store.clone());
        let db = StateDb::new(store.clone());
        db.set_newest(2);
        for _ in 0..2 {
            assert_eq!(db.get(b"alice", 2).unwrap(), Some(b"7".to_vec()));
            assert_eq!(db.get(b"alice", 0).unwrap(), Some(b"10".to_vec()));
            assert_eq!(db.get(b"bob", 2).unwrap(), None);
            assert_eq!(db.get(b"bob", 1).unwrap(), Some(b"5".to_vec()));
            assert_eq!(db.get(b"nobody", 2).unwrap(), None);
        }
        assert_eq!(db.root(2).unwrap(), Some(roots[2]));
    }

    #[test]
    fn root_does_not_depend_on_change_order() {
        let a = Arc::new(MemStore::new());
        let b = Arc::new(MemStore::new());
        let ra = commit(
            &StateDb::new(a.clone()),
            &a,
            0,
            vec![("x", Some("1")), ("y", Some("2"))],
        );
        let rb = commit(
            &StateDb::new(b.clone()),
            &b,
            0,
            vec![("y", Some("2")), ("x", Some("1"))],
        );
        assert_eq!(ra, rb);
    }

    #[test]
    fn proofs_verify_and_catch_lies() {
        let store = Arc::new(MemStore::new());
        let db = StateDb::new(store.clone());
        let roots = scenario(store);
        let (v, proof) = db.get_with_proof(b"alice", 1).unwrap();
        assert_eq!(v.as_deref(), Some(&b"7"[..]));
        proof.verify(roots[1], b"alice", Some(b"7")).unwrap();
        assert!(
            proof.verify(roots[1], b"alice", Some(b"8")).is_err(),
            "a wrong value fails"
        );
        assert!(
            proof.verify(roots[0], b"alice", Some(b"7")).is_err(),
            "another root fails"
        );
        let (absent, proof) = db.get_with_proof(b"bob", 2).unwrap();
        assert_eq!(absent, None);
        proof.verify(roots[2], b"bob", None).unwrap();
        assert!(proof.verify(roots[2], b"bob", Some(b"5")).is_err());
    }

    #[test]
    fn state_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let roots = scenario(Arc::new(SledStore::open(dir.path()).unwrap()));
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let db = StateDb::new(store);
        assert_eq!(db.root(2).unwrap(), Some(roots[2]));
        assert_eq!(db.get(b"carol", 2).unwrap(), Some(b"3".to_vec()));
    }

    #[test]
    fn an_uncommitted_batch_changes_nothing() {
        let store = Arc::new(MemStore::new());
        let db = StateDb::new(store.clone());
        let r0 = commit(&db, &store, 0, vec![("k", Some("v"))]);
        let mut dropped = WriteBatch::new();
        db.apply(1, vec![(b"k".to_vec(), Some(b"w".to_vec()))], &mut dropped)
            .unwrap();
        drop(dropped);
        assert_eq!(db.root(1).unwrap(), None);
        assert_eq!(db.get(b"k", 1).unwrap(), Some(b"v".to_vec()));
        assert_eq!(db.root(0).unwrap(), Some(r0));
    }
}
