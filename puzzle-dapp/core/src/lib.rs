//! Puzzle, the on-chain game: its rules in one place so that the contract (wasm), the browser
//! (the wallet module, wasm) and the tests all replay moves and generate levels identically.
//!
//! A 3x3 board of numbers and a cursor. A move steps the cursor to the adjacent cell and adds 1
//! to that cell; a move off the board is refused. A level is solved when all nine cells are equal.
#![no_std]

extern crate alloc;

pub mod board;
pub mod solver;
pub mod types;

pub use board::{Board, LEVELS, MAX_MOVES, Move, MoveError, difficulty, level, verify};
pub use solver::solve;
pub use types::*;
