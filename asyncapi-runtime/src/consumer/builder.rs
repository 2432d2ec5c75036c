//! The consumer: a builder for a group member that hands each record to its
//! channel's typed handler.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::dead_letter::{DeadLetterFailure, DeadLetters};
use super::group;
use super::handler::{Handler, Listener, ListenerHandler, ListenerOptions, State};
use super::health::Health;
use super::placement::PartitionTasks;
use super::reply::{ListenerReplies, ReplyHandler, ReplyListener, Replying};
use super::route::{ErasedRoute, HandlingSettings, RetryPolicy, TypedRoute};
use super::settle::Pipeline;
use super::subscription::{self, Subscription};
use crate::config::KafkaConfig;
use crate::contract::{Channel, Receives};
use crate::error::ConsumerError;
use crate::producer::Producer;
use crate::request::{Replies, Request};

const DEFAULT_DEAD_LETTER_ATTEMPTS: u32 = 5;
const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// librdkafka's prefetch per partition (its default, 64 MiB, is meant for one queue
/// shared by all partitions).
const PREFETCH_KBYTES_PER_PARTITION: &str = "8192";
/// How long librdkafka waits before fetching for a partition whose queue was full
/// (its default, 1 s). With 8 MiB per queue a worker empties a full queue of 2 KiB
/// records in about 10 ms and would then wait out the rest of the second: on Kafka, a
/// 90,000 record backlog read at 0.17 of a raw loop with 1 s, 0.86-0.91 with 10 ms
/// (`docs/benchmarks.md`). Not 0: each wake-up re-checks the queue, which costs CPU.
const FETCH_QUEUE_BACKOFF_MS: &str = "10";
/// How much one fetch asks for per partition (librdkafka's default, 1 MiB). A worker
/// reads 1 MiB of 2 KiB records in about a millisecond, about a fetch's round trip to
/// a broker: one partition's backlog on Kafka was read at the speed of the fetches,
/// 310-320k records/s, and at 470-570k with 4 MiB (`docs/benchmarks.md`). A fetch's
/// total stays bounded by `fetch.max.bytes` (50 MiB); a queue may exceed its prefetch
/// bound by one fetch.
const MAX_PARTITION_FETCH_BYTES: &str = "4194304";
/// How long a broker may hold a fetch that finds no records (librdkafka's default,
/// 500 ms). librdkafka sends one fetch at a time to a broker and leaves a partition
/// whose queue is full out of it: the fetch that goes out then asks only for the idle
/// partitions, the broker holds it, and the full partition is fetched for again only
/// after it, however soon its queue runs dry (8 MiB of 2 KiB records last about 13 ms
/// at 300k records/s). A backlog on one partition of four, the others idle, read on
/// Kafka at 0.29 of a raw loop's speed with 500 ms and at 1.01 with 10 ms (medians;
/// `docs/benchmarks.md`). The cost: a consumer with nothing to read sends up to 100
/// fetches a second to each broker it reads from.
const FETCH_WAIT_MAX_MS: &str = "10";
const SUBSCRIPTION_BUFFER: usize = 16;

/// A consumer-group member dispatching records to typed handlers.
///
/// `S` is a generated side marker (`Application`, `Client`): [`listen`](Self::listen),
/// [`route`](Self::route) and [`subscribe`](Self::subscribe) only accept channels that
/// side receives from. A consumer made with [`new`](Consumer::new) has no side and
/// receives from any channel.
pub struct Consumer<S = ()> {
    config: KafkaConfig,
    group_id: Option<String>,
    routes: Vec<Arc<dyn ErasedRoute>>,
    build_error: Option<ConsumerError>,
    retry: RetryPolicy,
    dead_letter_topics: HashMap<String, String>,
    dead_letter_attempts: u32,
    on_dead_letter_failure: DeadLetterFailure,
    handler_timeout: Duration,
    drain_timeout: Duration,
    partition_tasks: PartitionTasks,
    validate: bool,
    state: State,
    health: Health,
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
            .field("handler_timeout", &self.handler_timeout)
            .field("drain_timeout", &self.drain_timeout)
            .field("partition_tasks", &self.partition_tasks)
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
            dead_letter_attempts: DEFAULT_DEAD_LETTER_ATTEMPTS,
            on_dead_letter_failure: DeadLetterFailure::default(),
            handler_timeout: DEFAULT_HANDLER_TIMEOUT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            partition_tasks: PartitionTasks::default(),
            validate: true,
            state: State::default(),
            health: Health::default(),
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
            dead_letter_attempts: self.dead_letter_attempts,
            on_dead_letter_failure: self.on_dead_letter_failure,
            handler_timeout: self.handler_timeout,
            drain_timeout: self.drain_timeout,
            partition_tasks: self.partition_tasks,
            validate: self.validate,
            state: self.state,
            health: self.health,
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
    pub fn route<C: Channel, H: Handler<C>>(mut self, handler: H, options: ListenerOptions) -> Self
    where
        S: Receives<C>,
    {
        self.add_route::<C, H>(handler, options, <S as Receives<C>>::MESSAGES);
        self
    }

    /// Answers requests on channel `C` (a channel whose operation has a `reply`):
    /// `handler` returns the reply, which is sent to the requester's reply topic with
    /// the request's correlation id before the request counts as handled. An error is
    /// retried and dead-lettered as for [`route`](Self::route); a request without a
    /// correlation id, or naming a reply topic that is not a topic name, is
    /// dead-lettered at once.
    pub fn reply<C: Request>(
        mut self,
        handler: impl ReplyHandler<C>,
        options: ListenerOptions,
    ) -> Self
    where
        S: Replies<C>,
    {
        match Producer::new(&self.config.for_producer()) {
            Ok(producer) => self.add_route::<C, _>(
                Replying::new(handler, producer),
                options,
                <S as Receives<C>>::MESSAGES,
            ),
            Err(e) => {
                self.build_error.get_or_insert(e.into());
            }
        }
        self
    }

    /// Registers a `#[event_listener]` that answers requests: its function returns the
    /// reply (`Result<Reply, E>`), sent as for [`reply`](Self::reply).
    pub fn answer<L: ReplyListener>(self) -> Self
    where
        S: Replies<L::Channel>,
    {
        self.reply::<L::Channel>(ListenerReplies::<L>::new(), L::options())
    }

    /// Registers a `#[event_listener]` type.
    pub fn listen<L: Listener>(mut self) -> Self
    where
        S: Receives<L::Channel>,
    {
        self.add_route::<L::Channel, _>(
            ListenerHandler::<L>::new(),
            L::options(),
            <S as Receives<L::Channel>>::MESSAGES,
        );
        self
    }

    /// A stream of channel `C`'s records; settle each with `ack` / `nack`.
    pub fn subscribe<C: Channel>(&mut self) -> Subscription<C>
    where
        S: Receives<C>,
    {
        self.subscribe_with::<C>(ListenerOptions::default())
    }

    /// [`subscribe`](Self::subscribe) with per-subscription options. A subscription
    /// has no time limit unless `options.timeout` sets one; it then covers the whole
    /// hand-over, from the record entering the stream to its `ack`.
    pub fn subscribe_with<C: Channel>(&mut self, mut options: ListenerOptions) -> Subscription<C>
    where
        S: Receives<C>,
    {
        // The consumer's handler time limit is for handlers: a stream's reader may
        // hold records in its buffer, or take its time to settle them.
        options.timeout.get_or_insert(Duration::MAX);
        let (forwarder, subscription) =
            subscription::channel::<C>(SUBSCRIPTION_BUFFER, self.stopping.clone());
        self.add_route::<C, _>(forwarder, options, <S as Receives<C>>::MESSAGES);
        subscription
    }

    /// `receives`: the channel's messages this side receives, if not all of them.
    fn add_route<C: Channel, H: Handler<C>>(
        &mut self,
        handler: H,
        options: ListenerOptions,
        receives: Option<&'static [&'static str]>,
    ) {
        match TypedRoute::<C, H>::new(handler, options, receives) {
            Ok(route) => self.routes.push(Arc::new(route)),
            Err(e) => {
                self.build_error.get_or_insert(e);
            }
        }
    }

    /// Every handler that reads the state finds the type it needs.
    fn check_state(&self) -> Result<(), ConsumerError> {
        for route in &self.routes {
            let options = route.options();
            for requirement in options.state.iter().chain(&options.other_state) {
                if !self.state.satisfies(requirement) {
                    return Err(ConsumerError::MissingState {
                        channel: route.channel_id(),
                        expected: requirement.type_name(),
                    });
                }
            }
        }
        Ok(())
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

    /// Dead-letter sends tried per record before `on_dead_letter_failure` applies
    /// (default 5, 100 ms doubling to 5 s apart).
    pub fn dead_letter_attempts(mut self, attempts: u32) -> Self {
        self.dead_letter_attempts = attempts.max(1);
        self
    }

    /// What happens when a record's dead-letter sends keep failing (default: that
    /// partition waits and is reported stuck by [`health`](Self::health)).
    pub fn on_dead_letter_failure(mut self, policy: DeadLetterFailure) -> Self {
        self.on_dead_letter_failure = policy;
        self
    }

    /// How long one handler call may take before it counts as a failed attempt
    /// (default 60 s; a listener's `timeout` overrides it).
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// How long records in hand may finish when their partitions are revoked or the
    /// consumer stops (default 30 s). Past it they are abandoned unstored and
    /// redelivered to the partition's next reader.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Where the workers of the consumer's partitions run (default
    /// [`PartitionTasks::PerPartition`]: a task each; [`PartitionTasks::Shared`]: one
    /// task for all of them, at most one thread at a time).
    pub fn partition_tasks(mut self, placement: PartitionTasks) -> Self {
        self.partition_tasks = placement;
        self
    }

    /// A live view of the partitions this consumer owns and whether any is stuck,
    /// for a health endpoint. Take it before [`run`](Self::run).
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Validates payloads against the channel's JSON Schema before decoding (default on).
    pub fn validate_payloads(mut self, validate: bool) -> Self {
        self.validate = validate;
        self
    }

    /// Shares `state` with every handler: a listener takes it as a `Shared<T>`
    /// parameter (checked when the consumer starts), a closure reads it with
    /// `ctx.state::<T>()`.
    pub fn with_state<T: Send + Sync + 'static>(mut self, state: T) -> Self {
        self.state = State::new(state);
        self
    }

    /// [`with_state`](Self::with_state) for a value the caller keeps a handle to (e.g.
    /// the `Application` a handler answers with): handlers get a `Shared<T>` of it.
    pub fn with_shared_state<T: Send + Sync + 'static>(mut self, state: Arc<T>) -> Self {
        self.state = State::shared(state);
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
        #[cfg(feature = "testing")]
        if let Some(memory) = self.config.memory().cloned() {
            let registration = crate::testing::Registered::new(memory);
            return self.consume_in_memory(registration, shutdown).await;
        }
        let assembled = self.assemble()?;
        let membership = group::Membership {
            client: assembled.client,
            group: assembled.group,
            topics: assembled.topics,
            pipeline: assembled.pipeline,
            fatal: assembled.fatal,
            health: self.health.clone(),
            drain_timeout: self.drain_timeout,
            partition_tasks: self.partition_tasks,
        };
        group::run(membership, shutdown, self.stopping.clone()).await
    }

    /// Runs on the in-memory broker it was started on (`TestBroker::start`).
    #[cfg(feature = "testing")]
    pub(crate) async fn run_in_memory(
        mut self,
        registration: crate::testing::Registered,
        shutdown: CancellationToken,
    ) -> Result<(), ConsumerError> {
        if !registration.is_on(self.config.memory()) {
            return Err(ConsumerError::NotOnTestBroker);
        }
        let stopping = self.stopping.clone();
        let result = self.consume_in_memory(registration, shutdown).await;
        stopping.cancel();
        result
    }

    /// Assembles and consumes the in-memory broker `registration` is on.
    #[cfg(feature = "testing")]
    async fn consume_in_memory(
        &mut self,
        registration: crate::testing::Registered,
        shutdown: CancellationToken,
    ) -> Result<(), ConsumerError> {
        let assembled = self.assemble()?;
        let health = self.health.clone();
        crate::testing::consume(
            registration,
            assembled.group,
            assembled.pipeline,
            assembled.fatal,
            health,
            shutdown,
        )
        .await
    }

    /// Checks the routes and state and builds what consuming needs: the group, the
    /// client configuration, the topics and the pipeline records go through.
    fn assemble(&mut self) -> Result<Assembled, ConsumerError> {
        if let Some(e) = self.build_error.take() {
            return Err(e);
        }
        if self.routes.is_empty() {
            return Err(ConsumerError::NoRoutes);
        }
        self.check_state()?;
        let group = self.resolve_group()?;
        let client_id = self.routes.iter().find_map(|r| r.client_id());
        let mut defaults = vec![
            ("auto.offset.reset", "earliest"),
            // Each partition has its own queue, and this bound applies per queue.
            ("queued.max.messages.kbytes", PREFETCH_KBYTES_PER_PARTITION),
            ("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS),
            ("max.partition.fetch.bytes", MAX_PARTITION_FETCH_BYTES),
            ("fetch.wait.max.ms", FETCH_WAIT_MAX_MS),
        ];
        if let Some(id) = client_id {
            defaults.push(("client.id", id));
        }
        defaults.extend_from_slice(crate::telemetry::CLIENT_DEFAULTS);
        let client = self.config.client_config(
            &defaults,
            &[
                ("group.id", group.as_str()),
                ("enable.auto.offset.store", "false"),
                ("enable.auto.commit", "true"),
            ],
        )?;
        let producer = Producer::new(
            &self
                .config
                .for_producer()
                .set("client.id", format!("{group}-dlq")),
        )?;
        let mut topics: Vec<String> = Vec::new();
        for route in &self.routes {
            let sub = route.subscription();
            tracing::info!(channel = route.channel_id(), subscription = %sub, group = %group, "subscribing");
            if topics.contains(&sub) {
                // A record goes to one route: the second would never get any.
                return Err(ConsumerError::DuplicateRoute {
                    channel: route.channel_id(),
                });
            }
            topics.push(sub);
        }
        let (fatal_tx, fatal) = tokio::sync::mpsc::unbounded_channel();
        let pipeline = Pipeline {
            routes: std::mem::take(&mut self.routes),
            settings: HandlingSettings {
                retry: self.retry,
                validate: self.validate,
                state: self.state.clone(),
                handler_timeout: self.handler_timeout,
            },
            dead_letters: DeadLetters {
                producer,
                topics: std::mem::take(&mut self.dead_letter_topics),
                attempts: self.dead_letter_attempts,
                on_failure: self.on_dead_letter_failure,
            },
            fatal: fatal_tx,
        };
        Ok(Assembled {
            client,
            group,
            topics,
            pipeline: Arc::new(pipeline),
            fatal,
        })
    }
}

/// A consumer's parts, checked and built, before it joins a group.
struct Assembled {
    client: rdkafka::ClientConfig,
    group: String,
    topics: Vec<String>,
    pipeline: Arc<Pipeline>,
    fatal: tokio::sync::mpsc::UnboundedReceiver<ConsumerError>,
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
