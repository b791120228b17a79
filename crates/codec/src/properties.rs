//! MQTT 5.0 properties (section 2.2.2). One struct holds every property; a table says which packet may carry
//! which, and decoding rejects the rest. 3.x packets carry no properties, so theirs are always empty.

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::qos::QoS;
use crate::wire::{check_len, put_binary, put_varint, varint_len, Reader, VARINT_MAX};

/// Where a property list appears: a packet type, or the will properties inside CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyContext {
    Connect,
    Will,
    ConnAck,
    Publish,
    PubAck,
    PubRec,
    PubRel,
    PubComp,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

impl PropertyContext {
    fn name(self) -> &'static str {
        match self {
            PropertyContext::Connect => "CONNECT",
            PropertyContext::Will => "will properties",
            PropertyContext::ConnAck => "CONNACK",
            PropertyContext::Publish => "PUBLISH",
            PropertyContext::PubAck => "PUBACK",
            PropertyContext::PubRec => "PUBREC",
            PropertyContext::PubRel => "PUBREL",
            PropertyContext::PubComp => "PUBCOMP",
            PropertyContext::Subscribe => "SUBSCRIBE",
            PropertyContext::SubAck => "SUBACK",
            PropertyContext::Unsubscribe => "UNSUBSCRIBE",
            PropertyContext::UnsubAck => "UNSUBACK",
            PropertyContext::Disconnect => "DISCONNECT",
            PropertyContext::Auth => "AUTH",
        }
    }
}

/// Property identifiers (MQTT 5.0 table 2-4).
pub mod id {
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    pub const SERVER_REFERENCE: u8 = 0x1C;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

/// Whether property `pid` may appear in `cx` (MQTT 5.0 table 2-4). Unknown identifiers are never allowed.
pub fn is_allowed(pid: u8, cx: PropertyContext) -> bool {
    use PropertyContext as C;
    match pid {
        id::PAYLOAD_FORMAT_INDICATOR
        | id::MESSAGE_EXPIRY_INTERVAL
        | id::CONTENT_TYPE
        | id::RESPONSE_TOPIC
        | id::CORRELATION_DATA => matches!(cx, C::Publish | C::Will),
        id::SUBSCRIPTION_IDENTIFIER => matches!(cx, C::Publish | C::Subscribe),
        id::SESSION_EXPIRY_INTERVAL => matches!(cx, C::Connect | C::ConnAck | C::Disconnect),
        id::ASSIGNED_CLIENT_IDENTIFIER | id::SERVER_KEEP_ALIVE | id::RESPONSE_INFORMATION => cx == C::ConnAck,
        id::MAXIMUM_QOS
        | id::RETAIN_AVAILABLE
        | id::WILDCARD_SUBSCRIPTION_AVAILABLE
        | id::SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | id::SHARED_SUBSCRIPTION_AVAILABLE => cx == C::ConnAck,
        id::AUTHENTICATION_METHOD | id::AUTHENTICATION_DATA => {
            matches!(cx, C::Connect | C::ConnAck | C::Auth)
        }
        id::REQUEST_PROBLEM_INFORMATION | id::REQUEST_RESPONSE_INFORMATION => cx == C::Connect,
        id::WILL_DELAY_INTERVAL => cx == C::Will,
        id::SERVER_REFERENCE => matches!(cx, C::ConnAck | C::Disconnect),
        id::REASON_STRING => !matches!(cx, C::Connect | C::Will | C::Publish | C::Subscribe | C::Unsubscribe),
        id::RECEIVE_MAXIMUM | id::TOPIC_ALIAS_MAXIMUM | id::MAXIMUM_PACKET_SIZE => {
            matches!(cx, C::Connect | C::ConnAck)
        }
        id::TOPIC_ALIAS => cx == C::Publish,
        id::USER_PROPERTY => true,
        _ => false,
    }
}

/// The spec's name of a property identifier, for messages.
pub fn property_name(pid: u8) -> &'static str {
    match pid {
        id::PAYLOAD_FORMAT_INDICATOR => "Payload Format Indicator",
        id::MESSAGE_EXPIRY_INTERVAL => "Message Expiry Interval",
        id::CONTENT_TYPE => "Content Type",
        id::RESPONSE_TOPIC => "Response Topic",
        id::CORRELATION_DATA => "Correlation Data",
        id::SUBSCRIPTION_IDENTIFIER => "Subscription Identifier",
        id::SESSION_EXPIRY_INTERVAL => "Session Expiry Interval",
        id::ASSIGNED_CLIENT_IDENTIFIER => "Assigned Client Identifier",
        id::SERVER_KEEP_ALIVE => "Server Keep Alive",
        id::AUTHENTICATION_METHOD => "Authentication Method",
        id::AUTHENTICATION_DATA => "Authentication Data",
        id::REQUEST_PROBLEM_INFORMATION => "Request Problem Information",
        id::WILL_DELAY_INTERVAL => "Will Delay Interval",
        id::REQUEST_RESPONSE_INFORMATION => "Request Response Information",
        id::RESPONSE_INFORMATION => "Response Information",
        id::SERVER_REFERENCE => "Server Reference",
        id::REASON_STRING => "Reason String",
        id::RECEIVE_MAXIMUM => "Receive Maximum",
        id::TOPIC_ALIAS_MAXIMUM => "Topic Alias Maximum",
        id::TOPIC_ALIAS => "Topic Alias",
        id::MAXIMUM_QOS => "Maximum QoS",
        id::RETAIN_AVAILABLE => "Retain Available",
        id::USER_PROPERTY => "User Property",
        id::MAXIMUM_PACKET_SIZE => "Maximum Packet Size",
        id::WILDCARD_SUBSCRIPTION_AVAILABLE => "Wildcard Subscription Available",
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => "Subscription Identifier Available",
        id::SHARED_SUBSCRIPTION_AVAILABLE => "Shared Subscription Available",
        _ => "property",
    }
}

/// Whether `pid` is a property identifier MQTT 5.0 defines.
pub fn is_known(pid: u8) -> bool {
    property_name(pid) != "property"
}

/// Every MQTT 5.0 property. `None` (or an empty list) means absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// 0x01: `Some(true)` says the payload is UTF-8.
    pub payload_format_indicator: Option<bool>,
    /// 0x02, seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x03
    pub content_type: Option<ByteString>,
    /// 0x08
    pub response_topic: Option<ByteString>,
    /// 0x09
    pub correlation_data: Option<Bytes>,
    /// 0x0B: one in SUBSCRIBE, one per matching subscription in PUBLISH.
    pub subscription_identifiers: Vec<u32>,
    /// 0x11, seconds.
    pub session_expiry_interval: Option<u32>,
    /// 0x12
    pub assigned_client_identifier: Option<ByteString>,
    /// 0x13, seconds.
    pub server_keep_alive: Option<u16>,
    /// 0x15
    pub authentication_method: Option<ByteString>,
    /// 0x16
    pub authentication_data: Option<Bytes>,
    /// 0x17
    pub request_problem_information: Option<bool>,
    /// 0x18, seconds.
    pub will_delay_interval: Option<u32>,
    /// 0x19
    pub request_response_information: Option<bool>,
    /// 0x1A
    pub response_information: Option<ByteString>,
    /// 0x1C
    pub server_reference: Option<ByteString>,
    /// 0x1F
    pub reason_string: Option<ByteString>,
    /// 0x21, never 0.
    pub receive_maximum: Option<u16>,
    /// 0x22
    pub topic_alias_maximum: Option<u16>,
    /// 0x23, never 0.
    pub topic_alias: Option<u16>,
    /// 0x24: 0 or 1 only.
    pub maximum_qos: Option<QoS>,
    /// 0x25
    pub retain_available: Option<bool>,
    /// 0x26, in order, duplicates allowed.
    pub user_properties: Vec<(ByteString, ByteString)>,
    /// 0x27, never 0.
    pub maximum_packet_size: Option<u32>,
    /// 0x28
    pub wildcard_subscription_available: Option<bool>,
    /// 0x29
    pub subscription_identifier_available: Option<bool>,
    /// 0x2A
    pub shared_subscription_available: Option<bool>,
}

fn s(v: &Option<ByteString>) -> Option<&[u8]> {
    v.as_ref().map(|s| s.as_bytes().as_ref())
}
fn b(v: &Option<Bytes>) -> Option<&[u8]> {
    v.as_ref().map(|b| b.as_ref())
}
fn str_len(s: &Option<ByteString>) -> usize {
    s.as_ref().map_or(0, |s| 3 + s.len())
}
fn bin_len(b: &Option<Bytes>) -> usize {
    b.as_ref().map_or(0, |b| 3 + b.len())
}
fn opt_len<T>(v: &Option<T>, n: usize) -> usize {
    v.as_ref().map_or(0, |_| 1 + n)
}

impl Properties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        *self == Properties::default()
    }

    /// Length of the encoded properties, without the Property Length prefix.
    pub fn encoded_len(&self) -> usize {
        opt_len(&self.payload_format_indicator, 1)
            + opt_len(&self.message_expiry_interval, 4)
            + str_len(&self.content_type)
            + str_len(&self.response_topic)
            + bin_len(&self.correlation_data)
            + self.subscription_identifiers.iter().map(|v| 1 + varint_len(*v as usize)).sum::<usize>()
            + opt_len(&self.session_expiry_interval, 4)
            + str_len(&self.assigned_client_identifier)
            + opt_len(&self.server_keep_alive, 2)
            + str_len(&self.authentication_method)
            + bin_len(&self.authentication_data)
            + opt_len(&self.request_problem_information, 1)
            + opt_len(&self.will_delay_interval, 4)
            + opt_len(&self.request_response_information, 1)
            + str_len(&self.response_information)
            + str_len(&self.server_reference)
            + str_len(&self.reason_string)
            + opt_len(&self.receive_maximum, 2)
            + opt_len(&self.topic_alias_maximum, 2)
            + opt_len(&self.topic_alias, 2)
            + opt_len(&self.maximum_qos, 1)
            + opt_len(&self.retain_available, 1)
            + self.user_properties.iter().map(|(k, v)| 5 + k.len() + v.len()).sum::<usize>()
            + opt_len(&self.maximum_packet_size, 4)
            + opt_len(&self.wildcard_subscription_available, 1)
            + opt_len(&self.subscription_identifier_available, 1)
            + opt_len(&self.shared_subscription_available, 1)
    }

    /// Length including the Property Length prefix.
    pub fn wire_len(&self) -> usize {
        let len = self.encoded_len();
        varint_len(len) + len
    }

    /// Calls `f` with the identifier of every property that is set (once per list entry).
    fn for_each_present(&self, mut f: impl FnMut(u8)) {
        let mut one = |present: bool, pid: u8| {
            if present {
                f(pid)
            }
        };
        one(self.payload_format_indicator.is_some(), id::PAYLOAD_FORMAT_INDICATOR);
        one(self.message_expiry_interval.is_some(), id::MESSAGE_EXPIRY_INTERVAL);
        one(self.content_type.is_some(), id::CONTENT_TYPE);
        one(self.response_topic.is_some(), id::RESPONSE_TOPIC);
        one(self.correlation_data.is_some(), id::CORRELATION_DATA);
        for _ in &self.subscription_identifiers {
            one(true, id::SUBSCRIPTION_IDENTIFIER);
        }
        one(self.session_expiry_interval.is_some(), id::SESSION_EXPIRY_INTERVAL);
        one(self.assigned_client_identifier.is_some(), id::ASSIGNED_CLIENT_IDENTIFIER);
        one(self.server_keep_alive.is_some(), id::SERVER_KEEP_ALIVE);
        one(self.authentication_method.is_some(), id::AUTHENTICATION_METHOD);
        one(self.authentication_data.is_some(), id::AUTHENTICATION_DATA);
        one(self.request_problem_information.is_some(), id::REQUEST_PROBLEM_INFORMATION);
        one(self.will_delay_interval.is_some(), id::WILL_DELAY_INTERVAL);
        one(self.request_response_information.is_some(), id::REQUEST_RESPONSE_INFORMATION);
        one(self.response_information.is_some(), id::RESPONSE_INFORMATION);
        one(self.server_reference.is_some(), id::SERVER_REFERENCE);
        one(self.reason_string.is_some(), id::REASON_STRING);
        one(self.receive_maximum.is_some(), id::RECEIVE_MAXIMUM);
        one(self.topic_alias_maximum.is_some(), id::TOPIC_ALIAS_MAXIMUM);
        one(self.topic_alias.is_some(), id::TOPIC_ALIAS);
        one(self.maximum_qos.is_some(), id::MAXIMUM_QOS);
        one(self.retain_available.is_some(), id::RETAIN_AVAILABLE);
        for _ in &self.user_properties {
            one(true, id::USER_PROPERTY);
        }
        one(self.maximum_packet_size.is_some(), id::MAXIMUM_PACKET_SIZE);
        one(self.wildcard_subscription_available.is_some(), id::WILDCARD_SUBSCRIPTION_AVAILABLE);
        one(self.subscription_identifier_available.is_some(), id::SUBSCRIPTION_IDENTIFIER_AVAILABLE);
        one(self.shared_subscription_available.is_some(), id::SHARED_SUBSCRIPTION_AVAILABLE);
    }

    /// Checks, before a 5.0 packet is encoded, that the properties fit `cx` and hold values the receiver's
    /// decoder accepts: each property allowed there (table 2-4), lengths within 65,535 bytes, no zero where
    /// the spec forbids it.
    pub(crate) fn check_for(&self, cx: PropertyContext) -> Result<(), EncodeError> {
        let mut not_allowed = None;
        self.for_each_present(|pid| {
            if not_allowed.is_none() && !is_allowed(pid, cx) {
                not_allowed = Some(pid);
            }
        });
        if let Some(id) = not_allowed {
            return Err(EncodeError::PropertyNotAllowed { id, packet: cx.name() });
        }
        if cx != PropertyContext::Publish && self.subscription_identifiers.len() > 1 {
            return Err(EncodeError::SpecViolation("[MQTT-3.8.2.1.2] more than one subscription identifier"));
        }
        if self.topic_alias == Some(0) {
            return Err(EncodeError::SpecViolation("[MQTT-3.3.2-8] topic alias 0"));
        }
        if self.receive_maximum == Some(0) || self.maximum_packet_size == Some(0) {
            return Err(EncodeError::SpecViolation(
                "[MQTT-3.1.2.11] receive maximum or maximum packet size 0",
            ));
        }
        if self.maximum_qos == Some(QoS::ExactlyOnce) {
            return Err(EncodeError::SpecViolation("[MQTT-3.2.2.3.4] maximum QoS 2 is not sent"));
        }
        if self.authentication_data.is_some()
            && self.authentication_method.is_none()
            && cx == PropertyContext::Connect
        {
            return Err(EncodeError::SpecViolation(
                "[MQTT-3.1.2.11.10] authentication data without an authentication method",
            ));
        }
        self.check()
    }

    /// Checks what encoding cannot represent: over-long strings, out-of-range subscription identifiers.
    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        for s in [
            &self.content_type,
            &self.response_topic,
            &self.assigned_client_identifier,
            &self.authentication_method,
            &self.response_information,
            &self.server_reference,
            &self.reason_string,
        ]
        .into_iter()
        .flatten()
        {
            check_len(s.len(), "property string")?;
        }
        for b in [&self.correlation_data, &self.authentication_data].into_iter().flatten() {
            check_len(b.len(), "property binary data")?;
        }
        for (k, v) in &self.user_properties {
            check_len(k.len(), "user property name")?;
            check_len(v.len(), "user property value")?;
        }
        for &sid in &self.subscription_identifiers {
            if sid == 0 || sid > VARINT_MAX {
                return Err(EncodeError::SubscriptionIdOutOfRange(sid));
            }
        }
        Ok(())
    }

    /// Writes the Property Length and the properties, in identifier order.
    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        put_varint(buf, self.encoded_len());
        let flag = |buf: &mut BytesMut, pid: u8, v: Option<bool>| {
            if let Some(v) = v {
                buf.put_u8(pid);
                buf.put_u8(u8::from(v));
            }
        };
        let u16p = |buf: &mut BytesMut, pid: u8, v: Option<u16>| {
            if let Some(v) = v {
                buf.put_u8(pid);
                buf.put_u16(v);
            }
        };
        let u32p = |buf: &mut BytesMut, pid: u8, v: Option<u32>| {
            if let Some(v) = v {
                buf.put_u8(pid);
                buf.put_u32(v);
            }
        };
        let bin = |buf: &mut BytesMut, pid: u8, v: Option<&[u8]>| {
            if let Some(v) = v {
                buf.put_u8(pid);
                put_binary(buf, v);
            }
        };

        flag(buf, id::PAYLOAD_FORMAT_INDICATOR, self.payload_format_indicator);
        u32p(buf, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        bin(buf, id::CONTENT_TYPE, s(&self.content_type));
        bin(buf, id::RESPONSE_TOPIC, s(&self.response_topic));
        bin(buf, id::CORRELATION_DATA, b(&self.correlation_data));
        for &sid in &self.subscription_identifiers {
            buf.put_u8(id::SUBSCRIPTION_IDENTIFIER);
            put_varint(buf, sid as usize);
        }
        u32p(buf, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        bin(buf, id::ASSIGNED_CLIENT_IDENTIFIER, s(&self.assigned_client_identifier));
        u16p(buf, id::SERVER_KEEP_ALIVE, self.server_keep_alive);
        bin(buf, id::AUTHENTICATION_METHOD, s(&self.authentication_method));
        bin(buf, id::AUTHENTICATION_DATA, b(&self.authentication_data));
        flag(buf, id::REQUEST_PROBLEM_INFORMATION, self.request_problem_information);
        u32p(buf, id::WILL_DELAY_INTERVAL, self.will_delay_interval);
        flag(buf, id::REQUEST_RESPONSE_INFORMATION, self.request_response_information);
        bin(buf, id::RESPONSE_INFORMATION, s(&self.response_information));
        bin(buf, id::SERVER_REFERENCE, s(&self.server_reference));
        bin(buf, id::REASON_STRING, s(&self.reason_string));
        u16p(buf, id::RECEIVE_MAXIMUM, self.receive_maximum);
        u16p(buf, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        u16p(buf, id::TOPIC_ALIAS, self.topic_alias);
        if let Some(q) = self.maximum_qos {
            buf.put_u8(id::MAXIMUM_QOS);
            buf.put_u8(q.as_u8());
        }
        flag(buf, id::RETAIN_AVAILABLE, self.retain_available);
        for (k, v) in &self.user_properties {
            buf.put_u8(id::USER_PROPERTY);
            put_binary(buf, k.as_bytes());
            put_binary(buf, v.as_bytes());
        }
        u32p(buf, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        flag(buf, id::WILDCARD_SUBSCRIPTION_AVAILABLE, self.wildcard_subscription_available);
        flag(buf, id::SUBSCRIPTION_IDENTIFIER_AVAILABLE, self.subscription_identifier_available);
        flag(buf, id::SHARED_SUBSCRIPTION_AVAILABLE, self.shared_subscription_available);
    }

    /// Reads a Property Length and the properties it covers, allowing only those valid in `cx`.
    pub(crate) fn decode(r: &mut Reader, cx: PropertyContext) -> Result<Properties, DecodeError> {
        let len = r.varint("property length")? as usize;
        if len > r.remaining() {
            return Err(DecodeError::PropertyLengthMismatch { declared: len, actual: r.remaining() });
        }
        let mut r = Reader::new(r.take(len, "properties")?);
        let mut p = Properties::default();
        while !r.is_empty() {
            // The identifier is a Variable Byte Integer, but every defined one fits its first byte: a byte
            // with the continuation bit can only start an unknown identifier.
            let pid = r.u8("property identifier")?;
            if !is_known(pid) {
                return Err(DecodeError::UnknownProperty(pid));
            }
            if !is_allowed(pid, cx) {
                return Err(DecodeError::PropertyNotAllowed { id: pid, packet: cx.name() });
            }
            p.decode_one(pid, &mut r, cx)?;
        }
        if cx == PropertyContext::Connect
            && p.authentication_data.is_some()
            && p.authentication_method.is_none()
        {
            return Err(DecodeError::AuthDataWithoutMethod);
        }
        Ok(p)
    }

    fn decode_one(&mut self, pid: u8, r: &mut Reader, cx: PropertyContext) -> Result<(), DecodeError> {
        fn once<T>(slot: &mut Option<T>, pid: u8, v: T) -> Result<(), DecodeError> {
            if slot.is_some() {
                return Err(DecodeError::DuplicateProperty(pid));
            }
            *slot = Some(v);
            Ok(())
        }
        fn flag(r: &mut Reader, pid: u8) -> Result<bool, DecodeError> {
            match r.u8("property value")? {
                0 => Ok(false),
                1 => Ok(true),
                v => Err(DecodeError::InvalidPropertyValue { id: pid, value: v.into() }),
            }
        }
        fn nonzero<T: Into<u32> + Copy>(pid: u8, v: T) -> Result<T, DecodeError> {
            if v.into() == 0 {
                Err(DecodeError::InvalidPropertyValue { id: pid, value: 0 })
            } else {
                Ok(v)
            }
        }
        const F: &str = "property value";
        match pid {
            id::PAYLOAD_FORMAT_INDICATOR => once(&mut self.payload_format_indicator, pid, flag(r, pid)?),
            id::MESSAGE_EXPIRY_INTERVAL => once(&mut self.message_expiry_interval, pid, r.u32(F)?),
            id::CONTENT_TYPE => once(&mut self.content_type, pid, r.string("content type")?),
            id::RESPONSE_TOPIC => {
                let topic = r.string("response topic")?;
                // [MQTT-3.3.2-14] The Response Topic is a topic name: no wildcards, not empty.
                if crate::topic::validate_topic_name(&topic).is_err() {
                    return Err(DecodeError::InvalidResponseTopic(topic.to_string()));
                }
                once(&mut self.response_topic, pid, topic)
            }
            id::CORRELATION_DATA => once(&mut self.correlation_data, pid, r.binary("correlation data")?),
            id::SUBSCRIPTION_IDENTIFIER => {
                let sid = nonzero(pid, r.varint("subscription identifier")?)?;
                // Only PUBLISH may carry several [MQTT-3.8.2.1.2].
                if cx != PropertyContext::Publish && !self.subscription_identifiers.is_empty() {
                    return Err(DecodeError::DuplicateProperty(pid));
                }
                self.subscription_identifiers.push(sid);
                Ok(())
            }
            id::SESSION_EXPIRY_INTERVAL => once(&mut self.session_expiry_interval, pid, r.u32(F)?),
            id::ASSIGNED_CLIENT_IDENTIFIER => {
                once(&mut self.assigned_client_identifier, pid, r.string("assigned client identifier")?)
            }
            id::SERVER_KEEP_ALIVE => once(&mut self.server_keep_alive, pid, r.u16(F)?),
            id::AUTHENTICATION_METHOD => {
                once(&mut self.authentication_method, pid, r.string("authentication method")?)
            }
            id::AUTHENTICATION_DATA => {
                once(&mut self.authentication_data, pid, r.binary("authentication data")?)
            }
            id::REQUEST_PROBLEM_INFORMATION => {
                once(&mut self.request_problem_information, pid, flag(r, pid)?)
            }
            id::WILL_DELAY_INTERVAL => once(&mut self.will_delay_interval, pid, r.u32(F)?),
            id::REQUEST_RESPONSE_INFORMATION => {
                once(&mut self.request_response_information, pid, flag(r, pid)?)
            }
            id::RESPONSE_INFORMATION => {
                once(&mut self.response_information, pid, r.string("response information")?)
            }
            id::SERVER_REFERENCE => once(&mut self.server_reference, pid, r.string("server reference")?),
            id::REASON_STRING => once(&mut self.reason_string, pid, r.string("reason string")?),
            id::RECEIVE_MAXIMUM => once(&mut self.receive_maximum, pid, nonzero(pid, r.u16(F)?)?),
            id::TOPIC_ALIAS_MAXIMUM => once(&mut self.topic_alias_maximum, pid, r.u16(F)?),
            id::TOPIC_ALIAS => {
                let alias = r.u16(F)?;
                if alias == 0 {
                    return Err(DecodeError::TopicAliasZero);
                }
                once(&mut self.topic_alias, pid, alias)
            }
            id::MAXIMUM_QOS => {
                let q = match r.u8(F)? {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    v => return Err(DecodeError::InvalidPropertyValue { id: pid, value: v.into() }),
                };
                once(&mut self.maximum_qos, pid, q)
            }
            id::RETAIN_AVAILABLE => once(&mut self.retain_available, pid, flag(r, pid)?),
            id::USER_PROPERTY => {
                let k = r.string("user property name")?;
                let v = r.string("user property value")?;
                self.user_properties.push((k, v));
                Ok(())
            }
            id::MAXIMUM_PACKET_SIZE => once(&mut self.maximum_packet_size, pid, nonzero(pid, r.u32(F)?)?),
            id::WILDCARD_SUBSCRIPTION_AVAILABLE => {
                once(&mut self.wildcard_subscription_available, pid, flag(r, pid)?)
            }
            id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
                once(&mut self.subscription_identifier_available, pid, flag(r, pid)?)
            }
            id::SHARED_SUBSCRIPTION_AVAILABLE => {
                once(&mut self.shared_subscription_available, pid, flag(r, pid)?)
            }
            other => Err(DecodeError::UnknownProperty(other)),
        }
    }
}

/// Decodes properties only in MQTT 5.0; earlier versions have none.
pub(crate) fn decode_if_v5(r: &mut Reader, v5: bool, cx: PropertyContext) -> Result<Properties, DecodeError> {
    if v5 {
        Properties::decode(r, cx)
    } else {
        Ok(Properties::default())
    }
}
