// What the client's wasm-side work costs per operation, in Node.js: signing a transfer, encoding a
// token `transfer` call by its ABI and signing it, decoding a `Transfer` event. Five runs of
// 20,000 each; prints min / median / max microseconds per operation.
//
//   node clients/js/bench/ops.mjs WALLET_WASM TOKEN_WASM
//
// (the modules `cargo build -p tutti-examples` writes; BENCHMARKS.md names the paths).

import { readFile } from "node:fs/promises";
import { Core } from "../tutti.js";

const [walletPath, tokenPath] = process.argv.slice(2);
if (!walletPath || !tokenPath) {
  console.error("usage: node clients/js/bench/ops.mjs WALLET_WASM TOKEN_WASM");
  process.exit(2);
}
const core = await Core.load(new Uint8Array(await readFile(walletPath)));
const token = new Uint8Array(await readFile(tokenPath));
const abi = core.call("abi.read", { code: "0x" + Buffer.from(token).toString("hex") });
const secret = "0x" + "01".repeat(32);
const alice = core.call("key", { secret }).address;
const bob = core.call("key", { secret: "0x" + "02".repeat(32) }).address;
const event = "0x" + "03".repeat(32) + "04".repeat(32) + "88130000000000000000000000000000";

const ops = {
  "sign a transfer": (i) =>
    core.call("sign", { secret, chainId: 1, nonce: i, gasLimit: 2_000_000, gasPrice: "1", action: { type: "transfer", to: bob, amount: "1000" } }),
  "encode token transfer by ABI + sign": (i) => {
    const args = core.call("abi.encode", { abi, method: "transfer", args: { to: bob, amount: "5000" } });
    return core.call("sign", { secret, chainId: 1, nonce: i, gasLimit: 2_000_000, gasPrice: "1", action: { type: "call", contract: alice, method: "transfer", args } });
  },
  "decode a Transfer event by ABI": () => core.call("abi.event", { abi, name: "Transfer", data: event }),
};

const N = 20_000;
for (const [name, f] of Object.entries(ops)) {
  for (let i = 0; i < 1000; i++) f(i); // warm up
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) f(i);
    runs.push(Number(process.hrtime.bigint() - t) / 1000 / N);
  }
  runs.sort((a, b) => a - b);
  console.log(`${name.padEnd(38)} min ${runs[0].toFixed(1)} / median ${runs[2].toFixed(1)} / max ${runs[4].toFixed(1)} µs`);
}
console.log(`wallet module ${(await readFile(walletPath)).length} bytes; token ABI ${JSON.stringify(abi).length} bytes of JSON`);
