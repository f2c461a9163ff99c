//! Committees elected on the beacon chain run the shards: four validators, each running both
//! shards of a two-shard chain with its one key (as a `tutti testnet` validator does), with
//! epochs of four blocks. From epoch 2 on, every block of each shard is proposed by a member of
//! the committee the beacon elected for that shard and epoch (so the elected committees, not the
//! genesis ones, are in force), validators move between shards, and both shards keep finalizing
//! through every boundary.

mod common;

use std::collections::BTreeSet;

use common::{Member, start_node, stop_all, until};
use tutti_chain::BeaconRead;
use tutti_consensus::bls::SecretKey;
use tutti_network::memory::MemoryHub;
use tutti_node::dev;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elected_committees_run_the_shards_and_validators_move() {
    let hub = MemoryHub::new();
    let keys: Vec<SecretKey> = (0..4u8).map(|i| SecretKey::from_seed(&[i + 31; 32])).collect();
    let mut g = dev::sharded_testnet_genesis(&keys, 2);
    g.params.epoch_blocks = 4;
    g.params.seats_per_shard = 2;
    g.params.min_seats_per_shard = 1;
    g.params.max_churn_percent = 50;
    // Per validator: its shard-0 node, then its shard-1 node following that beacon copy.
    let mut members: Vec<Member> = Vec::new();
    for k in &keys {
        let beacon = start_node(&hub, g.clone(), vec![k.clone()], Some(0), None);
        let other = start_node(&hub, g.clone(), vec![k.clone()], Some(1), Some(&beacon.node));
        members.push(beacon);
        members.push(other);
    }
    let target = 7 * 4;
    until("both shards past epoch 6", || {
        members.iter().all(|m| m.node.chain().head().header.height >= target)
    })
    .await;

    let beacon = members[0].node.chain();
    let assignment = |e: u64| {
        beacon
            .read_beacon(beacon.head().header.height, |b: &dyn BeaconRead| b.assignment(e))
            .unwrap()
            .unwrap_or_else(|| panic!("epoch {e} elected"))
    };
    let mut placements = BTreeSet::new();
    for e in 2..=6u64 {
        let a = assignment(e);
        let seats: Vec<Vec<[u8; 48]>> = a.iter().map(|c| c.iter().map(|x| x.key).collect()).collect();
        placements.insert(seats.clone());
        // Nobody sits on two shards in one epoch.
        let all: Vec<_> = seats.concat();
        assert_eq!(
            all.iter().collect::<BTreeSet<_>>().len(),
            all.len(),
            "epoch {e}: {seats:?}"
        );
        for (shard, m) in [(0usize, &members[0]), (1, &members[1])] {
            for h in e * 4..(e + 1) * 4 {
                let b = m.node.chain().block_by_number(h).unwrap().unwrap();
                assert_eq!(b.header.epoch, e);
                assert!(
                    seats[shard].contains(&b.header.proposer),
                    "shard {shard} block {h} (epoch {e}) proposed outside its elected committee"
                );
            }
        }
    }
    let genesis_seats: Vec<Vec<[u8; 48]>> = assignment(0)
        .iter()
        .map(|c| c.iter().map(|x| x.key).collect())
        .collect();
    placements.insert(genesis_seats);
    assert!(
        placements.len() > 1,
        "no validator moved in five elections: {placements:?}"
    );
    stop_all(members).await;
}
