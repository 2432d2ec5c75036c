//! What user code plugs into the consumer loop: handlers, listeners, their context.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use super::extract::RecordParts;
use crate::contract::{Channel, HeaderSet, NoParameters, RawHeader, RecordKey};
use crate::error::DecodeError;

/// Application state shared with every handler of a consumer (`Consumer::with_state`).
#[derive(Clone, Default)]
pub struct State(Option<Arc<dyn Any + Send + Sync>>);

impl State {
    /// A state holding `value`.
    pub fn new<T: Send + Sync + 'static>(value: T) -> Self {
        State(Some(Arc::new(value)))
    }

    /// A state the caller keeps a handle to.
    pub fn shared<T: Send + Sync + 'static>(value: Arc<T>) -> Self {
        State(Some(value))
    }

    /// The state, if it is a `T`.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.0.as_deref()?.downcast_ref::<T>()
    }

    /// The state shared, if it is a `T`.
    pub fn get_shared<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.0.clone()?.downcast::<T>().ok()
    }

    /// Whether the state is a value of the type `requirement` names.
    pub(crate) fn satisfies(&self, requirement: &StateRequirement) -> bool {
        self.0
            .as_deref()
            .is_some_and(|value| value.type_id() == requirement.type_id)
    }
}

/// The type of state a handler needs, checked against `Consumer::with_state` when the
/// consumer starts, before any record is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateRequirement {
    type_id: std::any::TypeId,
    type_name: &'static str,
}

impl StateRequirement {
    /// The requirement of a state of type `T`.
    pub fn of<T: Send + Sync + 'static>() -> Self {
        StateRequirement {
            type_id: std::any::TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
        }
    }

    /// The type's name, for error messages.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

/// A listener's share of the consumer's state: `async fn on(m: M, state:
/// Shared<AppState>)` needs `Consumer::with_state(AppState { .. })`, which is checked
/// when the consumer starts (`ConsumerError::MissingState`), not per record.
#[derive(Debug)]
pub struct Shared<T>(pub Arc<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "State(..)"
        } else {
            "State(None)"
        })
    }
}

/// Everything about a received record except its decoded payload.
///
/// Cheap to clone: the topic, key and headers are shared with the runtime's copy of the
/// record (kept for retries and dead-lettering). `Default` builds an empty context for
/// calling handlers directly in unit tests.
#[derive(Debug, Clone, Default)]
pub struct MessageContext<P = NoParameters> {
    /// The topic the record was read from.
    pub topic: Arc<str>,
    /// The partition the record was read from.
    pub partition: i32,
    /// The record's offset in its partition.
    pub offset: i64,
    /// The record's timestamp, if it has one.
    pub timestamp: Option<DateTime<Utc>>,
    /// The record's raw key, if it has one and the handler reads keys
    /// ([`Handler::reads`]; listeners taking the context do).
    pub key: Option<Arc<[u8]>>,
    /// The record's headers as they came off the wire; empty when the handler reads no
    /// headers ([`Handler::reads`]; listeners taking the context do).
    pub headers: Arc<[RawHeader]>,
    /// The channel parameters, parsed from the topic name.
    pub parameters: P,
    /// 1 on the first delivery to the handler, then 2, 3, ... on retries.
    pub attempt: u32,
    /// What `Consumer::with_state` was given; read it with [`state`](Self::state).
    pub state: State,
}

impl<P> MessageContext<P> {
    /// The consumer's shared state (`Consumer::with_state`), if it is a `T`.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.state.get::<T>()
    }

    /// The record key decoded as `K` (`None` when the record has no key).
    pub fn key_as<K: RecordKey>(&self) -> Result<Option<K>, DecodeError> {
        self.key.as_deref().map(K::decode_key).transpose()
    }

    /// The record headers decoded as a typed header set.
    pub fn headers_as<H: HeaderSet>(&self) -> Result<H, DecodeError> {
        H::from_kafka_headers(&self.headers)
    }

    /// The value of the last header named `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        crate::contract::header_value(&self.headers, name)
    }
}

/// A handler's failure: its text goes to the logs and to the `x-dlq-error` header.
///
/// Retried per the consumer's [`RetryPolicy`](super::RetryPolicy) unless made
/// [`permanent`](Self::permanent).
pub struct HandlerError {
    inner: Box<dyn std::error::Error + Send + Sync>,
    /// Retrying cannot help: the record goes to the dead-letter topic at once.
    pub(crate) permanent: bool,
    /// Set by the runtime when a handler gave up because the consumer is stopping:
    /// the record is neither retried nor dead-lettered, and its offset is not stored.
    pub(crate) abandon: bool,
}

impl HandlerError {
    /// An error with this text.
    pub fn new(message: impl fmt::Display) -> Self {
        HandlerError {
            inner: message.to_string().into(),
            permanent: false,
            abandon: false,
        }
    }

    /// Wraps an error value (kept as the `source`).
    pub fn from_error(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        HandlerError {
            inner: Box::new(error),
            permanent: false,
            abandon: false,
        }
    }

    /// An error no retry can cure (a record the handler rejects for what it says):
    /// the record is dead-lettered at once instead of blocking its partition through
    /// the retry backoff.
    pub fn permanent(message: impl fmt::Display) -> Self {
        HandlerError {
            permanent: true,
            ..HandlerError::new(message)
        }
    }

    /// Whether the record skips the remaining retries.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    pub(crate) fn abandon(message: impl fmt::Display) -> Self {
        HandlerError {
            abandon: true,
            ..HandlerError::new(message)
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("message", &self.inner.to_string())
            .field("permanent", &self.permanent)
            .finish()
    }
}

impl std::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.inner)
    }
}

impl From<String> for HandlerError {
    fn from(message: String) -> Self {
        HandlerError::new(message)
    }
}

impl From<&str> for HandlerError {
    fn from(message: &str) -> Self {
        HandlerError::new(message)
    }
}

impl From<Box<dyn std::error::Error + Send + Sync>> for HandlerError {
    fn from(inner: Box<dyn std::error::Error + Send + Sync>) -> Self {
        HandlerError {
            inner,
            permanent: false,
            abandon: false,
        }
    }
}

/// What a handler may return: `()` or `Result<(), E>` for any displayable `E`.
pub trait IntoHandlerResult {
    /// The handler's outcome as the runtime settles it.
    fn into_handler_result(self) -> Result<(), HandlerError>;
}

impl IntoHandlerResult for () {
    fn into_handler_result(self) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl<E: fmt::Display + 'static> IntoHandlerResult for Result<(), E> {
    fn into_handler_result(self) -> Result<(), HandlerError> {
        self.map_err(HandlerError::from_display)
    }
}

impl HandlerError {
    /// A handler's error as the runtime keeps it: a `HandlerError` is passed on as it
    /// is (it may be permanent); anything else by its text.
    pub(crate) fn from_display<E: fmt::Display + 'static>(e: E) -> HandlerError {
        let mut error = Some(e);
        let as_any: &mut dyn Any = &mut error;
        if let Some(handler_error) = as_any
            .downcast_mut::<Option<HandlerError>>()
            .and_then(Option::take)
        {
            return handler_error;
        }
        match error {
            // `{:#}` keeps the cause chain of errors that print it in alternate form (anyhow).
            Some(e) => HandlerError::new(format!("{e:#}")),
            None => HandlerError::new("handler failed"),
        }
    }
}

/// Handles the messages of channel `C`. Implemented for every
/// `Fn(C::Message, MessageContext<C::Parameters>) -> impl Future<Output = () | Result<(), E>>`.
pub trait Handler<C: Channel>: Send + Sync + 'static {
    /// Handles one decoded message with its record context.
    fn call(
        &self,
        message: C::Message,
        context: MessageContext<C::Parameters>,
    ) -> BoxFuture<'static, Result<(), HandlerError>>;

    /// The parts of the record the handler reads from its context
    /// (`MessageContext::headers`, `MessageContext::key`); the context carries only
    /// those (see [`RecordParts`]). All of them unless said otherwise; listeners
    /// declared with `#[event_listener]` say so from their parameters.
    fn reads(&self) -> RecordParts {
        RecordParts::ALL
    }
}

impl<C, F, Fut> Handler<C> for F
where
    C: Channel,
    F: Fn(C::Message, MessageContext<C::Parameters>) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoHandlerResult,
{
    fn call(
        &self,
        message: C::Message,
        context: MessageContext<C::Parameters>,
    ) -> BoxFuture<'static, Result<(), HandlerError>> {
        let fut = self(message, context);
        Box::pin(async move { fut.await.into_handler_result() })
    }
}

/// Per-listener settings (from `#[event_listener(..)]` or given to `Consumer::route`):
/// `ListenerOptions::default().max_attempts(5).timeout(Duration::from_secs(2))`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerOptions {
    /// The consumer group; overrides the channel's `groupId` binding.
    pub group_id: Option<String>,
    /// Overrides the consumer's `RetryPolicy::max_attempts` for this listener.
    pub max_attempts: Option<u32>,
    /// Overrides the dead-letter topic (default `<topic>.dlq`).
    pub dead_letter_topic: Option<String>,
    /// At most this many handler calls of this listener run at once (across partitions).
    pub concurrency: Option<usize>,
    /// How long one handler call may take before it counts as a failed attempt
    /// (overrides `Consumer::handler_timeout`).
    pub timeout: Option<std::time::Duration>,
    /// The state type the handler reads (a `Shared<T>` listener parameter): the
    /// consumer refuses to start without it.
    pub state: Option<StateRequirement>,
    /// Other state types the parameters read (a parameter type of the user's own that
    /// reads state): a consumer holds one state value, so it cannot start with these.
    pub(crate) other_state: Vec<StateRequirement>,
}

impl ListenerOptions {
    /// Sets the consumer group of this listener.
    pub fn group_id(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }
    /// The handler reads a `T` from the consumer's state: checked when it starts.
    pub fn requires_state<T: Send + Sync + 'static>(mut self) -> Self {
        self.state = Some(StateRequirement::of::<T>());
        self
    }
    /// Sets how many handler attempts a record gets before it is dead-lettered.
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = Some(max_attempts);
        self
    }
    /// Sets the topic this listener's failed records are dead-lettered to.
    pub fn dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self
    }
    /// Sets how many handler calls of this listener may run at once.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = Some(concurrency);
        self
    }
    /// Sets how long one handler call may take before it counts as failed.
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A handler declared with `#[event_listener]`: a type naming its channel, options
/// and handling function. Registered with `Consumer::listen::<L>()`.
pub trait Listener: Send + Sync + 'static {
    /// The channel whose messages this listener handles.
    type Channel: Channel;

    /// The listener's settings (the defaults unless `#[event_listener(..)]` sets some).
    fn options() -> ListenerOptions {
        ListenerOptions::default()
    }

    /// Handles one message of the channel with its record context.
    fn handle(
        message: <Self::Channel as Channel>::Message,
        context: MessageContext<<Self::Channel as Channel>::Parameters>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// The parts of the record [`handle`](Self::handle) reads from its context (see
    /// [`Handler::reads`]): `#[event_listener]` names those its function's parameters
    /// are built from.
    fn reads() -> RecordParts {
        RecordParts::ALL
    }
}

/// Adapts a [`Listener`] type to [`Handler`].
pub(crate) struct ListenerHandler<L>(std::marker::PhantomData<fn() -> L>);

impl<L> ListenerHandler<L> {
    pub(crate) fn new() -> Self {
        ListenerHandler(std::marker::PhantomData)
    }
}

impl<L: Listener> Handler<L::Channel> for ListenerHandler<L> {
    fn call(
        &self,
        message: <L::Channel as Channel>::Message,
        context: MessageContext<<L::Channel as Channel>::Parameters>,
    ) -> BoxFuture<'static, Result<(), HandlerError>> {
        Box::pin(L::handle(message, context))
    }

    fn reads(&self) -> RecordParts {
        L::reads()
    }
}
