//! An optional property's `default`: what an absent property decodes as. It is checked
//! against the property's schema and the field's Rust type when the document is
//! expanded, so a default that cannot be the field's value is a warning at its line,
//! not a field that is silently `None` at run time. The specification check refuses
//! some 2.x defaults already, as the official parser does (not strings, nor what only
//! the Rust type cannot hold); 3.x leaves defaults to tools.

use jsonschema::Draft;
use proc_macro2::TokenStream;
use quote::quote;
use serde_json::Value;

use crate::schema::Schema;
use crate::types::Ty;

/// Why the schema's `default` cannot be the field's value, if it cannot: it breaks the
/// schema (type, `enum`, `const`, `format`, bounds, items), or the field's integer or
/// `f32` type cannot hold it. A schema with `$ref`s inside is checked for its own type only (its
/// references are not followed here).
pub(crate) fn default_problem(fty: &Ty, schema: &Schema<'_>) -> Option<String> {
    let default = schema.default().filter(|d| !d.is_null())?;
    if let Some(why) = integer_out_of_range(fty, default).or_else(|| f32_out_of_range(fty, default))
    {
        return Some(why);
    }
    if contains_ref(schema.source) {
        return type_mismatch(schema.types(), default);
    }
    let validator = jsonschema::options()
        .with_draft(Draft::Draft7)
        .should_validate_formats(true)
        .build(schema.source)
        .ok()?;
    let error = validator.iter_errors(default).next()?;
    let at = error.instance_path().to_string();
    Some(if at.is_empty() {
        error.to_string()
    } else {
        format!("at `{at}`: {error}")
    })
}

/// An integer default the field's Rust integer type cannot hold (out of its range, or a
/// number with a fraction part, even `.0`: JSON Schema calls `3.0` an integer, serde
/// does not).
fn integer_out_of_range(fty: &Ty, default: &Value) -> Option<String> {
    let ty = fty.tokens.to_string();
    let (min, max) = integer_range(&ty)?;
    if !default.is_number() {
        return None;
    }
    let whole = default
        .as_i64()
        .map(i128::from)
        .or_else(|| default.as_u64().map(i128::from));
    match whole {
        None => Some(format!(
            "{default} is not a whole number the field's type `{ty}` can hold"
        )),
        Some(n) if !(min..=max).contains(&n) => Some(format!(
            "{n} does not fit the field's type `{ty}` (the schema's `format`)"
        )),
        Some(_) => None,
    }
}

/// A number default an `f32` field (`format: float`) cannot hold: it would be infinite.
fn f32_out_of_range(fty: &Ty, default: &Value) -> Option<String> {
    let value = default
        .as_f64()
        .filter(|_| fty.tokens.to_string() == "f32")?;
    (value.abs() > f64::from(f32::MAX)).then(|| {
        format!("{default} does not fit the field's type `f32` (the schema's `format: float`)")
    })
}

/// The values a Rust integer type holds; `None` for any other type.
fn integer_range(ty: &str) -> Option<(i128, i128)> {
    Some(match ty {
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" => (i64::MIN.into(), i64::MAX.into()),
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" => (0, u64::MAX.into()),
        _ => return None,
    })
}

/// The default's JSON type against the schema's `type` names (none: any type).
fn type_mismatch(types: &[&str], default: &Value) -> Option<String> {
    if types.is_empty() {
        return None;
    }
    let matches = |t: &str| match t {
        "string" => default.is_string(),
        "integer" => default.is_i64() || default.is_u64(),
        "number" => default.is_number(),
        "boolean" => default.is_boolean(),
        "array" => default.is_array(),
        "object" => default.is_object(),
        "null" => default.is_null(),
        _ => true,
    };
    (!types.iter().any(|t| matches(t)))
        .then(|| format!("{default} is not of type {}", types.join(" or ")))
}

fn contains_ref(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => map.contains_key("$ref") || map.values().any(contains_ref),
        Value::Array(items) => items.iter().any(contains_ref),
        _ => false,
    }
}

/// The schema's `default` as a Rust literal of the field's type, for scalar fields
/// (strings, integers, numbers, booleans) whose default has that type.
pub(crate) fn default_literal(fty: &Ty, schema: &Schema<'_>) -> Option<TokenStream> {
    let value = schema.default()?;
    if fty.nominal.is_some() || fty.nullable || fty.recursive {
        return None;
    }
    let ty = fty.tokens.to_string().replace(' ', "");
    match (ty.as_str(), value) {
        ("::std::string::String", Value::String(s)) => {
            Some(quote! { ::std::string::String::from(#s) })
        }
        ("bool", Value::Bool(b)) => Some(quote! { #b }),
        ("i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64", Value::Number(n)) => {
            // `default_problem` refused a default the type cannot hold.
            let n = n.as_i64()?;
            let n = proc_macro2::Literal::i64_unsuffixed(n);
            Some(quote! { #n })
        }
        ("f32" | "f64", Value::Number(n)) => {
            let n = proc_macro2::Literal::f64_unsuffixed(n.as_f64()?);
            Some(quote! { #n })
        }
        _ => None,
    }
}
