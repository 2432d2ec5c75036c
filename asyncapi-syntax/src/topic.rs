//! Kafka topic names: which names Kafka accepts, and the default dead-letter topic of
//! a topic, which the generator (`DEAD_LETTER_TOPICS`, topic creation) and the runtime
//! (where the consumer dead-letters) must name alike.

use std::hash::Hasher;

/// Kafka's limit on the length of a topic name.
pub const MAX_TOPIC_LEN: usize = 249;

/// Whether Kafka accepts `name` as a topic: 1 to 249 of `A-Z a-z 0-9 . _ -`, not `.`
/// or `..`.
pub fn is_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOPIC_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != "."
        && name != ".."
}

/// The default dead-letter topic of `topic`: `<topic>.dlq`. Where that would be longer
/// than Kafka allows (a topic of 246 characters or more), the topic is cut and followed
/// by 16 hex digits of its FNV-1a hash, `<cut>-<hash>.dlq`, so that two long topics
/// sharing a beginning keep apart.
///
/// ```
/// use asyncapi_syntax::topic::{dead_letter_topic, is_topic_name};
///
/// assert_eq!(dead_letter_topic("orders.created"), "orders.created.dlq");
/// let long = "t".repeat(249);
/// let dead = dead_letter_topic(&long);
/// assert!(is_topic_name(&dead) && dead.ends_with(".dlq"));
/// assert_ne!(dead, dead_letter_topic(&"t".repeat(248)));
/// ```
pub fn dead_letter_topic(topic: &str) -> String {
    const SUFFIX: &str = ".dlq";
    if topic.len() + SUFFIX.len() <= MAX_TOPIC_LEN {
        return format!("{topic}{SUFFIX}");
    }
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(topic.as_bytes());
    let hash = format!("-{:016x}", hasher.finish());
    let room = MAX_TOPIC_LEN - SUFFIX.len() - hash.len();
    let cut = (0..=room)
        .rev()
        .find(|&i| topic.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}{hash}{SUFFIX}", &topic[..cut])
}
