// End-to-end test of the Lottery page in headless Chromium, against a running `tutti dev` whose
// rounds are short (`--lottery-round-secs 20`).
//
//   node tests/browser/lottery.mjs http://127.0.0.1:9500
//
// Two browser wallets (two browser contexts, so two keys) take faucet funds and buy 3 and 2
// tickets; each page sees the other's entry live. On a chain of several shards Alice's account
// lives on the Lottery's shard and Bob's on another, so Bob's entries (and any prize) cross shards. After the close the draw button appears; the
// first wallet draws. The winner's balance rises by the pot less the 5 % house fee (less the draw's
// gas fee if the winner drew), the loser's does not, both pages list the winner, and round 2 opens.
// Then the page is checked at a phone-sized viewport.
// Env: see harness.mjs.

import { browser, check, errors, openPage, placeWallet, shots, TOKEN, useFaucet } from "./harness.mjs";

const PRICE = 10n * TOKEN;

async function open(name, viewport = { width: 1280, height: 900 }) {
  const page = await openPage("/lottery/", name, viewport);
  await page.waitForFunction(() => document.querySelector("[data-testid=balance]")?.dataset.units !== undefined);
  await page.waitForFunction(() => document.querySelector("[data-testid=round-id]").textContent !== "–");
  return page;
}

const units = async (page) => BigInt(await page.evaluate(() => window.lottery.balance()));
const address = (page) => page.evaluate(() => window.lottery.state.wallet.address);
const text = (page, id) => page.textContent(`[data-testid=${id}]`);

async function buy(page, tickets) {
  await page.fill("#tickets", String(tickets));
  await page.click("[data-testid=enter]");
  await page.waitForFunction(
    (n) => document.querySelector("[data-testid=my-tickets]").textContent === String(n),
    tickets,
    { timeout: 30_000 },
  );
}

let pages = [];
try {
  const alice = await open("alice");
  const bob = await open("bob");
  pages = [alice, bob];
  check((await units(alice)) === 0n && (await units(bob)) === 0n, "two new browser wallets start empty");
  const lotteryShard = await alice.evaluate(() => window.lottery.state.wallet.config.shards.lottery);
  const [aliceShard, bobShard] = [await placeWallet(alice, "lottery", true), await placeWallet(bob, "lottery", false)];
  check(aliceShard === lotteryShard, `alice's account lives on the Lottery's shard ${lotteryShard}`);
  const shards = await alice.evaluate(() => window.lottery.state.wallet.config.numShards || 1);
  check(shards < 2 || bobShard !== lotteryShard, `bob's account lives on shard ${bobShard}, so his entries cross shards`);
  check((await address(alice)) !== (await address(bob)), "the two browsers hold different keys");
  check((await text(alice, "round-id")) === "1", "round 1 is open");
  await Promise.all([useFaucet(alice), useFaucet(bob)]);
  check((await units(alice)) === 1000n * TOKEN && (await units(bob)) === 1000n * TOKEN, "the faucet paid each 1000 tokens");

  const bobBefore = await units(bob);
  await buy(alice, 3);
  check(true, "alice bought 3 tickets");
  // Bob's page learns of Alice's entry from the events subscription, without a reload.
  await bob.waitForFunction(() => document.querySelector("[data-testid=sold]").textContent === "3", null, {
    timeout: 15_000,
  });
  check(true, "bob's page shows alice's 3 tickets live");
  await buy(bob, 2);
  const bobSpent = bobBefore - (await units(bob));
  check(bobSpent >= 2n * PRICE && bobSpent < 2n * PRICE + TOKEN / 100n, "2 tickets cost bob 20 tokens (plus a tiny fee)");
  await alice.waitForFunction(() => document.querySelector("[data-testid=sold]").textContent === "5", null, {
    timeout: 15_000,
  });
  const pot = (await text(alice, "pot")).replace(/,/g, "");
  check(pot === "50", `the pot shows 50 tokens (${pot})`);
  const feed = await alice.$$eval("[data-testid=feed] li", (l) => l.map((x) => x.textContent));
  check(feed.some((t) => t.includes("bought 2 tickets")), "alice's live feed lists bob's entry");
  if (shots) await alice.screenshot({ path: `${shots}/lottery-selling.png` });

  // Wait for the close: the draw button appears by itself when blocks pass the closing height.
  await alice.waitForSelector("[data-testid=draw]:not([hidden])", { timeout: 60_000 });
  check(true, "the draw button appears after the close");
  const aliceAddr = await address(alice);
  const bobAddr = await address(bob);
  const before = { [aliceAddr]: await units(alice), [bobAddr]: await units(bob) };
  await alice.click("[data-testid=draw]");
  await alice.waitForFunction(() => window.lottery.state.draws.length === 1, null, { timeout: 30_000 });
  const { settled, fee: drawFee } = await alice.evaluate(() => window.lottery.state.draws[0]);
  // The page decodes the draw's result through the contract's ABI: `Outcome::Won { .. }`.
  const won = settled.outcome.Won;
  check(won !== undefined, "two players: the round has a winner");
  const prize = BigInt(won.prize);
  const houseFee = BigInt(won.fee);
  check(prize + houseFee === 5n * PRICE && houseFee === (5n * PRICE) / 20n, "prize = pot less the 5 % house fee");
  const winner = won.winner;
  check(winner === aliceAddr || winner === bobAddr, `the winner is one of the players (ticket #${won.ticket})`);
  const after = { [aliceAddr]: await units(alice), [bobAddr]: await units(bob) };
  const loser = winner === aliceAddr ? bobAddr : aliceAddr;
  const drawCost = (who) => (who === aliceAddr ? BigInt(drawFee) : 0n);
  check(after[winner] - before[winner] === prize - drawCost(winner), "the winner's balance rose by the pot less the fee");
  check(before[loser] - after[loser] === drawCost(loser), "the loser's balance did not rise");

  for (const p of pages) {
    await p.waitForFunction(() => document.querySelector("[data-testid=round-id]").textContent === "2", null, {
      timeout: 15_000,
    });
    await p.waitForFunction(
      () => document.querySelectorAll("[data-testid=history] tr").length === 1 &&
        document.querySelector("[data-testid=history] tr td")?.textContent === "1",
      null,
      { timeout: 15_000 },
    );
  }
  check(true, "both pages show round 2 open and round 1 in the past rounds");
  const mine = winner === aliceAddr ? alice : bob;
  const row = await mine.textContent("[data-testid=history] tr");
  check(row.includes("(you)"), `the winner's page marks the win as theirs (${row})`);
  if (shots) await alice.screenshot({ path: `${shots}/lottery-drawn.png` });

  const phone = await open("phone", { width: 390, height: 844 });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `no horizontal scrolling on a 390 px screen (overflow ${overflow} px)`);
  if (shots) await phone.screenshot({ path: `${shots}/lottery-phone.png`, fullPage: true });

  check(errors.length === 0, `no page or console errors ${errors.join("; ")}`);
  console.log("PASS");
} catch (e) {
  console.error(`FAIL: ${e.message}`);
  for (const p of pages) {
    console.error(`${p.name} message: ${await p.textContent("[data-testid=msg]").catch(() => "?")}`);
    console.error(`${p.name} status: ${await p.textContent("[data-testid=status]").catch(() => "?")}`);
  }
  if (errors.length) console.error(errors.join("\n"));
  process.exitCode = 1;
} finally {
  await browser.close();
}
