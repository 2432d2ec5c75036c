//! Runtime for Kafka services generated from AsyncAPI documents.
//!
//! Users depend on this crate only: it re-exports the `asyncapi!` and
//! `#[event_listener]` macros, and everything the generated code needs.
//!
//! `asyncapi!` turns a document into message types, one type per channel and the two
//! sides of the document: `Application` (the service it describes) and `Client` (its
//! mirror image). A handler is an `async fn` the compiler checks against the document:
//!
//! ```no_run
//! mod account {
//!     // doc/account.yaml: the service receives `userSignup`, sends `accountCreated`.
//!     asyncapi_runtime::asyncapi!("doc/account.yaml"); // relative to Cargo.toml
//! }
//! use std::sync::Arc;
//!
//! use account::{AccountCreated, UserSignup};
//! use asyncapi_runtime::{event_listener, MessageContext, SendError, Shared};
//!
//! /// Opens an account for every signup and announces it.
//! #[event_listener(api = account, channel = "userSignup", group = "account-service")]
//! async fn on_signup(
//!     signup: UserSignup,
//!     ctx: MessageContext,
//!     service: Shared<account::Application>,
//! ) -> Result<(), SendError> {
//!     let created = AccountCreated {
//!         account_id: format!("acc-{}-{}", ctx.partition, ctx.offset),
//!         email: Some(signup.email),
//!     };
//!     service.send_account_created(&created).await?;
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // KAFKA_BOOTSTRAP_SERVERS, or the document's server.
//!     let service = Arc::new(account::Application::from_env()?);
//!     service
//!         .consumer()
//!         .with_shared_state(service.clone())
//!         .listen::<on_signup>() // a listener of the other side would not compile
//!         .run_until_signal() // SIGINT/SIGTERM: finish what is in flight, commit
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! Delivery is at least once: a record's offset is stored only after its handler
//! succeeded or the record reached its dead-letter topic. A record that cannot be
//! decoded, breaks the channel's schema or fails every attempt goes to the dead-letter
//! topic (`<topic>.dlq`) with headers that say why ([`headers`]).
//!
//! Cargo features: `embedded` (default: [`EmbeddedKafka`], librdkafka's in-process mock
//! cluster, and [`LocalKafka`]), `testing` (the in-memory broker of `testing`),
//! `metrics` (`telemetry`), `otel` (W3C trace context), `ssl`, `zstd`, `gssapi`.

#![warn(missing_docs)]

mod admin;
mod client;
mod codec;
mod config;
mod consumer;
mod contract;
mod dead_letters;
#[cfg(feature = "embedded")]
mod embedded;
mod error;
mod producer;
mod request;
mod schema;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
mod topic;
mod trace_context;

// Each public item has one path: types, traits, the environment variable names and the
// request time-out at the root; header names in `headers`, metric names in `telemetry`.
// The modules that define them are private.
pub use admin::{ensure_topics, AdminError, TopicSpec};
pub use asyncapi_macros::{asyncapi, event_listener};
pub use config::{
    KafkaConfig, ENV_BOOTSTRAP_SERVERS, ENV_SASL_PASSWORD, ENV_SASL_USERNAME, ENV_SSL_CA_LOCATION,
};
pub use consumer::{
    Acker, Consumer, DeadLetterFailure, FromRecord, Handler, HandlerError, Headers, Health,
    IntoHandlerResult, Key, Listener, ListenerOptions, MessageContext, PartitionState,
    PartitionStatus, PartitionTasks, Received, RecordParts, ReplyHandler, ReplyListener,
    RetryPolicy, Shared, State, StateRequirement, Subscription,
};
pub use contract::{
    Channel, ChannelParameters, HeaderSet, Message, NoParameters, RawHeader, RawHeaders, Receives,
    RecordKey, SecurityScheme, Sends, Server, ServerVariable,
};
pub use dead_letters::{DeadLetter, DeadLetterError, DeadLetterReader, SourceRecord};
#[cfg(feature = "embedded")]
pub use embedded::{EmbeddedKafka, LocalKafka, LocalKafkaError};
#[cfg(feature = "embedded")]
pub use error::EmbeddedError;
pub use error::{
    ConfigError, ConnectionError, ConsumerError, DecodeError, EncodeError, FailedRecord,
    KafkaError, SendError, TopicError, UnknownValue,
};
pub use producer::{Delivery, DeliveryFuture, Outgoing, Producer};
/// The error codes inside a [`KafkaError`], to match on them (librdkafka's, through
/// the `rdkafka` version this runtime uses).
pub use rdkafka::error::RDKafkaErrorCode;
pub use request::{
    Replies, ReplyTopicError, Request, RequestError, Requester, Requests, DEFAULT_REQUEST_TIMEOUT,
};
pub use tokio_util::sync::CancellationToken;

/// The names of the record headers the runtime writes and reads.
pub mod headers {
    pub use crate::consumer::{
        DLQ_ATTEMPTS_HEADER, DLQ_ENVELOPE_OMITTED_HEADER, DLQ_ERROR_HEADER, DLQ_OFFSET_HEADER,
        DLQ_PARTITION_HEADER, DLQ_PAYLOAD_OMITTED_HEADER, DLQ_REASON_HEADER, DLQ_TOPIC_HEADER,
        DLQ_UNREADABLE_HEADER,
    };
    pub use crate::dead_letters::REPLAYED_FROM_HEADER;
    pub use crate::producer::CONTENT_TYPE_HEADER;
}

/// The types generated code puts in fields, so a service can name them without
/// depending on the crates that define them.
pub mod types {
    /// A field of `format: date-time`.
    pub type DateTime = chrono::DateTime<chrono::Utc>;
    pub use chrono::{NaiveDate, Utc};
    /// A field the schema does not constrain, or a channel's message when it declares none.
    pub use serde_json::Value as JsonValue;
    /// A field of `format: uuid`.
    pub use uuid::Uuid;
}

/// Everything code generated by `asyncapi!` and `#[event_listener]` names, and the only
/// way it reaches this crate (so the public paths above can change without breaking
/// generated code). Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::admin::{ensure_topics, AdminError, TopicSpec};
    /// Encoding and decoding helpers the generated message, key and header types call.
    pub mod codec {
        pub use crate::codec::*;
    }
    pub use crate::config::KafkaConfig;
    pub use crate::consumer::{
        Consumer, FromRecord, HandlerError, IntoHandlerResult, Listener, ListenerOptions,
        MessageContext, RecordParts, ReplyListener,
    };

    /// The options of a listener declared with `#[event_listener(..)]`.
    pub fn listener_options(
        group_id: Option<&str>,
        max_attempts: Option<u32>,
        dead_letter_topic: Option<&str>,
        concurrency: Option<usize>,
        timeout_ms: Option<u64>,
        // One entry per parameter after the message.
        parameter_state: &[Option<crate::StateRequirement>],
    ) -> ListenerOptions {
        let mut needed = parameter_state.iter().flatten().copied();
        let state = needed.next();
        let mut options = ListenerOptions {
            group_id: group_id.map(str::to_owned),
            max_attempts,
            dead_letter_topic: dead_letter_topic.map(str::to_owned),
            concurrency,
            timeout: timeout_ms.map(std::time::Duration::from_millis),
            state,
            ..ListenerOptions::default()
        };
        options.other_state = needed.filter(|other| Some(*other) != state).collect();
        options
    }

    /// A replying listener's result, its error kept as the runtime keeps handler errors.
    pub fn reply_result<T, E: std::fmt::Display + 'static>(
        result: Result<T, E>,
    ) -> Result<T, HandlerError> {
        result.map_err(HandlerError::from_display)
    }
    pub use crate::contract::{
        Channel, ChannelParameters, HeaderSet, Message, NoParameters, RawHeader, RawHeaders,
        Receives, RecordKey, SecurityScheme, Sends, Server, ServerVariable,
    };
    pub use crate::error::{ConfigError, DecodeError, EncodeError, SendError, UnknownValue};
    pub use crate::producer::{Delivery, DeliveryFuture, Outgoing, Producer};
    pub use crate::request::{
        Replies, ReplyTopicError, Request, RequestError, Requester, Requests,
        DEFAULT_REQUEST_TIMEOUT,
    };
    pub use crate::topic::TopicError;
    pub use asyncapi_macros::event_listener;
    pub use chrono;
    pub use futures;
    pub use serde;
    pub use serde_json;
    pub use tokio_util;
    pub use uuid;

    /// The producer configuration of a generated side: `config`, with the document's
    /// `clientId` binding where the caller set no `client.id` of its own.
    pub fn producer_config(config: &KafkaConfig, client_id: Option<&'static str>) -> KafkaConfig {
        match client_id {
            Some(id) if config.get("client.id").is_none() => config.clone().client_id(id),
            _ => config.clone(),
        }
    }

    /// The version of the contract between generated code and this runtime (the
    /// `CONTRACT_VERSION` of the `asyncapi-codegen` release that goes with it).
    pub const CONTRACT: u32 = 3;

    /// Called by generated code in a constant, so that code generated for another
    /// contract version fails to compile with this message instead of with errors
    /// about missing items.
    pub const fn check_contract(generated_for: u32) {
        if generated_for != CONTRACT {
            panic!(
                "this code was generated for another version of asyncapi-runtime: \
                 use asyncapi-codegen (or asyncapi-macros) and asyncapi-runtime of the same release"
            );
        }
    }
}
