//! The pages `tutti dev` serves on its RPC port: a home page, the Puzzle game, the Lottery, the
//! JavaScript client (`/shared/tutti.js`, from `clients/js`), the shared browser wallet (script,
//! styles and the wasm module) and `/config.json`, which tells the pages the contracts' addresses
//! (the token's symbol and decimals come from `tutti_status`).

use std::sync::Arc;

use serde_json::json;
use tutti_node::Site;
use tutti_primitives::Address;

/// What the pages learn from `/config.json`.
pub struct PageConfig {
    /// Chain id.
    pub chain_id: u64,
    /// Milliseconds between blocks.
    pub block_time_ms: u64,
    /// The Puzzle contract.
    pub puzzle: Address,
    /// The Lottery contract.
    pub lottery: Address,
    /// Whether `dev_faucet` is served.
    pub faucet: bool,
    /// How many shards the chain has (the pages follow each contract's home shard).
    pub num_shards: u32,
}

/// The site.
pub fn site(config: &PageConfig) -> Arc<Site> {
    let config = json!({
        "chainId": config.chain_id,
        "blockTimeMs": config.block_time_ms,
        "faucet": config.faucet,
        "contracts": {
            "puzzle": config.puzzle.to_string(),
            "lottery": config.lottery.to_string(),
        },
        "numShards": config.num_shards,
        "shards": {
            "puzzle": config.puzzle.home_shard(config.num_shards),
            "lottery": config.lottery.home_shard(config.num_shards),
        },
    });
    let mut s = Site::new();
    s.add("/", &include_bytes!("../../../web-wallet/web/home.html")[..])
        .add("/config.json", config.to_string().into_bytes())
        .add("/shared/tutti.js", &include_bytes!("../../../clients/js/tutti.js")[..])
        .add(
            "/shared/wallet.js",
            &include_bytes!("../../../web-wallet/web/wallet.js")[..],
        )
        .add(
            "/shared/tutti.css",
            &include_bytes!("../../../web-wallet/web/tutti.css")[..],
        )
        .add(
            "/shared/icon.svg",
            &include_bytes!("../../../web-wallet/web/icon.svg")[..],
        )
        .add("/shared/wallet.wasm", tutti_examples::WALLET)
        .add("/puzzle/", &include_bytes!("../../../puzzle-dapp/web/index.html")[..])
        .add("/puzzle/app.js", &include_bytes!("../../../puzzle-dapp/web/app.js")[..])
        .add(
            "/puzzle/puzzle.css",
            &include_bytes!("../../../puzzle-dapp/web/puzzle.css")[..],
        )
        .add("/lottery/", &include_bytes!("../../../lottery-dapp/web/index.html")[..])
        .add(
            "/lottery/app.js",
            &include_bytes!("../../../lottery-dapp/web/app.js")[..],
        )
        .add(
            "/lottery/lottery.css",
            &include_bytes!("../../../lottery-dapp/web/lottery.css")[..],
        );
    Arc::new(s)
}
