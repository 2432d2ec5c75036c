//! Typed producer over rdkafka's `FutureProducer`.

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _, PurgeConfig};
use rdkafka::types::RDKafkaErrorCode;

use crate::client::{ProducerContext, ProducerShared};
use crate::config::{ConfigError, KafkaConfig};
use crate::contract::{Channel, HeaderSet, Message, RawHeader, RecordKey, Sends};
use crate::error::{FailedRecord, KafkaError, SendError};
use crate::schema;
use crate::topic::channel_topic;

/// Header carrying the payload's content type.
pub const CONTENT_TYPE_HEADER: &str = "content-type";

const DEFAULT_FLUSH_ON_DROP: Duration = Duration::from_secs(10);
const QUEUE_FULL_BACKOFF_MIN: Duration = Duration::from_millis(2);
const QUEUE_FULL_BACKOFF_MAX: Duration = Duration::from_millis(100);

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The topic the record was written to.
    pub topic: Cow<'static, str>,
    /// Its partition.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
}

/// A message to send on channel `C`, with its optional parameters, key and headers.
pub struct Outgoing<'a, C: Channel> {
    message: &'a C::Message,
    parameters: Option<&'a C::Parameters>,
    key: Option<&'a C::Key>,
    headers: Option<&'a C::Headers>,
    extra_headers: Vec<RawHeader>,
    /// Headers the runtime sets whatever the typed or extra headers say (a request's
    /// correlation id and reply topic).
    runtime_headers: Vec<RawHeader>,
    partition: Option<i32>,
}

impl<'a, C: Channel> Outgoing<'a, C> {
    /// `message`, with no parameters, key or headers yet.
    pub fn new(message: &'a C::Message) -> Self {
        Outgoing {
            message,
            parameters: None,
            key: None,
            headers: None,
            extra_headers: Vec::new(),
            runtime_headers: Vec::new(),
            partition: None,
        }
    }

    /// Values of the channel's `{parameters}`, required when the address has any.
    pub fn parameters(mut self, parameters: &'a C::Parameters) -> Self {
        self.parameters = Some(parameters);
        self
    }

    /// The record key (decides the partition, and so the order of related records).
    pub fn key(mut self, key: &'a C::Key) -> Self {
        self.key = Some(key);
        self
    }

    /// The channel's typed headers.
    pub fn headers(mut self, headers: &'a C::Headers) -> Self {
        self.headers = Some(headers);
        self
    }

    /// One more raw header, sent after the typed ones.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.extra_headers.push((name.into(), value.into()));
        self
    }

    /// Sets header `name` to `value`, in place of any typed or extra header of that name:
    /// a request's correlation id and reply topic must be the ones the requester waits on.
    pub(crate) fn runtime_header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.runtime_headers.push((name.to_owned(), value.into()));
        self
    }

    /// The parameter values given with [`parameters`](Self::parameters).
    pub(crate) fn given_parameters(&self) -> Option<&'a C::Parameters> {
        self.parameters
    }

    /// Sends to this partition instead of letting the partitioner choose.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Encodes everything: errors here mean nothing was enqueued.
    fn prepare(self) -> Result<Prepared, SendError> {
        let topic = channel_topic::<C>(self.parameters)?;
        let payload = self.message.encode()?;
        let key = self.key.map(RecordKey::encode_key).transpose()?;
        let mut headers = match self.headers {
            Some(h) => h.to_kafka_headers()?,
            None => Vec::new(),
        };
        headers.extend(self.extra_headers);
        if !self.runtime_headers.is_empty() {
            headers.retain(|(name, _)| !self.runtime_headers.iter().any(|(set, _)| set == name));
            headers.extend(self.runtime_headers);
        }
        crate::trace_context::inject(&mut headers);
        let content_type = (!headers.iter().any(|(n, _)| n == CONTENT_TYPE_HEADER))
            .then(|| self.message.content_type());
        Ok(Prepared {
            topic,
            key,
            payload,
            headers,
            content_type,
            partition: self.partition,
        })
    }
}

/// An encoded record, kept in the shape that costs least per send: the topic borrowed
/// from the channel unless it has parameters, the content type as a static string.
struct Prepared {
    topic: Cow<'static, str>,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: Vec<RawHeader>,
    /// Sent as the `content-type` header after `headers`.
    content_type: Option<&'static str>,
    partition: Option<i32>,
}

impl Prepared {
    /// The record as the in-memory broker keeps it.
    #[cfg(feature = "testing")]
    fn into_stored(self) -> crate::testing::StoredRecord {
        let mut headers = self.headers;
        if let Some(ct) = self.content_type {
            headers.push((CONTENT_TYPE_HEADER.to_owned(), ct.as_bytes().to_vec()));
        }
        crate::testing::StoredRecord {
            topic: self.topic.into_owned(),
            partition: 0,
            offset: 0,
            key: self.key,
            payload: self.payload,
            headers,
        }
    }

    /// The record as handed back to the caller when it could not be sent.
    fn into_failed(self) -> FailedRecord {
        let mut headers = self.headers;
        if let Some(ct) = self.content_type {
            headers.push((CONTENT_TYPE_HEADER.to_owned(), ct.as_bytes().to_vec()));
        }
        FailedRecord {
            topic: self.topic.into_owned(),
            key: self.key,
            payload: self.payload,
            headers,
        }
    }
}

/// Resolves once the broker acknowledged (or finally refused) an enqueued record.
#[must_use = "a delivery future does nothing unless awaited; drop it to fire and forget"]
pub struct DeliveryFuture {
    inner: Pending,
    // Only the topic is kept: on a delivery failure librdkafka hands the whole record
    // back, so holding a copy of every payload in flight is not needed.
    topic: Cow<'static, str>,
    // Says why a record was purged from the queue (see `crate::client`).
    shared: Arc<ProducerShared>,
}

/// A delivery librdkafka reports later, or one known when the record was taken (the
/// in-memory broker of `testing`).
enum Pending {
    Kafka(rdkafka::producer::DeliveryFuture),
    #[cfg(feature = "testing")]
    Ready(Option<Delivery>),
}

impl Future for DeliveryFuture {
    type Output = Result<Delivery, SendError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        // One arm without the `testing` feature.
        #[allow(clippy::infallible_destructuring_match)]
        let pending = match &mut this.inner {
            Pending::Kafka(pending) => pending,
            #[cfg(feature = "testing")]
            Pending::Ready(delivery) => {
                return Poll::Ready(delivery.take().ok_or(SendError::Canceled {
                    record: Box::new(FailedRecord {
                        topic: this.topic.to_string(),
                        key: None,
                        payload: Vec::new(),
                        headers: Vec::new(),
                    }),
                }))
            }
        };
        let result = match Pin::new(pending).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        let topic = std::mem::take(&mut this.topic);
        Poll::Ready(match result {
            Ok(Ok(delivery)) => Ok(Delivery {
                topic,
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Ok(Err((source, message))) => {
                crate::telemetry::delivery_error(&topic);
                let record = Box::new(failed_record(topic.into_owned(), &message));
                match this.shared.watch.failure() {
                    // Only the failure purges the queue.
                    Some(failure) if is_purged(&source) => Err(SendError::Connection {
                        source: failure.clone(),
                        record,
                    }),
                    _ => Err(SendError::Delivery { source, record }),
                }
            }
            // Only when the producer was torn down with the record unsent (its drop
            // flushes first): librdkafka no longer has the record to give back.
            Err(_canceled) => Err(SendError::Canceled {
                record: Box::new(FailedRecord {
                    topic: topic.into_owned(),
                    key: None,
                    payload: Vec::new(),
                    headers: Vec::new(),
                }),
            }),
        })
    }
}

fn is_purged(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
    )
}

/// The record librdkafka handed back with a delivery error.
fn failed_record(topic: String, message: &rdkafka::message::OwnedMessage) -> FailedRecord {
    use rdkafka::message::Message as _;
    FailedRecord {
        topic,
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        headers: raw_headers(message.headers()),
    }
}

/// A record's headers as owned `(name, value)` pairs (a null value becomes empty).
pub(crate) fn raw_headers<H: rdkafka::message::Headers>(headers: Option<&H>) -> Vec<RawHeader> {
    headers
        .map(|hs| {
            hs.iter()
                .map(|h| {
                    (
                        h.key.to_owned(),
                        h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where records go: Kafka, or the in-memory broker of `testing`.
enum Backend {
    Kafka(FutureProducer<ProducerContext>),
    #[cfg(feature = "testing")]
    Memory(Arc<crate::testing::Memory>),
}

impl Backend {
    fn kafka(&self) -> Option<&FutureProducer<ProducerContext>> {
        match self {
            Backend::Kafka(producer) => Some(producer),
            #[cfg(feature = "testing")]
            Backend::Memory(_) => None,
        }
    }
}

struct Inner {
    backend: Backend,
    shared: Arc<ProducerShared>,
    flush_on_drop: Duration,
    client_id: Option<String>,
    validate_sends: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let Some(producer) = self.backend.kafka() else {
            return;
        };
        if self.shared.watch.failure().is_some() {
            // Nothing queued can be delivered: do not wait for it.
            // Non-blocking: this drop may run on an async worker thread.
            producer.purge(PurgeConfig::default().queue().non_blocking());
        }
        // rdkafka purges unsent records on drop; flush first so nothing enqueued is
        // lost. A flush blocks until the queue is empty or the time is up, so inside a
        // tokio runtime it runs on the runtime's blocking pool and the drop returns at
        // once. A runtime that is shutting down may refuse that task or drop it unrun:
        // the flush is then done by the task's own drop, where it is refused.
        // Outside a runtime, the drop is a synchronous close and flushes in place.
        let flush = PendingFlush {
            producer: producer.clone(),
            timeout: self.flush_on_drop,
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop(flush))),
            Err(_) => drop(flush),
        }
    }
}

/// A flush of a dropped producer's queue, done when this is dropped: on the blocking
/// thread that runs it, or wherever a refused task drops it.
struct PendingFlush {
    producer: FutureProducer<ProducerContext>,
    timeout: Duration,
}

impl Drop for PendingFlush {
    fn drop(&mut self) {
        if let Err(e) = self.producer.flush(self.timeout) {
            tracing::warn!(error = %e, "producer closed with records still undelivered");
        }
    }
}

/// An idempotent Kafka producer (`enable.idempotence=true`, `acks=all` unless the
/// configuration says otherwise). Cheap to clone. When the last clone drops, what is
/// still queued is flushed (up to 10 s) on the tokio runtime's blocking pool, without
/// holding the dropping task; [`shutdown`](Self::shutdown) waits for it instead.
///
/// `S` is a generated side (`Application`, `Client`): the producer of a side only
/// sends on the channels that side sends on (`S: Sends<C>`, checked by the compiler).
/// A producer made with [`new`](Producer::new) has no side and sends on any channel.
pub struct Producer<S = ()> {
    inner: Arc<Inner>,
    _side: PhantomData<fn() -> S>,
}

impl<S> Clone for Producer<S> {
    fn clone(&self) -> Self {
        Producer {
            inner: self.inner.clone(),
            _side: PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for Producer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").finish_non_exhaustive()
    }
}

impl Producer<()> {
    /// A producer with no side: it sends on any channel.
    pub fn new(config: &KafkaConfig) -> Result<Self, ConfigError> {
        let defaults = [("enable.idempotence", "true"), ("acks", "all")];
        let defaults = [&defaults[..], crate::telemetry::CLIENT_DEFAULTS].concat();
        let cc = config.client_config(&defaults, &[])?;
        let shared = Arc::new(ProducerShared::default());
        #[cfg(feature = "testing")]
        if let Some(memory) = config.memory() {
            return Ok(Producer::with_backend(
                Backend::Memory(memory.clone()),
                shared,
                config,
            ));
        }
        let context = ProducerContext {
            shared: shared.clone(),
        };
        let producer: FutureProducer<ProducerContext> = cc
            .create_with_context(context)
            .map_err(ConfigError::Client)?;
        shared.attach(producer.client().native_ptr());
        Ok(Producer::with_backend(
            Backend::Kafka(producer),
            shared,
            config,
        ))
    }

    fn with_backend(backend: Backend, shared: Arc<ProducerShared>, config: &KafkaConfig) -> Self {
        Producer {
            inner: Arc::new(Inner {
                backend,
                shared,
                flush_on_drop: DEFAULT_FLUSH_ON_DROP,
                client_id: config.get("client.id").map(str::to_owned),
                validate_sends: config.validates_sends(),
            }),
            _side: PhantomData,
        }
    }
}

impl Producer<()> {
    /// Sends bytes to a topic as they are, outside the contract (no encoding, schema
    /// check or direction check), and waits for the broker's acknowledgement.
    ///
    /// For bridges and tools that forward records they did not encode, and for tests
    /// that play a foreign producer. Only a producer with no side has it: the producer
    /// of a generated side sends only what its document says it sends.
    pub async fn send_raw(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        headers: &[RawHeader],
        payload: &[u8],
    ) -> Result<Delivery, SendError> {
        self.send_bytes(topic, key, headers, payload).await
    }
}

impl<S> Producer<S> {
    /// The `client.id` the producer was built with, if any (brokers log and quota by it).
    pub fn client_id(&self) -> Option<&str> {
        self.inner.client_id.as_deref()
    }

    /// The same producer, restricted to the channels side `T` sends on.
    pub fn side<T>(self) -> Producer<T> {
        Producer {
            inner: self.inner,
            _side: PhantomData,
        }
    }

    /// Encodes the message and enqueues the record without waiting for its delivery,
    /// so many sends can be in flight.
    ///
    /// Two awaits, for two events: `enqueue(..).await?` returns once the record is in
    /// librdkafka's queue (waiting while the queue is full: the backpressure that keeps
    /// memory bounded), and the [`DeliveryFuture`] it gives resolves when the broker
    /// acknowledged the record. A loop that awaits the first and keeps the second
    /// (or drops it, relying on [`shutdown`](Self::shutdown)) sends as fast as the
    /// broker takes records; [`send`](Self::send) awaits both.
    ///
    /// The message is encoded when this is called; the returned future only enqueues.
    /// (A plain function returning a future whose type names neither `S` nor `C`: the
    /// side check `S: Sends<C>` is then one compile error at the call, where an `async
    /// fn` or `impl Future` would repeat it for the future and for its `.await`.)
    pub fn enqueue<C: Channel>(
        &self,
        out: Outgoing<'_, C>,
    ) -> BoxFuture<'_, Result<DeliveryFuture, SendError>>
    where
        S: Sends<C>,
    {
        let prepared = self.prepare(out);
        Box::pin(async move { self.enqueue_prepared(prepared?).await })
    }

    /// Enqueues and waits for the broker's acknowledgement. The message is encoded
    /// when this is called.
    pub fn send<C: Channel>(
        &self,
        out: Outgoing<'_, C>,
    ) -> BoxFuture<'_, Result<Delivery, SendError>>
    where
        S: Sends<C>,
    {
        let prepared = self.prepare(out);
        Box::pin(async move { self.enqueue_prepared(prepared?).await?.await })
    }

    /// `out` encoded, and checked against its channel's schema when this producer
    /// validates what it sends.
    fn prepare<C: Channel>(&self, out: Outgoing<'_, C>) -> Result<Prepared, SendError> {
        let record = out.prepare()?;
        let Some(text) = C::PAYLOAD_SCHEMA.filter(|_| self.inner.validate_sends) else {
            return Ok(record);
        };
        let failed = |details: String| SendError::Schema {
            channel: C::ID,
            details,
        };
        let validator = schema::validator(text).map_err(failed)?;
        let instance: serde_json::Value =
            serde_json::from_slice(&record.payload).map_err(|e| failed(e.to_string()))?;
        match schema::problems(&validator, &instance) {
            Some(details) => Err(failed(details)),
            None => Ok(record),
        }
    }

    /// Sends bytes to a topic as they are and waits for the acknowledgement (the
    /// dead-letter, reply and replay paths, which carry records already encoded).
    pub(crate) async fn send_bytes(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        headers: &[RawHeader],
        payload: &[u8],
    ) -> Result<Delivery, SendError> {
        let record = Prepared {
            topic: Cow::Owned(topic.to_owned()),
            key: key.map(<[u8]>::to_vec),
            payload: payload.to_vec(),
            headers: headers.to_vec(),
            content_type: None,
            partition: None,
        };
        self.enqueue_prepared(record).await?.await
    }

    async fn enqueue_prepared(&self, record: Prepared) -> Result<DeliveryFuture, SendError> {
        #[cfg(feature = "testing")]
        if let Backend::Memory(memory) = &self.inner.backend {
            let delivery = memory.append(record.into_stored());
            return Ok(DeliveryFuture {
                inner: Pending::Ready(Some(delivery)),
                topic: Cow::Borrowed(""),
                shared: self.inner.shared.clone(),
            });
        }
        let mut backoff = QUEUE_FULL_BACKOFF_MIN;
        loop {
            if let Some(failure) = self.inner.shared.watch.failure() {
                return Err(SendError::Connection {
                    source: failure.clone(),
                    record: Box::new(record.into_failed()),
                });
            }
            match self.try_enqueue(&record) {
                Ok(inner) => {
                    self.purge_if_failed_meanwhile();
                    return Ok(DeliveryFuture {
                        inner: Pending::Kafka(inner),
                        topic: record.topic,
                        shared: self.inner.shared.clone(),
                    });
                }
                Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    tracing::debug!(topic = %record.topic, "producer queue full; waiting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(QUEUE_FULL_BACKOFF_MAX);
                }
                Err(source) => {
                    return Err(SendError::Enqueue {
                        source,
                        record: Box::new(record.into_failed()),
                    })
                }
            }
        }
    }

    /// A failure recorded between the check above and the enqueue found the record
    /// not yet queued, so its purge missed it: purge again rather than let the record
    /// wait for `message.timeout.ms`.
    fn purge_if_failed_meanwhile(&self) {
        if let Some(producer) = self.inner.backend.kafka() {
            if self.inner.shared.watch.failure().is_some() {
                producer.purge(PurgeConfig::default().queue().non_blocking());
            }
        }
    }

    fn try_enqueue(
        &self,
        record: &Prepared,
    ) -> Result<rdkafka::producer::DeliveryFuture, KafkaError> {
        let Some(producer) = self.inner.backend.kafka() else {
            return Err(KafkaError::Canceled);
        };
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len() + 1);
        for (name, value) in &record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        if let Some(ct) = record.content_type {
            headers = headers.insert(Header {
                key: CONTENT_TYPE_HEADER,
                value: Some(ct),
            });
        }
        let mut fr: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&record.topic)
            .payload(record.payload.as_slice())
            .headers(headers);
        if let Some(key) = &record.key {
            fr = fr.key(key.as_slice());
        }
        if let Some(p) = record.partition {
            fr = fr.partition(p);
        }
        producer.send_result(fr).map_err(|(e, _)| e)
    }

    /// Waits until every enqueued record is delivered or `timeout` passes (blocking).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        match self.inner.backend.kafka() {
            Some(producer) => producer.flush(timeout),
            None => Ok(()),
        }
    }

    /// Flushes off the async workers, for use from async code.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), KafkaError> {
        if self.inner.backend.kafka().is_none() {
            return Ok(());
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            inner.backend.kafka().map_or(Ok(()), |p| p.flush(timeout))
        })
        .await
        .unwrap_or(Err(KafkaError::Canceled))
    }

    /// Records enqueued but not yet acknowledged.
    pub fn in_flight_count(&self) -> i32 {
        self.inner
            .backend
            .kafka()
            .map_or(0, |producer| producer.in_flight_count())
    }
}
