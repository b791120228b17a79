//! Prometheus / OpenMetrics exposition of the broker's figures.
//!
//! The hot path only bumps relaxed atomics in [`Stats`] and [`Histogram`]s; nothing is registered per
//! message. At scrape time a [`prometheus_client`] collector reads those counters plus the gauges that are
//! cheap to compute (sessions, subscriptions, retained messages, queue depths) and encodes them in the
//! OpenMetrics text format. Metric names start with `tern_`; counters end in `_total`.

mod histogram;

pub use histogram::{Histogram, HistogramSnapshot};

use std::fmt::Write;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::broker::BrokerShared;
use crate::stats::{DropReason, LimitKind, RefuseReason, Stats};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The whole exposition, ending in `# EOF`.
pub fn render(broker: &Arc<BrokerShared>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(BrokerCollector(broker.clone())));
    let mut out = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// Reads the broker at scrape time.
#[derive(Debug)]
struct BrokerCollector(Arc<BrokerShared>);

const QOS: [&str; 3] = ["0", "1", "2"];

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(value);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

/// A counter family with one label.
fn counters<'a>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (&'a str, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, n) in values {
        let labels = [(label, value)];
        ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn histogram(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    h: &Histogram,
) -> Result<(), std::fmt::Error> {
    let s = h.snapshot();
    let mut m = e.encode_descriptor(name, help, None, MetricType::Histogram)?;
    m.encode_histogram::<()>(s.sum_seconds, s.count, &s.buckets, None)
}

fn as_i64(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

impl Collector for BrokerCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let b = &self.0;
        let s = &b.stats;
        let g = Stats::get;

        let info = prometheus_client::metrics::info::Info::new([("version", env!("CARGO_PKG_VERSION"))]);
        info.encode(e.encode_descriptor("tern_build", "Tern version", None, info.metric_type())?)?;
        gauge(
            &mut e,
            "tern_uptime_seconds",
            "Seconds since the broker started",
            as_i64(b.started.elapsed().as_secs()),
        )?;

        // Connections and sessions.
        gauge(&mut e, "tern_connections", "Clients connected now", as_i64(g(&s.clients_connected)))?;
        gauge(
            &mut e,
            "tern_connections_maximum",
            "Most clients connected at once since start",
            as_i64(g(&s.clients_maximum)),
        )?;
        counter(
            &mut e,
            "tern_connections_accepted",
            "Clients whose CONNECT was accepted",
            g(&s.clients_total),
        )?;
        counter(
            &mut e,
            "tern_sockets_opened",
            "Network connections accepted by the listeners",
            g(&s.sockets_opened),
        )?;
        counters(
            &mut e,
            "tern_connections_refused",
            "Connections turned away, by reason",
            "reason",
            RefuseReason::ALL.iter().map(|r| (r.label(), s.refused_for(*r))),
        )?;
        counter(
            &mut e,
            "tern_auth_failures",
            "CONNECTs refused for their credentials",
            s.refused_for(RefuseReason::Auth),
        )?;
        let sessions = b.sessions.all();
        let online = sessions.iter().filter(|s| s.is_online()).count();
        gauge(&mut e, "tern_sessions", "Sessions, connected or not", as_i64(sessions.len()))?;
        gauge(
            &mut e,
            "tern_sessions_offline",
            "Sessions whose client is not connected",
            as_i64(sessions.len() - online),
        )?;
        counter(
            &mut e,
            "tern_sessions_expired",
            "Sessions ended by their expiry interval",
            g(&s.clients_expired),
        )?;

        // Subscriptions, retained messages, queues.
        gauge(
            &mut e,
            "tern_subscriptions",
            "Subscriptions, shared ones included",
            as_i64(b.router.subscription_count()),
        )?;
        gauge(
            &mut e,
            "tern_shared_subscriptions",
            "Members of shared subscription groups",
            as_i64(b.router.shared_subscription_count()),
        )?;
        gauge(&mut e, "tern_retained_messages", "Retained messages stored", as_i64(b.retained.read().len()))?;
        let (mut queued, mut queued_bytes, mut memory_bytes, mut deepest) = (0usize, 0usize, 0usize, 0usize);
        for session in &sessions {
            let mailbox = session.mailbox.lock();
            queued += mailbox.len();
            queued_bytes += mailbox.bytes();
            memory_bytes += mailbox.memory_bytes();
            deepest = deepest.max(mailbox.len());
        }
        drop(sessions);
        gauge(&mut e, "tern_queued_messages", "Messages waiting in session queues", as_i64(queued))?;
        gauge(&mut e, "tern_queued_bytes", "Bytes waiting in session queues", as_i64(queued_bytes))?;
        gauge(
            &mut e,
            "tern_queued_memory_bytes",
            "Bytes of queued messages held in memory; the rest waits in the store",
            as_i64(memory_bytes),
        )?;
        gauge(&mut e, "tern_queue_depth_max", "Messages in the longest session queue", as_i64(deepest))?;
        gauge(
            &mut e,
            "tern_inflight_messages",
            "QoS 1/2 messages sent and not yet acknowledged",
            as_i64(b.clients.inflight_total()),
        )?;
        if let Some(d) = &b.durable {
            let c = &d.committer().stats;
            gauge(
                &mut e,
                "tern_store_messages",
                "Messages in the store (each once)",
                as_i64(d.stored_messages()),
            )?;
            gauge(
                &mut e,
                "tern_store_failing",
                "1 while store writes fail (disk full)",
                i64::from(d.is_failing()),
            )?;
            counter(&mut e, "tern_store_batches", "Group commits written and synced", g(&c.batches))?;
            counter(&mut e, "tern_store_writes", "Changes written to the store", g(&c.ops))?;
            counter(
                &mut e,
                "tern_store_writes_saved",
                "Changes never written: new messages and queue entries deleted again within their commit window",
                g(&c.cancelled),
            )?;
            counter(&mut e, "tern_store_bytes_written", "Bytes of keys and values written", g(&c.bytes))?;
            counter(&mut e, "tern_store_failures", "Failed store writes or syncs", g(&c.failures))?;
            counter(
                &mut e,
                "tern_store_commit_microseconds",
                "Time spent writing and syncing batches",
                g(&c.commit_micros),
            )?;
            histogram(
                &mut e,
                "tern_store_commit_seconds",
                "From a batch's first change to its commit (write and sync) completing",
                &c.commit_latency,
            )?;
            histogram(&mut e, "tern_store_write_seconds", "Writing and syncing one batch", &c.write_time)?;
        }

        // Traffic.
        counter(&mut e, "tern_packets_received", "MQTT packets received", g(&s.messages_received))?;
        counter(&mut e, "tern_packets_sent", "MQTT packets sent", g(&s.messages_sent))?;
        counter(&mut e, "tern_bytes_received", "Bytes received from clients", g(&s.bytes_received))?;
        counter(&mut e, "tern_bytes_sent", "Bytes sent to clients", g(&s.bytes_sent))?;
        counter(
            &mut e,
            "tern_flow_control_waits",
            "Times a publisher waited for subscribers above their queue limit (fan-in flow control)",
            g(&s.flow_control_waits),
        )?;
        counter(
            &mut e,
            "tern_shared_redelivered",
            "Shared subscription messages given to another group member after their session ended",
            g(&s.shared_redelivered),
        )?;
        counters(
            &mut e,
            "tern_publish_received",
            "PUBLISH packets received, by QoS",
            "qos",
            QOS.iter().copied().zip(s.publish_received_qos.iter().map(Stats::get)),
        )?;
        counters(
            &mut e,
            "tern_publish_sent",
            "PUBLISH packets sent, by QoS",
            "qos",
            QOS.iter().copied().zip(s.publish_sent_qos.iter().map(Stats::get)),
        )?;
        counters(
            &mut e,
            "tern_publish_received_bytes",
            "PUBLISH payload bytes received, by QoS",
            "qos",
            QOS.iter().copied().zip(s.publish_bytes_received_qos.iter().map(Stats::get)),
        )?;
        counters(
            &mut e,
            "tern_publish_sent_bytes",
            "PUBLISH payload bytes sent, by QoS",
            "qos",
            QOS.iter().copied().zip(s.publish_bytes_sent_qos.iter().map(Stats::get)),
        )?;
        counters(
            &mut e,
            "tern_publish_dropped",
            "Messages not delivered to a subscriber (or not accepted), by reason",
            "reason",
            DropReason::ALL.iter().map(|r| (r.label(), s.dropped_for(*r))),
        )?;

        // Errors and limits.
        let mut errors = e.encode_descriptor(
            "tern_packet_errors",
            "Connections closed for a protocol violation or a limit, by the reason code sent",
            None,
            MetricType::Counter,
        )?;
        for (code, n) in s.packet_errors.iter().enumerate() {
            let n = Stats::get(n);
            if n > 0 {
                let rc = tern_codec::ReasonCode(u8::try_from(code).unwrap_or(0));
                let mut hex = String::new();
                let _ = write!(hex, "0x{code:02X}");
                let name = rc.name().unwrap_or("unknown");
                let labels = [("reason_code", hex.as_str()), ("reason", name)];
                ConstCounter::new(n).encode(errors.encode_family(&labels)?)?;
            }
        }
        counters(
            &mut e,
            "tern_limit_hits",
            "Times a client ran into a configured limit, by limit",
            "limit",
            LimitKind::ALL.iter().map(|k| (k.label(), s.limit_hits_for(*k))),
        )?;

        // Memory and overload.
        if let Some(resident) = crate::overload::resident_memory() {
            b.memory.record(resident);
        }
        gauge(
            &mut e,
            "tern_resident_memory_bytes",
            "Resident memory of the broker process",
            as_i64(b.memory.resident()),
        )?;
        gauge(
            &mut e,
            "tern_memory_high_water_bytes",
            "The configured memory high-water mark (0: off)",
            as_i64(b.memory.high_water()),
        )?;
        gauge(
            &mut e,
            "tern_overloaded",
            "1 while memory is above the high-water mark",
            i64::from(b.memory.is_over()),
        )?;

        // Latency.
        histogram(
            &mut e,
            "tern_publish_latency_seconds",
            "From a PUBLISH read to its copy written for a subscriber",
            &s.publish_latency,
        )?;
        histogram(
            &mut e,
            "tern_routing_duration_seconds",
            "Matching a message and queueing it for its subscribers",
            &s.routing_time,
        )?;
        Ok(())
    }
}
