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
pub enum AdminError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("admin request failed: {0}")]
    Kafka(#[from] KafkaError),
    #[error("cannot create topic `{topic}`: {code}")]
    CreateTopic {
        topic: String,
        code: RDKafkaErrorCode,
    },
}

/// Creates the topics that do not exist yet, with `partitions` partitions and the
/// broker's default replication factor. Existing topics are left as they are.
pub async fn ensure_topics(
    config: &KafkaConfig,
    topics: &[&str],
    partitions: i32,
) -> Result<(), AdminError> {
    let client: AdminClient<DefaultClientContext> =
        config.for_producer().client_config(&[], &[])?.create()?;
    // -1: the broker's `default.replication.factor` (Kafka >= 2.4).
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(-1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in client.create_topics(&new, &options).await? {
        match result {
            Ok(topic) => tracing::info!(%topic, partitions, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(AdminError::CreateTopic { topic, code }),
        }
    }
    Ok(())
}
