//! Names from the document as Rust identifiers, made unique, and documentation from
//! its texts.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::TokenStream;
use quote::quote;
/// Names the expansion itself uses at the top level.
pub(super) const RESERVED: &[&str] = &[
    "Application",
    "Client",
    "Box",
    "Option",
    "Vec",
    "String",
    "Result",
    "Self",
];

/// Rust keywords that cannot be field names (`r#` idents read badly in user code).
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// A doc attribute per paragraph line.
pub fn doc_attrs(parts: &[Option<&str>]) -> TokenStream {
    let mut lines: Vec<String> = Vec::new();
    for text in parts.iter().flatten() {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(String::new());
        }
        lines.extend(text.lines().map(|l| format!(" {}", l.trim_end())));
    }
    let lines = lines
        .iter()
        .map(|l| if l.trim().is_empty() { "" } else { l.as_str() });
    quote! { #( #[doc = #lines] )* }
}

/// The `#[serde(crate = "...")]` path: serde as re-exported by the runtime, so user
/// crates need no serde dependency of their own.
pub fn serde_crate_path(runtime: &TokenStream) -> String {
    runtime_item_path(runtime, "serde")
}

/// `item` under the runtime's path, as the string serde's attributes take.
pub(super) fn runtime_item_path(runtime: &TokenStream, item: &str) -> String {
    format!("{}::{item}", runtime.to_string().replace(' ', ""))
}

thread_local! {
    /// Names converted so far, per case: a document repeats property and type names,
    /// and case conversion is slow in the debug build a proc macro runs as.
    static IDENT_TEXTS: RefCell<[HashMap<String, String>; 2]> = RefCell::default();
}

/// `convert(raw)`, remembered (`case` picks the table).
fn memoized(case: usize, raw: &str, convert: fn(&str) -> String) -> String {
    IDENT_TEXTS.with(|tables| {
        if let Some(s) = tables.borrow()[case].get(raw) {
            return s.clone();
        }
        let s = convert(raw);
        let mut tables = tables.borrow_mut();
        // A bound on what a long-lived compiler process keeps.
        if tables[case].len() >= 100_000 {
            tables[case].clear();
        }
        tables[case].insert(raw.to_owned(), s.clone());
        s
    })
}

/// A valid Rust identifier in UpperCamelCase for a name from the document.
pub fn type_ident_text(raw: &str) -> String {
    memoized(0, raw, convert_type_ident)
}

/// A valid Rust identifier in snake_case for a name from the document.
pub fn field_ident_text(raw: &str) -> String {
    memoized(1, raw, convert_field_ident)
}

fn convert_type_ident(raw: &str) -> String {
    let mut s = raw.to_upper_camel_case();
    s.retain(|c| c.is_ascii_alphanumeric() || c == '_');
    // Dropping a non-ASCII capital can leave a lower-case start (`éfn` → `fn`), which
    // may be a keyword or a module's name.
    if let Some(first) = s.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    if s.is_empty() {
        s = "Unnamed".to_owned();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s = format!("T{s}");
    }
    if s == "Self" {
        s = "SelfType".to_owned();
    }
    s
}

fn convert_field_ident(raw: &str) -> String {
    let mut s: String = raw
        .to_snake_case()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let s = s.trim_matches('_').to_owned();
    let s = if s.is_empty() { "value".to_owned() } else { s };
    let s = if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("n{s}")
    } else {
        s
    };
    if KEYWORDS.contains(&s.as_str()) {
        format!("{s}_")
    } else {
        s
    }
}

/// `name`, or `name` + `separator` + the first number from 2 that makes it unused.
pub(crate) fn unique_with(name: String, separator: &str, taken: &mut HashSet<String>) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    (2..)
        .map(|i| format!("{name}{separator}{i}"))
        .find(|n| taken.insert(n.clone()))
        .unwrap_or(name)
}

/// A unique type or variant name (`Name2`, `Name3`, ...).
pub(crate) fn unique(name: String, taken: &mut HashSet<String>) -> String {
    unique_with(name, "", taken)
}

/// A unique field name (`name_2`, `name_3`, ...).
pub(super) fn unique_field(name: String, taken: &mut HashSet<String>) -> String {
    unique_with(name, "_", taken)
}
