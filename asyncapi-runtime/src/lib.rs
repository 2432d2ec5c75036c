//! Runtime for Kafka services generated from AsyncAPI documents.
//!
//! Users depend on this crate only: it re-exports the `asyncapi!` and
//! `#[event_listener]` macros, and everything the generated code needs.

pub mod codec;
pub mod contract;
pub mod error;

pub use asyncapi_macros::{asyncapi, event_listener};
pub use contract::*;
pub use error::{DecodeError, EncodeError};

/// Crates the generated code names; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use chrono;
    pub use serde;
    pub use serde_json;
    pub use uuid;
}
