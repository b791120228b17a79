//! Why a configuration was refused, and where.
//!
//! Every problem found while reading a file names the file and the line (`FILE:LINE`) and, for
//! mosquitto.conf, the directive; problems found by [`Config::validate`](super::Config::validate) name
//! the listener they concern. Nothing is ever silently ignored.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A line of a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file (or an included one) cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A line is not valid UTF-8.
    #[error("{at}: not valid UTF-8")]
    NotUtf8 { at: Location },
    /// A mosquitto.conf directive is unknown, unsupported or has a bad argument.
    #[error("{at}: {directive}: {problem}")]
    Directive { at: Location, directive: String, problem: DirectiveProblem },
    /// A TOML file does not parse into the configuration model.
    #[error("{at}: {message}")]
    Toml { at: Location, message: String },
    /// The configuration parses but is inconsistent (see [`Config::validate`](super::Config::validate)).
    #[error("{}", InvalidList(.0))]
    Invalid(Vec<Invalid>),
    /// The configuration cannot be written as TOML (a path that is not UTF-8).
    #[error("cannot write the configuration as TOML: {0}")]
    Serialize(#[from] toml::ser::Error),
}

/// What is wrong with one mosquitto.conf directive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveProblem {
    #[error("unknown directive")]
    Unknown,
    /// A Mosquitto directive Tern does not implement; the text says why or what to use instead.
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    #[error("missing argument: expected {0}")]
    MissingArgument(&'static str),
    #[error("unexpected argument `{0}`")]
    ExtraArgument(String),
    #[error("invalid value `{value}`: expected {expected}")]
    InvalidValue { value: String, expected: &'static str },
    /// The same single-valued directive twice in one scope (Mosquitto refuses this too).
    #[error("already set at {0}")]
    Duplicate(Location),
    /// The directive is valid but not where it is.
    #[error("{0}")]
    Misplaced(&'static str),
    /// An `include_dir` directory cannot be listed.
    #[error("cannot read directory {}: {kind}", path.display())]
    IncludeDir { path: PathBuf, kind: io::ErrorKind },
}

/// One inconsistency found by [`Config::validate`](super::Config::validate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{scope}: {problem}", at.as_ref().map(|at| format!("{at}: ")).unwrap_or_default())]
pub struct Invalid {
    /// Where the listener (or setting) was written, when the file format tells.
    pub at: Option<Location>,
    pub scope: Scope,
    pub problem: Problem,
}

/// What part of the configuration a validation problem concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Global,
    /// A listener, by index in [`Config::listeners`](super::Config::listeners) and a readable name.
    Listener {
        index: usize,
        name: String,
    },
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => f.write_str("configuration"),
            Scope::Listener { name, .. } => write!(f, "listener {name}"),
        }
    }
}

/// Why a configuration is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("TLS settings need both certfile and keyfile")]
    TlsWithoutCertificate,
    #[error("require_certificate needs cafile or capath to verify client certificates")]
    RequireCertificateWithoutCa,
    #[error("{0} needs cafile or capath to verify client certificates")]
    NeedsClientCertificates(&'static str),
    #[error("tls_version `{0}` is not supported: use tlsv1.2 or tlsv1.3")]
    TlsVersion(String),
    #[error("{setting} = {value} is out of range: expected {expected}")]
    OutOfRange { setting: &'static str, value: u64, expected: &'static str },
    #[error("PSK (psk_file, psk_hint) is not supported: rustls has no TLS-PSK; use certificates")]
    PskUnsupported,
    #[error("has its own security settings but per_listener_settings is false")]
    ListenerSecurityWithoutPerListenerSettings,
    #[error("global security settings have no effect when per_listener_settings is true")]
    GlobalSecurityWithPerListenerSettings,
    #[error("same address as listener {0}")]
    DuplicateListener(usize),
    #[error("a Unix socket listener needs port 0")]
    UnixSocketWithPort,
    #[error("socket_domain has no meaning for a Unix socket")]
    UnixSocketWithDomain,
    #[error("port 0 needs a Unix socket path")]
    PortZeroWithoutUnixSocket,
    #[error("mount_point `{0}` is not a valid topic prefix (empty, or holds '+', '#' or U+0000)")]
    MountPoint(String),
    #[error("log destination `{0}` is not one of stdout, stderr, syslog, topic, none, file PATH")]
    LogDest(String),
    #[error("log type `{0}` is not one of {types}", types = super::log::TYPES.join(", "))]
    LogType(String),
    #[error("{0} is empty")]
    EmptySetting(&'static str),
}

/// Displays validation problems one per line.
struct InvalidList<'a>(&'a [Invalid]);

impl fmt::Display for InvalidList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, invalid) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{invalid}")?;
        }
        Ok(())
    }
}
