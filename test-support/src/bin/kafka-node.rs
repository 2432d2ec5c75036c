//! One Apache Kafka node, started as the harness starts one for a test (the jars of
//! `test-support/kafka/pom.xml`, KRaft, free loopback ports, a temp dir), kept until
//! this process's stdin closes.
//!
//! Usage: `kafka-node < FIFO`. The first line of stdout is the node's bootstrap servers,
//! for `ASYNCAPI_TEST_KAFKA`: `.ci/run` runs the Kafka suites whose tests only need a
//! broker against one such node, as it would against a cluster in Docker, instead of
//! starting a node for every test. Closing stdin (or the writer exiting, however it
//! exits) stops the node and deletes its directory.

use std::io::{Read, Write};
use std::process::ExitCode;

use asyncapi_test_support::Kafka;

fn main() -> ExitCode {
    let kafka = match Kafka::start() {
        Ok(kafka) => kafka,
        Err(error) => {
            eprintln!("kafka-node: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "{}", kafka.bootstrap_servers())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("kafka-node: cannot write the bootstrap servers to stdout");
        return ExitCode::FAILURE;
    }
    // Whatever the read returns (end of input or an error), the node's time is up.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(kafka);
    ExitCode::SUCCESS
}
