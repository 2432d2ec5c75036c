//! Typed errors of the runtime.

/// A value could not be encoded into a record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The payload could not be serialized as JSON.
    #[error("cannot encode payload as JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A header value could not be encoded.
    #[error("cannot encode header `{name}`: {reason}")]
    Header {
        /// The name of the header.
        name: String,
        /// Why the header value could not be encoded.
        reason: String,
    },
    /// The headers did not serialize to a JSON object; holds the JSON they produced.
    #[error("headers must serialize to a JSON object, got {0}")]
    HeadersNotObject(String),
}

/// A record could not be decoded into the channel's types.
///
/// Messages describe where and why, never the record's content: they end up in logs and
/// dead-letter headers, and the content is someone else's data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The payload is not valid JSON for the message it was decoded as.
    #[error("payload is not valid JSON for `{message}`: {detail}")]
    Json {
        /// The name of the message the payload was decoded as.
        message: &'static str,
        /// What the JSON parser said, with every value it quoted from the payload
        /// removed (see [`DecodeError::json`]).
        detail: String,
    },
    /// The payload does not match the payload schema of its channel.
    #[error("payload does not match the schema of channel `{channel}`: {details}")]
    Schema {
        /// The ID of the channel whose schema the payload breaks.
        channel: &'static str,
        /// What the schema validation found wrong.
        details: String,
    },
    /// The record has no payload (a tombstone).
    #[error("record has no payload (tombstone)")]
    EmptyPayload,
    /// The payload is larger than the size limit.
    #[error("payload is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The size of the payload, in bytes.
        size: usize,
        /// The largest payload size allowed, in bytes.
        limit: usize,
    },
    /// The payload matches none of the channel's messages; holds why each one failed.
    #[error("payload matches none of the messages of the channel: {0}")]
    NoMatchingMessage(String),
    /// The record decoded as a message of the channel that none of this side's
    /// operations receive (a 3.x operation may list some of its channel's messages).
    #[error("message `{message}` is not one this side receives on channel `{channel}` (it receives {receives})")]
    NotReceived {
        /// The message the record decoded as.
        message: &'static str,
        /// The channel's id.
        channel: &'static str,
        /// The messages this side's operations receive on the channel, listed.
        receives: String,
    },
    /// The record's content type is not supported; holds that content type.
    #[error("unsupported content type `{0}`")]
    ContentType(String),
    /// A header of the record could not be decoded.
    #[error("invalid header `{name}`: {reason}")]
    Header {
        /// The name of the header, or `*` when the headers as a whole do not fit the type.
        name: String,
        /// Why the header could not be decoded.
        reason: String,
    },
    /// The record key could not be decoded; holds the reason.
    #[error("invalid record key: {0}")]
    Key(String),
    /// The record's topic does not match the address of the channel.
    #[error("topic `{topic}` does not match the channel address `{address}`")]
    Topic {
        /// The topic the record was read from.
        topic: String,
        /// The channel address the topic was matched against.
        address: &'static str,
    },
    /// A channel parameter taken from the topic is missing or invalid.
    #[error("invalid channel parameter `{name}`: {reason}")]
    Parameter {
        /// The name of the parameter.
        name: &'static str,
        /// Why the parameter's value was rejected.
        reason: String,
    },
}

impl DecodeError {
    /// A JSON decoding error of message `message`, without the payload values that
    /// serde quotes (`invalid type: string "4111…", expected u64` becomes `invalid
    /// type: string, expected u64`).
    pub fn json(message: &'static str, error: &serde_json::Error) -> Self {
        DecodeError::Json {
            message,
            detail: redact_serde_message(&error.to_string()),
        }
    }

    /// A record's content type (`None`: it has none) that no message of the channel
    /// has, cut to a length a log line can carry: a stranger writes the header.
    pub fn content_type(value: Option<&str>) -> Self {
        let mut text = value.unwrap_or("<none>").to_owned();
        cap_len(&mut text, MAX_CONTENT_TYPE);
        DecodeError::ContentType(text)
    }
}

/// The longest error text kept from a parser: enough for a path and a reason.
const MAX_DETAIL: usize = 300;
/// The longest content type an error repeats (media types are far shorter).
const MAX_CONTENT_TYPE: usize = 100;

/// serde's messages quote payload values (`string "…"`, `` integer `5` ``, unknown
/// variants and fields) before `, expected …`; what follows comes from the type.
/// Quoted text before it is dropped, except the field names of `missing field` and
/// `duplicate field`, which name the type's fields.
pub(crate) fn redact_serde_message(text: &str) -> String {
    let (head, tail) = match text.split_once(", expected ") {
        Some((head, tail)) => (head, Some(tail)),
        None => (text, None),
    };
    let names_a_field = head.starts_with("missing field") || head.starts_with("duplicate field");
    let mut out = if names_a_field {
        head.to_owned()
    } else {
        drop_quoted(head)
    };
    if let Some(tail) = tail {
        out.push_str(", expected ");
        out.push_str(tail);
    }
    cap_len(&mut out, MAX_DETAIL);
    out
}

/// Cuts `text` to at most `max` bytes (on a character boundary), marking the cut.
pub(crate) fn cap_len(text: &mut String, max: usize) {
    if text.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
}

/// `text` without its `` `…` `` and `"…"` segments (backslash escapes inside quotes
/// honoured), spaces tidied.
fn drop_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '`' || c == '"' {
            let mut escaped = false;
            for inner in chars.by_ref() {
                match inner {
                    '\\' if !escaped => escaped = true,
                    q if q == c && !escaped => break,
                    _ => escaped = false,
                }
            }
            continue;
        }
        out.push(c);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub use crate::config::ConfigError;
pub use crate::topic::TopicError;
pub use rdkafka::error::KafkaError;

use crate::contract::RawHeader;

/// A broker refused the client for a reason retrying with the same settings cannot
/// cure. librdkafka would reconnect forever; the runtime stops at the first one, so
/// build a new client once the configuration is fixed. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// SASL authentication failed: a wrong user name or password, or a mechanism the
    /// broker's listener does not enable.
    #[error("authentication failed at broker {broker}: {reason}")]
    Authentication {
        /// The broker that refused the client, as librdkafka names it.
        broker: String,
        /// What librdkafka reported about the failure.
        reason: String,
    },
    /// The TLS handshake failed: typically the broker's certificate is not signed by a
    /// CA the client trusts (`KAFKA_SSL_CA_LOCATION`, `ssl.ca.location`) or does not
    /// name the host connected to.
    #[error("TLS handshake failed with broker {broker}: {reason}")]
    Tls {
        /// The broker the handshake failed with, as librdkafka names it.
        broker: String,
        /// What librdkafka reported about the failure.
        reason: String,
    },
}

/// A record that could not be delivered, handed back so the caller loses nothing.
///
/// `Debug` shows the topic, the sizes of key and payload and the header names, never
/// their bytes: failed sends get logged, and the bytes are the sender's data.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedRecord {
    /// The topic the record was for.
    pub topic: String,
    /// The encoded key of the record, if it had one.
    pub key: Option<Vec<u8>>,
    /// The encoded payload of the record.
    pub payload: Vec<u8>,
    /// The headers of the record, as names and encoded values.
    pub headers: Vec<RawHeader>,
}

impl std::fmt::Debug for FailedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = |n: usize| format!("{n} bytes");
        f.debug_struct("FailedRecord")
            .field("topic", &self.topic)
            .field("key", &self.key.as_ref().map(|k| bytes(k.len())))
            .field("payload", &bytes(self.payload.len()))
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Sending a record failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The message, key or headers could not be encoded; nothing was enqueued.
    #[error("cannot encode the record: {0}")]
    Encode(#[from] EncodeError),
    /// The topic could not be built from the channel parameters; nothing was enqueued.
    #[error("cannot build the topic: {0}")]
    Topic(#[from] TopicError),
    /// The message breaks its channel's payload schema (checked when the configuration
    /// asks for it: `KafkaConfig::validate_sends`); nothing was enqueued.
    #[error("the message breaks the payload schema of channel `{channel}`: {details}")]
    Schema {
        /// The ID of the channel whose schema the message breaks.
        channel: &'static str,
        /// What the schema validation found wrong.
        details: String,
    },
    /// librdkafka refused the record (other than a full queue, which is waited out).
    #[error("cannot enqueue record for `{}`: {source}", record.topic)]
    Enqueue {
        /// The error librdkafka refused the record with.
        #[source]
        source: KafkaError,
        /// The record that was not enqueued.
        record: Box<FailedRecord>,
    },
    /// The broker did not accept the record (after librdkafka's own retries).
    #[error("delivery to `{}` failed: {source}", record.topic)]
    Delivery {
        /// The error the delivery report carried.
        #[source]
        source: KafkaError,
        /// The record that was not delivered.
        record: Box<FailedRecord>,
    },
    /// The producer was torn down before the delivery report arrived (dropping the last
    /// `Producer` clone flushes first, so this needs a flush that timed out); librdkafka
    /// no longer holds the record, so only its topic is known.
    #[error("producer closed before the delivery of a record to `{}` was confirmed", record.topic)]
    Canceled {
        /// The record whose delivery was not confirmed, with only its topic filled in.
        record: Box<FailedRecord>,
    },
    /// A broker refused the producer (authentication or TLS): the record was not
    /// sent, and no record will be until a new producer is built.
    #[error("cannot send to `{}`: {source}", record.topic)]
    Connection {
        /// Why the broker refused the producer.
        #[source]
        source: ConnectionError,
        /// The record that was not sent.
        record: Box<FailedRecord>,
    },
}

impl SendError {
    /// The record that was not delivered, when one had been built.
    pub fn record(&self) -> Option<&FailedRecord> {
        match self {
            SendError::Enqueue { record, .. }
            | SendError::Delivery { record, .. }
            | SendError::Connection { record, .. }
            | SendError::Canceled { record } => Some(record),
            SendError::Encode(_) | SendError::Topic(_) | SendError::Schema { .. } => None,
        }
    }

    /// The record is too large for the producer or the broker (`message.max.bytes`):
    /// sending it again cannot succeed.
    pub fn is_too_large(&self) -> bool {
        use rdkafka::types::RDKafkaErrorCode;
        match self {
            SendError::Enqueue { source, .. } | SendError::Delivery { source, .. } => matches!(
                source.rdkafka_error_code(),
                Some(RDKafkaErrorCode::MessageSizeTooLarge)
            ),
            _ => false,
        }
    }

    /// Takes the record that was not delivered, when one had been built.
    pub fn into_record(self) -> Option<FailedRecord> {
        match self {
            SendError::Enqueue { record, .. }
            | SendError::Delivery { record, .. }
            | SendError::Connection { record, .. }
            | SendError::Canceled { record } => Some(*record),
            SendError::Encode(_) | SendError::Topic(_) | SendError::Schema { .. } => None,
        }
    }
}

/// The consumer could not be built or stopped on a fatal error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The client configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No consumer group was given, neither on the consumer nor by a listener or channel.
    #[error("no consumer group: call `.group_id(..)` on the consumer (no listener or channel names one)")]
    MissingGroupId,
    /// Listeners ask for two different consumer groups; holds both group IDs.
    #[error(
        "listeners ask for different consumer groups (`{0}` and `{1}`); one consumer has one group"
    )]
    ConflictingGroupIds(String, String),
    /// The consumer has no route, listener or subscription.
    #[error("nothing to consume: add a route, a listener or a subscription")]
    NoRoutes,
    /// `TestBroker::start` was given a consumer built from another configuration.
    #[cfg(feature = "testing")]
    #[error("the consumer was not built from this test broker's `config()`")]
    NotOnTestBroker,
    /// A listener reads a state type that was not given to the consumer.
    #[error("the listener of channel `{channel}` reads a `{expected}` from the consumer's state, which was not given: call `.with_state(..)` with one")]
    MissingState {
        /// The ID of the listener's channel.
        channel: &'static str,
        /// The name of the state type the listener reads.
        expected: &'static str,
    },
    /// The topic template of a channel's address could not be parsed.
    #[error("channel `{channel}`: {source}")]
    Topic {
        /// The ID of the channel.
        channel: &'static str,
        /// Why the channel's address is not a valid topic template.
        #[source]
        source: TopicError,
    },
    /// The payload schema of a channel could not be compiled.
    #[error("channel `{channel}` has an invalid payload schema: {details}")]
    InvalidSchema {
        /// The ID of the channel.
        channel: &'static str,
        /// Why the schema could not be compiled.
        details: String,
    },
    /// librdkafka reported an error.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// A broker refused the consumer (authentication or TLS); it stopped.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The consumer could not listen for shutdown signals.
    #[error("cannot listen for shutdown signals: {0}")]
    Signal(#[source] std::io::Error),
    /// A task or thread of the consumer failed; holds what went wrong.
    #[error("a consumer task failed: {0}")]
    Task(String),
    /// The consumer did not finish stopping in time (twice its drain deadline, plus
    /// 10 s for each of two commits and for leaving the group): records in hand
    /// held it up, or its commits or its leaving the group waited for the broker. It
    /// goes on closing in the background; records settled since the last commit may
    /// be handled again.
    #[error("the consumer did not finish stopping within {0:?} (its final commit or leaving the group waits for the broker); it goes on closing in the background")]
    StopTimedOut(std::time::Duration),
    /// Two listeners, routes or subscriptions on one channel (or on the same topics):
    /// each record goes to one of them, so the other would never get any.
    #[error("channel `{channel}` has two handlers (listeners, routes or subscriptions) in one consumer; give each its own consumer and group")]
    DuplicateRoute {
        /// The ID of the channel with two handlers.
        channel: &'static str,
    },
    /// The dead-letter send of a record kept failing and the consumer was told to
    /// stop (`DeadLetterFailure::StopConsumer`); the record's offset is not committed.
    #[error("cannot dead-letter the record at {topic}/{partition}/{offset} to `{dead_letter_topic}`: {error}")]
    DeadLetter {
        /// The topic of the record.
        topic: String,
        /// The partition of the record.
        partition: i32,
        /// The offset of the record.
        offset: i64,
        /// The dead-letter topic the record could not be sent to.
        dead_letter_topic: String,
        /// Why the dead-letter send failed.
        error: String,
    },
    /// The runtime panicked settling a record and again dead-lettering it; the
    /// record's offset is not committed.
    #[error("partition worker of {topic}/{partition} panicked at offset {offset}: {message}")]
    WorkerPanic {
        /// The topic of the worker's partition.
        topic: String,
        /// The partition the worker read.
        partition: i32,
        /// The offset the worker was at when it panicked, or -1 if it had settled none.
        offset: i64,
        /// The panic's message.
        message: String,
    },
}

/// The embedded mock cluster could not be started or used.
#[cfg(feature = "embedded")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// The mock cluster could not be started.
    #[error("cannot start the mock cluster: {0}")]
    Start(#[source] KafkaError),
    /// A topic could not be created on the mock cluster.
    #[error("cannot create topic `{topic}` on the mock cluster: {code}")]
    CreateTopic {
        /// The name of the topic.
        topic: String,
        /// The error code the mock cluster returned.
        code: rdkafka::types::RDKafkaErrorCode,
    },
    /// A topic name contains a NUL byte; holds that name.
    #[error("invalid topic name `{0}`")]
    TopicName(String),
}

/// A string that is none of an enum's values (`FromStr` of generated string enums).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("unknown value `{value}`, expected one of: {}", .expected.join(", "))]
pub struct UnknownValue {
    /// The string that was parsed.
    pub value: String,
    /// The values the enum accepts.
    pub expected: &'static [&'static str],
}

impl UnknownValue {
    /// The error for `value`, which is none of `expected`.
    pub fn new(value: &str, expected: &'static [&'static str]) -> Self {
        UnknownValue {
            value: value.to_owned(),
            expected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Card {
        number: u64,
        kind: Kind,
    }

    #[derive(Debug, serde::Deserialize)]
    enum Kind {
        Visa,
    }

    /// A decode error ends up in logs and `x-dlq-error`: it says where and why, never
    /// what the payload held.
    #[test]
    fn json_decode_errors_quote_no_payload_value() {
        let cases: [(&[u8], &str); 4] = [
            (
                br#"{"number": "4111-SECRET", "kind": "Visa"}"#,
                "invalid type: string, expected u64",
            ),
            (
                br#"{"number": 1, "kind": "SECRET-KIND"}"#,
                "unknown variant, expected",
            ),
            (
                br#"{"number": 1.5e3, "kind": "Visa"}"#,
                "invalid type: floating point, expected u64",
            ),
            (br#"{"kind": "Visa"}"#, "missing field `number`"),
        ];
        for (payload, expected) in cases {
            let error = serde_json::from_slice::<Card>(payload).unwrap_err();
            let text = DecodeError::json("Card", &error).to_string();
            for secret in ["SECRET", "4111", "1500", "1.5"] {
                assert!(!text.contains(secret), "`{secret}` in {text}");
            }
            assert!(text.contains(expected), "{text}");
            assert!(text.contains("line 1"), "the position is kept: {text}");
        }
    }

    /// A failed send is often logged with `{:?}`: the record's bytes are the sender's
    /// data (and can be megabytes), so Debug shows sizes and header names only.
    #[test]
    fn failed_record_debug_shows_no_payload_key_or_header_value() {
        let record = FailedRecord {
            topic: "payments".into(),
            key: Some(b"customer-4711".to_vec()),
            payload: b"{\"card\":\"4111111111111111\"}".to_vec(),
            headers: vec![("trace".into(), b"secret-header-value".to_vec())],
        };
        let error = SendError::Delivery {
            source: KafkaError::Canceled,
            record: Box::new(record.clone()),
        };
        for text in [
            format!("{record:?}"),
            format!("{error:?}"),
            error.to_string(),
        ] {
            for secret in ["4111", "customer-4711", "secret-header-value", "52, 49"] {
                assert!(!text.contains(secret), "`{secret}` in {text}");
            }
        }
        let debug = format!("{record:?}");
        assert!(
            debug.contains("payments") && debug.contains("27 bytes") && debug.contains("trace"),
            "{debug}"
        );
    }
}
