//! Running `tern` and the mosquitto tools side by side.
#![allow(dead_code, unused_macros, clippy::unwrap_used)] // each test file uses some of them

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tern_test_support::AnyBroker;

/// Runs each `fn(BrokerKind)` once against Tern and once against Mosquitto, as `name::tern` and
/// `name::mosquitto`.
macro_rules! against_both_brokers {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn tern() {
                super::$name(tern_test_support::BrokerKind::Tern)
            }
            #[test]
            fn mosquitto() {
                super::$name(tern_test_support::BrokerKind::Mosquitto)
            }
        }
    )*};
}

pub fn tern() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tern"));
    // No defaults file from the machine running the tests.
    c.env("XDG_CONFIG_HOME", "/nonexistent-tern-test-config");
    c
}

/// `tern <tool>` or `mosquitto_<tool>` with `args`.
pub fn tool(real: bool, name: &str, args: &[&str]) -> Command {
    let mut c = if real {
        let mut c = Command::new(format!("mosquitto_{name}"));
        c.env("XDG_CONFIG_HOME", "/nonexistent-tern-test-config");
        c
    } else {
        let mut c = tern();
        c.arg(name);
        c
    };
    c.args(args);
    c
}

/// Runs `tern <tool>` or `mosquitto_<tool>` with `args` on a new pseudo-terminal (`terminal.py`), typing
/// each input of `dialogue` once its prompt shows and echo is off; stdout is what the terminal showed.
pub fn on_terminal(real: bool, name: &str, args: &[&str], dialogue: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(tern_test_support::require_tool("python3"));
    cmd.arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/terminal.py"));
    for (prompt, input) in dialogue {
        cmd.args([prompt, input]);
    }
    cmd.arg("--");
    if real {
        cmd.arg(format!("mosquitto_{name}"));
    } else {
        cmd.args([env!("CARGO_BIN_EXE_tern"), name]);
    }
    cmd.args(args).env("XDG_CONFIG_HOME", "/nonexistent-tern-test-config");
    run(cmd, b"")
}

/// `tool`, with mosquitto's stdout line-buffered on a pipe as on a terminal (its `-d` log is written with
/// C stdio, block-buffered on a pipe), so a test can read it as it comes.
pub fn tool_line_buffered(real: bool, name: &str, args: &[&str]) -> Command {
    if !real {
        return tool(false, name, args);
    }
    let mut c = Command::new("stdbuf");
    c.env("XDG_CONFIG_HOME", "/nonexistent-tern-test-config");
    c.arg("-oL").arg(format!("mosquitto_{name}")).args(args);
    c
}

/// Runs with a time limit, `stdin` fed in; kills the process if it overruns.
pub fn run(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    wait(child, Duration::from_secs(20))
}

pub fn wait(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "timed out: stdout {:?} stderr {:?}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Replaces the program names so messages of `tern x` and `mosquitto_x` compare equal.
pub fn normalise(s: &[u8]) -> String {
    String::from_utf8_lossy(s)
        .replace("mosquitto_pub", "tern pub")
        .replace("mosquitto_sub", "tern sub")
        .replace("mosquitto_rr", "tern rr")
}

/// A running subscriber whose output is read line by line.
pub struct Subscriber {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
}

impl Subscriber {
    /// Starts `cmd` (a subscriber to `sync/#` among its topics, printing with -v) and waits until it has
    /// printed the retained message on `sync/ready`, i.e. it is subscribed.
    pub fn start(broker: &AnyBroker, cmd: Command) -> Subscriber {
        // Brokers are told apart by their directory: a port may serve several brokers in turn.
        static SYNC: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
        let mut synced = SYNC.lock().unwrap();
        if !synced.iter().any(|dir| dir == broker.dir()) {
            // Published once per broker: a second copy would reach subscribers already running.
            let port = broker.port.to_string();
            let sync = run(
                tool(true, "pub", &["-p", &port, "-t", "sync/ready", "-m", "ready", "-r", "-q", "1"]),
                b"",
            );
            assert!(sync.status.success());
            synced.push(broker.dir().to_owned());
        }
        drop(synced);
        let (subscriber, before) = Subscriber::start_until(cmd, "sync/ready");
        assert!(before.is_empty(), "{before:?}");
        subscriber
    }

    /// Starts `cmd` and reads its output up to a line starting with `marker` (e.g. `Subscribed` with -d);
    /// returns the lines before it.
    pub fn start_until(mut cmd: Command, marker: &str) -> (Subscriber, Vec<String>) {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut before = Vec::new();
        loop {
            let mut line = String::new();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "no {marker:?} line after {before:?}");
            if line.starts_with(marker) {
                break;
            }
            before.push(line);
        }
        (Subscriber { child, stdout }, before)
    }

    pub fn finish(mut self) -> (Vec<u8>, i32) {
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut self.stdout, &mut rest).unwrap();
        let out = wait(self.child, Duration::from_secs(20));
        (rest, out.status.code().unwrap_or(-1))
    }
}

/// `-d` output with the client identifiers masked (`Client <id> ...`), the one part that differs between
/// two runs; `(null)`, the client not named yet, stays.
pub fn mask_client_ids(out: &str) -> String {
    out.lines()
        .map(|line| match line.strip_prefix("Client ").and_then(|rest| rest.split_once(' ')) {
            Some((id, rest)) if id != "(null)" => format!("Client <id> {rest}"),
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
