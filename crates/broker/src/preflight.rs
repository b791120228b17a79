//! Checking a configuration as start-up would use it, short of binding (`tern broker --test-config`):
//! the password and ACL files are read and parsed, the certificates, keys and CRLs loaded into a TLS
//! setup, and listeners that could not all be bound are reported. Each problem names the directive's
//! `FILE:LINE` (mosquitto.conf; a TOML file names only itself) and then what is wrong in the file it
//! names, which carries its own `FILE:LINE` when the problem is a line of it.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::auth::acl::AclFile;
use crate::auth::password::PasswordFile;
use crate::config::{Config, ListenerConfig, Location, Places, SecurityConfig, SocketDomain, TlsConfig};
use crate::listener::tls::{self, TlsError};

/// One reason start-up would fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the directive was written, if the file format tells.
    pub at: Option<Location>,
    /// The configuration file (named when `at` is unknown).
    pub file: PathBuf,
    /// The listener, by index in `Config::listeners`, for a listener's directive.
    pub listener: Option<usize>,
    pub directive: &'static str,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.at, self.listener) {
            (Some(at), _) => write!(f, "{at}: {}: {}", self.directive, self.message),
            // No place known (TOML): which listener, then.
            (None, Some(i)) => {
                write!(
                    f,
                    "{}: listener #{}: {}: {}",
                    self.file.display(),
                    i + 1,
                    self.directive,
                    self.message
                )
            }
            (None, None) => write!(f, "{}: {}: {}", self.file.display(), self.directive, self.message),
        }
    }
}

/// Every problem start-up would meet with `config`, read from `file` (`places` says where its
/// directives are).
pub fn check(config: &Config, file: &Path, places: &Places) -> Vec<Problem> {
    let mut problems = Vec::new();
    let problem = |listener: Option<usize>, directive: &'static str, message: String| {
        let listener_line = || listener.and_then(|i| places.of(Some(i), "listener"));
        let at = places.of(listener, directive).or_else(listener_line).cloned();
        Problem { at, file: file.to_path_buf(), listener, directive, message }
    };
    if !config.per_listener_settings {
        security_files(&config.security, None, &problem, &mut problems);
    }
    for (i, listener) in config.listeners.iter().enumerate() {
        if config.per_listener_settings {
            security_files(config.security_for(listener), Some(i), &problem, &mut problems);
        }
        if let Some(t) = &listener.tls {
            if let Err(e) = tls::listener_tls(t) {
                problems.push(problem(Some(i), tls_directive(t, &e), e.to_string()));
            }
        }
        let overlapping = config.listeners[..i].iter().position(|other| overlap(other, listener));
        if let Some(first) = overlapping {
            let other = places
                .of(Some(first), "listener")
                .map_or_else(|| format!("#{}", first + 1), |at| at.to_string());
            let message = format!(
                "port {} is bound on all interfaces by one listener and on one of their addresses by the \
                 other (listener {other}): both cannot be bound",
                listener.port
            );
            problems.push(problem(Some(i), "listener", message));
        }
    }
    problems
}

fn security_files(
    security: &SecurityConfig,
    listener: Option<usize>,
    problem: &impl Fn(Option<usize>, &'static str, String) -> Problem,
    problems: &mut Vec<Problem>,
) {
    if let Some(path) = &security.password_file {
        if let Err(e) = PasswordFile::load(path) {
            problems.push(problem(listener, "password_file", e.to_string()));
        }
    }
    if let Some(path) = &security.acl_file {
        if let Err(e) = AclFile::load(path) {
            problems.push(problem(listener, "acl_file", e.to_string()));
        }
    }
}

/// The TLS directive whose file (or value) `error` is about.
fn tls_directive(t: &TlsConfig, error: &TlsError) -> &'static str {
    let path = match error {
        TlsError::Read { path, .. } | TlsError::Empty { path, .. } => path.as_str(),
        TlsError::Unusable { reason, .. } if t.crlfile.is_some() && mentions_crl(reason) => return "crlfile",
        TlsError::Unusable { files, .. } => files.split([',', ' ']).next().unwrap_or_default(),
        TlsError::Version(_) => return "tls_version",
        TlsError::Ciphers { directive, .. } => return directive,
        TlsError::Rustls(message) => message.split(':').next().unwrap_or_default(),
    };
    let named = [
        ("certfile", Some(&t.certfile)),
        ("keyfile", Some(&t.keyfile)),
        ("cafile", t.cafile.as_ref()),
        ("capath", t.capath.as_ref()),
        ("crlfile", t.crlfile.as_ref()),
    ];
    named
        .into_iter()
        .find(|(_, file)| file.is_some_and(|f| f.display().to_string() == path))
        .map_or("listener", |(directive, _)| directive)
}

/// Whether rustls's reason is about a certificate revocation list.
fn mentions_crl(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    reason.contains("crl") || reason.contains("revocation")
}

/// Whether two TCP listeners cannot both be bound: the same port, one on all interfaces of an address
/// family and the other on one address of it (the same address twice is refused by validation already).
fn overlap(a: &ListenerConfig, b: &ListenerConfig) -> bool {
    if a.unix_socket.is_some() || b.unix_socket.is_some() || a.port != b.port || a.port == 0 {
        return false;
    }
    let covers = |all: &ListenerConfig, one: &ListenerConfig| {
        let Some(ip) = one.bind_address.as_deref().and_then(|h| h.parse::<IpAddr>().ok()) else {
            return false;
        };
        all.bind_address.is_none()
            && match all.socket_domain {
                Some(SocketDomain::Ipv4) => ip.is_ipv4(),
                Some(SocketDomain::Ipv6) => ip.is_ipv6(),
                None => true,
            }
    };
    covers(a, b) || covers(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_on_all_interfaces_overlaps_one_on_an_address_of_the_same_port() {
        let all = ListenerConfig { port: 1883, ..ListenerConfig::default() };
        let local = ListenerConfig { bind_address: Some("127.0.0.1".into()), ..all.clone() };
        let v6_only = ListenerConfig { socket_domain: Some(SocketDomain::Ipv6), ..all.clone() };
        let other_port = ListenerConfig { port: 8883, ..local.clone() };
        assert!(overlap(&all, &local));
        assert!(overlap(&local, &all));
        assert!(!overlap(&v6_only, &local));
        assert!(!overlap(&all, &other_port));
        assert!(!overlap(&local, &local.clone()), "validation reports the same address twice");
    }
}
