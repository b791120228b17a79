//! DISCONNECT (3.14) and AUTH (3.15). Both open with an optional reason code and properties; they differ in
//! what may be left out.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{Properties, PropertyContext};
use crate::reason::ReasonCode;
use crate::version::ProtocolVersion;
use crate::wire::Reader;

/// Reads the reason code, if the body has one.
fn decode_reason(r: &mut Reader, packet: PacketType) -> Result<Option<ReasonCode>, DecodeError> {
    if r.is_empty() {
        return Ok(None);
    }
    let code = r.u8("reason code")?;
    if !ReasonCode(code).is_valid_for(packet) {
        return Err(DecodeError::InvalidReasonCode { packet, code });
    }
    Ok(Some(ReasonCode(code)))
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

    /// [MQTT-3.14.2-1] An empty body is 0x00 Normal disconnection; a reason code alone (Remaining Length
    /// under 2) has no properties.
    pub(crate) fn decode(r: &mut Reader, v: ProtocolVersion) -> Result<Disconnect, DecodeError> {
        if !v.is_v5() {
            return Ok(Disconnect::default());
        }
        let Some(reason_code) = decode_reason(r, PacketType::Disconnect)? else {
            return Ok(Disconnect::default());
        };
        let properties = if r.is_empty() {
            Properties::default()
        } else {
            Properties::decode(r, PropertyContext::Disconnect)?
        };
        Ok(Disconnect { reason_code, properties })
    }

    pub(crate) fn check(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if !v.is_v5() {
            return Ok(());
        }
        if !self.reason_code.is_valid_for(PacketType::Disconnect) {
            return Err(EncodeError::SpecViolation("[MQTT-3.14.2-1] reason code not allowed in DISCONNECT"));
        }
        self.properties.check_for(PropertyContext::Disconnect)
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        if !v.is_v5() {
            0
        } else if !self.properties.is_empty() {
            1 + self.properties.wire_len()
        } else {
            usize::from(self.reason_code != ReasonCode::NORMAL_DISCONNECTION)
        }
    }

    pub(crate) fn encode_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        let len = self.body_len(v);
        if len >= 1 {
            buf.put_u8(self.reason_code.0);
        }
        if len > 1 {
            self.properties.encode(buf);
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
    /// [MQTT-3.15.2-1] The reason code and property length are left out together (0x00, no properties) or
    /// both present: unlike DISCONNECT, a reason code alone is not a valid AUTH.
    pub(crate) fn decode(r: &mut Reader) -> Result<Auth, DecodeError> {
        let Some(reason_code) = decode_reason(r, PacketType::Auth)? else {
            return Ok(Auth::default());
        };
        let properties = Properties::decode(r, PropertyContext::Auth)?;
        Ok(Auth { reason_code, properties })
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if !self.reason_code.is_valid_for(PacketType::Auth) {
            return Err(EncodeError::SpecViolation("[MQTT-3.15.2-1] reason code not allowed in AUTH"));
        }
        self.properties.check_for(PropertyContext::Auth)
    }

    fn is_short(&self) -> bool {
        self.reason_code == ReasonCode::SUCCESS && self.properties.is_empty()
    }

    pub(crate) fn body_len(&self) -> usize {
        if self.is_short() {
            0
        } else {
            1 + self.properties.wire_len()
        }
    }

    pub(crate) fn encode_body(&self, buf: &mut BytesMut) {
        if !self.is_short() {
            buf.put_u8(self.reason_code.0);
            self.properties.encode(buf);
        }
    }
}
