//! The replying side of request/reply: a handler that returns the reply, which is sent
//! (and acknowledged) before the request's offset is stored, so a request is answered
//! at least once.

use std::fmt;
use std::future::Future;

use futures::future::BoxFuture;

use super::handler::{Handler, HandlerError, ListenerOptions, MessageContext};
use crate::contract::{header_value, Channel, Message, RawHeader};
use crate::producer::{Producer, CONTENT_TYPE_HEADER};
use crate::request::{derived_reply_topic, Request};
use crate::topic::is_topic_name;

/// What answers requests on channel `C`: an `async` function (or closure) taking the
/// request and its context and returning `Result<Reply, E>` where `E: Display`.
pub trait ReplyHandler<C: Request>: Send + Sync + 'static {
    /// Answers one request: the reply, or why there is none.
    fn call(
        &self,
        message: C::Message,
        context: MessageContext<C::Parameters>,
    ) -> BoxFuture<'static, Result<<C::Reply as Channel>::Message, HandlerError>>;
}

impl<C, F, Fut, E> ReplyHandler<C> for F
where
    C: Request,
    F: Fn(C::Message, MessageContext<C::Parameters>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<<C::Reply as Channel>::Message, E>> + Send + 'static,
    E: fmt::Display + 'static,
{
    fn call(
        &self,
        message: C::Message,
        context: MessageContext<C::Parameters>,
    ) -> BoxFuture<'static, Result<<C::Reply as Channel>::Message, HandlerError>> {
        let reply = self(message, context);
        Box::pin(async move { reply.await.map_err(HandlerError::from_display) })
    }
}

/// A `#[event_listener]` whose function returns the reply (`Result<Reply, E>`),
/// registered with `Consumer::answer`.
pub trait ReplyListener: Send + Sync + 'static {
    /// The channel whose requests it answers.
    type Channel: Request;

    /// The listener's group, attempts, dead-letter topic, concurrency and time limit.
    fn options() -> ListenerOptions {
        ListenerOptions::default()
    }

    /// Answers one request: the listener's function.
    #[allow(clippy::type_complexity)]
    fn handle(
        message: <Self::Channel as Channel>::Message,
        context: MessageContext<<Self::Channel as Channel>::Parameters>,
    ) -> impl Future<
        Output = Result<<<Self::Channel as Request>::Reply as Channel>::Message, HandlerError>,
    > + Send;
}

/// A [`ReplyListener`] type as a [`ReplyHandler`].
pub(crate) struct ListenerReplies<L>(std::marker::PhantomData<fn() -> L>);

impl<L> ListenerReplies<L> {
    pub(crate) fn new() -> Self {
        ListenerReplies(std::marker::PhantomData)
    }
}

impl<L: ReplyListener> ReplyHandler<L::Channel> for ListenerReplies<L> {
    fn call(
        &self,
        message: <L::Channel as Channel>::Message,
        context: MessageContext<<L::Channel as Channel>::Parameters>,
    ) -> BoxFuture<
        'static,
        Result<<<L::Channel as Request>::Reply as Channel>::Message, HandlerError>,
    > {
        Box::pin(L::handle(message, context))
    }
}

/// A [`ReplyHandler`] as the consumer loop runs it: the reply is sent before the
/// handler counts as done.
pub(crate) struct Replying<H> {
    handler: H,
    producer: Producer,
}

impl<H> Replying<H> {
    pub(crate) fn new(handler: H, producer: Producer) -> Self {
        Replying { handler, producer }
    }
}

impl<C: Request, H: ReplyHandler<C>> Handler<C> for Replying<H> {
    fn call(
        &self,
        message: C::Message,
        context: MessageContext<C::Parameters>,
    ) -> BoxFuture<'static, Result<(), HandlerError>> {
        // Where the reply goes and what it carries are read before the handler runs: a
        // request that cannot be answered is a permanent error whatever the handler says.
        let addressed = reply_address::<C>(&context.headers, &context.parameters);
        let reply = self.handler.call(message, context);
        let producer = self.producer.clone();
        Box::pin(async move {
            let (topic, correlation) = addressed?;
            let reply = reply.await?;
            let payload = reply.encode().map_err(|e| {
                HandlerError::permanent(format!("the reply could not be encoded: {e}"))
            })?;
            let headers: Vec<RawHeader> = vec![
                (C::CORRELATION_HEADER.to_owned(), correlation),
                (
                    CONTENT_TYPE_HEADER.to_owned(),
                    reply.content_type().as_bytes().to_vec(),
                ),
            ];
            producer
                .send_bytes(&topic, None, &headers, &payload)
                .await
                .map(|_| ())
                .map_err(|e| {
                    HandlerError::new(format!("the reply could not be sent to `{topic}`: {e}"))
                })
        })
    }
}

/// The reply topic (the request's reply-to header, else the reply channel's topic with
/// the request's parameters) and the correlation id to copy, or why the request cannot
/// be answered.
fn reply_address<C: Request>(
    headers: &[RawHeader],
    parameters: &C::Parameters,
) -> Result<(String, Vec<u8>), HandlerError> {
    // A header written twice counts as its last value, as everywhere in the runtime.
    let header = |name: &str| header_value(headers, name);
    let correlation = header(C::CORRELATION_HEADER)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            HandlerError::permanent(format!(
                "the request carries no `{}` header: a reply could not be matched to it",
                C::CORRELATION_HEADER
            ))
        })?;
    let requested = C::REPLY_TO_HEADER.and_then(header);
    let topic = match requested {
        Some(value) => String::from_utf8(value.to_vec())
            .ok()
            .filter(|t| is_topic_name(t))
            .ok_or_else(|| {
                HandlerError::permanent(format!(
                    "the request's `{}` header is not a Kafka topic name",
                    C::REPLY_TO_HEADER.unwrap_or_default()
                ))
            })?,
        // A reply channel without address has no topic of its own to fall back on.
        None if C::REPLY_TOPIC_NAMED_BY_REQUESTER => {
            return Err(HandlerError::permanent(format!(
                "the request has no `{}` header, and reply channel `{}` has no address: the requester names the reply topic",
                C::REPLY_TO_HEADER.unwrap_or_default(),
                <C::Reply as Channel>::ID
            )))
        }
        None => derived_reply_topic::<C>(Some(parameters))
            .map_err(|e| {
                let missing = match C::REPLY_TO_HEADER {
                    Some(name) => format!("the request has no `{name}` header"),
                    None => "the reply topic is named from the request's parameters".to_owned(),
                };
                HandlerError::permanent(format!("{missing}, and {e}"))
            })?
            .into_owned(),
    };
    Ok((topic, correlation))
}
