//! 2.x: the examples and defaults a document gives must match their schemas, as the
//! official parser checks them (`asyncapi2-message-examples`, `asyncapi2-schema-default`,
//! `asyncapi2-schema-examples`). 3.x leaves them to tools.

use jsonschema::{Draft, Validator};
use serde_json::{json, Value};

use super::explain::{explain, Problem};
use super::Items;
use crate::load::pointer_under;
use crate::resolve::ref_of;

/// Problems of the examples and defaults of a 2.x document: `resolved` with its
/// references followed (a schema used again is a reference there), `schema_at` the
/// value at a pointer of it with every reference followed.
pub(super) fn check(resolved: &Value, schema_at: &dyn Fn(&str) -> Value, out: &mut Vec<Problem>) {
    for (message, at) in messages(resolved) {
        if message.get("examples").is_some() {
            let complete = schema_at(&at);
            message_examples(&complete, &at, out);
        }
        let payload = message.get("payload");
        if payload.is_some_and(|p| ref_of(p).is_some() || has_default_or_examples(p)) {
            let at = format!("{at}/payload");
            defaults_and_examples(&schema_at(&at), &at, out);
        }
    }
    for (schema, at) in schemas(resolved) {
        if has_default_or_examples(schema) {
            defaults_and_examples(&schema_at(&at), &at, out);
        }
    }
}

fn has_default_or_examples(schema: &Value) -> bool {
    schema.get("default").is_some() || schema.get("examples").is_some()
}

/// Each example's `payload` and `headers` against the message's schemas.
fn message_examples(message: &Value, at: &str, out: &mut Vec<Problem>) {
    let Some(examples) = message.get("examples").and_then(Value::as_array) else {
        return;
    };
    let payload = schema_or(message.get("payload"), json!({}));
    let headers = schema_or(message.get("headers"), json!({"type": "object"}));
    for (i, example) in examples.iter().enumerate() {
        for (part, schema) in [("payload", &payload), ("headers", &headers)] {
            if let Some(value) = example.get(part) {
                let what =
                    format!("this example's {part} does not match the message's {part} schema");
                matches(
                    schema,
                    value,
                    &format!("{at}/examples/{i}/{part}"),
                    &what,
                    out,
                );
            }
        }
    }
}

/// A schema's `default` and `examples` against the schema. Strings are not checked,
/// as the official parser does not report them.
fn defaults_and_examples(schema: &Value, at: &str, out: &mut Vec<Problem>) {
    if let Some(default) = schema.get("default").filter(|d| !d.is_string()) {
        matches(
            schema,
            default,
            &format!("{at}/default"),
            "the default does not match its schema",
            out,
        );
    }
    for (i, example) in schema.get("examples").items().enumerate() {
        if !example.is_string() {
            matches(
                schema,
                example,
                &format!("{at}/examples/{i}"),
                "this example does not match its schema",
                out,
            );
        }
    }
}

/// Validates `value` against `schema`; a schema that does not compile on its own (a
/// circular `$ref` left in it, a remote one) is not judged here.
fn matches(schema: &Value, value: &Value, at: &str, what: &str, out: &mut Vec<Problem>) {
    let Some(validator) = compile(schema) else {
        return;
    };
    for error in validator.iter_errors(value) {
        let mut found = Vec::new();
        explain(&error, None, &mut found);
        out.extend(found.into_iter().map(|p| {
            let message = format!("{what}: {}", p.message);
            Problem::new(format!("{at}{}", p.pointer), message, p.help).of_rule("examples")
        }));
    }
}

fn compile(schema: &Value) -> Option<Validator> {
    jsonschema::options()
        .with_draft(Draft::Draft7)
        .should_validate_formats(true)
        .build(schema)
        .ok()
}

/// A missing schema is `otherwise`; `true`/`false` are the schemas of anything/nothing.
fn schema_or(schema: Option<&Value>, otherwise: Value) -> Value {
    match schema {
        None | Some(Value::Null) => otherwise,
        Some(Value::Bool(true)) => json!({}),
        Some(Value::Bool(false)) => json!({"not": {}}),
        Some(schema) => schema.clone(),
    }
}

/// The messages and message traits whose payload is AsyncAPI or JSON Schema (no
/// `schemaFormat`), with their pointers.
fn messages(doc: &Value) -> Vec<(&Value, String)> {
    let mut found = Vec::new();
    for (message, at) in v2_messages(doc) {
        with_traits(message, at, &mut found);
    }
    let traits = doc
        .pointer("/components/messageTraits")
        .and_then(Value::as_object);
    for (name, message_trait) in traits.into_iter().flatten() {
        found.push((
            message_trait,
            pointer_under("/components/messageTraits", name),
        ));
    }
    found.retain(|(message, _)| message.get("schemaFormat").is_none());
    found
}

/// The messages of a 2.x document (of its channels' and component channels'
/// operations, each member of a `oneOf`, and `components.messages`), with their
/// pointers.
pub(super) fn v2_messages(doc: &Value) -> Vec<(&Value, String)> {
    let mut found = Vec::new();
    for (channels, base) in [
        (doc.get("channels"), "/channels"),
        (doc.pointer("/components/channels"), "/components/channels"),
    ] {
        for (name, channel) in channels.and_then(Value::as_object).into_iter().flatten() {
            for action in ["publish", "subscribe"] {
                let Some(message) = channel.get(action).and_then(|o| o.get("message")) else {
                    continue;
                };
                let at = format!("{}/{action}/message", pointer_under(base, name));
                match message.get("oneOf").and_then(Value::as_array) {
                    Some(members) => found.extend(
                        members
                            .iter()
                            .enumerate()
                            .map(|(i, m)| (m, format!("{at}/oneOf/{i}"))),
                    ),
                    None => found.push((message, at)),
                }
            }
        }
    }
    let components = doc
        .pointer("/components/messages")
        .and_then(Value::as_object);
    for (name, message) in components.into_iter().flatten() {
        found.push((message, pointer_under("/components/messages", name)));
    }
    found
}

fn with_traits<'a>(message: &'a Value, at: String, found: &mut Vec<(&'a Value, String)>) {
    for (i, message_trait) in message.get("traits").items().enumerate() {
        found.push((message_trait, format!("{at}/traits/{i}")));
    }
    found.push((message, at));
}

/// Parameter schemas and component schemas, with their pointers.
fn schemas(doc: &Value) -> Vec<(&Value, String)> {
    let mut found = Vec::new();
    for (channels, base) in [
        (doc.get("channels"), "/channels"),
        (doc.pointer("/components/channels"), "/components/channels"),
    ] {
        for (name, channel) in channels.and_then(Value::as_object).into_iter().flatten() {
            let parameters = channel.get("parameters").and_then(Value::as_object);
            for (parameter, value) in parameters.into_iter().flatten() {
                if let Some(schema) = value.get("schema") {
                    let at = format!(
                        "{}/schema",
                        pointer_under(
                            &format!("{}/parameters", pointer_under(base, name)),
                            parameter
                        )
                    );
                    found.push((schema, at));
                }
            }
        }
    }
    for (name, value) in doc
        .pointer("/components/parameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(schema) = value.get("schema") {
            found.push((
                schema,
                format!("{}/schema", pointer_under("/components/parameters", name)),
            ));
        }
    }
    for (name, schema) in doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        found.push((schema, pointer_under("/components/schemas", name)));
    }
    found
}
