//! The peer runtime benchmark: one fungible-token transfer between two existing holders, from
//! cached compiled code, state in memory, gas metering on as each platform runs it in production:
//!
//! - `tutti`: Tutti's runtime (wasmtime, fuel, pooled instances) with the example token;
//! - `bare-wasmtime`: the same module on wasmtime without metering over a hash-map host (the
//!   runtime benchmark's baseline; a floor, not a peer);
//! - `wasmi`: wasmi with fuel (the engine of pallet-contracts / ink!) on Tutti's token, same host;
//! - `revm`: the EVM, with an ERC-20 written in Solidity (`bench/solidity`);
//! - `cosmwasm`: cosmwasm-vm (wasmd's VM) with cw20-base.
//!
//! `peers --cw20 PATH [--rounds R] [--batch N] [--instructions FILE]` times every engine in
//! alternating batches and prints a markdown table (min / median / max per transfer, the median
//! of each round's ratio to Tutti); `peers --cw20 PATH --callgrind ENGINE [--iters N]` runs only
//! that engine's measured loop, for `valgrind --tool=callgrind --toggle-collect=...`. `bench/run`
//! does both (see bench/README.md).

use std::{collections::BTreeMap, hint::black_box, path::PathBuf, time::Instant};

#[path = "../../../runtime/benches/common/mod.rs"]
mod common;
mod cosmwasm;
mod evm;
mod tutti;
mod wasmi_engine;

/// One platform ready to run the same transfer again and again.
pub trait Transfer {
    /// Runs the transfer once, checks it succeeded and returns the gas it used in the platform's
    /// own unit (0 without metering).
    fn transfer(&mut self) -> u64;
    /// Runs it once and checks its effects (balances written, the event); describes the gas.
    fn verify(&mut self) -> String;
}

static TOKEN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();

/// Tutti's token module: the example's build (`tutti_examples::TOKEN`) or `--token PATH`.
pub fn token() -> &'static [u8] {
    TOKEN.get_or_init(|| tutti_examples::TOKEN.to_vec())
}

const ENGINES: [&str; 5] = ["tutti", "bare-wasmtime", "wasmi", "revm", "cosmwasm"];

fn engine(name: &str, cw20: &std::path::Path, slots: u32) -> Box<dyn Transfer> {
    match name {
        "tutti" => Box::new(tutti::Tutti::new(slots)),
        "bare-wasmtime" => Box::new(tutti::BareWasmtime::new(slots)),
        "wasmi" => Box::new(wasmi_engine::Wasmi::new()),
        "revm" => Box::new(evm::Revm::new()),
        "cosmwasm" => Box::new(cosmwasm::CosmWasm::new(cw20)),
        other => fail(&format!("unknown engine {other:?}: one of {}", ENGINES.join(", "))),
    }
}

/// What callgrind counts: `n` transfers and nothing else.
#[inline(never)]
fn measured_transfers(e: &mut dyn Transfer, n: u64) -> u64 {
    let mut gas = 0u64;
    for _ in 0..n {
        gas = gas.wrapping_add(black_box(e.transfer()));
    }
    gas
}

/// Transfers outside the counted function (caches, lazy initialisation, the allocator).
fn warm_up(e: &mut dyn Transfer, n: u64) {
    for _ in 0..n {
        black_box(e.transfer());
    }
}

struct Args {
    cw20: PathBuf,
    rounds: usize,
    batch: u64,
    callgrind: Option<String>,
    iters: u64,
    instructions: Option<PathBuf>,
    token: Option<PathBuf>,
}

fn fail(msg: &str) -> ! {
    eprintln!("peers: {msg}");
    std::process::exit(2)
}

fn parse() -> Args {
    let mut a = Args {
        cw20: PathBuf::new(),
        rounds: 15,
        batch: 2_000,
        callgrind: None,
        iters: 2_000,
        instructions: None,
        token: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--cw20" => a.cw20 = value().into(),
            "--rounds" => a.rounds = value().parse().unwrap_or_else(|_| fail("--rounds: a number")),
            "--batch" => a.batch = value().parse().unwrap_or_else(|_| fail("--batch: a number")),
            "--iters" => a.iters = value().parse().unwrap_or_else(|_| fail("--iters: a number")),
            "--callgrind" => a.callgrind = Some(value()),
            "--instructions" => a.instructions = Some(value().into()),
            "--token" => a.token = Some(value().into()),
            "-h" | "--help" => {
                println!(
                    "peers --cw20 PATH [--rounds R] [--batch N] [--instructions FILE] [--token PATH]\n\
                     peers --cw20 PATH --callgrind ENGINE [--iters N] [--token PATH]\n\n\
                     Engines: {}. Run through bench/run, which builds cw20-base and counts instructions.\n\
                     --token: another build of Tutti's token for tutti, bare-wasmtime and wasmi.",
                    ENGINES.join(", ")
                );
                std::process::exit(0)
            }
            other => fail(&format!("unknown argument {other:?} (try --help)")),
        }
    }
    if a.cw20.as_os_str().is_empty() {
        fail("--cw20 PATH (cw20-base built to wasm32) is required; bench/run builds it")
    }
    a
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn main() {
    let args = parse();
    if let Some(path) = &args.token {
        let wasm = std::fs::read(path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        TOKEN.set(wasm).expect("set once");
    }
    if let Some(name) = &args.callgrind {
        // Two pooled slots: valgrind cannot reserve the address space of the default 64.
        let mut e = engine(name, &args.cw20, 2);
        eprintln!("{name}: {}", e.verify());
        warm_up(e.as_mut(), 100);
        let gas = measured_transfers(e.as_mut(), args.iters);
        println!("{name}: {} transfers, gas {}", args.iters, gas / args.iters);
        return;
    }
    let instructions: BTreeMap<String, f64> = match &args.instructions {
        Some(path) => std::fs::read_to_string(path)
            .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())))
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect(),
        None => BTreeMap::new(),
    };
    let mut engines: Vec<(&str, Box<dyn Transfer>, String)> = ENGINES
        .iter()
        .map(|name| {
            let mut e = engine(name, &args.cw20, 64);
            let gas = e.verify();
            eprintln!("{name}: transfer verified ({gas})");
            (*name, e, gas)
        })
        .collect();
    for (_, e, _) in engines.iter_mut() {
        warm_up(e.as_mut(), args.batch / 2);
    }
    // Rounds of one batch per engine, the order rotated each round, so a slow spell of the
    // machine falls on every engine alike; ratios are taken within each round.
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); engines.len()];
    for round in 0..args.rounds {
        for k in 0..engines.len() {
            let i = (k + round) % engines.len();
            let start = Instant::now();
            measured_transfers(engines[i].1.as_mut(), args.batch);
            per[i].push(start.elapsed().as_secs_f64() * 1e6 / args.batch as f64);
        }
        eprint!("\rround {}/{}", round + 1, args.rounds);
    }
    eprintln!();
    let tutti = 0;
    println!(
        "| engine | µs per transfer (min / median / max of {} rounds of {}) | transfers/s (median) | time vs Tutti | instructions per transfer | instructions vs Tutti | gas per transfer |",
        args.rounds, args.batch
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, (name, _, gas)) in engines.iter().enumerate() {
        let v = &per[i];
        let ratios: Vec<f64> = v.iter().zip(&per[tutti]).map(|(a, b)| a / b).collect();
        let (instr, instr_ratio) = match (instructions.get(*name), instructions.get("tutti")) {
            (Some(n), Some(t)) => (format!("{n:.0}"), format!("{:.2}x", n / t)),
            _ => ("-".into(), "-".into()),
        };
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(0.0, f64::max);
        println!(
            "| {name} | {min:.2} / {:.2} / {max:.2} | {:.0} | {:.2}x | {instr} | {instr_ratio} | {gas} |",
            median(v),
            1e6 / median(v),
            median(&ratios),
        );
    }
}
