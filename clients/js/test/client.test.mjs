// The client against a real `tutti dev` (two shards, the dApps deployed):
//
//   TUTTI_RPC=http://127.0.0.1:9500 TUTTI_TOKEN_WASM=path/to/token.wasm npm test
//
// `cargo test -p tutti --test browser -- --ignored js_client` starts the chain and runs this.
// Every wait is on a condition (a receipt, a balance, an event), never a fixed sleep.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import {
  Client,
  Core,
  ErrorCode,
  ExecutionError,
  RpcError,
  formatTokens,
  parseTokens,
} from "../tutti.js";

const url = process.env.TUTTI_RPC || "http://127.0.0.1:9500";
const TOKEN = 10n ** 18n;
let client;
let config;
let alice; // funded by the faucet, on the Lottery's shard
let bob; // on another shard

/** A random account whose home shard is (or is not) `shard`. */
function accountOn(shard, same = true) {
  for (let i = 0; i < 256; i++) {
    const a = client.randomAccount();
    if ((a.shard === shard) === same) return a;
  }
  throw new Error(`no key found ${same ? "on" : "off"} shard ${shard}`);
}

async function fund(account) {
  const hash = await client.devFaucet(account.address);
  const r = await client.waitForReceipt(hash);
  assert.equal(r.status, "success", JSON.stringify(r));
}

before(async () => {
  client = await Client.connect(url);
  config = await (await fetch(`${url}/config.json`)).json();
  alice = accountOn(config.shards.lottery, true);
  bob = accountOn(config.shards.lottery, client.numShards < 2);
  await Promise.all([fund(alice), fund(bob)]);
});

after(() => client?.close());

test("connects: chain id, token and shard layout from the node", async () => {
  const status = await client.status();
  assert.equal(client.chainId, status.chainId);
  assert.equal(await client.getChainId(), status.chainId);
  assert.equal(client.symbol, "TUTTI");
  assert.equal(client.decimals, 18);
  assert.equal(client.numShards, 2, "tutti dev runs two shards");
  assert.equal(client.format(1_500_000_000_000_000_000n), "1.5 TUTTI");
  assert.equal(formatTokens(12345n * TOKEN), "12,345");
  assert.equal(parseTokens("1,000.5"), 1000n * TOKEN + TOKEN / 2n);
  assert.throws(() => parseTokens("1.5.5"), /not an amount/);
  assert.throws(() => parseTokens("0." + "1".repeat(19)), /more than 18 decimals/);
});

test("every RPC method the node describes has a client method", async () => {
  const doc = await client.discover();
  const byMethod = {
    tutti_chainId: "getChainId",
    tutti_status: "status",
    tutti_blockNumber: "blockNumber",
    tutti_getBlockByNumber: "getBlockByNumber",
    tutti_getBlockByHash: "getBlockByHash",
    tutti_getAccount: "getAccount",
    tutti_getBalance: "getBalance",
    tutti_sendRawTransaction: "sendRawTransaction",
    tutti_getTransaction: "getTransaction",
    tutti_getTransactionReceipt: "getTransactionReceipt",
    tutti_call: "callRaw",
    tutti_estimateGas: "estimateGas",
    tutti_getCode: "getCode",
    tutti_getAbi: "getAbi",
    tutti_getStorageAt: "getStorageAt",
    tutti_getProof: "getProof",
    tutti_getShardingStructure: "getShardingStructure",
    tutti_getCommittee: "getCommittee",
    tutti_getValidators: "getValidators",
    tutti_getDelegations: "getDelegations",
    tutti_subscribe: "subscribe",
    tutti_unsubscribe: "subscribe",
    rpc_discover: "discover",
    dev_faucet: "devFaucet",
  };
  const names = doc.methods.map((m) => m.name);
  assert.ok(names.length >= 20, `rpc_discover lists ${names.length} methods`);
  for (const name of names) {
    assert.ok(name in byMethod, `the client has no method for ${name}`);
    assert.equal(typeof client[byMethod[name]], "function", `${byMethod[name]} (for ${name})`);
  }
});

test("reads: blocks, accounts, proofs, committees and validators", async () => {
  const head = await client.blockNumber(1);
  const block = await client.getBlockByNumber(head, { shard: 1 });
  assert.equal(block.shardId, 1);
  assert.equal(block.height, head);
  assert.deepEqual((await client.getBlockByHash(block.hash)).hash, block.hash);
  assert.equal(await client.getBlockByNumber(10_000_000, { shard: 1 }), null);
  const acc = await client.getAccount(alice.address);
  assert.equal(acc.address, alice.address);
  assert.equal(BigInt(acc.balance), await client.getBalance(alice.addressHex));
  const proof = await client.getProof(alice.address);
  assert.ok(proof.key.length > 0);
  const committee = await client.getCommittee(0);
  assert.ok(committee.members.length > 0, JSON.stringify(committee));
  const validators = await client.getValidators();
  assert.ok(validators.epochBlocks > 0, JSON.stringify(validators));
  assert.deepEqual(await client.getDelegations(alice.address), []);
  assert.equal(await client.getCode(alice.address), null);
  assert.equal(await client.getAbi(alice.address), null);
  assert.equal(client.shardOf(alice.address), alice.shard);
});

test("transfers cross shards, and sends fired together take consecutive nonces", async () => {
  assert.notEqual(alice.shard, bob.shard);
  const before = await client.getBalance(bob.address);
  const start = await client.nonceOf(alice.address);
  const sent = await Promise.all([1, 2, 3].map((i) => client.transfer(alice, bob.address, parseTokens(`0.${i}`))));
  for (const s of sent) assert.equal(s.receipt.status, "success", JSON.stringify(s.receipt));
  const txs = await Promise.all(sent.map((s) => client.getTransaction(s.hash, { shard: alice.shard })));
  assert.deepEqual(txs.map((t) => t.nonce).sort(), [start, start + 1, start + 2]);
  assert.equal(await client.getBalance(bob.address), before + parseTokens("0.6"));
});

test("a contract through its ABI: views, calls, decoded results and events, live events", async () => {
  const lottery = await client.contract(config.contracts.lottery);
  assert.match(lottery.describe(), /enter\(tickets: u32\)/);
  const settings = await lottery.view("settings");
  assert.equal(settings.price, (10n * TOKEN).toString());
  const round = await lottery.view("round");
  assert.ok(round.id >= 1);

  const heard = new Promise((resolve, reject) => {
    const sub = lottery.onEvent("Entered", (e) => {
      if (e.args.player !== bob.address) return;
      sub.unsubscribe();
      resolve(e);
    }, reject);
  });
  // Bob lives on another shard than the Lottery: the call and its value cross shards.
  const { returned, events, receipt } = await lottery.call(bob, "enter", { tickets: 2 }, { value: 2n * BigInt(settings.price) });
  assert.equal(receipt.status, "success");
  assert.equal(returned.count, 2);
  assert.equal(returned.player, bob.address);
  const entered = events.find((e) => e.name === "Entered");
  assert.equal(entered.args.player, bob.address);
  assert.equal(entered.args.tickets, 2);
  const live = await heard;
  assert.equal(live.args.tickets, 2);
  assert.equal(live.contract, lottery.address);
  const mine = await lottery.view("tickets", { round: entered.args.round, player: bob.address });
  assert.ok(mine.count >= 2);
});

test("deploys the example token with its init arguments, calls it by name, decodes its Transfer event", async () => {
  const path = process.env.TUTTI_TOKEN_WASM;
  if (!path) throw new Error("set TUTTI_TOKEN_WASM to the example token's module (the cargo test does)");
  const code = new Uint8Array(await readFile(path));
  const { address, contract: token, receipt } = await client.deploy(alice, code, {
    init: "init",
    args: { name: "Gold", symbol: "GLD", decimals: 18, supply: "1000000" },
  });
  assert.equal(receipt.status, "success");
  assert.equal(token.address, address);
  assert.equal(await token.view("balance_of", { owner: alice.address }), "1000000");
  const { events } = await token.call(alice, "transfer", { to: bob.address, amount: "5000" });
  const t = events.find((e) => e.name === "Transfer");
  assert.deepEqual(t.args, { from: alice.address, to: bob.address, amount: "5000" });
  assert.equal(await token.view("balance_of", { owner: bob.address }), "5000");
});

test("bad input: arguments refused before signing, node errors carry their codes", async () => {
  const lottery = await client.contract(config.contracts.lottery);
  const nonce = await client.nonceOf(alice.address);
  await assert.rejects(lottery.call(alice, "enter", { tickets: -1 }), /argument `tickets: u32`/);
  await assert.rejects(lottery.call(alice, "enter", {}), /missing argument `tickets: u32`/);
  await assert.rejects(lottery.call(alice, "enter", { tickets: 1, memo: "x" }), /no parameter `memo`/);
  await assert.rejects(lottery.view("jackpot"), /no method `jackpot`/);
  await assert.rejects(lottery.view("tickets", { round: 1, player: "tt1nope" }), /player: Address/);
  assert.equal(await client.nonceOf(alice.address), nonce, "nothing was signed or sent");

  await assert.rejects(client.sendRawTransaction("0x00"), (e) => e instanceof RpcError && e.code === ErrorCode.INVALID_TRANSACTION);
  await assert.rejects(client.rpc.request("tutti_getBalance", [42]), (e) => e instanceof RpcError && e.code === ErrorCode.INVALID_PARAMS);
  await assert.rejects(client.rpc.request("tutti_nope"), (e) => e instanceof RpcError && e.code === ErrorCode.METHOD_NOT_FOUND);
  await assert.rejects(client.contract(bob.address), /holds no contract/);
  // A call the contract refuses: the receipt's failure, as an ExecutionError.
  await assert.rejects(lottery.call(alice, "enter", { tickets: 1 }), (e) => e instanceof ExecutionError && /enter failed/.test(e.message));
  // A subscription the node refuses.
  const sub = client.subscribe("nonsense", null, () => {});
  await assert.rejects(sub.ready, (e) => e instanceof RpcError);
  assert.throws(() => client.account("0x1234"), /32 bytes/);
  await assert.rejects(Core.load(new Uint8Array([1, 2, 3])), /WebAssembly|magic|compile/i);
});

test("a raw transaction signed by the module is what the chain accepts", async () => {
  const nonce = await client.nonceOf(alice.address);
  const { raw, hash } = alice.sign({
    chainId: client.chainId,
    nonce,
    action: { type: "transfer", to: bob.address, amount: 7n },
  });
  assert.equal(await client.sendRawTransaction(raw, { shard: alice.shard }), hash);
  const r = await client.waitForReceipt(hash, { shard: alice.shard });
  assert.equal(r.status, "success");
  const tx = await client.getTransaction(hash, { shard: alice.shard });
  assert.equal(tx.nonce, nonce);
  // The same bytes again: already final, so a replay.
  await assert.rejects(client.sendRawTransaction(raw, { shard: alice.shard }), (e) => e.code === ErrorCode.BAD_NONCE);
});

test("subscriptions: new heads of one shard, pending transactions", async () => {
  const heads = [];
  const done = new Promise((resolve, reject) => {
    const sub = client.subscribe("newHeads", { shard: 1 }, (h) => {
      heads.push(h);
      if (heads.length === 2) {
        sub.unsubscribe().then(resolve, reject);
      }
    }, reject);
  });
  await done;
  assert.ok(heads.every((h) => h.shardId === 1));
  assert.equal(heads[1].height, heads[0].height + 1);

  // The notice may come before the send's answer: collect every hash, then wait for ours.
  const seenHashes = new Set();
  let wake = () => {};
  const sub = client.subscribe("pendingTransactions", { shard: alice.shard }, (h) => {
    seenHashes.add(h);
    wake();
  });
  await sub.ready;
  const { hash } = await client.transfer(alice, bob.address, 1n, { wait: false });
  while (!seenHashes.has(hash)) await new Promise((resolve) => (wake = resolve));
  await sub.unsubscribe();
  assert.ok(seenHashes.has(hash));
});

test("the README's quick start runs as written", async () => {
  const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
  const block = readme.split("<!-- test: quickstart")[1]?.split("```js\n")[1]?.split("\n```")[0];
  assert.ok(block && block.includes("Client.connect"), "the README has its quick start block");
  // As if installed: the package name resolves to this directory's module.
  const code = block.replace('from "@tutti/client"', `from ${JSON.stringify(new URL("../tutti.js", import.meta.url).href)}`);
  const dir = await mkdtemp(join(tmpdir(), "tutti-quickstart-"));
  try {
    await writeFile(join(dir, "quickstart.mjs"), code);
    const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv.filter((a) => a.startsWith("--experimental")), join(dir, "quickstart.mjs")], {
      env: { ...process.env, TUTTI_RPC: url },
      timeout: 120_000,
    });
    assert.match(stdout, /12\.5 TUTTI to bob \(shard \d\): success/);
    assert.match(stdout, /decoded from the receipt: Transfer/);
    assert.match(stdout, /bob's token balance: 5000/);
    assert.match(stdout, /heard live: Transfer at block \d+/, "the live subscription heard the event");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
