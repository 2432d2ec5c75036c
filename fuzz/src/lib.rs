//! Fuzzing support for `asyncapi_codegen::expand_str`: seed corpus, structural and raw
//! mutations driven by proptest, and a checker that runs one input under a deadline.
//!
//! The property: every input ends in `Ok` or `Err` within the deadline, and an `Err`
//! never is the "internal error" that `expand_str` reports when it caught a panic.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Map, Value};

/// One seed document of the corpus.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Where it was read from (relative `$ref`s resolve against this).
    pub path: PathBuf,
    /// Its original text.
    pub text: String,
    /// Its content as JSON, when it parsed as YAML.
    pub value: Option<Value>,
}

/// The corpus directory of the workspace.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/corpus")
}

/// Reads every `.yml`/`.yaml` file under `dir`, sorted by path.
pub fn load_corpus(dir: &Path) -> std::io::Result<Vec<Seed>> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut seeds = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)?;
        let value = serde_yaml::from_str::<Value>(&text).ok();
        seeds.push(Seed { path, text, value });
    }
    Ok(seeds)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// One structural mutation; the numbers pick targets and values deterministically.
#[derive(Debug, Clone)]
pub enum Mutation {
    Delete(u64),
    ReplaceScalar(u64, u64),
    ReplaceContainer(u64, u64),
    Duplicate(u64, u64),
    InjectRef(u64, u64),
    SwapType(u64),
    Version(u64),
    RenameKey(u64, u64),
}

/// One raw text mutation, applied after serialising the mutated document.
#[derive(Debug, Clone)]
pub enum RawMutation {
    FlipByte(u64, u8),
    Truncate(u64),
    Insert(u64, u64),
    DeleteRange(u64, u64),
}

/// A fuzz case: a seed, structural mutations, a serialisation, raw mutations.
#[derive(Debug, Clone)]
pub struct Case {
    pub seed: usize,
    pub mutations: Vec<Mutation>,
    pub as_json: bool,
    pub raw: Vec<RawMutation>,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => any::<u64>().prop_map(Mutation::Delete),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Mutation::ReplaceScalar(a, b)),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Mutation::ReplaceContainer(a, b)),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Mutation::Duplicate(a, b)),
        3 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Mutation::InjectRef(a, b)),
        1 => any::<u64>().prop_map(Mutation::SwapType),
        1 => any::<u64>().prop_map(Mutation::Version),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Mutation::RenameKey(a, b)),
    ]
}

fn raw_mutation() -> impl Strategy<Value = RawMutation> {
    prop_oneof![
        (any::<u64>(), any::<u8>()).prop_map(|(a, b)| RawMutation::FlipByte(a, b)),
        any::<u64>().prop_map(RawMutation::Truncate),
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| RawMutation::Insert(a, b)),
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| RawMutation::DeleteRange(a, b)),
    ]
}

/// The case strategy over a corpus of `seeds` documents. Most cases are structural only
/// (they get deep into resolution and generation); about one in four also gets raw
/// text mutations (they exercise the loader).
pub fn case_strategy(seeds: usize) -> impl Strategy<Value = Case> {
    (
        0..seeds.max(1),
        prop::collection::vec(mutation(), 1..8),
        any::<bool>(),
        prop_oneof![
            3 => Just(Vec::new()),
            1 => prop::collection::vec(raw_mutation(), 1..4),
        ],
    )
        .prop_map(|(seed, mutations, as_json, raw)| Case {
            seed,
            mutations,
            as_json,
            raw,
        })
}

/// JSON pointers of every node of `value` (the root is `""`).
pub fn pointers(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(value, String::new(), &mut out);
    out
}

fn walk(value: &Value, here: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                walk(v, format!("{here}/{}", escape(k)), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn pick(list: &[String], n: u64) -> &str {
    if list.is_empty() {
        ""
    } else {
        &list[(n % list.len() as u64) as usize]
    }
}

const STRINGS: &[&str] = &[
    "",
    "x",
    "#",
    "#/",
    "{id}",
    "{",
    "}",
    "user.{id}.created",
    "type",
    "object",
    "string",
    "integer",
    "array",
    "$ref",
    "é∂ƒ©˙∆˚¬…æ",
    "\u{0}",
    "a b-c.d_e",
    "123abc",
    "self",
    "Self",
    "fn",
    "r#type",
    "kafka",
    "date-time",
    "uuid",
];

/// A scalar picked by `n`.
pub fn scalar(n: u64) -> Value {
    match n % 12 {
        0 => Value::Null,
        1 => Value::Bool(n & 16 != 0),
        2 => Value::from(0),
        3 => Value::from(-1),
        4 => Value::from(i64::MAX),
        5 => Value::from(u64::MAX),
        6 => serde_json::Number::from_f64(1.5e300)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        7 => Value::from(-0.5),
        8 => Value::String("x".repeat((n % 5000) as usize)),
        _ => Value::String(STRINGS[((n >> 4) % STRINGS.len() as u64) as usize].to_owned()),
    }
}

/// A small container (array or object, possibly nested) picked by `n`.
pub fn container(n: u64) -> Value {
    let depth = n % 3;
    let mut v = scalar(n >> 8);
    for level in 0..=depth {
        let k = (n >> (16 + level * 4)) & 3;
        v = match k {
            0 => Value::Array(vec![v.clone(), v]),
            1 => Value::Array(Vec::new()),
            2 => Value::Object(Map::new()),
            _ => {
                let mut m = Map::new();
                let key = STRINGS[((n >> (20 + level * 4)) % STRINGS.len() as u64) as usize];
                m.insert(key.to_owned(), v);
                Value::Object(m)
            }
        };
    }
    v
}

fn set(doc: &mut Value, pointer: &str, new: Value) {
    if pointer.is_empty() {
        *doc = new;
    } else if let Some(slot) = doc.pointer_mut(pointer) {
        *slot = new;
    }
}

fn parent_and_last(pointer: &str) -> Option<(&str, String)> {
    let idx = pointer.rfind('/')?;
    let last = pointer[idx + 1..].replace("~1", "/").replace("~0", "~");
    Some((&pointer[..idx], last))
}

/// Applies one structural mutation to `doc`.
pub fn apply(doc: &mut Value, m: &Mutation) {
    let ptrs = pointers(doc);
    match *m {
        Mutation::Delete(a) => {
            let p = pick(&ptrs, a).to_owned();
            if let Some((parent, last)) = parent_and_last(&p) {
                match doc.pointer_mut(parent) {
                    Some(Value::Object(map)) => {
                        map.shift_remove(&last);
                    }
                    Some(Value::Array(items)) => {
                        if let Ok(i) = last.parse::<usize>() {
                            if i < items.len() {
                                items.remove(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Mutation::ReplaceScalar(a, b) => set(doc, pick(&ptrs, a), scalar(b)),
        Mutation::ReplaceContainer(a, b) => set(doc, pick(&ptrs, a), container(b)),
        Mutation::Duplicate(a, b) => {
            let from = pick(&ptrs, a);
            let to = pick(&ptrs, b).to_owned();
            if let Some(v) = doc.pointer(from).cloned() {
                set(doc, &to, v);
            }
        }
        Mutation::InjectRef(a, b) => {
            let at = pick(&ptrs, a).to_owned();
            let target = match b % 12 {
                // A pointer to somewhere else in the document.
                0..=3 => format!("#{}", pick(&ptrs, b >> 4)),
                // Itself: a direct cycle.
                4 => format!("#{at}"),
                // An ancestor: a cycle through the parent chain.
                5 => {
                    let cut = at.rfind('/').unwrap_or(0);
                    format!("#{}", &at[..cut])
                }
                6 => "#/components/schemas/DoesNotExist".to_owned(),
                7 => "https://example.invalid/remote.yaml#/components/schemas/X".to_owned(),
                8 => "missing-file.yaml#/components/schemas/X".to_owned(),
                9 => "#/%zz/~2/~".to_owned(),
                10 => "../../../../../../etc/passwd".to_owned(),
                _ => STRINGS[((b >> 4) % STRINGS.len() as u64) as usize].to_owned(),
            };
            let mut m = Map::new();
            m.insert("$ref".to_owned(), Value::String(target));
            set(doc, &at, Value::Object(m));
        }
        Mutation::SwapType(a) => {
            let at = pick(&ptrs, a).to_owned();
            if let Some(v) = doc.pointer(&at).cloned() {
                let swapped = match v {
                    Value::Object(map) => Value::Array(map.into_iter().map(|(_, v)| v).collect()),
                    Value::Array(items) => Value::Object(
                        items
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| (i.to_string(), v))
                            .collect(),
                    ),
                    Value::String(s) => s
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::Array(vec![Value::String(s)])),
                    Value::Number(n) => Value::String(n.to_string()),
                    Value::Bool(b) => Value::String(b.to_string()),
                    Value::Null => Value::Object(Map::new()),
                };
                set(doc, &at, swapped);
            }
        }
        Mutation::Version(a) => {
            const VERSIONS: &[&str] = &[
                "2.0.0", "2.6.0", "3.0.0", "3.1.0", "1.2.0", "4.0.0", "", "abc", "3", "2.6",
            ];
            let v = match a % 12 {
                10 => Value::from(3),
                11 => Value::Null,
                i => Value::String(VERSIONS[i as usize].to_owned()),
            };
            if let Value::Object(map) = doc {
                map.insert("asyncapi".to_owned(), v);
            }
        }
        Mutation::RenameKey(a, b) => {
            let p = pick(&ptrs, a).to_owned();
            if let Some((parent, last)) = parent_and_last(&p) {
                if let Some(Value::Object(map)) = doc.pointer_mut(parent) {
                    if let Some(v) = map.shift_remove(&last) {
                        let key = STRINGS[(b % STRINGS.len() as u64) as usize].to_owned();
                        map.insert(key, v);
                    }
                }
            }
        }
    }
}

/// Applies one raw mutation to the text bytes.
pub fn apply_raw(bytes: &mut Vec<u8>, m: &RawMutation) {
    let len = bytes.len() as u64;
    match *m {
        RawMutation::FlipByte(a, x) => {
            if len > 0 {
                bytes[(a % len) as usize] ^= x.max(1);
            }
        }
        RawMutation::Truncate(a) => bytes.truncate((a % (len + 1)) as usize),
        RawMutation::Insert(a, b) => {
            const SNIPPETS: &[&str] = &[
                ":",
                "- ",
                "\n",
                "  ",
                "{",
                "[",
                "'",
                "\"",
                "&a ",
                "*a",
                "!!binary ",
                "? ",
                "|",
                "$ref: '#'\n",
                "\t",
                "<<: *a\n",
                "%YAML 1.1\n",
                "---\n",
                "...\n",
            ];
            let s = SNIPPETS[(b % SNIPPETS.len() as u64) as usize];
            let at = (a % (len + 1)) as usize;
            bytes.splice(at..at, s.bytes());
        }
        RawMutation::DeleteRange(a, b) => {
            if len > 0 {
                let start = (a % len) as usize;
                let end = (start + (b % 64) as usize).min(bytes.len());
                bytes.drain(start..end);
            }
        }
    }
}

/// Builds the text of a case.
pub fn render(seeds: &[Seed], case: &Case) -> (PathBuf, String) {
    let seed = &seeds[case.seed % seeds.len()];
    let text = match &seed.value {
        Some(v) => {
            let mut doc = v.clone();
            for m in &case.mutations {
                apply(&mut doc, m);
            }
            if case.as_json {
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            } else {
                serde_yaml::to_string(&doc).unwrap_or_default()
            }
        }
        None => seed.text.clone(),
    };
    let mut bytes = text.into_bytes();
    for m in &case.raw {
        apply_raw(&mut bytes, m);
    }
    (
        seed.path.clone(),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// How one input ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Expanded.
    Ok,
    /// Rejected with diagnostics (the normal way to refuse a bad document).
    Err,
    /// `expand_str` caught a panic ("internal error"): a bug.
    Panic(String),
    /// Did not finish within the deadline: a hang.
    Timeout,
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Panic(_) | Outcome::Timeout)
    }
}

/// Stack size of the thread running one case: the macro runs inside rustc, whose
/// threads have at least 8 MiB.
pub const STACK: usize = 8 * 1024 * 1024;

/// Runs `expand_str` on one input in its own thread, waiting at most `deadline`.
/// A timed-out thread is left running (it cannot be killed); the caller fails.
pub fn check(path: &Path, text: &str, deadline: Duration) -> Outcome {
    let (tx, rx) = mpsc::channel();
    let path = path.to_owned();
    let text = text.to_owned();
    let spawned = thread::Builder::new()
        .name("fuzz-case".into())
        .stack_size(STACK)
        .spawn(move || {
            let settings = asyncapi_codegen::Settings::default();
            let outcome = match asyncapi_codegen::expand_str(&path, &text, &settings) {
                Ok(_) => Outcome::Ok,
                Err(diags) => {
                    let rendered = format!("{diags:?}");
                    if rendered.contains("internal error") {
                        Outcome::Panic(rendered)
                    } else {
                        Outcome::Err
                    }
                }
            };
            let _ = tx.send(outcome);
        });
    if let Err(e) = spawned {
        return Outcome::Panic(format!("could not spawn the case thread: {e}"));
    }
    let start = Instant::now();
    match rx.recv_timeout(deadline) {
        Ok(outcome) => outcome,
        Err(mpsc::RecvTimeoutError::Timeout) => Outcome::Timeout,
        Err(mpsc::RecvTimeoutError::Disconnected) => Outcome::Panic(format!(
            "case thread died without an outcome after {:?}",
            start.elapsed()
        )),
    }
}
