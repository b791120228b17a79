//! PUBLISH at QoS 0, 1 and 2 over real sockets, in both directions: the exact acknowledgement flows,
//! exactly-once delivery, packet identifiers, the delivered QoS, ordering (MQTT 3.1.1 and 5.0 section 3.3
//! to 3.7 and 4.3, 4.6; MQTT 3.1 for the basics).

use std::collections::HashSet;
use std::time::Duration;

use tern_broker::config::Config;
use tern_codec::{Ack, Packet, ProtocolVersion, Publish, QoS, ReasonCode};
use tern_test_support::raw::publish_packet;
use tern_test_support::{pid, RawClient, TestBroker};

const V31: ProtocolVersion = ProtocolVersion::V31;
const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const VERSIONS: [ProtocolVersion; 3] = [V31, V311, V5];
const QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
const QUIET: Duration = Duration::from_millis(300);

fn id(version: ProtocolVersion, name: &str) -> String {
    format!("{name}-{}", version.level())
}

/// [MQTT-4.3.1] QoS 0: delivered once at QoS 0 without a packet identifier, and nothing is sent back to
/// the publisher. For every protocol version on both sides.
#[tokio::test]
async fn qos0_is_delivered_at_qos0_and_not_acknowledged_mqtt_4_3_1() {
    let broker = TestBroker::start_default().await;
    for sub_version in VERSIONS {
        for pub_version in VERSIONS {
            let mut sub = RawClient::connect_ok(broker.addr(), sub_version, &id(sub_version, "s0")).await;
            sub.subscribe("q0/t", QoS::ExactlyOnce).await;
            let mut publisher =
                RawClient::connect_ok(broker.addr(), pub_version, &id(pub_version, "p0")).await;
            publisher.publish_qos0("q0/t", "zero").await;
            let got = sub.expect_publish().await;
            assert_eq!((got.qos, got.packet_id, got.dup), (QoS::AtMostOnce, None, false));
            assert_eq!((got.topic.as_ref(), got.payload.as_ref()), ("q0/t", &b"zero"[..]));
            publisher.expect_nothing(Duration::from_millis(100)).await;
            sub.expect_nothing(Duration::from_millis(100)).await;
            sub.disconnect().await;
            publisher.disconnect().await;
        }
    }
}

/// [MQTT-4.3.2-2] QoS 1 from a publisher is acknowledged with PUBACK carrying its packet identifier;
/// [MQTT-4.3.2-1] to the subscriber it is a QoS 1 PUBLISH with a packet identifier and DUP 0, which the
/// broker keeps until the subscriber's PUBACK.
#[tokio::test]
async fn qos1_flow_puback_both_ways_mqtt_4_3_2() {
    let broker = TestBroker::start_default().await;
    for version in VERSIONS {
        let mut sub = RawClient::connect_ok(broker.addr(), version, &id(version, "s1")).await;
        sub.subscribe("q1/t", QoS::AtLeastOnce).await;
        let mut publisher = RawClient::connect_ok(broker.addr(), version, &id(version, "p1")).await;
        let mut publish = publish_packet("q1/t", "one", QoS::AtLeastOnce);
        publish.packet_id = Some(pid(4242));
        publisher.send(Packet::Publish(publish)).await;
        let ack = publisher.expect_puback().await;
        assert_eq!(ack.packet_id, pid(4242), "{version:?}");
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);

        let got = sub.expect_publish().await;
        assert_eq!((got.qos, got.dup, got.payload.as_ref()), (QoS::AtLeastOnce, false, &b"one"[..]));
        let got_id = got.packet_id.expect("QoS 1 carries a packet identifier");
        sub.send(Packet::PubAck(Ack::new(got_id))).await;
        sub.ping().await;
        sub.disconnect().await;
        publisher.disconnect().await;
    }
}

/// [MQTT-4.3.3-1], [MQTT-4.3.3-2] QoS 2 inbound: PUBLISH -> PUBREC, PUBREL -> PUBCOMP, all with the
/// publisher's packet identifier. Outbound: the broker sends PUBLISH QoS 2, waits for PUBREC, answers PUBREL
/// and waits for PUBCOMP, sending nothing else meanwhile.
#[tokio::test]
async fn qos2_flow_pubrec_pubrel_pubcomp_both_ways_mqtt_4_3_3() {
    let broker = TestBroker::start_default().await;
    for version in VERSIONS {
        let mut sub = RawClient::connect_ok(broker.addr(), version, &id(version, "s2")).await;
        sub.subscribe("q2/t", QoS::ExactlyOnce).await;
        let mut publisher = RawClient::connect_ok(broker.addr(), version, &id(version, "p2")).await;
        let mut publish = publish_packet("q2/t", "two", QoS::ExactlyOnce);
        publish.packet_id = Some(pid(7));
        publisher.send(Packet::Publish(publish)).await;
        assert_eq!(publisher.expect_pubrec().await.packet_id, pid(7));
        publisher.expect_nothing(Duration::from_millis(100)).await;
        publisher.send(Packet::PubRel(Ack::new(pid(7)))).await;
        assert_eq!(publisher.expect_pubcomp().await.packet_id, pid(7));

        let got = sub.expect_publish().await;
        assert_eq!((got.qos, got.dup, got.payload.as_ref()), (QoS::ExactlyOnce, false, &b"two"[..]));
        let got_id = got.packet_id.expect("QoS 2 carries a packet identifier");
        sub.expect_nothing(Duration::from_millis(100)).await;
        sub.send(Packet::PubRec(Ack::new(got_id))).await;
        assert_eq!(sub.expect_pubrel().await.packet_id, got_id);
        sub.send(Packet::PubComp(Ack::new(got_id))).await;
        sub.ping().await;
        sub.disconnect().await;
        publisher.disconnect().await;
    }
}

/// [MQTT-4.3.3-2] (3.1.1), [MQTT-4.3.3-10] (5.0) A QoS 2 PUBLISH sent again (DUP 1, same packet
/// identifier) before PUBREL is acknowledged with PUBREC again but not delivered a second time.
#[tokio::test]
async fn qos2_retransmission_before_pubrel_is_not_delivered_twice_mqtt_4_3_3_10() {
    let broker = TestBroker::start_default().await;
    for version in VERSIONS {
        let mut sub = RawClient::connect_ok(broker.addr(), V311, &id(version, "s-dup")).await;
        sub.subscribe("dup/t", QoS::AtMostOnce).await;
        let mut publisher = RawClient::connect_ok(broker.addr(), version, &id(version, "p-dup")).await;
        let mut publish = publish_packet("dup/t", "once", QoS::ExactlyOnce);
        publish.packet_id = Some(pid(9));
        publisher.send(Packet::Publish(publish.clone())).await;
        assert_eq!(publisher.expect_pubrec().await.packet_id, pid(9));
        publish.dup = true;
        publisher.send(Packet::Publish(publish.clone())).await;
        assert_eq!(publisher.expect_pubrec().await.packet_id, pid(9));
        publisher.send(Packet::Publish(publish)).await;
        assert_eq!(publisher.expect_pubrec().await.packet_id, pid(9));
        publisher.send(Packet::PubRel(Ack::new(pid(9)))).await;
        assert_eq!(publisher.expect_pubcomp().await.packet_id, pid(9));

        assert_eq!(sub.expect_publish().await.payload, "once");
        sub.expect_nothing(QUIET).await;
        sub.disconnect().await;
        publisher.disconnect().await;
    }
}

/// [MQTT-4.3.3-2] (3.1.1), [MQTT-4.3.3-11] (5.0) After PUBCOMP, a PUBLISH with the same packet identifier
/// is a new message and is delivered.
#[tokio::test]
async fn qos2_packet_id_after_pubcomp_starts_a_new_message() {
    let broker = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "s-reuse").await;
    sub.subscribe("reuse/t", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "p-reuse").await;
    for payload in ["first", "second"] {
        let mut publish = publish_packet("reuse/t", payload, QoS::ExactlyOnce);
        publish.packet_id = Some(pid(3));
        publisher.publish(publish).await;
        assert_eq!(sub.expect_publish().await.payload, payload);
    }
}

/// [MQTT-3.3.1-3] (3.1.1) The DUP flag of an incoming PUBLISH is not propagated to subscribers: their
/// first delivery has DUP 0.
#[tokio::test]
async fn incoming_dup_flag_is_not_propagated_to_subscribers_mqtt_3_3_1_3() {
    let broker = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "s-dupflag").await;
    sub.subscribe("dupflag/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "p-dupflag").await;
    let mut publish = publish_packet("dupflag/t", "x", QoS::AtLeastOnce);
    publish.dup = true;
    publisher.publish(publish).await;
    let got = sub.expect_publish().await;
    assert!(!got.dup);
    assert_eq!(got.qos, QoS::AtLeastOnce);
}

/// [MQTT-3.8.4-6] (3.1.1), [MQTT-3.8.4-8] (5.0) A message is delivered at the minimum of the QoS it was
/// published with and the QoS granted to the subscription: all nine combinations.
#[tokio::test]
async fn delivered_qos_is_min_of_published_and_granted_mqtt_3_8_4_8() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let mut subs = Vec::new();
        for granted in QOS {
            let mut sub = RawClient::connect_ok(
                broker.addr(),
                version,
                &format!("min-{}-{}", version.level(), granted.as_u8()),
            )
            .await;
            let ack = sub.subscribe("min/t", granted).await;
            assert_eq!(ack.reason_codes, vec![ReasonCode::granted(granted)]);
            subs.push((granted, sub));
        }
        let mut publisher = RawClient::connect_ok(broker.addr(), version, "min-pub").await;
        for published in QOS {
            publisher.publish_at("min/t", format!("q{}", published.as_u8()), published).await;
            for (granted, sub) in &mut subs {
                let got = sub.receive_and_ack().await;
                assert_eq!(got.qos, published.min(*granted), "published {published:?}, granted {granted:?}");
                assert_eq!(got.payload, format!("q{}", published.as_u8()));
                assert_eq!(got.packet_id.is_some(), got.qos != QoS::AtMostOnce);
            }
        }
        publisher.disconnect().await;
    }
}

/// [MQTT-4.6.0-2..-4] (3.1.1), [MQTT-4.6.0-5] Messages from one publisher to a topic reach a subscriber in
/// the order they were published, also when the publisher pipelines them.
#[tokio::test]
async fn messages_are_delivered_in_publish_order_mqtt_4_6_0() {
    let broker = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(broker.addr(), V5, "s-order").await;
    sub.subscribe("order/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "p-order").await;
    for i in 1..=100u16 {
        let mut publish = publish_packet("order/t", i.to_string(), QoS::AtLeastOnce);
        publish.packet_id = Some(pid(i));
        publisher.send(Packet::Publish(publish)).await;
    }
    for i in 1..=100u16 {
        assert_eq!(publisher.expect_puback().await.packet_id, pid(i), "PUBACKs in order [MQTT-4.6.0-2]");
    }
    for i in 1..=100u16 {
        assert_eq!(sub.receive_and_ack().await.payload, i.to_string());
    }
}

/// [MQTT-2.3.1-1] (3.1.1), [MQTT-2.2.1-3] (5.0) Messages in flight to a client at the same time carry
/// distinct packet identifiers.
#[tokio::test]
async fn packet_ids_in_flight_are_distinct_mqtt_2_2_1_3() {
    let broker = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(broker.addr(), V5, "s-ids").await;
    sub.subscribe("ids/t", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "p-ids").await;
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        for i in 0..5 {
            publisher.publish_at("ids/t", format!("{i}"), qos).await;
        }
    }
    let mut ids = HashSet::new();
    for _ in 0..10 {
        let got = sub.expect_publish().await;
        assert!(
            ids.insert(got.packet_id.expect("packet id")),
            "packet id {:?} reused while in flight",
            got.packet_id
        );
    }
}

/// [MQTT-2.2.1-3] Packet identifiers are never reused while their exchange is open, even when allocation
/// wraps around 65535: an unacknowledged message keeps its identifier through 65 535 others.
#[tokio::test]
async fn packet_id_allocation_wraps_around_without_reusing_an_open_id() {
    let mut config = Config::default();
    config.limits.max_inflight_messages = 1000;
    let broker = TestBroker::start(config).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "s-wrap").await;
    sub.subscribe("wrap/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "p-wrap").await;
    publisher.publish_at("wrap/t", "held", QoS::AtLeastOnce).await;
    let held = sub.expect_publish().await.packet_id.expect("packet id");

    const BATCH: u16 = 500;
    let mut seen = 0u32;
    let mut wrapped = false;
    let mut last = held.get();
    while seen < 66_000 {
        for i in 1..=BATCH {
            let mut publish = publish_packet("wrap/t", "", QoS::AtLeastOnce);
            publish.packet_id = Some(pid(i));
            publisher.send(Packet::Publish(publish)).await;
        }
        for _ in 0..BATCH {
            let got = sub.expect_publish().await;
            let got_id = got.packet_id.expect("packet id");
            assert_ne!(got_id, held, "the id of the unacknowledged message was reused");
            wrapped |= got_id.get() < last;
            last = got_id.get();
            sub.send(Packet::PubAck(Ack::new(got_id))).await;
        }
        for _ in 0..BATCH {
            publisher.expect_puback().await;
        }
        seen += u32::from(BATCH);
    }
    assert!(wrapped, "allocation wrapped around");
    sub.send(Packet::PubAck(Ack::new(held))).await;
    sub.ping().await;
}

/// [MQTT-4.3.3-2] (3.1.1 has no Receive Maximum) A 3.1.1 publisher may have many QoS 2 messages awaiting
/// PUBREL: every one is received once.
#[tokio::test]
async fn v311_publisher_may_pipeline_many_qos2_messages() {
    let broker = TestBroker::start_default().await; // default max_inflight_messages: 20
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "s-pipe").await;
    sub.subscribe("pipe/t", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "p-pipe").await;
    for i in 1..=50u16 {
        let mut publish = publish_packet("pipe/t", i.to_string(), QoS::ExactlyOnce);
        publish.packet_id = Some(pid(i));
        publisher.send(Packet::Publish(publish)).await;
    }
    for i in 1..=50u16 {
        assert_eq!(publisher.expect_pubrec().await.packet_id, pid(i));
    }
    for i in 1..=50u16 {
        publisher.send(Packet::PubRel(Ack::new(pid(i)))).await;
    }
    for i in 1..=50u16 {
        assert_eq!(publisher.expect_pubcomp().await.packet_id, pid(i));
    }
    for i in 1..=50u16 {
        assert_eq!(sub.expect_publish().await.payload, i.to_string());
    }
}

/// 5.0 (3.4.2.1, 3.5.2.1) PUBACK and PUBREC say 0x10 No matching subscribers when nobody received the
/// message, 0x00 otherwise.
#[tokio::test]
async fn v5_ack_says_no_matching_subscribers_when_nobody_subscribed() {
    let broker = TestBroker::start_default().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "p-nomatch").await;
    let ack = publisher.publish_at("nobody/here", "x", QoS::AtLeastOnce).await.expect("PUBACK");
    assert_eq!(ack.reason_code, ReasonCode::NO_MATCHING_SUBSCRIBERS);
    let rec = publisher.publish_at("nobody/here", "x", QoS::ExactlyOnce).await.expect("PUBREC");
    assert_eq!(rec.reason_code, ReasonCode::NO_MATCHING_SUBSCRIBERS);

    let mut sub = RawClient::connect_ok(broker.addr(), V5, "s-nomatch").await;
    sub.subscribe("nobody/here", QoS::AtMostOnce).await;
    let ack = publisher.publish_at("nobody/here", "x", QoS::AtLeastOnce).await.expect("PUBACK");
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
}

/// 5.0 (3.7.2.1) A PUBREL for a packet identifier the broker does not know is completed with PUBCOMP 0x92
/// Packet Identifier not found; 3.1.1 simply completes it.
#[tokio::test]
async fn pubrel_for_an_unknown_packet_id_is_completed() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let mut client = RawClient::connect_ok(broker.addr(), version, &id(version, "unknown-rel")).await;
        client.send(Packet::PubRel(Ack::new(pid(99)))).await;
        let comp = client.expect_pubcomp().await;
        assert_eq!(comp.packet_id, pid(99));
        let expected =
            if version.is_v5() { ReasonCode::PACKET_IDENTIFIER_NOT_FOUND } else { ReasonCode::SUCCESS };
        assert_eq!(comp.reason_code, expected);
        client.ping().await;
    }
}

/// An acknowledgement for nothing in flight (a late duplicate) is ignored: the connection carries on.
#[tokio::test]
async fn late_duplicate_acknowledgements_are_ignored() {
    let broker = TestBroker::start_default().await;
    let mut client = RawClient::connect_ok(broker.addr(), V311, "late-acks").await;
    client.send(Packet::PubAck(Ack::new(pid(5)))).await;
    client.send(Packet::PubComp(Ack::new(pid(6)))).await;
    client.ping().await;
}

/// 5.0 (3.5, 4.3.3) A subscriber refusing a QoS 2 message with a PUBREC reason of 0x80 or more ends the
/// exchange: the broker sends no PUBREL and frees the packet identifier.
#[tokio::test]
async fn v5_pubrec_with_error_reason_ends_the_exchange_without_pubrel() {
    let mut config = Config::default();
    config.limits.max_inflight_messages = 1;
    let broker = TestBroker::start(config).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V5, "s-refuse").await;
    sub.subscribe("refuse/t", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "p-refuse").await;
    publisher.publish_at("refuse/t", "a", QoS::ExactlyOnce).await;
    publisher.publish_at("refuse/t", "b", QoS::ExactlyOnce).await;
    let first = sub.expect_publish().await;
    let mut rec = Ack::new(first.packet_id.expect("packet id"));
    rec.reason_code = ReasonCode::UNSPECIFIED_ERROR;
    sub.send(Packet::PubRec(rec)).await;
    // The window of 1 is free again: the next message comes, and no PUBREL for the refused one.
    let second = sub.expect_publish().await;
    assert_eq!(second.payload, "b");
    sub.ack(&second).await;
    sub.expect_nothing(QUIET).await;
}

/// MQTT 3.1 clients publish and receive at every QoS with their 3.1.1 and 5.0 peers.
#[tokio::test]
async fn v31_clients_publish_and_receive_at_every_qos() {
    let broker = TestBroker::start_default().await;
    let mut sub31 = RawClient::connect_ok(broker.addr(), V31, "s31").await;
    sub31.subscribe("v31/#", QoS::ExactlyOnce).await;
    let mut sub5 = RawClient::connect_ok(broker.addr(), V5, "s5-for-31").await;
    sub5.subscribe("v31/#", QoS::ExactlyOnce).await;
    let mut pub31 = RawClient::connect_ok(broker.addr(), V31, "p31").await;
    for qos in QOS {
        let topic = format!("v31/{}", qos.as_u8());
        pub31.publish(Publish { qos, ..Publish::new(topic.as_str(), "from 3.1") }).await;
        for sub in [&mut sub31, &mut sub5] {
            let got = sub.receive_and_ack().await;
            assert_eq!((got.topic.as_ref(), got.qos), (topic.as_str(), qos));
        }
    }
}

/// 5.0 (3.4.2.1, 3.5.2.1) 0x10 No matching subscribers only when there are none: a message that matched a
/// subscription (here of an offline session that does not queue it) is acknowledged with 0x00 Success.
#[tokio::test]
async fn v5_ack_is_success_when_a_subscription_matched_even_if_nothing_was_queued() {
    let broker = TestBroker::start_default().await;
    let mut connect = tern_test_support::raw::connect_packet(V311, "offline-qos0");
    connect.clean_start = false;
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    sub.subscribe("matched/t", QoS::AtMostOnce).await;
    sub.disconnect().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "p-matched").await;
    let ack = publisher.publish_at("matched/t", "x", QoS::AtLeastOnce).await.expect("PUBACK");
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
}

/// [MQTT-4.3.3] (5.0) A QoS 2 PUBLISH refused with a PUBREC reason of 0x80 or more ends its exchange: the
/// packet identifier is free at once, so the next PUBLISH with it is a new message, and refused messages do
/// not use up the Receive Maximum.
#[tokio::test]
async fn v5_refused_qos2_publish_frees_its_packet_identifier() {
    let mut config = Config::default();
    config.limits.message_size_limit = 10;
    config.limits.max_inflight_messages = 2;
    let broker = TestBroker::start(config).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "s-refused2").await;
    sub.subscribe("refused2/t", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "p-refused2").await;
    for _ in 0..3 {
        let mut too_big = publish_packet("refused2/t", "more than ten bytes", QoS::ExactlyOnce);
        too_big.packet_id = Some(pid(5));
        publisher.send(Packet::Publish(too_big)).await;
        let rec = publisher.expect_pubrec().await;
        assert_eq!((rec.packet_id, rec.reason_code), (pid(5), ReasonCode::QUOTA_EXCEEDED));
    }
    let mut fits = publish_packet("refused2/t", "small", QoS::ExactlyOnce);
    fits.packet_id = Some(pid(5));
    publisher.publish(fits).await;
    assert_eq!(sub.expect_publish().await.payload, "small");
}

/// Large messages cross the broker intact at every QoS, to 3.1.1 and 5.0 subscribers, the payload byte
/// for byte (frames arrive in many reads and leave in many writes).
#[tokio::test]
async fn large_payloads_arrive_intact() {
    let broker = TestBroker::start_default().await;
    let mut subs = Vec::new();
    for version in [V311, V5] {
        let mut sub = RawClient::connect_ok(broker.addr(), version, &id(version, "s-large")).await;
        sub.subscribe("large/t", QoS::ExactlyOnce).await;
        subs.push(sub);
    }
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "p-large").await;
    for (size, qos) in
        [(256 * 1024, QoS::AtMostOnce), (1024 * 1024, QoS::AtLeastOnce), (3 * 1024 * 1024, QoS::ExactlyOnce)]
    {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        publisher.publish_at("large/t", payload.clone(), qos).await;
        for sub in &mut subs {
            let got = sub.receive_and_ack().await;
            assert_eq!(got.qos, qos);
            assert!(got.payload == payload, "payload of {size} bytes altered");
        }
    }
}
