//! The receiver's side: exactly-once bookkeeping for QoS 2 and the Receive Maximum quota.
//!
//! ```text
//!  PUBLISH QoS 2 (id new) ──► deliver, send PUBREC, remember id ──PUBREL──► forget id, send PUBCOMP
//!  PUBLISH QoS 2 (id remembered) ──► do NOT deliver again, send PUBREC again        [MQTT-4.3.3-10]
//! ```
//!
//! The receiver owns the message once it sends PUBREC; until PUBREL it must treat a PUBLISH with the same
//! packet identifier as a retransmission, whatever its DUP flag. QoS 1 and QoS 2 messages count against the
//! Receive Maximum until their PUBACK or PUBCOMP is sent [MQTT-3.3.4-9].
//!
//! The sender's quota starts afresh on each connection (MQTT 5.0 section 4.9): a QoS 2 identifier carried over
//! from an earlier connection is remembered for duplicates but counts against the quota only once the sender
//! sends its PUBLISH again on this one. Otherwise a session resumed with a smaller Receive Maximum would be
//! refused messages its sender is entitled to send.

use std::collections::HashSet;
use std::num::NonZeroU16;

use tern_codec::QoS;

use crate::error::ProtoError;

/// What to do with a received PUBLISH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundPublish {
    /// New message: deliver it, then acknowledge (PUBACK for QoS 1, PUBREC for QoS 2).
    Deliver,
    /// A QoS 2 retransmission of a message already received: acknowledge again (PUBREC), do not deliver.
    Duplicate,
}

/// Receiver state of one session.
#[derive(Debug, Clone)]
pub struct Inbound {
    receive_maximum: u16,
    /// QoS 1 messages delivered whose PUBACK is not sent yet (e.g. waiting for durable storage).
    unacked_qos1: u16,
    /// QoS 2 packet identifiers between PUBREC and PUBREL.
    qos2: HashSet<u16>,
    /// Those of `qos2` from an earlier connection whose PUBLISH has not come again on this one: not counted.
    carried: HashSet<u16>,
}

impl Inbound {
    /// Allows `receive_maximum` unacknowledged QoS 1/2 messages from the peer.
    pub fn new(receive_maximum: u16) -> Self {
        Inbound {
            receive_maximum: receive_maximum.max(1),
            unacked_qos1: 0,
            qos2: HashSet::new(),
            carried: HashSet::new(),
        }
    }

    fn quota_used(&self) -> usize {
        usize::from(self.unacked_qos1) + self.qos2.len() - self.carried.len()
    }

    /// A PUBLISH arrived. For QoS 1, call [`Inbound::puback_sent`] once its PUBACK is written.
    pub fn on_publish(
        &mut self,
        qos: QoS,
        packet_id: Option<NonZeroU16>,
    ) -> Result<InboundPublish, ProtoError> {
        match (qos, packet_id) {
            (QoS::ExactlyOnce, Some(id)) if self.qos2.contains(&id.get()) => {
                // Sent again on this connection: in the sender's quota now. Never refused: not a new message.
                self.carried.remove(&id.get());
                Ok(InboundPublish::Duplicate)
            }
            (QoS::AtMostOnce, _) | (_, None) => Ok(InboundPublish::Deliver),
            (qos, Some(id)) => {
                if self.quota_used() >= usize::from(self.receive_maximum) {
                    return Err(ProtoError::ReceiveMaximumExceeded(self.receive_maximum));
                }
                if qos == QoS::ExactlyOnce {
                    self.qos2.insert(id.get());
                } else {
                    self.unacked_qos1 += 1;
                }
                Ok(InboundPublish::Deliver)
            }
        }
    }

    /// The PUBACK for a QoS 1 message was sent: its quota is free again.
    pub fn puback_sent(&mut self) {
        self.unacked_qos1 = self.unacked_qos1.saturating_sub(1);
    }

    /// A PUBREL arrived: returns whether the identifier was awaiting it (answer PUBCOMP with 0x00), or not
    /// (answer PUBCOMP with 0x92 Packet Identifier not found in v5).
    pub fn on_pubrel(&mut self, packet_id: NonZeroU16) -> bool {
        self.carried.remove(&packet_id.get());
        self.qos2.remove(&packet_id.get())
    }

    /// QoS 2 identifiers awaiting PUBREL, to keep across reconnects (and in storage).
    pub fn pending_qos2(&self) -> impl Iterator<Item = NonZeroU16> + '_ {
        self.qos2.iter().filter_map(|&id| NonZeroU16::new(id))
    }

    /// Restores a QoS 2 identifier awaiting PUBREL (session resumed or loaded from storage).
    pub fn restore_qos2(&mut self, packet_id: NonZeroU16) {
        self.qos2.insert(packet_id.get());
        self.carried.insert(packet_id.get());
    }

    /// Forgets QoS 1 quota on a new connection (unsent PUBACKs died with the old one) and applies the new
    /// Receive Maximum; QoS 2 state is kept, as the session is, outside the new connection's quota.
    pub fn reconnected(&mut self, receive_maximum: u16) {
        self.unacked_qos1 = 0;
        self.carried.clone_from(&self.qos2);
        self.receive_maximum = receive_maximum.max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u16) -> Option<NonZeroU16> {
        NonZeroU16::new(v)
    }

    #[test]
    fn qos2_retransmission_before_pubrel_is_not_delivered_again_mqtt_4_3_3_10() {
        let mut inbound = Inbound::new(10);
        assert_eq!(inbound.on_publish(QoS::ExactlyOnce, id(7)), Ok(InboundPublish::Deliver));
        assert_eq!(inbound.on_publish(QoS::ExactlyOnce, id(7)), Ok(InboundPublish::Duplicate));
        assert!(inbound.on_pubrel(NonZeroU16::MIN.saturating_add(6)));
        // After PUBREL the identifier is free: the same id is a new message [MQTT-4.3.3-11].
        assert_eq!(inbound.on_publish(QoS::ExactlyOnce, id(7)), Ok(InboundPublish::Deliver));
    }

    #[test]
    fn pubrel_for_unknown_id_reports_not_found() {
        let mut inbound = Inbound::new(10);
        assert!(!inbound.on_pubrel(NonZeroU16::MIN));
    }

    #[test]
    fn receive_maximum_counts_unacked_qos1_and_open_qos2_mqtt_3_3_4_9() {
        let mut inbound = Inbound::new(2);
        assert_eq!(inbound.on_publish(QoS::AtLeastOnce, id(1)), Ok(InboundPublish::Deliver));
        assert_eq!(inbound.on_publish(QoS::ExactlyOnce, id(2)), Ok(InboundPublish::Deliver));
        assert_eq!(inbound.on_publish(QoS::AtLeastOnce, id(3)), Err(ProtoError::ReceiveMaximumExceeded(2)));
        // QoS 0 never counts.
        assert_eq!(inbound.on_publish(QoS::AtMostOnce, None), Ok(InboundPublish::Deliver));
        inbound.puback_sent();
        assert_eq!(inbound.on_publish(QoS::AtLeastOnce, id(3)), Ok(InboundPublish::Deliver));
        // A retransmitted QoS 2 PUBLISH is not a new message and is never refused for quota.
        assert_eq!(inbound.on_publish(QoS::ExactlyOnce, id(2)), Ok(InboundPublish::Duplicate));
    }

    #[test]
    fn qos2_state_survives_reconnect() {
        let mut inbound = Inbound::new(5);
        inbound.on_publish(QoS::ExactlyOnce, id(9)).unwrap();
        inbound.on_publish(QoS::AtLeastOnce, id(1)).unwrap();
        inbound.reconnected(1);
        assert_eq!(inbound.pending_qos2().map(NonZeroU16::get).collect::<Vec<_>>(), vec![9]);
        assert_eq!(inbound.on_publish(QoS::ExactlyOnce, id(9)), Ok(InboundPublish::Duplicate));
    }

    #[test]
    fn qos2_ids_from_an_earlier_connection_count_against_the_quota_only_once_sent_again_mqtt_3_3_4_9() {
        let mut inbound = Inbound::new(2);
        inbound.on_publish(QoS::ExactlyOnce, id(1)).unwrap();
        inbound.on_publish(QoS::ExactlyOnce, id(2)).unwrap();
        // The new connection's quota starts afresh (MQTT 5.0 section 4.9).
        inbound.reconnected(1);
        assert_eq!(inbound.on_publish(QoS::AtLeastOnce, id(3)), Ok(InboundPublish::Deliver));
        inbound.puback_sent();
        // Sent again, id 1 is in this connection's quota: a new message exceeds it until PUBREL.
        assert_eq!(inbound.on_publish(QoS::ExactlyOnce, id(1)), Ok(InboundPublish::Duplicate));
        assert_eq!(inbound.on_publish(QoS::AtLeastOnce, id(3)), Err(ProtoError::ReceiveMaximumExceeded(1)));
        assert!(inbound.on_pubrel(NonZeroU16::MIN));
        // Id 2 is still remembered: its PUBLISH is a duplicate whenever it comes.
        assert_eq!(inbound.on_publish(QoS::ExactlyOnce, id(2)), Ok(InboundPublish::Duplicate));
        assert_eq!(inbound.pending_qos2().count(), 1);
    }
}
