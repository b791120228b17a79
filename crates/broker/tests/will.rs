//! The Last Will over real sockets: published when the network connection is lost or the protocol is
//! broken, not after a normal DISCONNECT (5.0: unless reason 0x04), with its retain flag and QoS, after
//! the 5.0 Will Delay Interval, and never on a clean broker shutdown (MQTT 3.1.1 and 5.0 section 3.1.2.5).
//! Keep-alive expiry is in keep_alive.rs, takeover in connect.rs.

use std::time::Duration;

use tern_codec::{Connect, Disconnect, LastWill, ProtocolVersion, QoS, ReasonCode};
use tern_test_support::raw::connect_packet;
use tern_test_support::{RawClient, TestBroker};

const V31: ProtocolVersion = ProtocolVersion::V31;
const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const QUIET: Duration = Duration::from_millis(400);

fn will(topic: &str, payload: &'static str, qos: QoS, retain: bool) -> LastWill {
    LastWill { topic: topic.into(), payload: payload.into(), qos, retain, properties: Default::default() }
}

fn connect_with_will(version: ProtocolVersion, id: &str, will: LastWill) -> Connect {
    Connect { will: Some(will), ..connect_packet(version, id) }
}

async fn watcher(broker: &TestBroker, filter: &str, qos: QoS) -> RawClient {
    let mut w = RawClient::connect_ok(broker.addr(), V5, &format!("watch-{filter}")).await;
    w.subscribe(filter, qos).await;
    w
}

/// [MQTT-3.1.2-8] The will is published when the network connection closes without DISCONNECT, for 3.1,
/// 3.1.1 and 5.0 clients.
#[tokio::test]
async fn will_is_published_when_the_connection_is_lost_mqtt_3_1_2_8() {
    let broker = TestBroker::start_default().await;
    let mut w = watcher(&broker, "lost/#", QoS::AtMostOnce).await;
    for version in [V31, V311, V5] {
        let topic = format!("lost/{}", version.level());
        let (client, _) = RawClient::connect_accepted(
            broker.addr(),
            connect_with_will(version, "lost", will(&topic, "bye", QoS::AtMostOnce, false)),
        )
        .await;
        client.drop_connection();
        let got = w.expect_publish().await;
        assert_eq!((got.topic.as_ref(), got.payload.as_ref()), (topic.as_str(), &b"bye"[..]));
    }
}

/// [MQTT-3.1.2-10] (3.1.1), [MQTT-3.14.4-3] (5.0) After a normal DISCONNECT the will is discarded, not
/// published.
#[tokio::test]
async fn will_is_not_published_after_a_normal_disconnect_mqtt_3_14_4_3() {
    let broker = TestBroker::start_default().await;
    let mut w = watcher(&broker, "normal/#", QoS::AtMostOnce).await;
    for version in [V31, V311, V5] {
        let (client, _) = RawClient::connect_accepted(
            broker.addr(),
            connect_with_will(version, "normal", will("normal/w", "bye", QoS::AtMostOnce, false)),
        )
        .await;
        client.disconnect().await;
    }
    w.expect_nothing(QUIET).await;
}

/// 5.0 (3.14.2.1) DISCONNECT with reason 0x04 Disconnect with Will Message closes normally but publishes
/// the will.
#[tokio::test]
async fn v5_disconnect_with_will_message_publishes_the_will() {
    let broker = TestBroker::start_default().await;
    let mut w = watcher(&broker, "dww/#", QoS::AtMostOnce).await;
    let (client, _) = RawClient::connect_accepted(
        broker.addr(),
        connect_with_will(V5, "dww", will("dww/w", "asked", QoS::AtMostOnce, false)),
    )
    .await;
    client.disconnect_with(Disconnect::new(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE)).await;
    assert_eq!(w.expect_publish().await.payload, "asked");
}

/// [MQTT-3.1.2-8], [MQTT-4.8.0-1] A client that breaks the protocol is disconnected and its will published.
#[tokio::test]
async fn will_is_published_when_the_client_breaks_the_protocol_mqtt_3_1_2_8() {
    let broker = TestBroker::start_default().await;
    let mut w = watcher(&broker, "broken/#", QoS::AtMostOnce).await;
    for version in [V311, V5] {
        let (mut client, _) = RawClient::connect_accepted(
            broker.addr(),
            connect_with_will(version, "broken", will("broken/w", "violated", QoS::AtMostOnce, false)),
        )
        .await;
        client.send_raw(&[0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01]).await; // PUBLISH with QoS 3
        client.expect_disconnect(ReasonCode::MALFORMED_PACKET).await;
        assert_eq!(w.expect_publish().await.payload, "violated", "{version:?}");
    }
}

/// [MQTT-3.1.2-17] (3.1.1), [MQTT-3.1.2-15] (5.0) With Will Retain 1 the will is published as a retained
/// message; [MQTT-3.1.2-16] / [MQTT-3.1.2-14] with Will Retain 0 it is not retained.
#[tokio::test]
async fn will_retain_is_honoured_mqtt_3_1_2_17() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        for retain in [true, false] {
            let topic = format!("wr/{}/{retain}", version.level());
            let (client, _) = RawClient::connect_accepted(
                broker.addr(),
                connect_with_will(version, "wr", will(&topic, "status: gone", QoS::AtMostOnce, retain)),
            )
            .await;
            client.drop_connection();
            // Wait for the will, then subscribe anew: only a retained will is sent on subscribe.
            let mut w = watcher(&broker, &topic, QoS::AtMostOnce).await;
            if retain {
                let got = w.expect_publish().await;
                assert_eq!(got.payload, "status: gone");
                assert!(got.retain, "{version:?}");
            } else {
                w.expect_nothing(QUIET).await;
                assert!(broker.shared().retained_matching(&topic, std::time::Instant::now()).is_empty());
            }
        }
    }
}

/// [MQTT-3.1.2-14] (3.1.1 Will QoS) The will is published at its Will QoS: subscribers get min(Will QoS,
/// granted QoS), with the full QoS 2 flow for a QoS 2 will.
#[tokio::test]
async fn will_qos_is_honoured() {
    let broker = TestBroker::start_default().await;
    for will_qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut w2 = watcher(&broker, "wq/2", QoS::ExactlyOnce).await;
        let mut w1 = RawClient::connect_ok(broker.addr(), V311, "wq-w1").await;
        w1.subscribe("wq/2", QoS::AtLeastOnce).await;
        let (client, _) = RawClient::connect_accepted(
            broker.addr(),
            connect_with_will(V311, "wq", will("wq/2", "q", will_qos, false)),
        )
        .await;
        client.drop_connection();
        assert_eq!(w2.receive_and_ack().await.qos, will_qos);
        assert_eq!(w1.receive_and_ack().await.qos, will_qos.min(QoS::AtLeastOnce));
        w1.disconnect().await;
        w2.disconnect().await;
    }
}

/// [MQTT-3.1.3-9] (5.0) With a Will Delay Interval the will is published only once the delay passed, and
/// not at all if the client reconnects within it.
#[tokio::test]
async fn v5_will_delay_interval_defers_the_will_and_reconnecting_cancels_it_mqtt_3_1_3_9() {
    let broker = TestBroker::start_default().await;
    let mut w = watcher(&broker, "delay/#", QoS::AtMostOnce).await;
    let delayed = |id: &str, topic: &str| {
        let mut lw = will(topic, "late", QoS::AtMostOnce, false);
        lw.properties.will_delay_interval = Some(1);
        let mut connect = connect_with_will(V5, id, lw);
        connect.clean_start = false;
        connect.properties.session_expiry_interval = Some(60);
        connect
    };
    let (client, _) = RawClient::connect_accepted(broker.addr(), delayed("delay-a", "delay/a")).await;
    client.drop_connection();
    w.expect_nothing(Duration::from_millis(700)).await;
    assert_eq!(w.expect_publish().await.topic, "delay/a");

    let (client, _) = RawClient::connect_accepted(broker.addr(), delayed("delay-b", "delay/b")).await;
    client.drop_connection();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_back, ack) = RawClient::connect_accepted(broker.addr(), delayed("delay-b", "delay/b")).await;
    assert!(ack.session_present);
    w.expect_nothing(Duration::from_millis(1500)).await;
}

/// 5.0 (3.1.3.2) Will properties travel with the will: user properties, content type, response topic
/// and correlation data reach the subscriber unchanged.
#[tokio::test]
async fn v5_will_properties_are_forwarded() {
    let broker = TestBroker::start_default().await;
    let mut w = watcher(&broker, "wp/#", QoS::AtMostOnce).await;
    let mut lw = will("wp/w", "{}", QoS::AtMostOnce, false);
    lw.properties.user_properties = vec![("k".into(), "v1".into()), ("k".into(), "v2".into())];
    lw.properties.content_type = Some("application/json".into());
    lw.properties.response_topic = Some("wp/reply".into());
    lw.properties.correlation_data = Some(tern_codec::Bytes::from_static(b"\x01\x02"));
    let (client, _) =
        RawClient::connect_accepted(broker.addr(), connect_with_will(V5, "wp", lw.clone())).await;
    client.drop_connection();
    let got = w.expect_publish().await;
    assert_eq!(got.properties.user_properties, lw.properties.user_properties);
    assert_eq!(got.properties.content_type, lw.properties.content_type);
    assert_eq!(got.properties.response_topic, lw.properties.response_topic);
    assert_eq!(got.properties.correlation_data, lw.properties.correlation_data);
    assert_eq!(got.properties.will_delay_interval, None);
}

/// A clean broker shutdown closes live connections without publishing their wills (as Mosquitto).
#[tokio::test]
async fn clean_shutdown_does_not_publish_wills() {
    let broker = TestBroker::start_default().await;
    let (_client, _) = RawClient::connect_accepted(
        broker.addr(),
        connect_with_will(V311, "shutdown", will("sd/w", "should not", QoS::AtLeastOnce, true)),
    )
    .await;
    let mut v5 = RawClient::connect_ok(broker.addr(), V5, "shutdown5").await;
    let shared = broker.shutdown().await;
    v5.expect_disconnect(ReasonCode::SERVER_SHUTTING_DOWN).await;
    assert!(
        shared.retained_matching("#", std::time::Instant::now()).is_empty(),
        "the retained will was published"
    );
}

/// [MQTT-3.1.3-9] (5.0) The will is published when the Will Delay Interval passes or the session ends,
/// whichever comes first: a session expiring before the delay sends it at its end.
#[tokio::test]
async fn v5_will_is_published_when_the_session_ends_before_the_delay() {
    let broker = TestBroker::start_default().await;
    let mut w = watcher(&broker, "ends/#", QoS::AtMostOnce).await;
    let mut lw = will("ends/w", "session over", QoS::AtMostOnce, false);
    lw.properties.will_delay_interval = Some(3600);
    let mut connect = connect_with_will(V5, "ends", lw);
    connect.properties.session_expiry_interval = Some(1);
    let (client, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    client.drop_connection();
    w.expect_nothing(Duration::from_millis(600)).await;
    assert_eq!(w.expect_publish().await.payload, "session over");
}

/// 5.0 (3.1.3.2.2) A Clean Start reconnect ends the old session, and with it the wait of its will: the will
/// is published at once, not when its delay would have run out.
#[tokio::test]
async fn v5_a_clean_start_reconnect_sends_the_pending_will_at_once() {
    let broker = TestBroker::start_default().await;
    let mut w = watcher(&broker, "restart/#", QoS::AtMostOnce).await;
    let mut lw = will("restart/w", "previous session over", QoS::AtMostOnce, false);
    lw.properties.will_delay_interval = Some(3600);
    let mut connect = connect_with_will(V5, "restarting", lw);
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(3600);
    let (client, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    client.drop_connection();
    w.expect_nothing(Duration::from_millis(300)).await;
    let fresh = connect_packet(V5, "restarting"); // clean start 1
    let (_new, ack) = RawClient::connect_accepted(broker.addr(), fresh).await;
    assert!(!ack.session_present);
    assert_eq!(w.expect_publish().await.payload, "previous session over");
}
