//! Listeners: bind the configured addresses, accept connections, enforce connection limits, and stop
//! accepting on shutdown.
//!
//! Each accepted connection holds a permit of the global and the listener's semaphore for its lifetime, so
//! `max_connections` is exact and needs no bookkeeping on close.

pub mod tls;
pub mod websocket;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::auth::files::Security;
use crate::auth::{Authenticator, Authorizer};
use crate::broker::BrokerShared;
use crate::config::{ListenerConfig, Protocol};
use crate::connection::{self, ConnectionContext};
use crate::stats::{RefuseReason, Stats};

/// Errors starting a listener.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("listener on port {port}: {source}")]
    Tls { port: u16, source: tls::TlsError },
    #[error("listener on port {port}: {source}")]
    Security { port: u16, source: crate::auth::files::SecurityError },
}

/// What a listener gives the connections it accepts. Security and certificates can be swapped by a reload
/// while connections are open: they read the current ones at each check.
pub struct ListenerContext {
    pub port: u16,
    pub protocol: Protocol,
    tls: ArcSwapOption<tls::ListenerTls>,
    security: ArcSwap<Security>,
    /// Bumped by every reload, after the new security is in force: authorization answers a connection
    /// remembers are valid for one generation only (see [`crate::auth::cache`]).
    generation: AtomicU64,
    /// Take the user name from the client certificate's common name (or whole subject).
    pub identity_as_username: Option<IdentitySource>,
    /// Prefix of every topic this listener's clients see.
    pub mount_point: Option<String>,
    /// Replace each client's id by its user name.
    pub use_username_as_clientid: bool,
    /// Highest QoS this listener's clients may use (v5 Maximum QoS).
    pub max_qos: u8,
    /// Topic aliases this listener's v5 clients may use towards the broker.
    pub max_topic_alias: u16,
    limit: Option<Arc<Semaphore>>,
}

impl std::fmt::Debug for ListenerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerContext")
            .field("port", &self.port)
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.load().is_some())
            .field("identity_as_username", &self.identity_as_username)
            .field("mount_point", &self.mount_point)
            .finish_non_exhaustive()
    }
}

impl ListenerContext {
    fn tls_for(config: &ListenerConfig) -> Result<Option<tls::ListenerTls>, ListenerError> {
        config
            .tls
            .as_ref()
            .map(|t| tls::listener_tls(t).map_err(|source| ListenerError::Tls { port: config.port, source }))
            .transpose()
    }

    /// The authenticator in force.
    pub fn authenticator(&self) -> Arc<dyn Authenticator> {
        self.security.load().authenticator.clone()
    }

    /// The authorizer in force.
    pub fn authorizer(&self) -> Arc<dyn Authorizer> {
        self.security.load().authorizer.clone()
    }

    /// The security in force, without taking a reference count (for per-message checks).
    pub fn security(&self) -> arc_swap::Guard<Arc<Security>> {
        self.security.load()
    }

    /// The check of client certificates in force (the CA and CRLs of the last reload), if the listener asks
    /// for client certificates.
    pub fn client_verifier(&self) -> Option<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
        self.tls.load().as_ref().and_then(|t| t.client_verifier.clone())
    }

    /// The generation of the security in force. Read before the security itself: an answer computed from
    /// newer rules than its generation says is only thrown away sooner.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reads the listener's certificates again, without applying them: a reload applies every listener's
    /// new settings only when all of them could be read.
    pub fn prepare_reload(
        &self,
        config: &ListenerConfig,
        security: Security,
    ) -> Result<PreparedReload, ListenerError> {
        Ok(PreparedReload { tls: Self::tls_for(config)?, security })
    }

    /// Puts prepared settings in force for new connections and for every check of open ones.
    pub fn apply_reload(&self, prepared: PreparedReload) {
        self.tls.store(prepared.tls.map(Arc::new));
        self.security.store(Arc::new(prepared.security));
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// A listener's settings read by a reload, not yet in force.
pub struct PreparedReload {
    tls: Option<tls::ListenerTls>,
    security: Security,
}

impl std::fmt::Debug for PreparedReload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedReload")
            .field("tls", &self.tls.is_some())
            .field("security", &self.security)
            .finish()
    }
}

/// Which part of a client certificate becomes the user name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    CommonName,
    Subject,
}

impl ListenerContext {
    /// The context for `config`, with `security`.
    pub fn new(
        broker: &crate::config::Config,
        config: &ListenerConfig,
        security: Security,
    ) -> Result<Self, ListenerError> {
        let tls = Self::tls_for(config)?;
        let identity_as_username = config.tls.as_ref().and_then(|t| {
            if t.use_subject_as_username {
                Some(IdentitySource::Subject)
            } else if t.use_identity_as_username {
                Some(IdentitySource::CommonName)
            } else {
                None
            }
        });
        Ok(ListenerContext {
            port: config.port,
            protocol: config.protocol,
            tls: ArcSwapOption::new(tls.map(Arc::new)),
            security: ArcSwap::from_pointee(security),
            generation: AtomicU64::new(0),
            identity_as_username,
            mount_point: config.mount_point.clone().filter(|m| !m.is_empty()),
            use_username_as_clientid: config.use_username_as_clientid,
            max_qos: broker.max_qos_for(config),
            max_topic_alias: broker.max_topic_alias_for(config),
            limit: config.max_connections.map(|n| Arc::new(Semaphore::new(n))),
        })
    }
}

/// A bound socket.
#[derive(Debug)]
pub enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

/// A bound listener ready to accept.
#[derive(Debug)]
pub struct BoundListener {
    /// The TCP address, or `None` for a Unix socket.
    pub local_addr: Option<SocketAddr>,
    socket: Socket,
    context: Arc<ListenerContext>,
}

/// Binds one listener's addresses. With `required` false, failing to bind is only a warning.
pub async fn bind(
    config: &ListenerConfig,
    context: Arc<ListenerContext>,
    required: bool,
) -> Result<Vec<BoundListener>, ListenerError> {
    if let Some(path) = &config.unix_socket {
        // A stale socket file from an earlier run would make bind fail.
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)
            .map_err(|source| ListenerError::Bind { addr: path.display().to_string(), source })?;
        info!("Opening unix listen socket on {}.", path.display());
        return Ok(vec![BoundListener {
            local_addr: None,
            socket: Socket::Unix(listener, path.clone()),
            context,
        }]);
    }
    let hosts: Vec<IpAddr> = match &config.bind_address {
        Some(host) => match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((host.as_str(), config.port))
                .await
                .map_err(|source| ListenerError::Bind { addr: host.clone(), source })?
                .map(|a| a.ip())
                .filter(|ip| match config.socket_domain {
                    Some(crate::config::SocketDomain::Ipv4) => ip.is_ipv4(),
                    Some(crate::config::SocketDomain::Ipv6) => ip.is_ipv6(),
                    None => true,
                })
                .collect(),
        },
        None => match config.socket_domain {
            Some(crate::config::SocketDomain::Ipv4) => vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
            Some(crate::config::SocketDomain::Ipv6) => vec![IpAddr::V6(Ipv6Addr::UNSPECIFIED)],
            None => vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)],
        },
    };
    let mut bound = Vec::new();
    for ip in hosts {
        let addr = SocketAddr::new(ip, config.port);
        match bind_tcp(addr) {
            Ok(listener) => {
                let local_addr = listener
                    .local_addr()
                    .map_err(|source| ListenerError::Bind { addr: addr.to_string(), source })?;
                info!(
                    "Opening ipv{} listen socket on {local_addr}.",
                    if local_addr.is_ipv4() { 4 } else { 6 }
                );
                bound.push(BoundListener {
                    local_addr: Some(local_addr),
                    socket: Socket::Tcp(listener),
                    context: context.clone(),
                });
            }
            // An unavailable address family (no IPv6 here) is not fatal when another address is bound.
            Err(e) if !required || (ip.is_ipv6() && !bound.is_empty()) => {
                warn!("not listening on {addr}: {e}")
            }
            Err(source) => return Err(ListenerError::Bind { addr: addr.to_string(), source }),
        }
    }
    Ok(bound)
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Accepts connections until shutdown; each is served by its own task in `tasks`.
pub async fn accept_loop(
    bound: BoundListener,
    broker: Arc<BrokerShared>,
    global_limit: Option<Arc<Semaphore>>,
    tasks: Arc<parking_lot::Mutex<JoinSet<()>>>,
) {
    let context = bound.context;
    let refusals = Arc::new(Semaphore::new(QUOTA_REFUSALS));
    loop {
        let accepted = tokio::select! {
            _ = broker.shutdown.cancelled() => break,
            accepted = accept(&bound.socket) => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        Stats::add(&broker.stats.sockets_opened, 1);
        if let Some(reason) = overloaded(&broker) {
            broker.stats.refuse(reason);
            debug!("Connection from {} refused: {}.", peer_text(peer), reason.label());
            continue;
        }
        let permits = (acquire(&global_limit), acquire(&context.limit));
        let (permits, over_quota) = match permits {
            (Ok(global), Ok(local)) => ((global, local, None), false),
            _ => {
                broker.stats.refuse(RefuseReason::MaxConnections);
                info!("Connection from {} refused: max_connections reached.", peer_text(peer));
                // A few refused connections at a time are told why (CONNACK 0x97 Quota exceeded); beyond
                // that they are closed at once, so a flood costs nothing.
                match refusals.clone().try_acquire_owned() {
                    Ok(permit) => ((None, None, Some(permit)), true),
                    Err(_) => continue,
                }
            }
        };
        if broker.config.log.verbose {
            info!(
                "New connection from {} on port {}.",
                peer.map_or_else(|| "unix socket".to_owned(), |p| p.ip().to_string()),
                context.port
            );
        }
        let cx = ConnectionContext {
            peer,
            certificate_username: None,
            certificates: None,
            listener: context.clone(),
            over_quota,
        };
        let mut set = tasks.lock();
        reap(&mut set);
        if context.tls.load().is_none() && context.protocol == Protocol::Mqtt {
            // Nothing to negotiate first: the connection's own task from the start.
            set.spawn(connection::serve(stream, cx, broker.clone(), permits));
        } else {
            set.spawn(serve_transport(stream, cx, broker.clone(), permits, tasks.clone()));
        }
    }
    if let Socket::Unix(_, path) = &bound.socket {
        let _ = std::fs::remove_file(path);
    }
}

/// Why a new connection must be turned away at once, before any handshake work: the accept rate or the
/// memory high-water mark.
fn overloaded(broker: &BrokerShared) -> Option<RefuseReason> {
    if broker.memory.is_over() {
        Some(RefuseReason::Memory)
    } else if !broker.connection_gate.admit(std::time::Instant::now()) {
        Some(RefuseReason::Rate)
    } else {
        None
    }
}

/// An accepted stream of either kind.
type BoxedStream = Box<dyn Stream>;

/// A byte stream a connection can be served on.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

async fn accept(socket: &Socket) -> io::Result<(BoxedStream, Option<SocketAddr>)> {
    match socket {
        Socket::Tcp(listener) => {
            let (stream, peer) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok((Box::new(stream), Some(peer)))
        }
        Socket::Unix(listener, _) => {
            let (stream, _) = listener.accept().await?;
            Ok((Box::new(stream), None))
        }
    }
}

fn peer_text(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "unix socket".to_owned(), |p| p.to_string())
}

fn acquire(limit: &Option<Arc<Semaphore>>) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, ()> {
    match limit {
        None => Ok(None),
        Some(sem) => sem.clone().try_acquire_owned().map(Some).map_err(|_| ()),
    }
}

/// How long TLS and WebSocket handshakes may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections over `max_connections` that are told so at once, per listener; more are just closed.
const QUOTA_REFUSALS: usize = 16;

/// Runs the TLS and WebSocket handshakes the listener asks for, then serves MQTT.
///
/// The connection is then served by a task of its own, sized for what it holds while it lives: the
/// handshakes' state, which is large, ends with this one.
async fn serve_transport(
    stream: BoxedStream,
    mut cx: ConnectionContext,
    broker: Arc<BrokerShared>,
    permits: connection::Permits,
    tasks: Arc<parking_lot::Mutex<JoinSet<()>>>,
) {
    let listener = cx.listener.clone();
    let peer = cx.peer;
    let tls_settings = listener.tls.load_full();
    let stream: BoxedStream = match tls_settings.as_deref() {
        Some(settings) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, Box::pin(settings.acceptor.accept(stream))).await {
                Ok(Ok(tls)) => {
                    // Kept (a few kilobytes) to be checked again when a reload brings new CAs or CRLs.
                    cx.certificates = tls.get_ref().1.peer_certificates().map(|chain| {
                        chain.iter().map(|c| c.clone().into_owned()).collect::<tls::PeerCertificates>()
                    });
                    if let Some(source) = listener.identity_as_username {
                        // Without a usable identity the CONNECT is refused, as Mosquitto refuses it: CONNACK
                        // "bad user name or password".
                        let cert = cx.certificates.as_deref().and_then(<[_]>::first);
                        cx.certificate_username = cert
                            .and_then(|c| tls::certificate_username(c, source == IdentitySource::Subject));
                    }
                    Box::new(tls)
                }
                Ok(Err(e)) => {
                    debug!("TLS handshake with {} failed: {e}", peer_text(peer));
                    return;
                }
                Err(_) => return,
            }
        }
        None => stream,
    };
    match listener.protocol {
        Protocol::Mqtt => {
            tasks.lock().spawn(connection::serve(stream, cx, broker, permits));
        }
        Protocol::Websockets => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, Box::pin(websocket::accept(stream))).await {
                Ok(Ok(ws)) => {
                    tasks.lock().spawn(connection::serve(ws, cx, broker, permits));
                }
                Ok(Err(e)) => debug!("WebSocket handshake with {} failed: {e}", peer_text(peer)),
                Err(_) => {}
            }
        }
    }
}

/// Forgets the connection tasks that have ended: a `JoinSet` keeps each finished task (its whole
/// allocation) until it is joined, which over months of reconnecting clients is memory without bound.
fn reap(tasks: &mut JoinSet<()>) {
    while let Some(ended) = tasks.try_join_next() {
        if let Err(e) = ended {
            if e.is_panic() {
                tracing::error!("a connection task panicked: {e}");
            }
        }
    }
}
