//! Runs the example's binary, as `cargo run -p account-service` does.

use std::process::Command;

/// The binary's stdout and stderr, once it has exited successfully. `bootstrap` becomes
/// `KAFKA_BOOTSTRAP_SERVERS`; without it the binary starts its embedded broker.
pub fn run_binary(bootstrap: Option<&str>) -> (String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_account-service"));
    command.env_remove("RUST_LOG");
    match bootstrap {
        Some(servers) => command.env("KAFKA_BOOTSTRAP_SERVERS", servers),
        None => command.env_remove("KAFKA_BOOTSTRAP_SERVERS"),
    };
    let out = command.output().expect("run account-service");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}
