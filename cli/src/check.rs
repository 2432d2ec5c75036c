//! `expand` and `check`: the document through the same pipeline as `asyncapi!`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use asyncapi_codegen::{Diagnostic, Diagnostics, Expansion, Location};
use serde_json::json;

use crate::output;
use crate::Format;

/// Expands `document` as the macro would, with the macro's default settings.
pub fn expand_document(document: &Path) -> Result<Expansion, Diagnostics> {
    // The macro's own message for a missing file points at the crate's manifest
    // directory; here the path is the user's, relative to where they are.
    if let Err(error) = std::fs::metadata(document) {
        let location = Location::file(document);
        return Err(
            Diagnostic::new(location, format!("cannot read the document: {error}"))
                .help("check the path (relative to the current directory)")
                .into(),
        );
    }
    asyncapi_codegen::expand_file(document, &asyncapi_codegen::Settings::default())
}

/// Prints the generated code on stdout, warnings and errors on stderr.
pub fn expand(document: &Path) -> anyhow::Result<ExitCode> {
    match expand_document(document) {
        Ok(expansion) => {
            for warning in &expansion.warnings {
                eprintln!("{}", output::human("warning", warning));
            }
            print!("{}", expansion.pretty());
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            print_errors(&errors);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Checks every document; fails when any has an error.
pub fn check(documents: &[PathBuf], format: Format) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::new();
    let mut failed = 0usize;
    for document in documents {
        let (errors, warnings) = match expand_document(document) {
            Ok(expansion) => (Vec::new(), expansion.warnings),
            Err(Diagnostics(errors)) => (errors, Vec::new()),
        };
        failed += usize::from(!errors.is_empty());
        match format {
            Format::Human => {
                for warning in &warnings {
                    eprintln!("{}", output::human("warning", warning));
                }
                for error in &errors {
                    eprintln!("{}", output::human("error", error));
                }
                let verdict = if errors.is_empty() { "ok" } else { "FAILED" };
                println!(
                    "{}: {verdict} ({} errors, {} warnings)",
                    document.display(),
                    errors.len(),
                    warnings.len()
                );
            }
            Format::Json => reports.push(json!({
                "document": document.display().to_string(),
                "ok": errors.is_empty(),
                "errors": errors.iter().map(output::json).collect::<Vec<_>>(),
                "warnings": warnings.iter().map(output::json).collect::<Vec<_>>(),
            })),
        }
    }
    if format == Format::Json {
        output::print_json(&json!({ "documents": reports, "failed": failed }));
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints the errors of a document that did not expand, on stderr.
pub fn print_errors(errors: &Diagnostics) {
    for error in &errors.0 {
        eprintln!("{}", output::human("error", error));
    }
    eprintln!("error: the document has {} errors", errors.0.len());
}
