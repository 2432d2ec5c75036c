//! The service on the in-memory broker of `asyncapi_runtime::testing`: the same
//! decoding, validation, routing, retries and dead-lettering as on Kafka, with no
//! broker, no sleeps and no time-outs.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use account_service::account::{self, channels, UserSignup};
use account_service::on_signup;
use asyncapi_runtime::testing::TestBroker;
use asyncapi_runtime::{HandlerError, ListenerOptions, MessageContext, Producer, RetryPolicy};

mod common;
use common::{signup, start_service};

#[tokio::test]
async fn each_signup_opens_an_account_and_announces_it() {
    let broker = TestBroker::new();
    let consumer = start_service(&broker);
    let client = account::Client::new(broker.config()).unwrap();
    client
        .send_user_signup(&signup("ada@example.com"))
        .await
        .unwrap();
    client
        .send_user_signup(&signup("grace@example.com"))
        .await
        .unwrap();

    broker.settled().await;
    let created = broker.sent::<channels::AccountCreated>().unwrap();
    let ids: Vec<_> = created
        .iter()
        .map(|s| s.message.account_id.clone())
        .collect();
    assert_eq!(ids, [Some("acc-1".to_owned()), Some("acc-2".to_owned())]);
    assert_eq!(created[0].topic, "account.created");
    assert!(broker.dead_letters("user.signup.dlq").is_empty());
    assert_eq!(
        consumer.health().partitions()[0].last_settled_offset,
        Some(1)
    );
    consumer.stop().await.unwrap();
}

#[tokio::test]
async fn a_record_breaking_the_schema_is_dead_lettered_with_why() {
    let broker = TestBroker::new();
    let consumer = start_service(&broker);
    // A foreign producer's record: an array where the schema wants an object.
    let foreign = Producer::new(&broker.config()).unwrap();
    foreign
        .send_raw("user.signup", None, &[], br#"["ada@example.com"]"#)
        .await
        .unwrap();

    broker.settled().await;
    let dead = broker.dead_letters("user.signup.dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason.as_deref(), Some("schema-error"));
    assert_eq!(dead[0].source.as_ref().map(|s| s.offset), Some(0));
    assert!(
        !dead[0]
            .error
            .as_deref()
            .unwrap()
            .contains("ada@example.com"),
        "no payload in the reason"
    );
    assert!(broker
        .sent::<channels::AccountCreated>()
        .unwrap()
        .is_empty());
    consumer.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_handler_is_retried_then_its_record_dead_lettered() {
    let broker = TestBroker::new();
    let attempts = Arc::new(AtomicU32::new(0));
    let counted = attempts.clone();
    // A handler given as a closure: fails every attempt and counts them.
    let always_fails = move |_: UserSignup, ctx: MessageContext| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move { Err::<(), _>(HandlerError::new(format!("attempt {} failed", ctx.attempt))) }
    };
    let service = account::Application::new(broker.config()).unwrap();
    let consumer = broker.start(
        service
            .consumer()
            .retry(
                RetryPolicy::default()
                    .max_attempts(3)
                    .initial_backoff(Duration::from_millis(1))
                    .max_backoff(Duration::from_millis(1)),
            )
            .route::<channels::UserSignup, _>(
                always_fails,
                ListenerOptions::default().group_id("always-failing"),
            ),
    );
    let client = account::Client::new(broker.config()).unwrap();
    client
        .send_user_signup(&signup("ada@example.com"))
        .await
        .unwrap();

    broker.settled().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let dead = broker.dead_letters("user.signup.dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].reason.as_deref(), dead[0].attempts),
        (Some("handler-error"), Some(3))
    );
    assert_eq!(dead[0].error.as_deref(), Some("attempt 3 failed"));
    let original = dead[0].message::<channels::UserSignup>().unwrap();
    assert_eq!(original.email.as_deref(), Some("ada@example.com"));
    consumer.stop().await.unwrap();
}

#[tokio::test]
async fn a_consumer_missing_its_state_fails_at_start() {
    let broker = TestBroker::new();
    let service = account::Application::new(broker.config()).unwrap();
    let consumer = broker.start(service.consumer().listen::<on_signup>());
    broker.settled().await;
    let error = consumer.stop().await.unwrap_err();
    assert!(error.to_string().contains("Application"), "{error}");
}

/// A chain across consumers: the client's typed stream gets the account the service
/// announced. A record handed to a stream is settled when it is acked, so the test
/// reads the stream first, then waits for `settled`.
#[tokio::test]
async fn a_typed_stream_receives_what_a_handler_sent() {
    use futures::StreamExt as _;

    let broker = TestBroker::new();
    let service_consumer = start_service(&broker);
    let client = account::Client::new(broker.config()).unwrap();
    let mut client_consumer = client.consumer().group_id("account-client");
    let mut accounts = client_consumer.subscribe::<channels::AccountCreated>();
    let client_consumer = broker.start(client_consumer);
    client
        .send_user_signup(&signup("ada@example.com"))
        .await
        .unwrap();

    let received = accounts.next().await.unwrap();
    assert_eq!(received.message.account_id.as_deref(), Some("acc-1"));
    received.ack();
    broker.settled().await;
    assert_eq!(
        client_consumer.health().partitions()[0].last_settled_offset,
        Some(0)
    );
    service_consumer.stop().await.unwrap();
    client_consumer.stop().await.unwrap();
}
