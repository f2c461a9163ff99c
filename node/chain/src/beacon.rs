//! The beacon chain's state (shard 0): the staking registry kept in the authenticated state,
//! epochs, and what the last beacon block of each epoch does.
//!
//! Rules:
//! - Epoch `e` is the blocks at heights `e * L .. (e + 1) * L` (L = [`EpochSpec::epoch_blocks`],
//!   a genesis parameter); genesis is in epoch 0. Staking actions read the epoch of their block
//!   (unbonding ends, commission bounds).
//! - The registry lives under state keys `s/`: a validator at `s/v/` + key, the sorted key list
//!   at `s/vl`, a delegation at `s/d/` + key + delegator, the sorted delegators of a validator at
//!   `s/dl/` + key (the tree has no prefix iteration, so lists are kept explicitly). Balances are
//!   the accounts' own, so every staked, unbonding and unpaid amount is under the state root.
//! - The committees of epoch `e` (one list of elected keys and powers per shard) are at
//!   `e/a/` + `e` (big-endian), its election seed at `e/s/` + `e`. Genesis writes epochs 0 and 1
//!   (the genesis committees); the last beacon block of epoch `e` ([`end_epoch`]) first pays back
//!   the undelegations whose lock ends by `e + 1`, then elects epoch `e + 2` from the stake
//!   snapshot with the seed `blake3(EPOCH_SEED || scale((randomness, e + 2)))` and the churn bound
//!   against epoch `e + 1`; when the election cannot seat every shard, epoch `e + 1`'s committees
//!   carry over.
//! - Crosslinks: shard `s`'s latest crosslinked block is `c/` + `s` = `(height, hash)` (its
//!   genesis block at first); a beacon block's crosslinks extend it one block at a time. Each
//!   crosslinked block (and each beacon block, through its child's parent certificate) issues
//!   [`EpochSpec::block_reward`] to its signers by voting power ([`reward_signers`]), credited as
//!   staking rewards; the total issued is `z/issued`, so supply = genesis + issued - burnt. Each
//!   seated validator's counts of such blocks seated and signed are its uptime.

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{Account, Address, Amount, Hash, Height, ShardId, tagged_hash, tags::EPOCH_SEED};

use crate::{
    account::account_key,
    election::{self, Elected, ElectionError, ElectionParams},
    slashing,
    staking::{self, BlsKey, Delegation, StakeStore, StakingError, StakingParams, Validator},
};

/// Epochs and staking parameters (from the genesis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochSpec {
    /// The chain's id (evidence and headers from another chain count for nothing here).
    pub chain_id: u64,
    /// Blocks per epoch.
    pub epoch_blocks: u64,
    /// Staking rules.
    pub staking: StakingParams,
    /// Seats of each election.
    pub election: ElectionParams,
    /// The genesis committees stay in every epoch.
    pub static_committees: bool,
    /// Tokens issued per crosslinked block, shared by its signers.
    pub block_reward: Amount,
}

impl EpochSpec {
    /// The epoch of the block at `height`.
    pub fn epoch_of(&self, height: Height) -> u64 {
        height / self.epoch_blocks.max(1)
    }

    /// Whether the block at `height` is the last of its epoch.
    pub fn is_last_of_epoch(&self, height: Height) -> bool {
        (height + 1).is_multiple_of(self.epoch_blocks.max(1))
    }
}

/// Typed reads and writes of state values, for the registry (the block's state, or a map at
/// genesis). A value that does not decode is the implementer's to report.
pub trait Kv {
    /// The value at `key`, decoded.
    fn get<T: Decode>(&self, key: &[u8], what: &'static str) -> Option<T>;
    /// Writes (or with `None` removes) the value at `key`.
    fn put<T: Encode>(&mut self, key: Vec<u8>, value: Option<&T>);
}

fn key(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

/// State key of a validator.
pub fn validator_key(v: &BlsKey) -> Vec<u8> {
    key(b"s/v/", &[v])
}

/// State key of the sorted list of validator keys.
pub const VALIDATOR_LIST: &[u8] = b"s/vl";

/// State key of `who`'s delegation to `v`.
pub fn delegation_key(v: &BlsKey, who: &Address) -> Vec<u8> {
    key(b"s/d/", &[v, &who.0])
}

/// State key of the sorted list of `v`'s delegators.
pub fn delegators_key(v: &BlsKey) -> Vec<u8> {
    key(b"s/dl/", &[v])
}

/// State key of the committees of `epoch`.
pub fn assignment_key(epoch: u64) -> Vec<u8> {
    key(b"e/a/", &[&epoch.to_be_bytes()])
}

/// State key of shard `shard`'s latest crosslink: `(height, header hash)`.
pub fn crosslink_key(shard: ShardId) -> Vec<u8> {
    key(b"c/", &[&shard.to_be_bytes()])
}

/// State key of the total issued since genesis (a SCALE `u128`): supply = genesis + issued -
/// burnt.
pub const ISSUED: &[u8] = b"z/issued";

/// Shard `shard`'s latest crosslink, `(height, header hash)` (its genesis at first).
pub fn crosslinked(kv: &impl Kv, shard: ShardId) -> Option<(Height, Hash)> {
    kv.get(&crosslink_key(shard), "crosslink")
}

/// The committee that signs shard `shard`'s blocks in `epoch`, in bitmap order: the genesis
/// one in epochs 0 and 1 (and always with static committees), then the elected one.
pub fn seated(kv: &impl Kv, spec: &EpochSpec, shard: ShardId, epoch: u64) -> Option<Vec<Elected>> {
    let from = if spec.static_committees || epoch < 2 { 0 } else { epoch };
    assignment(kv, from)?.into_iter().nth(shard as usize)
}

/// Issues the block reward of a block of `shard` at `epoch` certified by `cert` to its signers,
/// shared by voting power (the committee's elected powers scaled as consensus weighs them);
/// returns the amount issued (0 when the committee is unknown or nobody signed).
pub fn reward_signers(
    kv: &mut impl Kv,
    spec: &EpochSpec,
    shard: ShardId,
    epoch: u64,
    cert: &tutti_primitives::CommitCertificate,
) -> Result<Amount, StakingError> {
    let Some(committee) = seated(kv, spec, shard, epoch) else {
        return Ok(0);
    };
    let powers = election::voting_powers(&committee.iter().map(|e| e.power).collect::<Vec<_>>());
    let signed = |i: usize| cert.signers.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
    // Uptime: every seated validator was expected to sign; the certificate says who did.
    for (i, seat) in committee.iter().enumerate() {
        if let Some(mut v) = validator(kv, &seat.key) {
            v.blocks_seated += 1;
            v.blocks_signed += u64::from(signed(i));
            Registry(kv).put_validator(&v);
        }
    }
    let total: u128 = (0..committee.len())
        .filter(|i| signed(*i))
        .map(|i| u128::from(powers[i]))
        .sum();
    if total == 0 || spec.block_reward == 0 {
        return Ok(0);
    }
    let mut issued: Amount = 0;
    for (i, seat) in committee.iter().enumerate().filter(|(i, _)| signed(*i)) {
        let part = staking::mul_div(spec.block_reward, u128::from(powers[i]), total);
        if part > 0 && validator(kv, &seat.key).is_some() {
            staking::distribute_reward(&mut Registry(kv), &seat.key, part)?;
            issued += part;
        }
    }
    let before: Amount = kv.get(ISSUED, "issued total").unwrap_or(0);
    kv.put(ISSUED.to_vec(), Some(&before.saturating_add(issued)));
    Ok(issued)
}

/// State key of the election seed of `epoch`.
pub fn seed_key(epoch: u64) -> Vec<u8> {
    key(b"e/s/", &[&epoch.to_be_bytes()])
}

/// Every registered validator, in key order.
pub fn validators(kv: &impl Kv) -> Vec<Validator> {
    kv.get::<Vec<BlsKey>>(VALIDATOR_LIST, "validator list")
        .unwrap_or_default()
        .iter()
        .filter_map(|k| kv.get(&validator_key(k), "validator"))
        .collect()
}

/// One validator.
pub fn validator(kv: &impl Kv, v: &BlsKey) -> Option<Validator> {
    kv.get(&validator_key(v), "validator")
}

/// Every delegation to `v`, in delegator order.
pub fn delegations(kv: &impl Kv, v: &BlsKey) -> Vec<(Address, Delegation)> {
    kv.get::<Vec<Address>>(&delegators_key(v), "delegator list")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|who| Some((who, kv.get(&delegation_key(v, &who), "delegation")?)))
        .collect()
}

/// The committees of `epoch`, if elected (or written at genesis).
pub fn assignment(kv: &impl Kv, epoch: u64) -> Option<Vec<Vec<Elected>>> {
    kv.get(&assignment_key(epoch), "committee assignment")
}

/// The registry over a [`Kv`], as the staking transitions see it.
pub struct Registry<'a, K: Kv>(pub &'a mut K);

fn insert_sorted<T: Ord>(list: &mut Vec<T>, item: T) -> bool {
    match list.binary_search(&item) {
        Ok(_) => false,
        Err(i) => {
            list.insert(i, item);
            true
        }
    }
}

impl<K: Kv> StakeStore for Registry<'_, K> {
    fn balance(&self, a: &Address) -> Amount {
        self.0
            .get::<Account>(&account_key(a), "account")
            .unwrap_or_default()
            .balance
    }
    fn set_balance(&mut self, a: &Address, balance: Amount) {
        let mut acc = self.0.get::<Account>(&account_key(a), "account").unwrap_or_default();
        acc.balance = balance;
        self.0.put(account_key(a), Some(&acc));
    }
    fn validator(&self, key: &BlsKey) -> Option<Validator> {
        validator(self.0, key)
    }
    fn put_validator(&mut self, v: &Validator) {
        let mut list = self
            .0
            .get::<Vec<BlsKey>>(VALIDATOR_LIST, "validator list")
            .unwrap_or_default();
        if insert_sorted(&mut list, v.key) {
            self.0.put(VALIDATOR_LIST.to_vec(), Some(&list));
        }
        self.0.put(validator_key(&v.key), Some(v));
    }
    fn validators(&self) -> Vec<Validator> {
        validators(self.0)
    }
    fn delegation(&self, key: &BlsKey, who: &Address) -> Option<Delegation> {
        self.0.get(&delegation_key(key, who), "delegation")
    }
    fn put_delegation(&mut self, key: &BlsKey, who: &Address, d: Option<&Delegation>) {
        let lk = delegators_key(key);
        let mut list = self.0.get::<Vec<Address>>(&lk, "delegator list").unwrap_or_default();
        let changed = match d {
            Some(_) => insert_sorted(&mut list, *who),
            None => match list.binary_search(who) {
                Ok(i) => {
                    list.remove(i);
                    true
                }
                Err(_) => false,
            },
        };
        if changed {
            self.0.put(lk, (!list.is_empty()).then_some(&list));
        }
        self.0.put(delegation_key(key, who), d);
    }
    fn delegations(&self, key: &BlsKey) -> Vec<(Address, Delegation)> {
        delegations(self.0, key)
    }
}

/// Carries out a staking action signed by `signer` in a beacon block of `epoch`; returns what the
/// transaction returns (the amount paid, SCALE `u128`, for collecting rewards; nothing otherwise).
pub fn apply_action(
    kv: &mut impl Kv,
    spec: &EpochSpec,
    signer: &Address,
    action: &tutti_primitives::StakeAction,
    epoch: u64,
) -> Result<Vec<u8>, StakingError> {
    use tutti_primitives::StakeAction as A;
    let params = &spec.staking;
    let st = &mut Registry(kv);
    match action {
        A::CreateValidator {
            key,
            proof,
            self_stake,
            commission_bps,
            max_commission_bps,
            max_change_bps,
            name,
        } => {
            let pop_verified = tutti_crypto::bls::PublicKey::from_bytes(key)
                .ok()
                .zip(tutti_crypto::bls::Signature::from_bytes(proof).ok())
                .is_some_and(|(pk, sig)| pk.verify_possession(&sig));
            staking::create_validator(
                st,
                params,
                signer,
                staking::NewValidator {
                    key: *key,
                    pop_verified,
                    proof: *proof,
                    self_stake: *self_stake,
                    commission_bps: *commission_bps,
                    max_commission_bps: *max_commission_bps,
                    max_change_bps: *max_change_bps,
                    name: name.clone(),
                },
                epoch,
            )?;
        }
        A::EditValidator {
            key,
            commission_bps,
            name,
        } => staking::edit_validator(st, signer, key, *commission_bps, name.clone(), epoch)?,
        A::Delegate { key, amount } => staking::delegate(st, params, signer, key, *amount)?,
        A::Undelegate { key, amount } => staking::undelegate(st, params, signer, key, *amount, epoch)?,
        A::CollectRewards => return Ok(staking::collect_rewards(st, signer)?.encode()),
        A::ReportDoubleSign(ev) => return report_double_sign(kv, spec, signer, ev, epoch),
    }
    Ok(Vec::new())
}

/// State key marking an offense as punished.
pub fn offense_key(id: &Hash) -> Vec<u8> {
    key(b"s/x/", &[&id.0])
}

/// Checks and punishes double signing (`crate::slashing`); returns the reporter's reward (SCALE
/// `u128`).
fn report_double_sign(
    kv: &mut impl Kv,
    spec: &EpochSpec,
    reporter: &Address,
    ev: &tutti_primitives::DoubleSign,
    epoch: u64,
) -> Result<Vec<u8>, StakingError> {
    slashing::verify(ev)?;
    let h = &ev.first.header;
    if h.chain_id != spec.chain_id {
        return Err(slashing::EvidenceError::WrongChain {
            chain_id: h.chain_id,
            expected: spec.chain_id,
        }
        .into());
    }
    let oldest = epoch.saturating_sub(spec.staking.unbonding_epochs);
    if h.epoch < oldest {
        return Err(StakingError::StaleEvidence { epoch: h.epoch, oldest });
    }
    let Some(offender) = validator(kv, &ev.key) else {
        return Err(StakingError::NotAValidator);
    };
    // Tombstoned: a validator is slashed once, whatever else it signed (so an operator cannot
    // report made-up equivocations of its own, one per height, to drain its delegators).
    if offender.slashed {
        return Err(StakingError::Tombstoned {
            key: format!("0x{}", hex::encode(ev.key)),
        });
    }
    // Only a signature from a seat counts: a key signing for a shard and epoch it does not
    // serve endangers nobody, and its "evidence" would cut its delegators for nothing.
    if !seated(kv, spec, h.shard_id, h.epoch).is_some_and(|c| c.iter().any(|e| e.key == ev.key)) {
        return Err(StakingError::NotSeated {
            shard: h.shard_id,
            epoch: h.epoch,
        });
    }
    let id = slashing::offense_id(ev);
    if kv.get::<bool>(&offense_key(&id), "offense mark").is_some() {
        return Err(StakingError::AlreadyReported);
    }
    let cut = slashing::slash(&mut Registry(kv), &ev.key)?;
    let reward = cut.reward();
    let cut = cut.total;
    let mut reg = Registry(kv);
    let balance = reg.balance(reporter);
    reg.set_balance(reporter, balance.saturating_add(reward));
    let burnt: Amount = kv.get(crate::exec::BURNT, "burnt total").unwrap_or(0);
    kv.put(crate::exec::BURNT.to_vec(), Some(&burnt.saturating_add(cut - reward)));
    kv.put(offense_key(&id), Some(&true));
    Ok(reward.encode())
}

/// What the last block of an epoch did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochEnd {
    /// The epoch that ended.
    pub epoch: u64,
    /// Undelegated amounts paid back.
    pub released: Amount,
    /// The epoch elected (`epoch + 2`).
    pub elected_epoch: u64,
    /// Why the election kept the previous committees, if it did.
    pub kept: Option<ElectionError>,
}

/// The end of epoch `epoch`, in its last beacon block with randomness `randomness` (module doc).
pub fn end_epoch(
    kv: &mut impl Kv,
    spec: &EpochSpec,
    num_shards: u32,
    epoch: u64,
    randomness: &Hash,
) -> Result<EpochEnd, StakingError> {
    let released = staking::release_unbonded(&mut Registry(kv), epoch + 1)?;
    let target = epoch + 2;
    let seed = tagged_hash(EPOCH_SEED, &(randomness, target).encode());
    let previous = assignment(kv, epoch + 1).unwrap_or_default();
    let previous_keys: Vec<Vec<BlsKey>> = previous.iter().map(|c| c.iter().map(|e| e.key).collect()).collect();
    let candidates = staking::candidates(&Registry(kv), &spec.staking);
    let params = ElectionParams {
        num_shards,
        ..spec.election
    };
    let (elected, kept) = match election::elect(
        &candidates,
        params,
        Some(&previous_keys),
        &seed.0,
        election::blake3_shuffle_hash,
    ) {
        Ok(a) => (a, None),
        Err(e) => (previous, Some(e)),
    };
    kv.put(assignment_key(target), Some(&elected));
    kv.put(seed_key(target), Some(&seed));
    Ok(EpochEnd {
        epoch,
        released,
        elected_epoch: target,
        kept,
    })
}

/// The shard a key sits on in `epoch`, if it has a seat.
pub fn shard_in(kv: &impl Kv, epoch: u64, key: &BlsKey) -> Option<ShardId> {
    election::shard_of(&assignment(kv, epoch)?, key)
}
