//! `{name}` placeholders of a channel address, a server URL or a Kafka topic template.

use std::fmt;

/// One piece of an address: text as written, or a `{name}` placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Text between placeholders.
    Literal(&'a str),
    /// The name between `{` and `}`.
    Placeholder(&'a str),
}

/// An address with a `{` that no `}` closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unclosed {
    /// The byte offset of the unclosed `{`.
    pub at: usize,
}

impl fmt::Display for Unclosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the `{{` at byte {} is not closed by a `}}`", self.at)
    }
}

impl std::error::Error for Unclosed {}

/// The address as literals and placeholders, in order; empty literals are left out.
/// `{}` names nothing and stays literal text, as in [`placeholders`].
pub fn segments(address: &str) -> Result<Vec<Segment<'_>>, Unclosed> {
    let mut segments = Vec::new();
    let mut rest = address;
    let mut offset = 0;
    while let Some((open, close)) = next(rest).map_err(|e| Unclosed { at: offset + e.at })? {
        if open > 0 {
            segments.push(Segment::Literal(&rest[..open]));
        }
        segments.push(Segment::Placeholder(&rest[open + 1..close]));
        offset += close + 1;
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Literal(rest));
    }
    Ok(segments)
}

/// The placeholder names of an address, in order, as the official AsyncAPI parser reads
/// them: `{` and `}` around at least one character. An unclosed `{` ends the list.
pub fn placeholders(address: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = address;
    while let Ok(Some((open, close))) = next(rest) {
        names.push(&rest[open + 1..close]);
        rest = &rest[close + 1..];
    }
    names
}

/// The byte offsets of the `{` and `}` of the next placeholder of `text`; a `{}` on
/// the way names nothing and is passed over.
fn next(text: &str) -> Result<Option<(usize, usize)>, Unclosed> {
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|i| from + i) {
        let Some(close) = text[open + 1..].find('}').map(|i| open + 1 + i) else {
            return Err(Unclosed { at: open });
        };
        if close > open + 1 {
            return Ok(Some((open, close)));
        }
        from = close + 1;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_placeholders_in_order() {
        assert_eq!(
            segments("user.{userId}.{event}").unwrap(),
            [
                Segment::Literal("user."),
                Segment::Placeholder("userId"),
                Segment::Literal("."),
                Segment::Placeholder("event"),
            ]
        );
        assert_eq!(segments("{a}{b}").unwrap().len(), 2);
        assert_eq!(segments("plain").unwrap(), [Segment::Literal("plain")]);
        assert_eq!(segments("").unwrap(), []);
    }

    #[test]
    fn an_empty_pair_of_braces_names_nothing() {
        assert_eq!(placeholders("a{}b.{c}"), ["c"]);
        assert_eq!(
            segments("a{}b.{c}").unwrap(),
            [Segment::Literal("a{}b."), Segment::Placeholder("c")]
        );
        assert_eq!(placeholders("{{a}"), ["{a"]);
    }

    #[test]
    fn an_unclosed_brace_is_an_error_with_its_offset() {
        assert_eq!(segments("a.{b}.{c"), Err(Unclosed { at: 6 }));
        assert_eq!(placeholders("a.{b}.{c"), ["b"]);
    }
}
