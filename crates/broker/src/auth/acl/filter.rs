//! ACL topic filters, compiled into levels once so that a check allocates nothing.
//!
//! A filter is matched against a topic name (PUBLISH, delivery) level by level, without allocating. For
//! SUBSCRIBE a filter is compared with another filter: their *intersection* is the set of topics both
//! match, and a deny rule *covers* a filter when it matches every topic the filter does.
//!
//! `$` topics: a filter whose first level is not a literal starting with `$` never matches a topic
//! starting with `$` [MQTT-4.7.2-1] — so `#` never grants `$SYS/...`, and neither does `%c/#` for a
//! client named `$SYS`.

use tern_codec::topic::{validate_topic_filter, TopicError};

/// One level of a compiled ACL filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Level {
    Literal(Box<str>),
    /// `+`
    Plus,
    /// `#` (always last)
    Hash,
    /// `%c` in a `pattern` line: the client id.
    ClientId,
    /// `%u` in a `pattern` line: the user name.
    Username,
}

/// Who is asking: what `%c` and `%u` stand for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Identity<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a str>,
}

/// A compiled ACL topic filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Filter {
    levels: Box<[Level]>,
    /// The first level is a literal starting with `$`: the only filters that match `$` topics.
    dollar: bool,
}

/// Why a topic in an ACL line cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FilterError {
    Invalid(TopicError),
    /// `%c`/`%u` inside a level with other text (Mosquitto 2.0 would match it literally).
    PartialSubstitution,
}

impl Filter {
    /// Compiles `text`; with `pattern`, whole levels `%c` and `%u` are substitutions.
    pub fn compile(text: &str, pattern: bool) -> Result<Filter, FilterError> {
        validate_topic_filter(text).map_err(FilterError::Invalid)?;
        let levels = text
            .split('/')
            .map(|level| match level {
                "+" => Ok(Level::Plus),
                "#" => Ok(Level::Hash),
                "%c" if pattern => Ok(Level::ClientId),
                "%u" if pattern => Ok(Level::Username),
                _ if pattern && (level.contains("%c") || level.contains("%u")) => {
                    Err(FilterError::PartialSubstitution)
                }
                literal => Ok(Level::Literal(literal.into())),
            })
            .collect::<Result<Box<[Level]>, _>>()?;
        let dollar = matches!(levels.first(), Some(Level::Literal(first)) if first.starts_with('$'));
        Ok(Filter { levels, dollar })
    }

    /// Whether the topic name `topic` matches, `%c`/`%u` standing for `id` (a filter with `%u` matches
    /// nothing for a client without a user name). Allocation-free.
    pub fn matches(&self, topic: &str, id: Identity<'_>) -> bool {
        if topic.starts_with('$') && !self.dollar {
            return false;
        }
        // The levels of `topic` not matched yet; `None` once all are (`Some("")` is one empty level).
        let mut rest = Some(topic);
        for level in self.levels.iter() {
            let text = match level {
                Level::Hash => return true,
                Level::Plus => {
                    let Some(r) = rest else { return false };
                    rest = r.split_once('/').map(|(_, tail)| tail);
                    continue;
                }
                Level::Literal(text) => text,
                Level::ClientId => id.client_id,
                Level::Username => match id.username {
                    Some(name) => name,
                    None => return false,
                },
            };
            // A client id or user name holding `/` spans several levels, as Mosquitto's textual
            // substitution does: compare the text, then require a level boundary.
            let Some(after) = rest.and_then(|r| r.strip_prefix(text)) else { return false };
            rest = match after.strip_prefix('/') {
                _ if after.is_empty() => None,
                Some(tail) => Some(tail),
                None => return false,
            };
        }
        rest.is_none()
    }

    /// The filter with `%c`/`%u` replaced by `id`, as parts comparable with a subscription's filter;
    /// `None` if it can match nothing for `id`.
    pub fn expand<'a>(&'a self, id: Identity<'a>) -> Option<Vec<Part<'a>>> {
        let mut parts = Vec::with_capacity(self.levels.len());
        for (index, level) in self.levels.iter().enumerate() {
            let text = match level {
                Level::Plus => {
                    parts.push(Part::Plus);
                    continue;
                }
                Level::Hash => {
                    parts.push(Part::Hash);
                    continue;
                }
                Level::Literal(text) => text,
                Level::ClientId => id.client_id,
                Level::Username => id.username?,
            };
            // A substituted first level is never a `$` literal (see `matches`).
            if index == 0 && !self.dollar && text.starts_with('$') {
                return None;
            }
            parts.extend(text.split('/').map(Part::Literal));
        }
        Some(parts)
    }
}

/// A level of a filter being compared with another filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part<'a> {
    Literal(&'a str),
    Plus,
    Hash,
}

/// A subscription's topic filter, split into parts.
pub(super) fn parts(filter: &str) -> Vec<Part<'_>> {
    filter
        .split('/')
        .map(|level| match level {
            "+" => Part::Plus,
            "#" => Part::Hash,
            literal => Part::Literal(literal),
        })
        .collect()
}

fn is_wildcard(part: Option<&Part<'_>>) -> bool {
    matches!(part, Some(Part::Plus | Part::Hash))
}

fn is_dollar(part: Option<&Part<'_>>) -> bool {
    matches!(part, Some(Part::Literal(text)) if text.starts_with('$'))
}

/// The filter matching exactly the topics both `a` and `b` match, or `None` if there are none.
pub(super) fn intersect<'a>(a: &[Part<'a>], b: &[Part<'a>]) -> Option<Vec<Part<'a>>> {
    if (is_wildcard(a.first()) && is_dollar(b.first())) || (is_wildcard(b.first()) && is_dollar(a.first())) {
        return None;
    }
    let mut both = Vec::with_capacity(a.len().max(b.len()));
    for i in 0.. {
        let part = match (a.get(i), b.get(i)) {
            (None, None) => return Some(both),
            // `#` matches whatever the other filter has left, including nothing (its parent level).
            (Some(Part::Hash), _) => return Some([both, b[i..].to_vec()].concat()),
            (_, Some(Part::Hash)) => return Some([both, a[i..].to_vec()].concat()),
            (None, _) | (_, None) => return None,
            (Some(Part::Literal(x)), Some(Part::Literal(y))) if x == y => Part::Literal(x),
            (Some(Part::Literal(_)), Some(Part::Literal(_))) => return None,
            (Some(&literal @ Part::Literal(_)), Some(Part::Plus))
            | (Some(Part::Plus), Some(&literal @ Part::Literal(_))) => literal,
            (Some(Part::Plus), Some(Part::Plus)) => Part::Plus,
        };
        both.push(part);
    }
    None
}

/// Whether every topic `x` matches is also matched by `d`.
pub(super) fn covers(d: &[Part<'_>], x: &[Part<'_>]) -> bool {
    if is_dollar(x.first()) && is_wildcard(d.first()) {
        return false;
    }
    for i in 0.. {
        match (d.get(i), x.get(i)) {
            (Some(Part::Hash), _) | (None, None) => return true,
            (None, Some(_)) | (Some(_), None) => return false,
            (Some(Part::Plus), Some(Part::Literal(_) | Part::Plus)) => {}
            (Some(Part::Plus), Some(Part::Hash)) => return false,
            (Some(Part::Literal(a)), Some(Part::Literal(b))) if a == b => {}
            (Some(Part::Literal(_)), Some(_)) => return false,
        }
    }
    false
}
