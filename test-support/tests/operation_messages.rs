//! A 3.x operation that lists some of its channel's messages
//! (`tests/specs/order-events.yaml`: the application receives `OrderPlaced` of a channel
//! that also carries `OrderCancelled`): a record of another message is dead-lettered
//! before any handler sees it, saying which message it was and which are received.

use std::sync::{Arc, Mutex};

use asyncapi_runtime::testing::TestBroker;
use asyncapi_runtime::{ListenerOptions, MessageContext, Producer};

mod orders {
    asyncapi_runtime::asyncapi!("tests/specs/order-events.yaml");
}

use orders::{channels, Application, OrderEventsMessage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_operation_does_not_list_is_dead_lettered_before_the_handler() {
    let broker = TestBroker::new();
    let handled: Arc<Mutex<Vec<OrderEventsMessage>>> = Arc::default();
    let seen = handled.clone();
    let consumer = broker.start(
        Application::new(broker.config())
            .unwrap()
            .consumer()
            .group_id("orders")
            .route::<channels::OrderEvents, _>(
                move |message: OrderEventsMessage, _context: MessageContext| {
                    let seen = seen.clone();
                    async move { seen.lock().unwrap().push(message) }
                },
                ListenerOptions::default(),
            ),
    );
    let foreign = Producer::new(&broker.config()).unwrap();
    for payload in [
        &br#"{"kind":"cancelled","id":"o-1"}"#[..],
        br#"{"kind":"placed","id":"o-2"}"#,
    ] {
        foreign
            .send_raw("order.events", None, &[], payload)
            .await
            .unwrap();
    }
    broker.settled().await;

    let handled = handled.lock().unwrap().clone();
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert!(matches!(&handled[0], OrderEventsMessage::OrderPlaced(placed) if placed.id == "o-2"));
    let dead = broker.dead_letters("order.events.dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason.as_deref(), Some("decode-error"));
    assert_eq!(dead[0].attempts, Some(0), "never handed to the handler");
    assert_eq!(
        dead[0].error.as_deref(),
        Some(
            "message `OrderCancelled` is not one this side receives on channel `orderEvents` \
             (it receives `OrderPlaced`)"
        )
    );
    consumer.stop().await.unwrap();
}
