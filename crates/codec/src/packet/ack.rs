//! PUBACK (3.4), PUBREC (3.5), PUBREL (3.6) and PUBCOMP (3.7): one shape, four packet types.

use std::num::NonZeroU16;

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{Properties, PropertyContext};
use crate::reason::ReasonCode;
use crate::version::ProtocolVersion;
use crate::wire::Reader;

/// Which of the four acknowledgement packets an [`Ack`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    PubAck,
    PubRec,
    PubRel,
    PubComp,
}

impl AckKind {
    fn packet_type(self) -> PacketType {
        match self {
            AckKind::PubAck => PacketType::PubAck,
            AckKind::PubRec => PacketType::PubRec,
            AckKind::PubRel => PacketType::PubRel,
            AckKind::PubComp => PacketType::PubComp,
        }
    }

    fn property_context(self) -> PropertyContext {
        match self {
            AckKind::PubAck => PropertyContext::PubAck,
            AckKind::PubRec => PropertyContext::PubRec,
            AckKind::PubRel => PropertyContext::PubRel,
            AckKind::PubComp => PropertyContext::PubComp,
        }
    }
}

/// A QoS 1/2 acknowledgement. In MQTT 3.x only the packet identifier is on the wire: the reason code and
/// properties are not encoded there, and decode as success and none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub packet_id: NonZeroU16,
    pub reason_code: ReasonCode,
    pub properties: Properties,
}

impl Ack {
    /// A successful acknowledgement without properties.
    pub fn new(packet_id: NonZeroU16) -> Ack {
        Ack { packet_id, reason_code: ReasonCode::SUCCESS, properties: Properties::default() }
    }

    pub(crate) fn decode(r: &mut Reader, v: ProtocolVersion, kind: AckKind) -> Result<Ack, DecodeError> {
        let packet_id = super::read_packet_id(r)?;
        let mut ack = Ack::new(packet_id);
        if v.is_v5() && !r.is_empty() {
            // [MQTT-3.4.2-1] Reason code 0x00 and no properties may be left out entirely; with a Remaining
            // Length under 4 there is no property length (3.4.2.2).
            let code = r.u8("reason code")?;
            if !ReasonCode(code).is_valid_for(kind.packet_type()) {
                return Err(DecodeError::InvalidReasonCode { packet: kind.packet_type(), code });
            }
            ack.reason_code = ReasonCode(code);
            if !r.is_empty() {
                ack.properties = Properties::decode(r, kind.property_context())?;
            }
        }
        Ok(ack)
    }

    pub(crate) fn check(&self, v: ProtocolVersion, kind: AckKind) -> Result<(), EncodeError> {
        if !v.is_v5() {
            return Ok(());
        }
        if !self.reason_code.is_valid_for(kind.packet_type()) {
            return Err(EncodeError::SpecViolation(match kind {
                AckKind::PubAck => "[MQTT-3.4.2-1] reason code not allowed in PUBACK",
                AckKind::PubRec => "[MQTT-3.5.2-1] reason code not allowed in PUBREC",
                AckKind::PubRel => "[MQTT-3.6.2-1] reason code not allowed in PUBREL",
                AckKind::PubComp => "[MQTT-3.7.2-1] reason code not allowed in PUBCOMP",
            }));
        }
        self.properties.check_for(kind.property_context())
    }

    /// The short forms of 5.0: the packet identifier alone for success without properties, the reason code
    /// without a property length when there are no properties [MQTT-3.4.2-1].
    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        if !v.is_v5() || (self.reason_code == ReasonCode::SUCCESS && self.properties.is_empty()) {
            2
        } else if self.properties.is_empty() {
            3
        } else {
            3 + self.properties.wire_len()
        }
    }

    pub(crate) fn encode_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        let len = self.body_len(v);
        if len >= 3 {
            buf.put_u8(self.reason_code.0);
        }
        if len > 3 {
            self.properties.encode(buf);
        }
    }
}
