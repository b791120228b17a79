//! Malformed and forbidden frames: each row names the rule it breaks, the protocol version, the bytes, the
//! exact error, and the MQTT 5.0 reason code a receiver answers with (0x81 Malformed Packet, 0x82 Protocol
//! Error, 0x84 Unsupported Protocol Version, 0x94 Topic Alias invalid, 0x95 Packet too large).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use tern_codec::topic::TopicError;
use tern_codec::wire::VARINT_MAX;
use tern_codec::{decode, BytesMut, DecodeError, Limits, PacketType, ProtocolVersion};
use DecodeError as E;
use ProtocolVersion::{V31, V311, V5};

struct Case {
    what: &'static str,
    v: ProtocolVersion,
    max_packet_size: u32,
    bytes: &'static [u8],
    error: DecodeError,
    reason: u8,
}

fn c(what: &'static str, v: ProtocolVersion, bytes: &'static [u8], error: DecodeError, reason: u8) -> Case {
    Case { what, v, max_packet_size: VARINT_MAX + 5, bytes, error, reason }
}

fn filter(filter: &str, reason: TopicError) -> DecodeError {
    E::InvalidTopicFilter { filter: filter.to_owned(), reason }
}

fn cases() -> Vec<Case> {
    vec![
        // ---- Fixed header: packet type, flags, remaining length (2.1 / 3.1.1 2.2)
        c("[MQTT-2.1.2] packet type 0 is reserved", V311, b"\x00\x00", E::ReservedPacketType(0), 0x81),
        c(
            "[MQTT-2.1.2] packet type 0 is rejected from its first byte",
            V5,
            b"\x00",
            E::ReservedPacketType(0),
            0x81,
        ),
        c("[MQTT-2.1.2] AUTH is reserved in 3.1.1", V311, b"\xF0\x00", E::AuthBeforeV5(V311), 0x81),
        c("[MQTT-2.1.2] AUTH is reserved in 3.1", V31, b"\xF0\x00", E::AuthBeforeV5(V31), 0x81),
        c(
            "[MQTT-1.5.5] remaining length of 5 bytes",
            V311,
            b"\x30\xFF\xFF\xFF\xFF\x01",
            E::RemainingLengthTooLong,
            0x81,
        ),
        c(
            "[MQTT-1.5.5] 4 continuation bytes are rejected before a fifth arrives",
            V5,
            b"\x30\x80\x80\x80\x80",
            E::RemainingLengthTooLong,
            0x81,
        ),
        c(
            "[MQTT-1.5.5-1] remaining length not in the minimum number of bytes",
            V5,
            b"\xC0\x80\x00",
            E::VarIntNotMinimal("remaining length"),
            0x81,
        ),
        c(
            "[MQTT-1.5.5-1] remaining length 127 in two bytes",
            V311,
            b"\x30\xFF\x00",
            E::VarIntNotMinimal("remaining length"),
            0x81,
        ),
        Case {
            max_packet_size: 1024,
            ..c(
                "[MQTT-3.2.2-15] declared 200 MB over a 1 KiB maximum packet size, before any body",
                V5,
                b"\x30\x80\x80\x80\x64",
                E::PacketTooLarge { size: 209_715_205, max: 1024 },
                0x95,
            )
        },
        Case {
            max_packet_size: 10,
            ..c(
                "[MQTT-3.2.2-15] 11-byte packet over a 10-byte maximum",
                V311,
                b"\x30\x09\x00\x01t123456",
                E::PacketTooLarge { size: 11, max: 10 },
                0x95,
            )
        },
        c(
            "[MQTT-2.1.3-1] CONNECT flags must be 0",
            V311,
            b"\x11\x00",
            E::InvalidFlags { packet: PacketType::Connect, flags: 1 },
            0x81,
        ),
        c(
            "[MQTT-2.1.3-1] CONNACK flags must be 0",
            V5,
            b"\x28\x03\x00\x00\x00",
            E::InvalidFlags { packet: PacketType::ConnAck, flags: 8 },
            0x81,
        ),
        c(
            "[MQTT-2.1.3-1] PUBACK flags must be 0",
            V311,
            b"\x42\x02\x00\x01",
            E::InvalidFlags { packet: PacketType::PubAck, flags: 2 },
            0x81,
        ),
        c(
            "[MQTT-3.6.1-1] PUBREL flags must be 0010",
            V311,
            b"\x60\x02\x00\x01",
            E::InvalidFlags { packet: PacketType::PubRel, flags: 0 },
            0x81,
        ),
        c(
            "[MQTT-3.6.1-1] PUBREL with DUP is 3.1 only",
            V311,
            b"\x6A\x02\x00\x01",
            E::InvalidFlags { packet: PacketType::PubRel, flags: 0xA },
            0x81,
        ),
        c(
            "[MQTT-3.6.1-1] 3.1 PUBREL still needs QoS 1 and no retain",
            V31,
            b"\x63\x02\x00\x01",
            E::InvalidFlags { packet: PacketType::PubRel, flags: 3 },
            0x81,
        ),
        c(
            "[MQTT-3.8.1-1] SUBSCRIBE flags must be 0010",
            V5,
            b"\x80\x07\x00\x01\x00\x00\x01t\x00",
            E::InvalidFlags { packet: PacketType::Subscribe, flags: 0 },
            0x81,
        ),
        c(
            "[MQTT-3.10.1-1] UNSUBSCRIBE flags must be 0010",
            V311,
            b"\xA3",
            E::InvalidFlags { packet: PacketType::Unsubscribe, flags: 3 },
            0x81,
        ),
        c(
            "[MQTT-2.1.3-1] PINGREQ flags must be 0",
            V311,
            b"\xC1\x00",
            E::InvalidFlags { packet: PacketType::PingReq, flags: 1 },
            0x81,
        ),
        c(
            "[MQTT-3.14.1-1] DISCONNECT flags must be 0",
            V5,
            b"\xE4\x00",
            E::InvalidFlags { packet: PacketType::Disconnect, flags: 4 },
            0x81,
        ),
        c(
            "[MQTT-3.15.1-1] AUTH flags must be 0",
            V5,
            b"\xF1\x00",
            E::InvalidFlags { packet: PacketType::Auth, flags: 1 },
            0x81,
        ),
        // ---- PUBLISH (3.3)
        c("[MQTT-3.3.1-4] PUBLISH QoS 3", V311, b"\x36\x05\x00\x01t\x00\x01", E::InvalidQoS, 0x81),
        c("[MQTT-3.3.1-4] QoS 3 is rejected from the first byte", V5, b"\x36", E::InvalidQoS, 0x81),
        c("[MQTT-3.3.1-2] DUP on QoS 0", V5, b"\x38\x04\x00\x01tx", E::DupOnQoS0, 0x81),
        c("[MQTT-3.3.1-2] DUP on QoS 0 in 3.1", V31, b"\x38\x03\x00\x01t", E::DupOnQoS0, 0x81),
        c("[MQTT-2.2.1-3] QoS 1 with packet id 0", V311, b"\x32\x05\x00\x01t\x00\x00", E::ZeroPacketId, 0x82),
        c(
            "[MQTT-2.2.1-3] QoS 2 with packet id 0",
            V5,
            b"\x34\x06\x00\x01t\x00\x00\x00",
            E::ZeroPacketId,
            0x82,
        ),
        c(
            "[MQTT-3.3.2-2] '+' in a topic name",
            V311,
            b"\x30\x05\x00\x03a/+",
            E::WildcardInTopicName("a/+".into()),
            0x81,
        ),
        c(
            "[MQTT-3.3.2-2] '#' in a topic name",
            V5,
            b"\x30\x04\x00\x01#\x00",
            E::WildcardInTopicName("#".into()),
            0x81,
        ),
        c("[MQTT-4.7.3-1] empty topic name in 3.1.1", V311, b"\x30\x02\x00\x00", E::EmptyTopicName, 0x81),
        c("[MQTT-4.7.3-1] empty topic name in 3.1", V31, b"\x30\x03\x00\x00x", E::EmptyTopicName, 0x81),
        c(
            "[MQTT-3.3.2.1] empty topic name without a topic alias",
            V5,
            b"\x30\x03\x00\x00\x00",
            E::EmptyTopicWithoutAlias,
            0x82,
        ),
        c("[MQTT-3.3.2-8] topic alias 0", V5, b"\x30\x07\x00\x01t\x03\x23\x00\x00", E::TopicAliasZero, 0x94),
        c(
            "[MQTT-1.5.4-2] U+0000 in a topic name",
            V311,
            b"\x30\x05\x00\x03a\x00b",
            E::NullCharacter("topic name"),
            0x81,
        ),
        c(
            "[MQTT-1.5.4-1] encoded surrogate U+D800 in a topic name",
            V311,
            b"\x30\x05\x00\x03\xED\xA0\x80",
            E::InvalidUtf8("topic name"),
            0x81,
        ),
        c(
            "[MQTT-1.5.4-1] overlong '/' in a topic name",
            V5,
            b"\x30\x05\x00\x02\xC0\xAF\x00",
            E::InvalidUtf8("topic name"),
            0x81,
        ),
        c(
            "[MQTT-1.5.4-1] overlong U+0000 (C0 80) in a topic name",
            V311,
            b"\x30\x04\x00\x02\xC0\x80",
            E::InvalidUtf8("topic name"),
            0x81,
        ),
        c(
            "[MQTT-1.5.4-1] truncated multi-byte sequence in a topic name",
            V31,
            b"\x30\x04\x00\x02a\xE2",
            E::InvalidUtf8("topic name"),
            0x81,
        ),
        c("[MQTT-2.1.4] topic length cut short", V311, b"\x30\x01\x00", E::Truncated("topic name"), 0x81),
        c(
            "[MQTT-2.1.4] topic runs past the packet",
            V311,
            b"\x30\x03\x00\x05a",
            E::Truncated("topic name"),
            0x81,
        ),
        c(
            "[MQTT-2.1.4] QoS 1 without a packet identifier",
            V311,
            b"\x32\x03\x00\x01t",
            E::Truncated("packet identifier"),
            0x81,
        ),
        c(
            "[MQTT-2.2.2-1] 5.0 PUBLISH without a property length",
            V5,
            b"\x30\x03\x00\x01t",
            E::Truncated("property length"),
            0x81,
        ),
        c(
            "[MQTT-2.2.2.1] property length past the end of the packet",
            V5,
            b"\x30\x05\x00\x01t\x05\x01",
            E::PropertyLengthMismatch { declared: 5, actual: 1 },
            0x81,
        ),
        c(
            "[MQTT-1.5.5-1] property length not in the minimum number of bytes",
            V5,
            b"\x30\x05\x00\x01t\x80\x00",
            E::VarIntNotMinimal("property length"),
            0x81,
        ),
        c(
            "[MQTT-2.2.2.2] Session Expiry Interval is not a PUBLISH property",
            V5,
            b"\x30\x09\x00\x01t\x05\x11\x00\x00\x00\x01",
            E::PropertyNotAllowed { id: 0x11, packet: "PUBLISH" },
            0x81,
        ),
        c(
            "[MQTT-2.2.2.2] unknown property 0x7F",
            V5,
            b"\x30\x06\x00\x01t\x02\x7F\x00",
            E::UnknownProperty(0x7F),
            0x81,
        ),
        c(
            "[MQTT-2.2.2.2] property identifier of more than one byte",
            V5,
            b"\x30\x06\x00\x01t\x02\x81\x00",
            E::UnknownProperty(0x81),
            0x81,
        ),
        c(
            "[MQTT-3.3.2.3.3] Message Expiry Interval twice",
            V5,
            b"\x30\x0E\x00\x01t\x0A\x02\x00\x00\x00\x01\x02\x00\x00\x00\x02",
            E::DuplicateProperty(0x02),
            0x82,
        ),
        c(
            "[MQTT-3.3.2.3.2] Payload Format Indicator 2",
            V5,
            b"\x30\x06\x00\x01t\x02\x01\x02",
            E::InvalidPropertyValue { id: 0x01, value: 2 },
            0x82,
        ),
        c(
            "[MQTT-3.3.2.3.8] Subscription Identifier 0",
            V5,
            b"\x30\x06\x00\x01t\x02\x0B\x00",
            E::InvalidPropertyValue { id: 0x0B, value: 0 },
            0x82,
        ),
        c(
            "[MQTT-1.5.5-1] Subscription Identifier not in the minimum number of bytes",
            V5,
            b"\x30\x07\x00\x01t\x03\x0B\x81\x00",
            E::VarIntNotMinimal("subscription identifier"),
            0x81,
        ),
        c(
            "[MQTT-3.3.2-14] wildcard in the Response Topic",
            V5,
            b"\x30\x0A\x00\x01t\x06\x08\x00\x03r/#",
            E::InvalidResponseTopic("r/#".into()),
            0x81,
        ),
        c(
            "[MQTT-2.1.4] Message Expiry Interval cut short inside the properties",
            V5,
            b"\x30\x07\x00\x01t\x03\x02\x00\x00",
            E::Truncated("property value"),
            0x81,
        ),
        c(
            "[MQTT-1.5.7-1] User Property name is not UTF-8",
            V5,
            b"\x30\x0A\x00\x01t\x06\x26\x00\x01\xFF\x00\x00",
            E::InvalidUtf8("user property name"),
            0x81,
        ),
        // ---- CONNECT (3.1)
        c("[MQTT-2.1.4] protocol name cut short", V311, b"\x10\x01\x00", E::Truncated("protocol name"), 0x81),
        c(
            "[MQTT-3.1.2-1] protocol name MQTX",
            V311,
            b"\x10\x0E\x00\x04MQTX\x04\x02\x00\x3C\x00\x02c1",
            E::InvalidProtocolName("MQTX".into()),
            0x84,
        ),
        c(
            "[MQTT-3.1.2-2] protocol level 6",
            V5,
            b"\x10\x0E\x00\x04MQTT\x06\x02\x00\x3C\x00\x02c1",
            E::UnsupportedProtocolVersion(6),
            0x84,
        ),
        c(
            "[MQTT-3.1.2-2] MQIsdp with level 4",
            V31,
            b"\x10\x10\x00\x06MQIsdp\x04\x02\x00\x3C\x00\x02c1",
            E::UnsupportedProtocolVersion(4),
            0x84,
        ),
        c(
            "[MQTT-3.1.2-2] MQTT with level 3",
            V311,
            b"\x10\x0E\x00\x04MQTT\x03\x02\x00\x3C\x00\x02c1",
            E::UnsupportedProtocolVersion(3),
            0x84,
        ),
        c(
            "[MQTT-3.1.2-3] reserved CONNECT flag",
            V311,
            b"\x10\x0E\x00\x04MQTT\x04\x03\x00\x3C\x00\x02c1",
            E::ConnectReservedFlag,
            0x81,
        ),
        c(
            "[MQTT-3.1.2-12] will QoS 3",
            V5,
            b"\x10\x0F\x00\x04MQTT\x05\x1E\x00\x3C\x00\x00\x02c1",
            E::WillQoSInvalid,
            0x81,
        ),
        c(
            "[MQTT-3.1.2-11] will QoS without the will flag",
            V311,
            b"\x10\x0E\x00\x04MQTT\x04\x0A\x00\x3C\x00\x02c1",
            E::WillQoSWithoutWill,
            0x81,
        ),
        c(
            "[MQTT-3.1.2-13] will retain without the will flag",
            V311,
            b"\x10\x0E\x00\x04MQTT\x04\x22\x00\x3C\x00\x02c1",
            E::WillRetainWithoutWill,
            0x81,
        ),
        c(
            "[MQTT-3.1.2-22] password without user name in 3.1.1",
            V311,
            b"\x10\x0E\x00\x04MQTT\x04\x42\x00\x3C\x00\x02c1",
            E::PasswordWithoutUsername,
            0x81,
        ),
        c(
            "[MQTT-3.1.2-22] password without user name in 3.1",
            V31,
            b"\x10\x10\x00\x06MQIsdp\x03\x42\x00\x3C\x00\x02c1",
            E::PasswordWithoutUsername,
            0x81,
        ),
        c(
            "[MQTT-3.3.2-2] wildcard in the will topic",
            V311,
            b"\x10\x15\x00\x04MQTT\x04\x06\x00\x3C\x00\x02c1\x00\x03w/+\x00\x00",
            E::WildcardInTopicName("w/+".into()),
            0x81,
        ),
        c(
            "[MQTT-4.7.3-1] empty will topic",
            V311,
            b"\x10\x12\x00\x04MQTT\x04\x06\x00\x3C\x00\x02c1\x00\x00\x00\x00",
            E::EmptyTopicName,
            0x81,
        ),
        c(
            "[MQTT-1.5.4-1] client identifier is not UTF-8",
            V311,
            b"\x10\x0E\x00\x04MQTT\x04\x02\x00\x3C\x00\x02\xFF\xFE",
            E::InvalidUtf8("client identifier"),
            0x81,
        ),
        c(
            "[MQTT-3.1.2-17] user name flag without a user name",
            V311,
            b"\x10\x0E\x00\x04MQTT\x04\x82\x00\x3C\x00\x02c1",
            E::Truncated("user name"),
            0x81,
        ),
        c(
            "[MQTT-3.1.2-9] will flag without will topic and payload",
            V31,
            b"\x10\x10\x00\x06MQIsdp\x03\x06\x00\x3C\x00\x02c1",
            E::Truncated("will topic"),
            0x81,
        ),
        c(
            "[MQTT-2.1.4] byte after the last CONNECT field",
            V311,
            b"\x10\x0F\x00\x04MQTT\x04\x02\x00\x3C\x00\x02c1X",
            E::TrailingBytes(1),
            0x81,
        ),
        c(
            "[MQTT-2.2.2.2] Will Delay Interval among the CONNECT properties",
            V5,
            b"\x10\x14\x00\x04MQTT\x05\x02\x00\x3C\x05\x18\x00\x00\x00\x01\x00\x02c1",
            E::PropertyNotAllowed { id: 0x18, packet: "CONNECT" },
            0x81,
        ),
        c(
            "[MQTT-2.2.2.2] Session Expiry Interval among the will properties",
            V5,
            b"\x10\x1A\x00\x04MQTT\x05\x06\x00\x3C\x00\x00\x02c1\x05\x11\x00\x00\x00\x01\x00\x01w\x00\x00",
            E::PropertyNotAllowed { id: 0x11, packet: "will properties" },
            0x81,
        ),
        c(
            "[MQTT-3.1.2.11.3] Receive Maximum 0",
            V5,
            b"\x10\x12\x00\x04MQTT\x05\x02\x00\x3C\x03\x21\x00\x00\x00\x02c1",
            E::InvalidPropertyValue { id: 0x21, value: 0 },
            0x82,
        ),
        c(
            "[MQTT-3.1.2.11.4] Maximum Packet Size 0",
            V5,
            b"\x10\x14\x00\x04MQTT\x05\x02\x00\x3C\x05\x27\x00\x00\x00\x00\x00\x02c1",
            E::InvalidPropertyValue { id: 0x27, value: 0 },
            0x82,
        ),
        c(
            "[MQTT-3.1.2.11.7] Request Problem Information 2",
            V5,
            b"\x10\x11\x00\x04MQTT\x05\x02\x00\x3C\x02\x17\x02\x00\x02c1",
            E::InvalidPropertyValue { id: 0x17, value: 2 },
            0x82,
        ),
        c(
            "[MQTT-3.1.2.11.10] Authentication Data without an Authentication Method",
            V5,
            b"\x10\x13\x00\x04MQTT\x05\x02\x00\x3C\x04\x16\x00\x01\x07\x00\x02c1",
            E::AuthDataWithoutMethod,
            0x82,
        ),
        c(
            "[MQTT-3.1.2.11.9] Authentication Method twice",
            V5,
            b"\x10\x17\x00\x04MQTT\x05\x02\x00\x3C\x08\x15\x00\x01a\x15\x00\x01b\x00\x02c1",
            E::DuplicateProperty(0x15),
            0x82,
        ),
        // ---- CONNACK (3.2)
        c("[MQTT-3.2.2-1] reserved CONNACK flags", V311, b"\x20\x02\x02\x00", E::ConnAckReservedFlags, 0x81),
        c(
            "[MQTT-3.2.2-1] reserved CONNACK flags in 5.0",
            V5,
            b"\x20\x03\x80\x00\x00",
            E::ConnAckReservedFlags,
            0x81,
        ),
        c("[MQTT-3.2.2.3] return code 6 in 3.1.1", V311, b"\x20\x02\x00\x06", E::InvalidConnAckCode(6), 0x81),
        c(
            "[MQTT-3.2.2.3] return code 0x80 in 3.1",
            V31,
            b"\x20\x02\x00\x80",
            E::InvalidConnAckCode(0x80),
            0x81,
        ),
        c(
            "[MQTT-3.2.2-4] (3.1.1) session present with return code 5",
            V311,
            b"\x20\x02\x01\x05",
            E::SessionPresentOnError,
            0x82,
        ),
        c(
            "[MQTT-3.2.2-6] session present with reason code 0x87",
            V5,
            b"\x20\x03\x01\x87\x00",
            E::SessionPresentOnError,
            0x82,
        ),
        c(
            "[MQTT-3.2.2.2] reason code 0x04 is not a CONNACK reason",
            V5,
            b"\x20\x03\x00\x04\x00",
            E::InvalidReasonCode { packet: PacketType::ConnAck, code: 0x04 },
            0x82,
        ),
        c(
            "[MQTT-2.2.2.2] Topic Alias in CONNACK",
            V5,
            b"\x20\x06\x00\x00\x03\x23\x00\x01",
            E::PropertyNotAllowed { id: 0x23, packet: "CONNACK" },
            0x81,
        ),
        c(
            "[MQTT-3.2.2.3.4] Maximum QoS 2",
            V5,
            b"\x20\x05\x00\x00\x02\x24\x02",
            E::InvalidPropertyValue { id: 0x24, value: 2 },
            0x82,
        ),
        c(
            "[MQTT-2.2.2-1] 5.0 CONNACK without a property length",
            V5,
            b"\x20\x02\x00\x00",
            E::Truncated("property length"),
            0x81,
        ),
        c("[MQTT-2.1.4] 3.1.1 CONNACK of 3 bytes", V311, b"\x20\x03\x00\x00\x00", E::TrailingBytes(1), 0x81),
        // ---- PUBACK, PUBREC, PUBREL, PUBCOMP (3.4 - 3.7)
        c("[MQTT-2.2.1-5] PUBACK with packet id 0", V311, b"\x40\x02\x00\x00", E::ZeroPacketId, 0x82),
        c("[MQTT-2.2.1-5] PUBCOMP with packet id 0 in 3.1", V31, b"\x70\x02\x00\x00", E::ZeroPacketId, 0x82),
        c(
            "[MQTT-2.1.4] 3.1.1 PUBACK with a reason code",
            V311,
            b"\x40\x03\x00\x01\x00",
            E::TrailingBytes(1),
            0x81,
        ),
        c("[MQTT-2.1.4] PUBACK cut short", V5, b"\x40\x01\x00", E::Truncated("packet identifier"), 0x81),
        c(
            "[MQTT-3.4.2-1] 0x92 is not a PUBACK reason",
            V5,
            b"\x40\x03\x00\x01\x92",
            E::InvalidReasonCode { packet: PacketType::PubAck, code: 0x92 },
            0x82,
        ),
        c(
            "[MQTT-3.5.2-1] 0x04 is not a PUBREC reason",
            V5,
            b"\x50\x03\x00\x01\x04",
            E::InvalidReasonCode { packet: PacketType::PubRec, code: 0x04 },
            0x82,
        ),
        c(
            "[MQTT-3.6.2-1] 0x10 is not a PUBREL reason",
            V5,
            b"\x62\x03\x00\x01\x10",
            E::InvalidReasonCode { packet: PacketType::PubRel, code: 0x10 },
            0x82,
        ),
        c(
            "[MQTT-3.7.2-1] 0x80 is not a PUBCOMP reason",
            V5,
            b"\x70\x03\x00\x01\x80",
            E::InvalidReasonCode { packet: PacketType::PubComp, code: 0x80 },
            0x82,
        ),
        c(
            "[MQTT-2.2.2.2] Topic Alias in PUBREC",
            V5,
            b"\x50\x07\x00\x01\x00\x03\x23\x00\x01",
            E::PropertyNotAllowed { id: 0x23, packet: "PUBREC" },
            0x81,
        ),
        c(
            "[MQTT-3.4.2.2.2] Reason String twice in PUBACK",
            V5,
            b"\x40\x0C\x00\x01\x00\x08\x1F\x00\x01a\x1F\x00\x01b",
            E::DuplicateProperty(0x1F),
            0x82,
        ),
        // ---- SUBSCRIBE (3.8)
        c(
            "[MQTT-3.8.3-2] SUBSCRIBE without a filter (3.1.1)",
            V311,
            b"\x82\x02\x00\x01",
            E::EmptySubscribe,
            0x82,
        ),
        c("[MQTT-3.8.3-2] SUBSCRIBE without a filter", V5, b"\x82\x03\x00\x01\x00", E::EmptySubscribe, 0x82),
        c(
            "[MQTT-2.2.1-3] SUBSCRIBE with packet id 0",
            V311,
            b"\x82\x06\x00\x00\x00\x01t\x00",
            E::ZeroPacketId,
            0x82,
        ),
        c(
            "[MQTT-3.8.3-4] (3.1.1) reserved bit 2 of the requested QoS byte",
            V311,
            b"\x82\x06\x00\x01\x00\x01t\x04",
            E::SubscriptionOptionsReserved,
            0x81,
        ),
        c(
            "[MQTT-3.8.3-5] reserved bit 6 of the subscription options",
            V5,
            b"\x82\x07\x00\x01\x00\x00\x01t\x40",
            E::SubscriptionOptionsReserved,
            0x81,
        ),
        c(
            "[MQTT-3.8.3-4] (3.1.1) requested QoS 3",
            V311,
            b"\x82\x06\x00\x01\x00\x01t\x03",
            E::SubscriptionQoSInvalid,
            0x82,
        ),
        c(
            "[MQTT-3.8.3.1] maximum QoS 3 in the subscription options",
            V5,
            b"\x82\x07\x00\x01\x00\x00\x01t\x03",
            E::SubscriptionQoSInvalid,
            0x82,
        ),
        c(
            "[MQTT-3.8.3.1] retain handling 3",
            V5,
            b"\x82\x07\x00\x01\x00\x00\x01t\x30",
            E::InvalidRetainHandling,
            0x82,
        ),
        c(
            "[MQTT-3.8.3-4] No Local on a shared subscription",
            V5,
            b"\x82\x10\x00\x01\x00\x00\x0A$share/g/t\x04",
            E::NoLocalOnSharedSubscription,
            0x82,
        ),
        c(
            "[MQTT-4.7.1-1] '#' not in the last level",
            V311,
            b"\x82\x0A\x00\x01\x00\x05a/#/b\x00",
            filter("a/#/b", TopicError::MisplacedMultiLevelWildcard),
            0x81,
        ),
        c(
            "[MQTT-4.7.1-2] '+' sharing its level",
            V5,
            b"\x82\x08\x00\x01\x00\x00\x02a+\x00",
            filter("a+", TopicError::MisplacedSingleLevelWildcard),
            0x81,
        ),
        c(
            "[MQTT-4.7.3-1] empty topic filter",
            V311,
            b"\x82\x05\x00\x01\x00\x00\x00",
            filter("", TopicError::Empty),
            0x81,
        ),
        c(
            "[MQTT-1.5.4-2] U+0000 in a topic filter",
            V311,
            b"\x82\x07\x00\x01\x00\x02a\x00\x00",
            E::NullCharacter("topic filter"),
            0x81,
        ),
        c(
            "[MQTT-4.8.2-1] empty share name",
            V311,
            b"\x82\x0E\x00\x01\x00\x09$share//t\x00",
            filter("$share//t", TopicError::EmptyShareName),
            0x81,
        ),
        c(
            "[MQTT-4.8.2-2] '+' in a share name",
            V5,
            b"\x82\x11\x00\x01\x00\x00\x0B$share/g+/t\x00",
            filter("$share/g+/t", TopicError::InvalidShareName),
            0x81,
        ),
        c(
            "[MQTT-4.8.2-2] share name without a topic filter",
            V311,
            b"\x82\x0D\x00\x01\x00\x08$share/g\x00",
            filter("$share/g", TopicError::MissingSharedFilter),
            0x81,
        ),
        c(
            "[MQTT-2.1.4] topic filter without its options byte",
            V311,
            b"\x82\x05\x00\x01\x00\x01t",
            E::Truncated("subscription options"),
            0x81,
        ),
        c(
            "[MQTT-3.8.2.1.2] two Subscription Identifiers in SUBSCRIBE",
            V5,
            b"\x82\x0B\x00\x01\x04\x0B\x01\x0B\x02\x00\x01t\x00",
            E::DuplicateProperty(0x0B),
            0x82,
        ),
        c(
            "[MQTT-3.8.2.1.2] Subscription Identifier 0 in SUBSCRIBE",
            V5,
            b"\x82\x09\x00\x01\x02\x0B\x00\x00\x01t\x00",
            E::InvalidPropertyValue { id: 0x0B, value: 0 },
            0x82,
        ),
        c(
            "[MQTT-1.5.5] Subscription Identifier of 5 bytes",
            V5,
            b"\x82\x0D\x00\x01\x06\x0B\xFF\xFF\xFF\xFF\x01\x00\x01t\x00",
            E::VarIntTooLong("subscription identifier"),
            0x81,
        ),
        // ---- SUBACK (3.9)
        c(
            "[MQTT-3.9.3-2] (3.1.1) SUBACK return code 3",
            V311,
            b"\x90\x03\x00\x01\x03",
            E::InvalidSubAckCode(3),
            0x81,
        ),
        c(
            "[MQTT-3.9.3-2] SUBACK return code 0x81 in 3.1",
            V31,
            b"\x90\x03\x00\x01\x81",
            E::InvalidSubAckCode(0x81),
            0x81,
        ),
        c(
            "[MQTT-3.8.4-6] (3.1.1) SUBACK without a return code",
            V311,
            b"\x90\x02\x00\x01",
            E::EmptySubAck,
            0x82,
        ),
        c("[MQTT-3.8.4-6] SUBACK without a reason code", V5, b"\x90\x03\x00\x01\x00", E::EmptySubAck, 0x82),
        c(
            "[MQTT-3.9.3-2] 0x03 is not a SUBACK reason",
            V5,
            b"\x90\x04\x00\x01\x00\x03",
            E::InvalidReasonCode { packet: PacketType::SubAck, code: 0x03 },
            0x82,
        ),
        // ---- UNSUBSCRIBE (3.10), UNSUBACK (3.11)
        c(
            "[MQTT-3.10.3-2] UNSUBSCRIBE without a filter (3.1.1)",
            V311,
            b"\xA2\x02\x00\x01",
            E::EmptyUnsubscribe,
            0x82,
        ),
        c(
            "[MQTT-3.10.3-2] UNSUBSCRIBE without a filter",
            V5,
            b"\xA2\x03\x00\x01\x00",
            E::EmptyUnsubscribe,
            0x82,
        ),
        c(
            "[MQTT-4.7.1-1] '#' sharing its level in UNSUBSCRIBE",
            V311,
            b"\xA2\x08\x00\x01\x00\x04a/b#",
            filter("a/b#", TopicError::MisplacedMultiLevelWildcard),
            0x81,
        ),
        c(
            "[MQTT-2.1.4] 3.1.1 UNSUBACK with a reason code",
            V311,
            b"\xB0\x03\x00\x01\x00",
            E::TrailingBytes(1),
            0x81,
        ),
        c(
            "[MQTT-3.11.3-1] UNSUBACK without a reason code",
            V5,
            b"\xB0\x03\x00\x01\x00",
            E::EmptyUnsubAck,
            0x82,
        ),
        c(
            "[MQTT-3.11.3-2] 0x10 is not an UNSUBACK reason",
            V5,
            b"\xB0\x04\x00\x01\x00\x10",
            E::InvalidReasonCode { packet: PacketType::UnsubAck, code: 0x10 },
            0x82,
        ),
        c("[MQTT-2.2.1-5] UNSUBACK with packet id 0 in 3.1", V31, b"\xB0\x02\x00\x00", E::ZeroPacketId, 0x82),
        // ---- PINGREQ, PINGRESP (3.12, 3.13)
        c("[MQTT-2.1.4] PINGREQ with a body", V5, b"\xC0\x01\x00", E::TrailingBytes(1), 0x81),
        c("[MQTT-2.1.4] PINGRESP with a body", V311, b"\xD0\x01\x00", E::TrailingBytes(1), 0x81),
        // ---- DISCONNECT (3.14)
        c("[MQTT-2.1.4] 3.1.1 DISCONNECT with a body", V311, b"\xE0\x01\x00", E::TrailingBytes(1), 0x81),
        c(
            "[MQTT-3.14.2-1] 0x05 is not a DISCONNECT reason",
            V5,
            b"\xE0\x01\x05",
            E::InvalidReasonCode { packet: PacketType::Disconnect, code: 0x05 },
            0x82,
        ),
        c(
            "[MQTT-2.2.2.2] Topic Alias in DISCONNECT",
            V5,
            b"\xE0\x05\x00\x03\x23\x00\x01",
            E::PropertyNotAllowed { id: 0x23, packet: "DISCONNECT" },
            0x81,
        ),
        c(
            "[MQTT-2.2.2.1] DISCONNECT property length past the end",
            V5,
            b"\xE0\x03\x00\x05\x11",
            E::PropertyLengthMismatch { declared: 5, actual: 1 },
            0x81,
        ),
        // ---- AUTH (3.15)
        c(
            "[MQTT-3.15.2-1] 0x01 is not an AUTH reason",
            V5,
            b"\xF0\x02\x01\x00",
            E::InvalidReasonCode { packet: PacketType::Auth, code: 0x01 },
            0x82,
        ),
        c(
            "[MQTT-3.15.2-1] AUTH reason code without a property length",
            V5,
            b"\xF0\x01\x18",
            E::Truncated("property length"),
            0x81,
        ),
        c(
            "[MQTT-2.2.2.2] Session Expiry Interval in AUTH",
            V5,
            b"\xF0\x07\x18\x05\x11\x00\x00\x00\x01",
            E::PropertyNotAllowed { id: 0x11, packet: "AUTH" },
            0x81,
        ),
    ]
}

#[test]
fn every_malformed_frame_fails_with_its_error_and_reason_code() {
    let cases = cases();
    assert!(cases.len() >= 80, "{} cases", cases.len());
    for case in &cases {
        let limits = Limits { version: case.v, max_packet_size: case.max_packet_size };
        let mut buf = BytesMut::from(case.bytes);
        let got = decode(&mut buf, &limits);
        assert_eq!(got, Err(case.error.clone()), "{} ({}): {:02X?}", case.what, case.v, case.bytes);
        assert_eq!(case.error.reason_code().0, case.reason, "reason code for {}", case.what);
    }
}

#[test]
fn every_error_names_a_spec_rule() {
    for case in cases() {
        let rule = case.error.rule();
        assert!(rule.starts_with("MQTT-"), "{}: {:?}", case.what, case.error.to_string());
        assert!(case.error.to_string().starts_with(&format!("[{rule}] ")));
    }
}

#[test]
fn a_frame_cut_anywhere_is_incomplete_not_malformed_until_its_first_error() {
    // A malformed frame's prefix never reports an error the full frame does not: every prefix either waits
    // for more bytes or fails with the same early error (first byte or remaining length), consuming nothing.
    for case in cases() {
        let limits = Limits { version: case.v, max_packet_size: case.max_packet_size };
        for cut in 0..case.bytes.len() {
            let mut buf = BytesMut::from(&case.bytes[..cut]);
            match decode(&mut buf, &limits) {
                Ok(None) => {}
                Err(e) => {
                    assert_eq!(e, case.error, "{} cut at {cut}", case.what);
                    assert_eq!(&buf[..], &case.bytes[..cut], "{}: nothing consumed", case.what);
                }
                Ok(Some(p)) => panic!("{} cut at {cut} decoded {p:?}", case.what),
            }
        }
    }
}
