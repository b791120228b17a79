//! The vocabulary of logging settings (`log_dest`, `log_type`), shared by both file formats.

/// Every log type Mosquitto 2 knows (`all` and `none` are shorthands handled by the parsers).
pub(crate) const TYPES: &[&str] = &[
    "error",
    "warning",
    "notice",
    "information",
    "subscribe",
    "unsubscribe",
    "websockets",
    "debug",
    "internal",
];

/// Mosquitto 2's default when no `log_type` is given.
pub(crate) const DEFAULT_TYPES: &[&str] = &["error", "warning", "notice", "information"];

/// Destinations without an argument.
pub(crate) const PLAIN_DESTS: &[&str] = &["stdout", "stderr", "syslog", "topic"];

/// The path of a `file PATH` destination, if `dest` is one.
pub(crate) fn file_dest(dest: &str) -> Option<&str> {
    dest.strip_prefix("file ").map(str::trim).filter(|path| !path.is_empty())
}

/// Whether `dest` is a destination Tern can write to.
pub(crate) fn is_valid_dest(dest: &str) -> bool {
    PLAIN_DESTS.contains(&dest) || file_dest(dest).is_some()
}

/// Whether `t` names a log type (not `all`/`none`).
pub(crate) fn is_valid_type(t: &str) -> bool {
    TYPES.contains(&t)
}
