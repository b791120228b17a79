//! A real broker (the `tern-broker` library, not a mock) listening on 127.0.0.1 on an ephemeral port.

use std::net::SocketAddr;
use std::sync::Arc;

use tern_broker::config::{Config, Durability, ListenerConfig, PersistenceConfig};
use tern_broker::{Broker, BrokerShared, RunningBroker};

/// `config` without a store unless it names one: tests run side by side in one working directory, where
/// the default `tern-data` store would be shared (and refused to all but one of them).
pub fn in_memory(mut config: Config) -> Config {
    if config.persistence.location == PersistenceConfig::default().location {
        config.persistence.durability = Durability::Memory;
    }
    config
}

/// A broker started for one test. Dropping it cancels the broker (connections close, tasks end); call
/// [`TestBroker::shutdown`] to wait for a clean shutdown instead.
#[derive(Debug)]
pub struct TestBroker {
    running: Option<RunningBroker>,
    addr: SocketAddr,
}

impl TestBroker {
    /// Starts the broker with the default configuration.
    pub async fn start_default() -> TestBroker {
        TestBroker::start(Config::default()).await
    }

    /// Starts the broker with `config`, its listeners replaced by one on 127.0.0.1 port 0. Anonymous
    /// clients are allowed unless `config` says otherwise.
    pub async fn start(config: Config) -> TestBroker {
        TestBroker::start_with(config, |b| b).await
    }

    /// Like [`TestBroker::start`], letting `customize` change the broker first (authenticator, authorizer).
    pub async fn start_with(mut config: Config, customize: impl FnOnce(Broker) -> Broker) -> TestBroker {
        config.listeners = vec![ListenerConfig {
            port: 0,
            bind_address: Some("127.0.0.1".into()),
            ..ListenerConfig::default()
        }];
        config.security.allow_anonymous.get_or_insert(true);
        let running = customize(Broker::new(in_memory(config))).start().await.expect("test broker starts");
        let addr = running.local_addrs()[0];
        TestBroker { running: Some(running), addr }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port, for third-party clients.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The running broker.
    pub fn running(&self) -> &RunningBroker {
        self.running.as_ref().expect("broker is running")
    }

    /// The broker's shared state: statistics, sessions, router, retained messages.
    pub fn shared(&self) -> &Arc<BrokerShared> {
        self.running.as_ref().expect("broker is running").shared()
    }

    /// Shuts down cleanly (v5 clients get DISCONNECT 0x8B, wills are not sent) and waits for it. Returns the
    /// shared state, which stays readable afterwards.
    pub async fn shutdown(mut self) -> Arc<BrokerShared> {
        let running = self.running.take().expect("broker is running");
        let shared = running.shared().clone();
        running.shutdown().await;
        shared
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            // Stops the accept loops and every connection; the task sets abort what is left when dropped.
            running.shared().shutdown.cancel();
        }
    }
}
