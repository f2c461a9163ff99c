//! Tutti's BLS ([`tutti_crypto::bls`]: min-pk BLS12-381, ciphersuite
//! `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`) against published test vectors. Every check
//! uses the untagged entry points (`sign_raw`, `verify_raw`, `verify_aggregate` with an empty
//! tag), which sign and verify exactly the given message.
//!
//! - C2SP/wycheproof `testvectors_v1/bls_sig_g2_pop_verify_test.json` (26 cases): the key and
//!   signature are decoded with `PublicKey::from_bytes` / `Signature::from_bytes` (a decoding
//!   failure is "invalid"), then checked with `verify_raw`; each case's `result` must come out.
//! - ethereum/bls12-381-tests v0.1.1 (as vendored in mratsim/constantine), each case's `output`:
//!   - `sign`: `SecretKey::from_bytes` + `sign_raw` (a refused secret key is `null`);
//!   - `verify`: `verify_raw`;
//!   - `aggregate`: `Signature::aggregate` (nothing to aggregate is `null`);
//!   - `fast_aggregate_verify`: `bls::verify_aggregate` with an empty tag;
//!   - `deserialization_G1` / `deserialization_G2`: `PublicKey::from_bytes` /
//!     `Signature::from_bytes`.
//!
//!   Not run: `hash_to_G2` (Tutti has no public hash-to-curve entry point, and these cases use
//!   the hash-to-curve draft's own `QUUX-V01-CS02-with-...` tag, not the signature one),
//!   `batch_verify` and `aggregate_verify` (Tutti has no API for signatures over distinct
//!   messages: a certificate is over one message). Where Tutti refuses on purpose the case is
//!   listed in [`ETH_DELIBERATE`] with the reason; that list must be exactly the set of
//!   differences, and the folders must be exactly the ones run or skipped here.
//!
//! The vectors are read at run time from `<workspace>/../shared/vectors` (or the folder named
//! by `TUTTI_VECTORS`), never copied into the repository; the test fails if they are missing.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

use serde_json::Value;
use tutti_crypto::bls::{self, PublicKey, SecretKey, Signature};

/// The folder of the published vectors: `TUTTI_VECTORS`, or `<workspace>/../shared/vectors`.
fn vectors_dir() -> PathBuf {
    let dir = match std::env::var_os("TUTTI_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
    };
    assert!(
        dir.is_dir(),
        "the published test vectors are missing: no folder at {} (set TUTTI_VECTORS to their folder)",
        dir.display()
    );
    dir
}

fn load(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Hex, with or without a `0x` prefix (the Ethereum files use both).
fn unhex(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a hex string: {v}"));
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// A public key, if the bytes are one (the wrong length is not).
fn public_key(v: &Value) -> Option<PublicKey> {
    PublicKey::from_bytes(unhex(v).as_slice().try_into().ok()?).ok()
}

/// A signature, if the bytes are one (the wrong length is not).
fn signature(v: &Value) -> Option<Signature> {
    Signature::from_bytes(unhex(v).as_slice().try_into().ok()?).ok()
}

fn hex_output(sig: Option<Signature>) -> Value {
    sig.map_or(Value::Null, |s| {
        Value::String(format!("0x{}", hex::encode(s.to_bytes())))
    })
}

#[test]
fn wycheproof_bls_sig_g2_pop_verify() {
    let file = load(&vectors_dir().join("wycheproof-bls-sig-g2-pop-verify.json"));
    let mut count = 0u64;
    let mut wrong = Vec::new();
    for group in file["testGroups"].as_array().expect("testGroups") {
        assert_eq!(
            group["ciphersuite"].as_str(),
            Some("BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_")
        );
        let pk = public_key(&group["publicKey"]["pk"]);
        for case in group["tests"].as_array().expect("tests") {
            count += 1;
            let id = case["tcId"].as_u64().expect("tcId");
            let msg = unhex(&case["msg"]);
            let got = match (pk, signature(&case["sig"])) {
                (Some(pk), Some(sig)) => pk.verify_raw(&msg, &sig),
                _ => false,
            };
            let expected = match case["result"].as_str().expect("result") {
                "valid" => true,
                "invalid" => false,
                other => panic!("tcId {id}: result {other} (decide what Tutti's rule says)"),
            };
            if got != expected {
                wrong.push(format!("tcId {id} {}: expected {expected}, got {got}", case["comment"]));
            }
        }
    }
    assert_eq!(Some(count), file["numberOfTests"].as_u64(), "every case counted");
    println!(
        "Wycheproof BLS POP verify: {count} cases, {} as the file says",
        count as usize - wrong.len()
    );
    assert!(wrong.is_empty(), "Wycheproof cases differ:\n{}", wrong.join("\n"));
}

/// The Ethereum folders run, and the ones skipped (see the module doc for why).
const ETH_RUN: [&str; 6] = [
    "aggregate",
    "deserialization_G1",
    "deserialization_G2",
    "fast_aggregate_verify",
    "sign",
    "verify",
];
const ETH_SKIPPED: [&str; 3] = ["aggregate_verify", "batch_verify", "hash_to_G2"];

/// Ethereum cases (`folder/file`) where Tutti gives another output on purpose, and why.
const ETH_DELIBERATE: [(&str, &str); 1] = [(
    "deserialization_G1/deserialization_succeeds_infinity_with_true_b_flag.json",
    "the identity public key is refused at decoding (the draft's KeyValidate): under it the \
     identity signature would verify over any message",
)];

/// Tutti's output for one Ethereum case, in the file's terms.
fn eth_output(folder: &str, input: &Value) -> Value {
    match folder {
        "sign" => {
            let sk = <[u8; 32]>::try_from(unhex(&input["privkey"]).as_slice())
                .ok()
                .and_then(|b| SecretKey::from_bytes(&b).ok());
            hex_output(sk.map(|sk| sk.sign_raw(&unhex(&input["message"]))))
        }
        "verify" => {
            let ok = match (public_key(&input["pubkey"]), signature(&input["signature"])) {
                (Some(pk), Some(sig)) => pk.verify_raw(&unhex(&input["message"]), &sig),
                _ => false,
            };
            Value::Bool(ok)
        }
        "aggregate" => {
            let sigs: Option<Vec<Signature>> = input.as_array().expect("signatures").iter().map(signature).collect();
            hex_output(sigs.and_then(|s| Signature::aggregate(&s).ok()))
        }
        "fast_aggregate_verify" => {
            let keys: Option<Vec<PublicKey>> = input["pubkeys"]
                .as_array()
                .expect("pubkeys")
                .iter()
                .map(public_key)
                .collect();
            let ok = match (keys, signature(&input["signature"])) {
                (Some(keys), Some(sig)) => bls::verify_aggregate(&keys, b"", &unhex(&input["message"]), &sig),
                _ => false,
            };
            Value::Bool(ok)
        }
        "deserialization_G1" => Value::Bool(public_key(&input["pubkey"]).is_some()),
        "deserialization_G2" => Value::Bool(signature(&input["signature"]).is_some()),
        other => panic!("no mapping for folder {other}"),
    }
}

/// Hex outputs compare without their `0x` and case.
fn same_output(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a
            .trim_start_matches("0x")
            .eq_ignore_ascii_case(b.trim_start_matches("0x")),
        _ => a == b,
    }
}

#[test]
fn ethereum_bls12_381_tests() {
    let root = vectors_dir().join("eth-bls12-381-tests");
    let folders: BTreeSet<String> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .map(|e| e.expect("entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let known: BTreeSet<String> = ETH_RUN.iter().chain(&ETH_SKIPPED).map(|s| s.to_string()).collect();
    assert_eq!(folders, known, "a folder is neither run nor skipped");

    let mut differ = BTreeMap::new();
    for folder in ETH_RUN {
        let mut files: Vec<PathBuf> = fs::read_dir(root.join(folder))
            .expect("folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{folder}: no cases");
        let mut same = 0;
        for path in &files {
            let name = format!("{folder}/{}", path.file_name().expect("name").to_string_lossy());
            let case = load(path);
            let got = eth_output(folder, &case["input"]);
            if same_output(&got, &case["output"]) {
                same += 1;
            } else {
                differ.insert(name.clone(), format!("{name}: expected {}, got {got}", case["output"]));
            }
        }
        println!("Ethereum {folder}: {} cases, {same} as the file says", files.len());
    }
    let listed: BTreeSet<&str> = ETH_DELIBERATE.iter().map(|(name, _)| *name).collect();
    let found: BTreeSet<&str> = differ.keys().map(String::as_str).collect();
    assert_eq!(
        found,
        listed,
        "the differences are not the listed ones:\n{}",
        differ.values().cloned().collect::<Vec<_>>().join("\n")
    );
}
