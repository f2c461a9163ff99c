//! The contract's stored records, views and event payloads (SCALE). The browser decodes the
//! same definitions through the wallet module.

use alloc::vec::Vec;

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{Address, Amount};

/// Most entries on the leaderboard.
pub const LEADERBOARD_SIZE: usize = 10;
/// Share of the stake paid per newly solved level: a quarter, so four levels repay the stake.
pub const PAYOUT_DIVISOR: u128 = 4;

/// Set at deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Config {
    /// Blocks in one 15-second period: a game lasts one period plus one per solved level.
    pub period_blocks: u64,
    /// Smallest stake `play` accepts (smallest units).
    pub min_stake: Amount,
}

/// Why a game ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum EndReason {
    /// Its time ran out (recorded when the player starts the next game).
    TimeUp,
    /// The player ended it.
    Quit,
    /// All levels solved.
    Completed,
}

/// A game.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Game {
    /// Game id (1, 2, ...).
    pub id: u64,
    /// Who plays it.
    pub player: Address,
    /// Seed of its levels (from the block randomness of the `play` call).
    pub seed: [u8; 32],
    /// Stake paid.
    pub stake: Amount,
    /// The next level to solve (1-based); `LEVELS + 1` once all are solved.
    pub level: u32,
    /// Height of the block that started it.
    pub started: u64,
    /// Last height at which a solution is accepted.
    pub deadline: u64,
    /// Paid out so far.
    pub paid: Amount,
    /// `None` while it runs (until `deadline`).
    pub ended: Option<EndReason>,
}

impl Game {
    /// Levels solved.
    pub fn solved(&self) -> u32 {
        self.level.saturating_sub(1)
    }

    /// Accepting solutions at `height`.
    pub fn is_active(&self, height: u64) -> bool {
        self.ended.is_none() && height <= self.deadline
    }
}

/// A leaderboard row: a player's best game.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct LeaderEntry {
    /// The player.
    pub player: Address,
    /// Highest level solved.
    pub level: u32,
    /// The game in which it was solved.
    pub game: u64,
    /// That game's seed, so anyone can replay the moves.
    pub seed: [u8; 32],
    /// The moves that solved that level.
    pub moves: Vec<u8>,
    /// Height at which it was solved (earlier ranks first on equal levels).
    pub height: u64,
}

/// Event `GameStarted`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct GameStarted {
    /// Game id.
    pub game: u64,
    /// Player.
    pub player: Address,
    /// Stake.
    pub stake: Amount,
    /// Level seed.
    pub seed: [u8; 32],
    /// Last height for level 1.
    pub deadline: u64,
}

/// Event `LevelSolved`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct LevelSolved {
    /// Game id.
    pub game: u64,
    /// Player.
    pub player: Address,
    /// The level solved.
    pub level: u32,
    /// Paid for it.
    pub paid: Amount,
    /// New deadline.
    pub deadline: u64,
}

/// Event `GameEnded`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct GameEnded {
    /// Game id.
    pub game: u64,
    /// Player.
    pub player: Address,
    /// Levels solved.
    pub solved: u32,
    /// Paid in total.
    pub paid: Amount,
    /// Why.
    pub reason: EndReason,
}

/// Event `NewBest`: the player entered or moved up the leaderboard.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct NewBest {
    /// Player.
    pub player: Address,
    /// Level reached.
    pub level: u32,
    /// Rank on the board (1 = top).
    pub rank: u32,
}

/// Event `PoolFunded`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct PoolFunded {
    /// Who added.
    pub from: Address,
    /// How much.
    pub amount: Amount,
}
