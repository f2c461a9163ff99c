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

/// A growable array; its length is under `prefix || "len"` and item `i` under `prefix || i (u32 BE)`.
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
