//! The transports end to end: TLS (chain and host name checks, `insecure`, the OS roots) against Tern and
//! against Mosquitto; WebSocket against Tern's WebSocket listener, and against Mosquitto through a bridge.
#![allow(clippy::unwrap_used, clippy::result_large_err)] // tests may unwrap; tungstenite fixes the callback type

#[macro_use]
mod common;

use common::{next_message, AnyBroker, BrokerKind};
use tern_client::{Client, ConnectOptions, ProtocolVersion, QoS, TlsOptions, Transport};
use tern_test_support::mosquitto::Mosquitto;

against_both_brokers!(tls_verifies_the_chain_and_host_name_and_insecure_skips_only_the_name);

/// A WebSocket endpoint on 127.0.0.1 that forwards binary frames to the broker's TCP port and back, and
/// checks the client asks for subprotocol `mqtt` (websocket.rs runs against Mosquitto's own listener).
async fn ws_bridge(broker_port: u16) -> u16 {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    use tokio_tungstenite::tungstenite::Message;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let check = |req: &Request, mut resp: Response| {
            let proto = req.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok());
            assert_eq!(proto, Some("mqtt"), "[MQTT-6.0.0-3]");
            resp.headers_mut().insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
            Ok(resp)
        };
        let ws = tokio_tungstenite::accept_hdr_async(stream, check).await.unwrap();
        let (mut ws_tx, mut ws_rx) = ws.split();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", broker_port)).await.unwrap();
        let (mut tcp_rx, mut tcp_tx) = tcp.into_split();
        tokio::spawn(async move {
            while let Some(Ok(Message::Binary(data))) = ws_rx.next().await {
                if tcp_tx.write_all(&data).await.is_err() {
                    break;
                }
            }
        });
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = tcp_rx.read(&mut buf).await {
            if n == 0 || ws_tx.send(Message::Binary(buf[..n].to_vec())).await.is_err() {
                break;
            }
        }
    });
    port
}

async fn websocket_round_trip(port: u16) {
    let opts = ConnectOptions::new("127.0.0.1", port)
        .version(ProtocolVersion::V5)
        .transport(Transport::Ws { path: "/mqtt".into() });
    let (c, mut events, _) = Client::connect(opts).await.unwrap();
    c.subscribe("ws/t", QoS::AtLeastOnce).await.unwrap();
    c.publish("ws/t", "over websocket", QoS::ExactlyOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.payload, "over websocket");
}

#[tokio::test]
async fn websocket_transport_round_trip_with_mosquitto_through_a_bridge() {
    let broker = Mosquitto::start();
    websocket_round_trip(ws_bridge(broker.port).await).await;
}

#[tokio::test]
async fn websocket_transport_round_trip_with_tern_websocket_listener() {
    let broker = AnyBroker::start_with(BrokerKind::Tern, "protocol websockets\nallow_anonymous true\n");
    websocket_round_trip(broker.port).await;
}

struct Pki {
    ca: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

fn pki(dir: &std::path::Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert =
        CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
    let p = Pki { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server.key") };
    std::fs::write(&p.ca, ca.pem()).unwrap();
    std::fs::write(&p.cert, cert.pem()).unwrap();
    std::fs::write(&p.key, key.serialize_pem()).unwrap();
    p
}

async fn tls_verifies_the_chain_and_host_name_and_insecure_skips_only_the_name(kind: BrokerKind) {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let conf = format!(
        "allow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\n",
        pki.ca.display(),
        pki.cert.display(),
        pki.key.display()
    );
    let broker = AnyBroker::start_with(kind, &conf);
    let tls = TlsOptions { ca_file: Some(pki.ca.clone()), ..TlsOptions::default() };
    // The certificate names localhost.
    let ok = ConnectOptions::new("localhost", broker.port).transport(Transport::Tls(tls.clone()));
    let (c, mut events, _) = Client::connect(ok).await.unwrap();
    c.subscribe("tls", QoS::AtLeastOnce).await.unwrap();
    c.publish("tls", "secret", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.payload, "secret");
    // By address the name does not match: refused unless insecure.
    let by_ip = ConnectOptions::new("127.0.0.1", broker.port).transport(Transport::Tls(tls.clone()));
    assert!(Client::connect(by_ip.clone()).await.is_err());
    let insecure = TlsOptions { insecure: true, ..tls };
    let by_ip = by_ip.transport(Transport::Tls(insecure));
    Client::connect(by_ip).await.unwrap();
    // The OS roots do not know our CA.
    let native =
        ConnectOptions::new("localhost", broker.port).transport(Transport::Tls(TlsOptions::default()));
    assert!(Client::connect(native).await.is_err());
}
