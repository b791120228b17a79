//! Sessions over real sockets: clean and persistent sessions, offline queueing, redelivery of unacknowledged
//! messages with DUP in order, QoS 2 state across connections, and 5.0 session expiry including the value
//! updated at DISCONNECT (MQTT 3.1.1 and 5.0 sections 3.1.2.4, 3.1.2.11, 4.1, 4.4).

use std::time::Duration;

use tern_broker::config::Config;
use tern_codec::{Ack, Connect, Disconnect, LastWill, Packet, ProtocolVersion, QoS, ReasonCode};
use tern_test_support::raw::{connect_packet, publish_packet};
use tern_test_support::{pid, RawClient, TestBroker};

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const QUIET: Duration = Duration::from_millis(300);

/// A CONNECT resuming (or starting) a session that outlives the connection: clean session 0 (3.x), clean
/// start 0 with `expiry` seconds (5.0).
fn persistent(version: ProtocolVersion, id: &str, expiry: u32) -> Connect {
    let mut connect = connect_packet(version, id);
    connect.clean_start = false;
    if version.is_v5() {
        connect.properties.session_expiry_interval = Some(expiry);
    }
    connect
}

async fn resume(broker: &TestBroker, connect: Connect) -> (RawClient, bool) {
    let (client, ack) = RawClient::connect_accepted(broker.addr(), connect).await;
    (client, ack.session_present)
}

async fn publisher(broker: &TestBroker) -> RawClient {
    RawClient::connect_ok(broker.addr(), V311, "session-pub").await
}

/// [MQTT-3.1.2-6] (3.1.1) With clean session 1 the session, subscriptions included, ends with the
/// connection: nothing is delivered to the next one.
#[tokio::test]
async fn clean_session_ends_with_the_connection_mqtt_3_1_2_6() {
    let broker = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "clean").await;
    sub.subscribe("clean/t", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    assert!(broker.shared().sessions.get("clean").is_none());
    let mut p = publisher(&broker).await;
    p.publish_at("clean/t", "lost", QoS::AtLeastOnce).await;
    let (mut sub, present) = resume(&broker, persistent(V311, "clean", 0)).await;
    assert!(!present);
    sub.expect_nothing(QUIET).await;
    assert_eq!(broker.shared().router.subscription_count(), 0);
}

/// [MQTT-3.1.2-4], [MQTT-3.1.2-5] (3.1.1), [MQTT-3.1.2-5], [MQTT-3.1.2-23] (5.0) A persistent session keeps
/// its subscriptions while the client is away and stores the QoS 1 and QoS 2 messages they match; they
/// are delivered, in order, when it comes back. QoS 0 messages are not queued by default.
#[tokio::test]
async fn persistent_session_queues_qos1_and_qos2_while_offline_mqtt_3_1_2_5() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let id = format!("offline{}", version.level());
        let (mut sub, _) = resume(&broker, persistent(version, &id, 300)).await;
        sub.subscribe("offline/t", QoS::ExactlyOnce).await;
        sub.disconnect().await;

        let mut p = publisher(&broker).await;
        p.publish_at("offline/t", "q1", QoS::AtLeastOnce).await;
        p.publish_at("offline/t", "q0", QoS::AtMostOnce).await;
        p.publish_at("offline/t", "q2", QoS::ExactlyOnce).await;
        p.publish_at("offline/t", "q1 again", QoS::AtLeastOnce).await;
        p.disconnect().await;

        let (mut sub, present) = resume(&broker, persistent(version, &id, 300)).await;
        assert!(present, "{version:?}");
        for (payload, qos) in
            [("q1", QoS::AtLeastOnce), ("q2", QoS::ExactlyOnce), ("q1 again", QoS::AtLeastOnce)]
        {
            let got = sub.receive_and_ack().await;
            assert_eq!((got.payload.as_ref(), got.qos), (payload.as_bytes(), qos), "{version:?}");
        }
        sub.expect_nothing(QUIET).await;
        // The subscription is still there for messages published now.
        let mut p = publisher(&broker).await;
        p.publish_at("offline/t", "live", QoS::AtMostOnce).await;
        assert_eq!(sub.expect_publish().await.payload, "live");
        sub.disconnect().await;
    }
}

/// [MQTT-3.1.2-5] (3.1.1: QoS 0 messages MAY be stored) With `queue_qos0_messages`, QoS 0 messages are
/// queued for offline persistent sessions too, in order with the others.
#[tokio::test]
async fn qos0_is_queued_offline_when_configured() {
    let mut config = Config::default();
    config.limits.queue_qos0_messages = true;
    let broker = TestBroker::start(config).await;
    let (mut sub, _) = resume(&broker, persistent(V311, "q0", 0)).await;
    sub.subscribe("q0/t", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut p = publisher(&broker).await;
    p.publish_at("q0/t", "a", QoS::AtMostOnce).await;
    p.publish_at("q0/t", "b", QoS::AtLeastOnce).await;
    p.publish_at("q0/t", "c", QoS::AtMostOnce).await;
    p.ping().await;
    let (mut sub, _) = resume(&broker, persistent(V311, "q0", 0)).await;
    for (payload, qos) in [("a", QoS::AtMostOnce), ("b", QoS::AtLeastOnce), ("c", QoS::AtMostOnce)] {
        let got = sub.receive_and_ack().await;
        assert_eq!((got.payload.as_ref(), got.qos), (payload.as_bytes(), qos));
    }
}

/// [MQTT-4.4.0-1], [MQTT-3.3.1-1] When a persistent session resumes, the broker sends the unacknowledged
/// QoS 1 messages again with their original packet identifiers, DUP 1, in their original order, before
/// anything new.
#[tokio::test]
async fn unacknowledged_messages_are_redelivered_with_dup_in_order_mqtt_4_4_0_1() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let id = format!("redeliver{}", version.level());
        let (mut sub, _) = resume(&broker, persistent(version, &id, 300)).await;
        sub.subscribe("redeliver/t", QoS::AtLeastOnce).await;
        let mut p = publisher(&broker).await;
        for i in 1..=3 {
            p.publish_at("redeliver/t", format!("m{i}"), QoS::AtLeastOnce).await;
        }
        let mut first = Vec::new();
        for _ in 1..=3 {
            let got = sub.expect_publish().await;
            assert!(!got.dup);
            first.push((got.packet_id, got.payload));
        }
        sub.drop_connection(); // no PUBACK was sent
        p.publish_at("redeliver/t", "m4", QoS::AtLeastOnce).await;

        let (mut sub, present) = resume(&broker, persistent(version, &id, 300)).await;
        assert!(present);
        for (packet_id, payload) in &first {
            let got = sub.expect_publish().await;
            assert!(got.dup, "redelivery has DUP 1 {version:?}");
            assert_eq!(
                (&got.packet_id, &got.payload),
                (packet_id, payload),
                "same id, same order {version:?}"
            );
            sub.ack(&got).await;
        }
        let fresh = sub.receive_and_ack().await;
        assert_eq!(fresh.payload, "m4");
        assert!(!fresh.dup);
        sub.expect_nothing(QUIET).await;
        sub.disconnect().await;
        p.disconnect().await;
    }
}

/// [MQTT-3.3.4-9] A session resumed by a connection with a smaller Receive Maximum gets its unacknowledged
/// messages again only as far as that allows, the rest as it acknowledges, still in order [MQTT-4.6.0-1].
#[tokio::test]
async fn redelivery_respects_a_smaller_receive_maximum_of_the_new_connection_mqtt_3_3_4_9() {
    let broker = TestBroker::start_default().await;
    let (mut sub, _) = resume(&broker, persistent(V5, "narrower", 300)).await;
    sub.subscribe("narrower/t", QoS::AtLeastOnce).await;
    let mut p = publisher(&broker).await;
    for i in 1..=4 {
        p.publish_at("narrower/t", format!("m{i}"), QoS::AtLeastOnce).await;
    }
    let mut first = Vec::new();
    for _ in 1..=4 {
        let got = sub.expect_publish().await;
        first.push((got.packet_id, got.payload));
    }
    sub.drop_connection(); // no PUBACK was sent

    let mut connect = persistent(V5, "narrower", 300);
    connect.properties.receive_maximum = Some(2);
    let (mut sub, present) = resume(&broker, connect).await;
    assert!(present);
    let mut window = vec![sub.expect_publish().await, sub.expect_publish().await];
    sub.expect_nothing(QUIET).await; // the new window is full
    let mut resent = Vec::new();
    while !window.is_empty() {
        let got = window.remove(0);
        assert!(got.dup, "redelivery has DUP 1");
        sub.ack(&got).await;
        resent.push((got.packet_id, got.payload));
        if resent.len() + window.len() < first.len() {
            window.push(sub.expect_publish().await);
        }
    }
    assert_eq!(resent, first, "same ids, same order");
    sub.expect_nothing(QUIET).await;
    sub.disconnect().await;
    p.disconnect().await;
}

/// [MQTT-4.4.0-1] An outbound QoS 2 exchange past PUBREC is resumed with PUBREL (not the PUBLISH again); one
/// still waiting for PUBREC is resumed with the PUBLISH, DUP 1.
#[tokio::test]
async fn qos2_exchanges_resume_with_pubrel_or_dup_publish_mqtt_4_4_0_1() {
    let broker = TestBroker::start_default().await;
    let (mut sub, _) = resume(&broker, persistent(V5, "resume2", 300)).await;
    sub.subscribe("resume2/t", QoS::ExactlyOnce).await;
    let mut p = publisher(&broker).await;
    p.publish_at("resume2/t", "recd", QoS::ExactlyOnce).await;
    p.publish_at("resume2/t", "unrecd", QoS::ExactlyOnce).await;
    let recd = sub.expect_publish().await;
    let unrecd = sub.expect_publish().await;
    let recd_id = recd.packet_id.expect("packet id");
    sub.send(Packet::PubRec(Ack::new(recd_id))).await;
    assert_eq!(sub.expect_pubrel().await.packet_id, recd_id);
    sub.drop_connection(); // neither PUBCOMP nor the second PUBREC

    let (mut sub, present) = resume(&broker, persistent(V5, "resume2", 300)).await;
    assert!(present);
    assert_eq!(sub.expect_pubrel().await.packet_id, recd_id);
    let again = sub.expect_publish().await;
    assert!(again.dup);
    assert_eq!((again.packet_id, again.payload.clone()), (unrecd.packet_id, unrecd.payload.clone()));
    sub.send(Packet::PubComp(Ack::new(recd_id))).await;
    sub.ack(&again).await;
    sub.expect_nothing(QUIET).await;
}

/// [MQTT-4.3.3-10], [MQTT-4.4.0-1] The broker remembers a QoS 2 message it sent PUBREC for across the
/// publisher's reconnection: the PUBLISH sent again is not delivered twice, and the PUBREL completes it.
#[tokio::test]
async fn inbound_qos2_state_survives_reconnection() {
    let broker = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "in2-sub").await;
    sub.subscribe("in2/t", QoS::AtMostOnce).await;
    for version in [V311, V5] {
        let id = format!("in2-{}", version.level());
        let (mut p, _) = resume(&broker, persistent(version, &id, 300)).await;
        let mut publish = publish_packet("in2/t", "exactly once", QoS::ExactlyOnce);
        publish.packet_id = Some(pid(21));
        p.send(Packet::Publish(publish.clone())).await;
        assert_eq!(p.expect_pubrec().await.packet_id, pid(21));
        p.drop_connection();

        let (mut p, present) = resume(&broker, persistent(version, &id, 300)).await;
        assert!(present);
        publish.dup = true;
        p.send(Packet::Publish(publish)).await;
        assert_eq!(p.expect_pubrec().await.packet_id, pid(21));
        p.send(Packet::PubRel(Ack::new(pid(21)))).await;
        let comp = p.expect_pubcomp().await;
        assert_eq!((comp.packet_id, comp.reason_code), (pid(21), ReasonCode::SUCCESS));
        assert_eq!(sub.expect_publish().await.payload, "exactly once");
        sub.expect_nothing(QUIET).await;
        p.disconnect().await;
    }
}

/// [MQTT-3.3.4-9] A publisher's send quota starts afresh on each connection (MQTT 5.0 section 4.9): QoS 2
/// messages it left awaiting PUBREL do not count against the Receive Maximum of the new connection until it
/// sends them again, so a new message is accepted, not refused with 0x93.
#[tokio::test]
async fn qos2_left_awaiting_pubrel_does_not_use_up_the_receive_maximum_of_the_next_connection() {
    let mut config = Config::default();
    config.limits.max_inflight_messages = 2;
    let broker = TestBroker::start(config).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "quota-sub").await;
    sub.subscribe("quota/t", QoS::AtMostOnce).await;
    let (mut p, _) = resume(&broker, persistent(V5, "quota-pub", 300)).await;
    for n in [1, 2] {
        let mut publish = publish_packet("quota/t", format!("q2-{n}"), QoS::ExactlyOnce);
        publish.packet_id = Some(pid(n));
        p.send(Packet::Publish(publish)).await;
        assert_eq!(p.expect_pubrec().await.packet_id, pid(n));
    }
    p.drop_connection(); // no PUBREL: both identifiers stay with the session

    let (mut p, present) = resume(&broker, persistent(V5, "quota-pub", 300)).await;
    assert!(present);
    let mut publish = publish_packet("quota/t", "q1", QoS::AtLeastOnce);
    publish.packet_id = Some(pid(3));
    p.send(Packet::Publish(publish)).await;
    assert_eq!(p.expect_puback().await.packet_id, pid(3));
    for n in [1, 2] {
        p.send(Packet::PubRel(Ack::new(pid(n)))).await;
        assert_eq!(p.expect_pubcomp().await.reason_code, ReasonCode::SUCCESS);
    }
    let got: Vec<_> = [sub.expect_publish().await, sub.expect_publish().await, sub.expect_publish().await]
        .into_iter()
        .map(|m| m.payload)
        .collect();
    assert_eq!(got, ["q2-1", "q2-2", "q1"]);
    p.disconnect().await;
}

/// 5.0 (3.1.2.11.2) Session Expiry Interval 0, the default, ends the session with the connection even with
/// clean start 0.
#[tokio::test]
async fn v5_session_expiry_zero_ends_the_session_with_the_connection() {
    let broker = TestBroker::start_default().await;
    let (mut sub, _) = resume(&broker, persistent(V5, "expiry0", 0)).await;
    sub.subscribe("expiry0/t", QoS::AtLeastOnce).await;
    sub.drop_connection();
    let mut p = publisher(&broker).await;
    p.publish_at("expiry0/t", "lost", QoS::AtLeastOnce).await;
    let (mut sub, present) = resume(&broker, persistent(V5, "expiry0", 0)).await;
    assert!(!present);
    sub.expect_nothing(QUIET).await;
}

/// [MQTT-3.1.2-23] (5.0) A session lives for its Session Expiry Interval after the connection closes:
/// resumed within it (session present 1, queued messages delivered), gone after it with its queue.
#[tokio::test]
async fn v5_session_expires_after_its_interval_mqtt_3_1_2_23() {
    let broker = TestBroker::start_default().await;
    let (mut sub, _) = resume(&broker, persistent(V5, "expiring", 1)).await;
    sub.subscribe("expiring/t", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut p = publisher(&broker).await;
    p.publish_at("expiring/t", "kept", QoS::AtLeastOnce).await;
    let (mut sub, present) = resume(&broker, persistent(V5, "expiring", 1)).await;
    assert!(present, "resumed within the interval");
    assert_eq!(sub.receive_and_ack().await.payload, "kept");
    sub.disconnect().await;

    p.publish_at("expiring/t", "expires with the session", QoS::AtLeastOnce).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(broker.shared().sessions.get("expiring").is_none());
    let (mut sub, present) = resume(&broker, persistent(V5, "expiring", 1)).await;
    assert!(!present, "expired");
    sub.expect_nothing(QUIET).await;
}

/// 5.0 (3.14.2.2.2) The Session Expiry Interval sent with DISCONNECT replaces the one from CONNECT: 0 ends
/// the session now; a longer one keeps it longer.
#[tokio::test]
async fn v5_session_expiry_is_updated_at_disconnect() {
    let broker = TestBroker::start_default().await;
    let (client, _) = resume(&broker, persistent(V5, "upd-end", 300)).await;
    let mut end_now = Disconnect::new(ReasonCode::NORMAL_DISCONNECTION);
    end_now.properties.session_expiry_interval = Some(0);
    client.disconnect_with(end_now).await;
    let (_client, present) = resume(&broker, persistent(V5, "upd-end", 300)).await;
    assert!(!present, "DISCONNECT with expiry 0 ended the session");

    let (client, _) = resume(&broker, persistent(V5, "upd-keep", 1)).await;
    let mut keep = Disconnect::new(ReasonCode::NORMAL_DISCONNECTION);
    keep.properties.session_expiry_interval = Some(300);
    client.disconnect_with(keep).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (_client, present) = resume(&broker, persistent(V5, "upd-keep", 1)).await;
    assert!(present, "DISCONNECT with expiry 300 outlived the 1 s of CONNECT");
}

/// 5.0 (3.14.2.2.2) Setting a non-zero Session Expiry Interval at DISCONNECT after 0 at CONNECT is a
/// protocol error: the broker answers DISCONNECT 0x82, does not treat it as a normal DISCONNECT (the will
/// is published), and the session ends.
#[tokio::test]
async fn v5_session_expiry_from_zero_to_non_zero_at_disconnect_is_a_protocol_error() {
    let broker = TestBroker::start_default().await;
    let mut watcher = RawClient::connect_ok(broker.addr(), V311, "zero-watch").await;
    watcher.subscribe("zero/will", QoS::AtMostOnce).await;
    let mut connect = persistent(V5, "zero", 0);
    connect.will = Some(LastWill {
        topic: "zero/will".into(),
        payload: "not a normal disconnect".into(),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Default::default(),
    });
    let (mut client, _) = resume(&broker, connect).await;
    let mut disconnect = Disconnect::new(ReasonCode::NORMAL_DISCONNECTION);
    disconnect.properties.session_expiry_interval = Some(60);
    client.send(Packet::Disconnect(disconnect)).await;
    client.expect_disconnect(ReasonCode::PROTOCOL_ERROR).await;
    assert_eq!(watcher.expect_publish().await.payload, "not a normal disconnect");
    let (_client, present) = resume(&broker, persistent(V5, "zero", 60)).await;
    assert!(!present);
}

/// `persistent_client_expiration` ends 3.x persistent sessions (which never expire on their own) once
/// their client has been away that long.
#[tokio::test]
async fn persistent_client_expiration_ends_offline_v3_sessions() {
    let mut config = Config::default();
    config.limits.persistent_client_expiration = Some(Duration::from_secs(1));
    let broker = TestBroker::start(config).await;
    let (client, _) = resume(&broker, persistent(V311, "v3-expire", 0)).await;
    client.disconnect().await;
    let (client, present) = resume(&broker, persistent(V311, "v3-expire", 0)).await;
    assert!(present);
    client.disconnect().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_client, present) = resume(&broker, persistent(V311, "v3-expire", 0)).await;
    assert!(!present);
}

/// [MQTT-3.1.4-3], [MQTT-4.4.0-1] A connection taking over a persistent session that had messages in
/// flight gets them again, DUP 1 with their packet identifiers, before the rest of the queue.
#[tokio::test]
async fn takeover_redelivers_what_the_old_connection_left_unacknowledged() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let id = format!("takeover-inflight{}", version.level());
        let (mut old, _) = resume(&broker, persistent(version, &id, 300)).await;
        old.subscribe("tif/t", QoS::AtLeastOnce).await;
        let mut p = publisher(&broker).await;
        p.publish_at("tif/t", "in flight", QoS::AtLeastOnce).await;
        let first = old.expect_publish().await;
        let (mut new, present) = resume(&broker, persistent(version, &id, 300)).await;
        assert!(present);
        old.expect_disconnect(ReasonCode::SESSION_TAKEN_OVER).await;
        let again = new.expect_publish().await;
        assert!(again.dup, "{version:?}");
        assert_eq!((again.packet_id, again.payload.clone()), (first.packet_id, first.payload.clone()));
        new.ack(&again).await;
        p.publish_at("tif/t", "next", QoS::AtLeastOnce).await;
        assert_eq!(new.receive_and_ack().await.payload, "next");
        new.disconnect().await;
        p.disconnect().await;
    }
}

/// [MQTT-3.1.2-4] (5.0), [MQTT-3.1.2-6] (3.1.1) Reconnecting with clean start 1 discards the stored
/// session with its queued messages and subscriptions.
#[tokio::test]
async fn clean_start_discards_the_offline_queue_mqtt_3_1_2_4() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let id = format!("discard-queue{}", version.level());
        let (mut sub, _) = resume(&broker, persistent(version, &id, 300)).await;
        sub.subscribe("dq/t", QoS::AtLeastOnce).await;
        sub.disconnect().await;
        let mut p = publisher(&broker).await;
        p.publish_at("dq/t", "queued", QoS::AtLeastOnce).await;
        let mut clean = persistent(version, &id, 300);
        clean.clean_start = true;
        let (mut sub, present) = resume(&broker, clean).await;
        assert!(!present);
        sub.expect_nothing(QUIET).await;
        p.publish_at("dq/t", "after", QoS::AtLeastOnce).await;
        sub.expect_nothing(QUIET).await;
        sub.disconnect().await;
        p.disconnect().await;
    }
}
