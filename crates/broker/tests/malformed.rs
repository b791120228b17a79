//! Bad input over real sockets: every malformed or forbidden frame gets the spec's answer — a 5.0 client
//! DISCONNECT with the reason code, a 3.x client a close [MQTT-4.8.0-1], [MQTT-4.13.1-1] — and the broker
//! keeps serving everybody else.

use std::time::Duration;

use tern_broker::stats::Stats;
use tern_codec::{LastWill, Packet, ProtocolVersion, QoS, ReasonCode};
use tern_test_support::raw::connect_packet;
use tern_test_support::{Event, RawClient, TestBroker, TIMEOUT};

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// A frame with a one-byte remaining length.
fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128);
    let mut f = vec![first, body.len() as u8];
    f.extend_from_slice(body);
    f
}

/// A PUBLISH QoS 0 body with `topic` as raw bytes (5.0: followed by an empty property list).
fn publish_body(topic: &[u8], v5: bool) -> Vec<u8> {
    let mut body = (topic.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(topic);
    if v5 {
        body.push(0);
    }
    body.extend_from_slice(b"payload");
    body
}

/// One bad input, as a 3.1.1 and a 5.0 client would send it, and the 5.0 reason code it must get.
struct Case {
    name: &'static str,
    v311: Vec<u8>,
    v5: Vec<u8>,
    reason: ReasonCode,
}

fn cases() -> Vec<Case> {
    let both = |name, bytes: Vec<u8>, reason| Case { name, v311: bytes.clone(), v5: bytes, reason };
    vec![
        both("[MQTT-2.1.2-1] reserved packet type 0", frame(0x00, &[]), ReasonCode::MALFORMED_PACKET),
        both(
            "[MQTT-2.1.3-1] SUBSCRIBE with flags 0000",
            frame(0x80, &[0, 1, 0, 1, b'a', 0]),
            ReasonCode::MALFORMED_PACKET,
        ),
        both("[MQTT-2.1.3-1] PUBREL with flags 0000", frame(0x60, &[0, 1]), ReasonCode::MALFORMED_PACKET),
        both("[MQTT-2.1.3-1] PINGREQ with flags 0001", frame(0xC1, &[]), ReasonCode::MALFORMED_PACKET),
        both(
            "[MQTT-1.5.5-1] remaining length of five bytes",
            vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            ReasonCode::MALFORMED_PACKET,
        ),
        Case {
            name: "[MQTT-3.3.1-4] PUBLISH with QoS 3",
            v311: frame(0x36, &[0, 1, b'a', 0, 1]),
            v5: frame(0x36, &[0, 1, b'a', 0, 1, 0]),
            reason: ReasonCode::MALFORMED_PACKET,
        },
        Case {
            name: "[MQTT-3.3.1-2] DUP on a QoS 0 PUBLISH",
            v311: frame(0x38, &publish_body(b"a", false)),
            v5: frame(0x38, &publish_body(b"a", true)),
            reason: ReasonCode::MALFORMED_PACKET,
        },
        Case {
            name: "[MQTT-2.2.1-3] QoS 1 PUBLISH with packet identifier 0",
            v311: frame(0x32, &[0, 1, b'a', 0, 0]),
            v5: frame(0x32, &[0, 1, b'a', 0, 0, 0]),
            reason: ReasonCode::PROTOCOL_ERROR,
        },
        Case {
            name: "[MQTT-1.5.4-1] topic name that is not UTF-8",
            v311: frame(0x30, &publish_body(&[0xC3, 0x28], false)),
            v5: frame(0x30, &publish_body(&[0xC3, 0x28], true)),
            reason: ReasonCode::MALFORMED_PACKET,
        },
        Case {
            name: "[MQTT-1.5.4-2] topic name with U+0000",
            v311: frame(0x30, &publish_body(b"a\0b", false)),
            v5: frame(0x30, &publish_body(b"a\0b", true)),
            reason: ReasonCode::MALFORMED_PACKET,
        },
        Case {
            name: "[MQTT-3.3.2-2] topic name with a wildcard",
            v311: frame(0x30, &publish_body(b"a/+", false)),
            v5: frame(0x30, &publish_body(b"a/+", true)),
            // A topic that breaks the syntax rules is malformed (0x90 is for well-formed names a server
            // refuses); Mosquitto answers the same.
            reason: ReasonCode::MALFORMED_PACKET,
        },
        both(
            "[MQTT-1.5.4] string running past the end of the packet",
            frame(0x30, &[0, 9, b'a']),
            ReasonCode::MALFORMED_PACKET,
        ),
        Case {
            name: "[MQTT-2.1.2] CONNACK goes from server to client only",
            v311: frame(0x20, &[0, 0]),
            v5: frame(0x20, &[0, 0, 0]),
            reason: ReasonCode::PROTOCOL_ERROR,
        },
        both(
            "[MQTT-2.1.2] PINGRESP goes from server to client only",
            frame(0xD0, &[]),
            ReasonCode::PROTOCOL_ERROR,
        ),
        Case {
            name: "[MQTT-2.1.2] SUBACK goes from server to client only",
            v311: frame(0x90, &[0, 1, 0]),
            v5: frame(0x90, &[0, 1, 0, 0]),
            reason: ReasonCode::PROTOCOL_ERROR,
        },
        Case {
            name: "[MQTT-2.2.2] unknown property in PUBLISH",
            v311: frame(0xF0, &[]), // (3.1.1: packet type 15 is reserved)
            v5: frame(0x30, &[0, 1, b'a', 2, 0x7F, 0, b'x']),
            reason: ReasonCode::MALFORMED_PACKET,
        },
        Case {
            name: "[MQTT-3.3.2-8] Topic Alias 0",
            v311: frame(0x30, &publish_body(b"", false)), // (3.1.1: empty topic name [MQTT-4.7.3-1])
            v5: frame(0x30, &[0, 1, b'a', 3, 0x23, 0, 0, b'x']),
            reason: ReasonCode::TOPIC_ALIAS_INVALID,
        },
        Case {
            name: "[MQTT-3.2.2-17] Topic Alias above the broker's Topic Alias Maximum",
            v311: frame(0x30, &[0, 1, b'a']), // (3.1.1: fine; followed by the CONNECT below)
            v5: frame(0x30, &[0, 1, b'a', 3, 0x23, 0x01, 0x00, b'x']),
            reason: ReasonCode::TOPIC_ALIAS_INVALID,
        },
        Case {
            name: "[MQTT-4.12.0-1] AUTH without an authentication method",
            v311: frame(0x10, &[]), // (3.1.1: a second, empty CONNECT)
            v5: frame(0xF0, &[]),
            reason: ReasonCode::PROTOCOL_ERROR,
        },
    ]
}

/// Checks the bystander still publishes and receives.
async fn check_bystander(bystander: &mut RawClient, n: usize) {
    let payload = format!("still here {n}");
    bystander.publish_qos0("bystander/t", payload.clone()).await;
    assert_eq!(bystander.expect_publish().await.payload, payload);
}

/// [MQTT-4.8.0-1] (3.1.1), [MQTT-4.13.1-1] (5.0) Each malformed or forbidden packet ends its connection:
/// a 5.0 client first gets DISCONNECT with the reason code for the error, a 3.1.1 client sees the close.
/// The broker serves a bystander client throughout.
#[tokio::test]
async fn bad_packets_get_the_spec_answer_and_others_carry_on_mqtt_4_13_1_1() {
    let broker = TestBroker::start_default().await;
    let mut bystander = RawClient::connect_ok(broker.addr(), V5, "bystander").await;
    bystander.subscribe("bystander/t", QoS::AtMostOnce).await;
    for (n, case) in cases().into_iter().enumerate() {
        let mut v311 = RawClient::connect_ok(broker.addr(), V311, "bad311").await;
        v311.send_raw(&case.v311).await;
        if case.name.contains("Topic Alias above") {
            // 3.1.1 has no topic aliases: that frame was a valid PUBLISH; break the protocol differently.
            v311.send(Packet::Connect(Box::new(connect_packet(V311, "bad311")))).await;
        }
        match v311.recv(TIMEOUT).await {
            Event::Closed => {}
            other => panic!("{}: 3.1.1 connection not closed: {other:?}", case.name),
        }

        let mut v5 = RawClient::connect_ok(broker.addr(), V5, "bad5").await;
        v5.send_raw(&case.v5).await;
        match v5.recv(TIMEOUT).await {
            Event::Packet(Packet::Disconnect(d)) => assert_eq!(d.reason_code, case.reason, "{}", case.name),
            other => panic!("{}: expected DISCONNECT {}, got {other:?}", case.name, case.reason),
        }
        v5.expect_closed(TIMEOUT).await;
        check_bystander(&mut bystander, n).await;
    }
    assert!(Stats::get(&broker.shared().stats.protocol_errors) > 0);
}

/// [MQTT-3.1.0-1] Garbage instead of CONNECT closes the connection without an answer.
#[tokio::test]
async fn garbage_instead_of_connect_closes_without_an_answer() {
    let broker = TestBroker::start_default().await;
    for garbage in
        [&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..], &[0xFF; 16], &[0x10, 0x80, 0x80, 0x80, 0x80, 0x01]]
    {
        let mut client = RawClient::tcp(broker.addr(), V311).await;
        client.send_raw(garbage).await;
        client.expect_closed(TIMEOUT).await;
    }
    RawClient::connect_ok(broker.addr(), V311, "after-garbage").await.ping().await;
}

/// A connection lost in the middle of a frame is a lost connection like any other: the will is published,
/// nothing of the partial frame is.
#[tokio::test]
async fn connection_lost_mid_frame_publishes_the_will_only() {
    let broker = TestBroker::start_default().await;
    let mut watcher = RawClient::connect_ok(broker.addr(), V311, "midframe-watch").await;
    watcher.subscribe("midframe/#", QoS::AtMostOnce).await;
    let mut connect = connect_packet(V311, "midframe");
    connect.will = Some(LastWill {
        topic: "midframe/will".into(),
        payload: "cut".into(),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Default::default(),
    });
    let (mut client, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    // A PUBLISH announcing 100 bytes, of which 12 arrive.
    client.send_raw(&[0x30, 100, 0, 10, b'm', b'i', b'd', b'f', b'r', b'a', b'm', b'e', b'/', b'x']).await;
    client.drop_connection();
    let got = watcher.expect_publish().await;
    assert_eq!((got.topic.as_ref(), got.payload.as_ref()), ("midframe/will", &b"cut"[..]));
    watcher.expect_nothing(Duration::from_millis(300)).await;
}

/// Deterministic pseudo-random bytes (xorshift), so a failure can be replayed.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = 1 + (self.next() as usize % max);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Random bytes after a valid CONNECT, on many connections of both versions, never take the broker down
/// nor disturb a bystander; each connection is answered, closed or left waiting for the rest of a frame.
#[tokio::test]
async fn random_bytes_after_connect_never_take_the_broker_down() {
    let broker = TestBroker::start_default().await;
    let mut bystander = RawClient::connect_ok(broker.addr(), V311, "noise-bystander").await;
    bystander.subscribe("bystander/t", QoS::AtMostOnce).await;
    let mut noise = Noise(0x2545_F491_4F6C_DD1D);
    for round in 0..200 {
        let version = if round % 2 == 0 { V311 } else { V5 };
        let mut client = RawClient::connect_ok(broker.addr(), version, &format!("noise{round}")).await;
        // A PUBLISH type byte first half of the time, so the noise reaches deeper into the decoder.
        let mut bytes = noise.bytes(64);
        if round % 4 < 2 {
            bytes[0] = 0x30 | (bytes[0] & 0x0F);
        }
        let _ = client.try_send_raw(&bytes).await;
        let _ = client.recv(Duration::from_millis(20)).await;
        drop(client);
        if round % 20 == 0 {
            check_bystander(&mut bystander, round).await;
        }
    }
    check_bystander(&mut bystander, 200).await;
    assert!(Stats::get(&broker.shared().stats.protocol_errors) > 0, "some noise was rejected");
}
