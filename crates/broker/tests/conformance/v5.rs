//! MQTT 5.0 server statements that no feature test checks already, in the standard's section order. Each
//! test is named after the first statement it checks; its comment lists the others.

use std::time::Duration;

use tern_codec::{
    Ack, Bytes, Packet, Properties, QoS, ReasonCode, RetainHandling, SubscriptionOptions, Unsubscribe,
};
use tern_test_support::{
    connect_packet, pid, publish_packet, qos_options, subscribe_packet, Event, RawClient, TestBroker, TIMEOUT,
};

use crate::support::*;

// --- 1.5 Data representation -------------------------------------------------------------------------

/// [MQTT-1.5.4-3] The bytes EF BB BF in a topic are U+FEFF: kept, never stripped, so the topic matches only
/// itself and is forwarded byte for byte.
#[tokio::test]
async fn mqtt_1_5_4_3_zero_width_no_break_space_is_kept() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("\u{FEFF}bom", QoS::AtMostOnce).await;
    let mut plain = connect(&broker, V5, "plain").await;
    plain.subscribe("bom", QoS::AtMostOnce).await;
    let mut publisher = connect(&broker, V5, "pub").await;
    publisher.publish_qos0("\u{FEFF}bom", "x").await;
    assert_eq!(sub.expect_publish().await.topic.as_bytes()[..], b"\xEF\xBB\xBFbom"[..]);
    plain.expect_nothing(QUIET).await;
}

/// [MQTT-1.5.5-1] The broker encodes Remaining Length in the fewest bytes: 127 in one byte, 128 in two.
#[tokio::test]
async fn mqtt_1_5_5_1_remaining_length_is_minimal() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("v", QoS::AtMostOnce).await;
    let mut publisher = connect(&broker, V5, "pub").await;
    // QoS 0 PUBLISH to a 5.0 client: 2 + 1 (topic) + 1 (property length) + payload.
    publisher.publish_qos0("v", vec![b'x'; 123]).await;
    assert_eq!(sub.expect_bytes(2).await, [0x30, 127]);
    sub.expect_bytes(127).await;
    publisher.publish_qos0("v", vec![b'x'; 124]).await;
    assert_eq!(sub.expect_bytes(3).await, [0x30, 0x80, 0x01]);
}

/// [MQTT-1.5.7-1] A User Property whose name is not UTF-8 makes the packet malformed: DISCONNECT 0x81.
#[tokio::test]
async fn mqtt_1_5_7_1_string_pair_must_be_utf8() {
    let broker = TestBroker::start_default().await;
    // User Property 0x26: name "\xC3\x28" (ill-formed), value "v".
    let props = [0x26, 0, 2, 0xC3, 0x28, 0, 1, b'v'];
    let bytes = frame(0x30, &publish_body(b"t", Some(&props), b"x"));
    refused_after_connect(&broker, V5, &bytes, ReasonCode::MALFORMED_PACKET).await;
}

// --- 2 Packet format ---------------------------------------------------------------------------------

/// [MQTT-2.2.1-2] A QoS 0 PUBLISH from the broker has no packet identifier: after the topic comes the
/// property length at once; [MQTT-3.3.1-2], [MQTT-4.3.1-1] its first byte is 0x30: QoS 0, DUP 0.
#[tokio::test]
async fn mqtt_2_2_1_2_qos0_publish_has_no_packet_identifier() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("q0", QoS::AtLeastOnce).await;
    publish_from(&broker, "pub", "q0", "z", QoS::AtMostOnce).await;
    // 30, length 6: topic length 00 02, "q0", property length 0, payload "z".
    assert_eq!(sub.expect_bytes(8).await, [0x30, 6, 0, 2, b'q', b'0', 0, b'z']);
}

/// [MQTT-2.2.1-4] Messages in flight to one client at the same time have distinct, non-zero packet
/// identifiers ([MQTT-4.3.2-1] for QoS 1, [MQTT-4.3.3-1] for QoS 2); [MQTT-2.2.1-5] the broker's
/// PUBACK/PUBREC/PUBCOMP carry the publisher's identifier.
#[tokio::test]
async fn mqtt_2_2_1_4_outgoing_packet_identifiers_are_unused_and_nonzero() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("ids", QoS::ExactlyOnce).await;
    let mut publisher = connect(&broker, V5, "pub").await;
    for (i, qos) in
        [QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtLeastOnce, QoS::ExactlyOnce].into_iter().enumerate()
    {
        let mut p = publish_packet("ids", format!("{i}"), qos);
        p.packet_id = Some(pid(700 + i as u16));
        // RawClient::publish checks PUBACK / PUBREC / PUBCOMP carry 700 + i.
        publisher.publish(p).await;
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4 {
        let p = sub.expect_publish().await; // not acknowledged: all four stay in flight
        assert!(seen.insert(p.packet_id.expect("QoS > 0 has an identifier")), "{seen:?}");
    }
}

/// [MQTT-2.2.1-6] SUBACK and UNSUBACK carry the identifier of their SUBSCRIBE and UNSUBSCRIBE;
/// [MQTT-3.8.4-1] every SUBSCRIBE gets a SUBACK, [MQTT-3.8.4-2] with the SUBSCRIBE's identifier.
#[tokio::test]
async fn mqtt_2_2_1_6_suback_and_unsuback_carry_the_request_identifier() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V5, "c").await;
    c.send(Packet::Subscribe(subscribe_packet(pid(4321), &[("a", qos_options(QoS::AtMostOnce))]))).await;
    assert_eq!(c.expect_suback().await.packet_id, pid(4321));
    let unsubscribe =
        Unsubscribe { packet_id: pid(1234), filters: vec!["a".into()], properties: Properties::default() };
    c.send(Packet::Unsubscribe(unsubscribe)).await;
    assert_eq!(c.expect_unsuback().await.packet_id, pid(1234));
}

/// [MQTT-2.2.2-1] A packet without properties has a Property Length of 0: the SUBACK is exactly
/// `90 04 00 07 00 01` (identifier, property length 0, granted QoS 1).
#[tokio::test]
async fn mqtt_2_2_2_1_no_properties_means_property_length_zero() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V5, "c").await;
    c.send(Packet::Subscribe(subscribe_packet(pid(7), &[("a", qos_options(QoS::AtLeastOnce))]))).await;
    assert_eq!(c.expect_bytes(6).await, [0x90, 4, 0, 7, 0, 1]);
}

// --- 3.1 CONNECT ---------------------------------------------------------------------------------------

/// [MQTT-3.1.2-4] Clean Start 1 discards an existing session; [MQTT-3.1.2-5] Clean Start 0 resumes it;
/// [MQTT-3.1.2-6] with no session a new one is created; [MQTT-3.1.4-4] the broker applies Clean Start.
#[tokio::test]
async fn mqtt_3_1_2_4_clean_start_discards_or_resumes_the_session() {
    let broker = TestBroker::start_default().await;
    let (mut c, present) = persistent(&broker, V5, "cs", false).await;
    assert!(!present, "[MQTT-3.1.2-6] no session yet: a new one");
    c.subscribe("cs/t", QoS::AtLeastOnce).await;
    c.disconnect().await;
    let (c, present) = persistent(&broker, V5, "cs", false).await;
    assert!(present, "[MQTT-3.1.2-5] resumed");
    c.disconnect().await;
    publish_from(&broker, "p1", "cs/t", "queued", QoS::AtLeastOnce).await;
    let (mut c, present) = persistent(&broker, V5, "cs", true).await;
    assert!(!present, "[MQTT-3.1.2-4] discarded");
    c.expect_nothing(QUIET).await;
    publish_from(&broker, "p2", "cs/t", "after", QoS::AtLeastOnce).await;
    c.expect_nothing(QUIET).await;
}

/// [MQTT-3.1.2-7] A will is stored with the accepted CONNECT; [MQTT-3.1.2-10] it is removed once
/// published: a second loss of the same session publishes nothing more.
#[tokio::test]
async fn mqtt_3_1_2_7_will_is_stored_and_removed_once_published() {
    let broker = TestBroker::start_default().await;
    let mut watcher = connect(&broker, V5, "watcher").await;
    watcher.subscribe("wills/#", QoS::AtLeastOnce).await;
    let mut c = connect_packet(V5, "dying");
    c.will = Some(tern_codec::LastWill {
        topic: "wills/dying".into(),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
    });
    let (client, _) = RawClient::connect_accepted(broker.addr(), c).await;
    client.drop_connection();
    assert_eq!(watcher.receive_and_ack().await.payload, "gone");
    // The same client id again, without a will: nothing is published when it goes.
    let again = connect(&broker, V5, "dying").await;
    again.drop_connection();
    watcher.expect_nothing(QUIET).await;
}

/// [MQTT-3.1.2-22] With a non-zero Keep Alive a silent client is disconnected after one and a half times
/// it, with DISCONNECT 0x8D.
#[tokio::test]
async fn mqtt_3_1_2_22_silent_client_is_disconnected_after_one_and_a_half_keep_alive() {
    let broker = TestBroker::start_default().await;
    let mut c = connect_packet(V5, "silent");
    c.keep_alive = 1;
    let (mut client, _) = RawClient::connect_accepted(broker.addr(), c).await;
    let started = std::time::Instant::now();
    client.expect_disconnect(ReasonCode::KEEP_ALIVE_TIMEOUT).await;
    assert!(started.elapsed() >= Duration::from_millis(1000), "not before the keep-alive itself");
}

/// [MQTT-3.1.2-24] The broker never sends a packet larger than the client's Maximum Packet Size, and
/// [MQTT-3.1.2-25] drops such a message for that client as if it had been sent: the next one still comes.
#[tokio::test]
async fn mqtt_3_1_2_24_nothing_larger_than_the_client_maximum_packet_size() {
    let broker = TestBroker::start_default().await;
    let mut c = connect_packet(V5, "small");
    c.properties.maximum_packet_size = Some(64);
    let (mut small, _) = RawClient::connect_accepted(broker.addr(), c).await;
    small.subscribe("big", QoS::AtLeastOnce).await;
    publish_from(&broker, "p1", "big", &"x".repeat(100), QoS::AtLeastOnce).await;
    publish_from(&broker, "p2", "big", "fits", QoS::AtLeastOnce).await;
    assert_eq!(small.receive_and_ack().await.payload, "fits");
}

/// [MQTT-3.1.2-27] A client that sets no Topic Alias Maximum is never sent a Topic Alias.
#[tokio::test]
async fn mqtt_3_1_2_27_no_topic_alias_without_the_client_maximum() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("alias/t", QoS::AtMostOnce).await;
    let mut publisher = connect(&broker, V5, "pub").await;
    for _ in 0..3 {
        publisher.publish_qos0("alias/t", "x").await;
    }
    for _ in 0..3 {
        let p = sub.expect_publish().await;
        assert_eq!((p.topic.as_ref(), p.properties.topic_alias), ("alias/t", None));
    }
}

/// [MQTT-3.1.2-26], [MQTT-3.3.2-11] The broker's aliases stay within the client's Topic Alias Maximum
/// (here 1): with two topics, alias 1 is used and never 2; [MQTT-3.3.2-8] never alias 0.
#[tokio::test]
async fn mqtt_3_1_2_26_topic_aliases_stay_within_the_client_maximum() {
    let broker = TestBroker::start_default().await;
    let mut c = connect_packet(V5, "sub");
    c.properties.topic_alias_maximum = Some(1);
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), c).await;
    sub.subscribe("alias/#", QoS::AtMostOnce).await;
    let mut publisher = connect(&broker, V5, "pub").await;
    for t in ["alias/a", "alias/b", "alias/a", "alias/b", "alias/a"] {
        publisher.publish_qos0(t, "x").await;
    }
    for _ in 0..5 {
        let p = sub.expect_publish().await;
        assert!(p.properties.topic_alias.is_none_or(|a| a == 1), "{p:?}");
    }
}

/// [MQTT-3.1.3-5] Client ids of 1 to 23 characters from 0-9a-zA-Z are accepted.
#[tokio::test]
async fn mqtt_3_1_3_5_short_alphanumeric_client_ids_are_accepted() {
    let broker = TestBroker::start_default().await;
    for id in ["a", "Z9", "abcdefghijklmnopqrstuvw", "0123456789ABCDEFGHIJKLM"] {
        connect(&broker, V5, id).await;
    }
}

/// [MQTT-3.1.3-7] The assigned client id is used as if the client had sent it, and [MQTT-3.1.3-2] the
/// client id names the session: a second connection giving that id explicitly takes the session over.
#[tokio::test]
async fn mqtt_3_1_3_7_assigned_client_id_names_the_session() {
    let broker = TestBroker::start_default().await;
    let (mut first, ack) = RawClient::connect_accepted(broker.addr(), connect_packet(V5, "")).await;
    let assigned = ack.properties.assigned_client_identifier.expect("assigned id").to_string();
    connect(&broker, V5, &assigned).await;
    first.expect_disconnect(ReasonCode::SESSION_TAKEN_OVER).await;
}

/// [MQTT-3.1.4-5] An accepted CONNECT gets CONNACK 0x00; [MQTT-3.2.0-1] CONNACK is the broker's first
/// packet; [MQTT-3.2.0-2] and it is sent once.
#[tokio::test]
async fn mqtt_3_1_4_5_accepted_connect_gets_one_connack_success_first() {
    let broker = TestBroker::start_default().await;
    let mut c = RawClient::tcp(broker.addr(), V5).await;
    c.send(Packet::Connect(Box::new(connect_packet(V5, "once")))).await;
    assert_eq!(c.expect_connack().await.reason_code, ReasonCode::SUCCESS);
    c.ping().await;
    c.expect_nothing(QUIET).await;
}

/// [MQTT-3.1.4-6] After refusing a CONNECT the broker processes nothing the client sent after it: a
/// PUBLISH pipelined behind a refused CONNECT is not delivered.
#[tokio::test]
async fn mqtt_3_1_4_6_nothing_is_processed_after_a_refused_connect() {
    let mut config = tern_broker::config::Config::default();
    config.security.allow_anonymous = Some(false);
    let broker = TestBroker::start(config).await;
    let mut c = RawClient::tcp(broker.addr(), V5).await;
    let mut buf = bytes::BytesMut::new();
    tern_codec::encode(&Packet::Connect(Box::new(connect_packet(V5, "refused"))), V5, &mut buf).unwrap();
    tern_codec::encode(
        &Packet::Subscribe(subscribe_packet(pid(1), &[("x", qos_options(QoS::AtMostOnce))])),
        V5,
        &mut buf,
    )
    .unwrap();
    c.send_raw(&buf).await;
    assert!(c.expect_connack().await.reason_code.is_error());
    assert!(matches!(c.recv(TIMEOUT).await, Event::Closed), "no SUBACK after a refusal");
}

// --- 3.2 CONNACK ---------------------------------------------------------------------------------------

/// [MQTT-3.2.2-1] CONNACK flag bits 7-1 are 0; [MQTT-3.2.2-8] its reason code is a CONNACK code.
#[tokio::test]
async fn mqtt_3_2_2_1_connack_reserved_flags_are_zero() {
    let broker = TestBroker::start_default().await;
    let (_c, present) = persistent(&broker, V5, "flags", false).await;
    assert!(!present);
    let mut c = RawClient::tcp(broker.addr(), V5).await;
    let mut connect = connect_packet(V5, "flags");
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(300);
    c.send(Packet::Connect(Box::new(connect))).await;
    let bytes = c.expect_bytes(4).await;
    assert_eq!(bytes[0], 0x20);
    assert_eq!(bytes[2], 0x01, "only bit 0 (session present) may be set");
    assert!(ReasonCode(bytes[3]).is_valid_for(tern_codec::PacketType::ConnAck));
}

/// [MQTT-3.2.2-7] After a CONNACK of 0x80 or above the broker closes the connection; [MQTT-3.2.2-6]
/// with Session Present 0.
#[tokio::test]
async fn mqtt_3_2_2_7_refusing_connack_closes_the_connection() {
    let broker = TestBroker::start_default().await;
    let mut c = connect_packet(V5, "x");
    c.properties.authentication_method = Some("NOPE".into());
    let (mut client, ack) = RawClient::connect(broker.addr(), c).await;
    assert_eq!((ack.reason_code, ack.session_present), (ReasonCode::BAD_AUTHENTICATION_METHOD, false));
    client.expect_closed(TIMEOUT).await;
}

/// [MQTT-3.2.2-9] With `max_qos 1` CONNACK carries Maximum QoS 1; [MQTT-3.2.2-10] a SUBSCRIBE asking for
/// QoS 2 is still accepted, granted QoS 1.
#[tokio::test]
async fn mqtt_3_2_2_9_maximum_qos_is_announced_and_subscribe_still_accepted() {
    let mut config = tern_broker::config::Config::default();
    config.limits.max_qos = 1;
    let broker = TestBroker::start(config).await;
    let (mut c, ack) = RawClient::connect_accepted(broker.addr(), connect_packet(V5, "mq")).await;
    assert_eq!(ack.properties.maximum_qos, Some(QoS::AtLeastOnce));
    c.send(Packet::Subscribe(subscribe_packet(pid(1), &[("t", qos_options(QoS::ExactlyOnce))]))).await;
    assert_eq!(c.expect_suback().await.reason_codes, [ReasonCode::GRANTED_QOS_1]);
}

/// [MQTT-3.2.2-22] Without Server Keep Alive in CONNACK, the client's own Keep Alive applies.
#[tokio::test]
async fn mqtt_3_2_2_22_without_server_keep_alive_the_clients_applies() {
    let broker = TestBroker::start_default().await;
    let mut c = connect_packet(V5, "ka");
    c.keep_alive = 2;
    let (mut client, ack) = RawClient::connect_accepted(broker.addr(), c).await;
    assert_eq!(ack.properties.server_keep_alive, None);
    // 2 s is kept: a ping every second keeps the connection past 3 s.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        client.ping().await;
    }
}

// --- 3.3 PUBLISH ---------------------------------------------------------------------------------------

/// [MQTT-3.3.2-3] The topic of a PUBLISH to a subscriber matches the subscription's filter: the message's
/// own topic is sent, never the filter.
#[tokio::test]
async fn mqtt_3_3_2_3_forwarded_topic_is_the_published_topic() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("m/+/x/#", QoS::AtMostOnce).await;
    publish_from(&broker, "p", "m/a/x/b/c", "1", QoS::AtMostOnce).await;
    assert_eq!(sub.expect_publish().await.topic[..], *"m/a/x/b/c");
}

/// [MQTT-3.3.2-7] Topic aliases are per connection: after reconnecting, an alias set on the previous
/// connection is unknown (DISCONNECT 0x94 Topic Alias invalid for an empty topic with an unknown alias).
#[tokio::test]
async fn mqtt_3_3_2_7_topic_aliases_end_with_the_connection() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V5, "alias").await;
    let mut p = publish_packet("al/t", "1", QoS::AtMostOnce);
    p.properties.topic_alias = Some(1);
    c.send(Packet::Publish(p)).await;
    c.disconnect().await;
    let mut c = connect(&broker, V5, "alias").await;
    let mut p = publish_packet("", "2", QoS::AtMostOnce);
    p.properties.topic_alias = Some(1);
    c.send(Packet::Publish(p)).await;
    c.expect_disconnect(ReasonCode::TOPIC_ALIAS_INVALID).await;
}

/// [MQTT-3.3.2-12] The broker accepts every alias from 1 to the Topic Alias Maximum it announced, and
/// resolves an alias sent alone to its topic.
#[tokio::test]
async fn mqtt_3_3_2_12_every_alias_up_to_the_maximum_is_accepted() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("al/#", QoS::AtMostOnce).await;
    let (mut c, ack) = RawClient::connect_accepted(broker.addr(), connect_packet(V5, "pub")).await;
    let max = ack.properties.topic_alias_maximum.expect("aliases offered");
    for alias in 1..=max {
        let mut p = publish_packet(&format!("al/{alias}"), "set", QoS::AtMostOnce);
        p.properties.topic_alias = Some(alias);
        c.send(Packet::Publish(p)).await;
        let mut p = publish_packet("", "use", QoS::AtMostOnce);
        p.properties.topic_alias = Some(alias);
        c.send(Packet::Publish(p)).await;
    }
    for alias in 1..=max {
        for _ in 0..2 {
            assert_eq!(sub.expect_publish().await.topic.to_string(), format!("al/{alias}"));
        }
    }
}

/// [MQTT-3.3.4-1] Each PUBLISH gets the answer its QoS calls for: none, PUBACK, PUBREC; [MQTT-4.3.2-4] the
/// PUBACK carries the PUBLISH's identifier.
#[tokio::test]
async fn mqtt_3_3_4_1_publish_is_answered_by_its_qos() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V5, "q").await;
    c.publish_qos0("q", "0").await;
    c.expect_nothing(QUIET).await;
    let mut p = publish_packet("q", "1", QoS::AtLeastOnce);
    p.packet_id = Some(pid(1));
    c.send(Packet::Publish(p)).await;
    assert!(matches!(c.next_packet().await, Packet::PubAck(a) if a.packet_id == pid(1)));
    let mut p = publish_packet("q", "2", QoS::ExactlyOnce);
    p.packet_id = Some(pid(2));
    c.send(Packet::Publish(p)).await;
    assert!(matches!(c.next_packet().await, Packet::PubRec(a) if a.packet_id == pid(2)));
}

/// [MQTT-3.3.4-10] With the client's Receive Maximum used up, the broker still answers other packets.
#[tokio::test]
async fn mqtt_3_3_4_10_other_packets_flow_when_the_send_quota_is_zero() {
    let broker = TestBroker::start_default().await;
    let mut c = connect_packet(V5, "rm");
    c.properties.receive_maximum = Some(1);
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), c).await;
    sub.subscribe("rm", QoS::AtLeastOnce).await;
    publish_from(&broker, "p", "rm", "1", QoS::AtLeastOnce).await;
    publish_from(&broker, "p2", "rm", "2", QoS::AtLeastOnce).await;
    let first = sub.expect_publish().await;
    sub.ping().await; // [MQTT-4.9.0-3]
    sub.subscribe("other", QoS::AtMostOnce).await;
    sub.ack(&first).await;
    assert_eq!(sub.expect_publish().await.payload, "2");
}

// --- 3.4 - 3.7 acknowledgements ----------------------------------------------------------------------

/// [MQTT-3.4.2-1] PUBACK, [MQTT-3.5.2-1] PUBREC, [MQTT-3.6.2-1] PUBREL and [MQTT-3.7.2-1] PUBCOMP from the
/// broker carry reason codes defined for their packet.
#[tokio::test]
async fn mqtt_3_4_2_1_acknowledgements_use_their_own_reason_codes() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("acks", QoS::ExactlyOnce).await;
    let mut c = connect(&broker, V5, "pub").await;
    let puback = c.publish_at("acks", "1", QoS::AtLeastOnce).await.expect("PUBACK");
    assert!(puback.reason_code.is_valid_for(tern_codec::PacketType::PubAck));
    let pubrec = c.publish_at("nobody", "2", QoS::ExactlyOnce).await.expect("PUBREC");
    assert!(pubrec.reason_code.is_valid_for(tern_codec::PacketType::PubRec));
    // PUBREL and PUBCOMP: a QoS 2 delivery to `sub`, and a PUBREL for an unknown id.
    let p = sub.expect_publish().await;
    sub.send(Packet::PubRec(Ack::new(p.packet_id.expect("id")))).await;
    match sub.next_packet().await {
        Packet::PubRel(rel) => assert!(rel.reason_code.is_valid_for(tern_codec::PacketType::PubRel)),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    sub.send(Packet::PubRel(Ack::new(pid(999)))).await;
    match sub.next_packet().await {
        Packet::PubComp(comp) => {
            assert_eq!(comp.reason_code, ReasonCode::PACKET_IDENTIFIER_NOT_FOUND);
            assert!(comp.reason_code.is_valid_for(tern_codec::PacketType::PubComp));
        }
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
}

/// [MQTT-3.4.2-2] A PUBACK reason string that would take the packet past the client's Maximum Packet
/// Size is left out (and [MQTT-3.4.2-3] so are user properties): the refusal still arrives; the same for
/// PUBREC [MQTT-3.5.2-2], [MQTT-3.5.2-3].
#[tokio::test]
async fn mqtt_3_4_2_2_reason_string_is_dropped_when_it_does_not_fit() {
    let mut config = tern_broker::config::Config::default();
    config.limits.message_size_limit = 1;
    let broker = TestBroker::start(config).await;
    let mut c = connect_packet(V5, "tiny");
    c.properties.maximum_packet_size = Some(8);
    let (mut client, _) = RawClient::connect_accepted(broker.addr(), c).await;
    let ack = client.publish_at("t", "too big", QoS::AtLeastOnce).await.expect("PUBACK");
    assert_eq!(ack.reason_code, ReasonCode::QUOTA_EXCEEDED);
    assert_eq!(ack.properties.reason_string, None);
    assert!(ack.properties.user_properties.is_empty());
    let rec = client.publish_at("t", "too big", QoS::ExactlyOnce).await.expect("PUBREC");
    assert_eq!((rec.reason_code, rec.properties.reason_string), (ReasonCode::QUOTA_EXCEEDED, None));
    // With room for it, the reason string is there: the test above is not vacuous.
    let (mut roomy, _) = RawClient::connect_accepted(broker.addr(), connect_packet(V5, "roomy")).await;
    let ack = roomy.publish_at("t", "too big", QoS::AtLeastOnce).await.expect("PUBACK");
    assert!(ack.properties.reason_string.is_some());
}

// --- 3.8 SUBSCRIBE -----------------------------------------------------------------------------------

/// [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82.
#[tokio::test]
async fn mqtt_3_8_3_4_no_local_on_a_shared_subscription_is_a_protocol_error() {
    let broker = TestBroker::start_default().await;
    // SUBSCRIBE id 1, no properties, "$share/g/t" with options No Local + QoS 0 (our codec refuses to
    // encode it, hence the raw bytes).
    let mut body = vec![0, 1, 0, 0, 10];
    body.extend_from_slice(b"$share/g/t");
    body.push(0x04);
    refused_after_connect(&broker, V5, &frame(0x82, &body), ReasonCode::PROTOCOL_ERROR).await;
}

/// [MQTT-3.8.3-5] Non-zero reserved bits in the Subscription Options make SUBSCRIBE malformed.
#[tokio::test]
async fn mqtt_3_8_3_5_reserved_subscription_option_bits_are_malformed() {
    let broker = TestBroker::start_default().await;
    // SUBSCRIBE id 1, property length 0, filter "a", options 0xC0.
    let bytes = frame(0x82, &[0, 1, 0, 0, 1, b'a', 0xC0]);
    refused_after_connect(&broker, V5, &bytes, ReasonCode::MALFORMED_PACKET).await;
}

/// [MQTT-3.8.4-3] Subscribing again to the same filter replaces the subscription (new granted QoS);
/// [MQTT-3.8.4-4] with Retain Handling 0 the retained messages are sent again, and no message is lost or
/// doubled across the replacement.
#[tokio::test]
async fn mqtt_3_8_4_4_replacing_a_subscription_resends_retained_and_loses_nothing() {
    let broker = TestBroker::start_default().await;
    let mut p = connect(&broker, V5, "p").await;
    let mut kept = publish_packet("rs/t", "kept", QoS::AtLeastOnce);
    kept.retain = true;
    p.publish(kept).await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("rs/#", QoS::AtLeastOnce).await;
    assert_eq!(sub.receive_and_ack().await.payload, "kept");
    let again = SubscriptionOptions {
        retain_handling: RetainHandling::SendAtSubscribe,
        ..qos_options(QoS::ExactlyOnce)
    };
    sub.subscribe_with(&[("rs/#", again)]).await;
    let resent = sub.receive_and_ack().await;
    assert!(resent.retain && resent.payload == "kept");
    p.publish_at("rs/t", "live", QoS::AtLeastOnce).await;
    let live = drain(&mut sub).await;
    assert_eq!(live.len(), 1, "one subscription, one copy");
    assert_eq!(live[0].qos, QoS::AtLeastOnce, "min(published 1, granted 2)");
}

/// [MQTT-3.8.4-5] Several filters in one SUBSCRIBE act as separate SUBSCRIBEs with one SUBACK;
/// [MQTT-3.8.4-6] one reason code each; [MQTT-3.8.4-7] each the granted QoS or a failure; [MQTT-3.9.3-1]
/// in order; [MQTT-3.9.3-2] all SUBACK codes.
#[tokio::test]
async fn mqtt_3_8_4_5_one_suback_with_a_code_per_filter() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V5, "multi").await;
    let filters = [
        ("a/#", qos_options(QoS::ExactlyOnce)),
        ("b/#/c", qos_options(QoS::AtMostOnce)),
        ("c", qos_options(QoS::AtLeastOnce)),
    ];
    c.send(Packet::Subscribe(subscribe_packet(pid(3), &filters))).await;
    // An invalid filter makes the whole SUBSCRIBE malformed here: DISCONNECT, then close.
    match c.next_packet().await {
        Packet::SubAck(ack) => {
            assert_eq!(ack.reason_codes.len(), 3);
            assert!(ack.reason_codes.iter().all(|rc| rc.is_valid_for(tern_codec::PacketType::SubAck)));
        }
        Packet::Disconnect(d) => assert!(d.reason_code.is_error()),
        other => panic!("{other:?}"),
    }
    let mut c = connect(&broker, V5, "multi2").await;
    let filters = [
        ("x/#", qos_options(QoS::ExactlyOnce)),
        ("y", qos_options(QoS::AtMostOnce)),
        ("z/+", qos_options(QoS::AtLeastOnce)),
    ];
    let ack = c.subscribe_with(&filters).await;
    assert_eq!(
        ack.reason_codes,
        [ReasonCode::GRANTED_QOS_2, ReasonCode::GRANTED_QOS_0, ReasonCode::GRANTED_QOS_1]
    );
    for (topic, qos) in [("x/1", QoS::ExactlyOnce), ("y", QoS::AtMostOnce), ("z/1", QoS::AtLeastOnce)] {
        publish_from(&broker, "p", topic, "m", QoS::ExactlyOnce).await;
        assert_eq!(c.receive_and_ack().await.qos, qos);
    }
}

// --- 3.10 UNSUBSCRIBE ---------------------------------------------------------------------------------

/// [MQTT-3.10.4-6] Several filters in one UNSUBSCRIBE act as separate UNSUBSCRIBEs with one UNSUBACK
/// ([MQTT-3.10.4-5] also for a filter with no subscription);
/// [MQTT-3.11.3-1] its codes in the filters' order, [MQTT-3.11.3-2] each an UNSUBACK code;
/// [MQTT-3.10.4-4] an UNSUBACK for every UNSUBSCRIBE.
#[tokio::test]
async fn mqtt_3_10_4_6_one_unsuback_with_a_code_per_filter() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V5, "u").await;
    c.subscribe("a", QoS::AtMostOnce).await;
    c.subscribe("c", QoS::AtMostOnce).await;
    let ack = c.unsubscribe(&["a", "b", "c"]).await;
    assert_eq!(
        ack.reason_codes,
        [ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED, ReasonCode::SUCCESS]
    );
    assert!(ack.reason_codes.iter().all(|rc| rc.is_valid_for(tern_codec::PacketType::UnsubAck)));
    publish_from(&broker, "p", "a", "1", QoS::AtMostOnce).await;
    publish_from(&broker, "p", "c", "1", QoS::AtMostOnce).await;
    c.expect_nothing(QUIET).await;
}

/// [MQTT-3.10.3-2] An UNSUBSCRIBE without a filter is a Protocol Error: DISCONNECT 0x82.
#[tokio::test]
async fn mqtt_3_10_3_2_unsubscribe_without_filters_is_refused() {
    let broker = TestBroker::start_default().await;
    refused_after_connect(&broker, V5, &frame(0xA2, &[0, 1, 0]), ReasonCode::PROTOCOL_ERROR).await;
}

/// [MQTT-3.10.1-1] UNSUBSCRIBE with fixed-header flags other than 0010 is malformed.
#[tokio::test]
async fn mqtt_3_10_1_1_unsubscribe_flags_must_be_0010() {
    let broker = TestBroker::start_default().await;
    refused_after_connect(&broker, V5, &frame(0xA0, &[0, 1, 0, 0, 1, b'a']), ReasonCode::MALFORMED_PACKET)
        .await;
}

// --- 3.14 DISCONNECT, 3.15 AUTH ----------------------------------------------------------------------

/// [MQTT-3.14.0-1] No DISCONNECT before CONNACK: a malformed CONNECT is answered without one;
/// [MQTT-3.1.2-3] the reserved CONNECT flag set is malformed.
#[tokio::test]
async fn mqtt_3_14_0_1_no_disconnect_before_connack() {
    let broker = TestBroker::start_default().await;
    let mut c = RawClient::tcp(broker.addr(), V5).await;
    // CONNECT "MQTT" 5 with the reserved flag set.
    c.send_raw(&frame(0x10, &[0, 4, b'M', b'Q', b'T', b'T', 5, 0x03, 0, 60, 0, 0, 1, b'x'])).await;
    match c.recv(TIMEOUT).await {
        Event::Closed => {}
        Event::Packet(Packet::ConnAck(ack)) => assert!(ack.reason_code.is_error()),
        other => panic!("expected CONNACK or close, got {other:?}"),
    }
}

/// [MQTT-3.14.1-1] DISCONNECT with reserved flag bits set is malformed: DISCONNECT 0x81.
#[tokio::test]
async fn mqtt_3_14_1_1_disconnect_reserved_flags() {
    let broker = TestBroker::start_default().await;
    refused_after_connect(&broker, V5, &frame(0xE1, &[]), ReasonCode::MALFORMED_PACKET).await;
}

/// [MQTT-3.14.2-1] A DISCONNECT with an undefined reason code is refused; [MQTT-3.14.2-2] the broker's own
/// DISCONNECT never carries Session Expiry Interval.
#[tokio::test]
async fn mqtt_3_14_2_1_disconnect_reason_codes_are_defined() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V5, "d").await;
    c.send_raw(&frame(0xE0, &[0x03])).await;
    match c.next_packet().await {
        Packet::Disconnect(d) => {
            assert!(d.reason_code.is_error());
            assert!(d.reason_code.is_valid_for(tern_codec::PacketType::Disconnect));
            assert_eq!(d.properties.session_expiry_interval, None);
        }
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    c.expect_closed(TIMEOUT).await;
}

/// [MQTT-3.14.4-1] Nothing follows the broker's DISCONNECT, and [MQTT-3.14.4-2] the broker closes the
/// connection after it; [MQTT-4.13.2-1] a reason of 0x80 or more ends the connection.
#[tokio::test]
async fn mqtt_3_14_4_1_nothing_after_the_brokers_disconnect() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("after", QoS::AtMostOnce).await;
    sub.send(Packet::Connect(Box::new(connect_packet(V5, "sub")))).await;
    publish_from(&broker, "p", "after", "x", QoS::AtMostOnce).await;
    match sub.next_packet().await {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::PROTOCOL_ERROR),
        Packet::Publish(_) => {
            assert!(matches!(sub.next_packet().await, Packet::Disconnect(_)));
        }
        other => panic!("{other:?}"),
    }
    sub.expect_closed(TIMEOUT).await;
}

/// [MQTT-3.15.1-1] AUTH with reserved flag bits set is malformed.
#[tokio::test]
async fn mqtt_3_15_1_1_auth_reserved_flags() {
    let broker = TestBroker::start_default().await;
    refused_after_connect(&broker, V5, &frame(0xF1, &[]), ReasonCode::MALFORMED_PACKET).await;
}

/// [MQTT-3.15.2-1] An AUTH with a reason code AUTH does not define is refused.
#[tokio::test]
async fn mqtt_3_15_2_1_auth_reason_codes_are_defined() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V5, "a").await;
    c.send_raw(&frame(0xF0, &[0x87, 0])).await;
    expect_end(&mut c).await;
}

// --- 4 Operational behaviour --------------------------------------------------------------------------

/// [MQTT-4.1.0-1] Session state is kept while the connection is open; [MQTT-4.1.0-2] and discarded once
/// the connection closed and the Session Expiry Interval (here 1 s) passed.
#[tokio::test]
async fn mqtt_4_1_0_2_session_is_discarded_after_its_expiry() {
    let broker = TestBroker::start_default().await;
    let mut c = connect_packet(V5, "exp");
    c.clean_start = false;
    c.properties.session_expiry_interval = Some(1);
    let (mut client, _) = RawClient::connect_accepted(broker.addr(), c.clone()).await;
    client.subscribe("exp", QoS::AtLeastOnce).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    publish_from(&broker, "p", "exp", "still", QoS::AtLeastOnce).await;
    assert_eq!(client.receive_and_ack().await.payload, "still", "[MQTT-4.1.0-1]");
    client.disconnect().await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (_client, ack) = RawClient::connect_accepted(broker.addr(), c).await;
    assert!(!ack.session_present, "[MQTT-4.1.0-2]");
}

/// [MQTT-4.3.2-3] A QoS 1 PUBLISH stays unacknowledged until PUBACK: resent (DUP 1) on the next connection
/// of the session if PUBACK never came, and not resent once it did; [MQTT-4.3.2-5] a PUBLISH with the id of
/// an acknowledged one is a new message.
#[tokio::test]
async fn mqtt_4_3_2_3_qos1_is_kept_until_puback() {
    let broker = TestBroker::start_default().await;
    let (mut sub, _) = persistent(&broker, V5, "s1", true).await;
    sub.subscribe("q1", QoS::AtLeastOnce).await;
    publish_from(&broker, "p", "q1", "a", QoS::AtLeastOnce).await;
    let first = sub.expect_publish().await;
    assert!(!first.dup, "[MQTT-4.3.2-2]");
    sub.drop_connection();
    let (mut sub, present) = persistent(&broker, V5, "s1", false).await;
    assert!(present);
    let again = sub.expect_publish().await;
    assert!(again.dup && again.packet_id == first.packet_id);
    sub.ack(&again).await;
    sub.drop_connection();
    let (mut sub, _) = persistent(&broker, V5, "s1", false).await;
    sub.expect_nothing(QUIET).await;
    // Inbound: the same packet id used twice after PUBACK is two messages.
    let mut watcher = connect(&broker, V5, "w").await;
    watcher.subscribe("twice", QoS::AtMostOnce).await;
    for _ in 0..2 {
        let mut p = publish_packet("twice", "x", QoS::AtLeastOnce);
        p.packet_id = Some(pid(9));
        p.dup = true;
        sub.publish(p).await;
    }
    assert_eq!(drain(&mut watcher).await.len(), 2);
}

/// [MQTT-4.3.3-3] A QoS 2 PUBLISH stays unacknowledged until PUBREC, [MQTT-4.3.3-5] the PUBREL until
/// PUBCOMP, and [MQTT-4.3.3-6] once PUBREL went out the PUBLISH is never sent again; [MQTT-4.3.3-4] PUBREC
/// is answered by PUBREL with the same identifier; [MQTT-4.3.3-2] the first PUBLISH has DUP 0.
#[tokio::test]
async fn mqtt_4_3_3_3_qos2_sender_states() {
    let broker = TestBroker::start_default().await;
    let (mut sub, _) = persistent(&broker, V5, "s2", true).await;
    sub.subscribe("q2", QoS::ExactlyOnce).await;
    publish_from(&broker, "p", "q2", "a", QoS::ExactlyOnce).await;
    let first = sub.expect_publish().await;
    assert!(!first.dup);
    let id = first.packet_id.expect("id");
    sub.drop_connection();
    let (mut sub, _) = persistent(&broker, V5, "s2", false).await;
    let again = sub.expect_publish().await;
    assert!(again.dup && again.packet_id == Some(id), "resent until PUBREC");
    sub.send(Packet::PubRec(Ack::new(id))).await;
    assert!(matches!(sub.next_packet().await, Packet::PubRel(r) if r.packet_id == id));
    sub.drop_connection();
    let (mut sub, _) = persistent(&broker, V5, "s2", false).await;
    match sub.next_packet().await {
        Packet::PubRel(r) => assert_eq!(r.packet_id, id, "PUBREL again, not the PUBLISH"),
        other => panic!("expected PUBREL, got {other:?}"),
    }
    sub.send(Packet::PubComp(Ack::new(id))).await;
    sub.drop_connection();
    let (mut sub, _) = persistent(&broker, V5, "s2", false).await;
    sub.expect_nothing(QUIET).await;
}

/// [MQTT-4.3.3-9] After a PUBREC of 0x80 or more, a PUBLISH with the same identifier is a new message;
/// [MQTT-4.3.3-8] PUBREC carries the PUBLISH's identifier; [MQTT-4.3.3-12] after PUBCOMP too.
#[tokio::test]
async fn mqtt_4_3_3_9_failed_pubrec_frees_the_identifier() {
    let mut config = tern_broker::config::Config::default();
    config.limits.message_size_limit = 3;
    let broker = TestBroker::start(config).await;
    let mut watcher = connect(&broker, V5, "w").await;
    watcher.subscribe("ids2", QoS::AtMostOnce).await;
    let mut c = connect(&broker, V5, "c").await;
    let mut p = publish_packet("ids2", "too long", QoS::ExactlyOnce);
    p.packet_id = Some(pid(5));
    c.send(Packet::Publish(p)).await;
    match c.next_packet().await {
        Packet::PubRec(r) => assert_eq!((r.packet_id, r.reason_code), (pid(5), ReasonCode::QUOTA_EXCEEDED)),
        other => panic!("{other:?}"),
    }
    let mut p = publish_packet("ids2", "ok", QoS::ExactlyOnce);
    p.packet_id = Some(pid(5));
    c.publish(p.clone()).await;
    c.publish(p).await;
    assert_eq!(drain(&mut watcher).await.len(), 2);
}

/// [MQTT-4.3.3-7] Message expiry does not apply to a QoS 2 message once sent: the exchange resumes after
/// reconnecting (PUBREL past PUBREC) even though its expiry passed meanwhile.
#[tokio::test]
async fn mqtt_4_3_3_7_no_expiry_once_a_qos2_message_was_sent() {
    let broker = TestBroker::start_default().await;
    let (mut sub, _) = persistent(&broker, V5, "e2", true).await;
    sub.subscribe("e2", QoS::ExactlyOnce).await;
    let mut p = connect(&broker, V5, "p").await;
    let mut m = publish_packet("e2", "short", QoS::ExactlyOnce);
    m.properties.message_expiry_interval = Some(1);
    p.publish(m).await;
    let got = sub.expect_publish().await;
    let id = got.packet_id.expect("id");
    sub.send(Packet::PubRec(Ack::new(id))).await;
    assert!(matches!(sub.next_packet().await, Packet::PubRel(_)));
    sub.drop_connection();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (mut sub, _) = persistent(&broker, V5, "e2", false).await;
    assert!(matches!(sub.next_packet().await, Packet::PubRel(r) if r.packet_id == id));
}

/// [MQTT-4.3.3-13] The QoS 2 receiver completes the exchange even when the message expired: a PUBREL
/// after the Message Expiry Interval still gets PUBCOMP 0x00.
#[tokio::test]
async fn mqtt_4_3_3_13_receiver_completes_after_expiry() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V5, "c").await;
    let mut m = publish_packet("exp2", "x", QoS::ExactlyOnce);
    m.properties.message_expiry_interval = Some(1);
    m.packet_id = Some(pid(3));
    c.send(Packet::Publish(m)).await;
    assert!(matches!(c.next_packet().await, Packet::PubRec(_)));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    c.send(Packet::PubRel(Ack::new(pid(3)))).await;
    match c.next_packet().await {
        Packet::PubComp(comp) => assert_eq!(comp.reason_code, ReasonCode::SUCCESS),
        other => panic!("{other:?}"),
    }
}

/// [MQTT-4.4.0-2] A PUBACK of 0x80 or more still acknowledges: the message is not sent again.
#[tokio::test]
async fn mqtt_4_4_0_2_failed_puback_is_an_acknowledgement() {
    let broker = TestBroker::start_default().await;
    let (mut sub, _) = persistent(&broker, V5, "f", true).await;
    sub.subscribe("f", QoS::AtLeastOnce).await;
    publish_from(&broker, "p", "f", "x", QoS::AtLeastOnce).await;
    let p = sub.expect_publish().await;
    let mut ack = Ack::new(p.packet_id.expect("id"));
    ack.reason_code = ReasonCode::UNSPECIFIED_ERROR;
    sub.send(Packet::PubAck(ack)).await;
    sub.drop_connection();
    let (mut sub, _) = persistent(&broker, V5, "f", false).await;
    sub.expect_nothing(QUIET).await;
}

/// [MQTT-4.5.0-1] A message the broker took is added to every session with a matching subscription,
/// online or offline.
#[tokio::test]
async fn mqtt_4_5_0_1_message_reaches_every_matching_session() {
    let broker = TestBroker::start_default().await;
    let (off, _) = persistent(&broker, V5, "off", true).await;
    let mut off = off;
    off.subscribe("all/#", QoS::AtLeastOnce).await;
    off.disconnect().await;
    let mut on = connect(&broker, V5, "on").await;
    on.subscribe("all/+", QoS::AtLeastOnce).await;
    publish_from(&broker, "p", "all/x", "m", QoS::AtLeastOnce).await;
    assert_eq!(on.receive_and_ack().await.payload, "m");
    let (mut off, _) = persistent(&broker, V5, "off", false).await;
    assert_eq!(off.receive_and_ack().await.payload, "m");
}

/// [MQTT-4.6.0-6] Messages to a non-shared subscription keep the publisher's order per topic and QoS,
/// also across QoS 1 and 2 interleaved and a queue while offline.
#[tokio::test]
async fn mqtt_4_6_0_6_every_topic_is_ordered() {
    let broker = TestBroker::start_default().await;
    let (mut sub, _) = persistent(&broker, V5, "ord", true).await;
    sub.subscribe("ord", QoS::ExactlyOnce).await;
    sub.disconnect().await;
    let mut p = connect(&broker, V5, "p").await;
    for i in 0..20 {
        p.publish_at("ord", format!("{i}"), QoS::AtLeastOnce).await;
    }
    let (mut sub, _) = persistent(&broker, V5, "ord", false).await;
    let got: Vec<String> =
        drain(&mut sub).await.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()).collect();
    assert_eq!(got, (0..20).map(|i| i.to_string()).collect::<Vec<_>>());
}

/// [MQTT-4.7.0-1] A wildcard in a topic name is refused; [MQTT-4.7.1-1] `#` must be last and alone in its
/// level, [MQTT-4.7.1-2] `+` must fill its level: such filters are refused (DISCONNECT with an error, close).
#[tokio::test]
async fn mqtt_4_7_1_2_wildcards_must_be_whole_levels() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V5, "name").await;
    c.send_raw(&frame(0x30, &publish_body(b"a/#", Some(&[]), b"x"))).await;
    expect_end(&mut c).await;
    for filter in ["a/#/b", "a#", "a/b+", "+a/b"] {
        let mut c = connect(&broker, V5, "w").await;
        c.send(Packet::Subscribe(subscribe_packet(pid(1), &[(filter, qos_options(QoS::AtMostOnce))]))).await;
        expect_end(&mut c).await;
    }
}

/// [MQTT-4.7.3-1] Topic names and filters are at least one character: an empty filter is refused.
#[tokio::test]
async fn mqtt_4_7_3_1_empty_filter_is_refused() {
    let broker = TestBroker::start_default().await;
    // SUBSCRIBE id 1, no properties, filter "", QoS 0.
    let bytes = frame(0x82, &[0, 1, 0, 0, 0, 0]);
    let mut c = connect(&broker, V5, "e").await;
    c.send_raw(&bytes).await;
    expect_end(&mut c).await;
}

/// [MQTT-4.7.3-2] A filter with U+0000 is refused.
#[tokio::test]
async fn mqtt_4_7_3_2_null_character_in_filter_is_refused() {
    let broker = TestBroker::start_default().await;
    let bytes = frame(0x82, &[0, 1, 0, 0, 3, b'a', 0, b'b', 0]);
    let mut c = connect(&broker, V5, "n").await;
    c.send_raw(&bytes).await;
    expect_end(&mut c).await;
}

/// [MQTT-4.7.3-4] Matching neither normalizes nor substitutes: `a/B` does not match `a/b`, a trailing
/// `/` makes another topic, and unusual characters match exactly.
#[tokio::test]
async fn mqtt_4_7_3_4_no_normalization_when_matching() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("n/b", QoS::AtMostOnce).await;
    sub.subscribe("n/é", QoS::AtMostOnce).await;
    for t in ["n/B", "n/b/", "n/e\u{301}", "n//b"] {
        publish_from(&broker, "p", t, t, QoS::AtMostOnce).await;
    }
    sub.expect_nothing(QUIET).await;
    publish_from(&broker, "p", "n/é", "exact", QoS::AtMostOnce).await;
    assert_eq!(sub.expect_publish().await.payload, "exact");
}

/// [MQTT-4.8.2-1] `$share/` needs a non-empty ShareName; [MQTT-4.8.2-2] without `/`, `+` or `#`, followed
/// by `/` and a filter: malformed shared filters are refused.
#[tokio::test]
async fn mqtt_4_8_2_1_malformed_shared_filters_are_refused() {
    let broker = TestBroker::start_default().await;
    for filter in ["$share//t", "$share/g", "$share/g+/t", "$share/#/t"] {
        let mut c = connect(&broker, V5, "s").await;
        c.send(Packet::Subscribe(subscribe_packet(pid(1), &[(filter, qos_options(QoS::AtMostOnce))]))).await;
        expect_end(&mut c).await;
    }
}

/// [MQTT-4.9.0-1] The initial send quota is the client's Receive Maximum (non-zero): with 2, exactly two
/// unacknowledged messages arrive; [MQTT-4.9.0-2] at quota 0 nothing more until an acknowledgement.
#[tokio::test]
async fn mqtt_4_9_0_2_no_qos1_publish_at_send_quota_zero() {
    let broker = TestBroker::start_default().await;
    let mut c = connect_packet(V5, "rq");
    c.properties.receive_maximum = Some(2);
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), c).await;
    sub.subscribe("rq", QoS::AtLeastOnce).await;
    let mut p = connect(&broker, V5, "p").await;
    for i in 0..4 {
        p.publish_at("rq", format!("{i}"), QoS::AtLeastOnce).await;
    }
    let a = sub.expect_publish().await;
    let _b = sub.expect_publish().await;
    sub.expect_nothing(QUIET).await;
    sub.ack(&a).await;
    assert_eq!(sub.expect_publish().await.payload, "2");
    sub.expect_nothing(QUIET).await;
}

/// [MQTT-4.13.1-1] A malformed packet after CONNECT ends the connection with DISCONNECT 0x81.
#[tokio::test]
async fn mqtt_4_13_1_1_malformed_packet_closes_with_0x81() {
    let broker = TestBroker::start_default().await;
    // PUBLISH whose topic length runs past the packet.
    refused_after_connect(&broker, V5, &frame(0x30, &[0, 9, b'a']), ReasonCode::MALFORMED_PACKET).await;
}

/// [MQTT-3.1.0-1] A 5.0 connection whose first packet is not CONNECT is closed without an answer.
#[tokio::test]
async fn mqtt_3_1_0_1_first_packet_must_be_connect() {
    let broker = TestBroker::start_default().await;
    for first in [frame(0xC0, &[]), frame(0x30, &publish_body(b"a", Some(&[]), b"x"))] {
        let mut c = RawClient::tcp(broker.addr(), V5).await;
        c.send_raw(&first).await;
        c.expect_closed(TIMEOUT).await;
    }
}

/// A 5.0 CONNECT frame built by hand: `flags`, keep-alive 60, no properties, then `payload`.
fn raw_connect(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5, flags, 0, 60, 0];
    body.extend_from_slice(payload);
    frame(0x10, &body)
}

fn string(s: &[u8]) -> Vec<u8> {
    let mut out = (s.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(s);
    out
}

async fn closed_without_success(broker: &TestBroker, bytes: &[u8]) {
    let mut c = RawClient::tcp(broker.addr(), V5).await;
    c.send_raw(bytes).await;
    match c.recv(TIMEOUT).await {
        Event::Closed => {}
        Event::Packet(Packet::ConnAck(ack)) => {
            assert!(ack.reason_code.is_error(), "{ack:?}");
            c.expect_closed(TIMEOUT).await;
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// [MQTT-3.1.2-9] Will Flag 1 needs will properties, topic and payload; [MQTT-3.1.2-11] Will Flag 0 needs
/// Will QoS 0, [MQTT-3.1.2-13] and Will Retain 0; [MQTT-3.1.2-12] Will QoS 3 is malformed.
#[tokio::test]
async fn mqtt_3_1_2_9_will_flags_must_agree() {
    let broker = TestBroker::start_default().await;
    let will = [vec![0], string(b"w"), string(b"m")].concat();
    for bytes in [
        raw_connect(0x06, &string(b"c")),
        raw_connect(0x0A, &string(b"c")),
        raw_connect(0x22, &string(b"c")),
        raw_connect(0x1E, &[string(b"c"), will.clone()].concat()),
    ] {
        closed_without_success(&broker, &bytes).await;
    }
    let mut c = RawClient::tcp(broker.addr(), V5).await;
    c.send_raw(&raw_connect(0x0E, &[string(b"c"), will].concat())).await;
    assert_eq!(c.expect_connack().await.reason_code, ReasonCode::SUCCESS, "a consistent will is accepted");
}

/// [MQTT-3.1.2-16] User Name Flag 0: no user name follows (trailing bytes are malformed); [MQTT-3.1.2-17]
/// flag 1: one does; [MQTT-3.1.2-18], [MQTT-3.1.2-19] the same for the password.
#[tokio::test]
async fn mqtt_3_1_2_16_user_name_and_password_flags() {
    let broker = TestBroker::start_default().await;
    closed_without_success(&broker, &raw_connect(0x02, &[string(b"c"), string(b"extra")].concat())).await;
    closed_without_success(&broker, &raw_connect(0x82, &string(b"c"))).await;
    closed_without_success(&broker, &raw_connect(0x42, &string(b"c"))).await;
    let mut c = RawClient::tcp(broker.addr(), V5).await;
    c.send_raw(&raw_connect(0xC2, &[string(b"c"), string(b"user"), string(b"pw")].concat())).await;
    assert_eq!(c.expect_connack().await.reason_code, ReasonCode::SUCCESS);
    // MQTT 5.0 allows a password without a user name.
    let mut c = RawClient::tcp(broker.addr(), V5).await;
    c.send_raw(&raw_connect(0x42, &[string(b"c2"), string(b"pw")].concat())).await;
    assert_eq!(c.expect_connack().await.reason_code, ReasonCode::SUCCESS);
}

/// [MQTT-3.1.3-1] The payload fields come in order — client id ([MQTT-3.1.3-3] first), will properties,
/// will topic, will payload, user name, password — and each is used: the will is published.
#[tokio::test]
async fn mqtt_3_1_3_1_payload_fields_in_order() {
    let broker = TestBroker::start_default().await;
    let mut watcher = connect(&broker, V5, "w").await;
    watcher.subscribe("order/will", QoS::AtMostOnce).await;
    let mut c = RawClient::tcp(broker.addr(), V5).await;
    let payload =
        [string(b"order"), vec![0], string(b"order/will"), string(b"bye"), string(b"u"), string(b"p")]
            .concat();
    c.send_raw(&raw_connect(0xC6, &payload)).await;
    assert_eq!(c.expect_connack().await.reason_code, ReasonCode::SUCCESS);
    c.drop_connection();
    assert_eq!(watcher.expect_publish().await.payload, "bye");
}

/// [MQTT-3.1.3-4] The client id, [MQTT-3.1.3-11] the will topic and [MQTT-3.1.3-12] the user name must be
/// UTF-8: ill-formed ones are refused.
#[tokio::test]
async fn mqtt_3_1_3_4_connect_strings_must_be_utf8() {
    let broker = TestBroker::start_default().await;
    let bad = string(&[0xC3, 0x28]);
    closed_without_success(&broker, &raw_connect(0x02, &bad)).await;
    closed_without_success(
        &broker,
        &raw_connect(0x06, &[string(b"c"), vec![0], bad.clone(), string(b"m")].concat()),
    )
    .await;
    closed_without_success(&broker, &raw_connect(0x82, &[string(b"c"), bad].concat())).await;
}

/// [MQTT-3.1.3-8] A client id the broker will not take gets CONNACK 0x85 and a close (here the empty id
/// with `allow_zero_length_clientid false`).
#[tokio::test]
async fn mqtt_3_1_3_8_refused_client_id_gets_0x85() {
    let mut config = tern_broker::config::Config::default();
    config.security.allow_zero_length_clientid = false;
    let broker = TestBroker::start(config).await;
    let (mut c, ack) = RawClient::connect(broker.addr(), connect_packet(V5, "")).await;
    assert_eq!(ack.reason_code, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
    c.expect_closed(TIMEOUT).await;
}

/// [MQTT-3.1.3-10] The will's user properties are published in their order.
#[tokio::test]
async fn mqtt_3_1_3_10_will_user_properties_keep_their_order() {
    let broker = TestBroker::start_default().await;
    let mut watcher = connect(&broker, V5, "w").await;
    watcher.subscribe("wp", QoS::AtMostOnce).await;
    let mut c = connect_packet(V5, "dies");
    let mut properties = Properties::default();
    let pairs = [("b", "1"), ("a", "2"), ("b", "3")];
    properties.user_properties = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    c.will = Some(tern_codec::LastWill {
        topic: "wp".into(),
        payload: Bytes::from_static(b"x"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties,
    });
    let (client, _) = RawClient::connect_accepted(broker.addr(), c).await;
    client.drop_connection();
    let got = watcher.expect_publish().await;
    let got: Vec<(String, String)> =
        got.properties.user_properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(got, pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>());
}

/// [MQTT-3.2.2-19] A CONNACK carries no Reason String, [MQTT-3.2.2-20] and no User Property, that would
/// take it past the client's Maximum Packet Size.
#[tokio::test]
async fn mqtt_3_2_2_19_connack_stays_within_the_client_maximum_packet_size() {
    let broker = TestBroker::start_default().await;
    let mut c = connect_packet(V5, "small-connack");
    c.properties.maximum_packet_size = Some(20);
    let mut client = RawClient::tcp(broker.addr(), V5).await;
    client.send(Packet::Connect(Box::new(c))).await;
    let header = client.expect_bytes(2).await;
    assert!(usize::from(header[1]) + 2 <= 20, "CONNACK of {} bytes", usize::from(header[1]) + 2);
    let mut refused = connect_packet(V5, "refused");
    refused.properties.maximum_packet_size = Some(20);
    refused.properties.authentication_method = Some("NONE".into());
    let (_c, ack) = RawClient::connect(broker.addr(), refused).await;
    assert!(ack.properties.reason_string.is_none() && ack.properties.user_properties.is_empty());
}

/// [MQTT-3.3.2-1] The topic name must be UTF-8: an ill-formed one is a malformed PUBLISH.
#[tokio::test]
async fn mqtt_3_3_2_1_topic_name_must_be_utf8() {
    let broker = TestBroker::start_default().await;
    let bytes = frame(0x30, &publish_body(&[b'a', 0xFF], Some(&[]), b"x"));
    refused_after_connect(&broker, V5, &bytes, ReasonCode::MALFORMED_PACKET).await;
}

/// [MQTT-3.3.2-13] The Response Topic and [MQTT-3.3.2-19] the Content Type must be UTF-8.
#[tokio::test]
async fn mqtt_3_3_2_13_response_topic_and_content_type_must_be_utf8() {
    let broker = TestBroker::start_default().await;
    for id in [0x08, 0x03] {
        let props = [id, 0, 2, 0xC3, 0x28];
        let bytes = frame(0x30, &publish_body(b"t", Some(&props), b"x"));
        refused_after_connect(&broker, V5, &bytes, ReasonCode::MALFORMED_PACKET).await;
    }
}

/// [MQTT-3.3.4-4] A client whose subscriptions overlap gets one copy carrying every matching Subscription
/// Identifier.
#[tokio::test]
async fn mqtt_3_3_4_4_one_copy_carries_every_subscription_identifier() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V5, "ids").await;
    for (id, filter) in [(1, "s/#"), (2, "s/+")] {
        let mut sub = subscribe_packet(c.next_packet_id(), &[(filter, qos_options(QoS::AtMostOnce))]);
        sub.properties.subscription_identifiers = vec![id];
        c.send(Packet::Subscribe(sub)).await;
        c.expect_suback().await;
    }
    publish_from(&broker, "p", "s/x", "m", QoS::AtMostOnce).await;
    let mut ids = c.expect_publish().await.properties.subscription_identifiers;
    ids.sort_unstable();
    assert_eq!(ids, [1, 2]);
    c.expect_nothing(QUIET).await;
}

/// [MQTT-3.6.1-1] PUBREL and [MQTT-3.8.1-1] SUBSCRIBE with fixed-header flags other than 0010 are
/// malformed: DISCONNECT 0x81.
#[tokio::test]
async fn mqtt_3_6_1_1_pubrel_and_subscribe_flags_must_be_0010() {
    let broker = TestBroker::start_default().await;
    refused_after_connect(&broker, V5, &frame(0x64, &[0, 1]), ReasonCode::MALFORMED_PACKET).await;
    refused_after_connect(&broker, V5, &frame(0x84, &[0, 1, 0, 0, 1, b'a', 0]), ReasonCode::MALFORMED_PACKET)
        .await;
}

/// [MQTT-3.8.3-1] SUBSCRIBE and [MQTT-3.10.3-1] UNSUBSCRIBE filters must be UTF-8.
#[tokio::test]
async fn mqtt_3_8_3_1_filters_must_be_utf8() {
    let broker = TestBroker::start_default().await;
    refused_after_connect(&broker, V5, &frame(0x82, &[0, 1, 0, 0, 1, 0xFF, 0]), ReasonCode::MALFORMED_PACKET)
        .await;
    refused_after_connect(&broker, V5, &frame(0xA2, &[0, 1, 0, 0, 1, 0xFF]), ReasonCode::MALFORMED_PACKET)
        .await;
}

/// [MQTT-3.8.3-2] A SUBSCRIBE without a filter is a Protocol Error: DISCONNECT 0x82.
#[tokio::test]
async fn mqtt_3_8_3_2_subscribe_without_filters_is_refused() {
    let broker = TestBroker::start_default().await;
    refused_after_connect(&broker, V5, &frame(0x82, &[0, 1, 0]), ReasonCode::PROTOCOL_ERROR).await;
}

/// The broker's acknowledgements never carry a Reason String or User Property past the client's Maximum
/// Packet Size: PUBREL [MQTT-3.6.2-2], [MQTT-3.6.2-3]; PUBCOMP [MQTT-3.7.2-2], [MQTT-3.7.2-3]; SUBACK
/// [MQTT-3.9.2-1], [MQTT-3.9.2-2]; UNSUBACK [MQTT-3.11.2-1], [MQTT-3.11.2-2]; DISCONNECT [MQTT-3.14.2-3],
/// [MQTT-3.14.2-4].
#[tokio::test]
async fn mqtt_3_9_2_1_acknowledgements_stay_within_the_client_maximum_packet_size() {
    let broker = TestBroker::start_default().await;
    let mut c = connect_packet(V5, "small");
    c.properties.maximum_packet_size = Some(16);
    let (mut small, _) = RawClient::connect_accepted(broker.addr(), c).await;
    let no_extras = |p: &Properties| p.reason_string.is_none() && p.user_properties.is_empty();
    let ack = small.subscribe("s", QoS::ExactlyOnce).await;
    assert!(no_extras(&ack.properties));
    let ack = small.unsubscribe(&["nothing"]).await;
    assert!(no_extras(&ack.properties));
    publish_from(&broker, "p", "s2", "x", QoS::AtMostOnce).await;
    small.send(Packet::PubRel(Ack::new(pid(77)))).await;
    match small.next_packet().await {
        Packet::PubComp(comp) => assert!(no_extras(&comp.properties)),
        other => panic!("{other:?}"),
    }
    small.subscribe("q2", QoS::ExactlyOnce).await;
    publish_from(&broker, "p", "q2", "x", QoS::ExactlyOnce).await;
    let p = small.expect_publish().await;
    small.send(Packet::PubRec(Ack::new(p.packet_id.expect("id")))).await;
    match small.next_packet().await {
        Packet::PubRel(rel) => assert!(no_extras(&rel.properties)),
        other => panic!("{other:?}"),
    }
    small.send(Packet::Connect(Box::new(connect_packet(V5, "small")))).await;
    match small.next_packet().await {
        Packet::Disconnect(d) => assert!(no_extras(&d.properties)),
        other => panic!("{other:?}"),
    }
}

/// [MQTT-3.1.4-5] Packets a client pipelines right behind its CONNECT are processed once it is accepted,
/// without waiting for more input: CONNECT and SUBSCRIBE in one write get CONNACK and SUBACK.
#[tokio::test]
async fn mqtt_3_1_4_5_packets_pipelined_behind_connect_are_processed() {
    let broker = TestBroker::start_default().await;
    for version in [V5, V311] {
        let mut c = RawClient::tcp(broker.addr(), version).await;
        let mut buf = bytes::BytesMut::new();
        tern_codec::encode(
            &Packet::Connect(Box::new(connect_packet(version, "pipelined"))),
            version,
            &mut buf,
        )
        .unwrap();
        tern_codec::encode(
            &Packet::Subscribe(subscribe_packet(pid(1), &[("p", qos_options(QoS::AtMostOnce))])),
            version,
            &mut buf,
        )
        .unwrap();
        c.send_raw(&buf).await;
        assert!(c.expect_connack().await.reason_code == tern_codec::ReasonCode::SUCCESS);
        assert_eq!(c.expect_suback().await.packet_id, pid(1));
    }
}

/// [MQTT-3.3.1-8] A PUBLISH with RETAIN 0 neither stores, replaces nor removes the retained message.
#[tokio::test]
async fn mqtt_3_3_1_8_retain_0_leaves_the_retained_message_alone() {
    let broker = TestBroker::start_default().await;
    let mut p = connect(&broker, V5, "p").await;
    let mut kept = publish_packet("r8", "kept", QoS::AtLeastOnce);
    kept.retain = true;
    p.publish(kept).await;
    p.publish_at("r8", "live", QoS::AtLeastOnce).await;
    p.publish_at("r8", "", QoS::AtLeastOnce).await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("r8", QoS::AtLeastOnce).await;
    let got = drain(&mut sub).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].retain && got[0].payload == "kept", "{got:?}");
}

/// [MQTT-4.3.3-10] Until PUBREL, a QoS 2 PUBLISH repeating its identifier gets PUBREC again and is not
/// delivered a second time.
#[tokio::test]
async fn mqtt_4_3_3_10_qos2_repeat_is_not_delivered_twice() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V5, "sub").await;
    sub.subscribe("q2r", QoS::AtMostOnce).await;
    let mut c = connect(&broker, V5, "pub").await;
    let mut m = publish_packet("q2r", "once", QoS::ExactlyOnce);
    m.packet_id = Some(pid(8));
    c.send(Packet::Publish(m.clone())).await;
    assert!(matches!(c.next_packet().await, Packet::PubRec(r) if r.packet_id == pid(8)));
    m.dup = true;
    c.send(Packet::Publish(m)).await;
    assert!(matches!(c.next_packet().await, Packet::PubRec(r) if r.packet_id == pid(8)));
    c.send(Packet::PubRel(Ack::new(pid(8)))).await;
    assert!(matches!(c.next_packet().await, Packet::PubComp(r) if r.packet_id == pid(8)));
    assert_eq!(drain(&mut sub).await.len(), 1);
}
