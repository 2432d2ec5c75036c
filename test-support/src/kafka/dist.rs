//! The Apache Kafka jars: fetched once by Maven from `test-support/kafka/pom.xml` into a
//! cache directory, found there by every later start.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Error, Result};

/// The Apache Kafka release the harness runs (the version in `kafka/pom.xml`).
pub const KAFKA_VERSION: &str = "4.1.1";

/// Overrides the cache directory (default `$XDG_CACHE_HOME` or `~/.cache`, then
/// `asyncapi-kafka/`).
pub const ENV_CACHE_DIR: &str = "ASYNCAPI_KAFKA_CACHE";

const POM: &str = include_str!("../../kafka/pom.xml");

/// The directory holding the broker's jars, fetching them first if this machine has
/// not yet. Concurrent callers (tests run in parallel, in several processes) wait for
/// one fetch through a file lock.
pub fn jar_dir() -> Result<PathBuf> {
    let dir = cache_root()?.join(format!("kafka-{KAFKA_VERSION}-{:016x}", fnv1a(POM)));
    let lib = dir.join("lib");
    let done = dir.join("complete");
    if done.is_file() {
        return Ok(lib);
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let lock_path = dir.join("fetch.lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| Error::io(format!("creating {}", lock_path.display()), e))?;
    lock.lock()
        .map_err(|e| Error::io(format!("locking {}", lock_path.display()), e))?;
    if !done.is_file() {
        fetch(&dir, &lib)?;
        std::fs::write(&done, KAFKA_VERSION)
            .map_err(|e| Error::io(format!("writing {}", done.display()), e))?;
    }
    Ok(lib)
}

/// The `java` to run: `$JAVA_HOME/bin/java`, else `java` on `PATH`.
pub fn java() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if Path::new(&home).join("bin/java").is_file() => {
            Path::new(&home).join("bin/java")
        }
        _ => PathBuf::from("java"),
    }
}

fn cache_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV_CACHE_DIR) {
        return Ok(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .ok_or_else(|| Error::ToolMissing {
            tool: "a cache directory",
            hint: format!("set {ENV_CACHE_DIR}, XDG_CACHE_HOME or HOME"),
        })?;
    Ok(base.join("asyncapi-kafka"))
}

/// `mvn dependency:copy-dependencies` of the checked-in pom into `lib`.
fn fetch(dir: &Path, lib: &Path) -> Result<()> {
    let pom = dir.join("pom.xml");
    std::fs::write(&pom, POM).map_err(|e| Error::io(format!("writing {}", pom.display()), e))?;
    let _ = std::fs::remove_dir_all(lib);
    tracing::info!(version = KAFKA_VERSION, dir = %dir.display(), "fetching the Kafka jars with Maven");
    let output = Command::new("mvn")
        .args(["-q", "-B", "-f"])
        .arg(&pom)
        .arg("dependency:copy-dependencies")
        .arg(format!("-DoutputDirectory={}", lib.display()))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::ToolMissing {
                tool: "mvn",
                hint: "install Maven (`apt-get install maven`) and a Java 17+ runtime".into(),
            },
            _ => Error::io("running mvn", e),
        })?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let tail = text.len().saturating_sub(4000);
        return Err(Error::Maven {
            status: output.status.to_string(),
            output: text[text.floor_char_boundary(tail)..].to_owned(),
        });
    }
    Ok(())
}

/// FNV-1a, 64 bits: a stable fingerprint of the pom, so editing it fetches anew.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
