//! What a listener can take after the message: each parameter is built from the record
//! by [`FromRecord`], for the listener's channel, so the compiler checks a typed key or
//! header set against the one the document declares for that channel.

use crate::contract::{Channel, HeaderSet, RecordKey};

use super::handler::{HandlerError, MessageContext, Shared, StateRequirement};

/// The record's key, decoded as the channel's key type (the Kafka binding's `key`).
///
/// A listener taking `Key<K>` is given only records that have a key: a record without
/// one is dead-lettered at once (retrying cannot give it a key). Take `Option<Key<K>>`
/// to handle those too. `K` must be the channel's key type, or the listener does not
/// compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key<K>(pub K);

impl<K> std::ops::Deref for Key<K> {
    type Target = K;
    fn deref(&self) -> &K {
        &self.0
    }
}

/// The record's headers, decoded as the channel's header type (the messages' `headers`
/// schema). `H` must be the channel's header type, or the listener does not compile.
///
/// A record whose headers break the declared ones (a required header missing, a value of
/// the wrong type) never reaches a listener: it is dead-lettered first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers<H>(pub H);

impl<H> std::ops::Deref for Headers<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.0
    }
}

/// The parts of a record besides its payload that a handler reads: the consumer reads
/// only those (librdkafka parses a record's headers on first access, an allocation per
/// header; a key is copied out of its buffer), and a handler's context carries only
/// those (an empty header list, no key, for the others).
///
/// `#[event_listener]` works it out from the function's parameters
/// ([`FromRecord::reads`]); a [`Handler`](super::Handler) of one's own says it with
/// [`Handler::reads`](super::Handler::reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordParts {
    headers: bool,
    key: bool,
}

impl RecordParts {
    /// Neither headers nor key.
    pub const NONE: RecordParts = RecordParts {
        headers: false,
        key: false,
    };
    /// The headers.
    pub const HEADERS: RecordParts = RecordParts {
        headers: true,
        key: false,
    };
    /// The key.
    pub const KEY: RecordParts = RecordParts {
        headers: false,
        key: true,
    };
    /// Headers and key.
    pub const ALL: RecordParts = RecordParts {
        headers: true,
        key: true,
    };

    /// The parts either reads.
    pub const fn and(self, other: RecordParts) -> RecordParts {
        RecordParts {
            headers: self.headers || other.headers,
            key: self.key || other.key,
        }
    }

    /// Whether the headers are among them.
    pub const fn headers(self) -> bool {
        self.headers
    }

    /// Whether the key is among them.
    pub const fn key(self) -> bool {
        self.key
    }
}

/// A parameter an `#[event_listener]` function can take after the message, built from
/// the record of channel `C` before the function is called.
///
/// Implemented for [`MessageContext`] (with the channel's parameters type), [`Shared<T>`]
/// (the consumer's state, checked when the consumer starts), [`Key<K>`] and
/// `Option<Key<K>>` with the channel's key type, and [`Headers<H>`] with the channel's
/// header type. Implement it for a type of your own to have listeners take that.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a parameter a listener of channel `{C}` can take",
    label = "not built from a record of this channel",
    note = "after the message, a listener takes any of: `MessageContext` (with the channel's parameters type, if it has parameters), `Shared<T>` (the consumer's state), `Key<K>` or `Option<Key<K>>` and `Headers<H>`, where `K` and `H` are the channel's key and header types"
)]
pub trait FromRecord<C: Channel>: Sized + Send {
    /// The state type this parameter reads, if any: the consumer refuses to start
    /// without it (`ConsumerError::MissingState`).
    fn state_requirement() -> Option<StateRequirement> {
        None
    }

    /// The parts of the record building the parameter reads from the context (all of
    /// them unless said otherwise): a listener is given a context with only the parts
    /// its parameters read (see [`RecordParts`]).
    fn reads() -> RecordParts {
        RecordParts::ALL
    }

    /// The parameter for this record. An error is the handler's: it is dead-lettered
    /// or retried as such (make it [`HandlerError::permanent`] when retrying cannot help).
    fn from_record(context: &MessageContext<C::Parameters>) -> Result<Self, HandlerError>;
}

impl<C: Channel> FromRecord<C> for MessageContext<C::Parameters> {
    fn from_record(context: &MessageContext<C::Parameters>) -> Result<Self, HandlerError> {
        Ok(context.clone())
    }
}

impl<C: Channel, T: Send + Sync + 'static> FromRecord<C> for Shared<T> {
    fn state_requirement() -> Option<StateRequirement> {
        Some(StateRequirement::of::<T>())
    }

    fn reads() -> RecordParts {
        RecordParts::NONE
    }

    fn from_record(context: &MessageContext<C::Parameters>) -> Result<Self, HandlerError> {
        // The consumer checked the state when it started; finding none here would be a
        // bug, reported as a permanent error rather than a panic.
        context
            .state
            .get_shared::<T>()
            .map(Shared)
            .ok_or_else(|| HandlerError::permanent("the consumer's state is missing"))
    }
}

impl<C: Channel> FromRecord<C> for Option<Key<C::Key>> {
    fn reads() -> RecordParts {
        RecordParts::KEY
    }

    fn from_record(context: &MessageContext<C::Parameters>) -> Result<Self, HandlerError> {
        match context.key.as_deref() {
            None => Ok(None),
            Some(bytes) => C::Key::decode_key(bytes)
                .map(|key| Some(Key(key)))
                .map_err(HandlerError::permanent),
        }
    }
}

impl<C: Channel> FromRecord<C> for Key<C::Key> {
    fn reads() -> RecordParts {
        RecordParts::KEY
    }

    fn from_record(context: &MessageContext<C::Parameters>) -> Result<Self, HandlerError> {
        <Option<Key<C::Key>> as FromRecord<C>>::from_record(context)?.ok_or_else(|| {
            HandlerError::permanent(
                "the record has no key, and the listener takes `Key<_>`: take `Option<Key<_>>` to handle records without one",
            )
        })
    }
}

impl<C: Channel> FromRecord<C> for Headers<C::Headers> {
    fn reads() -> RecordParts {
        RecordParts::HEADERS
    }

    fn from_record(context: &MessageContext<C::Parameters>) -> Result<Self, HandlerError> {
        C::Headers::from_kafka_headers(&context.headers)
            .map(Headers)
            .map_err(HandlerError::permanent)
    }
}
