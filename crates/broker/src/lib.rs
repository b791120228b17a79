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
//! - [`limits`]: the limits in force, and what a reload changes
//! - `connection`: one client's connection — handshake, packets in, deliveries out
//! - [`session`]: sessions, their queues, the registry; takeover and expiry live in [`broker`]
//! - [`router`]: the subscription index and fan-out, shared subscriptions
//! - [`retained`]: the retained message index
//! - [`message`]: a message in flight through the broker
//! - [`auth`]: authentication and authorization traits and built-in rules
//! - [`storage`]: durable sessions, queues, inflight state and retained messages (`Store`, group commit)
//! - [`stats`]: the counters
//! - [`sys`]: the `$SYS/broker/...` topics
//! - [`metrics`]: the Prometheus / OpenMetrics exposition and latency histograms
//! - [`admin`]: the operators' HTTP listener (metrics, health, JSON admin API)
//! - [`clients`]: connected clients as operators see them
//! - [`overload`]: accept rate, publish rates, memory high-water mark
//! - [`preflight`]: a configuration checked as start-up would use it, short of binding

pub mod admin;
pub mod auth;
pub mod broker;
pub mod clients;
pub mod config;
mod connection;
pub mod limits;
pub mod listener;
pub mod message;
pub mod metrics;
pub mod overload;
pub mod preflight;
pub mod retained;
pub mod router;
pub mod session;
pub mod stats;
pub mod storage;
pub mod sys;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{info, warn};

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
    #[error(transparent)]
    Http(#[from] admin::HttpError),
    #[error(transparent)]
    Store(#[from] storage::StoreError),
}

/// A broker, configured but not yet listening.
#[derive(Debug)]
pub struct Broker {
    shared: BrokerShared,
    authenticator: Option<Arc<dyn auth::Authenticator>>,
    authorizer: Option<Arc<dyn auth::Authorizer>>,
    enhanced: Vec<Arc<dyn auth::enhanced::EnhancedAuth>>,
    store: Option<Arc<dyn storage::Store>>,
}

impl Broker {
    pub fn new(config: Config) -> Broker {
        Broker {
            shared: BrokerShared::new(config),
            authenticator: None,
            authorizer: None,
            enhanced: Vec::new(),
            store: None,
        }
    }

    /// Keeps durable state in `store` instead of the configured directory (tests, embedding: a
    /// [`storage::MemoryStore`] outlives the broker that used it).
    pub fn with_store(mut self, store: Arc<dyn storage::Store>) -> Broker {
        self.store = Some(store);
        self
    }

    /// Offers an enhanced authentication method (MQTT 5.0 AUTH exchanges) on every listener, besides the
    /// built-in ones; it replaces a built-in method of the same name.
    pub fn with_enhanced_auth(mut self, method: Arc<dyn auth::enhanced::EnhancedAuth>) -> Broker {
        self.enhanced.push(method);
        self
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
        let overrides = Overrides {
            authenticator: self.authenticator,
            authorizer: self.authorizer,
            enhanced: self.enhanced,
        };
        let mut shared = self.shared;
        shared.durable = storage::open(&shared.config.persistence, self.store)?;
        let shared = Arc::new(shared);
        let configured = shared.config.listeners.clone();
        let listeners = shared.config.effective_listeners();
        let mut contexts = Vec::new();
        for l in &listeners {
            let security = overrides.security_for(&shared.config, l)?;
            let context = Arc::new(listener::ListenerContext::new(&shared.config, l, security)?);
            contexts.push((l.clone(), context));
        }
        let _ = shared.listeners.set(contexts.iter().map(|(_, c)| c.clone()).collect());
        // State is back before the first client can connect.
        storage::restore(&shared)?;
        let mut bound = Vec::new();
        for (i, (l, context)) in contexts.iter().enumerate() {
            // The default pair (127.0.0.1 and ::1) needs only one of its addresses.
            let required = !configured.is_empty() || i == 0;
            bound.extend(listener::bind(l, context.clone(), required).await?);
        }
        if bound.is_empty() {
            return Err(StartError::NoListener);
        }
        let http = admin::bind(&shared.config.http).await?;
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
        let http_addr = http.as_ref().and_then(|l| l.local_addr().ok());
        let mut background = JoinSet::new();
        if let Some(listener) = http {
            background.spawn(admin::serve(listener, shared.clone()));
        }
        if shared.config.sys_interval > 0 {
            background.spawn(sys::run(shared.clone(), Duration::from_secs(shared.config.sys_interval)));
        }
        if shared.config.limits.memory_high_water > 0 {
            background.spawn(watch_memory(shared.clone()));
        }
        Ok(RunningBroker {
            shared,
            local_addrs,
            http_addr,
            accept_tasks,
            background,
            connections,
            contexts,
            overrides,
        })
    }
}

/// Samples resident memory for the high-water mark until shutdown.
async fn watch_memory(shared: Arc<BrokerShared>) {
    let mut ticker = tokio::time::interval(overload::memory::SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let Some(resident) = overload::resident_memory() else { return };
        let was = shared.memory.is_over();
        let now = shared.memory.record(resident);
        if now != was {
            if now {
                tracing::warn!("Memory {resident} bytes above the high-water mark: refusing new connections, dropping QoS 0.");
            } else {
                info!("Memory {resident} bytes back under the high-water mark.");
            }
        }
    }
}

/// Security set in code, which a reload of the configuration files leaves in place.
#[derive(Debug, Clone)]
struct Overrides {
    authenticator: Option<Arc<dyn auth::Authenticator>>,
    authorizer: Option<Arc<dyn auth::Authorizer>>,
    enhanced: Vec<Arc<dyn auth::enhanced::EnhancedAuth>>,
}

impl Overrides {
    fn security_for(
        &self,
        config: &Config,
        l: &config::ListenerConfig,
    ) -> Result<auth::files::Security, ListenerError> {
        let files = auth::files::load(config, l)
            .map_err(|source| ListenerError::Security { port: l.port, source })?;
        let mut enhanced = files.enhanced;
        for method in &self.enhanced {
            enhanced.add(method.clone());
        }
        Ok(auth::files::Security {
            authenticator: self.authenticator.clone().unwrap_or(files.authenticator),
            authorizer: self.authorizer.clone().unwrap_or(files.authorizer),
            enhanced,
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

/// What a reload put in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// Changed settings left as they were until a restart (`max_connections`, `[persistence]`, a
    /// listener's `mount_point (port 1883)`...).
    pub needs_restart: Vec<String>,
}

/// A broker that is accepting connections.
#[derive(Debug)]
pub struct RunningBroker {
    shared: Arc<BrokerShared>,
    local_addrs: Vec<SocketAddr>,
    http_addr: Option<SocketAddr>,
    accept_tasks: JoinSet<()>,
    /// `$SYS`, the HTTP listener, the memory sampler.
    background: JoinSet<()>,
    connections: Arc<parking_lot::Mutex<JoinSet<()>>>,
    contexts: Vec<(config::ListenerConfig, Arc<listener::ListenerContext>)>,
    overrides: Overrides,
}

impl RunningBroker {
    /// Re-reads password files, ACL files and certificates for every listener of `config` and puts them in
    /// force without dropping connections, with the `[limits]` a reload may change (see [`limits`]);
    /// connected clients are then checked again and those no longer allowed are disconnected. All or
    /// nothing: if any file cannot be used, nothing changes (fail closed: the previous rules stay in force)
    /// and the error names it. Settings that only a restart changes are named in the answer (and logged).
    pub fn reload(&self, config: &Config) -> Result<Reloaded, ReloadError> {
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
        let needs_restart = limits::needing_restart(&self.shared.config, config);
        self.shared.limits.reload(&self.shared.config.limits, &config.limits);
        for (p, (_, context)) in prepared.into_iter().zip(&self.contexts) {
            context.apply_reload(p);
        }
        for session in self.shared.sessions.all() {
            let control = session.state.lock().attached.as_ref().map(|a| a.control.clone());
            if let Some(control) = control {
                let _ = control.send(session::Control::Recheck);
            }
        }
        info!("Reloaded security settings for {} listener(s), and limits.", self.contexts.len());
        if !needs_restart.is_empty() {
            warn!("Changed settings that need a restart to take effect: {}.", needs_restart.join(", "));
        }
        Ok(Reloaded { needs_restart })
    }

    /// Sends MQTT 5 clients to another server (MQTT 5.0 section 4.11), or stops doing so with `None`:
    /// connected clients get DISCONNECT 0x9C Use another server (0x9D Server moved if `moved`) with the
    /// Server Reference, new ones are refused with the same reason in CONNACK. 3.x clients, which cannot be
    /// told where to go, are disconnected and refused as "server unavailable".
    pub fn redirect(&self, redirect: Option<broker::Redirect>) {
        self.shared.set_redirect(redirect);
    }

    /// The addresses actually bound (with the real port when 0 was asked for).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The address of the HTTP listener (metrics, admin API), if one is configured.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Tasks held for connections: the open ones, and those that ended since the last accept (which forgets
    /// them). Bounded by the open connections however many clients came and went.
    pub fn connection_tasks(&self) -> usize {
        self.connections.lock().len()
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
        while self.background.join_next().await.is_some() {}
        let mut connections = std::mem::take(&mut *self.connections.lock());
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
            connections.abort_all();
        }
        if let Some(durable) = &self.shared.durable {
            // Sessions parked by the closing connections are saved; then one last fsync.
            let committer = durable.committer().clone();
            let _ = tokio::task::spawn_blocking(move || {
                committer.flush_blocking(Duration::from_secs(5));
                committer.stop();
            })
            .await;
        }
    }
}
