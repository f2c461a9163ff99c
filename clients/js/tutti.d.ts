// Type declarations of @tutti/client (tutti.js). The JSON shapes are the node's
// (node/rpc/src/types.rs; `rpc_discover` describes every method).

/** Units of the native token: a BigInt, or a decimal string. */
export type Units = bigint | string;
/** A block height, or a tag. */
export type BlockId = number | "latest" | "earliest";
/** `0x`-prefixed hex. */
export type Hex = string;
/** An address: `tt1…` (bech32m) or `0x` + 64 hex digits. */
export type AddressText = string;
/**
 * A contract value as the ABI codec gives and takes it: numbers (64-bit integers past 2^53 - 1
 * and 128-bit ones as decimal strings), strings, `0x` hex for bytes, `tt1…` addresses, arrays for
 * lists and tuples, objects for structs, `"Variant"` or `{ Variant: fields }` for enums, `null`
 * for `None`.
 */
export type AbiValue = null | boolean | number | string | AbiValue[] | { [field: string]: AbiValue };

export declare const TOKEN_DECIMALS: 18;
export declare const DEFAULT_GAS_LIMIT: number;

/** The node's JSON-RPC error codes. */
export declare const ErrorCode: Readonly<{
  INVALID_REQUEST: -32600;
  METHOD_NOT_FOUND: -32601;
  INVALID_PARAMS: -32602;
  INVALID_TRANSACTION: 1001;
  BAD_NONCE: 1002;
  INSUFFICIENT_BALANCE: 1003;
  POOL_REFUSED: 1004;
  EXECUTION_FAILED: 1005;
  NODE_ERROR: 1010;
  UNAVAILABLE: 1011;
  WRONG_SHARD: 1012;
  SHARD_CONGESTED: 1013;
  STATE_PRUNED: 1014;
}>;

/** An error answered by the node. */
export declare class RpcError extends Error {
  readonly code: number;
  /** The node's message (`message` adds the method and code). */
  readonly rpcMessage: string;
  readonly data: unknown;
  readonly method: string | undefined;
}

/** A view, call or transaction that failed in the contract. */
export declare class ExecutionError extends Error {
  /** The receipt or call result that failed. */
  readonly result: TxReceipt | CallResult;
  /** For a failed call transaction: its events, decoded. */
  events?: DecodedEvent[];
}

// --- JSON shapes -----------------------------------------------------------------------------

export interface Status {
  chainId: number;
  genesisHash: Hex;
  head: number;
  headHash: Hex;
  pending: number;
  burnt: string;
  tokenSymbol: string;
  tokenDecimals: number;
}

export interface AccountView {
  address: string;
  /** Units, as a decimal string. */
  balance: string;
  /** The next nonce. */
  nonce: number;
  codeHash: Hex | null;
  /** The height the answer was read at. */
  height: number;
}

export interface EventView {
  contract: AddressText;
  name: string;
  data: Hex;
}

export interface EventNotice extends EventView {
  height: number;
  execution: string;
}

export interface DecodedEvent extends EventView {
  /** The payload decoded through the emitting contract's ABI; null without one. */
  args: AbiValue;
}

export interface Failure {
  kind?: string;
  message: string;
  [more: string]: unknown;
}

export interface TxReceipt {
  transactionHash: Hex;
  blockHeight: number;
  blockHash: Hex;
  status: "success" | "failure" | "pending" | "sent";
  gasBurnt: number;
  fee: string;
  returnData: Hex | null;
  failure: Failure | null;
  events: EventView[];
  executions: unknown[];
  continuesOn?: number[];
}

export interface CallResult {
  status: "success" | "failure";
  returnData: Hex | null;
  failure: Failure | null;
  gasUsed: number;
  logs: string[];
  events: EventView[];
  height: number;
}

export interface ShardView {
  shardId: number;
  rpc: string;
  tracked: boolean;
  head: number | null;
  delayedReceipts: number | null;
  congested: boolean;
  committee: unknown[];
  [more: string]: unknown;
}

export interface ShardingStructure {
  numShards: number;
  thisShard: number;
  shards: ShardView[];
}

export interface Block {
  hash: Hex;
  height: number;
  parentHash: Hex;
  chainId: number;
  shardId: number;
  epoch: number;
  view: number;
  timestampMs: number;
  stateRoot: Hex;
  gasUsed: number;
  proposer: string;
  randomness: Hex;
  /** Hashes, or whole transactions with `full`. */
  transactions?: unknown[];
  [more: string]: unknown;
}

export interface EventFilter {
  contract?: AddressText;
  name?: string;
  shard?: number;
}

/** A contract's ABI (`tutti_getAbi`). */
export interface Abi {
  abiVersion: number;
  contract: string;
  sdk: string;
  methods: {
    name: string;
    kind: "init" | "call" | "view" | "callback";
    payable: boolean;
    params: { name: string; type: number }[];
    returns: number | null;
  }[];
  events: { name: string; type: number }[];
  types: unknown;
}

/** What a transaction does. Amounts are units. */
export type Action =
  | { type: "transfer"; to: AddressText; amount: Units }
  | { type: "call"; contract: AddressText; method: string; args?: Hex; value?: Units }
  | { type: "deploy"; code: Hex | Uint8Array; initMethod?: string | null; args?: Hex; value?: Units }
  | { type: "delegate" | "undelegate"; validator: Hex; amount: Units }
  | { type: "collectRewards" };

export interface SendOptions {
  gasLimit?: number;
  gasPrice?: Units;
  /** Wait until final (default true). */
  wait?: boolean;
  timeoutMs?: number;
}

export interface Subscription {
  /** Resolves with the node's subscription id once accepted; rejects with RpcError if refused. */
  ready: Promise<string>;
  unsubscribe(): Promise<void>;
}

export interface RpcOptions {
  /** A WebSocket constructor, where there is no global one (the `ws` package on Node.js 20). */
  WebSocket?: unknown;
  /** Per HTTP request (default 60,000). */
  timeoutMs?: number;
  onStatus?: (connected: boolean) => void;
}

export interface ConnectOptions extends RpcOptions {
  /** The wallet module: a URL, its bytes or a compiled module (default `<url>/shared/wallet.wasm`). */
  wasm?: string | URL | Uint8Array | ArrayBuffer | WebAssembly.Module;
  /** A wallet module already loaded. */
  core?: Core;
}

// --- classes ---------------------------------------------------------------------------------

/** The wallet module (web-wallet/src/ops.rs). */
export declare class Core {
  static load(source: string | URL | Uint8Array | ArrayBuffer | WebAssembly.Module): Promise<Core>;
  constructor(exports: WebAssembly.Exports);
  call(op: string, fields?: Record<string, unknown>): any;
}

/** One endpoint: HTTP requests and WebSocket subscriptions. */
export declare class Rpc {
  constructor(url: string | URL, options?: RpcOptions);
  readonly url: string;
  request<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  subscribe(
    kind: "newHeads" | "events" | "pendingTransactions",
    filter: EventFilter | null,
    onItem: (item: any) => void,
    onError?: (e: Error) => void,
  ): Subscription;
  close(): void;
}

/** A key pair. */
export declare class Account {
  constructor(core: Core, secret: Hex, numShards?: number);
  /** `tt1…` */
  readonly address: string;
  readonly addressHex: Hex;
  readonly publicKey: Hex;
  /** The home shard. */
  readonly shard: number;
  static random(core: Core, numShards?: number): Account;
  exportSecret(): Hex;
  sign(tx: { chainId: number; nonce: number; action: Action; gasLimit?: number; gasPrice?: Units }): {
    raw: Hex;
    hash: Hex;
  };
}

export declare class Client {
  static connect(url: string | URL, options?: ConnectOptions): Promise<Client>;
  readonly rpc: Rpc;
  readonly core: Core;
  readonly chainId: number;
  readonly symbol: string;
  readonly decimals: number;
  readonly numShards: number;
  readonly layout: ShardingStructure;

  shardOf(address: AddressText): number;
  rpcFor(shard?: number | null): Rpc;

  getChainId(): Promise<number>;
  status(): Promise<Status>;
  blockNumber(shard?: number): Promise<number>;
  getBlockByNumber(block?: BlockId, options?: { full?: boolean; shard?: number }): Promise<Block | null>;
  getBlockByHash(hash: Hex, options?: { full?: boolean }): Promise<Block | null>;
  getAccount(address: AddressText, block?: BlockId): Promise<AccountView>;
  getBalance(address: AddressText, block?: BlockId): Promise<bigint>;
  sendRawTransaction(raw: Hex, options?: { shard?: number }): Promise<Hex>;
  getTransaction(hash: Hex, options?: { shard?: number }): Promise<Record<string, unknown> | null>;
  getTransactionReceipt(hash: Hex, options?: { shard?: number }): Promise<TxReceipt | null>;
  callRaw(contract: AddressText, method: string, args?: Hex, gas?: number): Promise<CallResult>;
  estimateGas(from: AddressText, contract: AddressText, method: string, args?: Hex, value?: Units): Promise<number>;
  getCode(address: AddressText, block?: BlockId): Promise<Hex | null>;
  getAbi(address: AddressText, block?: BlockId): Promise<Abi | null>;
  getStorageAt(address: AddressText, key: Hex, block?: BlockId): Promise<Hex | null>;
  getProof(address: AddressText, key?: Hex | null, block?: BlockId): Promise<Record<string, unknown>>;
  getShardingStructure(): Promise<ShardingStructure>;
  getCommittee(shard?: number, epoch?: number): Promise<Record<string, unknown>>;
  getValidators(): Promise<Record<string, unknown>>;
  getDelegations(address: AddressText): Promise<Record<string, unknown>[]>;
  discover(): Promise<Record<string, unknown>>;
  devFaucet(address: AddressText): Promise<Hex>;
  subscribe(kind: "newHeads", filter: EventFilter | null, onItem: (block: Block) => void, onError?: (e: Error) => void): Subscription;
  subscribe(kind: "events", filter: EventFilter | null, onItem: (event: EventNotice) => void, onError?: (e: Error) => void): Subscription;
  subscribe(kind: "pendingTransactions", filter: EventFilter | null, onItem: (hash: Hex) => void, onError?: (e: Error) => void): Subscription;

  account(secret: Hex): Account;
  randomAccount(): Account;
  nonceOf(address: AddressText): Promise<number>;
  send(account: Account, action: Action, options?: SendOptions): Promise<{ hash: Hex; receipt: TxReceipt | null }>;
  waitForReceipt(hash: Hex, options?: { shard?: number; timeoutMs?: number; pollMs?: number }): Promise<TxReceipt>;
  transfer(account: Account, to: AddressText, amount: Units, options?: SendOptions): Promise<{ hash: Hex; receipt: TxReceipt | null }>;
  deploy(
    account: Account,
    code: Hex | Uint8Array,
    options?: SendOptions & { init?: string; args?: Record<string, AbiValue> | Hex; value?: Units },
  ): Promise<{ address: string; hash: Hex; receipt: TxReceipt | null; contract: Contract | null }>;
  contract(address: AddressText): Promise<Contract>;
  abiOf(address: AddressText): Promise<Abi | null | undefined>;
  decodeEvents(events: EventView[]): Promise<DecodedEvent[]>;
  /** Units as `1,000.5 TUTTI`. */
  format(units: Units, digits?: number): string;
  close(): void;
}

export declare class Contract {
  readonly client: Client;
  readonly address: string;
  readonly abi: Abi | null;
  readonly shard: number;
  method(name: string): Abi["methods"][number];
  encode(method: string, args?: Record<string, AbiValue> | Hex): Hex;
  decodeReturn(method: string, data: Hex | null): AbiValue;
  decodeEvent(name: string, data: Hex): AbiValue;
  describe(): string;
  view<T = any>(method: string, args?: Record<string, AbiValue> | Hex, options?: { gas?: number }): Promise<T>;
  call<T = any>(
    account: Account,
    method: string,
    args?: Record<string, AbiValue> | Hex,
    options?: SendOptions & { value?: Units },
  ): Promise<{ hash: Hex; receipt: TxReceipt | null; returned: T | undefined; events: DecodedEvent[] }>;
  onEvent(
    name: string | null,
    onEvent: (event: EventNotice & { args: any }) => void,
    onError?: (e: Error) => void,
  ): Subscription;
}

export declare function formatTokens(units: Units | number, decimals?: number, digits?: number): string;
export declare function parseTokens(text: string, decimals?: number): bigint;
export declare function short(text: string): string;
export declare function toHex(bytes: Uint8Array | number[]): Hex;
export declare function fromHex(hex: Hex): Uint8Array;
