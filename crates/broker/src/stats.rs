//! Broker-wide counters, kept as relaxed atomics: the hot path pays no lock for them. `$SYS` and the
//! Prometheus endpoint read the same counters.

use std::sync::atomic::{AtomicU64, Ordering};

use tern_codec::{QoS, ReasonCode};

use crate::metrics::Histogram;

/// Why a message did not reach a subscriber (or was not accepted at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The subscriber's queue was full (also: an older QoS 0 message evicted for a QoS 1/2 one).
    QueueFull,
    /// QoS 0 for an offline session that does not queue QoS 0.
    Offline,
    /// Larger than the subscriber's Maximum Packet Size [MQTT-3.1.2-25].
    TooLarge,
    /// QoS 0 refused while memory is above the high-water mark.
    Memory,
}

impl DropReason {
    pub const ALL: [DropReason; 4] =
        [DropReason::QueueFull, DropReason::Offline, DropReason::TooLarge, DropReason::Memory];

    pub fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Offline => "offline",
            DropReason::TooLarge => "too_large",
            DropReason::Memory => "memory",
        }
    }
}

/// Why a network connection was turned away before it became a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    /// `max_connections` of the broker or of the listener.
    MaxConnections,
    /// More new connections per second than `max_connection_rate`.
    Rate,
    /// Memory above the high-water mark.
    Memory,
    /// Credentials refused.
    Auth,
    /// Any other CONNACK refusal, or a handshake that never completed.
    Handshake,
}

impl RefuseReason {
    pub const ALL: [RefuseReason; 5] = [
        RefuseReason::MaxConnections,
        RefuseReason::Rate,
        RefuseReason::Memory,
        RefuseReason::Auth,
        RefuseReason::Handshake,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RefuseReason::MaxConnections => "max_connections",
            RefuseReason::Rate => "rate",
            RefuseReason::Memory => "memory",
            RefuseReason::Auth => "auth",
            RefuseReason::Handshake => "handshake",
        }
    }
}

/// A configured limit a client ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Publish messages per second of one client.
    PublishRate,
    /// Publish payload bytes per second of one client.
    ByteRate,
    /// Subscriptions of one client.
    Subscriptions,
    /// Levels of a topic name or filter.
    TopicLevels,
    /// Length of a client identifier.
    ClientIdLength,
}

impl LimitKind {
    pub const ALL: [LimitKind; 5] = [
        LimitKind::PublishRate,
        LimitKind::ByteRate,
        LimitKind::Subscriptions,
        LimitKind::TopicLevels,
        LimitKind::ClientIdLength,
    ];

    pub fn label(self) -> &'static str {
        match self {
            LimitKind::PublishRate => "publish_rate",
            LimitKind::ByteRate => "byte_rate",
            LimitKind::Subscriptions => "subscriptions",
            LimitKind::TopicLevels => "topic_levels",
            LimitKind::ClientIdLength => "client_id_length",
        }
    }
}

/// Counters since start-up, and gauges.
#[derive(Debug)]
pub struct Stats {
    pub clients_connected: AtomicU64,
    pub clients_total: AtomicU64,
    pub clients_maximum: AtomicU64,
    pub clients_expired: AtomicU64,
    /// MQTT packets of any kind.
    pub messages_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub publish_received: AtomicU64,
    pub publish_sent: AtomicU64,
    pub publish_dropped: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub connections_refused: AtomicU64,
    pub protocol_errors: AtomicU64,
    /// Network connections accepted (before any MQTT handshake).
    pub sockets_opened: AtomicU64,
    /// PUBLISH packets and their payload bytes, by QoS (index 0-2).
    pub publish_received_qos: [AtomicU64; 3],
    pub publish_sent_qos: [AtomicU64; 3],
    pub publish_bytes_received_qos: [AtomicU64; 3],
    pub publish_bytes_sent_qos: [AtomicU64; 3],
    /// By [`DropReason`].
    pub dropped: [AtomicU64; DropReason::ALL.len()],
    /// By [`RefuseReason`].
    pub refused: [AtomicU64; RefuseReason::ALL.len()],
    /// By [`LimitKind`].
    pub limit_hits: [AtomicU64; LimitKind::ALL.len()],
    /// Connections closed for breaking the protocol (or a limit), by the reason code they were given.
    pub packet_errors: Box<[AtomicU64; 256]>,
    /// From a PUBLISH being read to its copy being written for a subscriber.
    pub publish_latency: Histogram,
    /// Matching a message against the subscriptions and queueing it for the subscribers.
    pub routing_time: Histogram,
    /// Shared subscription messages given to another member of the group because the session they were
    /// given to ended unacknowledged.
    pub shared_redelivered: AtomicU64,
    /// Times a publisher stopped reading until the subscribers of its last message, all above their queue
    /// limit, drained (flow control in fan-in).
    pub flow_control_waits: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            clients_connected: AtomicU64::new(0),
            clients_total: AtomicU64::new(0),
            clients_maximum: AtomicU64::new(0),
            clients_expired: AtomicU64::new(0),
            messages_received: AtomicU64::new(0),
            messages_sent: AtomicU64::new(0),
            publish_received: AtomicU64::new(0),
            publish_sent: AtomicU64::new(0),
            publish_dropped: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            sockets_opened: AtomicU64::new(0),
            publish_received_qos: Default::default(),
            publish_sent_qos: Default::default(),
            publish_bytes_received_qos: Default::default(),
            publish_bytes_sent_qos: Default::default(),
            dropped: Default::default(),
            refused: Default::default(),
            limit_hits: Default::default(),
            packet_errors: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
            publish_latency: Histogram::default(),
            routing_time: Histogram::default(),
            shared_redelivered: AtomicU64::new(0),
            flow_control_waits: AtomicU64::new(0),
        }
    }
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn client_connected(&self) {
        let now = self.clients_connected.fetch_add(1, Ordering::Relaxed) + 1;
        self.clients_total.fetch_add(1, Ordering::Relaxed);
        self.clients_maximum.fetch_max(now, Ordering::Relaxed);
    }

    pub(crate) fn client_disconnected(&self) {
        self.clients_connected.fetch_sub(1, Ordering::Relaxed);
    }

    /// A PUBLISH read from a client, with `payload` bytes.
    pub(crate) fn publish_in(&self, qos: QoS, payload: usize) {
        let q = usize::from(qos.as_u8()).min(2);
        Stats::add(&self.publish_received_qos[q], 1);
        Stats::add(&self.publish_bytes_received_qos[q], payload as u64);
    }

    /// A PUBLISH written for a subscriber, with `payload` bytes.
    pub(crate) fn publish_out(&self, qos: QoS, payload: usize) {
        let q = usize::from(qos.as_u8()).min(2);
        Stats::add(&self.publish_sent_qos[q], 1);
        Stats::add(&self.publish_bytes_sent_qos[q], payload as u64);
    }

    /// `n` messages dropped for `reason` (also counted in `publish_dropped`).
    pub(crate) fn drop(&self, reason: DropReason, n: u64) {
        if n > 0 {
            Stats::add(&self.dropped[reason as usize], n);
            Stats::add(&self.publish_dropped, n);
        }
    }

    /// A connection turned away for `reason` (also counted in `connections_refused`).
    pub(crate) fn refuse(&self, reason: RefuseReason) {
        Stats::add(&self.refused[reason as usize], 1);
        Stats::add(&self.connections_refused, 1);
    }

    pub(crate) fn limit_hit(&self, kind: LimitKind) {
        Stats::add(&self.limit_hits[kind as usize], 1);
    }

    pub(crate) fn packet_error(&self, rc: ReasonCode) {
        Stats::add(&self.packet_errors[usize::from(rc.0)], 1);
    }

    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        Stats::get(&self.dropped[reason as usize])
    }

    pub fn refused_for(&self, reason: RefuseReason) -> u64 {
        Stats::get(&self.refused[reason as usize])
    }

    pub fn limit_hits_for(&self, kind: LimitKind) -> u64 {
        Stats::get(&self.limit_hits[kind as usize])
    }

    /// Payload bytes of every PUBLISH received / sent.
    pub fn publish_bytes_received(&self) -> u64 {
        self.publish_bytes_received_qos.iter().map(Stats::get).sum()
    }

    pub fn publish_bytes_sent(&self) -> u64 {
        self.publish_bytes_sent_qos.iter().map(Stats::get).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_count_by_reason_and_in_the_total() {
        let stats = Stats::default();
        stats.drop(DropReason::Offline, 2);
        stats.drop(DropReason::Memory, 1);
        assert_eq!(stats.dropped_for(DropReason::Offline), 2);
        assert_eq!(stats.dropped_for(DropReason::QueueFull), 0);
        assert_eq!(Stats::get(&stats.publish_dropped), 3);
    }

    #[test]
    fn publish_bytes_add_up_over_qos() {
        let stats = Stats::default();
        stats.publish_in(QoS::AtMostOnce, 10);
        stats.publish_in(QoS::ExactlyOnce, 5);
        assert_eq!(stats.publish_bytes_received(), 15);
        assert_eq!(Stats::get(&stats.publish_received_qos[2]), 1);
    }

    #[test]
    fn the_maximum_follows_the_highest_number_connected() {
        let stats = Stats::default();
        stats.client_connected();
        stats.client_connected();
        stats.client_disconnected();
        stats.client_connected();
        assert_eq!(Stats::get(&stats.clients_maximum), 2);
        assert_eq!(Stats::get(&stats.clients_total), 3);
    }
}
