//! The example and dApp contracts and the browser wallet module, compiled to wasm32 by this
//! crate's build script, as bytes. Used by the runtime's tests and benchmarks, by the CLI (which
//! deploys the contracts on `tutti dev`) and by the node (which serves the wallet to the pages).

/// `examples/counter`.
pub const COUNTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tutti_example_counter.wasm"));
/// `examples/token`.
pub const TOKEN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tutti_example_token.wasm"));
/// `examples/ping-pong`.
pub const PING_PONG: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tutti_example_ping_pong.wasm"));

/// `puzzle-dapp/contract`.
pub const PUZZLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tutti_puzzle.wasm"));
/// `lottery-dapp/contract`.
pub const LOTTERY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tutti_lottery.wasm"));
/// `web-wallet`: the browser wallet's core (not a contract; loaded by the dApp pages).
pub const WALLET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tutti_web_wallet.wasm"));

/// Every example contract, by name.
pub const ALL: &[(&str, &[u8])] = &[("counter", COUNTER), ("token", TOKEN), ("ping-pong", PING_PONG)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_release_wasm_is_at_most_64_kib() {
        assert!(TOKEN.len() <= 64 * 1024, "token wasm is {} bytes", TOKEN.len());
    }

    #[test]
    fn examples_are_wasm_modules() {
        for (name, bytes) in ALL
            .iter()
            .chain(&[("puzzle", PUZZLE), ("lottery", LOTTERY), ("wallet", WALLET)])
        {
            assert_eq!(&bytes[..4], b"\0asm", "{name}");
        }
    }
}
