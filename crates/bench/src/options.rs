//! Command-line options shared by every scenario: where the broker is, how to speak to it, how much load
//! to offer and for how long, and how to report.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args};
use tern_codec::{ProtocolVersion, QoS};

/// Options common to every scenario.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Broker host: a loopback address unless `--allow-remote`.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    pub host: String,
    /// Broker port.
    #[arg(short = 'p', long, default_value_t = 1883)]
    pub port: u16,
    /// Protocol version: 3.1.1 (or mqttv311) or 5 (or mqttv5).
    #[arg(short = 'V', long = "protocol-version", default_value = "3.1.1", value_parser = parse_version)]
    pub version: ProtocolVersion,
    /// Quality of service of publications and subscriptions: 0, 1 or 2.
    #[arg(short = 'q', long, default_value = "0", value_parser = parse_qos)]
    pub qos: QoS,
    /// Payload size in bytes (at least 20: send time, publisher and sequence number).
    #[arg(short = 's', long = "size", default_value_t = 64, value_parser = clap::value_parser!(u32).range(20..=16_777_216))]
    pub payload_size: u32,
    /// Messages per second per publisher; 0 publishes as fast as the broker takes them.
    #[arg(short = 'r', long, default_value_t = 0.0)]
    pub rate: f64,
    /// How long publishers publish (e.g. 10, 10s, 500ms, 2m).
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Stop each publisher after this many messages (whichever comes first with --duration).
    #[arg(short = 'n', long = "messages")]
    pub messages: Option<u64>,
    /// QoS 1/2 messages a publisher keeps unacknowledged (capped by a v5 broker's Receive Maximum).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..))]
    pub inflight: u16,
    /// After publishing stops, wait at most this long for outstanding acknowledgements and deliveries.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Give up on a connection, subscription or handshake that takes longer than this.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub setup_timeout: Duration,
    /// Connect over TLS.
    #[arg(long)]
    pub tls: bool,
    /// CA certificates (PEM) to verify the broker with; default: the system's roots.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub cafile: Option<PathBuf>,
    /// Do not verify the broker's certificate.
    #[arg(long, requires = "tls")]
    pub insecure: bool,
    /// Name to verify the broker's certificate against (default: --host).
    #[arg(long, requires = "tls")]
    pub tls_server_name: Option<String>,
    /// User name for CONNECT.
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password for CONNECT.
    #[arg(short = 'P', long)]
    pub password: Option<String>,
    /// Clients use persistent sessions (clean session 0; MQTT 5 session expiry 300 s), so a broker that
    /// stores sessions writes every QoS 1/2 delivery: measures durable throughput.
    #[arg(long)]
    pub persistent: bool,
    /// First level of every topic; each run adds its own level below it, so runs never see each other.
    #[arg(long, default_value = "bench")]
    pub topic_prefix: String,
    /// Worker threads of the generator.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    /// Report this process's CPU time and memory next to the generator's (reads /proc/PID).
    #[arg(long, value_name = "PID")]
    pub broker_pid: Option<u32>,
    /// Print the final summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Allow a broker that is not on this machine's loopback interface.
    #[arg(long)]
    pub allow_remote: bool,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

impl CommonArgs {
    /// The CONNECT keep-alive: long enough that no ping is needed during the run.
    pub fn keep_alive(&self) -> u16 {
        let run = self.duration + self.drain_timeout + self.setup_timeout;
        u16::try_from(run.as_secs().saturating_mul(2).saturating_add(60)).unwrap_or(u16::MAX)
    }

    pub fn payload_size(&self) -> usize {
        self.payload_size as usize
    }
}

/// Parses a protocol version as mosquitto_pub's `-V` does, and plainly.
pub fn parse_version(s: &str) -> Result<ProtocolVersion, String> {
    match s.to_ascii_lowercase().as_str() {
        "3.1.1" | "311" | "mqttv311" | "4" => Ok(ProtocolVersion::V311),
        "5" | "5.0" | "mqttv5" => Ok(ProtocolVersion::V5),
        "3.1" | "31" | "mqttv31" | "3" => Ok(ProtocolVersion::V31),
        _ => Err(format!("unknown protocol version {s:?}: use 3.1.1 or 5")),
    }
}

pub fn parse_qos(s: &str) -> Result<QoS, String> {
    s.parse::<u8>().ok().and_then(QoS::from_u8).ok_or_else(|| format!("QoS is 0, 1 or 2, not {s:?}"))
}

/// Parses `10`, `10s`, `250ms`, `2m`, `1.5s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("not a duration: {s:?}"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit in {s:?}: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("not a duration: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }

    #[test]
    fn versions_accept_mosquitto_spellings() {
        assert_eq!(parse_version("mqttv311"), Ok(ProtocolVersion::V311));
        assert_eq!(parse_version("5"), Ok(ProtocolVersion::V5));
        assert!(parse_version("6").is_err());
    }
}
