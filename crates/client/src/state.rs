//! The client side of an MQTT session, sans I/O: packet identifiers, the outgoing inflight window and the
//! QoS 1/2 flows in both directions. The event loop feeds it packets and sends what it returns.
//!
//! ```text
//! outgoing QoS 1:  PUBLISH ──▶            outgoing QoS 2:  PUBLISH ──▶
//!                  ◀── PUBACK  (done)                      ◀── PUBREC   (send PUBREL)
//!                                                          PUBREL  ──▶
//!                                                          ◀── PUBCOMP  (done)
//! incoming QoS 2:  ◀── PUBLISH (deliver once, remember id) PUBREC ──▶
//!                  ◀── PUBREL  (forget id)                 PUBCOMP ──▶
//! ```
//! Completion tokens are generic so the flows can be tested without channels.

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU16;

use tern_codec::{Ack, Packet, Publish, QoS, ReasonCode};

/// Where an outgoing QoS 1/2 message is in its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    AwaitPubAck,
    AwaitPubRec,
    AwaitPubComp,
}

#[derive(Debug)]
struct Outgoing<T> {
    publish: Publish,
    phase: Phase,
    token: T,
}

/// A protocol error by the server, named by the spec rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("[MQTT-4.3.2] {0:?} for packet identifier {1} that is not in flight")]
    UnknownPacketId(&'static str, u16),
}

/// Session state of one client.
#[derive(Debug)]
pub struct Session<T> {
    next_id: u16,
    outgoing: HashMap<NonZeroU16, Outgoing<T>>,
    /// Packet ids of outgoing messages in the order they were first sent, for resending on reconnect.
    order: VecDeque<NonZeroU16>,
    /// SUBSCRIBE/UNSUBSCRIBE waiting for their acknowledgement.
    requests: HashMap<NonZeroU16, T>,
    /// Incoming QoS 2 messages delivered and awaiting PUBREL.
    incoming_qos2: HashSet<NonZeroU16>,
    /// Messages waiting for room in the inflight window.
    queued: VecDeque<(Publish, T)>,
    /// Most QoS 1/2 messages in flight at once: ours, capped by the server's Receive Maximum.
    window: usize,
}

impl<T> Session<T> {
    /// A fresh session allowing `window` outgoing QoS 1/2 messages in flight.
    pub fn new(window: usize) -> Self {
        Session {
            next_id: 0,
            outgoing: HashMap::new(),
            order: VecDeque::new(),
            requests: HashMap::new(),
            incoming_qos2: HashSet::new(),
            queued: VecDeque::new(),
            window: window.max(1),
        }
    }

    /// Sets the window, e.g. to the server's Receive Maximum [MQTT-3.3.4-7].
    pub fn set_window(&mut self, window: usize) {
        self.window = window.max(1);
    }

    /// Number of outgoing QoS 1/2 messages in flight.
    pub fn inflight(&self) -> usize {
        self.outgoing.len()
    }

    /// Number of messages waiting for room in the window.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// Whether anything is still unacknowledged or queued.
    pub fn is_idle(&self) -> bool {
        self.outgoing.is_empty() && self.queued.is_empty() && self.requests.is_empty()
    }

    /// A packet identifier not in use by any flow [MQTT-2.2.1-3]; `None` when all 65,535 are taken.
    pub fn next_packet_id(&mut self) -> Option<NonZeroU16> {
        for _ in 0..u16::MAX {
            self.next_id = self.next_id.wrapping_add(1);
            let Some(id) = NonZeroU16::new(self.next_id) else { continue };
            if !self.outgoing.contains_key(&id) && !self.requests.contains_key(&id) {
                return Some(id);
            }
        }
        None
    }

    /// Registers a SUBSCRIBE or UNSUBSCRIBE under a fresh packet id.
    pub fn start_request(&mut self, token: T) -> Result<NonZeroU16, T> {
        match self.next_packet_id() {
            Some(id) => {
                self.requests.insert(id, token);
                Ok(id)
            }
            None => Err(token),
        }
    }

    /// Completes a SUBSCRIBE or UNSUBSCRIBE on its SUBACK/UNSUBACK.
    pub fn finish_request(&mut self, id: NonZeroU16) -> Result<T, SessionError> {
        self.requests.remove(&id).ok_or(SessionError::UnknownPacketId("SUBACK/UNSUBACK", id.get()))
    }

    /// Offers a message to send. QoS 0 is returned at once with its token (nothing to track); QoS 1/2 gets a
    /// packet id and is returned to send if the window has room, or is queued until it has.
    pub fn publish(&mut self, mut publish: Publish, token: T) -> Publishing<T> {
        if publish.qos == QoS::AtMostOnce {
            publish.packet_id = None;
            return Publishing::Send(publish, Some(token));
        }
        if self.outgoing.len() >= self.window {
            self.queued.push_back((publish, token));
            return Publishing::Queued;
        }
        self.track(publish, token)
    }

    fn track(&mut self, mut publish: Publish, token: T) -> Publishing<T> {
        let Some(id) = self.next_packet_id() else {
            self.queued.push_front((publish, token));
            return Publishing::Queued;
        };
        publish.packet_id = Some(id);
        publish.dup = false;
        let phase = if publish.qos == QoS::AtLeastOnce { Phase::AwaitPubAck } else { Phase::AwaitPubRec };
        self.outgoing.insert(id, Outgoing { publish: publish.clone(), phase, token });
        self.order.push_back(id);
        Publishing::Send(publish, None)
    }

    /// Queued messages that now fit in the window, to send.
    pub fn release_queued(&mut self) -> Vec<Publish> {
        let mut out = Vec::new();
        while self.outgoing.len() < self.window {
            let Some((publish, token)) = self.queued.pop_front() else { break };
            match self.track(publish, token) {
                Publishing::Send(p, _) => out.push(p),
                Publishing::Queued => break,
            }
        }
        out
    }

    fn complete(&mut self, id: NonZeroU16) -> Option<T> {
        let done = self.outgoing.remove(&id)?;
        self.order.retain(|x| *x != id);
        Some(done.token)
    }

    /// PUBACK: a QoS 1 message is done.
    pub fn handle_puback(&mut self, ack: &Ack) -> Result<T, SessionError> {
        let id = ack.packet_id;
        match self.outgoing.get(&id) {
            Some(o) if o.phase == Phase::AwaitPubAck => {}
            _ => return Err(SessionError::UnknownPacketId("PUBACK", id.get())),
        }
        self.complete(id).ok_or(SessionError::UnknownPacketId("PUBACK", id.get()))
    }

    /// PUBREC: answer PUBREL, or finish the flow when the server refused the message (reason >= 0x80,
    /// [MQTT-4.3.3-4]: the packet id is released without PUBREL).
    pub fn handle_pubrec(&mut self, ack: &Ack) -> Result<PubRecOutcome<T>, SessionError> {
        let id = ack.packet_id;
        let Some(o) = self.outgoing.get_mut(&id) else {
            return Err(SessionError::UnknownPacketId("PUBREC", id.get()));
        };
        match o.phase {
            Phase::AwaitPubRec | Phase::AwaitPubComp => {}
            Phase::AwaitPubAck => return Err(SessionError::UnknownPacketId("PUBREC", id.get())),
        }
        if ack.reason_code.is_error() {
            let token = self.complete(id).ok_or(SessionError::UnknownPacketId("PUBREC", id.get()))?;
            return Ok(PubRecOutcome::Refused(token, ack.reason_code));
        }
        // A repeated PUBREC is answered with PUBREL again [MQTT-4.3.3-9 (receiver side resends)].
        o.phase = Phase::AwaitPubComp;
        Ok(PubRecOutcome::SendPubRel(Packet::PubRel(Ack::new(id))))
    }

    /// PUBCOMP: a QoS 2 message is done.
    pub fn handle_pubcomp(&mut self, ack: &Ack) -> Result<T, SessionError> {
        let id = ack.packet_id;
        match self.outgoing.get(&id) {
            Some(o) if o.phase == Phase::AwaitPubComp => {}
            _ => return Err(SessionError::UnknownPacketId("PUBCOMP", id.get())),
        }
        self.complete(id).ok_or(SessionError::UnknownPacketId("PUBCOMP", id.get()))
    }

    /// An incoming PUBLISH: whether to deliver it to the application, and the acknowledgement to send.
    /// A QoS 2 message whose id is awaiting PUBREL is a redelivery and is not delivered twice [MQTT-4.3.3-10].
    pub fn handle_incoming_publish(&mut self, publish: &Publish) -> (bool, Option<Packet>) {
        match (publish.qos, publish.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => (true, Some(Packet::PubAck(Ack::new(id)))),
            (QoS::ExactlyOnce, Some(id)) => {
                let first = self.incoming_qos2.insert(id);
                (first, Some(Packet::PubRec(Ack::new(id))))
            }
            _ => (true, None),
        }
    }

    /// PUBREL: forget the incoming QoS 2 id and answer PUBCOMP (also for an id not known, so the server can
    /// finish a flow from a previous connection).
    pub fn handle_pubrel(&mut self, ack: &Ack) -> Packet {
        let known = self.incoming_qos2.remove(&ack.packet_id);
        let mut comp = Ack::new(ack.packet_id);
        if !known {
            comp.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
        }
        Packet::PubComp(comp)
    }

    /// What to send again after reconnecting, in the original order [MQTT-4.4.0-1]: PUBLISH with DUP set for
    /// messages not yet acknowledged, PUBREL for those past PUBREC. When the server kept no session, QoS 2
    /// messages past PUBREC were already delivered and are completed instead.
    pub fn resend(&mut self, session_present: bool) -> (Vec<Packet>, Vec<T>) {
        self.requests.clear();
        if !session_present {
            self.incoming_qos2.clear();
        }
        let mut packets = Vec::new();
        let mut completed = Vec::new();
        for id in self.order.clone() {
            let Some(o) = self.outgoing.get_mut(&id) else { continue };
            match o.phase {
                Phase::AwaitPubAck | Phase::AwaitPubRec => {
                    let mut p = o.publish.clone();
                    p.dup = true;
                    packets.push(Packet::Publish(p));
                }
                Phase::AwaitPubComp if session_present => packets.push(Packet::PubRel(Ack::new(id))),
                Phase::AwaitPubComp => {
                    if let Some(t) = self.complete(id) {
                        completed.push(t);
                    }
                }
            }
        }
        (packets, completed)
    }

    /// Takes every token still waiting (connection lost for good).
    pub fn drain(&mut self) -> Vec<T> {
        self.order.clear();
        let mut out: Vec<T> = self.outgoing.drain().map(|(_, o)| o.token).collect();
        out.extend(self.requests.drain().map(|(_, t)| t));
        out.extend(self.queued.drain(..).map(|(_, t)| t));
        out
    }
}

/// What [`Session::publish`] decided. Built and consumed at once, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Publishing<T> {
    /// Send this packet now; the token is handed back when there is no acknowledgement to wait for (QoS 0).
    Send(Publish, Option<T>),
    /// Waiting for room in the inflight window.
    Queued,
}

/// What a PUBREC leads to.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum PubRecOutcome<T> {
    SendPubRel(Packet),
    Refused(T, ReasonCode),
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn qos0_is_sent_at_once_without_packet_id() {
        // [MQTT-2.2.1-2] a QoS 0 PUBLISH has no packet identifier.
        let mut s = Session::new(10);
        match s.publish(publish(QoS::AtMostOnce), 7u32) {
            Publishing::Send(p, Some(7)) => assert_eq!(p.packet_id, None),
            other => panic!("{other:?}"),
        }
        assert!(s.is_idle());
    }

    #[test]
    fn puback_completes_the_matching_qos1_publish() {
        let mut s = Session::new(10);
        let a = sent_id(s.publish(publish(QoS::AtLeastOnce), 1));
        let b = sent_id(s.publish(publish(QoS::AtLeastOnce), 2));
        assert_ne!(a, b);
        assert_eq!(s.handle_puback(&Ack::new(b)).unwrap(), 2);
        assert_eq!(s.inflight(), 1);
        assert_eq!(s.handle_puback(&Ack::new(a)).unwrap(), 1);
        assert!(s.is_idle());
    }

    #[test]
    fn unknown_puback_is_a_protocol_error() {
        let mut s: Session<u32> = Session::new(10);
        assert!(s.handle_puback(&Ack::new(id(9))).is_err());
    }

    #[test]
    fn qos2_flow_sends_pubrel_on_pubrec_and_completes_on_pubcomp() {
        let mut s = Session::new(10);
        let a = sent_id(s.publish(publish(QoS::ExactlyOnce), 5));
        assert!(s.handle_pubcomp(&Ack::new(a)).is_err(), "PUBCOMP before PUBREC");
        match s.handle_pubrec(&Ack::new(a)).unwrap() {
            PubRecOutcome::SendPubRel(Packet::PubRel(r)) => assert_eq!(r.packet_id, a),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.handle_pubcomp(&Ack::new(a)).unwrap(), 5);
        assert!(s.is_idle());
    }

    #[test]
    fn pubrec_with_error_reason_ends_the_flow_without_pubrel() {
        // [MQTT-4.3.3] a PUBREC reason code >= 0x80 ends the flow.
        let mut s = Session::new(10);
        let a = sent_id(s.publish(publish(QoS::ExactlyOnce), 5));
        let mut rec = Ack::new(a);
        rec.reason_code = ReasonCode::NOT_AUTHORIZED;
        assert!(matches!(
            s.handle_pubrec(&rec).unwrap(),
            PubRecOutcome::Refused(5, ReasonCode::NOT_AUTHORIZED)
        ));
        assert!(s.is_idle());
    }

    #[test]
    fn window_full_queues_and_ack_releases_in_order() {
        // [MQTT-3.3.4-7] no more QoS>0 PUBLISH in flight than the server's Receive Maximum.
        let mut s = Session::new(2);
        let a = sent_id(s.publish(publish(QoS::AtLeastOnce), 1));
        sent_id(s.publish(publish(QoS::AtLeastOnce), 2));
        assert!(matches!(s.publish(publish(QoS::AtLeastOnce), 3), Publishing::Queued));
        assert!(matches!(s.publish(publish(QoS::ExactlyOnce), 4), Publishing::Queued));
        assert!(s.release_queued().is_empty());
        s.handle_puback(&Ack::new(a)).unwrap();
        let released = s.release_queued();
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].qos, QoS::AtLeastOnce);
        assert_eq!(s.queued(), 1);
    }

    #[test]
    fn packet_ids_skip_those_in_use_and_wrap_past_zero() {
        let mut s = Session::new(usize::MAX);
        s.next_id = u16::MAX - 1;
        let a = sent_id(s.publish(publish(QoS::AtLeastOnce), 1));
        assert_eq!(a.get(), u16::MAX);
        let b = sent_id(s.publish(publish(QoS::AtLeastOnce), 2));
        assert_eq!(b.get(), 1, "[MQTT-2.2.1-3] zero is never used");
        s.next_id = u16::MAX - 1;
        let c = sent_id(s.publish(publish(QoS::AtLeastOnce), 3));
        assert_eq!(c.get(), 2, "ids in flight are skipped");
    }

    #[test]
    fn incoming_qos2_is_delivered_once_until_pubrel() {
        // [MQTT-4.3.3-10] a redelivered QoS 2 PUBLISH is not delivered again before PUBREL.
        let mut s: Session<u32> = Session::new(10);
        let mut p = publish(QoS::ExactlyOnce);
        p.packet_id = Some(id(3));
        let (deliver, ack) = s.handle_incoming_publish(&p);
        assert!(deliver);
        assert!(matches!(ack, Some(Packet::PubRec(a)) if a.packet_id == id(3)));
        p.dup = true;
        assert!(!s.handle_incoming_publish(&p).0);
        assert!(
            matches!(s.handle_pubrel(&Ack::new(id(3))), Packet::PubComp(c) if c.reason_code == ReasonCode::SUCCESS)
        );
        p.dup = false;
        assert!(s.handle_incoming_publish(&p).0, "a new message may reuse the id after PUBCOMP");
    }

    #[test]
    fn incoming_qos1_is_acknowledged_with_puback() {
        let mut s: Session<u32> = Session::new(10);
        let mut p = publish(QoS::AtLeastOnce);
        p.packet_id = Some(id(4));
        assert!(
            matches!(s.handle_incoming_publish(&p), (true, Some(Packet::PubAck(a))) if a.packet_id == id(4))
        );
    }

    #[test]
    fn resend_after_reconnect_sets_dup_and_keeps_order() {
        // [MQTT-4.4.0-1] unacknowledged PUBLISH and PUBREL are resent in their original order.
        let mut s = Session::new(10);
        let a = sent_id(s.publish(publish(QoS::ExactlyOnce), 1));
        let b = sent_id(s.publish(publish(QoS::AtLeastOnce), 2));
        s.handle_pubrec(&Ack::new(a)).unwrap();
        let (packets, done) = s.resend(true);
        assert!(done.is_empty());
        assert!(matches!(&packets[0], Packet::PubRel(r) if r.packet_id == a));
        assert!(matches!(&packets[1], Packet::Publish(p) if p.packet_id == Some(b) && p.dup));
    }

    #[test]
    fn resend_without_session_completes_messages_past_pubrec() {
        let mut s = Session::new(10);
        let a = sent_id(s.publish(publish(QoS::ExactlyOnce), 1));
        sent_id(s.publish(publish(QoS::AtLeastOnce), 2));
        s.handle_pubrec(&Ack::new(a)).unwrap();
        let (packets, done) = s.resend(false);
        assert_eq!(done, vec![1]);
        assert_eq!(packets.len(), 1);
    }

    #[test]
    fn drain_returns_every_waiting_token() {
        let mut s = Session::new(1);
        sent_id(s.publish(publish(QoS::AtLeastOnce), 1));
        assert!(matches!(s.publish(publish(QoS::AtLeastOnce), 2), Publishing::Queued));
        s.start_request(3).unwrap();
        let mut t = s.drain();
        t.sort();
        assert_eq!(t, vec![1, 2, 3]);
        assert!(s.is_idle());
    }
}
