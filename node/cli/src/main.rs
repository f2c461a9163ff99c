//! The `tutti` command. This release has the contract tools; the node, wallet and testnet
//! commands arrive with the chain (see the README for what is built).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod contract;
mod sim;

/// Tutti: a WASM smart-contract platform on a sharded chain.
#[derive(Parser)]
#[command(name = "tutti", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check and run contract modules locally, without a chain.
    #[command(subcommand)]
    Contract(contract::ContractCommand),
    /// Run the example contracts on an in-memory multi-shard network and print every block.
    Sim(sim::SimArgs),
    /// Start a local chain with the dApps (not built yet: arrives with the single-node chain).
    Dev,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Contract(c) => contract::run(c),
        Command::Sim(a) => sim::run(a),
        Command::Dev => {
            eprintln!(
                "error: `tutti dev` is not built yet: the single-node chain (ledger, storage, RPC) is the next \
                 milestone. Today you can run `tutti sim`, `tutti contract check` and `tutti contract run`."
            );
            ExitCode::from(2)
        }
    }
}
