//! A Tern broker in this process, on 127.0.0.1 and a free port, for end-to-end tests: the counterpart of
//! [`Mosquitto`](crate::mosquitto::Mosquitto), configured with the same mosquitto.conf lines, so one test can
//! run against both.
//!
//! The broker runs on a runtime of its own, so sync tests (driving command-line tools) and async tests (on
//! their own runtime) use it alike. Dropping it stops the broker abruptly, as killing a process would:
//! connections close without DISCONNECT.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tern_broker::config::Config;
use tern_broker::{Broker, RunningBroker};
use tokio::runtime::Runtime;

use crate::mosquitto::free_port;

/// A running in-process Tern broker.
#[derive(Debug)]
pub struct TernBroker {
    runtime: Option<Runtime>,
    running: Option<RunningBroker>,
    /// The loopback port it listens on.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl TernBroker {
    /// A broker that allows anonymous clients.
    pub fn start() -> TernBroker {
        TernBroker::start_with("allow_anonymous true\n")
    }

    /// A broker with these mosquitto.conf lines after its `listener` line.
    pub fn start_with(config: &str) -> TernBroker {
        for _ in 0..5 {
            if let Some(broker) = TernBroker::try_start(free_port(), config) {
                return broker;
            }
        }
        panic!("tern broker did not start");
    }

    /// A broker on a given port (e.g. to restart one), retrying while the port is still held.
    pub fn start_on(port: u16, config: &str) -> TernBroker {
        for _ in 0..50 {
            if let Some(broker) = TernBroker::try_start(port, config) {
                return broker;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("tern broker did not start on port {port}");
    }

    fn try_start(port: u16, config: &str) -> Option<TernBroker> {
        // Fails fast, without building a runtime, while the port is held.
        drop(TcpListener::bind(("127.0.0.1", port)).ok()?);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tern.conf");
        let text = format!("listener {port} 127.0.0.1\n{config}");
        std::fs::write(&path, &text).expect("write config");
        let mut config = Config::from_mosquitto_str(&text, &path).expect("valid broker configuration");
        if config.persistence.location == Config::default().persistence.location {
            // Durable as in production, in a directory of its own.
            config.persistence.location = dir.path().join("tern-data");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        // Started from a thread of its own: the calling thread may be inside another runtime.
        let handle = runtime.handle().clone();
        let running = std::thread::spawn(move || handle.block_on(Broker::new(config).start()))
            .join()
            .expect("broker start thread");
        match running {
            Ok(running) => Some(TernBroker { runtime: Some(runtime), running: Some(running), port, dir }),
            Err(_) => {
                runtime.shutdown_background();
                None
            }
        }
    }

    /// The running broker: its statistics, sessions and router.
    pub fn running(&self) -> &RunningBroker {
        self.running.as_ref().expect("broker is running until dropped")
    }

    /// The directory holding the configuration; tests put password files here.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside [`TernBroker::dir`].
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for TernBroker {
    fn drop(&mut self) {
        drop(self.running.take());
        if let Some(runtime) = self.runtime.take() {
            // Allowed inside an async context, unlike dropping the runtime: every task is cancelled and every
            // socket closed at once.
            runtime.shutdown_background();
        }
    }
}
