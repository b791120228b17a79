//! What the conformance tests share: raw frames, connections, and the quiet wait.

use std::time::Duration;

use tern_codec::{Packet, ProtocolVersion, Publish, QoS, ReasonCode};
use tern_test_support::{connect_packet, Event, RawClient, TestBroker, TIMEOUT};

pub const V5: ProtocolVersion = ProtocolVersion::V5;
pub const V311: ProtocolVersion = ProtocolVersion::V311;
/// Long enough for a packet on loopback to arrive: "nothing came" means nothing was sent.
pub const QUIET: Duration = Duration::from_millis(300);

/// A frame with a one-byte remaining length.
pub fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128, "one-byte remaining length");
    let mut f = vec![first, body.len() as u8];
    f.extend_from_slice(body);
    f
}

/// A QoS 0 PUBLISH body: topic as raw bytes, then (5.0) `properties` as raw bytes with their length.
pub fn publish_body(topic: &[u8], properties: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
    let mut body = (topic.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(topic);
    if let Some(p) = properties {
        body.push(p.len() as u8);
        body.extend_from_slice(p);
    }
    body.extend_from_slice(payload);
    body
}

pub async fn connect(broker: &TestBroker, version: ProtocolVersion, id: &str) -> RawClient {
    RawClient::connect_ok(broker.addr(), version, id).await
}

/// A v5 connection whose session outlives it (Session Expiry 300 s) or a 3.1.1 one with clean session 0.
pub async fn persistent(
    broker: &TestBroker,
    version: ProtocolVersion,
    id: &str,
    clean: bool,
) -> (RawClient, bool) {
    let mut c = connect_packet(version, id);
    c.clean_start = clean;
    if version.is_v5() {
        c.properties.session_expiry_interval = Some(300);
    }
    let (client, ack) = RawClient::connect_accepted(broker.addr(), c).await;
    (client, ack.session_present)
}

/// Sends `bytes` on a fresh connection of `version` and checks the broker ends it: 5.0 with DISCONNECT
/// `reason` first, 3.x with a bare close.
pub async fn refused_after_connect(
    broker: &TestBroker,
    version: ProtocolVersion,
    bytes: &[u8],
    reason: ReasonCode,
) {
    let mut client = connect(broker, version, "bad").await;
    client.send_raw(bytes).await;
    client.expect_disconnect(reason).await;
}

/// Checks the broker closes the connection (after at most a DISCONNECT, whatever its reason).
pub async fn expect_end(client: &mut RawClient) {
    loop {
        match client.recv(TIMEOUT).await {
            Event::Closed => return,
            Event::Packet(Packet::Disconnect(_)) => {}
            other => panic!("expected the connection to end, got {other:?}"),
        }
    }
}

/// Publishes `payload` on `topic` at `qos` from a fresh v5 client.
pub async fn publish_from(broker: &TestBroker, id: &str, topic: &str, payload: &str, qos: QoS) {
    let mut p = connect(broker, V5, id).await;
    p.publish_at(topic, payload.to_owned(), qos).await;
}

/// Every PUBLISH received until quiet, acknowledged.
pub async fn drain(client: &mut RawClient) -> Vec<Publish> {
    let mut out = Vec::new();
    loop {
        match client.recv(QUIET).await {
            Event::Packet(Packet::Publish(p)) => {
                client.ack(&p).await;
                out.push(p);
            }
            Event::Timeout => return out,
            other => panic!("unexpected {other:?}"),
        }
    }
}
