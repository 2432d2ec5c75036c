//! The document against its version's official JSON Schema, as the official parser
//! checks it: once with every `$ref` followed (structure and values, wherever they
//! were written), once as written (only to find `$ref`s where the specification wants
//! the object in place). Every problem is reported at the file, line and JSON pointer
//! where it was written.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::examples::v2_messages;
use super::explain::{explain, Problem, MISPLACED_REF};
use super::leniency::REMOTE_REF;
use super::spec_schema::SpecSchema;
use crate::diagnostics::{Diagnostic, Report};
use crate::load::push_segment;
use crate::resolve::{ref_of, NodeId, Resolver, NULL};

/// How many values a document may grow to once its references are followed; a
/// document that references the same large component from very many places (or is
/// built to explode) is checked with the rest of its references left as written.
const INLINE_BUDGET: usize = 2_000_000;

/// The document with its references followed; references that do not resolve are
/// reported (the document cannot be read without them) and stay as written.
///
/// A schema referenced from many places is copied into the first only (later ones
/// stay references): it is checked once, and a document whose schemas share
/// components does not grow many times over. Everything else is copied everywhere it
/// is referenced, so each use is checked where it stands.
pub(super) fn resolved_document(
    r: &Resolver,
    root: &NodeId,
    circular: &HashSet<NodeId>,
    report: &mut Report,
) -> Resolved {
    let mut inliner = Inliner::new(r, circular, report);
    inliner.schemas_once = true;
    let document = inliner.inline(root, r.get(root).unwrap_or(&NULL));
    Resolved {
        document,
        remote: inliner.remote,
    }
}

/// The value at `pointer` of the resolved document with every reference in it
/// followed (a payload schema to check an example against). Problems of references
/// were reported when the document was resolved.
pub(super) fn fully_resolved(
    r: &Resolver,
    root: &NodeId,
    circular: &HashSet<NodeId>,
    pointer: &str,
) -> Value {
    let node = source_of(r, root, pointer);
    let mut ignored = Report::default();
    let mut inliner = Inliner::new(r, circular, &mut ignored);
    inliner.at = pointer.to_owned();
    inliner.inline(&node, r.get(&node).unwrap_or(&NULL))
}

/// The document with its references followed.
pub(super) struct Resolved {
    pub document: Value,
    /// Where remote references stand (pointers into `document`): nothing there or
    /// below is known, so nothing there is judged.
    remote: Vec<String>,
}

impl Resolved {
    fn is_unknown(&self, pointer: &str) -> bool {
        self.remote.iter().any(|r| {
            pointer.starts_with(r.as_str())
                && matches!(pointer.as_bytes().get(r.len()), None | Some(b'/'))
        })
    }
}

/// What the official schema finds wrong in the document: `resolved` with references
/// followed, `written` the root file as written.
pub(super) fn problems(resolved: &Resolved, written: &Value, spec: &SpecSchema) -> Vec<Problem> {
    let mut problems = Vec::new();
    for error in spec.resolved.iter_errors(&resolved.document) {
        explain(&error, Some(spec), &mut problems);
    }
    if let Some(schema_object) = &spec.schema_object {
        for (payload, at) in v2_payloads(&resolved.document) {
            for error in schema_object.iter_errors(payload) {
                let mut found = Vec::new();
                explain(&error, Some(spec), &mut found);
                problems.extend(found.into_iter().map(|mut p| {
                    p.pointer = format!("{at}{}", p.pointer);
                    p
                }));
            }
        }
    }
    problems.retain(|p| !resolved.is_unknown(&p.pointer) && !is_about_a_kept_ref(p));
    for error in spec.unresolved.iter_errors(&without_schemas(written)) {
        misplaced_refs(&error, spec, &mut problems);
    }
    problems
}

/// Problems of the resolved value found inside a referenced node are reported where
/// that node is written, so the pointer is walked through the document's references.
pub(super) fn diagnostic(r: &Resolver, root: &NodeId, problem: Problem) -> Diagnostic {
    let node = source_of(r, root, &problem.pointer);
    let diagnostic = r.error(&node, problem.message);
    match problem.help {
        Some(help) => diagnostic.help(help),
        None => diagnostic,
    }
}

/// The node a pointer into the resolved document was written at.
pub(super) fn source_of(r: &Resolver, root: &NodeId, pointer: &str) -> NodeId {
    let mut node = root.clone();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        // A problem with a `$ref` itself is where the reference is written.
        if segment != "$ref" {
            node = r.follow(&node).unwrap_or(node);
        }
        node = node.child(&segment);
    }
    node
}

/// `$ref`s standing where the specification wants the object itself.
fn misplaced_refs(
    error: &jsonschema::ValidationError<'_>,
    spec: &SpecSchema,
    out: &mut Vec<Problem>,
) {
    use jsonschema::error::ValidationErrorKind as Kind;
    match error.kind() {
        Kind::AdditionalProperties { unexpected } if unexpected.iter().any(|f| f == "$ref") => {
            let mut problems = Vec::new();
            explain(error, Some(spec), &mut problems);
            out.extend(
                problems
                    .into_iter()
                    .filter(|p| p.pointer.ends_with("/$ref")),
            );
        }
        Kind::AnyOf { context } | Kind::OneOfNotValid { context } => {
            for e in context.iter().flatten() {
                misplaced_refs(e, spec, out);
            }
        }
        _ => {}
    }
}

/// Builds the document with its references followed. A reference back into a node
/// being copied (a recursive schema) stays a `$ref`, as one that does not resolve does
/// (that one is reported here: the document cannot be read without it).
struct Inliner<'a> {
    resolver: &'a Resolver,
    /// Where the circular references are written.
    circular: &'a HashSet<NodeId>,
    stack: Vec<NodeId>,
    budget: usize,
    report: &'a mut Report,
    /// The pointer (into the resolved document) of the value being copied.
    at: String,
    remote: Vec<String>,
    /// Whether a schema referenced again is left a reference (see [`resolved_document`]).
    schemas_once: bool,
    /// The schemas copied so far.
    copied_schemas: HashSet<NodeId>,
}

impl<'a> Inliner<'a> {
    fn new(resolver: &'a Resolver, circular: &'a HashSet<NodeId>, report: &'a mut Report) -> Self {
        Inliner {
            resolver,
            circular,
            stack: Vec::new(),
            budget: INLINE_BUDGET,
            report,
            at: String::new(),
            remote: Vec::new(),
            schemas_once: false,
            copied_schemas: HashSet::new(),
        }
    }

    /// Whether the reference being followed stands where a schema is expected and
    /// names a schema checked elsewhere: one written where a schema is expected in the
    /// document itself (checked there), or one copied before.
    fn copied_before(&mut self, target: &NodeId) -> bool {
        if !self.schemas_once || !is_schema_position(&self.at) {
            return false;
        }
        let checked_in_place = target.file == 0 && is_schema_position(&target.pointer);
        checked_in_place || !self.copied_schemas.insert(target.clone())
    }
}

impl Inliner<'_> {
    fn inline(&mut self, id: &NodeId, value: &Value) -> Value {
        self.budget = self.budget.saturating_sub(1);
        match value {
            Value::Object(map) if ref_of(value).is_some() => self.follow(id, value, map),
            Value::Object(map) => {
                let mut copy = Map::with_capacity(map.len());
                for (key, child) in map {
                    let len = self.at.len();
                    push_segment(&mut self.at, key);
                    copy.insert(key.clone(), self.inline(&id.child(key), child));
                    self.at.truncate(len);
                }
                Value::Object(copy)
            }
            Value::Array(items) => {
                let mut copy = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = self.at.len();
                    push_segment(&mut self.at, &i.to_string());
                    copy.push(self.inline(&id.index(i), item));
                    self.at.truncate(len);
                }
                Value::Array(copy)
            }
            scalar => scalar.clone(),
        }
    }

    fn follow(&mut self, id: &NodeId, value: &Value, map: &Map<String, Value>) -> Value {
        match self.resolver.resolve(id, value) {
            Ok((target, target_value)) => {
                // A circular reference stays a reference, as the official parser
                // leaves it (the stack catches what the graph would miss).
                let circular = self.chain_is_circular(id, value) || self.stack.contains(&target);
                if circular || self.budget == 0 || self.copied_before(&target) {
                    return Value::Object(map.clone());
                }
                self.stack.push(target.clone());
                let copy = self.inline(&target, target_value);
                self.stack.pop();
                copy
            }
            Err(unresolvable) if is_remote(value) => {
                self.report.warn(REMOTE_REF.describe(unresolvable));
                self.remote.push(self.at.clone());
                Value::Object(map.clone())
            }
            Err(unresolvable) => {
                self.report.error(unresolvable);
                Value::Object(map.clone())
            }
        }
    }
}

impl Inliner<'_> {
    /// Whether a reference of the chain starting at `id` is circular: the chain then
    /// stays as written from its start. The chain is known to end (it resolved).
    fn chain_is_circular(&self, id: &NodeId, value: &Value) -> bool {
        let mut at = id.clone();
        let mut value = value;
        while let Some(reference) = ref_of(value) {
            if self.circular.contains(&at) {
                return true;
            }
            let Ok((next, next_value)) = self.resolver.target(&at, reference) else {
                return false;
            };
            at = next;
            value = next_value;
        }
        false
    }
}

/// A problem with a `$ref` the resolved document kept (a circular one): judged where
/// it is written, as the official parser does, not as an unknown field; and whether
/// it resolves is the resolver's to say, not its spelling as a URI (the official
/// parser does not see resolved references either).
fn is_about_a_kept_ref(problem: &Problem) -> bool {
    problem.message.starts_with(MISPLACED_REF)
        || (problem.pointer.ends_with("/$ref")
            && problem.message.ends_with("is not a valid `uri-reference`"))
}

/// The written document with its schemas emptied, for the check of where `$ref`s stand:
/// inside a schema a `$ref` may stand anywhere, so only the rest needs the (slow)
/// validation.
fn without_schemas(written: &Value) -> Value {
    match written {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let emptied = match key.as_str() {
                        "payload" | "headers" | "schema" => value.is_object(),
                        _ => false,
                    };
                    let value = if emptied {
                        Value::Object(Map::new())
                    } else if key == "schemas" && value.is_object() {
                        let names = value.as_object().into_iter().flatten();
                        Value::Object(
                            names
                                .map(|(name, _)| (name.clone(), Value::Object(Map::new())))
                                .collect(),
                        )
                    } else {
                        without_schemas(value)
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_schemas).collect()),
        scalar => scalar.clone(),
    }
}

/// Whether a pointer names a place where a schema is expected: a payload, headers, a
/// parameter's or multi-format `schema`, a component schema, or a subschema of one of
/// those (`properties/<name>`, `items`, `allOf/<i>`, ...).
fn is_schema_position(pointer: &str) -> bool {
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    let Some((&last, parents)) = segments.split_last() else {
        return false;
    };
    let prev = parents.last().copied();
    if matches!(last, "payload" | "headers" | "schema")
        || (prev == Some("schemas") && parents.len() == 2 && parents[0] == "components")
    {
        return true;
    }
    let in_a_schema = parents
        .iter()
        .any(|segment| matches!(*segment, "payload" | "headers" | "schema" | "schemas"));
    let is_index = last.bytes().all(|b| b.is_ascii_digit());
    in_a_schema
        && (matches!(
            last,
            "items"
                | "additionalItems"
                | "additionalProperties"
                | "not"
                | "contains"
                | "propertyNames"
                | "if"
                | "then"
                | "else"
        ) || matches!(
            prev,
            Some("properties" | "patternProperties" | "definitions" | "dependencies")
        ) || (is_index && matches!(prev, Some("allOf" | "anyOf" | "oneOf" | "items"))))
}

/// A reference to an `http(s)://` address (never fetched).
fn is_remote(value: &Value) -> bool {
    ref_of(value).is_some_and(|reference| {
        let lower = reference.to_ascii_lowercase();
        lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("//")
    })
}

/// The payloads of a 2.x document's messages written as AsyncAPI or JSON Schema (no
/// `schemaFormat`, or one of theirs), with their pointers: the official parser checks
/// them as Schema Objects, which the 2.x document schema leaves open.
fn v2_payloads(document: &Value) -> Vec<(&Value, String)> {
    v2_messages(document)
        .into_iter()
        .filter(|(message, _)| is_schema_format(message.get("schemaFormat")))
        .filter_map(|(message, at)| Some((message.get("payload")?, format!("{at}/payload"))))
        .collect()
}

fn is_schema_format(format: Option<&Value>) -> bool {
    match format.and_then(Value::as_str) {
        None => format.is_none(),
        Some(f) => {
            let f = f.to_ascii_lowercase();
            f.starts_with("application/vnd.aai.asyncapi") || f.starts_with("application/schema")
        }
    }
}
