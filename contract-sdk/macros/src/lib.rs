//! The `#[contract]` attribute of tutti-sdk. See the tutti-sdk crate docs for the method kinds.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Ts;
use quote::{format_ident, quote};
use syn::{Attribute, FnArg, ImplItem, ItemImpl, Pat, Type, parse_macro_input, spanned::Spanned};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Init,
    View,
    Call,
    Callback,
}

struct Method {
    name: syn::Ident,
    kind: Kind,
    payable: bool,
    /// Parameter names and types (not `#[callback_result]` ones).
    params: Vec<(String, Type)>,
    /// The return type, if not `()`.
    returns: Option<Type>,
}

/// `Name: Type` in `#[contract(events(...))]`.
struct EventDecl {
    name: syn::Ident,
    ty: Type,
}

impl syn::parse::Parse for EventDecl {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        let name: syn::Ident = input.parse()?;
        input.parse::<syn::Token![:]>()?;
        let ty: Type = input.parse()?;
        Ok(EventDecl { name, ty })
    }
}

/// The attribute's arguments: nothing, or `events(Name: Type, ...)`.
fn parse_events(attr: Ts) -> syn::Result<Vec<EventDecl>> {
    if attr.is_empty() {
        return Ok(Vec::new());
    }
    let list: syn::MetaList = syn::parse2(attr)?;
    if !list.path.is_ident("events") {
        return Err(syn::Error::new(
            list.path.span(),
            "#[contract] takes only `events(Name: PayloadType, ...)`",
        ));
    }
    let decls = list.parse_args_with(syn::punctuated::Punctuated::<EventDecl, syn::Token![,]>::parse_terminated)?;
    Ok(decls.into_iter().collect())
}

/// Marks the `impl` block whose `#[init]`, `#[view]`, `#[call]` and `#[callback]` functions are the
/// contract's methods. In wasm builds each becomes an exported function that checks the method
/// rules, decodes the SCALE-encoded parameter tuple, calls the function and returns its
/// SCALE-encoded result. Natively, the type gets `abi()`: its interface, with the events listed
/// as `#[contract(events(Name: PayloadType, ...))]`.
#[proc_macro_attribute]
pub fn contract(attr: TokenStream, item: TokenStream) -> TokenStream {
    let events = match parse_events(Ts::from(attr)) {
        Ok(e) => e,
        Err(e) => return e.to_compile_error().into(),
    };
    let mut imp = parse_macro_input!(item as ItemImpl);
    match expand(&mut imp, &events) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// A method's kind and options: (kind, payable, public callback).
fn method_kind(attrs: &mut Vec<Attribute>) -> syn::Result<Option<(Kind, bool, bool)>> {
    let mut found = None;
    let mut err = None;
    attrs.retain(|a| {
        let kind = if a.path().is_ident("init") {
            Kind::Init
        } else if a.path().is_ident("view") {
            Kind::View
        } else if a.path().is_ident("call") {
            Kind::Call
        } else if a.path().is_ident("callback") {
            Kind::Callback
        } else {
            return true;
        };
        let (mut payable, mut public) = (false, false);
        if let syn::Meta::List(list) = &a.meta {
            let options =
                list.parse_args_with(syn::punctuated::Punctuated::<syn::Ident, syn::Token![,]>::parse_terminated);
            match options {
                Ok(ids) => {
                    for id in ids {
                        if id == "payable" && kind != Kind::View {
                            payable = true;
                        } else if id == "public" && kind == Kind::Callback {
                            public = true;
                        } else {
                            err = Some(syn::Error::new(
                                id.span(),
                                "the options are `payable` (not for views) and, for callbacks, `public`",
                            ));
                        }
                    }
                }
                Err(e) => err = Some(e),
            }
        }
        if found.is_some() {
            err = Some(syn::Error::new(a.span(), "a method has exactly one kind attribute"));
        }
        found = Some((kind, payable, public));
        false
    });
    match err {
        Some(e) => Err(e),
        None => Ok(found),
    }
}

fn expand(imp: &mut ItemImpl, events: &[EventDecl]) -> syn::Result<Ts> {
    let self_ty = imp.self_ty.clone();
    let mut methods = Vec::new();
    let mut exports = Vec::new();
    for item in imp.items.iter_mut() {
        let ImplItem::Fn(f) = item else { continue };
        let Some((kind, payable, public)) = method_kind(&mut f.attrs)? else {
            continue;
        };
        let private = kind == Kind::Callback && !public;
        if private {
            // Natively (unit tests call the method itself) the rule is the method's first
            // statement; in wasm the export checks it before it decodes anything.
            let method = f.sig.ident.to_string();
            f.block.stmts.insert(
                0,
                syn::parse_quote! {
                    #[cfg(not(target_arch = "wasm32"))]
                    ::tutti_sdk::__private::only_self(#method);
                },
            );
        }
        if let Some(FnArg::Receiver(r)) = f.sig.inputs.first() {
            return Err(syn::Error::new(
                r.span(),
                "contract methods take no `self`: keep state in storage handles",
            ));
        }
        let name = f.sig.ident.clone();
        let mut arg_names = Vec::new();
        let mut arg_tys: Vec<Type> = Vec::new();
        let mut params: Vec<(String, Type)> = Vec::new();
        let mut call_args = Vec::new();
        let mut callbacks = Vec::new();
        let mut cb_index = 0u32;
        for (i, input) in f.sig.inputs.iter_mut().enumerate() {
            let FnArg::Typed(pt) = input else { continue };
            let is_cb = pt.attrs.iter().any(|a| a.path().is_ident("callback_result"));
            pt.attrs.retain(|a| !a.path().is_ident("callback_result"));
            let var = match &*pt.pat {
                Pat::Ident(id) => format_ident!("__arg_{}", id.ident),
                _ => format_ident!("__arg_{}", i),
            };
            if is_cb {
                if kind != Kind::Callback {
                    return Err(syn::Error::new(
                        pt.span(),
                        "#[callback_result] is only allowed in #[callback] methods",
                    ));
                }
                let ty = &pt.ty;
                let idx = cb_index;
                cb_index += 1;
                callbacks.push(quote! {
                    let #var: #ty = {
                        let r = ::tutti_sdk::__private::callback_result(#idx);
                        r
                    };
                });
            } else {
                let pname = match &*pt.pat {
                    Pat::Ident(id) => id.ident.to_string(),
                    _ => format!("arg{i}"),
                };
                params.push((pname, (*pt.ty).clone()));
                arg_names.push(var.clone());
                arg_tys.push((*pt.ty).clone());
            }
            call_args.push(var);
        }
        let name_str = name.to_string();
        let init = kind == Kind::Init;
        let only_self = private.then(|| quote!(::tutti_sdk::__private::only_self(#name_str);));
        exports.push(quote! {
            #[allow(unsafe_code)]
            #[unsafe(no_mangle)]
            pub extern "C" fn #name() {
                #only_self
                ::tutti_sdk::__private::enter(#name_str, #payable, #init);
                let (#(#arg_names,)*): (#(#arg_tys,)*) = ::tutti_sdk::__private::args(#name_str);
                #(#callbacks)*
                let __result = <#self_ty>::#name(#(#call_args),*);
                ::tutti_sdk::__private::ret(&__result);
            }
        });
        let returns = match &f.sig.output {
            syn::ReturnType::Default => None,
            syn::ReturnType::Type(_, ty) => Some((**ty).clone()),
        };
        methods.push(Method {
            name,
            kind,
            payable,
            params,
            returns,
        });
    }
    if methods.is_empty() {
        return Err(syn::Error::new(
            imp.span(),
            "a contract needs at least one method marked #[init], #[view], #[call] or #[callback]",
        ));
    }
    let names: Vec<String> = methods.iter().map(|m| m.name.to_string()).collect();
    let payable: Vec<bool> = methods.iter().map(|m| m.payable).collect();
    let views: Vec<bool> = methods.iter().map(|m| m.kind == Kind::View).collect();
    let abi_methods = methods.iter().map(|m| {
        let name = m.name.to_string();
        let payable = m.payable;
        let kind = match m.kind {
            Kind::Init => quote!(::tutti_sdk::abi::Kind::Init),
            Kind::View => quote!(::tutti_sdk::abi::Kind::View),
            Kind::Call => quote!(::tutti_sdk::abi::Kind::Call),
            Kind::Callback => quote!(::tutti_sdk::abi::Kind::Callback),
        };
        let pnames = m.params.iter().map(|(n, _)| n);
        let ptys = m.params.iter().map(|(_, t)| t);
        let returns = match &m.returns {
            Some(t) => quote!(Some(::tutti_sdk::abi::meta::<#t>())),
            None => quote!(None),
        };
        quote! {
            b.method(#name, #kind, #payable, &[#((#pnames, ::tutti_sdk::abi::meta::<#ptys>())),*], #returns);
        }
    });
    let abi_events = events.iter().map(|e| {
        let name = e.name.to_string();
        let ty = &e.ty;
        quote!(b.event(#name, ::tutti_sdk::abi::meta::<#ty>());)
    });
    Ok(quote! {
        #imp

        impl #self_ty {
            /// The contract's methods: (name, payable, view).
            pub const METHODS: &'static [(&'static str, bool, bool)] = &[#((#names, #payable, #views)),*];
        }

        /// The interface of this crate's contract (read by `tutti contract build`, which expects
        /// the `#[contract]` block at the crate root).
        #[cfg(not(target_arch = "wasm32"))]
        #[doc(hidden)]
        pub fn __tutti_abi() -> ::tutti_sdk::abi::Abi {
            <#self_ty>::abi()
        }

        #[cfg(not(target_arch = "wasm32"))]
        impl #self_ty {
            /// The contract's interface: methods, events and their types.
            pub fn abi() -> ::tutti_sdk::abi::Abi {
                let mut b = ::tutti_sdk::abi::Builder::new(env!("CARGO_PKG_NAME"), ::tutti_sdk::VERSION);
                #(#abi_methods)*
                #(#abi_events)*
                b.finish()
            }
        }

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #(#exports)*
        };
    })
}
