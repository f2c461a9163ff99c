// The Tutti browser wallet, shared by the dApp pages.
//
// Keys, transaction encoding and signing run in /shared/wallet.wasm, which is the node's own Rust
// code (tutti-primitives) compiled to WebAssembly, so what the page signs is byte for byte what the
// chain expects. The secret key is created with crypto.getRandomValues, kept in this browser's
// localStorage and never sent anywhere: only signed transactions leave the page.
//
// RPC goes to the node that served the page (same origin): HTTP for calls, one WebSocket for the
// tutti_subscribe subscriptions.

const SECRET_STORAGE = "tutti.wallet.secret";
const GAS_LIMIT = 300_000_000;
const GAS_PRICE = "1";

/** A JSON-RPC error with its code. */
export class RpcError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** The wallet's wasm core: `call(op, fields)` runs one operation (see web-wallet/src/ops.rs). */
export class Core {
  static async load(url = "/shared/wallet.wasm") {
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`cannot load the wallet module (${resp.status})`);
    const { instance } = await WebAssembly.instantiate(await resp.arrayBuffer(), {});
    return new Core(instance.exports);
  }

  constructor(exports) {
    this.x = exports;
  }

  call(op, fields = {}) {
    const x = this.x;
    const input = new TextEncoder().encode(JSON.stringify({ op, ...fields }));
    const ptr = x.wallet_alloc(input.length);
    new Uint8Array(x.memory.buffer, ptr, input.length).set(input);
    const packed = x.wallet_call(ptr, input.length);
    x.wallet_free(ptr, input.length);
    const outPtr = Number(packed >> 32n);
    const outLen = Number(packed & 0xffffffffn);
    const text = new TextDecoder().decode(new Uint8Array(x.memory.buffer, outPtr, outLen).slice());
    x.wallet_free(outPtr, outLen);
    const answer = JSON.parse(text);
    if ("error" in answer) throw new Error(answer.error);
    return answer.ok;
  }
}

/** JSON-RPC over HTTP plus subscriptions over one WebSocket that reconnects by itself. */
export class Rpc {
  constructor(origin = location.origin) {
    this.url = origin;
    this.wsUrl = origin.replace(/^http/, "ws");
    this.nextId = 1;
    this.subs = new Map(); // local id -> {kind, filter, onItem, serverId}
    this.ws = null;
    this.pending = new Map(); // request id -> local sub id
    this.onStatus = () => {};
  }

  async request(method, params = []) {
    const resp = await fetch(this.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: this.nextId++, method, params }),
    });
    const body = await resp.json();
    if (body.error) throw new RpcError(body.error.code, body.error.message);
    return body.result;
  }

  /** Calls `onItem(result)` for every notification of `tutti_subscribe(kind, filter)`. */
  subscribe(kind, filter, onItem) {
    const id = this.nextId++;
    this.subs.set(id, { kind, filter, onItem, serverId: null });
    this.#connect();
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.#send(id);
    return { close: () => this.subs.delete(id) };
  }

  #send(localId) {
    const s = this.subs.get(localId);
    const reqId = this.nextId++;
    this.pending.set(reqId, localId);
    const params = s.filter ? [s.kind, s.filter] : [s.kind];
    this.ws.send(JSON.stringify({ jsonrpc: "2.0", id: reqId, method: "tutti_subscribe", params }));
  }

  #connect() {
    if (this.ws) return;
    const ws = new WebSocket(this.wsUrl);
    this.ws = ws;
    ws.onopen = () => {
      this.onStatus(true);
      for (const id of this.subs.keys()) this.#send(id);
    };
    ws.onmessage = (msg) => {
      const m = JSON.parse(msg.data);
      if (m.id !== undefined && this.pending.has(m.id)) {
        const s = this.subs.get(this.pending.get(m.id));
        this.pending.delete(m.id);
        if (s && m.result !== undefined) s.serverId = m.result;
        return;
      }
      if (m.method === "tutti_subscription") {
        for (const s of this.subs.values()) {
          if (s.serverId === m.params.subscription) s.onItem(m.params.result);
        }
      }
    };
    ws.onclose = () => {
      this.onStatus(false);
      this.ws = null;
      for (const s of this.subs.values()) s.serverId = null;
      setTimeout(() => this.subs.size && this.#connect(), 1000);
    };
  }
}

/** Units (BigInt or decimal string) as a token amount with up to `digits` decimals. */
export function formatTokens(units, decimals = 18, digits = 4) {
  const v = BigInt(units);
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const scale = 10n ** BigInt(decimals);
  const whole = abs / scale;
  let frac = (abs % scale).toString().padStart(decimals, "0").slice(0, digits).replace(/0+$/, "");
  const w = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (neg ? "-" : "") + w + (frac ? "." + frac : "");
}

/** A token amount typed by a person ("20", "0.5") as units. */
export function parseTokens(text, decimals = 18) {
  const t = String(text).trim();
  if (!/^\d+(\.\d+)?$/.test(t)) throw new Error(`"${text}" is not an amount`);
  const [w, f = ""] = t.split(".");
  if (f.length > decimals) throw new Error(`at most ${decimals} decimals`);
  return BigInt(w) * 10n ** BigInt(decimals) + BigInt(f.padEnd(decimals, "0") || "0");
}

/** A long address shortened for display. */
export function short(address) {
  return address.length > 16 ? `${address.slice(0, 8)}…${address.slice(-6)}` : address;
}

function randomSecret() {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  return "0x" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The page's account: its key, nonce tracking, signing, sending and waiting for finality. */
export class Wallet {
  static async open() {
    const [config, core] = await Promise.all([
      fetch("/config.json").then((r) => {
        if (!r.ok) throw new Error(`cannot read /config.json (${r.status})`);
        return r.json();
      }),
      Core.load(),
    ]);
    return new Wallet(core, new Rpc(), config);
  }

  constructor(core, rpc, config) {
    this.core = core;
    this.rpc = rpc;
    this.config = config;
    this.nextNonce = null;
    this.sendQueue = Promise.resolve();
    this.head = null;
    this.listeners = new Set();
    let secret = localStorage.getItem(SECRET_STORAGE);
    if (!secret) {
      secret = randomSecret();
      localStorage.setItem(SECRET_STORAGE, secret);
    }
    this.#use(secret);
    this.headWaiters = new Set();
    rpc.subscribe("newHeads", null, (h) => {
      this.head = h;
      for (const w of this.headWaiters) w(h);
      for (const l of this.listeners) l(h);
    });
  }

  #use(secret) {
    const k = this.core.call("key", { secret, numShards: this.config.numShards || 1 });
    this.secret = secret;
    this.address = k.address;
    // The account's home shard: where its balance lives and its transactions run.
    this.shard = k.shard || 0;
    this.nextNonce = null;
  }

  /** Calls `f(head)` on every new block. */
  onHead(f) {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Replaces the key with a new random one (the old one is gone unless exported). */
  newKey() {
    const s = randomSecret();
    localStorage.setItem(SECRET_STORAGE, s);
    this.#use(s);
  }

  /** Imports a 32-byte secret given as hex. */
  importKey(hex) {
    const s = hex.trim().startsWith("0x") ? hex.trim() : "0x" + hex.trim();
    this.core.call("key", { secret: s }); // throws if malformed
    localStorage.setItem(SECRET_STORAGE, s);
    this.#use(s);
  }

  exportKey() {
    return this.secret;
  }

  async balance() {
    return BigInt(await this.rpc.request("tutti_getBalance", [this.address]));
  }

  async faucet() {
    const hash = await this.rpc.request("dev_faucet", [this.address]);
    return this.waitFinal(hash);
  }

  async #chainNonce() {
    return (await this.rpc.request("tutti_getAccount", [this.address])).nonce;
  }

  /**
   * Signs and sends `action`; returns the transaction hash once the node accepted it. Sends are
   * queued so that each gets the next nonce, even when a page fires several at once.
   */
  send(action) {
    const run = this.sendQueue.then(() => this.#sendNow(action));
    this.sendQueue = run.catch(() => {});
    return run;
  }

  async #sendNow(action) {
    for (let attempt = 0; ; attempt++) {
      const chain = await this.#chainNonce();
      const nonce = this.nextNonce === null || this.nextNonce < chain ? chain : this.nextNonce;
      const signed = this.core.call("sign", {
        secret: this.secret,
        chainId: this.config.chainId,
        nonce,
        gasLimit: GAS_LIMIT,
        gasPrice: GAS_PRICE,
        action,
      });
      try {
        const hash = await this.rpc.request("tutti_sendRawTransaction", [signed.raw]);
        this.nextNonce = nonce + 1;
        return hash;
      } catch (e) {
        // 1002: our nonce is off (a transaction of ours was dropped): start again from the chain's.
        if (e.code === 1002 && attempt === 0) {
          this.nextNonce = null;
          continue;
        }
        throw e;
      }
    }
  }

  /** Sends a contract call; `args` is SCALE hex, `value` units. */
  async call(contract, method, args = "0x", value = 0n) {
    return this.send({ type: "call", contract, method, args, value: value.toString() });
  }

  /** A read-only call; returns the SCALE return data, or throws the contract's message. */
  async view(contract, method, args = "0x") {
    const r = await this.rpc.request("tutti_call", [contract, method, args]);
    if (r.status !== "success") throw new Error(r.failure ? r.failure.message : "the view failed");
    return r.returnData;
  }

  /** Resolves with the receipt once `hash` is in a committed block (and every receipt ran). */
  async waitFinal(hash, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.rpc.request("tutti_getTransactionReceipt", [hash]);
      if (r && r.status !== "pending") return r;
      if (Date.now() > deadline) throw new Error(`transaction ${short(hash)} not final after ${timeoutMs / 1000} s`);
      // Next block, or a short poll if the subscription is down.
      await new Promise((resolve) => {
        const done = () => {
          this.headWaiters.delete(done);
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(done, this.config.blockTimeMs || 1000);
        this.headWaiters.add(done);
      });
    }
  }
}

/**
 * The wallet bar: address, balance, faucet, key import/export. `onChange()` runs after the key or
 * the balance changes. Returns `refresh()`.
 */
export function mountWalletBar(el, wallet, onChange = () => {}) {
  el.classList.add("wallet-bar");
  el.innerHTML = `
    <div class="wb-id">
      <span class="wb-label">Your wallet</span>
      <button class="wb-address link" title="Copy the full address"></button>
      <span class="wb-shard" data-testid="wallet-shard" title="Your account lives on this shard; the chain carries calls to contracts on other shards"></span>
    </div>
    <div class="wb-balance"><span class="wb-amount" data-testid="balance">…</span> <span class="wb-symbol"></span></div>
    <div class="wb-actions">
      <button class="wb-faucet" data-testid="faucet">Get test tokens</button>
      <details class="wb-keys">
        <summary>Key</summary>
        <div class="wb-keys-panel">
          <p>The key lives only in this browser. Export it to keep it.</p>
          <button class="wb-export">Show secret key</button>
          <code class="wb-secret" hidden></code>
          <label>Import a secret key <input class="wb-import" placeholder="0x… 64 hex digits" spellcheck="false"></label>
          <button class="wb-import-go">Import</button>
          <button class="wb-new">New key</button>
        </div>
      </details>
    </div>
    <div class="wb-msg" role="status"></div>`;
  const $ = (s) => el.querySelector(s);
  const msg = (t, bad = false) => {
    $(".wb-msg").textContent = t;
    $(".wb-msg").classList.toggle("bad", bad);
  };
  $(".wb-symbol").textContent = wallet.config.symbol || "";
  if (!wallet.config.faucet) $(".wb-faucet").hidden = true;
  let last = null;
  async function refresh() {
    $(".wb-address").textContent = short(wallet.address);
    $(".wb-address").dataset.address = wallet.address;
    const shards = wallet.config.numShards || 1;
    $(".wb-shard").hidden = shards < 2;
    $(".wb-shard").textContent = `shard ${wallet.shard}`;
    $(".wb-shard").dataset.shard = String(wallet.shard);
    try {
      const b = await wallet.balance();
      $(".wb-amount").textContent = formatTokens(b, wallet.config.decimals);
      $(".wb-amount").dataset.units = b.toString();
      if (last !== null && b !== last) onChange();
      last = b;
    } catch (e) {
      msg(`cannot read the balance: ${e.message}`, true);
    }
  }
  $(".wb-address").onclick = async () => {
    try {
      await navigator.clipboard.writeText(wallet.address);
      msg("Address copied.");
    } catch {
      msg(wallet.address);
    }
  };
  $(".wb-faucet").onclick = async () => {
    const b = $(".wb-faucet");
    b.disabled = true;
    msg("Asking the faucet…");
    try {
      await wallet.faucet();
      msg("The faucet sent you 1,000 test tokens.");
      await refresh();
    } catch (e) {
      msg(e.message, true);
    } finally {
      b.disabled = false;
    }
  };
  $(".wb-export").onclick = () => {
    const c = $(".wb-secret");
    c.textContent = wallet.exportKey();
    c.hidden = !c.hidden;
  };
  $(".wb-import-go").onclick = async () => {
    try {
      wallet.importKey($(".wb-import").value);
      $(".wb-import").value = "";
      msg("Key imported.");
      await refresh();
      onChange();
    } catch (e) {
      msg(`not imported: ${e.message}`, true);
    }
  };
  $(".wb-new").onclick = async () => {
    if (!confirm("Replace this key with a new one? Export it first if it holds anything.")) return;
    wallet.newKey();
    await refresh();
    onChange();
  };
  wallet.onHead(() => refresh());
  refresh();
  return refresh;
}
