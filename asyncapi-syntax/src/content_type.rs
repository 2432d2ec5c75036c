//! Content types: a document's `contentType` and `defaultContentType`, and a record's
//! `content-type` header.

use std::borrow::Cow;

/// The families of content types the runtime can carry, by how a payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// `application/json`, `text/json` and every `+json` type.
    Json,
    /// `text/plain`.
    Text,
    /// `application/octet-stream`.
    Bytes,
    /// Avro and Protobuf: carried as bytes, their schema is not typed.
    Binary,
}

impl ContentType {
    /// The family of `text` (a media type, parameters such as `; charset=utf-8` and case
    /// ignored), or `None` when the runtime cannot carry it.
    pub fn parse(text: &str) -> Option<ContentType> {
        let base = media_type(text);
        match base.as_ref() {
            "application/json" | "text/json" => Some(ContentType::Json),
            _ if base.ends_with("+json") => Some(ContentType::Json),
            "text/plain" => Some(ContentType::Text),
            "application/octet-stream" => Some(ContentType::Bytes),
            "application/x-protobuf" | "application/protobuf" => Some(ContentType::Binary),
            _ if base.starts_with("application/vnd.apache.avro") => Some(ContentType::Binary),
            _ => None,
        }
    }
}

/// The media type of a content type, as two content types are compared: parameters
/// (`; charset=utf-8`) dropped, surrounding space trimmed, lowercase. Borrowed when the
/// text is already in that form.
pub fn media_type(text: &str) -> Cow<'_, str> {
    let base = text.split(';').next().unwrap_or("").trim();
    if base.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(base.to_ascii_lowercase())
    } else {
        Cow::Borrowed(base)
    }
}

#[cfg(test)]
mod tests {
    use super::{media_type, ContentType};

    #[test]
    fn media_types_drop_parameters_and_case() {
        assert_eq!(media_type("application/json"), "application/json");
        assert!(matches!(
            media_type("application/json"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            media_type(" Application/JSON ; charset=utf-8"),
            "application/json"
        );
        assert_eq!(media_type(""), "");
    }

    #[test]
    fn families() {
        assert_eq!(
            ContentType::parse("application/json"),
            Some(ContentType::Json)
        );
        assert_eq!(
            ContentType::parse("Application/JSON; charset=utf-8"),
            Some(ContentType::Json)
        );
        assert_eq!(
            ContentType::parse("application/cloudevents+json"),
            Some(ContentType::Json)
        );
        assert_eq!(ContentType::parse("text/plain"), Some(ContentType::Text));
        assert_eq!(
            ContentType::parse("application/octet-stream"),
            Some(ContentType::Bytes)
        );
        assert_eq!(
            ContentType::parse("application/vnd.apache.avro+yaml;version=1.9.0"),
            Some(ContentType::Binary)
        );
        assert_eq!(ContentType::parse("application/xml"), None);
    }
}
