//! Reading an ACL file, line by line, as Mosquitto 2.0 reads it — but refusing what it would misread.
//!
//! ```text
//! # comment
//! topic [read|write|readwrite|deny] TOPIC      (no access keyword: readwrite)
//! user NAME                                    (the topic lines after it are NAME's)
//! pattern [read|write|readwrite|deny] TOPIC    (for every client; %c and %u as whole levels)
//! ```
//! `topic` lines before the first `user` line are the anonymous clients'. A topic may hold spaces: it is
//! the rest of the line. Stricter than Mosquitto: `topic read` alone (an access keyword and no topic) and
//! `%c`/`%u` inside a longer level are errors, since Mosquitto 2.0 would silently take them literally.

use std::path::Path;

use super::filter::{Filter, FilterError};
use super::{AclError, AclFile, AclProblem, RuleSet};
use crate::config::Location;

/// What a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Read,
    Write,
    ReadWrite,
    Deny,
}

pub(super) fn parse(text: &str, path: &Path) -> Result<AclFile, AclError> {
    let mut acl = AclFile::default();
    let mut user: Option<String> = None;
    for (index, line) in text.split('\n').enumerate() {
        let at = || Location { file: path.to_path_buf(), line: index + 1 };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keyword, rest) = split_word(line);
        let fail = |problem| AclError::Line { at: at(), problem };
        match keyword {
            "user" => {
                if rest.is_empty() {
                    return Err(fail(AclProblem::MissingUser));
                }
                user = Some(rest.to_owned());
            }
            "topic" | "pattern" => {
                let pattern = keyword == "pattern";
                let (grant, topic) = access_and_topic(rest, pattern).map_err(fail)?;
                let filter = Filter::compile(topic, pattern).map_err(|e| {
                    fail(match e {
                        FilterError::Invalid(error) => {
                            AclProblem::InvalidTopic { topic: topic.into(), error }
                        }
                        FilterError::PartialSubstitution => AclProblem::PartialSubstitution(topic.into()),
                    })
                })?;
                let rules = match (&user, pattern) {
                    (_, true) => &mut acl.patterns,
                    (None, false) => &mut acl.anonymous,
                    (Some(name), false) => acl.users.entry(name.as_str().into()).or_default(),
                };
                add(rules, grant, filter);
            }
            other => return Err(fail(AclProblem::UnknownKeyword(other.to_owned()))),
        }
    }
    Ok(acl)
}

/// `[ACCESS] TOPIC` → what is granted on which topic.
fn access_and_topic(rest: &str, pattern: bool) -> Result<(Grant, &str), AclProblem> {
    let keyword = if pattern { "pattern" } else { "topic" };
    let (first, topic) = split_word(rest);
    let access = match first {
        "read" => Some(Grant::Read),
        "write" => Some(Grant::Write),
        "readwrite" => Some(Grant::ReadWrite),
        "deny" => Some(Grant::Deny),
        _ => None,
    };
    match (access, topic.is_empty()) {
        (_, _) if first.is_empty() => Err(AclProblem::MissingTopic(keyword)),
        (Some(_), true) => Err(AclProblem::MissingTopic(keyword)),
        (Some(grant), false) => Ok((grant, topic)),
        (None, true) => Ok((Grant::ReadWrite, first)),
        (None, false) => Err(AclProblem::InvalidAccess(first.to_owned())),
    }
}

fn add(rules: &mut RuleSet, grant: Grant, filter: Filter) {
    match grant {
        Grant::Deny => rules.deny.push(filter),
        Grant::Read => rules.read.push(filter),
        Grant::Write => rules.write.push(filter),
        Grant::ReadWrite => {
            rules.read.push(filter.clone());
            rules.write.push(filter);
        }
    }
}

/// The first word of `text` and the (trimmed) rest.
fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    }
}
