//! Content types (`contentType`, `defaultContentType`): the one place that reads them.

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
        let base = text
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match base.as_str() {
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

#[cfg(test)]
mod tests {
    use super::ContentType;

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
