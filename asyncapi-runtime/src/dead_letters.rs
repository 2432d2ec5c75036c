//! Reading a dead-letter topic back, and replaying chosen records to their channel.
//!
//! The consumer writes a dead letter as the original record (key, headers, payload)
//! plus `x-dlq-*` headers saying why and from where. [`DeadLetterReader`] reads them as
//! [`DeadLetter`]s: the original record, the reason, the error, the attempts and the
//! source topic, partition and offset; [`DeadLetter::message`] decodes the payload as
//! the channel's message where it can. [`DeadLetterReader::replay`] sends a dead letter's
//! original record to its source topic again, once what made it fail is fixed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::KafkaConfig;
use crate::consumer::dead_letter::{
    DLQ_ATTEMPTS_HEADER, DLQ_ENVELOPE_OMITTED_HEADER, DLQ_ERROR_HEADER, DLQ_OFFSET_HEADER,
    DLQ_PARTITION_HEADER, DLQ_PAYLOAD_OMITTED_HEADER, DLQ_REASON_HEADER, DLQ_TOPIC_HEADER,
    DLQ_UNREADABLE_HEADER,
};
use crate::consumer::headers::read_headers;
use crate::contract::{Channel, Message, RawHeader};
use crate::error::{ConfigError, DecodeError, KafkaError, SendError};
use crate::producer::{Delivery, Producer};

/// The header a replayed record carries: the dead letter it came from
/// (`<dead-letter topic>/<partition>/<offset>`).
pub const REPLAYED_FROM_HEADER: &str = "x-replayed-from";

/// How long [`DeadLetterReader::read`] waits for the broker by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Records [`DeadLetterReader::read`] returns at most by default.
const DEFAULT_LIMIT: usize = 1_000;

/// Where a dead-lettered record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceRecord {
    /// The topic the original record was read from.
    pub topic: String,
    /// The original record's partition (-1 when the dead letter does not say).
    pub partition: i32,
    /// The original record's offset (-1 when the dead letter does not say).
    pub offset: i64,
}

/// A record of a dead-letter topic: the original record and why it could not be handled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The dead-letter topic's partition and offset of this record.
    pub partition: i32,
    /// The offset of this record in the dead-letter topic's partition.
    pub offset: i64,
    /// The original record's key.
    pub key: Option<Vec<u8>>,
    /// The original record's payload (empty when it was too large to dead-letter: see
    /// [`payload_omitted`](Self::payload_omitted)).
    pub payload: Vec<u8>,
    /// The original record's headers, without the `x-dlq-*` ones.
    pub headers: Vec<RawHeader>,
    /// `handler-error`, `decode-error`, `schema-error`, `handler-panic`,
    /// `handler-timeout` or `runtime-panic`.
    pub reason: Option<String>,
    /// What the handler or the decoder said (at most 1,000 bytes).
    pub error: Option<String>,
    /// Handler attempts made before the record was dead-lettered.
    pub attempts: Option<u32>,
    /// The topic, partition and offset of the original record.
    pub source: Option<SourceRecord>,
    /// Set when the original was too large to dead-letter whole: why, and where it is.
    pub payload_omitted: Option<String>,
    /// Set when the original's key and headers alone were too large to dead-letter
    /// (`key` and `headers` are then empty): why, and where the original is.
    pub envelope_omitted: Option<String>,
    /// Set when a header name of the original is not UTF-8 (kept lossily decoded in
    /// `headers`, so not as the original had it): which one.
    pub unreadable_header: Option<String>,
}

impl DeadLetter {
    /// The original record's `content-type` header, if it had one.
    pub fn content_type(&self) -> Option<&str> {
        self.header(crate::producer::CONTENT_TYPE_HEADER)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The value of the original record's (last) header `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        crate::contract::header_value(&self.headers, name)
    }

    /// The payload decoded as channel `C`'s message, as the consumer decodes it.
    pub fn message<C: Channel>(&self) -> Result<C::Message, DecodeError> {
        C::Message::decode(&self.payload, self.content_type())
    }

    /// Why this dead letter cannot be replayed, if it cannot.
    pub fn not_replayable(&self) -> Option<String> {
        if let Some(omitted) = &self.payload_omitted {
            return Some(format!("its payload was not dead-lettered ({omitted})"));
        }
        if let Some(omitted) = &self.envelope_omitted {
            return Some(format!(
                "its key and headers were not dead-lettered ({omitted})"
            ));
        }
        if let Some(unreadable) = &self.unreadable_header {
            return Some(format!(
                "a header name of the original is not UTF-8 and this copy has it decoded lossily ({unreadable})"
            ));
        }
        if self.source.is_none() {
            return Some(format!(
                "it has no `{DLQ_TOPIC_HEADER}` header naming its source topic"
            ));
        }
        None
    }

    pub(crate) fn from_record(
        partition: i32,
        offset: i64,
        key: Option<Vec<u8>>,
        payload: Vec<u8>,
        all_headers: &[RawHeader],
        unreadable_header: Option<String>,
    ) -> DeadLetter {
        let text = |name: &str| {
            crate::contract::header_value(all_headers, name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let number = |name: &str| text(name).and_then(|t| t.trim().parse::<i64>().ok());
        let source = text(DLQ_TOPIC_HEADER).map(|topic| SourceRecord {
            topic,
            partition: number(DLQ_PARTITION_HEADER)
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or(-1),
            offset: number(DLQ_OFFSET_HEADER).unwrap_or(-1),
        });
        DeadLetter {
            partition,
            offset,
            key,
            payload,
            headers: all_headers
                .iter()
                .filter(|(name, _)| !name.starts_with("x-dlq-"))
                .cloned()
                .collect(),
            reason: text(DLQ_REASON_HEADER),
            error: text(DLQ_ERROR_HEADER),
            attempts: number(DLQ_ATTEMPTS_HEADER).and_then(|a| u32::try_from(a).ok()),
            source,
            payload_omitted: text(DLQ_PAYLOAD_OMITTED_HEADER),
            envelope_omitted: text(DLQ_ENVELOPE_OMITTED_HEADER),
            unreadable_header: unreadable_header.or_else(|| text(DLQ_UNREADABLE_HEADER)),
        }
    }
}

/// A dead-letter topic could not be read, or a dead letter not replayed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeadLetterError {
    /// The Kafka configuration could not build the reading client.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Kafka failed while the dead-letter topic was being read.
    #[error("cannot read the dead-letter topic: {0}")]
    Kafka(#[from] KafkaError),
    /// The named dead-letter topic does not exist or has no partitions.
    #[error("the dead-letter topic `{0}` does not exist")]
    NoSuchTopic(String),
    /// Reading the topic to its end took longer than the reader's timeout.
    #[error("reading `{topic}` took longer than {timeout:?}")]
    Timeout {
        /// The dead-letter topic being read.
        topic: String,
        /// The time the reader was allowed.
        timeout: Duration,
    },
    /// The dead letter lacks its source topic or its payload, so it cannot be sent again.
    #[error("dead letter {partition}/{offset} cannot be replayed: {why}")]
    NotReplayable {
        /// The dead letter's partition in the dead-letter topic.
        partition: i32,
        /// The dead letter's offset in the dead-letter topic.
        offset: i64,
        /// Why the dead letter cannot be replayed.
        why: String,
    },
    /// Sending the original record to its source topic again failed.
    #[error("cannot replay the record: {0}")]
    Send(#[from] SendError),
}

/// Reads the records of one dead-letter topic, outside any consumer group (nothing is
/// committed: reading does not consume them).
#[derive(Debug, Clone)]
pub struct DeadLetterReader {
    config: KafkaConfig,
    topic: String,
    timeout: Duration,
    limit: usize,
}

impl DeadLetterReader {
    /// A reader of the dead-letter topic `topic`.
    pub fn new(config: &KafkaConfig, topic: impl Into<String>) -> Self {
        DeadLetterReader {
            config: config.clone(),
            topic: topic.into(),
            timeout: DEFAULT_TIMEOUT,
            limit: DEFAULT_LIMIT,
        }
    }

    /// A reader of channel `C`'s default dead-letter topic (`<topic>.dlq`). A channel
    /// with parameters has one per topic: name it with [`new`](Self::new).
    pub fn for_channel<C: Channel>(config: &KafkaConfig) -> Self {
        DeadLetterReader::new(config, asyncapi_syntax::topic::dead_letter_topic(C::TOPIC))
    }

    /// How long [`read`](Self::read) may take (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many records [`read`](Self::read) returns at most (default 1,000).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The dead-letter topic read.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The topic's records from the start of each partition up to its end when called
    /// (at most the limit), ordered by partition and offset.
    pub async fn read(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let reader = self.clone();
        // librdkafka's metadata, watermark and poll calls block.
        tokio::task::spawn_blocking(move || reader.read_blocking())
            .await
            .unwrap_or_else(|join| Err(DeadLetterError::Kafka(join_error(&join))))
    }

    /// Sends `letter`'s original record (key, headers and payload) to its source topic
    /// again, with a [`REPLAYED_FROM_HEADER`] saying which dead letter it was.
    ///
    /// The producer has no side (`Producer::new`): a replay sends bytes the document's
    /// sides did not encode, which only an untyped producer may.
    pub async fn replay(
        &self,
        producer: &Producer,
        letter: &DeadLetter,
    ) -> Result<Delivery, DeadLetterError> {
        let Some(source) = letter
            .source
            .as_ref()
            .filter(|_| letter.not_replayable().is_none())
        else {
            return Err(DeadLetterError::NotReplayable {
                partition: letter.partition,
                offset: letter.offset,
                why: letter.not_replayable().unwrap_or_default(),
            });
        };
        let mut headers = letter.headers.clone();
        headers.push((
            REPLAYED_FROM_HEADER.to_owned(),
            format!("{}/{}/{}", self.topic, letter.partition, letter.offset).into_bytes(),
        ));
        let delivery = producer
            .send_bytes(
                &source.topic,
                letter.key.as_deref(),
                &headers,
                &letter.payload,
            )
            .await?;
        Ok(delivery)
    }

    fn read_blocking(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let consumer: BaseConsumer = self
            .config
            .client_config(
                &[("group.id", "asyncapi-dead-letter-reader")],
                &[
                    ("enable.auto.commit", "false"),
                    ("enable.auto.offset.store", "false"),
                    ("enable.partition.eof", "false"),
                ],
            )?
            .create()?;
        // A time limit too large for the clock (`Duration::MAX`) means none.
        let start = Instant::now();
        let deadline = start
            .checked_add(self.timeout)
            .unwrap_or_else(|| start + Duration::from_secs(100 * 365 * 24 * 3600));
        let mut ends = self.assign_to_end(&consumer)?;
        let mut letters = Vec::new();
        let mut previous_headers: Arc<[RawHeader]> = Arc::from([]);
        while !ends.is_empty() && letters.len() < self.limit {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Err(DeadLetterError::Timeout {
                    topic: self.topic.clone(),
                    timeout: self.timeout,
                });
            };
            match consumer.poll(left.min(Duration::from_millis(200))) {
                Some(Ok(record)) => {
                    let (partition, offset) = (record.partition(), record.offset());
                    let Some(&end) = ends.get(&partition) else {
                        continue;
                    };
                    if offset < end {
                        let read = read_headers(&record, &mut previous_headers);
                        letters.push(DeadLetter::from_record(
                            partition,
                            offset,
                            record.key().map(<[u8]>::to_vec),
                            record.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                            &read.headers,
                            read.unreadable,
                        ));
                    }
                    if offset + 1 >= end {
                        ends.remove(&partition);
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                // Offsets may have gaps (compaction, transaction markers): a partition
                // whose position reached its end is done though no record ends it.
                None => self.drop_finished(&consumer, &mut ends)?,
            }
        }
        letters.sort_by_key(|l| (l.partition, l.offset));
        Ok(letters)
    }

    /// The time limit of one librdkafka call: it takes whole milliseconds as an `i32`,
    /// so a longer limit (30 days, `Duration::MAX`) would wrap around.
    fn call_timeout(&self) -> Duration {
        self.timeout.min(Duration::from_millis(i32::MAX as u64))
    }

    /// Assigns every non-empty partition from its start; returns each one's end offset.
    fn assign_to_end(
        &self,
        consumer: &BaseConsumer,
    ) -> Result<BTreeMap<i32, i64>, DeadLetterError> {
        let metadata = consumer.fetch_metadata(Some(&self.topic), self.call_timeout())?;
        let topic = metadata.topics().first();
        let missing = topic.is_none_or(|t| {
            t.partitions().is_empty()
                || t.error().is_some_and(|e| {
                    RDKafkaErrorCode::from(e) == RDKafkaErrorCode::UnknownTopicOrPartition
                })
        });
        if missing {
            return Err(DeadLetterError::NoSuchTopic(self.topic.clone()));
        }
        let mut assignment = TopicPartitionList::new();
        let mut ends = BTreeMap::new();
        for partition in topic.into_iter().flat_map(|t| t.partitions()) {
            let (low, high) =
                consumer.fetch_watermarks(&self.topic, partition.id(), self.call_timeout())?;
            if high > low {
                assignment.add_partition_offset(
                    &self.topic,
                    partition.id(),
                    Offset::Offset(low),
                )?;
                ends.insert(partition.id(), high);
            }
        }
        if !ends.is_empty() {
            consumer.assign(&assignment)?;
        }
        Ok(ends)
    }

    fn drop_finished(
        &self,
        consumer: &BaseConsumer,
        ends: &mut BTreeMap<i32, i64>,
    ) -> Result<(), DeadLetterError> {
        let positions = consumer.position()?;
        for element in positions.elements_for_topic(&self.topic) {
            if let (Offset::Offset(at), Some(&end)) =
                (element.offset(), ends.get(&element.partition()))
            {
                if at >= end {
                    ends.remove(&element.partition());
                }
            }
        }
        Ok(())
    }
}

fn join_error(join: &tokio::task::JoinError) -> KafkaError {
    tracing::error!(error = %join, "the dead-letter reading task failed");
    KafkaError::Canceled
}
