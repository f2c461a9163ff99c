//! A solver, independent of the generator: it searches for a move sequence that makes every cell
//! equal, knowing nothing of how the level was made. Used by the tests (every level of many games
//! is solvable) and by the browser end-to-end test, which types its moves as key presses.
//!
//! For a target value `v`, cell `j` must be entered exactly `v - cells[j]` more times. The search
//! is a depth-first walk over cells that still need visits, pruned by two necessary conditions:
//! the grid is bipartite, so destinations alternate colours and the remaining visits per colour
//! are fixed by the walk's length; and every cell still needing visits must be reachable from the
//! cursor through such cells (a cell that needs none cannot be crossed). States proven dead are
//! remembered.

use alloc::{collections::BTreeSet, vec::Vec};

use crate::board::{Board, Move};

/// Most states the search remembers before it gives up on a target.
const MEMO_LIMIT: usize = 2_000_000;

fn colour(cell: u8) -> u8 {
    (cell / 3 + cell % 3) % 2
}

struct Search {
    need: [u32; 9],
    path: Vec<Move>,
    dead: BTreeSet<(u8, [u32; 9])>,
    exhausted: bool,
}

impl Search {
    fn feasible(&self, cursor: u8) -> bool {
        let remaining: u32 = self.need.iter().sum();
        // Destinations alternate colours starting with the colour opposite the cursor's.
        let mut opposite = 0;
        for (j, &n) in self.need.iter().enumerate() {
            if colour(j as u8) != colour(cursor) {
                opposite += n;
            }
        }
        if opposite != remaining.div_ceil(2) {
            return false;
        }
        // Every cell that still needs a visit is reachable through cells that need visits.
        let mut seen = [false; 9];
        let mut stack = [0u8; 9];
        let mut top = 0;
        seen[usize::from(cursor)] = true;
        stack[0] = cursor;
        top += 1;
        while top > 0 {
            top -= 1;
            let c = stack[top];
            for mv in Move::ALL {
                if let Some(n) = mv.from_cell(c)
                    && !seen[usize::from(n)]
                    && self.need[usize::from(n)] > 0
                {
                    seen[usize::from(n)] = true;
                    stack[top] = n;
                    top += 1;
                }
            }
        }
        self.need.iter().enumerate().all(|(j, &n)| n == 0 || seen[j])
    }

    fn walk(&mut self, cursor: u8) -> bool {
        if self.need.iter().all(|&n| n == 0) {
            return true;
        }
        if self.exhausted || !self.feasible(cursor) || self.dead.contains(&(cursor, self.need)) {
            return false;
        }
        // Try the neighbours that need the most visits first.
        let mut options: Vec<(u32, Move, u8)> = Move::ALL
            .iter()
            .filter_map(|&mv| {
                let to = mv.from_cell(cursor)?;
                let n = self.need[usize::from(to)];
                (n > 0).then_some((n, mv, to))
            })
            .collect();
        options.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.byte().cmp(&b.1.byte())));
        for (_, mv, to) in options {
            self.need[usize::from(to)] -= 1;
            self.path.push(mv);
            if self.walk(to) {
                return true;
            }
            self.path.pop();
            self.need[usize::from(to)] += 1;
        }
        if self.dead.len() >= MEMO_LIMIT {
            self.exhausted = true;
        } else {
            self.dead.insert((cursor, self.need));
        }
        false
    }
}

/// A sequence of moves that makes every cell equal to `target`, if one exists (and the search
/// finds it within its memory bound).
pub fn solve_to(board: &Board, target: u32) -> Option<Vec<Move>> {
    let mut need = [0u32; 9];
    for (n, &c) in need.iter_mut().zip(board.cells.iter()) {
        *n = target.checked_sub(c)?;
    }
    let mut s = Search {
        need,
        path: Vec::new(),
        dead: BTreeSet::new(),
        exhausted: false,
    };
    s.walk(board.cursor).then_some(s.path)
}

/// The shortest solution the search finds: it tries targets from the largest cell upwards.
pub fn solve(board: &Board) -> Option<Vec<Move>> {
    if board.is_solved() {
        return Some(Vec::new());
    }
    let max = board.cells.iter().copied().max().unwrap_or(0);
    (max..=max.saturating_add(12)).find_map(|v| solve_to(board, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{LEVELS, level, verify};

    fn bytes(moves: &[Move]) -> Vec<u8> {
        moves.iter().map(|m| m.byte()).collect()
    }

    #[test]
    fn solves_level_one() {
        let b = level(&[0; 32], 1).unwrap();
        let moves = solve(&b).expect("level 1 is solvable");
        assert_eq!(moves.len(), 4);
        assert_eq!(verify(&[0; 32], 1, &bytes(&moves)), Ok(()));
    }

    #[test]
    fn every_level_of_many_games_is_solvable_and_solutions_verify() {
        for s in 0..100u8 {
            let mut seed = [0u8; 32];
            for (i, b) in seed.iter_mut().enumerate() {
                *b = s.wrapping_mul(31).wrapping_add((i as u8).wrapping_mul(7)) ^ 0x5a;
            }
            for l in 1..=LEVELS {
                let b = level(&seed, l).unwrap();
                let moves = solve(&b).unwrap_or_else(|| panic!("seed {s} level {l} unsolved: {b:?}"));
                assert_eq!(verify(&seed, l, &bytes(&moves)), Ok(()), "seed {s} level {l}");
            }
        }
    }

    #[test]
    fn unreachable_targets_are_reported() {
        // Cells below the target of a corner walk: one cell needs two visits, nothing else any,
        // and a cell cannot be re-entered without leaving it through a neighbour.
        let b = Board {
            cells: [1, 3, 3, 3, 3, 3, 3, 3, 3],
            cursor: 1,
        };
        assert_eq!(solve_to(&b, 3), None);
    }
}
