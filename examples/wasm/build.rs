//! Builds the example and dApp contracts, and the browser wallet module, to wasm32 with the
//! `contract` profile, in a target directory of their own (so the nested cargo never waits on the
//! outer build's lock), and copies the modules into OUT_DIR for `include_bytes!`.
//!
//! The wallet is built by a second cargo run: it enables primitives' `crypto` feature, which the
//! contracts must not get through feature unification.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

const CONTRACTS: &[(&str, &str)] = &[
    ("tutti-example-counter", "tutti_example_counter"),
    ("tutti-example-token", "tutti_example_token"),
    ("tutti-example-ping-pong", "tutti_example_ping_pong"),
    ("tutti-puzzle", "tutti_puzzle"),
    ("tutti-lottery", "tutti_lottery"),
];

const BROWSER: &[(&str, &str)] = &[("tutti-web-wallet", "tutti_web_wallet")];

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..").canonicalize().expect("workspace root exists");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for dir in [
        "examples/counter",
        "examples/token",
        "examples/ping-pong",
        "puzzle-dapp/core",
        "puzzle-dapp/contract",
        "lottery-dapp/core",
        "lottery-dapp/contract",
        "web-wallet/src",
        "web-wallet/Cargo.toml",
        "contract-sdk",
        "primitives",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    // The outer target directory is the ancestor of OUT_DIR holding CACHEDIR.TAG.
    let target = out
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .map(|p| p.join("tutti-contracts"))
        .unwrap_or_else(|| out.join("tutti-contracts"));
    for group in [CONTRACTS, BROWSER] {
        build(&root, &target, group);
    }
    for (_, file) in CONTRACTS.iter().chain(BROWSER) {
        let src = target
            .join("wasm32-unknown-unknown/contract")
            .join(format!("{file}.wasm"));
        std::fs::copy(&src, out.join(format!("{file}.wasm")))
            .unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
    }
}

fn build(root: &Path, target: &Path, packages: &[(&str, &str)]) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--profile",
            "contract",
            "--target",
            "wasm32-unknown-unknown",
            "--target-dir",
        ])
        .arg(target);
    for (package, _) in packages {
        cmd.args(["-p", package]);
    }
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("failed to run cargo to build the wasm modules");
    assert!(
        status.success(),
        "building {packages:?} for wasm32-unknown-unknown failed (is the target installed? \
         rust-toolchain.toml lists it; `rustup target add wasm32-unknown-unknown`)"
    );
}
