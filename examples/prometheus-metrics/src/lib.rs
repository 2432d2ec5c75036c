//! The seed service of `account-service`, with the runtime's metrics (cargo feature
//! `metrics` of `asyncapi-runtime`) recorded by `metrics-exporter-prometheus` and
//! served in Prometheus' text format.
//!
//! `cargo run -p prometheus-metrics` runs a few signups through the service on the
//! embedded broker (one of them is rejected and dead-lettered), prints what Prometheus
//! would scrape, and with `--serve` keeps serving it on `http://127.0.0.1:9898/metrics`.

use std::time::Duration;

use anyhow::Context as _;
use asyncapi_runtime::{
    event_listener, CancellationToken, EmbeddedKafka, HandlerError, MessageContext,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

// The seed document's known warnings (an undeclared `{version}`, a security requirement
// naming no scheme) are shown by `account-service`; this example is about metrics.
#[allow(deprecated)]
pub mod account {
    asyncapi_runtime::asyncapi!("../account-service/specs/account-service.yaml");
}

use account::UserSignup;

/// Accepts signups that carry an email; one without is a permanent error, so it is
/// dead-lettered at once instead of retried.
#[event_listener(api = account, channel = "user/signup", group = "metrics-demo")]
async fn on_signup(signup: UserSignup, _ctx: MessageContext) -> Result<(), HandlerError> {
    match signup.email {
        Some(_) => Ok(()),
        None => Err(HandlerError::permanent("a signup needs an email")),
    }
}

/// Installs the Prometheus recorder as the process's `metrics` recorder.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the Prometheus recorder")
}

/// Sends `signups` (`None`: a signup without an email) through the service and waits
/// until each is handled or dead-lettered.
pub async fn run_signups(
    signups: &[Option<&str>],
    metrics: &PrometheusHandle,
) -> anyhow::Result<()> {
    let broker = EmbeddedKafka::start(1)?;
    broker.create_topics(account::Application::TOPIC_SPECS)?;
    // Statistics (lag, producer queue depth) every 200 ms, so this short run shows them;
    // a service keeps the 15 s default.
    let config = broker.config().set("statistics.interval.ms", "200");
    let stop = CancellationToken::new();
    let service = account::Application::new(config.clone())?;
    let service_loop = tokio::spawn(service.consumer().listen::<on_signup>().run(stop.clone()));
    let client = account::Client::new(config)?;
    for email in signups {
        let signup = UserSignup {
            email: email.map(str::to_owned),
            name: None,
        };
        client.send_user_signup(&signup).await?;
    }
    // Settled records show up in the counters, and the lag in the next statistics:
    // wait for both.
    let done = || {
        let text = metrics.render();
        let settled = counter(&text, "asyncapi_records_handled_total")
            + counter(&text, "asyncapi_records_dead_lettered_total");
        settled == signups.len() as u64 && text.contains("asyncapi_consumer_lag{")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "signups not settled within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    service_loop.await??;
    Ok(())
}

/// The sum of a counter's series in Prometheus' text format.
pub fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Serves `GET /metrics` (any path, in fact) on `address` until the process ends.
pub async fn serve(address: &str, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let listener = TcpListener::bind(address).await?;
    loop {
        let (mut socket, _) = listener.accept().await?;
        let body = metrics.render();
        tokio::spawn(async move {
            // The request itself does not matter: read what came, answer with the page.
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        });
    }
}
