//! The client's QoS 0, 1 and 2 flows end to end, against Tern and against Mosquitto: every version, many
//! messages in flight, the server's limits (Receive Maximum, Maximum Packet Size), retained messages,
//! keep-alive and refused connections.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[macro_use]
mod common;

use std::time::Duration;

use common::{next_message, options, AnyBroker, BrokerKind, VERSIONS};
use tern_client::{Client, ClientError, ProtocolVersion, Publish, QoS, ReasonCode};

against_both_brokers!(
    qos_0_1_2_round_trip_at_every_version,
    many_qos1_and_qos2_messages_in_flight_all_arrive_in_order,
    a_window_of_one_still_delivers_everything,
    packets_larger_than_the_server_maximum_packet_size_are_refused_not_sent,
    retained_message_is_delivered_on_subscribe_with_retain_flag,
    keep_alive_pings_keep_an_idle_connection_open,
    refused_connection_reports_the_connack_reason,
);

async fn qos_0_1_2_round_trip_at_every_version(kind: BrokerKind) {
    // Test whether a message published at each QoS arrives at a subscriber at that QoS, for 3.1, 3.1.1, 5.0.
    let broker = AnyBroker::start(kind);
    for version in VERSIONS {
        let (sub, mut events, _) = Client::connect(options(broker.port, version, "sub")).await.unwrap();
        let suback = sub.subscribe("home/#", QoS::ExactlyOnce).await.unwrap();
        assert_eq!(suback.reason_codes, vec![ReasonCode::GRANTED_QOS_2]);
        let (publisher, _pe, _) = Client::connect(options(broker.port, version, "pub")).await.unwrap();
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let outcome = publisher.publish("home/temp", "23.5", qos, false).await.unwrap();
            assert!(!outcome.is_error(), "{version} {qos:?}: {outcome}");
            let m = next_message(&mut events).await;
            assert_eq!((&m.topic[..], &m.payload[..], m.qos), ("home/temp", &b"23.5"[..], qos), "{version}");
            assert_eq!(m.packet_id.is_some(), qos != QoS::AtMostOnce);
        }
        publisher.disconnect().await.unwrap();
        sub.disconnect().await.unwrap();
    }
}

async fn many_qos1_and_qos2_messages_in_flight_all_arrive_in_order(kind: BrokerKind) {
    // Test whether pipelined QoS 1/2 publishes (beyond the inflight window of 20) all complete, in order.
    let broker = AnyBroker::start(kind);
    let (sub, mut events, _) = Client::connect(options(broker.port, ProtocolVersion::V5, "s")).await.unwrap();
    sub.subscribe("load", QoS::ExactlyOnce).await.unwrap();
    let (publisher, _pe, _) = Client::connect(options(broker.port, ProtocolVersion::V5, "p")).await.unwrap();
    let mut deliveries = Vec::new();
    for i in 0..200u32 {
        let qos = if i.is_multiple_of(2) { QoS::AtLeastOnce } else { QoS::ExactlyOnce };
        let p = Publish { qos, ..Publish::new("load", i.to_string()) };
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

async fn a_window_of_one_still_delivers_everything(kind: BrokerKind) {
    // [MQTT-3.3.4-7] with one message in flight at a time the rest wait, in order, for the window.
    let broker = AnyBroker::start(kind);
    let (sub, mut events, _) =
        Client::connect(options(broker.port, ProtocolVersion::V311, "s")).await.unwrap();
    sub.subscribe("w/#", QoS::ExactlyOnce).await.unwrap();
    let (publisher, _pe, _) =
        Client::connect(options(broker.port, ProtocolVersion::V311, "p").max_inflight(1)).await.unwrap();
    let mut deliveries = Vec::new();
    for i in 0..30u32 {
        let p = Publish { qos: QoS::ExactlyOnce, ..Publish::new("w/x", i.to_string()) };
        deliveries.push(publisher.publish_message(p).await.unwrap());
    }
    for d in deliveries {
        d.await.unwrap();
    }
    for i in 0..30u32 {
        assert_eq!(next_message(&mut events).await.payload, i.to_string());
    }
}

async fn packets_larger_than_the_server_maximum_packet_size_are_refused_not_sent(kind: BrokerKind) {
    // [MQTT-3.2.2-15] the client never sends a packet above the Maximum Packet Size of the CONNACK; the
    // caller gets the error and the connection carries on.
    let broker = AnyBroker::start_with(kind, "allow_anonymous true\nmax_packet_size 100\n");
    let (c, mut events, connack) =
        Client::connect(options(broker.port, ProtocolVersion::V5, "big")).await.unwrap();
    assert_eq!(connack.properties.maximum_packet_size, Some(100));
    c.subscribe("big/#", QoS::AtLeastOnce).await.unwrap();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let err = c.publish("big/t", vec![b'x'; 100], qos, false).await.unwrap_err();
        assert!(matches!(err, ClientError::PacketTooLarge { max: 100, .. }), "{err}");
    }
    let long_filter = format!("big/{}", "f".repeat(100));
    let err = c.subscribe(long_filter, QoS::AtMostOnce).await.unwrap_err();
    assert!(matches!(err, ClientError::PacketTooLarge { .. }), "{err}");
    // Just under the limit passes: 1 + 1 (length) + 2 + 5 (topic) + 2 (id) + 1 (properties) + 88.
    c.publish("big/t", vec![b'y'; 88], QoS::AtLeastOnce, false).await.unwrap();
    let m = next_message(&mut events).await;
    assert_eq!(m.payload.len(), 88);
    c.disconnect().await.unwrap();
}

async fn retained_message_is_delivered_on_subscribe_with_retain_flag(kind: BrokerKind) {
    let broker = AnyBroker::start(kind);
    let (p, _pe, _) = Client::connect(options(broker.port, ProtocolVersion::V311, "p")).await.unwrap();
    p.publish("home/temp", "23.5", QoS::AtLeastOnce, true).await.unwrap();
    let (s, mut events, _) = Client::connect(options(broker.port, ProtocolVersion::V311, "s")).await.unwrap();
    s.subscribe("home/temp", QoS::AtLeastOnce).await.unwrap();
    let m = next_message(&mut events).await;
    assert!(m.retain);
    assert_eq!(m.payload, "23.5");
}

async fn keep_alive_pings_keep_an_idle_connection_open(kind: BrokerKind) {
    // [MQTT-3.1.2-23] with keep alive 1 s the broker would close an idle connection after 1.5 s.
    let broker = AnyBroker::start(kind);
    let (c, mut events, _) =
        Client::connect(options(broker.port, ProtocolVersion::V311, "ka").keep_alive(1)).await.unwrap();
    c.subscribe("ka", QoS::AtMostOnce).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    c.publish("ka", "still here", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.payload, "still here");
}

async fn refused_connection_reports_the_connack_reason(kind: BrokerKind) {
    let broker = AnyBroker::start_with(kind, "allow_anonymous false\n");
    for (version, code) in [
        (ProtocolVersion::V311, ReasonCode::NOT_AUTHORIZED),
        (ProtocolVersion::V5, ReasonCode::NOT_AUTHORIZED),
    ] {
        let err = Client::connect(options(broker.port, version, "x")).await.unwrap_err();
        assert_eq!(err.refusal(), Some(code), "{version}: {err}");
    }
}
