//! `asyncapi!("path", option = value, ...)`.

use std::path::{Path, PathBuf};

use asyncapi_codegen::{expand_file, Settings};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::{LitStr, Token};

use crate::timings::Timings;

struct Input {
    path: LitStr,
    settings: Settings,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input.error("expected the path of an AsyncAPI document, e.g. `asyncapi!(\"specs/service.yaml\")`"));
        }
        let path: LitStr = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "expected a string literal with the path of an AsyncAPI document, relative to the crate's Cargo.toml, e.g. `asyncapi!(\"specs/service.yaml\")`")
        })?;
        let mut settings = Settings::default();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let name: syn::Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match name.to_string().as_str() {
                "runtime" => {
                    let v: LitStr = input.parse().map_err(|e| {
                        syn::Error::new(e.span(), "`runtime` takes a string literal with the path of the runtime crate, e.g. `runtime = \"::my_facade::asyncapi_runtime\"`")
                    })?;
                    settings.runtime_path = v.value();
                }
                other => {
                    return Err(syn::Error::new(
                        name.span(),
                        format!("unknown option `{other}`; `asyncapi!` accepts: `runtime = \"path::to::asyncapi_runtime\"`"),
                    ))
                }
            }
        }
        Ok(Input { path, settings })
    }
}

pub fn expand(input: TokenStream, mut timings: Option<&mut Timings>) -> TokenStream {
    let input = match syn::parse2::<Input>(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let span = input.path.span();
    let written = input.path.value();
    if let Some(t) = timings.as_deref_mut() {
        t.document(&written);
        t.phase("parsing the input");
    }
    if Path::new(&written).is_absolute() {
        return error(span, &format!("the document path `{written}` is absolute; write it relative to the crate's Cargo.toml so the crate builds on any machine"));
    }
    let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return error(span, "CARGO_MANIFEST_DIR is not set: build with cargo");
    };
    let manifest_dir = PathBuf::from(manifest_dir);
    let path = manifest_dir.join(&written);
    // Messages name files relative to the crate, as the user wrote them.
    let shown = |d: &asyncapi_codegen::Diagnostic| {
        let mut d = d.clone();
        if let Ok(rel) = d.location.file.strip_prefix(&manifest_dir) {
            d.location.file = rel.to_path_buf();
        }
        d.to_string()
    };
    let expanded = expand_file(&path, &input.settings);
    if let Some(t) = timings.as_deref_mut() {
        t.phase("expand_file");
    }
    let out = match expanded {
        Ok(expansion) => {
            // `include_bytes!` makes cargo rebuild when the document or a referenced file changes.
            let tracked = expansion
                .files
                .iter()
                .filter_map(|f| std::fs::canonicalize(f).ok())
                .map(|f| {
                    let f = f.display().to_string();
                    quote! { const _: &[u8] = ::core::include_bytes!(#f); }
                });
            let warnings = expansion
                .warnings
                .iter()
                .enumerate()
                .map(|(i, w)| warning(span, i, &shown(w)));
            let tokens = expansion.tokens;
            quote! {
                #(#tracked)*
                #(#warnings)*
                #tokens
            }
        }
        Err(diagnostics) => {
            let errors = diagnostics.0.iter().map(|d| error(span, &shown(d)));
            quote! { #(#errors)* }
        }
    };
    if let Some(t) = timings {
        t.phase("assembling the output");
    }
    out
}

fn error(span: Span, message: &str) -> TokenStream {
    quote_spanned! {span=> ::core::compile_error!(#message); }
}

/// Stable Rust has no proc-macro warnings: a use of a deprecated item carries the text.
fn warning(span: Span, index: usize, message: &str) -> TokenStream {
    let name = quote::format_ident!("ASYNCAPI_WARNING_{}", index);
    let note = format!("asyncapi: {message}");
    quote_spanned! {span=>
        const _: () = {
            #[deprecated(note = #note)]
            #[allow(non_upper_case_globals)]
            const #name: () = ();
            #name
        };
    }
}
