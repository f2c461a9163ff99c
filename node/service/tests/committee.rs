//! Four validators in one process, each a full node (chain, pool, consensus shell) over the
//! in-memory network: they finalize the same blocks, a transaction sent to one node is
//! finalized once on all, and when the leader stops the others change view and go on.
//! (The same over libp2p between processes: `node/cli/tests/testnet.rs`.)

mod common;

use std::time::Duration;

use common::{Member, height, start_member, stop_all, until};
use parity_scale_codec::Encode;
use tutti_chain::MempoolConfig;
use tutti_consensus::bls::SecretKey;
use tutti_network::{Network, memory::MemoryHub};
use tutti_node::{
    Node, NodeConfig,
    dev::{self, dev_key},
};
use tutti_primitives::{Action, Address, PublicKey, Transaction};

fn keys(n: u8) -> Vec<SecretKey> {
    (0..n).map(|i| SecretKey::from_seed(&[i + 1; 32])).collect()
}

fn start(hub: &MemoryHub, keys: &[SecretKey], i: usize) -> Member {
    start_as(hub, keys, Some(keys[i].clone()))
}

/// A node with this validator key, or a full node (`None`).
fn start_as(hub: &MemoryHub, keys: &[SecretKey], key: Option<SecretKey>) -> Member {
    start_member(hub, dev::testnet_genesis(keys), key)
}

/// Dev account `from`'s first transfer (nonce 0) on the testnet chain.
fn transfer(from: u32, to: Address, amount: u128) -> tutti_primitives::SignedTransaction {
    let k = dev_key(from);
    Transaction {
        chain_id: dev::TESTNET_CHAIN_ID,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce: 0,
        gas_limit: 2_000_000,
        gas_price: 1,
        action: Action::Transfer { to, amount },
    }
    .sign(&k)
}

fn same_blocks(members: &[&Member]) {
    let top = members.iter().map(|m| height(m)).min().unwrap();
    for h in 1..=top {
        let hashes: Vec<_> = members
            .iter()
            .map(|m| m.node.chain().block_by_number(h).unwrap().unwrap().header.hash())
            .collect();
        assert!(hashes.windows(2).all(|w| w[0] == w[1]), "height {h}: {hashes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_finalize_one_chain_and_survive_their_leader() {
    let hub = MemoryHub::new();
    let keys = keys(4);
    let mut members: Vec<Member> = (0..4).map(|i| start(&hub, &keys, i)).collect();
    until("three blocks on every node", || members.iter().all(|m| height(m) >= 3)).await;
    // A node stores block 3 a moment before its consensus moves on to height 4: wait for that
    // rather than catch a node in between.
    until("consensus past height 3 on every node", || {
        members.iter().all(|m| m.node.consensus_view().height >= 4)
    })
    .await;
    for m in &members {
        let c = m.node.consensus_view();
        assert!(c.height >= 4 && (c.leader as usize) < 4, "{c:?}");
    }

    // A transfer sent to node 2 reaches the leader through gossip and is final once everywhere.
    let tx = transfer(0, Address([9; 32]), 5);
    let hash = members[2].node.submit_raw(&tx.encode()).unwrap();
    until("the transfer to be final on every node", || {
        members
            .iter()
            .all(|m| m.node.chain().tx_location(&hash).unwrap().is_some())
    })
    .await;
    for m in &members {
        let h = m.node.chain().head().header.height;
        assert_eq!(m.node.chain().account(&Address([9; 32]), h).unwrap().balance, 5);
        assert_eq!(m.node.chain().account(&tx.tx.sender(), h).unwrap().nonce, 1);
    }
    same_blocks(&members.iter().collect::<Vec<_>>());

    // Stop the leader of the height being decided: the other three change view and go on.
    let leader = members[0].node.consensus_view().leader as usize;
    let gone = members.remove(leader);
    gone.stop.send(true).unwrap();
    gone.task.await.unwrap().unwrap();
    hub.leave(&gone.peer);
    // It may have proposed the block after its own head before it stopped (the others can still
    // commit that one), but nothing later. Any four heights in a row include one it leads in
    // view 0 (leaders rotate (height + view) mod 4), which needs a view change.
    let from = gone.node.chain().head().header.height + 1;
    until("four more blocks without the old leader", || {
        members.iter().all(|m| height(m) >= from + 4)
    })
    .await;
    let rest: Vec<&Member> = members.iter().collect();
    same_blocks(&rest);
    let gone_key = keys[leader].public_key().to_bytes();
    for h in from + 1..=from + 4 {
        let b = rest[0].node.chain().block_by_number(h).unwrap().unwrap();
        assert_ne!(b.header.proposer, gone_key, "block {h} proposed by the stopped node");
    }
    // (A node that synced that height instead of voting on it never changed view itself.)
    let changed = rest
        .iter()
        .filter(|m| !m.node.metrics().render().contains("tutti_view_changes_total 0"))
        .count();
    assert!(changed >= 2, "view changes counted on {changed} of 3 nodes");
    stop_all(members).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_invalid_data_is_banned_and_the_committee_goes_on() {
    let hub = MemoryHub::new();
    let keys = keys(4);
    let members: Vec<Member> = (0..4).map(|i| start(&hub, &keys, i)).collect();
    let (rogue, mut rogue_events) = hub.join();
    // Garbage consensus messages, a forged transaction batch, an undecodable sync request.
    rogue.publish(tutti_network::Topic::Consensus, vec![0xff; 40]);
    rogue.publish(tutti_network::Topic::Consensus, b"not a message".to_vec());
    let mut forged = transfer(1, Address([7; 32]), 1);
    forged.tx.nonce = 5; // the signature no longer matches
    rogue.publish(tutti_network::Topic::Transactions, vec![forged.encode()].encode());
    rogue.publish(tutti_network::Topic::Blocks, vec![1, 2, 3]);
    until("every member to ban the rogue peer", || {
        members.iter().all(|m| hub.is_banned(&m.peer, &rogue.local_peer()))
    })
    .await;
    assert!(rogue.peers().is_empty());
    assert!(matches!(
        rogue.request(0, vec![9, 9], vec![]).await,
        Err(tutti_network::NetError::NoPeer { .. })
    ));
    while rogue_events.try_recv().is_ok() {}
    let from = members.iter().map(height).max().unwrap();
    until("the committee to go on", || {
        members.iter().all(|m| height(m) >= from + 2)
    })
    .await;
    for m in &members {
        let h = m.node.chain().head().header.height;
        assert_eq!(m.node.chain().account(&Address([7; 32]), h).unwrap().balance, 0);
    }
    stop_all(members).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_follows_without_signing_and_an_unelected_key_holds_no_seat() {
    let hub = MemoryHub::new();
    let keys = keys(4);
    let members: Vec<Member> = (0..4).map(|i| start(&hub, &keys, i)).collect();
    until("two blocks", || members.iter().all(|m| height(m) >= 2)).await;
    // Joins late: catches up by sync, then follows the committee's certificates.
    let full = start_as(&hub, &keys, None);
    let target = members.iter().map(height).max().unwrap() + 3;
    until("the full node to catch up and follow", || height(&full) >= target).await;
    let mut all: Vec<&Member> = members.iter().collect();
    all.push(&full);
    same_blocks(&all);
    let deciding = full.node.consensus_view().height;
    let head = height(&full);
    // (Between a commit and the view's update the two can be equal for a moment.)
    assert!(
        deciding == head + 1 || deciding == head,
        "deciding {deciding}, head {head}"
    );
    // A key outside the genesis committee (a validator not elected yet) opens as a follower:
    // it holds no seat, so it signs nothing until an election seats it.
    let spare = Node::open(NodeConfig {
        shard: None,
        genesis: dev::testnet_genesis(&keys),
        data_dir: None,
        validators: vec![SecretKey::from_seed(&[99; 32])],
        block_time: Duration::from_millis(100),
        max_block_txs: 10,
        mempool: MempoolConfig::default(),
        state_window: None,
    })
    .unwrap();
    assert_eq!(spare.member_index(), None);
    assert_eq!(spare.chain().spec().shard_id, 0);
    stop_all(members.into_iter().chain([full])).await;
}

/// Epochs of three blocks: at every boundary each node replaces its consensus core (one per
/// (shard, epoch)); the committee finalizes one chain through five boundaries, every header
/// carries the epoch of its height, and a node that stopped before the boundaries catches up
/// across them by sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_cross_epoch_boundaries() {
    let hub = MemoryHub::new();
    let keys = keys(4);
    let mut genesis = dev::testnet_genesis(&keys);
    genesis.params.epoch_blocks = 3;
    let mut members: Vec<Member> = (0..4)
        .map(|i| start_member(&hub, genesis.clone(), Some(keys[i].clone())))
        .collect();
    until("two blocks on every node", || members.iter().all(|m| height(m) >= 2)).await;
    // One member stops; the other three (a quorum) go on through the boundaries.
    let late = members.remove(3);
    late.stop.send(true).unwrap();
    late.task.await.unwrap().unwrap();
    hub.leave(&late.peer);
    until("eighteen blocks on the other three", || {
        members.iter().all(|m| height(m) >= 18)
    })
    .await;
    let chain = members[0].node.chain();
    for h in 0..=18 {
        let b = chain.block_by_number(h).unwrap().unwrap();
        assert_eq!(b.header.epoch, h / 3, "block {h}");
    }
    // Uptime from the beacon blocks' parent certificates: the stopped member stopped signing.
    let counts = |k: &SecretKey| {
        chain
            .read_beacon(chain.head().header.height, |b: &dyn tutti_chain::BeaconRead| {
                b.validator(&k.public_key().to_bytes())
            })
            .unwrap()
            .map(|v| (v.blocks_seated, v.blocks_signed))
            .unwrap()
    };
    let (seated, signed) = counts(&keys[3]);
    assert!(
        seated >= 15 && signed + 10 <= seated,
        "the stopped member: {signed} of {seated}"
    );
    let (seated, signed) = counts(&keys[0]);
    assert!(seated >= 15 && signed > 0, "a running member: {signed} of {seated}");
    // A full node started now syncs the whole chain across every boundary.
    let follower = start_member(&hub, genesis.clone(), None);
    until("the full node to catch up", || height(&follower) >= 18).await;
    members.push(follower);
    same_blocks(&members.iter().collect::<Vec<_>>());
    stop_all(members).await;
}

/// A validator whose key runs twice (a copied key) proposes two blocks when it leads: the other
/// nodes see both announcements, check the two signatures and report the double signing on the
/// beacon chain from their reporter account; the validator is slashed (and never elected again),
/// and the chain goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_key_that_double_signs_is_reported_and_slashed() {
    use tutti_chain::BeaconRead;
    let hub = MemoryHub::new();
    let keys = keys(4);
    let genesis = dev::testnet_genesis(&keys);
    let mut members: Vec<Member> = (0..4).map(|i| start(&hub, &keys, i)).collect();
    for m in &members {
        m.node.set_reporter(dev_key(9));
    }
    until("two blocks", || members.iter().all(|m| height(m) >= 2)).await;
    // The copy: the same validator key in another node.
    let copy = start_member(&hub, genesis, Some(keys[0].clone()));
    members.push(copy);
    let bad = keys[0].public_key().to_bytes();
    let slashed = |m: &Member| {
        let chain = m.node.chain();
        chain
            .read_beacon(chain.head().header.height, |b: &dyn BeaconRead| b.validator(&bad))
            .unwrap()
            .is_some_and(|v| v.slashed)
    };
    until("the copied key to be slashed", || slashed(&members[1])).await;
    // The reporter (dev account 9) was paid half of what the operator's own stake lost.
    let chain = members[1].node.chain();
    let reporter = chain.account(&dev::dev_address(9), chain.head().header.height).unwrap();
    assert!(reporter.balance > dev::DEV_BALANCE, "the reporter was rewarded");
    let h = height(&members[1]);
    until("the chain to go on", || {
        members[1..4].iter().all(|m| height(m) >= h + 3)
    })
    .await;
    stop_all(members).await;
}

/// Dev account `from`'s first transaction (nonce 0): a deploy of almost the largest size a node
/// admits, with gas for its inclusion only (it fails out of gas, before its code is read, and
/// still takes its bytes in the block).
fn large_deploy(from: u32) -> tutti_primitives::SignedTransaction {
    let k = dev_key(from);
    let rules = tutti_chain::TxRules::new(dev::TESTNET_CHAIN_ID);
    Transaction {
        chain_id: dev::TESTNET_CHAIN_ID,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce: 0,
        // Its inclusion cost and a little: five fit one block's gas.
        gas_limit: rules.inclusion.of(rules.max_tx_bytes) + 1_000_000,
        gas_price: 1,
        action: Action::Deploy {
            code: vec![from as u8; rules.max_tx_bytes - 1024],
            init_method: None,
            args: vec![],
            value: 0,
        },
    }
    .sign(&k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_the_largest_transactions_still_yields_blocks_and_drains() {
    // Five transactions of almost 2.5 MiB: together over the 8 MiB a consensus message may take.
    // A block that took them all could never be sent; blocks take what fits and the pool drains.
    let hub = MemoryHub::new();
    let keys = keys(4);
    let members: Vec<Member> = (0..4).map(|i| start(&hub, &keys, i)).collect();
    until("a first block on every node", || members.iter().all(|m| height(m) >= 1)).await;
    let txs: Vec<_> = (0..5).map(large_deploy).collect();
    for m in &members {
        for tx in &txs {
            m.node.submit_raw(&tx.encode()).unwrap();
        }
    }
    let hashes: Vec<_> = txs.iter().map(|t| t.hash()).collect();
    until("every large transaction final on every node", || {
        members
            .iter()
            .all(|m| hashes.iter().all(|h| m.node.chain().tx_location(h).unwrap().is_some()))
    })
    .await;
    let top = members.iter().map(height).max().unwrap();
    until("two more blocks on every node", || {
        members.iter().all(|m| height(m) >= top + 2)
    })
    .await;
    for h in 1..=top {
        let b = members[0].node.chain().block_by_number(h).unwrap().unwrap();
        let body = tutti_node::consensus::encode_body(&b.txs, &b.incoming, &b.crosslinks);
        assert!(
            body.len() <= tutti_chain::block::MAX_BODY_BYTES,
            "block {h}: {} body bytes",
            body.len()
        );
    }
    same_blocks(&members.iter().collect::<Vec<_>>());
    stop_all(members).await;
}

/// A flood of forged votes (members' indices, signatures that do not hold) for the height and
/// view being decided: every member refuses them before passing anything on, so the flooder
/// alone is banned, no honest member blames another, and the committee keeps finalizing. (The
/// rule itself, that a non-leader checks a vote before passing it on, is pinned by
/// `node/consensus/tests/fbft.rs::votes_are_checked_before_they_are_passed_on`: the in-memory
/// network does not relay, so here a member's verdict cannot reach a third one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forged_votes_bans_only_its_origin() {
    use tutti_consensus::fbft::message::{Message, Vote};
    let hub = MemoryHub::new();
    let keys = keys(4);
    let members: Vec<Member> = (0..4).map(|i| start(&hub, &keys, i)).collect();
    until("a first block on every node", || members.iter().all(|m| height(m) >= 1)).await;
    let from = members.iter().map(height).max().unwrap();
    let (rogue, mut rogue_events) = hub.join();
    let rogue_id = rogue.local_peer();
    let mut sent = 0u64;
    for _ in 0..1200 {
        if members.iter().all(|m| hub.is_banned(&m.peer, &rogue_id)) {
            break;
        }
        let c = members[0].node.consensus_view();
        for signer in 0..4u32 {
            let v = Vote {
                height: c.height,
                view: c.view,
                hash: tutti_primitives::Hash([sent as u8; 32]),
                signer,
                signature: [7; 96],
            };
            rogue.publish(tutti_network::Topic::Consensus, Message::Prepare(v.clone()).to_bytes());
            rogue.publish(tutti_network::Topic::Consensus, Message::Commit(v).to_bytes());
            sent += 2;
        }
        while rogue_events.try_recv().is_ok() {}
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        members.iter().all(|m| hub.is_banned(&m.peer, &rogue_id)),
        "every member bans the flooder ({sent} forged votes sent)"
    );
    honest_members_go_on(&hub, members, from).await;
}

/// A peer pads one fresh transaction with many that cannot pay: every node admits the fresh
/// one and publishes it in a batch of its own, and no node passes the padded batch on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gossiped_batch_is_passed_on_only_as_far_as_it_was_admitted() {
    use tutti_network::Topic;
    let hub = MemoryHub::new();
    let keys = keys(4);
    let members: Vec<Member> = (0..4).map(|i| start(&hub, &keys, i)).collect();
    until("a first block on every node", || members.iter().all(|m| height(m) >= 1)).await;
    let (rogue, _rogue_events) = hub.join();
    let (_watcher, mut seen) = hub.join();
    let fresh = transfer(0, Address([9; 32]), 5);
    let mut batch = vec![fresh.encode()];
    let mut padding = Vec::new();
    for i in 0..50u8 {
        let k = ed25519_dalek::SigningKey::from_bytes(&[i.wrapping_add(100); 32]);
        let t = Transaction {
            chain_id: dev::TESTNET_CHAIN_ID,
            signer: PublicKey(k.verifying_key().to_bytes()),
            nonce: 0,
            gas_limit: 2_000_000,
            gas_price: 1,
            action: Action::Transfer {
                to: Address([9; 32]),
                amount: 1,
            },
        }
        .sign(&k);
        padding.push(t.encode());
        batch.push(t.encode());
    }
    rogue.publish(Topic::Transactions, batch.encode());
    let hash = fresh.hash();
    until("every node to admit the fresh transaction", || {
        members
            .iter()
            .all(|m| m.node.is_pooled(&hash) || m.node.chain().tx_location(&hash).unwrap().is_some())
    })
    .await;
    // (Verdicts are given right after admission, and what was admitted published.)
    let mut peers = Vec::new();
    until("every node's verdict on the padded batch", || {
        members.iter().all(|m| hub.accepted(&m.peer, &rogue.local_peer()) > 0)
            || republished_by(&mut seen, &mut peers, &rogue, &padding, &fresh) == members.len()
    })
    .await;
    for m in &members {
        assert_eq!(
            hub.accepted(&m.peer, &rogue.local_peer()),
            0,
            "the padded batch was accepted, and would travel on"
        );
        assert!(
            !hub.is_banned(&m.peer, &rogue.local_peer()),
            "padding is not proof of malice"
        );
    }
    stop_all(members).await;
}

/// Adds to `peers` those other than `rogue` that `seen` shows publishing `fresh`, and returns
/// how many there are; panics if one passes on any of `padding`.
fn republished_by(
    seen: &mut tokio::sync::mpsc::Receiver<tutti_network::Event>,
    peers: &mut Vec<tutti_network::PeerId>,
    rogue: &tutti_network::memory::MemoryNetwork,
    padding: &[Vec<u8>],
    fresh: &tutti_primitives::SignedTransaction,
) -> usize {
    use tutti_network::{Event, Topic};
    while let Ok(ev) = seen.try_recv() {
        if let Event::Gossip(g) = ev
            && g.topic == Topic::Transactions
            && g.peer != rogue.local_peer()
        {
            let txs: Vec<Vec<u8>> = parity_scale_codec::Decode::decode(&mut g.data.as_slice()).unwrap();
            assert!(
                txs.iter().all(|t| !padding.contains(t)),
                "a node passed on a transaction it could not admit"
            );
            if txs.contains(&fresh.encode()) && !peers.contains(&g.peer) {
                peers.push(g.peer);
            }
        }
    }
    peers.len()
}

/// A peer asks one validator for its largest answer (a batch of blocks) as fast as it can:
/// the validator answers a bounded number, refuses the rest, scores the asker down until it is
/// banned, and the committee keeps finalizing blocks meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sync_requests_is_paced_and_bans_its_origin() {
    use tutti_node::consensus::SyncRequest;
    let hub = MemoryHub::new();
    let keys = keys(4);
    let members: Vec<Member> = (0..4).map(|i| start(&hub, &keys, i)).collect();
    until("a first block on every node", || members.iter().all(|m| height(m) >= 1)).await;
    let from = members.iter().map(height).max().unwrap();
    let (rogue, _rogue_events) = hub.join();
    let target = members[0].peer;
    let others: Vec<_> = members[1..].iter().map(|m| m.peer).collect();
    let ask = SyncRequest::Blocks { from: 1, max: 32 }.encode();
    let (mut answered, mut refused) = (0u32, 0u32);
    for _ in 0..40 {
        if hub.is_banned(&target, &rogue.local_peer()) {
            break;
        }
        let asks = (0..100).map(|_| rogue.request(0, ask.clone(), others.clone()));
        for r in futures::future::join_all(asks).await {
            match r {
                Ok((peer, _)) => {
                    assert_eq!(peer, target);
                    answered += 1;
                }
                Err(_) => refused += 1,
            }
        }
    }
    assert!(
        hub.is_banned(&target, &rogue.local_peer()),
        "the flooder is banned ({answered} answered, {refused} refused)"
    );
    assert!(
        answered <= tutti_network::REQUEST_BURST + 2 * tutti_network::REQUESTS_PER_SECOND,
        "{answered} answered"
    );
    honest_members_go_on(&hub, members, from).await;
}

/// No member banned another, and all finalize three more blocks after `from`, the same ones;
/// then they stop.
async fn honest_members_go_on(hub: &MemoryHub, members: Vec<Member>, from: u64) {
    for a in &members {
        for b in &members {
            assert!(!hub.is_banned(&a.peer, &b.peer), "an honest member was banned");
        }
    }
    until("the committee to go on", || {
        members.iter().all(|m| height(m) >= from + 3)
    })
    .await;
    same_blocks(&members.iter().collect::<Vec<_>>());
    stop_all(members).await;
}
