//! What a shard accepts of other shards' headers (`tutti_chain::foreign`), attacked as a past
//! committee would: headers that name an epoch other than their height's, headers of another
//! chain, and batches from source blocks below what the shard already consumed. Each is refused
//! by the block rules (`block::check_incoming`, `block::check_crosslinks`, so by `validate`),
//! while the honest batch and crosslink beside them pass.
//!
//! The committee check stands in for `BeaconCommittees`: the genesis committee (long retired
//! here) is the committee of epoch 0; its certificate is accepted for any header that claims
//! epoch 0, exactly as the real source accepts genesis signatures for such a header.

use std::sync::Arc;

use tutti_chain::{
    Chain, Genesis, MemStore, StoredBlock,
    block::{self, BlockError},
    genesis::GenesisParams,
};
use tutti_crypto::bls::SecretKey;
use tutti_primitives::{
    Address, BlockHeader, CommitCertificate, Crosslink, Hash, Height, Receipt, ReceiptBatch, ReceiptBody, merkle_proof,
    receipt::{outgoing_leaves, outgoing_root},
};
use tutti_runtime::{Runtime, RuntimeConfig};

const SHARDS: u32 = 2;
const CHAIN: u64 = 7;

/// Blocks per epoch: small, so heights reach epochs whose committees are elected.
const EPOCH_BLOCKS: u64 = 2;

/// What the retired genesis committee signs with (accepted for epoch 0 only).
fn retired_cert() -> CommitCertificate {
    CommitCertificate {
        view: 0,
        signature: [1; 96],
        signers: vec![1],
    }
}

/// What the committee seated at the header's epoch signs with.
fn seated_cert(epoch: u64) -> CommitCertificate {
    CommitCertificate {
        view: 0,
        signature: [2; 96],
        signers: vec![epoch as u8],
    }
}

fn committees(h: &BlockHeader, c: &CommitCertificate) -> Result<(), String> {
    if (h.epoch == 0 && *c == retired_cert()) || *c == seated_cert(h.epoch) {
        Ok(())
    } else {
        Err(format!("not signed by the committee of epoch {}", h.epoch))
    }
}

fn genesis() -> Genesis {
    let keys = [SecretKey::from_seed(&[40; 32]), SecretKey::from_seed(&[41; 32])];
    Genesis {
        chain_id: CHAIN,
        num_shards: SHARDS,
        timestamp_ms: 1_000,
        accounts: vec![],
        validators: keys
            .iter()
            .enumerate()
            .map(|(s, k)| tutti_chain::genesis::GenesisValidator {
                bls_public_key: format!("0x{}", hex::encode(k.public_key().to_bytes())),
                stake: "1".into(),
                shard: s as u32,
                bls_pop: None,
                operator: None,
            })
            .collect(),
        params: GenesisParams {
            epoch_blocks: EPOCH_BLOCKS,
            ..GenesisParams::default()
        },
    }
}

/// An address on shard 1.
fn on_shard_1() -> Address {
    (0..=255u8)
        .map(|i| Address([i; 32]))
        .find(|a| a.home_shard(SHARDS) == 1)
        .expect("one address in two lives on shard 1")
}

/// A batch from shard 0 to shard 1 of one transfer of `amount`, at stream position `first`, in
/// a shard 0 header at `height` claiming `epoch` on chain `chain_id`, signed with `cert`.
fn batch(height: Height, epoch: u64, chain_id: u64, first: u64, amount: u128, cert: CommitCertificate) -> ReceiptBatch {
    batch_of(height, epoch, chain_id, first, 1, amount, cert)
}

/// [`batch`] with `n` transfers.
fn batch_of(
    height: Height,
    epoch: u64,
    chain_id: u64,
    first: u64,
    n: u64,
    amount: u128,
    cert: CommitCertificate,
) -> ReceiptBatch {
    let receipts = (first..first + n)
        .map(|seq| Receipt {
            id: Hash([height as u8 ^ seq as u8; 32]),
            source_shard: 0,
            dest_shard: 1,
            seq,
            predecessor: Address::default(),
            receiver: on_shard_1(),
            signer: Address::default(),
            gas_price: 0,
            body: ReceiptBody::Transfer { amount },
        })
        .collect::<Vec<_>>();
    let first_seq = vec![0, first];
    let header = BlockHeader {
        chain_id,
        shard_id: 0,
        height,
        epoch,
        view: 0,
        parent_hash: Hash([height as u8 ^ 0xff; 32]),
        timestamp_ms: 0,
        tx_root: Hash::ZERO,
        state_root: Hash::ZERO,
        outgoing_receipts_root: outgoing_root(0, SHARDS, &first_seq, &receipts),
        incoming_receipts_root: Hash::ZERO,
        crosslinks_root: Hash::ZERO,
        gas_used: 0,
        congestion: Default::default(),
        proposer: [0; 48],
        randomness_proof: [0; 96],
        randomness: Hash::ZERO,
        parent_commit: None,
    };
    let leaves = outgoing_leaves(0, SHARDS, &first_seq, &receipts);
    ReceiptBatch {
        header,
        cert,
        dest: 1,
        first_seq: first,
        receipts,
        path: merkle_proof(&leaves, 1).expect("two leaves"),
    }
}

/// A block of shard 1 that consumes `b`, built and committed.
fn deliver(chain: &Chain, runtime: &Runtime, b: ReceiptBatch) {
    let key = SecretKey::from_seed(&[41; 32]);
    let built = block::build(
        chain,
        runtime,
        &key,
        vec![],
        vec![b],
        vec![],
        Default::default(),
        5_000 + chain.head().header.height,
        true,
        0,
        chain.head().commit.clone(),
    )
    .expect("a block");
    let mut out = built.output;
    let stored = StoredBlock {
        header: built.header,
        txs: vec![],
        incoming: built.incoming,
        crosslinks: vec![],
        commit: Some(seated_cert(0)),
    };
    chain.commit(&stored, &mut out).expect("committed");
}

fn refusal(chain: &Chain, b: ReceiptBatch) -> String {
    match block::check_incoming(chain, &[b], &committees) {
        Ok(_) => "accepted".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_retired_committee_cannot_mint_through_a_batch_that_names_its_epoch() {
    let chain = Chain::open_shard(Arc::new(MemStore::new()), &genesis(), 1).unwrap();
    // Height 10 is in epoch 5; the genesis committee signs it as if it were epoch 0, carrying a
    // transfer of every token there is, at the destination's cursor.
    let forged = batch(10, 0, CHAIN, 0, u128::MAX / 2, retired_cert());
    let why = refusal(&chain, forged);
    assert!(
        why.contains("claims epoch 0; that height is in epoch 5"),
        "a retired committee's batch: {why}"
    );
    // The same batch honestly labelled needs the seated committee: the genesis one fails.
    let labelled = batch(10, 5, CHAIN, 0, u128::MAX / 2, retired_cert());
    assert!(refusal(&chain, labelled).contains("not signed by the committee of epoch 5"));
    // And signed by the seated committee it passes.
    let honest = batch(10, 5, CHAIN, 0, 1, seated_cert(5));
    assert_eq!(refusal(&chain, honest), "accepted");
}

#[test]
fn a_batch_of_another_chain_is_refused() {
    let chain = Chain::open_shard(Arc::new(MemStore::new()), &genesis(), 1).unwrap();
    let why = refusal(&chain, batch(1, 0, CHAIN + 1, 0, 5, seated_cert(0)));
    assert!(why.contains("is of chain 8, this is chain 7"), "{why}");
}

#[test]
fn a_batch_from_below_the_last_consumed_source_block_is_refused() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let chain = Chain::open_shard(Arc::new(MemStore::new()), &genesis(), 1).unwrap();
    // Shard 1 consumes shard 0's block 7 (epoch 3).
    let honest = batch(7, 3, CHAIN, 0, 1, seated_cert(3));
    assert_eq!(refusal(&chain, honest.clone()), "accepted");
    deliver(&chain, &runtime, honest);
    assert_eq!(chain.next_incoming(0).unwrap(), 1);
    // The committee of an earlier epoch signs a fork at its own heights, continuing the stream:
    // its block 1 cannot come after block 7.
    let fork = batch(1, 0, CHAIN, 1, u128::MAX / 2, retired_cert());
    let why = refusal(&chain, fork);
    assert!(
        why.contains("is not past block 7, whose receipts this shard already consumed"),
        "{why}"
    );
    // The source's next block (same epoch or later) still passes.
    assert_eq!(refusal(&chain, batch(8, 4, CHAIN, 1, 1, seated_cert(4))), "accepted");
}

#[test]
fn a_retired_committee_cannot_extend_a_crosslink_chain() {
    // One block per epoch: shard 1's next block (height 1) is in epoch 1.
    let mut g = genesis();
    g.params.epoch_blocks = 1;
    let beacon = Chain::open_shard(Arc::new(MemStore::new()), &g, 0).unwrap();
    let shard = Chain::open_shard(Arc::new(MemStore::new()), &g, 1).unwrap();
    let genesis_1 = shard.head().header.clone();
    let link = |epoch: u64, chain_id: u64, cert: CommitCertificate| Crosslink {
        header: BlockHeader {
            chain_id,
            height: 1,
            epoch,
            parent_hash: genesis_1.hash(),
            ..genesis_1.clone()
        },
        cert,
    };
    let check = |l: Crosslink| match block::check_crosslinks(&beacon, &[l], &committees) {
        Ok(()) => "accepted".to_string(),
        Err(BlockError::Crosslink { error, .. }) => error.to_string(),
        Err(e) => panic!("not a crosslink error: {e}"),
    };
    // The epoch 0 committee signs the next block as if it were still epoch 0.
    let why = check(link(0, CHAIN, retired_cert()));
    assert!(why.contains("claims epoch 0; that height is in epoch 1"), "{why}");
    // Another chain's header is no crosslink here.
    let why = check(link(1, CHAIN + 1, seated_cert(1)));
    assert!(why.contains("chain 8"), "{why}");
    // The committee seated at height 1 extends the chain.
    assert_eq!(check(link(1, CHAIN, seated_cert(1))), "accepted");
}

#[test]
fn a_proposer_cannot_take_more_incoming_receipts_than_the_budget() {
    // Blocks run two receipts: with an empty delayed queue, the budget is 2.
    let mut g = genesis();
    g.params.max_receipts_per_block = 2;
    let chain = Chain::open_shard(Arc::new(MemStore::new()), &g, 1).unwrap();
    let two = batch_of(1, 0, CHAIN, 0, 2, 1, seated_cert(0));
    let two_more = batch_of(2, 1, CHAIN, 2, 2, 1, seated_cert(1));
    let why = match block::check_incoming(&chain, &[two.clone(), two_more], &committees) {
        Ok(_) => "accepted".to_string(),
        Err(e) => e.to_string(),
    };
    assert!(
        why.contains("takes 4 incoming receipts in 2 batches; the delayed queue leaves room for 2"),
        "{why}"
    );
    assert_eq!(refusal(&chain, two), "accepted", "within the budget");
    // One batch larger than the budget goes alone (a source block may send that many).
    assert_eq!(
        refusal(&chain, batch_of(1, 0, CHAIN, 0, 3, 1, seated_cert(0))),
        "accepted"
    );
}
