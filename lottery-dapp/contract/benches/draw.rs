//! Gas and wall time of `enter` and `draw` on the runtime's `LocalNet` (release wasm), as the
//! round grows: the draw finds the winning ticket's owner by binary search over the entries, so
//! its cost should grow with log2(entries), not with the number of entries. The baseline in the
//! same run is a draw over 2 entries.
//!
//! `cargo bench -p tutti-lottery --bench draw`

use std::{sync::Arc, time::Instant};

use parity_scale_codec::{Decode, Encode};
use tutti_lottery_core::Round;
use tutti_primitives::{Address, Hash};
use tutti_runtime::{Runtime, RuntimeConfig, local::LocalNet};

const PRICE: u128 = 1_000;
const GAS: u64 = 300_000_000;
/// Long enough for the biggest round's entries (2,000 per block).
const ROUND_BLOCKS: u64 = 10;

fn call_gas(net: &LocalNet, h: &Hash, method: &str) -> u64 {
    let call = net.first_call(h).unwrap_or_else(|| panic!("{method}: no call receipt"));
    if let Err(f) = &call.result {
        panic!("{method} failed: {f}");
    }
    call.gas_used
}

/// Plays one round of `entries` entries (one player each); returns (mean enter gas, draw gas,
/// wall time of the block holding the draw, ms).
fn round(entries: usize) -> (u64, u64, f64) {
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let mut net = LocalNet::new(runtime, 1);
    net.max_receipts_per_block = 100_000;
    let (owner, _) = net.create_account(0, 0);
    let lottery = net
        .deploy(
            0,
            tutti_examples::LOTTERY,
            owner,
            Some(("init", (PRICE, ROUND_BLOCKS, 500u16, Address([0x40; 32])).encode())),
        )
        .unwrap();
    let players: Vec<_> = (0..entries).map(|_| net.create_account(0, 1_000_000_000)).collect();
    let mut enter_gas = 0;
    for chunk in players.chunks(2_000) {
        let hashes: Vec<_> = chunk
            .iter()
            .map(|(_, k)| net.call(k, lottery, "enter", (1u32,).encode(), PRICE, GAS).unwrap())
            .collect();
        net.produce_block();
        enter_gas += hashes.iter().map(|h| call_gas(&net, h, "enter")).sum::<u64>();
    }
    let out = net.view(&lottery, "round", Vec::new()).unwrap();
    let r = Round::decode(&mut &out.result.unwrap()[..]).unwrap();
    assert_eq!(r.entries as usize, entries, "every entry made it into round 1");
    while net.height() <= r.close {
        net.produce_block();
    }
    let h = net.call(&players[0].1, lottery, "draw", Vec::new(), 0, GAS).unwrap();
    let t = Instant::now();
    net.produce_block();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    (enter_gas / entries as u64, call_gas(&net, &h, "draw"), ms)
}

fn main() {
    println!("entries  enter gas (mean)  draw gas  draw vs 2 entries  draw block ms");
    let mut base = None;
    for entries in [2usize, 10, 100, 1_000, 10_000] {
        let (enter, draw, ms) = round(entries);
        let b = *base.get_or_insert(draw);
        println!(
            "{entries:>7}  {enter:>16}  {draw:>8}  {:>16.2}x  {ms:>13.3}",
            draw as f64 / b as f64
        );
    }
}
