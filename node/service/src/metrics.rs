//! The node's Prometheus metrics, served as text at `GET /metrics` on the RPC port.
//!
//! | metric | kind | meaning |
//! |---|---|---|
//! | `tutti_height` | gauge | height of the head block |
//! | `tutti_view` | gauge | consensus view at the height being decided |
//! | `tutti_view_changes_total` | counter | times this node moved to a later view at a height (by timeout, by joining others, or on a NEWVIEW) |
//! | `tutti_peers` | gauge | connected peers |
//! | `tutti_sync_requests_refused_total` | counter | peers' sync requests refused: asked faster than allowed, or every answering slot busy |
//! | `tutti_inbox_receipts` | gauge | receipts from other shards verified and waiting to be included |
//! | `tutti_blocks_committed_total` | counter | blocks committed since start |
//! | `tutti_transactions_committed_total` | counter | transactions in them |
//! | `tutti_consensus_phase_seconds{phase}` | histogram | time in each phase of a height, as this node saw it: `propose` (height start to the block known), `prepare` (to the PREPARED certificate), `commit` (to the commit certificate) |
//! | `tutti_block_seconds{step}` | histogram | time a block took this node: `execute` (building it, or checking and executing a proposal), `store` (writing it and its state to the store) |

use std::sync::Mutex;

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use tutti_chain::StoredBlock;

/// One consensus phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Height start to the proposal known.
    Propose,
    /// Proposal to PREPARED.
    Prepare,
    /// PREPARED to committed.
    Commit,
}

/// One step of handling a block on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Building it, or checking and executing a proposal.
    Execute,
    /// Writing it and its state to the store.
    Store,
}

type Labels = Vec<(String, String)>;

fn phase_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.005, 2.0, 14,
    ))
}

/// The metrics of one node.
pub struct Metrics {
    registry: Mutex<Registry>,
    height: Gauge,
    view: Gauge,
    view_changes: Counter,
    peers: Gauge,
    refused: Counter,
    inbox: Gauge,
    blocks: Counter,
    txs: Counter,
    phases: Family<Labels, Histogram, fn() -> Histogram>,
    steps: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            height: Gauge::default(),
            view: Gauge::default(),
            view_changes: Counter::default(),
            peers: Gauge::default(),
            refused: Counter::default(),
            inbox: Gauge::default(),
            blocks: Counter::default(),
            txs: Counter::default(),
            phases: Family::new_with_constructor(phase_histogram),
            steps: Family::new_with_constructor(phase_histogram),
        };
        {
            let mut r = m.registry.lock().expect("metrics lock poisoned");
            r.register("tutti_height", "Height of the head block", m.height.clone());
            r.register(
                "tutti_view",
                "Consensus view at the height being decided",
                m.view.clone(),
            );
            r.register(
                "tutti_view_changes",
                "View changes this node started",
                m.view_changes.clone(),
            );
            r.register("tutti_peers", "Connected peers", m.peers.clone());
            r.register(
                "tutti_sync_requests_refused",
                "Peers' sync requests refused (asked too fast, or every answering slot busy)",
                m.refused.clone(),
            );
            r.register(
                "tutti_inbox_receipts",
                "Receipts from other shards verified and waiting to be included",
                m.inbox.clone(),
            );
            r.register(
                "tutti_blocks_committed",
                "Blocks committed since start",
                m.blocks.clone(),
            );
            r.register(
                "tutti_transactions_committed",
                "Transactions in committed blocks",
                m.txs.clone(),
            );
            r.register(
                "tutti_consensus_phase_seconds",
                "Time in each consensus phase of a height",
                m.phases.clone(),
            );
            r.register(
                "tutti_block_seconds",
                "Time a block took this node, by step (execute, store)",
                m.steps.clone(),
            );
        }
        m
    }

    /// A block was committed.
    pub fn committed(&self, block: &StoredBlock) {
        self.height.set(block.header.height as i64);
        self.blocks.inc();
        self.txs.inc_by(block.txs.len() as u64);
    }

    /// The view at the height being decided.
    pub fn set_view(&self, view: u64) {
        self.view.set(view as i64);
    }

    /// This node moved to a later view at the height being decided.
    pub fn view_change(&self) {
        self.view_changes.inc();
    }

    /// A peer's sync request was refused.
    pub fn request_refused(&self) {
        self.refused.inc();
    }

    /// The number of connected peers.
    pub fn set_peers(&self, n: usize) {
        self.peers.set(n as i64);
    }

    /// The receipts waiting in the inbox.
    pub fn set_inbox(&self, n: usize) {
        self.inbox.set(n as i64);
    }

    /// A phase took `seconds`.
    pub fn phase(&self, phase: Phase, seconds: f64) {
        let name = match phase {
            Phase::Propose => "propose",
            Phase::Prepare => "prepare",
            Phase::Commit => "commit",
        };
        self.phases
            .get_or_create(&vec![("phase".to_string(), name.to_string())])
            .observe(seconds);
    }

    /// A block step took `seconds`.
    pub fn step(&self, step: Step, seconds: f64) {
        let name = match step {
            Step::Execute => "execute",
            Step::Store => "store",
        };
        self.steps
            .get_or_create(&vec![("step".to_string(), name.to_string())])
            .observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().expect("metrics lock poisoned");
        encode(&mut out, &r).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_in_text_format() {
        let m = Metrics::new();
        m.set_view(3);
        m.view_change();
        m.set_peers(2);
        m.phase(Phase::Commit, 0.02);
        m.step(Step::Store, 0.5);
        let text = m.render();
        for needle in [
            "tutti_view 3",
            "tutti_view_changes_total 1",
            "tutti_peers 2",
            "tutti_height 0",
            "tutti_consensus_phase_seconds_count{phase=\"commit\"} 1",
            "tutti_block_seconds_sum{step=\"store\"} 0.5",
            "# EOF",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }
}
