//! Topic administration for real brokers (the embedded mock cluster creates topics with
//! its own call: `EmbeddedKafka::create_topic`).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::KafkaConfig;
use crate::error::{ConfigError, KafkaError};

/// A topic could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The admin client's configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The admin request itself failed (no broker answered, time-out, ...).
    #[error("admin request failed: {0}")]
    Kafka(#[from] KafkaError),
    /// The broker refused to create one topic.
    #[error("cannot create topic `{topic}`: {code}")]
    CreateTopic {
        /// The topic that was not created.
        topic: String,
        /// The broker's answer.
        code: RDKafkaErrorCode,
    },
}

/// A topic a side needs, with what the document's Kafka binding says of it
/// (generated as `Application::TOPIC_SPECS` / `Client::TOPIC_SPECS`, which borrow
/// `'static` strings; a tool reading a document at run time borrows its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpec<'a> {
    /// The topic's name.
    pub name: &'a str,
    /// `bindings.kafka.partitions`; `None`: the caller's default.
    pub partitions: Option<i32>,
    /// `bindings.kafka.replicas`; `None`: the broker's `default.replication.factor`.
    pub replicas: Option<i32>,
    /// `bindings.kafka.topicConfiguration`, as topic configs (`cleanup.policy`,
    /// `retention.ms`, ...).
    pub config: &'a [(&'a str, &'a str)],
}

impl<'a> TopicSpec<'a> {
    /// A topic the document says nothing more of than its name.
    pub const fn named(name: &'a str) -> TopicSpec<'a> {
        TopicSpec {
            name,
            partitions: None,
            replicas: None,
            config: &[],
        }
    }

    /// The partition count to create the topic with.
    pub fn partitions_or(&self, default_partitions: i32) -> i32 {
        self.partitions.unwrap_or(default_partitions).max(1)
    }
}

/// Creates the topics that do not exist yet, each with the partitions, replicas and
/// configs its spec gives (`default_partitions` and the broker's default replication
/// factor where it gives none), and returns the names of those it created. Existing
/// topics are left as they are; a name given twice (both sides' specs together) is
/// created once, as its first spec says.
pub async fn ensure_topics(
    config: &KafkaConfig,
    topics: &[TopicSpec<'_>],
    default_partitions: i32,
) -> Result<Vec<String>, AdminError> {
    let client: AdminClient<DefaultClientContext> =
        config.for_producer().client_config(&[], &[])?.create()?;
    let new: Vec<NewTopic<'_>> = first_of_each_name(topics)
        .map(|spec| {
            // -1: the broker's `default.replication.factor` (Kafka >= 2.4).
            let replication = TopicReplication::Fixed(spec.replicas.unwrap_or(-1));
            let topic = NewTopic::new(
                spec.name,
                spec.partitions_or(default_partitions),
                replication,
            );
            spec.config
                .iter()
                .fold(topic, |topic, (name, value)| topic.set(name, value))
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let mut created = Vec::new();
    for result in client.create_topics(&new, &options).await? {
        match result {
            Ok(topic) => {
                tracing::info!(%topic, "created topic");
                created.push(topic);
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(AdminError::CreateTopic { topic, code }),
        }
    }
    Ok(created)
}

/// `topics` without the specs whose name an earlier one has: a broker refuses a
/// request that names a topic twice.
pub(crate) fn first_of_each_name<'s, 'a>(
    topics: &'s [TopicSpec<'a>],
) -> impl Iterator<Item = &'s TopicSpec<'a>> {
    topics
        .iter()
        .enumerate()
        .filter(|(index, spec)| {
            !topics[..*index]
                .iter()
                .any(|earlier| earlier.name == spec.name)
        })
        .map(|(_, spec)| spec)
}
