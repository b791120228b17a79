//! A real Mosquitto broker for interoperability tests: started on a free loopback port with a temporary
//! configuration, stopped (by its own process handle) when dropped.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `mosquitto` process.
#[derive(Debug)]
pub struct Mosquitto {
    child: Child,
    /// The loopback port it listens on.
    pub port: u16,
    dir: tempfile::TempDir,
}

/// A free TCP port on 127.0.0.1 (bound then released, so another process can take it).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

impl Mosquitto {
    /// A broker that allows anonymous clients.
    pub fn start() -> Mosquitto {
        Mosquitto::start_with("allow_anonymous true\n")
    }

    /// A broker with these configuration lines after its `listener` line.
    pub fn start_with(config: &str) -> Mosquitto {
        Mosquitto::start_with_env(config, &[])
    }

    /// Like [`Mosquitto::start_with`], with these environment variables (e.g. `OPENSSL_CONF`).
    pub fn start_with_env(config: &str, env: &[(&str, &Path)]) -> Mosquitto {
        for _ in 0..5 {
            if let Some(broker) = Mosquitto::try_start(free_port(), config, env) {
                return broker;
            }
        }
        panic!("mosquitto did not start");
    }

    /// A broker on a given port (e.g. to restart one), retrying while the port is still held.
    pub fn start_on(port: u16, config: &str) -> Mosquitto {
        for _ in 0..50 {
            if let Some(broker) = Mosquitto::try_start(port, config, &[]) {
                return broker;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("mosquitto did not start on port {port}");
    }

    fn try_start(port: u16, config: &str, env: &[(&str, &Path)]) -> Option<Mosquitto> {
        {
            let dir = tempfile::tempdir().expect("temp dir");
            let conf = dir.path().join("mosquitto.conf");
            let mut f = std::fs::File::create(&conf).expect("write config");
            write!(f, "listener {port} 127.0.0.1\n{config}").expect("write config");
            drop(f);
            let log = std::fs::File::create(dir.path().join("mosquitto.log")).expect("log file");
            let child = Command::new("mosquitto")
                .arg("-c")
                .arg(&conf)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("mosquitto is installed (Debian package mosquitto)");
            let mut broker = Mosquitto { child, port, dir };
            broker.wait_ready().then_some(broker)
        }
    }

    fn wait_ready(&mut self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The directory holding the configuration; tests put password files here.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside [`Mosquitto::dir`].
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
