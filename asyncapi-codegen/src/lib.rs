//! AsyncAPI document to Rust code: the logic behind `asyncapi!`, usable on its own by a
//! CLI or a build script.
//!
//! [`expand_file`] and [`expand_str`] turn a document into the code `asyncapi!` expands
//! into, [`check_file`] checks a document against the AsyncAPI specification only. Every
//! problem of a document comes back at once, as [`Diagnostics`] naming file, line,
//! column and JSON pointer. [`ir`] is the document as the expansion understood it, and
//! [`broker`] what a side of the service needs on the broker.
//!
//! ```
//! use std::path::Path;
//!
//! use asyncapi_codegen::{expand_str, Settings};
//!
//! let document = r#"
//! asyncapi: 3.0.0
//! info: { title: Greetings, version: 1.0.0 }
//! channels:
//!   greetings:
//!     address: greetings
//!     messages:
//!       greeting:
//!         name: Greeting
//!         payload: { type: object, properties: { name: { type: string } } }
//! operations:
//!   greet: { action: send, channel: { $ref: '#/channels/greetings' } }
//! "#;
//! let path = Path::new("greetings.yaml");
//! let expansion = expand_str(path, document, &Settings::default())?;
//! assert!(expansion.pretty().contains("pub struct Greeting"));
//!
//! // A mistake is an error at its line and JSON pointer, with the fix.
//! let mistaken = document.replace("action: send", "action: sendd");
//! let errors = expand_str(path, &mistaken, &Settings::default()).unwrap_err();
//! let message = errors.to_string();
//! assert!(message.contains("greetings.yaml:12:"), "{message}");
//! assert!(message.contains("#/operations/greet/action"), "{message}");
//! assert!(message.contains("did you mean `send`?"), "{message}");
//! # Ok::<(), asyncapi_codegen::Diagnostics>(())
//! ```
//!
//! Inside, one module per stage: `load` (YAML/JSON with positions) → `resolve`
//! (`$ref`s) → `conformance` (the official JSON Schema and rules of the specification)
//! → `normalize` (2.x and 3.x into one IR) → `validate` (what Kafka and Rust need of
//! it) → `schema` (each payload, header and key schema read once into typed keywords)
//! → `types` (those keywords to Rust) and `generate` (message types, channels,
//! clients) → tokens. Every stage reports to one `Report`.

#![warn(missing_docs)]

pub mod broker;
mod conformance;
mod defaults;
mod diagnostics;
mod exact;
mod generate;
pub mod ir;
mod load;
mod normalize;
mod resolve;
mod schema;
mod suggest;
mod topic;
mod types;
mod validate;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;

pub use conformance::leniency::{Leniency, LENIENCIES};
use diagnostics::Report;
pub use diagnostics::{Diagnostic, Diagnostics, Location};

/// Options of one expansion.
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// The code `asyncapi!` expands into.
    pub tokens: TokenStream,
    /// Every file read (the document and what it references): a change to any must
    /// trigger a rebuild.
    pub files: Vec<PathBuf>,
    /// Problems that did not stop the expansion.
    pub warnings: Vec<Diagnostic>,
    /// The document as the expansion understood it.
    pub document: ir::Document,
}

impl Expansion {
    /// The generated code, formatted (for snapshots, a CLI, `cargo expand`-like views).
    pub fn pretty(&self) -> String {
        pretty(&self.tokens)
    }

    /// The topics `side` needs on the broker (what its `TOPIC_SPECS` lists), and the
    /// channels whose topics are named at run time.
    pub fn broker_needs(&self, side: broker::Side) -> broker::BrokerNeeds {
        broker::needs(&self.document, side)
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

/// Checks the document at `path` against the AsyncAPI specification only (its official
/// JSON Schema and rules, with the documented leniencies), as the official parser
/// would: the warnings when it conforms, every problem when it does not. What a Kafka
/// service additionally needs of a document is checked by [`expand_file`].
pub fn check_file(path: &Path) -> Result<Vec<Diagnostic>, Diagnostics> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let (resolver, root) = resolve::Resolver::open(path)?;
        let mut report = Report::default();
        let Some(version) = validate::version(&resolver, &root, &mut report) else {
            return Err(report.into_errors());
        };
        conformance::check(&resolver, &root, &version, &mut report);
        report.check()?;
        Ok(report.into_warnings())
    }));
    outcome.unwrap_or_else(|_| Err(internal_error(path)))
}

fn internal_error(path: &Path) -> Diagnostics {
    Diagnostic::new(
        Location {
            file: path.to_owned(),
            pointer: String::new(),
            line_col: None,
        },
        "internal error while checking the document",
    )
    .help("this is a bug in asyncapi-codegen; please report it with the document")
    .into()
}

/// The version of the contract between generated code and `asyncapi-runtime`: the
/// runtime's `__private::CONTRACT` must equal it, so code generated by one release
/// and compiled against a runtime of another is a compile error that says so.
pub const CONTRACT_VERSION: u32 = 3;

fn expand_resolved(
    resolver: &resolve::Resolver,
    root: &resolve::NodeId,
    settings: &Settings,
) -> Result<Expansion, Diagnostics> {
    let mut report = Report::default();
    let runtime = runtime_module(resolver, root, settings, &mut report);
    let version = validate::version(resolver, root, &mut report);
    // Each `None` was reported: the document cannot be read further without them.
    let (Some(version), Some(runtime)) = (version, runtime) else {
        return Err(report.into_errors());
    };
    // The check against the specification and the expansion run side by side (the
    // check is about a fifth of the work). A document the specification rejects gets
    // only the check's errors: what normalization would say about it would repeat the
    // same mistakes in other words, so the expansion's result is then dropped.
    let (checked, expanded) = std::thread::scope(|scope| {
        let checking = scope.spawn(|| {
            let mut found = Report::default();
            conformance::check(resolver, root, &version, &mut found);
            found
        });
        let expanded = catch_unwind(AssertUnwindSafe(|| {
            let mut found = Report::default();
            let expansion = expand_conforming(resolver, root, &version, runtime, &mut found);
            (expansion, found)
        }));
        (checking.join(), expanded)
    });
    let checked = checked.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    report.absorb(checked);
    report.check()?;
    let (expansion, found) = expanded.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    report.absorb(found);
    // `None` only with errors in `found`.
    let (Some((tokens, document)), false) = (expansion, report.has_errors()) else {
        return Err(report.into_errors());
    };
    Ok(Expansion {
        tokens,
        files: resolver.files().map(Path::to_path_buf).collect(),
        warnings: report.into_warnings(),
        document,
    })
}

/// Normalizes, validates and generates a document the specification accepts; `None`
/// when `report` got errors.
fn expand_conforming(
    resolver: &resolve::Resolver,
    root: &resolve::NodeId,
    version: &validate::Version,
    runtime: TokenStream,
    report: &mut Report,
) -> Option<(TokenStream, ir::Document)> {
    let document = normalize::normalize(resolver, root, version, report);
    validate::document(resolver, root, &document, report);
    if report.has_errors() {
        return None;
    }
    let generator = generate::Generator {
        rt: runtime.clone(),
        doc: &document,
        types: types::TypeSpace::new(runtime, report),
        channel_messages: Vec::new(),
        channel_envelopes: Vec::new(),
        distinct_messages: Default::default(),
        channel_items: generate::channel_item_names(&document.channels),
    };
    let tokens = generator.generate(resolver);
    Some((tokens, document))
}

/// The runtime's hidden module, the only way generated code reaches the runtime.
fn runtime_module(
    resolver: &resolve::Resolver,
    root: &resolve::NodeId,
    settings: &Settings,
    report: &mut Report,
) -> Option<TokenStream> {
    match format!("{}::__private", settings.runtime_path).parse::<TokenStream>() {
        Ok(path) => Some(path),
        Err(_) => {
            report.error(Diagnostic::new(
                resolver.location(root),
                format!("invalid runtime path `{}`", settings.runtime_path),
            ));
            None
        }
    }
}
