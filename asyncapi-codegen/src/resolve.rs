//! Stage 2: follow `$ref`s, within a document and across relative files, never over the
//! network.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::diagnostics::{Diagnostic, Location};
use crate::load::{load_file, push_segment, LoadedFile};

/// Where a part of the document was read: which file, and the JSON pointer inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// The file's index in [`Expansion::files`](crate::Expansion::files) (0: the document itself).
    pub file: usize,
    /// The JSON pointer of the node in that file (`""` for its root).
    pub pointer: String,
}

impl NodeId {
    pub(crate) fn child(&self, segment: &str) -> NodeId {
        let mut pointer = String::with_capacity(self.pointer.len() + 1 + segment.len());
        pointer.push_str(&self.pointer);
        push_segment(&mut pointer, segment);
        NodeId {
            file: self.file,
            pointer,
        }
    }

    pub(crate) fn index(&self, i: usize) -> NodeId {
        self.child(&i.to_string())
    }

    /// The last segment of the pointer, unescaped (a component's name).
    pub(crate) fn last_segment(&self) -> Option<String> {
        let seg = self.pointer.rsplit('/').next()?;
        (!seg.is_empty()).then(|| seg.replace("~1", "/").replace("~0", "~"))
    }
}

/// Every file the document pulled in, and the logic to move between them.
///
/// Every file a `$ref` names is loaded up front, so following references needs no
/// `&mut`: callers hold `&Value`s into the documents instead of copying subtrees.
#[derive(Debug, Default)]
pub struct Resolver {
    files: Vec<LoadedFile>,
    by_path: HashMap<PathBuf, usize>,
    /// Files some `$ref` names that could not be loaded, and why: an error only where
    /// such a reference is followed.
    failed: HashMap<PathBuf, Diagnostic>,
}

thread_local! {
    /// How deep [`Resolver::walk`] is, on this thread, in following references on the
    /// way to another reference's target: a pointer that leads through itself must end.
    /// Per thread, so stages may read one resolver side by side.
    static WALK_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// How many references [`Resolver::walk`] follows inside one another before it gives
/// up on a pointer (one that leads through itself never ends).
const MAX_WALK_DEPTH: usize = 32;

/// What a missing node reads as.
pub(crate) static NULL: Value = Value::Null;

impl Resolver {
    /// Loads the root document and every file its `$ref`s name.
    pub fn open(root: &Path) -> Result<(Resolver, NodeId), Diagnostic> {
        let mut r = Resolver::default();
        let file = r.load(root)?;
        r.load_referenced();
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
        r.load_referenced();
        (
            r,
            NodeId {
                file: 0,
                pointer: String::new(),
            },
        )
    }

    fn load(&mut self, path: &Path) -> Result<usize, Diagnostic> {
        let key = file_key(path);
        if let Some(&i) = self.by_path.get(&key) {
            return Ok(i);
        }
        let loaded = load_file(path)?;
        self.files.push(loaded);
        self.by_path.insert(key, self.files.len() - 1);
        Ok(self.files.len() - 1)
    }

    /// Loads every file named by a `$ref` of a loaded file, transitively. Failures are
    /// kept for [`Resolver::target`] to report where a reference is followed.
    fn load_referenced(&mut self) {
        let mut next = 0;
        while next < self.files.len() {
            let base = base_dir(&self.files[next].path);
            let mut paths = Vec::new();
            collect_file_refs(&self.files[next].value, &base, &mut paths);
            for path in paths {
                let key = file_key(&path);
                if self.by_path.contains_key(&key) || self.failed.contains_key(&key) {
                    continue;
                }
                if let Err(d) = self.load(&path) {
                    self.failed.insert(key, d);
                }
            }
            next += 1;
        }
    }

    /// The root node of every loaded file (the document's first).
    pub(crate) fn roots(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.files.len()).map(|file| NodeId {
            file,
            pointer: String::new(),
        })
    }

    /// Paths of every file read (the root first): cargo must rebuild when any changes.
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
    pub fn follow(&self, id: &NodeId) -> Result<NodeId, Diagnostic> {
        Ok(self.node(id)?.0)
    }

    /// Follows references and returns the node and its value.
    pub fn node(&self, id: &NodeId) -> Result<(NodeId, &Value), Diagnostic> {
        self.resolve(id, self.get(id).unwrap_or(&NULL))
    }

    /// [`Resolver::node`] for a caller that already holds the value at `id`: no walk
    /// from the document root when it is not a reference.
    pub fn resolve<'a>(
        &'a self,
        id: &NodeId,
        value: &'a Value,
    ) -> Result<(NodeId, &'a Value), Diagnostic> {
        if ref_of(value).is_none() {
            return Ok((id.clone(), value));
        }
        let mut current = id.clone();
        let mut value = value;
        // References chain rarely and briefly: a list finds cycles cheaply.
        let mut seen: Vec<NodeId> = Vec::new();
        while let Some(reference) = ref_of(value) {
            if seen.contains(&current) {
                return Err(self
                    .error(id, format!("`$ref` cycle: `{reference}` leads back to itself with no object in between"))
                    .help("make one of the references in the cycle point at an actual object"));
            }
            let (target, target_value) = self.target(&current, reference)?;
            seen.push(std::mem::replace(&mut current, target));
            value = target_value;
        }
        Ok((current, value))
    }

    /// Where a single `$ref` written at `at` points (one hop of a chain).
    pub(crate) fn target(
        &self,
        at: &NodeId,
        reference: &str,
    ) -> Result<(NodeId, &Value), Diagnostic> {
        let here = at.child("$ref");
        if is_remote(reference) {
            return Err(self
                .error(&here, format!("remote reference `{reference}` is not fetched: a build never reaches the network"))
                .help("download the file into your crate (vendor it) and reference it with a relative path, e.g. `./schemas/turnOnOff.yaml#/components/messages/turnOnOff`"));
        }
        if reference.trim().is_empty() {
            return Err(self
                .error(
                    &here,
                    "this `$ref` is empty: it names no document and no node",
                )
                .help("write the pointer of what it refers to, e.g. `#/components/schemas/Name`"));
        }
        let (file_part, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let file = if file_part.is_empty() {
            at.file
        } else {
            self.referenced_file(at, &here, reference, file_part)?
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
        let Some((target, value)) = self.walk(target.clone()) else {
            // Name the file as the `$ref` does (an absolute path would differ per machine).
            let where_ = if file == at.file {
                "this document".to_owned()
            } else {
                format!("`{file_part}`")
            };
            let help = match self.nearest_pointer(&target) {
                Some(near) => format!("did you mean `{file_part}#{near}`?"),
                None => "check the spelling of the pointer; `/` inside a key is written `~1` and `~` is written `~0`".to_owned(),
            };
            return Err(self
                .error(
                    &here,
                    format!(
                        "`$ref` `{reference}` does not resolve: {where_} has nothing at `#{}`",
                        target.pointer
                    ),
                )
                .help(help));
        };
        Ok((target, value))
    }

    /// The index of the file a `$ref` (written at `here`, in the file of `at`) names
    /// before its `#`: relative to the directory of the file that contains it, and
    /// loaded with the document.
    fn referenced_file(
        &self,
        at: &NodeId,
        here: &NodeId,
        reference: &str,
        file_part: &str,
    ) -> Result<usize, Diagnostic> {
        let base = self
            .files
            .get(at.file)
            .map(|f| base_dir(&f.path))
            .unwrap_or_default();
        let path = ref_path(&base, file_part);
        if !path.exists() {
            return Err(self
                .error(here, format!("`$ref` `{reference}` names the file `{}`, which does not exist", path.display()))
                .help("relative references are resolved against the directory of the file that contains them"));
        }
        let key = file_key(&path);
        if let Some(&i) = self.by_path.get(&key) {
            return Ok(i);
        }
        let mut d = self.failed.get(&key).cloned().unwrap_or_else(|| {
            // Loaded up front unless it appeared since: say so plainly.
            self.error(
                here,
                format!(
                    "`{}` was not readable when the document was loaded",
                    path.display()
                ),
            )
        });
        d.message = format!("in the file referenced by `{reference}`: {}", d.message);
        Err(d)
    }

    /// The node a pointer names, read as the document means it: a reference on the way
    /// is followed (`#/channels/a/messages/m/payload` where `m` is a `$ref`), and a
    /// `$ref` itself is not a node (it stands for what it points at).
    fn walk(&self, target: NodeId) -> Option<(NodeId, &Value)> {
        if !target.pointer.split('/').any(|s| s == "$ref") {
            if let Some(value) = self.get(&target) {
                return Some((target, value));
            }
        }
        if WALK_DEPTH.get() >= MAX_WALK_DEPTH {
            return None;
        }
        WALK_DEPTH.set(WALK_DEPTH.get() + 1);
        let found = self.walk_through_refs(&target);
        WALK_DEPTH.set(WALK_DEPTH.get() - 1);
        found
    }

    fn walk_through_refs(&self, target: &NodeId) -> Option<(NodeId, &Value)> {
        let mut node = NodeId {
            file: target.file,
            pointer: String::new(),
        };
        for segment in target.pointer.split('/').skip(1) {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            let value = self.get(&node)?;
            if ref_of(value).is_some() {
                node = self.resolve(&node, value).ok()?.0;
            }
            if segment == "$ref" {
                return None;
            }
            node = node.child(&segment);
        }
        let value = self.get(&node)?;
        Some((node, value))
    }

    /// A pointer that exists and differs from `missing` by a typo in its first missing
    /// segment: `/components/schemas/Adress` → `/components/schemas/Address`.
    fn nearest_pointer(&self, missing: &NodeId) -> Option<String> {
        let (parent, last) = missing.pointer.rsplit_once('/')?;
        let parent_id = NodeId {
            file: missing.file,
            pointer: parent.to_owned(),
        };
        let keys = self.get(&parent_id)?.as_object()?;
        let near = crate::suggest::closest(last, keys.keys().map(String::as_str))?;
        Some(parent_id.child(near).pointer)
    }
}

/// One file reached by two relative paths is loaded once.
fn file_key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// The directory relative `$ref`s of the file at `path` are resolved against.
fn base_dir(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The file a relative `$ref`'s file part names.
fn ref_path(base: &Path, file_part: &str) -> PathBuf {
    base.join(percent_decode_str(file_part).decode_utf8_lossy().as_ref())
}

/// Existing files named by the `$ref`s under `value` (not remote ones: never fetched).
fn collect_file_refs(value: &Value, base: &Path, out: &mut Vec<PathBuf>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = field_of(map, "$ref") {
                let file_part = reference
                    .split_once('#')
                    .map_or(reference.as_str(), |(f, _)| f);
                if !file_part.is_empty() && !is_remote(reference) {
                    let path = ref_path(base, file_part);
                    if path.exists() && !out.contains(&path) {
                        out.push(path);
                    }
                }
            }
            map.values().for_each(|v| collect_file_refs(v, base, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_file_refs(v, base, out)),
        _ => {}
    }
}

/// The `$ref` string of a reference object.
pub fn ref_of(value: &Value) -> Option<&str> {
    field(value, "$ref")?.as_str()
}

/// `value[key]` for an object (`None` otherwise), like `Value::get`. Schema objects
/// have a handful of keys, and in the debug build a proc macro runs as, comparing them
/// is several times cheaper than hashing the key.
pub fn field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => field_of(map, key),
        _ => None,
    }
}

/// [`field`] of a map.
pub fn field_of<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() > 8 {
        return map.get(key);
    }
    map.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
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
        let (r, top) = Resolver::open(&root).unwrap();
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
        let (r, top) = Resolver::open(&root).unwrap();
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

    #[test]
    fn pointers_are_read_through_references_and_a_pointer_through_itself_ends() {
        let dir = tempfile::tempdir().unwrap();
        let root = write(
            dir.path(),
            "api.yaml",
            "m:\n  $ref: '#/n'\nn:\n  payload: { type: string }\nthrough:\n  $ref: '#/m/payload'\ninto_ref:\n  $ref: '#/m/$ref'\nself:\n  $ref: '#/self/a/b'\n",
        );
        let (r, top) = Resolver::open(&root).unwrap();
        let (id, v) = r.node(&top.child("through")).unwrap();
        assert_eq!(
            (id.pointer.as_str(), &v["type"]),
            ("/n/payload", &Value::from("string"))
        );
        // A `$ref` stands for what it points at: it is no node of its own.
        assert!(r.follow(&top.child("into_ref")).is_err());
        // Before the walk was bounded, this overflowed the stack.
        let e = r.follow(&top.child("self")).unwrap_err();
        assert!(e.message.contains("does not resolve"), "{e}");
    }

    #[test]
    fn a_broken_referenced_file_is_an_error_only_where_followed() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "broken.yaml", "a: [1, 2\nb: 3\n");
        let root = write(
            dir.path(),
            "api.yaml",
            "used:\n  $ref: './broken.yaml#/a'\nfine:\n  type: string\n",
        );
        let (r, top) = Resolver::open(&root).unwrap();
        assert!(r.follow(&top.child("fine")).is_ok());
        let e = r.follow(&top.child("used")).unwrap_err();
        assert!(
            e.message
                .starts_with("in the file referenced by `./broken.yaml#/a`: not valid YAML"),
            "{e}"
        );
        assert!(e.location.file.ends_with("broken.yaml"), "{e}");
        assert!(e.location.line_col.is_some(), "{e}");
        assert_eq!(r.files().count(), 1);
    }
}
