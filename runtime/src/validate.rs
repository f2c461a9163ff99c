//! Upload validation: every rule a contract module must follow, checked with wasmparser before
//! anything is stored or compiled. A rejected module gets a [`ValidationError`] naming the rule.
//!
//! Rules: size cap; wasm features limited to the deterministic set (MVP, mutable globals, sign
//! extension, saturating float-to-int, multi-value, bulk memory, reference types; no SIMD, threads,
//! memory64, multi-memory, tail calls, GC or exceptions); exactly one defined memory within the page
//! cap; no start function; imports only functions of the host module `tutti_v1` with the right
//! signatures; an exported memory and at least one exported method; every exported function takes
//! and returns nothing; caps on functions, locals, params, globals, tables and data segments.
//!
//! Floats are allowed: wasmtime runs with NaN canonicalization, which makes every float operator
//! deterministic across machines.
//!
//! Validation also measures each defined function's frame (params + locals + peak operand stack),
//! which the deterministic stack-height limit in [`crate::instrument`] charges per call.

use std::collections::BTreeSet;
use wasmparser::{
    ExternalKind, FuncType, FunctionBody, OperatorsReader, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures,
};

use crate::host::HOST_FUNCTIONS;

/// Limits a module must respect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted module, bytes.
    pub max_code_size: usize,
    /// Most 64 KiB pages of linear memory (initial and at run time).
    pub max_memory_pages: u64,
    /// Most defined functions.
    pub max_functions: u32,
    /// Most params + locals in one function.
    pub max_locals: u32,
    /// Most params of one function type.
    pub max_params: usize,
    /// Most globals.
    pub max_globals: u32,
    /// Most table elements (initial and maximum).
    pub max_table_elements: u64,
    /// Most data segments.
    pub max_data_segments: u32,
    /// Largest function body, bytes.
    pub max_function_size: usize,
    /// Most exports.
    pub max_exports: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_code_size: 2 * 1024 * 1024,
            max_memory_pages: 256,
            max_functions: 20_000,
            max_locals: 2_048,
            max_params: 32,
            max_globals: 1_024,
            max_table_elements: 10_000,
            max_data_segments: 1_024,
            max_function_size: 256 * 1024,
            max_exports: 1_024,
        }
    }
}

/// A rule the module broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Over the size cap.
    #[error("module is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Module size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// Not well-formed or uses a disabled feature.
    #[error("invalid wasm: {0}")]
    Malformed(String),
    /// No memory, or more than one.
    #[error("the module must define exactly one memory (found {0})")]
    MemoryCount(u32),
    /// Memory imported instead of defined.
    #[error("memory must be defined by the module, not imported")]
    ImportedMemory,
    /// Memory over the page cap.
    #[error("memory declares {pages} pages, over the limit of {limit}")]
    MemoryTooLarge {
        /// Declared pages.
        pages: u64,
        /// The cap.
        limit: u64,
    },
    /// A start function would run before any gas is charged.
    #[error("start functions are not allowed")]
    StartFunction,
    /// An import outside the host API.
    #[error("unknown import `{module}.{name}` (only functions of module `tutti_v1` are provided)")]
    UnknownImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// A host import with the wrong signature.
    #[error("import `tutti_v1.{name}` has type {found}, expected {expected}")]
    ImportSignature {
        /// Import name.
        name: String,
        /// Declared type.
        found: String,
        /// The host function's type.
        expected: String,
    },
    /// A required export is missing.
    #[error("missing export: {0}")]
    MissingExport(&'static str),
    /// An exported function that is not `() -> ()`.
    #[error("exported function `{0}` must take no parameters and return nothing (arguments come from `input`)")]
    ExportSignature(String),
    /// An export name that the runtime reserves.
    #[error("export name `{0}` is reserved (names starting with `__tutti` belong to the runtime)")]
    ReservedExport(String),
    /// The embedded ABI (the `tutti:abi` custom section) is malformed, duplicated or too large.
    #[error("{0}")]
    Abi(String),
    /// Over one of the counted caps.
    #[error("{what}: {count} is over the limit of {limit}")]
    OverLimit {
        /// What was counted.
        what: &'static str,
        /// Found.
        count: u64,
        /// The cap.
        limit: u64,
    },
}

/// What validation learned about a module, used by instrumentation.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo {
    /// Number of imported functions (they come first in the function index space).
    pub imported_functions: u32,
    /// Frame cost of each defined function, in stack slots.
    pub frame_costs: Vec<u32>,
    /// Number of defined globals.
    pub globals: u32,
    /// Names of exported functions (the contract's methods).
    pub methods: BTreeSet<String>,
    /// Initial pages of the memory (instantiation is charged per page).
    pub initial_pages: u64,
    /// Indices of the mutable globals (all defined: globals cannot be imported).
    pub mutable_globals: Vec<u32>,
    /// Some function changes a table or a segment's state (`table.set`, `table.fill`,
    /// `table.copy`, `table.init`, `table.grow`, `elem.drop`, `memory.init`, `data.drop`): state
    /// the runtime does not restore, so its instances are never reused across calls.
    pub mutates_tables_or_segments: bool,
}

/// Slots charged per call on top of the callee's params, locals and operand stack: return address,
/// frame pointer and spill room.
pub const FRAME_OVERHEAD: u32 = 4;

/// The wasm features contracts may use.
pub fn features() -> WasmFeatures {
    WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::FLOATS
        | WasmFeatures::GC_TYPES
}

fn malformed(e: wasmparser::BinaryReaderError) -> ValidationError {
    ValidationError::Malformed(e.to_string())
}

fn over(what: &'static str, count: u64, limit: u64) -> Result<(), ValidationError> {
    if count > limit {
        Err(ValidationError::OverLimit { what, count, limit })
    } else {
        Ok(())
    }
}

fn type_string(t: &FuncType) -> String {
    let list = |v: &[ValType]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
    format!("({}) -> ({})", list(t.params()), list(t.results()))
}

/// Validates a module against the rules and limits; returns what instrumentation needs.
pub fn validate(wasm: &[u8], limits: &Limits) -> Result<ModuleInfo, ValidationError> {
    if wasm.len() > limits.max_code_size {
        return Err(ValidationError::TooLarge {
            size: wasm.len(),
            limit: limits.max_code_size,
        });
    }
    let mut validator = Validator::new_with_features(features());
    let mut info = ModuleInfo::default();
    let mut types: Vec<FuncType> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut memories = 0u32;
    let mut memory_exported = false;
    let mut exported_funcs: Vec<(String, u32)> = Vec::new();
    let mut allocs = wasmparser::FuncValidatorAllocations::default();

    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(malformed)?;
        let valid = validator.payload(&payload).map_err(malformed)?;
        match payload {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.map_err(malformed)?.into_types() {
                        match sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => {
                                over(
                                    "params of a function type",
                                    f.params().len() as u64,
                                    limits.max_params as u64,
                                )?;
                                types.push(f)
                            }
                            _ => return Err(ValidationError::Malformed("only function types are allowed".into())),
                        }
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for imp in reader.into_imports() {
                    let imp = imp.map_err(malformed)?;
                    let known = HOST_FUNCTIONS.iter().find(|h| h.name == imp.name);
                    match (imp.module, imp.ty, known) {
                        ("tutti_v1", TypeRef::Func(ti), Some(h)) => {
                            let t = types
                                .get(ti as usize)
                                .ok_or_else(|| ValidationError::Malformed("bad type index".into()))?;
                            if t.params() != h.params || t.results() != h.results {
                                return Err(ValidationError::ImportSignature {
                                    name: imp.name.to_string(),
                                    found: type_string(t),
                                    expected: type_string(&FuncType::new(
                                        h.params.iter().copied(),
                                        h.results.iter().copied(),
                                    )),
                                });
                            }
                            info.imported_functions += 1;
                            func_types.push(ti);
                        }
                        (_, TypeRef::Memory(_), _) => return Err(ValidationError::ImportedMemory),
                        (module, _, _) => {
                            return Err(ValidationError::UnknownImport {
                                module: module.to_string(),
                                name: imp.name.to_string(),
                            });
                        }
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                over("functions", u64::from(reader.count()), u64::from(limits.max_functions))?;
                for ti in reader {
                    func_types.push(ti.map_err(malformed)?);
                }
            }
            Payload::TableSection(reader) => {
                for t in reader {
                    let t = t.map_err(malformed)?;
                    over("table elements", t.ty.initial, limits.max_table_elements)?;
                    if let Some(max) = t.ty.maximum {
                        over("table maximum elements", max, limits.max_table_elements)?;
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    let m = m.map_err(malformed)?;
                    memories += 1;
                    info.initial_pages = m.initial;
                    // A larger declared maximum is fine: growth is capped at run time.
                    if m.initial > limits.max_memory_pages {
                        return Err(ValidationError::MemoryTooLarge {
                            pages: m.initial,
                            limit: limits.max_memory_pages,
                        });
                    }
                }
            }
            Payload::GlobalSection(reader) => {
                over("globals", u64::from(reader.count()), u64::from(limits.max_globals))?;
                info.globals = reader.count();
                for (i, g) in reader.into_iter().enumerate() {
                    if g.map_err(malformed)?.ty.mutable {
                        info.mutable_globals.push(i as u32);
                    }
                }
            }
            Payload::ExportSection(reader) => {
                over("exports", u64::from(reader.count()), u64::from(limits.max_exports))?;
                for e in reader {
                    let e = e.map_err(malformed)?;
                    if e.name.starts_with("__tutti") {
                        return Err(ValidationError::ReservedExport(e.name.to_string()));
                    }
                    match e.kind {
                        ExternalKind::Memory if e.name == "memory" => memory_exported = true,
                        ExternalKind::Func => exported_funcs.push((e.name.to_string(), e.index)),
                        _ => {}
                    }
                }
            }
            Payload::StartSection { .. } => return Err(ValidationError::StartFunction),
            Payload::DataSection(reader) => {
                over(
                    "data segments",
                    u64::from(reader.count()),
                    u64::from(limits.max_data_segments),
                )?;
            }
            Payload::CodeSectionEntry(body) => {
                let wasmparser::ValidPayload::Func(to_validate, _) = valid else {
                    return Err(ValidationError::Malformed("code entry without a function".into()));
                };
                let cost = validate_body(
                    to_validate,
                    &body,
                    limits,
                    &mut allocs,
                    &mut info.mutates_tables_or_segments,
                )?;
                info.frame_costs.push(cost);
            }
            _ => {}
        }
    }

    if memories != 1 {
        return Err(ValidationError::MemoryCount(memories));
    }
    // The ABI is optional; one that is there must be well-formed and bounded.
    tutti_abi::read(wasm).map_err(|e| ValidationError::Abi(e.to_string()))?;
    if !memory_exported {
        return Err(ValidationError::MissingExport(
            "memory (the linear memory exported as `memory`)",
        ));
    }
    if exported_funcs.is_empty() {
        return Err(ValidationError::MissingExport(
            "at least one method (an exported function)",
        ));
    }
    for (name, idx) in exported_funcs {
        let ti = func_types.get(idx as usize).copied().unwrap_or(u32::MAX);
        let ok = types
            .get(ti as usize)
            .is_some_and(|t| t.params().is_empty() && t.results().is_empty());
        if !ok || idx < info.imported_functions {
            return Err(ValidationError::ExportSignature(name));
        }
        info.methods.insert(name);
    }
    Ok(info)
}

fn validate_body(
    to_validate: wasmparser::FuncToValidate<wasmparser::ValidatorResources>,
    body: &FunctionBody<'_>,
    limits: &Limits,
    allocs: &mut wasmparser::FuncValidatorAllocations,
    mutates_tables_or_segments: &mut bool,
) -> Result<u32, ValidationError> {
    over(
        "function body bytes",
        body.range().len() as u64,
        limits.max_function_size as u64,
    )?;
    let mut fv = to_validate.into_validator(std::mem::take(allocs));
    let mut reader = body.get_binary_reader();
    fv.read_locals(&mut reader).map_err(malformed)?;
    over(
        "params and locals of a function",
        u64::from(fv.len_locals()),
        u64::from(limits.max_locals),
    )?;
    let mut ops = OperatorsReader::new(reader);
    let mut peak = 0u32;
    while !ops.eof() {
        let (op, offset) = ops.read_with_offset().map_err(malformed)?;
        fv.op(offset, &op).map_err(malformed)?;
        peak = peak.max(fv.operand_stack_height());
        use wasmparser::Operator as O;
        if matches!(
            op,
            O::TableSet { .. }
                | O::TableFill { .. }
                | O::TableCopy { .. }
                | O::TableInit { .. }
                | O::TableGrow { .. }
                | O::ElemDrop { .. }
                | O::MemoryInit { .. }
                | O::DataDrop { .. }
        ) {
            *mutates_tables_or_segments = true;
        }
    }
    ops.finish().map_err(malformed)?;
    let cost = fv.len_locals().saturating_add(peak).saturating_add(FRAME_OVERHEAD);
    *allocs = fv.into_allocations();
    Ok(cost)
}
