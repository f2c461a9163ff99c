//! The libp2p network: TCP, noise, yamux; gossipsub with validation held for the node's verdict;
//! Kademlia and identify for discovery; a request-response protocol for sync; a block list for
//! banned peers.
//!
//! One task owns the swarm; [`P2pNetwork`] sends it commands over a channel and the node reads
//! [`Event`]s from the channel [`P2pNetwork::start`] returns. A node that tracks several shards
//! runs one swarm (one peer id, one port) joined to every tracked shard's topics, with one handle
//! and one event channel per shard ([`P2pNetwork::start_shards`]): gossip goes to the shard of its
//! topic (the chain-wide headers topic to every tracked shard), and a sync request names its shard
//! in its first four bytes (little-endian), so it reaches that shard's node.

use std::{
    collections::{HashMap, HashSet},
    io,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt, StreamExt, future::BoxFuture};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits, gossipsub, identify, identity, kad,
    noise,
    request_response::{self, OutboundRequestId, ProtocolSupport},
    swarm::{
        NetworkBehaviour, SwarmEvent,
        dial_opts::{DialOpts, PeerCondition},
    },
    tcp, yamux,
};
use rand::seq::SliceRandom;
use tokio::sync::{mpsc, oneshot};

use crate::{Event, Gossip, MessageId, NetError, Network, Scores, Topic, Verdict};

/// Largest gossip message (a block proposal carries its transactions).
pub const MAX_GOSSIP_BYTES: usize = 10 << 20;
/// Largest sync request.
pub const MAX_REQUEST_BYTES: u64 = 64 << 10;
/// Largest sync answer.
pub const MAX_RESPONSE_BYTES: u64 = 32 << 20;

const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/tutti/sync/2");
const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/tutti/kad/1");

/// Settings of a libp2p node.
#[derive(Clone, Debug)]
pub struct P2pConfig {
    /// The node's identity key (ed25519 secret, 32 bytes); its peer id derives from it.
    pub secret: [u8; 32],
    /// Where to listen, e.g. `/ip4/127.0.0.1/tcp/30300`.
    pub listen: Multiaddr,
    /// Peers to dial at start, each `…/p2p/<peer id>`.
    pub bootnodes: Vec<Multiaddr>,
    /// Chain id (topics are per chain).
    pub chain_id: u64,
    /// The shards the node tracks (topics are per shard), its own first: one handle each.
    pub shards: Vec<u32>,
    /// Most connections at once besides the bootnodes' ([`DEFAULT_MAX_PEERS`]): three quarters
    /// for peers that dial in, the rest for peers that discovery finds, and each bootnode has a
    /// slot of its own, so neither peers that dial in nor advertised addresses can keep the node
    /// from its bootnodes.
    pub max_peers: u32,
}

/// The default of [`P2pConfig::max_peers`].
pub const DEFAULT_MAX_PEERS: u32 = 128;
/// Connections still in their handshake that a node accepts at once.
const MAX_PENDING_INCOMING: u32 = 32;
/// Sync requests one connection may have open at once.
const MAX_STREAMS_PER_CONNECTION: usize = 16;

/// Why the network could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The identity key is unusable.
    #[error("the node key is not a valid ed25519 secret key: {0}")]
    Key(String),
    /// A libp2p component refused its configuration.
    #[error("the network could not be built: {0}")]
    Build(String),
    /// Listening failed (port taken?).
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// A bootnode address lacks its `/p2p/<peer id>` suffix.
    #[error("bootnode {0} must end with /p2p/<peer id>")]
    Bootnode(Multiaddr),
}

/// The peer id a node key gives.
pub fn peer_id(secret: [u8; 32]) -> Result<PeerId, StartError> {
    Ok(keypair(secret)?.public().to_peer_id())
}

fn keypair(mut secret: [u8; 32]) -> Result<identity::Keypair, StartError> {
    identity::Keypair::ed25519_from_bytes(&mut secret).map_err(|e| StartError::Key(e.to_string()))
}

type EventSinks = std::collections::BTreeMap<u32, mpsc::Sender<Event>>;

/// Whether any tracked shard's node is still listening.
fn alive(sinks: &EventSinks) -> bool {
    sinks.values().any(|e| !e.is_closed())
}

/// Sends an event to one tracked shard's node; false when every node has gone.
async fn send_to(sinks: &EventSinks, shard: u32, ev: Event) -> bool {
    if let Some(events) = sinks.get(&shard) {
        let _ = events.send(ev).await;
    }
    alive(sinks)
}

/// Sends an event to every tracked shard's node; false when every node has gone.
async fn send_all(sinks: &EventSinks, ev: impl Fn() -> Event) -> bool {
    for events in sinks.values() {
        let _ = events.send(ev()).await;
    }
    alive(sinks)
}

/// A sync request's shard (its first four bytes, little-endian) and the request itself.
fn split_shard(request: &[u8]) -> Option<(u32, &[u8])> {
    let (shard, rest) = request.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*shard), rest))
}

/// Request and response bytes, read to the end of the stream within a size limit.
#[derive(Clone, Default)]
struct BytesCodec;

async fn read_limited<T: AsyncRead + Unpin + Send>(io: &mut T, limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    io.take(limit + 1).read_to_end(&mut out).await?;
    if out.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message over {limit} bytes"),
        ));
    }
    Ok(out)
}

#[async_trait]
impl request_response::Codec for BytesCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_limited(io, MAX_REQUEST_BYTES).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_limited(io, MAX_RESPONSE_BYTES).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&res).await?;
        io.close().await
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    gossipsub: gossipsub::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    identify: identify::Behaviour,
    sync: request_response::Behaviour<BytesCodec>,
}

enum Command {
    Publish(u32, Topic, Vec<u8>),
    Validated(PeerId, MessageId, Verdict),
    Penalise(PeerId, String),
    Request {
        shard: u32,
        data: Vec<u8>,
        exclude: Vec<PeerId>,
        reply: oneshot::Sender<Result<(PeerId, Vec<u8>), NetError>>,
    },
    Respond(request_response::ResponseChannel<Vec<u8>>, Vec<u8>),
    /// Start tracking a shard: subscribe its topics, route its events to the channel.
    Join(u32, mpsc::Sender<Event>),
    /// Stop tracking a shard.
    Leave(u32),
}

/// A handle on the libp2p task.
#[derive(Clone)]
pub struct P2pNetwork {
    me: PeerId,
    shard: u32,
    commands: mpsc::UnboundedSender<Command>,
    peers: Arc<Mutex<HashSet<PeerId>>>,
    listening: Arc<Mutex<Vec<Multiaddr>>>,
}

impl P2pNetwork {
    /// [`P2pNetwork::start_shards`] for a node of one shard.
    pub fn start(config: P2pConfig) -> Result<(P2pNetwork, mpsc::Receiver<Event>), StartError> {
        let mut nets = Self::start_shards(config)?;
        if nets.len() != 1 {
            return Err(StartError::Build(format!(
                "start runs one shard, {} were given (use start_shards)",
                nets.len()
            )));
        }
        Ok(nets.remove(0))
    }

    /// Builds the swarm, joins the topics of every shard in `config.shards`, starts listening and
    /// dialing the bootnodes, and spawns its task on the current tokio runtime: one handle and one
    /// event channel per shard, in the order given. The task ends when every handle is dropped.
    pub fn start_shards(config: P2pConfig) -> Result<Vec<(P2pNetwork, mpsc::Receiver<Event>)>, StartError> {
        let key = keypair(config.secret)?;
        let me = key.public().to_peer_id();
        let mut shards = config.shards.clone();
        shards.dedup();
        if shards.is_empty() || shards.len() != config.shards.len() {
            return Err(StartError::Build(format!(
                "the shards to track must be given once each, at least one: {:?}",
                config.shards
            )));
        }
        let mut topics: HashMap<gossipsub::TopicHash, (Option<u32>, Topic)> = HashMap::new();
        for t in Topic::ALL {
            for s in &shards {
                let shard = (!t.chain_wide()).then_some(*s);
                topics.insert(
                    gossipsub::IdentTopic::new(t.name(config.chain_id, *s)).hash(),
                    (shard, t),
                );
            }
        }
        // Three quarters of the slots for peers that dial in, the rest for peers discovery
        // finds, and one more for each bootnode, always.
        let incoming = (config.max_peers * 3 / 4).max(1);
        let outgoing = config.max_peers.saturating_sub(incoming).max(1);
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| StartError::Build(e.to_string()))?
            .with_behaviour(|key| {
                let gossip_config = gossipsub::ConfigBuilder::default()
                    .heartbeat_interval(Duration::from_millis(500))
                    .validation_mode(gossipsub::ValidationMode::Strict)
                    .validate_messages()
                    .max_transmit_size(MAX_GOSSIP_BYTES)
                    .message_id_fn(|m: &gossipsub::Message| {
                        gossipsub::MessageId::from(crate::message_id(m.topic.as_str(), &m.data).0)
                    })
                    .build()
                    .map_err(|e| e.to_string())?;
                let gossipsub =
                    gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), gossip_config)?;
                let peer = key.public().to_peer_id();
                let mut kad = kad::Behaviour::with_config(
                    peer,
                    kad::store::MemoryStore::new(peer),
                    kad::Config::new(KAD_PROTOCOL),
                );
                kad.set_mode(Some(kad::Mode::Server));
                let limits = connection_limits::ConnectionLimits::default()
                    .with_max_established_incoming(Some(incoming))
                    .with_max_established_outgoing(Some(outgoing + config.bootnodes.len() as u32))
                    .with_max_established_per_peer(Some(2))
                    .with_max_pending_incoming(Some(MAX_PENDING_INCOMING));
                Ok(Behaviour {
                    limits: connection_limits::Behaviour::new(limits),
                    blocked: Default::default(),
                    gossipsub,
                    kad,
                    identify: identify::Behaviour::new(identify::Config::new("/tutti/1".into(), key.public())),
                    sync: request_response::Behaviour::new(
                        [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                        request_response::Config::default()
                            .with_request_timeout(Duration::from_secs(10))
                            .with_max_concurrent_streams(MAX_STREAMS_PER_CONNECTION),
                    ),
                })
            })
            .map_err(|e| StartError::Build(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
            .build();
        for t in topics.keys() {
            let topic = gossipsub::TopicHash::from_raw(t.as_str());
            swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&gossipsub::IdentTopic::new(topic.as_str()))
                .map_err(|e| StartError::Build(e.to_string()))?;
        }
        swarm.listen_on(config.listen.clone()).map_err(|e| StartError::Listen {
            addr: config.listen.clone(),
            reason: e.to_string(),
        })?;
        let mut bootnodes = Vec::new();
        for addr in &config.bootnodes {
            let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() else {
                return Err(StartError::Bootnode(addr.clone()));
            };
            if peer != me {
                swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                bootnodes.push((peer, addr.clone()));
            }
        }
        let (commands, rx) = mpsc::unbounded_channel();
        let peers: Arc<Mutex<HashSet<PeerId>>> = Arc::default();
        let listening: Arc<Mutex<Vec<Multiaddr>>> = Arc::default();
        let mut events = std::collections::BTreeMap::new();
        let mut nets = Vec::new();
        for shard in &shards {
            let (tx, rx) = mpsc::channel(8192);
            events.insert(*shard, tx);
            let net = P2pNetwork {
                me,
                shard: *shard,
                commands: commands.clone(),
                peers: peers.clone(),
                listening: listening.clone(),
            };
            nets.push((net, rx));
        }
        let task = Task {
            swarm,
            topics,
            chain_id: config.chain_id,
            events,
            peers,
            listening,
            scores: Scores::default(),
            pending: HashMap::new(),
            respond: commands,
            bootnodes,
            dialed: 0,
            discovery_slots: outgoing,
        };
        tokio::spawn(task.run(rx));
        Ok(nets)
    }

    /// Starts tracking `shard` at run time through this node's swarm (a validator elected to a
    /// shard it does not run): subscribes to its topics and returns its handle and events. A
    /// shard already tracked is refused.
    pub fn join_shard(&self, shard: u32) -> Result<(P2pNetwork, mpsc::Receiver<Event>), NetError> {
        let (tx, rx) = mpsc::channel(8192);
        self.commands
            .send(Command::Join(shard, tx))
            .map_err(|_| NetError::Stopped)?;
        let net = P2pNetwork { shard, ..self.clone() };
        Ok((net, rx))
    }

    /// Stops tracking `shard`: unsubscribes from its topics and drops its events.
    pub fn leave_shard(&self, shard: u32) {
        let _ = self.commands.send(Command::Leave(shard));
    }

    /// The addresses the node listens on (known once the listener is up).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listening.lock().expect("listening lock poisoned").clone()
    }
}

impl Network for P2pNetwork {
    fn local_peer(&self) -> PeerId {
        self.me
    }

    fn publish(&self, topic: Topic, data: Vec<u8>) {
        let _ = self.commands.send(Command::Publish(self.shard, topic, data));
    }

    fn publish_to(&self, shard: u32, topic: Topic, data: Vec<u8>) {
        let _ = self.commands.send(Command::Publish(shard, topic, data));
    }

    fn validated(&self, peer: PeerId, id: MessageId, verdict: Verdict) {
        let _ = self.commands.send(Command::Validated(peer, id, verdict));
    }

    fn penalise(&self, peer: PeerId, reason: &str) {
        let _ = self.commands.send(Command::Penalise(peer, reason.to_string()));
    }

    fn request(
        &self,
        shard: u32,
        data: Vec<u8>,
        exclude: Vec<PeerId>,
    ) -> BoxFuture<'static, Result<(PeerId, Vec<u8>), NetError>> {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.send(Command::Request {
            shard,
            data,
            exclude,
            reply,
        });
        async move {
            sent.map_err(|_| NetError::Stopped)?;
            answer.await.map_err(|_| NetError::Stopped)?
        }
        .boxed()
    }

    fn peers(&self) -> Vec<PeerId> {
        self.peers
            .lock()
            .expect("peers lock poisoned")
            .iter()
            .copied()
            .collect()
    }
}

type Pending = HashMap<OutboundRequestId, (PeerId, oneshot::Sender<Result<(PeerId, Vec<u8>), NetError>>)>;

struct Task {
    swarm: Swarm<Behaviour>,
    /// Each subscribed topic: its kind, and its shard (`None` for a chain-wide topic).
    topics: HashMap<gossipsub::TopicHash, (Option<u32>, Topic)>,
    chain_id: u64,
    /// Each tracked shard's event channel.
    events: EventSinks,
    peers: Arc<Mutex<HashSet<PeerId>>>,
    listening: Arc<Mutex<Vec<Multiaddr>>>,
    scores: Scores,
    pending: Pending,
    respond: mpsc::UnboundedSender<Command>,
    bootnodes: Vec<(PeerId, Multiaddr)>,
    /// Connections this node dialed, open now.
    dialed: u32,
    /// Outgoing connections discovery may open (the rest are the bootnodes').
    discovery_slots: u32,
}

impl Task {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut bootstrap = tokio::time::interval(Duration::from_secs(30));
        // Bootnodes that are down (a testnet starting all at once, a restart) are dialed again
        // until they answer.
        let mut redial = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                c = commands.recv() => match c {
                    Some(c) => self.command(c),
                    // Every handle is gone (the respond sender lives here, so the node side is).
                    None => break,
                },
                e = self.swarm.select_next_some() => {
                    if !self.event(e).await {
                        break;
                    }
                }
                _ = bootstrap.tick() => {
                    let _ = self.swarm.behaviour_mut().kad.bootstrap();
                }
                _ = redial.tick() => self.redial(),
            }
            if !self.alive() {
                break;
            }
        }
        tracing::debug!("network task stopped");
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Publish(shard, topic, data) => {
                let t = gossipsub::IdentTopic::new(topic.name(self.chain_id, shard));
                match self.swarm.behaviour_mut().gossipsub.publish(t, data) {
                    Ok(_) | Err(gossipsub::PublishError::Duplicate) => {}
                    // Alone for now (a single node, or peers not yet subscribed): nothing to do.
                    Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
                    Err(e) => tracing::warn!(%topic, "publish failed: {e}"),
                }
            }
            Command::Validated(peer, id, verdict) => {
                let acceptance = match verdict {
                    Verdict::Accept => gossipsub::MessageAcceptance::Accept,
                    Verdict::Ignore => gossipsub::MessageAcceptance::Ignore,
                    Verdict::Reject => gossipsub::MessageAcceptance::Reject,
                };
                let first = self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                    &gossipsub::MessageId::from(id.0),
                    &peer,
                    acceptance,
                );
                // A chain-wide message reaches every tracked shard's node: the first verdict
                // counts, once.
                if !first {
                    return;
                }
                match verdict {
                    Verdict::Accept => self.scores.reward(&peer),
                    Verdict::Reject => self.penalise(peer, "invalid gossip"),
                    Verdict::Ignore => {}
                }
            }
            Command::Penalise(peer, reason) => self.penalise(peer, &reason),
            Command::Request {
                shard,
                data,
                exclude,
                reply,
            } => {
                let connected = self.peers.lock().expect("peers lock poisoned").len();
                let mut peers = self.peers_of(shard, &exclude);
                peers.shuffle(&mut rand::thread_rng());
                match peers.first() {
                    None => {
                        let _ = reply.send(Err(NetError::NoPeer { shard, connected }));
                    }
                    Some(p) => {
                        let data = [shard.to_le_bytes().as_slice(), &data].concat();
                        let id = self.swarm.behaviour_mut().sync.send_request(p, data);
                        self.pending.insert(id, (*p, reply));
                    }
                }
            }
            Command::Join(shard, events) => {
                if self.events.contains_key(&shard) {
                    tracing::warn!(shard, "asked to join a shard already tracked");
                    return;
                }
                for t in Topic::ALL.into_iter().filter(|t| !t.chain_wide()) {
                    let topic = gossipsub::IdentTopic::new(t.name(self.chain_id, shard));
                    self.topics.insert(topic.hash(), (Some(shard), t));
                    if let Err(e) = self.swarm.behaviour_mut().gossipsub.subscribe(&topic) {
                        tracing::warn!(shard, "cannot subscribe to {topic}: {e}");
                    }
                }
                // The new shard's node learns who is connected, as a node started with it would.
                let peers: Vec<PeerId> = self
                    .peers
                    .lock()
                    .expect("peers lock poisoned")
                    .iter()
                    .copied()
                    .collect();
                for p in peers {
                    let _ = events.try_send(Event::PeerConnected(p));
                }
                self.events.insert(shard, events);
                tracing::info!(shard, "now tracking shard {shard}");
            }
            Command::Leave(shard) => {
                if self.events.len() <= 1 || self.events.remove(&shard).is_none() {
                    return;
                }
                for t in Topic::ALL.into_iter().filter(|t| !t.chain_wide()) {
                    let topic = gossipsub::IdentTopic::new(t.name(self.chain_id, shard));
                    self.topics.remove(&topic.hash());
                    self.swarm.behaviour_mut().gossipsub.unsubscribe(&topic);
                }
                tracing::info!(shard, "stopped tracking shard {shard}");
            }
            Command::Respond(channel, data) => {
                if self.swarm.behaviour_mut().sync.send_response(channel, data).is_err() {
                    tracing::debug!("a sync answer could not be sent (the peer left)");
                }
            }
        }
    }

    /// Connected peers of `shard` (those subscribed to its blocks topic) not in `exclude`. For
    /// this node's own shard, peers whose subscriptions are not known yet count too (a request
    /// right after connecting).
    fn peers_of(&self, shard: u32, exclude: &[PeerId]) -> Vec<PeerId> {
        let blocks = gossipsub::IdentTopic::new(Topic::Blocks.name(self.chain_id, shard)).hash();
        let connected = self.peers.lock().expect("peers lock poisoned").clone();
        let mut known = HashSet::new();
        let mut of_shard = Vec::new();
        for (peer, topics) in self.swarm.behaviour().gossipsub.all_peers() {
            if topics.is_empty() {
                continue;
            }
            known.insert(*peer);
            if topics.contains(&&blocks) && connected.contains(peer) && !exclude.contains(peer) {
                of_shard.push(*peer);
            }
        }
        if of_shard.is_empty() && self.events.contains_key(&shard) {
            of_shard = connected
                .into_iter()
                .filter(|p| !known.contains(p) && !exclude.contains(p))
                .collect();
        }
        of_shard
    }

    fn redial(&mut self) {
        for (peer, addr) in &self.bootnodes {
            let connected = self.peers.lock().expect("peers lock poisoned").contains(peer);
            if !connected
                && !self.scores.is_banned(peer)
                && !self.swarm.is_connected(peer)
                && let Err(e) = self.swarm.dial(
                    DialOpts::peer_id(*peer)
                        .addresses(vec![addr.clone()])
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build(),
                )
            {
                tracing::debug!(%addr, "cannot dial bootnode: {e}");
            }
        }
    }

    fn penalise(&mut self, peer: PeerId, reason: &str) {
        tracing::debug!(%peer, reason, score = self.scores.score(&peer), "peer scored down");
        if self.scores.penalise(&peer) {
            tracing::warn!(%peer, reason, "peer banned for sending invalid data");
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            self.swarm.behaviour_mut().kad.remove_peer(&peer);
        }
    }

    /// Whether any tracked shard's node is still listening.
    fn alive(&self) -> bool {
        alive(&self.events)
    }

    /// Handles one swarm event; false when the node side has gone.
    async fn event(&mut self, e: SwarmEvent<BehaviourEvent>) -> bool {
        match e {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "p2p listening");
                self.listening.lock().expect("listening lock poisoned").push(address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                endpoint,
                ..
            } => {
                if endpoint.is_dialer() {
                    self.dialed += 1;
                }
                if num_established.get() == 1 {
                    self.peers.lock().expect("peers lock poisoned").insert(peer_id);
                    return send_all(&self.events, || Event::PeerConnected(peer_id)).await;
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                endpoint,
                ..
            } => {
                if endpoint.is_dialer() {
                    self.dialed = self.dialed.saturating_sub(1);
                }
                if num_established == 0 {
                    self.peers.lock().expect("peers lock poisoned").remove(&peer_id);
                    return send_all(&self.events, || Event::PeerDisconnected(peer_id)).await;
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let Some((shard, topic)) = self.topics.get(&message.topic).copied() else {
                    self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        gossipsub::MessageAcceptance::Ignore,
                    );
                    return true;
                };
                let gossip = || Gossip {
                    peer: propagation_source,
                    id: MessageId(message_id.0.clone()),
                    topic,
                    data: message.data.clone(),
                };
                let Some(shard) = shard else {
                    // Chain-wide: every tracked shard's node hears it.
                    return send_all(&self.events, || Event::Gossip(gossip())).await;
                };
                if topic == Topic::Transactions {
                    // A transaction flood must not stall the swarm (and the consensus messages
                    // behind it): when the node is behind, drop the batch without penalty.
                    let Some(events) = self.events.get(&shard) else {
                        return true;
                    };
                    return match events.try_send(Event::Gossip(gossip())) {
                        Ok(()) => true,
                        Err(mpsc::error::TrySendError::Full(Event::Gossip(g))) => {
                            self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                                &gossipsub::MessageId::from(g.id.0),
                                &g.peer,
                                gossipsub::MessageAcceptance::Ignore,
                            );
                            true
                        }
                        Err(_) => self.alive(),
                    };
                }
                return send_to(&self.events, shard, Event::Gossip(gossip())).await;
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. })) => {
                match message {
                    request_response::Message::Request { request, channel, .. } => {
                        // The shard asked comes first; a shard this node does not track gets no
                        // answer (the asker tries another peer).
                        let Some((shard, request)) = split_shard(&request) else {
                            self.penalise(peer, "a sync request without its shard");
                            return true;
                        };
                        if !self.events.contains_key(&shard) {
                            tracing::debug!(%peer, shard, "a sync request for a shard this node does not track");
                            return true;
                        }
                        let request = request.to_vec();
                        let (reply, answer) = oneshot::channel();
                        let respond = self.respond.clone();
                        tokio::spawn(async move {
                            if let Ok(data) = answer.await {
                                let _ = respond.send(Command::Respond(channel, data));
                            }
                        });
                        let ev = Event::Request {
                            peer,
                            data: request,
                            reply,
                        };
                        // As with transactions: a request flood must not stall the swarm. When
                        // the node is behind, the request fails (the asker tries another peer).
                        let Some(events) = self.events.get(&shard) else {
                            return true;
                        };
                        return match events.try_send(ev) {
                            Err(mpsc::error::TrySendError::Closed(_)) => self.alive(),
                            _ => true,
                        };
                    }
                    request_response::Message::Response { request_id, response } => {
                        if let Some((p, reply)) = self.pending.remove(&request_id) {
                            // A peer that refuses (busy, asked too fast) drops its reply, which
                            // closes the stream with nothing in it; every real answer is at least
                            // one byte. A refusal is a failure (ask another peer), not garbage.
                            let answer = if response.is_empty() {
                                Err(NetError::Failed {
                                    peer: p,
                                    reason: "refused (busy, or asked too fast)".into(),
                                })
                            } else {
                                Ok((p, response))
                            };
                            let _ = reply.send(answer);
                        }
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            })) => {
                if let Some((_, reply)) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Failed {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::RoutingUpdated { peer, .. })) => {
                // Discovered peers take only the outgoing slots the bootnodes do not need, so
                // addresses an attacker advertises cannot keep a node from its bootnodes.
                let connected = self.peers.lock().expect("peers lock poisoned").contains(&peer);
                if !connected
                    && self.dialed < self.discovery_slots
                    && !self.scores.is_banned(&peer)
                    && peer != *self.swarm.local_peer_id()
                {
                    let _ = self.swarm.dial(peer);
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, "dial failed: {error}");
            }
            _ => {}
        }
        true
    }
}
