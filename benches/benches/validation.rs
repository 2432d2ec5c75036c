//! What payload validation costs per record, without a broker: decoding alone (what a
//! channel whose type carries its schema pays), the consumer's validating path (parse
//! into a `Value` once, `is_valid`, decode from the value), and the path it replaced
//! (parse, collect errors, parse again to decode).
//!
//! `cargo bench -p asyncapi-benches --bench validation` (`BENCH_ITERATIONS`)

use std::time::Instant;

use asyncapi_benches::{api, bench_requested, env_u64, typed_event, RawEvent, Variant};
use asyncapi_runtime::__private::serde_json::{self, Value};
use asyncapi_runtime::{Channel, Message};

fn per_record(iterations: u64, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed().as_nanos() as f64 / iterations as f64
}

fn main() -> anyhow::Result<()> {
    if !bench_requested() {
        return Ok(());
    }
    let iterations = env_u64("BENCH_ITERATIONS", 300_000);
    let schema: Value = serde_json::from_str(
        api::channels::Small1::PAYLOAD_SCHEMA.ok_or_else(|| anyhow::anyhow!("no schema"))?,
    )?;
    let validator = jsonschema::validator_for(&schema)?;
    println!("ns per record, mean of {iterations} iterations on one core");
    println!("| payload | raw serde decode | typed decode (type carries the schema) | parse once + is_valid + decode_value | parse + iter_errors + parse again |");
    println!("|---|---:|---:|---:|---:|");
    for variant in [Variant::Small1, Variant::Large1] {
        let bytes = serde_json::to_vec(&typed_event(1, variant.note_len()))?;
        let raw = per_record(iterations, || {
            let e: RawEvent = serde_json::from_slice(&bytes).expect("valid");
            std::hint::black_box(e);
        });
        let typed = per_record(iterations, || {
            let e = api::Event::decode(&bytes, None).expect("valid");
            std::hint::black_box(e);
        });
        let once = per_record(iterations, || {
            let v: Value = serde_json::from_slice(&bytes).expect("json");
            assert!(validator.is_valid(&v));
            let e = api::Event::decode_value(v, None).expect("valid");
            std::hint::black_box(e);
        });
        let twice = per_record(iterations, || {
            let v: Value = serde_json::from_slice(&bytes).expect("json");
            let problems: Vec<String> = validator
                .iter_errors(&v)
                .take(5)
                .map(|e| e.to_string())
                .collect();
            assert!(problems.is_empty());
            let e = api::Event::decode(&bytes, None).expect("valid");
            std::hint::black_box(e);
        });
        println!(
            "| {} B | {raw:.0} | {typed:.0} | {once:.0} | {twice:.0} |",
            bytes.len()
        );
    }
    Ok(())
}
