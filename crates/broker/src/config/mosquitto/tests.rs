//! One test per directive and per error path; every error is checked for its `FILE:LINE` and directive.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::{duration, log, Problem, Protocol, Scope, SocketDomain};

const FILE: &str = "test.conf";

/// Parses without validating.
fn parsed(text: &str) -> Parsed {
    match parse_bytes(text.as_bytes(), Path::new(FILE)) {
        Ok(parsed) => parsed,
        Err(e) => panic!("{e}"),
    }
}

fn config(text: &str) -> Config {
    parsed(text).config
}

/// The line, directive and problem of a parse error.
fn error(text: &str) -> (usize, String, DirectiveProblem) {
    match parse_bytes(text.as_bytes(), Path::new(FILE)) {
        Err(ConfigError::Directive { at, directive, problem }) => {
            assert_eq!(at.file, Path::new(FILE));
            (at.line, directive, problem)
        }
        other => panic!("expected a directive error, got {other:?}"),
    }
}

fn at(line: usize) -> Location {
    Location { file: FILE.into(), line }
}

fn invalid(value: &str, expected: &'static str) -> DirectiveProblem {
    DirectiveProblem::InvalidValue { value: value.into(), expected }
}

#[test]
fn an_empty_file_is_mosquittos_local_only_default() {
    let c = config("");
    assert!(c.listeners.is_empty());
    assert_eq!(c.security.allow_anonymous, Some(true));
    let listeners = c.effective_listeners();
    let addresses: Vec<_> = listeners.iter().map(|l| (l.port, l.bind_address.as_deref())).collect();
    assert_eq!(addresses, [(1883, Some("127.0.0.1")), (1883, Some("::1"))]);
    assert!(listeners.iter().all(|l| c.allow_anonymous_for(l)));
}

#[test]
fn comments_blank_lines_and_surrounding_whitespace_are_skipped() {
    let c = config("# comment\n\n   \n\t# indented comment\r\nlistener 1884   \r\nmax_qos\t1 # trailing\n");
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].port, 1884);
    assert_eq!(c.listeners[0].max_qos, Some(1));
}

#[test]
fn listener_directives_apply_to_the_most_recent_listener() {
    let c = config(
        "listener 1883\nmax_connections 10\nlistener 8883 10.0.0.1\nmax_connections 20\nprotocol websockets\n",
    );
    let l = &c.listeners;
    assert_eq!((l[0].port, l[0].bind_address.as_deref(), l[0].max_connections), (1883, None, Some(10)));
    assert_eq!(
        (l[1].port, l[1].bind_address.as_deref(), l[1].max_connections),
        (8883, Some("10.0.0.1"), Some(20))
    );
    assert_eq!((l[0].protocol, l[1].protocol), (Protocol::Mqtt, Protocol::Websockets));
}

#[test]
fn listener_port_zero_is_a_unix_socket() {
    let c = config("listener 0 /run/mosquitto.sock\n");
    assert_eq!(c.listeners[0].port, 0);
    assert_eq!(c.listeners[0].unix_socket.as_deref(), Some(Path::new("/run/mosquitto.sock")));
    assert_eq!(c.listeners[0].bind_address, None);
}

#[test]
fn listener_errors_name_the_line() {
    let missing = DirectiveProblem::MissingArgument("a Unix socket path after port 0");
    assert_eq!(error("\nlistener 0\n"), (2, "listener".into(), missing));
    let expected = "a port (0 for a Unix socket) and an optional address or socket path";
    assert_eq!(error("listener\n"), (1, "listener".into(), DirectiveProblem::MissingArgument(expected)));
    assert_eq!(
        error("listener 65536\n"),
        (1, "listener".into(), invalid("65536", "a port number, 0 to 65535"))
    );
    assert_eq!(error("listener x\n"), (1, "listener".into(), invalid("x", "a port number, 0 to 65535")));
    assert_eq!(
        error("listener 1 a b\n"),
        (1, "listener".into(), DirectiveProblem::ExtraArgument("b".into()))
    );
    assert_eq!(config("listener 1883 # plain MQTT\n").listeners[0].bind_address, None);
}

#[test]
fn port_and_bind_address_configure_the_default_listener_wherever_they_are() {
    let c = config("listener 8883\nmax_qos 1\nport 1884\nbind_address 127.0.0.1\n");
    assert_eq!(c.listeners.len(), 2);
    let (default, explicit) = (&c.listeners[0], &c.listeners[1]);
    assert_eq!(
        (default.port, default.bind_address.as_deref(), default.max_qos),
        (1884, Some("127.0.0.1"), None)
    );
    assert_eq!((explicit.port, explicit.max_qos), (8883, Some(1)));
    assert_eq!(c.security.allow_anonymous, Some(false));
}

#[test]
fn bind_address_alone_opens_the_default_listener_on_1883() {
    let c = config("bind_address localhost\n");
    assert_eq!((c.listeners[0].port, c.listeners[0].bind_address.as_deref()), (1883, Some("localhost")));
}

#[test]
fn directives_before_the_first_listener_configure_the_default_listener() {
    let c = config("port 1883\nmax_connections 5\nlistener 8883\nmax_connections 6\n");
    assert_eq!((c.listeners[0].port, c.listeners[0].max_connections), (1883, Some(5)));
    assert_eq!((c.listeners[1].port, c.listeners[1].max_connections), (8883, Some(6)));
}

#[test]
fn a_default_listener_directive_without_a_default_listener_is_refused() {
    let (line, directive, problem) = error("max_qos 1\nlistener 8883\n");
    assert_eq!((line, directive.as_str()), (1, "max_qos"));
    assert_eq!(problem, DirectiveProblem::Misplaced(NO_DEFAULT_LISTENER));
}

#[test]
fn local_only_mode_applies_default_listener_directives_to_loopback() {
    let c = config("max_qos 1\n");
    let addresses: Vec<_> = c.listeners.iter().map(|l| (l.bind_address.as_deref(), l.max_qos)).collect();
    assert_eq!(addresses, [(Some("127.0.0.1"), Some(1)), (Some("::1"), Some(1))]);
    assert_eq!(c.security.allow_anonymous, Some(true));
}

#[test]
fn port_given_twice_keeps_the_last_with_a_notice() {
    let p = parsed("port 1884\nport 1885\n");
    assert_eq!(p.config.listeners[0].port, 1885);
    assert_eq!(
        p.notices,
        [Notice { at: at(2), directive: "port".into(), note: "given again: the last value is used" }]
    );
    assert_eq!(error("port 0\n"), (1, "port".into(), invalid("0", "a port number, 1 to 65535")));
}

#[test]
fn anonymous_clients_are_refused_by_default_once_a_listener_is_configured() {
    assert_eq!(config("listener 1883\n").security.allow_anonymous, Some(false));
    assert_eq!(config("listener 1883\nallow_anonymous true\n").security.allow_anonymous, Some(true));
    // Tern keeps an explicit refusal in local-only mode (Mosquitto would allow anonymous clients anyway).
    assert_eq!(config("allow_anonymous false\n").security.allow_anonymous, Some(false));
}

#[test]
fn security_directives_are_global_by_default() {
    let c = config(
        "listener 1883\npassword_file /etc/p\nlistener 8883\nacl_file /etc/acl\nallow_zero_length_clientid false\n\
         auto_id_prefix tern-\n",
    );
    assert_eq!(c.security.password_file.as_deref(), Some(Path::new("/etc/p")));
    assert_eq!(c.security.acl_file.as_deref(), Some(Path::new("/etc/acl")));
    assert!(!c.security.allow_zero_length_clientid);
    assert_eq!(c.security.auto_id_prefix, "tern-");
    assert!(c.listeners.iter().all(|l| l.security.is_none()));
}

#[test]
fn per_listener_settings_give_each_listener_its_own_security() {
    let c = config(
        "per_listener_settings true\nlistener 1883\nallow_anonymous true\nlistener 8883\npassword_file /p\n",
    );
    assert!(c.per_listener_settings);
    assert_eq!(c.security, SecurityConfig::default());
    let first = c.listeners[0].security.as_ref().unwrap();
    let second = c.listeners[1].security.as_ref().unwrap();
    assert_eq!((first.allow_anonymous, first.password_file.as_deref()), (Some(true), None));
    assert_eq!(
        (second.allow_anonymous, second.password_file.as_deref()),
        (Some(false), Some(Path::new("/p")))
    );
    assert!(c.allow_anonymous_for(&c.listeners[0]));
    assert!(!c.allow_anonymous_for(&c.listeners[1]));
}

#[test]
fn per_listener_settings_must_come_before_security_directives() {
    let (line, directive, problem) = error("allow_anonymous true\nper_listener_settings true\n");
    assert_eq!((line, directive.as_str()), (2, "per_listener_settings"));
    assert!(matches!(problem, DirectiveProblem::Misplaced(_)));
    // Repeating the value in force is harmless.
    assert!(!config("allow_anonymous true\nper_listener_settings false\n").per_listener_settings);
}

#[test]
fn per_listener_security_before_any_listener_goes_to_the_default_listener() {
    let c = config("per_listener_settings true\nport 1883\npassword_file /p\nlistener 8883\n");
    assert_eq!(c.listeners[0].security.as_ref().unwrap().password_file.as_deref(), Some(Path::new("/p")));
    assert_eq!(c.listeners[1].security.as_ref().unwrap().password_file, None);
    let (line, directive, _) = error("per_listener_settings true\npassword_file /p\nlistener 8883\n");
    assert_eq!((line, directive.as_str()), (2, "password_file"));
}

#[test]
fn per_listener_security_without_any_listener_applies_to_loopback() {
    let c = config("per_listener_settings true\nallow_anonymous false\npassword_file /p\n");
    assert_eq!(c.listeners.len(), 2);
    for listener in &c.listeners {
        let security = listener.security.as_ref().unwrap();
        assert_eq!(
            (security.allow_anonymous, security.password_file.as_deref()),
            (Some(false), Some(Path::new("/p")))
        );
    }
}

#[test]
fn string_directives_may_appear_once_per_scope() {
    let dup = |line| DirectiveProblem::Duplicate(at(line));
    assert_eq!(error("password_file /a\npassword_file /b\n"), (2, "password_file".into(), dup(1)));
    assert_eq!(error("acl_file /a\nacl_file /b\n"), (2, "acl_file".into(), dup(1)));
    assert_eq!(error("listener 1\ncertfile /a\ncertfile /b\n"), (3, "certfile".into(), dup(2)));
    assert_eq!(error("listener 1\ncafile /a\ncafile /b\n"), (3, "cafile".into(), dup(2)));
    assert_eq!(error("pid_file /a\npid_file /b\n"), (2, "pid_file".into(), dup(1)));
    assert_eq!(
        error("persistence_location /a\npersistence_location /b\n"),
        (2, "persistence_location".into(), dup(1))
    );
    assert_eq!(error("bind_address a\nbind_address b\n"), (2, "bind_address".into(), dup(1)));
    let c = config("listener 1\ncertfile /a\nkeyfile /k\nlistener 2\ncertfile /b\nkeyfile /k\n");
    assert_eq!(c.listeners[1].tls.as_ref().unwrap().certfile, Path::new("/b"));
    // Non-string directives: the last value wins, as in Mosquitto.
    assert_eq!(config("listener 1\nmax_qos 0\nmax_qos 1\n").listeners[0].max_qos, Some(1));
}

#[test]
fn tls_directives_make_a_tls_listener() {
    let c = config(
        "listener 8883\ncafile /ca.pem\ncapath /cas\ncertfile /server.pem\nkeyfile /server.key\ncrlfile /crl.pem\n\
         require_certificate true\nuse_identity_as_username true\nuse_subject_as_username false\n\
         tls_version tlsv1.3\nciphers ECDHE-RSA-AES128-GCM-SHA256\nciphers_tls1.3 TLS_AES_128_GCM_SHA256\n\
         tls_keyform pem\ndhparamfile /dh.pem\n",
    );
    let tls = c.listeners[0].tls.as_ref().unwrap();
    assert_eq!(tls.cafile.as_deref(), Some(Path::new("/ca.pem")));
    assert_eq!(tls.capath.as_deref(), Some(Path::new("/cas")));
    assert_eq!(
        (tls.certfile.as_path(), tls.keyfile.as_path()),
        (Path::new("/server.pem"), Path::new("/server.key"))
    );
    assert_eq!(tls.crlfile.as_deref(), Some(Path::new("/crl.pem")));
    assert!(tls.require_certificate && tls.use_identity_as_username && !tls.use_subject_as_username);
    assert_eq!(tls.tls_version.as_deref(), Some("tlsv1.3"));
    assert_eq!(tls.ciphers.as_deref(), Some("ECDHE-RSA-AES128-GCM-SHA256"));
    assert_eq!(tls.ciphers_tls13.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
}

#[test]
fn a_false_tls_flag_leaves_a_plain_listener_plain() {
    assert_eq!(config("listener 1883\nrequire_certificate false\n").listeners[0].tls, None);
}

#[test]
fn file_paths_keep_their_spaces() {
    let c = config("listener 8883\ncertfile /etc/my certs/server.pem\n");
    assert_eq!(c.listeners[0].tls.as_ref().unwrap().certfile, Path::new("/etc/my certs/server.pem"));
}

#[test]
fn tls_versions_rustls_lacks_are_refused() {
    let rustls = DirectiveProblem::Unsupported("rustls supports TLS 1.2 and 1.3 only");
    assert_eq!(error("listener 1\ntls_version tlsv1.1\n"), (2, "tls_version".into(), rustls));
    assert_eq!(
        error("listener 1\ntls_version tls2\n"),
        (2, "tls_version".into(), invalid("tls2", "tlsv1.2 or tlsv1.3"))
    );
    let engine = DirectiveProblem::Unsupported(directives::TLS_KEYFORM_ENGINE);
    assert_eq!(error("listener 1\ntls_keyform engine\n"), (2, "tls_keyform".into(), engine));
}

#[test]
fn psk_is_refused_with_its_reason() {
    for directive in ["psk_hint", "psk_file"] {
        let (line, name, problem) = error(&format!("listener 8883\n{directive} hint\n"));
        assert_eq!((line, name.as_str()), (2, directive));
        assert!(matches!(problem, DirectiveProblem::Unsupported(reason) if reason.contains("rustls")));
    }
}

#[test]
fn global_limits_are_read() {
    let c = config(
        "max_inflight_bytes 1000\nmax_inflight_messages 10\nmax_queued_bytes 2000\nmax_queued_messages 100\n\
         queue_qos0_messages true\nmessage_size_limit 1024\nmax_packet_size 2048\nmax_keepalive 60\n\
         retain_available false\npersistent_client_expiration 14d\n",
    );
    let l = &c.limits;
    assert_eq!((l.max_inflight_bytes, l.max_inflight_messages), (1000, 10));
    assert_eq!((l.max_queued_bytes, l.max_queued_messages, l.queue_qos0_messages), (2000, 100, true));
    assert_eq!((l.message_size_limit, l.max_packet_size, l.max_keepalive), (1024, 2048, 60));
    assert!(!l.retain_available);
    assert_eq!(l.persistent_client_expiration, Some(Duration::from_secs(14 * 86_400)));
}

#[test]
fn mosquittos_unlimited_values_are_understood() {
    let l = config("max_inflight_messages 0\nmax_queued_messages -1\nmax_inflight_bytes -5\n").limits;
    assert_eq!((l.max_inflight_messages, l.max_queued_messages, l.max_inflight_bytes), (65_535, 0, 0));
    assert_eq!(config("max_inflight_messages -1\n").limits.max_inflight_messages, 65_535);
    let c = config(
        "listener 1\nmax_connections -1\nlistener 2\nmax_connections 0\nlistener 3\nmax_connections 7\n",
    );
    let limits: Vec<_> = c.listeners.iter().map(|l| l.max_connections).collect();
    assert_eq!(limits, [None, None, Some(7)]);
}

#[test]
fn out_of_range_limits_name_the_line() {
    let cases: &[(&str, &str, &'static str)] = &[
        ("max_keepalive 5", "5", "10 to 65535 seconds"),
        ("max_keepalive 65536", "65536", "10 to 65535 seconds"),
        ("max_packet_size 19", "19", "20 to 268435460 bytes"),
        ("message_size_limit 268435456", "268435456", "0 to 268435455 bytes"),
        ("max_inflight_messages 65536", "65536", "0 (no limit) to 65535"),
        ("sys_interval 65536", "65536", "0 to 65535 seconds"),
        ("sys_interval -1", "-1", "0 to 65535 seconds"),
        ("persistent_client_expiration 10x", "10x", duration::EXPECTED),
        ("persistent_client_expiration 0d", "0d", duration::EXPECTED),
    ];
    for (line, value, expected) in cases {
        let directive = line.split(' ').next().unwrap();
        assert_eq!(
            error(&format!("# x\n{line}\n")),
            (2, directive.into(), invalid(value, expected)),
            "{line}"
        );
    }
}

#[test]
fn listener_limits_are_per_listener() {
    let c = config("listener 1\nmax_qos 1\nmax_topic_alias 0\nlistener 2\nmaximum_qos 0\n");
    assert_eq!((c.listeners[0].max_qos, c.listeners[0].max_topic_alias), (Some(1), Some(0)));
    assert_eq!((c.listeners[1].max_qos, c.listeners[1].max_topic_alias), (Some(0), None));
    assert_eq!((c.max_qos_for(&c.listeners[1]), c.max_topic_alias_for(&c.listeners[1])), (0, 10));
    assert_eq!(error("listener 1\nmax_qos 3\n"), (2, "max_qos".into(), invalid("3", "0, 1 or 2")));
    assert_eq!(
        error("listener 1\nmax_topic_alias 65536\n"),
        (2, "max_topic_alias".into(), invalid("65536", "0 to 65535"))
    );
}

#[test]
fn persistence_and_process_settings_are_read() {
    let c = config(
        "persistence true\npersistence_location /var/lib/mosquitto/\nautosave_interval 60\npid_file /run/m.pid\n\
         user mosquitto\nsys_interval 0\n",
    );
    assert!(c.persistence.enabled());
    assert_eq!(c.persistence.location, Path::new("/var/lib/mosquitto/"));
    assert_eq!(c.persistence.autosave_interval, 60);
    assert_eq!(c.pid_file.as_deref(), Some(Path::new("/run/m.pid")));
    assert_eq!((c.user.as_deref(), c.sys_interval), (Some("mosquitto"), 0));
    assert!(config("retained_persistence true\n").persistence.enabled());
    // Durable unless switched off: `persistence false` is Tern's memory mode.
    assert!(config("").persistence.enabled());
    assert_eq!(config("persistence false\n").persistence.durability, crate::config::Durability::Memory);
    assert_eq!(config("autosave_interval -1\n").persistence.autosave_interval, 0);
}

#[test]
fn log_destinations_accumulate_and_none_clears_them() {
    assert_eq!(config("").log.dest, ["stderr"]);
    assert_eq!(config("log_dest stdout\nlog_dest syslog\nlog_dest stdout\n").log.dest, ["stdout", "syslog"]);
    assert!(config("log_dest stdout\nlog_dest none\n").log.dest.is_empty());
    assert_eq!(config("log_dest none\nlog_dest topic\n").log.dest, ["topic"]);
    assert_eq!(config("log_dest file /var/log/my logs/m.log\n").log.dest, ["file /var/log/my logs/m.log"]);
}

#[test]
fn log_destination_errors_name_the_line() {
    let expected = "stdout, stderr, syslog, topic, none or file PATH";
    assert_eq!(
        error("log_dest file /a\nlog_dest file /b\n"),
        (2, "log_dest".into(), DirectiveProblem::Duplicate(at(1)))
    );
    let missing = DirectiveProblem::MissingArgument("a log file path after `file`");
    assert_eq!(error("log_dest file\n"), (1, "log_dest".into(), missing));
    assert_eq!(
        error("log_dest dlt\n"),
        (1, "log_dest".into(), DirectiveProblem::Unsupported(directives::LOG_DEST_DLT))
    );
    assert_eq!(error("log_dest printer\n"), (1, "log_dest".into(), invalid("printer", expected)));
    assert_eq!(error("log_dest\n"), (1, "log_dest".into(), DirectiveProblem::MissingArgument(expected)));
    assert_eq!(
        error("log_dest stdout stderr\n"),
        (1, "log_dest".into(), DirectiveProblem::ExtraArgument("stderr".into()))
    );
}

#[test]
fn log_types_accumulate_all_and_none_replace_them() {
    assert_eq!(config("").log.types, ["error", "warning", "notice", "information"]);
    assert_eq!(config("log_type error\nlog_type subscribe\n").log.types, ["error", "subscribe"]);
    assert_eq!(config("log_type all\n").log.types.len(), log::TYPES.len());
    assert!(config("log_type all\nlog_type none\n").log.types.is_empty());
    let (line, directive, problem) = error("log_type verbose\n");
    assert_eq!((line, directive.as_str()), (1, "log_type"));
    assert!(matches!(problem, DirectiveProblem::InvalidValue { value, .. } if value == "verbose"));
}

#[test]
fn global_flags_are_read() {
    assert!(!config("connection_messages false\n").log.connection_messages);
    assert!(config("queue_qos0_messages 1\n").limits.queue_qos0_messages);
    assert!(!config("retain_available 0\n").limits.retain_available);
}

#[test]
fn boolean_and_number_errors_name_the_line() {
    let bool_expected = "true or false";
    assert_eq!(error("allow_anonymous yes\n"), (1, "allow_anonymous".into(), invalid("yes", bool_expected)));
    assert_eq!(
        error("allow_anonymous\n"),
        (1, "allow_anonymous".into(), DirectiveProblem::MissingArgument(bool_expected))
    );
    assert_eq!(
        error("persistence true false\n"),
        (1, "persistence".into(), DirectiveProblem::ExtraArgument("false".into()))
    );
    assert_eq!(
        error("max_queued_messages many\n"),
        (1, "max_queued_messages".into(), invalid("many", "a number; 0 is unlimited"))
    );
    assert_eq!(
        error("password_file\n"),
        (1, "password_file".into(), DirectiveProblem::MissingArgument("a file path"))
    );
    assert_eq!(
        error("pid_file   \n"),
        (1, "pid_file".into(), DirectiveProblem::MissingArgument("a file path"))
    );
}

#[test]
fn protocol_and_socket_domain_are_read() {
    let c = config("listener 9001\nprotocol websockets\nsocket_domain ipv6\n");
    assert_eq!(
        (c.listeners[0].protocol, c.listeners[0].socket_domain),
        (Protocol::Websockets, Some(SocketDomain::Ipv6))
    );
    assert_eq!(
        error("listener 1\nprotocol mqttsn\n"),
        (2, "protocol".into(), invalid("mqttsn", "mqtt or websockets"))
    );
    assert_eq!(
        error("listener 1\nsocket_domain ipv5\n"),
        (2, "socket_domain".into(), invalid("ipv5", "ipv4 or ipv6"))
    );
}

#[test]
fn mount_point_needs_a_listener_and_a_wildcard_free_prefix() {
    assert_eq!(
        config("listener 1\nmount_point tenant/a/\n").listeners[0].mount_point.as_deref(),
        Some("tenant/a/")
    );
    let misplaced = DirectiveProblem::Misplaced("needs a `listener` line before it");
    assert_eq!(error("mount_point a/\n"), (1, "mount_point".into(), misplaced));
    let bad = invalid("a/+/", "a topic prefix without '+' or '#'");
    assert_eq!(error("listener 1\nmount_point a/+/\n"), (2, "mount_point".into(), bad));
}

#[test]
fn use_username_as_clientid_is_per_listener() {
    let c = config("listener 1\nuse_username_as_clientid true\nlistener 2\n");
    assert!(c.listeners[0].use_username_as_clientid && !c.listeners[1].use_username_as_clientid);
}

#[test]
fn unknown_and_unsupported_directives_are_refused() {
    assert_eq!(error("listener 1\nmax_quos 1\n"), (2, "max_quos".into(), DirectiveProblem::Unknown));
    for line in [
        "connection bridge-01",
        "address 10.0.0.1:1883",
        "auth_plugin /p.so",
        "auth_opt_host x",
        "bind_interface eth0",
        "http_dir /www",
        "memory_limit 100",
        "clientid_prefixes x",
        "check_retain_source true",
        "tls_engine pkcs11",
        "upgrade_outgoing_qos true",
        "plugin /p.so",
    ] {
        let (line_no, directive, problem) = error(&format!("listener 1\n{line}\n"));
        assert_eq!((line_no, directive.as_str()), (2, line.split(' ').next().unwrap()), "{line}");
        assert!(matches!(problem, DirectiveProblem::Unsupported(_)), "{line}: {problem:?}");
    }
    assert_eq!(config("upgrade_outgoing_qos false\n"), config(""));
}

#[test]
fn ignored_directives_are_checked_and_reported() {
    let p =
        parsed("autosave_on_changes true\npersistence_file m.db\nlog_timestamp false\nretry_interval 20\n");
    let noted: Vec<_> = p.notices.iter().map(|n| (n.at.line, n.directive.as_str())).collect();
    assert_eq!(
        noted,
        [(1, "autosave_on_changes"), (2, "persistence_file"), (3, "log_timestamp"), (4, "retry_interval")]
    );
    assert_eq!(
        error("set_tcp_nodelay maybe\n"),
        (1, "set_tcp_nodelay".into(), invalid("maybe", "true or false"))
    );
    assert_eq!(
        error("persistence_file\n"),
        (1, "persistence_file".into(), DirectiveProblem::MissingArgument("a value"))
    );
}

#[test]
fn a_line_that_is_not_utf8_is_refused() {
    match parse_bytes(b"listener 1883\ncertfile /\xff\n", Path::new(FILE)) {
        Err(ConfigError::NotUtf8 { at: where_ }) => assert_eq!(where_, at(2)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_display_as_file_line_directive() {
    let e = parse_bytes(b"\n\nmax_keepalive 1\n", Path::new(FILE)).unwrap_err();
    assert_eq!(e.to_string(), "test.conf:3: max_keepalive: invalid value `1`: expected 10 to 65535 seconds");
}

#[test]
fn validation_problems_name_the_listener_line() {
    let e = Config::from_mosquitto_str("listener 1883\nlistener 8883\nrequire_certificate true\n", FILE)
        .unwrap_err();
    let ConfigError::Invalid(found) = e else { panic!("{e:?}") };
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].at, Some(at(2)));
    assert_eq!(found[0].scope, Scope::Listener { index: 1, name: "8883".into() });
    assert_eq!(found[0].problem, Problem::TlsWithoutCertificate);
    assert_eq!(found[1].problem, Problem::RequireCertificateWithoutCa);
    assert_eq!(
        found[0].to_string(),
        "test.conf:2: listener 8883: TLS settings need both certfile and keyfile"
    );
}

mod include_dir {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn included_files_load_in_order_after_the_main_file_lines_before() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.conf", "listener 2\n");
        write(dir.path(), "A.conf", "listener 1\n");
        write(dir.path(), "skip.txt", "bogus\n");
        let c = config(&format!("listener 0 /s\ninclude_dir {}\nlistener 3\n", dir.path().display()));
        let ports: Vec<_> = c.listeners.iter().map(|l| l.port).collect();
        assert_eq!(ports, [0, 1, 2, 3]);
    }

    #[test]
    fn each_included_file_starts_at_the_default_listener() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.conf", "max_qos 1\n");
        let text = format!("port 1883\nlistener 8883\ninclude_dir {}\n", dir.path().display());
        let c = config(&text);
        assert_eq!((c.listeners[0].port, c.listeners[0].max_qos), (1883, Some(1)));
        assert_eq!((c.listeners[1].port, c.listeners[1].max_qos), (8883, None));
    }

    #[test]
    fn an_error_in_an_included_file_names_that_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.conf", "# ok\nlistener 1\nmax_qos 7\n");
        match parse_bytes(format!("include_dir {}\n", dir.path().display()).as_bytes(), Path::new(FILE)) {
            Err(ConfigError::Directive { at, directive, .. }) => {
                assert_eq!((at.file, at.line, directive.as_str()), (dir.path().join("a.conf"), 3, "max_qos"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn include_dir_is_only_allowed_in_the_main_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.conf", &format!("include_dir {}\n", dir.path().display()));
        match parse_bytes(format!("include_dir {}\n", dir.path().display()).as_bytes(), Path::new(FILE)) {
            Err(ConfigError::Directive { at, directive, problem }) => {
                assert_eq!(
                    (at.file, at.line, directive.as_str()),
                    (dir.path().join("a.conf"), 1, "include_dir")
                );
                assert_eq!(
                    problem,
                    DirectiveProblem::Misplaced("only allowed in the main configuration file")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let (line, directive, problem) = error("\ninclude_dir /nonexistent/tern/conf.d\n");
        assert_eq!((line, directive.as_str()), (2, "include_dir"));
        let kind = std::io::ErrorKind::NotFound;
        assert_eq!(problem, DirectiveProblem::IncludeDir { path: "/nonexistent/tern/conf.d".into(), kind });
        assert_eq!(error("include_dir\n").2, DirectiveProblem::MissingArgument("a directory"));
    }

    #[test]
    fn the_directory_must_not_hold_the_main_file() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main.conf");
        let text = format!("include_dir {}\n", dir.path().display());
        std::fs::write(&main, &text).unwrap();
        match parse_bytes(text.as_bytes(), &main) {
            Err(ConfigError::Directive { problem: DirectiveProblem::Misplaced(reason), .. }) => {
                assert!(reason.contains("main configuration file"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unreadable_included_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub.conf")).unwrap();
        let result =
            parse_bytes(format!("include_dir {}\n", dir.path().display()).as_bytes(), Path::new(FILE));
        assert!(matches!(result, Err(ConfigError::Read { path, .. }) if path == dir.path().join("sub.conf")));
    }
}
