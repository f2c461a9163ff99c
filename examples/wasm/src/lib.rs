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

#[cfg(test)]
mod abi_tests {
    /// Every contract module carries its ABI, and it describes the contract.
    #[test]
    fn the_modules_describe_themselves() {
        for (name, wasm) in [
            ("counter", super::COUNTER),
            ("token", super::TOKEN),
            ("ping-pong", super::PING_PONG),
            ("puzzle", super::PUZZLE),
            ("lottery", super::LOTTERY),
        ] {
            let abi = tutti_abi::read(wasm)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .unwrap_or_else(|| panic!("{name} has no ABI section"));
            assert!(!abi.methods.is_empty(), "{name}");
        }
        let token = tutti_abi::read(super::TOKEN).unwrap().unwrap();
        let transfer = token.method("transfer").unwrap();
        assert_eq!(token.signature(transfer), "to: Address, amount: u128");
        assert!(token.event("Transfer").is_some());
        assert_eq!(
            tutti_abi::read(super::WALLET).unwrap(),
            None,
            "the wallet is no contract"
        );
    }
}
