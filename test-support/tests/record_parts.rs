//! A record's headers and key are read only when something needs them (librdkafka
//! parses headers on first access, an allocation per header; a key is copied out of
//! its buffer): the listener's parameters, the channel's typed headers, a content type
//! that picks the message, a dead letter. A listener of `tests/specs/plain-events.yaml`
//! that takes only the message and its state needs none of them; what must hold all
//! the same is checked here.

#[macro_use]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncapi_runtime::{
    event_listener, DeadLetterReader, HandlerError, Key, Listener, MessageContext, RecordParts,
    Shared,
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
    listeners_taking_the_key_or_the_context_get_the_key,
    a_handler_is_given_only_the_parts_it_reads,
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

/// Takes the key (the channel declares none: raw bytes), not the headers.
#[event_listener(api = plain, channel = "events")]
async fn on_event_keyed(event: Event, key: Option<Key<Vec<u8>>>, seen: Shared<SeenKeys>) {
    let key = key.map(|Key(bytes)| String::from_utf8_lossy(&bytes).into_owned());
    seen.lock().unwrap().push((event.id, key));
}

/// Reads the context, so its headers and key.
#[event_listener(api = plain, channel = "events")]
async fn on_event_in_context_keyed(event: Event, context: MessageContext, seen: Shared<SeenKeys>) {
    let key = context
        .key
        .as_deref()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
    seen.lock().unwrap().push((event.id, key));
}

/// Event ids with the keys their listener was given.
type SeenKeys = Arc<Mutex<Vec<(String, Option<String>)>>>;

#[test]
fn listeners_say_what_they_read_of_a_record() {
    assert_eq!(on_event::reads(), RecordParts::NONE);
    assert_eq!(on_event_in_context::reads(), RecordParts::ALL);
    assert_eq!(on_event_keyed::reads(), RecordParts::KEY);
    assert_eq!(on_event_in_context_keyed::reads(), RecordParts::ALL);
    assert!(RecordParts::KEY.and(RecordParts::HEADERS) == RecordParts::ALL);
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
    let bad = ForeignRecord {
        key: Some(b"account-7".to_vec()),
        ..event("bad", originals)
    };
    produce(kafka, vec![bad, event("e-2", Vec::new())]).await;
    wait_until(20, "the event after the bad one handled", || {
        !handled.lock().unwrap().is_empty()
    })
    .await;
    let dlq = read_topic(&kafka.bootstrap_servers(), EVENTS_DLQ, 1, 300).await;
    assert_eq!(dlq.len(), 1);
    let names: Vec<&str> = dlq[0].headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(&names[..2], ["trace-id", "\u{fffd}-name"], "{names:?}");
    assert_eq!(dlq[0].header("trace-id").as_deref(), Some("t-1"));
    // The key the listener never read is the original's too.
    assert_eq!(dlq[0].key.as_deref(), Some(&b"account-7"[..]));
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

/// A listener taking the key, or the context, is given the record's key; one taking
/// neither is not (its context is never built with one), yet its dead letters keep it
/// (above).
async fn listeners_taking_the_key_or_the_context_get_the_key(kafka: &dyn Broker) {
    kafka.create_topic(EVENTS, 1).expect("create topic");
    let keyed = |id: &str, key: Option<&str>| ForeignRecord {
        key: key.map(|k| k.as_bytes().to_vec()),
        ..event(id, Vec::new())
    };
    produce(
        kafka,
        vec![keyed("e-1", Some("account-1")), keyed("e-2", None)],
    )
    .await;
    let expected = [
        ("e-1".to_owned(), Some("account-1".to_owned())),
        ("e-2".to_owned(), None),
    ];
    for by_context in [false, true] {
        let seen = SeenKeys::default();
        let consumer = Application::new(kafka.config())
            .unwrap()
            .consumer()
            .group_id(format!("keys-{}", uuid::Uuid::new_v4()))
            .with_state(seen.clone());
        let consumer = if by_context {
            consumer.listen::<on_event_in_context_keyed>()
        } else {
            consumer.listen::<on_event_keyed>()
        };
        let (token, handle) = spawn(consumer);
        wait_until(20, "both events handled", || {
            seen.lock().unwrap().len() == 2
        })
        .await;
        assert_eq!(*seen.lock().unwrap(), expected, "by context: {by_context}");
        stop(token, handle).await;
    }
}

/// What a handler of one's own was given: headers count, key.
type Given = Arc<Mutex<Vec<(RecordParts, usize, Option<Vec<u8>>)>>>;

/// A handler that says which parts it reads and records what its context carried.
struct Reading {
    reads: RecordParts,
    given: Given,
}

impl asyncapi_runtime::Handler<plain::channels::Events> for Reading {
    fn call(
        &self,
        _event: Event,
        context: MessageContext,
    ) -> futures::future::BoxFuture<'static, Result<(), HandlerError>> {
        let entry = (
            self.reads,
            context.headers.len(),
            context.key.as_deref().map(<[u8]>::to_vec),
        );
        self.given.lock().unwrap().push(entry);
        Box::pin(async { Ok(()) })
    }

    fn reads(&self) -> RecordParts {
        self.reads
    }
}

/// The context carries only the parts the handler says it reads: no key, an empty
/// header list, for the others.
async fn a_handler_is_given_only_the_parts_it_reads(kafka: &dyn Broker) {
    kafka.create_topic(EVENTS, 1).expect("create topic");
    let record = ForeignRecord {
        key: Some(b"account-1".to_vec()),
        ..event("e-1", vec![(b"trace-id".to_vec(), b"t-1".to_vec())])
    };
    produce(kafka, vec![record]).await;
    let key = Some(b"account-1".to_vec());
    let expected = [
        (RecordParts::NONE, 0, None),
        (RecordParts::HEADERS, 1, None),
        (RecordParts::KEY, 0, key.clone()),
        (RecordParts::ALL, 1, key),
    ];
    for (reads, headers, key) in expected.clone() {
        let given = Given::default();
        let handler = Reading {
            reads,
            given: given.clone(),
        };
        let consumer = asyncapi_runtime::Consumer::new(kafka.config())
            .group_id(format!("parts-{}", uuid::Uuid::new_v4()))
            .route::<plain::channels::Events, _>(
                handler,
                asyncapi_runtime::ListenerOptions::default(),
            );
        let (token, handle) = spawn(consumer);
        wait_until(20, "the event handled", || {
            !given.lock().unwrap().is_empty()
        })
        .await;
        assert_eq!(*given.lock().unwrap(), [(reads, headers, key)]);
        stop(token, handle).await;
    }
}
