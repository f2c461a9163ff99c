// End-to-end test of the Puzzle page in headless Chromium, against a running `tutti dev`.
//
//   node tests/browser/puzzle.mjs http://127.0.0.1:9500
//
// A new browser wallet (on a chain of several shards, one whose account lives on another shard than
// the Puzzle, so stake, moves and payout all cross shards) takes faucet funds, stakes 20 tokens,
// solves levels 1 and 2 by typing the
// solver's moves as key presses (arrows and WASD), waits for both solutions to be final, and checks
// the payout in the balance and the player on the leaderboard. Then it checks the page at a
// phone-sized viewport. Prints `TIMING` lines (key press of the solving move to "final" shown).
// Env: see harness.mjs.

import { browser, check, errors, openPage, placeWallet, shots, TOKEN, useFaucet } from "./harness.mjs";

const open = (viewport) => openPage("/puzzle/", "puzzle", viewport);

const units = async (page) => BigInt(await page.evaluate(() => window.puzzle.balance()));

let page;
try {
  page = await open({ width: 1280, height: 860 });
  await page.waitForFunction(() => document.querySelector("[data-testid=balance]")?.dataset.units !== undefined);
  const shard = await placeWallet(page, "puzzle", false);
  const puzzleShard = await page.evaluate(() => window.puzzle.state.wallet.config.shards.puzzle);
  const shards = await page.evaluate(() => window.puzzle.state.wallet.config.numShards || 1);
  check(shards < 2 || shard !== puzzleShard, `the wallet lives on shard ${shard}, the Puzzle on shard ${puzzleShard}`);
  check((await units(page)) === 0n, "a new browser wallet starts empty");

  await useFaucet(page);
  const funded = await units(page);
  check(funded === 1000n * TOKEN, "the faucet paid 1000 tokens");

  await page.fill("#stake-input", "20");
  await page.click("[data-testid=play]");
  await page.waitForFunction(() => document.querySelector("[data-testid=level]").textContent === "1", null, {
    timeout: 30_000,
  });
  const afterStake = await units(page);
  const stakeCost = funded - afterStake;
  check(stakeCost >= 20n * TOKEN && stakeCost < 20n * TOKEN + TOKEN / 1000n, "the stake of 20 tokens (plus a tiny fee) left the balance");
  if (shots) await page.screenshot({ path: `${shots}/puzzle-level1.png` });

  const arrows = ["ArrowLeft", "ArrowUp", "ArrowRight", "ArrowDown"];
  const wasd = ["a", "w", "d", "s"];
  for (const level of [1, 2]) {
    const moves = await page.evaluate(() => window.puzzle.solve());
    check(Array.isArray(moves) && moves.length > 0, `the solver has ${moves.length} moves for level ${level}`);
    for (let i = 0; i < moves.length; i++) {
      await page.keyboard.press((i % 2 ? wasd : arrows)[moves[i]]);
    }
    await page.waitForFunction((l) => document.querySelector("[data-testid=level]").textContent === String(l + 1), level);
    check(true, `level ${level} solved by key presses; level ${level + 1} is on screen`);
  }

  for (const level of [1, 2]) {
    await page.waitForSelector(`[data-testid=log] li[data-level="${level}"].final`, { timeout: 30_000 });
    check(true, `level ${level}'s solution is final on chain`);
  }
  const failed = await page.$$eval("[data-testid=log] li.bad", (l) => l.map((x) => x.textContent));
  check(failed.length === 0, `no submission was refused ${failed.join("; ")}`);

  const afterTwo = await units(page);
  const gain = afterTwo - afterStake;
  check(gain > 10n * TOKEN - TOKEN / 1000n && gain <= 10n * TOKEN, "two levels paid a quarter of the stake each (less tiny fees)");
  const shown = await page.textContent("[data-testid=balance]");
  check(shown.replace(/,/g, "").startsWith(String(afterTwo / TOKEN)), `the balance shown (${shown}) is the new balance`);

  await page.waitForFunction(
    () => [...document.querySelectorAll("[data-testid=leaderboard] tr.me td")].map((t) => t.textContent)[2] === "2",
    null,
    { timeout: 15_000 },
  );
  check(true, "the player is on the leaderboard with level 2");

  // The JavaScript client itself, as a module in the browser: a fresh client reads the player's
  // game through the Puzzle's ABI, and a subscription delivers the next block.
  const direct = await page.evaluate(async () => {
    const { Client } = await import("/shared/tutti.js");
    const client = await Client.connect(location.origin);
    const w = window.puzzle.state.wallet;
    const puzzle = await client.contract(w.config.contracts.puzzle);
    const game = await puzzle.view("game_of", { player: w.address });
    const head = await new Promise((resolve, reject) => {
      const sub = client.subscribe("newHeads", null, (h) => {
        sub.unsubscribe();
        resolve(h.height);
      }, reject);
      setTimeout(() => reject(new Error("no block in 30 s")), 30_000);
    });
    client.close();
    return { level: game.level, player: game.player, head, symbol: client.symbol };
  });
  check(direct.player === (await page.evaluate(() => window.puzzle.state.wallet.address)) && direct.level === 3,
    `the client in Chromium decodes the game (next level ${direct.level}) and hears block ${direct.head}`);
  check(direct.symbol === "TUTTI", "the token symbol comes from tutti_status");

  const timings = await page.evaluate(() => window.puzzle.state.timings);
  for (const t of timings) console.log(`TIMING level=${t.level} block=${t.block} keypress_to_final_ms=${t.ms}`);
  if (shots) await page.screenshot({ path: `${shots}/puzzle-desktop.png` });

  // A phone-sized screen: the same game, nothing wider than the screen, the pad visible.
  const phone = await open({ width: 390, height: 844 });
  await phone.waitForFunction(() => document.querySelector("[data-testid=balance]")?.dataset.units !== undefined);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `no horizontal scrolling on a 390 px screen (overflow ${overflow} px)`);
  const boardBox = await phone.locator("[data-testid=board]").boundingBox();
  check(boardBox === null || boardBox.width <= 390, "the board fits the phone's width");
  if (shots) await phone.screenshot({ path: `${shots}/puzzle-phone.png`, fullPage: true });

  check(errors.length === 0, `no page or console errors ${errors.join("; ")}`);
  console.log("PASS");
} catch (e) {
  console.error(`FAIL: ${e.message}`);
  if (page) {
    const log = await page.$$eval("[data-testid=log] li", (l) => l.map((x) => x.textContent)).catch(() => []);
    console.error(`solutions log: ${JSON.stringify(log)}`);
    console.error(`message: ${await page.textContent("[data-testid=msg]").catch(() => "?")}`);
  }
  if (errors.length) console.error(errors.join("\n"));
  process.exitCode = 1;
} finally {
  await browser.close();
}
