//! The `tutti` command. This release has the contract tools; the node, wallet and testnet
//! commands arrive with the chain (see the README for what is built).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod contract;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Contract(c) => contract::run(c),
    }
}
