//! The shards a node process tracks ([`Shards`]): one [`Node`] (chain, pool, consensus) per shard,
//! behind one RPC server, which routes each request to the shard that holds its data: an account,
//! contract or storage query to the address's home shard, a transaction to its signer's, and a
//! receipt lookup across all of them. What belongs to a shard the process does not track is
//! refused with the shard and, when known, an endpoint that serves it.

use std::{
    collections::{BTreeMap, BTreeSet, HashSet, VecDeque},
    sync::Arc,
};

use tutti_chain::ChainError;
use tutti_primitives::{Address, Hash, ShardId};
use tutti_runtime::apply::Execution;

use crate::Node;

/// Where another shard's data is: the shard and an RPC endpoint of it (empty when unknown).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} lives on shard {shard}, which this node does not track; ask a node of shard {shard}{}",
    endpoint_hint(rpc)
)]
pub struct ElsewhereError {
    /// What was asked for.
    pub what: String,
    /// Its shard.
    pub shard: ShardId,
    /// An endpoint serving that shard, or empty.
    pub rpc: String,
}

fn endpoint_hint(rpc: &str) -> String {
    if rpc.is_empty() {
        String::new()
    } else {
        format!(" ({rpc})")
    }
}

/// The shards one process runs, by shard id, and where the others are served. A validator that
/// follows the elections adds and removes shards as it moves ([`Shards::add`], [`Shards::remove`]).
pub struct Shards {
    nodes: std::sync::RwLock<BTreeMap<ShardId, Arc<Node>>>,
    primary: ShardId,
    num_shards: u32,
    endpoints: BTreeMap<ShardId, String>,
}

impl Shards {
    /// A process tracking one shard.
    pub fn one(node: Arc<Node>) -> Arc<Shards> {
        Shards::new(vec![node], BTreeMap::new()).expect("one node is a valid set")
    }

    /// A process tracking the shards of `nodes` (all of one chain, each shard once);
    /// `endpoints` says where other shards are served (shown in errors and the sharding layout).
    pub fn new(nodes: Vec<Arc<Node>>, endpoints: BTreeMap<ShardId, String>) -> Result<Arc<Shards>, String> {
        let first = nodes.first().ok_or("a node process tracks at least one shard")?.clone();
        let genesis = first.chain().genesis_hash();
        let num_shards = first.chain().spec().num_shards;
        let chain_id = first.chain().spec().rules.chain_id;
        let mut map = BTreeMap::new();
        for n in nodes {
            let spec = n.chain().spec();
            if spec.rules.chain_id != chain_id || spec.num_shards != num_shards {
                return Err(format!(
                    "shard {} belongs to another chain than shard {} (genesis {genesis})",
                    spec.shard_id,
                    first.chain().spec().shard_id
                ));
            }
            if map.insert(spec.shard_id, n.clone()).is_some() {
                return Err(format!("shard {} is tracked twice", spec.shard_id));
            }
        }
        Ok(Arc::new(Shards {
            nodes: std::sync::RwLock::new(map),
            primary: first.chain().spec().shard_id,
            num_shards,
            endpoints,
        }))
    }

    fn nodes(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<ShardId, Arc<Node>>> {
        self.nodes.read().expect("shards lock poisoned")
    }

    /// The first shard given (a validator's own): what shard-less requests (head, blocks by
    /// number) describe. It is never removed.
    pub fn primary(&self) -> Arc<Node> {
        self.nodes()[&self.primary].clone()
    }

    /// The node of `shard`, if tracked.
    pub fn get(&self, shard: ShardId) -> Option<Arc<Node>> {
        self.nodes().get(&shard).cloned()
    }

    /// Every tracked shard's node, by shard (as tracked now).
    pub fn all(&self) -> Vec<Arc<Node>> {
        self.nodes().values().cloned().collect()
    }

    /// Starts serving `node`'s shard (of this chain, not tracked yet).
    pub fn add(&self, node: Arc<Node>) -> Result<(), String> {
        let spec = node.chain().spec();
        if spec.num_shards != self.num_shards || spec.rules.chain_id != self.primary().chain().spec().rules.chain_id {
            return Err(format!("shard {} belongs to another chain", spec.shard_id));
        }
        let mut nodes = self.nodes.write().expect("shards lock poisoned");
        if nodes.contains_key(&spec.shard_id) {
            return Err(format!("shard {} is tracked already", spec.shard_id));
        }
        nodes.insert(spec.shard_id, node);
        Ok(())
    }

    /// Stops serving `shard` (not the primary); returns its node.
    pub fn remove(&self, shard: ShardId) -> Option<Arc<Node>> {
        if shard == self.primary {
            return None;
        }
        self.nodes.write().expect("shards lock poisoned").remove(&shard)
    }

    /// How many shards the chain has.
    pub fn num_shards(&self) -> u32 {
        self.num_shards
    }

    /// An endpoint serving `shard` (empty when unknown).
    pub fn endpoint(&self, shard: ShardId) -> String {
        self.endpoints.get(&shard).cloned().unwrap_or_default()
    }

    /// The node of `shard`, or where to go instead.
    pub fn shard(&self, shard: ShardId, what: impl FnOnce() -> String) -> Result<Arc<Node>, ElsewhereError> {
        self.get(shard).ok_or_else(|| ElsewhereError {
            what: what(),
            shard,
            rpc: self.endpoint(shard),
        })
    }

    /// The node holding `a`'s state, or where to go instead.
    pub fn home(&self, a: &Address) -> Result<Arc<Node>, ElsewhereError> {
        self.shard(a.home_shard(self.num_shards), || format!("account {a}"))
    }

    /// The node of the shard where transaction `tx` is committed, if any tracked shard has it.
    pub fn committed_on(&self, tx: &Hash) -> Result<Option<Arc<Node>>, ChainError> {
        for n in self.all() {
            if n.chain().tx_location(tx)?.is_some() {
                return Ok(Some(n.clone()));
            }
        }
        Ok(None)
    }

    /// The executions of transaction `tx` (committed on `home`) and everything it caused on every
    /// tracked shard, in causal order, at most `limit`.
    pub fn receipt_tree(&self, home: &Node, tx: &Hash, limit: usize) -> Result<ReceiptTree, ChainError> {
        let mut executions = home.chain().execution_tree(tx, limit)?;
        let mut seen: HashSet<Hash> = executions.iter().map(|(id, _)| *id).collect();
        let mut queue: VecDeque<Hash> = executions
            .iter()
            .flat_map(|(_, e)| e.children.iter().copied())
            .filter(|c| !seen.contains(c))
            .collect();
        while let Some(id) = queue.pop_front() {
            if executions.len() >= limit {
                break;
            }
            let mut found = None;
            for n in self.all() {
                if let Some(e) = n.chain().execution(&id)? {
                    found = Some(e);
                    break;
                }
            }
            if let Some(e) = found {
                seen.insert(id);
                queue.extend(e.children.iter().copied().filter(|c| !seen.contains(c)));
                executions.push((id, e));
            }
        }
        // What has not run: on a tracked shard it is still to come; a receipt that left for a
        // shard this process does not serve continues there.
        let mut waiting = false;
        let mut elsewhere = BTreeSet::new();
        for (_, e) in &executions {
            for c in e.children.iter().filter(|c| !seen.contains(c)) {
                let dest = match self.get(e.shard) {
                    Some(n) => n
                        .chain()
                        .outgoing(e.height)?
                        .into_iter()
                        .find(|r| r.id == *c)
                        .map(|r| r.dest_shard),
                    None => None,
                };
                match dest {
                    Some(d) if self.get(d).is_none() => {
                        elsewhere.insert(d);
                    }
                    _ => waiting = true,
                }
            }
        }
        Ok(ReceiptTree {
            executions,
            waiting,
            elsewhere,
        })
    }
}

/// A transaction's receipt tree as far as a process sees it.
pub struct ReceiptTree {
    /// The executions, in causal order.
    pub executions: Vec<(Hash, Execution)>,
    /// Some receipt on a tracked shard has not run yet.
    pub waiting: bool,
    /// Shards not tracked here where receipts of the tree went.
    pub elsewhere: BTreeSet<ShardId>,
}
