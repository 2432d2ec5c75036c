//! The same produce/consume workload as `throughput`, written by hand in Python with
//! confluent_kafka (`benches/python/loop.py`), against the same embedded broker: this
//! process hosts the mock cluster (or starts Apache Kafka with `BENCH_BROKER=kafka`) and runs
//! the script as a child process.
//!
//! `pip install confluent-kafka && cargo bench -p asyncapi-benches --bench python`
//! (`BENCH_PYTHON` names the interpreter, default `python3`)

use std::process::Command;

use asyncapi_benches::{
    backlog, bench_broker, bench_requested, consume_raw, consume_typed, fresh_group, median,
    produce_raw, produce_typed, Variant,
};
use asyncapi_test_support::{Broker, TestBroker};

fn python(args: &[&str]) -> anyhow::Result<f64> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/loop.py");
    let interpreter = std::env::var("BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(interpreter).arg(script).args(args).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line).map_err(|_| {
        anyhow::anyhow!(
            "loop.py failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    v["rate"]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("no rate in {line}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if !bench_requested() {
        return Ok(());
    }
    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize);
    let kind = bench_broker();
    let broker = TestBroker::start(kind)?;
    let bs = broker.bootstrap_servers();
    for v in Variant::ALL {
        broker.create_topic(v.topic(), v.partitions())?;
    }
    broker.create_topic("bench.latency", 1)?;
    println!("{kind} broker at {bs}; {rounds} rounds, medians; msg/s");
    println!();
    println!("| workload | Python confluent_kafka | Rust typed | Rust raw | typed/Python |");
    println!("|---|---:|---:|---:|---:|");
    for v in Variant::selected() {
        let n: u64 = match v {
            Variant::Small1 | Variant::Small4 => 50_000,
            _ => 10_000,
        };
        let (mut py, mut ty, mut raw) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            // Each round starts with another of the three, so none always follows the
            // same one (the Python process's exit, the broker's catching up).
            for turn in 0..3 {
                match (round + turn) % 3 {
                    0 => py.push(python(&[
                        "produce",
                        &bs,
                        v.topic(),
                        &n.to_string(),
                        &v.note_len().to_string(),
                    ])?),
                    1 => ty.push(produce_typed(&bs, v, n).await?),
                    _ => raw.push(produce_raw(&bs, v, n).await?),
                }
            }
        }
        let (p, t, r) = (median(py), median(ty), median(raw));
        println!(
            "| produce {}, {n} msgs | {p:.0} | {t:.0} | {r:.0} | {:.2} |",
            v.label(),
            t / p
        );
    }
    for v in Variant::selected() {
        let n = backlog(&bs, v.topic(), v.partitions())?;
        let (mut py, mut ty, mut raw) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            for turn in 0..3 {
                match (round + turn) % 3 {
                    0 => py.push(python(&[
                        "consume",
                        &bs,
                        v.topic(),
                        &n.to_string(),
                        &fresh_group("python"),
                    ])?),
                    1 => ty.push(consume_typed(&bs, v, n, true).await?),
                    _ => raw.push(consume_raw(&bs, v, n).await?),
                }
            }
        }
        let (p, t, r) = (median(py), median(ty), median(raw));
        println!(
            "| consume {}, backlog {n} msgs (typed: validation on) | {p:.0} | {t:.0} | {r:.0} | {:.2} |",
            v.label(),
            t / p
        );
    }
    Ok(())
}
