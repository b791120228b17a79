//! Helpers for the operations tests: a broker on 127.0.0.1:0, a raw MQTT client that shows every packet
//! (reason codes included), and a minimal HTTP/1.1 client.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use bytes::BytesMut;
use tern_broker::config::{Config, ListenerConfig};
use tern_broker::{Broker, RunningBroker};
use tern_codec::{
    decode, encode, ConnAck, Connect, Limits, Packet, ProtocolVersion, Publish, QoS, SubAck, Subscribe,
    SubscriptionOptions, SubscriptionRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A configuration with one anonymous listener on an ephemeral loopback port and `$SYS` off.
pub fn config() -> Config {
    let listener =
        ListenerConfig { port: 0, bind_address: Some("127.0.0.1".into()), ..ListenerConfig::default() };
    let mut config = Config { listeners: vec![listener], sys_interval: 0, ..Config::default() };
    config.security.allow_anonymous = Some(true);
    config
}

pub async fn start(config: Config) -> (RunningBroker, SocketAddr) {
    let broker = Broker::new(tern_test_support::in_memory(config)).start().await.unwrap();
    let addr = broker.local_addrs()[0];
    (broker, addr)
}

/// A raw MQTT client.
pub struct Mqtt {
    stream: TcpStream,
    rbuf: BytesMut,
    pub version: ProtocolVersion,
    next_id: u16,
}

impl Mqtt {
    /// Connects and returns the CONNACK, whatever it says.
    pub async fn connect_with(addr: SocketAddr, connect: Connect) -> (Mqtt, ConnAck) {
        let version = connect.protocol;
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut client = Mqtt { stream, rbuf: BytesMut::new(), version, next_id: 0 };
        client.send(&Packet::Connect(Box::new(connect))).await;
        match client.recv().await {
            Some(Packet::ConnAck(ack)) => (client, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with a clean session and asserts success.
    pub async fn connect(addr: SocketAddr, client_id: &str, version: ProtocolVersion) -> Mqtt {
        let connect = Connect { protocol: version, client_id: client_id.into(), ..Connect::default() };
        let (client, ack) = Mqtt::connect_with(addr, connect).await;
        assert_eq!(ack.reason_code.0, 0, "CONNACK for {client_id}");
        client
    }

    pub async fn send(&mut self, packet: &Packet) {
        let mut buf = BytesMut::new();
        encode(packet, self.version, &mut buf).unwrap();
        self.stream.write_all(&buf).await.unwrap();
    }

    /// Like `send`, but tolerates a connection the broker already closed.
    pub async fn try_send(&mut self, packet: &Packet) -> bool {
        let mut buf = BytesMut::new();
        encode(packet, self.version, &mut buf).unwrap();
        self.stream.write_all(&buf).await.is_ok()
    }

    /// The next packet, or `None` if the connection closes or nothing comes within 5 s.
    pub async fn recv(&mut self) -> Option<Packet> {
        self.recv_within(Duration::from_secs(5)).await
    }

    pub async fn recv_within(&mut self, wait: Duration) -> Option<Packet> {
        let limits = Limits::new(self.version);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(packet) = decode(&mut self.rbuf, &limits).unwrap() {
                return Some(packet);
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.rbuf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Packets until one matching `want` arrives (others are skipped).
    pub async fn recv_until(&mut self, mut want: impl FnMut(&Packet) -> bool) -> Option<Packet> {
        loop {
            let packet = self.recv().await?;
            if want(&packet) {
                return Some(packet);
            }
        }
    }

    fn packet_id(&mut self) -> NonZeroU16 {
        self.next_id = self.next_id % 65_535 + 1;
        NonZeroU16::new(self.next_id).unwrap()
    }

    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> SubAck {
        let options = SubscriptionOptions { qos, ..SubscriptionOptions::default() };
        let subscribe = Subscribe {
            packet_id: self.packet_id(),
            filters: vec![SubscriptionRequest { filter: filter.into(), options }],
            properties: Default::default(),
        };
        self.send(&Packet::Subscribe(subscribe)).await;
        match self.recv_until(|p| matches!(p, Packet::SubAck(_))).await {
            Some(Packet::SubAck(ack)) => ack,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publishes; for QoS 1 waits for the PUBACK and returns its reason code.
    pub async fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Option<u8> {
        let mut publish = Publish::new(topic, payload.to_vec());
        publish.qos = qos;
        publish.retain = retain;
        if qos != QoS::AtMostOnce {
            publish.packet_id = Some(self.packet_id());
        }
        self.send(&Packet::Publish(publish)).await;
        if qos == QoS::AtLeastOnce {
            match self.recv_until(|p| matches!(p, Packet::PubAck(_))).await {
                Some(Packet::PubAck(ack)) => return Some(ack.reason_code.0),
                other => panic!("expected PUBACK, got {other:?}"),
            }
        }
        None
    }

    /// The next PUBLISH, acknowledging QoS 1.
    pub async fn next_publish(&mut self) -> Option<Publish> {
        loop {
            match self.recv().await? {
                Packet::Publish(p) => {
                    if let (QoS::AtLeastOnce, Some(id)) = (p.qos, p.packet_id) {
                        self.send(&Packet::PubAck(tern_codec::Ack::new(id))).await;
                    }
                    return Some(p);
                }
                _ => continue,
            }
        }
    }

    pub async fn disconnect(mut self) {
        self.send(&Packet::Disconnect(tern_codec::Disconnect::new(
            tern_codec::ReasonCode::NORMAL_DISCONNECTION,
        )))
        .await;
        let _ = self.stream.shutdown().await;
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request with `Connection: close`.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(auth) = auth {
        req.push_str(&format!("Authorization: {auth}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked =
        headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    HttpResponse { status, headers, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        s = &rest[size + 2..];
    }
}

#[allow(unused_imports)]
pub use tern_test_support::eventually;
