//! The operations, as JSON in and JSON out. Amounts are decimal strings (they exceed what a
//! JavaScript number holds exactly), bytes are `0x` hex, addresses bech32m (`tt1...`; `0x` hex is
//! also accepted).
//!
//! | op | request | answer |
//! |----|---------|--------|
//! | `key` | `secret` | `publicKey`, `address`, `addressHex` |
//! | `sign` | `secret`, `chainId`, `nonce`, `gasLimit`, `gasPrice`, `action` | `raw`, `hash` |
//! | `decodeAmount` | `data` (SCALE u128) | decimal string |
//! | `puzzle.args` | `method` and its fields | SCALE arguments |
//! | `puzzle.game` | `data` (SCALE `Option<Game>`) | game or `null` |
//! | `puzzle.settings` | `data` (SCALE `Config`) | `periodBlocks`, `minStake` |
//! | `puzzle.leaderboard` | `data` | rows |
//! | `puzzle.level` | `seed`, `level` | `cells`, `cursor` |
//! | `puzzle.solve` | `seed`, `level` | moves (0 left, 1 up, 2 right, 3 down) |
//! | `lottery.args` | `method` and its fields | SCALE arguments |
//! | `lottery.round` | `data` (SCALE `Round`) | round |
//! | `lottery.tickets` | `data` (SCALE `PlayerTickets`) | `count`, `paid`, `ranges` |
//! | `lottery.settled` | `data` (SCALE `Settled`, `Option<Settled>` or `Vec<Settled>` with `kind` `one`, `option`, `list`) | settled round(s) |
//! | `lottery.settings` | `data` (SCALE `Config`) | `price`, `roundBlocks`, `feeBps`, `house` |
//! | `lottery.event` | `name`, `data` | the event's fields |
//!
//! `action` is `{"type": "transfer", "to", "amount"}` or
//! `{"type": "call", "contract", "method", "args", "value"}`.

use parity_scale_codec::{Decode, Encode};
use serde::Deserialize;
use serde_json::{Value, json};
use tutti_lottery_core as lottery;
use tutti_primitives::{Action, Address, Amount, PublicKey, Transaction};
use tutti_puzzle_core::{Config, EndReason, Game, LeaderEntry};

/// Most bytes a request may hold (a contract's code is not something the pages sign).
pub const MAX_REQUEST: usize = 1 << 20;

type Result<T> = std::result::Result<T, String>;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all_fields = "camelCase", deny_unknown_fields)]
enum Request {
    #[serde(rename = "key")]
    Key {
        secret: String,
        /// With the chain's shard count, the answer names the key's home shard.
        #[serde(default, rename = "numShards")]
        num_shards: Option<u32>,
    },
    #[serde(rename = "sign")]
    Sign {
        secret: String,
        chain_id: u64,
        nonce: u64,
        gas_limit: u64,
        gas_price: String,
        action: ActionJson,
    },
    #[serde(rename = "decodeAmount")]
    DecodeAmount { data: String },
    #[serde(rename = "puzzle.args")]
    PuzzleArgs(PuzzleArgs),
    #[serde(rename = "puzzle.game")]
    PuzzleGame { data: String },
    #[serde(rename = "puzzle.settings")]
    PuzzleSettings { data: String },
    #[serde(rename = "puzzle.leaderboard")]
    PuzzleLeaderboard { data: String },
    #[serde(rename = "puzzle.level")]
    PuzzleLevel { seed: String, level: u32 },
    #[serde(rename = "puzzle.solve")]
    PuzzleSolve { seed: String, level: u32 },
    #[serde(rename = "lottery.args")]
    LotteryArgs(LotteryArgs),
    #[serde(rename = "lottery.round")]
    LotteryRound { data: String },
    #[serde(rename = "lottery.tickets")]
    LotteryTickets { data: String },
    #[serde(rename = "lottery.settled")]
    LotterySettled { data: String, kind: SettledKind },
    #[serde(rename = "lottery.settings")]
    LotterySettings { data: String },
    #[serde(rename = "lottery.event")]
    LotteryEvent { name: String, data: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum SettledKind {
    One,
    Option,
    List,
}

#[derive(Deserialize)]
#[serde(
    tag = "method",
    rename_all = "snake_case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
enum LotteryArgs {
    Enter { tickets: u32 },
    EnterFor { player: String, tickets: u32 },
    Draw,
    Round,
    Tickets { round: u64, player: String },
    OwnerOf { round: u64, ticket: u64 },
    Result { round: u64 },
    History { before: u64, limit: u32 },
    Settings,
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
}

#[derive(Deserialize)]
#[serde(
    tag = "method",
    rename_all = "snake_case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
enum PuzzleArgs {
    Play,
    Fund,
    Submit { game: u64, level: u32, moves: Vec<u8> },
    End { game: u64 },
    Game { game: u64 },
    GameOf { player: String },
    Leaderboard,
    Pool,
    Settings,
}

fn bytes(s: &str, what: &str) -> Result<Vec<u8>> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| format!("{what} is not hex: {e}"))
}

fn bytes32(s: &str, what: &str) -> Result<[u8; 32]> {
    bytes(s, what)?
        .try_into()
        .map_err(|b: Vec<u8>| format!("{what} must be 32 bytes, got {}", b.len()))
}

fn amount(s: &str, what: &str) -> Result<Amount> {
    s.trim()
        .parse()
        .map_err(|_| format!("{what} must be a whole number of units as a decimal string, got `{s}`"))
}

fn address(s: &str, what: &str) -> Result<Address> {
    s.parse().map_err(|e| format!("{what}: {e}"))
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn decode<T: Decode>(data: &str, what: &str) -> Result<T> {
    let raw = bytes(data, what)?;
    T::decode(&mut &raw[..]).map_err(|e| format!("{what} does not decode: {e}"))
}

fn signing_key(secret: &str) -> Result<ed25519_dalek::SigningKey> {
    Ok(ed25519_dalek::SigningKey::from_bytes(&bytes32(secret, "secret")?))
}

fn game_json(g: &Game) -> Value {
    json!({
        "id": g.id,
        "player": g.player.to_string(),
        "seed": hex0x(&g.seed),
        "stake": g.stake.to_string(),
        "level": g.level,
        "solved": g.solved(),
        "started": g.started,
        "deadline": g.deadline,
        "paid": g.paid.to_string(),
        "ended": g.ended.map(|r| match r {
            EndReason::TimeUp => "timeUp",
            EndReason::Quit => "quit",
            EndReason::Completed => "completed",
        }),
    })
}

fn leader_json(e: &LeaderEntry) -> Value {
    json!({
        "player": e.player.to_string(),
        "level": e.level,
        "game": e.game,
        "seed": hex0x(&e.seed),
        "moves": e.moves,
        "height": e.height,
    })
}

fn puzzle_args(a: PuzzleArgs) -> Result<Vec<u8>> {
    Ok(match a {
        PuzzleArgs::Play | PuzzleArgs::Fund | PuzzleArgs::Leaderboard | PuzzleArgs::Pool | PuzzleArgs::Settings => {
            Vec::new()
        }
        PuzzleArgs::Submit { game, level, moves } => (game, level, moves).encode(),
        PuzzleArgs::End { game } | PuzzleArgs::Game { game } => (game,).encode(),
        PuzzleArgs::GameOf { player } => (address(&player, "player")?,).encode(),
    })
}

fn lottery_args(a: LotteryArgs) -> Result<Vec<u8>> {
    Ok(match a {
        LotteryArgs::Enter { tickets } => (tickets,).encode(),
        LotteryArgs::EnterFor { player, tickets } => (address(&player, "player")?, tickets).encode(),
        LotteryArgs::Draw | LotteryArgs::Round | LotteryArgs::Settings => Vec::new(),
        LotteryArgs::Tickets { round, player } => (round, address(&player, "player")?).encode(),
        LotteryArgs::OwnerOf { round, ticket } => (round, ticket).encode(),
        LotteryArgs::Result { round } => (round,).encode(),
        LotteryArgs::History { before, limit } => (before, limit).encode(),
    })
}

fn round_json(r: &lottery::Round) -> Value {
    json!({
        "id": r.id,
        "price": r.price.to_string(),
        "opened": r.opened,
        "close": r.close,
        "tickets": r.tickets,
        "players": r.players,
        "entries": r.entries,
        "pot": r.pot.to_string(),
    })
}

fn settled_json(s: &lottery::Settled) -> Value {
    let outcome = match s.outcome {
        lottery::Outcome::Won {
            winner,
            ticket,
            prize,
            fee,
            randomness_height,
        } => json!({
            "kind": "won",
            "winner": winner.to_string(),
            "ticket": ticket,
            "prize": prize.to_string(),
            "fee": fee.to_string(),
            "randomnessHeight": randomness_height,
        }),
        lottery::Outcome::Refunded { player, amount } => json!({
            "kind": "refunded",
            "player": player.to_string(),
            "amount": amount.to_string(),
        }),
    };
    json!({"round": round_json(&s.round), "outcome": outcome, "settledAt": s.settled_at})
}

fn lottery_event(name: &str, data: &str) -> Result<Value> {
    Ok(match name {
        "RoundOpened" => {
            let e: lottery::RoundOpened = decode(data, "data")?;
            json!({"round": e.round, "price": e.price.to_string(), "opened": e.opened, "close": e.close})
        }
        "Entered" => {
            let e: lottery::Entered = decode(data, "data")?;
            json!({
                "round": e.round,
                "player": e.player.to_string(),
                "payer": e.payer.to_string(),
                "first": e.first,
                "tickets": e.tickets,
                "pot": e.pot.to_string(),
            })
        }
        "Drawn" => {
            let e: lottery::Drawn = decode(data, "data")?;
            json!({
                "round": e.round,
                "winner": e.winner.to_string(),
                "ticket": e.ticket,
                "tickets": e.tickets,
                "prize": e.prize.to_string(),
                "fee": e.fee.to_string(),
                "randomnessHeight": e.randomness_height,
            })
        }
        "Refunded" => {
            let e: lottery::Refunded = decode(data, "data")?;
            json!({"round": e.round, "player": e.player.to_string(), "amount": e.amount.to_string()})
        }
        other => {
            return Err(format!(
                "`{other}` is not a lottery event (RoundOpened, Entered, Drawn, Refunded)"
            ));
        }
    })
}

fn run(req: Request) -> Result<Value> {
    Ok(match req {
        Request::Key { secret, num_shards } => {
            let pk = signing_key(&secret)?.verifying_key().to_bytes();
            let a = Address::from_public_key(&pk);
            let mut out = json!({"publicKey": hex0x(&pk), "address": a.to_string(), "addressHex": a.to_hex()});
            if let Some(n) = num_shards {
                out["shard"] = json!(a.home_shard(n));
            }
            out
        }
        Request::Sign {
            secret,
            chain_id,
            nonce,
            gas_limit,
            gas_price,
            action,
        } => {
            let key = signing_key(&secret)?;
            let action = match action {
                ActionJson::Transfer { to, amount: a } => Action::Transfer {
                    to: address(&to, "to")?,
                    amount: amount(&a, "amount")?,
                },
                ActionJson::Call {
                    contract,
                    method,
                    args,
                    value,
                } => Action::Call {
                    contract: address(&contract, "contract")?,
                    method,
                    args: bytes(&args, "args")?,
                    value: value.as_deref().map(|v| amount(v, "value")).transpose()?.unwrap_or(0),
                },
            };
            let tx = Transaction {
                chain_id,
                signer: PublicKey(key.verifying_key().to_bytes()),
                nonce,
                gas_limit,
                gas_price: amount(&gas_price, "gasPrice")?,
                action,
            }
            .sign(&key);
            json!({"raw": hex0x(&tx.encode()), "hash": tx.hash().to_string()})
        }
        Request::DecodeAmount { data } => json!(decode::<Amount>(&data, "data")?.to_string()),
        Request::PuzzleArgs(a) => json!(hex0x(&puzzle_args(a)?)),
        Request::PuzzleGame { data } => match decode::<Option<Game>>(&data, "data")? {
            Some(g) => game_json(&g),
            None => Value::Null,
        },
        Request::PuzzleSettings { data } => {
            let c: Config = decode(&data, "data")?;
            json!({"periodBlocks": c.period_blocks, "minStake": c.min_stake.to_string()})
        }
        Request::PuzzleLeaderboard { data } => {
            let rows: Vec<LeaderEntry> = decode(&data, "data")?;
            Value::Array(rows.iter().map(leader_json).collect())
        }
        Request::PuzzleLevel { seed, level } => {
            let b = tutti_puzzle_core::level(&bytes32(&seed, "seed")?, level).map_err(|e| e.to_string())?;
            json!({"cells": b.cells, "cursor": b.cursor})
        }
        Request::PuzzleSolve { seed, level } => {
            let b = tutti_puzzle_core::level(&bytes32(&seed, "seed")?, level).map_err(|e| e.to_string())?;
            let moves = tutti_puzzle_core::solve(&b).ok_or_else(|| format!("no solution found for level {level}"))?;
            json!(moves.iter().map(|m| m.byte()).collect::<Vec<u8>>())
        }
        Request::LotteryArgs(a) => json!(hex0x(&lottery_args(a)?)),
        Request::LotteryRound { data } => round_json(&decode(&data, "data")?),
        Request::LotteryTickets { data } => {
            let t: lottery::PlayerTickets = decode(&data, "data")?;
            json!({"count": t.count, "paid": t.paid.to_string(), "ranges": t.ranges})
        }
        Request::LotterySettled { data, kind } => match kind {
            SettledKind::One => settled_json(&decode(&data, "data")?),
            SettledKind::Option => match decode::<Option<lottery::Settled>>(&data, "data")? {
                Some(s) => settled_json(&s),
                None => Value::Null,
            },
            SettledKind::List => {
                let list: Vec<lottery::Settled> = decode(&data, "data")?;
                Value::Array(list.iter().map(settled_json).collect())
            }
        },
        Request::LotterySettings { data } => {
            let c: lottery::Config = decode(&data, "data")?;
            json!({
                "price": c.price.to_string(),
                "roundBlocks": c.round_blocks,
                "feeBps": c.fee_bps,
                "house": c.house.to_string(),
            })
        }
        Request::LotteryEvent { name, data } => lottery_event(&name, &data)?,
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

    #[test]
    fn signing_matches_the_rust_primitives_byte_for_byte() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let contract = Address([7; 32]);
        let expected = Transaction {
            chain_id: 7357,
            signer: PublicKey(key.verifying_key().to_bytes()),
            nonce: 5,
            gas_limit: 300_000_000,
            gas_price: 1,
            action: Action::Call {
                contract,
                method: "submit".into(),
                args: (1u64, 2u32, vec![2u8, 3]).encode(),
                value: 20_000_000_000_000_000_000,
            },
        }
        .sign(&key);
        let args = ok(json!({"op": "puzzle.args", "method": "submit", "game": 1, "level": 2, "moves": [2, 3]}));
        let signed = ok(json!({
            "op": "sign", "secret": SECRET, "chainId": 7357, "nonce": 5, "gasLimit": 300_000_000u64,
            "gasPrice": "1",
            "action": {"type": "call", "contract": contract.to_string(), "method": "submit",
                       "args": args, "value": "20000000000000000000"},
        }));
        assert_eq!(signed["raw"], json!(hex0x(&expected.encode())));
        assert_eq!(signed["hash"], json!(expected.hash().to_string()));
        let raw = bytes(signed["raw"].as_str().unwrap(), "raw").unwrap();
        let decoded = SignedTransaction::decode(&mut &raw[..]).unwrap();
        assert_eq!(decoded.verify(), Ok(()));
    }

    #[test]
    fn key_gives_the_address_of_the_public_key() {
        let out = ok(json!({"op": "key", "secret": SECRET}));
        let pk = ed25519_dalek::SigningKey::from_bytes(&[1; 32])
            .verifying_key()
            .to_bytes();
        assert_eq!(out["address"], json!(Address::from_public_key(&pk).to_string()));
        assert_eq!(out["publicKey"], json!(hex0x(&pk)));
        assert_eq!(out.get("shard"), None, "no shard without the shard count");
        let out = ok(json!({"op": "key", "secret": SECRET, "numShards": 4}));
        assert_eq!(out["shard"], json!(Address::from_public_key(&pk).home_shard(4)));
    }

    #[test]
    fn views_decode_and_levels_match_the_core() {
        let g = Game {
            id: 3,
            player: Address([2; 32]),
            seed: [4; 32],
            stake: 20,
            level: 2,
            started: 10,
            deadline: 40,
            paid: 5,
            ended: Some(EndReason::Quit),
        };
        let out = ok(json!({"op": "puzzle.game", "data": hex0x(&Some(g.clone()).encode())}));
        assert_eq!(
            (out["id"].clone(), out["solved"].clone(), out["ended"].clone()),
            (json!(3), json!(1), json!("quit"))
        );
        assert_eq!(out["stake"], json!("20"));
        assert_eq!(ok(json!({"op": "puzzle.game", "data": "0x00"})), Value::Null);
        let level = ok(json!({"op": "puzzle.level", "seed": hex0x(&[4; 32]), "level": 7}));
        let b = tutti_puzzle_core::level(&[4; 32], 7).unwrap();
        assert_eq!(level["cells"], json!(b.cells));
        let moves: Vec<u8> =
            serde_json::from_value(ok(json!({"op": "puzzle.solve", "seed": hex0x(&[4; 32]), "level": 7}))).unwrap();
        assert_eq!(tutti_puzzle_core::verify(&[4; 32], 7, &moves), Ok(()));
        assert_eq!(
            ok(json!({"op": "decodeAmount", "data": hex0x(&7u128.encode())})),
            json!("7")
        );
        let c = Config {
            period_blocks: 15,
            min_stake: 20,
        };
        assert_eq!(
            ok(json!({"op": "puzzle.settings", "data": hex0x(&c.encode())})),
            json!({"periodBlocks": 15, "minStake": "20"})
        );
    }

    #[test]
    fn bad_requests_get_readable_errors() {
        assert!(err("{").starts_with("bad request"));
        assert!(err(r#"{"op":"nope"}"#).contains("unknown variant"));
        assert!(err(r#"{"op":"key","secret":"0x01"}"#).contains("32 bytes"));
        assert!(err(r#"{"op":"key","secret":"zz"}"#).contains("not hex"));
        assert!(err(r#"{"op":"puzzle.level","seed":"0x00","level":1}"#).contains("32 bytes"));
        let seed = hex0x(&[0; 32]);
        assert!(err(&format!(r#"{{"op":"puzzle.level","seed":"{seed}","level":101}}"#)).contains("does not exist"));
        assert!(err(r#"{"op":"decodeAmount","data":"0x01"}"#).contains("does not decode"));
        let bad_amount = json!({"op": "sign", "secret": SECRET, "chainId": 1, "nonce": 0, "gasLimit": 1,
            "gasPrice": "1", "action": {"type": "transfer", "to": Address([1; 32]).to_string(), "amount": "-5"}});
        assert!(err(&bad_amount.to_string()).contains("decimal string"));
        let bad_to = json!({"op": "sign", "secret": SECRET, "chainId": 1, "nonce": 0, "gasLimit": 1,
            "gasPrice": "1", "action": {"type": "transfer", "to": "tt1xyz", "amount": "5"}});
        assert!(err(&bad_to.to_string()).starts_with("to:"));
        assert_eq!(
            serde_json::from_str::<Value>(&handle_bytes(&[0xff, 0xfe])).unwrap()["error"],
            json!("the request is not UTF-8")
        );
    }

    #[test]
    fn lottery_args_views_and_events() {
        let alice = Address([1; 32]);
        assert_eq!(
            ok(json!({"op": "lottery.args", "method": "enter", "tickets": 3})),
            json!(hex0x(&(3u32,).encode()))
        );
        assert_eq!(
            ok(json!({"op": "lottery.args", "method": "enter_for", "player": alice.to_string(), "tickets": 2})),
            json!(hex0x(&(alice, 2u32).encode()))
        );
        assert_eq!(ok(json!({"op": "lottery.args", "method": "draw"})), json!("0x"));
        assert_eq!(
            ok(json!({"op": "lottery.args", "method": "tickets", "round": 4, "player": alice.to_string()})),
            json!(hex0x(&(4u64, alice).encode()))
        );
        assert_eq!(
            ok(json!({"op": "lottery.args", "method": "history", "before": 0, "limit": 10})),
            json!(hex0x(&(0u64, 10u32).encode()))
        );
        let round = lottery::Round {
            id: 2,
            price: 10,
            opened: 5,
            close: 15,
            tickets: 7,
            players: 2,
            entries: 3,
            pot: 70,
        };
        let r = ok(json!({"op": "lottery.round", "data": hex0x(&round.encode())}));
        assert_eq!(
            (r["id"].clone(), r["pot"].clone(), r["close"].clone()),
            (json!(2), json!("70"), json!(15))
        );
        let won = lottery::Settled {
            round,
            outcome: lottery::Outcome::Won {
                winner: alice,
                ticket: 4,
                prize: 63,
                fee: 7,
                randomness_height: 16,
            },
            settled_at: 18,
        };
        let refunded = lottery::Settled {
            outcome: lottery::Outcome::Refunded {
                player: alice,
                amount: 70,
            },
            ..won
        };
        let one = ok(json!({"op": "lottery.settled", "kind": "one", "data": hex0x(&won.encode())}));
        assert_eq!(one["outcome"]["winner"], json!(alice.to_string()));
        assert_eq!(one["outcome"]["prize"], json!("63"));
        assert_eq!(one["settledAt"], json!(18));
        let list = ok(json!({"op": "lottery.settled", "kind": "list", "data": hex0x(&vec![won, refunded].encode())}));
        assert_eq!(list[1]["outcome"]["kind"], json!("refunded"));
        assert_eq!(
            ok(json!({"op": "lottery.settled", "kind": "option", "data": "0x00"})),
            Value::Null
        );
        let t = lottery::PlayerTickets {
            count: 5,
            paid: 50,
            ranges: vec![(0, 2), (4, 3)],
        };
        assert_eq!(
            ok(json!({"op": "lottery.tickets", "data": hex0x(&t.encode())})),
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
        let ev = ok(json!({"op": "lottery.event", "name": "Entered", "data": hex0x(&e.encode())}));
        assert_eq!((ev["first"].clone(), ev["pot"].clone()), (json!(4), json!("70")));
        assert!(err(r#"{"op":"lottery.event","name":"Nope","data":"0x"}"#).contains("not a lottery event"));
        assert!(err(r#"{"op":"lottery.round","data":"0x01"}"#).contains("does not decode"));
        assert!(err(r#"{"op":"lottery.args","method":"enter","tickets":-1}"#).contains("invalid value"));
    }
}
