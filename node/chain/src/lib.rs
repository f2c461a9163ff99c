//! Tutti's ledger. This first part holds the storage layer: the [`storage::Store`] trait with an
//! in-memory and a sled backend, and [`state::StateDb`], the authenticated, versioned state (a
//! Jellyfish Merkle tree with a blake3 hasher) whose updates go into the same atomic write batch as
//! the block that makes them. Block execution, the mempool and genesis build on these.

pub mod error;
pub mod state;
pub mod storage;

pub use error::{ChainError, Result};
pub use state::{StateDb, StateProof};
pub use storage::{Column, MemStore, SledStore, Store, WriteBatch};
