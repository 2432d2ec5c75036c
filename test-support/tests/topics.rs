//! The topics a side needs, created as the document's Kafka bindings describe them
//! (`partitions`, `replicas`, `topicConfiguration`): on the embedded broker by
//! `EmbeddedKafka::create_topics`, on Apache Kafka by the generated `ensure_topics`.

use std::time::Duration;

use asyncapi_runtime::{EmbeddedKafka, KafkaConfig, TopicSpec};
use rdkafka::consumer::{BaseConsumer, Consumer as _};

mod ledger {
    asyncapi_runtime::asyncapi!("tests/specs/bound-topics.yaml");
}

use ledger::Application;

/// Partition counts of `topics`, from the broker's metadata.
fn partition_counts(config: &KafkaConfig, topics: &[&str]) -> Vec<usize> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set(
            "bootstrap.servers",
            config.get("bootstrap.servers").unwrap(),
        )
        .create()
        .unwrap();
    topics
        .iter()
        .map(|topic| {
            let metadata = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .unwrap();
            metadata.topics()[0].partitions().len()
        })
        .collect()
}

#[test]
fn topic_specs_carry_the_kafka_binding() {
    let entries = Application::TOPIC_SPECS
        .iter()
        .find(|s| s.name == "ledger.entries")
        .unwrap();
    assert_eq!(entries.partitions, Some(3));
    assert_eq!(entries.replicas, Some(1));
    assert_eq!(
        entries.config,
        &[
            ("cleanup.policy", "compact,delete"),
            ("retention.ms", "86400000")
        ]
    );
    let names: Vec<&str> = Application::TOPIC_SPECS.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        ["ledger.entries", "ledger.audit", "ledger.entries.dlq"]
    );
    assert_eq!(
        Application::TOPIC_SPECS[1],
        TopicSpec::named("ledger.audit"),
        "a channel without a binding gets the caller's defaults"
    );
}

#[test]
fn embedded_broker_creates_every_topic_with_its_partitions_in_one_call() {
    let broker = EmbeddedKafka::start(2).unwrap();
    broker.create_topics(Application::TOPIC_SPECS).unwrap();
    let counts = partition_counts(
        &broker.config(),
        &["ledger.entries", "ledger.audit", "ledger.entries.dlq"],
    );
    assert_eq!(counts, [3, 2, 2]);
}

#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_ensure_topics_applies_partitions_replicas_and_configs() {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;

    let kafka = asyncapi_test_support::kafka::Kafka::start().expect("start Apache Kafka");
    let app = Application::new(kafka.config()).unwrap();
    let mut created = app.ensure_topics(1).await.unwrap();
    created.sort();
    assert_eq!(
        created,
        ["ledger.audit", "ledger.entries", "ledger.entries.dlq"]
    );
    // A second call finds every topic and leaves it as it is.
    assert_eq!(app.ensure_topics(1).await.unwrap(), Vec::<String>::new());
    let counts = partition_counts(
        app.config(),
        &["ledger.entries", "ledger.audit", "ledger.entries.dlq"],
    );
    assert_eq!(counts, [3, 1, 1]);

    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .create()
        .unwrap();
    let described = admin
        .describe_configs(
            &[ResourceSpecifier::Topic("ledger.entries")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    let resource = described.into_iter().next().unwrap().unwrap();
    let value = |name: &str| {
        resource
            .get(name)
            .and_then(|entry| entry.value.clone())
            .unwrap_or_default()
    };
    assert_eq!(value("cleanup.policy"), "compact,delete");
    assert_eq!(value("retention.ms"), "86400000");
}

/// `LocalKafka` on the cluster `KAFKA_BOOTSTRAP_SERVERS` names: both sides' topics
/// (which share names) created in one call, with the bindings' partitions.
#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_local_kafka_creates_both_sides_topics_on_the_named_cluster() {
    let kafka = asyncapi_test_support::kafka::Kafka::start().expect("start Apache Kafka");
    // Only this test of this binary reads the variable.
    std::env::set_var("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers());
    let topics = [Application::TOPIC_SPECS, ledger::Client::TOPIC_SPECS].concat();
    let local = asyncapi_runtime::LocalKafka::start(&topics, 2)
        .await
        .unwrap();
    assert!(local.embedded().is_none());
    assert!(
        local.to_string().ends_with("(KAFKA_BOOTSTRAP_SERVERS)"),
        "{local}"
    );
    let counts = partition_counts(
        &local.config(),
        &[
            "ledger.entries",
            "ledger.audit",
            "ledger.entries.dlq",
            "ledger.audit.dlq",
        ],
    );
    assert_eq!(counts, [3, 2, 2, 2]);
}
