//! `tutti bench --probe N`: cross-shard latency, one operation at a time, against `tutti dev
//! --shards 2` (one endpoint serving every shard) or a testnet (one `--rpc` per shard).
//!
//! - A transfer from dev0 to an account of another shard: from the source block that includes it
//!   to the destination block that credits it, in destination blocks (counted from the
//!   destination's head when the source block arrived) and in ms (between the two blocks'
//!   arrival over `newHeads`).
//! - A cross-shard call with a callback (two ping-pong contracts the probe deploys first, one on
//!   dev0's shard, one on another: `ping` there, `pong` on the other, `on_pong` back): from the
//!   block with the transaction to the block with the callback, in source blocks and ms.
//!
//! Reported as min / median / max over the N runs of each.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail};
use parity_scale_codec::Encode;
use tutti_node::dev;
use tutti_primitives::{Action, Address, PublicKey, ShardId, Transaction};
use tutti_rpc::{
    TuttiApiClient,
    types::{BlockId, TxReceiptView, hex0x},
};

type Http = jsonrpsee::http_client::HttpClient;

/// Arrival time of each (shard, height) seen on `newHeads`.
type Arrivals = Arc<Mutex<HashMap<(ShardId, u64), Instant>>>;

struct Net {
    /// Per shard, a client of a node serving it.
    clients: HashMap<ShardId, Http>,
    num_shards: u32,
    arrivals: Arrivals,
    chain_id: u64,
}

impl Net {
    fn client(&self, shard: ShardId) -> anyhow::Result<&Http> {
        self.clients
            .get(&shard)
            .ok_or_else(|| anyhow!("no --rpc serves shard {shard}; give one endpoint per shard"))
    }

    fn home(&self, a: &Address) -> anyhow::Result<&Http> {
        self.client(a.home_shard(self.num_shards))
    }

    /// When (shard, height) arrived, waiting for it if need be.
    async fn arrival(&self, shard: ShardId, height: u64) -> anyhow::Result<Instant> {
        for _ in 0..600 {
            if let Some(t) = self.arrivals.lock().expect("lock").get(&(shard, height)) {
                return Ok(*t);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("block {height} of shard {shard} never arrived on newHeads")
    }

    /// The highest height of `shard` that had arrived by `t`.
    fn head_at(&self, shard: ShardId, t: Instant) -> u64 {
        let a = self.arrivals.lock().expect("lock");
        a.iter()
            .filter(|((s, _), at)| *s == shard && **at <= t)
            .map(|((_, h), _)| *h)
            .max()
            .unwrap_or(0)
    }
}

async fn connect(rpcs: &[String]) -> anyhow::Result<Net> {
    let arrivals: Arrivals = Arc::default();
    let mut clients = HashMap::new();
    let mut num_shards = 0;
    let mut chain_id = 0;
    for url in rpcs {
        let c = tutti_rpc::client::http(url).map_err(|e| anyhow!("{url}: {e}"))?;
        let layout = c
            .get_sharding_structure()
            .await
            .map_err(|e| anyhow!("cannot reach {url}: {e}"))?;
        chain_id = c.chain_id().await?;
        num_shards = layout.num_shards;
        let (ws, mut heads) = crate::bench::subscribe_heads(url).await?;
        let a = arrivals.clone();
        tokio::spawn(async move {
            let _ws = ws;
            while let Some(Ok(b)) = heads.next().await {
                a.lock()
                    .expect("lock")
                    .entry((b.shard_id, b.height))
                    .or_insert_with(Instant::now);
            }
        });
        for s in layout.shards.iter().filter(|s| s.tracked) {
            clients.entry(s.shard_id).or_insert_with(|| c.clone());
        }
    }
    if num_shards < 2 {
        bail!(
            "the chain has one shard: start `tutti dev --shards 2` (or a testnet with --shards 2) to probe cross-shard latency"
        );
    }
    Ok(Net {
        clients,
        num_shards,
        arrivals,
        chain_id,
    })
}

/// Deploys a ping-pong from dev account `from`; returns its address once deployed.
async fn deploy_ping_pong(net: &Net, from: u32) -> anyhow::Result<Address> {
    let sender = dev::dev_address(from);
    let c = net.home(&sender)?;
    let nonce = c.get_account(sender.to_string(), None).await?.nonce;
    let action = Action::Deploy {
        code: tutti_examples::PING_PONG.to_vec(),
        init_method: None,
        args: Vec::new(),
        value: 0,
    };
    let hash = send(net, from, action, 2_000_000_000).await?;
    receipt(c, &hash, |r| r.status == "success").await?;
    Ok(Address::for_contract(&sender, nonce))
}

async fn send(net: &Net, from: u32, action: Action, gas_limit: u64) -> anyhow::Result<String> {
    let k = dev::dev_key(from);
    let sender = dev::dev_address(from);
    let c = net.home(&sender)?;
    let nonce = c.get_account(sender.to_string(), None).await?.nonce;
    let tx = Transaction {
        chain_id: net.chain_id,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit,
        gas_price: 1,
        action,
    }
    .sign(&k);
    Ok(c.send_raw_transaction(hex0x(&tx.encode())).await?)
}

/// Waits until `pred` holds for the receipt of `hash` (on the sender's shard).
async fn receipt(c: &Http, hash: &str, pred: impl Fn(&TxReceiptView) -> bool) -> anyhow::Result<TxReceiptView> {
    for _ in 0..3_000 {
        if let Some(r) = c.get_transaction_receipt(hash.to_string()).await?
            && (r.status == "failure" || pred(&r))
        {
            if r.status == "failure" {
                bail!("{hash} failed: {:?}", r.failure);
            }
            return Ok(r);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("{hash} did not complete within 30 s")
}

fn spread(v: &mut [f64]) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return "-".into();
    }
    format!("{:.0} / {:.0} / {:.0}", v[0], v[v.len() / 2], v[v.len() - 1])
}

/// Runs the probe: `n` transfers and `n` calls.
pub async fn probe(rpcs: &[String], n: usize, json: bool) -> anyhow::Result<()> {
    let net = connect(rpcs).await?;
    let from = 0;
    let src = dev::dev_address(from).home_shard(net.num_shards);
    let other = (1..dev::DEV_ACCOUNTS)
        .find(|i| dev::dev_address(*i).home_shard(net.num_shards) != src)
        .ok_or_else(|| anyhow!("no dev account lives on another shard than dev0"))?;
    let to = dev::dev_address(other);
    let dst = to.home_shard(net.num_shards);
    let first = deploy_ping_pong(&net, from).await?;
    let second = deploy_ping_pong(&net, other).await?;
    let (mut t_blocks, mut t_ms, mut c_blocks, mut c_ms) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        // A transfer.
        let before: u128 = net.client(dst)?.get_balance(to.to_string(), None).await?.parse()?;
        let hash = send(&net, from, Action::Transfer { to, amount: 1 }, 2_000_000).await?;
        let r = receipt(net.client(src)?, &hash, |r| {
            r.status != "pending" || !r.executions.is_empty()
        })
        .await?;
        let src_height = r.block_height;
        let src_at = net.arrival(src, src_height).await?;
        let dst_head = net.head_at(dst, src_at);
        // The first destination block whose state holds the credit.
        let c = net.client(dst)?;
        let mut credited = None;
        for _ in 0..3_000 {
            let now = c.get_account(to.to_string(), None).await?;
            if now.balance.parse::<u128>()? > before {
                let mut h = now.height;
                while h > 0 {
                    let prev: u128 = c
                        .get_balance(to.to_string(), Some(BlockId::Number(h - 1)))
                        .await?
                        .parse()?;
                    if prev > before {
                        h -= 1;
                    } else {
                        break;
                    }
                }
                credited = Some(h);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let dst_height = credited.ok_or_else(|| anyhow!("transfer {i} was not credited within 30 s"))?;
        let dst_at = net.arrival(dst, dst_height).await?;
        t_blocks.push(dst_height.saturating_sub(dst_head) as f64);
        t_ms.push(dst_at.saturating_duration_since(src_at).as_secs_f64() * 1000.0);

        // A call with a callback.
        let hash = send(
            &net,
            from,
            Action::Call {
                contract: first,
                method: "ping".into(),
                args: (second, i as u64).encode(),
                value: 0,
            },
            50_000_000,
        )
        .await?;
        let r = receipt(net.client(src)?, &hash, |r| {
            r.executions.iter().any(|e| e.method.as_deref() == Some("on_pong"))
        })
        .await?;
        let back = r
            .executions
            .iter()
            .find(|e| e.method.as_deref() == Some("on_pong"))
            .expect("waited for it");
        if back.events.iter().any(|e| e.name == "PongFailed") {
            bail!("the pong failed: {:?}", back.events);
        }
        let start = net.arrival(src, r.block_height).await?;
        let end = net.arrival(src, back.height).await?;
        c_blocks.push(back.height.saturating_sub(r.block_height) as f64);
        c_ms.push(end.saturating_duration_since(start).as_secs_f64() * 1000.0);
    }
    if json {
        println!(
            "{}",
            serde_json::json!({
                "runs": n,
                "transferBlocks": t_blocks, "transferMs": t_ms,
                "callBlocks": c_blocks, "callMs": c_ms,
            })
        );
    } else {
        println!("cross-shard latency over {n} runs (min / median / max), shard {src} -> shard {dst}:");
        println!(
            "  transfer: {} destination blocks after the source block, {} ms",
            spread(&mut t_blocks),
            spread(&mut t_ms)
        );
        println!(
            "  call + callback: {} source blocks from the transaction's block to the callback's, {} ms",
            spread(&mut c_blocks),
            spread(&mut c_ms)
        );
    }
    Ok(())
}
