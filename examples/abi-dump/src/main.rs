//! Prints `{"module file name": ABI, ...}` for the workspace's contracts, as JSON on stdout.

use std::collections::BTreeMap;

fn main() {
    let abis: BTreeMap<&str, tutti_abi::Abi> = [
        ("tutti_example_counter", tutti_example_counter::Counter::abi()),
        ("tutti_example_token", tutti_example_token::Token::abi()),
        ("tutti_example_ping_pong", tutti_example_ping_pong::PingPong::abi()),
        ("tutti_puzzle", tutti_puzzle::Puzzle::abi()),
        ("tutti_lottery", tutti_lottery::Lottery::abi()),
    ]
    .into_iter()
    .collect();
    print!("{}", serde_json::to_string(&abis).expect("ABIs serialise"));
}
