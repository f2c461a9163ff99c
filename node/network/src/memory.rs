//! The in-memory network: nodes of one process joined through a [`MemoryHub`], with the same
//! behaviour the node sees from libp2p (topics per shard, verdicts, scoring and bans, requests to
//! one peer of a shard), plus links that tests can cut and restore.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{FutureExt, future::BoxFuture};
use rand::seq::SliceRandom;
use tokio::sync::{mpsc, oneshot};

use crate::{Event, Gossip, MessageId, NetError, Network, PeerId, Scores, Topic, Verdict, message_id};

/// How long a request waits for its answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

struct Member {
    shard: u32,
    events: mpsc::Sender<Event>,
    scores: Scores,
    /// Gossip messages this member accepted (and libp2p would pass on), per sender.
    accepted: HashMap<PeerId, u64>,
}

#[derive(Default)]
struct Hub {
    members: HashMap<PeerId, Member>,
    cut: HashSet<(PeerId, PeerId)>,
}

impl Hub {
    fn linked(&self, a: &PeerId, b: &PeerId) -> bool {
        a != b
            && !self.cut.contains(&(*a, *b))
            && !self.cut.contains(&(*b, *a))
            && self.members.get(a).is_some_and(|m| !m.scores.is_banned(b))
            && self.members.get(b).is_some_and(|m| !m.scores.is_banned(a))
    }
}

/// Joins in-process nodes.
#[derive(Clone, Default)]
pub struct MemoryHub {
    inner: Arc<Mutex<Hub>>,
}

impl MemoryHub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new node of shard 0: its network handle and its events.
    pub fn join(&self) -> (MemoryNetwork, mpsc::Receiver<Event>) {
        self.join_shard(0)
    }

    /// A new node of `shard`: its network handle and its events.
    pub fn join_shard(&self, shard: u32) -> (MemoryNetwork, mpsc::Receiver<Event>) {
        let me = PeerId::random();
        let (tx, rx) = mpsc::channel(4096);
        let mut hub = self.inner.lock().expect("hub lock poisoned");
        for (p, m) in &hub.members {
            let _ = m.events.try_send(Event::PeerConnected(me));
            let _ = tx.try_send(Event::PeerConnected(*p));
        }
        hub.members.insert(
            me,
            Member {
                shard,
                events: tx,
                scores: Scores::default(),
                accepted: HashMap::new(),
            },
        );
        (
            MemoryNetwork {
                hub: self.clone(),
                me,
                shard,
            },
            rx,
        )
    }

    /// Removes a node (as if its process stopped).
    pub fn leave(&self, peer: &PeerId) {
        let mut hub = self.inner.lock().expect("hub lock poisoned");
        hub.members.remove(peer);
        for m in hub.members.values() {
            let _ = m.events.try_send(Event::PeerDisconnected(*peer));
        }
    }

    /// Cuts (or restores) the link between two nodes.
    pub fn set_link(&self, a: PeerId, b: PeerId, up: bool) {
        let mut hub = self.inner.lock().expect("hub lock poisoned");
        if up {
            hub.cut.remove(&(a, b));
            hub.cut.remove(&(b, a));
        } else {
            hub.cut.insert((a, b));
        }
    }

    /// `who`'s score of `peer` (0 if unknown).
    pub fn score(&self, who: &PeerId, peer: &PeerId) -> i32 {
        let hub = self.inner.lock().expect("hub lock poisoned");
        hub.members.get(who).map_or(0, |m| m.scores.score(peer))
    }

    /// How many gossip messages from `peer` `who` accepted (gossipsub would pass those on).
    pub fn accepted(&self, who: &PeerId, peer: &PeerId) -> u64 {
        let hub = self.inner.lock().expect("hub lock poisoned");
        hub.members
            .get(who)
            .and_then(|m| m.accepted.get(peer))
            .copied()
            .unwrap_or(0)
    }

    /// Whether `who` has banned `peer`.
    pub fn is_banned(&self, who: &PeerId, peer: &PeerId) -> bool {
        let hub = self.inner.lock().expect("hub lock poisoned");
        hub.members.get(who).is_some_and(|m| m.scores.is_banned(peer))
    }
}

/// One node's handle on a [`MemoryHub`].
#[derive(Clone)]
pub struct MemoryNetwork {
    hub: MemoryHub,
    me: PeerId,
    shard: u32,
}

impl Network for MemoryNetwork {
    fn local_peer(&self) -> PeerId {
        self.me
    }

    fn publish(&self, topic: Topic, data: Vec<u8>) {
        self.publish_to(self.shard, topic, data);
    }

    fn publish_to(&self, shard: u32, topic: Topic, data: Vec<u8>) {
        let hub = self.hub.inner.lock().expect("hub lock poisoned");
        let id = message_id(&topic.name(0, shard), &data);
        for (p, m) in &hub.members {
            if (m.shard == shard || topic.chain_wide()) && hub.linked(&self.me, p) {
                let gossip = Gossip {
                    peer: self.me,
                    id: id.clone(),
                    topic,
                    data: data.clone(),
                };
                if m.events.try_send(Event::Gossip(gossip)).is_err() {
                    tracing::warn!(peer = %p, "memory network: event queue full, message dropped");
                }
            }
        }
    }

    fn validated(&self, peer: PeerId, _id: MessageId, verdict: Verdict) {
        match verdict {
            Verdict::Reject => self.penalise(peer, "invalid gossip"),
            Verdict::Accept => {
                let mut hub = self.hub.inner.lock().expect("hub lock poisoned");
                if let Some(m) = hub.members.get_mut(&self.me) {
                    m.scores.reward(&peer);
                    *m.accepted.entry(peer).or_insert(0) += 1;
                }
            }
            Verdict::Ignore => {}
        }
    }

    fn penalise(&self, peer: PeerId, reason: &str) {
        let mut hub = self.hub.inner.lock().expect("hub lock poisoned");
        if let Some(m) = hub.members.get_mut(&self.me)
            && m.scores.penalise(&peer)
        {
            tracing::warn!(%peer, reason, "peer banned");
            let _ = m.events.try_send(Event::PeerDisconnected(peer));
        }
    }

    fn request(
        &self,
        shard: u32,
        data: Vec<u8>,
        exclude: Vec<PeerId>,
    ) -> BoxFuture<'static, Result<(PeerId, Vec<u8>), NetError>> {
        let picked = {
            let hub = self.hub.inner.lock().expect("hub lock poisoned");
            let mut peers: Vec<PeerId> = hub
                .members
                .iter()
                .filter(|(p, m)| m.shard == shard && hub.linked(&self.me, p) && !exclude.contains(p))
                .map(|(p, _)| *p)
                .collect();
            peers.shuffle(&mut rand::thread_rng());
            match peers.first() {
                None => Err(NetError::NoPeer {
                    shard,
                    connected: hub.members.len().saturating_sub(1),
                }),
                Some(p) => {
                    let (reply, answer) = oneshot::channel();
                    let sent = hub.members[p].events.try_send(Event::Request {
                        peer: self.me,
                        data,
                        reply,
                    });
                    match sent {
                        Ok(()) => Ok((*p, answer)),
                        Err(_) => Err(NetError::Failed {
                            peer: *p,
                            reason: "its queue is full".into(),
                        }),
                    }
                }
            }
        };
        async move {
            let (peer, answer) = picked?;
            match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
                // As over libp2p: an empty answer is a refusal.
                Ok(Ok(bytes)) if !bytes.is_empty() => Ok((peer, bytes)),
                Ok(Ok(_)) => Err(NetError::Failed {
                    peer,
                    reason: "refused".into(),
                }),
                Ok(Err(_)) => Err(NetError::Failed {
                    peer,
                    reason: "no answer".into(),
                }),
                Err(_) => Err(NetError::Failed {
                    peer,
                    reason: "timed out".into(),
                }),
            }
        }
        .boxed()
    }

    fn peers(&self) -> Vec<PeerId> {
        let hub = self.hub.inner.lock().expect("hub lock poisoned");
        hub.members
            .keys()
            .filter(|p| hub.linked(&self.me, p))
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gossip_reaches_linked_peers_and_bans_cut_off_a_bad_peer() {
        let hub = MemoryHub::new();
        let (a, mut ea) = hub.join();
        let (b, mut eb) = hub.join();
        let (c, mut ec) = hub.join();
        for e in [&mut ea, &mut eb, &mut ec] {
            while let Ok(ev) = e.try_recv() {
                assert!(matches!(ev, Event::PeerConnected(_)));
            }
        }
        a.publish(Topic::Consensus, b"hi".to_vec());
        for e in [&mut eb, &mut ec] {
            match e.try_recv().unwrap() {
                Event::Gossip(g) => assert_eq!(
                    (g.peer, g.topic, g.data.as_slice()),
                    (a.me, Topic::Consensus, &b"hi"[..])
                ),
                other => panic!("{other:?}"),
            }
        }
        assert!(ea.try_recv().is_err(), "no echo to the publisher");

        hub.set_link(a.me, c.me, false);
        a.publish(Topic::Blocks, b"x".to_vec());
        assert!(eb.try_recv().is_ok() && ec.try_recv().is_err());
        hub.set_link(a.me, c.me, true);

        // b rejects a's messages until a is banned: then they no longer reach b.
        for _ in 0..4 {
            b.validated(a.me, MessageId(vec![]), Verdict::Reject);
        }
        assert!(hub.is_banned(&b.me, &a.me));
        assert!(matches!(eb.try_recv(), Ok(Event::PeerDisconnected(p)) if p == a.me));
        a.publish(Topic::Transactions, b"y".to_vec());
        assert!(eb.try_recv().is_err() && ec.try_recv().is_ok());
        assert!(!b.peers().contains(&a.me) && !a.peers().contains(&b.me));
    }

    #[tokio::test]
    async fn requests_go_to_one_peer_and_fail_cleanly() {
        let hub = MemoryHub::new();
        let (a, _ea) = hub.join();
        assert!(matches!(
            a.request(0, b"q".to_vec(), vec![]).await,
            Err(NetError::NoPeer { shard: 0, connected: 0 })
        ));
        let (b, mut eb) = hub.join();
        let server = tokio::spawn(async move {
            while let Some(ev) = eb.recv().await {
                if let Event::Request { data, reply, .. } = ev {
                    let _ = reply.send([data.as_slice(), b"!"].concat());
                    return;
                }
            }
        });
        let (peer, answer) = a.request(0, b"q".to_vec(), vec![]).await.unwrap();
        assert_eq!((peer, answer.as_slice()), (b.me, &b"q!"[..]));
        server.await.unwrap();
        // b's event loop is gone: the request fails instead of hanging.
        assert!(a.request(0, b"q".to_vec(), vec![]).await.is_err());
        assert!(matches!(
            a.request(0, b"q".to_vec(), vec![b.me]).await,
            Err(NetError::NoPeer { .. })
        ));
        assert!(
            matches!(
                a.request(1, b"q".to_vec(), vec![]).await,
                Err(NetError::NoPeer { shard: 1, connected: 1 })
            ),
            "b is on shard 0, not 1"
        );
    }

    #[tokio::test]
    async fn gossip_and_requests_stay_in_their_shard() {
        let hub = MemoryHub::new();
        let (a, _ea) = hub.join_shard(0);
        let (_b, mut eb) = hub.join_shard(1);
        let (_c, mut ec) = hub.join_shard(0);
        while eb.try_recv().is_ok() || ec.try_recv().is_ok() {}
        a.publish(Topic::Blocks, b"own".to_vec());
        assert!(eb.try_recv().is_err(), "shard 1 does not hear shard 0's blocks");
        assert!(matches!(ec.try_recv(), Ok(Event::Gossip(g)) if g.data == b"own"));
        a.publish_to(1, Topic::Receipts, b"for 1".to_vec());
        assert!(matches!(eb.try_recv(), Ok(Event::Gossip(g)) if g.data == b"for 1" && g.topic == Topic::Receipts));
        assert!(ec.try_recv().is_err(), "shard 0 does not hear what goes to shard 1");
        a.publish(Topic::Headers, b"head".to_vec());
        assert!(
            matches!(eb.try_recv(), Ok(Event::Gossip(g)) if g.topic == Topic::Headers),
            "chain-wide"
        );
        assert!(matches!(ec.try_recv(), Ok(Event::Gossip(g)) if g.topic == Topic::Headers));
    }
}
