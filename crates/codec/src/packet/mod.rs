//! The MQTT control packets (section 2 and 3) in one model for all protocol versions, and framing: the fixed
//! header, remaining length, and the strict checks of both.

mod ack;
mod connect;
mod disconnect;
mod publish;
mod subscribe;

use std::num::NonZeroU16;

use bytes::{Buf, BufMut, BytesMut};

pub use ack::{Ack, AckKind};
pub use connect::{ConnAck, Connect, LastWill};
pub use disconnect::{Auth, Disconnect};
pub use publish::Publish;
pub use subscribe::{
    RetainHandling, SubAck, Subscribe, SubscriptionOptions, SubscriptionRequest, UnsubAck, Unsubscribe,
};

use crate::error::{DecodeError, EncodeError};
use crate::qos::QoS;
use crate::version::ProtocolVersion;
use crate::wire::{decode_varint, put_varint, varint_len, Reader, VARINT_MAX};

/// The control packet type of the fixed header (bits 7-4 of its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

impl PacketType {
    fn from_u8(v: u8) -> Option<PacketType> {
        use PacketType::*;
        Some(match v {
            1 => Connect,
            2 => ConnAck,
            3 => Publish,
            4 => PubAck,
            5 => PubRec,
            6 => PubRel,
            7 => PubComp,
            8 => Subscribe,
            9 => SubAck,
            10 => Unsubscribe,
            11 => UnsubAck,
            12 => PingReq,
            13 => PingResp,
            14 => Disconnect,
            15 => Auth,
            _ => return None,
        })
    }

    /// The fixed header flags every packet but PUBLISH must carry [MQTT-2.1.3-1].
    fn required_flags(self) -> u8 {
        match self {
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
            _ => 0,
        }
    }

    /// Checks the flags of a fixed header's first byte. MQTT 3.1 marks a re-sent PUBREL, SUBSCRIBE or
    /// UNSUBSCRIBE with the DUP bit, so 3.1 allows it there.
    fn check_flags(self, flags: u8, v: ProtocolVersion) -> Result<(), DecodeError> {
        let required = self.required_flags();
        let dup_allowed = v == ProtocolVersion::V31 && required != 0;
        if flags == required || (dup_allowed && flags == required | 0b1000) {
            Ok(())
        } else {
            Err(DecodeError::InvalidFlags { packet: self, flags })
        }
    }
}

/// Checks the first byte of a fixed header, which is all that is needed to reject most garbage before
/// waiting for (or buffering) the body: packet type, flags, PUBLISH QoS and DUP, AUTH before 5.0.
fn check_first_byte(first: u8, v: ProtocolVersion) -> Result<PacketType, DecodeError> {
    let packet_type = PacketType::from_u8(first >> 4).ok_or(DecodeError::ReservedPacketType(first >> 4))?;
    if packet_type == PacketType::Auth && !v.is_v5() {
        return Err(DecodeError::AuthBeforeV5(v));
    }
    let flags = first & 0x0F;
    if packet_type == PacketType::Publish {
        let qos = QoS::from_u8((flags >> 1) & 0x03).ok_or(DecodeError::InvalidQoS)?;
        if flags & 0x08 != 0 && qos == QoS::AtMostOnce {
            return Err(DecodeError::DupOnQoS0);
        }
    } else {
        packet_type.check_flags(flags, v)?;
    }
    Ok(packet_type)
}

/// An MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(Ack),
    PubRec(Ack),
    PubRel(Ack),
    PubComp(Ack),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    Auth(Auth),
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    /// Length of the variable header and payload (the Remaining Length).
    fn body_len(&self, v: ProtocolVersion) -> usize {
        match self {
            Packet::Connect(p) => p.body_len(),
            Packet::ConnAck(p) => p.body_len(v),
            Packet::Publish(p) => p.body_len(v),
            Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => p.body_len(v),
            Packet::Subscribe(p) => p.body_len(v),
            Packet::SubAck(p) => p.body_len(v),
            Packet::Unsubscribe(p) => p.body_len(v),
            Packet::UnsubAck(p) => p.body_len(v),
            Packet::PingReq | Packet::PingResp => 0,
            Packet::Disconnect(p) => p.body_len(v),
            Packet::Auth(p) => p.body_len(),
        }
    }

    /// Size of the whole encoded packet in `v`, as compared against a Maximum Packet Size.
    pub fn encoded_len(&self, v: ProtocolVersion) -> usize {
        let body = self.body_len(v);
        1 + varint_len(body) + body
    }

    fn first_byte(&self) -> u8 {
        let flags = match self {
            Packet::Publish(p) => p.flags(),
            other => other.packet_type().required_flags(),
        };
        ((self.packet_type() as u8) << 4) | flags
    }

    /// Checks that the packet can be encoded in `v` as a frame the receiver's decoder accepts: what
    /// [`encode`] would refuse, without encoding (the size limit aside: see [`Packet::encoded_len`]). A sender
    /// that must not commit state for a packet it cannot send (a packet identifier, a topic alias) checks first.
    pub fn check(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        match self {
            Packet::Connect(p) => p.check(),
            Packet::ConnAck(p) => p.check(v),
            Packet::Publish(p) => p.check(v),
            Packet::PubAck(p) => p.check(v, AckKind::PubAck),
            Packet::PubRec(p) => p.check(v, AckKind::PubRec),
            Packet::PubRel(p) => p.check(v, AckKind::PubRel),
            Packet::PubComp(p) => p.check(v, AckKind::PubComp),
            Packet::Subscribe(p) => p.check(v),
            Packet::SubAck(p) => p.check(v),
            Packet::Unsubscribe(p) => p.check(v),
            Packet::UnsubAck(p) => p.check(v),
            Packet::PingReq | Packet::PingResp => Ok(()),
            Packet::Disconnect(p) => p.check(v),
            Packet::Auth(p) if v.is_v5() => p.check(),
            Packet::Auth(_) => Err(EncodeError::NotInVersion(PacketType::Auth, v)),
        }
    }

    fn encode_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        match self {
            Packet::Connect(p) => p.encode_body(buf),
            Packet::ConnAck(p) => p.encode_body(v, buf),
            Packet::Publish(p) => p.encode_body(v, buf),
            Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
                p.encode_body(v, buf)
            }
            Packet::Subscribe(p) => p.encode_body(v, buf),
            Packet::SubAck(p) => p.encode_body(v, buf),
            Packet::Unsubscribe(p) => p.encode_body(v, buf),
            Packet::UnsubAck(p) => p.encode_body(v, buf),
            Packet::PingReq | Packet::PingResp => {}
            Packet::Disconnect(p) => p.encode_body(v, buf),
            Packet::Auth(p) => p.encode_body(buf),
        }
    }
}

/// What the decoder enforces beyond the spec's own rules, and the protocol version it decodes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The protocol version of the connection (CONNECT carries its own and ignores this).
    pub version: ProtocolVersion,
    /// Largest whole packet accepted, fixed header included (MQTT 5.0 Maximum Packet Size).
    pub max_packet_size: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { version: ProtocolVersion::V311, max_packet_size: VARINT_MAX + 5 }
    }
}

impl Limits {
    /// Limits for `version` with the protocol's own maximum packet size.
    pub fn new(version: ProtocolVersion) -> Self {
        Limits { version, ..Limits::default() }
    }
}

/// Size of the frame at the start of `buf`, once its fixed header is complete: `Ok(None)` until then.
/// The size is checked against `max_packet_size` here, before any of the body is buffered. Only the length
/// is looked at: [`decode`] checks the rest.
pub fn frame_len(buf: &[u8], max_packet_size: u32) -> Result<Option<usize>, DecodeError> {
    Ok(fixed_header(buf, max_packet_size)?.map(|(header, body)| header + body))
}

/// The fixed header's length and the body's length, checked against `max_packet_size`.
fn fixed_header(buf: &[u8], max_packet_size: u32) -> Result<Option<(usize, usize)>, DecodeError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let Some((remaining, len_bytes)) = decode_varint(&buf[1..])? else {
        return Ok(None);
    };
    let size = 1 + len_bytes as u64 + u64::from(remaining);
    if size > u64::from(max_packet_size) {
        return Err(DecodeError::PacketTooLarge { size, max: max_packet_size });
    }
    Ok(Some((1 + len_bytes, remaining as usize)))
}

/// Decodes one packet from the front of `buf`.
///
/// Returns `Ok(None)` until a whole frame is buffered (nothing is consumed then), the packet otherwise (its
/// frame is consumed). Topics and payloads are zero-copy slices of the frame. The first byte and the
/// Remaining Length are checked as soon as they arrive, so garbage or an oversized frame is rejected before
/// its body is waited for (and such an error consumes nothing). After any error the connection must be
/// closed: an error found in the body of a complete frame has consumed that frame.
///
/// `limits.version` is the connection's protocol version; a CONNECT carries its own and ignores it.
pub fn decode(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Packet>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let v = limits.version;
    let packet_type = check_first_byte(first, v)?;
    let Some((header_len, body_len)) = fixed_header(buf, limits.max_packet_size)? else {
        return Ok(None);
    };
    let size = header_len + body_len;
    if buf.len() < size {
        return Ok(None);
    }
    let flags = first & 0x0F;
    let mut frame = buf.split_to(size).freeze();
    frame.advance(header_len);
    let mut r = Reader::new(frame);
    let packet = match packet_type {
        PacketType::Connect => Packet::Connect(Box::new(Connect::decode(&mut r)?)),
        PacketType::ConnAck => Packet::ConnAck(ConnAck::decode(&mut r, v)?),
        PacketType::Publish => Packet::Publish(Publish::decode(&mut r, flags, v)?),
        PacketType::PubAck => Packet::PubAck(Ack::decode(&mut r, v, AckKind::PubAck)?),
        PacketType::PubRec => Packet::PubRec(Ack::decode(&mut r, v, AckKind::PubRec)?),
        PacketType::PubRel => Packet::PubRel(Ack::decode(&mut r, v, AckKind::PubRel)?),
        PacketType::PubComp => Packet::PubComp(Ack::decode(&mut r, v, AckKind::PubComp)?),
        PacketType::Subscribe => Packet::Subscribe(Subscribe::decode(&mut r, v)?),
        PacketType::SubAck => Packet::SubAck(SubAck::decode(&mut r, v)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(&mut r, v)?),
        PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(&mut r, v)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => Packet::Disconnect(Disconnect::decode(&mut r, v)?),
        PacketType::Auth => Packet::Auth(Auth::decode(&mut r)?),
    };
    r.finish()?;
    Ok(Some(packet))
}

/// Encodes `packet` for a connection speaking `version`, appending to `buf`.
pub fn encode(packet: &Packet, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
    packet.check(version)?;
    let body = packet.body_len(version);
    if body > VARINT_MAX as usize {
        return Err(EncodeError::PacketTooLarge(body));
    }
    buf.reserve(1 + varint_len(body) + body);
    buf.put_u8(packet.first_byte());
    put_varint(buf, body);
    let start = buf.len();
    packet.encode_body(version, buf);
    debug_assert_eq!(
        buf.len() - start,
        body,
        "body_len disagrees with encode_body for {:?}",
        packet.packet_type()
    );
    Ok(())
}

/// Reads a packet identifier, which is never zero [MQTT-2.2.1-3] (3.1.1: [MQTT-2.3.1-1]).
pub(crate) fn read_packet_id(r: &mut Reader) -> Result<NonZeroU16, DecodeError> {
    NonZeroU16::new(r.u16("packet identifier")?).ok_or(DecodeError::ZeroPacketId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::properties::Properties;
    use crate::reason::ReasonCode;
    use crate::ByteString;

    fn id(n: u16) -> NonZeroU16 {
        NonZeroU16::new(n).unwrap()
    }

    fn rejected(packet: Packet, v: ProtocolVersion) -> EncodeError {
        let checked = packet.check(v).unwrap_err();
        let mut buf = BytesMut::new();
        let err = encode(&packet, v, &mut buf).unwrap_err();
        assert!(buf.is_empty(), "nothing is written for a refused packet");
        assert_eq!(checked, err, "check refuses what encode refuses");
        err
    }

    #[test]
    fn encode_refuses_what_a_decoder_would_reject() {
        use ProtocolVersion::{V311, V5};
        let violation = |e: EncodeError| match e {
            EncodeError::SpecViolation(text) => text.split(']').next().unwrap_or("").trim_start_matches('['),
            other => panic!("{other:?}"),
        };
        let dup_qos0 = Publish { dup: true, ..Publish::new("t", "") };
        assert_eq!(violation(rejected(Packet::Publish(dup_qos0), V311)), "MQTT-3.3.1-2");
        assert_eq!(violation(rejected(Packet::Publish(Publish::new("", "")), V311)), "MQTT-4.7.3-1");
        assert_eq!(violation(rejected(Packet::Publish(Publish::new("", "")), V5)), "MQTT-3.3.2.1");
        let alias_zero = Publish {
            properties: Properties { topic_alias: Some(0), ..Properties::default() },
            ..Publish::new("t", "")
        };
        assert_eq!(violation(rejected(Packet::Publish(alias_zero), V5)), "MQTT-3.3.2-8");
        let no_id = Publish { qos: crate::QoS::AtLeastOnce, ..Publish::new("t", "") };
        assert_eq!(rejected(Packet::Publish(no_id), V311), EncodeError::PacketIdMismatch);
        let long = Publish::new(ByteString::from("x".repeat(65_536)), "");
        assert_eq!(rejected(Packet::Publish(long), V311), EncodeError::FieldTooLong("topic name"));

        let alias_in_connack = ConnAck {
            properties: Properties { topic_alias: Some(1), ..Properties::default() },
            ..ConnAck::default()
        };
        assert_eq!(
            rejected(Packet::ConnAck(alias_in_connack), V5),
            EncodeError::PropertyNotAllowed { id: 0x23, packet: "CONNACK" }
        );
        let present_refused =
            ConnAck { session_present: true, reason_code: ReasonCode::NOT_AUTHORIZED, ..ConnAck::default() };
        assert_eq!(violation(rejected(Packet::ConnAck(present_refused), V311)), "MQTT-3.2.2-6");
        let max_qos_2 = ConnAck {
            properties: Properties { maximum_qos: Some(crate::QoS::ExactlyOnce), ..Properties::default() },
            ..ConnAck::default()
        };
        assert_eq!(violation(rejected(Packet::ConnAck(max_qos_2), V5)), "MQTT-3.2.2.3.4");

        let empty_sub = Subscribe { packet_id: id(1), filters: vec![], properties: Properties::default() };
        assert_eq!(violation(rejected(Packet::Subscribe(empty_sub), V311)), "MQTT-3.8.3-2");
        let shared_no_local = Subscribe {
            packet_id: id(1),
            filters: vec![SubscriptionRequest {
                filter: ByteString::from_static("$share/g/t"),
                options: SubscriptionOptions { no_local: true, ..SubscriptionOptions::default() },
            }],
            properties: Properties::default(),
        };
        assert_eq!(violation(rejected(Packet::Subscribe(shared_no_local), V5)), "MQTT-3.8.3-4");
        let two_ids = Subscribe {
            packet_id: id(1),
            filters: vec![SubscriptionRequest {
                filter: ByteString::from_static("t"),
                options: SubscriptionOptions::default(),
            }],
            properties: Properties { subscription_identifiers: vec![1, 2], ..Properties::default() },
        };
        assert_eq!(violation(rejected(Packet::Subscribe(two_ids), V5)), "MQTT-3.8.2.1.2");
        let empty_suback =
            SubAck { packet_id: id(1), reason_codes: vec![], properties: Properties::default() };
        assert_eq!(violation(rejected(Packet::SubAck(empty_suback), V311)), "MQTT-3.8.4-6");
        let empty_unsub =
            Unsubscribe { packet_id: id(1), filters: vec![], properties: Properties::default() };
        assert_eq!(violation(rejected(Packet::Unsubscribe(empty_unsub), V5)), "MQTT-3.10.3-2");
        let empty_unsuback =
            UnsubAck { packet_id: id(1), reason_codes: vec![], properties: Properties::default() };
        assert_eq!(violation(rejected(Packet::UnsubAck(empty_unsuback), V5)), "MQTT-3.11.3-1");

        let bad_puback = Ack { reason_code: ReasonCode::PACKET_IDENTIFIER_NOT_FOUND, ..Ack::new(id(1)) };
        assert_eq!(violation(rejected(Packet::PubAck(bad_puback), V5)), "MQTT-3.4.2-1");
        let bad_disconnect = Disconnect::new(ReasonCode::CONTINUE_AUTHENTICATION);
        assert_eq!(violation(rejected(Packet::Disconnect(bad_disconnect), V5)), "MQTT-3.14.2-1");
        let bad_auth = Auth { reason_code: ReasonCode::NOT_AUTHORIZED, ..Auth::default() };
        assert_eq!(violation(rejected(Packet::Auth(bad_auth), V5)), "MQTT-3.15.2-1");
        assert_eq!(
            rejected(Packet::Auth(Auth::default()), V311),
            EncodeError::NotInVersion(PacketType::Auth, V311)
        );

        let password_only = Connect { password: Some(crate::Bytes::from_static(b"p")), ..Connect::default() };
        assert_eq!(violation(rejected(Packet::Connect(Box::new(password_only)), V311)), "MQTT-3.1.2-22");
        let data_without_method = Connect {
            protocol: V5,
            properties: Properties {
                authentication_data: Some(crate::Bytes::from_static(b"d")),
                ..Properties::default()
            },
            ..Connect::default()
        };
        assert_eq!(
            violation(rejected(Packet::Connect(Box::new(data_without_method)), V5)),
            "MQTT-3.1.2.11.10"
        );
        let zero_receive_maximum = Connect {
            protocol: V5,
            properties: Properties { receive_maximum: Some(0), ..Properties::default() },
            ..Connect::default()
        };
        assert_eq!(violation(rejected(Packet::Connect(Box::new(zero_receive_maximum)), V5)), "MQTT-3.1.2.11");
    }

    #[test]
    fn first_byte_is_checked_before_the_rest_arrives() {
        use ProtocolVersion::{V31, V311, V5};
        let early = |first: u8, v| check_first_byte(first, v);
        assert_eq!(early(0x30, V311), Ok(PacketType::Publish));
        assert_eq!(early(0x3D, V311), Ok(PacketType::Publish)); // DUP, QoS 2, retain
        assert_eq!(early(0x36, V311), Err(DecodeError::InvalidQoS));
        assert_eq!(early(0x39, V5), Err(DecodeError::DupOnQoS0));
        assert_eq!(early(0x62, V5), Ok(PacketType::PubRel));
        assert_eq!(early(0x6A, V31), Ok(PacketType::PubRel));
        assert_eq!(
            early(0x6A, V311),
            Err(DecodeError::InvalidFlags { packet: PacketType::PubRel, flags: 0xA })
        );
        assert_eq!(early(0x48, V31), Err(DecodeError::InvalidFlags { packet: PacketType::PubAck, flags: 8 }));
        assert_eq!(early(0xF0, V5), Ok(PacketType::Auth));
        assert_eq!(early(0xF0, V311), Err(DecodeError::AuthBeforeV5(V311)));
        assert_eq!(early(0x00, V5), Err(DecodeError::ReservedPacketType(0)));
    }

    #[test]
    fn frame_len_is_the_whole_frame_once_the_fixed_header_is_in() {
        assert_eq!(frame_len(&[0x30], 100), Ok(None));
        assert_eq!(frame_len(&[0x30, 0x80], 100), Ok(None));
        assert_eq!(frame_len(&[0x30, 0x05], 100), Ok(Some(7)));
        assert_eq!(frame_len(&[0x30, 0x80, 0x01], 200), Ok(Some(131)));
        assert_eq!(
            frame_len(&[0x30, 0x80, 0x01], 130),
            Err(DecodeError::PacketTooLarge { size: 131, max: 130 })
        );
        assert_eq!(frame_len(&[0xC0, 0x00], 2), Ok(Some(2)));
    }
}
