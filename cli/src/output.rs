//! Diagnostics as people and CI read them.

use asyncapi_codegen::Diagnostic;
use serde_json::{json, Value};

/// One diagnostic in rustc's shape: what, then where, then what to do.
pub fn human(severity: &str, diagnostic: &Diagnostic) -> String {
    let mut text = format!(
        "{severity}: {}\n  --> {}",
        diagnostic.message, diagnostic.location
    );
    if let Some(help) = &diagnostic.help {
        text.push_str("\n  = help: ");
        text.push_str(help);
    }
    text
}

/// One diagnostic as a JSON object: `file`, `line`, `column`, `pointer`, `message`,
/// `help` (line, column and help are `null` when unknown).
pub fn json(diagnostic: &Diagnostic) -> Value {
    let location = &diagnostic.location;
    json!({
        "file": location.file.display().to_string(),
        "line": location.line_col.map(|(line, _)| line),
        "column": location.line_col.map(|(_, column)| column),
        "pointer": location.pointer,
        "message": diagnostic.message,
        "help": diagnostic.help,
    })
}

/// Prints `value` as the command's only stdout output.
pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}
