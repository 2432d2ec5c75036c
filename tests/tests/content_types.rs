//! Messages that are not JSON documents but have a schema (`fixtures/types/
//! content-types.yaml`): `application/octet-stream` is bytes, `text/plain` text. Each
//! goes through the embedded broker and reaches its handler; they used to be decoded or
//! validated as JSON and dead-lettered, every one.

use std::time::Duration;

use asyncapi_runtime::{CancellationToken, EmbeddedKafka, ListenerOptions, MessageContext};
use tokio::sync::mpsc;

mod contents {
    asyncapi_runtime::asyncapi!("fixtures/types/content-types.yaml");
}

use contents::{channels, Application, Blob, Client, Count, Note};

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
