//! Real Kafka-compatible brokers for integration tests.
//!
//! - [`tansu::Tansu`]: a `tansu` broker process (a Kafka-compatible broker in Rust) on a
//!   free loopback port, in a fresh temp dir, killed on drop; can be stopped and
//!   restarted on the same port for broker-outage tests.
//! - [`EmbeddedKafka`]: the runtime's in-process cluster (librdkafka's mock cluster,
//!   `asyncapi_runtime::EmbeddedKafka`).
//! - [`TestBroker`] / [`Broker`]: one test body, either broker ([`BrokerKind`]).

pub mod fault;
pub mod tansu;

use std::fmt;

pub use asyncapi_runtime::EmbeddedKafka;
pub use tansu::Tansu;

/// The install command for the tansu binary the harness expects.
pub const TANSU_INSTALL: &str = "cargo install tansu --version 0.6.0 --locked --features dynostore";

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the tansu broker binary was not found ({searched}); install it with `{TANSU_INSTALL}` \
         or point TANSU_BIN at it"
    )]
    TansuNotFound { searched: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("broker at {bootstrap} did not answer Kafka metadata within {waited_ms} ms: {last_error}\n--- broker log tail ---\n{log_tail}")]
    NotReady {
        bootstrap: String,
        waited_ms: u128,
        last_error: String,
        log_tail: String,
    },
    #[error("broker process exited early ({status}) at {bootstrap}\n--- broker log tail ---\n{log_tail}")]
    Exited {
        bootstrap: String,
        status: String,
        log_tail: String,
    },
    #[error("creating topic `{topic}` with {partitions} partitions failed: {detail}")]
    CreateTopic {
        topic: String,
        partitions: i32,
        detail: String,
    },
    #[error("broker is stopped")]
    Stopped,
    #[error("kafka client error: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("embedded cluster: {0}")]
    Embedded(#[from] asyncapi_runtime::EmbeddedError),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which broker a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrokerKind {
    /// librdkafka's in-process mock cluster.
    Embedded,
    /// A real `tansu` broker process.
    Tansu,
}

impl BrokerKind {
    pub const ALL: [BrokerKind; 2] = [BrokerKind::Embedded, BrokerKind::Tansu];
}

impl fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokerKind::Embedded => "embedded",
            BrokerKind::Tansu => "tansu",
        })
    }
}

/// What a test needs from a broker.
pub trait Broker: Send + Sync {
    fn kind(&self) -> BrokerKind;
    /// `host:port` list for `bootstrap.servers`.
    fn bootstrap_servers(&self) -> String;
    /// Creates a topic and waits until its metadata shows every partition.
    fn create_topic(&self, name: &str, partitions: i32) -> Result<()>;
    /// A runtime configuration pointing at this broker.
    fn config(&self) -> asyncapi_runtime::KafkaConfig {
        asyncapi_runtime::KafkaConfig::new(self.bootstrap_servers())
    }
}

/// A started broker of either kind.
pub enum TestBroker {
    Embedded(EmbeddedKafka),
    Tansu(Tansu),
}

impl TestBroker {
    /// Starts a broker of `kind` (blocking: at most ~20 s for tansu).
    pub fn start(kind: BrokerKind) -> Result<Self> {
        Ok(match kind {
            BrokerKind::Embedded => TestBroker::Embedded(EmbeddedKafka::start(1)?),
            BrokerKind::Tansu => TestBroker::Tansu(Tansu::start()?),
        })
    }
}

impl TestBroker {
    /// The tansu broker, for stop/restart (`None` on the embedded cluster).
    pub fn tansu_mut(&mut self) -> Option<&mut Tansu> {
        match self {
            TestBroker::Tansu(t) => Some(t),
            TestBroker::Embedded(_) => None,
        }
    }
}

impl Broker for TestBroker {
    fn kind(&self) -> BrokerKind {
        match self {
            TestBroker::Embedded(_) => BrokerKind::Embedded,
            TestBroker::Tansu(_) => BrokerKind::Tansu,
        }
    }

    fn bootstrap_servers(&self) -> String {
        match self {
            TestBroker::Embedded(b) => Broker::bootstrap_servers(b),
            TestBroker::Tansu(b) => Broker::bootstrap_servers(b),
        }
    }

    fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        match self {
            TestBroker::Embedded(b) => Broker::create_topic(b, name, partitions),
            TestBroker::Tansu(b) => Broker::create_topic(b, name, partitions),
        }
    }

    fn config(&self) -> asyncapi_runtime::KafkaConfig {
        match self {
            TestBroker::Embedded(b) => Broker::config(b),
            TestBroker::Tansu(b) => Broker::config(b),
        }
    }
}

impl Broker for EmbeddedKafka {
    fn kind(&self) -> BrokerKind {
        BrokerKind::Embedded
    }
    fn bootstrap_servers(&self) -> String {
        EmbeddedKafka::bootstrap_servers(self).to_owned()
    }
    /// Creates the topic (replication factor 1), then waits until metadata shows it.
    fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        EmbeddedKafka::create_topic(self, name, partitions)?;
        wait_for_topic(
            EmbeddedKafka::bootstrap_servers(self),
            name,
            partitions,
            std::time::Duration::from_secs(10),
        )
    }
}

impl Broker for Tansu {
    fn kind(&self) -> BrokerKind {
        BrokerKind::Tansu
    }
    fn bootstrap_servers(&self) -> String {
        Tansu::bootstrap_servers(self)
    }
    fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        Tansu::create_topic(self, name, partitions)
    }
    /// One record per batch: tansu 0.6.0 answers a fetch that starts inside a record
    /// batch with no data, so a consumer resuming (after a pause, a restart or a
    /// rebalance) mid-batch would stall. Real Kafka returns the enclosing batch.
    fn config(&self) -> asyncapi_runtime::KafkaConfig {
        asyncapi_runtime::KafkaConfig::new(Tansu::bootstrap_servers(self))
            .set("batch.num.messages", "1")
    }
}

/// Fetches metadata once from `bootstrap` (optionally for one topic) with a short timeout.
pub(crate) fn fetch_metadata(
    bootstrap: &str,
    topic: Option<&str>,
    timeout: std::time::Duration,
) -> Result<rdkafka::metadata::Metadata> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("allow.auto.create.topics", "false")
        .set("log_level", "3")
        .create()?;
    Ok(consumer.fetch_metadata(topic, timeout)?)
}

/// Waits until `topic` shows `partitions` partitions, each with a leader.
pub(crate) fn wait_for_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    within: std::time::Duration,
) -> Result<()> {
    let deadline = std::time::Instant::now() + within;
    let mut last;
    loop {
        match fetch_metadata(bootstrap, Some(topic), std::time::Duration::from_secs(2)) {
            Ok(md) => {
                let found = md.topics().iter().find(|t| t.name() == topic);
                match found {
                    Some(t)
                        if t.error().is_none()
                            && t.partitions().len() == partitions as usize
                            && t.partitions().iter().all(|p| p.leader() >= 0) =>
                    {
                        return Ok(())
                    }
                    Some(t) => {
                        last = format!(
                            "metadata shows {} partitions, error {:?}",
                            t.partitions().len(),
                            t.error()
                        )
                    }
                    None => last = "topic absent from metadata".to_owned(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::CreateTopic {
                topic: topic.to_owned(),
                partitions,
                detail: format!("not visible in metadata within {within:?}: {last}"),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
