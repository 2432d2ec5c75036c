//! Request/reply through code generated from `tests/specs/pricing.yaml`: the
//! application answers quote requests with `Consumer::reply`, the client asks with
//! `request_quote_requests`; and from `tests/specs/regional_pricing.yaml`, whose reply
//! channels have parameters. Every body runs on the embedded broker and, with
//! `--features kafka`, on Apache Kafka.

#[macro_use]
mod support;

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use asyncapi_runtime::{
    ListenerOptions, MessageContext, Outgoing, Producer, ReplyTopicError, RequestError,
};
use asyncapi_test_support::Broker;
use futures::stream::{self, StreamExt};
use support::*;

mod pricing {
    asyncapi_runtime::asyncapi!("tests/specs/pricing.yaml");
}

mod regional {
    asyncapi_runtime::asyncapi!("tests/specs/regional_pricing.yaml");
}

mod dynamic {
    asyncapi_runtime::asyncapi!("tests/specs/dynamic_replies.yaml");
}

mod shared {
    asyncapi_runtime::asyncapi!("tests/specs/shared_replies.yaml");
}

use pricing::{channels, Application, Client, Quote, QuoteRequest};

broker_tests!(
    an_event_listener_returning_the_reply_answers_requests,
    ten_thousand_concurrent_requests_each_get_their_own_reply,
    a_slow_reply_is_a_typed_timeout_then_counted_late,
    requests_that_cannot_be_answered_are_dead_lettered_with_the_reason,
    a_request_with_a_header_twice_is_answered_as_its_last_one_says,
    a_request_without_reply_topic_for_a_channel_without_address_is_dead_lettered,
    replies_on_a_channel_with_parameters_take_the_request_s_or_the_requester_s_values,
);

/// The topics both sides need, as the document describes them (dead-letter topics
/// included).
fn topics(kafka: &dyn Broker) {
    let names: HashSet<&str> = Application::TOPIC_SPECS
        .iter()
        .chain(Client::TOPIC_SPECS)
        .map(|spec| spec.name)
        .collect();
    for name in names {
        kafka.create_topic(name, 3).expect("create topic");
    }
}

/// The application's consumer, answering with `price = qty * 3` after `delay`.
fn replier(kafka: &dyn Broker, delay: Duration) -> asyncapi_runtime::Consumer<Application> {
    Application::new(kafka.config())
        .unwrap()
        .consumer()
        .group_id(format!("pricing-{}", uuid::Uuid::new_v4()))
        .retry(fast_retry(2))
        .reply::<channels::QuoteRequests>(
            move |request: QuoteRequest, _context: MessageContext| async move {
                tokio::time::sleep(delay).await;
                Ok::<_, Infallible>(Quote {
                    id: request.id,
                    price: request.qty * 3,
                })
            },
            ListenerOptions::default(),
        )
}

/// The replying side as a listener: its function returns the reply.
#[asyncapi_runtime::event_listener(api = pricing, channel = "quoteRequests")]
async fn quote(request: QuoteRequest) -> Result<Quote, Infallible> {
    Ok(Quote {
        id: request.id,
        price: request.qty * 5,
    })
}

async fn an_event_listener_returning_the_reply_answers_requests(kafka: &dyn Broker) {
    topics(kafka);
    let consumer = Application::new(kafka.config())
        .unwrap()
        .consumer()
        .group_id(format!("pricing-{}", uuid::Uuid::new_v4()))
        .answer::<quote>();
    let (token, handle) = spawn(consumer);
    let client = Client::new(kafka.config()).unwrap();
    let reply = client
        .request_quote_requests(&QuoteRequest {
            id: "q-1".into(),
            qty: 4,
        })
        .await
        .unwrap();
    assert_eq!((reply.id.as_str(), reply.price), ("q-1", 20));
    stop(token, handle).await;
}

async fn ten_thousand_concurrent_requests_each_get_their_own_reply(kafka: &dyn Broker) {
    topics(kafka);
    let (token, handle) = spawn(replier(kafka, Duration::ZERO));
    let client = Client::new(kafka.config()).unwrap();
    let answered: Vec<(i64, Quote)> = stream::iter(0..10_000i64)
        .map(|n| {
            let client = &client;
            async move {
                let request = QuoteRequest {
                    id: format!("q-{n}"),
                    qty: n,
                };
                let reply = client
                    .request_quote_requests_with(Outgoing::new(&request), Duration::from_secs(120))
                    .await
                    .unwrap_or_else(|e| panic!("request {n}: {e}"));
                (n, reply)
            }
        })
        .buffer_unordered(10_000)
        .collect()
        .await;
    assert_eq!(answered.len(), 10_000);
    for (n, quote) in &answered {
        // The reply is the one to this request: none crossed.
        assert_eq!(quote.id, format!("q-{n}"));
        assert_eq!(quote.price, n * 3);
    }
    assert_eq!(client.requester().late_replies(), 0);
    stop(token, handle).await;
}

async fn a_slow_reply_is_a_typed_timeout_then_counted_late(kafka: &dyn Broker) {
    topics(kafka);
    let (token, handle) = spawn(replier(kafka, Duration::from_secs(2)));
    let client = Client::new(kafka.config()).unwrap();
    let request = QuoteRequest {
        id: "slow".into(),
        qty: 1,
    };
    let err = client
        .request_quote_requests_with(Outgoing::new(&request), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Timeout(t) if t == Duration::from_millis(300)),
        "{err:?}"
    );
    // The reply still comes, to nobody: it is counted, not handed to a later request.
    wait_until(30, "the late reply is counted", || {
        client.requester().late_replies() == 1
    })
    .await;
    let reply = client
        .request_quote_requests(&QuoteRequest {
            id: "next".into(),
            qty: 2,
        })
        .await
        .unwrap();
    assert_eq!((reply.id.as_str(), reply.price), ("next", 6));
    stop(token, handle).await;
}

async fn requests_that_cannot_be_answered_are_dead_lettered_with_the_reason(kafka: &dyn Broker) {
    // The dead-letter topic is among the application's topics.
    topics(kafka);
    let (token, handle) = spawn(replier(kafka, Duration::ZERO));
    // A foreign producer: one request without a correlation id, one naming a reply
    // topic that is not a topic name.
    let producer = Producer::new(&kafka.config()).unwrap();
    let request = QuoteRequest {
        id: "x".into(),
        qty: 1,
    };
    producer
        .send::<channels::QuoteRequests>(Outgoing::new(&request))
        .await
        .unwrap();
    producer
        .send::<channels::QuoteRequests>(
            Outgoing::new(&request)
                .header("correlationId", "c-1")
                .header("replyTo", "not a topic!"),
        )
        .await
        .unwrap();
    let dead = read_topic(&kafka.bootstrap_servers(), "pricing.quotes.dlq", 2, 500).await;
    let mut reasons: Vec<String> = dead
        .iter()
        .map(|r| r.header("x-dlq-error").unwrap_or_default())
        .collect();
    reasons.sort();
    assert_eq!(dead.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].contains("the request carries no `correlationId` header"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("the request's `replyTo` header is not a Kafka topic name"),
        "{reasons:?}"
    );
    stop(token, handle).await;
}

/// A foreign request carrying `replyTo` and `correlationId` twice: the replier reads
/// the last of each, as the requester's inbox, the typed headers and `MessageContext`
/// do (it read the first, so the reply went to the first `replyTo`, a topic the header
/// schema and the handler never saw).
async fn a_request_with_a_header_twice_is_answered_as_its_last_one_says(kafka: &dyn Broker) {
    topics(kafka);
    let run = uuid::Uuid::new_v4();
    let (earlier, later) = (
        format!("pricing.earlier.{run}"),
        format!("pricing.later.{run}"),
    );
    kafka.create_topic(&earlier, 1).expect("create topic");
    kafka.create_topic(&later, 1).expect("create topic");
    let (token, handle) = spawn(replier(kafka, Duration::ZERO));
    let producer = Producer::new(&kafka.config()).unwrap();
    let request = QuoteRequest {
        id: "twice".into(),
        qty: 2,
    };
    producer
        .send::<channels::QuoteRequests>(
            Outgoing::new(&request)
                .header("correlationId", "c-earlier")
                .header("replyTo", earlier.as_str())
                .header("correlationId", "c-later")
                .header("replyTo", later.as_str()),
        )
        .await
        .unwrap();
    let replies = read_topic(&kafka.bootstrap_servers(), &later, 1, 500).await;
    assert_eq!(replies.len(), 1);
    assert_eq!(
        replies[0].header("correlationId").as_deref(),
        Some("c-later")
    );
    stop(token, handle).await;
}

/// A foreign request on `ping` without a `replyTo` header: its reply channel has no
/// address, so nothing names a reply topic; the request is dead-lettered saying so.
async fn a_request_without_reply_topic_for_a_channel_without_address_is_dead_lettered(
    kafka: &dyn Broker,
) {
    for topic in ["ping.requests", "ping.requests.dlq"] {
        kafka.create_topic(topic, 1).expect("create topic");
    }
    let replier = dynamic::Application::new(kafka.config())
        .unwrap()
        .consumer()
        .group_id(format!("dynamic-{}", uuid::Uuid::new_v4()))
        .retry(fast_retry(2))
        .reply::<dynamic::channels::Ping>(
            |ping: dynamic::Ping, _: MessageContext| async move {
                Ok::<_, Infallible>(dynamic::Pong { n: ping.n })
            },
            ListenerOptions::default(),
        );
    let (token, handle) = spawn(replier);
    let producer = Producer::new(&kafka.config()).unwrap();
    producer
        .send::<dynamic::channels::Ping>(
            Outgoing::new(&dynamic::Ping { n: 1 }).header("correlationId", "c-1"),
        )
        .await
        .unwrap();
    let dead = read_topic(&kafka.bootstrap_servers(), "ping.requests.dlq", 1, 300).await;
    let reason = dead[0].header("x-dlq-error").unwrap_or_default();
    assert!(
        reason.contains("reply channel `pong@desk` has no address"),
        "{reason}"
    );
    stop(token, handle).await;
}

/// Request/reply on the in-memory broker: the same generated request method and reply
/// route, no broker. Requests from several tasks each get their own reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_requests_get_their_own_replies() {
    let broker = asyncapi_runtime::testing::TestBroker::new();
    let replier = broker.start(
        Application::new(broker.config())
            .unwrap()
            .consumer()
            .group_id("pricing")
            .answer::<quote>(),
    );
    let client = Client::new(broker.config()).unwrap();
    let answered: Vec<(i64, Quote)> = stream::iter(0..100i64)
        .map(|n| {
            let client = &client;
            async move {
                let request = QuoteRequest {
                    id: format!("q-{n}"),
                    qty: n,
                };
                (n, client.request_quote_requests(&request).await.unwrap())
            }
        })
        .buffer_unordered(100)
        .collect()
        .await;
    for (n, quote) in &answered {
        assert_eq!((quote.id.clone(), quote.price), (format!("q-{n}"), n * 5));
    }
    assert_eq!(answered.len(), 100);
    assert_eq!(client.requester().late_replies(), 0);
    replier.stop().await.unwrap();
}

/// The regional document's answering side: a quote per region (`qty * 2` in `eu`,
/// `qty * 3` in `us`), per shelf (`qty * 5`, the id naming shelf and row) and per desk
/// (`qty * 7`).
fn regional_replier(
    config: asyncapi_runtime::KafkaConfig,
) -> asyncapi_runtime::Consumer<regional::Application> {
    use regional::channels::RegionalRequestsRegion as Region;
    use regional::channels::{
        DeskRequests, RegionalRequests, RegionalRequestsParameters, ShelfRequests,
        ShelfRequestsParameters,
    };
    regional::Application::new(config)
        .unwrap()
        .consumer()
        .group_id(format!("regional-{}", uuid::Uuid::new_v4()))
        .retry(fast_retry(2))
        .reply::<RegionalRequests>(
            |request: regional::QuoteRequest,
             context: MessageContext<RegionalRequestsParameters>| async move {
                let rate = match context.parameters.region {
                    Region::Eu => 2,
                    Region::Us => 3,
                };
                Ok::<_, Infallible>(regional::Quote {
                    id: request.id,
                    price: request.qty * rate,
                })
            },
            ListenerOptions::default(),
        )
        .reply::<ShelfRequests>(
            |request: regional::QuoteRequest,
             context: MessageContext<ShelfRequestsParameters>| async move {
                let place = &context.parameters;
                Ok::<_, Infallible>(regional::Quote {
                    id: format!("{}@{}/{}", request.id, place.shelf, place.row),
                    price: request.qty * 5,
                })
            },
            ListenerOptions::default(),
        )
        .reply::<DeskRequests>(
            |request: regional::QuoteRequest, _context: MessageContext| async move {
                Ok::<_, Infallible>(regional::Quote {
                    id: request.id,
                    price: request.qty * 7,
                })
            },
            ListenerOptions::default(),
        )
}

async fn replies_on_a_channel_with_parameters_take_the_request_s_or_the_requester_s_values(
    kafka: &dyn Broker,
) {
    use regional::channels::{
        DeskQuotesParameters, DeskRequests, RegionalRequestsParameters, RegionalRequestsRegion,
        ShelfRequestsParameters,
    };
    for topic in [
        "pricing.eu.requests",
        "pricing.us.requests",
        "pricing.eu.quotes",
        "pricing.us.quotes",
        "books.s1.r2.requests",
        "books.r2.s1.quotes",
        "desk.requests",
        "desk.requests.dlq",
        "desk.d7.quotes",
    ] {
        kafka.create_topic(topic, 2).expect("create topic");
    }
    let (token, handle) = spawn(regional_replier(kafka.config()));
    let client = regional::Client::new(kafka.config()).unwrap();
    let request = |id: &str| regional::QuoteRequest {
        id: id.into(),
        qty: 10,
    };

    // The reply topic's `{region}` is the request's: each region's quote comes back on
    // its own topic, priced there.
    for (region, price) in [
        (RegionalRequestsRegion::Eu, 20),
        (RegionalRequestsRegion::Us, 30),
    ] {
        let parameters = RegionalRequestsParameters { region };
        let quote = client
            .request_regional_requests(&parameters, &request(region.as_str()))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", region.as_str()));
        assert_eq!((quote.id.as_str(), quote.price), (region.as_str(), price));
    }
    let eu = read_topic(&kafka.bootstrap_servers(), "pricing.eu.quotes", 1, 500).await;
    assert_eq!(eu.len(), 1, "one reply on the eu reply topic");

    // Two parameters, in the other order in the reply's address: matched by name.
    let place = ShelfRequestsParameters {
        shelf: "s1".into(),
        row: "r2".into(),
    };
    let quote = client
        .request_shelf_requests(&place, &request("book"))
        .await
        .unwrap();
    assert_eq!((quote.id.as_str(), quote.price), ("book@s1/r2", 50));

    // The requester chooses `{desk}`; the topic travels in the `replyTo` header.
    let desk = DeskQuotesParameters { desk: "d7".into() };
    let quote = client
        .request_desk_requests(&request("desk"), &desk)
        .await
        .unwrap();
    assert_eq!((quote.id.as_str(), quote.price), ("desk", 70));

    // A reply topic the requester cannot choose, or cannot render, is a typed error and
    // nothing is sent.
    let fixed = client
        .requester()
        .request_replying_to::<regional::channels::RegionalRequests>(
            &client_producer(kafka),
            Outgoing::new(&request("x")).parameters(&RegionalRequestsParameters {
                region: RegionalRequestsRegion::Eu,
            }),
            &regional::channels::RegionalQuotesParameters {
                region: regional::channels::RegionalQuotesRegion::Us,
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            fixed,
            RequestError::ReplyTopic(ReplyTopicError::AddressFixed("regionalRequests"))
        ),
        "{fixed:?}"
    );
    let bad_desk = client
        .request_desk_requests(&request("y"), &DeskQuotesParameters { desk: "a.b".into() })
        .await
        .unwrap_err();
    assert!(
        matches!(
            bad_desk,
            RequestError::ReplyTopic(ReplyTopicError::Topic(_))
        ),
        "{bad_desk:?}"
    );
    let bootstrap = kafka.bootstrap_servers();
    let sent = read_topic(&bootstrap, "desk.requests", 1, 1000).await;
    assert_eq!(sent.len(), 1, "only the answered desk request was sent");
    assert_eq!(sent[0].header("replyTo").as_deref(), Some("desk.d7.quotes"));
    let eu_requests = read_topic(&bootstrap, "pricing.eu.requests", 1, 1000).await;
    assert_eq!(eu_requests.len(), 1, "the refused request was not sent");
    assert_eq!(client.requester().late_replies(), 0);

    // A foreign request naming no reply topic, where the requester must: dead-lettered
    // with the reason, not answered somewhere.
    Producer::new(&kafka.config())
        .unwrap()
        .send::<DeskRequests>(Outgoing::new(&request("z")).header("correlation-id", "c-9"))
        .await
        .unwrap();
    let dead = read_topic(&bootstrap, "desk.requests.dlq", 1, 500).await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0].header("x-dlq-error").unwrap_or_default();
    assert!(
        reason.contains("the request has no `replyTo` header, and parameter `desk` of reply channel `deskQuotes` is not a parameter of request channel `deskRequests`"),
        "{reason}"
    );
    stop(token, handle).await;
}

/// A producer for the client side of the regional document.
fn client_producer(kafka: &dyn Broker) -> Producer<regional::Client> {
    Producer::new(&kafka.config())
        .unwrap()
        .side::<regional::Client>()
}

/// Replies on channels with parameters on the in-memory broker: the reply inbox follows
/// the topic the request's parameters (or the requester's) name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_replies_on_channels_with_parameters() {
    use regional::channels::RegionalRequestsRegion as Region;
    use regional::channels::{DeskQuotesParameters, RegionalRequestsParameters};
    let broker = asyncapi_runtime::testing::TestBroker::new();
    let replier = broker.start(regional_replier(broker.config()));
    let client = regional::Client::new(broker.config()).unwrap();
    let request = regional::QuoteRequest {
        id: "q".into(),
        qty: 1,
    };
    let us = RegionalRequestsParameters { region: Region::Us };
    let quote = client
        .request_regional_requests(&us, &request)
        .await
        .unwrap();
    assert_eq!(quote.price, 3);
    let desk = DeskQuotesParameters { desk: "d1".into() };
    let quote = client.request_desk_requests(&request, &desk).await.unwrap();
    assert_eq!(quote.price, 7);
    // A `replyTo` the caller sets is replaced by the topic the requester listens on.
    let stray = Outgoing::new(&request).header("replyTo", "elsewhere");
    let quote = client
        .request_desk_requests_with(stray, &desk, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(quote.price, 7);
    let place = regional::channels::ShelfRequestsParameters {
        shelf: "s1".into(),
        row: "r2".into(),
    };
    let quote = client
        .request_shelf_requests(&place, &request)
        .await
        .unwrap();
    assert_eq!((quote.id.as_str(), quote.price), ("q@s1/r2", 5));
    replier.stop().await.unwrap();
}

/// A request whose caller stops waiting (its future dropped, here by an outer time
/// limit) leaves nothing behind among the requests waiting for replies (it stayed
/// there for good when no reply came).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_a_dropped_request_leaves_nothing_waiting() {
    let broker = asyncapi_runtime::testing::TestBroker::new();
    let client = Client::new(broker.config()).unwrap();
    let request = QuoteRequest {
        id: "unanswered".into(),
        qty: 1,
    };
    let asked = client.request_quote_requests(&request);
    assert!(tokio::time::timeout(Duration::from_millis(300), asked)
        .await
        .is_err());
    assert_eq!(client.requester().pending_requests(), 0);
}

/// Two request channels answered on one reply topic, each with its own correlation
/// header: both get their replies (the topic's inbox read only the header of the
/// channel that asked first, so every reply to the other timed out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_request_channels_sharing_a_reply_topic_each_get_replies() {
    use shared::{Answer, PriceRequest, StockRequest};
    let broker = asyncapi_runtime::testing::TestBroker::new();
    let replier = broker.start(
        shared::Application::new(broker.config())
            .unwrap()
            .consumer()
            .group_id("shared")
            .reply::<shared::channels::StockRequests>(
                |request: StockRequest, _: MessageContext| async move {
                    Ok::<_, Infallible>(Answer {
                        text: format!("{} in stock", request.item),
                    })
                },
                ListenerOptions::default(),
            )
            .reply::<shared::channels::PriceRequests>(
                |request: PriceRequest, _: MessageContext| async move {
                    Ok::<_, Infallible>(Answer {
                        text: format!("{} costs 3", request.item),
                    })
                },
                ListenerOptions::default(),
            ),
    );
    let client = shared::Client::new(broker.config()).unwrap();
    let timeout = Duration::from_secs(10);
    let stock = StockRequest { item: "tea".into() };
    let answer = client
        .request_stock_requests_with(Outgoing::new(&stock), timeout)
        .await
        .unwrap();
    assert_eq!(answer.text, "tea in stock");
    let price = PriceRequest { item: "tea".into() };
    let answer = client
        .request_price_requests_with(Outgoing::new(&price), timeout)
        .await
        .unwrap();
    assert_eq!(answer.text, "tea costs 3");
    replier.stop().await.unwrap();
}

/// A reply channel whose address is `null`: each requester names its reply topic
/// (`request_ping(&ping, reply_topic)`), which travels in the `replyTo` header; one
/// that is not a topic name is refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_a_requester_names_the_topic_of_a_reply_channel_without_address() {
    use dynamic::{Ping, Pong};
    // `pong@desk` has no topic of its own to create.
    assert_eq!(dynamic::Client::TOPICS, ["ping.requests"]);
    let broker = asyncapi_runtime::testing::TestBroker::new();
    let replier = broker.start(
        dynamic::Application::new(broker.config())
            .unwrap()
            .consumer()
            .group_id("dynamic")
            .reply::<dynamic::channels::Ping>(
                |ping: Ping, _: MessageContext| async move {
                    Ok::<_, Infallible>(Pong { n: ping.n * 2 })
                },
                ListenerOptions::default(),
            ),
    );
    let client = dynamic::Client::new(broker.config()).unwrap();
    let pong = client
        .request_ping(&Ping { n: 2 }, "pong.desk-7")
        .await
        .unwrap();
    assert_eq!(pong.n, 4);
    let pong = client
        .request_ping(&Ping { n: 5 }, "pong.desk-8")
        .await
        .unwrap();
    assert_eq!(pong.n, 10);
    // The requester's plain `request` has no topic to reply to here.
    let unnamed = client
        .requester()
        .request::<dynamic::channels::Ping>(
            client.producer(),
            Outgoing::new(&Ping { n: 3 }),
            Duration::from_secs(1),
        )
        .await;
    assert!(
        matches!(
            unnamed,
            Err(RequestError::ReplyTopic(ReplyTopicError::TopicNotNamed(
                "ping"
            )))
        ),
        "{unnamed:?}"
    );
    let refused = client.request_ping(&Ping { n: 1 }, "not a topic!").await;
    assert!(
        matches!(
            refused,
            Err(RequestError::ReplyTopic(ReplyTopicError::NotATopic(_)))
        ),
        "{refused:?}"
    );
    replier.stop().await.unwrap();
}
