//! The gas schedule ([`GasSchedule`], defined in `tutti_primitives::gas` beside the transactions
//! it prices) and the wasmtime operator cost table that goes with it.

pub use tutti_primitives::gas::{GasSchedule, HostCost};

/// The wasmtime operator cost table that goes with `schedule`.
pub fn operator_cost(schedule: &GasSchedule) -> wasmtime::OperatorCost {
    let mut cost = wasmtime::OperatorCost::new();
    cost.MemoryGrow = schedule.memory_grow;
    cost.variable.memory_grow_per_page = schedule.memory_grow_per_page;
    cost
}
