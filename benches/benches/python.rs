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

/// The three loops a round measures.
#[derive(Clone, Copy)]
enum Side {
    Python,
    Typed,
    Raw,
}

/// The order of round `round`: the rounds rotate which side goes first, so over three
/// rounds each side runs once on a broker that a previous round has left idle. (Three
/// orders cannot also give every side each of the others as predecessor.)
fn round_order(round: usize) -> [Side; 3] {
    use Side::{Python, Raw, Typed};
    [
        [Python, Typed, Raw],
        [Typed, Raw, Python],
        [Raw, Python, Typed],
    ][round % 3]
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
            for side in round_order(round) {
                match side {
                    Side::Python => py.push(python(&[
                        "produce",
                        &bs,
                        v.topic(),
                        &n.to_string(),
                        &v.note_len().to_string(),
                    ])?),
                    Side::Typed => ty.push(produce_typed(&bs, v, n).await?),
                    Side::Raw => raw.push(produce_raw(&bs, v, n).await?),
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
            for side in round_order(round) {
                match side {
                    Side::Python => py.push(python(&[
                        "consume",
                        &bs,
                        v.topic(),
                        &n.to_string(),
                        &fresh_group("python"),
                    ])?),
                    Side::Typed => ty.push(consume_typed(&bs, v, n, true).await?),
                    Side::Raw => raw.push(consume_raw(&bs, v, n).await?),
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
