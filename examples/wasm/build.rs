//! Builds the example and dApp contracts, and the browser wallet module, to wasm32 with the
//! `contract` profile, in a target directory of their own (so the nested cargo never waits on the
//! outer build's lock), and copies the modules into OUT_DIR for `include_bytes!`.
//!
//! Each contract's ABI (its `abi()`, printed by `tutti-abi-dump` run natively by a nested cargo
//! in the same target directory: the contract crates are cdylibs, which cannot be build
//! dependencies without clashing with their workspace builds) is embedded in its module as the
//! `tutti:abi` custom section.
//!
//! The wallet is built by a second cargo run: it enables primitives' `crypto` feature, which the
//! contracts must not get through feature unification.
//!
//! rustup does not add the targets listed in `rust-toolchain.toml` to a toolchain that is already
//! installed, so on such a machine the wasm32 standard library is missing. The script then adds it
//! itself (`rustup target add`, announced in one warning line) and, where that is impossible (no
//! rustup, no network), fails with the exact command to run.

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
        "examples/abi-dump",
        "puzzle-dapp/core",
        "puzzle-dapp/contract",
        "lottery-dapp/core",
        "lottery-dapp/contract",
        "web-wallet/src",
        "web-wallet/Cargo.toml",
        "contract-sdk",
        "primitives",
        "Cargo.lock",
        // The contracts' link flags (their stack size) live there.
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    // The outer target directory is the ancestor of OUT_DIR holding CACHEDIR.TAG.
    let target = out
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .map(|p| p.join("tutti-contracts"))
        .unwrap_or_else(|| out.join("tutti-contracts"));
    // Run again when the target is removed or added, so a build never keeps modules from a
    // toolchain state that no longer holds.
    if let Some(dir) = wasm_libdir() {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    ensure_wasm_target(&root);
    for group in [CONTRACTS, BROWSER] {
        build(&root, &target, group);
    }
    let abis = abis(&root, &target);
    for (_, file) in CONTRACTS.iter().chain(BROWSER) {
        let src = target
            .join("wasm32-unknown-unknown/contract")
            .join(format!("{file}.wasm"));
        let wasm = std::fs::read(&src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
        let wasm = match abis.get(*file) {
            Some(abi) => tutti_abi::embed(&wasm, abi),
            None => wasm,
        };
        std::fs::write(out.join(format!("{file}.wasm")), wasm).unwrap_or_else(|e| panic!("writing {file}.wasm: {e}"));
    }
}

/// The contracts' ABIs by module file name, from `tutti-abi-dump`.
fn abis(root: &Path, target: &Path) -> std::collections::BTreeMap<String, tutti_abi::Abi> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["run", "--quiet", "-p", "tutti-abi-dump", "--target-dir"])
        .arg(target);
    // The outer build's settings are for the outer build.
    for var in OUTER_ONLY {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("failed to run cargo to print the contracts' ABIs");
    if !out.status.success() {
        panic!(
            "printing the contracts' ABIs failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).expect("tutti-abi-dump prints ABIs")
}

const WASM: &str = "wasm32-unknown-unknown";

/// The outer build's settings, not passed to the nested cargo runs.
const OUTER_ONLY: [&str; 9] = [
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
];

/// Where the toolchain running this build keeps (or would keep) the wasm32 standard library.
fn wasm_libdir() -> Option<PathBuf> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", WASM])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Whether the toolchain running this build has the wasm32 standard library.
fn wasm_target_installed() -> bool {
    wasm_libdir()
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .is_some_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libcore-"))
        })
}

/// Adds the wasm32 target to the active toolchain through rustup when it is missing.
fn ensure_wasm_target(root: &Path) {
    if wasm_target_installed() {
        return;
    }
    // rustup tells the processes it starts which toolchain it chose (rust-toolchain.toml here).
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let mut command = format!("rustup target add {WASM}");
    if let Some(toolchain) = &toolchain {
        command.push_str(&format!(" --toolchain {toolchain}"));
    }
    println!("cargo:warning=the {WASM} target (needed for the contracts) is missing; running `{command}`");
    let mut rustup = Command::new("rustup");
    rustup.current_dir(root).args(["target", "add", WASM]);
    if let Some(toolchain) = &toolchain {
        rustup.args(["--toolchain", toolchain]);
    }
    let added = rustup.status().map(|s| s.success()).unwrap_or(false);
    if !added || !wasm_target_installed() {
        panic!(
            "the {WASM} target is not installed for this toolchain and could not be added \
             automatically; run `{command}` (or install your distribution's wasm32 standard \
             library) and build again"
        );
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
    for var in OUTER_ONLY {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("failed to run cargo to build the wasm modules");
    assert!(
        status.success(),
        "building {packages:?} for {WASM} failed (the compiler's errors are above)"
    );
}
