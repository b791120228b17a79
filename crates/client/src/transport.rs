//! The byte streams MQTT runs over: TCP, TLS, WebSocket (subprotocol `mqtt`, binary frames), WebSocket over
//! TLS, and Unix domain sockets. The event loop sees one `Conn` whatever the transport.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::error::ConnectError;
use crate::tls::{client_config, TlsOptions};

/// How to reach the server.
#[derive(Debug, Clone, Default)]
pub enum Transport {
    /// Plain TCP.
    #[default]
    Tcp,
    /// TLS over TCP.
    Tls(TlsOptions),
    /// WebSocket; `path` is the HTTP path (usually `/mqtt` or `/`).
    Ws { path: String },
    /// WebSocket over TLS.
    Wss { path: String, tls: TlsOptions },
    /// A Unix domain socket at this path (host and port are ignored).
    Unix(PathBuf),
}

/// Any byte stream the client can run MQTT over.
pub(crate) trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// An open connection to the server.
pub(crate) enum Conn {
    Stream(Pin<Box<dyn ByteStream>>),
    Ws(Box<WebSocketStream<Pin<Box<dyn ByteStream>>>>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Stream(_) => "Conn::Stream",
            Conn::Ws(_) => "Conn::Ws",
        })
    }
}

impl Conn {
    /// Reads more bytes into `buf`; `Ok(0)` when the server closed the connection. Cancel safe.
    pub(crate) async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Conn::Stream(s) => s.read_buf(buf).await,
            Conn::Ws(ws) => loop {
                match ws.next().await {
                    None | Some(Ok(Message::Close(_))) => return Ok(0),
                    Some(Ok(Message::Binary(data))) => {
                        buf.extend_from_slice(&data);
                        if !data.is_empty() {
                            return Ok(data.len());
                        }
                    }
                    Some(Ok(_)) => {} // ping/pong are answered by tungstenite; text is not MQTT
                    Some(Err(e)) => return Err(io::Error::other(e)),
                }
            },
        }
    }

    /// Writes all of `data` and flushes.
    pub(crate) async fn write(&mut self, data: Bytes) -> io::Result<()> {
        match self {
            Conn::Stream(s) => {
                s.write_all(&data).await?;
                s.flush().await
            }
            Conn::Ws(ws) => ws.send(Message::Binary(data.to_vec())).await.map_err(io::Error::other),
        }
    }

    /// Shuts the connection down after a DISCONNECT.
    pub(crate) async fn close(&mut self) {
        match self {
            Conn::Stream(s) => {
                let _ = s.shutdown().await;
            }
            Conn::Ws(ws) => {
                let _ = WebSocketStream::close(ws, None).await;
            }
        }
    }
}

async fn tcp(host: &str, port: u16, bind: Option<&str>, nodelay: bool) -> Result<TcpStream, ConnectError> {
    let addrs = tokio::net::lookup_host((host, port)).await.map_err(ConnectError::Lookup)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no addresses"));
    for addr in addrs {
        let socket =
            if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() };
        let socket = socket.map_err(ConnectError::Io)?;
        if let Some(bind) = bind {
            let local = tokio::net::lookup_host((bind, 0))
                .await
                .map_err(ConnectError::Io)?
                .find(|a| a.is_ipv4() == addr.is_ipv4());
            if let Some(local) = local {
                socket.bind(local).map_err(ConnectError::Io)?;
            }
        }
        match socket.connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(nodelay).map_err(ConnectError::Io)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(ConnectError::Io(last))
}

async fn tls(
    stream: Pin<Box<dyn ByteStream>>,
    host: &str,
    options: &TlsOptions,
) -> Result<Pin<Box<dyn ByteStream>>, ConnectError> {
    let config = client_config(options)?;
    let name = ServerName::try_from(host.to_owned()).map_err(|_| {
        ConnectError::Io(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid host {host:?}")))
    })?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(ConnectError::TlsHandshake)?;
    Ok(Box::pin(stream))
}

async fn websocket(
    stream: Pin<Box<dyn ByteStream>>,
    scheme: &str,
    host: &str,
    port: u16,
    path: &str,
) -> Result<Conn, ConnectError> {
    let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
    let url = format!("{scheme}://{host}:{port}{path}");
    let mut request = url.into_client_request().map_err(|e| ConnectError::WebSocket(e.to_string()))?;
    // [MQTT-6.0.0-3] the client includes "mqtt" in the list of WebSocket subprotocols.
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "mqtt".parse().map_err(|_| ConnectError::WebSocket("header".into()))?,
    );
    let (ws, _response) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(|e| ConnectError::WebSocket(e.to_string()))?;
    Ok(Conn::Ws(Box::new(ws)))
}

/// Opens a connection to `host:port` over `transport`, within `timeout`.
pub(crate) async fn open(
    transport: &Transport,
    host: &str,
    port: u16,
    bind: Option<&str>,
    nodelay: bool,
    timeout: Duration,
) -> Result<Conn, ConnectError> {
    let fut = async {
        match transport {
            Transport::Unix(path) => {
                #[cfg(unix)]
                {
                    let s = tokio::net::UnixStream::connect(path).await.map_err(ConnectError::Io)?;
                    Ok(Conn::Stream(Box::pin(s)))
                }
                #[cfg(not(unix))]
                {
                    let _ = path;
                    Err(ConnectError::Io(io::Error::new(io::ErrorKind::Unsupported, "unix sockets")))
                }
            }
            Transport::Tcp => Ok(Conn::Stream(Box::pin(tcp(host, port, bind, nodelay).await?))),
            Transport::Tls(options) => {
                let s = tcp(host, port, bind, nodelay).await?;
                Ok(Conn::Stream(tls(Box::pin(s), host, options).await?))
            }
            Transport::Ws { path } => {
                let s = tcp(host, port, bind, nodelay).await?;
                websocket(Box::pin(s), "ws", host, port, path).await
            }
            Transport::Wss { path, tls: options } => {
                let s = tcp(host, port, bind, nodelay).await?;
                let s = tls(Box::pin(s), host, options).await?;
                websocket(s, "wss", host, port, path).await
            }
        }
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| ConnectError::Timeout)?
}
