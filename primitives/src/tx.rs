//! Transactions and signed transactions.
//!
//! A signed transaction is a [`Transaction`] plus an ed25519 signature over its hash
//! `blake3("tutti/tx/v1" || scale(tx))`. Verification uses `verify_strict` semantics (no small-order
//! keys, canonical `s`), so every node agrees on which signatures are valid.

use alloc::{string::String, vec::Vec};
use core::fmt;
use parity_scale_codec::{Decode, Encode};

use crate::{Address, Amount, ChainId, Gas, Hash, Nonce, hash::hash_encoded, tags};

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

/// Strict ed25519 verification of `sig` over `msg` by `pk`, shared by transactions and the
/// contract host function so both accept exactly the same signatures.
#[cfg(feature = "crypto")]
pub fn verify_ed25519_strict(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> Result<(), SignatureError> {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(pk).map_err(|_| SignatureError::BadPublicKey)?;
    if vk.is_weak() {
        return Err(SignatureError::BadPublicKey);
    }
    let sig = ed25519_dalek::Signature::from_bytes(sig);
    vk.verify_strict(msg, &sig).map_err(|_| SignatureError::BadSignature)
}

impl SignedTransaction {
    /// The transaction hash.
    pub fn hash(&self) -> Hash {
        self.tx.hash()
    }

    /// Checks the signature with strict ed25519 rules.
    #[cfg(feature = "crypto")]
    pub fn verify(&self) -> Result<(), SignatureError> {
        verify_ed25519_strict(&self.tx.signer.0, self.hash().as_bytes(), &self.signature.0)
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

    #[cfg(feature = "crypto")]
    #[test]
    fn sign_and_verify_strict() {
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
        // The identity point is a weak key and is refused even with a "valid" signature.
        let mut ident = [0u8; 32];
        ident[0] = 1;
        assert_eq!(
            verify_ed25519_strict(&ident, b"m", &[0; 64]),
            Err(SignatureError::BadPublicKey)
        );
    }
}
