//! Topic templates: `C::TOPIC` with `{name}` placeholders, rendered for sending and
//! matched (or turned into a subscription regex) for receiving.
//!
//! A placeholder value is one non-empty topic segment: Kafka's topic alphabet
//! without `.`, so values cannot swallow the dots that separate address segments.

use std::borrow::Cow;

pub(crate) use asyncapi_syntax::topic::is_topic_name;

/// Why a topic could not be built from a channel's parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Fewer parameter values were given than the template has placeholders.
    #[error("topic `{template}` needs a value for parameter #{index} (`{{{name}}}`)")]
    MissingParameter {
        /// The topic template being rendered.
        template: &'static str,
        /// The position of the missing value among the placeholders.
        index: usize,
        /// The name of the placeholder without a value.
        name: String,
    },
    /// A parameter value is empty or holds a character outside `A-Z a-z 0-9 _ -`.
    #[error("value `{value}` of parameter `{name}` is not a valid topic segment (allowed: A-Z a-z 0-9 _ -)")]
    InvalidParameter {
        /// The parameter's name.
        name: String,
        /// The rejected value.
        value: String,
    },
    /// The topic template has a `{` without a closing `}`.
    #[error("topic template `{0}` has an unclosed `{{`")]
    Malformed(&'static str),
    /// A parameter value does not match the `pattern` the document gives it.
    #[error("value `{value}` of parameter `{name}` does not match its pattern `{pattern}`")]
    PatternMismatch {
        /// The parameter's name.
        name: &'static str,
        /// The rejected value.
        value: String,
        /// The regular expression the value must match.
        pattern: &'static str,
    },
    /// A parameter value is not one of the `enum` values the document allows.
    #[error("value `{value}` of parameter `{name}` is not one of {}", allowed.join(", "))]
    NotAllowed {
        /// The parameter's name.
        name: &'static str,
        /// The rejected value.
        value: String,
        /// The values the parameter may take.
        allowed: &'static [&'static str],
    },
}

use asyncapi_syntax::address::{self, Segment};

use crate::contract::{Channel, ChannelParameters};

/// A parsed `C::TOPIC`, read as the generator read the document's address.
#[derive(Debug, Clone)]
pub(crate) struct TopicTemplate {
    template: &'static str,
    segments: Vec<Segment<'static>>,
}

fn is_param_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl TopicTemplate {
    pub(crate) fn parse(template: &'static str) -> Result<Self, TopicError> {
        let segments = address::segments(template).map_err(|_| TopicError::Malformed(template))?;
        Ok(TopicTemplate { template, segments })
    }

    pub(crate) fn has_parameters(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Placeholder(_)))
    }

    /// The topic for the given parameter values (in placeholder order).
    pub(crate) fn render(&self, values: &[Cow<'_, str>]) -> Result<String, TopicError> {
        let mut out = String::with_capacity(self.template.len());
        let mut index = 0;
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Placeholder(name) => {
                    let value = values
                        .get(index)
                        .ok_or_else(|| TopicError::MissingParameter {
                            template: self.template,
                            index,
                            name: (*name).to_owned(),
                        })?;
                    if value.is_empty() || !value.chars().all(is_param_char) {
                        return Err(TopicError::InvalidParameter {
                            name: (*name).to_owned(),
                            value: value.to_string(),
                        });
                    }
                    out.push_str(value);
                    index += 1;
                }
            }
        }
        Ok(out)
    }

    /// What to pass to `subscribe`: the topic itself, or a librdkafka `^regex` when
    /// the template has placeholders.
    pub(crate) fn subscription(&self) -> String {
        if !self.has_parameters() {
            return self.template.to_owned();
        }
        let mut re = String::from("^");
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => {
                    // Topic names only hold `[A-Za-z0-9._-]`; `.` is the one regex
                    // metacharacter among them.
                    for c in text.chars() {
                        if c == '.' {
                            re.push('\\');
                        }
                        re.push(c);
                    }
                }
                Segment::Placeholder(_) => re.push_str("[^.]+"),
            }
        }
        re.push('$');
        re
    }

    /// The parameter values of `topic`, or `None` if it does not match the template.
    pub(crate) fn matches<'t>(&self, topic: &'t str) -> Option<Vec<&'t str>> {
        let mut values = Vec::new();
        match_from(&self.segments, topic, &mut values).then_some(values)
    }
}

/// The topic a record of channel `C` goes to: `C::TOPIC` itself when it has no
/// placeholders (borrowed), else rendered from `parameters`, which are checked first
/// against what the document says of them.
pub(crate) fn channel_topic<C: Channel>(
    parameters: Option<&C::Parameters>,
) -> Result<Cow<'static, str>, TopicError> {
    if !C::TOPIC.contains('{') {
        return Ok(Cow::Borrowed(C::TOPIC));
    }
    let template = TopicTemplate::parse(C::TOPIC)?;
    Ok(Cow::Owned(match parameters {
        Some(p) => {
            p.check()?;
            template.render(&p.values())?
        }
        None => template.render(&[])?,
    }))
}

fn match_from<'t>(segments: &[Segment<'_>], topic: &'t str, values: &mut Vec<&'t str>) -> bool {
    match segments.split_first() {
        None => topic.is_empty(),
        Some((Segment::Literal(text), rest)) => topic
            .strip_prefix(text)
            .is_some_and(|remaining| match_from(rest, remaining, values)),
        Some((Segment::Placeholder(_), rest)) => {
            // Shortest value first; backtrack on failure.
            let max = topic
                .find(|c: char| !is_param_char(c))
                .unwrap_or(topic.len());
            for len in 1..=max {
                values.push(&topic[..len]);
                if match_from(rest, &topic[len..], values) {
                    return true;
                }
                values.pop();
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_matches_and_builds_regex() {
        let t = TopicTemplate::parse("user.{userId}.events-{kind}").unwrap();
        assert!(t.has_parameters());
        let topic = t
            .render(&[Cow::Borrowed("u-1"), Cow::Borrowed("created")])
            .unwrap();
        assert_eq!(topic, "user.u-1.events-created");
        assert_eq!(t.matches(&topic), Some(vec!["u-1", "created"]));
        assert_eq!(t.matches("user.u1.other-x"), None);
        assert_eq!(t.matches("user..events-x"), None);
        assert_eq!(t.subscription(), r"^user\.[^.]+\.events-[^.]+$");
        assert!(matches!(
            t.render(&[Cow::Borrowed("only-one")]),
            Err(TopicError::MissingParameter { index: 1, .. })
        ));
        assert!(matches!(
            t.render(&[Cow::Borrowed("a.b"), Cow::Borrowed("c")]),
            Err(TopicError::InvalidParameter { .. })
        ));
        let plain = TopicTemplate::parse("orders").unwrap();
        assert_eq!(plain.subscription(), "orders");
        assert_eq!(plain.matches("orders"), Some(vec![]));
    }
}
