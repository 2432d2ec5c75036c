//! An in-memory broker for tests (cargo feature `testing`): no Kafka, no librdkafka.
//!
//! A [`TestBroker`]'s [`config`](TestBroker::config) builds the generated
//! `Application` and `Client`, producers and consumers as usual; their records go to
//! memory instead of Kafka, and consumers run them through the same decoding,
//! validation, routing, retries and dead-lettering as on Kafka. A test sends, waits for
//! [`settled`](TestBroker::settled) (every started consumer has handled everything
//! there is, including what its handlers sent meanwhile), then asserts on what was sent
//! ([`sent`](TestBroker::sent), typed) and dead-lettered
//! ([`dead_letters`](TestBroker::dead_letters)). Nothing sleeps.
//!
//! ```ignore
//! let broker = TestBroker::new();
//! let app = account::Application::new(broker.config())?;
//! let service = broker.start(app.consumer().listen::<on_signup>());
//! account::Client::new(broker.config())?.send_user_signup(&signup).await?;
//! broker.settled().await;
//! let created = broker.sent::<account::channels::AccountCreated>()?;
//! service.stop().await?;
//! ```
//!
//! Each topic has one partition; consumer groups each read every topic from its start.
//! A record handed to a typed stream (`subscribe`) is settled when it is acked: read
//! the stream before waiting for `settled`. Requests (`request_*`) get their replies
//! from the reply topic as on Kafka.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::KafkaConfig;
use crate::consumer::headers::{LazyHeaders, ReadHeaders};
use crate::consumer::route::Record;
use crate::consumer::settle::{Pipeline, Settled, Settler};
use crate::consumer::{Consumer, Health};
use crate::contract::{header_value, Channel, HeaderSet, Message, RawHeader, RecordKey};
use crate::dead_letters::DeadLetter;
use crate::error::{ConsumerError, DecodeError};
use crate::producer::{Delivery, CONTENT_TYPE_HEADER};
use crate::topic::TopicTemplate;

/// A record as the in-memory broker keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredRecord {
    /// The topic the record was sent to.
    pub topic: String,
    /// Always 0: one partition per topic.
    pub partition: i32,
    /// The record's position in its topic, from 0.
    pub offset: i64,
    /// The record's raw key, if it has one.
    pub key: Option<Vec<u8>>,
    /// The record's encoded payload.
    pub payload: Vec<u8>,
    /// The record's headers.
    pub headers: Vec<RawHeader>,
}

impl StoredRecord {
    /// The record as a consumer's pipeline reads it, from `topic` (its topic, shared).
    fn as_record<'r>(&'r self, topic: &'r Arc<str>) -> Record<'r> {
        Record {
            topic,
            partition: self.partition,
            offset: self.offset,
            timestamp: None,
            key: self.key.as_deref(),
            payload: Some(&self.payload),
            headers: LazyHeaders::Read(ReadHeaders {
                headers: Arc::from(self.headers.as_slice()),
                unreadable: None,
            }),
        }
    }
}

/// A message sent on channel `C`, decoded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Sent<C: Channel> {
    /// The message, decoded as channel `C`'s message type.
    pub message: C::Message,
    /// The key, decoded as the channel's key type (`Vec<u8>` when untyped).
    pub key: Option<C::Key>,
    /// The headers, decoded as the channel's header type (every header, as
    /// [`RawHeaders`](crate::RawHeaders), when the channel declares none).
    pub headers: C::Headers,
    /// The record's headers as sent (with `content-type` and trace context).
    pub raw_headers: Vec<RawHeader>,
    /// The topic (differs per parameter values on a channel with parameters).
    pub topic: String,
    /// The record's position in its topic, from 0.
    pub offset: i64,
}

/// The shared state of one in-memory broker.
#[derive(Debug)]
pub(crate) struct Memory {
    state: Mutex<MemoryState>,
    /// Bumped when a record is appended: consumers wait on it (a `watch` loses no
    /// wake-up, and a consumer going idle does not wake itself).
    appends: watch::Sender<u64>,
    /// Bumped on every change (a record appended, a consumer idle or gone):
    /// [`TestBroker::settled`] waits on it.
    progress: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct MemoryState {
    topics: BTreeMap<String, Vec<StoredRecord>>,
    /// Next offset to read, per (group, topic).
    cursors: HashMap<(String, String), usize>,
    /// Started consumers, and the change count at which each last found nothing to do.
    consumers: HashMap<u64, Option<u64>>,
    next_consumer: u64,
    appended: u64,
}

impl Memory {
    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn progressed(&self) {
        self.progress.send_modify(|count| *count += 1);
    }

    /// Appends `record` to its topic; where it landed.
    pub(crate) fn append(&self, mut record: StoredRecord) -> Delivery {
        let delivery = {
            let mut state = self.lock();
            state.appended += 1;
            let records = state.topics.entry(record.topic.clone()).or_default();
            record.offset = records.len() as i64;
            let delivery = Delivery {
                topic: record.topic.clone().into(),
                partition: 0,
                offset: record.offset,
            };
            records.push(record);
            delivery
        };
        self.appends.send_modify(|count| *count += 1);
        self.progressed();
        delivery
    }

    /// Registers a consumer that [`TestBroker::settled`] waits for.
    fn register(&self) -> u64 {
        let mut state = self.lock();
        state.next_consumer += 1;
        let id = state.next_consumer;
        state.consumers.insert(id, None);
        id
    }

    fn deregister(&self, id: u64) {
        self.lock().consumers.remove(&id);
        self.progressed();
    }

    /// The next record of `group` on a topic `wanted` accepts, in topic-name order;
    /// when there is none, consumer `id` is marked idle in the same step, so a record
    /// appended meanwhile cannot be missed.
    fn next_or_idle(
        &self,
        id: u64,
        group: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<StoredRecord> {
        let mut state = self.lock();
        let next = state
            .topics
            .iter()
            .filter(|(topic, _)| wanted(topic))
            .find_map(|(topic, records)| {
                let at = state
                    .cursors
                    .get(&(group.to_owned(), topic.clone()))
                    .copied()
                    .unwrap_or(0);
                records.get(at).cloned()
            });
        if next.is_none() {
            let appended = state.appended;
            if let Some(idle) = state.consumers.get_mut(&id) {
                *idle = Some(appended);
            }
            drop(state);
            self.progressed();
        }
        next
    }

    fn advance(&self, group: &str, topic: &str, offset: i64) {
        let next = usize::try_from(offset + 1).unwrap_or(usize::MAX);
        self.lock()
            .cursors
            .insert((group.to_owned(), topic.to_owned()), next);
    }

    /// Whether every registered consumer found nothing to do since the last append.
    fn all_idle(&self) -> bool {
        let state = self.lock();
        let appended = state.appended;
        state
            .consumers
            .values()
            .all(|idle| idle.is_some_and(|at| at >= appended))
    }

    fn records(&self, topic: &str) -> Vec<StoredRecord> {
        self.records_from(topic, 0)
    }

    /// The offset the next record of `topic` gets.
    fn end(&self, topic: &str) -> usize {
        self.lock().topics.get(topic).map_or(0, Vec::len)
    }

    fn records_from(&self, topic: &str, first: usize) -> Vec<StoredRecord> {
        self.lock()
            .topics
            .get(topic)
            .and_then(|records| records.get(first..))
            .map(<[StoredRecord]>::to_vec)
            .unwrap_or_default()
    }

    fn topics(&self) -> Vec<String> {
        self.lock().topics.keys().cloned().collect()
    }
}

/// An in-memory broker. Cheap to clone; clones share the records.
#[derive(Debug, Clone)]
pub struct TestBroker {
    memory: Arc<Memory>,
}

impl Default for TestBroker {
    fn default() -> Self {
        TestBroker::new()
    }
}

impl TestBroker {
    /// An empty broker, with no topics or records.
    pub fn new() -> Self {
        TestBroker {
            memory: Arc::new(Memory {
                state: Mutex::new(MemoryState::default()),
                appends: watch::channel(0).0,
                progress: watch::channel(0).0,
            }),
        }
    }

    /// The configuration clients of this broker are built with. Producers built with
    /// it validate what they send against the channel's payload schema
    /// ([`KafkaConfig::validate_sends`]), so a test finds a message breaking the contract
    /// where it is sent; `.validate_sends(false)` sends it anyway, to test a receiver.
    pub fn config(&self) -> KafkaConfig {
        KafkaConfig::in_memory(self.memory.clone()).validate_sends(true)
    }

    /// Runs `consumer` until [`TestConsumer::stop`]; [`settled`](Self::settled) waits
    /// for it from now on.
    pub fn start<S: Send + 'static>(&self, consumer: Consumer<S>) -> TestConsumer {
        let registration = Registered::new(self.memory.clone());
        let stop = CancellationToken::new();
        let health = consumer.health();
        let run = consumer.run_in_memory(registration, stop.clone());
        TestConsumer {
            stop,
            health,
            task: tokio::spawn(run),
        }
    }

    /// Waits until every started consumer has settled every record there is: handled
    /// or dead-lettered, including the records their handlers sent meanwhile.
    pub async fn settled(&self) {
        let mut progress = self.memory.progress.subscribe();
        loop {
            progress.borrow_and_update();
            if self.memory.all_idle() {
                return;
            }
            if progress.changed().await.is_err() {
                return;
            }
        }
    }

    /// Every record on `topic`, in order.
    pub fn records(&self, topic: &str) -> Vec<StoredRecord> {
        self.memory.records(topic)
    }

    /// Every message sent on channel `C` (on each of its topics, for a channel with
    /// parameters), decoded as a consumer of `C` decodes it.
    pub fn sent<C: Channel>(&self) -> Result<Vec<Sent<C>>, DecodeError> {
        let template = TopicTemplate::parse(C::TOPIC).map_err(|e| DecodeError::Topic {
            topic: e.to_string(),
            address: C::ADDRESS,
        })?;
        let mut sent = Vec::new();
        for topic in self.memory.topics() {
            if template.matches(&topic).is_none() {
                continue;
            }
            for record in self.memory.records(&topic) {
                let content_type = header_value(&record.headers, CONTENT_TYPE_HEADER)
                    .and_then(|v| std::str::from_utf8(v).ok());
                sent.push(Sent {
                    message: C::Message::decode(&record.payload, content_type)?,
                    key: record.key.as_deref().map(C::Key::decode_key).transpose()?,
                    headers: C::Headers::from_kafka_headers(&record.headers)?,
                    raw_headers: record.headers,
                    topic: record.topic,
                    offset: record.offset,
                });
            }
        }
        Ok(sent)
    }

    /// The records of dead-letter topic `topic`, read as [`DeadLetterReader`](crate::DeadLetterReader) reads them.
    pub fn dead_letters(&self, topic: &str) -> Vec<DeadLetter> {
        self.memory
            .records(topic)
            .into_iter()
            .map(|r| DeadLetter::from_record(0, r.offset, r.key, r.payload, &r.headers, None))
            .collect()
    }
}

/// A consumer started on a [`TestBroker`].
#[derive(Debug)]
pub struct TestConsumer {
    stop: CancellationToken,
    health: Health,
    task: JoinHandle<Result<(), ConsumerError>>,
}

impl TestConsumer {
    /// The consumer's health view.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Stops the consumer; what its `run` returned (an error that stopped it earlier,
    /// such as a listener without its state, comes out here).
    pub async fn stop(self) -> Result<(), ConsumerError> {
        self.stop.cancel();
        match self.task.await {
            Ok(result) => result,
            Err(join) => Err(ConsumerError::Task(join.to_string())),
        }
    }
}

/// Hands every record appended to `topic` from now on to `each`, until `stop`: a
/// requester's reply inbox on the in-memory broker.
pub(crate) fn follow_topic(
    memory: &Arc<Memory>,
    topic: String,
    stop: CancellationToken,
    mut each: impl FnMut(&StoredRecord) + Send + 'static,
) {
    // Subscribed and positioned before this returns, so before the request is sent.
    let mut appends = memory.appends.subscribe();
    let mut next = memory.end(&topic);
    let memory = memory.clone();
    tokio::spawn(async move {
        loop {
            appends.borrow_and_update();
            let records = memory.records_from(&topic, next);
            next += records.len();
            records.iter().for_each(&mut each);
            tokio::select! {
                _ = stop.cancelled() => break,
                changed = appends.changed() => if changed.is_err() { break },
            }
        }
    });
}

/// Consumes `memory`'s records for `group` through `pipeline` until `shutdown`.
pub(crate) async fn consume(
    registration: Registered,
    group: String,
    pipeline: Arc<Pipeline>,
    mut fatal: mpsc::UnboundedReceiver<ConsumerError>,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError> {
    let (memory, id) = (&registration.memory, registration.id);
    let mut appends = memory.appends.subscribe();
    let never = CancellationToken::new();
    let mut partitions = HashMap::new();
    health.set_running(true);
    let result = loop {
        if let Ok(error) = fatal.try_recv() {
            break Err(error);
        }
        // Marked seen before looking: an append from now on wakes the wait below.
        appends.borrow_and_update();
        let wanted = |topic: &str| pipeline.routes.iter().any(|r| r.matches(topic));
        let Some(stored) = memory.next_or_idle(id, &group, wanted) else {
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                changed = appends.changed() => if changed.is_err() { break Ok(()) },
            }
            continue;
        };
        let partition_health = partitions
            .entry(stored.topic.clone())
            .or_insert_with(|| health.assigned(&Arc::from(stored.topic.as_str()), 0))
            .clone();
        let route = pipeline.routes.iter().find(|r| r.matches(&stored.topic));
        let settler = Settler {
            pipeline: &pipeline,
            route: route.map(|r| &**r),
            health: &partition_health,
            intake_closed: &shutdown,
            abandon: &never,
        };
        let topic = Arc::from(stored.topic.as_str());
        match settler.settle(&stored.as_record(&topic)).await {
            Settled::Done => {
                partition_health.settled(stored.offset);
                memory.advance(&group, &stored.topic, stored.offset);
            }
            Settled::Abandoned => break Ok(()),
            Settled::Fatal(error) => break Err(error),
        }
    };
    health.set_running(false);
    result
}

/// A consumer [`TestBroker::settled`] waits for, deregistered when dropped: when its
/// loop ends, however it ends (a consumer that fails to start included).
pub(crate) struct Registered {
    memory: Arc<Memory>,
    id: u64,
}

impl Registered {
    /// Registers a consumer now.
    pub(crate) fn new(memory: Arc<Memory>) -> Self {
        let id = memory.register();
        Registered { memory, id }
    }

    /// Whether `memory` is the broker of this registration.
    pub(crate) fn is_on(&self, memory: Option<&Arc<Memory>>) -> bool {
        memory.is_some_and(|m| Arc::ptr_eq(m, &self.memory))
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.memory.deregister(self.id);
    }
}
