//! The client against a real Mosquitto broker: QoS flows, will, persistent sessions, TLS, WebSocket.
#![allow(clippy::unwrap_used, clippy::result_large_err)] // tests may unwrap; tungstenite fixes the callback type

use std::time::Duration;

use tern_client::{
    Client, ConnectOptions, Disconnect, Event, Events, ProtocolVersion, QoS, ReasonCode, Reconnect,
    TlsOptions, Transport,
};
use tern_test_support::mosquitto::Mosquitto;

const VERSIONS: [ProtocolVersion; 3] = [ProtocolVersion::V31, ProtocolVersion::V311, ProtocolVersion::V5];

async fn next_message(events: &mut Events) -> tern_client::Publish {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Some(Event::Message(m))) => return m,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("event loop ended"),
            Err(_) => panic!("no message within 5 s"),
        }
    }
}

fn options(broker: &Mosquitto, version: ProtocolVersion, id: &str) -> ConnectOptions {
    ConnectOptions::new("127.0.0.1", broker.port).version(version).client_id(id)
}

#[tokio::test]
async fn qos_0_1_2_round_trip_at_every_version() {
    // Test whether a message published at each QoS arrives at a subscriber at that QoS, for 3.1, 3.1.1, 5.0.
    let broker = Mosquitto::start();
    for version in VERSIONS {
        let (sub, mut events, _) = Client::connect(options(&broker, version, "sub")).await.unwrap();
        let suback = sub.subscribe("home/#", QoS::ExactlyOnce).await.unwrap();
        assert_eq!(suback.reason_codes, vec![ReasonCode::GRANTED_QOS_2]);
        let (publisher, _pe, _) = Client::connect(options(&broker, version, "pub")).await.unwrap();
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            publisher.publish("home/temp", "23.5", qos, false).await.unwrap();
            let m = next_message(&mut events).await;
            assert_eq!((&m.topic[..], &m.payload[..], m.qos), ("home/temp", &b"23.5"[..], qos), "{version}");
            assert_eq!(m.packet_id.is_some(), qos != QoS::AtMostOnce);
        }
        publisher.disconnect().await.unwrap();
        sub.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn many_qos1_and_qos2_messages_in_flight_all_arrive_in_order() {
    // Test whether pipelined QoS 1/2 publishes (beyond the inflight window of 20) all complete, in order.
    let broker = Mosquitto::start();
    let (sub, mut events, _) = Client::connect(options(&broker, ProtocolVersion::V5, "s")).await.unwrap();
    sub.subscribe("load", QoS::ExactlyOnce).await.unwrap();
    let (publisher, _pe, _) = Client::connect(options(&broker, ProtocolVersion::V5, "p")).await.unwrap();
    let mut deliveries = Vec::new();
    for i in 0..200u32 {
        let qos = if i.is_multiple_of(2) { QoS::AtLeastOnce } else { QoS::ExactlyOnce };
        let p = tern_client::Publish { qos, ..tern_client::Publish::new("load", i.to_string()) };
        deliveries.push(publisher.publish_message(p).await.unwrap());
    }
    for d in deliveries {
        let rc = d.await.unwrap();
        assert!(!rc.is_error());
    }
    // [MQTT-4.6.0-6] order is kept per QoS: QoS 2 waits for PUBREL, so the two interleave freely.
    let (mut even, mut odd) = (Vec::new(), Vec::new());
    for _ in 0..200u32 {
        let m = next_message(&mut events).await;
        let n: u32 = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
        if n.is_multiple_of(2) {
            even.push(n)
        } else {
            odd.push(n)
        }
    }
    assert_eq!(even, (0..200).step_by(2).collect::<Vec<_>>());
    assert_eq!(odd, (1..200).step_by(2).collect::<Vec<_>>());
}

#[tokio::test]
async fn will_is_published_on_disconnect_with_will_message() {
    // Test whether the will is published when a 5.0 client disconnects with reason 0x04.
    let broker = Mosquitto::start();
    let (watcher, mut events, _) = Client::connect(options(&broker, ProtocolVersion::V5, "w")).await.unwrap();
    watcher.subscribe("status/+", QoS::AtLeastOnce).await.unwrap();
    let opts =
        options(&broker, ProtocolVersion::V5, "dev1").will("status/dev1", "offline", QoS::AtLeastOnce, false);
    let (device, _de, _) = Client::connect(opts).await.unwrap();
    device.disconnect_with(Disconnect::new(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE)).await.unwrap();
    let m = next_message(&mut events).await;
    assert_eq!((&m.topic[..], &m.payload[..]), ("status/dev1", &b"offline"[..]));
}

#[tokio::test]
async fn will_is_discarded_on_normal_disconnect() {
    // [MQTT-3.1.2-10] the will is removed when the server receives DISCONNECT (normal disconnection).
    let broker = Mosquitto::start();
    let (watcher, mut events, _) =
        Client::connect(options(&broker, ProtocolVersion::V311, "w")).await.unwrap();
    watcher.subscribe("status/#", QoS::AtLeastOnce).await.unwrap();
    let opts =
        options(&broker, ProtocolVersion::V311, "d").will("status/d", "offline", QoS::AtMostOnce, false);
    let (device, _de, _) = Client::connect(opts).await.unwrap();
    device.disconnect().await.unwrap();
    watcher.publish("status/marker", "m", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.topic, "status/marker");
}

#[tokio::test]
async fn persistent_session_keeps_subscriptions_and_queued_messages() {
    // Test whether a clean_session=false client gets session_present and the QoS 1 messages sent while away.
    let broker = Mosquitto::start();
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut opts = options(&broker, version, "persist").clean_start(false);
        if version == ProtocolVersion::V5 {
            opts = opts.session_expiry(300);
        }
        let (c, _e, connack) = Client::connect(opts.clone()).await.unwrap();
        assert!(!connack.session_present);
        c.subscribe("queue/#", QoS::AtLeastOnce).await.unwrap();
        c.disconnect().await.unwrap();
        let (p, _pe, _) = Client::connect(options(&broker, version, "p")).await.unwrap();
        p.publish("queue/a", "1", QoS::AtLeastOnce, false).await.unwrap();
        p.publish("queue/b", "2", QoS::AtLeastOnce, false).await.unwrap();
        let (c, mut events, connack) = Client::connect(opts.clone()).await.unwrap();
        assert!(connack.session_present, "{version}");
        assert_eq!(next_message(&mut events).await.payload, "1");
        assert_eq!(next_message(&mut events).await.payload, "2");
        c.disconnect().await.unwrap();
        // Clean start again: the session is gone.
        let (c, _e, connack) = Client::connect(opts.clone().clean_start(true)).await.unwrap();
        assert!(!connack.session_present);
        c.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn refused_connection_reports_the_connack_reason() {
    let broker = Mosquitto::start_with("allow_anonymous false\n");
    for (version, code) in [
        (ProtocolVersion::V311, ReasonCode::NOT_AUTHORIZED),
        (ProtocolVersion::V5, ReasonCode::NOT_AUTHORIZED),
    ] {
        let err = Client::connect(options(&broker, version, "x")).await.unwrap_err();
        assert_eq!(err.refusal(), Some(code), "{version}: {err}");
    }
}

#[tokio::test]
async fn retained_message_is_delivered_on_subscribe_with_retain_flag() {
    let broker = Mosquitto::start();
    let (p, _pe, _) = Client::connect(options(&broker, ProtocolVersion::V311, "p")).await.unwrap();
    p.publish("home/temp", "23.5", QoS::AtLeastOnce, true).await.unwrap();
    let (s, mut events, _) = Client::connect(options(&broker, ProtocolVersion::V311, "s")).await.unwrap();
    s.subscribe("home/temp", QoS::AtLeastOnce).await.unwrap();
    let m = next_message(&mut events).await;
    assert!(m.retain);
    assert_eq!(m.payload, "23.5");
}

#[tokio::test]
async fn keep_alive_pings_keep_an_idle_connection_open() {
    // [MQTT-3.1.2-23] with keep alive 1 s the broker would close an idle connection after 1.5 s.
    let broker = Mosquitto::start();
    let (c, mut events, _) =
        Client::connect(options(&broker, ProtocolVersion::V311, "ka").keep_alive(1)).await.unwrap();
    c.subscribe("ka", QoS::AtMostOnce).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    c.publish("ka", "still here", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.payload, "still here");
}

#[tokio::test]
async fn reconnects_after_the_broker_restarts_and_resumes_publishing() {
    let broker = Mosquitto::start();
    let port = broker.port;
    let reconnect =
        Reconnect { min_delay: Duration::from_millis(100), max_delay: Duration::from_millis(400) };
    let opts = options(&broker, ProtocolVersion::V311, "rc").reconnect(reconnect);
    let (c, mut events, _) = Client::connect(opts).await.unwrap();
    drop(broker);
    match tokio::time::timeout(Duration::from_secs(5), events.recv()).await.unwrap() {
        Some(Event::Disconnected(_)) => {}
        other => panic!("expected Disconnected, got {other:?}"),
    }
    let _again = Mosquitto::start_on(port, "allow_anonymous true\n");
    match tokio::time::timeout(Duration::from_secs(10), events.recv()).await.unwrap() {
        Some(Event::Reconnected(connack)) => assert_eq!(connack.reason_code, ReasonCode::SUCCESS),
        other => panic!("expected Reconnected, got {other:?}"),
    }
    c.subscribe("after", QoS::AtLeastOnce).await.unwrap();
    c.publish("after", "restart", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.payload, "restart");
}

/// A WebSocket endpoint on 127.0.0.1 that forwards binary frames to the broker's TCP port and back (this
/// mosquitto build cannot open a websockets listener here). Checks the client asks for subprotocol `mqtt`.
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

#[tokio::test]
async fn websocket_transport_round_trip() {
    let broker = Mosquitto::start();
    let port = ws_bridge(broker.port).await;
    let opts = ConnectOptions::new("127.0.0.1", port)
        .version(ProtocolVersion::V5)
        .transport(Transport::Ws { path: "/mqtt".into() });
    let (c, mut events, _) = Client::connect(opts).await.unwrap();
    c.subscribe("ws/t", QoS::AtLeastOnce).await.unwrap();
    c.publish("ws/t", "over websocket", QoS::ExactlyOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.payload, "over websocket");
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

#[tokio::test]
async fn tls_verifies_the_chain_and_host_name_and_insecure_skips_only_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let conf = format!(
        "allow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\n",
        pki.ca.display(),
        pki.cert.display(),
        pki.key.display()
    );
    let broker = Mosquitto::start_with(&conf);
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
