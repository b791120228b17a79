//! MQTT over WebSocket (section 6 of both standards, the same four statements): binary frames only, MQTT
//! packets not aligned with frames, the `mqtt` subprotocol.

use std::net::SocketAddr;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tern_broker::config::{Config, ListenerConfig, Protocol};
use tern_broker::{Broker, RunningBroker};
use tern_codec::{decode, encode, Limits, Packet, ProtocolVersion, QoS, ReasonCode};
use tern_test_support::{connect_packet, pid, qos_options, subscribe_packet, TIMEOUT};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_broker() -> (RunningBroker, SocketAddr) {
    let listener = ListenerConfig {
        port: 0,
        bind_address: Some("127.0.0.1".into()),
        protocol: Protocol::Websockets,
        ..ListenerConfig::default()
    };
    let mut config = Config { listeners: vec![listener], ..Config::default() };
    config.security.allow_anonymous = Some(true);
    let broker = Broker::new(tern_test_support::in_memory(config)).start().await.expect("broker starts");
    let addr = broker.local_addrs()[0];
    (broker, addr)
}

/// Opens a WebSocket offering the `mqtt` subprotocol; returns it and the subprotocol the server chose.
async fn open(addr: SocketAddr) -> (Ws, Option<String>) {
    let mut request = format!("ws://{addr}/mqtt").into_client_request().expect("request");
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    let (ws, response) = tokio_tungstenite::connect_async(request).await.expect("WebSocket handshake");
    let chosen =
        response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (ws, chosen)
}

fn bytes(packets: &[Packet], version: ProtocolVersion) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for p in packets {
        encode(p, version, &mut buf).expect("encodes");
    }
    buf.to_vec()
}

/// The next MQTT packets, from however many binary frames they take.
async fn next_packet(ws: &mut Ws, rbuf: &mut BytesMut, version: ProtocolVersion) -> Option<Packet> {
    loop {
        if let Ok(Some(p)) = decode(rbuf, &Limits::new(version)) {
            return Some(p);
        }
        match tokio::time::timeout(TIMEOUT, ws.next()).await.expect("in time") {
            Some(Ok(Message::Binary(data))) => rbuf.extend_from_slice(&data),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(other)) if other.is_close() => return None,
            Some(Ok(other)) => panic!("[MQTT-6.0.0-1] the broker sent a non-binary frame: {other:?}"),
            Some(Err(_)) | None => return None,
        }
    }
}

/// [MQTT-6.0.0-4] The broker selects the `mqtt` subprotocol the client offers, and [MQTT-6.0.0-1] answers
/// in binary frames.
#[tokio::test]
async fn mqtt_6_0_0_4_the_mqtt_subprotocol_is_selected() {
    let (_broker, addr) = ws_broker().await;
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let (mut ws, chosen) = open(addr).await;
        assert_eq!(chosen.as_deref(), Some("mqtt"));
        let connect = Packet::Connect(Box::new(connect_packet(version, "ws")));
        ws.send(Message::Binary(bytes(&[connect], version))).await.expect("send");
        let mut rbuf = BytesMut::new();
        match next_packet(&mut ws, &mut rbuf, version).await {
            Some(Packet::ConnAck(ack)) => assert_eq!(ack.reason_code, ReasonCode::SUCCESS),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}

/// [MQTT-6.0.0-2] Packets are not aligned with frames: CONNECT and SUBSCRIBE in one frame, a PUBLISH split
/// over three frames, all understood.
#[tokio::test]
async fn mqtt_6_0_0_2_packets_split_over_and_packed_into_frames() {
    let (_broker, addr) = ws_broker().await;
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let (mut ws, _) = open(addr).await;
        let first = bytes(
            &[
                Packet::Connect(Box::new(connect_packet(version, "split"))),
                Packet::Subscribe(subscribe_packet(pid(1), &[("ws/t", qos_options(QoS::AtMostOnce))])),
            ],
            version,
        );
        ws.send(Message::Binary(first)).await.expect("send");
        let mut rbuf = BytesMut::new();
        assert!(matches!(next_packet(&mut ws, &mut rbuf, version).await, Some(Packet::ConnAck(_))));
        assert!(matches!(next_packet(&mut ws, &mut rbuf, version).await, Some(Packet::SubAck(_))));
        let publish = bytes(&[Packet::Publish(tern_codec::Publish::new("ws/t", "in pieces"))], version);
        for piece in publish.chunks(publish.len() / 3 + 1) {
            ws.send(Message::Binary(piece.to_vec())).await.expect("send");
        }
        match next_packet(&mut ws, &mut rbuf, version).await {
            Some(Packet::Publish(p)) => assert_eq!(p.payload, "in pieces"),
            other => panic!("expected the PUBLISH back, got {other:?}"),
        }
    }
}

/// [MQTT-6.0.0-1] A text frame is not MQTT: the broker closes the connection.
#[tokio::test]
async fn mqtt_6_0_0_1_a_text_frame_closes_the_connection() {
    let (_broker, addr) = ws_broker().await;
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let (mut ws, _) = open(addr).await;
        ws.send(Message::Binary(bytes(
            &[Packet::Connect(Box::new(connect_packet(version, "text")))],
            version,
        )))
        .await
        .expect("send");
        let mut rbuf = BytesMut::new();
        assert!(matches!(next_packet(&mut ws, &mut rbuf, version).await, Some(Packet::ConnAck(_))));
        ws.send(Message::Text("PINGREQ".into())).await.expect("send");
        loop {
            match next_packet(&mut ws, &mut rbuf, version).await {
                None => break,
                Some(Packet::Disconnect(d)) => assert!(d.reason_code.is_error()),
                Some(other) => panic!("expected the connection to close, got {other:?}"),
            }
        }
    }
}
