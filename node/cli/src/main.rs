//! The `tutti` command: a local chain (`tutti dev`), a wallet over JSON-RPC, a load generator
//! (`tutti bench`), contract tools and a local multi-shard simulator.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use tutti_primitives::Amount;

mod amount;
mod bench;
mod contract;
mod dev;
mod faucet;
mod probe;
mod returns;
mod scaffold;
mod sim;
mod site;
mod stake;
mod supervise;
mod testnet;
mod wallet;

/// Tutti: a WASM smart-contract platform on a sharded chain.
#[derive(Parser)]
#[command(name = "tutti", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a local single-node chain: embedded store, one validator, funded dev keys, the
    /// example contracts deployed, JSON-RPC on 127.0.0.1:9500.
    Dev(dev::DevArgs),
    /// Run one node of a committee (validator or full node) from a config file, over libp2p.
    Node(testnet::NodeArgs),
    /// Start a local multi-process network: keys, genesis and configs for V validators, then V
    /// `tutti node` processes on loopback until Ctrl-C.
    Testnet(testnet::TestnetArgs),
    /// Manage signing keys (stored in ~/.tutti/keys, or $TUTTI_KEYS_DIR).
    Keys {
        #[command(subcommand)]
        command: wallet::KeysCommand,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Send tokens.
    Send {
        #[command(flatten)]
        tx: wallet::TxArgs,
        /// Receiver: an address (on any shard), or devN for a dev account.
        #[arg(long)]
        to: String,
        /// Amount in tokens (`12.5`, `1,000`, `12.5TUTTI`), or in the smallest unit with `atto`
        /// (`5000atto`; 1 token = 10^18 atto).
        #[arg(long, value_parser = amount::parse_arg)]
        amount: Amount,
        #[command(flatten)]
        rpc: wallet::RpcArgs,
    },
    /// Deploy a wasm contract.
    Deploy {
        #[command(flatten)]
        tx: wallet::TxArgs,
        /// The wasm file.
        file: PathBuf,
        /// Method to run once deployed (e.g. init).
        #[arg(long)]
        init: Option<String>,
        #[command(flatten)]
        args: wallet::CallArgs,
        /// Tokens to give the contract: `12.5`, or `5000atto` in the smallest unit.
        #[arg(long, default_value = "0", value_parser = amount::parse_arg)]
        value: Amount,
        #[command(flatten)]
        rpc: wallet::RpcArgs,
    },
    /// Print a deployed contract's interface (its methods with their parameters and return
    /// types, its events), from the ABI its module carries; `--json` for the ABI itself.
    Abi {
        /// Contract address.
        contract: String,
        #[command(flatten)]
        rpc: wallet::RpcArgs,
    },
    /// Call a contract method in a transaction.
    Call {
        #[command(flatten)]
        tx: wallet::TxArgs,
        /// Contract address.
        contract: String,
        /// Method.
        method: String,
        #[command(flatten)]
        args: wallet::CallArgs,
        /// Tokens attached to the call: `12.5`, or `5000atto` in the smallest unit.
        #[arg(long, default_value = "0", value_parser = amount::parse_arg)]
        value: Amount,
        #[command(flatten)]
        rpc: wallet::RpcArgs,
    },
    /// Call a contract method read-only (no transaction, no fee).
    View {
        /// Contract address.
        contract: String,
        /// Method.
        method: String,
        #[command(flatten)]
        args: wallet::CallArgs,
        /// Decode the result as this type: u8 u16 u32 u64 u128 bool string address hash bytes,
        /// option<T>, vec<T>, (T, ...), enum{A, B(T, ...)}; a top-level comma list is a struct's
        /// fields in order, optionally named: --returns id=u64,pot=u128
        #[arg(long)]
        returns: Option<String>,
        #[command(flatten)]
        rpc: wallet::RpcArgs,
    },
    /// Show a transaction and its outcome.
    Tx {
        /// Transaction hash.
        hash: String,
        #[command(flatten)]
        rpc: wallet::RpcArgs,
    },
    /// Show a block (a height, `latest` or `earliest`).
    Block {
        /// Which block.
        #[arg(default_value = "latest")]
        which: String,
        /// Include whole transactions.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        rpc: wallet::RpcArgs,
    },
    /// Show an account (an address, or a key name such as dev0).
    Account {
        /// Address or key name.
        who: String,
        #[command(flatten)]
        rpc: wallet::RpcArgs,
    },
    /// Staking on the beacon chain: create or edit a validator, delegate, undelegate, collect
    /// rewards.
    #[command(subcommand)]
    Stake(stake::StakeCommand),
    /// The beacon chain's validators: stake, self-stake, delegators, commission, unpaid
    /// rewards, elected seats.
    Validators {
        #[command(flatten)]
        rpc: wallet::RpcArgs,
    },
    /// Load generator: signed native and token transfers against a node, sustained, with
    /// throughput and submit-to-final latency.
    Bench(bench::BenchArgs),
    /// Check and run contract modules locally, without a chain.
    #[command(subcommand)]
    Contract(contract::ContractCommand),
    /// Run the example contracts on an in-memory multi-shard network and print every block.
    Sim(sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Dev(a) => dev::run(a),
        Command::Node(a) => testnet::run_node(a),
        Command::Testnet(a) => testnet::run_testnet(a),
        Command::Keys { command, json } => wallet::keys(command, json),
        Command::Send { tx, to, amount, rpc } => wallet::send(rpc, tx, to, amount),
        Command::Deploy {
            tx,
            file,
            init,
            args,
            value,
            rpc,
        } => wallet::deploy(rpc, tx, file, init, args, value),
        Command::Call {
            tx,
            contract,
            method,
            args,
            value,
            rpc,
        } => wallet::call(rpc, tx, contract, method, args, value),
        Command::View {
            contract,
            method,
            args,
            returns,
            rpc,
        } => wallet::view(rpc, contract, method, args, returns),
        Command::Abi { contract, rpc } => wallet::abi(rpc, contract),
        Command::Tx { hash, rpc } => wallet::tx(rpc, hash),
        Command::Block { which, full, rpc } => wallet::block(rpc, which, full),
        Command::Account { who, rpc } => wallet::account(rpc, who),
        Command::Stake(c) => stake::run(c),
        Command::Validators { rpc } => stake::list(rpc),
        Command::Bench(a) => bench::run(a),
        Command::Contract(c) => contract::run(c),
        Command::Sim(a) => sim::run(a),
    }
}
