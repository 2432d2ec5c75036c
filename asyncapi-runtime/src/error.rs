//! Typed errors of the runtime.

/// A value could not be encoded into a record.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot encode payload as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot encode header `{name}`: {reason}")]
    Header { name: String, reason: String },
    #[error("headers must serialize to a JSON object, got {0}")]
    HeadersNotObject(String),
}

/// A record could not be decoded into the channel's types.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("payload is not valid JSON for `{message}`: {source}")]
    Json {
        message: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("payload does not match the schema of channel `{channel}`: {details}")]
    Schema { channel: &'static str, details: String },
    #[error("record has no payload (tombstone)")]
    EmptyPayload,
    #[error("payload is {size} bytes, more than the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("payload matches none of the messages of the channel: {0}")]
    NoMatchingMessage(String),
    #[error("unsupported content type `{0}`")]
    ContentType(String),
    #[error("invalid header `{name}`: {reason}")]
    Header { name: String, reason: String },
    #[error("invalid record key: {0}")]
    Key(String),
    #[error("topic `{topic}` does not match the channel address `{address}`")]
    Topic { topic: String, address: &'static str },
    #[error("invalid channel parameter `{name}`: {reason}")]
    Parameter { name: &'static str, reason: String },
}
