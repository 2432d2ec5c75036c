//! Stage 1: read a YAML or JSON file into a JSON value, and remember where each node
//! starts so errors can name a line and column.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::diagnostics::{Diagnostic, Location};

/// A parsed file: its value, and its text to find where each node starts.
#[derive(Debug)]
pub struct LoadedFile {
    pub path: PathBuf,
    pub value: Value,
    text: String,
    /// JSON pointer to (line, column), worked out on the first diagnostic: positions
    /// take a second parse, which most expansions never need.
    positions: OnceLock<HashMap<String, (usize, usize)>>,
}

impl LoadedFile {
    /// Line and column (1-based) of the node at `pointer`, or of its nearest ancestor.
    pub fn line_col(&self, pointer: &str) -> Option<(usize, usize)> {
        let positions = self.positions.get_or_init(|| {
            let mut recorder = PositionRecorder::default();
            // Positions are a convenience: a document serde accepted but the marker
            // parser does not (rare YAML corners) only loses line numbers.
            let _ = Parser::new_from_str(&self.text).load(&mut recorder, false);
            recorder.positions
        });
        let mut p = pointer;
        loop {
            if let Some(pos) = positions.get(p) {
                return Some(*pos);
            }
            p = &p[..p.rfind('/')?];
        }
    }

    pub fn location(&self, pointer: &str) -> Location {
        Location {
            file: self.path.clone(),
            pointer: pointer.to_owned(),
            line_col: self.line_col(pointer),
        }
    }
}

/// Reads and parses `path`. JSON is a subset of YAML, so one parser serves both; the
/// extension only picks which parser's error message the user sees first.
pub fn load_file(path: &Path) -> Result<LoadedFile, Diagnostic> {
    let here = Location {
        file: path.to_owned(),
        pointer: String::new(),
        line_col: None,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostic::new(here.clone(), format!("cannot read the document: {e}")).help(
            "the path is relative to the directory of the crate's Cargo.toml (CARGO_MANIFEST_DIR); check the file name",
        )
    })?;
    parse_owned(path, text)
}

/// Parses document text (YAML or JSON) that came from `path`.
pub fn parse_text(path: &Path, text: &str) -> Result<LoadedFile, Diagnostic> {
    parse_owned(path, text.to_owned())
}

fn parse_owned(path: &Path, text: String) -> Result<LoadedFile, Diagnostic> {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let value: Value = if is_json {
        serde_json::from_str(&text).map_err(|e| {
            let at = Location {
                file: path.to_owned(),
                pointer: String::new(),
                line_col: Some((e.line(), e.column())),
            };
            Diagnostic::new(at, format!("not valid JSON: {e}"))
                .help("fix the JSON syntax at the line and column shown")
        })?
    } else {
        serde_yaml::from_str(&text).map_err(|e| {
            let line_col = e.location().map(|l| (l.line(), l.column()));
            let at = Location { file: path.to_owned(), pointer: String::new(), line_col };
            Diagnostic::new(at, format!("not valid YAML: {e}"))
                .help("fix the YAML syntax at the line and column shown (AsyncAPI documents are YAML or JSON)")
        })?
    };
    Ok(LoadedFile {
        path: path.to_owned(),
        value,
        text,
        positions: OnceLock::new(),
    })
}

/// Escapes one JSON pointer segment (RFC 6901).
pub fn escape_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    push_escaped(&mut out, segment);
    out
}

/// The JSON pointer of `segment` under `base`.
pub fn pointer_under(base: &str, segment: &str) -> String {
    let mut pointer = String::with_capacity(base.len() + 1 + segment.len());
    pointer.push_str(base);
    push_segment(&mut pointer, segment);
    pointer
}

/// Appends `/` and the escaped `segment` to a JSON pointer.
pub fn push_segment(pointer: &mut String, segment: &str) {
    pointer.push('/');
    push_escaped(pointer, segment);
}

fn push_escaped(out: &mut String, segment: &str) {
    // Most keys need no escape: copy them whole (a plain loop: `contains` with a
    // pattern is slow in the debug build a proc macro runs as).
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i] != b'~' && bytes[i] != b'/' {
        i += 1;
    }
    if i == bytes.len() {
        out.push_str(segment);
        return;
    }
    for c in segment.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

enum Frame {
    Map {
        pointer: String,
        key: Option<String>,
    },
    Seq {
        pointer: String,
        index: usize,
    },
}

#[derive(Default)]
struct PositionRecorder {
    stack: Vec<Frame>,
    positions: HashMap<String, (usize, usize)>,
}

impl PositionRecorder {
    /// The pointer of the node that starts now, or `None` when the node is a mapping key.
    fn next_pointer(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { pointer, index }) => {
                let p = format!("{pointer}/{index}");
                *index += 1;
                Some(p)
            }
            Some(Frame::Map { pointer, key }) => {
                let k = key.take()?;
                let mut p = pointer.clone();
                push_segment(&mut p, &k);
                Some(p)
            }
        }
    }

    fn record(&mut self, pointer: &str, mark: Marker) {
        self.positions
            .entry(pointer.to_owned())
            .or_insert((mark.line(), mark.col() + 1));
    }
}

impl MarkedEventReceiver for PositionRecorder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, ..) => match self.next_pointer() {
                Some(p) => self.record(&p, mark),
                None => {
                    if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some(text);
                    }
                }
            },
            Event::Alias(_) => {
                if let Some(p) = self.next_pointer() {
                    self.record(&p, mark);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                // A collection used as a mapping key has no pointer; record it under a
                // name no real pointer has.
                let p = self
                    .next_pointer()
                    .unwrap_or_else(|| "\u{0}complex-key".to_owned());
                self.record(&p, mark);
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map {
                        pointer: p,
                        key: None,
                    }
                } else {
                    Frame::Seq {
                        pointer: p,
                        index: 0,
                    }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_positions_of_nested_nodes() {
        let text = "a:\n  b:\n    - x\n    - y: 1\n  'c/d': 2\n";
        let f = parse_text(Path::new("t.yaml"), text).unwrap();
        assert_eq!(f.line_col("/a/b/1/y"), Some((4, 10)));
        assert_eq!(f.line_col("/a/c~1d"), Some((5, 10)));
        // Unknown pointers fall back to the nearest ancestor.
        assert_eq!(f.line_col("/a/b/0/zzz"), Some((3, 7)));
    }

    #[test]
    fn yaml_syntax_error_has_line() {
        let err = parse_text(Path::new("t.yaml"), "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.location.line_col.is_some(), "{err}");
        assert!(err.message.contains("not valid YAML"));
    }
}
