//! The Tutti contract runtime: executes contract calls on wasmtime with deterministic gas.
//!
//! - [`validate`]: upload rules, checked with wasmparser; errors name the rule broken.
//! - [`instrument`]: the deterministic stack-height limit injected at deploy.
//! - [`gas`]: the gas schedule, as data.
//! - [`host`]: the `tutti_v1` host API.
//! - [`Runtime`]: engine, code cache (`InstancePre`, pooling allocator) and execution.
//! - [`apply`]: the receipt rules as a pure core over a shard-state trait.
//! - [`local`]: an in-memory multi-shard executor that routes receipts, for tests and developers.

pub mod apply;
pub mod gas;
pub mod host;
pub mod instrument;
pub mod local;
pub mod outcome;
mod runtime;
pub mod schedule;
pub mod validate;

pub use gas::GasSchedule;
pub use outcome::{BlockContext, CallContext, CallOutcome, EmptyState, StateChange, StateView};
pub use runtime::{Busy, LoadedCode, Result, Runtime, RuntimeConfig, RuntimeError, code_hash};
pub use validate::{Limits, ValidationError};
