//! Compile-fail cases for `asyncapi!` and `#[event_listener]`: every mistake a user can
//! make must give ONE error that says what is wrong, where, and what to do. Cases live
//! in `ui/fail`, their documents in `ui/specs`. The cases that must compile (`ui/pass`)
//! are test targets of this crate (see its `Cargo.toml`), not trybuild cases: with no
//! case to run, trybuild only type-checks.
//!
//! Update the expected output with
//! `TRYBUILD=overwrite cargo test -p asyncapi-tests --test compile_fail`, then review
//! every diff (see `docs/compile-errors.md`).
//!
//! trybuild compiles the cases in its own project (`<target>/tests/trybuild/asyncapi-tests`),
//! and that project's directory is the `CARGO_MANIFEST_DIR` against which `asyncapi!`
//! resolves document paths. So the documents are mirrored there first, at the same
//! relative paths they have in this crate: a case writes `asyncapi!("ui/specs/x.yaml")`
//! exactly as a test of this crate would.

use std::fs;
use std::path::{Path, PathBuf};

/// The directory trybuild builds the cases in (`CARGO_TARGET_TMPDIR` is `<target>/tmp`).
fn trybuild_project_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .to_path_buf();
    target
        .join("tests")
        .join("trybuild")
        .join(env!("CARGO_PKG_NAME"))
}

fn mirror(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            mirror(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

#[test]
fn ui() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let project = trybuild_project_dir();
    for dir in ["ui/specs", "fixtures/specs"] {
        let dest = project.join(dir);
        let _ = fs::remove_dir_all(&dest);
        mirror(&crate_dir.join(dir), &dest);
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
}
