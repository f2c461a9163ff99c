//! Committees elected on the beacon chain run the shards: four validators, each running both
//! shards of a two-shard chain with its one key (as a `tutti testnet` validator does), with
//! epochs of four blocks. From epoch 2 on, every block of each shard is proposed by a member of
//! the committee the beacon elected for that shard and epoch (so the elected committees, not the
//! genesis ones, are in force), validators move between shards, and both shards keep finalizing
//! through every boundary; cross-shard transfers sent in every epoch, whose receipts cross the
//! boundaries (their certificates checked against the committee of the source's epoch), are
//! credited exactly once.

mod common;

use std::collections::BTreeSet;

use common::{Member, start_node, stop_all, until};
use parity_scale_codec::{Decode, Encode};
use tutti_chain::BeaconRead;
use tutti_consensus::bls::SecretKey;
use tutti_network::memory::MemoryHub;
use tutti_node::dev;
use tutti_primitives::{Action, PublicKey, Transaction};

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
    // One transfer each way per epoch, to an address of the other shard.
    let from = |shard: u32| {
        (0..dev::DEV_ACCOUNTS)
            .find(|i| dev::dev_address(*i).home_shard(2) == shard)
            .expect("a dev account on each shard")
    };
    let to = |shard: u32, epoch: u8| {
        (0..=255u8)
            .map(|i| {
                tutti_primitives::Address([
                    i, epoch, 7, 7, 7, 7, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                ])
            })
            .find(|a| a.home_shard(2) == shard)
            .expect("an address on each shard")
    };
    let mut sent = Vec::new();
    for epoch in 1..=6u64 {
        until("the next epoch on both shards", || {
            members.iter().all(|m| m.node.chain().head().header.height > epoch * 4)
        })
        .await;
        for (src, node) in [(0u32, &members[0]), (1, &members[1])] {
            let k = dev::dev_key(from(src));
            let dest = to(1 - src, epoch as u8);
            let amount = 1_000 + epoch as u128;
            let tx = Transaction {
                chain_id: dev::TESTNET_CHAIN_ID,
                signer: PublicKey(k.verifying_key().to_bytes()),
                nonce: epoch - 1,
                gas_limit: 2_000_000,
                gas_price: 1,
                action: Action::Transfer { to: dest, amount },
            }
            .sign(&k);
            node.node.submit_raw(&tx.encode()).unwrap();
            sent.push((1 - src, dest, amount));
        }
    }
    let target = 8 * 4;
    until("both shards past epoch 7", || {
        members.iter().all(|m| m.node.chain().head().header.height >= target)
    })
    .await;
    let balance = |shard: u32, a: &tutti_primitives::Address| {
        let chain = members[shard as usize].node.chain();
        chain.account(a, chain.head().header.height).unwrap().balance
    };
    until("every transfer credited", || {
        sent.iter().all(|(shard, a, amount)| balance(*shard, a) >= *amount)
    })
    .await;
    for (shard, a, amount) in &sent {
        assert_eq!(balance(*shard, a), *amount, "credited once on shard {shard}");
    }

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
    // Crosslinks: the beacon follows shard 1 block by block, and every validator (each signed
    // blocks on both shards) has earned rewards from the blocks it signed.
    until("shard 1 crosslinked past epoch 5", || {
        beacon.crosslinked(1).unwrap().is_some_and(|(h, _)| h >= 6 * 4)
    })
    .await;
    let head = beacon.head().header.height;
    let validators = beacon.read_beacon(head, |b: &dyn BeaconRead| b.validators()).unwrap();
    for (v, ds) in &validators {
        let unpaid: u128 = ds.iter().map(|(_, d)| d.reward).sum();
        assert!(unpaid > 0, "validator {} earned nothing", v.name);
    }
    let unpaid: u128 = validators
        .iter()
        .flat_map(|(_, ds)| ds.iter().map(|(_, d)| d.reward))
        .sum();
    assert_eq!(
        unpaid,
        beacon.issued(head).unwrap(),
        "everything issued is owed to someone"
    );
    stop_all(members).await;
}

/// A spare validator (a key outside the genesis) runs both shards from the start and signs
/// nothing; it registers by transaction with the largest stake, is elected at the end of the
/// epoch its registration lands in, for two epochs later, and from then on proposes blocks of the
/// shard it sits on (and not before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spare_validator_registers_by_transaction_and_sits_two_epochs_later() {
    use tutti_primitives::StakeAction;
    let hub = MemoryHub::new();
    let keys: Vec<SecretKey> = (0..4u8).map(|i| SecretKey::from_seed(&[i + 41; 32])).collect();
    let spare = SecretKey::from_seed(&[99; 32]);
    let mut g = dev::sharded_testnet_genesis(&keys, 2);
    g.params.epoch_blocks = 8;
    g.params.seats_per_shard = 2;
    g.params.min_seats_per_shard = 1;
    g.params.max_churn_percent = 50;
    let mut members: Vec<Member> = Vec::new();
    for k in keys.iter().chain([&spare]) {
        let beacon = start_node(&hub, g.clone(), vec![k.clone()], Some(0), None);
        let other = start_node(&hub, g.clone(), vec![k.clone()], Some(1), Some(&beacon.node));
        members.push(beacon);
        members.push(other);
    }
    // The spare's operator: a dev account on the beacon chain.
    let operator = (0..dev::DEV_ACCOUNTS)
        .find(|i| dev::dev_address(*i).home_shard(2) == 0)
        .expect("a dev account on shard 0");
    let k = dev::dev_key(operator);
    let create = Transaction {
        chain_id: dev::TESTNET_CHAIN_ID,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce: 0,
        gas_limit: 50_000_000,
        gas_price: 1,
        action: Action::Stake(StakeAction::CreateValidator {
            key: spare.public_key().to_bytes(),
            proof: spare.prove_possession().to_bytes(),
            self_stake: 2 * dev::DEV_STAKE,
            commission_bps: 500,
            max_commission_bps: 1_000,
            max_change_bps: 100,
            name: "spare".into(),
        }),
    }
    .sign(&k);
    let hash = members[0].node.submit_raw(&create.encode()).unwrap();
    let beacon = members[0].node.clone();
    until("the registration to be final", || {
        beacon.chain().tx_location(&hash).unwrap().is_some()
    })
    .await;
    let at = beacon.chain().tx_location(&hash).unwrap().unwrap().height;
    let (_, e) = beacon.chain().execution_tree(&hash, 1).unwrap().pop().unwrap();
    assert!(e.result.is_ok(), "{:?}", e.result);
    let joins = at / 8 + 2;
    let end = (joins + 1) * 8;
    until("both shards through the spare's first epoch", || {
        members.iter().all(|m| m.node.chain().head().header.height >= end)
    })
    .await;
    let pk = spare.public_key().to_bytes();
    let assignment = |e: u64| {
        let chain = beacon.chain();
        chain
            .read_beacon(chain.head().header.height, |b: &dyn BeaconRead| b.assignment(e))
            .unwrap()
            .unwrap()
    };
    assert!(
        assignment(joins - 1).concat().iter().all(|x| x.key != pk),
        "seated before its time"
    );
    let seat = assignment(joins)
        .iter()
        .position(|c| c.iter().any(|x| x.key == pk))
        .expect("the spare, with the largest stake, is elected");
    // The spare's node of that shard proposed some of the epoch's blocks.
    let chain = members[8 + seat].node.chain();
    let proposed = (joins * 8..end)
        .filter(|h| chain.block_by_number(*h).unwrap().unwrap().header.proposer == pk)
        .count();
    assert!(
        proposed > 0,
        "the spare proposed none of shard {seat}'s blocks in epoch {joins}"
    );
    for h in 1..joins * 8 {
        for m in &members[..2] {
            let b = m.node.chain().block_by_number(h).unwrap().unwrap();
            assert_ne!(b.header.proposer, pk, "block {h} proposed before the spare was seated");
        }
    }
    // Its operator collects what the spare earned from the blocks it signed (crosslinked).
    let owed = || {
        let chain = beacon.chain();
        chain
            .read_beacon(chain.head().header.height, |b: &dyn BeaconRead| b.validators())
            .unwrap()
            .into_iter()
            .find(|(v, _)| v.key == pk)
            .map_or(0, |(_, ds)| ds.iter().map(|(_, d)| d.reward).sum::<u128>())
    };
    until("the spare to have earned rewards", || owed() > 0).await;
    let before = beacon
        .chain()
        .account(&dev::dev_address(operator), beacon.chain().head().header.height)
        .unwrap();
    let collect = Transaction {
        chain_id: dev::TESTNET_CHAIN_ID,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce: 1,
        gas_limit: 10_000_000,
        gas_price: 1,
        action: Action::Stake(StakeAction::CollectRewards),
    }
    .sign(&k);
    let hash = members[0].node.submit_raw(&collect.encode()).unwrap();
    until("the collection to be final", || {
        beacon.chain().tx_location(&hash).unwrap().is_some()
    })
    .await;
    let (_, e) = beacon.chain().execution_tree(&hash, 1).unwrap().pop().unwrap();
    let paid = u128::decode(&mut e.result.clone().expect("collected").as_slice()).unwrap();
    let after = beacon
        .chain()
        .account(&dev::dev_address(operator), beacon.chain().head().header.height)
        .unwrap();
    assert!(paid > 0);
    assert_eq!(after.balance, before.balance + paid - e.fee);
    stop_all(members).await;
}
