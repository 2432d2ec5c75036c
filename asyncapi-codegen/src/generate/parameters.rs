//! A channel's `{parameters}` struct: typed fields (an enum per string parameter with
//! `enum` values, `i64`, `f64`, `bool`), the topic segments they render to, and the
//! checks the document asks for (`pattern`, `enum`) on send and on receive.

use std::collections::HashSet;

use asyncapi_syntax::address::placeholders;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::naming::channel_type_name;
use super::Generator;
use crate::ir::{Channel, Parameter, ParameterKind};
use crate::types::{doc_attrs, field_ident_text, type_ident_text, unique, unique_with};

/// One field of the parameters struct, and what each impl method does with it.
struct ParameterField {
    decl: TokenStream,
    value: TokenStream,
    check: TokenStream,
    parse: TokenStream,
    /// Its type implements `Default` / `Eq + Hash`.
    has_default: bool,
    has_eq: bool,
}

impl Generator<'_> {
    /// The parameters type of channel `c` and its items (`NoParameters` and nothing
    /// when the channel has none).
    pub(super) fn parameters(&mut self, c: &Channel) -> (TokenStream, TokenStream) {
        let rt = self.rt.clone();
        if c.parameters.is_empty() {
            return (quote! { #rt::NoParameters }, quote! {});
        }
        let name = format_ident!("{}", self.items_of(c).parameters.1);
        let order: Vec<String> = match &c.topic {
            Ok(t) => placeholders(t).into_iter().map(str::to_owned).collect(),
            Err(_) => c.parameters.iter().map(|p| p.name.clone()).collect(),
        };
        let mut enums = Vec::new();
        let names = parameter_field_names(&order);
        let fields: Vec<ParameterField> = order
            .iter()
            .zip(&names)
            .enumerate()
            .map(|(i, (pname, field))| {
                let param = c.parameters.iter().find(|p| &p.name == pname);
                self.parameter_field(c, i, (pname, field), param, &mut enums)
            })
            .collect();
        let derives = struct_derives(&fields);
        let decls = fields.iter().map(|f| &f.decl);
        let values = fields.iter().map(|f| &f.value);
        let checks: Vec<&TokenStream> = fields.iter().map(|f| &f.check).collect();
        // The checks read the values as they go into the topic.
        let rendered = checks
            .iter()
            .any(|c| !c.is_empty())
            .then(|| quote! { let rendered = #rt::ChannelParameters::values(self); });
        let parses = fields.iter().map(|f| &f.parse);
        let doc = format!(
            " Values of the `{{parameters}}` of channel `{}`: they build its topic.",
            c.id
        );
        let item = quote! {
            #(#enums)*

            #[doc = #doc]
            #[derive(#derives)]
            pub struct #name { #(#decls)* }

            impl #rt::ChannelParameters for #name {
                fn values(&self) -> ::std::vec::Vec<::std::borrow::Cow<'_, str>> { ::std::vec![#(#values),*] }
                fn check(&self) -> ::std::result::Result<(), #rt::TopicError> {
                    #rendered
                    #(#checks)*
                    ::std::result::Result::Ok(())
                }
                fn from_values(values: &[&str]) -> ::std::result::Result<Self, #rt::DecodeError> {
                    ::std::result::Result::Ok(Self { #(#parses)* })
                }
            }
        };
        (quote! { #name }, item)
    }

    /// The field of parameter `pname` (the `i`-th placeholder); a string parameter with
    /// `enum` values pushes its enum onto `enums`.
    fn parameter_field(
        &self,
        c: &Channel,
        i: usize,
        (pname, field): (&str, &str),
        param: Option<&Parameter>,
        enums: &mut Vec<TokenStream>,
    ) -> ParameterField {
        let rt = &self.rt;
        let field = format_ident!("{}", field);
        let kind = param.map_or(ParameterKind::String, |p| p.kind);
        let allowed: &[String] = param.map_or(&[], |p| &p.allowed);
        let pattern = param.and_then(|p| p.pattern.as_deref());
        let doc = parameter_doc(param);
        let missing = quote! {
            *values.get(#i).ok_or(#rt::DecodeError::Parameter { name: #pname, reason: ::std::string::String::from("missing") })?
        };
        if kind == ParameterKind::String && !allowed.is_empty() {
            let (ident, item, has_default) = self.parameter_enum(c, pname, param);
            enums.push(item);
            return ParameterField {
                decl: quote! { #doc pub #field: #ident, },
                value: quote! { ::std::borrow::Cow::Borrowed(self.#field.as_str()) },
                check: quote! {},
                parse: quote! {
                    #field: {
                        let value = #missing;
                        value.parse::<#ident>().map_err(|e| #rt::DecodeError::Parameter { name: #pname, reason: ::std::string::ToString::to_string(&e) })?
                    },
                },
                has_default,
                has_eq: true,
            };
        }
        let (ty, value, parsed) = match kind {
            ParameterKind::String => (
                quote! { ::std::string::String },
                quote! { ::std::borrow::Cow::Borrowed(self.#field.as_str()) },
                quote! { ::std::string::String::from(value) },
            ),
            ParameterKind::Integer => scalar(rt, &field, pname, quote! { i64 }, "an integer"),
            ParameterKind::Number => scalar(rt, &field, pname, quote! { f64 }, "a number"),
            ParameterKind::Boolean => {
                scalar(rt, &field, pname, quote! { bool }, "`true` or `false`")
            }
        };
        let rendered = quote! { &rendered[#i] };
        let send_checks = value_checks(rt, pname, pattern, allowed, &rendered, true);
        let receive_checks = value_checks(rt, pname, pattern, allowed, &quote! { value }, false);
        ParameterField {
            decl: quote! { #doc pub #field: #ty, },
            value,
            check: send_checks,
            parse: quote! {
                #field: {
                    let value = #missing;
                    #receive_checks
                    #parsed
                },
            },
            has_default: true,
            has_eq: kind != ParameterKind::Number,
        }
    }

    /// The enum of a string parameter's `enum` values: `as_str`, `Display`, `FromStr`,
    /// and `Default` when the document gives a default among them.
    fn parameter_enum(
        &self,
        c: &Channel,
        pname: &str,
        param: Option<&Parameter>,
    ) -> (proc_macro2::Ident, TokenStream, bool) {
        let rt = &self.rt;
        let items = self.items_of(c);
        let ident = match items.parameter_enum(pname) {
            Some(given) => format_ident!("{}", given),
            // Not reached: a parameter listing values has its enum named.
            None => format_ident!("{}{}", channel_type_name(c), type_ident_text(pname)),
        };
        // 3.0 does not ask `enum` values to be unique: each is one variant.
        let mut seen = HashSet::new();
        let allowed: Vec<&String> = param
            .map_or(&[][..], |p| &p.allowed)
            .iter()
            .filter(|value| seen.insert(*value))
            .collect();
        let default = param.and_then(|p| p.default.as_ref());
        let mut taken = HashSet::new();
        let variants: Vec<proc_macro2::Ident> = allowed
            .iter()
            .map(|value| format_ident!("{}", unique(type_ident_text(value), &mut taken)))
            .collect();
        let has_default = default.is_some_and(|d| allowed.contains(&d));
        let decls = variants.iter().zip(&allowed).map(|(v, value)| {
            let doc = format!(" `{value}`");
            let default_attr = (Some(*value) == default).then(|| quote! { #[default] });
            quote! { #[doc = #doc] #default_attr #v, }
        });
        let default_derive = has_default.then(|| quote! { Default, });
        let doc = format!(" Values of parameter `{pname}` of channel `{}`.", c.id);
        let item = quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, #default_derive)]
            pub enum #ident { #(#decls)* }

            impl #ident {
                /// Every value, in document order.
                pub const ALL: &'static [#ident] = &[#(#ident::#variants),*];

                /// The value as it appears in the topic.
                pub fn as_str(&self) -> &'static str {
                    match self { #(#ident::#variants => #allowed,)* }
                }
            }

            impl ::std::fmt::Display for #ident {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }

            impl ::std::str::FromStr for #ident {
                type Err = #rt::UnknownValue;
                fn from_str(value: &str) -> ::std::result::Result<#ident, #rt::UnknownValue> {
                    match value {
                        #(#allowed => ::std::result::Result::Ok(#ident::#variants),)*
                        _ => ::std::result::Result::Err(#rt::UnknownValue::new(value, &[#(#allowed),*])),
                    }
                }
            }
        };
        (ident, item, has_default)
    }
}

/// The field of each parameter, in placeholder order: names that collide once converted
/// (`user-id`, `user_id`) get `_2`, `_3`, ... (`validate` warns).
pub(crate) fn parameter_field_names(order: &[String]) -> Vec<String> {
    let mut taken = HashSet::new();
    order
        .iter()
        .map(|pname| unique_with(field_ident_text(pname), "_", &mut taken))
        .collect()
}

/// Type, rendering and parsing of an `i64`, `f64` or `bool` parameter.
fn scalar(
    rt: &TokenStream,
    field: &proc_macro2::Ident,
    pname: &str,
    ty: TokenStream,
    what: &str,
) -> (TokenStream, TokenStream, TokenStream) {
    let reason = format!("must be {what}");
    (
        ty.clone(),
        quote! { ::std::borrow::Cow::Owned(::std::string::ToString::to_string(&self.#field)) },
        quote! {
            value.parse::<#ty>().map_err(|_| #rt::DecodeError::Parameter { name: #pname, reason: ::std::string::String::from(#reason) })?
        },
    )
}

/// The `pattern` and `enum` checks of a parameter's rendered `value`: a `TopicError`
/// before sending, a `DecodeError` on receive.
fn value_checks(
    rt: &TokenStream,
    pname: &str,
    pattern: Option<&str>,
    allowed: &[String],
    value: &TokenStream,
    sending: bool,
) -> TokenStream {
    let mut out = TokenStream::new();
    if let Some(pattern) = pattern {
        let fail = if sending {
            quote! { #rt::TopicError::PatternMismatch { name: #pname, value: ::std::string::ToString::to_string(value), pattern: #pattern } }
        } else {
            let reason = format!("does not match the pattern `{pattern}`");
            quote! { #rt::DecodeError::Parameter { name: #pname, reason: ::std::string::String::from(#reason) } }
        };
        out.extend(quote! {
            {
                let value: &str = #value;
                if !#rt::codec::matches_pattern(#pattern, value) {
                    return ::std::result::Result::Err(#fail);
                }
            }
        });
    }
    if !allowed.is_empty() {
        let fail = if sending {
            quote! { #rt::TopicError::NotAllowed { name: #pname, value: ::std::string::ToString::to_string(value), allowed: &[#(#allowed),*] } }
        } else {
            let reason = format!("must be one of {}", allowed.join(", "));
            quote! { #rt::DecodeError::Parameter { name: #pname, reason: ::std::string::String::from(#reason) } }
        };
        out.extend(quote! {
            {
                let value: &str = #value;
                if ![#(#allowed),*].contains(&value) {
                    return ::std::result::Result::Err(#fail);
                }
            }
        });
    }
    out
}

/// The parameter's description, its allowed values and its pattern, as doc lines.
fn parameter_doc(param: Option<&Parameter>) -> TokenStream {
    let mut docs = vec![param.and_then(|p| p.description.clone())];
    if let Some(p) = param {
        if !p.allowed.is_empty() {
            let list: Vec<String> = p.allowed.iter().map(|a| format!("`{a}`")).collect();
            docs.push(Some(format!("One of: {}.", list.join(", "))));
        }
        if let Some(pattern) = &p.pattern {
            docs.push(Some(format!(
                "Must match `{pattern}` (checked before sending)."
            )));
        }
    }
    doc_attrs(&docs.iter().map(|d| d.as_deref()).collect::<Vec<_>>())
}

/// `Default` when every field has one, `Eq, Hash` unless a field is a float.
fn struct_derives(fields: &[ParameterField]) -> TokenStream {
    let default = fields
        .iter()
        .all(|f| f.has_default)
        .then(|| quote! { Default, });
    let eq = fields
        .iter()
        .all(|f| f.has_eq)
        .then(|| quote! { Eq, Hash, });
    quote! { Debug, Clone, PartialEq, #eq #default }
}
