// Compiled by `npm run typecheck` (tsc --strict, no output): the README's usage against the type
// declarations, through the package's own `exports` (so a wrong path there fails too).

import {
  Client,
  Contract,
  ErrorCode,
  ExecutionError,
  RpcError,
  formatTokens,
  parseTokens,
  type AbiValue,
  type Block,
  type EventNotice,
  type TxReceipt,
} from "@tutti/client";

export async function example(url: string, secret: string, tokenCode: Uint8Array): Promise<string> {
  const client: Client = await Client.connect(url);
  const alice = client.account(secret);
  const bob = client.randomAccount();
  const balance: bigint = await client.getBalance(alice.address);
  const { receipt } = await client.transfer(alice, bob.address, parseTokens("1.5"));
  const status: TxReceipt["status"] | undefined = receipt?.status;

  const { contract } = await client.deploy(alice, tokenCode, {
    init: "init",
    args: { name: "Gold", symbol: "GLD", decimals: 18, supply: "1000000" },
  });
  const token: Contract = contract ?? (await client.contract(alice.address));
  const held: string = await token.view<string>("balance_of", { owner: alice.address });
  const sent = await token.call(alice, "transfer", { to: bob.address, amount: "5000" });
  const firstArgs: AbiValue = sent.events[0]?.args ?? null;

  const heads = client.subscribe("newHeads", { shard: 0 }, (b: Block) => console.log(b.height));
  await heads.ready;
  await heads.unsubscribe();
  const transfers = token.onEvent("Transfer", (e: EventNotice & { args: any }) => console.log(e.args.amount));
  await transfers.unsubscribe();

  try {
    await client.sendRawTransaction("0x00");
  } catch (e) {
    if (e instanceof RpcError && e.code === ErrorCode.INVALID_TRANSACTION) console.log(e.rpcMessage);
    if (e instanceof ExecutionError) console.log(e.result.status);
  }
  client.close();
  return `${formatTokens(balance)} ${client.symbol} ${status} ${held} ${JSON.stringify(firstArgs)}`;
}
