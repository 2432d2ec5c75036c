//! The `asyncapi-kafka` binary end to end: run on fixture documents, against the
//! embedded broker (librdkafka's mock cluster, reached over TCP like any broker), with
//! its output and exit codes asserted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use asyncapi_runtime::{DeadLetterReader, EmbeddedKafka, Producer};
use serde_json::Value;

/// A document with Kafka topic bindings (partitions, replicas, configs).
fn bound_topics() -> PathBuf {
    workspace().join("test-support/tests/specs/bound-topics.yaml")
}

fn seed() -> PathBuf {
    workspace().join("tests/fixtures/specs/account-service.yaml")
}

fn three_mistakes() -> PathBuf {
    workspace().join("tests/ui/specs/three-mistakes.yaml")
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asyncapi-kafka"))
        .args(args)
        .output()
        .expect("run asyncapi-kafka")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(&output.stdout)))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn check_passes_a_good_document_and_shows_its_warnings() {
    let out = run(&["check", path(&seed())]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ok (0 errors, 2 warnings)"));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: server `production` uses `{version}`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("account-service.yaml:10:8 at `#/servers/production`"),
        "{stderr}"
    );
}

#[test]
fn check_fails_with_every_problem_at_its_line_and_a_fix() {
    let out = run(&["check", path(&seed()), path(&three_mistakes())]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("account-service.yaml: ok"), "{stdout}");
    assert!(
        stdout.contains("three-mistakes.yaml: FAILED (3 errors, 0 warnings)"),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    for expected in [
        "three-mistakes.yaml:16:21 at `#/channels/userSignup/messages/userSignedUp/payload/properties/name/type`",
        "help: did you mean `string`?",
        "help: did you mean `send`?",
        "help: did you mean `#/components/schemas/Address`?",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in {stderr}");
    }
}

#[test]
fn check_reports_json_for_ci() {
    let out = run(&["check", "--format", "json", path(&three_mistakes())]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["failed"], 1);
    let document = &report["documents"][0];
    assert_eq!(document["ok"], false);
    let errors = document["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3);
    let typo = errors
        .iter()
        .find(|e| e["help"] == "did you mean `string`?")
        .expect("the `strin` typo");
    assert_eq!(
        (typo["line"].as_u64(), typo["column"].as_u64()),
        (Some(16), Some(21))
    );
    assert_eq!(
        typo["pointer"],
        "/channels/userSignup/messages/userSignedUp/payload/properties/name/type"
    );
}

#[test]
fn a_missing_document_is_an_error_naming_the_path() {
    let out = run(&["check", "no/such/document.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no/such/document.yaml"), "{stderr}");
    assert!(stderr.contains("cannot read the document"), "{stderr}");
    assert!(!stderr.contains("CARGO_MANIFEST_DIR"), "{stderr}");
}

#[test]
fn a_wrong_command_line_exits_with_2() {
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["check"]).status.code(), Some(2), "no document");
    assert_eq!(
        run(&["topics", "x.yaml", "--side", "server"]).status.code(),
        Some(2)
    );
}

#[test]
fn expand_prints_the_generated_code() {
    let out = run(&["expand", path(&seed())]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let code = text(&out.stdout);
    assert!(code.contains("pub struct Application"), "{code}");
    assert!(code.contains("pub struct UserSignup"), "{code}");
    syn_like_check(&code);
    let failed = run(&["expand", path(&three_mistakes())]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        failed.stdout.is_empty(),
        "no code for a document with errors"
    );
}

/// The output is formatted Rust: balanced braces, one item per line start.
fn syn_like_check(code: &str) {
    let opens = code.matches('{').count();
    let closes = code.matches('}').count();
    assert_eq!(opens, closes, "balanced braces");
    assert!(code.lines().any(|l| l.starts_with("pub mod channels")));
}

#[test]
fn topics_lists_what_each_side_needs_with_the_bindings() {
    let out = run(&["topics", path(&bound_topics())]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "Application needs 3 topics:\n\
         \x20 ledger.entries  channel `entries`; partitions 3; replicas 1; cleanup.policy=compact,delete; retention.ms=86400000\n\
         \x20 ledger.audit  channel `audit`\n\
         \x20 ledger.entries.dlq  dead letters of `entries`\n"
    );
    let client = json(&run(&[
        "topics",
        "--side",
        "client",
        "--format",
        "json",
        path(&bound_topics()),
    ]));
    let names: Vec<&str> = client["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["ledger.entries", "ledger.audit", "ledger.audit.dlq"]
    );
    assert_eq!(client["topics"][2]["role"], "dead-letter");
    assert_eq!(client["topics"][2]["channels"][0], "audit");
}

#[test]
fn topics_lists_parameterised_channels_as_named_at_run_time() {
    let doc = workspace().join("tests/fixtures/types/parameters.yaml");
    let out = run(&["topics", "--format", "json", path(&doc)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    let templates = report["templates"].as_array().unwrap();
    assert!(!templates.is_empty(), "{report}");
    assert!(templates
        .iter()
        .all(|t| t["topic"].as_str().unwrap().contains('{')));
}

/// On Apache Kafka: librdkafka's mock cluster does not answer CreateTopics.
#[cfg(feature = "kafka")]
#[test]
fn kafka_topics_create_makes_what_is_missing_with_the_documents_partitions() {
    let kafka = asyncapi_test_support::kafka::Kafka::start().expect("start Apache Kafka");
    let bootstrap = kafka.bootstrap_servers();
    let doc = bound_topics();
    let args = ["topics", path(&doc), "--create", "--bootstrap", &bootstrap];
    let first = run(&args);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert_eq!(stdout.matches("[created]").count(), 3, "{stdout}");
    assert_eq!(
        partitions(&bootstrap, "ledger.entries"),
        3,
        "from the binding"
    );
    assert_eq!(
        partitions(&bootstrap, "ledger.audit"),
        1,
        "the --partitions default"
    );
    let second = run(&args);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert_eq!(text(&second.stdout).matches("[exists]").count(), 3);
}

#[test]
fn topics_create_without_a_broker_says_how_to_name_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_asyncapi-kafka"))
        .args(["topics", path(&bound_topics()), "--create"])
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("give --bootstrap host:port, or set KAFKA_BOOTSTRAP_SERVERS")
    );
}

#[cfg(feature = "kafka")]
fn partitions(bootstrap: &str, topic: &str) -> usize {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    metadata.topics()[0].partitions().len()
}

/// Writes two dead letters as the consumer writes them: one whole, one whose payload
/// was too large to keep.
async fn write_dead_letters(broker: &EmbeddedKafka) {
    let producer = Producer::new(&broker.config()).unwrap();
    let header = |name: &str, value: &str| (name.to_owned(), value.as_bytes().to_vec());
    let common = |offset: &str| {
        vec![
            header("content-type", "application/json"),
            header("x-dlq-reason", "handler-error"),
            header("x-dlq-error", "ledger closed"),
            header("x-dlq-topic", "ledger.entries"),
            header("x-dlq-partition", "2"),
            header("x-dlq-offset", offset),
            header("x-dlq-attempts", "3"),
        ]
    };
    let payload = br#"{"entryId":"e-1","amount":12.5}"#;
    producer
        .send_raw("ledger.entries.dlq", Some(b"e-1"), &common("41"), payload)
        .await
        .unwrap();
    let mut omitted = common("42");
    omitted.push(header(
        "x-dlq-payload-omitted",
        "2000000 bytes exceed message.max.bytes",
    ));
    producer
        .send_raw("ledger.entries.dlq", None, &omitted, &[])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_show_and_replay_a_channels_dead_letters() {
    let broker = EmbeddedKafka::start(1).expect("embedded broker");
    for topic in ["ledger.entries", "ledger.entries.dlq"] {
        broker.create_topic(topic, 1).unwrap();
    }
    write_dead_letters(&broker).await;
    let bootstrap = broker.bootstrap_servers().to_owned();
    let doc = bound_topics();
    let target = [path(&doc), "entries", "--bootstrap", &bootstrap];
    let show = |extra: &[&str]| {
        let args: Vec<&str> = ["dlq", "show"]
            .iter()
            .chain(&target)
            .chain(extra)
            .copied()
            .collect();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run(&args)
            })
            .await
            .unwrap()
        }
    };

    let human = show(&[]).await;
    assert_eq!(human.status.code(), Some(0), "{}", text(&human.stderr));
    let stdout = text(&human.stdout);
    assert!(
        stdout.starts_with("2 dead letters of channel `entries`"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "0:0  handler-error after 3 attempts, from ledger.entries partition 2 offset 41"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"payload: {"entryId":"e-1","amount":12.5}"#),
        "{stdout}"
    );
    assert!(
        stdout.contains("payload: not dead-lettered (2000000 bytes"),
        "{stdout}"
    );

    let listed = json(&show(&["--format", "json"]).await);
    let letters = listed["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0]["payload"]["entryId"], "e-1");
    assert_eq!(letters[0]["key"], "e-1");
    assert_eq!(letters[0]["replayable"], true);
    assert_eq!(letters[1]["replayable"], false);
    assert!(letters[0]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| !h["name"].as_str().unwrap().starts_with("x-dlq-")));

    let replay_args: Vec<String> = ["dlq", "replay"]
        .iter()
        .chain(&target)
        .chain(&["--offset", "0:0", "--offset", "0:1"])
        .map(|s| s.to_string())
        .collect();
    let replay = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = replay_args.iter().map(String::as_str).collect();
        run(&args)
    })
    .await
    .unwrap();
    assert_eq!(
        replay.status.code(),
        Some(1),
        "one of the two cannot be replayed"
    );
    assert!(text(&replay.stdout).contains("replayed 0:0 to ledger.entries (partition"));
    assert!(text(&replay.stderr)
        .contains("dead letter 0/1 cannot be replayed: its payload was not dead-lettered"));

    let replayed = DeadLetterReader::new(&broker.config(), "ledger.entries")
        .timeout(Duration::from_secs(10))
        .read()
        .await
        .unwrap();
    let [record] = replayed.as_slice() else {
        panic!("one replayed record, got {}", replayed.len())
    };
    assert_eq!(record.payload, br#"{"entryId":"e-1","amount":12.5}"#);
    assert_eq!(record.key.as_deref(), Some(&b"e-1"[..]));
    assert_eq!(record.content_type(), Some("application/json"));
    assert_eq!(
        record.header("x-replayed-from"),
        Some(&b"ledger.entries.dlq/0/0"[..])
    );
    // Limits too large for the clock or for librdkafka's milliseconds are still
    // limits (the first panicked the read, the second wrapped to a negative one).
    for long in [Duration::MAX, Duration::from_secs(30 * 24 * 3600)] {
        let unbounded = DeadLetterReader::new(&broker.config(), "ledger.entries")
            .timeout(long)
            .read()
            .await
            .unwrap();
        assert_eq!(unbounded.len(), 1);
    }
}
