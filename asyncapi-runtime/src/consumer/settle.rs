//! What becomes of one record: handled, or dead-lettered, or left for redelivery, with
//! any panic on the way contained.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Poll;

use futures::FutureExt as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::dead_letter::{DeadLetters, Failure, Undeliverable};
use super::health::PartitionHealth;
use super::route::{panic_text, DeadReason, ErasedRoute, HandlingSettings, Outcome, Record, Step};
use crate::error::ConsumerError;
use crate::telemetry;

/// What every partition worker runs a record through; one per consumer.
pub(crate) struct Pipeline {
    pub routes: Vec<Arc<dyn ErasedRoute>>,
    pub settings: HandlingSettings,
    pub dead_letters: DeadLetters,
    /// Conditions that stop the consumer, to `run`.
    pub fatal: mpsc::UnboundedSender<ConsumerError>,
}

/// What became of one record.
pub(crate) enum Settled {
    /// Handled or dead-lettered: its offset may be stored.
    Done,
    /// Left unstored for redelivery (the partition is being revoked, the consumer
    /// stops, or the handler gave the record up): no later record may overtake it.
    Abandoned,
    /// The consumer must stop.
    Fatal(ConsumerError),
}

/// A partition worker's view of where it settles records.
pub(crate) struct Settler<'w> {
    pub pipeline: &'w Pipeline,
    pub route: Option<&'w dyn ErasedRoute>,
    pub health: &'w PartitionHealth,
    /// Fired on revoke and shutdown: retries and dead-letter waits give up.
    pub intake_closed: &'w CancellationToken,
    /// Fired at the drain deadline: the record in hand is dropped unsettled.
    pub abandon: &'w CancellationToken,
}

impl Settler<'_> {
    /// Settles `record`. A panic in the handler is a failed attempt (see the route); one
    /// anywhere else dead-letters the record as `runtime-panic`.
    pub async fn settle(&self, record: &Record<'_>) -> Settled {
        let span = tracing::info_span!(
            "message",
            channel = self.route.map_or("?", |r| r.channel_id()),
            topic = %record.topic,
            partition = record.partition,
            offset = record.offset,
        );
        crate::trace_context::continue_trace(&span, || &record.headers.get().headers);
        let _in_flight = telemetry::InFlight::start();
        let Some(route) = self.route else {
            span.in_scope(|| tracing::warn!("no route for topic; skipping record"));
            return Settled::Done;
        };
        // Most records are settled in this first step, which needs no future of the
        // record's own.
        let first = std::future::poll_fn(|cx| {
            Poll::Ready(span.in_scope(|| {
                catch_unwind(AssertUnwindSafe(|| {
                    route.process(record, &self.pipeline.settings, self.intake_closed, cx)
                }))
            }))
        })
        .await;
        if let Ok(Step::Settled(Outcome::Done)) = first {
            span.in_scope(|| handled(route));
            return Settled::Done;
        }
        tokio::select! {
            biased;
            settled = self.finish(route, record, first).instrument(span) => settled,
            _ = self.abandon.cancelled() => Settled::Abandoned,
        }
    }

    /// Settles a record whose first step did not handle it.
    async fn finish(
        &self,
        route: &dyn ErasedRoute,
        record: &Record<'_>,
        first: std::thread::Result<Step<'_>>,
    ) -> Settled {
        let processed = match first {
            Ok(Step::Settled(outcome)) => Ok(outcome),
            Ok(Step::Pending(rest)) => AssertUnwindSafe(rest).catch_unwind().await,
            Err(panic) => Err(panic),
        };
        let (reason, error, attempts) = match processed {
            Ok(Outcome::Done) => {
                handled(route);
                return Settled::Done;
            }
            Ok(Outcome::Abandoned) => {
                tracing::info!("record left for redelivery");
                return Settled::Abandoned;
            }
            Ok(Outcome::Dead {
                reason,
                error,
                attempts,
            }) => (reason, error, attempts),
            Err(panic) => (
                DeadReason::RuntimePanic,
                format!("runtime panicked: {}", panic_text(&*panic)),
                0,
            ),
        };
        telemetry::failed(route.channel_id(), reason.as_str());
        tracing::error!(reason = reason.as_str(), %error, attempts, "record goes to the dead-letter topic");
        let failure = Failure {
            reason,
            error: &error,
            attempts,
        };
        // Boxed: the dead-letter path's future is large and rarely taken.
        Box::pin(self.dead_letter(route, &failure, record)).await
    }

    async fn dead_letter(
        &self,
        route: &dyn ErasedRoute,
        failure: &Failure<'_>,
        record: &Record<'_>,
    ) -> Settled {
        let dead_letters = &self.pipeline.dead_letters;
        let topic = dead_letters.topic_for(route, record.topic);
        let sent = AssertUnwindSafe(dead_letters.send(
            &topic,
            failure,
            record,
            self.health,
            self.intake_closed,
        ))
        .catch_unwind()
        .await;
        match sent {
            Ok(Ok(())) => {
                telemetry::dead_lettered(route.channel_id(), failure.reason.as_str());
                Settled::Done
            }
            Ok(Err(Undeliverable::Abandoned)) => Settled::Abandoned,
            Ok(Err(Undeliverable::Fatal { topic, error })) => {
                Settled::Fatal(ConsumerError::DeadLetter {
                    topic: record.topic.to_string(),
                    partition: record.partition,
                    offset: record.offset,
                    dead_letter_topic: topic,
                    error,
                })
            }
            Err(panic) => Settled::Fatal(ConsumerError::WorkerPanic {
                topic: record.topic.to_string(),
                partition: record.partition,
                offset: record.offset,
                message: panic_text(&*panic),
            }),
        }
    }
}

/// Counts and logs a handled record.
fn handled(route: &dyn ErasedRoute) {
    telemetry::handled(route.channel_id());
    tracing::debug!("record handled");
}
