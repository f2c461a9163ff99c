//! BLS signatures on BLS12-381: public keys in G1 (48 bytes), signatures in G2 (96 bytes),
//! hash-to-curve with the standard proof-of-possession ciphersuite
//! `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_` (the one Ethereum's consensus layer uses; the tests
//! check its published vectors).
//!
//! Rules:
//! - Every signed message kind has its own tag, prefixed to the message ([`tags`]).
//! - A committee key is accepted only with a proof of possession (a signature over the key's own
//!   bytes with the POP ciphersuite), which defeats rogue-key attacks on aggregates.
//! - A certificate over one message is checked with one aggregate check: the public keys of the
//!   signers are summed and two pairings are compared.
//! - Decoding refuses points off the curve, outside the prime-order subgroup, and the identity
//!   key (the identity signature decodes, as the standard says, and verifies under no key).
//! - A key that is the identity never verifies, even when it is an aggregate of valid keys
//!   (`pk + -pk`): otherwise the identity signature would pass for it over any message.
//! - Block randomness is a VRF: the proposer signs the parent's randomness; BLS signatures are
//!   unique, so the output `blake3(signature)` is fixed once the key and input are.

use bls12_381::{
    G1Affine, G1Projective, G2Affine, G2Prepared, G2Projective, Gt, Scalar,
    hash_to_curve::{ExpandMsgXmd, HashToCurve},
    multi_miller_loop,
};
use tutti_primitives::Hash;

/// Domain separation tag of signatures.
pub const SIG_DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
/// Domain separation tag of proofs of possession.
pub const POP_DST: &[u8] = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// Message tags, one per signed message kind. Changing one is a breaking change.
pub mod tags {
    /// A block header, signed by its proposer.
    pub const HEADER: &[u8] = b"tutti/bls/header/v1";
    /// The per-block randomness (VRF input: the parent's randomness).
    pub const RANDOMNESS: &[u8] = b"tutti/bls/randomness/v1";
}

/// Why BLS bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlsError {
    /// Not a canonical scalar in `[1, r)`.
    #[error("secret key is not a scalar in [1, r)")]
    BadSecretKey,
    /// Not a valid compressed G1 point of the subgroup, or the identity.
    #[error("public key is not a valid G1 point (or is the identity)")]
    BadPublicKey,
    /// Not a valid compressed G2 point of the subgroup.
    #[error("signature is not a valid G2 point")]
    BadSignature,
    /// Nothing to aggregate.
    #[error("cannot aggregate an empty set")]
    Empty,
}

/// A secret key.
#[derive(Clone)]
pub struct SecretKey(Scalar);

/// A public key (G1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(G1Affine);

/// A signature (G2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature(G2Affine);

fn tagged(tag: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(tag.len() + msg.len());
    m.extend_from_slice(tag);
    m.extend_from_slice(msg);
    m
}

fn hash_to_g2(msg: &[u8], dst: &[u8]) -> G2Affine {
    <G2Projective as HashToCurve<ExpandMsgXmd<sha2::Sha256>>>::hash_to_curve([msg], dst).into()
}

impl SecretKey {
    /// From 32 big-endian bytes (the usual encoding); refuses 0 and values `>= r`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, BlsError> {
        let mut le = *bytes;
        le.reverse();
        let s = Option::<Scalar>::from(Scalar::from_bytes(&le)).ok_or(BlsError::BadSecretKey)?;
        if s == Scalar::zero() {
            return Err(BlsError::BadSecretKey);
        }
        Ok(SecretKey(s))
    }

    /// The 32 big-endian bytes [`SecretKey::from_bytes`] reads.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut b = self.0.to_bytes();
        b.reverse();
        b
    }

    /// A key derived from a 32-byte seed (dev keys, tests): `blake3` XOF to 64 bytes, reduced mod r.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mut wide = [0u8; 64];
        let mut h = blake3::Hasher::new_derive_key("tutti/bls/keygen/v1");
        h.update(seed);
        h.finalize_xof().fill(&mut wide);
        let s = Scalar::from_bytes_wide(&wide);
        // The chance of zero is 2^-255; map it to one rather than fail.
        SecretKey(if s == Scalar::zero() { Scalar::one() } else { s })
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey((G1Projective::generator() * self.0).into())
    }

    /// Signs `tag || msg`.
    pub fn sign(&self, tag: &[u8], msg: &[u8]) -> Signature {
        self.sign_raw(&tagged(tag, msg))
    }

    /// Signs exactly `msg` (no tag): for interoperability tests.
    pub fn sign_raw(&self, msg: &[u8]) -> Signature {
        Signature((G2Projective::from(hash_to_g2(msg, SIG_DST)) * self.0).into())
    }

    /// The proof of possession of this key.
    pub fn prove_possession(&self) -> Signature {
        let pk = self.public_key().to_bytes();
        Signature((G2Projective::from(hash_to_g2(&pk, POP_DST)) * self.0).into())
    }
}

fn pairing_check(pk: &G1Affine, h: &G2Affine, sig: &G2Affine) -> bool {
    // The identity key never verifies (the draft's KeyValidate in CoreVerify). Decoding already
    // refuses it, but a sum of valid keys can be it (pk + -pk, whose owner proves possession of
    // both), and e(O, H(m)) = 1 = e(g1, O) would accept the identity signature over any message.
    if bool::from(pk.is_identity()) {
        return false;
    }
    // e(pk, H(m)) == e(g1, sig)  <=>  e(pk, H(m)) * e(-g1, sig) == 1
    let neg_g1 = -G1Affine::generator();
    let hp = G2Prepared::from(*h);
    let sp = G2Prepared::from(*sig);
    multi_miller_loop(&[(pk, &hp), (&neg_g1, &sp)]).final_exponentiation() == Gt::identity()
}

impl PublicKey {
    /// Compressed 48-byte encoding.
    pub fn to_bytes(&self) -> [u8; 48] {
        self.0.to_compressed()
    }

    /// Decodes, refusing invalid points, points outside the subgroup and the identity.
    pub fn from_bytes(bytes: &[u8; 48]) -> Result<Self, BlsError> {
        let p = Option::<G1Affine>::from(G1Affine::from_compressed(bytes)).ok_or(BlsError::BadPublicKey)?;
        if bool::from(p.is_identity()) {
            return Err(BlsError::BadPublicKey);
        }
        Ok(PublicKey(p))
    }

    /// Checks a signature over `tag || msg`.
    pub fn verify(&self, tag: &[u8], msg: &[u8], sig: &Signature) -> bool {
        self.verify_raw(&tagged(tag, msg), sig)
    }

    /// Checks a signature over exactly `msg`.
    pub fn verify_raw(&self, msg: &[u8], sig: &Signature) -> bool {
        pairing_check(&self.0, &hash_to_g2(msg, SIG_DST), &sig.0)
    }

    /// Checks this key's proof of possession.
    pub fn verify_possession(&self, proof: &Signature) -> bool {
        pairing_check(&self.0, &hash_to_g2(&self.to_bytes(), POP_DST), &proof.0)
    }

    /// The sum of public keys (only meaningful for keys whose possession was proven).
    pub fn aggregate(keys: &[PublicKey]) -> Result<PublicKey, BlsError> {
        aggregate_keys(keys.iter())
    }
}

impl Signature {
    /// Compressed 96-byte encoding.
    pub fn to_bytes(&self) -> [u8; 96] {
        self.0.to_compressed()
    }

    /// Decodes, refusing invalid points and points outside the subgroup.
    pub fn from_bytes(bytes: &[u8; 96]) -> Result<Self, BlsError> {
        Option::<G2Affine>::from(G2Affine::from_compressed(bytes))
            .map(Signature)
            .ok_or(BlsError::BadSignature)
    }

    /// The sum of signatures.
    pub fn aggregate(sigs: &[Signature]) -> Result<Signature, BlsError> {
        if sigs.is_empty() {
            return Err(BlsError::Empty);
        }
        let sum = sigs
            .iter()
            .fold(G2Projective::identity(), |acc, s| acc + G2Projective::from(s.0));
        Ok(Signature(sum.into()))
    }
}

/// The sum of public keys (only meaningful for keys whose possession was proven), with mixed
/// (projective + affine) additions: the bulk of a large certificate's check. The sum may be the
/// identity (keys that cancel out); such a key verifies nothing.
pub fn aggregate_keys<'a>(keys: impl Iterator<Item = &'a PublicKey>) -> Result<PublicKey, BlsError> {
    let mut any = false;
    let mut sum = G1Projective::identity();
    for k in keys {
        sum += k.0;
        any = true;
    }
    if !any {
        return Err(BlsError::Empty);
    }
    Ok(PublicKey(sum.into()))
}

/// Checks an aggregate signature of several signers over the same `tag || msg` with one
/// aggregate check. Every key must have had its possession proven when it joined the committee.
pub fn verify_aggregate(keys: &[PublicKey], tag: &[u8], msg: &[u8], sig: &Signature) -> bool {
    match PublicKey::aggregate(keys) {
        Ok(agg) => agg.verify(tag, msg, sig),
        Err(_) => false,
    }
}

/// The proposer's randomness for a block: a VRF proof (its signature over the parent's randomness)
/// and the output, `blake3(proof)`.
pub fn randomness(sk: &SecretKey, parent_randomness: &Hash) -> (Signature, Hash) {
    let proof = sk.sign(tags::RANDOMNESS, parent_randomness.as_bytes());
    let out = Hash(*blake3::hash(&proof.to_bytes()).as_bytes());
    (proof, out)
}

/// Checks a block's randomness: the proof is the proposer's signature over the parent's
/// randomness, and the output is its hash.
pub fn verify_randomness(pk: &PublicKey, parent_randomness: &Hash, proof: &Signature, out: &Hash) -> bool {
    *blake3::hash(&proof.to_bytes()).as_bytes() == out.0
        && pk.verify(tags::RANDOMNESS, parent_randomness.as_bytes(), proof)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    const SK1: &str = "263dbd792f5b1be47ed85f8938c0f29586af0d3ac7b977f21c278fe1462040e3";
    const SK2: &str = "47b8192d77bf871b62e87859d653922725724a5c031afeabc60bcef5ff665138";

    #[test]
    fn published_vectors_of_the_pop_ciphersuite() {
        let sk1 = SecretKey::from_bytes(&hex(SK1)).unwrap();
        assert_eq!(
            sk1.public_key().to_bytes(),
            hex::<48>(
                "a491d1b0ecd9bb917989f0e74f0dea0422eac4a873e5e2644f368dffb9a6e20fd6e10c1b77654d067c0618f6e5a7f79a"
            )
        );
        let sig = sk1.sign_raw(&[0u8; 32]);
        assert_eq!(
            sig.to_bytes(),
            hex::<96>(
                "b6ed936746e01f8ecf281f020953fbf1f01debd5657c4a383940b020b26507f6076334f91e2366c96e9ab279fb5158090352ea1c5b0c9274504f4f0e7053af24802e51e4568d164fe986834f41e55c8e850ce1f98458c0cfc9ab380b55285a55"
            )
        );
        assert!(sk1.public_key().verify_raw(&[0u8; 32], &sig));
        let sk2 = SecretKey::from_bytes(&hex(SK2)).unwrap();
        assert_eq!(
            sk2.sign_raw(&[0x56; 32]).to_bytes(),
            hex::<96>(
                "af1390c3c47acdb37131a51216da683c509fce0e954328a59f93aebda7e4ff974ba208d9a4a2a2389f892a9d418d618418dd7f7a6bc7aa0da999a9d3a5b815bc085e14fd001f6a1948768a3f4afefc8b8240dda329f984cb345c6363272ba4fe"
            )
        );
    }

    #[test]
    fn tags_separate_message_kinds() {
        let sk = SecretKey::from_seed(&[1; 32]);
        let pk = sk.public_key();
        let sig = sk.sign(tags::HEADER, b"block");
        assert!(pk.verify(tags::HEADER, b"block", &sig));
        assert!(
            !pk.verify(tags::RANDOMNESS, b"block", &sig),
            "a header signature is not a randomness proof"
        );
        assert!(!pk.verify(tags::HEADER, b"other", &sig));
        assert!(
            !SecretKey::from_seed(&[2; 32])
                .public_key()
                .verify(tags::HEADER, b"block", &sig)
        );
    }

    #[test]
    fn aggregates_verify_with_one_check_and_need_every_signer() {
        let keys: Vec<SecretKey> = (0..5u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        let pks: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        let sigs: Vec<Signature> = keys.iter().map(|k| k.sign(tags::HEADER, b"m")).collect();
        let agg = Signature::aggregate(&sigs).unwrap();
        assert!(verify_aggregate(&pks, tags::HEADER, b"m", &agg));
        assert!(
            !verify_aggregate(&pks[..4], tags::HEADER, b"m", &agg),
            "a missing signer breaks it"
        );
        let partial = Signature::aggregate(&sigs[..4]).unwrap();
        assert!(
            !verify_aggregate(&pks, tags::HEADER, b"m", &partial),
            "a claimed signer who did not sign"
        );
        assert!(!verify_aggregate(&[], tags::HEADER, b"m", &agg));
    }

    #[test]
    fn proof_of_possession_stops_rogue_keys() {
        let victim = SecretKey::from_seed(&[1; 32]);
        let attacker = SecretKey::from_seed(&[2; 32]);
        for k in [&victim, &attacker] {
            assert!(k.public_key().verify_possession(&k.prove_possession()));
        }
        // The rogue key pk_a - pk_v makes {victim, rogue} "sign" anything the attacker signs alone.
        let rogue =
            PublicKey((G1Projective::from(attacker.public_key().0) - G1Projective::from(victim.public_key().0)).into());
        let forged = attacker.sign(tags::HEADER, b"m");
        assert!(
            verify_aggregate(&[victim.public_key(), rogue], tags::HEADER, b"m", &forged),
            "the attack works without PoP"
        );
        // But nobody can prove possession of the rogue key: the attacker's best try fails.
        assert!(!rogue.verify_possession(&attacker.prove_possession()));
        assert!(!rogue.verify_possession(&victim.prove_possession()));
        // And a PoP is not a signature: it does not verify as a message signature, nor vice versa.
        assert!(
            !victim
                .public_key()
                .verify_raw(&victim.public_key().to_bytes(), &victim.prove_possession())
        );
    }

    #[test]
    fn an_aggregate_key_that_is_the_identity_never_verifies() {
        // Keys pk and -pk: both valid keys, both with valid proofs of possession (whoever knows sk
        // knows -sk), whose sum is the identity. e(O, H(m)) = 1 = e(g1, O), so without a check
        // the identity signature would "verify" for the pair over any message.
        let sk = SecretKey::from_seed(&[7; 32]);
        let neg_sk = SecretKey(-sk.0);
        let (pk, neg_pk) = (sk.public_key(), neg_sk.public_key());
        assert_eq!(
            PublicKey::from_bytes(&neg_pk.to_bytes()),
            Ok(neg_pk),
            "-pk is a valid key"
        );
        assert!(
            neg_pk.verify_possession(&neg_sk.prove_possession()),
            "and proves possession"
        );
        let mut infinity = [0u8; 96];
        infinity[0] = 0xc0; // compressed point at infinity
        let infinity = Signature::from_bytes(&infinity).unwrap();
        for msg in [&b"any message"[..], b"", b"another"] {
            assert!(!verify_aggregate(&[pk, neg_pk], tags::HEADER, msg, &infinity));
            assert!(!verify_aggregate(&[pk, neg_pk], b"", msg, &infinity));
            let agg = aggregate_keys([pk, neg_pk].iter()).unwrap();
            assert!(!agg.verify_raw(msg, &infinity), "summing then verifying");
            assert!(!agg.verify_possession(&infinity));
            // Real signatures do not help either: the aggregate of sk's and -sk's is the identity.
            let sigs = [sk.sign(tags::HEADER, msg), neg_sk.sign(tags::HEADER, msg)];
            assert_eq!(Signature::aggregate(&sigs).unwrap(), infinity);
            // The identity signature with a real (non-identity) key fails by the pairing.
            assert!(!pk.verify_raw(msg, &infinity));
            assert!(!verify_aggregate(&[pk], tags::HEADER, msg, &infinity));
        }
        // A set containing pk and -pk alongside others still verifies the others' aggregate: the
        // pair adds nothing (the sum is not the identity, so the check is the usual one).
        let other = SecretKey::from_seed(&[8; 32]);
        let sig = other.sign(tags::HEADER, b"m");
        assert!(verify_aggregate(
            &[pk, neg_pk, other.public_key()],
            tags::HEADER,
            b"m",
            &sig
        ));
    }

    #[test]
    fn bad_bytes_are_refused() {
        assert_eq!(SecretKey::from_bytes(&[0; 32]).err(), Some(BlsError::BadSecretKey));
        assert_eq!(SecretKey::from_bytes(&[0xff; 32]).err(), Some(BlsError::BadSecretKey));
        assert_eq!(PublicKey::from_bytes(&[0; 48]), Err(BlsError::BadPublicKey));
        let mut identity = [0u8; 48];
        identity[0] = 0xc0; // compressed point at infinity
        assert_eq!(PublicKey::from_bytes(&identity), Err(BlsError::BadPublicKey));
        assert_eq!(PublicKey::from_bytes(&[0xaa; 48]), Err(BlsError::BadPublicKey));
        assert_eq!(Signature::from_bytes(&[0xaa; 96]), Err(BlsError::BadSignature));
        let pk = SecretKey::from_seed(&[3; 32]).public_key();
        assert_eq!(PublicKey::from_bytes(&pk.to_bytes()), Ok(pk));
        assert_eq!(Signature::aggregate(&[]), Err(BlsError::Empty));
    }

    #[test]
    fn randomness_is_a_verifiable_deterministic_chain() {
        let sk = SecretKey::from_seed(&[4; 32]);
        let pk = sk.public_key();
        let parent = Hash([9; 32]);
        let (proof, out) = randomness(&sk, &parent);
        assert_eq!(
            randomness(&sk, &parent),
            (proof, out),
            "unique: same key and input, same output"
        );
        assert!(verify_randomness(&pk, &parent, &proof, &out));
        assert!(!verify_randomness(&pk, &Hash([8; 32]), &proof, &out));
        assert!(!verify_randomness(&pk, &parent, &proof, &Hash([0; 32])));
        let other = SecretKey::from_seed(&[5; 32]);
        let (p2, o2) = randomness(&other, &parent);
        assert_ne!(o2, out);
        assert!(!verify_randomness(&pk, &parent, &p2, &o2));
        // The next block chains on this output.
        let (_, next) = randomness(&sk, &out);
        assert_ne!(next, out);
    }
}
