//! Who may connect ([`Authenticator`]) and what they may do ([`Authorizer`]).
//!
//! The broker calls these traits so password files, ACL files, or later HTTP and JWT back-ends plug in the
//! same way. Built-in rules come first and cannot be overridden: nobody publishes to `$SYS/...` or
//! `$share/...`.
//!
//! # Layout
//! - [`acl`]: mosquitto-compatible ACL files
//! - [`cache`]: a connection's memory of authorization answers, until the next reload
//! - [`enhanced`]: MQTT 5.0 enhanced authentication (AUTH exchanges), [`scram`]: SCRAM-SHA-512
//! - [`files`]: password file + ACL file security per listener
//! - [`password`]: mosquitto-compatible password files and the hashes they hold

pub mod acl;
pub mod cache;
pub mod enhanced;
pub mod files;
pub mod password;
pub mod scram;

use std::fmt::Debug;
use std::net::SocketAddr;

use tern_codec::ReasonCode;

/// What a CONNECT presents.
#[derive(Debug, Clone, Copy)]
pub struct ConnectInfo<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
    pub peer: Option<SocketAddr>,
}

/// The authenticator's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    Allow,
    /// Refuse with this reason (v5 0x86 bad user name or password, 0x87 not authorized; mapped to the 3.x
    /// CONNACK return codes 4 and 5).
    Deny(ReasonCode),
}

/// Decides whether a client may connect. Called off the async runtime (password hashing is slow on
/// purpose), so implementations may block.
pub trait Authenticator: Send + Sync + Debug {
    fn authenticate(&self, info: &ConnectInfo<'_>) -> AuthDecision;
}

/// An authenticated client, as authorization sees it.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a str>,
}

/// Decides what a connected client may do.
///
/// Answers must depend only on the client and the topic: each connection remembers them (see [`cache`])
/// until the next reload of the configuration, which makes every remembered answer stale at once. An
/// authorizer whose rules change by themselves (a database, an HTTP back-end) should have the broker
/// reloaded when they do, or its changes reach connected clients only as their cache turns over.
pub trait Authorizer: Send + Sync + Debug {
    /// May the client publish to `topic`?
    fn can_publish(&self, client: &ClientInfo<'_>, topic: &str) -> bool;
    /// May the client subscribe to `filter` at all (some message it matches may be readable)?
    fn can_subscribe(&self, client: &ClientInfo<'_>, filter: &str) -> bool;
    /// May the client receive a message published to `topic`? Checked for every delivery (the answer
    /// remembered per connection, as above).
    fn can_receive(&self, client: &ClientInfo<'_>, topic: &str) -> bool;
}

/// Accepts anonymous clients if allowed, and any client with a user name (no password file configured).
#[derive(Debug, Clone, Copy)]
pub struct AllowAnonymous {
    pub allow_anonymous: bool,
}

impl Authenticator for AllowAnonymous {
    fn authenticate(&self, info: &ConnectInfo<'_>) -> AuthDecision {
        if info.username.is_none() && !self.allow_anonymous {
            AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED)
        } else {
            AuthDecision::Allow
        }
    }
}

/// Allows everything (no ACL configured).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn can_publish(&self, _: &ClientInfo<'_>, _: &str) -> bool {
        true
    }
    fn can_subscribe(&self, _: &ClientInfo<'_>, _: &str) -> bool {
        true
    }
    fn can_receive(&self, _: &ClientInfo<'_>, _: &str) -> bool {
        true
    }
}

/// The built-in rule: clients never publish to `$SYS/...` (the broker's own topics) or `$share/...`.
pub fn is_reserved_for_publish(topic: &str) -> bool {
    topic.starts_with("$SYS/") || topic == "$SYS" || topic.starts_with("$share/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_and_share_topics_are_never_publishable() {
        assert!(is_reserved_for_publish("$SYS/broker/uptime"));
        assert!(is_reserved_for_publish("$share/g/t"));
        assert!(!is_reserved_for_publish("$SYSTEM/x"));
        assert!(!is_reserved_for_publish("home/temp"));
    }

    #[test]
    fn anonymous_is_refused_when_not_allowed() {
        let info = ConnectInfo { client_id: "c", username: None, password: None, peer: None };
        assert_eq!(
            AllowAnonymous { allow_anonymous: false }.authenticate(&info),
            AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED)
        );
        assert_eq!(AllowAnonymous { allow_anonymous: true }.authenticate(&info), AuthDecision::Allow);
    }
}
