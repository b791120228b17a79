//! What each mosquitto.conf directive does: its argument, its scope, its effect.
//!
//! Directives are grouped by scope: the default listener's (`port`, `bind_address`), listener
//! directives, security directives, global ones; the rest are looked up in [`directives`](super::directives).

use std::path::PathBuf;

use super::args::{invalid, Args};
use super::directives::{self, ArgKind, Status};
use super::{Draft, Key, Parser, Target};
use crate::config::{
    duration, log, DirectiveProblem, ListenerConfig, Location, Protocol, SocketDomain, TlsConfig,
};

impl Parser {
    /// Applies one directive other than `include_dir`.
    pub(super) fn apply(
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
            "persistence" | "retained_persistence" => {
                let p = &mut self.config.persistence;
                p.durability = match (args.bool()?, p.durability) {
                    (false, _) => crate::config::Durability::Memory,
                    (true, crate::config::Durability::Memory) => crate::config::Durability::Fsync,
                    (true, kept) => kept,
                };
            }
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
}

/// A byte or message count where Mosquitto reads a negative value as 0.
fn size(args: Args<'_>) -> Result<usize, DirectiveProblem> {
    let n = args.int("a number; 0 is unlimited")?;
    usize::try_from(non_negative(n)).map_err(|_| invalid(&n.to_string(), "a smaller number"))
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
