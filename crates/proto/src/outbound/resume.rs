//! Resuming a session on a new connection: every open exchange is sent again, in its original order
//! [MQTT-4.4.0-1], [MQTT-4.6.0-1].
//!
//! ```text
//!  state at disconnect        sent again on resume
//!  AwaitingPubAck     ──►     PUBLISH, DUP=1, same packet identifier, same QoS
//!  AwaitingPubRec     ──►     PUBLISH, DUP=1, same packet identifier
//!  AwaitingPubComp    ──►     PUBREL, same packet identifier (the message is not sent again)
//!
//!  window = 3 (the new connection's Receive Maximum), 5 open exchanges a b c d e:
//!  resume() ──► a b c          PUBACK a ──► poll_resend() ──► d         PUBCOMP b ──► e
//!               [a b c|d e]                 [b c d|e]                   [c d e|]      then new messages
//! ```
//!
//! The new connection may allow fewer messages in flight than the old one did [MQTT-3.3.4-9]: only as many
//! exchanges as the window holds are sent again at once, the rest as acknowledgements free room. Until every
//! open exchange has been sent again, no new message starts, so none overtakes an older one.

use std::num::NonZeroU16;

use tern_codec::QoS;

use super::{Outbound, OutboundState};

/// A packet to send again for an open exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend<M> {
    /// PUBLISH `message` again at `qos`, with DUP=1 and this packet identifier [MQTT-3.3.1-1].
    Publish { packet_id: NonZeroU16, qos: QoS, message: M },
    /// PUBREL again: the peer has the message, the exchange awaits PUBCOMP.
    PubRel(NonZeroU16),
}

impl<M> Resend<M> {
    pub fn packet_id(&self) -> NonZeroU16 {
        match self {
            Resend::Publish { packet_id, .. } | Resend::PubRel(packet_id) => *packet_id,
        }
    }
}

impl<M: Clone> Outbound<M> {
    /// The session resumes on a new connection: yields what to send again, oldest first, as far as the
    /// window allows. The rest comes from [`Outbound::poll_resend`] as acknowledgements free room. Set the
    /// new connection's window ([`Outbound::set_window`]) first.
    pub fn resume(&mut self) -> impl Iterator<Item = Resend<M>> + '_ {
        self.unsent = self.inflight.len();
        std::iter::from_fn(move || self.poll_resend())
    }

    /// The next exchange to send again, if one waits and the window has room for it.
    pub fn poll_resend(&mut self) -> Option<Resend<M>> {
        loop {
            if self.unsent == 0 {
                return None;
            }
            let next = self.inflight.len() - self.unsent;
            if next >= usize::from(self.window) {
                return None;
            }
            let entry = &self.inflight[next];
            let resend = match (entry.state, &entry.message) {
                (OutboundState::AwaitingPubComp, _) => Some(Resend::PubRel(entry.packet_id)),
                (_, Some(message)) => Some(Resend::Publish {
                    packet_id: entry.packet_id,
                    qos: entry.qos,
                    message: message.clone(),
                }),
                // Before PUBREC an exchange always holds its message; one restored without it has nothing
                // to send and could never complete: it ends here.
                (_, None) => None,
            };
            match resend {
                Some(resend) => {
                    self.unsent -= 1;
                    return Some(resend);
                }
                None => {
                    self.remove_at(next);
                }
            }
        }
    }

    /// Open exchanges still to be sent again on this connection.
    pub fn unsent(&self) -> usize {
        self.unsent
    }
}

#[cfg(test)]
mod tests {
    use tern_codec::ReasonCode;

    use super::*;
    use crate::outbound::Inflight;

    #[test]
    fn resume_sends_publish_with_dup_for_unacked_and_pubrel_for_released_mqtt_4_4_0_1() {
        let mut out = Outbound::new(10);
        let a = out.send(QoS::ExactlyOnce, "a").unwrap();
        let b = out.send(QoS::AtLeastOnce, "b").unwrap();
        let c = out.send(QoS::ExactlyOnce, "c").unwrap();
        out.on_pubrec(a, ReasonCode::SUCCESS).unwrap();
        assert_eq!(
            out.resume().collect::<Vec<_>>(),
            vec![
                Resend::PubRel(a),
                Resend::Publish { packet_id: b, qos: QoS::AtLeastOnce, message: "b" },
                Resend::Publish { packet_id: c, qos: QoS::ExactlyOnce, message: "c" },
            ]
        );
        assert_eq!(out.unsent(), 0);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn resume_with_nothing_in_flight_sends_nothing() {
        let mut out: Outbound<u8> = Outbound::new(3);
        assert_eq!(out.resume().count(), 0);
        assert!(!out.is_full());
    }

    #[test]
    fn an_exchange_restored_without_its_message_before_pubrec_ends_on_resume() {
        let mut out: Outbound<&str> = Outbound::new(10);
        let broken = NonZeroU16::MIN;
        out.restore(Inflight {
            packet_id: broken,
            qos: QoS::AtLeastOnce,
            state: OutboundState::AwaitingPubAck,
            message: None,
        });
        let ok = out.send(QoS::AtLeastOnce, "m").unwrap();
        assert_eq!(
            out.resume().collect::<Vec<_>>(),
            vec![Resend::Publish { packet_id: ok, qos: QoS::AtLeastOnce, message: "m" }]
        );
        assert!(!out.contains(broken));
    }

    #[test]
    fn an_ack_for_an_exchange_not_yet_sent_again_completes_it() {
        // The peer may acknowledge what it received on the old connection before it gets it again.
        let mut out = Outbound::new(4);
        let ids: Vec<_> = (0..4).map(|n| out.send(QoS::AtLeastOnce, n).unwrap()).collect();
        out.set_window(1);
        assert_eq!(out.resume().count(), 1);
        assert_eq!(out.on_puback(ids[3]), Ok(Some(3)));
        assert_eq!(out.unsent(), 2);
        assert_eq!(out.on_puback(ids[0]), Ok(Some(0)));
        assert_eq!(out.poll_resend().map(|r| r.packet_id()), Some(ids[1]));
        assert_eq!(out.poll_resend(), None);
        assert_eq!(out.on_puback(ids[1]), Ok(Some(1)));
        assert_eq!(out.poll_resend().map(|r| r.packet_id()), Some(ids[2]));
        assert_eq!(out.unsent(), 0);
    }

    #[test]
    fn a_new_message_waits_behind_exchanges_not_yet_sent_again_mqtt_4_6_0_1() {
        let mut out = Outbound::new(4);
        for n in 0..3 {
            out.send(QoS::AtLeastOnce, n).unwrap();
        }
        // The driver takes one resend now (say its write buffer is full), the rest later.
        assert_eq!(out.resume().take(1).count(), 1);
        assert_eq!(out.unsent(), 2);
        assert_eq!(out.room(), 0);
        assert_eq!(out.send(QoS::AtLeastOnce, 9), Err(9));
        assert_eq!(out.poll_resend().map(|r| r.packet_id().get()), Some(2));
        assert_eq!(out.poll_resend().map(|r| r.packet_id().get()), Some(3));
        assert_eq!(out.send(QoS::AtLeastOnce, 9).map(NonZeroU16::get), Ok(4));
    }
}
