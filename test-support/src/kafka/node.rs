//! One Kafka node: its directory, configuration, JVM process and log.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::dist;
use super::properties::{self, NodeConfig, NodePorts};
use crate::process::{log_tail, send_signal};
use crate::{Error, Result};

/// How long a SIGTERMed node may take for its controlled shutdown before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A node of a test cluster. The process is started and stopped by [`super::Kafka`].
pub(crate) struct Node {
    pub id: usize,
    pub ports: NodePorts,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Writes the node's configuration into `dir` (created) and its log4j2 file.
    pub fn prepare(id: usize, dir: PathBuf, config: &NodeConfig<'_>) -> Result<Node> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let node = Node {
            id,
            ports: config.ports[id - 1],
            dir,
            child: None,
        };
        write(
            &node.properties_path(),
            &properties::server_properties(config),
        )?;
        write(&node.dir.join("log4j2.properties"), properties::LOG4J2)?;
        Ok(node)
    }

    pub fn properties_path(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    /// The file receiving the node's stdout and stderr (its whole log).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("kafka.log")
    }

    pub fn log_tail(&self, max_bytes: u64) -> String {
        log_tail(&self.log_path(), max_bytes)
    }

    /// `127.0.0.1:<internal port>`: plain text whatever the client listener is.
    pub fn internal_bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.ports.internal)
    }

    /// Runs `kafka-storage format` for this node (with a SCRAM user when given);
    /// returns the started process for the caller to wait on, so nodes format at once.
    pub fn spawn_format(
        &self,
        jars: &Path,
        cluster_id: &str,
        scram: Option<(&str, &str)>,
    ) -> Result<Child> {
        let mut command = self.java(jars, &["-Xmx256m", "-XX:TieredStopAtLevel=1"])?;
        command
            .arg("kafka.tools.StorageTool")
            .args(["format", "--ignore-formatted", "-t", cluster_id, "-c"])
            .arg(self.properties_path());
        if let Some((user, password)) = scram {
            command
                .arg("--add-scram")
                .arg(format!("SCRAM-SHA-512=[name={user},password={password}]"));
        }
        command
            .spawn()
            .map_err(|e| Error::io(format!("starting the storage tool of node {}", self.id), e))
    }

    /// Starts the broker process (it answers metadata some seconds later).
    pub fn spawn(&mut self, jars: &Path, jvm_options: &[String]) -> Result<()> {
        let jvm: Vec<&str> = jvm_options.iter().map(String::as_str).collect();
        let mut command = self.java(jars, &jvm)?;
        command.arg("kafka.Kafka").arg(self.properties_path());
        let child = command
            .spawn()
            .map_err(|e| Error::io(format!("starting Kafka node {}", self.id), e))?;
        tracing::info!(
            node = self.id,
            pid = child.id(),
            client_port = self.ports.client,
            "kafka node spawned"
        );
        self.child = Some(child);
        Ok(())
    }

    /// The exit status if the process has exited (`None` while it runs or when stopped).
    pub fn exited(&mut self) -> Option<String> {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => Some(status.to_string()),
            _ => None,
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.exited().is_none()
    }

    /// SIGKILL: the node vanishes without a controlled shutdown.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            child
                .wait()
                .map_err(|e| Error::io(format!("waiting for node {} to die", self.id), e))?;
        }
        Ok(())
    }

    /// SIGSTOP: the node freezes with its connections open, as a broker stalled by a
    /// long pause would; requests to it are neither answered nor refused.
    pub fn pause(&mut self) -> Result<()> {
        match &self.child {
            Some(child) => send_signal(child, "STOP"),
            None => Ok(()),
        }
    }

    /// SIGTERM: a controlled shutdown (leadership moved, logs closed cleanly); killed
    /// after [`STOP_TIMEOUT`]. A paused node is resumed to shut down.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        send_signal(&child, "TERM")?;
        send_signal(&child, "CONT")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    tracing::warn!(node = self.id, "controlled shutdown took too long; killing");
                    let _ = child.kill();
                    let _ = child.wait();
                    return Ok(());
                }
            }
        }
    }

    /// A `java` command with the broker's class path and logging, output appended to
    /// the node log.
    fn java(&self, jars: &Path, jvm_options: &[&str]) -> Result<Command> {
        let log = self.log_file()?;
        let log2 = log
            .try_clone()
            .map_err(|e| Error::io("cloning the log file handle", e))?;
        let mut command = Command::new(dist::java());
        command
            .current_dir(&self.dir)
            .args(jvm_options)
            .arg("-Djava.awt.headless=true")
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ))
            .arg(format!("-Dkafka.logs.dir={}", self.dir.display()))
            .arg("-cp")
            .arg(format!("{}/*", jars.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        Ok(command)
    }

    fn log_file(&self) -> Result<File> {
        let path = self.log_path();
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}
