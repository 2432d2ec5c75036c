//! One assigned partition's worker. It reads the partition's own librdkafka queue and
//! settles its records one at a time, in order, then stores their offsets. It is
//! started when the partition is assigned and stopped, and waited for, before the
//! partition is revoked, so one partition never has two.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message as _};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use super::headers::{self, LazyHeaders, ReadHeaders};
use super::health::PartitionHealth;
use super::placement::{TaskShare, WorkerSpawner};
use super::rebalance::GroupContext;
use super::route::{panic_text, ErasedRoute, Record};
use super::settle::{Pipeline, Settled, Settler};
use crate::contract::RawHeader;
use crate::error::ConsumerError;

pub(crate) type GroupConsumer = BaseConsumer<GroupContext>;

/// Offsets are stored after this many settled records, and whenever the queue runs dry.
const STORE_EVERY: u32 = 256;
/// After the drain deadline, how long an abandoned record's future gets to be dropped.
pub(crate) const ABANDON_GRACE: Duration = Duration::from_secs(1);
/// An idle worker looks at its queue at least this often: librdkafka's wake-up is
/// per queue, and a worker of an earlier assignment that ended late removes it.
const IDLE_RECHECK: Duration = Duration::from_secs(1);

/// A record that reached the consumer's main queue instead of its partition's, owned
/// so it can be handed over. Queues are split before librdkafka assigns the
/// partition, so this should not happen; if it does, the record must still reach its
/// worker before the worker stores any later offset, or it would be skipped for good.
pub(crate) struct StrayRecord {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    timestamp: Option<chrono::DateTime<chrono::Utc>>,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    headers: ReadHeaders,
}

impl StrayRecord {
    pub fn copy(msg: &BorrowedMessage<'_>) -> Self {
        StrayRecord {
            topic: Arc::from(msg.topic()),
            partition: msg.partition(),
            offset: msg.offset(),
            timestamp: timestamp(msg),
            key: msg.key().map(<[u8]>::to_vec),
            payload: msg.payload().map(<[u8]>::to_vec),
            headers: headers::read_headers(msg, &mut Arc::from([])),
        }
    }

    fn record(&self) -> Record<'_> {
        Record {
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.as_deref(),
            payload: self.payload.as_deref(),
            headers: LazyHeaders::Read(self.headers.clone()),
        }
    }
}

/// `last_headers`: the partition's last headers, shared when the record's are equal.
fn read_record<'m>(
    msg: &'m BorrowedMessage<'m>,
    topic: &'m Arc<str>,
    last_headers: &'m Mutex<Arc<[RawHeader]>>,
) -> Record<'m> {
    Record {
        topic,
        partition: msg.partition(),
        offset: msg.offset(),
        timestamp: timestamp(msg),
        key: msg.key(),
        payload: msg.payload(),
        headers: LazyHeaders::fetched(msg, last_headers),
    }
}

fn timestamp(msg: &BorrowedMessage<'_>) -> Option<chrono::DateTime<chrono::Utc>> {
    msg.timestamp()
        .to_millis()
        .and_then(chrono::DateTime::from_timestamp_millis)
}

/// Stores a partition's offsets while the partition is ours. Once it is revoked,
/// nothing is stored: a worker that outlived its drain deadline cannot move the
/// group's offset (the partition may already be ours again, read by a new worker).
///
/// It holds the consumer weakly: the consumer's context holds the worker handles,
/// which hold this.
struct OffsetStore {
    consumer: Weak<GroupConsumer>,
    topic: Arc<str>,
    partition: i32,
    owned: Mutex<bool>,
}

impl OffsetStore {
    fn store(&self, offset: i64) {
        let owned = self.owned.lock().unwrap_or_else(|p| p.into_inner());
        let consumer = match (*owned, self.consumer.upgrade()) {
            (true, Some(consumer)) => consumer,
            _ => return,
        };
        if let Err(e) = consumer.store_offset(&self.topic, self.partition, offset) {
            tracing::debug!(topic = %self.topic, partition = self.partition, error = %e, "cannot store offset");
        }
    }

    fn disown(&self) {
        *self.owned.lock().unwrap_or_else(|p| p.into_inner()) = false;
    }
}

/// The partition's librdkafka queue. It holds a handle on the consumer, and dropping
/// the last handle closes the consumer and joins librdkafka's threads, which blocks
/// (for as long as the broker takes, or for good once it is gone). A worker that ends
/// before its release leaves the last handle to the poll thread; one that outlived its
/// release (held up past the drain deadline) may hold the last handle, so its queue is
/// dropped on a thread of its own, never on an async worker thread.
struct WorkerQueue {
    /// `None` only once dropped.
    queue: Option<PartitionQueue<GroupContext>>,
    offsets: Arc<OffsetStore>,
}

impl WorkerQueue {
    fn poll(&self) -> Option<KafkaResult<BorrowedMessage<'_>>> {
        self.queue.as_ref()?.poll(Duration::ZERO)
    }
}

impl Drop for WorkerQueue {
    fn drop(&mut self) {
        let Some(queue) = self.queue.take() else {
            return;
        };
        let owned = self.offsets.owned.lock().unwrap_or_else(|p| p.into_inner());
        if *owned {
            // Dropped under the lock: the poll thread, which releases the worker
            // under it too, holds its own handle until then.
            drop(queue);
            return;
        }
        drop(owned);
        let dropped = std::thread::Builder::new()
            .name("kafka-consumer-release".into())
            .spawn(move || drop(queue));
        if let Err(e) = dropped {
            // The queue went down with the refused closure, on this thread.
            tracing::error!(error = %e, "cannot start a thread to release the consumer; released it on an async worker thread");
        }
    }
}

/// Whether a worker may take further records: closed on revoke and shutdown. The token
/// wakes what waits for it; the flag is what the worker reads before each record (a
/// token takes a lock to say whether it fired).
#[derive(Clone, Default)]
struct Intake {
    closed: CancellationToken,
    flag: Arc<AtomicBool>,
}

impl Intake {
    fn close(&self) {
        self.flag.store(true, Ordering::Release);
        self.closed.cancel();
    }

    fn is_closed(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

/// The assignment's hold on a running partition worker.
pub(crate) struct WorkerHandle {
    topic: Arc<str>,
    partition: i32,
    /// Closed: take no further record (revoke, shutdown).
    intake: Intake,
    /// Fired: drop the record in hand without settling it.
    abandon: CancellationToken,
    /// Disconnected when the worker's task ends, however it ends.
    exited: std_mpsc::Receiver<()>,
    offsets: Arc<OffsetStore>,
    health: Arc<PartitionHealth>,
    strays: mpsc::UnboundedSender<StrayRecord>,
}

impl WorkerHandle {
    /// Starts the worker of a newly assigned partition through `spawner`.
    pub fn start(
        spawner: &WorkerSpawner,
        consumer: &Arc<GroupConsumer>,
        mut queue: PartitionQueue<GroupContext>,
        pipeline: Arc<Pipeline>,
        health: Arc<PartitionHealth>,
        (topic, partition): (Arc<str>, i32),
    ) -> WorkerHandle {
        let wake = Arc::new(Notify::new());
        let waker = wake.clone();
        // Called by librdkafka's threads when the queue becomes non-empty; a wake-up
        // that finds the worker busy is kept by `Notify` for its next wait.
        queue.set_nonempty_callback(move || waker.notify_one());
        let (exit_tx, exited) = std_mpsc::sync_channel(0);
        let (strays, stray_rx) = mpsc::unbounded_channel();
        let offsets = Arc::new(OffsetStore {
            consumer: Arc::downgrade(consumer),
            topic: topic.clone(),
            partition,
            owned: Mutex::new(true),
        });
        let handle = WorkerHandle {
            topic: topic.clone(),
            partition,
            intake: Intake::default(),
            abandon: CancellationToken::new(),
            exited,
            offsets: offsets.clone(),
            health: health.clone(),
            strays,
        };
        let worker = PartitionWorker {
            route: pipeline.routes.iter().find(|r| r.matches(&topic)).cloned(),
            queue: WorkerQueue {
                queue: Some(queue),
                offsets: offsets.clone(),
            },
            wake,
            strays: stray_rx,
            pipeline,
            health,
            offsets,
            intake: handle.intake.clone(),
            abandon: handle.abandon.clone(),
            unstored: None,
            since_yield: 0,
            share: spawner.share(),
            last_headers: Mutex::new(Arc::from([])),
            since_store: 0,
            given_up: None,
        };
        spawner.spawn(Box::pin(async move {
            let _exit = exit_tx;
            worker.run_contained().await;
        }));
        handle
    }

    /// Hands over a record of this partition that reached the main queue.
    pub fn take_stray(&self, record: StrayRecord) {
        // A worker that is gone leaves the record unstored: it is redelivered.
        let _ = self.strays.send(record);
    }

    /// Lets the worker finish its record in hand but take no further one.
    pub fn close_intake(&self) {
        self.intake.close();
    }

    /// Waits until the worker ended or `deadline`; whether it ended. Blocks: called on
    /// the poll thread, never on an async worker thread.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let waited = deadline.saturating_duration_since(Instant::now());
        self.exited.recv_timeout(waited) != Err(std_mpsc::RecvTimeoutError::Timeout)
    }

    /// Drops the record in hand unsettled (past the drain deadline).
    pub fn abandon(&self) {
        if !self.abandon.is_cancelled() {
            tracing::warn!(topic = %self.topic, partition = self.partition, "record still in hand at the drain deadline; abandoning it");
            self.abandon.cancel();
        }
    }

    /// Forgets the worker: it stores no further offset, even if it has not ended (a
    /// handler that blocks its thread, or another partition's handler blocking the
    /// task they share). What it settled is stored first: records are settled in
    /// order, so its last settled one ends a prefix of handled records. Returns the
    /// offset of that record, if any.
    pub fn release(self) -> Option<i64> {
        let last_settled = self.health.last_settled();
        if !self.wait_until(Instant::now()) {
            tracing::error!(topic = %self.topic, partition = self.partition, "partition worker does not stop (a handler blocks its thread, or the task it shares with other partitions?); it will store no further offset");
            if let Some(offset) = last_settled {
                self.offsets.store(offset);
            }
        }
        self.offsets.disown();
        last_settled
    }
}

/// A worker's own state, moved into its task.
struct PartitionWorker {
    queue: WorkerQueue,
    wake: Arc<Notify>,
    strays: mpsc::UnboundedReceiver<StrayRecord>,
    route: Option<Arc<dyn ErasedRoute>>,
    pipeline: Arc<Pipeline>,
    health: Arc<PartitionHealth>,
    offsets: Arc<OffsetStore>,
    intake: Intake,
    abandon: CancellationToken,
    /// The last settled offset not stored yet.
    unstored: Option<i64>,
    /// Records read since the worker last gave its thread up.
    since_yield: u32,
    /// How many records it may read before it yields.
    share: TaskShare,
    /// The headers of the last record whose headers were read, shared with the next
    /// one if equal.
    last_headers: Mutex<Arc<[RawHeader]>>,
    since_store: u32,
    /// The record the handler gave up while the partition was still ours.
    given_up: Option<i64>,
}

impl PartitionWorker {
    /// Runs the worker. Records are settled under their own panic guard; this one
    /// catches the rest of the loop, and stops the consumer loudly rather than leave
    /// the partition without a reader.
    async fn run_contained(self) {
        let fatal = self.pipeline.fatal.clone();
        let (topic, partition) = (self.offsets.topic.clone(), self.offsets.partition);
        let health = self.health.clone();
        if let Err(panic) = AssertUnwindSafe(self.run()).catch_unwind().await {
            let _ = fatal.send(ConsumerError::WorkerPanic {
                topic: topic.to_string(),
                partition,
                offset: health.last_settled().map_or(-1, |o| o + 1),
                message: panic_text(&*panic),
            });
        }
    }

    async fn run(mut self) {
        let topic = self.offsets.topic.clone();
        while !self.intake.is_closed() {
            // Strays were fetched before the queue was split off: they come first.
            if let Ok(stray) = self.strays.try_recv() {
                if !self.settle(&stray.record()).await {
                    break;
                }
                continue;
            }
            let polled = self.queue.poll();
            match polled {
                Some(Ok(msg)) => {
                    let record = read_record(&msg, &topic, &self.last_headers);
                    let (settled, offset) = (self.settler().settle(&record).await, record.offset);
                    drop(record);
                    if !self.book(settled, offset) {
                        break;
                    }
                    self.step_aside_now_and_then().await;
                }
                Some(Err(e)) => {
                    tracing::warn!(topic = %topic, partition = self.offsets.partition, error = %e, "fetch error")
                }
                None => {
                    if !self.wait_for_records().await {
                        break;
                    }
                }
            }
        }
        self.store();
        if let Some(offset) = self.given_up {
            self.hold_until_revoked(offset).await;
        }
    }

    /// A queue that never runs dry and handlers that never wait would keep this task
    /// on its thread for the whole backlog: timers (handler time limits), shutdown and
    /// other tasks there would stall. Yields after its share of the task's turn
    /// ([`TaskShare`]).
    async fn step_aside_now_and_then(&mut self) {
        self.since_yield += 1;
        if self.since_yield >= self.share.records_per_turn() {
            self.since_yield = 0;
            tokio::task::yield_now().await;
        }
    }

    /// Stores what was settled, then waits for the queue's wake-up (or a stray, or
    /// intake closing); false when intake closed.
    async fn wait_for_records(&mut self) -> bool {
        self.store();
        let stray = tokio::select! {
            biased;
            _ = self.intake.closed.cancelled() => return false,
            // `None` only once the worker's handle is gone, after intake closed.
            stray = self.strays.recv() => stray,
            _ = self.wake.notified() => None,
            _ = tokio::time::sleep(IDLE_RECHECK) => None,
        };
        match stray {
            Some(stray) => self.settle(&stray.record()).await,
            None => true,
        }
    }

    /// The record at `offset` was given up while the partition is still ours (its
    /// handler, such as a subscription whose stream was dropped, abandoned it): no
    /// later record may overtake it, so the partition waits, reported stuck, until it
    /// is revoked.
    async fn hold_until_revoked(&self, offset: i64) {
        self.health.stuck_at(
            offset,
            "the handler gave the record up (a subscription whose stream was dropped?); the partition waits until it is revoked".into(),
        );
        self.intake.closed.cancelled().await;
    }

    fn settler(&self) -> Settler<'_> {
        Settler {
            pipeline: &self.pipeline,
            route: self.route.as_deref(),
            health: &self.health,
            intake_closed: &self.intake.closed,
            abandon: &self.abandon,
        }
    }

    /// Settles a record that does not borrow the queue; false when the worker must stop.
    async fn settle(&mut self, record: &Record<'_>) -> bool {
        let settled = self.settler().settle(record).await;
        self.book(settled, record.offset)
    }

    /// Books what became of the record at `offset`; false when the worker must stop.
    fn book(&mut self, settled: Settled, offset: i64) -> bool {
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
            Settled::Abandoned => {
                if !self.intake.is_closed() {
                    self.given_up = Some(offset);
                }
                false
            }
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
