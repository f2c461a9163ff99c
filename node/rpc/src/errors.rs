//! Error codes. The JSON-RPC 2.0 codes (`-32700` parse error, `-32600` invalid request, `-32601`
//! method not found, `-32602` invalid params, `-32603` internal error) come from jsonrpsee; the
//! application codes below (positive, outside the range JSON-RPC reserves) say what went wrong
//! with a transaction or the node. Server limits answer with jsonrpsee's codes: `-32007` request
//! too big, `-32008` response too big, `-32009` server busy, `-32010` batch too large, `-32006` too
//! many subscriptions. Every error's message says what to change; `data`, when present, carries
//! details for programs.

use jsonrpsee::types::ErrorObjectOwned;

/// Invalid parameters (a JSON-RPC 2.0 code).
pub const INVALID_PARAMS: i32 = -32602;
/// The transaction bytes do not decode, or it breaks a stateless rule (size, gas bounds, gas
/// price floor, chain id, signature).
pub const INVALID_TRANSACTION: i32 = 1001;
/// The nonce was already used (a replay) or is too far ahead.
pub const BAD_NONCE: i32 = 1002;
/// The sender cannot pay value + gas limit x gas price.
pub const INSUFFICIENT_BALANCE: i32 = 1003;
/// The pool refused it: full, sender full, or an underpriced replacement.
pub const POOL_REFUSED: i32 = 1004;
/// A read-only call or estimate failed in the contract.
pub const EXECUTION_FAILED: i32 = 1005;
/// The node's storage failed; the request may be retried.
pub const NODE_ERROR: i32 = 1010;
/// A method or feature that is not available on this node (yet).
pub const UNAVAILABLE: i32 = 1011;
/// The address (or the transaction's signer) lives on a shard this node does not track; `data`
/// is `{"shard": N, "rpc": "<an endpoint of shard N, or empty>"}`.
pub const WRONG_SHARD: i32 = 1012;
/// The transaction's receiver lives on a congested shard (the receipts this shard sent it pile up
/// unconsumed); retry once it drains. `data` is `{"shard": N}`.
pub const SHARD_CONGESTED: i32 = 1013;
/// The state at the height asked was pruned (the message names the oldest height kept), or, on a
/// node started from a state snapshot, the block asked is below it.
pub const STATE_PRUNED: i32 = 1014;

/// The node runs as many read-only calls as it can at once and none freed up in time; retry.
pub const BUSY: i32 = 1015;

/// Every application code with its name and meaning, for documentation and `rpc_discover`.
pub const APPLICATION_CODES: &[(i32, &str, &str)] = &[
    (
        STATE_PRUNED,
        "STATE_PRUNED",
        "the state at that height was pruned, or the block is below the snapshot this node started from; the message names the oldest height this node keeps (ask an archive node)",
    ),
    (
        INVALID_TRANSACTION,
        "INVALID_TRANSACTION",
        "the transaction does not decode or breaks a rule that needs no state (size, gas bounds, gas price, chain id, signature)",
    ),
    (
        BAD_NONCE,
        "BAD_NONCE",
        "the nonce was already used, or is too far ahead of the account nonce",
    ),
    (
        INSUFFICIENT_BALANCE,
        "INSUFFICIENT_BALANCE",
        "the sender cannot pay value + gas limit x gas price",
    ),
    (
        POOL_REFUSED,
        "POOL_REFUSED",
        "the pool is full, the sender has too many pending, or a replacement pays too little",
    ),
    (
        EXECUTION_FAILED,
        "EXECUTION_FAILED",
        "the contract call failed (data holds kind and message)",
    ),
    (
        NODE_ERROR,
        "NODE_ERROR",
        "the node's storage failed; retry, and report it if it persists",
    ),
    (UNAVAILABLE, "UNAVAILABLE", "not available on this node"),
    (
        WRONG_SHARD,
        "WRONG_SHARD",
        "the address lives on a shard this node does not track (data: shard, rpc endpoint)",
    ),
    (
        SHARD_CONGESTED,
        "SHARD_CONGESTED",
        "the receiver's shard is congested; retry once it drains (data: shard)",
    ),
    (
        BUSY,
        "BUSY",
        "the node runs as many read-only calls as it can at once and none freed up in time; retry",
    ),
    (
        -32006,
        "TOO_MANY_SUBSCRIPTIONS",
        "this connection has the most subscriptions allowed",
    ),
    (-32007, "REQUEST_TOO_BIG", "the request body is over the server's limit"),
    (
        -32008,
        "RESPONSE_TOO_BIG",
        "the response would be over the server's limit",
    ),
    (-32009, "SERVER_BUSY", "too many connections; retry later"),
    (
        -32010,
        "BATCH_TOO_LARGE",
        "the batch has more calls than the server allows",
    ),
];

/// An error with a code and message.
pub fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

/// An error with a code, message and data.
pub fn error_with(code: i32, message: impl Into<String>, data: impl serde::Serialize) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), Some(data))
}

/// Invalid params with a message.
pub fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    error(INVALID_PARAMS, message)
}
