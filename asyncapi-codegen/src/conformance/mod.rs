//! Stage 3: the document against the AsyncAPI specification of its version, before
//! anything is read from it: the official JSON Schema ([`structure`]), and the rules of
//! the specification that schema cannot say ([`rules`]), as strictly as the official
//! parser (`@asyncapi/parser`) checks them. What this crate accepts anyway is the short
//! list in [`leniency`]; everything else the official parser rejects is an error here.

mod circular;
mod examples;
mod explain;
pub mod leniency;
mod rules;
mod spec_schema;
mod structure;

use crate::diagnostics::{Diagnostic, Report};
use crate::resolve::{NodeId, Resolver, NULL};
use crate::validate::Version;

/// The items of a value that should be a list; none when it is missing or not a list.
trait Items<'a> {
    fn items(self) -> std::slice::Iter<'a, serde_json::Value>;
}

impl<'a> Items<'a> for Option<&'a serde_json::Value> {
    fn items(self) -> std::slice::Iter<'a, serde_json::Value> {
        self.and_then(serde_json::Value::as_array)
            .map_or([].iter(), |list| list.iter())
    }
}

/// Checks a document whose version is supported; every problem goes to `report`.
pub fn check(r: &Resolver, root: &NodeId, version: &Version, report: &mut Report) {
    let spec = match spec_schema::for_version(&version.text) {
        Some(Ok(spec)) => spec,
        Some(Err(broken)) => {
            report.error(
                Diagnostic::new(r.location(root), format!("internal error: {broken}"))
                    .help("this is a bug in asyncapi-codegen; please report it"),
            );
            return;
        }
        None => return,
    };
    let written = r.get(root).unwrap_or(&NULL);
    let circular = circular::circular_refs(r);
    let resolved = structure::resolved_document(r, root, &circular, report);
    let mut problems = structure::problems(&resolved, written, spec);
    rules::check(&resolved.document, written, version.major, &mut problems);
    if version.major == 2 {
        let schema_at = |pointer: &str| structure::fully_resolved(r, root, &circular, pointer);
        examples::check(&resolved.document, &schema_at, &mut problems);
    }
    for problem in problems {
        let waived = leniency::waiving(&problem);
        let diagnostic = structure::diagnostic(r, root, problem);
        match waived {
            Some(leniency) => report.warn(leniency.describe(diagnostic)),
            None => report.error(diagnostic),
        }
    }
}
