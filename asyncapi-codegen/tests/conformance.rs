//! Documents against the AsyncAPI specification: every problem together, each at its
//! line and pointer with a fix, the documented leniencies as warnings, and `check_file`.

use std::path::Path;

use asyncapi_codegen::LENIENCIES;
use asyncapi_codegen::{check_file, expand_str, Settings};

fn outcome(text: &str) -> Result<Vec<String>, String> {
    expand_str(Path::new("doc.yaml"), text, &Settings::default())
        .map(|e| e.warnings.iter().map(ToString::to_string).collect())
        .map_err(|e| e.to_string())
}

fn errors(text: &str) -> String {
    outcome(text).expect_err("the document must be refused")
}

fn warnings(text: &str) -> Vec<String> {
    outcome(text).unwrap_or_else(|e| panic!("the document must expand:\n{e}"))
}

#[test]
fn every_mistake_is_reported_at_its_line_with_the_value_meant() {
    let shown = errors(
        r#"asyncapi: 3.0.0
info: { title: T, version: '1' }
chanels: {}
channels:
  users:
    address: users
    messages:
      signup:
        payload:
          type: object
          properties:
            name: { type: strin }
            address: { $ref: '#/components/schemas/Adress' }
operations:
  onSignup:
    action: sendd
    channel: { $ref: '#/channels/users' }
components:
  schemas:
    Address: { type: object }
"#,
    );
    for expected in [
        "doc.yaml:3:10 at `#/chanels`: `chanels` is not a field of the document's top level\n  help: did you mean `channels`?",
        "doc.yaml:12:27 at `#/channels/users/messages/signup/payload/properties/name/type`: `strin` is not allowed here: expected `array`, `boolean`, `integer`, `null`, `number`, `object` or `string`\n  help: did you mean `string`?",
        "doc.yaml:13:30 at `#/channels/users/messages/signup/payload/properties/address/$ref`: `$ref` `#/components/schemas/Adress` does not resolve: this document has nothing at `#/components/schemas/Adress`\n  help: did you mean `#/components/schemas/Address`?",
        "doc.yaml:16:13 at `#/operations/onSignup/action`: `sendd` is not allowed here: expected `send` or `receive`\n  help: did you mean `send`?",
    ] {
        assert!(shown.contains(expected), "missing\n{expected}\nin\n{shown}");
    }
    for debug in ["Some(", "None", "\\\""] {
        assert!(!shown.contains(debug), "Rust debug formatting in:\n{shown}");
    }
}

#[test]
fn the_rules_beyond_the_schema_are_checked() {
    let shown = errors(
        r#"asyncapi: 2.6.0
info: { title: T, version: '1' }
servers:
  prod: { url: 'kafka:{port}', protocol: kafka, variables: { port: { default: '9092' }, host: { default: h } } }
channels:
  user/{id}:
    servers: [staging]
    parameters: { id: { schema: { type: string } } }
    subscribe:
      operationId: dup
      message:
        payload: { type: object, default: 3 }
        examples: [{ payload: 5 }]
  other:
    publish: { operationId: dup, message: { payload: { type: string } } }
"#,
    );
    for expected in [
        "at `#/servers/prod/variables/host`: `host` is defined but the server URL `kafka:{port}` has no `{host}`",
        "at `#/channels/user~1{id}/servers/0`: the channel names the server `staging`, which `servers` does not define",
        "at `#/channels/other/publish/operationId`: the operationId `dup` is used twice",
        "at `#/channels/user~1{id}/subscribe/message/examples/0/payload`: this example's payload does not match the message's payload schema: expected a mapping, found a number",
        "at `#/channels/user~1{id}/subscribe/message/payload/default`: the default does not match its schema",
    ] {
        assert!(shown.contains(expected), "missing\n{expected}\nin\n{shown}");
    }
}

#[test]
fn leniencies_are_warnings_that_name_the_rule_they_waive() {
    let shown = warnings(
        r#"asyncapi: 2.6.0
servers:
  prod: { url: 'localhost:9092', protocol: kafka, security: [{ basicAuth: [] }] }
channels:
  events:
    subscribe: { message: { payload: { type: string } } }
"#,
    );
    let named = |name: &str| {
        shown
            .iter()
            .any(|w| w.contains(&format!("leniency `{name}` waives the rule")))
    };
    assert!(named("missing-info"), "{shown:#?}");
    assert!(named("undefined-security-scheme"), "{shown:#?}");
    assert_eq!(
        LENIENCIES.iter().map(|l| l.name).collect::<Vec<_>>(),
        ["missing-info", "undefined-security-scheme", "remote-ref"],
        "docs/compile-errors.md lists these; keep the two in step"
    );
}

#[test]
fn circular_references_are_valid_and_a_reference_to_itself_is_not() {
    warnings(
        r#"asyncapi: 3.0.0
info: { title: T, version: '1' }
channels:
  tree:
    address: tree
    messages:
      node: { payload: { $ref: '#/components/schemas/Node' } }
components:
  schemas:
    Node:
      type: object
      properties:
        children: { type: array, items: { $ref: '#/components/schemas/Node' } }
"#,
    );
    let shown = errors(
        r#"asyncapi: 3.0.0
info: { title: T, version: '1' }
components:
  schemas:
    Loop: { $ref: '#/components/schemas/Loop' }
"#,
    );
    assert!(
        shown.contains("leads back to itself with no object in between"),
        "{shown}"
    );
}

#[test]
fn check_file_reports_what_the_specification_says_only() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("api.yaml");
    // Valid for the specification, though no Kafka topic can be named `user@signup`:
    // that is for the expansion to say.
    std::fs::write(
        &doc,
        "asyncapi: 2.6.0\ninfo: { title: T, version: '1' }\nservers: { k: { url: 'k:9092', protocol: kafka } }\nchannels:\n  user@signup:\n    publish: { message: { payload: { type: string } } }\n",
    )
    .unwrap();
    assert_eq!(check_file(&doc).unwrap(), Vec::new());
    assert!(asyncapi_codegen::expand_file(&doc, &Settings::default()).is_err());
    std::fs::write(&doc, "asyncapi: 2.6.0\ninfo: { title: T }\n").unwrap();
    let refused = check_file(&doc).unwrap_err().to_string();
    assert!(
        refused.contains("missing the required field `version`"),
        "{refused}"
    );
}
