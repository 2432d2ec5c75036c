//! An optional property's `default` that cannot be the field's value (it breaks the
//! property's schema, or the field's integer type cannot hold it) is a warning at the
//! default's line, and the field gets no default; one that fits is generated.

use std::path::Path;

use asyncapi_codegen::{expand_str, Settings};

/// A 3.0 document whose `Job` payload has the given properties.
fn document(properties: &str) -> String {
    format!(
        r#"asyncapi: 3.0.0
info: {{ title: T, version: '1' }}
channels:
  jobs:
    address: jobs
    messages:
      job:
        name: Job
        payload:
          type: object
          properties:
{properties}
operations:
  onJob:
    action: receive
    channel: {{ $ref: '#/channels/jobs' }}
"#
    )
}

/// The warnings' texts and the generated code.
fn expand(properties: &str) -> (Vec<String>, String) {
    let expansion = expand_str(
        Path::new("jobs.yaml"),
        &document(properties),
        &Settings::default(),
    )
    .unwrap_or_else(|e| panic!("the document must expand:\n{e}"));
    let warnings = expansion.warnings.iter().map(ToString::to_string).collect();
    (warnings, expansion.tokens.to_string())
}

#[test]
fn a_default_breaking_its_schema_is_a_warning_and_no_default() {
    let cases = [
        (
            "            retries: { type: integer, default: high }",
            "retries",
            "is not of type",
        ),
        (
            "            level: { type: string, enum: [low, normal], default: urgent }",
            "level",
            "urgent",
        ),
        (
            "            tags: { type: array, items: { type: string }, default: [1] }",
            "tags",
            "at `/0`",
        ),
        (
            "            small: { type: integer, format: uint8, default: 300 }",
            "small",
            "does not fit the field's type `u8`",
        ),
        (
            "            whole: { type: integer, default: 3.0 }",
            "whole",
            "not a whole number the field's type `i64` can hold",
        ),
        (
            "            at: { type: string, format: date-time, default: now }",
            "at",
            "date-time",
        ),
        (
            "            ratio: { type: number, format: float, default: 1e39 }",
            "ratio",
            "does not fit the field's type `f32`",
        ),
    ];
    for (property, name, why) in cases {
        let (warnings, code) = expand(property);
        assert_eq!(warnings.len(), 1, "{property}: {warnings:?}");
        let warning = &warnings[0];
        assert!(
            warning.contains("this `default` cannot be the property's value")
                && warning.contains(why)
                && warning.contains(&format!("/properties/{name}/default")),
            "{property}: {warning}"
        );
        assert!(
            !code.contains(&format!("__asyncapi_default_job_{name}")),
            "{property}: a default was generated"
        );
    }
}

#[test]
fn a_default_that_fits_is_generated_without_a_warning() {
    let (warnings, code) = expand(
        "            retries: { type: integer, format: uint8, default: 3 }\n            \
         tags: { type: array, items: { type: string }, default: [a] }",
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(code.contains("__asyncapi_default_job_retries"), "{code}");
    assert!(code.contains("__asyncapi_default_job_tags"), "{code}");
}
