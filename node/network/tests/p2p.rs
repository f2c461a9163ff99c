//! Two libp2p nodes on loopback: discovery from a bootnode, gossip both ways, a sync request,
//! and a ban after repeated invalid data.

use std::time::Duration;

use tokio::sync::mpsc;
use tutti_network::{
    Event, Multiaddr, Network, Topic, Verdict,
    p2p::{P2pConfig, P2pNetwork, peer_id},
};

fn config(seed: u8, bootnodes: Vec<Multiaddr>) -> P2pConfig {
    P2pConfig {
        secret: [seed; 32],
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        bootnodes,
        chain_id: 7,
        shards: vec![0],
        max_peers: tutti_network::p2p::DEFAULT_MAX_PEERS,
    }
}

async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..600 {
        if let Some(t) = f() {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Publishes until the other side sees a gossip message on `topic` (the subscription spreads
/// with the first heartbeat); returns it.
async fn gossip_through(
    from: &P2pNetwork,
    to: &mut mpsc::Receiver<Event>,
    topic: Topic,
    data: &[u8],
) -> tutti_network::Gossip {
    for _ in 0..100 {
        from.publish(topic, data.to_vec());
        let deadline = tokio::time::sleep(Duration::from_millis(200));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                ev = to.recv() => match ev.expect("network stopped") {
                    Event::Gossip(g) if g.data == data => return g,
                    _ => {}
                },
                _ = &mut deadline => break,
            }
        }
    }
    panic!("gossip on {topic} never arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_gossip_sync_and_ban() {
    let (a, mut ea) = P2pNetwork::start(config(1, vec![])).unwrap();
    assert_eq!(a.local_peer(), peer_id([1; 32]).unwrap());
    let addr = until("a's listen address", || a.listen_addrs().first().cloned()).await;
    let boot: Multiaddr = format!("{addr}/p2p/{}", a.local_peer()).parse().unwrap();
    let (b, mut eb) = P2pNetwork::start(config(2, vec![boot])).unwrap();
    until("a connection", || b.peers().contains(&a.local_peer()).then_some(())).await;

    let g = gossip_through(&b, &mut ea, Topic::Consensus, b"vote").await;
    assert_eq!((g.peer, g.topic), (b.local_peer(), Topic::Consensus));
    a.validated(g.peer, g.id, Verdict::Accept);
    let g = gossip_through(&a, &mut eb, Topic::Transactions, b"tx").await;
    assert_eq!(g.topic, Topic::Transactions);

    // A request from a to b, answered by b's event loop.
    let server = tokio::spawn(async move {
        loop {
            match eb.recv().await {
                Some(Event::Request { data, reply, .. }) => {
                    let _ = reply.send([b"re:".as_slice(), &data].concat());
                    return eb;
                }
                Some(_) => {}
                None => panic!("b stopped"),
            }
        }
    });
    let (who, answer) = a.request(0, b"blocks from 1".to_vec(), vec![]).await.unwrap();
    assert_eq!((who, answer.as_slice()), (b.local_peer(), &b"re:blocks from 1"[..]));
    let mut eb = server.await.unwrap();
    // A node that refuses a request (asked too fast, busy) drops its reply: the asker sees a
    // failure, never an empty answer it would take for garbage and blame the peer for.
    let refuser = tokio::spawn(async move {
        loop {
            match eb.recv().await {
                Some(Event::Request { reply, .. }) => {
                    drop(reply);
                    return eb;
                }
                Some(_) => {}
                None => panic!("b stopped"),
            }
        }
    });
    let refused = a.request(0, b"blocks from 1".to_vec(), vec![]).await;
    assert!(
        matches!(&refused, Err(tutti_network::NetError::Failed { .. })),
        "{refused:?}"
    );
    let _eb = refuser.await.unwrap();
    assert!(matches!(
        a.request(0, b"x".to_vec(), vec![b.local_peer()]).await,
        Err(tutti_network::NetError::NoPeer { shard: 0, connected: 1 })
    ));

    // b keeps sending data a finds invalid: a bans it and the connection drops.
    for i in 0..4u8 {
        let g = gossip_through(&b, &mut ea, Topic::Blocks, &[i; 4]).await;
        a.validated(g.peer, g.id, Verdict::Reject);
    }
    until("the ban to disconnect b", || {
        (!a.peers().contains(&b.local_peer())).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !a.peers().contains(&b.local_peer()),
        "a banned peer stays out (b redials its bootnode)"
    );
}

#[tokio::test]
async fn bad_configuration_is_refused_with_a_reason() {
    let bad = P2pNetwork::start(config(3, vec!["/ip4/127.0.0.1/tcp/1".parse().unwrap()]));
    let e = bad.err().unwrap().to_string();
    assert!(e.contains("must end with /p2p/"), "{e}");
    let mut c = config(4, vec![]);
    c.listen = "/ip4/203.0.113.1/udp/1".parse().unwrap();
    let e = P2pNetwork::start(c).err().unwrap().to_string();
    assert!(e.contains("cannot listen"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_find_each_other_through_kademlia() {
    // b and c only know a; they learn of each other through a (identify + Kademlia) and connect.
    let (a, _ea) = P2pNetwork::start(config(11, vec![])).unwrap();
    let addr = until("a's listen address", || a.listen_addrs().first().cloned()).await;
    let boot: Multiaddr = format!("{addr}/p2p/{}", a.local_peer()).parse().unwrap();
    let (b, _eb) = P2pNetwork::start(config(12, vec![boot.clone()])).unwrap();
    until("b to reach a", || b.peers().contains(&a.local_peer()).then_some(())).await;
    let (c, _ec) = P2pNetwork::start(config(13, vec![boot])).unwrap();
    until("c to discover and connect to b", || {
        (c.peers().contains(&b.local_peer()) && b.peers().contains(&c.local_peer())).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_reach_another_shard_and_requests_go_to_the_shard_asked() {
    // a and b run shard 0, c shard 1; all connected.
    let (a, _ea) = P2pNetwork::start(config(21, vec![])).unwrap();
    let addr = until("a's listen address", || a.listen_addrs().first().cloned()).await;
    let boot: Multiaddr = format!("{addr}/p2p/{}", a.local_peer()).parse().unwrap();
    let (b, mut eb) = P2pNetwork::start(config(22, vec![boot.clone()])).unwrap();
    let mut cc = config(23, vec![boot]);
    cc.shards = vec![1];
    let (c, mut ec) = P2pNetwork::start(cc).unwrap();
    until("b and c to reach a", || {
        (a.peers().contains(&b.local_peer()) && a.peers().contains(&c.local_peer())).then_some(())
    })
    .await;

    // A receipt batch published by a for shard 1 reaches c.
    let mut got = None;
    for _ in 0..100 {
        a.publish_to(1, Topic::Receipts, b"batch for 1".to_vec());
        if let Ok(Some(Event::Gossip(g))) = tokio::time::timeout(Duration::from_millis(200), ec.recv()).await
            && g.data == b"batch for 1"
        {
            got = Some(g);
            break;
        }
    }
    let g = got.expect("the batch for shard 1 never reached shard 1's node");
    assert_eq!(g.topic, Topic::Receipts);

    // Requests for shard 1 go to c, for shard 0 to b, never across.
    let answer = |mut events: mpsc::Receiver<Event>, tag: &'static [u8]| {
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if let Event::Request { reply, .. } = ev {
                    let _ = reply.send(tag.to_vec());
                }
            }
        })
    };
    let _sc = answer(ec, b"c");
    let _sb = answer(std::mem::replace(&mut eb, mpsc::channel(1).1), b"b");
    for _ in 0..5 {
        let (peer, data) = a.request(1, b"?".to_vec(), vec![]).await.unwrap();
        assert_eq!((peer, data.as_slice()), (c.local_peer(), &b"c"[..]));
        let (peer, data) = a.request(0, b"?".to_vec(), vec![]).await.unwrap();
        assert_eq!((peer, data.as_slice()), (b.local_peer(), &b"b"[..]));
    }
    assert!(matches!(
        a.request(2, b"?".to_vec(), vec![]).await,
        Err(tutti_network::NetError::NoPeer { shard: 2, .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_swarm_tracks_several_shards_with_a_channel_each() {
    // a runs shard 0, b shard 1, t tracks both (one peer id, one port, two handles).
    let (a, _ea) = P2pNetwork::start(config(31, vec![])).unwrap();
    let addr = until("a's listen address", || a.listen_addrs().first().cloned()).await;
    let boot: Multiaddr = format!("{addr}/p2p/{}", a.local_peer()).parse().unwrap();
    let mut cb = config(32, vec![boot.clone()]);
    cb.shards = vec![1];
    let (b, _eb) = P2pNetwork::start(cb).unwrap();
    let mut ct = config(33, vec![boot]);
    ct.shards = vec![0, 1];
    let mut tracked = P2pNetwork::start_shards(ct).unwrap();
    let (t1, mut et1) = tracked.pop().unwrap();
    let (t0, mut et0) = tracked.pop().unwrap();
    assert_eq!(t0.local_peer(), t1.local_peer(), "one identity");
    until("t to reach a and b", || {
        (t0.peers().contains(&a.local_peer()) && t0.peers().contains(&b.local_peer())).then_some(())
    })
    .await;
    // Each shard's gossip reaches the handle of that shard.
    let g = gossip_through(&a, &mut et0, Topic::Blocks, b"block of 0").await;
    assert_eq!(g.topic, Topic::Blocks);
    let g = gossip_through(&b, &mut et1, Topic::Blocks, b"block of 1").await;
    assert_eq!(g.topic, Topic::Blocks);
    // Requests for either shard reach t's node of that shard (b asks for shard 0: only t has it).
    let answer = |mut events: mpsc::Receiver<Event>, tag: &'static [u8]| {
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if let Event::Request { data, reply, .. } = ev {
                    let _ = reply.send([tag, &data].concat());
                }
            }
        })
    };
    let _s0 = answer(et0, b"t0:");
    let _s1 = answer(et1, b"t1:");
    let mut asked_t = false;
    for _ in 0..20 {
        let (peer, data) = b.request(0, b"?".to_vec(), vec![a.local_peer()]).await.unwrap();
        assert_eq!((peer, data.as_slice()), (t0.local_peer(), &b"t0:?"[..]));
        let (peer, data) = a.request(1, b"!".to_vec(), vec![b.local_peer()]).await.unwrap();
        assert_eq!((peer, data.as_slice()), (t1.local_peer(), &b"t1:!"[..]));
        asked_t = true;
    }
    assert!(asked_t);
    drop((t0, t1));
}

/// Six peers dial one node whose limit is four connections (three dialed in): it never holds
/// more, and the peers it refuses keep dialing without getting in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_holds_no_more_connections_than_its_limit() {
    let (a, _ea) = P2pNetwork::start(P2pConfig {
        max_peers: 4,
        ..config(1, vec![])
    })
    .unwrap();
    let addr = until("a's listen address", || a.listen_addrs().first().cloned()).await;
    let boot: Multiaddr = format!("{addr}/p2p/{}", a.local_peer()).parse().unwrap();
    let mut others = Vec::new();
    for seed in 2..8u8 {
        others.push(P2pNetwork::start(config(seed, vec![boot.clone()])).unwrap());
    }
    until("a's incoming slots to fill", || (a.peers().len() >= 3).then_some(())).await;
    // Everyone redials its bootnode every 2 s while unconnected: watch a across several rounds.
    for _ in 0..100 {
        let held = a.peers().len();
        assert!(held <= 4, "a holds {held} connections with a limit of 4");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = others
        .iter()
        .filter(|(n, _)| !n.peers().contains(&a.local_peer()))
        .count();
    assert!(refused >= 2, "only {refused} of 6 were kept out");
}

/// Peers that dial in fill every incoming slot of a node whose bootnode is down; when the
/// bootnode comes up, the node still connects to it (a bootnode has a slot of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_dial_in_cannot_keep_a_node_from_its_bootnode() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let b_listen: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let b_id = peer_id([9; 32]).unwrap();
    let b_boot: Multiaddr = format!("{b_listen}/p2p/{b_id}").parse().unwrap();
    let (a, _ea) = P2pNetwork::start(P2pConfig {
        max_peers: 4,
        ..config(1, vec![b_boot])
    })
    .unwrap();
    let addr = until("a's listen address", || a.listen_addrs().first().cloned()).await;
    let a_boot: Multiaddr = format!("{addr}/p2p/{}", a.local_peer()).parse().unwrap();
    let mut sybils = Vec::new();
    for seed in 20..28u8 {
        sybils.push(P2pNetwork::start(config(seed, vec![a_boot.clone()])).unwrap());
    }
    until("the sybils to fill a's incoming slots", || {
        (a.peers().len() >= 3).then_some(())
    })
    .await;
    let (b, _eb) = P2pNetwork::start(P2pConfig {
        listen: b_listen,
        ..config(9, vec![])
    })
    .unwrap();
    until("a to reach its bootnode", || {
        a.peers().contains(&b.local_peer()).then_some(())
    })
    .await;
}
