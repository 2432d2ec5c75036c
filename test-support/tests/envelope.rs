//! Typed record keys and headers through code generated from `tests/specs/traced.yaml`
//! (a required `correlation-id` header, an integer `attempt` header, a string key):
//! the generated send takes them, the handler reads them typed (from its context, or as
//! `Key`/`Headers` parameters of an `#[event_listener]`), and a foreign record that
//! breaks them is dead-lettered before any handler runs, without retries.

#[macro_use]
mod support;

use std::sync::{Arc, Mutex};

use asyncapi_runtime::{
    event_listener, Channel, Consumer, ConsumerError, FromRecord, HandlerError, Headers,
    KafkaConfig, Key, ListenerOptions, MessageContext, Shared, StateRequirement,
};
use asyncapi_test_support::foreign::{self, ForeignRecord};
use asyncapi_test_support::Broker;
use support::*;

mod traced {
    asyncapi_runtime::asyncapi!("tests/specs/traced.yaml");
}

use traced::{channels, Application, Client, Order, OrderHeaders};

broker_tests!(
    typed_key_and_headers_reach_the_handler,
    records_breaking_the_typed_headers_are_dead_lettered_before_the_handler,
);

type Seen = Arc<Mutex<Vec<(String, Option<String>, OrderHeaders)>>>;

fn topics(kafka: &dyn Broker) {
    for spec in Application::TOPIC_SPECS {
        kafka.create_topic(spec.name, 1).expect("create topic");
    }
}

/// The application's consumer, recording each order with its typed key and headers.
fn recording(config: KafkaConfig, seen: Seen) -> Consumer<Application> {
    Application::new(config)
        .unwrap()
        .consumer()
        .group_id(format!("orders-{}", uuid::Uuid::new_v4()))
        .retry(fast_retry(3))
        .route::<channels::Orders, _>(
            move |order: Order, context: MessageContext| {
                let seen = seen.clone();
                async move {
                    let key = context.key_as::<String>().unwrap();
                    let headers = context.headers_as::<OrderHeaders>().unwrap();
                    seen.lock().unwrap().push((order.id, key, headers));
                }
            },
            ListenerOptions::default(),
        )
}

/// Sends order `o-1` with key `customer-9` through the generated client; returns the
/// headers it carried.
async fn send_order(config: KafkaConfig) -> OrderHeaders {
    let headers = OrderHeaders {
        correlation_id: "c-1".into(),
        attempt: Some(2),
    };
    Client::new(config)
        .unwrap()
        .send_orders(
            &"customer-9".to_owned(),
            &headers,
            &Order { id: "o-1".into() },
        )
        .await
        .unwrap();
    headers
}

async fn typed_key_and_headers_reach_the_handler(kafka: &dyn Broker) {
    topics(kafka);
    let seen: Seen = Arc::default();
    let (token, handle) = spawn(recording(kafka.config(), seen.clone()));
    let headers = send_order(kafka.config()).await;
    wait_until(20, "the order is handled", || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        *seen.lock().unwrap(),
        [("o-1".to_owned(), Some("customer-9".to_owned()), headers)]
    );
    stop(token, handle).await;
}

async fn records_breaking_the_typed_headers_are_dead_lettered_before_the_handler(
    kafka: &dyn Broker,
) {
    topics(kafka);
    let seen: Seen = Arc::default();
    let (token, handle) = spawn(recording(kafka.config(), seen.clone()));
    let payload = br#"{"id":"o-1"}"#.to_vec();
    let record = |headers: Vec<(&str, &str)>| ForeignRecord {
        key: Some(b"k".to_vec()),
        value: Some(payload.clone()),
        headers: headers
            .into_iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
        ..ForeignRecord::default()
    };
    let records = [
        record(vec![]),
        record(vec![("correlation-id", "c-2"), ("attempt", "s3cret")]),
        record(vec![("correlation-id", "c-3")]),
    ];
    let bootstrap = kafka.bootstrap_servers();
    tokio::task::spawn_blocking(move || foreign::produce(&bootstrap, "traced.orders", &records))
        .await
        .unwrap()
        .expect("foreign producer");

    let dead = read_topic(&kafka.bootstrap_servers(), "traced.orders.dlq", 2, 500).await;
    let errors: Vec<String> = dead
        .iter()
        .map(|r| r.header("x-dlq-error").unwrap_or_default())
        .collect();
    assert_eq!(dead.len(), 2, "{errors:?}");
    for record in &dead {
        assert_eq!(
            record.header("x-dlq-reason").as_deref(),
            Some("decode-error")
        );
        // Not retried: the handler was never called for it.
        assert_eq!(record.header("x-dlq-attempts").as_deref(), Some("0"));
    }
    assert!(
        errors[0].contains("missing field `correlation-id`"),
        "{errors:?}"
    );
    assert!(errors[1].contains("expected i64"), "{errors:?}");
    assert!(
        !errors[1].contains("s3cret"),
        "a header value leaked: {errors:?}"
    );
    wait_until(20, "the valid record is handled", || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    let handled: Vec<String> = seen.lock().unwrap().iter().map(|s| s.0.clone()).collect();
    assert_eq!(
        handled,
        ["o-1"],
        "only the third record reaches the handler"
    );
    stop(token, handle).await;
}

/// The same contract on the in-memory broker: what the client sent is read back with
/// its typed key and headers, the handler gets them typed, and a record missing the
/// required header is dead-lettered before the handler, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_sends_carry_typed_keys_and_headers() {
    let broker = asyncapi_runtime::testing::TestBroker::new();
    let seen: Seen = Arc::default();
    let consumer = broker.start(recording(broker.config(), seen.clone()));
    let headers = send_order(broker.config()).await;
    broker.settled().await;
    let sent = broker.sent::<channels::Orders>().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].key.as_deref(), Some("customer-9"));
    assert_eq!(sent[0].headers, headers);
    assert_eq!(
        *seen.lock().unwrap(),
        [("o-1".to_owned(), Some("customer-9".to_owned()), headers)]
    );

    asyncapi_runtime::Producer::new(&broker.config())
        .unwrap()
        .send_raw("traced.orders", Some(b"k"), &[], br#"{"id":"o-2"}"#)
        .await
        .unwrap();
    broker.settled().await;
    let dead = broker.dead_letters("traced.orders.dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason.as_deref(), Some("decode-error"));
    assert_eq!(dead[0].attempts, Some(0), "not retried: never handled");
    let error = dead[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("correlation-id"), "{error}");
    assert_eq!(seen.lock().unwrap().len(), 1, "the handler never saw it");
    consumer.stop().await.unwrap();
}

/// What the listeners below saw: the order's id, its key, and its headers.
type Taken = Arc<Mutex<Vec<(String, Option<String>, Option<OrderHeaders>)>>>;

/// Takes the channel's typed key and headers as parameters, in any order after the
/// message; a record without a key never reaches it.
#[event_listener(channel = "orders", api = traced)]
async fn keyed_order(
    order: Order,
    headers: Headers<OrderHeaders>,
    taken: Shared<Taken>,
    key: Key<String>,
) {
    let Key(key) = key;
    let Headers(headers) = headers;
    taken
        .lock()
        .unwrap()
        .push((order.id, Some(key), Some(headers)));
}

/// Takes records with and without a key.
#[event_listener(channel = "orders", api = traced)]
async fn any_order(order: Order, key: Option<Key<String>>, taken: Shared<Taken>) {
    taken
        .lock()
        .unwrap()
        .push((order.id, key.map(|Key(key)| key), None));
}

/// Sends order `id` with no key, as a foreign producer might, with valid headers.
async fn send_keyless_order(config: &KafkaConfig, id: &str) {
    asyncapi_runtime::Producer::new(config)
        .unwrap()
        .send_raw(
            "traced.orders",
            None,
            &[("correlation-id".to_owned(), b"c-9".to_vec())],
            format!(r#"{{"id":"{id}"}}"#).as_bytes(),
        )
        .await
        .unwrap();
}

/// A listener's `Key<String>` and `Headers<OrderHeaders>` parameters are the channel's
/// key and headers, decoded; a record without a key is dead-lettered at once (one
/// attempt, never retried) with the reason, where `Option<Key<String>>` takes it as
/// `None`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_take_the_typed_key_and_headers_as_parameters() {
    let broker = asyncapi_runtime::testing::TestBroker::new();
    let keyed: Taken = Arc::default();
    let consumer = broker.start(
        Application::new(broker.config())
            .unwrap()
            .consumer()
            .group_id("keyed-orders")
            .retry(fast_retry(3))
            .with_state(keyed.clone())
            .listen::<keyed_order>(),
    );
    let headers = send_order(broker.config()).await;
    send_keyless_order(&broker.config(), "o-2").await;
    broker.settled().await;
    assert_eq!(
        *keyed.lock().unwrap(),
        [(
            "o-1".to_owned(),
            Some("customer-9".to_owned()),
            Some(headers)
        )]
    );
    let dead = broker.dead_letters("traced.orders.dlq");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        dead[0].attempts,
        Some(1),
        "not retried: no retry gives it a key"
    );
    let error = dead[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("the record has no key"), "{error}");
    consumer.stop().await.unwrap();

    let any: Taken = Arc::default();
    let consumer = broker.start(
        Application::new(broker.config())
            .unwrap()
            .consumer()
            .group_id("any-orders")
            .with_state(any.clone())
            .listen::<any_order>(),
    );
    broker.settled().await;
    assert_eq!(
        *any.lock().unwrap(),
        [
            ("o-1".to_owned(), Some("customer-9".to_owned()), None),
            ("o-2".to_owned(), None, None),
        ]
    );
    consumer.stop().await.unwrap();
}

/// A listener parameter of the test's own that reads a `u32` from the consumer's state.
struct Budget(u32);

impl<C: Channel> FromRecord<C> for Budget {
    fn state_requirement() -> Option<StateRequirement> {
        Some(StateRequirement::of::<u32>())
    }

    fn from_record(context: &MessageContext<C::Parameters>) -> Result<Self, HandlerError> {
        context
            .state::<u32>()
            .map(|budget| Budget(*budget))
            .ok_or_else(|| HandlerError::permanent("no budget"))
    }
}

/// Reads two state types: the consumer's one state value cannot be both.
#[event_listener(channel = "orders", api = traced)]
async fn budgeted_order(order: Order, taken: Shared<Taken>, budget: Budget) {
    let _ = (order, taken, budget.0);
}

/// Every state type a listener's parameters read is checked when the consumer starts,
/// not only the first: a listener needing two could never run, and the consumer says
/// so before reading a record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_reading_two_state_types_refuses_to_start() {
    let broker = asyncapi_runtime::testing::TestBroker::new();
    let consumer = broker.start(
        Application::new(broker.config())
            .unwrap()
            .consumer()
            .group_id("budgeted-orders")
            .with_state(Taken::default())
            .listen::<budgeted_order>(),
    );
    match consumer.stop().await {
        Err(ConsumerError::MissingState { expected, .. }) => assert_eq!(expected, "u32"),
        other => panic!("expected the missing `u32` state, got {other:?}"),
    }
}
