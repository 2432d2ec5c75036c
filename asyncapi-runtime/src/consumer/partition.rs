//! One assigned partition's worker. It reads the partition's own librdkafka queue and
//! settles its records one at a time, in order: handled, or dead-lettered, then its
//! offset stored. It is started when the partition is assigned and stopped, and
//! waited for, before the partition is revoked, so one partition never has two.

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{BorrowedMessage, Message as _};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::dead_letter::{DeadLetters, Failure, Undeliverable};
use super::headers;
use super::health::PartitionHealth;
use super::rebalance::GroupContext;
use super::route::{panic_text, DeadReason, ErasedRoute, HandlingSettings, Outcome, Record};
use crate::contract::RawHeader;
use crate::error::ConsumerError;

pub(crate) type GroupConsumer = BaseConsumer<GroupContext>;

/// Offsets are stored after this many settled records, and whenever the queue runs dry.
const STORE_EVERY: u32 = 256;
/// After the drain deadline, how long an abandoned record's future gets to be dropped.
const ABANDON_GRACE: Duration = Duration::from_secs(1);

/// What every worker runs a record through; one per consumer.
pub(crate) struct Pipeline {
    pub routes: Vec<Arc<dyn ErasedRoute>>,
    pub settings: HandlingSettings,
    pub dead_letters: DeadLetters,
    /// Conditions that stop the consumer, to `run`.
    pub fatal: mpsc::UnboundedSender<ConsumerError>,
}

/// A record that reached the consumer's main queue instead of its partition's (fetched
/// before the partition's queue was split off), owned so it can be handed over.
pub(crate) struct StrayRecord {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    timestamp: Option<chrono::DateTime<chrono::Utc>>,
    key: Option<Arc<[u8]>>,
    payload: Option<Vec<u8>>,
    headers: Arc<[RawHeader]>,
    unreadable: Option<String>,
}

impl StrayRecord {
    pub fn copy(msg: &BorrowedMessage<'_>) -> Self {
        let record = read_record(msg, &Arc::from(msg.topic()), &mut Arc::from([]));
        StrayRecord {
            payload: record.payload.map(<[u8]>::to_vec),
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
            key: record.key,
            headers: record.headers,
            unreadable: record.unreadable,
        }
    }

    fn record(&self) -> Record<'_> {
        Record {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.clone(),
            payload: self.payload.as_deref(),
            headers: self.headers.clone(),
            unreadable: self.unreadable.clone(),
        }
    }
}

/// `headers`: the partition's last headers, shared when the record's are equal.
fn read_record<'m>(
    msg: &'m BorrowedMessage<'_>,
    topic: &Arc<str>,
    headers: &mut Arc<[RawHeader]>,
) -> Record<'m> {
    let (headers, unreadable) = headers::read_headers(msg, headers);
    Record {
        topic: topic.clone(),
        partition: msg.partition(),
        offset: msg.offset(),
        timestamp: msg
            .timestamp()
            .to_millis()
            .and_then(chrono::DateTime::from_timestamp_millis),
        key: msg.key().map(Arc::from),
        payload: msg.payload(),
        headers,
        unreadable,
    }
}

/// Stores a partition's offsets while the partition is ours. Once it is revoked,
/// nothing is stored: a worker that outlived its drain deadline cannot move the
/// group's offset (the partition may already be ours again, read by a new worker).
struct OffsetStore {
    consumer: Arc<GroupConsumer>,
    topic: Arc<str>,
    partition: i32,
    owned: Mutex<bool>,
}

impl OffsetStore {
    fn store(&self, offset: i64) {
        let owned = self.owned.lock().unwrap_or_else(|p| p.into_inner());
        if !*owned {
            return;
        }
        if let Err(e) = self
            .consumer
            .store_offset(&self.topic, self.partition, offset)
        {
            tracing::debug!(topic = %self.topic, partition = self.partition, error = %e, "cannot store offset");
        }
    }

    fn disown(&self) {
        *self.owned.lock().unwrap_or_else(|p| p.into_inner()) = false;
    }
}

/// The assignment's hold on a running worker.
pub(crate) struct Worker {
    topic: Arc<str>,
    partition: i32,
    /// Fired: take no further record (revoke, shutdown).
    intake: CancellationToken,
    /// Fired: drop the record in hand without settling it.
    abandon: CancellationToken,
    /// Disconnected when the worker's task ends, however it ends.
    exited: std_mpsc::Receiver<()>,
    offsets: Arc<OffsetStore>,
    health: Arc<PartitionHealth>,
    strays: mpsc::UnboundedSender<StrayRecord>,
}

impl Worker {
    /// Starts the worker of a newly assigned partition on `runtime`.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        consumer: &Arc<GroupConsumer>,
        mut queue: PartitionQueue<GroupContext>,
        topic: Arc<str>,
        partition: i32,
        pipeline: Arc<Pipeline>,
        health: Arc<PartitionHealth>,
    ) -> Worker {
        let wake = Arc::new(Notify::new());
        let waker = wake.clone();
        // Called by librdkafka's threads when the queue becomes non-empty; a wake-up
        // that finds the worker busy is kept by `Notify` for its next wait.
        queue.set_nonempty_callback(move || waker.notify_one());
        let (exit_tx, exited) = std_mpsc::sync_channel(0);
        let (strays, stray_rx) = mpsc::unbounded_channel();
        let intake = CancellationToken::new();
        let abandon = CancellationToken::new();
        let offsets = Arc::new(OffsetStore {
            consumer: consumer.clone(),
            topic: topic.clone(),
            partition,
            owned: Mutex::new(true),
        });
        let route = pipeline.routes.iter().find(|r| r.matches(&topic)).cloned();
        let task = PartitionTask {
            queue,
            wake,
            strays: stray_rx,
            route,
            pipeline,
            health: health.clone(),
            offsets: offsets.clone(),
            intake: intake.clone(),
            abandon: abandon.clone(),
            unstored: None,
            last_headers: Arc::from([]),
            since_store: 0,
        };
        let fatal = task.pipeline.fatal.clone();
        let (panic_topic, panic_offset) = (topic.clone(), task.health.clone());
        runtime.spawn(async move {
            let _exit = exit_tx;
            // Records are settled under their own guard; this one catches the rest of
            // the loop, and stops the consumer loudly rather than leave the partition
            // without a reader.
            if let Err(panic) = AssertUnwindSafe(task.run()).catch_unwind().await {
                let _ = fatal.send(ConsumerError::WorkerPanic {
                    topic: panic_topic.to_string(),
                    partition,
                    offset: panic_offset.last_settled().map_or(-1, |o| o + 1),
                    message: panic_text(&*panic),
                });
            }
        });
        Worker {
            topic,
            partition,
            intake,
            abandon,
            exited,
            offsets,
            health,
            strays,
        }
    }

    /// Hands over a record of this partition that reached the main queue.
    pub fn take_stray(&self, record: StrayRecord) {
        // A worker that is gone leaves the record unstored: it is redelivered.
        let _ = self.strays.send(record);
    }

    /// Lets the worker finish its record in hand but take no further one.
    pub fn close_intake(&self) {
        self.intake.cancel();
    }

    /// Stops the worker: it takes no further record, and the record in hand may finish
    /// until `deadline`, after which it is abandoned (its offset unstored, redelivered
    /// to the next owner). Blocks until the worker ended or gave no sign of ending;
    /// called on the poll thread, never on an async worker thread.
    /// Returns the offset of the last record it settled, if any.
    pub fn stop(self, deadline: Instant) -> Option<i64> {
        self.intake.cancel();
        let waited = deadline.saturating_duration_since(Instant::now());
        if self.exited.recv_timeout(waited) == Err(std_mpsc::RecvTimeoutError::Timeout) {
            tracing::warn!(topic = %self.topic, partition = self.partition, "record still in hand at the drain deadline; abandoning it");
            self.abandon.cancel();
            if self.exited.recv_timeout(ABANDON_GRACE) == Err(std_mpsc::RecvTimeoutError::Timeout) {
                tracing::error!(topic = %self.topic, partition = self.partition, "partition worker does not stop (a handler blocks its thread?); it will store no offset");
            }
        }
        self.offsets.disown();
        self.health.last_settled()
    }
}

/// What became of one record.
enum Settled {
    /// Handled or dead-lettered: its offset may be stored.
    Done,
    /// Left unstored for redelivery: the worker stops, so no later record overtakes it.
    Abandoned,
    /// The consumer must stop.
    Fatal(ConsumerError),
}

/// A worker's own state, moved into its task.
struct PartitionTask {
    queue: PartitionQueue<GroupContext>,
    wake: Arc<Notify>,
    strays: mpsc::UnboundedReceiver<StrayRecord>,
    route: Option<Arc<dyn ErasedRoute>>,
    pipeline: Arc<Pipeline>,
    health: Arc<PartitionHealth>,
    offsets: Arc<OffsetStore>,
    intake: CancellationToken,
    abandon: CancellationToken,
    /// The last settled offset not stored yet.
    unstored: Option<i64>,
    /// The headers of the last record read, shared with the next one if equal.
    last_headers: Arc<[RawHeader]>,
    since_store: u32,
}

impl PartitionTask {
    async fn run(mut self) {
        let topic = self.offsets.topic.clone();
        loop {
            if self.intake.is_cancelled() {
                break;
            }
            // Strays were fetched before the queue was split off: they come first.
            if let Ok(stray) = self.strays.try_recv() {
                if !self.settle(&stray.record()).await {
                    break;
                }
                continue;
            }
            match self.queue.poll(Duration::ZERO) {
                Some(Ok(msg)) => {
                    let record = read_record(&msg, &topic, &mut self.last_headers);
                    let settled = settle(
                        &self.pipeline,
                        self.route.as_deref(),
                        &self.health,
                        &self.intake,
                        &self.abandon,
                        &record,
                    )
                    .await;
                    if !self.after(settled, record.offset) {
                        break;
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(topic = %topic, partition = self.offsets.partition, error = %e, "fetch error")
                }
                None => {
                    self.store();
                    let stray = tokio::select! {
                        biased;
                        _ = self.intake.cancelled() => break,
                        // `None` only once the worker's handle is gone, after intake closed.
                        stray = self.strays.recv() => stray,
                        _ = self.wake.notified() => None,
                    };
                    if let Some(stray) = stray {
                        if !self.settle(&stray.record()).await {
                            break;
                        }
                    }
                }
            }
        }
        self.store();
    }

    /// Settles a record that does not borrow the queue.
    async fn settle(&mut self, record: &Record<'_>) -> bool {
        let settled = settle(
            &self.pipeline,
            self.route.as_deref(),
            &self.health,
            &self.intake,
            &self.abandon,
            record,
        )
        .await;
        self.after(settled, record.offset)
    }

    /// Books what became of the record at `offset`; false when the worker must stop.
    fn after(&mut self, settled: Settled, offset: i64) -> bool {
        match settled {
            Settled::Done => {
                self.health.settled(offset);
                self.unstored = Some(offset);
                self.since_store += 1;
                if self.since_store >= STORE_EVERY {
                    self.store();
                }
                true
            }
            Settled::Abandoned => false,
            Settled::Fatal(error) => {
                let _ = self.pipeline.fatal.send(error);
                false
            }
        }
    }

    fn store(&mut self) {
        if let Some(offset) = self.unstored.take() {
            self.offsets.store(offset);
        }
        self.since_store = 0;
    }
}

/// Settles one record, containing any panic: one in the handler is a failed attempt
/// (see the route), one anywhere else dead-letters the record as `runtime-panic`.
async fn settle(
    pipeline: &Pipeline,
    route: Option<&dyn ErasedRoute>,
    health: &PartitionHealth,
    intake: &CancellationToken,
    abandon: &CancellationToken,
    record: &Record<'_>,
) -> Settled {
    let span = tracing::info_span!(
        "message",
        channel = route.map_or("?", |r| r.channel_id()),
        topic = %record.topic,
        partition = record.partition,
        offset = record.offset,
    );
    let work = async {
        let Some(route) = route else {
            tracing::warn!("no route for topic; skipping record");
            return Settled::Done;
        };
        let outcome = AssertUnwindSafe(route.process(record, &pipeline.settings, intake))
            .catch_unwind()
            .await;
        let (reason, error, attempts) = match outcome {
            Ok(Outcome::Done) => {
                tracing::debug!("record handled");
                return Settled::Done;
            }
            Ok(Outcome::Abandoned) => {
                tracing::info!(
                    "record left for redelivery: consumer stopping or partition revoked"
                );
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
        tracing::error!(reason = reason.as_str(), %error, attempts, "record goes to the dead-letter topic");
        let failure = Failure {
            reason,
            error: &error,
            attempts,
        };
        let topic = pipeline.dead_letters.topic_for(route, &record.topic);
        let sent = AssertUnwindSafe(
            pipeline
                .dead_letters
                .send(&topic, &failure, record, health, intake),
        )
        .catch_unwind()
        .await;
        match sent {
            Ok(Ok(())) => Settled::Done,
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
    };
    tokio::select! {
        biased;
        settled = work.instrument(span) => settled,
        _ = abandon.cancelled() => Settled::Abandoned,
    }
}
