//! `$SYS`: the broker describing itself on `$SYS/broker/...` topics, named and formatted as Mosquitto 2
//! does so that existing dashboards and exporters work unchanged.
//!
//! Every `sys_interval` seconds the tree is refreshed. As in Mosquitto, the uptime is published every time
//! and every other topic only when its value changed (all of them the first time); messages are retained,
//! QoS 0, and go through the normal publish path, so retained storage and ACLs apply (clients can never
//! publish to `$SYS` themselves). Load figures are Mosquitto's exponentially damped per-minute rates over
//! 1, 5 and 15 minutes, printed with two decimals. `heap/current` and `heap/maximum` carry the process's
//! resident memory, the closest figure a Rust allocator offers without tracking every allocation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_codec::{Bytes, Publish};

use crate::broker::BrokerShared;
use crate::message::Message;
use crate::overload::resident_memory;
use crate::stats::Stats;

/// The counters that have load averages, in the order of [`LOAD_TOPICS`].
const LOAD_COUNT: usize = 9;

/// `$SYS/broker/load/{name}/{1min,5min,15min}`.
const LOAD_TOPICS: [&str; LOAD_COUNT] = [
    "messages/received",
    "messages/sent",
    "publish/dropped",
    "publish/received",
    "publish/sent",
    "bytes/received",
    "bytes/sent",
    "sockets",
    "connections",
];

/// Averaging windows of the load figures, in seconds, and their topic suffixes.
const WINDOWS: [(f64, &str); 3] = [(60.0, "1min"), (300.0, "5min"), (900.0, "15min")];

/// The broker's figures at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub uptime_secs: u64,
    /// Sessions, connected or not.
    pub clients_total: u64,
    pub clients_connected: u64,
    pub clients_maximum: u64,
    pub clients_expired: u64,
    /// Cumulative counters with load averages, in the order of [`LOAD_TOPICS`].
    pub counters: [u64; LOAD_COUNT],
    pub publish_bytes_received: u64,
    pub publish_bytes_sent: u64,
    pub retained_count: u64,
    pub subscriptions: u64,
    pub shared_subscriptions: u64,
    /// Messages held: retained plus queued for sessions, and their bytes.
    pub stored_count: u64,
    pub stored_bytes: u64,
    pub heap_current: u64,
    pub heap_maximum: u64,
}

impl Snapshot {
    /// Reads the figures of a running broker.
    pub fn of(broker: &BrokerShared) -> Snapshot {
        let s = &broker.stats;
        if let Some(resident) = resident_memory() {
            broker.memory.record(resident);
        }
        let (retained_count, retained_bytes) = {
            let retained = broker.retained.read();
            let bytes: usize = retained.iter().map(|(_, m)| m.size()).sum();
            (retained.len() as u64, bytes as u64)
        };
        let (mut queued, mut queued_bytes) = (0u64, 0u64);
        for session in broker.sessions.all() {
            let mailbox = session.mailbox.lock();
            queued += mailbox.len() as u64;
            queued_bytes += mailbox.bytes() as u64;
        }
        let clients_connected = Stats::get(&s.clients_connected);
        Snapshot {
            uptime_secs: broker.started.elapsed().as_secs(),
            clients_total: (broker.sessions.len() as u64).max(clients_connected),
            clients_connected,
            clients_maximum: Stats::get(&s.clients_maximum),
            clients_expired: Stats::get(&s.clients_expired),
            counters: [
                Stats::get(&s.messages_received),
                Stats::get(&s.messages_sent),
                Stats::get(&s.publish_dropped),
                Stats::get(&s.publish_received),
                Stats::get(&s.publish_sent),
                Stats::get(&s.bytes_received),
                Stats::get(&s.bytes_sent),
                Stats::get(&s.sockets_opened),
                Stats::get(&s.clients_total),
            ],
            publish_bytes_received: s.publish_bytes_received(),
            publish_bytes_sent: s.publish_bytes_sent(),
            retained_count,
            subscriptions: broker.router.subscription_count() as u64,
            shared_subscriptions: broker.router.shared_subscription_count() as u64,
            stored_count: retained_count + queued,
            stored_bytes: retained_bytes + queued_bytes,
            heap_current: broker.memory.resident(),
            heap_maximum: broker.memory.peak(),
        }
    }
}

/// The last sample the load figures were computed from.
#[derive(Debug, Clone)]
struct LoadState {
    at: Instant,
    counters: [u64; LOAD_COUNT],
    /// Per counter, per window.
    averages: [[f64; 3]; LOAD_COUNT],
}

/// The `$SYS` tree: what was last published, to publish changes only.
#[derive(Debug, Default)]
pub struct SysTree {
    published: HashMap<String, String>,
    load: Option<LoadState>,
}

impl SysTree {
    /// The topics and payloads to publish for `snap` taken at `now`.
    pub fn update(&mut self, snap: &Snapshot, now: Instant) -> Vec<(String, String)> {
        let mut out = vec![("$SYS/broker/uptime".to_owned(), format!("{} seconds", snap.uptime_secs))];
        let disconnected = snap.clients_total.saturating_sub(snap.clients_connected);
        let values: [(&str, u64); 21] = [
            ("clients/total", snap.clients_total),
            ("clients/inactive", disconnected),
            ("clients/disconnected", disconnected),
            ("clients/active", snap.clients_connected),
            ("clients/connected", snap.clients_connected),
            ("clients/expired", snap.clients_expired),
            ("clients/maximum", snap.clients_maximum),
            ("messages/stored", snap.stored_count),
            ("messages/received", snap.counters[0]),
            ("messages/sent", snap.counters[1]),
            ("store/messages/count", snap.stored_count),
            ("store/messages/bytes", snap.stored_bytes),
            ("subscriptions/count", snap.subscriptions),
            ("shared_subscriptions/count", snap.shared_subscriptions),
            ("retained messages/count", snap.retained_count),
            ("heap/current", snap.heap_current),
            ("heap/maximum", snap.heap_maximum),
            ("publish/messages/dropped", snap.counters[2]),
            ("publish/messages/received", snap.counters[3]),
            ("publish/messages/sent", snap.counters[4]),
            ("publish/bytes/received", snap.publish_bytes_received),
        ];
        let more: [(&str, u64); 3] = [
            ("publish/bytes/sent", snap.publish_bytes_sent),
            ("bytes/received", snap.counters[5]),
            ("bytes/sent", snap.counters[6]),
        ];
        for (name, value) in values.iter().chain(&more) {
            self.changed(&mut out, format!("$SYS/broker/{name}"), value.to_string());
        }
        self.update_load(snap, now, &mut out);
        out
    }

    /// Mosquitto's damped load: each interval's per-minute rate `r` moves an average `a` to
    /// `r + e^(-t/window) * (a - r)`.
    fn update_load(&mut self, snap: &Snapshot, now: Instant, out: &mut Vec<(String, String)>) {
        let Some(previous) = self.load.take() else {
            self.load =
                Some(LoadState { at: now, counters: snap.counters, averages: [[0.0; 3]; LOAD_COUNT] });
            return;
        };
        let elapsed = now.saturating_duration_since(previous.at).as_secs_f64();
        if elapsed <= 0.0 {
            self.load = Some(previous);
            return;
        }
        let mut averages = previous.averages;
        for (i, name) in LOAD_TOPICS.iter().enumerate() {
            let per_minute = snap.counters[i].saturating_sub(previous.counters[i]) as f64 * 60.0 / elapsed;
            for (w, (window, suffix)) in WINDOWS.iter().enumerate() {
                let damping = (-elapsed / window).exp();
                averages[i][w] = per_minute + damping * (averages[i][w] - per_minute);
                self.changed(
                    out,
                    format!("$SYS/broker/load/{name}/{suffix}"),
                    format!("{:.2}", averages[i][w]),
                );
            }
        }
        self.load = Some(LoadState { at: now, counters: snap.counters, averages });
    }

    fn changed(&mut self, out: &mut Vec<(String, String)>, topic: String, value: String) {
        if self.published.get(&topic) != Some(&value) {
            self.published.insert(topic.clone(), value.clone());
            out.push((topic, value));
        }
    }
}

/// The static `$SYS/broker/version` payload.
pub fn version_payload() -> String {
    format!("tern version {}", env!("CARGO_PKG_VERSION"))
}

/// Publishes one `$SYS` message, retained, through the normal path.
fn publish(broker: &BrokerShared, topic: String, payload: String) {
    let publish = Publish { retain: true, ..Publish::new(topic.clone(), Bytes::from(payload)) };
    let message = Message::from_publish(publish, topic.into(), None, Instant::now());
    broker.publish(Arc::new(message));
}

/// Publishes the tree every `interval` until shutdown.
pub(crate) async fn run(broker: Arc<BrokerShared>, interval: Duration) {
    publish(&broker, "$SYS/broker/version".to_owned(), version_payload());
    let mut tree = SysTree::default();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let snap = Snapshot::of(&broker);
        for (topic, payload) in tree.update(&snap, Instant::now()) {
            publish(&broker, topic, payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(out: &[(String, String)]) -> Vec<&str> {
        out.iter().map(|(t, _)| t.as_str()).collect()
    }

    fn value<'a>(out: &'a [(String, String)], topic: &str) -> Option<&'a str> {
        out.iter().find(|(t, _)| t == topic).map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_first_update_publishes_every_topic_and_later_ones_only_changes() {
        let mut tree = SysTree::default();
        let t0 = Instant::now();
        let mut snap =
            Snapshot { uptime_secs: 3, clients_total: 2, clients_connected: 1, ..Snapshot::default() };
        let first = tree.update(&snap, t0);
        assert_eq!(value(&first, "$SYS/broker/uptime"), Some("3 seconds"));
        assert_eq!(value(&first, "$SYS/broker/clients/disconnected"), Some("1"));
        assert_eq!(value(&first, "$SYS/broker/retained messages/count"), Some("0"));
        assert_eq!(first.len(), 25, "uptime and 24 counters; loads need a second sample");

        snap.uptime_secs = 13;
        snap.retained_count = 4;
        let second = tree.update(&snap, t0 + Duration::from_secs(10));
        let changed: Vec<_> = topics(&second).into_iter().filter(|t| !t.contains("/load/")).collect();
        assert_eq!(changed, ["$SYS/broker/uptime", "$SYS/broker/retained messages/count"]);
        assert_eq!(
            second.iter().filter(|(t, _)| t.contains("/load/")).count(),
            27,
            "every load topic, first time"
        );
    }

    #[test]
    fn load_follows_mosquittos_damped_per_minute_rate() {
        let mut tree = SysTree::default();
        let t0 = Instant::now();
        tree.update(&Snapshot::default(), t0);
        let mut snap = Snapshot::default();
        snap.counters[0] = 100; // 100 messages received in 10 s: 600 per minute.
        let out = tree.update(&snap, t0 + Duration::from_secs(10));
        let expected = |window: f64| 600.0 * (1.0 - (-10.0 / window).exp());
        assert_eq!(
            value(&out, "$SYS/broker/load/messages/received/1min"),
            Some(format!("{:.2}", expected(60.0)).as_str())
        );
        assert_eq!(
            value(&out, "$SYS/broker/load/messages/received/5min"),
            Some(format!("{:.2}", expected(300.0)).as_str())
        );
        assert_eq!(
            value(&out, "$SYS/broker/load/messages/received/15min"),
            Some(format!("{:.2}", expected(900.0)).as_str())
        );
        assert_eq!(value(&out, "$SYS/broker/load/sockets/1min"), Some("0.00"));
        // Quiet afterwards: the average decays towards 0.
        let later = tree.update(&snap, t0 + Duration::from_secs(20));
        let decayed: f64 = value(&later, "$SYS/broker/load/messages/received/1min").unwrap().parse().unwrap();
        assert!(decayed < expected(60.0) && decayed > 0.0);
        assert_eq!(value(&later, "$SYS/broker/load/sockets/1min"), None, "unchanged: not published again");
    }

    #[test]
    fn topic_names_are_mosquittos() {
        let mut tree = SysTree::default();
        let t0 = Instant::now();
        let mut all: Vec<String> =
            tree.update(&Snapshot::default(), t0).into_iter().map(|(t, _)| t).collect();
        all.extend(
            tree.update(&Snapshot::default(), t0 + Duration::from_secs(1)).into_iter().map(|(t, _)| t),
        );
        all.push("$SYS/broker/version".into());
        all.sort();
        all.dedup();
        // The 52 topics `mosquitto -v` 2.0 publishes with `sys_interval 1`.
        let mosquitto = include_str!("sys/mosquitto-2.0-topics.txt");
        let expected: Vec<&str> = mosquitto.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(all, expected);
    }
}
