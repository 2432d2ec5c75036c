//! `cargo run -p prometheus-metrics [-- --serve]`: see the crate docs.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()))
        .init();
    let metrics = prometheus_metrics::install_recorder()?;
    prometheus_metrics::run_signups(
        &[Some("ada@example.com"), None, Some("grace@example.com")],
        &metrics,
    )
    .await?;
    print!("{}", metrics.render());
    if std::env::args().any(|a| a == "--serve") {
        let address = "127.0.0.1:9898";
        eprintln!("serving http://{address}/metrics (Ctrl-C to stop)");
        tokio::select! {
            served = prometheus_metrics::serve(address, metrics) => served?,
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    Ok(())
}
