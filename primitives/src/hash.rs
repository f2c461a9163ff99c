//! 32-byte blake3 hashes and domain-tagged hashing.
//!
//! Rule: a structure's hash is `blake3(tag || scale(value))`, where `tag` is one of [`tags`].
//! Every tag ends in `/v1`, so no tag is a prefix of another and two structures can never hash
//! to the same preimage. Changing a tag is a breaking change.

use core::fmt;
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};

/// Domain tags, one per hashed or signed structure kind.
pub mod tags {
    /// Transactions (the hash is what the signer signs).
    pub const TX: &str = "tutti/tx/v1";
    /// Block headers.
    pub const HEADER: &str = "tutti/header/v1";
    /// Receipt ids.
    pub const RECEIPT: &str = "tutti/receipt/v1";
    /// Account addresses derived from an ed25519 public key.
    pub const ACCOUNT_ADDRESS: &str = "tutti/address/account/v1";
    /// Contract addresses derived from (deployer, nonce).
    pub const CONTRACT_ADDRESS: &str = "tutti/address/contract/v1";
    /// Data ids that link a promise's result to the callback waiting for it.
    pub const DATA_ID: &str = "tutti/data-id/v1";
    /// Code hashes of contract wasm.
    pub const CODE: &str = "tutti/code/v1";
    /// Every tag, for the uniqueness test.
    pub const ALL: &[&str] = &[TX, HEADER, RECEIPT, ACCOUNT_ADDRESS, CONTRACT_ADDRESS, DATA_ID, CODE];
}

/// A blake3 hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode, MaxEncodedLen)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash, used where there is no parent.
    pub const ZERO: Hash = Hash([0; 32]);

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// `blake3(tag || bytes)`.
pub fn tagged_hash(tag: &str, bytes: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(tag.as_bytes());
    h.update(bytes);
    Hash(*h.finalize().as_bytes())
}

/// `blake3(tag || scale(value))`, encoding straight into the hasher.
pub fn hash_encoded<T: Encode + ?Sized>(tag: &str, value: &T) -> Hash {
    struct Sink(blake3::Hasher);
    impl parity_scale_codec::Output for Sink {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut sink = Sink(blake3::Hasher::new());
    sink.0.update(tag.as_bytes());
    value.encode_to(&mut sink);
    Hash(*sink.0.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_tag_is_a_prefix_of_another() {
        for a in tags::ALL {
            for b in tags::ALL {
                if a != b {
                    assert!(!b.starts_with(a), "{a} is a prefix of {b}");
                }
            }
        }
    }

    #[test]
    fn hash_encoded_equals_tagged_hash_of_encoding() {
        let v = (7u32, alloc::vec![1u8, 2, 3]);
        assert_eq!(hash_encoded("t/v1", &v), tagged_hash("t/v1", &v.encode()));
        assert_ne!(hash_encoded("t/v1", &v), hash_encoded("u/v1", &v));
    }
}
