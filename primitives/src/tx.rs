//! Transactions and signed transactions.
//!
//! A signed transaction is a [`Transaction`] plus an ed25519 signature over its hash
//! `blake3("tutti/tx/v1" || scale(tx))`, checked under one rule ([`verify_ed25519`]) by every node,
//! one signature at a time or in batches, with the same answer either way.

use alloc::{string::String, vec::Vec};
use core::fmt;
use parity_scale_codec::{Decode, Encode};

use crate::{Address, Amount, ChainId, Gas, Hash, Nonce, StakeAction, hash::hash_encoded, tags};

/// An ed25519 public key (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The account address this key controls.
    pub fn address(&self) -> Address {
        Address::from_public_key(&self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

/// An ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Action {
    /// Move tokens to another account.
    #[codec(index = 0)]
    Transfer {
        /// Receiver.
        to: Address,
        /// Amount in the smallest unit.
        amount: Amount,
    },
    /// Deploy a contract at `Address::for_contract(signer, nonce)`, optionally calling an init method.
    #[codec(index = 1)]
    Deploy {
        /// The wasm module.
        code: Vec<u8>,
        /// Method called once after deployment, if any.
        init_method: Option<String>,
        /// SCALE-encoded arguments of the init method.
        args: Vec<u8>,
        /// Tokens moved into the new contract.
        value: Amount,
    },
    /// Call a contract method.
    #[codec(index = 2)]
    Call {
        /// The contract.
        contract: Address,
        /// Exported method name.
        method: String,
        /// SCALE-encoded arguments.
        args: Vec<u8>,
        /// Tokens attached to the call.
        value: Amount,
    },
    /// A staking action; valid only from an account that lives on the beacon chain (shard 0).
    #[codec(index = 3)]
    Stake(StakeAction),
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Transaction {
    /// The chain this transaction is valid on (replay protection across chains).
    pub chain_id: ChainId,
    /// The signer's ed25519 public key; the sender is its address.
    pub signer: PublicKey,
    /// The sender's next nonce.
    pub nonce: Nonce,
    /// Most gas the transaction may use.
    pub gas_limit: Gas,
    /// Price per unit of gas.
    pub gas_price: Amount,
    /// What it does.
    pub action: Action,
}

impl Transaction {
    /// The hash that identifies the transaction and that the signer signs.
    pub fn hash(&self) -> Hash {
        hash_encoded(tags::TX, self)
    }

    /// The sender's address.
    pub fn sender(&self) -> Address {
        self.signer.address()
    }

    /// Signs the transaction with an ed25519 key. The key must match `self.signer`.
    #[cfg(feature = "crypto")]
    pub fn sign(self, key: &ed25519_dalek::SigningKey) -> SignedTransaction {
        use ed25519_dalek::Signer;
        let sig = key.sign(self.hash().as_bytes());
        SignedTransaction {
            tx: self,
            signature: Signature(sig.to_bytes()),
        }
    }
}

/// A transaction with its signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedTransaction {
    /// The transaction.
    pub tx: Transaction,
    /// ed25519 signature over `tx.hash()`.
    pub signature: Signature,
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// The public key is not a valid (or is a weak, small-order) ed25519 point.
    BadPublicKey,
    /// The signature does not verify under strict rules.
    BadSignature,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::BadPublicKey => write!(f, "the signer public key is not a valid ed25519 key"),
            SignatureError::BadSignature => write!(f, "the signature does not match the transaction and signer"),
        }
    }
}

impl core::error::Error for SignatureError {}

/// Encodings of the points of small order (the eight torsion points), with either sign bit:
/// the only encodings whose point has `x = 0` or lies in the torsion subgroup.
const SMALL_ORDER: [[u8; 32]; 10] = {
    const fn with_last(first: [u8; 31], last: u8) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut i = 0;
        while i < 31 {
            out[i] = first[i];
            i += 1;
        }
        out[31] = last;
        out
    }
    let mut one = [0u8; 31];
    one[0] = 1;
    let minus_one = {
        let mut b = [0xffu8; 31];
        b[0] = 0xec;
        b
    };
    let t8a: [u8; 31] = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf,
        0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc,
    ];
    let t8b: [u8; 31] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20,
        0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03,
    ];
    [
        with_last(one, 0x00),
        with_last(one, 0x80),
        with_last(minus_one, 0x7f),
        with_last(minus_one, 0xff),
        with_last([0; 31], 0x00),
        with_last([0; 31], 0x80),
        with_last(t8a, 0x05),
        with_last(t8a, 0x85),
        with_last(t8b, 0x7a),
        with_last(t8b, 0xfa),
    ]
};

/// Whether `b` is a canonical encoding (its `y` below the field prime `2^255 - 19`) of a point
/// outside the small-order subgroup. (Whether it is on the curve at all is left to
/// verification, which decompresses it.)
fn acceptable_point(b: &[u8; 32]) -> bool {
    let y_not_canonical = b[31] & 0x7f == 0x7f && b[1..31].iter().all(|x| *x == 0xff) && b[0] >= 0xed;
    !y_not_canonical && !SMALL_ORDER.contains(b)
}

/// The encoding checks of the signature rule, which cost no curve arithmetic: the key `pk` and
/// the signature's `R` must be canonical encodings of points not of small order.
pub fn check_signature_encodings(pk: &[u8; 32], sig: &[u8; 64]) -> Result<(), SignatureError> {
    if !acceptable_point(pk) {
        return Err(SignatureError::BadPublicKey);
    }
    let r: &[u8; 32] = sig[..32].try_into().expect("64 bytes");
    if !acceptable_point(r) {
        return Err(SignatureError::BadSignature);
    }
    Ok(())
}

/// Tutti's ed25519 rule, for transactions and for the contract host function alike: `sig =
/// (R, S)` over `msg` by `pk = A` is valid when
/// - `A` and `R` are canonical encodings of curve points not of small order,
/// - `S` is canonical (below the group order), and
/// - the cofactored equation `[8][S]B = [8]R + [8][k]A` holds, `k = SHA-512(R || A || msg)`.
///
/// Every signature made by a standard ed25519 signer passes. The cofactored equation is the
/// one batch verification checks, so a node checking signatures one by one and a node
/// checking them in batches always agree (the reason Zcash's ZIP 215 chose it; the
/// `ed25519-zebra` crate implements it). The encoding checks on top of ZIP 215 keep the
/// strictness Tutti had: no small-order keys or nonces, no second encoding of a point.
#[cfg(feature = "crypto")]
pub fn verify_ed25519(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> Result<(), SignatureError> {
    check_signature_encodings(pk, sig)?;
    let vk = ed25519_zebra::VerificationKey::try_from(*pk).map_err(|_| SignatureError::BadPublicKey)?;
    vk.verify(&ed25519_zebra::Signature::from_bytes(sig), msg)
        .map_err(|_| SignatureError::BadSignature)
}

impl SignedTransaction {
    /// The transaction hash.
    pub fn hash(&self) -> Hash {
        self.tx.hash()
    }

    /// Checks the signature under [`verify_ed25519`]'s rule.
    #[cfg(feature = "crypto")]
    pub fn verify(&self) -> Result<(), SignatureError> {
        verify_ed25519(&self.tx.signer.0, self.hash().as_bytes(), &self.signature.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// The fixed transaction whose encoding and hash are pinned below.
    pub(crate) fn vector_tx() -> Transaction {
        Transaction {
            chain_id: 7,
            signer: PublicKey([0x11; 32]),
            nonce: 3,
            gas_limit: 1_000_000,
            gas_price: 1_000,
            action: Action::Call {
                contract: Address([0x22; 32]),
                method: "transfer".into(),
                args: vec![1, 2, 3],
                value: 5,
            },
        }
    }

    #[test]
    fn transaction_encoding_and_hash_are_pinned() {
        let tx = vector_tx();
        let enc = tx.encode();
        assert_eq!(
            hex::encode(&enc),
            concat!(
                "0700000000000000",
                "1111111111111111111111111111111111111111111111111111111111111111",
                "0300000000000000",
                "40420f0000000000",
                "e8030000000000000000000000000000",
                "02",
                "2222222222222222222222222222222222222222222222222222222222222222",
                "207472616e73666572",
                "0c010203",
                "05000000000000000000000000000000"
            )
        );
        let mut h = blake3::Hasher::new();
        h.update(b"tutti/tx/v1");
        h.update(&enc);
        assert_eq!(tx.hash().0, *h.finalize().as_bytes());
        assert_eq!(
            hex::encode(tx.hash().0),
            "ba07730c465e6a428a6b1ff7c476aa9ad21610285382aa41b1fd69b58ea4db42"
        );
        assert_eq!(Transaction::decode(&mut &enc[..]).unwrap(), tx);
    }

    #[test]
    fn truncated_or_garbage_bytes_do_not_decode() {
        let enc = vector_tx().encode();
        for cut in 0..enc.len() {
            assert!(
                Transaction::decode(&mut &enc[..cut]).is_err(),
                "decoded a {cut}-byte prefix"
            );
        }
        let mut bad = enc.clone();
        bad[8 + 32 + 8 + 8 + 16] = 9; // unknown action index
        assert!(Transaction::decode(&mut &bad[..]).is_err());
    }

    #[test]
    fn the_small_order_table_is_the_eight_torsion_points_with_both_signs() {
        let mut want: Vec<[u8; 32]> = Vec::new();
        for t in curve25519_dalek::constants::EIGHT_TORSION.iter() {
            let e = t.compress().to_bytes();
            let mut flipped = e;
            flipped[31] ^= 0x80;
            want.extend([e, flipped]);
        }
        want.sort();
        want.dedup();
        let mut have = SMALL_ORDER.to_vec();
        have.sort();
        assert_eq!(have, want);
        for e in &SMALL_ORDER {
            assert!(!acceptable_point(e));
        }
        // y = p (that is, 0 written a second way) and y = p + 1 are not canonical.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!acceptable_point(&p));
        p[0] = 0xee;
        assert!(!acceptable_point(&p));
        let base = curve25519_dalek::constants::ED25519_BASEPOINT_POINT
            .compress()
            .to_bytes();
        assert!(acceptable_point(&base));
    }

    /// Signs `msg` by hand with secret scalar `a`, nonce scalar `r` and `extra` added to the
    /// nonce point R, to build signatures a standard signer never makes.
    #[cfg(feature = "crypto")]
    fn forge(
        a: curve25519_dalek::Scalar,
        r: curve25519_dalek::Scalar,
        extra: curve25519_dalek::EdwardsPoint,
        msg: &[u8],
    ) -> ([u8; 32], [u8; 64]) {
        use curve25519_dalek::{Scalar, constants::ED25519_BASEPOINT_POINT as B};
        use sha2::Digest;
        let pk = (B * a).compress().to_bytes();
        let big_r = (B * r + extra).compress().to_bytes();
        let k = Scalar::from_bytes_mod_order_wide(
            &sha2::Sha512::new()
                .chain_update(big_r)
                .chain_update(pk)
                .chain_update(msg)
                .finalize()
                .into(),
        );
        let s = r + k * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(s.as_bytes());
        (pk, sig)
    }

    #[cfg(feature = "crypto")]
    #[test]
    fn hostile_signatures_are_refused() {
        use curve25519_dalek::traits::Identity;
        use curve25519_dalek::{EdwardsPoint, Scalar, constants::EIGHT_TORSION};
        let a = Scalar::from_bytes_mod_order([7; 32]);
        let r = Scalar::from_bytes_mod_order([8; 32]);
        let msg = b"tutti";
        // The forge helper makes ordinary signatures when nothing is added.
        let (pk, sig) = forge(a, r, EdwardsPoint::identity(), msg);
        assert_eq!(verify_ed25519(&pk, msg, &sig), Ok(()));
        assert_eq!(verify_ed25519(&pk, b"other", &sig), Err(SignatureError::BadSignature));
        // S + l: the same scalar, not canonical.
        let mut big_s = sig;
        let mut l = [0u8; 32];
        hex::decode_to_slice(
            "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010",
            &mut l,
        )
        .unwrap();
        assert_eq!(Scalar::from_bytes_mod_order(l), Scalar::ZERO, "l is the group order");
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(big_s[32 + i]) + u16::from(l[i]) + carry;
            big_s[32 + i] = v as u8;
            carry = v >> 8;
        }
        assert_eq!(verify_ed25519(&pk, msg, &big_s), Err(SignatureError::BadSignature));
        // R of small order with S = k a satisfies the cofactored equation; the encoding rule
        // refuses it.
        let (pk2, sig2) = forge(a, Scalar::ZERO, EIGHT_TORSION[1], msg);
        assert_eq!(verify_ed25519(&pk2, msg, &sig2), Err(SignatureError::BadSignature));
        // A small-order key with the trivial signature (R = identity, S = 0) satisfies any
        // equation; refused as a key.
        let mut ident = [0u8; 32];
        ident[0] = 1;
        let mut triv = [0u8; 64];
        triv[0] = 1;
        assert_eq!(verify_ed25519(&ident, msg, &triv), Err(SignatureError::BadPublicKey));
        // A nonce with a torsion component: the signer's own doing, accepted by the cofactored
        // equation (a cofactorless check would refuse it). Either way, nobody but the key's
        // owner can make it, and batches agree with single checks on it.
        let (pk3, sig3) = forge(a, r, EIGHT_TORSION[1], msg);
        assert_eq!(verify_ed25519(&pk3, msg, &sig3), Ok(()));
    }

    #[cfg(feature = "crypto")]
    #[test]
    fn sign_and_verify() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let mut tx = vector_tx();
        tx.signer = PublicKey(key.verifying_key().to_bytes());
        let stx = tx.clone().sign(&key);
        assert_eq!(stx.verify(), Ok(()));
        let mut tampered = stx.clone();
        tampered.tx.nonce += 1;
        assert_eq!(tampered.verify(), Err(SignatureError::BadSignature));
        let mut other_signer = stx.clone();
        other_signer.tx.signer = PublicKey([0; 32]);
        assert!(other_signer.verify().is_err());
    }
}
