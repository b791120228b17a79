//! Test whether `protocol websockets` listeners serve MQTT over WebSocket (MQTT 6.0) to the clients people
//! use — Paho (Python) and MQTT.js, over ws:// and wss:// — and whether MQTT packets split across binary
//! frames or coalesced into one are read as a byte stream [MQTT-6.0.0-2], on any path, with the `mqtt`
//! subprotocol [MQTT-6.0.0-3].
#![allow(clippy::unwrap_used)]

mod common;

use std::num::NonZeroU16;

use bytes::BytesMut;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tern_codec::{
    decode, encode, Connect, Limits, Packet, PacketType, ProtocolVersion, Publish, QoS, Subscribe,
    SubscriptionOptions, SubscriptionRequest,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A broker with a WebSocket listener and a WebSocket-over-TLS one (certificate for localhost), and the
/// CA file clients trust.
async fn broker(dir: &std::path::Path) -> (TestBroker, String) {
    let ca = tern_test_support::pki::Ca::new(dir, "ca");
    let server = ca.server("server");
    let conf = format!(
        "allow_anonymous true\nlistener 1 127.0.0.1\nprotocol websockets\n\
         listener 2 127.0.0.1\nprotocol websockets\ncertfile {}\nkeyfile {}\n",
        server.cert.display(),
        server.key.display()
    );
    (start(dir, &conf).await, ca.cert_path.display().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn paho_publishes_and_subscribes_over_ws_and_wss() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ca) = broker(dir.path()).await;
    let (ws, wss) = (broker.port(0).to_string(), broker.port(1).to_string());
    for version in ["311", "5"] {
        let topic = format!("ws/paho/{version}");
        let plain = ["--transport", "websockets", "--port", &ws, "--version", version];
        let out = run(paho(&[&plain[..], &["--topic", &topic, "--message", "plain"]].concat())).await;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("received {topic} plain"),
            "{}",
            text(&out)
        );
        let secure = ["--transport", "websockets", "--host", "localhost", "--port", &wss, "--cafile", &ca];
        let out = run(paho(
            &[&secure[..], &["--version", version, "--topic", &topic, "--message", "tls"]].concat(),
        ))
        .await;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("received {topic} tls"),
            "{}",
            text(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_js_publishes_and_subscribes_over_ws_and_wss() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, ca) = broker(dir.path()).await;
    for version in ["4", "5"] {
        let topic = format!("ws/mqttjs/{version}");
        let url = format!("ws://127.0.0.1:{}/mqtt", broker.port(0));
        let out = run(mqtt_js(&[&url, &topic, "plain", "--version", version])).await;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("received {topic} plain"),
            "{}",
            text(&out)
        );
        let url = format!("wss://localhost:{}/mqtt", broker.port(1));
        let out = run(mqtt_js(&[&url, &topic, "tls", "--version", version, "--ca", &ca])).await;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("received {topic} tls"),
            "{}",
            text(&out)
        );
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket on `path`, offering the `mqtt` subprotocol; checks the server chose it.
async fn open(port: u16, path: &str) -> Ws {
    let mut request = format!("ws://127.0.0.1:{port}{path}").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers().get("Sec-WebSocket-Protocol").map(|v| v.as_bytes()), Some(&b"mqtt"[..]));
    ws
}

fn bytes_of(packets: &[Packet]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for packet in packets {
        encode(packet, ProtocolVersion::V5, &mut buf).unwrap();
    }
    buf.to_vec()
}

/// Reads binary frames until `n` packets have arrived (however the server framed them).
async fn read_packets(ws: &mut Ws, n: usize) -> Vec<Packet> {
    let limits = Limits { version: ProtocolVersion::V5, ..Limits::default() };
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    while packets.len() < n {
        while let Some(packet) = decode(&mut buf, &limits).unwrap() {
            packets.push(packet);
        }
        if packets.len() >= n {
            break;
        }
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("no frame in time") {
            Some(Ok(Message::Binary(data))) => buf.extend_from_slice(&data),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
    packets
}

fn connect_packet(id: &str) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol: ProtocolVersion::V5,
        client_id: id.into(),
        ..Connect::default()
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connect_split_over_several_frames_is_put_back_together() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, _) = broker(dir.path()).await;
    let mut ws = open(broker.port(0), "/any/path/at/all").await;
    let connect = bytes_of(&[connect_packet("split")]);
    // The first frame ends inside the fixed header, the next inside the protocol name.
    for chunk in [&connect[..1], &connect[1..5], &connect[5..]] {
        ws.send(Message::Binary(chunk.to_vec())).await.unwrap();
    }
    let packets = read_packets(&mut ws, 1).await;
    assert!(matches!(&packets[0], Packet::ConnAck(ack) if !ack.reason_code.is_error()), "{packets:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn several_packets_in_one_frame_are_each_handled() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, _) = broker(dir.path()).await;
    let mut ws = open(broker.port(0), "/mqtt").await;
    let id = NonZeroU16::new(1).unwrap();
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: id,
        filters: vec![SubscriptionRequest {
            filter: "ws/coalesced".into(),
            options: SubscriptionOptions { qos: QoS::AtLeastOnce, ..SubscriptionOptions::default() },
        }],
        properties: Default::default(),
    });
    let publish = Packet::Publish(Publish {
        qos: QoS::AtLeastOnce,
        packet_id: NonZeroU16::new(2),
        ..Publish::new("ws/coalesced", "both in one frame")
    });
    // CONNECT, SUBSCRIBE, PUBLISH and PINGREQ in a single frame.
    ws.send(Message::Binary(bytes_of(&[connect_packet("coalesced"), subscribe, publish, Packet::PingReq])))
        .await
        .unwrap();
    let packets = read_packets(&mut ws, 5).await;
    let mut kinds: Vec<PacketType> = packets.iter().map(Packet::packet_type).collect();
    assert_eq!(kinds[..2], [PacketType::ConnAck, PacketType::SubAck]);
    kinds.sort_by_key(|k| *k as u8);
    assert_eq!(
        kinds,
        [
            PacketType::ConnAck,
            PacketType::Publish,
            PacketType::PubAck,
            PacketType::SubAck,
            PacketType::PingResp
        ]
    );
    let delivered = packets.iter().find_map(|p| match p {
        Packet::Publish(p) => Some(p.payload.clone()),
        _ => None,
    });
    assert_eq!(delivered.as_deref(), Some(&b"both in one frame"[..]));
    // The end of one packet and the start of the next share a frame too.
    let pings = bytes_of(&[Packet::PingReq, Packet::PingReq]);
    ws.send(Message::Binary(pings[..3].to_vec())).await.unwrap();
    ws.send(Message::Binary(pings[3..].to_vec())).await.unwrap();
    let packets = read_packets(&mut ws, 2).await;
    assert_eq!(packets, [Packet::PingResp, Packet::PingResp]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_text_frame_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, _) = broker(dir.path()).await;
    let mut ws = open(broker.port(0), "/mqtt").await;
    ws.send(Message::Binary(bytes_of(&[connect_packet("text")]))).await.unwrap();
    read_packets(&mut ws, 1).await;
    // [MQTT-6.0.0-1] MQTT travels in binary frames only.
    ws.send(Message::Text("PINGREQ".into())).await.unwrap();
    let end = tokio::time::timeout(PATIENCE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(Message::Binary(data))) => {
                    // A v5 server may say why first (DISCONNECT); nothing else.
                    assert_eq!(data.first().map(|b| b >> 4), Some(14), "{data:?}");
                }
                Some(Ok(_)) => {}
            }
        }
    });
    end.await.expect("the connection stayed open");
}
