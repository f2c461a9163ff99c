//! Lottery, the on-chain raffle: its rules in one place so that the contract (wasm), the browser
//! (the wallet module, wasm) and the tests agree.
//!
//! A round sells tickets at a fixed price until its closing height. The winning ticket is drawn
//! from the randomness of the first block after the close (see [`draw_height`]), which no player
//! knows when entering, and which does not depend on who calls `draw` or when.
#![no_std]

extern crate alloc;

pub mod rules;
pub mod types;

pub use rules::*;
pub use types::*;
