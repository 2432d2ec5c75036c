//! JSON Schema (the AsyncAPI Schema Object) to Rust types.
//!
//! Written for this crate rather than delegated to `typify`, because the cases typify
//! gets wrong matter here: 2.x `nullable`, `discriminator`, property and enum-value
//! name collisions, the same inline name in two messages, and constructs it panics on
//! (`not`, `if`/`then`/`else`, mixed-type enums, untitled inline objects). What cannot
//! be represented falls back to `serde_json::Value` with a doc comment saying why.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use serde_json::Value;

use crate::diagnostics::Report;
use crate::resolve::{field, field_of, ref_of, NodeId, Resolver, NULL};

/// A Rust type expression, with what the generator knows about it.
#[derive(Debug, Clone)]
pub struct Ty {
    pub tokens: TokenStream,
    /// The schema allows `null` (`nullable: true`, or `null` in a type list).
    pub nullable: bool,
    /// The generated struct or enum this is, if it is one (not an alias or std type).
    pub nominal: Option<String>,
    /// The JSON type, when the schema is a plain string.
    pub is_string: bool,
    /// Why the type is looser than the schema (a `serde_json::Value` fallback).
    pub note: Option<String>,
    /// A reference back to a type still being generated: a direct field of it must be
    /// boxed (containers are already indirect).
    pub recursive: bool,
}

impl Ty {
    /// The tokens for a direct field or variant: boxed when recursive.
    pub fn field_tokens(&self) -> TokenStream {
        let t = &self.tokens;
        if self.recursive {
            quote! { ::std::boxed::Box<#t> }
        } else {
            quote! { #t }
        }
    }
}

impl Ty {
    fn plain(tokens: TokenStream) -> Ty {
        Ty {
            tokens,
            nullable: false,
            nominal: None,
            is_string: false,
            note: None,
            recursive: false,
        }
    }
}

/// Names and definitions of every type generated for one document.
pub struct TypeSpace<'p> {
    /// The runtime's hidden module, `serde_json::Value` through it, and the derive attributes of
    /// generated types (plain, with `Default`, with `Eq, Hash, Copy`): built once, as
    /// each type needs them.
    private: TokenStream,
    value_ty: TokenStream,
    derives: [TokenStream; 3],
    /// The runtime crate's path.
    rt: TokenStream,
    /// The serde attributes of optional fields, nullable or not (their strings are
    /// lexed when quoted).
    skip_none_nullable: TokenStream,
    skip_none_reject_null: TokenStream,
    items: Vec<TokenStream>,
    /// Schema node → the type generated for it.
    by_node: HashMap<NodeId, Ty>,
    used_names: HashSet<String>,
    /// Types whose definition is being generated: a reference back to one is recursion.
    in_progress: Vec<String>,
    /// Schema nodes being generated (named or not), to stop recursion that has no
    /// struct to break it (`items` referring to its own array).
    building: Vec<NodeId>,
    /// Where schemas the types only approximate are reported.
    pub report: &'p mut Report,
}

/// Which derives a generated type gets, besides `Debug, Clone, PartialEq` and serde's.
#[derive(Clone, Copy)]
enum Derives {
    Plain = 0,
    WithDefault = 1,
    FieldlessEnum = 2,
}

/// Names the expansion itself uses at the top level.
const RESERVED: &[&str] = &[
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
fn runtime_item_path(runtime: &TokenStream, item: &str) -> String {
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

fn types_of(schema: &Value) -> Vec<String> {
    match field(schema, "type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn text<'a>(schema: &'a Value, key: &str) -> Option<&'a str> {
    field(schema, key).and_then(Value::as_str)
}

impl<'p> TypeSpace<'p> {
    pub fn new(runtime: TokenStream, report: &'p mut Report) -> Self {
        let p = runtime.clone();
        let krate = serde_crate_path(&runtime);
        // String enums deserialize through `FromStr` (see `enumeration`), not the derive.
        let deserialize = quote! { , #p::serde::Deserialize };
        let derives = [
            (quote! {}, &deserialize),
            (quote! { Default, }, &deserialize),
            (quote! { Eq, Hash, Copy, }, &quote! {}),
        ]
        .map(|(extra, deserialize)| {
            quote! {
                #[derive(Debug, Clone, PartialEq, #extra #p::serde::Serialize #deserialize)]
                #[serde(crate = #krate)]
            }
        });
        TypeSpace {
            value_ty: quote! { #p::serde_json::Value },
            private: p,
            derives,
            skip_none_nullable: {
                let nullable = runtime_item_path(&runtime, "codec::nullable");
                quote! {
                    #[serde(default, deserialize_with = #nullable, skip_serializing_if = "::std::option::Option::is_none")]
                }
            },
            skip_none_reject_null: {
                let present = runtime_item_path(&runtime, "codec::present");
                quote! {
                    #[serde(default, deserialize_with = #present, skip_serializing_if = "::std::option::Option::is_none")]
                }
            },
            rt: runtime,
            items: Vec::new(),
            by_node: HashMap::new(),
            used_names: RESERVED.iter().map(|s| (*s).to_owned()).collect(),
            in_progress: Vec::new(),
            building: Vec::new(),
            report,
        }
    }

    /// Reserves a top-level name (e.g. a message newtype) so no schema type takes it.
    pub fn claim_name(&mut self, wanted: &str) -> String {
        unique(type_ident_text(wanted), &mut self.used_names)
    }

    /// Names a new struct or enum for the schema at `at` and records it before its body
    /// is generated, so references back to it (recursion) find it.
    fn register_nominal(&mut self, at: &NodeId, name: &str, nullable: bool) -> (String, Ident, Ty) {
        let type_name = self.claim_name(name);
        let ident = format_ident!("{}", type_name);
        let ty = Ty {
            tokens: quote! { #ident },
            nullable,
            nominal: Some(type_name.clone()),
            is_string: false,
            note: None,
            recursive: false,
        };
        self.by_node.insert(at.clone(), ty.clone());
        (type_name, ident, ty)
    }

    /// Emits an item outside the schema walk (message newtypes, trait impls).
    pub fn push_item(&mut self, item: TokenStream) {
        self.items.push(item);
    }

    pub fn into_items(self) -> Vec<TokenStream> {
        self.items
    }

    fn private(&self) -> TokenStream {
        self.private.clone()
    }

    fn value_ty(&self) -> TokenStream {
        self.value_ty.clone()
    }

    /// `#[derive(..)]` and `#[serde(crate = ..)]` of a generated type.
    fn derive_attrs(&self, extra: Derives) -> TokenStream {
        self.derives[extra as usize].clone()
    }

    /// The Rust type for the schema at `at` (whose value is `schema`). `name` is used
    /// when the schema needs a type of its own and has no better name.
    pub fn type_for(&mut self, r: &Resolver, at: &NodeId, schema: &Value, name: &str) -> Ty {
        if ref_of(schema).is_some() {
            let (target, value) = match r.resolve(at, schema) {
                Ok(t) => t,
                Err(e) => {
                    self.report.warn(e.clone());
                    return self.fallback(&format!(
                        "the reference could not be resolved: {}",
                        e.message
                    ));
                }
            };
            if let Some(ty) = self.by_node.get(&target) {
                return self.maybe_boxed(ty.clone());
            }
            if self.building.contains(&target) {
                self.report.warn(r.error(at, "this `$ref` refers back to a schema that contains it with no object in between (e.g. an array of itself); typed as any JSON value"));
                return self.fallback(
                    "Any JSON value: the schema refers to itself with no object in between.",
                );
            }
            let own_name = target.last_segment().unwrap_or_else(|| name.to_owned());
            return self.define(r, &target, value, &own_name, true);
        }
        if let Some(ty) = self.by_node.get(at) {
            return ty.clone();
        }
        self.define(r, at, schema, name, false)
    }

    /// A reference back to a type still being generated is recursion: flag it.
    fn maybe_boxed(&self, ty: Ty) -> Ty {
        match &ty.nominal {
            Some(n) if self.in_progress.contains(n) => Ty {
                recursive: true,
                ..ty
            },
            _ => ty,
        }
    }

    fn fallback(&self, why: &str) -> Ty {
        Ty {
            note: Some(why.to_owned()),
            ..Ty::plain(self.value_ty())
        }
    }

    /// Generates the type for one schema node; `named` when a `$ref` target (an alias is
    /// emitted for a named primitive so the document's name appears in the code).
    fn define(&mut self, r: &Resolver, at: &NodeId, schema: &Value, name: &str, named: bool) -> Ty {
        // Documents are finite, so only references recurse; this bound is a backstop.
        if self.building.len() > 256 {
            return self.fallback("Any JSON value: the schema nests too deeply.");
        }
        self.building.push(at.clone());
        let ty = self.build(r, at, schema, name);
        self.building.pop();
        if named && ty.nominal.is_none() && !self.by_node.contains_key(at) {
            // A named primitive or container: an alias keeps the document's name visible.
            let alias = self.claim_name(name);
            let ident = format_ident!("{}", alias);
            let doc = doc_attrs(&[text(schema, "title"), text(schema, "description")]);
            let tokens = &ty.tokens;
            self.items.push(quote! { #doc pub type #ident = #tokens; });
            let aliased = Ty {
                tokens: quote! { #ident },
                ..ty
            };
            self.by_node.insert(at.clone(), aliased.clone());
            return aliased;
        }
        self.by_node.entry(at.clone()).or_insert_with(|| ty.clone());
        ty
    }

    fn build(&mut self, r: &Resolver, at: &NodeId, schema: &Value, name: &str) -> Ty {
        let schema_obj = match schema {
            Value::Bool(_) | Value::Null => return Ty::plain(self.value_ty()),
            Value::Object(o) => o,
            _ => {
                self.report
                    .warn(r.error(at, "a schema must be an object; typed as any JSON value"));
                return Ty::plain(self.value_ty());
            }
        };
        let types = types_of(schema);
        let nullable = field(schema, "nullable")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || types.iter().any(|t| t == "null");
        let non_null: Vec<&String> = types.iter().filter(|t| *t != "null").collect();
        let mut ty = if let Some(all) = field(schema, "allOf")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        {
            self.all_of(r, at, schema, all.len(), name)
        } else if let Some((key, n)) = ["oneOf", "anyOf"].iter().find_map(|k| {
            field(schema, k)
                .and_then(Value::as_array)
                .map(|a| (*k, a.len()))
        }) {
            self.one_of(r, at, schema, key, n, name)
        } else if let Some(values) = field(schema, "enum").and_then(Value::as_array) {
            self.enumeration(r, at, schema, values, name)
        } else if let Some(c) = field(schema, "const") {
            match c {
                // A one-value enum: the field cannot hold anything else, and decoding
                // checks the value (a free `String` took any tag and lost data).
                Value::String(_) if !name.is_empty() => {
                    self.enumeration(r, at, schema, std::slice::from_ref(c), name)
                }
                Value::String(_) => Ty {
                    is_string: true,
                    ..Ty::plain(quote! { ::std::string::String })
                },
                Value::Bool(_) => Ty::plain(quote! { bool }),
                Value::Number(n) if n.is_i64() => Ty::plain(quote! { i64 }),
                Value::Number(_) => Ty::plain(quote! { f64 }),
                _ => Ty::plain(self.value_ty()),
            }
        } else if non_null.len() > 1 {
            self.fallback(&format!(
                "Any JSON value: the schema allows several types ({}).",
                non_null
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        } else {
            match non_null.first().map(|s| s.as_str()) {
                Some("string") => self.string(schema),
                Some("integer") => Ty::plain(integer_type(schema)),
                Some("number") => Ty::plain(if text(schema, "format") == Some("float") { quote! { f32 } } else { quote! { f64 } }),
                Some("boolean") => Ty::plain(quote! { bool }),
                Some("null") => Ty::plain(quote! { () }),
                Some("array") => self.array(r, at, schema, name),
                Some("object") => self.object(r, at, schema, name),
                None if field_of(schema_obj, "properties").is_some() || field_of(schema_obj, "additionalProperties").is_some() => self.object(r, at, schema, name),
                None if field_of(schema_obj, "items").is_some() => self.array(r, at, schema, name),
                // `not`, `if`/`then`/`else`, or no type at all: any JSON value.
                _ if field_of(schema_obj, "not").is_some() => self.fallback("Any JSON value: `not` has no Rust equivalent (the constraint is checked by schema validation at run time)."),
                _ if field_of(schema_obj, "if").is_some() => self.fallback("Any JSON value: `if`/`then`/`else` has no Rust equivalent (checked by schema validation at run time)."),
                _ => self.fallback("Any JSON value: the schema does not constrain the type."),
            }
        };
        ty.nullable = ty.nullable || nullable;
        ty
    }

    fn string(&self, schema: &Value) -> Ty {
        let p = self.private();
        let tokens = match text(schema, "format") {
            Some("date-time") => quote! { #p::chrono::DateTime<#p::chrono::Utc> },
            Some("date") => quote! { #p::chrono::NaiveDate },
            Some("uuid") => quote! { #p::uuid::Uuid },
            _ => {
                return Ty {
                    is_string: true,
                    ..Ty::plain(quote! { ::std::string::String })
                }
            }
        };
        Ty::plain(tokens)
    }

    fn array(&mut self, r: &Resolver, at: &NodeId, schema: &Value, name: &str) -> Ty {
        let item = match field(schema, "items") {
            Some(items @ Value::Object(_)) => {
                let t = self.type_for(r, &at.child("items"), items, &format!("{name}Item"));
                // A Vec is already indirect: no Box needed for recursion.
                t
            }
            _ => Ty::plain(self.value_ty()),
        };
        let inner = item_tokens(&item);
        Ty::plain(quote! { ::std::vec::Vec<#inner> })
    }

    fn object(&mut self, r: &Resolver, at: &NodeId, schema: &Value, name: &str) -> Ty {
        let props: Vec<(String, NodeId, &Value)> = field(schema, "properties")
            .and_then(Value::as_object)
            .map(|m| {
                let at = at.child("properties");
                m.iter().map(|(k, v)| (k.clone(), at.child(k), v)).collect()
            })
            .unwrap_or_default();
        let required: BTreeSet<String> = field(schema, "required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let additional =
            field(schema, "additionalProperties").map(|a| (at.child("additionalProperties"), a));
        let parts = ObjectParts {
            properties: props,
            required,
            additional,
        };
        self.object_from_parts(r, at, schema, name, parts)
    }

    fn object_from_parts(
        &mut self,
        r: &Resolver,
        at: &NodeId,
        schema: &Value,
        name: &str,
        parts: ObjectParts<'_>,
    ) -> Ty {
        let p = self.private();
        let additional_ty = match parts.additional {
            Some((aid, a @ Value::Object(_))) => {
                Some(self.type_for(r, &aid, a, &format!("{name}Value")))
            }
            _ => None,
        };
        if parts.properties.is_empty() {
            return match additional_ty {
                Some(t) => {
                    let t = item_tokens(&t);
                    Ty::plain(quote! { ::std::collections::HashMap<::std::string::String, #t> })
                }
                None => Ty::plain(
                    quote! { #p::serde_json::Map<::std::string::String, #p::serde_json::Value> },
                ),
            };
        }
        let (type_name, ident, ty) = self.register_nominal(at, name, false);
        self.in_progress.push(type_name.clone());

        let mut taken = HashSet::new();
        let mut fields = Vec::new();
        let mut all_optional = true;
        for property in &parts.properties {
            let required = parts.required.contains(&property.0);
            all_optional &= !required;
            fields.push(self.property_field(r, &type_name, property, required, &mut taken));
        }
        if let Some(t) = additional_ty {
            let t = item_tokens(&t);
            let fname = unique_field("additional_properties".to_owned(), &mut taken);
            let fident = Ident::new(&fname, Span::call_site());
            fields.push(quote! {
                /// Properties not declared in the schema (`additionalProperties`).
                #[serde(flatten)]
                pub #fident: ::std::collections::HashMap<::std::string::String, #t>,
            });
        }
        self.in_progress.pop();
        let doc = doc_attrs(&[text(schema, "title"), text(schema, "description")]);
        let derives = self.derive_attrs(if all_optional {
            Derives::WithDefault
        } else {
            Derives::Plain
        });
        self.items.push(quote! {
            #doc
            #derives
            pub struct #ident {
                #(#fields)*
            }
        });
        ty
    }

    /// The field of one property of struct `type_name`: its type, documentation, serde
    /// name, and how absent and `null` decode (required, nullable, defaulted, optional).
    fn property_field(
        &mut self,
        r: &Resolver,
        type_name: &str,
        (prop, pid, pschema): &(String, NodeId, &Value),
        required: bool,
        taken: &mut HashSet<String>,
    ) -> TokenStream {
        let field = unique_field(field_ident_text(prop), taken);
        let fty = self.type_for(
            r,
            pid,
            pschema,
            &format!("{type_name}{}", type_ident_text(prop)),
        );
        let resolved = match ref_of(pschema) {
            Some(_) => r.resolve(pid, pschema).map_or(*pschema, |(_, v)| v),
            None => *pschema,
        };
        let doc = doc_attrs(&[
            text(resolved, "title").filter(|_| ref_of(pschema).is_none()),
            text(resolved, "description"),
            fty.note.as_deref(),
        ]);
        let fident = Ident::new(&field, Span::call_site());
        let rename = (field != *prop).then(|| quote! { #[serde(rename = #prop)] });
        let t = fty.field_tokens();
        if required && !fty.nullable {
            return quote! { #doc #rename pub #fident: #t, };
        }
        if required {
            return quote! { #doc #rename pub #fident: ::std::option::Option<#t>, };
        }
        if fty.nullable {
            // Absent, `null` and a value are three things the schema tells apart:
            // `None`, `Some(None)` and `Some(Some(v))`.
            let skip = &self.skip_none_nullable;
            return quote! {
                #doc #rename
                #skip
                pub #fident: ::std::option::Option<::std::option::Option<#t>>,
            };
        }
        if let Some(value) = self.checked_default(r, pid, pschema, &fty, resolved) {
            let (doc_default, serde_default) =
                self.default_function(type_name, &field, &t, value, resolved);
            return quote! {
                #doc
                #doc_default
                #rename
                #serde_default
                pub #fident: ::std::option::Option<#t>,
            };
        }
        // Absent is `None`; `null` is rejected as the schema rejects it.
        let skip = &self.skip_none_reject_null;
        quote! {
            #doc #rename
            #skip
            pub #fident: ::std::option::Option<#t>,
        }
    }

    /// The document's `default` is what an absent property means: a hidden function
    /// giving it, and the field's attributes documenting the default as written and
    /// naming that function.
    fn default_function(
        &mut self,
        type_name: &str,
        field: &str,
        field_ty: &TokenStream,
        value: TokenStream,
        resolved: &Value,
    ) -> (TokenStream, TokenStream) {
        let function = format!("__asyncapi_default_{}_{field}", type_name.to_snake_case());
        let fname = Ident::new(&function, Span::call_site());
        let present = runtime_item_path(&self.rt, "codec::present");
        self.items.push(quote! {
            #[doc(hidden)]
            fn #fname() -> ::std::option::Option<#field_ty> { #value }
        });
        let written = crate::resolve::field(resolved, "default")
            .map(Value::to_string)
            .unwrap_or_default();
        let doc_default = format!(" Absent in a record: `{written}` (the schema's `default`).");
        (
            quote! { #[doc = #doc_default] },
            quote! { #[serde(default = #function, deserialize_with = #present, skip_serializing_if = "::std::option::Option::is_none")] },
        )
    }

    fn all_of(&mut self, r: &Resolver, at: &NodeId, schema: &Value, n: usize, name: &str) -> Ty {
        // Merge the members' properties into one struct (following refs, recursively).
        let mut props: Vec<(String, NodeId, &Value)> = Vec::new();
        let mut required = BTreeSet::new();
        let mut additional = None;
        let mut stack: Vec<NodeId> = (0..n).rev().map(|i| at.child("allOf").index(i)).collect();
        // The schema's own properties apply too (its `allOf` is what is being merged).
        let mut members: Vec<(NodeId, &Value)> = vec![(at.clone(), schema)];
        let mut seen = HashSet::new();
        while let Some(id) = stack.pop() {
            let Ok((target, v)) = r.node(&id) else {
                continue;
            };
            if !seen.insert(target.clone()) {
                continue;
            }
            if let Some(inner) = field(v, "allOf").and_then(Value::as_array) {
                for i in (0..inner.len()).rev() {
                    stack.push(target.child("allOf").index(i));
                }
            }
            members.push((target, v));
        }
        for (mid, m) in &members {
            let kinds = types_of(m);
            if !kinds.is_empty() && !kinds.iter().any(|k| k == "object") {
                // allOf over non-objects: a constrained primitive; use the first typed member.
                let first = members.iter().find(|(_, v)| !types_of(v).is_empty());
                if let Some((fid, fv)) = first {
                    let mut fv = (*fv).clone();
                    if let Some(o) = fv.as_object_mut() {
                        o.remove("allOf");
                    }
                    return self.build(r, fid, &fv, name);
                }
            }
            if let Some(ps) = field(m, "properties").and_then(Value::as_object) {
                for (k, v) in ps {
                    if let Some(existing) = props.iter_mut().find(|(pk, _, _)| pk == k) {
                        *existing = (k.clone(), mid.child("properties").child(k), v);
                    } else {
                        props.push((k.clone(), mid.child("properties").child(k), v));
                    }
                }
            }
            if let Some(req) = field(m, "required").and_then(Value::as_array) {
                required.extend(req.iter().filter_map(|v| v.as_str().map(str::to_owned)));
            }
            if let Some(a) = field(m, "additionalProperties") {
                additional = Some((mid.child("additionalProperties"), a));
            }
        }
        let parts = ObjectParts {
            properties: props,
            required,
            additional,
        };
        self.object_from_parts(r, at, schema, name, parts)
    }

    fn enumeration(
        &mut self,
        r: &Resolver,
        at: &NodeId,
        schema: &Value,
        values: &[Value],
        name: &str,
    ) -> Ty {
        let mut strings: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        if strings.len() != values.len() || strings.is_empty() {
            return self.non_string_enumeration(r, at, schema, values, name);
        }
        if strings.len() == 1 && name.is_empty() {
            return Ty {
                is_string: true,
                ..Ty::plain(quote! { ::std::string::String })
            };
        }
        let type_name = self.claim_name(name);
        let ident = format_ident!("{}", type_name);
        let mut taken = HashSet::new();
        let mut seen = HashSet::new();
        strings.retain(|v| seen.insert(*v));
        let variants = strings.iter().map(|v| {
            let vname = unique(
                if v.is_empty() {
                    "Empty".to_owned()
                } else {
                    type_ident_text(v)
                },
                &mut taken,
            );
            (format_ident!("{}", vname), *v)
        });
        let (vidents, values): (Vec<Ident>, Vec<&str>) = variants.unzip();
        self.push_string_enum(schema, &ident, &vidents, &values);
        let ty = Ty {
            tokens: quote! { #ident },
            nullable: false,
            nominal: Some(type_name),
            is_string: false,
            note: None,
            recursive: false,
        };
        self.by_node.insert(at.clone(), ty.clone());
        ty
    }

    /// An `enum` that is not all strings: integers, numbers, strings and `null` (a
    /// nullable string enum), or a mix (any JSON value, with a warning).
    fn non_string_enumeration(
        &mut self,
        r: &Resolver,
        at: &NodeId,
        schema: &Value,
        values: &[Value],
        name: &str,
    ) -> Ty {
        let non_null: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
        if !non_null.is_empty() && non_null.iter().all(|v| v.is_i64()) {
            return Ty::plain(quote! { i64 });
        }
        if !non_null.is_empty() && non_null.iter().all(|v| v.is_number()) {
            return Ty::plain(quote! { f64 });
        }
        if !non_null.is_empty() && non_null.iter().all(|v| v.is_string()) {
            // Strings plus `null`: a nullable string enum.
            let mut s = schema.clone();
            s["enum"] = Value::Array(non_null.into_iter().cloned().collect());
            let mut t = self.enumeration(
                r,
                at,
                &s,
                s["enum"].as_array().cloned().unwrap_or_default().as_slice(),
                name,
            );
            t.nullable = true;
            return t;
        }
        self.report.warn(r.error(
            at,
            "an `enum` mixing value types has no Rust enum equivalent; typed as any JSON value",
        ));
        let allowed = values
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ");
        self.fallback(&format!(
            "Any JSON value: the `enum` mixes value types; allowed values: {allowed}."
        ))
    }

    /// The Rust enum of a string `enum`: its variants, decoding through `FromStr`, and
    /// `Default` when there is one value only.
    fn push_string_enum(
        &mut self,
        schema: &Value,
        ident: &Ident,
        vidents: &[Ident],
        values: &[&str],
    ) {
        let doc = doc_attrs(&[text(schema, "title"), text(schema, "description")]);
        let derives = self.derive_attrs(Derives::FieldlessEnum);
        let rt = &self.rt;
        let p = &self.private;
        // Decoding goes through `FromStr`: serde's derived enums would also take
        // `{"value": null}` where the schema allows only the string.
        self.items.push(quote! {
            #doc
            #derives
            pub enum #ident {
                #( #[serde(rename = #values)] #vidents, )*
            }

            impl<'de> #p::serde::Deserialize<'de> for #ident {
                fn deserialize<D: #p::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<#ident, D::Error> {
                    #rt::codec::deserialize_from_str(deserializer)
                }
            }

            impl ::std::str::FromStr for #ident {
                type Err = #rt::UnknownValue;
                fn from_str(value: &str) -> ::std::result::Result<#ident, #rt::UnknownValue> {
                    match value {
                        #( #values => ::std::result::Result::Ok(#ident::#vidents), )*
                        _ => ::std::result::Result::Err(#rt::UnknownValue::new(value, &[#(#values),*])),
                    }
                }
            }

        });
        // A single value (`const`, or a one-value `enum`) is the only value there is.
        if let ([only], [value]) = (vidents, values) {
            let doc = format!(" `{value}`, the only value the document allows.");
            self.items.push(quote! {
                impl ::std::default::Default for #ident {
                    #[doc = #doc]
                    fn default() -> #ident {
                        #ident::#only
                    }
                }
            });
        }
    }

    fn one_of(
        &mut self,
        r: &Resolver,
        at: &NodeId,
        schema: &Value,
        key: &str,
        n: usize,
        name: &str,
    ) -> Ty {
        // `nullable` written as `oneOf: [X, {type: null}]`.
        let member_ids: Vec<NodeId> = (0..n).map(|i| at.child(key).index(i)).collect();
        let members: Vec<(NodeId, &Value)> = member_ids
            .iter()
            .map(|id| r.node(id).unwrap_or_else(|_| (id.clone(), &NULL)))
            .collect();
        let null_members = members
            .iter()
            .filter(|(_, v)| types_of(v) == ["null"])
            .count();
        let real: Vec<usize> = (0..n)
            .filter(|&i| types_of(members[i].1) != ["null"])
            .collect();
        if real.len() == 1 {
            let i = real[0];
            let raw = r.get(&member_ids[i]).unwrap_or(&NULL);
            let mut t = self.type_for(r, &member_ids[i], raw, name);
            t.nullable |= null_members > 0;
            return t;
        }
        let (type_name, ident, ty) = self.register_nominal(at, name, null_members > 0);
        self.in_progress.push(type_name.clone());

        let discriminator = discriminator_of(schema);
        // Without a discriminator, a property every member pins to a distinct constant
        // is a tag just the same.
        let tag_property = match &discriminator {
            Some((prop, _)) => Some(prop.clone()),
            None => common_const_property(real.iter().map(|&i| members[i].1)),
        };
        let mut taken = HashSet::new();
        let mut variants = Vec::new(); // (ident, type, tag value, resolved schema)
        for &i in &real {
            let tags = Tags {
                discriminator: discriminator.as_ref(),
                property: tag_property.as_deref(),
            };
            let (vname, vt, tag) =
                self.one_of_member(r, &type_name, (i, &member_ids[i]), &members[i], tags);
            let vname = unique(vname, &mut taken);
            variants.push((format_ident!("{}", vname), vt, tag, members[i].1));
        }
        self.in_progress.pop();
        let doc = doc_attrs(&[text(schema, "title"), text(schema, "description")]);
        let decls = variants.iter().map(|(vi, vt, _, _)| {
            let t = vt.field_tokens();
            quote! { #vi(#t), }
        });
        let all_tagged = tag_property.is_some() && variants.iter().all(|v| v.2.is_some());
        if !all_tagged {
            let derives = self.derive_attrs(Derives::Plain);
            let how = if key == "anyOf" { "anyOf" } else { "oneOf" };
            let note = format!(" Decoded as the first variant (in document order) that matches: the `{how}` gives no discriminator.");
            self.items.push(quote! {
                #doc
                #[doc = ""]
                #[doc = #note]
                #derives
                #[serde(untagged)]
                pub enum #ident { #(#decls)* }
            });
            return ty;
        }
        let prop = tag_property.unwrap_or_default();
        let tagged: Vec<(Ident, String)> = variants
            .iter()
            .map(|(vi, _, tag, _)| (vi.clone(), tag.clone().unwrap_or_default()))
            .collect();
        self.tagged_enum(&ident, doc, decls.collect(), &prop, &tagged);
        ty
    }

    /// One member of a `oneOf`/`anyOf` (number `i`, at `member_id`, resolving to
    /// `target`): its variant name, type and tag value. A member is named by what the
    /// document calls it: its `$ref` name, its title, the tag value it pins
    /// (`method: card` → `Card`), else its position.
    fn one_of_member(
        &mut self,
        r: &Resolver,
        type_name: &str,
        (i, member_id): (usize, &NodeId),
        (target, resolved): &(NodeId, &Value),
        tags: Tags<'_>,
    ) -> (String, Ty, Option<String>) {
        let raw = r.get(member_id).unwrap_or(&NULL);
        let ref_name = ref_of(raw).and_then(|_| target.last_segment());
        let tag = match tags.discriminator {
            Some((prop, mapping)) => mapping
                .iter()
                .find(|(_, target_ref)| ref_of(raw) == Some(target_ref.as_str()))
                .map(|(k, _)| k.clone())
                .or_else(|| const_of(resolved, prop))
                .or_else(|| ref_name.clone()),
            None => tags.property.and_then(|prop| const_of(resolved, prop)),
        };
        let tag_name = tag.as_deref().map(type_ident_text);
        let hint = match &tag_name {
            Some(t) => format!("{type_name}{t}"),
            None => format!("{type_name}Variant{}", i + 1),
        };
        let vt = self.type_for(r, member_id, raw, &hint);
        let vname = ref_name
            .as_deref()
            .or(text(resolved, "title"))
            .map(type_ident_text)
            .or(tag_name)
            .or_else(|| vt.nominal.clone())
            .unwrap_or_else(|| primitive_variant_name(resolved, i));
        (vname, vt, tag)
    }

    /// A `oneOf` enum tagged by `prop`: decoding reads the tag and decodes the variant
    /// it names (never "the first that parses"); encoding writes the tag if the
    /// variant's own fields do not.
    fn tagged_enum(
        &mut self,
        ident: &Ident,
        doc: TokenStream,
        decls: Vec<TokenStream>,
        prop: &str,
        variants: &[(Ident, String)],
    ) {
        let p = self.private();
        let arms = variants.iter().map(|(vi, tag)| {
            quote! { ::std::option::Option::Some(#tag) => #p::serde_json::from_value(value).map(Self::#vi).map_err(D::Error::custom), }
        });
        let ser_arms = variants.iter().map(|(vi, tag)| {
            quote! { Self::#vi(v) => (#tag, #p::serde_json::to_value(v).map_err(S::Error::custom)?), }
        });
        let expected = variants
            .iter()
            .map(|(_, t)| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let missing = format!("`{prop}` is missing or not a string; expected one of {expected}");
        let unknown = format!("unknown `{prop}` value; expected one of {expected}");
        let note = format!(
            " Tagged by the `{prop}` property: decoding picks the variant its value names."
        );
        self.items.push(quote! {
            #doc
            #[doc = ""]
            #[doc = #note]
            #[derive(Debug, Clone, PartialEq)]
            pub enum #ident { #(#decls)* }

            impl #p::serde::Serialize for #ident {
                fn serialize<S: #p::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                    use #p::serde::ser::Error as _;
                    let (tag, mut value) = match self { #(#ser_arms)* };
                    if let #p::serde_json::Value::Object(map) = &mut value {
                        map.entry(#prop).or_insert_with(|| #p::serde_json::Value::from(tag));
                    }
                    #p::serde::Serialize::serialize(&value, serializer)
                }
            }

            impl<'de> #p::serde::Deserialize<'de> for #ident {
                fn deserialize<D: #p::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                    use #p::serde::de::Error as _;
                    let value = <#p::serde_json::Value as #p::serde::Deserialize>::deserialize(deserializer)?;
                    match value.get(#prop).and_then(#p::serde_json::Value::as_str) {
                        #(#arms)*
                        ::std::option::Option::None => ::std::result::Result::Err(D::Error::custom(#missing)),
                        ::std::option::Option::Some(other) => ::std::result::Result::Err(D::Error::custom(::std::format_args!("{}: `{}`", #unknown, other))),
                    }
                }
            }
        });
    }
}

impl TypeSpace<'_> {
    /// The property's `default` as the field's value, or `None` when it has none; one
    /// that cannot be the field's value is a warning at it, and no default.
    fn checked_default(
        &mut self,
        r: &Resolver,
        at: &NodeId,
        written: &Value,
        fty: &Ty,
        resolved: &Value,
    ) -> Option<TokenStream> {
        if let Some(problem) = crate::defaults::default_problem(fty, resolved) {
            // Where the default is written, unless it is behind a `$ref`.
            let at = match ref_of(written) {
                Some(_) => at.clone(),
                None => at.child("default"),
            };
            self.report.warn(r.error(
                &at,
                format!("this `default` cannot be the property's value ({problem}), so it is ignored: an absent property decodes as `None`"),
            ));
            return None;
        }
        self.default_value(fty, resolved)
    }

    /// The value of an absent optional field whose schema has a `default` (checked by
    /// `checked_default`), as an expression of type `Option<T>`: a literal for scalars;
    /// for enums, arrays and objects the default's JSON decoded as the field's type.
    fn default_value(&self, fty: &Ty, schema: &Value) -> Option<TokenStream> {
        if let Some(literal) = crate::defaults::default_literal(fty, schema) {
            return Some(quote! { ::std::option::Option::Some(#literal) });
        }
        let value = field(schema, "default")?;
        if fty.nullable || fty.recursive || value.is_null() {
            return None;
        }
        let json = value.to_string();
        let p = &self.private;
        Some(quote! { #p::serde_json::from_str(#json).ok() })
    }
}

/// How the members of a `oneOf` are told apart: the schema's `discriminator` (its
/// property and mapping), or a property every member pins to a distinct constant.
#[derive(Clone, Copy)]
struct Tags<'a> {
    discriminator: Option<&'a (String, Vec<(String, String)>)>,
    property: Option<&'a str>,
}

/// What a struct is made of: its properties (name, node, schema) in order, the names
/// of the required ones, and its `additionalProperties` schema.
struct ObjectParts<'a> {
    properties: Vec<(String, NodeId, &'a Value)>,
    required: BTreeSet<String>,
    additional: Option<(NodeId, &'a Value)>,
}

/// A unique field name (`name_2`, `name_3`, ...).
fn unique_field(name: String, taken: &mut HashSet<String>) -> String {
    unique_with(name, "_", taken)
}

fn item_tokens(t: &Ty) -> TokenStream {
    let tokens = &t.tokens;
    if t.nullable {
        quote! { ::std::option::Option<#tokens> }
    } else {
        quote! { #tokens }
    }
}

fn integer_type(schema: &Value) -> TokenStream {
    match text(schema, "format") {
        Some("int8") => quote! { i8 },
        Some("int16") => quote! { i16 },
        Some("int32") => quote! { i32 },
        Some("uint8") => quote! { u8 },
        Some("uint16") => quote! { u16 },
        Some("uint32") => quote! { u32 },
        Some("uint64") => quote! { u64 },
        _ => quote! { i64 },
    }
}

fn primitive_variant_name(schema: &Value, i: usize) -> String {
    match types_of(schema).first().map(String::as_str) {
        Some("string") => "String".to_owned(),
        Some("integer") => "Integer".to_owned(),
        Some("number") => "Number".to_owned(),
        Some("boolean") => "Boolean".to_owned(),
        Some("array") => "Array".to_owned(),
        Some("object") => "Object".to_owned(),
        _ => format!("Variant{}", i + 1),
    }
}

/// `discriminator: prop` (AsyncAPI 2.x) or `{propertyName, mapping}` (OpenAPI style).
fn discriminator_of(schema: &Value) -> Option<(String, Vec<(String, String)>)> {
    match field(schema, "discriminator")? {
        Value::String(p) => Some((p.clone(), Vec::new())),
        Value::Object(o) => {
            let prop = o.get("propertyName")?.as_str()?.to_owned();
            let mapping = o
                .get("mapping")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            Some((prop, mapping))
        }
        _ => None,
    }
}

/// The constant a schema pins property `prop` to (`const`, or a one-value `enum`).
fn const_of(schema: &Value, prop: &str) -> Option<String> {
    let p = field(schema, "properties")?.get(prop)?;
    if let Some(c) = field(p, "const").and_then(Value::as_str) {
        return Some(c.to_owned());
    }
    match field(p, "enum")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([Value::String(v)]) => Some(v.clone()),
        _ => None,
    }
}

fn common_const_property<'a>(
    mut members: impl Iterator<Item = &'a Value> + Clone,
) -> Option<String> {
    let first = members.clone().next()?;
    let candidates: Vec<String> = field(first, "properties")?
        .as_object()?
        .keys()
        .cloned()
        .collect();
    candidates
        .into_iter()
        .find(|prop| {
            let tags: Vec<Option<String>> = members.clone().map(|m| const_of(m, prop)).collect();
            let distinct: HashSet<&Option<String>> = tags.iter().collect();
            tags.iter().all(Option::is_some) && distinct.len() == tags.len()
        })
        .filter(|_| members.next().is_some())
}
