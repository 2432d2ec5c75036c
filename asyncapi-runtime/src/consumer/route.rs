//! A channel bound to its handler, with the channel's types erased so the loop can
//! hold routes of many channels.

use std::any::{Any, TypeId};
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

mod attempts;

use super::extract::RecordParts;
use super::handler::{Handler, ListenerOptions, State};
use super::headers::LazyHeaders;
use crate::contract::{
    header_value, Channel, ChannelParameters, HeaderSet, Message, RawHeader, RawHeaders, RecordKey,
};
use crate::error::{ConsumerError, DecodeError};
use crate::producer::CONTENT_TYPE_HEADER;
use crate::schema;
use crate::topic::TopicTemplate;
use attempts::FirstAttempt;

/// A record as fetched: key and payload are read in place from librdkafka's buffer, the
/// headers only when something asks for them.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    /// The partition's, shared by its records.
    pub topic: &'a Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<DateTime<Utc>>,
    pub key: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
    pub headers: LazyHeaders<'a>,
}

/// Why a record goes to the dead-letter topic (`x-dlq-reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeadReason {
    HandlerError,
    DecodeError,
    SchemaError,
    HandlerPanic,
    HandlerTimeout,
    /// The runtime panicked around the handler (decoding, a `Drop`, a tracing layer).
    RuntimePanic,
}

impl DeadReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeadReason::HandlerError => "handler-error",
            DeadReason::DecodeError => "decode-error",
            DeadReason::SchemaError => "schema-error",
            DeadReason::HandlerPanic => "handler-panic",
            DeadReason::HandlerTimeout => "handler-timeout",
            DeadReason::RuntimePanic => "runtime-panic",
        }
    }
}

/// What became of a record.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Handled: store its offset.
    Done,
    /// Send it to the dead-letter topic, then store its offset.
    Dead {
        reason: DeadReason,
        error: String,
        attempts: u32,
    },
    /// The consumer is stopping: leave the offset unstored so it is redelivered.
    Abandoned,
}

/// How many times a record is handed to its handler, and the exponential backoff
/// between attempts: `RetryPolicy::default().max_attempts(5)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Handler calls per record, the first included, before it is dead-lettered.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; each later wait doubles it.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Sets the handler calls per record, the first included (at least 1).
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }
    /// Sets the wait after the first failed attempt.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }
    /// Sets the longest wait between two attempts.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// The consumer-wide settings a route handles records with.
pub(crate) struct HandlingSettings {
    pub retry: RetryPolicy,
    pub validate: bool,
    pub state: State,
    /// Per handler call, unless the listener sets its own.
    pub handler_timeout: Duration,
}

pub(crate) trait ErasedRoute: Send + Sync {
    fn channel_id(&self) -> &'static str;
    fn channel_topic(&self) -> &'static str;
    fn subscription(&self) -> String;
    fn matches(&self, topic: &str) -> bool;
    fn options(&self) -> &ListenerOptions;
    fn group_id(&self) -> Option<&'static str>;
    fn client_id(&self) -> Option<&'static str>;
    /// Handles `record` as far as it can without waiting: most records are handled, or
    /// found dead, in this one step. `intake_closed` fires when the consumer stops or
    /// the partition is revoked: a record waiting to be retried is then abandoned
    /// (redelivered later).
    fn process<'a>(
        &'a self,
        record: &'a Record<'a>,
        settings: &'a HandlingSettings,
        intake_closed: &'a CancellationToken,
        cx: &mut Context<'_>,
    ) -> Step<'a>;
}

/// A record's handling after its first step.
pub(crate) enum Step<'a> {
    Settled(Outcome),
    /// The rest of the handling (a handler that waits, a retry, a concurrency limit).
    Pending(BoxFuture<'a, Outcome>),
}

pub(crate) struct TypedRoute<C: Channel, H> {
    handler: H,
    template: TopicTemplate,
    validator: Option<Arc<jsonschema::Validator>>,
    options: ListenerOptions,
    limit: Option<Arc<Semaphore>>,
    /// The channel's messages the side receives, when its operations list only some.
    receives: Option<&'static [&'static str]>,
    /// Whether the handler or the channel (its typed headers, its content types) reads
    /// the record's headers: a header name that is not UTF-8 then dead-letters the
    /// record before the handler. Trace propagation (`otel`) reads them too, but only
    /// for tracing: it does not decide which records are handled.
    reads_headers: bool,
    /// What the handler's context carries: the headers (else an empty list), the key
    /// (else none; a key is copied out of librdkafka's buffer only for a handler that
    /// reads it).
    handler_reads: RecordParts,
    /// The empty header list of contexts whose handler does not read headers.
    no_headers: Arc<[RawHeader]>,
    _channel: PhantomData<fn() -> C>,
}

impl<C: Channel, H: Handler<C>> TypedRoute<C, H> {
    pub(crate) fn new(
        handler: H,
        options: ListenerOptions,
        receives: Option<&'static [&'static str]>,
    ) -> Result<Self, ConsumerError> {
        let template = TopicTemplate::parse(C::TOPIC).map_err(|source| ConsumerError::Topic {
            channel: C::ID,
            source,
        })?;
        // Compiled once here, not per record.
        let validator = C::PAYLOAD_SCHEMA
            .map(|text| {
                schema::validator(text).map_err(|details| ConsumerError::InvalidSchema {
                    channel: C::ID,
                    details,
                })
            })
            .transpose()?;
        let limit = options
            .concurrency
            .map(|n| Arc::new(Semaphore::new(n.max(1))));
        let handler_reads = handler.reads();
        let reads_headers = handler_reads.headers()
            || C::Message::READS_CONTENT_TYPE
            || TypeId::of::<C::Headers>() != TypeId::of::<RawHeaders>();
        Ok(TypedRoute {
            handler,
            template,
            validator,
            options,
            limit,
            receives,
            reads_headers,
            handler_reads,
            no_headers: Arc::from([]),
            _channel: PhantomData,
        })
    }

    /// The record's message, if it is one this side receives on the channel.
    fn decode(
        &self,
        record: &Record<'_>,
        validate: bool,
    ) -> Result<C::Message, (DeadReason, String)> {
        let message = self.decode_payload(record, validate)?;
        match self.receives {
            Some(receives) if !receives.contains(&message.name()) => {
                let error = DecodeError::NotReceived {
                    message: message.name(),
                    channel: C::ID,
                    receives: receives
                        .iter()
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                Err((DeadReason::DecodeError, error.to_string()))
            }
            _ => Ok(message),
        }
    }

    fn decode_payload(
        &self,
        record: &Record<'_>,
        validate: bool,
    ) -> Result<C::Message, (DeadReason, String)> {
        let payload = record.payload.ok_or_else(|| {
            (
                DeadReason::DecodeError,
                DecodeError::EmptyPayload.to_string(),
            )
        })?;
        let content_type = if C::Message::READS_CONTENT_TYPE {
            header_value(&record.headers.get().headers, CONTENT_TYPE_HEADER)
                .and_then(|v| std::str::from_utf8(v).ok())
        } else {
            None
        };
        let validator = match (validate, &self.validator) {
            (true, Some(validator)) => validator,
            _ => return C::Message::decode(payload, content_type).map_err(dead_reason),
        };
        // The generated type is the schema: decoding validates, unless an array could
        // stand in for an object. A failure falls through to validation for its report.
        if C::PAYLOAD_TYPE_ENFORCES_SCHEMA && !payload.contains(&b'[') {
            if let Ok(message) = C::Message::decode(payload, content_type) {
                return Ok(message);
            }
        }
        let instance: serde_json::Value = serde_json::from_slice(payload).map_err(|e| {
            let error = DecodeError::json(C::Message::NAME, &e);
            (DeadReason::DecodeError, error.to_string())
        })?;
        if let Some(details) = schema::problems(validator, &instance) {
            let err = DecodeError::Schema {
                channel: C::ID,
                details,
            };
            return Err((DeadReason::SchemaError, err.to_string()));
        }
        C::Message::decode_value(instance, content_type).map_err(dead_reason)
    }

    fn parameters(&self, topic: &str) -> Result<C::Parameters, String> {
        let values = self.template.matches(topic).ok_or_else(|| {
            DecodeError::Topic {
                topic: topic.to_owned(),
                address: C::ADDRESS,
            }
            .to_string()
        })?;
        C::Parameters::from_values(&values).map_err(|e| e.to_string())
    }

    /// The record's channel parameters, or the dead letter of a record no handler can
    /// take: headers that cannot be read (when they are read), a topic that does not
    /// match the channel, a key or headers that break the channel's types. None of these
    /// is retried.
    fn admit(&self, record: &Record<'_>) -> Result<C::Parameters, Outcome> {
        let dead = |error: String| Outcome::Dead {
            reason: DeadReason::DecodeError,
            error,
            attempts: 0,
        };
        if self.reads_headers {
            if let Some(error) = &record.headers.get().unreadable {
                return Err(dead(error.clone()));
            }
        }
        let parameters = self.parameters(record.topic).map_err(dead)?;
        check_key_and_headers::<C>(record).map_err(dead)?;
        Ok(parameters)
    }
}

/// A record whose key or headers break the channel's typed key or headers (a required
/// header missing, a value of the wrong type) breaks the contract whatever the handler
/// does: it is dead-lettered before the handler is called, not retried. Raw keys and
/// headers (`Vec<u8>`, `RawHeaders`) cannot break anything and are not looked at.
fn check_key_and_headers<C: Channel>(record: &Record<'_>) -> Result<(), String> {
    if TypeId::of::<C::Headers>() != TypeId::of::<RawHeaders>() {
        C::Headers::from_kafka_headers(&record.headers.get().headers).map_err(|e| e.to_string())?;
    }
    if TypeId::of::<C::Key>() != TypeId::of::<Vec<u8>>() {
        if let Some(key) = record.key {
            C::Key::decode_key(key).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn dead_reason(e: DecodeError) -> (DeadReason, String) {
    let reason = match e {
        DecodeError::Schema { .. } => DeadReason::SchemaError,
        _ => DeadReason::DecodeError,
    };
    (reason, e.to_string())
}

pub(crate) fn panic_text(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

impl<C: Channel, H: Handler<C>> ErasedRoute for TypedRoute<C, H> {
    fn channel_id(&self) -> &'static str {
        C::ID
    }
    fn channel_topic(&self) -> &'static str {
        C::TOPIC
    }
    fn subscription(&self) -> String {
        self.template.subscription()
    }
    fn matches(&self, topic: &str) -> bool {
        self.template.matches(topic).is_some()
    }
    fn options(&self) -> &ListenerOptions {
        &self.options
    }
    fn group_id(&self) -> Option<&'static str> {
        C::GROUP_ID
    }
    fn client_id(&self) -> Option<&'static str> {
        C::CLIENT_ID
    }

    fn process<'a>(
        &'a self,
        record: &'a Record<'a>,
        settings: &'a HandlingSettings,
        intake_closed: &'a CancellationToken,
        cx: &mut Context<'_>,
    ) -> Step<'a> {
        let parameters = match self.admit(record) {
            Ok(parameters) => parameters,
            Err(outcome) => return Step::Settled(outcome),
        };
        match self.first_attempt(record, &parameters, settings, cx) {
            FirstAttempt::Settled(outcome) => Step::Settled(outcome),
            FirstAttempt::Continues(progress) => Step::Pending(Box::pin(self.attempts(
                record,
                parameters,
                settings,
                intake_closed,
                progress,
            ))),
        }
    }
}
