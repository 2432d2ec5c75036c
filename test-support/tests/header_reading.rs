//! A record's headers are read only when something needs them (librdkafka parses them
//! on first access, an allocation per header): the listener's parameters, the
//! channel's typed headers, a content type that picks the message. A listener of
//! `tests/specs/plain-events.yaml` that takes only the message and its state needs
//! none of them; what must hold all the same is checked here.

#[macro_use]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncapi_runtime::{
    event_listener, DeadLetterReader, HandlerError, Listener, MessageContext, Shared,
};
use asyncapi_test_support::foreign::{self, ForeignRecord};
use asyncapi_test_support::Broker;
use support::*;

mod plain {
    asyncapi_runtime::asyncapi!("tests/specs/plain-events.yaml");
}

use plain::{Application, Event};

broker_tests!(
    a_listener_that_reads_no_header_takes_a_record_whose_header_name_is_not_utf8,
    a_dead_letter_keeps_the_headers_its_listener_never_read,
);

const EVENTS: &str = "plain.events";
const EVENTS_DLQ: &str = "plain.events.dlq";

type Handled = Arc<Mutex<Vec<String>>>;

/// Takes the message and its state, nothing built from headers; refuses `bad`.
#[event_listener(api = plain, channel = "events")]
async fn on_event(event: Event, handled: Shared<Handled>) -> Result<(), HandlerError> {
    if event.id == "bad" {
        return Err(HandlerError::permanent("bad event"));
    }
    handled.lock().unwrap().push(event.id);
    Ok(())
}

/// Reads the context, so its headers.
#[event_listener(api = plain, channel = "events")]
async fn on_event_in_context(event: Event, context: MessageContext) {
    let _ = (event, context.headers.len());
}

#[test]
fn listeners_say_whether_they_read_headers() {
    assert!(!on_event::reads_headers());
    assert!(on_event_in_context::reads_headers());
}

fn consumer(kafka: &dyn Broker, handled: Handled) -> asyncapi_runtime::Consumer<Application> {
    for topic in [EVENTS, EVENTS_DLQ] {
        kafka.create_topic(topic, 1).expect("create topic");
    }
    Application::new(kafka.config())
        .unwrap()
        .consumer()
        .group_id(format!("plain-{}", uuid::Uuid::new_v4()))
        .retry(fast_retry(1))
        .with_state(handled)
        .listen::<on_event>()
}

async fn produce(kafka: &dyn Broker, records: Vec<ForeignRecord>) {
    let bootstrap = kafka.bootstrap_servers();
    tokio::task::spawn_blocking(move || foreign::produce(&bootstrap, EVENTS, &records))
        .await
        .unwrap()
        .expect("foreign producer");
}

fn event(id: &str, headers: Vec<(Vec<u8>, Vec<u8>)>) -> ForeignRecord {
    ForeignRecord {
        value: Some(format!(r#"{{"id":"{id}"}}"#).into_bytes()),
        headers,
        ..ForeignRecord::default()
    }
}

/// Nothing the listener or the channel reads depends on the headers, so a header name
/// that is not UTF-8 does not keep a valid payload from its listener. (A listener that
/// reads headers never sees such a record: see the `runtime` tests.)
async fn a_listener_that_reads_no_header_takes_a_record_whose_header_name_is_not_utf8(
    kafka: &dyn Broker,
) {
    let handled = Handled::default();
    let (token, handle) = spawn(consumer(kafka, handled.clone()));
    let strange = vec![(b"\xff\xfe-name".to_vec(), b"v".to_vec())];
    produce(kafka, vec![event("e-1", strange), event("e-2", Vec::new())]).await;
    wait_until(20, "both events handled", || {
        handled.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(*handled.lock().unwrap(), ["e-1", "e-2"]);
    stop(token, handle).await;
}

/// The headers the listener never read are read for the dead-letter copy, which keeps
/// them all before the failure's own. A name that is not UTF-8 is decoded lossily there,
/// so the copy says which header it was, and it is not replayed (it would carry another
/// name).
async fn a_dead_letter_keeps_the_headers_its_listener_never_read(kafka: &dyn Broker) {
    let handled = Handled::default();
    let (token, handle) = spawn(consumer(kafka, handled.clone()));
    let originals = vec![
        (b"trace-id".to_vec(), b"t-1".to_vec()),
        (b"\xff-name".to_vec(), b"v".to_vec()),
    ];
    produce(
        kafka,
        vec![event("bad", originals), event("e-2", Vec::new())],
    )
    .await;
    wait_until(20, "the event after the bad one handled", || {
        !handled.lock().unwrap().is_empty()
    })
    .await;
    let dlq = read_topic(&kafka.bootstrap_servers(), EVENTS_DLQ, 1, 300).await;
    assert_eq!(dlq.len(), 1);
    let names: Vec<&str> = dlq[0].headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(&names[..2], ["trace-id", "\u{fffd}-name"], "{names:?}");
    assert_eq!(dlq[0].header("trace-id").as_deref(), Some("t-1"));
    assert_eq!(
        dlq[0].header("x-dlq-reason").as_deref(),
        Some("handler-error")
    );
    assert_eq!(dlq[0].header("x-dlq-error").as_deref(), Some("bad event"));
    let unreadable = dlq[0].header("x-dlq-unreadable-header").unwrap_or_default();
    assert!(
        unreadable.contains("header 2") && unreadable.contains("UTF-8"),
        "{unreadable}"
    );
    let letters = DeadLetterReader::new(&kafka.config(), EVENTS_DLQ)
        .timeout(Duration::from_secs(10))
        .read()
        .await
        .unwrap();
    let why = letters[0].not_replayable().unwrap_or_default();
    assert!(why.contains("not UTF-8"), "{why}");
    stop(token, handle).await;
}
