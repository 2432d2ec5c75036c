//! A failed JSON Schema keyword, said the way a person fixing the document needs it:
//! where, what is wrong in the document's own words, and the fix (with a "did you
//! mean" where the allowed values are known). Never Rust's debug format, never a
//! whole subtree of the document.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::ValidationError;
use serde_json::Value;

use super::spec_schema::{definition_at, definition_name, SpecSchema};
use crate::load::push_segment;
use crate::suggest::{closest, one_of_list};

/// How the problem of a `$ref` standing where the object itself is wanted starts.
pub(super) const MISPLACED_REF: &str = "a `$ref` cannot stand here";

/// One problem, at a JSON pointer of the checked value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    /// The rule broken: `schema` for the official JSON Schema, otherwise the name of
    /// the official parser's rule (`server-security`, ...).
    pub rule: &'static str,
    pub pointer: String,
    pub message: String,
    pub help: Option<String>,
}

impl Problem {
    pub(super) fn new(pointer: String, message: String, help: Option<String>) -> Self {
        Problem {
            rule: "schema",
            pointer,
            message,
            help,
        }
    }

    /// The same problem, as a break of the named rule.
    pub(super) fn of_rule(mut self, rule: &'static str) -> Self {
        self.rule = rule;
        self
    }
}

/// The problems one validation error stands for (a failed `oneOf` stands for the
/// problems of the alternative the value was closest to).
/// `spec` is the AsyncAPI schema the error is of (it names objects and their fields);
/// `None` for a document's own schema.
pub(super) fn explain(
    error: &ValidationError<'_>,
    spec: Option<&SpecSchema>,
    out: &mut Vec<Problem>,
) {
    let pointer = error.instance_path().as_str().to_owned();
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for field in unexpected {
                out.push(unknown_field(error, spec, &pointer, field));
            }
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            alternatives(context, &pointer, spec, out);
        }
        ValidationErrorKind::PropertyNames { error } => explain(error, spec, out),
        kind => {
            let (message, help) = said(kind, error);
            out.push(Problem::new(pointer, message, help));
        }
    }
}

/// The message and the fix for one failed keyword about the value itself.
fn said(kind: &ValidationErrorKind, error: &ValidationError<'_>) -> (String, Option<String>) {
    let value = error.instance().as_ref();
    match kind {
        ValidationErrorKind::Required { property } => {
            let field = scalar_text(property);
            (format!("missing the required field `{field}`"), Some(format!("add `{field}` here")))
        }
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<String> = options
                .as_array()
                .map(|o| o.iter().map(scalar_text).collect())
                .unwrap_or_default();
            let help = value
                .as_str()
                .and_then(|v| closest(v, allowed.iter().map(String::as_str)))
                .map(|s| format!("did you mean `{s}`?"));
            (format!("{} is not allowed here: expected {}", shown(value), one_of_list(&allowed)), help)
        }
        ValidationErrorKind::Constant { expected_value } => {
            let expected = scalar_text(expected_value);
            let message = format!("{} is not allowed here: expected `{expected}`", shown(value));
            (message, Some(format!("write `{expected}`")))
        }
        ValidationErrorKind::Type { kind } => {
            let expected = expected_types(kind);
            let message = format!("expected {expected}, found {}", type_of(value));
            (message, Some(format!("write {expected} here")))
        }
        ValidationErrorKind::Format { format } => (
            format!("{} is not a valid `{format}`", shown(value)),
            Some(format!("write a value in the `{format}` format")),
        ),
        ValidationErrorKind::Pattern { pattern } => (
            format!("{} does not match the pattern `{pattern}`", shown(value)),
            Some("change it to match the pattern".to_owned()),
        ),
        ValidationErrorKind::UniqueItems => (
            "the items of this list must be unique, and two are equal".to_owned(),
            Some("remove the repeated item".to_owned()),
        ),
        ValidationErrorKind::OneOfMultipleValid { .. } => (
            "this value matches more than one of the forms allowed here, so its meaning is ambiguous".to_owned(),
            Some("remove what makes it fit more than one form (e.g. a `$ref` next to other fields)".to_owned()),
        ),
        ValidationErrorKind::FalseSchema => {
            ("no value is allowed here".to_owned(), Some("remove it".to_owned()))
        }
        // The remaining keywords (sizes, bounds, `not`, ...) read well in the
        // validator's own words once the value itself is masked out.
        _ => (error.masked().to_string(), None),
    }
}

/// A field the object's schema does not list.
fn unknown_field(
    error: &ValidationError<'_>,
    spec: Option<&SpecSchema>,
    pointer: &str,
    field: &str,
) -> Problem {
    let mut at = pointer.to_owned();
    push_segment(&mut at, field);
    let location = error
        .absolute_keyword_location()
        .map(|uri| uri.as_str().to_owned())
        .unwrap_or_default();
    let definition = spec.and_then(|spec| definition_at(spec, &location));
    let what = match definition.as_ref().map(|(_, id, _)| id.as_str()) {
        Some(id) if id.ends_with("/asyncapi.json") => "the document's top level".to_owned(),
        id => id
            .and_then(definition_name)
            .map(|name| format!("{} object", article(&name)))
            .unwrap_or_else(|| "this object".to_owned()),
    };
    if field == "$ref" {
        return Problem::new(
            at,
            format!("{MISPLACED_REF}: the specification wants {what} written in place"),
            Some("replace the reference with the object it points at".to_owned()),
        );
    }
    let allowed = definition
        .map(|(schema, _, inside)| allowed_fields(schema, &inside))
        .unwrap_or_default();
    let help = match closest(field, allowed.iter().map(String::as_str)) {
        Some(near) => format!("did you mean `{near}`?"),
        None if allowed.is_empty() => "remove it; extension fields start with `x-`".to_owned(),
        None => format!(
            "the fields of {what} are {}; extension fields start with `x-`",
            one_of_list(&allowed).replace(" or ", " and ")
        ),
    };
    Problem::new(
        at,
        format!("`{field}` is not a field of {what}"),
        Some(help),
    )
}

/// The `properties` next to the failed `additionalProperties` at `inside` a definition.
fn allowed_fields(definition: &Value, inside: &str) -> Vec<String> {
    let parent = inside
        .strip_suffix("/additionalProperties")
        .unwrap_or(inside);
    definition
        .pointer(parent)
        .and_then(|schema| schema.get("properties"))
        .and_then(Value::as_object)
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

/// A value that matched none of a `oneOf`/`anyOf`'s alternatives: the problems of the
/// alternative it came closest to, or what each alternative wanted when it matched
/// none even in shape.
fn alternatives(
    context: &[Vec<ValidationError<'static>>],
    pointer: &str,
    spec: Option<&SpecSchema>,
    out: &mut Vec<Problem>,
) {
    let depth = depth_of(pointer);
    let shape_only = context
        .iter()
        .all(|branch| branch.iter().all(|e| is_shape_mismatch(e, depth)));
    if shape_only {
        let mut wanted: Vec<String> = Vec::new();
        for e in context.iter().flatten() {
            let text = match e.kind() {
                ValidationErrorKind::Type { kind } => expected_types(kind),
                _ => "a `$ref` to one".to_owned(),
            };
            if !wanted.contains(&text) {
                wanted.push(text);
            }
        }
        let found = context
            .iter()
            .flatten()
            .next()
            .map(|e| type_of(e.instance().as_ref()))
            .unwrap_or("something else");
        let wanted = wanted.join(" or ");
        out.push(Problem::new(
            pointer.to_owned(),
            format!("expected {wanted}, found {found}"),
            Some(format!("write {wanted} here")),
        ));
        return;
    }
    let best = context.iter().max_by_key(|branch| relevance(branch, depth));
    for e in best.into_iter().flatten() {
        explain(e, spec, out);
    }
}

/// How far into the value an alternative got before failing: the deepest error counts,
/// an error about the value's shape (wrong type, not a `$ref`) counts least, and of
/// two alternatives that got as far, the one with fewer errors is closer.
fn relevance(
    branch: &[ValidationError<'static>],
    depth: usize,
) -> (usize, std::cmp::Reverse<usize>) {
    let deepest = branch
        .iter()
        .map(|e| {
            let d = depth_of(e.instance_path().as_str()) * 2;
            if is_shape_mismatch(e, depth) {
                d
            } else {
                d + 1
            }
        })
        .max()
        .unwrap_or(0);
    (deepest, std::cmp::Reverse(branch.len()))
}

/// An error saying the value is not even of an alternative's kind: the wrong JSON
/// type, or not a reference where the alternative is one.
fn is_shape_mismatch(error: &ValidationError<'_>, depth: usize) -> bool {
    if depth_of(error.instance_path().as_str()) != depth {
        return false;
    }
    match error.kind() {
        ValidationErrorKind::Type { .. } => true,
        ValidationErrorKind::Required { property } => property.as_str() == Some("$ref"),
        _ => false,
    }
}

fn depth_of(pointer: &str) -> usize {
    pointer.matches('/').count()
}

fn expected_types(kind: &TypeKind) -> String {
    let names: Vec<String> = match kind {
        TypeKind::Single(t) => vec![t.to_string()],
        TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
    };
    let with_articles: Vec<String> = names.iter().map(|n| article(n)).collect();
    with_articles.join(" or ")
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn article(noun: &str) -> String {
    match noun {
        "null" => "null".to_owned(),
        "array" => "a list".to_owned(),
        "object" => "a mapping".to_owned(),
        n if n.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("an {n}"),
        n => format!("a {n}"),
    }
}

/// A scalar as written in the document (a string without JSON quotes).
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The value in a message: a short scalar in backticks, anything else by its kind.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) if s.chars().count() <= 60 => format!("`{s}`"),
        Value::Number(_) | Value::Bool(_) | Value::Null => format!("`{value}`"),
        other => format!("this {}", type_of(other).trim_start_matches("a ")),
    }
}
