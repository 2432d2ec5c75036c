//! The small grammars of an AsyncAPI document that the code generator
//! (`asyncapi-codegen`, at compile time) and the runtime (`asyncapi-runtime`, on every
//! record) must read alike: the `{name}` placeholders of a channel address or topic
//! template, content types, and Kafka topic names (which are valid, and the default
//! dead-letter topic of each). One parser each, so what the generator accepts is what
//! the runtime parses.
//!
//! ```
//! use asyncapi_syntax::{address, ContentType};
//!
//! assert_eq!(address::placeholders("user.{userId}.{event}"), ["userId", "event"]);
//! assert_eq!(
//!     ContentType::parse("Application/JSON; charset=utf-8"),
//!     Some(ContentType::Json)
//! );
//! assert_eq!(asyncapi_syntax::media_type("Text/Plain ; charset=utf-8"), "text/plain");
//! ```

#![warn(missing_docs)]

pub mod address;
mod content_type;
pub mod topic;

pub use content_type::{media_type, ContentType};
