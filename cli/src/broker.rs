//! Which broker a command talks to, and the runtime its calls run on.

use anyhow::Context as _;
use asyncapi_runtime::KafkaConfig;

/// The broker options shared by the commands that talk to one.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerArgs {
    /// Bootstrap servers (`host:port,...`); default `KAFKA_BOOTSTRAP_SERVERS`, with the
    /// `KAFKA_*` security settings the runtime reads.
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap: Option<String>,
}

impl BrokerArgs {
    /// The configuration to connect with.
    pub fn config(&self) -> anyhow::Result<KafkaConfig> {
        match &self.bootstrap {
            Some(servers) => Ok(KafkaConfig::new(servers.clone())),
            None => KafkaConfig::from_env_or_server(None)
                .context("give --bootstrap host:port, or set KAFKA_BOOTSTRAP_SERVERS"),
        }
    }
}

/// Runs `work` on a runtime made for one command.
pub fn block_on<T>(work: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(work))
}
