//! Consistency checks on a [`Config`], whichever format it came from (`tern broker --test-config`).
//!
//! The parsers check each value on its own; these checks look at values together (a TLS listener needs
//! its certificate and key, `require_certificate` needs a CA to verify against, two listeners cannot share
//! an address) and at values a TOML file may hold outside the ranges mosquitto.conf enforces.

use super::{log, Config, ConfigError, Invalid, ListenerConfig, Problem, Scope, SecurityConfig, TlsConfig};

impl Config {
    /// Checks the configuration as a whole; the error lists every problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut found = Vec::new();
        let mut global = |problem| found.push(Invalid { at: None, scope: Scope::Global, problem });
        for problem in self.global_problems() {
            global(problem);
        }
        for (index, listener) in self.listeners.iter().enumerate() {
            let scope = Scope::Listener { index, name: listener_name(listener) };
            for problem in self.listener_problems(index, listener) {
                found.push(Invalid { at: None, scope: scope.clone(), problem });
            }
        }
        if found.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(found))
        }
    }

    fn global_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let limits = &self.limits;
        let mut range = |setting, value: u64, ok: bool, expected| {
            if !ok {
                problems.push(Problem::OutOfRange { setting, value, expected });
            }
        };
        range("max_qos", limits.max_qos.into(), limits.max_qos <= 2, "0 to 2");
        let inflight = limits.max_inflight_messages;
        range("max_inflight_messages", inflight.into(), inflight >= 1, "1 to 65535");
        range("max_keepalive", limits.max_keepalive.into(), limits.max_keepalive >= 10, "10 to 65535");
        let packet = limits.max_packet_size;
        range("max_packet_size", packet.into(), (20..=268_435_460).contains(&packet), "20 to 268435460");
        let message = limits.message_size_limit;
        range("message_size_limit", message.into(), message <= 268_435_455, "0 to 268435455");
        range("sys_interval", self.sys_interval, self.sys_interval <= 65_535, "0 to 65535");

        for dest in &self.log.dest {
            if !log::is_valid_dest(dest) {
                problems.push(Problem::LogDest(dest.clone()));
            }
        }
        for t in &self.log.types {
            if !log::is_valid_type(t) {
                problems.push(Problem::LogType(t.clone()));
            }
        }
        match (&self.http.username, &self.http.password) {
            (Some(_), None) => problems.push(Problem::EmptySetting("http.password (http.username needs it)")),
            (None, Some(_)) => problems.push(Problem::EmptySetting("http.username (http.password needs it)")),
            _ => {}
        }
        if self.persistence.location.as_os_str().is_empty() {
            problems.push(Problem::EmptySetting("persistence location"));
        }
        if self.per_listener_settings && self.security != SecurityConfig::default() {
            problems.push(Problem::GlobalSecurityWithPerListenerSettings);
        }
        if !self.per_listener_settings {
            security_problems(&self.security, &mut problems);
        }
        problems
    }

    fn listener_problems(&self, index: usize, listener: &ListenerConfig) -> Vec<Problem> {
        let mut problems = Vec::new();
        match (&listener.security, self.per_listener_settings) {
            (Some(_), false) => problems.push(Problem::ListenerSecurityWithoutPerListenerSettings),
            (Some(security), true) => security_problems(security, &mut problems),
            (None, _) => {}
        }
        if listener.unix_socket.is_some() {
            if listener.port != 0 {
                problems.push(Problem::UnixSocketWithPort);
            }
            if listener.socket_domain.is_some() {
                problems.push(Problem::UnixSocketWithDomain);
            }
        }
        if let Some(first) = self.listeners[..index].iter().position(|other| same_address(other, listener)) {
            problems.push(Problem::DuplicateListener(first));
        }
        if let Some(qos) = listener.max_qos.filter(|&qos| qos > 2) {
            problems.push(Problem::OutOfRange { setting: "max_qos", value: qos.into(), expected: "0 to 2" });
        }
        if let Some(prefix) = &listener.mount_point {
            if prefix.is_empty() || prefix.contains(['+', '#', '\0']) {
                problems.push(Problem::MountPoint(prefix.clone()));
            }
        }
        if let Some(tls) = &listener.tls {
            tls_problems(tls, &mut problems);
        }
        problems
    }
}

fn security_problems(security: &SecurityConfig, problems: &mut Vec<Problem>) {
    if security.psk_file.is_some() || security.psk_hint.is_some() {
        problems.push(Problem::PskUnsupported);
    }
    let empty = |path: &Option<std::path::PathBuf>| path.as_ref().is_some_and(|p| p.as_os_str().is_empty());
    if empty(&security.password_file) {
        problems.push(Problem::EmptySetting("password_file"));
    }
    if empty(&security.acl_file) {
        problems.push(Problem::EmptySetting("acl_file"));
    }
}

fn tls_problems(tls: &TlsConfig, problems: &mut Vec<Problem>) {
    if tls.certfile.as_os_str().is_empty() || tls.keyfile.as_os_str().is_empty() {
        problems.push(Problem::TlsWithoutCertificate);
    }
    let has_ca = tls.cafile.is_some() || tls.capath.is_some();
    if tls.require_certificate && !has_ca {
        problems.push(Problem::RequireCertificateWithoutCa);
    } else if !has_ca {
        let needs_ca = [
            ("crlfile", tls.crlfile.is_some()),
            ("use_identity_as_username", tls.use_identity_as_username),
            ("use_subject_as_username", tls.use_subject_as_username),
        ];
        for (setting, _) in needs_ca.into_iter().filter(|(_, used)| *used) {
            problems.push(Problem::NeedsClientCertificates(setting));
        }
    }
    if let Some(version) = tls.tls_version.as_deref().filter(|v| !matches!(*v, "tlsv1.2" | "tlsv1.3")) {
        problems.push(Problem::TlsVersion(version.to_owned()));
    }
}

/// Two listeners that would bind the same socket.
fn same_address(a: &ListenerConfig, b: &ListenerConfig) -> bool {
    match (&a.unix_socket, &b.unix_socket) {
        (Some(a), Some(b)) => a == b,
        (None, None) => a.port != 0 && a.port == b.port && a.bind_address == b.bind_address,
        _ => false,
    }
}

/// A listener as mosquitto.conf would declare it: `8883`, `1883 127.0.0.1`, `0 /run/mqtt.sock`.
pub(super) fn listener_name(listener: &ListenerConfig) -> String {
    match (&listener.unix_socket, &listener.bind_address) {
        (Some(path), _) => format!("{} {}", listener.port, path.display()),
        (None, Some(address)) => format!("{} {address}", listener.port),
        (None, None) => listener.port.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::SocketDomain;

    /// The problems found, each with the index of its listener (`None`: global).
    fn problems(config: &Config) -> Vec<(Option<usize>, Problem)> {
        match config.validate() {
            Ok(()) => Vec::new(),
            Err(ConfigError::Invalid(found)) => found
                .into_iter()
                .map(|invalid| match invalid.scope {
                    Scope::Global => (None, invalid.problem),
                    Scope::Listener { index, .. } => (Some(index), invalid.problem),
                })
                .collect(),
            Err(other) => panic!("{other:?}"),
        }
    }

    fn with_listener(listener: ListenerConfig) -> Config {
        Config { listeners: vec![listener], ..Config::default() }
    }

    fn tls(tls: TlsConfig) -> Config {
        with_listener(ListenerConfig { port: 8883, tls: Some(tls), ..ListenerConfig::default() })
    }

    fn certified() -> TlsConfig {
        TlsConfig { certfile: "/c.pem".into(), keyfile: "/k.pem".into(), ..TlsConfig::default() }
    }

    #[test]
    fn the_default_configuration_is_valid() {
        assert_eq!(problems(&Config::default()), []);
        assert_eq!(problems(&tls(certified())), []);
    }

    #[test]
    fn a_tls_listener_needs_certificate_and_key() {
        let no_key = TlsConfig { keyfile: PathBuf::new(), ..certified() };
        assert_eq!(problems(&tls(no_key)), [(Some(0), Problem::TlsWithoutCertificate)]);
        let only_ca = TlsConfig { cafile: Some("/ca".into()), ..TlsConfig::default() };
        assert_eq!(problems(&tls(only_ca)), [(Some(0), Problem::TlsWithoutCertificate)]);
    }

    #[test]
    fn client_certificates_need_a_ca() {
        let required = TlsConfig { require_certificate: true, ..certified() };
        assert_eq!(problems(&tls(required.clone())), [(Some(0), Problem::RequireCertificateWithoutCa)]);
        assert_eq!(problems(&tls(TlsConfig { capath: Some("/cas".into()), ..required })), []);
        let identity =
            TlsConfig { use_identity_as_username: true, crlfile: Some("/crl".into()), ..certified() };
        assert_eq!(
            problems(&tls(identity)),
            [
                (Some(0), Problem::NeedsClientCertificates("crlfile")),
                (Some(0), Problem::NeedsClientCertificates("use_identity_as_username")),
            ]
        );
        let subject = TlsConfig { use_subject_as_username: true, ..certified() };
        assert_eq!(
            problems(&tls(subject)),
            [(Some(0), Problem::NeedsClientCertificates("use_subject_as_username"))]
        );
    }

    #[test]
    fn only_tls_versions_rustls_speaks_are_valid() {
        let old = TlsConfig { tls_version: Some("tlsv1.1".into()), ..certified() };
        assert_eq!(problems(&tls(old)), [(Some(0), Problem::TlsVersion("tlsv1.1".into()))]);
        assert_eq!(problems(&tls(TlsConfig { tls_version: Some("tlsv1.2".into()), ..certified() })), []);
    }

    #[test]
    fn limits_outside_their_range_are_reported() {
        let mut config = Config::default();
        config.limits.max_qos = 3;
        config.limits.max_inflight_messages = 0;
        config.limits.max_keepalive = 9;
        config.limits.max_packet_size = 19;
        config.limits.message_size_limit = 268_435_456;
        config.sys_interval = 65_536;
        let settings: Vec<_> = problems(&config)
            .into_iter()
            .map(|(_, p)| match p {
                Problem::OutOfRange { setting, .. } => setting,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            settings,
            [
                "max_qos",
                "max_inflight_messages",
                "max_keepalive",
                "max_packet_size",
                "message_size_limit",
                "sys_interval"
            ]
        );
        let qos = with_listener(ListenerConfig { max_qos: Some(3), ..ListenerConfig::default() });
        assert_eq!(
            problems(&qos),
            [(Some(0), Problem::OutOfRange { setting: "max_qos", value: 3, expected: "0 to 2" })]
        );
    }

    #[test]
    fn security_settings_follow_per_listener_settings() {
        let own = SecurityConfig { allow_anonymous: Some(true), ..SecurityConfig::default() };
        let mut config =
            with_listener(ListenerConfig { security: Some(own.clone()), ..ListenerConfig::default() });
        assert_eq!(problems(&config), [(Some(0), Problem::ListenerSecurityWithoutPerListenerSettings)]);
        config.per_listener_settings = true;
        assert_eq!(problems(&config), []);
        config.security = own;
        assert_eq!(problems(&config), [(None, Problem::GlobalSecurityWithPerListenerSettings)]);
    }

    #[test]
    fn psk_and_empty_paths_are_refused() {
        let mut config = Config::default();
        config.security.psk_file = Some("/psk".into());
        config.security.password_file = Some(PathBuf::new());
        config.security.acl_file = Some(PathBuf::new());
        assert_eq!(
            problems(&config),
            [
                (None, Problem::PskUnsupported),
                (None, Problem::EmptySetting("password_file")),
                (None, Problem::EmptySetting("acl_file")),
            ]
        );
        let mut per_listener = with_listener(ListenerConfig {
            security: Some(SecurityConfig { psk_hint: Some("hint".into()), ..SecurityConfig::default() }),
            ..ListenerConfig::default()
        });
        per_listener.per_listener_settings = true;
        assert_eq!(problems(&per_listener), [(Some(0), Problem::PskUnsupported)]);
    }

    #[test]
    fn listeners_cannot_share_an_address() {
        let a = ListenerConfig { port: 1883, ..ListenerConfig::default() };
        let local = ListenerConfig { bind_address: Some("127.0.0.1".into()), ..a.clone() };
        let sock = ListenerConfig { port: 0, unix_socket: Some("/s".into()), ..ListenerConfig::default() };
        let ephemeral = ListenerConfig { port: 0, ..ListenerConfig::default() };
        let config = Config {
            listeners: vec![a.clone(), local, a, sock.clone(), sock, ephemeral.clone(), ephemeral],
            ..Config::default()
        };
        assert_eq!(
            problems(&config),
            [(Some(2), Problem::DuplicateListener(0)), (Some(4), Problem::DuplicateListener(3))]
        );
    }

    #[test]
    fn unix_sockets_take_port_zero_and_no_domain() {
        let sock = ListenerConfig {
            port: 1883,
            unix_socket: Some("/s".into()),
            socket_domain: Some(SocketDomain::Ipv4),
            ..ListenerConfig::default()
        };
        assert_eq!(
            problems(&with_listener(sock)),
            [(Some(0), Problem::UnixSocketWithPort), (Some(0), Problem::UnixSocketWithDomain)]
        );
    }

    #[test]
    fn mount_points_and_log_settings_are_checked() {
        let mut config =
            with_listener(ListenerConfig { mount_point: Some("a/#".into()), ..ListenerConfig::default() });
        config.log.dest =
            vec!["stdout".into(), "file /var/log/tern.log".into(), "file ".into(), "printer".into()];
        config.log.types = vec!["error".into(), "all".into()];
        config.persistence.location = PathBuf::new();
        assert_eq!(
            problems(&config),
            [
                (None, Problem::LogDest("file ".into())),
                (None, Problem::LogDest("printer".into())),
                (None, Problem::LogType("all".into())),
                (None, Problem::EmptySetting("persistence location")),
                (Some(0), Problem::MountPoint("a/#".into())),
            ]
        );
    }

    #[test]
    fn listeners_are_named_as_mosquitto_conf_declares_them() {
        let named = |l: ListenerConfig| listener_name(&l);
        assert_eq!(named(ListenerConfig::default()), "1883");
        assert_eq!(
            named(ListenerConfig { bind_address: Some("::1".into()), ..ListenerConfig::default() }),
            "1883 ::1"
        );
        assert_eq!(
            named(ListenerConfig {
                port: 0,
                unix_socket: Some("/run/t.sock".into()),
                ..ListenerConfig::default()
            }),
            "0 /run/t.sock"
        );
    }

    #[test]
    fn every_problem_is_listed_one_per_line() {
        let mut config = tls(TlsConfig::default());
        config.limits.max_qos = 9;
        let text = config.validate().unwrap_err().to_string();
        assert_eq!(
            text,
            "configuration: max_qos = 9 is out of range: expected 0 to 2\n\
             listener 8883: TLS settings need both certfile and keyfile"
        );
    }
}
