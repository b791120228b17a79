//! `tern broker` as an operator runs it: a log file, the HTTP listener, SIGHUP reopening the log and
//! reloading, `POST /api/v1/reload` taking the same path, SIGTERM ending it cleanly.

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Waits (at most 10 s) for `path` to contain a line with `needle`; returns that line.
fn wait_for_line(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
        }
        assert!(Instant::now() < deadline, "no {needle:?} in {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn request(addr: SocketAddr, method: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, text.split_once("\r\n\r\n").unwrap().1.to_owned())
}

fn signal(child: &Child, name: &str) {
    assert!(Command::new("kill").args([name, &child.id().to_string()]).status().unwrap().success());
}

/// `tern broker -c config`, its store beside the configuration, not where other tests run.
fn spawn_broker(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["broker", "-c"])
        .arg(config)
        .current_dir(config.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A loopback listener, anonymous clients allowed, and `log` as the `[log]` table.
fn config_with_log(dir: &Path, log: &str) -> std::path::PathBuf {
    let config = dir.join("tern.toml");
    let text = format!(
        "[[listeners]]\nport = 0\nbind_address = \"127.0.0.1\"\n\n[security]\nallow_anonymous = true\n\n[log]\n{log}\n"
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// The port from the "Opening ipv4 listen socket on ADDR:PORT." line in `log`.
fn listener_port(log: &Path) -> String {
    let line = wait_for_line(log, "Opening ipv4 listen socket on ");
    line.rsplit(':').next().unwrap().trim_end_matches('.').to_owned()
}

#[test]
fn logs_go_to_a_file_reopened_on_sighup_and_reload_works_by_signal_and_by_api() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tern.log");
    let config = dir.path().join("tern.toml");
    std::fs::write(
        &config,
        format!(
            "[[listeners]]\nport = 0\nbind_address = \"127.0.0.1\"\n\n[security]\nallow_anonymous = true\n\n\
             [log]\ndest = [\"file {}\"]\n\n[http]\nlisten = \"127.0.0.1:0\"\ntoken = \"tok\"\n",
            log.display()
        ),
    )
    .unwrap();
    let mut broker = spawn_broker(&config);

    let line = wait_for_line(&log, "Opening HTTP listen socket on ");
    let addr: SocketAddr =
        line.split("socket on ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(line.split(':').next().unwrap().parse::<u64>().is_ok(), "UNIX_TIME: message, got {line:?}");
    assert_eq!(request(addr, "GET", "/health", None).0, 200);
    assert_eq!(request(addr, "POST", "/api/v1/reload", None).0, 401);
    let (status, body) = request(addr, "POST", "/api/v1/reload", Some("Bearer tok"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("configuration reloaded"), "{body}");

    // logrotate moves the file away; SIGHUP makes the broker write to a new one.
    let rotated = dir.path().join("tern.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    signal(&broker, "-HUP");
    wait_for_line(&log, "Reloading config.");
    assert!(std::fs::read_to_string(&rotated).unwrap().contains("Opening HTTP listen socket"));

    signal(&broker, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = broker.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            broker.kill().unwrap();
            panic!("tern broker did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    wait_for_line(&log, "terminating");
}

#[test]
fn log_dest_topic_publishes_log_lines_to_sys_broker_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tern.log");
    let config = dir.path().join("tern.toml");
    std::fs::write(
        &config,
        format!(
            "[[listeners]]\nport = 0\nbind_address = \"127.0.0.1\"\n\n[security]\nallow_anonymous = true\n\n\
             [log]\ndest = [\"topic\", \"file {}\"]\n",
            log.display()
        ),
    )
    .unwrap();
    let mut broker = spawn_broker(&config);
    let port = listener_port(&log);

    let sub = Command::new("mosquitto_sub")
        .args(["-p", &port, "-t", "$SYS/broker/log/#", "-v", "-C", "1", "-W", "10", "-i", "log-reader"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Each new client, the reader included, logs "New client connected ..." at notice level; keep
    // connecting one until the reader, once subscribed, has seen such a line.
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut sub = sub;
    let status = loop {
        let _ =
            Command::new("mosquitto_pub").args(["-p", &port, "-t", "x", "-m", "y", "-i", "noisy"]).status();
        if let Some(status) = sub.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no log line on $SYS/broker/log/#");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success());
    let mut out = String::new();
    sub.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    // The first notice the reader sees is a connect or a disconnect line, whichever came first.
    assert!(out.starts_with("$SYS/broker/log/N "), "{out:?}");
    let connected =
        out.contains(": New client connected from 127.0.0.1:") && out.trim_end().ends_with("(p2, c1, k60).");
    let disconnected = out.contains(": Client ") && out.trim_end().ends_with(" disconnected.");
    assert!(connected || disconnected, "{out:?}");
    broker.kill().unwrap();
    let _ = broker.wait();
}

const PASSWORD: &str = "pw-never-logged";

/// Publishes `payload` to `log/t` as `payload-client` with a user name and password, then waits for the
/// broker's verbose PUBLISH line; returns it and the whole log.
fn publish_and_read_log(payloads: bool, payload: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tern.log");
    let log_table = format!("dest = [\"file {}\"]\nverbose = true\npayloads = {payloads}", log.display());
    let mut broker = spawn_broker(&config_with_log(dir.path(), &log_table));
    let port = listener_port(&log);
    let status = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args([
            "pub",
            "-p",
            &port,
            "-t",
            "log/t",
            "-q",
            "1",
            "-i",
            "payload-client",
            "-u",
            "alice",
            "-P",
            PASSWORD,
        ])
        .args(["-m", payload])
        .status()
        .unwrap();
    assert!(status.success());
    let line = wait_for_line(&log, "Received PUBLISH from payload-client");
    signal(&broker, "-TERM");
    let _ = broker.wait();
    (line, std::fs::read_to_string(&log).unwrap())
}

#[test]
fn payloads_are_logged_only_when_log_payloads_is_on() {
    let secret = "secret-reading\n1700000000: forged line";
    let (line, text) = publish_and_read_log(false, secret);
    assert!(line.ends_with("'log/t', ... (38 bytes))"), "{line}");
    assert!(!text.contains("secret-reading") && !text.contains(PASSWORD), "{text}");

    let (line, text) = publish_and_read_log(true, secret);
    assert!(
        line.ends_with("'log/t', ... (38 bytes)) payload 'secret-reading\\n1700000000: forged line'"),
        "escaped, on the same line: {line}"
    );
    assert!(!text.lines().any(|l| l.starts_with("1700000000: forged")), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");

    let long = "x".repeat(200);
    let (line, _) = publish_and_read_log(true, &long);
    assert!(line.ends_with(&format!("(200 bytes)) payload '{}...'", "x".repeat(64))), "cut at 64: {line}");
}

#[test]
fn syslog_lines_go_to_the_configured_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("syslog.sock");
    let syslog = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    syslog.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let log = format!("dest = [\"syslog\"]\nsyslog_socket = \"{}\"", socket_path.display());
    let mut broker = spawn_broker(&config_with_log(dir.path(), &log));
    // RFC 3164 as the local daemon reads it: <PRI>tag[PID]: message, facility daemon (3).
    let prefix_info = format!("<30>tern[{}]: ", broker.id());
    let mut lines = Vec::new();
    let mut buf = [0u8; 2048];
    while !lines.iter().any(|l: &String| l.contains("Opening ipv4 listen socket on ")) {
        let n = syslog.recv(&mut buf).expect("a syslog line within 10 s");
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let opening = lines.iter().find(|l| l.contains("Opening ipv4 listen socket on ")).unwrap();
    assert!(opening.starts_with(&prefix_info), "severity informational (6): {opening}");
    let message = opening.strip_prefix(&prefix_info).unwrap();
    assert!(!message.starts_with(|c: char| c.is_ascii_digit()), "no time prefix: {opening}");
    assert!(lines.iter().all(|l| l.starts_with('<') && l.contains(&format!("tern[{}]: ", broker.id()))));
    signal(&broker, "-TERM");
    let _ = broker.wait();
}
