//! Two ends of an MQTT conversation in memory: a sender's [`Outbound`] and a receiver's [`Inbound`] joined by
//! two FIFO links, with every packet written as a value. A disconnect loses whatever is on the links; a
//! reconnect resumes the session. The pair checks the rules as it goes: no acknowledgement that does not fit,
//! no packet identifier reused while open [MQTT-2.2.1-3], never more in flight than the window.

#![allow(dead_code)] // each test binary uses part of it

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU16;

use tern_codec::{QoS, ReasonCode};
use tern_proto::{Inbound, InboundPublish, Outbound, PubRecOutcome, Resend};

/// A packet on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Publish { id: NonZeroU16, qos: QoS, message: u32, dup: bool },
    PubAck(NonZeroU16),
    PubRec(NonZeroU16),
    PubRel(NonZeroU16),
    PubComp(NonZeroU16),
}

#[derive(Debug)]
pub struct Pair {
    pub sender: Outbound<u32>,
    pub receiver: Inbound,
    pub to_receiver: VecDeque<Wire>,
    pub to_sender: VecDeque<Wire>,
    /// Messages accepted by the sender, in order, with their QoS.
    pub sent: Vec<(u32, QoS)>,
    /// Messages handed to the receiving application, duplicates included.
    pub delivered: Vec<u32>,
    /// Messages whose exchange the sender completed (PUBACK, or PUBCOMP).
    pub completed: Vec<u32>,
    window: u16,
    /// QoS 2 messages between PUBREC and PUBCOMP, by packet identifier.
    released: HashMap<u16, u32>,
    /// Identifiers of exchanges open in the sender, as the pair sees them.
    open: HashSet<u16>,
    /// Exchanges sent on the current connection and not complete: the peer counts these.
    live: HashSet<u16>,
    next_message: u32,
}

impl Pair {
    /// A sender allowed `window` messages in flight, and a receiver with that Receive Maximum.
    pub fn new(window: u16) -> Self {
        Pair {
            sender: Outbound::new(window),
            receiver: Inbound::new(window),
            to_receiver: VecDeque::new(),
            to_sender: VecDeque::new(),
            sent: Vec::new(),
            delivered: Vec::new(),
            completed: Vec::new(),
            window,
            released: HashMap::new(),
            open: HashSet::new(),
            live: HashSet::new(),
            next_message: 1,
        }
    }

    /// The sender publishes a new message if the window has room; returns its packet identifier.
    pub fn publish(&mut self, qos: QoS) -> Option<NonZeroU16> {
        let message = self.next_message;
        let id = self.sender.send(qos, message).ok()?;
        assert!(self.open.insert(id.get()), "[MQTT-2.2.1-3] packet identifier {id} reused while in flight");
        self.next_message += 1;
        self.sent.push((message, qos));
        self.transmit(Wire::Publish { id, qos, message, dup: false });
        Some(id)
    }

    fn transmit(&mut self, packet: Wire) {
        if let Wire::Publish { id, .. } | Wire::PubRel(id) = packet {
            self.live.insert(id.get());
            assert!(
                self.live.len() <= usize::from(self.window),
                "[MQTT-3.3.4-9] more in flight than the window"
            );
        }
        self.to_receiver.push_back(packet);
    }

    fn complete(&mut self, id: NonZeroU16, message: u32) {
        self.completed.push(message);
        self.open.remove(&id.get());
        self.live.remove(&id.get());
    }

    /// The receiver takes the next packet off its link; false when there is none.
    pub fn receiver_takes_one(&mut self) -> bool {
        let Some(packet) = self.to_receiver.pop_front() else { return false };
        match packet {
            Wire::Publish { id, qos, message, .. } => match self.receiver.on_publish(qos, Some(id)) {
                Ok(InboundPublish::Deliver) => {
                    self.delivered.push(message);
                    if qos == QoS::ExactlyOnce {
                        self.to_sender.push_back(Wire::PubRec(id));
                    } else {
                        self.receiver.puback_sent();
                        self.to_sender.push_back(Wire::PubAck(id));
                    }
                }
                Ok(InboundPublish::Duplicate) => self.to_sender.push_back(Wire::PubRec(id)),
                Err(e) => panic!("receiver refused {packet:?}: {e}"),
            },
            Wire::PubRel(id) => {
                // A PUBREL for an identifier already released is answered too (0x92 in v5).
                self.receiver.on_pubrel(id);
                self.to_sender.push_back(Wire::PubComp(id));
            }
            other => panic!("a sender does not send {other:?}"),
        }
        true
    }

    /// The sender takes the next packet off its link, then sends what the window now lets it send again.
    pub fn sender_takes_one(&mut self) -> bool {
        let Some(packet) = self.to_sender.pop_front() else { return false };
        match packet {
            Wire::PubAck(id) => match self.sender.on_puback(id) {
                Ok(Some(message)) => self.complete(id, message),
                other => panic!("PUBACK {id}: {other:?}"),
            },
            Wire::PubRec(id) => match self.sender.on_pubrec(id, ReasonCode::SUCCESS) {
                Ok(PubRecOutcome::Release(message)) => {
                    self.released.insert(id.get(), message);
                    self.transmit(Wire::PubRel(id));
                }
                Ok(PubRecOutcome::ReleaseAgain) => self.transmit(Wire::PubRel(id)),
                other => panic!("PUBREC {id}: {other:?}"),
            },
            Wire::PubComp(id) => match (self.sender.on_pubcomp(id), self.released.remove(&id.get())) {
                (Ok(()), Some(message)) => self.complete(id, message),
                other => panic!("PUBCOMP {id}: {other:?}"),
            },
            other => panic!("a receiver does not send {other:?}"),
        }
        self.pump();
        true
    }

    /// Sends what waits for room in the window after a resume.
    pub fn pump(&mut self) -> Vec<Wire> {
        let mut out = Vec::new();
        while let Some(resend) = self.sender.poll_resend() {
            out.push(wire(resend));
        }
        for &packet in &out {
            self.transmit(packet);
        }
        out
    }

    /// The connection drops: what is on the links is lost.
    pub fn disconnect(&mut self) {
        self.to_receiver.clear();
        self.to_sender.clear();
        self.live.clear();
    }

    /// A new connection resumes the session with `window` (both the sender's window and the receiver's
    /// Receive Maximum). Returns what the sender sent again at once.
    pub fn reconnect(&mut self, window: u16) -> Vec<Wire> {
        self.disconnect();
        self.window = window.max(1);
        self.sender.set_window(window);
        self.receiver.reconnected(window);
        let out: Vec<_> = self.sender.resume().map(wire).collect();
        for &packet in &out {
            self.transmit(packet);
        }
        out
    }

    /// Delivers everything on both links until nothing moves.
    pub fn run(&mut self) {
        while self.receiver_takes_one() || self.sender_takes_one() {}
    }

    /// Messages in the order the receiver first got them.
    pub fn first_deliveries(&self) -> Vec<u32> {
        let mut seen = HashSet::new();
        self.delivered.iter().copied().filter(|m| seen.insert(*m)).collect()
    }

    /// Every accepted message, in send order.
    pub fn sent_messages(&self) -> Vec<u32> {
        self.sent.iter().map(|(m, _)| *m).collect()
    }
}

/// The packet a resend is on the wire.
pub fn wire(resend: Resend<u32>) -> Wire {
    match resend {
        Resend::Publish { packet_id, qos, message } => {
            Wire::Publish { id: packet_id, qos, message, dup: true }
        }
        Resend::PubRel(id) => Wire::PubRel(id),
    }
}
