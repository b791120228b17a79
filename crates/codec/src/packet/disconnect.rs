//! DISCONNECT (3.14) and AUTH (3.15).

use bytes::{BufMut, BytesMut};

use crate::error::DecodeError;
use crate::packet::PacketType;
use crate::properties::{Properties, PropertyContext};
use crate::reason::ReasonCode;
use crate::version::ProtocolVersion;
use crate::wire::Reader;

/// Reads the optional reason code and properties shared by DISCONNECT and AUTH: an empty body means 0x00
/// and no properties; a reason code alone means no properties.
fn decode_reason_and_properties(
    r: &mut Reader,
    packet: PacketType,
    cx: PropertyContext,
) -> Result<(ReasonCode, Properties), DecodeError> {
    if r.is_empty() {
        return Ok((ReasonCode::SUCCESS, Properties::default()));
    }
    let code = r.u8("reason code")?;
    if !ReasonCode(code).is_valid_for(packet) {
        return Err(DecodeError::InvalidReasonCode { packet, code });
    }
    let properties = if r.is_empty() { Properties::default() } else { Properties::decode(r, cx)? };
    Ok((ReasonCode(code), properties))
}

fn reason_and_properties_len(reason: ReasonCode, properties: &Properties) -> usize {
    if properties.is_empty() {
        usize::from(reason != ReasonCode::SUCCESS)
    } else {
        1 + properties.wire_len()
    }
}

fn encode_reason_and_properties(reason: ReasonCode, properties: &Properties, buf: &mut BytesMut) {
    let len = reason_and_properties_len(reason, properties);
    if len >= 1 {
        buf.put_u8(reason.0);
    }
    if len > 1 {
        properties.encode(buf);
    }
}

/// DISCONNECT. In MQTT 3.x it has no body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disconnect {
    pub reason_code: ReasonCode,
    pub properties: Properties,
}

impl Disconnect {
    /// A DISCONNECT with a reason code and no properties.
    pub fn new(reason_code: ReasonCode) -> Disconnect {
        Disconnect { reason_code, properties: Properties::default() }
    }

    pub(crate) fn decode(r: &mut Reader, v: ProtocolVersion) -> Result<Disconnect, DecodeError> {
        if !v.is_v5() {
            return Ok(Disconnect::default());
        }
        let (reason_code, properties) =
            decode_reason_and_properties(r, PacketType::Disconnect, PropertyContext::Disconnect)?;
        Ok(Disconnect { reason_code, properties })
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        if v.is_v5() {
            reason_and_properties_len(self.reason_code, &self.properties)
        } else {
            0
        }
    }

    pub(crate) fn encode_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        if v.is_v5() {
            encode_reason_and_properties(self.reason_code, &self.properties, buf);
        }
    }
}

/// AUTH (MQTT 5.0 only): a step of enhanced authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    /// 0x00 success, 0x18 continue authentication, 0x19 re-authenticate.
    pub reason_code: ReasonCode,
    pub properties: Properties,
}

impl Auth {
    pub(crate) fn decode(r: &mut Reader) -> Result<Auth, DecodeError> {
        let (reason_code, properties) =
            decode_reason_and_properties(r, PacketType::Auth, PropertyContext::Auth)?;
        Ok(Auth { reason_code, properties })
    }

    pub(crate) fn body_len(&self) -> usize {
        reason_and_properties_len(self.reason_code, &self.properties)
    }

    pub(crate) fn encode_body(&self, buf: &mut BytesMut) {
        encode_reason_and_properties(self.reason_code, &self.properties, buf);
    }
}
