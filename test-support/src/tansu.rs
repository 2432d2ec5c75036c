//! A `tansu` broker process for tests.
//!
//! Install: `cargo install tansu --version 0.6.0 --locked --features dynostore`.
//! The binary is looked up in `TANSU_BIN`, then `PATH`, then `~/.cargo/bin/tansu`.
//!
//! Storage: tansu 0.6.0 built with `dynostore` offers `memory://` and `s3://` engines
//! (`sqlite://` and `postgres://` need other cargo features). The default here is
//! `memory://tansu/`, so **a restart loses every topic and record**; set
//! `TANSU_STORAGE_ENGINE` (e.g. an `s3://` URL with the usual AWS_* variables) for a
//! persistent engine, and check [`Tansu::storage_is_persistent`].

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{Error, Result};

/// How long `start`/`restart` wait for the broker to answer metadata.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Options of a tansu broker.
#[derive(Debug, Clone)]
pub struct TansuOptions {
    /// `--storage-engine` URL; default: `TANSU_STORAGE_ENGINE` or `memory://tansu/`.
    pub storage_engine: String,
    /// `RUST_LOG` of the broker process; default: `TANSU_LOG` or `warn` (at `info`
    /// tansu logs every request: a million-record benchmark wrote a 65 GB log).
    pub log_filter: String,
}

impl Default for TansuOptions {
    fn default() -> Self {
        TansuOptions {
            storage_engine: std::env::var("TANSU_STORAGE_ENGINE")
                .unwrap_or_else(|_| "memory://tansu/".to_owned()),
            log_filter: std::env::var("TANSU_LOG").unwrap_or_else(|_| "warn".to_owned()),
        }
    }
}

/// A running (or stopped) tansu broker on a fixed loopback port. Killed on drop.
pub struct Tansu {
    bin: PathBuf,
    port: u16,
    options: TansuOptions,
    dir: TempDir,
    log_path: PathBuf,
    child: Option<Child>,
}

impl Tansu {
    /// Finds the tansu binary: `TANSU_BIN`, else `PATH`, else `~/.cargo/bin/tansu`.
    pub fn find_binary() -> Result<PathBuf> {
        let mut searched = Vec::new();
        if let Some(bin) = std::env::var_os("TANSU_BIN") {
            let bin = PathBuf::from(bin);
            if bin.is_file() {
                return Ok(bin);
            }
            searched.push(format!("TANSU_BIN={}", bin.display()));
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let candidate = dir.join("tansu");
                if candidate.is_file() {
                    return Ok(candidate);
                }
            }
            searched.push("PATH".to_owned());
        }
        if let Some(home) = std::env::var_os("HOME") {
            let candidate = Path::new(&home).join(".cargo/bin/tansu");
            if candidate.is_file() {
                return Ok(candidate);
            }
            searched.push(candidate.display().to_string());
        }
        Err(Error::TansuNotFound {
            searched: searched.join(", "),
        })
    }

    /// Starts a broker with default options and waits until it answers metadata.
    pub fn start() -> Result<Self> {
        Self::start_with(TansuOptions::default())
    }

    /// Starts a broker and waits until it answers metadata (at most [`READY_TIMEOUT`]).
    pub fn start_with(options: TansuOptions) -> Result<Self> {
        let bin = Self::find_binary()?;
        let port = free_port()?;
        let dir = tempfile::Builder::new()
            .prefix("tansu-")
            .tempdir()
            .map_err(|e| Error::io("creating the broker's temp dir", e))?;
        let log_path = dir.path().join("tansu.log");
        let mut broker = Tansu {
            bin,
            port,
            options,
            dir,
            log_path,
            child: None,
        };
        broker.spawn()?;
        Ok(broker)
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The file receiving the broker's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Whether topics and records survive [`Tansu::restart`].
    pub fn storage_is_persistent(&self) -> bool {
        !self.options.storage_engine.starts_with("memory:")
    }

    pub fn storage_engine(&self) -> &str {
        &self.options.storage_engine
    }

    /// Whether the broker process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The last `max_bytes` of the broker log.
    pub fn log_tail(&self, max_bytes: u64) -> String {
        log_tail(&self.log_path, max_bytes)
    }

    /// Creates a topic with `tansu topic create` and waits until metadata shows it.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        let err = |detail: String| Error::CreateTopic {
            topic: name.to_owned(),
            partitions,
            detail,
        };
        let url = format!("tcp://{}", self.bootstrap_servers());
        let mut child = self
            .command()?
            .args(["topic", "create", name, "--broker", &url, "--partitions"])
            .arg(partitions.to_string())
            .spawn()
            .map_err(|e| {
                err(format!(
                    "spawning `{} topic create`: {e}",
                    self.bin.display()
                ))
            })?;
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(err(format!(
                        "`tansu topic create` did not finish within 15 s\n--- log tail ---\n{}",
                        self.log_tail(4096)
                    )));
                }
                Err(e) => return Err(err(format!("waiting for `tansu topic create`: {e}"))),
            }
        };
        if !status.success() {
            return Err(err(format!(
                "`tansu topic create` exited with {status}\n--- log tail ---\n{}",
                self.log_tail(4096)
            )));
        }
        crate::wait_for_topic(
            &self.bootstrap_servers(),
            name,
            partitions,
            Duration::from_secs(15),
        )
        .map_err(|e| err(format!("{e}\n--- log tail ---\n{}", self.log_tail(4096))))?;
        tracing::info!(topic = name, partitions, "tansu topic created");
        Ok(())
    }

    /// Kills the broker process (SIGKILL: an abrupt outage) and waits for it to exit.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            tracing::info!(port = self.port, "stopping tansu");
            let _ = child.kill();
            child
                .wait()
                .map_err(|e| Error::io("waiting for tansu to exit", e))?;
        }
        Ok(())
    }

    /// Starts the broker again on the same port (stopping it first if running).
    /// With `memory://` storage the restarted broker is empty.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.spawn()
    }

    fn log_file(&self) -> Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| Error::io(format!("opening {}", self.log_path.display()), e))
    }

    /// A `tansu` command run in the broker's directory (where its `.env` would be),
    /// with output appended to the broker log.
    fn command(&self) -> Result<Command> {
        let log = self.log_file()?;
        let log2 = log
            .try_clone()
            .map_err(|e| Error::io("cloning the log file handle", e))?;
        let mut command = Command::new(&self.bin);
        command
            .current_dir(self.dir.path())
            .env("RUST_LOG", &self.options.log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        Ok(command)
    }

    fn spawn(&mut self) -> Result<()> {
        let url = format!("tcp://{}", self.bootstrap_servers());
        let mut child = self
            .command()?
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", &self.options.storage_engine])
            .spawn()
            .map_err(|e| Error::io(format!("spawning {}", self.bin.display()), e))?;
        tracing::info!(port = self.port, pid = child.id(), "tansu spawned");
        let started = Instant::now();
        let mut last_error;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::Exited {
                    bootstrap: self.bootstrap_servers(),
                    status: status.to_string(),
                    log_tail: self.log_tail(4096),
                });
            }
            match crate::fetch_metadata(&self.bootstrap_servers(), None, Duration::from_millis(500))
            {
                Ok(md) if !md.brokers().is_empty() => break,
                Ok(_) => last_error = "metadata lists no broker".to_owned(),
                Err(e) => last_error = e.to_string(),
            }
            if started.elapsed() >= READY_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::NotReady {
                    bootstrap: self.bootstrap_servers(),
                    waited_ms: started.elapsed().as_millis(),
                    last_error,
                    log_tail: self.log_tail(4096),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        tracing::info!(port = self.port, waited = ?started.elapsed(), "tansu ready");
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("binding a free loopback port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound port", e))?
        .port();
    Ok(port)
}

fn log_tail(path: &Path, max_bytes: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max_bytes)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}
