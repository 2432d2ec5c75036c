//! The seed service of `account-service`, with the runtime's metrics (cargo feature
//! `metrics` of `asyncapi-runtime`) recorded by `metrics-exporter-prometheus` and
//! served in Prometheus' text format, and its readiness served from
//! `Consumer::health()`.
//!
//! `cargo run -p prometheus-metrics` runs a few signups through the service on the
//! embedded broker (one is retried once, one is rejected and dead-lettered), prints what
//! Prometheus would scrape, and with `--serve` keeps the service running and serves
//! `http://127.0.0.1:9898/metrics` and `/ready` (200 when the consumer is in its group
//! and no partition is stuck, else 503 naming the stuck partitions).

use std::time::Duration;

use anyhow::Context as _;
use asyncapi_runtime::{
    event_listener, CancellationToken, ConsumerError, EmbeddedKafka, HandlerError, Health,
    MessageContext, PartitionState,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

// The seed document's known warnings (an undeclared `{version}`, a security requirement
// naming no scheme) are shown by `account-service`; this example is about metrics.
#[allow(deprecated)]
pub mod account {
    asyncapi_runtime::asyncapi!("../account-service/specs/account-service.yaml");
}

use account::UserSignup;

/// The email of a signup whose first handling fails (a passing outage), so the
/// metrics show a retry.
pub const FLAKY: &str = "flaky@example.com";

/// Accepts signups that carry an email; one without is a permanent error, so it is
/// dead-lettered at once instead of retried.
#[event_listener(api = account, channel = "user/signup", group = "metrics-demo")]
async fn on_signup(signup: UserSignup, ctx: MessageContext) -> Result<(), HandlerError> {
    match signup.email.as_deref() {
        None => Err(HandlerError::permanent("a signup needs an email")),
        Some(FLAKY) if ctx.attempt == 1 => Err(HandlerError::new("ledger briefly unavailable")),
        Some(_) => Ok(()),
    }
}

/// Installs the Prometheus recorder as the process's `metrics` recorder.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the Prometheus recorder")
}

/// The service running on an embedded broker, with a client of it.
pub struct Demo {
    /// The embedded broker the service and client use.
    pub broker: EmbeddedKafka,
    /// The service's consumer, as a readiness probe reads it.
    pub health: Health,
    client: account::Client,
    stop: CancellationToken,
    service_loop: JoinHandle<Result<(), ConsumerError>>,
}

impl Demo {
    /// Starts the broker with the service's topics, and the service.
    pub async fn start() -> anyhow::Result<Demo> {
        let broker = EmbeddedKafka::start(1)?;
        broker.create_topics(account::Application::TOPIC_SPECS)?;
        // Statistics (lag, producer queue depth) every 200 ms, so this short run shows
        // them; a service keeps the 15 s default.
        let config = broker.config().set("statistics.interval.ms", "200");
        let consumer = account::Application::new(config.clone())?
            .consumer()
            .retry(
                asyncapi_runtime::RetryPolicy::default().initial_backoff(Duration::from_millis(20)),
            )
            .listen::<on_signup>();
        let health = consumer.health();
        let stop = CancellationToken::new();
        let service_loop = tokio::spawn(consumer.run(stop.clone()));
        Ok(Demo {
            broker,
            health,
            client: account::Client::new(config)?,
            stop,
            service_loop,
        })
    }

    /// Sends `signups` (`None`: a signup without an email) through the service and
    /// waits until each is handled or dead-lettered, and the lag is reported.
    pub async fn run_signups(
        &self,
        signups: &[Option<&str>],
        metrics: &PrometheusHandle,
    ) -> anyhow::Result<()> {
        let settled_before = settled(&metrics.render());
        for email in signups {
            let signup = UserSignup {
                email: email.map(str::to_owned),
                name: None,
            };
            self.client.send_user_signup(&signup).await?;
        }
        let done = || {
            let text = metrics.render();
            settled(&text) == settled_before + signups.len() as u64
                && text.contains("asyncapi_consumer_lag{")
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !done() {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "signups not settled within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Stops the service (it finishes what it holds) and waits for it.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.service_loop.await??;
        Ok(())
    }
}

/// Records handled plus records dead-lettered.
fn settled(text: &str) -> u64 {
    counter(text, "asyncapi_records_handled_total")
        + counter(text, "asyncapi_records_dead_lettered_total")
}

/// The sum of a counter's series in Prometheus' text format.
pub fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Serves `GET /ready` (the consumer's readiness) and `GET /metrics` (any other path)
/// on `listener` until the process ends.
pub async fn serve(
    listener: TcpListener,
    metrics: PrometheusHandle,
    health: Health,
) -> anyhow::Result<()> {
    loop {
        let (mut socket, _) = listener.accept().await?;
        let metrics = metrics.clone();
        let health = health.clone();
        tokio::spawn(async move {
            let mut request = [0u8; 1024];
            let read = socket.read(&mut request).await.unwrap_or(0);
            let ready = request[..read].starts_with(b"GET /ready ");
            let (status, content_type, body) = if ready {
                let (status, body) = readiness(&health);
                (status, "text/plain", body)
            } else {
                ("200 OK", "text/plain; version=0.0.4", metrics.render())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        });
    }
}

/// The readiness answer: ready when the consumer is in its group and no partition is
/// stuck; otherwise 503 with each stuck partition, its offset and why.
pub fn readiness(health: &Health) -> (&'static str, String) {
    if health.is_healthy() {
        let partitions = health.partitions().len();
        return (
            "200 OK",
            format!("ready: {partitions} partition(s) assigned\n"),
        );
    }
    if !health.is_running() {
        return ("503 Service Unavailable", "not running\n".to_owned());
    }
    let mut body = String::new();
    for partition in health.stuck() {
        if let PartitionState::Stuck { offset, reason, .. } = &partition.state {
            body.push_str(&format!(
                "stuck: {}[{}] at offset {offset}: {reason}\n",
                partition.topic, partition.partition
            ));
        }
    }
    ("503 Service Unavailable", body)
}
