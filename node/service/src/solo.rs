//! Block production and checking for a committee of one (the `tutti dev` chain), on the chain's
//! block rules ([`tutti_chain::block`]).
//!
//! The proposer:
//! 1. draws the block's randomness: its BLS signature over the parent's randomness (a VRF
//!    proof, in the header) and `blake3` of it (the randomness contracts read);
//! 2. executes the candidate transactions on top of the head;
//! 3. builds the header (transaction, state and receipt roots; the parent's commit certificate);
//! 4. signs the commit message `height || hash || view` with FBFT's COMMIT tag (a committee of
//!    one commits alone), giving a certificate whose bitmap holds the one signer;
//! 5. commits block and certificate in one atomic batch.
//!
//! [`verify_block`] checks all of it against the committee, as a follower or a restarted node would.

use tutti_chain::{
    BlockOutput, Chain, StoredBlock,
    block::{self, Built},
    chain::tx_root,
};
use tutti_consensus::{
    bls::{self, PublicKey, SecretKey, Signature},
    fbft::message::{self as fbft, commit_message},
};
use tutti_primitives::{BlockHeader, CommitCertificate, Height, SignedTransaction};
use tutti_runtime::Runtime;

/// Why a block was refused or could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The ledger failed.
    #[error(transparent)]
    Chain(#[from] tutti_chain::ChainError),
    /// A signature, key or certificate did not check.
    #[error("block {height}: {reason}")]
    Invalid {
        /// The block.
        height: Height,
        /// What failed.
        reason: String,
    },
}

/// A block just produced.
pub struct Produced {
    /// The block with its certificate.
    pub block: StoredBlock,
    /// What executing it did (state update, executions, skipped transactions).
    pub output: BlockOutput,
}

/// Produces the next block from `candidates` (the chain skips any that do not apply) without
/// committing it. `signatures_checked`: every candidate's signature was verified when this node
/// admitted it to its pool (otherwise execution verifies each).
pub fn produce(
    chain: &Chain,
    runtime: &Runtime,
    key: &SecretKey,
    candidates: Vec<SignedTransaction>,
    timestamp_ms: u64,
    signatures_checked: bool,
) -> Result<Produced, ProduceError> {
    let parent_commit = chain.head().commit.clone();
    let Built {
        header,
        txs,
        incoming,
        crosslinks,
        output,
    } = block::build(
        chain,
        runtime,
        key,
        candidates,
        Vec::new(),
        Vec::new(),
        Default::default(),
        timestamp_ms,
        signatures_checked,
        0,
        parent_commit,
    )?;
    let commit = commit_of_one(key, &header);
    Ok(Produced {
        block: StoredBlock {
            header,
            txs,
            incoming,
            crosslinks,
            commit: Some(commit),
        },
        output,
    })
}

/// The commit certificate of a committee of one (`key`) over `header`: FBFT's COMMIT signature
/// over `height || hash || view`, the one signer in the bitmap.
pub fn commit_of_one(key: &SecretKey, header: &BlockHeader) -> CommitCertificate {
    let signature = key.sign(
        fbft::tags::COMMIT,
        &commit_message(header.height, &header.hash(), header.view),
    );
    CommitCertificate {
        view: header.view,
        signature: signature.to_bytes(),
        signers: vec![1],
    }
}

/// Produces and commits the next block.
pub fn produce_and_commit(
    chain: &Chain,
    runtime: &Runtime,
    key: &SecretKey,
    candidates: Vec<SignedTransaction>,
    timestamp_ms: u64,
    signatures_checked: bool,
) -> Result<Produced, ProduceError> {
    let mut produced = produce(chain, runtime, key, candidates, timestamp_ms, signatures_checked)?;
    chain.commit(&produced.block, &mut produced.output)?;
    Ok(produced)
}

/// Checks a block's signatures against a committee of one: the proposer is the committee's
/// member, the randomness is its VRF output over the parent's randomness, the certificate signs
/// the commit message. (Contents are checked by re-executing; see [`Chain::execute`].)
pub fn verify_block(parent: &BlockHeader, block: &StoredBlock, committee: &PublicKey) -> Result<(), ProduceError> {
    let h = &block.header;
    let bad = |reason: String| ProduceError::Invalid {
        height: h.height,
        reason,
    };
    if h.proposer != committee.to_bytes() {
        return Err(bad("the proposer is not the committee member".into()));
    }
    if h.parent_hash != parent.hash() || h.height != parent.height + 1 {
        return Err(bad("does not extend its parent".into()));
    }
    let proof = Signature::from_bytes(&h.randomness_proof).map_err(|e| bad(format!("randomness proof: {e}")))?;
    if !bls::verify_randomness(committee, &parent.randomness, &proof, &h.randomness) {
        return Err(bad(
            "the randomness is not the proposer's VRF output over the parent's".into()
        ));
    }
    if h.tx_root != tx_root(&block.txs) {
        return Err(bad("the transaction root does not match the transactions".into()));
    }
    let cert = block
        .commit
        .as_ref()
        .ok_or_else(|| bad("no commit certificate".into()))?;
    if cert.signers != [1] {
        return Err(bad(format!(
            "certificate bitmap {:?} is not the committee of one",
            cert.signers
        )));
    }
    let sig = Signature::from_bytes(&cert.signature).map_err(|e| bad(format!("certificate: {e}")))?;
    if !committee.verify(
        fbft::tags::COMMIT,
        &commit_message(h.height, &h.hash(), cert.view),
        &sig,
    ) {
        return Err(bad("the commit certificate does not verify".into()));
    }
    Ok(())
}
