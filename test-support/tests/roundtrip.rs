//! Produce 1,000 records, consume them all back in a group with manual offset
//! store + commit, then check a second group member gets nothing: on both brokers.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use asyncapi_test_support::{Broker, BrokerKind, TestBroker};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

const RECORDS: usize = 1_000;
const PARTITIONS: i32 = 2;

fn consumer(bootstrap: &str, group: &str) -> StreamConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer config is valid")
}

async fn roundtrip(kind: BrokerKind) {
    let broker = TestBroker::start(kind).unwrap_or_else(|e| panic!("starting {kind}: {e}"));
    let bootstrap = broker.bootstrap_servers();
    let topic = "roundtrip";
    broker
        .create_topic(topic, PARTITIONS)
        .unwrap_or_else(|e| panic!("{kind}: {e}"));

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer config is valid");
    let sends = (0..RECORDS).map(|i| {
        let producer = &producer;
        async move {
            let key = format!("key-{i}");
            let payload = format!("record-{i}");
            producer
                .send(
                    FutureRecord::to(topic).key(&key).payload(&payload),
                    Duration::from_secs(5),
                )
                .await
        }
    });
    let results = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(sends))
        .await
        .unwrap_or_else(|_| panic!("{kind}: producing {RECORDS} records took over 60 s"));
    let mut per_partition: HashMap<i32, usize> = HashMap::new();
    for (i, r) in results.into_iter().enumerate() {
        let delivery = r.unwrap_or_else(|(e, _)| panic!("{kind}: record {i} not delivered: {e}"));
        *per_partition.entry(delivery.partition).or_default() += 1;
    }
    assert_eq!(
        per_partition.len(),
        PARTITIONS as usize,
        "{kind}: keys spread over both partitions"
    );

    // First member: read everything, store each offset, commit.
    let group = "roundtrip-group";
    let first = consumer(&bootstrap, group);
    first.subscribe(&[topic]).expect("subscribe");
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < RECORDS {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{kind}: consumed only {} of {RECORDS} within 60 s",
            seen.len()
        );
        let msg = match tokio::time::timeout(left, first.recv()).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => panic!("{kind}: consumer error: {e}"),
            Err(_) => continue,
        };
        let payload = std::str::from_utf8(msg.payload().unwrap_or_default()).unwrap_or_default();
        let n: usize = payload
            .strip_prefix("record-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{kind}: unexpected payload {payload:?}"));
        seen.insert(n);
        first.store_offset_from_message(&msg).expect("store offset");
    }
    assert_eq!(
        seen,
        (0..RECORDS).collect::<BTreeSet<_>>(),
        "{kind}: every record once"
    );
    first
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit");
    // The committed offsets add up to the number of records.
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let committed = first
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    let total: i64 = committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            other => panic!(
                "{kind}: partition {} has no committed offset: {other:?}",
                e.partition()
            ),
        })
        .sum();
    assert_eq!(total, RECORDS as i64, "{kind}: committed offsets");
    drop(first);

    // Second member of the same group: assigned both partitions, receives nothing.
    let second = consumer(&bootstrap, group);
    second.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut received = 0usize;
    // Poll until the group assigns both partitions (a record arriving here is a failure).
    loop {
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), second.recv()).await {
            received += 1;
        }
        let assigned = second.assignment().map(|a| a.count()).unwrap_or(0);
        if assigned == PARTITIONS as usize {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{kind}: second consumer got no assignment within 30 s"
        );
    }
    let listen_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < listen_until {
        match tokio::time::timeout(Duration::from_millis(500), second.recv()).await {
            Ok(Ok(_)) => received += 1,
            Ok(Err(e)) => panic!("{kind}: consumer error: {e}"),
            Err(_) => {}
        }
    }
    println!(
        "{kind}: produced {RECORDS} ({per_partition:?} per partition), consumed {}, second consumer received {received}",
        seen.len()
    );
    assert_eq!(
        received, 0,
        "{kind}: offsets were committed, the second consumer must get nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundtrip_embedded() {
    tokio::time::timeout(Duration::from_secs(180), roundtrip(BrokerKind::Embedded))
        .await
        .expect("roundtrip on the embedded broker finished within 180 s");
}

#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundtrip_kafka() {
    tokio::time::timeout(Duration::from_secs(180), roundtrip(BrokerKind::Kafka))
        .await
        .expect("roundtrip on Kafka finished within 180 s");
}
