//! librdkafka's mock cluster, held on a dedicated thread (`MockCluster` is `!Send`).
//!
//! Replace with `asyncapi_runtime::embedded::EmbeddedKafka` once that lands.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::mocking::MockCluster;

use crate::{Error, Result};

enum Command {
    CreateTopic {
        name: String,
        partitions: i32,
        reply: mpsc::Sender<Result<()>>,
    },
    Shutdown,
}

/// An in-process mock Kafka cluster (one broker), alive until dropped.
pub struct MockBroker {
    bootstrap: String,
    commands: mpsc::Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl MockBroker {
    /// Starts a one-broker mock cluster.
    pub fn start() -> Result<Self> {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String>>();
        let (commands, rx) = mpsc::channel::<Command>();
        let thread = std::thread::Builder::new()
            .name("mock-kafka".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                while let Ok(cmd) = rx.recv() {
                    match cmd {
                        Command::CreateTopic {
                            name,
                            partitions,
                            reply,
                        } => {
                            let r = cluster.create_topic(&name, partitions, 1).map_err(|e| {
                                Error::CreateTopic {
                                    topic: name.clone(),
                                    partitions,
                                    detail: e.to_string(),
                                }
                            });
                            let _ = reply.send(r);
                        }
                        Command::Shutdown => break,
                    }
                }
                tracing::debug!("mock cluster shutting down");
            })
            .map_err(|e| Error::io("spawning the mock cluster thread", e))?;
        let bootstrap = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|e| Error::Embedded(format!("mock cluster did not start: {e}")))??;
        tracing::info!(%bootstrap, "mock cluster started");
        Ok(MockBroker {
            bootstrap,
            commands,
            thread: Some(thread),
        })
    }

    pub fn bootstrap_servers(&self) -> String {
        self.bootstrap.clone()
    }

    /// Creates a topic (replication factor 1) and waits until metadata shows it.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        let (reply, rx) = mpsc::channel();
        self.commands
            .send(Command::CreateTopic {
                name: name.to_owned(),
                partitions,
                reply,
            })
            .map_err(|_| Error::Embedded("mock cluster thread is gone".into()))?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|e| Error::Embedded(format!("no answer to create_topic: {e}")))??;
        crate::wait_for_topic(&self.bootstrap, name, partitions, Duration::from_secs(10))
    }
}

impl Drop for MockBroker {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
