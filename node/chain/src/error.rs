//! Errors of the chain crate.

/// Everything that can go wrong in the ledger.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The embedded database failed (I/O, corruption).
    #[error("storage error: {0}")]
    Storage(String),
    /// Stored bytes did not decode: the database is corrupt or from another version.
    #[error("corrupt {what} in the database: {detail}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// Decoder message.
        detail: String,
    },
    /// The authenticated state tree refused an operation.
    #[error("state tree error: {0}")]
    Tree(String),
    /// A state proof did not verify.
    #[error("proof does not verify: {0}")]
    BadProof(String),
    /// The state at that height was pruned.
    #[error(
        "the state at height {height} was pruned: this node keeps the state of heights {oldest} and later (run an archive node to read older ones)"
    )]
    Pruned {
        /// The height asked.
        height: u64,
        /// The oldest height whose state is kept.
        oldest: u64,
    },
    /// A block breaks a rule of the block schedule (an incoming receipt out of order).
    #[error(transparent)]
    Schedule(#[from] tutti_runtime::schedule::ScheduleError),
}

impl From<sled::Error> for ChainError {
    fn from(e: sled::Error) -> Self {
        ChainError::Storage(e.to_string())
    }
}

/// Result alias of the chain crate.
pub type Result<T, E = ChainError> = std::result::Result<T, E>;
