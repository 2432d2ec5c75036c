//! Typed message streams sharing the consumer loop's commit and dead-letter semantics.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::handler::{HandlerError, MessageContext};
use crate::contract::Channel;

/// How long a stopping consumer waits for an outstanding ack before leaving the
/// record unstored (it is redelivered later).
const ACK_GRACE_ON_SHUTDOWN: Duration = Duration::from_secs(5);

/// Settles one received record: `ack` stores its offset; `nack` counts as a handler
/// error (retried, then dead-lettered). Dropping it unsettled is a `nack`.
#[derive(Debug)]
pub struct Acker {
    tx: oneshot::Sender<Result<(), HandlerError>>,
}

impl Acker {
    /// The record is handled: its offset may be stored.
    pub fn ack(self) {
        let _ = self.tx.send(Ok(()));
    }
    /// The record failed with `reason`: retried, then dead-lettered.
    pub fn nack(self, reason: impl std::fmt::Display) {
        let _ = self.tx.send(Err(HandlerError::new(reason)));
    }
}

/// A record received through a [`Subscription`].
#[non_exhaustive]
pub struct Received<C: Channel> {
    /// The decoded message.
    pub message: C::Message,
    /// Where it came from: parameters, key, headers, topic, partition, offset.
    pub context: MessageContext<C::Parameters>,
    acker: Acker,
}

impl<C: Channel> Received<C> {
    /// Marks the record handled: its offset is stored and later committed.
    pub fn ack(self) {
        self.acker.ack();
    }
    /// Marks the record failed: it is redelivered to the stream per the retry
    /// policy, then dead-lettered.
    pub fn nack(self, reason: impl std::fmt::Display) {
        self.acker.nack(reason);
    }
    /// Splits into the parts, to settle after moving the message elsewhere.
    pub fn into_parts(self) -> (C::Message, MessageContext<C::Parameters>, Acker) {
        (self.message, self.context, self.acker)
    }
}

impl<C: Channel> std::fmt::Debug for Received<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("channel", &C::ID)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// A stream of typed records of channel `C`. Ends when the consumer stops.
pub struct Subscription<C: Channel> {
    rx: mpsc::Receiver<Received<C>>,
}

impl<C: Channel> std::fmt::Debug for Subscription<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("channel", &C::ID)
            .finish()
    }
}

impl<C: Channel> Stream for Subscription<C> {
    type Item = Received<C>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// The route handler behind a subscription: hands each record to the stream and
/// waits for its settlement.
pub(crate) struct Forwarder<C: Channel> {
    tx: mpsc::Sender<Received<C>>,
    shutdown: CancellationToken,
}

pub(crate) fn channel<C: Channel>(
    capacity: usize,
    shutdown: CancellationToken,
) -> (Forwarder<C>, Subscription<C>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (Forwarder { tx, shutdown }, Subscription { rx })
}

impl<C: Channel> super::handler::Handler<C> for Forwarder<C> {
    fn call(
        &self,
        message: C::Message,
        context: MessageContext<C::Parameters>,
    ) -> futures::future::BoxFuture<'static, Result<(), HandlerError>> {
        let tx = self.tx.clone();
        let shutdown = self.shutdown.clone();
        Box::pin(async move {
            let (ack_tx, ack_rx) = oneshot::channel();
            let received = Received {
                message,
                context,
                acker: Acker { tx: ack_tx },
            };
            tokio::select! {
                sent = tx.send(received) => {
                    if sent.is_err() {
                        return Err(HandlerError::abandon("subscription stream was dropped"));
                    }
                }
                _ = shutdown.cancelled() => {
                    return Err(HandlerError::abandon("consumer stopping"));
                }
            }
            let mut ack_rx = ack_rx;
            let settled = tokio::select! {
                settled = &mut ack_rx => settled,
                // Give the stream's user a moment to settle what it already holds.
                _ = shutdown.cancelled() => match tokio::time::timeout(ACK_GRACE_ON_SHUTDOWN, &mut ack_rx).await {
                    Ok(settled) => settled,
                    Err(_) => return Err(HandlerError::abandon("consumer stopping before the record was settled")),
                },
            };
            match settled {
                Ok(result) => result,
                Err(_) => Err(HandlerError::new(
                    "received record dropped without ack or nack",
                )),
            }
        })
    }
}
