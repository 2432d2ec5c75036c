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
/// Placeholders are found as [`placeholders`] finds them.
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
/// them (`{(.+?)}`): a `{`, at least one character, then everything up to the next `}`.
/// An unclosed `{` ends the list.
pub fn placeholders(address: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = address;
    while let Ok(Some((open, close))) = next(rest) {
        names.push(&rest[open + 1..close]);
        rest = &rest[close + 1..];
    }
    names
}

/// The byte offsets of the `{` and `}` of the next placeholder of `text`: the name is at
/// least one character (a `}` right after the `{` is part of it, as in `{(.+?)}`).
fn next(text: &str) -> Result<Option<(usize, usize)>, Unclosed> {
    let Some(open) = text.find('{') else {
        return Ok(None);
    };
    let after = &text[open + 1..];
    let first = after.chars().next().map_or(0, char::len_utf8);
    match after.get(first..).and_then(|rest| rest.find('}')) {
        Some(i) if first > 0 => Ok(Some((open, open + 1 + first + i))),
        _ => Err(Unclosed { at: open }),
    }
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
    fn a_name_is_at_least_one_character_as_the_official_parser_reads_it() {
        assert_eq!(placeholders("a{}b.{c}"), ["}b.{c"]);
        assert_eq!(
            segments("a{}b.{c}").unwrap(),
            [Segment::Literal("a"), Segment::Placeholder("}b.{c")]
        );
        assert_eq!(placeholders("{{a}"), ["{a"]);
        assert_eq!(placeholders("x.{é}"), ["é"]);
        assert_eq!(segments("{}"), Err(Unclosed { at: 0 }));
    }

    #[test]
    fn an_unclosed_brace_is_an_error_with_its_offset() {
        assert_eq!(segments("a.{b}.{c"), Err(Unclosed { at: 6 }));
        assert_eq!(placeholders("a.{b}.{c"), ["b"]);
    }
}
