// What the browser end-to-end scripts share: Debian's Chromium launched headless through
// playwright-core, a `check` that prints `ok - …` or throws, and pages that record their errors.
// Env: CHROMIUM (default /usr/bin/chromium), SCREENSHOTS (a directory to save screenshots in).

import { chromium } from "playwright-core";
import { existsSync, mkdirSync } from "node:fs";

export const base = process.argv[2] || "http://127.0.0.1:9500";
export const shots = process.env.SCREENSHOTS;
export const TOKEN = 10n ** 18n;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

if (!existsSync(executablePath)) {
  console.error(`Chromium not found at ${executablePath}: install Debian's chromium package or set CHROMIUM`);
  process.exit(2);
}
if (shots) mkdirSync(shots, { recursive: true });

/** Prints `ok - what`, or throws when `cond` is false. */
export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

/** Page and console errors of every page opened with `openPage`. */
export const errors = [];

export const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

/** Opens `path` in a new browser context (its own storage, so its own wallet key). */
export async function openPage(path, name, viewport = { width: 1280, height: 860 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${name}: page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`${name}: console error: ${m.text()}`);
  });
  await page.goto(`${base}${path}`);
  page.name = name;
  return page;
}

/** Presses the wallet bar's faucet button and waits for the balance to show the tokens. */
export async function useFaucet(page) {
  await page.click("[data-testid=faucet]");
  await page.waitForFunction(() => BigInt(document.querySelector("[data-testid=balance]").dataset.units || 0) > 0n, null, {
    timeout: 30_000,
  });
}

/**
 * Gives the page's wallet (`window[app].state.wallet`) a new key whose account lives on the same
 * shard as the app's contract (`same`) or on another one, and waits until the wallet bar shows it.
 * Returns the wallet's shard. On a one-shard chain every key is on the contract's shard.
 */
export async function placeWallet(page, app, same) {
  const shard = await page.evaluate(
    ([app, same]) => {
      const w = window[app].state.wallet;
      const target = (w.config.shards || {})[app] || 0;
      if ((w.config.numShards || 1) < 2) return w.shard;
      for (let i = 0; i < 256 && (w.shard === target) !== same; i++) w.newKey();
      if ((w.shard === target) !== same) throw new Error("no key found on the wanted shard");
      return w.shard;
    },
    [app, same],
  );
  await page.waitForFunction(
    (s) => document.querySelector("[data-testid=wallet-shard]")?.dataset.shard === String(s),
    shard,
    { timeout: 15_000 },
  );
  return shard;
}
