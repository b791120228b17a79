//! Property tests: every one of the 15 packet types in each of the 3 protocol versions survives
//! `decode(encode(p)) == p` with the whole frame consumed; a frame fed in pieces decodes to the same packet
//! once complete; arbitrary and corrupted bytes never make the decoder panic.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::num::NonZeroU16;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use tern_codec::properties::{id, is_allowed};
use tern_codec::topic::parse_shared;
use tern_codec::{
    decode, encode, Ack, Auth, ByteString, Bytes, BytesMut, ConnAck, Connect, Disconnect, EncodeError,
    LastWill, Limits, Packet, PacketType, Properties, PropertyContext, ProtocolVersion, Publish, QoS,
    ReasonCode, RetainHandling, SubAck, Subscribe, SubscriptionOptions, SubscriptionRequest, UnsubAck,
    Unsubscribe,
};
use ProtocolVersion::{V31, V311, V5};

// ---------------------------------------------------------------------------------------------------------
// Strategies for the wire's building blocks

fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(V31), Just(V311), Just(V5)]
}

fn text() -> impl Strategy<Value = ByteString> {
    // Any Unicode scalar but U+0000 [MQTT-1.5.4-2]; surrogates cannot occur in a Rust string.
    "[^\u{0}]{0,12}".prop_map(ByteString::from)
}

fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..48).prop_map(Bytes::from)
}

fn packet_id() -> impl Strategy<Value = NonZeroU16> {
    (1..=u16::MAX).prop_map(|n| NonZeroU16::new(n).unwrap())
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
}

/// A level of a topic name: no wildcards, no '/', possibly empty.
fn level() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.é✓-]{0,6}"
}

/// A topic name: one or more levels, at least one character [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-2].
fn topic_name() -> impl Strategy<Value = ByteString> {
    (prop_oneof![Just(""), Just("$")], vec(level(), 1..5))
        .prop_map(|(prefix, levels)| format!("{prefix}{}", levels.join("/")))
        .prop_filter("topic names are not empty", |t| !t.is_empty())
        .prop_map(ByteString::from)
}

/// A topic filter: levels of text or `+`, optionally ending in `#`; sometimes a `$share/{group}/` one.
fn topic_filter() -> impl Strategy<Value = ByteString> {
    let plain = (vec(prop_oneof![3 => level(), 1 => Just("+".to_owned())], 0..5), any::<bool>())
        .prop_filter_map("a filter has at least one level", |(mut levels, hash)| {
            if hash {
                levels.push("#".to_owned());
            }
            let filter = levels.join("/");
            (!filter.is_empty()).then_some(filter)
        });
    (plain, option::weighted(0.2, "[a-z0-9]{1,6}")).prop_map(|(filter, group)| match group {
        Some(group) => ByteString::from(format!("$share/{group}/{filter}")),
        None => ByteString::from(filter),
    })
}

fn reason_code_for(packet: PacketType) -> impl Strategy<Value = ReasonCode> {
    let valid: Vec<ReasonCode> = (0..=255u8).map(ReasonCode).filter(|rc| rc.is_valid_for(packet)).collect();
    proptest::sample::select(valid)
}

/// Every property with a valid value, then only those `cx` allows kept (MQTT 5.0 table 2-4).
fn properties(cx: PropertyContext) -> impl Strategy<Value = Properties> {
    let message = (
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(text()),
        option::of(topic_name()),
        option::of(binary()),
        vec(1..=268_435_455u32, 0..3),
    );
    let session = (
        option::of(any::<u32>()),
        option::of(text()),
        option::of(any::<u16>()),
        option::of(text()),
        option::of(binary()),
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(any::<bool>()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
    );
    let limits = (
        option::of(1..=u16::MAX),
        option::of(any::<u16>()),
        option::of(1..=u16::MAX),
        option::of(prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)]),
        option::of(any::<bool>()),
        vec((text(), text()), 0..3),
        option::of(1..=u32::MAX),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
    );
    (message, session, limits).prop_map(move |(m, s, l)| {
        let mut p = Properties {
            payload_format_indicator: m.0,
            message_expiry_interval: m.1,
            content_type: m.2,
            response_topic: m.3,
            correlation_data: m.4,
            subscription_identifiers: m.5,
            session_expiry_interval: s.0,
            assigned_client_identifier: s.1,
            server_keep_alive: s.2,
            authentication_method: s.3,
            authentication_data: s.4,
            request_problem_information: s.5,
            will_delay_interval: s.6,
            request_response_information: s.7,
            response_information: s.8,
            server_reference: s.9,
            reason_string: s.10,
            receive_maximum: l.0,
            topic_alias_maximum: l.1,
            topic_alias: l.2,
            maximum_qos: l.3,
            retain_available: l.4,
            user_properties: l.5,
            maximum_packet_size: l.6,
            wildcard_subscription_available: l.7,
            subscription_identifier_available: l.8,
            shared_subscription_available: l.9,
        };
        restrict(&mut p, cx);
        p
    })
}

/// Clears every property `cx` does not allow, and what the spec forbids there beyond that.
fn restrict(p: &mut Properties, cx: PropertyContext) {
    fn keep<T>(slot: &mut Option<T>, pid: u8, cx: PropertyContext) {
        if !is_allowed(pid, cx) {
            *slot = None;
        }
    }
    keep(&mut p.payload_format_indicator, id::PAYLOAD_FORMAT_INDICATOR, cx);
    keep(&mut p.message_expiry_interval, id::MESSAGE_EXPIRY_INTERVAL, cx);
    keep(&mut p.content_type, id::CONTENT_TYPE, cx);
    keep(&mut p.response_topic, id::RESPONSE_TOPIC, cx);
    keep(&mut p.correlation_data, id::CORRELATION_DATA, cx);
    keep(&mut p.session_expiry_interval, id::SESSION_EXPIRY_INTERVAL, cx);
    keep(&mut p.assigned_client_identifier, id::ASSIGNED_CLIENT_IDENTIFIER, cx);
    keep(&mut p.server_keep_alive, id::SERVER_KEEP_ALIVE, cx);
    keep(&mut p.authentication_method, id::AUTHENTICATION_METHOD, cx);
    keep(&mut p.authentication_data, id::AUTHENTICATION_DATA, cx);
    keep(&mut p.request_problem_information, id::REQUEST_PROBLEM_INFORMATION, cx);
    keep(&mut p.will_delay_interval, id::WILL_DELAY_INTERVAL, cx);
    keep(&mut p.request_response_information, id::REQUEST_RESPONSE_INFORMATION, cx);
    keep(&mut p.response_information, id::RESPONSE_INFORMATION, cx);
    keep(&mut p.server_reference, id::SERVER_REFERENCE, cx);
    keep(&mut p.reason_string, id::REASON_STRING, cx);
    keep(&mut p.receive_maximum, id::RECEIVE_MAXIMUM, cx);
    keep(&mut p.topic_alias_maximum, id::TOPIC_ALIAS_MAXIMUM, cx);
    keep(&mut p.topic_alias, id::TOPIC_ALIAS, cx);
    keep(&mut p.maximum_qos, id::MAXIMUM_QOS, cx);
    keep(&mut p.retain_available, id::RETAIN_AVAILABLE, cx);
    keep(&mut p.maximum_packet_size, id::MAXIMUM_PACKET_SIZE, cx);
    keep(&mut p.wildcard_subscription_available, id::WILDCARD_SUBSCRIPTION_AVAILABLE, cx);
    keep(&mut p.subscription_identifier_available, id::SUBSCRIPTION_IDENTIFIER_AVAILABLE, cx);
    keep(&mut p.shared_subscription_available, id::SHARED_SUBSCRIPTION_AVAILABLE, cx);
    match cx {
        PropertyContext::Publish => {}
        // [MQTT-3.8.2.1.2] SUBSCRIBE carries at most one Subscription Identifier.
        PropertyContext::Subscribe => p.subscription_identifiers.truncate(1),
        _ => p.subscription_identifiers.clear(),
    }
    // [MQTT-3.1.2.11.10] Authentication Data needs an Authentication Method.
    if cx == PropertyContext::Connect && p.authentication_method.is_none() {
        p.authentication_data = None;
    }
}

/// Properties in 5.0; none in 3.x, which has no properties.
fn props_in(v: ProtocolVersion, cx: PropertyContext) -> BoxedStrategy<Properties> {
    if v.is_v5() {
        properties(cx).boxed()
    } else {
        Just(Properties::default()).boxed()
    }
}

// ---------------------------------------------------------------------------------------------------------
// One strategy per packet type, for a given version

fn connect(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let will = option::of((topic_name(), binary(), qos(), any::<bool>(), props_in(v, PropertyContext::Will)));
    let login = (option::of(text()), option::of(binary()));
    (any::<bool>(), any::<u16>(), text(), will, login, props_in(v, PropertyContext::Connect)).prop_map(
        move |(clean_start, keep_alive, client_id, will, (username, password), properties)| {
            // [MQTT-3.1.2-22] Before 5.0 a password needs a user name.
            let password = if v.is_v5() || username.is_some() { password } else { None };
            Packet::Connect(Box::new(Connect {
                protocol: v,
                clean_start,
                keep_alive,
                client_id,
                will: will.map(|(topic, payload, qos, retain, properties)| LastWill {
                    topic,
                    payload,
                    qos,
                    retain,
                    properties,
                }),
                username,
                password,
                properties,
            }))
        },
    )
}

fn connack(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let reason_code = if v.is_v5() {
        reason_code_for(PacketType::ConnAck).boxed()
    } else {
        // The six 3.x return codes, as the reason codes they map to.
        (0..=5u8).prop_map(|code| ReasonCode::from_v3_connack(code).unwrap()).boxed()
    };
    (any::<bool>(), reason_code, props_in(v, PropertyContext::ConnAck)).prop_map(
        move |(present, reason_code, properties)| {
            // [MQTT-3.2.2-6] No session with a refusal; 3.1 has no session present at all.
            let session_present = present && !reason_code.is_error() && v != V31;
            Packet::ConnAck(ConnAck { session_present, reason_code, properties })
        },
    )
}

fn publish(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        any::<bool>(),
        qos(),
        any::<bool>(),
        topic_name(),
        packet_id(),
        binary(),
        props_in(v, PropertyContext::Publish),
    )
        .prop_map(move |(dup, qos, retain, topic, id, payload, properties)| {
            let at_most_once = qos == QoS::AtMostOnce;
            // In 5.0 a topic alias may stand for the topic name [MQTT-3.3.2.1].
            let topic =
                if properties.topic_alias.is_some() && id.get() % 2 == 0 { ByteString::new() } else { topic };
            Packet::Publish(Publish {
                dup: dup && !at_most_once,
                qos,
                retain,
                topic,
                packet_id: (!at_most_once).then_some(id),
                payload,
                properties,
            })
        })
}

fn ack(v: ProtocolVersion, packet: PacketType) -> impl Strategy<Value = Packet> {
    let cx = match packet {
        PacketType::PubAck => PropertyContext::PubAck,
        PacketType::PubRec => PropertyContext::PubRec,
        PacketType::PubRel => PropertyContext::PubRel,
        _ => PropertyContext::PubComp,
    };
    let reason_code =
        if v.is_v5() { reason_code_for(packet).boxed() } else { Just(ReasonCode::SUCCESS).boxed() };
    (packet_id(), reason_code, props_in(v, cx)).prop_map(move |(packet_id, reason_code, properties)| {
        let a = Ack { packet_id, reason_code, properties };
        match packet {
            PacketType::PubAck => Packet::PubAck(a),
            PacketType::PubRec => Packet::PubRec(a),
            PacketType::PubRel => Packet::PubRel(a),
            _ => Packet::PubComp(a),
        }
    })
}

fn subscription_options(v: ProtocolVersion) -> impl Strategy<Value = SubscriptionOptions> {
    let handling = prop_oneof![
        Just(RetainHandling::SendAtSubscribe),
        Just(RetainHandling::SendAtSubscribeIfNew),
        Just(RetainHandling::DoNotSend)
    ];
    (qos(), any::<bool>(), any::<bool>(), handling).prop_map(
        move |(qos, no_local, retain_as_published, rh)| {
            if v.is_v5() {
                SubscriptionOptions { qos, no_local, retain_as_published, retain_handling: rh }
            } else {
                SubscriptionOptions { qos, ..SubscriptionOptions::default() }
            }
        },
    )
}

fn subscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let filters = vec((topic_filter(), subscription_options(v)), 1..5);
    (packet_id(), filters, props_in(v, PropertyContext::Subscribe)).prop_map(
        |(packet_id, filters, properties)| {
            let filters = filters
                .into_iter()
                .map(|(filter, mut options)| {
                    // [MQTT-3.8.3-4] No Local is not allowed on a shared subscription.
                    options.no_local &= parse_shared(&filter).is_none();
                    SubscriptionRequest { filter, options }
                })
                .collect();
            Packet::Subscribe(Subscribe { packet_id, filters, properties })
        },
    )
}

fn suback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = if v.is_v5() {
        reason_code_for(PacketType::SubAck).boxed()
    } else {
        proptest::sample::select(vec![0u8, 1, 2, 0x80]).prop_map(ReasonCode).boxed()
    };
    (packet_id(), vec(code, 1..6), props_in(v, PropertyContext::SubAck)).prop_map(
        |(packet_id, reason_codes, properties)| {
            Packet::SubAck(SubAck { packet_id, reason_codes, properties })
        },
    )
}

fn unsubscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (packet_id(), vec(topic_filter(), 1..5), props_in(v, PropertyContext::Unsubscribe)).prop_map(
        |(packet_id, filters, properties)| {
            Packet::Unsubscribe(Unsubscribe { packet_id, filters, properties })
        },
    )
}

fn unsuback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    // 3.x UNSUBACK has no reason codes; 5.0 has one per topic filter.
    let codes = if v.is_v5() {
        vec(reason_code_for(PacketType::UnsubAck), 1..6).boxed()
    } else {
        Just(vec![]).boxed()
    };
    (packet_id(), codes, props_in(v, PropertyContext::UnsubAck)).prop_map(
        |(packet_id, reason_codes, properties)| {
            Packet::UnsubAck(UnsubAck { packet_id, reason_codes, properties })
        },
    )
}

fn disconnect(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let reason_code = if v.is_v5() {
        reason_code_for(PacketType::Disconnect).boxed()
    } else {
        Just(ReasonCode::SUCCESS).boxed()
    };
    (reason_code, props_in(v, PropertyContext::Disconnect))
        .prop_map(|(reason_code, properties)| Packet::Disconnect(Disconnect { reason_code, properties }))
}

fn auth() -> impl Strategy<Value = Packet> {
    (reason_code_for(PacketType::Auth), properties(PropertyContext::Auth))
        .prop_map(|(reason_code, properties)| Packet::Auth(Auth { reason_code, properties }))
}

/// Any packet `v` has.
fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let mut all = vec![
        connect(v).boxed(),
        connack(v).boxed(),
        publish(v).boxed(),
        ack(v, PacketType::PubAck).boxed(),
        ack(v, PacketType::PubRec).boxed(),
        ack(v, PacketType::PubRel).boxed(),
        ack(v, PacketType::PubComp).boxed(),
        subscribe(v).boxed(),
        suback(v).boxed(),
        unsubscribe(v).boxed(),
        unsuback(v).boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(v).boxed(),
    ];
    if v.is_v5() {
        all.push(auth().boxed());
    }
    proptest::strategy::Union::new(all).boxed()
}

fn versioned(
    of: fn(ProtocolVersion) -> BoxedStrategy<Packet>,
) -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(move |v| (Just(v), of(v)))
}

// ---------------------------------------------------------------------------------------------------------
// The properties

fn encoded(v: ProtocolVersion, packet: &Packet) -> BytesMut {
    let mut buf = BytesMut::new();
    encode(packet, v, &mut buf).unwrap();
    buf
}

/// `decode(encode(p)) == p`, consuming exactly the frame, whose length `encoded_len` predicts.
fn round_trip(v: ProtocolVersion, packet: &Packet) -> Result<(), TestCaseError> {
    let mut buf = encoded(v, packet);
    prop_assert_eq!(buf.len(), packet.encoded_len(v));
    buf.extend_from_slice(&[0xC0]); // the start of the next frame stays in the buffer
    let decoded = decode(&mut buf, &Limits::new(v)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(decoded.as_ref(), Some(packet));
    prop_assert_eq!(&buf[..], &[0xC0]);
    Ok(())
}

macro_rules! round_trip_tests {
    ($($name:ident => $strategy:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(96))]
            $(
                #[test]
                fn $name((v, p) in versioned($strategy)) {
                    round_trip(v, &p)?;
                }
            )*
        }
    };
}

round_trip_tests! {
    connect_round_trips => |v| connect(v).boxed();
    connack_round_trips => |v| connack(v).boxed();
    publish_round_trips => |v| publish(v).boxed();
    puback_round_trips => |v| ack(v, PacketType::PubAck).boxed();
    pubrec_round_trips => |v| ack(v, PacketType::PubRec).boxed();
    pubrel_round_trips => |v| ack(v, PacketType::PubRel).boxed();
    pubcomp_round_trips => |v| ack(v, PacketType::PubComp).boxed();
    subscribe_round_trips => |v| subscribe(v).boxed();
    suback_round_trips => |v| suback(v).boxed();
    unsubscribe_round_trips => |v| unsubscribe(v).boxed();
    unsuback_round_trips => |v| unsuback(v).boxed();
    pingreq_round_trips => |_| Just(Packet::PingReq).boxed();
    pingresp_round_trips => |_| Just(Packet::PingResp).boxed();
    disconnect_round_trips => |v| disconnect(v).boxed();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn auth_round_trips_in_v5(p in auth()) {
        round_trip(V5, &p)?;
    }

    /// [MQTT-2.1.2] AUTH is packet type 15, reserved before 5.0: it cannot be encoded, nor decoded.
    #[test]
    fn auth_does_not_exist_in_3x(p in auth(), v in prop_oneof![Just(V31), Just(V311)]) {
        let mut buf = BytesMut::new();
        prop_assert_eq!(encode(&p, v, &mut buf), Err(EncodeError::NotInVersion(PacketType::Auth, v)));
        prop_assert!(buf.is_empty());
        let mut frame = encoded(V5, &p);
        prop_assert_eq!(decode(&mut frame, &Limits::new(v)), Err(tern_codec::DecodeError::AuthBeforeV5(v)));
    }

    /// The PUBLISH header written for a zero-copy send is the frame without its payload.
    #[test]
    fn publish_header_is_the_frame_before_the_payload((v, p) in versioned(|v| publish(v).boxed())) {
        let Packet::Publish(publish) = &p else { unreachable!() };
        let mut header = BytesMut::new();
        publish.encode_header(v, &mut header).unwrap();
        header.extend_from_slice(&publish.payload);
        prop_assert_eq!(header, encoded(v, &p));
    }

    /// A frame arriving in two pieces, split at any byte: `Ok(None)` and nothing consumed until it is whole.
    #[test]
    fn frames_split_anywhere_decode_once_complete((v, p) in versioned(packet)) {
        let frame = encoded(v, &p);
        let limits = Limits::new(v);
        for cut in 0..frame.len() {
            let mut buf = BytesMut::from(&frame[..cut]);
            prop_assert_eq!(decode(&mut buf, &limits), Ok(None), "cut at {}", cut);
            prop_assert_eq!(&buf[..], &frame[..cut]);
            buf.extend_from_slice(&frame[cut..]);
            prop_assert_eq!(decode(&mut buf, &limits), Ok(Some(p.clone())));
            prop_assert!(buf.is_empty());
        }
    }

    /// Byte by byte, as a slow network delivers it, with two frames back to back.
    #[test]
    fn frames_fed_byte_by_byte_decode_in_order((v, a) in versioned(packet), b in any::<u8>()) {
        let limits = Limits::new(v);
        let b = if b % 2 == 0 { Packet::PingReq } else { Packet::PingResp };
        let mut wire = encoded(v, &a);
        wire.extend_from_slice(&encoded(v, &b));
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for byte in wire.iter() {
            buf.extend_from_slice(&[*byte]);
            while let Some(packet) = decode(&mut buf, &limits).map_err(|e| TestCaseError::fail(e.to_string()))? {
                out.push(packet);
            }
        }
        prop_assert_eq!(out, vec![a, b]);
        prop_assert!(buf.is_empty());
    }

    /// Decoding arbitrary bytes never panics, and consumes nothing when it asks for more.
    #[test]
    fn arbitrary_bytes_never_panic(v in version(), bytes in vec(any::<u8>(), 0..600), max in 2u32..2048) {
        let limits = Limits { version: v, max_packet_size: max };
        let mut buf = BytesMut::from(&bytes[..]);
        loop {
            let before = buf.len();
            match decode(&mut buf, &limits) {
                Ok(Some(_)) => prop_assert!(buf.len() < before),
                Ok(None) => {
                    prop_assert_eq!(buf.len(), before);
                    break;
                }
                Err(_) => break,
            }
        }
    }

    /// A valid frame with one byte changed, or cut short with a matching remaining length, never makes the
    /// decoder panic; whatever it still accepts encodes again.
    #[test]
    fn corrupted_frames_never_panic((v, p) in versioned(packet), at in any::<prop::sample::Index>(), x in 1..=255u8) {
        let mut frame = encoded(v, &p);
        let i = at.index(frame.len());
        frame[i] ^= x;
        let mut buf = frame.clone();
        if let Ok(Some(q)) = decode(&mut buf, &Limits::new(v)) {
            let version = match &q { Packet::Connect(c) => c.protocol, _ => v };
            let mut again = BytesMut::new();
            prop_assert_eq!(encode(&q, version, &mut again), Ok(()));
        }
    }
}

#[test]
fn every_packet_type_is_generated_for_every_version() {
    // The strategies above cover the 15 types x 3 versions (AUTH only in 5.0, checked to fail in 3.x).
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for v in [V31, V311, V5] {
        let mut seen = std::collections::HashSet::new();
        let strategy = packet(v);
        for _ in 0..2000 {
            let p = strategy.new_tree(&mut runner).unwrap().current();
            seen.insert(p.packet_type() as u8);
        }
        let expected = if v.is_v5() { 15 } else { 14 };
        assert_eq!(seen.len(), expected, "{v}: {seen:?}");
    }
}
