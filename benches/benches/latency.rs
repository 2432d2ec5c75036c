//! End-to-end latency, produce (generated client) to handler (runtime `Consumer`), at
//! a fixed rate on the embedded (mock) cluster, or on Apache Kafka with `BENCH_BROKER=kafka`.
//!
//! `cargo bench -p asyncapi-benches --bench latency` (`BENCH_RATE`, `BENCH_SECONDS`)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncapi_benches::{
    api, bench_broker, bench_requested, consumer_config, consumer_props, env_u64, now_micros,
    quantile, raw_consumer_config, typed_event, RawEvent, Samples,
};
use asyncapi_runtime::{CancellationToken, Channel, ListenerOptions, MessageContext, Outgoing};
use asyncapi_test_support::{Broker, TestBroker};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if !bench_requested() {
        return Ok(());
    }
    let rate = env_u64("BENCH_RATE", 1000);
    let seconds = env_u64("BENCH_SECONDS", 10);
    let kind = bench_broker();
    let broker = TestBroker::start(kind)?;
    broker.create_topic(api::channels::Latency::TOPIC, 1)?;
    let config = broker.config();

    let samples: Samples = Arc::new(Mutex::new(Vec::new()));
    let warmed = Arc::new(AtomicBool::new(false));
    let (s, w) = (samples.clone(), warmed.clone());
    let handler = move |m: api::Event, _ctx: MessageContext| {
        let latency = now_micros() - m.sent_at_micros;
        if m.seq >= 0 {
            s.lock().unwrap_or_else(|p| p.into_inner()).push(latency);
        } else {
            w.store(true, Ordering::Release);
        }
        async {}
    };
    let token = CancellationToken::new();
    // `BENCH_LATENCY_CONSUMER=raw`: a hand-written StreamConsumer loop instead, to tell
    // the broker's share of the latency from the runtime's.
    let raw = std::env::var("BENCH_LATENCY_CONSUMER").as_deref() == Ok("raw");
    let task = if raw {
        tokio::spawn(raw_loop(
            broker.bootstrap_servers(),
            token.clone(),
            samples.clone(),
            warmed.clone(),
        ))
    } else {
        let app = api::Application::new(consumer_config(config.clone()))?;
        let consumer = app
            .consumer()
            .group_id("latency")
            .route::<api::channels::Latency, _>(handler, ListenerOptions::default());
        let run = consumer.run(token.clone());
        tokio::spawn(async move { Ok(run.await?) })
    };

    let client = api::Client::new(config)?;
    // Warm-up: send until the consumer has joined and handled one (seq < 0: not counted).
    let mut warm = 0;
    while !warmed.load(Ordering::Acquire) {
        warm += 1;
        if warm > 300 {
            anyhow::bail!("consumer never started");
        }
        client.send_latency(&typed_event(-warm, 20)).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let n = rate * seconds;
    let mut interval = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut deliveries = Vec::with_capacity(n as usize);
    for seq in 0..n as i64 {
        interval.tick().await;
        let event = typed_event(seq, 20);
        deliveries.push(client.enqueue_latency(Outgoing::new(&event)).await?);
    }
    for d in deliveries {
        d.await?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while samples.lock().unwrap_or_else(|p| p.into_inner()).len() < n as usize {
        if tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    token.cancel();
    task.await??;
    let mut v = samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
    v.sort_unstable();
    println!(
        "latency produce -> {}, {rate} msg/s for {seconds} s, {} of {n} records received ({kind} broker, default linger.ms=5, validation on)",
        if raw { "raw StreamConsumer loop" } else { "runtime handler" },
        v.len()
    );
    println!("| p50 | p99 | p99.9 | max |");
    println!("|---:|---:|---:|---:|");
    let ms = |us: i64| us as f64 / 1000.0;
    println!(
        "| {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        ms(quantile(&v, 0.5)),
        ms(quantile(&v, 0.99)),
        ms(quantile(&v, 0.999)),
        ms(v.last().copied().unwrap_or(0))
    );
    Ok(())
}

/// The hand-written consumer: `StreamConsumer`, serde decode, offset stored after decode.
async fn raw_loop(
    bootstrap: String,
    token: CancellationToken,
    samples: Samples,
    warmed: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut config = raw_consumer_config(&bootstrap, "latency-raw");
    for (k, v) in consumer_props() {
        config.set(k, v);
    }
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[api::channels::Latency::TOPIC])?;
    loop {
        let msg = tokio::select! {
            _ = token.cancelled() => return Ok(()),
            msg = consumer.recv() => msg?,
        };
        let event: RawEvent = serde_json::from_slice(msg.payload().unwrap_or_default())?;
        if event.seq >= 0 {
            let latency = now_micros() - event.sent_at_micros;
            samples
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(latency);
        } else {
            warmed.store(true, Ordering::Release);
        }
        consumer.store_offset(msg.topic(), msg.partition(), msg.offset())?;
    }
}
