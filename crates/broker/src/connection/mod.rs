//! A client's network connection: the only place that reads and writes its socket.
//!
//! One task per connection. Reading decodes frames in place; packets are handled at once (routing a PUBLISH
//! hands `Arc<Message>`s to the subscribers' mailboxes). Writing is batched: acknowledgements and deliveries
//! are encoded into one buffer and written with as few system calls as the socket allows, while the task
//! keeps reading. Deliveries are pulled from the session's mailbox only while the write buffer is below a
//! high-water mark and the client's inflight window has room, so a slow client is held back by flow control
//! (its messages wait, bounded, in its queue) and never slows anybody else.
//!
//! # Layout
//! - [`connect`]: the CONNECT handshake and CONNACK
//! - [`auth`]: enhanced authentication: the AUTH exchange and re-authentication
//! - [`inbound`]: packets from the client
//! - [`outbound`]: deliveries and redelivery to the client
//! - [`held`]: packets that wait for the store (acks of durable state)
//! - [`read`]: reading into a per-thread scratch buffer, so an idle connection holds no read buffer

mod auth;
mod connect;
mod held;
mod inbound;
mod outbound;
mod read;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tern_codec::{
    encode, ByteString, Disconnect, LastWill, Limits, Packet, Properties, ProtocolVersion, ReasonCode,
};
use tern_proto::{Inbound, InboundAliases, KeepAlive, Outbound, OutboundAliases};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tracing::{debug, info};

use crate::auth::cache::{Check, DecisionCache};
use crate::broker::BrokerShared;
use crate::clients::ConnectedClient;
use crate::config::LimitsConfig;
use crate::listener::ListenerContext;
use crate::overload::RateLimit;
use crate::session::{Control, ControlReceiver, Delivery, ParkedState, Session};
use crate::stats::{RefuseReason, Stats};

/// Stop pulling deliveries into the write buffer above this many bytes.
const WRITE_HIGH_WATER: usize = 64 * 1024;
/// A drained write buffer larger than this is given back; a smaller one is kept (allocating one per batch
/// costs a quarter of QoS 1 throughput).
const IDLE_WRITE_BUFFER: usize = 4 * 1024;
/// Packets a connection handles before it lets other connections run: a fraction of a default queue limit.
const FRAMES_PER_TURN: u32 = 64;
/// Stop reading from a client that does not read its own acknowledgements above this many bytes.
const READ_PAUSE: usize = 1024 * 1024;

/// Where a connection comes from.
#[derive(Debug, Clone)]
pub struct ConnectionContext {
    pub peer: Option<SocketAddr>,
    /// The user name taken from the client certificate (`use_identity_as_username`).
    pub certificate_username: Option<String>,
    /// The certificate chain the client presented in the TLS handshake, checked again on reload.
    pub certificates: Option<crate::listener::tls::PeerCertificates>,
    /// Accepted past `max_connections` only to be told so: CONNACK 0x97 Quota exceeded (3.x: server
    /// unavailable), then close.
    pub over_quota: bool,
    pub listener: Arc<ListenerContext>,
}

/// The `max_connections` permits (global, listener's, and one of the few refusals told why) a connection
/// holds for as long as it is served.
pub(crate) type Permits = (
    Option<tokio::sync::OwnedSemaphorePermit>,
    Option<tokio::sync::OwnedSemaphorePermit>,
    Option<tokio::sync::OwnedSemaphorePermit>,
);

/// Why the connection ends.
#[derive(Debug)]
pub(crate) enum Exit {
    /// The client sent DISCONNECT; `send_will` for v5 reason 0x04.
    Disconnect {
        send_will: bool,
    },
    /// The network connection closed or failed.
    Closed,
    /// The client broke the protocol: v5 DISCONNECT with this reason, then close.
    Violation(ReasonCode, String),
    KeepAliveTimeout,
    TakenOver(oneshot::Sender<()>),
    Kicked(ReasonCode),
    /// Sent to another server: DISCONNECT 0x9C/0x9D with the Server Reference.
    Redirected(crate::broker::Redirect),
    Shutdown,
}

impl Exit {
    fn violation(rc: ReasonCode, why: impl Into<String>) -> Exit {
        Exit::Violation(rc, why.into())
    }

    /// The reason a v5 client is told in a server DISCONNECT.
    fn disconnect_reason(&self) -> Option<ReasonCode> {
        match self {
            Exit::Disconnect { .. } | Exit::Closed => None,
            Exit::Violation(rc, _) | Exit::Kicked(rc) => Some(*rc),
            Exit::Redirected(r) => Some(r.reason_code()),
            Exit::KeepAliveTimeout => Some(ReasonCode::KEEP_ALIVE_TIMEOUT),
            Exit::TakenOver(_) => Some(ReasonCode::SESSION_TAKEN_OVER),
            Exit::Shutdown => Some(ReasonCode::SERVER_SHUTTING_DOWN),
        }
    }

    /// Whether the Last Will is sent: not after a normal DISCONNECT [MQTT-3.14.4-3] (unless v5 0x04), not on
    /// a clean broker shutdown; always when the connection is lost or the protocol broken [MQTT-3.1.2-8].
    fn sends_will(&self) -> bool {
        match self {
            Exit::Disconnect { send_will } => *send_will,
            Exit::Shutdown => false,
            _ => true,
        }
    }
}

/// A connected client with an attached session.
#[derive(Debug)]
pub(crate) struct Connection {
    broker: Arc<BrokerShared>,
    id: u64,
    peer: Option<SocketAddr>,
    listener: Arc<ListenerContext>,
    /// Where the connection came from, and how it authenticated: checked again on reload.
    context: ConnectionContext,
    credentials: connect::Credentials,
    /// The Authentication Method of CONNECT (enhanced authentication), if any.
    auth_method: Option<ByteString>,
    /// A re-authentication waiting for the client's next AUTH.
    reauth: Option<auth::Reauthentication>,
    version: ProtocolVersion,
    client_id: ByteString,
    username: Option<ByteString>,
    session: Arc<Session>,
    outbound: Outbound<Delivery>,
    inbound: Inbound,
    keep_alive: KeepAlive,
    aliases_in: InboundAliases,
    /// Only for a v5 client that accepts topic aliases: most connections never need the table.
    aliases_out: Option<Box<OutboundAliases>>,
    /// Largest packet the client accepts (v5 Maximum Packet Size).
    client_max_packet: u32,
    /// Whether the client wants reason strings and user properties on acks (v5 Request Problem Information).
    problem_information: bool,
    /// Boxed: most clients have none, and it is large.
    will: Option<Box<LastWill>>,
    session_expiry: u32,
    decode_limits: Limits,
    /// The online subscribers of this connection's last PUBLISH when all of them were above their queue
    /// limit (fan-in): no more packets are read until they drain (or prove stalled), so fast publishers
    /// cannot bury slow subscribers, and nobody else waits for them.
    congested: Vec<Arc<Session>>,
    /// Retained messages owed after a SUBSCRIBE; sent before new deliveries, not bound by queue limits.
    retained_backlog: VecDeque<Delivery>,
    wbuf: BytesMut,
    /// This connection as operators see it (admin API, metrics).
    record: Arc<ConnectedClient>,
    /// Publish rate limits (`None`: unlimited).
    rate: Option<Box<RateLimit>>,
    /// Packets that may only be sent once the store has made durable what they acknowledge.
    held: held::Held,
    /// Packets handled since the task last let others run (see `FRAMES_PER_TURN`).
    frames_since_yield: u32,
    /// The authorizer's answers, until the next reload.
    decisions: DecisionCache,
    /// The limits this connection's CONNACK announced (Maximum Packet Size, Receive Maximum, what is
    /// available): a reload does not change them under the client's feet. Other limits are read from
    /// `broker.limits` at each check.
    announced: Arc<LimitsConfig>,
}

/// Serves one network connection from its first byte to its last.
///
/// The task of a connection is sized for its largest state, for as long as it lives: the handshake and the
/// farewell, whose futures are large and short-lived, are boxed so that an idle connection costs only what
/// it holds.
pub(crate) async fn serve<S>(stream: S, cx: ConnectionContext, broker: Arc<BrokerShared>, _permits: Permits)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut rbuf = BytesMut::new();
    let established = Box::pin(establish(&mut reader, &mut writer, &mut rbuf, cx, broker)).await;
    let Some((mut conn, control_rx)) = established else { return };
    let exit = conn.run(&mut reader, &mut writer, &mut rbuf, &control_rx).await;
    Box::pin((*conn).finish(exit, &mut writer)).await;
    drop(control_rx);
}

/// Reads CONNECT, authenticates, attaches the session and sends CONNACK; `None` when the client was refused
/// (and told so).
async fn establish<R, W>(
    reader: &mut R,
    writer: &mut W,
    rbuf: &mut BytesMut,
    cx: ConnectionContext,
    broker: Arc<BrokerShared>,
) -> Option<(Box<Connection>, ControlReceiver)>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // What this connection's CONNACK announces, kept for its lifetime (a reload changes it for new ones).
    let announced = broker.limits.snapshot();
    let max_packet = announced.max_packet_size;
    let verbose = broker.config.log.verbose;
    let peer = cx.peer;
    let peer_text = peer.map_or_else(|| "unix socket".to_owned(), |p| p.to_string());

    // A connection over the quota is only told so: it gets less time.
    let connect_timeout = if cx.over_quota { Duration::from_secs(2) } else { connect::CONNECT_TIMEOUT };
    let connect = match tokio::time::timeout(
        connect_timeout,
        connect::read_connect(reader, rbuf, max_packet, &broker.stats.bytes_received),
    )
    .await
    {
        Ok(Ok(connect)) => {
            // Counted like every later packet, as Mosquitto counts it in `messages/received`.
            Stats::add(&broker.stats.messages_received, 1);
            connect
        }
        Ok(Err(refusal)) => {
            refuse(&broker, writer, &peer_text, refusal).await;
            return None;
        }
        Err(_) => {
            let refusal = connect::Refusal::Close("no CONNECT in time".into());
            refuse(&broker, writer, &peer_text, refusal).await;
            return None;
        }
    };
    if cx.over_quota {
        let refusal = connect::Refusal::ConnAck(connect.protocol, ReasonCode::QUOTA_EXCEEDED);
        {
            refuse(&broker, writer, &peer_text, refusal).await;
            return None;
        }
    }
    if let Some(redirect) = broker.redirect.load_full() {
        let refusal = if connect.protocol.is_v5() {
            connect::Refusal::Redirect(redirect.reason_code(), redirect.server_reference.clone())
        } else {
            connect::Refusal::ConnAck(connect.protocol, ReasonCode::SERVER_UNAVAILABLE)
        };
        {
            refuse(&broker, writer, &peer_text, refusal).await;
            return None;
        }
    }
    let enhanced = match tokio::time::timeout(
        connect::CONNECT_TIMEOUT,
        auth::handshake(reader, writer, rbuf, &cx, &connect, max_packet),
    )
    .await
    {
        Ok(Ok(enhanced)) => enhanced,
        Ok(Err(refusal)) => {
            refuse(&broker, writer, &peer_text, refusal).await;
            return None;
        }
        Err(_) => {
            let refusal = connect::Refusal::ConnAck(connect.protocol, ReasonCode::NOT_AUTHORIZED);
            {
                refuse(&broker, writer, &peer_text, refusal).await;
                return None;
            }
        }
    };
    let accepted = match connect::accept(&broker, &cx, connect, enhanced).await {
        Ok(accepted) => accepted,
        Err(refusal) => {
            refuse(&broker, writer, &peer_text, refusal).await;
            return None;
        }
    };

    let connection_id = broker.next_connection_id();
    let (control_tx, control_rx) = crate::session::control::channel();
    let mut attachment = broker
        .attach(
            &accepted.client_id,
            accepted.connect.clean_start,
            accepted.session_expiry,
            connection_id,
            control_tx,
        )
        .await;
    broker.resume_stored(&attachment.session, accepted.session_expiry, &mut attachment.parked).await;
    let connack = connect::connack(&broker, &announced, &cx.listener, &accepted, attachment.session_present);
    let connect = accepted.connect;
    let v = connect.protocol;
    if verbose || broker.config.log.connection_messages {
        info!(
            "New client connected from {peer_text} as {} (p{}, c{}, k{}{}).",
            accepted.client_id,
            mosquitto_protocol(v),
            u8::from(connect.clean_start),
            connect.keep_alive,
            connect.username.as_ref().map_or(String::new(), |u| format!(", u'{u}'"))
        );
    }
    broker.stats.client_connected();
    let record = Arc::new(ConnectedClient::new(
        accepted.client_id.clone(),
        connection_id,
        peer,
        cx.listener.port,
        v,
        connect.username.clone(),
        accepted.keep_alive,
        connect.clean_start,
        accepted.session_expiry,
        attachment.session.clone(),
    ));
    broker.clients.register(record.clone());

    let limits = &*announced;
    let window =
        connect.properties.receive_maximum.unwrap_or(u16::MAX).min(limits.max_inflight_messages.max(1));
    // Receive Maximum is a 5.0 promise made in CONNACK; a 3.x client was never told one and may leave as
    // many QoS 2 messages awaiting PUBREL as it has packet identifiers (which bounds the state).
    let receive_maximum = if v.is_v5() { limits.max_inflight_messages.max(1) } else { u16::MAX };
    let (outbound, inbound) = match attachment.parked {
        Some(mut parked) => {
            parked.outbound.set_window(window);
            parked.inbound.reconnected(receive_maximum);
            (parked.outbound, parked.inbound)
        }
        None => (Outbound::new(window), Inbound::new(receive_maximum)),
    };
    let mut conn = Box::new(Connection {
        id: connection_id,
        peer,
        listener: cx.listener.clone(),
        credentials: connect::Credentials {
            username: connect.username.clone(),
            password: connect.password.clone(),
        },
        auth_method: accepted.enhanced.as_ref().map(|a| a.method.clone()),
        reauth: None,
        version: v,
        client_id: accepted.client_id,
        username: connect.username,
        session: attachment.session,
        outbound,
        inbound,
        keep_alive: KeepAlive::new(accepted.keep_alive, Instant::now()),
        aliases_in: InboundAliases::new(if v.is_v5() { cx.listener.max_topic_alias } else { 0 }),
        aliases_out: match connect.properties.topic_alias_maximum {
            Some(max) if max > 0 && v.is_v5() => Some(Box::new(OutboundAliases::new(max))),
            _ => None,
        },
        client_max_packet: connect.properties.maximum_packet_size.unwrap_or(u32::MAX),
        problem_information: connect.properties.request_problem_information.unwrap_or(true),
        will: connect.will.map(Box::new),
        session_expiry: accepted.session_expiry,
        decode_limits: Limits { version: v, max_packet_size: max_packet },
        retained_backlog: VecDeque::new(),
        congested: Vec::new(),
        wbuf: BytesMut::new(),
        record,
        rate: RateLimit::new(limits.max_publish_rate, limits.max_publish_bytes_rate, Instant::now())
            .map(Box::new),
        held: held::Held::new(broker.durable.as_ref()),
        frames_since_yield: 0,
        announced: announced.clone(),
        decisions: DecisionCache::default(),
        context: cx,
        broker,
    });
    conn.send_packet(&Packet::ConnAck(connack));
    conn.resume_inflight();
    Some((conn, control_rx))
}

/// The protocol number Mosquitto's log lines show: p1 for 3.1, p2 for 3.1.1, p5 for 5.0.
fn mosquitto_protocol(v: ProtocolVersion) -> u8 {
    match v {
        ProtocolVersion::V31 => 1,
        ProtocolVersion::V311 => 2,
        ProtocolVersion::V5 => 5,
    }
}

async fn refuse<W: AsyncWrite + Unpin>(
    broker: &BrokerShared,
    writer: &mut W,
    peer: &str,
    refusal: connect::Refusal,
) {
    let auth = matches!(
        refusal,
        connect::Refusal::ConnAck(_, rc) if rc == ReasonCode::BAD_USER_NAME_OR_PASSWORD || rc == ReasonCode::NOT_AUTHORIZED
    );
    broker.stats.refuse(if auth { RefuseReason::Auth } else { RefuseReason::Handshake });
    match refusal {
        connect::Refusal::ConnAck(version, rc) => {
            info!("Client from {peer} refused: {rc}.");
            connect::send_refusal(writer, version, rc, Properties::default()).await;
        }
        connect::Refusal::Redirect(rc, server_reference) => {
            info!("Client from {peer} sent to {server_reference}: {rc}.");
            let properties = Properties { server_reference: Some(server_reference), ..Properties::default() };
            connect::send_refusal(writer, ProtocolVersion::V5, rc, properties).await;
        }
        connect::Refusal::Close(why) => {
            debug!("Connection from {peer} closed during handshake: {why}");
            let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
        }
    }
}

impl Connection {
    async fn run<R, W>(
        &mut self,
        reader: &mut R,
        writer: &mut W,
        rbuf: &mut BytesMut,
        control: &ControlReceiver,
    ) -> Exit
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let session = self.session.clone();
        let shutdown = self.broker.shutdown.clone();
        let mut needs_flush = false;
        // The wake-ups a connection waits for live across turns of the loop, registered once rather than
        // added to and removed from their wait lists at every turn (that churn was a tenth of a busy
        // broker's time). Each is renewed when it fires.
        let mut shutting_down = pin!(shutdown.cancelled());
        let mut next_control = pin!(control.recv());
        let mut delivery_waiting = pin!(session.notified());
        // Set for the deadline as it was, and moved on when it fires early: each packet received moves
        // the deadline, and resetting a timer at every packet would cost more than the rare early wake-up.
        let keep_alive = self.keep_alive.deadline().is_some();
        let first = self.keep_alive.deadline().unwrap_or_else(Instant::now);
        let mut silence = pin!(tokio::time::sleep_until(tokio::time::Instant::from_std(first)));
        // Packets the client sent right behind CONNECT (or AUTH) arrived with it: handle them now, not when
        // the client happens to send more.
        if let Err(exit) = self.handle_frames(rbuf) {
            return exit;
        }
        loop {
            self.release_held();
            // The next delivery may wait in the store: read the next batch back, then send on. Boxed: a
            // rare wait that the loop's future, held by every idle connection, would be sized for.
            while self.pump() && Box::pin(session.page_in()).await {}
            self.record.set_inflight(self.outbound.len());
            tokio::select! {
                biased;
                _ = &mut shutting_down => return Exit::Shutdown,
                ctl = &mut next_control => match ctl {
                    Some(Control::TakenOver(ack)) => return Exit::TakenOver(ack),
                    Some(Control::Kick(rc)) => return Exit::Kicked(rc),
                    Some(Control::Redirect(r)) => return Exit::Redirected(r),
                    Some(Control::Recheck) => {
                        next_control.set(control.recv());
                        if let Err(exit) = Box::pin(self.recheck()).await {
                            return exit;
                        }
                    }
                    None => return Exit::Closed,
                },
                res = write_or_flush(writer, &mut self.wbuf), if !self.wbuf.is_empty() || needs_flush => match res {
                    Err(_) => return Exit::Closed,
                    Ok(None) => needs_flush = false,
                    Ok(Some(0)) => return Exit::Closed,
                    Ok(Some(n)) => {
                        // TLS and WebSocket buffer internally: flush once the batch is written.
                        needs_flush = true;
                        Stats::add(&self.broker.stats.bytes_sent, n as u64);
                        if self.wbuf.is_empty() && self.wbuf.capacity() > IDLE_WRITE_BUFFER {
                            // A burst grew it: give the memory back (a small one is kept, for speed).
                            self.wbuf = BytesMut::new();
                        }
                    }
                },
                _ = when(!self.congested.is_empty(), || wait_drained(&self.congested)), if !self.congested.is_empty() => {
                    self.congested.clear();
                    // Frames that arrived meanwhile are still buffered.
                    if let Err(exit) = self.handle_frames(rbuf) {
                        return exit;
                    }
                }
                res = read::read_some(reader, rbuf), if self.wbuf.len() < READ_PAUSE && self.congested.is_empty() => match res {
                    Ok(0) | Err(_) => return Exit::Closed,
                    Ok(n) => {
                        Stats::add(&self.broker.stats.bytes_received, n as u64);
                        self.keep_alive.received(Instant::now());
                        if let Err(exit) = self.handle_frames(rbuf) {
                            return exit;
                        }
                        if rbuf.is_empty() {
                            *rbuf = BytesMut::new(); // See `read`: idle connections hold no read buffer.
                        }
                        if self.frames_since_yield >= FRAMES_PER_TURN {
                            // Let the subscribers' connections write what this one routed before it
                            // reads on: a publisher with a full socket would otherwise route thousands of
                            // messages in one turn and overflow the queues of subscribers that were
                            // keeping up.
                            self.frames_since_yield = 0;
                            tokio::task::yield_now().await;
                        }
                    }
                },
                _ = when(self.held.is_waiting(), || self.held.changed()), if self.held.is_waiting() => {}
                _ = &mut delivery_waiting => delivery_waiting.set(session.notified()),
                _ = &mut silence, if keep_alive => match self.keep_alive.deadline() {
                    Some(deadline) if Instant::now() < deadline => {
                        silence.as_mut().reset(tokio::time::Instant::from_std(deadline));
                    }
                    _ => return Exit::KeepAliveTimeout,
                },
            }
        }
    }

    /// Decodes and handles every complete frame in `rbuf`.
    fn handle_frames(&mut self, rbuf: &mut BytesMut) -> Result<(), Exit> {
        loop {
            match tern_codec::decode(rbuf, &self.decode_limits) {
                Ok(Some(packet)) => {
                    Stats::add(&self.broker.stats.messages_received, 1);
                    self.frames_since_yield += 1;
                    self.handle_packet(packet)?;
                    if !self.congested.is_empty() {
                        return Ok(()); // The rest waits for the congested subscribers.
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    Stats::add(&self.broker.stats.protocol_errors, 1);
                    return Err(Exit::violation(e.reason_code(), e.to_string()));
                }
            }
        }
    }

    /// After a reload: checks the client certificate against the CAs and CRLs in force, authenticates again
    /// with the credentials of CONNECT and drops subscriptions the new rules no longer allow. A client that
    /// is no longer allowed in is disconnected (v5: 0x87; 3.x: closed).
    async fn recheck(&mut self) -> Result<(), Exit> {
        if let Some(verifier) = self.listener.client_verifier() {
            if let Err(why) = crate::listener::tls::recheck(&*verifier, self.context.certificates.as_ref()) {
                info!(
                    "Client {} disconnected: its certificate is no longer accepted: {why}.",
                    self.client_id
                );
                return Err(Exit::Kicked(ReasonCode::NOT_AUTHORIZED));
            }
        }
        if let Some(method) = &self.auth_method {
            // Enhanced authentication cannot be replayed without the client: the method must still be offered.
            if self.listener.security().enhanced.get(method).is_none() {
                return Err(Exit::Kicked(ReasonCode::NOT_AUTHORIZED));
            }
        } else if self.context.certificate_username.is_none() {
            connect::authenticate(&self.context, &self.client_id, &self.credentials)
                .await
                .map_err(|_| Exit::Kicked(ReasonCode::NOT_AUTHORIZED))?;
        }
        let filters: Vec<ByteString> = self.session.state.lock().subscriptions.keys().cloned().collect();
        for filter in filters {
            if !self.authorized(Check::Subscribe, &filter) {
                self.broker.router.unsubscribe(&filter, &self.client_id);
                self.session.state.lock().subscriptions.remove(&filter);
            }
        }
        self.session.save(0);
        Ok(())
    }

    /// Whether the rules in force allow `check` on `topic` (or filter) for this client; the answer is
    /// remembered until the next reload.
    fn authorized(&mut self, check: Check, topic: &str) -> bool {
        let generation = self.listener.generation();
        let Connection { decisions, listener, client_id, username, .. } = self;
        decisions.decide(generation, check, topic, || {
            let security = listener.security();
            let client = crate::auth::ClientInfo { client_id, username: username.as_deref() };
            match check {
                Check::Publish => security.authorizer.can_publish(&client, topic),
                Check::Subscribe => security.authorizer.can_subscribe(&client, topic),
                Check::Receive => security.authorizer.can_receive(&client, topic),
            }
        })
    }

    /// A client's topic or filter as the broker sees it: with the listener's mount point in front.
    fn mount(&self, topic: &ByteString) -> ByteString {
        match &self.listener.mount_point {
            None => topic.clone(),
            Some(prefix) => match tern_codec::topic::parse_shared(topic) {
                Some(Ok(shared)) => format!("$share/{}/{prefix}{}", shared.group, shared.filter).into(),
                _ => format!("{prefix}{topic}").into(),
            },
        }
    }

    /// A topic as the client sees it: without the listener's mount point.
    fn unmount(&self, topic: &ByteString) -> ByteString {
        unmount(self.listener.mount_point.as_deref(), topic)
    }

    /// Encodes a packet into the write buffer. An acknowledgement that would be larger than the client's
    /// Maximum Packet Size goes without its Reason String and User Properties [MQTT-3.4.2-2],
    /// [MQTT-3.4.2-3] (and likewise for every packet type that may carry them).
    /// Packets are written in order: while some wait for the store, the others wait behind them.
    fn send_packet(&mut self, packet: &Packet) {
        let buf = self.held.tail().unwrap_or(&mut self.wbuf);
        if encode_limited(packet, self.version, self.client_max_packet, buf) {
            Stats::add(&self.broker.stats.messages_sent, 1);
        }
    }

    /// Says goodbye: v5 DISCONNECT with a reason where one applies, flush, close; then the will, the session.
    async fn finish<W: AsyncWrite + Unpin>(mut self, exit: Exit, writer: &mut W) {
        let verbose = self.broker.config.log.verbose || self.broker.config.log.connection_messages;
        match &exit {
            Exit::Disconnect { .. } => {
                if verbose {
                    info!("Client {} disconnected.", self.client_id);
                }
            }
            Exit::Violation(rc, why) => {
                self.broker.stats.packet_error(*rc);
                info!("Client {} disconnected: {why} ({rc}).", self.client_id);
            }
            Exit::KeepAliveTimeout => info!("Client {} has exceeded timeout, disconnecting.", self.client_id),
            Exit::TakenOver(_) => {
                info!("Client {} already connected, closing old connection.", self.client_id)
            }
            other => {
                if verbose {
                    info!("Client {} closed its connection ({other:?}).", self.client_id);
                }
            }
        }
        // Acks still waiting for the store go out if it catches up soon; otherwise the client sends again.
        self.flush_held(Duration::from_secs(1)).await;
        if let (true, Some(rc)) = (self.version.is_v5(), exit.disconnect_reason()) {
            // A code DISCONNECT does not allow would not encode, and the client would see a bare close: say
            // 0x80 Unspecified error instead [MQTT-3.14.2-1].
            let rc = if rc.is_valid_for(tern_codec::PacketType::Disconnect) {
                rc
            } else {
                ReasonCode::UNSPECIFIED_ERROR
            };
            let mut disconnect = Disconnect::new(rc);
            if let Exit::Redirected(r) = &exit {
                disconnect.properties.server_reference = Some(r.server_reference.clone());
            }
            self.send_packet(&Packet::Disconnect(disconnect));
        }
        if !self.wbuf.is_empty() {
            let _ = tokio::time::timeout(Duration::from_secs(1), writer.write_all(&self.wbuf)).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
        self.broker.stats.client_disconnected();
        self.broker.clients.unregister(&self.client_id, self.id);

        let will = match self.will.take() {
            Some(mut will) if exit.sends_will() => {
                will.topic = self.mount(&will.topic);
                Some(*will)
            }
            _ => None,
        };
        // Retained messages owed but unsent are not kept: the next SUBSCRIBE sends them again.
        let parked = ParkedState { outbound: self.outbound, inbound: self.inbound };
        self.broker.detach(&self.session, self.id, parked, self.session_expiry);
        if let Some(will) = will {
            self.broker.handle_will(
                &self.session,
                will,
                self.username.clone(),
                self.session_expiry,
                self.listener.clone(),
            );
        }
        if let Exit::TakenOver(ack) = exit {
            let _ = ack.send(());
        }
        debug!(client_id = %self.client_id, peer = ?self.peer, "connection ended");
    }
}

/// `topic` without the mount point `prefix`.
fn unmount(prefix: Option<&str>, topic: &ByteString) -> ByteString {
    match prefix {
        Some(prefix) if topic.starts_with(prefix) => topic.slice_ref(&topic[prefix.len()..]),
        _ => topic.clone(),
    }
}

/// Encodes `packet` into `buf`, without its diagnostics if they would make it too large for the client.
fn encode_limited(packet: &Packet, version: ProtocolVersion, max_packet: u32, buf: &mut BytesMut) -> bool {
    let start = buf.len();
    if encode(packet, version, buf).is_err() {
        return false;
    }
    if buf.len() - start > max_packet as usize {
        if let Some(stripped) = without_diagnostics(packet) {
            buf.truncate(start);
            return encode(&stripped, version, buf).is_ok();
        }
    }
    true
}

/// `packet` without Reason String and User Properties, if it is a packet that may drop them to fit.
fn without_diagnostics(packet: &Packet) -> Option<Packet> {
    let mut packet = packet.clone();
    let properties = match &mut packet {
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => &mut a.properties,
        Packet::SubAck(a) => &mut a.properties,
        Packet::UnsubAck(a) => &mut a.properties,
        Packet::Disconnect(d) => &mut d.properties,
        Packet::Auth(a) => &mut a.properties,
        Packet::ConnAck(c) => &mut c.properties,
        _ => return None,
    };
    if properties.reason_string.is_none() && properties.user_properties.is_empty() {
        return None;
    }
    properties.reason_string = None;
    properties.user_properties.clear();
    Some(packet)
}

/// How long a publisher waits for congested subscribers that make no progress before it carries on
/// without them (they are stalled, not slow).
const CONGESTION_WAIT: Duration = Duration::from_secs(1);

/// Waits until every session in `sessions` is below its queue limit, for as long as they keep draining.
async fn wait_drained(sessions: &[Arc<Session>]) {
    for session in sessions {
        session.wait_drained(CONGESTION_WAIT).await;
    }
}

/// The future `make` builds, boxed, if `enabled`; else one that never completes. For the rarely enabled
/// branches of the run loop: `select!` builds the future of a disabled branch too, and the loop's future
/// (held by every idle connection) is as large as all its branches' futures together.
async fn when<F: std::future::Future>(enabled: bool, make: impl FnOnce() -> F) -> F::Output {
    match enabled {
        true => Box::pin(make()).await,
        false => std::future::pending().await,
    }
}

/// Writes some of `wbuf` (`Some(bytes written)`), or flushes the transport when `wbuf` is empty (`None`).
async fn write_or_flush<W: AsyncWrite + Unpin>(
    writer: &mut W,
    wbuf: &mut BytesMut,
) -> std::io::Result<Option<usize>> {
    if wbuf.is_empty() {
        writer.flush().await.map(|()| None)
    } else {
        writer.write_buf(wbuf).await.map(Some)
    }
}
