//! Boards, moves and level generation.
//!
//! Level 1 is fixed. Level `i >= 2` is generated from the game's seed: every cell starts at `i + 3`
//! and a walk of `3d + r` steps (`r < d`, `d` the level's difficulty) goes backwards from a random
//! cell, decrementing each cell it leaves. Playing the walk forwards again undoes every decrement,
//! so every level is solvable. The random numbers come from SplitMix64 seeded with the game seed
//! and the level number: no hashing, so the contract and the browser stay small and agree exactly.

use core::fmt;

use parity_scale_codec::{Decode, Encode};

/// Number of levels in a game.
pub const LEVELS: u32 = 100;
/// Longest move sequence a submission may carry (bounds the contract's work).
pub const MAX_MOVES: usize = 1_000;

/// A cursor move. Encoded as one byte: 0 left, 1 up, 2 right, 3 down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum Move {
    /// One column left.
    Left = 0,
    /// One row up.
    Up = 1,
    /// One column right.
    Right = 2,
    /// One row down.
    Down = 3,
}

impl Move {
    /// Every move, in encoding order.
    pub const ALL: [Move; 4] = [Move::Left, Move::Up, Move::Right, Move::Down];

    /// The move a byte encodes.
    pub fn from_byte(b: u8) -> Option<Move> {
        Move::ALL.get(usize::from(b)).copied()
    }

    /// Its byte.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Move::Left => "left",
            Move::Up => "up",
            Move::Right => "right",
            Move::Down => "down",
        }
    }

    /// The cell this move reaches from `cell` (0..9, row by row), or `None` off the board.
    pub fn from_cell(self, cell: u8) -> Option<u8> {
        let (row, col) = (cell / 3, cell % 3);
        match self {
            Move::Left if col > 0 => Some(cell - 1),
            Move::Right if col < 2 => Some(cell + 1),
            Move::Up if row > 0 => Some(cell - 3),
            Move::Down if row < 2 => Some(cell + 3),
            _ => None,
        }
    }
}

/// Why a move sequence was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MoveError {
    /// A byte that is not a move.
    BadMove {
        /// Position in the sequence.
        index: usize,
        /// The byte.
        byte: u8,
    },
    /// A move off the board.
    OffBoard {
        /// Position in the sequence.
        index: usize,
        /// The move.
        mv: Move,
    },
    /// More than [`MAX_MOVES`] moves.
    TooLong {
        /// Moves given.
        len: usize,
    },
    /// The moves are legal but the cells are not all equal at the end.
    NotSolved,
    /// Not a level of the game.
    NoSuchLevel {
        /// The level asked for.
        level: u32,
    },
}

impl fmt::Display for MoveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoveError::BadMove { index, byte } => {
                write!(
                    f,
                    "move {index} is byte {byte}; moves are 0 left, 1 up, 2 right, 3 down"
                )
            }
            MoveError::OffBoard { index, mv } => write!(f, "move {index} ({}) leaves the board", mv.name()),
            MoveError::TooLong { len } => write!(f, "{len} moves is more than the limit of {MAX_MOVES}"),
            MoveError::NotSolved => write!(f, "the moves do not make all nine cells equal"),
            MoveError::NoSuchLevel { level } => write!(f, "level {level} does not exist (levels are 1 to {LEVELS})"),
        }
    }
}

/// A board: nine cells row by row and the cursor's cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub struct Board {
    /// Cell values, row by row.
    pub cells: [u32; 9],
    /// The cursor's cell (0..9).
    pub cursor: u8,
}

impl Board {
    /// Applies one move.
    pub fn apply(&mut self, mv: Move) -> Option<()> {
        let to = mv.from_cell(self.cursor)?;
        self.cursor = to;
        let c = &mut self.cells[usize::from(to)];
        *c = c.saturating_add(1);
        Some(())
    }

    /// Applies a byte sequence of moves; stops at the first illegal one.
    pub fn apply_all(&mut self, moves: &[u8]) -> Result<(), MoveError> {
        if moves.len() > MAX_MOVES {
            return Err(MoveError::TooLong { len: moves.len() });
        }
        for (index, &byte) in moves.iter().enumerate() {
            let mv = Move::from_byte(byte).ok_or(MoveError::BadMove { index, byte })?;
            self.apply(mv).ok_or(MoveError::OffBoard { index, mv })?;
        }
        Ok(())
    }

    /// All nine cells equal.
    pub fn is_solved(&self) -> bool {
        self.cells.iter().all(|&c| c == self.cells[0])
    }
}

/// The difficulty `d` of a level: the generator walks `[3d, 4d)` steps.
pub fn difficulty(level: u32) -> u32 {
    match level {
        0..=1 => 1,
        2..=3 => 2,
        4..=5 => 3,
        6..=7 => 4,
        8..=10 => 5,
        11..=20 => 7,
        21..=40 => 8,
        41..=60 => 9,
        61..=80 => 10,
        81..=90 => 11,
        91..=95 => 12,
        96..=99 => level - 83,
        _ => 17,
    }
}

/// SplitMix64: a tiny, well-studied generator; good enough to shuffle a board, and identical on
/// every platform.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }
}

/// The board of `level` (1..=100) in the game with `seed`.
pub fn level(seed: &[u8; 32], level: u32) -> Result<Board, MoveError> {
    if !(1..=LEVELS).contains(&level) {
        return Err(MoveError::NoSuchLevel { level });
    }
    if level == 1 {
        return Ok(Board {
            cells: [1, 0, 0, 1, 1, 0, 1, 1, 0],
            cursor: 0,
        });
    }
    let mut rng = SplitMix64(u64::from(level));
    for chunk in seed.chunks_exact(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        rng.0 ^= u64::from_le_bytes(w);
        rng.next();
    }
    let d = difficulty(level);
    let steps = 3 * d + rng.below(d);
    let mut cells = [level + 3; 9];
    let mut cursor = rng.below(9) as u8;
    for _ in 0..steps {
        cells[usize::from(cursor)] -= 1;
        let mut options = [0u8; 4];
        let mut n = 0;
        for mv in Move::ALL {
            if let Some(c) = mv.from_cell(cursor) {
                options[n] = c;
                n += 1;
            }
        }
        cursor = options[rng.below(n as u32) as usize];
    }
    Ok(Board { cells, cursor })
}

/// Checks that `moves` solve `level` of the game with `seed`.
pub fn verify(seed: &[u8; 32], level_no: u32, moves: &[u8]) -> Result<(), MoveError> {
    let mut board = level(seed, level_no)?;
    board.apply_all(moves)?;
    if board.is_solved() {
        Ok(())
    } else {
        Err(MoveError::NotSolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_one_is_the_fixed_board_and_its_known_solution_works() {
        let b = level(&[7; 32], 1).unwrap();
        assert_eq!(b.cells, [1, 0, 0, 1, 1, 0, 1, 1, 0]);
        assert_eq!(b.cursor, 0);
        assert_eq!(verify(&[0; 32], 1, &[2, 2, 3, 3]), Ok(()));
        assert_eq!(verify(&[0; 32], 1, &[2, 2, 3]), Err(MoveError::NotSolved));
    }

    #[test]
    fn moves_off_the_board_and_bad_bytes_are_refused() {
        assert_eq!(
            verify(&[0; 32], 1, &[0]),
            Err(MoveError::OffBoard {
                index: 0,
                mv: Move::Left
            })
        );
        assert_eq!(
            verify(&[0; 32], 1, &[2, 1]),
            Err(MoveError::OffBoard { index: 1, mv: Move::Up })
        );
        assert_eq!(
            verify(&[0; 32], 1, &[2, 9]),
            Err(MoveError::BadMove { index: 1, byte: 9 })
        );
        assert_eq!(
            verify(&[0; 32], 1, &[2; MAX_MOVES + 1]),
            Err(MoveError::TooLong { len: MAX_MOVES + 1 })
        );
        assert_eq!(verify(&[0; 32], 0, &[]), Err(MoveError::NoSuchLevel { level: 0 }));
        assert_eq!(verify(&[0; 32], 101, &[]), Err(MoveError::NoSuchLevel { level: 101 }));
    }

    #[test]
    fn difficulty_follows_the_table() {
        let want = [
            (1, 1),
            (2, 2),
            (3, 2),
            (4, 3),
            (5, 3),
            (6, 4),
            (7, 4),
            (8, 5),
            (10, 5),
            (11, 7),
            (20, 7),
            (21, 8),
            (40, 8),
            (41, 9),
            (60, 9),
            (61, 10),
            (80, 10),
            (81, 11),
            (90, 11),
            (91, 12),
            (95, 12),
            (96, 13),
            (97, 14),
            (98, 15),
            (99, 16),
            (100, 17),
        ];
        for (l, d) in want {
            assert_eq!(difficulty(l), d, "level {l}");
        }
    }

    #[test]
    fn generated_levels_are_deterministic_and_depend_on_seed_and_level() {
        let a = level(&[1; 32], 50).unwrap();
        assert_eq!(a, level(&[1; 32], 50).unwrap());
        assert_ne!(a, level(&[2; 32], 50).unwrap());
        assert_ne!(a, level(&[1; 32], 51).unwrap());
    }

    #[test]
    fn generated_levels_lose_between_3d_and_4d_from_the_full_board() {
        for l in 2..=LEVELS {
            for s in 0..20u8 {
                let b = level(&[s; 32], l).unwrap();
                let missing: u32 = b.cells.iter().map(|&c| l + 3 - c).sum();
                let d = difficulty(l);
                assert!((3 * d..4 * d).contains(&missing), "level {l} seed {s}: {missing} steps");
                assert!(!b.is_solved() || missing == 0);
            }
        }
    }
}
