//! Gas and wall time of `submit`: a 100-move solution against a 4-move one (level 1) as the
//! baseline in the same run. Runs the release wasm contract on the runtime's `LocalNet`.
//!
//! `cargo bench -p tutti-puzzle --bench submit`
//!
//! No level has a 100-move solution (see the README: solution lengths are fixed by the board, at
//! most 67 moves at level 100), so the bench reports the longest real solutions, a linear fit of
//! gas against moves, and a 100-move submission that the contract replays in full and refuses.

use std::{sync::Arc, time::Instant};

use parity_scale_codec::{Decode, Encode};
use tutti_primitives::{Address, Hash};
use tutti_puzzle_core::{Game, level, solve};
use tutti_runtime::{Runtime, RuntimeConfig, local::LocalNet};

const TOKEN: u128 = 1_000_000_000_000_000_000;
const GAS: u64 = 300_000_000;

struct Bench {
    net: LocalNet,
    key: ed25519_dalek::SigningKey,
    player: Address,
    puzzle: Address,
}

impl Bench {
    fn run(&mut self, method: &str, args: Vec<u8>, value: u128) -> (u64, f64) {
        let key = self.key.clone();
        let h = self.net.call(&key, self.puzzle, method, args, value, GAS).unwrap();
        let t = Instant::now();
        self.net.produce_block();
        let wall = t.elapsed().as_secs_f64() * 1e3;
        (self.call_gas(&h, method), wall)
    }

    fn call_gas(&self, h: &Hash, method: &str) -> u64 {
        let call = self
            .net
            .first_call(h)
            .unwrap_or_else(|| panic!("{method}: no call receipt"));
        if let Err(f) = &call.result {
            panic!("{method} failed: {f}");
        }
        call.gas_used
    }

    fn game(&self) -> Game {
        let out = self.net.view(&self.puzzle, "game_of", (self.player,).encode()).unwrap();
        Option::<Game>::decode(&mut &out.result.unwrap()[..]).unwrap().unwrap()
    }

    fn solve_level(&mut self, g: &Game, l: u32) -> (u64, f64) {
        let moves: Vec<u8> = solve(&level(&g.seed, l).unwrap())
            .unwrap()
            .iter()
            .map(|m| m.byte())
            .collect();
        self.run("submit", (g.id, l, moves).encode(), 0)
    }
}

fn main() {
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let mut net = LocalNet::new(runtime, 1);
    let (player, key) = net.create_account(0, 1_000_000 * TOKEN);
    let puzzle = net
        .deploy(
            0,
            tutti_examples::PUZZLE,
            player,
            Some(("init", (1_000_000u64, 20 * TOKEN).encode())),
        )
        .unwrap();
    let mut b = Bench {
        net,
        key,
        player,
        puzzle,
    };
    // One game through all 100 levels: gas and block wall time of each submit, by solution length.
    b.run("play", Vec::new(), 20 * TOKEN);
    let g = b.game();
    let mut rows = Vec::new();
    for l in 1..=100u32 {
        let moves = solve(&level(&g.seed, l).unwrap()).unwrap().len();
        let (gas, ms) = b.solve_level(&g, l);
        rows.push((l, moves, gas, ms));
    }
    // A 100-move submission: legal moves (right, left, ...) that do not solve level 1 of a new
    // game. The contract replays all of them before refusing, so this is what 100 moves cost.
    b.run("play", Vec::new(), 20 * TOKEN);
    let g2 = b.game();
    let zigzag: Vec<u8> = (0..100).map(|i| if i % 2 == 0 { 2 } else { 0 }).collect();
    let key = b.key.clone();
    let h = b
        .net
        .call(&key, b.puzzle, "submit", (g2.id, 1u32, zigzag).encode(), 0, GAS)
        .unwrap();
    let t = std::time::Instant::now();
    b.net.produce_block();
    let refused_ms = t.elapsed().as_secs_f64() * 1e3;
    let call = b.net.first_call(&h).unwrap();
    let refused = call.result.as_ref().expect_err("100 zigzag moves do not solve level 1");
    let refused_gas = call.gas_used;

    let (l1, m1, g1, t1) = rows[0];
    let (lmax, mmax, gmax, tmax) = *rows.iter().max_by_key(|r| r.1).unwrap();
    // Least squares gas = a + b * moves over all 100 levels.
    let n = rows.len() as f64;
    let (sx, sy) = rows
        .iter()
        .fold((0.0, 0.0), |(x, y), r| (x + r.1 as f64, y + r.2 as f64));
    let (mx, my) = (sx / n, sy / n);
    let (cov, var) = rows.iter().fold((0.0, 0.0), |(c, v), r| {
        let dx = r.1 as f64 - mx;
        (c + dx * (r.2 as f64 - my), v + dx * dx)
    });
    let slope = cov / var;
    let intercept = my - slope * mx;
    println!("submit gas and block wall time (one block holding only that submit):");
    println!("  level {l1:>3}, {m1:>3} moves (baseline): gas {g1:>9}  wall {t1:.3} ms");
    println!("  level {lmax:>3}, {mmax:>3} moves (longest):   gas {gmax:>9}  wall {tmax:.3} ms");
    println!("  100 legal moves, refused ({refused}): gas {refused_gas:>9}  wall {refused_ms:.3} ms");
    println!(
        "  fit over 100 levels: gas = {intercept:.0} + {slope:.0} x moves; 100 moves -> {:.0}",
        intercept + 100.0 * slope
    );
    println!(
        "  ratios to the baseline: longest gas {:.2}x wall {:.2}x; 100 refused gas {:.2}x wall {:.2}x",
        gmax as f64 / g1 as f64,
        tmax / t1,
        refused_gas as f64 / g1 as f64,
        refused_ms / t1
    );
}
