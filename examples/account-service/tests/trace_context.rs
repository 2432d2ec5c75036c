//! A trace crosses the broker (runtime feature `otel`): the span a record is handled
//! in continues the trace of the span it was sent from, through the `traceparent`
//! header, and what the handler sends carries the same trace on.

use account_service::account::{self, channels, UserSignup};
use asyncapi_runtime::testing::TestBroker;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

mod common;
use common::{signup, start_service};

fn header<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> &'h str {
    let (_, value) = headers
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no `{name}` header"));
    std::str::from_utf8(value).unwrap()
}

fn span<'s>(spans: &'s [SpanData], name: &str) -> &'s SpanData {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "no span `{name}` in {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

// One thread: the test's subscriber (set for this thread) sees the consumer's spans.
#[tokio::test(flavor = "current_thread")]
async fn the_handlers_span_continues_the_senders_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let broker = TestBroker::new();
    let consumer = start_service(&broker);
    let client = account::Client::new(broker.config()).unwrap();
    let signup = signup("ada@example.com");
    async { client.send_user_signup(&signup).await.unwrap() }
        .instrument(tracing::info_span!("signup-form"))
        .await;
    broker.settled().await;
    consumer.stop().await.unwrap();
    provider.force_flush().unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let (form, handled) = (span(&spans, "signup-form"), span(&spans, "message"));
    let trace = form.span_context.trace_id();
    assert_eq!(
        handled.span_context.trace_id(),
        trace,
        "one trace across the broker"
    );
    assert_eq!(handled.parent_span_id, form.span_context.span_id());

    let sent = broker.records("user.signup");
    let traceparent = header(&sent[0].headers, "traceparent");
    assert_eq!(
        traceparent,
        format!("00-{}-{}-01", trace, form.span_context.span_id())
    );
    // The handler's own send, inside the `message` span, carries the trace on.
    let announced = broker.records("account.created");
    assert!(header(&announced[0].headers, "traceparent").contains(&trace.to_string()));
    assert_eq!(broker.sent::<channels::AccountCreated>().unwrap().len(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn without_a_current_span_nothing_is_injected() {
    let broker = TestBroker::new();
    let client = account::Client::new(broker.config()).unwrap();
    client
        .send_user_signup(&UserSignup {
            email: None,
            name: None,
        })
        .await
        .unwrap();
    let sent = broker.records("user.signup");
    assert!(sent[0].headers.iter().all(|(n, _)| n != "traceparent"));
}
