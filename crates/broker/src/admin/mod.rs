//! The operators' HTTP listener: Prometheus `/metrics`, `/health` and `/ready` probes, and a JSON admin API
//! under `/api/v1/` (documented in `docs/admin-api.yaml`).
//!
//! It is off unless `http.listen` is set, is meant for loopback, and refuses to start on any other address
//! without a bearer token or basic-auth credentials. HTTP/1.1 only (hyper); at most [`MAX_CONNECTIONS`]
//! operators' connections at once, each with a header timeout, so the listener cannot be used to exhaust
//! the broker.
//!
//! # Layout
//! - [`auth`]: bearer token and basic authentication
//! - [`routes`]: request -> handler
//! - [`api`]: the JSON handlers

pub mod api;
pub mod auth;
pub mod routes;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::broker::BrokerShared;
use crate::config::HttpConfig;

/// Operators' HTTP connections served at once; more wait in the accept backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// Time a client has to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the HTTP listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("http.listen {0:?}: not a host:port address")]
    Address(String),
    #[error("cannot listen for HTTP on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error(
        "http.listen {0}: refusing to serve the admin API on a non-loopback address without credentials \
         (set http.token, or http.username and http.password)"
    )]
    NoCredentials(String),
}

/// Binds `http.listen`, checking that a non-loopback address comes with credentials.
pub async fn bind(config: &HttpConfig) -> Result<Option<TcpListener>, HttpError> {
    let Some(listen) = &config.listen else { return Ok(None) };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(listen.as_str())
        .await
        .map_err(|_| HttpError::Address(listen.clone()))?
        .collect();
    let Some(first) = addrs.first().copied() else {
        return Err(HttpError::Address(listen.clone()));
    };
    let exposed = addrs.iter().any(|a| !a.ip().is_loopback());
    if exposed && !config.has_credentials() {
        return Err(HttpError::NoCredentials(listen.clone()));
    }
    let listener = TcpListener::bind(first)
        .await
        .map_err(|source| HttpError::Bind { addr: first.to_string(), source })?;
    let local =
        listener.local_addr().map_err(|source| HttpError::Bind { addr: first.to_string(), source })?;
    info!(
        "Opening HTTP listen socket on {local} (metrics: {}, admin API: {}).",
        config.metrics, config.admin_api
    );
    Ok(Some(listener))
}

/// Serves HTTP on `listener` until the broker shuts down.
pub async fn serve(listener: TcpListener, broker: Arc<BrokerShared>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                warn!("HTTP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let broker = broker.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service_broker = broker.clone();
            let service = service_fn(move |req| {
                let broker = service_broker.clone();
                async move { Ok::<_, Infallible>(routes::handle(&broker, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        debug!("HTTP connection from {peer}: {e}");
                    }
                }
                _ = broker.shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                }
            }
        });
    }
}
