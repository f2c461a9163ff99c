//! The bytes FBFT signatures cover, with their tags (one per signed message kind, prefixed to
//! the SCALE encoding of the signed fields by the BLS signing rule). The consensus signs and
//! checks them; the beacon chain checks them in double-signing evidence.
//!
//! | kind        | tag                          | signed fields                         |
//! |-------------|------------------------------|---------------------------------------|
//! | ANNOUNCE    | `tutti/fbft/announce/v1`     | height, view, block hash              |
//! | PREPARE     | `tutti/fbft/prepare/v1`      | height, view, block hash              |
//! | COMMIT      | `tutti/fbft/commit/v1`       | height, block hash, view              |
//! | VIEWCHANGE  | `tutti/fbft/viewchange/v1`   | height, new view, highest prepared    |
//!
//! The block hash commits to the header, and so to the shard and epoch it belongs to.

use alloc::vec::Vec;
use parity_scale_codec::Encode;

use crate::{Hash, Height};

/// Signature tags, one per signed message kind. Changing one is a breaking change.
pub mod tags {
    /// A leader's proposal (ANNOUNCE, and the proposal inside NEWVIEW).
    pub const ANNOUNCE: &[u8] = b"tutti/fbft/announce/v1";
    /// A PREPARE vote.
    pub const PREPARE: &[u8] = b"tutti/fbft/prepare/v1";
    /// A COMMIT vote; a commit certificate aggregates these.
    pub const COMMIT: &[u8] = b"tutti/fbft/commit/v1";
    /// A VIEWCHANGE vote.
    pub const VIEWCHANGE: &[u8] = b"tutti/fbft/viewchange/v1";
}

/// The bytes an ANNOUNCE or PREPARE signs.
pub fn proposal_message(height: Height, view: u64, hash: &Hash) -> Vec<u8> {
    (height, view, hash).encode()
}

/// The bytes a COMMIT (and so a commit certificate) signs.
pub fn commit_message(height: Height, hash: &Hash, view: u64) -> Vec<u8> {
    (height, hash, view).encode()
}

/// The bytes a VIEWCHANGE signs.
pub fn view_change_message(height: Height, new_view: u64, prepared: &Option<(u64, Hash)>) -> Vec<u8> {
    (height, new_view, prepared).encode()
}

/// A phase in which a validator signs one block per (height, view): signing two different
/// blocks in one of them is double signing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, parity_scale_codec::Decode)]
pub enum Phase {
    /// A leader's proposal.
    #[codec(index = 0)]
    Announce,
    /// A PREPARE vote.
    #[codec(index = 1)]
    Prepare,
    /// A COMMIT vote.
    #[codec(index = 2)]
    Commit,
}

impl Phase {
    /// The tag and signed bytes of this phase's message for block `hash` at (`height`, `view`).
    pub fn signed(self, height: Height, view: u64, hash: &Hash) -> (&'static [u8], Vec<u8>) {
        match self {
            Phase::Announce => (tags::ANNOUNCE, proposal_message(height, view, hash)),
            Phase::Prepare => (tags::PREPARE, proposal_message(height, view, hash)),
            Phase::Commit => (tags::COMMIT, commit_message(height, hash, view)),
        }
    }
}
