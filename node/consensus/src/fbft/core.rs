//! The FBFT state machine of one node. No I/O, no clock, no randomness: [`Core::handle`] takes
//! an [`Input`] and returns the [`Output`]s the shell must perform, in order.
//!
//! One height at a time, views numbered from 0 at each height:
//! 1. ANNOUNCE: the leader of view 0 asks the shell to build a block ([`Output::Build`]), signs it
//!    and broadcasts it. A validator checks the header (height, parent, proposer, the parent's
//!    commit certificate), has the shell validate the body ([`Output::Validate`]), then
//! 2. PREPARE: signs (height, view, hash) and sends it to the leader, who
//! 3. PREPARED: aggregates more than 2/3 of the power into a certificate and broadcasts it. A
//!    validator that sees it locks on the block (the highest prepared certificate it holds) and
//! 4. COMMIT: signs (height, hash, view) to the leader, who
//! 5. COMMITTED: aggregates more than 2/3 into the commit certificate. The block is final; it and
//!    the certificate go to the shell ([`Output::Commit`]), and the certificate is carried in the
//!    next block's header.
//!
//! View change: when a view's timer fires (`base * 2^view`, capped), a validator signs
//! VIEWCHANGE(height, view + 1, its lock) and broadcasts it with the lock's certificate and block.
//! Seeing VIEWCHANGEs above its own view from more than 1/3 of the power, a validator joins the
//! highest view they reach together. The new view's leader, holding VIEWCHANGEs for it from more
//! than 2/3, sends NEWVIEW: those votes, the highest prepared certificate among them, and the
//! block of the view, which must be that prepared block if there is one. Any committed block was
//! prepared by more than 2/3, so at least one honest voter of any NEWVIEW reports it: a block
//! once committed is re-proposed in every later view, which is why two blocks are never final at
//! one height.
//!
//! Every signature passes the [`SignRecord`] first, which is persisted before the message that
//! carries it ([`Output::Persist`]): a restarted validator never signs two different blocks at
//! one (height, view, phase), and still reports its lock.
//!
//! Messages are self-authenticating (every one carries a signature or a certificate), so the
//! core never trusts the peer that relayed one; an invalid one yields [`Output::Rejected`] for
//! the shell to score that peer down. Messages for the next height or a later view are buffered
//! (bounded). A certificate for a block this node does not have, or a message from a later
//! height, yields [`Output::Sync`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use tutti_primitives::{CommitCertificate, Hash, Height, ShardId};

use super::{
    committee::Committee,
    crypto::{Crypto, Sig},
    message::{
        Message, Proposal, QuorumCert, ViewChange, Vote, commit_message, proposal_message, tags, view_change_message,
    },
    record::{SignRecord, Slot},
};

/// Most views a timeout jumps ahead to join other members.
const MAX_VIEW_JUMP: u64 = 64;

/// Timing and bounds.
#[derive(Clone, Debug)]
pub struct Config {
    /// The shard this core decides blocks of.
    pub shard: ShardId,
    /// The epoch this core runs in (one core per (shard, epoch)).
    pub epoch: u64,
    /// Timeout of view 0; view `v` waits `base * 2^v`.
    pub base_timeout_ms: u64,
    /// Cap on a view's timeout.
    pub max_timeout_ms: u64,
    /// Most messages held for a later view or the next height.
    pub max_buffered: usize,
    /// The last height of this core's epoch (`None`: it never ends). Once it has committed that
    /// height the core is [`Core::finished`]: it decides, signs and times out nothing more, and
    /// keeps what arrives for later heights for the next epoch's core ([`Core::take_handover`]).
    pub last_height: Option<Height>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            shard: 0,
            epoch: 0,
            base_timeout_ms: 3_000,
            max_timeout_ms: 60_000,
            max_buffered: 1024,
            last_height: None,
        }
    }
}

/// The last committed block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Its height.
    pub height: Height,
    /// Its hash.
    pub hash: Hash,
    /// Its commit certificate (`None` for genesis).
    pub cert: Option<CommitCertificate>,
}

/// A timer: fires [`Input::Timeout`] for (height, view).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timer {
    /// Height.
    pub height: Height,
    /// View.
    pub view: u64,
}

/// What the shell feeds the core.
// Inputs are moved once each, straight into `handle`; boxing the message would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Input {
    /// Begin (after construction).
    Start,
    /// A message from the network.
    Message(Message),
    /// A timer set by [`Output::SetTimer`] fired.
    Timeout(Timer),
    /// The shell's verdict on a block from [`Output::Validate`].
    Validated {
        /// The block.
        hash: Hash,
        /// Whether its body is valid on top of the head.
        valid: bool,
    },
    /// The shell cannot decide on a block from [`Output::Validate`] yet (its body waits on
    /// something outside the block, such as another chain it follows catching up). The block is
    /// marked neither way: this node does not vote for it now, and checks it again when it is
    /// proposed again (a later view re-proposes a prepared block), so a node that lagged is
    /// never locked out of a block the others lock on.
    Undecided {
        /// The block.
        hash: Hash,
    },
    /// The block the shell built for [`Output::Build`].
    Built(Proposal),
    /// A block fetched from a peer for [`Output::Fetch`].
    Fetched(Proposal),
    /// A committed block fetched from a peer for [`Output::Sync`], with its commit certificate.
    Synced {
        /// The block.
        proposal: Proposal,
        /// Its commit certificate.
        cert: CommitCertificate,
    },
}

/// What the core asks the shell to do, in order.
#[derive(Clone, Debug)]
pub enum Output {
    /// Make this record durable before performing any later output.
    Persist(SignRecord),
    /// Send to every node.
    Broadcast(Message),
    /// Send to one committee member.
    Send {
        /// Committee index.
        to: usize,
        /// The message.
        message: Message,
    },
    /// Build a block at `height` on `parent`, whose header carries `parent_commit`, and answer
    /// with [`Input::Built`].
    Build {
        /// Height.
        height: Height,
        /// View (goes in the header).
        view: u64,
        /// Parent hash.
        parent: Hash,
        /// The parent's commit certificate.
        parent_commit: Option<CommitCertificate>,
    },
    /// Check a block's body; answer with [`Input::Validated`].
    Validate(Proposal),
    /// The block is final: apply it and store it with its certificate.
    Commit {
        /// The block.
        proposal: Proposal,
        /// Its commit certificate.
        cert: CommitCertificate,
    },
    /// Fire [`Input::Timeout`] after `after_ms`.
    SetTimer {
        /// Which.
        timer: Timer,
        /// Delay.
        after_ms: u64,
    },
    /// Fetch committed blocks from `height` on from peers; feed them as [`Input::Synced`].
    Sync {
        /// First height wanted.
        height: Height,
    },
    /// Fetch the block with this hash (at the current height) from peers; feed it as
    /// [`Input::Fetched`].
    Fetch {
        /// The block.
        hash: Hash,
    },
    /// The input message was invalid: score down the peer it came from.
    Rejected {
        /// Message kind.
        kind: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The input message was not checked here (a vote for another view, or while the view
    /// changes): do not pass it on, and do not blame the peer it came from (it may be right).
    Unchecked {
        /// Message kind.
        kind: &'static str,
    },
}

/// Where a node stands, for logs, RPC and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The height being decided.
    pub height: Height,
    /// The view taken part in.
    pub view: u64,
    /// The view being changed to, if a view change is under way.
    pub changing_to: Option<u64>,
    /// The leader of the current (or target) view.
    pub leader: usize,
    /// The block of the current view.
    pub proposal: Option<Hash>,
    /// View and block of the highest prepared certificate held.
    pub lock: Option<(u64, Hash)>,
    /// Whether the lock's block is held.
    pub lock_block_held: bool,
}

/// The state machine.
pub struct Core<C: Crypto> {
    crypto: C,
    committee: Committee,
    me: Option<usize>,
    config: Config,
    head: Head,
    height: Height,
    view: u64,
    changing_to: Option<u64>,
    record: SignRecord,
    // Per height.
    blocks: HashMap<Hash, Proposal>,
    validity: HashMap<Hash, bool>,
    validating: HashSet<Hash>,
    lock: Option<QuorumCert>,
    view_changes: BTreeMap<usize, ViewChange>,
    certs: HashMap<(u64, Hash), QuorumCert>,
    fetching: HashSet<Hash>,
    sync_asked: Option<Height>,
    // Per view.
    proposal: Option<Hash>,
    sent_prepare: bool,
    sent_commit: bool,
    prepares: BTreeMap<usize, Sig>,
    commits: BTreeMap<usize, Sig>,
    /// Votes of this view whose signature verified, (prepare, signer, block, signature): every
    /// node checks a vote before passing it on, once.
    verified_votes: HashSet<(bool, usize, Hash, Sig)>,
    prepared: Option<QuorumCert>,
    committed_sent: bool,
    building: bool,
    new_view_pending: Option<Vec<ViewChange>>,
    // Plumbing.
    buffered: VecDeque<Message>,
    /// Messages for heights after this core's epoch, for the next epoch's core.
    handover: VecDeque<Message>,
    replay: bool,
    out: Vec<Output>,
}

/// Which votes a certificate aggregates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertKind {
    /// PREPARE votes (a PREPARED certificate).
    Prepare,
    /// COMMIT votes (a commit certificate, as carried in the next block's header).
    Commit,
}

/// Checks a certificate with one aggregate check: its bitmap is well formed, its signers hold
/// more than 2/3 of the power, and the sum of their keys verifies the aggregate signature over
/// the message of `kind`.
pub fn verify_certificate<C: Crypto>(
    committee: &Committee,
    crypto: &C,
    kind: CertKind,
    qc: &QuorumCert,
) -> Result<(), String> {
    let signers = committee.signers(&qc.cert.signers).map_err(|e| e.to_string())?;
    let power = committee.power_of(signers.iter().copied());
    if !committee.is_quorum(power) {
        return Err(format!(
            "certificate signers hold {power} of {} voting power, not more than 2/3",
            committee.total_power()
        ));
    }
    let (tag, msg) = match kind {
        CertKind::Prepare => (tags::PREPARE, proposal_message(qc.height, qc.cert.view, &qc.hash)),
        CertKind::Commit => (tags::COMMIT, commit_message(qc.height, &qc.hash, qc.cert.view)),
    };
    if !crypto.verify_aggregate(&signers, tag, &msg, &qc.cert.signature) {
        return Err("the aggregate signature does not verify".into());
    }
    Ok(())
}

impl<C: Crypto> Core<C> {
    /// A node of `committee` (as member `me`, or a full node for `None`) whose last committed
    /// block is `head`, with the signing record it persisted (if any).
    pub fn new(
        crypto: C,
        committee: Committee,
        me: Option<usize>,
        config: Config,
        head: Head,
        record: Option<SignRecord>,
    ) -> Self {
        // The shell loads the record of this core's (shard, epoch) (`record::load_for`).
        let record = record.unwrap_or_else(|| SignRecord {
            shard: config.shard,
            epoch: config.epoch,
            ..SignRecord::default()
        });
        let height = head.height + 1;
        let (view, lock, blocks) = if record.height == height {
            let blocks = record.blocks.iter().map(|p| (p.hash(), p.clone())).collect();
            (record.view, record.prepared.clone(), blocks)
        } else {
            (0, None, HashMap::new())
        };
        Core {
            crypto,
            committee,
            me,
            config,
            head,
            height,
            view,
            changing_to: None,
            record,
            blocks,
            validity: HashMap::new(),
            validating: HashSet::new(),
            lock,
            view_changes: BTreeMap::new(),
            certs: HashMap::new(),
            fetching: HashSet::new(),
            sync_asked: None,
            proposal: None,
            sent_prepare: false,
            sent_commit: false,
            prepares: BTreeMap::new(),
            verified_votes: HashSet::new(),
            commits: BTreeMap::new(),
            prepared: None,
            committed_sent: false,
            building: false,
            new_view_pending: None,
            buffered: VecDeque::new(),
            handover: VecDeque::new(),
            replay: false,
            out: Vec::new(),
        }
    }

    /// Whether this core has committed the last height of its epoch (see
    /// [`Config::last_height`]).
    pub fn finished(&self) -> bool {
        self.config.last_height.is_some_and(|last| self.height > last)
    }

    /// The messages for heights after this core's epoch that it kept, oldest first, for the
    /// next epoch's core.
    pub fn take_handover(&mut self) -> Vec<Message> {
        self.handover.drain(..).collect()
    }

    fn hand_over(&mut self, m: Message) {
        if self.handover.len() >= self.config.max_buffered {
            self.handover.pop_front();
        }
        self.handover.push_back(m);
    }

    /// The height being decided (head + 1).
    pub fn height(&self) -> Height {
        self.height
    }

    /// The current view (or the one being changed to).
    pub fn view(&self) -> u64 {
        self.changing_to.unwrap_or(self.view)
    }

    /// The last committed block.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The committee.
    pub fn committee(&self) -> &Committee {
        &self.committee
    }

    /// The leader of the current view.
    pub fn leader(&self) -> usize {
        self.committee.leader(self.height, self.view())
    }

    /// Where this node stands.
    pub fn status(&self) -> Status {
        Status {
            height: self.height,
            view: self.view,
            changing_to: self.changing_to,
            leader: self.leader(),
            proposal: self.proposal,
            lock: self.lock.as_ref().map(|q| (q.cert.view, q.hash)),
            lock_block_held: self.lock.as_ref().is_some_and(|q| self.blocks.contains_key(&q.hash)),
        }
    }

    /// What this node last signed.
    pub fn record(&self) -> &SignRecord {
        &self.record
    }

    /// Feeds one input; returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        if self.finished() {
            // The next epoch's core decides from here, with its own committee.
            if let Input::Message(m) = input {
                self.hand_over(m);
            }
            return Vec::new();
        }
        match input {
            Input::Start => self.enter_view(self.view),
            Input::Message(m) => self.on_message(m),
            Input::Timeout(t) => self.on_timeout(t),
            Input::Validated { hash, valid } => self.on_validated(hash, valid),
            Input::Undecided { hash } => {
                self.validating.remove(&hash);
            }
            Input::Built(p) => self.on_built(p),
            Input::Synced { proposal, cert } => self.on_synced(proposal, cert),
            Input::Fetched(p) => self.on_fetched(p),
        }
        // Buffered messages whose time came. Their senders are not known any more, so what
        // they get rejected for is not reported.
        let reported = self.out.len();
        let mut out = Vec::new();
        while self.replay {
            self.replay = false;
            let pending: Vec<Message> = self.buffered.drain(..).collect();
            for m in pending {
                self.on_message(m);
            }
        }
        let replayed = self.out.split_off(reported);
        out.append(&mut self.out);
        out.extend(replayed.into_iter().filter(|o| !matches!(o, Output::Rejected { .. })));
        out
    }

    /// Brings the record up to date (the lock, and the blocks it needs to survive a restart:
    /// the lock's, so it can be re-proposed, and the one last prepared, which may be certified
    /// without this node having seen it) and asks the shell to make it durable.
    fn persist(&mut self) {
        self.record.prepared = self.lock.clone();
        let mut keep: Vec<Hash> = self.lock.iter().map(|q| q.hash).collect();
        keep.extend(self.record.prepare);
        keep.dedup();
        self.record.blocks = keep.iter().filter_map(|h| self.blocks.get(h).cloned()).collect();
        self.out.push(Output::Persist(self.record.clone()));
    }

    /// Signs `hash` in `slot` at (height, `view`) if the record permits it, recording the
    /// signature and persisting the record before the caller sends anything.
    fn sign_in(&mut self, view: u64, slot: Slot, hash: Hash) -> Option<Sig> {
        if !self.record.permits(self.height, view, slot, &hash) {
            return None;
        }
        let (tag, msg) = match slot {
            Slot::Announce => (tags::ANNOUNCE, proposal_message(self.height, view, &hash)),
            Slot::Prepare => (tags::PREPARE, proposal_message(self.height, view, &hash)),
            Slot::Commit => (tags::COMMIT, commit_message(self.height, &hash, view)),
        };
        let signature = self.crypto.sign(tag, &msg)?;
        self.record.sign(self.height, view, slot, hash);
        self.persist();
        Some(signature)
    }

    /// A block this node holds at the current height (to answer a peer's fetch).
    pub fn block(&self, hash: &Hash) -> Option<&Proposal> {
        self.blocks.get(hash)
    }

    fn reject(&mut self, kind: &'static str, reason: impl Into<String>) {
        self.out.push(Output::Rejected {
            kind,
            reason: reason.into(),
        });
    }

    fn timeout(&self, view: u64) -> u64 {
        let factor = 1u64 << view.min(20);
        self.config
            .base_timeout_ms
            .saturating_mul(factor)
            .min(self.config.max_timeout_ms)
    }

    fn is_leader(&self, view: u64) -> bool {
        self.me == Some(self.committee.leader(self.height, view))
    }

    fn buffer(&mut self, m: Message) {
        if self.buffered.len() >= self.config.max_buffered {
            self.buffered.pop_front();
        }
        self.buffered.push_back(m);
    }

    fn ask_sync(&mut self) {
        if self.sync_asked != Some(self.height) {
            self.sync_asked = Some(self.height);
            self.out.push(Output::Sync { height: self.height });
        }
    }

    fn reset_view(&mut self) {
        self.proposal = None;
        self.sent_prepare = false;
        self.sent_commit = false;
        self.prepares.clear();
        self.commits.clear();
        self.verified_votes.clear();
        self.prepared = None;
        self.committed_sent = false;
        self.building = false;
        self.new_view_pending = None;
    }

    fn set_timer(&mut self, view: u64) {
        self.out.push(Output::SetTimer {
            timer: Timer {
                height: self.height,
                view,
            },
            after_ms: self.timeout(view),
        });
    }

    fn enter_view(&mut self, view: u64) {
        if self.finished() {
            // Messages held for the next height belong to the next epoch's core.
            while let Some(m) = self.buffered.pop_front() {
                self.hand_over(m);
            }
            return;
        }
        self.view = view;
        self.changing_to = None;
        self.reset_view();
        self.set_timer(view);
        if view == 0 && self.is_leader(0) && self.record.permits_view_change(self.height, 0) {
            self.building = true;
            self.out.push(Output::Build {
                height: self.height,
                view: 0,
                parent: self.head.hash,
                parent_commit: self.head.cert.clone(),
            });
        }
        self.replay = true;
    }

    fn enter_height(&mut self) {
        self.height += 1;
        self.blocks.clear();
        self.validity.clear();
        self.validating.clear();
        self.lock = None;
        self.view_changes.clear();
        self.certs.clear();
        self.fetching.clear();
        self.enter_view(0);
    }

    fn commit_block(&mut self, proposal: Proposal, cert: CommitCertificate) {
        let hash = proposal.hash();
        self.out.push(Output::Commit {
            proposal,
            cert: cert.clone(),
        });
        self.head = Head {
            height: self.height,
            hash,
            cert: Some(cert),
        };
        self.enter_height();
    }

    fn verify_qc(&self, kind: CertKind, qc: &QuorumCert) -> Result<(), String> {
        verify_certificate(&self.committee, &self.crypto, kind, qc)
    }

    /// Checks a proposed header against the head: height, parent, proposer, parent certificate.
    fn check_header(&self, p: &Proposal) -> Result<(), String> {
        let h = &p.header;
        if h.height != self.height || h.parent_hash != self.head.hash {
            return Err(format!(
                "block {} does not extend the head {}",
                h.height, self.head.height
            ));
        }
        let proposer = self.committee.leader(h.height, h.view);
        if h.proposer != self.committee.members()[proposer].id {
            return Err(format!("the proposer is not the leader of view {}", h.view));
        }
        match (&h.parent_commit, &self.head.cert) {
            (None, None) => Ok(()),
            (Some(c), Some(mine)) if c == mine => Ok(()),
            (Some(c), _) if self.head.height > 0 => self.verify_qc(
                CertKind::Commit,
                &QuorumCert {
                    height: self.head.height,
                    hash: self.head.hash,
                    cert: c.clone(),
                },
            ),
            _ => Err("the parent's commit certificate is missing or unexpected".into()),
        }
    }

    fn on_timeout(&mut self, t: Timer) {
        if t.height != self.height || t.view != self.view() {
            return;
        }
        self.out.push(Output::Sync { height: self.height });
        // Join the highest view any member is known to be moving to (by a bounded step, so a
        // byzantine vote cannot fling the view far). Without this, nodes whose views drifted
        // apart while a quorum was unreachable would keep timing out in step, never together.
        let seen = self.view_changes.values().map(|v| v.new_view).max().unwrap_or(0);
        let next = t.view + 1;
        self.start_view_change(next.max(seen.min(next.saturating_add(MAX_VIEW_JUMP))));
    }

    fn start_view_change(&mut self, target: u64) {
        // `view` stays the last view taken part in; `target` starts with its NEWVIEW.
        self.reset_view();
        self.changing_to = Some(target);
        self.set_timer(target);
        let Some(me) = self.me else { return };
        if !self.record.permits_view_change(self.height, target) {
            return;
        }
        self.record.advance(self.height, target);
        let prepared = self.lock.as_ref().map(|q| (q.cert.view, q.hash));
        let msg = view_change_message(self.height, target, &prepared);
        let Some(signature) = self.crypto.sign(tags::VIEWCHANGE, &msg) else {
            return;
        };
        self.persist();
        let vote = ViewChange {
            height: self.height,
            new_view: target,
            prepared,
            signer: me as u32,
            signature,
        };
        let body = self.lock.as_ref().and_then(|q| self.blocks.get(&q.hash).cloned());
        self.out.push(Output::Broadcast(Message::ViewChange {
            vote: vote.clone(),
            prepared: self.lock.clone(),
            proposal: body,
        }));
        self.count_view_change(vote);
    }

    fn on_message(&mut self, m: Message) {
        // What is for another height is not checked here: kept or dropped, never passed on.
        let unchecked = Output::Unchecked { kind: m.kind() };
        if self.finished() {
            self.out.push(unchecked);
            return self.hand_over(m);
        }
        let h = m.height();
        if h < self.height {
            return self.out.push(unchecked);
        }
        if h > self.height {
            if h > self.height + 1 {
                self.out.push(unchecked);
                return self.ask_sync();
            }
            if let Message::Announce { proposal, .. } | Message::NewView { proposal, .. } = &m {
                self.commit_parent_of(proposal);
                if h == self.height {
                    return self.on_message(m);
                }
                // The block this one builds on has not reached us.
                self.ask_sync();
            }
            self.out.push(unchecked);
            return self.buffer(m);
        }
        match m {
            Message::Announce {
                view,
                proposal,
                signature,
            } => self.on_announce(view, proposal, signature),
            Message::Prepare(v) => self.on_vote(v, true),
            Message::Commit(v) => self.on_vote(v, false),
            Message::Prepared(qc) => self.on_prepared(qc),
            Message::Committed(qc) => self.on_committed(qc),
            Message::ViewChange {
                vote,
                prepared,
                proposal,
            } => self.on_view_change(vote, prepared, proposal),
            Message::NewView {
                view,
                votes,
                prepared,
                proposal,
                signature,
            } => self.on_new_view(view, votes, prepared, proposal, signature),
        }
    }

    /// A block of the next height carries the commit certificate of ours: commit it if we have it.
    fn commit_parent_of(&mut self, child: &Proposal) {
        let Some(cert) = &child.header.parent_commit else {
            return;
        };
        let Some(parent) = self.blocks.get(&child.header.parent_hash).cloned() else {
            return;
        };
        let qc = QuorumCert {
            height: self.height,
            hash: child.header.parent_hash,
            cert: cert.clone(),
        };
        if self.verify_qc(CertKind::Commit, &qc).is_ok() {
            self.commit_block(parent, qc.cert);
        }
    }

    fn on_announce(&mut self, view: u64, proposal: Proposal, signature: Sig) {
        if view != 0 || self.view != 0 || self.changing_to.is_some() {
            return;
        }
        let hash = proposal.hash();
        if self.proposal == Some(hash) {
            return;
        }
        let leader = self.committee.leader(self.height, 0);
        if !self.crypto.verify(
            leader,
            tags::ANNOUNCE,
            &proposal_message(self.height, 0, &hash),
            &signature,
        ) {
            return self.reject("announce", "the leader's signature does not verify");
        }
        if self.proposal.is_some() {
            // A second, different block signed by the leader at one view: it equivocates. Keep
            // the first; the view will time out if no quorum forms.
            return self.reject("announce", "the leader announced two blocks in one view");
        }
        if proposal.header.view != 0 {
            return self.reject("announce", "the header's view is not the announce's");
        }
        if let Err(e) = self.check_header(&proposal) {
            return self.reject("announce", e);
        }
        self.blocks.insert(hash, proposal);
        self.accept(hash);
    }

    fn accept(&mut self, hash: Hash) {
        self.proposal = Some(hash);
        match self.validity.get(&hash) {
            Some(true) => self.send_prepare(),
            Some(false) => {}
            None => {
                if self.validating.insert(hash) {
                    let p = self.blocks[&hash].clone();
                    self.out.push(Output::Validate(p));
                }
            }
        }
    }

    fn on_validated(&mut self, hash: Hash, valid: bool) {
        if !self.validating.remove(&hash) {
            return;
        }
        self.validity.insert(hash, valid);
        if valid && self.proposal == Some(hash) && self.changing_to.is_none() {
            self.send_prepare();
        }
    }

    fn on_built(&mut self, p: Proposal) {
        // A block built for a view this node has since left is dropped.
        if !self.building || p.header.height != self.height || p.header.view != self.view {
            return;
        }
        if let Err(e) = self.check_header(&p) {
            // The shell built a block this core would refuse: a shell bug, not a peer's.
            return self.reject("built", e);
        }
        self.building = false;
        let hash = p.hash();
        let view = self.view;
        let Some(signature) = self.sign_in(view, Slot::Announce, hash) else {
            return;
        };
        self.blocks.insert(hash, p.clone());
        self.validity.insert(hash, true);
        match self.new_view_pending.take() {
            Some(votes) => self.out.push(Output::Broadcast(Message::NewView {
                view,
                votes,
                prepared: None,
                proposal: p,
                signature,
            })),
            None => self.out.push(Output::Broadcast(Message::Announce {
                view,
                proposal: p,
                signature,
            })),
        }
        self.accept(hash);
    }

    fn send_prepare(&mut self) {
        let Some(hash) = self.proposal else { return };
        if self.sent_prepare {
            return;
        }
        // Set before sending, as in `on_prepared`: the vote may finish this height.
        self.sent_prepare = true;
        let at = (self.height, self.view);
        if !self.send_vote(Slot::Prepare, hash) && at == (self.height, self.view) {
            self.sent_prepare = false;
        }
    }

    /// Signs a PREPARE or COMMIT for `hash` in the current view (if the record permits) and
    /// sends it to the leader; whether it did.
    fn send_vote(&mut self, slot: Slot, hash: Hash) -> bool {
        let Some(me) = self.me else { return false };
        let view = self.view;
        let Some(signature) = self.sign_in(view, slot, hash) else {
            return false;
        };
        let vote = Vote {
            height: self.height,
            view,
            hash,
            signer: me as u32,
            signature,
        };
        self.send_to_leader(match slot {
            Slot::Commit => Message::Commit(vote),
            _ => Message::Prepare(vote),
        });
        true
    }

    fn send_to_leader(&mut self, m: Message) {
        let leader = self.committee.leader(self.height, self.view);
        if Some(leader) == self.me {
            self.on_message(m);
        } else {
            self.out.push(Output::Send { to: leader, message: m });
        }
    }

    /// A PREPARE or COMMIT. Every node checks its signer and signature (once per vote) before it
    /// is passed on, so a forged vote goes no further than its first hop and only its origin is
    /// blamed; the leader then counts the genuine votes for its block. A vote this node cannot
    /// check now (another view) is kept or dropped, never passed on or blamed on its sender.
    fn on_vote(&mut self, v: Vote, prepare: bool) {
        let kind = if prepare { "prepare" } else { "commit" };
        if v.view > self.view() {
            self.out.push(Output::Unchecked { kind });
            return self.buffer(if prepare {
                Message::Prepare(v)
            } else {
                Message::Commit(v)
            });
        }
        if v.view != self.view || self.changing_to.is_some() {
            return self.out.push(Output::Unchecked { kind });
        }
        let signer = v.signer as usize;
        if signer >= self.committee.len() {
            return self.reject(kind, format!("signer {signer} is not a committee member"));
        }
        let (tag, msg) = if prepare {
            (tags::PREPARE, proposal_message(v.height, v.view, &v.hash))
        } else {
            (tags::COMMIT, commit_message(v.height, &v.hash, v.view))
        };
        let id = (prepare, signer, v.hash, v.signature);
        if !self.verified_votes.contains(&id) {
            if !self.crypto.verify(signer, tag, &msg, &v.signature) {
                return self.reject(kind, "the vote's signature does not verify");
            }
            // Bounded: a member signing many blocks is checked again past it, not remembered.
            if self.verified_votes.len() < 4 * self.committee.len() + 64 {
                self.verified_votes.insert(id);
            }
        }
        if !self.is_leader(v.view) {
            return;
        }
        let expected = if prepare {
            self.proposal
        } else {
            self.prepared.as_ref().map(|q| q.hash)
        };
        match expected {
            Some(h) if h == v.hash => {}
            // A genuine vote for another block: the voter's doing (the double-sign watch sees
            // it), not its forwarder's.
            Some(_) => return,
            // A COMMIT racing ahead of our own PREPARED: keep it for later.
            None if !prepare => return self.buffer(Message::Commit(v)),
            // A PREPARE for a block this (restarted) leader no longer holds.
            None => return,
        }
        let votes = if prepare { &self.prepares } else { &self.commits };
        if votes.contains_key(&signer) {
            return;
        }
        let votes = if prepare { &mut self.prepares } else { &mut self.commits };
        votes.insert(signer, v.signature);
        let power = self.committee.power_of(votes.keys().copied());
        if !self.committee.is_quorum(power) {
            return;
        }
        let sigs: Vec<Sig> = votes.values().copied().collect();
        let signers = self.committee.bitmap(votes.keys().copied());
        let Some(signature) = self.crypto.aggregate(&sigs) else {
            return;
        };
        let qc = QuorumCert {
            height: self.height,
            hash: v.hash,
            cert: CommitCertificate {
                view: self.view,
                signature,
                signers,
            },
        };
        if prepare && self.prepared.is_none() {
            self.out.push(Output::Broadcast(Message::Prepared(qc.clone())));
            self.on_prepared(qc);
        } else if !prepare && !self.committed_sent {
            self.committed_sent = true;
            self.out.push(Output::Broadcast(Message::Committed(qc.clone())));
            self.on_committed(qc);
        }
    }

    fn raise_lock(&mut self, qc: &QuorumCert) {
        if self.lock.as_ref().is_none_or(|l| l.cert.view < qc.cert.view) {
            self.lock = Some(qc.clone());
        }
    }

    fn on_prepared(&mut self, qc: QuorumCert) {
        let view = qc.cert.view;
        if view < self.view() || (view == self.view && self.prepared.is_some()) {
            return;
        }
        if let Err(e) = self.verify_qc(CertKind::Prepare, &qc) {
            return self.reject("prepared", e);
        }
        if view > self.view || self.changing_to.is_some() {
            // More than 2/3 prepared in a view we missed the start of: join it.
            self.enter_view(view);
        }
        self.raise_lock(&qc);
        self.certs.insert((view, qc.hash), qc.clone());
        self.proposal = Some(qc.hash);
        self.prepared = Some(qc.clone());
        if self.sent_commit || self.validity.get(&qc.hash) == Some(&false) {
            return;
        }
        // The flag is set before sending: when this node's own vote completes the quorum (a
        // committee of one), sending commits the block and enters the next height, whose flags
        // must not be touched afterwards.
        self.sent_commit = true;
        let at = (self.height, self.view);
        if !self.send_vote(Slot::Commit, qc.hash) && at == (self.height, self.view) {
            self.sent_commit = false;
        }
    }

    fn on_committed(&mut self, qc: QuorumCert) {
        if let Err(e) = self.verify_qc(CertKind::Commit, &qc) {
            return self.reject("committed", e);
        }
        match self.blocks.get(&qc.hash).cloned() {
            Some(p) => self.commit_block(p, qc.cert),
            None => self.ask_sync(),
        }
    }

    fn on_synced(&mut self, proposal: Proposal, cert: CommitCertificate) {
        let h = &proposal.header;
        if h.height != self.height || h.parent_hash != self.head.hash {
            return;
        }
        let qc = QuorumCert {
            height: self.height,
            hash: proposal.hash(),
            cert,
        };
        if let Err(e) = self.verify_qc(CertKind::Commit, &qc) {
            return self.reject("sync", e);
        }
        self.commit_block(proposal, qc.cert);
    }

    fn on_fetched(&mut self, p: Proposal) {
        let hash = p.hash();
        if !self.fetching.remove(&hash) || p.header.height != self.height {
            return;
        }
        self.blocks.insert(hash, p);
        if let Some(target) = self.changing_to
            && self.is_leader(target)
        {
            self.try_new_view(target);
        }
    }

    fn on_view_change(&mut self, vote: ViewChange, prepared: Option<QuorumCert>, body: Option<Proposal>) {
        let signer = vote.signer as usize;
        if signer >= self.committee.len() {
            return self.reject("viewchange", format!("signer {signer} is not a committee member"));
        }
        if vote.new_view <= self.view
            || self
                .view_changes
                .get(&signer)
                .is_some_and(|v| v.new_view >= vote.new_view)
        {
            return;
        }
        if let Err(e) = self.check_view_change(&vote, prepared.as_ref()) {
            return self.reject("viewchange", e);
        }
        if let (Some(qc), Some(p)) = (&prepared, body) {
            if p.hash() != qc.hash {
                return self.reject("viewchange", "the block sent is not the prepared one");
            }
            self.blocks.insert(qc.hash, p);
        }
        if let Some(qc) = prepared {
            self.raise_lock(&qc);
            self.certs.insert((qc.cert.view, qc.hash), qc);
        }
        self.count_view_change(vote);
    }

    /// Checks a VIEWCHANGE's signature and the certificate of the lock it reports.
    fn check_view_change(&self, vote: &ViewChange, prepared: Option<&QuorumCert>) -> Result<(), String> {
        let msg = view_change_message(vote.height, vote.new_view, &vote.prepared);
        if !self
            .crypto
            .verify(vote.signer as usize, tags::VIEWCHANGE, &msg, &vote.signature)
        {
            return Err("the signature does not verify".into());
        }
        match (&vote.prepared, prepared) {
            (None, _) => Ok(()),
            (Some((view, hash)), Some(qc)) if qc.cert.view == *view && qc.hash == *hash && qc.height == vote.height => {
                if self.certs.contains_key(&(*view, *hash)) {
                    Ok(())
                } else {
                    self.verify_qc(CertKind::Prepare, qc)
                }
            }
            (Some(_), _) => Err("the reported prepared block comes without its certificate".into()),
        }
    }

    fn count_view_change(&mut self, vote: ViewChange) {
        let target = vote.new_view;
        self.view_changes.insert(vote.signer as usize, vote);
        // More than 1/3 of the power is past our view: at least one honest node timed out there,
        // so follow to the highest view they reach together.
        if self.me.is_some() {
            let current = self.view();
            let mut above: Vec<(u64, usize)> = self
                .view_changes
                .iter()
                .filter(|(_, v)| v.new_view > current)
                .map(|(&s, v)| (v.new_view, s))
                .collect();
            above.sort_unstable_by(|a, b| b.cmp(a));
            let mut power = 0u64;
            for (view, signer) in above {
                power += self.committee.power_of([signer]);
                if self.committee.is_over_third(power) {
                    self.start_view_change(view);
                    break;
                }
            }
        }
        let current = self.view();
        if target >= current && self.is_leader(target) && !(self.view == target && self.changing_to.is_none()) {
            self.try_new_view(target);
        }
    }

    fn try_new_view(&mut self, view: u64) {
        let votes: Vec<ViewChange> = self
            .view_changes
            .values()
            .filter(|v| v.new_view == view)
            .cloned()
            .collect();
        if !self
            .committee
            .is_quorum(self.committee.power_of(votes.iter().map(|v| v.signer as usize)))
        {
            return;
        }
        let highest = highest_prepared(&votes);
        // The certificate of a reported lock: from the votes, or this node's own lock (after a
        // restart the lock comes from the signing record, not from a message).
        let cert_of = |key: &(u64, Hash)| {
            self.certs
                .get(key)
                .cloned()
                .or_else(|| self.lock.clone().filter(|q| (q.cert.view, q.hash) == *key))
        };
        let reproposal = match highest {
            Some(key) => match (cert_of(&key), self.blocks.get(&key.1).cloned()) {
                (Some(qc), Some(p)) => Some((qc, p)),
                (_, None) => {
                    // The prepared block has not reached us: ask peers for it (a later
                    // VIEWCHANGE may bring it too).
                    if self.fetching.insert(key.1) {
                        self.out.push(Output::Fetch { hash: key.1 });
                    }
                    return;
                }
                (None, Some(_)) => return,
            },
            None => None,
        };
        if !self.record.permits_view_change(self.height, view) {
            return;
        }
        self.enter_view(view);
        match reproposal {
            Some((qc, p)) => {
                let hash = p.hash();
                let Some(signature) = self.sign_in(view, Slot::Announce, hash) else {
                    return;
                };
                self.out.push(Output::Broadcast(Message::NewView {
                    view,
                    votes,
                    prepared: Some(qc),
                    proposal: p,
                    signature,
                }));
                self.accept(hash);
            }
            None => {
                self.building = true;
                self.new_view_pending = Some(votes);
                self.out.push(Output::Build {
                    height: self.height,
                    view,
                    parent: self.head.hash,
                    parent_commit: self.head.cert.clone(),
                });
            }
        }
    }

    fn on_new_view(
        &mut self,
        view: u64,
        votes: Vec<ViewChange>,
        prepared: Option<QuorumCert>,
        proposal: Proposal,
        signature: Sig,
    ) {
        let fresh = view > self.view() || (view == self.view() && self.changing_to == Some(view));
        let same_view_unstarted = view == self.view && self.changing_to.is_none() && self.proposal.is_none();
        if !(fresh || same_view_unstarted) || view == 0 {
            return;
        }
        if let Err(e) = self.check_new_view(view, &votes, prepared.as_ref(), &proposal, &signature) {
            return self.reject("newview", e);
        }
        let hash = proposal.hash();
        self.enter_view(view);
        if let Some(qc) = prepared {
            self.raise_lock(&qc);
            self.certs.insert((qc.cert.view, qc.hash), qc);
        }
        self.blocks.insert(hash, proposal);
        self.accept(hash);
    }

    fn check_new_view(
        &self,
        view: u64,
        votes: &[ViewChange],
        prepared: Option<&QuorumCert>,
        proposal: &Proposal,
        signature: &Sig,
    ) -> Result<(), String> {
        let hash = proposal.hash();
        let leader = self.committee.leader(self.height, view);
        if !self.crypto.verify(
            leader,
            tags::ANNOUNCE,
            &proposal_message(self.height, view, &hash),
            signature,
        ) {
            return Err("the leader's signature does not verify".into());
        }
        if votes.len() > self.committee.len() {
            return Err("more votes than members".into());
        }
        let mut last = None;
        for v in votes {
            if v.height != self.height || v.new_view != view {
                return Err("a vote for another height or view".into());
            }
            if last.is_some_and(|l| l >= v.signer) {
                return Err("votes not in strictly increasing signer order".into());
            }
            last = Some(v.signer);
            if (v.signer as usize) >= self.committee.len()
                || !self.crypto.verify(
                    v.signer as usize,
                    tags::VIEWCHANGE,
                    &view_change_message(v.height, v.new_view, &v.prepared),
                    &v.signature,
                )
            {
                return Err(format!("vote of {} does not verify", v.signer));
            }
        }
        let power = self.committee.power_of(votes.iter().map(|v| v.signer as usize));
        if !self.committee.is_quorum(power) {
            return Err("the view-change votes are not more than 2/3 of the power".into());
        }
        match highest_prepared(votes) {
            Some((pview, phash)) => {
                let qc = prepared.ok_or("the highest prepared block comes without its certificate")?;
                if qc.height != self.height || qc.cert.view != pview || qc.hash != phash {
                    return Err("the certificate is not the highest prepared block's".into());
                }
                self.verify_qc(CertKind::Prepare, qc)?;
                if hash != phash {
                    return Err("the leader does not re-propose the highest prepared block".into());
                }
                let h = &proposal.header;
                if h.height != self.height || h.parent_hash != self.head.hash {
                    return Err("the re-proposed block does not extend the head".into());
                }
                Ok(())
            }
            None => {
                if proposal.header.view != view {
                    return Err("the header's view is not the new view".into());
                }
                self.check_header(proposal)
            }
        }
    }
}

/// The highest prepared (view, hash) among view-change votes (ties by view go to the larger
/// hash, deterministically; two blocks prepared in one view cannot happen below 1/3 faulty).
fn highest_prepared(votes: &[ViewChange]) -> Option<(u64, Hash)> {
    votes
        .iter()
        .filter_map(|v| v.prepared)
        .max_by(|a, b| a.0.cmp(&b.0).then(a.1.0.cmp(&b.1.0)))
}
