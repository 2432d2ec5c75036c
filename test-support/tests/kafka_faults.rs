//! Fault tests that need Apache Kafka itself (`--features kafka`): a group that keeps
//! changing under load, a partition leader killed on a three-node cluster, and a broker
//! restarted on its own data. Each prints its figures (`--nocapture`); they are
//! recorded in docs/testing.md. Random points are seeded: `FAULT_SEED=<n>` reproduces.
//! These tests kill and restart nodes, so they always start their own cluster (also
//! when `ASYNCAPI_TEST_KAFKA` names one).
#![cfg(feature = "kafka")]

#[macro_use]
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncapi_runtime::{KafkaConfig, Outgoing, Producer, SendError};
use asyncapi_test_support::fault::{event, FaultEvent, FaultEvents, LogLine, Rng, DLQ, TOPIC};
use asyncapi_test_support::{Kafka, KafkaOptions};
use support::procs::*;
use support::*;

/// Starts a cluster off the async workers (Kafka takes seconds to start).
async fn start_kafka(options: KafkaOptions) -> Kafka {
    init_tracing();
    tokio::task::spawn_blocking(move || Kafka::start_with(options))
        .await
        .expect("kafka start task")
        .unwrap_or_else(|e| panic!("starting Kafka: {e}"))
}

/// What happened to one send.
#[derive(Debug)]
enum Outcome {
    Acked { at: Instant },
    Failed { error: String },
}

/// The variant name and Kafka error code of a send error: typed, never the record.
fn error_kind(e: &SendError) -> String {
    let code = match e {
        SendError::Delivery { source, .. } | SendError::Enqueue { source, .. } => {
            format!("{:?}", source.rdkafka_error_code())
        }
        _ => String::new(),
    };
    let variant = format!("{e:?}");
    let variant = variant
        .split([' ', '{', '('])
        .next()
        .unwrap_or("")
        .to_owned();
    format!("{variant}({code})")
}

/// Sends ids `0..n` with key `id % keys`, one every `every`, each awaited in its own
/// task; returns every outcome once all sends returned.
async fn paced_sends(
    producer: Producer,
    n: u64,
    keys: u64,
    every: Duration,
) -> BTreeMap<u64, Outcome> {
    let outcomes: Arc<Mutex<BTreeMap<u64, Outcome>>> = Arc::default();
    let mut tasks = Vec::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for id in 0..n {
        tick.tick().await;
        let producer = producer.clone();
        let outcomes = outcomes.clone();
        tasks.push(tokio::spawn(async move {
            let key = (id % keys).to_string();
            let ev = event(id);
            let outcome = match producer
                .send::<FaultEvents>(Outgoing::new(&ev).key(&key))
                .await
            {
                Ok(_) => Outcome::Acked { at: Instant::now() },
                Err(e) => Outcome::Failed {
                    error: error_kind(&e),
                },
            };
            outcomes.lock().unwrap().insert(id, outcome);
        }));
    }
    for task in tasks {
        task.await.expect("send task");
    }
    let taken = std::mem::take(&mut *outcomes.lock().unwrap());
    taken
}

/// Ids present in the topic: every partition read from its start to its high watermark
/// (so a loss shows as a missing id, not as a read that never ends).
async fn ids_in_topic(bootstrap: &str) -> BTreeSet<u64> {
    let bootstrap = bootstrap.to_owned();
    tokio::task::spawn_blocking(move || read_to_watermarks(&bootstrap))
        .await
        .expect("reader task")
}

fn read_to_watermarks(bootstrap: &str) -> BTreeSet<u64> {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    use rdkafka::message::Message as _;
    let timeout = Duration::from_secs(10);
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "watermark-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    let metadata = consumer
        .fetch_metadata(Some(TOPIC), timeout)
        .expect("metadata");
    let mut assignment = rdkafka::TopicPartitionList::new();
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    for partition in metadata.topics()[0].partitions() {
        let (_, high) = consumer
            .fetch_watermarks(TOPIC, partition.id(), timeout)
            .expect("watermarks");
        assignment
            .add_partition_offset(TOPIC, partition.id(), rdkafka::Offset::Beginning)
            .expect("assignment");
        if high > 0 {
            remaining.insert(partition.id(), high);
        }
    }
    consumer.assign(&assignment).expect("assign");
    let mut ids = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !remaining.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the topic was not read to its end within 60 s"
        );
        let Some(Ok(record)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        if let Some(event) = record
            .payload()
            .and_then(|p| serde_json::from_slice::<FaultEvent>(p).ok())
        {
            ids.insert(event.id);
        }
        if remaining.get(&record.partition()) <= Some(&(record.offset() + 1)) {
            remaining.remove(&record.partition());
        }
    }
    ids
}

// ---------------------------------------------------------------------------------
// Live rebalance under load

const CHURN_N: u64 = 100_000;
const CHURN_KEYS: u64 = 500;
const CHURN_PARTITIONS: i32 = 6;
/// Handler time per record: 6 partitions at 2 ms take at most 3,000 records/s, less
/// than the 3,300/s produced, so members always hold a backlog of dispatched records
/// when they lose a partition (which is where a rebalance can lose or reorder).
const CHURN_HANDLER_MS: u64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_rebalance_under_load_eager() {
    live_rebalance("eager", "range,roundrobin").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_rebalance_under_load_cooperative_sticky() {
    live_rebalance("cooperative", "cooperative-sticky").await
}

/// 100,000 keyed records are produced over about 30 s while consumer processes of one
/// group join (start) and leave (SIGTERM) every 2 to 4 s. Afterwards: every id handled,
/// every leaver exited cleanly, and in each partition (so for each key) the first
/// completions came in offset order.
async fn live_rebalance(name: &str, assignor: &str) {
    let kafka = start_kafka(KafkaOptions::default()).await;
    kafka.create_topic(TOPIC, CHURN_PARTITIONS).expect("topic");
    kafka.create_topic(DLQ, CHURN_PARTITIONS).expect("dlq");
    let (mut rng, seed) = Rng::from_env();
    println!(
        "[churn {name}] seed {seed}: {CHURN_N} records, {CHURN_KEYS} keys, assignor {assignor}"
    );
    let dir = tempdir();
    let props = [("partition.assignment.strategy", assignor)];
    let started = Instant::now();

    let producer = Producer::new(&kafka.config()).expect("producer");
    let sends = tokio::spawn(paced_sends(
        producer,
        CHURN_N,
        CHURN_KEYS,
        Duration::from_micros(300),
    ));

    let mut next = 0;
    let mut spawn = |procs: &mut Vec<Proc>| {
        let name = format!("member-{next}");
        next += 1;
        procs.push(Proc::start_with(
            &kafka,
            dir.path(),
            &name,
            "churn",
            CHURN_HANDLER_MS,
            &props,
        ));
    };
    let mut live: Vec<Proc> = Vec::new();
    let mut gone: Vec<Proc> = Vec::new();
    spawn(&mut live);
    spawn(&mut live);
    let (mut joins, mut leaves) = (2, 0);
    while !sends.is_finished() {
        tokio::time::sleep(Duration::from_millis(rng.range(2_000, 4_000))).await;
        for p in live.iter_mut() {
            p.assert_running();
        }
        let join = live.len() < 2 || (live.len() < 4 && rng.range(0, 2) == 0);
        if join {
            spawn(&mut live);
            joins += 1;
        } else {
            let mut leaver = live.remove(rng.range(0, live.len() as u64) as usize);
            assert!(
                leaver.signal_and_wait("TERM", 30).await,
                "a member leaving with SIGTERM exits 0\n{}",
                leaver.stderr()
            );
            gone.push(leaver);
            leaves += 1;
        }
    }
    let outcomes = sends.await.expect("sends");
    let failed: Vec<&Outcome> = outcomes
        .values()
        .filter(|o| matches!(o, Outcome::Failed { .. }))
        .collect();
    assert!(
        failed.is_empty(),
        "sends failed on a healthy broker: {:?}",
        &failed[..failed.len().min(5)]
    );
    let produced_in = started.elapsed();

    let logs: Vec<std::path::PathBuf> = live.iter().chain(&gone).map(|p| p.log.clone()).collect();
    drain(&mut live, &logs, CHURN_N, Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for p in live.iter_mut() {
        assert!(
            p.signal_and_wait("TERM", 30).await,
            "clean exit\n{}",
            p.stderr()
        );
    }

    let all_lines: Vec<Vec<LogLine>> = live.iter().chain(&gone).map(Proc::lines).collect();
    let refs: Vec<&[LogLine]> = all_lines.iter().map(Vec::as_slice).collect();
    let (lost, duplicates, _) = tally(CHURN_N, &refs);
    let out_of_order = partition_order_violations(&all_lines);
    println!(
        "[churn {name}] seed {seed}: produced in {produced_in:?}, {joins} joins and {leaves} leaves \
         ({} members at the end); lost {}; duplicates {duplicates}; order violations {}; took {:?}",
        live.len(),
        lost.len(),
        out_of_order.len(),
        started.elapsed()
    );
    assert!(
        leaves >= 3,
        "the group changed too little to prove anything"
    );
    assert!(
        lost.is_empty(),
        "lost {} ids, first: {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    assert!(
        out_of_order.is_empty(),
        "later records of a partition were first handled before earlier ones (partition, earlier offset, later offset): {:?}",
        &out_of_order[..out_of_order.len().min(10)]
    );
}

/// Waits until the id logs hold every id below `n`, checking that the members stay up.
/// On timeout it says how far the drain got and where it stopped: each partition's
/// last handled offset and when, so a stalled partition shows apart from a slow group.
async fn drain(members: &mut [Proc], logs: &[std::path::PathBuf], n: u64, within: Duration) {
    let started = Instant::now();
    loop {
        let lines: Vec<LogLine> = logs
            .iter()
            .flat_map(|log| asyncapi_test_support::fault::read_log(log))
            .filter(|l| l.end)
            .collect();
        let ids: BTreeSet<u64> = lines.iter().map(|l| l.id).collect();
        if ids.len() as u64 >= n {
            return;
        }
        for member in members.iter_mut() {
            member.assert_running();
        }
        if started.elapsed() > within {
            let mut last: BTreeMap<i32, (i64, u64)> = BTreeMap::new();
            for l in &lines {
                let entry = last.entry(l.partition).or_insert((l.offset, l.at_micros));
                *entry = (*entry).max((l.offset, l.at_micros));
            }
            let now = asyncapi_test_support::fault::now_micros();
            let stalls: Vec<String> = last
                .iter()
                .map(|(p, (offset, at))| {
                    format!(
                        "partition {p}: offset {offset}, {} s ago",
                        now.saturating_sub(*at) / 1_000_000
                    )
                })
                .collect();
            panic!(
                "after {within:?}, {} of {n} ids handled; last handled per partition: {}",
                ids.len(),
                stalls.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Pairs `(earlier offset, later offset)` of one partition whose first completions are
/// in the wrong order: records of a key share a partition, and the runtime must
/// complete a partition's records in offset order the first time (redeliveries after a
/// rebalance may repeat them). Offsets, not ids, give the order: concurrent sends may
/// reach the broker in another order than their ids.
fn partition_order_violations(logs: &[Vec<LogLine>]) -> Vec<(i32, i64, i64)> {
    let mut first_end: HashMap<(i32, i64), u64> = HashMap::new();
    for line in logs.iter().flatten().filter(|l| l.end) {
        let at = first_end
            .entry((line.partition, line.offset))
            .or_insert(line.at_micros);
        *at = (*at).min(line.at_micros);
    }
    let mut ordered: Vec<((i32, i64), u64)> = first_end.into_iter().collect();
    ordered.sort_unstable();
    ordered
        .windows(2)
        .filter(|w| w[0].0 .0 == w[1].0 .0 && w[1].1 < w[0].1)
        .map(|w| (w[0].0 .0, w[0].0 .1, w[1].0 .1))
        .collect()
}

// ---------------------------------------------------------------------------------
// Partition leader killed mid-stream (three nodes)

const FAILOVER_N: u64 = 20_000;

/// A three-node cluster (replication factor 3, `min.insync.replicas=2`); the runtime's
/// producer (`acks=all`, idempotent) sends 20,000 records over about 10 s while a
/// consumer process handles them; the node leading partition 0 is SIGKILLed after 3 s.
/// Every acknowledged record must be in the topic and handled, and the producer and
/// the consumer recover without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_leader_killed_mid_stream_loses_no_acknowledged_record() {
    let mut kafka = start_kafka(KafkaOptions::cluster()).await;
    kafka.create_topic(TOPIC, 3).expect("topic");
    kafka.create_topic(DLQ, 3).expect("dlq");
    let dir = tempdir();
    let mut consumer = Proc::start(&kafka, dir.path(), "consumer", "failover", 0);
    let producer = Producer::new(&kafka.config()).expect("producer");
    let started = Instant::now();
    let sends = tokio::spawn(paced_sends(
        producer,
        FAILOVER_N,
        FAILOVER_N,
        Duration::from_micros(500),
    ));

    tokio::time::sleep(Duration::from_secs(3)).await;
    let leader = kafka
        .leader_of(TOPIC, 0)
        .expect("metadata")
        .expect("partition 0 has a leader");
    let killed_at = Instant::now();
    tokio::task::block_in_place(|| kafka.kill_node(leader)).expect("kill the leader");
    let new_leader = wait_new_leader(&kafka, leader).await;
    let moved_in = killed_at.elapsed();

    let outcomes = tokio::time::timeout(Duration::from_secs(120), sends)
        .await
        .expect("every send returned within 120 s")
        .expect("sends");
    let acked: BTreeSet<u64> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Acked { .. }))
        .map(|(id, _)| *id)
        .collect();
    let acked_after_kill = outcomes
        .values()
        .filter(|o| matches!(o, Outcome::Acked { at } if *at > killed_at))
        .count();
    let errors = error_counts(&outcomes);

    let log = consumer.log.clone();
    let handled_acked = || {
        let handled: BTreeSet<u64> = asyncapi_test_support::fault::read_log(&log)
            .iter()
            .filter(|l| l.end)
            .map(|l| l.id)
            .collect();
        acked.is_subset(&handled)
    };
    wait_procs(
        &mut [&mut consumer],
        120,
        "every acknowledged id handled",
        handled_acked,
    )
    .await;
    let in_topic = ids_in_topic(&kafka.bootstrap_servers()).await;
    let missing: Vec<&u64> = acked.difference(&in_topic).collect();
    let lines = consumer.lines();
    let (_, duplicates, _) = tally(FAILOVER_N, &[&lines]);
    assert!(
        consumer.signal_and_wait("TERM", 30).await,
        "clean exit\n{}",
        consumer.stderr()
    );
    println!(
        "[failover] node {leader} (leader of partition 0) SIGKILLed at {:?}; partition 0 led by node \
         {new_leader} {moved_in:?} later; {FAILOVER_N} sends: acked {} ({acked_after_kill} after the kill), \
         typed errors {errors:?}; acked but not in the topic {}; consumer handled every acked id without \
         a restart, duplicates {duplicates}",
        killed_at - started,
        acked.len(),
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "acknowledged and lost: {:?}",
        &missing[..missing.len().min(20)]
    );
    assert!(
        acked_after_kill > 0,
        "the producer recovered after the leader died"
    );
    assert_eq!(
        acked.len() as u64,
        FAILOVER_N,
        "with 2 of 3 replicas in sync every send is acknowledged"
    );
}

/// Waits (bounded) until partition 0 has a leader other than `dead`.
async fn wait_new_leader(kafka: &Kafka, dead: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(leader)) = kafka.leader_of(TOPIC, 0) {
            if leader != dead {
                return leader;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new leader for partition 0 within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn error_counts(outcomes: &BTreeMap<u64, Outcome>) -> BTreeMap<String, usize> {
    let mut errors = BTreeMap::new();
    for outcome in outcomes.values() {
        if let Outcome::Failed { error } = outcome {
            *errors.entry(error.clone()).or_default() += 1;
        }
    }
    errors
}

// ---------------------------------------------------------------------------------
// Broker restart on its own data

/// 40 s of sends: the node is back (9 s plus its start-up, 10 to 20 s here) well
/// before the last one.
const RESTART_SENDS: u64 = 4_000;
const STOP_AT: Duration = Duration::from_secs(3);
const OUTAGE: Duration = Duration::from_secs(6);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_keeps_every_acknowledged_record_plain_producer() {
    broker_restart(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_keeps_every_acknowledged_record_idempotent_producer() {
    broker_restart(true).await
}

/// The runtime's producer sends a record every 10 ms for 40 s (`message.timeout.ms=4000`);
/// the only node is SIGKILLed at 3 s and restarted on the same log dirs 6 s later. Every
/// send returns (acknowledged or a typed error); every record acknowledged, before the
/// kill or after the restart, is in the topic; the producer recovers.
async fn broker_restart(idempotence: bool) {
    let mut kafka = start_kafka(KafkaOptions::default()).await;
    kafka.create_topic(TOPIC, 1).expect("topic");
    let config: KafkaConfig = kafka
        .config()
        .set("message.timeout.ms", "4000")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500")
        .set("enable.idempotence", idempotence.to_string());
    let producer = Producer::new(&config).expect("producer");
    let started = Instant::now();
    let sends = tokio::spawn(paced_sends(
        producer,
        RESTART_SENDS,
        RESTART_SENDS,
        Duration::from_millis(10),
    ));
    tokio::time::sleep(STOP_AT).await;
    let stopped_at = Instant::now();
    tokio::task::block_in_place(|| kafka.kill_node(1)).expect("kill");
    tokio::time::sleep(OUTAGE).await;
    tokio::task::block_in_place(|| kafka.restart_node(1)).expect("restart on the same data");
    let restarted_at = Instant::now();
    let outcomes = tokio::time::timeout(Duration::from_secs(90), sends)
        .await
        .expect("every send returned within 90 s (acknowledged or a typed error)")
        .expect("sends");

    assert_eq!(outcomes.len() as u64, RESTART_SENDS, "every send returned");
    let acked_before: BTreeSet<u64> = acked_where(&outcomes, |at| at < stopped_at);
    let acked_after: BTreeSet<u64> = acked_where(&outcomes, |at| at >= stopped_at);
    let errors = error_counts(&outcomes);
    let in_topic = ids_in_topic(&kafka.bootstrap_servers()).await;
    let lost_before: Vec<&u64> = acked_before.difference(&in_topic).collect();
    let lost_after: Vec<&u64> = acked_after.difference(&in_topic).collect();
    println!(
        "[restart idempotence={idempotence}] {RESTART_SENDS} sends; node killed at {:?}, back {:?} \
         later; acked before the kill {} (lost {}), acked after {} (lost {}); typed errors {errors:?}; \
         records in the topic {}",
        stopped_at - started,
        restarted_at - stopped_at,
        acked_before.len(),
        lost_before.len(),
        acked_after.len(),
        lost_after.len(),
        in_topic.len()
    );
    assert!(
        lost_before.is_empty(),
        "acknowledged before the kill and lost: {lost_before:?}"
    );
    assert!(
        lost_after.is_empty(),
        "acknowledged after the kill and lost: {lost_after:?}"
    );
    assert!(
        !errors.is_empty(),
        "the outage outlasts message.timeout.ms: some sends must fail"
    );
    assert!(
        outcomes
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Acked { at } if *at > restarted_at)),
        "the producer recovers after the restart"
    );
}

fn acked_where(outcomes: &BTreeMap<u64, Outcome>, when: impl Fn(Instant) -> bool) -> BTreeSet<u64> {
    outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Acked { at } if when(*at)))
        .map(|(id, _)| *id)
        .collect()
}
