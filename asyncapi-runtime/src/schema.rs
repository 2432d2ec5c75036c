//! Channels' payload schemas as compiled validators, and their findings as text that
//! never quotes the instance. The consumer validates what it receives; the producer,
//! when asked (`KafkaConfig::validate_sends`), what it sends.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use jsonschema::Validator;

/// The validator of `schema` (a channel's `PAYLOAD_SCHEMA`), compiled once per process
/// and shared. `format` is asserted: in draft 2020-12 it is an annotation by default,
/// but the contract means it (an `email` that is not one breaks it).
pub(crate) fn validator(schema: &'static str) -> Result<Arc<Validator>, String> {
    static COMPILED: OnceLock<RwLock<HashMap<&'static str, Arc<Validator>>>> = OnceLock::new();
    let cache = COMPILED.get_or_init(Default::default);
    let known = cache
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(schema)
        .cloned();
    if let Some(validator) = known {
        return Ok(validator);
    }
    let value: serde_json::Value = serde_json::from_str(schema).map_err(|e| e.to_string())?;
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&value)
        .map(Arc::new)
        .map_err(|e| e.to_string())?;
    cache
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(schema, validator.clone());
    Ok(validator)
}

/// Up to five places where `instance` breaks the schema, `; `-separated, or `None`
/// when it is valid.
pub(crate) fn problems(validator: &Validator, instance: &serde_json::Value) -> Option<String> {
    if validator.is_valid(instance) {
        return None;
    }
    let found: Vec<String> = validator
        .iter_errors(instance)
        .take(5)
        .map(|e| problem(&e))
        .collect();
    Some(found.join("; "))
}

/// Where the instance breaks the schema and which keyword it fails, without the
/// instance: jsonschema's own message quotes it (a whole 1 MB array for a wrong root
/// type), and this text goes to logs, errors and `x-dlq-error`.
fn problem(error: &jsonschema::ValidationError<'_>) -> String {
    let schema_path = error.schema_path().to_string();
    let keyword = schema_path.rsplit('/').next().unwrap_or_default();
    let mut problem = format!(
        "`{}` fails `{keyword}` (schema `{schema_path}`)",
        error.instance_path()
    );
    crate::error::cap_len(&mut problem, 200);
    problem
}
