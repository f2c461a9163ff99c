//! Staking on the beacon chain, as pure state transitions over a [`StakeStore`]: validators
//! (a BLS key with its proof of possession, an operator account, a commission, a name),
//! delegations to them, undelegations locked for an unbonding period counted in epochs, rewards
//! split between commission and delegators, and the stake snapshot the election reads
//! ([`candidates`]).
//!
//! Money only moves between an account's spendable balance and its stake records, so at every
//! step: spendable balances + delegated + unbonding + unpaid rewards = what there was + rewards
//! distributed (the property tests check it over random operation sequences). Every rule a user
//! can break is a typed [`StakingError`] that says what to change.
//!
//! The transactions that call these are `Action::Stake` on the beacon chain
//! ([`crate::beacon::apply_action`]); the last beacon block of each epoch calls
//! [`release_unbonded`] and elects from [`candidates`]. Not wired yet: reward issuance
//! ([`distribute_reward`]) and slashing.

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{Address, Amount};

use crate::election::Candidate;

/// A BLS public key (compressed G1).
pub type BlsKey = [u8; 48];

/// Commission is in basis points: 10,000 = 100 %.
pub const MAX_BPS: u16 = 10_000;

/// The longest validator name, bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// Staking parameters (from the genesis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StakingParams {
    /// Least self-stake to create a validator, and to stand for election.
    pub min_self_stake: Amount,
    /// Least amount of one delegation.
    pub min_delegation: Amount,
    /// Epochs an undelegated amount stays locked.
    pub unbonding_epochs: u64,
}

/// A registered validator.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Validator {
    /// Its BLS key (one seat per key).
    pub key: BlsKey,
    /// The account that created it and may edit it; its self-stake is its delegation.
    pub operator: Address,
    /// A display name.
    pub name: String,
    /// Commission on rewards, basis points.
    pub commission_bps: u16,
    /// The highest commission it may ever set (fixed at creation).
    pub max_commission_bps: u16,
    /// The most the commission may change within one epoch (fixed at creation).
    pub max_change_bps: u16,
    /// The commission at the start of `epoch_of_rate`, what this epoch's edits are bounded by.
    pub rate_at_epoch_start: (u64, u16),
    /// Sum of its delegations (self-stake included).
    pub total: Amount,
    /// Punished for double signing: it never stands for election again and takes no new
    /// delegations.
    pub slashed: bool,
    /// Its proof of possession of the key (all zeros for a genesis validator that gave none,
    /// which may then only sit alone in a committee).
    pub proof: [u8; 96],
    /// Crosslinked (and beacon) blocks whose committee it sat in.
    pub blocks_seated: u64,
    /// Of those, the ones whose certificate holds its signature.
    pub blocks_signed: u64,
}

/// One account's delegation to one validator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Delegation {
    /// Delegated (earning, counted in the election).
    pub amount: Amount,
    /// Rewards earned, not yet collected.
    pub reward: Amount,
    /// Undelegated amounts and the epoch from which each is paid back.
    pub unbonding: Vec<(Amount, u64)>,
}

impl Delegation {
    fn is_empty(&self) -> bool {
        self.amount == 0 && self.reward == 0 && self.unbonding.is_empty()
    }
}

/// Where staking reads and writes: spendable balances, validators, delegations.
pub trait StakeStore {
    /// An account's spendable balance.
    fn balance(&self, a: &Address) -> Amount;
    /// Sets an account's spendable balance.
    fn set_balance(&mut self, a: &Address, balance: Amount);
    /// A validator, if registered.
    fn validator(&self, key: &BlsKey) -> Option<Validator>;
    /// Stores a validator.
    fn put_validator(&mut self, v: &Validator);
    /// Every validator, in key order.
    fn validators(&self) -> Vec<Validator>;
    /// `who`'s delegation to `key`.
    fn delegation(&self, key: &BlsKey, who: &Address) -> Option<Delegation>;
    /// Stores (or, `None`, removes) a delegation.
    fn put_delegation(&mut self, key: &BlsKey, who: &Address, d: Option<&Delegation>);
    /// Every delegation to `key`, in delegator order.
    fn delegations(&self, key: &BlsKey) -> Vec<(Address, Delegation)>;
}

/// A staking rule broken (nothing changed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StakingError {
    /// The amount is below the minimum.
    #[error("{what} of {got} is below the minimum of {min}")]
    BelowMinimum {
        /// Self-stake or delegation.
        what: &'static str,
        /// Asked.
        got: Amount,
        /// Minimum.
        min: Amount,
    },
    /// The key is already a validator's.
    #[error("the BLS key {key} is already registered; each key is one validator")]
    KeyRegistered {
        /// The key, hex.
        key: String,
    },
    /// The proof of possession does not verify for the key.
    #[error("the proof of possession does not verify for this BLS key: sign the key with itself")]
    BadProofOfPossession,
    /// A commission outside `0..=max`.
    #[error("commission {got} bps is above the maximum of {max} bps")]
    CommissionTooHigh {
        /// Asked.
        got: u16,
        /// Maximum.
        max: u16,
    },
    /// A commission change larger than allowed within one epoch.
    #[error(
        "commission may move at most {max_change} bps per epoch from {from} bps (this epoch's start), not to {to} bps"
    )]
    CommissionChangeTooLarge {
        /// The rate at the epoch's start.
        from: u16,
        /// Asked.
        to: u16,
        /// Allowed change.
        max_change: u16,
    },
    /// The name is too long.
    #[error("the name is {len} bytes; at most {MAX_NAME_BYTES}")]
    NameTooLong {
        /// Its length.
        len: usize,
    },
    /// No validator with this key.
    #[error("no validator has the BLS key {key}")]
    UnknownValidator {
        /// The key, hex.
        key: String,
    },
    /// Only the operator may edit a validator.
    #[error("only the validator's operator {operator} may edit it")]
    NotOperator {
        /// The operator.
        operator: Address,
    },
    /// The spendable balance does not cover the amount.
    #[error("the spendable balance {balance} does not cover {needed}")]
    InsufficientBalance {
        /// Spendable.
        balance: Amount,
        /// Needed.
        needed: Amount,
    },
    /// Undelegating more than is delegated.
    #[error("cannot undelegate {asked}: {delegated} is delegated to this validator")]
    UndelegateTooMuch {
        /// Delegated.
        delegated: Amount,
        /// Asked.
        asked: Amount,
    },
    /// Nothing to collect.
    #[error("no rewards to collect")]
    NothingToCollect,
    /// Delegating to a validator slashed for double signing.
    #[error("validator {key} was slashed for double signing and takes no delegations")]
    Slashed {
        /// The key, hex.
        key: String,
    },
    /// Evidence of double signing that does not hold.
    #[error("the evidence is refused: {0}")]
    Evidence(#[from] crate::slashing::EvidenceError),
    /// The key of the evidence is not a registered validator.
    #[error("the reported key is not a registered validator")]
    NotAValidator,
    /// The validator was already slashed (tombstoned): it is never slashed again.
    #[error("validator {key} was already slashed for double signing; a validator is slashed once")]
    Tombstoned {
        /// The key, hex.
        key: String,
    },
    /// The key held no seat where the evidence says it signed.
    #[error("the reported key holds no seat on shard {shard} in epoch {epoch}")]
    NotSeated {
        /// The shard of the evidence.
        shard: tutti_primitives::ShardId,
        /// The epoch of the evidence.
        epoch: u64,
    },
    /// This offense was already punished.
    #[error("this double signing was already reported and punished")]
    AlreadyReported,
    /// Evidence older than the unbonding period.
    #[error("the evidence is from epoch {epoch}; evidence older than epoch {oldest} is stale")]
    StaleEvidence {
        /// The offense's epoch.
        epoch: u64,
        /// The oldest epoch still punishable.
        oldest: u64,
    },
    /// A delegation or undelegation of nothing.
    #[error("the amount is 0; delegate or undelegate a positive amount")]
    ZeroAmount,
    /// An amount that overflows the books (cannot happen with a real supply).
    #[error("the amount overflows")]
    Overflow,
}

impl StakingError {
    /// Whether no transaction still pending can make the action valid (a bad proof, an amount
    /// below a minimum, a key already taken...), so a pool may refuse it at once; the other
    /// rules depend on what runs before it (a validator being created, a delegation arriving).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            StakingError::BelowMinimum { .. }
                | StakingError::KeyRegistered { .. }
                | StakingError::BadProofOfPossession
                | StakingError::NameTooLong { .. }
                | StakingError::ZeroAmount
                | StakingError::Overflow
                | StakingError::CommissionTooHigh { .. }
                | StakingError::Evidence(_)
                | StakingError::NotAValidator
                | StakingError::StaleEvidence { .. }
                | StakingError::Slashed { .. }
                | StakingError::Tombstoned { .. }
                | StakingError::NotSeated { .. }
        )
    }
}

fn hex_key(key: &BlsKey) -> String {
    format!("0x{}", hex::encode(key))
}

fn add(a: Amount, b: Amount) -> Result<Amount, StakingError> {
    a.checked_add(b).ok_or(StakingError::Overflow)
}

fn take(st: &mut impl StakeStore, who: &Address, amount: Amount) -> Result<(), StakingError> {
    let balance = st.balance(who);
    let left = balance.checked_sub(amount).ok_or(StakingError::InsufficientBalance {
        balance,
        needed: amount,
    })?;
    st.set_balance(who, left);
    Ok(())
}

fn give(st: &mut impl StakeStore, who: &Address, amount: Amount) -> Result<(), StakingError> {
    let b = add(st.balance(who), amount)?;
    st.set_balance(who, b);
    Ok(())
}

/// What a new validator declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewValidator {
    /// BLS key.
    pub key: BlsKey,
    /// Whether the proof of possession verified (the caller checks it with the BLS crate).
    pub pop_verified: bool,
    /// The proof of possession itself (committees aggregate the key only with it).
    pub proof: [u8; 96],
    /// Self-stake, taken from the operator's balance.
    pub self_stake: Amount,
    /// Commission, basis points.
    pub commission_bps: u16,
    /// Highest commission ever.
    pub max_commission_bps: u16,
    /// Most change per epoch.
    pub max_change_bps: u16,
    /// Display name.
    pub name: String,
}

/// The rules an action breaks whatever the state: a name too long, a commission above its own
/// maximum or above 100 %, a zero amount. Checked when a transaction is admitted (and again,
/// with everything else, when it runs).
pub fn check_action(action: &tutti_primitives::StakeAction) -> Result<(), StakingError> {
    use tutti_primitives::StakeAction as A;
    match action {
        A::CreateValidator {
            commission_bps,
            max_commission_bps,
            name,
            ..
        } => {
            if *max_commission_bps > MAX_BPS {
                return Err(StakingError::CommissionTooHigh {
                    got: *max_commission_bps,
                    max: MAX_BPS,
                });
            }
            if commission_bps > max_commission_bps {
                return Err(StakingError::CommissionTooHigh {
                    got: *commission_bps,
                    max: *max_commission_bps,
                });
            }
            if name.len() > MAX_NAME_BYTES {
                return Err(StakingError::NameTooLong { len: name.len() });
            }
        }
        A::EditValidator {
            commission_bps, name, ..
        } => {
            if commission_bps.is_some_and(|c| c > MAX_BPS) {
                return Err(StakingError::CommissionTooHigh {
                    got: commission_bps.unwrap_or_default(),
                    max: MAX_BPS,
                });
            }
            if let Some(name) = name
                && name.len() > MAX_NAME_BYTES
            {
                return Err(StakingError::NameTooLong { len: name.len() });
            }
        }
        A::Delegate { amount, .. } | A::Undelegate { amount, .. } if *amount == 0 => {
            return Err(StakingError::ZeroAmount);
        }
        _ => {}
    }
    Ok(())
}

/// Registers a validator operated by `operator` with its self-stake, at `epoch`.
pub fn create_validator(
    st: &mut impl StakeStore,
    params: &StakingParams,
    operator: &Address,
    v: NewValidator,
    epoch: u64,
) -> Result<(), StakingError> {
    if !v.pop_verified {
        return Err(StakingError::BadProofOfPossession);
    }
    if st.validator(&v.key).is_some() {
        return Err(StakingError::KeyRegistered { key: hex_key(&v.key) });
    }
    if v.self_stake < params.min_self_stake {
        return Err(StakingError::BelowMinimum {
            what: "self-stake",
            got: v.self_stake,
            min: params.min_self_stake,
        });
    }
    if v.max_commission_bps > MAX_BPS {
        return Err(StakingError::CommissionTooHigh {
            got: v.max_commission_bps,
            max: MAX_BPS,
        });
    }
    if v.commission_bps > v.max_commission_bps {
        return Err(StakingError::CommissionTooHigh {
            got: v.commission_bps,
            max: v.max_commission_bps,
        });
    }
    if v.name.len() > MAX_NAME_BYTES {
        return Err(StakingError::NameTooLong { len: v.name.len() });
    }
    take(st, operator, v.self_stake)?;
    st.put_validator(&Validator {
        key: v.key,
        operator: *operator,
        name: v.name,
        commission_bps: v.commission_bps,
        max_commission_bps: v.max_commission_bps,
        max_change_bps: v.max_change_bps,
        rate_at_epoch_start: (epoch, v.commission_bps),
        total: v.self_stake,
        slashed: false,
        proof: v.proof,
        blocks_seated: 0,
        blocks_signed: 0,
    });
    st.put_delegation(
        &v.key,
        operator,
        Some(&Delegation {
            amount: v.self_stake,
            ..Delegation::default()
        }),
    );
    Ok(())
}

/// Changes a validator's commission and/or name (its operator only), at `epoch`.
pub fn edit_validator(
    st: &mut impl StakeStore,
    operator: &Address,
    key: &BlsKey,
    commission_bps: Option<u16>,
    name: Option<String>,
    epoch: u64,
) -> Result<(), StakingError> {
    let mut v = st
        .validator(key)
        .ok_or_else(|| StakingError::UnknownValidator { key: hex_key(key) })?;
    if &v.operator != operator {
        return Err(StakingError::NotOperator { operator: v.operator });
    }
    if v.rate_at_epoch_start.0 != epoch {
        v.rate_at_epoch_start = (epoch, v.commission_bps);
    }
    if let Some(rate) = commission_bps {
        if rate > v.max_commission_bps {
            return Err(StakingError::CommissionTooHigh {
                got: rate,
                max: v.max_commission_bps,
            });
        }
        let from = v.rate_at_epoch_start.1;
        if rate.abs_diff(from) > v.max_change_bps {
            return Err(StakingError::CommissionChangeTooLarge {
                from,
                to: rate,
                max_change: v.max_change_bps,
            });
        }
        v.commission_bps = rate;
    }
    if let Some(name) = name {
        if name.len() > MAX_NAME_BYTES {
            return Err(StakingError::NameTooLong { len: name.len() });
        }
        v.name = name;
    }
    st.put_validator(&v);
    Ok(())
}

/// Delegates `amount` of `who`'s balance to the validator `key`.
pub fn delegate(
    st: &mut impl StakeStore,
    params: &StakingParams,
    who: &Address,
    key: &BlsKey,
    amount: Amount,
) -> Result<(), StakingError> {
    let mut v = st
        .validator(key)
        .ok_or_else(|| StakingError::UnknownValidator { key: hex_key(key) })?;
    if v.slashed {
        return Err(StakingError::Slashed { key: hex_key(key) });
    }
    if amount < params.min_delegation {
        return Err(StakingError::BelowMinimum {
            what: "delegation",
            got: amount,
            min: params.min_delegation,
        });
    }
    let mut d = st.delegation(key, who).unwrap_or_default();
    d.amount = add(d.amount, amount)?;
    v.total = add(v.total, amount)?;
    take(st, who, amount)?;
    st.put_delegation(key, who, Some(&d));
    st.put_validator(&v);
    Ok(())
}

/// Undelegates `amount` at `epoch`: it stops counting at once and is paid back from epoch
/// `epoch + unbonding_epochs` ([`release_unbonded`]).
pub fn undelegate(
    st: &mut impl StakeStore,
    params: &StakingParams,
    who: &Address,
    key: &BlsKey,
    amount: Amount,
    epoch: u64,
) -> Result<(), StakingError> {
    let mut v = st
        .validator(key)
        .ok_or_else(|| StakingError::UnknownValidator { key: hex_key(key) })?;
    let mut d = st.delegation(key, who).unwrap_or_default();
    if amount == 0 || amount > d.amount {
        return Err(StakingError::UndelegateTooMuch {
            delegated: d.amount,
            asked: amount,
        });
    }
    d.amount -= amount;
    v.total -= amount;
    d.unbonding
        .push((amount, epoch.saturating_add(params.unbonding_epochs)));
    st.put_delegation(key, who, Some(&d));
    st.put_validator(&v);
    Ok(())
}

/// Pays `who` the rewards of all its delegations; returns the amount.
pub fn collect_rewards(st: &mut impl StakeStore, who: &Address) -> Result<Amount, StakingError> {
    let mut total: Amount = 0;
    for v in st.validators() {
        if let Some(mut d) = st.delegation(&v.key, who)
            && d.reward > 0
        {
            total = add(total, d.reward)?;
            d.reward = 0;
            st.put_delegation(&v.key, who, (!d.is_empty()).then_some(&d));
        }
    }
    if total == 0 {
        return Err(StakingError::NothingToCollect);
    }
    give(st, who, total)?;
    Ok(total)
}

/// Pays back, once, every undelegated amount whose lock ends at or before `epoch`; returns the
/// total paid.
pub fn release_unbonded(st: &mut impl StakeStore, epoch: u64) -> Result<Amount, StakingError> {
    let mut paid: Amount = 0;
    for v in st.validators() {
        for (who, mut d) in st.delegations(&v.key) {
            let due: Amount = d.unbonding.iter().filter(|(_, at)| *at <= epoch).map(|(a, _)| *a).sum();
            if due == 0 {
                continue;
            }
            d.unbonding.retain(|(_, at)| *at > epoch);
            give(st, &who, due)?;
            paid = add(paid, due)?;
            st.put_delegation(&v.key, &who, (!d.is_empty()).then_some(&d));
        }
    }
    Ok(paid)
}

/// Credits a validator's reward: its commission to the operator's delegation, the rest to its
/// delegators in proportion to their amounts (the rounding remainder to the operator). Nothing
/// is paid out until collected.
pub fn distribute_reward(st: &mut impl StakeStore, key: &BlsKey, reward: Amount) -> Result<(), StakingError> {
    let v = st
        .validator(key)
        .ok_or_else(|| StakingError::UnknownValidator { key: hex_key(key) })?;
    if reward == 0 {
        return Ok(());
    }
    let commission = mul_div(reward, u128::from(v.commission_bps), u128::from(MAX_BPS));
    let shared = reward - commission;
    let mut given: Amount = 0;
    let delegations = st.delegations(key);
    for (who, mut d) in delegations.iter().cloned() {
        if d.amount == 0 || v.total == 0 {
            continue;
        }
        let part = mul_div(shared, d.amount, v.total);
        given = add(given, part)?;
        d.reward = add(d.reward, part)?;
        st.put_delegation(key, &who, Some(&d));
    }
    let mut op = st.delegation(key, &v.operator).unwrap_or_default();
    op.reward = add(op.reward, reward - given)?;
    st.put_delegation(key, &v.operator, Some(&op));
    Ok(())
}

/// `a * b / c`, exact (the product may pass 128 bits: stakes and rewards are counted in 10^-18
/// tokens). `c > 0`, `b <= c`, so the result fits.
pub(crate) fn mul_div(a: Amount, b: Amount, c: Amount) -> Amount {
    match a.checked_mul(b) {
        Some(p) => p / c,
        None => {
            let q = num_bigint::BigUint::from(a) * b / c;
            u128::try_from(q).expect("b <= c, so a * b / c <= a")
        }
    }
}

/// The election's candidates: every validator whose operator keeps at least the minimum
/// self-stake, with its total delegated stake.
pub fn candidates(st: &impl StakeStore, params: &StakingParams) -> Vec<Candidate> {
    st.validators()
        .into_iter()
        .filter(|v| {
            !v.slashed
                && st
                    .delegation(&v.key, &v.operator)
                    .is_some_and(|d| d.amount >= params.min_self_stake)
        })
        .map(|v| Candidate {
            key: v.key,
            stake: v.total,
        })
        .collect()
}

/// An in-memory [`StakeStore`] (tests, tools).
#[derive(Clone, Debug, Default)]
pub struct MemStakes {
    /// Spendable balances.
    pub balances: std::collections::BTreeMap<Address, Amount>,
    /// Validators by key.
    pub validators: std::collections::BTreeMap<BlsKey, Validator>,
    /// Delegations by (validator, delegator).
    pub delegations: std::collections::BTreeMap<(BlsKey, Address), Delegation>,
}

impl StakeStore for MemStakes {
    fn balance(&self, a: &Address) -> Amount {
        self.balances.get(a).copied().unwrap_or(0)
    }
    fn set_balance(&mut self, a: &Address, balance: Amount) {
        self.balances.insert(*a, balance);
    }
    fn validator(&self, key: &BlsKey) -> Option<Validator> {
        self.validators.get(key).cloned()
    }
    fn put_validator(&mut self, v: &Validator) {
        self.validators.insert(v.key, v.clone());
    }
    fn validators(&self) -> Vec<Validator> {
        self.validators.values().cloned().collect()
    }
    fn delegation(&self, key: &BlsKey, who: &Address) -> Option<Delegation> {
        self.delegations.get(&(*key, *who)).cloned()
    }
    fn put_delegation(&mut self, key: &BlsKey, who: &Address, d: Option<&Delegation>) {
        match d {
            Some(d) => self.delegations.insert((*key, *who), d.clone()),
            None => self.delegations.remove(&(*key, *who)),
        };
    }
    fn delegations(&self, key: &BlsKey) -> Vec<(Address, Delegation)> {
        self.delegations
            .range((*key, Address([0; 32]))..=(*key, Address([0xff; 32])))
            .map(|((_, who), d)| (*who, d.clone()))
            .collect()
    }
}
