//! Stage 2: follow `$ref`s, within a document and across relative files, never over the
//! network.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::diagnostics::{Diagnostic, Location};
use crate::load::{escape_segment, load_file, LoadedFile};

/// A node: which loaded file, and the JSON pointer inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub file: usize,
    pub pointer: String,
}

impl NodeId {
    pub fn child(&self, segment: &str) -> NodeId {
        NodeId {
            file: self.file,
            pointer: format!("{}/{}", self.pointer, escape_segment(segment)),
        }
    }

    pub fn index(&self, i: usize) -> NodeId {
        NodeId {
            file: self.file,
            pointer: format!("{}/{i}", self.pointer),
        }
    }

    /// The last segment of the pointer, unescaped (a component's name).
    pub fn last_segment(&self) -> Option<String> {
        let seg = self.pointer.rsplit('/').next()?;
        (!seg.is_empty()).then(|| seg.replace("~1", "/").replace("~0", "~"))
    }
}

/// Every file the document pulled in, and the logic to move between them.
#[derive(Debug, Default)]
pub struct Resolver {
    files: Vec<LoadedFile>,
    by_path: HashMap<PathBuf, usize>,
}

impl Resolver {
    /// Loads the root document.
    pub fn open(root: &Path) -> Result<(Resolver, NodeId), Diagnostic> {
        let mut r = Resolver::default();
        let file = r.load(root)?;
        Ok((
            r,
            NodeId {
                file,
                pointer: String::new(),
            },
        ))
    }

    /// Builds a resolver over an already parsed root (for tests and fuzzing).
    pub fn from_loaded(root: LoadedFile) -> (Resolver, NodeId) {
        let mut r = Resolver::default();
        r.by_path.insert(root.path.clone(), 0);
        r.files.push(root);
        (
            r,
            NodeId {
                file: 0,
                pointer: String::new(),
            },
        )
    }

    fn load(&mut self, path: &Path) -> Result<usize, Diagnostic> {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        if let Some(&i) = self.by_path.get(&key) {
            return Ok(i);
        }
        let loaded = load_file(path)?;
        self.files.push(loaded);
        self.by_path.insert(key, self.files.len() - 1);
        Ok(self.files.len() - 1)
    }

    /// Paths of every file read so far (the root first): cargo must rebuild when any changes.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| f.path.as_path())
    }

    pub fn get(&self, id: &NodeId) -> Option<&Value> {
        self.files.get(id.file)?.value.pointer(&id.pointer)
    }

    pub fn location(&self, id: &NodeId) -> Location {
        match self.files.get(id.file) {
            Some(f) => f.location(&id.pointer),
            None => Location {
                file: PathBuf::new(),
                pointer: id.pointer.clone(),
                line_col: None,
            },
        }
    }

    pub fn error(&self, id: &NodeId, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.location(id), message)
    }

    /// Follows `$ref`s starting at `id` until a node that is not a reference.
    pub fn follow(&mut self, id: &NodeId) -> Result<NodeId, Diagnostic> {
        let mut current = id.clone();
        let mut seen = HashSet::new();
        loop {
            let Some(reference) = self.get(&current).and_then(ref_of).map(str::to_owned) else {
                return Ok(current);
            };
            if !seen.insert(current.clone()) {
                return Err(self
                    .error(id, format!("`$ref` cycle: `{reference}` leads back to itself with no object in between"))
                    .help("make one of the references in the cycle point at an actual object"));
            }
            current = self.target(&current, &reference)?;
        }
    }

    /// Follows references and returns the node and a copy of its value.
    pub fn node(&mut self, id: &NodeId) -> Result<(NodeId, Value), Diagnostic> {
        let target = self.follow(id)?;
        let value = self.get(&target).cloned().unwrap_or(Value::Null);
        Ok((target, value))
    }

    /// Where a single `$ref` written at `at` points.
    fn target(&mut self, at: &NodeId, reference: &str) -> Result<NodeId, Diagnostic> {
        let here = at.child("$ref");
        if is_remote(reference) {
            return Err(self
                .error(&here, format!("remote reference `{reference}` is not fetched: a build never reaches the network"))
                .help("download the file into your crate (vendor it) and reference it with a relative path, e.g. `./schemas/turnOnOff.yaml#/components/messages/turnOnOff`"));
        }
        let (file_part, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let file = if file_part.is_empty() {
            at.file
        } else {
            let rel = percent_decode_str(file_part)
                .decode_utf8_lossy()
                .into_owned();
            let base = self.files[at.file]
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let path = base.join(&rel);
            if !path.exists() {
                return Err(self
                    .error(&here, format!("`$ref` `{reference}` names the file `{}`, which does not exist", path.display()))
                    .help("relative references are resolved against the directory of the file that contains them"));
            }
            self.load(&path).map_err(|mut d| {
                d.message = format!("in the file referenced by `{reference}`: {}", d.message);
                d
            })?
        };
        let pointer = percent_decode_str(fragment)
            .decode_utf8_lossy()
            .into_owned();
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(self
                .error(
                    &here,
                    format!(
                        "`$ref` `{reference}` uses a plain-name fragment, which is not supported"
                    ),
                )
                .help("use a JSON pointer fragment, e.g. `#/components/schemas/Name`"));
        }
        let target = NodeId { file, pointer };
        if self.get(&target).is_none() {
            // Name the file as the `$ref` does (an absolute path would differ per machine).
            let where_ = if file == at.file {
                "this document".to_owned()
            } else {
                format!("`{file_part}`")
            };
            return Err(self
                .error(&here, format!("`$ref` `{reference}` does not resolve: {where_} has nothing at `#{}`", target.pointer))
                .help("check the spelling of the pointer; `/` inside a key is written `~1` and `~` is written `~0`"));
        }
        Ok(target)
    }
}

/// The `$ref` string of a reference object.
pub fn ref_of(value: &Value) -> Option<&str> {
    value.as_object()?.get("$ref")?.as_str()
}

fn is_remote(reference: &str) -> bool {
    let lower = reference.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("//")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn follows_escaped_pointers_and_relative_files() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "common/schemas.yaml",
            "Foo:\n  type: object\nBar:\n  $ref: '#/Foo'\n",
        );
        let root = write(
            dir.path(),
            "api.yaml",
            "channels:\n  a/b{x}:\n    description: hi\nx:\n  $ref: '#/channels/a~1b%7Bx%7D'\ny:\n  $ref: './common/schemas.yaml#/Bar'\n",
        );
        let (mut r, top) = Resolver::open(&root).unwrap();
        let (_, v) = r.node(&top.child("x")).unwrap();
        assert_eq!(v["description"], "hi");
        let (id, v) = r.node(&top.child("y")).unwrap();
        assert_eq!(v["type"], "object");
        assert_eq!(id.pointer, "/Foo");
        assert_eq!(r.files().count(), 2);
    }

    #[test]
    fn remote_refs_and_cycles_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let root = write(
            dir.path(),
            "api.yaml",
            "a:\n  $ref: 'https://example.com/x.yaml#/A'\nb:\n  $ref: '#/c'\nc:\n  $ref: '#/b'\nd:\n  $ref: '#/nope'\n",
        );
        let (mut r, top) = Resolver::open(&root).unwrap();
        let e = r.follow(&top.child("a")).unwrap_err();
        assert!(e.message.contains("https://example.com/x.yaml#/A"), "{e}");
        assert!(e.help.unwrap().contains("vendor"));
        assert!(r
            .follow(&top.child("b"))
            .unwrap_err()
            .message
            .contains("cycle"));
        let e = r.follow(&top.child("d")).unwrap_err();
        assert!(e.message.contains("#/nope"), "{e}");
        assert_eq!(e.location.line_col, Some((8, 9)));
    }
}
