//! Log output in Mosquitto's shape, `UNIX_TIME: message`, to the destinations of `log_dest`: `stdout`,
//! `stderr`, `file PATH` (reopened on SIGHUP, so logrotate can move it away), `syslog` (the local
//! `/dev/log` socket or `syslog_socket`, RFC 3164, facility daemon, without the time prefix since syslog
//! adds its own) and `topic`
//! (`$SYS/broker/log/E|W|N|D`, as Mosquitto publishes them, once the broker runs).
//!
//! The broker never logs passwords; message payloads only with `payloads = true`, escaped and cut short.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tern_broker::config::LogConfig;
use tern_broker::BrokerShared;
use tokio::sync::mpsc;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

struct UnixSeconds;

impl FormatTime for UnixSeconds {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        write!(w, "{secs}:")
    }
}

/// syslog facility "daemon".
const FACILITY_DAEMON: u8 = 3;

/// One log destination.
#[derive(Debug)]
enum Sink {
    Stdout,
    Stderr,
    File {
        path: PathBuf,
        file: Mutex<Option<File>>,
    },
    #[cfg(unix)]
    Syslog {
        socket: Option<std::os::unix::net::UnixDatagram>,
        path: PathBuf,
    },
    /// Lines for `$SYS/broker/log/...`, handed to a task that publishes them: publishing from inside a log
    /// call could take a lock the logging code already holds.
    Topic(Mutex<Option<mpsc::Sender<LogLine>>>),
}

/// A formatted log line and its level.
type LogLine = (Level, Vec<u8>);

/// Log lines waiting to be published to `$SYS/broker/log/...`; more are dropped.
const TOPIC_BACKLOG: usize = 1024;

/// Every destination, shared by the subscriber and the SIGHUP handler.
#[derive(Debug)]
pub struct LogSinks {
    sinks: Vec<Sink>,
}

fn open_append(path: &PathBuf) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl LogSinks {
    /// The sinks for `log_dest` values, syslog writing to `syslog_socket`. A file that cannot be opened
    /// is an error; an unknown destination is skipped with a warning on stderr.
    pub fn new(dests: &[String], syslog_socket: &Path) -> io::Result<LogSinks> {
        let mut sinks = Vec::new();
        for dest in dests {
            let dest = dest.trim();
            match dest {
                "stdout" => sinks.push(Sink::Stdout),
                "stderr" => sinks.push(Sink::Stderr),
                #[cfg(unix)]
                "syslog" => {
                    let socket = std::os::unix::net::UnixDatagram::unbound().ok();
                    sinks.push(Sink::Syslog { socket, path: syslog_socket.to_owned() });
                }
                "topic" => sinks.push(Sink::Topic(Mutex::new(None))),
                "none" => {}
                _ => match dest.strip_prefix("file ").map(str::trim) {
                    Some(path) if !path.is_empty() => {
                        let path = PathBuf::from(path);
                        let file = open_append(&path).map_err(|e| {
                            io::Error::new(e.kind(), format!("log file {}: {e}", path.display()))
                        })?;
                        sinks.push(Sink::File { path, file: Mutex::new(Some(file)) });
                    }
                    _ => eprintln!("log_dest {dest}: not supported, ignored"),
                },
            }
        }
        Ok(LogSinks { sinks })
    }

    /// Reopens every log file (after logrotate moved it).
    pub fn reopen(&self) {
        for sink in &self.sinks {
            if let Sink::File { path, file } = sink {
                match open_append(path) {
                    Ok(f) => *file.lock() = Some(f),
                    Err(e) => eprintln!("reopening log file {}: {e}", path.display()),
                }
            }
        }
    }

    /// Starts publishing log lines to `$SYS/broker/log/...` through `broker`, if `log_dest topic` is set.
    /// Lines logged before this are not published.
    pub fn publish_to(&self, broker: std::sync::Arc<BrokerShared>) {
        for sink in &self.sinks {
            if let Sink::Topic(sender) = sink {
                let (tx, mut rx) = mpsc::channel::<LogLine>(TOPIC_BACKLOG);
                *sender.lock() = Some(tx);
                let broker = broker.clone();
                tokio::spawn(async move {
                    while let Some((level, line)) = rx.recv().await {
                        publish_log_line(&broker, level, line);
                    }
                });
            }
        }
    }

    fn write_line(&self, line: &[u8], level: Level) {
        for sink in &self.sinks {
            // A log line that cannot be written is dropped: logging never stops the broker.
            let _ = match sink {
                Sink::Stdout => io::stdout().lock().write_all(line),
                Sink::Stderr => io::stderr().lock().write_all(line),
                Sink::File { file, .. } => match file.lock().as_mut() {
                    Some(f) => f.write_all(line),
                    None => Ok(()),
                },
                #[cfg(unix)]
                Sink::Syslog { socket: Some(socket), path } => {
                    socket.send_to(&syslog_line(line, level), path).map(drop)
                }
                #[cfg(unix)]
                Sink::Syslog { socket: None, .. } => Ok(()),
                Sink::Topic(sender) => {
                    if let Some(tx) = sender.lock().as_ref() {
                        // Full: the line is dropped rather than making the logging thread wait.
                        let _ = tx.try_send((level, line.to_vec()));
                    }
                    Ok(())
                }
            };
        }
    }
}

/// Mosquitto's log topic for a level: `$SYS/broker/log/E` (error), `W`, `N` (notice), `D` (debug).
fn log_topic(level: Level) -> &'static str {
    match level {
        Level::ERROR => "$SYS/broker/log/E",
        Level::WARN => "$SYS/broker/log/W",
        Level::INFO => "$SYS/broker/log/N",
        Level::DEBUG | Level::TRACE => "$SYS/broker/log/D",
    }
}

fn publish_log_line(broker: &BrokerShared, level: Level, mut line: Vec<u8>) {
    while line.last().is_some_and(|b| *b == b'\n') {
        line.pop();
    }
    let topic = log_topic(level);
    let publish = tern_codec::Publish::new(topic, line);
    let message =
        tern_broker::message::Message::from_publish(publish, topic.into(), None, std::time::Instant::now());
    broker.publish(std::sync::Arc::new(message));
}

/// RFC 3164 as the local daemon reads it: `<PRI>tern[PID]: message`, without our time prefix.
fn syslog_line(line: &[u8], level: Level) -> Vec<u8> {
    let severity = match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    };
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    let message = match text.split_once(": ") {
        Some((time, rest)) if time.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => text,
    };
    format!("<{}>tern[{}]: {message}", FACILITY_DAEMON * 8 + severity, std::process::id()).into_bytes()
}

/// Collects one formatted event, then hands it to every sink at once.
pub struct LineWriter {
    buf: Vec<u8>,
    level: Level,
    sinks: Arc<LogSinks>,
}

impl Write for LineWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.sinks.write_line(&self.buf, self.level);
        }
    }
}

/// The [`MakeWriter`] over the sinks.
#[derive(Clone)]
struct Sinks(Arc<LogSinks>);

impl<'a> MakeWriter<'a> for Sinks {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter { buf: Vec::new(), level: Level::INFO, sinks: self.0.clone() }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter {
        LineWriter { buf: Vec::new(), level: *meta.level(), sinks: self.0.clone() }
    }
}

/// The default filter for the configured log types. `RUST_LOG` overrides it (e.g.
/// `RUST_LOG=tern_broker=debug`).
fn default_filter(verbose: bool, types: &[String]) -> &'static str {
    if types.iter().any(|t| t == "debug" || t == "all") {
        "info,tern_broker=debug"
    } else if verbose {
        "info"
    } else {
        "warn,tern=info,tern_broker::listener=info,tern_broker::admin=info,tern_broker=info"
    }
}

/// Installs the global subscriber writing to the configured destinations; returns the sinks for SIGHUP.
pub fn init(log: &LogConfig) -> io::Result<Arc<LogSinks>> {
    let (dests, types) = (&log.dest, &log.types);
    let sinks = Arc::new(LogSinks::new(dests, &log.syslog_socket)?);
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter(log.verbose, types)));
    let only_stderr = dests.len() == 1 && dests[0] == "stderr";
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(UnixSeconds)
        .with_target(false)
        .with_level(false)
        .with_ansi(only_stderr && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(Sinks(sinks.clone()))
        .try_init();
    Ok(sinks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_syslog() -> PathBuf {
        LogConfig::default().syslog_socket
    }

    #[test]
    fn syslog_lines_carry_daemon_facility_and_drop_the_time_prefix() {
        let line = syslog_line(b"1700000000: Client c1 disconnected.\n", Level::WARN);
        let text = String::from_utf8(line).unwrap();
        assert_eq!(text, format!("<28>tern[{}]: Client c1 disconnected.", std::process::id()));
        let info = String::from_utf8(syslog_line(b"no time: here", Level::INFO)).unwrap();
        assert!(info.starts_with("<30>") && info.ends_with("no time: here"));
    }

    #[test]
    fn a_log_file_is_appended_to_and_reopened_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tern.log");
        let sinks = LogSinks::new(&[format!("file {}", path.display())], &default_syslog()).unwrap();
        sinks.write_line(b"1: first\n", Level::INFO);
        let rotated = dir.path().join("tern.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        sinks.write_line(b"2: still to the old file\n", Level::INFO);
        sinks.reopen();
        sinks.write_line(b"3: to the new file\n", Level::INFO);
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "1: first\n2: still to the old file\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "3: to the new file\n");
    }

    #[test]
    fn log_levels_map_to_mosquittos_log_topics() {
        assert_eq!(log_topic(Level::ERROR), "$SYS/broker/log/E");
        assert_eq!(log_topic(Level::WARN), "$SYS/broker/log/W");
        assert_eq!(log_topic(Level::INFO), "$SYS/broker/log/N");
        assert_eq!(log_topic(Level::DEBUG), "$SYS/broker/log/D");
    }

    #[test]
    fn an_unopenable_log_file_is_an_error_naming_it() {
        let err =
            LogSinks::new(&["file /nonexistent-dir/tern.log".to_owned()], &default_syslog()).unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir/tern.log"));
    }
}
