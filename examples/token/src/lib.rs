//! A fungible token: balances, transfer, approve / transfer_from, and `transfer_and_call`, which
//! moves tokens to a contract and calls its `on_token_received(sender, amount, msg) -> u128`
//! (the amount it did not use). The callback `resolve_transfer` refunds the unused amount, or all
//! of it when the receiver failed, so tokens are never lost to a failing receiver.
//!
//! Events: `Transfer { from, to, amount }`, `Approval { owner, spender, amount }`,
//! `Refund { to, amount }`.
#![cfg_attr(target_arch = "wasm32", no_std)]

use tutti_sdk::prelude::*;

const META: Item<Metadata> = Item::new(b"m");
const SUPPLY: Item<u128> = Item::new(b"s");
const BALANCES: Map<Address, u128> = Map::new(b"b");
const ALLOWANCES: Map<(Address, Address), u128> = Map::new(b"a");

/// Gas reserved for the receiver and for the refund callback of `transfer_and_call`.
pub const RECEIVER_GAS: u64 = 5_000_000;
/// Gas reserved for `resolve_transfer`.
pub const RESOLVE_GAS: u64 = 5_000_000;

/// Token metadata.
#[derive(Encode, Decode, Clone, Debug, PartialEq, Eq, scale_info::TypeInfo)]
pub struct Metadata {
    /// Name.
    pub name: String,
    /// Ticker.
    pub symbol: String,
    /// Decimal places for display.
    pub decimals: u8,
}

/// `Transfer` event payload.
#[derive(Encode, Decode, Clone, Debug, PartialEq, Eq, scale_info::TypeInfo)]
pub struct TransferEvent {
    /// Sender (the zero address when minting).
    pub from: Address,
    /// Receiver.
    pub to: Address,
    /// Amount.
    pub amount: u128,
}

/// `Approval` event payload.
#[derive(Encode, Decode, Clone, Debug, PartialEq, Eq, scale_info::TypeInfo)]
pub struct ApprovalEvent {
    /// Owner of the tokens.
    pub owner: Address,
    /// Who may spend them.
    pub spender: Address,
    /// New allowance.
    pub amount: u128,
}

fn balance(a: &Address) -> u128 {
    BALANCES.get(a).unwrap_or(0)
}

fn set_balance(a: &Address, v: u128) {
    if v == 0 {
        BALANCES.remove(a);
    } else {
        BALANCES.insert(a, &v);
    }
}

fn move_tokens(from: &Address, to: &Address, amount: u128) {
    let have = balance(from);
    require!(have >= amount, "insufficient token balance: have {have}, need {amount}");
    if from != to {
        set_balance(from, have - amount);
        // Cannot overflow: the total supply fits in u128.
        set_balance(to, balance(to) + amount);
    }
    env::emit(
        "Transfer",
        &TransferEvent {
            from: *from,
            to: *to,
            amount,
        },
    );
}

/// The token contract.
pub struct Token;

#[contract(events(Transfer: TransferEvent, Approval: ApprovalEvent, Refund: (Address, u128)))]
impl Token {
    /// Creates the token and gives the whole supply to the deployer.
    #[init]
    pub fn init(name: String, symbol: String, decimals: u8, supply: u128) {
        META.set(&Metadata { name, symbol, decimals });
        SUPPLY.set(&supply);
        let owner = env::caller();
        set_balance(&owner, supply);
        env::emit(
            "Transfer",
            &TransferEvent {
                from: Address::default(),
                to: owner,
                amount: supply,
            },
        );
    }

    /// Sends `amount` of the caller's tokens to `to`.
    #[call]
    pub fn transfer(to: Address, amount: u128) {
        move_tokens(&env::caller(), &to, amount);
    }

    /// Lets `spender` move up to `amount` of the caller's tokens.
    #[call]
    pub fn approve(spender: Address, amount: u128) {
        let owner = env::caller();
        ALLOWANCES.insert(&(owner, spender), &amount);
        env::emit("Approval", &ApprovalEvent { owner, spender, amount });
    }

    /// Moves `amount` from `owner` to `to` using the caller's allowance.
    #[call]
    pub fn transfer_from(owner: Address, to: Address, amount: u128) {
        let spender = env::caller();
        let allowed = ALLOWANCES.get(&(owner, spender)).unwrap_or(0);
        require!(
            allowed >= amount,
            "allowance exceeded: allowed {allowed}, asked {amount}"
        );
        ALLOWANCES.insert(&(owner, spender), &(allowed - amount));
        move_tokens(&owner, &to, amount);
    }

    /// Sends `amount` to the contract `receiver` and calls its `on_token_received(sender, amount, msg)`.
    /// What the receiver does not use (its return value), or everything if it fails, is refunded.
    #[call]
    pub fn transfer_and_call(receiver: Address, amount: u128, msg: Vec<u8>) {
        let sender = env::caller();
        move_tokens(&sender, &receiver, amount);
        Call::new(receiver, "on_token_received")
            .args(&(sender, amount, msg))
            .gas(RECEIVER_GAS)
            .send()
            .then(
                Call::callback("resolve_transfer")
                    .args(&(sender, receiver, amount))
                    .gas(RESOLVE_GAS)
                    .weight(0),
            );
    }

    /// Callback of `transfer_and_call`: refunds the unused amount; returns the amount kept by the receiver.
    #[callback]
    pub fn resolve_transfer(
        #[callback_result] used: Result<u128, CallFailure>,
        sender: Address,
        receiver: Address,
        amount: u128,
    ) -> u128 {
        let unused = match used {
            Ok(unused) => unused.min(amount),
            Err(failure) => {
                env::log(&format!("receiver failed ({failure}); refunding {amount}"));
                amount
            }
        };
        // The receiver may have spent some in the meantime: refund what it still has.
        let refund = unused.min(balance(&receiver));
        if refund > 0 {
            set_balance(&receiver, balance(&receiver) - refund);
            set_balance(&sender, balance(&sender) + refund);
            env::emit(
                "Transfer",
                &TransferEvent {
                    from: receiver,
                    to: sender,
                    amount: refund,
                },
            );
            env::emit("Refund", &(sender, refund));
        }
        amount - refund
    }

    /// Balance of `owner`.
    #[view]
    pub fn balance_of(owner: Address) -> u128 {
        balance(&owner)
    }

    /// Allowance of `spender` over `owner`'s tokens.
    #[view]
    pub fn allowance(owner: Address, spender: Address) -> u128 {
        ALLOWANCES.get(&(owner, spender)).unwrap_or(0)
    }

    /// Total supply.
    #[view]
    pub fn total_supply() -> u128 {
        SUPPLY.get_or_default()
    }

    /// Name, symbol and decimals.
    #[view]
    pub fn metadata() -> Metadata {
        META.get()
            .unwrap_or_else(|| env::panic_str("the token is not initialized"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tutti_sdk::testing;

    const A: Address = Address([1; 32]);
    const B: Address = Address([2; 32]);
    const C: Address = Address([3; 32]);

    fn setup() {
        testing::reset();
        testing::set_caller(A);
        Token::init("Tutti".into(), "TUT".into(), 6, 1_000);
        testing::take_events();
    }

    #[test]
    fn transfer_moves_balances_and_emits() {
        setup();
        Token::transfer(B, 300);
        assert_eq!(Token::balance_of(A), 700);
        assert_eq!(Token::balance_of(B), 300);
        let ev = testing::take_events();
        assert_eq!(ev[0].0, "Transfer");
        assert_eq!(
            TransferEvent::decode(&mut &ev[0].1[..]).unwrap(),
            TransferEvent {
                from: A,
                to: B,
                amount: 300
            }
        );
        let msg = testing::expect_panic(|| Token::transfer(B, 701));
        assert_eq!(msg, "insufficient token balance: have 700, need 701");
        assert_eq!(Token::balance_of(A), 700);
    }

    #[test]
    fn approve_and_transfer_from() {
        setup();
        Token::approve(B, 100);
        assert_eq!(Token::allowance(A, B), 100);
        testing::set_caller(B);
        Token::transfer_from(A, C, 60);
        assert_eq!(Token::balance_of(C), 60);
        assert_eq!(Token::allowance(A, B), 40);
        let msg = testing::expect_panic(|| Token::transfer_from(A, C, 41));
        assert!(msg.starts_with("allowance exceeded"), "{msg}");
    }

    #[test]
    fn transfer_and_call_refunds_on_failure_and_unused() {
        setup();
        Token::transfer_and_call(B, 100, b"hi".to_vec());
        let promises = testing::take_promises();
        assert_eq!(promises.len(), 2);
        assert_eq!(promises[0].receiver, B);
        assert_eq!(promises[0].method, "on_token_received");
        assert_eq!(promises[1].method, "resolve_transfer");
        assert_eq!(promises[1].after, vec![0]);
        assert_eq!(Token::balance_of(B), 100);

        // The callback runs as the contract itself.
        testing::set_caller(testing::with(|e| e.self_address));
        let failed = Err(CallFailure {
            kind: FailureKind::Panic,
            message: "nope".into(),
        });
        assert_eq!(Token::resolve_transfer(failed, A, B, 100), 0);
        assert_eq!(Token::balance_of(A), 1_000);
        assert_eq!(Token::balance_of(B), 0);

        testing::set_caller(A);
        Token::transfer_and_call(B, 100, vec![]);
        testing::set_caller(testing::with(|e| e.self_address));
        assert_eq!(Token::resolve_transfer(Ok(30), A, B, 100), 70);
        assert_eq!(Token::balance_of(A), 930);
        assert_eq!(Token::balance_of(B), 70);
    }

    #[test]
    fn resolve_transfer_is_not_callable_by_others() {
        setup();
        let msg = testing::expect_panic(|| Token::resolve_transfer(Ok(0), A, B, 1));
        assert!(msg.contains("callback"), "{msg}");
    }
}
