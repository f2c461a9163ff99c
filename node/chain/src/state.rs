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
//!   node, since a store pays per key written.

use std::sync::Arc;

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
}

impl<S: Store + ?Sized> Clone for StateDb<S> {
    fn clone(&self) -> Self {
        StateDb {
            store: self.store.clone(),
        }
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

fn value_key(kh: &KeyHash, version: Version) -> Vec<u8> {
    let mut k = Vec::with_capacity(40);
    k.extend_from_slice(&kh.0);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

impl<S: Store + ?Sized> StateDb<S> {
    /// The state held by `store`.
    pub fn new(store: Arc<S>) -> Self {
        StateDb { store }
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
    /// version written before. Returns the new root; the update goes into `batch`.
    pub fn apply(
        &self,
        version: Version,
        changes: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
        batch: &mut WriteBatch,
    ) -> Result<Hash> {
        let set: Vec<(KeyHash, Option<OwnedValue>)> = changes.into_iter().map(|(k, v)| (key_hash(&k), v)).collect();
        let (root, update) = self.tree().put_value_set(set, version).map_err(tree_err)?;
        for (node_key, node) in update.node_batch.nodes() {
            let k = borsh::to_vec(node_key).map_err(|e| corrupt("state node key", e))?;
            let v = borsh::to_vec(node).map_err(|e| corrupt("state node", e))?;
            batch.put(Column::StateNodes, k, v);
        }
        for ((ver, kh), value) in update.node_batch.values() {
            let mut v = Vec::with_capacity(value.as_ref().map_or(1, |x| x.len() + 1));
            match value {
                Some(x) => {
                    v.push(1);
                    v.extend_from_slice(x);
                }
                None => v.push(0),
            }
            batch.put(Column::StateValues, value_key(kh, *ver), v);
        }
        let mut stale: std::collections::BTreeMap<Version, Vec<&NodeKey>> = Default::default();
        for s in &update.stale_node_index_batch {
            stale.entry(s.stale_since_version).or_default().push(&s.node_key);
        }
        for (since, keys) in stale {
            let v = borsh::to_vec(&keys).map_err(|e| corrupt("stale node keys", e))?;
            batch.put(Column::StateStale, since.to_be_bytes().to_vec(), v);
        }
        Ok(Hash(root.0))
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
        let Some((k, v)) = self
            .store
            .seek_prev(Column::StateValues, &value_key(&key_hash, max_version))?
        else {
            return Ok(None);
        };
        if k.len() != 40 || k[..32] != key_hash.0 {
            return Ok(None);
        }
        match v.split_first() {
            Some((1, rest)) => Ok(Some(rest.to_vec())),
            Some((0, _)) => Ok(None),
            _ => Err(corrupt("state value", "bad tag").into()),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only state restore (snapshot sync) needs this; a full scan is acceptable there.
        let mut best: Option<(NodeKey, LeafNode)> = None;
        for (k, v) in self.store.prefix(Column::StateNodes, &[], usize::MAX)? {
            if let Node::Leaf(leaf) = borsh::from_slice::<Node>(&v).map_err(|e| corrupt("state node", e))?
                && best.as_ref().is_none_or(|(_, b)| leaf.key_hash() > b.key_hash())
            {
                best = Some((borsh::from_slice(&k).map_err(|e| corrupt("state node key", e))?, leaf));
            }
        }
        Ok(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemStore, SledStore};

    fn commit<S: Store + ?Sized>(db: &StateDb<S>, store: &S, version: Version, ch: Vec<(&str, Option<&str>)>) -> Hash {
        let mut b = WriteBatch::new();
        let root = db
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
