//! The normalised IR: directions, traits, bindings, parameters, servers, errors.

use std::path::Path;

use asyncapi_codegen::ir::Action;
use asyncapi_codegen::{expand_str, Settings};

fn expand(text: &str) -> asyncapi_codegen::Expansion {
    expand_str(Path::new("doc.yaml"), text, &Settings::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> String {
    expand_str(Path::new("doc.yaml"), text, &Settings::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn v2_publish_is_received_and_subscribe_is_sent() {
    let e = expand(
        r#"
asyncapi: 2.6.0
info: { title: T, version: '1' }
channels:
  in:
    publish: { operationId: takeIn, message: { payload: { type: string } } }
  out:
    subscribe: { message: { payload: { type: string } } }
"#,
    );
    let ops = &e.document.operations;
    assert_eq!(ops[0].id, "takeIn");
    assert_eq!(ops[0].action, Action::Receive);
    assert_eq!(ops[1].id, "subscribeOut");
    assert_eq!(ops[1].action, Action::Send);
    let code = e.pretty();
    assert!(
        code.contains("impl ::asyncapi_runtime::__private::Receives<channels::In> for Application"),
        "{code}"
    );
    assert!(
        code.contains("impl ::asyncapi_runtime::__private::Sends<channels::In> for Client"),
        "{code}"
    );
    assert!(code.contains("pub async fn send_out("), "{code}");
}

#[test]
fn v3_operations_bindings_traits_and_parameters() {
    let e = expand(
        r#"
asyncapi: 3.0.0
info: { title: T, version: '1' }
servers:
  prod:
    host: 'broker-{region}:9092'
    protocol: kafka
    variables: { region: { default: eu, enum: [eu, us] } }
    security: [ { $ref: '#/components/securitySchemes/scram' } ]
channels:
  orders:
    address: 'orders.{tenant}'
    parameters: { tenant: { enum: [a, b], description: Tenant id } }
    bindings: { kafka: { topic: 'orders-v2.{tenant}' } }
    messages:
      created: { $ref: '#/components/messages/created' }
operations:
  onOrder:
    action: receive
    channel: { $ref: '#/channels/orders' }
    messages: [ { $ref: '#/channels/orders/messages/created' } ]
    bindings: { kafka: { groupId: { type: string, enum: [order-service] }, clientId: { const: c1 } } }
components:
  securitySchemes:
    scram: { type: scramSha256 }
  messages:
    created:
      name: OrderCreated
      traits: [ { $ref: '#/components/messageTraits/common' } ]
      payload: { type: object, properties: { id: { type: string } } }
      bindings: { kafka: { key: { type: string } } }
  messageTraits:
    common:
      contentType: application/json
      headers: { type: object, properties: { traceId: { type: string } } }
"#,
    );
    let d = &e.document;
    assert_eq!(d.operations[0].group_id.as_deref(), Some("order-service"));
    assert_eq!(d.operations[0].client_id.as_deref(), Some("c1"));
    assert_eq!(d.channels[0].topic.as_deref(), Ok("orders-v2.{tenant}"));
    assert_eq!(d.channels[0].parameters[0].allowed, vec!["a", "b"]);
    assert_eq!(d.servers[0].url, "broker-{region}:9092");
    assert_eq!(d.servers[0].variables[0].default.as_deref(), Some("eu"));
    assert_eq!(d.servers[0].security, vec!["scram"]);
    assert!(
        d.messages[0].headers.is_some(),
        "headers come from the trait"
    );
    let code = e.pretty();
    assert!(code.contains("const GROUP_ID: ::std::option::Option<&'static str> = ::std::option::Option::Some(\n            \"order-service\",\n        );") || code.contains("\"order-service\""), "{code}");
    assert!(code.contains("type Key = ::std::string::String;"), "{code}");
    assert!(
        code.contains("type Headers = super::OrderCreatedHeaders;"),
        "{code}"
    );
    assert!(code.contains("pub struct OrdersParameters"), "{code}");
    // A string parameter with `enum` values is a Rust enum of them.
    assert!(code.contains("pub enum OrdersTenant"), "{code}");
    assert!(code.contains("pub tenant: OrdersTenant,"), "{code}");
}

#[test]
fn all_errors_of_a_document_are_reported_at_once() {
    let text = errors(
        r#"
asyncapi: 3.0.0
info: { title: T, version: '1' }
channels:
  a:
    address: a
    messages:
      m: { $ref: '#/components/messages/missing' }
  b:
    address: b
    messages:
      m: { $ref: '#/components/messages/alsoMissing' }
"#,
    );
    assert!(text.contains("#/components/messages/missing"), "{text}");
    assert!(text.contains("#/components/messages/alsoMissing"), "{text}");
    assert!(text.contains("doc.yaml:8:"), "line numbers: {text}");
}

#[test]
fn version_and_shape_errors_say_what_to_do() {
    assert!(errors("asyncapi: 1.2.0\ninfo: {}\n").contains("unsupported AsyncAPI version `1.2.0`"));
    assert!(errors("openapi: 3.0.0\n").contains("not an AsyncAPI document"));
    assert!(errors("- a\n- b\n").contains("not an AsyncAPI document"));
    let t = errors("asyncapi: 2.6.0\ninfo: { title: T, version: '1' }\nservers: { k: { url: 'x:1', protocol: kafka } }\nchannels:\n  'has@at':\n    subscribe: { message: { payload: { type: string } } }\n");
    assert!(
        t.contains("cannot become a Kafka topic") && t.contains("bindings.kafka.topic"),
        "{t}"
    );
    let t = errors("asyncapi: 2.6.0\ninfo: { title: T, version: '1' }\nchannels:\n  x:\n    subscribe: { message: { contentType: application/xml, payload: { type: string } } }\n");
    assert!(t.contains("application/xml"), "{t}");
}

#[test]
fn component_messages_no_channel_uses_still_get_types() {
    let e = expand(
        r#"
asyncapi: 3.0.0
info: { title: T, version: '1' }
components:
  messages:
    orderShipped:
      payload: { type: object, properties: { orderId: { type: string } } }
"#,
    );
    assert_eq!(e.document.messages.len(), 1);
    let code = e.pretty();
    assert!(code.contains("pub struct OrderShipped"), "{code}");
    assert!(
        code.contains("impl ::asyncapi_runtime::__private::Message for OrderShipped"),
        "{code}"
    );
}

#[test]
fn kafka_topic_bindings_are_read_and_wrong_values_are_errors() {
    let e = expand(
        r#"
asyncapi: 2.6.0
info: { title: T, version: '1' }
channels:
  entries:
    bindings:
      kafka:
        partitions: 6
        topicConfiguration: { cleanup.policy: [compact], max.message.bytes: 1048588, confluent.value.schema.validation: true }
    subscribe: { message: { payload: { type: string } } }
"#,
    );
    let binding = &e.document.channels[0].topic_binding;
    assert_eq!(binding.partitions, Some(6));
    assert_eq!(binding.replicas, None);
    let config: Vec<(&str, &str)> = binding
        .config
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        config,
        [
            ("cleanup.policy", "compact"),
            ("max.message.bytes", "1048588"),
            ("confluent.value.schema.validation", "true"),
        ],
        "in document order"
    );

    let shown = errors(
        r#"
asyncapi: 2.6.0
info: { title: T, version: '1' }
channels:
  entries:
    bindings:
      kafka:
        partitions: 0
        replicas: two
        topicConfiguration: { retention.ms: { days: 7 } }
    subscribe: { message: { payload: { type: string } } }
"#,
    );
    for expected in [
        "at `#/channels/entries/bindings/kafka/partitions`: `partitions` of a Kafka channel binding must be a positive integer, not `0`",
        "at `#/channels/entries/bindings/kafka/replicas`: `replicas` of a Kafka channel binding must be a positive integer, not `\"two\"`",
        "at `#/channels/entries/bindings/kafka/topicConfiguration/retention.ms`: topic config `retention.ms` must be",
    ] {
        assert!(shown.contains(expected), "missing `{expected}` in:\n{shown}");
    }
}

#[test]
fn a_parameter_pattern_that_cannot_be_checked_is_an_error() {
    let shown = errors(
        r#"
asyncapi: 2.6.0
info: { title: T, version: '1' }
channels:
  users/{id}:
    parameters:
      id: { schema: { type: string, pattern: '^(?=a)b$' } }
    subscribe: { message: { payload: { type: string } } }
"#,
    );
    assert!(
        shown.contains("at `#/channels/users~1{id}/parameters/id`: the pattern of parameter `id` is not a regular expression this crate can check"),
        "{shown}"
    );
}

/// A document with one request channel `asks` (address `{request}`), replied to on
/// `answers` (address `{reply}`), the reply given `address` (YAML) or none.
fn parameterised_reply(request: &str, reply: &str, address: &str) -> asyncapi_codegen::Expansion {
    let parameters = |address: &str| {
        let names: Vec<String> = asyncapi_syntax::address::placeholders(address)
            .into_iter()
            .map(|name| format!("{name}: {{}}"))
            .collect();
        format!("{{ {} }}", names.join(", "))
    };
    expand(&format!(
        r#"
asyncapi: 3.0.0
info: {{ title: T, version: '1' }}
channels:
  asks: {{ address: '{request}', parameters: {}, messages: {{ ask: {{ payload: {{ type: string }} }} }} }}
  answers: {{ address: '{reply}', parameters: {}, messages: {{ answer: {{ payload: {{ type: string }} }} }} }}
operations:
  ask:
    action: send
    channel: {{ $ref: '#/channels/asks' }}
    reply: {{ channel: {{ $ref: '#/channels/answers' }} {address} }}
"#,
        parameters(request),
        parameters(reply),
    ))
}

#[test]
fn a_reply_channel_with_parameters_is_addressed_from_the_request_or_by_the_requester() {
    // Parameters of the same names: the request's values name the reply topic.
    let e = parameterised_reply("asks.{region}", "answers.{region}", "");
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
    let code = e.pretty();
    assert!(code.contains("pub async fn request_asks("), "{code}");
    assert!(
        code.contains("parameters: &channels::AsksParameters"),
        "{code}"
    );
    assert!(code.contains(".request::<channels::Asks>("), "{code}");
    assert!(!code.contains("reply_parameters"), "{code}");

    // A parameter only the reply has, and an address the requester fills in: the
    // requester chooses the reply channel's parameters.
    let e = parameterised_reply(
        "asks",
        "answers.{desk}",
        ", address: { location: '$message.header#/replyTo' }",
    );
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
    let code = e.pretty();
    assert!(
        code.contains("reply_parameters: &channels::AnswersParameters"),
        "{code}"
    );
    assert!(code.contains(".request_replying_to::<"), "{code}");
    assert!(
        code.contains("(&self.producer, outgoing, reply_parameters, timeout)"),
        "{code}"
    );

    // Parameters of both channels in another order, and an address the requester could
    // fill in: still taken from the request (by name), the requester chooses nothing.
    let e = parameterised_reply(
        "asks.{a}.{b}",
        "answers.{b}.{a}",
        ", address: { location: '$message.header#/replyTo' }",
    );
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
    let code = e.pretty();
    assert!(code.contains(".request::<channels::Asks>("), "{code}");
    assert!(!code.contains("reply_parameters"), "{code}");

    // Nothing carries the reply's parameters: a warning at the reply, no request method;
    // the channel keeps its `Request` impl, so the answering side can refuse such
    // requests with a reason.
    let e = parameterised_reply("asks.{region}", "answers.{desk}.{shift}", "");
    let warnings: Vec<String> = e.warnings.iter().map(ToString::to_string).collect();
    let expected = "at `#/operations/ask/reply`: the replies of operation `ask` cannot be addressed: parameters `desk`, `shift` of reply channel `answers` are not parameters of request channel `asks`";
    assert!(
        warnings.iter().any(|w| w.contains(expected)),
        "missing `{expected}` in {warnings:?}"
    );
    let code = e.pretty();
    assert!(!code.contains("pub async fn request_asks"), "{code}");
    assert!(
        code.contains("impl ::asyncapi_runtime::__private::Request for Asks"),
        "{code}"
    );
}

/// Warnings of a document whose `asks` (address `request`, parameters `request_params`)
/// are answered on `answers` (`reply`, `reply_params`), the reply given `address`.
fn reply_warnings(
    request: &str,
    request_params: &str,
    reply: &str,
    reply_params: &str,
    address: &str,
) -> Vec<String> {
    let e = expand(&format!(
        r#"
asyncapi: 3.0.0
info: {{ title: T, version: '1' }}
channels:
  asks:
    address: '{request}'
    parameters: {request_params}
    messages: {{ ask: {{ payload: {{ type: string }} }} }}
  answers:
    address: '{reply}'
    parameters: {reply_params}
    messages: {{ answer: {{ payload: {{ type: string }} }} }}
operations:
  ask:
    action: send
    channel: {{ $ref: '#/channels/asks' }}
    reply: {{ channel: {{ $ref: '#/channels/answers' }} {address} }}
"#
    ));
    e.warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn a_reply_parameter_that_refuses_request_values_is_a_warning() {
    let narrow = "{ region: { enum: [eu, us] } }";
    let warnings = reply_warnings(
        "asks.{region}",
        "{ region: { enum: [eu, us, apac] } }",
        "answers.{region}",
        narrow,
        "",
    );
    let expected = "at `#/operations/ask/reply`: parameter `region` names the reply topic from the request's value, but takes `apac` on request channel `asks`, which reply channel `answers` does not allow (one of `eu`, `us`)";
    assert!(
        warnings.iter().any(|w| w.contains(expected)),
        "missing `{expected}` in {warnings:?}"
    );
    // A request parameter with no `enum` takes any value.
    let warnings = reply_warnings(
        "asks.{region}",
        "{ region: {} }",
        "answers.{region}",
        narrow,
        "",
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("but takes any value on request channel `asks`")),
        "{warnings:?}"
    );
    // The same values on both sides, or a reply topic the requester names: no warning.
    let same = reply_warnings("asks.{region}", narrow, "answers.{region}", narrow, "");
    assert!(same.is_empty(), "{same:?}");
    let chosen = reply_warnings(
        "asks",
        "{}",
        "answers.{region}",
        narrow,
        ", address: { location: '$message.header#/replyTo' }",
    );
    assert!(chosen.is_empty(), "{chosen:?}");
}

#[test]
fn replies_are_read_and_a_reply_without_channel_or_header_address_is_an_error() {
    let e = expand(
        r#"
asyncapi: 3.0.0
info: { title: T, version: '1' }
channels:
  asks: { address: asks, messages: { ask: { correlationId: { location: '$message.header#/cid' }, payload: { type: string } } } }
  answers: { address: answers, messages: { answer: { payload: { type: string } } } }
operations:
  ask:
    action: send
    channel: { $ref: '#/channels/asks' }
    reply: { channel: { $ref: '#/channels/answers' }, address: { location: '$message.header#/reply~1to' } }
"#,
    );
    let reply = e.document.operations[0].reply.as_ref().unwrap();
    assert_eq!(reply.channel, 1);
    assert_eq!(reply.reply_to_header.as_deref(), Some("reply/to"));
    let code = e.pretty();
    assert!(
        code.contains("const CORRELATION_HEADER: &'static str = \"cid\";"),
        "{code}"
    );
    assert!(code.contains("pub async fn request_asks("), "{code}");

    let shown = errors(
        r#"
asyncapi: 3.0.0
info: { title: T, version: '1' }
channels:
  asks: { address: asks }
operations:
  ask:
    action: send
    channel: { $ref: '#/channels/asks' }
    reply: { address: { location: '$message.payload#/replyTo' } }
"#,
    );
    let expected =
        "at `#/operations/ask/reply`: the reply of operation `ask` names no channel of `channels`";
    assert!(
        shown.contains(expected),
        "missing `{expected}` in:\n{shown}"
    );

    // An action the specification does not have is refused before anything is read.
    let shown = errors(
        r#"
asyncapi: 3.0.0
info: { title: T, version: '1' }
channels:
  asks: { address: asks }
operations:
  tell:
    action: sendd
    channel: { $ref: '#/channels/asks' }
"#,
    );
    let expected = "doc.yaml:8:13 at `#/operations/tell/action`: `sendd` is not allowed here: expected `send` or `receive`\n  help: did you mean `send`?";
    assert!(
        shown.contains(expected),
        "missing `{expected}` in:\n{shown}"
    );
    assert!(!shown.contains("Some("), "no debug formatting: {shown}");
}

#[test]
fn message_types_are_documented_from_the_message_and_its_examples() {
    let e = expand(
        r#"
asyncapi: 3.0.0
info: { title: T, version: '1' }
channels:
  readings:
    address: readings
    messages:
      reading:
        name: Reading
        title: Meter reading
        summary: One reading of one meter.
        payload: { $ref: '#/components/schemas/Sample' }
        examples:
          - name: typical
            payload: { watts: 420 }
operations:
  onReading: { action: receive, channel: { $ref: '#/channels/readings' } }
components:
  schemas:
    Sample: { type: object, properties: { watts: { type: integer } } }
"#,
    );
    let code = e.pretty();
    // The type is named after its schema; the message's own words document its impl.
    for expected in [
        "/// Message `Reading` (`application/json`).",
        "/// Meter reading",
        "/// One reading of one meter.",
        "/// Example `typical`:",
        "/// ```json",
        "///   \"watts\": 420",
    ] {
        assert!(code.contains(expected), "missing `{expected}` in:\n{code}");
    }
}
