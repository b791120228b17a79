//! Test whether realistic configuration files, written from mosquitto.conf(5) and its examples, load as
//! Mosquitto 2.0 reads them, and whether broken ones are refused naming FILE:LINE.
//!
//! Every valid sample is also checked to survive `--print-config` (TOML out, TOML in, same configuration).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tern_broker::config::{Config, ConfigError, DirectiveProblem, Problem, Protocol};

fn sample(name: &str) -> PathBuf {
    Path::new("tests/configs").join(name)
}

fn load(name: &str) -> Config {
    let config = match Config::load(sample(name)) {
        Ok(config) => config,
        Err(e) => panic!("{name}: {e}"),
    };
    let toml = match config.to_toml() {
        Ok(toml) => toml,
        Err(e) => panic!("{name}: {e}"),
    };
    match Config::from_toml_str(&toml, "printed.toml") {
        Ok(again) => assert_eq!(again, config.effective(), "{name} as TOML:\n{toml}"),
        Err(e) => panic!("{name} as TOML: {e}\n{toml}"),
    }
    config
}

fn ports(config: &Config) -> Vec<(u16, Option<&str>)> {
    config.listeners.iter().map(|l| (l.port, l.bind_address.as_deref())).collect()
}

#[test]
fn debians_default_file_with_its_conf_d() {
    let c = load("debian.conf");
    assert_eq!(c.pid_file.as_deref(), Some(Path::new("/run/mosquitto/mosquitto.pid")));
    assert!(c.persistence.enabled());
    assert_eq!(c.log.dest, ["file /var/log/mosquitto/mosquitto.log"]);
    // conf.d files load in name order; the README is not a .conf file.
    assert_eq!(ports(&c), [(1883, Some("localhost")), (8883, None)]);
    assert_eq!(c.security.password_file.as_deref(), Some(Path::new("/etc/mosquitto/passwd")));
    assert_eq!(c.security.allow_anonymous, Some(false));
    let tls = c.listeners[1].tls.as_ref().unwrap();
    assert_eq!(tls.tls_version.as_deref(), Some("tlsv1.2"));
}

#[test]
fn no_listener_means_loopback_only_and_anonymous() {
    let c = load("local-only.conf");
    assert!(c.listeners.is_empty());
    assert_eq!(c.security.allow_anonymous, Some(true));
    let local = c.effective_listeners();
    assert_eq!(local.len(), 2);
    assert!(local.iter().all(|l| c.allow_anonymous_for(l)));
    assert_eq!(c.persistence.autosave_interval, 300);
    assert_eq!(
        (c.log.dest.as_slice(), c.log.types.as_slice()),
        (&["stdout".to_owned()][..], &["error".to_owned(), "warning".to_owned()][..])
    );
}

#[test]
fn mutual_tls_with_identity_as_user_name() {
    let c = load("tls-mutual.conf");
    assert_eq!(ports(&c), [(8883, None)]);
    let tls = c.listeners[0].tls.as_ref().unwrap();
    assert!(tls.require_certificate && tls.use_identity_as_username);
    assert_eq!(tls.crlfile.as_deref(), Some(Path::new("/etc/mosquitto/ca_certificates/revoked.crl")));
    assert_eq!(tls.ciphers_tls13.as_deref(), Some("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"));
    assert_eq!(c.security.allow_anonymous, Some(false));
    assert_eq!(c.security.acl_file.as_deref(), Some(Path::new("/etc/mosquitto/acl")));
}

#[test]
fn websockets_plain_and_over_tls() {
    let c = load("websockets.conf");
    let protocols: Vec<_> = c.listeners.iter().map(|l| (l.port, l.protocol, l.tls.is_some())).collect();
    assert_eq!(
        protocols,
        [
            (1883, Protocol::Mqtt, false),
            (9001, Protocol::Websockets, false),
            (8081, Protocol::Websockets, true)
        ]
    );
    assert_eq!(c.security.allow_anonymous, Some(true));
}

#[test]
fn per_listener_settings_with_a_unix_socket() {
    let c = load("per-listener.conf");
    assert!(c.per_listener_settings);
    let anonymous: Vec<_> = c.listeners.iter().map(|l| c.allow_anonymous_for(l)).collect();
    assert_eq!(anonymous, [true, false, true]);
    let outside = c.security_for(&c.listeners[1]);
    assert_eq!(outside.acl_file.as_deref(), Some(Path::new("/etc/mosquitto/acl")));
    assert_eq!(outside.auto_id_prefix, "ext-");
    assert!(!outside.allow_zero_length_clientid);
    assert!(c.security_for(&c.listeners[0]).password_file.is_none());
    assert_eq!(c.listeners[2].unix_socket.as_deref(), Some(Path::new("/run/mosquitto/mosquitto.sock")));
}

#[test]
fn a_mosquitto_1_style_default_listener() {
    let (c, notices) = Config::load_with_notices(sample("legacy-port.conf")).unwrap();
    assert_eq!(ports(&c), [(8883, None), (1883, Some("localhost"))]);
    assert_eq!(c.listeners[0].tls.as_ref().unwrap().certfile, Path::new("/etc/mosquitto/server.crt"));
    assert_eq!(c.listeners[0].max_connections, None);
    assert_eq!(c.limits.persistent_client_expiration, Some(Duration::from_secs(60 * 86_400)));
    let noted: Vec<_> = notices.iter().map(|n| (n.at.line, n.directive.as_str())).collect();
    assert_eq!(noted, [(12, "persistence_file"), (16, "retry_interval"), (19, "log_timestamp")]);
    assert_eq!(
        notices[0].to_string(),
        "tests/configs/legacy-port.conf:12: persistence_file: accepted without effect: Tern keeps its store in \
         persistence_location; no file name"
    );
}

#[test]
fn a_tuned_multi_tenant_broker() {
    let c = load("limits.conf");
    let l = &c.listeners;
    assert_eq!((l[0].max_connections, l[0].max_qos, l[0].max_topic_alias), (Some(5000), Some(1), Some(20)));
    assert_eq!((l[0].mount_point.as_deref(), l[0].use_username_as_clientid), (Some("tenant-a/"), true));
    assert_eq!(
        (l[1].max_connections, l[1].mount_point.as_deref(), l[1].max_qos),
        (Some(100), Some("tenant-b/"), None)
    );
    assert_eq!((c.max_qos_for(&l[1]), c.max_topic_alias_for(&l[1])), (2, 10));
    let limits = &c.limits;
    assert_eq!((limits.max_inflight_messages, limits.max_inflight_bytes), (100, 1_048_576));
    assert_eq!((limits.max_queued_messages, limits.max_queued_bytes), (10_000, 104_857_600));
    assert_eq!(
        (limits.message_size_limit, limits.max_packet_size, limits.max_keepalive),
        (1_048_576, 1_048_581, 300)
    );
    assert!(limits.queue_qos0_messages && !limits.retain_available);
    assert_eq!(c.sys_interval, 0);
    assert_eq!(c.log.dest, ["stdout", "syslog"]);
    assert_eq!(c.log.types.len(), 9);
    assert!(!c.log.connection_messages);
    assert_eq!((c.security.auto_id_prefix.as_str(), c.security.allow_zero_length_clientid), ("gen-", false));
}

fn directive_error(name: &str) -> (PathBuf, usize, String, DirectiveProblem) {
    match Config::load(sample(name)) {
        Err(ConfigError::Directive { at, directive, problem }) => (at.file, at.line, directive, problem),
        other => panic!("{name}: expected a directive error, got {other:?}"),
    }
}

#[test]
fn bridges_are_refused_at_their_line() {
    let (file, line, directive, problem) = directive_error("bridge.conf");
    assert_eq!((file, line, directive.as_str()), (sample("bridge.conf"), 5, "connection"));
    assert!(matches!(problem, DirectiveProblem::Unsupported(_)));
}

#[test]
fn psk_is_refused_at_its_line_with_the_reason() {
    let e = Config::load(sample("psk.conf")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tests/configs/psk.conf:2: psk_hint: not supported: TLS-PSK is not available in rustls; use certificates \
         (cafile, certfile, keyfile)"
    );
}

#[test]
fn an_inconsistent_listener_is_refused_at_its_listener_line() {
    match Config::load(sample("bad-tls.conf")) {
        Err(ConfigError::Invalid(found)) => {
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].problem, Problem::RequireCertificateWithoutCa);
            assert_eq!(found[0].at.as_ref().map(|at| at.line), Some(3));
            assert_eq!(
                found[0].to_string(),
                "tests/configs/bad-tls.conf:3: listener 8883: require_certificate needs cafile or capath to verify \
                 client certificates"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_sample_tern_toml() {
    let c = load("tern.toml");
    assert!(c.per_listener_settings);
    let ports: Vec<_> = c.listeners.iter().map(|l| (l.port, l.protocol)).collect();
    assert_eq!(
        ports,
        [(1883, Protocol::Mqtt), (8883, Protocol::Mqtt), (9001, Protocol::Websockets), (0, Protocol::Mqtt)]
    );
    let anonymous: Vec<_> = c.listeners.iter().map(|l| c.allow_anonymous_for(l)).collect();
    // The WebSocket listener does not say: with listeners configured, anonymous clients are refused.
    assert_eq!(anonymous, [true, false, false, true]);
    assert_eq!(c.limits.persistent_client_expiration, Some(Duration::from_secs(14 * 86_400)));
    assert_eq!(c.log.dest, ["stderr", "file /var/log/tern/tern.log"]);
}

#[test]
fn the_format_follows_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let toml_text = std::fs::read_to_string(sample("tern.toml")).unwrap();
    // TOML in a file not ending in .toml is read as mosquitto.conf, and fails on its first line.
    let misnamed = dir.path().join("tern.conf");
    std::fs::write(&misnamed, &toml_text).unwrap();
    match Config::load(&misnamed) {
        Err(ConfigError::Directive { at, directive, problem }) => {
            assert_eq!(
                (at.line, directive.as_str(), problem),
                (2, "per_listener_settings", DirectiveProblem::ExtraArgument("true".into()))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(Config::load(dir.path().join("missing.toml")), Err(ConfigError::Read { .. })));
}
