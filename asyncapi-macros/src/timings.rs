//! `ASYNCAPI_TIMINGS`: opt-in report of how long `asyncapi!` took inside rustc. A
//! standalone run of `expand_file` differs: there tokens are proc-macro2's own, here
//! they go through the compiler's proc-macro API, with rustc's allocator.
//!
//! `ASYNCAPI_TIMINGS=1` prints one line per expansion to stderr (cargo passes it on,
//! e.g. `ASYNCAPI_TIMINGS=1 cargo check`); any other value is a file the line is
//! appended to. The variable is read at expansion time and not tracked by cargo: touch a
//! source file to re-run the macro.

use std::io::Write as _;
use std::time::{Duration, Instant};

/// Phases of one expansion, in order.
pub struct Timings {
    document: String,
    started: Instant,
    last: Instant,
    phases: Vec<(&'static str, Duration)>,
}

impl Timings {
    /// `None` unless `ASYNCAPI_TIMINGS` is set: nothing is timed then.
    pub fn start() -> Option<Timings> {
        std::env::var_os("ASYNCAPI_TIMINGS")?;
        let now = Instant::now();
        Some(Timings {
            document: String::new(),
            started: now,
            last: now,
            phases: Vec::new(),
        })
    }

    pub fn document(&mut self, path: &str) {
        self.document = path.to_owned();
    }

    /// Ends a phase that started when the previous one ended.
    pub fn phase(&mut self, name: &'static str) {
        let now = Instant::now();
        self.phases.push((name, now - self.last));
        self.last = now;
    }

    /// Writes the report; failures to write are ignored (it is a diagnostic aid).
    pub fn finish(self) {
        let Some(target) = std::env::var_os("ASYNCAPI_TIMINGS") else {
            return;
        };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mut line = format!("asyncapi!(\"{}\"):", self.document);
        for (name, d) in &self.phases {
            line.push_str(&format!(" {name} {:.1} ms,", ms(*d)));
        }
        line.push_str(&format!(" total {:.1} ms", ms(self.started.elapsed())));
        if target == "1" {
            eprintln!("{line}");
        } else if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&target)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
