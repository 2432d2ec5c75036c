//! "Did you mean": the closest of the values a place accepts, for a word that is not
//! one of them.

/// The candidate closest to `word`, when it is close enough to be what was meant:
/// within a third of the word's length in edits (at least one), or the same word in
/// another case.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let distance = if c.eq_ignore_ascii_case(word) {
                0
            } else {
                strsim::damerau_levenshtein(word, c)
            };
            (distance, c)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// `a`, `a or b`, `a, b or c`: the values written as code, for a message.
pub fn one_of_list<S: AsRef<str>>(values: &[S]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("`{}`", v.as_ref())).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_value_within_reach() {
        let types = [
            "array", "boolean", "integer", "null", "number", "object", "string",
        ];
        assert_eq!(closest("strin", types), Some("string"));
        assert_eq!(closest("intger", types), Some("integer"));
        assert_eq!(closest("String", types), Some("string"));
        assert_eq!(closest("sendd", ["send", "receive"]), Some("send"));
        assert_eq!(
            closest("chanels", ["channels", "components"]),
            Some("channels")
        );
        assert_eq!(closest("xyz", types), None);
    }

    #[test]
    fn lists_values_as_code() {
        assert_eq!(one_of_list(&["send"]), "`send`");
        assert_eq!(one_of_list(&["send", "receive"]), "`send` or `receive`");
        assert_eq!(one_of_list(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
