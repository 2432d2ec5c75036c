//! Shared code of the benchmarks (see `docs/benchmarks.md`): the typed API generated
//! from `specs/bench.yaml`, and typed/raw produce and consume loops with identical
//! settings.

pub mod synthetic;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use asyncapi_runtime::{CancellationToken, KafkaConfig, MessageContext, Outgoing, PartitionTasks};
use asyncapi_test_support::BrokerKind;
use rdkafka::consumer::{BaseConsumer, Consumer as _, StreamConsumer};
use rdkafka::message::{Header, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// The code `asyncapi!` generates for the bench document.
pub mod api {
    asyncapi_runtime::asyncapi!("specs/bench.yaml");
}

/// Producer settings shared by the typed and the raw producer (the typed one forces
/// `enable.idempotence=true` and `acks=all` itself).
pub const LINGER_MS: &str = "5";
/// Records awaited-for at most at once, by every producer loop.
pub const IN_FLIGHT: usize = 10_000;

/// What the typed consumer's listeners count into: the consumer's state.
pub struct Counting {
    pub progress: Arc<Progress>,
    /// Records expected.
    pub n: u64,
}

/// The typed consumer's listeners, one per throughput channel: the shape most services
/// have, a function of the message and the state it needs. None takes the record's
/// headers, so the consumer does not read them (as the raw loop does not).
pub mod listeners {
    use asyncapi_runtime::{event_listener, Shared};

    use super::api::Event;
    use super::Counting;

    fn count(event: Event, counting: &Counting) {
        std::hint::black_box(&event);
        counting.progress.hit(counting.n);
    }

    #[event_listener(api = crate::api, channel = "small1")]
    pub async fn on_small1(event: Event, counting: Shared<Counting>) {
        count(event, &counting);
    }

    #[event_listener(api = crate::api, channel = "small4")]
    pub async fn on_small4(event: Event, counting: Shared<Counting>) {
        count(event, &counting);
    }

    #[event_listener(api = crate::api, channel = "large1")]
    pub async fn on_large1(event: Event, counting: Shared<Counting>) {
        count(event, &counting);
    }

    #[event_listener(api = crate::api, channel = "large4")]
    pub async fn on_large4(event: Event, counting: Shared<Counting>) {
        count(event, &counting);
    }
}

/// A no-op handler that only counts what it was given (`n` records expected).
pub fn counting_handler(
    progress: Arc<Progress>,
    n: u64,
) -> impl Fn(api::Event, MessageContext) -> std::future::Ready<()> + Send + Sync + 'static {
    move |m, _ctx| {
        std::hint::black_box(&m);
        progress.hit(n);
        std::future::ready(())
    }
}

/// A numeric knob from the environment, or its default.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// True when the binary was started by `cargo bench` (which passes `--bench`);
/// `cargo test --all-targets` runs bench targets without it, and they must return at once.
pub fn bench_requested() -> bool {
    let yes = std::env::args().any(|a| a == "--bench");
    if !yes {
        println!("not started by `cargo bench`: skipping (see docs/benchmarks.md)");
    }
    yes
}

/// `config` plus the librdkafka properties of `BENCH_CONSUMER_PROPS` (`k=v,k=v`), a
/// diagnostic knob for the runtime's consumers.
pub fn consumer_config(mut config: KafkaConfig) -> KafkaConfig {
    for (k, v) in consumer_props() {
        config = config.set(k, v);
    }
    config
}

/// The `k=v` pairs of `BENCH_CONSUMER_PROPS`.
pub fn consumer_props() -> Vec<(String, String)> {
    std::env::var("BENCH_CONSUMER_PROPS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The hand-written consumer's settings: at-least-once, offsets stored by the loop.
pub fn raw_consumer_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false");
    config
}

/// The broker a bench runs on: `BENCH_BROKER=kafka` for Apache Kafka (a node the
/// harness starts, or `ASYNCAPI_TEST_KAFKA`), else the embedded mock cluster.
pub fn bench_broker() -> BrokerKind {
    match std::env::var("BENCH_BROKER").as_deref() {
        Ok("kafka") => BrokerKind::Kafka,
        _ => BrokerKind::Embedded,
    }
}

/// Which channel of the bench document (and so which topic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Small1,
    Small4,
    Large1,
    Large4,
}

impl Variant {
    pub const ALL: [Variant; 4] = [
        Variant::Small1,
        Variant::Small4,
        Variant::Large1,
        Variant::Large4,
    ];
    /// The variants named in `BENCH_VARIANTS` (`small1,large4`, ...), or all of them.
    pub fn selected() -> Vec<Variant> {
        let wanted = std::env::var("BENCH_VARIANTS").unwrap_or_default();
        Variant::ALL
            .into_iter()
            .filter(|v| wanted.is_empty() || wanted.split(',').any(|w| w.trim() == v.name()))
            .collect()
    }
    pub fn name(self) -> &'static str {
        match self {
            Variant::Small1 => "small1",
            Variant::Small4 => "small4",
            Variant::Large1 => "large1",
            Variant::Large4 => "large4",
        }
    }
    pub fn topic(self) -> &'static str {
        use asyncapi_runtime::Channel;
        match self {
            Variant::Small1 => api::channels::Small1::TOPIC,
            Variant::Small4 => api::channels::Small4::TOPIC,
            Variant::Large1 => api::channels::Large1::TOPIC,
            Variant::Large4 => api::channels::Large4::TOPIC,
        }
    }
    pub fn partitions(self) -> i32 {
        match self {
            Variant::Small1 | Variant::Large1 => 1,
            Variant::Small4 | Variant::Large4 => 4,
        }
    }
    pub fn note_len(self) -> usize {
        match self {
            Variant::Small1 | Variant::Small4 => 20,
            Variant::Large1 | Variant::Large4 => 1960,
        }
    }
    pub fn label(self) -> String {
        let size = match self {
            Variant::Small1 | Variant::Small4 => "~100 B",
            Variant::Large1 | Variant::Large4 => "~2 KiB",
        };
        format!("{size}, {} partition(s)", self.partitions())
    }
}

/// The hand-written equivalent of the generated `Event`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawEvent {
    pub id: String,
    pub seq: i64,
    pub kind: String,
    pub sent_at_micros: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default()
}

pub fn typed_event(seq: i64, note_len: usize) -> api::Event {
    api::Event {
        id: format!("evt-{seq:012}"),
        seq,
        kind: api::EventKind::Created,
        sent_at_micros: now_micros(),
        note: Some("x".repeat(note_len)),
    }
}

pub fn raw_event(seq: i64, note_len: usize) -> RawEvent {
    RawEvent {
        id: format!("evt-{seq:012}"),
        seq,
        kind: "created".to_owned(),
        sent_at_micros: now_micros(),
        note: Some("x".repeat(note_len)),
    }
}

/// Payload size in bytes of one message of `variant`.
pub fn payload_size(variant: Variant) -> usize {
    serde_json::to_vec(&raw_event(0, variant.note_len()))
        .map(|v| v.len())
        .unwrap_or_default()
}

fn rate(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// Produces `n` messages with the generated client's `enqueue_<channel>`, keeping at
/// most [`IN_FLIGHT`] deliveries outstanding. Returns messages/s.
pub async fn produce_typed(bootstrap: &str, variant: Variant, n: u64) -> anyhow::Result<f64> {
    let config = KafkaConfig::new(bootstrap).set("linger.ms", LINGER_MS);
    let client = api::Client::new(config)?;
    let note_len = variant.note_len();
    // Connection and idempotent-producer id are set up before timing starts.
    client
        .producer()
        .send::<api::channels::Latency>(Outgoing::new(&typed_event(-1, 0)))
        .await?;
    let start = Instant::now();
    let mut pending = VecDeque::with_capacity(IN_FLIGHT);
    for seq in 0..n as i64 {
        let event = typed_event(seq, note_len);
        let fut = match variant {
            Variant::Small1 => client.enqueue_small1(Outgoing::new(&event)).await?,
            Variant::Small4 => client.enqueue_small4(Outgoing::new(&event)).await?,
            Variant::Large1 => client.enqueue_large1(Outgoing::new(&event)).await?,
            Variant::Large4 => client.enqueue_large4(Outgoing::new(&event)).await?,
        };
        pending.push_back(fut);
        if pending.len() >= IN_FLIGHT {
            if let Some(f) = pending.pop_front() {
                f.await?;
            }
        }
    }
    for f in pending {
        f.await?;
    }
    Ok(rate(n, start.elapsed()))
}

/// The hand-written producer: same settings, same header, same in-flight depth.
pub fn raw_producer(bootstrap: &str) -> anyhow::Result<FutureProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", LINGER_MS)
        .create()?)
}

pub async fn produce_raw(bootstrap: &str, variant: Variant, n: u64) -> anyhow::Result<f64> {
    let producer = raw_producer(bootstrap)?;
    let topic = variant.topic();
    let note_len = variant.note_len();
    let warm = serde_json::to_vec(&raw_event(-1, 0))?;
    producer
        .send(
            FutureRecord::<(), [u8]>::to("bench.latency").payload(warm.as_slice()),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)?;
    let start = Instant::now();
    // Diagnostic: keep each payload alive until its delivery, as `DeliveryFuture` does
    // with the whole record.
    let keep = std::env::var_os("BENCH_RAW_KEEP").is_some();
    let mut kept = VecDeque::new();
    let mut pending = VecDeque::with_capacity(IN_FLIGHT);
    // Diagnostic: give each record a key, as services do (consumers then read it).
    let keyed = std::env::var_os("BENCH_KEYED").is_some();
    // Diagnostic: the whole backlog on partition 0, the others idle.
    let one_partition = std::env::var_os("BENCH_ONE_PARTITION").is_some();
    for seq in 0..n as i64 {
        let payload = serde_json::to_vec(&raw_event(seq, note_len))?;
        let key = keyed.then(|| format!("account-{seq:08}"));
        let fut = loop {
            let headers = OwnedHeaders::new_with_capacity(1).insert(Header {
                key: "content-type",
                value: Some("application/json"),
            });
            let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic)
                .payload(payload.as_slice())
                .headers(headers);
            if let Some(key) = &key {
                record = record.key(key.as_str());
            }
            if one_partition {
                record = record.partition(0);
            }
            match producer.send_result(record) {
                Ok(f) => break f,
                Err((e, _)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    tokio::time::sleep(Duration::from_millis(2)).await
                }
                Err((e, _)) => return Err(e.into()),
            }
        };
        pending.push_back(fut);
        if keep {
            kept.push_back(payload);
        }
        if pending.len() >= IN_FLIGHT {
            if let Some(f) = pending.pop_front() {
                f.await?.map_err(|(e, _)| e)?;
                kept.pop_front();
            }
        }
    }
    for f in pending {
        f.await?.map_err(|(e, _)| e)?;
    }
    Ok(rate(n, start.elapsed()))
}

/// Records currently retained in `topic` (the mock cluster drops old ones).
pub fn backlog(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<u64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let mut total = 0;
    for p in 0..partitions {
        let (lo, hi) = c.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        total += (hi - lo).max(0) as u64;
    }
    Ok(total)
}

/// Counts handled records; remembers when the first and the `n`-th were handled.
#[derive(Default)]
pub struct Progress {
    count: AtomicU64,
    first: OnceLock<Instant>,
    last: OnceLock<Instant>,
    done: tokio::sync::Notify,
}

impl Progress {
    pub fn hit(&self, n: u64) {
        self.first.get_or_init(Instant::now);
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == n {
            self.last.get_or_init(Instant::now);
            self.done.notify_one();
        }
    }
    /// Messages/s between the first and the `n`-th record (group join excluded).
    pub fn rate(&self, n: u64) -> anyhow::Result<f64> {
        let (Some(a), Some(b)) = (self.first.get(), self.last.get()) else {
            return Err(anyhow!("not finished"));
        };
        Ok(rate(n.saturating_sub(1).max(1), b.duration_since(*a)))
    }
    pub async fn wait(&self, timeout: Duration) -> anyhow::Result<()> {
        if self.last.get().is_some() {
            return Ok(());
        }
        tokio::time::timeout(timeout, self.done.notified())
            .await
            .map_err(|_| {
                anyhow!(
                    "timed out after {} of the expected records",
                    self.count.load(Ordering::Acquire)
                )
            })
    }
}

static GROUP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A consumer group no run used before, so each run reads the backlog from the start.
pub fn fresh_group(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        GROUP_SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// The typed consumer's placement: the default (a task per partition), or one task
/// for all with `BENCH_PARTITION_TASKS=shared` (to compare the two).
pub fn partition_tasks() -> PartitionTasks {
    match std::env::var("BENCH_PARTITION_TASKS").as_deref() {
        Ok("shared") => PartitionTasks::Shared,
        _ => PartitionTasks::default(),
    }
}

/// Drains `n` records of `variant`'s topic through the runtime's `Consumer` loop with
/// a no-op handler. Returns messages/s.
pub async fn consume_typed(
    bootstrap: &str,
    variant: Variant,
    n: u64,
    validate: bool,
) -> anyhow::Result<f64> {
    let app = api::Application::new(consumer_config(KafkaConfig::new(bootstrap)))?;
    let progress = Arc::new(Progress::default());
    let consumer = app
        .consumer()
        .group_id(fresh_group("typed"))
        .validate_payloads(validate)
        .partition_tasks(partition_tasks())
        .with_state(Counting {
            progress: progress.clone(),
            n,
        });
    let consumer = match variant {
        Variant::Small1 => consumer.listen::<listeners::on_small1>(),
        Variant::Small4 => consumer.listen::<listeners::on_small4>(),
        Variant::Large1 => consumer.listen::<listeners::on_large1>(),
        Variant::Large4 => consumer.listen::<listeners::on_large4>(),
    };
    let token = CancellationToken::new();
    tracing::info!("typed run starts");
    let task = tokio::spawn(consumer.run(token.clone()));
    let waited = progress.wait(Duration::from_secs(120)).await;
    tracing::info!("typed run ends: {:?}", progress.rate(n).ok());
    token.cancel();
    task.await?.context("consumer loop")?;
    waited?;
    progress.rate(n)
}

/// The hand-written loop: `StreamConsumer`, serde decode, offset stored after decode.
pub async fn consume_raw(bootstrap: &str, variant: Variant, n: u64) -> anyhow::Result<f64> {
    let consumer: StreamConsumer = raw_consumer_config(bootstrap, &fresh_group("raw")).create()?;
    consumer.subscribe(&[variant.topic()])?;
    let progress = Progress::default();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Diagnostic: mimic the runtime's flow control (pause, then resume, every N records)
    // and time the calls.
    let pause_every: u64 = std::env::var("BENCH_RAW_PAUSE_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (mut seen, mut pause_time, mut pauses) = (0u64, Duration::ZERO, 0u32);
    // Diagnostic: the raw loop also reads each record's headers, as the runtime does.
    let read_headers = std::env::var_os("BENCH_RAW_HEADERS").is_some();
    while progress.last.get().is_none() {
        if Instant::now() > deadline {
            return Err(anyhow!("raw consumer timed out"));
        }
        let msg = consumer.recv().await?;
        if read_headers {
            // What any consumer that looks at a header (content type, trace context)
            // pays: librdkafka parses a record's headers on first access.
            use rdkafka::message::Headers as _;
            if let Some(headers) = msg.headers() {
                std::hint::black_box(
                    headers
                        .iter()
                        .map(|h| h.value.map_or(0, <[u8]>::len))
                        .sum::<usize>(),
                );
            }
        }
        let event: RawEvent =
            serde_json::from_slice(msg.payload().ok_or_else(|| anyhow!("empty payload"))?)?;
        std::hint::black_box(&event);
        consumer.store_offset(msg.topic(), msg.partition(), msg.offset())?;
        seen += 1;
        if pause_every > 0 && seen % pause_every == 0 {
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition(msg.topic(), msg.partition());
            drop(msg);
            let t = Instant::now();
            consumer.pause(&tpl)?;
            consumer.resume(&tpl)?;
            pause_time += t.elapsed();
            pauses += 1;
        }
        progress.hit(n);
    }
    if pauses > 0 {
        eprintln!("raw diagnostic: {pauses} pause+resume calls took {pause_time:?} in all");
    }
    progress.rate(n)
}

/// Latencies collected by a handler, in microseconds.
pub type Samples = Arc<Mutex<Vec<i64>>>;

/// Value at quantile `q` (0..=1) of sorted samples.
pub fn quantile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Median of a few measurements.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
}

/// Peak resident set size of this process, in KiB (`VmHWM`).
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
