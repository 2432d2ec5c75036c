//! Peak RSS of a process draining a backlog through the runtime's `Consumer` loop, at
//! 100k and 1M records. The consumer runs in a child process (this binary again), so
//! the embedded broker's memory is not counted.
//!
//! `cargo bench -p asyncapi-benches --bench memory`

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use asyncapi_benches::{
    api, backlog, bench_broker, bench_requested, consumer_config, counting_handler, fresh_group,
    partition_tasks, peak_rss_kib, typed_event, Progress,
};
use asyncapi_runtime::{CancellationToken, Channel, KafkaConfig, ListenerOptions, Outgoing};
use asyncapi_test_support::{Broker, TestBroker};

const PARTITIONS: i32 = 48;

async fn child(bootstrap: &str, n: u64) -> anyhow::Result<()> {
    let before = peak_rss_kib();
    let app = api::Application::new(consumer_config(KafkaConfig::new(bootstrap)))?;
    let progress = Arc::new(Progress::default());
    let handler = counting_handler(progress.clone(), n);
    let consumer = app
        .consumer()
        .group_id(fresh_group("memory"))
        .partition_tasks(partition_tasks())
        .route::<api::channels::Memory, _>(handler, ListenerOptions::default());
    let token = CancellationToken::new();
    let task = tokio::spawn(consumer.run(token.clone()));
    let waited = progress.wait(Duration::from_secs(1200)).await;
    token.cancel();
    task.await??;
    waited?;
    println!("CHILD {before} {} {:.0}", peak_rss_kib(), progress.rate(n)?);
    Ok(())
}

async fn produce(client: &api::Client, from: i64, to: i64) -> anyhow::Result<()> {
    let mut pending = std::collections::VecDeque::new();
    for seq in from..to {
        let e = typed_event(seq, 0);
        pending.push_back(client.enqueue_memory(Outgoing::new(&e)).await?);
        if pending.len() >= 10_000 {
            if let Some(f) = pending.pop_front() {
                f.await?;
            }
        }
    }
    for f in pending {
        f.await?;
    }
    Ok(())
}

fn run_child(bootstrap: &str, n: u64) -> anyhow::Result<(u64, u64, f64)> {
    let out = Command::new(std::env::current_exe()?)
        .args(["--child", bootstrap, &n.to_string()])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("CHILD "))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "child failed: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let f: Vec<&str> = line.split_whitespace().collect();
    Ok((f[1].parse()?, f[2].parse()?, f[3].parse()?))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        return child(&args[2], args[3].parse()?).await;
    }
    if !bench_requested() {
        return Ok(());
    }
    let kind = bench_broker();
    let broker = TestBroker::start(kind)?;
    let bs = broker.bootstrap_servers();
    let topic = api::channels::Memory::TOPIC;
    broker.create_topic(topic, PARTITIONS)?;
    let client = api::Client::new(broker.config())?;
    // `BENCH_MEMORY_POINTS=100000,1000000,2000000` adds points (backlogs only grow).
    let points: Vec<i64> = std::env::var("BENCH_MEMORY_POINTS")
        .unwrap_or_else(|_| "100000,1000000".to_owned())
        .split(',')
        .map(|p| p.trim().parse())
        .collect::<Result<_, _>>()?;
    println!("consumer peak RSS (VmHWM of a child process), {kind} broker, {PARTITIONS} partitions, ~80 B payloads, validation on");
    println!("| backlog | RSS after start-up | peak RSS | drain rate |");
    println!("|---:|---:|---:|---:|");
    let mut produced = 0;
    let mut peaks = Vec::new();
    for target in points {
        produce(&client, produced, target).await?;
        produced = target;
        let n = backlog(&bs, topic, PARTITIONS)?;
        if n != target as u64 {
            println!("(the broker retained {n} of {target} records)");
        }
        let (before, peak, rate) = run_child(&bs, n)?;
        println!(
            "| {n} | {:.1} MiB | {:.1} MiB | {rate:.0} msg/s |",
            before as f64 / 1024.0,
            peak as f64 / 1024.0
        );
        peaks.push(peak as f64);
    }
    println!();
    if let (Some(first), Some(last)) = (peaks.first(), peaks.last()) {
        println!(
            "peak RSS ratio, largest / smallest backlog: {:.2}",
            last / first
        );
    }
    Ok(())
}
