//! The seed document end to end through generated code: both messages round-trip with
//! equal values through the embedded broker, a handler error is retried, then
//! dead-lettered with its reason, and payloads breaking the schema are dead-lettered.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use asyncapi_runtime::{
    event_listener, CancellationToken, Channel, ConsumerError, DeadLetterReader, EmbeddedKafka,
    MessageContext, RetryPolicy, Shared,
};
use futures::StreamExt;
use tokio::sync::mpsc;

#[allow(deprecated)] // the seed's known warnings: undeclared `{version}`, unknown `basicAuth`
mod account {
    asyncapi_runtime::asyncapi!("fixtures/specs/account-service.yaml");
}
use account::{channels, AccountCreated, UserSignup};

type Seen = mpsc::UnboundedSender<(UserSignup, i64)>;

/// Takes the consumer's state as a typed parameter: a consumer without a `Seen` does
/// not start (see `a_listener_without_its_state_stops_the_consumer_before_any_record`).
#[event_listener(api = account, channel = "user/signup", group = "seed-service")]
async fn record_signup(signup: UserSignup, ctx: MessageContext, seen: Shared<Seen>) {
    let _ = seen.send((signup, ctx.offset));
}

#[event_listener(api = account, channel = "user/signup", group = "seed-failing", max_attempts = 3)]
async fn always_fails(signup: UserSignup, ctx: MessageContext) -> Result<(), String> {
    if let Some(attempts) = ctx.state::<Arc<AtomicU32>>() {
        attempts.fetch_add(1, Ordering::SeqCst);
    }
    Err(format!("cannot open an account for {:?}", signup.email))
}

fn broker() -> EmbeddedKafka {
    let kafka = EmbeddedKafka::start(1).expect("embedded broker");
    for topic in [
        <channels::UserSignup as Channel>::TOPIC,
        <channels::AccountCreated as Channel>::TOPIC,
        "user.signup.dlq",
    ] {
        kafka.create_topic(topic, 1).expect("topic");
    }
    kafka
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_seed_messages_round_trip_with_equal_values() {
    let kafka = broker();
    let service = account::Application::new(kafka.config()).unwrap();
    let client = account::Client::new(kafka.config()).unwrap();
    let stop = CancellationToken::new();

    let (service_loop, mut seen_rx) = spawn_signup_recorder(&kafka, &stop);
    let mut client_consumer = client.consumer().group_id("seed-client");
    let mut accounts = client_consumer.subscribe::<channels::AccountCreated>();
    let client_loop = tokio::spawn(client_consumer.run(stop.clone()));

    let signup = UserSignup {
        email: Some("ada@example.com".into()),
        name: Some("Ada".into()),
    };
    client.send_user_signup(&signup).await.unwrap();
    let (received, _) = tokio::time::timeout(Duration::from_secs(20), seen_rx.recv())
        .await
        .expect("signup within 20 s")
        .unwrap();
    assert_eq!(received, signup);

    let created = AccountCreated {
        account_id: Some("acc-1".into()),
        balance: Some(42.5),
    };
    service.send_account_created(&created).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), accounts.next())
        .await
        .expect("account within 20 s")
        .unwrap();
    assert_eq!(got.message, created);
    assert_eq!(&*got.context.topic, "account.created");
    got.ack();

    stop.cancel();
    service_loop.await.unwrap().unwrap();
    client_loop.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_error_is_retried_then_dead_lettered_with_reason() {
    let kafka = broker();
    let service = account::Application::new(kafka.config()).unwrap();
    let client = account::Client::new(kafka.config()).unwrap();
    let stop = CancellationToken::new();
    let attempts = Arc::new(AtomicU32::new(0));
    // The consumer allows 5 attempts: the listener's `max_attempts = 3` must win.
    let fast = RetryPolicy::default()
        .max_attempts(5)
        .initial_backoff(Duration::from_millis(10))
        .max_backoff(Duration::from_millis(50));
    let service_loop = tokio::spawn(
        service
            .consumer()
            .retry(fast)
            .with_state(attempts.clone())
            .listen::<always_fails>()
            .run(stop.clone()),
    );

    // Read the dead-letter topic with a raw-headers channel of its own.
    let dlq = rdkafka_dlq_reader(&kafka);
    client
        .send_user_signup(&UserSignup {
            email: Some("bob@example.com".into()),
            name: None,
        })
        .await
        .unwrap();
    let record = tokio::task::spawn_blocking(dlq).await.unwrap();
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "the listener's three attempts before dead-lettering"
    );
    let header = |name: &str| header(&record, name);
    assert_eq!(header("x-dlq-reason").as_deref(), Some("handler-error"));
    assert!(header("x-dlq-error").unwrap().contains("bob@example.com"));
    assert_eq!(header("x-dlq-topic").as_deref(), Some("user.signup"));
    assert_eq!(header("x-dlq-attempts").as_deref(), Some("3"));
    let original: UserSignup =
        asyncapi_runtime::__private::serde_json::from_slice(&record.0).unwrap();
    assert_eq!(original.email.as_deref(), Some("bob@example.com"));

    stop.cancel();
    service_loop.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_the_schema_rejects_are_dead_lettered_even_where_decoding_is_the_validation() {
    // `user/signup`'s type carries its whole schema, so valid records skip the JSON
    // Schema pass; these two would decode with plain serde types but break the schema.
    const { assert!(<channels::UserSignup as Channel>::PAYLOAD_TYPE_ENFORCES_SCHEMA) };
    let kafka = broker();
    let stop = CancellationToken::new();
    let (service_loop, mut seen_rx) = spawn_signup_recorder(&kafka, &stop);
    let producer = asyncapi_runtime::Producer::new(&kafka.config()).unwrap();
    let topic = <channels::UserSignup as Channel>::TOPIC;
    for payload in [
        &br#"["array@example.com", "In field order"]"#[..],
        br#"{"email": null, "name": "Null email"}"#,
        br#"{"email": "ok@example.com"}"#,
    ] {
        producer.send_raw(topic, None, &[], payload).await.unwrap();
    }
    let (handled, offset) = tokio::time::timeout(Duration::from_secs(20), seen_rx.recv())
        .await
        .expect("the valid signup within 20 s")
        .unwrap();
    assert_eq!(handled.email.as_deref(), Some("ok@example.com"));
    assert_eq!(
        offset, 2,
        "the two invalid records were not handed to the handler"
    );
    let dead = tokio::task::spawn_blocking(dlq_reader(&kafka, 2))
        .await
        .unwrap();
    for (record, offset) in dead.iter().zip(["0", "1"]) {
        assert_eq!(
            header(record, "x-dlq-reason").as_deref(),
            Some("schema-error")
        );
        assert_eq!(header(record, "x-dlq-offset").as_deref(), Some(offset));
    }
    stop.cancel();
    service_loop.await.unwrap().unwrap();
}

/// A dead letter read back through the runtime's reader: the original record, typed,
/// with why and from where; replayed, it reaches its channel's handler again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_read_back_typed_and_replayed_to_their_channel() {
    let kafka = broker();
    let client = account::Client::new(kafka.config()).unwrap();
    let failing = CancellationToken::new();
    // The consumer allows 5 attempts: the listener's `max_attempts = 3` must win.
    let fast = RetryPolicy::default()
        .max_attempts(5)
        .initial_backoff(Duration::from_millis(10))
        .max_backoff(Duration::from_millis(50));
    let failing_loop = tokio::spawn(
        account::Application::new(kafka.config())
            .unwrap()
            .consumer()
            .retry(fast)
            .listen::<always_fails>()
            .run(failing.clone()),
    );
    let signup = UserSignup {
        email: Some("carol@example.com".into()),
        name: Some("Carol".into()),
    };
    client.send_user_signup(&signup).await.unwrap();

    let reader = DeadLetterReader::for_channel::<channels::UserSignup>(&kafka.config())
        .timeout(Duration::from_secs(10));
    assert_eq!(reader.topic(), "user.signup.dlq");
    let letters = read_at_least(&reader, 1).await;
    failing.cancel();
    failing_loop.await.unwrap().unwrap();
    let [letter] = letters.as_slice() else {
        panic!("one dead letter, got {}", letters.len())
    };
    assert_eq!(letter.reason.as_deref(), Some("handler-error"));
    assert!(letter
        .error
        .as_deref()
        .unwrap()
        .contains("carol@example.com"));
    assert_eq!(
        letter.attempts,
        Some(3),
        "the listener's `max_attempts = 3`"
    );
    let source = letter.source.as_ref().unwrap();
    assert_eq!(
        (source.topic.as_str(), source.partition, source.offset),
        ("user.signup", 0, 0)
    );
    assert!(letter
        .headers
        .iter()
        .all(|(name, _)| !name.starts_with("x-dlq-")));
    assert_eq!(letter.not_replayable(), None);
    let typed = letter.message::<channels::UserSignup>().unwrap();
    assert_eq!(typed, signup);

    let stop = CancellationToken::new();
    let (service_loop, mut seen_rx) = spawn_signup_recorder(&kafka, &stop);
    let producer = asyncapi_runtime::Producer::new(&kafka.config()).unwrap();
    let delivery = reader.replay(&producer, letter).await.unwrap();
    assert_eq!(
        (delivery.topic.as_ref(), delivery.offset),
        ("user.signup", 1)
    );
    loop {
        let (handled, offset) = tokio::time::timeout(Duration::from_secs(20), seen_rx.recv())
            .await
            .expect("the replayed signup within 20 s")
            .unwrap();
        assert_eq!(handled, signup);
        if offset == 1 {
            break;
        }
    }
    stop.cancel();
    service_loop.await.unwrap().unwrap();
}

/// Reads `reader`'s topic until it holds `n` records (dead-lettering is asynchronous).
async fn read_at_least(reader: &DeadLetterReader, n: usize) -> Vec<asyncapi_runtime::DeadLetter> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let letters = reader.read().await.unwrap();
        if letters.len() >= n {
            return letters;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} dead letters within 30 s",
            letters.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

type ServiceLoop = tokio::task::JoinHandle<Result<(), asyncapi_runtime::ConsumerError>>;

/// The service side's consumer with `record_signup`: what it handled, with offsets.
fn spawn_signup_recorder(
    kafka: &EmbeddedKafka,
    stop: &CancellationToken,
) -> (ServiceLoop, mpsc::UnboundedReceiver<(UserSignup, i64)>) {
    let service = account::Application::new(kafka.config()).unwrap();
    let (seen_tx, seen_rx) = mpsc::unbounded_channel::<(UserSignup, i64)>();
    let service_loop = tokio::spawn(
        service
            .consumer()
            .with_state(seen_tx)
            .listen::<record_signup>()
            .run(stop.clone()),
    );
    (service_loop, seen_rx)
}

/// The value of header `name` of a raw record, as text.
fn header(record: &RawRecord, name: &str) -> Option<String> {
    record
        .1
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

/// A blocking reader of the first record on `user.signup.dlq` (payload, headers).
fn rdkafka_dlq_reader(kafka: &EmbeddedKafka) -> impl FnOnce() -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let read = dlq_reader(kafka, 1);
    move || read().remove(0)
}

type RawRecord = (Vec<u8>, Vec<(String, Vec<u8>)>);

/// A blocking reader of the first `n` records on `user.signup.dlq` (payload, headers).
fn dlq_reader(kafka: &EmbeddedKafka, n: usize) -> impl FnOnce() -> Vec<RawRecord> {
    let servers = kafka.bootstrap_servers().to_owned();
    move || {
        use rdkafka::consumer::{BaseConsumer, Consumer as _};
        use rdkafka::message::{Headers as _, Message as _};
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &servers)
            .set("group.id", "dlq-reader")
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        consumer.subscribe(&["user.signup.dlq"]).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut records = Vec::new();
        while std::time::Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                records.push((m.payload().unwrap_or_default().to_vec(), headers));
                if records.len() == n {
                    return records;
                }
            }
        }
        panic!(
            "{} of {n} records reached user.signup.dlq within 30 s",
            records.len()
        );
    }
}

/// A listener whose state parameter the consumer was not given is refused when the
/// consumer starts, naming the channel and the type, before it joins a group; a state
/// of another type is refused the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_without_its_state_stops_the_consumer_before_any_record() {
    let kafka = broker();
    let service = account::Application::new(kafka.config()).unwrap();
    for consumer in [
        service.consumer().listen::<record_signup>(),
        service
            .consumer()
            .with_state(7u32)
            .listen::<record_signup>(),
    ] {
        let started = tokio::time::timeout(
            Duration::from_secs(10),
            consumer.run(CancellationToken::new()),
        )
        .await
        .expect("the consumer stops at once");
        match started {
            Err(ConsumerError::MissingState { channel, expected }) => {
                assert_eq!(channel, "user/signup");
                assert!(expected.contains("UnboundedSender"), "{expected}");
            }
            other => panic!("expected a missing-state error, got {other:?}"),
        }
    }
}
