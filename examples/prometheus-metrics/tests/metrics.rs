//! The runtime's metrics as Prometheus scrapes them, after records that were handled,
//! rejected and dead-lettered on the embedded broker.

use prometheus_metrics::{counter, install_recorder, run_signups};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handled_failed_and_dead_lettered_records_are_counted_per_channel() {
    let metrics = install_recorder().unwrap();
    run_signups(
        &[Some("ada@example.com"), None, Some("grace@example.com")],
        &metrics,
    )
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
        line("asyncapi_records_failed_total{"),
        r#"asyncapi_records_failed_total{channel="user/signup",reason="handler-error"} 1"#
    );
    assert_eq!(
        line("asyncapi_records_dead_lettered_total{"),
        r#"asyncapi_records_dead_lettered_total{channel="user/signup",reason="handler-error"} 1"#
    );
    assert_eq!(
        counter(&text, "asyncapi_records_retried_total"),
        0,
        "a permanent error is not retried"
    );
    assert_eq!(
        line("asyncapi_handler_duration_seconds_count{"),
        r#"asyncapi_handler_duration_seconds_count{channel="user/signup"} 3"#
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
}
