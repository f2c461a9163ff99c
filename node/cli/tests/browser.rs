//! The dApp pages in headless Chromium against a real `tutti dev` (slow; `#[ignore]`d so the quick
//! suite stays quick). CI runs them after installing Chromium and the test driver:
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
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut node = common::start(dir.path(), port, 500, extra);
    wait_ready(dir.path());
    let out = Command::new("node")
        .arg(scripts().join(script))
        .arg(&node.rpc)
        .output()
        .expect("cannot run node (Node.js 18 or later is needed for the browser tests)");
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
