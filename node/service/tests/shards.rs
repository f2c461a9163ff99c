//! Two shards of three validators each in one process (chain, pool and consensus shell per node,
//! over the in-memory network): a cross-shard transfer leaves shard 0 in a receipt batch and is
//! credited on shard 1 exactly once; a shard that was down when the batch was published pulls
//! it; a peer that sends forged batches is refused and banned.
//! (The same over libp2p between processes: `node/cli/tests/testnet.rs`.)

mod common;

use std::time::Duration;

use common::{Member, height, serve_rpc, start_member, stop_all, until};
use parity_scale_codec::Encode;
use tutti_chain::Genesis;
use tutti_consensus::bls::SecretKey;
use tutti_network::{Event, Network, Topic, memory::MemoryHub};
use tutti_node::{
    consensus::SyncRequest,
    dev::{self, dev_address, dev_key},
};
use tutti_primitives::{Action, Address, PublicKey, Transaction};

const SHARDS: u32 = 2;
const PER_SHARD: usize = 3;

fn keys() -> Vec<SecretKey> {
    (0..(SHARDS as usize * PER_SHARD) as u8)
        .map(|i| SecretKey::from_seed(&[i + 1; 32]))
        .collect()
}

/// Each shard's validators run only their shard here, so the committees stay the genesis ones.
fn genesis(keys: &[SecretKey]) -> Genesis {
    let mut g = dev::sharded_testnet_genesis(keys, SHARDS);
    g.params.static_committees = true;
    g
}

/// Validator `i` (shard `i / PER_SHARD`).
fn start(hub: &MemoryHub, keys: &[SecretKey], i: usize) -> Member {
    let m = start_member(hub, genesis(keys), Some(keys[i].clone()));
    assert_eq!(m.node.chain().spec().shard_id as usize, i / PER_SHARD);
    m
}

/// The first dev account living on `shard`.
fn dev_account_on(shard: u32) -> u32 {
    (0..).find(|i| dev_address(*i).home_shard(SHARDS) == shard).unwrap()
}

/// An address on `shard` nobody holds.
fn fresh_on(shard: u32, tag: u8) -> Address {
    (0..=255u8)
        .map(|i| {
            let mut a = [0; 32];
            (a[0], a[1]) = (i, tag);
            Address(a)
        })
        .find(|a| a.home_shard(SHARDS) == shard)
        .unwrap()
}

fn transfer(from: u32, nonce: u64, to: Address, amount: u128) -> tutti_primitives::SignedTransaction {
    let k = dev_key(from);
    Transaction {
        chain_id: dev::TESTNET_CHAIN_ID,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit: 2_000_000,
        gas_price: 1,
        action: Action::Transfer { to, amount },
    }
    .sign(&k)
}

fn balance(m: &Member, a: &Address) -> u128 {
    let chain = m.node.chain();
    chain.account(a, chain.head().header.height).unwrap().balance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_shard_transfer_is_credited_once_and_a_late_shard_pulls_it() {
    let hub = MemoryHub::new();
    let keys = keys();
    // Shard 0 alone first: what it sends shard 1 now is published to nobody.
    let shard0: Vec<Member> = (0..PER_SHARD).map(|i| start(&hub, &keys, i)).collect();
    let from = dev_account_on(0);
    let (to_late, to_live) = (fresh_on(1, 1), fresh_on(1, 2));
    let tx = transfer(from, 0, to_late, 1_000);
    let hash = shard0[1].node.submit_raw(&tx.encode()).unwrap();
    until("the transfer to be final on shard 0", || {
        shard0
            .iter()
            .all(|m| m.node.chain().tx_location(&hash).unwrap().is_some())
    })
    .await;
    let sent_at = shard0[0].node.chain().tx_location(&hash).unwrap().unwrap().height;
    let batch = shard0[0].node.chain().receipt_batch(sent_at, 1).unwrap().unwrap();
    assert_eq!((batch.first_seq, batch.receipts.len()), (0, 1));

    // Shard 1 starts later and pulls the batch from shard 0's nodes.
    let shard1: Vec<Member> = (PER_SHARD..2 * PER_SHARD).map(|i| start(&hub, &keys, i)).collect();
    until("the late transfer to be credited on every shard-1 node", || {
        shard1.iter().all(|m| balance(m, &to_late) == 1_000)
    })
    .await;

    // With both shards up, the next one is pushed (and pulled, whichever comes first).
    let tx = transfer(from, 1, to_live, 2_000);
    let hash = shard0[2].node.submit_raw(&tx.encode()).unwrap();
    until("the live transfer to be credited on every shard-1 node", || {
        shard1.iter().all(|m| balance(m, &to_live) == 2_000)
    })
    .await;
    let sent_at = shard0[0].node.chain().tx_location(&hash).unwrap().unwrap().height;

    // Exactly once: a few more blocks on both shards change nothing, and the cursor of shard 1
    // equals what shard 0 sent.
    let (h0, h1) = (height(&shard0[0]), height(&shard1[0]));
    until("three more blocks on both shards", || {
        shard0.iter().all(|m| height(m) >= h0 + 3) && shard1.iter().all(|m| height(m) >= h1 + 3)
    })
    .await;
    for m in &shard1 {
        assert_eq!((balance(m, &to_late), balance(m, &to_live)), (1_000, 2_000));
        assert_eq!(m.node.chain().next_incoming(0).unwrap(), 2);
    }
    for m in &shard0 {
        assert_eq!(m.node.chain().next_outgoing(1).unwrap(), 2);
        assert!(balance(m, &dev_address(from)) < dev::DEV_BALANCE - 3_000);
    }
    // Shard 1's nodes hold the same blocks, with the batches in them.
    let receiving: Vec<_> = (1..=height(&shard1[0]))
        .map(|h| shard1[0].node.chain().block_by_number(h).unwrap().unwrap())
        .filter(|b| !b.incoming.is_empty())
        .collect();
    assert_eq!(
        receiving.iter().map(|b| b.incoming.len()).sum::<usize>(),
        2,
        "two batches, each in one block"
    );
    assert!(receiving.iter().any(|b| b.incoming[0].header.height == sent_at));
    for b in &receiving {
        for m in &shard1[1..] {
            let other = m.node.chain().block_by_number(b.header.height).unwrap().unwrap();
            assert_eq!(other.header.hash(), b.header.hash());
        }
    }
    stop_all(shard0.into_iter().chain(shard1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_batches_by_gossip_or_pull_are_refused_and_their_sender_banned() {
    let hub = MemoryHub::new();
    let keys = keys();
    let mut members: Vec<Member> = (0..2 * PER_SHARD).map(|i| start(&hub, &keys, i)).collect();
    // A real batch to forge from.
    let from = dev_account_on(0);
    let tx = transfer(from, 0, fresh_on(1, 3), 7);
    let hash = members[0].node.submit_raw(&tx.encode()).unwrap();
    until("the transfer on shard 0", || {
        members[0].node.chain().tx_location(&hash).unwrap().is_some()
    })
    .await;
    let sent_at = members[0].node.chain().tx_location(&hash).unwrap().unwrap().height;
    let real = members[0].node.chain().receipt_batch(sent_at, 1).unwrap().unwrap();
    // Forged at the position after the real one, so it is worth checking whether or not the
    // real one was consumed yet (a forgery of a consumed position is dropped unchecked).
    let mut forged = real.clone();
    if let tutti_primitives::ReceiptBody::Transfer { amount } = &mut forged.receipts[0].body {
        *amount = 1 << 100;
    }
    forged.first_seq = real.first_seq + 1;
    forged.receipts[0].seq = real.first_seq + 1;

    // A rogue "shard 0" node gossips the forgery to shard 1.
    let (rogue, _rogue_events) = hub.join_shard(0);
    let victim = members[PER_SHARD].peer;
    for _ in 0..5 {
        rogue.publish_to(1, Topic::Receipts, forged.encode());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until("shard 1's nodes to ban the rogue", || {
        members[PER_SHARD..]
            .iter()
            .all(|m| hub.is_banned(&m.peer, &rogue.local_peer()))
    })
    .await;
    assert!(hub.is_banned(&victim, &rogue.local_peer()));
    // The forgery credited nothing; the real batch still arrives, once.
    let to = fresh_on(1, 3);
    until("the real transfer on shard 1", || {
        members[PER_SHARD..].iter().all(|m| balance(m, &to) == 7)
    })
    .await;

    // Another answers pulls with a batch forged at the position shard 1 expects next.
    let (puller_bait, mut bait_events) = hub.join_shard(0);
    let at_cursor = forged.clone();
    tokio::spawn(async move {
        while let Some(ev) = bait_events.recv().await {
            if let Event::Request { data, reply, .. } = ev
                && let Ok(SyncRequest::Receipts { .. }) =
                    <SyncRequest as parity_scale_codec::Decode>::decode(&mut data.as_slice())
            {
                let _ = reply.send(vec![at_cursor.clone()].encode());
            }
        }
    });
    until(
        "every shard-1 node to score down the peer that answered a pull with a forgery",
        || {
            members[PER_SHARD..]
                .iter()
                .all(|m| hub.score(&m.peer, &puller_bait.local_peer()) < 0)
        },
    )
    .await;

    // Garbage on the receipts topic also costs score.
    let (garbage, _g) = hub.join_shard(0);
    for _ in 0..5 {
        garbage.publish_to(1, Topic::Receipts, b"not a batch".to_vec());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until("shard 1's nodes to ban the sender of garbage", || {
        members[PER_SHARD..]
            .iter()
            .all(|m| hub.is_banned(&m.peer, &garbage.local_peer()))
    })
    .await;
    for m in &members[PER_SHARD..] {
        assert_eq!(balance(m, &to), 7);
        assert_eq!(m.node.chain().next_incoming(0).unwrap(), real.first_seq + 1);
    }

    // Headers: one claiming shard 1 consumed everything, under a certificate nobody signed, and
    // garbage, on the chain-wide headers topic: both cost their sender, and shard 0 follows
    // only shard 1's real load.
    let mut lying = real.header.clone();
    lying.shard_id = 1;
    lying.height = 1_000_000;
    lying.congestion.consumed = vec![u64::MAX, 0];
    let (liar, _l) = hub.join_shard(1);
    let (noise, _n) = hub.join_shard(1);
    for _ in 0..5 {
        liar.publish(Topic::Headers, (&lying, &real.cert).encode());
        noise.publish(Topic::Headers, b"not a header".to_vec());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until("shard 0's nodes to ban the liar and the noise", || {
        members[..PER_SHARD]
            .iter()
            .all(|m| hub.is_banned(&m.peer, &liar.local_peer()) && hub.is_banned(&m.peer, &noise.local_peer()))
    })
    .await;
    for m in &members[..PER_SHARD] {
        let followed = m.node.loads().latest(1).map(|h| h.height).unwrap_or(0);
        assert!(followed < 1_000_000, "followed a forged header");
    }
    stop_all(members.drain(..)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rpc_server_over_two_shards_routes_by_address_and_follows_receipts() {
    use jsonrpsee::{core::client::SubscriptionClientT, rpc_params};
    use tutti_rpc::TuttiApiClient;
    let hub = MemoryHub::new();
    let keys = keys();
    let members: Vec<Member> = (0..2 * PER_SHARD).map(|i| start(&hub, &keys, i)).collect();
    // One server over a node of each shard, as `tutti dev` runs it.
    let (addr, server) = serve_rpc(vec![members[0].node.clone(), members[PER_SHARD].node.clone()]).await;
    let c = tutti_rpc::client::http(&format!("http://{addr}")).unwrap();
    let ws = tutti_rpc::client::ws(&format!("ws://{addr}")).await.unwrap();
    let mut pool = ws
        .subscribe::<String, _>(
            "tutti_subscribe",
            rpc_params!["pendingTransactions"],
            "tutti_unsubscribe",
        )
        .await
        .unwrap();

    // Transactions go to their signer's shard; the pending feed covers both shards.
    let (a, b) = (dev_account_on(0), dev_account_on(1));
    let to_b = fresh_on(1, 7);
    let tx0 = transfer(a, 0, to_b, 55);
    let tx1 = transfer(b, 0, fresh_on(1, 8), 66);
    let h0 = c
        .send_raw_transaction(format!("0x{}", hex::encode(tx0.encode())))
        .await
        .unwrap();
    let h1 = c
        .send_raw_transaction(format!("0x{}", hex::encode(tx1.encode())))
        .await
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    while !(seen.contains(&h0) && seen.contains(&h1)) {
        let h = tokio::time::timeout(Duration::from_secs(30), pool.next())
            .await
            .expect("both pending hashes arrive")
            .unwrap()
            .unwrap();
        seen.insert(h);
    }
    // The cross-shard transfer's receipt is final only once shard 1 credited it, and says where
    // each part ran.
    let mut r = None;
    for _ in 0..600 {
        if let Some(x) = c.get_transaction_receipt(h0.clone()).await.unwrap()
            && x.status == "success"
        {
            r = Some(x);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = r.expect("the cross-shard transfer completes");
    let shards_ran: Vec<u32> = r.executions.iter().map(|e| e.shard_id).collect();
    assert_eq!(shards_ran, vec![0, 1], "{r:?}");
    assert!(r.continues_on.is_empty());
    assert_eq!(c.get_balance(to_b.to_string(), None).await.unwrap(), "55");
    // Heads of either shard by number; a third shard does not exist.
    assert!(c.block_number(Some(1)).await.unwrap() >= 1);
    let e = c.block_number(Some(2)).await.unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    server.stop().unwrap();
    stop_all(members).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_shard_closes_its_sources_which_keep_finalizing_and_reopen_when_it_is_back() {
    use jsonrpsee::core::ClientError;
    use tutti_rpc::TuttiApiClient;
    const PER_BLOCK: usize = 5;
    let limit = tutti_runtime::schedule::CONGESTION_BLOCKS * PER_BLOCK as u64;
    let hub = MemoryHub::new();
    let keys = keys();
    let mut g = genesis(&keys);
    g.params.max_receipts_per_block = PER_BLOCK;
    let members: Vec<Member> = (0..2 * PER_SHARD)
        .map(|i| start_member(&hub, g.clone(), Some(keys[i].clone())))
        .collect();
    let (shard0, shard1) = members.split_at(PER_SHARD);
    until("shard 0 to follow shard 1's headers", || {
        shard0
            .iter()
            .all(|m| m.node.loads().latest(1).is_some_and(|h| h.height >= 2))
    })
    .await;

    // Shard 1 stops: every link of its nodes is cut, so it decides nothing and publishes nothing.
    for a in shard1 {
        for b in &members {
            hub.set_link(a.peer, b.peer, false);
        }
    }
    // 30 transfers to shard 1 enter shard 0's pool; blocks take only the room under the limit.
    let from = dev_account_on(0);
    let to = fresh_on(1, 9);
    for nonce in 0..30 {
        shard0[0]
            .node
            .submit_raw(&transfer(from, nonce, to, 1).encode())
            .unwrap();
    }
    until("shard 0 to close to shard 1", || {
        shard0.iter().all(|m| m.node.room().get(&1) == Some(&0))
    })
    .await;
    // (A block shard 1 was committing as the links went down may still land; none after it.)
    let stopped_at = height(&shard1[0]);
    let sent = shard0[0].node.chain().next_outgoing(1).unwrap();
    assert!(
        sent <= limit,
        "shard 0 sent {sent} receipts to a stopped shard, more than the limit {limit}"
    );
    // New transactions for shard 1 are refused with a clear reason, at the node and over RPC.
    let refused = shard0[1]
        .node
        .submit_raw(&transfer(from, 30, to, 1).encode())
        .unwrap_err();
    assert!(
        matches!(
            refused,
            tutti_node::SubmitError::Invalid(tutti_chain::TxError::ShardCongested { shard: 1 })
        ),
        "{refused}"
    );
    let (addr, server) = serve_rpc(vec![shard0[2].node.clone()]).await;
    let c = tutti_rpc::client::http(&format!("http://{addr}")).unwrap();
    let raw = format!("0x{}", hex::encode(transfer(from, 30, to, 1).encode()));
    match c.send_raw_transaction(raw).await {
        Err(ClientError::Call(e)) => {
            assert_eq!(e.code(), tutti_rpc::errors::SHARD_CONGESTED, "{e}");
            assert!(e.message().contains("shard 1 is congested"), "{e}");
        }
        other => panic!("expected SHARD_CONGESTED, got {other:?}"),
    }
    let layout = c.get_sharding_structure().await.unwrap();
    assert!(layout.shards[1].congested && !layout.shards[0].congested, "{layout:?}");
    assert!(
        layout.shards[1].head.is_some_and(|h| h >= 2),
        "followed head: {layout:?}"
    );

    // Shard 0 keeps finalizing, its own transfers go through, and its outbox to shard 1 stays
    // bounded.
    let h0 = height(&shard0[0]);
    let local = fresh_on(0, 9);
    let other = (0..)
        .find(|i| *i != from && dev_address(*i).home_shard(SHARDS) == 0)
        .unwrap();
    shard0[0]
        .node
        .submit_raw(&transfer(other, 0, local, 5).encode())
        .unwrap();
    until("shard 0 to go on (five blocks, the local transfer)", || {
        shard0.iter().all(|m| height(m) >= h0 + 5 && balance(m, &local) == 5)
    })
    .await;
    assert_eq!(
        shard0[0].node.chain().next_outgoing(1).unwrap(),
        sent,
        "nothing more sent"
    );
    assert_eq!(height(&shard1[0]), stopped_at, "shard 1 was stopped");

    // Shard 1 comes back: it consumes the backlog, shard 0 follows, reopens and sends the rest.
    for a in shard1 {
        for b in &members {
            hub.set_link(a.peer, b.peer, true);
        }
    }
    until("all 30 transfers credited on every shard-1 node", || {
        shard1.iter().all(|m| balance(m, &to) == 30)
    })
    .await;
    until("shard 0 to reopen to shard 1", || {
        shard0.iter().all(|m| m.node.room().get(&1).is_some_and(|r| *r > 0))
    })
    .await;
    shard0[0].node.submit_raw(&transfer(from, 30, to, 1).encode()).unwrap();
    until("the next transfer credited", || {
        shard1.iter().all(|m| balance(m, &to) == 31)
    })
    .await;
    for m in shard1 {
        assert_eq!(
            m.node.chain().next_incoming(0).unwrap(),
            31,
            "each receipt once, in order"
        );
    }
    server.stop().unwrap();
    stop_all(members).await;
}
