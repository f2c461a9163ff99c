//! The host API that contracts import from module `tutti_v1`, and the per-call host state.
//!
//! Conventions: pointers and lengths are `i32` (read as `u32`); addresses are 32 bytes and amounts
//! 16 bytes little-endian at a guest pointer. Variable-size results (input, storage values,
//! promise results) are placed in a host-side *register*; the function returns the length and
//! the guest copies it out with `register_read`. Every function charges its price from the gas
//! schedule before doing any work. Every guest pointer is bounds-checked: a bad one is a clean
//! trap, never a host panic.

use std::{collections::BTreeMap, sync::Arc};

use parity_scale_codec::Encode;
use tutti_primitives::{Address, Amount, DataReceiver, Event, Gas, Hash, RANDOMNESS_WINDOW, Receipt};
use wasmparser::ValType;
use wasmtime::{Caller, Linker, Memory};

use crate::{
    gas::{GasSchedule, HostCost},
    outcome::{CallContext, StateView},
};

/// Size caps on what a contract hands the host.
pub mod caps {
    /// Largest storage key.
    pub const MAX_KEY: usize = 4 * 1024;
    /// Largest storage value.
    pub const MAX_VALUE: usize = 256 * 1024;
    /// Largest event name.
    pub const MAX_EVENT_NAME: usize = 128;
    /// Largest event payload.
    pub const MAX_EVENT_DATA: usize = 16 * 1024;
    /// Most events per call.
    pub const MAX_EVENTS: usize = 256;
    /// Largest log line.
    pub const MAX_LOG: usize = 4 * 1024;
    /// Most log lines per call.
    pub const MAX_LOGS: usize = 256;
    /// Largest return value.
    pub const MAX_RETURN: usize = 256 * 1024;
    /// Largest method name in a promise.
    pub const MAX_METHOD: usize = 256;
    /// Largest promise argument blob.
    pub const MAX_ARGS: usize = 256 * 1024;
    /// Most promises and transfers per call.
    pub const MAX_PROMISES: usize = 64;
    /// Most promise handles (promises and joins) one call may hold.
    pub const MAX_PROMISE_HANDLES: usize = 4 * MAX_PROMISES;
    /// Largest panic message kept (and largest failure message a callback receives).
    pub const MAX_PANIC: usize = 4 * 1024;
    /// Most bytes the receipts made from one call's promises and transfers may take: 1 MiB,
    /// counted as each one's method and arguments plus [`RECEIPT_BYTES`], and
    /// [`CALLBACK_INPUT_BYTES`] for each result a callback waits for. Beyond it the call traps.
    /// With [`MAX_RESULT_FANOUT_BYTES`] it bounds what one execution sends a shard
    /// (`crate::schedule::MAX_RECEIPT_BYTES_PER_APPLICATION`).
    pub const MAX_OUTGOING_BYTES: usize = 1024 * 1024;
    /// Most bytes a call's result may take in the data receipts to the callbacks waiting for it
    /// (one copy each, [`RECEIPT_BYTES`] added per copy): two copies of the largest result. A successful call over it
    /// fails instead (its effects are dropped) and the callbacks get that failure; a failure
    /// always fits (messages are cut to [`MAX_PANIC`], and a call has fewer than
    /// [`MAX_PROMISES`] callbacks).
    pub const MAX_RESULT_FANOUT_BYTES: usize = 2 * (MAX_RETURN + RECEIPT_BYTES);
    /// What a receipt's encoding takes beyond its method, arguments, callback inputs and result
    /// (ids, addresses, numbers and length prefixes: 205 bytes; rounded up).
    pub const RECEIPT_BYTES: usize = 256;
    /// What one callback input takes in receipts: its data id in the callback's receipt and a
    /// data receiver (id and address) in the awaited one's.
    pub const CALLBACK_INPUT_BYTES: usize = 32 + 64;
    /// Largest message for blake3 / ed25519.
    pub const MAX_HASH_INPUT: usize = 1024 * 1024;
}

/// Why a host function stopped the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Abort {
    #[error("out of gas")]
    OutOfGas,
    #[error("{0}")]
    Panic(String),
    #[error("host function given an out-of-bounds pointer or length")]
    BadPointer,
    #[error("{0}")]
    Host(String),
    #[error("{0}")]
    Balance(String),
    #[error("linear memory or table grew past the limit of {0} bytes")]
    MemoryLimit(usize),
}

/// A call receipt being built by the running contract.
#[derive(Debug, Clone)]
pub(crate) struct PendingCall {
    pub receiver: Address,
    pub method: String,
    pub args: Vec<u8>,
    pub value: Amount,
    pub gas: Gas,
    pub weight: Gas,
    pub input_data_ids: Vec<Hash>,
    pub output_data_receivers: Vec<DataReceiver>,
}

#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Call(PendingCall),
    Transfer { to: Address, amount: Amount },
}

/// State of one call, owned by the wasmtime store.
pub(crate) struct HostState {
    pub ctx: CallContext,
    pub state: Arc<dyn StateView>,
    pub schedule: Arc<GasSchedule>,
    pub memory: Option<Memory>,
    pub register: Vec<u8>,
    pub overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub events: Vec<Event>,
    pub logs: Vec<String>,
    pub return_data: Vec<u8>,
    pub balance: Amount,
    pub pending: Vec<Pending>,
    /// Promise index space: each entry lists indices into `pending` (one for a call, several for a join).
    pub promises: Vec<Vec<usize>>,
    pub gas_attached: Gas,
    /// Bytes the receipts of `pending` take, as [`caps::MAX_OUTGOING_BYTES`] counts them.
    pub outgoing_bytes: usize,
    pub data_ids: u32,
    pub max_memory_bytes: usize,
    pub max_table_elements: usize,
}

impl wasmtime::ResourceLimiter for HostState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            return Err(wasmtime::Error::new(Abort::MemoryLimit(self.max_memory_bytes)));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_table_elements {
            return Err(wasmtime::Error::new(Abort::MemoryLimit(self.max_table_elements)));
        }
        Ok(true)
    }
}

/// A host function's name and wasm signature, for validation.
pub struct HostFn {
    /// Import name in module `tutti_v1`.
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [ValType],
    /// Result types.
    pub results: &'static [ValType],
}

const I: ValType = ValType::I32;
const L: ValType = ValType::I64;

const fn hf(name: &'static str, params: &'static [ValType], results: &'static [ValType]) -> HostFn {
    HostFn { name, params, results }
}

/// Every function of the `tutti_v1` host module. A test checks that the linker defines exactly these.
pub const HOST_FUNCTIONS: &[HostFn] = &[
    hf("input", &[], &[I]),
    hf("register_len", &[], &[I]),
    hf("register_read", &[I], &[]),
    hf("storage_read", &[I, I], &[L]),
    hf("storage_write", &[I, I, I, I], &[I]),
    hf("storage_remove", &[I, I], &[I]),
    hf("storage_has", &[I, I], &[I]),
    hf("caller", &[I], &[]),
    hf("signer", &[I], &[]),
    hf("self_address", &[I], &[]),
    hf("attached_value", &[I], &[]),
    hf("balance", &[I], &[]),
    hf("block_height", &[], &[L]),
    hf("block_timestamp", &[], &[L]),
    hf("randomness", &[I], &[]),
    hf("randomness_at", &[L, I], &[I]),
    hf("shard_id", &[], &[I]),
    hf("gas_left", &[], &[L]),
    hf("emit_event", &[I, I, I, I], &[]),
    hf("log", &[I, I], &[]),
    hf("transfer", &[I, I], &[]),
    hf("blake3", &[I, I, I], &[]),
    hf("ed25519_verify", &[I, I, I, I], &[I]),
    hf("promise_create", &[I, I, I, I, I, I, L, L], &[I]),
    hf("promise_then", &[I, I, I, I, I, I, L, L], &[I]),
    hf("promise_and", &[I, I], &[I]),
    hf("promise_results_count", &[], &[I]),
    hf("promise_result", &[I], &[L]),
    hf("value_return", &[I, I], &[]),
    hf("panic", &[I, I], &[]),
];

type C<'a> = Caller<'a, HostState>;
type R<T> = wasmtime::Result<T>;

fn abort<T>(a: Abort) -> R<T> {
    Err(wasmtime::Error::new(a))
}

/// Charges `gas` from the remaining fuel, or stops the call with out-of-gas (leaving zero).
fn charge(c: &mut C<'_>, gas: Gas) -> R<()> {
    let left = c.get_fuel()?;
    if left < gas {
        c.set_fuel(0)?;
        return abort(Abort::OutOfGas);
    }
    c.set_fuel(left - gas)?;
    Ok(())
}

fn price(c: &C<'_>, f: impl Fn(&GasSchedule) -> HostCost, bytes: usize) -> Gas {
    f(&c.data().schedule).of(bytes)
}

fn mem_and_state<'a>(c: &'a mut C<'_>) -> R<(&'a mut [u8], &'a mut HostState)> {
    match c.data().memory {
        Some(m) => Ok(m.data_and_store_mut(c)),
        None => abort(Abort::Host("contract memory is not available".into())),
    }
}

fn range(len_mem: usize, ptr: i32, len: i32) -> R<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start
        .checked_add(len as u32 as usize)
        .ok_or_else(|| wasmtime::Error::new(Abort::BadPointer))?;
    if end > len_mem {
        return abort(Abort::BadPointer);
    }
    Ok(start..end)
}

/// Copies `len` guest bytes at `ptr` out, after checking `len <= cap` (so a hostile length never
/// allocates past the cap).
fn read_vec(c: &mut C<'_>, ptr: i32, len: i32, cap: usize, what: &str) -> R<Vec<u8>> {
    if len as u32 as usize > cap {
        return abort(Abort::Host(format!(
            "{what} is {} bytes, over the limit of {cap}",
            len as u32
        )));
    }
    let (mem, _) = mem_and_state(c)?;
    let r = range(mem.len(), ptr, len)?;
    Ok(mem[r].to_vec())
}

fn read_array<const N: usize>(c: &mut C<'_>, ptr: i32) -> R<[u8; N]> {
    let (mem, _) = mem_and_state(c)?;
    let r = range(mem.len(), ptr, N as i32)?;
    let mut out = [0u8; N];
    out.copy_from_slice(&mem[r]);
    Ok(out)
}

fn write_bytes(c: &mut C<'_>, ptr: i32, bytes: &[u8]) -> R<()> {
    let (mem, _) = mem_and_state(c)?;
    let r = range(mem.len(), ptr, bytes.len() as i32)?;
    mem[r].copy_from_slice(bytes);
    Ok(())
}

fn read_amount(c: &mut C<'_>, ptr: i32) -> R<Amount> {
    Ok(u128::from_le_bytes(read_array::<16>(c, ptr)?))
}

fn utf8(bytes: Vec<u8>, what: &str) -> R<String> {
    String::from_utf8(bytes).or_else(|_| abort(Abort::Host(format!("{what} is not valid UTF-8"))))
}

fn deny_in_view(c: &C<'_>, what: &str) -> R<()> {
    if c.data().ctx.read_only {
        return abort(Abort::Host(format!("{what} is not allowed in a read-only (view) call")));
    }
    Ok(())
}

fn set_register(c: &mut C<'_>, bytes: Vec<u8>) -> i32 {
    let n = bytes.len() as i32;
    c.data_mut().register = bytes;
    n
}

fn storage_value(st: &HostState, key: &[u8]) -> Option<Vec<u8>> {
    match st.overlay.get(key) {
        Some(v) => v.clone(),
        None => st.state.storage_get(&st.ctx.contract, key),
    }
}

fn spend(c: &mut C<'_>, amount: Amount, what: &str) -> R<()> {
    let st = c.data_mut();
    match st.balance.checked_sub(amount) {
        Some(b) => {
            st.balance = b;
            Ok(())
        }
        None => abort(Abort::Balance(format!(
            "{what} of {amount} exceeds the contract balance of {}",
            st.balance
        ))),
    }
}

fn check_promise_room(c: &C<'_>) -> R<()> {
    if c.data().pending.len() >= caps::MAX_PROMISES {
        return abort(Abort::Host(format!(
            "more than {} promises and transfers in one call",
            caps::MAX_PROMISES
        )));
    }
    Ok(())
}

/// Counts `n` more bytes of receipts the call makes; traps past [`caps::MAX_OUTGOING_BYTES`].
fn count_outgoing(c: &mut C<'_>, n: usize) -> R<()> {
    let total = c.data().outgoing_bytes.saturating_add(n);
    if total > caps::MAX_OUTGOING_BYTES {
        return abort(Abort::Host(format!(
            "the call's promises and transfers would take {total} bytes of receipts, more than {}",
            caps::MAX_OUTGOING_BYTES
        )));
    }
    c.data_mut().outgoing_bytes = total;
    Ok(())
}

/// Reserves the static gas of a new promise.
fn attach_gas(c: &mut C<'_>, gas: i64) -> R<Gas> {
    let gas = gas as u64;
    charge(c, gas)?;
    c.data_mut().gas_attached = c.data().gas_attached.saturating_add(gas);
    Ok(gas)
}

#[allow(clippy::too_many_arguments)]
fn new_call(
    c: &mut C<'_>,
    receiver: Address,
    mptr: i32,
    mlen: i32,
    aptr: i32,
    alen: i32,
    vptr: i32,
    gas: i64,
    weight: i64,
) -> R<PendingCall> {
    deny_in_view(c, "creating a promise")?;
    check_promise_room(c)?;
    let p = price(
        c,
        |s| s.promise_create,
        (mlen as u32 as usize).saturating_add(alen as u32 as usize),
    );
    charge(c, p)?;
    let method = utf8(read_vec(c, mptr, mlen, caps::MAX_METHOD, "method name")?, "method name")?;
    let args = read_vec(c, aptr, alen, caps::MAX_ARGS, "promise arguments")?;
    count_outgoing(c, method.len() + args.len() + caps::RECEIPT_BYTES)?;
    let value = read_amount(c, vptr)?;
    spend(c, value, "attached value")?;
    let gas = attach_gas(c, gas)?;
    Ok(PendingCall {
        receiver,
        method,
        args,
        value,
        gas,
        weight: weight as u64,
        input_data_ids: Vec::new(),
        output_data_receivers: Vec::new(),
    })
}

fn push_call(c: &mut C<'_>, call: PendingCall) -> i32 {
    let st = c.data_mut();
    st.pending.push(Pending::Call(call));
    st.promises.push(vec![st.pending.len() - 1]);
    (st.promises.len() - 1) as i32
}

/// Registers every host function in `linker`.
pub(crate) fn define(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    const M: &str = "tutti_v1";

    // Called by the instrumentation before every `memory.grow` (not part of the host API).
    // It charges a host call, plus the pages the memory can still take (under the runtime's
    // limit) of those asked for; a request past the limit then fails in `memory.grow` as
    // `MemoryLimit`. (A module's own lower maximum is not consulted: a grow past it is charged
    // and returns -1.)
    linker.func_wrap(
        M,
        crate::instrument::GROW_IMPORT,
        |mut c: C<'_>, pages: i32| -> R<i32> {
            let size = c.data().memory.map_or(0, |m| m.data_size(&c));
            let room = (c.data().max_memory_bytes.saturating_sub(size) / 65536) as u64;
            let schedule = &c.data().schedule;
            let p = schedule
                .context
                .base
                .saturating_add(schedule.memory_page.saturating_mul(u64::from(pages as u32).min(room)));
            charge(&mut c, p)?;
            Ok(pages)
        },
    )?;
    linker.func_wrap(M, "input", |mut c: C<'_>| -> R<i32> {
        let p = price(&c, |s| s.read_input, c.data().ctx.args.len());
        charge(&mut c, p)?;
        let args = c.data().ctx.args.clone();
        Ok(set_register(&mut c, args))
    })?;
    linker.func_wrap(M, "register_len", |mut c: C<'_>| -> R<i32> {
        let p = price(&c, |s| s.context, 0);
        charge(&mut c, p)?;
        Ok(c.data().register.len() as i32)
    })?;
    linker.func_wrap(M, "register_read", |mut c: C<'_>, ptr: i32| -> R<()> {
        let p = price(&c, |s| s.read_register, c.data().register.len());
        charge(&mut c, p)?;
        let (mem, st) = mem_and_state(&mut c)?;
        let r = range(mem.len(), ptr, st.register.len() as i32)?;
        mem[r].copy_from_slice(&st.register);
        Ok(())
    })?;
    linker.func_wrap(M, "storage_read", |mut c: C<'_>, kptr: i32, klen: i32| -> R<i64> {
        let p = price(&c, |s| s.storage_read, klen as u32 as usize);
        charge(&mut c, p)?;
        let key = read_vec(&mut c, kptr, klen, caps::MAX_KEY, "storage key")?;
        match storage_value(c.data(), &key) {
            Some(v) => {
                let p = price(
                    &c,
                    |s| HostCost {
                        base: 0,
                        per_byte: s.storage_read.per_byte,
                    },
                    v.len(),
                );
                charge(&mut c, p)?;
                Ok(i64::from(set_register(&mut c, v)))
            }
            None => Ok(-1),
        }
    })?;
    linker.func_wrap(
        M,
        "storage_write",
        |mut c: C<'_>, kptr: i32, klen: i32, vptr: i32, vlen: i32| -> R<i32> {
            deny_in_view(&c, "writing storage")?;
            let p = price(
                &c,
                |s| s.storage_write,
                (klen as u32 as usize).saturating_add(vlen as u32 as usize),
            );
            charge(&mut c, p)?;
            let key = read_vec(&mut c, kptr, klen, caps::MAX_KEY, "storage key")?;
            let value = read_vec(&mut c, vptr, vlen, caps::MAX_VALUE, "storage value")?;
            let existed = storage_value(c.data(), &key).is_some();
            c.data_mut().overlay.insert(key, Some(value));
            Ok(i32::from(existed))
        },
    )?;
    linker.func_wrap(M, "storage_remove", |mut c: C<'_>, kptr: i32, klen: i32| -> R<i32> {
        deny_in_view(&c, "removing storage")?;
        let p = price(&c, |s| s.storage_remove, klen as u32 as usize);
        charge(&mut c, p)?;
        let key = read_vec(&mut c, kptr, klen, caps::MAX_KEY, "storage key")?;
        let existed = storage_value(c.data(), &key).is_some();
        c.data_mut().overlay.insert(key, None);
        Ok(i32::from(existed))
    })?;
    linker.func_wrap(M, "storage_has", |mut c: C<'_>, kptr: i32, klen: i32| -> R<i32> {
        let p = price(&c, |s| s.storage_has, klen as u32 as usize);
        charge(&mut c, p)?;
        let key = read_vec(&mut c, kptr, klen, caps::MAX_KEY, "storage key")?;
        Ok(i32::from(storage_value(c.data(), &key).is_some()))
    })?;

    fn getter<const N: usize>(
        linker: &mut Linker<HostState>,
        name: &str,
        f: fn(&HostState) -> [u8; N],
    ) -> wasmtime::Result<()> {
        linker.func_wrap("tutti_v1", name, move |mut c: C<'_>, ptr: i32| -> R<()> {
            let p = price(&c, |s| s.context_write, 0);
            charge(&mut c, p)?;
            let bytes = f(c.data());
            write_bytes(&mut c, ptr, &bytes)
        })?;
        Ok(())
    }
    getter(linker, "caller", |s| s.ctx.predecessor.0)?;
    getter(linker, "signer", |s| s.ctx.signer.0)?;
    getter(linker, "self_address", |s| s.ctx.contract.0)?;
    getter(linker, "attached_value", |s| s.ctx.value.to_le_bytes())?;
    getter(linker, "balance", |s| s.balance.to_le_bytes())?;
    getter(linker, "randomness", |s| s.ctx.block.randomness.0)?;

    // The randomness of a recent block: the current one, or one of the RANDOMNESS_WINDOW - 1
    // before it (read from the shard's state). Returns 1 and writes 32 bytes, or 0 when the
    // height is in the future, is the genesis, or has left the window.
    linker.func_wrap(M, "randomness_at", |mut c: C<'_>, height: i64, out: i32| -> R<i32> {
        let p = price(&c, |s| s.storage_read, 48);
        charge(&mut c, p)?;
        let height = height as u64;
        let block = &c.data().ctx.block;
        let found = if height == block.height {
            Some(block.randomness)
        } else if height == 0 || height > block.height || block.height - height >= RANDOMNESS_WINDOW {
            None
        } else {
            c.data().state.randomness_at(height)
        };
        match found {
            Some(r) => {
                write_bytes(&mut c, out, &r.0)?;
                Ok(1)
            }
            None => Ok(0),
        }
    })?;
    linker.func_wrap(M, "block_height", |mut c: C<'_>| -> R<i64> {
        let p = price(&c, |s| s.context, 0);
        charge(&mut c, p)?;
        Ok(c.data().ctx.block.height as i64)
    })?;
    linker.func_wrap(M, "block_timestamp", |mut c: C<'_>| -> R<i64> {
        let p = price(&c, |s| s.context, 0);
        charge(&mut c, p)?;
        Ok(c.data().ctx.block.timestamp_ms as i64)
    })?;
    linker.func_wrap(M, "shard_id", |mut c: C<'_>| -> R<i32> {
        let p = price(&c, |s| s.context, 0);
        charge(&mut c, p)?;
        Ok(c.data().ctx.block.shard_id as i32)
    })?;
    linker.func_wrap(M, "gas_left", |mut c: C<'_>| -> R<i64> {
        let p = price(&c, |s| s.context, 0);
        charge(&mut c, p)?;
        Ok(c.get_fuel()? as i64)
    })?;
    linker.func_wrap(
        M,
        "emit_event",
        |mut c: C<'_>, nptr: i32, nlen: i32, dptr: i32, dlen: i32| -> R<()> {
            let p = price(
                &c,
                |s| s.emit_event,
                (nlen as u32 as usize).saturating_add(dlen as u32 as usize),
            );
            charge(&mut c, p)?;
            if c.data().events.len() >= caps::MAX_EVENTS {
                return abort(Abort::Host(format!(
                    "more than {} events in one call",
                    caps::MAX_EVENTS
                )));
            }
            let name = utf8(
                read_vec(&mut c, nptr, nlen, caps::MAX_EVENT_NAME, "event name")?,
                "event name",
            )?;
            let data = read_vec(&mut c, dptr, dlen, caps::MAX_EVENT_DATA, "event data")?;
            let contract = c.data().ctx.contract;
            c.data_mut().events.push(Event { contract, name, data });
            Ok(())
        },
    )?;
    linker.func_wrap(M, "log", |mut c: C<'_>, ptr: i32, len: i32| -> R<()> {
        let p = price(&c, |s| s.log, len as u32 as usize);
        charge(&mut c, p)?;
        let bytes = read_vec(&mut c, ptr, len, caps::MAX_LOG, "log line")?;
        if c.data().logs.len() < caps::MAX_LOGS {
            c.data_mut().logs.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        Ok(())
    })?;
    linker.func_wrap(M, "transfer", |mut c: C<'_>, to_ptr: i32, amount_ptr: i32| -> R<()> {
        deny_in_view(&c, "transferring tokens")?;
        let p = price(&c, |s| s.transfer, 0);
        charge(&mut c, p)?;
        check_promise_room(&c)?;
        count_outgoing(&mut c, caps::RECEIPT_BYTES)?;
        let to = Address(read_array::<32>(&mut c, to_ptr)?);
        let amount = read_amount(&mut c, amount_ptr)?;
        spend(&mut c, amount, "transfer")?;
        c.data_mut().pending.push(Pending::Transfer { to, amount });
        Ok(())
    })?;
    linker.func_wrap(M, "blake3", |mut c: C<'_>, ptr: i32, len: i32, out: i32| -> R<()> {
        let p = price(&c, |s| s.blake3, len as u32 as usize);
        charge(&mut c, p)?;
        if len as u32 as usize > caps::MAX_HASH_INPUT {
            return abort(Abort::Host("blake3 input over 1 MiB".into()));
        }
        let (mem, _) = mem_and_state(&mut c)?;
        let r = range(mem.len(), ptr, len)?;
        let h = blake3::hash(&mem[r]);
        write_bytes(&mut c, out, h.as_bytes())
    })?;
    linker.func_wrap(
        M,
        "ed25519_verify",
        |mut c: C<'_>, sig: i32, pk: i32, msg: i32, len: i32| -> R<i32> {
            let p = price(&c, |s| s.ed25519_verify, len as u32 as usize);
            charge(&mut c, p)?;
            if len as u32 as usize > caps::MAX_HASH_INPUT {
                return abort(Abort::Host("ed25519 message over 1 MiB".into()));
            }
            let sig = read_array::<64>(&mut c, sig)?;
            let pk = read_array::<32>(&mut c, pk)?;
            let (mem, _) = mem_and_state(&mut c)?;
            let r = range(mem.len(), msg, len)?;
            Ok(i32::from(
                tutti_primitives::tx::verify_ed25519(&pk, &mem[r], &sig).is_ok(),
            ))
        },
    )?;
    linker.func_wrap(
        M,
        "promise_create",
        |mut c: C<'_>,
         acc: i32,
         mptr: i32,
         mlen: i32,
         aptr: i32,
         alen: i32,
         vptr: i32,
         gas: i64,
         weight: i64|
         -> R<i32> {
            let receiver = Address(read_array::<32>(&mut c, acc)?);
            let call = new_call(&mut c, receiver, mptr, mlen, aptr, alen, vptr, gas, weight)?;
            Ok(push_call(&mut c, call))
        },
    )?;
    linker.func_wrap(
        M,
        "promise_then",
        |mut c: C<'_>,
         idx: i32,
         mptr: i32,
         mlen: i32,
         aptr: i32,
         alen: i32,
         vptr: i32,
         gas: i64,
         weight: i64|
         -> R<i32> {
            let Some(awaited) = c.data().promises.get(idx as u32 as usize).cloned() else {
                return abort(Abort::Host(format!("promise index {idx} does not exist")));
            };
            let me = c.data().ctx.contract;
            let mut call = new_call(&mut c, me, mptr, mlen, aptr, alen, vptr, gas, weight)?;
            count_outgoing(&mut c, awaited.len() * caps::CALLBACK_INPUT_BYTES)?;
            let st = c.data_mut();
            for pi in awaited {
                let data_id = Receipt::derive_data_id(&st.ctx.origin, st.data_ids);
                st.data_ids += 1;
                call.input_data_ids.push(data_id);
                if let Some(Pending::Call(awaited_call)) = st.pending.get_mut(pi) {
                    awaited_call
                        .output_data_receivers
                        .push(DataReceiver { data_id, receiver: me });
                }
            }
            Ok(push_call(&mut c, call))
        },
    )?;
    linker.func_wrap(M, "promise_and", |mut c: C<'_>, ptr: i32, count: i32| -> R<i32> {
        deny_in_view(&c, "joining promises")?;
        let n = count as u32 as usize;
        if n == 0 || n > caps::MAX_PROMISES {
            return abort(Abort::Host(format!(
                "promise_and needs 1 to {} promises, got {n}",
                caps::MAX_PROMISES
            )));
        }
        let p = price(
            &c,
            |s| HostCost {
                base: s.promise_and.base,
                per_byte: s.promise_and.per_byte,
            },
            n,
        );
        charge(&mut c, p)?;
        let raw = read_vec(&mut c, ptr, (n * 4) as i32, caps::MAX_PROMISES * 4, "promise list")?;
        if c.data().promises.len() >= caps::MAX_PROMISE_HANDLES {
            return abort(Abort::Host(format!(
                "more than {} promises and joins in one call",
                caps::MAX_PROMISE_HANDLES
            )));
        }
        // A join is the set of the calls it waits for, each once, in first-named order: naming
        // a promise (or a join holding it) twice adds nothing, so nested joins stay within the
        // call's own promises (at most MAX_PROMISES) however they repeat each other.
        // Members are indices of the call's pending promises (fewer than MAX_PROMISES), so one
        // flag each finds repeats in O(1): at most n x MAX_PROMISES steps, priced per argument.
        let mut seen = vec![false; c.data().pending.len()];
        let mut joined: Vec<usize> = Vec::new();
        for chunk in raw.chunks_exact(4) {
            let idx = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize;
            let Some(members) = c.data().promises.get(idx) else {
                return abort(Abort::Host(format!("promise index {idx} does not exist")));
            };
            for &m in members {
                if let Some(flag) = seen.get_mut(m)
                    && !*flag
                {
                    *flag = true;
                    joined.push(m);
                }
            }
        }
        let st = c.data_mut();
        st.promises.push(joined);
        Ok((st.promises.len() - 1) as i32)
    })?;
    linker.func_wrap(M, "promise_results_count", |mut c: C<'_>| -> R<i32> {
        let p = price(&c, |s| s.context, 0);
        charge(&mut c, p)?;
        Ok(c.data().ctx.promise_results.len() as i32)
    })?;
    linker.func_wrap(M, "promise_result", |mut c: C<'_>, i: i32| -> R<i64> {
        let Some(r) = c.data().ctx.promise_results.get(i as u32 as usize).cloned() else {
            return abort(Abort::Host(format!("promise result {i} does not exist")));
        };
        let bytes = match &r {
            Ok(b) => b.clone(),
            Err(f) => f.encode(),
        };
        let p = price(&c, |s| s.read_input, bytes.len());
        charge(&mut c, p)?;
        let n = i64::from(set_register(&mut c, bytes));
        Ok(if r.is_ok() { n } else { -1 })
    })?;
    linker.func_wrap(M, "value_return", |mut c: C<'_>, ptr: i32, len: i32| -> R<()> {
        let p = price(&c, |s| s.value_return, len as u32 as usize);
        charge(&mut c, p)?;
        let bytes = read_vec(&mut c, ptr, len, caps::MAX_RETURN, "return value")?;
        c.data_mut().return_data = bytes;
        Ok(())
    })?;
    linker.func_wrap(M, "panic", |mut c: C<'_>, ptr: i32, len: i32| -> R<()> {
        let n = (len as u32 as usize).min(caps::MAX_PANIC);
        let p = price(&c, |s| s.log, n);
        charge(&mut c, p)?;
        let bytes = read_vec(&mut c, ptr, n as i32, caps::MAX_PANIC, "panic message")?;
        abort(Abort::Panic(String::from_utf8_lossy(&bytes).into_owned()))
    })?;
    Ok(())
}
