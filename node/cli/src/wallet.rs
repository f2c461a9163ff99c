//! Wallet commands over the RPC client: keys, send, deploy, call, view, tx, block, account.
//!
//! Exit codes: 0 success; 1 the transaction or call failed on chain; 2 usage, key, file or RPC
//! errors.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use crate::returns;
use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use ed25519_dalek::SigningKey;
use jsonrpsee::http_client::HttpClient;
use parity_scale_codec::Encode;
use serde::{Deserialize, Serialize};
use tutti_node::dev;
use tutti_primitives::{Action, Address, Amount, Gas, PublicKey, SignedTransaction, Transaction};
use tutti_rpc::{
    TuttiApiClient,
    types::{BlockId, BlockTag, TxReceiptView, hex0x, parse_hex},
};

/// Where to reach the node.
#[derive(Args, Clone)]
pub struct RpcArgs {
    /// The node's RPC URL.
    #[arg(long, env = "TUTTI_RPC", default_value = "http://127.0.0.1:9500", global = true)]
    pub rpc: String,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Key management.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and store it under NAME.
    New {
        /// Name to store it under.
        name: String,
    },
    /// List stored keys (and the dev keys dev0..dev9).
    List,
    /// Show a key's address and public key.
    Show {
        /// Key name (or dev0..dev9).
        name: String,
    },
    /// Create a validator's BLS key file (what `tutti node` signs with and `tutti stake
    /// create-validator` registers), unencrypted, mode 600.
    NewValidator {
        /// Where to write it (refused if it exists).
        path: PathBuf,
    },
}

/// Options shared by commands that send a transaction.
#[derive(Args, Clone)]
pub struct TxArgs {
    /// Key that signs (a stored key name, or dev0..dev9).
    #[arg(long)]
    pub from: String,
    /// Gas limit (default: estimated for calls; 2,000,000 for transfers).
    #[arg(long)]
    pub gas_limit: Option<Gas>,
    /// Gas price.
    #[arg(long, default_value_t = 1)]
    pub gas_price: Amount,
    /// Return after submitting instead of waiting for the outcome.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for the outcome.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

/// A method's arguments: by name (the contract's ABI gives their types), typed, or raw.
#[derive(Args, Clone, Default)]
pub struct CallArgs {
    /// An argument, repeatable: by name, `NAME=VALUE` (the contract's ABI gives its type:
    /// --arg to=tt1… --arg amount=5000; lists and structs as JSON), or for contracts without an
    /// ABI typed and in order, `TYPE:VALUE`: u8:N u32:N u64:N u128:N bool:true string:TEXT
    /// address:tt1… bytes:0xHEX.
    #[arg(long = "arg")]
    pub args: Vec<String>,
    /// The arguments by name as one JSON object (instead of --arg): '{"to": "tt1…", "amount": "5000"}'.
    #[arg(long = "args", conflicts_with = "args")]
    pub args_json: Option<String>,
    /// Raw SCALE-encoded arguments as hex (instead of --arg).
    #[arg(long, conflicts_with_all = ["args", "args_json"])]
    pub args_hex: Option<String>,
}

impl CallArgs {
    /// Whether the arguments are given by name (they need the contract's ABI).
    pub fn named(&self) -> bool {
        self.args_json.is_some() || (!self.args.is_empty() && self.args.iter().all(|a| named_arg(a).is_some()))
    }
}

/// `NAME=VALUE` (a Rust identifier before `=`, no `TYPE:` prefix), split.
fn named_arg(a: &str) -> Option<(&str, &str)> {
    let (name, value) = a.split_once('=')?;
    let ident = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ident.then_some((name, value))
}

/// A command-line value as JSON: integers stay strings (exact past 2^53), lists, objects,
/// booleans and null are JSON, anything else a string.
fn arg_value(v: &str) -> serde_json::Value {
    let t = v.trim();
    let integer = !t.is_empty() && t.trim_start_matches('-').chars().all(|c| c.is_ascii_digit());
    if integer {
        return serde_json::Value::String(t.into());
    }
    match serde_json::from_str::<serde_json::Value>(t) {
        Ok(j @ (serde_json::Value::Array(_) | serde_json::Value::Object(_) | serde_json::Value::Bool(_))) => j,
        Ok(serde_json::Value::Null) => serde_json::Value::Null,
        _ => serde_json::Value::String(v.into()),
    }
}

/// The contract's ABI, if it has one (a node without `tutti_getAbi` counts as none).
pub async fn abi_of(c: &HttpClient, contract: &str) -> Option<tutti_abi::Abi> {
    let v = c.get_abi(contract.to_string(), None).await.ok()??;
    serde_json::from_value(v).ok()
}

/// The method's input: by name through `abi`, else typed or raw.
pub fn encode_call(a: &CallArgs, abi: Option<&tutti_abi::Abi>, method: &str) -> anyhow::Result<Vec<u8>> {
    if !a.named() {
        return encode_args(a);
    }
    let abi = abi.ok_or_else(|| {
        anyhow!("this contract carries no ABI, so arguments cannot be given by name; give them typed and in order (--arg u128:5000)")
    })?;
    let named: std::collections::BTreeMap<String, serde_json::Value> = match &a.args_json {
        Some(j) => {
            serde_json::from_str(j).map_err(|e| anyhow!("--args must be a JSON object of named arguments: {e}"))?
        }
        None => a
            .args
            .iter()
            .map(|x| {
                let (n, v) = named_arg(x).expect("checked by named()");
                (n.to_string(), arg_value(v))
            })
            .collect(),
    };
    Ok(abi.encode_args(method, &named)?)
}

/// Encodes `type:value` arguments.
pub fn encode_args(a: &CallArgs) -> anyhow::Result<Vec<u8>> {
    if let Some(h) = &a.args_hex {
        return parse_hex(h).map_err(|e| anyhow!("--args-hex: {e}"));
    }
    let mut out = Vec::new();
    for arg in &a.args {
        let (ty, v) = arg
            .split_once(':')
            .ok_or_else(|| anyhow!("--arg `{arg}` must be TYPE:VALUE, e.g. u128:1000"))?;
        let bad = |e: &dyn std::fmt::Display| anyhow!("--arg `{arg}`: {e}");
        match ty {
            "u8" => v.parse::<u8>().map_err(|e| bad(&e))?.encode_to(&mut out),
            "u32" => v.parse::<u32>().map_err(|e| bad(&e))?.encode_to(&mut out),
            "u64" => v.parse::<u64>().map_err(|e| bad(&e))?.encode_to(&mut out),
            "u128" => v.parse::<u128>().map_err(|e| bad(&e))?.encode_to(&mut out),
            "bool" => v.parse::<bool>().map_err(|e| bad(&e))?.encode_to(&mut out),
            "string" => v.to_string().encode_to(&mut out),
            "address" => v.parse::<Address>().map_err(|e| bad(&e))?.encode_to(&mut out),
            "bytes" => parse_hex(v).map_err(|e| bad(&e))?.encode_to(&mut out),
            other => bail!("--arg `{arg}`: unknown type `{other}` (u8 u32 u64 u128 bool string address bytes)"),
        }
    }
    Ok(out)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyFile {
    name: String,
    address: String,
    public_key: String,
    secret_key: String,
}

fn keys_dir() -> PathBuf {
    if let Ok(d) = std::env::var("TUTTI_KEYS_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join(".tutti").join("keys")
}

fn valid_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        bail!("key name `{name}` must be 1-64 letters, digits, - or _");
    }
    Ok(())
}

fn dev_index(name: &str) -> Option<u32> {
    name.strip_prefix("dev")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|i| *i < dev::DEV_ACCOUNTS)
}

/// Loads a key by name.
pub fn load_key(name: &str) -> anyhow::Result<SigningKey> {
    if let Some(i) = dev_index(name) {
        return Ok(dev::dev_key(i));
    }
    valid_name(name)?;
    let path = keys_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no key `{name}` at {} (create it with `tutti keys new {name}`)",
            path.display()
        )
    })?;
    let kf: KeyFile = serde_json::from_str(&text).with_context(|| format!("{} is not a key file", path.display()))?;
    let bytes: [u8; 32] = parse_hex(&kf.secret_key)
        .map_err(|e| anyhow!(e))?
        .try_into()
        .map_err(|_| anyhow!("{}: the secret key is not 32 bytes", path.display()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

pub(crate) fn address_of(k: &SigningKey) -> Address {
    Address::from_public_key(&k.verifying_key().to_bytes())
}

pub(crate) fn print_json(v: &impl Serialize) {
    println!("{}", serde_json::to_string_pretty(v).expect("serializable"));
}

/// Runs a keys subcommand.
pub fn keys(cmd: KeysCommand, json: bool) -> ExitCode {
    match keys_inner(cmd, json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage(e),
    }
}

fn usage(e: anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(2)
}

fn keys_inner(cmd: KeysCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::New { name } => {
            valid_name(&name)?;
            if dev_index(&name).is_some() {
                bail!("`{name}` is reserved for the dev keys");
            }
            let dir = keys_dir();
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let path = dir.join(format!("{name}.json"));
            if path.exists() {
                bail!("a key named `{name}` exists at {}; pick another name", path.display());
            }
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
            let k = SigningKey::from_bytes(&seed);
            let kf = KeyFile {
                name: name.clone(),
                address: address_of(&k).to_string(),
                public_key: hex0x(&k.verifying_key().to_bytes()),
                secret_key: hex0x(&k.to_bytes()),
            };
            write_private(&path, &serde_json::to_string_pretty(&kf)?)?;
            if json {
                print_json(
                    &serde_json::json!({"name": name, "address": kf.address, "publicKey": kf.public_key, "file": path}),
                );
            } else {
                println!("created key `{name}`");
                println!("  address     {}", kf.address);
                println!("  public key  {}", kf.public_key);
                println!("  stored in   {} (unencrypted, readable only by you)", path.display());
            }
        }
        KeysCommand::List => {
            let mut rows = Vec::new();
            for i in 0..dev::DEV_ACCOUNTS {
                rows.push((format!("dev{i}"), dev::dev_address(i).to_string()));
            }
            if let Ok(rd) = std::fs::read_dir(keys_dir()) {
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json").map(String::from))
                    .collect();
                names.sort();
                for n in names {
                    if let Ok(k) = load_key(&n) {
                        rows.push((n, address_of(&k).to_string()));
                    }
                }
            }
            if json {
                print_json(
                    &rows
                        .iter()
                        .map(|(n, a)| serde_json::json!({"name": n, "address": a}))
                        .collect::<Vec<_>>(),
                );
            } else {
                for (n, a) in rows {
                    println!("{n:<16} {a}");
                }
            }
        }
        KeysCommand::NewValidator { path } => {
            if path.exists() {
                bail!("{} exists; pick another path", path.display());
            }
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
            let sk = tutti_consensus::bls::SecretKey::from_seed(&seed);
            write_private(&path, &format!("{}\n", hex::encode(sk.to_bytes())))?;
            let public = hex0x(&sk.public_key().to_bytes());
            if json {
                print_json(&serde_json::json!({"file": path, "blsPublicKey": public}));
            } else {
                println!("created validator key {}", path.display());
                println!("  BLS public key  {public}");
            }
        }
        KeysCommand::Show { name } => {
            let k = load_key(&name)?;
            let address = address_of(&k);
            if json {
                print_json(&serde_json::json!({
                    "name": name, "address": address.to_string(), "addressHex": address.to_hex(),
                    "publicKey": hex0x(&k.verifying_key().to_bytes()),
                }));
            } else {
                println!("name        {name}");
                println!("address     {address}");
                println!("address hex {}", address.to_hex());
                println!("public key  {}", hex0x(&k.verifying_key().to_bytes()));
            }
        }
    }
    Ok(())
}

fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::{io::Write, os::unix::fs::OpenOptionsExt};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(text.as_bytes())?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }
}

pub(crate) fn client(rpc: &RpcArgs) -> anyhow::Result<HttpClient> {
    tutti_rpc::client::http(&rpc.rpc).map_err(|e| anyhow!("RPC URL {}: {e}", rpc.rpc))
}

/// A client of a node serving `a`'s shard: the `--rpc` node when it does, else the endpoint it
/// names for that shard (a testnet node serves one shard and knows where the others are).
pub(crate) async fn home_client(rpc: &RpcArgs, a: &Address) -> anyhow::Result<HttpClient> {
    let c = client(rpc)?;
    let Ok(layout) = c.get_sharding_structure().await else {
        return Ok(c);
    };
    let shard = a.home_shard(layout.num_shards);
    match layout.shards.iter().find(|s| s.shard_id == shard) {
        Some(s) if !s.tracked && !s.rpc.is_empty() => {
            if !rpc.json {
                eprintln!("note: {a} lives on shard {shard}, served at {}", s.rpc);
            }
            tutti_rpc::client::http(&s.rpc).map_err(|e| anyhow!("RPC URL {}: {e}", s.rpc))
        }
        _ => Ok(c),
    }
}

pub(crate) fn rpc_err(rpc: &RpcArgs) -> impl Fn(jsonrpsee::core::ClientError) -> anyhow::Error + '_ {
    move |e| match e {
        jsonrpsee::core::ClientError::Call(obj) => anyhow!("{} (code {})", obj.message(), obj.code()),
        jsonrpsee::core::ClientError::Transport(t) => {
            anyhow!(
                "cannot reach the node at {}: {t} (is `tutti dev` running? pass --rpc)",
                rpc.rpc
            )
        }
        other => anyhow!("RPC error: {other}"),
    }
}

/// Signs and submits `action`; waits for its outcome unless told not to. Returns the exit code.
pub(crate) async fn send_action(
    rpc: &RpcArgs,
    tx: &TxArgs,
    action: Action,
    default_gas: Gas,
) -> anyhow::Result<ExitCode> {
    send_action_reading(rpc, tx, action, default_gas, None).await
}

/// [`send_action`], decoding the outcome with `reader`.
async fn send_action_reading(
    rpc: &RpcArgs,
    tx: &TxArgs,
    action: Action,
    default_gas: Gas,
    reader: Option<&Reader<'_>>,
) -> anyhow::Result<ExitCode> {
    let key = load_key(&tx.from)?;
    let from = address_of(&key);
    let c = home_client(rpc, &from).await?;
    let e = rpc_err(rpc);
    let chain_id = c.chain_id().await.map_err(&e)?;
    let account = c.get_account(from.to_string(), None).await.map_err(&e)?;
    // A deploy's contract address is known before it is sent: say it first.
    let contract = matches!(action, Action::Deploy { .. }).then(|| Address::for_contract(&from, account.nonce));
    if let Some(a) = contract
        && !rpc.json
    {
        let shards = c.get_sharding_structure().await.map(|s| s.num_shards).unwrap_or(1);
        println!("contract    {a}  (shard {})", a.home_shard(shards));
    }
    // Account for our own pending transactions: the pool accepts nonces ahead of the account.
    let stx: SignedTransaction = Transaction {
        chain_id,
        signer: PublicKey(key.verifying_key().to_bytes()),
        nonce: account.nonce,
        gas_limit: tx.gas_limit.unwrap_or(default_gas),
        gas_price: tx.gas_price,
        action,
    }
    .sign(&key);
    let hash = c.send_raw_transaction(hex0x(&stx.encode())).await.map_err(&e)?;
    if tx.no_wait {
        if rpc.json {
            print_json(&serde_json::json!({ "hash": hash }));
        } else {
            println!("submitted {hash}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let receipt = wait_receipt(&c, rpc, &hash, Duration::from_secs(tx.timeout)).await?;
    if let Some(a) = contract
        && rpc.json
    {
        let mut v = serde_json::to_value(&receipt)?;
        v["contract"] = serde_json::json!(a.to_string());
        print_json(&v);
        return Ok(outcome_code(&receipt));
    }
    Ok(show_receipt_with(rpc, &receipt, reader))
}

async fn wait_receipt(c: &HttpClient, rpc: &RpcArgs, hash: &str, timeout: Duration) -> anyhow::Result<TxReceiptView> {
    let e = rpc_err(rpc);
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(r) = c.get_transaction_receipt(hash.to_string()).await.map_err(&e)?
            && r.status != "pending"
        {
            return Ok(r);
        }
        if std::time::Instant::now() > deadline {
            bail!("transaction {hash} has no final outcome after {timeout:?}; check later with `tutti tx {hash}`");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How to read a call's results: the contract's ABI and the method called.
pub struct Reader<'a> {
    /// The contract.
    pub contract: String,
    /// Its ABI.
    pub abi: &'a tutti_abi::Abi,
    /// The method called.
    pub method: String,
}

impl Reader<'_> {
    /// The method's return data, decoded (`None` when the ABI does not say or it does not decode).
    fn returned(&self, hex: &str) -> Option<serde_json::Value> {
        let ty = self.abi.method(&self.method).ok()?.returns?;
        self.abi.decode(ty, &parse_hex(hex).ok()?).ok()
    }

    /// An event of this contract, decoded.
    fn event(&self, contract: &str, name: &str, hex: &str) -> Option<serde_json::Value> {
        if contract != self.contract {
            return None;
        }
        let ty = self.abi.event(name)?.ty;
        self.abi.decode(ty, &parse_hex(hex).ok()?).ok()
    }
}

fn show_receipt(rpc: &RpcArgs, r: &TxReceiptView) -> ExitCode {
    show_receipt_with(rpc, r, None)
}

fn show_receipt_with(rpc: &RpcArgs, r: &TxReceiptView, reader: Option<&Reader<'_>>) -> ExitCode {
    if rpc.json {
        let mut v = serde_json::to_value(r).expect("a receipt serialises");
        if let Some(rd) = reader {
            if let Some(d) = r.return_data.as_deref().and_then(|h| rd.returned(h)) {
                v["decoded"] = d;
            }
            if let Some(evs) = v["events"].as_array_mut() {
                for (e, ev) in evs.iter_mut().zip(&r.events) {
                    if let Some(d) = rd.event(&ev.contract, &ev.name, &ev.data) {
                        e["decoded"] = d;
                    }
                }
            }
        }
        print_json(&v);
    } else {
        println!("transaction {}", r.transaction_hash);
        println!("  status      {}", r.status);
        if !r.continues_on.is_empty() {
            let shards: Vec<String> = r.continues_on.iter().map(|s| s.to_string()).collect();
            println!(
                "  continues   on shard {} (this node does not serve it; ask a node of that shard for its part)",
                shards.join(", ")
            );
        }
        println!("  block       {} ({})", r.block_height, r.block_hash);
        println!("  gas burnt   {}  fee {}", r.gas_burnt, r.fee);
        if let Some(d) = &r.return_data {
            match reader.and_then(|rd| rd.returned(d)) {
                Some(v) => println!("  returned    {v}"),
                None => println!("  returned    {d}"),
            }
        }
        if let Some(f) = &r.failure {
            println!("  failure     {}: {}", f.kind, f.message);
        }
        for ev in &r.events {
            match reader.and_then(|rd| rd.event(&ev.contract, &ev.name, &ev.data)) {
                Some(v) => println!("  event       {} {v}", ev.name),
                None => println!("  event       {} from {} data {}", ev.name, ev.contract, ev.data),
            }
        }
        for x in &r.executions {
            println!(
                "  execution   {} {} {}{} gas {}  (shard {} block {})",
                x.id,
                x.status,
                x.receiver,
                x.method.as_deref().map(|m| format!(".{m}")).unwrap_or_default(),
                x.gas_used,
                x.shard_id,
                x.height
            );
            for l in &x.logs {
                println!("    log       {l}");
            }
        }
    }
    outcome_code(r)
}

/// The exit status of a final receipt. `sent`: all this node can see succeeded; the rest runs on
/// shards it does not serve.
fn outcome_code(r: &TxReceiptView) -> ExitCode {
    if r.status == "success" || r.status == "sent" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) fn finish(r: anyhow::Result<ExitCode>) -> ExitCode {
    r.unwrap_or_else(usage)
}

/// `tutti send`.
/// A recipient: an address, or `devN` for the well-known dev account N.
fn recipient(to: &str) -> anyhow::Result<Address> {
    if let Some(i) = to.strip_prefix("dev").and_then(|n| n.parse::<u32>().ok()) {
        if i < dev::DEV_ACCOUNTS {
            return Ok(dev::dev_address(i));
        }
        return Err(anyhow!(
            "--to `{to}`: the dev accounts are dev0 to dev{}",
            dev::DEV_ACCOUNTS - 1
        ));
    }
    to.parse().map_err(|e| anyhow!("--to `{to}`: {e}"))
}

/// `tutti send`.
pub fn send(rpc: RpcArgs, tx: TxArgs, to: String, amount: Amount) -> ExitCode {
    finish((|| {
        let to = recipient(&to)?;
        runtime()?.block_on(send_action(&rpc, &tx, Action::Transfer { to, amount }, 2_000_000))
    })())
}

/// `tutti deploy`.
pub fn deploy(
    rpc: RpcArgs,
    tx: TxArgs,
    file: PathBuf,
    init: Option<String>,
    args: CallArgs,
    value: Amount,
) -> ExitCode {
    finish((|| {
        let code = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let args = encode_args(&args)?;
        // Inclusion + deploy cost of this size + room for the init call.
        let gas = tutti_runtime::GasSchedule::default().deploy_gas_limit(code.len());
        runtime()?.block_on(send_action(
            &rpc,
            &tx,
            Action::Deploy {
                code,
                init_method: init,
                args,
                value,
            },
            gas,
        ))
    })())
}

/// `tutti call` (a transaction).
pub fn call(rpc: RpcArgs, tx: TxArgs, contract: String, method: String, args: CallArgs, value: Amount) -> ExitCode {
    finish((|| {
        let contract_addr: Address = contract.parse().map_err(|e| anyhow!("contract `{contract}`: {e}"))?;
        let rt = runtime()?;
        // The ABI, to encode arguments by name and decode the outcome; before anything is signed.
        let abi =
            rt.block_on(async { anyhow::Ok(abi_of(&home_client(&rpc, &contract_addr).await?, &contract).await) })?;
        let args = encode_call(&args, abi.as_ref(), &method)?;
        let gas = match tx.gas_limit {
            Some(g) => g,
            None => rt.block_on(async {
                let key = load_key(&tx.from)?;
                let c = client(&rpc)?;
                // Estimate, with headroom for state that changes before inclusion.
                let est = c
                    .estimate_gas(
                        address_of(&key).to_string(),
                        contract_addr.to_string(),
                        method.clone(),
                        Some(hex0x(&args)),
                        Some(value.to_string()),
                    )
                    .await
                    .map_err(rpc_err(&rpc))?;
                anyhow::Ok(est.saturating_mul(3) / 2 + 1_000_000)
            })?,
        };
        let reader = abi.as_ref().map(|abi| Reader {
            contract: contract_addr.to_string(),
            abi,
            method: method.clone(),
        });
        rt.block_on(send_action_reading(
            &rpc,
            &tx,
            Action::Call {
                contract: contract_addr,
                method,
                args,
                value,
            },
            gas,
            reader.as_ref(),
        ))
    })())
}

/// `tutti abi`.
pub fn abi(rpc: RpcArgs, contract: String) -> ExitCode {
    finish((|| {
        let a: Address = contract.parse().map_err(|e| anyhow!("contract `{contract}`: {e}"))?;
        runtime()?.block_on(async {
            let c = home_client(&rpc, &a).await?;
            let v = c.get_abi(contract.clone(), None).await.map_err(rpc_err(&rpc))?;
            let Some(v) = v else {
                bail!("{contract} has no ABI (a plain account, or a contract built without one)");
            };
            if rpc.json {
                print_json(&v);
            } else {
                let abi: tutti_abi::Abi = serde_json::from_value(v)?;
                print!("{}", abi.describe());
            }
            Ok(ExitCode::SUCCESS)
        })
    })())
}

/// `tutti view`.
pub fn view(rpc: RpcArgs, contract: String, method: String, args: CallArgs, returns: Option<String>) -> ExitCode {
    finish((|| {
        // Check the type before asking the node, so a typo fails fast.
        let returns = returns.as_deref().map(returns::parse).transpose()?;
        runtime()?.block_on(async {
            let c = match contract.parse::<Address>() {
                Ok(a) => home_client(&rpc, &a).await?,
                Err(_) => client(&rpc)?,
            };
            let abi = abi_of(&c, &contract).await;
            let args = encode_call(&args, abi.as_ref(), &method)?;
            let r = c
                .call(contract.clone(), method.clone(), Some(hex0x(&args)), None)
                .await
                .map_err(rpc_err(&rpc))?;
            let decoded = match (&returns, &r.return_data) {
                (Some(ty), Some(d)) => Some(returns::decode(ty, &parse_hex(d).map_err(|e| anyhow!(e))?)?),
                // No type given: the contract's ABI says.
                (None, Some(d)) => abi.as_ref().and_then(|abi| {
                    Reader {
                        contract: contract.clone(),
                        abi,
                        method: method.clone(),
                    }
                    .returned(d)
                }),
                _ => None,
            };
            if rpc.json {
                let mut v = serde_json::to_value(&r)?;
                if let Some(d) = decoded {
                    v["decoded"] = d;
                }
                print_json(&v);
            } else if let Some(f) = &r.failure {
                println!("failed: {}: {}", f.kind, f.message);
            } else {
                let shown = match (&returns, &decoded) {
                    (Some(_), Some(d)) => Some(returns::display(d)),
                    (None, Some(d)) => Some(d.to_string()),
                    _ => None,
                };
                println!("{}", shown.or(r.return_data.clone()).unwrap_or_default());
                for l in &r.logs {
                    eprintln!("log: {l}");
                }
            }
            Ok(if r.status == "success" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        })
    })())
}

/// `tutti tx`.
pub fn tx(rpc: RpcArgs, hash: String) -> ExitCode {
    finish((|| {
        runtime()?.block_on(async {
            let c = client(&rpc)?;
            let e = rpc_err(&rpc);
            let Some(t) = c.get_transaction(hash.clone()).await.map_err(&e)? else {
                bail!("no transaction {hash} on this node");
            };
            let r = c.get_transaction_receipt(hash.clone()).await.map_err(&e)?;
            if rpc.json {
                print_json(&serde_json::json!({ "transaction": t, "receipt": r }));
                return Ok(ExitCode::SUCCESS);
            }
            println!("{}", serde_json::to_string_pretty(&t)?);
            match r {
                Some(r) => Ok(show_receipt(&rpc, &r)),
                None => {
                    println!("pending (not in a block yet)");
                    Ok(ExitCode::SUCCESS)
                }
            }
        })
    })())
}

/// `tutti block`.
pub fn block(rpc: RpcArgs, which: String, full: bool) -> ExitCode {
    finish((|| {
        let id = match which.as_str() {
            "latest" => BlockId::Tag(BlockTag::Latest),
            "earliest" => BlockId::Tag(BlockTag::Earliest),
            n => BlockId::Number(
                n.parse()
                    .map_err(|_| anyhow!("block `{n}` is not a height, `latest` or `earliest`"))?,
            ),
        };
        runtime()?.block_on(async {
            let c = client(&rpc)?;
            let Some(b) = c
                .get_block_by_number(id, Some(full), None)
                .await
                .map_err(rpc_err(&rpc))?
            else {
                bail!("no block {which} yet");
            };
            if rpc.json {
                print_json(&b);
            } else {
                println!("block {} {}", b.height, b.hash);
                println!("  parent      {}", b.parent_hash);
                println!("  time        {} ms", b.timestamp_ms);
                println!("  state root  {}", b.state_root);
                println!("  gas used    {}", b.gas_used);
                println!("  randomness  {}", b.randomness);
                println!("  txs         {}", b.transactions.len());
                for t in &b.transactions {
                    match t {
                        tutti_rpc::types::TxOrHash::Hash(h) => println!("    {h}"),
                        tutti_rpc::types::TxOrHash::Full(t) => println!("    {}", serde_json::to_string(t)?),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        })
    })())
}

/// The native token's symbol, as the node says (the default if it cannot).
pub async fn symbol_of(c: &HttpClient) -> String {
    c.status()
        .await
        .map(|s| s.token_symbol)
        .unwrap_or_else(|_| crate::amount::DEFAULT_SYMBOL.to_string())
}

/// `tutti account`.
pub fn account(rpc: RpcArgs, who: String) -> ExitCode {
    finish((|| {
        let address = match load_key(&who) {
            Ok(k) if dev_index(&who).is_some() || !who.starts_with("tt1") => address_of(&k).to_string(),
            _ => who.clone(),
        };
        runtime()?.block_on(async {
            let c = match address.parse::<Address>() {
                Ok(a) => home_client(&rpc, &a).await?,
                Err(_) => client(&rpc)?,
            };
            let a = c.get_account(address, None).await.map_err(rpc_err(&rpc))?;
            if rpc.json {
                print_json(&a);
            } else {
                println!("address   {}", a.address);
                let symbol = symbol_of(&c).await;
                let readable = a
                    .balance
                    .parse()
                    .map(|b| crate::amount::format(b, &symbol))
                    .unwrap_or_default();
                println!("balance   {readable}  ({} atto)", a.balance);
                println!("nonce     {}", a.nonce);
                if let Some(h) = &a.code_hash {
                    println!("code hash {h}");
                }
                println!("at block  {}", a.height);
            }
            Ok(ExitCode::SUCCESS)
        })
    })())
}
