//! The limits in force, and what a reload may change of the configuration.
//!
//! `BrokerShared::config` is the configuration the broker started with. The `[limits]` a reload can change
//! without breaking a promise live here, behind an [`ArcSwap`]; the rest is compared with the new file and
//! reported as needing a restart, never silently ignored.
//!
//! When each reloaded limit applies (the table operators read is in docs/configuration.md):
//! - at every check, from the next packet or message: `message_size_limit`, `max_topic_levels`,
//!   `max_subscriptions_per_client`, `max_inflight_bytes`, the queue limits (through the one
//!   [`SharedQueueLimits`] handle every session holds), `persistent_client_expiration`;
//! - to new connections only: what CONNACK announces or a connection sets up once (`max_packet_size`,
//!   `max_inflight_messages`, `max_keepalive`, `max_client_id_length`, the `*_available` flags, the publish
//!   rates): an open connection keeps the promises its CONNACK made;
//! - at a restart: `max_connections`, `max_connection_rate`, `memory_high_water`,
//!   `shared_subscription_policy`, `max_qos`, `max_topic_alias` (held by semaphores, the router and the
//!   listeners), and the settings [`needing_restart`] lists.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::config::{Config, LimitsConfig, ListenerConfig};
use crate::session::{QueueLimits, SharedQueueLimits};

/// The `[limits]` in force.
#[derive(Debug)]
pub struct LiveLimits {
    current: ArcSwap<LimitsConfig>,
    queue: SharedQueueLimits,
}

impl LiveLimits {
    pub fn new(limits: &LimitsConfig) -> Self {
        LiveLimits {
            current: ArcSwap::from_pointee(limits.clone()),
            queue: SharedQueueLimits::new(queue_limits(limits)),
        }
    }

    /// The limits in force now, for a check made now.
    pub fn current(&self) -> Guard<Arc<LimitsConfig>> {
        self.current.load()
    }

    /// The limits in force now, to keep: what a connection announced in its CONNACK.
    pub fn snapshot(&self) -> Arc<LimitsConfig> {
        self.current.load_full()
    }

    /// The queue limits every session reads.
    pub fn queue(&self) -> SharedQueueLimits {
        self.queue.clone()
    }

    /// Puts `new` in force, except the limits only a restart changes: those keep the values of `started`
    /// (the start-up configuration).
    pub fn reload(&self, started: &LimitsConfig, new: &LimitsConfig) {
        let mut limits = new.clone();
        limits.max_connections = started.max_connections;
        limits.max_connection_rate = started.max_connection_rate;
        limits.memory_high_water = started.memory_high_water;
        limits.shared_subscription_policy = started.shared_subscription_policy;
        limits.max_qos = started.max_qos;
        limits.max_topic_alias = started.max_topic_alias;
        self.queue.set(queue_limits(&limits));
        self.current.store(Arc::new(limits));
    }
}

/// A session's queue limits under `limits`.
fn queue_limits(l: &LimitsConfig) -> QueueLimits {
    QueueLimits {
        // 0 is no limit, as in Mosquitto (and documented for `max_queued_messages`).
        max_messages: if l.max_queued_messages == 0 { usize::MAX } else { l.max_queued_messages },
        max_bytes: l.max_queued_bytes,
        max_stored: if l.max_stored_messages == 0 { usize::MAX } else { l.max_stored_messages },
        queue_qos0_offline: l.queue_qos0_messages,
    }
}

/// The settings that differ between `started` and `new` and that only a restart puts in force (listeners
/// are compared line by line: the caller has checked that their addresses are the same).
pub fn needing_restart(started: &Config, new: &Config) -> Vec<String> {
    let mut changed = Vec::new();
    let (a, b) = (&started.limits, &new.limits);
    let mut limit = |name: &str, differs: bool| {
        if differs {
            changed.push(name.to_owned());
        }
    };
    limit("max_connections", a.max_connections != b.max_connections);
    limit("max_connection_rate", a.max_connection_rate != b.max_connection_rate);
    limit("memory_high_water", a.memory_high_water != b.memory_high_water);
    limit("shared_subscription_policy", a.shared_subscription_policy != b.shared_subscription_policy);
    limit("max_qos", a.max_qos != b.max_qos);
    limit("max_topic_alias", a.max_topic_alias != b.max_topic_alias);
    let sections = [
        ("[mqtt]", started.mqtt != new.mqtt),
        ("[persistence]", started.persistence != new.persistence),
        ("[log]", started.log != new.log),
        ("[http]", started.http != new.http),
        ("sys_interval", started.sys_interval != new.sys_interval),
        ("pid_file", started.pid_file != new.pid_file),
        ("user", started.user != new.user),
    ];
    changed.extend(sections.into_iter().filter(|(_, differs)| *differs).map(|(name, _)| name.to_owned()));
    for (old, new) in started.effective_listeners().iter().zip(&new.effective_listeners()) {
        changed
            .extend(listener_changes(old, new).into_iter().map(|name| format!("{name} (port {})", old.port)));
    }
    changed
}

/// A listener's settings held by its open socket and its accepted connections.
fn listener_changes(old: &ListenerConfig, new: &ListenerConfig) -> Vec<&'static str> {
    let identity =
        |l: &ListenerConfig| l.tls.as_ref().map(|t| (t.use_identity_as_username, t.use_subject_as_username));
    [
        ("max_connections", old.max_connections != new.max_connections),
        ("mount_point", old.mount_point != new.mount_point),
        ("max_qos", old.max_qos != new.max_qos),
        ("max_topic_alias", old.max_topic_alias != new.max_topic_alias),
        ("use_username_as_clientid", old.use_username_as_clientid != new.use_username_as_clientid),
        ("use_identity_as_username", identity(old) != identity(new)),
        ("socket_domain", old.socket_domain != new.socket_domain),
    ]
    .into_iter()
    .filter(|(_, differs)| *differs)
    .map(|(name, _)| name)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_changes_queue_limits_for_every_holder_of_the_handle() {
        let started = LimitsConfig::default();
        let live = LiveLimits::new(&started);
        let held = live.queue();
        let new = LimitsConfig { max_queued_messages: 3, max_queued_bytes: 100, ..started.clone() };
        live.reload(&started, &new);
        assert_eq!(
            held.get(),
            QueueLimits { max_messages: 3, max_bytes: 100, queue_qos0_offline: false, max_stored: 100_000 }
        );
        assert_eq!(live.current().max_queued_messages, 3);
    }

    #[test]
    fn limits_that_need_a_restart_keep_their_start_up_values_and_are_named() {
        let started = Config::default();
        let mut new = Config::default();
        new.limits.max_connections = Some(5);
        new.limits.max_qos = 1;
        new.limits.message_size_limit = 10;
        let live = LiveLimits::new(&started.limits);
        live.reload(&started.limits, &new.limits);
        assert_eq!(live.current().max_connections, None);
        assert_eq!(live.current().max_qos, 2);
        assert_eq!(live.current().message_size_limit, 10);
        assert_eq!(needing_restart(&started, &new), ["max_connections", "max_qos"]);
    }

    #[test]
    fn a_listener_setting_held_by_the_socket_needs_a_restart() {
        let mut started = Config::default();
        started.listeners.push(ListenerConfig { port: 1883, ..ListenerConfig::default() });
        let mut new = started.clone();
        new.listeners[0].max_connections = Some(1);
        new.listeners[0].mount_point = Some("m/".into());
        assert_eq!(
            needing_restart(&started, &new),
            ["max_connections (port 1883)", "mount_point (port 1883)"]
        );
        assert!(needing_restart(&started, &started).is_empty());
    }
}
