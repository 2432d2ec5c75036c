//! `cargo run -p prometheus-metrics [-- --serve]`: see the crate docs.

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()))
        .init();
    let metrics = prometheus_metrics::install_recorder()?;
    let demo = prometheus_metrics::Demo::start().await?;
    demo.run_signups(
        &[
            Some("ada@example.com"),
            None,
            Some(prometheus_metrics::FLAKY),
        ],
        &metrics,
    )
    .await?;
    print!("{}", metrics.render());
    if std::env::args().any(|a| a == "--serve") {
        let address = "127.0.0.1:9898";
        let listener = TcpListener::bind(address).await?;
        eprintln!("serving http://{address}/metrics and /ready (Ctrl-C to stop)");
        tokio::select! {
            served = prometheus_metrics::serve(listener, metrics, demo.health.clone()) => served?,
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    demo.shutdown().await
}
