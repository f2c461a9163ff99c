//! The mempool: a pure, bounded pool of valid transactions waiting for a block.
//!
//! Rules:
//! - Admission runs the stateless checks first (size, gas bounds, price floor, chain id, strict
//!   signature), so bad signatures and wrong chains are refused before any state is read; then
//!   the account checks (a nonce below the account nonce is a replay; the balance must cover value
//!   + gas limit x gas price). A nonce more than `max_nonce_gap` ahead is refused.
//! - One transaction per (sender, nonce). Another with the same sender and nonce replaces it only
//!   if its gas price is at least `replace_bump_percent` higher.
//! - At most `max_per_sender` per sender and `max_txs` in all. When full, a new transaction evicts
//!   the cheapest one that is the last of its sender's queue (so no sender is left with a gap),
//!   if it pays strictly more; otherwise it is refused.
//! - Selection for a block takes each sender's transactions in nonce order starting at the
//!   account nonce (no gaps), and across senders the highest gas price first (earliest arrival
//!   breaks ties), within a transaction count and a gas budget.

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
    /// Most transactions in the pool.
    pub max_txs: usize,
    /// Most transactions of one sender.
    pub max_per_sender: usize,
    /// How far past the account nonce a transaction may be.
    pub max_nonce_gap: u64,
    /// Price increase a replacement needs, in percent.
    pub replace_bump_percent: u128,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_txs: 100_000,
            max_per_sender: 256,
            max_nonce_gap: 256,
            replace_bump_percent: 10,
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
    /// The sender has too many pending.
    #[error("the sender already has {0} pending transactions")]
    SenderFull(usize),
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
}

impl Entry {
    fn price(&self) -> Amount {
        self.tx.tx.gas_price
    }
}

/// The pool.
pub struct Mempool {
    config: MempoolConfig,
    rules: TxRules,
    senders: HashMap<Address, BTreeMap<Nonce, Entry>>,
    by_hash: HashMap<Hash, (Address, Nonce)>,
    /// (price, newest first, hash): the eviction order.
    by_price: BTreeSet<(Amount, Reverse<u64>, Hash)>,
    seq: u64,
}

impl Mempool {
    /// An empty pool.
    pub fn new(config: MempoolConfig, rules: TxRules) -> Self {
        Mempool {
            config,
            rules,
            senders: HashMap::new(),
            by_hash: HashMap::new(),
            by_price: BTreeSet::new(),
            seq: 0,
        }
    }

    /// The pooled transaction with this hash.
    pub fn get(&self, hash: &Hash) -> Option<Arc<SignedTransaction>> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        self.senders.get(sender)?.get(nonce).map(|e| e.tx.clone())
    }

    /// Number of pooled transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
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
        let queue_len = self.senders.get(&sender).map_or(0, |q| q.len());
        if let Some(old) = self.senders.get(&sender).and_then(|q| q.get(&nonce)) {
            let need = old
                .price()
                .saturating_mul(100 + self.config.replace_bump_percent)
                .div_ceil(100);
            if price < need.max(old.price() + 1) {
                return Err(MempoolError::ReplacementUnderpriced {
                    nonce,
                    need: need.max(old.price() + 1),
                    got: price,
                });
            }
            let old_hash = old.hash;
            self.remove(&old_hash);
            self.put(sender, nonce, stx, hash);
            return Ok(Admitted::Replaced(old_hash));
        }
        if queue_len >= self.config.max_per_sender {
            return Err(MempoolError::SenderFull(queue_len));
        }
        let mut evicted = None;
        if self.len() >= self.config.max_txs {
            let victim = self
                .by_price
                .iter()
                .find(|(_, _, h)| {
                    let (s, n) = self.by_hash[h];
                    self.senders[&s].keys().next_back() == Some(&n) && s != sender
                })
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
        self.put(sender, nonce, stx, hash);
        Ok(evicted.map_or(Admitted::Added, Admitted::Evicted))
    }

    fn put(&mut self, sender: Address, nonce: Nonce, stx: SignedTransaction, hash: Hash) {
        self.seq += 1;
        let e = Entry {
            size: stx.encoded_size(),
            tx: Arc::new(stx),
            hash,
            seq: self.seq,
        };
        self.by_price.insert((e.price(), Reverse(e.seq), hash));
        self.by_hash.insert(hash, (sender, nonce));
        self.senders.entry(sender).or_default().insert(nonce, e);
    }

    /// Removes a transaction; returns it if it was pooled.
    pub fn remove(&mut self, hash: &Hash) -> Option<Arc<SignedTransaction>> {
        let (sender, nonce) = self.by_hash.remove(hash)?;
        let queue = self.senders.get_mut(&sender)?;
        let e = queue.remove(&nonce)?;
        if queue.is_empty() {
            self.senders.remove(&sender);
        }
        self.by_price.remove(&(e.price(), Reverse(e.seq), e.hash));
        Some(e.tx)
    }

    /// Drops the sender's transactions whose nonce is below `account_nonce` (included in a block,
    /// or made stale by one).
    pub fn remove_committed(&mut self, sender: &Address, account_nonce: Nonce) {
        let stale: Vec<Hash> = self
            .senders
            .get(sender)
            .map(|q| q.range(..account_nonce).map(|(_, e)| e.hash).collect())
            .unwrap_or_default();
        for h in stale {
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
}
