//! Channel address to Kafka topic name.
//!
//! Kafka accepts `[a-zA-Z0-9._-]`, at most 249 characters. The mapping is deterministic
//! and documented on every generated channel: `/` and `:` become `.`, leading and
//! trailing separators are dropped, `{parameter}` placeholders are kept (their values
//! are checked when a topic is built). Anything else cannot be mapped.

use asyncapi_syntax::topic::MAX_TOPIC_LEN;

/// The Kafka topic for an address, or why there is none.
pub fn kafka_topic(address: &str) -> Result<String, String> {
    let mut out = String::with_capacity(address.len());
    let mut in_placeholder = false;
    for c in address.chars() {
        match c {
            '{' if !in_placeholder => {
                in_placeholder = true;
                out.push(c);
            }
            '}' if in_placeholder => {
                in_placeholder = false;
                out.push(c);
            }
            _ if in_placeholder => out.push(c),
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => out.push(c),
            '/' | ':' => out.push('.'),
            other => {
                return Err(format!(
                    "the address `{address}` contains `{other}`, which a Kafka topic cannot contain and which has no mapping"
                ))
            }
        }
    }
    if in_placeholder {
        return Err(format!("the address `{address}` has an unclosed `{{`"));
    }
    let topic = out.trim_matches('.').to_owned();
    if topic.is_empty() || topic == ".." {
        return Err(format!(
            "the address `{address}` leaves no usable Kafka topic name"
        ));
    }
    let fixed_len = topic
        .split('{')
        .map(|s| s.split_once('}').map_or(s, |(_, rest)| rest))
        .map(str::len)
        .sum::<usize>();
    if fixed_len > MAX_TOPIC_LEN {
        return Err(format!("the topic for `{address}` would be {fixed_len} characters; Kafka allows at most {MAX_TOPIC_LEN}"));
    }
    Ok(topic)
}

#[cfg(test)]
mod tests {
    use super::kafka_topic;

    #[test]
    fn maps_slashes_and_keeps_parameters() {
        assert_eq!(kafka_topic("user/signup").unwrap(), "user.signup");
        assert_eq!(
            kafka_topic("/rooms/{roomId}/{resource}").unwrap(),
            "rooms.{roomId}.{resource}"
        );
        assert_eq!(
            kafka_topic("smartylighting.streetlights.1.0.event.{streetlightId}.lighting.measured")
                .unwrap(),
            "smartylighting.streetlights.1.0.event.{streetlightId}.lighting.measured"
        );
        assert_eq!(
            kafka_topic("https://example.com/books/{id}").unwrap(),
            "https...example.com.books.{id}"
        );
    }

    #[test]
    fn rejects_what_cannot_map() {
        assert!(kafka_topic("user signup").unwrap_err().contains("` `"));
        assert!(kafka_topic("/").is_err());
        assert!(kafka_topic("caf\u{e9}").is_err());
        assert!(kafka_topic(&"a".repeat(250)).unwrap_err().contains("249"));
        assert!(kafka_topic(&"a".repeat(249)).is_ok());
    }
}
