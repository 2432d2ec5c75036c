//! The `server.properties` of one KRaft node (broker and controller in one process).

use std::fmt::Write as _;
use std::path::Path;

use super::{ClientListener, KafkaOptions};

/// The three loopback ports of one node.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodePorts {
    /// The listener clients use, secured as [`KafkaOptions::listener`] says.
    pub client: u16,
    /// Plain-text listener between brokers (and the harness's readiness checks).
    pub internal: u16,
    /// The KRaft controller listener.
    pub controller: u16,
}

/// Everything one node's configuration depends on.
pub(crate) struct NodeConfig<'a> {
    pub node_id: usize,
    pub ports: &'a [NodePorts],
    pub log_dir: &'a Path,
    pub options: &'a KafkaOptions,
    /// Kafka's PEM keystore (private key and chain) when the client listener uses TLS.
    pub keystore_pem: Option<&'a Path>,
}

/// Node ids are 1-based; `ports[i]` belongs to node `i + 1`.
pub(crate) fn server_properties(config: &NodeConfig<'_>) -> String {
    let own = config.ports[config.node_id - 1];
    let nodes = config.ports.len();
    let replication = nodes.min(3);
    let min_isr = if nodes >= 3 { 2 } else { 1 };
    let voters = config
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}@127.0.0.1:{}", i + 1, p.controller))
        .collect::<Vec<_>>()
        .join(",");
    let client_protocol = match config.options.listener {
        ClientListener::Plaintext => "PLAINTEXT",
        ClientListener::SaslScram => "SASL_PLAINTEXT",
        ClientListener::SaslScramTls => "SASL_SSL",
    };

    let mut out = String::new();
    let mut set = |key: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{key}={value}");
    };
    set("process.roles", &"broker,controller");
    set("node.id", &config.node_id);
    set("controller.quorum.voters", &voters);
    set(
        "listeners",
        &format!(
            "CLIENT://127.0.0.1:{},INTERNAL://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
            own.client, own.internal, own.controller
        ),
    );
    set(
        "advertised.listeners",
        &format!(
            "CLIENT://127.0.0.1:{},INTERNAL://127.0.0.1:{}",
            own.client, own.internal
        ),
    );
    set(
        "listener.security.protocol.map",
        &format!("CLIENT:{client_protocol},INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"),
    );
    set("inter.broker.listener.name", &"INTERNAL");
    set("controller.listener.names", &"CONTROLLER");
    set("log.dirs", &config.log_dir.display());
    // Tests create every topic they use, like a production cluster with auto-create
    // off; a runtime that relied on auto-creation fails here instead of in production.
    set("auto.create.topics.enable", &false);
    set("num.partitions", &1);
    set("default.replication.factor", &replication);
    set("min.insync.replicas", &min_isr);
    set("offsets.topic.replication.factor", &replication);
    // 50 partitions (the default) make a group's first join wait for 50 (or 150)
    // replicas to be created; 10 keep the coordinator spread without the wait.
    set("offsets.topic.num.partitions", &10);
    set("transaction.state.log.replication.factor", &replication);
    set("transaction.state.log.min.isr", &min_isr);
    set(
        "share.coordinator.state.topic.replication.factor",
        &replication,
    );
    set("share.coordinator.state.topic.min.isr", &min_isr);
    // A group of test members starts at once instead of after 3 s.
    set("group.initial.rebalance.delay.ms", &0);
    // A killed node is fenced (and its partitions' leadership moved) within 4 s,
    // instead of 9 s: failover tests stay short.
    set("broker.session.timeout.ms", &4000);
    set("broker.heartbeat.interval.ms", &500);

    if config.options.listener != ClientListener::Plaintext {
        set("sasl.enabled.mechanisms", &"SCRAM-SHA-512");
        set(
            "listener.name.client.sasl.enabled.mechanisms",
            &"SCRAM-SHA-512",
        );
        set(
            "listener.name.client.scram-sha-512.sasl.jaas.config",
            &"org.apache.kafka.common.security.scram.ScramLoginModule required;",
        );
    }
    if let Some(keystore) = config.keystore_pem {
        set("listener.name.client.ssl.keystore.type", &"PEM");
        set(
            "listener.name.client.ssl.keystore.location",
            &keystore.display(),
        );
    }
    for (key, value) in &config.options.broker_properties {
        set(key, value);
    }
    out
}

/// The log4j2 configuration: everything to stdout (the node's log file), request
/// logging off.
pub(crate) const LOG4J2: &str = "\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = warn
";
