//! `tutti contract new`, `build`, `check` and `run`.
//!
//! Exit codes: 0 success; 1 the contract call failed; 2 usage, file or validation errors.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use clap::{Args, Subcommand};
use tutti_primitives::{Address, Amount, Gas};
use tutti_runtime::{CallContext, CallOutcome, EmptyState, Runtime, RuntimeConfig, RuntimeError};

/// Contract subcommands.
#[derive(Subcommand)]
pub enum ContractCommand {
    /// Create a contract crate that builds outside this repository: the SDK dependency, a
    /// size-optimised release profile, the wasm stack setting, an example contract with an event
    /// and its native unit tests.
    New {
        /// The crate's name (and directory): lowercase letters, digits, `-` and `_`.
        name: String,
        /// The SDK (`contract-sdk` of a tutti checkout; default: the one this binary was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build the contract crate in `--path` for wasm32 (release), embed its ABI, and validate
    /// the module exactly as the chain does at upload; writes `TARGET/tutti/NAME.wasm`.
    Build {
        /// The crate's directory.
        #[arg(long, default_value = ".")]
        path: PathBuf,
    },
    /// Validate a wasm module against the upload rules (exit 0 if valid, 2 with the rule broken).
    Check {
        /// The wasm file.
        file: PathBuf,
    },
    /// Execute one method against empty in-memory state and print the outcome
    /// (exit 0 on success, 1 when the contract fails, 2 on usage or validation errors).
    Run(RunArgs),
}

/// Arguments of `tutti contract run`.
#[derive(Args)]
pub struct RunArgs {
    /// The wasm file.
    file: PathBuf,
    /// The exported method to call.
    method: String,
    /// SCALE-encoded arguments as hex (with or without 0x), e.g. the tuple of the method's parameters.
    #[arg(long, default_value = "")]
    args_hex: String,
    /// Gas limit.
    #[arg(long, default_value_t = 100_000_000)]
    gas: Gas,
    /// Tokens attached to the call, in the smallest unit (10^-18 token).
    #[arg(long, default_value_t = 0)]
    value: Amount,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

const USAGE: u8 = 2;

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(USAGE)
}

/// Runs a contract subcommand.
pub fn run(cmd: ContractCommand) -> ExitCode {
    let runtime = match Runtime::new(RuntimeConfig::default()) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    match cmd {
        ContractCommand::New { name, sdk } => crate::scaffold::new(&name, sdk),
        ContractCommand::Build { path } => crate::scaffold::build(&runtime, &path),
        ContractCommand::Check { file } => {
            let wasm = match std::fs::read(&file) {
                Ok(w) => w,
                Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
            };
            match runtime.check(&wasm) {
                Ok(methods) => {
                    println!("{}: valid ({} bytes)", file.display(), wasm.len());
                    println!("methods: {}", methods.into_iter().collect::<Vec<_>>().join(", "));
                    println!("deploy gas: {}", runtime.schedule().deploy_cost(wasm.len()));
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("{}: invalid: {e}", file.display())),
            }
        }
        ContractCommand::Run(args) => run_method(&runtime, args),
    }
}

fn run_method(runtime: &Runtime, a: RunArgs) -> ExitCode {
    let wasm = match std::fs::read(&a.file) {
        Ok(w) => w,
        Err(e) => return fail(format!("cannot read {}: {e}", a.file.display())),
    };
    let hex_args = a.args_hex.trim().trim_start_matches("0x");
    let args = match hex::decode(hex_args) {
        Ok(v) => v,
        Err(e) => return fail(format!("--args-hex is not valid hex: {e}")),
    };
    let loaded = match runtime.load(&wasm) {
        Ok(l) => l,
        Err(RuntimeError::Invalid(e)) => return fail(format!("{}: invalid: {e}", a.file.display())),
        Err(e) => return fail(e),
    };
    let contract = Address::for_contract(&Address::default(), 0);
    let caller = Address::from_public_key(&[1; 32]);
    let mut ctx = CallContext::new(contract, caller, a.method.clone(), args, a.gas);
    ctx.value = a.value;
    ctx.balance = a.value;
    let out = match runtime.execute(&loaded.code_hash, ctx, Arc::new(EmptyState)) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    if a.json {
        println!("{}", to_json(&out, a.gas));
    } else {
        print_outcome(&out, a.gas);
    }
    if out.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_outcome(out: &CallOutcome, limit: Gas) {
    match &out.result {
        Ok(_) => println!("status:   success"),
        Err(f) => println!("status:   failed ({})", f.kind),
    }
    println!("gas used: {} of {limit}", out.gas_used);
    if let Ok(data) = &out.result {
        println!("return:   0x{}", hex::encode(data));
    }
    for e in &out.events {
        println!("event:    {} 0x{}", e.name, hex::encode(&e.data));
    }
    for l in &out.logs {
        println!("log:      {l}");
    }
    for ch in &out.state_changes {
        match &ch.value {
            Some(v) => println!("storage:  0x{} = 0x{}", hex::encode(&ch.key), hex::encode(v)),
            None => println!("storage:  0x{} removed", hex::encode(&ch.key)),
        }
    }
    for r in &out.receipts {
        println!("receipt:  to {} (shard {}) {:?}", r.receiver, r.dest_shard, r.body);
    }
    if let Err(f) = &out.result {
        println!("error:    {f}");
    }
}

#[derive(serde::Serialize)]
struct JsonEvent {
    name: String,
    data: String,
}

#[derive(serde::Serialize)]
struct JsonError {
    kind: String,
    message: String,
}

/// The `--json` shape; field order is the output order.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonOutcome {
    status: &'static str,
    gas_used: String,
    gas_limit: String,
    #[serde(rename = "return")]
    return_data: Option<String>,
    events: Vec<JsonEvent>,
    logs: Vec<String>,
    error: Option<JsonError>,
}

fn to_json(out: &CallOutcome, limit: Gas) -> String {
    let (status, return_data, error) = match &out.result {
        Ok(d) => ("success", Some(format!("0x{}", hex::encode(d))), None),
        Err(f) => (
            "failed",
            None,
            Some(JsonError {
                kind: f.kind.to_string(),
                message: f.message.clone(),
            }),
        ),
    };
    let json = JsonOutcome {
        status,
        gas_used: out.gas_used.to_string(),
        gas_limit: limit.to_string(),
        return_data,
        events: out
            .events
            .iter()
            .map(|e| JsonEvent {
                name: e.name.clone(),
                data: format!("0x{}", hex::encode(&e.data)),
            })
            .collect(),
        logs: out.logs.clone(),
        error,
    };
    serde_json::to_string(&json).expect("plain strings and vectors always serialize")
}
