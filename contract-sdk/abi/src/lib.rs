//! The self-describing interface of a Tutti contract ([`Abi`]): its methods (name, kind, whether
//! payable, named parameters, return type) and events (name, payload type), every type described
//! by `scale-info` (the registry ink! metadata uses), as JSON.
//!
//! - `#[contract]` builds it natively (`tutti_sdk::abi`, [`Builder`]); the build embeds it in the
//!   wasm module as a custom section named [`SECTION`] ([`embed`]), so a deployed contract
//!   describes itself. A module without the section still works; one whose section is malformed,
//!   duplicated or over [`MAX_ABI_BYTES`] is refused at upload ([`read`]).
//! - Values go through it both ways: [`Abi::encode_args`] turns named arguments (JSON values or
//!   the strings a command line gives) into the SCALE parameter tuple a method decodes, refusing
//!   unknown, missing and mistyped ones by name; [`Abi::decode`] turns returned or emitted bytes
//!   into JSON. Addresses read and print as `tt1...`, 128-bit integers as decimal strings (JSON
//!   numbers lose precision past 2^53), so do 64-bit ones past 2^53 - 1, byte strings as `0x` hex.

use std::collections::BTreeMap;

use parity_scale_codec::{Compact, Decode, Encode};
use scale_info::{MetaType, PortableRegistry, Registry, TypeDef, TypeDefPrimitive, form::PortableForm};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

/// The custom section holding a module's ABI.
pub const SECTION: &str = "tutti:abi";
/// Largest ABI section accepted.
pub const MAX_ABI_BYTES: usize = 64 * 1024;
/// Deepest nesting of types the codec follows (a hostile ABI may describe a type containing
/// itself).
const MAX_DEPTH: u32 = 64;
/// This format's version.
pub const ABI_VERSION: u32 = 1;

/// How a method may be called.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Runs once, as the deploy's init call.
    Init,
    /// Changes state.
    Call,
    /// Reads state.
    View,
    /// Runs when the promises it waits on resolve.
    Callback,
}

/// A named parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its type (an id in [`Abi::types`]).
    #[serde(rename = "type")]
    pub ty: u32,
}

/// A method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Method {
    /// Its name (the wasm export).
    pub name: String,
    /// How it may be called.
    pub kind: Kind,
    /// Whether it accepts attached tokens.
    pub payable: bool,
    /// Its parameters, in order (their SCALE tuple is the call's input).
    pub params: Vec<Param>,
    /// What it returns (SCALE), `None` for `()`.
    pub returns: Option<u32>,
}

/// An event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Its name (as emitted).
    pub name: String,
    /// Its payload's type.
    #[serde(rename = "type")]
    pub ty: u32,
}

/// A contract's interface (module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Abi {
    /// [`ABI_VERSION`].
    pub abi_version: u32,
    /// The contract (its crate's name).
    pub contract: String,
    /// The SDK version it was built with.
    pub sdk: String,
    /// Its methods.
    pub methods: Vec<Method>,
    /// Its events.
    pub events: Vec<Event>,
    /// Every type the methods and events use.
    pub types: PortableRegistry,
}

/// Why an ABI or a value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AbiError {
    /// The module's ABI section breaks a rule.
    #[error("the module's ABI ({SECTION} section) {0}")]
    Section(String),
    /// No such method.
    #[error("the contract has no method `{name}` (its methods: {known})")]
    UnknownMethod {
        /// Asked.
        name: String,
        /// What there is.
        known: String,
    },
    /// An argument problem, naming the parameter and its type.
    #[error("{0}")]
    Argument(String),
    /// Bytes that do not decode as the type.
    #[error("cannot decode the bytes as {ty}: {reason}")]
    Decode {
        /// The type.
        ty: String,
        /// Why.
        reason: String,
    },
}

/// Builds an [`Abi`] (what `#[contract]` generates calls to).
pub struct Builder {
    registry: Registry,
    abi: Abi,
}

impl Builder {
    /// An empty interface of `contract`, built with SDK version `sdk`.
    pub fn new(contract: &str, sdk: &str) -> Self {
        Builder {
            registry: Registry::new(),
            abi: Abi {
                abi_version: ABI_VERSION,
                contract: contract.into(),
                sdk: sdk.into(),
                methods: Vec::new(),
                events: Vec::new(),
                types: PortableRegistry::from(Registry::new()),
            },
        }
    }

    fn id(&mut self, t: MetaType) -> u32 {
        self.registry.register_type(&t).id
    }

    /// Adds a method; `returns` is `None` for `()`.
    pub fn method(
        &mut self,
        name: &str,
        kind: Kind,
        payable: bool,
        params: &[(&str, MetaType)],
        returns: Option<MetaType>,
    ) -> &mut Self {
        let params = params
            .iter()
            .map(|(n, t)| Param {
                name: (*n).into(),
                ty: self.id(*t),
            })
            .collect();
        let returns = returns.map(|t| self.id(t));
        self.abi.methods.push(Method {
            name: name.into(),
            kind,
            payable,
            params,
            returns,
        });
        self
    }

    /// Adds an event with its payload type.
    pub fn event(&mut self, name: &str, payload: MetaType) -> &mut Self {
        let ty = self.id(payload);
        self.abi.events.push(Event { name: name.into(), ty });
        self
    }

    /// The interface.
    pub fn finish(mut self) -> Abi {
        self.abi.types = PortableRegistry::from(self.registry);
        self.abi
    }
}

/// The type `T`'s description, for [`Builder`].
pub fn meta<T: scale_info::TypeInfo + 'static + ?Sized>() -> MetaType {
    MetaType::new::<T>()
}

fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// `wasm` with `abi` appended as its [`SECTION`] custom section (any earlier one removed is the
/// caller's business: [`read`] refuses two).
pub fn embed(wasm: &[u8], abi: &Abi) -> Vec<u8> {
    let json = serde_json::to_vec(abi).expect("an ABI serialises");
    let mut payload = Vec::new();
    leb128(SECTION.len(), &mut payload);
    payload.extend_from_slice(SECTION.as_bytes());
    payload.extend_from_slice(&json);
    let mut out = wasm.to_vec();
    out.push(0);
    leb128(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

/// The ABI `wasm` carries, if any; a malformed, duplicated or oversize section is an error.
pub fn read(wasm: &[u8]) -> Result<Option<Abi>, AbiError> {
    let mut found: Option<&[u8]> = None;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| AbiError::Section(format!("cannot be located: {e}")))?;
        if let wasmparser::Payload::CustomSection(c) = payload
            && c.name() == SECTION
        {
            if found.is_some() {
                return Err(AbiError::Section("appears twice".into()));
            }
            found = Some(c.data());
        }
    }
    let Some(bytes) = found else {
        return Ok(None);
    };
    if bytes.len() > MAX_ABI_BYTES {
        return Err(AbiError::Section(format!(
            "is {} bytes, over the limit of {MAX_ABI_BYTES}",
            bytes.len()
        )));
    }
    let abi: Abi =
        serde_json::from_slice(bytes).map_err(|e| AbiError::Section(format!("is not valid ABI JSON: {e}")))?;
    if abi.abi_version != ABI_VERSION {
        return Err(AbiError::Section(format!(
            "has version {}; this node reads version {ABI_VERSION}",
            abi.abi_version
        )));
    }
    let ids = abi.types.types.len() as u32;
    let bad = abi
        .methods
        .iter()
        .flat_map(|m| m.params.iter().map(|p| p.ty).chain(m.returns))
        .chain(abi.events.iter().map(|e| e.ty))
        .find(|t| *t >= ids);
    if let Some(t) = bad {
        return Err(AbiError::Section(format!("names type {t}, which its registry lacks")));
    }
    Ok(Some(abi))
}

type Ty = scale_info::Type<PortableForm>;

impl Abi {
    fn ty(&self, id: u32) -> Result<&Ty, AbiError> {
        self.types.resolve(id).ok_or_else(|| AbiError::Decode {
            ty: format!("type {id}"),
            reason: "not in the registry".into(),
        })
    }

    /// A type's readable name: `u128`, `Address`, `Vec<(u64, u32)>`, `Option<String>`.
    pub fn type_name(&self, id: u32) -> String {
        self.type_name_at(id, 0)
    }

    fn type_name_at(&self, id: u32, depth: u32) -> String {
        if depth > MAX_DEPTH {
            return "…".into();
        }
        let Ok(t) = self.ty(id) else {
            return format!("type {id}");
        };
        let named = |t: &Ty| t.path.segments.last().cloned();
        let params = |t: &Ty| -> Vec<String> {
            t.type_params
                .iter()
                .filter_map(|p| p.ty.map(|x| self.type_name_at(x.id, depth + 1)))
                .collect()
        };
        match &t.type_def {
            TypeDef::Primitive(p) => primitive_name(p).into(),
            TypeDef::Sequence(s) => format!("Vec<{}>", self.type_name_at(s.type_param.id, depth + 1)),
            TypeDef::Array(a) => format!("[{}; {}]", self.type_name_at(a.type_param.id, depth + 1), a.len),
            TypeDef::Tuple(t) if t.fields.is_empty() => "()".into(),
            TypeDef::Tuple(t) => format!(
                "({})",
                t.fields
                    .iter()
                    .map(|f| self.type_name_at(f.id, depth + 1))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            TypeDef::Compact(c) => format!("Compact<{}>", self.type_name_at(c.type_param.id, depth + 1)),
            TypeDef::BitSequence(_) => "BitVec".into(),
            TypeDef::Composite(_) | TypeDef::Variant(_) => {
                let name = named(t).unwrap_or_else(|| "?".into());
                let ps = params(t);
                if ps.is_empty() {
                    name
                } else {
                    format!("{name}<{}>", ps.join(", "))
                }
            }
        }
    }

    /// The method `name`.
    pub fn method(&self, name: &str) -> Result<&Method, AbiError> {
        self.methods
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| AbiError::UnknownMethod {
                name: name.into(),
                known: self
                    .methods
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The event `name`, if declared.
    pub fn event(&self, name: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.name == name)
    }

    /// The SCALE input of `method` from named arguments (module doc): every parameter given once,
    /// no other name.
    pub fn encode_args(&self, method: &str, args: &BTreeMap<String, Json>) -> Result<Vec<u8>, AbiError> {
        let m = self.method(method)?;
        if let Some(extra) = args.keys().find(|k| !m.params.iter().any(|p| &p.name == *k)) {
            return Err(AbiError::Argument(format!(
                "`{method}` has no parameter `{extra}` (its parameters: {})",
                self.signature(m)
            )));
        }
        let mut out = Vec::new();
        for p in &m.params {
            let v = args.get(&p.name).ok_or_else(|| {
                AbiError::Argument(format!(
                    "missing argument `{}: {}` of `{method}`",
                    p.name,
                    self.type_name(p.ty)
                ))
            })?;
            self.encode(p.ty, v, &mut out)
                .map_err(|e| AbiError::Argument(format!("argument `{}: {}`: {e}", p.name, self.type_name(p.ty))))?;
        }
        Ok(out)
    }

    /// `name(a: T, b: U)`.
    pub fn signature(&self, m: &Method) -> String {
        m.params
            .iter()
            .map(|p| format!("{}: {}", p.name, self.type_name(p.ty)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A readable listing of the interface.
    pub fn describe(&self) -> String {
        let mut s = format!("contract {} (SDK {})\n", self.contract, self.sdk);
        for m in &self.methods {
            let kind = match (m.kind, m.payable) {
                (Kind::Call, true) => "call (payable)",
                (Kind::Init, true) => "init (payable)",
                (Kind::Callback, true) => "callback (payable)",
                (Kind::Init, _) => "init",
                (Kind::Call, _) => "call",
                (Kind::View, _) => "view",
                (Kind::Callback, _) => "callback",
            };
            let ret = m
                .returns
                .map(|r| format!(" -> {}", self.type_name(r)))
                .unwrap_or_default();
            s.push_str(&format!("  {kind:<16} {}({}){ret}\n", m.name, self.signature(m)));
        }
        for e in &self.events {
            s.push_str(&format!("  {:<16} {}: {}\n", "event", e.name, self.type_name(e.ty)));
        }
        s
    }

    /// `bytes` (all of them) as type `id`, in JSON (module doc).
    pub fn decode(&self, id: u32, bytes: &[u8]) -> Result<Json, AbiError> {
        let mut input = bytes;
        let v = self.decode_from(id, &mut input).map_err(|reason| AbiError::Decode {
            ty: self.type_name(id),
            reason,
        })?;
        if !input.is_empty() {
            return Err(AbiError::Decode {
                ty: self.type_name(id),
                reason: format!("{} bytes left over", input.len()),
            });
        }
        Ok(v)
    }

    fn is_address(&self, t: &Ty) -> bool {
        t.path.segments.last().is_some_and(|s| s == "Address")
            && t.path.segments.first().is_some_and(|s| s == "tutti_primitives")
    }

    fn is_u8(&self, id: u32) -> bool {
        matches!(
            self.ty(id).map(|t| &t.type_def),
            Ok(TypeDef::Primitive(TypeDefPrimitive::U8))
        )
    }

    fn encode(&self, id: u32, v: &Json, out: &mut Vec<u8>) -> Result<(), String> {
        self.encode_at(id, v, out, 0)
    }

    /// [`Self::encode`] at nesting `depth` (a registry may describe a type that contains itself).
    fn encode_at(&self, id: u32, v: &Json, out: &mut Vec<u8>, depth: u32) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("types nest deeper than {MAX_DEPTH} levels"));
        }
        let t = self.ty(id).map_err(|e| e.to_string())?;
        if self.is_address(t) {
            let s = v
                .as_str()
                .ok_or("an address is a string: tt1... or 0x and 64 hex digits")?;
            let a: tutti_primitives::Address = s.parse().map_err(|e| format!("`{s}` is not an address: {e}"))?;
            a.encode_to(out);
            return Ok(());
        }
        match &t.type_def {
            TypeDef::Primitive(p) => encode_primitive(p, v, out),
            TypeDef::Compact(c) => {
                let n = uint(v, u128::MAX)?;
                let _ = c;
                Compact(n).encode_to(out);
                Ok(())
            }
            TypeDef::Sequence(s) => {
                if self.is_u8(s.type_param.id)
                    && let Some(h) = v.as_str()
                {
                    let b = hex_bytes(h)?;
                    b.encode_to(out);
                    return Ok(());
                }
                let items = v.as_array().ok_or("expected a list")?;
                Compact(items.len() as u32).encode_to(out);
                for x in items {
                    self.encode_at(s.type_param.id, x, out, depth + 1)?;
                }
                Ok(())
            }
            TypeDef::Array(a) => {
                if self.is_u8(a.type_param.id)
                    && let Some(h) = v.as_str()
                {
                    let b = hex_bytes(h)?;
                    if b.len() != a.len as usize {
                        return Err(format!("expected {} bytes, got {}", a.len, b.len()));
                    }
                    out.extend_from_slice(&b);
                    return Ok(());
                }
                let items = v.as_array().ok_or("expected a list")?;
                if items.len() != a.len as usize {
                    return Err(format!("expected {} items, got {}", a.len, items.len()));
                }
                for x in items {
                    self.encode_at(a.type_param.id, x, out, depth + 1)?;
                }
                Ok(())
            }
            TypeDef::Tuple(tu) => {
                if tu.fields.is_empty() {
                    return Ok(());
                }
                let items = v.as_array().ok_or("expected a list (a tuple)")?;
                if items.len() != tu.fields.len() {
                    return Err(format!("expected {} items, got {}", tu.fields.len(), items.len()));
                }
                for (f, x) in tu.fields.iter().zip(items) {
                    self.encode_at(f.id, x, out, depth + 1)?;
                }
                Ok(())
            }
            TypeDef::Composite(c) => {
                let named = c.fields.iter().all(|f| f.name.is_some()) && !c.fields.is_empty();
                if named {
                    let obj = v.as_object().ok_or("expected an object with named fields")?;
                    for f in &c.fields {
                        let n = f.name.as_deref().unwrap_or_default();
                        let x = obj.get(n).ok_or_else(|| format!("missing field `{n}`"))?;
                        self.encode_at(f.ty.id, x, out, depth + 1)
                            .map_err(|e| format!("field `{n}`: {e}"))?;
                    }
                    Ok(())
                } else if c.fields.len() == 1 {
                    self.encode_at(c.fields[0].ty.id, v, out, depth + 1)
                } else {
                    let items = v.as_array().ok_or("expected a list")?;
                    if items.len() != c.fields.len() {
                        return Err(format!("expected {} items, got {}", c.fields.len(), items.len()));
                    }
                    for (f, x) in c.fields.iter().zip(items) {
                        self.encode_at(f.ty.id, x, out, depth + 1)?;
                    }
                    Ok(())
                }
            }
            TypeDef::Variant(var) => {
                // Option: null or the value; otherwise {"Variant": fields} or "Variant".
                let is_option = t.path.segments.last().is_some_and(|s| s == "Option") && var.variants.len() == 2;
                if is_option {
                    if v.is_null() {
                        out.push(0);
                        return Ok(());
                    }
                    let some = var
                        .variants
                        .iter()
                        .find(|x| x.name == "Some")
                        .ok_or("malformed Option")?;
                    out.push(some.index);
                    return self.encode_at(some.fields[0].ty.id, v, out, depth + 1);
                }
                let (name, fields) = match v {
                    Json::String(s) => (s.as_str(), None),
                    Json::Object(o) if o.len() == 1 => {
                        let (k, x) = o.iter().next().expect("one entry");
                        (k.as_str(), Some(x))
                    }
                    _ => return Err("expected a variant name or {\"Variant\": fields}".into()),
                };
                let variant = var
                    .variants
                    .iter()
                    .find(|x| x.name == name)
                    .ok_or_else(|| format!("no variant `{name}`"))?;
                out.push(variant.index);
                let named = !variant.fields.is_empty() && variant.fields.iter().all(|f| f.name.is_some());
                if named {
                    let obj = fields
                        .and_then(|x| x.as_object())
                        .ok_or_else(|| format!("variant `{name}` takes an object of named fields"))?;
                    for f in &variant.fields {
                        let n = f.name.as_deref().unwrap_or_default();
                        let x = obj
                            .get(n)
                            .ok_or_else(|| format!("variant `{name}`: missing field `{n}`"))?;
                        self.encode_at(f.ty.id, x, out, depth + 1)
                            .map_err(|e| format!("field `{n}`: {e}"))?;
                    }
                    return Ok(());
                }
                match (variant.fields.len(), fields) {
                    (0, _) => Ok(()),
                    (1, Some(x)) => self.encode_at(variant.fields[0].ty.id, x, out, depth + 1),
                    (n, Some(Json::Array(items))) if items.len() == n => {
                        for (f, x) in variant.fields.iter().zip(items) {
                            self.encode_at(f.ty.id, x, out, depth + 1)?;
                        }
                        Ok(())
                    }
                    (n, _) => Err(format!("variant `{name}` takes {n} fields")),
                }
            }
            TypeDef::BitSequence(_) => Err("bit sequences are not supported".into()),
        }
    }

    fn decode_from(&self, id: u32, input: &mut &[u8]) -> Result<Json, String> {
        self.decode_at(id, input, 0)
    }

    /// [`Self::decode_from`] at nesting `depth`.
    fn decode_at(&self, id: u32, input: &mut &[u8], depth: u32) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(format!("types nest deeper than {MAX_DEPTH} levels"));
        }
        let t = self.ty(id).map_err(|e| e.to_string())?;
        let err = |e: parity_scale_codec::Error| e.to_string();
        if self.is_address(t) {
            let a = tutti_primitives::Address::decode(input).map_err(err)?;
            return Ok(Json::String(a.to_string()));
        }
        Ok(match &t.type_def {
            TypeDef::Primitive(p) => decode_primitive(p, input)?,
            TypeDef::Compact(_) => json!(Compact::<u128>::decode(input).map_err(err)?.0.to_string()),
            TypeDef::Sequence(s) => {
                let n = Compact::<u32>::decode(input).map_err(err)?.0 as usize;
                if self.is_u8(s.type_param.id) {
                    if input.len() < n {
                        return Err("not enough bytes".into());
                    }
                    let (b, rest) = input.split_at(n);
                    *input = rest;
                    return Ok(Json::String(format!("0x{}", hex::encode(b))));
                }
                if n > input.len() {
                    return Err(format!("a list of {n} items in {} bytes", input.len()));
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.decode_at(s.type_param.id, input, depth + 1)?);
                }
                Json::Array(items)
            }
            TypeDef::Array(a) => {
                let n = a.len as usize;
                if self.is_u8(a.type_param.id) {
                    if input.len() < n {
                        return Err("not enough bytes".into());
                    }
                    let (b, rest) = input.split_at(n);
                    *input = rest;
                    return Ok(Json::String(format!("0x{}", hex::encode(b))));
                }
                let mut items = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    items.push(self.decode_at(a.type_param.id, input, depth + 1)?);
                }
                Json::Array(items)
            }
            TypeDef::Tuple(tu) if tu.fields.is_empty() => Json::Null,
            TypeDef::Tuple(tu) => Json::Array(
                tu.fields
                    .iter()
                    .map(|f| self.decode_at(f.id, input, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            TypeDef::Composite(c) => {
                let named = c.fields.iter().all(|f| f.name.is_some()) && !c.fields.is_empty();
                if named {
                    let mut m = serde_json::Map::new();
                    for f in &c.fields {
                        m.insert(
                            f.name.clone().unwrap_or_default(),
                            self.decode_at(f.ty.id, input, depth + 1)?,
                        );
                    }
                    Json::Object(m)
                } else if c.fields.len() == 1 {
                    self.decode_at(c.fields[0].ty.id, input, depth + 1)?
                } else {
                    Json::Array(
                        c.fields
                            .iter()
                            .map(|f| self.decode_at(f.ty.id, input, depth + 1))
                            .collect::<Result<_, _>>()?,
                    )
                }
            }
            TypeDef::Variant(var) => {
                let index = u8::decode(input).map_err(err)?;
                let v = var
                    .variants
                    .iter()
                    .find(|x| x.index == index)
                    .ok_or_else(|| format!("no variant with index {index}"))?;
                let is_option = t.path.segments.last().is_some_and(|s| s == "Option");
                let named = !v.fields.is_empty() && v.fields.iter().all(|f| f.name.is_some());
                if named && !is_option {
                    let mut m = serde_json::Map::new();
                    for f in &v.fields {
                        m.insert(
                            f.name.clone().unwrap_or_default(),
                            self.decode_at(f.ty.id, input, depth + 1)?,
                        );
                    }
                    return Ok(json!({ v.name.clone(): Json::Object(m) }));
                }
                let fields: Vec<Json> = v
                    .fields
                    .iter()
                    .map(|f| self.decode_at(f.ty.id, input, depth + 1))
                    .collect::<Result<_, _>>()?;
                match (is_option, fields.len()) {
                    (true, 0) => Json::Null,
                    (true, _) => fields.into_iter().next().expect("one field"),
                    (false, 0) => Json::String(v.name.clone()),
                    (false, 1) => json!({ v.name.clone(): fields.into_iter().next().expect("one field") }),
                    (false, _) => json!({ v.name.clone(): fields }),
                }
            }
            TypeDef::BitSequence(_) => return Err("bit sequences are not supported".into()),
        })
    }
}

fn primitive_name(p: &TypeDefPrimitive) -> &'static str {
    match p {
        TypeDefPrimitive::Bool => "bool",
        TypeDefPrimitive::Char => "char",
        TypeDefPrimitive::Str => "String",
        TypeDefPrimitive::U8 => "u8",
        TypeDefPrimitive::U16 => "u16",
        TypeDefPrimitive::U32 => "u32",
        TypeDefPrimitive::U64 => "u64",
        TypeDefPrimitive::U128 => "u128",
        TypeDefPrimitive::U256 => "u256",
        TypeDefPrimitive::I8 => "i8",
        TypeDefPrimitive::I16 => "i16",
        TypeDefPrimitive::I32 => "i32",
        TypeDefPrimitive::I64 => "i64",
        TypeDefPrimitive::I128 => "i128",
        TypeDefPrimitive::I256 => "i256",
    }
}

fn hex_bytes(s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| format!("`{s}` is not hex: {e}"))
}

/// An unsigned integer from a JSON number or decimal string, at most `max`.
fn uint(v: &Json, max: u128) -> Result<u128, String> {
    let n: u128 = match v {
        Json::Number(n) => n
            .as_u64()
            .map(u128::from)
            .ok_or_else(|| format!("`{n}` is not a whole number >= 0"))?,
        Json::String(s) => s
            .trim()
            .parse()
            .map_err(|e| format!("`{s}` is not a whole number >= 0: {e}"))?,
        other => return Err(format!("expected a number, got {other}")),
    };
    if n > max {
        return Err(format!("{n} is over the largest value, {max}"));
    }
    Ok(n)
}

/// A signed integer from a JSON number or decimal string, within `min..=max`.
fn int(v: &Json, min: i128, max: i128) -> Result<i128, String> {
    let n: i128 = match v {
        Json::Number(n) => n
            .as_i64()
            .map(i128::from)
            .ok_or_else(|| format!("`{n}` is not a whole number"))?,
        Json::String(s) => s
            .trim()
            .parse()
            .map_err(|e| format!("`{s}` is not a whole number: {e}"))?,
        other => return Err(format!("expected a number, got {other}")),
    };
    if n < min || n > max {
        return Err(format!("{n} is outside {min}..={max}"));
    }
    Ok(n)
}

fn encode_primitive(p: &TypeDefPrimitive, v: &Json, out: &mut Vec<u8>) -> Result<(), String> {
    match p {
        TypeDefPrimitive::Bool => match v {
            Json::Bool(b) => b.encode_to(out),
            Json::String(s) if s == "true" || s == "false" => (s == "true").encode_to(out),
            _ => return Err("expected true or false".into()),
        },
        TypeDefPrimitive::Str => v.as_str().ok_or("expected a string")?.encode_to(out),
        TypeDefPrimitive::Char => {
            let s = v.as_str().ok_or("expected one character")?;
            let mut cs = s.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => (c as u32).encode_to(out),
                _ => return Err("expected one character".into()),
            }
        }
        TypeDefPrimitive::U8 => (uint(v, u8::MAX.into())? as u8).encode_to(out),
        TypeDefPrimitive::U16 => (uint(v, u16::MAX.into())? as u16).encode_to(out),
        TypeDefPrimitive::U32 => (uint(v, u32::MAX.into())? as u32).encode_to(out),
        TypeDefPrimitive::U64 => (uint(v, u64::MAX.into())? as u64).encode_to(out),
        TypeDefPrimitive::U128 => uint(v, u128::MAX)?.encode_to(out),
        TypeDefPrimitive::I8 => (int(v, i8::MIN.into(), i8::MAX.into())? as i8).encode_to(out),
        TypeDefPrimitive::I16 => (int(v, i16::MIN.into(), i16::MAX.into())? as i16).encode_to(out),
        TypeDefPrimitive::I32 => (int(v, i32::MIN.into(), i32::MAX.into())? as i32).encode_to(out),
        TypeDefPrimitive::I64 => (int(v, i64::MIN.into(), i64::MAX.into())? as i64).encode_to(out),
        TypeDefPrimitive::I128 => int(v, i128::MIN, i128::MAX)?.encode_to(out),
        TypeDefPrimitive::U256 | TypeDefPrimitive::I256 => return Err("256-bit integers are not supported".into()),
    }
    Ok(())
}

/// Largest integer a JSON reader that uses doubles (JavaScript's `JSON.parse`) holds exactly.
const MAX_SAFE_INTEGER: i128 = (1 << 53) - 1;

/// A 64-bit integer as a JSON number when every JSON reader holds it exactly, else as a decimal
/// string (as 128-bit integers always are).
fn safe_integer(n: i128) -> Json {
    if n.abs() <= MAX_SAFE_INTEGER {
        json!(n as i64)
    } else {
        json!(n.to_string())
    }
}

fn decode_primitive(p: &TypeDefPrimitive, input: &mut &[u8]) -> Result<Json, String> {
    let err = |e: parity_scale_codec::Error| e.to_string();
    Ok(match p {
        TypeDefPrimitive::Bool => json!(bool::decode(input).map_err(err)?),
        TypeDefPrimitive::Str => json!(String::decode(input).map_err(err)?),
        TypeDefPrimitive::Char => {
            let c = u32::decode(input).map_err(err)?;
            json!(char::from_u32(c).ok_or("not a character")?.to_string())
        }
        TypeDefPrimitive::U8 => json!(u8::decode(input).map_err(err)?),
        TypeDefPrimitive::U16 => json!(u16::decode(input).map_err(err)?),
        TypeDefPrimitive::U32 => json!(u32::decode(input).map_err(err)?),
        TypeDefPrimitive::U64 => safe_integer(u64::decode(input).map_err(err)?.into()),
        TypeDefPrimitive::U128 => json!(u128::decode(input).map_err(err)?.to_string()),
        TypeDefPrimitive::I8 => json!(i8::decode(input).map_err(err)?),
        TypeDefPrimitive::I16 => json!(i16::decode(input).map_err(err)?),
        TypeDefPrimitive::I32 => json!(i32::decode(input).map_err(err)?),
        TypeDefPrimitive::I64 => safe_integer(i64::decode(input).map_err(err)?.into()),
        TypeDefPrimitive::I128 => json!(i128::decode(input).map_err(err)?.to_string()),
        TypeDefPrimitive::U256 | TypeDefPrimitive::I256 => return Err("256-bit integers are not supported".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tutti_primitives::Address;

    #[derive(scale_info::TypeInfo, Encode, Decode, Debug, PartialEq)]
    struct Transfer {
        from: Address,
        to: Address,
        amount: u128,
    }

    #[derive(scale_info::TypeInfo, Encode, Decode, Debug, PartialEq)]
    enum Status {
        Open,
        Closed { at: u64 },
    }

    fn abi() -> Abi {
        let mut b = Builder::new("token", "0.1.0");
        b.method(
            "transfer",
            Kind::Call,
            false,
            &[("to", meta::<Address>()), ("amount", meta::<u128>())],
            Some(meta::<bool>()),
        );
        b.method(
            "ranges",
            Kind::View,
            false,
            &[("of", meta::<Option<Address>>()), ("status", meta::<Status>())],
            Some(meta::<Vec<(u64, u32)>>()),
        );
        b.event("Transfer", meta::<Transfer>());
        b.finish()
    }

    fn args(pairs: &[(&str, Json)]) -> BTreeMap<String, Json> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn named_arguments_encode_like_the_parameter_tuple_and_results_decode() {
        let abi = abi();
        let to = Address([7; 32]);
        let got = abi
            .encode_args(
                "transfer",
                &args(&[("to", json!(to.to_string())), ("amount", json!("5000"))]),
            )
            .unwrap();
        assert_eq!(got, (to, 5000u128).encode());
        let got = abi
            .encode_args(
                "ranges",
                &args(&[("of", Json::Null), ("status", json!({"Closed": {"at": 9}}))]),
            )
            .unwrap();
        assert_eq!(got, (None::<Address>, Status::Closed { at: 9 }).encode());
        let status = abi.method("ranges").unwrap().params[1].ty;
        assert_eq!(
            abi.decode(status, &Status::Closed { at: 9 }.encode()).unwrap(),
            json!({"Closed": {"at": 9}})
        );
        assert_eq!(abi.decode(status, &Status::Open.encode()).unwrap(), json!("Open"));
        let ret = abi.method("ranges").unwrap().returns.unwrap();
        assert_eq!(
            abi.decode(ret, &vec![(1u64, 2u32), (3, 4)].encode()).unwrap(),
            json!([[1, 2], [3, 4]])
        );
        let ev = abi.event("Transfer").unwrap().ty;
        let t = Transfer {
            from: Address([1; 32]),
            to,
            amount: u128::MAX,
        };
        assert_eq!(
            abi.decode(ev, &t.encode()).unwrap(),
            json!({"from": Address([1; 32]).to_string(), "to": to.to_string(), "amount": u128::MAX.to_string()})
        );
        assert_eq!(abi.type_name(ret), "Vec<(u64, u32)>");
        // 64-bit integers stay JSON numbers while a double holds them exactly, then turn strings;
        // both forms encode back.
        let safe = (1u64 << 53) - 1;
        assert_eq!(
            abi.decode(ret, &vec![(safe, 0u32), (safe + 1, 0)].encode()).unwrap(),
            json!([[safe, 0], [(safe + 1).to_string(), 0]])
        );
        let back = abi
            .encode_args(
                "ranges",
                &args(&[
                    ("of", Json::Null),
                    ("status", json!({"Closed": {"at": u64::MAX.to_string()}})),
                ]),
            )
            .unwrap();
        assert_eq!(back, (None::<Address>, Status::Closed { at: u64::MAX }).encode());
        assert!(
            abi.describe()
                .contains("call             transfer(to: Address, amount: u128) -> bool")
        );
    }

    #[test]
    fn bad_arguments_name_the_parameter_and_its_type() {
        let abi = abi();
        let err = |a: &[(&str, Json)]| abi.encode_args("transfer", &args(a)).unwrap_err().to_string();
        let to = json!(Address([7; 32]).to_string());
        assert!(err(&[("to", to.clone())]).contains("missing argument `amount: u128`"));
        assert!(
            err(&[("to", to.clone()), ("amount", json!("5")), ("memo", json!("x"))]).contains("no parameter `memo`")
        );
        assert!(err(&[("to", json!("tt1bad")), ("amount", json!("5"))]).contains("argument `to: Address`"));
        let e = err(&[("to", to.clone()), ("amount", json!("-1"))]);
        assert!(
            e.contains("argument `amount: u128`") && e.contains("not a whole number"),
            "{e}"
        );
        let e = err(&[("to", to), ("amount", json!(format!("{}0", u128::MAX)))]);
        assert!(e.contains("amount: u128"), "{e}");
        assert!(matches!(
            abi.encode_args("mint", &BTreeMap::new()),
            Err(AbiError::UnknownMethod { .. })
        ));
        // Bytes that are not the type.
        let ret = abi.method("transfer").unwrap().returns.unwrap();
        assert!(abi.decode(ret, &[2]).is_err());
        assert!(abi.decode(ret, &[1, 1]).unwrap_err().to_string().contains("left over"));
    }

    #[test]
    fn the_section_round_trips_and_bad_ones_are_refused() {
        let module = wat_module();
        assert_eq!(read(&module).unwrap(), None, "no section, no ABI");
        let with = embed(&module, &abi());
        assert_eq!(read(&with).unwrap(), Some(abi()));
        wasmparser::Validator::new()
            .validate_all(&with)
            .expect("still a valid module");
        assert!(matches!(read(&embed(&with, &abi())), Err(AbiError::Section(m)) if m.contains("twice")));
        // Garbage JSON and an oversize section.
        let custom = |payload: &[u8]| {
            let mut p = Vec::new();
            leb128(SECTION.len(), &mut p);
            p.extend_from_slice(SECTION.as_bytes());
            p.extend_from_slice(payload);
            let mut out = module.clone();
            out.push(0);
            leb128(p.len(), &mut out);
            out.extend_from_slice(&p);
            out
        };
        assert!(matches!(read(&custom(b"{not json")), Err(AbiError::Section(m)) if m.contains("not valid ABI JSON")));
        assert!(
            matches!(read(&custom(&vec![b' '; MAX_ABI_BYTES + 1])), Err(AbiError::Section(m)) if m.contains("over the limit"))
        );
        // A type id outside the registry.
        let mut a = abi();
        a.methods[0].params[0].ty = 999;
        assert!(matches!(read(&embed(&module, &a)), Err(AbiError::Section(m)) if m.contains("type 999")));
    }

    #[test]
    fn a_type_that_contains_itself_is_refused_not_followed_forever() {
        let mut a = abi();
        // Make the return type of `transfer` (bool) a list of itself.
        let ret = a.method("transfer").unwrap().returns.unwrap() as usize;
        let mut json = serde_json::to_value(&a).unwrap();
        json["types"]["types"][ret]["type"]["def"] = json!({"sequence": {"type": ret}});
        a = serde_json::from_value(json).unwrap();
        let ret = ret as u32;
        assert!(a.type_name(ret).contains('…'));
        assert!(a.decode(ret, &[4; 200]).is_err());
        let deep = (0..100).fold(json!([]), |acc, _| json!([acc]));
        assert!(a.encode(ret, &deep, &mut Vec::new()).is_err());
    }

    /// The smallest valid module: the header only.
    fn wat_module() -> Vec<u8> {
        b"\0asm\x01\0\0\0".to_vec()
    }
}
