//! Other processes in tests: the `tern` binary and third-party MQTT clients (a real Mosquitto broker is in
//! [`crate::mosquitto`]). Third-party tools are required, not optional: a missing one fails the test with
//! the command that installs it (`scripts/install-test-deps.sh`), so a green run always means they ran.
//!
//! Every child process is owned by a guard that kills it (by its own PID) when dropped.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a started server has to accept connections.
const STARTUP: Duration = Duration::from_secs(10);

/// The root of the Tern workspace (where `tests/interop` and `scripts` live).
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// A TCP port on 127.0.0.1 that was free a moment ago, for servers that cannot be told to use port 0.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

fn install_hint(what: &str) -> String {
    format!("{what} is required by this test and is not installed: run scripts/install-test-deps.sh")
}

/// The path of an executable on `PATH`; fails the test if there is none.
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{}", install_hint(name)))
}

/// Fails the test unless `python3` can import `module`.
pub fn require_python_module(module: &str) {
    let python = require_tool("python3");
    let ok = Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{}", install_hint(&format!("the Python module {module}")));
}

/// The interop directory with its npm packages installed; fails the test if `package` is missing.
pub fn require_node_package(package: &str) -> PathBuf {
    require_tool("node");
    let dir = workspace_root().join("tests/interop");
    assert!(
        dir.join("node_modules").join(package).is_dir(),
        "{}",
        install_hint(&format!("the npm package {package}"))
    );
    dir
}

/// Runs `command` to completion within `timeout` and returns its standard output. Fails the test, showing
/// both output streams, if it fails or takes too long.
pub async fn run_checked(mut command: tokio::process::Command, timeout: Duration) -> String {
    command.kill_on_drop(true).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let shown = format!("{command:?}");
    let child = command.spawn().unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("{shown}: {e}"),
        Err(_) => panic!("{shown} did not finish within {timeout:?}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{shown} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    stdout
}

/// A child process killed when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    pub fn new(child: Child) -> ChildGuard {
        ChildGuard { child }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the process at once (SIGKILL): for the broker, its network connections are lost.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`) without waiting.
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -{name} {}", self.child.id());
    }

    /// Waits up to `timeout` for the process to exit (blocking).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.signal("TERM");
        self.wait_exit(timeout)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.kill();
        }
    }
}

/// Waits until something accepts connections on `addr`, failing if `child` exits first.
fn wait_for_listener(addr: SocketAddr, child: &mut ChildGuard, log: &Path) {
    let deadline = Instant::now() + STARTUP;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Some(status) = child.exited() {
            panic!("server exited ({status}) before listening on {addr}:\n{}", read_log(log));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("server not listening on {addr} after {STARTUP:?}:\n{}", read_log(log));
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `tern broker -p PORT` run from a binary built by cargo: `env!("CARGO_BIN_EXE_tern")` in the `tern`
/// crate's own tests. Its standard error (the log) goes to a file readable with [`TernBroker::log`].
#[derive(Debug)]
pub struct TernBroker {
    child: ChildGuard,
    port: u16,
    dir: tempfile::TempDir,
}

impl TernBroker {
    /// Starts `binary broker -p PORT extra_args...` on a free port and waits until it listens (blocking).
    pub fn start(binary: &Path, extra_args: &[&str]) -> TernBroker {
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = free_port();
        let log = dir.path().join("tern.log");
        let child = Command::new(binary)
            .args(["broker", "-p", &port.to_string()])
            .args(extra_args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(File::create(dir.path().join("tern.out")).expect("stdout file"))
            .stderr(File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let mut child = ChildGuard::new(child);
        wait_for_listener(SocketAddr::from(([127, 0, 0, 1], port)), &mut child, &log);
        TernBroker { child, port, dir }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Everything the broker logged so far (standard error and output).
    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("tern.log")) + &read_log(&self.dir.path().join("tern.out"))
    }

    pub fn process(&mut self) -> &mut ChildGuard {
        &mut self.child
    }
}
