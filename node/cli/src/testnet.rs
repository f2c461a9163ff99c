//! `tutti node --config FILE`: one node of a committee (validator or full node) over libp2p.
//! `tutti testnet --validators V`: keys, genesis and a config per node, then V `tutti node`
//! processes on loopback until Ctrl-C; a node that dies is reported (and restarted with
//! `--restart-dead`) while the others go on (rules in `supervise`).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use crate::supervise::{self, AfterExit, Supervisor};
use clap::Args;
use serde::{Deserialize, Serialize};
use tutti_chain::{Genesis, MempoolConfig};
use tutti_consensus::{
    bls::SecretKey,
    fbft::{core::Config as CoreConfig, record},
};
use tutti_network::{
    Multiaddr,
    p2p::{P2pConfig, peer_id},
};
use tutti_node::{
    NodeConfig, RpcConfig,
    builder::{self, Launch, Transport},
    consensus::ShellConfig,
    dev,
};

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// A node's configuration file (TOML). Relative paths are relative to the file's directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeFile {
    /// The genesis file.
    pub genesis: PathBuf,
    /// Where the store and the signing record live.
    pub data_dir: PathBuf,
    /// File holding this validator's BLS secret key (hex); absent for a full node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator_key: Option<PathBuf>,
    /// File holding the libp2p identity (hex ed25519 secret); created if missing.
    pub node_key: PathBuf,
    /// File holding the secret key (hex ed25519) of an account on shard 0 that signs this
    /// node's double-signing reports (paying their gas, receiving the reporter's reward);
    /// without it double signing seen is only logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporter_key: Option<PathBuf>,
    /// JSON-RPC (and `/metrics`) address.
    pub rpc_addr: SocketAddr,
    /// libp2p listen address, e.g. `/ip4/0.0.0.0/tcp/30300`.
    pub p2p_listen: String,
    /// Peers to dial at start, `…/p2p/<peer id>`.
    #[serde(default)]
    pub bootnodes: Vec<String>,
    /// Most peer connections at once besides the bootnodes' (three quarters for peers that dial
    /// in, the rest for peers discovery finds; each bootnode has a slot of its own).
    #[serde(default = "default_max_peers")]
    pub max_peers: u32,
    /// Least time between blocks, ms.
    #[serde(default = "default_block_time")]
    pub block_time_ms: u64,
    /// View 0's timeout, ms (view v waits base * 2^v).
    #[serde(default = "default_timeout")]
    pub base_timeout_ms: u64,
    /// Most transactions per block.
    #[serde(default = "default_block_txs")]
    pub max_block_txs: usize,
    /// The shard a full node follows (a validator runs the shard the genesis seats it on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// Keep the state of this many blocks below the head; older state versions are pruned
    /// (proofs and calls against them get `STATE_PRUNED`).
    #[serde(default = "default_state_window")]
    pub state_window: u64,
    /// Keep every state version (an archive node); `state-window` is then ignored.
    #[serde(default)]
    pub archive: bool,
    /// More shards to track as a full node, in the same process and swarm: `"all"` or a list
    /// such as `"0,2"` (an RPC node for partners tracks all). Each extra shard is stored in
    /// `data-dir/shard-N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_shards: Option<String>,
    /// A validator under elected committees also runs whichever shard the beacon seats it on,
    /// starting it by state sync as soon as it is elected and leaving it after its last seated
    /// epoch (default: on for a validator; off: run only the shards named here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_elections: Option<bool>,
    /// What happens to the data of a shard a validator leaves: `"delete"` (default) or `"keep"`
    /// (a later return then syncs blocks from where it stopped instead of a snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_shards: Option<String>,
    /// Where other shards are served, by shard number (`"1" = "http://10.0.0.4:9500"`): named in
    /// the sharding structure and in `WRONG_SHARD` errors, so clients find the right node.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub shard_rpc: std::collections::BTreeMap<String, String>,
}

fn default_max_peers() -> u32 {
    tutti_network::p2p::DEFAULT_MAX_PEERS
}
fn default_block_time() -> u64 {
    1_000
}
fn default_timeout() -> u64 {
    4_000
}
fn default_state_window() -> u64 {
    100_000
}

fn default_block_txs() -> usize {
    10_000
}

/// `tutti node`.
#[derive(Args)]
pub struct NodeArgs {
    /// The node's configuration file (TOML; see README "Running a testnet").
    #[arg(long)]
    config: PathBuf,
    /// Also track these shards (as a full node): `all`, or a list such as `0,2`. Overrides the
    /// config's `track-shards`. The RPC port then serves every tracked shard.
    #[arg(long, value_name = "all|LIST")]
    track_shards: Option<String>,
    /// How a shard whose data directory is empty catches up: `full` executes every block from
    /// genesis; `snapshot` verifies a recent certified block, downloads the state at that block
    /// in chunks checked against its state root from several peers, then executes only the
    /// blocks after it (a restore stopped half-way resumes on the next start). A data directory
    /// that already holds the chain is not affected.
    #[arg(long, value_enum, default_value = "full")]
    sync: SyncMode,
    /// Stop when standard input closes (`tutti testnet` starts its nodes so, so that they stop
    /// with it even if it is killed).
    #[arg(long, hide = true)]
    stop_with_stdin: bool,
}

/// How a node with an empty data directory catches up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// Execute every block from genesis.
    Full,
    /// Restore the state of a recent certified block, then execute the blocks after it.
    Snapshot,
}

/// Resolves once standard input reaches its end (or fails).
async fn stdin_closed() {
    let _ = tokio::task::spawn_blocking(|| {
        use std::io::Read;
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    })
    .await;
}

pub(crate) fn read_hex_key<const N: usize>(path: &Path, what: &str) -> Result<[u8; N], String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))?;
    let t = text.trim();
    let bytes = hex::decode(t.strip_prefix("0x").unwrap_or(t))
        .map_err(|e| format!("the {what} {} is not hex: {e}", path.display()))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("the {what} {} has {} bytes, expected {N}", path.display(), b.len()))
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, format!("{}\n", hex::encode(bytes)))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

fn random_secret() -> [u8; 32] {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// The shard a node runs first: its validator key's seat, else the configured one, else 0.
fn primary_shard(genesis: &Genesis, validator: Option<&SecretKey>, shard: Option<u32>) -> Result<u32, String> {
    let Some(key) = validator else {
        return Ok(shard.unwrap_or(0));
    };
    use tutti_consensus::fbft::committee::CommitteeSource;
    let committees = tutti_node::committees::GenesisCommittees::new(genesis).map_err(|e| e.to_string())?;
    let pk = key.public_key();
    let seat = (0..genesis.num_shards.max(1)).find(|s| {
        committees
            .seats(*s, 0)
            .is_ok_and(|seats| seats.iter().any(|x| x.key == pk))
    });
    match (seat, shard) {
        (Some(seat), Some(asked)) if seat != asked => Err(format!(
            "this node is configured for shard {asked}, but its validator key sits on shard {seat}"
        )),
        (Some(seat), _) => Ok(seat),
        // Not a genesis member: it follows the chain and signs once elected.
        (None, _) => Ok(shard.unwrap_or(0)),
    }
}

/// `all`, or a comma-separated list of shard numbers below `num_shards`.
pub fn parse_track_shards(list: &str, num_shards: u32) -> Result<Vec<u32>, String> {
    if list.trim() == "all" {
        return Ok((0..num_shards).collect());
    }
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let s: u32 = part
            .parse()
            .map_err(|_| format!("track-shards: `{part}` is not a shard number (use `all` or a list such as `0,2`)"))?;
        if s >= num_shards {
            return Err(format!(
                "track-shards: there is no shard {s}; the chain has {num_shards} (0 to {})",
                num_shards - 1
            ));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// Runs `tutti node`.
pub fn run_node(args: NodeArgs) -> ExitCode {
    crate::dev::init_logs();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match rt.block_on(node_async(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

async fn node_async(args: NodeArgs) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| format!("cannot read the config {}: {e}", args.config.display()))?;
    let file: NodeFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", args.config.display()))?;
    let base = args.config.parent().unwrap_or(Path::new("."));
    let at = |p: &Path| base.join(p);
    let genesis = Genesis::from_file(at(&file.genesis)).map_err(|e| e.to_string())?;
    let validator = match &file.validator_key {
        Some(p) => Some(
            SecretKey::from_bytes(&read_hex_key::<32>(&at(p), "validator key")?)
                .map_err(|e| format!("the validator key: {e}"))?,
        ),
        None => None,
    };
    let node_key_path = at(&file.node_key);
    let node_key = if node_key_path.exists() {
        read_hex_key::<32>(&node_key_path, "node key")?
    } else {
        let k = random_secret();
        write_secret(&node_key_path, &k)?;
        k
    };
    let data_dir = at(&file.data_dir);
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let listen: Multiaddr = file
        .p2p_listen
        .parse()
        .map_err(|e| format!("p2p-listen `{}`: {e}", file.p2p_listen))?;
    let bootnodes = file
        .bootnodes
        .iter()
        .map(|b| b.parse::<Multiaddr>().map_err(|e| format!("bootnode `{b}`: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let primary = primary_shard(&genesis, validator.as_ref(), file.shard)?;
    let extra = match args.track_shards.as_ref().or(file.track_shards.as_ref()) {
        Some(list) => parse_track_shards(list, genesis.num_shards.max(1))?,
        None => Vec::new(),
    };
    let config = NodeConfig {
        shard: Some(primary),
        genesis,
        data_dir: Some(data_dir.clone()),
        validators: validator.into_iter().collect(),
        block_time: Duration::from_millis(file.block_time_ms),
        max_block_txs: file.max_block_txs,
        mempool: MempoolConfig::default(),
        state_window: (!file.archive).then_some(file.state_window),
    };
    let mut nodes = vec![config.clone()];
    for s in extra.into_iter().filter(|s| *s != primary) {
        nodes.push(NodeConfig {
            shard: Some(s),
            data_dir: Some(data_dir.join(format!("shard-{s}"))),
            // The same key: it signs on whichever shard it is elected to.
            ..config.clone()
        });
    }
    let records = signing_records(&data_dir)?;
    let reporter = match &file.reporter_key {
        Some(p) => Some(ed25519_dalek::SigningKey::from_bytes(&read_hex_key::<32>(
            &at(p),
            "reporter key",
        )?)),
        None => None,
    };
    let follow = file.follow_elections.unwrap_or(true) && !config.validators.is_empty();
    let keep_left = match file.left_shards.as_deref() {
        None | Some("delete") => false,
        Some("keep") => true,
        Some(other) => return Err(format!("left-shards = \"{other}\": use \"delete\" or \"keep\"")),
    };
    let chain_id = config.genesis.chain_id;
    let endpoints = file
        .shard_rpc
        .iter()
        .map(|(s, url)| {
            s.parse::<u32>()
                .map(|s| (s, url.clone()))
                .map_err(|e| format!("shard-rpc key `{s}` is not a shard number: {e}"))
        })
        .collect::<Result<_, String>>()?;
    let launched = builder::launch(Launch {
        nodes,
        endpoints,
        rpc: RpcConfig {
            addr: file.rpc_addr,
            ..RpcConfig::default()
        },
        shell: ShellConfig {
            record_dir: Some(records),
            core: CoreConfig {
                base_timeout_ms: file.base_timeout_ms,
                max_timeout_ms: file.base_timeout_ms.saturating_mul(16),
                ..CoreConfig::default()
            },
            block_time: Duration::from_millis(file.block_time_ms),
        },
        transport: Transport::P2p(P2pConfig {
            secret: node_key,
            listen,
            bootnodes,
            chain_id,
            // Set by the builder to the shards the node runs.
            shards: Vec::new(),
            max_peers: file.max_peers.max(1),
        }),
        site: None,
        extras: None,
        follow: follow.then(|| tutti_node::builder::FollowOptions {
            keep_left,
            reporter: reporter.clone(),
        }),
        snapshot: args.sync == SyncMode::Snapshot,
    })
    .await
    .map_err(|e| format!("cannot start the node on {}: {e}", data_dir.display()))?;
    if let Some(key) = &reporter {
        for n in launched.shards.all() {
            n.set_reporter(key.clone());
        }
    }
    let node = launched.node.clone();
    let addr = launched.rpc_addr;
    let member = node.member_index();
    let head = node.chain().head().header.clone();
    println!("Tutti node");
    println!("  chain id     {}", head.chain_id);
    println!("  head         {}", head.height);
    println!(
        "  role         {}",
        match member {
            Some(i) => format!("validator {i} of {}", node.members().len()),
            None => "full node".into(),
        }
    );
    println!("  peer id      {}", launched.peer_id);
    println!("  RPC          http://{addr}  (metrics: http://{addr}/metrics)");
    let stop_with_stdin = args.stop_with_stdin;
    let result = launched
        .run_until(async {
            let stdin_gone = async {
                if stop_with_stdin {
                    stdin_closed().await;
                    eprintln!("standard input closed (the testnet stopped): stopping");
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = crate::dev::wait_for_signal() => {}
                _ = stdin_gone => {}
            }
        })
        .await;
    let h = node.chain().head().header.height;
    result?;
    eprintln!("stopped cleanly at height {h}");
    Ok(())
}

/// The signing records of a node: one file per (shard, epoch) in `DATA/signing/`. A record
/// written by an older version as the single file `DATA/signing-record` is moved there first.
fn signing_records(data_dir: &Path) -> Result<PathBuf, String> {
    let dir = data_dir.join("signing");
    record::migrate_legacy(&data_dir.join("signing-record"), &dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// `tutti testnet`.
#[derive(Args)]
pub struct TestnetArgs {
    /// Validators (processes) per shard.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    validators: u32,
    /// Shards (shard 0 is the beacon chain); each runs its own committee of `--validators`.
    /// Transfers and calls across shards travel between the processes as proven receipt batches.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    shards: u32,
    /// Node i serves RPC on base-port + i and listens for peers on base-port + 1000 + i.
    #[arg(long, default_value_t = 9500)]
    base_port: u16,
    /// Where keys, genesis, configs, stores and logs go (reused: a second run continues the chain).
    #[arg(long, default_value = "./tutti-testnet")]
    data_dir: PathBuf,
    /// Least time between blocks, ms.
    #[arg(long, default_value_t = 1000)]
    block_time: u64,
    /// View 0's timeout, ms.
    #[arg(long, default_value_t = 4000)]
    base_timeout: u64,
    /// Only write keys, genesis and configs (to start the nodes yourself with `tutti node`).
    #[arg(long)]
    no_start: bool,
    /// Start a node that dies again after SECS seconds (doubled after each failure within 30 s
    /// of starting, given up after 5 in a row). Without it a dead node stays down and the others
    /// go on.
    #[arg(long, value_name = "SECS")]
    restart_dead: Option<u64>,
    /// Also start a full node that tracks every shard (node S x V, RPC on base-port + S x V): one
    /// endpoint for every account and contract, and receipts followed to the end across shards.
    #[arg(long)]
    rpc_node: bool,
    /// Beacon blocks per epoch (committees are elected for every epoch two epochs ahead).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    epoch_blocks: u64,
    /// Also start N spare validators: keys outside the genesis whose nodes follow every shard;
    /// once the chain runs, each registers by a create-validator transaction (20,000 tokens of
    /// self-stake from the first dev account on shard 0) and signs from its first election on
    /// (two epochs later).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=16))]
    spares: u32,
    /// Keep the genesis committees in every epoch (elections are recorded but seat nobody).
    /// Without it validators move between shards as elected, so every validator tracks every
    /// shard and signs wherever it sits.
    #[arg(long)]
    static_committees: bool,
}

/// Registers each spare validator by a create-validator transaction from the first dev account on
/// shard 0, once node 0 answers; prints what became of each.
fn register_spares(rpc: &str, shards: u32, spares: Vec<SecretKey>) {
    use parity_scale_codec::Encode;
    use tutti_rpc::TuttiApiClient;
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return eprintln!(
            "spare validators: cannot start the async runtime; register them with `tutti stake create-validator`"
        );
    };
    rt.block_on(async {
        let Ok(client) = tutti_rpc::client::http(rpc) else {
            return eprintln!("spare validators: bad RPC URL {rpc}");
        };
        let Some(operator) = (0..dev::DEV_ACCOUNTS).find(|a| dev::dev_address(*a).home_shard(shards) == 0) else {
            return eprintln!("spare validators: no dev account lives on shard 0");
        };
        // Wait for the chain to run.
        let mut ready = false;
        for _ in 0..600 {
            if client.block_number(Some(0)).await.is_ok_and(|h| h >= 1) {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !ready {
            return eprintln!(
                "spare validators: node 0 never answered at {rpc}; register them with `tutti stake create-validator`"
            );
        }
        let key = dev::dev_key(operator);
        let signer = tutti_primitives::PublicKey(key.verifying_key().to_bytes());
        let nonce = match client.get_account(signer.address().to_string(), None).await {
            Ok(a) => a.nonce,
            Err(e) => return eprintln!("spare validators: cannot read dev{operator}'s account: {e}"),
        };
        for (i, spare) in spares.iter().enumerate() {
            let stx = tutti_primitives::Transaction {
                chain_id: dev::TESTNET_CHAIN_ID,
                signer,
                nonce: nonce + i as u64,
                gas_limit: 50_000_000,
                gas_price: 1,
                action: tutti_primitives::Action::Stake(tutti_primitives::StakeAction::CreateValidator {
                    key: spare.public_key().to_bytes(),
                    proof: spare.prove_possession().to_bytes(),
                    self_stake: 2 * dev::DEV_STAKE,
                    commission_bps: 500,
                    max_commission_bps: 1_000,
                    max_change_bps: 100,
                    name: format!("spare-{i}"),
                }),
            }
            .sign(&key);
            match client
                .send_raw_transaction(tutti_rpc::types::hex0x(&stx.encode()))
                .await
            {
                Ok(hash) => println!("  spare validator {i} registered by transaction {hash} (operator dev{operator})"),
                Err(e) => eprintln!("  spare validator {i}: registration refused: {e}"),
            }
        }
    });
}

/// The files of a testnet's nodes (config path and RPC address), each node's genesis shard and
/// stake, and the spare validators' keys.
type Prepared = (Vec<(PathBuf, SocketAddr)>, Vec<(u32, u128)>, Vec<SecretKey>);

/// Writes (or reuses) the testnet's files.
fn prepare(args: &TestnetArgs) -> Result<Prepared, String> {
    let dir = &args.data_dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let per_shard = args.validators as usize;
    let n = per_shard * args.shards as usize;
    let port = |offset: usize| -> Result<u16, String> {
        u16::try_from(args.base_port as usize + offset).map_err(|_| format!("base port {} is too high", args.base_port))
    };
    let spares = args.spares as usize;
    let mut keys = Vec::new();
    let mut node_keys = Vec::new();
    for i in 0..n + spares {
        let nd = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&nd).map_err(|e| format!("cannot create {}: {e}", nd.display()))?;
        let vk = nd.join("validator.key");
        let key = if vk.exists() {
            SecretKey::from_bytes(&read_hex_key::<32>(&vk, "validator key")?).map_err(|e| e.to_string())?
        } else {
            let k = SecretKey::from_seed(&random_secret());
            write_secret(&vk, &k.to_bytes())?;
            k
        };
        let nk = nd.join("node.key");
        let node_key = if nk.exists() {
            read_hex_key::<32>(&nk, "node key")?
        } else {
            let k = random_secret();
            write_secret(&nk, &k)?;
            k
        };
        keys.push(key);
        node_keys.push(node_key);
    }
    let spare_keys = keys.split_off(n);
    let genesis_path = dir.join("genesis.json");
    let mut genesis = dev::sharded_testnet_genesis(&keys, args.shards);
    genesis.params.epoch_blocks = args.epoch_blocks;
    genesis.params.static_committees = args.static_committees;
    if genesis_path.exists() {
        let existing = Genesis::from_file(&genesis_path).map_err(|e| e.to_string())?;
        if existing.validators != genesis.validators
            || existing.num_shards != genesis.num_shards
            || existing.params != genesis.params
        {
            return Err(format!(
                "{} holds a testnet with other committees or parameters ({} validators on {} shards); use another --data-dir",
                dir.display(),
                existing.validators.len(),
                existing.num_shards
            ));
        }
    } else {
        std::fs::write(&genesis_path, genesis.to_json())
            .map_err(|e| format!("cannot write {}: {e}", genesis_path.display()))?;
    }
    let mut out = Vec::new();
    let boot: Vec<String> = (0..n.min(8))
        .map(|j| {
            let id = peer_id(node_keys[j]).map_err(|e| e.to_string())?;
            Ok(format!("/ip4/127.0.0.1/tcp/{}/p2p/{id}", port(1000 + j)?))
        })
        .collect::<Result<_, String>>()?;
    // The validators, the spares, then (with --rpc-node) the full node that tracks every shard.
    for i in 0..n + spares + usize::from(args.rpc_node) {
        let validator = i < n + spares;
        if !validator {
            let nd = dir.join(format!("node-{i}"));
            std::fs::create_dir_all(&nd).map_err(|e| format!("cannot create {}: {e}", nd.display()))?;
        }
        let rpc_addr: SocketAddr = ([127, 0, 0, 1], port(i)?).into();
        // Testnet nodes report double signing from the first dev account on shard 0.
        let reporter = (0..dev::DEV_ACCOUNTS)
            .find(|a| dev::dev_address(*a).home_shard(args.shards.max(1)) == 0)
            .ok_or("no dev account lives on shard 0")?;
        write_secret(
            &dir.join(format!("node-{i}")).join("reporter.key"),
            &dev::dev_key(reporter).to_bytes(),
        )?;
        let file = NodeFile {
            genesis: "../genesis.json".into(),
            data_dir: "data".into(),
            validator_key: validator.then(|| "validator.key".into()),
            node_key: "node.key".into(),
            reporter_key: Some("reporter.key".into()),
            rpc_addr,
            p2p_listen: format!("/ip4/127.0.0.1/tcp/{}", port(1000 + i)?),
            bootnodes: boot
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, b)| b.clone())
                .collect(),
            max_peers: default_max_peers(),
            block_time_ms: args.block_time,
            base_timeout_ms: args.base_timeout,
            max_block_txs: default_block_txs(),
            shard: None,
            state_window: default_state_window(),
            archive: false,
            // Validators run the beacon, their genesis shard and the shards they are elected to
            // (following the elections); the RPC node, and spares under static committees, all.
            track_shards: (!validator || (args.shards > 1 && args.static_committees && i >= n)).then(|| "all".into()),
            follow_elections: None,
            left_shards: None,
            // Each shard's first node serves it for clients that ask a node of another shard.
            shard_rpc: (0..args.shards)
                .map(|s| {
                    Ok((
                        s.to_string(),
                        format!("http://127.0.0.1:{}", port(s as usize * per_shard)?),
                    ))
                })
                .collect::<Result<_, String>>()?,
        };
        let path = dir.join(format!("node-{i}")).join("config.toml");
        let text = toml::to_string_pretty(&file).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        out.push((path, rpc_addr));
    }
    let stakes = genesis
        .validators
        .iter()
        .map(|v| {
            let stake = v
                .stake
                .parse::<u128>()
                .map_err(|e| format!("genesis stake `{}`: {e}", v.stake))?;
            Ok((v.shard, stake))
        })
        .collect::<Result<Vec<_>, String>>()?;
    // Spares and the RPC node hold no seat at genesis: they count for no shard's quorum.
    let stakes = stakes
        .into_iter()
        .chain(std::iter::repeat_n((0, 0), spares))
        .chain(args.rpc_node.then_some((0, 0)))
        .collect();
    Ok((out, stakes, spare_keys))
}

/// Starts `tutti node --config CONFIG` with its output appended to the node's log and its
/// standard input a pipe from us (the node stops when the pipe closes: when we end, however we end).
fn spawn_node(exe: &Path, config: &Path) -> std::io::Result<Child> {
    let log = config.with_file_name("node.log");
    let out = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
    let err = out.try_clone()?;
    Command::new(exe)
        .arg("node")
        .arg("--config")
        .arg(config)
        .arg("--stop-with-stdin")
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
}

/// Runs `tutti testnet`.
pub fn run_testnet(args: TestnetArgs) -> ExitCode {
    // Elected committees move validators between shards, so each runs every shard.
    let elected = args.shards > 1 && !args.static_committees;
    let (nodes, stakes, spare_keys) = match prepare(&args) {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    let validators = nodes.len() - usize::from(args.rpc_node) - spare_keys.len();
    let role = |i: usize| {
        if (validators..validators + spare_keys.len()).contains(&i) {
            "spare validator (registers by transaction), runs every shard".to_string()
        } else if i < validators {
            if elected {
                format!("shard {} at genesis, runs every shard", stakes[i].0)
            } else {
                format!("shard {}", stakes[i].0)
            }
        } else {
            "RPC node (every shard)".to_string()
        }
    };
    println!(
        "Tutti testnet: {} validators on {} shard(s), chain id {}, files in {}",
        validators,
        args.shards,
        dev::TESTNET_CHAIN_ID,
        args.data_dir.display()
    );
    if args.no_start {
        for (i, (config, rpc)) in nodes.iter().enumerate() {
            println!("  node {i}  {}  RPC http://{rpc}  config {}", role(i), config.display());
        }
        println!("Start each with: tutti node --config <config>");
        return ExitCode::SUCCESS;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(format!("cannot find this program to start the nodes: {e}")),
    };
    let mut children: Vec<Option<Child>> = Vec::new();
    for (i, (config, rpc)) in nodes.iter().enumerate() {
        match spawn_node(&exe, config) {
            Ok(c) => {
                println!(
                    "  node {i}  pid {}  {}  RPC http://{rpc}  config {}",
                    c.id(),
                    role(i),
                    config.display()
                );
                children.push(Some(c));
            }
            Err(e) => {
                stop_all(children.iter_mut().flatten());
                return fail(format!("cannot start node {i}: {e}"));
            }
        }
    }
    if !spare_keys.is_empty() {
        let rpc = format!("http://{}", nodes[0].1);
        let shards = args.shards.max(1);
        std::thread::spawn(move || register_spares(&rpc, shards, spare_keys));
    }
    let restart = args.restart_dead.map(Duration::from_secs);
    println!(
        "Logs: {}/node-*/node.log. A node that dies {}. Stop with Ctrl-C.",
        args.data_dir.display(),
        match restart {
            Some(d) => format!("is started again after {} s", d.as_secs()),
            None => "stays down (--restart-dead SECS restarts it)".into(),
        }
    );
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    // Which validators sit on which shard changes with every election; the supervisor then
    // watches them as one pool (a quorum of all), an approximation of every shard's committee.
    let watched = if elected {
        stakes.iter().map(|(_, stake)| (0, *stake)).collect()
    } else {
        stakes
    };
    let mut sup = Supervisor::new(watched, restart, Instant::now());
    let lost = rt.block_on(async {
        loop {
            tokio::select! {
                _ = crate::dev::wait_for_signal() => return None,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            let now = Instant::now();
            for (i, slot) in children.iter_mut().enumerate() {
                let Some(c) = slot else { continue };
                let Ok(Some(status)) = c.try_wait() else { continue };
                *slot = None;
                let config = &nodes[i].0;
                let log = config.with_file_name("node.log");
                eprintln!("node {i} exited ({status}); the end of {}:", log.display());
                for line in supervise::log_tail(&log, 12).lines() {
                    eprintln!("  | {line}");
                }
                match sup.exited(i, now) {
                    AfterExit::StaysDown => eprintln!(
                        "node {i} stays down; the others go on. Start it again with: {} node --config {}",
                        exe.display(),
                        config.display()
                    ),
                    AfterExit::RestartIn(d) => eprintln!("node {i} will be started again in {} s", d.as_secs()),
                    AfterExit::GaveUp { failures } => eprintln!(
                        "node {i} failed {failures} times in a row within {} s of starting; not restarting it",
                        supervise::QUICK.as_secs()
                    ),
                }
            }
            for i in sup.due(now) {
                match spawn_node(&exe, &nodes[i].0) {
                    Ok(c) => {
                        eprintln!("node {i} started again (pid {})", c.id());
                        children[i] = Some(c);
                        sup.started(i, now);
                    }
                    Err(e) => {
                        eprintln!("cannot start node {i} again: {e}");
                        sup.started(i, now);
                        sup.exited(i, now);
                    }
                }
            }
            if let Some(lost) = sup.lost_quorum() {
                return Some(lost);
            }
        }
    });
    eprintln!("stopping the nodes...");
    stop_all(children.iter_mut().flatten());
    match lost {
        None => ExitCode::SUCCESS,
        Some((shard, live, total)) => {
            eprintln!(
                "error: only {live} of shard {shard}'s {total} validators are left, fewer than a quorum (more than \
                 2/3 of its stake): the shard cannot finalize blocks, so the testnet stopped"
            );
            ExitCode::from(1)
        }
    }
}

/// Asks the nodes to stop (standard input closed, SIGTERM), then kills those still running 10 s later.
fn stop_all<'a>(children: impl IntoIterator<Item = &'a mut Child>) {
    let mut children: Vec<&mut Child> = children.into_iter().collect();
    for c in children.iter_mut() {
        drop(c.stdin.take());
        #[cfg(unix)]
        if let Ok(pid) = i32::try_from(c.id()) {
            let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && children.iter_mut().any(|c| matches!(c.try_wait(), Ok(None))) {
        std::thread::sleep(Duration::from_millis(100));
    }
    for c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::parse_track_shards;

    #[test]
    fn track_shards_take_all_or_a_list_and_name_what_is_wrong() {
        assert_eq!(parse_track_shards("all", 3), Ok(vec![0, 1, 2]));
        assert_eq!(parse_track_shards(" 2, 0,2 ", 3), Ok(vec![2, 0]));
        let e = parse_track_shards("0,3", 3).unwrap_err();
        assert!(e.contains("there is no shard 3; the chain has 3 (0 to 2)"), "{e}");
        let e = parse_track_shards("one", 3).unwrap_err();
        assert!(e.contains("`one` is not a shard number"), "{e}");
    }
}
