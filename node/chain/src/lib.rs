//! Tutti's ledger: the [`storage::Store`] trait with an in-memory and a sled backend;
//! [`state::StateDb`], the authenticated, versioned state (a Jellyfish Merkle tree with a blake3
//! hasher) whose updates go into the same atomic write batch as the block that makes them;
//! [`txcheck`], the transaction rules; [`mempool`], the pure, bounded transaction pool;
//! [`foreign`], what this shard accepts of other shards' headers; [`exec`], block execution with the runtime's block schedule; [`block`], the block rules
//! (building a block, validating a proposal, typed [`block::BlockError`]); [`genesis`], the genesis file;
//! [`election`], the committee election (seats by stake, shards by a swap-or-not shuffle);
//! [`staking`], validators, delegations, unbonding and rewards as pure transitions;
//! [`beacon`], the registry in the beacon chain's state, epochs and what ends them;
//! [`slashing`], double-signing evidence and its penalty; [`snapshot`], state served in chunks
//! with range proofs and restored from them; and
//! [`chain::Chain`], which stores blocks, execution records and indexes and keeps the head.

pub mod account;
pub mod beacon;
pub mod block;
pub mod chain;
pub mod election;
pub mod error;
pub mod exec;
pub mod foreign;
pub mod genesis;
pub mod journal;
pub mod mempool;
pub mod receipts;
pub mod slashing;
pub mod snapshot;
pub mod staking;
pub mod state;
pub mod storage;
pub mod txcheck;

pub use account::Account;
pub use block::{BlockError, Built};
pub use chain::{BeaconRead, Chain, StoredBlock, TxLocation};
pub use error::{ChainError, Result};
pub use exec::{BlockInput, BlockOutput, ShardSpec, execute_block, write_genesis, write_genesis_state};
pub use genesis::{Genesis, GenesisError};
pub use journal::JournaledStore;
pub use mempool::{Admitted, Mempool, MempoolConfig, MempoolError};
pub use receipts::{BatchError, verify_batch};
pub use state::{StateDb, StateProof, StateWrites};
pub use storage::{Column, MemStore, SledStore, Store, WriteBatch};
pub use txcheck::{TxError, TxRules};
