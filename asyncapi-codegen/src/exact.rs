//! Whether a payload's generated type accepts exactly the JSON its schema accepts.
//!
//! When it does, decoding already is schema validation, and the consumer can skip the
//! JSON Schema pass (which parses every record a second time, into a `serde_json::Value`).
//! The walk is an allow-list: any keyword whose meaning the type does not carry
//! (`minimum`, `pattern`, `format` on strings, `nullable`, `oneOf`, ...) makes the answer
//! "no", and the schema is validated as before.
//!
//! What the generated types rely on: required properties are plain fields (serde rejects
//! a missing one), optional ones reject `null` (`codec::present`), string enums only
//! deserialize from a string (`codec::deserialize_from_str`), and unknown properties are ignored
//! as JSON Schema allows. One difference remains, which the runtime covers: serde also
//! takes an array in place of an object (`[..]` in field order). Schemas with arrays are
//! therefore never exact, and the runtime validates any record that contains a `[`.

use serde_json::Value;

use crate::resolve::{ref_of, NodeId, Resolver};

/// Keywords that never make a schema reject a value.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "examples",
    "example",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
    "externalDocs",
];

/// Schemas nested deeper than this are validated rather than analysed.
const MAX_DEPTH: usize = 64;

/// True when decoding into the type generated for the schema at `at` rejects every
/// value the schema rejects, for values without JSON arrays (see the module docs).
pub fn type_enforces_schema(r: &Resolver, at: &NodeId) -> bool {
    let mut path = Vec::new();
    enforced(r, at, &mut path)
}

fn is_annotation(key: &str) -> bool {
    ANNOTATIONS.contains(&key) || key.starts_with("x-")
}

fn enforced(r: &Resolver, at: &NodeId, path: &mut Vec<NodeId>) -> bool {
    // Siblings of a `$ref` are applied by the validator but ignored by the type.
    if let Some(node) = r.get(at) {
        let annotated_ref = node
            .as_object()
            .is_some_and(|o| o.keys().all(|k| k == "$ref" || is_annotation(k)));
        if ref_of(node).is_some() && !annotated_ref {
            return false;
        }
    }
    let Ok(target) = r.follow(at) else {
        return false;
    };
    // Recursive schemas keep their validation: the analysis stays a plain tree walk.
    if path.contains(&target) || path.len() > MAX_DEPTH {
        return false;
    }
    let Some(properties) = r.get(&target).and_then(enforced_keywords) else {
        return false;
    };
    path.push(target.clone());
    let children_ok = properties
        .iter()
        .all(|name| enforced(r, &target.child("properties").child(name), path));
    path.pop();
    children_ok
}

/// The names of the schema's properties when its own keywords are all carried by its
/// type (the properties' schemas are checked by the caller); `None` when one is not.
fn enforced_keywords(schema: &Value) -> Option<Vec<&str>> {
    let obj = match schema {
        Value::Bool(true) => return Some(Vec::new()),
        Value::Object(o) => o,
        _ => return None,
    };
    let ty = match obj.get("type") {
        None => None,
        Some(Value::String(t)) if t != "null" && t != "array" => Some(t.as_str()),
        Some(_) => return None,
    };
    let keywords_enforced = obj.iter().all(|(key, value)| match key.as_str() {
        "type" | "properties" | "required" | "enum" => true,
        "nullable" => value == &Value::Bool(false),
        "additionalProperties" => value == &Value::Bool(true),
        // Integer and number formats only pick the Rust width.
        "format" => matches!(ty, Some("integer" | "number")),
        k => is_annotation(k),
    });
    if !keywords_enforced {
        return None;
    }
    if let Some(values) = obj.get("enum") {
        let strings = values
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
        let string_enum =
            strings && matches!(ty, None | Some("string")) && !obj.contains_key("properties");
        return string_enum.then(Vec::new);
    }
    let properties: Vec<&str> = match obj.get("properties") {
        None => Vec::new(),
        Some(Value::Object(p)) if matches!(ty, None | Some("object")) => {
            p.keys().map(String::as_str).collect()
        }
        Some(_) => return None,
    };
    let required_declared = match obj.get("required") {
        None => true,
        Some(Value::Array(names)) => names
            .iter()
            .all(|n| n.as_str().is_some_and(|n| properties.contains(&n))),
        Some(_) => false,
    };
    required_declared.then_some(properties)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::load::parse_text;

    /// Whether `components.schemas.S` of a document holding `schemas` is exact.
    fn exact(schemas: &str) -> bool {
        let text = format!("components:\n  schemas:\n{}", indent(schemas));
        let file = parse_text(Path::new("t.yaml"), &text).expect("test document parses");
        let (r, root) = Resolver::from_loaded(file);
        let at = root.child("components").child("schemas").child("S");
        type_enforces_schema(&r, &at)
    }

    fn indent(text: &str) -> String {
        text.lines().map(|l| format!("    {l}\n")).collect()
    }

    #[test]
    fn plain_objects_scalars_and_string_enums_are_exact() {
        assert!(exact(
            "S:
  type: object
  description: an event
  required: [id, kind]
  properties:
    id: { type: string }
    seq: { type: integer, format: int64 }
    ratio: { type: number }
    ok: { type: boolean }
    kind: { type: string, enum: [a, b] }
    any: { description: anything }
    inner: { $ref: '#/components/schemas/Inner' }
    x-extension: {}
Inner:
  type: object
  properties:
    label: { type: string, x-note: kept }"
        ));
        assert!(exact("S: { type: object }"));
        assert!(exact("S: { enum: [only] }"));
    }

    #[test]
    fn constraints_the_type_does_not_carry_are_not_exact() {
        for schema in [
            "S: { type: string, minLength: 1 }",
            "S: { type: string, format: email }",
            "S: { type: string, format: date-time }",
            "S: { type: integer, minimum: 0 }",
            "S: { type: string, nullable: true }",
            "S: { type: [string, 'null'] }",
            "S: { type: object, additionalProperties: false }",
            "S: { type: object, additionalProperties: { type: string } }",
            "S: { type: array, items: { type: string } }",
            "S: { type: object, properties: { a: { type: string } }, required: [b] }",
            "S: { enum: [a, 1] }",
            "S: { const: a }",
            "S: { oneOf: [{ type: string }, { type: integer }] }",
            "S: { allOf: [{ type: object }] }",
            "S: { not: { type: string } }",
            "S: false",
            "S: { type: object, properties: { a: { $ref: '#/components/schemas/T', minLength: 1 } } }\nT: { type: string }",
            "S: { type: object, properties: { a: { $ref: '#/components/schemas/Missing' } } }",
            // Recursion keeps its validation.
            "S: { type: object, properties: { next: { $ref: '#/components/schemas/S' } } }",
            // A deep violation spoils the whole payload.
            "S: { type: object, properties: { a: { type: object, properties: { b: { type: string, pattern: x } } } } }",
        ] {
            assert!(!exact(schema), "{schema}");
        }
    }
}
