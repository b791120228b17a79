//! Sessions end to end, against Tern and against Mosquitto: the will, persistent sessions with messages
//! queued while offline, reconnection, and redelivery of messages whose acknowledgement was lost.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[macro_use]
mod common;

use std::time::Duration;

use common::{
    eventually, next_event, next_message, no_message_within, options, within, AnyBroker, BrokerKind,
};
use tern_client::{
    Client, ConnectOptions, Disconnect, Event, ProtocolVersion, Publish, QoS, ReasonCode, Reconnect,
};
use tern_codec::{decode, Limits, Packet, PacketType};
use tern_test_support::proxy::LossyLink;

against_both_brokers!(
    will_is_published_on_disconnect_with_will_message,
    will_is_published_when_the_connection_is_lost,
    will_is_discarded_on_normal_disconnect,
    persistent_session_keeps_subscriptions_and_queued_messages,
    reconnects_after_the_broker_restarts_and_resumes_publishing,
    qos1_publish_whose_puback_was_lost_is_sent_again_with_dup,
    qos2_publish_whose_pubrec_was_lost_is_delivered_exactly_once,
    qos2_pubrel_whose_pubcomp_was_lost_is_sent_again,
    incoming_qos2_whose_pubrel_was_lost_is_delivered_once,
);

const FAST: Reconnect =
    Reconnect { min_delay: Duration::from_millis(50), max_delay: Duration::from_millis(200) };

async fn will_is_published_on_disconnect_with_will_message(kind: BrokerKind) {
    // Test whether the will is published when a 5.0 client disconnects with reason 0x04.
    let broker = AnyBroker::start(kind);
    let (watcher, mut events, _) =
        Client::connect(options(broker.port, ProtocolVersion::V5, "w")).await.unwrap();
    watcher.subscribe("status/+", QoS::AtLeastOnce).await.unwrap();
    let opts = options(broker.port, ProtocolVersion::V5, "dev1").will(
        "status/dev1",
        "offline",
        QoS::AtLeastOnce,
        false,
    );
    let (device, _de, _) = Client::connect(opts).await.unwrap();
    device.disconnect_with(Disconnect::new(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE)).await.unwrap();
    let m = next_message(&mut events).await;
    assert_eq!((&m.topic[..], &m.payload[..]), ("status/dev1", &b"offline"[..]));
}

async fn will_is_published_when_the_connection_is_lost(kind: BrokerKind) {
    // [MQTT-3.1.2-8] a connection closed without DISCONNECT publishes the will, at every version.
    let broker = AnyBroker::start(kind);
    let (watcher, mut events, _) =
        Client::connect(options(broker.port, ProtocolVersion::V311, "w")).await.unwrap();
    watcher.subscribe("status/#", QoS::AtLeastOnce).await.unwrap();
    for version in common::VERSIONS {
        let link = LossyLink::start(broker.port).await;
        let opts = options(link.port, version, "dev").will(
            "status/dev",
            version.to_string(),
            QoS::AtLeastOnce,
            false,
        );
        let (_device, _de, _) = Client::connect(opts).await.unwrap();
        link.cut();
        let m = next_message(&mut events).await;
        assert_eq!((&m.topic[..], &m.payload[..]), ("status/dev", version.to_string().as_bytes()));
    }
}

async fn will_is_discarded_on_normal_disconnect(kind: BrokerKind) {
    // [MQTT-3.1.2-10] the will is removed when the server receives DISCONNECT (normal disconnection).
    let broker = AnyBroker::start(kind);
    let (watcher, mut events, _) =
        Client::connect(options(broker.port, ProtocolVersion::V311, "w")).await.unwrap();
    watcher.subscribe("status/#", QoS::AtLeastOnce).await.unwrap();
    let opts =
        options(broker.port, ProtocolVersion::V311, "d").will("status/d", "offline", QoS::AtMostOnce, false);
    let (device, _de, _) = Client::connect(opts).await.unwrap();
    device.disconnect().await.unwrap();
    watcher.publish("status/marker", "m", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.topic, "status/marker");
}

async fn persistent_session_keeps_subscriptions_and_queued_messages(kind: BrokerKind) {
    // Test whether a clean_session=false client gets session_present and the QoS 1/2 messages sent while away.
    let broker = AnyBroker::start(kind);
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut opts = options(broker.port, version, "persist").clean_start(false);
        if version == ProtocolVersion::V5 {
            opts = opts.session_expiry(300);
        }
        let (c, _e, connack) = Client::connect(opts.clone()).await.unwrap();
        assert!(!connack.session_present);
        c.subscribe("queue/#", QoS::ExactlyOnce).await.unwrap();
        c.disconnect().await.unwrap();
        let (p, _pe, _) = Client::connect(options(broker.port, version, "p")).await.unwrap();
        p.publish("queue/a", "1", QoS::AtLeastOnce, false).await.unwrap();
        p.publish("queue/b", "2", QoS::ExactlyOnce, false).await.unwrap();
        p.publish("queue/c", "3", QoS::AtLeastOnce, false).await.unwrap();
        let (c, mut events, connack) = Client::connect(opts.clone()).await.unwrap();
        assert!(connack.session_present, "{version}");
        for (payload, qos) in [("1", QoS::AtLeastOnce), ("2", QoS::ExactlyOnce), ("3", QoS::AtLeastOnce)] {
            let m = next_message(&mut events).await;
            assert_eq!((&m.payload[..], m.qos), (payload.as_bytes(), qos), "{version}");
        }
        c.disconnect().await.unwrap();
        // Clean start again: the session is gone.
        let (c, _e, connack) = Client::connect(opts.clone().clean_start(true)).await.unwrap();
        assert!(!connack.session_present);
        c.disconnect().await.unwrap();
    }
}

async fn reconnects_after_the_broker_restarts_and_resumes_publishing(kind: BrokerKind) {
    let broker = AnyBroker::start(kind);
    let port = broker.port;
    let opts = options(port, ProtocolVersion::V311, "rc").reconnect(FAST);
    let (c, mut events, _) = Client::connect(opts).await.unwrap();
    drop(broker);
    assert!(matches!(next_event(&mut events).await, Event::Disconnected(_)));
    let _again = AnyBroker::start_on(kind, port, "allow_anonymous true\n");
    match tokio::time::timeout(Duration::from_secs(10), events.recv()).await.unwrap() {
        Some(Event::Reconnected(connack)) => assert_eq!(connack.reason_code, ReasonCode::SUCCESS),
        other => panic!("expected Reconnected, got {other:?}"),
    }
    c.subscribe("after", QoS::AtLeastOnce).await.unwrap();
    c.publish("after", "restart", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.payload, "restart");
}

/// A persistent 5.0 session through `link`, reconnecting quickly.
fn through(link: &LossyLink, id: &str) -> ConnectOptions {
    options(link.port, ProtocolVersion::V5, id).clean_start(false).session_expiry(300).reconnect(FAST)
}

/// Waits for the client to notice the cut and come back with its session.
async fn await_reconnect(events: &mut tern_client::Events) {
    loop {
        match next_event(events).await {
            Event::Reconnected(connack) => {
                assert!(connack.session_present);
                return;
            }
            Event::Disconnected(_) => {}
            Event::Message(m) => panic!("unexpected message {m:?} before reconnecting"),
        }
    }
}

/// The PUBLISH packets the client sent through `link`.
fn publishes_sent(link: &LossyLink) -> Vec<Publish> {
    let limits = Limits::new(ProtocolVersion::V5);
    link.from_client()
        .into_iter()
        .filter_map(|frame| match decode(&mut frame.as_ref().into(), &limits) {
            Ok(Some(Packet::Publish(p))) => Some(p),
            _ => None,
        })
        .collect()
}

async fn qos1_publish_whose_puback_was_lost_is_sent_again_with_dup(kind: BrokerKind) {
    // [MQTT-4.4.0-1] an unacknowledged PUBLISH is sent again, with its identifier and DUP set
    // [MQTT-3.3.1-1], when the session resumes; the caller learns the outcome once the PUBACK arrives.
    let broker = AnyBroker::start(kind);
    let (watcher, mut seen, _) =
        Client::connect(options(broker.port, ProtocolVersion::V5, "w")).await.unwrap();
    watcher.subscribe("rd/#", QoS::AtLeastOnce).await.unwrap();
    let link = LossyLink::start(broker.port).await;
    let (c, mut events, _) = Client::connect(through(&link, "rd1")).await.unwrap();
    link.lose_from_broker(&[PacketType::PubAck]);
    let delivery =
        c.publish_message(Publish { qos: QoS::AtLeastOnce, ..Publish::new("rd/q1", "again") }).await.unwrap();
    assert_eq!(next_message(&mut seen).await.payload, "again");
    eventually("the PUBACK to be lost", || link.lost() == 1).await;
    link.lose_from_broker(&[]);
    link.cut();
    await_reconnect(&mut events).await;
    assert_eq!(within("the acknowledgement", delivery).await.unwrap(), ReasonCode::SUCCESS);
    let sent = publishes_sent(&link);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!((sent[0].dup, sent[1].dup), (false, true));
    assert_eq!(sent[0].packet_id, sent[1].packet_id);
}

async fn qos2_publish_whose_pubrec_was_lost_is_delivered_exactly_once(kind: BrokerKind) {
    // [MQTT-4.3.3] the resent PUBLISH carries the same identifier, which the broker still holds, so the
    // subscriber gets the message once whichever way the broker hands QoS 2 messages on (PUBLISH or PUBREL).
    let broker = AnyBroker::start(kind);
    let (watcher, mut seen, _) =
        Client::connect(options(broker.port, ProtocolVersion::V5, "w")).await.unwrap();
    watcher.subscribe("rd/#", QoS::ExactlyOnce).await.unwrap();
    let link = LossyLink::start(broker.port).await;
    let (c, mut events, _) = Client::connect(through(&link, "rd2")).await.unwrap();
    link.lose_from_broker(&[PacketType::PubRec]);
    let delivery =
        c.publish_message(Publish { qos: QoS::ExactlyOnce, ..Publish::new("rd/q2", "once") }).await.unwrap();
    eventually("the PUBREC to be lost", || link.lost() == 1).await;
    link.lose_from_broker(&[]);
    link.cut();
    await_reconnect(&mut events).await;
    assert_eq!(within("the acknowledgement", delivery).await.unwrap(), ReasonCode::SUCCESS);
    let sent = publishes_sent(&link);
    assert_eq!(sent.iter().map(|p| p.dup).collect::<Vec<_>>(), vec![false, true]);
    assert_eq!(next_message(&mut seen).await.payload, "once");
    watcher.publish("rd/marker", "m", QoS::ExactlyOnce, false).await.unwrap();
    assert_eq!(next_message(&mut seen).await.payload, "m", "the QoS 2 message arrived twice");
}

async fn qos2_pubrel_whose_pubcomp_was_lost_is_sent_again(kind: BrokerKind) {
    // [MQTT-4.4.0-1] an exchange past PUBREC resumes with PUBREL, not with the message.
    let broker = AnyBroker::start(kind);
    let (watcher, mut seen, _) =
        Client::connect(options(broker.port, ProtocolVersion::V5, "w")).await.unwrap();
    watcher.subscribe("rd/#", QoS::ExactlyOnce).await.unwrap();
    let link = LossyLink::start(broker.port).await;
    let (c, mut events, _) = Client::connect(through(&link, "rd3")).await.unwrap();
    link.lose_from_broker(&[PacketType::PubComp]);
    let delivery = c
        .publish_message(Publish { qos: QoS::ExactlyOnce, ..Publish::new("rd/q2", "released") })
        .await
        .unwrap();
    assert_eq!(next_message(&mut seen).await.payload, "released");
    eventually("the PUBCOMP to be lost", || link.lost() == 1).await;
    link.lose_from_broker(&[]);
    link.cut();
    await_reconnect(&mut events).await;
    assert_eq!(within("the acknowledgement", delivery).await.unwrap(), ReasonCode::SUCCESS);
    let pubrels = link.from_client().iter().filter(|f| f[0] >> 4 == PacketType::PubRel as u8).count();
    assert_eq!(pubrels, 2);
    assert_eq!(publishes_sent(&link).len(), 1, "the message itself is not sent again");
    no_message_within(&mut seen, Duration::from_millis(300)).await;
}

async fn incoming_qos2_whose_pubrel_was_lost_is_delivered_once(kind: BrokerKind) {
    // [MQTT-4.4.0-1] the broker sends PUBREL again on the resumed session; the client kept the identifier
    // across the reconnection, so it completes the exchange (PUBCOMP 0x00) and delivers nothing twice.
    let broker = AnyBroker::start(kind);
    let link = LossyLink::start(broker.port).await;
    let (c, mut events, _) = Client::connect(through(&link, "rd4")).await.unwrap();
    c.subscribe("in/#", QoS::ExactlyOnce).await.unwrap();
    link.lose_from_broker(&[PacketType::PubRel]);
    let (p, _pe, _) = Client::connect(options(broker.port, ProtocolVersion::V5, "p")).await.unwrap();
    // The PUBCOMP the publisher awaits does not depend on the subscriber's exchange.
    p.publish("in/x", "exactly once", QoS::ExactlyOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.payload, "exactly once");
    eventually("the PUBREL to be lost", || link.lost() == 1).await;
    link.lose_from_broker(&[]);
    link.cut();
    await_reconnect(&mut events).await;
    p.publish("in/marker", "m", QoS::ExactlyOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.payload, "m", "the QoS 2 message arrived twice");
    let pubcomps = || {
        let limits = Limits::new(ProtocolVersion::V5);
        link.from_client()
            .into_iter()
            .filter_map(|frame| match decode(&mut frame.as_ref().into(), &limits) {
                Ok(Some(Packet::PubComp(ack))) => Some(ack.reason_code),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // The marker's exchange ends after its delivery.
    eventually("PUBCOMP for both messages", || pubcomps().len() == 2).await;
    assert_eq!(pubcomps(), vec![ReasonCode::SUCCESS, ReasonCode::SUCCESS]);
}
