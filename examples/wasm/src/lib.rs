//! The example contracts, compiled to wasm32 by this crate's build script, as bytes. Used by the
//! runtime's tests and benchmarks and by the CLI.

/// `examples/counter`.
pub const COUNTER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tutti_example_counter.wasm"));
/// `examples/token`.
pub const TOKEN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tutti_example_token.wasm"));
/// `examples/ping-pong`.
pub const PING_PONG: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/tutti_example_ping_pong.wasm"));

/// Every example, by name.
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
        for (name, bytes) in ALL {
            assert_eq!(&bytes[..4], b"\0asm", "{name}");
        }
    }
}
