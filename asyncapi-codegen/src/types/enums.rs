//! `enum`, `const` and `oneOf`/`anyOf` schemas as Rust enums: string enums decoding
//! through `FromStr`, tagged enums decoding the variant their tag names, untagged ones
//! the first variant that matches.

use std::collections::HashSet;
use std::rc::Rc;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use serde_json::Value;

use super::names::{type_ident_text, unique};
use super::{doc_attrs, Derives, Standing, Ty, TypeSpace};
use crate::schema::{tag_property, Discriminator, Schema, Schemas};

/// How the members of a `oneOf` are told apart: the schema's `discriminator`, or a
/// property every member pins to a distinct constant.
#[derive(Clone, Copy)]
struct Tags<'a, 'r> {
    discriminator: Option<&'a Discriminator<'r>>,
    property: Option<&'r str>,
}

/// A variant of a `oneOf` enum: its name, type and tag value.
struct Variant {
    ident: Ident,
    ty: Ty,
    tag: Option<String>,
}

impl TypeSpace<'_> {
    pub(super) fn enumeration<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        schema: &Schema<'r>,
        values: &[Value],
        name: &str,
    ) -> Ty {
        let mut strings: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        if strings.len() != values.len() || strings.is_empty() {
            return self.non_string_enumeration(schemas, schema, values, name);
        }
        if strings.len() == 1 && name.is_empty() {
            return Ty {
                is_string: true,
                ..Ty::plain(quote! { ::std::string::String })
            };
        }
        let (type_name, ident, ty) = self.register_nominal(&schema.at, name, false);
        let mut taken = HashSet::new();
        let mut seen = HashSet::new();
        strings.retain(|v| seen.insert(*v));
        let mut vidents = Vec::new();
        for value in &strings {
            let wanted = match value.is_empty() {
                true => "Empty".to_owned(),
                false => type_ident_text(value),
            };
            let given = unique(wanted.clone(), &mut taken);
            if given != wanted {
                self.report.warn(schemas.error(&schema.at, format!(
                    "`{value}` of `{type_name}` would be the variant `{wanted}`, which another value of it already is: it is `{type_name}::{given}`"
                )).help("rename one of the two values so that they differ in more than punctuation or case"));
            }
            vidents.push(format_ident!("{}", given));
        }
        self.push_string_enum(schema, &ident, &vidents, &strings);
        ty
    }

    /// An `enum` that is not all strings: integers, numbers, strings and `null` (a
    /// nullable string enum), or a mix (any JSON value, with a warning).
    fn non_string_enumeration<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        schema: &Schema<'r>,
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
            let strings: Vec<Value> = non_null.into_iter().cloned().collect();
            let mut t = self.enumeration(schemas, schema, &strings, name);
            t.nullable = true;
            return t;
        }
        self.report.warn(schemas.error(
            &schema.at,
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
        schema: &Schema<'_>,
        ident: &Ident,
        vidents: &[Ident],
        values: &[&str],
    ) {
        let doc = doc_attrs(&[schema.title(), schema.description()]);
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
                fn deserialize<D: #p::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
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

    /// `oneOf`/`anyOf` (`key`) over `members`: `nullable` when written as
    /// `oneOf: [X, {type: null}]`, else an enum, tagged when its members can be told apart.
    pub(super) fn one_of<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        schema: &Schema<'r>,
        (key, members): (&str, &[Rc<Schema<'r>>]),
        name: &str,
        standing: Standing,
    ) -> Ty {
        let resolved: Vec<Rc<Schema<'r>>> = members
            .iter()
            .map(|m| schemas.resolved(m).unwrap_or_else(|_| Rc::clone(m)))
            .collect();
        let is_null = |m: &Rc<Schema<'r>>| m.types() == ["null"];
        let null_members = resolved.iter().filter(|m| is_null(m)).count();
        let real: Vec<usize> = (0..members.len())
            .filter(|&i| !is_null(&resolved[i]))
            .collect();
        if let [only] = real[..] {
            let mut t = self.type_for(schemas, &members[only], name);
            t.nullable |= null_members > 0;
            return t;
        }
        let nullable = null_members > 0;
        let (type_name, ident, ty) = match standing {
            Standing::Own => self.register_nominal(&schema.at, name, nullable),
            Standing::InStruct => self.nominal(name, nullable),
        };
        self.in_progress.push(type_name.clone());

        let discriminator = schema.keywords().and_then(|k| k.discriminator.as_ref());
        // Without a discriminator, a property every member pins to a distinct constant
        // is a tag just the same.
        let real_members: Vec<Rc<Schema<'r>>> =
            real.iter().map(|&i| Rc::clone(&resolved[i])).collect();
        let tags = Tags {
            discriminator,
            property: match discriminator {
                Some(d) => Some(d.property),
                None => tag_property(&real_members).map(|(property, _)| property),
            },
        };
        let mut taken = HashSet::new();
        let mut variants = Vec::new();
        for &i in &real {
            let mut variant =
                self.one_of_member(schemas, &type_name, (i, &members[i]), &resolved[i], tags);
            variant.ident = format_ident!("{}", unique(variant.ident.to_string(), &mut taken));
            variants.push(variant);
        }
        self.in_progress.pop();
        let doc = doc_attrs(&[schema.title(), schema.description()]);
        let decls: Vec<TokenStream> = variants
            .iter()
            .map(|v| {
                let (vi, t) = (&v.ident, v.ty.field_tokens());
                quote! { #vi(#t), }
            })
            .collect();
        let tagged: Option<Vec<(Ident, String)>> = variants
            .iter()
            .map(|v| Some((v.ident.clone(), v.tag.clone()?)))
            .collect();
        match (tags.property, tagged) {
            (Some(prop), Some(tagged)) => self.tagged_enum(&ident, doc, decls, prop, &tagged),
            _ => self.untagged_enum(&ident, doc, decls, key),
        }
        ty
    }

    /// One member of a `oneOf`/`anyOf` (number `i`, written as `member`, resolving to
    /// `resolved`): its variant name, type and tag value. A member is named by what the
    /// document calls it: its `$ref` name, its title, the tag value it pins
    /// (`method: card` → `Card`), else its position.
    fn one_of_member<'r>(
        &mut self,
        schemas: &Schemas<'r>,
        type_name: &str,
        (i, member): (usize, &Rc<Schema<'r>>),
        resolved: &Schema<'r>,
        tags: Tags<'_, 'r>,
    ) -> Variant {
        let reference = member.reference();
        let ref_name = reference.and_then(|_| resolved.at.last_segment());
        let pinned = |prop: &str| resolved.property(prop)?.pinned_string().map(str::to_owned);
        let tag = match tags.discriminator {
            Some(d) => d
                .mapping
                .iter()
                .find(|(_, target)| reference == Some(*target))
                .map(|(value, _)| (*value).to_owned())
                .or_else(|| pinned(d.property))
                .or_else(|| ref_name.clone()),
            None => tags.property.and_then(pinned),
        };
        let tag_name = tag.as_deref().map(type_ident_text);
        let hint = match &tag_name {
            Some(t) => format!("{type_name}{t}"),
            None => format!("{type_name}Variant{}", i + 1),
        };
        let ty = self.type_for(schemas, member, &hint);
        let name = ref_name
            .as_deref()
            .or(resolved.title())
            .map(type_ident_text)
            .or(tag_name)
            .or_else(|| ty.nominal.clone())
            .unwrap_or_else(|| primitive_variant_name(resolved, i));
        Variant {
            ident: format_ident!("{}", name),
            ty,
            tag,
        }
    }

    /// A `oneOf`/`anyOf` enum whose members nothing tells apart: serde's untagged enum.
    fn untagged_enum(
        &mut self,
        ident: &Ident,
        doc: TokenStream,
        decls: Vec<TokenStream>,
        key: &str,
    ) {
        let derives = self.derive_attrs(Derives::Plain);
        let note = format!(" Decoded as the first variant (in document order) that matches: the `{key}` gives no discriminator.");
        self.items.push(quote! {
            #doc
            #[doc = ""]
            #[doc = #note]
            #derives
            #[serde(untagged)]
            pub enum #ident { #(#decls)* }
        });
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

/// A variant named after its member's JSON type, else its position.
fn primitive_variant_name(schema: &Schema<'_>, i: usize) -> String {
    match schema.types().first().copied() {
        Some("string") => "String".to_owned(),
        Some("integer") => "Integer".to_owned(),
        Some("number") => "Number".to_owned(),
        Some("boolean") => "Boolean".to_owned(),
        Some("array") => "Array".to_owned(),
        Some("object") => "Object".to_owned(),
        _ => format!("Variant{}", i + 1),
    }
}
