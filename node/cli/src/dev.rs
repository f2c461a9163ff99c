//! `tutti dev`: one process with an embedded store, one validator, funded dev keys, the example
//! contracts deployed, and the RPC server.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::Args;
use parity_scale_codec::Encode;
use tutti_chain::{Genesis, MempoolConfig};
use tutti_consensus::fbft::core::Config as CoreConfig;
use tutti_node::{
    Node, NodeConfig, RpcConfig,
    builder::{self, Launch, LaunchError, Transport},
    consensus::ShellConfig,
    dev::{self, DEV_ACCOUNTS},
};
use tutti_primitives::{Action, Address, Amount, PublicKey, Transaction};

/// Arguments of `tutti dev`.
#[derive(Args)]
pub struct DevArgs {
    /// Where the chain is stored; a second start on the same directory continues the same chain.
    #[arg(long, default_value = ".tutti-dev")]
    pub data_dir: PathBuf,
    /// RPC listen address (HTTP and WebSocket).
    #[arg(long, default_value = "127.0.0.1:9500")]
    pub rpc_addr: SocketAddr,
    /// Milliseconds between blocks.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub block_time: u64,
    /// Most transactions per block.
    #[arg(long, default_value_t = 50_000)]
    pub max_block_txs: usize,
    /// Most transactions in the pool.
    #[arg(long, default_value_t = 200_000)]
    pub max_pool: usize,
    /// Genesis file to use on the first start (default: the dev genesis, written to
    /// DATA_DIR/genesis.json). Its validator must be the dev validator.
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// Do not deploy the example contracts on the first start.
    #[arg(long)]
    pub no_examples: bool,
    /// Seconds a Lottery round sells tickets (converted to blocks at deploy, on the first start).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub lottery_round_secs: u64,
}

/// One whole token: 10^18 units.
pub const TOKEN: Amount = 1_000_000_000_000_000_000;
/// The Puzzle prize pool `tutti dev` funds at deploy.
pub const PUZZLE_POOL: Amount = 1_000_000 * TOKEN;
/// The smallest Puzzle stake.
pub const PUZZLE_MIN_STAKE: Amount = 20 * TOKEN;

/// The Lottery ticket price on `tutti dev`.
pub const LOTTERY_PRICE: Amount = 10 * TOKEN;
/// The Lottery house fee on `tutti dev`: 5 %, paid to dev0.
pub const LOTTERY_FEE_BPS: u16 = 500;

/// A contract `tutti dev` deploys on a new chain.
pub struct Example {
    /// Name.
    pub name: &'static str,
    /// Wasm.
    pub code: &'static [u8],
    /// Init method and its SCALE arguments.
    pub init: Option<(&'static str, Vec<u8>)>,
    /// Tokens moved into it.
    pub value: Amount,
}

/// Blocks in Puzzle's 15-second period at this block time (at least 1).
pub fn puzzle_period_blocks(block_time_ms: u64) -> u64 {
    blocks_in(15, block_time_ms)
}

/// Blocks in `secs` seconds at this block time (at least 1).
pub fn blocks_in(secs: u64, block_time_ms: u64) -> u64 {
    (secs * 1_000).div_ceil(block_time_ms.max(1)).max(1)
}

/// The contracts `tutti dev` deploys from dev account 0 on a new chain, in nonce order: the
/// examples, then the dApps.
pub fn examples(block_time_ms: u64, lottery_round_secs: u64) -> Vec<Example> {
    let token_init = (
        "Tutti Token".to_string(),
        "TUT".to_string(),
        18u8,
        1_000_000_000u128 * TOKEN,
    )
        .encode();
    vec![
        Example {
            name: "counter",
            code: tutti_examples::COUNTER,
            init: Some(("init", 0u64.encode())),
            value: 0,
        },
        Example {
            name: "token",
            code: tutti_examples::TOKEN,
            init: Some(("init", token_init)),
            value: 0,
        },
        Example {
            name: "ping-pong",
            code: tutti_examples::PING_PONG,
            init: None,
            value: 0,
        },
        Example {
            name: "puzzle",
            code: tutti_examples::PUZZLE,
            init: Some(("init", (puzzle_period_blocks(block_time_ms), PUZZLE_MIN_STAKE).encode())),
            value: PUZZLE_POOL,
        },
        Example {
            name: "lottery",
            code: tutti_examples::LOTTERY,
            init: Some((
                "init",
                (
                    LOTTERY_PRICE,
                    blocks_in(lottery_round_secs, block_time_ms),
                    LOTTERY_FEE_BPS,
                    dev::dev_address(0),
                )
                    .encode(),
            )),
            value: 0,
        },
    ]
}

/// Index of the Puzzle contract in [`examples`].
pub const PUZZLE_INDEX: u64 = 3;
/// Index of the Lottery contract in [`examples`].
pub const LOTTERY_INDEX: u64 = 4;

/// The address of example `i` (deployed by dev account 0 with nonce `i`).
pub fn example_address(i: u64) -> Address {
    Address::for_contract(&dev::dev_address(0), i)
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logs() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,jsonrpsee=warn,libp2p_gossipsub=error".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: `tutti testnet` sends node logs to files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Runs `tutti dev`.
pub fn run(args: DevArgs) -> ExitCode {
    init_logs();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    rt.block_on(run_async(args))
}

fn load_genesis(args: &DevArgs) -> Result<Genesis, String> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", args.data_dir.display()))?;
    let stored = args.data_dir.join("genesis.json");
    if stored.exists() {
        if let Some(g) = &args.genesis {
            let given = Genesis::from_file(g).map_err(|e| e.to_string())?;
            let existing = Genesis::from_file(&stored).map_err(|e| e.to_string())?;
            if given != existing {
                return Err(format!(
                    "{} already holds a chain with another genesis; use a new --data-dir for {}",
                    args.data_dir.display(),
                    g.display()
                ));
            }
        }
        return Genesis::from_file(&stored).map_err(|e| e.to_string());
    }
    let g = match &args.genesis {
        Some(path) => Genesis::from_file(path).map_err(|e| e.to_string())?,
        None => dev::dev_genesis(),
    };
    std::fs::write(&stored, g.to_json()).map_err(|e| format!("cannot write {}: {e}", stored.display()))?;
    Ok(g)
}

async fn run_async(args: DevArgs) -> ExitCode {
    let genesis = match load_genesis(&args) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let config = NodeConfig {
        shard: None,
        genesis,
        data_dir: Some(args.data_dir.clone()),
        validator: Some(dev::dev_validator()),
        block_time: Duration::from_millis(args.block_time),
        max_block_txs: args.max_block_txs,
        mempool: MempoolConfig {
            max_txs: args.max_pool,
            ..MempoolConfig::default()
        },
    };
    let pages = crate::site::site(&crate::site::PageConfig {
        chain_id: config.genesis.chain_id,
        block_time_ms: args.block_time,
        puzzle: example_address(PUZZLE_INDEX),
        lottery: example_address(LOTTERY_INDEX),
        faucet: true,
    });
    // The same start as any node: the FBFT shell, here with a committee of one and no peers.
    let launched = match builder::launch(Launch {
        node: config,
        rpc: RpcConfig {
            addr: args.rpc_addr,
            ..RpcConfig::default()
        },
        shell: ShellConfig {
            record_dir: Some(args.data_dir.join("signing")),
            core: CoreConfig::default(),
            block_time: Duration::from_millis(args.block_time),
        },
        transport: Transport::Alone,
        site: Some(pages),
        extras: Some(Box::new(|node| crate::faucet::faucet_module(node).into())),
    })
    .await
    {
        Ok(l) => l,
        Err(e @ LaunchError::Rpc { .. }) => return fail(format!("{e} (is another node running? pass --rpc-addr)")),
        Err(e) => return fail(format!("cannot start the chain in {}: {e}", args.data_dir.display())),
    };
    let node = launched.node.clone();
    let addr = launched.rpc_addr;
    let head = node.chain().head().header.clone();
    let fresh = head.height == 0;
    println!("Tutti dev chain");
    println!("  chain id     {}", head.chain_id);
    println!("  genesis      {}", node.chain().genesis_hash());
    println!("  data dir     {}", args.data_dir.display());
    println!(
        "  head         {} ({})",
        head.height,
        if fresh { "new chain" } else { "continuing" }
    );
    println!("  block time   {} ms", args.block_time);
    println!("  RPC          http://{addr}  ws://{addr}");
    println!("  Puzzle       http://{addr}/puzzle/");
    println!("  Lottery      http://{addr}/lottery/");
    println!(
        "  faucet       dev_faucet(address) pays 1000 tokens from dev{}",
        crate::faucet::FAUCET_ACCOUNT
    );
    println!();
    println!("Dev accounts (well-known keys: for development only):");
    for i in 0..DEV_ACCOUNTS {
        let a = dev::dev_address(i);
        let bal = node.chain().account(&a, head.height).map(|a| a.balance).unwrap_or(0);
        println!(
            "  dev{i:<2} {a}  balance {bal}  secret 0x{}",
            hex::encode(dev::dev_key(i).to_bytes())
        );
    }

    // Consensus runs from here on; the examples are deployed through it.
    let running = tokio::spawn(launched.run_until(async {
        wait_for_signal().await;
        eprintln!("stopping...");
    }));

    if !args.no_examples {
        if fresh && let Err(e) = deploy_examples(&node, args.block_time, args.lottery_round_secs).await {
            eprintln!("warning: deploying the example contracts failed: {e}");
        }
        println!();
        println!("Example contracts:");
        let h = node.chain().head().header.height;
        for (i, Example { name, .. }) in examples(args.block_time, args.lottery_round_secs).iter().enumerate() {
            let a = example_address(i as u64);
            let deployed = node
                .chain()
                .account(&a, h)
                .map(|acc| acc.code_hash.is_some())
                .unwrap_or(false);
            println!("  {name:<10} {a}{}", if deployed { "" } else { "  (not deployed)" });
        }
    }
    println!();
    println!(
        "Ready. Try: tutti send --from dev0 --to {} --amount 1000",
        dev::dev_address(1)
    );
    println!("Stop with Ctrl-C.");

    let result = running.await;
    let h = node.chain().head().header.height;
    drop(node);
    match result {
        Ok(Ok(())) => {
            eprintln!("stopped cleanly at height {h}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => fail(e),
        Err(e) => fail(format!("the chain task failed at height {h}: {e}")),
    }
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn deploy_examples(node: &Arc<Node>, block_time_ms: u64, lottery_round_secs: u64) -> Result<(), String> {
    let key = dev::dev_key(0);
    let chain_id = node.config().genesis.chain_id;
    let mut hashes = Vec::new();
    for (nonce, ex) in examples(block_time_ms, lottery_round_secs).into_iter().enumerate() {
        let Example {
            name,
            code,
            init,
            value,
        } = ex;
        let (init_method, args) = match init {
            Some((m, a)) => (Some(m.to_string()), a),
            None => (None, Vec::new()),
        };
        let tx = Transaction {
            chain_id,
            signer: PublicKey(key.verifying_key().to_bytes()),
            nonce: nonce as u64,
            gas_limit: 2_000_000_000,
            gas_price: 1,
            action: Action::Deploy {
                code: code.to_vec(),
                init_method,
                args,
                value,
            },
        }
        .sign(&key);
        let bytes = tx.encode();
        let n = node.clone();
        let hash = tokio::task::spawn_blocking(move || n.submit_raw(&bytes))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{name}: {e}"))?;
        hashes.push((name, hash));
    }
    // Wait until all are in a block and their init calls ran.
    let mut heads = node.subscribe_heads();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = hashes.iter().all(|(_, h)| {
            node.chain()
                .execution_tree(h, 16)
                .map(|t| {
                    !t.is_empty()
                        && t.iter()
                            .all(|(_, e)| e.children.iter().all(|c| t.iter().any(|(id, _)| id == c)))
                })
                .unwrap_or(false)
        });
        if done {
            break;
        }
        match tokio::time::timeout_at(deadline, heads.recv()).await {
            Ok(_) => {}
            Err(_) => return Err("the deploy transactions were not committed within 60 s".into()),
        }
    }
    for (name, h) in &hashes {
        let tree = node.chain().execution_tree(h, 16).map_err(|e| e.to_string())?;
        if let Some(f) = tree.iter().find_map(|(_, e)| e.result.as_ref().err()) {
            return Err(format!("{name}: {f}"));
        }
    }
    Ok(())
}
