//! Protocol violations found by the state machines, each with the spec rule and the reason code to answer.

use tern_codec::ReasonCode;

/// A peer broke a rule that needs session state to see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("[MQTT-3.3.4-9] more than Receive Maximum ({0}) QoS 1/2 PUBLISH packets unacknowledged")]
    ReceiveMaximumExceeded(u16),
    #[error("[MQTT-3.3.2-9] topic alias {alias} is above the Topic Alias Maximum {max}")]
    TopicAliasOutOfRange { alias: u16, max: u16 },
    #[error("[MQTT-3.3.2-8] topic alias 0 is not permitted")]
    TopicAliasZero,
    #[error("[MQTT-3.3.4] topic alias {0} has no topic mapped yet")]
    TopicAliasUnknown(u16),
    #[error("[MQTT-3.3.2-12] PUBLISH without a topic name or topic alias")]
    MissingTopic,
}

impl ProtoError {
    /// The MQTT 5.0 reason code for a DISCONNECT answering this violation.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            ProtoError::ReceiveMaximumExceeded(_) => ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
            ProtoError::TopicAliasOutOfRange { .. }
            | ProtoError::TopicAliasZero
            | ProtoError::TopicAliasUnknown(_) => ReasonCode::TOPIC_ALIAS_INVALID,
            ProtoError::MissingTopic => ReasonCode::PROTOCOL_ERROR,
        }
    }
}
