//! Test whether `tern broker` as a process checks configuration files before starting (`--test-config`),
//! admits the users of a file `tern passwd` wrote, and on SIGHUP either puts a valid change in force —
//! disconnecting only the clients it no longer allows — or, when any file is broken, logs the problem with
//! FILE:LINE and keeps every rule it had.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{run, tern};
use tern_test_support::mosquitto::free_port;
use tern_test_support::pki::Ca;

/// The sample configurations of the broker crate, and the directory they are read from (their
/// `include_dir` is relative to it, as Mosquitto resolves it).
fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../broker")
}

fn test_config(sample: &str) -> std::process::Output {
    let mut cmd = tern();
    cmd.current_dir(samples()).args(["broker", "--test-config", "-c", &format!("tests/configs/{sample}")]);
    run(cmd, b"")
}

#[test]
fn test_config_accepts_a_valid_sample_that_names_no_file() {
    let out = test_config("local-only.conf");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tests/configs/local-only.conf: configuration OK\n");
}

/// The other valid samples name files of a real installation (`/etc/mosquitto/passwd`...): they parse,
/// and `--test-config` then reports each file that cannot be read at the line of its directive.
#[test]
fn test_config_reports_the_files_a_valid_sample_names_that_cannot_be_read() {
    for (sample, first) in [
        ("debian.conf", "tests/configs/debian.d/00-local.conf:3: password_file: /etc/mosquitto/passwd"),
        ("legacy-port.conf", "tests/configs/legacy-port.conf:3: cafile: reading /etc/mosquitto/ca.crt"),
        ("limits.conf", "tests/configs/limits.conf:13: password_file: /etc/mosquitto/passwd"),
        ("per-listener.conf", "tests/configs/per-listener.conf:12: password_file: /etc/mosquitto/passwd"),
        ("tern.toml", "tests/configs/tern.toml: listener #2: password_file: /etc/tern/passwd"),
        ("tls-mutual.conf", "tests/configs/tls-mutual.conf:5: acl_file: cannot read /etc/mosquitto/acl"),
        (
            "websockets.conf",
            "tests/configs/websockets.conf:10: cafile: reading /etc/mosquitto/ca_certificates",
        ),
    ] {
        let out = test_config(sample);
        assert_eq!(out.status.code(), Some(1), "{sample}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with(&format!("Error: {first}")), "{sample}: {stderr}");
        // Nothing but missing files: the syntax is fine.
        assert!(stderr.lines().all(|l| l.contains("No such file")), "{sample}: {stderr}");
        assert!(out.stdout.is_empty(), "{sample}");
    }
}

#[test]
fn test_config_rejects_each_invalid_sample_naming_its_file_and_line() {
    for (sample, line, what) in [
        ("bad-tls.conf", 3, "require_certificate needs cafile or capath"),
        ("bridge.conf", 5, "connection: not supported"),
        ("psk.conf", 2, "psk_hint: not supported"),
    ] {
        let out = test_config(sample);
        assert_eq!(out.status.code(), Some(1), "{sample}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("tests/configs/{sample}:{line}: ")), "{sample}: {stderr}");
        assert!(stderr.contains(what), "{sample}: {stderr}");
        assert!(out.stdout.is_empty(), "{sample}");
    }
}

/// `tern broker -c FILE` on a free port, its log (stderr) kept in a file; stopped when dropped.
struct Broker {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    /// Starts with `conf` (written after a `listener PORT 127.0.0.1` line) in a fresh directory, and
    /// waits until it listens.
    fn start(dir: tempfile::TempDir, conf: &str) -> Broker {
        let broker = Broker::spawn(dir, conf);
        broker.wait_for("listen socket on 127.0.0.1:");
        broker
    }

    /// Starts the process without waiting.
    fn spawn(dir: tempfile::TempDir, conf: &str) -> Broker {
        let port = free_port();
        let config = dir.path().join("tern.conf");
        std::fs::write(&config, format!("listener {port} 127.0.0.1\n{conf}")).unwrap();
        let log = std::fs::File::create(dir.path().join("tern.log")).unwrap();
        let child = tern()
            .args(["broker", "-c"])
            .arg(&config)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Broker { child, port, dir }
    }

    /// Waits until the log holds `text`. (The log, not a connection, tells the broker is listening:
    /// another process may hold the port for a while.)
    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(text) {
            assert!(Instant::now() < deadline, "{text:?} not logged: {}", self.log());
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends SIGHUP.
    fn hup(&self) {
        let out = Command::new("kill").args(["-HUP", &self.child.id().to_string()]).output().unwrap();
        assert!(out.status.success());
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("tern.log")).unwrap_or_default()
    }

    /// Sends SIGHUP and waits for the reload's outcome; returns the log line saying it.
    fn reload(&self) -> String {
        let outcomes = |log: &str| -> Vec<String> {
            log.lines()
                .filter(|l| l.contains("Reloaded") || l.contains("Reload failed"))
                .map(str::to_owned)
                .collect()
        };
        let before = outcomes(&self.log()).len();
        self.hup();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if let Some(outcome) = outcomes(&log).get(before) {
                return outcome.clone();
            }
            assert!(Instant::now() < deadline, "no reload outcome logged: {log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `mosquitto_<tool> -p PORT ARGS`.
    fn mosquitto(&self, tool: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(format!("mosquitto_{tool}"));
        cmd.args(["-p", &self.port.to_string()]).args(args);
        cmd
    }

    /// `mosquitto_pub -q 1 -u USER -P PASSWORD -t TOPIC -m TOPIC`: its exit code.
    fn publish(&self, user: &str, password: &str, topic: &str, extra: &[&str]) -> i32 {
        let args = [&["-q", "1", "-u", user, "-P", password, "-t", topic, "-m", topic][..], extra].concat();
        run(self.mosquitto("pub", &args), b"").status.code().unwrap_or(-1)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `mosquitto_sub -v` whose lines arrive on a channel.
struct Subscriber {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Subscriber {
    fn start(broker: &Broker, args: &[&str]) -> Subscriber {
        let mut child = broker
            .mosquitto("sub", &[&["-v"], args].concat())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Subscriber { child, lines }
    }

    fn next(&self) -> Option<String> {
        self.lines.recv_timeout(Duration::from_secs(10)).ok()
    }

    /// Publishes to `probe` (with `publish`) until this subscriber receives it: it is subscribed.
    fn wait_subscribed(&self, publish: impl Fn() -> i32, probe: &str) {
        for _ in 0..50 {
            assert_eq!(publish(), 0);
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                assert!(line.starts_with(probe), "{line}");
                return;
            }
        }
        panic!("the subscriber never received {probe}");
    }

    /// Whether the process has ended, waiting up to ten seconds.
    fn ended(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tern passwd` with these arguments; it must succeed.
fn tern_passwd(args: &[&str]) {
    let mut cmd = tern();
    cmd.arg("passwd").args(args);
    let out = run(cmd, b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A broker with a password file (alice, bob; `tern passwd -I 1000`: a debug build hashes slowly) and an
/// ACL file.
fn secured(acl: &str) -> Broker {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    tern_passwd(&["-c", "-I", "1000", "-b", &passwd.display().to_string(), "alice", "alice-pw"]);
    tern_passwd(&["-I", "1000", "-b", &passwd.display().to_string(), "bob", "bob-pw"]);
    let acl_path = dir.path().join("acl");
    std::fs::write(&acl_path, acl).unwrap();
    let conf = format!(
        "password_file {}\nacl_file {}\nallow_anonymous false\n",
        passwd.display(),
        acl_path.display()
    );
    Broker::start(dir, &conf)
}

const ACL: &str = "user alice\ntopic readwrite a/#\n\nuser bob\ntopic readwrite #\n";

#[test]
fn users_of_a_password_file_written_by_tern_passwd_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd").display().to_string();
    // PBKDF2 (`$7$`) and argon2id, then a user deleted.
    tern_passwd(&["-c", "-I", "1000", "-b", &passwd, "alice", "alice-pw"]);
    tern_passwd(&["-H", "argon2id", "-b", &passwd, "carol", "carol-pw"]);
    tern_passwd(&["-I", "1000", "-b", &passwd, "dave", "dave-pw"]);
    tern_passwd(&["-D", &passwd, "dave"]);
    let text = std::fs::read_to_string(&passwd).unwrap();
    assert!(text.contains("alice:$7$1000$") && text.contains("carol:$argon2id$") && !text.contains("dave"));
    let broker = Broker::start(dir, &format!("password_file {passwd}\n"));
    assert_eq!(broker.publish("alice", "alice-pw", "t", &[]), 0);
    assert_eq!(broker.publish("carol", "carol-pw", "t", &["-V", "5"]), 0);
    // mosquitto_pub exits with the CONNACK code: 5, not authorised.
    assert_eq!(broker.publish("alice", "carol-pw", "t", &[]), 5);
    assert_eq!(broker.publish("dave", "dave-pw", "t", &[]), 5);
}

#[test]
fn sighup_with_a_bad_acl_line_logs_its_file_and_line_and_keeps_the_rules() {
    let broker = secured(ACL);
    let alice = Subscriber::start(&broker, &["-u", "alice", "-P", "alice-pw", "-t", "a/#"]);
    alice.wait_subscribed(|| broker.publish("bob", "bob-pw", "a/probe", &[]), "a/probe");
    std::fs::write(
        broker.path("acl"),
        "user alice\ntopic readwrite a/#\ntopic readwrite b/#\npattern raedwrite x\n",
    )
    .unwrap();
    let outcome = broker.reload();
    let at = format!("{}:4: ", broker.path("acl").display());
    assert!(outcome.contains("Reload failed") && outcome.contains(&at), "{outcome}");
    // The old rules: alice still receives a/#, may not write b/# (the broken file would have let her).
    assert_eq!(broker.publish("bob", "bob-pw", "a/1", &[]), 0);
    assert_eq!(alice.next().as_deref(), Some("a/1 a/1"));
    let refused = run(
        broker.mosquitto(
            "pub",
            &["-q", "1", "-V", "5", "-u", "alice", "-P", "alice-pw", "-t", "b/1", "-m", "x"],
        ),
        b"",
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Not authorized"), "{refused:?}");
}

#[test]
fn sighup_with_a_broken_password_file_logs_it_and_keeps_the_users() {
    let broker = secured(ACL);
    let passwd = broker.path("passwd");
    let good = std::fs::read_to_string(&passwd).unwrap();
    std::fs::write(&passwd, format!("{good}carol\n")).unwrap();
    let outcome = broker.reload();
    assert!(outcome.contains(&format!("{}:3: ", passwd.display())), "{outcome}");
    assert_eq!(broker.publish("bob", "bob-pw", "x", &[]), 0);
    // Unreadable: a directory where the file was.
    std::fs::remove_file(&passwd).unwrap();
    std::fs::create_dir(&passwd).unwrap();
    let outcome = broker.reload();
    assert!(
        outcome.contains("Reload failed") && outcome.contains(&passwd.display().to_string()),
        "{outcome}"
    );
    assert_eq!(broker.publish("alice", "alice-pw", "a/x", &[]), 0);
}

#[test]
fn sighup_with_a_bad_configuration_line_logs_it_and_keeps_everything() {
    let broker = secured(ACL);
    let config = broker.path("tern.conf");
    let text = std::fs::read_to_string(&config).unwrap();
    // Lines 5 and 6, after the four written by `secured`; max_keepalive is out of range.
    std::fs::write(&config, format!("{text}allow_anonymous true\nmax_keepalive 5\n")).unwrap();
    let outcome = broker.reload();
    assert!(outcome.contains(&format!("{}:6: max_keepalive", config.display())), "{outcome}");
    // allow_anonymous true, on the line before, did not apply either.
    let anonymous = run(broker.mosquitto("pub", &["-t", "x", "-m", "x"]), b"");
    assert_eq!(anonymous.status.code(), Some(5));
}

#[test]
fn sighup_applies_a_valid_change_and_disconnects_only_the_clients_it_no_longer_allows() {
    let broker = secured(ACL);
    let mut alice =
        Subscriber::start(&broker, &["-u", "alice", "-P", "alice-pw", "-t", "a/#", "-i", "alice-sub"]);
    let bob = Subscriber::start(&broker, &["-u", "bob", "-P", "bob-pw", "-t", "a/#", "-i", "bob-sub"]);
    alice.wait_subscribed(|| broker.publish("bob", "bob-pw", "a/probe", &[]), "a/probe");
    bob.wait_subscribed(|| broker.publish("bob", "bob-pw", "a/probe2", &[]), "a/probe");
    let out = run(
        {
            let mut cmd = tern();
            cmd.args(["passwd", "-D"]).arg(broker.path("passwd")).arg("alice");
            cmd
        },
        b"",
    );
    assert!(out.status.success());
    assert!(broker.reload().contains("Reloaded"));
    // alice is disconnected; mosquitto_sub tries again, is refused, and exits with CONNACK code 5.
    assert!(alice.ended(), "alice is still connected: {}", broker.log());
    assert_eq!(alice.child.wait().unwrap().code(), Some(5));
    // bob's connection was not touched.
    assert_eq!(broker.publish("bob", "bob-pw", "a/after", &[]), 0);
    let mut next = bob.next();
    while next.as_deref().is_some_and(|l| l.starts_with("a/probe")) {
        next = bob.next();
    }
    assert_eq!(next.as_deref(), Some("a/after a/after"));
    assert_eq!(broker.log().matches("bob-sub").count(), 1, "bob connected once: {}", broker.log());
}

#[test]
fn a_sighup_while_the_broker_starts_does_not_stop_it() {
    // The pid file is a FIFO: writing it holds the broker mid start-up until the test reads it.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("tern.pid");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut broker = Broker::spawn(dir, &format!("allow_anonymous true\npid_file {}\n", fifo.display()));
    broker.wait_for("Config loaded");
    broker.hup();
    std::thread::sleep(Duration::from_millis(100));
    assert!(broker.child.try_wait().unwrap().is_none(), "SIGHUP stopped the broker: {}", broker.log());
    let pid = std::fs::read_to_string(&fifo).unwrap();
    assert_eq!(pid.trim(), broker.child.id().to_string());
    broker.wait_for("listen socket on 127.0.0.1:");
    assert_eq!(broker.publish("anyone", "x", "t", &[]), 0, "{}", broker.log());
}

#[test]
fn sighup_with_a_bad_certificate_logs_it_and_keeps_serving_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let server = ca.server("server");
    let conf = format!(
        "certfile {}\nkeyfile {}\nallow_anonymous true\n",
        server.cert.display(),
        server.key.display()
    );
    let broker = Broker::start(dir, &conf);
    let tls = ["-h", "localhost", "--cafile", &ca.cert_path.display().to_string()];
    let publish =
        || run(broker.mosquitto("pub", &[&tls[..], &["-t", "t", "-m", "m"]].concat()), b"").status.code();
    assert_eq!(publish(), Some(0));
    // A key file that is not a key.
    std::fs::write(&server.key, "not a key\n").unwrap();
    let outcome = broker.reload();
    assert!(
        outcome.contains("Reload failed") && outcome.contains(&server.key.display().to_string()),
        "{outcome}"
    );
    assert_eq!(publish(), Some(0));
}

/// mosquitto.conf `user`: started as root, the broker runs as that user once its listeners and store are
/// open, and keeps working (the store is handed over). Needs root; skipped otherwise.
#[test]
fn started_as_root_the_broker_runs_as_the_configured_user() {
    if !std::fs::read_to_string("/proc/self/status").unwrap().lines().any(|l| l.starts_with("Uid:\t0\t")) {
        eprintln!("skipped: not running as root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The user must be able to reach its store.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    let broker = Broker::start(
        dir,
        &format!("allow_anonymous true\nuser nobody\npersistence_location {}\n", data.display()),
    );
    broker.wait_for("Running as user nobody");
    let status = std::fs::read_to_string(format!("/proc/{}/status", broker.child.id())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_owned();
    assert_eq!(uid.split_whitespace().nth(2), Some("65534"), "{uid}");
    // Still serving, and the store still takes writes (a persistent session and a retained message).
    let port = broker.port.to_string();
    let out = tern().args(["pub", "-p", &port, "-t", "u/t", "-m", "kept", "-q", "1", "-r"]).output().unwrap();
    assert!(out.status.success(), "{out:?}\n{}", broker.log());
    let out = tern().args(["sub", "-p", &port, "-t", "u/t", "-C", "1", "-W", "5"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "kept", "{}", broker.log());
    assert!(!broker.log().contains("Store write failed"), "{}", broker.log());
}
