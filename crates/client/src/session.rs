//! The client's side of an MQTT session, sans I/O: what it remembers across network connections.
//!
//! The protocol rules are tern-proto's, the same state machines the broker drives: [`Outbound`] allocates
//! packet identifiers, bounds the inflight window by the server's Receive Maximum and walks each QoS 1/2
//! message through its acknowledgements; [`Inbound`] makes a QoS 2 message received again before PUBREL reach
//! the application once. What is left here is the client's own: who waits for each acknowledgement (a
//! completion token per packet identifier), the messages waiting for room in the window, and the SUBSCRIBE
//! and UNSUBSCRIBE requests awaiting SUBACK and UNSUBACK.
//!
//! ```text
//! outgoing QoS 1:  PUBLISH ──▶            outgoing QoS 2:  PUBLISH ──▶
//!                  ◀── PUBACK  (done)                      ◀── PUBREC   (send PUBREL)
//!                                                          PUBREL  ──▶
//!                                                          ◀── PUBCOMP  (done)
//! incoming QoS 2:  ◀── PUBLISH (deliver once, remember id) PUBREC ──▶
//!                  ◀── PUBREL  (forget id)                 PUBCOMP ──▶
//! ```
//! With `hold_qos2`, an incoming QoS 2 message reaches the application at PUBREL instead, as libmosquitto
//! delivers it: a subscriber that stops after its last message has then finished the exchange.
//! Completion tokens are generic so the flows are tested without channels.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU16;

use tern_codec::{Ack, Packet, ProtocolVersion, Publish, QoS, ReasonCode};
use tern_proto::{
    AckError, Inbound, InboundPublish, Outbound, OutboundState, ProtoError, PubRecOutcome, Resend,
};

use crate::error::ClientError;
use crate::eventloop::PublishOutcome;

/// Checks a PUBLISH against the server's Maximum Packet Size [MQTT-3.2.2-15].
fn fits(version: ProtocolVersion, max_packet_size: u32, publish: &Publish) -> Result<(), ClientError> {
    let size = publish.encoded_len(version);
    if size > usize::try_from(max_packet_size).unwrap_or(usize::MAX) {
        return Err(ClientError::PacketTooLarge { size, max: max_packet_size });
    }
    Ok(())
}

/// The PUBLISH of an open exchange as sent again: DUP set, its packet identifier [MQTT-4.4.0-1].
fn resent(publish: &Publish, id: NonZeroU16) -> Publish {
    Publish { dup: true, packet_id: Some(id), ..publish.clone() }
}

fn packet_of(resend: Resend<Publish>) -> Packet {
    match resend {
        Resend::Publish { packet_id, message, .. } => Packet::Publish(resent(&message, packet_id)),
        Resend::PubRel(id) => Packet::PubRel(Ack::new(id)),
    }
}

/// Session state of one client.
#[derive(Debug)]
pub(crate) struct Session<T> {
    version: ProtocolVersion,
    /// Messages published and not yet fully acknowledged; each keeps the PUBLISH to send again.
    outbound: Outbound<Publish>,
    /// QoS 2 messages received and awaiting PUBREL.
    inbound: Inbound,
    /// Whether incoming QoS 2 messages wait for PUBREL before delivery.
    pub hold_qos2: bool,
    /// Those messages themselves, delivered at PUBREL.
    held: HashMap<NonZeroU16, Publish>,
    /// Who waits for each open outbound exchange.
    waiting: HashMap<NonZeroU16, T>,
    /// The PUBREC reason code of QoS 2 exchanges the server accepted with other than 0x00 (0x10 No matching
    /// subscribers): the outcome the caller gets at PUBCOMP, which itself only says 0x00 or 0x92.
    accepted_with: HashMap<NonZeroU16, ReasonCode>,
    /// SUBSCRIBE/UNSUBSCRIBE awaiting SUBACK/UNSUBACK; their identifiers are reserved in `outbound`.
    requests: HashMap<NonZeroU16, T>,
    /// Messages waiting for room in the inflight window, in the order they were published.
    queued: VecDeque<(Publish, T)>,
    /// Our own bound on the window; the server's Receive Maximum may lower it.
    max_inflight: u16,
    /// The Receive Maximum we announced: QoS 1/2 messages the server may have unacknowledged.
    receive_maximum: u16,
    /// The server's Maximum Packet Size [MQTT-3.2.2-15].
    max_packet_size: u32,
}

/// What [`Session::publish`] decided. Built and consumed at once, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Publishing<T> {
    /// Send this PUBLISH now; the token is handed back when there is no acknowledgement to wait for (QoS 0).
    Send(Publish, Option<T>),
    /// Waiting for room in the inflight window.
    Queued,
    /// Not sent: it would break a limit of the server.
    Refused(T, ClientError),
}

/// What a PUBREC leads to.
#[derive(Debug)]
pub(crate) enum PubRecAction<T> {
    /// Send PUBREL for this packet identifier.
    Release(NonZeroU16),
    /// The server refused the message (reason code >= 0x80): the exchange is over, no PUBREL [MQTT-4.3.3].
    Refused(T, ReasonCode),
}

/// What a new connection to the server means for the session.
#[derive(Debug)]
pub(crate) struct Resumed<T> {
    /// Packets to send again, in their original order [MQTT-4.4.0-1].
    pub resend: Vec<Packet>,
    /// Waiting callers whose request ended on the way, with its outcome.
    pub finished: Vec<(T, PublishOutcome)>,
    /// Received QoS 2 messages whose PUBREL will never come (the server kept no session): delivered now
    /// rather than lost, since the server counts them as sent.
    pub released: Vec<Publish>,
}

impl<T> Session<T> {
    /// A fresh session allowing `max_inflight` outgoing QoS 1/2 messages in flight, and the server
    /// `receive_maximum` unacknowledged ones towards us.
    pub fn new(version: ProtocolVersion, max_inflight: u16, receive_maximum: u16) -> Self {
        Session {
            version,
            outbound: Outbound::new(max_inflight),
            inbound: Inbound::new(receive_maximum),
            hold_qos2: false,
            held: HashMap::new(),
            waiting: HashMap::new(),
            accepted_with: HashMap::new(),
            requests: HashMap::new(),
            queued: VecDeque::new(),
            max_inflight: max_inflight.max(1),
            receive_maximum: receive_maximum.max(1),
            max_packet_size: u32::MAX,
        }
    }

    /// Outgoing QoS 1/2 messages in flight.
    #[cfg(test)]
    pub fn inflight(&self) -> usize {
        self.outbound.len()
    }

    /// Messages waiting for room in the window.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// The server accepted a connection (CONNACK). Its Receive Maximum bounds the window [MQTT-3.3.4-7] and
    /// its Maximum Packet Size every packet [MQTT-3.2.2-15]. Requests awaiting SUBACK or UNSUBACK fail: their
    /// answer died with the old connection. Unacknowledged messages are sent again in order, PUBLISH with DUP
    /// set and PUBREL for those past PUBREC [MQTT-4.4.0-1], as many as the server's Receive Maximum allows;
    /// [`Session::release_queued`] sends the rest as acknowledgements free room. When the server kept no session, the received
    /// QoS 2 state goes, and messages past PUBREC count as delivered (the server had taken them on).
    pub fn connected(
        &mut self,
        session_present: bool,
        server_receive_maximum: u16,
        max_packet_size: u32,
    ) -> Resumed<T> {
        let mut finished = Vec::new();
        for (id, token) in self.requests.drain() {
            self.outbound.release_id(id);
            finished.push((token, Err(ClientError::Closed)));
        }
        self.outbound.set_window(self.max_inflight.min(server_receive_maximum));
        self.max_packet_size = max_packet_size;
        let mut released = Vec::new();
        if session_present {
            self.inbound.reconnected(self.receive_maximum);
        } else {
            self.inbound = Inbound::new(self.receive_maximum);
            released.extend(self.held.drain().map(|(_, publish)| publish));
        }
        // Exchanges past PUBREC with a server that kept no session are over: it had taken the messages on.
        // A PUBLISH that no longer fits the server's Maximum Packet Size fails.
        let (version, max_packet_size) = (self.version, self.max_packet_size);
        let ended = self.outbound.discard(|e| match (e.state, &e.message) {
            (OutboundState::AwaitingPubComp, _) => !session_present,
            (_, Some(publish)) => fits(version, max_packet_size, &resent(publish, e.packet_id)).is_err(),
            (_, None) => false,
        });
        for entry in ended {
            let id = entry.packet_id;
            let outcome = match &entry.message {
                // Discarded for its size: `fits` says by how much.
                Some(publish) => {
                    fits(version, max_packet_size, &resent(publish, id)).map(|()| ReasonCode::SUCCESS)
                }
                None => Ok(self.accepted_with.remove(&id).unwrap_or(ReasonCode::SUCCESS)),
            };
            if let Some(token) = self.waiting.remove(&id) {
                finished.push((token, outcome));
            }
        }
        // The rest goes again in order, as far as the server's Receive Maximum allows; `release_queued`
        // sends the others as acknowledgements free room.
        let resend = self.outbound.resume().map(packet_of).collect();
        let queued = std::mem::take(&mut self.queued);
        for (publish, token) in queued {
            match self.fits(&publish) {
                Ok(()) => self.queued.push_back((publish, token)),
                Err(e) => finished.push((token, Err(e))),
            }
        }
        Resumed { resend, finished, released }
    }

    /// Checks a PUBLISH (with its packet identifier, or a stand-in of the same size) against the server's
    /// Maximum Packet Size [MQTT-3.2.2-15].
    fn fits(&self, publish: &Publish) -> Result<(), ClientError> {
        fits(self.version, self.max_packet_size, publish)
    }

    /// Offers a message to send. QoS 0 comes back at once with its token (nothing to track); QoS 1/2 gets a
    /// packet identifier and comes back to send if the window has room and no message waits before it,
    /// or waits for room.
    pub fn publish(&mut self, mut publish: Publish, token: T) -> Publishing<T> {
        publish.dup = false;
        publish.packet_id = match publish.qos {
            QoS::AtMostOnce => None,
            // Stands in for the identifier assigned when the message enters the window: same size.
            QoS::AtLeastOnce | QoS::ExactlyOnce => Some(NonZeroU16::MIN),
        };
        if let Err(e) = self.fits(&publish) {
            return Publishing::Refused(token, e);
        }
        if publish.qos == QoS::AtMostOnce {
            return Publishing::Send(publish, Some(token));
        }
        if !self.queued.is_empty() || self.outbound.is_full() {
            self.queued.push_back((publish, token));
            return Publishing::Queued;
        }
        match self.open(&mut publish) {
            Some(id) => {
                self.waiting.insert(id, token);
                Publishing::Send(publish, None)
            }
            None => {
                self.queued.push_front((publish, token));
                Publishing::Queued
            }
        }
    }

    /// The number a QoS 0 message takes in the identifier sequence, for the packet log only: it goes on the
    /// wire without one [MQTT-2.2.1-2], but libmosquitto's logs number it, and `-d` output reads the same.
    pub fn number_qos0(&mut self) -> Option<NonZeroU16> {
        self.outbound.skip_id()
    }

    /// Opens the exchange of a QoS 1/2 message and gives it its packet identifier; `None` when the window is
    /// full or no identifier is free.
    fn open(&mut self, publish: &mut Publish) -> Option<NonZeroU16> {
        let id = self.outbound.send(publish.qos, publish.clone()).ok()?;
        publish.packet_id = Some(id);
        Some(id)
    }

    /// What now fits in the window, to send: exchanges of a resumed session still to be sent again first
    /// (PUBLISH with DUP, or PUBREL), then queued messages.
    pub fn release_queued(&mut self) -> Vec<Packet> {
        let mut out: Vec<Packet> =
            std::iter::from_fn(|| self.outbound.poll_resend()).map(packet_of).collect();
        while !self.outbound.is_full() {
            let Some((mut publish, token)) = self.queued.pop_front() else { break };
            match self.open(&mut publish) {
                Some(id) => {
                    self.waiting.insert(id, token);
                    out.push(Packet::Publish(publish));
                }
                None => {
                    self.queued.push_front((publish, token));
                    break;
                }
            }
        }
        out
    }

    fn take_waiting(&mut self, id: NonZeroU16) -> Result<T, AckError> {
        self.waiting.remove(&id).ok_or(AckError::UnknownPacketId(id.get()))
    }

    /// PUBACK: a QoS 1 message is done, with the server's reason code.
    pub fn on_puback(&mut self, ack: &Ack) -> Result<(T, ReasonCode), AckError> {
        self.outbound.on_puback(ack.packet_id)?;
        Ok((self.take_waiting(ack.packet_id)?, ack.reason_code))
    }

    /// PUBREC: answer PUBREL (again, if the PUBREC is repeated), or end the exchange when the server refused
    /// the message.
    pub fn on_pubrec(&mut self, ack: &Ack) -> Result<PubRecAction<T>, AckError> {
        let id = ack.packet_id;
        match self.outbound.on_pubrec(id, ack.reason_code)? {
            PubRecOutcome::Release(_) => {
                if ack.reason_code != ReasonCode::SUCCESS {
                    self.accepted_with.insert(id, ack.reason_code);
                }
                Ok(PubRecAction::Release(id))
            }
            PubRecOutcome::ReleaseAgain => Ok(PubRecAction::Release(id)),
            PubRecOutcome::Refused(_, code) => Ok(PubRecAction::Refused(self.take_waiting(id)?, code)),
        }
    }

    /// PUBCOMP: a QoS 2 message is done, with the reason code of its PUBREC. The server took the message
    /// on at PUBREC; a PUBCOMP with 0x92 (a PUBREL sent again after a reconnection, for an exchange the
    /// server had finished) does not undo that.
    pub fn on_pubcomp(&mut self, ack: &Ack) -> Result<(T, ReasonCode), AckError> {
        let id = ack.packet_id;
        self.outbound.on_pubcomp(id)?;
        let code = self.accepted_with.remove(&id).unwrap_or(ReasonCode::SUCCESS);
        Ok((self.take_waiting(id)?, code))
    }

    /// An incoming PUBLISH: whether to hand it to the application now, and the acknowledgement to send at
    /// once. A new QoS 2 message is held until its PUBREL with `hold_qos2`; one whose identifier awaits PUBREL is a
    /// retransmission and is not delivered again [MQTT-4.3.3-10]; more unacknowledged QoS 1/2 messages than
    /// our Receive Maximum is a violation [MQTT-3.3.4-9].
    pub fn on_publish(&mut self, publish: &Publish) -> Result<(bool, Option<Packet>), ProtoError> {
        let mut deliver = self.inbound.on_publish(publish.qos, publish.packet_id)? == InboundPublish::Deliver;
        if let (true, true, QoS::ExactlyOnce, Some(id)) =
            (self.hold_qos2, deliver, publish.qos, publish.packet_id)
        {
            self.held.insert(id, publish.clone());
            deliver = false;
        }
        let ack = match (publish.qos, publish.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => {
                // The PUBACK goes out with this packet's other output: the quota is free again.
                self.inbound.puback_sent();
                Some(Packet::PubAck(Ack::new(id)))
            }
            (QoS::ExactlyOnce, Some(id)) => Some(Packet::PubRec(Ack::new(id))),
            _ => None,
        };
        Ok((deliver, ack))
    }

    /// PUBREL: forget the QoS 2 identifier, answer PUBCOMP and deliver the message held under it; 0x92
    /// Packet Identifier not found when it was not awaiting PUBREL, so the server can still finish an
    /// exchange of a previous connection.
    pub fn on_pubrel(&mut self, ack: &Ack) -> (Packet, Option<Publish>) {
        let mut comp = Ack::new(ack.packet_id);
        if !self.inbound.on_pubrel(ack.packet_id) {
            comp.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
        }
        (Packet::PubComp(comp), self.held.remove(&ack.packet_id))
    }

    /// Reserves a packet identifier for a SUBSCRIBE or UNSUBSCRIBE [MQTT-2.2.1-3].
    pub fn start_request(&mut self, token: T) -> Result<NonZeroU16, T> {
        match self.outbound.reserve_id() {
            Some(id) => {
                self.requests.insert(id, token);
                Ok(id)
            }
            None => Err(token),
        }
    }

    /// Completes a SUBSCRIBE or UNSUBSCRIBE on its SUBACK/UNSUBACK, freeing its identifier.
    pub fn finish_request(&mut self, id: NonZeroU16) -> Result<T, AckError> {
        let token = self.requests.remove(&id).ok_or(AckError::UnknownPacketId(id.get()))?;
        self.outbound.release_id(id);
        Ok(token)
    }

    /// Takes every token still waiting (the connection is gone for good).
    pub fn drain(&mut self) -> Vec<T> {
        self.outbound.drain().for_each(drop);
        self.accepted_with.clear();
        let mut out: Vec<T> = self.waiting.drain().map(|(_, t)| t).collect();
        out.extend(self.requests.drain().map(|(_, t)| t));
        out.extend(self.queued.drain(..).map(|(_, t)| t));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V5: ProtocolVersion = ProtocolVersion::V5;

    fn publish(qos: QoS) -> Publish {
        Publish { qos, ..Publish::new("home/temp", "23.5") }
    }

    fn sent_id(p: Publishing<u32>) -> NonZeroU16 {
        match p {
            Publishing::Send(p, None) => p.packet_id.unwrap(),
            other => panic!("expected a tracked send, got {other:?}"),
        }
    }

    fn id(n: u16) -> NonZeroU16 {
        NonZeroU16::new(n).unwrap()
    }

    fn with_id(mut p: Publish, n: u16) -> Publish {
        p.packet_id = Some(id(n));
        p
    }

    #[test]
    fn qos0_is_sent_at_once_without_packet_id_mqtt_2_2_1_2() {
        let mut s = Session::new(V5, 10, 10);
        match s.publish(Publish { dup: true, ..publish(QoS::AtMostOnce) }, 7u32) {
            Publishing::Send(p, Some(7)) => assert_eq!((p.packet_id, p.dup), (None, false)),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.inflight(), 0);
    }

    #[test]
    fn puback_completes_the_waiting_caller_with_the_reason_code() {
        let mut s = Session::new(V5, 10, 10);
        let a = sent_id(s.publish(publish(QoS::AtLeastOnce), 1));
        let b = sent_id(s.publish(publish(QoS::AtLeastOnce), 2));
        assert_ne!(a, b);
        let mut ack = Ack::new(b);
        ack.reason_code = ReasonCode::NO_MATCHING_SUBSCRIBERS;
        assert_eq!(s.on_puback(&ack).unwrap(), (2, ReasonCode::NO_MATCHING_SUBSCRIBERS));
        assert_eq!(s.on_puback(&Ack::new(a)).unwrap(), (1, ReasonCode::SUCCESS));
        assert_eq!(s.inflight(), 0);
        assert_eq!(s.on_puback(&Ack::new(a)).unwrap_err(), AckError::UnknownPacketId(a.get()));
    }

    #[test]
    fn qos2_flow_sends_pubrel_on_pubrec_and_completes_on_pubcomp() {
        let mut s = Session::new(V5, 10, 10);
        let a = sent_id(s.publish(publish(QoS::ExactlyOnce), 5));
        assert!(s.on_pubcomp(&Ack::new(a)).is_err(), "PUBCOMP before PUBREC");
        for _ in 0..2 {
            // A repeated PUBREC is answered with PUBREL again.
            assert!(matches!(s.on_pubrec(&Ack::new(a)).unwrap(), PubRecAction::Release(r) if r == a));
        }
        assert_eq!(s.on_pubcomp(&Ack::new(a)).unwrap(), (5, ReasonCode::SUCCESS));
        assert_eq!(s.inflight(), 0);
    }

    #[test]
    fn qos2_outcome_is_the_pubrec_reason_whatever_the_pubcomp_says() {
        let mut s = Session::new(V5, 10, 10);
        let a = sent_id(s.publish(publish(QoS::ExactlyOnce), 1));
        let b = sent_id(s.publish(publish(QoS::ExactlyOnce), 2));
        let mut rec = Ack::new(a);
        rec.reason_code = ReasonCode::NO_MATCHING_SUBSCRIBERS;
        s.on_pubrec(&rec).unwrap();
        s.on_pubrec(&Ack::new(b)).unwrap();
        assert_eq!(s.on_pubcomp(&Ack::new(a)).unwrap(), (1, ReasonCode::NO_MATCHING_SUBSCRIBERS));
        // 0x92: the server had finished the exchange already (a PUBREL sent again after reconnecting).
        let mut comp = Ack::new(b);
        comp.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
        assert_eq!(s.on_pubcomp(&comp).unwrap(), (2, ReasonCode::SUCCESS));
    }

    #[test]
    fn pubrec_with_error_reason_ends_the_flow_without_pubrel_mqtt_4_3_3() {
        let mut s = Session::new(V5, 10, 10);
        let a = sent_id(s.publish(publish(QoS::ExactlyOnce), 5));
        let mut rec = Ack::new(a);
        rec.reason_code = ReasonCode::NOT_AUTHORIZED;
        assert!(matches!(s.on_pubrec(&rec).unwrap(), PubRecAction::Refused(5, ReasonCode::NOT_AUTHORIZED)));
        assert_eq!(s.inflight(), 0);
    }

    #[test]
    fn full_window_queues_in_order_and_acks_release_mqtt_3_3_4_7() {
        let mut s = Session::new(V5, 2, 10);
        let a = sent_id(s.publish(publish(QoS::AtLeastOnce), 1));
        sent_id(s.publish(publish(QoS::AtLeastOnce), 2));
        assert!(matches!(s.publish(publish(QoS::AtLeastOnce), 3), Publishing::Queued));
        assert!(matches!(s.publish(publish(QoS::ExactlyOnce), 4), Publishing::Queued));
        assert!(s.release_queued().is_empty());
        s.on_puback(&Ack::new(a)).unwrap();
        let released = s.release_queued();
        assert!(matches!(released.as_slice(), [Packet::Publish(p)] if p.qos == QoS::AtLeastOnce));
        assert_eq!(s.queued(), 1);
    }

    #[test]
    fn server_receive_maximum_lowers_the_window_mqtt_3_3_4_7() {
        let mut s = Session::new(V5, 20, 10);
        s.connected(false, 1, u32::MAX);
        sent_id(s.publish(publish(QoS::AtLeastOnce), 1));
        assert!(matches!(s.publish(publish(QoS::AtLeastOnce), 2), Publishing::Queued));
    }

    #[test]
    fn subscribe_ids_are_never_those_of_messages_in_flight_mqtt_2_2_1_3() {
        let mut s = Session::new(V5, 10, 10);
        let p = sent_id(s.publish(publish(QoS::AtLeastOnce), 1));
        let r = s.start_request(2).unwrap();
        let q = sent_id(s.publish(publish(QoS::AtLeastOnce), 3));
        assert!(p != r && r != q && p != q);
        assert_eq!(s.finish_request(r).unwrap(), 2);
        assert!(s.finish_request(r).is_err());
        // A SUBACK naming a PUBLISH's identifier does not touch the PUBLISH.
        assert!(s.finish_request(p).is_err());
        assert_eq!(s.on_puback(&Ack::new(p)).unwrap().0, 1);
    }

    #[test]
    fn incoming_qos2_is_delivered_at_once_or_at_pubrel_and_only_once_mqtt_4_3_3_10() {
        let mut s: Session<u32> = Session::new(V5, 10, 10);
        let p = with_id(publish(QoS::ExactlyOnce), 4);
        assert!(s.on_publish(&p).unwrap().0, "delivered at once by default");
        assert!(!s.on_publish(&Publish { dup: true, ..p }).unwrap().0);
        assert_eq!(s.on_pubrel(&Ack::new(id(4))).1, None);
        s.hold_qos2 = true;
        let p = with_id(publish(QoS::ExactlyOnce), 3);
        let (deliver, ack) = s.on_publish(&p).unwrap();
        assert!(!deliver, "held until PUBREL");
        assert!(matches!(ack, Some(Packet::PubRec(a)) if a.packet_id == id(3)));
        let again = Publish { dup: true, ..p.clone() };
        assert!(!s.on_publish(&again).unwrap().0);
        let (comp, released) = s.on_pubrel(&Ack::new(id(3)));
        assert!(matches!(comp, Packet::PubComp(c) if c.reason_code == ReasonCode::SUCCESS));
        assert_eq!(released, Some(p.clone()));
        s.on_publish(&p).unwrap();
        assert!(s.on_pubrel(&Ack::new(id(3))).1.is_some(), "a new message may reuse the id after PUBCOMP");
        let (unknown, none) = s.on_pubrel(&Ack::new(id(3)));
        assert!(
            matches!(unknown, Packet::PubComp(c) if c.reason_code == ReasonCode::PACKET_IDENTIFIER_NOT_FOUND)
        );
        assert_eq!(none, None);
    }

    #[test]
    fn incoming_qos1_is_acknowledged_and_frees_its_quota_mqtt_3_3_4_9() {
        let mut s: Session<u32> = Session::new(V5, 10, 1);
        for n in 1..5 {
            let (deliver, ack) = s.on_publish(&with_id(publish(QoS::AtLeastOnce), n)).unwrap();
            assert!(deliver);
            assert!(matches!(ack, Some(Packet::PubAck(a)) if a.packet_id == id(n)));
        }
        // One QoS 2 message awaiting PUBREL fills a Receive Maximum of 1.
        s.on_publish(&with_id(publish(QoS::ExactlyOnce), 9)).unwrap();
        assert_eq!(
            s.on_publish(&with_id(publish(QoS::AtLeastOnce), 10)).unwrap_err(),
            ProtoError::ReceiveMaximumExceeded(1)
        );
    }

    #[test]
    fn reconnect_resends_in_order_with_dup_and_pubrel_mqtt_4_4_0_1() {
        let mut s = Session::new(V5, 10, 10);
        let a = sent_id(s.publish(publish(QoS::ExactlyOnce), 1));
        let b = sent_id(s.publish(publish(QoS::AtLeastOnce), 2));
        let c = sent_id(s.publish(publish(QoS::ExactlyOnce), 3));
        s.on_pubrec(&Ack::new(a)).unwrap();
        let r = s.start_request(4).unwrap();
        let resumed = s.connected(true, 10, u32::MAX);
        assert!(matches!(resumed.finished.as_slice(), [(4, Err(ClientError::Closed))]));
        let packets = resumed.resend;
        assert_eq!(packets.len(), 3);
        assert!(matches!(&packets[0], Packet::PubRel(r) if r.packet_id == a));
        assert!(matches!(&packets[1], Packet::Publish(p) if p.packet_id == Some(b) && p.dup));
        assert!(matches!(&packets[2], Packet::Publish(p) if p.packet_id == Some(c) && p.dup));
        // The exchanges go on where they were: PUBCOMP for a, PUBACK for b.
        assert_eq!(s.on_pubcomp(&Ack::new(a)).unwrap().0, 1);
        assert_eq!(s.on_puback(&Ack::new(b)).unwrap().0, 2);
        // The SUBSCRIBE's identifier is free again.
        assert!(s.finish_request(r).is_err());
    }

    #[test]
    fn reconnect_to_a_smaller_receive_maximum_resends_within_it_then_the_rest_mqtt_3_3_4_7() {
        let mut s = Session::new(V5, 10, 10);
        let ids: Vec<_> = (1..=3).map(|t| sent_id(s.publish(publish(QoS::AtLeastOnce), t))).collect();
        let resumed = s.connected(true, 1, u32::MAX);
        assert!(
            matches!(resumed.resend.as_slice(), [Packet::Publish(p)] if p.packet_id == Some(ids[0]) && p.dup)
        );
        // A new message waits behind the ones still to be sent again.
        assert!(matches!(s.publish(publish(QoS::AtLeastOnce), 4), Publishing::Queued));
        assert!(s.release_queued().is_empty());
        assert_eq!(s.on_puback(&Ack::new(ids[0])).unwrap().0, 1);
        let next = s.release_queued();
        assert!(matches!(next.as_slice(), [Packet::Publish(p)] if p.packet_id == Some(ids[1]) && p.dup));
        s.on_puback(&Ack::new(ids[1])).unwrap();
        assert!(matches!(s.release_queued().as_slice(), [Packet::Publish(p)] if p.packet_id == Some(ids[2])));
        s.on_puback(&Ack::new(ids[2])).unwrap();
        assert!(matches!(s.release_queued().as_slice(), [Packet::Publish(p)] if !p.dup));
        assert_eq!(s.queued(), 0);
    }

    #[test]
    fn reconnect_without_session_completes_messages_past_pubrec_and_releases_incoming_qos2() {
        let mut s = Session::new(V5, 10, 10);
        s.hold_qos2 = true;
        let a = sent_id(s.publish(publish(QoS::ExactlyOnce), 1));
        sent_id(s.publish(publish(QoS::AtLeastOnce), 2));
        s.on_pubrec(&Ack::new(a)).unwrap();
        s.on_publish(&with_id(publish(QoS::ExactlyOnce), 7)).unwrap();
        let resumed = s.connected(false, 10, u32::MAX);
        assert!(matches!(resumed.finished.as_slice(), [(1, Ok(ReasonCode::SUCCESS))]));
        assert_eq!(resumed.resend.len(), 1);
        assert_eq!(s.inflight(), 1);
        // No PUBREL will come for the message held: it is delivered now.
        assert_eq!(resumed.released.len(), 1);
        // A new session: the same identifier is a new message.
        s.on_publish(&with_id(publish(QoS::ExactlyOnce), 7)).unwrap();
        assert!(s.on_pubrel(&Ack::new(id(7))).1.is_some());
    }

    #[test]
    fn packets_above_the_server_maximum_packet_size_are_refused_mqtt_3_2_2_15() {
        let mut s = Session::new(V5, 10, 10);
        let small = publish(QoS::AtLeastOnce);
        // A QoS 1 PUBLISH counts its packet identifier.
        let max = with_id(small.clone(), 1).encoded_len(V5) as u32;
        s.connected(false, 10, max);
        sent_id(s.publish(small.clone(), 1));
        let big = Publish { payload: "23.55".into(), ..small.clone() };
        match s.publish(big.clone(), 2) {
            Publishing::Refused(2, ClientError::PacketTooLarge { size, max: m }) => {
                assert_eq!((size, m), (max as usize + 1, max))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(s.publish(Publish { qos: QoS::AtMostOnce, ..big }, 3), Publishing::Send(..)));
    }

    #[test]
    fn reconnect_to_a_smaller_maximum_packet_size_fails_what_no_longer_fits() {
        let mut s = Session::new(V5, 1, 10);
        let short = Publish::new("t", "1");
        let long = Publish::new("t", "123456789");
        sent_id(s.publish(Publish { qos: QoS::AtLeastOnce, ..long.clone() }, 1));
        assert!(matches!(
            s.publish(Publish { qos: QoS::AtLeastOnce, ..short.clone() }, 2),
            Publishing::Queued
        ));
        assert!(matches!(
            s.publish(Publish { qos: QoS::AtLeastOnce, ..long.clone() }, 3),
            Publishing::Queued
        ));
        let max = with_id(short, 1).encoded_len(V5) as u32;
        let resumed = s.connected(true, 10, max);
        assert!(resumed.resend.is_empty());
        let failed: Vec<u32> = resumed
            .finished
            .iter()
            .map(|(t, r)| {
                assert!(matches!(r, Err(ClientError::PacketTooLarge { .. })));
                *t
            })
            .collect();
        assert_eq!(failed, vec![1, 3]);
        assert_eq!(s.release_queued().len(), 1);
    }

    #[test]
    fn drain_returns_every_waiting_token() {
        let mut s = Session::new(V5, 1, 10);
        sent_id(s.publish(publish(QoS::AtLeastOnce), 1));
        assert!(matches!(s.publish(publish(QoS::AtLeastOnce), 2), Publishing::Queued));
        s.start_request(3).unwrap();
        let mut t = s.drain();
        t.sort();
        assert_eq!(t, vec![1, 2, 3]);
        assert_eq!((s.inflight(), s.queued()), (0, 0));
    }
}
