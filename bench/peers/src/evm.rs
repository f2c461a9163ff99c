//! The EVM: revm (Cancun rules, its default mainnet handler) with `bench/solidity/Token.sol`,
//! compiled by solc-js with the optimizer (`Token.json`, checked in). The contract is deployed and
//! a holder funded by committed transactions; each measured transfer is a full transaction
//! (validation, intrinsic gas, nonce and fee checks, the call, refunds) whose state is returned,
//! not committed, like the other engines' outcomes.

use revm::{
    Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext,
    context::{TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    handler::{MainnetContext, MainnetEvm},
    primitives::{Address, B256, Bytes, TxKind, U256, hardfork::SpecId, keccak256},
    state::AccountInfo,
};

use crate::Transfer;

const OWNER: Address = Address::repeat_byte(0x11);
const HOLDER: Address = Address::repeat_byte(0x22);

type Evm = MainnetEvm<MainnetContext<CacheDB<EmptyDB>>>;

fn word(v: U256) -> [u8; 32] {
    v.to_be_bytes()
}

fn address_word(a: Address) -> [u8; 32] {
    let mut w = [0; 32];
    w[12..].copy_from_slice(a.as_slice());
    w
}

/// `selector(signature) || words`.
fn calldata(signature: &str, words: &[[u8; 32]]) -> Bytes {
    let mut d = keccak256(signature.as_bytes())[..4].to_vec();
    for w in words {
        d.extend_from_slice(w);
    }
    d.into()
}

/// ABI encoding of the constructor's `(string, string, uint8, uint256)`.
fn constructor_args(name: &str, symbol: &str, decimals: u8, supply: U256) -> Vec<u8> {
    fn tail(s: &str) -> Vec<u8> {
        let mut t = word(U256::from(s.len())).to_vec();
        t.extend_from_slice(s.as_bytes());
        t.resize(32 + s.len().div_ceil(32) * 32, 0);
        t
    }
    let (a, b) = (tail(name), tail(symbol));
    let mut out = Vec::new();
    out.extend_from_slice(&word(U256::from(4 * 32)));
    out.extend_from_slice(&word(U256::from(4 * 32 + a.len())));
    out.extend_from_slice(&word(U256::from(decimals)));
    out.extend_from_slice(&word(supply));
    out.extend(a);
    out.extend(b);
    out
}

/// The token deployed; `tx` is the measured transfer.
pub struct Revm {
    evm: Evm,
    token: Address,
    tx: TxEnv,
}

impl Revm {
    /// Deploys the token (supply to OWNER) and gives HOLDER 1,000.
    pub fn new() -> Self {
        let artifact: serde_json::Value =
            serde_json::from_str(include_str!("../../solidity/Token.json")).expect("Token.json");
        let mut code = revm::primitives::hex::decode(artifact["bytecode"].as_str().expect("bytecode")).unwrap();
        code.extend(constructor_args("Tutti", "TUT", 6, U256::from(10u128.pow(24))));
        let mut db = CacheDB::new(EmptyDB::default());
        db.insert_account_info(
            OWNER,
            AccountInfo {
                balance: U256::from(10u128.pow(24)),
                ..AccountInfo::default()
            },
        );
        let mut evm = Context::mainnet()
            .with_db(db)
            .modify_cfg_chained(|c| c.set_spec_and_mainnet_gas_params(SpecId::CANCUN))
            .build_mainnet();
        let deploy = tx(0, TxKind::Create, code.into());
        let token = match evm.transact_commit(deploy).expect("deploy runs") {
            ExecutionResult::Success { output, .. } => output.address().copied().expect("created"),
            other => panic!("deploy failed: {other:?}"),
        };
        let fund = tx(
            1,
            TxKind::Call(token),
            calldata(
                "transfer(address,uint256)",
                &[address_word(HOLDER), word(U256::from(1_000))],
            ),
        );
        assert!(evm.transact_commit(fund).expect("runs").is_success());
        let measured = tx(
            2,
            TxKind::Call(token),
            calldata(
                "transfer(address,uint256)",
                &[address_word(HOLDER), word(U256::from(10))],
            ),
        );
        Revm {
            evm,
            token,
            tx: measured,
        }
    }

    fn balance(&mut self, who: Address) -> U256 {
        let nonce = self.tx.nonce;
        let q = tx(
            nonce,
            TxKind::Call(self.token),
            calldata("balanceOf(address)", &[address_word(who)]),
        );
        let out = self.evm.transact(q).expect("runs").result;
        U256::from_be_slice(out.output().expect("output"))
    }
}

/// A transaction from OWNER with gas price 1 (the block's base fee is 0).
fn tx(nonce: u64, kind: TxKind, data: Bytes) -> TxEnv {
    TxEnv::builder()
        .caller(OWNER)
        .kind(kind)
        .data(data)
        .nonce(nonce)
        .gas_limit(5_000_000)
        .gas_price(1)
        .build()
        .expect("valid transaction")
}

impl Transfer for Revm {
    fn transfer(&mut self) -> u64 {
        let out = self.evm.transact(self.tx.clone()).expect("runs");
        assert!(out.result.is_success());
        out.result.tx_gas_used()
    }

    fn verify(&mut self) -> String {
        let before = self.balance(HOLDER);
        let out = self.evm.transact(self.tx.clone()).expect("runs");
        assert!(out.result.is_success(), "{:?}", out.result);
        let logs = out.result.logs();
        assert_eq!(logs.len(), 1);
        assert_eq!(
            logs[0].topics()[0],
            B256::from(keccak256("Transfer(address,address,uint256)".as_bytes()))
        );
        let storage = &out.state.get(&self.token).expect("token touched").storage;
        assert_eq!(storage.len(), 2, "two balances written");
        // `balanceOf` is the contract's fourth storage variable (slot 3; `decimals` is immutable).
        let mut key = address_word(HOLDER).to_vec();
        key.extend_from_slice(&word(U256::from(3)));
        let slot = U256::from_be_bytes(keccak256(&key).0);
        assert_eq!(storage[&slot].present_value, before + U256::from(10));
        // Not committed: the holder's balance is unchanged, the next transfer the same.
        assert_eq!(self.balance(HOLDER), before);
        format!("{} gas", out.result.tx_gas_used())
    }
}
