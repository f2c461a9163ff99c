// Lottery: the browser side. The chain holds the round (price, closing block, tickets, pot); the
// page shows it, buys tickets and calls draw with transactions signed by the shared wallet, and
// follows the contract's events and new blocks to stay current without reloading. Arguments,
// results and events go through the contract's ABI (the JavaScript client's `Contract`).
//
// For scripts and the browser test, `window.lottery` exposes the state and a few helpers.

import { Wallet, mountWalletBar, formatTokens, short } from "/shared/wallet.js";

const $ = (id) => document.getElementById(id);

const st = {
  wallet: null,
  contract: null, // the Lottery contract (a client `Contract`)
  settings: null, // {price, round_blocks, fee_bps, house}
  round: null, // the current round
  mine: null, // {count, paid, ranges} in the current round
  history: [], // settled rounds, newest first
  head: null, // latest block height
  headAt: 0, // when it arrived (ms)
  draws: [], // settled rounds this page drew
  busy: false,
};

function msg(text, kind = "") {
  $("msg").textContent = text;
  $("msg").className = `msg ${kind}`;
}

function tokens(units) {
  return formatTokens(units, st.wallet.client.decimals);
}

/** The native token's symbol (from the node's status). */
const sym = () => st.wallet.client.symbol;

function you(address) {
  return address === st.wallet.address ? `${short(address)} (you)` : short(address);
}

function view(method, args = {}) {
  return st.contract.view(method, args);
}

const isOpen = () => st.round && st.head !== null && st.head <= st.round.close;
const drawDue = () => st.round && st.head !== null && st.head > st.round.close && st.round.tickets > 0;

function renderRound() {
  const r = st.round;
  if (!r) return;
  $("round-id").textContent = String(r.id);
  $("pot").textContent = tokens(r.pot);
  $("sold").textContent = String(r.tickets);
  $("players").textContent = String(r.players);
  $("price").textContent = `${tokens(r.price)} ${sym()}`;
  const mine = st.mine || { count: 0, ranges: [] };
  $("my-tickets").textContent = String(mine.count);
  $("my-chance").textContent =
    mine.count && r.tickets ? `· ${((100 * mine.count) / r.tickets).toFixed(1)} % chance to win` : "";
  $("my-ranges").textContent = mine.ranges.length
    ? "Numbers " + mine.ranges.map(([f, n]) => (n === 1 ? `#${f}` : `#${f}–#${f + n - 1}`)).join(", ")
    : "";
  const closedEmpty = st.head !== null && st.head > r.close && r.tickets === 0;
  if (isOpen()) {
    $("status").textContent = `Selling tickets until block ${r.close} (now ${st.head}). Drawn from block ${r.close + 1}.`;
  } else if (drawDue()) {
    $("status").textContent = `Sales closed at block ${r.close}. Anyone may draw it now.`;
  } else if (closedEmpty) {
    $("status").textContent = "No tickets were sold this round; the next ticket bought starts it again.";
  }
  $("draw").hidden = !drawDue();
  $("draw-round").textContent = String(r.id);
  $("enter").disabled = st.busy || drawDue();
  $("draw").disabled = st.busy;
  updateCost();
  tick();
}

function updateCost() {
  if (!st.round) return;
  const n = Number($("tickets").value);
  $("cost").textContent = Number.isInteger(n) && n > 0 ? tokens(BigInt(st.round.price) * BigInt(n)) : "–";
}

function tick() {
  const r = st.round;
  if (!r || st.head === null) return;
  if (!isOpen()) {
    $("time-left").textContent = drawDue() ? "draw!" : "closed";
    $("time-left").classList.remove("low");
    return;
  }
  const blocks = r.close - st.head + 1;
  const ms = blocks * st.wallet.config.blockTimeMs - (Date.now() - st.headAt);
  const s = Math.max(0, Math.ceil(ms / 1000));
  $("time-left").textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  $("time-left").classList.toggle("low", s <= 10);
}

async function loadRound() {
  st.round = await view("round");
  st.mine = await view("tickets", { round: st.round.id, player: st.wallet.address });
  renderRound();
}

async function loadHistory() {
  st.history = await view("history", { before: 0, limit: 20 });
  const tbody = $("history");
  tbody.innerHTML = "";
  for (const s of st.history) {
    const tr = document.createElement("tr");
    const won = s.outcome.Won;
    const o = won || s.outcome.Refunded;
    const cells = won
      ? [s.round.id, you(o.winner), `${tokens(o.prize)} ${sym()}`, `#${o.ticket} of ${s.round.tickets}`]
      : [s.round.id, `refunded ${you(o.player)}`, `${tokens(o.amount)} ${sym()}`, String(s.round.tickets)];
    if ((o.winner || o.player) === st.wallet.address) tr.className = "me";
    tr.title = won ? `${o.winner}, drawn from block ${o.randomness_height}` : o.player;
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = String(text);
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
  if (!st.history.length) tbody.innerHTML = `<tr><td colspan="4" class="muted">No round drawn yet.</td></tr>`;
}

function feed(text, kind = "") {
  $("feed-empty").hidden = true;
  const li = document.createElement("li");
  li.textContent = text;
  li.className = kind;
  $("feed").prepend(li);
  while ($("feed").children.length > 50) $("feed").lastChild.remove();
}

function onEvent(n) {
  const e = n.args;
  if (!e) return;
  const at = `block ${n.height}`;
  if (n.name === "Entered") {
    feed(`${you(e.player)} bought ${e.tickets} ticket${e.tickets === 1 ? "" : "s"} in round ${e.round} · pot ${tokens(e.pot)} · ${at}`);
  } else if (n.name === "Drawn") {
    feed(`Round ${e.round}: ticket #${e.ticket} of ${e.tickets} won, ${you(e.winner)} gets ${tokens(e.prize)} ${sym()} · ${at}`, "win");
  } else if (n.name === "Refunded") {
    feed(`Round ${e.round}: a single player, ${you(e.player)} refunded ${tokens(e.amount)} ${sym()} · ${at}`);
  } else if (n.name === "RoundOpened") {
    feed(`Round ${e.round} opened, selling until block ${e.close} · ${at}`);
  }
  refresh();
}

let refreshing = null;
function refresh() {
  // Coalesce bursts of events into one reload.
  if (!refreshing) {
    refreshing = Promise.all([loadRound(), loadHistory()])
      .catch((e) => msg(`Cannot read the lottery: ${e.message}`, "bad"))
      .finally(() => (refreshing = null));
  }
  return refreshing;
}

async function run(label, method, fields, value) {
  st.busy = true;
  renderRound();
  msg(`${label}: signing and sending…`);
  try {
    const sent = await st.contract.call(st.wallet.account, method, fields, { value, wait: false });
    msg(`${label}: sent ${short(sent.hash)}, waiting for a block…`);
    const r = await st.wallet.client.waitForReceipt(sent.hash, { shard: st.wallet.shard });
    if (r.status !== "success") throw new Error(r.failure ? r.failure.message : "the contract refused it");
    return r;
  } finally {
    st.busy = false;
    await refresh();
  }
}

async function enter(e) {
  e.preventDefault();
  const n = Number($("tickets").value);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) return msg("Buy between 1 and 1,000,000 tickets.", "bad");
  const cost = BigInt(st.round.price) * BigInt(n);
  try {
    const r = await run(`Buying ${n} ticket${n === 1 ? "" : "s"}`, "enter", { tickets: n }, cost);
    msg(`You hold ${st.mine.count} ticket${st.mine.count === 1 ? "" : "s"} in round ${st.round.id} (block ${r.blockHeight}).`, "good");
  } catch (err) {
    msg(`Not bought: ${err.message}`, "bad");
  }
}

async function draw() {
  try {
    const r = await run(`Drawing round ${st.round.id}`, "draw", {}, 0n);
    const s = st.contract.decodeReturn("draw", r.returnData);
    st.draws.push({ settled: s, fee: r.fee, hash: r.transactionHash });
    const o = s.outcome.Won;
    msg(
      o
        ? `Round ${s.round.id}: ticket #${o.ticket} won; ${you(o.winner)} gets ${tokens(o.prize)} ${sym()}.`
        : `Round ${s.round.id} had a single player: refunded.`,
      "good",
    );
  } catch (err) {
    msg(`Not drawn: ${err.message}`, "bad");
  }
}

async function main() {
  try {
    st.wallet = await Wallet.open();
  } catch (e) {
    msg(`Cannot start the wallet: ${e.message}`, "bad");
    return;
  }
  for (const el of document.querySelectorAll(".sym")) el.textContent = sym();
  mountWalletBar($("wallet"), st.wallet, () => refresh());
  const address = st.wallet.config.contracts.lottery;
  st.contract = address && (await st.wallet.contract(address).catch(() => null));
  if (!st.contract || !st.contract.abi) {
    msg("The Lottery contract is not deployed on this chain (start tutti dev on a new data dir without --no-examples).", "bad");
    return;
  }
  st.settings = await view("settings");
  $("fee").textContent = `${st.settings.fee_bps / 100} %`;
  // Rounds are counted in blocks of the Lottery's own shard.
  st.shard = (st.wallet.config.shards || {}).lottery || 0;
  st.head = await st.wallet.client.blockNumber(st.shard);
  st.headAt = Date.now();
  st.wallet.onHead((h) => {
    if ((h.shardId || 0) !== st.shard) return;
    const due = drawDue();
    st.head = h.height;
    st.headAt = Date.now();
    if (due !== drawDue()) renderRound();
    else tick();
  });
  st.contract.onEvent(null, onEvent);
  $("enter-form").onsubmit = enter;
  $("tickets").oninput = updateCost;
  $("draw").onclick = draw;
  setInterval(tick, 250);
  await refresh();
  msg(isOpen() ? "Buy tickets, then wait for the close." : "");
}

window.lottery = {
  state: st,
  balance: async () => (await st.wallet.balance()).toString(),
  refresh,
};

main();
