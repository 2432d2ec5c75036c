//! Sending a record that cannot be handled to its dead-letter topic, and what happens
//! when that fails too.

use std::collections::HashMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::health::PartitionHealth;
use super::route::{DeadReason, ErasedRoute, Record};
use crate::contract::RawHeader;
use crate::producer::Producer;

/// Dead-letter header: why the record was dead-lettered (a reason code).
pub const DLQ_REASON_HEADER: &str = "x-dlq-reason";
/// Dead-letter header: the error, bounded and without the record's content.
pub const DLQ_ERROR_HEADER: &str = "x-dlq-error";
/// Dead-letter header: the topic the record was read from.
pub const DLQ_TOPIC_HEADER: &str = "x-dlq-topic";
/// Dead-letter header: the partition the record was read from.
pub const DLQ_PARTITION_HEADER: &str = "x-dlq-partition";
/// Dead-letter header: the record's offset in that partition.
pub const DLQ_OFFSET_HEADER: &str = "x-dlq-offset";
/// Dead-letter header: how many times the handler was tried.
pub const DLQ_ATTEMPTS_HEADER: &str = "x-dlq-attempts";
/// Set when the record was too large to dead-letter whole: why, and where the original is.
pub const DLQ_PAYLOAD_OMITTED_HEADER: &str = "x-dlq-payload-omitted";
/// Set when the record's key and headers alone were too large to dead-letter, so the
/// dead letter carries neither: why, and where the original is.
pub const DLQ_ENVELOPE_OMITTED_HEADER: &str = "x-dlq-envelope-omitted";
/// Set when a header name of the record is not UTF-8: which one. The dead letter carries
/// that name decoded lossily, so it is not the original's.
pub const DLQ_UNREADABLE_HEADER: &str = "x-dlq-unreadable-header";

/// Bytes of `x-dlq-error`, at most.
const MAX_ERROR_LEN: usize = 1_000;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often a partition stuck on a failing dead-letter send tries again.
const STUCK_RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// What the consumer does when a record's dead-letter send keeps failing (the topic
/// is missing and cannot be auto-created, access is denied, the name is invalid...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DeadLetterFailure {
    /// The partition waits at that record (its offset stays unstored, later records are
    /// not taken), is reported stuck by [`Health`](super::Health), and tries the send
    /// again every 30 s; other partitions go on. The default.
    #[default]
    PausePartition,
    /// `run` returns [`ConsumerError::DeadLetter`](crate::ConsumerError::DeadLetter).
    StopConsumer,
}

/// The dead-letter settings of a consumer.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetters {
    pub producer: Producer,
    /// Topic (or channel topic template) → its dead-letter topic, set on the consumer.
    pub topics: HashMap<String, String>,
    /// Sends tried before `on_failure` applies.
    pub attempts: u32,
    pub on_failure: DeadLetterFailure,
}

/// Why a record could not be dead-lettered.
pub(crate) enum Undeliverable {
    /// The partition was revoked or the consumer stops: leave the offset unstored.
    Abandoned,
    /// `StopConsumer` applies: the consumer must stop with this error.
    Fatal { topic: String, error: String },
}

impl DeadLetters {
    /// The dead-letter topic for `record`, by precedence: the listener's, the one set
    /// for its topic, the one set for its channel, else `<topic>.dlq` (cut to Kafka's length with a hash when too long).
    pub fn topic_for(&self, route: &dyn ErasedRoute, topic: &str) -> String {
        route
            .options()
            .dead_letter_topic
            .clone()
            .or_else(|| self.topics.get(topic).cloned())
            .or_else(|| self.topics.get(route.channel_topic()).cloned())
            .unwrap_or_else(|| asyncapi_syntax::topic::dead_letter_topic(topic))
    }

    /// Produces `record` to its dead-letter topic with headers saying why. A send that
    /// fails is retried `attempts` times, then `on_failure` applies.
    pub async fn send(
        &self,
        topic: &str,
        failure: &Failure<'_>,
        record: &Record<'_>,
        health: &PartitionHealth,
        intake_closed: &CancellationToken,
    ) -> Result<(), Undeliverable> {
        let originals_read = record.headers.get();
        let mut headers = originals_read.headers.to_vec();
        headers.extend(failure.headers(record));
        if let Some(unreadable) = &originals_read.unreadable {
            headers.push((
                DLQ_UNREADABLE_HEADER.to_owned(),
                unreadable.clone().into_bytes(),
            ));
        }
        let mut key = record.key;
        // The original's headers come first in `headers`, until they are dropped.
        let mut originals = originals_read.headers.len();
        let mut payload = record.payload.unwrap_or_default();
        let mut backoff = BACKOFF_MIN;
        let mut failed_sends = 0u32;
        loop {
            let error = match self
                .producer
                .send_bytes(topic, key, &headers, payload)
                .await
            {
                Ok(delivery) => {
                    health.unstuck();
                    tracing::info!(dlq = %topic, dlq_partition = delivery.partition, dlq_offset = delivery.offset, "record dead-lettered");
                    return Ok(());
                }
                Err(e) if e.is_too_large() && !payload.is_empty() => {
                    // Retrying cannot help: dead-letter the record without its payload,
                    // saying where the original still is, rather than block the partition.
                    tracing::error!(dlq = %topic, size = payload.len(), "record too large for the dead-letter topic; sending it without its payload");
                    headers.push(omitted_header(record, payload.len()));
                    payload = &[];
                    continue;
                }
                Err(e) if e.is_too_large() && (key.is_some() || originals > 0) => {
                    // The original key and headers alone are too large: keep only ours,
                    // saying so (a replay without them would be another record).
                    tracing::error!(dlq = %topic, "record's key and headers too large for the dead-letter topic; sending it without them");
                    let omitted = envelope_omitted_header(record, key, &headers[..originals]);
                    headers.drain(..originals);
                    headers.push(omitted);
                    originals = 0;
                    key = None;
                    continue;
                }
                Err(e) => e.to_string(),
            };
            failed_sends += 1;
            let wait = if failed_sends < self.attempts.max(1) {
                tracing::warn!(dlq = %topic, error = %error, failed_sends, "cannot produce to the dead-letter topic; retrying");
                let wait = backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                wait
            } else {
                tracing::error!(dlq = %topic, error = %error, failed_sends, policy = ?self.on_failure, "dead-letter sends keep failing");
                if self.on_failure == DeadLetterFailure::StopConsumer {
                    return Err(Undeliverable::Fatal {
                        topic: topic.to_owned(),
                        error,
                    });
                }
                health.stuck_at(
                    record.offset,
                    format!("cannot dead-letter to `{topic}`: {error}"),
                );
                STUCK_RETRY_INTERVAL
            };
            tokio::select! {
                _ = intake_closed.cancelled() => return Err(Undeliverable::Abandoned),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Why a record is dead-lettered.
pub(crate) struct Failure<'a> {
    pub reason: DeadReason,
    pub error: &'a str,
    pub attempts: u32,
}

impl Failure<'_> {
    fn headers(&self, record: &Record<'_>) -> [(String, Vec<u8>); 6] {
        [
            (
                DLQ_REASON_HEADER.to_owned(),
                self.reason.as_str().as_bytes().to_vec(),
            ),
            (DLQ_ERROR_HEADER.to_owned(), capped(self.error).into_bytes()),
            (
                DLQ_TOPIC_HEADER.to_owned(),
                record.topic.as_bytes().to_vec(),
            ),
            (
                DLQ_PARTITION_HEADER.to_owned(),
                record.partition.to_string().into_bytes(),
            ),
            (
                DLQ_OFFSET_HEADER.to_owned(),
                record.offset.to_string().into_bytes(),
            ),
            (
                DLQ_ATTEMPTS_HEADER.to_owned(),
                self.attempts.to_string().into_bytes(),
            ),
        ]
    }
}

/// Error texts come from handlers too, and may be of any size.
fn capped(error: &str) -> String {
    let mut text = error.to_owned();
    crate::error::cap_len(&mut text, MAX_ERROR_LEN);
    text
}

fn envelope_omitted_header(
    record: &Record<'_>,
    key: Option<&[u8]>,
    headers: &[RawHeader],
) -> RawHeader {
    let size = key.map_or(0, <[u8]>::len)
        + headers
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum::<usize>();
    (
        DLQ_ENVELOPE_OMITTED_HEADER.to_owned(),
        format!(
            "the key and {} header(s), {size} bytes, exceed message.max.bytes; the original is at {}/{}/{}",
            headers.len(),
            record.topic,
            record.partition,
            record.offset
        )
        .into_bytes(),
    )
}

fn omitted_header(record: &Record<'_>, size: usize) -> (String, Vec<u8>) {
    (
        DLQ_PAYLOAD_OMITTED_HEADER.to_owned(),
        format!(
            "{size} bytes exceed message.max.bytes; the original is at {}/{}/{}",
            record.topic, record.partition, record.offset
        )
        .into_bytes(),
    )
}
