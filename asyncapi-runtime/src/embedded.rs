//! An in-process Kafka (librdkafka's mock cluster) so examples and tests run with no
//! broker installed.
//!
//! Limits of the mock: each partition keeps only about 5 MiB of records, and the
//! topic admin API is not supported (use [`EmbeddedKafka::create_topic`]). Topics
//! auto-created by a producer get the mock's own default of 4 partitions.

use std::ffi::{CStr, CString};
use std::fmt;

use rdkafka::bindings as rdsys;
use rdkafka::producer::{BaseProducer, Producer as _};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaMockCluster};
use rdkafka::ClientConfig;

use crate::admin::TopicSpec;
use crate::error::EmbeddedError;

/// The mock cluster handle. librdkafka serialises every mock call through the mock
/// cluster's own thread (requests are posted to its op queue), so the handle may be
/// used from any thread.
struct MockHandle(*mut RDKafkaMockCluster);

// SAFETY: see `MockHandle`; the pointer is only dereferenced by librdkafka, whose
// mock API is thread-safe, and it is destroyed exactly once in `EmbeddedKafka::drop`.
unsafe impl Send for MockHandle {}
// SAFETY: as above; no method mutates Rust-side state.
unsafe impl Sync for MockHandle {}

/// A running in-process Kafka cluster (one broker). Shut down on drop.
pub struct EmbeddedKafka {
    mock: MockHandle,
    // The librdkafka instance the mock cluster lives on; must outlive `mock`.
    _client: BaseProducer,
    bootstrap: String,
    default_partitions: i32,
}

impl fmt::Debug for EmbeddedKafka {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedKafka")
            .field("bootstrap", &self.bootstrap)
            .field("default_partitions", &self.default_partitions)
            .finish()
    }
}

impl EmbeddedKafka {
    /// Starts a one-broker mock cluster. `default_partitions` is the partition count
    /// [`create_topics`](Self::create_topics) uses.
    pub fn start(default_partitions: i32) -> Result<EmbeddedKafka, EmbeddedError> {
        let mut cc = ClientConfig::new();
        // Only a host for the mock; it never connects anywhere.
        cc.set("bootstrap.servers", "localhost:1")
            .set("log_level", "3");
        let client: BaseProducer = cc.create().map_err(EmbeddedError::Start)?;
        // SAFETY: the client pointer is valid for the call; the cluster is destroyed
        // before the client (see `Drop`).
        let raw = unsafe { rdsys::rd_kafka_mock_cluster_new(client.client().native_ptr(), 1) };
        if raw.is_null() {
            return Err(EmbeddedError::Start(
                rdkafka::error::KafkaError::MockCluster(RDKafkaErrorCode::Fail),
            ));
        }
        // SAFETY: `raw` is a live cluster; the returned string is owned by it and
        // copied before any other call.
        let bootstrap = unsafe {
            CStr::from_ptr(rdsys::rd_kafka_mock_cluster_bootstraps(raw))
                .to_string_lossy()
                .into_owned()
        };
        // Group joins otherwise wait 3 s for more members before the first assignment.
        // SAFETY: `raw` is a live cluster.
        unsafe { rdsys::rd_kafka_mock_group_initial_rebalance_delay_ms(raw, 0) };
        tracing::debug!(%bootstrap, "embedded Kafka started");
        Ok(EmbeddedKafka {
            mock: MockHandle(raw),
            _client: client,
            bootstrap,
            default_partitions: default_partitions.max(1),
        })
    }

    /// The `bootstrap.servers` value clients should use.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// A [`KafkaConfig`](crate::KafkaConfig) pointing at this cluster.
    pub fn config(&self) -> crate::KafkaConfig {
        crate::KafkaConfig::new(self.bootstrap.clone())
    }

    /// Makes `topic` refuse clients as if an ACL denied them (its metadata answers
    /// `TOPIC_AUTHORIZATION_FAILED`): sends to it fail at once. For testing a
    /// service's behaviour when a topic it needs is unusable.
    pub fn deny_access(&self, topic: &str) -> Result<(), EmbeddedError> {
        let c_name = CString::new(topic).map_err(|_| EmbeddedError::TopicName(topic.to_owned()))?;
        // SAFETY: live cluster, valid NUL-terminated name for the duration of the call.
        unsafe {
            rdsys::rd_kafka_mock_topic_set_error(
                self.mock.0,
                c_name.as_ptr(),
                rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
            )
        };
        Ok(())
    }

    /// Creates a topic with `partitions` partitions; a no-op if it exists already.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), EmbeddedError> {
        let c_name = CString::new(name).map_err(|_| EmbeddedError::TopicName(name.to_owned()))?;
        // SAFETY: live cluster, valid NUL-terminated name for the duration of the call.
        let err = unsafe {
            rdsys::rd_kafka_mock_topic_create(self.mock.0, c_name.as_ptr(), partitions.max(1), 1)
        };
        let code = RDKafkaErrorCode::from(err);
        match code {
            RDKafkaErrorCode::NoError | RDKafkaErrorCode::TopicAlreadyExists => Ok(()),
            code => Err(EmbeddedError::CreateTopic {
                topic: name.to_owned(),
                code,
            }),
        }
    }

    /// Creates the topics a side needs (`Application::TOPIC_SPECS`), each with its
    /// spec's partition count or else the cluster's default. The mock cluster has one
    /// broker and no topic configs: replicas and configs are not applied.
    pub fn create_topics(&self, topics: &[TopicSpec<'_>]) -> Result<(), EmbeddedError> {
        crate::admin::first_of_each_name(topics).try_for_each(|spec| {
            self.create_topic(spec.name, spec.partitions_or(self.default_partitions))
        })
    }
}

impl Drop for EmbeddedKafka {
    fn drop(&mut self) {
        // SAFETY: created in `start`, destroyed once, before `_client` is dropped.
        unsafe { rdsys::rd_kafka_mock_cluster_destroy(self.mock.0) };
    }
}

/// The broker of an example or a local run, with the topics a side needs: the cluster
/// `KAFKA_BOOTSTRAP_SERVERS` names (topics created there when missing), or else an
/// embedded one (topics created on it). One call, then build the side from
/// [`config`](Self::config).
#[derive(Debug)]
pub struct LocalKafka {
    embedded: Option<EmbeddedKafka>,
    config: crate::KafkaConfig,
}

/// A [`LocalKafka`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalKafkaError {
    /// The embedded broker did not start or refused a topic.
    #[error("cannot start the embedded broker: {0}")]
    Embedded(#[from] EmbeddedError),
    /// The cluster `KAFKA_BOOTSTRAP_SERVERS` names did not create the topics.
    #[error("cannot create the topics on KAFKA_BOOTSTRAP_SERVERS: {0}")]
    Topics(#[from] crate::AdminError),
}

impl LocalKafka {
    /// Connects or starts, and creates `topics` (e.g. `Application::TOPIC_SPECS`) with
    /// `default_partitions` where a spec names none.
    pub async fn start(
        topics: &[TopicSpec<'_>],
        default_partitions: i32,
    ) -> Result<LocalKafka, LocalKafkaError> {
        let from_env = std::env::var(crate::config::ENV_BOOTSTRAP_SERVERS)
            .ok()
            .filter(|servers| !servers.trim().is_empty());
        if let Some(servers) = from_env {
            let config = crate::KafkaConfig::new(servers.trim());
            crate::admin::ensure_topics(&config, topics, default_partitions).await?;
            return Ok(LocalKafka {
                embedded: None,
                config,
            });
        }
        let embedded = EmbeddedKafka::start(default_partitions)?;
        embedded.create_topics(topics)?;
        let config = embedded.config();
        Ok(LocalKafka {
            embedded: Some(embedded),
            config,
        })
    }

    /// The configuration to build clients with.
    pub fn config(&self) -> crate::KafkaConfig {
        self.config.clone()
    }

    /// The embedded broker, when no external one was named.
    pub fn embedded(&self) -> Option<&EmbeddedKafka> {
        self.embedded.as_ref()
    }
}

impl fmt::Display for LocalKafka {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.embedded {
            Some(embedded) => write!(
                f,
                "embedded mock cluster at {}",
                embedded.bootstrap_servers()
            ),
            None => write!(
                f,
                "{} ({})",
                self.config.bootstrap_servers().unwrap_or("?"),
                crate::config::ENV_BOOTSTRAP_SERVERS
            ),
        }
    }
}
