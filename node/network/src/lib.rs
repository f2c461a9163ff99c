//! Tutti's peer-to-peer layer.
//!
//! The node talks to peers through the [`Network`] trait: it publishes on four gossip topics per
//! chain and shard ([`Topic`]; receipts also on another shard's), asks peers of a given shard for
//! data with requests (block sync, fetching a block by hash, pulling receipt batches), and reads
//! [`Event`]s from a channel. A peer's shard is the shard whose topics it subscribes to. Payloads are opaque bytes here; the node encodes
//! and checks them. Two implementations:
//!
//! - [`p2p::P2pNetwork`]: libp2p over TCP with noise and yamux; gossipsub for the topics (every
//!   message held until the node has checked it, see [`Network::validated`]); Kademlia and
//!   identify for discovery; a request-response protocol for sync. Peers that send invalid data
//!   lose score ([`Scores`]) and are disconnected and refused once it falls to the ban threshold.
//! - [`memory::MemoryNetwork`]: the same behaviour between nodes in one process, over channels,
//!   for tests of the node shell.

use std::{collections::HashMap, fmt};

use futures::future::BoxFuture;
use tokio::sync::oneshot;

pub mod memory;
pub mod p2p;

pub use libp2p::{Multiaddr, PeerId};

/// A gossip topic. Each chain and shard has its own instance of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Signed transactions entering pools.
    Transactions,
    /// FBFT messages.
    Consensus,
    /// Committed blocks with their commit certificates (for full nodes and laggards).
    Blocks,
    /// Receipt batches for this shard from other shards (published by the sources' nodes).
    Receipts,
    /// Every shard's committed headers with their certificates, chain-wide (one topic for all
    /// shards): how shards follow each other's load.
    Headers,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 5] = [
        Topic::Transactions,
        Topic::Consensus,
        Topic::Blocks,
        Topic::Receipts,
        Topic::Headers,
    ];

    /// Whether the topic is one for the whole chain rather than one per shard.
    pub fn chain_wide(self) -> bool {
        self == Topic::Headers
    }

    /// The topic's name on the wire for a chain and shard (a chain-wide topic ignores the shard).
    pub fn name(self, chain_id: u64, shard: u32) -> String {
        let kind = match self {
            Topic::Transactions => "tx",
            Topic::Consensus => "consensus",
            Topic::Blocks => "blocks",
            Topic::Receipts => "receipts",
            Topic::Headers => return format!("/tutti/{chain_id}/headers/1"),
        };
        format!("/tutti/{chain_id}/shard/{shard}/{kind}/1")
    }
}

/// A gossip message's identity (blake3 of topic and data), to report its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageId(pub Vec<u8>);

/// A gossip message received.
#[derive(Debug)]
pub struct Gossip {
    /// The peer that passed it to us (not necessarily its author).
    pub peer: PeerId,
    /// Its identity.
    pub id: MessageId,
    /// Its topic.
    pub topic: Topic,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// What the network tells the node.
#[derive(Debug)]
pub enum Event {
    /// A gossip message; answer with [`Network::validated`].
    Gossip(Gossip),
    /// A peer asks for something; send the answer on `reply` (dropping it sends nothing and the
    /// peer sees a failure).
    Request {
        /// Who asks.
        peer: PeerId,
        /// The request.
        data: Vec<u8>,
        /// Where the answer goes.
        reply: oneshot::Sender<Vec<u8>>,
    },
    /// A connection to a new peer opened.
    PeerConnected(PeerId),
    /// The last connection to a peer closed.
    PeerDisconnected(PeerId),
}

/// The node's verdict on a gossip message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: pass it on.
    Accept,
    /// Not wrong but not useful (a duplicate, too old): drop it, no penalty.
    Ignore,
    /// Invalid: drop it and score its sender down.
    Reject,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No connected peer of the shard to ask (or all were excluded).
    #[error("no peer of shard {shard} to ask (connected peers: {connected})")]
    NoPeer {
        /// The shard asked.
        shard: u32,
        /// Peers connected (of any shard).
        connected: usize,
    },
    /// The peer did not answer.
    #[error("peer {peer} did not answer: {reason}")]
    Failed {
        /// Who was asked.
        peer: PeerId,
        /// What happened.
        reason: String,
    },
    /// The network task stopped.
    #[error("the network has stopped")]
    Stopped,
}

/// The node's view of its peers.
pub trait Network: Send + Sync + 'static {
    /// This node's peer id.
    fn local_peer(&self) -> PeerId;
    /// Publishes on a topic of this chain and the node's shard.
    fn publish(&self, topic: Topic, data: Vec<u8>);
    /// Publishes on a topic of another shard of this chain (receipt batches for it).
    fn publish_to(&self, shard: u32, topic: Topic, data: Vec<u8>);
    /// Reports the verdict on a gossip message: accepted messages propagate, rejected ones
    /// score down the peer that sent them.
    fn validated(&self, peer: PeerId, id: MessageId, verdict: Verdict);
    /// Scores down a peer for invalid data outside gossip (a bad sync answer).
    fn penalise(&self, peer: PeerId, reason: &str);
    /// Sends a request to one connected peer of `shard` not in `exclude`; resolves with who
    /// answered and the answer (never empty: a peer that refuses, busy or asked too fast,
    /// sends nothing and the request fails).
    fn request(
        &self,
        shard: u32,
        data: Vec<u8>,
        exclude: Vec<PeerId>,
    ) -> BoxFuture<'static, Result<(PeerId, Vec<u8>), NetError>>;
    /// The peers connected now.
    fn peers(&self) -> Vec<PeerId>;
}

/// Score lost for one invalid message.
pub const INVALID_PENALTY: i32 = 25;
/// Score at which a peer is banned (four invalid messages without good ones in between).
pub const BAN_SCORE: i32 = -100;

/// Per-peer reputation: invalid data costs [`INVALID_PENALTY`], valid messages earn a point back
/// (up to 0), and a peer reaching [`BAN_SCORE`] is banned for the rest of the process's life.
/// Good data never lifts a ban.
#[derive(Debug, Default)]
pub struct Scores {
    scores: HashMap<PeerId, i32>,
}

impl Scores {
    /// A valid message from `peer`.
    pub fn reward(&mut self, peer: &PeerId) {
        if let Some(s) = self.scores.get_mut(peer)
            && *s > BAN_SCORE
        {
            *s = (*s + 1).min(0);
        }
    }

    /// Invalid data from `peer`; true when the peer must now be banned (only once).
    pub fn penalise(&mut self, peer: &PeerId) -> bool {
        let s = self.scores.entry(*peer).or_insert(0);
        let before = *s;
        *s = s.saturating_sub(INVALID_PENALTY);
        before > BAN_SCORE && *s <= BAN_SCORE
    }

    /// Whether `peer` is banned.
    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.scores.get(peer).is_some_and(|s| *s <= BAN_SCORE)
    }

    /// A peer's score (0 if unknown).
    pub fn score(&self, peer: &PeerId) -> i32 {
        self.scores.get(peer).copied().unwrap_or(0)
    }
}

/// Requests a peer may make per second, on average.
pub const REQUESTS_PER_SECOND: u32 = 50;
/// Requests a peer may make at once after a quiet spell.
pub const REQUEST_BURST: u32 = 100;
/// Answer bytes a peer may take per second, on average.
pub const ANSWER_BYTES_PER_SECOND: u64 = 16 << 20;
/// Answer bytes a peer may take at once after a quiet spell.
pub const ANSWER_BYTES_BURST: u64 = 64 << 20;
/// Requests refused for pace, in a row, that cost the peer one [`INVALID_PENALTY`].
pub const REFUSALS_PER_PENALTY: u32 = 50;
/// Peers whose allowance is tracked before full (idle) ones are forgotten.
const TRACKED_PEERS: usize = 4096;

/// What to do with a peer's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Answer it.
    Serve,
    /// Refuse it (the peer asks too fast; it sees a failure and may ask another peer).
    Refuse,
    /// Refuse it and score the peer down: it kept asking while refused.
    Penalise,
}

/// How fast each peer may ask this node for data (sync requests): a token bucket per peer for
/// requests and another for answer bytes (charged after the answer is built, so a large answer
/// leaves a debt that later requests wait out). A refused request costs no token. A peer refused
/// [`REFUSALS_PER_PENALTY`] times in a row for asking too often loses score; a refusal while
/// answer bytes are owed costs none (a peer cannot know how large its answers were). Pure: the
/// caller passes the time.
#[derive(Debug, Default)]
pub struct Rates {
    peers: HashMap<PeerId, Allowance>,
}

#[derive(Debug)]
struct Allowance {
    requests: f64,
    bytes: f64,
    refused: u32,
    at: std::time::Instant,
}

impl Allowance {
    fn refill(&mut self, now: std::time::Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now.max(self.at);
        self.requests = (self.requests + dt * f64::from(REQUESTS_PER_SECOND)).min(f64::from(REQUEST_BURST));
        self.bytes = (self.bytes + dt * ANSWER_BYTES_PER_SECOND as f64).min(ANSWER_BYTES_BURST as f64);
    }

    fn full(&self) -> bool {
        self.requests >= f64::from(REQUEST_BURST) && self.bytes >= ANSWER_BYTES_BURST as f64
    }
}

impl Rates {
    /// A request from `peer` at `now`.
    pub fn request(&mut self, peer: PeerId, now: std::time::Instant) -> Pace {
        if self.peers.len() >= TRACKED_PEERS && !self.peers.contains_key(&peer) {
            self.peers.retain(|_, a| {
                a.refill(now);
                !a.full()
            });
        }
        let a = self.peers.entry(peer).or_insert(Allowance {
            requests: f64::from(REQUEST_BURST),
            bytes: ANSWER_BYTES_BURST as f64,
            refused: 0,
            at: now,
        });
        a.refill(now);
        if a.requests >= 1.0 && a.bytes > 0.0 {
            a.requests -= 1.0;
            a.refused = 0;
            return Pace::Serve;
        }
        if a.requests >= 1.0 {
            // Waiting out the debt of large answers (an honest restore of several big state
            // chunks gets here): refused, never blamed.
            return Pace::Refuse;
        }
        a.refused += 1;
        if a.refused.is_multiple_of(REFUSALS_PER_PENALTY) {
            Pace::Penalise
        } else {
            Pace::Refuse
        }
    }

    /// `bytes` of answer sent to `peer`.
    pub fn answered(&mut self, peer: &PeerId, bytes: usize) {
        if let Some(a) = self.peers.get_mut(peer) {
            a.bytes -= bytes as f64;
        }
    }

    /// Peers tracked now.
    pub fn tracked(&self) -> usize {
        self.peers.len()
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The id of a gossip message: blake3 of its topic name and data, so the same bytes published by
/// two nodes (a transaction sent to both) are one message.
pub fn message_id(topic: &str, data: &[u8]) -> MessageId {
    let mut h = blake3::Hasher::new();
    h.update(&(topic.len() as u64).to_le_bytes());
    h.update(topic.as_bytes());
    h.update(data);
    MessageId(h.finalize().as_bytes()[..20].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_ban_after_repeated_invalid_data_and_recover_with_good_data() {
        let mut s = Scores::default();
        let p = PeerId::random();
        assert!(!s.penalise(&p));
        s.reward(&p);
        assert_eq!(s.score(&p), -INVALID_PENALTY + 1);
        assert!(!s.penalise(&p) && !s.penalise(&p) && !s.penalise(&p));
        assert_eq!(s.score(&p), -99);
        assert!(!s.is_banned(&p));
        assert!(s.penalise(&p), "the fifth strike (one point was earned back) bans");
        assert!(s.is_banned(&p));
        assert!(!s.penalise(&p), "banned once");
        s.reward(&p);
        assert!(s.is_banned(&p), "a ban is not lifted by good data");
        assert!(!s.is_banned(&PeerId::random()) && s.score(&PeerId::random()) == 0);
    }

    #[test]
    fn requests_are_paced_per_peer_by_count_and_by_answer_bytes() {
        use std::time::{Duration, Instant};
        let mut r = Rates::default();
        let (p, q) = (PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        for _ in 0..REQUEST_BURST {
            assert_eq!(r.request(p, t0), Pace::Serve);
        }
        assert_eq!(r.request(p, t0), Pace::Refuse);
        assert_eq!(r.request(q, t0), Pace::Serve, "another peer has its own allowance");
        // Refused in a row: every REFUSALS_PER_PENALTY-th costs score.
        let verdicts: Vec<Pace> = (1..REFUSALS_PER_PENALTY * 2).map(|_| r.request(p, t0)).collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Pace::Penalise).count(), 2);
        // A second later the rate's worth of requests is allowed again, and the count restarts.
        let t1 = t0 + Duration::from_secs(1);
        for _ in 0..REQUESTS_PER_SECOND {
            assert_eq!(r.request(p, t1), Pace::Serve);
        }
        assert_eq!(r.request(p, t1), Pace::Refuse);
        // A large answer leaves a debt: no request is served until it is paid off, and asking
        // meanwhile is not blamed.
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(r.request(q, t2), Pace::Serve);
        r.answered(&q, (ANSWER_BYTES_BURST + 2 * ANSWER_BYTES_PER_SECOND) as usize);
        for _ in 0..REFUSALS_PER_PENALTY * 3 {
            assert_eq!(r.request(q, t2 + Duration::from_secs(1)), Pace::Refuse);
        }
        assert_eq!(r.request(q, t2 + Duration::from_millis(2100)), Pace::Serve);
        // Idle peers are forgotten once many are tracked.
        for _ in 0..TRACKED_PEERS {
            r.request(PeerId::random(), t0);
        }
        let later = t2 + Duration::from_secs(60);
        r.request(PeerId::random(), later);
        assert!(r.tracked() < 10, "{} tracked", r.tracked());
    }

    #[test]
    fn topic_names_are_per_chain_and_shard() {
        assert_eq!(Topic::Consensus.name(7, 0), "/tutti/7/shard/0/consensus/1");
        assert_ne!(Topic::Transactions.name(7, 0), Topic::Transactions.name(7, 1));
        assert_ne!(message_id("a", b"x"), message_id("b", b"x"));
        assert_eq!(message_id("a", b"x"), message_id("a", b"x"));
    }
}
