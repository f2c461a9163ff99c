//! What `tutti testnet` does when one of its node processes ends: the decisions only (time is an
//! input), so they are tested without processes.
//!
//! Rules:
//! - A node that exits is reported and the others keep running.
//! - With a restart delay set (`--restart-dead SECS`), a dead node is started again after that
//!   delay, doubled for every consecutive quick failure (one that ran less than [`QUICK`]), and
//!   given up after [`MAX_QUICK_FAILURES`] of them in a row (a node that cannot start is not
//!   restarted forever).
//! - The testnet stops when, on some shard, the validators running or about to restart hold no
//!   quorum (more than 2/3 of that shard's stake): that shard could not finalize another block.

use std::time::{Duration, Instant};

/// A node that ran less than this before exiting failed "quickly".
pub const QUICK: Duration = Duration::from_secs(30);
/// Consecutive quick failures after which a node is no longer restarted.
pub const MAX_QUICK_FAILURES: u32 = 5;
/// Longest wait before a restart.
const MAX_DELAY: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running {
        since: Instant,
    },
    /// Dead; restarted at the instant, if any.
    Dead {
        restart_at: Option<Instant>,
    },
}

/// What happens to a node that just exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterExit {
    /// It stays down (no restart delay configured).
    StaysDown,
    /// It starts again after this long.
    RestartIn(Duration),
    /// It failed quickly too many times in a row; it stays down.
    GaveUp {
        /// Consecutive quick failures.
        failures: u32,
    },
}

/// The testnet's view of its validators.
#[derive(Debug)]
pub struct Supervisor {
    /// Each node's shard and stake.
    seats: Vec<(u32, u128)>,
    restart: Option<Duration>,
    states: Vec<State>,
    quick_failures: Vec<u32>,
}

impl Supervisor {
    /// Validators on these (shard, stake) seats, all just started at `now`.
    pub fn new(seats: Vec<(u32, u128)>, restart: Option<Duration>, now: Instant) -> Self {
        let n = seats.len();
        Self {
            seats,
            restart,
            states: vec![State::Running { since: now }; n],
            quick_failures: vec![0; n],
        }
    }

    /// Node `i` exited at `now`.
    pub fn exited(&mut self, i: usize, now: Instant) -> AfterExit {
        let Some(State::Running { since }) = self.states.get(i).copied() else {
            return AfterExit::StaysDown;
        };
        if now.saturating_duration_since(since) < QUICK {
            self.quick_failures[i] += 1;
        } else {
            self.quick_failures[i] = 0;
        }
        let failures = self.quick_failures[i];
        let after = match self.restart {
            None => AfterExit::StaysDown,
            Some(_) if failures >= MAX_QUICK_FAILURES => AfterExit::GaveUp { failures },
            Some(base) => {
                let doubled = base.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
                AfterExit::RestartIn(doubled.min(MAX_DELAY.max(base)))
            }
        };
        self.states[i] = State::Dead {
            restart_at: match after {
                AfterExit::RestartIn(d) => Some(now + d),
                _ => None,
            },
        };
        after
    }

    /// Nodes whose restart is due at `now`.
    pub fn due(&self, now: Instant) -> Vec<usize> {
        (0..self.states.len())
            .filter(|&i| matches!(self.states[i], State::Dead { restart_at: Some(t) } if t <= now))
            .collect()
    }

    /// Node `i` was started (again) at `now`.
    pub fn started(&mut self, i: usize, now: Instant) {
        if let Some(s) = self.states.get_mut(i) {
            *s = State::Running { since: now };
        }
    }

    /// Whether node `i` is running.
    #[cfg(test)]
    pub fn is_running(&self, i: usize) -> bool {
        matches!(self.states.get(i), Some(State::Running { .. }))
    }

    /// A shard whose validators running or waiting to restart hold no quorum of its stake:
    /// `(shard, live, total)` (validators counted on that shard).
    pub fn lost_quorum(&self) -> Option<(u32, usize, usize)> {
        let mut shards: Vec<u32> = self.seats.iter().map(|(s, _)| *s).collect();
        shards.sort_unstable();
        shards.dedup();
        shards.into_iter().find_map(|shard| {
            let on: Vec<usize> = (0..self.seats.len()).filter(|&i| self.seats[i].0 == shard).collect();
            let live: Vec<usize> = on
                .iter()
                .copied()
                .filter(|&i| !matches!(self.states[i], State::Dead { restart_at: None }))
                .collect();
            let power: u128 = live.iter().map(|&i| self.seats[i].1).sum();
            let total: u128 = on.iter().map(|&i| self.seats[i].1).sum();
            // The consensus rule: strictly more than 2/3 of the total.
            let quorum = power.saturating_mul(3) > total.saturating_mul(2);
            (!quorum).then_some((shard, live.len(), on.len()))
        })
    }
}

/// The last `lines` lines of a log file (or why it cannot be read).
pub fn log_tail(path: &std::path::Path, lines: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const WINDOW: u64 = 16 * 1024;
    let read = || -> std::io::Result<String> {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(WINDOW)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_dead_node_stays_down_without_restarts_and_quorum_is_counted_by_stake() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(vec![(0, 1); 4], None, t0);
        assert_eq!(s.exited(2, t0 + 60 * S), AfterExit::StaysDown);
        assert!(!s.is_running(2));
        assert!(s.due(t0 + 1000 * S).is_empty());
        // Three of four equal stakes are a quorum (3 > 8/3); two are not.
        assert_eq!(s.lost_quorum(), None);
        s.exited(0, t0 + 61 * S);
        assert_eq!(s.lost_quorum(), Some((0, 2, 4)));

        // Stake, not heads: one validator with 70% keeps a quorum alone.
        let mut s = Supervisor::new(vec![(0, 70), (0, 10), (0, 10), (0, 10)], None, t0);
        for i in 1..4 {
            s.exited(i, t0 + 60 * S);
        }
        assert_eq!(s.lost_quorum(), None);
        s.exited(0, t0 + 60 * S);
        assert_eq!(s.lost_quorum(), Some((0, 0, 4)));

        // Per shard: two shards of three; one dead on each keeps both; two dead on shard 1 stops it.
        let mut s = Supervisor::new(vec![(0, 1), (0, 1), (0, 1), (1, 1), (1, 1), (1, 1)], None, t0);
        s.exited(0, t0 + 60 * S);
        assert_eq!(s.lost_quorum(), Some((0, 2, 3)), "2 of 3 is not more than 2/3");
        let mut s = Supervisor::new(vec![(0, 1); 4].into_iter().chain(vec![(1, 1); 4]).collect(), None, t0);
        s.exited(0, t0 + 60 * S);
        s.exited(4, t0 + 60 * S);
        assert_eq!(s.lost_quorum(), None, "3 of 4 on each shard");
        s.exited(5, t0 + 60 * S);
        assert_eq!(s.lost_quorum(), Some((1, 2, 4)));
    }

    #[test]
    fn restarts_are_delayed_backed_off_and_given_up_on_a_crash_loop() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(vec![(0, 1); 4], Some(2 * S), t0);
        // A node that ran for a while restarts after the base delay.
        assert_eq!(s.exited(1, t0 + 100 * S), AfterExit::RestartIn(2 * S));
        // Waiting to restart still counts toward the quorum.
        s.exited(0, t0 + 100 * S);
        assert_eq!(s.lost_quorum(), None);
        assert_eq!(s.due(t0 + 101 * S), Vec::<usize>::new());
        assert_eq!(s.due(t0 + 102 * S), vec![0, 1]);
        s.started(1, t0 + 102 * S);
        assert!(s.is_running(1));
        // Quick failures double the delay, then the node is given up.
        let mut t = t0 + 102 * S;
        let mut delays = Vec::new();
        loop {
            t += S;
            match s.exited(1, t) {
                AfterExit::RestartIn(d) => {
                    delays.push(d.as_secs());
                    t += d;
                    s.started(1, t);
                }
                AfterExit::GaveUp { failures } => {
                    assert_eq!(failures, MAX_QUICK_FAILURES);
                    break;
                }
                AfterExit::StaysDown => panic!("restarts are on"),
            }
        }
        assert_eq!(delays, vec![2, 4, 8, 16]);
        assert!(s.due(t + 1000 * S).iter().all(|&i| i != 1));
        // A given-up node no longer counts: 0 waits to restart, 2 and 3 run: 3 of 4.
        assert_eq!(s.lost_quorum(), None);
        s.exited(2, t + 100 * S);
        // 2 restarts later, so it still counts.
        assert_eq!(s.lost_quorum(), None);
    }

    #[test]
    fn the_tail_of_a_log_is_its_last_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("node.log");
        let text: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&p, text).expect("write");
        assert_eq!(log_tail(&p, 3), "line 4997\nline 4998\nline 4999");
        assert!(log_tail(&dir.path().join("missing"), 3).starts_with("(cannot read"));
    }
}
