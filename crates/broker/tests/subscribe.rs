//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK over real sockets: wildcard matching, `$` topics,
//! overlapping subscriptions, per-filter return codes (MQTT 3.1.1 and 5.0 sections 3.8 to 3.11, 4.7).

use std::sync::Arc;
use std::time::Duration;

use tern_broker::auth::{Authorizer, ClientInfo};
use tern_broker::config::Config;
use tern_codec::{Packet, ProtocolVersion, QoS, ReasonCode, SubscriptionOptions};
use tern_test_support::raw::{qos_options, subscribe_packet};
use tern_test_support::{pid, RawClient, TestBroker};

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const QUIET: Duration = Duration::from_millis(300);

/// Publishes each topic at QoS 0, then `fence/end`, and returns the topics `sub` received before the fence.
/// One publisher's messages are routed in order, so whatever did not arrive before the fence never will.
async fn received_topics(broker: &TestBroker, sub: &mut RawClient, topics: &[&str]) -> Vec<String> {
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "fence-pub").await;
    for topic in topics {
        publisher.publish_qos0(topic, "m").await;
    }
    publisher.publish_qos0("fence/end", "end").await;
    publisher.ping().await;
    let mut got = Vec::new();
    loop {
        let publish = sub.expect_publish().await;
        if publish.topic == "fence/end" {
            break;
        }
        got.push(publish.topic.to_string());
    }
    publisher.disconnect().await;
    got
}

async fn subscriber(broker: &TestBroker, version: ProtocolVersion, id: &str, filters: &[&str]) -> RawClient {
    let mut sub = RawClient::connect_ok(broker.addr(), version, id).await;
    for filter in filters.iter().chain(&["fence/end"]) {
        sub.subscribe(filter, QoS::AtMostOnce).await;
    }
    sub
}

/// [MQTT-4.7.1-3] `+` matches exactly one whole level, including an empty one.
#[tokio::test]
async fn single_level_wildcard_matches_exactly_one_level_mqtt_4_7_1_3() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let mut sub = subscriber(&broker, version, "plus", &["a/+/c", "+"]).await;
        let got =
            received_topics(&broker, &mut sub, &["a/b/c", "a//c", "a/b/c/d", "a/c", "a/b", "x", "x/y", "/x"])
                .await;
        assert_eq!(got, ["a/b/c", "a//c", "x"], "{version:?}");
        sub.disconnect().await;
    }
}

/// [MQTT-4.7.1-2] `#` matches the parent level and any number of child levels.
#[tokio::test]
async fn multi_level_wildcard_matches_parent_and_all_children_mqtt_4_7_1_2() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let mut sub = subscriber(&broker, version, "hash", &["sport/tennis/#"]).await;
        let got = received_topics(
            &broker,
            &mut sub,
            &[
                "sport/tennis",
                "sport/tennis/player1",
                "sport/tennis/player1/ranking",
                "sport/tennisplayer",
                "sport",
            ],
        )
        .await;
        assert_eq!(
            got,
            ["sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking"],
            "{version:?}"
        );
        sub.disconnect().await;
    }
}

/// [MQTT-4.7.2-1] Topics starting with `$` are not matched by filters starting with a wildcard (`#`,
/// `+/...`), only by filters that start with the same `$` level.
#[tokio::test]
async fn dollar_topics_are_not_matched_by_leading_wildcards_mqtt_4_7_2_1() {
    let broker = TestBroker::start_default().await;
    let mut wild = subscriber(&broker, V311, "wild", &["#", "+/status", "+/+"]).await;
    let got = received_topics(&broker, &mut wild, &["$internal/status", "$x", "dev/status"]).await;
    // "dev/status" matches all three filters but is delivered once; "fence/end" via "#" is the fence.
    assert_eq!(got, ["dev/status"]);
    let mut dollar = subscriber(&broker, V5, "dollar", &["$internal/#", "$x"]).await;
    let got = received_topics(&broker, &mut dollar, &["$internal/status", "$x", "dev/status"]).await;
    assert_eq!(got, ["$internal/status", "$x"]);
}

/// [MQTT-3.3.5-1] (3.1.1), [MQTT-3.3.4-2] (5.0) A client whose subscriptions overlap gets the message
/// once, at the maximum QoS of the matching subscriptions; 5.0 carries every matching Subscription
/// Identifier [MQTT-3.3.4-3].
#[tokio::test]
async fn overlapping_subscriptions_deliver_once_at_the_highest_qos_mqtt_3_3_4_2() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let mut sub = RawClient::connect_ok(broker.addr(), version, "overlap").await;
        for (filter, qos, sub_id) in
            [("o/#", QoS::AtMostOnce, 1), ("o/+/x", QoS::ExactlyOnce, 2), ("o/a/x", QoS::AtLeastOnce, 3)]
        {
            let mut subscribe = subscribe_packet(sub.next_packet_id(), &[(filter, qos_options(qos))]);
            if version.is_v5() {
                subscribe.properties.subscription_identifiers = vec![sub_id];
            }
            sub.send(Packet::Subscribe(subscribe)).await;
            sub.expect_suback().await;
        }
        let mut publisher = RawClient::connect_ok(broker.addr(), V311, "overlap-pub").await;
        publisher.publish_at("o/a/x", "m", QoS::ExactlyOnce).await;
        let got = sub.receive_and_ack().await;
        assert_eq!(got.qos, QoS::ExactlyOnce, "{version:?}");
        if version.is_v5() {
            let mut ids = got.properties.subscription_identifiers.clone();
            ids.sort_unstable();
            assert_eq!(ids, [1, 2, 3]);
        }
        sub.expect_nothing(QUIET).await;
        sub.disconnect().await;
        publisher.disconnect().await;
    }
}

/// [MQTT-3.8.4-1], [MQTT-3.8.4-2], [MQTT-3.9.3-1] SUBACK carries the SUBSCRIBE's packet identifier and one
/// return code per filter, in order: the granted QoS. On the wire for 3.1.1: `90 05 00 0A 00 01 02`.
#[tokio::test]
async fn suback_has_one_code_per_filter_in_order_mqtt_3_9_3_1() {
    let broker = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "codes").await;
    let filters = [
        ("c/0", qos_options(QoS::AtMostOnce)),
        ("c/1", qos_options(QoS::AtLeastOnce)),
        ("c/2", qos_options(QoS::ExactlyOnce)),
    ];
    sub.send(Packet::Subscribe(subscribe_packet(pid(10), &filters))).await;
    assert_eq!(sub.expect_bytes(7).await, [0x90, 0x05, 0x00, 0x0A, 0x00, 0x01, 0x02]);

    let mut sub5 = RawClient::connect_ok(broker.addr(), V5, "codes5").await;
    let ack = sub5.subscribe_with(&filters).await;
    assert_eq!(
        ack.reason_codes,
        [ReasonCode::GRANTED_QOS_0, ReasonCode::GRANTED_QOS_1, ReasonCode::GRANTED_QOS_2]
    );
}

/// Denies subscriptions under `secret/`.
#[derive(Debug)]
struct NoSecrets;

impl Authorizer for NoSecrets {
    fn can_publish(&self, _: &ClientInfo<'_>, _: &str) -> bool {
        true
    }
    fn can_subscribe(&self, _: &ClientInfo<'_>, filter: &str) -> bool {
        !filter.starts_with("secret/")
    }
    fn can_receive(&self, _: &ClientInfo<'_>, topic: &str) -> bool {
        !topic.starts_with("secret/")
    }
}

/// [MQTT-3.9.3-2] (3.1.1) A refused filter gets 0x80 Failure in its place; 5.0 gives the reason (0x87 Not
/// authorized). The other filters of the same SUBSCRIBE are granted, and the refused one delivers nothing.
#[tokio::test]
async fn refused_filter_gets_suback_failure_and_the_others_are_granted_mqtt_3_9_3_2() {
    let broker = TestBroker::start_with(Config::default(), |b| b.with_authorizer(Arc::new(NoSecrets))).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "refused").await;
    let filters = [("open/t", qos_options(QoS::AtLeastOnce)), ("secret/t", qos_options(QoS::AtLeastOnce))];
    sub.send(Packet::Subscribe(subscribe_packet(pid(1), &filters))).await;
    assert_eq!(sub.expect_bytes(6).await, [0x90, 0x04, 0x00, 0x01, 0x01, 0x80]);

    let mut sub5 = RawClient::connect_ok(broker.addr(), V5, "refused5").await;
    let ack = sub5.subscribe_with(&filters).await;
    assert_eq!(ack.reason_codes, [ReasonCode::GRANTED_QOS_1, ReasonCode::NOT_AUTHORIZED]);

    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "refused-pub").await;
    publisher.publish_qos0("secret/t", "hidden").await;
    publisher.publish_qos0("open/t", "visible").await;
    assert_eq!(sub.expect_publish().await.payload, "visible");
    assert_eq!(sub5.expect_publish().await.payload, "visible");
}

/// [MQTT-3.8.4-6] (3.1.1), [MQTT-3.2.2-9] (5.0) The broker may grant a lower QoS than asked: with
/// `max_qos 1` a QoS 2 subscription is granted QoS 1 and delivers at QoS 1.
#[tokio::test]
async fn granted_qos_is_capped_by_the_server_maximum_qos() {
    let mut config = Config::default();
    config.limits.max_qos = 1;
    let broker = TestBroker::start(config).await;
    for version in [V311, V5] {
        let mut sub = RawClient::connect_ok(broker.addr(), version, "capped").await;
        let ack = sub.subscribe("cap/t", QoS::ExactlyOnce).await;
        assert_eq!(ack.reason_codes, [ReasonCode::GRANTED_QOS_1], "{version:?}");
        let mut publisher = RawClient::connect_ok(broker.addr(), V311, "capped-pub").await;
        publisher.publish_at("cap/t", "m", QoS::AtLeastOnce).await;
        assert_eq!(sub.receive_and_ack().await.qos, QoS::AtLeastOnce);
        sub.disconnect().await;
        publisher.disconnect().await;
    }
}

/// [MQTT-3.8.4-3] A SUBSCRIBE for a filter the session already has replaces the subscription (new QoS);
/// messages are not delivered twice.
#[tokio::test]
async fn subscribing_again_replaces_the_subscription_mqtt_3_8_4_3() {
    let broker = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "again").await;
    sub.subscribe("again/t", QoS::AtMostOnce).await;
    sub.subscribe("again/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "again-pub").await;
    publisher.publish_at("again/t", "m", QoS::AtLeastOnce).await;
    assert_eq!(sub.receive_and_ack().await.qos, QoS::AtLeastOnce);
    sub.expect_nothing(QUIET).await;
    assert_eq!(broker.shared().router.subscription_count(), 1);
}

/// [MQTT-3.10.4-1], [MQTT-3.10.4-2], [MQTT-3.10.4-4] UNSUBSCRIBE removes the subscription whose filter is
/// exactly the one given (not others it would match), no new messages arrive for it, and UNSUBACK carries
/// the UNSUBSCRIBE's packet identifier.
#[tokio::test]
async fn unsubscribe_removes_exactly_that_filter_mqtt_3_10_4_1() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let mut sub = subscriber(&broker, version, "unsub", &["u/a", "u/+"]).await;
        let ack = sub.unsubscribe(&["u/a"]).await;
        if version.is_v5() {
            assert_eq!(ack.reason_codes, [ReasonCode::SUCCESS]);
        }
        let got = received_topics(&broker, &mut sub, &["u/a", "u/b"]).await;
        assert_eq!(got, ["u/a", "u/b"], "u/+ still matches both {version:?}");
        sub.unsubscribe(&["u/+"]).await;
        let got = received_topics(&broker, &mut sub, &["u/a", "u/b"]).await;
        assert!(got.is_empty(), "{got:?}");
        sub.disconnect().await;
    }
}

/// [MQTT-3.10.4-5] (3.1.1) UNSUBACK is sent even when no subscription matched: `B0 02 00 2A`.
/// 5.0 (3.11.3) says per filter 0x00 Success or 0x11 No subscription existed, in order.
#[tokio::test]
async fn unsuback_is_sent_even_without_a_subscription_mqtt_3_10_4_5() {
    let broker = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "unsub-none").await;
    let unsubscribe = tern_codec::Unsubscribe {
        packet_id: pid(42),
        filters: vec!["none".into()],
        properties: Default::default(),
    };
    sub.send(Packet::Unsubscribe(unsubscribe)).await;
    assert_eq!(sub.expect_bytes(4).await, [0xB0, 0x02, 0x00, 0x2A]);

    let mut sub5 = RawClient::connect_ok(broker.addr(), V5, "unsub-none5").await;
    sub5.subscribe("exists", QoS::AtMostOnce).await;
    let ack = sub5.unsubscribe(&["none", "exists", "exists"]).await;
    assert_eq!(
        ack.reason_codes,
        [ReasonCode::NO_SUBSCRIPTION_EXISTED, ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED]
    );
}

/// [MQTT-3.8.3-3] (5.0) With No Local a client does not receive its own publications on that
/// subscription; other subscribers do.
#[tokio::test]
async fn v5_no_local_skips_the_publisher_itself_mqtt_3_8_3_3() {
    let broker = TestBroker::start_default().await;
    let mut me = RawClient::connect_ok(broker.addr(), V5, "nolocal").await;
    let options =
        SubscriptionOptions { qos: QoS::AtMostOnce, no_local: true, ..SubscriptionOptions::default() };
    me.subscribe_with(&[("nl/t", options)]).await;
    let mut other = RawClient::connect_ok(broker.addr(), V5, "nolocal-other").await;
    other.subscribe("nl/t", QoS::AtMostOnce).await;
    me.publish_qos0("nl/t", "mine").await;
    assert_eq!(other.expect_publish().await.payload, "mine");
    me.expect_nothing(QUIET).await;
    other.publish_qos0("nl/t", "theirs").await;
    assert_eq!(me.expect_publish().await.payload, "theirs");
}

/// [MQTT-4.7.1-1], [MQTT-3.8.3-2] An invalid topic filter (`#` not last) is a malformed SUBSCRIBE: 3.1.1
/// closes the connection, 5.0 sends DISCONNECT 0x8F Topic Filter invalid first.
#[tokio::test]
async fn invalid_topic_filter_closes_the_connection() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let mut sub = RawClient::connect_ok(broker.addr(), version, "badfilter").await;
        // SUBSCRIBE id 1, filter "a/#/b", QoS 0 (hand-made: the codec will not encode it).
        let mut frame = vec![0x82, 0x00, 0x00, 0x01];
        if version.is_v5() {
            frame.push(0x00);
        }
        frame.extend_from_slice(&[0x00, 0x05]);
        frame.extend_from_slice(b"a/#/b");
        frame.push(0x00);
        frame[1] = (frame.len() - 2) as u8;
        sub.send_raw(&frame).await;
        // Syntactically invalid filters are malformed packets (0x8F is for valid filters the server refuses).
        sub.expect_disconnect(ReasonCode::MALFORMED_PACKET).await;
    }
}

/// [MQTT-3.8.3-3] (3.1.1: a SUBSCRIBE must carry at least one filter) An empty SUBSCRIBE is a protocol
/// violation: close (5.0: DISCONNECT 0x82 Protocol Error).
#[tokio::test]
async fn subscribe_without_filters_closes_the_connection_mqtt_3_8_3_3() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let mut sub = RawClient::connect_ok(broker.addr(), version, "nofilter").await;
        let frame: &[u8] =
            if version.is_v5() { &[0x82, 0x03, 0x00, 0x01, 0x00] } else { &[0x82, 0x02, 0x00, 0x01] };
        sub.send_raw(frame).await;
        sub.expect_disconnect(ReasonCode::PROTOCOL_ERROR).await;
    }
    // The broker carries on.
    RawClient::connect_ok(broker.addr(), V311, "after").await.ping().await;
}

/// [MQTT-3.10.4-3] After UNSUBSCRIBE the broker completes the delivery of QoS 1 and QoS 2 messages it had
/// started: acknowledgements of messages in flight are still accepted and the exchange finishes.
#[tokio::test]
async fn unsubscribe_completes_messages_in_flight_mqtt_3_10_4_3() {
    let broker = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(broker.addr(), V5, "inflight-unsub").await;
    sub.subscribe("iu/t", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "inflight-unsub-pub").await;
    publisher.publish_at("iu/t", "one", QoS::AtLeastOnce).await;
    publisher.publish_at("iu/t", "two", QoS::ExactlyOnce).await;
    let one = sub.expect_publish().await;
    let two = sub.expect_publish().await;
    sub.unsubscribe(&["iu/t"]).await;
    sub.ack(&one).await;
    sub.ack(&two).await; // PUBREC, the broker's PUBREL, PUBCOMP
    publisher.publish_at("iu/t", "three", QoS::AtLeastOnce).await;
    sub.expect_nothing(QUIET).await;
}
