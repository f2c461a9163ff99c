//! The chain: a store holding blocks, the state tree, execution records and indexes, with the
//! head. Blocks come in through [`Chain::commit`], one atomic batch each, made durable before it
//! returns.
//!
//! Layout (column, key → value, SCALE-encoded):
//! - `Meta`, `genesis` → genesis header hash; `head` → head height; `format` → the layout's
//!   version ([`STORAGE_FORMAT`]; a store written in another layout is refused at open).
//! - `Blocks`, `h` + height (big endian) → header hash; `b` + hash → [`StoredBlock`].
//! - `Index`, `t` + tx hash → the transaction's record: its [`TxLocation`], then its execution
//!   and those of the receipts it caused that ran in the same block, in order (one key per
//!   transaction: a store pays per key written, and a native transfer is a transaction and its
//!   receipt).
//! - `Receipts`, `e` + receipt id → [`Execution`] of a receipt that ran in a later block than the
//!   one that made it (delayed, or from another shard); `o` + height → the block's outgoing
//!   receipts (for other shards); `s` + destination shard + stream position (both big endian)
//!   → the height of the block whose batch for that destination starts there (to answer pulls).

use std::sync::{Arc, Mutex, RwLock};

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{
    Account, Address, Amount, BlockHeader, CommitCertificate, Hash, Height, Receipt, ReceiptBatch, ShardId,
    SignedTransaction,
};
use tutti_runtime::{BlockContext, CallContext, CallOutcome, Runtime, apply::Execution};

use crate::{
    BlockInput, BlockOutput, ChainError, Column, Result, ShardSpec, StateDb, StateProof, Store, WriteBatch,
    account::{account_key, code_key, storage_key},
    beacon::{self, Kv},
    election::Elected,
    exec::{self, BURNT},
    genesis::Genesis,
    staking::{Delegation, StakingError, Validator},
};

/// A block as stored: header, the transactions it included, the cross-shard receipt batches it
/// received (with their proofs, so any node can re-check them), and its own commit certificate
/// (also carried by the next header).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StoredBlock {
    /// The header.
    pub header: BlockHeader,
    /// Included transactions, in order.
    pub txs: Vec<SignedTransaction>,
    /// Incoming cross-shard receipt batches, in order.
    pub incoming: Vec<ReceiptBatch>,
    /// Beacon blocks: the shard blocks it crosslinks, in order.
    pub crosslinks: Vec<tutti_primitives::Crosslink>,
    /// The certificate that committed this block.
    pub commit: Option<CommitCertificate>,
}

/// Where a transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TxLocation {
    /// Block height.
    pub height: Height,
    /// Position in the block.
    pub index: u32,
}

/// The version of the storage layout this build reads and writes.
pub const STORAGE_FORMAT: u32 = 5;

/// A transaction's index entry: where it is, then the executions it caused in its block.
#[derive(Decode)]
struct TxRecord {
    /// Also read on its own by [`Chain::tx_location`].
    location: TxLocation,
    executions: Vec<(Hash, Execution)>,
}

/// [`TxRecord`]'s encoding, by reference.
#[derive(Encode)]
struct TxRecordRef<'a> {
    location: TxLocation,
    executions: Vec<(&'a Hash, &'a Execution)>,
}

/// Index key of the block of `shard` crosslinked at `height` (its header hash).
fn crosslink_index_key(shard: ShardId, height: Height) -> Vec<u8> {
    let mut id = shard.to_be_bytes().to_vec();
    id.extend_from_slice(&height.to_be_bytes());
    k(b'x', &id)
}

fn k(prefix: u8, id: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(id.len() + 1);
    v.push(prefix);
    v.extend_from_slice(id);
    v
}

fn decode<T: Decode>(bytes: &[u8], what: &'static str) -> Result<T> {
    T::decode(&mut &bytes[..]).map_err(|e| ChainError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// Index key of the block whose batch for `dest` starts at stream position `seq`.
pub(crate) fn stream_key(dest: ShardId, seq: u64) -> Vec<u8> {
    let mut id = dest.to_be_bytes().to_vec();
    id.extend_from_slice(&seq.to_be_bytes());
    k(b's', &id)
}

/// Roots a header commits to, computed from a block's content.
pub fn tx_root(txs: &[SignedTransaction]) -> Hash {
    tutti_primitives::merkle_root(&txs.iter().map(|t| t.hash()).collect::<Vec<_>>())
}

/// Root over receipts (their ids commit to their content through their origin), in order.
pub fn receipts_root(receipts: &[Receipt]) -> Hash {
    tutti_primitives::merkle_root(
        &receipts
            .iter()
            .map(|r| tutti_primitives::hash::hash_encoded(tutti_primitives::tags::RECEIPT, r))
            .collect::<Vec<_>>(),
    )
}

/// The state entries of a genesis shard.
type GenesisEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// The ledger of one shard over a store.
pub struct Chain {
    store: Arc<dyn Store>,
    db: StateDb<dyn Store>,
    spec: ShardSpec,
    genesis_hash: Hash,
    head: RwLock<Arc<StoredBlock>>,
    commit_lock: Mutex<()>,
    /// Keep the state of this many blocks below the head (`None`: an archive, keeps all).
    state_window: Mutex<Option<u64>>,
    /// The oldest height whose state is kept (everything below was pruned).
    pruned_below: std::sync::atomic::AtomicU64,
}

/// Most versions' stale entries one commit prunes (the rest wait for the next commits).
const PRUNE_VERSIONS_PER_COMMIT: usize = 16;

/// Reads of the beacon chain's registry and epoch records ([`Chain::read_beacon`]).
pub trait BeaconRead {
    /// Every validator with its delegations, in key order.
    fn validators(&self) -> Vec<(Validator, Vec<(Address, Delegation)>)>;
    /// The committees of `epoch`, if elected.
    fn assignment(&self, epoch: u64) -> Option<Vec<Vec<Elected>>>;
    /// One validator.
    fn validator(&self, key: &crate::staking::BlsKey) -> Option<Validator>;
    /// Shard `shard`'s latest crosslink, `(height, hash)`.
    fn crosslinked(&self, shard: ShardId) -> Option<(Height, Hash)>;
}

/// The state at one height as a read-only [`Kv`]; the first error is kept.
struct StateKv<'a> {
    db: &'a StateDb<dyn Store>,
    height: Height,
    error: std::cell::RefCell<Option<ChainError>>,
}

impl Kv for StateKv<'_> {
    fn get<T: Decode>(&self, key: &[u8], what: &'static str) -> Option<T> {
        let got = self
            .db
            .get(key, self.height)
            .and_then(|v| v.map(|b| decode::<T>(&b, what)).transpose());
        match got {
            Ok(v) => v,
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                None
            }
        }
    }
    fn put<T: Encode>(&mut self, _key: Vec<u8>, _value: Option<&T>) {
        unreachable!("StateKv is only handed out as a BeaconRead, which has no writes")
    }
}

impl BeaconRead for StateKv<'_> {
    fn validators(&self) -> Vec<(Validator, Vec<(Address, Delegation)>)> {
        beacon::validators(self)
            .into_iter()
            .map(|v| {
                let d = beacon::delegations(self, &v.key);
                (v, d)
            })
            .collect()
    }
    fn assignment(&self, epoch: u64) -> Option<Vec<Vec<Elected>>> {
        beacon::assignment(self, epoch)
    }
    fn validator(&self, key: &crate::staking::BlsKey) -> Option<Validator> {
        beacon::validator(self, key)
    }
    fn crosslinked(&self, shard: ShardId) -> Option<(Height, Hash)> {
        beacon::crosslinked(self, shard)
    }
}

impl Chain {
    /// Opens the chain in `store`, writing `genesis` first if the store is empty. Refuses a store
    /// that holds another chain, and one whose state root at the head does not match the head
    /// header (a damaged store).
    pub fn open(store: Arc<dyn Store>, genesis: &Genesis) -> Result<Chain> {
        Chain::open_shard(store, genesis, 0)
    }

    /// Opens (or creates) the store of shard `shard` of the genesis: its genesis state holds the
    /// accounts whose home shard it is.
    pub fn open_shard(store: Arc<dyn Store>, genesis: &Genesis, shard: ShardId) -> Result<Chain> {
        let db = StateDb::new(store.clone());
        if shard >= genesis.num_shards.max(1) {
            return Err(ChainError::Storage(format!(
                "shard {shard} does not exist: the genesis has {} shards",
                genesis.num_shards
            )));
        }
        let spec = genesis.spec_of(shard);
        let (header, entries) = Self::genesis_header(genesis, shard)?;
        let genesis_hash = header.hash();
        let mut batch = WriteBatch::new();
        if let Some(target) = crate::snapshot::Restore::pending_target(&*store)? {
            return Err(ChainError::Storage(format!(
                "this data directory holds an unfinished state restore (shard {}, height {}); finish it with \
                 `--sync snapshot` or start in an empty directory",
                target.header.shard_id, target.header.height
            )));
        }
        match store.get(Column::Meta, b"genesis")? {
            Some(stored) => {
                let format: u32 = match store.get(Column::Meta, b"format")? {
                    Some(f) => decode(&f, "storage format")?,
                    None => 1,
                };
                if format != STORAGE_FORMAT {
                    return Err(ChainError::Storage(format!(
                        "this data directory was written in storage format {format}, and this build reads format \
                         {STORAGE_FORMAT}; start the chain in a new data directory"
                    )));
                }
                let stored: Hash = decode(&stored, "genesis hash")?;
                if stored != genesis_hash {
                    return Err(ChainError::Storage(format!(
                        "this data directory holds the chain with genesis {stored}, but the genesis file describes \
                         {genesis_hash}; use another data directory or the matching genesis file"
                    )));
                }
            }
            None => {
                exec::write_genesis_state(&db, &entries, &mut batch)?;
                let block = StoredBlock {
                    header,
                    txs: Vec::new(),
                    incoming: Vec::new(),
                    crosslinks: Vec::new(),
                    commit: None,
                };
                Self::put_block(&mut batch, &block);
                batch.put(Column::Meta, b"genesis".to_vec(), genesis_hash.encode());
                batch.put(Column::Meta, b"format".to_vec(), STORAGE_FORMAT.encode());
                batch.put(Column::Meta, b"head".to_vec(), 0u64.encode());
                store.write(batch)?;
                store.flush()?;
            }
        }
        let height: Height = decode(
            &store
                .get(Column::Meta, b"head")?
                .ok_or_else(|| ChainError::Storage("the store has a genesis but no head".into()))?,
            "head height",
        )?;
        let head = Self::read_block(&*store, height)?
            .ok_or_else(|| ChainError::Storage(format!("the head block {height} is missing")))?;
        let actual = db.root(height)?;
        if actual != Some(head.header.state_root) {
            return Err(ChainError::Storage(format!(
                "the state root at the head (height {height}) is {actual:?} but the head header says {}; \
                 the store is damaged",
                head.header.state_root
            )));
        }
        let pruned_below = match store.get(Column::Meta, b"pruned-below")? {
            Some(b) => decode(&b, "pruning horizon")?,
            None => 0,
        };
        Ok(Chain {
            store,
            db,
            spec,
            genesis_hash,
            head: RwLock::new(Arc::new(head)),
            commit_lock: Mutex::new(()),
            state_window: Mutex::new(None),
            pruned_below: std::sync::atomic::AtomicU64::new(pruned_below),
        })
    }

    /// The genesis header of shard `shard` and its state entries (computed in memory).
    fn genesis_header(genesis: &Genesis, shard: ShardId) -> Result<(BlockHeader, GenesisEntries)> {
        let entries = genesis
            .state_of(shard)
            .map_err(|e| ChainError::Storage(e.to_string()))?;
        let root = exec::genesis_root(&entries)?;
        Ok((genesis.header_of(shard, root), entries))
    }

    /// Puts into `batch` what makes a store whose state at `block`'s height was restored from a
    /// snapshot a chain of shard `shard` of `genesis` with `block` as its head: the chain's
    /// metadata, the block, and the state horizon at its height (nothing older is held).
    pub(crate) fn install_snapshot(
        batch: &mut WriteBatch,
        genesis: &Genesis,
        shard: ShardId,
        block: &StoredBlock,
    ) -> Result<()> {
        let (header, _) = Self::genesis_header(genesis, shard)?;
        if block.header.shard_id != shard || block.header.chain_id != header.chain_id {
            return Err(ChainError::Storage(format!(
                "the snapshot's block is of chain {} shard {}, not chain {} shard {shard}",
                block.header.chain_id, block.header.shard_id, header.chain_id
            )));
        }
        let height = block.header.height;
        Self::put_block(batch, block);
        batch.put(Column::Meta, b"genesis".to_vec(), header.hash().encode());
        batch.put(Column::Meta, b"format".to_vec(), STORAGE_FORMAT.encode());
        batch.put(Column::Meta, b"head".to_vec(), height.encode());
        batch.put(Column::Meta, b"pruned-below".to_vec(), height.encode());
        batch.put(Column::Meta, b"snapshot".to_vec(), height.encode());
        Ok(())
    }

    /// The height this chain's history starts at: 0, or the height of the snapshot it was
    /// restored from (no blocks, receipts or state below it).
    pub fn first_block(&self) -> Result<Height> {
        Ok(match self.store.get(Column::Meta, b"snapshot")? {
            Some(b) => decode(&b, "snapshot height")?,
            None => 0,
        })
    }

    /// Keeps the state of the last `window` blocks only (`None`: an archive node, which keeps
    /// every version): from now on each commit deletes what only older versions used, with the
    /// stale-node index and the superseded-value index (kept from now on). Reads of pruned
    /// heights fail with [`ChainError::Pruned`].
    pub fn set_state_window(&self, window: Option<u64>) {
        if window.is_some() {
            self.db.track_superseded();
        }
        *self.state_window.lock().expect("window lock poisoned") = window.map(|w| w.max(1));
    }

    /// The oldest height whose state this node keeps.
    pub fn oldest_state(&self) -> Height {
        self.pruned_below.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Refuses reads of pruned heights.
    fn readable(&self, height: Height) -> Result<()> {
        let oldest = self.oldest_state();
        if height < oldest {
            return Err(ChainError::Pruned { height, oldest });
        }
        Ok(())
    }

    /// After a commit: moves the pruning horizon to `window` blocks below the head and deletes
    /// (some of) what only older versions used. The horizon moves first, in memory and in the
    /// same batch as the deletions, so no read below it ever sees a half-pruned version.
    fn prune(&self, head: Height) -> Result<()> {
        let Some(window) = *self.state_window.lock().expect("window lock poisoned") else {
            return Ok(());
        };
        let keep_from = head.saturating_sub(window);
        if keep_from == 0 {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        if keep_from > self.oldest_state() {
            self.pruned_below.store(keep_from, std::sync::atomic::Ordering::Release);
            batch.put(Column::Meta, b"pruned-below".to_vec(), keep_from.encode());
        }
        let done = self.db.prune(keep_from, PRUNE_VERSIONS_PER_COMMIT, &mut batch)?;
        if done.versions > 0 || !batch.is_empty() {
            self.store.write(batch)?;
        }
        Ok(())
    }

    fn put_block(batch: &mut WriteBatch, block: &StoredBlock) {
        let hash = block.header.hash();
        batch.put(
            Column::Blocks,
            k(b'h', &block.header.height.to_be_bytes()),
            hash.encode(),
        );
        batch.put(Column::Blocks, k(b'b', &hash.0), block.encode());
    }

    fn read_block(store: &dyn Store, height: Height) -> Result<Option<StoredBlock>> {
        let Some(hash) = store.get(Column::Blocks, &k(b'h', &height.to_be_bytes()))? else {
            return Ok(None);
        };
        let hash: Hash = decode(&hash, "block hash")?;
        store
            .get(Column::Blocks, &k(b'b', &hash.0))?
            .map(|b| decode(&b, "block"))
            .transpose()
    }

    /// The shard's execution parameters.
    pub fn spec(&self) -> &ShardSpec {
        &self.spec
    }

    /// The store.
    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The state tree.
    pub fn state(&self) -> &StateDb<dyn Store> {
        &self.db
    }

    /// The genesis block's hash.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The head block.
    pub fn head(&self) -> Arc<StoredBlock> {
        self.head.read().expect("head lock poisoned").clone()
    }

    /// Executes a block on top of the head (nothing is written).
    pub fn execute(&self, runtime: &Runtime, input: BlockInput) -> Result<BlockOutput> {
        let head = self.head();
        if input.height != head.header.height + 1 {
            return Err(ChainError::Storage(format!(
                "block {} does not follow the head {}",
                input.height, head.header.height
            )));
        }
        exec::execute_block(runtime, &self.db, Some(head.header.height), &self.spec, input)
    }

    /// Writes a block executed by [`Chain::execute`] (its state update, taken out of
    /// `output.batch`), its execution records and indexes in one atomic batch, makes it durable,
    /// and moves the head.
    pub fn commit(&self, block: &StoredBlock, output: &mut BlockOutput) -> Result<()> {
        let _guard = self.commit_lock.lock().expect("commit lock poisoned");
        let head = self.head();
        let h = &block.header;
        if h.height != head.header.height + 1 || h.parent_hash != head.header.hash() {
            return Err(ChainError::Storage(format!(
                "block {} (parent {}) does not extend the head {} ({})",
                h.height,
                h.parent_hash,
                head.header.height,
                head.header.hash()
            )));
        }
        if h.state_root != output.state_root {
            return Err(ChainError::Storage(format!(
                "block {} says state root {} but executing it gave {}",
                h.height, h.state_root, output.state_root
            )));
        }
        let mut batch = std::mem::take(&mut output.batch);
        let hashes: Vec<Hash> = block.txs.iter().map(|t| t.hash()).collect();
        let mut records: Vec<TxRecordRef<'_>> = (0..hashes.len())
            .map(|i| TxRecordRef {
                location: TxLocation {
                    height: h.height,
                    index: i as u32,
                },
                executions: Vec::new(),
            })
            .collect();
        let position: std::collections::HashMap<&Hash, usize> =
            hashes.iter().enumerate().map(|(i, h)| (h, i)).collect();
        // Executions come in causal order, so a receipt's parent is placed before it.
        let mut root_of: std::collections::HashMap<&Hash, usize> = std::collections::HashMap::new();
        for (id, e) in &output.executions {
            let root = if e.transaction {
                position.get(id).copied()
            } else {
                root_of.get(id).copied()
            };
            match root {
                Some(r) => {
                    records[r].executions.push((id, e));
                    root_of.extend(e.children.iter().map(|c| (c, r)));
                }
                None => batch.put(Column::Receipts, k(b'e', &id.0), e.encode()),
            }
        }
        for (hash, record) in hashes.iter().zip(&records) {
            batch.put(Column::Index, k(b't', &hash.0), record.encode());
        }
        if !output.outgoing.is_empty() {
            batch.put(
                Column::Receipts,
                k(b'o', &h.height.to_be_bytes()),
                output.outgoing.encode(),
            );
            // The leaves' first positions, kept with the receipts: a batch is proven from them
            // long after the state of this height is pruned.
            batch.put(
                Column::Receipts,
                k(b'f', &h.height.to_be_bytes()),
                output.first_outgoing.encode(),
            );
            let mut last = None;
            for r in &output.outgoing {
                if last != Some(r.dest_shard) {
                    last = Some(r.dest_shard);
                    batch.put(Column::Receipts, stream_key(r.dest_shard, r.seq), h.height.encode());
                }
            }
        }
        for link in &block.crosslinks {
            let l = &link.header;
            batch.put(
                Column::Index,
                crosslink_index_key(l.shard_id, l.height),
                l.hash().encode(),
            );
        }
        Self::put_block(&mut batch, block);
        batch.put(Column::Meta, b"head".to_vec(), h.height.encode());
        self.store.write(batch)?;
        self.db.install(std::mem::take(&mut output.state_writes));
        self.store.flush()?;
        *self.head.write().expect("head lock poisoned") = Arc::new(block.clone());
        self.prune(h.height)
    }

    /// The block at `height`.
    pub fn block_by_number(&self, height: Height) -> Result<Option<StoredBlock>> {
        Self::read_block(&*self.store, height)
    }

    /// The block with header hash `hash`.
    pub fn block_by_hash(&self, hash: &Hash) -> Result<Option<StoredBlock>> {
        self.store
            .get(Column::Blocks, &k(b'b', &hash.0))?
            .map(|b| decode(&b, "block"))
            .transpose()
    }

    /// Where a committed transaction is.
    ///
    /// Like every index read here, it answers only for blocks up to the head: a block's records
    /// are in the store a moment before [`Chain::commit`] moves the head (after the flush), and a
    /// reader must not see a transaction as done while the state it changed is not yet the head's.
    pub fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>> {
        let Some(bytes) = self.store.get(Column::Index, &k(b't', &hash.0))? else {
            return Ok(None);
        };
        // The record starts with the location.
        let loc = TxLocation::decode(&mut bytes.as_slice()).map_err(|e| ChainError::Corrupt {
            what: "transaction location",
            detail: e.to_string(),
        })?;
        Ok((loc.height <= self.head().header.height).then_some(loc))
    }

    /// A committed transaction with its location.
    pub fn transaction(&self, hash: &Hash) -> Result<Option<(SignedTransaction, TxLocation)>> {
        let Some(loc) = self.tx_location(hash)? else {
            return Ok(None);
        };
        let block = self
            .block_by_number(loc.height)?
            .ok_or_else(|| ChainError::Storage(format!("block {} of transaction {hash} is missing", loc.height)))?;
        let tx = block
            .txs
            .get(loc.index as usize)
            .cloned()
            .ok_or_else(|| ChainError::Storage(format!("transaction {hash} is not at its indexed position")))?;
        Ok(Some((tx, loc)))
    }

    /// The executions of a transaction and everything it caused on this shard so far, in
    /// causal (breadth-first) order, at most `limit`.
    pub fn execution_tree(&self, tx: &Hash, limit: usize) -> Result<Vec<(Hash, Execution)>> {
        let mut same_block: std::collections::HashMap<Hash, Execution> =
            match self.store.get(Column::Index, &k(b't', &tx.0))? {
                Some(b) => {
                    let record = decode::<TxRecord>(&b, "transaction record")?;
                    if record.location.height > self.head().header.height {
                        return Ok(Vec::new());
                    }
                    record.executions.into_iter().collect()
                }
                None => return Ok(Vec::new()),
            };
        let mut out = Vec::new();
        let mut queue = std::collections::VecDeque::from([*tx]);
        while let Some(id) = queue.pop_front() {
            if out.len() >= limit {
                break;
            }
            let e = match same_block.remove(&id) {
                Some(e) => Some(e),
                None => self.execution(&id)?,
            };
            if let Some(e) = e {
                queue.extend(e.children.iter().copied());
                out.push((id, e));
            }
        }
        Ok(out)
    }

    /// The execution of receipt `id` on this shard, when it ran in another block than the one
    /// that made it (delayed, or from another shard).
    pub fn execution(&self, id: &Hash) -> Result<Option<Execution>> {
        let head = self.head().header.height;
        Ok(self
            .store
            .get(Column::Receipts, &k(b'e', &id.0))?
            .map(|b| decode::<Execution>(&b, "execution"))
            .transpose()?
            .filter(|e| e.height <= head))
    }

    /// Per destination, the first stream position block `height` sent it (its stream's cursor
    /// when the block sent it nothing), as stored with the block's outgoing receipts (`None` for
    /// a block that sent none, or one stored before these were kept).
    pub fn first_outgoing(&self, height: Height) -> Result<Option<Vec<u64>>> {
        self.store
            .get(Column::Receipts, &k(b'f', &height.to_be_bytes()))?
            .map(|b| decode(&b, "first outgoing positions"))
            .transpose()
    }

    /// The outgoing cross-shard receipts of block `height`.
    pub fn outgoing(&self, height: Height) -> Result<Vec<Receipt>> {
        Ok(self
            .store
            .get(Column::Receipts, &k(b'o', &height.to_be_bytes()))?
            .map(|b| decode(&b, "outgoing receipts"))
            .transpose()?
            .unwrap_or_default())
    }

    /// An account at `height` (the empty account if absent).
    pub fn account(&self, a: &Address, height: Height) -> Result<Account> {
        self.readable(height)?;
        Ok(self
            .db
            .get(&account_key(a), height)?
            .map(|b| decode(&b, "account"))
            .transpose()?
            .unwrap_or_default())
    }

    /// The code with `hash`.
    pub fn code(&self, hash: &Hash, height: Height) -> Result<Option<Vec<u8>>> {
        self.readable(height)?;
        self.db.get(&code_key(hash), height)
    }

    /// A contract's storage value.
    pub fn storage(&self, contract: &Address, key: &[u8], height: Height) -> Result<Option<Vec<u8>>> {
        self.readable(height)?;
        self.db.get(&storage_key(contract, key), height)
    }

    /// A state value with its proof against the state root of block `height`.
    pub fn proof(&self, key: &[u8], height: Height) -> Result<(Option<Vec<u8>>, StateProof)> {
        self.readable(height)?;
        self.db.get_with_proof(key, height)
    }

    /// Reads the staking registry and epoch records at block `height` with `f` (beacon chain
    /// only: other shards hold none). A value the store cannot give or decode is an error.
    pub fn read_beacon<T>(&self, height: Height, f: impl FnOnce(&dyn BeaconRead) -> T) -> Result<T> {
        self.readable(height)?;
        let reader = StateKv {
            db: &self.db,
            height,
            error: std::cell::RefCell::new(None),
        };
        let out = f(&reader);
        match reader.error.into_inner() {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Checks a staking action against the head state as if it ran in the next block; the
    /// registry is left as it was. (Beacon chain only.)
    pub fn check_stake(
        &self,
        signer: &Address,
        action: &tutti_primitives::StakeAction,
    ) -> std::result::Result<(), StakingError> {
        let head = self.head().header.height;
        let mut state = exec::read_state(&self.db, head, self.spec.epochs);
        let epoch = self.spec.epochs.epoch_of(head + 1);
        beacon::apply_action(&mut state, &self.spec.epochs, signer, action, epoch).map(|_| ())
    }

    /// Shard `shard`'s latest crosslinked block at the head, `(height, hash)` (beacon chain only;
    /// `None` elsewhere).
    pub fn crosslinked(&self, shard: ShardId) -> Result<Option<(Height, Hash)>> {
        self.read_beacon(self.head().header.height, |b| b.crosslinked(shard))
    }

    /// The hash of shard `shard`'s block at `height` as this chain holds it final (beacon chain
    /// only): for shard 0, its own committed block; for another shard, the block it crosslinked
    /// at that height. `None`: not (yet) final here. A node restored from a snapshot knows the
    /// crosslinks it committed since, and each shard's latest.
    pub fn final_hash(&self, shard: ShardId, height: Height) -> Result<Option<Hash>> {
        if self.spec.shard_id != 0 {
            return Ok(None);
        }
        if shard == 0 {
            if height > self.head().header.height {
                return Ok(None);
            }
            return Ok(self.block_by_number(height)?.map(|b| b.header.hash()));
        }
        if let Some(bytes) = self.store.get(Column::Index, &crosslink_index_key(shard, height))? {
            return decode(&bytes, "crosslink index").map(Some);
        }
        Ok(self
            .crosslinked(shard)?
            .and_then(|(h, hash)| (h == height).then_some(hash)))
    }

    /// Total issued (block rewards) up to block `height`.
    pub fn issued(&self, height: Height) -> Result<Amount> {
        self.readable(height)?;
        Ok(self
            .db
            .get(beacon::ISSUED, height)?
            .map(|b| decode(&b, "issued total"))
            .transpose()?
            .unwrap_or(0))
    }

    /// Total fees burnt up to block `height`.
    pub fn burnt(&self, height: Height) -> Result<Amount> {
        self.readable(height)?;
        Ok(self
            .db
            .get(BURNT, height)?
            .map(|b| decode(&b, "burnt total"))
            .transpose()?
            .unwrap_or(0))
    }

    /// Runs a read-only call against the state of the head block. Writes, transfers and
    /// promises fail; `gas` bounds the work.
    pub fn view(&self, runtime: &Runtime, contract: &Address, method: &str, args: Vec<u8>, gas: u64) -> CallOutcome {
        self.run_call(runtime, &Address::default(), contract, method, args, 0, gas, true)
    }

    /// Simulates a call by `from` with `value` attached on the head state, as a transaction
    /// would run it, and discards its effects (for gas estimates).
    #[allow(clippy::too_many_arguments)]
    pub fn simulate(
        &self,
        runtime: &Runtime,
        from: &Address,
        contract: &Address,
        method: &str,
        args: Vec<u8>,
        value: Amount,
        gas: u64,
    ) -> CallOutcome {
        self.run_call(runtime, from, contract, method, args, value, gas, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_call(
        &self,
        runtime: &Runtime,
        from: &Address,
        contract: &Address,
        method: &str,
        args: Vec<u8>,
        value: Amount,
        gas: u64,
        read_only: bool,
    ) -> CallOutcome {
        let head = self.head();
        let h = &head.header;
        let acc = match self.account(contract, h.height) {
            Ok(a) => a,
            Err(e) => {
                return CallOutcome::failed(tutti_primitives::FailureKind::HostError, e.to_string(), 0, 0);
            }
        };
        let Some(code) = acc.code_hash else {
            return CallOutcome::failed(
                tutti_primitives::FailureKind::NoContract,
                format!("no contract at {contract}"),
                0,
                acc.balance,
            );
        };
        let mut ctx = CallContext::new(*contract, *from, method, args, gas);
        ctx.block = BlockContext {
            height: h.height,
            timestamp_ms: h.timestamp_ms,
            randomness: h.randomness,
            shard_id: self.spec.shard_id,
            num_shards: self.spec.num_shards,
        };
        ctx.signer = *from;
        ctx.value = value;
        ctx.balance = acc.balance.saturating_add(value);
        ctx.read_only = read_only;
        let state = exec::read_state(&self.db, h.height, self.spec.epochs);
        tutti_runtime::apply::execute_loaded(runtime, &state, &code, ctx)
    }
}
