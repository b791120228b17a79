//! A minimal MQTT client for load generation: one connection, its read and write buffers, the CONNECT
//! handshake and pipelined SUBSCRIBE. Everything else (publishing, acknowledging) is done by the scenario
//! tasks straight on the buffers, so that many packets are encoded into one write and decoded from one read.

use std::io;
use std::net::IpAddr;
use std::num::NonZeroU16;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tern_codec::{
    decode, encode, ByteString, Bytes, ConnAck, Connect, DecodeError, Disconnect, EncodeError, Limits,
    Packet, PacketType, ProtocolVersion, QoS, ReasonCode, Subscribe, SubscriptionOptions,
    SubscriptionRequest,
};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::transport::{Stream, Target};

/// Reads ask for at least this much room: one read returns many packets.
pub const READ_CHUNK: usize = 64 * 1024;

/// Why a benchmark connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    #[error("the broker closed the connection")]
    Closed,
    #[error("bad packet from the broker: {0}")]
    Decode(#[from] DecodeError),
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
    #[error("connection refused: {0}")]
    Refused(ReasonCode),
    #[error("the broker disconnected us: {0}")]
    Disconnected(ReasonCode),
    #[error("unexpected {0:?} from the broker")]
    Unexpected(PacketType),
    #[error("subscription to {filter:?} refused: {code}")]
    SubscribeRefused { filter: String, code: ReasonCode },
    #[error("{0} timed out")]
    Timeout(&'static str),
}

/// What CONNECT says.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub version: ProtocolVersion,
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Persistent sessions instead of clean ones.
    pub persistent: bool,
}

/// An open MQTT connection with its buffers.
#[derive(Debug)]
pub struct Conn {
    pub stream: Stream,
    pub rbuf: BytesMut,
    pub wbuf: BytesMut,
    pub version: ProtocolVersion,
    limits: Limits,
    /// How much room each read asks for.
    read_chunk: usize,
    pub connack: ConnAck,
    next_packet_id: u16,
    /// Bytes were written since the last flush (TLS may hold them in its own buffer until flushed).
    unflushed: bool,
}

/// What one [`Conn::pump`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub read: usize,
    pub written: usize,
}

impl Conn {
    /// Connects, sends CONNECT and waits for a successful CONNACK.
    pub async fn open(
        target: &Target,
        source: Option<IpAddr>,
        client_id: &str,
        options: &ConnectOptions,
        read_chunk: usize,
    ) -> Result<Conn, ClientError> {
        let stream = target.connect(source).await?;
        let mut connect = Connect {
            protocol: options.version,
            clean_start: !options.persistent,
            keep_alive: options.keep_alive,
            client_id: ByteString::from(client_id),
            username: options.username.as_deref().map(ByteString::from),
            password: options.password.as_ref().map(|p| Bytes::copy_from_slice(p.as_bytes())),
            ..Connect::default()
        };
        if options.version.is_v5() {
            // Deliveries are limited by the broker's own window, not by ours.
            connect.properties.receive_maximum = Some(u16::MAX);
            if options.persistent {
                connect.properties.session_expiry_interval = Some(300);
            }
        }
        let mut conn = Conn {
            stream,
            rbuf: BytesMut::with_capacity(read_chunk.min(4096)),
            wbuf: BytesMut::with_capacity(256),
            version: options.version,
            limits: Limits::new(options.version),
            read_chunk,
            connack: ConnAck::default(),
            next_packet_id: 0,
            unflushed: false,
        };
        conn.send(&Packet::Connect(Box::new(connect)))?;
        conn.flush().await?;
        match conn.next_packet().await? {
            Packet::ConnAck(ack) if ack.reason_code.is_error() => Err(ClientError::Refused(ack.reason_code)),
            Packet::ConnAck(ack) => {
                conn.connack = ack;
                Ok(conn)
            }
            other => Err(ClientError::Unexpected(other.packet_type())),
        }
    }

    /// Encodes a packet into the write buffer.
    pub fn send(&mut self, packet: &Packet) -> Result<(), ClientError> {
        Ok(encode(packet, self.version, &mut self.wbuf)?)
    }

    /// Writes the whole write buffer.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        self.stream.write_all_buf(&mut self.wbuf).await?;
        self.stream.flush().await?;
        self.unflushed = false;
        Ok(())
    }

    /// Waits until the socket took some of the write buffer or put bytes into the read buffer, whichever
    /// comes first; both in one poll, so that one task drives both directions without splitting the stream.
    pub async fn pump(&mut self) -> Result<Progress, ClientError> {
        self.reserve_read();
        let Conn { stream, rbuf, wbuf, unflushed, .. } = self;
        std::future::poll_fn(|cx| {
            let mut progress = Progress::default();
            if !wbuf.is_empty() {
                match Pin::new(&mut *stream).poll_write(cx, wbuf) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(ClientError::Closed)),
                    Poll::Ready(Ok(n)) => {
                        wbuf.advance(n);
                        progress.written = n;
                        *unflushed = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                    Poll::Pending => {}
                }
            }
            if wbuf.is_empty() && *unflushed {
                match Pin::new(&mut *stream).poll_flush(cx) {
                    Poll::Ready(Ok(())) => *unflushed = false,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                    Poll::Pending => {}
                }
            }
            match tokio_util::io::poll_read_buf(Pin::new(&mut *stream), cx, rbuf) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(ClientError::Closed)),
                Poll::Ready(Ok(n)) => progress.read = n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => {}
            }
            if progress == Progress::default() {
                Poll::Pending
            } else {
                Poll::Ready(Ok(progress))
            }
        })
        .await
    }

    /// Room for the next read.
    pub fn reserve_read(&mut self) {
        if self.rbuf.capacity() - self.rbuf.len() < self.read_chunk / 2 {
            self.rbuf.reserve(self.read_chunk);
        }
    }

    /// The next complete packet already buffered.
    pub fn decode(&mut self) -> Result<Option<Packet>, ClientError> {
        Ok(decode(&mut self.rbuf, &self.limits)?)
    }

    /// Reads until a whole packet is buffered and returns it.
    pub async fn next_packet(&mut self) -> Result<Packet, ClientError> {
        loop {
            if let Some(packet) = self.decode()? {
                return Ok(packet);
            }
            self.reserve_read();
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// A packet identifier for SUBSCRIBE: never zero [MQTT-2.2.1-3].
    fn packet_id(&mut self) -> NonZeroU16 {
        self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
        NonZeroU16::new(self.next_packet_id).unwrap_or(NonZeroU16::MIN)
    }

    /// Subscribes to `filters`, `per_packet` filters per SUBSCRIBE, keeping up to `window` SUBSCRIBEs
    /// unanswered; fails on the first refused filter. Only SUBACKs are expected meanwhile (the scenario
    /// publishes only once everybody is subscribed), so anything else is an error.
    pub async fn subscribe(
        &mut self,
        filters: &[ByteString],
        qos: QoS,
        per_packet: usize,
        window: usize,
    ) -> Result<(), ClientError> {
        let mut chunks = filters.chunks(per_packet.max(1));
        let mut pending: std::collections::VecDeque<(NonZeroU16, &[ByteString])> = Default::default();
        loop {
            while pending.len() < window.max(1) {
                let Some(chunk) = chunks.next() else { break };
                let packet_id = self.packet_id();
                let requests = chunk
                    .iter()
                    .map(|f| SubscriptionRequest {
                        filter: f.clone(),
                        options: SubscriptionOptions { qos, ..SubscriptionOptions::default() },
                    })
                    .collect();
                self.send(&Packet::Subscribe(Subscribe {
                    packet_id,
                    filters: requests,
                    properties: Default::default(),
                }))?;
                pending.push_back((packet_id, chunk));
            }
            if pending.is_empty() {
                return Ok(());
            }
            self.flush().await?;
            match self.next_packet().await? {
                Packet::SubAck(ack) => {
                    let Some(pos) = pending.iter().position(|(id, _)| *id == ack.packet_id) else {
                        return Err(ClientError::Unexpected(PacketType::SubAck));
                    };
                    let Some((_, chunk)) = pending.remove(pos) else { continue };
                    for (filter, code) in chunk.iter().zip(&ack.reason_codes) {
                        if code.is_error() {
                            return Err(ClientError::SubscribeRefused {
                                filter: filter.to_string(),
                                code: *code,
                            });
                        }
                    }
                }
                Packet::Disconnect(d) => return Err(ClientError::Disconnected(d.reason_code)),
                other => return Err(ClientError::Unexpected(other.packet_type())),
            }
        }
    }

    /// Flushes and waits for a PINGRESP: the broker has handled everything sent before it.
    pub async fn round_trip(&mut self) -> Result<(), ClientError> {
        self.send(&Packet::PingReq)?;
        self.flush().await?;
        loop {
            match self.next_packet().await? {
                Packet::PingResp => return Ok(()),
                Packet::Disconnect(d) => return Err(ClientError::Disconnected(d.reason_code)),
                _ => {}
            }
        }
    }

    /// Sends DISCONNECT and closes, within a second.
    pub async fn close(mut self) {
        let _ = self.send(&Packet::Disconnect(Disconnect::default()));
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = self.flush().await;
            let _ = self.stream.shutdown().await;
        })
        .await;
    }
}

/// Runs a set-up step under the set-up timeout.
pub async fn within<T>(
    limit: Duration,
    what: &'static str,
    step: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(limit, step).await.map_err(|_| ClientError::Timeout(what))?
}
