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

/// Where the local syslog daemon listens by default.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// Payload bytes shown in a PUBLISH log line when `payloads` is on; longer ones are cut, saying so.
pub const PAYLOAD_LOG_LIMIT: usize = 64;

/// `payload` for a log line: printable ASCII as is, every other byte escaped (`\n`, `\x00`), so a
/// payload cannot forge log lines, cut at [`PAYLOAD_LOG_LIMIT`] bytes.
pub fn payload_for_log(payload: &[u8]) -> String {
    let shown = &payload[..payload.len().min(PAYLOAD_LOG_LIMIT)];
    let mut text = shown.escape_ascii().to_string();
    if payload.len() > shown.len() {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_for_logs_are_escaped_and_cut() {
        assert_eq!(payload_for_log(b"21.5"), "21.5");
        assert_eq!(payload_for_log(b"a\nb\xff'"), "a\\nb\\xff\\'");
        let long = payload_for_log(&[b'x'; 100]);
        assert_eq!(long, format!("{}...", "x".repeat(PAYLOAD_LOG_LIMIT)));
    }
}
