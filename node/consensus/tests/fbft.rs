//! The FBFT core against hand-made hostile messages: every one is refused with a reason (for
//! peer scoring), and nothing refused changes what the node signs.

use tutti_consensus::fbft::{
    Committee, Config, Core, Crypto, Head, Input, Member, Message, Output, Proposal, QuorumCert, SignRecord,
    ViewChange,
    crypto::InsecureCrypto,
    message::{commit_message, proposal_message, tags, view_change_message},
};
use tutti_primitives::{BlockHeader, CommitCertificate, Hash};

const N: usize = 4;
const ME: usize = 2;
/// Leader of height 1 view 0 is member (1 + 0) % 4 = 1; of view 1, member 2 (this node).
const LEADER: usize = 1;

fn committee() -> Committee {
    Committee::new(
        (0..N)
            .map(|i| Member {
                id: [i as u8 + 1; 48],
                power: 1,
            })
            .collect(),
    )
    .unwrap()
}

fn signer(i: usize) -> InsecureCrypto {
    InsecureCrypto::new(N, Some(i))
}

fn genesis() -> Head {
    Head {
        height: 0,
        hash: Hash([9; 32]),
        cert: None,
    }
}

fn core(record: Option<SignRecord>) -> Core<InsecureCrypto> {
    let mut c = Core::new(signer(ME), committee(), Some(ME), Config::default(), genesis(), record);
    c.handle(Input::Start);
    c
}

fn block(view: u64, proposer: usize, body: &[u8]) -> Proposal {
    Proposal {
        header: BlockHeader {
            chain_id: 1,
            shard_id: 0,
            height: 1,
            epoch: 0,
            view,
            parent_hash: genesis().hash,
            timestamp_ms: 1,
            // The header commits to the body, as a real one does through its transaction root.
            tx_root: Hash(*blake3::hash(body).as_bytes()),
            state_root: Hash::default(),
            outgoing_receipts_root: Hash::default(),
            incoming_receipts_root: Hash::default(),
            crosslinks_root: Hash::default(),
            gas_used: 0,
            congestion: Default::default(),
            proposer: [proposer as u8 + 1; 48],
            randomness_proof: [0; 96],
            randomness: Hash::default(),
            parent_commit: None,
        },
        body: body.to_vec(),
    }
}

fn announce(by: usize, p: &Proposal) -> Message {
    Message::Announce {
        view: 0,
        signature: signer(by)
            .sign(tags::ANNOUNCE, &proposal_message(1, 0, &p.hash()))
            .unwrap(),
        proposal: p.clone(),
    }
}

fn cert(signers: &[usize], msg: &[u8], tag: &[u8], view: u64) -> CommitCertificate {
    let sigs: Vec<_> = signers.iter().map(|&i| signer(i).sign(tag, msg).unwrap()).collect();
    CommitCertificate {
        view,
        signature: InsecureCrypto::new(N, None).aggregate(&sigs).unwrap(),
        signers: committee().bitmap(signers.iter().copied()),
    }
}

fn prepared(p: &Proposal, signers: &[usize], view: u64) -> QuorumCert {
    QuorumCert {
        height: 1,
        hash: p.hash(),
        cert: cert(signers, &proposal_message(1, view, &p.hash()), tags::PREPARE, view),
    }
}

fn rejected(out: &[Output]) -> Option<String> {
    out.iter().find_map(|o| match o {
        Output::Rejected { kind, reason } => Some(format!("{kind}: {reason}")),
        _ => None,
    })
}

fn sends(out: &[Output]) -> Vec<&Message> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { message, .. } | Output::Broadcast(message) => Some(message),
            _ => None,
        })
        .collect()
}

#[test]
fn an_honest_round_persists_before_it_sends() {
    let mut c = core(None);
    let p = block(0, LEADER, b"txs");
    let out = c.handle(Input::Message(announce(LEADER, &p)));
    assert!(matches!(&out[..], [Output::Validate(v)] if v == &p), "{out:?}");
    let out = c.handle(Input::Validated {
        hash: p.hash(),
        valid: true,
    });
    assert!(
        matches!(&out[..], [Output::Persist(r), Output::Send { to: LEADER, message: Message::Prepare(v) }]
            if r.prepare == Some(p.hash()) && v.hash == p.hash()),
        "{out:?}"
    );
    let out = c.handle(Input::Message(Message::Prepared(prepared(&p, &[0, 1, 3], 0))));
    assert!(
        matches!(&out[..], [Output::Persist(r), Output::Send { message: Message::Commit(_), .. }]
            if r.commit == Some(p.hash()) && r.prepared.is_some() && r.blocks == vec![p.clone()]),
        "the lock and its block are persisted with the commit vote: {out:?}"
    );
    let qc = QuorumCert {
        height: 1,
        hash: p.hash(),
        cert: cert(&[0, 1, 2], &commit_message(1, &p.hash(), 0), tags::COMMIT, 0),
    };
    let out = c.handle(Input::Message(Message::Committed(qc.clone())));
    assert!(matches!(&out[0], Output::Commit { proposal, cert } if proposal == &p && cert == &qc.cert));
    assert_eq!(c.height(), 2);
    assert_eq!(c.head().hash, p.hash());
}

#[test]
fn hostile_announces_are_refused() {
    let mut c = core(None);
    let p = block(0, LEADER, b"txs");
    let out = c.handle(Input::Message(announce(3, &p)));
    assert!(rejected(&out).unwrap().contains("signature"), "signed by a non-leader");
    let mut orphan = block(0, LEADER, b"txs");
    orphan.header.parent_hash = Hash([1; 32]);
    let out = c.handle(Input::Message(announce(LEADER, &orphan)));
    assert!(rejected(&out).unwrap().contains("does not extend"), "{out:?}");
    let wrong_proposer = block(0, 3, b"txs");
    let out = c.handle(Input::Message(announce(LEADER, &wrong_proposer)));
    assert!(rejected(&out).unwrap().contains("proposer"), "{out:?}");
    let mut forged_parent_cert = block(0, LEADER, b"txs");
    forged_parent_cert.header.parent_commit = Some(cert(&[0, 1, 2], b"x", tags::COMMIT, 0));
    let out = c.handle(Input::Message(announce(LEADER, &forged_parent_cert)));
    assert!(rejected(&out).is_some(), "genesis has no certificate: {out:?}");
    // None of it was signed, and a good announce still goes through.
    assert_eq!(c.record(), &SignRecord::default());
    c.handle(Input::Message(announce(LEADER, &p)));
    let out = c.handle(Input::Validated {
        hash: p.hash(),
        valid: true,
    });
    assert_eq!(sends(&out).len(), 1);
    // An equivocating leader's second block is refused.
    let out = c.handle(Input::Message(announce(LEADER, &block(0, LEADER, b"other"))));
    assert!(rejected(&out).unwrap().contains("two blocks"), "{out:?}");
}

#[test]
fn bad_certificates_are_refused() {
    let mut c = core(None);
    let p = block(0, LEADER, b"txs");
    for (qc, why) in [
        (prepared(&p, &[0, 1], 0), "2/3"),
        (
            QuorumCert {
                cert: CommitCertificate {
                    signers: vec![0b111, 0],
                    ..prepared(&p, &[0, 1, 2], 0).cert
                },
                ..prepared(&p, &[0, 1, 2], 0)
            },
            "bitmap",
        ),
        (
            QuorumCert {
                cert: CommitCertificate {
                    signers: committee().bitmap([0, 1, 3]),
                    ..prepared(&p, &[0, 1, 2], 0).cert
                },
                ..prepared(&p, &[0, 1, 2], 0)
            },
            "does not verify",
        ),
    ] {
        let out = c.handle(Input::Message(Message::Prepared(qc)));
        let r = rejected(&out).unwrap_or_default();
        assert!(r.contains(why), "expected `{why}`, got `{r}`");
    }
    assert_eq!(c.record(), &SignRecord::default(), "nothing signed");
}

fn view_change(by: usize, prepared: Option<(u64, Hash)>) -> ViewChange {
    ViewChange {
        height: 1,
        new_view: 1,
        prepared,
        signer: by as u32,
        signature: signer(by)
            .sign(tags::VIEWCHANGE, &view_change_message(1, 1, &prepared))
            .unwrap(),
    }
}

#[test]
fn a_new_view_must_re_propose_the_highest_prepared_block() {
    // The leader of view 1 at height 1 is member (1 + 1) % 4 = 2; node 3 receives its NEWVIEW.
    let mut c = Core::new(signer(3), committee(), Some(3), Config::default(), genesis(), None);
    c.handle(Input::Start);
    let locked = block(0, LEADER, b"locked");
    let fresh = block(1, 2, b"fresh");
    let qc = prepared(&locked, &[0, 1, 3], 0);
    let votes = vec![
        view_change(0, Some((0, locked.hash()))),
        view_change(1, None),
        view_change(3, None),
    ];
    let new_view = |proposal: &Proposal, prepared: Option<QuorumCert>, votes: Vec<ViewChange>| Message::NewView {
        view: 1,
        votes,
        prepared,
        signature: signer(2)
            .sign(tags::ANNOUNCE, &proposal_message(1, 1, &proposal.hash()))
            .unwrap(),
        proposal: proposal.clone(),
    };
    let out = c.handle(Input::Message(new_view(&fresh, Some(qc.clone()), votes.clone())));
    assert!(rejected(&out).unwrap().contains("re-propose"), "{out:?}");
    let out = c.handle(Input::Message(new_view(&locked, None, votes.clone())));
    assert!(rejected(&out).unwrap().contains("without its certificate"), "{out:?}");
    let out = c.handle(Input::Message(new_view(&locked, Some(qc.clone()), votes[..2].to_vec())));
    assert!(rejected(&out).unwrap().contains("2/3"), "two votes of four: {out:?}");
    let mut reordered = votes.clone();
    reordered.swap(0, 1);
    let out = c.handle(Input::Message(new_view(&locked, Some(qc.clone()), reordered)));
    assert!(rejected(&out).unwrap().contains("order"), "{out:?}");
    let out = c.handle(Input::Message(new_view(&locked, Some(qc), votes)));
    assert!(rejected(&out).is_none(), "{out:?}");
    assert!(matches!(&out[..], [.., Output::Validate(p)] if p == &locked), "{out:?}");
    assert_eq!(c.view(), 1);
}

#[test]
fn a_restarted_validator_does_not_sign_a_second_block() {
    let first = block(0, LEADER, b"first");
    let mut record = SignRecord::default();
    record.sign(1, 0, tutti_consensus::fbft::record::Slot::Prepare, first.hash());
    let mut c = core(Some(record.clone()));
    // The leader equivocates across the restart: the node validates the new block but will
    // not vote for it.
    let second = block(0, LEADER, b"second");
    c.handle(Input::Message(announce(LEADER, &second)));
    let out = c.handle(Input::Validated {
        hash: second.hash(),
        valid: true,
    });
    assert!(sends(&out).is_empty(), "{out:?}");
    assert_eq!(c.record(), &record);
    // The block it did vote for gets its vote again (same signature, no harm).
    let mut c = core(Some(record));
    c.handle(Input::Message(announce(LEADER, &first)));
    let out = c.handle(Input::Validated {
        hash: first.hash(),
        valid: true,
    });
    assert!(matches!(sends(&out)[..], [Message::Prepare(v)] if v.hash == first.hash()));
}

/// A committee of one: its own votes complete every quorum inside one `handle` call, so a block
/// is final as soon as it is built, height after height, in view 0, without a timer firing.
/// (Its vote flags were once set after the vote had already moved it to the next height, so
/// every second height waited for a view change.)
#[test]
fn a_committee_of_one_decides_every_height_in_view_0() {
    let one = Committee::new(vec![Member { id: [1; 48], power: 1 }]).unwrap();
    let mut c = Core::new(
        InsecureCrypto::new(1, Some(0)),
        one,
        Some(0),
        Config::default(),
        genesis(),
        None,
    );
    let mut out = c.handle(Input::Start);
    let mut parent = genesis().hash;
    for height in 1..=5u64 {
        let (h, view, parent_commit) = out
            .iter()
            .find_map(|o| match o {
                Output::Build {
                    height,
                    view,
                    parent_commit,
                    ..
                } => Some((*height, *view, parent_commit.clone())),
                _ => None,
            })
            .unwrap_or_else(|| panic!("height {height}: no build request in {out:?}"));
        assert_eq!((h, view), (height, 0));
        let mut p = block(0, 0, &height.to_le_bytes());
        p.header.height = height;
        p.header.parent_hash = parent;
        p.header.proposer = [1; 48];
        p.header.parent_commit = parent_commit;
        out = c.handle(Input::Built(p.clone()));
        let committed = out
            .iter()
            .any(|o| matches!(o, Output::Commit { proposal, .. } if proposal.hash() == p.hash()));
        assert!(committed, "height {height}: not final at once: {out:?}");
        assert_eq!(c.height(), height + 1);
        parent = p.hash();
    }
}

#[test]
fn a_committee_of_one_killed_between_signing_and_storing_a_block_decides_it_after_restart() {
    let one = || Committee::new(vec![Member { id: [1; 48], power: 1 }]).unwrap();
    let new_core = |record| {
        Core::new(
            InsecureCrypto::new(1, Some(0)),
            one(),
            Some(0),
            Config::default(),
            genesis(),
            record,
        )
    };
    let mut c = new_core(None);
    c.handle(Input::Start);
    let mut p = block(0, 0, b"lost");
    p.header.proposer = [1; 48];
    let out = c.handle(Input::Built(p.clone()));
    // The process dies after the last record reached the disk, before the block was stored.
    let record = out
        .iter()
        .rev()
        .find_map(|o| match o {
            Output::Persist(r) => Some(r.clone()),
            _ => None,
        })
        .expect("the round persisted its record");
    let mut c = new_core(Some(record));
    let mut queue = std::collections::VecDeque::from([Input::Start]);
    // Timers fire only once nothing else is pending (time passes when the node is idle).
    let mut timers = std::collections::VecDeque::new();
    for _ in 0..200 {
        let Some(input) = queue.pop_front().or_else(|| timers.pop_front()) else {
            break;
        };
        for o in c.handle(input) {
            match o {
                Output::Commit { proposal, .. } => {
                    assert_eq!(proposal.hash(), p.hash(), "the signed block, not another");
                    return;
                }
                Output::SetTimer { timer, .. } => timers.push_back(Input::Timeout(timer)),
                // As the shell: messages to itself come back, broadcasts reach only others.
                Output::Send { to: 0, message } => queue.push_back(Input::Message(message)),
                Output::Validate(b) => queue.push_back(Input::Validated {
                    hash: b.hash(),
                    valid: true,
                }),
                Output::Build { height, .. } => panic!("asked to build a second block at height {height}"),
                _ => {}
            }
        }
    }
    panic!(
        "the restarted committee of one never decided height 1 (at height {}, view {})",
        c.height(),
        c.view()
    );
}

/// A block the shell cannot decide on yet (`Input::Undecided`: its beacon chain lags) gets no
/// vote now and is checked again when a later view re-proposes it; a block found invalid is
/// not (so a node that only lagged is never locked out of the block the others locked on).
#[test]
fn an_undecided_block_is_checked_again_when_re_proposed() {
    let locked = block(0, LEADER, b"locked");
    let qc = prepared(&locked, &[0, 1, 3], 0);
    let votes = vec![
        view_change(0, Some((0, locked.hash()))),
        view_change(1, None),
        view_change(3, None),
    ];
    let new_view = Message::NewView {
        view: 1,
        votes,
        prepared: Some(qc),
        signature: signer(2)
            .sign(tags::ANNOUNCE, &proposal_message(1, 1, &locked.hash()))
            .unwrap(),
        proposal: locked.clone(),
    };
    let run = |verdict: Input| {
        let mut c = Core::new(signer(3), committee(), Some(3), Config::default(), genesis(), None);
        c.handle(Input::Start);
        let out = c.handle(Input::Message(announce(LEADER, &locked)));
        assert!(matches!(&out[..], [Output::Validate(p)] if p == &locked), "{out:?}");
        let out = c.handle(verdict);
        assert!(sends(&out).is_empty(), "no vote without a verdict of valid: {out:?}");
        let out = c.handle(Input::Message(new_view.clone()));
        assert!(rejected(&out).is_none(), "{out:?}");
        out.iter().any(|o| matches!(o, Output::Validate(p) if p == &locked))
    };
    assert!(
        run(Input::Undecided { hash: locked.hash() }),
        "undecided: checked again when re-proposed"
    );
    assert!(
        !run(Input::Validated {
            hash: locked.hash(),
            valid: false,
        }),
        "invalid: remembered for the height"
    );
}

fn vote(by: usize, key: usize, height: u64, view: u64, hash: Hash, prepare: bool) -> Message {
    let (tag, msg) = if prepare {
        (tags::PREPARE, proposal_message(height, view, &hash))
    } else {
        (tags::COMMIT, commit_message(height, &hash, view))
    };
    let v = tutti_consensus::fbft::message::Vote {
        height,
        view,
        hash,
        signer: by as u32,
        signature: signer(key).sign(tag, &msg).unwrap(),
    };
    if prepare {
        Message::Prepare(v)
    } else {
        Message::Commit(v)
    }
}

fn unchecked(out: &[Output]) -> bool {
    out.iter().any(|o| matches!(o, Output::Unchecked { .. }))
}

/// Every node checks a vote's signer and signature before it passes the vote on: a forged vote
/// is refused at its first hop (only its origin is blamed), a genuine one passes, and one this
/// node cannot check now (another height or view) is neither passed on nor blamed. The leader
/// takes a genuine vote for a block it did not propose without blaming whoever relayed it. (A
/// non-leader once passed every vote on unchecked, and the leader refused those for another
/// block before checking them, blaming the honest relay: four strikes banned it.)
#[test]
fn votes_are_checked_before_they_are_passed_on() {
    let mut c = core(None);
    let p = block(0, LEADER, b"txs");
    let h = p.hash();
    for prepare in [true, false] {
        let out = c.handle(Input::Message(vote(0, 3, 1, 0, h, prepare)));
        assert!(
            rejected(&out).is_some_and(|r| r.contains("signature")),
            "a vote signed by another key: {out:?}"
        );
        let out = c.handle(Input::Message(vote(9, 9, 1, 0, h, prepare)));
        assert!(rejected(&out).is_some(), "a signer outside the committee: {out:?}");
        let out = c.handle(Input::Message(vote(0, 0, 1, 0, h, prepare)));
        assert!(
            rejected(&out).is_none() && !unchecked(&out),
            "a genuine vote passes: {out:?}"
        );
        // Again (a copy from another peer): passes without a second check.
        let out = c.handle(Input::Message(vote(0, 0, 1, 0, h, prepare)));
        assert!(rejected(&out).is_none() && !unchecked(&out), "{out:?}");
        for (height, view) in [(1, 5), (0, 0), (7, 0)] {
            let out = c.handle(Input::Message(vote(0, 3, height, view, h, prepare)));
            assert!(
                rejected(&out).is_none() && unchecked(&out),
                "height {height} view {view}: not checked, not blamed: {out:?}"
            );
        }
    }

    // The leader of height 1, view 0, after proposing `p`.
    let mut leader = Core::new(
        signer(LEADER),
        committee(),
        Some(LEADER),
        Config::default(),
        genesis(),
        None,
    );
    leader.handle(Input::Start);
    let p = block(0, LEADER, b"txs");
    leader.handle(Input::Built(p.clone()));
    let other = block(0, LEADER, b"other").hash();
    let out = leader.handle(Input::Message(vote(0, 0, 1, 0, other, true)));
    assert!(
        rejected(&out).is_none() && !unchecked(&out),
        "a genuine vote for another block: {out:?}"
    );
    let out = leader.handle(Input::Message(vote(0, 3, 1, 0, other, true)));
    assert!(rejected(&out).is_some(), "a forged one: {out:?}");
    // Votes for its block still make the certificate.
    let mut prepared_out = Vec::new();
    for i in [0, 2, 3] {
        prepared_out.extend(leader.handle(Input::Message(vote(i, i, 1, 0, p.hash(), true))));
    }
    assert!(
        sends(&prepared_out)
            .iter()
            .any(|m| matches!(m, Message::Prepared(q) if q.hash == p.hash())),
        "{prepared_out:?}"
    );
}
