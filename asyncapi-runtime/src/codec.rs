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
use crate::error::{redact_serde_message, DecodeError, EncodeError};

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
/// raw strings; the others are parsed as JSON. Headers not in the schema are ignored,
/// also when their value is not UTF-8 (a stranger's binary header); a declared one is
/// an error naming it, unless its field takes any JSON value (it then holds the bytes
/// as a list of numbers).
pub fn decode_headers<T: DeserializeOwned>(
    headers: &[RawHeader],
    string_fields: &[&str],
) -> Result<T, DecodeError> {
    let mut map = serde_json::Map::new();
    let mut binary: Vec<(&str, serde_json::Value)> = Vec::new();
    for (name, value) in headers {
        let json = match std::str::from_utf8(value) {
            Ok(text) if string_fields.contains(&name.as_str()) => {
                serde_json::Value::String(text.to_owned())
            }
            Ok(text) => serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.to_owned())),
            Err(_) => {
                // No typed field takes a list of numbers for text: a declared header
                // fails to decode, an undeclared one is ignored.
                binary.push((name, serde_json::Value::from(value.as_slice())));
                continue;
            }
        };
        map.insert(name.clone(), json);
    }
    let decode = |map: serde_json::Map<String, serde_json::Value>| {
        serde_json::from_value::<T>(serde_json::Value::Object(map))
    };
    let header_error = |e: serde_json::Error| DecodeError::Header {
        name: "*".to_owned(),
        reason: redact_serde_message(&e.to_string()),
    };
    if binary.is_empty() {
        return decode(map).map_err(header_error);
    }
    let mut with_binary = map.clone();
    with_binary.extend(
        binary
            .iter()
            .map(|(name, bytes)| ((*name).to_owned(), bytes.clone())),
    );
    let error = match decode(with_binary) {
        Ok(decoded) => return Ok(decoded),
        Err(e) => e,
    };
    // The headers fail together: the binary one that fails alone, if any, is declared.
    let declared = binary.iter().find(|(name, bytes)| {
        let mut with_one = map.clone();
        with_one.insert((*name).to_owned(), bytes.clone());
        decode(with_one).is_err()
    });
    match declared {
        Some((name, _)) if decode(map).is_ok() => Err(DecodeError::Header {
            name: (*name).to_owned(),
            reason: "its value is not valid UTF-8".to_owned(),
        }),
        _ => Err(header_error(error)),
    }
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
        .map_err(|e| DecodeError::Key(redact_serde_message(&e.to_string())))
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
    use super::{decode_headers, decode_key, deserialize_from_str};
    use crate::error::{DecodeError, UnknownValue};

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Traced {
        trace_id: Option<String>,
    }

    /// A header the schema does not declare is ignored even when its value is not
    /// UTF-8 (the whole record failed to decode); a declared one is an error naming it.
    #[test]
    fn binary_headers_fail_only_where_declared() {
        let headers = vec![
            ("trace_id".to_owned(), b"t-1".to_vec()),
            ("span-bytes".to_owned(), vec![0xff, 0xfe, 0x00]),
        ];
        assert_eq!(
            decode_headers::<Traced>(&headers, &["trace_id"]).unwrap(),
            Traced {
                trace_id: Some("t-1".into())
            }
        );
        let declared = vec![
            ("span-bytes".to_owned(), vec![0xff, 0xfe, 0x00]),
            ("trace_id".to_owned(), vec![0xff, 0x00]),
        ];
        match decode_headers::<Traced>(&declared, &["trace_id"]) {
            Err(DecodeError::Header { name, reason }) => {
                assert_eq!(name, "trace_id");
                assert!(reason.contains("not valid UTF-8"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A string enum as generated: decoding goes through `FromStr`.
    #[derive(Debug)]
    struct Region;

    impl std::str::FromStr for Region {
        type Err = UnknownValue;
        fn from_str(value: &str) -> Result<Self, UnknownValue> {
            match value {
                "eu" => Ok(Region),
                _ => Err(UnknownValue::new(value, &["eu"])),
            }
        }
    }

    impl<'de> serde::Deserialize<'de> for Region {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserialize_from_str(deserializer)
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Routed {
        region: Option<Region>,
        attempt: Option<u32>,
    }

    /// Key and header errors (in a dead letter, a log line, a handler's error) say what
    /// was expected, not what a stranger wrote: not an enum value either (it did).
    #[test]
    fn key_and_header_errors_do_not_repeat_the_value() {
        let key = decode_key::<Region>(b"s3cret-region")
            .unwrap_err()
            .to_string();
        assert!(!key.contains("s3cret"), "{key}");
        assert!(key.contains("expected one of: eu"), "{key}");
        let header = |name: &str, value: &str| vec![(name.to_owned(), value.as_bytes().to_vec())];
        for headers in [
            header("region", "s3cret-region"),
            header("attempt", "\"s3cret\""),
        ] {
            let error = decode_headers::<Routed>(&headers, &["region"])
                .unwrap_err()
                .to_string();
            assert!(!error.contains("s3cret"), "{error}");
            assert!(error.contains("expected"), "{error}");
        }
        let missing = decode_headers::<RequiredTrace>(&[], &[])
            .unwrap_err()
            .to_string();
        assert!(missing.contains("missing field `trace_id`"), "{missing}");
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct RequiredTrace {
        trace_id: String,
    }

    #[test]
    fn a_content_type_error_is_cut_to_a_log_line() {
        let long = "application/".to_owned() + &"x".repeat(10_000);
        let error = DecodeError::content_type(Some(&long)).to_string();
        assert!(error.len() < 200, "{}", error.len());
        assert!(DecodeError::content_type(None)
            .to_string()
            .contains("<none>"));
    }
}
