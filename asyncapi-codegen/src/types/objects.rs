//! Object schemas (and `allOf`, merged into one) as structs: their fields, and how an
//! absent, `null` or defaulted property decodes.

use std::collections::{BTreeSet, HashSet};
use std::rc::Rc;

use heck::ToSnakeCase;
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use super::names::{
    field_ident_text, runtime_item_path, type_ident_text, unique_field, unique_with,
};
use super::{doc_attrs, item_tokens, variants_of, Derives, Standing, Ty, TypeSpace};
use crate::schema::{merge_properties, Additional, Keywords, Schema, Schemas};

/// What a struct is made of: its properties (name and schema) in order, the names of
/// the required ones, and its `additionalProperties` schema.
struct ObjectParts<'a, 'r> {
    properties: Vec<(&'r str, &'a Rc<Schema<'r>>)>,
    required: BTreeSet<&'r str>,
    additional: Option<&'a Rc<Schema<'r>>>,
    /// A `oneOf`/`anyOf` beside the properties: which member the rest matches.
    variants: Option<Variants<'a, 'r>>,
}

/// An object's `oneOf`/`anyOf`: the schema that writes it (its `discriminator`, title
/// and description are the enum's), the keyword, and the members.
#[derive(Clone, Copy)]
struct Variants<'a, 'r> {
    holder: &'a Schema<'r>,
    key: &'static str,
    members: &'a [Rc<Schema<'r>>],
}

impl<'a, 'r> Variants<'a, 'r> {
    fn of(holder: &'a Schema<'r>) -> Option<Self> {
        let (key, members) = variants_of(holder.keywords()?)?;
        Some(Variants {
            holder,
            key,
            members,
        })
    }

    /// Whether `property` is the members' (see [`declared_by_members`]).
    fn declare(&self, schemas: &Schemas<'r>, property: &str) -> bool {
        let keywords = self.holder.keywords();
        keywords.is_some_and(|k| declared_by_members(schemas, k, self.members, property))
    }
}

/// The schema of `additionalProperties`, when it is one.
fn additional_schema<'a, 'r>(keywords: &'a Keywords<'r>) -> Option<&'a Rc<Schema<'r>>> {
    match keywords.additional.valid() {
        Some(Additional::Schema(schema)) => Some(schema),
        _ => None,
    }
}

impl TypeSpace<'_> {
    pub(super) fn object<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        schema: &Schema<'r>,
        keywords: &Keywords<'r>,
        name: &str,
    ) -> Ty {
        let variants = Variants::of(schema);
        // A property the members declare too (or the discriminator) is the variant's:
        // the flattened enum must see it to decode, and write it once.
        let variants_declare =
            |property: &str| variants.is_some_and(|v| v.declare(schemas, property));
        let parts = ObjectParts {
            properties: keywords
                .properties
                .valid()
                .map(|list| {
                    let own = list.iter().filter(|(n, _)| !variants_declare(n));
                    own.map(|(n, s)| (*n, s)).collect()
                })
                .unwrap_or_default(),
            required: keywords
                .required
                .valid()
                .map(|names| names.iter().copied().collect())
                .unwrap_or_default(),
            additional: additional_schema(keywords),
            variants,
        };
        if let (Some(v), true) = (variants, parts.properties.is_empty()) {
            // Every property is the members' own: the enum alone is the type.
            return self.one_of(schemas, schema, (v.key, v.members), name, Standing::Own);
        }
        self.object_from_parts(schemas, schema, name, parts)
    }

    fn object_from_parts<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        schema: &Schema<'r>,
        name: &str,
        parts: ObjectParts<'_, 'r>,
    ) -> Ty {
        let p = self.private();
        // Beside a flattened enum, undeclared properties are the enum's: a second
        // flattened map would take (and write again) the members' fields.
        let additional_ty = parts
            .additional
            .filter(|_| parts.variants.is_none())
            .map(|a| self.type_for(schemas, a, &format!("{name}Value")));
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
        let (type_name, ident, ty) = self.register_nominal(&schema.at, name, false);
        self.in_progress.push(type_name.clone());

        let mut taken = HashSet::new();
        let mut fields = Vec::new();
        let mut all_optional = true;
        for &(property, property_schema) in &parts.properties {
            let required = parts.required.contains(property);
            all_optional &= !required;
            let field = (property, property_schema);
            fields.push(self.property_field(schemas, &type_name, field, required, &mut taken));
        }
        if let Some(v) = parts.variants {
            fields.push(self.variant_field(schemas, &type_name, v, &mut taken));
            // The enum has no default: neither has the struct.
            all_optional = false;
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
        let doc = doc_attrs(&[schema.title(), schema.description()]);
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

    /// The `#[serde(flatten)]` field of struct `type_name` holding which member of its
    /// `oneOf`/`anyOf` the rest of the object is.
    fn variant_field<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        type_name: &str,
        v: Variants<'_, 'r>,
        taken: &mut HashSet<String>,
    ) -> TokenStream {
        let enum_name = format!("{type_name}Variant");
        let members = (v.key, v.members);
        let vt = self.one_of(schemas, v.holder, members, &enum_name, Standing::InStruct);
        let fident = Ident::new(
            &unique_field("variant".to_owned(), taken),
            Span::call_site(),
        );
        let t = vt.field_tokens();
        let doc = format!(" Which member of the `{}` the rest of the object is (the schema's properties above belong to every member).", v.key);
        quote! {
            #[doc = #doc]
            #[serde(flatten)]
            pub #fident: #t,
        }
    }

    /// The field of one property of struct `type_name`: its type, documentation, serde
    /// name, and how absent and `null` decode (required, nullable, defaulted, optional).
    fn property_field<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        type_name: &str,
        (prop, written): (&str, &Rc<Schema<'r>>),
        required: bool,
        taken: &mut HashSet<String>,
    ) -> TokenStream {
        let wanted = field_ident_text(prop);
        let field = unique_field(wanted.clone(), taken);
        if field != wanted {
            self.report.warn(schemas.error(&written.at, format!(
                "property `{prop}` of `{type_name}` would be the field `{wanted}`, which another property of it already is: it is `{field}`"
            )).help("rename one of the two properties so that their names differ in more than punctuation or case"));
        }
        let fty = self.type_for(
            schemas,
            written,
            &format!("{type_name}{}", type_ident_text(prop)),
        );
        let is_reference = written.reference().is_some();
        let resolved = match is_reference {
            true => schemas
                .target(written)
                .unwrap_or_else(|_| Rc::clone(written)),
            false => Rc::clone(written),
        };
        let doc = doc_attrs(&[
            resolved.title().filter(|_| !is_reference),
            resolved.description(),
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
        if let Some(value) = self.checked_default(schemas, written, &fty, &resolved) {
            let (doc_default, serde_default) =
                self.default_function(type_name, &field, &t, value, &resolved);
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
        resolved: &Schema<'_>,
    ) -> (TokenStream, TokenStream) {
        // `Foo.bar_x` and `FooBar.x` would both give `foo_bar_x`.
        let function = unique_with(
            format!("__asyncapi_default_{}_{field}", type_name.to_snake_case()),
            "_",
            &mut self.default_functions,
        );
        let fname = Ident::new(&function, Span::call_site());
        let present = runtime_item_path(&self.rt, "codec::present");
        self.items.push(quote! {
            #[doc(hidden)]
            fn #fname() -> ::std::option::Option<#field_ty> { #value }
        });
        let written = resolved
            .default()
            .map(|d| d.to_string())
            .unwrap_or_default();
        let doc_default = format!(" Absent in a record: `{written}` (the schema's `default`).");
        (
            quote! { #[doc = #doc_default] },
            quote! { #[serde(default = #function, deserialize_with = #present, skip_serializing_if = "::std::option::Option::is_none")] },
        )
    }

    /// `allOf`: the members' properties (following references, and the members' own
    /// `allOf`s) merged into one struct; over non-objects, the first typed member.
    pub(super) fn all_of<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        schema: &Schema<'r>,
        name: &str,
    ) -> Ty {
        let members = schemas.all_of_members(schema);
        // The schema's own keywords apply too (its `allOf` is what is being merged).
        let merged: Vec<&Schema<'r>> = std::iter::once(schema)
            .chain(members.iter().map(|m| &**m))
            .collect();
        let is_primitive = |m: &Schema<'_>| {
            let kinds = m.types();
            !kinds.is_empty() && !kinds.contains(&"object")
        };
        if merged.iter().any(|m| is_primitive(m)) {
            // allOf over non-objects: a constrained primitive; the first typed member.
            if let Some(first) = merged.iter().find(|m| !m.types().is_empty()) {
                return self.build(schemas, first, name, false);
            }
        }
        let mut parts = ObjectParts {
            properties: Vec::new(),
            required: BTreeSet::new(),
            additional: None,
            variants: None,
        };
        for keywords in merged.iter().filter_map(|m| m.keywords()) {
            merge_into(&mut parts, keywords);
        }
        // A member's `oneOf` (`allOf: [Base, {oneOf: [A, B]}]`) applies to the whole;
        // one struct takes one flattened enum.
        let mut all_variants = merged.iter().filter_map(|m| Variants::of(m));
        parts.variants = all_variants.next();
        if let Some(ignored) = all_variants.next() {
            self.report.warn(schemas.error(&ignored.holder.at, format!(
                "a second `{}` in the `allOf` of `{name}`: the type follows the first one only (schema validation at run time still checks both)",
                ignored.key
            )).help("merge the alternatives into one `oneOf`"));
        }
        if let Some(v) = parts.variants {
            parts
                .properties
                .retain(|(property, _)| !v.declare(schemas, property));
            if parts.properties.is_empty() {
                return self.one_of(
                    schemas,
                    v.holder,
                    (v.key, v.members),
                    name,
                    Standing::InStruct,
                );
            }
        }
        self.object_from_parts(schemas, schema, name, parts)
    }
}

/// Whether `property` is the discriminator of an object's `oneOf`, or a property one
/// of its `members` (references and their `allOf`s followed) declares.
fn declared_by_members<'r>(
    schemas: &Schemas<'r>,
    keywords: &Keywords<'r>,
    members: &[Rc<Schema<'r>>],
    property: &str,
) -> bool {
    if keywords
        .discriminator
        .as_ref()
        .is_some_and(|d| d.property == property)
    {
        return true;
    }
    members
        .iter()
        .filter_map(|m| schemas.resolved(m).ok())
        .any(|member| {
            let parts = std::iter::once(member.clone()).chain(schemas.all_of_members(&member));
            parts
                .into_iter()
                .any(|part| part.property(property).is_some())
        })
}

/// Adds one `allOf` member's properties (a later one replaces an earlier one of the
/// same name, where it stood), required names and `additionalProperties`.
fn merge_into<'a, 'r>(parts: &mut ObjectParts<'a, 'r>, keywords: &'a Keywords<'r>) {
    merge_properties(&mut parts.properties, keywords);
    if let Some(names) = keywords.required.valid() {
        parts.required.extend(names.iter().copied());
    }
    if keywords.additional.is_written() {
        parts.additional = additional_schema(keywords);
    }
}

impl TypeSpace<'_> {
    /// The property's `default` as the field's value, or `None` when it has none; one
    /// that cannot be the field's value is a warning at it, and no default.
    fn checked_default<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        written: &Schema<'r>,
        fty: &Ty,
        resolved: &Schema<'r>,
    ) -> Option<TokenStream> {
        if let Some(problem) = crate::defaults::default_problem(fty, resolved) {
            // Where the default is written, unless it is behind a `$ref`.
            let at = match written.reference() {
                Some(_) => written.at.clone(),
                None => written.at.child("default"),
            };
            self.report.warn(schemas.error(
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
    fn default_value(&self, fty: &Ty, schema: &Schema<'_>) -> Option<TokenStream> {
        if let Some(literal) = crate::defaults::default_literal(fty, schema) {
            return Some(quote! { ::std::option::Option::Some(#literal) });
        }
        let value = schema.default()?;
        if fty.nullable || fty.recursive || value.is_null() {
            return None;
        }
        let json = value.to_string();
        let p = &self.private;
        Some(quote! { #p::serde_json::from_str(#json).ok() })
    }
}
