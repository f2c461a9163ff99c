//! FBFT messages and the exact bytes each signature covers.
//!
//! Every signed kind has its own tag, prefixed to the SCALE encoding of what it signs:
//!
//! | kind        | tag                          | signed fields                         |
//! |-------------|------------------------------|---------------------------------------|
//! | ANNOUNCE    | `tutti/fbft/announce/v1`     | height, view, block hash              |
//! | PREPARE     | `tutti/fbft/prepare/v1`      | height, view, block hash              |
//! | COMMIT      | `tutti/fbft/commit/v1`       | height, block hash, view              |
//! | VIEWCHANGE  | `tutti/fbft/viewchange/v1`   | height, new view, highest prepared    |
//!
//! NEWVIEW is an ANNOUNCE in the new view (same tag) plus the VIEWCHANGE quorum that justifies it.
//! PREPARED and COMMITTED carry aggregates of PREPARE and COMMIT signatures.

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{BlockHeader, CommitCertificate, Hash, Height};

use super::crypto::Sig;

// The signed bytes and their tags are defined with the block types, so the beacon chain can
// check double-signing evidence without the consensus crate.
pub use tutti_primitives::fbft::{commit_message, proposal_message, tags, view_change_message};

/// A proposed block: its header (which the consensus reads) and its body (opaque to the
/// consensus, checked by the shell).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Proposal {
    /// The header.
    pub header: BlockHeader,
    /// The encoded transactions and incoming receipts.
    pub body: Vec<u8>,
}

impl Proposal {
    /// The block hash (the header's).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }
}

/// A PREPARE or COMMIT vote.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Vote {
    /// Height.
    pub height: Height,
    /// View.
    pub view: u64,
    /// The block voted for.
    pub hash: Hash,
    /// Committee index of the voter.
    pub signer: u32,
    /// The voter's signature.
    pub signature: Sig,
}

/// A quorum certificate: an aggregate signature over one block at one height, the view inside
/// the certificate. PREPARED carries one over PREPARE votes, COMMITTED over COMMIT votes.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct QuorumCert {
    /// Height.
    pub height: Height,
    /// The block.
    pub hash: Hash,
    /// View, aggregate signature and signer bitmap.
    pub cert: CommitCertificate,
}

/// A VIEWCHANGE vote: leave the current view for `new_view`, reporting the highest prepared block.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ViewChange {
    /// Height.
    pub height: Height,
    /// The view to move to.
    pub new_view: u64,
    /// View and hash of the highest block this voter saw prepared at this height.
    pub prepared: Option<(u64, Hash)>,
    /// Committee index of the voter.
    pub signer: u32,
    /// The voter's signature.
    pub signature: Sig,
}

/// A consensus message.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Message {
    /// The leader of view `view` proposes a block (view 0 only; later views use NEWVIEW).
    Announce {
        /// View.
        view: u64,
        /// The block.
        proposal: Proposal,
        /// The leader's ANNOUNCE signature.
        signature: Sig,
    },
    /// A validator signed the announced block (to the leader).
    Prepare(Vote),
    /// More than 2/3 of the power prepared it (from the leader).
    Prepared(QuorumCert),
    /// A validator commits to the prepared block (to the leader).
    Commit(Vote),
    /// More than 2/3 of the power committed it: the block is final (from the leader).
    Committed(QuorumCert),
    /// A validator leaves its view (to everyone).
    ViewChange {
        /// The vote.
        vote: ViewChange,
        /// The certificate of `vote.prepared`, which must accompany it.
        prepared: Option<QuorumCert>,
        /// The prepared block itself, so the next leader can re-propose it.
        proposal: Option<Proposal>,
    },
    /// The leader of a new view starts it.
    NewView {
        /// The new view.
        view: u64,
        /// VIEWCHANGE votes for `view` from more than 2/3 of the power.
        votes: Vec<ViewChange>,
        /// The certificate of the highest prepared block among `votes`, if any.
        prepared: Option<QuorumCert>,
        /// The block of this view: the highest prepared one if any, else a new one.
        proposal: Proposal,
        /// The leader's ANNOUNCE signature over (height, view, proposal hash).
        signature: Sig,
    },
}

/// Most bytes a consensus message may take on the wire (a NEWVIEW or VIEWCHANGE carries a block).
pub const MAX_MESSAGE_BYTES: usize = 8 << 20;

/// Why bytes from the network are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Over [`MAX_MESSAGE_BYTES`].
    #[error("consensus message of {0} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not the SCALE encoding of a message (or trailing bytes).
    #[error("not a consensus message: {0}")]
    Malformed(String),
}

impl Message {
    /// The wire encoding (SCALE).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode()
    }

    /// Decodes bytes from the network: bounded in size and nesting, every byte used.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(WireError::TooLarge(bytes.len()));
        }
        <Message as parity_scale_codec::DecodeLimit>::decode_all_with_depth_limit(16, &mut &bytes[..])
            .map_err(|e| WireError::Malformed(e.to_string()))
    }

    /// The height it is about.
    pub fn height(&self) -> Height {
        match self {
            Message::Announce { proposal, .. } | Message::NewView { proposal, .. } => proposal.header.height,
            Message::Prepare(v) | Message::Commit(v) => v.height,
            Message::Prepared(q) | Message::Committed(q) => q.height,
            Message::ViewChange { vote, .. } => vote.height,
        }
    }

    /// Its kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Announce { .. } => "announce",
            Message::Prepare(_) => "prepare",
            Message::Prepared(_) => "prepared",
            Message::Commit(_) => "commit",
            Message::Committed(_) => "committed",
            Message::ViewChange { .. } => "viewchange",
            Message::NewView { .. } => "newview",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        Message::ViewChange {
            vote: ViewChange {
                height: 3,
                new_view: 2,
                prepared: Some((1, Hash([4; 32]))),
                signer: 1,
                signature: [5; 96],
            },
            prepared: Some(QuorumCert {
                height: 3,
                hash: Hash([4; 32]),
                cert: CommitCertificate {
                    view: 1,
                    signature: [6; 96],
                    signers: vec![0b111],
                },
            }),
            proposal: None,
        }
    }

    #[test]
    fn wire_bytes_round_trip_and_hostile_bytes_are_refused() {
        let m = sample();
        let bytes = m.to_bytes();
        assert_eq!(Message::from_bytes(&bytes), Ok(m));
        for cut in 0..bytes.len() {
            assert!(Message::from_bytes(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(Message::from_bytes(&trailing).is_err(), "trailing bytes");
        assert!(matches!(Message::from_bytes(&[0xff; 64]), Err(WireError::Malformed(_))));
        // A length prefix claiming far more than is there does not allocate it.
        let mut huge = vec![0u8]; // Announce
        huge.extend_from_slice(&0u64.to_le_bytes());
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert!(Message::from_bytes(&huge).is_err());
        assert_eq!(
            Message::from_bytes(&vec![0; MAX_MESSAGE_BYTES + 1]),
            Err(WireError::TooLarge(MAX_MESSAGE_BYTES + 1))
        );
    }
}
