//! Snapshots of the generated code (pretty-printed), reviewed for readability.
//! Update after an intended change with `INSTA_UPDATE=always cargo test -p asyncapi-codegen --test snapshots`
//! and review the diff.

use std::path::Path;

use asyncapi_codegen::{expand_file, Settings};

fn snapshot(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(relative);
    expand_file(&path, &Settings::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .pretty()
}

#[test]
fn seed_account_service() {
    insta::assert_snapshot!(snapshot("specs/account-service.yaml"));
}

#[test]
fn streetlights_kafka_3_0() {
    insta::assert_snapshot!(snapshot(
        "corpus/asyncapi-examples-3.0.0/streetlights-kafka-asyncapi.yml"
    ));
}

#[test]
fn streetlights_kafka_2_6() {
    insta::assert_snapshot!(snapshot(
        "corpus/asyncapi-examples-2.6.0/streetlights-kafka.yml"
    ));
}

#[test]
fn oneof_3_0() {
    insta::assert_snapshot!(snapshot(
        "corpus/asyncapi-examples-3.0.0/oneof-asyncapi.yml"
    ));
}

#[test]
fn adeo_avro_request_reply() {
    insta::assert_snapshot!(snapshot(
        "corpus/asyncapi-examples-3.0.0/adeo-kafka-request-reply-asyncapi.yml"
    ));
}

#[test]
fn schema_edge_cases() {
    insta::assert_snapshot!(snapshot("types/edge-cases.yaml"));
}
