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

use std::rc::Rc;

use crate::resolve::NodeId;
use crate::schema::{Additional, Schema, Schemas, Shape, Written};

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
pub fn type_enforces_schema(schemas: &Schemas<'_>, at: &NodeId) -> bool {
    let mut path = Vec::new();
    enforced(schemas, &schemas.at(at), &mut path)
}

fn is_annotation(key: &str) -> bool {
    ANNOTATIONS.contains(&key) || key.starts_with("x-")
}

fn enforced<'r>(schemas: &Schemas<'r>, schema: &Rc<Schema<'r>>, path: &mut Vec<NodeId>) -> bool {
    // Siblings of a `$ref` are applied by the validator but ignored by the type.
    if let Some(keywords) = schema.keywords().filter(|k| k.reference.is_some()) {
        let annotated_ref = keywords
            .written
            .iter()
            .all(|k| *k == "$ref" || is_annotation(k));
        if !annotated_ref {
            return false;
        }
    }
    let Ok(target) = schemas.resolved(schema) else {
        return false;
    };
    // Recursive schemas keep their validation: the analysis stays a plain tree walk.
    if path.contains(&target.at) || path.len() > MAX_DEPTH {
        return false;
    }
    let Some(properties) = enforced_keywords(&target) else {
        return false;
    };
    path.push(target.at.clone());
    let children_ok = properties
        .iter()
        .all(|property| enforced(schemas, property, path));
    path.pop();
    children_ok
}

/// The schemas of the schema's properties when its own keywords are all carried by its
/// type (the properties' schemas are checked by the caller); `None` when one is not.
fn enforced_keywords<'a, 'r>(schema: &'a Schema<'r>) -> Option<Vec<&'a Rc<Schema<'r>>>> {
    let keywords = match &schema.shape {
        Shape::Boolean(true) => return Some(Vec::new()),
        Shape::Object(keywords) => keywords,
        _ => return None,
    };
    let ty = match keywords.single_type {
        None if !keywords.written.contains(&"type") => None,
        Some(t) if t != "null" && t != "array" => Some(t),
        _ => return None,
    };
    let keywords_enforced = keywords.written.iter().all(|key| match *key {
        "type" | "properties" | "required" | "enum" => true,
        "nullable" => matches!(keywords.nullable, Written::Valid(false)),
        "additionalProperties" => matches!(
            keywords.additional,
            Written::Valid(Additional::Allowed(true))
        ),
        // Integer and number formats only pick the Rust width.
        "format" => matches!(ty, Some("integer" | "number")),
        k => is_annotation(k),
    });
    if !keywords_enforced {
        return None;
    }
    if keywords.enumeration.is_written() {
        let strings = keywords.enumeration.valid().is_some_and(|values| {
            !values.is_empty() && values.iter().all(serde_json::Value::is_string)
        });
        let string_enum =
            strings && matches!(ty, None | Some("string")) && !keywords.properties.is_written();
        return string_enum.then(Vec::new);
    }
    let properties: Vec<(&str, &Rc<Schema<'r>>)> = match &keywords.properties {
        Written::Absent => Vec::new(),
        Written::Valid(list) if matches!(ty, None | Some("object")) => {
            list.iter().map(|(name, schema)| (*name, schema)).collect()
        }
        _ => return None,
    };
    let required_declared = match &keywords.required {
        Written::Absent => true,
        Written::Valid(names) => names
            .iter()
            .all(|n| properties.iter().any(|(name, _)| name == n)),
        Written::Malformed => false,
    };
    required_declared.then(|| properties.into_iter().map(|(_, schema)| schema).collect())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::load::parse_text;
    use crate::resolve::Resolver;

    /// Whether `components.schemas.S` of a document holding `schemas` is exact.
    fn exact(schemas: &str) -> bool {
        let text = format!("components:\n  schemas:\n{}", indent(schemas));
        let file = parse_text(Path::new("t.yaml"), &text).expect("test document parses");
        let (r, root) = Resolver::from_loaded(file);
        let at = root.child("components").child("schemas").child("S");
        type_enforces_schema(&Schemas::new(&r), &at)
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
