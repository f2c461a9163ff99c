//! Tutti's node service: [`node::Node`] (chain, mempool, block production loop, broadcast of
//! committed blocks) and [`rpc`], the JSON-RPC server implementing `tutti_rpc::TuttiApi` over it.
//! [`dev`] holds the well-known development keys and genesis of `tutti dev`.

pub mod dev;
pub mod node;
pub mod rpc;

pub use node::{BlockNotice, Node, NodeConfig, NodeError, SubmitError};
pub use rpc::{RpcConfig, serve};
