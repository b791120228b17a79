//! MQTT over WebSocket end to end, against Tern's and Mosquitto's own `protocol websockets` listeners:
//! `ws://` and `wss://` (subprotocol `mqtt`, binary frames), at each QoS.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[macro_use]
mod common;

use std::time::Duration;

use common::{next_message, AnyBroker, BrokerKind};
use tern_client::{
    Client, ConnectError, ConnectOptions, Events, ProtocolVersion, QoS, TlsOptions, Transport,
};
use tern_test_support::free_port;
use tern_test_support::pki::Ca;

against_both_brokers!(
    mqtt_over_websocket_round_trips_at_each_qos,
    mqtt_over_secure_websocket_round_trips_at_each_qos,
);

/// A broker with a second listener, `protocol websockets` on the loopback, followed by `extra` lines for
/// it; returns the broker and that listener's port.
fn websocket_broker(kind: BrokerKind, extra: &str) -> (AnyBroker, u16) {
    let port = free_port();
    // Mosquitto hands the host to libwebsockets, which binds to an interface name, not an address.
    let host = match kind {
        BrokerKind::Tern => "127.0.0.1",
        BrokerKind::Mosquitto => "lo",
    };
    let conf = format!("allow_anonymous true\nlistener {port} {host}\nprotocol websockets\n{extra}");
    (AnyBroker::start_with(kind, &conf), port)
}

/// Connects, waiting while the listener is not open yet: the broker counts as started once its first
/// listener accepts, and Mosquitto opens the others a moment later.
async fn connect(options: ConnectOptions) -> (Client, Events) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match Client::connect(options.clone()).await {
            Ok((client, events, _)) => return (client, events),
            Err(ConnectError::Io(e))
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("connecting over {:?}: {e}", options.transport),
        }
    }
}

/// Subscribes, then publishes to itself at QoS 0, 1 and 2 and receives each message at that QoS.
async fn round_trip_at_each_qos(options: ConnectOptions) {
    let (client, mut events) = connect(options).await;
    client.subscribe("ws/#", QoS::ExactlyOnce).await.unwrap();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let payload = format!("{qos:?} over websocket");
        client.publish("ws/t", payload.clone(), qos, false).await.unwrap();
        let m = next_message(&mut events).await;
        assert_eq!((&m.topic[..], &m.payload[..], m.qos), ("ws/t", payload.as_bytes(), qos));
    }
    client.disconnect().await.unwrap();
}

async fn mqtt_over_websocket_round_trips_at_each_qos(kind: BrokerKind) {
    let (_broker, port) = websocket_broker(kind, "");
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let options = ConnectOptions::new("127.0.0.1", port)
            .version(version)
            .transport(Transport::Ws { path: "/mqtt".into() });
        round_trip_at_each_qos(options).await;
    }
}

async fn mqtt_over_secure_websocket_round_trips_at_each_qos(kind: BrokerKind) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let server = ca.server("server");
    let tls = format!("certfile {}\nkeyfile {}\n", server.cert.display(), server.key.display());
    let (_broker, port) = websocket_broker(kind, &tls);
    let tls = TlsOptions { ca_file: Some(ca.cert_path.clone()), ..TlsOptions::default() };
    let options = ConnectOptions::new("localhost", port)
        .version(ProtocolVersion::V5)
        .transport(Transport::Wss { path: "/mqtt".into(), tls });
    round_trip_at_each_qos(options).await;
}
