// Compiles Token.sol with solc-js into Token.json (ABI, creation and runtime bytecode, compiler
// version and settings): `npm ci --prefix bench && npm run --prefix bench compile`.
// With `--check`, compiles and fails if the checked-in Token.json differs (bench/run does that).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, "Token.sol"), "utf8");
// The settings a production deploy uses: the optimizer on, its default 200 runs.
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  outputSelection: { "*": { Token: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};
const out = JSON.parse(
  solc.compile(JSON.stringify({ language: "Solidity", sources: { "Token.sol": { content: source } }, settings })),
);
const errors = (out.errors ?? []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const token = out.contracts["Token.sol"].Token;
const result = {
  compiler: `solc-js ${solc.version()}`,
  settings: { optimizer: settings.optimizer, evmVersion: settings.evmVersion },
  abi: token.abi,
  bytecode: token.evm.bytecode.object,
  deployedBytecode: token.evm.deployedBytecode.object,
};
const text = JSON.stringify(result, null, 2) + "\n";
const path = join(here, "Token.json");
if (process.argv.includes("--check")) {
  if (readFileSync(path, "utf8") !== text) {
    console.error("Token.json is not what Token.sol compiles to: run `npm run --prefix bench compile`");
    process.exit(1);
  }
  console.log("Token.json matches Token.sol");
} else {
  writeFileSync(path, text);
  console.log(`wrote ${path}: ${result.compiler}, ${result.deployedBytecode.length / 2} bytes of runtime code`);
}
