//! Topic names and topic filters (MQTT section 4.7) and shared subscriptions (4.8.2).
//!
//! A topic name is what a PUBLISH is sent to: `home/livingroom/temperature`. A topic filter is what a
//! SUBSCRIBE asks for and may hold wildcards: `+` matches exactly one level, `#` (last, alone in its level)
//! matches the parent level and any number of levels below. Levels are separated by `/` and may be empty.
//! Topics starting with `$` (like `$SYS/...`) are the server's: a filter starting with a wildcard never
//! matches them [MQTT-4.7.2-1].

use std::fmt;

/// Why a topic name or filter is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// [MQTT-4.7.3-1] Topic names and filters are at least one character long.
    #[error("[MQTT-4.7.3-1] empty")]
    Empty,
    /// [MQTT-4.7.3-2] No U+0000.
    #[error("[MQTT-4.7.3-2] contains U+0000")]
    NullCharacter,
    /// [MQTT-3.3.2-2] Topic names carry no wildcards.
    #[error("[MQTT-3.3.2-2] wildcard in a topic name")]
    WildcardInName,
    /// [MQTT-4.7.1-1] `#` must be alone in the last level.
    #[error("[MQTT-4.7.1-1] '#' is not alone in the last level")]
    MisplacedMultiLevelWildcard,
    /// [MQTT-4.7.1-2] `+` must occupy a whole level.
    #[error("[MQTT-4.7.1-2] '+' does not occupy a whole level")]
    MisplacedSingleLevelWildcard,
    /// [MQTT-4.8.2-1] A share name is at least one character long.
    #[error("[MQTT-4.8.2-1] empty share name")]
    EmptyShareName,
    /// [MQTT-4.8.2-2] A share name holds no `/`, `+` or `#`.
    #[error("[MQTT-4.8.2-2] share name contains '+' or '#'")]
    InvalidShareName,
    /// [MQTT-4.8.2-2] `$share/{name}` is followed by `/` and a topic filter.
    #[error("[MQTT-4.8.2-2] shared subscription without a topic filter")]
    MissingSharedFilter,
}

/// The prefix of a shared subscription filter.
pub const SHARE_PREFIX: &str = "$share/";

/// Checks a topic name: non-empty, no wildcards, no U+0000 [MQTT-4.7.3-1], [MQTT-3.3.2-2], [MQTT-4.7.3-2].
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::Empty);
    }
    for b in name.bytes() {
        match b {
            b'+' | b'#' => return Err(TopicError::WildcardInName),
            0 => return Err(TopicError::NullCharacter),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a topic filter, including a `$share/{group}/{filter}` one.
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    match parse_shared(filter) {
        Some(shared) => shared.map(|_| ()),
        None => validate_plain_filter(filter),
    }
}

/// Checks a topic filter that is not a shared subscription.
fn validate_plain_filter(filter: &str) -> Result<(), TopicError> {
    if filter.is_empty() {
        return Err(TopicError::Empty);
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('\0') {
            return Err(TopicError::NullCharacter);
        }
        if level.contains('#') && (level.len() != 1 || levels.peek().is_some()) {
            return Err(TopicError::MisplacedMultiLevelWildcard);
        }
        if level.contains('+') && level.len() != 1 {
            return Err(TopicError::MisplacedSingleLevelWildcard);
        }
    }
    Ok(())
}

/// A shared subscription: messages matching `filter` go to one member of `group` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    /// The share name.
    pub group: &'a str,
    /// The topic filter after the share name.
    pub filter: &'a str,
}

impl fmt::Display for SharedFilter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SHARE_PREFIX}{}/{}", self.group, self.filter)
    }
}

/// Parses `$share/{group}/{filter}`: `None` if `filter` is not a shared subscription, the parts (validated)
/// otherwise.
pub fn parse_shared(filter: &str) -> Option<Result<SharedFilter<'_>, TopicError>> {
    let rest = filter.strip_prefix(SHARE_PREFIX)?;
    Some((|| {
        let (group, inner) = match rest.split_once('/') {
            Some(parts) => parts,
            None if rest.is_empty() => return Err(TopicError::EmptyShareName),
            None => return Err(TopicError::MissingSharedFilter),
        };
        if group.is_empty() {
            return Err(TopicError::EmptyShareName);
        }
        if group.contains(['+', '#']) {
            return Err(TopicError::InvalidShareName);
        }
        if inner.is_empty() {
            return Err(TopicError::MissingSharedFilter);
        }
        validate_plain_filter(inner)?;
        Ok(SharedFilter { group, filter: inner })
    })())
}

/// Whether a topic filter holds a wildcard.
pub fn has_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

/// Whether a topic name is a server topic (starts with `$`, like `$SYS/broker/uptime`).
pub fn is_system_topic(name: &str) -> bool {
    name.starts_with('$')
}

/// Whether the (valid, non-shared) topic filter `filter` matches the topic name `name`.
///
/// `#` matches its parent level too (`home/#` matches `home`), `+` matches one level including an empty one,
/// and a filter starting with a wildcard does not match a name starting with `$` [MQTT-4.7.2-1].
pub fn matches(filter: &str, name: &str) -> bool {
    if is_system_topic(name) && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut names = name.split('/');
    for level in filter.split('/') {
        match level {
            "#" => return true,
            "+" => {
                if names.next().is_none() {
                    return false;
                }
            }
            exact => {
                if names.next() != Some(exact) {
                    return false;
                }
            }
        }
    }
    names.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_table() {
        // [MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.2-1], [MQTT-4.7.3-4] and the examples of 4.7.1.
        let cases: &[(&str, &str, bool)] = &[
            // '+' matches exactly one level, an empty one too.
            ("home/+/temperature", "home/livingroom/temperature", true),
            ("home/+/temperature", "home/a/b/temperature", false),
            ("home/+/temperature", "home//temperature", true),
            ("home/+/temperature", "home/temperature", false),
            ("+", "a", true),
            ("+", "a/b", false),
            ("+", "/", false),
            ("+/+", "/", true),
            ("/+", "/a", true),
            ("/+", "a", false),
            ("+/+/+", "a/b/c", true),
            ("+/b/+", "a/b/c", true),
            ("+/b/+", "a/x/c", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("sport/+/player1", "sport/tennis/player1", true),
            // '#' matches the parent level and any number of levels below it.
            ("home/#", "home", true),
            ("home/#", "home/", true),
            ("home/#", "home/a/b/c", true),
            ("home/#", "homes/a", false),
            ("home/#", "hom", false),
            ("#", "home/a", true),
            ("#", "/", true),
            ("#", "a", true),
            ("/#", "/a/b", true),
            ("/#", "a", false),
            ("a/+/#", "a/b", true),
            ("a/+/#", "a", false),
            ("a/+/#", "a/b/c/d", true),
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
            ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
            ("sport/#", "sport", true),
            // Topics starting with '$' are not matched by a filter starting with a wildcard.
            ("#", "$SYS/broker/uptime", false),
            ("#", "$SYS", false),
            ("+/broker/uptime", "$SYS/broker/uptime", false),
            ("+", "$x", false),
            ("$SYS/#", "$SYS/broker/uptime", true),
            ("$SYS/#", "$SYS", true),
            ("$SYS/+/uptime", "$SYS/broker/uptime", true),
            ("$SYS/broker/uptime", "$SYS/broker/uptime", true),
            ("a/$SYS/#", "a/$SYS/x", true),
            ("+/$x", "a/$x", true),
            // Exact levels compare byte for byte: no normalization, case matters, empty levels count.
            ("a/b", "a/b", true),
            ("a/b", "a/B", false),
            ("a/b", "a/b/", false),
            ("a/b/", "a/b/", true),
            ("a//b", "a//b", true),
            ("a//b", "a/b", false),
            ("/", "/", true),
            ("/a", "a", false),
            ("é/✓", "é/✓", true),
            ("e\u{301}", "é", false),
        ];
        for (filter, name, expected) in cases {
            assert_eq!(validate_topic_filter(filter), Ok(()), "{filter:?} is a valid filter");
            assert_eq!(validate_topic_name(name), Ok(()), "{name:?} is a valid name");
            assert_eq!(matches(filter, name), *expected, "filter {filter:?} name {name:?}");
        }
    }

    #[test]
    fn filter_validation_table() {
        let cases: &[(&str, Result<(), TopicError>)] = &[
            ("sport/tennis/#", Ok(())),
            ("#", Ok(())),
            ("+", Ok(())),
            ("+/+", Ok(())),
            ("+/tennis/#", Ok(())),
            ("//", Ok(())),
            ("/", Ok(())),
            ("$SYS/#", Ok(())),
            ("$share", Ok(())),
            ("$sharex/g/a", Ok(())),
            ("", Err(TopicError::Empty)),
            ("sport/tennis#", Err(TopicError::MisplacedMultiLevelWildcard)),
            ("sport/#/ranking", Err(TopicError::MisplacedMultiLevelWildcard)),
            ("#/", Err(TopicError::MisplacedMultiLevelWildcard)),
            ("##", Err(TopicError::MisplacedMultiLevelWildcard)),
            ("sport+", Err(TopicError::MisplacedSingleLevelWildcard)),
            ("++", Err(TopicError::MisplacedSingleLevelWildcard)),
            ("a/+b/c", Err(TopicError::MisplacedSingleLevelWildcard)),
            ("a\0b", Err(TopicError::NullCharacter)),
            ("$share/g/a/+", Ok(())),
            ("$share/g/#", Ok(())),
            ("$share/g//", Ok(())),
            ("$share/g/$SYS/#", Ok(())),
            ("$share//a", Err(TopicError::EmptyShareName)),
            ("$share/", Err(TopicError::EmptyShareName)),
            ("$share/g+/a", Err(TopicError::InvalidShareName)),
            ("$share/#/a", Err(TopicError::InvalidShareName)),
            ("$share/g", Err(TopicError::MissingSharedFilter)),
            ("$share/g/", Err(TopicError::MissingSharedFilter)),
            ("$share/g/a#", Err(TopicError::MisplacedMultiLevelWildcard)),
        ];
        for (filter, expected) in cases {
            assert_eq!(validate_topic_filter(filter), *expected, "{filter:?}");
        }
        let names: &[(&str, Result<(), TopicError>)] = &[
            ("a", Ok(())),
            ("/", Ok(())),
            ("$SYS/x", Ok(())),
            (" ", Ok(())),
            ("a/+", Err(TopicError::WildcardInName)),
            ("a/#", Err(TopicError::WildcardInName)),
            ("a+b", Err(TopicError::WildcardInName)),
            ("", Err(TopicError::Empty)),
            ("a\0", Err(TopicError::NullCharacter)),
        ];
        for (name, expected) in names {
            assert_eq!(validate_topic_name(name), *expected, "{name:?}");
        }
    }

    #[test]
    fn shared_filter_parts() {
        // [MQTT-4.8.2-1], [MQTT-4.8.2-2]: $share/{ShareName}/{filter}.
        let shared = parse_shared("$share/workers/jobs/#").and_then(Result::ok);
        assert_eq!(shared, Some(SharedFilter { group: "workers", filter: "jobs/#" }));
        assert_eq!(shared.map(|s| s.to_string()), Some("$share/workers/jobs/#".to_owned()));
        let nested = parse_shared("$share/g/$share/h/x").and_then(Result::ok);
        assert_eq!(nested, Some(SharedFilter { group: "g", filter: "$share/h/x" }));
        // Found by fuzzing: after the share name comes a plain filter, even one starting with "$share/".
        let inner = parse_shared("$share/;/$share/+//v").and_then(Result::ok);
        assert_eq!(inner, Some(SharedFilter { group: ";", filter: "$share/+//v" }));
        assert_eq!(validate_topic_filter("$share/;/$share/+//v"), Ok(()));
        assert_eq!(parse_shared("$share/g/+").and_then(Result::ok).map(|s| s.filter), Some("+"));
        assert_eq!(parse_shared("jobs/#"), None);
        assert_eq!(parse_shared("$share"), None);
        assert_eq!(parse_shared("$SHARE/g/x"), None);
        assert_eq!(parse_shared("$share/g"), Some(Err(TopicError::MissingSharedFilter)));
    }

    #[test]
    fn wildcards_and_system_topics() {
        assert!(has_wildcard("a/+/b"));
        assert!(has_wildcard("#"));
        assert!(!has_wildcard("a/b"));
        assert!(is_system_topic("$SYS/broker"));
        assert!(!is_system_topic("SYS/$x"));
    }
}
