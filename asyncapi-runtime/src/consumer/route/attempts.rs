//! One record's handler attempts. The first is made without waiting and without a
//! future of the record's own: the message is decoded, the handler called and polled
//! once, and most handlers finish there. A handler that waits, an attempt that fails,
//! and a listener with a concurrency limit continue in [`TypedRoute::attempts`], which
//! waits out time limits and the backoff between attempts.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt as _;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::{panic_text, DeadReason, HandlingSettings, Outcome, Record, TypedRoute};
use crate::consumer::handler::{Handler, HandlerError, MessageContext};
use crate::contract::Channel;
use crate::telemetry::{self, HandlerTimer};

type HandlerFuture = BoxFuture<'static, Result<(), HandlerError>>;

/// How one attempt ended.
type Attempted = Result<(), (DeadReason, HandlerError)>;

/// An attempt after its handler's first poll.
enum FirstPoll {
    Ended(Attempted),
    /// The handler waits: the attempt goes on, timed, in [`TypedRoute::attempts`].
    Running(HandlerFuture, HandlerTimer),
}

/// How far a record's handling got without waiting.
pub(super) enum Progress {
    /// Attempt `n` is to be made.
    ToAttempt(u32),
    /// Attempt `n`'s handler waits (holding its concurrency permit, if any).
    Running(
        u32,
        HandlerFuture,
        HandlerTimer,
        Option<OwnedSemaphorePermit>,
    ),
    /// Attempt `n` ended so.
    Ended(u32, Attempted),
}

/// What the first attempt, made at once, came to.
pub(super) enum FirstAttempt {
    /// The record's outcome: handled, or dead (it does not decode).
    Settled(Outcome),
    /// Its handling goes on from here in [`TypedRoute::attempts`].
    Continues(Progress),
}

/// What follows an attempt.
enum Next {
    Settle(Outcome),
    RetryAfter(Duration),
}

impl<C: Channel, H: Handler<C>> TypedRoute<C, H> {
    /// The first attempt, made at once, unless the listener's concurrency limit may
    /// make it wait.
    pub(super) fn first_attempt(
        &self,
        record: &Record<'_>,
        parameters: &C::Parameters,
        settings: &HandlingSettings,
        cx: &mut Context<'_>,
    ) -> FirstAttempt {
        if self.limit.is_some() {
            return FirstAttempt::Continues(Progress::ToAttempt(1));
        }
        match self.start_attempt(record, parameters, settings, 1, cx) {
            Ok(FirstPoll::Ended(Ok(()))) => FirstAttempt::Settled(Outcome::Done),
            Ok(FirstPoll::Ended(failed)) => FirstAttempt::Continues(Progress::Ended(1, failed)),
            Ok(FirstPoll::Running(handler, timer)) => {
                FirstAttempt::Continues(Progress::Running(1, handler, timer, None))
            }
            Err(dead) => FirstAttempt::Settled(dead),
        }
    }

    /// Takes the record's handling on from `progress` until it succeeds, fails
    /// permanently or runs out of attempts (then dead-lettered), waiting out the
    /// backoff between attempts; abandoned when the consumer stops meanwhile.
    pub(super) async fn attempts(
        &self,
        record: &Record<'_>,
        parameters: C::Parameters,
        settings: &HandlingSettings,
        intake_closed: &CancellationToken,
        mut progress: Progress,
    ) -> Outcome {
        loop {
            progress = match progress {
                Progress::ToAttempt(attempt) => {
                    let permit = match &self.limit {
                        Some(limit) => limit.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let started = std::future::poll_fn(|cx| {
                        Poll::Ready(self.start_attempt(record, &parameters, settings, attempt, cx))
                    })
                    .await;
                    match started {
                        Ok(FirstPoll::Ended(ended)) => Progress::Ended(attempt, ended),
                        Ok(FirstPoll::Running(handler, timer)) => {
                            Progress::Running(attempt, handler, timer, permit)
                        }
                        Err(dead) => return dead,
                    }
                }
                Progress::Running(attempt, handler, timer, _permit) => {
                    let limit = self.options.timeout.unwrap_or(settings.handler_timeout);
                    Progress::Ended(attempt, finish(handler, timer, limit, C::ID).await)
                }
                Progress::Ended(attempt, ended) => match self.after(attempt, ended, settings) {
                    Next::Settle(outcome) => return outcome,
                    Next::RetryAfter(wait) => {
                        // Boxed: a timer is large, and only failures wait.
                        let backoff = Box::pin(tokio::time::sleep(wait));
                        tokio::select! {
                            _ = intake_closed.cancelled() => return Outcome::Abandoned,
                            _ = backoff => {}
                        }
                        Progress::ToAttempt(attempt + 1)
                    }
                },
            }
        }
    }

    /// Decodes the record (again on each attempt: the handler consumes the message),
    /// calls the handler and polls it once. `Err` is the dead letter of a record that
    /// does not decode.
    fn start_attempt(
        &self,
        record: &Record<'_>,
        parameters: &C::Parameters,
        settings: &HandlingSettings,
        attempt: u32,
        cx: &mut Context<'_>,
    ) -> Result<FirstPoll, Outcome> {
        let message = self
            .decode(record, settings.validate)
            .map_err(|(reason, error)| Outcome::Dead {
                reason,
                error,
                attempts: attempt - 1,
            })?;
        let context = self.context(record, parameters, settings, attempt);
        let timer = HandlerTimer::start();
        // Building the future, polling it and dropping it may all panic; a panic is one
        // failed attempt, so the future is dropped inside the guard.
        let polled = catch_unwind(AssertUnwindSafe(|| {
            let mut handler = self.handler.call(message, context);
            match handler.as_mut().poll(cx) {
                Poll::Ready(result) => Ok(result.map_err(|e| (DeadReason::HandlerError, e))),
                Poll::Pending => Err(handler),
            }
        }));
        Ok(match polled {
            Ok(Err(handler)) => FirstPoll::Running(handler, timer),
            Ok(Ok(ended)) => {
                timer.finished(C::ID);
                FirstPoll::Ended(ended)
            }
            Err(panic) => {
                timer.finished(C::ID);
                FirstPoll::Ended(Err(panicked(&*panic)))
            }
        })
    }

    /// What the handler is given besides the message.
    fn context(
        &self,
        record: &Record<'_>,
        parameters: &C::Parameters,
        settings: &HandlingSettings,
        attempt: u32,
    ) -> MessageContext<C::Parameters> {
        MessageContext {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
            key: if self.handler_reads.key() {
                record.key.map(Arc::from)
            } else {
                None
            },
            headers: if self.handler_reads.headers() {
                record.headers.get().headers.clone()
            } else {
                self.no_headers.clone()
            },
            parameters: parameters.clone(),
            attempt,
            state: settings.state.clone(),
        }
    }

    /// Settles the record after a failed attempt, unless another is due.
    fn after(&self, attempt: u32, ended: Attempted, settings: &HandlingSettings) -> Next {
        let (reason, error) = match ended {
            Ok(()) => return Next::Settle(Outcome::Done),
            Err((_, error)) if error.abandon => {
                tracing::debug!(%error, "handler abandoned the record");
                return Next::Settle(Outcome::Abandoned);
            }
            Err(failure) => failure,
        };
        let max_attempts = self
            .options
            .max_attempts
            .unwrap_or(settings.retry.max_attempts)
            .max(1);
        if attempt >= max_attempts || error.permanent {
            return Next::Settle(Outcome::Dead {
                reason,
                error: error.to_string(),
                attempts: attempt,
            });
        }
        let wait = settings.retry.backoff(attempt);
        telemetry::retried(C::ID);
        tracing::warn!(
            attempt,
            max_attempts,
            error = %error,
            reason = reason.as_str(),
            retry_in_ms = wait.as_millis() as u64,
            "handler failed; retrying"
        );
        Next::RetryAfter(wait)
    }
}

/// Waits for a handler that did not finish in its first poll, within `limit` (then it
/// is dropped: a failed attempt).
async fn finish(
    handler: HandlerFuture,
    timer: HandlerTimer,
    limit: Duration,
    channel: &'static str,
) -> Attempted {
    // Inside the guard the future is also dropped, on time-out too: a `Drop` that
    // panics is the handler's failed attempt.
    let result = AssertUnwindSafe(async move { tokio::time::timeout(limit, handler).await })
        .catch_unwind()
        .await;
    timer.finished(channel);
    match result {
        Ok(Ok(result)) => result.map_err(|e| (DeadReason::HandlerError, e)),
        Ok(Err(_elapsed)) => Err((
            DeadReason::HandlerTimeout,
            HandlerError::new(format!(
                "handler did not finish within {} ms",
                limit.as_millis()
            )),
        )),
        Err(panic) => Err(panicked(&*panic)),
    }
}

fn panicked(panic: &(dyn std::any::Any + Send)) -> (DeadReason, HandlerError) {
    (
        DeadReason::HandlerPanic,
        HandlerError::new(format!("handler panicked: {}", panic_text(panic))),
    )
}
