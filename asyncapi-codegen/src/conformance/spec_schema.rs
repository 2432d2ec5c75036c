//! The official AsyncAPI JSON Schemas, vendored from the `@asyncapi/specs` package
//! (Apache-2.0, see `spec-schemas/LICENSE` and `NOTICE`), prepared the way the official
//! parser prepares them, and compiled once per process: a proc macro that expands many
//! documents in one crate pays for each version once.

use std::sync::OnceLock;

use jsonschema::{Draft, Validator};

use crate::load::escape_segment;
use serde_json::{json, Value};

/// One version's schemas, compiled.
pub(super) struct SpecSchema {
    /// The schema document, to read what a failed keyword allows (field names).
    pub document: Value,
    /// The document with every `$ref` followed: structure and values.
    pub resolved: Validator,
    /// The document as written: only where a `$ref` may stand is taken from it.
    pub unresolved: Validator,
    /// 2.x only: an AsyncAPI Schema Object, for payloads, which the 2.x document schema
    /// leaves open and the official parser checks separately.
    pub schema_object: Option<Validator>,
}

const SCHEMAS: [(&str, &str); 9] = [
    ("2.0.0", include_str!("../../spec-schemas/2.0.0.json")),
    ("2.1.0", include_str!("../../spec-schemas/2.1.0.json")),
    ("2.2.0", include_str!("../../spec-schemas/2.2.0.json")),
    ("2.3.0", include_str!("../../spec-schemas/2.3.0.json")),
    ("2.4.0", include_str!("../../spec-schemas/2.4.0.json")),
    ("2.5.0", include_str!("../../spec-schemas/2.5.0.json")),
    ("2.6.0", include_str!("../../spec-schemas/2.6.0.json")),
    ("3.0.0", include_str!("../../spec-schemas/3.0.0.json")),
    ("3.1.0", include_str!("../../spec-schemas/3.1.0.json")),
];

static COMPILED: [OnceLock<Result<SpecSchema, String>>; 9] = [const { OnceLock::new() }; 9];

/// The compiled schemas of `version`; `None` for a version without one.
pub(super) fn for_version(version: &str) -> Option<Result<&'static SpecSchema, String>> {
    let index = SCHEMAS.iter().position(|(v, _)| *v == version)?;
    let compiled = COMPILED[index].get_or_init(|| compile(SCHEMAS[index].0, SCHEMAS[index].1));
    Some(compiled.as_ref().map_err(Clone::clone))
}

fn compile(version: &'static str, text: &str) -> Result<SpecSchema, String> {
    let mut document: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    prepare(&mut document, version);
    localize(&mut document);
    validate_subschemas_once(&mut document, version);
    let mut resolved_document = document.clone();
    if version.starts_with('3') {
        allow_resolved_objects(&mut resolved_document, version);
    }
    let schema_object = version.starts_with('2').then(|| {
        let object = format!("http://asyncapi.com/definitions/{version}/schema.json");
        json!({
            "$ref": format!("#/definitions/{}", escape_segment(&object)),
            "definitions": document.get("definitions").cloned().unwrap_or_default(),
        })
    });
    // Compiling is most of the cost of a first expansion (in the debug build a proc
    // macro runs as): the validators are independent, so they compile side by side.
    let (resolved, unresolved, schema_object) = std::thread::scope(|scope| {
        let unresolved = scope.spawn(|| build(&document));
        let schema_object = scope.spawn(|| schema_object.as_ref().map(build).transpose());
        let resolved = build(&resolved_document);
        let panicked = "a validator build panicked";
        let unresolved = unresolved
            .join()
            .unwrap_or_else(|_| Err(panicked.to_owned()));
        let schema_object = schema_object
            .join()
            .unwrap_or_else(|_| Err(panicked.to_owned()));
        (resolved, unresolved, schema_object)
    });
    Ok(SpecSchema {
        document,
        resolved: resolved?,
        unresolved: unresolved?,
        schema_object: schema_object?,
    })
}

fn build(schema: &Value) -> Result<Validator, String> {
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| format!("the bundled AsyncAPI schema does not compile: {e}"))
}

/// What the official parser changes before validating: a `$ref` string need not be an
/// RFC 3986 URI (JSON pointer segments such as `[` are valid). The bundle's own copy of
/// the draft-07 meta-schema stays: it is the one the official parser's validator has
/// (an `enum` has at least one value), stricter than the validator's built-in copy.
fn prepare(document: &mut Value, version: &str) {
    if let Some(definitions) = document
        .get_mut("definitions")
        .and_then(Value::as_object_mut)
    {
        let reference = format!("http://asyncapi.com/definitions/{version}/ReferenceObject.json");
        if let Some(Value::Object(reference)) = definitions.get_mut(&reference) {
            if reference.get("format").and_then(Value::as_str) == Some("uri-reference") {
                reference.remove("format");
            }
        }
    }
}

/// Turns the bundle's definitions, each an embedded resource with its own `$id`, into
/// plain `definitions` of one resource referenced by JSON pointer. Same meaning; but
/// the validator compiles a hundred embedded resources orders of magnitude slower
/// (seconds, in the debug build a proc macro runs as) than one.
fn localize(document: &mut Value) {
    let Some(Value::Object(definitions)) = document.get_mut("definitions") else {
        return;
    };
    let ids: Vec<String> = definitions.keys().cloned().collect();
    for (id, definition) in definitions.iter_mut() {
        let base = format!("#/definitions/{}", escape_segment(id));
        if let Value::Object(map) = definition {
            map.remove("$id");
        }
        rewrite_refs(definition, &ids, &base, false);
    }
    if let Value::Object(root) = document {
        for (key, child) in root.iter_mut() {
            if key != "definitions" {
                rewrite_refs(
                    child,
                    &ids,
                    "#",
                    key == "properties" || key == "patternProperties",
                );
            }
        }
    }
}

/// Points the `$ref`s of one definition at `definitions`: a definition's id becomes
/// its pointer, and a fragment-only reference (relative to the definition itself)
/// gets the definition's pointer in front. Values that are data, not schemas
/// (`examples`, `enum`, ...), are left alone; `names_schemas` says the keys of `value`
/// are names (of `properties`, `definitions`), each followed by a schema.
fn rewrite_refs(value: &mut Value, ids: &[String], base: &str, names_schemas: bool) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref") {
                let (id, fragment) = reference.split_once('#').unwrap_or((reference, ""));
                if id.is_empty() {
                    *reference = format!("{base}{fragment}");
                } else if ids.iter().any(|known| known == id) {
                    *reference = format!("#/definitions/{}{fragment}", escape_segment(id));
                }
            }
            for (key, child) in map.iter_mut() {
                let is_data = matches!(
                    key.as_str(),
                    "examples" | "example" | "enum" | "const" | "default"
                );
                if names_schemas || !is_data {
                    let names = matches!(
                        key.as_str(),
                        "properties" | "patternProperties" | "definitions" | "dependencies"
                    );
                    rewrite_refs(child, ids, base, !names_schemas && names);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| rewrite_refs(v, ids, base, false)),
        _ => {}
    }
}

/// An AsyncAPI Schema Object is `allOf` the draft-07 meta-schema and an extension that
/// declares the subschema keywords again (`properties`, `items`, `allOf`, ...) as
/// AsyncAPI Schema Objects. Both recurse, so every subschema was validated twice per
/// level: exponential in the nesting depth. The draft-07 half is given `true` for the
/// keywords the extension declares (which checks their shape and recurses): each
/// subschema is then validated once, against the same rules.
fn validate_subschemas_once(document: &mut Value, version: &str) {
    let draft = "http://json-schema.org/draft-07/schema";
    let object = format!("http://asyncapi.com/definitions/{version}/schema.json");
    let Some(Value::Object(definitions)) = document.get_mut("definitions") else {
        return;
    };
    let redeclared: Vec<String> = definitions
        .get(&object)
        .and_then(|o| o.pointer("/allOf/1/properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let Some(mut shallow) = definitions.get(draft).cloned() else {
        return;
    };
    let Some(Value::Object(keywords)) = shallow.get_mut("properties") else {
        return;
    };
    for keyword in &redeclared {
        if let Some(rule) = keywords.get_mut(keyword) {
            *rule = Value::Bool(true);
        }
    }
    let shallow_name = "draft-07-without-redeclared-subschemas";
    definitions.insert(shallow_name.to_owned(), shallow);
    if let Some(Value::Object(first)) = definitions
        .get_mut(&object)
        .and_then(|o| o.pointer_mut("/allOf/0"))
    {
        let local = format!("#/definitions/{}", escape_segment(shallow_name));
        first.insert("$ref".to_owned(), Value::String(local));
    }
}

/// In 3.x an operation's `channel` and `messages`, a reply's, and a channel's `servers`
/// must be `$ref`s; once references are followed they are the objects themselves.
fn allow_resolved_objects(document: &mut Value, version: &str) {
    let definition = |name: &str| format!("http://asyncapi.com/definitions/{version}/{name}");
    let patches = [
        ("channel.json", "/properties/servers/items", "server.json"),
        ("operation.json", "/properties/channel", "channel.json"),
        (
            "operation.json",
            "/properties/messages/items",
            "messageObject.json",
        ),
        ("operationReply.json", "/properties/channel", "channel.json"),
        (
            "operationReply.json",
            "/properties/messages/items",
            "messageObject.json",
        ),
    ];
    for (owner, pointer, target) in patches {
        let Some(definitions) = document.get_mut("definitions") else {
            return;
        };
        let Some(Value::Object(place)) = definitions
            .get_mut(definition(owner))
            .and_then(|d| d.pointer_mut(pointer))
        else {
            continue;
        };
        let local = format!("#/definitions/{}", escape_segment(&definition(target)));
        place.insert("$ref".to_owned(), Value::String(local));
    }
}

/// The definition a keyword location points into, its id, and the JSON pointer inside
/// it: `…/asyncapi.json#/definitions/http:~1~1asyncapi.com~1definitions~13.0.0~1info.json/additionalProperties`
/// → (the `info.json` definition, its id, `/additionalProperties`).
pub(super) fn definition_at<'s>(
    spec: &'s SpecSchema,
    location: &str,
) -> Option<(&'s Value, String, String)> {
    let (root_id, fragment) = location.split_once('#')?;
    let Some(rest) = fragment.strip_prefix("/definitions/") else {
        // The top level of the document is the schema's root.
        return Some((&spec.document, root_id.to_owned(), fragment.to_owned()));
    };
    let (id, inside) = rest
        .split_once('/')
        .map_or((rest, ""), |(id, inside)| (id, inside));
    let id = id.replace("~1", "/").replace("~0", "~");
    let definition = spec.document.get("definitions")?.get(&id)?;
    Some((
        definition,
        id,
        format!("/{inside}").trim_end_matches('/').to_owned(),
    ))
}

/// A short name for what a definition describes: `…/3.0.0/info.json` → `info`,
/// `…/messageObject.json` → `message`.
pub(super) fn definition_name(id: &str) -> Option<String> {
    if !id.starts_with("http://asyncapi.com/definitions/") {
        return None;
    }
    let file = id.rsplit('/').next()?;
    let stem = file.strip_suffix(".json").unwrap_or(file);
    let stem = stem.strip_suffix("Object").unwrap_or(stem);
    Some(stem.to_owned())
}
