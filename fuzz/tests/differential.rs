//! Differential test: the official AsyncAPI parser (`@asyncapi/parser`, pinned in
//! `fuzz/differential/package-lock.json`) and `asyncapi_codegen::check_file` must agree
//! on which documents are valid: the corpus, then `DIFFERENTIAL_CASES` (default 2,000)
//! documents mutated from it with the fuzzer's structural mutations (`DIFFERENTIAL_SEED`,
//! 0 to 255, picks another deterministic set). The only accepted
//! disagreement is a document the parser rejects and this crate accepts with a warning
//! naming one of its documented leniencies, or a `$ref` cycle, which this crate rejects
//! by design. Every disagreement is printed, and the documents are kept when there is one.
//!
//! Needs Node.js and npm: the parser is installed (`npm ci`) on first use; without
//! them the test fails and says so.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use asyncapi_fuzz::{case_strategy, corpus_dir, load_corpus, render, Case, Seed};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;

/// What `check_file` says of a `$ref` cycle with no object in between, which it rejects
/// by design (such a reference means nothing; the parser accepts it, or hangs on it).
const STRICTER_REF_CYCLE: &str = "leads back to itself with no object in between";

/// How long the parser may take over one document before it counts as hung (it loops
/// forever on some `$ref` cycles).
const PARSER_DEADLINE: Duration = Duration::from_secs(20);

fn parser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("differential")
}

/// Installs the pinned parser unless it is there.
fn install_parser() {
    let dir = parser_dir();
    if dir
        .join("node_modules/@asyncapi/parser/package.json")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .expect("the differential test needs npm (Node.js 18+) to install @asyncapi/parser");
    assert!(status.success(), "`npm ci` in {} failed", dir.display());
}

/// The official parser's verdict on one document.
#[derive(Debug, Clone)]
struct Verdict {
    valid: bool,
    /// `code at path: message` of each error.
    errors: Vec<String>,
}

/// One running parser process, fed paths one at a time.
struct Parser {
    child: Child,
    input: ChildStdin,
    lines: Receiver<String>,
}

impl Parser {
    fn start() -> Parser {
        let mut child = Command::new("node")
            .arg("verdicts.mjs")
            .current_dir(parser_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the differential test needs Node.js (`node`) to run the official parser");
        let input = child.stdin.take().expect("piped stdin");
        let output = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Parser {
            child,
            input,
            lines,
        }
    }

    /// The verdict on `file`, or `None` when the parser hung on it (it is restarted).
    fn verdict(&mut self, file: &Path) -> Option<Verdict> {
        writeln!(self.input, "{}", file.display()).expect("the parser reads its input");
        match self.lines.recv_timeout(PARSER_DEADLINE) {
            Ok(line) => Some(parse_verdict(&line)),
            Err(_) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                *self = Parser::start();
                None
            }
        }
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_verdict(line: &str) -> Verdict {
    let json: Value = serde_json::from_str(line).expect("the parser script prints JSON lines");
    let errors = json["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{} at /{}: {}",
                e["code"].as_str().unwrap_or(""),
                e["path"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    Verdict {
        valid: json["valid"].as_bool().unwrap_or(false),
        errors,
    }
}

/// This crate's verdict: `Ok(leniencies used)` or `Err(errors)`.
fn our_verdict(file: &Path) -> Result<Vec<String>, Vec<String>> {
    match asyncapi_codegen::check_file(file) {
        Ok(warnings) => Ok(warnings
            .iter()
            .filter_map(|w| {
                let (_, rest) = w.message.split_once("(accepted: leniency `")?;
                Some(rest.split('`').next()?.to_owned())
            })
            .collect()),
        Err(errors) => Err(errors.0.iter().map(ToString::to_string).collect()),
    }
}

/// The corpus documents (not the fragments under `common/`, which are no documents)
/// and the mutated cases, written next to their seeds in a copy of the corpus so
/// relative `$ref`s still resolve.
fn documents(seeds: &[Seed], work: &Path, cases: usize) -> Vec<PathBuf> {
    let corpus = corpus_dir();
    copy_dir(&corpus, work);
    let mut files: Vec<PathBuf> = seeds
        .iter()
        .filter(|s| !s.path.components().any(|c| c.as_os_str() == "common"))
        .map(|s| work.join(s.path.strip_prefix(&corpus).expect("seed under the corpus")))
        .collect();
    let mutable: Vec<Seed> = seeds
        .iter()
        .filter(|s| s.value.is_some() && !s.path.components().any(|c| c.as_os_str() == "common"))
        .cloned()
        .collect();
    let seed: u8 = std::env::var("DIFFERENTIAL_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(7);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    );
    let strategy = case_strategy(mutable.len());
    for i in 0..cases {
        let mut case: Case = strategy.new_tree(&mut runner).expect("a case").current();
        // Byte-level mutations mostly make YAML that neither side parses: they test
        // the parsers, not the checks this test compares. One or two structural
        // mutations keep most documents close to valid, where the checks differ.
        case.raw.clear();
        case.mutations.truncate(1 + i % 2);
        let (seed_path, text) = render(&mutable, &case);
        // The fuzzer's reference to `/etc/passwd` tests that a build reads it safely;
        // what two parsers make of a machine's password file is not a document check.
        if text.contains("etc/passwd") {
            continue;
        }
        let relative = seed_path
            .strip_prefix(&corpus)
            .expect("seed under the corpus");
        let extension = if case.as_json { "json" } else { "yaml" };
        let file = work
            .join(relative)
            .with_file_name(format!("case-{i:05}.{extension}"));
        std::fs::write(&file, text).expect("write a case");
        files.push(file);
    }
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the work directory");
    for entry in std::fs::read_dir(from).expect("read the corpus") {
        let path = entry.expect("a corpus entry").path();
        let target = to.join(path.file_name().expect("a file name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy a corpus file");
        }
    }
}

#[test]
fn official_parser_and_check_file_agree() {
    install_parser();
    let cases: usize = std::env::var("DIFFERENTIAL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let seeds = load_corpus(&corpus_dir()).expect("the corpus is readable");
    let work = tempfile::tempdir().expect("a temporary directory");
    let files = documents(&seeds, work.path(), cases);

    let mut parser = Parser::start();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut disagreements = Vec::new();
    for file in &files {
        let shown = file
            .strip_prefix(work.path())
            .unwrap_or(file)
            .display()
            .to_string();
        let outcome = match parser.verdict(file) {
            None => {
                println!("{shown}: the official parser hung; not compared");
                "not compared: the parser hung".to_owned()
            }
            // The parser throws on some invalid documents (an `asyncapi` version that is
            // not semver, ...): a rejection, unless check_file accepts the document.
            Some(theirs)
                if theirs
                    .errors
                    .iter()
                    .any(|e| e.starts_with("uncaught-error")) =>
            {
                match our_verdict(file) {
                    Err(_) => "both reject (the parser by throwing)".to_owned(),
                    Ok(_) => {
                        println!(
                            "{shown}: the official parser throws on a document check_file accepts; not compared:\n    {}",
                            theirs.errors.first().map(|e| e.chars().take(200).collect::<String>()).unwrap_or_default()
                        );
                        "not compared: the parser throws".to_owned()
                    }
                }
            }
            Some(_) if refers_to_the_whole_document(file) => {
                println!("{shown}: a `$ref: '#'`; not compared");
                "not compared: a `$ref` to the whole document".to_owned()
            }
            Some(theirs) => compare(&shown, &theirs, our_verdict(file), &mut disagreements),
        };
        *tally.entry(outcome).or_default() += 1;
    }
    println!("{} documents:", files.len());
    for (outcome, count) in &tally {
        println!("  {count:>6}  {outcome}");
    }
    if disagreements.is_empty() {
        return;
    }
    let kept = work.keep();
    panic!(
        "{} disagreement(s) with the official parser (the documents are kept in {}):\n{}",
        disagreements.len(),
        kept.display(),
        disagreements.join("\n")
    );
}

/// The outcome of one document, recording a disagreement.
fn compare(
    shown: &str,
    theirs: &Verdict,
    ours: Result<Vec<String>, Vec<String>>,
    disagreements: &mut Vec<String>,
) -> String {
    match (ours, theirs.valid) {
        (Ok(_), true) => "both accept".to_owned(),
        (Err(_), false) => "both reject".to_owned(),
        (Ok(leniencies), false) if !leniencies.is_empty() => {
            format!("accepted by leniency `{}`", leniencies.join("`, `"))
        }
        (Err(errors), true) if errors.iter().all(|e| e.contains(STRICTER_REF_CYCLE)) => {
            "rejected by design: a `$ref` cycle".to_owned()
        }
        (Err(errors), true) if errors.iter().all(|e| is_dropped_by_parser(e)) => {
            println!("{shown}: a field named `#...`, `{{...`, ..., whose error the parser drops; not compared");
            "not compared: the parser drops errors on fields named `#...`, `{...`, ...".to_owned()
        }
        (Err(errors), true) if errors.iter().any(|e| is_ref_into_ref(e)) => {
            println!("{shown}: a `$ref` into another `$ref`; not compared");
            "not compared: a `$ref` into another `$ref`".to_owned()
        }
        (Ok(_), false) => {
            disagreements.push(format!(
                "{shown}: the official parser rejects, check_file accepts; the parser says:\n    {}",
                theirs.errors.join("\n    ")
            ));
            "DISAGREE: only the parser rejects".to_owned()
        }
        (Err(errors), true) => {
            disagreements.push(format!(
                "{shown}: check_file rejects, the official parser accepts; check_file says:\n    {}",
                errors.join("\n    ")
            ));
            "DISAGREE: only check_file rejects".to_owned()
        }
    }
}

/// An unknown field whose name starts with anything but an ASCII letter or digit, `$`,
/// `-` or `_` (`#`, `{`, `.`, a blank, `é`, ...): the official parser finds it
/// (as it finds any unknown field) but drops the error when it maps its path back into
/// the document.
fn is_dropped_by_parser(error: &str) -> bool {
    error
        .split_once(": `")
        .and_then(|(_, rest)| rest.split_once("` is not a field of"))
        .and_then(|(field, _)| field.chars().next())
        .is_some_and(|first| !(first.is_ascii_alphanumeric() || matches!(first, '$' | '-' | '_')))
}

/// A `$ref` whose pointer goes through another `$ref` (`#/a/channel/$ref`): the official
/// parser resolves it or not depending on the order it resolves the document in; this
/// crate refuses it (a `$ref` stands for what it points at, it is no node).
fn is_ref_into_ref(error: &str) -> bool {
    error
        .split_once("does not resolve")
        .is_some_and(|(before, _)| before.contains("/$ref` "))
}

/// Whether the document has a `$ref: '#'`: the official parser copies the whole document
/// into that place and judges the copy, this crate leaves the (circular) reference as
/// written; neither is a check worth comparing.
fn refers_to_the_whole_document(file: &Path) -> bool {
    fn has(value: &Value) -> bool {
        match value {
            Value::Object(map) => {
                map.get("$ref").and_then(Value::as_str) == Some("#") || map.values().any(has)
            }
            Value::Array(items) => items.iter().any(has),
            _ => false,
        }
    }
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| serde_yaml::from_str::<Value>(&text).ok())
        .is_some_and(|doc| has(&doc))
}
