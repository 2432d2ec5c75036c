//! What this crate accepts although the specification (or the official parser) does
//! not: each a rule real documents break harmlessly, waived with a warning that names
//! the rule. The list is short on purpose and documented in `docs/compile-errors.md`;
//! anything the official parser rejects that this list does not name is an error.

use super::explain::Problem;
use super::rules::SECURITY_RULE;
use crate::diagnostics::Diagnostic;

/// One waived rule.
#[derive(Debug)]
pub struct Leniency {
    /// A short name, shown in the warning: `missing-info`.
    pub name: &'static str,
    /// The rule that is waived.
    pub rule: &'static str,
    /// Why documents break it harmlessly, and what the generated code does instead.
    pub why: &'static str,
    /// Which problems it waives (none: the leniency is applied where it arises).
    waives: Option<fn(&Problem) -> bool>,
}

impl Leniency {
    /// The warning that replaces the error this leniency waives.
    pub fn describe(&self, error: Diagnostic) -> Diagnostic {
        let help = error.help.clone();
        let mut warning = Diagnostic::new(
            error.location,
            format!(
                "{} (accepted: leniency `{}` waives the rule that {})",
                error.message, self.name, self.rule
            ),
        );
        warning.help = help;
        warning
    }
}

/// A document without `info`.
pub const MISSING_INFO: Leniency = Leniency {
    name: "missing-info",
    rule: "a document has an `info` object",
    why: "`info` is documentation (title, version); the generated code reads nothing from it",
    waives: Some(|p| {
        p.rule == "schema"
            && p.pointer.is_empty()
            && p.message == "missing the required field `info`"
    }),
};

/// A security requirement naming a scheme `components.securitySchemes` does not define.
pub const UNDEFINED_SECURITY_SCHEME: Leniency = Leniency {
    name: "undefined-security-scheme",
    rule: "a security requirement names a scheme of `components.securitySchemes`",
    why: "common in real documents (the seed document of this project has one); the \
          requirement is ignored, so the server's connection settings come from the \
          environment (`KAFKA_SECURITY_PROTOCOL`, ...) alone",
    waives: Some(|p| p.rule == SECURITY_RULE),
};

/// A `$ref` to an `http(s)://` address.
pub const REMOTE_REF: Leniency = Leniency {
    name: "remote-ref",
    rule: "every `$ref` is followed and what it points at is checked",
    why: "a build never reaches the network: a remote reference is neither fetched nor \
          checked. In a schema it types as any JSON value; anywhere else (a message, a \
          channel, ...) the expansion stops with an error that says to vendor the file",
    waives: None,
};

/// Every leniency, in the order `docs/compile-errors.md` lists them.
pub const LENIENCIES: &[&Leniency] = &[&MISSING_INFO, &UNDEFINED_SECURITY_SCHEME, &REMOTE_REF];

/// The leniency that waives `problem`, if one does.
pub(super) fn waiving(problem: &Problem) -> Option<&'static Leniency> {
    LENIENCIES
        .iter()
        .copied()
        .find(|l| l.waives.is_some_and(|waives| waives(problem)))
}
