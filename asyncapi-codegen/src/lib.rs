//! AsyncAPI document to Rust code: the logic behind `asyncapi!`, usable on its own by a
//! CLI or a build script.
//!
//! Stages, one module each: [`load`] (YAML/JSON with positions) → [`resolve`] (`$ref`s)
//! → [`normalize`] (2.x and 3.x into one [`ir`]) → [`types`] (JSON Schema to Rust) and
//! [`generate`] (message types, channels, clients) → tokens.

pub mod diagnostics;
pub mod exact;
pub mod generate;
pub mod ir;
pub mod load;
pub mod normalize;
pub mod resolve;
pub mod topic;
pub mod types;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;

pub use diagnostics::{Diagnostic, Diagnostics, Location};

/// Options of one expansion.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Path of the runtime crate in generated code (default `::asyncapi_runtime`).
    pub runtime_path: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            runtime_path: "::asyncapi_runtime".to_owned(),
        }
    }
}

/// The result of expanding a document.
#[derive(Debug, Clone)]
pub struct Expansion {
    pub tokens: TokenStream,
    /// Every file read (the document and what it references): a change to any must
    /// trigger a rebuild.
    pub files: Vec<PathBuf>,
    /// Problems that did not stop the expansion.
    pub warnings: Vec<Diagnostic>,
    pub document: ir::Document,
}

impl Expansion {
    /// The generated code, formatted (for snapshots, a CLI, `cargo expand`-like views).
    pub fn pretty(&self) -> String {
        pretty(&self.tokens)
    }
}

/// Formats generated tokens as Rust source.
pub fn pretty(tokens: &TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => tokens.to_string(),
    }
}

/// Expands the document at `path`. Never panics: a panic anywhere inside is reported as
/// an error naming the document.
pub fn expand_file(path: &Path, settings: &Settings) -> Result<Expansion, Diagnostics> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let (resolver, root) = resolve::Resolver::open(path)?;
        expand_resolved(&resolver, &root, settings)
    }));
    outcome.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(Diagnostic::new(
            Location {
                file: path.to_owned(),
                pointer: String::new(),
                line_col: None,
            },
            format!("internal error while expanding the document: {what}"),
        )
        .help("this is a bug in asyncapi-codegen; please report it with the document")
        .into())
    })
}

/// Expands an in-memory document (used by tests and the fuzzer); relative `$ref`s are
/// resolved against `path`'s directory.
pub fn expand_str(path: &Path, text: &str, settings: &Settings) -> Result<Expansion, Diagnostics> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let loaded = load::parse_text(path, text)?;
        let (resolver, root) = resolve::Resolver::from_loaded(loaded);
        expand_resolved(&resolver, &root, settings)
    }));
    outcome.unwrap_or_else(|_| {
        Err(Diagnostic::new(
            Location {
                file: path.to_owned(),
                pointer: String::new(),
                line_col: None,
            },
            "internal error while expanding the document",
        )
        .into())
    })
}

/// Whether any `bindings` object of the document has a `kafka` entry.
fn has_kafka_bindings(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(k, v)| (k == "bindings" && v.get("kafka").is_some()) || has_kafka_bindings(v)),
        serde_json::Value::Array(items) => items.iter().any(has_kafka_bindings),
        _ => false,
    }
}

fn expand_resolved(
    resolver: &resolve::Resolver,
    root: &resolve::NodeId,
    settings: &Settings,
) -> Result<Expansion, Diagnostics> {
    let (document, mut warnings) = normalize::normalize(resolver, root).map_err(Diagnostics)?;
    let mut errors = Vec::new();
    // Kafka when a server says so, or bindings do; other documents still get their types.
    let is_kafka = document
        .servers
        .iter()
        .any(|s| s.protocol.starts_with("kafka"))
        || resolver.get(root).is_some_and(has_kafka_bindings);
    for c in &document.channels {
        if let Err(why) = &c.topic {
            let d = resolver.error(
                &c.node,
                format!("channel `{}` cannot become a Kafka topic: {why}", c.id),
            );
            if is_kafka {
                errors.push(d.help("set `bindings.kafka.topic` on the channel to a valid topic name ([a-zA-Z0-9._-], at most 249 characters)"));
            } else {
                warnings.push(d.help("the document is not for Kafka: this channel gets no client"));
            }
        }
    }
    // Channel marker types are named after channel ids, unrenamed (users name them):
    // two ids that become the same name would define `channels::X` twice.
    let mut type_names: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for c in &document.channels {
        let name = generate::channel_type_name(c);
        if let Some(first) = type_names.insert(name.clone(), &c.id) {
            errors.push(
                resolver
                    .error(&c.node, format!("channels `{first}` and `{}` would both become the Rust type `channels::{name}`", c.id))
                    .help("rename one of the two channels (its key in `channels`) so that their names differ in more than punctuation or case"),
            );
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    let rt: TokenStream = settings.runtime_path.parse().map_err(|_| {
        Diagnostics(vec![Diagnostic::new(
            resolver.location(root),
            format!("invalid runtime path `{}`", settings.runtime_path),
        )])
    })?;
    let generator = generate::Generator {
        rt: rt.clone(),
        doc: &document,
        types: types::TypeSpace::new(rt),
        channel_messages: Vec::new(),
    };
    let (tokens, type_warnings) = generator.generate(resolver);
    warnings.extend(type_warnings);
    Ok(Expansion {
        tokens,
        files: resolver.files().map(Path::to_path_buf).collect(),
        warnings,
        document,
    })
}
