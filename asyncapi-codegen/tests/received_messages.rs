//! When a side's receive operations list only some of a channel's messages, the
//! generated `Receives` impl names them (`const MESSAGES`), so the consumer refuses the
//! others; and only when that cannot refuse a record the side should take.

use std::path::Path;

use asyncapi_codegen::{expand_str, Settings};

/// A channel of two messages; `kind` tells them apart unless `tagged` is false.
fn document(tagged: bool, operations: &str) -> String {
    let kind = |value: &str| {
        if tagged {
            format!("kind: {{ const: {value} }}")
        } else {
            "kind: { type: string }".to_owned()
        }
    };
    format!(
        r#"
asyncapi: 3.0.0
info: {{ title: Orders, version: 1.0.0 }}
channels:
  orderEvents:
    address: order.events
    messages:
      orderPlaced:
        name: OrderPlaced
        payload: {{ type: object, properties: {{ {placed}, id: {{ type: string }} }} }}
      orderCancelled:
        name: OrderCancelled
        payload: {{ type: object, properties: {{ {cancelled}, id: {{ type: string }} }} }}
operations:
{operations}
"#,
        placed = kind("placed"),
        cancelled = kind("cancelled"),
    )
}

const RECEIVES_PLACED: &str = r#"  onOrderPlaced:
    action: receive
    channel: { $ref: '#/channels/orderEvents' }
    messages: [{ $ref: '#/channels/orderEvents/messages/orderPlaced' }]
"#;

const SENDS_CANCELLED: &str = r#"  cancelOrder:
    action: send
    channel: { $ref: '#/channels/orderEvents' }
    messages: [{ $ref: '#/channels/orderEvents/messages/orderCancelled' }]
"#;

fn expanded(document: &str) -> String {
    expand_str(Path::new("orders.yaml"), document, &Settings::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .pretty()
}

#[test]
fn a_receive_operation_listing_one_message_names_it() {
    let code = expanded(&document(true, RECEIVES_PLACED));
    let receives = code
        .split(
            "impl ::asyncapi_runtime::__private::Receives<channels::OrderEvents> for Application",
        )
        .nth(1)
        .expect("the application receives orderEvents");
    let body = &receives[..receives.find('}').unwrap()];
    let compact: String = body.split_whitespace().collect();
    assert!(compact.contains(r#"Some(&["OrderPlaced"],)"#), "{body}");
    // The client sends there: nothing to refuse.
    assert_eq!(code.matches("const MESSAGES").count(), 1, "{code}");
}

#[test]
fn a_side_that_also_sends_on_the_channel_refuses_nothing() {
    let operations = format!("{RECEIVES_PLACED}{SENDS_CANCELLED}");
    let code = expanded(&document(true, &operations));
    assert!(
        !code.contains("const MESSAGES"),
        "its own records would be refused"
    );
}

#[test]
fn messages_told_apart_only_by_trying_each_are_not_refused() {
    let code = expanded(&document(false, RECEIVES_PLACED));
    assert!(
        !code.contains("const MESSAGES"),
        "an earlier message may take a later one's record"
    );
}
