//! Messages that are not JSON documents but have a schema (`fixtures/types/
//! content-types.yaml`): `application/octet-stream` is bytes, `text/plain` text. Each
//! goes through the embedded broker and reaches its handler; they used to be decoded or
//! validated as JSON and dead-lettered, every one.

use std::time::Duration;

use asyncapi_runtime::{
    event_listener, CancellationToken, EmbeddedKafka, ListenerOptions, MessageContext, Shared,
};
use tokio::sync::mpsc;

mod contents {
    asyncapi_runtime::asyncapi!("fixtures/types/content-types.yaml");
}

use contents::{channels, Application, Blob, Client, Count, MixedMessage, Note};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_and_text_payloads_reach_their_handlers() {
    let kafka = EmbeddedKafka::start(1).unwrap();
    kafka.create_topics(Application::TOPIC_SPECS).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let (blobs, notes, counts) = (tx.clone(), tx.clone(), tx);
    let consumer = Application::new(kafka.config())
        .unwrap()
        .consumer()
        .group_id("contents")
        .route::<channels::Blobs, _>(
            move |blob: Blob, _: MessageContext| {
                let _ = blobs.send(format!("blob {:?}", blob.0));
                async {}
            },
            ListenerOptions::default(),
        )
        .route::<channels::Notes, _>(
            move |note: Note, _: MessageContext| {
                let _ = notes.send(format!("note {}", note.0));
                async {}
            },
            ListenerOptions::default(),
        )
        .route::<channels::Counts, _>(
            move |count: Count, _: MessageContext| {
                let _ = counts.send(format!("count {}", count.0));
                async {}
            },
            ListenerOptions::default(),
        );
    let stop = CancellationToken::new();
    let running = tokio::spawn(consumer.run(stop.clone()));
    let client = Client::new(kafka.config()).unwrap();
    client
        .send_blobs(&Blob(vec![0, 159, 146, 150]))
        .await
        .unwrap();
    client.send_notes(&Note("plain text".into())).await.unwrap();
    client.send_counts(&Count(42)).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let next = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("every message handled within 30 s")
            .unwrap();
        seen.push(next);
    }
    seen.sort();
    assert_eq!(
        seen,
        ["blob [0, 159, 146, 150]", "count 42", "note plain text"]
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// A channel whose messages differ by content type decodes a record by the media type
/// of its `content-type` header: parameters (`; charset=utf-8`) and case aside, as
/// content types are compared. Such a record used to be refused (`ContentType` error,
/// dead-lettered).
#[test]
fn records_are_told_apart_by_media_type() {
    use asyncapi_runtime::{Channel, Message};
    type Mixed = <channels::Mixed as Channel>::Message;
    let event = Mixed::decode(br#"{"id":"e-1"}"#, Some("Application/JSON; charset=utf-8"))
        .expect("a JSON record with a charset parameter");
    assert_eq!(event.name(), "Event");
    let remark = Mixed::decode(b"hello", Some("text/plain;charset=utf-8"))
        .expect("a text record with a charset parameter");
    assert_eq!(remark.name(), "Remark");
    let unknown = Mixed::decode(b"<x/>", Some("application/xml"));
    assert!(unknown.is_err(), "{unknown:?}");
}

/// Messages whose content types differ only in a parameter are told apart by the whole
/// header, as written.
#[test]
fn records_are_told_apart_by_a_content_type_parameter() {
    use asyncapi_runtime::{Channel, Message};
    type Versions = <channels::Versions as Channel>::Message;
    let v2 = Versions::decode(b"{}", Some("application/vnd.order+json; version=2")).unwrap();
    assert_eq!(v2.name(), "V2");
    let v1 = Versions::decode(b"{}", Some("application/vnd.order+json; version=1")).unwrap();
    assert_eq!(v1.name(), "V1");
}

/// Only a channel whose messages are told apart by content type reads the record's
/// `content-type` header: for any other, the consumer does not read it (nor, when the
/// listener takes no headers, any header).
#[test]
fn only_messages_told_apart_by_content_type_read_it() {
    use asyncapi_runtime::{Channel, Message};
    fn reads<C: Channel>() -> bool {
        <C::Message as Message>::READS_CONTENT_TYPE
    }
    assert!(reads::<channels::Mixed>());
    assert!(reads::<channels::Versions>());
    assert!(!reads::<channels::Blobs>());
    assert!(!reads::<channels::Notes>());
    assert!(!reads::<channels::Counts>());
}

/// Takes the message and nothing read from headers.
#[event_listener(api = contents, channel = "mixed")]
async fn on_mixed(message: MixedMessage, seen: Shared<mpsc::UnboundedSender<String>>) {
    let _ = seen.send(asyncapi_runtime::Message::name(&message).to_owned());
}

/// A listener that reads no header still gets each message of a channel told apart by
/// content type: the consumer reads that header for the message's sake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_reads_no_header_still_gets_messages_told_apart_by_content_type() {
    assert!(!<on_mixed as asyncapi_runtime::Listener>::reads().headers());
    let kafka = EmbeddedKafka::start(1).unwrap();
    kafka.create_topics(Application::TOPIC_SPECS).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let consumer = Application::new(kafka.config())
        .unwrap()
        .consumer()
        .group_id("mixed")
        .with_state(tx)
        .listen::<on_mixed>();
    let stop = CancellationToken::new();
    let running = tokio::spawn(consumer.run(stop.clone()));
    let client = Client::new(kafka.config()).unwrap();
    client
        .send_mixed(&MixedMessage::from(contents::Event {
            id: Some("e-1".into()),
        }))
        .await
        .unwrap();
    client
        .send_mixed(&MixedMessage::from(contents::Remark("hello".into())))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let next = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("both messages handled within 30 s")
            .unwrap();
        seen.push(next);
    }
    assert_eq!(seen, ["Event", "Remark"]);
    stop.cancel();
    running.await.unwrap().unwrap();
}
