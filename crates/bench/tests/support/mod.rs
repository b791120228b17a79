//! Brokers for the end-to-end tests: Tern in-process, and a real Mosquitto on a free loopback port.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use tern_bench::{Scenario, Summary};
use tern_broker::config::{Config, ListenerConfig};
use tern_broker::{Broker, RunningBroker};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

/// Parses `tern bench` arguments aimed at `port`, without a progress line.
pub fn scenario(args: &str, port: u16) -> Scenario {
    let port = port.to_string();
    let argv = ["bench"].into_iter().chain(args.split_whitespace()).chain(["-p", &port, "--quiet"]);
    Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{args}: {e}")).scenario
}

/// Runs a scenario and fails the test on a set-up error.
pub async fn run(args: &str, port: u16) -> Summary {
    scenario(args, port).execute().await.unwrap_or_else(|e| panic!("{args}: {e:#}"))
}

/// Tern on 127.0.0.1, an ephemeral port, anonymous clients allowed.
pub async fn tern() -> (RunningBroker, u16) {
    let mut config = Config {
        listeners: vec![ListenerConfig {
            port: 0,
            bind_address: Some("127.0.0.1".into()),
            ..ListenerConfig::default()
        }],
        ..Config::default()
    };
    config.security.allow_anonymous = Some(true);
    config.log.connection_messages = false;
    // The retained-message counts checked here are the generator's alone: no $SYS topics beside them.
    config.sys_interval = 0;
    // Tests run side by side: no shared store in the working directory.
    config.persistence.durability = tern_broker::config::Durability::Memory;
    let broker = Broker::new(config).start().await.unwrap();
    let port = broker.local_addrs()[0].port();
    (broker, port)
}

/// A Mosquitto process, stopped when dropped.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts `mosquitto` with `listener PORT 127.0.0.1`, `allow_anonymous true` and `extra` lines.
    pub fn start(extra: &str) -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = free_port();
            let conf = dir.path().join("mosquitto.conf");
            std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra}\n"))
                .unwrap();
            let mut child = Command::new("mosquitto")
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mosquitto is installed (scripts/install-test-deps.sh)");
            if wait_listening(port, &mut child) {
                return Mosquitto { child, port, _dir: dir };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("mosquitto did not start");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_listening(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false; // Exited: the port was taken meanwhile.
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Asserts a message run delivered every accepted message exactly once, without errors.
pub fn assert_exact(s: &Summary, published: u64, deliveries: u64) {
    let m = s.messages.expect("a message scenario");
    assert_eq!(s.errors, 0, "errors: {:?}", s.error_samples);
    assert_eq!(m.published, published, "published: {s}");
    assert_eq!(m.accepted, published, "accepted: {s}");
    assert_eq!(m.expected, deliveries, "expected: {s}");
    assert_eq!(m.received, deliveries, "received: {s}");
    assert_eq!((m.lost, m.duplicated, m.unexpected, m.malformed), (0, 0, 0, 0), "{s}");
    let latency = s.latency.expect("latency measured");
    assert_eq!(latency.count, deliveries);
    assert!(latency.p50_us <= latency.p99_us && latency.p99_us <= latency.max_us);
    assert!(s.problems().is_empty(), "{:?}", s.problems());
}
