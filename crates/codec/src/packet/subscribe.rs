//! SUBSCRIBE (3.8), SUBACK (3.9), UNSUBSCRIBE (3.10) and UNSUBACK (3.11).

use std::num::NonZeroU16;

use bytes::{BufMut, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{decode_if_v5, Properties, PropertyContext};
use crate::qos::QoS;
use crate::reason::ReasonCode;
use crate::topic::{parse_shared, validate_topic_filter};
use crate::version::ProtocolVersion;
use crate::wire::{check_len, put_binary, Reader};

/// Whether retained messages are sent when a subscription is made (MQTT 5.0 3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe,
    /// 1: send them only if the subscription did not exist yet.
    SendAtSubscribeIfNew,
    /// 2: never send them.
    DoNotSend,
}

/// The options byte of a subscription. Only `qos` exists before MQTT 5.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionOptions {
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    fn to_byte(self, v: ProtocolVersion) -> u8 {
        let mut b = self.qos.as_u8();
        if v.is_v5() {
            b |= u8::from(self.no_local) << 2;
            b |= u8::from(self.retain_as_published) << 3;
            b |= (self.retain_handling as u8) << 4;
        }
        b
    }

    fn from_byte(b: u8, v: ProtocolVersion) -> Result<Self, DecodeError> {
        // Bits 7-6 are reserved in 5.0 [MQTT-3.8.3-5]; bits 7-2 in 3.x [MQTT-3.8.3-4].
        let reserved = if v.is_v5() { 0xC0 } else { 0xFC };
        if b & reserved != 0 {
            return Err(DecodeError::SubscriptionOptionsReserved);
        }
        let qos = QoS::from_u8(b & 0x03).ok_or(DecodeError::SubscriptionQoSInvalid)?;
        let retain_handling = match (b >> 4) & 0x03 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendAtSubscribeIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(DecodeError::InvalidRetainHandling),
        };
        Ok(SubscriptionOptions {
            qos,
            no_local: b & 0x04 != 0,
            retain_as_published: b & 0x08 != 0,
            retain_handling,
        })
    }
}

/// One topic filter of a SUBSCRIBE and its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRequest {
    pub filter: ByteString,
    pub options: SubscriptionOptions,
}

/// SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub packet_id: NonZeroU16,
    pub filters: Vec<SubscriptionRequest>,
    /// Subscription Identifier and User Properties.
    pub properties: Properties,
}

fn read_filter(r: &mut Reader) -> Result<ByteString, DecodeError> {
    let filter = r.string("topic filter")?;
    validate_topic_filter(&filter)
        .map_err(|reason| DecodeError::InvalidTopicFilter { filter: filter.to_string(), reason })?;
    Ok(filter)
}

fn props_len(p: &Properties, v: ProtocolVersion) -> usize {
    if v.is_v5() {
        p.wire_len()
    } else {
        0
    }
}

impl Subscribe {
    pub(crate) fn decode(r: &mut Reader, v: ProtocolVersion) -> Result<Subscribe, DecodeError> {
        let packet_id = super::read_packet_id(r)?;
        let properties = decode_if_v5(r, v.is_v5(), PropertyContext::Subscribe)?;
        let mut filters = Vec::new();
        while !r.is_empty() {
            let filter = read_filter(r)?;
            let options = SubscriptionOptions::from_byte(r.u8("subscription options")?, v)?;
            if options.no_local && parse_shared(&filter).is_some() {
                return Err(DecodeError::NoLocalOnSharedSubscription);
            }
            filters.push(SubscriptionRequest { filter, options });
        }
        if filters.is_empty() {
            return Err(DecodeError::EmptySubscribe);
        }
        Ok(Subscribe { packet_id, filters, properties })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        2 + props_len(&self.properties, v) + self.filters.iter().map(|f| 3 + f.filter.len()).sum::<usize>()
    }

    pub(crate) fn check(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::SpecViolation("[MQTT-3.8.3-2] SUBSCRIBE without a topic filter"));
        }
        for f in &self.filters {
            check_len(f.filter.len(), "topic filter")?;
            if v.is_v5() && f.options.no_local && parse_shared(&f.filter).is_some() {
                return Err(EncodeError::SpecViolation("[MQTT-3.8.3-4] No Local on a shared subscription"));
            }
        }
        if v.is_v5() {
            self.properties.check_for(PropertyContext::Subscribe)?;
        }
        Ok(())
    }

    pub(crate) fn encode_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            self.properties.encode(buf);
        }
        for f in &self.filters {
            put_binary(buf, f.filter.as_bytes());
            buf.put_u8(f.options.to_byte(v));
        }
    }
}

/// SUBACK: one reason code per requested filter, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub packet_id: NonZeroU16,
    /// Granted QoS (0x00-0x02) or a failure; 3.x carries any failure as 0x80 (MQTT 3.1 too, as Mosquitto
    /// does, though 3.1 defines no failure code).
    pub reason_codes: Vec<ReasonCode>,
    pub properties: Properties,
}

impl SubAck {
    pub(crate) fn decode(r: &mut Reader, v: ProtocolVersion) -> Result<SubAck, DecodeError> {
        let packet_id = super::read_packet_id(r)?;
        let properties = decode_if_v5(r, v.is_v5(), PropertyContext::SubAck)?;
        let mut reason_codes = Vec::with_capacity(r.remaining());
        while !r.is_empty() {
            let code = r.u8("reason code")?;
            let valid = if v.is_v5() {
                ReasonCode(code).is_valid_for(PacketType::SubAck)
            } else {
                matches!(code, 0..=2 | 0x80)
            };
            if !valid {
                return Err(if v.is_v5() {
                    DecodeError::InvalidReasonCode { packet: PacketType::SubAck, code }
                } else {
                    DecodeError::InvalidSubAckCode(code)
                });
            }
            reason_codes.push(ReasonCode(code));
        }
        if reason_codes.is_empty() {
            return Err(DecodeError::EmptySubAck);
        }
        Ok(SubAck { packet_id, reason_codes, properties })
    }

    pub(crate) fn check(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if self.reason_codes.is_empty() {
            return Err(EncodeError::SpecViolation("[MQTT-3.8.4-6] SUBACK without a reason code"));
        }
        if v.is_v5() {
            if self.reason_codes.iter().any(|rc| !rc.is_valid_for(PacketType::SubAck)) {
                return Err(EncodeError::SpecViolation("[MQTT-3.9.3-2] reason code not allowed in SUBACK"));
            }
            self.properties.check_for(PropertyContext::SubAck)?;
        }
        Ok(())
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        2 + props_len(&self.properties, v) + self.reason_codes.len()
    }

    pub(crate) fn encode_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            self.properties.encode(buf);
            for rc in &self.reason_codes {
                buf.put_u8(rc.0);
            }
        } else {
            for rc in &self.reason_codes {
                buf.put_u8(rc.to_v3_suback());
            }
        }
    }
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub packet_id: NonZeroU16,
    pub filters: Vec<ByteString>,
    /// User Properties only.
    pub properties: Properties,
}

impl Unsubscribe {
    pub(crate) fn decode(r: &mut Reader, v: ProtocolVersion) -> Result<Unsubscribe, DecodeError> {
        let packet_id = super::read_packet_id(r)?;
        let properties = decode_if_v5(r, v.is_v5(), PropertyContext::Unsubscribe)?;
        let mut filters = Vec::new();
        while !r.is_empty() {
            filters.push(read_filter(r)?);
        }
        if filters.is_empty() {
            return Err(DecodeError::EmptyUnsubscribe);
        }
        Ok(Unsubscribe { packet_id, filters, properties })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        2 + props_len(&self.properties, v) + self.filters.iter().map(|f| 2 + f.len()).sum::<usize>()
    }

    pub(crate) fn check(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::SpecViolation("[MQTT-3.10.3-2] UNSUBSCRIBE without a topic filter"));
        }
        for f in &self.filters {
            check_len(f.len(), "topic filter")?;
        }
        if v.is_v5() {
            self.properties.check_for(PropertyContext::Unsubscribe)?;
        }
        Ok(())
    }

    pub(crate) fn encode_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            self.properties.encode(buf);
        }
        for f in &self.filters {
            put_binary(buf, f.as_bytes());
        }
    }
}

/// UNSUBACK. MQTT 3.x has no reason codes: `reason_codes` is empty there (and not encoded). In 5.0 there is
/// one per topic filter of the UNSUBSCRIBE, so at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    pub packet_id: NonZeroU16,
    pub reason_codes: Vec<ReasonCode>,
    pub properties: Properties,
}

impl UnsubAck {
    pub(crate) fn decode(r: &mut Reader, v: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
        let packet_id = super::read_packet_id(r)?;
        let properties = decode_if_v5(r, v.is_v5(), PropertyContext::UnsubAck)?;
        let mut reason_codes = Vec::new();
        if v.is_v5() {
            reason_codes.reserve(r.remaining());
            while !r.is_empty() {
                let code = r.u8("reason code")?;
                if !ReasonCode(code).is_valid_for(PacketType::UnsubAck) {
                    return Err(DecodeError::InvalidReasonCode { packet: PacketType::UnsubAck, code });
                }
                reason_codes.push(ReasonCode(code));
            }
            if reason_codes.is_empty() {
                return Err(DecodeError::EmptyUnsubAck);
            }
        }
        Ok(UnsubAck { packet_id, reason_codes, properties })
    }

    pub(crate) fn check(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if !v.is_v5() {
            return Ok(());
        }
        if self.reason_codes.is_empty() {
            return Err(EncodeError::SpecViolation("[MQTT-3.11.3-1] UNSUBACK without a reason code"));
        }
        if self.reason_codes.iter().any(|rc| !rc.is_valid_for(PacketType::UnsubAck)) {
            return Err(EncodeError::SpecViolation("[MQTT-3.11.3-2] reason code not allowed in UNSUBACK"));
        }
        self.properties.check_for(PropertyContext::UnsubAck)
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        if v.is_v5() {
            2 + self.properties.wire_len() + self.reason_codes.len()
        } else {
            2
        }
    }

    pub(crate) fn encode_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if v.is_v5() {
            self.properties.encode(buf);
            for rc in &self.reason_codes {
                buf.put_u8(rc.0);
            }
        }
    }
}
