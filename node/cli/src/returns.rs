//! `--returns TYPE`: decodes a SCALE return value for display, from a small type language.
//!
//! ```text
//! type  := u8 | u16 | u32 | u64 | u128 | bool | string | address | hash | bytes
//!        | option<type> | vec<type> | (field, ...) | enum{Variant, Variant(field, ...), ...}
//! field := [name=]type
//! ```
//!
//! A comma list at the top level is a tuple, which is also how a struct encodes (its fields in
//! order): `--returns id=u64,pot=u128`. Named fields print as `name: value`, one per line.

use anyhow::{anyhow, bail};
use parity_scale_codec::{Compact, Decode};
use serde_json::{Map, Value, json};
use tutti_primitives::Address;
use tutti_rpc::types::hex0x;

/// A type of the `--returns` language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ty {
    /// An unsigned integer of this many bits.
    Uint(u32),
    /// `bool`.
    Bool,
    /// `string` (SCALE: compact length + UTF-8).
    Str,
    /// `address` (32 bytes, shown as bech32m).
    Address,
    /// `hash` (32 bytes, shown as hex).
    Hash,
    /// `bytes` (compact length + bytes, shown as hex).
    Bytes,
    /// `option<T>`.
    Option(Box<Ty>),
    /// `vec<T>`.
    Vec(Box<Ty>),
    /// `(a, b, ...)` with optional field names.
    Tuple(Vec<Field>),
    /// `enum{A, B(..)}`: variant names with their fields, in index order.
    Enum(Vec<(String, Vec<Field>)>),
}

/// A tuple or variant field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Its name, if given.
    pub name: Option<String>,
    /// Its type.
    pub ty: Ty,
}

const PRIMITIVES: &str = "u8 u16 u32 u64 u128 bool string address hash bytes";

/// Parses a `--returns` spec.
pub fn parse(spec: &str) -> anyhow::Result<Ty> {
    let mut p = Parser {
        s: spec.as_bytes(),
        at: 0,
    };
    let fields = p.fields(None)?;
    p.ws();
    if p.at != p.s.len() {
        bail!(
            "--returns `{spec}`: unexpected `{}` at position {}",
            &spec[p.at..],
            p.at + 1
        );
    }
    Ok(match <[Field; 1]>::try_from(fields) {
        Ok([Field { name: None, ty }]) => ty,
        Ok([f]) => Ty::Tuple(vec![f]),
        Err(fields) => Ty::Tuple(fields),
    })
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> anyhow::Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(anyhow!(
                "--returns: expected `{}` at position {}",
                c as char,
                self.at + 1
            ))
        }
    }

    fn word(&mut self) -> anyhow::Result<String> {
        self.ws();
        let start = self.at;
        while self.at < self.s.len() && (self.s[self.at].is_ascii_alphanumeric() || self.s[self.at] == b'_') {
            self.at += 1;
        }
        if start == self.at {
            bail!("--returns: expected a type or a name at position {}", self.at + 1);
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.at]).into_owned())
    }

    /// Fields separated by commas, up to `close` (or the end).
    fn fields(&mut self, close: Option<u8>) -> anyhow::Result<Vec<Field>> {
        let mut out = Vec::new();
        if close.is_some() && self.peek() == close {
            return Ok(out);
        }
        loop {
            out.push(self.field()?);
            if !self.eat(b',') {
                return Ok(out);
            }
        }
    }

    fn field(&mut self) -> anyhow::Result<Field> {
        let save = self.at;
        if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            let name = self.word()?;
            if self.eat(b'=') {
                return Ok(Field {
                    name: Some(name),
                    ty: self.ty()?,
                });
            }
            self.at = save;
        }
        Ok(Field {
            name: None,
            ty: self.ty()?,
        })
    }

    fn ty(&mut self) -> anyhow::Result<Ty> {
        if self.eat(b'(') {
            let fields = self.fields(Some(b')'))?;
            self.expect(b')')?;
            if fields.is_empty() {
                // It would decode from no bytes, so `vec<()>` could claim billions of them.
                bail!("--returns: an empty tuple `()` holds nothing to decode");
            }
            return Ok(Ty::Tuple(fields));
        }
        let w = self.word()?;
        Ok(match w.as_str() {
            "u8" => Ty::Uint(8),
            "u16" => Ty::Uint(16),
            "u32" => Ty::Uint(32),
            "u64" => Ty::Uint(64),
            "u128" => Ty::Uint(128),
            "bool" => Ty::Bool,
            "string" => Ty::Str,
            "address" => Ty::Address,
            "hash" => Ty::Hash,
            "bytes" => Ty::Bytes,
            "option" | "vec" => {
                self.expect(b'<')?;
                let inner = Box::new(self.ty()?);
                self.expect(b'>')?;
                if w == "option" {
                    Ty::Option(inner)
                } else {
                    Ty::Vec(inner)
                }
            }
            "enum" => {
                self.expect(b'{')?;
                let mut variants = Vec::new();
                loop {
                    let name = self.word()?;
                    let fields = if self.eat(b'(') {
                        let f = self.fields(Some(b')'))?;
                        self.expect(b')')?;
                        f
                    } else {
                        Vec::new()
                    };
                    variants.push((name, fields));
                    if !self.eat(b',') {
                        break;
                    }
                }
                self.expect(b'}')?;
                Ty::Enum(variants)
            }
            other => bail!(
                "--returns: unknown type `{other}` ({PRIMITIVES}, option<T>, vec<T>, (T, ...), enum{{A, B(T, ...)}})"
            ),
        })
    }
}

/// Decodes `bytes` as `ty`, all of them. Integers up to 32 bits become JSON numbers; 64 and 128
/// bits become decimal strings (like amounts in the RPC).
pub fn decode(ty: &Ty, bytes: &[u8]) -> anyhow::Result<Value> {
    let mut s = bytes;
    let v = value(ty, &mut s)?;
    if !s.is_empty() {
        bail!("the return value has {} bytes left after decoding it", s.len());
    }
    Ok(v)
}

fn d<T: Decode>(s: &mut &[u8], what: &str) -> anyhow::Result<T> {
    T::decode(s).map_err(|e| anyhow!("the return value does not decode as {what}: {e}"))
}

fn value(ty: &Ty, s: &mut &[u8]) -> anyhow::Result<Value> {
    Ok(match ty {
        Ty::Uint(8) => json!(d::<u8>(s, "u8")?),
        Ty::Uint(16) => json!(d::<u16>(s, "u16")?),
        Ty::Uint(32) => json!(d::<u32>(s, "u32")?),
        Ty::Uint(64) => json!(d::<u64>(s, "u64")?.to_string()),
        Ty::Uint(_) => json!(d::<u128>(s, "u128")?.to_string()),
        Ty::Bool => json!(d::<bool>(s, "bool")?),
        Ty::Str => json!(d::<String>(s, "string")?),
        Ty::Address => json!(d::<Address>(s, "address")?.to_string()),
        Ty::Hash => json!(hex0x(&d::<[u8; 32]>(s, "hash")?)),
        Ty::Bytes => json!(hex0x(&d::<Vec<u8>>(s, "bytes")?)),
        Ty::Option(inner) => match d::<u8>(s, "option")? {
            0 => Value::Null,
            1 => value(inner, s)?,
            b => bail!("the return value does not decode as option: tag {b}"),
        },
        Ty::Vec(inner) => {
            let n = d::<Compact<u32>>(s, "vec length")?.0 as usize;
            // Each element takes at least a byte, except unit-like ones; bound the preallocation.
            let mut out = Vec::with_capacity(n.min(s.len()));
            for _ in 0..n {
                out.push(value(inner, s)?);
            }
            Value::Array(out)
        }
        Ty::Tuple(fields) => fields_value(fields, s)?,
        Ty::Enum(variants) => {
            let i = d::<u8>(s, "enum")? as usize;
            let (name, fields) = variants.get(i).ok_or_else(|| {
                anyhow!(
                    "the return value has enum variant {i}; the type lists {}",
                    variants.len()
                )
            })?;
            if fields.is_empty() {
                json!(name)
            } else {
                json!({ name.clone(): fields_value(fields, s)? })
            }
        }
    })
}

/// Named fields become an object, unnamed ones an array.
fn fields_value(fields: &[Field], s: &mut &[u8]) -> anyhow::Result<Value> {
    if fields.iter().all(|f| f.name.is_some()) && !fields.is_empty() {
        let mut m = Map::new();
        for f in fields {
            m.insert(f.name.clone().unwrap_or_default(), value(&f.ty, s)?);
        }
        Ok(Value::Object(m))
    } else {
        fields
            .iter()
            .map(|f| value(&f.ty, s))
            .collect::<anyhow::Result<_>>()
            .map(Value::Array)
    }
}

/// Human-readable form: an object prints as `name: value` lines, everything else inline.
pub fn display(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}: {}", inline(v)))
            .collect::<Vec<_>>()
            .join("\n"),
        other => inline(other),
    }
}

fn inline(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k}: {}", inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_scale_codec::Encode;

    fn show(spec: &str, bytes: &[u8]) -> anyhow::Result<String> {
        Ok(display(&decode(&parse(spec)?, bytes)?))
    }

    #[test]
    fn primitives_decode_as_before() {
        assert_eq!(show("u128", &5u128.encode()).unwrap(), "5");
        assert_eq!(show("u32", &7u32.encode()).unwrap(), "7");
        assert_eq!(show("bool", &true.encode()).unwrap(), "true");
        assert_eq!(show("string", &"hi".to_string().encode()).unwrap(), "hi");
        assert_eq!(show("bytes", &vec![1u8, 2].encode()).unwrap(), "0x0102");
        let a = Address([7; 32]);
        assert_eq!(show("address", &a.encode()).unwrap(), a.to_string());
    }

    #[test]
    fn structs_options_vecs_and_enums() {
        let bytes = (3u64, 500u128, vec![(0u64, 2u32), (5, 1)]).encode();
        assert_eq!(
            show("id=u64, pot=u128, ranges=vec<(u64,u32)>", &bytes).unwrap(),
            "id: 3\npot: 500\nranges: [[0, 2], [5, 1]]"
        );
        assert_eq!(
            show("option<address>", &Option::<Address>::None.encode()).unwrap(),
            "none"
        );
        assert_eq!(show("u64,u32", &(1u64, 2u32).encode()).unwrap(), "[1, 2]");
        #[derive(Encode)]
        enum E {
            _A,
            B(u32, u128),
        }
        let ty = "enum{A, B(n=u32, amount=u128)}";
        assert_eq!(show(ty, &E::B(4, 9).encode()).unwrap(), "B: {n: 4, amount: 9}");
        assert_eq!(show(ty, &E::_A.encode()).unwrap(), "A");
        assert_eq!(
            decode(&parse(ty).unwrap(), &E::B(4, 9).encode()).unwrap(),
            json!({"B": {"n": 4, "amount": "9"}})
        );
    }

    #[test]
    fn bad_specs_and_bad_bytes_say_what_is_wrong() {
        let e = parse("u64,float").unwrap_err().to_string();
        assert!(e.contains("unknown type `float`"), "{e}");
        let e = parse("option<u64").unwrap_err().to_string();
        assert!(e.contains("expected `>`"), "{e}");
        let e = parse("vec<()>").unwrap_err().to_string();
        assert!(e.contains("empty tuple"), "{e}");
        let e = parse("u64 u64").unwrap_err().to_string();
        assert!(e.contains("unexpected"), "{e}");
        let e = show("u64", &[1, 2]).unwrap_err().to_string();
        assert!(e.contains("does not decode as u64"), "{e}");
        let e = show("u8", &[1, 2]).unwrap_err().to_string();
        assert!(e.contains("1 bytes left"), "{e}");
        let e = show("enum{A}", &[3]).unwrap_err().to_string();
        assert!(e.contains("variant 3"), "{e}");
        // A huge claimed length fails on the missing bytes, without allocating for it.
        let e = show("vec<u64>", &Compact(u32::MAX).encode()).unwrap_err().to_string();
        assert!(e.contains("does not decode"), "{e}");
    }
}
