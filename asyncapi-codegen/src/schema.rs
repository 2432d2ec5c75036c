//! The schema model: each JSON Schema node (the AsyncAPI Schema Object) of a message's
//! payload, headers or key, read once into typed keywords.
//!
//! Types, the exactness analysis, defaults and the channels' tag detection read these
//! keywords instead of the document's JSON, so what a keyword means (which values it
//! takes, what a malformed one counts as) is decided here, in one place. A `$ref` stays
//! a reference: [`Schemas::target`] follows it, and each target is read once. The
//! bundled schema for run-time validation is the one stage that copies the document's
//! JSON itself, because the validator needs every keyword, also those no Rust type
//! carries.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use serde_json::Value;

use crate::diagnostics::Diagnostic;
use crate::resolve::{NodeId, Resolver, NULL};

/// Schemas nested deeper than this (inline, not through references) are not read.
const MAX_DEPTH: usize = 256;

/// Reads the schemas of one document, each node once.
pub struct Schemas<'r> {
    resolver: &'r Resolver,
    /// Schema node → the node read, for the roots and the targets of references.
    read: RefCell<HashMap<NodeId, Rc<Schema<'r>>>>,
}

/// One schema position of the document.
#[derive(Debug)]
pub struct Schema<'r> {
    /// Where it stands.
    pub at: NodeId,
    /// The JSON as written, for the JSON Schema validator only.
    pub source: &'r Value,
    /// What it says.
    pub shape: Shape<'r>,
}

/// What a schema position holds.
#[derive(Debug)]
pub enum Shape<'r> {
    /// `true` or `false`.
    Boolean(bool),
    /// Nothing (`null`, or no node there): any value.
    Null,
    /// A string, number or array where a schema belongs.
    NotASchema,
    /// Nested beyond [`MAX_DEPTH`]; not read.
    TooDeep,
    /// A schema object.
    Object(Box<Keywords<'r>>),
}

/// A keyword's value as written: absent, of the type JSON Schema gives it, or not.
#[derive(Debug, Default)]
pub enum Written<T> {
    #[default]
    Absent,
    Valid(T),
    Malformed,
}

impl<T> Written<T> {
    /// The value, when it is of the keyword's type.
    pub fn valid(&self) -> Option<&T> {
        match self {
            Written::Valid(value) => Some(value),
            _ => None,
        }
    }

    /// Whether the keyword is written at all.
    pub fn is_written(&self) -> bool {
        !matches!(self, Written::Absent)
    }
}

/// `additionalProperties`.
#[derive(Debug)]
pub enum Additional<'r> {
    /// `true` or `false`.
    Allowed(bool),
    /// A schema the values of undeclared properties follow.
    Schema(Rc<Schema<'r>>),
}

/// `discriminator`: 2.x writes the property name, OpenAPI style `{propertyName, mapping}`.
#[derive(Debug, Clone)]
pub struct Discriminator<'r> {
    pub property: &'r str,
    /// Tag value → the `$ref` of the member it names.
    pub mapping: Vec<(&'r str, &'r str)>,
}

/// The keywords of a schema object.
#[derive(Debug, Default)]
pub struct Keywords<'r> {
    /// Every keyword written, in document order.
    pub written: Vec<&'r str>,
    /// `$ref`.
    pub reference: Option<&'r str>,
    /// `type`: the names written (one, or a list).
    pub types: Vec<&'r str>,
    /// `type`, when written as one name rather than a list.
    pub single_type: Option<&'r str>,
    /// `nullable` (AsyncAPI 2.x).
    pub nullable: Written<bool>,
    pub title: Option<&'r str>,
    pub description: Option<&'r str>,
    pub format: Option<&'r str>,
    /// `allOf`, `oneOf`, `anyOf` (when lists).
    pub all_of: Option<Vec<Rc<Schema<'r>>>>,
    pub one_of: Option<Vec<Rc<Schema<'r>>>>,
    pub any_of: Option<Vec<Rc<Schema<'r>>>>,
    /// `enum`.
    pub enumeration: Written<&'r [Value]>,
    /// `const`.
    pub constant: Option<&'r Value>,
    /// `properties`, in document order.
    pub properties: Written<Vec<(&'r str, Rc<Schema<'r>>)>>,
    /// `required` (valid when a list of strings).
    pub required: Written<Vec<&'r str>>,
    pub additional: Written<Additional<'r>>,
    /// `items`, when one schema object.
    pub items: Written<Rc<Schema<'r>>>,
    pub discriminator: Option<Discriminator<'r>>,
    pub default: Option<&'r Value>,
}

impl<'r> Schemas<'r> {
    pub fn new(resolver: &'r Resolver) -> Self {
        Schemas {
            resolver,
            read: RefCell::default(),
        }
    }

    /// The schema at `at`, read once.
    pub fn at(&self, at: &NodeId) -> Rc<Schema<'r>> {
        let source = self.resolver.get(at).unwrap_or(&NULL);
        self.remembered(at, source)
    }

    /// Where the `$ref` (chain) of `schema` leads; the schema itself when it is not a
    /// reference.
    pub fn resolved(&self, schema: &Rc<Schema<'r>>) -> Result<Rc<Schema<'r>>, Diagnostic> {
        if schema.reference().is_none() {
            return Ok(Rc::clone(schema));
        }
        self.target(schema)
    }

    /// Where the `$ref` (chain) of `schema` leads.
    pub fn target(&self, schema: &Schema<'r>) -> Result<Rc<Schema<'r>>, Diagnostic> {
        let (target, value) = self.resolver.resolve(&schema.at, schema.source)?;
        Ok(self.remembered(&target, value))
    }

    /// The document's files.
    pub fn resolver(&self) -> &'r Resolver {
        self.resolver
    }

    /// The members of `schema`'s `allOf`, references followed, nested `allOf`s flattened
    /// (depth first, in document order), each once.
    pub fn all_of_members(&self, schema: &Schema<'r>) -> Vec<Rc<Schema<'r>>> {
        let direct = schema
            .keywords()
            .and_then(|k| k.all_of.as_deref())
            .unwrap_or_default();
        let mut stack: Vec<Rc<Schema<'r>>> = direct.iter().rev().cloned().collect();
        let mut seen = HashSet::new();
        let mut members = Vec::new();
        while let Some(member) = stack.pop() {
            let Ok(target) = self.resolved(&member) else {
                continue;
            };
            if !seen.insert(target.at.clone()) {
                continue;
            }
            if let Some(inner) = target.keywords().and_then(|k| k.all_of.as_deref()) {
                stack.extend(inner.iter().rev().cloned());
            }
            members.push(target);
        }
        members
    }

    /// An error at `at`.
    pub fn error(&self, at: &NodeId, message: impl Into<String>) -> Diagnostic {
        self.resolver.error(at, message)
    }

    fn remembered(&self, at: &NodeId, source: &'r Value) -> Rc<Schema<'r>> {
        if let Some(schema) = self.read.borrow().get(at) {
            return Rc::clone(schema);
        }
        let schema = Rc::new(read_schema(at.clone(), source, 0));
        self.read
            .borrow_mut()
            .insert(at.clone(), Rc::clone(&schema));
        schema
    }
}

impl<'r> Schema<'r> {
    /// The keywords, for a schema object.
    pub fn keywords(&self) -> Option<&Keywords<'r>> {
        match &self.shape {
            Shape::Object(keywords) => Some(keywords),
            _ => None,
        }
    }

    /// `$ref`, when this is a reference.
    pub fn reference(&self) -> Option<&'r str> {
        self.keywords()?.reference
    }

    /// The `type` names written (none for anything but a schema object).
    pub fn types(&self) -> &[&'r str] {
        self.keywords().map_or(&[], |k| k.types.as_slice())
    }

    pub fn title(&self) -> Option<&'r str> {
        self.keywords()?.title
    }

    pub fn description(&self) -> Option<&'r str> {
        self.keywords()?.description
    }

    pub fn default(&self) -> Option<&'r Value> {
        self.keywords()?.default
    }

    /// The schema of property `name`, as written (not followed).
    pub fn property(&self, name: &str) -> Option<&Rc<Schema<'r>>> {
        let properties = self.keywords()?.properties.valid()?;
        properties.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }

    /// The one string this schema allows: its `const`, or a one-value `enum`.
    pub fn pinned_string(&self) -> Option<&'r str> {
        let keywords = self.keywords()?;
        if let Some(Value::String(c)) = keywords.constant {
            return Some(c);
        }
        match keywords.enumeration.valid() {
            Some([Value::String(only)]) => Some(only),
            _ => None,
        }
    }
}

/// Adds the properties of `keywords` to `merged`, a property declared again replacing
/// the earlier declaration where it stood: how the properties of `allOf` members merge
/// into one struct.
pub fn merge_properties<'a, 'r>(
    merged: &mut Vec<(&'r str, &'a Rc<Schema<'r>>)>,
    keywords: &'a Keywords<'r>,
) {
    for (name, schema) in keywords.properties.valid().into_iter().flatten() {
        match merged.iter_mut().find(|(n, _)| n == name) {
            Some(existing) => *existing = (*name, schema),
            None => merged.push((*name, schema)),
        }
    }
}

/// Whether every value `schema` allows is a JSON string (or `null`): a header of such
/// a property carries its text as it stands, never JSON to parse (`123` stays the
/// string "123"). Read as the types read the schema: `type`, `enum`, `const`, an
/// `allOf` member that is text, a `oneOf`/`anyOf` whose members all are.
pub fn holds_text<'r>(schemas: &Schemas<'r>, schema: &Rc<Schema<'r>>) -> bool {
    holds_text_within(schemas, schema, 16)
}

fn holds_text_within<'r>(schemas: &Schemas<'r>, schema: &Rc<Schema<'r>>, depth: usize) -> bool {
    let Some(schema) = schemas.resolved(schema).ok().filter(|_| depth > 0) else {
        return false;
    };
    let Some(keywords) = schema.keywords() else {
        return false;
    };
    let members_text = |members: &[Rc<Schema<'r>>], all: bool| {
        let mut text = members
            .iter()
            .map(|m| holds_text_within(schemas, m, depth - 1));
        if all {
            !members.is_empty() && text.all(|t| t)
        } else {
            text.any(|t| t)
        }
    };
    if let Some(values) = keywords.enumeration.valid() {
        return values.iter().any(Value::is_string)
            && values.iter().all(|v| v.is_string() || v.is_null());
    }
    if let Some(constant) = keywords.constant {
        return constant.is_string();
    }
    if !keywords.types.is_empty() {
        return keywords.types.contains(&"string")
            && keywords
                .types
                .iter()
                .all(|t| *t == "string" || *t == "null");
    }
    if let Some(members) = keywords.all_of.as_deref() {
        return members_text(members, false);
    }
    match keywords.one_of.as_deref().or(keywords.any_of.as_deref()) {
        Some(members) => {
            let non_null: Vec<Rc<Schema<'r>>> = members
                .iter()
                .filter(|m| schemas.resolved(m).map_or(true, |m| m.types() != ["null"]))
                .cloned()
                .collect();
            members_text(&non_null, true)
        }
        None => false,
    }
}

/// A property that every schema of `members` pins to a string of its own (`const`, or a
/// one-value `enum`), all different: the tag telling them apart, and each one's value.
/// Candidates are the first member's properties, in order.
pub fn tag_property<'r>(members: &[Rc<Schema<'r>>]) -> Option<(&'r str, Vec<&'r str>)> {
    let first = members.first()?.keywords()?.properties.valid()?;
    first.iter().find_map(|(name, _)| {
        let tags: Vec<&'r str> = members
            .iter()
            .map(|m| m.property(name)?.pinned_string())
            .collect::<Option<_>>()?;
        let distinct: HashSet<&str> = tags.iter().copied().collect();
        (distinct.len() == tags.len()).then_some((*name, tags))
    })
}

/// Reads the schema position `at` holding `source`, nested `depth` deep.
fn read_schema(at: NodeId, source: &Value, depth: usize) -> Schema<'_> {
    let shape = match source {
        _ if depth > MAX_DEPTH => Shape::TooDeep,
        Value::Bool(b) => Shape::Boolean(*b),
        Value::Null => Shape::Null,
        Value::Object(map) => Shape::Object(Box::new(read_keywords(&at, map, depth))),
        _ => Shape::NotASchema,
    };
    Schema { at, source, shape }
}

fn read_keywords<'r>(
    at: &NodeId,
    map: &'r serde_json::Map<String, Value>,
    depth: usize,
) -> Keywords<'r> {
    let mut keywords = Keywords::default();
    let child =
        |segment: &str, value: &'r Value| Rc::new(read_schema(at.child(segment), value, depth + 1));
    for (key, value) in map {
        keywords.written.push(key.as_str());
        match key.as_str() {
            "$ref" => keywords.reference = value.as_str(),
            "type" => read_types(&mut keywords, value),
            "nullable" => keywords.nullable = written(value.as_bool()),
            "title" => keywords.title = value.as_str(),
            "description" => keywords.description = value.as_str(),
            "format" => keywords.format = value.as_str(),
            "allOf" => keywords.all_of = read_list(at, key, value, depth),
            "oneOf" => keywords.one_of = read_list(at, key, value, depth),
            "anyOf" => keywords.any_of = read_list(at, key, value, depth),
            "enum" => keywords.enumeration = written(value.as_array().map(Vec::as_slice)),
            "const" => keywords.constant = Some(value),
            "properties" => keywords.properties = read_properties(at, value, depth),
            "required" => keywords.required = read_required(value),
            "additionalProperties" => {
                keywords.additional = match value {
                    Value::Bool(b) => Written::Valid(Additional::Allowed(*b)),
                    Value::Object(_) => Written::Valid(Additional::Schema(child(key, value))),
                    _ => Written::Malformed,
                }
            }
            "items" => {
                keywords.items = match value {
                    Value::Object(_) => Written::Valid(child(key, value)),
                    _ => Written::Malformed,
                }
            }
            "discriminator" => keywords.discriminator = read_discriminator(value),
            "default" => keywords.default = Some(value),
            _ => {}
        }
    }
    keywords
}

fn written<T>(value: Option<T>) -> Written<T> {
    value.map_or(Written::Malformed, Written::Valid)
}

fn read_types<'r>(keywords: &mut Keywords<'r>, value: &'r Value) {
    match value {
        Value::String(t) => {
            keywords.types = vec![t.as_str()];
            keywords.single_type = Some(t.as_str());
        }
        Value::Array(list) => keywords.types = list.iter().filter_map(Value::as_str).collect(),
        _ => {}
    }
}

fn read_list<'r>(
    at: &NodeId,
    key: &str,
    value: &'r Value,
    depth: usize,
) -> Option<Vec<Rc<Schema<'r>>>> {
    let list = at.child(key);
    let members = value.as_array()?.iter().enumerate();
    Some(
        members
            .map(|(i, member)| Rc::new(read_schema(list.index(i), member, depth + 1)))
            .collect(),
    )
}

fn read_properties<'r>(
    at: &NodeId,
    value: &'r Value,
    depth: usize,
) -> Written<Vec<(&'r str, Rc<Schema<'r>>)>> {
    let Some(map) = value.as_object() else {
        return Written::Malformed;
    };
    let properties = at.child("properties");
    Written::Valid(
        map.iter()
            .map(|(name, schema)| {
                let read = read_schema(properties.child(name), schema, depth + 1);
                (name.as_str(), Rc::new(read))
            })
            .collect(),
    )
}

fn read_required(value: &Value) -> Written<Vec<&str>> {
    let names = value
        .as_array()
        .and_then(|list| list.iter().map(Value::as_str).collect::<Option<Vec<_>>>());
    written(names)
}

fn read_discriminator(value: &Value) -> Option<Discriminator<'_>> {
    match value {
        Value::String(property) => Some(Discriminator {
            property,
            mapping: Vec::new(),
        }),
        Value::Object(o) => {
            let property = o.get("propertyName")?.as_str()?;
            let mapping = o
                .get("mapping")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                        .collect()
                })
                .unwrap_or_default();
            Some(Discriminator { property, mapping })
        }
        _ => None,
    }
}
