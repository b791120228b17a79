//! # tern-broker
//!
//! The Tern MQTT broker as a library; the `tern` binary is a thin shell around it.
//!
//! ```no_run
//! # async fn run() -> Result<(), tern_broker::StartError> {
//! let broker = tern_broker::Broker::new(tern_broker::config::Config::default()).start().await?;
//! println!("listening on {:?}", broker.local_addrs());
//! broker.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: the validated configuration, from mosquitto.conf or TOML
//! - [`listener`]: sockets, accept loop, connection limits
//! - `connection`: one client's connection — handshake, packets in, deliveries out
//! - [`session`]: sessions, their queues, the registry; takeover and expiry live in [`broker`]
//! - [`router`]: the subscription index and fan-out, shared subscriptions
//! - [`retained`]: the retained message index
//! - [`message`]: a message in flight through the broker
//! - [`auth`]: authentication and authorization traits and built-in rules
//! - [`stats`]: the counters

pub mod auth;
pub mod broker;
pub mod config;
mod connection;
pub mod listener;
pub mod message;
pub mod retained;
pub mod router;
pub mod session;
pub mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::info;

pub use broker::BrokerShared;
use config::Config;
pub use listener::ListenerError;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Listener(#[from] ListenerError),
    #[error("no listener could be opened")]
    NoListener,
}

/// A broker, configured but not yet listening.
#[derive(Debug)]
pub struct Broker {
    shared: BrokerShared,
    authenticator: Option<Arc<dyn auth::Authenticator>>,
    authorizer: Option<Arc<dyn auth::Authorizer>>,
}

impl Broker {
    pub fn new(config: Config) -> Broker {
        Broker { shared: BrokerShared::new(config), authenticator: None, authorizer: None }
    }

    /// Uses `authenticator` on every listener instead of the configured password file / anonymous rules.
    pub fn with_authenticator(mut self, authenticator: Arc<dyn auth::Authenticator>) -> Broker {
        self.authenticator = Some(authenticator);
        self
    }

    /// Uses `authorizer` on every listener instead of the configured ACL file.
    pub fn with_authorizer(mut self, authorizer: Arc<dyn auth::Authorizer>) -> Broker {
        self.authorizer = Some(authorizer);
        self
    }

    /// Binds every listener and starts accepting.
    pub async fn start(self) -> Result<RunningBroker, StartError> {
        let overrides = Overrides { authenticator: self.authenticator, authorizer: self.authorizer };
        let shared = Arc::new(self.shared);
        let configured = shared.config.listeners.clone();
        let listeners = shared.config.effective_listeners();
        let mut bound = Vec::new();
        let mut contexts = Vec::new();
        for (i, l) in listeners.iter().enumerate() {
            let security = overrides.security_for(&shared.config, l)?;
            let context = Arc::new(listener::ListenerContext::new(&shared.config, l, security)?);
            contexts.push((l.clone(), context.clone()));
            // The default pair (127.0.0.1 and ::1) needs only one of its addresses.
            let required = !configured.is_empty() || i == 0;
            bound.extend(listener::bind(l, context, required).await?);
        }
        if bound.is_empty() {
            return Err(StartError::NoListener);
        }
        if configured.is_empty() {
            info!("Starting in local only mode. Connections will only be possible from clients running on this machine.");
            info!("Create a configuration file which defines a listener to allow remote access.");
        }
        let global_limit = shared.config.limits.max_connections.map(|n| Arc::new(Semaphore::new(n)));
        let connections = Arc::new(parking_lot::Mutex::new(JoinSet::new()));
        let local_addrs: Vec<SocketAddr> = bound.iter().filter_map(|b| b.local_addr).collect();
        let mut accept_tasks = JoinSet::new();
        for b in bound {
            accept_tasks.spawn(listener::accept_loop(
                b,
                shared.clone(),
                global_limit.clone(),
                connections.clone(),
            ));
        }
        Ok(RunningBroker { shared, local_addrs, accept_tasks, connections, contexts, overrides })
    }
}

/// Security set in code, which a reload of the configuration files leaves in place.
#[derive(Debug, Clone)]
struct Overrides {
    authenticator: Option<Arc<dyn auth::Authenticator>>,
    authorizer: Option<Arc<dyn auth::Authorizer>>,
}

impl Overrides {
    fn security_for(
        &self,
        config: &Config,
        l: &config::ListenerConfig,
    ) -> Result<auth::files::Security, ListenerError> {
        let files = auth::files::load(config, l)
            .map_err(|source| ListenerError::Security { port: l.port, source })?;
        Ok(auth::files::Security {
            authenticator: self.authenticator.clone().unwrap_or(files.authenticator),
            authorizer: self.authorizer.clone().unwrap_or(files.authorizer),
        })
    }
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Listener(#[from] ListenerError),
    #[error("listeners cannot change without a restart: {0}")]
    ListenersChanged(String),
}

/// A broker that is accepting connections.
#[derive(Debug)]
pub struct RunningBroker {
    shared: Arc<BrokerShared>,
    local_addrs: Vec<SocketAddr>,
    accept_tasks: JoinSet<()>,
    connections: Arc<parking_lot::Mutex<JoinSet<()>>>,
    contexts: Vec<(config::ListenerConfig, Arc<listener::ListenerContext>)>,
    overrides: Overrides,
}

impl RunningBroker {
    /// Re-reads password files, ACL files and certificates for every listener of `config` and puts them in
    /// force without dropping connections; connected clients are then checked again and those no longer
    /// allowed are disconnected. All or nothing: if any file cannot be used, nothing changes (fail closed:
    /// the previous rules stay in force) and the error names it.
    pub fn reload(&self, config: &Config) -> Result<(), ReloadError> {
        let listeners = config.effective_listeners();
        let same = listeners.len() == self.contexts.len()
            && listeners.iter().zip(&self.contexts).all(|(new, (old, _))| {
                (new.port, &new.bind_address, &new.unix_socket, new.protocol, new.tls.is_some())
                    == (old.port, &old.bind_address, &old.unix_socket, old.protocol, old.tls.is_some())
            });
        if !same {
            return Err(ReloadError::ListenersChanged(
                "the listener lines differ from those in force".into(),
            ));
        }
        let mut prepared = Vec::with_capacity(listeners.len());
        for (l, (_, context)) in listeners.iter().zip(&self.contexts) {
            let security = self.overrides.security_for(config, l)?;
            prepared.push(context.prepare_reload(l, security)?);
        }
        for (p, (_, context)) in prepared.into_iter().zip(&self.contexts) {
            context.apply_reload(p);
        }
        for session in self.shared.sessions.all() {
            let control = session.state.lock().attached.as_ref().map(|a| a.control.clone());
            if let Some(control) = control {
                let _ = control.try_send(session::Control::Recheck);
            }
        }
        info!("Reloaded security settings for {} listener(s).", self.contexts.len());
        Ok(())
    }

    /// The addresses actually bound (with the real port when 0 was asked for).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The broker's shared state: statistics, sessions, router.
    pub fn shared(&self) -> &Arc<BrokerShared> {
        &self.shared
    }

    /// Stops accepting, closes every connection (v5 clients get DISCONNECT 0x8B; wills are not sent) and
    /// waits for the connection tasks to finish, at most a few seconds.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        while self.accept_tasks.join_next().await.is_some() {}
        let mut connections = std::mem::take(&mut *self.connections.lock());
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
            connections.abort_all();
        }
    }
}
