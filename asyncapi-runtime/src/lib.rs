//! Runtime for Kafka services generated from AsyncAPI documents.
//!
//! Users depend on this crate only: it re-exports the `asyncapi!` and
//! `#[event_listener]` macros, and everything the generated code needs.

pub mod codec;
pub mod config;
pub mod consumer;
pub mod contract;
pub mod embedded;
pub mod error;
pub mod producer;
mod topic;

pub use asyncapi_macros::{asyncapi, event_listener};
pub use config::KafkaConfig;
pub use consumer::{
    Acker, Consumer, Handler, HandlerError, IntoHandlerResult, Listener, ListenerOptions,
    MessageContext, Received, RetryPolicy, Subscription,
};
pub use contract::*;
pub use embedded::EmbeddedKafka;
pub use error::{
    ConfigError, ConsumerError, DecodeError, EmbeddedError, EncodeError, FailedRecord, KafkaError,
    SendError, TopicError,
};
pub use producer::{Delivery, DeliveryFuture, Outgoing, Producer};
pub use tokio_util::sync::CancellationToken;

/// Crates the generated code names; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use chrono;
    pub use futures;
    pub use serde;
    pub use serde_json;
    pub use tokio_util;
    pub use uuid;
}
