//! The event loop: the one task that owns the network connection and the protocol state, and the only place
//! that does I/O for them. The [`Client`] handles send it requests over a channel; it sends back completions
//! on oneshot channels and incoming messages as [`Event`]s. The rules it applies are those of the sans-I/O
//! state it drives: the session (`session`, on tern-proto's inflight and exactly-once state machines) and
//! the network connection's limits, topic aliases and keep-alive (`connection`). Reconnection lives here too.
//!
//! [`Client`]: crate::Client

use std::num::NonZeroU16;
use std::time::Duration;

use bytes::BytesMut;
use tern_codec::{
    decode, encode, Ack, ByteString, ConnAck, Disconnect, Limits, Packet, Properties, ProtocolVersion,
    Publish, QoS, ReasonCode, SubAck, Subscribe, SubscriptionRequest, UnsubAck, Unsubscribe,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use crate::connection::Connection;
use crate::error::{ClientError, ConnectError};
use crate::options::ConnectOptions;
use crate::session::{PubRecAction, Publishing, Session};
use crate::trace::{trace_received, trace_sent};
use crate::transport::{open, Conn};

/// How long queued packets (acknowledgements, a DISCONNECT naming a violation) may take to go out before the
/// connection is closed on a protocol error.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

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
    /// Hands a publish its outcome; a subscribe or unsubscribe only ever ends this way by failing.
    fn finish(self, outcome: PublishOutcome) {
        match (self, outcome) {
            (Token::Publish(t), outcome) => {
                let _ = t.send(outcome);
            }
            (other, Err(e)) => other.fail(e),
            (other, Ok(_)) => other.fail(ClientError::Closed),
        }
    }

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
    trace_sent(&options.connect.client_id, &packet, None);
    conn.write(out.freeze()).await.map_err(ConnectError::io)?;
    let limits = Limits { version, max_packet_size: options.max_packet_size };
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if let Some(packet) = decode(&mut buf, &limits)? {
            // libmosquitto names the client by its Assigned Client Identifier from this line on.
            let assigned = match &packet {
                Packet::ConnAck(c) => c.properties.assigned_client_identifier.as_ref(),
                _ => None,
            };
            trace_received(assigned.unwrap_or(&options.connect.client_id), &packet);
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
        if read.map_err(ConnectError::io)? == 0 {
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

/// The present time on tokio's clock (which tests can pause), for the sans-I/O state.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

pub(crate) struct EventLoop {
    options: ConnectOptions,
    transport: Conn,
    /// Bytes read and not decoded yet.
    buf: BytesMut,
    /// Packets encoded and not written yet.
    out: BytesMut,
    /// The session: survives reconnections.
    session: Session<Token>,
    /// The network connection's state: replaced on each reconnection.
    connection: Connection,
    requests: mpsc::Receiver<Request>,
    requests_open: bool,
    events: mpsc::Sender<Event>,
    version: ProtocolVersion,
    limits: Limits,
    /// Received messages to hand to the application before anything else (see [`Resumed::released`]).
    ///
    /// [`Resumed::released`]: crate::session::Resumed
    released: Vec<Publish>,
}

impl EventLoop {
    pub(crate) fn new(
        options: ConnectOptions,
        established: Established,
        requests: mpsc::Receiver<Request>,
        events: mpsc::Sender<Event>,
    ) -> Self {
        let version = options.connect.protocol;
        let props = &options.connect.properties;
        // The Receive Maximum we announced (65,535 when absent, 3.1.2.11.3; 3.x has no such limit).
        let receive_maximum =
            if version.is_v5() { props.receive_maximum.unwrap_or(u16::MAX) } else { u16::MAX };
        let mut event_loop = EventLoop {
            limits: Limits { version, max_packet_size: options.max_packet_size },
            session: Session::new(version, options.max_inflight, receive_maximum),
            connection: Connection::new(&options, &established.connack, now()),
            options,
            transport: established.conn,
            buf: established.buf,
            out: BytesMut::new(),
            requests,
            requests_open: true,
            events,
            version,
            released: Vec::new(),
        };
        event_loop.session.hold_qos2 = event_loop.options.deliver_qos2_at_pubrel;
        event_loop.resume(&established.connack);
        event_loop
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

    /// Takes up a connection the server accepted: its limits, what to send again, what is done. Keeps an
    /// assigned client identifier for reconnecting to the same session.
    fn resume(&mut self, connack: &ConnAck) {
        if let Some(id) = &connack.properties.assigned_client_identifier {
            self.options.connect.client_id = id.clone();
        }
        self.connection = Connection::new(&self.options, connack, now());
        let server_receive_maximum = connack.properties.receive_maximum.unwrap_or(u16::MAX);
        let resumed = self.session.connected(
            connack.session_present,
            server_receive_maximum,
            self.connection.max_packet_size(),
        );
        for (token, outcome) in resumed.finished {
            token.finish(outcome);
        }
        self.released.extend(resumed.released);
        self.send_all(resumed.resend);
        self.release_queued();
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
                    self.transport = established.conn;
                    self.buf = established.buf;
                    self.out.clear();
                    self.resume(&established.connack);
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
        self.queue_numbered(packet, None)
    }

    /// Queues a packet; `number` is the one a QoS 0 PUBLISH shows in the packet log.
    fn queue_numbered(&mut self, packet: &Packet, number: Option<NonZeroU16>) -> Result<(), ClientError> {
        encode(packet, self.version, &mut self.out)?;
        trace_sent(&self.options.connect.client_id, packet, number);
        Ok(())
    }

    /// Queues a packet built by the protocol state (an acknowledgement, PINGREQ, a PUBLISH checked on its
    /// way in), which encodes by construction; a failure is logged, never expected.
    fn queue_checked(&mut self, packet: &Packet) {
        self.queue_checked_numbered(packet, None);
    }

    fn queue_checked_numbered(&mut self, packet: &Packet, number: Option<NonZeroU16>) {
        if let Err(e) = self.queue_numbered(packet, number) {
            tracing::error!(error = %e, packet = ?packet.packet_type(), "could not encode");
        }
    }

    /// Sends a PUBLISH that the session let through, with a topic alias when the client chooses them.
    fn send_publish(&mut self, publish: Publish) {
        self.send_publish_numbered(publish, None);
    }

    /// Sends a QoS 0 PUBLISH, numbered in the packet log as libmosquitto numbers it.
    fn send_qos0(&mut self, publish: Publish) {
        let number = self.session.number_qos0();
        self.send_publish_numbered(publish, number);
    }

    fn send_publish_numbered(&mut self, mut publish: Publish, number: Option<NonZeroU16>) {
        self.connection.outgoing(&mut publish);
        self.queue_checked_numbered(&Packet::Publish(publish), number);
    }

    async fn flush(&mut self) -> Result<(), DisconnectReason> {
        if self.out.is_empty() {
            return Ok(());
        }
        let data = self.out.split().freeze();
        self.transport.write(data).await.map_err(|e| DisconnectReason::Io(e.to_string()))?;
        self.connection.keep_alive.sent(now());
        Ok(())
    }

    async fn serve(&mut self) -> End {
        for publish in std::mem::take(&mut self.released) {
            let _ = self.events.send(Event::Message(publish)).await;
        }
        // Packets that arrived with the CONNACK (e.g. queued messages of a persistent session).
        if let Err(reason) = self.handle_input().await {
            return self.abort(reason).await;
        }
        loop {
            if let Err(reason) = self.flush().await {
                return End::Lost(reason);
            }
            if !self.requests_open && self.events.is_closed() {
                return self.disconnect(Disconnect::default()).await;
            }
            let keep_alive = &self.connection.keep_alive;
            let timer = keep_alive.pingresp_deadline().or_else(|| keep_alive.next_ping());
            let deadline =
                timer.map(Instant::from_std).unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                read = self.transport.read(&mut self.buf) => match read {
                    Ok(0) => return End::Lost(DisconnectReason::Closed),
                    Err(e) => return End::Lost(DisconnectReason::Io(e.to_string())),
                    Ok(_) => {
                        self.connection.keep_alive.received(now());
                        if let Err(reason) = self.handle_input().await {
                            return self.abort(reason).await;
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
                _ = sleep_until(deadline), if timer.is_some() => {
                    let now = now();
                    if self.connection.keep_alive.pingresp_overdue(now) {
                        return End::Lost(DisconnectReason::KeepAliveTimeout);
                    }
                    if self.connection.keep_alive.ping_due(now) {
                        // [MQTT-3.1.2-23] send PINGREQ when nothing else was sent within the keep-alive.
                        self.queue_checked(&Packet::PingReq);
                        self.connection.keep_alive.ping_sent(now);
                    }
                }
            }
        }
    }

    /// Ends a connection on a protocol error: what is queued (acknowledgements, the DISCONNECT naming the
    /// violation) goes out first, briefly, then the connection closes.
    async fn abort(&mut self, reason: DisconnectReason) -> End {
        let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, self.flush()).await;
        self.transport.close().await;
        End::Lost(reason)
    }

    /// A violation by the server: for 5.0 a DISCONNECT with its reason code is queued [MQTT-4.13.2-1].
    fn violation(&mut self, code: ReasonCode, why: String) -> DisconnectReason {
        if self.version.is_v5() {
            self.queue_checked(&Packet::Disconnect(Disconnect::new(code)));
        }
        DisconnectReason::Protocol(why)
    }

    async fn disconnect(&mut self, mut d: Disconnect) -> End {
        let mut packet = Packet::Disconnect(d.clone());
        if self.connection.check_size(&packet).is_err() {
            // Reason String and User Properties are the parts a sender drops to fit the Maximum Packet Size.
            d.properties.reason_string = None;
            d.properties.user_properties.clear();
            packet = Packet::Disconnect(d);
        }
        if self.queue(&packet).is_ok() {
            let _ = self.flush().await;
        }
        self.transport.close().await;
        End::Requested
    }

    fn handle_request(&mut self, request: Request) {
        match request {
            Request::Publish(publish, done) => {
                if let Err(e) = self.check_publish(&publish) {
                    let _ = done.send(Err(e));
                    return;
                }
                match self.session.publish(publish, Token::Publish(done)) {
                    Publishing::Send(publish, None) => self.send_publish(publish),
                    Publishing::Send(publish, Some(token)) => {
                        self.send_qos0(publish);
                        token.finish(Ok(ReasonCode::SUCCESS));
                    }
                    Publishing::Queued => {}
                    Publishing::Refused(token, e) => token.fail(e),
                }
            }
            Request::Subscribe(filters, properties, done) => {
                let packet = Subscribe { packet_id: NonZeroU16::MIN, filters, properties };
                self.send_request(Packet::Subscribe(packet), Token::Subscribe(done));
            }
            Request::Unsubscribe(filters, properties, done) => {
                let packet = Unsubscribe { packet_id: NonZeroU16::MIN, filters, properties };
                self.send_request(Packet::Unsubscribe(packet), Token::Unsubscribe(done));
            }
            Request::Disconnect(..) => {}
        }
    }

    /// Refuses a PUBLISH the server must not receive before it takes a packet identifier or a topic alias:
    /// what the codec would not encode, a topic alias out of range.
    fn check_publish(&self, publish: &Publish) -> Result<(), ClientError> {
        self.connection.check_alias(publish)?;
        let mut probe = publish.clone();
        probe.dup = false;
        probe.packet_id = (probe.qos != QoS::AtMostOnce).then_some(NonZeroU16::MIN);
        Packet::Publish(probe).check(self.version)?;
        Ok(())
    }

    /// Sends a SUBSCRIBE or UNSUBSCRIBE under a reserved packet identifier, unless it cannot be sent.
    fn send_request(&mut self, mut packet: Packet, token: Token) {
        let checked = self.connection.check_size(&packet).and_then(|()| Ok(packet.check(self.version)?));
        if let Err(e) = checked {
            return token.fail(e);
        }
        let id = match self.session.start_request(token) {
            Ok(id) => id,
            Err(token) => return token.fail(ClientError::Closed),
        };
        match &mut packet {
            Packet::Subscribe(s) => s.packet_id = id,
            Packet::Unsubscribe(u) => u.packet_id = id,
            _ => {}
        }
        if let Err(e) = self.queue(&packet) {
            if let Ok(token) = self.session.finish_request(id) {
                token.fail(e);
            }
        }
    }

    async fn handle_input(&mut self) -> Result<(), DisconnectReason> {
        loop {
            let packet = match decode(&mut self.buf, &self.limits) {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.violation(e.reason_code(), e.to_string())),
            };
            trace_received(&self.options.connect.client_id, &packet);
            self.handle_packet(packet).await?;
        }
    }

    async fn handle_packet(&mut self, packet: Packet) -> Result<(), DisconnectReason> {
        let protocol_error = ReasonCode::PROTOCOL_ERROR;
        match packet {
            Packet::Publish(mut publish) => {
                if let Err(e) = self.connection.incoming(&mut publish) {
                    return Err(self.violation(e.reason_code(), e.to_string()));
                }
                let (deliver, ack) = match self.session.on_publish(&publish) {
                    Ok(outcome) => outcome,
                    Err(e) => return Err(self.violation(e.reason_code(), e.to_string())),
                };
                // Acknowledged before delivery, as libmosquitto does: `-d` logs read in the same order.
                if let Some(ack) = ack {
                    self.queue_checked(&ack);
                }
                if deliver {
                    // A closed receiver only means the application stopped listening.
                    let _ = self.events.send(Event::Message(publish)).await;
                }
            }
            Packet::PubAck(ack) => match self.session.on_puback(&ack) {
                Ok((token, code)) => {
                    complete_publish(token, code);
                    self.release_queued();
                }
                Err(e) => return Err(self.violation(protocol_error, e.to_string())),
            },
            Packet::PubRec(ack) => match self.session.on_pubrec(&ack) {
                Ok(PubRecAction::Release(id)) => self.queue_checked(&Packet::PubRel(Ack::new(id))),
                Ok(PubRecAction::Refused(token, code)) => {
                    complete_publish(token, code);
                    self.release_queued();
                }
                Err(e) => return Err(self.violation(protocol_error, e.to_string())),
            },
            Packet::PubComp(ack) => match self.session.on_pubcomp(&ack) {
                Ok((token, code)) => {
                    complete_publish(token, code);
                    self.release_queued();
                }
                Err(e) => return Err(self.violation(protocol_error, e.to_string())),
            },
            Packet::PubRel(ack) => {
                let (comp, released) = self.session.on_pubrel(&ack);
                self.queue_checked(&comp);
                if let Some(publish) = released {
                    let _ = self.events.send(Event::Message(publish)).await;
                }
            }
            Packet::SubAck(suback) => match self.session.finish_request(suback.packet_id) {
                Ok(Token::Subscribe(t)) => {
                    let _ = t.send(Ok(suback));
                    // The waiter acts on its answer before the next packet is handled: on a current-thread
                    // runtime, what it prints comes before the next packet's log, as with libmosquitto's
                    // callbacks.
                    tokio::task::yield_now().await;
                }
                Ok(other) => other.fail(ClientError::Closed),
                Err(e) => return Err(self.violation(protocol_error, e.to_string())),
            },
            Packet::UnsubAck(unsuback) => match self.session.finish_request(unsuback.packet_id) {
                Ok(Token::Unsubscribe(t)) => {
                    let _ = t.send(Ok(unsuback));
                    tokio::task::yield_now().await;
                }
                Ok(other) => other.fail(ClientError::Closed),
                Err(e) => return Err(self.violation(protocol_error, e.to_string())),
            },
            Packet::PingResp => {}
            Packet::Disconnect(d) => return Err(DisconnectReason::Server(Box::new(d))),
            Packet::Auth(_) => {}
            other => {
                let why = format!("[MQTT-3.1.0-2] unexpected {:?} from the server", other.packet_type());
                return Err(self.violation(protocol_error, why));
            }
        }
        Ok(())
    }

    fn release_queued(&mut self) {
        let packets = self.session.release_queued();
        self.send_all(packets);
    }

    fn send_all(&mut self, packets: Vec<Packet>) {
        for packet in packets {
            match packet {
                Packet::Publish(publish) => self.send_publish(publish),
                other => self.queue_checked(&other),
            }
        }
    }
}

fn complete_publish(token: Token, code: ReasonCode) {
    token.finish(if code.is_error() { Err(ClientError::Refused(code)) } else { Ok(code) });
}
