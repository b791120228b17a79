//! PUBLISH (3.3): an application message on its way from a client to the server or back.

use std::num::NonZeroU16;

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::properties::{decode_if_v5, Properties, PropertyContext};
use crate::qos::QoS;
use crate::topic::{validate_topic_name, TopicError};
use crate::version::ProtocolVersion;
use crate::wire::{check_len, put_binary, put_varint, varint_len, Reader, VARINT_MAX};

/// PUBLISH. `packet_id` is `Some` exactly when `qos` is above 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    /// The topic name; empty only in MQTT 5.0 with a Topic Alias property. 3.x drops the properties.
    pub topic: ByteString,
    pub packet_id: Option<NonZeroU16>,
    pub payload: Bytes,
    pub properties: Properties,
}

impl Publish {
    /// A QoS 0 message with no properties.
    pub fn new(topic: impl Into<ByteString>, payload: impl Into<Bytes>) -> Publish {
        Publish { topic: topic.into(), payload: payload.into(), ..Publish::default() }
    }

    pub(crate) fn flags(&self) -> u8 {
        (u8::from(self.dup) << 3) | (self.qos.as_u8() << 1) | u8::from(self.retain)
    }

    pub(crate) fn decode(r: &mut Reader, flags: u8, v: ProtocolVersion) -> Result<Publish, DecodeError> {
        // The fixed header's QoS and DUP were checked with the first byte; this keeps the type honest.
        let qos = QoS::from_u8((flags >> 1) & 0x03).ok_or(DecodeError::InvalidQoS)?;
        let dup = flags & 0x08 != 0;
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::DupOnQoS0);
        }
        let topic = r.string("topic name")?;
        let packet_id = if qos == QoS::AtMostOnce { None } else { Some(super::read_packet_id(r)?) };
        let properties = decode_if_v5(r, v.is_v5(), PropertyContext::Publish)?;
        match validate_topic_name(&topic) {
            Ok(()) => {}
            // [MQTT-3.3.2.1] An empty topic name stands for the one a Topic Alias maps to (5.0 only).
            Err(TopicError::Empty) if v.is_v5() => {
                if properties.topic_alias.is_none() {
                    return Err(DecodeError::EmptyTopicWithoutAlias);
                }
            }
            Err(TopicError::Empty) => return Err(DecodeError::EmptyTopicName),
            Err(_) => return Err(DecodeError::WildcardInTopicName(topic.to_string())),
        }
        let payload = r.rest();
        Ok(Publish { dup, qos, retain: flags & 0x01 != 0, topic, packet_id, payload, properties })
    }

    /// Length of everything before the payload in the body.
    fn variable_header_len(&self, v: ProtocolVersion) -> usize {
        2 + self.topic.len()
            + if self.packet_id.is_some() { 2 } else { 0 }
            + if v.is_v5() { self.properties.wire_len() } else { 0 }
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        self.variable_header_len(v) + self.payload.len()
    }

    /// Checks what the receiver's decoder would reject. The topic's characters are not scanned: topics come
    /// from decoded packets or [`validate_topic_name`](crate::topic::validate_topic_name).
    pub(crate) fn check(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        check_len(self.topic.len(), "topic name")?;
        if (self.qos == QoS::AtMostOnce) != self.packet_id.is_none() {
            return Err(EncodeError::PacketIdMismatch);
        }
        if self.dup && self.qos == QoS::AtMostOnce {
            return Err(EncodeError::SpecViolation("[MQTT-3.3.1-2] DUP set on a QoS 0 PUBLISH"));
        }
        if !v.is_v5() {
            return if self.topic.is_empty() {
                Err(EncodeError::SpecViolation("[MQTT-4.7.3-1] empty topic name"))
            } else {
                Ok(())
            };
        }
        if self.topic.is_empty() && self.properties.topic_alias.is_none() {
            return Err(EncodeError::SpecViolation("[MQTT-3.3.2.1] empty topic name without a topic alias"));
        }
        self.properties.check_for(PropertyContext::Publish)
    }

    fn encode_variable_header(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        put_binary(buf, self.topic.as_bytes());
        if let Some(id) = self.packet_id {
            buf.put_u16(id.get());
        }
        if v.is_v5() {
            self.properties.encode(buf);
        }
    }

    pub(crate) fn encode_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        self.encode_variable_header(v, buf);
        buf.put_slice(&self.payload);
    }

    /// Size of the whole encoded packet in `v`, as compared against a Maximum Packet Size.
    pub fn encoded_len(&self, v: ProtocolVersion) -> usize {
        let body = self.body_len(v);
        1 + varint_len(body) + body
    }

    /// Encodes the fixed and variable headers only, so a writer can send the shared payload after them
    /// without copying it (vectored write). Appends to `buf`.
    pub fn encode_header(&self, v: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.check(v)?;
        let body = self.body_len(v);
        if body > VARINT_MAX as usize {
            return Err(EncodeError::PacketTooLarge(body));
        }
        buf.reserve(1 + varint_len(body) + self.variable_header_len(v));
        buf.put_u8((3 << 4) | self.flags());
        put_varint(buf, body);
        self.encode_variable_header(v, buf);
        Ok(())
    }
}
