// The Tutti browser wallet, shared by the dApp pages, on the JavaScript client (/shared/tutti.js,
// clients/js in the repository).
//
// Keys, transaction encoding and signing run in /shared/wallet.wasm, which is the node's own Rust
// code (tutti-primitives) compiled to WebAssembly, so what the page signs is byte for byte what the
// chain expects; contract arguments, results and events go through each contract's ABI. The
// secret key is created with crypto.getRandomValues, kept in this browser's localStorage and never
// sent anywhere: only signed transactions leave the page.
//
// RPC goes to the node that served the page (same origin): HTTP for calls, one WebSocket for the
// tutti_subscribe subscriptions.

import { Client, RpcError, formatTokens, parseTokens, short } from "/shared/tutti.js";

export { RpcError, formatTokens, parseTokens, short };

const SECRET_STORAGE = "tutti.wallet.secret";

/** The page's account (its key in localStorage) on a `Client` of the node that served the page. */
export class Wallet {
  static async open() {
    const [config, client] = await Promise.all([
      fetch("/config.json").then((r) => {
        if (!r.ok) throw new Error(`cannot read /config.json (${r.status})`);
        return r.json();
      }),
      Client.connect(location.origin, { wasm: "/shared/wallet.wasm" }),
    ]);
    return new Wallet(client, config);
  }

  constructor(client, config) {
    this.client = client;
    this.core = client.core;
    this.config = config;
    this.listeners = new Set();
    this.headWaiters = new Set();
    let secret = localStorage.getItem(SECRET_STORAGE);
    if (!secret) {
      secret = client.randomAccount().exportSecret();
      localStorage.setItem(SECRET_STORAGE, secret);
    }
    this.#use(secret);
    client.subscribe("newHeads", null, (h) => {
      for (const l of this.listeners) l(h);
    });
  }

  #use(secret) {
    this.account = this.client.account(secret);
    this.address = this.account.address;
    // The account's home shard: where its balance lives and its transactions run.
    this.shard = this.account.shard || 0;
  }

  /** Calls `f(head)` on every new block. */
  onHead(f) {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Replaces the key with a new random one (the old one is gone unless exported). */
  newKey() {
    const s = this.client.randomAccount().exportSecret();
    localStorage.setItem(SECRET_STORAGE, s);
    this.#use(s);
  }

  /** Imports a 32-byte secret given as hex. */
  importKey(hex) {
    const s = hex.trim().startsWith("0x") ? hex.trim() : "0x" + hex.trim();
    this.client.account(s); // throws if malformed
    localStorage.setItem(SECRET_STORAGE, s);
    this.#use(s);
  }

  exportKey() {
    return this.account.exportSecret();
  }

  balance() {
    return this.client.getBalance(this.address);
  }

  async faucet() {
    const hash = await this.client.devFaucet(this.address);
    return this.client.waitForReceipt(hash, { shard: this.shard });
  }

  /** A contract of this chain, through its ABI. */
  contract(address) {
    return this.client.contract(address);
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
  $(".wb-symbol").textContent = wallet.client.symbol;
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
      $(".wb-amount").textContent = formatTokens(b, wallet.client.decimals);
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
