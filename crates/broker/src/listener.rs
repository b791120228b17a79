//! Listeners: bind the configured addresses, accept connections, enforce connection limits, and stop
//! accepting on shutdown.
//!
//! Each accepted connection holds a permit of the global and the listener's semaphore for its lifetime, so
//! `max_connections` is exact and needs no bookkeeping on close.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::broker::BrokerShared;
use crate::config::{ListenerConfig, Protocol};
use crate::connection;

/// Errors starting a listener.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("listener on port {port}: {what} is not supported yet")]
    Unsupported { port: u16, what: &'static str },
}

/// A bound listener ready to accept.
#[derive(Debug)]
pub struct BoundListener {
    pub local_addr: SocketAddr,
    listener: TcpListener,
    limit: Option<Arc<Semaphore>>,
}

/// The listeners to open: the configured ones, or Mosquitto 2's default of loopback port 1883.
pub fn effective_listeners(configured: &[ListenerConfig]) -> Vec<ListenerConfig> {
    if configured.is_empty() {
        vec![
            ListenerConfig { bind_address: Some("127.0.0.1".into()), ..ListenerConfig::default() },
            ListenerConfig { bind_address: Some("::1".into()), ..ListenerConfig::default() },
        ]
    } else {
        configured.to_vec()
    }
}

/// Binds one listener's addresses.
pub async fn bind(config: &ListenerConfig, required: bool) -> Result<Vec<BoundListener>, ListenerError> {
    if config.protocol == Protocol::Websockets {
        return Err(ListenerError::Unsupported { port: config.port, what: "protocol websockets" });
    }
    if config.tls.is_some() {
        return Err(ListenerError::Unsupported { port: config.port, what: "TLS" });
    }
    if config.unix_socket.is_some() {
        return Err(ListenerError::Unsupported { port: config.port, what: "unix sockets" });
    }
    let hosts: Vec<IpAddr> = match &config.bind_address {
        Some(host) => match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((host.as_str(), config.port))
                .await
                .map_err(|source| ListenerError::Bind { addr: host.clone(), source })?
                .map(|a| a.ip())
                .collect(),
        },
        None => vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)],
    };
    let limit = config.max_connections.map(|n| Arc::new(Semaphore::new(n)));
    let mut bound = Vec::new();
    for ip in hosts {
        let addr = SocketAddr::new(ip, config.port);
        match bind_tcp(addr) {
            Ok(listener) => {
                let local_addr = listener.local_addr().map_err(|source| ListenerError::Bind { addr: addr.to_string(), source })?;
                info!("Opening ipv{} listen socket on {local_addr}.", if local_addr.is_ipv4() { 4 } else { 6 });
                bound.push(BoundListener { local_addr, listener, limit: limit.clone() });
            }
            // An unavailable address family (no IPv6 here) is not fatal when another address is bound.
            Err(e) if !required || ip.is_ipv6() => warn!("not listening on {addr}: {e}"),
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
    loop {
        let accepted = tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            accepted = bound.listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let permits = (acquire(&global_limit), acquire(&bound.limit));
        if matches!(permits, (Err(()), _) | (_, Err(()))) {
            info!("Connection from {peer} refused: max_connections reached.");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let broker = broker.clone();
        tasks.lock().spawn(async move {
            let _permits = permits;
            serve_tcp(stream, peer, broker).await;
        });
    }
}

fn acquire(limit: &Option<Arc<Semaphore>>) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, ()> {
    match limit {
        None => Ok(None),
        Some(sem) => sem.clone().try_acquire_owned().map(Some).map_err(|_| ()),
    }
}

async fn serve_tcp(stream: TcpStream, peer: SocketAddr, broker: Arc<BrokerShared>) {
    if broker.config.log.verbose {
        info!("New connection from {} on port {}.", peer.ip(), stream.local_addr().map(|a| a.port()).unwrap_or(0));
    }
    connection::serve(stream, Some(peer), broker).await;
}
