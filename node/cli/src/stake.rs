//! `tutti stake ...` (staking transactions on the beacon chain) and `tutti validators`.
//!
//! Staking transactions are signed by an account on shard 0 (the beacon chain) and sent to a
//! node that serves it. A validator is named by its BLS public key (`0x` + 96 hex digits) or by
//! its registered name.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{anyhow, bail};
use clap::Subcommand;
use tutti_consensus::bls::SecretKey;
use tutti_primitives::{Action, Address, BlsPublicKey, StakeAction};
use tutti_rpc::{TuttiApiClient, types::ValidatorsView};

use crate::{
    amount,
    wallet::{self, RpcArgs, TxArgs},
};

/// Staking transactions.
#[derive(Subcommand)]
pub enum StakeCommand {
    /// Register a validator operated by --from: its BLS key (the `validator.key` file a node
    /// signs with), self-stake, commission and name. It stands in the election at the end of
    /// the current epoch and, if elected, sits two epochs later.
    CreateValidator {
        #[command(flatten)]
        tx: TxArgs,
        /// The validator's BLS secret key file (32 bytes, hex), as `tutti node` reads it; it signs
        /// the proof of possession and never leaves this machine.
        #[arg(long)]
        validator_key: PathBuf,
        /// Self-stake in tokens: `1000` (or `5000atto` in the smallest unit).
        #[arg(long)]
        self_stake: String,
        /// Commission on rewards, basis points (100 = 1 %).
        #[arg(long, default_value_t = 1_000)]
        commission_bps: u16,
        /// The highest commission it may ever set, basis points (fixed).
        #[arg(long, default_value_t = 2_000)]
        max_commission_bps: u16,
        /// The most the commission may move within one epoch, basis points (fixed).
        #[arg(long, default_value_t = 100)]
        max_change_bps: u16,
        /// A display name (at most 64 bytes).
        #[arg(long)]
        name: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Change a validator's commission and/or name (its operator only).
    Edit {
        #[command(flatten)]
        tx: TxArgs,
        /// The validator: BLS public key or name.
        #[arg(long)]
        validator: String,
        /// New commission, basis points.
        #[arg(long)]
        commission_bps: Option<u16>,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Delegate part of --from's balance to a validator.
    Delegate(Moved),
    /// Undelegate: the amount stops earning now and is paid back after the unbonding period.
    Undelegate(Moved),
    /// Pay --from every reward its delegations earned.
    Collect {
        #[command(flatten)]
        tx: TxArgs,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// An amount moved to or from a validator's stake.
#[derive(clap::Args)]
pub struct Moved {
    #[command(flatten)]
    tx: TxArgs,
    /// The validator: BLS public key or name.
    #[arg(long)]
    validator: String,
    /// Amount in tokens: `100` (or `5000atto` in the smallest unit).
    #[arg(long)]
    amount: String,
    #[command(flatten)]
    rpc: RpcArgs,
}

/// `tutti stake ...`.
pub fn run(cmd: StakeCommand) -> ExitCode {
    wallet::finish((|| {
        let rt = wallet::runtime()?;
        let (tx, rpc, action) = match cmd {
            StakeCommand::CreateValidator {
                tx,
                validator_key,
                self_stake,
                commission_bps,
                max_commission_bps,
                max_change_bps,
                name,
                rpc,
            } => {
                let bytes =
                    crate::testnet::read_hex_key::<32>(&validator_key, "validator key").map_err(|e| anyhow!(e))?;
                let sk = SecretKey::from_bytes(&bytes)
                    .map_err(|e| anyhow!("validator key {}: {e}", validator_key.display()))?;
                let action = StakeAction::CreateValidator {
                    key: sk.public_key().to_bytes(),
                    proof: sk.prove_possession().to_bytes(),
                    self_stake: amount::parse(&self_stake)?,
                    commission_bps,
                    max_commission_bps,
                    max_change_bps,
                    name,
                };
                (tx, rpc, action)
            }
            StakeCommand::Edit {
                tx,
                validator,
                commission_bps,
                name,
                rpc,
            } => {
                if commission_bps.is_none() && name.is_none() {
                    bail!("nothing to change: pass --commission-bps and/or --name");
                }
                let key = rt.block_on(resolve(&rpc, &validator))?;
                (
                    tx,
                    rpc,
                    StakeAction::EditValidator {
                        key,
                        commission_bps,
                        name,
                    },
                )
            }
            StakeCommand::Delegate(m) => {
                let key = rt.block_on(resolve(&m.rpc, &m.validator))?;
                let amount = amount::parse(&m.amount)?;
                (m.tx, m.rpc, StakeAction::Delegate { key, amount })
            }
            StakeCommand::Undelegate(m) => {
                let key = rt.block_on(resolve(&m.rpc, &m.validator))?;
                let amount = amount::parse(&m.amount)?;
                (m.tx, m.rpc, StakeAction::Undelegate { key, amount })
            }
            StakeCommand::Collect { tx, rpc } => (tx, rpc, StakeAction::CollectRewards),
        };
        let from = wallet::address_of(&wallet::load_key(&tx.from)?);
        if let Some(shards) = rt.block_on(num_shards(&rpc))
            && from.home_shard(shards) != 0
        {
            bail!(
                "--from {} lives on shard {}; staking transactions come from an account on shard 0 (the beacon chain)",
                tx.from,
                from.home_shard(shards)
            );
        }
        let schedule = tutti_runtime::GasSchedule::default();
        let gas = schedule.inclusion_cost(512) + schedule.stake_cost(&action);
        rt.block_on(wallet::send_action(&rpc, &tx, Action::Stake(action), gas))
    })())
}

async fn num_shards(rpc: &RpcArgs) -> Option<u32> {
    let c = wallet::client(rpc).ok()?;
    c.get_sharding_structure().await.ok().map(|s| s.num_shards)
}

/// A beacon-serving client.
async fn beacon_client(rpc: &RpcArgs) -> anyhow::Result<jsonrpsee::http_client::HttpClient> {
    wallet::home_client(rpc, &Address([0; 32])).await
}

/// A validator named by its BLS key or its registered name.
async fn resolve(rpc: &RpcArgs, which: &str) -> anyhow::Result<BlsPublicKey> {
    if let Some(hex) = which.strip_prefix("0x") {
        let bytes = hex::decode(hex).map_err(|e| anyhow!("--validator `{which}` is not hex: {e}"))?;
        return bytes
            .try_into()
            .map_err(|b: Vec<u8>| anyhow!("--validator has {} bytes; a BLS public key has 48", b.len()));
    }
    let view = validators(rpc).await?;
    let found: Vec<_> = view.validators.iter().filter(|v| v.name == which).collect();
    match found.as_slice() {
        [v] => {
            let bytes = hex::decode(v.bls_public_key.trim_start_matches("0x"))?;
            bytes
                .try_into()
                .map_err(|_| anyhow!("the node returned a malformed key"))
        }
        [] => bail!("no validator is named `{which}`; `tutti validators` lists them (or pass its 0x BLS key)"),
        _ => bail!("several validators are named `{which}`; pass its 0x BLS key instead"),
    }
}

async fn validators(rpc: &RpcArgs) -> anyhow::Result<ValidatorsView> {
    let c = beacon_client(rpc).await?;
    c.get_validators().await.map_err(wallet::rpc_err(rpc))
}

/// `tutti validators`.
pub fn list(rpc: RpcArgs) -> ExitCode {
    wallet::finish((|| {
        let (v, symbol) = wallet::runtime()?.block_on(async {
            let v = validators(&rpc).await?;
            let symbol = wallet::symbol_of(&wallet::client(&rpc)?).await;
            anyhow::Ok((v, symbol))
        })?;
        if rpc.json {
            wallet::print_json(&v);
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "beacon height {}, epoch {} ({} blocks each; the next begins at height {}); self-stake to stand: {}",
            v.height,
            v.epoch,
            v.epoch_blocks,
            v.next_epoch_height,
            amount::format(v.min_self_stake.parse().unwrap_or_default(), &symbol)
        );
        println!(
            "{:<20} {:<14} {:>22} {:>22} {:>5} {:>6} {:>8} {:>22}  seats (epoch:shard)",
            "name", "key", "stake", "self-stake", "dlg", "comm%", "uptime", "unpaid rewards"
        );
        for x in &v.validators {
            let amt = |s: &str| amount::format(s.parse().unwrap_or_default(), &symbol);
            let seats: Vec<String> = x.seats.iter().map(|s| format!("{}:{}", s.epoch, s.shard)).collect();
            // Of the crosslinked blocks whose committee it sat in, the share it signed.
            let uptime = match x.blocks_seated {
                0 => "-".to_string(),
                n => format!("{:.1}%", 100.0 * x.blocks_signed as f64 / n as f64),
            };
            println!(
                "{:<20} {:<14} {:>22} {:>22} {:>5} {:>6.2} {:>8} {:>22}  {}{}",
                x.name,
                format!("{}..", &x.bls_public_key[..12.min(x.bls_public_key.len())]),
                amt(&x.stake),
                amt(&x.self_stake),
                x.delegators,
                f64::from(x.commission_bps) / 100.0,
                uptime,
                amt(&x.unpaid_rewards),
                if seats.is_empty() {
                    "-".to_string()
                } else {
                    seats.join(" ")
                },
                if x.slashed {
                    "  (slashed for double signing)"
                } else if x.candidate {
                    ""
                } else {
                    "  (not a candidate: self-stake below the minimum)"
                }
            );
        }
        Ok(ExitCode::SUCCESS)
    })())
}
