//! The event loop: the one task that owns the connection and the session state. The [`Client`] handles
//! send it requests over a channel; it sends back completions on oneshot channels and incoming messages as
//! [`Event`]s. Keep-alive and reconnection live here too.
//!
//! [`Client`]: crate::Client

use std::num::NonZeroU16;
use std::time::Duration;

use bytes::BytesMut;
use tern_codec::{
    decode, encode, ByteString, ConnAck, Disconnect, Limits, Packet, Properties, ProtocolVersion, Publish,
    ReasonCode, SubAck, Subscribe, SubscriptionRequest, UnsubAck, Unsubscribe,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use crate::error::{ClientError, ConnectError};
use crate::options::ConnectOptions;
use crate::state::{PubRecOutcome, Publishing, Session};
use crate::trace::{trace_received, trace_sent};
use crate::transport::{open, Conn};

/// Something that happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An application message from the server.
    Message(Publish),
    /// The connection was lost or closed by the server; with reconnect enabled, attempts follow.
    Disconnected(DisconnectReason),
    /// Connected again after a loss (reconnect enabled); unacknowledged messages have been resent.
    Reconnected(ConnAck),
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The server sent DISCONNECT (MQTT 5.0).
    Server(Box<Disconnect>),
    /// The server closed the connection.
    Closed,
    /// A read or write failed.
    Io(String),
    /// The server broke the protocol.
    Protocol(String),
    /// No PINGRESP within the keep-alive interval [MQTT-3.1.2-24 applies to the server; the client gives up
    /// after the same time without an answer].
    KeepAliveTimeout,
}

/// How a publish ended: SUCCESS, or 0x10 No matching subscribers (MQTT 5.0).
pub type PublishOutcome = Result<ReasonCode, ClientError>;

#[derive(Debug)]
pub(crate) enum Request {
    Publish(Publish, oneshot::Sender<PublishOutcome>),
    Subscribe(Vec<SubscriptionRequest>, Properties, oneshot::Sender<Result<SubAck, ClientError>>),
    Unsubscribe(Vec<ByteString>, Properties, oneshot::Sender<Result<UnsubAck, ClientError>>),
    Disconnect(Disconnect, oneshot::Sender<()>),
}

#[derive(Debug)]
pub(crate) enum Token {
    Publish(oneshot::Sender<PublishOutcome>),
    Subscribe(oneshot::Sender<Result<SubAck, ClientError>>),
    Unsubscribe(oneshot::Sender<Result<UnsubAck, ClientError>>),
}

impl Token {
    fn fail(self, e: ClientError) {
        match self {
            Token::Publish(t) => {
                let _ = t.send(Err(e));
            }
            Token::Subscribe(t) => {
                let _ = t.send(Err(e));
            }
            Token::Unsubscribe(t) => {
                let _ = t.send(Err(e));
            }
        }
    }
}

/// An open connection after a successful CONNECT/CONNACK exchange.
#[derive(Debug)]
pub(crate) struct Established {
    pub conn: Conn,
    pub buf: BytesMut,
    pub connack: ConnAck,
}

/// Opens the transport, sends CONNECT and waits for a successful CONNACK.
pub(crate) async fn handshake(options: &ConnectOptions) -> Result<Established, ConnectError> {
    let deadline = Instant::now() + options.connect_timeout;
    let mut conn = open(
        &options.transport,
        &options.host,
        options.port,
        options.bind_address.as_deref(),
        options.nodelay,
        options.connect_timeout,
    )
    .await?;
    let version = options.connect.protocol;
    let packet = Packet::Connect(Box::new(options.connect.clone()));
    let mut out = BytesMut::new();
    encode(&packet, version, &mut out)?;
    trace_sent(&options.connect.client_id, &packet);
    conn.write(out.freeze()).await.map_err(ConnectError::Io)?;
    let limits = Limits { version, max_packet_size: options.max_packet_size };
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if let Some(packet) = decode(&mut buf, &limits)? {
            trace_received(&options.connect.client_id, &packet);
            return match packet {
                Packet::ConnAck(connack) if connack.reason_code.is_error() => {
                    Err(ConnectError::Refused { connack: Box::new(connack), version })
                }
                Packet::ConnAck(connack) => Ok(Established { conn, buf, connack }),
                other => Err(ConnectError::UnexpectedPacket(other.packet_type())),
            };
        }
        let read = tokio::time::timeout_at(deadline, conn.read(&mut buf))
            .await
            .map_err(|_| ConnectError::Timeout)?;
        if read.map_err(ConnectError::Io)? == 0 {
            return Err(ConnectError::Closed);
        }
    }
}

/// Why [`EventLoop::serve`] returned.
enum End {
    /// The application asked to disconnect, or dropped every handle and the event receiver.
    Requested,
    Lost(DisconnectReason),
}

pub(crate) struct EventLoop {
    options: ConnectOptions,
    conn: Conn,
    buf: BytesMut,
    out: BytesMut,
    session: Session<Token>,
    requests: mpsc::Receiver<Request>,
    requests_open: bool,
    events: mpsc::Sender<Event>,
    version: ProtocolVersion,
    limits: Limits,
    keep_alive: Duration,
    last_sent: Instant,
    ping_sent: Option<Instant>,
}

impl EventLoop {
    pub(crate) fn new(
        mut options: ConnectOptions,
        established: Established,
        requests: mpsc::Receiver<Request>,
        events: mpsc::Sender<Event>,
    ) -> Self {
        let version = options.connect.protocol;
        let mut session = Session::new(usize::from(options.max_inflight));
        apply_connack(&mut options, &mut session, &established.connack);
        let keep_alive = effective_keep_alive(&options, &established.connack);
        EventLoop {
            limits: Limits { version, max_packet_size: options.max_packet_size },
            options,
            conn: established.conn,
            buf: established.buf,
            out: BytesMut::new(),
            session,
            requests,
            requests_open: true,
            events,
            version,
            keep_alive,
            last_sent: Instant::now(),
            ping_sent: None,
        }
    }

    /// Runs until the application disconnects, or the connection is lost and reconnection is off.
    pub(crate) async fn run(mut self) {
        loop {
            let reason = match self.serve().await {
                End::Requested => break,
                End::Lost(reason) => reason,
            };
            tracing::debug!(?reason, "connection lost");
            let _ = self.events.send(Event::Disconnected(reason)).await;
            if !self.reconnect().await {
                break;
            }
        }
        for token in self.session.drain() {
            token.fail(ClientError::Closed);
        }
    }

    /// Reconnects with back-off; false when reconnection is off or the application went away meanwhile.
    async fn reconnect(&mut self) -> bool {
        let Some(policy) = self.options.reconnect else { return false };
        let mut delay = policy.min_delay;
        loop {
            if self.events.is_closed() && !self.requests_open {
                return false;
            }
            tokio::time::sleep(delay).await;
            match handshake(&self.options).await {
                Ok(established) => {
                    apply_connack(&mut self.options, &mut self.session, &established.connack);
                    self.keep_alive = effective_keep_alive(&self.options, &established.connack);
                    self.conn = established.conn;
                    self.buf = established.buf;
                    self.out.clear();
                    self.ping_sent = None;
                    self.last_sent = Instant::now();
                    let (packets, completed) = self.session.resend(established.connack.session_present);
                    for token in completed {
                        if let Token::Publish(t) = token {
                            let _ = t.send(Ok(ReasonCode::SUCCESS));
                        }
                    }
                    for packet in packets {
                        if self.queue(&packet).is_err() {
                            continue;
                        }
                    }
                    let _ = self.events.send(Event::Reconnected(established.connack)).await;
                    return true;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "reconnect failed");
                    delay = (delay * 2).min(policy.max_delay);
                }
            }
        }
    }

    fn queue(&mut self, packet: &Packet) -> Result<(), ClientError> {
        encode(packet, self.version, &mut self.out)?;
        trace_sent(&self.options.connect.client_id, packet);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), DisconnectReason> {
        if self.out.is_empty() {
            return Ok(());
        }
        let data = self.out.split().freeze();
        self.conn.write(data).await.map_err(|e| DisconnectReason::Io(e.to_string()))?;
        self.last_sent = Instant::now();
        Ok(())
    }

    async fn serve(&mut self) -> End {
        // Packets that arrived with the CONNACK (e.g. queued messages of a persistent session).
        if let Err(reason) = self.handle_input().await {
            return End::Lost(reason);
        }
        loop {
            if let Err(reason) = self.flush().await {
                return End::Lost(reason);
            }
            if !self.requests_open && self.events.is_closed() {
                return self.disconnect(Disconnect::default()).await;
            }
            let keep_alive = !self.keep_alive.is_zero();
            let deadline = match self.ping_sent {
                Some(sent) => sent + self.keep_alive,
                None => self.last_sent + self.keep_alive,
            };
            tokio::select! {
                read = self.conn.read(&mut self.buf) => match read {
                    Ok(0) => return End::Lost(DisconnectReason::Closed),
                    Err(e) => return End::Lost(DisconnectReason::Io(e.to_string())),
                    Ok(_) => {
                        if let Err(reason) = self.handle_input().await {
                            return End::Lost(reason);
                        }
                    }
                },
                request = self.requests.recv(), if self.requests_open => match request {
                    None => self.requests_open = false,
                    Some(Request::Disconnect(d, done)) => {
                        let end = self.disconnect(d).await;
                        let _ = done.send(());
                        return end;
                    }
                    Some(request) => self.handle_request(request),
                },
                _ = sleep_until(deadline), if keep_alive => {
                    if self.ping_sent.is_some() {
                        return End::Lost(DisconnectReason::KeepAliveTimeout);
                    }
                    // [MQTT-3.1.2-23] send PINGREQ when nothing else was sent within the keep-alive.
                    if self.queue(&Packet::PingReq).is_ok() {
                        self.ping_sent = Some(Instant::now());
                    }
                }
            }
        }
    }

    async fn disconnect(&mut self, d: Disconnect) -> End {
        if self.queue(&Packet::Disconnect(d)).is_ok() {
            let _ = self.flush().await;
        }
        self.conn.close().await;
        End::Requested
    }

    fn handle_request(&mut self, request: Request) {
        match request {
            Request::Publish(publish, done) => match self.session.publish(publish, Token::Publish(done)) {
                Publishing::Send(p, token) => {
                    let sent = self.queue(&Packet::Publish(p));
                    if let Some(Token::Publish(t)) = token {
                        let _ = t.send(sent.map(|()| ReasonCode::SUCCESS));
                    }
                }
                Publishing::Queued => {}
            },
            Request::Subscribe(filters, properties, done) => {
                match self.session.start_request(Token::Subscribe(done)) {
                    Ok(packet_id) => {
                        let packet = Packet::Subscribe(Subscribe { packet_id, filters, properties });
                        if let Err(e) = self.queue(&packet) {
                            self.fail_request(packet_id, e);
                        }
                    }
                    Err(token) => token.fail(ClientError::Closed),
                }
            }
            Request::Unsubscribe(filters, properties, done) => {
                match self.session.start_request(Token::Unsubscribe(done)) {
                    Ok(packet_id) => {
                        let packet = Packet::Unsubscribe(Unsubscribe { packet_id, filters, properties });
                        if let Err(e) = self.queue(&packet) {
                            self.fail_request(packet_id, e);
                        }
                    }
                    Err(token) => token.fail(ClientError::Closed),
                }
            }
            Request::Disconnect(..) => {}
        }
    }

    fn fail_request(&mut self, id: NonZeroU16, e: ClientError) {
        if let Ok(token) = self.session.finish_request(id) {
            token.fail(e);
        }
    }

    async fn handle_input(&mut self) -> Result<(), DisconnectReason> {
        loop {
            let packet = match decode(&mut self.buf, &self.limits) {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(()),
                Err(e) => return Err(DisconnectReason::Protocol(e.to_string())),
            };
            trace_received(&self.options.connect.client_id, &packet);
            self.handle_packet(packet).await?;
        }
    }

    async fn handle_packet(&mut self, packet: Packet) -> Result<(), DisconnectReason> {
        let protocol = |e: crate::state::SessionError| DisconnectReason::Protocol(e.to_string());
        match packet {
            Packet::Publish(publish) => {
                let (deliver, ack) = self.session.handle_incoming_publish(&publish);
                if deliver {
                    // A closed receiver only means the application stopped listening.
                    let _ = self.events.send(Event::Message(publish)).await;
                }
                if let Some(ack) = ack {
                    self.queue(&ack).map_err(|e| DisconnectReason::Protocol(e.to_string()))?;
                }
            }
            Packet::PubAck(ack) => {
                let token = self.session.handle_puback(&ack).map_err(protocol)?;
                complete_publish(token, ack.reason_code);
                self.release_queued();
            }
            Packet::PubRec(ack) => match self.session.handle_pubrec(&ack).map_err(protocol)? {
                PubRecOutcome::SendPubRel(rel) => {
                    self.queue(&rel).map_err(|e| DisconnectReason::Protocol(e.to_string()))?;
                }
                PubRecOutcome::Refused(token, code) => {
                    complete_publish(token, code);
                    self.release_queued();
                }
            },
            Packet::PubComp(ack) => {
                let token = self.session.handle_pubcomp(&ack).map_err(protocol)?;
                complete_publish(token, ack.reason_code);
                self.release_queued();
            }
            Packet::PubRel(ack) => {
                let comp = self.session.handle_pubrel(&ack);
                self.queue(&comp).map_err(|e| DisconnectReason::Protocol(e.to_string()))?;
            }
            Packet::SubAck(suback) => {
                if let Token::Subscribe(t) =
                    self.session.finish_request(suback.packet_id).map_err(protocol)?
                {
                    let _ = t.send(Ok(suback));
                }
            }
            Packet::UnsubAck(unsuback) => {
                if let Token::Unsubscribe(t) =
                    self.session.finish_request(unsuback.packet_id).map_err(protocol)?
                {
                    let _ = t.send(Ok(unsuback));
                }
            }
            Packet::PingResp => self.ping_sent = None,
            Packet::Disconnect(d) => return Err(DisconnectReason::Server(Box::new(d))),
            Packet::Auth(_) => {}
            other => {
                return Err(DisconnectReason::Protocol(format!(
                    "[MQTT-3.1.0-2] unexpected {:?} from the server",
                    other.packet_type()
                )))
            }
        }
        Ok(())
    }

    fn release_queued(&mut self) {
        for p in self.session.release_queued() {
            let _ = self.queue(&Packet::Publish(p));
        }
    }
}

fn complete_publish(token: Token, code: ReasonCode) {
    if let Token::Publish(t) = token {
        let _ = t.send(if code.is_error() { Err(ClientError::Refused(code)) } else { Ok(code) });
    }
}

/// Takes what the server's CONNACK tells the client: its Receive Maximum bounds the inflight window
/// [MQTT-3.3.4-7]; an assigned client identifier is kept for reconnecting to the same session.
fn apply_connack(options: &mut ConnectOptions, session: &mut Session<Token>, connack: &ConnAck) {
    let server_max = connack.properties.receive_maximum.unwrap_or(u16::MAX);
    session.set_window(usize::from(options.max_inflight.min(server_max)));
    if let Some(id) = &connack.properties.assigned_client_identifier {
        options.connect.client_id = id.clone();
    }
}

/// The keep-alive in force: the server's Server Keep Alive when it sent one [MQTT-3.2.2-21].
fn effective_keep_alive(options: &ConnectOptions, connack: &ConnAck) -> Duration {
    let secs = connack.properties.server_keep_alive.unwrap_or(options.connect.keep_alive);
    Duration::from_secs(u64::from(secs))
}
