//! A deterministic simulation of an FBFT committee (feature `test-utils`): every validator's
//! [`Core`] in one process, a simulated network, a virtual clock, and a seeded random number
//! generator deciding every delay, loss, duplication, crash and byzantine choice. The same seed
//! gives the same run, event for event.
//!
//! Invariants are checked on every event; the first violation stops the run with an error naming
//! the virtual time:
//! - no two different blocks are committed at one height on honest nodes;
//! - every commit certificate carries more than 2/3 of the voting power and verifies;
//! - every committed block extends the node's previous one;
//! - no honest validator signs two different blocks at one (height, view, phase), across
//!   crashes and restarts (its signing record survives a crash, its memory does not);
//! - no honest node's message is rejected by another honest node.
//!
//! Liveness is checked by [`Sim::check_liveness`]: after the faults end, every honest node
//! commits a given number of further blocks within a virtual deadline.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::{Rng, SeedableRng, rngs::StdRng};
use tutti_primitives::{BlockHeader, CommitCertificate, Hash, Height};

use crate::{
    bls::SecretKey,
    fbft::{
        BlsCrypto, CertKind, Committee, Config, Core, Crypto, Head, Input, Member, Message, Output, Proposal,
        QuorumCert, Sig, SignRecord, Timer, Vote,
        crypto::InsecureCrypto,
        message::{commit_message, proposal_message, tags},
        verify_certificate,
    },
};

/// Body the simulated shell finds invalid.
pub const INVALID_BODY: &[u8] = b"invalid";

/// The BLS secret key of simulated (or benchmarked) validator `i`.
pub fn validator_secret(i: usize) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    SecretKey::from_seed(&seed)
}

/// The signature scheme of a simulation.
#[derive(Clone)]
pub enum SimCrypto {
    /// Real BLS12-381.
    Bls(BlsCrypto),
    /// The fast keyed-hash model.
    Fast(InsecureCrypto),
}

impl Crypto for SimCrypto {
    fn sign(&self, tag: &[u8], msg: &[u8]) -> Option<Sig> {
        match self {
            SimCrypto::Bls(c) => c.sign(tag, msg),
            SimCrypto::Fast(c) => c.sign(tag, msg),
        }
    }
    fn verify(&self, member: usize, tag: &[u8], msg: &[u8], sig: &Sig) -> bool {
        match self {
            SimCrypto::Bls(c) => c.verify(member, tag, msg, sig),
            SimCrypto::Fast(c) => c.verify(member, tag, msg, sig),
        }
    }
    fn aggregate(&self, sigs: &[Sig]) -> Option<Sig> {
        match self {
            SimCrypto::Bls(c) => c.aggregate(sigs),
            SimCrypto::Fast(c) => c.aggregate(sigs),
        }
    }
    fn verify_aggregate(&self, members: &[usize], tag: &[u8], msg: &[u8], sig: &Sig) -> bool {
        match self {
            SimCrypto::Bls(c) => c.verify_aggregate(members, tag, msg, sig),
            SimCrypto::Fast(c) => c.verify_aggregate(members, tag, msg, sig),
        }
    }
}

/// How a byzantine validator misbehaves (on top of running the protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byzantine {
    /// Sends nothing at all.
    Silent,
    /// As leader, announces a different block to each half of the committee.
    Equivocate,
    /// Corrupts the signature of every vote it sends.
    BadSignatures,
    /// Sends a second, validly signed vote for another block next to each of its votes.
    DoubleVote,
    /// Sends validly signed votes for blocks nobody proposed, to everyone.
    UnknownBlocks,
}

/// Network behaviour while faults are on.
#[derive(Clone, Copy, Debug)]
pub struct NetFaults {
    /// Chance a message is lost.
    pub loss: f64,
    /// Chance a message is delivered twice.
    pub duplicate: f64,
    /// Delay range in ms (messages overtake each other within it).
    pub delay_ms: (u64, u64),
}

/// Simulation parameters.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Voting power of each validator.
    pub powers: Vec<u64>,
    /// Real BLS instead of the fast model.
    pub bls: bool,
    /// Consensus timing.
    pub consensus: Config,
    /// Delay range when faults are off.
    pub delay_ms: (u64, u64),
    /// Time a leader takes to build a block.
    pub build_ms: u64,
    /// Time a validator takes to check one.
    pub validate_ms: u64,
    /// Blocks per epoch (`None`: one epoch forever). At each epoch's end every node replaces its
    /// core by a new one for the next epoch (same committee, its own signing record), handing it
    /// the messages that arrived early, as the node shell does.
    pub epoch_blocks: Option<u64>,
}

impl SimConfig {
    /// `n` validators of equal power, fast crypto.
    pub fn new(n: usize) -> Self {
        SimConfig {
            powers: vec![1; n],
            bls: false,
            consensus: Config {
                base_timeout_ms: 1_000,
                max_timeout_ms: 16_000,
                max_buffered: 256,
                ..Config::default()
            },
            delay_ms: (5, 50),
            build_ms: 100,
            validate_ms: 20,
            epoch_blocks: None,
        }
    }
}

// Events are moved into the queue and out once each.
#[allow(clippy::large_enum_variant)]
enum Event {
    Deliver {
        from: usize,
        to: usize,
        msg: Message,
    },
    Timer {
        node: usize,
        life: u64,
        timer: Timer,
    },
    Validated {
        node: usize,
        life: u64,
        hash: Hash,
        valid: bool,
    },
    Built {
        node: usize,
        life: u64,
        proposal: Proposal,
    },
    Synced {
        node: usize,
        life: u64,
        proposal: Proposal,
        cert: CommitCertificate,
    },
    Fetched {
        node: usize,
        life: u64,
        proposal: Proposal,
    },
    Crash(usize),
    Restart(usize),
}

struct Node {
    core: Option<Core<SimCrypto>>,
    /// Durable state: committed blocks (index = height - 1) and the signing record.
    chain: Vec<(Proposal, CommitCertificate)>,
    /// Signing records by epoch.
    records: BTreeMap<u64, SignRecord>,
    /// Bumped on each crash, so the events of a previous life are dropped.
    life: u64,
    byzantine: Option<Byzantine>,
}

/// Counters of a run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Messages delivered.
    pub delivered: u64,
    /// Messages lost (loss, partition, crashed receiver).
    pub dropped: u64,
    /// View changes started by honest validators.
    pub view_changes: u64,
    /// Messages honest nodes rejected (all from byzantine senders).
    pub rejected: u64,
    /// Crashes.
    pub crashes: u64,
    /// Messages a finished epoch's core handed to the next one.
    pub handed_over: u64,
    /// Epoch switches (cores replaced at an epoch's end).
    pub epoch_switches: u64,
}

/// The simulation.
pub struct Sim {
    /// The seed.
    pub seed: u64,
    cfg: SimConfig,
    rng: StdRng,
    now: u64,
    seq: u64,
    events: BTreeMap<(u64, u64), Event>,
    nodes: Vec<Node>,
    committee: Committee,
    cryptos: Vec<SimCrypto>,
    observer: SimCrypto,
    genesis: Hash,
    faults: Option<NetFaults>,
    faults_until: u64,
    partition: Option<(BTreeSet<usize>, u64, u64)>,
    isolate: Option<(u64, u64)>,
    /// Height -> the block honest nodes committed there.
    committed: BTreeMap<Height, Hash>,
    signed: HashMap<(usize, Height, u64, u8), Hash>,
    violation: Option<String>,
    /// Counters.
    pub stats: Stats,
}

impl Sim {
    /// A committee per `cfg`, all nodes started at genesis.
    pub fn new(seed: u64, cfg: SimConfig) -> Self {
        let n = cfg.powers.len();
        let secrets: Vec<SecretKey> = (0..n).map(validator_secret).collect();
        let members: Vec<Member> = secrets
            .iter()
            .zip(&cfg.powers)
            .map(|(k, &power)| Member {
                id: k.public_key().to_bytes(),
                power,
            })
            .collect();
        let committee = Committee::new(members).expect("a valid simulated committee");
        let make = |me: Option<usize>| {
            if cfg.bls {
                let keys: Vec<_> = secrets.iter().map(|k| (k.public_key(), k.prove_possession())).collect();
                SimCrypto::Bls(
                    BlsCrypto::new(&keys, me.map(|i| (i, secrets[i].clone()))).expect("valid simulated keys"),
                )
            } else {
                SimCrypto::Fast(InsecureCrypto::new(n, me))
            }
        };
        let cryptos: Vec<SimCrypto> = (0..n).map(|i| make(Some(i))).collect();
        let observer = make(None);
        let mut sim = Sim {
            seed,
            rng: StdRng::seed_from_u64(seed),
            now: 0,
            seq: 0,
            events: BTreeMap::new(),
            nodes: (0..n)
                .map(|_| Node {
                    core: None,
                    chain: Vec::new(),
                    records: BTreeMap::new(),
                    life: 0,
                    byzantine: None,
                })
                .collect(),
            committee,
            cryptos,
            observer,
            genesis: Hash(*blake3::hash(b"tutti/sim/genesis").as_bytes()),
            faults: None,
            faults_until: 0,
            partition: None,
            isolate: None,
            committed: BTreeMap::new(),
            signed: HashMap::new(),
            violation: None,
            stats: Stats::default(),
            cfg,
        };
        for i in 0..n {
            sim.boot(i);
        }
        sim
    }

    /// The seeded generator, for tests that draw their own fault schedule.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Never true.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The committee.
    pub fn committee(&self) -> &Committee {
        &self.committee
    }

    /// Virtual time in ms.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Makes validator `i` byzantine.
    pub fn set_byzantine(&mut self, i: usize, b: Byzantine) {
        self.nodes[i].byzantine = Some(b);
    }

    /// Network faults from now until `until` ms.
    pub fn net_faults(&mut self, faults: NetFaults, until: u64) {
        self.faults = Some(faults);
        self.faults_until = until;
    }

    /// Cuts `side` off from the rest between `from` and `to` ms.
    pub fn partition(&mut self, side: impl IntoIterator<Item = usize>, from: u64, to: u64) {
        self.partition = Some((side.into_iter().collect(), from, to));
    }

    /// The adversary's favourite moment: the first node to commit a new block after `at` is cut
    /// off from everyone, messages in flight included, for `for_ms`. The others must finish the
    /// same block without it.
    pub fn isolate_first_committer_after(&mut self, at: u64, for_ms: u64) {
        self.isolate = Some((at, for_ms));
    }

    /// Crashes validator `i` at time `at` (its memory is lost; its chain and record are kept).
    pub fn crash_at(&mut self, i: usize, at: u64) {
        self.schedule(at, Event::Crash(i));
    }

    /// Restarts validator `i` at time `at`.
    pub fn restart_at(&mut self, i: usize, at: u64) {
        self.schedule(at, Event::Restart(i));
    }

    /// Committed height of node `i`.
    pub fn height_of(&self, i: usize) -> Height {
        self.nodes[i].chain.len() as Height
    }

    /// Whether node `i` is running.
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].core.is_some()
    }

    /// Whether node `i` is honest.
    pub fn is_honest(&self, i: usize) -> bool {
        self.nodes[i].byzantine.is_none()
    }

    /// The block node `i` committed at `height`.
    pub fn block_of(&self, i: usize, height: Height) -> Option<Hash> {
        let idx = usize::try_from(height).ok()?.checked_sub(1)?;
        self.nodes[i].chain.get(idx).map(|(p, _)| p.hash())
    }

    /// The view node `i` is in (or changing to).
    pub fn view_of(&self, i: usize) -> Option<u64> {
        self.nodes[i].core.as_ref().map(|c| c.view())
    }

    /// A digest of the run so far: every node's committed chain, record and view, and the
    /// counters. Equal seeds give equal fingerprints.
    pub fn fingerprint(&self) -> Hash {
        let mut h = blake3::Hasher::new();
        for n in &self.nodes {
            for (p, cert) in &n.chain {
                h.update(p.hash().as_bytes());
                h.update(&cert.signature);
            }
            h.update(&parity_scale_codec::Encode::encode(
                &n.records.values().collect::<Vec<_>>(),
            ));
            h.update(&n.core.as_ref().map_or(u64::MAX, |c| c.view()).to_le_bytes());
        }
        h.update(format!("{:?} {}", self.stats, self.now).as_bytes());
        Hash(*h.finalize().as_bytes())
    }

    /// Highest height committed by any honest node.
    pub fn max_honest_height(&self) -> Height {
        (0..self.len())
            .filter(|&i| self.is_honest(i))
            .map(|i| self.height_of(i))
            .max()
            .unwrap_or(0)
    }

    fn schedule(&mut self, at: u64, e: Event) {
        self.seq += 1;
        self.events.insert((at, self.seq), e);
    }

    fn violate(&mut self, what: String) {
        if self.violation.is_none() {
            self.violation = Some(format!("at {} ms: {what}", self.now));
        }
    }

    fn boot(&mut self, i: usize) {
        let node = &self.nodes[i];
        let head = match node.chain.last() {
            Some((p, cert)) => Head {
                height: p.header.height,
                hash: p.hash(),
                cert: Some(cert.clone()),
            },
            None => Head {
                height: 0,
                hash: self.genesis,
                cert: None,
            },
        };
        let core = self.core_after(i, head);
        self.start_core(i, core, Vec::new());
    }

    /// Node `i`'s core for the epoch of the height after `head`, with its record of that epoch.
    fn core_after(&self, i: usize, head: Head) -> Core<SimCrypto> {
        let epoch = self.epoch_of(head.height + 1);
        Core::new(
            self.cryptos[i].clone(),
            self.committee.clone(),
            Some(i),
            self.epoch_config(epoch),
            head,
            self.nodes[i].records.get(&epoch).cloned(),
        )
    }

    fn epoch_of(&self, height: Height) -> u64 {
        self.cfg.epoch_blocks.map_or(0, |l| height / l.max(1))
    }

    /// The core configuration of `epoch`.
    fn epoch_config(&self, epoch: u64) -> Config {
        Config {
            epoch,
            last_height: self.cfg.epoch_blocks.map(|l| (epoch + 1) * l.max(1) - 1),
            ..self.cfg.consensus.clone()
        }
    }

    fn start_core(&mut self, i: usize, mut core: Core<SimCrypto>, handover: Vec<Message>) {
        let out = core.handle(Input::Start);
        self.nodes[i].core = Some(core);
        self.perform(i, out);
        for m in handover {
            let Some(core) = self.nodes[i].core.as_mut() else {
                return;
            };
            // Their senders are not known any more, so rejections are not attributed.
            let out = core
                .handle(Input::Message(m))
                .into_iter()
                .filter(|o| !matches!(o, Output::Rejected { .. }))
                .collect();
            self.perform(i, out);
        }
    }

    /// Node `i`'s core finished its epoch: the next epoch's core takes over.
    fn next_epoch(&mut self, i: usize) {
        let Some(mut old) = self.nodes[i].core.take() else {
            return;
        };
        let handover = old.take_handover();
        self.stats.handed_over += handover.len() as u64;
        self.stats.epoch_switches += 1;
        let core = self.core_after(i, old.head().clone());
        self.start_core(i, core, handover);
    }

    fn cut(&self, a: usize, b: usize) -> bool {
        match &self.partition {
            Some((side, from, to)) => self.now >= *from && self.now < *to && side.contains(&a) != side.contains(&b),
            None => false,
        }
    }

    fn send(&mut self, from: usize, to: usize, msg: Message) {
        let faults = self.faults.filter(|_| self.now < self.faults_until);
        let (lo, hi) = faults.map_or(self.cfg.delay_ms, |f| f.delay_ms);
        if let Some(f) = faults {
            if self.rng.gen_bool(f.loss) {
                self.stats.dropped += 1;
                return;
            }
            if self.rng.gen_bool(f.duplicate) {
                let d = self.rng.gen_range(lo..=hi);
                self.schedule(
                    self.now + d,
                    Event::Deliver {
                        from,
                        to,
                        msg: msg.clone(),
                    },
                );
            }
        }
        let d = self.rng.gen_range(lo..=hi);
        self.schedule(self.now + d, Event::Deliver { from, to, msg });
    }

    fn broadcast(&mut self, from: usize, msg: &Message) {
        for to in 0..self.len() {
            if to != from {
                self.send(from, to, msg.clone());
            }
        }
    }

    /// Records what an honest node signs and checks it never signs two blocks at one position.
    fn note_signed(&mut self, i: usize, msg: &Message) {
        let (h, v, phase, hash) = match msg {
            Message::Announce { view, proposal, .. } | Message::NewView { view, proposal, .. } => {
                (proposal.header.height, *view, 0, proposal.hash())
            }
            Message::Prepare(v) => (v.height, v.view, 1, v.hash),
            Message::Commit(v) => (v.height, v.view, 2, v.hash),
            Message::Prepared(q) | Message::Committed(q) => {
                if let Err(e) = self.check_cert(q.height, &q.hash, &q.cert, matches!(msg, Message::Committed(_))) {
                    self.violate(format!("node {i} sent a bad certificate: {e}"));
                }
                return;
            }
            Message::ViewChange { .. } => {
                self.stats.view_changes += 1;
                return;
            }
        };
        if let Some(prev) = self.signed.insert((i, h, v, phase), hash)
            && prev != hash
        {
            self.violate(format!(
                "honest node {i} signed two blocks at height {h} view {v} phase {phase}"
            ));
        }
    }

    fn check_cert(&self, height: Height, hash: &Hash, cert: &CommitCertificate, commit: bool) -> Result<(), String> {
        let kind = if commit { CertKind::Commit } else { CertKind::Prepare };
        let qc = QuorumCert {
            height,
            hash: *hash,
            cert: cert.clone(),
        };
        verify_certificate(&self.committee, &self.observer, kind, &qc)
            .map_err(|e| format!("certificate at height {height}: {e}"))
    }

    fn perform(&mut self, i: usize, outputs: Vec<Output>) {
        if std::env::var_os("TUTTI_SIM_TRACE").is_some() {
            for o in &outputs {
                let what = match o {
                    Output::Broadcast(m) | Output::Send { message: m, .. } => {
                        format!("send {} h{}", m.kind(), m.height())
                    }
                    other => format!("{other:?}").chars().take(100).collect(),
                };
                eprintln!("{:>7} node {i}: {what}", self.now);
            }
        }
        let byz = self.nodes[i].byzantine;
        if byz == Some(Byzantine::Silent) {
            // Keeps its state machine going but says nothing and commits what it learns.
            for o in outputs {
                match o {
                    Output::Persist(r) => {
                        self.nodes[i].records.insert(r.epoch, r);
                    }
                    Output::Commit { proposal, cert } => self.nodes[i].chain.push((proposal, cert)),
                    _ => {}
                }
            }
            return self.switch_if_finished(i);
        }
        let life = self.nodes[i].life;
        for o in outputs {
            match o {
                Output::Persist(r) => {
                    self.nodes[i].records.insert(r.epoch, r);
                }
                Output::Broadcast(m) => {
                    if byz.is_none() {
                        self.note_signed(i, &m);
                    }
                    match byz {
                        Some(b) => self.misbehave(i, b, None, m),
                        None => self.broadcast(i, &m),
                    }
                }
                Output::Send { to, message } => {
                    if byz.is_none() {
                        self.note_signed(i, &message);
                    }
                    match byz {
                        Some(b) => self.misbehave(i, b, Some(to), message),
                        None => self.send(i, to, message),
                    }
                }
                Output::Build {
                    height,
                    view,
                    parent,
                    parent_commit,
                } => {
                    let mut body = vec![0u8; 8];
                    self.rng.fill(&mut body[..]);
                    let proposal = self.block(i, height, view, parent, parent_commit, body);
                    self.schedule(
                        self.now + self.cfg.build_ms,
                        Event::Built {
                            node: i,
                            life,
                            proposal,
                        },
                    );
                }
                Output::Validate(p) => {
                    let valid = p.body != INVALID_BODY;
                    let at = self.now + self.cfg.validate_ms;
                    self.schedule(
                        at,
                        Event::Validated {
                            node: i,
                            life,
                            hash: p.hash(),
                            valid,
                        },
                    );
                }
                Output::Commit { proposal, cert } => self.on_commit(i, proposal, cert),
                Output::SetTimer { timer, after_ms } => {
                    self.schedule(self.now + after_ms, Event::Timer { node: i, life, timer })
                }
                Output::Sync { height } => self.serve_sync(i, height),
                Output::Fetch { hash } => self.serve_fetch(i, hash),
                // A buffered message replayed later; the sender is no longer known.
                Output::Rejected { .. } => self.stats.rejected += 1,
                Output::Unchecked { .. } => {}
            }
        }
        self.switch_if_finished(i);
    }

    fn switch_if_finished(&mut self, i: usize) {
        if self.nodes[i].core.as_ref().is_some_and(|c| c.finished()) {
            self.next_epoch(i);
        }
    }

    fn block(
        &self,
        i: usize,
        height: Height,
        view: u64,
        parent: Hash,
        parent_commit: Option<CommitCertificate>,
        body: Vec<u8>,
    ) -> Proposal {
        Proposal {
            header: BlockHeader {
                chain_id: 1,
                shard_id: 0,
                height,
                epoch: self.epoch_of(height),
                view,
                parent_hash: parent,
                timestamp_ms: self.now,
                tx_root: Hash(*blake3::hash(&body).as_bytes()),
                state_root: Hash::default(),
                outgoing_receipts_root: Hash::default(),
                incoming_receipts_root: Hash::default(),
                crosslinks_root: Hash::default(),
                gas_used: 0,
                congestion: Default::default(),
                proposer: self.committee.members()[i].id,
                randomness_proof: [0; 96],
                randomness: Hash::default(),
                parent_commit,
            },
            body,
        }
    }

    fn on_commit(&mut self, i: usize, proposal: Proposal, cert: CommitCertificate) {
        let h = proposal.header.height;
        let hash = proposal.hash();
        let node = &self.nodes[i];
        let expected_parent = node.chain.last().map_or(self.genesis, |(p, _)| p.hash());
        if h != node.chain.len() as Height + 1 || proposal.header.parent_hash != expected_parent {
            self.violate(format!("node {i} committed block {h} that does not extend its chain"));
        }
        if let Err(e) = self.check_cert(h, &hash, &cert, true) {
            self.violate(format!("node {i} committed with a bad certificate: {e}"));
        }
        if let Some((at, for_ms)) = self.isolate
            && self.now >= at
            && !self.committed.contains_key(&h)
        {
            self.isolate = None;
            self.partition = Some(([i].into_iter().collect(), self.now, self.now + for_ms));
        }
        if self.is_honest(i) {
            if let Some((side, from, to)) = &self.partition
                && self.now >= *from
                && self.now < *to
                && side.contains(&i)
                && !self.committee.is_quorum(self.committee.power_of(side.iter().copied()))
                && proposal.header.timestamp_ms >= *from
            {
                // (A block proposed before the cut may still complete with votes sent before it.)
                self.violate(format!(
                    "node {i} in the minority committed block {h}, proposed during the partition"
                ));
            }
            match self.committed.get(&h) {
                Some(other) if *other != hash => {
                    self.violate(format!("two blocks committed at height {h} (node {i} disagrees)"));
                }
                _ => {
                    self.committed.insert(h, hash);
                }
            }
        }
        self.nodes[i].chain.push((proposal, cert));
    }

    /// A request-response block sync: one random reachable peer that has the blocks answers with
    /// up to 16 of them.
    fn serve_sync(&mut self, i: usize, height: Height) {
        let peers: Vec<usize> = (0..self.len())
            .filter(|&j| j != i && self.is_up(j) && !self.cut(i, j) && self.height_of(j) >= height)
            .collect();
        if peers.is_empty() {
            return;
        }
        let j = peers[self.rng.gen_range(0..peers.len())];
        let life = self.nodes[i].life;
        let (lo, hi) = self.cfg.delay_ms;
        let at = self.now + self.rng.gen_range(lo..=hi) * 2;
        let end = (self.height_of(j)).min(height + 15);
        for h in height..=end {
            let (proposal, cert) = self.nodes[j].chain[(h - 1) as usize].clone();
            self.schedule(
                at,
                Event::Synced {
                    node: i,
                    life,
                    proposal,
                    cert,
                },
            );
        }
    }

    /// A request-response block fetch by hash: the first reachable peer holding it answers.
    fn serve_fetch(&mut self, i: usize, hash: Hash) {
        let found = (0..self.len())
            .filter(|&j| j != i && self.is_up(j) && !self.cut(i, j))
            .find_map(|j| self.nodes[j].core.as_ref().and_then(|c| c.block(&hash)).cloned());
        if let Some(proposal) = found {
            let (lo, hi) = self.cfg.delay_ms;
            let at = self.now + self.rng.gen_range(lo..=hi) * 2;
            let life = self.nodes[i].life;
            self.schedule(
                at,
                Event::Fetched {
                    node: i,
                    life,
                    proposal,
                },
            );
        }
    }

    /// A byzantine node sends its (honestly produced) message with a twist.
    fn misbehave(&mut self, i: usize, b: Byzantine, to: Option<usize>, m: Message) {
        let deliver = |sim: &mut Sim, m: Message| match to {
            Some(t) => sim.send(i, t, m),
            None => sim.broadcast(i, &m),
        };
        let crypto = self.cryptos[i].clone();
        let random_hash = |rng: &mut StdRng| {
            let mut h = [0u8; 32];
            rng.fill(&mut h);
            Hash(h)
        };
        match (b, m) {
            (Byzantine::Equivocate, Message::Announce { view, proposal, .. }) => {
                let mut other = proposal.clone();
                other.body = random_hash(&mut self.rng).0.to_vec();
                other.header.tx_root = Hash(*blake3::hash(&other.body).as_bytes());
                let h = proposal.header.height;
                for (k, p) in [proposal, other].into_iter().enumerate() {
                    let signature = crypto
                        .sign(tags::ANNOUNCE, &proposal_message(h, view, &p.hash()))
                        .expect("a validator signs");
                    for t in (0..self.len()).filter(|&t| t != i && t % 2 == k) {
                        self.send(
                            i,
                            t,
                            Message::Announce {
                                view,
                                proposal: p.clone(),
                                signature,
                            },
                        );
                    }
                }
            }
            (Byzantine::BadSignatures, Message::Prepare(mut v)) => {
                v.signature[5] ^= 0x40;
                deliver(self, Message::Prepare(v));
            }
            (Byzantine::BadSignatures, Message::Commit(mut v)) => {
                v.signature = [0xab; 96];
                deliver(self, Message::Commit(v));
            }
            (
                Byzantine::BadSignatures,
                Message::ViewChange {
                    mut vote,
                    prepared,
                    proposal,
                },
            ) => {
                vote.signature[0] ^= 1;
                deliver(
                    self,
                    Message::ViewChange {
                        vote,
                        prepared,
                        proposal,
                    },
                );
            }
            (Byzantine::DoubleVote, m @ (Message::Prepare(_) | Message::Commit(_))) => {
                let (Message::Prepare(v) | Message::Commit(v)) = &m else {
                    unreachable!("matched above")
                };
                let other = random_hash(&mut self.rng);
                let twin = self.vote(i, v, other, matches!(m, Message::Prepare(_)));
                deliver(self, m);
                deliver(self, twin);
            }
            (Byzantine::UnknownBlocks, Message::Prepare(v)) => {
                let other = random_hash(&mut self.rng);
                let fake = self.vote(i, &v, other, true);
                self.broadcast(i, &fake);
                deliver(self, Message::Prepare(v));
            }
            (Byzantine::UnknownBlocks, Message::Commit(v)) => {
                let other = random_hash(&mut self.rng);
                let fake = self.vote(i, &v, other, false);
                self.broadcast(i, &fake);
                deliver(self, Message::Commit(v));
            }
            (_, m) => deliver(self, m),
        }
    }

    fn vote(&self, i: usize, like: &Vote, hash: Hash, prepare: bool) -> Message {
        let (tag, msg) = if prepare {
            (tags::PREPARE, proposal_message(like.height, like.view, &hash))
        } else {
            (tags::COMMIT, commit_message(like.height, &hash, like.view))
        };
        let v = Vote {
            hash,
            signature: self.cryptos[i].sign(tag, &msg).expect("a validator signs"),
            ..like.clone()
        };
        if prepare {
            Message::Prepare(v)
        } else {
            Message::Commit(v)
        }
    }

    fn step(&mut self, e: Event) {
        let live = |sim: &Sim, node: usize, life: u64| sim.nodes[node].life == life && sim.nodes[node].core.is_some();
        let (node, input) = match e {
            Event::Deliver { from, to, msg } => {
                if self.nodes[to].core.is_none() || self.cut(from, to) {
                    self.stats.dropped += 1;
                    return;
                }
                self.stats.delivered += 1;
                // Through the wire encoding, as a real network would carry it.
                let msg = match Message::from_bytes(&msg.to_bytes()) {
                    Ok(m) => m,
                    Err(e) => return self.violate(format!("a {} does not survive the wire: {e}", msg.kind())),
                };
                let honest_sender = self.is_honest(from);
                let out = self.nodes[to]
                    .core
                    .as_mut()
                    .expect("checked")
                    .handle(Input::Message(msg));
                for o in &out {
                    if let Output::Rejected { kind, reason } = o {
                        self.stats.rejected += 1;
                        if honest_sender && self.is_honest(to) {
                            self.violate(format!(
                                "honest node {to} rejected honest node {from}'s {kind}: {reason}"
                            ));
                        }
                    }
                }
                let out = out
                    .into_iter()
                    .filter(|o| !matches!(o, Output::Rejected { .. }))
                    .collect();
                return self.perform(to, out);
            }
            Event::Timer { node, life, timer } => {
                if !live(self, node, life) {
                    return;
                }
                (node, Input::Timeout(timer))
            }
            Event::Validated {
                node,
                life,
                hash,
                valid,
            } => {
                if !live(self, node, life) {
                    return;
                }
                (node, Input::Validated { hash, valid })
            }
            Event::Built { node, life, proposal } => {
                if !live(self, node, life) {
                    return;
                }
                (node, Input::Built(proposal))
            }
            Event::Synced {
                node,
                life,
                proposal,
                cert,
            } => {
                if !live(self, node, life) {
                    return;
                }
                (node, Input::Synced { proposal, cert })
            }
            Event::Fetched { node, life, proposal } => {
                if !live(self, node, life) {
                    return;
                }
                (node, Input::Fetched(proposal))
            }
            Event::Crash(i) => {
                if self.nodes[i].core.take().is_some() {
                    self.nodes[i].life += 1;
                    self.stats.crashes += 1;
                }
                return;
            }
            Event::Restart(i) => {
                if self.nodes[i].core.is_none() {
                    self.boot(i);
                }
                return;
            }
        };
        let out = self.nodes[node].core.as_mut().expect("live").handle(input);
        self.perform(node, out);
    }

    /// Runs until virtual time `until` (or the first violation).
    pub fn run_until(&mut self, until: u64) -> Result<(), String> {
        while let Some(entry) = self.events.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((at, _), e) = entry.remove_entry();
            self.now = at;
            self.step(e);
            if let Some(v) = &self.violation {
                return Err(v.clone());
            }
        }
        self.now = self.now.max(until);
        Ok(())
    }

    /// Runs until every running honest node has committed `blocks` more than the highest honest height
    /// now, failing if that takes past `deadline`.
    pub fn check_liveness(&mut self, blocks: u64, deadline: u64) -> Result<(), String> {
        let target = self.max_honest_height() + blocks;
        let honest: Vec<usize> = (0..self.len())
            .filter(|&i| self.is_honest(i) && self.is_up(i))
            .collect();
        while honest.iter().any(|&i| self.height_of(i) < target) {
            if self.now >= deadline {
                let heights: Vec<String> = honest
                    .iter()
                    .map(|&i| {
                        format!(
                            "node {i} committed {}, {:?}",
                            self.height_of(i),
                            self.nodes[i].core.as_ref().map(|c| c.status())
                        )
                    })
                    .collect();
                return Err(format!(
                    "not live: honest nodes should reach height {target} by {deadline} ms; they are at\n  {}",
                    heights.join("\n  ")
                ));
            }
            self.run_until((self.now + 500).min(deadline))?;
        }
        Ok(())
    }
}
