//! Mosquitto's ACL file (`acl_file`): which client may read and write which topics.
//!
//! Rules, as in Mosquitto 2.0:
//! - `topic [read|write|readwrite|deny] TOPIC` lines belong to the `user NAME` line above them; those
//!   before the first `user` line apply to anonymous clients (no user name). A client whose user name
//!   has no block gets no `topic` rules at all.
//! - `pattern [access] TOPIC` lines apply to every client, `%c` standing for its client id and `%u` for
//!   its user name (a `%u` pattern never applies to an anonymous client). A client whose id or user name
//!   holds `+` or `#` is granted nothing by patterns, so it cannot widen them (CVE-2017-7650).
//! - A matching `deny` rule wins over any grant, whether topic or pattern (Mosquitto's manual says so;
//!   its code lets a user's grant win over a denying pattern — Tern follows the manual).
//! - `#` and `+` never grant a `$` topic: `$SYS/#` must be written out [MQTT-4.7.2-1].
//! - Built in, whatever the file says: nobody publishes to `$SYS/...` or `$share/...`.
//! - No rule matching means no access.
//!
//! SUBSCRIBE is checked against the filter: it is granted when some topic it matches could be read, i.e.
//! a read rule intersects it and no single deny rule covers that intersection; each message delivered
//! through it is then checked with [`Access::Read`], so a `#` subscriber only receives what it may read.
//! (Mosquitto 2.0 grants every SUBSCRIBE and only checks deliveries.)

mod filter;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use filter::{covers, intersect, parts, Filter, Identity};
use tern_codec::topic::parse_shared;

use crate::config::Location;

/// What a client wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Receive a message published to the topic name.
    Read,
    /// Publish to the topic name (also: a will message, checked when it is sent).
    Write,
    /// Subscribe with the topic filter (plain or `$share/{group}/{filter}`).
    Subscribe,
}

/// A parsed ACL file, ready for checks.
#[derive(Debug, Clone, Default)]
pub struct AclFile {
    anonymous: RuleSet,
    users: HashMap<Box<str>, RuleSet>,
    patterns: RuleSet,
}

/// Rules of one kind (a user's `topic` lines, or the `pattern` lines), split by what they grant.
#[derive(Debug, Clone, Default)]
struct RuleSet {
    deny: Vec<Filter>,
    read: Vec<Filter>,
    write: Vec<Filter>,
}

/// An ACL file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{at}: {problem}")]
    Line { at: Location, problem: AclProblem },
}

/// What is wrong with a line of an ACL file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclProblem {
    #[error("not valid UTF-8")]
    NotUtf8,
    #[error("unknown keyword `{0}`: expected topic, pattern or user")]
    UnknownKeyword(String),
    #[error("`{0}` needs a topic")]
    MissingTopic(&'static str),
    #[error("invalid access `{0}`: expected read, write, readwrite or deny before the topic")]
    InvalidAccess(String),
    #[error("invalid topic filter `{topic}`: {error}")]
    InvalidTopic { topic: String, error: tern_codec::topic::TopicError },
    #[error("`%c` and `%u` must be a whole topic level, in `{0}`")]
    PartialSubstitution(String),
    #[error("`user` needs a user name")]
    MissingUser,
}

impl AclFile {
    /// Parses the text of an ACL file; `path` names it in errors.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<AclFile, AclError> {
        parse::parse(text, path.as_ref())
    }

    /// Reads and parses an ACL file.
    pub fn load(path: impl AsRef<Path>) -> Result<AclFile, AclError> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| AclError::Read { path: path.to_path_buf(), source })?;
        let text = std::str::from_utf8(&bytes).map_err(|e| AclError::Line {
            at: Location {
                file: path.to_path_buf(),
                line: 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count(),
            },
            problem: AclProblem::NotUtf8,
        })?;
        Self::parse(text, path)
    }

    /// Whether the client `client_id`, logged in as `username` (`None`: anonymous), may have `access` to
    /// `topic` — a topic name for [`Access::Read`]/[`Access::Write`], a topic filter for
    /// [`Access::Subscribe`].
    pub fn check(&self, client_id: &str, username: Option<&str>, topic: &str, access: Access) -> bool {
        if topic.is_empty() || builtin_denied(topic, access) {
            return false;
        }
        let id = Identity { client_id, username };
        // Mosquitto: a user name without a `user` block has no topic rules, only patterns.
        let own = match username {
            Some(name) => self.users.get(name),
            None => Some(&self.anonymous),
        };
        // An id or user name holding a wildcard must not be substituted into a granting pattern.
        let tainted = [Some(client_id), username].into_iter().flatten().any(|s| s.contains(['+', '#']));
        let patterns = (!tainted).then_some(&self.patterns);
        if access == Access::Subscribe {
            return self.may_subscribe(id, own, patterns, topic);
        }
        let denied = own.is_some_and(|rules| rules.deny.iter().any(|f| f.matches(topic, id)))
            || self.patterns.deny.iter().any(|f| f.matches(topic, id));
        !denied
            && own
                .into_iter()
                .chain(patterns)
                .any(|rules| rules.grants(access).iter().any(|f| f.matches(topic, id)))
    }

    /// SUBSCRIBE: some topic matching `filter` is readable — a read rule intersects it and no single
    /// deny rule covers that intersection. `patterns` is `None` when patterns may not grant.
    fn may_subscribe(
        &self,
        id: Identity<'_>,
        own: Option<&RuleSet>,
        patterns: Option<&RuleSet>,
        filter: &str,
    ) -> bool {
        let filter = match parse_shared(filter) {
            Some(Ok(shared)) => shared.filter,
            _ => filter,
        };
        let wanted = parts(filter);
        let denies: Vec<_> = own
            .into_iter()
            .chain([&self.patterns])
            .flat_map(|rules| &rules.deny)
            .filter_map(|deny| deny.expand(id))
            .collect();
        let readable = |grant: &Filter| {
            let both = grant.expand(id).and_then(|g| intersect(&g, &wanted));
            both.is_some_and(|both| !denies.iter().any(|deny| covers(deny, &both)))
        };
        own.into_iter().chain(patterns).any(|rules| rules.read.iter().any(readable))
    }
}

impl RuleSet {
    /// The rules granting `access` (SUBSCRIBE needs read access).
    fn grants(&self, access: Access) -> &[Filter] {
        match access {
            Access::Write => &self.write,
            Access::Read | Access::Subscribe => &self.read,
        }
    }
}

/// The rules no ACL can lift: publishing to `$SYS/...` (the broker's own tree) or to `$share/...`
/// (shared subscriptions are subscribed to, never published to) is refused, and so is reading a
/// `$share/...` topic. The broker applies this even without an ACL file.
pub fn builtin_denied(topic: &str, access: Access) -> bool {
    let first = topic.split('/').next().unwrap_or_default();
    match access {
        Access::Write => first == "$SYS" || first == "$share",
        Access::Read => first == "$share",
        Access::Subscribe => false,
    }
}
