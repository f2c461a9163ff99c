//! Staking transitions: each rule refused with its typed reason, rewards split exactly, unbonding
//! paid back once, and (property tests) money conserved over random operation sequences.

use proptest::prelude::*;
use tutti_chain::staking::{
    self, BlsKey, Delegation, MemStakes, NewValidator, StakeStore, StakingError, StakingParams,
};
use tutti_primitives::Address;

const PARAMS: StakingParams = StakingParams {
    min_self_stake: 1_000,
    min_delegation: 10,
    unbonding_epochs: 7,
};

fn acct(i: u8) -> Address {
    Address([i; 32])
}

fn key(i: u8) -> BlsKey {
    [i; 48]
}

fn new_validator(k: u8, self_stake: u128) -> NewValidator {
    NewValidator {
        key: key(k),
        pop_verified: true,
        proof: [0; 96],
        self_stake,
        commission_bps: 1_000,
        max_commission_bps: 2_000,
        max_change_bps: 500,
        name: format!("validator {k}"),
    }
}

fn funded() -> MemStakes {
    let mut st = MemStakes::default();
    for i in 1..=3 {
        st.set_balance(&acct(i), 1_000_000);
    }
    st
}

/// Spendable + delegated + unbonding + unpaid rewards, over every account.
fn books(st: &MemStakes) -> u128 {
    let held: u128 = st.balances.values().sum();
    let staked: u128 = st
        .delegations
        .values()
        .map(|d| d.amount + d.reward + d.unbonding.iter().map(|(a, _)| a).sum::<u128>())
        .sum();
    held + staked
}

#[test]
fn every_rule_is_refused_with_what_to_change() {
    let mut st = funded();
    let mut bad = new_validator(1, 5_000);
    bad.pop_verified = false;
    assert_eq!(
        staking::create_validator(&mut st, &PARAMS, &acct(1), bad, 0),
        Err(StakingError::BadProofOfPossession)
    );
    assert!(matches!(
        staking::create_validator(&mut st, &PARAMS, &acct(1), new_validator(1, 999), 0),
        Err(StakingError::BelowMinimum {
            what: "self-stake",
            got: 999,
            min: 1_000
        })
    ));
    let mut greedy = new_validator(1, 5_000);
    greedy.commission_bps = 3_000;
    assert!(matches!(
        staking::create_validator(&mut st, &PARAMS, &acct(1), greedy, 0),
        Err(StakingError::CommissionTooHigh { got: 3_000, max: 2_000 })
    ));
    let mut wordy = new_validator(1, 5_000);
    wordy.name = "x".repeat(65);
    assert!(matches!(
        staking::create_validator(&mut st, &PARAMS, &acct(1), wordy, 0),
        Err(StakingError::NameTooLong { len: 65 })
    ));
    assert!(matches!(
        staking::create_validator(&mut st, &PARAMS, &acct(1), new_validator(1, 2_000_000), 0),
        Err(StakingError::InsufficientBalance {
            balance: 1_000_000,
            needed: 2_000_000
        })
    ));
    assert_eq!(st.balance(&acct(1)), 1_000_000, "refusals change nothing");
    staking::create_validator(&mut st, &PARAMS, &acct(1), new_validator(1, 5_000), 0).unwrap();
    assert_eq!(st.balance(&acct(1)), 995_000);
    assert!(matches!(
        staking::create_validator(&mut st, &PARAMS, &acct(2), new_validator(1, 5_000), 0),
        Err(StakingError::KeyRegistered { .. })
    ));

    // Edits: the operator only, within the change per epoch measured from the epoch's start.
    assert!(matches!(
        staking::edit_validator(&mut st, &acct(2), &key(1), Some(1_100), None, 0),
        Err(StakingError::NotOperator { .. })
    ));
    staking::edit_validator(&mut st, &acct(1), &key(1), Some(1_500), None, 3).unwrap();
    assert!(matches!(
        staking::edit_validator(&mut st, &acct(1), &key(1), Some(1_600), None, 3),
        Err(StakingError::CommissionChangeTooLarge {
            from: 1_000,
            to: 1_600,
            max_change: 500
        })
    ));
    staking::edit_validator(&mut st, &acct(1), &key(1), Some(2_000), Some("renamed".into()), 4).unwrap();
    assert!(matches!(
        staking::edit_validator(&mut st, &acct(1), &key(9), None, None, 4),
        Err(StakingError::UnknownValidator { .. })
    ));

    // Delegations.
    assert!(matches!(
        staking::delegate(&mut st, &PARAMS, &acct(2), &key(1), 9),
        Err(StakingError::BelowMinimum { what: "delegation", .. })
    ));
    assert!(matches!(
        staking::delegate(&mut st, &PARAMS, &acct(2), &key(1), 2_000_000),
        Err(StakingError::InsufficientBalance { .. })
    ));
    staking::delegate(&mut st, &PARAMS, &acct(2), &key(1), 3_000).unwrap();
    assert_eq!(st.validator(&key(1)).unwrap().total, 8_000);
    assert!(matches!(
        staking::undelegate(&mut st, &PARAMS, &acct(2), &key(1), 3_001, 5),
        Err(StakingError::UndelegateTooMuch {
            delegated: 3_000,
            asked: 3_001
        })
    ));
    assert_eq!(
        staking::collect_rewards(&mut st, &acct(2)),
        Err(StakingError::NothingToCollect)
    );
}

#[test]
fn rewards_split_commission_and_shares_exactly_and_unbonding_pays_back_once() {
    let mut st = funded();
    staking::create_validator(&mut st, &PARAMS, &acct(1), new_validator(1, 1_000), 0).unwrap();
    staking::delegate(&mut st, &PARAMS, &acct(2), &key(1), 3_000).unwrap();
    // 10 % commission of 1,001: 100 to the operator; 901 shared 1:3 = 225 (operator) + 675, and
    // the remainder 1 to the operator.
    staking::distribute_reward(&mut st, &key(1), 1_001).unwrap();
    let reward = |who| st.delegation(&key(1), &acct(who)).unwrap().reward;
    assert_eq!((reward(1), reward(2)), (100 + 225 + 1, 675));
    // Huge amounts do not overflow (products past 128 bits are computed exactly).
    let mut big = MemStakes::default();
    let whale = 10u128.pow(30);
    big.set_balance(&acct(1), whale);
    big.set_balance(&acct(2), whale);
    staking::create_validator(&mut big, &PARAMS, &acct(1), new_validator(1, whale / 2), 0).unwrap();
    staking::delegate(&mut big, &PARAMS, &acct(2), &key(1), whale / 2).unwrap();
    staking::distribute_reward(&mut big, &key(1), 10u128.pow(28)).unwrap();
    let r2 = big.delegation(&key(1), &acct(2)).unwrap().reward;
    assert_eq!(r2, 10u128.pow(28) * 9 / 10 / 2);

    assert_eq!(staking::collect_rewards(&mut st, &acct(2)), Ok(675));
    assert_eq!(st.balance(&acct(2)), 1_000_000 - 3_000 + 675);
    staking::undelegate(&mut st, &PARAMS, &acct(2), &key(1), 1_000, 10).unwrap();
    assert_eq!(
        st.validator(&key(1)).unwrap().total,
        3_000,
        "undelegated stake stops counting"
    );
    assert_eq!(staking::release_unbonded(&mut st, 16), Ok(0), "locked for 7 epochs");
    assert_eq!(staking::release_unbonded(&mut st, 17), Ok(1_000));
    assert_eq!(staking::release_unbonded(&mut st, 17), Ok(0), "paid once");
    assert_eq!(st.balance(&acct(2)), 1_000_000 - 3_000 + 675 + 1_000);
}

#[test]
fn only_validators_keeping_their_self_stake_stand_for_election() {
    let mut st = funded();
    staking::create_validator(&mut st, &PARAMS, &acct(1), new_validator(1, 1_000), 0).unwrap();
    staking::create_validator(&mut st, &PARAMS, &acct(2), new_validator(2, 2_000), 0).unwrap();
    staking::delegate(&mut st, &PARAMS, &acct(3), &key(1), 50_000).unwrap();
    assert_eq!(staking::candidates(&st, &PARAMS).len(), 2);
    // The operator of 1 takes out its self-stake: its delegators' stake no longer elects it.
    staking::undelegate(&mut st, &PARAMS, &acct(1), &key(1), 1, 0).unwrap();
    let c = staking::candidates(&st, &PARAMS);
    assert_eq!(
        c.iter().map(|c| (c.key, c.stake)).collect::<Vec<_>>(),
        [(key(2), 2_000)]
    );
}

#[derive(Clone, Debug)]
enum Op {
    Create(u8, u8, u128),
    Delegate(u8, u8, u128),
    Undelegate(u8, u8, u128),
    Reward(u8, u128),
    Collect(u8),
    NextEpoch,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1..=3u8, 1..=2u8, 0..3_000u128).prop_map(|(a, k, s)| Op::Create(a, k, s)),
        (1..=3u8, 1..=2u8, 0..200_000u128).prop_map(|(a, k, s)| Op::Delegate(a, k, s)),
        (1..=3u8, 1..=2u8, 0..200_000u128).prop_map(|(a, k, s)| Op::Undelegate(a, k, s)),
        (1..=2u8, 0..10_000u128).prop_map(|(k, r)| Op::Reward(k, r)),
        (1..=3u8).prop_map(Op::Collect),
        Just(Op::NextEpoch),
    ]
}

proptest! {
    #[test]
    fn money_is_conserved_and_unbonding_paid_once(ops in proptest::collection::vec(op(), 1..80)) {
        let mut st = funded();
        let start = books(&st);
        let (mut epoch, mut rewarded) = (0u64, 0u128);
        for op in ops {
            let before = st.clone();
            let result = match op {
                Op::Create(a, k, s) => staking::create_validator(&mut st, &PARAMS, &acct(a), new_validator(k, s), epoch),
                Op::Delegate(a, k, s) => staking::delegate(&mut st, &PARAMS, &acct(a), &key(k), s),
                Op::Undelegate(a, k, s) => staking::undelegate(&mut st, &PARAMS, &acct(a), &key(k), s, epoch),
                Op::Reward(k, r) => staking::distribute_reward(&mut st, &key(k), r).map(|()| {
                    rewarded += r;
                }),
                Op::Collect(a) => staking::collect_rewards(&mut st, &acct(a)).map(|_| ()),
                Op::NextEpoch => {
                    epoch += 1;
                    let paid = staking::release_unbonded(&mut st, epoch).unwrap();
                    // Paid once: nothing due is left, and a second release pays nothing.
                    prop_assert!(st.delegations.values().all(|d| d.unbonding.iter().all(|(_, at)| *at > epoch)));
                    prop_assert_eq!(staking::release_unbonded(&mut st, epoch).unwrap(), 0);
                    let _ = paid;
                    Ok(())
                }
            };
            if result.is_err() {
                // A refused operation changes nothing.
                prop_assert_eq!(&st.balances, &before.balances);
                prop_assert_eq!(&st.validators, &before.validators);
                prop_assert_eq!(&st.delegations, &before.delegations);
            }
            prop_assert_eq!(books(&st), start + rewarded, "money appears or vanishes");
            for v in st.validators.values() {
                let delegated: u128 = st.delegations(&v.key).iter().map(|(_, d): &(Address, Delegation)| d.amount).sum();
                prop_assert_eq!(v.total, delegated, "a validator's total is its delegations");
            }
        }
    }
}
