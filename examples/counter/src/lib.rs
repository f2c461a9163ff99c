//! A counter: the smallest useful contract. Shows init, call, view, events and a panic message.
#![cfg_attr(target_arch = "wasm32", no_std)]

use tutti_sdk::prelude::*;

const COUNT: Item<u64> = Item::new(b"c");

/// The counter contract.
pub struct Counter;

#[contract(events(Incremented: (u64, u64), Reset: Address))]
impl Counter {
    /// Sets the starting value (once).
    #[init]
    pub fn init(start: u64) {
        COUNT.set(&start);
    }

    /// Adds `by`; returns the new value. Fails with "counter overflow" past `u64::MAX`.
    #[call]
    pub fn increment(by: u64) -> u64 {
        let Some(n) = COUNT.get_or_default().checked_add(by) else {
            env::panic_str("counter overflow");
        };
        COUNT.set(&n);
        env::emit("Incremented", &(by, n));
        n
    }

    /// Sets the counter back to zero.
    #[call]
    pub fn reset() {
        COUNT.set(&0);
        env::emit("Reset", &env::caller());
    }

    /// The current value.
    #[view]
    pub fn get() -> u64 {
        COUNT.get_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tutti_sdk::testing;

    #[test]
    fn counts_and_emits() {
        testing::reset();
        Counter::init(5);
        assert_eq!(Counter::increment(2), 7);
        assert_eq!(Counter::get(), 7);
        let events = testing::take_events();
        assert_eq!(events, vec![("Incremented".to_string(), (2u64, 7u64).encode())]);
        Counter::reset();
        assert_eq!(Counter::get(), 0);
    }

    #[test]
    fn overflow_fails_with_a_message_and_keeps_state() {
        testing::reset();
        Counter::init(u64::MAX - 1);
        let msg = testing::expect_panic(|| Counter::increment(2));
        assert_eq!(msg, "counter overflow");
        assert_eq!(Counter::get(), u64::MAX - 1);
    }
}
