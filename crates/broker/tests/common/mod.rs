//! What the security tests share: a Tern broker started in-process from mosquitto.conf text, clients
//! (Tern's own, and the third-party tools and libraries operators use) and helpers to wait for messages.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tern_broker::config::Config;
use tern_broker::{Broker, RunningBroker};
use tern_client::{Client, ConnectError, ConnectOptions, Event, Events, ProtocolVersion, Publish};

/// How long a test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long a test waits to be sure something does not happen.
pub const QUIET: Duration = Duration::from_millis(300);

/// A broker running in this process, with the directory its files live in.
pub struct TestBroker {
    pub running: RunningBroker,
    /// The TCP addresses, in the order of the `listener` lines.
    pub addrs: Vec<SocketAddr>,
    pub config_path: PathBuf,
}

impl TestBroker {
    /// The port of the `i`th TCP listener.
    pub fn port(&self, i: usize) -> u16 {
        self.addrs[i].port()
    }

    /// Reads the configuration file again and reloads it, as SIGHUP does.
    pub fn reload(&self) -> Result<tern_broker::Reloaded, String> {
        let config = load(&self.config_path)?;
        self.running.reload(&config).map_err(|e| error_chain(&e))
    }
}

/// The error and its causes, as the log shows them.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
        source = s.source();
    }
    text
}

/// The configuration in `path`, kept in memory (as at start, so that a reload changes nothing else).
fn load(path: &Path) -> Result<Config, String> {
    let mut config = tern_test_support::in_memory(Config::load(path).map_err(|e| e.to_string())?);
    // The files use ports 1, 2, ... as placeholders: the tests listen on ports the system chooses.
    for listener in &mut config.listeners {
        if listener.unix_socket.is_none() {
            listener.port = 0;
        }
    }
    Ok(config)
}

/// Writes `conf` (mosquitto.conf syntax; `listener N 127.0.0.1` lines with distinct small N) to
/// `dir/mosquitto.conf` and starts a broker from it.
pub async fn start(dir: &Path, conf: &str) -> TestBroker {
    start_with(dir, conf, |broker| broker).await
}

/// [`start`], with the broker set up by `setup` in code first (an authorizer of the test's own...).
pub async fn start_with(dir: &Path, conf: &str, setup: impl FnOnce(Broker) -> Broker) -> TestBroker {
    let config_path = dir.join("mosquitto.conf");
    std::fs::write(&config_path, conf).unwrap();
    let config = load(&config_path).unwrap();
    let running = setup(Broker::new(config)).start().await.unwrap();
    let addrs = running.local_addrs().to_vec();
    TestBroker { running, addrs, config_path }
}

/// Options for a v5 client of `port` on loopback with this client id.
pub fn v5(port: u16, id: &str) -> ConnectOptions {
    ConnectOptions::new("127.0.0.1", port).version(ProtocolVersion::V5).client_id(id)
}

/// Options for a 3.1.1 client of `port` on loopback with this client id.
pub fn v311(port: u16, id: &str) -> ConnectOptions {
    ConnectOptions::new("127.0.0.1", port).version(ProtocolVersion::V311).client_id(id)
}

pub async fn connect(options: ConnectOptions) -> (Client, Events) {
    let (client, events, _) = Client::connect(options).await.unwrap();
    (client, events)
}

/// What a v5 client is told when the ACL refuses a PUBLISH (PUBACK/PUBREC 0x87).
pub const DENIED: tern_client::ClientError =
    tern_client::ClientError::Refused(tern_client::ReasonCode::NOT_AUTHORIZED);

/// The CONNACK reason code of a refused connection (v5 code; 3.x return codes mapped to it).
pub async fn refusal(options: ConnectOptions) -> u8 {
    match Client::connect(options).await {
        Err(ConnectError::Refused { connack, .. }) => connack.reason_code.0,
        Err(e) => panic!("expected a CONNACK refusal, got {e}"),
        Ok(_) => panic!("expected a CONNACK refusal, the connection was accepted"),
    }
}

/// The next application message, or a panic after [`PATIENCE`].
pub async fn next_message(events: &mut Events) -> Publish {
    let wait = async {
        loop {
            match events.recv().await {
                Some(Event::Message(p)) => return p,
                Some(_) => {}
                None => panic!("connection ended while waiting for a message"),
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait).await.expect("no message in time")
}

/// Every message arriving within [`QUIET`] (topic, payload).
pub async fn drain(events: &mut Events) -> Vec<(String, String)> {
    let mut got = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(QUIET, events.recv()).await {
        if let Event::Message(p) = event {
            got.push((p.topic.to_string(), String::from_utf8_lossy(&p.payload).into_owned()));
        }
    }
    got
}

/// Waits for the connection to end, returning the v5 DISCONNECT reason if the server sent one.
pub async fn disconnected(events: &mut Events) -> Option<u8> {
    let wait = async {
        loop {
            match events.recv().await {
                Some(Event::Disconnected(tern_client::DisconnectReason::Server(d))) => {
                    return Some(d.reason_code.0)
                }
                Some(Event::Disconnected(_)) | None => return None,
                Some(_) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait).await.expect("still connected")
}

/// Whether the connection is still up: a PINGREQ-free check, by subscribing to a fresh filter.
pub async fn still_connected(client: &Client) -> bool {
    tokio::time::timeout(PATIENCE, client.subscribe("probe/alive", tern_client::QoS::AtMostOnce))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// Runs an external program with a time limit, killing it if it overruns.
pub async fn run(mut cmd: impl std::borrow::BorrowMut<tokio::process::Command>) -> Output {
    let cmd = cmd.borrow_mut();
    cmd.kill_on_drop(true).stdin(std::process::Stdio::null());
    match tokio::time::timeout(Duration::from_secs(30), cmd.output()).await {
        Ok(out) => out.unwrap(),
        Err(_) => panic!("{cmd:?} timed out"),
    }
}

/// `stdout` and `stderr` of a finished program, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The third-party client scripts in `tests/interop` (paho-mqtt, mqtt.js).
pub fn interop(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop").join(script)
}

/// `python3 tests/interop/paho_roundtrip.py ARGS`.
pub fn paho(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(interop("paho_roundtrip.py")).args(args);
    cmd
}

/// `node tests/interop/mqttjs_roundtrip.js ARGS`, with the mqtt package `npm install` put there.
pub fn mqtt_js(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(interop("mqttjs_roundtrip.js")).args(args);
    cmd
}

/// `mosquitto_passwd -b [ARGS] FILE USER PASSWORD` (Debian's), creating FILE if it does not exist.
pub async fn mosquitto_passwd(file: &Path, args: &[&str], user: &str, password: &str) {
    let mut cmd = tokio::process::Command::new("mosquitto_passwd");
    cmd.arg("-b").args(args);
    if !file.exists() {
        cmd.arg("-c");
    }
    let out = run(cmd.arg(file).args([user, password])).await;
    assert!(out.status.success(), "{}", text(&out));
}
