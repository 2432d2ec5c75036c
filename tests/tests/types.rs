//! JSON Schema constructs that generators commonly get wrong, each checked through real
//! generated code (`fixtures/types/edge-cases.yaml`) and serde round trips.

#[allow(deprecated)] // by design: `mixed` mixes value types, `foo_bar` and `in_stock` collide
mod edge {
    asyncapi_runtime::asyncapi!("fixtures/types/edge-cases.yaml");
}
#[allow(deprecated)] // the seed's known warnings: undeclared `{version}`, unknown `basicAuth`
mod seed {
    asyncapi_runtime::asyncapi!("fixtures/specs/account-service.yaml");
}

use asyncapi_runtime::__private::serde_json::{self, json};
use asyncapi_runtime::{Channel, HeaderSet, Message};
use edge::*;

fn envelope() -> PetEnvelope {
    PetEnvelope {
        kind: PetEnvelopeKind::Pet,
        pet: Pet::Dog(Dog {
            pet_type: "Dog".into(),
            barks: Some(true),
        }),
        nickname: None,
        foo_bar: Some("camel".into()),
        foo_bar_2: Some(7),
        type_: Some("t".into()),
        status: Some(PetEnvelopeStatus::InStock2),
        tags: Some(vec!["a".into()]),
        attrs: Some([("x".to_owned(), 1)].into_iter().collect()),
        // The field types are nameable from the runtime: no chrono or uuid dependency.
        born: Some(
            "2026-01-02T03:04:05Z"
                .parse::<asyncapi_runtime::types::DateTime>()
                .unwrap(),
        ),
        id: Some(
            asyncapi_runtime::types::Uuid::parse_str("1fa6ef40-8f47-40a8-8cf6-f8607d0066ef")
                .unwrap(),
        ),
        not_int: Some(json!("anything but an integer")),
        conditional: Some(json!(5)),
        mixed: Some(json!(true)),
        parent: None,
        inline: Some(PetEnvelopeInline {
            a: Some("x".into()),
        }),
        merged: Some(PetEnvelopeMerged {
            name: "Rex".into(),
            age: 3,
        }),
    }
}

#[test]
fn seed_messages_serialize_to_the_documented_shape() {
    let signup = seed::UserSignup {
        email: Some("a@example.com".into()),
        name: Some("Ada".into()),
    };
    assert_eq!(
        serde_json::to_value(&signup).unwrap(),
        json!({"email": "a@example.com", "name": "Ada"})
    );
    let created = seed::AccountCreated {
        account_id: Some("acc-1".into()),
        balance: Some(12.5),
    };
    assert_eq!(
        serde_json::to_value(&created).unwrap(),
        json!({"accountId": "acc-1", "balance": 12.5})
    );
    let back: seed::AccountCreated =
        serde_json::from_value(json!({"accountId": "acc-1", "balance": 12.5})).unwrap();
    assert_eq!(back, created);
    assert_eq!(
        <seed::channels::UserSignup as Channel>::TOPIC,
        "user.signup"
    );
    assert_eq!(
        <seed::channels::AccountCreated as Channel>::TOPIC,
        "account.created"
    );
    assert_eq!(seed::Application::RECEIVES, &["user/signup"]);
    assert_eq!(seed::Application::SENDS, &["account/created"]);
    assert_eq!(seed::Client::SENDS, &["user/signup"]);
}

#[test]
fn discriminator_picks_the_named_variant_not_the_first_that_parses() {
    // `Cat` would accept this object too (`meows` is optional): only the tag says Dog.
    let pet: Pet = serde_json::from_value(json!({"petType": "Dog", "barks": true})).unwrap();
    assert_eq!(
        pet,
        Pet::Dog(Dog {
            pet_type: "Dog".into(),
            barks: Some(true)
        })
    );
    let err = serde_json::from_value::<Pet>(json!({"petType": "Fish"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("Fish") && err.contains("`Cat`"), "{err}");
    assert!(serde_json::from_value::<Pet>(json!({"barks": true})).is_err());
}

#[test]
fn colliding_names_get_distinct_fields_and_variants() {
    let value = serde_json::to_value(envelope()).unwrap();
    assert_eq!(value["fooBar"], "camel");
    assert_eq!(value["foo_bar"], 7);
    assert_eq!(value["type"], "t");
    assert_eq!(value["status"], "in_stock");
    assert_eq!(
        serde_json::to_value(PetEnvelopeStatus::InStock).unwrap(),
        "in-stock"
    );
    assert_eq!(serde_json::to_value(PetEnvelopeStatus::Empty).unwrap(), "");
    assert_eq!(
        serde_json::to_value(PetEnvelopeStatus::T1st).unwrap(),
        "1st"
    );
    let back: PetEnvelope = serde_json::from_value(value).unwrap();
    assert_eq!(back, envelope());
}

/// An optional `nullable` property has three states the schema tells apart: absent
/// (`None`), `null` (`Some(None)`) and a value (`Some(Some(v))`); each is sent and
/// read back as it is.
#[test]
fn optional_nullable_tells_absent_from_null_and_absent_optionals_are_skipped() {
    let mut e = envelope();
    e.foo_bar = None;
    let value = serde_json::to_value(&e).unwrap();
    assert!(value.get("fooBar").is_none(), "{value}");
    for (note, json) in [
        (None, json!({"kind": "audit"})),
        (Some(None), json!({"kind": "audit", "note": null})),
        (
            Some(Some("n".to_owned())),
            json!({"kind": "audit", "note": "n"}),
        ),
    ] {
        let audit = Audit {
            kind: AuditKind::Audit,
            note: note.clone(),
        };
        assert_eq!(serde_json::to_value(&audit).unwrap(), json);
        let back: Audit = serde_json::from_value(json).unwrap();
        assert_eq!(back.note, note);
    }
    let with_nickname: PetEnvelope =
        serde_json::from_value(json!({"kind": "pet", "pet": {"petType": "Cat"}, "nickname": null}))
            .unwrap();
    assert_eq!(with_nickname.nickname, Some(None));
}

#[test]
fn recursion_is_boxed_and_formats_map_to_crates() {
    let mut outer = envelope();
    outer.parent = Some(Box::new(envelope()));
    let json = serde_json::to_string(&outer).unwrap();
    let back: PetEnvelope = serde_json::from_str(&json).unwrap();
    assert_eq!(back, outer);
    let value = serde_json::to_value(envelope()).unwrap();
    assert_eq!(value["born"], "2026-01-02T03:04:05Z");
    assert_eq!(value["id"], "1fa6ef40-8f47-40a8-8cf6-f8607d0066ef");
}

#[test]
fn channel_with_two_messages_decodes_by_constant_tag() {
    let audit = PetsMessage::from(Audit {
        kind: AuditKind::Audit,
        note: Some(Some("n".into())),
    });
    let bytes = audit.encode().unwrap();
    assert_eq!(
        PetsMessage::decode(&bytes, Some("application/json")).unwrap(),
        audit
    );
    let pet = PetsMessage::from(envelope());
    let bytes = pet.encode().unwrap();
    assert_eq!(PetsMessage::decode(&bytes, None).unwrap(), pet);
    let err = PetsMessage::decode(br#"{"kind":"other"}"#, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`pet`") && err.contains("`audit`"), "{err}");
}

/// A `const` property is a one-value enum: it cannot be set wrong, defaults to its
/// value, and a record carrying another value is refused, not read as this message.
#[test]
fn a_const_property_is_fixed_by_its_type_and_checked_on_decode() {
    assert_eq!(PetEnvelopeKind::default(), PetEnvelopeKind::Pet);
    assert_eq!(
        serde_json::to_value(AuditKind::Audit).unwrap(),
        json!("audit")
    );
    let err = serde_json::from_value::<Audit>(json!({"kind": "pet", "note": "n"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected one of: audit"), "{err}");
}

#[test]
fn every_message_gets_its_own_headers_type() {
    let h = PetEnvelopeHeaders {
        trace_id: Some("t-1".into()),
        attempt: Some(2),
    };
    let raw = h.to_kafka_headers().unwrap();
    assert!(
        raw.contains(&("traceId".to_owned(), b"t-1".to_vec())),
        "{raw:?}"
    );
    assert!(
        raw.contains(&("attempt".to_owned(), b"2".to_vec())),
        "{raw:?}"
    );
    assert_eq!(PetEnvelopeHeaders::from_kafka_headers(&raw).unwrap(), h);
    // A numeric-looking string header stays a string, also when the headers schema
    // is a `$ref` (`Audit`'s is).
    let a = AuditHeaders::from_kafka_headers(&[("traceId".to_owned(), b"123".to_vec())]).unwrap();
    assert_eq!(a.trace_id.as_deref(), Some("123"));
}

/// A struct reached through a named array that refers back to the array: the field is
/// the array's alias (it was any JSON value, with a warning, when the array was reached
/// first).
#[test]
fn recursion_through_a_named_array_is_typed() {
    let forest: Forest = vec![Tree {
        name: "oak".into(),
        children: Some(vec![Tree {
            name: "acorn".into(),
            children: None,
        }]),
    }];
    let json = serde_json::json!([{"name": "oak", "children": [{"name": "acorn"}]}]);
    assert_eq!(serde_json::to_value(&forest).unwrap(), json);
    assert_eq!(serde_json::from_value::<Forest>(json).unwrap(), forest);
}

/// A nullable schema referred to twice is nullable at both (the second reference got
/// the type without its `null`, and refused it).
#[test]
fn a_nullable_schema_is_nullable_at_every_reference() {
    let reading: Reading = serde_json::from_value(json!({"first": null, "second": null})).unwrap();
    assert_eq!((reading.first, reading.second), (None, None));
    let reading: Reading =
        serde_json::from_value(json!({"first": "low", "second": "high"})).unwrap();
    assert_eq!(reading.second, Some(Level::High));
}

#[test]
fn text_plain_payload_is_raw_text() {
    let note = Note("hello".into());
    assert_eq!(note.encode().unwrap(), b"hello");
    assert_eq!(Note::decode(b"hello", Some("text/plain")).unwrap(), note);
}

mod exact {
    asyncapi_runtime::asyncapi!("fixtures/types/exact.yaml");
}

#[test]
fn exactness_is_flagged_only_where_the_type_carries_the_whole_schema() {
    const { assert!(exact::channels::Orders::PAYLOAD_TYPE_ENFORCES_SCHEMA) };
    const { assert!(!exact::channels::Notes::PAYLOAD_TYPE_ENFORCES_SCHEMA) };
    const { assert!(seed::channels::UserSignup::PAYLOAD_TYPE_ENFORCES_SCHEMA) };
}

#[test]
fn decoding_an_exact_type_agrees_with_schema_validation() {
    let schema: serde_json::Value =
        serde_json::from_str(exact::channels::Orders::PAYLOAD_SCHEMA.unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let valid = json!({"id": "o-1", "quantity": 2, "status": "open", "customer": {"name": "Ada"}});
    let with = |patch: serde_json::Value| {
        let mut v = valid.clone();
        for (k, x) in patch.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let without = |key: &str| {
        let mut v = valid.clone();
        v.as_object_mut().unwrap().remove(key);
        v
    };
    let cases = [
        valid.clone(),
        with(json!({"price": 1.5, "gift": true, "memo": null, "extra": {"x": 1}})),
        with(json!({"status": "Error", "customer": {"name": "Bo", "tier": "gold"}})),
        without("id"),
        without("customer"),
        with(json!({"price": null})),
        with(json!({"gift": null})),
        with(json!({"id": null})),
        with(json!({"id": 7})),
        with(json!({"quantity": "2"})),
        with(json!({"quantity": 2.5})),
        with(json!({"status": "closed"})),
        with(json!({"status": {"open": null}})),
        with(json!({"customer": {"tier": "gold"}})),
        with(json!({"customer": {"name": "Bo", "tier": null}})),
        with(json!({"customer": {"name": "Bo", "tier": {"gold": null}}})),
        with(json!({"customer": "Ada"})),
        json!("o-1"),
        json!(null),
    ];
    for case in cases {
        let bytes = serde_json::to_vec(&case).unwrap();
        assert!(!bytes.contains(&b'['), "the fallback covers arrays: {case}");
        assert_eq!(
            exact::Order::decode(&bytes, None).is_ok(),
            validator.is_valid(&case),
            "decode and schema disagree on {case}"
        );
    }
    // serde takes an array in field order for an object, which the schema rejects: the
    // runtime validates every record containing a `[` for this reason.
    let as_array = json!(["o-1", 2, null, null, "open", {"name": "Ada"}, null]);
    assert!(!validator.is_valid(&as_array));
    assert!(serde_json::to_vec(&as_array).unwrap().contains(&b'['));
}

#[test]
fn string_enums_parse_from_their_values_only() {
    use std::str::FromStr;
    assert_eq!(
        exact::OrderStatus::from_str("Error").unwrap(),
        exact::OrderStatus::Error
    );
    let err = exact::OrderStatus::from_str("closed").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown value `closed`, expected one of: open, shipped, Error"
    );
    assert!(serde_json::from_value::<exact::OrderStatus>(json!({"open": null})).is_err());
    assert_eq!(
        serde_json::to_value(exact::OrderStatus::Shipped).unwrap(),
        json!("shipped")
    );
}

mod tagged {
    asyncapi_runtime::asyncapi!("fixtures/types/tagged.yaml");
}

/// Properties beside a `oneOf` are every member's: a struct of them with the member
/// flattened in, and a round trip keeps both.
#[test]
fn properties_beside_a_one_of_are_kept() {
    use tagged::{Refund, RefundVariant};
    let json = serde_json::json!({"id": "r-1", "amount": 5, "kind": "card", "card": "4111"});
    let refund: Refund = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(refund.id, "r-1");
    assert_eq!(refund.amount, Some(5));
    let RefundVariant::Card(card) = &refund.variant else {
        panic!("{refund:?}")
    };
    assert_eq!(card.card, "4111");
    assert_eq!(serde_json::to_value(&refund).unwrap(), json);
    let cash: Refund =
        serde_json::from_value(serde_json::json!({"id": "r-2", "kind": "cash"})).unwrap();
    assert!(matches!(cash.variant, RefundVariant::Cash(_)));
    assert!(serde_json::from_value::<Refund>(serde_json::json!({"kind": "cash"})).is_err());
}

/// The same through `allOf: [Base, {oneOf: [..]}]`: the base's properties are fields,
/// the member is the flattened variant, and a round trip keeps both.
#[test]
fn a_one_of_inside_an_all_of_is_kept() {
    use tagged::{Return, ReturnVariant};
    let json = serde_json::json!({"id": "x-1", "kind": "post", "tracking": "T9"});
    let posted: Return = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(posted.id, "x-1");
    let ReturnVariant::Post(post) = &posted.variant else {
        panic!("{posted:?}")
    };
    assert_eq!(post.tracking.as_deref(), Some("T9"));
    assert_eq!(serde_json::to_value(&posted).unwrap(), json);
}

/// Inline `oneOf` members that pin a tag are named after it: `Card` holding a
/// `PaymentMethodCard`, not `Variant1` holding a `PaymentMethodVariant1`.
#[test]
fn tagged_one_of_members_are_named_after_their_tag_values() {
    use tagged::{Payment, PaymentMethod, PaymentMethodBankTransfer, PaymentMethodCard};
    let card = Payment {
        amount: 12,
        method: PaymentMethod::Card(PaymentMethodCard {
            method: tagged::PaymentMethodCardMethod::Card,
            number: "4111".into(),
        }),
    };
    let json = serde_json::to_value(&card).unwrap();
    assert_eq!(
        json,
        json!({"amount": 12, "method": {"method": "card", "number": "4111"}})
    );
    let transfer: Payment = serde_json::from_value(
        json!({"amount": 3, "method": {"method": "bank-transfer", "iban": "DE00"}}),
    )
    .unwrap();
    assert!(matches!(
        transfer.method,
        PaymentMethod::BankTransfer(PaymentMethodBankTransfer { ref iban, .. }) if iban == "DE00"
    ));
}

/// A channel of several messages is validated too: a record must match one of their
/// payload schemas (it used to get no schema, so constraints serde cannot see, here an
/// `if`/`then` on `conditional`, went unchecked).
#[test]
fn a_channel_of_several_messages_validates_against_any_of_their_schemas() {
    let schema = <edge::channels::Pets as Channel>::PAYLOAD_SCHEMA.expect("a schema");
    let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the bundled schema compiles");
    assert!(validator.is_valid(&json!({"kind": "audit", "note": null})));
    assert!(validator.is_valid(&json!({"kind": "pet", "pet": {"petType": "Cat"}})));
    assert!(
        !validator.is_valid(&json!({"kind": "pet", "pet": {"petType": "Cat"}, "conditional": ""})),
        "`then: minLength: 1` of the pet envelope is enforced"
    );
    assert!(!validator.is_valid(&json!({"kind": "audit", "note": 5})));
}

mod defaults {
    asyncapi_runtime::asyncapi!("fixtures/types/defaults.yaml");
}

/// An absent optional property decodes to the schema's `default`; a present one, or
/// one without a default, as it is.
#[test]
fn absent_properties_take_the_schemas_default() {
    let job: defaults::Job = serde_json::from_value(json!({"id": "j-1"})).unwrap();
    assert_eq!(job.retries, Some(3));
    assert_eq!(job.ratio, Some(0.5));
    assert_eq!(job.urgent, Some(false));
    assert_eq!(job.queue.as_deref(), Some("standard"));
    assert_eq!(job.note, None);
    assert_eq!(job.priority, Some(defaults::JobPriority::Normal));
    assert_eq!(
        job.tags.as_deref(),
        Some(&["nightly".to_owned(), "batch".to_owned()][..])
    );
    let limits = job.limits.expect("the object's default");
    assert_eq!(
        (limits.cpu, limits.memory.as_deref()),
        (Some(2), Some("512Mi"))
    );
    let given: defaults::Job =
        serde_json::from_value(json!({"id": "j-2", "retries": 7, "queue": "bulk"})).unwrap();
    assert_eq!(
        (given.retries, given.queue.as_deref()),
        (Some(7), Some("bulk"))
    );
    // `null` is still refused where the schema does not allow it.
    assert!(serde_json::from_value::<defaults::Job>(json!({"id": "j", "retries": null})).is_err());
}

#[allow(deprecated)] // the collisions are reported as warnings, by design
mod collisions {
    asyncapi_runtime::asyncapi!("fixtures/types/collisions.yaml");
}

/// Servers and parameters whose Rust names collide still compile: the second of each
/// gets a numeric suffix, and the expansion warns, naming both.
#[test]
fn colliding_server_and_parameter_names_compile_with_a_suffix_and_a_warning() {
    use asyncapi_runtime::ChannelParameters;
    assert_eq!(collisions::servers::PROD_EU.url, "eu:9092");
    assert_eq!(collisions::servers::PROD_EU_2.url, "eu-2:9092");
    let p = collisions::channels::UsersUserIdUserIdParameters {
        user_id: "ada".into(),
        user_id_2: 7,
    };
    assert_eq!(p.values(), ["ada", "7"]);
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/types/collisions.yaml");
    let expansion = asyncapi_codegen::expand_file(&path, &Default::default()).unwrap();
    let warnings: Vec<String> = expansion.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("servers `prod-eu` and `prod_eu`")
                && w.contains("servers::PROD_EU_2")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("parameters `userId` and `user_id`")),
        "{warnings:?}"
    );
}

#[allow(deprecated)] // the renames are reported as warnings, by design
mod names {
    asyncapi_runtime::asyncapi!("fixtures/types/names.yaml");
}

/// Names that lose letters, repeat, or collide once they are Rust names compile (they
/// did not), and each rename a user would write is a warning.
#[test]
fn names_that_collide_or_lose_letters_compile() {
    use asyncapi_runtime::HeaderSet;
    use names::{Foo, FooBar, MarkedHeaders, MarkedWord, D};

    assert_eq!(names::servers::SERVER.url, "localhost:9092");
    assert_eq!(
        [MarkedWord::Fn, MarkedWord::Super, MarkedWord::Ok]
            .map(|w| serde_json::to_value(w).unwrap()),
        ["éfn", "ésuper", "ok"]
    );
    assert_eq!(serde_json::to_value(D::Y).unwrap(), "y");
    // Two structs whose defaults' hidden functions had the same name.
    let foo: Foo = serde_json::from_str(r#"{"bar": {}}"#).unwrap();
    assert_eq!(foo.bar_x, Some(1));
    assert_eq!(foo.bar.unwrap().x, Some(2));
    let _: FooBar = serde_json::from_str("{}").unwrap();
    // `admin` listed twice is one variant, the default.
    assert_eq!(names::channels::UserId2::ALL.len(), 2);
    assert_eq!(names::channels::UserId2::default().as_str(), "admin");
    // `x`'s `_with` method is not `xWith`'s `request_x_with`.
    let _ = names::Application::request_x_with;
    let _ = names::Application::request_x_with_2;
    // Header values that are text by their schema stay text, whatever they look like.
    let raw = |name: &str, value: &str| (name.to_owned(), value.as_bytes().to_vec());
    let headers = MarkedHeaders::from_kafka_headers(&[
        raw("nullableText", "123"),
        raw("oneOfTwo", "1"),
        raw("fixed", "true"),
        raw("merged", "false"),
    ])
    .unwrap();
    assert_eq!(headers.merged.as_deref(), Some("false"));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/types/names.yaml");
    let expansion = asyncapi_codegen::expand_file(&path, &Default::default()).unwrap();
    let warnings: Vec<String> = expansion.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("parameter `id` of channel `user`")
                && w.contains("channels::UserId2")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains(
            "`request_x_with` of channel `x` is another channel's `request_` method: it is `request_x_with_2`"
        )),
        "{warnings:?}"
    );
}
