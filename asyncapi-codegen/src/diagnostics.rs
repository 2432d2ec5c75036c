//! Errors and warnings about a document, each tied to a file and a JSON pointer.

use std::fmt;
use std::path::PathBuf;

/// Where in which file a problem is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Location {
    /// The file, as it was opened.
    pub file: PathBuf,
    /// JSON pointer into the file (`""` is the whole document).
    pub pointer: String,
    /// 1-based line and column, where the parser reports one.
    pub line_col: Option<(usize, usize)>,
}

impl Location {
    /// A whole file, with no position inside it.
    pub fn file(file: impl Into<PathBuf>) -> Location {
        Location {
            file: file.into(),
            pointer: String::new(),
            line_col: None,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.line_col {
            write!(f, ":{line}:{col}")?;
        }
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, " at `#{pointer}`")
    }
}

/// One error (or warning) about a document: where, what, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("{location}: {message}{}", help.as_ref().map(|h| format!("\n  help: {h}")).unwrap_or_default())]
pub struct Diagnostic {
    /// Where the problem is.
    pub location: Location,
    /// What is wrong, in a sentence.
    pub message: String,
    /// How to fix it, when there is something to say.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem at `location`, with no help yet.
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            location,
            message: message.into(),
            help: None,
        }
    }

    /// The same problem, with what to do about it.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Every error found in a document; expansion reports them all at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

/// Everything said about one document during an expansion: every stage (normalize,
/// validate, types, generate) adds to the same report, so all problems of a document
/// are reported together and in document order of the stages.
#[derive(Debug, Default)]
pub struct Report {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Report {
    /// Records a problem that stops the expansion (after the current stage).
    pub fn error(&mut self, diagnostic: Diagnostic) {
        if !self.errors.contains(&diagnostic) {
            self.errors.push(diagnostic);
        }
    }

    /// Records a problem the expansion works around; it is shown, not fatal.
    pub fn warn(&mut self, diagnostic: Diagnostic) {
        if !self.warnings.contains(&diagnostic) {
            self.warnings.push(diagnostic);
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The errors so far, as the expansion's failure, when there are any.
    pub fn check(&mut self) -> Result<(), Diagnostics> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Diagnostics(std::mem::take(&mut self.errors)))
        }
    }

    /// Takes over what `other` found, after what this report holds.
    pub fn absorb(&mut self, other: Report) {
        other.errors.into_iter().for_each(|e| self.error(e));
        other.warnings.into_iter().for_each(|w| self.warn(w));
    }

    /// The errors, when the expansion stops.
    pub fn into_errors(self) -> Diagnostics {
        Diagnostics(self.errors)
    }

    /// The warnings, once the expansion succeeded.
    pub fn into_warnings(self) -> Vec<Diagnostic> {
        self.warnings
    }
}
