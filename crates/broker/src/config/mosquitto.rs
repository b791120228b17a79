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

mod apply;
mod args;
mod directives;
mod include;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use args::Args;

use super::{Config, ConfigError, DirectiveProblem, ListenerConfig, Location, SecurityConfig, TlsConfig};

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
    /// Where the directives that name files were written.
    pub places: Places,
}

/// Where the file-naming directives of a mosquitto.conf (`password_file`, `certfile`...) were written, so
/// that a problem found in the file they name can point at the directive too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Places {
    global: HashMap<&'static str, Location>,
    /// By index in `Config::listeners`; `"listener"` is the listener line itself.
    listeners: Vec<HashMap<&'static str, Location>>,
}

impl Places {
    /// Where `directive` was written for the listener of that index (`None`: a global directive).
    pub fn of(&self, listener: Option<usize>, directive: &str) -> Option<&Location> {
        match listener {
            None => self.global.get(directive),
            Some(i) => self.listeners.get(i).and_then(|l| l.get(directive)),
        }
    }
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
        let places = places(&self.once, &self.listeners, drafts.len());
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
        Ok(Parsed { config: self.config, listener_at, notices: self.notices, places })
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

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Where the single-valued directives were written, by the index their listener has in the assembled
/// configuration: the `defaults` copies of the default listener (one, or two local-only ones) first, then
/// the `listener` lines in order.
fn places(once: &HashMap<(Key, &'static str), Location>, listeners: &[Draft], defaults: usize) -> Places {
    let count = defaults + listeners.len();
    let mut places = Places { global: HashMap::new(), listeners: vec![HashMap::new(); count] };
    for ((key, directive), at) in once {
        let indexes = match key {
            Key::Global => {
                places.global.insert(directive, at.clone());
                continue;
            }
            Key::Target(Target::Default) => 0..defaults,
            Key::Target(Target::Listener(i)) => defaults + i..defaults + i + 1,
        };
        for i in indexes {
            places.listeners[i].insert(directive, at.clone());
        }
    }
    for (i, draft) in listeners.iter().enumerate() {
        if let Some(at) = &draft.at {
            places.listeners[defaults + i].insert("listener", at.clone());
        }
    }
    places
}
