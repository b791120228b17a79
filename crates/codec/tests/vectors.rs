//! Byte-exact vectors for every control packet in every protocol version (MQTT 3.1 "MQIsdp", 3.1.1 and 5.0),
//! written by hand from the encoding rules of the specs (fixed header 2.1 / 2.2, data representation 1.5,
//! properties 2.2.2, each packet's section 3.x). Each vector is checked both ways: the bytes decode to the
//! model, and the model encodes to the bytes.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::num::NonZeroU16;

use tern_codec::{
    decode, encode, Ack, Auth, ByteString, Bytes, BytesMut, ConnAck, Connect, Disconnect, EncodeError,
    LastWill, Limits, Packet, Properties, ProtocolVersion, Publish, QoS, ReasonCode, RetainHandling, SubAck,
    Subscribe, SubscriptionOptions, SubscriptionRequest, UnsubAck, Unsubscribe,
};
use ProtocolVersion::{V31, V311, V5};

/// Concatenates byte strings, so vectors read field by field.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn id(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

fn s(text: &'static str) -> ByteString {
    ByteString::from_static(text)
}

fn decoded(v: ProtocolVersion, bytes: &[u8]) -> Packet {
    let mut buf = BytesMut::from(bytes);
    let packet = decode(&mut buf, &Limits::new(v)).unwrap().expect("a whole frame");
    assert!(buf.is_empty(), "the whole frame is consumed");
    packet
}

fn encoded(v: ProtocolVersion, packet: &Packet) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(packet, v, &mut buf).unwrap();
    assert_eq!(packet.encoded_len(v), buf.len());
    buf.to_vec()
}

/// The vector holds both ways: `bytes` decode to `packet` and `packet` encodes to `bytes`.
fn both_ways(v: ProtocolVersion, bytes: &[u8], packet: Packet) {
    assert_eq!(decoded(v, bytes), packet, "decoding {bytes:02X?} in {v}");
    assert_eq!(encoded(v, &packet), bytes, "encoding {packet:?} in {v}");
}

fn connect(protocol: ProtocolVersion) -> Connect {
    Connect { protocol, client_id: s("c1"), ..Connect::default() }
}

// ---------------------------------------------------------------------------------------------------------
// CONNECT (3.1)

#[test]
fn connect_v31_minimal() {
    let bytes = cat(&[&[0x10, 16], &[0, 6], b"MQIsdp", &[3, 0x02, 0, 60], &[0, 2], b"c1"]);
    both_ways(V31, &bytes, Packet::Connect(Box::new(connect(V31))));
}

#[test]
fn connect_v31_with_will_user_name_and_password() {
    // Flags: user name 0x80, password 0x40, will retain 0x20, will QoS 1 0x08, will 0x04, clean 0x02.
    let bytes = cat(&[
        &[0x10, 30],
        &[0, 6],
        b"MQIsdp",
        &[3, 0xEE, 0, 10],
        &[0, 2],
        b"c1",
        &[0, 1],
        b"w",
        &[0, 3],
        b"bye",
        &[0, 1],
        b"u",
        &[0, 1],
        b"p",
    ]);
    let packet = Connect {
        keep_alive: 10,
        will: Some(LastWill {
            topic: s("w"),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::default(),
        }),
        username: Some(s("u")),
        password: Some(Bytes::from_static(b"p")),
        ..connect(V31)
    };
    both_ways(V31, &bytes, Packet::Connect(Box::new(packet)));
}

#[test]
fn connect_v311_minimal() {
    let bytes = cat(&[&[0x10, 14], &[0, 4], b"MQTT", &[4, 0x02, 0, 60], &[0, 2], b"c1"]);
    both_ways(V311, &bytes, Packet::Connect(Box::new(connect(V311))));
}

#[test]
fn connect_v311_persistent_session_empty_client_id_no_keep_alive() {
    let bytes = cat(&[&[0x10, 12], &[0, 4], b"MQTT", &[4, 0x00, 0, 0], &[0, 0]]);
    let packet = Connect { clean_start: false, keep_alive: 0, client_id: s(""), ..connect(V311) };
    both_ways(V311, &bytes, Packet::Connect(Box::new(packet)));
}

#[test]
fn connect_v311_will_qos2_user_name_and_password() {
    // Flags: user name 0x80, password 0x40, will QoS 2 0x10, will 0x04, clean 0x02.
    let bytes = cat(&[
        &[0x10, 31],
        &[0, 4],
        b"MQTT",
        &[4, 0xD6, 0x01, 0x2C],
        &[0, 2],
        b"c1",
        &[0, 3],
        b"a/b",
        &[0, 2],
        &[0xDE, 0xAD],
        &[0, 1],
        b"u",
        &[0, 3],
        b"pwd",
    ]);
    let packet = Connect {
        keep_alive: 300,
        will: Some(LastWill {
            topic: s("a/b"),
            payload: Bytes::from_static(&[0xDE, 0xAD]),
            qos: QoS::ExactlyOnce,
            retain: false,
            properties: Properties::default(),
        }),
        username: Some(s("u")),
        password: Some(Bytes::from_static(b"pwd")),
        ..connect(V311)
    };
    both_ways(V311, &bytes, Packet::Connect(Box::new(packet)));
}

#[test]
fn connect_v5_minimal() {
    let bytes = cat(&[&[0x10, 15], &[0, 4], b"MQTT", &[5, 0x02, 0, 60], &[0], &[0, 2], b"c1"]);
    both_ways(V5, &bytes, Packet::Connect(Box::new(connect(V5))));
}

#[test]
fn connect_v5_with_properties_and_will_properties() {
    let bytes = cat(&[
        &[0x10, 50],
        &[0, 4],
        b"MQTT",
        &[5, 0xCE, 0, 30],
        // Properties: session expiry 3600, receive maximum 20, user property k=v.
        &[15, 0x11, 0, 0, 0x0E, 0x10, 0x21, 0, 20, 0x26, 0, 1, b'k', 0, 1, b'v'],
        &[0, 2],
        b"c1",
        // Will properties: payload format indicator 1, will delay 5.
        &[7, 0x01, 1, 0x18, 0, 0, 0, 5],
        &[0, 1],
        b"w",
        &[0, 1],
        b"x",
        &[0, 1],
        b"u",
        &[0, 1],
        b"p",
    ]);
    let packet = Connect {
        keep_alive: 30,
        will: Some(LastWill {
            topic: s("w"),
            payload: Bytes::from_static(b"x"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties {
                payload_format_indicator: Some(true),
                will_delay_interval: Some(5),
                ..Properties::default()
            },
        }),
        username: Some(s("u")),
        password: Some(Bytes::from_static(b"p")),
        properties: Properties {
            session_expiry_interval: Some(3600),
            receive_maximum: Some(20),
            user_properties: vec![(s("k"), s("v"))],
            ..Properties::default()
        },
        ..connect(V5)
    };
    both_ways(V5, &bytes, Packet::Connect(Box::new(packet)));
}

#[test]
fn connect_v5_password_without_user_name_is_allowed() {
    // MQTT 5.0 dropped [MQTT-3.1.2-22]: flags password 0x40, clean 0x02.
    let bytes =
        cat(&[&[0x10, 19], &[0, 4], b"MQTT", &[5, 0x42, 0, 60], &[0], &[0, 2], b"c1", &[0, 2], b"pw"]);
    let packet = Connect { password: Some(Bytes::from_static(b"pw")), ..connect(V5) };
    both_ways(V5, &bytes, Packet::Connect(Box::new(packet)));
}

#[test]
fn connect_v5_enhanced_authentication() {
    let bytes = cat(&[
        &[0x10, 29],
        &[0, 4],
        b"MQTT",
        &[5, 0x02, 0, 60],
        &[14, 0x15, 0, 5],
        b"SCRAM",
        &[0x16, 0, 3, 1, 2, 3],
        &[0, 2],
        b"c1",
    ]);
    let packet = Connect {
        properties: Properties {
            authentication_method: Some(s("SCRAM")),
            authentication_data: Some(Bytes::from_static(&[1, 2, 3])),
            ..Properties::default()
        },
        ..connect(V5)
    };
    both_ways(V5, &bytes, Packet::Connect(Box::new(packet)));
}

#[test]
fn connect_carries_its_own_version_whatever_the_connection_guessed() {
    let bytes = cat(&[&[0x10, 15], &[0, 4], b"MQTT", &[5, 0x02, 0, 60], &[0], &[0, 2], b"c1"]);
    for guess in [V31, V311, V5] {
        assert_eq!(decoded(guess, &bytes), Packet::Connect(Box::new(connect(V5))));
    }
}

#[test]
fn connect_from_a_mosquitto_bridge_sets_the_top_bit_of_the_level() {
    // Mosquitto bridges send level | 0x80 ("try_private"); the format is the version's own.
    let bytes = cat(&[&[0x10, 14], &[0, 4], b"MQTT", &[0x84, 0x02, 0, 60], &[0, 2], b"c1"]);
    assert_eq!(decoded(V311, &bytes), Packet::Connect(Box::new(connect(V311))));
}

// ---------------------------------------------------------------------------------------------------------
// CONNACK (3.2)

#[test]
fn connack_v31_has_no_session_present() {
    both_ways(V31, &[0x20, 2, 0, 0], Packet::ConnAck(ConnAck::default()));
    let refused = ConnAck { reason_code: ReasonCode::NOT_AUTHORIZED, ..ConnAck::default() };
    both_ways(V31, &[0x20, 2, 0, 5], Packet::ConnAck(refused));
    // The first byte is the unused "topic name compression response" in 3.1: ignored, and written as 0.
    assert_eq!(decoded(V31, &[0x20, 2, 1, 0]), Packet::ConnAck(ConnAck::default()));
    let present = ConnAck { session_present: true, ..ConnAck::default() };
    assert_eq!(encoded(V31, &Packet::ConnAck(present)), [0x20, 2, 0, 0]);
}

#[test]
fn connack_v311_session_present() {
    let packet = ConnAck { session_present: true, ..ConnAck::default() };
    both_ways(V311, &[0x20, 2, 1, 0], Packet::ConnAck(packet));
}

#[test]
fn connack_3x_return_codes_map_to_reason_codes() {
    // 3.1.1 table 3.1 / 3.1 CONNACK return codes 0-5, both ways.
    let table = [
        (0, ReasonCode::SUCCESS),
        (1, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION),
        (2, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID),
        (3, ReasonCode::SERVER_UNAVAILABLE),
        (4, ReasonCode::BAD_USER_NAME_OR_PASSWORD),
        (5, ReasonCode::NOT_AUTHORIZED),
    ];
    for v in [V31, V311] {
        for (code, reason_code) in table {
            both_ways(v, &[0x20, 2, 0, code], Packet::ConnAck(ConnAck { reason_code, ..ConnAck::default() }));
        }
    }
}

#[test]
fn connack_v5_reason_codes_without_a_3x_equal_encode_as_the_nearest_return_code() {
    let table = [
        (ReasonCode::BANNED, 5),
        (ReasonCode::SERVER_BUSY, 3),
        (ReasonCode::SERVER_UNAVAILABLE, 3),
        (ReasonCode::UNSPECIFIED_ERROR, 3),
        (ReasonCode::MALFORMED_PACKET, 3),
        (ReasonCode::QUOTA_EXCEEDED, 3),
    ];
    for (reason_code, code) in table {
        let packet = Packet::ConnAck(ConnAck { reason_code, ..ConnAck::default() });
        assert_eq!(encoded(V311, &packet), [0x20, 2, 0, code], "{reason_code}");
    }
}

#[test]
fn connack_v5_short() {
    both_ways(V5, &[0x20, 3, 0, 0, 0], Packet::ConnAck(ConnAck::default()));
    let present = ConnAck { session_present: true, ..ConnAck::default() };
    both_ways(V5, &[0x20, 3, 1, 0, 0], Packet::ConnAck(present));
    let refused = ConnAck { reason_code: ReasonCode::NOT_AUTHORIZED, ..ConnAck::default() };
    both_ways(V5, &[0x20, 3, 0, 0x87, 0], Packet::ConnAck(refused));
}

#[test]
fn connack_v5_with_server_capabilities() {
    let bytes = cat(&[
        &[0x20, 32, 0, 0, 29],
        &[0x12, 0, 2],
        b"id",
        &[0x13, 0, 60],
        &[0x21, 0, 10],
        &[0x22, 0, 5],
        &[0x24, 0],
        &[0x25, 0],
        &[0x27, 0, 0, 0x10, 0],
        &[0x28, 1, 0x29, 0, 0x2A, 1],
    ]);
    let packet = ConnAck {
        session_present: false,
        reason_code: ReasonCode::SUCCESS,
        properties: Properties {
            assigned_client_identifier: Some(s("id")),
            server_keep_alive: Some(60),
            receive_maximum: Some(10),
            topic_alias_maximum: Some(5),
            maximum_qos: Some(QoS::AtMostOnce),
            retain_available: Some(false),
            maximum_packet_size: Some(4096),
            wildcard_subscription_available: Some(true),
            subscription_identifier_available: Some(false),
            shared_subscription_available: Some(true),
            ..Properties::default()
        },
    };
    both_ways(V5, &bytes, Packet::ConnAck(packet));
}

#[test]
fn connack_v5_refusal_with_reason_string_and_server_reference() {
    let bytes = cat(&[&[0x20, 16, 0, 0x9C, 13], &[0x1C, 0, 3], b"srv", &[0x1F, 0, 4], b"nope"]);
    let packet = ConnAck {
        session_present: false,
        reason_code: ReasonCode::USE_ANOTHER_SERVER,
        properties: Properties {
            server_reference: Some(s("srv")),
            reason_string: Some(s("nope")),
            ..Properties::default()
        },
    };
    both_ways(V5, &bytes, Packet::ConnAck(packet));
}

// ---------------------------------------------------------------------------------------------------------
// PUBLISH (3.3)

#[test]
fn publish_3x_qos0() {
    let bytes = cat(&[&[0x30, 10, 0, 3], b"a/b", b"hello"]);
    for v in [V31, V311] {
        both_ways(v, &bytes, Packet::Publish(Publish::new("a/b", "hello")));
    }
}

#[test]
fn publish_3x_qos1_dup_retain() {
    let bytes = cat(&[&[0x3B, 6, 0, 1], b"t", &[0, 7], b"p"]);
    let packet = Publish {
        dup: true,
        qos: QoS::AtLeastOnce,
        retain: true,
        packet_id: Some(id(7)),
        ..Publish::new("t", "p")
    };
    for v in [V31, V311] {
        both_ways(v, &bytes, Packet::Publish(packet.clone()));
    }
}

#[test]
fn publish_3x_qos2_empty_payload() {
    let bytes = cat(&[&[0x34, 5, 0, 1], b"t", &[0x12, 0x34]]);
    let packet = Publish { qos: QoS::ExactlyOnce, packet_id: Some(id(0x1234)), ..Publish::new("t", "") };
    for v in [V31, V311] {
        both_ways(v, &bytes, Packet::Publish(packet.clone()));
    }
}

#[test]
fn publish_remaining_length_of_two_bytes() {
    // 3 + 200 = 203 = 0xCB: 0x4B with the continuation bit, then 0x01 (1.5.5 / 2.2.3).
    let payload = vec![0xA5; 200];
    let bytes = cat(&[&[0x30, 0xCB, 0x01, 0, 1], b"t", &payload]);
    both_ways(V311, &bytes, Packet::Publish(Publish::new("t", payload)));
}

#[test]
fn publish_utf8_topic_keeps_its_bytes() {
    // "é/✓" is 2 + 1 + 3 bytes of UTF-8.
    let bytes = cat(&[&[0x30, 8, 0, 6], "é/✓".as_bytes()]);
    both_ways(V311, &bytes, Packet::Publish(Publish::new("é/✓", "")));
}

#[test]
fn publish_v5_qos0_without_properties() {
    let bytes = cat(&[&[0x30, 11, 0, 3], b"a/b", &[0], b"hello"]);
    both_ways(V5, &bytes, Packet::Publish(Publish::new("a/b", "hello")));
}

#[test]
fn publish_v5_with_every_publish_property() {
    let bytes = cat(&[
        &[0x32, 46, 0, 1],
        b"t",
        &[0, 1],
        &[38],
        &[0x01, 1],
        &[0x02, 0, 0, 0, 60],
        &[0x03, 0, 4],
        b"text",
        &[0x08, 0, 1],
        b"r",
        &[0x09, 0, 2, 0xAB, 0xCD],
        &[0x0B, 1, 0x0B, 0x80, 0x01],
        &[0x23, 0, 2],
        &[0x26, 0, 1],
        b"a",
        &[0, 1],
        b"b",
        b"hi",
    ]);
    let packet = Publish {
        qos: QoS::AtLeastOnce,
        packet_id: Some(id(1)),
        properties: Properties {
            payload_format_indicator: Some(true),
            message_expiry_interval: Some(60),
            content_type: Some(s("text")),
            response_topic: Some(s("r")),
            correlation_data: Some(Bytes::from_static(&[0xAB, 0xCD])),
            subscription_identifiers: vec![1, 128],
            topic_alias: Some(2),
            user_properties: vec![(s("a"), s("b"))],
            ..Properties::default()
        },
        ..Publish::new("t", "hi")
    };
    both_ways(V5, &bytes, Packet::Publish(packet));
}

#[test]
fn publish_v5_empty_topic_with_topic_alias() {
    let bytes = cat(&[&[0x30, 7, 0, 0, 3, 0x23, 0, 1], b"x"]);
    let packet = Publish {
        properties: Properties { topic_alias: Some(1), ..Properties::default() },
        ..Publish::new("", "x")
    };
    both_ways(V5, &bytes, Packet::Publish(packet));
}

#[test]
fn publish_properties_are_not_encoded_in_3x() {
    let packet = Publish {
        properties: Properties { message_expiry_interval: Some(9), ..Properties::default() },
        ..Publish::new("t", "p")
    };
    assert_eq!(encoded(V311, &Packet::Publish(packet)), cat(&[&[0x30, 4, 0, 1], b"t", b"p"]));
}

#[test]
fn publish_header_is_the_frame_without_its_payload() {
    let packet = Publish {
        qos: QoS::AtLeastOnce,
        packet_id: Some(id(1)),
        properties: Properties { topic_alias: Some(2), ..Properties::default() },
        ..Publish::new("t", "hello")
    };
    for v in [V31, V311, V5] {
        let mut header = BytesMut::new();
        packet.encode_header(v, &mut header).unwrap();
        header.extend_from_slice(b"hello");
        assert_eq!(header.to_vec(), encoded(v, &Packet::Publish(packet.clone())));
    }
}

// ---------------------------------------------------------------------------------------------------------
// PUBACK (3.4), PUBREC (3.5), PUBREL (3.6), PUBCOMP (3.7)

fn ack(packet_type: u8, a: Ack) -> (u8, Packet) {
    let packet = match packet_type {
        0x40 => Packet::PubAck(a),
        0x50 => Packet::PubRec(a),
        0x62 => Packet::PubRel(a),
        _ => Packet::PubComp(a),
    };
    (packet_type, packet)
}

#[test]
fn acks_3x_are_a_packet_identifier() {
    for v in [V31, V311] {
        for first in [0x40, 0x50, 0x62, 0x70] {
            let (first, packet) = ack(first, Ack::new(id(0x0102)));
            both_ways(v, &[first, 2, 0x01, 0x02], packet);
        }
    }
}

#[test]
fn acks_3x_do_not_carry_reason_codes() {
    let a = Ack { reason_code: ReasonCode::QUOTA_EXCEEDED, ..Ack::new(id(1)) };
    assert_eq!(encoded(V311, &Packet::PubAck(a)), [0x40, 2, 0, 1]);
}

#[test]
fn pubrel_subscribe_unsubscribe_resent_in_v31_carry_dup() {
    // MQTT 3.1 sets DUP on a re-sent PUBREL, SUBSCRIBE or UNSUBSCRIBE; the flags are QoS 1 + DUP.
    assert_eq!(decoded(V31, &[0x6A, 2, 0, 1]), Packet::PubRel(Ack::new(id(1))));
    let sub = cat(&[&[0x8A, 6, 0, 1, 0, 1], b"t", &[1]]);
    assert!(matches!(decoded(V31, &sub), Packet::Subscribe(_)));
    let unsub = cat(&[&[0xAA, 5, 0, 1, 0, 1], b"t"]);
    assert!(matches!(decoded(V31, &unsub), Packet::Unsubscribe(_)));
}

#[test]
fn acks_v5_short_form_for_success_without_properties() {
    for first in [0x40, 0x50, 0x62, 0x70] {
        let (first, packet) = ack(first, Ack::new(id(9)));
        both_ways(V5, &[first, 2, 0, 9], packet);
    }
}

#[test]
fn acks_v5_reason_code_without_properties() {
    let cases = [
        (0x40, ReasonCode::NO_MATCHING_SUBSCRIBERS),
        (0x40, ReasonCode::NOT_AUTHORIZED),
        (0x50, ReasonCode::QUOTA_EXCEEDED),
        (0x50, ReasonCode::PACKET_IDENTIFIER_IN_USE),
        (0x62, ReasonCode::PACKET_IDENTIFIER_NOT_FOUND),
        (0x70, ReasonCode::PACKET_IDENTIFIER_NOT_FOUND),
    ];
    for (first, reason_code) in cases {
        let (first, packet) = ack(first, Ack { reason_code, ..Ack::new(id(1)) });
        both_ways(V5, &[first, 3, 0, 1, reason_code.0], packet);
    }
}

#[test]
fn acks_v5_with_reason_string_and_user_property() {
    let bytes =
        cat(&[&[0x40, 17, 0, 1, 0x80, 13], &[0x1F, 0, 3], b"bad", &[0x26, 0, 1], b"k", &[0, 1], b"v"]);
    let a = Ack {
        packet_id: id(1),
        reason_code: ReasonCode::UNSPECIFIED_ERROR,
        properties: Properties {
            reason_string: Some(s("bad")),
            user_properties: vec![(s("k"), s("v"))],
            ..Properties::default()
        },
    };
    both_ways(V5, &bytes, Packet::PubAck(a));
    let success_with_property = Ack {
        packet_id: id(2),
        reason_code: ReasonCode::SUCCESS,
        properties: Properties { user_properties: vec![(s("k"), s("v"))], ..Properties::default() },
    };
    let bytes = cat(&[&[0x62, 11, 0, 2, 0x00, 7], &[0x26, 0, 1], b"k", &[0, 1], b"v"]);
    both_ways(V5, &bytes, Packet::PubRel(success_with_property));
}

#[test]
fn acks_v5_long_form_with_empty_properties_decodes_like_the_short_form() {
    assert_eq!(decoded(V5, &[0x40, 4, 0, 1, 0, 0]), Packet::PubAck(Ack::new(id(1))));
    assert_eq!(decoded(V5, &[0x70, 3, 0, 1, 0]), Packet::PubComp(Ack::new(id(1))));
}

// ---------------------------------------------------------------------------------------------------------
// SUBSCRIBE (3.8), SUBACK (3.9)

fn request(filter: &'static str, qos: QoS) -> SubscriptionRequest {
    SubscriptionRequest {
        filter: s(filter),
        options: SubscriptionOptions { qos, ..SubscriptionOptions::default() },
    }
}

#[test]
fn subscribe_3x() {
    let bytes = cat(&[&[0x82, 12, 0, 1], &[0, 3], b"a/b", &[1], &[0, 1], b"#", &[2]]);
    let packet = Subscribe {
        packet_id: id(1),
        filters: vec![request("a/b", QoS::AtLeastOnce), request("#", QoS::ExactlyOnce)],
        properties: Properties::default(),
    };
    for v in [V31, V311] {
        both_ways(v, &bytes, Packet::Subscribe(packet.clone()));
    }
}

#[test]
fn subscribe_v5_with_options_and_subscription_identifier() {
    // "a/+": QoS 1 | No Local 0x04 | Retain As Published 0x08 | Retain Handling 2 (0x20) = 0x2D.
    // "$share/g/x": QoS 2 | Retain Handling 1 (0x10) = 0x12.
    let bytes =
        cat(&[&[0x82, 24, 0, 10], &[2, 0x0B, 5], &[0, 3], b"a/+", &[0x2D], &[0, 10], b"$share/g/x", &[0x12]]);
    let packet = Subscribe {
        packet_id: id(10),
        filters: vec![
            SubscriptionRequest {
                filter: s("a/+"),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                },
            },
            SubscriptionRequest {
                filter: s("$share/g/x"),
                options: SubscriptionOptions {
                    qos: QoS::ExactlyOnce,
                    retain_handling: RetainHandling::SendAtSubscribeIfNew,
                    ..SubscriptionOptions::default()
                },
            },
        ],
        properties: Properties { subscription_identifiers: vec![5], ..Properties::default() },
    };
    both_ways(V5, &bytes, Packet::Subscribe(packet));
}

#[test]
fn subscribe_v5_options_are_not_encoded_in_3x() {
    let packet = Subscribe {
        packet_id: id(1),
        filters: vec![SubscriptionRequest {
            filter: s("t"),
            options: SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
        }],
        properties: Properties::default(),
    };
    assert_eq!(encoded(V311, &Packet::Subscribe(packet)), cat(&[&[0x82, 6, 0, 1, 0, 1], b"t", &[1]]));
}

#[test]
fn suback_v31_granted_qos() {
    let packet = SubAck {
        packet_id: id(1),
        reason_codes: vec![ReasonCode::GRANTED_QOS_0, ReasonCode::GRANTED_QOS_2],
        properties: Properties::default(),
    };
    both_ways(V31, &[0x90, 4, 0, 1, 0, 2], Packet::SubAck(packet));
}

#[test]
fn suback_v311_failure_is_0x80() {
    let packet = SubAck {
        packet_id: id(1),
        reason_codes: vec![
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::GRANTED_QOS_1,
            ReasonCode::UNSPECIFIED_ERROR,
        ],
        properties: Properties::default(),
    };
    both_ways(V311, &[0x90, 5, 0, 1, 0, 1, 0x80], Packet::SubAck(packet));
    // Any 5.0 failure is written as 0x80 [MQTT-3.9.3-2] (3.1.1).
    let v5_failures = SubAck {
        packet_id: id(1),
        reason_codes: vec![ReasonCode::NOT_AUTHORIZED, ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED],
        properties: Properties::default(),
    };
    assert_eq!(encoded(V311, &Packet::SubAck(v5_failures)), [0x90, 4, 0, 1, 0x80, 0x80]);
}

#[test]
fn suback_v5_with_reason_codes_and_reason_string() {
    let packet = SubAck {
        packet_id: id(1),
        reason_codes: vec![ReasonCode::GRANTED_QOS_2, ReasonCode::NOT_AUTHORIZED, ReasonCode(0xA2)],
        properties: Properties::default(),
    };
    both_ways(V5, &[0x90, 6, 0, 1, 0, 2, 0x87, 0xA2], Packet::SubAck(packet));
    let bytes = cat(&[&[0x90, 10, 0, 2, 5, 0x1F, 0, 2], b"no", &[0x8F, 0x9E]]);
    let packet = SubAck {
        packet_id: id(2),
        reason_codes: vec![ReasonCode::TOPIC_FILTER_INVALID, ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED],
        properties: Properties { reason_string: Some(s("no")), ..Properties::default() },
    };
    both_ways(V5, &bytes, Packet::SubAck(packet));
}

// ---------------------------------------------------------------------------------------------------------
// UNSUBSCRIBE (3.10), UNSUBACK (3.11)

#[test]
fn unsubscribe_3x() {
    let bytes = cat(&[&[0xA2, 10, 0, 2], &[0, 3], b"a/#", &[0, 1], b"+"]);
    let packet =
        Unsubscribe { packet_id: id(2), filters: vec![s("a/#"), s("+")], properties: Properties::default() };
    for v in [V31, V311] {
        both_ways(v, &bytes, Packet::Unsubscribe(packet.clone()));
    }
}

#[test]
fn unsubscribe_v5_with_user_property() {
    let bytes = cat(&[&[0xA2, 14, 0, 2, 7, 0x26, 0, 1], b"k", &[0, 1], b"v", &[0, 2], b"a/"]);
    let packet = Unsubscribe {
        packet_id: id(2),
        filters: vec![s("a/")],
        properties: Properties { user_properties: vec![(s("k"), s("v"))], ..Properties::default() },
    };
    both_ways(V5, &bytes, Packet::Unsubscribe(packet));
}

#[test]
fn unsuback_3x_is_a_packet_identifier() {
    let packet = UnsubAck { packet_id: id(2), reason_codes: vec![], properties: Properties::default() };
    for v in [V31, V311] {
        both_ways(v, &[0xB0, 2, 0, 2], Packet::UnsubAck(packet.clone()));
    }
}

#[test]
fn unsuback_v5_reason_codes() {
    let packet = UnsubAck {
        packet_id: id(2),
        reason_codes: vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED],
        properties: Properties::default(),
    };
    both_ways(V5, &[0xB0, 5, 0, 2, 0, 0x00, 0x11], Packet::UnsubAck(packet));
    let bytes = cat(&[&[0xB0, 8, 0, 3, 4, 0x1F, 0, 1], b"x", &[0x87]]);
    let packet = UnsubAck {
        packet_id: id(3),
        reason_codes: vec![ReasonCode::NOT_AUTHORIZED],
        properties: Properties { reason_string: Some(s("x")), ..Properties::default() },
    };
    both_ways(V5, &bytes, Packet::UnsubAck(packet));
}

// ---------------------------------------------------------------------------------------------------------
// PINGREQ (3.12), PINGRESP (3.13)

#[test]
fn ping_in_every_version() {
    for v in [V31, V311, V5] {
        both_ways(v, &[0xC0, 0], Packet::PingReq);
        both_ways(v, &[0xD0, 0], Packet::PingResp);
    }
}

// ---------------------------------------------------------------------------------------------------------
// DISCONNECT (3.14)

#[test]
fn disconnect_3x_has_no_body() {
    for v in [V31, V311] {
        both_ways(v, &[0xE0, 0], Packet::Disconnect(Disconnect::default()));
    }
    let with_reason = Disconnect::new(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
    assert_eq!(encoded(V311, &Packet::Disconnect(with_reason)), [0xE0, 0]);
}

#[test]
fn disconnect_v5_short_forms() {
    both_ways(V5, &[0xE0, 0], Packet::Disconnect(Disconnect::default()));
    let will = Disconnect::new(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
    both_ways(V5, &[0xE0, 1, 0x04], Packet::Disconnect(will));
    // A reason code and an empty property length is the same packet in its long form.
    assert_eq!(decoded(V5, &[0xE0, 2, 0, 0]), Packet::Disconnect(Disconnect::default()));
    assert_eq!(decoded(V5, &[0xE0, 1, 0]), Packet::Disconnect(Disconnect::default()));
}

#[test]
fn disconnect_v5_with_properties() {
    let bytes =
        cat(&[&[0xE0, 19, 0x8E, 17], &[0x11, 0, 0, 0, 0], &[0x1C, 0, 2], b"s2", &[0x1F, 0, 4], b"gone"]);
    let packet = Disconnect {
        reason_code: ReasonCode::SESSION_TAKEN_OVER,
        properties: Properties {
            session_expiry_interval: Some(0),
            server_reference: Some(s("s2")),
            reason_string: Some(s("gone")),
            ..Properties::default()
        },
    };
    both_ways(V5, &bytes, Packet::Disconnect(packet));
}

// ---------------------------------------------------------------------------------------------------------
// AUTH (3.15)

#[test]
fn auth_v5_short_form_is_success() {
    both_ways(V5, &[0xF0, 0], Packet::Auth(Auth::default()));
}

#[test]
fn auth_v5_continue_authentication() {
    let bytes = cat(&[&[0xF0, 15, 0x18, 13, 0x15, 0, 5], b"SCRAM", &[0x16, 0, 2, 1, 2]]);
    let packet = Auth {
        reason_code: ReasonCode::CONTINUE_AUTHENTICATION,
        properties: Properties {
            authentication_method: Some(s("SCRAM")),
            authentication_data: Some(Bytes::from_static(&[1, 2])),
            ..Properties::default()
        },
    };
    both_ways(V5, &bytes, Packet::Auth(packet));
}

#[test]
fn auth_v5_reason_code_is_followed_by_a_property_length() {
    // Only the all-omitted short form exists for AUTH (3.15.2.1): a reason code brings its property length.
    let packet = Auth { reason_code: ReasonCode::RE_AUTHENTICATE, properties: Properties::default() };
    both_ways(V5, &[0xF0, 2, 0x19, 0], Packet::Auth(packet));
    let bytes = cat(&[&[0xF0, 8, 0x19, 6, 0x1F, 0, 3], b"why"]);
    let packet = Auth {
        reason_code: ReasonCode::RE_AUTHENTICATE,
        properties: Properties { reason_string: Some(s("why")), ..Properties::default() },
    };
    both_ways(V5, &bytes, Packet::Auth(packet));
}

#[test]
fn auth_does_not_exist_before_v5() {
    for v in [V31, V311] {
        let mut buf = BytesMut::new();
        let err = encode(&Packet::Auth(Auth::default()), v, &mut buf).unwrap_err();
        assert_eq!(err, EncodeError::NotInVersion(tern_codec::PacketType::Auth, v));
        assert!(buf.is_empty());
        let mut frame = BytesMut::from(&[0xF0, 0][..]);
        assert_eq!(decode(&mut frame, &Limits::new(v)), Err(tern_codec::DecodeError::AuthBeforeV5(v)));
    }
}

// ---------------------------------------------------------------------------------------------------------
// Several frames in one buffer

#[test]
fn consecutive_frames_decode_one_at_a_time() {
    let mut buf = BytesMut::from(&[0xC0, 0, 0x40, 2, 0, 5, 0xD0][..]);
    let limits = Limits::new(V311);
    assert_eq!(decode(&mut buf, &limits), Ok(Some(Packet::PingReq)));
    assert_eq!(decode(&mut buf, &limits), Ok(Some(Packet::PubAck(Ack::new(id(5))))));
    assert_eq!(decode(&mut buf, &limits), Ok(None));
    assert_eq!(&buf[..], &[0xD0]);
    buf.extend_from_slice(&[0]);
    assert_eq!(decode(&mut buf, &limits), Ok(Some(Packet::PingResp)));
    assert!(buf.is_empty());
}
