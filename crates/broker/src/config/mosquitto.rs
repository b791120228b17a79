//! mosquitto.conf → [`Config`], with Mosquitto 2.0's semantics.
//!
//! A file is a list of `directive argument` lines; `#` starts a comment line. Directives fall in three
//! scopes:
//! - *listener* directives (`cafile`, `max_qos`, `protocol`, ...) configure the listener declared by the
//!   most recent `listener` line of the same file; before any, they configure the *default listener*;
//! - *security* directives (`password_file`, `acl_file`, `allow_anonymous`, `allow_zero_length_clientid`,
//!   `auto_id_prefix`) are global, or per listener like listener directives when `per_listener_settings
//!   true` comes first;
//! - everything else is global.
//!
//! The default listener is opened on `port` (1883) and `bind_address` when either is given. With no
//! `listener`, `port` or `bind_address` at all, the broker listens on 127.0.0.1 and ::1 port 1883 only
//! and allows anonymous clients unless told otherwise ("local only"); default-listener directives then
//! apply to those two. Otherwise a default-listener directive with no default listener is an error (where
//! Mosquitto would silently open port 1883 on every interface, or drop the setting).
//! Once any listener exists, `allow_anonymous` defaults to false.

mod args;
mod directives;
mod include;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use args::{invalid, Args};
use directives::{ArgKind, Status};

use super::{
    duration, log, Config, ConfigError, DirectiveProblem, ListenerConfig, Location, Protocol, SecurityConfig,
    SocketDomain, TlsConfig,
};

/// A directive accepted without effect, to be logged at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub at: Location,
    pub directive: String,
    pub note: &'static str,
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: accepted without effect: {}", self.at, self.directive, self.note)
    }
}

/// A parsed mosquitto.conf.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub config: Config,
    /// Where each of `config.listeners` was declared (`None` for the default and local-only ones).
    pub listener_at: Vec<Option<Location>>,
    pub notices: Vec<Notice>,
}

/// Parses the text of the main file `path` (files it includes are read from disk).
pub(crate) fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Parsed, ConfigError> {
    let mut parser = Parser { main_file: path.to_path_buf(), local_only: true, ..Parser::default() };
    parser.read(bytes, path, true)?;
    parser.finish()
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })
}

/// The listener a listener directive applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    Default,
    Listener(usize),
}

/// The scope in which a single-valued directive may appear once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Global,
    Target(Target),
}

/// A listener being assembled.
#[derive(Debug, Clone, Default)]
struct Draft {
    at: Option<Location>,
    listener: ListenerConfig,
    tls: TlsConfig,
    tls_used: bool,
    security: SecurityConfig,
}

#[derive(Debug, Default)]
struct Parser {
    main_file: PathBuf,
    config: Config,
    default: Draft,
    /// `port` or `bind_address` was given: the default listener is opened.
    default_started: bool,
    /// The first directive aimed at the default listener other than `port`/`bind_address`.
    default_first_use: Option<(Location, &'static str)>,
    listeners: Vec<Draft>,
    /// No `listener`, `port` or `bind_address` so far.
    local_only: bool,
    security_seen: bool,
    once: HashMap<(Key, &'static str), Location>,
    log_dest: Option<Vec<String>>,
    log_file_at: Option<Location>,
    log_types: Option<Vec<String>>,
    notices: Vec<Notice>,
}

/// Why a default-listener directive is refused when there is no default listener.
const NO_DEFAULT_LISTENER: &str = "comes before any `listener` line, so it configures the default \
     listener, which only `port` or `bind_address` opens: move it after the `listener` it is meant for";

impl Parser {
    /// Reads one file; `main` is false for files from `include_dir`.
    fn read(&mut self, bytes: &[u8], file: &Path, main: bool) -> Result<(), ConfigError> {
        // As in Mosquitto, every file starts out configuring the default listener.
        let mut current = Target::Default;
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let at = Location { file: file.to_path_buf(), line: index + 1 };
            let Ok(line) = std::str::from_utf8(raw) else {
                return Err(ConfigError::NotUtf8 { at });
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, rest) = match line.split_once(|c: char| c.is_ascii_whitespace()) {
                Some((name, rest)) => (name, rest.trim()),
                None => (line, ""),
            };
            let result = if name == "include_dir" {
                self.include_dir(Args(rest), main)
            } else {
                self.apply(name, Args(rest), &at, &mut current).map_err(Into::into)
            };
            result.map_err(|e| match e {
                Failure::Here(problem) => ConfigError::Directive { at, directive: name.to_owned(), problem },
                Failure::Nested(error) => error,
            })?;
        }
        Ok(())
    }

    fn include_dir(&mut self, args: Args<'_>, main: bool) -> Result<(), Failure> {
        if !main {
            return Err(DirectiveProblem::Misplaced("only allowed in the main configuration file").into());
        }
        let dir = PathBuf::from(args.text("a directory")?);
        let files = include::conf_files(&dir)
            .map_err(|e| DirectiveProblem::IncludeDir { path: dir.clone(), kind: e.kind() })?;
        for file in files {
            if same_file(&file, &self.main_file) {
                return Err(
                    DirectiveProblem::Misplaced("the directory holds the main configuration file").into()
                );
            }
            let bytes = read(&file).map_err(Failure::Nested)?;
            self.read(&bytes, &file, false).map_err(Failure::Nested)?;
        }
        Ok(())
    }

    /// Applies one directive other than `include_dir`.
    fn apply(
        &mut self,
        name: &str,
        args: Args<'_>,
        at: &Location,
        current: &mut Target,
    ) -> Result<(), DirectiveProblem> {
        const PORT: &str = "a port number, 1 to 65535";
        const PATH: &str = "a file path";
        let t = *current;
        match name {
            "listener" => *current = self.listener(args, at)?,
            "port" => {
                self.local_only = false;
                let port = args.int_in(1..=65_535, PORT)?;
                if self.once.contains_key(&(Key::Target(Target::Default), "port")) {
                    self.notice(at, name, "given again: the last value is used");
                }
                self.once.insert((Key::Target(Target::Default), "port"), at.clone());
                self.default.listener.port = port;
                self.default_started = true;
            }
            "bind_address" => {
                self.local_only = false;
                let address = args.text("an address or host name")?;
                self.once(Key::Target(Target::Default), "bind_address", at)?;
                self.default.listener.bind_address = Some(address.to_owned());
                self.default_started = true;
            }

            // Listener directives.
            "cafile" => self.tls_path(t, at, "cafile", args, |tls| &mut tls.cafile)?,
            "capath" => self.tls_path(t, at, "capath", args, |tls| &mut tls.capath)?,
            "crlfile" => self.tls_path(t, at, "crlfile", args, |tls| &mut tls.crlfile)?,
            "certfile" | "keyfile" => {
                let path = PathBuf::from(args.text(PATH)?);
                let key = if name == "certfile" { "certfile" } else { "keyfile" };
                self.once(Key::Target(t), key, at)?;
                let draft = self.target(t, at, key);
                draft.tls_used = true;
                *(if key == "certfile" { &mut draft.tls.certfile } else { &mut draft.tls.keyfile }) = path;
            }
            "ciphers" | "ciphers_tls1.3" => {
                let list = args.text("a colon-separated cipher list")?.to_owned();
                let key = if name == "ciphers" { "ciphers" } else { "ciphers_tls1.3" };
                self.once(Key::Target(t), key, at)?;
                let tls = self.tls(t, at, key);
                *(if key == "ciphers" { &mut tls.ciphers } else { &mut tls.ciphers_tls13 }) = Some(list);
            }
            "tls_version" => {
                const EXPECTED: &str = "tlsv1.2 or tlsv1.3";
                let version = args.word(EXPECTED)?;
                match version {
                    "tlsv1.2" | "tlsv1.3" => {}
                    "tlsv1.1" | "tlsv1" => {
                        return Err(DirectiveProblem::Unsupported("rustls supports TLS 1.2 and 1.3 only"))
                    }
                    other => return Err(invalid(other, EXPECTED)),
                }
                self.once(Key::Target(t), "tls_version", at)?;
                self.tls(t, at, "tls_version").tls_version = Some(version.to_owned());
            }
            "require_certificate" => {
                self.tls_flag(t, at, "require_certificate", args, |tls| &mut tls.require_certificate)?
            }
            "use_identity_as_username" => self
                .tls_flag(t, at, "use_identity_as_username", args, |tls| &mut tls.use_identity_as_username)?,
            "use_subject_as_username" => {
                self.tls_flag(t, at, "use_subject_as_username", args, |tls| &mut tls.use_subject_as_username)?
            }
            "tls_keyform" => match args.word("pem or engine")? {
                // PEM key files are what Tern reads.
                "pem" => {}
                "engine" => return Err(DirectiveProblem::Unsupported(directives::TLS_KEYFORM_ENGINE)),
                other => return Err(invalid(other, "pem or engine")),
            },
            "max_connections" => {
                let n = args.int("a number; -1 is unlimited")?;
                // Mosquitto treats 0 and negative values as unlimited.
                let limit = usize::try_from(n).ok().filter(|&n| n > 0);
                self.target(t, at, "max_connections").listener.max_connections = limit;
            }
            "max_qos" | "maximum_qos" => {
                let qos = args.int_in(0..=2, "0, 1 or 2")?;
                self.target(t, at, "max_qos").listener.max_qos = Some(qos);
            }
            "max_topic_alias" => {
                let n = args.int_in(0..=65_535, "0 to 65535")?;
                self.target(t, at, "max_topic_alias").listener.max_topic_alias = Some(n);
            }
            "mount_point" => {
                if self.listeners.is_empty() {
                    return Err(DirectiveProblem::Misplaced("needs a `listener` line before it"));
                }
                let prefix = args.text("a topic prefix")?;
                if prefix.contains(['+', '#', '\0']) {
                    return Err(invalid(prefix, "a topic prefix without '+' or '#'"));
                }
                self.once(Key::Target(t), "mount_point", at)?;
                self.target(t, at, "mount_point").listener.mount_point = Some(prefix.to_owned());
            }
            "protocol" => {
                let protocol = match args.word("mqtt or websockets")? {
                    "mqtt" => Protocol::Mqtt,
                    "websockets" => Protocol::Websockets,
                    other => return Err(invalid(other, "mqtt or websockets")),
                };
                self.target(t, at, "protocol").listener.protocol = protocol;
            }
            "socket_domain" => {
                let domain = match args.word("ipv4 or ipv6")? {
                    "ipv4" => SocketDomain::Ipv4,
                    "ipv6" => SocketDomain::Ipv6,
                    other => return Err(invalid(other, "ipv4 or ipv6")),
                };
                self.target(t, at, "socket_domain").listener.socket_domain = Some(domain);
            }
            "use_username_as_clientid" => {
                let on = args.bool()?;
                self.target(t, at, "use_username_as_clientid").listener.use_username_as_clientid = on;
            }

            // Security directives.
            "password_file" | "acl_file" => {
                let path = PathBuf::from(args.text(PATH)?);
                let key = if name == "acl_file" { "acl_file" } else { "password_file" };
                let security = self.security(t, at, key)?;
                *(if key == "acl_file" { &mut security.acl_file } else { &mut security.password_file }) =
                    Some(path);
            }
            "allow_anonymous" => {
                let on = args.bool()?;
                self.security(t, at, "allow_anonymous")?.allow_anonymous = Some(on);
            }
            "allow_zero_length_clientid" => {
                let on = args.bool()?;
                self.security(t, at, "allow_zero_length_clientid")?.allow_zero_length_clientid = on;
            }
            "auto_id_prefix" => {
                let prefix = args.text("a client id prefix")?.to_owned();
                self.security(t, at, "auto_id_prefix")?.auto_id_prefix = prefix;
            }
            "per_listener_settings" => {
                let on = args.bool()?;
                if self.security_seen && on != self.config.per_listener_settings {
                    return Err(DirectiveProblem::Misplaced(
                        "must come before any security directive (password_file, acl_file, allow_anonymous, \
                         allow_zero_length_clientid, auto_id_prefix)",
                    ));
                }
                self.config.per_listener_settings = on;
            }

            // Global directives.
            "persistence" | "retained_persistence" => self.config.persistence.enabled = args.bool()?,
            "persistence_location" => {
                let dir = PathBuf::from(args.text("a directory")?);
                self.once(Key::Global, "persistence_location", at)?;
                self.config.persistence.location = dir;
            }
            "autosave_interval" => {
                self.config.persistence.autosave_interval = non_negative(args.int("a number of seconds")?)
            }
            "persistent_client_expiration" => {
                let text = args.word(duration::EXPECTED)?;
                let expiry = duration::parse(text).ok_or_else(|| invalid(text, duration::EXPECTED))?;
                self.config.limits.persistent_client_expiration = Some(expiry);
            }
            "pid_file" => {
                let path = PathBuf::from(args.text(PATH)?);
                self.once(Key::Global, "pid_file", at)?;
                self.config.pid_file = Some(path);
            }
            "user" => self.config.user = Some(args.text("a user name")?.to_owned()),
            "sys_interval" => self.config.sys_interval = args.int_in(0..=65_535, "0 to 65535 seconds")?,
            "max_inflight_bytes" => self.config.limits.max_inflight_bytes = size(args)?,
            "max_inflight_messages" => {
                let n = args.int("0 (no limit) to 65535")?;
                self.config.limits.max_inflight_messages = match n {
                    // Mosquitto's "no limit": the protocol's largest Receive Maximum.
                    n if n <= 0 => u16::MAX,
                    n => u16::try_from(n).map_err(|_| invalid(&n.to_string(), "0 (no limit) to 65535"))?,
                };
            }
            "max_keepalive" => {
                self.config.limits.max_keepalive = args.int_in(10..=65_535, "10 to 65535 seconds")?
            }
            "max_packet_size" => {
                self.config.limits.max_packet_size = args.int_in(20..=268_435_460, "20 to 268435460 bytes")?
            }
            "max_queued_bytes" => self.config.limits.max_queued_bytes = size(args)?,
            "max_queued_messages" => self.config.limits.max_queued_messages = size(args)?,
            "message_size_limit" => {
                self.config.limits.message_size_limit =
                    args.int_in(0..=268_435_455, "0 to 268435455 bytes")?
            }
            "queue_qos0_messages" => self.config.limits.queue_qos0_messages = args.bool()?,
            "retain_available" => self.config.limits.retain_available = args.bool()?,
            "connection_messages" => self.config.log.connection_messages = args.bool()?,
            "log_dest" => self.log_dest(args, at)?,
            "log_type" => self.log_type(args)?,
            "upgrade_outgoing_qos" => {
                if args.bool()? {
                    return Err(DirectiveProblem::Unsupported(directives::UPGRADE_OUTGOING_QOS));
                }
            }
            _ => match directives::status(name) {
                Some(Status::Unsupported(reason)) => return Err(DirectiveProblem::Unsupported(reason)),
                Some(Status::Ignored(kind, note)) => {
                    match kind {
                        ArgKind::Bool => drop(args.bool()?),
                        ArgKind::Int => drop(args.int("a number")?),
                        ArgKind::Text => drop(args.text("a value")?),
                    }
                    self.notice(at, name, note);
                }
                None => return Err(DirectiveProblem::Unknown),
            },
        }
        Ok(())
    }

    /// `listener PORT [ADDRESS | SOCKET_PATH]`: starts a new listener and makes it current.
    fn listener(&mut self, args: Args<'_>, at: &Location) -> Result<Target, DirectiveProblem> {
        const EXPECTED: &str = "a port (0 for a Unix socket) and an optional address or socket path";
        self.local_only = false;
        let [port, address] = args.words::<2>(1, EXPECTED)?;
        let port = Args(port.unwrap_or_default()).int_in::<u16>(0..=65_535, "a port number, 0 to 65535")?;
        let mut listener = ListenerConfig { port, ..ListenerConfig::default() };
        match (port, address) {
            (0, None) => return Err(DirectiveProblem::MissingArgument("a Unix socket path after port 0")),
            (0, Some(path)) => listener.unix_socket = Some(PathBuf::from(path)),
            (_, address) => listener.bind_address = address.map(str::to_owned),
        }
        self.listeners.push(Draft { at: Some(at.clone()), listener, ..Draft::default() });
        Ok(Target::Listener(self.listeners.len() - 1))
    }

    /// The listener `t`, noting the first use of the default one.
    fn target(&mut self, t: Target, at: &Location, directive: &'static str) -> &mut Draft {
        match t {
            Target::Default => {
                self.default_first_use.get_or_insert_with(|| (at.clone(), directive));
                &mut self.default
            }
            // `Target::Listener` indices are only ever made by `listener()`, so they are in range.
            Target::Listener(i) => &mut self.listeners[i],
        }
    }

    fn tls(&mut self, t: Target, at: &Location, directive: &'static str) -> &mut TlsConfig {
        let draft = self.target(t, at, directive);
        draft.tls_used = true;
        &mut draft.tls
    }

    fn tls_path(
        &mut self,
        t: Target,
        at: &Location,
        directive: &'static str,
        args: Args<'_>,
        field: impl FnOnce(&mut TlsConfig) -> &mut Option<PathBuf>,
    ) -> Result<(), DirectiveProblem> {
        let path = PathBuf::from(args.text("a file path")?);
        self.once(Key::Target(t), directive, at)?;
        *field(self.tls(t, at, directive)) = Some(path);
        Ok(())
    }

    fn tls_flag(
        &mut self,
        t: Target,
        at: &Location,
        directive: &'static str,
        args: Args<'_>,
        field: impl FnOnce(&mut TlsConfig) -> &mut bool,
    ) -> Result<(), DirectiveProblem> {
        let on = args.bool()?;
        let draft = self.target(t, at, directive);
        // `false` is the default: it does not make a plain listener a TLS one.
        draft.tls_used |= on;
        *field(&mut draft.tls) = on;
        Ok(())
    }

    /// The security settings a security directive applies to, checking it appears once per scope.
    fn security(
        &mut self,
        t: Target,
        at: &Location,
        directive: &'static str,
    ) -> Result<&mut SecurityConfig, DirectiveProblem> {
        self.security_seen = true;
        if !self.config.per_listener_settings {
            if directive.ends_with("_file") || directive == "auto_id_prefix" {
                self.once(Key::Global, directive, at)?;
            }
            return Ok(&mut self.config.security);
        }
        if directive.ends_with("_file") || directive == "auto_id_prefix" {
            self.once(Key::Target(t), directive, at)?;
        }
        Ok(&mut self.target(t, at, directive).security)
    }

    /// Mosquitto refuses a second value for its string directives in one scope; so does Tern.
    fn once(&mut self, key: Key, directive: &'static str, at: &Location) -> Result<(), DirectiveProblem> {
        if let Some(first) = self.once.get(&(key, directive)) {
            return Err(DirectiveProblem::Duplicate(first.clone()));
        }
        self.once.insert((key, directive), at.clone());
        Ok(())
    }

    /// `log_dest none|stdout|stderr|syslog|topic|file PATH`, repeatable; `none` drops the ones before.
    fn log_dest(&mut self, args: Args<'_>, at: &Location) -> Result<(), DirectiveProblem> {
        const EXPECTED: &str = "stdout, stderr, syslog, topic, none or file PATH";
        let first =
            args.0.split_ascii_whitespace().next().ok_or(DirectiveProblem::MissingArgument(EXPECTED))?;
        let dests = self.log_dest.get_or_insert_with(Vec::new);
        match first {
            "file" => {
                let path = Args(args.0["file".len()..].trim()).text("a log file path after `file`")?;
                if let Some(previous) = &self.log_file_at {
                    return Err(DirectiveProblem::Duplicate(previous.clone()));
                }
                self.log_file_at = Some(at.clone());
                dests.push(format!("file {path}"));
            }
            "dlt" => return Err(DirectiveProblem::Unsupported(directives::LOG_DEST_DLT)),
            "none" => {
                args.word(EXPECTED)?;
                dests.clear();
            }
            dest if log::PLAIN_DESTS.contains(&dest) => {
                args.word(EXPECTED)?;
                if !dests.iter().any(|d| d == dest) {
                    dests.push(dest.to_owned());
                }
            }
            other => return Err(invalid(other, EXPECTED)),
        }
        Ok(())
    }

    /// `log_type TYPE`, repeatable; `all` and `none` replace the ones before.
    fn log_type(&mut self, args: Args<'_>) -> Result<(), DirectiveProblem> {
        const EXPECTED: &str = "error, warning, notice, information, subscribe, unsubscribe, websockets, \
                                debug, internal, all or none";
        let t = args.word(EXPECTED)?;
        let types = self.log_types.get_or_insert_with(Vec::new);
        match t {
            "none" => types.clear(),
            "all" => *types = log::TYPES.iter().map(|t| (*t).to_owned()).collect(),
            t if log::is_valid_type(t) => {
                if !types.iter().any(|have| have == t) {
                    types.push(t.to_owned());
                }
            }
            other => return Err(invalid(other, EXPECTED)),
        }
        Ok(())
    }

    fn notice(&mut self, at: &Location, directive: &str, note: &'static str) {
        self.notices.push(Notice { at: at.clone(), directive: directive.to_owned(), note });
    }

    /// Assembles the listeners and resolves Mosquitto 2's defaults.
    fn finish(mut self) -> Result<Parsed, ConfigError> {
        let mut drafts = Vec::new();
        if self.default_started {
            drafts.push(self.default);
        } else if let Some((at, directive)) = self.default_first_use {
            if !self.local_only {
                let problem = DirectiveProblem::Misplaced(NO_DEFAULT_LISTENER);
                return Err(ConfigError::Directive { at, directive: directive.to_owned(), problem });
            }
            for local in Config::local_only_listeners() {
                let mut draft = self.default.clone();
                draft.listener.bind_address = local.bind_address;
                drafts.push(draft);
            }
        }
        drafts.extend(self.listeners);

        let per_listener = self.config.per_listener_settings;
        // Mosquitto 2: anonymous clients are allowed, unless told otherwise, only when no listener is set.
        let anonymous_default = self.local_only;
        let mut listener_at = Vec::with_capacity(drafts.len());
        for mut draft in drafts {
            listener_at.push(draft.at.take());
            let mut listener = draft.listener;
            listener.tls = draft.tls_used.then_some(draft.tls);
            if per_listener {
                draft.security.allow_anonymous.get_or_insert(anonymous_default);
                listener.security = Some(draft.security);
            }
            self.config.listeners.push(listener);
        }
        if !per_listener {
            self.config.security.allow_anonymous.get_or_insert(anonymous_default);
        }
        if let Some(dest) = self.log_dest {
            self.config.log.dest = dest;
        }
        if let Some(types) = self.log_types {
            self.config.log.types = types;
        }
        Ok(Parsed { config: self.config, listener_at, notices: self.notices })
    }
}

/// Why applying a line failed: a problem with this directive, or an error inside an included file.
enum Failure {
    Here(DirectiveProblem),
    Nested(ConfigError),
}

impl From<DirectiveProblem> for Failure {
    fn from(problem: DirectiveProblem) -> Self {
        Failure::Here(problem)
    }
}

/// A byte or message count where Mosquitto reads a negative value as 0.
fn size(args: Args<'_>) -> Result<usize, DirectiveProblem> {
    let n = args.int("a number; 0 is unlimited")?;
    usize::try_from(non_negative(n)).map_err(|_| invalid(&n.to_string(), "a smaller number"))
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
