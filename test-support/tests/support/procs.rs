//! Consumer processes of the fault suites (`fault-consumer`, see
//! `asyncapi_test_support::fault`) and what the suites share: topics, producing ids,
//! waiting on processes, counting what their id logs say.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use asyncapi_runtime::{Outgoing, Producer};
use asyncapi_test_support::fault::{
    self, event, handled_counts, read_log, ConsumerProcess, FaultEvents, DLQ, TOPIC,
};
use asyncapi_test_support::Broker;

/// Partitions of the fault topic.
pub const PARTITIONS: i32 = 4;

pub fn topics(kafka: &dyn Broker) {
    kafka.create_topic(TOPIC, PARTITIONS).expect("create topic");
    kafka.create_topic(DLQ, PARTITIONS).expect("create dlq");
}

/// Produces ids `ids` with the runtime's producer, key = the id, all acknowledged.
pub async fn produce(kafka: &dyn Broker, ids: std::ops::Range<u64>) {
    let producer = Producer::new(&kafka.config()).expect("producer");
    let mut pending = Vec::new();
    for id in ids {
        let key = id.to_string();
        let ev = event(id);
        pending.push(
            producer
                .enqueue::<FaultEvents>(Outgoing::new(&ev).key(&key))
                .await
                .expect("enqueue"),
        );
    }
    for p in pending {
        p.await.expect("delivery");
    }
}

/// Settings of every consumer process: the shortest session timeout a Kafka broker
/// accepts by default (`group.min.session.timeout.ms` is 6 s), so a dead member is seen
/// soon, and a commit interval (50 ms) far shorter than the backlog of dispatched
/// records (up to 1,024 at 1 ms each), so an offset stored before its record was
/// handled would be committed before almost any kill point and show up as a loss.
pub fn process_props() -> Vec<(String, String)> {
    [
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "1000"),
        ("auto.commit.interval.ms", "50"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A consumer process, SIGKILLed on drop if still running.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn start(kafka: &dyn Broker, dir: &Path, name: &str, group: &str, delay_ms: u64) -> Proc {
        Proc::start_with(kafka, dir, name, group, delay_ms, &[])
    }

    /// [`Proc::start`] with librdkafka properties added to [`process_props`].
    pub fn start_with(
        kafka: &dyn Broker,
        dir: &Path,
        name: &str,
        group: &str,
        delay_ms: u64,
        extra: &[(&str, &str)],
    ) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let mut props = process_props();
        props.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let child = ConsumerProcess {
            bin: PathBuf::from(env!("CARGO_BIN_EXE_fault-consumer")),
            bootstrap: kafka.bootstrap_servers(),
            group: group.to_owned(),
            log: log.clone(),
            delay_ms,
            props,
        }
        .spawn()
        .expect("spawning fault-consumer");
        Proc { child, log }
    }

    pub fn lines(&self) -> Vec<fault::LogLine> {
        read_log(&self.log)
    }

    pub fn handled(&self) -> usize {
        self.lines().iter().filter(|l| l.end).count()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.with_extension("stderr")).unwrap_or_default()
    }

    /// Sends a signal and waits (bounded) for the exit; returns whether it exited 0.
    pub async fn signal_and_wait(&mut self, sig: &str, secs: u64) -> bool {
        fault::signal(&self.child, sig);
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit within {secs} s after SIG{sig}\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!(
                "consumer process exited early ({status}):\n{}",
                self.stderr()
            );
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every 20 ms while the processes run; fails with their stderr after `secs`.
pub async fn wait_procs(
    procs: &mut [&mut Proc],
    secs: u64,
    what: &str,
    mut cond: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        for p in procs.iter_mut() {
            p.assert_running();
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = procs.iter().map(|p| p.stderr()).collect();
            panic!(
                "timed out after {secs} s waiting for: {what}\n{}",
                logs.join("\n---\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fault-")
        .tempdir()
        .expect("temp dir")
}

/// Lost ids and the duplicate count over several logs.
pub fn tally(n: u64, logs: &[&[fault::LogLine]]) -> (Vec<u64>, usize, BTreeMap<u64, u32>) {
    let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
    for lines in logs {
        for (id, c) in handled_counts(lines) {
            *counts.entry(id).or_default() += c;
        }
    }
    let lost: Vec<u64> = (0..n).filter(|id| !counts.contains_key(id)).collect();
    let duplicates = counts
        .values()
        .map(|c| (*c as usize).saturating_sub(1))
        .sum();
    (lost, duplicates, counts)
}
