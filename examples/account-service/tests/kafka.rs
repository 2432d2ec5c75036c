//! `cargo run -p account-service` with `KAFKA_BOOTSTRAP_SERVERS` naming Apache Kafka: the
//! binary creates its topics on that cluster (not on an embedded one) and completes its
//! round trip there. Runs with `--features kafka`, as `.ci/run` does.

#![cfg(feature = "kafka")]

mod run;

#[test]
fn kafka_the_binary_runs_on_the_cluster_kafka_bootstrap_servers_names() {
    let kafka = asyncapi_test_support::kafka::Kafka::start().expect("start Apache Kafka");
    let bootstrap = kafka.bootstrap_servers();
    let (stdout, _) = run::run_binary(Some(&bootstrap));
    assert!(
        stdout.contains(&format!("broker: {bootstrap} (KAFKA_BOOTSTRAP_SERVERS)")),
        "{stdout}"
    );
    assert!(
        stdout.contains("round trip complete: 3 signups, 3 accounts"),
        "{stdout}"
    );
}
