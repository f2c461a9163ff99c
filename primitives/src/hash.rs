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
    /// The randomness of a genesis block (hash of its state root).
    pub const GENESIS_RANDOMNESS: &str = "tutti/genesis-randomness/v1";
    /// Merkle tree leaves ([`super::merkle_root`]).
    pub const MERKLE_LEAF: &str = "tutti/merkle/leaf/v1";
    /// Merkle tree inner nodes.
    pub const MERKLE_NODE: &str = "tutti/merkle/node/v1";
    /// A block's receipts for one destination shard (a leaf of its outgoing-receipts root).
    pub const OUTGOING_RECEIPTS: &str = "tutti/receipts/outgoing/v1";
    /// The committee shuffle's hash (swap-or-not rounds, `tutti_chain::election`).
    pub const SHUFFLE: &str = "tutti/shuffle/v1";
    /// The operator account of a genesis validator that names none (no key controls it).
    pub const GENESIS_OPERATOR: &str = "tutti/address/genesis-operator/v1";
    /// An epoch's election seed, from the randomness of the beacon block that elects it.
    pub const EPOCH_SEED: &str = "tutti/epoch-seed/v1";
    /// The identity of one double-signing offense (punished once).
    pub const DOUBLE_SIGN: &str = "tutti/double-sign/v1";
    /// A crosslink (a leaf of a beacon header's crosslinks root).
    pub const CROSSLINK: &str = "tutti/crosslink/v1";
    /// Every tag.
    pub const ALL: &[&str] = &[
        TX,
        HEADER,
        RECEIPT,
        ACCOUNT_ADDRESS,
        CONTRACT_ADDRESS,
        DATA_ID,
        CODE,
        GENESIS_RANDOMNESS,
        MERKLE_LEAF,
        MERKLE_NODE,
        OUTGOING_RECEIPTS,
        SHUFFLE,
        GENESIS_OPERATOR,
        EPOCH_SEED,
        DOUBLE_SIGN,
        CROSSLINK,
    ];
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

/// Root of a binary Merkle tree over `leaves` (transaction hashes, receipt hashes...).
///
/// Leaves and inner nodes hash under different tags, so a leaf can never pass for a node. An odd
/// node at the end of a level moves up unchanged. The empty list has root [`Hash::ZERO`].
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::ZERO;
    }
    let mut level: alloc::vec::Vec<Hash> = leaves.iter().map(|l| tagged_hash(tags::MERKLE_LEAF, &l.0)).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => {
                    let mut bytes = [0u8; 64];
                    bytes[..32].copy_from_slice(&a.0);
                    bytes[32..].copy_from_slice(&b.0);
                    tagged_hash(tags::MERKLE_NODE, &bytes)
                }
                [a] => *a,
                _ => unreachable!("chunks(2) yields one or two"),
            })
            .collect();
    }
    level[0]
}

fn merkle_node(a: &Hash, b: &Hash) -> Hash {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&a.0);
    bytes[32..].copy_from_slice(&b.0);
    tagged_hash(tags::MERKLE_NODE, &bytes)
}

/// The siblings on the way from leaf `index` to the root of [`merkle_root`]`(leaves)`, bottom up
/// (a level where the node is the odd one out has none); `None` if `index` is out of range.
pub fn merkle_proof(leaves: &[Hash], index: usize) -> Option<alloc::vec::Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut level: alloc::vec::Vec<Hash> = leaves.iter().map(|l| tagged_hash(tags::MERKLE_LEAF, &l.0)).collect();
    let mut i = index;
    let mut proof = alloc::vec::Vec::new();
    while level.len() > 1 {
        let sibling = i ^ 1;
        if sibling < level.len() {
            proof.push(level[sibling]);
        }
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => merkle_node(a, b),
                [a] => *a,
                _ => unreachable!("chunks(2) yields one or two"),
            })
            .collect();
        i /= 2;
    }
    Some(proof)
}

/// Whether `proof` shows `leaf` at `index` of a tree of `count` leaves with root `root`. The
/// shape follows from (`index`, `count`), so every sibling must be used and none may be missing.
/// `count` must come from the verifier (the number of shards), never from the prover: an odd last
/// node moves up unchanged, so a tree of 3 leaves and one of 4 can share a path.
pub fn merkle_verify(root: &Hash, leaf: &Hash, index: usize, count: usize, proof: &[Hash]) -> bool {
    if index >= count {
        return false;
    }
    let mut node = tagged_hash(tags::MERKLE_LEAF, &leaf.0);
    let (mut i, mut n) = (index, count);
    let mut siblings = proof.iter();
    while n > 1 {
        if i % 2 == 1 {
            let Some(s) = siblings.next() else { return false };
            node = merkle_node(s, &node);
        } else if i + 1 < n {
            let Some(s) = siblings.next() else { return false };
            node = merkle_node(&node, s);
        }
        i /= 2;
        n = n.div_ceil(2);
    }
    siblings.next().is_none() && node == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merkle_proofs_verify_for_every_leaf_and_nothing_else() {
        for n in 1..=9u8 {
            let leaves: alloc::vec::Vec<Hash> = (0..n).map(|i| Hash([i + 1; 32])).collect();
            let root = merkle_root(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                let proof = merkle_proof(&leaves, i).expect("in range");
                let n = leaves.len();
                assert!(merkle_verify(&root, leaf, i, n, &proof), "n {n} leaf {i}");
                assert!(!merkle_verify(&root, &Hash([99; 32]), i, n, &proof), "another leaf");
                assert!(
                    !merkle_verify(&root, leaf, (i + 1) % n, n, &proof) || n == 1,
                    "another index"
                );
                let mut longer = proof.clone();
                longer.push(Hash([7; 32]));
                assert!(!merkle_verify(&root, leaf, i, n, &longer), "an extra sibling");
                if let Some(first) = proof.first() {
                    let mut forged = proof.clone();
                    forged[0] = Hash([first.0[0] ^ 1; 32]);
                    assert!(!merkle_verify(&root, leaf, i, n, &forged), "a forged sibling");
                    assert!(!merkle_verify(&root, leaf, i, n, &proof[1..]), "a missing sibling");
                }
            }
            assert!(merkle_proof(&leaves, leaves.len()).is_none());
            assert!(!merkle_verify(&root, &leaves[0], leaves.len(), leaves.len(), &[]));
        }
    }

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

    #[test]
    fn merkle_root_shapes() {
        let h = |n: u8| Hash([n; 32]);
        assert_eq!(merkle_root(&[]), Hash::ZERO);
        let one = merkle_root(&[h(1)]);
        assert_eq!(one, tagged_hash(tags::MERKLE_LEAF, &[1; 32]));
        assert_ne!(one, h(1), "a single leaf is still hashed");
        let two = merkle_root(&[h(1), h(2)]);
        assert_ne!(two, merkle_root(&[h(2), h(1)]), "order matters");
        // Three leaves: the third moves up unchanged and pairs with the first pair's node.
        let mut pair = [0u8; 64];
        pair[..32].copy_from_slice(&two.0);
        pair[32..].copy_from_slice(&tagged_hash(tags::MERKLE_LEAF, &[3; 32]).0);
        assert_eq!(merkle_root(&[h(1), h(2), h(3)]), tagged_hash(tags::MERKLE_NODE, &pair));
        assert_ne!(merkle_root(&[h(1), h(2), h(3)]), merkle_root(&[h(1), h(2), h(3), h(3)]));
    }
}
