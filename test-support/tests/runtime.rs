//! End-to-end tests of the producer and the consumer loop. Every test body runs on both
//! brokers:
//! `embedded::<name>` on the runtime's `EmbeddedKafka` (default suite) and
//! `kafka::<name>` on Apache Kafka (`--features kafka`).

#[macro_use]
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncapi_runtime::{
    Consumer, ConsumerError, DeadLetterError, DeadLetterReader, HandlerError, KafkaConfig,
    Listener, ListenerOptions, MessageContext, NoParameters, Outgoing, Producer,
};
use asyncapi_test_support::foreign::{self, ForeignRecord};
use asyncapi_test_support::{Broker, TopicSpec};
use futures::StreamExt;
use support::*;
use tokio::sync::{mpsc, Semaphore};

/// Consumer settings for tests that restart a member of a group: the mock cluster
/// holds a group that lost its last member in rebalance for about the session
/// timeout, so a rejoin would otherwise wait ~44 s. 6 s is the shortest a Kafka broker
/// accepts by default (`group.min.session.timeout.ms`).
fn restartable(config: KafkaConfig) -> KafkaConfig {
    config
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        // Only the shutdown/ack path may commit, not the periodic auto-commit.
        .set("auto.commit.interval.ms", "600000")
}

broker_tests!(
    message_round_trips_with_key_headers_and_position,
    parameterized_topic_is_required_to_send,
    failing_handler_is_retried_then_dead_lettered,
    malformed_payload_is_dead_lettered_at_once_and_loop_goes_on,
    non_utf8_header_name_is_dead_lettered_at_once_and_loop_goes_on,
    a_dead_letter_without_its_key_and_headers_says_so_and_is_not_replayed,
    schema_invalid_payload_is_dead_lettered,
    dead_letter_errors_quote_no_payload_content,
    panicking_handler_does_not_stop_the_loop,
    clean_shutdown_commits_so_a_restart_sees_no_duplicates,
    partitions_run_concurrently_and_keep_order_within_each,
    keyed_backlog_is_handled_once_in_key_order,
    parameterized_channel_subscribes_by_regex_and_fills_parameters,
    a_record_of_a_topic_too_long_for_dot_dlq_is_dead_lettered,
    subscription_stream_yields_typed_messages_and_ack_stores_offsets,
    unsettled_stream_record_is_not_committed_on_shutdown,
    validating_producer_refuses_a_message_breaking_the_schema,
);

async fn message_round_trips_with_key_headers_and_position(kafka: &dyn Broker) {
    cluster(kafka, 2);
    let producer = Producer::new(&kafka.config()).unwrap();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = Consumer::new(kafka.config()).route::<UserSignups, _>(
        move |msg: UserSignedUp, ctx: MessageContext| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((msg, ctx));
            }
        },
        ListenerOptions::default(),
    );
    let (token, handle) = spawn(consumer);

    let sent = signup(7);
    let key = "user-7".to_owned();
    let headers = SignupHeaders {
        trace_id: Some("trace-abc".into()),
        priority: Some(3),
    };
    let delivery = producer
        .send::<UserSignups>(
            Outgoing::new(&sent)
                .key(&key)
                .headers(&headers)
                .header("x-extra", b"yes".to_vec()),
        )
        .await
        .expect("send");
    assert_eq!(delivery.topic, SIGNUPS);

    let (got, ctx) = with_timeout(20, "round-tripped message", rx.recv())
        .await
        .unwrap();
    assert_eq!(got, sent);
    assert_eq!(&*ctx.topic, SIGNUPS);
    assert_eq!(ctx.partition, delivery.partition);
    assert_eq!(ctx.offset, delivery.offset);
    assert_eq!(ctx.attempt, 1);
    assert!(ctx.timestamp.is_some());
    assert_eq!(ctx.parameters, NoParameters);
    assert_eq!(ctx.key_as::<String>().unwrap(), Some(key));
    assert_eq!(ctx.headers_as::<SignupHeaders>().unwrap(), headers);
    assert_eq!(ctx.header("x-extra"), Some(&b"yes"[..]));
    assert_eq!(ctx.header("content-type"), Some(&b"application/json"[..]));

    // Many sends in flight at once, then all confirmed.
    let messages: Vec<UserSignedUp> = (100..150).map(signup).collect();
    let mut pending = Vec::new();
    for m in &messages {
        pending.push(
            producer
                .enqueue::<UserSignups>(Outgoing::new(m))
                .await
                .unwrap(),
        );
    }
    for p in pending {
        p.await.expect("delivery");
    }
    let mut received = HashSet::new();
    while received.len() < messages.len() {
        let (m, _) = with_timeout(20, "batch", rx.recv()).await.unwrap();
        received.insert(m.seq);
    }
    assert_eq!(received, (100..150).collect());
    stop(token, handle).await;
}

async fn parameterized_topic_is_required_to_send(kafka: &dyn Broker) {
    cluster(kafka, 1);
    let producer = Producer::new(&kafka.config()).unwrap();
    let event = UserEvent { kind: "x".into() };
    let err = producer
        .send::<UserEvents>(Outgoing::new(&event))
        .await
        .unwrap_err();
    assert!(
        matches!(err, asyncapi_runtime::SendError::Topic(_)),
        "{err}"
    );
}

/// A `#[event_listener]`-style listener that always fails.
struct AlwaysFails;
/// Attempts seen by `AlwaysFails` (consumer state: both broker variants run at once).
type Attempts = Arc<Mutex<Vec<u32>>>;

impl Listener for AlwaysFails {
    type Channel = UserSignups;
    fn options() -> ListenerOptions {
        ListenerOptions::default().max_attempts(3)
    }
    async fn handle(_msg: UserSignedUp, ctx: MessageContext) -> Result<(), HandlerError> {
        if let Some(attempts) = ctx.state::<Attempts>() {
            attempts.lock().unwrap().push(ctx.attempt);
        }
        Err(HandlerError::new("database unavailable"))
    }
}

async fn failing_handler_is_retried_then_dead_lettered(kafka: &dyn Broker) {
    cluster(kafka, 1);
    let producer = Producer::new(&kafka.config()).unwrap();
    let attempts: Attempts = Arc::default();
    let consumer = Consumer::new(kafka.config())
        .side::<Application>()
        .with_state(attempts.clone())
        .listen::<AlwaysFails>()
        .retry(fast_retry(10));
    let (token, handle) = spawn(consumer);

    let msg = signup(1);
    let key = "k-1".to_owned();
    let d = producer
        .send::<UserSignups>(Outgoing::new(&msg).key(&key))
        .await
        .unwrap();

    let dlq = read_topic(&kafka.bootstrap_servers(), SIGNUPS_DLQ, 1, 300).await;
    assert_eq!(dlq.len(), 1, "exactly one dead letter");
    let r = &dlq[0];
    assert_eq!(r.payload, serde_json::to_vec(&msg).unwrap());
    assert_eq!(r.key.as_deref(), Some(key.as_bytes()));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(r.header("x-dlq-reason").as_deref(), Some("handler-error"));
    assert!(r
        .header("x-dlq-error")
        .unwrap()
        .contains("database unavailable"));
    assert_eq!(r.header("x-dlq-topic").as_deref(), Some(SIGNUPS));
    assert_eq!(r.header("x-dlq-partition"), Some(d.partition.to_string()));
    assert_eq!(r.header("x-dlq-offset"), Some(d.offset.to_string()));
    // The listener's max_attempts (3) wins over the consumer's policy (10).
    assert_eq!(r.header("x-dlq-attempts").as_deref(), Some("3"));
    assert_eq!(*attempts.lock().unwrap(), vec![1, 2, 3]);
    stop(token, handle).await;
}

fn counting_consumer(kafka: &dyn Broker, handled: Arc<Mutex<Vec<u64>>>) -> Consumer {
    Consumer::new(kafka.config())
        .retry(fast_retry(2))
        .route::<UserSignups, _>(
            move |msg: UserSignedUp, _ctx: MessageContext| {
                let handled = handled.clone();
                async move {
                    handled.lock().unwrap().push(msg.seq);
                }
            },
            ListenerOptions::default(),
        )
}

async fn malformed_payload_is_dead_lettered_at_once_and_loop_goes_on(kafka: &dyn Broker) {
    cluster(kafka, 1);
    let producer = Producer::new(&kafka.config()).unwrap();
    let handled = Arc::new(Mutex::new(Vec::new()));
    let (token, handle) = spawn(counting_consumer(kafka, handled.clone()));

    producer
        .send_raw(SIGNUPS, Some(b"k"), &[], b"{not json")
        .await
        .unwrap();
    producer
        .send::<UserSignups>(Outgoing::new(&signup(2)))
        .await
        .unwrap();

    wait_until(20, "good message handled", || {
        handled.lock().unwrap().contains(&2)
    })
    .await;
    let dlq = read_topic(&kafka.bootstrap_servers(), SIGNUPS_DLQ, 1, 300).await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].payload, b"{not json");
    assert_eq!(
        dlq[0].header("x-dlq-reason").as_deref(),
        Some("decode-error")
    );
    assert_eq!(dlq[0].header("x-dlq-attempts").as_deref(), Some("0"));
    assert_eq!(*handled.lock().unwrap(), vec![2]);
    stop(token, handle).await;
}

/// Header names are bytes on the wire; a foreign producer can write ones that are not
/// UTF-8. The record is dead-lettered at once (it cannot carry the contract's headers),
/// saying which header, and the records after it are handled.
async fn non_utf8_header_name_is_dead_lettered_at_once_and_loop_goes_on(kafka: &dyn Broker) {
    cluster(kafka, 1);
    let handled = Arc::new(Mutex::new(Vec::new()));
    let (token, handle) = spawn(counting_consumer(kafka, handled.clone()));
    let payload = serde_json::to_vec(&signup(1)).unwrap();
    let bad = ForeignRecord {
        key: Some(b"k".to_vec()),
        value: Some(payload.clone()),
        headers: vec![
            (b"trace_id".to_vec(), b"t-1".to_vec()),
            (b"\xff\xfe-not-utf8".to_vec(), b"v".to_vec()),
        ],
        ..ForeignRecord::default()
    };
    let bootstrap = kafka.bootstrap_servers();
    tokio::task::spawn_blocking(move || foreign::produce(&bootstrap, SIGNUPS, &[bad]))
        .await
        .unwrap()
        .expect("foreign producer");
    Producer::new(&kafka.config())
        .unwrap()
        .send::<UserSignups>(Outgoing::new(&signup(2)))
        .await
        .unwrap();

    wait_until(20, "the record after the bad one handled", || {
        handled.lock().unwrap().contains(&2)
    })
    .await;
    let dlq = read_topic(&kafka.bootstrap_servers(), SIGNUPS_DLQ, 1, 300).await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].payload, payload);
    assert_eq!(
        dlq[0].header("x-dlq-reason").as_deref(),
        Some("decode-error")
    );
    assert_eq!(dlq[0].header("x-dlq-attempts").as_deref(), Some("0"));
    let error = dlq[0].header("x-dlq-error").unwrap_or_default();
    assert!(
        error.contains("header 2") && error.contains("UTF-8"),
        "{error}"
    );
    assert_eq!(*handled.lock().unwrap(), vec![2]);
    stop(token, handle).await;
}

/// A record whose key and headers alone exceed what the dead-letter producer may send
/// (`message.max.bytes`, 1 MB by default) is dead-lettered without them, saying so and
/// where the original is; such a dead letter is not replayed, since without them it
/// would be another record.
async fn a_dead_letter_without_its_key_and_headers_says_so_and_is_not_replayed(kafka: &dyn Broker) {
    const LIMIT: &str = "4000000";
    for name in [SIGNUPS, SIGNUPS_DLQ] {
        let spec = TopicSpec::new(name, 1).config("max.message.bytes", LIMIT);
        kafka.create_topic_spec(&spec).expect("create topic");
    }
    let handled = Arc::new(Mutex::new(Vec::new()));
    let (token, handle) = spawn(counting_consumer(kafka, handled.clone()));
    // No payload (a decode error), a header of 1.2 MB.
    let wide = Producer::new(&kafka.config().set("message.max.bytes", LIMIT)).unwrap();
    let big = vec![("big".to_owned(), vec![b'h'; 1_200_000])];
    wide.send_raw(SIGNUPS, Some(b"k"), &big, b"").await.unwrap();
    Producer::new(&kafka.config())
        .unwrap()
        .send::<UserSignups>(Outgoing::new(&signup(2)))
        .await
        .unwrap();
    wait_until(30, "the record after the wide one handled", || {
        handled.lock().unwrap().contains(&2)
    })
    .await;

    let reader =
        DeadLetterReader::new(&kafka.config(), SIGNUPS_DLQ).timeout(Duration::from_secs(10));
    let letters = reader.read().await.unwrap();
    let [letter] = letters.as_slice() else {
        panic!("one dead letter, got {letters:?}")
    };
    assert_eq!(letter.reason.as_deref(), Some("decode-error"));
    assert_eq!(letter.key, None);
    assert!(letter.headers.is_empty(), "{:?}", letter.headers);
    let why = letter.envelope_omitted.as_deref().unwrap_or_default();
    assert!(
        why.contains("1 header(s)") && why.contains(&format!("{SIGNUPS}/0/0")),
        "{why}"
    );
    let not_replayable = letter.not_replayable().unwrap_or_default();
    assert!(
        not_replayable.contains("key and headers"),
        "{not_replayable}"
    );
    match reader.replay(&wide, letter).await {
        Err(DeadLetterError::NotReplayable { .. }) => {}
        other => panic!("expected the replay refused, got {other:?}"),
    }
    stop(token, handle).await;
}

async fn schema_invalid_payload_is_dead_lettered(kafka: &dyn Broker) {
    cluster(kafka, 1);
    let producer = Producer::new(&kafka.config()).unwrap();
    let handled = Arc::new(Mutex::new(Vec::new()));
    let (token, handle) = spawn(counting_consumer(kafka, handled.clone()));

    // Decodes into `UserSignedUp` fine, but `seq` must be >= 1 per the schema, and
    // `email` has `format: email`, which is asserted.
    producer
        .send::<UserSignups>(Outgoing::new(&signup(0)))
        .await
        .unwrap();
    let not_an_email = UserSignedUp {
        email: "not an email".into(),
        ..signup(2)
    };
    producer
        .send::<UserSignups>(Outgoing::new(&not_an_email))
        .await
        .unwrap();
    producer
        .send::<UserSignups>(Outgoing::new(&signup(3)))
        .await
        .unwrap();

    wait_until(20, "valid message handled", || {
        handled.lock().unwrap().contains(&3)
    })
    .await;
    let dlq = read_topic(&kafka.bootstrap_servers(), SIGNUPS_DLQ, 2, 300).await;
    assert_eq!(dlq.len(), 2);
    for record in &dlq {
        assert_eq!(
            record.header("x-dlq-reason").as_deref(),
            Some("schema-error")
        );
    }
    assert!(dlq[0].header("x-dlq-error").unwrap().contains("seq"));
    let format_error = dlq[1].header("x-dlq-error").unwrap();
    assert!(format_error.contains("email"), "{format_error}");
    assert!(
        !format_error.contains("not an email"),
        "the value leaked: {format_error}"
    );
    assert_eq!(*handled.lock().unwrap(), vec![3]);
    stop(token, handle).await;
}

/// `x-dlq-error` (and the log line) says where and why a payload broke the contract,
/// never what it held: the schema validator and serde both quote the payload, which
/// is someone's data (and for a wrong root type, the whole payload).
async fn dead_letter_errors_quote_no_payload_content(kafka: &dyn Broker) {
    cluster(kafka, 1);
    let producer = Producer::new(&kafka.config()).unwrap();
    let handled = Arc::new(Mutex::new(Vec::new()));
    let (token, handle) = spawn(counting_consumer(kafka, handled.clone()));
    let big_array = format!("[\"SECRET-ROOT\", \"{}\"]", "x".repeat(100_000));
    let payloads: [&[u8]; 3] = [
        br#"{"user_id": "u", "email": "SECRET-EMAIL", "seq": "SECRET-SEQ"}"#,
        big_array.as_bytes(),
        br#"{"user_id": "SECRET-TRUNCATED"#,
    ];
    for payload in payloads {
        producer
            .send_raw(SIGNUPS, Some(b"k"), &[], payload)
            .await
            .unwrap();
    }
    let dlq = read_topic(&kafka.bootstrap_servers(), SIGNUPS_DLQ, 3, 300).await;
    assert_eq!(dlq.len(), 3);
    let errors: Vec<String> = dlq
        .iter()
        .map(|r| r.header("x-dlq-error").unwrap_or_default())
        .collect();
    for error in &errors {
        assert!(!error.contains("SECRET") && error.len() < 1_200, "{error}");
    }
    assert!(errors[0].contains("`/seq` fails `type`"), "{}", errors[0]);
    assert!(errors[1].contains("`` fails `type`"), "{}", errors[1]);
    assert!(errors[2].contains("EOF while parsing"), "{}", errors[2]);
    assert!(handled.lock().unwrap().is_empty());
    stop(token, handle).await;
}

async fn panicking_handler_does_not_stop_the_loop(kafka: &dyn Broker) {
    cluster(kafka, 1);
    let producer = Producer::new(&kafka.config()).unwrap();
    let handled = Arc::new(Mutex::new(Vec::new()));
    let seen = handled.clone();
    let consumer = Consumer::new(kafka.config())
        .retry(fast_retry(2))
        .route::<UserSignups, _>(
            move |msg: UserSignedUp, _ctx: MessageContext| {
                let seen = seen.clone();
                async move {
                    if msg.seq == 1 {
                        panic!("boom on seq 1");
                    }
                    seen.lock().unwrap().push(msg.seq);
                }
            },
            ListenerOptions::default(),
        );
    let (token, handle) = spawn(consumer);

    for seq in [1, 2, 3] {
        producer
            .send::<UserSignups>(Outgoing::new(&signup(seq)))
            .await
            .unwrap();
    }
    wait_until(20, "messages after the panic handled", || {
        handled.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(*handled.lock().unwrap(), vec![2, 3]);
    let dlq = read_topic(&kafka.bootstrap_servers(), SIGNUPS_DLQ, 1, 300).await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(
        dlq[0].header("x-dlq-reason").as_deref(),
        Some("handler-panic")
    );
    assert!(dlq[0]
        .header("x-dlq-error")
        .unwrap()
        .contains("boom on seq 1"));
    assert_eq!(dlq[0].header("x-dlq-attempts").as_deref(), Some("2"));
    assert!(!handle.is_finished(), "the consumer loop must still run");
    stop(token, handle).await;
}

async fn clean_shutdown_commits_so_a_restart_sees_no_duplicates(kafka: &dyn Broker) {
    const TOTAL: u64 = 60;
    cluster(kafka, 2);
    let config = restartable(kafka.config());
    let producer = Producer::new(&kafka.config()).unwrap();
    for seq in 1..=TOTAL {
        let key = format!("key-{}", seq % 5);
        producer
            .send::<UserSignups>(Outgoing::new(&signup(seq)).key(&key))
            .await
            .unwrap();
    }

    let slow = |handled: Arc<Mutex<Vec<u64>>>| {
        Consumer::new(config.clone()).route::<UserSignups, _>(
            move |msg: UserSignedUp, _ctx: MessageContext| {
                let handled = handled.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    handled.lock().unwrap().push(msg.seq);
                }
            },
            ListenerOptions::default(),
        )
    };

    let first = Arc::new(Mutex::new(Vec::new()));
    let (token, handle) = spawn(slow(first.clone()));
    wait_until(20, "first consumer handles some", || {
        first.lock().unwrap().len() >= 10
    })
    .await;
    stop(token, handle).await;
    let first: Vec<u64> = first.lock().unwrap().clone();
    assert!(
        (first.len() as u64) < TOTAL,
        "shutdown should interrupt the backlog"
    );

    let second = Arc::new(Mutex::new(Vec::new()));
    let (token, handle) = spawn(slow(second.clone()));
    wait_until(30, "second consumer handles the rest", || {
        let second = second.lock().unwrap();
        first
            .iter()
            .chain(second.iter())
            .collect::<HashSet<_>>()
            .len() as u64
            == TOTAL
    })
    .await;
    // Let any redelivery of already-handled records show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(token, handle).await;

    let second = second.lock().unwrap().clone();
    let first_set: HashSet<u64> = first.iter().copied().collect();
    let duplicates = second.iter().filter(|s| first_set.contains(s)).count();
    assert_eq!(duplicates, 0, "first: {first:?}\nsecond: {second:?}");
    assert_eq!(first.len() + second.len(), TOTAL as usize);
}

async fn partitions_run_concurrently_and_keep_order_within_each(kafka: &dyn Broker) {
    cluster(kafka, 2);
    let producer = Producer::new(&kafka.config()).unwrap();
    // Partition 0's handlers wait until one on partition 1 ran: with a single
    // sequential loop this would time out.
    let gate = Arc::new(Semaphore::new(0));
    let gate_timed_out = Arc::new(AtomicBool::new(false));
    let order = Arc::new(Mutex::new(Vec::<(i32, u64)>::new()));
    let (g, t, o) = (gate.clone(), gate_timed_out.clone(), order.clone());
    let consumer = Consumer::new(kafka.config()).route::<UserSignups, _>(
        move |msg: UserSignedUp, ctx: MessageContext| {
            let (gate, timed_out, order) = (g.clone(), t.clone(), o.clone());
            async move {
                if ctx.partition == 0 {
                    let waited =
                        tokio::time::timeout(Duration::from_secs(10), gate.acquire()).await;
                    if waited.is_err() {
                        timed_out.store(true, Ordering::SeqCst);
                    }
                } else {
                    gate.add_permits(1_000);
                }
                order.lock().unwrap().push((ctx.partition, msg.seq));
            }
        },
        ListenerOptions::default(),
    );

    // Partition 0 first, so its handler is already blocked when partition 1's arrive.
    for seq in 1..=20u64 {
        producer
            .send::<UserSignups>(Outgoing::new(&signup(seq)).partition(0))
            .await
            .unwrap();
    }
    for seq in 101..=120u64 {
        producer
            .send::<UserSignups>(Outgoing::new(&signup(seq)).partition(1))
            .await
            .unwrap();
    }
    let (token, handle) = spawn(consumer);
    wait_until(30, "all 40 handled", || order.lock().unwrap().len() == 40).await;
    stop(token, handle).await;

    assert!(
        !gate_timed_out.load(Ordering::SeqCst),
        "partition 0 waited for partition 1 in vain: partitions are not concurrent"
    );
    let mut per_partition: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
    for (p, seq) in order.lock().unwrap().iter() {
        per_partition.entry(*p).or_default().push(*seq);
    }
    assert_eq!(per_partition[&0], (1..=20).collect::<Vec<_>>());
    assert_eq!(per_partition[&1], (101..=120).collect::<Vec<_>>());
}

async fn keyed_backlog_is_handled_once_in_key_order(kafka: &dyn Broker) {
    cluster(kafka, 2);
    let producer = Producer::new(&kafka.config()).unwrap();
    let mut expected: HashMap<String, Vec<u64>> = HashMap::new();
    for seq in 1..=60u64 {
        let key = format!("key-{}", seq % 3);
        expected.entry(key.clone()).or_default().push(seq);
        producer
            .send::<UserSignups>(Outgoing::new(&signup(seq)).key(&key))
            .await
            .unwrap();
    }
    let order = Arc::new(Mutex::new(Vec::<(String, u64)>::new()));
    let o = order.clone();
    let consumer = Consumer::new(kafka.config()).route::<UserSignups, _>(
        move |msg: UserSignedUp, ctx: MessageContext| {
            let order = o.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let key = ctx.key_as::<String>().unwrap().unwrap();
                order.lock().unwrap().push((key, msg.seq));
            }
        },
        ListenerOptions::default(),
    );
    let (token, handle) = spawn(consumer);
    wait_until(30, "all 60 handled", || order.lock().unwrap().len() >= 60).await;
    stop(token, handle).await;
    let mut per_key: HashMap<String, Vec<u64>> = HashMap::new();
    for (k, seq) in order.lock().unwrap().iter() {
        per_key.entry(k.clone()).or_default().push(*seq);
    }
    // Every record exactly once, per-key sequence strictly increasing.
    assert_eq!(per_key, expected);
}

async fn parameterized_channel_subscribes_by_regex_and_fills_parameters(kafka: &dyn Broker) {
    cluster(kafka, 1);
    for t in ["user.alice.events", "user.bob.events", "user.carol.other"] {
        kafka.create_topic(t, 1).unwrap();
    }
    let producer = Producer::new(&kafka.config()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let consumer = Consumer::new(kafka.config())
        .group_id("events-service")
        .route::<UserEvents, _>(
            move |msg: UserEvent, ctx: MessageContext<UserEventsParameters>| {
                let seen = s.clone();
                async move {
                    seen.lock().unwrap().push((
                        ctx.parameters.user_id.clone(),
                        ctx.topic.clone(),
                        msg.kind,
                    ));
                }
            },
            ListenerOptions::default(),
        );
    let (token, handle) = spawn(consumer);
    for user in ["alice", "bob"] {
        let params = UserEventsParameters {
            user_id: user.into(),
        };
        let event = UserEvent {
            kind: format!("{user}-login"),
        };
        let d = producer
            .send::<UserEvents>(Outgoing::new(&event).parameters(&params))
            .await
            .unwrap();
        assert_eq!(d.topic, format!("user.{user}.events"));
    }
    producer
        .send_raw("user.carol.other", None, &[], br#"{"kind":"no"}"#)
        .await
        .unwrap();
    wait_until(20, "both users' events", || seen.lock().unwrap().len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(token, handle).await;
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (
                "alice".into(),
                "user.alice.events".into(),
                "alice-login".into()
            ),
            ("bob".into(), "user.bob.events".into(), "bob-login".into()),
        ]
    );
}

/// A topic of a channel with parameters is whatever a producer names (up to Kafka's
/// 249 characters): `<topic>.dlq` of a 246-character topic is no topic name, so the
/// default dead-letter topic is cut to fit, with a hash
/// (`asyncapi_syntax::topic::dead_letter_topic`), and the record reaches it.
async fn a_record_of_a_topic_too_long_for_dot_dlq_is_dead_lettered(kafka: &dyn Broker) {
    cluster(kafka, 1);
    let user = "u".repeat(246 - "user..events".len());
    let topic = format!("user.{user}.events");
    assert_eq!(topic.len(), 246);
    let dead_letters = asyncapi_syntax::topic::dead_letter_topic(&topic);
    assert!(dead_letters.len() <= 249 && dead_letters.ends_with(".dlq"));
    kafka.create_topic(&topic, 1).unwrap();
    kafka.create_topic(&dead_letters, 1).unwrap();
    let consumer = Consumer::new(kafka.config())
        .group_id(format!("long-topics-{}", uuid::Uuid::new_v4()))
        .route::<UserEvents, _>(
            |_: UserEvent, _: MessageContext<UserEventsParameters>| async {},
            ListenerOptions::default(),
        );
    let (token, handle) = spawn(consumer);
    let producer = Producer::new(&kafka.config()).unwrap();
    producer
        .send_raw(&topic, None, &[], b"not json")
        .await
        .unwrap();
    let dead = read_topic(&kafka.bootstrap_servers(), &dead_letters, 1, 300).await;
    assert_eq!(
        dead[0].header("x-dlq-reason").as_deref(),
        Some("decode-error")
    );
    stop(token, handle).await;
}

async fn subscription_stream_yields_typed_messages_and_ack_stores_offsets(kafka: &dyn Broker) {
    cluster(kafka, 1);
    let config = restartable(kafka.config());
    let producer = Producer::new(&kafka.config()).unwrap();
    for seq in 1..=3 {
        producer
            .send::<UserSignups>(Outgoing::new(&signup(seq)))
            .await
            .unwrap();
    }

    let mut consumer = Consumer::new(config.clone()).retry(fast_retry(3));
    let mut stream = consumer.subscribe::<UserSignups>();
    let (token, handle) = spawn(consumer);
    let mut got = Vec::new();
    let mut acked = 0;
    while acked < 3 {
        let r = with_timeout(20, "stream item", stream.next())
            .await
            .expect("stream ended early");
        got.push((r.message.seq, r.context.attempt));
        // Nack seq 2 once: it must come back as attempt 2, before seq 3 (order).
        if r.message.seq == 2 && r.context.attempt == 1 {
            r.nack("not yet");
        } else {
            r.ack();
            acked += 1;
        }
    }
    assert_eq!(got, vec![(1, 1), (2, 1), (2, 2), (3, 1)]);
    stop(token, handle).await;
    assert!(
        stream.next().await.is_none(),
        "stream ends with the consumer"
    );

    // Restart in the same group: acked records are not delivered again.
    producer
        .send::<UserSignups>(Outgoing::new(&signup(4)))
        .await
        .unwrap();
    let mut consumer = Consumer::new(config).retry(fast_retry(3));
    let mut stream = consumer.subscribe::<UserSignups>();
    let (token, handle) = spawn(consumer);
    let next = with_timeout(20, "stream item after restart", stream.next())
        .await
        .unwrap();
    assert_eq!(next.message.seq, 4, "acked records were redelivered");
    next.ack();
    stop(token, handle).await;
}

async fn unsettled_stream_record_is_not_committed_on_shutdown(kafka: &dyn Broker) {
    cluster(kafka, 1);
    let config = restartable(kafka.config());
    let producer = Producer::new(&kafka.config()).unwrap();
    producer
        .send::<UserSignups>(Outgoing::new(&signup(1)))
        .await
        .unwrap();

    let mut consumer = Consumer::new(config.clone());
    let mut stream = consumer.subscribe::<UserSignups>();
    let (token, handle) = spawn(consumer);
    let held = with_timeout(20, "first delivery", stream.next())
        .await
        .unwrap();
    assert_eq!(held.message.seq, 1);
    // Shutdown must not wait forever on a record the stream's user never settles.
    stop(token, handle).await;
    drop(held);

    let mut consumer = Consumer::new(config);
    let mut stream = consumer.subscribe::<UserSignups>();
    let (token, handle) = spawn(consumer);
    let again = with_timeout(20, "redelivery", stream.next()).await.unwrap();
    assert_eq!(
        again.message.seq, 1,
        "an unsettled record must be redelivered"
    );
    again.ack();
    stop(token, handle).await;
}

#[tokio::test]
async fn consumer_without_group_is_rejected() {
    let err = Consumer::new(KafkaConfig::new("localhost:9"))
        .route::<UserEvents, _>(
            |_m: UserEvent, _c: MessageContext<UserEventsParameters>| async {},
            ListenerOptions::default(),
        )
        .run(Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ConsumerError::MissingGroupId), "{err}");
    assert!(err.to_string().contains("group_id"));
}

/// With `validate_sends`, a message breaking its channel's schema (`seq` must be at
/// least 1) is refused before it is enqueued; without it, it goes out and the receiver
/// dead-letters it (`schema_invalid_payload_is_dead_lettered`).
async fn validating_producer_refuses_a_message_breaking_the_schema(kafka: &dyn Broker) {
    cluster(kafka, 1);
    let producer = Producer::new(&kafka.config().validate_sends(true)).unwrap();
    match producer
        .send::<UserSignups>(Outgoing::new(&signup(0)))
        .await
    {
        Err(asyncapi_runtime::SendError::Schema { channel, details }) => {
            assert_eq!(channel, "userSignups");
            assert!(
                details.contains("/seq") && details.contains("minimum"),
                "{details}"
            );
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
    let delivery = producer
        .send::<UserSignups>(Outgoing::new(&signup(1)))
        .await
        .unwrap();
    // The refused message never reached the topic: the valid one is its first record.
    assert_eq!(delivery.offset, 0);
}

/// The in-memory broker's configuration validates sends, as tests want: a message
/// breaking its channel's schema is refused where it is sent, not found later as a dead
/// letter; `validate_sends(false)` lets a test send it to exercise a receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_producers_validate_what_they_send() {
    let broker = asyncapi_runtime::testing::TestBroker::new();
    let producer = Producer::new(&broker.config()).unwrap();
    let refused = producer
        .send::<UserSignups>(Outgoing::new(&signup(0)))
        .await;
    assert!(
        matches!(refused, Err(asyncapi_runtime::SendError::Schema { .. })),
        "{refused:?}"
    );
    assert!(broker.records("user.signedup").is_empty());
    let lenient = Producer::new(&broker.config().validate_sends(false)).unwrap();
    lenient
        .send::<UserSignups>(Outgoing::new(&signup(0)))
        .await
        .unwrap();
    assert_eq!(broker.records("user.signedup").len(), 1);
}

/// A producer dropped on a current-thread runtime does not hold the runtime's only
/// thread for its flush: the runtime's blocking pool flushes, so the records enqueued
/// and never awaited still reach the broker while the runtime goes on (and the
/// runtime's own drop waits for that flush).
#[tokio::test(flavor = "current_thread")]
async fn a_producer_dropped_on_a_current_thread_runtime_flushes_off_it() {
    // No broker answers here: a flush waits until the record times out, 3 s.
    let unreachable =
        Producer::new(&KafkaConfig::new("127.0.0.1:9").set("message.timeout.ms", "3000")).unwrap();
    let pending = unreachable
        .enqueue::<UserSignups>(Outgoing::new(&signup(1)))
        .await
        .unwrap();
    drop(pending);
    let started = std::time::Instant::now();
    drop(unreachable);
    let blocked = started.elapsed();
    assert!(
        blocked < Duration::from_secs(1),
        "dropping the producer held the runtime for {blocked:?}"
    );

    run_on(asyncapi_test_support::BrokerKind::Embedded, |kafka| {
        Box::pin(async move {
            cluster(kafka, 1);
            let producer = Producer::new(&kafka.config()).unwrap();
            for seq in 1..=50 {
                let delivery = producer
                    .enqueue::<UserSignups>(Outgoing::new(&signup(seq)))
                    .await
                    .unwrap();
                drop(delivery); // never awaited: only the flush delivers it
            }
            drop(producer);
            let records = read_topic(&kafka.bootstrap_servers(), SIGNUPS, 50, 200).await;
            assert_eq!(records.len(), 50, "every enqueued record was delivered");
        })
    })
    .await;
}

/// A producer still held by a task when its runtime shuts down is dropped during the
/// shutdown, when the runtime's blocking pool may refuse new work: its queued records
/// still reach the broker (the flush runs in place rather than being dropped with the
/// refused task).
#[test]
fn a_producer_dropped_while_its_runtime_shuts_down_still_delivers() {
    let kafka = asyncapi_runtime::EmbeddedKafka::start(1).unwrap();
    kafka.create_topic(SIGNUPS, 1).unwrap();
    let config = kafka.config();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let producer = Producer::new(&config).unwrap();
        for seq in 1..=50 {
            let delivery = producer
                .enqueue::<UserSignups>(Outgoing::new(&signup(seq)))
                .await
                .unwrap();
            drop(delivery);
        }
        // The task holds the producer until the runtime drops it.
        tokio::spawn(async move {
            let _held = producer;
            std::future::pending::<()>().await
        });
    });
    drop(runtime);

    let reader = tokio::runtime::Runtime::new().unwrap();
    let records = reader.block_on(read_topic(kafka.bootstrap_servers(), SIGNUPS, 50, 200));
    assert_eq!(records.len(), 50, "every enqueued record was delivered");
}
