//! MQTT 5.0 reason codes (section 2.4), and their MQTT 3.x equivalents.
//!
//! The packet model speaks v5 reason codes for every version; the codec maps them to the 3.x CONNACK return
//! codes and SUBACK return codes when it encodes or decodes a 3.x packet.

use std::fmt;

use crate::packet::PacketType;

/// A one-byte MQTT 5.0 reason code. Several names share a value (0x00 is Success, Normal disconnection and
/// Granted QoS 0), so this is a newtype with named constants rather than an enum.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ReasonCode(pub u8);

macro_rules! reason_codes {
    ($( $(#[$doc:meta])* $name:ident = $value:expr, $text:expr; )*) => {
        impl ReasonCode {
            $( $(#[$doc])* pub const $name: ReasonCode = ReasonCode($value); )*
        }
        /// The spec's name for a reason code value (the first name where several share it).
        fn reason_text(code: u8) -> Option<&'static str> {
            match code {
                $( $value => Some($text), )*
                _ => None,
            }
        }
    };
}

reason_codes! {
    SUCCESS = 0x00, "Success";
    GRANTED_QOS_1 = 0x01, "Granted QoS 1";
    GRANTED_QOS_2 = 0x02, "Granted QoS 2";
    DISCONNECT_WITH_WILL_MESSAGE = 0x04, "Disconnect with Will Message";
    NO_MATCHING_SUBSCRIBERS = 0x10, "No matching subscribers";
    NO_SUBSCRIPTION_EXISTED = 0x11, "No subscription existed";
    CONTINUE_AUTHENTICATION = 0x18, "Continue authentication";
    RE_AUTHENTICATE = 0x19, "Re-authenticate";
    UNSPECIFIED_ERROR = 0x80, "Unspecified error";
    MALFORMED_PACKET = 0x81, "Malformed Packet";
    PROTOCOL_ERROR = 0x82, "Protocol Error";
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83, "Implementation specific error";
    UNSUPPORTED_PROTOCOL_VERSION = 0x84, "Unsupported Protocol Version";
    CLIENT_IDENTIFIER_NOT_VALID = 0x85, "Client Identifier not valid";
    BAD_USER_NAME_OR_PASSWORD = 0x86, "Bad User Name or Password";
    NOT_AUTHORIZED = 0x87, "Not authorized";
    SERVER_UNAVAILABLE = 0x88, "Server unavailable";
    SERVER_BUSY = 0x89, "Server busy";
    BANNED = 0x8A, "Banned";
    SERVER_SHUTTING_DOWN = 0x8B, "Server shutting down";
    BAD_AUTHENTICATION_METHOD = 0x8C, "Bad authentication method";
    KEEP_ALIVE_TIMEOUT = 0x8D, "Keep Alive timeout";
    SESSION_TAKEN_OVER = 0x8E, "Session taken over";
    TOPIC_FILTER_INVALID = 0x8F, "Topic Filter invalid";
    TOPIC_NAME_INVALID = 0x90, "Topic Name invalid";
    PACKET_IDENTIFIER_IN_USE = 0x91, "Packet Identifier in use";
    PACKET_IDENTIFIER_NOT_FOUND = 0x92, "Packet Identifier not found";
    RECEIVE_MAXIMUM_EXCEEDED = 0x93, "Receive Maximum exceeded";
    TOPIC_ALIAS_INVALID = 0x94, "Topic Alias invalid";
    PACKET_TOO_LARGE = 0x95, "Packet too large";
    MESSAGE_RATE_TOO_HIGH = 0x96, "Message rate too high";
    QUOTA_EXCEEDED = 0x97, "Quota exceeded";
    ADMINISTRATIVE_ACTION = 0x98, "Administrative action";
    PAYLOAD_FORMAT_INVALID = 0x99, "Payload format invalid";
    RETAIN_NOT_SUPPORTED = 0x9A, "Retain not supported";
    QOS_NOT_SUPPORTED = 0x9B, "QoS not supported";
    USE_ANOTHER_SERVER = 0x9C, "Use another server";
    SERVER_MOVED = 0x9D, "Server moved";
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E, "Shared Subscriptions not supported";
    CONNECTION_RATE_EXCEEDED = 0x9F, "Connection rate exceeded";
    MAXIMUM_CONNECT_TIME = 0xA0, "Maximum connect time";
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1, "Subscription Identifiers not supported";
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2, "Wildcard Subscriptions not supported";
}

impl ReasonCode {
    /// Normal disconnection (0x00 in DISCONNECT).
    pub const NORMAL_DISCONNECTION: ReasonCode = ReasonCode(0x00);
    /// Granted QoS 0 (0x00 in SUBACK).
    pub const GRANTED_QOS_0: ReasonCode = ReasonCode(0x00);

    /// Reason codes of 0x80 and above report a failure.
    pub const fn is_error(self) -> bool {
        self.0 >= 0x80
    }

    /// The spec's name of this code, if it is a defined one.
    pub fn name(self) -> Option<&'static str> {
        reason_text(self.0)
    }

    /// The granted-QoS reason code for a QoS.
    pub const fn granted(qos: crate::QoS) -> ReasonCode {
        ReasonCode(qos as u8)
    }

    /// Whether this code may appear in a packet of the given type (MQTT 5.0 tables in 3.x.2.1).
    pub fn is_valid_for(self, packet: PacketType) -> bool {
        let c = self.0;
        match packet {
            PacketType::ConnAck => {
                c == 0x00 || matches!(c, 0x80..=0x8A | 0x8C | 0x90 | 0x95 | 0x97 | 0x99..=0x9D | 0x9F)
            }
            PacketType::PubAck | PacketType::PubRec => {
                matches!(c, 0x00 | 0x10 | 0x80 | 0x83 | 0x87 | 0x90 | 0x91 | 0x97 | 0x99)
            }
            PacketType::PubRel | PacketType::PubComp => matches!(c, 0x00 | 0x92),
            PacketType::SubAck => {
                matches!(c, 0x00..=0x02 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91 | 0x97 | 0x9E | 0xA1 | 0xA2)
            }
            PacketType::UnsubAck => matches!(c, 0x00 | 0x11 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91),
            PacketType::Disconnect => {
                matches!(c, 0x00 | 0x04 | 0x80..=0x83 | 0x87 | 0x89 | 0x8B | 0x8D..=0x90 | 0x93..=0xA2)
            }
            PacketType::Auth => matches!(c, 0x00 | 0x18 | 0x19),
            _ => false,
        }
    }

    /// The MQTT 3.1/3.1.1 CONNACK return code that carries this reason (3.2.2.3 of 3.1.1).
    pub const fn to_v3_connack(self) -> u8 {
        match self.0 {
            0x00 => 0,
            0x84 => 1,
            0x85 => 2,
            0x86 => 4,
            0x87 | 0x8A => 5,
            _ => 3,
        }
    }

    /// The reason code for a 3.1/3.1.1 CONNACK return code, if the return code is defined.
    pub const fn from_v3_connack(code: u8) -> Option<ReasonCode> {
        match code {
            0 => Some(ReasonCode::SUCCESS),
            1 => Some(ReasonCode::UNSUPPORTED_PROTOCOL_VERSION),
            2 => Some(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID),
            3 => Some(ReasonCode::SERVER_UNAVAILABLE),
            4 => Some(ReasonCode::BAD_USER_NAME_OR_PASSWORD),
            5 => Some(ReasonCode::NOT_AUTHORIZED),
            _ => None,
        }
    }

    /// The 3.1.1 SUBACK return code for this reason: the granted QoS, or 0x80 for any failure.
    pub const fn to_v3_suback(self) -> u8 {
        if self.0 <= 2 {
            self.0
        } else {
            0x80
        }
    }
}

impl fmt::Debug for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "ReasonCode(0x{:02X} {name})", self.0),
            None => write!(f, "ReasonCode(0x{:02X})", self.0),
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:02X})", self.0),
            None => write!(f, "reason code 0x{:02X}", self.0),
        }
    }
}
