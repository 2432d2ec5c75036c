//! Runtime for Kafka services generated from AsyncAPI documents.
//!
//! Users depend on this crate only: it re-exports the `asyncapi!` and
//! `#[event_listener]` macros, and everything the generated code needs.
//!
//! ```ignore
//! let kafka = EmbeddedKafka::start(3)?;                 // or KafkaConfig::from_env_or_server(..)
//! let producer = Producer::new(&kafka.config())?;
//! producer.send::<UserSignups>(Outgoing::new(&msg).key(&key)).await?;
//!
//! let mut consumer = Consumer::new(kafka.config())
//!     .side::<Application>()
//!     .listen::<OnUserSignedUp>()                       // S: Receives<Channel> checked here
//!     .route::<UserEvents, _>(
//!         |msg: UserEvent, ctx: MessageContext<UserEventsParameters>| async move { .. },
//!         ListenerOptions::default(),
//!     );
//! let stream = consumer.subscribe::<Orders>();          // Stream<Item = Received<Orders>>
//! consumer.run_until_signal().await?;
//! ```
//!
//! Delivery is at least once: a record's offset is stored only after its handler
//! succeeded or the record reached its dead-letter topic.

pub mod admin;
mod client;
pub mod codec;
pub mod config;
pub mod consumer;
pub mod contract;
pub mod embedded;
pub mod error;
pub mod producer;
mod topic;

pub use admin::{ensure_topics, AdminError};
pub use asyncapi_macros::{asyncapi, event_listener};
pub use config::KafkaConfig;
pub use consumer::{
    Acker, Consumer, DeadLetterFailure, Handler, HandlerError, Health, IntoHandlerResult, Listener,
    ListenerOptions, MessageContext, PartitionState, PartitionStatus, Received, RetryPolicy, State,
    Subscription,
};
pub use contract::*;
pub use embedded::EmbeddedKafka;
pub use error::{
    ConfigError, ConnectionError, ConsumerError, DecodeError, EmbeddedError, EncodeError,
    FailedRecord, KafkaError, SendError, TopicError, UnknownValue,
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
