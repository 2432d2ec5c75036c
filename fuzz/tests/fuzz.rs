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

/// The runner generating case `index` of a run with `seed`: every case has its own
/// RNG, so a run can resume after a worker process died.
fn runner_for(seed: u64, index: u64) -> TestRunner {
    let mut rng_seed = [0u8; 32];
    rng_seed[..8].copy_from_slice(&seed.to_le_bytes());
    rng_seed[8..16].copy_from_slice(&index.to_le_bytes());
    TestRunner::new_with_rng(
        Config {
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &rng_seed),
    )
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Worker: runs cases `start..end`, prints `COUNTS ok err panic timeout` and one
/// `FAILURE category|file` line per distinct in-process failure. Before each case it
/// writes the index and the text to `$out`, so the supervisor can tell which input
/// killed the process (a stack overflow aborts it).
fn worker(seeds: &[Seed], seed: u64, start: u64, end: u64, out: &PathBuf) {
    let strategy = case_strategy(seeds.len());
    let mut counts = [0u64; 4];
    let mut failures: BTreeMap<String, PathBuf> = BTreeMap::new();
    for i in start..end {
        let mut runner = runner_for(seed, i);
        let mut tree = strategy
            .new_tree(&mut runner)
            .expect("the case strategy generates");
        let (path, text) = render(seeds, &tree.current());
        save(out, "in-flight.idx", &i.to_string());
        save(out, "in-flight.yaml", &text);
        let outcome = check(&path, &text, DEADLINE);
        let slot = match &outcome {
            Outcome::Ok => 0,
            Outcome::Err => 1,
            Outcome::Panic(_) => 2,
            Outcome::Timeout => 3,
        };
        counts[slot] += 1;
        if outcome.is_failure() {
            let cat = category(&outcome);
            if !failures.contains_key(&cat) && failures.len() < 20 {
                let (_, small) = shrink(seeds, &mut tree, &outcome);
                let file = save(out, &format!("failure-{i}.yaml"), &small);
                save(out, &format!("failure-{i}-original.yaml"), &text);
                println!("FAILURE {cat}|{}", file.display());
                failures.insert(cat, file);
            }
        }
    }
    let _ = std::fs::remove_file(out.join("in-flight.idx"));
    println!(
        "COUNTS {} {} {} {}",
        counts[0], counts[1], counts[2], counts[3]
    );
}

/// Runs one document in a child process; true when the child died (crash).
fn crashes_in_child(doc_path: &std::path::Path, text: &str, out: &PathBuf) -> bool {
    let file = save(out, "probe.yaml", text);
    let status = std::process::Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--ignored",
            "--exact",
            "fuzz_long",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FUZZ_PROBE", &file)
        .env("FUZZ_PROBE_DOC_PATH", doc_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("spawning a probe process");
    // Killed by a signal (abort on stack overflow) has no exit code.
    status.code().is_none()
}

/// Shrinks a case that crashes the process, probing each candidate in a child.
fn shrink_crash(seeds: &[Seed], seed: u64, index: u64, out: &PathBuf) -> String {
    let strategy = case_strategy(seeds.len());
    let mut runner = runner_for(seed, index);
    let mut tree = strategy
        .new_tree(&mut runner)
        .expect("the case strategy generates");
    let (_, mut best) = render(seeds, &tree.current());
    let mut steps = 0;
    while steps < 200 && tree.simplify() {
        steps += 1;
        let (path, text) = render(seeds, &tree.current());
        if crashes_in_child(&path, &text, out) {
            best = text;
        } else if !tree.complicate() {
            break;
        }
    }
    best
}

#[test]
#[ignore = "long run: FUZZ_CASES=100000 cargo test -p asyncapi-fuzz --release -- --ignored fuzz_long --nocapture"]
fn fuzz_long() {
    quiet_case_panics();
    let seeds = seeds();
    let out = out_dir();
    // Probe mode: check one document (used to minimise crashes).
    if let Some(probe) = std::env::var_os("FUZZ_PROBE") {
        let text = std::fs::read_to_string(&probe).expect("probe file");
        let doc = std::env::var_os("FUZZ_PROBE_DOC_PATH")
            .map(PathBuf::from)
            .unwrap_or_default();
        let outcome = check(&doc, &text, DEADLINE);
        println!("PROBE {outcome:?}");
        return;
    }
    let seed = env_u64("FUZZ_SEED", 0x5eed);
    let cases = env_u64("FUZZ_CASES", 10_000);
    if let Ok(range) = std::env::var("FUZZ_WORKER_RANGE") {
        let (a, b) = range
            .split_once("..")
            .expect("FUZZ_WORKER_RANGE is start..end");
        worker(
            &seeds,
            seed,
            a.parse().expect("start"),
            b.parse().expect("end"),
            &out,
        );
        return;
    }
    // Supervisor: workers in child processes, restarted after the input that killed one.
    let started = Instant::now();
    let mut counts = [0u64; 5]; // ok, err, panic, timeout, crash
    let mut failures: Vec<String> = Vec::new();
    let mut crash_sigs: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut next = 0u64;
    let chunk = 10_000u64;
    while next < cases {
        let end = (next + chunk).min(cases);
        let _ = std::fs::remove_file(out.join("in-flight.idx"));
        let output = std::process::Command::new(std::env::current_exe().expect("test binary path"))
            .args([
                "--ignored",
                "--exact",
                "fuzz_long",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("FUZZ_WORKER_RANGE", format!("{next}..{end}"))
            .env("FUZZ_OUT", &out)
            .env("FUZZ_SEED", seed.to_string())
            .output()
            .expect("spawning a fuzz worker");
        let stdout = String::from_utf8_lossy(&output.stdout);
        for line in stdout.lines() {
            if let Some(rest) = line.split_once("COUNTS ").map(|(_, r)| r) {
                for (slot, n) in rest.split_whitespace().enumerate().take(4) {
                    counts[slot] += n.parse::<u64>().unwrap_or(0);
                }
            } else if let Some(rest) = line.split_once("FAILURE ").map(|(_, r)| r) {
                eprintln!("failure: {rest}");
                failures.push(rest.to_owned());
            }
        }
        if output.status.success() || output.status.code().is_some() && stdout.contains("COUNTS ") {
            next = end;
        } else {
            // The worker died: the in-flight index names the input.
            let idx: u64 = std::fs::read_to_string(out.join("in-flight.idx"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or_else(|| {
                    panic!(
                        "worker died without an in-flight index: {}",
                        String::from_utf8_lossy(&output.stderr)
                    )
                });
            // Cases of this chunk before `idx` finished, but their counts were lost with the
            // worker: rerun them (they do not crash), then skip the crasher.
            counts[4] += 1;
            let stderr = String::from_utf8_lossy(&output.stderr);
            let sig = stderr
                .lines()
                .find(|l| l.contains("overflowed its stack") || l.contains("fatal"))
                .unwrap_or("died")
                .replace(|c: char| c.is_ascii_digit(), "")
                .to_owned();
            eprintln!("CRASH at case {idx}: {sig}");
            let original = std::fs::read_to_string(out.join("in-flight.yaml")).unwrap_or_default();
            save(&out, &format!("crash-{idx}-original.yaml"), &original);
            if !crash_sigs.contains_key(&sig) && crash_sigs.len() < 5 {
                let small = shrink_crash(&seeds, seed, idx, &out);
                let file = save(&out, &format!("crash-{idx}.yaml"), &small);
                eprintln!("  minimised: {}", file.display());
                crash_sigs.insert(sig, file);
            }
            if idx > next {
                let rerun =
                    std::process::Command::new(std::env::current_exe().expect("test binary path"))
                        .args([
                            "--ignored",
                            "--exact",
                            "fuzz_long",
                            "--nocapture",
                            "--test-threads=1",
                        ])
                        .env("FUZZ_WORKER_RANGE", format!("{next}..{idx}"))
                        .env("FUZZ_OUT", &out)
                        .env("FUZZ_SEED", seed.to_string())
                        .output()
                        .expect("spawning a fuzz worker");
                for line in String::from_utf8_lossy(&rerun.stdout).lines() {
                    if let Some(rest) = line.split_once("COUNTS ").map(|(_, r)| r) {
                        for (slot, n) in rest.split_whitespace().enumerate().take(4) {
                            counts[slot] += n.parse::<u64>().unwrap_or(0);
                        }
                    } else if let Some(rest) = line.split_once("FAILURE ").map(|(_, r)| r) {
                        failures.push(rest.to_owned());
                    }
                }
            }
            next = idx + 1;
        }
        eprintln!(
            "{next}/{cases} cases, {:?}: ok {} err {} panic {} timeout {} crash {}",
            started.elapsed(),
            counts[0],
            counts[1],
            counts[2],
            counts[3],
            counts[4]
        );
    }
    let total: u64 = counts.iter().sum();
    println!(
        "fuzz_long: {total} inputs in {:?} (seed {seed}): ok {} err {} panic {} timeout {} crash {}",
        started.elapsed(),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4]
    );
    for f in &failures {
        println!("  failure: {f}");
    }
    for (sig, file) in &crash_sigs {
        println!("  crash ({sig}): {}", file.display());
    }
    assert_eq!(total, cases, "every case was counted");
    assert!(
        failures.is_empty() && counts[4] == 0,
        "fuzz_long found {} panics/timeouts and {} crashes (see above)",
        failures.len(),
        counts[4]
    );
}

/// Expands a regression document in a child process (a stack overflow aborts the
/// whole process) and asserts it ends in `Ok` or `Err`, neither a panic, a hang nor a
/// crash.
fn assert_regression(name: &str) {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(name);
    assert!(
        file.is_file(),
        "missing regression document {}",
        file.display()
    );
    let output = std::process::Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "--ignored",
            "--exact",
            "fuzz_long",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FUZZ_PROBE", &file)
        .env("FUZZ_PROBE_DOC_PATH", &file)
        .output()
        .expect("spawning a probe process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && (stdout.contains("PROBE Ok") || stdout.contains("PROBE Err")),
        "{name}: expand_str did not end in Ok/Err ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[test]
fn regression_self_referencing_array_items() {
    assert_regression("self-referencing-array-items.yaml");
}

#[test]
fn regression_self_referencing_array_items_2x() {
    assert_regression("self-referencing-array-items-2x.yaml");
}
