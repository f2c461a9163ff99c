//! Staking transactions on the beacon chain, end to end through blocks: every action applies
//! or fails with the rule it breaks, amounts move between balances and the registry without
//! creating or losing any, undelegations are paid back once when their lock ends, and the last
//! block of each epoch elects the committees two epochs ahead.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tutti_chain::{
    BeaconRead, Chain, Genesis, MemStore, StoredBlock, TxError,
    block::{self, Built},
    genesis::{GenesisAccount, GenesisParams, GenesisValidator},
    txcheck,
};
use tutti_crypto::bls::SecretKey;
use tutti_primitives::{
    Action, Address, Amount, BlockHeader, Crosslink, DoubleSign, FailureKind, Hash, PublicKey, SignedHeader,
    SignedTransaction, StakeAction, Transaction,
    codec::{Decode, Encode},
    fbft::Phase,
};
use tutti_runtime::{Runtime, RuntimeConfig};

const TOKEN: Amount = 1_000_000;
const GAS: u64 = 50_000_000;

fn user(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn addr(k: &SigningKey) -> Address {
    Address::from_public_key(&k.verifying_key().to_bytes())
}

/// A user key whose account lives on `shard` of 2.
fn user_on(shard: u32) -> SigningKey {
    (1..=255u8)
        .map(user)
        .find(|k| addr(k).home_shard(2) == shard)
        .expect("some key lives on each shard")
}

fn tx(k: &SigningKey, nonce: u64, action: StakeAction) -> SignedTransaction {
    Transaction {
        chain_id: 7,
        signer: PublicKey(k.verifying_key().to_bytes()),
        nonce,
        gas_limit: GAS,
        gas_price: 1,
        action: Action::Stake(action),
    }
    .sign(k)
}

fn create(bls: &SecretKey, proof_of: &SecretKey, self_stake: Amount, name: &str) -> StakeAction {
    StakeAction::CreateValidator {
        key: bls.public_key().to_bytes(),
        proof: proof_of.prove_possession().to_bytes(),
        self_stake,
        commission_bps: 1_000,
        max_commission_bps: 2_000,
        max_change_bps: 500,
        name: name.into(),
    }
}

struct Net {
    chain: Chain,
    runtime: Runtime,
    proposer: SecretKey,
    genesis: Genesis,
    users: Vec<SigningKey>,
    nonces: Vec<u64>,
    time: u64,
    /// The fees of the last block's transactions.
    fees: Vec<Amount>,
}

impl Net {
    fn new() -> Net {
        let proposer = SecretKey::from_seed(&[9; 32]);
        let users: Vec<SigningKey> = (1..=3).map(user).collect();
        let genesis = Genesis {
            chain_id: 7,
            num_shards: 1,
            timestamp_ms: 1_000,
            accounts: users
                .iter()
                .map(|k| GenesisAccount {
                    address: addr(k).to_string(),
                    balance: (10_000 * TOKEN).to_string(),
                })
                .collect(),
            validators: vec![GenesisValidator {
                bls_public_key: format!("0x{}", hex::encode(proposer.public_key().to_bytes())),
                stake: (500 * TOKEN).to_string(),
                shard: 0,
                bls_pop: None,
                operator: None,
            }],
            params: GenesisParams {
                epoch_blocks: 4,
                min_self_stake: (100 * TOKEN).to_string(),
                min_delegation: (10 * TOKEN).to_string(),
                unbonding_epochs: 1,
                seats_per_shard: 4,
                min_seats_per_shard: 1,
                max_churn_percent: 50,
                ..GenesisParams::default()
            },
        };
        genesis.check().unwrap();
        let chain = Chain::open(Arc::new(MemStore::new()), &genesis).unwrap();
        Net {
            chain,
            runtime: Runtime::new(RuntimeConfig::default()).unwrap(),
            proposer,
            genesis,
            nonces: vec![0; users.len()],
            users,
            time: 1_000,
            fees: Vec::new(),
        }
    }

    /// Signs `action` as user `u` with its next nonce.
    fn sign(&mut self, u: usize, action: StakeAction) -> SignedTransaction {
        let t = tx(&self.users[u], self.nonces[u], action);
        self.nonces[u] += 1;
        t
    }

    /// Commits a block with `txs`; returns each transaction's result.
    fn block(&mut self, txs: Vec<SignedTransaction>) -> Vec<Result<Vec<u8>, (FailureKind, String)>> {
        self.time += 1_000;
        let hashes: Vec<Hash> = txs.iter().map(|t| t.hash()).collect();
        let Built {
            header,
            txs,
            incoming,
            crosslinks,
            mut output,
        } = block::build(
            &self.chain,
            &self.runtime,
            &self.proposer,
            txs,
            vec![],
            vec![],
            Default::default(),
            self.time,
            false,
            0,
            None,
        )
        .unwrap();
        assert_eq!(
            txs.len(),
            hashes.len(),
            "every transaction is included: {:?}",
            output.skipped
        );
        let stored = StoredBlock {
            header,
            txs,
            incoming,
            crosslinks,
            commit: None,
        };
        self.chain.commit(&stored, &mut output).unwrap();
        self.assert_supply();
        let executions: Vec<_> = hashes
            .iter()
            .map(|h| self.chain.execution_tree(h, 1).unwrap().pop().expect("executed").1)
            .collect();
        self.fees = executions.iter().map(|e| e.fee).collect();
        executions
            .into_iter()
            .map(|e| e.result.map_err(|f| (f.kind, f.message)))
            .collect()
    }

    fn height(&self) -> u64 {
        self.chain.head().header.height
    }

    fn balance(&self, u: usize) -> Amount {
        self.chain
            .account(&addr(&self.users[u]), self.height())
            .unwrap()
            .balance
    }

    fn registry(
        &self,
    ) -> Vec<(
        tutti_chain::staking::Validator,
        Vec<(Address, tutti_chain::staking::Delegation)>,
    )> {
        self.chain
            .read_beacon(self.height(), |b: &dyn BeaconRead| b.validators())
            .unwrap()
    }

    /// Balances + everything in the registry + fees burnt = the genesis supply, at the head.
    fn assert_supply(&self) {
        let h = self.height();
        let mut total: Amount = self
            .users
            .iter()
            .map(|k| self.chain.account(&addr(k), h).unwrap().balance)
            .sum();
        for (v, ds) in self.registry() {
            let mut sum = 0;
            for (_, d) in &ds {
                total += d.amount + d.reward + d.unbonding.iter().map(|(a, _)| a).sum::<Amount>();
                sum += d.amount;
            }
            assert_eq!(v.total, sum, "a validator's total is the sum of its delegations");
        }
        total += self.chain.burnt(h).unwrap();
        let issued = self.chain.issued(h).unwrap();
        assert_eq!(total, self.genesis.supply().unwrap() + issued, "supply at height {h}");
    }
}

fn failed(r: &Result<Vec<u8>, (FailureKind, String)>, needle: &str) {
    match r {
        Err((FailureKind::Staking, m)) => assert!(m.contains(needle), "{m:?} should say {needle:?}"),
        other => panic!("expected a staking failure saying {needle:?}, got {other:?}"),
    }
}

#[test]
fn staking_actions_apply_or_fail_by_rule_and_conserve_the_supply() {
    let mut n = Net::new();
    let (a, b) = (SecretKey::from_seed(&[1; 32]), SecretKey::from_seed(&[2; 32]));
    let before = n.balance(0);
    let t = vec![
        n.sign(0, create(&a, &a, 200 * TOKEN, "alpha")),
        n.sign(0, create(&a, &a, 200 * TOKEN, "again")),
        n.sign(1, create(&b, &a, 200 * TOKEN, "stolen-proof")),
        n.sign(1, create(&b, &b, 50 * TOKEN, "small")),
    ];
    let r = n.block(t);
    assert_eq!(r[0], Ok(vec![]));
    failed(&r[1], "already registered");
    failed(&r[2], "proof of possession");
    failed(&r[3], "self-stake of 50000000 is below the minimum of 100000000");
    // The self-stake left the balance, with the fees burnt (the unused gas came back); a
    // refused creation still pays its gas.
    let create_gas = 2_000_000 + 20_000_000;
    assert!(
        n.fees[0] > create_gas && n.fees[0] < create_gas + 2_000_000,
        "{:?}",
        n.fees
    );
    assert_eq!(before - n.balance(0), 200 * TOKEN + n.fees[0] + n.fees[1]);
    let reg = n.registry();
    assert_eq!(reg.len(), 2, "the genesis validator and alpha");
    let alpha = reg.iter().find(|(v, _)| v.name == "alpha").unwrap();
    assert_eq!(alpha.0.total, 200 * TOKEN);
    assert_eq!(alpha.0.operator, addr(&n.users[0]));

    // Delegations and undelegations.
    let key = a.public_key().to_bytes();
    let t = vec![
        n.sign(
            1,
            StakeAction::Delegate {
                key,
                amount: 50 * TOKEN,
            },
        ),
        n.sign(1, StakeAction::Delegate { key, amount: 5 * TOKEN }),
        n.sign(
            1,
            StakeAction::Undelegate {
                key,
                amount: 60 * TOKEN,
            },
        ),
        n.sign(
            1,
            StakeAction::Undelegate {
                key,
                amount: 20 * TOKEN,
            },
        ),
        n.sign(
            2,
            StakeAction::Delegate {
                key: [7; 48],
                amount: 50 * TOKEN,
            },
        ),
        n.sign(2, StakeAction::CollectRewards),
        n.sign(
            1,
            StakeAction::EditValidator {
                key,
                commission_bps: Some(1_100),
                name: None,
            },
        ),
        n.sign(
            0,
            StakeAction::EditValidator {
                key,
                commission_bps: Some(1_800),
                name: None,
            },
        ),
        n.sign(
            0,
            StakeAction::EditValidator {
                key,
                commission_bps: Some(1_400),
                name: Some("alpha-2".into()),
            },
        ),
    ];
    let r = n.block(t);
    assert_eq!(r[0], Ok(vec![]));
    failed(&r[1], "delegation of 5000000 is below the minimum of 10000000");
    failed(&r[2], "cannot undelegate 60000000: 50000000 is delegated");
    assert_eq!(r[3], Ok(vec![]));
    failed(&r[4], "no validator has the BLS key");
    failed(&r[5], "no rewards to collect");
    failed(&r[6], "only the validator's operator");
    failed(&r[7], "at most 500 bps per epoch");
    assert_eq!(r[8], Ok(vec![]));
    let reg = n.registry();
    let alpha = reg.iter().find(|(v, _)| v.key == key).unwrap();
    assert_eq!((alpha.0.name.as_str(), alpha.0.commission_bps), ("alpha-2", 1_400));
    assert_eq!(alpha.0.total, 230 * TOKEN);
    let d = &alpha.1.iter().find(|(w, _)| *w == addr(&n.users[1])).unwrap().1;
    assert_eq!(d.amount, 30 * TOKEN);
    // Undelegated in epoch 0 (height 2) with one epoch of unbonding: paid from epoch 1.
    assert_eq!(d.unbonding, vec![(20 * TOKEN, 1)]);

    // The last block of epoch 0 (height 3) pays it back, once.
    let held = n.balance(1);
    n.block(vec![]);
    assert_eq!(n.height(), 3);
    assert_eq!(n.balance(1), held + 20 * TOKEN);
    for _ in 0..5 {
        n.block(vec![]);
    }
    assert_eq!(n.balance(1), held + 20 * TOKEN, "released exactly once");
    let d = n
        .registry()
        .into_iter()
        .find(|(v, _)| v.key == key)
        .unwrap()
        .1
        .into_iter()
        .find(|(w, _)| *w == addr(&n.users[1]))
        .unwrap()
        .1;
    assert!(d.unbonding.is_empty());
}

#[test]
fn the_last_block_of_each_epoch_elects_the_committees_two_epochs_ahead() {
    let mut n = Net::new();
    let a = SecretKey::from_seed(&[1; 32]);
    let genesis_key = n.proposer.public_key().to_bytes();
    let assignment = |n: &Net, e: u64| {
        n.chain
            .read_beacon(n.height(), |b: &dyn BeaconRead| b.assignment(e))
            .unwrap()
    };
    let keys = |a: Option<Vec<Vec<tutti_chain::election::Elected>>>| {
        let mut k: Vec<[u8; 48]> = a.unwrap().concat().into_iter().map(|e| e.key).collect();
        k.sort();
        k
    };
    assert_eq!(keys(assignment(&n, 0)), vec![genesis_key]);
    assert_eq!(keys(assignment(&n, 1)), vec![genesis_key]);
    assert_eq!(assignment(&n, 2), None);
    let t = n.sign(0, create(&a, &a, 200 * TOKEN, "alpha"));
    n.block(vec![t]);
    while n.height() < 3 {
        n.block(vec![]);
    }
    let mut both = vec![genesis_key, a.public_key().to_bytes()];
    both.sort();
    assert_eq!(
        keys(assignment(&n, 2)),
        both,
        "alpha registered in epoch 0 sits from epoch 2"
    );
    assert_eq!(assignment(&n, 3), None);
    // Powers are stakes clamped to the median +- 15 %: 500 and 200 tokens, median 500.
    let mut powers: Vec<Amount> = assignment(&n, 2).unwrap().concat().iter().map(|e| e.power).collect();
    powers.sort();
    assert_eq!(powers, vec![425 * TOKEN, 500 * TOKEN]);

    // Alpha leaves (its operator undelegates everything): from epoch 1's election (epoch 3) on,
    // it stands no more.
    let t = n.sign(
        0,
        StakeAction::Undelegate {
            key: a.public_key().to_bytes(),
            amount: 200 * TOKEN,
        },
    );
    assert_eq!(n.block(vec![t]), vec![Ok(vec![])]);
    while n.height() < 7 {
        n.block(vec![]);
    }
    assert_eq!(keys(assignment(&n, 3)), vec![genesis_key]);
    let seed = |e: u64| {
        n.chain
            .state()
            .get(&tutti_chain::beacon::seed_key(e), n.height())
            .unwrap()
            .map(|b| Hash::decode(&mut b.as_slice()).unwrap())
    };
    assert!(seed(2).is_some() && seed(3).is_some() && seed(2) != seed(3));
}

#[test]
fn staking_transactions_are_refused_off_the_beacon_chain_and_when_malformed() {
    let rules = |shard| tutti_chain::TxRules::new(7).on_shard(shard, 2);
    let off = user_on(1);
    let a = SecretKey::from_seed(&[1; 32]);
    let t = tx(&off, 0, StakeAction::CollectRewards);
    assert_eq!(
        txcheck::check_stateless(&t, 300, &rules(1)),
        Err(TxError::StakingOffBeacon { shard: 1 })
    );
    let on = user_on(0);
    let mut bad = create(&a, &a, 1, "x");
    if let StakeAction::CreateValidator { commission_bps, .. } = &mut bad {
        *commission_bps = 2_500;
    }
    let e = txcheck::check_stateless(&tx(&on, 0, bad), 300, &rules(0)).unwrap_err();
    assert!(
        e.to_string()
            .contains("commission 2500 bps is above the maximum of 2000 bps"),
        "{e}"
    );
    let long = create(&a, &a, 1, &"n".repeat(65));
    let e = txcheck::check_stateless(&tx(&on, 0, long), 300, &rules(0)).unwrap_err();
    assert!(e.to_string().contains("the name is 65 bytes"), "{e}");
    let zero = StakeAction::Delegate {
        key: [1; 48],
        amount: 0,
    };
    let e = txcheck::check_stateless(&tx(&on, 0, zero), 300, &rules(0)).unwrap_err();
    assert!(e.to_string().contains("amount is 0"), "{e}");
    // What a staking action locks counts in its cost: a delegation above the balance is
    // refused at admission like a transfer would be.
    let big = tx(
        &on,
        0,
        StakeAction::Delegate {
            key: [1; 48],
            amount: 1_000,
        },
    );
    assert_eq!(txcheck::max_cost(&big), Ok(1_000 + u128::from(GAS)));
}

/// `sk` signs `header` in `phase` and `view`.
fn signed(sk: &SecretKey, phase: Phase, view: u64, header: &BlockHeader) -> SignedHeader {
    let (tag, msg) = phase.signed(header.height, view, &header.hash());
    SignedHeader {
        header: header.clone(),
        signature: sk.sign(tag, &msg).to_bytes(),
    }
}

fn evidence(key: &SecretKey, first: SignedHeader, second: SignedHeader) -> StakeAction {
    StakeAction::ReportDoubleSign(Box::new(DoubleSign {
        key: key.public_key().to_bytes(),
        phase: Phase::Prepare,
        view: 3,
        first,
        second,
    }))
}

#[test]
fn double_signing_is_slashed_once_from_valid_evidence_and_forgeries_are_refused() {
    let mut n = Net::new();
    let (a, b) = (SecretKey::from_seed(&[1; 32]), SecretKey::from_seed(&[2; 32]));
    let key = a.public_key().to_bytes();
    let t = vec![
        n.sign(0, create(&a, &a, 200 * TOKEN, "alpha")),
        n.sign(
            1,
            StakeAction::Delegate {
                key,
                amount: 50 * TOKEN,
            },
        ),
    ];
    assert_eq!(n.block(t), vec![Ok(vec![]), Ok(vec![])]);
    // The end of epoch 0 (block 3) elects alpha for epoch 2 (blocks 8 to 11), where it serves.
    while n.height() < 9 {
        n.block(vec![]);
    }
    let t = n.sign(
        1,
        StakeAction::Undelegate {
            key,
            amount: 20 * TOKEN,
        },
    );
    assert_eq!(n.block(vec![t]), vec![Ok(vec![])]);

    // Two different blocks of shard 0, epoch 2, height 9: alpha's seat.
    let mut h1 = n.genesis.header_of(0, Hash::ZERO);
    h1.height = 9;
    h1.epoch = 2;
    let mut h2 = h1.clone();
    h2.timestamp_ms += 1;
    let p = Phase::Prepare;
    let forged = [
        (
            evidence(&a, signed(&a, p, 3, &h1), signed(&b, p, 3, &h2)),
            "second signature does not verify",
        ),
        (
            evidence(&a, signed(&a, p, 3, &h1), signed(&a, p, 4, &h2)),
            "second signature does not verify",
        ),
        (
            evidence(&a, signed(&a, p, 3, &h1), signed(&a, Phase::Commit, 3, &h2)),
            "second signature",
        ),
        (evidence(&a, signed(&a, p, 3, &h1), signed(&a, p, 3, &h1)), "same block"),
        (
            evidence(&a, signed(&a, p, 3, &h1), {
                let mut h = h2.clone();
                h.height = 10;
                signed(&a, p, 3, &h)
            }),
            "heights 9 and 10",
        ),
        (
            evidence(&a, signed(&a, p, 3, &h1), {
                let mut h = h2.clone();
                h.shard_id = 1;
                signed(&a, p, 3, &h)
            }),
            "different shards or epochs",
        ),
        (
            evidence(&b, signed(&b, p, 3, &h1), signed(&b, p, 3, &h2)),
            "not a registered validator",
        ),
    ];
    // Valid evidence, in the epoch's last block (height 11): 10 % of every delegation
    // (delegated and unbonding) is cut, half of the operator's part paid to the reporter, the
    // rest burnt; the supply
    // holds (checked in every block). The unbonding amount, cut, is then paid back.
    let burnt = n.chain.burnt(n.height()).unwrap();
    let before = n.balance(2);
    let unbonding_owner = n.balance(1);
    let valid = evidence(&a, signed(&a, p, 3, &h1), signed(&a, p, 3, &h2));
    let t = n.sign(2, valid.clone());
    let r = n.block(vec![t]);
    let cut = (230 + 20) * TOKEN / 10;
    // The reporter earns half of the operator's own loss (its 200 tokens of self-stake), not of
    // its delegators'.
    let reward = 200 * TOKEN / 10 / 2;
    assert_eq!(r, vec![Ok(reward.encode())]);
    assert_eq!(n.balance(2), before + reward - n.fees[0]);
    assert_eq!(n.chain.burnt(n.height()).unwrap(), burnt + n.fees[0] + (cut - reward));
    let (v, ds) = n.registry().into_iter().find(|(v, _)| v.key == key).unwrap();
    assert!(v.slashed);
    assert_eq!(v.total, 230 * TOKEN * 9 / 10);
    let d = &ds.iter().find(|(w, _)| *w == addr(&n.users[1])).unwrap().1;
    assert_eq!((d.amount, d.unbonding.len()), (27 * TOKEN, 0));
    assert_eq!(n.balance(1), unbonding_owner + 18 * TOKEN);

    let txs: Vec<_> = forged.iter().map(|(e, _)| n.sign(2, e.clone())).collect();
    let r = n.block(txs);
    assert_eq!(r.len(), forged.len());
    for ((_, needle), r) in forged.iter().zip(&r) {
        failed(r, needle);
    }

    // Once per offense; a slashed validator takes no delegations and is not elected.
    let in_commit = match evidence(&a, signed(&a, Phase::Commit, 3, &h1), signed(&a, Phase::Commit, 3, &h2)) {
        StakeAction::ReportDoubleSign(mut ev) => {
            ev.phase = Phase::Commit;
            StakeAction::ReportDoubleSign(ev)
        }
        _ => unreachable!("evidence() makes a report"),
    };
    let t = vec![
        n.sign(2, valid),
        // The same equivocation shown in another phase is the same offense.
        n.sign(2, in_commit),
        n.sign(
            1,
            StakeAction::Delegate {
                key,
                amount: 10 * TOKEN,
            },
        ),
    ];
    let r = n.block(t);
    failed(&r[0], "already slashed");
    failed(&r[1], "already slashed");
    failed(&r[2], "slashed for double signing");
    while n.height() < 15 {
        n.block(vec![]);
    }
    let elected = n
        .chain
        .read_beacon(n.height(), |b: &dyn BeaconRead| b.assignment(5))
        .unwrap()
        .unwrap();
    assert!(
        elected.concat().iter().all(|e| e.key != key),
        "a slashed validator is not elected"
    );

    // Stale: an offense in epoch 2 reported in epoch 4, with one epoch of unbonding.
    let mut h3 = h2.clone();
    h3.view = 9;
    let stale = evidence(&a, signed(&a, p, 3, &h1), signed(&a, p, 3, &h3));
    let t = n.sign(2, stale);
    assert_eq!(n.height(), 15);
    failed(&n.block(vec![t])[0], "evidence older than epoch 3 is stale");
}

#[test]
fn an_operator_reporting_itself_cuts_its_delegators_once_and_only_where_it_sits() {
    let mut n = Net::new();
    let a = SecretKey::from_seed(&[1; 32]);
    let key = a.public_key().to_bytes();
    let t = vec![
        n.sign(0, create(&a, &a, 200 * TOKEN, "alpha")),
        n.sign(
            1,
            StakeAction::Delegate {
                key,
                amount: 100 * TOKEN,
            },
        ),
    ];
    assert_eq!(n.block(t), vec![Ok(vec![]), Ok(vec![])]);
    // Alpha serves shard 0 in epoch 2 (blocks 8 to 11).
    while n.height() < 8 {
        n.block(vec![]);
    }
    let p = Phase::Prepare;
    let template = n.genesis.header_of(0, Hash::ZERO);
    let pair = |height: u64, epoch: u64, chain_id: u64| {
        let mut h1 = template.clone();
        (h1.height, h1.epoch, h1.chain_id) = (height, epoch, chain_id);
        let mut h2 = h1.clone();
        h2.timestamp_ms += 1;
        evidence(&a, signed(&a, p, 3, &h1), signed(&a, p, 3, &h2))
    };
    // Signatures where alpha holds no seat (epoch 1: the genesis committee), or of another
    // chain, are no evidence.
    let t = vec![n.sign(0, pair(5, 1, 7)), n.sign(0, pair(9, 2, 8))];
    let r = n.block(t);
    failed(&r[0], "holds no seat on shard 0 in epoch 1");
    failed(&r[1], "chain 8, this is chain 7");
    // The operator signs made-up pairs at five heights and reports them all: one cut.
    let delegated = |n: &Net| {
        let (v, ds) = n.registry().into_iter().find(|(v, _)| v.key == key).unwrap();
        (
            v.slashed,
            ds.iter().find(|(w, _)| *w == addr(&n.users[1])).unwrap().1.amount,
        )
    };
    assert_eq!(delegated(&n), (false, 100 * TOKEN));
    let operator_before = n.balance(0);
    let t: Vec<_> = (0..5).map(|i| n.sign(0, pair(8 + i % 4, 2, 7))).collect();
    let r = n.block(t);
    // The reward is half of the operator's own cut (20 of its 200 tokens), so reporting itself
    // costs it 20 and earns it 10: never worth it.
    assert_eq!(r[0], Ok((10 * TOKEN).encode()));
    let fees: Amount = n.fees.iter().sum();
    assert_eq!(n.balance(0), operator_before + 10 * TOKEN - fees);
    for later in &r[1..] {
        failed(later, "already slashed for double signing; a validator is slashed once");
    }
    assert_eq!(delegated(&n), (true, 90 * TOKEN), "cut once: 10 %, not 1 - 0.9^5");
}

/// A commit certificate of a committee of one (`key`) for `header` in view 0.
fn cert_of_one(key: &SecretKey, header: &BlockHeader) -> tutti_primitives::CommitCertificate {
    let (tag, msg) = Phase::Commit.signed(header.height, 0, &header.hash());
    tutti_primitives::CommitCertificate {
        view: 0,
        signature: key.sign(tag, &msg).to_bytes(),
        signers: vec![1],
    }
}

/// Checks a certificate of a committee of one: shard `s`'s validator `keys[s]`.
fn check_one(keys: &[SecretKey], h: &BlockHeader, c: &tutti_primitives::CommitCertificate) -> Result<(), String> {
    let (tag, msg) = Phase::Commit.signed(h.height, c.view, &h.hash());
    let key = keys.get(h.shard_id as usize).ok_or("no such shard")?;
    let sig = tutti_crypto::bls::Signature::from_bytes(&c.signature).map_err(|e| e.to_string())?;
    (c.signers == vec![1] && key.public_key().verify(tag, &msg, &sig))
        .then_some(())
        .ok_or_else(|| "the certificate does not verify".to_string())
}

#[test]
fn crosslinks_extend_each_shard_once_reward_its_signers_and_forgeries_are_refused() {
    use tutti_chain::block::{BlockError, CrosslinkError};
    let keys = [SecretKey::from_seed(&[70; 32]), SecretKey::from_seed(&[71; 32])];
    let reward = 1_000 * TOKEN;
    let genesis = Genesis {
        chain_id: 7,
        num_shards: 2,
        timestamp_ms: 1_000,
        accounts: vec![],
        validators: keys
            .iter()
            .enumerate()
            .map(|(s, k)| GenesisValidator {
                bls_public_key: format!("0x{}", hex::encode(k.public_key().to_bytes())),
                stake: (500 * TOKEN).to_string(),
                shard: s as u32,
                bls_pop: None,
                operator: None,
            })
            .collect(),
        params: GenesisParams {
            block_reward: reward.to_string(),
            ..GenesisParams::default()
        },
    };
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let beacon = Chain::open_shard(Arc::new(MemStore::new()), &genesis, 0).unwrap();
    let shard = Chain::open_shard(Arc::new(MemStore::new()), &genesis, 1).unwrap();
    let check = |h: &BlockHeader, c: &tutti_primitives::CommitCertificate| check_one(&keys, h, c);
    // Three blocks of shard 1, each with its certificate.
    let mut links = Vec::new();
    for t in 1..=3u64 {
        let b = block::build(
            &shard,
            &runtime,
            &keys[1],
            vec![],
            vec![],
            vec![Crosslink {
                header: shard.head().header.clone(),
                cert: cert_of_one(&keys[1], &shard.head().header),
            }],
            Default::default(),
            2_000 + t,
            true,
            0,
            shard.head().commit.clone(),
        )
        .unwrap();
        assert!(b.crosslinks.is_empty(), "a shard block carries no crosslinks");
        let cert = cert_of_one(&keys[1], &b.header);
        let mut out = b.output;
        shard
            .commit(
                &StoredBlock {
                    header: b.header.clone(),
                    txs: vec![],
                    incoming: vec![],
                    crosslinks: vec![],
                    commit: Some(cert.clone()),
                },
                &mut out,
            )
            .unwrap();
        links.push(Crosslink { header: b.header, cert });
    }
    assert_eq!(
        beacon.crosslinked(1).unwrap().unwrap().0,
        0,
        "the genesis block is the first crosslink"
    );
    // A beacon block carries the first two.
    let b = block::build(
        &beacon,
        &runtime,
        &keys[0],
        vec![],
        vec![],
        links[..2].to_vec(),
        Default::default(),
        5_000,
        true,
        0,
        None,
    )
    .unwrap();
    let validate =
        |h: &BlockHeader, l: &[Crosslink]| block::validate(&beacon, &runtime, h, &[], &[], l, None, |_| false, &check);
    let mut out = validate(&b.header, &b.crosslinks).expect("a valid beacon block");
    // Forgeries, each refused by the rule it breaks.
    let refused = |l: Vec<Crosslink>| {
        let mut h = b.header.clone();
        h.crosslinks_root = tutti_primitives::crosslinks_root(&l);
        validate(&h, &l).unwrap_err()
    };
    let mut forged = links[0].clone();
    forged.cert = cert_of_one(&keys[0], &forged.header);
    assert!(matches!(
        refused(vec![forged]),
        BlockError::Crosslink {
            error: CrosslinkError::Certificate { .. },
            ..
        }
    ));
    assert!(matches!(
        refused(vec![links[1].clone()]),
        BlockError::Crosslink {
            error: CrosslinkError::NotNext { expected: 1, .. },
            ..
        }
    ));
    assert!(matches!(
        refused(vec![links[0].clone(), links[0].clone()]),
        BlockError::Crosslink {
            index: 1,
            error: CrosslinkError::NotNext { .. }
        }
    ));
    let mut beacon_header = links[0].clone();
    beacon_header.header.shard_id = 0;
    assert!(matches!(
        refused(vec![beacon_header]),
        BlockError::Crosslink {
            error: CrosslinkError::WrongPlace { shard: 0, .. },
            ..
        }
    ));
    assert!(matches!(
        validate(&b.header, &links[..1]).unwrap_err(),
        BlockError::CrosslinksRoot { .. }
    ));
    // Committed: the shard's latest crosslink moves on, its signer earns the reward of each
    // block, and the supply holds: genesis + issued - burnt.
    beacon
        .commit(
            &StoredBlock {
                header: b.header.clone(),
                txs: vec![],
                incoming: vec![],
                crosslinks: b.crosslinks.clone(),
                commit: Some(cert_of_one(&keys[0], &b.header)),
            },
            &mut out,
        )
        .unwrap();
    let head = beacon.head().header.height;
    assert_eq!(beacon.crosslinked(1).unwrap().unwrap(), (2, links[1].header.hash()));
    assert_eq!(beacon.issued(head).unwrap(), 2 * reward);
    let unpaid = |k: &SecretKey| {
        beacon
            .read_beacon(beacon.head().header.height, |b: &dyn BeaconRead| b.validators())
            .unwrap()
            .into_iter()
            .find(|(v, _)| v.key == k.public_key().to_bytes())
            .unwrap()
            .1
            .iter()
            .map(|(_, d)| d.reward)
            .sum::<Amount>()
    };
    assert_eq!((unpaid(&keys[1]), unpaid(&keys[0])), (2 * reward, 0));
    // The next beacon block carries the third, and rewards block 1's beacon signer through its
    // parent certificate.
    let parent_commit = beacon.head().commit.clone();
    let b2 = block::build(
        &beacon,
        &runtime,
        &keys[0],
        vec![],
        vec![],
        links[2..].to_vec(),
        Default::default(),
        6_000,
        true,
        0,
        parent_commit,
    )
    .unwrap();
    let mut out = validate(&b2.header, &b2.crosslinks).expect("valid");
    let mut bad_parent = b2.header.clone();
    bad_parent.parent_commit = Some(cert_of_one(&keys[1], &b.header));
    assert!(matches!(
        validate(&bad_parent, &b2.crosslinks).unwrap_err(),
        BlockError::ParentCommit(_)
    ));
    beacon
        .commit(
            &StoredBlock {
                header: b2.header.clone(),
                txs: vec![],
                incoming: vec![],
                crosslinks: b2.crosslinks,
                commit: None,
            },
            &mut out,
        )
        .unwrap();
    assert_eq!(beacon.crosslinked(1).unwrap().unwrap().0, 3);
    assert_eq!((unpaid(&keys[1]), unpaid(&keys[0])), (3 * reward, reward));
    // Uptime: shard 1's validator sat in and signed three crosslinked blocks, the beacon's one.
    let uptime = |k: &SecretKey| {
        beacon
            .read_beacon(beacon.head().header.height, |b: &dyn BeaconRead| {
                b.validator(&k.public_key().to_bytes())
            })
            .unwrap()
            .map(|v| (v.blocks_seated, v.blocks_signed))
            .unwrap()
    };
    assert_eq!((uptime(&keys[1]), uptime(&keys[0])), ((3, 3), (1, 1)));
    assert_eq!(beacon.issued(beacon.head().header.height).unwrap(), 4 * reward);
}
