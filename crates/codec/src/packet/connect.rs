//! CONNECT (3.1) and CONNACK (3.2).

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{decode_if_v5, Properties, PropertyContext};
use crate::qos::QoS;
use crate::reason::ReasonCode;
use crate::version::ProtocolVersion;
use crate::wire::{check_len, put_binary, Reader};

/// The Last Will: published by the server when the client goes away without a normal DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    pub topic: ByteString,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// Will properties (MQTT 5.0): will delay, message expiry, content type, response topic...
    pub properties: Properties,
}

/// CONNECT: the first packet a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol level; its name ("MQIsdp" for 3.1, "MQTT" otherwise) follows from it.
    pub protocol: ProtocolVersion,
    /// Clean Session (3.x) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep alive, seconds; 0 turns keep-alive off.
    pub keep_alive: u16,
    pub client_id: ByteString,
    pub will: Option<LastWill>,
    pub username: Option<ByteString>,
    pub password: Option<Bytes>,
    pub properties: Properties,
}

impl Default for Connect {
    fn default() -> Self {
        Connect {
            protocol: ProtocolVersion::V311,
            clean_start: true,
            keep_alive: 60,
            client_id: ByteString::new(),
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
        }
    }
}

const FLAG_CLEAN: u8 = 0x02;
const FLAG_WILL: u8 = 0x04;
const FLAG_WILL_RETAIN: u8 = 0x20;
const FLAG_PASSWORD: u8 = 0x40;
const FLAG_USERNAME: u8 = 0x80;

impl Connect {
    pub(crate) fn decode(r: &mut Reader) -> Result<Connect, DecodeError> {
        let name = r.binary("protocol name")?;
        let level = r.u8("protocol level")?;
        // Mosquitto bridges set the top bit of the level ("try_private"); it does not change the format.
        let level_plain = level & 0x7F;
        let protocol = match (name.as_ref(), ProtocolVersion::from_level(level_plain)) {
            (b"MQTT", Some(v @ (ProtocolVersion::V311 | ProtocolVersion::V5))) => v,
            (b"MQIsdp", Some(ProtocolVersion::V31)) => ProtocolVersion::V31,
            (b"MQTT" | b"MQIsdp", _) => return Err(DecodeError::UnsupportedProtocolVersion(level)),
            (other, _) => {
                return Err(DecodeError::InvalidProtocolName(String::from_utf8_lossy(other).into_owned()))
            }
        };
        let flags = r.u8("connect flags")?;
        if flags & 0x01 != 0 {
            return Err(DecodeError::ConnectReservedFlag);
        }
        let will_flag = flags & FLAG_WILL != 0;
        let will_qos = (flags >> 3) & 0x03;
        let will_retain = flags & FLAG_WILL_RETAIN != 0;
        if will_qos == 3 {
            return Err(DecodeError::WillQoSInvalid);
        }
        if !will_flag && will_qos != 0 {
            return Err(DecodeError::WillQoSWithoutWill);
        }
        if !will_flag && will_retain {
            return Err(DecodeError::WillRetainWithoutWill);
        }
        let has_username = flags & FLAG_USERNAME != 0;
        let has_password = flags & FLAG_PASSWORD != 0;
        if has_password && !has_username && !protocol.is_v5() {
            return Err(DecodeError::PasswordWithoutUsername);
        }
        let keep_alive = r.u16("keep alive")?;
        let v5 = protocol.is_v5();
        let properties = decode_if_v5(r, v5, PropertyContext::Connect)?;
        let client_id = r.string("client identifier")?;
        let will = if will_flag {
            let properties = decode_if_v5(r, v5, PropertyContext::Will)?;
            let topic = r.string("will topic")?;
            crate::topic::validate_topic_name(&topic).map_err(|e| match e {
                crate::topic::TopicError::Empty => DecodeError::EmptyTopicName,
                _ => DecodeError::WildcardInTopicName(topic.to_string()),
            })?;
            let payload = r.binary("will payload")?;
            let qos = QoS::from_u8(will_qos).ok_or(DecodeError::WillQoSInvalid)?;
            Some(LastWill { topic, payload, qos, retain: will_retain, properties })
        } else {
            None
        };
        // [MQTT-3.1.2-16]..[MQTT-3.1.2-19] A field is present exactly when its flag is set.
        let username = if has_username { Some(r.string("user name")?) } else { None };
        let password = if has_password { Some(r.binary("password")?) } else { None };
        Ok(Connect {
            protocol,
            clean_start: flags & FLAG_CLEAN != 0,
            keep_alive,
            client_id,
            will,
            username,
            password,
            properties,
        })
    }

    pub(crate) fn body_len(&self) -> usize {
        let v5 = self.protocol.is_v5();
        let props = |p: &Properties| if v5 { p.wire_len() } else { 0 };
        2 + self.protocol.protocol_name().len()
            + 1
            + 1
            + 2
            + props(&self.properties)
            + 2
            + self.client_id.len()
            + self.will.as_ref().map_or(0, |w| props(&w.properties) + 2 + w.topic.len() + 2 + w.payload.len())
            + self.username.as_ref().map_or(0, |u| 2 + u.len())
            + self.password.as_ref().map_or(0, |p| 2 + p.len())
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        let v5 = self.protocol.is_v5();
        check_len(self.client_id.len(), "client identifier")?;
        if let Some(w) = &self.will {
            check_len(w.topic.len(), "will topic")?;
            check_len(w.payload.len(), "will payload")?;
            if w.topic.is_empty() {
                return Err(EncodeError::SpecViolation("[MQTT-4.7.3-1] empty will topic"));
            }
            if v5 {
                w.properties.check_for(PropertyContext::Will)?;
            }
        }
        if let Some(u) = &self.username {
            check_len(u.len(), "user name")?;
        }
        if let Some(p) = &self.password {
            check_len(p.len(), "password")?;
            if self.username.is_none() && !v5 {
                return Err(EncodeError::SpecViolation("[MQTT-3.1.2-22] password without a user name"));
            }
        }
        if v5 {
            self.properties.check_for(PropertyContext::Connect)
        } else {
            Ok(())
        }
    }

    pub(crate) fn encode_body(&self, buf: &mut BytesMut) {
        let v5 = self.protocol.is_v5();
        put_binary(buf, self.protocol.protocol_name().as_bytes());
        buf.put_u8(self.protocol.level());
        let mut flags = 0;
        if self.clean_start {
            flags |= FLAG_CLEAN;
        }
        if let Some(w) = &self.will {
            flags |= FLAG_WILL | (w.qos.as_u8() << 3);
            if w.retain {
                flags |= FLAG_WILL_RETAIN;
            }
        }
        if self.username.is_some() {
            flags |= FLAG_USERNAME;
        }
        if self.password.is_some() {
            flags |= FLAG_PASSWORD;
        }
        buf.put_u8(flags);
        buf.put_u16(self.keep_alive);
        if v5 {
            self.properties.encode(buf);
        }
        put_binary(buf, self.client_id.as_bytes());
        if let Some(w) = &self.will {
            if v5 {
                w.properties.encode(buf);
            }
            put_binary(buf, w.topic.as_bytes());
            put_binary(buf, &w.payload);
        }
        if let Some(u) = &self.username {
            put_binary(buf, u.as_bytes());
        }
        if let Some(p) = &self.password {
            put_binary(buf, p);
        }
    }
}

/// CONNACK: the server's answer to CONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    /// A v5 reason code; for 3.x it is mapped to and from the CONNACK return codes 0-5.
    /// MQTT 3.1 has no session present flag: it is always `false` there.
    pub reason_code: ReasonCode,
    pub properties: Properties,
}

impl ConnAck {
    pub(crate) fn decode(r: &mut Reader, v: ProtocolVersion) -> Result<ConnAck, DecodeError> {
        let flags = r.u8("connect acknowledge flags")?;
        // MQTT 3.1 has no session present: its first byte is an unused "topic name compression response".
        let session_present = match v {
            ProtocolVersion::V31 => false,
            _ if flags & 0xFE != 0 => return Err(DecodeError::ConnAckReservedFlags),
            _ => flags & 0x01 != 0,
        };
        let code = r.u8("connect reason code")?;
        let reason_code = if v.is_v5() {
            let rc = ReasonCode(code);
            if !rc.is_valid_for(PacketType::ConnAck) {
                return Err(DecodeError::InvalidReasonCode { packet: PacketType::ConnAck, code });
            }
            rc
        } else {
            ReasonCode::from_v3_connack(code).ok_or(DecodeError::InvalidConnAckCode(code))?
        };
        if session_present && reason_code.is_error() {
            return Err(DecodeError::SessionPresentOnError);
        }
        let properties = decode_if_v5(r, v.is_v5(), PropertyContext::ConnAck)?;
        Ok(ConnAck { session_present, reason_code, properties })
    }

    pub(crate) fn check(&self, v: ProtocolVersion) -> Result<(), EncodeError> {
        if self.session_present && self.reason_code.is_error() {
            return Err(EncodeError::SpecViolation(
                "[MQTT-3.2.2-6] session present with a failure reason code",
            ));
        }
        if v.is_v5() {
            if !self.reason_code.is_valid_for(PacketType::ConnAck) {
                return Err(EncodeError::SpecViolation("[MQTT-3.2.2.2] reason code not allowed in CONNACK"));
            }
            self.properties.check_for(PropertyContext::ConnAck)?;
        }
        Ok(())
    }

    pub(crate) fn body_len(&self, v: ProtocolVersion) -> usize {
        2 + if v.is_v5() { self.properties.wire_len() } else { 0 }
    }

    pub(crate) fn encode_body(&self, v: ProtocolVersion, buf: &mut BytesMut) {
        buf.put_u8(u8::from(self.session_present && v != ProtocolVersion::V31));
        if v.is_v5() {
            buf.put_u8(self.reason_code.0);
            self.properties.encode(buf);
        } else {
            buf.put_u8(self.reason_code.to_v3_connack());
        }
    }
}
