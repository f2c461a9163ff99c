//! The contract's stored records, views and event payloads (SCALE). The browser decodes the
//! same definitions through the wallet module.

use alloc::vec::Vec;

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{Address, Amount, Height};

/// Set at deploy; never changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Config {
    /// Price of one ticket (smallest units).
    pub price: Amount,
    /// Blocks a round sells tickets: a round opened at height h closes at h + round_blocks.
    pub round_blocks: u64,
    /// House fee in basis points of the pot, at most [`crate::MAX_FEE_BPS`] (10 %).
    pub fee_bps: u16,
    /// Receives the house fee.
    pub house: Address,
}

/// A round: the current one (`round` view), or a settled one inside [`Settled`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Round {
    /// Round number (1, 2, ...).
    pub id: u64,
    /// Ticket price, fixed when the round opens.
    pub price: Amount,
    /// Height at which it opened.
    pub opened: Height,
    /// Last height at which tickets sell; the draw uses the randomness of `close + 1`.
    pub close: Height,
    /// Tickets sold; numbered 0..tickets in the order sold.
    pub tickets: u64,
    /// Distinct ticket owners.
    pub players: u32,
    /// Entries (ticket ranges) made.
    pub entries: u32,
    /// Tokens collected: price x tickets.
    pub pot: Amount,
}

impl Round {
    /// Still selling tickets at `height`.
    pub fn is_open(&self, height: Height) -> bool {
        height <= self.close
    }
}

/// One entry: tickets `first .. first + count` belong to `player`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Entry {
    /// The ticket owner (who wins or is refunded).
    pub player: Address,
    /// First ticket number.
    pub first: u64,
    /// Tickets.
    pub count: u32,
}

/// A player's tickets in a round.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct PlayerTickets {
    /// Tickets held.
    pub count: u64,
    /// Tickets paid for (refunded if the round has fewer than two players).
    pub paid: Amount,
    /// Ticket ranges as (first, count), in order; consecutive entries merge.
    pub ranges: Vec<(u64, u32)>,
}

/// How a round ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Outcome {
    /// Drawn: the owner of `ticket` won the pot less the fee.
    Won {
        /// The winner.
        winner: Address,
        /// The winning ticket.
        ticket: u64,
        /// Paid to the winner.
        prize: Amount,
        /// Paid to the house.
        fee: Amount,
        /// The block whose randomness decided it.
        randomness_height: Height,
    },
    /// Fewer than two players: the pot went back to its single player.
    Refunded {
        /// The player refunded.
        player: Address,
        /// Refunded.
        amount: Amount,
    },
}

/// A settled round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Settled {
    /// The round as it closed.
    pub round: Round,
    /// Its outcome.
    pub outcome: Outcome,
    /// Height of the `draw` that settled it.
    pub settled_at: Height,
}

/// Event `RoundOpened`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct RoundOpened {
    /// Round.
    pub round: u64,
    /// Ticket price.
    pub price: Amount,
    /// Opening height.
    pub opened: Height,
    /// Last height for entries.
    pub close: Height,
}

/// Event `Entered`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Entered {
    /// Round.
    pub round: u64,
    /// Ticket owner.
    pub player: Address,
    /// Who paid (the player, or whoever bought the tickets for them).
    pub payer: Address,
    /// First ticket number.
    pub first: u64,
    /// Tickets bought.
    pub tickets: u32,
    /// Pot after the entry.
    pub pot: Amount,
}

/// Event `Drawn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Drawn {
    /// Round.
    pub round: u64,
    /// Winner.
    pub winner: Address,
    /// Winning ticket.
    pub ticket: u64,
    /// Tickets sold.
    pub tickets: u64,
    /// Paid to the winner.
    pub prize: Amount,
    /// Paid to the house.
    pub fee: Amount,
    /// The block whose randomness decided it.
    pub randomness_height: Height,
}

/// Event `Refunded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Refunded {
    /// Round.
    pub round: u64,
    /// Player refunded.
    pub player: Address,
    /// Amount.
    pub amount: Amount,
}
