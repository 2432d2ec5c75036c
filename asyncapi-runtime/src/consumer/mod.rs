//! The consumer-group loop.
//!
//! One poll loop fetches records and never waits on handlers (a member that stops
//! polling for `max.poll.interval.ms` is expelled from the group). Each assigned
//! partition gets its own worker task, so order holds within a partition while
//! partitions progress concurrently. Offsets are stored only once a record was
//! handled or dead-lettered, and librdkafka's auto-commit commits stored offsets;
//! they are also committed synchronously on revoke and on shutdown.

mod handler;
mod headers;
mod route;
mod subscription;

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::Message as _;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::TopicPartitionList;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use handler::{
    Handler, HandlerError, IntoHandlerResult, Listener, ListenerOptions, MessageContext, State,
};
pub use route::RetryPolicy;
pub use subscription::{Acker, Received, Subscription};

use crate::client::{forward_log, ConnectionWatch};
use crate::config::KafkaConfig;
use crate::contract::{Channel, Receives};
use crate::error::{ConsumerError, KafkaError};
use crate::producer::Producer;
use handler::ListenerHandler;
use route::{DeadReason, ErasedRoute, Outcome, ProcessEnv, Record, TypedRoute};

/// Dead-letter headers added to the original record's headers.
pub const DLQ_REASON_HEADER: &str = "x-dlq-reason";
pub const DLQ_ERROR_HEADER: &str = "x-dlq-error";
pub const DLQ_TOPIC_HEADER: &str = "x-dlq-topic";
pub const DLQ_PARTITION_HEADER: &str = "x-dlq-partition";
pub const DLQ_OFFSET_HEADER: &str = "x-dlq-offset";
pub const DLQ_ATTEMPTS_HEADER: &str = "x-dlq-attempts";
/// Set when the record was too large to dead-letter whole: why, and where the original is.
pub const DLQ_PAYLOAD_OMITTED_HEADER: &str = "x-dlq-payload-omitted";

const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// How long the poll loop may wait for a free in-flight slot before pausing a partition
/// (well under `max.poll.interval.ms`).
const FLOW_CONTROL_WAIT: Duration = Duration::from_millis(100);
/// Records the loop takes from librdkafka's queue per wake-up, at most.
const MAX_BATCH: usize = 512;
const SUBSCRIPTION_BUFFER: usize = 16;
const DLQ_BACKOFF_MIN: Duration = Duration::from_millis(100);
const DLQ_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// A consumer-group member dispatching records to typed handlers.
///
/// `S` is a generated side marker (`Application`, `Client`): [`listen`](Self::listen)
/// only accepts listeners on channels that side receives from.
pub struct Consumer<S = ()> {
    config: KafkaConfig,
    group_id: Option<String>,
    routes: Vec<Arc<dyn ErasedRoute>>,
    build_error: Option<ConsumerError>,
    retry: RetryPolicy,
    dead_letter_topics: HashMap<String, String>,
    max_in_flight: usize,
    validate: bool,
    state: State,
    // Cancelled when `run` stops; subscriptions hold it to stop waiting on their streams.
    stopping: CancellationToken,
    _side: PhantomData<fn() -> S>,
}

impl<S> std::fmt::Debug for Consumer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("config", &self.config)
            .field("group_id", &self.group_id)
            .field(
                "channels",
                &self
                    .routes
                    .iter()
                    .map(|r| r.channel_id())
                    .collect::<Vec<_>>(),
            )
            .field("retry", &self.retry)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl Consumer<()> {
    /// A consumer with no side marker (use [`side`](Self::side) to set one).
    pub fn new(config: KafkaConfig) -> Self {
        Consumer {
            config,
            group_id: None,
            routes: Vec::new(),
            build_error: None,
            retry: RetryPolicy::default(),
            dead_letter_topics: HashMap::new(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            validate: true,
            state: State::default(),
            stopping: CancellationToken::new(),
            _side: PhantomData,
        }
    }
}

impl<S> Consumer<S> {
    /// Sets the side marker (`Application` / `Client`) that [`listen`](Self::listen) checks.
    pub fn side<T>(self) -> Consumer<T> {
        Consumer {
            config: self.config,
            group_id: self.group_id,
            routes: self.routes,
            build_error: self.build_error,
            retry: self.retry,
            dead_letter_topics: self.dead_letter_topics,
            max_in_flight: self.max_in_flight,
            validate: self.validate,
            state: self.state,
            stopping: self.stopping,
            _side: PhantomData,
        }
    }

    /// The consumer group (default: a listener's `group_id`, else the first channel's
    /// `groupId` binding).
    pub fn group_id(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }

    /// Handles channel `C` with `handler`.
    pub fn route<C: Channel, H: Handler<C>>(
        mut self,
        handler: H,
        options: ListenerOptions,
    ) -> Self {
        self.add_route::<C, H>(handler, options);
        self
    }

    /// Registers a `#[event_listener]` type.
    pub fn listen<L: Listener>(mut self) -> Self
    where
        S: Receives<L::Channel>,
    {
        self.add_route::<L::Channel, _>(ListenerHandler::<L>::new(), L::options());
        self
    }

    /// A stream of channel `C`'s records; settle each with `ack` / `nack`.
    pub fn subscribe<C: Channel>(&mut self) -> Subscription<C> {
        self.subscribe_with::<C>(ListenerOptions::default())
    }

    /// [`subscribe`](Self::subscribe) with per-subscription options.
    pub fn subscribe_with<C: Channel>(&mut self, options: ListenerOptions) -> Subscription<C> {
        let (forwarder, subscription) =
            subscription::channel::<C>(SUBSCRIPTION_BUFFER, self.stopping.clone());
        self.add_route::<C, _>(forwarder, options);
        subscription
    }

    fn add_route<C: Channel, H: Handler<C>>(&mut self, handler: H, options: ListenerOptions) {
        match TypedRoute::<C, H>::new(handler, options) {
            Ok(route) => self.routes.push(Arc::new(route)),
            Err(e) => {
                self.build_error.get_or_insert(e);
            }
        }
    }

    /// Retry policy for failing handlers (default: 3 attempts, 200 ms doubling to 10 s).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Dead-letter topic for records of `topic` (a concrete topic or a channel's
    /// `TOPIC` template); the default is `<topic>.dlq`.
    pub fn dead_letter_topic_for(
        mut self,
        topic: impl Into<String>,
        dlq: impl Into<String>,
    ) -> Self {
        self.dead_letter_topics.insert(topic.into(), dlq.into());
        self
    }

    /// Bound on records fetched but not yet settled, across partitions. Past it,
    /// partitions are paused until the workers catch up.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Validates payloads against the channel's JSON Schema before decoding (default on).
    pub fn validate_payloads(mut self, validate: bool) -> Self {
        self.validate = validate;
        self
    }

    /// Shares `state` with every handler: read it with `ctx.state::<T>()` (e.g. the
    /// `Application` a handler answers with).
    pub fn with_state<T: Send + Sync + 'static>(mut self, state: T) -> Self {
        self.state = State::new(state);
        self
    }

    /// Runs until Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) -> Result<(), ConsumerError> {
        let token = CancellationToken::new();
        let signal = shutdown_signal().map_err(ConsumerError::Signal)?;
        let trigger = token.clone();
        let watcher = tokio::spawn(async move {
            signal.await;
            tracing::info!("shutdown signal received");
            trigger.cancel();
        });
        let result = self.run(token).await;
        watcher.abort();
        result
    }

    /// Consumes until `shutdown` is cancelled, then stops fetching, lets in-flight
    /// handlers finish, commits and leaves the group.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ConsumerError> {
        let stopping = self.stopping.clone();
        let result = self.run_inner(shutdown).await;
        stopping.cancel();
        result
    }

    fn resolve_group(&self) -> Result<String, ConsumerError> {
        if let Some(g) = &self.group_id {
            return Ok(g.clone());
        }
        if let Some(g) = self.config.get("group.id") {
            return Ok(g.to_owned());
        }
        let mut from_options: Option<&str> = None;
        for route in &self.routes {
            if let Some(g) = route.options().group_id.as_deref() {
                match from_options {
                    Some(first) if first != g => {
                        return Err(ConsumerError::ConflictingGroupIds(
                            first.to_owned(),
                            g.to_owned(),
                        ))
                    }
                    _ => from_options = Some(g),
                }
            }
        }
        from_options
            .or_else(|| self.routes.iter().find_map(|r| r.group_id()))
            .map(str::to_owned)
            .ok_or(ConsumerError::MissingGroupId)
    }

    async fn run_inner(mut self, shutdown: CancellationToken) -> Result<(), ConsumerError> {
        if let Some(e) = self.build_error.take() {
            return Err(e);
        }
        if self.routes.is_empty() {
            return Err(ConsumerError::NoRoutes);
        }
        let group = self.resolve_group()?;
        let client_id = self.routes.iter().find_map(|r| r.client_id());

        let slots: Slots = Arc::new(Mutex::new(SlotTable::default()));
        let context = LoopContext {
            slots: slots.clone(),
            watch: ConnectionWatch::default(),
        };
        let mut defaults = vec![("auto.offset.reset", "earliest")];
        if let Some(id) = client_id {
            defaults.push(("client.id", id));
        }
        let cc = self.config.client_config(
            &defaults,
            &[
                ("group.id", group.as_str()),
                ("enable.auto.offset.store", "false"),
                ("enable.auto.commit", "true"),
            ],
        )?;
        let consumer: StreamConsumer<LoopContext> = cc
            .create_with_context(context)
            .map_err(|e| ConsumerError::Config(crate::config::ConfigError::Client(e)))?;
        let consumer = Arc::new(consumer);
        let producer = Producer::new(
            &self
                .config
                .for_producer()
                .set("client.id", format!("{group}-dlq")),
        )?;

        let mut topics: Vec<String> = Vec::new();
        for route in &self.routes {
            let sub = route.subscription();
            tracing::info!(
                channel = route.channel_id(),
                subscription = %sub,
                group = %group,
                "subscribing"
            );
            if !topics.contains(&sub) {
                topics.push(sub);
            }
        }
        let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topic_refs)?;

        // Workers stop before their next record once this fires.
        let stop_workers = CancellationToken::new();
        let env = Arc::new(WorkerEnv {
            consumer: consumer.clone(),
            routes: std::mem::take(&mut self.routes),
            producer,
            dead_letter_topics: std::mem::take(&mut self.dead_letter_topics),
            process: ProcessEnv {
                retry: self.retry,
                validate: self.validate,
                state: self.state.clone(),
            },
            in_flight: AtomicUsize::new(0),
            loop_waiting: AtomicBool::new(false),
            notify: Notify::new(),
        });
        let mut state = LoopState {
            env: env.clone(),
            slots: slots.clone(),
            workers: Vec::new(),
            max_in_flight: self.max_in_flight,
            stop_workers: stop_workers.clone(),
        };

        // One stream for the loop's life: `recv()` would register a waker per record.
        let mut messages = consumer.stream();
        let mut topic_names = TopicNames::default();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                // The flag is set while partitions are paused (see `update_waiting`).
                _ = env.notify.notified(), if env.loop_waiting.load(Ordering::SeqCst) => state.refill_paused(),
                received = messages.next() => {
                    let mut batch = Vec::new();
                    let mut failure = None;
                    match received {
                        Some(Ok(msg)) => batch.push(detach(&msg, &mut topic_names)),
                        Some(Err(e)) => failure = Some(e),
                        None => break,
                    }
                    // Take what librdkafka has already queued, up to the free window:
                    // workers are then handed runs of records, not one record per wake-up.
                    while failure.is_none() && batch.len() < state.room().min(MAX_BATCH) {
                        match messages.next().now_or_never() {
                            Some(Some(Ok(msg))) => batch.push(detach(&msg, &mut topic_names)),
                            Some(Some(Err(e))) => failure = Some(e),
                            _ => break,
                        }
                    }
                    if !batch.is_empty() {
                        if state.make_room(FLOW_CONTROL_WAIT).await {
                            // Waiting took the workers' wake-ups: serve paused partitions too.
                            state.refill_paused();
                        }
                        state.dispatch(batch);
                    }
                    if let Some(e) = failure {
                        if let Some(fatal) = fatal_error(&consumer, e) {
                            drop(messages);
                            state.stop().await;
                            drop(state);
                            drop(env);
                            close_off_workers(consumer).await;
                            return Err(fatal);
                        }
                    }
                }
            }
        }
        drop(messages);

        tracing::info!(group = %group, "stopping consumer: finishing in-flight records");
        // Subscriptions stop waiting on their streams (after a grace period for acks).
        self.stopping.cancel();
        state.stop().await;
        drop(state);
        drop(env);
        // Committing and closing block (close leaves the group): keep them off the async workers.
        let result = tokio::task::spawn_blocking(move || {
            let committed = commit_ignoring_no_offset(consumer.as_ref(), CommitMode::Sync);
            drop(consumer);
            committed
        })
        .await
        .map_err(|e| ConsumerError::Task(e.to_string()))?;
        tracing::info!(group = %group, "consumer stopped");
        result.map_err(ConsumerError::Kafka)
    }
}

/// The error that stops the loop, if `e` is one: an incurable connection failure
/// the context recorded, or one librdkafka calls fatal. Others are logged.
fn fatal_error(consumer: &StreamConsumer<LoopContext>, e: KafkaError) -> Option<ConsumerError> {
    if let Some(failure) = consumer.context().watch.failure() {
        return Some(ConsumerError::Connection(failure.clone()));
    }
    if matches!(e, KafkaError::MessageConsumptionFatal(_)) {
        tracing::error!(error = %e, "fatal consumer error");
        return Some(ConsumerError::Kafka(e));
    }
    tracing::warn!(error = %e, "consumer error");
    None
}

/// Closes the consumer (leaving the group blocks) off the async workers, without
/// committing: after a fatal error the broker would not take the commit.
async fn close_off_workers(consumer: Arc<StreamConsumer<LoopContext>>) {
    if let Err(e) = tokio::task::spawn_blocking(move || drop(consumer)).await {
        tracing::error!(error = %e, "closing the consumer failed");
    }
}

fn commit_ignoring_no_offset<C: ConsumerContext>(
    consumer: &impl rdkafka::consumer::Consumer<C>,
    mode: CommitMode,
) -> Result<(), KafkaError> {
    match consumer.commit_consumer_state(mode) {
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        other => other,
    }
}

#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

type TopicPartition = (Arc<str>, i32);
type Slots = Arc<Mutex<SlotTable>>;

/// The assigned partitions the loop has handed records to.
#[derive(Default)]
struct SlotTable {
    slots: HashMap<TopicPartition, Slot>,
    /// How many of them are paused.
    paused: usize,
}

impl SlotTable {
    /// Forgets a partition (revoked) and stops its worker; returns whether it was paused.
    fn remove(&mut self, tp: &TopicPartition) -> bool {
        let Some(slot) = self.slots.remove(tp) else {
            return false;
        };
        slot.cancel.cancel();
        if slot.paused {
            self.paused -= 1;
        }
        slot.paused
    }
}

/// The loop's view of one assigned partition.
struct Slot {
    tx: mpsc::UnboundedSender<Vec<Record>>,
    // Stops this partition's worker (revoke), without touching other partitions.
    cancel: CancellationToken,
    // Records received while paused, in order; sent to the worker before any later one.
    pending: VecDeque<Record>,
    paused: bool,
}

fn lock(slots: &Slots) -> std::sync::MutexGuard<'_, SlotTable> {
    // A poisoned lock only means a panic elsewhere mid-update of plain data; go on.
    slots.lock().unwrap_or_else(|p| p.into_inner())
}

/// Topic names shared by the records of a topic, instead of one copy per record.
#[derive(Default)]
struct TopicNames(Vec<Arc<str>>);

impl TopicNames {
    fn get(&mut self, topic: &str) -> Arc<str> {
        if let Some(name) = self.0.iter().find(|n| &***n == topic) {
            return name.clone();
        }
        let name: Arc<str> = Arc::from(topic);
        self.0.push(name.clone());
        name
    }
}

/// Shared by the loop and the partition workers.
struct WorkerEnv {
    consumer: Arc<StreamConsumer<LoopContext>>,
    routes: Vec<Arc<dyn ErasedRoute>>,
    producer: Producer,
    dead_letter_topics: HashMap<String, String>,
    process: ProcessEnv,
    /// Records handed to workers and not yet settled.
    in_flight: AtomicUsize,
    /// Set while the loop waits for workers (a full window, or paused partitions):
    /// only then do workers signal each settled record.
    loop_waiting: AtomicBool,
    notify: Notify,
}

impl WorkerEnv {
    /// `n` records left the window (settled or abandoned).
    fn release(&self, n: usize) {
        self.in_flight.fetch_sub(n, Ordering::SeqCst);
        if self.loop_waiting.load(Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }
}

struct LoopState {
    env: Arc<WorkerEnv>,
    slots: Slots,
    workers: Vec<JoinHandle<()>>,
    max_in_flight: usize,
    stop_workers: CancellationToken,
}

impl LoopState {
    /// Free places in the in-flight window (at least one: a received record is always taken).
    fn room(&self) -> usize {
        self.max_in_flight
            .saturating_sub(self.env.in_flight.load(Ordering::Acquire))
            .max(1)
    }

    /// Workers signal settled records while partitions are paused (to resume them).
    fn update_waiting(&self, table: &SlotTable) {
        self.env
            .loop_waiting
            .store(table.paused > 0, Ordering::SeqCst);
    }

    /// Waits (at most `wait`) for a free in-flight slot. Handlers that keep up free one
    /// within microseconds, so pausing, which makes librdkafka drop its prefetched
    /// records and fetch them again, is kept for partitions that really fall behind.
    /// Returns whether it waited.
    async fn make_room(&self, wait: Duration) -> bool {
        if self.env.in_flight.load(Ordering::SeqCst) < self.max_in_flight {
            return false;
        }
        self.env.loop_waiting.store(true, Ordering::SeqCst);
        // Wait down to three quarters of the bound: the loop then hands over a batch
        // per wake-up instead of running in lockstep with the workers.
        let low_water = self.max_in_flight - self.max_in_flight / 4;
        let deadline = tokio::time::Instant::now() + wait;
        while self.env.in_flight.load(Ordering::SeqCst) > low_water {
            if tokio::time::timeout_at(deadline, self.env.notify.notified())
                .await
                .is_err()
            {
                break;
            }
        }
        self.update_waiting(&lock(&self.slots));
        true
    }

    /// Hands records to their partitions' workers, one run of a partition at a time.
    fn dispatch(&mut self, records: Vec<Record>) {
        let slots = self.slots.clone();
        let mut table = lock(&slots);
        let mut run: Vec<Record> = Vec::new();
        for record in records {
            let same_partition = run
                .last()
                .is_none_or(|r| r.partition == record.partition && r.topic == record.topic);
            if !same_partition {
                self.dispatch_run(&mut table, std::mem::take(&mut run));
            }
            run.push(record);
        }
        if !run.is_empty() {
            self.dispatch_run(&mut table, run);
        }
        self.update_waiting(&table);
    }

    /// `run`: records of one partition, in order.
    fn dispatch_run(&mut self, table: &mut SlotTable, run: Vec<Record>) {
        let key = (run[0].topic.clone(), run[0].partition);
        let env = &self.env;
        let slot = table.slots.entry(key).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let cancel = self.stop_workers.child_token();
            let route = env
                .routes
                .iter()
                .find(|r| r.matches(&run[0].topic))
                .cloned();
            let handle = tokio::spawn(partition_worker(env.clone(), route, rx, cancel.clone()));
            self.workers.retain(|h| !h.is_finished());
            self.workers.push(handle);
            Slot {
                tx,
                cancel,
                pending: VecDeque::new(),
                paused: false,
            }
        });
        let full = env.in_flight.load(Ordering::Acquire) >= self.max_in_flight;
        if slot.paused || full {
            if !slot.paused {
                set_paused(&env.consumer, &run[0].topic, run[0].partition, true);
                slot.paused = true;
                table.paused += 1;
            }
            slot.pending.extend(run);
        } else {
            send_to_worker(env, slot, run);
        }
    }

    /// Moves held records to workers as capacity frees up, and resumes partitions
    /// whose backlog is gone once in-flight records fell to half the bound.
    fn refill_paused(&mut self) {
        let low_water = self.max_in_flight / 2;
        let mut table = lock(&self.slots);
        let table = &mut *table;
        for ((topic, partition), slot) in table.slots.iter_mut().filter(|(_, s)| s.paused) {
            let free = self
                .max_in_flight
                .saturating_sub(self.env.in_flight.load(Ordering::Acquire));
            let n = free.min(slot.pending.len());
            if n > 0 {
                let run: Vec<Record> = slot.pending.drain(..n).collect();
                send_to_worker(&self.env, slot, run);
            }
            if slot.pending.is_empty() && self.env.in_flight.load(Ordering::Acquire) <= low_water {
                set_paused(&self.env.consumer, topic, *partition, false);
                slot.paused = false;
                table.paused -= 1;
            }
        }
        self.update_waiting(table);
    }

    /// Stops fetching work: held records are dropped (their offsets were never
    /// stored, so they are redelivered), workers finish the record in hand.
    async fn stop(&mut self) {
        self.stop_workers.cancel();
        {
            let mut table = lock(&self.slots);
            table.slots.clear();
            table.paused = 0;
        }
        for handle in self.workers.drain(..) {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "partition worker failed");
            }
        }
    }
}

fn send_to_worker(env: &WorkerEnv, slot: &mut Slot, run: Vec<Record>) {
    let n = run.len();
    env.in_flight.fetch_add(n, Ordering::SeqCst);
    if slot.tx.send(run).is_err() {
        // Worker already stopped (revoked or stopping): the records will be redelivered.
        env.release(n);
    }
}

fn set_paused(consumer: &StreamConsumer<LoopContext>, topic: &str, partition: i32, pause: bool) {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let result = if pause {
        consumer.pause(&tpl)
    } else {
        consumer.resume(&tpl)
    };
    match result {
        Ok(()) => tracing::debug!(topic, partition, pause, "partition flow control"),
        Err(e) => {
            tracing::warn!(topic, partition, pause, error = %e, "cannot pause/resume partition")
        }
    }
}

fn detach(msg: &rdkafka::message::BorrowedMessage<'_>, topics: &mut TopicNames) -> Record {
    let (headers, unreadable) = headers::read_headers(msg);
    Record {
        topic: topics.get(msg.topic()),
        partition: msg.partition(),
        offset: msg.offset(),
        timestamp: msg
            .timestamp()
            .to_millis()
            .and_then(chrono::DateTime::from_timestamp_millis),
        key: msg.key().map(Arc::from),
        payload: msg.payload().map(<[u8]>::to_vec),
        headers: headers.into(),
        unreadable,
    }
}

/// Handles one partition's records in order. `route` is the partition's topic's route.
async fn partition_worker(
    env: Arc<WorkerEnv>,
    route: Option<Arc<dyn ErasedRoute>>,
    mut rx: mpsc::UnboundedReceiver<Vec<Record>>,
    cancel: CancellationToken,
) {
    'runs: loop {
        let run = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            run = rx.recv() => match run {
                Some(r) => r,
                None => break,
            },
        };
        let mut records = run.into_iter();
        for record in records.by_ref() {
            let span = tracing::info_span!(
                "message",
                channel = route.as_ref().map_or("?", |r| r.channel_id()),
                topic = %record.topic,
                partition = record.partition,
                offset = record.offset,
            );
            settle(&env, route.as_deref(), &record, &cancel)
                .instrument(span)
                .await;
            env.release(1);
            if cancel.is_cancelled() {
                break;
            }
        }
        // Records of the run not started are abandoned (redelivered).
        if records.len() > 0 {
            env.release(records.len());
            break 'runs;
        }
    }
    // Records still queued are abandoned (redelivered): release their in-flight count.
    rx.close();
    while let Ok(run) = rx.try_recv() {
        env.release(run.len());
    }
    env.notify.notify_one();
}

async fn settle(
    env: &WorkerEnv,
    route: Option<&dyn ErasedRoute>,
    record: &Record,
    cancel: &CancellationToken,
) {
    let Some(route) = route else {
        tracing::warn!("no route for topic; skipping record");
        store_offset(env, record);
        return;
    };
    match route.process(record, &env.process, cancel).await {
        Outcome::Done => {
            tracing::debug!("record handled");
            store_offset(env, record);
        }
        Outcome::Dead {
            reason,
            error,
            attempts,
        } => {
            tracing::error!(reason = reason.as_str(), %error, attempts, "record goes to the dead-letter topic");
            if dead_letter(env, route, record, reason, &error, attempts, cancel).await {
                store_offset(env, record);
            }
        }
        Outcome::Abandoned => {
            tracing::info!("record left for redelivery: consumer stopping or partition revoked")
        }
    }
}

fn dead_letter_topic(env: &WorkerEnv, route: &dyn ErasedRoute, topic: &str) -> String {
    route
        .options()
        .dead_letter_topic
        .clone()
        .or_else(|| env.dead_letter_topics.get(topic).cloned())
        .or_else(|| env.dead_letter_topics.get(route.channel_topic()).cloned())
        .unwrap_or_else(|| format!("{topic}.dlq"))
}

/// Produces the record to its dead-letter topic, retrying until the broker has it.
/// Returns false only if the consumer stopped first (the offset must then stay unstored).
async fn dead_letter(
    env: &WorkerEnv,
    route: &dyn ErasedRoute,
    record: &Record,
    reason: DeadReason,
    error: &str,
    attempts: u32,
    cancel: &CancellationToken,
) -> bool {
    let topic = dead_letter_topic(env, route, &record.topic);
    let mut headers = record.headers.to_vec();
    headers.extend([
        (
            DLQ_REASON_HEADER.to_owned(),
            reason.as_str().as_bytes().to_vec(),
        ),
        (DLQ_ERROR_HEADER.to_owned(), error.as_bytes().to_vec()),
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
            attempts.to_string().into_bytes(),
        ),
    ]);
    let mut payload = record.payload.as_deref().unwrap_or_default();
    let mut backoff = DLQ_BACKOFF_MIN;
    loop {
        match env
            .producer
            .send_record(&topic, record.key.as_deref(), &headers, payload)
            .await
        {
            Ok(delivery) => {
                tracing::info!(dlq = %topic, dlq_partition = delivery.partition, dlq_offset = delivery.offset, "record dead-lettered");
                return true;
            }
            Err(e) if e.is_too_large() && !payload.is_empty() => {
                // Retrying cannot help: dead-letter the record without its payload,
                // saying where the original still is, rather than block the partition.
                tracing::error!(dlq = %topic, size = payload.len(), "record too large for the dead-letter topic; sending it without its payload");
                headers.push((
                    DLQ_PAYLOAD_OMITTED_HEADER.to_owned(),
                    format!(
                        "{} bytes exceed message.max.bytes; the original is at {}/{}/{}",
                        payload.len(),
                        record.topic,
                        record.partition,
                        record.offset
                    )
                    .into_bytes(),
                ));
                payload = &[];
            }
            Err(e) => {
                tracing::error!(dlq = %topic, error = %e, "cannot produce to the dead-letter topic; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return false,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(DLQ_BACKOFF_MAX);
            }
        }
    }
}

fn store_offset(env: &WorkerEnv, record: &Record) {
    if let Err(e) = env
        .consumer
        .store_offset(&record.topic, record.partition, record.offset)
    {
        // Typically the partition was revoked meanwhile; its new owner redelivers.
        tracing::debug!(error = %e, "cannot store offset");
    }
}

/// Routes librdkafka's logs to `tracing`, records incurable connection failures,
/// commits on revoke, and stops the workers of revoked partitions.
struct LoopContext {
    slots: Slots,
    watch: ConnectionWatch,
}

impl ClientContext for LoopContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        forward_log(level, fac, message);
    }

    // Called on the loop's own poll, just before the same error reaches the stream.
    fn error(&self, error: KafkaError, reason: &str) {
        self.watch.observe(error, reason);
    }
}

impl ConsumerContext for LoopContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let revoked: Vec<(String, i32)> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                tracing::info!(?revoked, "partitions revoked; committing stored offsets");
                // Records of revoked partitions go to their new owner from the committed offset.
                let mut paused = TopicPartitionList::new();
                {
                    let mut table = lock(&self.slots);
                    for (topic, partition) in &revoked {
                        let key = (Arc::from(topic.as_str()), *partition);
                        if table.remove(&key) {
                            paused.add_partition(topic, *partition);
                        }
                    }
                }
                // Our pause was flow control for a worker that is gone: do not let it
                // outlive the assignment.
                if paused.count() > 0 {
                    if let Err(e) = consumer.resume(&paused) {
                        tracing::debug!(error = %e, "cannot resume revoked partitions");
                    }
                }
                if let Err(e) = commit_ignoring_no_offset(consumer, CommitMode::Sync) {
                    tracing::warn!(error = %e, "commit on revoke failed");
                }
            }
            Rebalance::Assign(tpl) => {
                let assigned: Vec<(String, i32)> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                tracing::info!(?assigned, "partitions assigned");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &TopicPartitionList,
    ) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::warn!(error = %e, "offset commit failed"),
        }
    }
}
