//! Brokers for integration tests.
//!
//! - [`kafka::Kafka`]: Apache Kafka itself (KRaft mode), one node or a three-node
//!   cluster, started from the jars of `test-support/kafka/pom.xml` on free loopback
//!   ports, in a temp dir, killed on drop; nodes can be killed, stopped and restarted.
//!   `ASYNCAPI_TEST_KAFKA=host:port` points the same tests at an existing cluster.
//! - [`EmbeddedKafka`]: the runtime's in-process cluster (librdkafka's mock cluster,
//!   `asyncapi_runtime::EmbeddedKafka`): nothing to install.
//! - [`TestBroker`] / [`Broker`]: one test body, either broker ([`BrokerKind`]).

pub mod fault;
pub mod foreign;
pub mod kafka;
mod process;

use std::fmt;

pub use asyncapi_runtime::EmbeddedKafka;
pub use kafka::{ClientListener, ExternalKafka, Kafka, KafkaOptions, TopicSpec};

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{tool} is needed to run Apache Kafka for tests: {hint}")]
    ToolMissing { tool: &'static str, hint: String },
    #[error("fetching the Kafka jars with Maven failed ({status}):\n{output}")]
    Maven { status: String, output: String },
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
    #[error("the cluster has nodes 1 to {count}; there is no node {id}")]
    NoSuchNode { id: usize, count: usize },
    #[error("the foreign producer could not produce: {0}")]
    Foreign(String),
    #[error("creating the test certificates: {0}")]
    Tls(String),
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
    /// Apache Kafka: a node the harness starts, or the cluster of `ASYNCAPI_TEST_KAFKA`.
    Kafka,
}

impl BrokerKind {
    pub const ALL: [BrokerKind; 2] = [BrokerKind::Embedded, BrokerKind::Kafka];
}

impl fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokerKind::Embedded => "embedded",
            BrokerKind::Kafka => "kafka",
        })
    }
}

/// What a test needs from a broker.
pub trait Broker: Send + Sync {
    fn kind(&self) -> BrokerKind;
    /// `host:port` list for `bootstrap.servers`.
    fn bootstrap_servers(&self) -> String;
    /// Creates a topic and waits until its metadata shows every partition.
    fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.create_topic_spec(&TopicSpec::new(name, partitions))
    }
    /// Creates a topic with topic-level configuration (which the embedded cluster
    /// ignores: it enforces no topic limits) and waits for its metadata.
    fn create_topic_spec(&self, spec: &TopicSpec) -> Result<()>;
    /// A runtime configuration pointing at this broker.
    fn config(&self) -> asyncapi_runtime::KafkaConfig {
        asyncapi_runtime::KafkaConfig::new(self.bootstrap_servers())
    }
    /// A topic every send to fails at once: one with an invalid name (longer than
    /// 249 characters and with spaces), which Kafka refuses; the embedded cluster
    /// accepts any name, so there the topic is made to deny access.
    fn unwritable_topic(&self) -> Result<String> {
        Ok(format!("no such topic {}", "x".repeat(250)))
    }
}

/// A started broker of either kind.
pub enum TestBroker {
    Embedded(EmbeddedKafka),
    Kafka(Kafka),
    External(ExternalKafka),
}

impl TestBroker {
    /// Starts a broker of `kind` (blocking: Kafka takes some seconds; the first start
    /// on a machine also fetches its jars). For `Kafka`, `ASYNCAPI_TEST_KAFKA` selects
    /// an existing cluster instead.
    pub fn start(kind: BrokerKind) -> Result<Self> {
        Ok(match kind {
            BrokerKind::Embedded => TestBroker::Embedded(EmbeddedKafka::start(1)?),
            BrokerKind::Kafka => match ExternalKafka::from_env() {
                Some(bootstrap) => TestBroker::External(ExternalKafka::connect(bootstrap)?),
                None => TestBroker::Kafka(Kafka::start()?),
            },
        })
    }

    /// The Kafka cluster this harness started, for killing and restarting nodes
    /// (`None` on the embedded cluster and on an external one).
    pub fn kafka_mut(&mut self) -> Option<&mut Kafka> {
        match self {
            TestBroker::Kafka(k) => Some(k),
            TestBroker::Embedded(_) | TestBroker::External(_) => None,
        }
    }
}

impl Broker for TestBroker {
    fn kind(&self) -> BrokerKind {
        match self {
            TestBroker::Embedded(_) => BrokerKind::Embedded,
            TestBroker::Kafka(_) | TestBroker::External(_) => BrokerKind::Kafka,
        }
    }

    fn bootstrap_servers(&self) -> String {
        match self {
            TestBroker::Embedded(b) => Broker::bootstrap_servers(b),
            TestBroker::Kafka(b) => b.bootstrap_servers(),
            TestBroker::External(b) => b.bootstrap_servers().to_owned(),
        }
    }

    fn create_topic_spec(&self, spec: &TopicSpec) -> Result<()> {
        match self {
            TestBroker::Embedded(b) => b.create_topic_spec(spec),
            TestBroker::Kafka(b) => b.create_topic_spec(spec),
            TestBroker::External(b) => b.create_topic_spec(spec),
        }
    }

    fn unwritable_topic(&self) -> Result<String> {
        match self {
            TestBroker::Embedded(b) => b.unwritable_topic(),
            TestBroker::Kafka(_) | TestBroker::External(_) => {
                Ok(format!("no such topic {}", "x".repeat(250)))
            }
        }
    }

    fn config(&self) -> asyncapi_runtime::KafkaConfig {
        match self {
            TestBroker::Embedded(b) => Broker::config(b),
            TestBroker::Kafka(b) => b.config(),
            TestBroker::External(b) => asyncapi_runtime::KafkaConfig::new(b.bootstrap_servers()),
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
    fn unwritable_topic(&self) -> Result<String> {
        let topic = "access.denied";
        self.deny_access(topic)?;
        Ok(topic.to_owned())
    }
    /// Creates the topic (replication factor 1), then waits until metadata shows it.
    fn create_topic_spec(&self, spec: &TopicSpec) -> Result<()> {
        EmbeddedKafka::create_topic(self, &spec.name, spec.partitions)?;
        wait_for_topic(
            EmbeddedKafka::bootstrap_servers(self),
            &spec.name,
            spec.partitions,
            std::time::Duration::from_secs(10),
        )
    }
}

impl Broker for Kafka {
    fn kind(&self) -> BrokerKind {
        BrokerKind::Kafka
    }
    fn bootstrap_servers(&self) -> String {
        Kafka::bootstrap_servers(self)
    }
    fn create_topic_spec(&self, spec: &TopicSpec) -> Result<()> {
        Kafka::create_topic_spec(self, spec)
    }
    fn config(&self) -> asyncapi_runtime::KafkaConfig {
        Kafka::config(self)
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
