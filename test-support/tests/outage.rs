//! (Compiled only with `--features tansu`.)
//!
//! Broker outage on tansu: kill the broker while a producer sends a stream of records,
//! restart it on the same port, and check the delivery reports against what can be
//! consumed afterwards.
//!
//! With tansu's `memory://` storage (the only local engine of tansu 0.6.0 built with
//! `dynostore`), the restarted broker is empty: records acknowledged by the first
//! incarnation cannot survive. The test then checks exactly that they are gone (so it
//! notices if that changes) and holds the strict "acknowledged ⇒ consumable" property
//! for every record acknowledged by the restarted broker. With a persistent engine
//! (`TANSU_STORAGE_ENGINE=s3://…`) the strict property covers every acknowledged record.

#![cfg(feature = "tansu")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncapi_test_support::Tansu;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

const TOPIC: &str = "outage";
const RECORDS: u64 = 1_200;
const SEND_EVERY: Duration = Duration::from_millis(10);
const STOP_AT: Duration = Duration::from_secs(3);
const OUTAGE: Duration = Duration::from_secs(6);
const MESSAGE_TIMEOUT_MS: u64 = 4_000;

#[derive(Debug, Clone)]
enum Report {
    Acked { at: Instant },
    Failed { error: String },
}

async fn outage(idempotence: bool) {
    let mut tansu = Tansu::start().unwrap_or_else(|e| panic!("starting tansu: {e}"));
    let persistent = tansu.storage_is_persistent();
    tansu
        .create_topic(TOPIC, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let bootstrap = tansu.bootstrap_servers();

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", idempotence.to_string())
        .set("message.timeout.ms", MESSAGE_TIMEOUT_MS.to_string())
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "500")
        .create()
        .expect("producer config is valid");

    let reports: Arc<Mutex<BTreeMap<u64, Report>>> = Arc::default();
    let started = Instant::now();
    let producing = {
        let producer = producer.clone();
        let reports = reports.clone();
        tokio::spawn(async move {
            let mut pending = Vec::new();
            for i in 0..RECORDS {
                let producer = producer.clone();
                let reports = reports.clone();
                pending.push(tokio::spawn(async move {
                    let payload = format!("record-{i}");
                    let key = i.to_string();
                    let r = producer
                        .send(
                            FutureRecord::to(TOPIC).key(&key).payload(&payload),
                            Duration::from_secs(0),
                        )
                        .await;
                    let report = match r {
                        Ok(_) => Report::Acked { at: Instant::now() },
                        Err((e, _)) => Report::Failed {
                            error: e.to_string(),
                        },
                    };
                    reports.lock().expect("reports lock").insert(i, report);
                }));
                tokio::time::sleep(SEND_EVERY).await;
            }
            for p in pending {
                let _ = p.await;
            }
        })
    };

    tokio::time::sleep(STOP_AT).await;
    let stopped_at = Instant::now();
    tokio::task::block_in_place(|| tansu.stop()).expect("stopping tansu");
    tokio::time::sleep(OUTAGE).await;
    let restart_begun = Instant::now();
    tokio::task::block_in_place(|| -> asyncapi_test_support::Result<()> {
        tansu.restart()?;
        if !persistent {
            // memory:// lost the topic with everything else.
            tansu.create_topic(TOPIC, 1)?;
        }
        Ok(())
    })
    .unwrap_or_else(|e| panic!("restarting tansu: {e}"));
    let restarted_at = Instant::now();
    println!(
        "stopped at {:?}, restart begun at {:?}, serving again at {:?}",
        stopped_at - started,
        restart_begun - started,
        restarted_at - started
    );

    tokio::time::timeout(Duration::from_secs(60), producing)
        .await
        .expect("every delivery report arrived within 60 s")
        .expect("producing task");
    let fatal = producer.client().fatal_error();
    let _ = producer.flush(Duration::from_secs(5));

    // Everything the (restarted) broker holds.
    let consumed = tokio::task::block_in_place(|| read_all(&bootstrap));

    let reports = reports.lock().expect("reports lock").clone();
    assert_eq!(
        reports.len() as u64,
        RECORDS,
        "a delivery report for every record"
    );
    let mut acked_old = BTreeSet::new(); // acknowledged by the first incarnation
    let mut acked_during = BTreeSet::new(); // acknowledged while restarting
    let mut acked_new = BTreeSet::new(); // acknowledged by the restarted broker
    let mut failed = BTreeSet::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for (i, r) in &reports {
        match r {
            Report::Acked { at } if *at < restart_begun => {
                acked_old.insert(*i);
            }
            Report::Acked { at } if *at < restarted_at => {
                acked_during.insert(*i);
            }
            Report::Acked { .. } => {
                acked_new.insert(*i);
            }
            Report::Failed { error } => {
                failed.insert(*i);
                *errors.entry(error.clone()).or_default() += 1;
            }
        }
    }
    let lost_new: Vec<_> = acked_new.difference(&consumed).copied().collect();
    let lost_during: Vec<_> = acked_during.difference(&consumed).copied().collect();
    let old_present = acked_old.intersection(&consumed).count();
    let failed_but_present = failed.intersection(&consumed).count();
    println!(
        "tansu outage ({} storage, idempotence {idempotence}): {RECORDS} sent; acked {} (before outage {}, while restarting {}, after restart {}), \
         error reports {}; consumed after restart {}; acked-and-lost after restart {}; \
         acked before outage and present {}; errored but present {}; producer fatal error {:?}",
        tansu.storage_engine(),
        acked_old.len() + acked_during.len() + acked_new.len(),
        acked_old.len(),
        acked_during.len(),
        acked_new.len(),
        failed.len(),
        consumed.len(),
        lost_new.len() + lost_during.len(),
        old_present,
        failed_but_present,
        fatal,
    );
    println!("error reports by kind: {errors:?}");

    assert!(
        !acked_old.is_empty(),
        "records were acknowledged before the outage"
    );
    assert!(
        !failed.is_empty(),
        "the outage outlasted message.timeout.ms: some records must get error reports"
    );
    if idempotence && !persistent {
        // Known limitation, see docs/testing.md: the restarted memory:// broker has
        // forgotten the producer id and sequence numbers, and librdkafka's idempotent
        // producer does not get a new one: every later record times out (with an error
        // report, so nothing is acknowledged and lost). Not asserted either way.
        println!(
            "idempotent producer recovered after the restart: {}",
            !acked_new.is_empty()
        );
    } else {
        assert!(
            !acked_new.is_empty(),
            "the producer recovered: records acknowledged after the restart"
        );
    }
    assert!(
        lost_new.is_empty(),
        "acknowledged by the restarted broker but not consumable: {lost_new:?}"
    );
    assert!(
        lost_during.is_empty(),
        "acknowledged while restarting but not consumable: {lost_during:?}"
    );
    if persistent {
        let lost_old: Vec<_> = acked_old.difference(&consumed).copied().collect();
        assert!(
            lost_old.is_empty(),
            "acknowledged before the outage but lost: {lost_old:?}"
        );
    } else {
        assert_eq!(
            old_present, 0,
            "memory:// storage kept records across a restart: tansu changed, make this assertion strict"
        );
    }
}

/// Reads partition 0 of the topic from the beginning up to its high watermark.
fn read_all(bootstrap: &str) -> BTreeSet<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "outage-reader")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer config is valid");
    let (low, high) = consumer
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
        .expect("watermarks of the topic");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Offset(low))
        .expect("partition offset");
    consumer.assign(&tpl).expect("assign");
    let mut out = BTreeSet::new();
    let mut next = low;
    let deadline = Instant::now() + Duration::from_secs(30);
    while next < high {
        assert!(
            Instant::now() < deadline,
            "read only up to offset {next} of {high} within 30 s"
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                next = m.offset() + 1;
                let p = std::str::from_utf8(m.payload().unwrap_or_default()).unwrap_or_default();
                let n = p.strip_prefix("record-").and_then(|n| n.parse().ok());
                out.insert(n.unwrap_or_else(|| panic!("unexpected payload {p:?}")));
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tansu_outage_plain_producer() {
    tokio::time::timeout(Duration::from_secs(180), outage(false))
        .await
        .expect("the outage test finished within 180 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tansu_outage_idempotent_producer() {
    tokio::time::timeout(Duration::from_secs(180), outage(true))
        .await
        .expect("the outage test finished within 180 s");
}
