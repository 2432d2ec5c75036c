//! Shared pieces of the fault suite (`tests/fault.rs`) and its consumer process
//! (`src/bin/fault-consumer.rs`): the channel, written the way `asyncapi!` generates
//! it, the id log format, a seeded RNG and the child-process handle.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use asyncapi_runtime::__private::codec;
use asyncapi_runtime::{Channel, DecodeError, EncodeError, Message, NoParameters, RawHeaders};
use serde::{Deserialize, Serialize};

/// The fault suite's topic.
pub const TOPIC: &str = "fault.events";
/// Its default dead-letter topic.
pub const DLQ: &str = "fault.events.dlq";

/// A message carrying the id the suite tracks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultEvent {
    pub id: u64,
    pub body: String,
}

impl Message for FaultEvent {
    const NAME: &'static str = "FaultEvent";
    const CONTENT_TYPE: &'static str = "application/json";
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        codec::encode_json(self)
    }
    fn decode(bytes: &[u8], _content_type: Option<&str>) -> Result<Self, DecodeError> {
        codec::decode_json(bytes, Self::NAME)
    }
}

pub const FAULT_SCHEMA: &str = r#"{
  "type": "object",
  "required": ["id", "body"],
  "properties": {
    "id": {"type": "integer", "minimum": 0},
    "body": {"type": "string"}
  }
}"#;

/// Channel `faultEvents` on topic `fault.events`.
pub struct FaultEvents;

impl Channel for FaultEvents {
    const ID: &'static str = "faultEvents";
    const ADDRESS: &'static str = "fault/events";
    const TOPIC: &'static str = TOPIC;
    const GROUP_ID: Option<&'static str> = Some("fault-service");
    const PAYLOAD_SCHEMA: Option<&'static str> = Some(FAULT_SCHEMA);
    type Message = FaultEvent;
    type Parameters = NoParameters;
    type Key = String;
    type Headers = RawHeaders;
}

pub fn event(id: u64) -> FaultEvent {
    FaultEvent {
        id,
        body: format!("event {id}"),
    }
}

/// One line of a consumer process's id log: `<tag> <id> <partition> <offset> <at>`,
/// tag `B` (handler began) or `E` (handler ended: the message is handled), `at` the
/// wall clock in microseconds (one clock for every process of the machine, so lines of
/// several processes can be put in one order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine {
    pub end: bool,
    pub id: u64,
    pub partition: i32,
    pub offset: i64,
    pub at_micros: u64,
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Appends one line per call with a single `write` on an `O_APPEND` file: once the
/// call returned the line is in the kernel and survives a SIGKILL of the process.
pub struct IdLog {
    file: std::fs::File,
}

impl IdLog {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(IdLog { file })
    }

    pub fn record(&self, line: LogLine) -> std::io::Result<()> {
        let tag = if line.end { 'E' } else { 'B' };
        let text = format!(
            "{tag} {} {} {} {}\n",
            line.id, line.partition, line.offset, line.at_micros
        );
        (&self.file).write_all(text.as_bytes())?;
        (&self.file).flush()
    }
}

/// Reads an id log (a torn last line, impossible with one `write` per line, is ignored).
pub fn read_log(path: &Path) -> Vec<LogLine> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split(' ');
            let end = match it.next()? {
                "B" => false,
                "E" => true,
                _ => return None,
            };
            Some(LogLine {
                end,
                id: it.next()?.parse().ok()?,
                partition: it.next()?.parse().ok()?,
                offset: it.next()?.parse().ok()?,
                at_micros: it.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Handled ids (`E` lines) of a log, with how often each was handled.
pub fn handled_counts(lines: &[LogLine]) -> BTreeMap<u64, u32> {
    let mut m = BTreeMap::new();
    for l in lines.iter().filter(|l| l.end) {
        *m.entry(l.id).or_default() += 1;
    }
    m
}

/// splitmix64: small, seeded, reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seed from `FAULT_SEED`, else from the clock; the caller prints it.
    pub fn from_env() -> (Self, u64) {
        let seed = std::env::var("FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        (Rng(seed), seed)
    }

    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
}

/// Options of one `fault-consumer` process.
#[derive(Debug, Clone)]
pub struct ConsumerProcess {
    pub bin: PathBuf,
    pub bootstrap: String,
    pub group: String,
    pub log: PathBuf,
    /// Handler sleep per message.
    pub delay_ms: u64,
    /// Extra librdkafka properties.
    pub props: Vec<(String, String)>,
}

impl ConsumerProcess {
    /// Starts the process; its stderr goes to `<log>.stderr`.
    pub fn spawn(&self) -> std::io::Result<Child> {
        let stderr = std::fs::File::create(self.log.with_extension("stderr"))?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg(&self.bootstrap)
            .arg(&self.group)
            .arg(&self.log)
            .arg(self.delay_ms.to_string());
        for (k, v) in &self.props {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .env(
                "RUST_LOG",
                std::env::var("FAULT_CHILD_LOG").unwrap_or_else(|_| "warn,librdkafka=error".into()),
            )
            .spawn()
    }
}

/// Sends `signal` (e.g. `"KILL"`, `"TERM"`) to a child process; panics if it cannot.
pub fn signal(child: &Child, signal: &str) {
    crate::process::send_signal(child, signal)
        .unwrap_or_else(|e| panic!("sending SIG{signal}: {e}"));
}
