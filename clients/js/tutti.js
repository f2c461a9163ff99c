// @tutti/client: the JavaScript client of a Tutti chain, for browsers and Node.js (18 or later).
//
// - Keys, transaction encoding and signing run in the wallet module (`wallet.wasm`: the node's own
//   Rust primitives compiled to WebAssembly), so what this client signs is byte for byte what the
//   chain checks. Contract arguments, results and events go through each contract's ABI with the
//   codec the CLI uses (`tutti-abi`, in the same module).
// - Every JSON-RPC method of the node, including the `tutti_subscribe` subscriptions over a
//   WebSocket that reconnects and resubscribes by itself.
// - Shard routing: an account, a contract and a transaction live on their home shard; requests go
//   to an endpoint that serves it (from `tutti_getShardingStructure`, or the endpoint a
//   `WRONG_SHARD` error names).
//
// No dependencies; one ES module. Types: tutti.d.ts. Examples: README.md.

/** Decimals of the native token: amounts on the chain are integers of 10^-18 token. */
export const TOKEN_DECIMALS = 18;
/** Gas limit of transactions that do not name one. */
export const DEFAULT_GAS_LIMIT = 300_000_000;

/** JSON-RPC error codes of the node (node/rpc/src/errors.rs). */
export const ErrorCode = Object.freeze({
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INVALID_TRANSACTION: 1001,
  BAD_NONCE: 1002,
  INSUFFICIENT_BALANCE: 1003,
  POOL_REFUSED: 1004,
  EXECUTION_FAILED: 1005,
  NODE_ERROR: 1010,
  UNAVAILABLE: 1011,
  WRONG_SHARD: 1012,
  SHARD_CONGESTED: 1013,
  STATE_PRUNED: 1014,
});

/** An error answered by the node: its JSON-RPC code, message and data. */
export class RpcError extends Error {
  constructor(code, message, data, method) {
    super(method ? `${method}: ${message} (code ${code})` : `${message} (code ${code})`);
    this.name = "RpcError";
    this.code = code;
    this.rpcMessage = message;
    this.data = data;
    this.method = method;
  }
}

/** A transaction, a view or a call that ran and failed in the contract. */
export class ExecutionError extends Error {
  constructor(message, result) {
    super(message);
    this.name = "ExecutionError";
    this.result = result;
  }
}

/** BigInts as decimal strings (JSON has no BigInt). */
function jsonText(v) {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
}

// ---------------------------------------------------------------------------------------------
// The wallet module

/** The wallet module: `call(op, fields)` runs one operation of web-wallet/src/ops.rs. */
export class Core {
  /**
   * Loads the module from a URL (fetched), or from its bytes (`Uint8Array`, `ArrayBuffer`), or a
   * compiled `WebAssembly.Module`.
   */
  static async load(source) {
    let bytes = source;
    if (typeof source === "string" || source instanceof URL) {
      const resp = await fetch(source);
      if (!resp.ok) throw new Error(`cannot load the wallet module from ${source} (HTTP ${resp.status})`);
      bytes = await resp.arrayBuffer();
    }
    const instance =
      bytes instanceof WebAssembly.Module
        ? await WebAssembly.instantiate(bytes, {})
        : (await WebAssembly.instantiate(bytes, {})).instance;
    return new Core(instance.exports);
  }

  constructor(exports) {
    for (const f of ["memory", "wallet_alloc", "wallet_free", "wallet_call"]) {
      if (!(f in exports)) throw new Error(`not the Tutti wallet module: it exports no \`${f}\``);
    }
    this.x = exports;
  }

  /** Runs one operation; throws its error message. */
  call(op, fields = {}) {
    const x = this.x;
    const input = new TextEncoder().encode(jsonText({ op, ...fields }));
    const ptr = x.wallet_alloc(input.length);
    new Uint8Array(x.memory.buffer, ptr, input.length).set(input);
    const packed = x.wallet_call(ptr, input.length);
    x.wallet_free(ptr, input.length);
    const outPtr = Number(BigInt.asUintN(64, packed) >> 32n);
    const outLen = Number(BigInt.asUintN(64, packed) & 0xffffffffn);
    const text = new TextDecoder().decode(new Uint8Array(x.memory.buffer, outPtr, outLen).slice());
    x.wallet_free(outPtr, outLen);
    const answer = JSON.parse(text);
    if ("error" in answer) throw new Error(answer.error);
    return answer.ok;
  }
}

// ---------------------------------------------------------------------------------------------
// One endpoint

/** JSON-RPC over HTTP to one endpoint, plus subscriptions over one WebSocket to it. */
export class Rpc {
  /**
   * `url`: the node's RPC address (`http://host:port`; the WebSocket is the same address).
   * Options: `WebSocket` (a constructor, for Node.js without a global one: the `ws` package),
   * `timeoutMs` (per HTTP request, default 60 s), `onStatus(connected)` (the WebSocket's state).
   */
  constructor(url, options = {}) {
    this.url = String(url).replace(/\/+$/, "");
    this.wsUrl = this.url.replace(/^http/, "ws");
    this.WebSocket = options.WebSocket || globalThis.WebSocket;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.onStatus = options.onStatus || (() => {});
    this.nextId = 1;
    this.subs = new Map(); // local id -> {params, onItem, onError, serverId}
    this.pending = new Map(); // request id -> {resolve, reject} of WebSocket requests
    this.ws = null;
    this.closed = false;
    this.retryMs = 500;
  }

  /** Calls `method` with positional `params`; resolves with its result or rejects with RpcError. */
  async request(method, params = []) {
    const ctrl = typeof AbortController === "function" ? new AbortController() : null;
    const timer = ctrl && setTimeout(() => ctrl.abort(), this.timeoutMs);
    let resp;
    try {
      resp = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: jsonText({ jsonrpc: "2.0", id: this.nextId++, method, params }),
        signal: ctrl?.signal,
      });
    } catch (e) {
      const why = e.name === "AbortError" ? `no answer in ${this.timeoutMs / 1000} s` : e.message;
      throw new Error(`${method}: cannot reach the node at ${this.url}: ${why}`);
    } finally {
      if (timer) clearTimeout(timer);
    }
    let body;
    try {
      body = await resp.json();
    } catch {
      throw new Error(`${method}: the node at ${this.url} answered HTTP ${resp.status} without JSON`);
    }
    if (body.error) throw new RpcError(body.error.code, body.error.message, body.error.data, method);
    return body.result;
  }

  /**
   * `tutti_subscribe(kind, filter)`: calls `onItem(item)` for every notification. Returns a
   * subscription whose `ready` resolves once the node accepted it (rejects with RpcError if it
   * refused) and whose `unsubscribe()` ends it. After a lost connection the subscription is made
   * again; `onError(e)` hears about refusals and lost connections.
   */
  subscribe(kind, filter, onItem, onError = () => {}) {
    if (!this.WebSocket) {
      throw new Error(
        "subscriptions need a WebSocket: use Node.js 22 or later, `node --experimental-websocket` on Node.js 20, " +
          "or pass { WebSocket } from the `ws` package",
      );
    }
    const id = this.nextId++;
    const params = filter ? [kind, filter] : [kind];
    let resolveReady;
    let rejectReady;
    const ready = new Promise((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    ready.catch(() => {});
    const sub = { params, onItem, onError, serverId: null, resolveReady, rejectReady };
    this.subs.set(id, sub);
    this.closed = false;
    this.#connect();
    if (this.ws && this.ws.readyState === 1) this.#subscribe(id);
    return {
      ready,
      unsubscribe: async () => {
        this.subs.delete(id);
        if (sub.serverId !== null && this.ws && this.ws.readyState === 1) {
          await this.#wsRequest("tutti_unsubscribe", [sub.serverId]).catch(() => false);
        }
        if (this.subs.size === 0) this.close();
      },
    };
  }

  /** Closes the WebSocket (subscriptions end). */
  close() {
    this.closed = true;
    this.subs.clear();
    // Requests still waiting on this socket get no answer now: settle them.
    for (const p of this.pending.values()) p.reject(new Error(`the WebSocket to ${this.wsUrl} was closed`));
    this.pending.clear();
    if (this.ws) this.ws.close();
    this.ws = null;
  }

  #wsRequest(method, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.ws.send(jsonText({ jsonrpc: "2.0", id, method, params }));
    });
  }

  #subscribe(localId) {
    const s = this.subs.get(localId);
    if (!s) return;
    this.#wsRequest("tutti_subscribe", s.params).then(
      (serverId) => {
        if (!this.subs.has(localId)) {
          this.#wsRequest("tutti_unsubscribe", [serverId]).catch(() => {});
          return;
        }
        s.serverId = serverId;
        s.resolveReady(serverId);
      },
      (e) => {
        this.subs.delete(localId);
        s.rejectReady(e);
        s.onError(e);
      },
    );
  }

  #connect() {
    if (this.ws || this.closed) return;
    const ws = new this.WebSocket(this.wsUrl);
    this.ws = ws;
    ws.onopen = () => {
      this.retryMs = 500;
      this.onStatus(true);
      for (const id of this.subs.keys()) this.#subscribe(id);
    };
    ws.onmessage = (msg) => {
      let m;
      try {
        m = JSON.parse(typeof msg.data === "string" ? msg.data : new TextDecoder().decode(msg.data));
      } catch {
        return;
      }
      if (m.id !== undefined && m.id !== null && this.pending.has(m.id)) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error) p.reject(new RpcError(m.error.code, m.error.message, m.error.data, p.method));
        else p.resolve(m.result);
        return;
      }
      if (m.method === "tutti_subscription" && m.params) {
        for (const s of this.subs.values()) {
          if (s.serverId === m.params.subscription) s.onItem(m.params.result);
        }
      }
    };
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onStatus(false);
      for (const p of this.pending.values()) p.reject(new Error(`the WebSocket to ${this.wsUrl} closed`));
      this.pending.clear();
      for (const s of this.subs.values()) {
        if (s.serverId !== null) s.onError(new Error(`the WebSocket to ${this.wsUrl} closed; resubscribing`));
        s.serverId = null;
      }
      if (!this.closed && this.subs.size) {
        setTimeout(() => this.#connect(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 10_000);
      }
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Accounts

/** A key pair. The secret stays in this object; only signed transactions leave it. */
export class Account {
  #secret;

  constructor(core, secret, numShards = 1) {
    const s = String(secret).trim();
    const hex = s.startsWith("0x") ? s : `0x${s}`;
    const k = core.call("key", { secret: hex, numShards });
    this.#secret = hex;
    this.core = core;
    /** `tt1…` */
    this.address = k.address;
    /** `0x` + 64 hex digits */
    this.addressHex = k.addressHex;
    /** The ed25519 public key, `0x` hex. */
    this.publicKey = k.publicKey;
    /** The home shard: where its balance lives and its transactions run. */
    this.shard = k.shard;
    this.nextNonce = null;
    this.queue = Promise.resolve();
  }

  /** A new random key. */
  static random(core, numShards = 1) {
    return new Account(core, randomSecret(), numShards);
  }

  /** The secret key as `0x` hex (to store it; anyone holding it controls the account). */
  exportSecret() {
    return this.#secret;
  }

  /**
   * Signs a transaction: `{chainId, nonce, action, gasLimit?, gasPrice?}`; returns `{raw, hash}`.
   * `action`: see `Action` in tutti.d.ts; amounts are units (BigInt or decimal strings).
   */
  sign({ chainId, nonce, action, gasLimit = DEFAULT_GAS_LIMIT, gasPrice = 1n }) {
    return this.core.call("sign", {
      secret: this.#secret,
      chainId,
      nonce,
      gasLimit,
      gasPrice: String(gasPrice),
      action: normalizeAction(action),
    });
  }
}

function normalizeAction(a) {
  const out = { ...a };
  for (const k of ["amount", "value"]) if (out[k] !== undefined) out[k] = String(out[k]);
  if (out.code instanceof Uint8Array) out.code = toHex(out.code);
  if (out.args instanceof Uint8Array) out.args = toHex(out.args);
  return out;
}

function randomSecret() {
  const b = new Uint8Array(32);
  globalThis.crypto.getRandomValues(b);
  return toHex(b);
}

/** Bytes as `0x` hex. */
export function toHex(bytes) {
  return "0x" + Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** `0x` hex as bytes. */
export function fromHex(hex) {
  const h = hex.startsWith("0x") ? hex.slice(2) : hex;
  if (h.length % 2 || /[^0-9a-fA-F]/.test(h)) throw new Error(`not hex: ${hex.slice(0, 20)}`);
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The client

/**
 * A client of a Tutti chain through one node, reaching the other shards through the endpoints
 * that node names.
 */
export class Client {
  /**
   * Connects to the node at `url`: reads its status and shard layout, and loads the wallet module
   * (`options.wasm`: a URL, bytes or a `WebAssembly.Module`; default: the module the node's pages
   * serve, `<url>/shared/wallet.wasm`, which `tutti dev` does). `options.core` reuses a loaded
   * one. Other options go to every `Rpc` (`WebSocket`, `timeoutMs`).
   */
  static async connect(url, options = {}) {
    const rpc = new Rpc(url, options);
    const [core, status, layout] = await Promise.all([
      options.core ? options.core : Core.load(options.wasm ?? `${rpc.url}/shared/wallet.wasm`),
      rpc.request("tutti_status"),
      rpc.request("tutti_getShardingStructure"),
    ]);
    return new Client(rpc, core, status, layout, options);
  }

  constructor(rpc, core, status, layout, options = {}) {
    this.rpc = rpc;
    this.core = core;
    this.options = options;
    /** The chain id transactions sign. */
    this.chainId = status.chainId;
    /** The native token's symbol and decimals. */
    this.symbol = status.tokenSymbol || "TUTTI";
    this.decimals = status.tokenDecimals ?? TOKEN_DECIMALS;
    /** How many shards the chain has. */
    this.numShards = layout.numShards;
    this.layout = layout;
    this.endpoints = new Map(); // url -> Rpc
    this.abis = new Map(); // contract address -> Promise<abi | null>
    this.heads = null; // {sub, waiters, users} while receipts are awaited
  }

  // --- routing ---------------------------------------------------------------------------------

  /** The home shard of an address (`tt1…` or `0x` hex). */
  shardOf(address) {
    return this.core.call("address", { address, numShards: this.numShards }).shard;
  }

  /** The endpoint that serves `shard`: the connected node when it does, else the one it names. */
  rpcFor(shard) {
    if (shard === undefined || shard === null) return this.rpc;
    const s = this.layout.shards.find((x) => x.shardId === shard);
    if (!s || s.tracked || !s.rpc) return this.rpc;
    return this.#endpoint(s.rpc);
  }

  #endpoint(url) {
    const key = String(url).replace(/\/+$/, "");
    if (key === this.rpc.url) return this.rpc;
    if (!this.endpoints.has(key)) this.endpoints.set(key, new Rpc(key, this.options));
    return this.endpoints.get(key);
  }

  /** `method` on `shard`'s endpoint; a `WRONG_SHARD` answer naming an endpoint is followed once. */
  async #routed(shard, method, params) {
    try {
      return await this.rpcFor(shard).request(method, params);
    } catch (e) {
      if (e instanceof RpcError && e.code === ErrorCode.WRONG_SHARD && e.data && e.data.rpc) {
        return this.#endpoint(e.data.rpc).request(method, params);
      }
      throw e;
    }
  }

  #byAddress(address, method, params) {
    return this.#routed(this.shardOf(address), method, params);
  }

  // --- every RPC method ------------------------------------------------------------------------

  /** `tutti_chainId` */
  getChainId() {
    return this.rpc.request("tutti_chainId");
  }
  /** `tutti_status` */
  status() {
    return this.rpc.request("tutti_status");
  }
  /** `tutti_blockNumber`: a shard's head height (default: the node's lowest tracked shard). */
  blockNumber(shard) {
    return this.#routed(shard, "tutti_blockNumber", shard === undefined ? [] : [shard]);
  }
  /** `tutti_getBlockByNumber`: `block` is a height or `"latest"`; `null` if none. */
  getBlockByNumber(block = "latest", { full = false, shard } = {}) {
    return this.#routed(shard, "tutti_getBlockByNumber", [block, full, shard ?? null]);
  }
  /** `tutti_getBlockByHash` */
  getBlockByHash(hash, { full = false } = {}) {
    return this.rpc.request("tutti_getBlockByHash", [hash, full]);
  }
  /** `tutti_getAccount`: balance (decimal string), nonce and code hash. */
  getAccount(address, block) {
    return this.#byAddress(address, "tutti_getAccount", block === undefined ? [address] : [address, block]);
  }
  /** `tutti_getBalance`, as a BigInt of units. */
  async getBalance(address, block) {
    const b = await this.#byAddress(address, "tutti_getBalance", block === undefined ? [address] : [address, block]);
    return BigInt(b);
  }
  /** `tutti_sendRawTransaction`: `raw` is the signed transaction's `0x` hex; returns its hash. */
  sendRawTransaction(raw, { shard } = {}) {
    return this.#routed(shard, "tutti_sendRawTransaction", [raw]);
  }
  /** `tutti_getTransaction`; `null` if unknown. */
  getTransaction(hash, { shard } = {}) {
    return this.#routed(shard, "tutti_getTransaction", [hash]);
  }
  /** `tutti_getTransactionReceipt`; `null` while pending or unknown. */
  getTransactionReceipt(hash, { shard } = {}) {
    return this.#routed(shard, "tutti_getTransactionReceipt", [hash]);
  }
  /** `tutti_call`: a read-only call with SCALE `args` (`0x` hex); the raw result. */
  callRaw(contract, method, args = "0x", gas) {
    const params = gas === undefined ? [contract, method, args] : [contract, method, args, gas];
    return this.#byAddress(contract, "tutti_call", params);
  }
  /** `tutti_estimateGas`: gas a call transaction from `from` needs. */
  estimateGas(from, contract, method, args = "0x", value = 0n) {
    return this.#byAddress(contract, "tutti_estimateGas", [from, contract, method, args, String(value)]);
  }
  /** `tutti_getCode`: `0x` hex, `null` for accounts without code. */
  getCode(address, block) {
    return this.#byAddress(address, "tutti_getCode", block === undefined ? [address] : [address, block]);
  }
  /** `tutti_getAbi`: the contract's ABI, `null` without one. */
  getAbi(address, block) {
    return this.#byAddress(address, "tutti_getAbi", block === undefined ? [address] : [address, block]);
  }
  /** `tutti_getStorageAt`: a storage value (`0x` hex) or `null`. */
  getStorageAt(address, key, block) {
    const params = block === undefined ? [address, key] : [address, key, block];
    return this.#byAddress(address, "tutti_getStorageAt", params);
  }
  /** `tutti_getProof`: an account (no `key`) or storage value with its Merkle proof. */
  getProof(address, key = null, block) {
    const params = block === undefined ? [address, key] : [address, key, block];
    return this.#byAddress(address, "tutti_getProof", params);
  }
  /** `tutti_getShardingStructure` (also refreshes this client's routing). */
  async getShardingStructure() {
    this.layout = await this.rpc.request("tutti_getShardingStructure");
    this.numShards = this.layout.numShards;
    return this.layout;
  }
  /** `tutti_getCommittee` of a shard at an epoch (defaults: the node's shard, current epoch). */
  getCommittee(shard, epoch) {
    return this.#routed(shard, "tutti_getCommittee", [shard ?? null, epoch ?? null]);
  }
  /** `tutti_getValidators` (the beacon chain's; asked of an endpoint of shard 0). */
  getValidators() {
    return this.#routed(0, "tutti_getValidators", []);
  }
  /** `tutti_getDelegations` of an account (beacon chain). */
  getDelegations(address) {
    return this.#routed(0, "tutti_getDelegations", [address]);
  }
  /** `rpc_discover`: the OpenRPC document. */
  discover() {
    return this.rpc.request("rpc_discover");
  }
  /** `dev_faucet` (only `tutti dev` serves it): pays test tokens to `address`; the hash. */
  devFaucet(address) {
    return this.rpc.request("dev_faucet", [address]);
  }
  /**
   * `tutti_subscribe`: `kind` is `newHeads`, `events` or `pendingTransactions`; `filter`
   * `{contract?, name?, shard?}`. With a `shard` (or a `contract`) the subscription is made on an
   * endpoint of that shard.
   */
  subscribe(kind, filter, onItem, onError) {
    const shard = filter?.shard ?? (filter?.contract ? this.shardOf(filter.contract) : undefined);
    return this.rpcFor(shard).subscribe(kind, filter, onItem, onError);
  }

  // --- accounts and transactions ---------------------------------------------------------------

  /** An account from its secret key (`0x` + 64 hex digits). */
  account(secret) {
    return new Account(this.core, secret, this.numShards);
  }

  /** A new random account. */
  randomAccount() {
    return Account.random(this.core, this.numShards);
  }

  /** The nonce an account's next transaction takes (the chain's, pending ones included by the pool). */
  async nonceOf(address) {
    return (await this.getAccount(address)).nonce;
  }

  /**
   * Signs `action` with `account` at its next nonce and sends it to the account's shard. Sends of
   * one account are queued so that each takes the next nonce, even when fired together. Options:
   * `gasLimit`, `gasPrice`, `wait` (default true: resolve once final, with its receipt),
   * `timeoutMs`. Resolves with `{hash, receipt}` (`receipt` null when not waiting).
   */
  send(account, action, options = {}) {
    const run = account.queue.then(() => this.#sendNow(account, action, options));
    account.queue = run.catch(() => {});
    return run.then(async (hash) => {
      if (options.wait === false) return { hash, receipt: null };
      const receipt = await this.waitForReceipt(hash, { shard: account.shard, timeoutMs: options.timeoutMs });
      return { hash, receipt };
    });
  }

  async #sendNow(account, action, { gasLimit, gasPrice }) {
    for (let attempt = 0; ; attempt++) {
      const chain = await this.nonceOf(account.address);
      const nonce = account.nextNonce === null || account.nextNonce < chain ? chain : account.nextNonce;
      const { raw } = account.sign({ chainId: this.chainId, nonce, action, gasLimit, gasPrice });
      try {
        const hash = await this.sendRawTransaction(raw, { shard: account.shard });
        account.nextNonce = nonce + 1;
        return hash;
      } catch (e) {
        // Our nonce is off (a transaction of ours was dropped or sent elsewhere): start again
        // from the chain's, once.
        if (e instanceof RpcError && e.code === ErrorCode.BAD_NONCE && attempt === 0) {
          account.nextNonce = null;
          continue;
        }
        throw e;
      }
    }
  }

  /**
   * Resolves with the receipt once the transaction and every receipt it caused ran (status
   * `success`, `failure`, or `sent` when the rest continues on shards this endpoint does not
   * serve). Rejects after `timeoutMs` (default 60 s).
   */
  async waitForReceipt(hash, { shard, timeoutMs = 60_000, pollMs = 500 } = {}) {
    const deadline = Date.now() + timeoutMs;
    const heads = this.#watchHeads();
    try {
      for (;;) {
        const r = await this.getTransactionReceipt(hash, { shard });
        if (r && r.status !== "pending") return r;
        if (Date.now() > deadline) throw new Error(`transaction ${hash} not final after ${timeoutMs / 1000} s`);
        // Asked again at the next block (or after `pollMs` without one).
        await this.#nextHead(pollMs);
      }
    } finally {
      heads.release();
    }
  }

  /**
   * While a receipt is awaited, a `newHeads` subscription wakes the waiters at each block; it
   * ends when the last waiter leaves (so an idle client holds no WebSocket open).
   */
  #watchHeads() {
    if (this.rpc.WebSocket && !this.heads) {
      const waiters = new Set();
      const sub = this.rpc.subscribe(
        "newHeads",
        null,
        () => {
          for (const w of [...waiters]) w();
        },
        () => {},
      );
      this.heads = { sub, waiters, users: 0 };
    }
    const h = this.heads;
    if (h) h.users++;
    return {
      release: () => {
        if (!h || --h.users > 0) return;
        if (this.heads === h) this.heads = null;
        h.sub.unsubscribe();
      },
    };
  }

  #nextHead(timeoutMs) {
    const h = this.heads;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        h?.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      h?.waiters.add(done);
    });
  }

  /** Sends `amount` units (BigInt or decimal string; `parseTokens("1.5")` for tokens) to `to`. */
  transfer(account, to, amount, options) {
    return this.send(account, { type: "transfer", to, amount: String(amount) }, options);
  }

  /**
   * Deploys `code` (bytes or `0x` hex), optionally calling `init` with named `args` (encoded
   * through the module's ABI when it has one, else `args` must be SCALE hex). Resolves with
   * `{address, hash, receipt, contract}` once final; `contract` is a `Contract` for it.
   */
  async deploy(account, code, { init, args, value = 0n, ...options } = {}) {
    const hex = code instanceof Uint8Array ? toHex(code) : code;
    let encoded = "0x";
    if (init) {
      if (typeof args === "string") encoded = args;
      else {
        const abi = this.core.call("abi.read", { code: hex });
        if (!abi) throw new Error(`the module has no ABI: give the arguments of \`${init}\` as SCALE hex`);
        encoded = this.core.call("abi.encode", { abi, method: init, args: args || {} });
      }
    }
    const nonce = account.nextNonce ?? (await this.nonceOf(account.address));
    const predicted = this.core.call("contractAddress", { deployer: account.address, nonce });
    const action = { type: "deploy", code: hex, initMethod: init ?? null, args: encoded, value: String(value) };
    const gasLimit = options.gasLimit ?? this.core.call("deployGas", { codeLen: fromHex(hex).length });
    const { hash, receipt } = await this.send(account, action, { ...options, gasLimit });
    const address = receipt && receipt.returnData ? this.#deployed(receipt, predicted) : predicted;
    if (receipt && receipt.status === "failure") {
      throw new ExecutionError(`deploy failed: ${receipt.failure?.message ?? "unknown failure"}`, receipt);
    }
    return { address, hash, receipt, contract: receipt ? await this.contract(address) : null };
  }

  #deployed(receipt, predicted) {
    try {
      return this.core.call("address", { address: receipt.returnData }).address;
    } catch {
      return predicted;
    }
  }

  /** A contract handle with its ABI loaded (throws if the contract has no code). */
  async contract(address) {
    const abi = await this.abiOf(address);
    if (abi === undefined) throw new Error(`${address} holds no contract`);
    return new Contract(this, this.core.call("address", { address }).address, abi);
  }

  /** The ABI of `address` (cached), `null` for a contract without one, undefined without code. */
  abiOf(address) {
    if (!this.abis.has(address)) {
      const p = (async () => {
        const abi = await this.getAbi(address);
        if (abi) return abi;
        return (await this.getCode(address)) ? null : undefined;
      })();
      this.abis.set(address, p);
      p.catch(() => this.abis.delete(address));
    }
    return this.abis.get(address);
  }

  /**
   * The receipt's events decoded through their contracts' ABIs: each `{contract, name, data,
   * args}` (`args` is null when the emitting contract has no ABI or does not declare the event).
   */
  async decodeEvents(events) {
    return Promise.all(
      (events || []).map(async (e) => {
        let args = null;
        try {
          const abi = await this.abiOf(e.contract);
          if (abi) args = this.core.call("abi.event", { abi, name: e.name, data: e.data });
        } catch {
          args = null;
        }
        return { ...e, args };
      }),
    );
  }

  /** Amount in units as tokens for people: `formatTokens(units)` with this chain's decimals. */
  format(units, digits = 4) {
    return `${formatTokens(units, this.decimals, digits)} ${this.symbol}`;
  }

  /** Closes every WebSocket this client opened. */
  close() {
    this.heads = null;
    this.rpc.close();
    for (const e of this.endpoints.values()) e.close();
  }
}

/** A deployed contract, through its ABI. */
export class Contract {
  constructor(client, address, abi) {
    this.client = client;
    this.address = address;
    /** The ABI (`null` for a contract built without one: only the raw methods work). */
    this.abi = abi;
    this.shard = client.shardOf(address);
  }

  #needAbi(what) {
    if (!this.abi) throw new Error(`${this.address} has no ABI: ${what} needs SCALE hex (use the raw methods)`);
  }

  /** The method's description from the ABI. */
  method(name) {
    this.#needAbi(`\`${name}\``);
    const m = this.abi.methods.find((x) => x.name === name);
    if (!m) {
      throw new Error(`the contract has no method \`${name}\` (its methods: ${this.abi.methods.map((x) => x.name).join(", ")})`);
    }
    return m;
  }

  /** Named arguments as the method's SCALE input (`0x` hex); errors name the parameter and type. */
  encode(method, args = {}) {
    if (typeof args === "string") return args;
    this.#needAbi(`encoding arguments of \`${method}\``);
    return this.client.core.call("abi.encode", { abi: this.abi, method, args });
  }

  /** `method`'s return data (`0x` hex) decoded. */
  decodeReturn(method, data) {
    this.#needAbi(`decoding what \`${method}\` returned`);
    return this.client.core.call("abi.returns", { abi: this.abi, method, data: data || "0x" });
  }

  /** An event payload of this contract decoded. */
  decodeEvent(name, data) {
    this.#needAbi(`decoding event \`${name}\``);
    return this.client.core.call("abi.event", { abi: this.abi, name, data });
  }

  /** The interface as text (what `tutti abi` prints). */
  describe() {
    this.#needAbi("describing it");
    return this.client.core.call("abi.describe", { abi: this.abi });
  }

  /** A read-only call on the latest state; resolves with the decoded result. */
  async view(method, args = {}, { gas } = {}) {
    const r = await this.client.callRaw(this.address, method, this.encode(method, args), gas);
    if (r.status !== "success") {
      throw new ExecutionError(`${method} failed: ${r.failure ? r.failure.message : "unknown failure"}`, r);
    }
    return this.abi ? this.decodeReturn(method, r.returnData) : r.returnData;
  }

  /**
   * Sends a call transaction from `account`. Options: `value` (units attached), `gasLimit`,
   * `gasPrice`, `wait` (default true), `timeoutMs`. Once final, resolves with `{hash, receipt,
   * returned, events}` (`returned` decoded, `events` decoded by their contracts' ABIs); rejects
   * with ExecutionError when the call (or one it caused) failed.
   */
  async call(account, method, args = {}, { value = 0n, ...options } = {}) {
    const action = {
      type: "call",
      contract: this.address,
      method,
      args: this.encode(method, args),
      value: String(value),
    };
    const { hash, receipt } = await this.client.send(account, action, options);
    if (!receipt) return { hash, receipt: null, returned: undefined, events: [] };
    const events = await this.client.decodeEvents(receipt.events);
    if (receipt.status === "failure") {
      const e = new ExecutionError(`${method} failed: ${receipt.failure?.message ?? "unknown failure"}`, receipt);
      e.events = events;
      throw e;
    }
    const returned = this.abi && receipt.returnData != null ? this.decodeReturn(method, receipt.returnData) : receipt.returnData;
    return { hash, receipt, returned, events };
  }

  /**
   * Calls `onEvent({name, args, height, execution, contract, data})` for each event this contract
   * emits (`name`: only that event). Returns the subscription (`ready`, `unsubscribe()`).
   */
  onEvent(name, onEvent, onError) {
    const filter = { contract: this.address, shard: this.shard };
    if (name) filter.name = name;
    return this.client.subscribe(
      "events",
      filter,
      (n) => {
        let args = null;
        try {
          if (this.abi) args = this.decodeEvent(n.name, n.data);
        } catch (e) {
          if (onError) onError(e);
        }
        onEvent({ ...n, args });
      },
      onError,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Amounts for people

/** Units (BigInt, number or decimal string) as tokens: `1,000.5`, at most `digits` decimals. */
export function formatTokens(units, decimals = TOKEN_DECIMALS, digits = 4) {
  const v = BigInt(units);
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const scale = 10n ** BigInt(decimals);
  const whole = abs / scale;
  const frac = (abs % scale).toString().padStart(decimals, "0").slice(0, digits).replace(/0+$/, "");
  const w = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (neg ? "-" : "") + w + (frac ? "." + frac : "");
}

/** Tokens typed by a person (`"20"`, `"1,000.5"`) as units (BigInt). */
export function parseTokens(text, decimals = TOKEN_DECIMALS) {
  const t = String(text).trim().replace(/,/g, "");
  if (!/^\d+(\.\d+)?$/.test(t)) throw new Error(`"${text}" is not an amount of tokens`);
  const [w, f = ""] = t.split(".");
  if (f.length > decimals) throw new Error(`"${text}" has more than ${decimals} decimals`);
  return BigInt(w) * 10n ** BigInt(decimals) + BigInt(f.padEnd(decimals, "0") || "0");
}

/** A long address or hash shortened for display. */
export function short(text) {
  return text.length > 16 ? `${text.slice(0, 8)}…${text.slice(-6)}` : text;
}
