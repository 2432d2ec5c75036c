//! The payload schema bundled into one self-contained JSON Schema for run-time
//! validation.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::load::push_segment;
use crate::resolve::{field_of, ref_of, NodeId, Resolver};

/// The payload schema as one self-contained JSON Schema (JSON text) for run-time
/// validation: every schema a `$ref` names is copied once into `$defs` and referenced
/// from there, so recursion stays recursion and shared schemas are not duplicated
/// (inlining every path through the references grows exponentially).
///
/// The JSON is written as the document is walked (no intermediate `Value`): the same
/// text `serde_json` would print for the bundled value.
pub(super) fn bundle_schema(r: &Resolver, id: &NodeId) -> Option<String> {
    let mut bundler = Bundler::new(r, id.clone());
    let mut root = Vec::new();
    let root_is_object = match r.get(id) {
        Some(value) => bundler.schema(&mut root, value, 0),
        None => {
            root.extend_from_slice(b"true");
            false
        }
    };
    let mut out = Vec::with_capacity(root.len() + 2);
    if bundler.defs.is_empty() {
        match bundler.root_defs.take() {
            // The document's own root `$defs`, bundled, where it was.
            Some((at, own)) => splice(&mut out, &root, at, &own),
            None => out = root,
        }
        return String::from_utf8(out).ok();
    }
    let mut defs = Vec::new();
    write_defs(&mut defs, &bundler.defs);
    match (bundler.root_defs.take(), root_is_object) {
        // A root `$defs` of the document's own is replaced where it stands.
        (Some((at, _)), _) => splice(&mut out, &root, at, &defs),
        (None, true) => {
            out.extend_from_slice(&root[..root.len() - 1]);
            if root.len() > 2 {
                out.push(b',');
            }
            out.extend_from_slice(b"\"$defs\":");
            out.extend_from_slice(&defs);
            out.push(b'}');
        }
        (None, false) => {
            out.extend_from_slice(b"{\"allOf\":[");
            out.extend_from_slice(&root);
            out.extend_from_slice(b"],\"$defs\":");
            out.extend_from_slice(&defs);
            out.push(b'}');
        }
    }
    String::from_utf8(out).ok()
}

/// The payload schemas of several messages as one JSON Schema that accepts what any
/// of them accepts (`anyOf`), their references sharing one `$defs`. `None` when a
/// payload carries a root `$defs` of its own (rare; such channels are not validated).
pub(super) fn bundle_any_of(r: &Resolver, ids: &[NodeId]) -> Option<String> {
    let mut bundler = Bundler::new(r, ids.first()?.clone());
    let mut out = b"{\"anyOf\":[".to_vec();
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        bundler.at = id.clone();
        match r.get(id) {
            Some(value) => {
                bundler.schema(&mut out, value, 0);
            }
            None => out.extend_from_slice(b"true"),
        }
        if bundler.root_defs.is_some() {
            return None;
        }
    }
    out.push(b']');
    if !bundler.defs.is_empty() {
        out.extend_from_slice(b",\"$defs\":");
        write_defs(&mut out, &bundler.defs);
    }
    out.push(b'}');
    String::from_utf8(out).ok()
}

/// The bundled `$defs` object: each referenced schema under its name.
fn write_defs(out: &mut Vec<u8>, defs: &[(String, Vec<u8>)]) {
    out.push(b'{');
    for (i, (name, body)) in defs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, name);
        out.push(b':');
        out.extend_from_slice(body);
    }
    out.push(b'}');
}

/// `text` with `insert` at byte `at`.
fn splice(out: &mut Vec<u8>, text: &[u8], at: usize, insert: &[u8]) {
    out.extend_from_slice(&text[..at]);
    out.extend_from_slice(insert);
    out.extend_from_slice(&text[at..]);
}

/// Appends `value` as JSON (serializing a `str` or a `Value` cannot fail).
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(out, value);
}

/// Appends a JSON string, as `serde_json` writes it. Most keys and values need no
/// escape and are copied whole: a plain loop finds out (the serializer's per-byte
/// work is slow in the debug build a proc macro runs as).
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i] >= 0x20 && bytes[i] != b'"' && bytes[i] != b'\\' {
        i += 1;
    }
    if i < bytes.len() {
        return write_json(out, s);
    }
    out.push(b'"');
    out.extend_from_slice(bytes);
    out.push(b'"');
}

/// [`write_json`], with strings by [`write_json_str`].
fn write_json_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => write_json_str(out, s),
        other => write_json(out, other),
    }
}

struct Bundler<'r> {
    r: &'r Resolver,
    /// Each referenced schema's name under `$defs` and its bundled body, in the order
    /// the names were taken (a name is taken before its body is written: a reference
    /// back to it is recursion).
    defs: Vec<(String, Vec<u8>)>,
    /// Referenced schema node → its index in `defs`.
    names: HashMap<NodeId, usize>,
    /// The names in `defs`.
    taken: HashSet<String>,
    /// The node being copied: its pointer grows and shrinks with the walk, so only a
    /// `$ref` costs a `NodeId` of its own.
    at: NodeId,
    /// A `$defs` of the root schema itself: where its value goes in the root's text,
    /// and that value bundled (kept when no reference fills our own `$defs`).
    root_defs: Option<(usize, Vec<u8>)>,
}

impl<'r> Bundler<'r> {
    /// A bundler starting at schema node `at`.
    fn new(r: &'r Resolver, at: NodeId) -> Self {
        Bundler {
            r,
            defs: Vec::new(),
            names: HashMap::new(),
            taken: HashSet::new(),
            at,
            root_defs: None,
        }
    }

    /// Writes a schema position (the node at `self.at`, whose value is `value`): a
    /// reference becomes a `$defs` reference, anything else is copied. Says whether it
    /// wrote an object.
    fn schema(&mut self, out: &mut Vec<u8>, value: &Value, depth: usize) -> bool {
        if ref_of(value).is_none() {
            return self.body(out, value, depth);
        }
        let Ok((target, target_value)) = self.r.resolve(&self.at, value) else {
            out.extend_from_slice(b"true");
            return false;
        };
        let index = match self.names.get(&target) {
            Some(&index) => index,
            None => {
                let base: String = target
                    .last_segment()
                    .unwrap_or_else(|| "schema".to_owned())
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let name = (1..)
                    .map(|i| {
                        if i == 1 {
                            base.clone()
                        } else {
                            format!("{base}_{i}")
                        }
                    })
                    .find(|n| !self.taken.contains(n))
                    .unwrap_or(base);
                self.taken.insert(name.clone());
                let index = self.defs.len();
                self.names.insert(target.clone(), index);
                self.defs.push((name, b"true".to_vec()));
                let here = std::mem::replace(&mut self.at, target);
                let mut body = Vec::new();
                self.body(&mut body, target_value, depth + 1);
                self.at = here;
                self.defs[index].1 = body;
                index
            }
        };
        out.extend_from_slice(b"{\"$ref\":");
        write_json_str(out, &format!("#/$defs/{}", self.defs[index].0));
        out.push(b'}');
        true
    }

    /// [`Bundler::schema`] for the child `segment` of the current node.
    fn child(&mut self, out: &mut Vec<u8>, segment: &str, value: &Value, depth: usize) {
        let len = self.at.pointer.len();
        push_segment(&mut self.at.pointer, segment);
        self.schema(out, value, depth);
        self.at.pointer.truncate(len);
    }

    /// Writes a schema's own keywords, with nested schema positions bundled. Says
    /// whether it wrote an object.
    fn body(&mut self, out: &mut Vec<u8>, value: &Value, depth: usize) -> bool {
        // Documents are finite and references are named once, so only absurd inline
        // nesting reaches this bound.
        if depth > 256 {
            out.extend_from_slice(b"true");
            return false;
        }
        let Value::Object(map) = value else {
            write_json_value(out, value);
            return false;
        };
        // AsyncAPI 2.x `nullable` is not JSON Schema: a string `type` becomes a list.
        let nullable = field_of(map, "nullable").and_then(Value::as_bool) == Some(true);
        // With a `discriminator` the tag picks the member, as the generated type
        // decodes it: members that overlap (every `Cat` is also a valid `Dog`) must not
        // make every instance fail `oneOf`'s "exactly one".
        let tagged = map.contains_key("discriminator");
        out.push(b'{');
        for (i, (k, val)) in map.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_str(out, if tagged && k == "oneOf" { "anyOf" } else { k });
            out.push(b':');
            // The root's own `$defs` may be replaced by ours: bundle it aside.
            let aside = depth == 0 && k == "$defs" && self.root_defs.is_none();
            let mut own = Vec::new();
            let target = if aside { &mut own } else { &mut *out };
            match (k.as_str(), val) {
                (
                    "properties" | "patternProperties" | "definitions" | "$defs",
                    Value::Object(inner),
                ) => {
                    let len = self.at.pointer.len();
                    push_segment(&mut self.at.pointer, k);
                    target.push(b'{');
                    for (j, (ik, iv)) in inner.iter().enumerate() {
                        if j > 0 {
                            target.push(b',');
                        }
                        write_json_str(target, ik);
                        target.push(b':');
                        self.child(target, ik, iv, depth + 1);
                    }
                    target.push(b'}');
                    self.at.pointer.truncate(len);
                }
                ("allOf" | "oneOf" | "anyOf" | "prefixItems", Value::Array(items)) => {
                    let len = self.at.pointer.len();
                    push_segment(&mut self.at.pointer, k);
                    target.push(b'[');
                    for (j, item) in items.iter().enumerate() {
                        if j > 0 {
                            target.push(b',');
                        }
                        self.child(target, &j.to_string(), item, depth + 1);
                    }
                    target.push(b']');
                    self.at.pointer.truncate(len);
                }
                // Annotations and values, not schemas: copied as they are.
                (
                    "examples" | "example" | "default" | "const" | "enum" | "discriminator"
                    | "externalDocs" | "bindings",
                    other,
                ) => write_json_value(target, other),
                ("type", Value::String(t)) if nullable => write_json(target, &[t, "null"]),
                (_, Value::Object(_)) => self.child(target, k, val, depth + 1),
                (_, other) => write_json_value(target, other),
            }
            if aside {
                self.root_defs = Some((out.len(), own));
            }
        }
        out.push(b'}');
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Bundles `#/<name>` of a document written as YAML.
    fn bundled(yaml: &str, name: &str) -> Option<String> {
        let loaded = crate::load::parse_text(Path::new("t.yaml"), yaml).unwrap();
        let (r, root) = Resolver::from_loaded(loaded);
        bundle_schema(&r, &root.child(name))
    }

    const DOC: &str = r##"
plain: { type: string, nullable: true, enum: [a, b] }
ref: { $ref: '#/s/A' }
missing: { $ref: '#/s/Nope' }
rooted:
  type: object
  $defs: { Local: { type: integer } }
  properties:
    a: { $ref: '#/s/A' }
    l: { $ref: '#/rooted/$defs/Local' }
s:
  A:
    type: object
    nullable: true
    properties:
      self: { $ref: '#/s/A' }
      b: { $ref: '#/s/B' }
      list: { type: array, items: { $ref: '#/s/B' } }
      either: { oneOf: [{ $ref: '#/s/B' }, { type: 'null' }] }
      example: { type: string, default: { $ref: '#/not/a/schema' } }
  B: { type: string, nullable: true, description: "quote \" and \\ and é" }
  'we/ird': { allOf: [{ $ref: '#/s/A' }] }
t:
  A: { type: integer }
collide:
  properties:
    x: { $ref: '#/t/A' }
    y: { $ref: '#/s/B' }
    z: { $ref: '#/s/we~1ird' }
"##;

    #[test]
    fn json_strings_are_written_as_serde_json_writes_them() {
        for s in [
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "ctrl\u{1}",
            "tab\t",
            "nl\n",
            "é",
            "\u{7f}",
            "😀",
            "</script>",
        ] {
            let mut out = Vec::new();
            write_json_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    #[test]
    fn bundles_references_once_into_defs() {
        // Each referenced schema once, under its own name (sanitized, numbered on a
        // clash), recursion as recursion; `nullable` becomes a type list.
        assert_eq!(
            bundled(DOC, "plain").as_deref(),
            Some(r#"{"type":["string","null"],"nullable":true,"enum":["a","b"]}"#)
        );
        assert_eq!(
            bundled(DOC, "ref").as_deref(),
            Some(
                r##"{"$ref":"#/$defs/A","$defs":{"A":{"type":["object","null"],"nullable":true,"properties":{"self":{"$ref":"#/$defs/A"},"b":{"$ref":"#/$defs/B"},"list":{"type":"array","items":{"$ref":"#/$defs/B"}},"either":{"oneOf":[{"$ref":"#/$defs/B"},{"type":"null"}]},"example":{"type":"string","default":{"$ref":"#/not/a/schema"}}}},"B":{"type":["string","null"],"nullable":true,"description":"quote \" and \\ and é"}}}"##
            )
        );
        assert_eq!(bundled(DOC, "missing").as_deref(), Some(r#"true"#));
        assert_eq!(
            bundled(DOC, "rooted").as_deref(),
            Some(
                r##"{"type":"object","$defs":{"A":{"type":["object","null"],"nullable":true,"properties":{"self":{"$ref":"#/$defs/A"},"b":{"$ref":"#/$defs/B"},"list":{"type":"array","items":{"$ref":"#/$defs/B"}},"either":{"oneOf":[{"$ref":"#/$defs/B"},{"type":"null"}]},"example":{"type":"string","default":{"$ref":"#/not/a/schema"}}}},"B":{"type":["string","null"],"nullable":true,"description":"quote \" and \\ and é"},"Local":{"type":"integer"}},"properties":{"a":{"$ref":"#/$defs/A"},"l":{"$ref":"#/$defs/Local"}}}"##
            )
        );
        assert_eq!(
            bundled(DOC, "s").as_deref(),
            Some(
                r##"{"A":{"type":["object","null"],"nullable":true,"properties":{"self":{"$ref":"#/$defs/A"},"b":{"$ref":"#/$defs/B"},"list":{"type":"array","items":{"$ref":"#/$defs/B"}},"either":{"oneOf":[{"$ref":"#/$defs/B"},{"type":"null"}]},"example":{"type":"string","default":{"$ref":"#/not/a/schema"}}}},"B":{"type":["string","null"],"nullable":true,"description":"quote \" and \\ and é"},"we/ird":{"allOf":[{"$ref":"#/$defs/A"}]},"$defs":{"A":{"type":["object","null"],"nullable":true,"properties":{"self":{"$ref":"#/$defs/A"},"b":{"$ref":"#/$defs/B"},"list":{"type":"array","items":{"$ref":"#/$defs/B"}},"either":{"oneOf":[{"$ref":"#/$defs/B"},{"type":"null"}]},"example":{"type":"string","default":{"$ref":"#/not/a/schema"}}}},"B":{"type":["string","null"],"nullable":true,"description":"quote \" and \\ and é"}}}"##
            )
        );
        assert_eq!(
            bundled(DOC, "collide").as_deref(),
            Some(
                r##"{"properties":{"x":{"$ref":"#/$defs/A"},"y":{"$ref":"#/$defs/B"},"z":{"$ref":"#/$defs/we_ird"}},"$defs":{"A":{"type":"integer"},"B":{"type":["string","null"],"nullable":true,"description":"quote \" and \\ and é"},"we_ird":{"allOf":[{"$ref":"#/$defs/A_2"}]},"A_2":{"type":["object","null"],"nullable":true,"properties":{"self":{"$ref":"#/$defs/A_2"},"b":{"$ref":"#/$defs/B"},"list":{"type":"array","items":{"$ref":"#/$defs/B"}},"either":{"oneOf":[{"$ref":"#/$defs/B"},{"type":"null"}]},"example":{"type":"string","default":{"$ref":"#/not/a/schema"}}}}}}"##
            )
        );
        assert_eq!(bundled(DOC, "nothing").as_deref(), Some(r#"true"#));
    }
}
