//! JSON Schema (the AsyncAPI Schema Object) to Rust types.
//!
//! Written for this crate rather than delegated to `typify`, because the cases typify
//! gets wrong matter here: 2.x `nullable`, `discriminator`, property and enum-value
//! name collisions, the same inline name in two messages, and constructs it panics on
//! (`not`, `if`/`then`/`else`, mixed-type enums, untitled inline objects). What cannot
//! be represented falls back to `serde_json::Value` with a doc comment saying why.

mod enums;
mod names;
mod objects;

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use serde_json::Value;

use crate::diagnostics::Report;
use crate::resolve::NodeId;
use crate::schema::{Keywords, Schema, Schemas, Shape};

pub use names::{doc_attrs, field_ident_text, serde_crate_path, type_ident_text};
use names::{runtime_item_path, RESERVED};
pub(crate) use names::{unique, unique_with};

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
    /// The names of the hidden functions giving properties' defaults.
    default_functions: HashSet<String>,
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
            default_functions: HashSet::new(),
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
        let (type_name, ident, ty) = self.nominal(name, nullable);
        self.by_node.insert(at.clone(), ty.clone());
        (type_name, ident, ty)
    }

    /// Names a new struct or enum that no schema node stands for by itself (the enum of
    /// an object's `oneOf`, whose node is the object's struct).
    fn nominal(&mut self, name: &str, nullable: bool) -> (String, Ident, Ty) {
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

    /// The Rust type for `schema`. `name` is used when the schema needs a type of its
    /// own and has no better name.
    pub fn type_for<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        schema: &Rc<Schema<'r>>,
        name: &str,
    ) -> Ty {
        if schema.reference().is_none() {
            if let Some(ty) = self.by_node.get(&schema.at) {
                return ty.clone();
            }
            return self.define(schemas, schema, name, false);
        }
        let target = match schemas.target(schema) {
            Ok(target) => target,
            Err(e) => {
                let why = format!("the reference could not be resolved: {}", e.message);
                self.report.warn(e);
                return self.fallback(&why);
            }
        };
        if let Some(ty) = self.by_node.get(&target.at) {
            return self.maybe_boxed(ty.clone());
        }
        if self.building.contains(&target.at) {
            self.report.warn(schemas.error(&schema.at, "this `$ref` refers back to a schema that contains it with no object in between (e.g. an array of itself); typed as any JSON value"));
            return self.fallback(
                "Any JSON value: the schema refers to itself with no object in between.",
            );
        }
        let own_name = target.at.last_segment().unwrap_or_else(|| name.to_owned());
        self.define(schemas, &target, &own_name, true)
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
    fn define<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        schema: &Schema<'r>,
        name: &str,
        named: bool,
    ) -> Ty {
        // Documents are finite, so only references recurse; this bound is a backstop.
        if self.building.len() > 256 {
            return self.fallback("Any JSON value: the schema nests too deeply.");
        }
        let at = &schema.at;
        // A named array is an alias of a `Vec`, known before its items are: named
        // first, a reference back to it from its items' structs is the alias (the
        // `Vec` is the indirection recursion needs).
        let early_alias = (named && is_plain_array(schema)).then(|| {
            let alias = self.claim_name(name);
            let ident = format_ident!("{}", alias);
            self.by_node
                .insert(at.clone(), Ty::plain(quote! { #ident }));
            ident
        });
        self.building.push(at.clone());
        let ty = self.build(schemas, schema, name, true);
        self.building.pop();
        let alias = match early_alias {
            Some(ident) => Some(ident),
            // A named primitive or container: an alias keeps the document's name visible.
            None if named && ty.nominal.is_none() && !self.by_node.contains_key(at) => {
                Some(format_ident!("{}", self.claim_name(name)))
            }
            None => None,
        };
        let Some(ident) = alias else {
            match self.by_node.get_mut(at) {
                // Registered before its body was built, when whether `null` is allowed
                // was not known yet: every later reference must allow it too.
                Some(known) if known.nominal == ty.nominal => known.nullable = ty.nullable,
                Some(_) => {}
                None => {
                    self.by_node.insert(at.clone(), ty.clone());
                }
            }
            return ty;
        };
        let doc = doc_attrs(&[schema.title(), schema.description()]);
        let tokens = &ty.tokens;
        self.items.push(quote! { #doc pub type #ident = #tokens; });
        let aliased = Ty {
            tokens: quote! { #ident },
            ..ty
        };
        self.by_node.insert(at.clone(), aliased.clone());
        aliased
    }

    /// The type of one schema object's keywords (`with_all_of`: false when its `allOf`
    /// was merged already and the rest of it is wanted).
    fn build<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        schema: &Schema<'r>,
        name: &str,
        with_all_of: bool,
    ) -> Ty {
        let keywords = match &schema.shape {
            Shape::Object(keywords) => keywords,
            Shape::Boolean(_) | Shape::Null => return Ty::plain(self.value_ty()),
            Shape::TooDeep => return self.fallback("Any JSON value: the schema nests too deeply."),
            Shape::NotASchema => {
                self.report.warn(schemas.error(
                    &schema.at,
                    "a schema must be an object; typed as any JSON value",
                ));
                return Ty::plain(self.value_ty());
            }
        };
        let nullable = keywords.nullable.valid() == Some(&true) || keywords.types.contains(&"null");
        let mut ty = match keywords.all_of.as_deref() {
            Some(members) if with_all_of && !members.is_empty() => {
                self.all_of(schemas, schema, name)
            }
            _ => self.build_one(schemas, schema, keywords, name),
        };
        ty.nullable = ty.nullable || nullable;
        ty
    }

    /// [`TypeSpace::build`] for a schema object without an `allOf` to merge.
    fn build_one<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        schema: &Schema<'r>,
        keywords: &Keywords<'r>,
        name: &str,
    ) -> Ty {
        if variants_of(keywords).is_some() {
            // Properties beside the `oneOf` belong to every member: a struct of them
            // with the members' enum flattened in (the enum alone where there are none).
            return self.object(schemas, schema, keywords, name);
        }
        if let Some(values) = keywords.enumeration.valid() {
            return self.enumeration(schemas, schema, values, name);
        }
        if let Some(constant) = keywords.constant {
            return self.constant(schemas, schema, constant, name);
        }
        let non_null: Vec<&str> = keywords
            .types
            .iter()
            .copied()
            .filter(|t| *t != "null")
            .collect();
        if non_null.len() > 1 {
            return self.fallback(&format!(
                "Any JSON value: the schema allows several types ({}).",
                non_null.join(", ")
            ));
        }
        let written = |keyword: &str| keywords.written.contains(&keyword);
        match non_null.first().copied() {
            Some("string") => self.string(keywords),
            Some("integer") => Ty::plain(integer_type(keywords)),
            Some("number") => Ty::plain(if keywords.format == Some("float") { quote! { f32 } } else { quote! { f64 } }),
            Some("boolean") => Ty::plain(quote! { bool }),
            Some("null") => Ty::plain(quote! { () }),
            Some("array") => self.array(schemas, keywords, name),
            Some("object") => self.object(schemas, schema, keywords, name),
            None if keywords.properties.is_written() || keywords.additional.is_written() => self.object(schemas, schema, keywords, name),
            None if keywords.items.is_written() => self.array(schemas, keywords, name),
            // `not`, `if`/`then`/`else`, or no type at all: any JSON value.
            _ if written("not") => self.fallback("Any JSON value: `not` has no Rust equivalent (the constraint is checked by schema validation at run time)."),
            _ if written("if") => self.fallback("Any JSON value: `if`/`then`/`else` has no Rust equivalent (checked by schema validation at run time)."),
            _ => self.fallback("Any JSON value: the schema does not constrain the type."),
        }
    }

    /// The type of a `const`.
    fn constant<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        schema: &Schema<'r>,
        constant: &'r Value,
        name: &str,
    ) -> Ty {
        match constant {
            // A one-value enum: the field cannot hold anything else, and decoding
            // checks the value, so a record tagged otherwise is refused, not misread.
            Value::String(_) if !name.is_empty() => {
                self.enumeration(schemas, schema, std::slice::from_ref(constant), name)
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
    }

    fn string(&self, keywords: &Keywords<'_>) -> Ty {
        let p = self.private();
        let tokens = match keywords.format {
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

    fn array<'r>(&mut self, schemas: &Schemas<'r>, keywords: &Keywords<'r>, name: &str) -> Ty {
        let item = match keywords.items.valid() {
            // A Vec is already indirect: no Box needed for recursion.
            Some(items) => self.type_for(schemas, items, &format!("{name}Item")),
            None => Ty::plain(self.value_ty()),
        };
        let inner = item_tokens(&item);
        Ty::plain(quote! { ::std::vec::Vec<#inner> })
    }
}

/// Whether `schema` is typed as a `Vec` whatever its items are: `type: array` (or only
/// `items`), not nullable, nothing that would make it another type.
fn is_plain_array(schema: &Schema<'_>) -> bool {
    let Some(keywords) = schema.keywords() else {
        return false;
    };
    let shaped_otherwise = keywords.all_of.is_some()
        || variants_of(keywords).is_some()
        || keywords.enumeration.is_written()
        || keywords.constant.is_some()
        || keywords.nullable.valid() == Some(&true);
    let array = match keywords.types.as_slice() {
        ["array"] => true,
        [] => {
            keywords.items.is_written()
                && !keywords.properties.is_written()
                && !keywords.additional.is_written()
        }
        _ => false,
    };
    array && !shaped_otherwise && keywords.reference.is_none()
}

/// `oneOf` (or else `anyOf`), when a list: its keyword and members.
fn variants_of<'a, 'r>(keywords: &'a Keywords<'r>) -> Option<(&'static str, &'a [Rc<Schema<'r>>])> {
    match (&keywords.one_of, &keywords.any_of) {
        (Some(members), _) => Some(("oneOf", members)),
        (None, Some(members)) => Some(("anyOf", members)),
        (None, None) => None,
    }
}

/// Whether a generated enum stands for its schema node (references to the node name
/// it), or is part of the struct that does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Standing {
    Own,
    InStruct,
}

fn item_tokens(t: &Ty) -> TokenStream {
    let tokens = &t.tokens;
    if t.nullable {
        quote! { ::std::option::Option<#tokens> }
    } else {
        quote! { #tokens }
    }
}

fn integer_type(keywords: &Keywords<'_>) -> TokenStream {
    match keywords.format {
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
