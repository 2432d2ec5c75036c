//! Typed channel parameters (`fixtures/types/parameters.yaml`): enums, integers,
//! booleans and patterns, checked before sending and when a topic is read back.

use asyncapi_runtime::{
    ChannelParameters, DecodeError, KafkaConfig, Outgoing, Producer, SendError, TopicError,
};

mod orders {
    asyncapi_runtime::asyncapi!("fixtures/types/parameters.yaml");
}

use orders::channels::{FlagsLiveParameters, OrdersRegionShardTenant};
use orders::channels::{
    OrdersRegionShardTenantParameters as OrderTopic, OrdersRegionShardTenantRegion as Region,
};

fn topic(region: Region, shard: i64, tenant: &str) -> OrderTopic {
    OrderTopic {
        region,
        shard,
        tenant: tenant.to_owned(),
    }
}

#[test]
fn typed_values_render_the_topic_segments() {
    let p = topic(Region::Apac, -7, "acme-2");
    assert_eq!(p.values(), ["apac", "-7", "acme-2"]);
    assert_eq!(p.check(), Ok(()));
    assert_eq!(FlagsLiveParameters { live: true }.values(), ["true"]);
}

#[test]
fn an_enum_parameter_is_a_rust_enum_with_the_documents_default() {
    assert_eq!(Region::ALL, &[Region::Eu, Region::Us, Region::Apac]);
    assert_eq!(Region::default(), Region::Eu);
    assert_eq!("us".parse::<Region>().unwrap(), Region::Us);
    assert_eq!(Region::Us.to_string(), "us");
    assert!("mars".parse::<Region>().is_err());
}

#[test]
fn values_read_back_from_a_topic_are_checked() {
    let parsed = OrderTopic::from_values(&["us", "12", "x-1"]).unwrap();
    assert_eq!(parsed, topic(Region::Us, 12, "x-1"));
    let reason = |values: &[&str]| match OrderTopic::from_values(values) {
        Err(DecodeError::Parameter { name, reason }) => format!("{name}: {reason}"),
        other => panic!("expected a parameter error, got {other:?}"),
    };
    assert!(
        reason(&["mars", "1", "x"]).starts_with("region: "),
        "{}",
        reason(&["mars", "1", "x"])
    );
    assert!(reason(&["mars", "1", "x"]).contains("eu"));
    assert_eq!(reason(&["eu", "twelve", "x"]), "shard: must be an integer");
    assert_eq!(
        reason(&["eu", "1", "Acme"]),
        "tenant: does not match the pattern `^[a-z][a-z0-9-]*$`"
    );
    assert_eq!(
        FlagsLiveParameters::from_values(&["yes"])
            .unwrap_err()
            .to_string(),
        DecodeError::Parameter {
            name: "live",
            reason: "must be `true` or `false`".into()
        }
        .to_string()
    );
}

/// A value the pattern refuses is an error of `send` before anything is produced.
/// `Acme` is a valid topic segment, so only the pattern refuses it; the producer points
/// at a broker that does not exist, so a record that had been enqueued could only end
/// in a delivery timeout, never in this error.
#[tokio::test]
async fn a_value_breaking_the_pattern_is_refused_before_sending() {
    let producer = Producer::new(&KafkaConfig::new("localhost:1")).unwrap();
    let order = orders::Order {
        id: Some("o-1".into()),
    };
    let bad = topic(Region::Eu, 1, "Acme");
    let err = producer
        .send::<OrdersRegionShardTenant>(Outgoing::new(&order).parameters(&bad))
        .await
        .unwrap_err();
    match err {
        SendError::Topic(TopicError::PatternMismatch {
            name,
            value,
            pattern,
        }) => {
            assert_eq!(
                (name, value.as_str(), pattern),
                ("tenant", "Acme", "^[a-z][a-z0-9-]*$")
            );
        }
        other => panic!("expected a pattern error, got {other:?}"),
    }
}
