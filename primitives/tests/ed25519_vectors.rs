//! Tutti's ed25519 rule ([`verify_ed25519`]: ZIP-215 cofactored verification, plus canonical
//! encodings of `A` and `R` that are not of small order, and a canonical `S`) against published
//! test vectors:
//!
//! - C2SP CCTV `ed25519/ed25519vectors.json` (914 cases with flags): refused exactly when a
//!   `low_order_A`, `low_order_R`, `non_canonical_A` or `non_canonical_R` flag is set; accepted
//!   otherwise, `low_order_residue` included (the cofactored equation accepts those).
//! - novifinancial/ed25519-speccheck `cases.json` (12 edge cases): the outcome under Tutti's
//!   rule, case by case, with the reason.
//! - C2SP/wycheproof `testvectors_v1/ed25519_test.json`: every case's `result`, except the
//!   cases listed in [`WYCHEPROOF_DELIBERATE`] where Tutti's rule is stricter on purpose; that
//!   list must be exactly the set of differences.
//!
//! The vectors are read at run time from `<workspace>/../shared/vectors` (or the folder named
//! by `TUTTI_VECTORS`), never copied into the repository; the test fails if they are missing.
//! (`tutti_chain::txcheck::verify_signatures` batches the same rule; it is not checked here.)

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

use serde_json::Value;
use tutti_primitives::tx::verify_ed25519;

/// The folder of the published vectors: `TUTTI_VECTORS`, or `<workspace>/../shared/vectors`.
fn vectors_dir() -> PathBuf {
    let dir = match std::env::var_os("TUTTI_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
    };
    assert!(
        dir.is_dir(),
        "the published test vectors are missing: no folder at {} (set TUTTI_VECTORS to their folder)",
        dir.display()
    );
    dir
}

fn load(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn unhex(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a hex string: {v}"));
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// Whether Tutti accepts the signature. A key or signature of the wrong length cannot even be
/// represented (`[u8; 32]`, `[u8; 64]`): refused.
fn accepts(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    match (<&[u8; 32]>::try_from(pk), <&[u8; 64]>::try_from(sig)) {
        (Ok(pk), Ok(sig)) => verify_ed25519(pk, msg, sig).is_ok(),
        _ => false,
    }
}

/// The CCTV flags that make a signature invalid under Tutti's rule.
const CCTV_REFUSED: [&str; 4] = ["low_order_A", "low_order_R", "non_canonical_A", "non_canonical_R"];
/// The CCTV flags that do not: a key or nonce with a small-order component (but not of small
/// order itself) is fine, the cofactored equation accepts a small-order residue, and
/// `reencoded_k` only ever comes with a non-canonical encoding (refused for that).
const CCTV_ACCEPTED: [&str; 4] = [
    "low_order_component_A",
    "low_order_component_R",
    "low_order_residue",
    "reencoded_k",
];

#[test]
fn cctv_ed25519_vectors() {
    let cases = load("cctv-ed25519-vectors.json");
    let cases = cases.as_array().expect("an array of cases");
    let (mut count, mut accepted) = (0usize, 0usize);
    let mut numbers = BTreeSet::new();
    let mut wrong = Vec::new();
    for case in cases {
        let number = case["number"].as_u64().expect("number");
        assert!(numbers.insert(number), "case {number} twice");
        // `flags` is null for the one case without any.
        let flags: Vec<&str> = case["flags"]
            .as_array()
            .map(|f| f.iter().map(|x| x.as_str().expect("flag")).collect())
            .unwrap_or_default();
        for f in &flags {
            assert!(
                CCTV_REFUSED.contains(f) || CCTV_ACCEPTED.contains(f),
                "case {number}: unknown flag {f} (decide what Tutti's rule says about it)"
            );
        }
        let expected = !flags.iter().any(|f| CCTV_REFUSED.contains(f));
        let msg = case["msg"].as_str().expect("msg is text").as_bytes();
        let got = accepts(&unhex(&case["key"]), msg, &unhex(&case["sig"]));
        if got != expected {
            wrong.push(format!("case {number} {flags:?}: expected {expected}, got {got}"));
        }
        count += 1;
        accepted += usize::from(got);
    }
    println!("CCTV: {count} cases, {accepted} accepted, {} refused", count - accepted);
    assert!(
        wrong.is_empty(),
        "{} CCTV cases differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(count, 914, "the file has 914 cases");
    assert_eq!(numbers, (0..914).collect(), "cases 0..914, each once");
    assert_eq!(accepted, 106, "the cases with none of the refusing flags");
}

/// ed25519-speccheck's cases, in file order: whether Tutti accepts, and why. ("small" is of
/// small order, "mixed" has a small-order component but is not of small order.)
const SPECCHECK: [(bool, &str); 12] = [
    (false, "S = 0 with small A and small R: small-order A (and R) refused"),
    (false, "0 < S < L, small A, mixed R: small-order A refused"),
    (false, "0 < S < L, mixed A, small R: small-order R refused"),
    (
        true,
        "0 < S < L, mixed A and R, holds with and without the cofactor: valid",
    ),
    (
        true,
        "0 < S < L, mixed A and R, holds only with the cofactor: ZIP 215 accepts",
    ),
    (
        true,
        "0 < S < L, mixed A, a hash that is wrong only when reduced early: valid",
    ),
    (false, "S > L: S not canonical"),
    (false, "S >> L (high bits set): S not canonical"),
    (
        false,
        "R a non-canonical encoding of a small-order point (x = 0, sign bit set): refused",
    ),
    (false, "the same R, with the hash over the re-encoded R: still refused"),
    (
        false,
        "A a non-canonical encoding of a small-order point (x = 0, sign bit set): refused",
    ),
    (false, "the same A, with the hash over the re-encoded A: still refused"),
];

#[test]
fn speccheck_cases() {
    let cases = load("ed25519-speccheck-cases.json");
    let cases = cases.as_array().expect("an array of cases");
    assert_eq!(cases.len(), SPECCHECK.len(), "the file has 12 cases");
    let mut wrong = Vec::new();
    for (i, (case, (expected, why))) in cases.iter().zip(SPECCHECK).enumerate() {
        let got = accepts(
            &unhex(&case["pub_key"]),
            &unhex(&case["message"]),
            &unhex(&case["signature"]),
        );
        if got != expected {
            wrong.push(format!("case {i} ({why}): expected {expected}, got {got}"));
        }
    }
    println!(
        "speccheck: {} cases, {} as expected",
        cases.len(),
        cases.len() - wrong.len()
    );
    assert!(wrong.is_empty(), "speccheck cases differ:\n{}", wrong.join("\n"));
}

/// Wycheproof cases where Tutti's rule gives another outcome than the file's `result`, on
/// purpose, with the reason.
const WYCHEPROOF_DELIBERATE: [(u64, &str); 0] = [];

#[test]
fn wycheproof_ed25519() {
    let file = load("wycheproof-ed25519.json");
    let mut count = 0u64;
    let mut acceptable = 0u64;
    let mut differ = BTreeMap::new();
    for group in file["testGroups"].as_array().expect("testGroups") {
        let pk = unhex(&group["publicKey"]["pk"]);
        for case in group["tests"].as_array().expect("tests") {
            count += 1;
            let id = case["tcId"].as_u64().expect("tcId");
            let got = accepts(&pk, &unhex(&case["msg"]), &unhex(&case["sig"]));
            let expected = match case["result"].as_str().expect("result") {
                "valid" => true,
                "invalid" => false,
                "acceptable" => {
                    acceptable += 1;
                    continue;
                }
                other => panic!("tcId {id}: unknown result {other}"),
            };
            if got != expected {
                differ.insert(
                    id,
                    format!("tcId {id} {}: expected {expected}, got {got}", case["comment"]),
                );
            }
        }
    }
    assert_eq!(Some(count), file["numberOfTests"].as_u64(), "every case counted");
    println!(
        "Wycheproof ed25519: {count} cases, {} as the file says, {acceptable} acceptable, {} differ on purpose",
        count - acceptable - differ.len() as u64,
        differ.len()
    );
    let listed: BTreeSet<u64> = WYCHEPROOF_DELIBERATE.iter().map(|(id, _)| *id).collect();
    let found: BTreeSet<u64> = differ.keys().copied().collect();
    assert_eq!(
        found,
        listed,
        "the differences are not the listed ones:\n{}",
        differ.into_values().collect::<Vec<_>>().join("\n")
    );
}
