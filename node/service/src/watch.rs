//! Catching double signing in the FBFT messages a node sees ([`DoubleSignWatch`]): a leader that
//! proposes two blocks at one (height, view), and a validator that votes (PREPARE or COMMIT) for two
//! blocks at one (height, view). The evidence is what the beacon chain accepts
//! (`tutti_chain::slashing::verify`): both signatures by that key, over two different headers.
//!
//! Rules:
//! - Only the height being decided (and the one before) is watched; everything is bounded
//!   ([`MAX_PROPOSALS`], [`MAX_VOTES`]), so a peer cannot grow it.
//! - A proposal is kept only with a valid leader signature (checked at once: proposals are few).
//!   The shell hands it only votes whose signature the core checked (every node checks a vote
//!   before relaying it); a vote is checked again only when a second vote of the same key,
//!   height, view and phase names another block, so forgeries can neither mask a real double vote
//!   nor frame an honest validator.
//! - A vote names a block by hash; the evidence needs its header, so a double vote is reported
//!   when both blocks are ones this node saw proposed (a validator voting for two proposals of an
//!   equivocating leader). A vote for a block never seen here is not reported by this node.
//! - Each (key, height, view, phase) is reported once.

use std::collections::{HashMap, HashSet};

use tutti_consensus::bls::{PublicKey, Signature};
use tutti_primitives::{BlockHeader, DoubleSign, Hash, Height, SignedHeader, fbft::Phase};

/// Most proposals kept.
pub const MAX_PROPOSALS: usize = 64;
/// Most votes kept.
pub const MAX_VOTES: usize = 4096;

type Key = [u8; 48];
type Sig = [u8; 96];

/// The watch (module doc).
#[derive(Default)]
pub struct DoubleSignWatch {
    /// (height, view) -> the leader's first genuine proposal.
    proposals: HashMap<(Height, u64), (BlockHeader, Sig)>,
    /// Headers of genuine proposals seen, by hash.
    headers: HashMap<Hash, BlockHeader>,
    /// (height, view, phase, key) -> the block voted for and the signature (unchecked).
    votes: HashMap<(Height, u64, u8, Key), (Hash, Sig)>,
    /// Offenses already reported: (height, view, phase, key).
    reported: HashSet<(Height, u64, u8, Key)>,
}

fn genuine(key: &Key, phase: Phase, height: Height, view: u64, hash: &Hash, sig: &Sig) -> bool {
    let (tag, msg) = phase.signed(height, view, hash);
    PublicKey::from_bytes(key)
        .ok()
        .zip(Signature::from_bytes(sig).ok())
        .is_some_and(|(pk, s)| pk.verify(tag, &msg, &s))
}

impl DoubleSignWatch {
    /// A watch that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets what is below `height - 1`.
    fn advance(&mut self, height: Height) {
        self.proposals.retain(|(h, _), _| *h + 1 >= height);
        self.headers.retain(|_, h| h.height + 1 >= height);
        self.votes.retain(|(h, ..), _| *h + 1 >= height);
        self.reported.retain(|(h, ..)| *h + 16 >= height);
    }

    fn report(&mut self, height: Height, view: u64, phase: Phase, key: Key, ev: DoubleSign) -> Option<DoubleSign> {
        // Only what the beacon chain will accept.
        if tutti_chain::slashing::verify(&ev).is_err() || !self.reported.insert((height, view, phase as u8, key)) {
            return None;
        }
        Some(ev)
    }

    /// A proposal of `header` at `view` signed `sig`, whose leader holds `leader`, while `now` is
    /// being decided: the evidence if the leader proposed another block at that (height, view).
    pub fn proposal(
        &mut self,
        now: Height,
        view: u64,
        leader: Key,
        header: &BlockHeader,
        sig: &Sig,
    ) -> Option<DoubleSign> {
        let height = header.height;
        if height != now {
            return None;
        }
        self.advance(now);
        let hash = header.hash();
        if !genuine(&leader, Phase::Announce, height, view, &hash, sig) {
            return None;
        }
        if self.headers.len() < MAX_PROPOSALS {
            self.headers.insert(hash, header.clone());
        }
        let Some((first, first_sig)) = self.proposals.get(&(height, view)).cloned() else {
            if self.proposals.len() < MAX_PROPOSALS {
                self.proposals.insert((height, view), (header.clone(), *sig));
            }
            return None;
        };
        if first.hash() == hash {
            return None;
        }
        let ev = DoubleSign {
            key: leader,
            phase: Phase::Announce,
            view,
            first: SignedHeader {
                header: first,
                signature: first_sig,
            },
            second: SignedHeader {
                header: header.clone(),
                signature: *sig,
            },
        };
        self.report(height, view, Phase::Announce, leader, ev)
    }

    /// A `phase` vote of `voter` for block `hash` at (`height`, `view`), signed `sig`, while `now`
    /// is being decided: the evidence if the voter signed another block there and both headers
    /// are known.
    #[allow(clippy::too_many_arguments)]
    pub fn vote(
        &mut self,
        now: Height,
        phase: Phase,
        height: Height,
        view: u64,
        voter: Key,
        hash: Hash,
        sig: &Sig,
    ) -> Option<DoubleSign> {
        if height != now || phase == Phase::Announce {
            return None;
        }
        self.advance(now);
        let slot = (height, view, phase as u8, voter);
        let Some((first, first_sig)) = self.votes.get(&slot).copied() else {
            if self.votes.len() < MAX_VOTES {
                self.votes.insert(slot, (hash, *sig));
            }
            return None;
        };
        if first == hash || self.reported.contains(&slot) {
            return None;
        }
        // Two different blocks: check both now.
        if !genuine(&voter, phase, height, view, &hash, sig) {
            return None;
        }
        if !genuine(&voter, phase, height, view, &first, &first_sig) {
            // The first was a forgery: keep the genuine one instead.
            self.votes.insert(slot, (hash, *sig));
            return None;
        }
        let (Some(a), Some(b)) = (self.headers.get(&first).cloned(), self.headers.get(&hash).cloned()) else {
            return None;
        };
        let ev = DoubleSign {
            key: voter,
            phase,
            view,
            first: SignedHeader {
                header: a,
                signature: first_sig,
            },
            second: SignedHeader {
                header: b,
                signature: *sig,
            },
        };
        self.report(height, view, phase, voter, ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tutti_consensus::bls::SecretKey;

    fn header(height: Height, n: u8) -> BlockHeader {
        let keys = [SecretKey::from_seed(&[1; 32])];
        BlockHeader {
            height,
            timestamp_ms: 1_000 + u64::from(n),
            ..crate::dev::testnet_genesis(&keys).header(Hash::ZERO)
        }
    }

    fn sign(k: &SecretKey, phase: Phase, h: &BlockHeader, view: u64) -> Sig {
        let (tag, msg) = phase.signed(h.height, view, &h.hash());
        k.sign(tag, &msg).to_bytes()
    }

    #[test]
    fn two_proposals_or_two_votes_of_one_key_at_one_height_and_view_are_caught_once() {
        let leader = SecretKey::from_seed(&[2; 32]);
        let voter = SecretKey::from_seed(&[3; 32]);
        let (lk, vk) = (leader.public_key().to_bytes(), voter.public_key().to_bytes());
        let (a, b) = (header(5, 1), header(5, 2));
        let mut w = DoubleSignWatch::new();

        // One proposal, one vote: nothing.
        assert!(
            w.proposal(5, 0, lk, &a, &sign(&leader, Phase::Announce, &a, 0))
                .is_none()
        );
        assert!(
            w.vote(
                5,
                Phase::Prepare,
                5,
                0,
                vk,
                a.hash(),
                &sign(&voter, Phase::Prepare, &a, 0)
            )
            .is_none()
        );
        // The same again: nothing.
        assert!(
            w.proposal(5, 0, lk, &a, &sign(&leader, Phase::Announce, &a, 0))
                .is_none()
        );
        assert!(
            w.vote(
                5,
                Phase::Prepare,
                5,
                0,
                vk,
                a.hash(),
                &sign(&voter, Phase::Prepare, &a, 0)
            )
            .is_none()
        );
        // A forged second proposal (not the leader's signature): nothing.
        assert!(
            w.proposal(5, 0, lk, &b, &sign(&voter, Phase::Announce, &b, 0))
                .is_none()
        );
        // The leader's second proposal: caught, once.
        let ev = w
            .proposal(5, 0, lk, &b, &sign(&leader, Phase::Announce, &b, 0))
            .expect("a double proposal");
        assert_eq!((ev.key, ev.phase, ev.view), (lk, Phase::Announce, 0));
        tutti_chain::slashing::verify(&ev).unwrap();
        assert!(
            w.proposal(5, 0, lk, &b, &sign(&leader, Phase::Announce, &b, 0))
                .is_none()
        );

        // A forged vote for b under the voter's key: nothing, and the genuine first stays.
        assert!(
            w.vote(
                5,
                Phase::Prepare,
                5,
                0,
                vk,
                b.hash(),
                &sign(&leader, Phase::Prepare, &b, 0)
            )
            .is_none()
        );
        // The voter's genuine vote for b: caught, once; a COMMIT in the same view is another
        // offense; another view is another slot.
        let ev = w
            .vote(
                5,
                Phase::Prepare,
                5,
                0,
                vk,
                b.hash(),
                &sign(&voter, Phase::Prepare, &b, 0),
            )
            .expect("a double vote");
        assert_eq!((ev.key, ev.phase), (vk, Phase::Prepare));
        tutti_chain::slashing::verify(&ev).unwrap();
        assert!(
            w.vote(
                5,
                Phase::Prepare,
                5,
                0,
                vk,
                b.hash(),
                &sign(&voter, Phase::Prepare, &b, 0)
            )
            .is_none()
        );
        assert!(
            w.vote(
                5,
                Phase::Commit,
                5,
                0,
                vk,
                a.hash(),
                &sign(&voter, Phase::Commit, &a, 0)
            )
            .is_none()
        );
        assert!(
            w.vote(
                5,
                Phase::Commit,
                5,
                0,
                vk,
                b.hash(),
                &sign(&voter, Phase::Commit, &b, 0)
            )
            .is_some()
        );
    }

    #[test]
    fn a_forged_first_vote_neither_masks_a_real_double_vote_nor_frames_an_honest_one() {
        let leader = SecretKey::from_seed(&[2; 32]);
        let voter = SecretKey::from_seed(&[3; 32]);
        let stranger = SecretKey::from_seed(&[4; 32]);
        let (lk, vk) = (leader.public_key().to_bytes(), voter.public_key().to_bytes());
        let (a, b) = (header(7, 1), header(7, 2));
        let mut w = DoubleSignWatch::new();
        w.proposal(7, 1, lk, &a, &sign(&leader, Phase::Announce, &a, 1));
        w.proposal(7, 1, lk, &b, &sign(&leader, Phase::Announce, &b, 1));
        // A forgery arrives first for the voter, then its genuine vote for a: no report (the
        // voter signed one block), and the genuine vote takes the slot.
        assert!(
            w.vote(
                7,
                Phase::Prepare,
                7,
                1,
                vk,
                b.hash(),
                &sign(&stranger, Phase::Prepare, &b, 1)
            )
            .is_none()
        );
        assert!(
            w.vote(
                7,
                Phase::Prepare,
                7,
                1,
                vk,
                a.hash(),
                &sign(&voter, Phase::Prepare, &a, 1)
            )
            .is_none()
        );
        // Then the voter really signs b too: caught.
        assert!(
            w.vote(
                7,
                Phase::Prepare,
                7,
                1,
                vk,
                b.hash(),
                &sign(&voter, Phase::Prepare, &b, 1)
            )
            .is_some()
        );
        // Other heights than the one being decided are ignored.
        let c = header(9, 3);
        assert!(
            w.vote(
                7,
                Phase::Prepare,
                9,
                0,
                vk,
                c.hash(),
                &sign(&voter, Phase::Prepare, &c, 0)
            )
            .is_none()
        );
    }
}
