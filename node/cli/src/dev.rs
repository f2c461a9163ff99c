//! `tutti dev`: one process running every shard of a development chain (two by default), each
//! with an embedded store and a validator of its own, funded dev keys, the example contracts
//! deployed across the shards, a cross-shard call shown at start, and one RPC server for all.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::Args;
use parity_scale_codec::Encode;
use tutti_chain::{Genesis, MempoolConfig};
use tutti_consensus::fbft::core::Config as CoreConfig;
use tutti_node::{
    NodeConfig, RpcConfig, Shards,
    builder::{self, Launch, LaunchError, Transport},
    consensus::ShellConfig,
    dev::{self, DEV_ACCOUNTS},
};
use tutti_primitives::{Action, Address, Amount, Hash, PublicKey, ShardId, Transaction};

/// Arguments of `tutti dev`.
#[derive(Args)]
pub struct DevArgs {
    /// Where the chain is stored; a second start on the same directory continues the same chain.
    #[arg(long, default_value = ".tutti-dev")]
    pub data_dir: PathBuf,
    /// Shards, all run in this process, each by a validator of its own (default: 2 for a new
    /// chain; an existing data directory keeps the number it was created with).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=tutti_chain::genesis::MAX_SHARDS as i64))]
    pub shards: Option<u32>,
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
    /// Keep the state of only this many blocks below the head (older state versions are
    /// pruned; proofs and calls against them fail with STATE_PRUNED). Default: keep all.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub state_window: Option<u64>,
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
pub use tutti_primitives::TOKEN;
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
/// Index of the ping-pong contract in [`examples`].
pub const PING_PONG_INDEX: u64 = 2;

/// Who deploys the second ping-pong, and with which nonce: a dev account on another shard than
/// dev0 (a contract lives on its deployer's shard), so the two play a cross-shard call; dev0
/// itself after its examples on a chain of one shard.
pub fn second_ping_pong(num_shards: u32) -> (u32, u64) {
    let home = dev::dev_address(0).home_shard(num_shards);
    (1..crate::faucet::FAUCET_ACCOUNT)
        .find(|&i| dev::dev_address(i).home_shard(num_shards) != home)
        .map_or((0, examples(1_000, 60).len() as u64), |i| (i, 0))
}

/// The address of the second ping-pong.
pub fn second_ping_pong_address(num_shards: u32) -> Address {
    let (deployer, nonce) = second_ping_pong(num_shards);
    Address::for_contract(&dev::dev_address(deployer), nonce)
}

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
        let g = Genesis::from_file(&stored).map_err(|e| e.to_string())?;
        if let Some(asked) = args.shards
            && asked != g.num_shards
        {
            return Err(format!(
                "{} holds a chain of {} shard(s), not {asked}; leave out --shards, or use a new --data-dir",
                args.data_dir.display(),
                g.num_shards
            ));
        }
        return Ok(g);
    }
    let g = match &args.genesis {
        Some(path) => Genesis::from_file(path).map_err(|e| e.to_string())?,
        None => dev::dev_genesis_of(args.shards.unwrap_or(2)),
    };
    if let Some(asked) = args.shards
        && asked != g.num_shards
    {
        return Err(format!("the genesis file has {} shard(s), not {asked}", g.num_shards));
    }
    std::fs::write(&stored, g.to_json()).map_err(|e| format!("cannot write {}: {e}", stored.display()))?;
    Ok(g)
}

/// Where shard `shard`'s store lives: the data directory for shard 0, `shard-N` in it for others.
pub fn shard_dir(data_dir: &std::path::Path, shard: ShardId) -> PathBuf {
    if shard == 0 {
        data_dir.to_path_buf()
    } else {
        data_dir.join(format!("shard-{shard}"))
    }
}

async fn run_async(args: DevArgs) -> ExitCode {
    let genesis = match load_genesis(&args) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let num_shards = genesis.num_shards.max(1);
    let nodes: Vec<NodeConfig> = (0..num_shards)
        .map(|shard| NodeConfig {
            shard: Some(shard),
            genesis: genesis.clone(),
            data_dir: Some(shard_dir(&args.data_dir, shard)),
            // Every shard holds every dev key, so it signs whichever the election seats there.
            validators: std::iter::once(shard)
                .chain((0..num_shards).filter(|s| *s != shard))
                .map(dev::dev_validator_of)
                .collect(),
            block_time: Duration::from_millis(args.block_time),
            max_block_txs: args.max_block_txs,
            mempool: MempoolConfig {
                max_txs: args.max_pool,
                ..MempoolConfig::default()
            },
            state_window: args.state_window,
        })
        .collect();
    let pages = crate::site::site(&crate::site::PageConfig {
        chain_id: genesis.chain_id,
        block_time_ms: args.block_time,
        puzzle: example_address(PUZZLE_INDEX),
        lottery: example_address(LOTTERY_INDEX),
        faucet: true,
        num_shards,
    });
    // The same start as any node: the FBFT shell on every shard, here with committees of one and
    // the shards joined in memory.
    let launched = match builder::launch(Launch {
        nodes,
        endpoints: Default::default(),
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
        extras: Some(Box::new(|shards| crate::faucet::faucet_module(shards).into())),
        follow: None,
        snapshot: false,
    })
    .await
    {
        Ok(l) => l,
        Err(e @ LaunchError::Rpc { .. }) => return fail(format!("{e} (is another node running? pass --rpc-addr)")),
        Err(e) => return fail(format!("cannot start the chain in {}: {e}", args.data_dir.display())),
    };
    let shards = launched.shards.clone();
    let addr = launched.rpc_addr;
    let head = shards.primary().chain().head().header.clone();
    let fresh = head.height == 0;
    println!("Tutti dev chain");
    println!("  chain id     {}", head.chain_id);
    println!("  genesis      {}", shards.primary().chain().genesis_hash());
    println!("  data dir     {}", args.data_dir.display());
    println!(
        "  shards       {num_shards} in this process, one validator each (an account lives on one shard: its home)"
    );
    for n in shards.all() {
        let h = n.chain().head().header.height;
        println!(
            "  shard {:<6} head {h} ({})",
            n.chain().spec().shard_id,
            if h == 0 { "new chain" } else { "continuing" }
        );
    }
    println!("  block time   {} ms", args.block_time);
    println!("  RPC          http://{addr}  ws://{addr}  (every shard)");
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
        let bal = balance(&shards, &a);
        println!(
            "  dev{i:<2} {a}  shard {}  balance {bal}  secret 0x{}",
            a.home_shard(num_shards),
            hex::encode(dev::dev_key(i).to_bytes())
        );
    }

    // Consensus runs from here on; the examples are deployed through it.
    let running = tokio::spawn(launched.run_until(async {
        wait_for_signal().await;
        eprintln!("stopping...");
    }));

    if !args.no_examples {
        if fresh && let Err(e) = deploy_examples(&shards, args.block_time, args.lottery_round_secs).await {
            eprintln!("warning: deploying the example contracts failed: {e}");
        }
        println!();
        println!("Example contracts:");
        for (i, Example { name, .. }) in examples(args.block_time, args.lottery_round_secs).iter().enumerate() {
            let a = example_address(i as u64);
            let deployed = shards.home(&a).is_ok_and(|n| {
                let chain = n.chain();
                chain
                    .account(&a, chain.head().header.height)
                    .map(|acc| acc.code_hash.is_some())
                    .unwrap_or(false)
            });
            println!(
                "  {name:<12} {a}  shard {}{}",
                a.home_shard(num_shards),
                if deployed { "" } else { "  (not deployed)" }
            );
        }
        let second = second_ping_pong_address(num_shards);
        println!(
            "  {:<12} {second}  shard {}",
            "ping-pong-2",
            second.home_shard(num_shards)
        );
        match cross_shard_ping(&shards).await {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("warning: the cross-shard ping-pong did not complete: {e}"),
        }
    }
    println!();
    println!(
        "Ready. Try: tutti send --from dev0 --to {} --amount 1000",
        dev::dev_address(3)
    );
    println!("Stop with Ctrl-C.");

    let result = running.await;
    let heights: Vec<String> = shards
        .all()
        .iter()
        .map(|n| format!("{}", n.chain().head().header.height))
        .collect();
    drop(shards);
    match result {
        Ok(Ok(())) => {
            eprintln!("stopped cleanly at height {}", heights.join(" / "));
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => fail(e),
        Err(e) => fail(format!("the chain task failed: {e}")),
    }
}

/// `a`'s balance on its home shard (0 when unreadable).
fn balance(shards: &Shards, a: &Address) -> Amount {
    shards
        .home(a)
        .ok()
        .and_then(|n| n.chain().account(a, n.chain().head().header.height).ok())
        .map_or(0, |acc| acc.balance)
}

/// Submits a transaction signed by dev account `from` to its home shard.
async fn submit_from(
    shards: &Arc<Shards>,
    from: u32,
    nonce: u64,
    gas_limit: u64,
    action: Action,
) -> Result<Hash, String> {
    let key = dev::dev_key(from);
    let sender = dev::dev_address(from);
    let node = shards.home(&sender).map_err(|e| e.to_string())?.clone();
    let tx = Transaction {
        chain_id: node.config().genesis.chain_id,
        signer: PublicKey(key.verifying_key().to_bytes()),
        nonce,
        gas_limit,
        gas_price: 1,
        action,
    }
    .sign(&key);
    let bytes = tx.encode();
    tokio::task::spawn_blocking(move || node.submit_raw(&bytes))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Waits until transaction `hash` and every receipt it caused, on every shard, ran; returns the
/// executions (an error names the first failure).
async fn until_complete(
    shards: &Arc<Shards>,
    hash: Hash,
    within: Duration,
) -> Result<Vec<(Hash, tutti_runtime::apply::Execution)>, String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let s = shards.clone();
        let tree = tokio::task::spawn_blocking(move || -> Result<_, String> {
            let Some(home) = s.committed_on(&hash).map_err(|e| e.to_string())? else {
                return Ok(None);
            };
            let tree = s.receipt_tree(&home, &hash, 64).map_err(|e| e.to_string())?;
            Ok((!tree.waiting).then_some(tree.executions))
        })
        .await
        .map_err(|e| e.to_string())??;
        if let Some(tree) = tree {
            if let Some(f) = tree.iter().find_map(|(_, e)| e.result.as_ref().err()) {
                return Err(f.to_string());
            }
            return Ok(tree);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "transaction {hash} did not complete within {} s",
                within.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Calls `ping` on the first ping-pong contract with the second as target (on another shard when
/// there are two or more) and describes the round trip: ping, pong, callback, their shards and
/// blocks, and how long it took.
async fn cross_shard_ping(shards: &Arc<Shards>) -> Result<String, String> {
    let (first, second) = (
        example_address(PING_PONG_INDEX),
        second_ping_pong_address(shards.num_shards()),
    );
    let dev0 = dev::dev_address(0);
    let nonce = {
        let node = shards.home(&dev0).map_err(|e| e.to_string())?;
        let chain = node.chain();
        chain
            .account(&dev0, chain.head().header.height)
            .map_err(|e| e.to_string())?
            .nonce
    };
    let started = std::time::Instant::now();
    let hash = submit_from(
        shards,
        0,
        nonce,
        50_000_000,
        Action::Call {
            contract: first,
            method: "ping".into(),
            args: (second, 1u64).encode(),
            value: 0,
        },
    )
    .await?;
    let tree = until_complete(shards, hash, Duration::from_secs(60)).await?;
    let took = started.elapsed();
    let step = |method: &str| {
        tree.iter()
            .find(|(_, e)| e.method.as_deref() == Some(method))
            .map(|(_, e)| e)
    };
    let (Some(ping), Some(pong), Some(back)) = (step("ping"), step("pong"), step("on_pong")) else {
        return Err("the ping, pong and on_pong executions are not all in the receipt tree".into());
    };
    let answer = pong
        .result
        .as_ref()
        .ok()
        .and_then(|d| <u64 as parity_scale_codec::Decode>::decode(&mut d.as_slice()).ok())
        .unwrap_or_default();
    let blocks = back.height.saturating_sub(ping.height);
    Ok(format!(
        "\nCross-shard call (tx {hash}):\n  ping on shard {} (block {}) -> pong on shard {} (block {}) answered {answer} -> \
         on_pong on shard {} (block {}): {} ms, {blocks} block(s) after the ping",
        ping.shard,
        ping.height,
        pong.shard,
        pong.height,
        back.shard,
        back.height,
        took.as_millis()
    ))
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

async fn deploy_examples(shards: &Arc<Shards>, block_time_ms: u64, lottery_round_secs: u64) -> Result<(), String> {
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
        let action = Action::Deploy {
            code: code.to_vec(),
            init_method,
            args,
            value,
        };
        let hash = submit_from(shards, 0, nonce as u64, 2_000_000_000, action)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        hashes.push((name, hash));
    }
    let (deployer, nonce) = second_ping_pong(shards.num_shards());
    let action = Action::Deploy {
        code: tutti_examples::PING_PONG.to_vec(),
        init_method: None,
        args: Vec::new(),
        value: 0,
    };
    let hash = submit_from(shards, deployer, nonce, 2_000_000_000, action)
        .await
        .map_err(|e| format!("ping-pong-2: {e}"))?;
    hashes.push(("ping-pong-2", hash));
    // Each deploy and its init call run on the deployer's shard: wait until every one completed.
    for (name, h) in hashes {
        until_complete(shards, h, Duration::from_secs(60))
            .await
            .map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}
