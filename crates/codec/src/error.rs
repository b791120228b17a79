//! Decoding and encoding errors. Each names the spec rule it enforces and maps, in [`DecodeError::reason_code`],
//! to the MQTT 5.0 reason code a receiver answers with (in DISCONNECT or CONNACK); a 3.x receiver closes the
//! network connection instead.

use crate::packet::PacketType;
use crate::reason::ReasonCode;

/// Why a frame could not be decoded. The `Display` text starts with the spec rule it enforces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("[MQTT-1.5.5-1] remaining length is longer than 4 bytes")]
    RemainingLengthTooLong,
    #[error("[MQTT-3.2.2-15] packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge { size: u64, max: u32 },
    #[error("[MQTT-2.1.2-1] reserved packet type {0}")]
    ReservedPacketType(u8),
    #[error("[MQTT-2.1.3-1] invalid fixed header flags {flags:#06b} for {packet:?}")]
    InvalidFlags { packet: PacketType, flags: u8 },
    #[error("[MQTT-3.3.1-4] PUBLISH with QoS 3")]
    InvalidQoS,
    #[error("[MQTT-3.3.1-2] DUP flag set on a QoS 0 PUBLISH")]
    DupOnQoS0,
    #[error("[MQTT-2.2.1-3] packet identifier is zero")]
    ZeroPacketId,
    #[error("[MQTT-1.5.4] {0} runs past the end of the packet")]
    Truncated(&'static str),
    #[error("[MQTT-2.1.4] {0} bytes left over at the end of the packet")]
    TrailingBytes(usize),
    #[error("[MQTT-1.5.4-1] {0} is not well-formed UTF-8")]
    InvalidUtf8(&'static str),
    #[error("[MQTT-1.5.4-2] {0} contains U+0000")]
    NullCharacter(&'static str),
    #[error("[MQTT-3.1.2-1] protocol name {0:?} is not \"MQTT\" or \"MQIsdp\"")]
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
    #[error("[MQTT-3.1.2-22] password flag without user name flag")]
    PasswordWithoutUsername,
    #[error("[MQTT-3.2.2-1] reserved CONNACK flags are set")]
    ConnAckReservedFlags,
    #[error("[MQTT-3.2.2-6] session present set with a non-zero CONNACK reason")]
    SessionPresentOnError,
    #[error("[MQTT-3.3.2-2] topic name {0:?} contains a wildcard")]
    WildcardInTopicName(String),
    #[error("[MQTT-4.7.3-1] topic name is empty")]
    EmptyTopicName,
    #[error("[MQTT-3.3.2-8] topic alias 0 is not permitted")]
    TopicAliasZero,
    #[error("[MQTT-4.7.1] invalid topic filter {filter:?}: {reason}")]
    InvalidTopicFilter { filter: String, reason: crate::topic::TopicError },
    #[error("[MQTT-3.8.3-3] SUBSCRIBE without a topic filter")]
    EmptySubscribe,
    #[error("[MQTT-3.10.3-2] UNSUBSCRIBE without a topic filter")]
    EmptyUnsubscribe,
    #[error("[MQTT-3.8.3-5] reserved subscription option bits are set (3.1.1: MQTT-3.8.3-4)")]
    SubscriptionOptionsReserved,
    #[error("[MQTT-3.8.3.1] retain handling 3 is not defined")]
    InvalidRetainHandling,
    #[error("[MQTT-3.8.3-4] No Local on a shared subscription")]
    NoLocalOnSharedSubscription,
    #[error("[MQTT-3.9.3] SUBACK without a reason code")]
    EmptySubAck,
    #[error("[MQTT-3.9.3] SUBACK return code {0:#04x} is not defined")]
    InvalidSubAckCode(u8),
    #[error("[MQTT-3.2.2.3] CONNACK return code {0} is not defined")]
    InvalidConnAckCode(u8),
    #[error("[MQTT-2.4] reason code {code:#04x} is not allowed in {packet:?}")]
    InvalidReasonCode { packet: PacketType, code: u8 },
    #[error("[MQTT-2.2.2] unknown property identifier {0:#04x}")]
    UnknownProperty(u8),
    #[error("[MQTT-2.2.2.2] property {id:#04x} is not allowed in {packet}")]
    PropertyNotAllowed { id: u8, packet: &'static str },
    #[error("[MQTT-2.2.2.2] property {0:#04x} appears more than once")]
    DuplicateProperty(u8),
    #[error("[MQTT-2.2.2.2] property {id:#04x} has the invalid value {value}")]
    InvalidPropertyValue { id: u8, value: u32 },
    #[error("[MQTT-2.2.2-1] property length {declared} does not match the {actual} bytes of properties")]
    PropertyLengthMismatch { declared: usize, actual: usize },
    #[error("[MQTT-3.3.2.3.4] PUBLISH with an empty topic and no topic alias")]
    EmptyTopicWithoutAlias,
    #[error("[MQTT-3.15] AUTH packet in MQTT {0}")]
    AuthBeforeV5(crate::ProtocolVersion),
}

impl DecodeError {
    /// The MQTT 5.0 reason code a receiver answers this error with. This is the one place the mapping lives.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            UnsupportedProtocolVersion(_) => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            WildcardInTopicName(_) => ReasonCode::TOPIC_NAME_INVALID,
            InvalidTopicFilter { .. } => ReasonCode::TOPIC_FILTER_INVALID,
            TopicAliasZero => ReasonCode::TOPIC_ALIAS_INVALID,
            InvalidProtocolName(_)
            | ZeroPacketId
            | EmptySubscribe
            | EmptyUnsubscribe
            | InvalidRetainHandling
            | NoLocalOnSharedSubscription
            | DuplicateProperty(_)
            | InvalidPropertyValue { .. }
            | EmptyTopicWithoutAlias
            | SessionPresentOnError
            | InvalidReasonCode { .. } => ReasonCode::PROTOCOL_ERROR,
            RemainingLengthTooLong
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
            | EmptyTopicName
            | SubscriptionOptionsReserved
            | EmptySubAck
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

/// Why a packet could not be encoded: the model holds something the wire format cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("packet of {0} bytes exceeds the protocol's 268,435,455 byte limit")]
    PacketTooLarge(usize),
    #[error("{0} is longer than 65,535 bytes")]
    FieldTooLong(&'static str),
    #[error("PUBLISH QoS and packet identifier disagree (QoS > 0 needs an identifier, QoS 0 none)")]
    PacketIdMismatch,
    #[error("{0:?} does not exist in MQTT {1}")]
    NotInVersion(PacketType, crate::ProtocolVersion),
    #[error("subscription identifier {0} is out of range 1..=268,435,455")]
    SubscriptionIdOutOfRange(u32),
}
