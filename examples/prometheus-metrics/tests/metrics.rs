//! The runtime's metrics as Prometheus scrapes them, after records that were handled,
//! retried, rejected and dead-lettered on the embedded broker; readiness as a probe
//! reads it over HTTP; a delivery error counted.

use std::time::Duration;

use asyncapi_runtime::{KafkaConfig, Outgoing, Producer, SendError};
use prometheus_metrics::{account, counter, install_recorder, serve, Demo, FLAKY};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_counted_per_channel_and_readiness_is_served() {
    let metrics = install_recorder().unwrap();
    let demo = Demo::start().await.unwrap();
    demo.run_signups(&[Some("ada@example.com"), None, Some(FLAKY)], &metrics)
        .await
        .unwrap();
    let text = metrics.render();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in:\n{text}"))
            .to_owned()
    };
    assert_eq!(
        line("asyncapi_records_handled_total{"),
        r#"asyncapi_records_handled_total{channel="user/signup"} 2"#
    );
    assert_eq!(
        line("asyncapi_records_retried_total{"),
        r#"asyncapi_records_retried_total{channel="user/signup"} 1"#,
        "the flaky signup's first attempt, not the permanent error"
    );
    assert_eq!(
        line("asyncapi_records_failed_total{"),
        r#"asyncapi_records_failed_total{channel="user/signup",reason="handler-error"} 1"#
    );
    assert_eq!(
        line("asyncapi_records_dead_lettered_total{"),
        r#"asyncapi_records_dead_lettered_total{channel="user/signup",reason="handler-error"} 1"#
    );
    assert_eq!(
        line("asyncapi_handler_duration_seconds_count{"),
        r#"asyncapi_handler_duration_seconds_count{channel="user/signup"} 4"#,
        "one per attempt"
    );
    assert_eq!(
        line("asyncapi_records_in_flight "),
        "asyncapi_records_in_flight 0"
    );
    assert!(
        line(r#"asyncapi_consumer_lag{topic="user.signup",partition="0"}"#).ends_with(" 0"),
        "every record consumed: no lag"
    );
    assert!(text.contains("asyncapi_producer_queue_depth "), "{text}");

    // Readiness and metrics over HTTP, as a probe and Prometheus read them.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(serve(listener, metrics.clone(), demo.health.clone()));
    let ready = get(&address, "/ready").await;
    assert!(ready.starts_with("HTTP/1.1 200 OK"), "{ready}");
    assert!(
        ready.ends_with("ready: 1 partition(s) assigned\n"),
        "{ready}"
    );
    let scraped = get(&address, "/metrics").await;
    assert!(
        scraped.contains("asyncapi_records_handled_total"),
        "{scraped}"
    );

    demo.shutdown().await.unwrap();
    let stopped = get(&address, "/ready").await;
    assert!(stopped.starts_with("HTTP/1.1 503"), "{stopped}");
    server.abort();

    // A send the broker never acknowledges is a delivery error, counted per topic.
    let unreachable = KafkaConfig::new("127.0.0.1:9").set("message.timeout.ms", "200");
    let producer = Producer::new(&unreachable).unwrap();
    let signup = account::UserSignup {
        email: None,
        name: None,
    };
    let sent = producer
        .send::<account::channels::UserSignup>(Outgoing::new(&signup))
        .await;
    assert!(matches!(sent, Err(SendError::Delivery { .. })), "{sent:?}");
    assert_eq!(
        counter(&metrics.render(), "asyncapi_producer_delivery_errors_total"),
        1
    );
}

/// The response to `GET path` from the server at `address`.
async fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {address}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .unwrap()
    .unwrap();
    response
}
