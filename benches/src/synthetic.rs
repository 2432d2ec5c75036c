//! A large synthetic AsyncAPI 3.0 document for the compile-time benchmarks.

use serde_json::{json, Map, Value};

/// A document with `channels` channels (one operation and one message each) and
/// `schemas` component schemas: objects with nested inline objects, enums, arrays,
/// `oneOf`s and `$ref`s to other schemas (always to a higher index in the same block of
/// ten, so no cycles and `$ref` chains of at most ten: see [`fan_out_document`] for why).
pub fn document(channels: usize, schemas: usize) -> Value {
    build(channels, schemas, 10)
}

/// A document whose schemas form one `$ref` DAG: schema `i` refers to `i+1` (`child`)
/// and `i+2` (`items`...), so the number of paths from the root grows like Fibonacci.
/// Used to show the cost of inlining every `$ref` into the payload schema.
pub fn fan_out_document(schemas: usize) -> Value {
    build(1, schemas, usize::MAX)
}

fn build(channels: usize, schemas: usize, block: usize) -> Value {
    let r = |i: usize| json!({ "$ref": format!("#/components/schemas/Schema{i}") });
    let mut schema_map = Map::new();
    for i in 0..schemas {
        let next = |k: usize| (i + k < schemas && (i + k) / block == i / block).then(|| i + k);
        let seventh = if block == usize::MAX { 2 } else { 7 };
        let schema = if i % 10 == 5 {
            // A union of two later schemas, or of a string and an integer at the end.
            match (next(1), next(2)) {
                (Some(a), Some(b)) => json!({ "oneOf": [r(a), r(b)] }),
                _ => json!({ "oneOf": [{ "type": "string" }, { "type": "integer" }] }),
            }
        } else {
            let mut props = Map::new();
            props.insert("id".into(), json!({ "type": "string", "format": "uuid" }));
            props.insert(
                "count".into(),
                json!({ "type": "integer", "format": "int64" }),
            );
            props.insert("ratio".into(), json!({ "type": "number" }));
            props.insert(
                "status".into(),
                json!({ "type": "string", "enum": ["active", "suspended", format!("state-{}", i % 7)] }),
            );
            props.insert(
                "createdAt".into(),
                json!({ "type": "string", "format": "date-time" }),
            );
            props.insert(
                "detail".into(),
                json!({
                    "type": "object",
                    "properties": {
                        "label": { "type": "string" },
                        "tags": { "type": "array", "items": { "type": "string" } },
                        "inner": {
                            "type": "object",
                            "properties": {
                                "level": { "type": "integer", "enum": [1, 2, 3] },
                                "flag": { "type": "boolean" }
                            }
                        }
                    }
                }),
            );
            if let Some(a) = next(1) {
                props.insert("child".into(), r(a));
            }
            if let Some(b) = next(seventh) {
                props.insert("items".into(), json!({ "type": "array", "items": r(b) }));
            }
            json!({
                "type": "object",
                "description": format!("Synthetic schema number {i}."),
                "required": ["id", "status"],
                "properties": props
            })
        };
        schema_map.insert(format!("Schema{i}"), schema);
    }
    let mut channel_map = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    for c in 0..channels {
        let payload = (c * schemas / channels.max(1)).min(schemas.saturating_sub(1));
        messages.insert(
            format!("Message{c}"),
            json!({
                "name": format!("Message{c}"),
                "contentType": "application/json",
                "payload": r(payload)
            }),
        );
        channel_map.insert(
            format!("channel{c}"),
            json!({
                "address": format!("synthetic.topic.{c}"),
                "messages": { format!("message{c}"): { "$ref": format!("#/components/messages/Message{c}") } },
                "bindings": { "kafka": { "partitions": 3 } }
            }),
        );
        operations.insert(
            format!("operation{c}"),
            json!({
                "action": if c % 2 == 0 { "send" } else { "receive" },
                "channel": { "$ref": format!("#/channels/channel{c}") },
                "summary": format!("Operation {c}.")
            }),
        );
    }
    json!({
        "asyncapi": "3.0.0",
        "info": { "title": "Synthetic", "version": "1.0.0" },
        "servers": { "local": { "host": "localhost:9092", "protocol": "kafka" } },
        "channels": channel_map,
        "operations": operations,
        "components": { "messages": messages, "schemas": schema_map }
    })
}

/// [`fan_out_document`] as YAML text.
pub fn fan_out_yaml(schemas: usize) -> String {
    serde_yaml::to_string(&fan_out_document(schemas)).unwrap_or_default()
}

/// [`document`] as YAML text.
pub fn yaml(channels: usize, schemas: usize) -> String {
    serde_yaml::to_string(&document(channels, schemas)).unwrap_or_default()
}
