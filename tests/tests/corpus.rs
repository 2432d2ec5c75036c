//! Every document of the AsyncAPI corpus expands with `asyncapi!` into code that compiles.
//! A module per document: if this file builds, they all compile. The list is checked
//! against the fixture directory so no document is missed.

// The corpus documents carry expected `asyncapi` warnings (surfaced as deprecation notes).
#![allow(deprecated)]

mod v2_anyof {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/anyof.yml");
}
mod v2_application_headers {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/application-headers.yml");
}
mod v2_correlation_id {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/correlation-id.yml");
}
mod v2_gitter_streaming {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/gitter-streaming.yml");
}
mod v2_mercure {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/mercure.yml");
}
mod v2_not {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/not.yml");
}
mod v2_oneof {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/oneof.yml");
}
mod v2_operation_security {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/operation-security.yml");
}
mod v2_rpc_client {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/rpc-client.yml");
}
mod v2_rpc_server {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/rpc-server.yml");
}
mod v2_simple {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/simple.yml");
}
mod v2_slack_rtm {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/slack-rtm.yml");
}
mod v2_social_media_backend {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-2.6.0/social-media/backend/asyncapi.yaml"
    );
}
mod v2_social_media_comments_service {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-2.6.0/social-media/comments-service/asyncapi.yaml"
    );
}
mod v2_social_media_frontend {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-2.6.0/social-media/frontend/asyncapi.yaml"
    );
}
mod v2_social_media_notification_service {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-2.6.0/social-media/notification-service/asyncapi.yaml"
    );
}
mod v2_social_media_public_api {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-2.6.0/social-media/public-api/asyncapi.yaml"
    );
}
mod v2_streetlights_kafka {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/streetlights-kafka.yml");
}
mod v2_streetlights_mqtt {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/streetlights-mqtt.yml");
}
mod v2_streetlights_operation_security {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-2.6.0/streetlights-operation-security.yml"
    );
}
mod v2_websocket_gemini {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-2.6.0/websocket-gemini.yml");
}
mod v3_adeo_kafka_request_reply {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/adeo-kafka-request-reply-asyncapi.yml"
    );
}
mod v3_anyof {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-3.0.0/anyof-asyncapi.yml");
}
mod v3_application_headers {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/application-headers-asyncapi.yml"
    );
}
mod v3_correlation_id {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/correlation-id-asyncapi.yml"
    );
}
mod v3_gitter_streaming {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/gitter-streaming-asyncapi.yml"
    );
}
mod v3_kraken_websocket_request_reply_message_filter_in_reply {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-3.0.0/kraken-websocket-request-reply-message-filter-in-reply-asyncapi.yml");
}
mod v3_kraken_websocket_request_reply_multiple_channels {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-3.0.0/kraken-websocket-request-reply-multiple-channels-asyncapi.yml");
}
mod v3_mercure {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-3.0.0/mercure-asyncapi.yml");
}
mod v3_not {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-3.0.0/not-asyncapi.yml");
}
mod v3_oneof {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-3.0.0/oneof-asyncapi.yml");
}
mod v3_operation_security {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/operation-security-asyncapi.yml"
    );
}
mod v3_rpc_client {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-3.0.0/rpc-client-asyncapi.yml");
}
mod v3_rpc_server {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-3.0.0/rpc-server-asyncapi.yml");
}
mod v3_simple {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-3.0.0/simple-asyncapi.yml");
}
mod v3_slack_rtm {
    asyncapi_runtime::asyncapi!("fixtures/corpus/asyncapi-examples-3.0.0/slack-rtm-asyncapi.yml");
}
mod v3_social_media_backend {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/social-media/backend/asyncapi.yaml"
    );
}
mod v3_social_media_comments_service {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/social-media/comments-service/asyncapi.yaml"
    );
}
mod v3_social_media_frontend {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/social-media/frontend/asyncapi.yaml"
    );
}
mod v3_social_media_notification_service {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/social-media/notification-service/asyncapi.yaml"
    );
}
mod v3_social_media_public_api {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/social-media/public-api/asyncapi.yaml"
    );
}
mod v3_streetlights_kafka {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/streetlights-kafka-asyncapi.yml"
    );
}
mod v3_streetlights_mqtt {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/streetlights-mqtt-asyncapi.yml"
    );
}
mod v3_streetlights_operation_security {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/streetlights-operation-security-asyncapi.yml"
    );
}
mod v3_websocket_gemini {
    asyncapi_runtime::asyncapi!(
        "fixtures/corpus/asyncapi-examples-3.0.0/websocket-gemini-asyncapi.yml"
    );
}

const EXPANDED: &[&str] = &[
    "fixtures/corpus/asyncapi-examples-2.6.0/anyof.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/application-headers.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/correlation-id.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/gitter-streaming.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/mercure.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/not.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/oneof.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/operation-security.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/rpc-client.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/rpc-server.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/simple.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/slack-rtm.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/social-media/backend/asyncapi.yaml",
    "fixtures/corpus/asyncapi-examples-2.6.0/social-media/comments-service/asyncapi.yaml",
    "fixtures/corpus/asyncapi-examples-2.6.0/social-media/frontend/asyncapi.yaml",
    "fixtures/corpus/asyncapi-examples-2.6.0/social-media/notification-service/asyncapi.yaml",
    "fixtures/corpus/asyncapi-examples-2.6.0/social-media/public-api/asyncapi.yaml",
    "fixtures/corpus/asyncapi-examples-2.6.0/streetlights-kafka.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/streetlights-mqtt.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/streetlights-operation-security.yml",
    "fixtures/corpus/asyncapi-examples-2.6.0/websocket-gemini.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/adeo-kafka-request-reply-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/anyof-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/application-headers-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/correlation-id-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/gitter-streaming-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/kraken-websocket-request-reply-message-filter-in-reply-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/kraken-websocket-request-reply-multiple-channels-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/mercure-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/not-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/oneof-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/operation-security-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/rpc-client-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/rpc-server-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/simple-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/slack-rtm-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/social-media/backend/asyncapi.yaml",
    "fixtures/corpus/asyncapi-examples-3.0.0/social-media/comments-service/asyncapi.yaml",
    "fixtures/corpus/asyncapi-examples-3.0.0/social-media/frontend/asyncapi.yaml",
    "fixtures/corpus/asyncapi-examples-3.0.0/social-media/notification-service/asyncapi.yaml",
    "fixtures/corpus/asyncapi-examples-3.0.0/social-media/public-api/asyncapi.yaml",
    "fixtures/corpus/asyncapi-examples-3.0.0/streetlights-kafka-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/streetlights-mqtt-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/streetlights-operation-security-asyncapi.yml",
    "fixtures/corpus/asyncapi-examples-3.0.0/websocket-gemini-asyncapi.yml",
];

#[test]
fn every_corpus_document_is_expanded() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut stack = vec![root.join("fixtures/corpus")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "common") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                found.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    let mut expanded: Vec<String> = EXPANDED.iter().map(|s| s.to_string()).collect();
    expanded.sort();
    assert_eq!(found, expanded);
}

#[test]
fn corpus_types_are_usable() {
    // A sample of generated items, used as a user would.
    let lumens = v3_streetlights_kafka::LightMeasuredPayload {
        lumens: Some(3),
        sent_at: None,
    };
    let json = asyncapi_runtime::__private::serde_json::to_string(&lumens).unwrap();
    assert_eq!(json, r#"{"lumens":3}"#);
    assert_eq!(
        <v3_streetlights_kafka::channels::LightingMeasured as asyncapi_runtime::Channel>::TOPIC,
        "smartylighting.streetlights.1.0.event.{streetlightId}.lighting.measured"
    );
    assert_eq!(<v2_streetlights_mqtt::channels::SmartylightingStreetlights10EventStreetlightIdLightingMeasured as asyncapi_runtime::Channel>::TOPIC, "smartylighting.streetlights.1.0.event.{streetlightId}.lighting.measured");
}

#[test]
fn servers_connect_with_their_security_schemes() {
    use v3_streetlights_kafka::{servers, Application};
    // scramSha256 needs credentials, which never come from the document.
    let err = Application::for_server(&servers::SCRAM_CONNECTIONS, &[])
        .err()
        .expect("credentials are required");
    let text = err.to_string();
    assert!(
        text.contains("KAFKA_SASL_USERNAME") || text.contains("KAFKA_SASL_PASSWORD"),
        "{text}"
    );
    assert_eq!(servers::SCRAM_CONNECTIONS.security, &["saslScram"]);
    assert_eq!(
        servers::SECURITY_SCHEMES
            .iter()
            .find(|s| s.name == "saslScram")
            .map(|s| s.kind),
        Some("scramSha256")
    );
}

#[test]
fn payload_schemas_are_self_contained_and_validate() {
    use asyncapi_runtime::__private::serde_json::json;
    use asyncapi_runtime::Channel;
    let schema = <v3_streetlights_kafka::channels::LightingMeasured as Channel>::PAYLOAD_SCHEMA
        .expect("schema");
    let schema: asyncapi_runtime::__private::serde_json::Value =
        asyncapi_runtime::__private::serde_json::from_str(schema).unwrap();
    let validator =
        jsonschema::validator_for(&schema).expect("the bundled schema compiles on its own");
    assert!(validator.is_valid(&json!({"lumens": 3, "sentAt": "2026-01-01T00:00:00Z"})));
    assert!(
        !validator.is_valid(&json!({"lumens": -1})),
        "minimum: 0 is enforced"
    );
    assert!(
        !validator.is_valid(&json!({"sentAt": 5})),
        "the referenced sentAt schema is enforced"
    );
}
