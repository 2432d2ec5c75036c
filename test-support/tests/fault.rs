//! Fault suite: the runtime loses no message. Every body runs on both brokers
//! (`embedded::<name>`, and `kafka::<name>` on Apache Kafka with `--features kafka`);
//! the broker restart test needs a broker process to stop and runs on Kafka only.
//!
//! Consumer processes are `fault-consumer` (src/bin): the runtime's `Consumer` loop,
//! appending `B`/`E` lines per message to an id log (see `asyncapi_test_support::fault`).
//! Random points are seeded: `FAULT_SEED=<n>` reproduces a run (the seed is printed).

#[macro_use]
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncapi_runtime::{Consumer, ListenerOptions, MessageContext, Outgoing, Producer, SendError};
use asyncapi_test_support::fault::{
    self, event, read_log, FaultEvent, FaultEvents, Rng, DLQ, TOPIC,
};
use asyncapi_test_support::{Broker, TopicSpec};
use support::procs::*;
use support::*;

broker_tests!(
    crash_sigkill_then_restart_loses_nothing,
    rebalance_after_sigkill_survivor_takes_over,
    poison_records_are_dead_lettered_and_the_loop_goes_on,
    handler_faults_retry_dead_letter_and_survive_panics,
    sigterm_finishes_in_flight_commits_and_restart_handles_nothing_twice,
);

// ---------------------------------------------------------------------------------
// Crash

const CRASH_N: u64 = 10_000;

async fn crash_sigkill_then_restart_loses_nothing(kafka: &dyn Broker) {
    topics(kafka);
    let (mut rng, seed) = Rng::from_env();
    let kill_at = rng.range(CRASH_N / 10, CRASH_N * 9 / 10) as usize;
    println!(
        "[crash {}] seed {seed}: SIGKILL once {kill_at} of {CRASH_N} handled",
        kafka.kind()
    );
    let started = Instant::now();
    produce(kafka, 0..CRASH_N).await;
    println!(
        "[crash {}] produced {CRASH_N} in {:?}",
        kafka.kind(),
        started.elapsed()
    );

    let dir = tempdir();
    let mut first = Proc::start(kafka, dir.path(), "first", "crash", 1);
    let first_log = first.log.clone();
    wait_procs(
        &mut [&mut first],
        90,
        "first process reaches the kill point",
        || read_log(&first_log).iter().filter(|l| l.end).count() >= kill_at,
    )
    .await;
    fault::signal(&first.child, "KILL");
    let _ = first.child.wait();
    let first_lines = first.lines();
    let killed_after = first_lines.iter().filter(|l| l.end).count();

    let mut second = Proc::start(kafka, dir.path(), "second", "crash", 1);
    let first_ids: BTreeSet<u64> = first_lines.iter().filter(|l| l.end).map(|l| l.id).collect();
    let second_log = second.log.clone();
    wait_procs(
        &mut [&mut second],
        120,
        "every id handled by one of the processes",
        || {
            let mut all = first_ids.clone();
            all.extend(read_log(&second_log).iter().filter(|l| l.end).map(|l| l.id));
            all.len() as u64 >= CRASH_N
        },
    )
    .await;
    // Late redeliveries would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        second.signal_and_wait("TERM", 30).await,
        "clean exit\n{}",
        second.stderr()
    );
    let second_lines = second.lines();
    let (lost, duplicates, counts) = tally(CRASH_N, &[&first_lines, &second_lines]);
    let unknown: Vec<&u64> = counts.keys().filter(|id| **id >= CRASH_N).collect();
    println!(
        "[crash {}] seed {seed}: killed after {killed_after} handled; restart handled {}; \
         distinct {} of {CRASH_N}; lost {}; duplicates {duplicates}; took {:?}",
        kafka.kind(),
        second_lines.iter().filter(|l| l.end).count(),
        counts.len(),
        lost.len(),
        started.elapsed()
    );
    assert!(unknown.is_empty(), "ids never sent: {unknown:?}");
    assert!(
        lost.is_empty(),
        "lost {} ids, first: {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
}

// ---------------------------------------------------------------------------------
// Rebalance

const REBALANCE_N: u64 = 10_000;

async fn rebalance_after_sigkill_survivor_takes_over(kafka: &dyn Broker) {
    topics(kafka);
    let (mut rng, seed) = Rng::from_env();
    let kill_at = rng.range(REBALANCE_N / 5, REBALANCE_N / 2) as usize;
    println!(
        "[rebalance {}] seed {seed}: SIGKILL one member once {kill_at} of {REBALANCE_N} handled",
        kafka.kind()
    );
    produce(kafka, 0..REBALANCE_N).await;
    let dir = tempdir();
    let mut a = Proc::start(kafka, dir.path(), "a", "rebalance", 2);
    let mut b = Proc::start(kafka, dir.path(), "b", "rebalance", 2);
    {
        let (a_log, b_log) = (a.log.clone(), b.log.clone());
        wait_procs(
            &mut [&mut a, &mut b],
            90,
            "both members handle, kill point reached",
            || {
                let (ha, hb) = (
                    read_log(&a_log).iter().filter(|l| l.end).count(),
                    read_log(&b_log).iter().filter(|l| l.end).count(),
                );
                ha > 0 && hb > 0 && ha + hb >= kill_at
            },
        )
        .await;
    }
    fault::signal(&a.child, "KILL");
    let _ = a.child.wait();
    let a_lines = a.lines();
    let a_partitions: BTreeSet<i32> = a_lines.iter().map(|l| l.partition).collect();
    let b_before: usize = b.handled();
    let b_lines_before = b.lines().len();
    let b_partitions_before: BTreeSet<i32> = b.lines().iter().map(|l| l.partition).collect();
    let a_ids: BTreeSet<u64> = a_lines.iter().filter(|l| l.end).map(|l| l.id).collect();
    let b_log = b.log.clone();
    wait_procs(
        &mut [&mut b],
        120,
        "survivor handles every remaining id",
        || {
            let mut all = a_ids.clone();
            all.extend(read_log(&b_log).iter().filter(|l| l.end).map(|l| l.id));
            all.len() as u64 >= REBALANCE_N
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        b.signal_and_wait("TERM", 30).await,
        "clean exit\n{}",
        b.stderr()
    );
    let b_lines = b.lines();
    let b_after: BTreeSet<i32> = b_lines[b_lines_before..]
        .iter()
        .filter(|l| l.end)
        .map(|l| l.partition)
        .collect();
    let (lost, duplicates, counts) = tally(REBALANCE_N, &[&a_lines, &b_lines]);
    println!(
        "[rebalance {}] seed {seed}: killed member handled {} on partitions {a_partitions:?}; \
         survivor handled {b_before} on {b_partitions_before:?} before, {} after on {b_after:?}; \
         distinct {}; lost {}; duplicates {duplicates}",
        kafka.kind(),
        a_ids.len(),
        b_lines.iter().filter(|l| l.end).count() - b_before,
        counts.len(),
        lost.len()
    );
    // (Before the kill the survivor may have handled every partition: it was alone
    // in the group until the other member joined.)
    assert!(
        a_partitions.is_subset(&b_after),
        "the survivor did not take over the killed member's partitions"
    );
    assert!(
        lost.is_empty(),
        "lost {} ids, first: {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
}

// ---------------------------------------------------------------------------------
// Poison records

const POISON_N: u64 = 10_000;
/// Above librdkafka's default `message.max.bytes` (1,000,000), which the runtime's
/// `Producer` (and so its dead-letter producer) keeps unless configured otherwise.
const OVERSIZED: usize = 1_050_000;
/// The limit the bad records are written with, and the consumer's producer-side
/// limit in the passing variant.
const BIG_LIMIT: &str = "4000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Poison {
    Malformed,
    WrongShape,
    OversizedMalformed,
    OversizedWrongShape,
}

impl Poison {
    fn of(id: u64) -> Option<Poison> {
        // 1%: ids 7, 107, 207, ...; every tenth of them oversized.
        if id % 100 != 7 {
            return None;
        }
        Some(match (id / 100) % 20 {
            0 => Poison::OversizedMalformed,
            10 => Poison::OversizedWrongShape,
            k if k % 2 == 1 => Poison::Malformed,
            _ => Poison::WrongShape,
        })
    }

    fn payload(self, id: u64) -> Vec<u8> {
        match self {
            Poison::Malformed => format!("{{\"id\": {id}, \"body\": ").into_bytes(),
            Poison::WrongShape => format!("{{\"id\": \"{id}\", \"body\": 17}}").into_bytes(),
            Poison::OversizedMalformed => {
                let mut p = format!("{{\"id\": {id}, \"body\": \"").into_bytes();
                p.resize(OVERSIZED, b'x');
                p
            }
            Poison::OversizedWrongShape => {
                let mut p = format!("{{\"id\": \"{id}\", \"pad\": \"").into_bytes();
                p.resize(OVERSIZED - 2, b'x');
                p.extend_from_slice(b"\"}");
                p
            }
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Poison::Malformed | Poison::OversizedMalformed => "decode-error",
            Poison::WrongShape | Poison::OversizedWrongShape => "schema-error",
        }
    }
}

async fn poison_records_are_dead_lettered_and_the_loop_goes_on(kafka: &dyn Broker) {
    poison(kafka, true).await
}

/// The same with the consumer's default producer limit: the dead-letter producer
/// cannot forward an oversized record whole, so it dead-letters it without its payload
/// and says where the original is (`x-dlq-payload-omitted`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_oversized_with_default_limits_embedded() {
    run_on(asyncapi_test_support::BrokerKind::Embedded, |b| {
        Box::pin(poison(b, false))
    })
    .await
}

async fn poison(kafka: &dyn Broker, raise_limit: bool) {
    // The topics take records up to the foreign producer's limit (Kafka's default
    // `max.message.bytes` is 1 MiB).
    for name in [TOPIC, DLQ] {
        let spec = TopicSpec::new(name, PARTITIONS).config("max.message.bytes", BIG_LIMIT);
        kafka.create_topic_spec(&spec).expect("create topic");
    }
    // The runtime's producer refuses an oversized record with a typed error.
    let producer = Producer::new(&kafka.config()).expect("producer");
    let refused = producer
        .send_raw(
            TOPIC,
            Some(b"x"),
            &[],
            &Poison::OversizedMalformed.payload(0),
        )
        .await;
    match &refused {
        Err(SendError::Enqueue { source, .. }) => println!(
            "[poison {}] runtime Producer refuses {OVERSIZED} bytes: {source}",
            kafka.kind()
        ),
        other => panic!("expected a typed enqueue error for an oversized record, got {other:?}"),
    }

    // Bad records are written by a producer with a larger limit, as a foreign
    // producer might; good ones by the runtime's producer.
    let raw =
        Producer::new(&kafka.config().set("message.max.bytes", BIG_LIMIT)).expect("raw producer");
    type Pending = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<asyncapi_runtime::Delivery, SendError>> + Send>,
    >;
    let mut pending: Vec<Pending> = Vec::new();
    let mut bad: BTreeMap<u64, Poison> = BTreeMap::new();
    for id in 0..POISON_N {
        let key = id.to_string();
        match Poison::of(id) {
            Some(kind) => {
                bad.insert(id, kind);
                // `send_raw` waits for the ack: a task keeps many in flight.
                let raw = raw.clone();
                let task = tokio::spawn(async move {
                    raw.send_raw(TOPIC, Some(key.as_bytes()), &[], &kind.payload(id))
                        .await
                });
                pending.push(Box::pin(async move { task.await.expect("send task") }));
            }
            None => {
                let ev = event(id);
                let fut = producer
                    .enqueue::<FaultEvents>(Outgoing::new(&ev).key(&key))
                    .await
                    .expect("enqueue");
                pending.push(Box::pin(fut));
            }
        }
    }
    for p in pending {
        p.await.expect("delivery");
    }
    let counts: HashMap<&str, usize> = bad.values().fold(HashMap::new(), |mut m, k| {
        *m.entry(match k {
            Poison::Malformed => "malformed",
            Poison::WrongShape => "wrong-shape",
            Poison::OversizedMalformed => "oversized-malformed",
            Poison::OversizedWrongShape => "oversized-wrong-shape",
        })
        .or_default() += 1;
        m
    });
    println!(
        "[poison {}] produced {POISON_N}: {} bad {counts:?}",
        kafka.kind(),
        bad.len()
    );

    let handled: Arc<Mutex<Vec<u64>>> = Arc::default();
    let mut config = kafka.config();
    if raise_limit {
        config = config.set("message.max.bytes", BIG_LIMIT);
    }
    let h = handled.clone();
    let consumer = Consumer::new(config)
        .group_id("poison")
        .retry(fast_retry(2))
        .route::<FaultEvents, _>(
            move |m: FaultEvent, _c: MessageContext| {
                let h = h.clone();
                async move {
                    h.lock().unwrap().push(m.id);
                }
            },
            ListenerOptions::default(),
        );
    let started = Instant::now();
    let (token, handle) = spawn(consumer);
    let good = (POISON_N as usize) - bad.len();
    wait_until(120, "every good record handled", || {
        handled.lock().unwrap().len() >= good
    })
    .await;
    let dlq = read_topic(&kafka.bootstrap_servers(), DLQ, bad.len(), 1_000).await;
    println!(
        "[poison {}] handled {} good, {} dead letters in {:?}",
        kafka.kind(),
        handled.lock().unwrap().len(),
        dlq.len(),
        started.elapsed()
    );
    assert!(!handle.is_finished(), "the consumer loop stopped");
    stop(token, handle).await;

    let handled: BTreeSet<u64> = handled.lock().unwrap().iter().copied().collect();
    let expected_good: BTreeSet<u64> = (0..POISON_N).filter(|id| !bad.contains_key(id)).collect();
    assert_eq!(handled, expected_good, "good records handled, bad ones not");
    let mut dead: BTreeMap<u64, String> = BTreeMap::new();
    for r in &dlq {
        let id: u64 = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default())
            .parse()
            .expect("dead letter keyed by id");
        let reason = r.header("x-dlq-reason").unwrap_or_default();
        assert!(
            dead.insert(id, reason).is_none(),
            "id {id} dead-lettered twice"
        );
        let kind = bad
            .get(&id)
            .unwrap_or_else(|| panic!("good id {id} dead-lettered"));
        let oversized = matches!(
            kind,
            Poison::OversizedMalformed | Poison::OversizedWrongShape
        );
        if oversized && !raise_limit {
            assert!(r.payload.is_empty(), "payload of {id} omitted");
            let why = r.header("x-dlq-payload-omitted").unwrap_or_default();
            assert!(
                why.contains(&format!("{TOPIC}/")),
                "omitted-payload header of {id}: {why:?}"
            );
        } else {
            assert_eq!(r.payload, kind.payload(id), "payload of {id} kept");
        }
        assert_eq!(r.header("x-dlq-topic").as_deref(), Some(TOPIC));
    }
    for (id, kind) in &bad {
        assert_eq!(
            dead.get(id).map(String::as_str),
            Some(kind.reason()),
            "dead letter of {id} ({kind:?})"
        );
    }
}

// ---------------------------------------------------------------------------------
// Handler faults

const HANDLER_N: u64 = 1_000;
const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Ok,
    /// Fails on attempts before `succeeds_on`, then succeeds.
    Transient {
        succeeds_on: u32,
    },
    Permanent,
    Panics,
}

fn behaviour(id: u64) -> Behaviour {
    match id % 10 {
        1 => Behaviour::Transient { succeeds_on: 2 },
        4 => Behaviour::Transient {
            succeeds_on: MAX_ATTEMPTS,
        },
        2 => Behaviour::Permanent,
        3 => Behaviour::Panics,
        _ => Behaviour::Ok,
    }
}

#[derive(Default)]
struct Calls {
    attempts: HashMap<u64, Vec<u32>>,
    successes: HashMap<u64, u32>,
}

/// Keeps the deliberate handler panics out of the output (others still print).
fn quiet_deliberate_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .unwrap_or("");
            if !text.starts_with("handler panics on") {
                default(info);
            }
        }));
    });
}

async fn handler_faults_retry_dead_letter_and_survive_panics(kafka: &dyn Broker) {
    quiet_deliberate_panics();
    topics(kafka);
    produce(kafka, 0..HANDLER_N).await;
    let calls: Arc<Mutex<Calls>> = Arc::default();
    let c = calls.clone();
    let consumer = Consumer::new(kafka.config())
        .group_id("handler-faults")
        .retry(fast_retry(MAX_ATTEMPTS))
        .route::<FaultEvents, _>(
            move |m: FaultEvent, ctx: MessageContext| {
                let calls = c.clone();
                async move {
                    calls
                        .lock()
                        .unwrap()
                        .attempts
                        .entry(m.id)
                        .or_default()
                        .push(ctx.attempt);
                    let result = match behaviour(m.id) {
                        Behaviour::Ok => Ok(()),
                        Behaviour::Transient { succeeds_on } if ctx.attempt >= succeeds_on => {
                            Ok(())
                        }
                        Behaviour::Transient { .. } => {
                            Err(format!("transient failure of {}", m.id))
                        }
                        Behaviour::Permanent => Err(format!("permanent failure of {}", m.id)),
                        Behaviour::Panics => panic!("handler panics on {}", m.id),
                    };
                    if result.is_ok() {
                        *calls.lock().unwrap().successes.entry(m.id).or_default() += 1;
                    }
                    result
                }
            },
            ListenerOptions::default(),
        );
    let started = Instant::now();
    let (token, handle) = spawn(consumer);
    let expected_ok = (0..HANDLER_N)
        .filter(|id| !matches!(behaviour(*id), Behaviour::Permanent | Behaviour::Panics))
        .count();
    let expected_dead = HANDLER_N as usize - expected_ok;
    wait_until(120, "every succeeding record handled", || {
        calls.lock().unwrap().successes.len() >= expected_ok
    })
    .await;
    let dlq = read_topic(&kafka.bootstrap_servers(), DLQ, expected_dead, 1_000).await;
    assert!(!handle.is_finished(), "the consumer loop stopped");
    stop(token, handle).await;

    let calls = calls.lock().unwrap();
    let mut figures: BTreeMap<&str, usize> = BTreeMap::new();
    for id in 0..HANDLER_N {
        let attempts = calls.attempts.get(&id).cloned().unwrap_or_default();
        let successes = calls.successes.get(&id).copied().unwrap_or(0);
        match behaviour(id) {
            Behaviour::Ok => {
                assert_eq!((attempts, successes), (vec![1], 1), "ok id {id}");
                *figures.entry("ok").or_default() += 1;
            }
            Behaviour::Transient { succeeds_on } => {
                assert_eq!(successes, 1, "transient id {id} handled once successfully");
                assert_eq!(
                    attempts,
                    (1..=succeeds_on).collect::<Vec<_>>(),
                    "transient id {id}"
                );
                *figures.entry("transient").or_default() += 1;
            }
            Behaviour::Permanent | Behaviour::Panics => {
                assert_eq!(successes, 0);
                assert_eq!(
                    attempts,
                    (1..=MAX_ATTEMPTS).collect::<Vec<_>>(),
                    "failing id {id}"
                );
            }
        }
    }
    let mut dead: BTreeMap<u64, (String, String)> = BTreeMap::new();
    for r in &dlq {
        let id: u64 = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default())
            .parse()
            .expect("dead letter keyed by id");
        let entry = (
            r.header("x-dlq-reason").unwrap_or_default(),
            r.header("x-dlq-attempts").unwrap_or_default(),
        );
        assert!(
            dead.insert(id, entry).is_none(),
            "id {id} dead-lettered twice"
        );
    }
    for id in 0..HANDLER_N {
        let want = match behaviour(id) {
            Behaviour::Permanent => Some("handler-error"),
            Behaviour::Panics => Some("handler-panic"),
            _ => None,
        };
        let got = dead.get(&id);
        match want {
            None => assert!(got.is_none(), "id {id} must not be dead-lettered: {got:?}"),
            Some(reason) => assert_eq!(
                got,
                Some(&(reason.to_owned(), MAX_ATTEMPTS.to_string())),
                "dead letter of {id}"
            ),
        }
        if let Some(kind) = want {
            *figures.entry(kind).or_default() += 1;
        }
    }
    println!(
        "[handler-faults {}] {HANDLER_N} records, max_attempts {MAX_ATTEMPTS}: {figures:?}; \
         handler calls {}; dead letters {}; took {:?}",
        kafka.kind(),
        calls.attempts.values().map(Vec::len).sum::<usize>(),
        dlq.len(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------
// Graceful shutdown

const SHUTDOWN_N: u64 = 2_000;

async fn sigterm_finishes_in_flight_commits_and_restart_handles_nothing_twice(kafka: &dyn Broker) {
    topics(kafka);
    let (mut rng, seed) = Rng::from_env();
    let term_at = rng.range(100, 600) as usize;
    println!(
        "[shutdown {}] seed {seed}: SIGTERM once {term_at} of {SHUTDOWN_N} handled (20 ms each)",
        kafka.kind()
    );
    produce(kafka, 0..SHUTDOWN_N).await;
    let dir = tempdir();
    let mut first = Proc::start(kafka, dir.path(), "first", "shutdown", 20);
    let first_log = first.log.clone();
    wait_procs(
        &mut [&mut first],
        90,
        "first process reaches the SIGTERM point",
        || read_log(&first_log).iter().filter(|l| l.end).count() >= term_at,
    )
    .await;
    let term_sent = Instant::now();
    assert!(
        first.signal_and_wait("TERM", 30).await,
        "exit status 0 after SIGTERM\n{}",
        first.stderr()
    );
    let stop_took = term_sent.elapsed();
    let first_lines = first.lines();
    let began: BTreeSet<(u64, i64)> = first_lines
        .iter()
        .filter(|l| !l.end)
        .map(|l| (l.id, l.offset))
        .collect();
    let ended: BTreeSet<(u64, i64)> = first_lines
        .iter()
        .filter(|l| l.end)
        .map(|l| (l.id, l.offset))
        .collect();
    let unfinished: Vec<_> = began.difference(&ended).collect();
    let first_ids: BTreeSet<u64> = ended.iter().map(|(id, _)| *id).collect();

    let mut second = Proc::start(kafka, dir.path(), "second", "shutdown", 0);
    let second_log = second.log.clone();
    wait_procs(
        &mut [&mut second],
        120,
        "the restart handles the rest",
        || {
            let mut all = first_ids.clone();
            all.extend(read_log(&second_log).iter().filter(|l| l.end).map(|l| l.id));
            all.len() as u64 >= SHUTDOWN_N
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        second.signal_and_wait("TERM", 30).await,
        "clean exit\n{}",
        second.stderr()
    );
    let second_lines = second.lines();
    let again: Vec<u64> = second_lines
        .iter()
        .filter(|l| first_ids.contains(&l.id))
        .map(|l| l.id)
        .collect();
    let (lost, duplicates, _) = tally(SHUTDOWN_N, &[&first_lines, &second_lines]);
    println!(
        "[shutdown {}] seed {seed}: first handled {} (in flight at SIGTERM finished: {} began, {} \
         unfinished), stopped {stop_took:?} after SIGTERM; restart handled {}; handled twice {}; \
         lost {}; duplicates {duplicates}",
        kafka.kind(),
        first_ids.len(),
        began.len(),
        unfinished.len(),
        second_lines.iter().filter(|l| l.end).count(),
        again.len(),
        lost.len()
    );
    assert!(
        unfinished.is_empty(),
        "handlers cut short by SIGTERM: {unfinished:?}"
    );
    assert!(
        (first_ids.len() as u64) < SHUTDOWN_N,
        "SIGTERM came after the backlog was done: the test proves nothing"
    );
    assert!(
        again.is_empty(),
        "handled again after a clean restart: {again:?}"
    );
    assert!(lost.is_empty(), "lost {} ids", lost.len());
}
