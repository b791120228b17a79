//! Log output in Mosquitto's shape: `UNIX_TIME: message`, to stderr.

use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::EnvFilter;

struct UnixSeconds;

impl FormatTime for UnixSeconds {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        write!(w, "{secs}:")
    }
}

/// Installs the global subscriber. `RUST_LOG` overrides the level (e.g. `RUST_LOG=tern_broker=debug`).
pub fn init(verbose: bool) {
    let default = if verbose { "info" } else { "warn,tern=info,tern_broker::listener=info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(UnixSeconds)
        .with_target(false)
        .with_level(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
