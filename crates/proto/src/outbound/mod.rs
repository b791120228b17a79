//! The sender's side of QoS 1 and QoS 2: messages published and not yet fully acknowledged.
//!
//! ```text
//!  QoS 1:  send PUBLISH ──► AwaitingPubAck ──PUBACK──► done
//!
//!  QoS 2:  send PUBLISH ──► AwaitingPubRec ──PUBREC (success)──► send PUBREL ──► AwaitingPubComp ──PUBCOMP──► done
//!                                  └──PUBREC (reason >= 0x80)──► done, no PUBREL
//! ```
//!
//! The window holds at most `window` messages (the peer's Receive Maximum, or the configured inflight limit
//! for 3.x peers). Packet identifiers are allocated round-robin and never reused while their exchange is
//! open [MQTT-2.2.1-3]. Entries stay in send order so a reconnecting session redelivers them in order, with
//! DUP set on PUBLISH and PUBREL sent again for exchanges past PUBREC [MQTT-4.4.0-1]: see [`resume`].
//!
//! A client's SUBSCRIBE and UNSUBSCRIBE packets draw from the same identifier space as its PUBLISH packets
//! [MQTT-2.2.1-3]: [`Outbound::reserve_id`] holds an identifier for one until its SUBACK or UNSUBACK, outside
//! the window.

use std::collections::{HashSet, VecDeque};
use std::num::NonZeroU16;

use tern_codec::{QoS, ReasonCode};

mod resume;

pub use resume::Resend;

/// Where an outbound exchange stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundState {
    /// QoS 1 PUBLISH sent, PUBACK not received.
    AwaitingPubAck,
    /// QoS 2 PUBLISH sent, PUBREC not received.
    AwaitingPubRec,
    /// QoS 2 PUBREL sent, PUBCOMP not received. The message itself is no longer needed.
    AwaitingPubComp,
}

/// One open exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inflight<M> {
    pub packet_id: NonZeroU16,
    pub qos: QoS,
    pub state: OutboundState,
    /// The message, until the peer has taken responsibility for it (PUBACK, or PUBREC for QoS 2).
    pub message: Option<M>,
}

/// Why an acknowledgement could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// No open exchange has this packet identifier (a late duplicate, or a confused peer).
    #[error("[MQTT-4.3] no message in flight with packet identifier {0}")]
    UnknownPacketId(u16),
    /// The exchange exists but is not waiting for this acknowledgement (PUBACK for QoS 2, PUBCOMP before
    /// PUBREC, ...).
    #[error("[MQTT-4.3] acknowledgement does not fit the state of packet identifier {0}")]
    UnexpectedAck(u16),
}

/// What a PUBREC means for the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubRecOutcome<M> {
    /// The peer has the message: send PUBREL. The message is handed back (it may be released now).
    Release(M),
    /// A PUBREC repeated after PUBREL was sent: send PUBREL again.
    ReleaseAgain,
    /// The peer refused the message (reason code >= 0x80): the exchange is over, no PUBREL [MQTT-4.3.3].
    Refused(M, ReasonCode),
}

/// The outbound inflight window of one session.
#[derive(Debug, Clone)]
pub struct Outbound<M> {
    window: u16,
    inflight: VecDeque<Inflight<M>>,
    /// Identifiers of `inflight` and reserved ones, for allocation without a scan.
    open_ids: HashSet<u16>,
    last_id: u16,
    /// The last `unsent` exchanges are open but not sent again on this connection yet: they wait for room
    /// in the window after [`Outbound::resume`]. New messages wait behind them.
    unsent: usize,
}

impl<M> Outbound<M> {
    /// A window of at most `window` open exchanges (0 is treated as 1).
    pub fn new(window: u16) -> Self {
        Outbound {
            window: window.max(1),
            inflight: VecDeque::new(),
            open_ids: HashSet::new(),
            last_id: 0,
            unsent: 0,
        }
    }

    /// Changes the window, e.g. to a reconnecting peer's Receive Maximum. Open exchanges stay open even if
    /// they now exceed it; no new ones start until they drop below.
    pub fn set_window(&mut self, window: u16) {
        self.window = window.max(1);
    }

    pub fn window(&self) -> u16 {
        self.window
    }

    /// Open exchanges.
    pub fn len(&self) -> usize {
        self.inflight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inflight.is_empty()
    }

    /// Whether a new QoS 1/2 message must wait for the window [MQTT-4.9.0-2], or for older exchanges still
    /// to be sent again after [`Outbound::resume`] [MQTT-4.6.0-1].
    pub fn is_full(&self) -> bool {
        self.room() == 0
    }

    /// How many new QoS 1/2 messages may start now.
    pub fn room(&self) -> usize {
        if self.unsent > 0 {
            return 0;
        }
        usize::from(self.window).saturating_sub(self.inflight.len())
    }

    fn position(&self, id: NonZeroU16) -> Option<usize> {
        // Acknowledgements mostly arrive in order: the front is the usual hit.
        self.inflight.iter().position(|e| e.packet_id == id)
    }

    /// Whether `id` belongs to an open exchange or is reserved.
    pub fn contains(&self, id: NonZeroU16) -> bool {
        self.open_ids.contains(&id.get())
    }

    fn remove_at(&mut self, pos: usize) -> Option<Inflight<M>> {
        if pos >= self.inflight.len() - self.unsent {
            self.unsent -= 1;
        }
        let entry = self.inflight.remove(pos)?;
        self.open_ids.remove(&entry.packet_id.get());
        Some(entry)
    }

    fn allocate_id(&mut self) -> Option<NonZeroU16> {
        if self.open_ids.len() >= usize::from(u16::MAX) {
            return None;
        }
        loop {
            self.last_id = self.last_id.wrapping_add(1);
            if let Some(id) = NonZeroU16::new(self.last_id) {
                if !self.contains(id) {
                    return Some(id);
                }
            }
        }
    }

    /// Takes the next number of the identifier sequence without reserving it, for a message that carries no
    /// packet identifier (QoS 0): a client that numbers every message it sends, as libmosquitto does in its
    /// logs, keeps one sequence with its QoS 1/2 messages, SUBSCRIBE and UNSUBSCRIBE.
    pub fn skip_id(&mut self) -> Option<NonZeroU16> {
        self.allocate_id()
    }

    /// Opens an exchange for a QoS 1 or 2 message and returns its packet identifier, or gives the message
    /// back if the window is full (or `qos` is 0, which needs no exchange).
    pub fn send(&mut self, qos: QoS, message: M) -> Result<NonZeroU16, M> {
        let state = match qos {
            QoS::AtMostOnce => return Err(message),
            QoS::AtLeastOnce => OutboundState::AwaitingPubAck,
            QoS::ExactlyOnce => OutboundState::AwaitingPubRec,
        };
        if self.is_full() {
            return Err(message);
        }
        let Some(packet_id) = self.allocate_id() else {
            return Err(message);
        };
        self.open_ids.insert(packet_id.get());
        self.inflight.push_back(Inflight { packet_id, qos, state, message: Some(message) });
        Ok(packet_id)
    }

    /// Reserves a free packet identifier for a packet that is not a PUBLISH but needs one (SUBSCRIBE,
    /// UNSUBSCRIBE), so no exchange opened meanwhile takes it [MQTT-2.2.1-3]; `None` when all are in use.
    /// Reserved identifiers do not count against the window.
    pub fn reserve_id(&mut self) -> Option<NonZeroU16> {
        let id = self.allocate_id()?;
        self.open_ids.insert(id.get());
        Some(id)
    }

    /// Frees an identifier taken by [`Outbound::reserve_id`] (its SUBACK or UNSUBACK arrived). Returns false
    /// when `id` was not reserved, including when it belongs to an open PUBLISH exchange, which stays open.
    pub fn release_id(&mut self, id: NonZeroU16) -> bool {
        self.position(id).is_none() && self.open_ids.remove(&id.get())
    }

    /// Re-opens an exchange restored from storage or handed over from another connection, keeping its
    /// packet identifier and state. Ignores the window (these were in flight already). Nothing is sent:
    /// [`Outbound::resume`] sends it again. Behind exchanges still waiting to be sent again, it waits too.
    pub fn restore(&mut self, entry: Inflight<M>) {
        self.open_ids.insert(entry.packet_id.get());
        self.inflight.push_back(entry);
        if self.unsent > 0 {
            self.unsent += 1;
        }
    }

    /// A PUBACK arrived: the QoS 1 exchange is complete.
    pub fn on_puback(&mut self, id: NonZeroU16) -> Result<Option<M>, AckError> {
        let pos = self.position(id).ok_or(AckError::UnknownPacketId(id.get()))?;
        if self.inflight[pos].state != OutboundState::AwaitingPubAck {
            return Err(AckError::UnexpectedAck(id.get()));
        }
        Ok(self.remove_at(pos).and_then(|e| e.message))
    }

    /// A PUBREC arrived for a QoS 2 exchange.
    pub fn on_pubrec(&mut self, id: NonZeroU16, reason: ReasonCode) -> Result<PubRecOutcome<M>, AckError> {
        let pos = self.position(id).ok_or(AckError::UnknownPacketId(id.get()))?;
        match self.inflight[pos].state {
            OutboundState::AwaitingPubRec => {}
            OutboundState::AwaitingPubComp => return Ok(PubRecOutcome::ReleaseAgain),
            OutboundState::AwaitingPubAck => return Err(AckError::UnexpectedAck(id.get())),
        }
        if reason.is_error() {
            let entry = self.remove_at(pos);
            return match entry.and_then(|e| e.message) {
                Some(m) => Ok(PubRecOutcome::Refused(m, reason)),
                None => Err(AckError::UnexpectedAck(id.get())),
            };
        }
        let entry = &mut self.inflight[pos];
        entry.state = OutboundState::AwaitingPubComp;
        match entry.message.take() {
            Some(m) => Ok(PubRecOutcome::Release(m)),
            None => Ok(PubRecOutcome::ReleaseAgain),
        }
    }

    /// A PUBCOMP arrived: the QoS 2 exchange is complete.
    pub fn on_pubcomp(&mut self, id: NonZeroU16) -> Result<(), AckError> {
        let pos = self.position(id).ok_or(AckError::UnknownPacketId(id.get()))?;
        if self.inflight[pos].state != OutboundState::AwaitingPubComp {
            return Err(AckError::UnexpectedAck(id.get()));
        }
        self.remove_at(pos);
        Ok(())
    }

    /// The open exchanges in send order: what to send again (PUBLISH with DUP, or PUBREL) when the session
    /// resumes on a new connection.
    pub fn iter(&self) -> impl Iterator<Item = &Inflight<M>> {
        self.inflight.iter()
    }

    /// Takes every open exchange out, e.g. to hand the session to a new connection or to store it. Reserved
    /// identifiers are forgotten too.
    pub fn drain(&mut self) -> impl Iterator<Item = Inflight<M>> + '_ {
        self.open_ids.clear();
        self.unsent = 0;
        self.inflight.drain(..)
    }

    /// Drops exchanges whose message `expired` says is stale, before they are sent again (MQTT 5.0 message
    /// expiry). Exchanges past PUBREC are kept: the peer already has the message.
    pub fn retain_unexpired(&mut self, mut expired: impl FnMut(&M) -> bool) -> usize {
        self.discard(|e| e.message.as_ref().is_some_and(&mut expired)).len()
    }

    /// Ends, without acknowledgement, the exchanges `discard` picks (e.g. messages a new connection may no
    /// longer receive) and returns them in send order. Their packet identifiers are free again.
    pub fn discard(&mut self, mut discard: impl FnMut(&Inflight<M>) -> bool) -> Vec<Inflight<M>> {
        let mut dropped = Vec::new();
        let mut pos = 0;
        while pos < self.inflight.len() {
            if discard(&self.inflight[pos]) {
                dropped.extend(self.remove_at(pos));
            } else {
                pos += 1;
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u16) -> NonZeroU16 {
        NonZeroU16::new(v).unwrap()
    }

    #[test]
    fn incoming_puback_should_complete_the_matching_qos1_exchange_only() {
        let mut out = Outbound::new(10);
        let a = out.send(QoS::AtLeastOnce, "a").unwrap();
        let b = out.send(QoS::AtLeastOnce, "b").unwrap();
        assert_eq!(out.on_puback(b), Ok(Some("b")));
        assert_eq!(out.len(), 1);
        assert_eq!(out.iter().next().map(|e| e.packet_id), Some(a));
    }

    #[test]
    fn qos2_flow_releases_then_completes() {
        let mut out = Outbound::new(10);
        let p = out.send(QoS::ExactlyOnce, "m").unwrap();
        assert_eq!(out.on_puback(p), Err(AckError::UnexpectedAck(p.get())));
        assert_eq!(out.on_pubcomp(p), Err(AckError::UnexpectedAck(p.get())));
        assert_eq!(out.on_pubrec(p, ReasonCode::SUCCESS), Ok(PubRecOutcome::Release("m")));
        // A repeated PUBREC gets PUBREL again [MQTT-4.3.3-?]: the exchange does not restart.
        assert_eq!(out.on_pubrec(p, ReasonCode::SUCCESS), Ok(PubRecOutcome::ReleaseAgain));
        assert_eq!(out.iter().next().map(|e| e.state), Some(OutboundState::AwaitingPubComp));
        assert_eq!(out.on_pubcomp(p), Ok(()));
        assert!(out.is_empty());
        assert_eq!(out.on_pubcomp(p), Err(AckError::UnknownPacketId(p.get())));
    }

    #[test]
    fn pubrec_with_error_reason_ends_the_exchange_without_pubrel() {
        let mut out = Outbound::new(10);
        let p = out.send(QoS::ExactlyOnce, "m").unwrap();
        assert_eq!(
            out.on_pubrec(p, ReasonCode::NOT_AUTHORIZED),
            Ok(PubRecOutcome::Refused("m", ReasonCode::NOT_AUTHORIZED))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn window_limits_open_exchanges_mqtt_4_9_0_2() {
        let mut out = Outbound::new(2);
        out.send(QoS::AtLeastOnce, 1).unwrap();
        let second = out.send(QoS::ExactlyOnce, 2).unwrap();
        assert!(out.is_full());
        assert_eq!(out.send(QoS::AtLeastOnce, 3), Err(3));
        out.on_pubrec(second, ReasonCode::SUCCESS).unwrap();
        // Still open until PUBCOMP: the window counts it.
        assert_eq!(out.send(QoS::AtLeastOnce, 3), Err(3));
        out.on_pubcomp(second).unwrap();
        assert!(out.send(QoS::AtLeastOnce, 3).is_ok());
    }

    #[test]
    fn qos0_needs_no_exchange() {
        let mut out = Outbound::new(2);
        assert_eq!(out.send(QoS::AtMostOnce, 7), Err(7));
        assert!(out.is_empty());
    }

    #[test]
    fn packet_ids_are_never_reused_while_in_flight_mqtt_2_2_1_3() {
        let mut out = Outbound::new(u16::MAX);
        let first = out.send(QoS::AtLeastOnce, 0u32).unwrap();
        assert_eq!(first, id(1));
        // Fill every identifier but one, leave `first` open, wrap around.
        for n in 1..u32::from(u16::MAX) - 1 {
            out.send(QoS::AtLeastOnce, n).unwrap();
        }
        assert_eq!(out.len(), usize::from(u16::MAX) - 1);
        let ids: std::collections::HashSet<u16> = out.iter().map(|e| e.packet_id.get()).collect();
        assert_eq!(ids.len(), out.len());
        out.on_puback(id(2)).unwrap();
        // The only free ids now are 65535 and 2; allocation must skip the open `first`.
        let a = out.send(QoS::AtLeastOnce, 1).unwrap();
        let b = out.send(QoS::AtLeastOnce, 2).unwrap();
        assert_eq!((a.get(), b.get()), (65535, 2));
        // Exhausted: every identifier is open.
        assert_eq!(out.len(), usize::from(u16::MAX));
        assert_eq!(out.send(QoS::AtLeastOnce, 3), Err(3));
    }

    #[test]
    fn redelivery_order_is_send_order_with_states() {
        let mut out = Outbound::new(10);
        let a = out.send(QoS::ExactlyOnce, "a").unwrap();
        let b = out.send(QoS::AtLeastOnce, "b").unwrap();
        let c = out.send(QoS::ExactlyOnce, "c").unwrap();
        out.on_pubrec(a, ReasonCode::SUCCESS).unwrap();
        let resend: Vec<_> = out.iter().map(|e| (e.packet_id, e.state, e.message)).collect();
        assert_eq!(
            resend,
            vec![
                (a, OutboundState::AwaitingPubComp, None),
                (b, OutboundState::AwaitingPubAck, Some("b")),
                (c, OutboundState::AwaitingPubRec, Some("c")),
            ]
        );
    }

    #[test]
    fn a_skipped_number_is_not_reserved_and_the_sequence_goes_on() {
        let mut out: Outbound<&str> = Outbound::new(10);
        let sub = out.reserve_id().unwrap();
        assert_eq!(out.skip_id(), Some(id(2)));
        assert!(!out.contains(id(2)));
        assert_eq!(out.send(QoS::AtLeastOnce, "m"), Ok(id(3)));
        assert!(out.release_id(sub));
    }

    #[test]
    fn reserved_ids_are_skipped_by_publish_and_released_once_mqtt_2_2_1_3() {
        let mut out = Outbound::new(1);
        let sub = out.reserve_id().unwrap();
        assert_eq!(sub, id(1));
        assert!(out.contains(sub));
        // Reserved identifiers are outside the window: a PUBLISH can still be sent, under another id.
        assert!(!out.is_full());
        let p = out.send(QoS::AtLeastOnce, "m").unwrap();
        assert_eq!(p, id(2));
        // An id in use by a PUBLISH exchange is not a reservation: releasing it leaves the exchange open.
        assert!(!out.release_id(p));
        assert_eq!(out.len(), 1);
        assert!(out.release_id(sub));
        assert!(!out.release_id(sub));
        assert!(!out.contains(sub));
        assert_eq!(out.on_puback(p), Ok(Some("m")));
    }

    #[test]
    fn reservations_count_towards_identifier_exhaustion() {
        let mut out: Outbound<u8> = Outbound::new(1);
        for _ in 0..u16::MAX {
            out.reserve_id().unwrap();
        }
        assert_eq!(out.reserve_id(), None);
        assert_eq!(out.send(QoS::AtLeastOnce, 1), Err(1));
        assert!(out.release_id(id(7)));
        assert_eq!(out.send(QoS::AtLeastOnce, 1), Ok(id(7)));
    }

    #[test]
    fn drain_and_restore_keep_order_ids_and_states() {
        // A client reconnecting drains its window and restores what it resends [MQTT-4.4.0-1].
        let mut out = Outbound::new(10);
        let a = out.send(QoS::ExactlyOnce, "a").unwrap();
        let b = out.send(QoS::AtLeastOnce, "b").unwrap();
        out.reserve_id().unwrap();
        out.on_pubrec(a, ReasonCode::SUCCESS).unwrap();
        let entries: Vec<_> = out.drain().collect();
        assert!(out.is_empty());
        assert!(!out.contains(a) && !out.contains(b));
        for e in entries.into_iter().rev() {
            out.restore(e);
        }
        assert_eq!(
            out.iter().map(|e| (e.packet_id, e.state)).collect::<Vec<_>>(),
            vec![(b, OutboundState::AwaitingPubAck), (a, OutboundState::AwaitingPubComp)]
        );
        assert_eq!(out.on_pubcomp(a), Ok(()));
        // Allocation continues after the last identifier, skipping the restored one.
        assert_eq!(out.send(QoS::AtLeastOnce, "c").map(NonZeroU16::get), Ok(4));
    }

    #[test]
    fn expired_messages_are_dropped_but_released_ones_kept() {
        let mut out = Outbound::new(10);
        let a = out.send(QoS::ExactlyOnce, 1).unwrap();
        out.send(QoS::AtLeastOnce, 2).unwrap();
        out.send(QoS::AtLeastOnce, 3).unwrap();
        out.on_pubrec(a, ReasonCode::SUCCESS).unwrap();
        assert_eq!(out.retain_unexpired(|m| *m == 2), 1);
        assert_eq!(out.iter().map(|e| e.message).collect::<Vec<_>>(), vec![None, Some(3)]);
    }
}
