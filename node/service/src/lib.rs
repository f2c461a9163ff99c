//! Tutti's node service: [`node::Node`] (chain, mempool, block production loop, broadcast of
//! committed blocks) and [`rpc`], the JSON-RPC server implementing `tutti_rpc::TuttiApi` over it.
//! [`dev`] holds the well-known development keys and genesis of `tutti dev`; [`web`]
//! serves static pages (the dApps) on the RPC port; [`idcheck`] answers requests whose ids the
//! server cannot echo.

pub mod builder;
pub mod committees;
pub mod consensus;
pub mod dev;
pub mod idcheck;
pub mod metrics;
pub mod node;
pub mod relay;
pub mod rpc;
pub mod shards;
pub mod snapshot;
#[cfg(feature = "test-utils")]
pub mod solo;
pub mod tracking;
pub mod watch;
pub mod web;

pub use node::{BlockNotice, Node, NodeConfig, NodeError, RPC_CALLS, SubmitError};
pub use rpc::{RpcConfig, serve, serve_with};
pub use shards::Shards;
pub use web::Site;
