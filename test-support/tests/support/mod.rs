//! Channels and messages written by hand the way `asyncapi!` generates them, plus
//! helpers to drive a broker, and [`broker_tests!`] to run one body on both brokers.
#![allow(dead_code)]

pub mod procs;

use asyncapi_test_support::{BrokerKind, TestBroker};

/// Per-test bound, broker start included.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(180);

/// Starts a broker of `kind` off the async workers; panics with the harness error
/// (for Kafka: what to install when Java or Maven is missing; never skipped).
pub async fn start_broker(kind: BrokerKind) -> TestBroker {
    init_tracing();
    tokio::task::spawn_blocking(move || TestBroker::start(kind))
        .await
        .expect("broker start task")
        .unwrap_or_else(|e| panic!("starting the {kind} broker: {e}"))
}

/// Runs `body` against a fresh broker of `kind`, within [`TEST_TIMEOUT`].
pub async fn run_on<F>(kind: BrokerKind, body: F)
where
    F: for<'a> FnOnce(&'a TestBroker) -> std::pin::Pin<Box<dyn Future<Output = ()> + 'a>>,
{
    let broker = start_broker(kind).await;
    tokio::time::timeout(TEST_TIMEOUT, body(&broker))
        .await
        .unwrap_or_else(|_| panic!("test on {kind} did not finish within {TEST_TIMEOUT:?}"));
}

/// How long the runtime of a [`broker_test`] may take to shut down after the body:
/// the tasks left are dropped at once, so only a task blocking one of its threads
/// takes longer (which would otherwise hang the test for good).
const RUNTIME_SHUTDOWN_LIMIT: Duration = Duration::from_secs(15);

/// Runs `body` on a runtime of two worker threads, as [`run_on`], in [`on_test_runtime`].
pub fn broker_test<F>(kind: BrokerKind, body: F)
where
    F: for<'a> FnOnce(&'a TestBroker) -> std::pin::Pin<Box<dyn Future<Output = ()> + 'a>>,
{
    on_test_runtime(run_on(kind, body));
}

/// Runs `test` on a runtime of two worker threads; then fails if the runtime does not
/// shut down within [`RUNTIME_SHUTDOWN_LIMIT`]: something left a blocking call on one
/// of its threads.
pub fn on_test_runtime(test: impl Future<Output = ()>) {
    on_test_runtime_within(RUNTIME_SHUTDOWN_LIMIT, test);
}

/// [`on_test_runtime`] with a shutdown limit of its own.
pub fn on_test_runtime_within(shutdown_limit: Duration, test: impl Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime");
    // A failed test shuts the runtime down the same way: dropping it would wait for a
    // blocked thread for good.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(test)));
    let shutdown = std::time::Instant::now();
    runtime.shutdown_timeout(shutdown_limit);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert!(
        shutdown.elapsed() < shutdown_limit,
        "the test's runtime did not shut down within {shutdown_limit:?}: a task blocks one of its threads"
    );
}

/// `broker_tests!(a, b)` turns `async fn a(kafka: &dyn Broker)` into the tests
/// `embedded::a` (always) and `kafka::a` (with `--features kafka`: Apache Kafka, or the
/// cluster of `ASYNCAPI_TEST_KAFKA`).
#[macro_export]
macro_rules! broker_tests {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[test]
                fn $name() {
                    $crate::support::broker_test(
                        asyncapi_test_support::BrokerKind::Embedded,
                        |b| Box::pin(super::$name(b)),
                    )
                }
            )*
        }
        #[cfg(feature = "kafka")]
        mod kafka {
            $(
                #[test]
                fn $name() {
                    $crate::support::broker_test(
                        asyncapi_test_support::BrokerKind::Kafka,
                        |b| Box::pin(super::$name(b)),
                    )
                }
            )*
        }
    };
}

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use asyncapi_runtime::__private::codec;
use asyncapi_runtime::{
    Channel, ChannelParameters, Consumer, ConsumerError, DecodeError, EncodeError, HeaderSet,
    Message, RawHeader, RawHeaders, Receives,
};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,librdkafka=error".into()),
        )
        .with_test_writer()
        .try_init();
}

// ---- channel `userSignups`: topic `user.signedup`, no parameters ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSignedUp {
    pub user_id: String,
    pub email: String,
    pub seq: u64,
}

impl Message for UserSignedUp {
    const NAME: &'static str = "UserSignedUp";
    const CONTENT_TYPE: &'static str = "application/json";
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        codec::encode_json(self)
    }
    fn decode(bytes: &[u8], _content_type: Option<&str>) -> Result<Self, DecodeError> {
        codec::decode_json(bytes, Self::NAME)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignupHeaders {
    // Optional: most tests send without headers; a required header is tested through
    // a generated channel (`tests/specs/traced.yaml`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

impl HeaderSet for SignupHeaders {
    fn to_kafka_headers(&self) -> Result<Vec<RawHeader>, EncodeError> {
        codec::encode_headers(self)
    }
    fn from_kafka_headers(headers: &[RawHeader]) -> Result<Self, DecodeError> {
        codec::decode_headers(headers, &["trace_id"])
    }
}

/// `seq` must be at least 1 per the schema, which serde does not check: a record
/// with `seq: 0` decodes but is schema-invalid.
pub const SIGNUP_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["user_id", "email", "seq"],
  "properties": {
    "user_id": {"type": "string", "minLength": 1},
    "email": {"type": "string", "format": "email"},
    "seq": {"type": "integer", "minimum": 1}
  }
}"#;

pub struct UserSignups;

impl Channel for UserSignups {
    const ID: &'static str = "userSignups";
    const ADDRESS: &'static str = "user/signedup";
    const TOPIC: &'static str = "user.signedup";
    const GROUP_ID: Option<&'static str> = Some("signup-service");
    const PAYLOAD_SCHEMA: Option<&'static str> = Some(SIGNUP_SCHEMA);
    type Message = UserSignedUp;
    type Parameters = asyncapi_runtime::NoParameters;
    type Key = String;
    type Headers = SignupHeaders;
}

// ---- channel `userEvents`: topic `user.{userId}.events` ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEvent {
    pub kind: String,
}

impl Message for UserEvent {
    const NAME: &'static str = "UserEvent";
    const CONTENT_TYPE: &'static str = "application/json";
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        codec::encode_json(self)
    }
    fn decode(bytes: &[u8], _content_type: Option<&str>) -> Result<Self, DecodeError> {
        codec::decode_json(bytes, Self::NAME)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEventsParameters {
    pub user_id: String,
}

impl ChannelParameters for UserEventsParameters {
    fn values(&self) -> Vec<Cow<'_, str>> {
        vec![Cow::Borrowed(&self.user_id)]
    }
    fn from_values(values: &[&str]) -> Result<Self, DecodeError> {
        match values {
            [user_id] => Ok(UserEventsParameters {
                user_id: (*user_id).to_owned(),
            }),
            _ => Err(DecodeError::Parameter {
                name: "userId",
                reason: format!("expected 1 value, got {}", values.len()),
            }),
        }
    }
}

pub struct UserEvents;

impl Channel for UserEvents {
    const ID: &'static str = "userEvents";
    const ADDRESS: &'static str = "user/{userId}/events";
    const TOPIC: &'static str = "user.{userId}.events";
    const PARAMETER_NAMES: &'static [&'static str] = &["userId"];
    type Message = UserEvent;
    type Parameters = UserEventsParameters;
    type Key = Vec<u8>;
    type Headers = RawHeaders;
}

/// The generated side marker of the service that receives both channels.
pub struct Application;
impl Receives<UserSignups> for Application {}
impl Receives<UserEvents> for Application {}

pub fn signup(seq: u64) -> UserSignedUp {
    UserSignedUp {
        user_id: format!("user-{seq}"),
        email: format!("user{seq}@example.com"),
        seq,
    }
}

// ---- helpers ----

pub const SIGNUPS: &str = "user.signedup";
pub const SIGNUPS_DLQ: &str = "user.signedup.dlq";

/// Creates the signups topic and its dead-letter topic (the test brokers do not
/// auto-create topics).
pub fn cluster(kafka: &dyn asyncapi_test_support::Broker, partitions: i32) {
    kafka
        .create_topic(SIGNUPS, partitions)
        .expect("create topic");
    kafka
        .create_topic(SIGNUPS_DLQ, partitions)
        .expect("create dead-letter topic");
}

/// Retries a few milliseconds apart, so retry tests take no time.
pub fn fast_retry(max_attempts: u32) -> asyncapi_runtime::RetryPolicy {
    asyncapi_runtime::RetryPolicy::default()
        .max_attempts(max_attempts)
        .initial_backoff(Duration::from_millis(10))
        .max_backoff(Duration::from_millis(50))
}

pub fn spawn<S: Send + 'static>(
    consumer: Consumer<S>,
) -> (CancellationToken, JoinHandle<Result<(), ConsumerError>>) {
    let token = CancellationToken::new();
    let handle = tokio::spawn(consumer.run(token.clone()));
    (token, handle)
}

/// Stops a consumer and returns its result; fails the test if it does not stop.
pub async fn stop(token: CancellationToken, handle: JoinHandle<Result<(), ConsumerError>>) {
    token.cancel();
    tokio::time::timeout(Duration::from_secs(20), handle)
        .await
        .expect("consumer did not stop within 20 s")
        .expect("consumer task panicked")
        .expect("consumer returned an error");
}

/// Polls `cond` until it holds; panics with `what` after `secs` seconds.
pub async fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn with_timeout<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs} s: {what}"))
}

/// A record read back with a plain rdkafka consumer.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<RawHeader>,
}

impl RawRecord {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// Reads exactly `n` records from `topic` (fresh group, from the start), then keeps
/// listening for `grace_ms` to catch extra ones.
pub async fn read_topic(bootstrap: &str, topic: &str, n: usize, grace_ms: u64) -> Vec<RawRecord> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader consumer");
    consumer.subscribe(&[topic]).expect("subscribe reader");
    let mut out = Vec::new();
    let read = async {
        while out.len() < n {
            // Errors such as "topic not yet available" are transient here.
            if let Ok(m) = consumer.recv().await {
                out.push(raw(&m));
            }
        }
    };
    with_timeout(20, &format!("reading {n} records from {topic}"), read).await;
    while let Ok(Ok(m)) =
        tokio::time::timeout(Duration::from_millis(grace_ms), consumer.recv()).await
    {
        out.push(raw(&m));
    }
    out
}

fn raw(m: &rdkafka::message::BorrowedMessage<'_>) -> RawRecord {
    RawRecord {
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        headers: m
            .headers()
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
            .unwrap_or_default(),
    }
}
