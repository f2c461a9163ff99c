//! The storage trait and its backends.
//!
//! Keys live in columns (one byte prefixed to the key). Writes only happen through a
//! [`WriteBatch`], applied atomically: a block, its state changes, its receipts and its indexes are
//! one batch, so after a crash the store holds the last complete block or the one before, never
//! half of one.

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::Bound,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, RwLock},
};

use crate::{ChainError, Result};

/// A column: a separate key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Column {
    /// Chain metadata (head, genesis hash, schema version).
    Meta = 0,
    /// State tree nodes, by node key.
    StateNodes = 1,
    /// State values, by (key hash, version).
    StateValues = 2,
    /// Tree nodes that became stale at a version, for pruning.
    StateStale = 3,
    /// Blocks by height and hash.
    Blocks = 4,
    /// Receipts and outcomes.
    Receipts = 5,
    /// Secondary indexes (transaction hash to block, ...).
    Index = 6,
    /// Batches made durable but not yet applied ([`crate::JournaledStore`]).
    Journal = 7,
}

impl Column {
    /// Every column, by its byte.
    pub const ALL: [Column; 8] = [
        Column::Meta,
        Column::StateNodes,
        Column::StateValues,
        Column::StateStale,
        Column::Blocks,
        Column::Receipts,
        Column::Index,
        Column::Journal,
    ];

    /// The column of a byte.
    pub fn from_byte(b: u8) -> Option<Column> {
        Self::ALL.get(b as usize).copied()
    }
}

/// A key as the backends store it: the column byte, then the key.
pub(crate) fn full_key(col: Column, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(col as u8);
    k.extend_from_slice(key);
    k
}

/// A set of writes applied atomically.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub(crate) ops: Vec<(Column, Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` in `col`.
    pub fn put(&mut self, col: Column, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((col, key.into(), Some(value.into())));
    }

    /// Deletes `key` from `col`.
    pub fn delete(&mut self, col: Column, key: impl Into<Vec<u8>>) {
        self.ops.push((col, key.into(), None));
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Key-value storage with columns, ordered iteration and atomic batches.
pub trait Store: Send + Sync {
    /// The value of `key` in `col`.
    fn get(&self, col: Column, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Up to `limit` entries of `col` whose key starts with `prefix`, in key order.
    fn prefix(&self, col: Column, prefix: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// The entry of `col` with the greatest key `<= key`.
    fn seek_prev(&self, col: Column, key: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>>;
    /// Up to `n` entries of `col` with keys `<= key`, greatest first.
    fn seek_prev_n(&self, col: Column, key: &[u8], n: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Applies every operation of `batch`, or none.
    fn write(&self, batch: WriteBatch) -> Result<()>;
    /// Makes every applied batch durable.
    fn flush(&self) -> Result<()>;
}

/// In-memory store, for tests and simulations.
#[derive(Clone, Default)]
pub struct MemStore {
    map: Arc<RwLock<BTreeMap<Vec<u8>, Vec<u8>>>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn strip(col: Column, k: &[u8]) -> Vec<u8> {
    debug_assert_eq!(k.first(), Some(&(col as u8)));
    k[1..].to_vec()
}

impl Store for MemStore {
    fn get(&self, col: Column, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .map
            .read()
            .expect("store lock poisoned")
            .get(&full_key(col, key))
            .cloned())
    }

    fn prefix(&self, col: Column, prefix: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let start = full_key(col, prefix);
        let map = self.map.read().expect("store lock poisoned");
        Ok(map
            .range(start.clone()..)
            .take_while(|(k, _)| k.starts_with(&start))
            .take(limit)
            .map(|(k, v)| (strip(col, k), v.clone()))
            .collect())
    }

    fn seek_prev(&self, col: Column, key: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(self.seek_prev_n(col, key, 1)?.pop())
    }

    fn seek_prev_n(&self, col: Column, key: &[u8], n: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let end = full_key(col, key);
        let map = self.map.read().expect("store lock poisoned");
        Ok(map
            .range((Bound::Included(vec![col as u8]), Bound::Included(end)))
            .rev()
            .take(n)
            .map(|(k, v)| (strip(col, k), v.clone()))
            .collect())
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut map = self.map.write().expect("store lock poisoned");
        for (col, k, v) in batch.ops {
            match v {
                Some(v) => map.insert(full_key(col, &k), v),
                None => map.remove(&full_key(col, &k)),
            };
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

/// The embedded default: sled 0.34, one tree, batches applied with `apply_batch` (atomic).
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
}

impl SledStore {
    /// Opens (or creates) a store in `dir`.
    ///
    /// sled's periodic background flusher is off: every block is flushed explicitly when it is
    /// written (see `Chain::commit`), and without that thread, which held the database (and its
    /// file lock) until its next wake-up, dropping a store releases the lock at once (a dropped
    /// store first waits for its writes in flight). sled's IO threads can still hold the lock for
    /// a moment after that, so when the database was opened before by this process (a restart, a
    /// restored snapshot), a busy lock is retried for up to thirty seconds. A database this
    /// process never opened is held by another process: that fails at once, with a reason.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let mut tries = 0;
        loop {
            match sled::Config::new().path(dir).flush_every_ms(None).open() {
                Ok(db) => {
                    if let Ok(path) = dir.canonicalize() {
                        opened_here().insert(path);
                    }
                    return Ok(SledStore { db });
                }
                Err(sled::Error::Io(e)) if lock_is_busy(&e) => {
                    let ours = dir.canonicalize().is_ok_and(|path| opened_here().contains(&path));
                    if !ours {
                        return Err(ChainError::Storage(format!(
                            "the database in {} is in use by another process (is a node already \
                             running with this data directory?)",
                            dir.display()
                        )));
                    }
                    if tries == 1_500 {
                        return Err(ChainError::Storage(format!(
                            "the database in {} is still locked 30 s after this process closed it",
                            dir.display()
                        )));
                    }
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The directories this process has opened a sled store in: a busy lock on one of them is a
/// closed store of ours still letting go, not another process.
fn opened_here() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    static OPENED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    OPENED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether `open` failed only because the database's file lock is held. sled 0.34 reports that
/// as `ErrorKind::Other` with the lock error in the message ("could not acquire lock on ..."),
/// never as the lock call's own `WouldBlock`, so the message is what tells it apart.
fn lock_is_busy(e: &std::io::Error) -> bool {
    e.to_string().contains("could not acquire lock")
}

impl Drop for SledStore {
    /// Waits for the writes in flight, so that sled's IO threads let go of the database (and its
    /// file lock) as the store goes away.
    fn drop(&mut self) {
        let _ = self.db.flush();
    }
}

impl Store for SledStore {
    fn get(&self, col: Column, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(full_key(col, key))?.map(|v| v.to_vec()))
    }

    fn prefix(&self, col: Column, prefix: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.db
            .scan_prefix(full_key(col, prefix))
            .take(limit)
            .map(|r| r.map(|(k, v)| (strip(col, &k), v.to_vec())).map_err(ChainError::from))
            .collect()
    }

    fn seek_prev(&self, col: Column, key: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        match self.db.range(vec![col as u8]..=full_key(col, key)).next_back() {
            Some(r) => {
                let (k, v) = r?;
                Ok(Some((strip(col, &k), v.to_vec())))
            }
            None => Ok(None),
        }
    }

    fn seek_prev_n(&self, col: Column, key: &[u8], n: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.db
            .range(vec![col as u8]..=full_key(col, key))
            .rev()
            .take(n)
            .map(|r| r.map(|(k, v)| (strip(col, &k), v.to_vec())).map_err(ChainError::from))
            .collect()
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut b = sled::Batch::default();
        for (col, k, v) in batch.ops {
            match v {
                Some(v) => b.insert(full_key(col, &k), v),
                None => b.remove(full_key(col, &k)),
            }
        }
        self.db.apply_batch(b)?;
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The behaviour every backend must have.
    pub(crate) fn conformance(s: &dyn Store) {
        let mut b = WriteBatch::new();
        b.put(Column::Blocks, b"a1".to_vec(), b"x".to_vec());
        b.put(Column::Blocks, b"a2".to_vec(), b"y".to_vec());
        b.put(Column::Blocks, b"b1".to_vec(), b"z".to_vec());
        b.put(Column::Index, b"a1".to_vec(), b"other column".to_vec());
        s.write(b).unwrap();
        assert_eq!(s.get(Column::Blocks, b"a1").unwrap(), Some(b"x".to_vec()));
        assert_eq!(s.get(Column::Index, b"a1").unwrap(), Some(b"other column".to_vec()));
        assert_eq!(s.get(Column::Meta, b"a1").unwrap(), None);
        let p = s.prefix(Column::Blocks, b"a", 10).unwrap();
        assert_eq!(
            p,
            vec![(b"a1".to_vec(), b"x".to_vec()), (b"a2".to_vec(), b"y".to_vec())]
        );
        assert_eq!(s.prefix(Column::Blocks, b"", 2).unwrap().len(), 2, "limit is honoured");
        assert_eq!(
            s.seek_prev(Column::Blocks, b"a9").unwrap(),
            Some((b"a2".to_vec(), b"y".to_vec()))
        );
        assert_eq!(
            s.seek_prev(Column::Blocks, b"a2").unwrap(),
            Some((b"a2".to_vec(), b"y".to_vec()))
        );
        assert_eq!(
            s.seek_prev(Column::Blocks, b"a0").unwrap(),
            None,
            "never crosses into another column"
        );
        assert_eq!(
            s.seek_prev(Column::Index, b"zz").unwrap(),
            Some((b"a1".to_vec(), b"other column".to_vec()))
        );
        let mut d = WriteBatch::new();
        d.delete(Column::Blocks, b"a1".to_vec());
        d.put(Column::Blocks, b"a2".to_vec(), b"y2".to_vec());
        s.write(d).unwrap();
        assert_eq!(s.get(Column::Blocks, b"a1").unwrap(), None);
        assert_eq!(s.get(Column::Blocks, b"a2").unwrap(), Some(b"y2".to_vec()));
        // A deleted key is not found by any read.
        assert_eq!(s.seek_prev(Column::Blocks, b"a1z").unwrap(), None);
        assert_eq!(
            s.prefix(Column::Blocks, b"a", 10).unwrap(),
            vec![(b"a2".to_vec(), b"y2".to_vec())]
        );
        assert_eq!(
            s.seek_prev_n(Column::Blocks, b"zz", 5).unwrap(),
            vec![(b"b1".to_vec(), b"z".to_vec()), (b"a2".to_vec(), b"y2".to_vec())]
        );
        assert_eq!(s.seek_prev_n(Column::Blocks, b"zz", 1).unwrap().len(), 1);
        s.flush().unwrap();
    }

    #[test]
    fn mem_store_conforms() {
        conformance(&MemStore::new());
    }

    #[test]
    fn a_held_lock_is_told_apart_and_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let held = SledStore::open(dir.path()).unwrap();
        match sled::Config::new().path(dir.path()).open() {
            Err(sled::Error::Io(e)) => assert!(lock_is_busy(&e), "not seen as a busy lock: {e}"),
            other => panic!("a second open of a held database: {:?}", other.map(|_| ())),
        }
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert!(!lock_is_busy(&missing));
        // A store opened while another still holds the lock waits for it to go.
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || SledStore::open(&path).map(|_| ()));
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(held);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn a_database_held_elsewhere_is_refused_at_once_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        // Opened through sled directly: not by a store of this process, as another process would.
        let _elsewhere = sled::Config::new().path(dir.path()).open().unwrap();
        let t = std::time::Instant::now();
        let e = SledStore::open(dir.path())
            .err()
            .expect("a held database opened")
            .to_string();
        assert!(e.contains("in use by another process"), "{e}");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "waited for another process's lock"
        );
    }

    #[test]
    fn sled_store_conforms_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SledStore::open(dir.path()).unwrap();
            conformance(&s);
        }
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(s.get(Column::Blocks, b"a2").unwrap(), Some(b"y2".to_vec()));
        assert_eq!(s.get(Column::Blocks, b"a1").unwrap(), None);
    }
}
