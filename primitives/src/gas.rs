//! The gas schedule: every price the runtime charges, as data, in one place (here, beside the
//! transactions it prices, so that clients such as the browser wallet size gas limits with the
//! chain's own numbers; the runtime adds the wasmtime operator table, `tutti_runtime::gas`).
//!
//! One unit of gas is one unit of wasmtime fuel. Wasm operators cost what the runtime's
//! `operator_cost` says (wasmtime's defaults: 1 for most operators, 0 for structural ones, plus per-byte costs for
//! `memory.copy` / `memory.fill` and per-page costs for `memory.grow`). Host functions charge
//! `base + per_byte * bytes` before doing any work. The numbers are calibrated by
//! `cargo bench -p tutti-runtime --bench calibrate` so that gas tracks wall time on the
//! reference machine (see BENCHMARKS.md).

use crate::Gas;

/// Price of one host function: `base + per_byte * bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostCost {
    /// Charged on every call.
    pub base: Gas,
    /// Charged per byte moved across the guest boundary or hashed.
    pub per_byte: Gas,
}

impl HostCost {
    /// The price for `bytes` bytes, saturating.
    pub fn of(&self, bytes: usize) -> Gas {
        self.base.saturating_add(self.per_byte.saturating_mul(bytes as Gas))
    }
}

const fn hc(base: Gas, per_byte: Gas) -> HostCost {
    HostCost { base, per_byte }
}

/// All prices. `GasSchedule::default()` is the schedule of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GasSchedule {
    /// Charged to every transaction for its inclusion (signature check, nonce and balance update,
    /// storing and indexing it), per encoded byte. Burnt even when the transaction's action fails.
    pub transaction: HostCost,
    /// Charged before instantiating the contract for a call.
    ///
    /// This and `instantiate_per_page` price a new instance even when the runtime reuses a parked
    /// one (which costs less): whether a parked instance is at hand depends on the node's own
    /// pool and history, and gas must come out the same on every node.
    pub call_base: Gas,
    /// Charged per initial 64 KiB page of the contract's memory, on every call.
    pub instantiate_per_page: Gas,
    /// Deploying code: `base + per_byte * wasm_len` (validation, instrumentation, compilation).
    pub deploy: HostCost,
    /// Flat cost of the `memory.grow` operator, on top of the per-page cost.
    pub memory_grow: u8,
    /// Cost per 64 KiB page requested by `memory.grow` (charged before the memory grows, whether
    /// or not it can): mapping, zeroing and faulting in a page, and resetting it after the call.
    pub memory_page: Gas,
    /// Reading the call input or a promise result into guest memory.
    pub read_input: HostCost,
    /// Copying the register (last variable-size host result) into guest memory.
    pub read_register: HostCost,
    /// `storage_read`, per key + value byte.
    pub storage_read: HostCost,
    /// `storage_write`, per key + value byte.
    pub storage_write: HostCost,
    /// `storage_remove` and `storage_has`, per key byte.
    pub storage_remove: HostCost,
    /// `storage_has`, per key byte.
    pub storage_has: HostCost,
    /// Context getters that return a number (block height, timestamp, shard id, gas left...).
    pub context: HostCost,
    /// Context getters that write into guest memory (caller, signer, balance, randomness...).
    pub context_write: HostCost,
    /// `emit_event`, per name + data byte.
    pub emit_event: HostCost,
    /// `log`, per byte.
    pub log: HostCost,
    /// `transfer`.
    pub transfer: HostCost,
    /// `hash_blake3`, per input byte.
    pub blake3: HostCost,
    /// `ed25519_verify`, per message byte.
    pub ed25519_verify: HostCost,
    /// Creating a promise (call or callback), per method + args byte.
    pub promise_create: HostCost,
    /// Joining promises, per joined promise.
    pub promise_and: HostCost,
    /// `value_return`, per byte.
    pub value_return: HostCost,
    /// A staking action on the beacon chain (registry reads and writes), on top of inclusion.
    pub stake: Gas,
    /// Checking a BLS proof of possession (two pairings), added for creating a validator.
    pub bls_possession: Gas,
}

impl Default for GasSchedule {
    /// Calibrated on the reference machine (BENCHMARKS.md) at about 10 gas per nanosecond
    /// (0.1 ns per gas), close to plain wasm operators at 1 fuel each (0.13-0.2 ns measured).
    /// Host prices split a measured cost into a base and a per-byte part.
    fn default() -> Self {
        GasSchedule {
            transaction: hc(1_500_000, 50),
            call_base: 56_000,
            instantiate_per_page: 28_000,
            deploy: hc(20_000_000, 9_000),
            memory_grow: 255,
            memory_page: 1_200_000,
            read_input: hc(280, 3),
            read_register: hc(210, 3),
            storage_read: hc(980, 5),
            storage_write: hc(4_900, 14),
            storage_remove: hc(4_900, 5),
            storage_has: hc(1_000, 5),
            context: hc(210, 0),
            context_write: hc(490, 0),
            emit_event: hc(1_800, 8),
            log: hc(1_500, 7),
            transfer: hc(3_300, 0),
            blake3: hc(700, 18),
            ed25519_verify: hc(1_155_000, 18),
            promise_create: hc(6_000, 8),
            promise_and: hc(1_400, 350),
            value_return: hc(630, 3),
            stake: 2_000_000,
            bls_possession: 20_000_000,
        }
    }
}

impl GasSchedule {
    /// Gas a transaction of `len` encoded bytes burns for its inclusion.
    pub fn inclusion_cost(&self, len: usize) -> Gas {
        self.transaction.of(len)
    }

    /// Gas a staking action burns on top of its inclusion.
    pub fn stake_cost(&self, action: &crate::StakeAction) -> Gas {
        match action {
            crate::StakeAction::CreateValidator { .. } => self.stake.saturating_add(self.bls_possession),
            // Two signatures to check, each as costly as a proof of possession.
            crate::StakeAction::ReportDoubleSign(_) => self.stake.saturating_add(self.bls_possession.saturating_mul(2)),
            _ => self.stake,
        }
    }

    /// Gas to deploy `len` bytes of wasm.
    pub fn deploy_cost(&self, len: usize) -> Gas {
        self.deploy.of(len)
    }

    /// The gas limit clients give a deploy of `code_len` bytes by default: its inclusion (the code
    /// plus room for the init call's name and arguments), the deploy, and [`Self::INIT_ROOM`] for
    /// the init call.
    pub fn deploy_gas_limit(&self, code_len: usize) -> Gas {
        self.inclusion_cost(code_len.saturating_add(256))
            .saturating_add(self.deploy_cost(code_len))
            .saturating_add(Self::INIT_ROOM)
    }

    /// Gas a default deploy leaves for the init call.
    pub const INIT_ROOM: Gas = 300_000_000;
}
