//! What one committed transaction costs the node, by phase, at a fixed block size: admission (decode,
//! stateless rules, the batched signature check, the account read and the pool insert:
//! `Node::admit_batch`), selection (`Node::candidates`), execution (`block::build`: every
//! transaction applied and the state root computed) and commit (`Chain::commit`: the block, its
//! executions and indexes and the state update written in one sled batch and flushed, then
//! `Node::committed`), for native transfers and for transfers of the example token.
//!
//! Each phase is one `#[inline(never)]` function (`txcost::phase_*`), so that callgrind counts
//! exactly the instructions of each (repeatable on any machine, whatever else runs):
//!
//! ```text
//! cargo bench -p tutti-node --bench txcost --no-run   # prints the binary's path
//! TXCOST_RUNS=1 valgrind --tool=callgrind --callgrind-out-file=/tmp/txcost.out \
//!   --collect-atstart=no --toggle-collect='txcost::phase_*' target/release/deps/txcost-HASH
//! callgrind_annotate --inclusive=yes /tmp/txcost.out | grep 'txcost::phase_'
//! ```
//!
//! (`TXCOST_KIND=native` or `token` runs one kind; the store's background applier, which runs
//! beside the next block, is `tutti_chain::journal::apply_loop`: add it to the toggles to count it.)
//!
//! Without valgrind it prints wall-clock milliseconds per phase (min / median / max of
//! `TXCOST_RUNS` blocks, 3 by default, each on its own fresh block of `TXCOST_TXS` transactions,
//! 20,000 by default, from 1,000 senders) and the commit / execution ratio per run.
//!
//! `cargo bench -p tutti-node --bench txcost`

use std::{sync::Arc, time::Instant};

use tutti_chain::{MempoolConfig, StoredBlock, block, genesis::GenesisAccount};
use tutti_consensus::bls::SecretKey;
use tutti_node::{Node, NodeConfig, dev, solo};
use tutti_primitives::{Action, Address, PublicKey, SignedTransaction, Transaction, codec::Encode};

const SENDERS: u32 = 1_000;

fn signing_key(i: u32) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&blake3::derive_key("tutti txcost sender", &i.to_le_bytes()))
}

fn address(k: &ed25519_dalek::SigningKey) -> Address {
    Address::from_public_key(&k.verifying_key().to_bytes())
}

fn sign(k: &ed25519_dalek::SigningKey, nonce: u64, gas_limit: u64, action: Action) -> SignedTransaction {
    Transaction {
        chain_id: dev::TESTNET_CHAIN_ID,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit,
        gas_price: 1,
        action,
    }
    .sign(k)
}

struct Bench {
    node: Arc<Node>,
    key: SecretKey,
    senders: Vec<ed25519_dalek::SigningKey>,
    nonces: Vec<u64>,
    token: Option<(Address, u64)>,
    /// Last: the node's store is closed before its directory goes.
    _dir: tempfile::TempDir,
}

impl Bench {
    fn new(txs: usize) -> Bench {
        let key = SecretKey::from_seed(&[9; 32]);
        let mut g = dev::testnet_genesis(std::slice::from_ref(&key));
        g.params.static_committees = true;
        let senders: Vec<_> = (0..SENDERS).map(signing_key).collect();
        g.accounts.extend(senders.iter().map(|k| GenesisAccount {
            address: address(k).to_string(),
            balance: (10u128.pow(24)).to_string(),
        }));
        let dir = tempfile::tempdir().expect("temp dir");
        // Blocks run their calls one at a time: two pooled call slots are plenty, and valgrind
        // cannot reserve the address space of the node's default 64.
        let runtime = tutti_runtime::RuntimeConfig {
            max_concurrent_calls: 2,
            ..Default::default()
        };
        let node = Node::open_with(
            NodeConfig {
                shard: Some(0),
                genesis: g,
                data_dir: Some(dir.path().to_path_buf()),
                validators: Vec::new(),
                block_time: std::time::Duration::from_millis(1_000),
                max_block_txs: txs,
                mempool: MempoolConfig {
                    max_txs: txs.max(100_000),
                    ..MempoolConfig::default()
                },
                state_window: None,
            },
            runtime,
        )
        .expect("node opens");
        Bench {
            _dir: dir,
            node,
            key,
            nonces: vec![0; senders.len()],
            senders,
            token: None,
        }
    }

    /// Commits `txs` without the pool (setup blocks); every one must apply.
    fn setup_block(&mut self, txs: Vec<SignedTransaction>) -> tutti_chain::BlockOutput {
        let n = txs.len();
        let chain = self.node.chain();
        let ts = chain.head().header.timestamp_ms + 1_000;
        let p = solo::produce_and_commit(chain, self.node.runtime(), &self.key, txs, ts, false).expect("setup block");
        assert_eq!(
            p.block.txs.len(),
            n,
            "every setup transaction applies: {:?}",
            p.output.skipped
        );
        p.output
    }

    /// Deploys the example token from sender 0 and gives every sender some.
    fn with_token(mut self) -> Bench {
        let owner = self.senders[0].clone();
        let init = ("Gold".to_string(), "GLD".to_string(), 18u8, 10u128.pow(30)).encode();
        let deploy = sign(
            &owner,
            0,
            tutti_runtime::GasSchedule::default().deploy_gas_limit(tutti_examples::TOKEN.len()),
            Action::Deploy {
                code: tutti_examples::TOKEN.to_vec(),
                init_method: Some("init".into()),
                args: init,
                value: 0,
            },
        );
        self.setup_block(vec![deploy]);
        let token = Address::for_contract(&address(&owner), 0);
        self.nonces[0] = 1;
        let gifts: Vec<_> = (1..self.senders.len())
            .map(|i| {
                let to = address(&self.senders[i]);
                let n = self.nonces[0];
                self.nonces[0] += 1;
                sign(&owner, n, 20_000_000, token_transfer(token, to, 10u128.pow(24)))
            })
            .collect();
        let out = self.setup_block(gifts);
        // The gas limit transfers get: what one used, with the CLI's headroom.
        let used = out
            .executions
            .iter()
            .filter(|(_, e)| !e.transaction)
            .map(|(_, e)| e.gas_used)
            .max();
        let inclusion = tutti_runtime::GasSchedule::default().inclusion_cost(256);
        let gas = used.expect("token transfers ran") * 3 / 2 + 1_000_000 + inclusion;
        self.token = Some((token, gas));
        self
    }

    /// One block's worth of transfers (native, or of the token), round robin over the senders.
    fn transactions(&mut self, count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| {
                let s = i % self.senders.len();
                let mut to = [0u8; 32];
                to[..8].copy_from_slice(&(i as u64).to_le_bytes());
                to[8..16].copy_from_slice(&self.nonces[s].to_le_bytes());
                to[16] = 0xbe;
                let (gas, action) = match self.token {
                    Some((token, gas)) => (gas, token_transfer(token, Address(to), 1)),
                    None => (
                        2_000_000,
                        Action::Transfer {
                            to: Address(to),
                            amount: 1,
                        },
                    ),
                };
                let n = self.nonces[s];
                self.nonces[s] += 1;
                sign(&self.senders[s], n, gas, action).encode()
            })
            .collect()
    }
}

fn token_transfer(token: Address, to: Address, amount: u128) -> Action {
    Action::Call {
        contract: token,
        method: "transfer".into(),
        args: (to, amount).encode(),
        value: 0,
    }
}

#[inline(never)]
fn phase_admission(node: &Node, raws: &[Vec<u8>]) -> Result<usize, String> {
    let refs: Vec<&[u8]> = raws.iter().map(|r| r.as_slice()).collect();
    let results = node.admit_batch(&refs);
    match results.iter().find_map(|r| r.as_ref().err()) {
        Some(e) => Err(format!("a transaction was refused: {e}")),
        None => Ok(results.len()),
    }
}

#[inline(never)]
fn phase_select(node: &Node) -> Vec<SignedTransaction> {
    node.candidates()
}

#[inline(never)]
fn phase_execute(node: &Node, key: &SecretKey, candidates: Vec<SignedTransaction>) -> block::Built {
    let ts = node.chain().head().header.timestamp_ms + 1_000;
    block::build(
        node.chain(),
        node.runtime(),
        key,
        candidates,
        Vec::new(),
        Vec::new(),
        node.room(),
        ts,
        true,
        0,
        None,
    )
    .expect("the block builds")
}

#[inline(never)]
fn phase_commit(node: &Node, built: block::Built) -> usize {
    let mut output = built.output;
    let stored = StoredBlock {
        header: built.header,
        txs: built.txs,
        incoming: built.incoming,
        crosslinks: built.crosslinks,
        commit: None,
    };
    node.chain().commit(&stored, &mut output).expect("the block commits");
    node.committed(Arc::new(stored), &output).block.txs.len()
}

fn stats(v: &[f64]) -> String {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    format!("{:.0} / {:.0} / {:.0}", v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() {
    let txs: usize = std::env::var("TXCOST_TXS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let runs: usize = std::env::var("TXCOST_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let kinds = match std::env::var("TXCOST_KIND") {
        Ok(k) if k == "native" || k == "token" => vec![k],
        Ok(k) => panic!("TXCOST_KIND is native or token, not {k}"),
        Err(_) => vec!["native".to_string(), "token".to_string()],
    };
    for kind in kinds {
        let mut b = Bench::new(txs);
        if kind == "token" {
            b = b.with_token();
        }
        let mut phases: [Vec<f64>; 4] = Default::default();
        let mut ratios = Vec::new();
        for _ in 0..runs {
            let raws = b.transactions(txs);
            let t = Instant::now();
            let admitted = phase_admission(&b.node, &raws).expect("admission");
            phases[0].push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(admitted, txs, "every transaction is admitted");
            let t = Instant::now();
            let candidates = phase_select(&b.node);
            phases[1].push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(candidates.len(), txs, "the whole pool is selected");
            let t = Instant::now();
            let built = phase_execute(&b.node, &b.key, candidates);
            let exec = t.elapsed().as_secs_f64() * 1e3;
            phases[2].push(exec);
            assert_eq!(built.txs.len(), txs, "every transaction applies");
            let t = Instant::now();
            let committed = phase_commit(&b.node, built);
            let commit = t.elapsed().as_secs_f64() * 1e3;
            phases[3].push(commit);
            assert_eq!(committed, txs);
            ratios.push(commit / exec);
        }
        println!("{kind} transfers, blocks of {txs} (ms, min / median / max of {runs}):");
        for (name, v) in ["admission", "selection", "execution", "commit"].iter().zip(&phases) {
            println!("  {name:<10} {}", stats(v));
        }
        let r: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!("  commit / execution per block: {}", r.join(", "));
    }
}
