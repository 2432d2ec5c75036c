//! One document per AsyncAPI version this crate reads (2.0.0 to 2.6.0, 3.0.0, 3.1.0),
//! each using what its version added, expanded by `asyncapi!` and used as a user would.
//! 2.0.0 is the seed document, 2.6.0 and 3.0.0 the corpus (see `corpus.rs`).

// The seed document's warnings (surfaced as deprecation notes) are expected.
#![allow(deprecated)]

use asyncapi_runtime::types::JsonValue;
use asyncapi_runtime::{Channel, Message};

mod v2_0 {
    asyncapi_runtime::asyncapi!("fixtures/specs/account-service.yaml");
}
mod v2_1 {
    asyncapi_runtime::asyncapi!("fixtures/versions/v2_1.yaml");
}
mod v2_2 {
    asyncapi_runtime::asyncapi!("fixtures/versions/v2_2.yaml");
}
mod v2_3 {
    asyncapi_runtime::asyncapi!("fixtures/versions/v2_3.yaml");
}
mod v2_4 {
    asyncapi_runtime::asyncapi!("fixtures/versions/v2_4.yaml");
}
mod v2_5 {
    asyncapi_runtime::asyncapi!("fixtures/versions/v2_5.yaml");
}
mod v3_1 {
    asyncapi_runtime::asyncapi!("fixtures/versions/v3_1.yaml");
}

#[test]
fn each_version_is_read_as_written() {
    assert_eq!(v2_0::ASYNCAPI_VERSION, "2.0.0");
    assert_eq!(v2_1::ASYNCAPI_VERSION, "2.1.0");
    assert_eq!(v2_2::ASYNCAPI_VERSION, "2.2.0");
    assert_eq!(v2_3::ASYNCAPI_VERSION, "2.3.0");
    assert_eq!(v2_4::ASYNCAPI_VERSION, "2.4.0");
    assert_eq!(v2_5::ASYNCAPI_VERSION, "2.5.0");
    assert_eq!(v3_1::ASYNCAPI_VERSION, "3.1.0");
}

#[test]
fn v2_1_message_with_examples_round_trips() {
    let reading = v2_1::Reading {
        meter_id: "m-1".into(),
        watts: 420,
    };
    let bytes = reading.encode().unwrap();
    assert_eq!(v2_1::Reading::decode(&bytes, None).unwrap(), reading);
    assert_eq!(v2_1::servers::LOCAL.protocol_version, Some("3.7"));
    assert_eq!(v2_1::Application::RECEIVES, &["meter.readings"]);
}

#[test]
fn v2_2_channel_servers_and_v2_3_component_servers_and_channels() {
    assert_eq!(v2_2::servers::ALL.len(), 2);
    assert_eq!(v2_2::channels::MeterReadings::TOPIC, "meter.readings");
    // A server and a channel given by `$ref` to `components` are read like inline ones.
    assert_eq!(v2_3::servers::LOCAL.url, "localhost:9092");
    assert_eq!(v2_3::Application::RECEIVES, &["meter.readings"]);
}

#[test]
fn v2_4_server_variables_and_v2_5_server_tags() {
    let region = &v2_4::servers::REGIONAL.variables[0];
    assert_eq!((region.name, region.default), ("region", Some("eu")));
    assert_eq!(region.allowed, &["eu", "us"]);
    assert_eq!(v2_5::Application::SENDS, &["meter.readings"]);
}

#[test]
fn v3_1_channel_without_messages_carries_any_json() {
    fn carries_json<C: Channel<Message = JsonValue>>() {}
    carries_json::<v3_1::channels::Audit>();
    assert_eq!(v3_1::Application::SENDS, &["audit"]);
    assert_eq!(v3_1::Application::RECEIVES, &["readings"]);
}

#[test]
fn unsupported_versions_are_refused_with_the_supported_list() {
    // A patch release the specification has not published (`2.6.1`) has no official
    // schema: refused, as the official parser refuses it.
    for version in ["2.9.0", "3.5.0", "1.2.0", "4.0.0", "2.6.1"] {
        let text = format!("asyncapi: {version}\ninfo: {{ title: T, version: '1' }}\n");
        let errors = asyncapi_codegen::expand_str(
            std::path::Path::new("doc.yaml"),
            &text,
            &Default::default(),
        )
        .unwrap_err();
        let shown = errors.to_string();
        assert!(
            shown.contains(&format!("unsupported AsyncAPI version `{version}`")),
            "{shown}"
        );
        assert!(shown.contains("2.0.0 to 2.6.0, 3.0.0 and 3.1.0"), "{shown}");
        assert!(shown.contains("at `#/asyncapi`"), "{shown}");
    }
}

/// The `clientId` binding of the operations the application sends with names its
/// producer, unless the configuration names one; the client is another program.
#[tokio::test]
async fn the_client_id_binding_names_the_applications_producer() {
    use asyncapi_runtime::KafkaConfig;
    let config = KafkaConfig::new("localhost:1");
    let app = v3_1::Application::new(config.clone()).unwrap();
    assert_eq!(app.producer().client_id(), Some("meter-audit"));
    let named = v3_1::Application::new(config.clone().client_id("mine")).unwrap();
    assert_eq!(named.producer().client_id(), Some("mine"));
    let client = v3_1::Client::new(config).unwrap();
    assert_eq!(client.producer().client_id(), None);
}
