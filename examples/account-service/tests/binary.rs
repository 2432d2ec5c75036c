//! `cargo run -p account-service`, the README's first command: the binary on its
//! embedded broker completes its round trip and logs no warning or error (its tracing
//! output, at `warn` unless `RUST_LOG` says otherwise, goes to stdout), shutdown
//! included.

use std::process::Command;

#[test]
fn the_binary_completes_its_round_trip_on_the_embedded_broker_without_warnings() {
    let out = Command::new(env!("CARGO_BIN_EXE_account-service"))
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .env_remove("RUST_LOG")
        .output()
        .expect("run account-service");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("round trip complete: 3 signups, 3 accounts"),
        "{stdout}"
    );
    let logged: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .collect();
    assert!(
        logged.is_empty(),
        "the binary logged:\n{}",
        logged.join("\n")
    );
}
