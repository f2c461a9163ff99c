//! Typed, lazily loaded storage. Each handle owns a key prefix; values are SCALE-encoded and read
//! only when asked for. Declare handles as consts:
//!
//! ```
//! use tutti_sdk::prelude::*;
//! const OWNER: Item<Address> = Item::new(b"o");
//! const BALANCES: Map<Address, u128> = Map::new(b"b");
//! const HISTORY: Vector<u64> = Vector::new(b"h");
//! # tutti_sdk::testing::reset();
//! BALANCES.insert(&Address([1; 32]), &5);
//! HISTORY.push(&9);
//! assert_eq!(BALANCES.get(&Address([1; 32])), Some(5));
//! assert_eq!(HISTORY.get(0), Some(9));
//! ```
//!
//! Prefixes must not be prefixes of each other within one contract (`b"a"` and `b"ab"` could
//! collide); the runtime reserves keys starting with byte 0.
//!
//! [`Map`] cannot list its entries (storage has no iteration). [`IterableMap`] and [`IterableSet`]
//! can: they keep their keys in an index in storage as well, at the price of a few more storage
//! operations per change (listed on each type).

use alloc::vec::Vec;
use core::marker::PhantomData;
use parity_scale_codec::{Decode, Encode};

use crate::{env, sys};

fn decode<T: Decode>(bytes: Vec<u8>) -> T {
    T::decode(&mut bytes.as_slice())
        .unwrap_or_else(|_| env::panic_str("a stored value does not decode to its declared type"))
}

/// A single value.
pub struct Item<T> {
    key: &'static [u8],
    _t: PhantomData<fn() -> T>,
}

impl<T: Encode + Decode> Item<T> {
    /// A handle for the value under `key`.
    pub const fn new(key: &'static [u8]) -> Self {
        Item { key, _t: PhantomData }
    }

    /// The value, if set.
    pub fn get(&self) -> Option<T> {
        sys::storage_read(self.key).map(decode)
    }

    /// The value, or `T::default()` if unset.
    pub fn get_or_default(&self) -> T
    where
        T: Default,
    {
        self.get().unwrap_or_default()
    }

    /// Sets the value.
    pub fn set(&self, v: &T) {
        sys::storage_write(self.key, &v.encode());
    }

    /// Removes the value.
    pub fn remove(&self) {
        sys::storage_remove(self.key);
    }

    /// Whether the value is set.
    pub fn exists(&self) -> bool {
        sys::storage_has(self.key)
    }
}

/// A map from `K` to `V`; the key of entry `k` is `prefix || scale(k)`.
pub struct Map<K, V> {
    prefix: &'static [u8],
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K: Encode, V: Encode + Decode> Map<K, V> {
    /// A map under `prefix`.
    pub const fn new(prefix: &'static [u8]) -> Self {
        Map {
            prefix,
            _t: PhantomData,
        }
    }

    fn key(&self, k: &K) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + k.size_hint());
        key.extend_from_slice(self.prefix);
        k.encode_to(&mut key);
        key
    }

    /// The value of `k`.
    pub fn get(&self, k: &K) -> Option<V> {
        sys::storage_read(&self.key(k)).map(decode)
    }

    /// Sets `k` to `v`.
    pub fn insert(&self, k: &K, v: &V) {
        sys::storage_write(&self.key(k), &v.encode());
    }

    /// Removes `k`; true if it was there.
    pub fn remove(&self, k: &K) -> bool {
        sys::storage_remove(&self.key(k))
    }

    /// Whether `k` is present.
    pub fn contains(&self, k: &K) -> bool {
        sys::storage_has(&self.key(k))
    }
}

/// A growable array. Key layout: the length (SCALE `u32`) under `prefix || "len"`, item `i` under
/// `prefix || "#" || i` (`i` as a big-endian `u32`).
pub struct Vector<T> {
    prefix: &'static [u8],
    _t: PhantomData<fn() -> T>,
}

impl<T: Encode + Decode> Vector<T> {
    /// A vector under `prefix`.
    pub const fn new(prefix: &'static [u8]) -> Self {
        Vector {
            prefix,
            _t: PhantomData,
        }
    }

    fn len_key(&self) -> Vec<u8> {
        let mut k = self.prefix.to_vec();
        k.extend_from_slice(b"len");
        k
    }

    fn item_key(&self, i: u32) -> Vec<u8> {
        let mut k = self.prefix.to_vec();
        k.push(b'#');
        k.extend_from_slice(&i.to_be_bytes());
        k
    }

    /// Number of items.
    pub fn len(&self) -> u32 {
        sys::storage_read(&self.len_key()).map(decode).unwrap_or(0)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item `i`.
    pub fn get(&self, i: u32) -> Option<T> {
        if i >= self.len() {
            return None;
        }
        sys::storage_read(&self.item_key(i)).map(decode)
    }

    /// Appends an item; returns its index.
    pub fn push(&self, v: &T) -> u32 {
        let n = self.len();
        sys::storage_write(&self.item_key(n), &v.encode());
        sys::storage_write(&self.len_key(), &(n + 1).encode());
        n
    }

    /// Replaces item `i`; panics if out of range.
    pub fn set(&self, i: u32, v: &T) {
        if i >= self.len() {
            env::panic_str("vector index out of range");
        }
        sys::storage_write(&self.item_key(i), &v.encode());
    }

    /// Removes and returns the last item.
    pub fn pop(&self) -> Option<T> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let k = self.item_key(n - 1);
        let v = sys::storage_read(&k).map(decode);
        sys::storage_remove(&k);
        sys::storage_write(&self.len_key(), &(n - 1).encode());
        v
    }

    /// Items `from..to` (clamped to the length).
    pub fn range(&self, from: u32, to: u32) -> Vec<T> {
        let to = to.min(self.len());
        (from..to)
            .filter_map(|i| sys::storage_read(&self.item_key(i)).map(decode))
            .collect()
    }
}

fn joined(prefix: &[u8], tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 1 + rest.len());
    k.extend_from_slice(prefix);
    k.push(tag);
    k.extend_from_slice(rest);
    k
}

/// A map that can list its entries, in insertion order until a removal (a removal moves the last
/// entry into the removed one's place), and page through them: near-sdk's `UnorderedMap`,
/// CosmWasm's `Map::range`.
///
/// Key layout: the number of entries (SCALE `u32`) under `prefix || "n"`; the `i`-th key (SCALE) under
/// `prefix || "k" || i` (big-endian `u32`); the entry of key `k`, SCALE `(value, i)`, under
/// `prefix || "v" || scale(k)`.
///
/// Storage operations (each charged by the runtime per key and value byte): `get` and `contains`
/// 1 read; `insert` of a new key 2 reads and 3 writes, of a present key 1 read and 1 write;
/// `remove` of a present key 3 reads, 2 writes and 2 removals (1 read if absent); `len` 1 read;
/// `range(from, to)` 1 + 2 x (to - from) reads. Page with `range` so that one call stays within
/// its gas.
///
/// ```
/// use tutti_sdk::prelude::*;
/// const SCORES: IterableMap<Address, u64> = IterableMap::new(b"s");
/// # tutti_sdk::testing::reset();
/// SCORES.insert(&Address([1; 32]), &10);
/// SCORES.insert(&Address([2; 32]), &20);
/// SCORES.insert(&Address([3; 32]), &30);
/// SCORES.remove(&Address([1; 32]));
/// assert_eq!(SCORES.len(), 2);
/// // The last entry took the removed one's place.
/// assert_eq!(SCORES.range(0, 10), vec![(Address([3; 32]), 30), (Address([2; 32]), 20)]);
/// let total: u64 = SCORES.range(0, SCORES.len()).iter().map(|(_, s)| s).sum();
/// assert_eq!(total, 50);
/// ```
pub struct IterableMap<K, V> {
    prefix: &'static [u8],
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K: Encode + Decode, V: Encode + Decode> IterableMap<K, V> {
    /// A map under `prefix`.
    pub const fn new(prefix: &'static [u8]) -> Self {
        IterableMap {
            prefix,
            _t: PhantomData,
        }
    }

    fn len_key(&self) -> Vec<u8> {
        joined(self.prefix, b'n', &[])
    }

    fn index_key(&self, i: u32) -> Vec<u8> {
        joined(self.prefix, b'k', &i.to_be_bytes())
    }

    fn entry_key(&self, k: &K) -> Vec<u8> {
        joined(self.prefix, b'v', &k.encode())
    }

    fn entry(&self, k: &K) -> Option<(V, u32)> {
        sys::storage_read(&self.entry_key(k)).map(decode)
    }

    /// Number of entries.
    pub fn len(&self) -> u32 {
        sys::storage_read(&self.len_key()).map(decode).unwrap_or(0)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `k`.
    pub fn get(&self, k: &K) -> Option<V> {
        self.entry(k).map(|(v, _)| v)
    }

    /// Whether `k` is present.
    pub fn contains(&self, k: &K) -> bool {
        sys::storage_has(&self.entry_key(k))
    }

    /// Sets `k` to `v`; returns the previous value.
    pub fn insert(&self, k: &K, v: &V) -> Option<V> {
        let key = self.entry_key(k);
        match sys::storage_read(&key).map(decode::<(V, u32)>) {
            Some((old, i)) => {
                sys::storage_write(&key, &(v, i).encode());
                Some(old)
            }
            None => {
                let n = self.len();
                if n == u32::MAX {
                    env::panic_str("the map is full");
                }
                sys::storage_write(&self.index_key(n), &k.encode());
                sys::storage_write(&key, &(v, n).encode());
                sys::storage_write(&self.len_key(), &(n + 1).encode());
                None
            }
        }
    }

    /// Removes `k`; returns its value. The last entry moves into its place in the order.
    pub fn remove(&self, k: &K) -> Option<V> {
        let key = self.entry_key(k);
        let (v, i) = sys::storage_read(&key).map(decode::<(V, u32)>)?;
        let n = self.len();
        let last = n - 1;
        if i != last {
            let moved_bytes = sys::storage_read(&self.index_key(last))
                .unwrap_or_else(|| env::panic_str("an iterable map's index is missing an entry"));
            let moved: K = decode(moved_bytes.clone());
            let (mv, _) = self
                .entry(&moved)
                .unwrap_or_else(|| env::panic_str("an iterable map's index names a missing entry"));
            sys::storage_write(&self.index_key(i), &moved_bytes);
            sys::storage_write(&self.entry_key(&moved), &(mv, i).encode());
        }
        sys::storage_remove(&self.index_key(last));
        sys::storage_remove(&key);
        sys::storage_write(&self.len_key(), &last.encode());
        Some(v)
    }

    /// The keys at positions `from..to` (clamped to the length), in order.
    pub fn keys(&self, from: u32, to: u32) -> Vec<K> {
        let to = to.min(self.len());
        (from..to)
            .filter_map(|i| sys::storage_read(&self.index_key(i)).map(decode))
            .collect()
    }

    /// The entries at positions `from..to` (clamped to the length), in order.
    pub fn range(&self, from: u32, to: u32) -> Vec<(K, V)> {
        self.keys(from, to)
            .into_iter()
            .filter_map(|k| self.get(&k).map(|v| (k, v)))
            .collect()
    }
}

/// A set that can list its members ([`IterableMap`] with no values; the same layout, order and
/// costs).
///
/// ```
/// use tutti_sdk::prelude::*;
/// const PLAYERS: IterableSet<Address> = IterableSet::new(b"p");
/// # tutti_sdk::testing::reset();
/// assert!(PLAYERS.insert(&Address([7; 32])));
/// assert!(!PLAYERS.insert(&Address([7; 32])), "already a member");
/// assert!(PLAYERS.contains(&Address([7; 32])));
/// assert_eq!(PLAYERS.members(0, 100), vec![Address([7; 32])]);
/// assert!(PLAYERS.remove(&Address([7; 32])));
/// assert!(PLAYERS.is_empty());
/// ```
pub struct IterableSet<T> {
    map: IterableMap<T, ()>,
}

impl<T: Encode + Decode> IterableSet<T> {
    /// A set under `prefix`.
    pub const fn new(prefix: &'static [u8]) -> Self {
        IterableSet {
            map: IterableMap::new(prefix),
        }
    }

    /// Adds `t`; false if it was a member already.
    pub fn insert(&self, t: &T) -> bool {
        if self.map.contains(t) {
            return false;
        }
        self.map.insert(t, &());
        true
    }

    /// Removes `t`; false if it was not a member.
    pub fn remove(&self, t: &T) -> bool {
        self.map.remove(t).is_some()
    }

    /// Whether `t` is a member.
    pub fn contains(&self, t: &T) -> bool {
        self.map.contains(t)
    }

    /// Number of members.
    pub fn len(&self) -> u32 {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The members at positions `from..to` (clamped to the length), in order.
    pub fn members(&self, from: u32, to: u32) -> Vec<T> {
        self.map.keys(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use tutti_primitives::Address;

    #[test]
    fn item_map_vector_behave() {
        testing::reset();
        const I: Item<u32> = Item::new(b"i");
        const M: Map<Address, u64> = Map::new(b"m");
        const V: Vector<u8> = Vector::new(b"v");
        assert_eq!(I.get(), None);
        assert!(!I.exists());
        I.set(&3);
        assert_eq!(I.get_or_default(), 3);
        I.remove();
        assert_eq!(I.get(), None);

        M.insert(&Address([1; 32]), &9);
        assert!(M.contains(&Address([1; 32])));
        assert!(!M.contains(&Address([2; 32])));
        assert!(M.remove(&Address([1; 32])));
        assert_eq!(M.get(&Address([1; 32])), None);

        assert!(V.is_empty());
        for x in 0..5u8 {
            assert_eq!(V.push(&x), u32::from(x));
        }
        V.set(1, &42);
        assert_eq!(V.range(0, 10), alloc::vec![0, 42, 2, 3, 4]);
        assert_eq!(V.pop(), Some(4));
        assert_eq!(V.len(), 4);
        assert_eq!(V.get(4), None);
        assert_eq!(testing::expect_panic(|| V.set(9, &1)), "vector index out of range");
    }

    /// Against a model (a Vec of pairs) under random inserts, updates and removals: same
    /// entries, same order rule, and no storage key left behind once empty.
    #[test]
    fn iterable_map_matches_a_model_and_cleans_up() {
        testing::reset();
        const M: IterableMap<u32, u64> = IterableMap::new(b"m");
        let mut model: alloc::vec::Vec<(u32, u64)> = alloc::vec::Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for step in 0..2_000u64 {
            let k = (next() % 40) as u32;
            if next() % 3 == 0 {
                let got = M.remove(&k);
                let pos = model.iter().position(|(mk, _)| *mk == k);
                assert_eq!(got, pos.map(|p| model[p].1), "step {step}");
                if let Some(p) = pos {
                    let last = model.pop().unwrap();
                    if p < model.len() {
                        model[p] = last;
                    }
                }
            } else {
                let v = next();
                let old = M.insert(&k, &v);
                match model.iter_mut().find(|(mk, _)| *mk == k) {
                    Some(e) => {
                        assert_eq!(old, Some(e.1));
                        e.1 = v;
                    }
                    None => {
                        assert_eq!(old, None);
                        model.push((k, v));
                    }
                }
            }
            assert_eq!(M.len() as usize, model.len());
            if step % 97 == 0 {
                assert_eq!(M.range(0, u32::MAX), model, "step {step}");
            }
        }
        for (k, v) in &model {
            assert_eq!(M.get(k), Some(*v));
            assert!(M.contains(k));
        }
        assert_eq!(M.range(1, 3), model[1..3.min(model.len())].to_vec());
        for (k, _) in model.clone() {
            M.remove(&k);
        }
        assert!(M.is_empty());
        assert!(M.range(0, 10).is_empty());
        let left = testing::with(|e| e.storage.keys().filter(|k| k.starts_with(b"m")).count());
        // Only the length (0) stays.
        assert_eq!(left, 1);
    }

    #[test]
    fn iterable_set_members() {
        testing::reset();
        const S: IterableSet<u8> = IterableSet::new(b"s");
        for i in 0..5u8 {
            assert!(S.insert(&i));
        }
        assert!(!S.insert(&3));
        assert!(S.remove(&1) && !S.remove(&1));
        assert_eq!(S.members(0, 10), alloc::vec![0, 4, 2, 3]);
        assert_eq!(S.len(), 4);
    }

    #[test]
    fn a_value_of_the_wrong_type_fails_cleanly() {
        testing::reset();
        testing::with(|e| e.storage.insert(b"x".to_vec(), alloc::vec![1]));
        const X: Item<u64> = Item::new(b"x");
        assert_eq!(
            testing::expect_panic(|| X.get()),
            "a stored value does not decode to its declared type"
        );
    }
}
