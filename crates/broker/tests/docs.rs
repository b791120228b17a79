//! Test whether the configuration pages say what the code does: every directive of mosquitto.conf(5) is
//! listed on the migration page, each behaves as its listed status says, and the TOML reference documents
//! every key, with a complete example that loads.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tern_broker::config::{Config, ConfigError, DirectiveProblem};

/// The directives of mosquitto.conf(5), Mosquitto 2.0.11.
const MAN_PAGE: &[&str] = &[
    "acl_file",
    "address",
    "addresses",
    "allow_anonymous",
    "allow_duplicate_messages",
    "allow_zero_length_clientid",
    "auth_opt_*",
    "auth_plugin",
    "auth_plugin_deny_special_chars",
    "auto_id_prefix",
    "autosave_interval",
    "autosave_on_changes",
    "bind_address",
    "bind_interface",
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
    "cafile",
    "capath",
    "certfile",
    "check_retain_source",
    "ciphers",
    "ciphers_tls1.3",
    "cleansession",
    "clientid_prefixes",
    "connection",
    "connection_messages",
    "crlfile",
    "dhparamfile",
    "http_dir",
    "idle_timeout",
    "include_dir",
    "keepalive_interval",
    "keyfile",
    "listener",
    "local_cleansession",
    "local_clientid",
    "local_password",
    "local_username",
    "log_dest",
    "log_facility",
    "log_timestamp",
    "log_timestamp_format",
    "log_type",
    "max_connections",
    "max_inflight_bytes",
    "max_inflight_messages",
    "max_keepalive",
    "max_packet_size",
    "max_qos",
    "max_queued_bytes",
    "max_queued_messages",
    "max_topic_alias",
    "memory_limit",
    "message_size_limit",
    "mount_point",
    "notification_topic",
    "notifications",
    "notifications_local_only",
    "password_file",
    "per_listener_settings",
    "persistence",
    "persistence_file",
    "persistence_location",
    "persistent_client_expiration",
    "pid_file",
    "port",
    "protocol",
    "psk_file",
    "psk_hint",
    "queue_qos0_messages",
    "remote_clientid",
    "remote_password",
    "remote_username",
    "require_certificate",
    "restart_timeout",
    "retain_available",
    "round_robin",
    "set_tcp_nodelay",
    "socket_domain",
    "start_type",
    "sys_interval",
    "threshold",
    "tls_engine",
    "tls_engine_kpass_sha1",
    "tls_keyform",
    "tls_version",
    "topic",
    "try_private",
    "upgrade_outgoing_qos",
    "use_identity_as_username",
    "use_subject_as_username",
    "use_username_as_clientid",
    "user",
    "websockets_headers_size",
    "websockets_log_level",
];

fn page(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `` `name` `` spans of a table cell.
fn names(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// (directive names, status) of every row of the migration page's directive tables.
fn rows() -> Vec<(Vec<String>, String)> {
    let text = page("migrating-from-mosquitto.md");
    let tables = &text[text.find("## Every directive").expect("directive section")..];
    tables
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').collect();
            (names(cells[1]), cells[2].trim().to_owned())
        })
        .collect()
}

/// An argument each directive takes, and for "supported / refused" rows the one refused.
fn arguments(directive: &str) -> (&'static str, Option<&'static str>) {
    match directive {
        "upgrade_outgoing_qos" => ("false", Some("true")),
        "tls_keyform" => ("pem", Some("engine")),
        "include_dir" => ("tests/configs/debian.d", None),
        "listener" | "port" => ("1885", None),
        "max_qos" | "maximum_qos" | "log_facility" | "websockets_log_level" => ("1", None),
        "persistent_client_expiration" => ("1d", None),
        "log_dest" => ("stdout", None),
        "log_type" => ("error", None),
        "protocol" => ("websockets", None),
        "socket_domain" => ("ipv4", None),
        "tls_version" => ("tlsv1.2", None),
        "max_keepalive" | "max_packet_size" | "max_inflight_messages" => ("60", None),
        d if d.starts_with("max_")
            || d.ends_with("_interval")
            || d.ends_with("_size")
            || d.ends_with("_limit") =>
        {
            ("10", None)
        }
        d if d.starts_with("allow_")
            || d.starts_with("use_")
            || d.starts_with("log_timestamp") && d != "log_timestamp_format"
            || matches!(
                d,
                "autosave_on_changes"
                    | "connection_messages"
                    | "per_listener_settings"
                    | "persistence"
                    | "retained_persistence"
                    | "queue_qos0_messages"
                    | "retain_available"
                    | "set_tcp_nodelay"
                    | "require_certificate"
                    | "auth_plugin_deny_special_chars"
                    | "check_retain_source"
            ) =>
        {
            ("true", None)
        }
        _ => ("x/y", None),
    }
}

/// What loading `listener 1883` followed by `directive argument` gives.
fn load(directive: &str, argument: &str) -> Result<(Config, Vec<String>), ConfigError> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file: PathBuf = dir.path().join("mosquitto.conf");
    std::fs::write(&file, format!("listener 1883\n{directive} {argument}\n")).expect("write");
    Config::load_with_notices(&file)
        .map(|(config, notices)| (config, notices.into_iter().map(|n| n.directive).collect()))
}

fn assert_refused(directive: &str, argument: &str) {
    match load(directive, argument) {
        Err(ConfigError::Directive { at, directive: named, problem: DirectiveProblem::Unsupported(_) }) => {
            assert_eq!((at.line, named.as_str()), (2, directive));
        }
        other => panic!("`{directive} {argument}` is documented as refused, got {other:?}"),
    }
}

#[test]
fn every_mosquitto_directive_is_on_the_migration_page() {
    let documented: BTreeSet<String> = rows().into_iter().flat_map(|(names, _)| names).collect();
    let missing: Vec<_> = MAN_PAGE.iter().filter(|d| !documented.contains(**d)).collect();
    assert!(missing.is_empty(), "not documented: {missing:?}");
}

#[test]
fn every_documented_directive_behaves_as_its_status_says() {
    for (names, status) in rows() {
        for name in names {
            let directive = name.replace('*', "host");
            let (argument, refused) = arguments(&directive);
            match status.as_str() {
                "supported" | "supported / refused" => {
                    match load(&directive, argument) {
                        Ok((_, notices)) => assert!(notices.is_empty(), "`{directive}`: {notices:?}"),
                        // The directive was read; what is left is a consistency check (a CA file alone).
                        Err(ConfigError::Invalid(_)) => {}
                        Err(e) => panic!("`{directive} {argument}` is documented as supported: {e}"),
                    }
                    if let Some(refused) = refused {
                        assert_refused(&directive, refused);
                    }
                }
                "ignored" => match load(&directive, argument) {
                    Ok((_, notices)) => {
                        assert_eq!(notices, std::slice::from_ref(&directive), "`{directive}`")
                    }
                    Err(e) => panic!("`{directive} {argument}` is documented as ignored: {e}"),
                },
                "refused" => assert_refused(&directive, argument),
                other => panic!("`{name}`: unknown status {other:?}"),
            }
        }
    }
}

#[test]
fn the_complete_toml_example_loads_and_every_key_is_documented() {
    let text = page("configuration.md");
    let start = text.find("```toml\n").expect("a TOML example") + "```toml\n".len();
    let example = &text[start..start + text[start..].find("```").expect("end of the example")];
    let config = match Config::from_toml_str(example, "configuration.md") {
        Ok(config) => config,
        Err(e) => panic!("{e}"),
    };
    let printed = config.to_toml().expect("printable");
    for key in printed.lines().filter_map(|line| line.split_once(" = ").map(|(key, _)| key)) {
        assert!(text.contains(&format!("| `{key}` |")), "`{key}` has no row in configuration.md");
        assert!(example.contains(&format!("{key} = ")), "`{key}` is missing from the complete example");
    }
}
