//! Writes the large synthetic AsyncAPI 3.0 document (200 channels, 1,000 schemas).
//!
//! `cargo run -p asyncapi-benches --bin gen_spec -- OUT.yaml [CHANNELS] [SCHEMAS]`

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).map(String::as_str).unwrap_or("synthetic.yaml");
    let channels = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let schemas = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    std::fs::write(out, asyncapi_benches::synthetic::yaml(channels, schemas))?;
    println!("wrote {out}: {channels} channels, {schemas} schemas");
    Ok(())
}
