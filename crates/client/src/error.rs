//! Errors of the client: connecting, and using a connection.

use tern_codec::{ConnAck, DecodeError, EncodeError, PacketType, ProtocolVersion, ReasonCode};

use crate::tls::TlsError;

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Io(std::io::Error),
    /// The server's host name did not resolve.
    #[error("host name lookup failed: {0}")]
    Lookup(std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The TLS handshake failed: the server's certificate did not verify, or the server refused ours,
    /// the TLS version, or the cipher suites.
    #[error("TLS handshake failed: {0}")]
    TlsHandshake(std::io::Error),
    /// The TLS session ended in an error after the handshake and before CONNACK: with TLS 1.3 this is
    /// how a server refuses a client certificate (its alert follows the client's Finished message).
    #[error("TLS session failed: {0}")]
    TlsSession(std::io::Error),
    #[error("WebSocket handshake failed: {0}")]
    WebSocket(String),
    #[error("timed out connecting")]
    Timeout,
    /// The server answered CONNECT with an error reason code.
    #[error("connection refused: {}", .connack.reason_code)]
    Refused { connack: Box<ConnAck>, version: ProtocolVersion },
    #[error("protocol error from the server: {0}")]
    Protocol(#[from] DecodeError),
    #[error("could not encode CONNECT: {0}")]
    Encode(#[from] EncodeError),
    #[error("[MQTT-3.2.0-1] expected CONNACK, received {0:?}")]
    UnexpectedPacket(PacketType),
    #[error("the server closed the connection before CONNACK")]
    Closed,
}

impl ConnectError {
    /// An I/O error on an open connection before CONNACK; one carrying a TLS error (an alert from the
    /// server, a record that does not decrypt) is a [`ConnectError::TlsSession`].
    pub(crate) fn io(e: std::io::Error) -> ConnectError {
        if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
            ConnectError::TlsSession(e)
        } else {
            ConnectError::Io(e)
        }
    }

    /// The CONNACK reason code when the server refused the connection.
    pub fn refusal(&self) -> Option<ReasonCode> {
        match self {
            ConnectError::Refused { connack, .. } => Some(connack.reason_code),
            _ => None,
        }
    }
}

/// Why a request on a connected client failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The connection is gone (closed, lost without reconnect, or the client was disconnected).
    #[error("the connection is closed")]
    Closed,
    #[error("could not encode: {0}")]
    Encode(#[from] EncodeError),
    /// The server answered with an error reason code (MQTT 5.0 PUBACK/PUBREC/SUBACK/UNSUBACK).
    #[error("refused by the server: {0}")]
    Refused(ReasonCode),
    /// The message was for a topic the client will not send to (e.g. a wildcard).
    #[error("invalid topic {0:?}")]
    InvalidTopic(String),
    /// The packet is larger than the server's Maximum Packet Size (MQTT 5.0 CONNACK), so it was not sent.
    #[error("[MQTT-3.2.2-15] packet of {size} bytes is larger than the server's Maximum Packet Size {max}")]
    PacketTooLarge { size: usize, max: u32 },
    /// The message's topic alias is not one the client may send.
    #[error("{0}")]
    TopicAlias(String),
}
