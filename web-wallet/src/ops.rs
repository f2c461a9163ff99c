//! The operations, as JSON in and JSON out. Amounts are decimal strings (they exceed what a
//! JavaScript number holds exactly), bytes are `0x` hex, addresses bech32m (`tt1...`; `0x` hex is
//! also accepted). Contract values go through the contract's ABI (`tutti_getAbi`), with the same
//! codec the CLI uses (`tutti-abi`): 128-bit integers, and 64-bit ones past 2^53 - 1, are decimal
//! strings, byte strings `0x` hex, enums `"Variant"` or `{"Variant": fields}`, `Option` null or the
//! value.
//!
//! | op | request | answer |
//! |----|---------|--------|
//! | `key` | `secret`, optional `numShards` | `publicKey`, `address`, `addressHex`, `shard` (with `numShards`) |
//! | `address` | `address`, optional `numShards` | `address`, `addressHex`, `shard` (with `numShards`) |
//! | `contractAddress` | `deployer`, `nonce` | the address a deploy at that nonce creates |
//! | `deployGas` | `codeLen` | the gas limit a deploy of that many bytes needs (with room for its init call), by the chain's schedule |
//! | `sign` | `secret`, `chainId`, `nonce`, `gasLimit`, `gasPrice`, `action` | `raw`, `hash` |
//! | `abi.encode` | `abi`, `method`, `args` (an object of named arguments) | SCALE arguments |
//! | `abi.returns` | `abi`, `method`, `data` | the decoded return value (`null` for `()`) |
//! | `abi.event` | `abi`, `name`, `data` | the decoded event payload |
//! | `abi.describe` | `abi` | the interface as text, as `tutti abi` prints it |
//! | `abi.read` | `code` (a wasm module) | the ABI it carries, `null` if none; refused as the chain refuses it |
//! | `puzzle.level` | `seed`, `level` | `cells`, `cursor` |
//! | `puzzle.solve` | `seed`, `level` | moves (0 left, 1 up, 2 right, 3 down) |
//!
//! `action` is one of `{"type": "transfer", "to", "amount"}`,
//! `{"type": "call", "contract", "method", "args", "value"}`,
//! `{"type": "deploy", "code", "initMethod", "args", "value"}`,
//! `{"type": "delegate" | "undelegate", "validator" (its BLS key), "amount"}`,
//! `{"type": "collectRewards"}`.

use std::collections::BTreeMap;

use parity_scale_codec::Encode;
use serde::Deserialize;
use serde_json::{Value, json};
use tutti_abi::Abi;
use tutti_primitives::{Action, Address, Amount, BlsPublicKey, PublicKey, StakeAction, Transaction, gas::GasSchedule};

/// Most bytes a request may hold: a deploy carries the contract's code as hex (the chain takes
/// modules up to 2 MiB).
pub const MAX_REQUEST: usize = 5 << 20;

type Result<T> = std::result::Result<T, String>;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all_fields = "camelCase", deny_unknown_fields)]
enum Request {
    #[serde(rename = "key")]
    Key {
        secret: String,
        /// With the chain's shard count, the answer names the key's home shard.
        #[serde(default)]
        num_shards: Option<u32>,
    },
    #[serde(rename = "address")]
    Address {
        address: String,
        #[serde(default)]
        num_shards: Option<u32>,
    },
    #[serde(rename = "contractAddress")]
    ContractAddress { deployer: String, nonce: u64 },
    #[serde(rename = "deployGas")]
    DeployGas { code_len: usize },
    #[serde(rename = "sign")]
    Sign {
        secret: String,
        chain_id: u64,
        nonce: u64,
        gas_limit: u64,
        gas_price: String,
        action: ActionJson,
    },
    #[serde(rename = "abi.encode")]
    AbiEncode {
        abi: Value,
        method: String,
        #[serde(default)]
        args: BTreeMap<String, Value>,
    },
    #[serde(rename = "abi.returns")]
    AbiReturns { abi: Value, method: String, data: String },
    #[serde(rename = "abi.event")]
    AbiEvent { abi: Value, name: String, data: String },
    #[serde(rename = "abi.describe")]
    AbiDescribe { abi: Value },
    #[serde(rename = "abi.read")]
    AbiRead { code: String },
    #[serde(rename = "puzzle.level")]
    PuzzleLevel { seed: String, level: u32 },
    #[serde(rename = "puzzle.solve")]
    PuzzleSolve { seed: String, level: u32 },
}

#[derive(Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
enum ActionJson {
    Transfer {
        to: String,
        amount: String,
    },
    Call {
        contract: String,
        method: String,
        #[serde(default)]
        args: String,
        #[serde(default)]
        value: Option<String>,
    },
    Deploy {
        code: String,
        #[serde(default)]
        init_method: Option<String>,
        #[serde(default)]
        args: String,
        #[serde(default)]
        value: Option<String>,
    },
    Delegate {
        validator: String,
        amount: String,
    },
    Undelegate {
        validator: String,
        amount: String,
    },
    CollectRewards,
}

fn bytes(s: &str, what: &str) -> Result<Vec<u8>> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| format!("{what} is not hex: {e}"))
}

fn bytes32(s: &str, what: &str) -> Result<[u8; 32]> {
    bytes(s, what)?
        .try_into()
        .map_err(|b: Vec<u8>| format!("{what} must be 32 bytes, got {}", b.len()))
}

fn bls_key(s: &str) -> Result<BlsPublicKey> {
    bytes(s, "validator")?
        .try_into()
        .map_err(|b: Vec<u8>| format!("validator must be a 48-byte BLS public key, got {} bytes", b.len()))
}

fn amount(s: &str, what: &str) -> Result<Amount> {
    s.trim()
        .parse()
        .map_err(|_| format!("{what} must be a whole number of units as a decimal string, got `{s}`"))
}

fn value(v: Option<&str>) -> Result<Amount> {
    v.map(|v| amount(v, "value")).transpose().map(Option::unwrap_or_default)
}

fn address(s: &str, what: &str) -> Result<Address> {
    s.parse().map_err(|e| format!("{what}: {e}"))
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn signing_key(secret: &str) -> Result<ed25519_dalek::SigningKey> {
    Ok(ed25519_dalek::SigningKey::from_bytes(&bytes32(secret, "secret")?))
}

/// An ABI given as JSON (what `tutti_getAbi` answers).
fn abi(v: Value) -> Result<Abi> {
    serde_json::from_value(v).map_err(|e| format!("abi is not a contract ABI: {e}"))
}

fn address_json(a: &Address, num_shards: Option<u32>) -> Value {
    let mut out = json!({"address": a.to_string(), "addressHex": a.to_hex()});
    if let Some(n) = num_shards {
        out["shard"] = json!(a.home_shard(n.max(1)));
    }
    out
}

fn action(a: ActionJson) -> Result<Action> {
    Ok(match a {
        ActionJson::Transfer { to, amount: a } => Action::Transfer {
            to: address(&to, "to")?,
            amount: amount(&a, "amount")?,
        },
        ActionJson::Call {
            contract,
            method,
            args,
            value: v,
        } => Action::Call {
            contract: address(&contract, "contract")?,
            method,
            args: bytes(&args, "args")?,
            value: value(v.as_deref())?,
        },
        ActionJson::Deploy {
            code,
            init_method,
            args,
            value: v,
        } => Action::Deploy {
            code: bytes(&code, "code")?,
            init_method,
            args: bytes(&args, "args")?,
            value: value(v.as_deref())?,
        },
        ActionJson::Delegate { validator, amount: a } => Action::Stake(StakeAction::Delegate {
            key: bls_key(&validator)?,
            amount: amount(&a, "amount")?,
        }),
        ActionJson::Undelegate { validator, amount: a } => Action::Stake(StakeAction::Undelegate {
            key: bls_key(&validator)?,
            amount: amount(&a, "amount")?,
        }),
        ActionJson::CollectRewards => Action::Stake(StakeAction::CollectRewards),
    })
}

fn run(req: Request) -> Result<Value> {
    Ok(match req {
        Request::Key { secret, num_shards } => {
            let pk = signing_key(&secret)?.verifying_key().to_bytes();
            let mut out = address_json(&Address::from_public_key(&pk), num_shards);
            out["publicKey"] = json!(hex0x(&pk));
            out
        }
        Request::Address { address: a, num_shards } => address_json(&address(&a, "address")?, num_shards),
        Request::ContractAddress { deployer, nonce } => {
            json!(Address::for_contract(&address(&deployer, "deployer")?, nonce).to_string())
        }
        Request::DeployGas { code_len } => json!(GasSchedule::default().deploy_gas_limit(code_len)),
        Request::Sign {
            secret,
            chain_id,
            nonce,
            gas_limit,
            gas_price,
            action: a,
        } => {
            let key = signing_key(&secret)?;
            let tx = Transaction {
                chain_id,
                signer: PublicKey(key.verifying_key().to_bytes()),
                nonce,
                gas_limit,
                gas_price: amount(&gas_price, "gasPrice")?,
                action: action(a)?,
            }
            .sign(&key);
            json!({"raw": hex0x(&tx.encode()), "hash": tx.hash().to_string()})
        }
        Request::AbiEncode { abi: a, method, args } => {
            json!(hex0x(&abi(a)?.encode_args(&method, &args).map_err(|e| e.to_string())?))
        }
        Request::AbiReturns { abi: a, method, data } => {
            let a = abi(a)?;
            let m = a.method(&method).map_err(|e| e.to_string())?;
            let raw = bytes(&data, "data")?;
            match m.returns {
                Some(ty) => a.decode(ty, &raw).map_err(|e| format!("`{method}` returned {e}"))?,
                None if raw.is_empty() => Value::Null,
                None => return Err(format!("`{method}` returns nothing, yet {} bytes came back", raw.len())),
            }
        }
        Request::AbiEvent { abi: a, name, data } => {
            let a = abi(a)?;
            let e = a.event(&name).ok_or_else(|| {
                let known: Vec<&str> = a.events.iter().map(|e| e.name.as_str()).collect();
                format!(
                    "the contract declares no event `{name}` (its events: {})",
                    known.join(", ")
                )
            })?;
            a.decode(e.ty, &bytes(&data, "data")?)
                .map_err(|err| format!("event `{name}`: {err}"))?
        }
        Request::AbiDescribe { abi: a } => json!(abi(a)?.describe()),
        Request::AbiRead { code } => json!(tutti_abi::read(&bytes(&code, "code")?).map_err(|e| e.to_string())?),
        Request::PuzzleLevel { seed, level } => {
            let b = tutti_puzzle_core::level(&bytes32(&seed, "seed")?, level).map_err(|e| e.to_string())?;
            json!({"cells": b.cells, "cursor": b.cursor})
        }
        Request::PuzzleSolve { seed, level } => {
            let b = tutti_puzzle_core::level(&bytes32(&seed, "seed")?, level).map_err(|e| e.to_string())?;
            let moves = tutti_puzzle_core::solve(&b).ok_or_else(|| format!("no solution found for level {level}"))?;
            json!(moves.iter().map(|m| m.byte()).collect::<Vec<u8>>())
        }
    })
}

/// Runs one request (JSON text).
pub fn handle(request: &str) -> Result<Value> {
    if request.len() > MAX_REQUEST {
        return Err(format!("request of {} bytes exceeds {MAX_REQUEST}", request.len()));
    }
    let req: Request = serde_json::from_str(request).map_err(|e| format!("bad request: {e}"))?;
    run(req)
}

/// Runs one request given as bytes; answers `{"ok": ...}` or `{"error": ...}` as JSON text.
pub fn handle_bytes(request: &[u8]) -> String {
    let answer = std::str::from_utf8(request)
        .map_err(|_| "the request is not UTF-8".to_string())
        .and_then(handle);
    match answer {
        Ok(v) => json!({ "ok": v }).to_string(),
        Err(e) => json!({ "error": e }).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_scale_codec::Decode;
    use tutti_lottery_core as lottery;
    use tutti_primitives::SignedTransaction;

    const SECRET: &str = "0x0101010101010101010101010101010101010101010101010101010101010101";

    fn ok(req: Value) -> Value {
        let out: Value = serde_json::from_str(&handle_bytes(req.to_string().as_bytes())).unwrap();
        assert!(out.get("error").is_none(), "{out}");
        out["ok"].clone()
    }

    fn err(req: &str) -> String {
        let out: Value = serde_json::from_str(&handle_bytes(req.as_bytes())).unwrap();
        out["error"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error: {out}"))
            .to_string()
    }

    fn puzzle_abi() -> Value {
        serde_json::to_value(tutti_puzzle::Puzzle::abi()).unwrap()
    }

    fn lottery_abi() -> Value {
        serde_json::to_value(tutti_lottery::Lottery::abi()).unwrap()
    }

    fn key() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[1; 32])
    }

    fn sign(action: Value) -> Value {
        ok(json!({
            "op": "sign", "secret": SECRET, "chainId": 7357, "nonce": 5, "gasLimit": 300_000_000u64,
            "gasPrice": "1", "action": action,
        }))
    }

    fn expect_signed(signed: &Value, action: Action) {
        let expected = Transaction {
            chain_id: 7357,
            signer: PublicKey(key().verifying_key().to_bytes()),
            nonce: 5,
            gas_limit: 300_000_000,
            gas_price: 1,
            action,
        }
        .sign(&key());
        assert_eq!(signed["raw"], json!(hex0x(&expected.encode())));
        assert_eq!(signed["hash"], json!(expected.hash().to_string()));
        let raw = bytes(signed["raw"].as_str().unwrap(), "raw").unwrap();
        let decoded = SignedTransaction::decode(&mut &raw[..]).unwrap();
        assert_eq!(decoded.verify(), Ok(()));
    }

    #[test]
    fn signing_matches_the_rust_primitives_byte_for_byte() {
        let contract = Address([7; 32]);
        let args = ok(json!({"op": "abi.encode", "abi": puzzle_abi(), "method": "submit",
            "args": {"game": 1, "level": 2, "moves": [2, 3]}}));
        assert_eq!(args, json!(hex0x(&(1u64, 2u32, vec![2u8, 3]).encode())));
        let signed = sign(
            json!({"type": "call", "contract": contract.to_string(), "method": "submit",
            "args": args, "value": "20000000000000000000"}),
        );
        expect_signed(
            &signed,
            Action::Call {
                contract,
                method: "submit".into(),
                args: (1u64, 2u32, vec![2u8, 3]).encode(),
                value: 20_000_000_000_000_000_000,
            },
        );
        let signed = sign(json!({"type": "transfer", "to": contract.to_hex(), "amount": "9"}));
        expect_signed(
            &signed,
            Action::Transfer {
                to: contract,
                amount: 9,
            },
        );
        let signed = sign(json!({"type": "deploy", "code": "0x0061736d", "initMethod": "new", "args": "0x01"}));
        expect_signed(
            &signed,
            Action::Deploy {
                code: b"\0asm".to_vec(),
                init_method: Some("new".into()),
                args: vec![1],
                value: 0,
            },
        );
        let bls = hex0x(&[3; 48]);
        let signed = sign(json!({"type": "delegate", "validator": bls, "amount": "100"}));
        expect_signed(
            &signed,
            Action::Stake(StakeAction::Delegate {
                key: [3; 48],
                amount: 100,
            }),
        );
        let signed = sign(json!({"type": "undelegate", "validator": bls, "amount": "1"}));
        expect_signed(
            &signed,
            Action::Stake(StakeAction::Undelegate {
                key: [3; 48],
                amount: 1,
            }),
        );
        let signed = sign(json!({"type": "collectRewards"}));
        expect_signed(&signed, Action::Stake(StakeAction::CollectRewards));
    }

    #[test]
    fn keys_and_addresses_name_their_home_shard() {
        let out = ok(json!({"op": "key", "secret": SECRET}));
        let pk = key().verifying_key().to_bytes();
        let a = Address::from_public_key(&pk);
        assert_eq!(out["address"], json!(a.to_string()));
        assert_eq!(out["publicKey"], json!(hex0x(&pk)));
        assert_eq!(out.get("shard"), None, "no shard without the shard count");
        let out = ok(json!({"op": "key", "secret": SECRET, "numShards": 4}));
        assert_eq!(out["shard"], json!(a.home_shard(4)));
        let out = ok(json!({"op": "address", "address": a.to_hex(), "numShards": 4}));
        assert_eq!(
            out,
            json!({"address": a.to_string(), "addressHex": a.to_hex(), "shard": a.home_shard(4)})
        );
        assert_eq!(
            ok(json!({"op": "deployGas", "codeLen": 1000})),
            json!(GasSchedule::default().deploy_gas_limit(1000))
        );
        assert_eq!(
            ok(json!({"op": "contractAddress", "deployer": a.to_string(), "nonce": 3})),
            json!(Address::for_contract(&a, 3).to_string())
        );
    }

    #[test]
    fn contract_values_go_through_the_abi_both_ways() {
        let alice = Address([1; 32]);
        assert_eq!(
            ok(json!({"op": "abi.encode", "abi": lottery_abi(), "method": "tickets",
                "args": {"round": 4, "player": alice.to_string()}})),
            json!(hex0x(&(4u64, alice).encode()))
        );
        assert_eq!(
            ok(json!({"op": "abi.encode", "abi": lottery_abi(), "method": "draw"})),
            json!("0x")
        );
        let t = lottery::PlayerTickets {
            count: 5,
            paid: 50,
            ranges: vec![(0, 2), (4, 3)],
        };
        assert_eq!(
            ok(json!({"op": "abi.returns", "abi": lottery_abi(), "method": "tickets", "data": hex0x(&t.encode())})),
            json!({"count": 5, "paid": "50", "ranges": [[0, 2], [4, 3]]})
        );
        let e = lottery::Entered {
            round: 2,
            player: alice,
            payer: alice,
            first: 4,
            tickets: 3,
            pot: 70,
        };
        let ev = ok(json!({"op": "abi.event", "abi": lottery_abi(), "name": "Entered", "data": hex0x(&e.encode())}));
        assert_eq!(
            ev,
            json!({"round": 2, "player": alice.to_string(), "payer": alice.to_string(), "first": 4,
                "tickets": 3, "pot": "70"})
        );
        let none = ok(json!({"op": "abi.returns", "abi": puzzle_abi(), "method": "game", "data": "0x00"}));
        assert_eq!(none, Value::Null);
        let module = tutti_abi::embed(b"\0asm\x01\0\0\0", &tutti_lottery::Lottery::abi());
        assert_eq!(ok(json!({"op": "abi.read", "code": hex0x(&module)})), lottery_abi());
        assert_eq!(ok(json!({"op": "abi.read", "code": "0x0061736d01000000"})), Value::Null);
        let twice = tutti_abi::embed(&module, &tutti_lottery::Lottery::abi());
        assert!(err(&json!({"op": "abi.read", "code": hex0x(&twice)}).to_string()).contains("twice"));
        let text = ok(json!({"op": "abi.describe", "abi": lottery_abi()}));
        assert!(text.as_str().unwrap().contains("enter(tickets: u32)"), "{text}");
    }

    #[test]
    fn puzzle_levels_match_the_core() {
        let level = ok(json!({"op": "puzzle.level", "seed": hex0x(&[4; 32]), "level": 7}));
        let b = tutti_puzzle_core::level(&[4; 32], 7).unwrap();
        assert_eq!(level["cells"], json!(b.cells));
        let moves: Vec<u8> =
            serde_json::from_value(ok(json!({"op": "puzzle.solve", "seed": hex0x(&[4; 32]), "level": 7}))).unwrap();
        assert_eq!(tutti_puzzle_core::verify(&[4; 32], 7, &moves), Ok(()));
    }

    #[test]
    fn bad_requests_get_readable_errors() {
        assert!(err("{").starts_with("bad request"));
        assert!(err(r#"{"op":"nope"}"#).contains("unknown variant"));
        assert!(err(r#"{"op":"key","secret":"0x01"}"#).contains("32 bytes"));
        assert!(err(r#"{"op":"key","secret":"zz"}"#).contains("not hex"));
        assert!(err(r#"{"op":"address","address":"tt1nope"}"#).starts_with("address:"));
        assert!(err(r#"{"op":"puzzle.level","seed":"0x00","level":1}"#).contains("32 bytes"));
        let seed = hex0x(&[0; 32]);
        assert!(err(&format!(r#"{{"op":"puzzle.level","seed":"{seed}","level":101}}"#)).contains("does not exist"));
        let bad_amount = json!({"op": "sign", "secret": SECRET, "chainId": 1, "nonce": 0, "gasLimit": 1,
            "gasPrice": "1", "action": {"type": "transfer", "to": Address([1; 32]).to_string(), "amount": "-5"}});
        assert!(err(&bad_amount.to_string()).contains("decimal string"));
        let bad_to = json!({"op": "sign", "secret": SECRET, "chainId": 1, "nonce": 0, "gasLimit": 1,
            "gasPrice": "1", "action": {"type": "transfer", "to": "tt1xyz", "amount": "5"}});
        assert!(err(&bad_to.to_string()).starts_with("to:"));
        let bad_bls = json!({"op": "sign", "secret": SECRET, "chainId": 1, "nonce": 0, "gasLimit": 1,
            "gasPrice": "1", "action": {"type": "delegate", "validator": "0x01", "amount": "5"}});
        assert!(err(&bad_bls.to_string()).contains("48-byte BLS public key"));
        // Arguments that do not match the ABI name the parameter and its type.
        let enc = |method: &str, args: Value| {
            err(&json!({"op": "abi.encode", "abi": lottery_abi(), "method": method, "args": args}).to_string())
        };
        assert!(enc("enter", json!({})).contains("missing argument `tickets: u32`"));
        assert!(enc("enter", json!({"tickets": -1})).contains("argument `tickets: u32`"));
        assert!(enc("enter", json!({"tickets": 1u64 << 40})).contains("tickets: u32"));
        assert!(enc("enter", json!({"tickets": 1, "memo": "x"})).contains("no parameter `memo`"));
        assert!(enc("mint", json!({})).contains("no method `mint`"));
        let e = err(&json!({"op": "abi.event", "abi": lottery_abi(), "name": "Minted", "data": "0x"}).to_string());
        assert!(e.contains("no event `Minted`") && e.contains("Entered"), "{e}");
        let e = err(&json!({"op": "abi.returns", "abi": lottery_abi(), "method": "round", "data": "0x01"}).to_string());
        assert!(e.contains("`round` returned cannot decode"), "{e}");
        let e = err(&json!({"op": "abi.describe", "abi": {"methods": 5}}).to_string());
        assert!(e.starts_with("abi is not a contract ABI"), "{e}");
        assert_eq!(
            serde_json::from_str::<Value>(&handle_bytes(&[0xff, 0xfe])).unwrap()["error"],
            json!("the request is not UTF-8")
        );
        let huge = vec![b' '; MAX_REQUEST + 1];
        assert!(
            serde_json::from_str::<Value>(&handle_bytes(&huge)).unwrap()["error"]
                .as_str()
                .unwrap()
                .contains("exceeds")
        );
    }
}
