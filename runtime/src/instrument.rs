//! Deterministic stack-height limit, injected into every module at deploy time.
//!
//! wasmtime's `max_wasm_stack` counts native bytes, which depend on the compiler and the machine, so
//! a deep recursion could fail on one node and succeed on another. Instead every call site of a
//! defined function is wrapped so that a mutable global (`__tutti_stack`, exported) grows by the
//! callee's frame cost (params + locals + peak operand stack + [`FRAME_OVERHEAD`] slots, measured
//! by validation) before the call and shrinks after it. When it would pass [`STACK_LIMIT`] the
//! module executes `unreachable`, and the runtime reports a stack overflow because the global is
//! above the limit. `call_indirect` is charged the largest frame in the module. Calls to host
//! functions are not counted: they never re-enter wasm.
//!
//! The limit is chosen so that the native stack it implies stays far below wasmtime's
//! `max_wasm_stack`, so the deterministic check always fires first (a test checks this with large
//! and small frames).
//!
//! Every mutable global of the module is also exported (as [`global_export`]), so the runtime can
//! put it back to its initial value when it reuses an instance for the next call.
//!
//! Every `memory.grow` is preceded by a call to the host function [`GROW_IMPORT`] (imported after
//! the module's own imports; every later function index moves up by one), which charges the
//! pages asked for at `GasSchedule::memory_page` before the memory grows: wasmtime's own
//! per-page fuel for `memory.grow` is at most 255, far below what a grown page costs the node.
//!
//! [`FRAME_OVERHEAD`]: crate::validate::FRAME_OVERHEAD

use wasm_encoder::{
    BlockType, ConstExpr, EntityType, ExportKind, GlobalType, Instruction, Module, SectionId, ValType,
    reencode::{Error as ReencodeError, Reencode, utils},
};

use crate::validate::ModuleInfo;

/// Most stack slots the frames of one call stack may add up to.
pub const STACK_LIMIT: u32 = 16 * 1024;

/// Name of the exported stack-height global.
pub const STACK_GLOBAL_EXPORT: &str = "__tutti_stack";

/// The host function (module `tutti_v1`, type `(i32) -> i32`) called with the operand of every
/// `memory.grow`: it charges the pages and returns them. Contracts cannot import it themselves
/// (validation admits only the host API's functions).
pub const GROW_IMPORT: &str = "__tutti_memory_grow";

struct Injector<'a> {
    info: &'a ModuleInfo,
    global: u32,
    max_cost: u32,
    global_done: bool,
    /// The type index of [`GROW_IMPORT`] (once the type section is read).
    grow_type: Option<u32>,
    import_done: bool,
}

impl Injector<'_> {
    /// The function index of [`GROW_IMPORT`]: right after the module's own imports.
    fn grow_func(&self) -> u32 {
        self.info.imported_functions
    }

    fn grow_import(&self, imports: &mut wasm_encoder::ImportSection) {
        let ty = self.grow_type.expect("the type section comes before the imports");
        imports.import("tutti_v1", GROW_IMPORT, EntityType::Function(ty));
    }

    fn cost_of(&self, func: u32) -> Option<u32> {
        func.checked_sub(self.info.imported_functions)
            .and_then(|i| self.info.frame_costs.get(i as usize).copied())
    }

    fn our_global(&self) -> (GlobalType, ConstExpr) {
        (
            GlobalType {
                val_type: ValType::I32,
                mutable: true,
                shared: false,
            },
            ConstExpr::i32_const(0),
        )
    }
}

fn push_enter(f: &mut wasm_encoder::Function, g: u32, cost: u32) {
    f.instruction(&Instruction::GlobalGet(g));
    f.instruction(&Instruction::I32Const(cost as i32));
    f.instruction(&Instruction::I32Add);
    f.instruction(&Instruction::GlobalSet(g));
    f.instruction(&Instruction::GlobalGet(g));
    f.instruction(&Instruction::I32Const(STACK_LIMIT as i32));
    f.instruction(&Instruction::I32GtU);
    f.instruction(&Instruction::If(BlockType::Empty));
    f.instruction(&Instruction::Unreachable);
    f.instruction(&Instruction::End);
}

fn push_leave(f: &mut wasm_encoder::Function, g: u32, cost: u32) {
    f.instruction(&Instruction::GlobalGet(g));
    f.instruction(&Instruction::I32Const(cost as i32));
    f.instruction(&Instruction::I32Sub);
    f.instruction(&Instruction::GlobalSet(g));
}

impl Reencode for Injector<'_> {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, ReencodeError<Self::Error>> {
        Ok(if func >= self.info.imported_functions {
            func + 1
        } else {
            func
        })
    }

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        let count = section.count();
        utils::parse_type_section(self, types, section)?;
        types.ty().function([ValType::I32], [ValType::I32]);
        self.grow_type = Some(count);
        Ok(())
    }

    fn parse_import_section(
        &mut self,
        imports: &mut wasm_encoder::ImportSection,
        section: wasmparser::ImportSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        utils::parse_import_section(self, imports, section)?;
        self.grow_import(imports);
        self.import_done = true;
        Ok(())
    }

    fn parse_custom_section(
        &mut self,
        module: &mut Module,
        section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        // Function names would be off by one after the new import; traps carry no backtrace.
        if section.name() == "name" {
            return Ok(());
        }
        utils::parse_custom_section(self, module, section)
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        let mut f = self.new_function_with_parsed_locals(&func)?;
        let mut reader = func.get_operators_reader()?;
        while !reader.eof() {
            let op = reader.read()?;
            let cost = match &op {
                wasmparser::Operator::Call { function_index } => self.cost_of(*function_index),
                wasmparser::Operator::CallIndirect { .. } => Some(self.max_cost),
                wasmparser::Operator::MemoryGrow { .. } => {
                    f.instruction(&Instruction::Call(self.grow_func()));
                    None
                }
                _ => None,
            };
            let ins = self.instruction(op)?;
            match cost {
                Some(c) => {
                    push_enter(&mut f, self.global, c);
                    f.instruction(&ins);
                    push_leave(&mut f, self.global, c);
                }
                None => {
                    f.instruction(&ins);
                }
            }
        }
        code.function(&f);
        Ok(())
    }

    fn parse_global_section(
        &mut self,
        globals: &mut wasm_encoder::GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        utils::parse_global_section(self, globals, section)?;
        let (ty, init) = self.our_global();
        globals.global(ty, &init);
        self.global_done = true;
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut wasm_encoder::ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        utils::parse_export_section(self, exports, section)?;
        exports.export(STACK_GLOBAL_EXPORT, ExportKind::Global, self.global);
        for &g in &self.info.mutable_globals {
            exports.export(&global_export(g), ExportKind::Global, g);
        }
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), ReencodeError<Self::Error>> {
        // A module without an import section gets one holding just the grow import, in its
        // place (right after the type section, which validation guarantees exists: the module
        // exports functions).
        if !self.import_done && self.grow_type.is_some() && before != Some(SectionId::Import) {
            let mut imports = wasm_encoder::ImportSection::new();
            self.grow_import(&mut imports);
            module.section(&imports);
            self.import_done = true;
        }
        // A module without a global section gets one holding just our global, in its place
        // (right before the export section, which validation guarantees exists).
        if !self.global_done && before == Some(SectionId::Export) {
            let mut globals = wasm_encoder::GlobalSection::new();
            let (ty, init) = self.our_global();
            globals.global(ty, &init);
            module.section(&globals);
            self.global_done = true;
        }
        Ok(())
    }
}

/// The name under which the module's mutable global `index` is exported, so the runtime can
/// restore it when it reuses an instance (validation keeps contracts off the `__tutti` prefix).
pub fn global_export(index: u32) -> String {
    format!("__tutti_global_{index}")
}

/// Injects the stack-height limit and the memory-growth charge into a validated module.
pub fn instrument(wasm: &[u8], info: &ModuleInfo) -> Result<Vec<u8>, String> {
    let mut inj = Injector {
        info,
        global: info.globals,
        max_cost: info.frame_costs.iter().copied().max().unwrap_or(0),
        global_done: false,
        grow_type: None,
        import_done: false,
    };
    let mut module = Module::new();
    inj.parse_core_module(&mut module, wasmparser::Parser::new(0), wasm)
        .map_err(|e| format!("instrumentation failed: {e}"))?;
    Ok(module.finish())
}
