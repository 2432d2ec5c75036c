//! A consumer process for the fault suite: the runtime's `Consumer` loop on channel
//! `faultEvents`, stopped by SIGTERM/Ctrl-C (`run_until_signal`) or killed.
//!
//! Usage: `fault-consumer BOOTSTRAP GROUP LOG DELAY_MS [key=value ...]`.
//! For each message the handler appends `B id partition offset at` to LOG, sleeps
//! DELAY_MS, then appends `E id partition offset at` (one `write` each, so a line is in
//! the kernel before the handler returns and survives SIGKILL).

use std::sync::Arc;
use std::time::Duration;

use asyncapi_runtime::{Consumer, KafkaConfig, ListenerOptions, MessageContext, RetryPolicy};
use asyncapi_test_support::fault::{now_micros, FaultEvent, FaultEvents, IdLog, LogLine};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: fault-consumer BOOTSTRAP GROUP LOG DELAY_MS [key=value ...]");
        std::process::exit(2);
    }
    let (bootstrap, group, log, delay_ms) = (&args[1], &args[2], &args[3], &args[4]);
    let delay = Duration::from_millis(delay_ms.parse().expect("DELAY_MS"));
    let mut config = KafkaConfig::new(bootstrap.clone());
    for kv in &args[5..] {
        let (k, v) = kv.split_once('=').expect("key=value");
        config = config.set(k, v);
    }
    let log = Arc::new(IdLog::open(log.as_ref()).expect("opening the id log"));
    let consumer = Consumer::new(config)
        .group_id(group.clone())
        .retry(
            RetryPolicy::default()
                .max_attempts(3)
                .initial_backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(50)),
        )
        .with_state(log)
        .route::<FaultEvents, _>(
            move |msg: FaultEvent, ctx: MessageContext| async move {
                let log = ctx.state::<Arc<IdLog>>().expect("state");
                let line = |end| LogLine {
                    end,
                    id: msg.id,
                    partition: ctx.partition,
                    offset: ctx.offset,
                    at_micros: now_micros(),
                };
                log.record(line(false)).map_err(|e| e.to_string())?;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                log.record(line(true)).map_err(|e| e.to_string())
            },
            ListenerOptions::default(),
        );
    eprintln!("fault-consumer {} started", std::process::id());
    match consumer.run_until_signal().await {
        Ok(()) => eprintln!("fault-consumer stopped cleanly"),
        Err(e) => {
            eprintln!("fault-consumer failed: {e}");
            std::process::exit(1);
        }
    }
}
