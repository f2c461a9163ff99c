//! The browser wallet's core. The pages load it as a plain WebAssembly module (no JavaScript glue
//! generator): keys, transaction encoding and signing come from the same `tutti-primitives` code
//! the node runs, so the browser cannot drift from the chain's encoding.
//!
//! One entry point takes a JSON request `{"op": ..., ...}` and answers `{"ok": value}` or
//! `{"error": message}`; see [`ops::handle`] for the operations. Secrets are passed in by the
//! page, which keeps them in the browser's storage; nothing here does I/O.

pub mod ops;

#[cfg(target_arch = "wasm32")]
mod abi;
