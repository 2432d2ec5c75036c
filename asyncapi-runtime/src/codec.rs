//! Encoding helpers called by generated `Message`, `HeaderSet` and `RecordKey` impls.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use regex::Regex;
use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde::Serialize;

/// A record's `content-type` as the generated decoding of a channel whose messages
/// differ by content type compares it: parameters dropped, lowercase.
pub use asyncapi_syntax::media_type;

use crate::contract::RawHeader;
use crate::error::{DecodeError, EncodeError};

/// Encodes a payload as JSON.
pub fn encode_json<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodeError> {
    Ok(serde_json::to_vec(value)?)
}

/// Decodes a JSON payload; `message` names the message in errors.
pub fn decode_json<T: DeserializeOwned>(
    bytes: &[u8],
    message: &'static str,
) -> Result<T, DecodeError> {
    serde_json::from_slice(bytes).map_err(|e| DecodeError::json(message, &e))
}

/// Decodes a JSON payload already parsed (and validated) as a `serde_json::Value`.
pub fn decode_json_value<T: DeserializeOwned>(
    value: serde_json::Value,
    message: &'static str,
) -> Result<T, DecodeError> {
    serde_json::from_value(value).map_err(|e| DecodeError::json(message, &e))
}

/// `deserialize_with` of optional, non-nullable properties: absent is `None` (with
/// `#[serde(default)]`), but `null` is rejected as the schema rejects it (a plain
/// `Option` would take it as `None`).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// `deserialize_with` of optional, nullable properties: absent is `None` (with
/// `#[serde(default)]`), `null` is `Some(None)` and a value `Some(Some(v))`, so a
/// service can send and tell apart all three.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `Deserialize` of generated string enums: a JSON string (borrowed or not) parsed with
/// `FromStr`. Anything else is refused, as the schema refuses it (serde's derived enums
/// also take `{"value": null}`).
pub fn deserialize_from_str<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    struct FromStrVisitor<T>(std::marker::PhantomData<T>);
    impl<T> serde::de::Visitor<'_> for FromStrVisitor<T>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<T, E> {
            value.parse().map_err(E::custom)
        }
    }
    deserializer.deserialize_str(FromStrVisitor(std::marker::PhantomData))
}

/// Maps a typed headers value to Kafka headers: one header per present property,
/// strings as raw UTF-8, anything else as JSON text.
pub fn encode_headers<T: Serialize>(value: &T) -> Result<Vec<RawHeader>, EncodeError> {
    match serde_json::to_value(value)? {
        serde_json::Value::Object(map) => Ok(map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(name, v)| match v {
                serde_json::Value::String(s) => (name, s.into_bytes()),
                other => (name, other.to_string().into_bytes()),
            })
            .collect()),
        other => Err(EncodeError::HeadersNotObject(other.to_string())),
    }
}

/// Reverse of [`encode_headers`]: `string_fields` lists the properties whose values are
/// raw strings; the others are parsed as JSON. Headers not in the schema are ignored.
pub fn decode_headers<T: DeserializeOwned>(
    headers: &[RawHeader],
    string_fields: &[&str],
) -> Result<T, DecodeError> {
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        let text = std::str::from_utf8(value).map_err(|e| DecodeError::Header {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        let json = if string_fields.contains(&name.as_str()) {
            serde_json::Value::String(text.to_owned())
        } else {
            serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
        };
        map.insert(name.clone(), json);
    }
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| DecodeError::Header {
        name: "*".to_owned(),
        reason: without_values(&e.to_string()),
    })
}

/// Encodes a typed record key: strings as raw UTF-8, anything else as JSON text.
pub fn encode_key<T: Serialize>(value: &T) -> Result<Vec<u8>, EncodeError> {
    match serde_json::to_value(value)? {
        serde_json::Value::String(s) => Ok(s.into_bytes()),
        other => Ok(other.to_string().into_bytes()),
    }
}

/// Reverse of [`encode_key`].
pub fn decode_key<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::Key(e.to_string()))?;
    serde_json::from_str(text)
        .or_else(|_| serde_json::from_value(serde_json::Value::String(text.to_owned())))
        .map_err(|e| DecodeError::Key(without_values(&e.to_string())))
}

/// serde's "invalid type: string \"…\", expected u32" quotes the value it got; a
/// key or header error (in a dead letter, a log line, a handler's error) says what was
/// expected, not what a stranger wrote.
fn without_values(error: &str) -> String {
    match (error.find("invalid "), error.rfind(", expected ")) {
        (Some(start), Some(expected)) if start < expected => {
            let kind = error[start..].split(':').next().unwrap_or("invalid value");
            format!("{}{kind}{}", &error[..start], &error[expected..])
        }
        _ => error.to_owned(),
    }
}

/// Whether `value` matches a parameter's `pattern` (unanchored, as JSON Schema reads
/// it). Each pattern is compiled once; codegen refused patterns that do not compile,
/// so a failure here only comes from hand-written code and matches nothing.
pub fn matches_pattern(pattern: &'static str, value: &str) -> bool {
    static COMPILED: OnceLock<RwLock<HashMap<&'static str, Option<Regex>>>> = OnceLock::new();
    let cache = COMPILED.get_or_init(Default::default);
    if let Some(compiled) = cache.read().unwrap_or_else(|e| e.into_inner()).get(pattern) {
        return compiled.as_ref().is_some_and(|re| re.is_match(value));
    }
    let compiled = Regex::new(pattern).ok();
    let matched = compiled.as_ref().is_some_and(|re| re.is_match(value));
    cache
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(pattern, compiled);
    matched
}

#[cfg(test)]
mod tests {
    use super::without_values;

    #[test]
    fn header_errors_say_what_was_expected_not_what_came() {
        assert_eq!(
            without_values("header `*`: invalid type: string \"s3cret\", expected u32"),
            "header `*`: invalid type, expected u32"
        );
        assert_eq!(
            without_values("invalid value: integer `-7`, expected u8"),
            "invalid value, expected u8"
        );
        assert_eq!(
            without_values("header `*`: missing field `trace_id`"),
            "header `*`: missing field `trace_id`"
        );
    }
}
