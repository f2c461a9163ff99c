//! Cross-shard ping-pong. `ping(target, n)` calls `pong(n)` on another instance of this contract
//! (typically on another shard) and handles the answer in the callback `on_pong`, including the
//! callee failing (`pong` refuses 13). The same contract also accepts tokens through
//! `on_token_received` so the token's `transfer_and_call` can be exercised end to end:
//! `msg = "keep"` keeps everything, `"half"` returns half, `"fail"` fails (and is refunded).
#![cfg_attr(target_arch = "wasm32", no_std)]

use tutti_sdk::prelude::*;

const LAST_PONG: Item<u64> = Item::new(b"l");
const FAILURES: Item<u32> = Item::new(b"f");
const SERVED: Item<u64> = Item::new(b"s");
const RECEIVED: Map<Address, u128> = Map::new(b"r");

/// Gas reserved for `pong` and for the callback.
pub const PONG_GAS: u64 = 2_000_000;

/// The ping-pong contract.
pub struct PingPong;

#[contract(events(
    Ping: (Address, u64),
    BothReceived: u64,
    Pong: (Address, u64),
    PongReceived: (u64, u64),
    PongFailed: (u64, String)
))]
impl PingPong {
    /// Sends `pong(n)` to `target`; the answer arrives in `on_pong`.
    #[call]
    pub fn ping(target: Address, n: u64) {
        env::emit("Ping", &(target, n));
        Call::new(target, "pong")
            .args(&(n,))
            .gas(PONG_GAS)
            .send()
            .then(Call::callback("on_pong").args(&(n,)).gas(PONG_GAS));
    }

    /// Pings two targets at once; `on_both` receives both answers (a promise join).
    #[call]
    pub fn ping_both(first: Address, second: Address, n: u64) {
        let a = Call::new(first, "pong").args(&(n,)).gas(PONG_GAS).send();
        let b = Call::new(second, "pong").args(&(n + 1,)).gas(PONG_GAS).send();
        a.and(b).then(Call::callback("on_both").gas(PONG_GAS));
    }

    /// Callback of `ping_both`: stores the sum of the answers that succeeded; counts failures.
    #[callback]
    pub fn on_both(
        #[callback_result] first: Result<u64, CallFailure>,
        #[callback_result] second: Result<u64, CallFailure>,
    ) {
        let mut sum = 0;
        for r in [first, second] {
            match r {
                Ok(v) => sum += v,
                Err(_) => FAILURES.set(&(FAILURES.get_or_default() + 1)),
            }
        }
        LAST_PONG.set(&sum);
        env::emit("BothReceived", &sum);
    }

    /// Answers `n + 1`, and refuses 13.
    #[call]
    pub fn pong(n: u64) -> u64 {
        require!(n != 13, "pong refuses 13");
        SERVED.set(&(SERVED.get_or_default() + 1));
        env::emit("Pong", &(env::caller(), n));
        n + 1
    }

    /// Callback of `ping`: records the answer or the failure.
    #[callback]
    pub fn on_pong(#[callback_result] answer: Result<u64, CallFailure>, n: u64) {
        match answer {
            Ok(v) => {
                LAST_PONG.set(&v);
                env::emit("PongReceived", &(n, v));
            }
            Err(failure) => {
                FAILURES.set(&(FAILURES.get_or_default() + 1));
                env::emit("PongFailed", &(n, failure.message));
            }
        }
    }

    /// Token receiver hook: returns the amount it does not keep.
    #[call]
    pub fn on_token_received(sender: Address, amount: u128, msg: Vec<u8>) -> u128 {
        match msg.as_slice() {
            b"fail" => env::panic_str("receiver refuses the tokens"),
            b"half" => {
                let kept = amount / 2;
                RECEIVED.insert(&sender, &(RECEIVED.get(&sender).unwrap_or(0) + kept));
                amount - kept
            }
            _ => {
                RECEIVED.insert(&sender, &(RECEIVED.get(&sender).unwrap_or(0) + amount));
                0
            }
        }
    }

    /// The last answer received, if any.
    #[view]
    pub fn last_pong() -> Option<u64> {
        LAST_PONG.get()
    }

    /// How many pings failed.
    #[view]
    pub fn failures() -> u32 {
        FAILURES.get_or_default()
    }

    /// How many pongs this instance served.
    #[view]
    pub fn served() -> u64 {
        SERVED.get_or_default()
    }

    /// Tokens received from `sender` through `on_token_received`.
    #[view]
    pub fn received_from(sender: Address) -> u128 {
        RECEIVED.get(&sender).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tutti_sdk::testing;

    #[test]
    fn ping_creates_call_and_callback() {
        testing::reset();
        PingPong::ping(Address([5; 32]), 4);
        let p = testing::take_promises();
        assert_eq!(p[0].method, "pong");
        assert_eq!(p[0].args, (4u64,).encode());
        assert_eq!(p[1].method, "on_pong");
        assert_eq!(p[1].after, vec![0]);
    }

    #[test]
    fn callback_records_success_and_failure() {
        testing::reset();
        testing::set_caller(testing::with(|e| e.self_address));
        PingPong::on_pong(Ok(5), 4);
        assert_eq!(PingPong::last_pong(), Some(5));
        PingPong::on_pong(
            Err(CallFailure {
                kind: FailureKind::Panic,
                message: "pong refuses 13".into(),
            }),
            13,
        );
        assert_eq!(PingPong::failures(), 1);
    }

    #[test]
    fn pong_refuses_13() {
        testing::reset();
        assert_eq!(PingPong::pong(1), 2);
        assert_eq!(testing::expect_panic(|| PingPong::pong(13)), "pong refuses 13");
        assert_eq!(PingPong::served(), 1);
    }
}
