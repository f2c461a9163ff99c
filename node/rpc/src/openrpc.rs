//! The OpenRPC document served by `rpc_discover`. A test checks that it lists exactly the
//! methods the server registers, so it cannot drift from the trait.

use serde_json::{Value, json};

use crate::errors::APPLICATION_CODES;

const STR: &str = "string";
const INT: &str = "integer";
const OBJ: &str = "object";
const BOOL: &str = "boolean";
const BLOCK: &str = "block";

/// (method, summary, params as (name, type, required), result name, result type).
type MethodSpec = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, bool)],
    &'static str,
    &'static str,
);

/// Every method: name, summary, parameters, result.
pub const METHODS: &[MethodSpec] = &[
    (
        "tutti_chainId",
        "The chain id transactions must sign.",
        &[],
        "chainId",
        INT,
    ),
    (
        "tutti_status",
        "Chain id, genesis hash, head, pool size, fees burnt, the native token's symbol and decimals.",
        &[],
        "status",
        OBJ,
    ),
    (
        "tutti_blockNumber",
        "The head height of a shard (default: the node's lowest tracked shard).",
        &[("shard", INT, false)],
        "height",
        INT,
    ),
    (
        "tutti_getBlockByNumber",
        "A block of a shard (default: the node's lowest tracked shard) by height, \"latest\" or \"earliest\"; null if none. full=true returns whole transactions.",
        &[("block", BLOCK, true), ("full", BOOL, false), ("shard", INT, false)],
        "block",
        OBJ,
    ),
    (
        "tutti_getBlockByHash",
        "A block by header hash; null if unknown.",
        &[("hash", STR, true), ("full", BOOL, false)],
        "block",
        OBJ,
    ),
    (
        "tutti_getAccount",
        "Balance (decimal string), nonce and code hash at a block (default latest).",
        &[("address", STR, true), ("block", BLOCK, false)],
        "account",
        OBJ,
    ),
    (
        "tutti_getBalance",
        "Balance as a decimal string.",
        &[("address", STR, true), ("block", BLOCK, false)],
        "balance",
        STR,
    ),
    (
        "tutti_sendRawTransaction",
        "Submit a SCALE-encoded signed transaction as 0x hex; returns its hash.",
        &[("tx", STR, true)],
        "hash",
        STR,
    ),
    (
        "tutti_getTransaction",
        "A pending or committed transaction; null if unknown.",
        &[("hash", STR, true)],
        "transaction",
        OBJ,
    ),
    (
        "tutti_getTransactionReceipt",
        "Status, gas, fee, return data, events and every execution the transaction caused; null while pending.",
        &[("hash", STR, true)],
        "receipt",
        OBJ,
    ),
    (
        "tutti_call",
        "Read-only contract call on the latest state (args: SCALE bytes as 0x hex).",
        &[
            ("contract", STR, true),
            ("method", STR, true),
            ("args", STR, false),
            ("gas", INT, false),
        ],
        "result",
        OBJ,
    ),
    (
        "tutti_estimateGas",
        "Gas limit a call transaction needs (inclusion + execution), simulated on the latest state.",
        &[
            ("from", STR, true),
            ("contract", STR, true),
            ("method", STR, true),
            ("args", STR, false),
            ("value", STR, false),
        ],
        "gas",
        INT,
    ),
    (
        "tutti_getCode",
        "A contract's wasm as 0x hex; null for plain accounts.",
        &[("address", STR, true), ("block", BLOCK, false)],
        "code",
        STR,
    ),
    (
        "tutti_getAbi",
        "A contract's ABI (methods with named, typed parameters and return types; events; scale-info types) from its module's tutti:abi section; null for plain accounts and contracts without one.",
        &[("address", STR, true), ("block", BLOCK, false)],
        "abi",
        OBJ,
    ),
    (
        "tutti_getStorageAt",
        "A contract storage value as 0x hex; null if absent.",
        &[("address", STR, true), ("key", STR, true), ("block", BLOCK, false)],
        "value",
        STR,
    ),
    (
        "tutti_getProof",
        "An account (or, with key, a storage value) with its Merkle proof against a block's state root.",
        &[("address", STR, true), ("key", STR, false), ("block", BLOCK, false)],
        "proof",
        OBJ,
    ),
    (
        "tutti_getShardingStructure",
        "Shards and RPC endpoints.",
        &[],
        "sharding",
        OBJ,
    ),
    (
        "tutti_getCommittee",
        "A shard's committee at an epoch (default: the epoch of the height being decided): BLS keys and voting powers in bitmap order (epochs 0 and 1 from the genesis, later ones as the beacon elected them), and where the shard's consensus stands now: the height being decided, its view and the view's leader (an index into that epoch's members).",
        &[("shard", INT, false), ("epoch", INT, false)],
        "committee",
        OBJ,
    ),
    (
        "tutti_getValidators",
        "The beacon chain's validators (BLS key, name, operator, commission, stake, self-stake, delegators, unpaid rewards, whether a candidate, seats elected for this epoch and the next two) and its epoch parameters. Nodes that do not track shard 0 answer WRONG_SHARD with an endpoint that does.",
        &[],
        "validators",
        OBJ,
    ),
    (
        "tutti_getDelegations",
        "An account's delegations on the beacon chain: validator, amount, unpaid reward, undelegated amounts still locked and the epoch each is paid back in.",
        &[("address", STR, true)],
        "delegations",
        "array",
    ),
    (
        "tutti_subscribe",
        "Subscribe to newHeads, events (filter {contract, name}) or pendingTransactions; notifications arrive as tutti_subscription.",
        &[("kind", STR, true), ("filter", OBJ, false)],
        "subscriptionId",
        STR,
    ),
    (
        "tutti_unsubscribe",
        "Cancel a subscription.",
        &[("subscriptionId", STR, true)],
        "cancelled",
        BOOL,
    ),
    ("rpc_discover", "This document.", &[], "openrpc", OBJ),
];

fn schema(ty: &str) -> Value {
    if ty == BLOCK {
        json!({ "oneOf": [{ "type": "integer", "minimum": 0 }, { "enum": ["latest", "earliest"] }] })
    } else {
        json!({ "type": ty })
    }
}

/// The OpenRPC 1.2 document.
pub fn document(version: &str) -> Value {
    let methods: Vec<Value> = METHODS
        .iter()
        .map(|(name, summary, params, result, rty)| {
            json!({
                "name": name,
                "summary": summary,
                "paramStructure": "by-position",
                "params": params.iter().map(|(p, ty, required)| json!({
                    "name": p, "required": required, "schema": schema(ty)
                })).collect::<Vec<_>>(),
                "result": { "name": result, "schema": schema(rty) },
            })
        })
        .collect();
    let errors: Vec<Value> = APPLICATION_CODES
        .iter()
        .map(|(code, name, message)| json!({ "code": code, "message": name, "data": message }))
        .collect();
    json!({
        "openrpc": "1.2.6",
        "info": {
            "title": "Tutti JSON-RPC",
            "version": version,
            "description": "Hashes and bytes are 0x hex, addresses bech32m tt1..., amounts decimal strings.",
        },
        "methods": methods,
        "components": { "errors": errors },
    })
}
