//! Tutti's ledger. This first part holds the storage layer: the [`storage::Store`] trait with an
//! in-memory and a sled backend, and [`state::StateDb`], the authenticated, versioned state (a
//! Jellyfish Merkle tree with a blake3 hasher) whose updates go into the same atomic write batch as
//! the block that makes them. [`txcheck`] holds the transaction rules and [`mempool`] the pure,
//! bounded transaction pool. Block execution and genesis build on these.

pub mod account;
pub mod error;
pub mod exec;
pub mod mempool;
pub mod state;
pub mod storage;
pub mod txcheck;

pub use account::Account;
pub use error::{ChainError, Result};
pub use exec::{BlockInput, BlockOutput, ShardSpec, execute_block, write_genesis};
pub use mempool::{Admitted, Mempool, MempoolConfig, MempoolError};
pub use state::{StateDb, StateProof};
pub use storage::{Column, MemStore, SledStore, Store, WriteBatch};
pub use txcheck::{TxError, TxRules};
