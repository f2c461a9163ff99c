//! The dApp pages in headless Chromium, and the JavaScript client (`clients/js`) in Node.js, against
//! a real `tutti dev` (slow; `#[ignore]`d so the quick suite stays quick). CI runs them after
//! installing Chromium and the test driver:
//!
//! ```text
//! apt-get install chromium && npm ci --prefix tests/browser
//! cargo test -p tutti --test browser -- --ignored
//! ```

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

fn wait_ready(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !common::log(dir).contains("Ready.") {
        assert!(
            Instant::now() < deadline,
            "tutti dev did not start:\n{}",
            common::log(dir)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run_page_test(script: &str, extra: &[&str]) {
    let driver = scripts().join("node_modules/playwright-core");
    assert!(
        driver.exists(),
        "the browser test driver is not installed: run `npm ci --prefix tests/browser` (and install Debian's \
         chromium package)"
    );
    run_node(extra, |cmd, rpc| {
        cmd.arg(scripts().join(script)).arg(rpc);
    });
}

/// Starts `tutti dev` with `extra` arguments, runs Node.js as `setup` says (given the RPC URL),
/// and fails with both outputs unless it succeeds.
fn run_node(extra: &[&str], setup: impl FnOnce(&mut Command, &str)) {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut node = common::start(dir.path(), port, 500, extra);
    wait_ready(dir.path());
    let mut cmd = Command::new("node");
    setup(&mut cmd, &node.rpc);
    let script = format!("{:?}", cmd.get_args().collect::<Vec<_>>());
    let out = cmd
        .output()
        .expect("cannot run node (Node.js 18 or later is needed for the browser and client tests)");
    let _ = node.child.kill();
    let _ = node.child.wait();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "{script} failed:\n{text}\nnode log:\n{}",
        common::log(dir.path())
    );
}

/// Whether this Node.js has a global `WebSocket` (22 and later) or needs the flag (20).
fn node_websocket_flag() -> Option<&'static str> {
    let has = Command::new("node")
        .args(["-e", "process.exit(typeof WebSocket === 'undefined' ? 1 : 0)"])
        .status()
        .is_ok_and(|s| s.success());
    (!has).then_some("--experimental-websocket")
}

#[test]
#[ignore = "needs Node.js 18 or later; run with --ignored (CI does)"]
fn js_client_against_tutti_dev() {
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients/js");
    let wasm = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wasm.path(), tutti_examples::TOKEN).unwrap();
    // Long Lottery rounds: the test buys tickets and must not meet a closed round.
    run_node(&["--lottery-round-secs", "86400"], |cmd, rpc| {
        cmd.args(node_websocket_flag())
            .arg("--test")
            .arg("--test-concurrency=1")
            .arg(client.join("test/client.test.mjs"))
            .env("TUTTI_RPC", rpc)
            .env("TUTTI_TOKEN_WASM", wasm.path());
    });
}

#[test]
#[ignore = "needs Chromium and `npm ci --prefix tests/browser`; run with --ignored (CI does)"]
fn puzzle_is_played_in_a_real_browser() {
    run_page_test("puzzle.mjs", &[]);
}

#[test]
#[ignore = "needs Chromium and `npm ci --prefix tests/browser`; run with --ignored (CI does)"]
fn lottery_round_is_played_by_two_browser_wallets() {
    run_page_test("lottery.mjs", &["--lottery-round-secs", "20"]);
}
