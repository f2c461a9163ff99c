//! `tutti sim`: the example contracts on an in-memory multi-shard network (the runtime's local
//! executor: real contract execution and receipt routing, no consensus, no disk), printed block by
//! block. It shows a cross-shard call and its callback, a callee failure, and a token
//! `transfer_and_call` whose receiver fails and is refunded.

use std::{process::ExitCode, sync::Arc};

use clap::Args;
use tutti_primitives::{
    Address,
    codec::{Decode, Encode},
};
use tutti_runtime::{
    Runtime, RuntimeConfig,
    local::{Execution, LocalNet},
};

/// Arguments of `tutti sim`.
#[derive(Args)]
pub struct SimArgs {
    /// Number of shards (2 to 16).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=16))]
    shards: u32,
}

fn describe(e: &Execution) -> String {
    let what = match (&e.method, e.transaction) {
        (Some(m), true) => format!("tx: call {m}"),
        (None, true) => "tx: transfer".to_string(),
        (Some(m), false) => format!("call {m}"),
        (None, false) => "transfer".to_string(),
    };
    let result = match &e.result {
        Ok(_) => "ok".to_string(),
        Err(f) => format!("FAILED ({f})"),
    };
    let events: Vec<&str> = e.events.iter().map(|ev| ev.name.as_str()).collect();
    format!(
        "shard {} | {what} on {} | {result} | gas burnt {} | events [{}]",
        e.shard,
        short(&e.receiver),
        e.gas_burnt,
        events.join(", ")
    )
}

fn short(a: &Address) -> String {
    let s = a.to_string();
    format!("{}..{}", &s[..8], &s[s.len() - 4..])
}

/// Runs the simulation.
pub fn run(args: SimArgs) -> ExitCode {
    let runtime = match Runtime::new(RuntimeConfig::default()) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut net = LocalNet::new(runtime, args.shards);
    let last = args.shards - 1;
    let (user, key) = net.create_account(0, 1_000_000_000_000);
    let deployed = (|| -> Result<_, tutti_runtime::local::LocalError> {
        let init = ("Tutti".to_string(), "TUT".to_string(), 6u8, 1_000_000u128).encode();
        let token = net.deploy(0, tutti_examples::TOKEN, user, Some(("init", init)))?;
        let a = net.deploy(0, tutti_examples::PING_PONG, user, None)?;
        let b = net.deploy(last, tutti_examples::PING_PONG, user, None)?;
        Ok((token, a, b))
    })();
    let (token, a, b) = match deployed {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: deploying the examples failed: {e}");
            return ExitCode::from(1);
        }
    };
    println!("{} shards; user {} on shard 0", args.shards, user);
    println!(
        "token {} (shard 0), ping-pong A {} (shard 0), B {} (shard {last})\n",
        token, a, b
    );
    let gas = 100_000_000;
    let txs = [
        (
            "A.ping(B, 4): cross-shard call + callback",
            net.call(&key, a, "ping", (b, 4u64).encode(), 0, gas),
        ),
        (
            "A.ping(B, 13): the callee fails, the callback sees it",
            net.call(&key, a, "ping", (b, 13u64).encode(), 0, gas),
        ),
        (
            "token.transfer_and_call(B, 100, \"fail\"): refunded",
            net.call(
                &key,
                token,
                "transfer_and_call",
                (b, 100u128, b"fail".to_vec()).encode(),
                0,
                gas,
            ),
        ),
    ];
    let mut hashes = Vec::new();
    for (label, r) in txs {
        match r {
            Ok(h) => {
                println!("submitted {h}: {label}");
                hashes.push(h);
            }
            Err(e) => {
                eprintln!("error: {label}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    println!();
    for _ in 0..20 {
        let report = net.produce_block();
        if report.executed.iter().all(|v| v.is_empty()) {
            break;
        }
        println!("block {}", report.height);
        for ids in &report.executed {
            for id in ids {
                if let Some(e) = net.execution(id) {
                    println!("  {}", describe(e));
                }
            }
        }
    }
    println!();
    fn view<T: Decode>(net: &LocalNet, c: &Address, method: &str, args: Vec<u8>) -> Option<T> {
        let out = net.view(c, method, args).ok()?.result.ok()?;
        T::decode(&mut out.as_slice()).ok()
    }
    println!(
        "A.last_pong = {:?}, A.failures = {:?}",
        view::<Option<u64>>(&net, &a, "last_pong", vec![]).flatten(),
        view::<u32>(&net, &a, "failures", vec![])
    );
    println!(
        "token.balance_of(user) = {:?} (the 100 sent with transfer_and_call came back)",
        view::<u128>(&net, &token, "balance_of", (user,).encode())
    );
    for s in 0..args.shards {
        println!("state root of shard {s}: {}", net.state_root(s));
    }
    ExitCode::SUCCESS
}
