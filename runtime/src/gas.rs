//! The gas schedule ([`GasSchedule`], defined in `tutti_primitives::gas` beside the transactions
//! it prices) and the wasmtime operator cost table that goes with it.

pub use tutti_primitives::gas::{GasSchedule, HostCost};

/// The wasmtime operator cost table that goes with `schedule`.
pub fn operator_cost(schedule: &GasSchedule) -> wasmtime::OperatorCost {
    let mut cost = wasmtime::OperatorCost::new();
    cost.MemoryGrow = schedule.memory_grow;
    // Pages are charged by the call the instrumentation puts before every `memory.grow`
    // (`GasSchedule::memory_page`).
    cost.variable.memory_grow_per_page = 0;
    cost
}
