//! Pure rules: which ticket wins, how the pot splits, which block's randomness a draw uses, and
//! whether an entry is acceptable.

use alloc::vec::Vec;
use core::fmt;

pub use tutti_primitives::RANDOMNESS_WINDOW;
use tutti_primitives::{Amount, Height};

use crate::types::Round;

/// Basis points in one whole (100 %).
pub const BPS: u16 = 10_000;
/// Highest house fee: 10 % of the pot.
pub const MAX_FEE_BPS: u16 = 1_000;
/// Most tickets one entry buys.
pub const MAX_TICKETS_PER_ENTRY: u32 = 1_000_000;
/// Most separate entries (ticket ranges) one player holds in a round; buy several tickets per
/// entry instead. Keeps a player's record, read and rewritten on every entry, small.
pub const MAX_ENTRIES_PER_PLAYER: usize = 64;
/// Most settled rounds one `history` call returns.
pub const HISTORY_PAGE: u32 = 50;
/// Domain tag of the draw digest.
pub const DRAW_TAG: &[u8] = b"tutti/lottery/draw/v1";

/// The fee and the prize of a pot: fee = floor(pot * fee_bps / 10 000), prize = pot - fee, so
/// prize + fee = pot exactly, for every pot (no overflow).
pub fn split(pot: Amount, fee_bps: u16) -> (Amount, Amount) {
    let bps = Amount::from(fee_bps.min(BPS));
    let whole = Amount::from(BPS);
    let fee = pot / whole * bps + pot % whole * bps / whole;
    (pot - fee, fee)
}

/// The height whose randomness decides a round that closed at `close`, for a draw at `now`:
/// the first block after the close, `close + 1`. Contracts can read only the last
/// [`RANDOMNESS_WINDOW`] blocks; if nobody drew in time, it is the latest of
/// `close + 1 + k * RANDOMNESS_WINDOW` that is not in the future, still a height fixed in advance.
/// `None` while the round is open (`now <= close`).
pub fn draw_height(close: Height, now: Height) -> Option<Height> {
    let first = close.checked_add(1)?;
    if now < first {
        return None;
    }
    Some(first + (now - first) / RANDOMNESS_WINDOW * RANDOMNESS_WINDOW)
}

/// What gets hashed (by the host's blake3) to draw round `round` from `randomness`.
pub fn draw_material(randomness: &[u8; 32], round: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(DRAW_TAG.len() + 40);
    m.extend_from_slice(DRAW_TAG);
    m.extend_from_slice(randomness);
    m.extend_from_slice(&round.to_le_bytes());
    m
}

/// The winning ticket (0-based) among `tickets` from a draw digest: the digest's first 16 bytes
/// as a little-endian u128, modulo `tickets`. The modulo bias is below tickets / 2^128 (for a
/// million tickets, under 3e-33): each ticket is equally likely for any practical purpose.
///
/// # Panics
/// If `tickets` is 0 (a round without tickets is never drawn).
pub fn winning_ticket(digest: &[u8; 32], tickets: u64) -> u64 {
    assert!(tickets > 0, "no tickets to draw from");
    let mut low = [0u8; 16];
    low.copy_from_slice(&digest[..16]);
    (u128::from_le_bytes(low) % u128::from(tickets)) as u64
}

/// Why an entry is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryError {
    /// Ticket sales of the round ended.
    Closed {
        /// The round.
        round: u64,
        /// Its last height for entries.
        close: Height,
        /// Now.
        now: Height,
    },
    /// Zero tickets asked.
    NoTickets,
    /// More than [`MAX_TICKETS_PER_ENTRY`].
    TooManyTickets(u32),
    /// The attached value is not price x tickets.
    WrongPayment {
        /// price x tickets.
        expected: Amount,
        /// Attached.
        attached: Amount,
    },
    /// The player already holds [`MAX_ENTRIES_PER_PLAYER`] entries in the round.
    TooManyEntries,
    /// A counter would overflow.
    Overflow,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryError::Closed { round, close, now } => write!(
                f,
                "round {round} stopped selling tickets at block {close} (now {now}); call draw to settle it and open the next round"
            ),
            EntryError::NoTickets => write!(f, "buy at least one ticket"),
            EntryError::TooManyTickets(n) => {
                write!(f, "{n} tickets in one entry; at most {MAX_TICKETS_PER_ENTRY}")
            }
            EntryError::WrongPayment { expected, attached } => write!(
                f,
                "attach exactly the ticket price times the tickets: {expected}, not {attached}"
            ),
            EntryError::TooManyEntries => write!(
                f,
                "at most {MAX_ENTRIES_PER_PLAYER} entries per player per round; buy several tickets in one entry"
            ),
            EntryError::Overflow => write!(f, "the round is full"),
        }
    }
}

/// Checks an entry of `tickets` paid with `attached` into `round` at height `now`; returns the
/// first ticket number it gets. Changes nothing.
pub fn check_entry(round: &Round, tickets: u32, attached: Amount, now: Height) -> Result<u64, EntryError> {
    if now > round.close {
        return Err(EntryError::Closed {
            round: round.id,
            close: round.close,
            now,
        });
    }
    if tickets == 0 {
        return Err(EntryError::NoTickets);
    }
    if tickets > MAX_TICKETS_PER_ENTRY {
        return Err(EntryError::TooManyTickets(tickets));
    }
    let expected = round
        .price
        .checked_mul(Amount::from(tickets))
        .ok_or(EntryError::Overflow)?;
    if attached != expected {
        return Err(EntryError::WrongPayment { expected, attached });
    }
    round.pot.checked_add(attached).ok_or(EntryError::Overflow)?;
    round
        .tickets
        .checked_add(u64::from(tickets))
        .ok_or(EntryError::Overflow)?;
    round.entries.checked_add(1).ok_or(EntryError::Overflow)?;
    Ok(round.tickets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round() -> Round {
        Round {
            id: 1,
            price: 10,
            opened: 5,
            close: 20,
            tickets: 0,
            players: 0,
            entries: 0,
            pot: 0,
        }
    }

    #[test]
    fn split_conserves_the_pot_and_rounds_the_fee_down() {
        assert_eq!(split(1_000, 500), (950, 50));
        assert_eq!(split(999, 1_000), (900, 99));
        assert_eq!(split(9, 1_000), (9, 0), "a fee below one unit rounds to 0");
        assert_eq!(split(0, 1_000), (0, 0));
        assert_eq!(
            split(u128::MAX, 1_000).1,
            u128::MAX / 10,
            "no overflow on the largest pot"
        );
        for pot in [0, 1, 7, 10_000, 123_456_789, u128::MAX, u128::MAX - 3] {
            for bps in [0, 1, 250, 999, 1_000] {
                let (prize, fee) = split(pot, bps);
                assert_eq!(prize + fee, pot);
                assert!(fee <= pot / 10 + 1);
            }
        }
    }

    #[test]
    fn the_draw_height_is_fixed_by_the_close() {
        assert_eq!(draw_height(20, 20), None, "still open at the close height");
        assert_eq!(draw_height(20, 21), Some(21));
        assert_eq!(
            draw_height(20, 21 + RANDOMNESS_WINDOW - 1),
            Some(21),
            "any time within the window"
        );
        assert_eq!(draw_height(20, 21 + RANDOMNESS_WINDOW), Some(21 + RANDOMNESS_WINDOW));
        assert_eq!(draw_height(u64::MAX, u64::MAX), None);
        for now in 21..21 + 3 * RANDOMNESS_WINDOW {
            let h = draw_height(20, now).unwrap();
            assert!(h <= now && now - h < RANDOMNESS_WINDOW && (h - 21).is_multiple_of(RANDOMNESS_WINDOW));
        }
    }

    #[test]
    fn the_winning_ticket_is_in_range() {
        for n in [1u64, 2, 3, 1_000, u64::MAX] {
            for d in [[0u8; 32], [0xff; 32], [7; 32]] {
                assert!(winning_ticket(&d, n) < n);
            }
        }
        assert_eq!(winning_ticket(&[0xff; 32], 10), (u128::MAX % 10) as u64);
    }

    #[test]
    fn entries_are_checked() {
        let r = round();
        assert_eq!(check_entry(&r, 3, 30, 20), Ok(0), "the close height still sells");
        assert_eq!(
            check_entry(&r, 3, 30, 21),
            Err(EntryError::Closed {
                round: 1,
                close: 20,
                now: 21
            })
        );
        assert_eq!(check_entry(&r, 0, 0, 10), Err(EntryError::NoTickets));
        assert_eq!(
            check_entry(&r, 3, 31, 10),
            Err(EntryError::WrongPayment {
                expected: 30,
                attached: 31
            })
        );
        assert_eq!(
            check_entry(&r, 3, 29, 10),
            Err(EntryError::WrongPayment {
                expected: 30,
                attached: 29
            })
        );
        assert_eq!(
            check_entry(&r, MAX_TICKETS_PER_ENTRY + 1, 0, 10),
            Err(EntryError::TooManyTickets(MAX_TICKETS_PER_ENTRY + 1))
        );
        let dear = Round {
            price: u128::MAX / 2,
            ..round()
        };
        assert_eq!(check_entry(&dear, 3, 0, 10), Err(EntryError::Overflow));
        let full = Round {
            tickets: u64::MAX,
            ..round()
        };
        assert_eq!(check_entry(&full, 1, 10, 10), Err(EntryError::Overflow));
        let later = Round {
            tickets: 7,
            pot: 70,
            ..round()
        };
        assert_eq!(check_entry(&later, 2, 20, 10), Ok(7), "tickets are numbered in order");
        let msg = alloc::format!(
            "{}",
            EntryError::WrongPayment {
                expected: 30,
                attached: 29
            }
        );
        assert!(msg.contains("exactly") && msg.contains("30"), "{msg}");
    }
}
