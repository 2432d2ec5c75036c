//! Throughput of the generated typed client and the runtime's `Consumer` loop against
//! hand-written rdkafka loops, on the embedded (mock) cluster or, with
//! `BENCH_BROKER=kafka`, on Apache Kafka.
//!
//! `cargo bench -p asyncapi-benches --bench throughput`

use asyncapi_benches::{
    backlog, bench_broker, bench_requested, consume_raw, consume_typed, env_u64, median,
    payload_size, produce_raw, produce_typed, Variant,
};
use asyncapi_test_support::{Broker, TestBroker};

/// Records per produce run (`BENCH_SMALL`, `BENCH_LARGE`).
fn produce_count(v: Variant) -> u64 {
    match v {
        Variant::Small1 | Variant::Small4 => env_u64("BENCH_SMALL", 100_000),
        _ => env_u64("BENCH_LARGE", 20_000),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if !bench_requested() {
        return Ok(());
    }
    if std::env::var_os("BENCH_TRACE").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let rounds = env_u64("BENCH_ROUNDS", 3) as usize;
    let kind = bench_broker();
    let broker = TestBroker::start(kind)?;
    let bs = broker.bootstrap_servers();
    for v in Variant::ALL {
        broker.create_topic(v.topic(), v.partitions())?;
    }
    broker.create_topic("bench.latency", 1)?;
    println!("{kind} broker at {bs}; {rounds} rounds per figure, medians");
    println!();
    // BENCH_ONLY=consume fills the topics with one raw producer run instead of comparing.
    let only_consume = std::env::var("BENCH_ONLY").as_deref() == Ok("consume");
    if only_consume {
        for v in Variant::selected() {
            produce_raw(&bs, v, produce_count(v)).await?;
        }
    }
    if !only_consume {
        println!("## produce (msg/s)");
        println!("| payload | raw FutureProducer | typed enqueue_<channel> | typed/raw |");
        println!("|---|---:|---:|---:|");
    }
    for v in Variant::selected().into_iter().filter(|_| !only_consume) {
        let n = produce_count(v);
        let (mut raw, mut typed) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate who goes first: the broker's state (log size, retention) drifts.
            if round % 2 == 0 {
                raw.push(produce_raw(&bs, v, n).await?);
                typed.push(produce_typed(&bs, v, n).await?);
            } else {
                typed.push(produce_typed(&bs, v, n).await?);
                raw.push(produce_raw(&bs, v, n).await?);
            }
        }
        let (r, t) = (median(raw), median(typed));
        println!(
            "| {} ({} B), {n} msgs | {r:.0} | {t:.0} | {:.3} |",
            v.label(),
            payload_size(v),
            t / r
        );
    }
    if std::env::var_os("BENCH_SKIP_CONSUME").is_some() {
        return Ok(());
    }
    println!();
    println!("## consume (msg/s, first to last record of the retained backlog)");
    println!("| payload | raw StreamConsumer | typed, validation on | typed, validation off | on/raw | off/raw |");
    println!("|---|---:|---:|---:|---:|---:|");
    for v in Variant::selected() {
        let n = backlog(&bs, v.topic(), v.partitions())?;
        let (mut raw, mut on, mut off) = (Vec::new(), Vec::new(), Vec::new());
        let rounds = if n < 10_000 { rounds.max(5) } else { rounds };
        // Diagnostic: `BENCH_CONSUME_SIDES=raw` (or `on`, `off`, `raw,on`) runs only those.
        let sides = std::env::var("BENCH_CONSUME_SIDES").unwrap_or_default();
        let runs = |side: &str| sides.is_empty() || sides.split(',').any(|s| s == side);
        for round in 0..rounds {
            // Rotate who goes first, as for produce.
            for turn in 0..3 {
                match (round + turn) % 3 {
                    0 if runs("raw") => raw.push(consume_raw(&bs, v, n).await?),
                    1 if runs("on") => on.push(consume_typed(&bs, v, n, true).await?),
                    2 if runs("off") => off.push(consume_typed(&bs, v, n, false).await?),
                    _ => {}
                }
            }
        }
        if std::env::var_os("BENCH_EACH").is_some() {
            eprintln!("{}: raw {raw:.0?} on {on:.0?} off {off:.0?}", v.label());
        }
        let (r, a, b) = (median(raw), median(on), median(off));
        println!(
            "| {}, backlog {n} msgs | {r:.0} | {a:.0} | {b:.0} | {:.3} | {:.3} |",
            v.label(),
            a / r,
            b / r
        );
    }
    Ok(())
}
