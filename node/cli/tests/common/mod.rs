//! Helpers shared by the process-level tests: a free port and a `tutti dev` child process.
#![allow(dead_code)]

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
};

/// A port nothing listens on right now, below the kernel's ephemeral range (from 32768 on
/// Linux), so no process's outgoing connection takes it while a node restarts on it, and not
/// handed out before by this test binary.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = (std::process::id() % 97) * 113;
    loop {
        let i = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(i < 10_000, "no free port below the ephemeral range");
        // 31000-32499, apart from the testnet tests' 10000-30999.
        let port = (31_000 + (start + i * 7) % 1_500) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A running `tutti dev`.
pub struct DevNode {
    /// The process.
    pub child: Child,
    /// Its RPC URL.
    pub rpc: String,
}

impl Drop for DevNode {
    /// A test that fails (panics) must not leave its node running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `tutti dev` on `dir/data`, logging to `dir/node.log`.
pub fn start(dir: &Path, port: u16, block_time_ms: u64, extra: &[&str]) -> DevNode {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("node.log"))
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_tutti"))
        .args(["dev", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--rpc-addr", &format!("127.0.0.1:{port}"), "--block-time"])
        .arg(block_time_ms.to_string())
        .args(extra)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    DevNode {
        child,
        rpc: format!("http://127.0.0.1:{port}"),
    }
}

/// What the node has logged so far.
pub fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("node.log")).unwrap_or_default()
}

/// The first address of the form `[i; 32]` that lives on `shard` of `shards`.
pub fn address_on(shard: usize, shards: u32) -> tutti_primitives::Address {
    (0..=255u8)
        .map(|i| tutti_primitives::Address([i; 32]))
        .find(|a| a.home_shard(shards) as usize == shard)
        .expect("some [i; 32] lives on every shard")
}

/// Waits (up to a minute) until every client reports `want` as `a`'s balance; false if it never
/// does.
pub async fn balances_reach(
    clients: &[jsonrpsee::http_client::HttpClient],
    a: &tutti_primitives::Address,
    want: u128,
) -> bool {
    use tutti_rpc::TuttiApiClient;
    for _ in 0..600 {
        let mut all = true;
        for c in clients {
            let b = c.get_balance(a.to_string(), None).await;
            all &= b.ok().and_then(|b| b.parse::<u128>().ok()) == Some(want);
        }
        if all {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
