//! Compile-time benchmarks. Run in a debug build (what a proc macro runs as):
//!
//! `cargo run -p asyncapi-benches --bin codegen_time [-- --no-check]`
//!
//! 1. `asyncapi_codegen::expand_file` on the synthetic document (200 channels, 1,000
//!    schemas) and on the seed `tests/fixtures/specs/account-service.yaml`.
//! 2. `cargo check` of a crate using `asyncapi!` on the synthetic document against the
//!    same crate with the expanded code pasted in; both crates are written to a temp
//!    dir outside the workspace with path dependencies on this repo's runtime, the
//!    workspace's `Cargo.lock`, and `CARGO_TARGET_DIR` (so dependencies are shared and
//!    already built). Each check follows a `touch` of `src/lib.rs`; medians of
//!    `BENCH_ROUNDS` (default 3) after one warm-up.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use asyncapi_codegen::{expand_file, Settings};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time_expand(path: &Path, rounds: usize) -> anyhow::Result<(Duration, usize)> {
    let mut times = Vec::new();
    let mut lines = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let e = expand_file(path, &Settings::default()).map_err(|d| anyhow::anyhow!("{d}"))?;
        times.push(t.elapsed());
        lines = e.tokens.to_string().len();
    }
    Ok((median(times), lines))
}

fn write_crate(dir: &Path, name: &str, lib: &str, repo: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [dependencies]\nasyncapi-runtime = {{ path = \"{}\" }}\n\n[workspace]\n",
            repo.join("asyncapi-runtime").display()
        ),
    )?;
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    std::fs::write(dir.join("src/lib.rs"), lib)?;
    Ok(())
}

fn check(dir: &Path) -> anyhow::Result<Duration> {
    // Touch: rewrite the file so its mtime changes and only this crate is rechecked.
    let lib = dir.join("src/lib.rs");
    let text = std::fs::read(&lib)?;
    std::fs::write(&lib, text)?;
    let t = Instant::now();
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("check")
        .arg("-q")
        .current_dir(dir)
        .output()?;
    let took = t.elapsed();
    if !out.status.success() {
        anyhow::bail!(
            "cargo check failed in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

fn main() -> anyhow::Result<()> {
    // `BENCH_STACK_MB`: run on a thread with this stack (default 8 MiB, like a main
    // thread; rustc runs proc macros on a thread of its own, 8 MiB unless RUST_MIN_STACK).
    let mb: usize = std::env::var("BENCH_STACK_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    std::thread::Builder::new()
        .stack_size(mb << 20)
        .spawn(run)?
        .join()
        .map_err(|_| anyhow::anyhow!("benchmark thread panicked"))?
}

fn run() -> anyhow::Result<()> {
    let repo: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| anyhow::anyhow!("no repo root"))?
        .to_owned();
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let tmp = tempfile::Builder::new()
        .prefix("asyncapi-compile-bench")
        .tempdir()?;
    let big = tmp.path().join("synthetic.yaml");
    std::fs::write(&big, asyncapi_benches::synthetic::yaml(200, 1000))?;
    let seed = repo.join("tests/fixtures/specs/account-service.yaml");

    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("## expand_file ({profile} build, median of 5)");
    println!("| document | time | generated tokens (chars) |");
    println!("|---|---:|---:|");
    for (label, path) in [
        ("synthetic: 200 channels, 1,000 schemas", &big),
        ("seed account-service.yaml", &seed),
    ] {
        let (t, chars) = time_expand(path, 5)?;
        println!("| {label} | {:.1} ms | {chars} |", t.as_secs_f64() * 1e3);
    }
    println!();
    println!("## expand_file on a `$ref` DAG (schema i refers to i+1 and i+2), median of 3");
    println!("| schemas | time | generated tokens (chars) |");
    println!("|---:|---:|---:|");
    for k in [8, 12, 16, 20] {
        let path = tmp.path().join(format!("fan-out-{k}.yaml"));
        std::fs::write(&path, asyncapi_benches::synthetic::fan_out_yaml(k))?;
        let (t, chars) = time_expand(&path, 3)?;
        println!("| {k} | {:.1} ms | {chars} |", t.as_secs_f64() * 1e3);
    }
    if std::env::args().any(|a| a == "--no-check") {
        return Ok(());
    }

    let expansion = expand_file(&big, &Settings::default()).map_err(|d| anyhow::anyhow!("{d}"))?;
    let macro_dir = tmp.path().join("with-macro");
    let expanded_dir = tmp.path().join("expanded");
    write_crate(
        &macro_dir,
        "bench_with_macro",
        "asyncapi_runtime::asyncapi!(\"synthetic.yaml\");\n",
        &repo,
    )?;
    std::fs::copy(&big, macro_dir.join("synthetic.yaml"))?;
    write_crate(&expanded_dir, "bench_expanded", &expansion.pretty(), &repo)?;
    // Warm-up (builds or reuses the dependencies), then alternate.
    check(&macro_dir)?;
    check(&expanded_dir)?;
    let (mut with_macro, mut expanded) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate who goes first (caches and load drift between the two checks).
        if round % 2 == 0 {
            with_macro.push(check(&macro_dir)?);
            expanded.push(check(&expanded_dir)?);
        } else {
            expanded.push(check(&expanded_dir)?);
            with_macro.push(check(&macro_dir)?);
        }
    }
    let (m, e) = (median(with_macro), median(expanded));
    println!();
    println!("## cargo check of one crate on the synthetic document (median of {rounds}, after a warm-up)");
    println!("| crate | cargo check |");
    println!("|---|---:|");
    println!(
        "| `asyncapi!(\"synthetic.yaml\")` | {:.2} s |",
        m.as_secs_f64()
    );
    println!("| expanded code pasted in | {:.2} s |", e.as_secs_f64());
    println!();
    println!(
        "macro/expanded ratio: {:.2}",
        m.as_secs_f64() / e.as_secs_f64()
    );
    Ok(())
}
