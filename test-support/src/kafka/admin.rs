//! Topic administration through the plain-text listener: create (and, on a shared
//! cluster, delete first), and who leads a partition.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::{Error, Result};

/// A topic to create.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// `None`: the cluster's `default.replication.factor`.
    pub replication: Option<i32>,
    /// Topic-level configuration (`min.insync.replicas`, `max.message.bytes`, ...).
    pub config: Vec<(String, String)>,
}

impl TopicSpec {
    pub fn new(name: &str, partitions: i32) -> Self {
        TopicSpec {
            name: name.to_owned(),
            partitions,
            replication: None,
            config: Vec::new(),
        }
    }

    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.push((key.to_owned(), value.to_owned()));
        self
    }
}

fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "3")
        .create()?)
}

fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)))
}

/// Creates `spec` and waits until metadata shows every partition with a leader.
pub(crate) fn create_topic(bootstrap: &str, spec: &TopicSpec) -> Result<()> {
    let err = |detail: String| Error::CreateTopic {
        topic: spec.name.clone(),
        partitions: spec.partitions,
        detail,
    };
    let admin = admin(bootstrap)?;
    let replication = TopicReplication::Fixed(spec.replication.unwrap_or(-1));
    let mut topic = NewTopic::new(&spec.name, spec.partitions, replication);
    for (key, value) in &spec.config {
        topic = topic.set(key, value);
    }
    let results = futures::executor::block_on(admin.create_topics([&topic], &options()))
        .map_err(|e| err(e.to_string()))?;
    for result in results {
        if let Err((_, code)) = result {
            return Err(err(format!("the broker answered {code}")));
        }
    }
    crate::wait_for_topic(
        bootstrap,
        &spec.name,
        spec.partitions,
        Duration::from_secs(30),
    )
}

/// Deletes `topic` if it exists and waits until metadata no longer shows it.
pub(crate) fn delete_topic(bootstrap: &str, topic: &str) -> Result<()> {
    let admin = admin(bootstrap)?;
    let results = futures::executor::block_on(admin.delete_topics(&[topic], &options()))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((_, code)) => {
                return Err(Error::CreateTopic {
                    topic: topic.to_owned(),
                    partitions: 0,
                    detail: format!("deleting the existing topic first: {code}"),
                })
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let md = crate::fetch_metadata(bootstrap, None, Duration::from_secs(5))?;
        if md.topics().iter().all(|t| t.name() != topic) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::CreateTopic {
                topic: topic.to_owned(),
                partitions: 0,
                detail: "the existing topic was still listed 30 s after its deletion".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The node leading `partition` of `topic`, or `None` while it has no leader.
pub(crate) fn leader_of(bootstrap: &str, topic: &str, partition: i32) -> Result<Option<usize>> {
    let md = crate::fetch_metadata(bootstrap, Some(topic), Duration::from_secs(5))?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .and_then(|t| t.partitions().iter().find(|p| p.id() == partition))
        .and_then(|p| usize::try_from(p.leader()).ok()))
}
