//! Retained messages over real sockets: stored per topic, replaced, cleared by an empty payload, sent on
//! subscribe (through wildcards too) with RETAIN 1, and the RETAIN flag of normally routed messages
//! (MQTT 3.1.1 and 5.0 section 3.3.1.3).

use std::time::Duration;

use tern_codec::{ProtocolVersion, Publish, QoS, RetainHandling, SubscriptionOptions};
use tern_test_support::{RawClient, TestBroker};

const V31: ProtocolVersion = ProtocolVersion::V31;
const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const QUIET: Duration = Duration::from_millis(300);

fn retained(topic: &str, payload: &'static str, qos: QoS) -> Publish {
    Publish { qos, retain: true, ..Publish::new(topic, payload) }
}

async fn publisher(broker: &TestBroker) -> RawClient {
    RawClient::connect_ok(broker.addr(), V311, "retain-pub").await
}

/// [MQTT-3.3.1-5], [MQTT-3.3.1-6] (3.1.1), [MQTT-3.3.1-9] (5.0) A retained message is stored and sent to
/// every later subscription that matches it, with RETAIN 1, to 3.1, 3.1.1 and 5.0 subscribers.
#[tokio::test]
async fn retained_message_is_sent_to_new_subscribers_with_retain_1_mqtt_3_3_1_6() {
    let broker = TestBroker::start_default().await;
    let mut p = publisher(&broker).await;
    p.publish(retained("r/state", "on", QoS::AtLeastOnce)).await;
    for version in [V31, V311, V5] {
        let mut sub = RawClient::connect_ok(broker.addr(), version, "late").await;
        sub.subscribe("r/state", QoS::AtLeastOnce).await;
        let got = sub.receive_and_ack().await;
        assert_eq!((got.topic.as_ref(), got.payload.as_ref()), ("r/state", &b"on"[..]), "{version:?}");
        assert!(got.retain, "{version:?}");
        assert_eq!(got.qos, QoS::AtLeastOnce);
        sub.expect_nothing(Duration::from_millis(100)).await;
        sub.disconnect().await;
    }
}

/// [MQTT-3.3.1-5] (3.1.1) A new retained message on a topic replaces the one stored before.
#[tokio::test]
async fn retained_message_is_replaced_by_the_next_one_mqtt_3_3_1_5() {
    let broker = TestBroker::start_default().await;
    let mut p = publisher(&broker).await;
    p.publish(retained("r/replace", "old", QoS::AtMostOnce)).await;
    p.publish(retained("r/replace", "new", QoS::AtLeastOnce)).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "replace").await;
    sub.subscribe("r/replace", QoS::ExactlyOnce).await;
    let got = sub.receive_and_ack().await;
    assert_eq!((got.payload.as_ref(), got.qos), (&b"new"[..], QoS::AtLeastOnce));
    sub.expect_nothing(QUIET).await;
}

/// [MQTT-3.3.1-10], [MQTT-3.3.1-11] (3.1.1), [MQTT-3.3.1-6], [MQTT-3.3.1-7] (5.0) A retained PUBLISH with
/// an empty payload removes the retained message and is not stored itself; it is still delivered to the
/// current subscribers like any message.
#[tokio::test]
async fn empty_retained_payload_clears_the_retained_message_mqtt_3_3_1_10() {
    let broker = TestBroker::start_default().await;
    let mut p = publisher(&broker).await;
    p.publish(retained("r/clear", "x", QoS::AtLeastOnce)).await;
    let mut current = RawClient::connect_ok(broker.addr(), V311, "current").await;
    current.subscribe("r/clear", QoS::AtLeastOnce).await;
    assert_eq!(current.receive_and_ack().await.payload, "x");

    p.publish(retained("r/clear", "", QoS::AtLeastOnce)).await;
    let cleared = current.receive_and_ack().await;
    assert!(cleared.payload.is_empty());
    for version in [V311, V5] {
        let mut late = RawClient::connect_ok(broker.addr(), version, "after-clear").await;
        late.subscribe("r/#", QoS::AtLeastOnce).await;
        late.expect_nothing(QUIET).await;
        late.disconnect().await;
    }
    assert_eq!(broker.shared().retained_matching("#", std::time::Instant::now()).len(), 0);
}

/// [MQTT-3.3.1-12] (3.1.1), [MQTT-3.3.1-8] (5.0) A PUBLISH with RETAIN 0 neither stores, replaces nor
/// removes the retained message of its topic.
#[tokio::test]
async fn non_retained_publish_leaves_the_retained_message_alone_mqtt_3_3_1_12() {
    let broker = TestBroker::start_default().await;
    let mut p = publisher(&broker).await;
    p.publish(retained("r/keep", "kept", QoS::AtMostOnce)).await;
    p.publish_qos0("r/keep", "live").await;
    p.publish_qos0("r/keep", "").await;
    p.publish_qos0("r/other", "never retained").await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "keep").await;
    sub.subscribe("r/#", QoS::AtMostOnce).await;
    let got = sub.expect_publish().await;
    assert_eq!((got.topic.as_ref(), got.payload.as_ref(), got.retain), ("r/keep", &b"kept"[..], true));
    sub.expect_nothing(QUIET).await;
}

/// [MQTT-3.3.1-6] (3.1.1), [MQTT-3.3.1-9] (5.0) A wildcard subscription receives every retained message it
/// matches, each with RETAIN 1; `$` topics are not matched by a leading wildcard [MQTT-4.7.2-1].
#[tokio::test]
async fn retained_messages_are_sent_through_wildcard_subscriptions_mqtt_3_3_1_9() {
    let broker = TestBroker::start_default().await;
    let mut p = publisher(&broker).await;
    for topic in ["house/kitchen/temp", "house/hall/temp", "house/hall/light", "house", "$meta/house"] {
        p.publish(retained(topic, "v", QoS::AtMostOnce)).await;
    }
    for version in [V311, V5] {
        let mut sub = RawClient::connect_ok(broker.addr(), version, "wild-retained").await;
        sub.subscribe("house/+/temp", QoS::AtMostOnce).await;
        let mut got = Vec::new();
        for _ in 0..2 {
            let publish = sub.expect_publish().await;
            assert!(publish.retain);
            got.push(publish.topic.to_string());
        }
        got.sort();
        assert_eq!(got, ["house/hall/temp", "house/kitchen/temp"], "{version:?}");
        sub.expect_nothing(Duration::from_millis(100)).await;

        sub.subscribe("#", QoS::AtMostOnce).await;
        let mut got = Vec::new();
        for _ in 0..4 {
            let publish = sub.expect_publish().await;
            assert!(publish.retain);
            got.push(publish.topic.to_string());
        }
        got.sort();
        assert_eq!(
            got,
            ["house", "house/hall/light", "house/hall/temp", "house/kitchen/temp"],
            "{version:?}"
        );
        sub.expect_nothing(Duration::from_millis(100)).await;
        sub.disconnect().await;
    }
}

/// [MQTT-3.3.1-9] (3.1.1) A message routed to an existing subscription is sent with RETAIN 0, whatever
/// the publisher set; only messages sent because of a new subscription have RETAIN 1.
#[tokio::test]
async fn v3_routed_message_has_retain_0_mqtt_3_3_1_9() {
    let broker = TestBroker::start_default().await;
    let mut v31 = RawClient::connect_ok(broker.addr(), V31, "routed31").await;
    v31.subscribe("r/routed", QoS::AtMostOnce).await;
    let mut v311 = RawClient::connect_ok(broker.addr(), V311, "routed311").await;
    v311.subscribe("r/routed", QoS::AtMostOnce).await;
    let mut p = publisher(&broker).await;
    p.publish(retained("r/routed", "live", QoS::AtMostOnce)).await;
    for sub in [&mut v31, &mut v311] {
        let got = sub.expect_publish().await;
        assert_eq!(got.payload, "live");
        assert!(!got.retain);
    }
}

/// [MQTT-3.3.1-12], [MQTT-3.3.1-13] (5.0) A routed message keeps the publisher's RETAIN flag only for
/// subscriptions with Retain As Published; otherwise RETAIN is 0.
#[tokio::test]
async fn v5_retain_as_published_keeps_the_retain_flag_mqtt_3_3_1_13() {
    let broker = TestBroker::start_default().await;
    let mut plain = RawClient::connect_ok(broker.addr(), V5, "rap0").await;
    plain.subscribe("r/rap", QoS::AtMostOnce).await;
    let mut rap = RawClient::connect_ok(broker.addr(), V5, "rap1").await;
    let options = SubscriptionOptions { retain_as_published: true, ..SubscriptionOptions::default() };
    rap.subscribe_with(&[("r/rap", options)]).await;
    let mut p = publisher(&broker).await;
    p.publish(retained("r/rap", "flagged", QoS::AtMostOnce)).await;
    p.publish_qos0("r/rap", "unflagged").await;
    assert!(!plain.expect_publish().await.retain);
    assert!(!plain.expect_publish().await.retain);
    assert!(rap.expect_publish().await.retain);
    assert!(!rap.expect_publish().await.retain);
}

/// [MQTT-3.3.1-10], [MQTT-3.3.1-11] (5.0) Retain Handling 1 sends retained messages only for a new
/// subscription; Retain Handling 2 never sends them. [MQTT-3.8.4-3] (3.1.1, and Retain Handling 0)
/// subscribing again sends them again.
#[tokio::test]
async fn retain_handling_controls_when_retained_messages_are_sent_mqtt_3_3_1_10() {
    let broker = TestBroker::start_default().await;
    let mut p = publisher(&broker).await;
    p.publish(retained("r/rh", "v", QoS::AtMostOnce)).await;

    let mut sub = RawClient::connect_ok(broker.addr(), V5, "rh").await;
    let if_new =
        SubscriptionOptions { retain_handling: RetainHandling::SendAtSubscribeIfNew, ..Default::default() };
    sub.subscribe_with(&[("r/rh", if_new)]).await;
    assert!(sub.expect_publish().await.retain);
    sub.subscribe_with(&[("r/rh", if_new)]).await;
    sub.expect_nothing(QUIET).await;

    let never = SubscriptionOptions { retain_handling: RetainHandling::DoNotSend, ..Default::default() };
    sub.subscribe_with(&[("r/+", never)]).await;
    sub.expect_nothing(QUIET).await;

    let mut v311 = RawClient::connect_ok(broker.addr(), V311, "rh311").await;
    v311.subscribe("r/rh", QoS::AtMostOnce).await;
    assert!(v311.expect_publish().await.retain);
    v311.subscribe("r/rh", QoS::AtMostOnce).await;
    assert!(v311.expect_publish().await.retain, "[MQTT-3.8.4-3] retained messages are re-sent");
}

/// [MQTT-3.3.1-5] A retained message keeps its QoS and is sent at min(its QoS, granted QoS).
#[tokio::test]
async fn retained_message_is_sent_at_min_of_stored_and_granted_qos() {
    let broker = TestBroker::start_default().await;
    let mut p = publisher(&broker).await;
    p.publish(retained("r/qos", "q1", QoS::AtLeastOnce)).await;
    for (granted, expected) in [
        (QoS::AtMostOnce, QoS::AtMostOnce),
        (QoS::AtLeastOnce, QoS::AtLeastOnce),
        (QoS::ExactlyOnce, QoS::AtLeastOnce),
    ] {
        let mut sub = RawClient::connect_ok(broker.addr(), V311, "rqos").await;
        sub.subscribe("r/qos", granted).await;
        let got = sub.receive_and_ack().await;
        assert_eq!(got.qos, expected, "granted {granted:?}");
        assert!(got.retain);
        sub.disconnect().await;
    }
}

/// (5.0, 3.3.2.3.3) A retained message with a Message Expiry Interval is not sent after it expired.
#[tokio::test]
async fn v5_expired_retained_message_is_not_sent() {
    let broker = TestBroker::start_default().await;
    let mut p = RawClient::connect_ok(broker.addr(), V5, "expiring-pub").await;
    let mut publish = retained("r/expiring", "soon gone", QoS::AtMostOnce);
    publish.properties.message_expiry_interval = Some(1);
    p.publish(publish).await;
    let mut early = RawClient::connect_ok(broker.addr(), V5, "early").await;
    early.subscribe("r/expiring", QoS::AtMostOnce).await;
    let got = early.expect_publish().await;
    assert!(got.properties.message_expiry_interval.is_some_and(|s| s <= 1));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut late = RawClient::connect_ok(broker.addr(), V5, "late").await;
    late.subscribe("r/expiring", QoS::AtMostOnce).await;
    late.expect_nothing(QUIET).await;
}
