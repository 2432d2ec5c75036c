//! Small helpers for broker processes: free ports, log tails, signals.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::Path;
use std::process::Child;

use crate::{Error, Result};

/// A loopback port that was free a moment ago (the OS picks it; the listener is
/// closed again, so the broker can bind it).
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("binding a free loopback port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound port", e))?
        .port();
    Ok(port)
}

/// The last `max_bytes` of a log file (lossy UTF-8), or a note that there is none.
pub(crate) fn log_tail(path: &Path, max_bytes: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max_bytes)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Sends `signal` (`"TERM"`, `"KILL"`, ...) to a child process with `kill(1)`.
pub(crate) fn send_signal(child: &Child, signal: &str) -> Result<()> {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .map_err(|e| Error::io("running kill", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::io(
            format!("kill -{signal} {}", child.id()),
            std::io::Error::other(status.to_string()),
        ))
    }
}
