//! Every document of the corpus and the seed expands without errors.

use std::path::{Path, PathBuf};

use asyncapi_codegen::{expand_file, Settings};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

pub fn corpus_documents() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for version in ["asyncapi-examples-2.6.0", "asyncapi-examples-3.0.0"] {
        let dir = fixtures().join("corpus").join(version);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                for sub in std::fs::read_dir(&p).unwrap() {
                    let doc = sub.unwrap().path().join("asyncapi.yaml");
                    if doc.exists() {
                        out.push(doc);
                    }
                }
            } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn corpus_expands() {
    let docs = corpus_documents();
    assert!(docs.len() >= 40, "corpus has {} documents", docs.len());
    let mut failures = Vec::new();
    for doc in &docs {
        match expand_file(doc, &Settings::default()) {
            Ok(e) => {
                let text = e.pretty();
                assert!(
                    syn::parse_file(&text).is_ok(),
                    "{} does not parse back",
                    doc.display()
                );
            }
            Err(d) => failures.push(format!("{}: {d}", doc.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seed_expands_and_remote_ref_fails() {
    let seed = expand_file(
        &fixtures().join("specs/account-service.yaml"),
        &Settings::default(),
    )
    .unwrap();
    let text = seed.pretty();
    assert!(text.contains("pub struct UserSignup"), "{text}");
    assert!(text.contains("#[serde(rename = \"accountId\")]"), "{text}");
    assert!(
        seed.warnings
            .iter()
            .any(|w| w.message.contains("{version}")),
        "{:?}",
        seed.warnings
    );
    assert!(
        seed.warnings
            .iter()
            .any(|w| w.message.contains("basicAuth")),
        "{:?}",
        seed.warnings
    );

    let err = expand_file(
        &fixtures().join("specs/payment-gateway-remote-ref.yaml"),
        &Settings::default(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("https://raw.githubusercontent.com/asyncapi/asyncapi/v2.0.0/examples/streetlight.yml#/components/messages/turnOnOff"), "{text}");
    assert!(
        text.contains("not fetched") && text.contains("vendor"),
        "{text}"
    );
}

#[test]
fn json_documents_expand_like_yaml() {
    let yaml = expand_file(
        &fixtures().join("specs/account-service.yaml"),
        &Settings::default(),
    )
    .unwrap();
    let json = expand_file(
        &fixtures().join("specs/account-service.json"),
        &Settings::default(),
    )
    .unwrap();
    assert_eq!(yaml.pretty(), json.pretty());
}

#[test]
fn every_referenced_file_is_tracked_for_rebuilds() {
    let doc = fixtures().join("corpus/asyncapi-examples-2.6.0/social-media/backend/asyncapi.yaml");
    let e = expand_file(&doc, &Settings::default()).unwrap();
    let names: Vec<String> = e
        .files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "asyncapi.yaml",
        "messages.yaml",
        "schemas.yaml",
        "servers.yaml",
    ] {
        assert!(
            names.contains(&expected.to_owned()),
            "{expected} missing from {names:?}"
        );
    }
}
