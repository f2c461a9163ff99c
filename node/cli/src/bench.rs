//! `tutti bench`: a load generator against a running node (`tutti dev`).
//!
//! 1. Creates `--senders` fresh keys and funds them from the dev accounts (native tokens, and
//!    example-token balances when the mix has token transfers), waiting until funded.
//! 2. Signs `rate x duration` transactions up front (native transfers and token-contract
//!    `transfer` calls in the `--token-percent` mix; `--cross-shard-percent` of the transfers go
//!    to a sender of another shard), round robin over senders, so signing does not compete with
//!    the node during the run.
//! 3. Submits them at `--rate` per second in JSON-RPC batches for `--duration` seconds, while a
//!    WebSocket `newHeads` subscription (every shard the node serves) timestamps the block that
//!    includes each one (a cross-shard transfer counts when its source block includes it; its
//!    receipt is credited a block or two later on the destination).
//!
//! `--probe N` measures cross-shard latency instead (see `probe`).
//! 4. Reports finalized transactions per second (over the window from the first submission to
//!    the last inclusion, so it includes the wait for the last block), the sustained inclusion
//!    rate while the load ran (this run's transactions in the blocks committed during submission,
//!    after the first, over their span), and submit-to-final latency p50 / p95 / p99.

use std::{
    collections::HashMap,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use ed25519_dalek::SigningKey;
use indicatif::{ProgressBar, ProgressStyle};
use jsonrpsee::{
    core::{client::SubscriptionClientT, params::BatchRequestBuilder},
    rpc_params,
};
use parity_scale_codec::Encode;
use serde::Serialize;
use tutti_node::dev;
use tutti_primitives::{Action, Address, Amount, Gas, PublicKey, SignedTransaction, Transaction};
use tutti_rpc::{
    TuttiApiClient,
    types::{BlockView, TxOrHash, hex0x},
};

/// Arguments of `tutti bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// The node's RPC URL (http://; the WebSocket URL is derived from it).
    #[arg(long, env = "TUTTI_RPC", default_value = "http://127.0.0.1:9500")]
    rpc: String,
    /// Seconds of sustained load.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Target submissions per second.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// Share of token-contract transfers, percent (the rest are native transfers).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    token_percent: u8,
    /// Funded senders.
    #[arg(long, default_value_t = 1_000)]
    senders: usize,
    /// Transactions per JSON-RPC batch.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// The token contract (default: the example token `tutti dev` deploys).
    #[arg(long)]
    token: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Instead of a load: measure cross-shard latency with N transfers and N calls with a
    /// callback, one at a time, from dev0 (needs two or more shards; deploys two ping-pongs).
    #[arg(long, value_name = "N")]
    probe: Option<usize>,
    /// More nodes for --probe, so every shard is served (a testnet node serves one shard).
    #[arg(long = "also-rpc", value_name = "URL")]
    also_rpc: Vec<String>,
    /// Share of transfers to an account of another shard, percent (needs two or more shards).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    cross_shard_percent: u8,
}

/// The report.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    submitted: usize,
    refused: usize,
    finalized: usize,
    seconds: f64,
    finalized_per_second: f64,
    /// Inclusion rate while the load ran: this run's transactions in the blocks after the first
    /// that held any, up to the last block before submission ended, over that span.
    sustained_per_second: f64,
    submitted_per_second: f64,
    latency_ms_p50: f64,
    latency_ms_p95: f64,
    latency_ms_p99: f64,
    blocks: usize,
    mean_block_interval_ms: f64,
    token_percent: u8,
    cross_shard_percent: u8,
    target_rate: u64,
    /// The node's own view over the run (from its `/metrics`; `None` if it could not be read).
    node: Option<NodeView>,
    /// CPU cores the load generator used on average (its own user + system time over the run).
    generator_cores: f64,
}

/// What the node's metrics say about the run: blocks and transactions committed, and the mean
/// time per block of each consensus phase and block step.
#[derive(Serialize, Default, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct NodeView {
    blocks: f64,
    transactions: f64,
    /// Mean ms per block of `propose`, `prepare`, `commit` (consensus) and `execute`, `store`.
    mean_ms: std::collections::BTreeMap<String, f64>,
}

/// `name{labels} value` lines of an OpenMetrics text, by `name{labels}`.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// The node's view between two `/metrics` snapshots.
fn node_view(before: &HashMap<String, f64>, after: &HashMap<String, f64>) -> NodeView {
    let delta = |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    let mut mean_ms = std::collections::BTreeMap::new();
    for (family, label, names) in [
        (
            "tutti_consensus_phase_seconds",
            "phase",
            &["propose", "prepare", "commit"][..],
        ),
        ("tutti_block_seconds", "step", &["execute", "store"][..]),
    ] {
        for name in names {
            let count = delta(&format!("{family}_count{{{label}=\"{name}\"}}"));
            let sum = delta(&format!("{family}_sum{{{label}=\"{name}\"}}"));
            if count > 0.0 {
                mean_ms.insert((*name).to_string(), 1000.0 * sum / count);
            }
        }
    }
    NodeView {
        blocks: delta("tutti_blocks_committed_total"),
        transactions: delta("tutti_transactions_committed_total"),
        mean_ms,
    }
}

/// The node's `/metrics` (plain HTTP GET on the RPC port).
async fn fetch_metrics(rpc: &str) -> anyhow::Result<HashMap<String, f64>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hostport = rpc
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("metrics are read over http://, not {rpc}"))?
        .trim_end_matches('/');
    let mut s = tokio::net::TcpStream::connect(hostport).await?;
    s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    // A metrics page is a few KiB: read at most 4 MiB of whatever answers.
    let mut out = String::new();
    s.take(4 << 20).read_to_string(&mut out).await?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET /metrics: {}", head.lines().next().unwrap_or_default());
    }
    Ok(parse_metrics(body))
}

/// This process's CPU time so far, seconds (Linux `/proc/self/stat`; 0 elsewhere).
fn own_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the ')'.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

fn transfer(k: &SigningKey, chain_id: u64, nonce: u64, to: Address, amount: Amount) -> SignedTransaction {
    Transaction {
        chain_id,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit: 2_000_000,
        gas_price: 1,
        action: Action::Transfer { to, amount },
    }
    .sign(k)
}

fn token_transfer(
    k: &SigningKey,
    chain_id: u64,
    nonce: u64,
    token: Address,
    to: Address,
    amount: u128,
    gas: Gas,
) -> SignedTransaction {
    Transaction {
        chain_id,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit: gas,
        gas_price: 1,
        action: Action::Call {
            contract: token,
            method: "transfer".into(),
            args: (to, amount).encode(),
            value: 0,
        },
    }
    .sign(k)
}

fn address_of(k: &SigningKey) -> Address {
    Address::from_public_key(&k.verifying_key().to_bytes())
}

/// Runs `tutti bench`.
pub fn run(args: BenchArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let run = async {
        match args.probe {
            Some(n) => {
                let rpcs: Vec<String> = std::iter::once(args.rpc.clone()).chain(args.also_rpc.clone()).collect();
                crate::probe::probe(&rpcs, n.max(1), args.json).await
            }
            None => bench(args).await,
        }
    };
    match rt.block_on(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

type Http = jsonrpsee::http_client::HttpClient;

/// A WebSocket `newHeads` subscription (every shard the node serves) to the node at `rpc` (its
/// http URL); keep the client alive as long as the subscription.
pub async fn subscribe_heads(
    rpc: &str,
) -> anyhow::Result<(
    jsonrpsee::ws_client::WsClient,
    jsonrpsee::core::client::Subscription<BlockView>,
)> {
    let ws_url = rpc.replacen("http", "ws", 1);
    let ws = tutti_rpc::client::ws(&ws_url)
        .await
        .map_err(|e| anyhow!("WebSocket {ws_url}: {e}"))?;
    let heads = SubscriptionClientT::subscribe::<BlockView, _>(
        &ws,
        "tutti_subscribe",
        rpc_params!["newHeads"],
        "tutti_unsubscribe",
    )
    .await?;
    Ok((ws, heads))
}

/// Submits `txs` in batches; returns (accepted hashes with submit time, refusals by message).
async fn submit_batch(c: &Http, txs: &[SignedTransaction]) -> anyhow::Result<(usize, HashMap<String, usize>)> {
    let mut b = BatchRequestBuilder::new();
    for t in txs {
        b.insert("tutti_sendRawTransaction", rpc_params![hex0x(&t.encode())])?;
    }
    let resp = jsonrpsee::core::client::ClientT::batch_request::<String>(c, b)
        .await
        .map_err(|e| anyhow!("batch submit failed: {e}"))?;
    let mut ok = 0;
    let mut refused: HashMap<String, usize> = HashMap::new();
    for r in resp {
        match r {
            Ok(_) => ok += 1,
            Err(e) => *refused.entry(e.message().to_string()).or_default() += 1,
        }
    }
    Ok((ok, refused))
}

async fn wait_included(c: &Http, hash: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = c.get_transaction_receipt(hash.to_string()).await? {
            if r.status == "failure" {
                bail!("funding transaction {hash} failed: {:?}", r.failure);
            }
            if r.status == "success" || r.status == "sent" {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("funding transaction {hash} not final after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let c = tutti_rpc::client::http(&args.rpc).map_err(|e| anyhow!("{}: {e}", args.rpc))?;
    let chain_id = c
        .chain_id()
        .await
        .map_err(|e| anyhow!("cannot reach the node at {}: {e} (start it with `tutti dev`)", args.rpc))?;
    let token: Address = match &args.token {
        Some(t) => t.parse().map_err(|e| anyhow!("--token: {e}"))?,
        None => crate::dev::example_address(1),
    };
    let with_tokens = args.token_percent > 0;
    if with_tokens && c.get_account(token.to_string(), None).await?.code_hash.is_none() {
        bail!("no token contract at {token}; pass --token or start `tutti dev` without --no-examples");
    }
    let n = args.senders.max(1);
    // Senders and funders live on the shards this node serves (all of them for `tutti dev`, one
    // for a testnet node), so it takes every transaction.
    let layout = c.get_sharding_structure().await?;
    let num_shards = layout.num_shards;
    let served: Vec<u32> = layout.shards.iter().filter(|s| s.tracked).map(|s| s.shard_id).collect();
    let on_served = |a: &Address| served.is_empty() || served.contains(&a.home_shard(num_shards));
    let senders: Vec<SigningKey> = std::iter::repeat_with(|| {
        // Fresh keys every run, so their nonces start at 0.
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        SigningKey::from_bytes(&seed)
    })
    .filter(|k| on_served(&address_of(k)))
    .take(n)
    .collect();

    // 1. Funding: native from dev1..dev9 (dev0 deploys and owns the token supply).
    let funders: Vec<SigningKey> = (1..dev::DEV_ACCOUNTS)
        .map(dev::dev_key)
        .filter(|k| on_served(&address_of(k)))
        .collect();
    if funders.is_empty() {
        bail!("no dev account lives on a shard this node serves");
    }
    let mut nonces = Vec::new();
    for f in &funders {
        nonces.push(c.get_account(address_of(f).to_string(), None).await?.nonce);
    }
    let mut fund = Vec::new();
    for (i, s) in senders.iter().enumerate() {
        let fi = i % funders.len();
        fund.push(transfer(
            &funders[fi],
            chain_id,
            nonces[fi],
            address_of(s),
            10u128.pow(21),
        ));
        nonces[fi] += 1;
    }
    let token_gas = if with_tokens {
        let owner = dev::dev_key(0);
        let mut nonce = c.get_account(address_of(&owner).to_string(), None).await?.nonce;
        let est = c
            .estimate_gas(
                address_of(&owner).to_string(),
                token.to_string(),
                "transfer".into(),
                Some(hex0x(&(address_of(&senders[0]), 1u128).encode())),
                None,
            )
            .await
            .context("estimating a token transfer")?;
        for s in &senders {
            fund.push(token_transfer(
                &owner,
                chain_id,
                nonce,
                token,
                address_of(s),
                10u128.pow(21),
                est * 2,
            ));
            nonce += 1;
        }
        est * 2
    } else {
        0
    };
    let pb = bar(fund.len() as u64, "funding");
    // Rounds of at most 200 transactions per funder, each waited for, so that no funder has
    // more queued than the pool takes from one sender.
    let native = n.min(fund.len());
    let round = 200 * funders.len();
    let rounds: Vec<&[SignedTransaction]> = fund[..native].chunks(round).chain(fund[native..].chunks(200)).collect();
    for txs in rounds {
        for chunk in txs.chunks(args.batch.clamp(1, 1_000)) {
            let (ok, refused) = submit_batch(&c, chunk).await?;
            if let Some((msg, _)) = refused.iter().next() {
                bail!("funding refused: {msg}");
            }
            pb.inc(ok as u64);
        }
        for t in txs.iter().rev().take(funders.len() + 1) {
            wait_included(&c, &t.hash().to_string(), Duration::from_secs(120)).await?;
        }
    }
    pb.finish_with_message("funded");

    // Receivers: for each sender, the next sender on its own shard and the next on another one
    // (a same-shard transfer, or one that crosses shards for --cross-shard-percent of the mix);
    // when no sender lives on another shard (a testnet node), an address there.
    let shard_of: Vec<u32> = senders.iter().map(|k| address_of(k).home_shard(num_shards)).collect();
    let pick = |s: usize, same: bool| -> Address {
        match (1..=n)
            .map(|k| (s + k) % n)
            .find(|&j| (shard_of[j] == shard_of[s]) == same)
        {
            Some(j) => address_of(&senders[j]),
            None if same => address_of(&senders[s]),
            None => (0..=255u8)
                .map(|i| Address([i; 32]))
                .find(|a| a.home_shard(num_shards) != shard_of[s])
                .unwrap_or(Address([0; 32])),
        }
    };
    let same_to: Vec<Address> = (0..n).map(|s| pick(s, true)).collect();
    let other_to: Vec<Address> = (0..n).map(|s| pick(s, false)).collect();
    if args.cross_shard_percent > 0 && num_shards < 2 {
        bail!("--cross-shard-percent needs a chain of two or more shards (tutti dev --shards 2)");
    }
    let (same_to, other_to) = (Arc::new(same_to), Arc::new(other_to));

    // 2. Sign the whole run up front.
    let total = (args.rate * args.duration) as usize;
    let pb = bar(total as u64, "signing");
    let per_thread = total.div_ceil(2);
    let senders = Arc::new(senders);
    let txs: Vec<SignedTransaction> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let senders = senders.clone();
                let (same_to, other_to) = (same_to.clone(), other_to.clone());
                let pb = pb.clone();
                let pct = args.token_percent as usize;
                let cross = args.cross_shard_percent as usize;
                scope.spawn(move || {
                    let mut out = Vec::with_capacity(per_thread);
                    for i in (t * per_thread)..((t + 1) * per_thread).min(total) {
                        let s = i % n;
                        let nonce = (i / n) as u64;
                        // Deterministic mix, as for tokens (another stride, so the two mixes are
                        // independent).
                        let to = if (i * 53) % 100 < cross {
                            other_to[s]
                        } else {
                            same_to[s]
                        };
                        // Deterministic mix: token transfers at every index whose bucket is below pct.
                        let tx = if (i * 37) % 100 < pct {
                            token_transfer(&senders[s], chain_id, nonce, token, to, 1, token_gas)
                        } else {
                            transfer(&senders[s], chain_id, nonce, to, 1)
                        };
                        out.push((i, tx));
                        if i % 1000 == 0 {
                            pb.inc(1000);
                        }
                    }
                    out
                })
            })
            .collect();
        let mut all: Vec<(usize, SignedTransaction)> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, t)| t).collect()
    });
    pb.finish_with_message("signed");
    let hashes: Vec<String> = txs.iter().map(|t| t.hash().to_string()).collect();

    // 3. Watch heads, submit at the rate.
    let (_ws, mut heads) = subscribe_heads(&args.rpc).await?;
    let submitted_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::with_capacity(total)));
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::with_capacity(total)));
    // (arrival, how many of this run's transactions the block held), per block.
    let block_times: Arc<Mutex<Vec<(Instant, usize)>>> = Arc::new(Mutex::new(Vec::new()));
    let last_final: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let watcher = {
        let submitted_at = submitted_at.clone();
        let latencies = latencies.clone();
        let block_times = block_times.clone();
        let last_final = last_final.clone();
        tokio::spawn(async move {
            while let Some(Ok(b)) = heads.next().await {
                let now = Instant::now();
                let mut sub = submitted_at.lock().expect("lock");
                let mut lat = latencies.lock().expect("lock");
                let mut any = false;
                let mut ours = 0;
                for t in &b.transactions {
                    if let TxOrHash::Hash(h) = t
                        && let Some(at) = sub.remove(h)
                    {
                        lat.push(now.duration_since(at).as_secs_f64() * 1000.0);
                        any = true;
                        ours += 1;
                    }
                }
                block_times.lock().expect("lock").push((now, ours));
                if any {
                    *last_final.lock().expect("lock") = Some(now);
                }
            }
        })
    };

    let pb = bar(total as u64, "submitting");
    let metrics_before = fetch_metrics(&args.rpc).await.ok();
    let cpu_before = own_cpu_seconds();
    let start = Instant::now();
    let batch = args.batch.clamp(1, 1_000);
    let mut refused_total = 0usize;
    let mut refusals: HashMap<String, usize> = HashMap::new();
    let mut sent = 0usize;
    let (tx_done, mut rx_done) = tokio::sync::mpsc::unbounded_channel();
    let mut inflight = 0usize;
    for (k, chunk) in txs.chunks(batch).enumerate() {
        // Open loop: batch k goes out at k * batch / rate seconds.
        let due = start + Duration::from_secs_f64((k * batch) as f64 / args.rate as f64);
        tokio::time::sleep_until(due.into()).await;
        {
            let now = Instant::now();
            let mut sub = submitted_at.lock().expect("lock");
            for h in &hashes[k * batch..k * batch + chunk.len()] {
                sub.insert(h.clone(), now);
            }
        }
        let c = c.clone();
        let chunk = chunk.to_vec();
        let done = tx_done.clone();
        inflight += 1;
        tokio::spawn(async move {
            let _ = done.send((chunk.len(), submit_batch(&c, &chunk).await));
        });
        // Bound concurrency so a slow node pushes back on the generator.
        while inflight >= 8 {
            if let Some((len, r)) = rx_done.recv().await {
                inflight -= 1;
                account(r, len, &mut sent, &mut refused_total, &mut refusals, &pb)?;
            }
        }
    }
    while inflight > 0 {
        if let Some((len, r)) = rx_done.recv().await {
            inflight -= 1;
            account(r, len, &mut sent, &mut refused_total, &mut refusals, &pb)?;
        }
    }
    let submit_secs = start.elapsed().as_secs_f64();
    let submit_end = Instant::now();
    pb.finish_with_message("submitted");

    // 4. Wait for the tail to be included (or give up after 30 s without progress).
    let pb = bar(sent as u64, "finalizing");
    let mut last_count = 0;
    let mut last_progress = Instant::now();
    loop {
        let count = latencies.lock().expect("lock").len();
        pb.set_position(count as u64);
        if count >= sent {
            break;
        }
        if count != last_count {
            last_count = count;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "warning: {} accepted transactions were not included within 30 s",
                sent - count
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pb.finish_with_message("final");
    watcher.abort();

    let mut lat = latencies.lock().expect("lock").clone();
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1]
    };
    let end = last_final.lock().expect("lock").unwrap_or_else(Instant::now);
    let seconds = end.duration_since(start).as_secs_f64();
    let bt = block_times.lock().expect("lock").clone();
    let interval = if bt.len() > 1 {
        bt.last().expect("non-empty").0.duration_since(bt[0].0).as_secs_f64() * 1000.0 / (bt.len() - 1) as f64
    } else {
        f64::NAN
    };
    let sustained = {
        let during: Vec<&(Instant, usize)> = bt
            .iter()
            .skip_while(|(_, ours)| *ours == 0)
            .take_while(|(at, _)| *at <= submit_end)
            .collect();
        match (during.first(), during.last()) {
            (Some(first), Some(last)) if during.len() > 1 => {
                during[1..].iter().map(|(_, n)| n).sum::<usize>() as f64 / last.0.duration_since(first.0).as_secs_f64()
            }
            _ => f64::NAN,
        }
    };
    let metrics_after = fetch_metrics(&args.rpc).await.ok();
    let generator_cores = (own_cpu_seconds() - cpu_before) / start.elapsed().as_secs_f64();
    let node = metrics_before
        .zip(metrics_after)
        .map(|(before, after)| node_view(&before, &after));
    let report = Report {
        submitted: sent,
        refused: refused_total,
        finalized: lat.len(),
        seconds,
        finalized_per_second: lat.len() as f64 / seconds,
        sustained_per_second: sustained,
        submitted_per_second: sent as f64 / submit_secs,
        latency_ms_p50: pct(0.50),
        latency_ms_p95: pct(0.95),
        latency_ms_p99: pct(0.99),
        blocks: bt.len(),
        mean_block_interval_ms: interval,
        token_percent: args.token_percent,
        cross_shard_percent: args.cross_shard_percent,
        target_rate: args.rate,
        node,
        generator_cores,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!();
        println!(
            "mix: {}% token transfers, {}% native, {}% to another shard; target {} tx/s for {} s; {} senders",
            args.token_percent,
            100 - args.token_percent,
            args.cross_shard_percent,
            args.rate,
            args.duration,
            n
        );
        println!(
            "submitted {} ({:.0}/s), refused {}, finalized {}",
            report.submitted, report.submitted_per_second, report.refused, report.finalized
        );
        println!(
            "finalized throughput: {:.0} tx/s over {:.1} s (first submission to last inclusion)",
            report.finalized_per_second, report.seconds
        );
        println!(
            "sustained while loaded: {:.0} tx/s (blocks committed during the submission window)",
            report.sustained_per_second
        );
        println!(
            "submit-to-final latency: p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms (mean block interval {:.0} ms)",
            report.latency_ms_p50, report.latency_ms_p95, report.latency_ms_p99, report.mean_block_interval_ms
        );
        match &report.node {
            Some(v) => {
                let phases: Vec<String> = v.mean_ms.iter().map(|(k, ms)| format!("{k} {ms:.0} ms")).collect();
                println!(
                    "the node's view (its /metrics; with several shards, its first shard): {:.0} blocks, {:.0} transactions; \
                     per block: {}",
                    v.blocks,
                    v.transactions,
                    phases.join(", ")
                );
            }
            None => println!("the node's view: its /metrics could not be read"),
        }
        println!("load generator: {:.2} CPU cores on average", report.generator_cores);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if report.generator_cores >= cores / 2.0 {
        eprintln!(
            "warning: the load generator used {:.2} of this machine's {cores:.0} cores; if the node runs here too, \
             the generator may be what limits the numbers (run it on another machine, or lower --rate)",
            report.generator_cores
        );
    }
    for (msg, count) in refusals.iter().take(5) {
        eprintln!("refused x{count}: {msg}");
    }
    Ok(())
}

fn account(
    r: anyhow::Result<(usize, HashMap<String, usize>)>,
    len: usize,
    sent: &mut usize,
    refused_total: &mut usize,
    refusals: &mut HashMap<String, usize>,
    pb: &ProgressBar,
) -> anyhow::Result<()> {
    let (ok, refused) = r?;
    *sent += ok;
    for (m, c) in refused {
        *refused_total += c;
        *refusals.entry(m).or_default() += c;
    }
    pb.inc(len as u64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nodes_view_is_the_difference_of_two_metrics_snapshots() {
        let before = parse_metrics(
            "# TYPE x counter\ntutti_blocks_committed_total 10\ntutti_transactions_committed_total 100\n\
             tutti_block_seconds_sum{step=\"store\"} 1.0\ntutti_block_seconds_count{step=\"store\"} 10\n# EOF\n",
        );
        let after = parse_metrics(
            "tutti_blocks_committed_total 14\ntutti_transactions_committed_total 900\n\
             tutti_block_seconds_sum{step=\"store\"} 1.8\ntutti_block_seconds_count{step=\"store\"} 14\n\
             tutti_consensus_phase_seconds_sum{phase=\"commit\"} 0.4\n\
             tutti_consensus_phase_seconds_count{phase=\"commit\"} 4\n",
        );
        let v = node_view(&before, &after);
        assert_eq!((v.blocks, v.transactions), (4.0, 800.0));
        assert!((v.mean_ms["store"] - 200.0).abs() < 1e-6, "{v:?}");
        assert!((v.mean_ms["commit"] - 100.0).abs() < 1e-6, "{v:?}");
        assert!(!v.mean_ms.contains_key("execute"), "no blocks executed: no mean");
    }
}
