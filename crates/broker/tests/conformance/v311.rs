//! MQTT 3.1.1 server statements that no feature test checks already, in the standard's section order. The
//! identifiers are 3.1.1's own (several differ from 5.0's for the same rule).

use tern_codec::{Ack, Packet, QoS};
use tern_test_support::{
    connect_packet, pid, publish_packet, qos_options, subscribe_packet, Event, RawClient, TestBroker, TIMEOUT,
};

use crate::support::*;

/// A 3.1.1 CONNECT frame for `client_id` with `flags` and keep-alive 60, built by hand.
fn raw_connect(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, flags, 0, 60];
    body.extend_from_slice(payload);
    frame(0x10, &body)
}

fn string(s: &[u8]) -> Vec<u8> {
    let mut out = (s.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(s);
    out
}

/// [MQTT-1.5.3-1] Ill-formed UTF-8 in a string closes the connection: the client id [MQTT-3.1.3-4], the
/// will topic [MQTT-3.1.3-10], the user name [MQTT-3.1.3-11] of CONNECT, a topic name [MQTT-3.3.2-1].
#[tokio::test]
async fn mqtt_1_5_3_1_ill_formed_utf8_closes_the_connection() {
    let broker = TestBroker::start_default().await;
    let surrogate = string(&[0xED, 0xA0, 0x80]);
    for bytes in [
        raw_connect(0x02, &surrogate),
        raw_connect(0x06, &[string(b"c"), surrogate.clone(), string(b"m")].concat()),
        raw_connect(0x82, &[string(b"c"), surrogate.clone()].concat()),
    ] {
        let mut c = RawClient::tcp(broker.addr(), V311).await;
        c.send_raw(&bytes).await;
        c.expect_closed(TIMEOUT).await;
    }
    refused_after_connect(
        &broker,
        V311,
        &frame(0x30, &publish_body(&[0xFF], None, b"x")),
        tern_codec::ReasonCode::MALFORMED_PACKET,
    )
    .await;
}

/// [MQTT-1.5.3-2] U+0000 in a string closes the connection.
#[tokio::test]
async fn mqtt_1_5_3_2_null_character_closes_the_connection() {
    let broker = TestBroker::start_default().await;
    refused_after_connect(
        &broker,
        V311,
        &frame(0x30, &publish_body(b"a\0", None, b"x")),
        tern_codec::ReasonCode::MALFORMED_PACKET,
    )
    .await;
}

/// [MQTT-1.5.3-3] U+FEFF is kept in topic names, never stripped.
#[tokio::test]
async fn mqtt_1_5_3_3_zero_width_no_break_space_is_kept() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V311, "sub").await;
    sub.subscribe("\u{FEFF}x", QoS::AtMostOnce).await;
    let mut p = connect(&broker, V311, "p").await;
    p.publish_qos0("\u{FEFF}x", "1").await;
    assert_eq!(sub.expect_publish().await.topic.as_bytes()[..], b"\xEF\xBB\xBFx"[..]);
}

/// [MQTT-2.2.2-1] Reserved fixed-header flags must have their listed values; [MQTT-2.2.2-2] otherwise the
/// connection is closed (PINGREQ 0xC1, PUBREL 0x60, SUBSCRIBE 0x80, DISCONNECT 0xE1).
#[tokio::test]
async fn mqtt_2_2_2_2_invalid_flags_close_the_connection() {
    let broker = TestBroker::start_default().await;
    for bytes in
        [frame(0xC1, &[]), frame(0x60, &[0, 1]), frame(0x80, &[0, 1, 0, 1, b'a', 0]), frame(0xE1, &[])]
    {
        let mut c = connect(&broker, V311, "flags").await;
        c.send_raw(&bytes).await;
        c.expect_closed(TIMEOUT).await;
    }
}

/// [MQTT-2.3.1-1] A QoS 1 PUBLISH with packet identifier 0 is refused (close); [MQTT-2.3.1-5] a QoS 0
/// PUBLISH from the broker has none: `30 04 00 01 'a' 'z'` — [MQTT-3.3.1-2], [MQTT-4.3.1-1] QoS 0, DUP 0.
#[tokio::test]
async fn mqtt_2_3_1_1_packet_identifiers_are_non_zero_and_absent_at_qos0() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V311, "sub").await;
    sub.subscribe("a", QoS::AtLeastOnce).await;
    let mut p = connect(&broker, V311, "p").await;
    p.publish_qos0("a", "z").await;
    assert_eq!(sub.expect_bytes(6).await, [0x30, 4, 0, 1, b'a', b'z']);
    let mut bad = connect(&broker, V311, "bad").await;
    bad.send_raw(&frame(0x32, &[0, 1, b'a', 0, 0, b'x'])).await;
    bad.expect_closed(TIMEOUT).await;
}

/// [MQTT-2.3.1-4] Messages in flight from the broker to one client have distinct identifiers;
/// [MQTT-2.3.1-6] PUBACK/PUBREC/PUBCOMP to a publisher carry its identifier (checked by
/// RawClient::publish); [MQTT-2.3.1-7] SUBACK and UNSUBACK carry their request's identifier.
#[tokio::test]
async fn mqtt_2_3_1_4_identifiers_are_unique_and_echoed() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V311, "sub").await;
    sub.send(Packet::Subscribe(subscribe_packet(pid(777), &[("ids", qos_options(QoS::ExactlyOnce))]))).await;
    assert_eq!(sub.expect_suback().await.packet_id, pid(777));
    let mut p = connect(&broker, V311, "p").await;
    for (i, qos) in [QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::AtLeastOnce].into_iter().enumerate() {
        let mut m = publish_packet("ids", format!("{i}"), qos);
        m.packet_id = Some(pid(40 + i as u16));
        p.publish(m).await;
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        assert!(seen.insert(sub.expect_publish().await.packet_id.expect("id")));
    }
    let unsubscribe = tern_codec::Unsubscribe {
        packet_id: pid(888),
        filters: vec!["ids".into()],
        properties: Default::default(),
    };
    sub.send(Packet::Unsubscribe(unsubscribe)).await;
    assert_eq!(sub.expect_unsuback().await.packet_id, pid(888));
}

/// [MQTT-3.1.2-4] Clean session 0 resumes the session (or creates one) and keeps it after disconnection;
/// [MQTT-3.1.4-3] the broker performs the clean-session processing.
#[tokio::test]
async fn mqtt_3_1_2_4_clean_session_0_resumes_and_keeps_the_session() {
    let broker = TestBroker::start_default().await;
    let (mut c, present) = persistent(&broker, V311, "keep", false).await;
    assert!(!present);
    c.subscribe("keep/t", QoS::AtLeastOnce).await;
    c.disconnect().await;
    let (mut c, present) = persistent(&broker, V311, "keep", false).await;
    assert!(present);
    publish_from(&broker, "p", "keep/t", "m", QoS::AtLeastOnce).await;
    assert_eq!(c.receive_and_ack().await.payload, "m", "the subscription survived");
}

/// [MQTT-3.1.2.7] Retained messages are not part of the session: they survive the end of the session that
/// published them.
#[tokio::test]
async fn mqtt_3_1_2_7_retained_messages_outlive_the_session() {
    let broker = TestBroker::start_default().await;
    let mut p = connect(&broker, V311, "p").await;
    let mut m = publish_packet("kept", "r", QoS::AtLeastOnce);
    m.retain = true;
    p.publish(m).await;
    p.disconnect().await;
    let mut sub = connect(&broker, V311, "sub").await;
    sub.subscribe("kept", QoS::AtLeastOnce).await;
    assert_eq!(sub.receive_and_ack().await.payload, "r");
}

/// [MQTT-3.1.2-9] Will Flag 1 without will topic and message is malformed; [MQTT-3.1.2-11] and
/// [MQTT-3.1.2-13] Will Flag 0 with a Will QoS, [MQTT-3.1.2-15] or Will Retain, closes the connection;
/// [MQTT-3.1.2-14] Will QoS 3 too.
#[tokio::test]
async fn mqtt_3_1_2_11_will_flags_must_agree() {
    let broker = TestBroker::start_default().await;
    let cases = [
        raw_connect(0x06, &string(b"c")), // will flag, no will topic/message
        raw_connect(0x0A, &string(b"c")), // will QoS 1 without will flag
        raw_connect(0x22, &string(b"c")), // will retain without will flag
        raw_connect(0x1E, &[string(b"c"), string(b"w"), string(b"m")].concat()), // will QoS 3
    ];
    for bytes in cases {
        let mut c = RawClient::tcp(broker.addr(), V311).await;
        c.send_raw(&bytes).await;
        c.expect_closed(TIMEOUT).await;
    }
}

/// [MQTT-3.1.2-12] Will Flag 0: nothing is published when the connection is lost.
#[tokio::test]
async fn mqtt_3_1_2_12_no_will_without_the_will_flag() {
    let broker = TestBroker::start_default().await;
    let mut watcher = connect(&broker, V311, "w").await;
    watcher.subscribe("#", QoS::AtMostOnce).await;
    let c = connect(&broker, V311, "nowill").await;
    c.drop_connection();
    watcher.expect_nothing(QUIET).await;
}

/// [MQTT-3.1.2-19] A user name is read when its flag is set, [MQTT-3.1.2-21] a password likewise;
/// [MQTT-3.1.2-18], [MQTT-3.1.2-20] absent fields leave nothing behind: trailing bytes where the flags say
/// none close the connection; [MQTT-3.1.2-22] a password without a user name does too.
#[tokio::test]
async fn mqtt_3_1_2_22_password_without_user_name_closes() {
    let broker = TestBroker::start_default().await;
    let mut c = RawClient::tcp(broker.addr(), V311).await;
    c.send_raw(&raw_connect(0x42, &[string(b"c"), string(b"pw")].concat())).await;
    c.expect_closed(TIMEOUT).await;
    let mut c = RawClient::tcp(broker.addr(), V311).await;
    c.send_raw(&raw_connect(0x02, &[string(b"c"), string(b"extra")].concat())).await;
    c.expect_closed(TIMEOUT).await;
    let mut c = RawClient::tcp(broker.addr(), V311).await;
    c.send_raw(&raw_connect(0xC2, &[string(b"c"), string(b"user"), string(b"pw")].concat())).await;
    assert_eq!(c.expect_connack().await.reason_code, tern_codec::ReasonCode::SUCCESS);
}

/// [MQTT-3.1.3-1] The payload fields come in order: client id, will topic, will message, user name,
/// password — a CONNECT with all of them is accepted and each is used (the will is published).
#[tokio::test]
async fn mqtt_3_1_3_1_payload_fields_in_order() {
    let broker = TestBroker::start_default().await;
    let mut watcher = connect(&broker, V311, "w").await;
    watcher.subscribe("order/will", QoS::AtMostOnce).await;
    let mut c = RawClient::tcp(broker.addr(), V311).await;
    let payload =
        [string(b"order"), string(b"order/will"), string(b"bye"), string(b"u"), string(b"p")].concat();
    c.send_raw(&raw_connect(0xC6, &payload)).await;
    assert_eq!(c.expect_connack().await.reason_code, tern_codec::ReasonCode::SUCCESS);
    c.drop_connection();
    assert_eq!(watcher.expect_publish().await.payload, "bye");
}

/// [MQTT-3.1.3-2] The client id names the session; [MQTT-3.1.3-3] it is the first payload field;
/// [MQTT-3.1.3-5] 1-23 alphanumeric characters are accepted.
#[tokio::test]
async fn mqtt_3_1_3_5_client_ids_of_1_to_23_alphanumerics_are_accepted() {
    let broker = TestBroker::start_default().await;
    for id in ["a", "Z9", "abcdefghijklmnopqrstuvw"] {
        let (mut c, _) = persistent(&broker, V311, id, false).await;
        c.subscribe("id/t", QoS::AtLeastOnce).await;
        c.disconnect().await;
        let (_c, present) = persistent(&broker, V311, id, false).await;
        assert!(present, "{id} names its session");
    }
}

/// [MQTT-3.1.3-9] A refused client id gets return code 2 and a close (here a 3.1 id over 23 characters).
#[tokio::test]
async fn mqtt_3_1_3_9_rejected_client_id_gets_return_code_2() {
    let broker = TestBroker::start_default().await;
    let mut c = connect_packet(tern_codec::ProtocolVersion::V31, "abcdefghijklmnopqrstuvwxyz");
    c.clean_start = true;
    let (mut client, ack) = RawClient::connect(broker.addr(), c).await;
    assert_eq!(ack.reason_code.to_v3_connack(), 2);
    client.expect_closed(TIMEOUT).await;
}

/// [MQTT-3.1.4-1] A CONNECT that does not conform is closed without CONNACK; [MQTT-3.2.2-6] no return code
/// applies to it.
#[tokio::test]
async fn mqtt_3_1_4_1_non_conforming_connect_closes_without_connack() {
    let broker = TestBroker::start_default().await;
    let mut c = RawClient::tcp(broker.addr(), V311).await;
    c.send_raw(&raw_connect(0x01, &string(b"c"))).await; // reserved flag
    c.expect_closed(TIMEOUT).await;
}

/// [MQTT-3.1.4-4] An accepted CONNECT gets return code 0; [MQTT-3.1.4-5] after a refused one nothing the
/// client sent later is processed; [MQTT-3.2.2-4] a refusal has session present 0, [MQTT-3.2.2-5] and closes.
#[tokio::test]
async fn mqtt_3_1_4_5_nothing_is_processed_after_a_refusal() {
    let mut config = tern_broker::config::Config::default();
    config.security.allow_anonymous = Some(false);
    let broker = TestBroker::start(config).await;
    let mut c = RawClient::tcp(broker.addr(), V311).await;
    let mut connect = connect_packet(V311, "r");
    connect.clean_start = false;
    let mut buf = bytes::BytesMut::new();
    tern_codec::encode(&Packet::Connect(Box::new(connect)), V311, &mut buf).unwrap();
    tern_codec::encode(&Packet::PingReq, V311, &mut buf).unwrap();
    c.send_raw(&buf).await;
    let ack = c.expect_connack().await;
    assert_eq!((ack.reason_code.to_v3_connack(), ack.session_present), (5, false));
    assert!(matches!(c.recv(TIMEOUT).await, Event::Closed), "no PINGRESP");
    let open = TestBroker::start_default().await;
    let (_c, ack) = RawClient::connect_accepted(open.addr(), connect_packet(V311, "ok")).await;
    assert_eq!(ack.reason_code.to_v3_connack(), 0);
}

/// [MQTT-3.3.1-7] A retained QoS 0 message replaces the retained message of its topic.
#[tokio::test]
async fn mqtt_3_3_1_7_retained_qos0_replaces_the_previous_one() {
    let broker = TestBroker::start_default().await;
    let mut p = connect(&broker, V311, "p").await;
    for (payload, qos) in [("old", QoS::AtLeastOnce), ("new", QoS::AtMostOnce)] {
        let mut m = publish_packet("r0", payload, qos);
        m.retain = true;
        p.publish(m).await;
    }
    p.ping().await;
    let mut sub = connect(&broker, V311, "sub").await;
    sub.subscribe("r0", QoS::AtLeastOnce).await;
    let got = drain(&mut sub).await;
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].payload.as_ref(), got[0].retain), (&b"new"[..], true), "[MQTT-3.3.1-8]");
}

/// [MQTT-3.3.2-2] A topic name has no wildcard (closed); [MQTT-3.3.2-3] the forwarded topic is the
/// published one, not the filter.
#[tokio::test]
async fn mqtt_3_3_2_2_topic_name_rules() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V311, "sub").await;
    sub.subscribe("t/+/#", QoS::AtMostOnce).await;
    let mut p = connect(&broker, V311, "p").await;
    p.publish_qos0("t/a/b", "1").await;
    assert_eq!(sub.expect_publish().await.topic[..], *"t/a/b");
    p.send_raw(&frame(0x30, &publish_body(b"t/#", None, b"x"))).await;
    p.expect_closed(TIMEOUT).await;
}

/// [MQTT-3.3.4-1] Each PUBLISH gets the answer its QoS calls for: none, PUBACK, PUBREC.
#[tokio::test]
async fn mqtt_3_3_4_1_publish_is_answered_by_its_qos() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V311, "q").await;
    c.publish_qos0("q", "0").await;
    c.expect_nothing(QUIET).await;
    let mut m = publish_packet("q", "1", QoS::AtLeastOnce);
    m.packet_id = Some(pid(1));
    c.send(Packet::Publish(m)).await;
    assert!(matches!(c.next_packet().await, Packet::PubAck(a) if a.packet_id == pid(1)));
    let mut m = publish_packet("q", "2", QoS::ExactlyOnce);
    m.packet_id = Some(pid(2));
    c.send(Packet::Publish(m)).await;
    assert!(matches!(c.next_packet().await, Packet::PubRec(a) if a.packet_id == pid(2)));
}

/// [MQTT-3.3.5-2] A PUBLISH the client may not make is acknowledged as usual (or the connection closed):
/// here a PUBACK, and nothing is delivered.
#[tokio::test]
async fn mqtt_3_3_5_2_unauthorized_publish_is_acknowledged_and_dropped() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V311, "sub").await;
    sub.subscribe("$SYS/#", QoS::AtMostOnce).await;
    let mut c = connect(&broker, V311, "c").await;
    let ack = c.publish_at("$SYS/fake", "x", QoS::AtLeastOnce).await;
    assert!(ack.is_some(), "a normal PUBACK");
    sub.expect_nothing(QUIET).await;
}

/// [MQTT-3.6.1-1] PUBREL with flags other than 0010, [MQTT-3.8.1-1] SUBSCRIBE likewise, [MQTT-3.10.1-1]
/// UNSUBSCRIBE likewise, [MQTT-3.14.1-1] DISCONNECT with non-zero flags: each closes the connection.
#[tokio::test]
async fn mqtt_3_8_1_1_fixed_header_flags_of_each_packet() {
    let broker = TestBroker::start_default().await;
    for bytes in [
        frame(0x64, &[0, 1]),
        frame(0x84, &[0, 1, 0, 1, b'a', 0]),
        frame(0xA0, &[0, 1, 0, 1, b'a']),
        frame(0xE2, &[]),
    ] {
        let mut c = connect(&broker, V311, "f").await;
        c.send_raw(&bytes).await;
        c.expect_closed(TIMEOUT).await;
    }
}

/// [MQTT-3.8.3-1] SUBSCRIBE filters are UTF-8, [MQTT-3.10.3-1] UNSUBSCRIBE filters too: an ill-formed one
/// closes; [MQTT-3.8.3-4] reserved bits or QoS 3 in the options byte close the connection.
#[tokio::test]
async fn mqtt_3_8_3_4_subscribe_options_reserved_bits_close() {
    let broker = TestBroker::start_default().await;
    for bytes in [
        frame(0x82, &[0, 1, 0, 1, b'a', 0x04]),
        frame(0x82, &[0, 1, 0, 1, b'a', 0x03]),
        frame(0x82, &[0, 1, 0, 1, 0xFF, 0]),
        frame(0xA2, &[0, 1, 0, 1, 0xFF]),
    ] {
        let mut c = connect(&broker, V311, "s").await;
        c.send_raw(&bytes).await;
        c.expect_closed(TIMEOUT).await;
    }
}

/// [MQTT-3.8.4-4] Several filters in one SUBSCRIBE: one SUBACK; [MQTT-3.8.4-5] a code per filter, the
/// granted QoS; [MQTT-3.9.3-1] in order.
#[tokio::test]
async fn mqtt_3_8_4_4_one_suback_for_several_filters() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V311, "m").await;
    let ack = c
        .subscribe_with(&[
            ("a", qos_options(QoS::AtLeastOnce)),
            ("b", qos_options(QoS::ExactlyOnce)),
            ("c", qos_options(QoS::AtMostOnce)),
        ])
        .await;
    assert_eq!(ack.reason_codes.iter().map(|rc| rc.to_v3_suback()).collect::<Vec<_>>(), [1, 2, 0]);
    c.expect_nothing(QUIET).await;
}

/// [MQTT-3.10.3-2] An UNSUBSCRIBE without filters closes the connection; [MQTT-3.10.4-6] several filters
/// get one UNSUBACK.
#[tokio::test]
async fn mqtt_3_10_3_2_unsubscribe_needs_a_filter() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V311, "u").await;
    c.subscribe("a", QoS::AtMostOnce).await;
    c.unsubscribe(&["a", "b", "c"]).await;
    c.expect_nothing(QUIET).await;
    c.send_raw(&frame(0xA2, &[0, 1])).await;
    c.expect_closed(TIMEOUT).await;
}

/// [MQTT-4.1.0-1] Session state is kept for the whole session; [MQTT-4.1.0-2] at least as long as the
/// connection: a clean session keeps its subscriptions while connected.
#[tokio::test]
async fn mqtt_4_1_0_2_session_lasts_as_long_as_the_connection() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V311, "live").await;
    c.subscribe("live", QoS::AtLeastOnce).await;
    for i in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        publish_from(&broker, "p", "live", &i.to_string(), QoS::AtLeastOnce).await;
        assert_eq!(c.receive_and_ack().await.payload, i.to_string());
    }
}

/// [MQTT-4.3.2-1] QoS 1 to a subscriber: an identifier, DUP 0, kept until PUBACK: [MQTT-4.4.0-1] resent
/// after reconnecting with its identifier, [MQTT-3.3.1-1] DUP 1; [MQTT-4.3.2-2] PUBACK to a publisher
/// carries its identifier, and the same identifier afterwards is a new message.
#[tokio::test]
async fn mqtt_4_3_2_1_qos1_sender_and_receiver() {
    let broker = TestBroker::start_default().await;
    let (mut sub, _) = persistent(&broker, V311, "s", false).await;
    sub.subscribe("q1", QoS::AtLeastOnce).await;
    let mut p = connect(&broker, V311, "p").await;
    for _ in 0..2 {
        let mut m = publish_packet("q1", "x", QoS::AtLeastOnce);
        m.packet_id = Some(pid(11));
        p.publish(m).await;
    }
    let first = sub.expect_publish().await;
    assert!(!first.dup && first.packet_id.is_some());
    let _second = sub.expect_publish().await;
    sub.drop_connection();
    let (mut sub, _) = persistent(&broker, V311, "s", false).await;
    let again = sub.expect_publish().await;
    assert!(again.dup && again.packet_id == first.packet_id);
}

/// [MQTT-4.3.3-1] QoS 2 to a subscriber: DUP 0 first, PUBREL after PUBREC with the same identifier, no
/// PUBLISH once PUBREL went out ([MQTT-4.4.0-1] the PUBREL is what is resent); [MQTT-4.3.3-2] from a
/// publisher: PUBREC, repeats not delivered twice, PUBCOMP for PUBREL.
#[tokio::test]
async fn mqtt_4_3_3_1_qos2_sender_and_receiver() {
    let broker = TestBroker::start_default().await;
    let (mut sub, _) = persistent(&broker, V311, "s2", false).await;
    sub.subscribe("q2", QoS::ExactlyOnce).await;
    let mut p = connect(&broker, V311, "p").await;
    let mut m = publish_packet("q2", "x", QoS::ExactlyOnce);
    m.packet_id = Some(pid(21));
    p.send(Packet::Publish(m.clone())).await;
    assert!(matches!(p.next_packet().await, Packet::PubRec(r) if r.packet_id == pid(21)));
    m.dup = true;
    p.send(Packet::Publish(m)).await;
    assert!(matches!(p.next_packet().await, Packet::PubRec(r) if r.packet_id == pid(21)));
    p.send(Packet::PubRel(Ack::new(pid(21)))).await;
    assert!(matches!(p.next_packet().await, Packet::PubComp(c) if c.packet_id == pid(21)));
    let got = sub.expect_publish().await;
    assert!(!got.dup);
    let id = got.packet_id.expect("id");
    sub.send(Packet::PubRec(Ack::new(id))).await;
    assert!(matches!(sub.next_packet().await, Packet::PubRel(r) if r.packet_id == id));
    sub.drop_connection();
    let (mut sub, _) = persistent(&broker, V311, "s2", false).await;
    assert!(matches!(sub.next_packet().await, Packet::PubRel(r) if r.packet_id == id), "not the PUBLISH");
    sub.send(Packet::PubComp(Ack::new(id))).await;
    sub.expect_nothing(QUIET).await;
}

/// [MQTT-4.5.0-1] A message is added to every session with a matching subscription, offline ones too.
#[tokio::test]
async fn mqtt_4_5_0_1_message_reaches_every_matching_session() {
    let broker = TestBroker::start_default().await;
    let (mut off, _) = persistent(&broker, V311, "off", false).await;
    off.subscribe("m/#", QoS::AtLeastOnce).await;
    off.disconnect().await;
    let mut on = connect(&broker, V311, "on").await;
    on.subscribe("m/+", QoS::AtLeastOnce).await;
    publish_from(&broker, "p", "m/x", "1", QoS::AtLeastOnce).await;
    assert_eq!(on.receive_and_ack().await.payload, "1");
    let (mut off, _) = persistent(&broker, V311, "off", false).await;
    assert_eq!(off.receive_and_ack().await.payload, "1");
}

/// [MQTT-4.6.0-5] Every topic is an ordered topic; [MQTT-4.6.0-6] messages of one publisher on a topic
/// and QoS reach a subscriber in order, through an offline queue too.
#[tokio::test]
async fn mqtt_4_6_0_6_messages_keep_the_publishers_order() {
    let broker = TestBroker::start_default().await;
    let (mut sub, _) = persistent(&broker, V311, "ord", false).await;
    sub.subscribe("ord", QoS::ExactlyOnce).await;
    sub.disconnect().await;
    let mut p = connect(&broker, V311, "p").await;
    for i in 0..15 {
        p.publish_at("ord", i.to_string(), QoS::ExactlyOnce).await;
    }
    let (mut sub, _) = persistent(&broker, V311, "ord", false).await;
    let got: Vec<String> =
        drain(&mut sub).await.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()).collect();
    assert_eq!(got, (0..15).map(|i| i.to_string()).collect::<Vec<_>>());
}

/// [MQTT-4.7.1-1] Wildcards are for filters only: a topic name with `+` closes the connection.
#[tokio::test]
async fn mqtt_4_7_1_1_wildcard_in_a_topic_name_closes() {
    let broker = TestBroker::start_default().await;
    let mut c = connect(&broker, V311, "w").await;
    c.send_raw(&frame(0x30, &publish_body(b"a/+", None, b"x"))).await;
    c.expect_closed(TIMEOUT).await;
}

/// [MQTT-4.7.3-1] An empty topic filter, [MQTT-4.7.3-2] or one with U+0000, closes the connection.
#[tokio::test]
async fn mqtt_4_7_3_1_empty_or_null_filters_close() {
    let broker = TestBroker::start_default().await;
    for bytes in [frame(0x82, &[0, 1, 0, 0, 0]), frame(0x82, &[0, 1, 0, 2, b'a', 0, 0])] {
        let mut c = connect(&broker, V311, "e").await;
        c.send_raw(&bytes).await;
        c.expect_closed(TIMEOUT).await;
    }
}

/// [MQTT-4.7.3-3] Topics up to 65,535 bytes work: a 65,535-byte topic is subscribed to, published and
/// delivered (3.1.1 and 5.0 alike: the statement has the same number in both).
#[tokio::test]
async fn mqtt_4_7_3_3_longest_topic_is_handled() {
    let broker = TestBroker::start_default().await;
    let topic = "t".repeat(65_535);
    for version in [V311, V5] {
        let mut sub = connect(&broker, version, "sub").await;
        sub.subscribe(&topic, QoS::AtMostOnce).await;
        let mut p = connect(&broker, version, "p").await;
        p.publish_qos0(&topic, "x").await;
        assert_eq!(sub.expect_publish().await.topic.len(), 65_535);
    }
}

/// [MQTT-4.7.3-4] No normalization when matching: case, trailing `/` and combining characters matter.
#[tokio::test]
async fn mqtt_4_7_3_4_no_normalization_when_matching() {
    let broker = TestBroker::start_default().await;
    let mut sub = connect(&broker, V311, "sub").await;
    sub.subscribe("n/é", QoS::AtMostOnce).await;
    for t in ["n/É", "n/é/", "n/e\u{301}"] {
        publish_from(&broker, "p", t, t, QoS::AtMostOnce).await;
    }
    sub.expect_nothing(QUIET).await;
}

/// [MQTT-4.8.0-1] A protocol violation closes the connection (a second CONNECT, a SUBACK from a client).
#[tokio::test]
async fn mqtt_4_8_0_1_protocol_violation_closes_the_connection() {
    let broker = TestBroker::start_default().await;
    for bytes in [frame(0x90, &[0, 1, 0]), frame(0x20, &[0, 0])] {
        let mut c = connect(&broker, V311, "v").await;
        c.send_raw(&bytes).await;
        c.expect_closed(TIMEOUT).await;
    }
}

/// [MQTT-4.7.1-2] `#` must be last and alone in its level, [MQTT-4.7.1-3] `+` must fill its level: other
/// filters close the connection.
#[tokio::test]
async fn mqtt_4_7_1_2_wildcards_must_be_whole_levels() {
    let broker = TestBroker::start_default().await;
    for filter in ["a/#/b", "a#", "a/b+", "+a/b"] {
        let mut c = connect(&broker, V311, "w").await;
        c.send(Packet::Subscribe(subscribe_packet(pid(1), &[(filter, qos_options(QoS::AtMostOnce))]))).await;
        c.expect_closed(TIMEOUT).await;
    }
}
