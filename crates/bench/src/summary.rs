//! The final summary of a run: as text for people, as JSON (`--json`) for scripts.

use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::metrics::{human_us, LatencySummary};
use crate::process::Usage;

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub broker: String,
    pub protocol: String,
    pub qos: u8,
    pub payload_size: usize,
    pub publishers: usize,
    pub subscribers: usize,
    /// Seconds measured (from the start signal to the last delivery or the end of the phase timed).
    pub elapsed_s: f64,
    pub messages: Option<MessageStats>,
    pub latency: Option<LatencySummary>,
    pub connections: Option<ConnectionStats>,
    pub retained: Option<RetainedStats>,
    /// Topic filters held by the subscribers (`subs`).
    pub filters: Option<u64>,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub generator: Option<Usage>,
    pub broker_usage: Option<Usage>,
}

/// Message counts and rates. `lost` is exact for QoS 1 and 2: accepted by the broker, never delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MessageStats {
    pub published: u64,
    /// Accepted by the broker (PUBACK / PUBREC); every message published for QoS 0.
    pub accepted: u64,
    /// Acknowledged with an error reason code.
    pub rejected: u64,
    /// Still unacknowledged when the drain timeout ran out.
    pub unacknowledged: u64,
    /// Deliveries owed to the subscribers for the accepted messages.
    pub expected: u64,
    /// Deliveries received, repeats included.
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Deliveries of messages never published to that subscriber (wrong routing).
    pub unexpected: u64,
    /// Deliveries whose payload is not a benchmark message of the right size.
    pub malformed: u64,
    /// Messages published per second while publishing.
    pub publish_rate: f64,
    /// Deliveries per second, from the start to the last delivery.
    pub delivery_rate: f64,
}

/// A connection storm and the idle connections held after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ConnectionStats {
    pub requested: u64,
    pub connected: u64,
    pub failed: u64,
    /// Seconds from the first connect to the last CONNACK.
    pub storm_s: f64,
    pub connect_rate: f64,
    pub held_s: f64,
    /// Connections the broker closed while they were held.
    pub dropped: u64,
    pub broker_rss_before_kib: Option<u64>,
    pub broker_rss_held_kib: Option<u64>,
    pub broker_kib_per_connection: Option<f64>,
    pub generator_kib_per_connection: Option<f64>,
    pub sources: u64,
}

/// Retained messages stored, then all received by one `#` subscription.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RetainedStats {
    pub stored: u64,
    pub received: u64,
    pub missing: u64,
    pub duplicated: u64,
    /// Received without the RETAIN flag [MQTT-3.3.1-8].
    pub without_retain_flag: u64,
    pub store_s: f64,
    /// Seconds from sending SUBSCRIBE to the last retained message.
    pub subscribe_s: f64,
    pub rate: f64,
}

impl Summary {
    /// Whether the broker did something wrong: errors, lost or duplicated acknowledged messages, deliveries
    /// that were never published, malformed payloads, missing retained messages.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.errors > 0 {
            out.push(format!("{} errors", self.errors));
        }
        if let Some(m) = &self.messages {
            if self.qos > 0 && m.lost > 0 {
                out.push(format!("{} acknowledged messages lost", m.lost));
            }
            if m.duplicated > 0 {
                out.push(format!("{} messages duplicated", m.duplicated));
            }
            if m.unexpected > 0 {
                out.push(format!("{} deliveries of messages never published there", m.unexpected));
            }
            if m.malformed > 0 {
                out.push(format!("{} malformed payloads", m.malformed));
            }
        }
        if let Some(r) = &self.retained {
            if r.missing > 0 || r.duplicated > 0 || r.without_retain_flag > 0 {
                out.push(format!(
                    "retained: {} missing, {} duplicated, {} without the RETAIN flag",
                    r.missing, r.duplicated, r.without_retain_flag
                ));
            }
        }
        if let Some(c) = &self.connections {
            if c.failed > 0 || c.dropped > 0 {
                out.push(format!("connections: {} failed, {} dropped while held", c.failed, c.dropped));
            }
        }
        out
    }
}

fn usage_line(out: &mut String, who: &str, u: &Usage) -> fmt::Result {
    writeln!(
        out,
        "  {who:<9} cpu {:.2}s ({:.0}% of a core)  rss {:.1} MiB (peak {:.1} MiB)",
        u.cpu_seconds,
        u.cpu_percent,
        u.rss_kib as f64 / 1024.0,
        u.peak_rss_kib as f64 / 1024.0
    )
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        writeln!(
            out,
            "{} against {} (MQTT {}, QoS {}, {} B payload): {} publishers, {} subscribers, {:.2}s",
            self.scenario,
            self.broker,
            self.protocol,
            self.qos,
            self.payload_size,
            self.publishers,
            self.subscribers,
            self.elapsed_s
        )?;
        if let Some(n) = self.filters {
            writeln!(out, "  filters   {n}")?;
        }
        if let Some(m) = &self.messages {
            writeln!(
                out,
                "  published {} ({:.0}/s), accepted {}, rejected {}, unacknowledged {}",
                m.published, m.publish_rate, m.accepted, m.rejected, m.unacknowledged
            )?;
            writeln!(
                out,
                "  received  {} of {} expected ({:.0}/s): lost {}, duplicated {}, unexpected {}, malformed {}",
                m.received, m.expected, m.delivery_rate, m.lost, m.duplicated, m.unexpected, m.malformed
            )?;
        }
        if let Some(c) = &self.connections {
            writeln!(
                out,
                "  connected {} of {} in {:.2}s ({:.0}/s) from {} source addresses; failed {}, dropped {} in {:.1}s held",
                c.connected, c.requested, c.storm_s, c.connect_rate, c.sources, c.failed, c.dropped, c.held_s
            )?;
            if let Some(per) = c.broker_kib_per_connection {
                writeln!(out, "  broker    {per:.2} KiB per connection")?;
            }
            if let Some(per) = c.generator_kib_per_connection {
                writeln!(out, "  generator {per:.2} KiB per connection")?;
            }
        }
        if let Some(r) = &self.retained {
            writeln!(
                out,
                "  retained  {} stored in {:.2}s; `#` subscription received {} in {:.3}s ({:.0}/s): missing {}, duplicated {}, without RETAIN {}",
                r.stored, r.store_s, r.received, r.subscribe_s, r.rate, r.missing, r.duplicated, r.without_retain_flag
            )?;
        }
        if let Some(l) = &self.latency {
            let label = if self.connections.is_some() { "connect" } else { "latency" };
            writeln!(
                out,
                "  {label:<9} p50 {}  p99 {}  p99.9 {}  max {}  mean {}  ({} samples)",
                human_us(l.p50_us),
                human_us(l.p99_us),
                human_us(l.p999_us),
                human_us(l.max_us),
                human_us(l.mean_us),
                l.count
            )?;
        }
        if let Some(u) = &self.generator {
            usage_line(&mut out, "generator", u)?;
        }
        if let Some(u) = &self.broker_usage {
            usage_line(&mut out, "broker", u)?;
        }
        writeln!(out, "  errors    {}", self.errors)?;
        for e in &self.error_samples {
            writeln!(out, "    {e}")?;
        }
        f.write_str(out.trim_end())
    }
}
