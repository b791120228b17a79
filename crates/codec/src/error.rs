//! Decoding and encoding errors. Each names the spec rule it enforces and maps, in [`DecodeError::reason_code`],
//! to the MQTT 5.0 reason code a receiver answers with (in DISCONNECT or CONNACK); a 3.x receiver closes the
//! network connection instead.
//!
//! Rule ids are those of MQTT 5.0 (`[MQTT-3.3.1-4]`); where 3.1.1 numbers the same rule differently, the
//! message says so. A rule the spec states without a conformance number is cited by its section
//! (`[MQTT-2.1.4]`: section 2.1.4).

use crate::packet::PacketType;
use crate::properties::property_name;
use crate::reason::ReasonCode;

/// Why a frame could not be decoded. The `Display` text starts with the spec rule it enforces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("[MQTT-1.5.5] remaining length is longer than 4 bytes (3.1.1: section 2.2.3)")]
    RemainingLengthTooLong,
    #[error("[MQTT-1.5.5] {0} is a variable byte integer longer than 4 bytes")]
    VarIntTooLong(&'static str),
    #[error("[MQTT-1.5.5-1] {0} is not encoded in the minimum number of bytes")]
    VarIntNotMinimal(&'static str),
    #[error(
        "[MQTT-3.2.2-15] packet of {size} bytes exceeds the maximum packet size of {max} bytes \
         (client side: MQTT-3.1.2-24)"
    )]
    PacketTooLarge { size: u64, max: u32 },
    #[error("[MQTT-2.1.2] packet type {0} is reserved (3.1.1: section 2.2.1)")]
    ReservedPacketType(u8),
    #[error("[{}] invalid fixed header flags {flags:#06b} for {packet:?} (3.1.1: MQTT-2.2.2-2)", flags_rule(*.packet))]
    InvalidFlags { packet: PacketType, flags: u8 },
    #[error("[MQTT-3.3.1-4] PUBLISH with QoS 3")]
    InvalidQoS,
    #[error("[MQTT-3.3.1-2] DUP flag set on a QoS 0 PUBLISH")]
    DupOnQoS0,
    #[error("[MQTT-2.2.1-3] packet identifier is zero (3.1.1: MQTT-2.3.1-1)")]
    ZeroPacketId,
    #[error("[MQTT-2.1.4] {0} runs past the end of the packet (3.1.1: section 2.2.3)")]
    Truncated(&'static str),
    #[error("[MQTT-2.1.4] {0} bytes left over after the last field of the packet (3.1.1: section 2.2.3)")]
    TrailingBytes(usize),
    #[error("[MQTT-1.5.4-1] {0} is not well-formed UTF-8 (3.1.1: MQTT-1.5.3-1)")]
    InvalidUtf8(&'static str),
    #[error("[MQTT-1.5.4-2] {0} contains U+0000 (3.1.1: MQTT-1.5.3-2)")]
    NullCharacter(&'static str),
    #[error("[MQTT-3.1.2-1] protocol name {0:?} is not \"MQTT\" (or \"MQIsdp\" for MQTT 3.1)")]
    InvalidProtocolName(String),
    #[error("[MQTT-3.1.2-2] unsupported protocol level {0}")]
    UnsupportedProtocolVersion(u8),
    #[error("[MQTT-3.1.2-3] reserved CONNECT flag is set")]
    ConnectReservedFlag,
    #[error("[MQTT-3.1.2-11] will QoS is set but the will flag is not (3.1.1: MQTT-3.1.2-13)")]
    WillQoSWithoutWill,
    #[error("[MQTT-3.1.2-12] will QoS 3 (3.1.1: MQTT-3.1.2-14)")]
    WillQoSInvalid,
    #[error("[MQTT-3.1.2-13] will retain is set but the will flag is not (3.1.1: MQTT-3.1.2-15)")]
    WillRetainWithoutWill,
    #[error("[MQTT-3.1.2-22] password flag without user name flag (MQTT 3.1 and 3.1.1 only)")]
    PasswordWithoutUsername,
    #[error("[MQTT-3.1.2.11.10] authentication data without an authentication method")]
    AuthDataWithoutMethod,
    #[error("[MQTT-3.2.2-1] reserved CONNACK flags are set (3.1.1: section 3.2.2.1)")]
    ConnAckReservedFlags,
    #[error("[MQTT-3.2.2-6] session present set with a non-zero CONNACK reason (3.1.1: MQTT-3.2.2-4)")]
    SessionPresentOnError,
    #[error("[MQTT-3.3.2-2] topic name {0:?} contains a wildcard")]
    WildcardInTopicName(String),
    #[error("[MQTT-4.7.3-1] topic name is empty")]
    EmptyTopicName,
    #[error("[MQTT-3.3.2-8] topic alias 0 is not permitted")]
    TopicAliasZero,
    #[error("[MQTT-3.3.2-14] response topic {0:?} is not a valid topic name")]
    InvalidResponseTopic(String),
    #[error("{reason} in topic filter {filter:?}")]
    InvalidTopicFilter { filter: String, reason: crate::topic::TopicError },
    #[error("[MQTT-3.8.3-2] SUBSCRIBE without a topic filter (3.1.1: MQTT-3.8.3-3)")]
    EmptySubscribe,
    #[error("[MQTT-3.10.3-2] UNSUBSCRIBE without a topic filter")]
    EmptyUnsubscribe,
    #[error("[MQTT-3.8.3-5] reserved subscription option bits are set (3.1.1: MQTT-3.8.3-4)")]
    SubscriptionOptionsReserved,
    #[error("[MQTT-3.8.3.1] subscription with maximum QoS 3 (3.1.1: MQTT-3.8.3-4)")]
    SubscriptionQoSInvalid,
    #[error("[MQTT-3.8.3.1] retain handling 3 is not defined")]
    InvalidRetainHandling,
    #[error("[MQTT-3.8.3-4] No Local on a shared subscription")]
    NoLocalOnSharedSubscription,
    #[error("[MQTT-3.8.4-6] SUBACK without a reason code (3.1.1: MQTT-3.8.4-5)")]
    EmptySubAck,
    #[error("[MQTT-3.11.3-1] UNSUBACK without a reason code")]
    EmptyUnsubAck,
    #[error("[MQTT-3.9.3-2] SUBACK return code {0:#04x} is not 0x00, 0x01, 0x02 or 0x80 (3.1.1)")]
    InvalidSubAckCode(u8),
    #[error("[MQTT-3.2.2.3] CONNACK return code {0} is reserved (3.1.1)")]
    InvalidConnAckCode(u8),
    #[error("[{}] reason code {code:#04x} is not allowed in {packet:?}", reason_rule(*.packet))]
    InvalidReasonCode { packet: PacketType, code: u8 },
    #[error("[MQTT-2.2.2.2] unknown property identifier {0:#04x}")]
    UnknownProperty(u8),
    #[error("[MQTT-2.2.2.2] {} ({id:#04x}) is not allowed in {packet}", property_name(*.id))]
    PropertyNotAllowed { id: u8, packet: &'static str },
    #[error("[MQTT-2.2.2.2] {name} ({0:#04x}) appears more than once", name = property_name(*.0))]
    DuplicateProperty(u8),
    #[error("[MQTT-2.2.2.2] {} ({id:#04x}) has the invalid value {value}", property_name(*.id))]
    InvalidPropertyValue { id: u8, value: u32 },
    #[error("[MQTT-2.2.2.1] property length {declared} is more than the {actual} bytes left in the packet")]
    PropertyLengthMismatch { declared: usize, actual: usize },
    #[error("[MQTT-3.3.2.1] PUBLISH with an empty topic name and no topic alias")]
    EmptyTopicWithoutAlias,
    #[error("[MQTT-2.1.2] packet type 15 (AUTH) is reserved in MQTT {0} (3.1.1: section 2.2.1)")]
    AuthBeforeV5(crate::ProtocolVersion),
}

/// The rule on the fixed header flags of `packet`: the packet's own where it has one, the general one else.
fn flags_rule(packet: PacketType) -> &'static str {
    match packet {
        PacketType::PubRel => "MQTT-3.6.1-1",
        PacketType::Subscribe => "MQTT-3.8.1-1",
        PacketType::Unsubscribe => "MQTT-3.10.1-1",
        PacketType::Disconnect => "MQTT-3.14.1-1",
        PacketType::Auth => "MQTT-3.15.1-1",
        _ => "MQTT-2.1.3-1",
    }
}

/// The rule listing the reason codes a packet may carry.
fn reason_rule(packet: PacketType) -> &'static str {
    match packet {
        PacketType::ConnAck => "MQTT-3.2.2.2",
        PacketType::PubAck => "MQTT-3.4.2-1",
        PacketType::PubRec => "MQTT-3.5.2-1",
        PacketType::PubRel => "MQTT-3.6.2-1",
        PacketType::PubComp => "MQTT-3.7.2-1",
        PacketType::SubAck => "MQTT-3.9.3-2",
        PacketType::UnsubAck => "MQTT-3.11.3-2",
        PacketType::Disconnect => "MQTT-3.14.2-1",
        PacketType::Auth => "MQTT-3.15.2-1",
        _ => "MQTT-2.4",
    }
}

impl DecodeError {
    /// The MQTT 5.0 reason code a receiver answers this error with. This is the one place the mapping lives.
    ///
    /// 0x81 Malformed Packet is for bytes that do not follow the format; 0x82 Protocol Error for well-formed
    /// packets the spec forbids ("It is a Protocol Error to ..."). Bad topic names and filters are malformed:
    /// 0x8F and 0x90 are, per their definitions, for correctly formed topics the receiver does not accept.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            // [MQTT-3.1.2-1] A server that reveals it speaks MQTT answers a bad protocol name with 0x84.
            UnsupportedProtocolVersion(_) | InvalidProtocolName(_) => {
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
            }
            TopicAliasZero => ReasonCode::TOPIC_ALIAS_INVALID,
            ZeroPacketId
            | EmptySubscribe
            | EmptyUnsubscribe
            | EmptySubAck
            | EmptyUnsubAck
            | SubscriptionQoSInvalid
            | InvalidRetainHandling
            | NoLocalOnSharedSubscription
            | DuplicateProperty(_)
            | InvalidPropertyValue { .. }
            | AuthDataWithoutMethod
            | EmptyTopicWithoutAlias
            | SessionPresentOnError
            | InvalidReasonCode { .. } => ReasonCode::PROTOCOL_ERROR,
            RemainingLengthTooLong
            | VarIntTooLong(_)
            | VarIntNotMinimal(_)
            | ReservedPacketType(_)
            | InvalidFlags { .. }
            | InvalidQoS
            | DupOnQoS0
            | Truncated(_)
            | TrailingBytes(_)
            | InvalidUtf8(_)
            | NullCharacter(_)
            | ConnectReservedFlag
            | WillQoSWithoutWill
            | WillQoSInvalid
            | WillRetainWithoutWill
            | PasswordWithoutUsername
            | ConnAckReservedFlags
            | WildcardInTopicName(_)
            | EmptyTopicName
            | InvalidResponseTopic(_)
            | InvalidTopicFilter { .. }
            | SubscriptionOptionsReserved
            | InvalidSubAckCode(_)
            | InvalidConnAckCode(_)
            | UnknownProperty(_)
            | PropertyNotAllowed { .. }
            | PropertyLengthMismatch { .. }
            | AuthBeforeV5(_) => ReasonCode::MALFORMED_PACKET,
        }
    }

    /// The spec rule this error enforces, e.g. `MQTT-3.3.1-4`.
    pub fn rule(&self) -> String {
        let text = self.to_string();
        match (text.find('['), text.find(']')) {
            (Some(0), Some(end)) => text[1..end].to_owned(),
            _ => String::new(),
        }
    }
}

/// Why a packet could not be encoded: the model holds something the wire format cannot carry, or that the
/// receiver's decoder would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("packet of {0} bytes exceeds the protocol's 268,435,455 byte limit")]
    PacketTooLarge(usize),
    #[error("{0} is longer than 65,535 bytes")]
    FieldTooLong(&'static str),
    #[error(
        "[MQTT-2.2.1-2] PUBLISH QoS and packet identifier disagree (QoS > 0 needs an identifier, QoS 0 none)"
    )]
    PacketIdMismatch,
    #[error("{0:?} does not exist in MQTT {1}")]
    NotInVersion(PacketType, crate::ProtocolVersion),
    #[error("subscription identifier {0} is out of range 1..=268,435,455")]
    SubscriptionIdOutOfRange(u32),
    #[error("[MQTT-2.2.2.2] {} ({id:#04x}) is not allowed in {packet}", property_name(*.id))]
    PropertyNotAllowed { id: u8, packet: &'static str },
    /// A rule of the spec the packet breaks; the text starts with the rule.
    #[error("{0}")]
    SpecViolation(&'static str),
}
