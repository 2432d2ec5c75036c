//! `cargo run -p account-service`, the README's first command: the binary on its
//! embedded broker completes its round trip and logs no warning or error (its tracing
//! output, at `warn` unless `RUST_LOG` says otherwise, goes to stdout), shutdown
//! included.

mod run;

#[test]
fn the_binary_completes_its_round_trip_on_the_embedded_broker_without_warnings() {
    let (stdout, stderr) = run::run_binary(None);
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
