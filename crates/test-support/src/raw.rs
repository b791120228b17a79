//! [`RawClient`]: MQTT control packets over a real `TcpStream`, encoded and decoded by `tern-codec`, with no
//! client logic in between. Tests drive every byte the broker sees and check every packet it answers with:
//! what is acknowledged, when, with which packet identifier and flags.
//!
//! Helpers panic with a description of what arrived instead (they are for tests). Waits for something
//! expected use a generous timeout ([`TIMEOUT`]); checks that nothing happens use short ones, chosen by the
//! test.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tern_codec::{
    decode, encode, Ack, ConnAck, Connect, DecodeError, Disconnect, Limits, Packet, ProtocolVersion, Publish,
    QoS, ReasonCode, SubAck, Subscribe, SubscriptionOptions, SubscriptionRequest, UnsubAck, Unsubscribe,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How long to wait for something that is expected to happen. Generous: it only delays failing tests.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A non-zero packet identifier.
pub fn pid(id: u16) -> NonZeroU16 {
    NonZeroU16::new(id).expect("packet identifiers are not zero")
}

/// What the broker did next.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one at a time, matched on at once: boxing would only obscure tests
pub enum Event {
    Packet(Packet),
    /// The broker closed the connection (end of stream or reset).
    Closed,
    /// Nothing within the time allowed.
    Timeout,
    /// The broker sent bytes that do not decode.
    Invalid(DecodeError),
}

/// A client speaking raw MQTT frames.
#[derive(Debug)]
pub struct RawClient {
    stream: TcpStream,
    rbuf: BytesMut,
    version: ProtocolVersion,
    next_id: u16,
    /// Packets received while waiting for another one (a PUBREL), returned first by [`RawClient::recv`].
    pending: VecDeque<Packet>,
}

impl RawClient {
    /// Opens a TCP connection and sends nothing. Packets are encoded and decoded as `version`.
    pub async fn tcp(addr: SocketAddr, version: ProtocolVersion) -> RawClient {
        let stream = TcpStream::connect(addr).await.expect("TCP connect to the broker");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        RawClient { stream, rbuf: BytesMut::new(), version, next_id: 0, pending: VecDeque::new() }
    }

    /// Opens a TCP connection with a small receive buffer, so that a client that stops reading makes the
    /// broker's writes back up quickly.
    pub async fn tcp_small_buffer(addr: SocketAddr, version: ProtocolVersion, recv_buffer: u32) -> RawClient {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(recv_buffer).expect("SO_RCVBUF");
        let stream = socket.connect(addr).await.expect("TCP connect to the broker");
        RawClient { stream, rbuf: BytesMut::new(), version, next_id: 0, pending: VecDeque::new() }
    }

    /// Sends `connect` and returns the client with the broker's CONNACK, whatever its code.
    pub async fn connect(addr: SocketAddr, connect: Connect) -> (RawClient, ConnAck) {
        let mut client = RawClient::tcp(addr, connect.protocol).await;
        client.send(Packet::Connect(Box::new(connect))).await;
        let connack = client.expect_connack().await;
        (client, connack)
    }

    /// Connects with a clean session and keep-alive 60, and checks the CONNACK accepts.
    pub async fn connect_ok(addr: SocketAddr, version: ProtocolVersion, client_id: &str) -> RawClient {
        RawClient::connect_accepted(addr, connect_packet(version, client_id)).await.0
    }

    /// Sends `connect`, checks the CONNACK accepts, and returns it.
    pub async fn connect_accepted(addr: SocketAddr, connect: Connect) -> (RawClient, ConnAck) {
        let (client, connack) = RawClient::connect(addr, connect).await;
        assert_eq!(connack.reason_code, ReasonCode::SUCCESS, "CONNACK refused: {connack:?}");
        (client, connack)
    }

    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The next packet identifier this client uses (1, 2, 3...).
    pub fn next_packet_id(&mut self) -> NonZeroU16 {
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        pid(self.next_id)
    }

    /// Encodes and sends one packet.
    pub async fn send(&mut self, packet: Packet) {
        let mut buf = BytesMut::new();
        encode(&packet, self.version, &mut buf).expect("test packet encodes");
        self.send_raw(&buf).await;
    }

    /// Sends bytes as they are: malformed frames, partial frames, several frames at once.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to the broker");
    }

    /// Sends without failing if the broker already closed the connection.
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The next thing the broker does within `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Event {
        if let Some(packet) = self.pending.pop_front() {
            return Event::Packet(packet);
        }
        let limits = Limits::new(self.version);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match decode(&mut self.rbuf, &limits) {
                Ok(Some(packet)) => return Event::Packet(packet),
                Ok(None) => {}
                Err(e) => return Event::Invalid(e),
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.rbuf)).await {
                Err(_) => return Event::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => return Event::Closed,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Reads exactly `n` bytes as the broker sent them, undecoded, for checks of the exact wire format.
    pub async fn expect_bytes(&mut self, n: usize) -> Vec<u8> {
        while self.rbuf.len() < n {
            match tokio::time::timeout(TIMEOUT, self.stream.read_buf(&mut self.rbuf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => panic!("closed after {:?}, expected {n} bytes", &self.rbuf[..]),
                Err(_) => panic!("timed out after {:?}, expected {n} bytes", &self.rbuf[..]),
                Ok(Ok(_)) => {}
            }
        }
        self.rbuf.split_to(n).to_vec()
    }

    /// The next packet, which must arrive within `timeout`.
    pub async fn expect_packet(&mut self, timeout: Duration) -> Packet {
        match self.recv(timeout).await {
            Event::Packet(p) => p,
            other => panic!("expected a packet, got {other:?}"),
        }
    }

    /// The next packet, within [`TIMEOUT`].
    pub async fn next_packet(&mut self) -> Packet {
        self.expect_packet(TIMEOUT).await
    }

    /// Checks the broker closes the connection within `timeout` without sending anything first.
    pub async fn expect_closed(&mut self, timeout: Duration) {
        match self.recv(timeout).await {
            Event::Closed => {}
            other => panic!("expected the connection to close, got {other:?}"),
        }
    }

    /// Checks the broker sends nothing and keeps the connection open for `duration`.
    pub async fn expect_nothing(&mut self, duration: Duration) {
        match self.recv(duration).await {
            Event::Timeout => {}
            other => panic!("expected nothing for {duration:?}, got {other:?}"),
        }
    }

    /// Checks how the broker ends the connection: a v5 client gets DISCONNECT with `reason` first; a 3.x
    /// client just sees the close.
    pub async fn expect_disconnect(&mut self, reason: ReasonCode) {
        if self.version.is_v5() {
            match self.next_packet().await {
                Packet::Disconnect(d) => assert_eq!(d.reason_code, reason, "DISCONNECT reason: {d:?}"),
                other => panic!("expected DISCONNECT {reason}, got {other:?}"),
            }
        }
        self.expect_closed(TIMEOUT).await;
    }

    pub async fn expect_connack(&mut self) -> ConnAck {
        match self.next_packet().await {
            Packet::ConnAck(c) => c,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub async fn expect_publish(&mut self) -> Publish {
        match self.next_packet().await {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    pub async fn expect_puback(&mut self) -> Ack {
        match self.next_packet().await {
            Packet::PubAck(a) => a,
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }

    pub async fn expect_pubrec(&mut self) -> Ack {
        match self.next_packet().await {
            Packet::PubRec(a) => a,
            other => panic!("expected PUBREC, got {other:?}"),
        }
    }

    pub async fn expect_pubrel(&mut self) -> Ack {
        match self.next_packet().await {
            Packet::PubRel(a) => a,
            other => panic!("expected PUBREL, got {other:?}"),
        }
    }

    pub async fn expect_pubcomp(&mut self) -> Ack {
        match self.next_packet().await {
            Packet::PubComp(a) => a,
            other => panic!("expected PUBCOMP, got {other:?}"),
        }
    }

    pub async fn expect_suback(&mut self) -> SubAck {
        match self.next_packet().await {
            Packet::SubAck(a) => a,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    pub async fn expect_unsuback(&mut self) -> UnsubAck {
        match self.next_packet().await {
            Packet::UnsubAck(a) => a,
            other => panic!("expected UNSUBACK, got {other:?}"),
        }
    }

    /// Subscribes to one filter and returns the SUBACK (checked to carry the SUBSCRIBE's packet id).
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> SubAck {
        let options = SubscriptionOptions { qos, ..SubscriptionOptions::default() };
        self.subscribe_with(&[(filter, options)]).await
    }

    /// Subscribes to several filters with full options in one SUBSCRIBE.
    pub async fn subscribe_with(&mut self, filters: &[(&str, SubscriptionOptions)]) -> SubAck {
        let packet_id = self.next_packet_id();
        self.send(Packet::Subscribe(subscribe_packet(packet_id, filters))).await;
        let ack = self.expect_suback().await;
        assert_eq!(ack.packet_id, packet_id, "SUBACK packet id");
        ack
    }

    /// Unsubscribes and returns the UNSUBACK (checked to carry the UNSUBSCRIBE's packet id).
    pub async fn unsubscribe(&mut self, filters: &[&str]) -> UnsubAck {
        let packet_id = self.next_packet_id();
        let unsubscribe = Unsubscribe {
            packet_id,
            filters: filters.iter().map(|f| (*f).into()).collect(),
            properties: Default::default(),
        };
        self.send(Packet::Unsubscribe(unsubscribe)).await;
        let ack = self.expect_unsuback().await;
        assert_eq!(ack.packet_id, packet_id, "UNSUBACK packet id");
        ack
    }

    /// Publishes at QoS 0.
    pub async fn publish_qos0(&mut self, topic: &str, payload: impl Into<Bytes>) {
        self.send(Packet::Publish(Publish::new(topic, payload))).await;
    }

    /// Sends `publish` with the QoS it has (a fresh packet id if it needs one and has none) and completes
    /// the exchange: PUBACK, or PUBREC/PUBREL/PUBCOMP. Returns the PUBACK or PUBREC.
    pub async fn publish(&mut self, mut publish: Publish) -> Option<Ack> {
        if publish.qos != QoS::AtMostOnce && publish.packet_id.is_none() {
            publish.packet_id = Some(self.next_packet_id());
        }
        let id = publish.packet_id;
        let qos = publish.qos;
        self.send(Packet::Publish(publish)).await;
        match qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => {
                let ack = self.expect_puback().await;
                assert_eq!(Some(ack.packet_id), id, "PUBACK packet id");
                Some(ack)
            }
            QoS::ExactlyOnce => {
                let rec = self.expect_pubrec().await;
                assert_eq!(Some(rec.packet_id), id, "PUBREC packet id");
                self.send(Packet::PubRel(Ack::new(rec.packet_id))).await;
                let comp = self.expect_pubcomp().await;
                assert_eq!(comp.packet_id, rec.packet_id, "PUBCOMP packet id");
                Some(rec)
            }
        }
    }

    /// Publishes `payload` to `topic` at `qos`, completing the exchange.
    pub async fn publish_at(&mut self, topic: &str, payload: impl Into<Bytes>, qos: QoS) -> Option<Ack> {
        self.publish(publish_packet(topic, payload, qos)).await
    }

    /// Receives a PUBLISH and completes its exchange as a well-behaved client: PUBACK, or PUBREC then
    /// PUBCOMP after the broker's PUBREL.
    pub async fn receive_and_ack(&mut self) -> Publish {
        let publish = self.expect_publish().await;
        self.ack(&publish).await;
        publish
    }

    /// Acknowledges a received PUBLISH as a well-behaved client.
    pub async fn ack(&mut self, publish: &Publish) {
        let Some(id) = publish.packet_id else { return };
        match publish.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send(Packet::PubAck(Ack::new(id))).await,
            QoS::ExactlyOnce => {
                self.send(Packet::PubRec(Ack::new(id))).await;
                // Other deliveries may come before the PUBREL: keep them for later, in order.
                let mut other = VecDeque::new();
                loop {
                    match self.next_packet().await {
                        Packet::PubRel(rel) if rel.packet_id == id => break,
                        packet => other.push_back(packet),
                    }
                }
                other.append(&mut self.pending);
                self.pending = other;
                self.send(Packet::PubComp(Ack::new(id))).await;
            }
        }
    }

    /// PINGREQ, and checks the PINGRESP.
    pub async fn ping(&mut self) {
        self.send(Packet::PingReq).await;
        match self.next_packet().await {
            Packet::PingResp => {}
            other => panic!("expected PINGRESP, got {other:?}"),
        }
    }

    /// A normal DISCONNECT (v5 reason 0x00), then waits for the broker to close.
    pub async fn disconnect(mut self) {
        self.send(Packet::Disconnect(Disconnect::new(ReasonCode::NORMAL_DISCONNECTION))).await;
        self.expect_closed(TIMEOUT).await;
    }

    /// Sends DISCONNECT `d` and waits for the broker to close.
    pub async fn disconnect_with(mut self, d: Disconnect) {
        self.send(Packet::Disconnect(d)).await;
        self.expect_closed(TIMEOUT).await;
    }

    /// Drops the TCP connection without DISCONNECT: for the broker, the network connection is lost.
    pub fn drop_connection(self) {
        drop(self.stream);
    }
}

/// A CONNECT for `version` with a clean session and keep-alive 60.
pub fn connect_packet(version: ProtocolVersion, client_id: &str) -> Connect {
    Connect {
        protocol: version,
        client_id: client_id.into(),
        clean_start: true,
        keep_alive: 60,
        ..Connect::default()
    }
}

/// A PUBLISH at `qos` (its packet id is filled in when sent with [`RawClient::publish`]).
pub fn publish_packet(topic: &str, payload: impl Into<Bytes>, qos: QoS) -> Publish {
    Publish { qos, ..Publish::new(topic, payload) }
}

/// A SUBSCRIBE with the given filters and options.
pub fn subscribe_packet(packet_id: NonZeroU16, filters: &[(&str, SubscriptionOptions)]) -> Subscribe {
    Subscribe {
        packet_id,
        filters: filters
            .iter()
            .map(|(filter, options)| SubscriptionRequest { filter: (*filter).into(), options: *options })
            .collect(),
        properties: Default::default(),
    }
}

/// Subscription options with only a QoS.
pub fn qos_options(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions { qos, ..SubscriptionOptions::default() }
}
