//! Broker configuration: one validated [`Config`], whatever file it came from.
//!
//! Two file formats produce it: Mosquitto's `mosquitto.conf` (any file not ending in `.toml`) so that an
//! operator can move `/etc/mosquitto` over unchanged, and Tern's own TOML format. With no file at all the
//! defaults are Mosquitto 2's: one listener on loopback port 1883, anonymous clients allowed.
//!
//! # Layout
//! - [`Config::load`]: picks the format by extension, parses, validates (`load.rs`)
//! - `mosquitto`: the mosquitto.conf parser; `toml`: Tern's TOML format
//! - [`Config::validate`]: the consistency checks behind `tern broker --test-config` (`validate.rs`)
//! - [`ConfigError`]: every error names `FILE:LINE` (and the directive) or the listener concerned

mod duration;
mod error;
mod http;
mod load;
pub(crate) mod log;
mod mosquitto;
mod toml;
mod validate;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::{ConfigError, DirectiveProblem, Invalid, Location, Problem, Scope};
pub use http::HttpConfig;
pub use mosquitto::{Notice, Places};

/// The whole broker configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where clients connect. Empty means the default: 127.0.0.1 and ::1 port 1883 (Mosquitto 2's
    /// "local only" mode when no listener is configured).
    pub listeners: Vec<ListenerConfig>,
    /// Authentication and authorization for every listener (or for those without their own settings when
    /// `per_listener_settings` is on).
    pub security: SecurityConfig,
    /// Mosquitto's `per_listener_settings`: each listener uses its own `security` block.
    pub per_listener_settings: bool,
    /// Session, queue and packet limits.
    pub limits: LimitsConfig,
    /// MQTT 5.0 features that are off unless configured.
    pub mqtt: MqttConfig,
    /// Durable storage of sessions, queues and retained messages.
    pub persistence: PersistenceConfig,
    /// What is logged and where.
    pub log: LogConfig,
    /// Seconds between `$SYS` updates, at most 65,535; 0 turns `$SYS` off.
    pub sys_interval: u64,
    /// Write the process id here at start-up.
    pub pid_file: Option<PathBuf>,
    /// Started as root, run as this user (and its primary group) once the listeners and the store are
    /// open; the store directory is handed to it. Ignored when not started as root.
    pub user: Option<String>,
    /// The operators' HTTP listener: metrics, health, admin API.
    pub http: HttpConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listeners: Vec::new(),
            security: SecurityConfig::default(),
            per_listener_settings: false,
            limits: LimitsConfig::default(),
            mqtt: MqttConfig::default(),
            persistence: PersistenceConfig::default(),
            log: LogConfig::default(),
            sys_interval: 10,
            pid_file: None,
            user: None,
            http: HttpConfig::default(),
        }
    }
}

impl Config {
    /// The listeners to open: the configured ones, or with none Mosquitto 2's "local only" pair.
    pub fn effective_listeners(&self) -> Vec<ListenerConfig> {
        if self.listeners.is_empty() {
            Self::local_only_listeners()
        } else {
            self.listeners.clone()
        }
    }

    /// Mosquitto 2's listeners when none is configured: port 1883 on 127.0.0.1 and on ::1.
    pub fn local_only_listeners() -> Vec<ListenerConfig> {
        ["127.0.0.1", "::1"]
            .into_iter()
            .map(|address| ListenerConfig {
                bind_address: Some(address.to_owned()),
                ..ListenerConfig::default()
            })
            .collect()
    }

    /// The security settings in force on `listener`: its own with `per_listener_settings`, else the
    /// global ones.
    pub fn security_for<'a>(&'a self, listener: &'a ListenerConfig) -> &'a SecurityConfig {
        match (&listener.security, self.per_listener_settings) {
            (Some(own), true) => own,
            _ => &self.security,
        }
    }

    /// Whether clients without a user name may connect to `listener`. Unset, Mosquitto 2's rule applies:
    /// allowed only when no listener is configured (the broker then listens on loopback only).
    pub fn allow_anonymous_for(&self, listener: &ListenerConfig) -> bool {
        self.security_for(listener).allow_anonymous.unwrap_or(self.listeners.is_empty())
    }

    /// The configuration with Mosquitto's implicit defaults written out: every unset `allow_anonymous`
    /// gets the value it stands for. Checks behave the same on both.
    pub fn effective(&self) -> Config {
        let mut config = self.clone();
        let anonymous = self.listeners.is_empty();
        if !self.per_listener_settings {
            config.security.allow_anonymous.get_or_insert(anonymous);
        }
        for listener in &mut config.listeners {
            if let Some(security) = &mut listener.security {
                security.allow_anonymous.get_or_insert(anonymous);
            }
        }
        config
    }

    /// Highest QoS a client of `listener` may use.
    pub fn max_qos_for(&self, listener: &ListenerConfig) -> u8 {
        listener.max_qos.unwrap_or(self.limits.max_qos)
    }

    /// Topic aliases a v5 client of `listener` may use towards the broker.
    pub fn max_topic_alias_for(&self, listener: &ListenerConfig) -> u16 {
        listener.max_topic_alias.unwrap_or(self.limits.max_topic_alias)
    }
}

/// The transport a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Mqtt,
    Websockets,
}

/// Restricts a listener bound to a host name to one address family (`socket_domain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketDomain {
    Ipv4,
    Ipv6,
}

/// One listener: an address, a transport, and optionally TLS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerConfig {
    /// TCP port; 0 with `unix_socket` set means a Unix domain socket listener. In tests, 0 without a socket
    /// path means an ephemeral port.
    pub port: u16,
    /// Address or host name to bind; `None` binds all interfaces.
    pub bind_address: Option<String>,
    /// Path of a Unix domain socket (Mosquitto: `listener 0 /path/to/socket`).
    pub unix_socket: Option<PathBuf>,
    pub socket_domain: Option<SocketDomain>,
    pub protocol: Protocol,
    pub tls: Option<TlsConfig>,
    /// Connections this listener accepts at once; `None` is unlimited.
    pub max_connections: Option<usize>,
    /// Prefix added to every topic of this listener's clients (`mount_point`).
    pub mount_point: Option<String>,
    /// Highest QoS on this listener (Mosquitto's `max_qos` is per listener); `None` uses
    /// [`LimitsConfig::max_qos`].
    pub max_qos: Option<u8>,
    /// Topic aliases a v5 client of this listener may use; `None` uses [`LimitsConfig::max_topic_alias`].
    pub max_topic_alias: Option<u16>,
    /// Replace the client id by the user name (`use_username_as_clientid`); a client without a user name
    /// is then refused as not authorised.
    pub use_username_as_clientid: bool,
    /// This listener's own security settings (only with `per_listener_settings`).
    pub security: Option<SecurityConfig>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            port: 1883,
            bind_address: None,
            unix_socket: None,
            socket_domain: None,
            protocol: Protocol::Mqtt,
            tls: None,
            max_connections: None,
            mount_point: None,
            max_qos: None,
            max_topic_alias: None,
            use_username_as_clientid: false,
            security: None,
        }
    }
}

/// TLS settings of a listener (rustls).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    pub certfile: PathBuf,
    pub keyfile: PathBuf,
    /// CA certificates that client certificates must chain to.
    pub cafile: Option<PathBuf>,
    pub capath: Option<PathBuf>,
    pub crlfile: Option<PathBuf>,
    pub require_certificate: bool,
    pub use_identity_as_username: bool,
    pub use_subject_as_username: bool,
    /// Minimum TLS version: "tlsv1.2" or "tlsv1.3".
    pub tls_version: Option<String>,
    /// OpenSSL-style cipher list for TLS 1.2; mapped onto rustls suites where possible.
    pub ciphers: Option<String>,
    /// TLS 1.3 cipher suites (`ciphers_tls1.3`), colon separated.
    pub ciphers_tls13: Option<String>,
}

/// Who may connect and what they may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Allow clients without a user name. Mosquitto 2: true when no listener is configured, false as soon as
    /// one is, unless set.
    pub allow_anonymous: Option<bool>,
    /// Mosquitto password file (`mosquitto_passwd` / `tern passwd` format).
    pub password_file: Option<PathBuf>,
    /// Mosquitto ACL file.
    pub acl_file: Option<PathBuf>,
    pub psk_file: Option<PathBuf>,
    pub psk_hint: Option<String>,
    /// Prefix of generated client identifiers.
    pub auto_id_prefix: String,
    pub allow_zero_length_clientid: bool,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            allow_anonymous: None,
            password_file: None,
            acl_file: None,
            psk_file: None,
            psk_hint: None,
            auto_id_prefix: "auto-".to_owned(),
            allow_zero_length_clientid: true,
        }
    }
}

/// Limits that keep memory bounded and clients fair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Connections accepted at once over all listeners; `None` is unlimited.
    pub max_connections: Option<usize>,
    /// Outbound QoS 1/2 messages in flight per client (also the Receive Maximum we accept from clients),
    /// 1 to 65,535. Mosquitto's `max_inflight_messages 0` ("no limit") becomes 65,535.
    pub max_inflight_messages: u16,
    /// Outbound bytes in flight per client; 0 is unlimited.
    pub max_inflight_bytes: usize,
    /// Messages queued per session beyond the inflight window; 0 is unlimited (as in Mosquitto).
    pub max_queued_messages: usize,
    /// Bytes queued per session; 0 is unlimited (but `max_queued_messages` still applies).
    pub max_queued_bytes: usize,
    /// Messages an online persistent session may queue in all, in memory and in the store, when its client
    /// reads slower than it receives; beyond it they are dropped (and counted). 0 is unlimited (bounded by
    /// disk only). TOML only.
    pub max_stored_messages: usize,
    /// Queue QoS 0 messages for offline persistent sessions too.
    pub queue_qos0_messages: bool,
    /// Largest PUBLISH payload accepted, at most 268,435,455; 0 is the protocol maximum.
    pub message_size_limit: u32,
    /// Largest packet accepted (MQTT 5.0 Maximum Packet Size, advertised in CONNACK), 20 to 268,435,460
    /// (the protocol maximum, Mosquitto's "no limit").
    pub max_packet_size: u32,
    /// Largest keep-alive accepted, 10 to 65,535; clients asking for more (or for 0) get this one (v5:
    /// Server Keep Alive).
    pub max_keepalive: u16,
    /// Highest QoS the broker supports, 0-2 (v5: Maximum QoS in CONNACK); a listener may lower it.
    pub max_qos: u8,
    /// Topic aliases a v5 client may use towards the broker; a listener may override it.
    pub max_topic_alias: u16,
    pub retain_available: bool,
    /// Accept subscriptions with `+` or `#` (v5: Wildcard Subscription Available in CONNACK).
    pub wildcard_subscription_available: bool,
    /// Accept `$share/{group}/{filter}` subscriptions (v5: Shared Subscription Available).
    pub shared_subscription_available: bool,
    /// Accept Subscription Identifiers on SUBSCRIBE (v5: Subscription Identifiers Available).
    pub subscription_identifiers_available: bool,
    /// Expire persistent sessions of clients offline longer than this (`persistent_client_expiration`);
    /// `None` keeps them until their own session expiry. TOML: seconds, or Mosquitto's `14d` form.
    #[serde(with = "duration::opt_secs")]
    pub persistent_client_expiration: Option<Duration>,
    /// New network connections accepted per second over all listeners (a burst of as many is allowed);
    /// 0 is unlimited. Connections beyond it are closed at once.
    pub max_connection_rate: u32,
    /// PUBLISH packets per second one client may send (a burst of as many is allowed); 0 is unlimited.
    /// Beyond it the client is disconnected (v5: DISCONNECT 0x96 Message rate too high).
    pub max_publish_rate: u32,
    /// PUBLISH payload bytes per second one client may send (a burst of as many is allowed); 0 is
    /// unlimited. Beyond it the client is disconnected (v5: DISCONNECT 0x97 Quota exceeded).
    pub max_publish_bytes_rate: u64,
    /// Subscriptions one client may hold; 0 is unlimited. More are refused in SUBACK (v5: 0x97).
    pub max_subscriptions_per_client: usize,
    /// Levels a topic name or filter may have; 0 is unlimited. Longer PUBLISH topics are refused (v5:
    /// 0x90), longer filters too (v5: 0x8F).
    pub max_topic_levels: usize,
    /// Bytes a client identifier may have; longer ones are refused at CONNECT (0x85, 3.x return code 2).
    pub max_client_id_length: usize,
    /// Resident memory, in bytes, above which new connections are refused and QoS 0 messages from clients
    /// are dropped, until it falls below 90% of it again; 0 is off. Linux only.
    pub memory_high_water: u64,
    /// Which member of a shared subscription group (`$share/{group}/{filter}`) gets each message.
    pub shared_subscription_policy: SharedSubscriptionPolicy,
}

/// How a shared subscription group picks the member that gets a message. Whatever the policy, members whose
/// client is connected are preferred; a member whose session is offline is chosen only when none is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharedSubscriptionPolicy {
    /// Each member in turn.
    #[default]
    RoundRobin,
    /// A member chosen at random for each message.
    Random,
    /// Stickiness by publisher: the messages of one publishing client go to the same member while the
    /// group's members stay the same.
    HashClientId,
    /// Stickiness by topic: the messages of one topic go to the same member while the members stay the same.
    HashTopic,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections: None,
            max_inflight_messages: 20,
            max_inflight_bytes: 0,
            max_queued_messages: 1000,
            max_queued_bytes: 0,
            max_stored_messages: 100_000,
            queue_qos0_messages: false,
            message_size_limit: 0,
            max_packet_size: 268_435_460,
            max_keepalive: 65_535,
            max_qos: 2,
            max_topic_alias: 10,
            retain_available: true,
            wildcard_subscription_available: true,
            shared_subscription_available: true,
            subscription_identifiers_available: true,
            persistent_client_expiration: None,
            max_connection_rate: 0,
            max_publish_rate: 0,
            max_publish_bytes_rate: 0,
            max_subscriptions_per_client: 0,
            max_topic_levels: 128,
            max_client_id_length: 65_535,
            memory_high_water: 0,
            shared_subscription_policy: SharedSubscriptionPolicy::RoundRobin,
        }
    }
}

/// MQTT 5.0 features an operator turns on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// Answer a CONNECT with Request Response Information 1 with this prefix followed by the client id as
    /// Response Information: the base of the client's response topics. `None` sends none.
    pub response_information_prefix: Option<String>,
    /// Check that the payload of a PUBLISH (or will) whose Payload Format Indicator says UTF-8 is valid
    /// UTF-8, and refuse it with 0x99 Payload format invalid if not.
    pub validate_utf8_payloads: bool,
    /// Send every MQTT 5 client to this server (host, host:port, or several separated by spaces): CONNECT
    /// is refused with 0x9C Use another server (0x9D Server moved with `server_moved`) and this Server
    /// Reference; MQTT 3.x clients are refused as "server unavailable".
    pub server_reference: Option<String>,
    /// The redirection is permanent (0x9D Server moved) rather than temporary (0x9C Use another server).
    pub server_moved: bool,
}

/// How durable state is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersistenceConfig {
    /// `fsync` (default), `buffered`, or `memory` (mosquitto.conf `persistence false`).
    pub durability: Durability,
    /// Directory of the store (`persistence_location`); relative to the working directory.
    pub location: PathBuf,
    /// Seconds between saves (`autosave_interval`; accepted, Tern writes continuously).
    pub autosave_interval: u64,
    /// `fsync` mode: longest a durable change waits for others to share its fsync, in milliseconds.
    pub commit_delay_ms: u64,
    /// `buffered` mode: milliseconds between fsyncs.
    pub sync_interval_ms: u64,
}

/// When an acknowledged QoS 1/2 message is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Acknowledged after it is on disk (fsync, group-committed): survives a crash and a power loss.
    #[default]
    Fsync,
    /// Acknowledged once written to the OS, fsynced every `sync_interval_ms`: survives a crash (`kill -9`),
    /// may lose that interval on a power loss.
    Buffered,
    /// Nothing is stored: sessions and retained messages end with the process.
    Memory,
}

impl PersistenceConfig {
    /// Whether state is stored on disk.
    pub fn enabled(&self) -> bool {
        self.durability != Durability::Memory
    }
}

impl Default for PersistenceConfig {
    fn default() -> Self {
        PersistenceConfig {
            durability: Durability::Fsync,
            location: PathBuf::from("tern-data"),
            autosave_interval: 1800,
            commit_delay_ms: 2,
            sync_interval_ms: 1000,
        }
    }
}

/// Where logs go and what they include.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `stdout`, `stderr`, `syslog`, `topic` (`$SYS/broker/log/...`), `file PATH`; empty logs nothing
    /// (mosquitto.conf `log_dest none`).
    pub dest: Vec<String>,
    /// Mosquitto log types: `error`, `warning`, `notice`, `information`, `subscribe`, `unsubscribe`,
    /// `websockets`, `debug`, `internal`, or `all`; empty logs nothing (`log_type none`). Default: error,
    /// warning, notice, information (Mosquitto 2's).
    pub types: Vec<String>,
    /// Log client connections and disconnections (`connection_messages`).
    pub connection_messages: bool,
    /// Log every connect/subscribe/publish like `mosquitto -v`.
    pub verbose: bool,
    /// Add the payload (escaped, its first 64 bytes) to the verbose PUBLISH lines.
    /// Off by default: payloads may carry data the operator must not see in logs.
    pub payloads: bool,
    /// The syslog daemon's datagram socket for `dest = ["syslog"]`.
    pub syslog_socket: PathBuf,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            dest: vec!["stderr".to_owned()],
            types: log::DEFAULT_TYPES.iter().map(|t| (*t).to_owned()).collect(),
            connection_messages: true,
            verbose: false,
            payloads: false,
            syslog_socket: PathBuf::from(log::SYSLOG_SOCKET),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_writes_out_the_anonymous_default_without_changing_decisions() {
        for listeners in [vec![], vec![ListenerConfig::default()]] {
            let config = Config { listeners, ..Config::default() };
            let effective = config.effective();
            assert_eq!(effective.security.allow_anonymous, Some(config.listeners.is_empty()));
            for listener in config.effective_listeners() {
                assert_eq!(effective.allow_anonymous_for(&listener), config.allow_anonymous_for(&listener));
            }
        }
    }

    #[test]
    fn a_listener_uses_its_own_security_only_with_per_listener_settings() {
        let own = SecurityConfig { allow_anonymous: Some(true), ..SecurityConfig::default() };
        let listener = ListenerConfig { security: Some(own.clone()), ..ListenerConfig::default() };
        let mut config = Config { listeners: vec![listener.clone()], ..Config::default() };
        assert_eq!(config.security_for(&listener), &config.security);
        assert!(!config.allow_anonymous_for(&listener));
        config.per_listener_settings = true;
        assert_eq!(config.security_for(&listener), &own);
        assert!(config.allow_anonymous_for(&listener));
    }
}
