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
