//! Apache Kafka for tests: a single node or a three-node cluster in KRaft mode, run from
//! the jars of `test-support/kafka/pom.xml` ([`dist`]), on free loopback ports, in a
//! temp dir, killed on drop; or an existing cluster named by `ASYNCAPI_TEST_KAFKA`.

mod admin;
pub mod dist;
mod external;
mod node;
mod properties;
mod tls;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tempfile::TempDir;

pub use admin::TopicSpec;
pub use external::{ExternalKafka, ENV_EXTERNAL_KAFKA};
pub use tls::TestCa;

use node::Node;
use properties::{NodeConfig, NodePorts};

use crate::{Error, Result};

/// How long a start or restart waits for the cluster to answer metadata.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The SCRAM-SHA-512 user a secured test cluster knows.
pub const SCRAM_USER: &str = "asyncapi-test";

/// How clients reach the cluster (brokers and controllers talk plain text among
/// themselves on their own listeners).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientListener {
    Plaintext,
    /// `SASL_PLAINTEXT` with SCRAM-SHA-512 ([`SCRAM_USER`], a random password).
    SaslScram,
    /// `SASL_SSL`: SCRAM-SHA-512 over TLS with a certificate from a fresh test CA.
    SaslScramTls,
}

/// Options of a test cluster.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// Number of nodes, each broker and controller (1, or 3 for failover tests).
    pub nodes: usize,
    pub listener: ClientListener,
    /// JVM options of each node. Default: a 512 MiB heap (three nodes fit on a
    /// 2-core, 24 GiB machine with room for the tests), or `ASYNCAPI_KAFKA_JVM_OPTS`.
    pub jvm_options: Vec<String>,
    /// Extra `server.properties` lines, applied last.
    pub broker_properties: Vec<(String, String)>,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        let jvm_options = std::env::var("ASYNCAPI_KAFKA_JVM_OPTS")
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_else(|_| {
                [
                    "-Xms256m",
                    "-Xmx512m",
                    "-XX:+UseG1GC",
                    "-XX:MaxGCPauseMillis=20",
                ]
                .map(str::to_owned)
                .to_vec()
            });
        KafkaOptions {
            nodes: 1,
            listener: ClientListener::Plaintext,
            jvm_options,
            broker_properties: Vec::new(),
        }
    }
}

impl KafkaOptions {
    /// Three nodes: replication factor 3, `min.insync.replicas=2`.
    pub fn cluster() -> Self {
        KafkaOptions {
            nodes: 3,
            ..KafkaOptions::default()
        }
    }
}

/// A running Apache Kafka test cluster. Every node is killed on drop; the directory
/// (logs, data) is deleted then, or kept and printed when the thread is panicking.
pub struct Kafka {
    options: KafkaOptions,
    jars: PathBuf,
    nodes: Vec<Node>,
    scram_password: Option<String>,
    tls: Option<TestCa>,
    dir: Option<TempDir>,
}

impl Kafka {
    /// One plain-text node.
    pub fn start() -> Result<Self> {
        Self::start_with(KafkaOptions::default())
    }

    /// Formats every node's storage, starts the nodes and waits until each answers
    /// metadata listing all of them (at most [`READY_TIMEOUT`]).
    pub fn start_with(options: KafkaOptions) -> Result<Self> {
        let jars = dist::jar_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("kafka-")
            .tempdir()
            .map_err(|e| Error::io("creating the cluster's temp dir", e))?;
        let secured = options.listener != ClientListener::Plaintext;
        let scram_password = secured.then(|| uuid::Uuid::new_v4().simple().to_string());
        let tls = match options.listener {
            ClientListener::SaslScramTls => Some(TestCa::create(dir.path(), "test-ca")?),
            _ => None,
        };
        let ports = (0..options.nodes)
            .map(|_| {
                Ok(NodePorts {
                    client: crate::process::free_port()?,
                    internal: crate::process::free_port()?,
                    controller: crate::process::free_port()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut nodes = Vec::with_capacity(options.nodes);
        for id in 1..=options.nodes {
            let node_dir = dir.path().join(format!("node-{id}"));
            let log_dir = node_dir.join("data");
            let config = NodeConfig {
                node_id: id,
                ports: &ports,
                log_dir: &log_dir,
                options: &options,
                keystore_pem: tls.as_ref().map(|t| t.broker_keystore_pem.as_path()),
            };
            nodes.push(Node::prepare(id, node_dir, &config)?);
        }
        let mut kafka = Kafka {
            options,
            jars,
            nodes,
            scram_password,
            tls,
            dir: Some(dir),
        };
        kafka.format()?;
        let jvm = kafka.options.jvm_options.clone();
        for node in &mut kafka.nodes {
            node.spawn(&kafka.jars, &jvm)?;
        }
        kafka.wait_ready()?;
        Ok(kafka)
    }

    /// The client listeners of every node, `host:port,...`.
    pub fn bootstrap_servers(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.ports.client))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The plain-text listeners brokers use among themselves (for admin work in tests
    /// of a secured cluster).
    pub fn internal_bootstrap_servers(&self) -> String {
        self.nodes
            .iter()
            .map(Node::internal_bootstrap)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A runtime configuration for this cluster, with its credentials and CA.
    pub fn config(&self) -> asyncapi_runtime::KafkaConfig {
        let config = asyncapi_runtime::KafkaConfig::new(self.bootstrap_servers());
        let Some(password) = &self.scram_password else {
            return config;
        };
        let config = config
            .set("sasl.mechanism", "SCRAM-SHA-512")
            .sasl_credentials(SCRAM_USER, password.clone());
        match &self.tls {
            Some(tls) => config
                .set("security.protocol", "SASL_SSL")
                .set("ssl.ca.location", tls.ca_pem.display().to_string()),
            None => config.set("security.protocol", "SASL_PLAINTEXT"),
        }
    }

    /// The SCRAM-SHA-512 password of [`SCRAM_USER`] (secured listeners only).
    pub fn scram_password(&self) -> Option<&str> {
        self.scram_password.as_deref()
    }

    /// The test CA's certificate, which clients must trust (TLS listener only).
    pub fn ca_pem(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca_pem.as_path())
    }

    /// Creates a topic (replication factor `min(nodes, 3)`) and waits until every
    /// partition has a leader.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.create_topic_spec(&TopicSpec::new(name, partitions))
    }

    pub fn create_topic_spec(&self, spec: &TopicSpec) -> Result<()> {
        admin::create_topic(&self.internal_bootstrap_servers(), spec)
    }

    /// The id of the node leading `topic`'s `partition`, from the cluster's metadata.
    /// (A stopped node's listener refuses connections; librdkafka asks the others.)
    pub fn leader_of(&self, topic: &str, partition: i32) -> Result<Option<usize>> {
        admin::leader_of(&self.internal_bootstrap_servers(), topic, partition)
    }

    /// SIGKILLs node `id` (no controlled shutdown: the abrupt failure).
    pub fn kill_node(&mut self, id: usize) -> Result<()> {
        tracing::info!(node = id, "killing kafka node");
        self.node_mut(id)?.kill()
    }

    /// SIGTERMs node `id` and waits for its controlled shutdown.
    pub fn stop_node(&mut self, id: usize) -> Result<()> {
        tracing::info!(node = id, "stopping kafka node");
        self.node_mut(id)?.stop()
    }

    /// SIGSTOPs node `id`: it stalls with its connections open until stopped (a stop
    /// resumes it to shut down).
    pub fn pause_node(&mut self, id: usize) -> Result<()> {
        tracing::info!(node = id, "pausing kafka node");
        self.node_mut(id)?.pause()
    }

    /// Starts node `id` again on its ports and data (stopping it first if it runs), and
    /// waits until the cluster lists it again.
    pub fn restart_node(&mut self, id: usize) -> Result<()> {
        let jvm = self.options.jvm_options.clone();
        let jars = self.jars.clone();
        let node = self.node_mut(id)?;
        node.stop()?;
        node.spawn(&jars, &jvm)?;
        self.wait_ready()
    }

    /// The last `max_bytes` of node `id`'s log.
    pub fn log_tail(&self, id: usize, max_bytes: u64) -> String {
        self.nodes
            .get(id.wrapping_sub(1))
            .map(|n| n.log_tail(max_bytes))
            .unwrap_or_else(|| format!("(no node {id})"))
    }

    fn node_mut(&mut self, id: usize) -> Result<&mut Node> {
        let count = self.nodes.len();
        self.nodes
            .get_mut(id.wrapping_sub(1))
            .ok_or(Error::NoSuchNode { id, count })
    }

    fn format(&mut self) -> Result<()> {
        let cluster_id = new_cluster_id();
        let scram = self.scram_password.as_deref().map(|p| (SCRAM_USER, p));
        let children = self
            .nodes
            .iter()
            .map(|n| n.spawn_format(&self.jars, &cluster_id, scram))
            .collect::<Result<Vec<_>>>()?;
        for (node, mut child) in self.nodes.iter().zip(children) {
            let status = child
                .wait()
                .map_err(|e| Error::io("waiting for the storage tool", e))?;
            if !status.success() {
                return Err(Error::Exited {
                    bootstrap: format!("storage format of node {}", node.id),
                    status: status.to_string(),
                    log_tail: node.log_tail(4096),
                });
            }
        }
        Ok(())
    }

    /// Waits until every running node answers metadata listing every running node.
    fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        let mut last_error;
        loop {
            let mut running = Vec::new();
            for node in &mut self.nodes {
                if let Some(status) = node.exited() {
                    return Err(Error::Exited {
                        bootstrap: node.internal_bootstrap(),
                        status,
                        log_tail: node.log_tail(6000),
                    });
                }
                if node.is_running() {
                    running.push((node.id, node.internal_bootstrap()));
                }
            }
            match all_list(&running) {
                Ok(()) => break,
                Err(e) => last_error = e,
            }
            if started.elapsed() >= READY_TIMEOUT {
                let tails = self
                    .nodes
                    .iter()
                    .map(|n| format!("--- node {} ---\n{}", n.id, n.log_tail(3000)))
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(Error::NotReady {
                    bootstrap: self.internal_bootstrap_servers(),
                    waited_ms: started.elapsed().as_millis(),
                    last_error,
                    log_tail: tails,
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        tracing::info!(nodes = self.nodes.len(), waited = ?started.elapsed(), "kafka ready");
        Ok(())
    }
}

/// A random cluster id as Kafka writes them (16 bytes, URL-safe base64), never
/// starting with `-`: the storage tool's argument parser would take such an id for an
/// option and refuse to format (one start in 64 failed so).
fn new_cluster_id() -> String {
    loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// `Ok` once each node in `running` answers metadata listing all of `running`.
fn all_list(running: &[(usize, String)]) -> std::result::Result<(), String> {
    for (id, bootstrap) in running {
        let md = crate::fetch_metadata(bootstrap, None, Duration::from_millis(1000))
            .map_err(|e| format!("node {id}: {e}"))?;
        let listed: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
        if let Some((missing, _)) = running
            .iter()
            .find(|(other, _)| !listed.contains(&(*other as i32)))
        {
            return Err(format!(
                "node {id} does not list node {missing} yet (lists {listed:?})"
            ));
        }
    }
    Ok(())
}

impl Drop for Kafka {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
        }
        if std::thread::panicking() {
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                eprintln!("kafka test cluster kept for inspection: {}", kept.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_ids_never_look_like_an_option() {
        for _ in 0..10_000 {
            let id = super::new_cluster_id();
            assert_eq!(id.len(), 22, "{id}");
            assert!(!id.starts_with('-'), "{id}");
        }
    }
}
