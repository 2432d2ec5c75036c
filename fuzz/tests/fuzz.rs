//! Fuzzing `asyncapi_codegen::expand_str` with mutated corpus documents.
//!
//! - `fuzz_quick`: a few hundred cases, part of the normal `cargo test`.
//! - `fuzz_long` (ignored): `FUZZ_CASES=100000 cargo test -p asyncapi-fuzz --release -- --ignored fuzz_long --nocapture`
//!   counts outcomes over many cases, shrinks failures and writes them to
//!   `$FUZZ_OUT` (default: cargo's target tmp dir `fuzz/`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, Instant};

use asyncapi_fuzz::{case_strategy, check, corpus_dir, load_corpus, render, Case, Outcome, Seed};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const DEADLINE: Duration = Duration::from_secs(5);

/// `expand_str` catches panics, but the default hook still prints each one: keep the
/// output readable by silencing the hook on fuzz-case threads only.
fn quiet_case_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some("fuzz-case") {
                default(info);
            }
        }));
    });
}

fn seeds() -> Vec<Seed> {
    let seeds =
        load_corpus(&corpus_dir()).expect("the corpus under tests/fixtures/corpus is readable");
    assert!(
        seeds.len() >= 40,
        "expected the whole corpus, found {} documents",
        seeds.len()
    );
    assert!(
        seeds.iter().filter(|s| s.value.is_some()).count() >= 40,
        "most corpus documents must parse as YAML to be mutated structurally"
    );
    seeds
}

fn out_dir() -> PathBuf {
    std::env::var_os("FUZZ_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz"))
}

#[test]
fn corpus_seeds_expand_without_internal_errors() {
    quiet_case_panics();
    let seeds = seeds();
    let mut ok = 0;
    for seed in &seeds {
        let outcome = check(&seed.path, &seed.text, DEADLINE);
        assert!(
            !outcome.is_failure(),
            "{}: {outcome:?}",
            seed.path.display()
        );
        if outcome == Outcome::Ok {
            ok += 1;
        }
    }
    // Sanity: the seeds are real documents, most of which expand.
    assert!(
        ok * 2 > seeds.len(),
        "only {ok} of {} seeds expand",
        seeds.len()
    );
}

#[test]
fn fuzz_quick() {
    quiet_case_panics();
    let seeds = seeds();
    let cases = std::env::var("FUZZ_QUICK_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case_strategy(seeds.len()), |case| {
        let (path, text) = render(&seeds, &case);
        let outcome = check(&path, &text, DEADLINE);
        prop_assert!(
            !outcome.is_failure(),
            "{outcome:?}\n--- document ---\n{text}"
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("fuzz_quick found a failure: {e}");
    }
}

fn save(dir: &PathBuf, name: &str, text: &str) -> PathBuf {
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join(name);
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("could not write {}: {e}", path.display());
    }
    path
}

fn category(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Panic(msg) => {
            // The diagnostics' text up to the first line break names the failure well enough.
            format!(
                "panic: {}",
                msg.lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect::<String>()
            )
        }
        Outcome::Timeout => "timeout".to_owned(),
        other => format!("{other:?}"),
    }
}

/// Shrinks a failing case with proptest's value tree, keeping the smallest input that
/// still fails the same way. Bounded in steps.
fn shrink(
    seeds: &[Seed],
    tree: &mut impl ValueTree<Value = Case>,
    failing: &Outcome,
) -> (Case, String) {
    let want = std::mem::discriminant(failing);
    let mut best = tree.current();
    let mut steps = 0;
    while steps < 500 && tree.simplify() {
        steps += 1;
        let candidate = tree.current();
        let (path, text) = render(seeds, &candidate);
        let outcome = check(&path, &text, DEADLINE);
        if std::mem::discriminant(&outcome) == want {
            best = candidate;
        } else if !tree.complicate() {
            break;
        }
    }
    let (_, text) = render(seeds, &best);
    (best, text)
}

#[test]
#[ignore = "long run: FUZZ_CASES=100000 cargo test -p asyncapi-fuzz --release -- --ignored fuzz_long --nocapture"]
fn fuzz_long() {
    quiet_case_panics();
    let seeds = seeds();
    let cases: u64 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng_seed = [0u8; 32];
    rng_seed[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed),
    );
    let strategy = case_strategy(seeds.len());
    let out = out_dir();
    let started = Instant::now();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut failures: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for i in 0..cases {
        let mut tree = strategy
            .new_tree(&mut runner)
            .expect("the case strategy generates");
        let case = tree.current();
        let (path, text) = render(&seeds, &case);
        // If the process dies (stack overflow aborts it), this file holds the culprit.
        save(&out, "in-flight.yaml", &text);
        let t = Instant::now();
        let outcome = check(&path, &text, DEADLINE);
        slowest = slowest.max(t.elapsed());
        let key = match &outcome {
            Outcome::Ok => "ok",
            Outcome::Err => "err",
            Outcome::Panic(_) => "panic",
            Outcome::Timeout => "timeout",
        };
        *counts.entry(key).or_default() += 1;
        if outcome.is_failure() {
            let cat = category(&outcome);
            if !failures.contains_key(&cat) && failures.len() < 20 {
                let (_, small) = shrink(&seeds, &mut tree, &outcome);
                let n = failures.len();
                save(&out, &format!("failure-{n}-original.yaml"), &text);
                let file = save(&out, &format!("failure-{n}.yaml"), &small);
                eprintln!(
                    "FAILURE {n} ({cat}) seed {}: {}",
                    path.display(),
                    file.display()
                );
                failures.insert(cat, file);
            }
        }
        if (i + 1) % 10_000 == 0 {
            eprintln!("{} cases, {:?}, {:?}", i + 1, started.elapsed(), counts);
        }
    }
    let _ = std::fs::remove_file(out.join("in-flight.yaml"));
    println!(
        "fuzz_long: {cases} inputs in {:?} (seed {seed}); outcomes {counts:?}; slowest case {slowest:?}; distinct failures {}",
        started.elapsed(),
        failures.len()
    );
    for (cat, file) in &failures {
        println!("  {cat}: {}", file.display());
    }
    assert!(
        failures.is_empty(),
        "fuzz_long found {} distinct failures (see above)",
        failures.len()
    );
}
