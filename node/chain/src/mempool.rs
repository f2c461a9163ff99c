//! The mempool: a pure, bounded pool of valid transactions waiting for a block.
//!
//! Rules:
//! - Admission runs the stateless checks first (size, gas bounds, price floor, chain id, strict
//!   signature), so bad signatures and wrong chains are refused before any state is read; then
//!   the account checks (a nonce below the account nonce is a replay). A nonce more than
//!   `max_nonce_gap` ahead is refused.
//! - A sender's pooled transactions must be payable together: the sum of their most costs
//!   (value or stake locked + gas limit x gas price) may not pass the sender's balance, so one
//!   balance cannot hold many pool slots.
//! - One transaction per (sender, nonce). Another with the same sender and nonce replaces it only
//!   if its gas price is at least `replace_bump_percent` higher.
//! - A transaction that continues its sender's run (its nonce is the account nonce, or follows a
//!   pooled one) joins the *ready* pool: at most `max_per_sender` per sender and `max_txs` in
//!   all. When full, a new one evicts the cheapest transaction that ends its sender's run (so no
//!   sender is left with a gap), if it pays strictly more; otherwise it is refused. The eviction
//!   order is kept sorted, so admission costs O(log n) however the pool is filled.
//! - A transaction past a gap waits in a small separate *gapped* queue (`max_gapped` in all,
//!   `max_gapped_per_sender` per sender) until the gap fills (then it joins the ready pool) or
//!   `gapped_ttl_blocks` blocks pass ([`Mempool::tick`]): transactions that may never run cannot
//!   take the ready pool's room.
//! - Selection for a block takes each sender's ready transactions in nonce order starting at the
//!   account nonce (no gaps), and across senders the highest gas price first (earliest arrival
//!   breaks ties), within a transaction count, a gas budget and a byte budget.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap},
    sync::Arc,
};

use tutti_primitives::{Address, Amount, Gas, Hash, Nonce, SignedTransaction, codec::Encode};

use crate::{
    account::Account,
    txcheck::{self, TxError, TxRules},
};

/// Pool limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Most ready transactions in the pool.
    pub max_txs: usize,
    /// Most ready transactions of one sender.
    pub max_per_sender: usize,
    /// How far past the account nonce a transaction may be.
    pub max_nonce_gap: u64,
    /// Price increase a replacement needs, in percent.
    pub replace_bump_percent: u128,
    /// Most transactions waiting behind a nonce gap, in all.
    pub max_gapped: usize,
    /// Most transactions of one sender waiting behind a nonce gap.
    pub max_gapped_per_sender: usize,
    /// How many blocks a transaction waits behind a gap before it is dropped.
    pub gapped_ttl_blocks: u64,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_txs: 100_000,
            max_per_sender: 256,
            max_nonce_gap: 256,
            replace_bump_percent: 10,
            max_gapped: 4_096,
            max_gapped_per_sender: 16,
            gapped_ttl_blocks: 600,
        }
    }
}

/// Why the pool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// A check of [`txcheck`] failed.
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// Already in the pool.
    #[error("transaction {0} is already in the pool")]
    Duplicate(Hash),
    /// Same sender and nonce as a pooled transaction, without the required price bump.
    #[error("a transaction with nonce {nonce} is pending; a replacement needs gas price >= {need} (got {got})")]
    ReplacementUnderpriced {
        /// The nonce.
        nonce: Nonce,
        /// Least price accepted.
        need: Amount,
        /// Offered.
        got: Amount,
    },
    /// Too far ahead of the account nonce.
    #[error("nonce {got} is more than {max_gap} ahead of the account nonce {account}")]
    NonceGap {
        /// In the transaction.
        got: Nonce,
        /// The account's next nonce.
        account: Nonce,
        /// The allowed gap.
        max_gap: u64,
    },
    /// The sender's pooled transactions and this one cost more than its balance.
    #[error(
        "the sender's pending transactions and this one may cost {need} in all, more than its balance {have}; wait for some to be included"
    )]
    OverCommitted {
        /// What they may cost together.
        need: Amount,
        /// The balance.
        have: Amount,
    },
    /// The sender has too many pending.
    #[error("the sender already has {0} pending transactions")]
    SenderFull(usize),
    /// No room for another transaction behind a nonce gap (for this sender, or in all).
    #[error(
        "nonce {got} leaves a gap after the account nonce {account} and the pool holds no more such transactions{}; send the missing ones first",
        if *.sender_full { " from this sender" } else { "" }
    )]
    GappedFull {
        /// In the transaction.
        got: Nonce,
        /// The account's next nonce.
        account: Nonce,
        /// The sender's own limit was reached (else the pool's).
        sender_full: bool,
    },
    /// The pool is full of better-paying transactions.
    #[error("the pool is full; pay a gas price above {0} to enter")]
    Full(Amount),
}

/// What admission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// Added.
    Added,
    /// Replaced the transaction with this hash.
    Replaced(Hash),
    /// Added after evicting the transaction with this hash.
    Evicted(Hash),
}

#[derive(Clone)]
struct Entry {
    tx: Arc<SignedTransaction>,
    hash: Hash,
    seq: u64,
    /// Encoded size.
    size: usize,
    /// Its most cost ([`txcheck::max_cost`]).
    cost: Amount,
    /// The pool's block count when it entered.
    since: u64,
}

impl Entry {
    fn price(&self) -> Amount {
        self.tx.tx.gas_price
    }

    fn order(&self) -> (Amount, Reverse<u64>, Hash) {
        (self.price(), Reverse(self.seq), self.hash)
    }
}

/// Which queue a pooled transaction is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Ready,
    Gapped,
}

/// The pool.
pub struct Mempool {
    config: MempoolConfig,
    rules: TxRules,
    /// Per sender, its ready run.
    senders: HashMap<Address, BTreeMap<Nonce, Entry>>,
    /// Per sender, transactions behind a nonce gap.
    gapped: HashMap<Address, BTreeMap<Nonce, Entry>>,
    /// Per sender, the most its pooled transactions (both queues) may cost together.
    committed: HashMap<Address, Amount>,
    by_hash: HashMap<Hash, (Address, Nonce, Place)>,
    /// (price, newest first, hash) of the last ready transaction of each sender: the eviction
    /// order.
    tails: BTreeSet<(Amount, Reverse<u64>, Hash)>,
    /// (entered at, seq, hash) of the gapped transactions: the expiry order.
    gapped_order: BTreeSet<(u64, u64, Hash)>,
    ready_len: usize,
    seq: u64,
    /// Blocks seen ([`Mempool::tick`]).
    blocks: u64,
}

impl Mempool {
    /// An empty pool.
    pub fn new(config: MempoolConfig, rules: TxRules) -> Self {
        Mempool {
            config,
            rules,
            senders: HashMap::new(),
            gapped: HashMap::new(),
            committed: HashMap::new(),
            by_hash: HashMap::new(),
            tails: BTreeSet::new(),
            gapped_order: BTreeSet::new(),
            ready_len: 0,
            seq: 0,
            blocks: 0,
        }
    }

    fn queue(&self, place: Place) -> &HashMap<Address, BTreeMap<Nonce, Entry>> {
        match place {
            Place::Ready => &self.senders,
            Place::Gapped => &self.gapped,
        }
    }

    /// The pooled transaction with this hash.
    pub fn get(&self, hash: &Hash) -> Option<Arc<SignedTransaction>> {
        let (sender, nonce, place) = self.by_hash.get(hash)?;
        self.queue(*place).get(sender)?.get(nonce).map(|e| e.tx.clone())
    }

    /// Number of pooled transactions (ready and gapped).
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Number of transactions waiting behind a nonce gap.
    pub fn gapped_len(&self) -> usize {
        self.by_hash.len() - self.ready_len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether a transaction is pooled.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Admits a transaction. `encoded_len` is its encoded size; `account` is the sender's
    /// account at the current head.
    pub fn insert(
        &mut self,
        stx: SignedTransaction,
        encoded_len: usize,
        account: &Account,
    ) -> Result<Admitted, MempoolError> {
        txcheck::check_stateless(&stx, encoded_len, &self.rules)?;
        let hash = stx.hash();
        self.insert_checked(stx, hash, account)
    }

    /// Admits a transaction that already passed [`txcheck::check_stateless`] with this pool's
    /// rules (the node verifies signatures before taking the pool's lock). `hash` is its hash.
    pub fn insert_checked(
        &mut self,
        stx: SignedTransaction,
        hash: Hash,
        account: &Account,
    ) -> Result<Admitted, MempoolError> {
        if self.by_hash.contains_key(&hash) {
            return Err(MempoolError::Duplicate(hash));
        }
        txcheck::check_account(&stx, account)?;
        let nonce = stx.tx.nonce;
        if nonce - account.nonce > self.config.max_nonce_gap {
            return Err(MempoolError::NonceGap {
                got: nonce,
                account: account.nonce,
                max_gap: self.config.max_nonce_gap,
            });
        }
        let sender = stx.tx.sender();
        let price = stx.tx.gas_price;
        let cost = txcheck::max_cost(&stx)?;
        let committed = self.committed.get(&sender).copied().unwrap_or(0);
        // A replacement takes the place (and the share of the balance) of the one it replaces.
        let old = [Place::Ready, Place::Gapped]
            .into_iter()
            .find_map(|place| self.queue(place).get(&sender)?.get(&nonce).map(|e| (place, e.clone())));
        let others = committed - old.as_ref().map_or(0, |(_, e)| e.cost);
        let need = others.saturating_add(cost);
        if need > account.balance {
            return Err(MempoolError::OverCommitted {
                need,
                have: account.balance,
            });
        }
        if let Some((place, old)) = old {
            let bump = old
                .price()
                .saturating_mul(100 + self.config.replace_bump_percent)
                .div_ceil(100)
                .max(old.price() + 1);
            if price < bump {
                return Err(MempoolError::ReplacementUnderpriced {
                    nonce,
                    need: bump,
                    got: price,
                });
            }
            self.remove(&old.hash);
            self.put(sender, nonce, stx, hash, cost, place);
            return Ok(Admitted::Replaced(old.hash));
        }
        // Transactions that were put behind a gap against an older account (the sender's
        // earlier ones committed meanwhile) continue its run now: they move first.
        if !self.senders.contains_key(&sender)
            && self.gapped.get(&sender).is_some_and(|q| q.contains_key(&account.nonce))
        {
            self.promote(&sender, account.nonce);
        }
        let follows = nonce == account.nonce || self.senders.get(&sender).is_some_and(|q| q.contains_key(&(nonce - 1)));
        if !follows {
            let mine = self.gapped.get(&sender).map_or(0, |q| q.len());
            if mine >= self.config.max_gapped_per_sender || self.gapped_len() >= self.config.max_gapped {
                return Err(MempoolError::GappedFull {
                    got: nonce,
                    account: account.nonce,
                    sender_full: mine >= self.config.max_gapped_per_sender,
                });
            }
            self.put(sender, nonce, stx, hash, cost, Place::Gapped);
            return Ok(Admitted::Added);
        }
        let queue_len = self.senders.get(&sender).map_or(0, |q| q.len());
        if queue_len >= self.config.max_per_sender {
            return Err(MempoolError::SenderFull(queue_len));
        }
        let mut evicted = None;
        if self.ready_len >= self.config.max_txs {
            // The cheapest run end of another sender: each sender has one, so at most one is
            // skipped.
            let victim = self
                .tails
                .iter()
                .find(|(_, _, h)| self.by_hash.get(h).is_some_and(|(s, ..)| *s != sender))
                .copied();
            match victim {
                Some((vprice, _, vhash)) if vprice < price => {
                    self.remove(&vhash);
                    evicted = Some(vhash);
                }
                Some((vprice, _, _)) => return Err(MempoolError::Full(vprice)),
                None => return Err(MempoolError::Full(price)),
            }
        }
        self.put(sender, nonce, stx, hash, cost, Place::Ready);
        self.promote(&sender, nonce + 1);
        Ok(evicted.map_or(Admitted::Added, Admitted::Evicted))
    }

    fn put(&mut self, sender: Address, nonce: Nonce, stx: SignedTransaction, hash: Hash, cost: Amount, place: Place) {
        self.seq += 1;
        let e = Entry {
            size: stx.encoded_size(),
            tx: Arc::new(stx),
            hash,
            seq: self.seq,
            cost,
            since: self.blocks,
        };
        self.place(sender, nonce, e, place);
    }

    /// Puts an entry in a queue and every index.
    fn place(&mut self, sender: Address, nonce: Nonce, e: Entry, place: Place) {
        *self.committed.entry(sender).or_insert(0) += e.cost;
        self.by_hash.insert(e.hash, (sender, nonce, place));
        match place {
            Place::Ready => {
                self.ready_len += 1;
                let queue = self.senders.entry(sender).or_default();
                let old_tail = queue.last_key_value().map(|(n, t)| (*n, t.order()));
                match old_tail {
                    Some((n, _)) if n > nonce => {}
                    Some((_, order)) => {
                        self.tails.remove(&order);
                        self.tails.insert(e.order());
                    }
                    None => {
                        self.tails.insert(e.order());
                    }
                }
                queue.insert(nonce, e);
            }
            Place::Gapped => {
                self.gapped_order.insert((e.since, e.seq, e.hash));
                self.gapped.entry(sender).or_default().insert(nonce, e);
            }
        }
    }

    /// Moves the sender's gapped transactions from `nonce` on that now continue its ready run
    /// into the ready pool, while it has room.
    fn promote(&mut self, sender: &Address, mut nonce: Nonce) {
        loop {
            let ready = self.senders.get(sender).map_or(0, |q| q.len());
            if ready >= self.config.max_per_sender || self.ready_len >= self.config.max_txs {
                return;
            }
            let Some(e) = self.gapped.get(sender).and_then(|q| q.get(&nonce)).cloned() else {
                return;
            };
            self.remove(&e.hash);
            self.place(*sender, nonce, e, Place::Ready);
            nonce += 1;
        }
    }

    /// Removes a transaction; returns it if it was pooled.
    pub fn remove(&mut self, hash: &Hash) -> Option<Arc<SignedTransaction>> {
        let (sender, nonce, place) = self.by_hash.remove(hash)?;
        let queues = match place {
            Place::Ready => &mut self.senders,
            Place::Gapped => &mut self.gapped,
        };
        let queue = queues.get_mut(&sender)?;
        let was_tail = queue.last_key_value().is_some_and(|(n, _)| *n == nonce);
        let e = queue.remove(&nonce)?;
        let new_tail = queue.last_key_value().map(|(_, t)| t.order());
        if queue.is_empty() {
            queues.remove(&sender);
        }
        match place {
            Place::Ready => {
                self.ready_len -= 1;
                if was_tail {
                    self.tails.remove(&e.order());
                    if let Some(order) = new_tail {
                        self.tails.insert(order);
                    }
                }
            }
            Place::Gapped => {
                self.gapped_order.remove(&(e.since, e.seq, e.hash));
            }
        }
        if let Some(c) = self.committed.get_mut(&sender) {
            *c -= e.cost;
            if *c == 0 && !self.senders.contains_key(&sender) && !self.gapped.contains_key(&sender) {
                self.committed.remove(&sender);
            }
        }
        Some(e.tx)
    }

    /// Drops the sender's transactions whose nonce is below `account_nonce` (included in a block,
    /// or made stale by one), and moves those behind a gap that now continue its run into the
    /// ready pool.
    pub fn remove_committed(&mut self, sender: &Address, account_nonce: Nonce) {
        let stale: Vec<Hash> = [&self.senders, &self.gapped]
            .into_iter()
            .filter_map(|q| q.get(sender))
            .flat_map(|q| q.range(..account_nonce).map(|(_, e)| e.hash))
            .collect();
        for h in stale {
            self.remove(&h);
        }
        let next = self
            .senders
            .get(sender)
            .and_then(|q| q.last_key_value())
            .map_or(account_nonce, |(n, _)| n + 1);
        self.promote(sender, next);
    }

    /// A block was committed: transactions that waited behind a gap for
    /// `gapped_ttl_blocks` blocks leave.
    pub fn tick(&mut self) {
        self.blocks += 1;
        let expired: Vec<Hash> = self
            .gapped_order
            .iter()
            .take_while(|(since, ..)| since.saturating_add(self.config.gapped_ttl_blocks) <= self.blocks)
            .map(|(.., h)| *h)
            .collect();
        for h in expired {
            self.remove(&h);
        }
    }

    /// Transactions for the next block: per sender in nonce order from the account nonce, across
    /// senders by gas price (then arrival), at most `max_txs`, `max_gas` gas and `max_bytes`
    /// encoded bytes in all.
    pub fn select(
        &self,
        account_nonce: impl Fn(&Address) -> Nonce,
        max_txs: usize,
        max_gas: Gas,
        max_bytes: usize,
    ) -> Vec<Arc<SignedTransaction>> {
        // Heap of each sender's next executable transaction.
        let mut heap = BinaryHeap::new();
        for (sender, queue) in &self.senders {
            let next = account_nonce(sender);
            if let Some(e) = queue.get(&next) {
                heap.push((e.price(), Reverse(e.seq), *sender, next));
            }
        }
        let mut out = Vec::new();
        let (mut gas, mut bytes): (Gas, usize) = (0, 0);
        while let Some((_, _, sender, nonce)) = heap.pop() {
            if out.len() >= max_txs {
                break;
            }
            let e = &self.senders[&sender][&nonce];
            let total = gas.checked_add(e.tx.tx.gas_limit).filter(|g| *g <= max_gas);
            let size = bytes.saturating_add(e.size);
            let Some(total) = total.filter(|_| size <= max_bytes) else {
                // This sender's next transaction does not fit; its later ones cannot run before it.
                continue;
            };
            (gas, bytes) = (total, size);
            out.push(e.tx.clone());
            if let Some(n) = self.senders[&sender].get(&(nonce + 1)) {
                heap.push((n.price(), Reverse(n.seq), sender, nonce + 1));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txcheck::tests::{key, tx};

    fn pool(max_txs: usize) -> Mempool {
        Mempool::new(
            MempoolConfig {
                max_txs,
                max_per_sender: 4,
                max_nonce_gap: 8,
                replace_bump_percent: 10,
                max_gapped: 3,
                max_gapped_per_sender: 2,
                gapped_ttl_blocks: 5,
            },
            TxRules::new(7),
        )
    }

    fn rich(nonce: Nonce) -> Account {
        Account {
            balance: 1 << 100,
            nonce,
            code_hash: None,
        }
    }

    fn add(p: &mut Mempool, t: SignedTransaction, acc: &Account) -> Result<Admitted, MempoolError> {
        let len = t.encode().len();
        p.insert(t, len, acc)
    }

    #[test]
    fn selects_in_nonce_order_and_by_price_across_senders() {
        let mut p = pool(100);
        let (a, b) = (key(1), key(2));
        // a: nonces 0,1 at price 5 and 50; b: nonce 0 at price 20. Arrival order is shuffled.
        add(&mut p, tx(&a, 1, 50, 1), &rich(0)).unwrap();
        add(&mut p, tx(&b, 0, 20, 1), &rich(0)).unwrap();
        add(&mut p, tx(&a, 0, 5, 1), &rich(0)).unwrap();
        let picked: Vec<(u8, Nonce)> = p
            .select(|_| 0, 10, u64::MAX, usize::MAX)
            .iter()
            .map(|t| {
                (
                    if t.tx.signer.0 == a.verifying_key().to_bytes() {
                        b'a'
                    } else {
                        b'b'
                    },
                    t.tx.nonce,
                )
            })
            .collect();
        assert_eq!(
            picked,
            vec![(b'b', 0), (b'a', 0), (b'a', 1)],
            "a's nonce 1 cannot jump ahead of nonce 0"
        );
        assert_eq!(p.select(|_| 0, 2, u64::MAX, usize::MAX).len(), 2);
        assert_eq!(p.select(|_| 0, 10, 3_000_000, usize::MAX).len(), 1, "gas budget");
        let size = tx(&a, 0, 5, 1).encoded_size();
        assert_eq!(p.select(|_| 0, 10, u64::MAX, 2 * size + 1).len(), 2, "byte budget");
        // A gap stops a sender: account nonce 0, only nonce 1 pooled.
        let mut q = pool(100);
        add(&mut q, tx(&a, 1, 50, 1), &rich(0)).unwrap();
        assert!(q.select(|_| 0, 10, u64::MAX, usize::MAX).is_empty());
    }

    #[test]
    fn replays_bad_signatures_and_wrong_chains_are_refused() {
        let mut p = pool(100);
        let k = key(1);
        let t = tx(&k, 0, 5, 1);
        add(&mut p, t.clone(), &rich(0)).unwrap();
        assert!(matches!(
            add(&mut p, t.clone(), &rich(0)),
            Err(MempoolError::Duplicate(_))
        ));
        assert!(matches!(
            add(&mut p, tx(&k, 2, 5, 1), &rich(3)),
            Err(MempoolError::Invalid(TxError::NonceTooLow { .. }))
        ));
        let mut forged = tx(&k, 1, 5, 1);
        forged.tx.gas_price = 6;
        assert!(matches!(
            add(&mut p, forged, &rich(0)),
            Err(MempoolError::Invalid(TxError::BadSignature(_)))
        ));
        let other_chain = tutti_primitives::Transaction {
            chain_id: 1,
            ..tx(&k, 1, 5, 1).tx
        }
        .sign(&k);
        assert!(matches!(
            add(&mut p, other_chain, &rich(0)),
            Err(MempoolError::Invalid(TxError::WrongChain { .. }))
        ));
        let poor = Account {
            balance: 10,
            nonce: 0,
            code_hash: None,
        };
        assert!(matches!(
            add(&mut p, tx(&k, 1, 5, 1), &poor),
            Err(MempoolError::Invalid(TxError::InsufficientBalance { .. }))
        ));
        assert!(matches!(
            add(&mut p, tx(&k, 20, 5, 1), &rich(0)),
            Err(MempoolError::NonceGap { .. })
        ));
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn replacement_needs_a_price_bump() {
        let mut p = pool(100);
        let k = key(1);
        let first = tx(&k, 0, 100, 1);
        add(&mut p, first.clone(), &rich(0)).unwrap();
        let cheap = tx(&k, 0, 109, 2);
        assert_eq!(
            add(&mut p, cheap, &rich(0)),
            Err(MempoolError::ReplacementUnderpriced {
                nonce: 0,
                need: 110,
                got: 109
            })
        );
        assert_eq!(
            add(&mut p, tx(&k, 0, 110, 3), &rich(0)),
            Ok(Admitted::Replaced(first.hash()))
        );
        assert_eq!(p.len(), 1);
        assert!(!p.contains(&first.hash()));
    }

    #[test]
    fn bounded_with_eviction_of_the_cheapest_tail() {
        let mut p = pool(3);
        let (a, b, c) = (key(1), key(2), key(3));
        add(&mut p, tx(&a, 0, 10, 1), &rich(0)).unwrap();
        let a1 = tx(&a, 1, 1, 1);
        add(&mut p, a1.clone(), &rich(0)).unwrap();
        add(&mut p, tx(&b, 0, 30, 1), &rich(0)).unwrap();
        // Full. c at price 5 evicts a's tail (price 1), not a's head.
        assert_eq!(add(&mut p, tx(&c, 0, 5, 1), &rich(0)), Ok(Admitted::Evicted(a1.hash())));
        // Now the cheapest tail is c (5) - a new price 5 does not beat it.
        assert_eq!(add(&mut p, tx(&key(4), 0, 5, 1), &rich(0)), Err(MempoolError::Full(5)));
        assert_eq!(p.len(), 3);
    }

    #[test]
    fn per_sender_cap_and_committed_removal() {
        let mut p = pool(100);
        let k = key(1);
        for n in 0..4 {
            add(&mut p, tx(&k, n, 5, 1), &rich(0)).unwrap();
        }
        assert_eq!(add(&mut p, tx(&k, 4, 5, 1), &rich(0)), Err(MempoolError::SenderFull(4)));
        p.remove_committed(&tx(&k, 0, 5, 1).tx.sender(), 3);
        assert_eq!(p.len(), 1);
        assert_eq!(p.select(|_| 3, 10, u64::MAX, usize::MAX)[0].tx.nonce, 3);
    }

    fn funded(balance: Amount, nonce: Nonce) -> Account {
        Account {
            balance,
            nonce,
            code_hash: None,
        }
    }

    /// One balance cannot hold many slots: a sender's pooled transactions must be payable
    /// together (each here may cost 2,000,000 gas x its price + its value).
    #[test]
    fn a_senders_pooled_transactions_must_be_payable_together() {
        let mut p = pool(100);
        let k = key(1);
        let one = txcheck::max_cost(&tx(&k, 0, 5, 1)).unwrap();
        let acc = funded(2 * one, 0);
        add(&mut p, tx(&k, 0, 5, 1), &acc).unwrap();
        add(&mut p, tx(&k, 1, 5, 1), &acc).unwrap();
        assert!(matches!(
            add(&mut p, tx(&k, 2, 5, 1), &acc),
            Err(MempoolError::OverCommitted { need, have }) if need == 3 * one && have == 2 * one
        ));
        // A replacement counts instead of the one it replaces, not beside it.
        let dearer = tx(&k, 1, 6, 1);
        let need = one + txcheck::max_cost(&dearer).unwrap();
        assert!(matches!(
            add(&mut p, dearer, &funded(need, 0)),
            Ok(Admitted::Replaced(_))
        ));
        // Once included, their cost no longer counts.
        p.remove_committed(&tx(&k, 0, 5, 1).tx.sender(), 2);
        assert!(p.is_empty());
        add(&mut p, tx(&k, 2, 5, 1), &funded(one, 2)).unwrap();
    }

    /// Transactions past a nonce gap wait in a small queue of their own: they never take the
    /// ready pool's room, join it when the gap fills (by admission or by a block) and leave after
    /// `gapped_ttl_blocks` blocks otherwise.
    #[test]
    fn gapped_transactions_wait_apart_and_expire() {
        let mut p = pool(3);
        let (a, b) = (key(1), key(2));
        add(&mut p, tx(&a, 3, 5, 1), &rich(0)).unwrap();
        add(&mut p, tx(&a, 2, 5, 1), &rich(0)).unwrap();
        assert!(matches!(
            add(&mut p, tx(&a, 5, 5, 1), &rich(0)),
            Err(MempoolError::GappedFull { sender_full: true, .. })
        ));
        add(&mut p, tx(&b, 4, 5, 1), &rich(0)).unwrap();
        assert!(matches!(
            add(&mut p, tx(&key(3), 1, 5, 1), &rich(0)),
            Err(MempoolError::GappedFull { sender_full: false, .. })
        ));
        assert_eq!((p.len(), p.gapped_len()), (3, 3));
        assert!(p.select(|_| 0, 10, u64::MAX, usize::MAX).is_empty(), "nothing is ready");
        // The ready pool (3) is all free for transactions that can run.
        for k in [key(4), key(5), key(6)] {
            assert_eq!(add(&mut p, tx(&k, 0, 1, 1), &rich(0)), Ok(Admitted::Added));
        }
        // a's gap fills: nonce 0 and 1 arrive, and 2 and 3 join the ready run behind them.
        p = pool(100);
        add(&mut p, tx(&a, 2, 5, 1), &rich(0)).unwrap();
        add(&mut p, tx(&a, 3, 5, 1), &rich(0)).unwrap();
        add(&mut p, tx(&a, 0, 5, 1), &rich(0)).unwrap();
        assert_eq!(p.gapped_len(), 2);
        add(&mut p, tx(&a, 1, 5, 1), &rich(0)).unwrap();
        assert_eq!(p.gapped_len(), 0);
        let nonces: Vec<Nonce> = p
            .select(|_| 0, 10, u64::MAX, usize::MAX)
            .iter()
            .map(|t| t.tx.nonce)
            .collect();
        assert_eq!(nonces, vec![0, 1, 2, 3]);
        // b's gap fills by a block (nonces 0..4 included elsewhere): 4 joins the ready run.
        add(&mut p, tx(&b, 4, 5, 1), &rich(0)).unwrap();
        assert_eq!(p.gapped_len(), 1);
        p.remove_committed(&tx(&b, 0, 5, 1).tx.sender(), 4);
        assert_eq!(p.gapped_len(), 0);
        assert_eq!(p.select(|_| 4, 10, u64::MAX, usize::MAX).len(), 1);
        // A gap that never fills: the transaction leaves after 5 blocks.
        add(&mut p, tx(&key(7), 3, 5, 1), &rich(0)).unwrap();
        for _ in 0..4 {
            p.tick();
        }
        assert_eq!(p.gapped_len(), 1);
        p.tick();
        assert_eq!(p.gapped_len(), 0);
        assert_eq!(p.len(), 5);
    }

    /// A transaction judged against an account read just before a block took the sender's
    /// earlier ones (and cleared them from the pool) waits behind a gap that is no longer
    /// there; the sender's next transaction, judged against the new account, moves it.
    #[test]
    fn a_gap_that_a_block_already_closed_does_not_hold_the_sender_back() {
        let mut p = pool(100);
        let a = key(1);
        add(&mut p, tx(&a, 3, 5, 1), &rich(0)).unwrap();
        assert_eq!(p.gapped_len(), 1, "behind a gap against the old account");
        assert_eq!(add(&mut p, tx(&a, 4, 5, 1), &rich(3)), Ok(Admitted::Added));
        assert_eq!((p.len(), p.gapped_len()), (2, 0));
        let nonces: Vec<Nonce> = p
            .select(|_| 3, 10, u64::MAX, usize::MAX)
            .iter()
            .map(|t| t.tx.nonce)
            .collect();
        assert_eq!(nonces, vec![3, 4]);
    }
}
