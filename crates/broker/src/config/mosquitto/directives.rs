//! Mosquitto directives Tern accepts without acting on, and those it refuses, each with the reason.
//!
//! Accepting is reserved for directives whose absence of effect cannot weaken security or surprise a
//! client (log formatting, libwebsockets tuning); anything else Tern does not implement fails start-up with
//! its reason, so an operator never believes a setting is in force when it is not.
//! docs/migrating-from-mosquitto.md lists the same table.

/// The argument an accepted-but-ignored directive must still have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArgKind {
    Bool,
    Int,
    Text,
}

/// What Tern does with a directive it does not implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    /// Accepted (its argument checked) and ignored, for the reason given.
    Ignored(ArgKind, &'static str),
    /// Refused at start-up, for the reason given.
    Unsupported(&'static str),
}

const BRIDGES: &str = "bridges are not supported yet; run the bridge in Mosquitto or another client";
const PLUGINS: &str = "plugins are not supported; use password_file and acl_file";
const ENGINES: &str = "OpenSSL engines are not available with rustls; use a PEM key file";
const PSK: &str = "TLS-PSK is not available in rustls; use certificates (cafile, certfile, keyfile)";

/// Mosquitto bridge directives (a `connection` section).
const BRIDGE_DIRECTIVES: &[&str] = &[
    "connection",
    "address",
    "addresses",
    "bridge_alpn",
    "bridge_attempt_unsubscribe",
    "bridge_bind_address",
    "bridge_cafile",
    "bridge_capath",
    "bridge_certfile",
    "bridge_identity",
    "bridge_insecure",
    "bridge_keyfile",
    "bridge_max_packet_size",
    "bridge_outgoing_retain",
    "bridge_protocol_version",
    "bridge_psk",
    "bridge_require_ocsp",
    "bridge_tls_version",
    "cleansession",
    "clientid",
    "idle_timeout",
    "keepalive_interval",
    "local_cleansession",
    "local_clientid",
    "local_password",
    "local_username",
    "notification_topic",
    "notifications",
    "notifications_local_only",
    "password",
    "remote_clientid",
    "remote_password",
    "remote_username",
    "restart_timeout",
    "round_robin",
    "start_type",
    "threshold",
    "topic",
    "try_private",
    "username",
];

/// The status of a directive the parser does not handle itself; `None` for an unknown name.
pub(super) fn status(name: &str) -> Option<Status> {
    use ArgKind::*;
    use Status::*;
    if BRIDGE_DIRECTIVES.contains(&name) {
        return Some(Unsupported(BRIDGES));
    }
    if name.starts_with("auth_opt_") || name.starts_with("plugin_opt_") {
        return Some(Unsupported(PLUGINS));
    }
    Some(match name {
        "autosave_on_changes" => Ignored(Bool, "Tern writes changes to its store as they happen"),
        "persistence_file" => Ignored(Text, "Tern keeps its store in persistence_location; no file name"),
        "log_timestamp" => Ignored(Bool, "Tern's log lines always carry a timestamp"),
        "log_timestamp_format" => Ignored(Text, "Tern's log timestamps are RFC 3339"),
        "log_facility" => Ignored(Int, "Tern logs to syslog with the daemon facility"),
        "retry_interval" => Ignored(Int, "no longer used, by Mosquitto 2.0 either"),
        "set_tcp_nodelay" => Ignored(Bool, "Tern manages socket options itself"),
        "allow_duplicate_messages" => {
            Ignored(Bool, "deprecated in Mosquitto 2.0; overlapping subscriptions follow the MQTT rules")
        }
        "dhparamfile" => Ignored(Text, "rustls uses ECDHE key exchange only, which needs no DH parameters"),
        "websockets_log_level" => Ignored(Int, "specific to libwebsockets"),
        "websockets_headers_size" => Ignored(Int, "specific to libwebsockets"),
        "auth_plugin" | "plugin" | "auth_plugin_deny_special_chars" => Unsupported(PLUGINS),
        "psk_file" | "psk_hint" => Unsupported(PSK),
        "tls_engine" | "tls_engine_kpass_sha1" => Unsupported(ENGINES),
        "bind_interface" => Unsupported("bind to the interface's address instead: `listener PORT ADDRESS`"),
        "http_dir" => Unsupported("WebSocket listeners do not serve HTTP files"),
        "memory_limit" => {
            Unsupported("bound memory with max_queued_messages, max_queued_bytes and message_size_limit")
        }
        "clientid_prefixes" => Unsupported("deprecated in Mosquitto 2.0; restrict clients with acl_file"),
        "check_retain_source" => Unsupported(
            "retained messages are checked against the subscriber's read access, not the publisher's",
        ),
        _ => return None,
    })
}

/// Why `tls_keyform engine` is refused (`tls_keyform pem` is the default and accepted).
pub(super) const TLS_KEYFORM_ENGINE: &str = ENGINES;

/// Why `upgrade_outgoing_qos true` is refused (`false` is what Tern does).
pub(super) const UPGRADE_OUTGOING_QOS: &str =
    "non-standard: a message is never delivered with a QoS above the one it was published with";

/// Why `log_dest dlt` is refused.
pub(super) const LOG_DEST_DLT: &str = "the automotive DLT log destination is not available";
