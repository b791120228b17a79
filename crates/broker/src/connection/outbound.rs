//! Messages to the client: deliveries from the session's mailbox within the inflight window, and
//! redelivery of unacknowledged ones when a session resumes.

use std::num::NonZeroU16;
use std::time::Instant;

use tern_codec::{Ack, Packet, ProtocolVersion, Publish, QoS};
use tern_proto::{OutboundAlias, Resend};

use super::{Connection, WRITE_HIGH_WATER};
use crate::auth::cache::Check;
use crate::session::Delivery;
use crate::stats::{DropReason, Stats};

/// Deliveries taken from the mailbox per lock.
const BATCH: usize = 64;

impl Connection {
    /// Moves deliveries into the write buffer while it is below the high-water mark and the inflight window
    /// has room. Retained messages owed to a new subscription go first. True when it stopped because the
    /// next delivery in order waits in the store (spilled or paged out): page in, then pump again.
    #[must_use]
    pub(super) fn pump(&mut self) -> bool {
        let now = Instant::now();
        // Exchanges of a resumed session still to be sent again go first, as the window frees room.
        while self.wbuf.len() < WRITE_HIGH_WATER {
            let Some(resend) = self.outbound.poll_resend() else { break };
            self.send_resend(resend, now);
        }
        while self.wbuf.len() < WRITE_HIGH_WATER {
            let Some(front) = self.retained_backlog.front() else { break };
            if front.qos != QoS::AtMostOnce && self.outbound.is_full() {
                return false;
            }
            if let Some(delivery) = self.retained_backlog.pop_front() {
                self.send_delivery(delivery, now);
            }
        }
        let session = self.session.clone();
        let mut batch = Vec::new();
        let max_bytes = self.broker.limits.current().max_inflight_bytes;
        while self.wbuf.len() < WRITE_HIGH_WATER {
            let mut free = self.outbound.room();
            // `max_inflight_bytes`: QoS 1/2 payload bytes in flight (at least one message always goes).
            let mut bytes_free =
                if max_bytes == 0 { usize::MAX } else { max_bytes.saturating_sub(self.inflight_bytes()) };
            let mut empty = self.outbound.is_empty();
            let waits_on_disk = {
                let mut mailbox = session.mailbox.lock();
                while batch.len() < BATCH {
                    match mailbox.front() {
                        Some(d) if d.qos == QoS::AtMostOnce => {}
                        Some(d) if free > 0 && (empty || d.message.size() <= bytes_free) => {
                            free -= 1;
                            bytes_free = bytes_free.saturating_sub(d.message.size());
                            empty = false;
                        }
                        _ => break,
                    }
                    if let Some(d) = mailbox.pop() {
                        batch.push(d);
                    }
                }
                if !batch.is_empty() {
                    session.after_pop(&mailbox);
                }
                batch.is_empty() && mailbox.needs_page_in()
            };
            if batch.is_empty() {
                return waits_on_disk;
            }
            for delivery in batch.drain(..) {
                self.broker
                    .stats
                    .publish_latency
                    .observe(now.saturating_duration_since(delivery.message.received_at));
                self.send_delivery(delivery, now);
            }
        }
        false
    }

    /// Bytes of the messages in flight (counted for `max_inflight_bytes`).
    fn inflight_bytes(&self) -> usize {
        self.outbound.iter().filter_map(|e| e.message.as_ref()).map(|d| d.message.size()).sum()
    }

    /// Encodes one delivery as PUBLISH, opening an inflight exchange for QoS 1/2.
    fn send_delivery(&mut self, delivery: Delivery, now: Instant) {
        let message = &delivery.message;
        if message.is_expired(now) {
            return self.dequeue_stored(&delivery); // [MQTT-3.3.2-5] Expired messages are not delivered.
        }
        if !self.authorized(Check::Receive, &message.topic) {
            return self.dequeue_stored(&delivery);
        }
        let mut publish = publish_for(self.version, &delivery, now);
        publish.topic = self.unmount(&publish.topic);
        if !fits(self.version, self.client_max_packet, &publish, delivery.qos, false) {
            self.dequeue_stored(&delivery);
            return self.dropped_too_large();
        }
        // A stored QoS 2 delivery keeps its packet identifier across a restart: stored before it is sent.
        let stored_qos2 = (delivery.qos == QoS::ExactlyOnce && delivery.seq != 0).then(|| delivery.clone());
        // Setting a topic alias adds a property: only use aliases when the packet still fits with it, so
        // an alias is never recorded for a packet that is then not sent.
        let alias = fits(self.version, self.client_max_packet, &publish, delivery.qos, true);
        let mut lsn = None;
        if delivery.qos != QoS::AtMostOnce {
            match self.outbound.send(delivery.qos, delivery) {
                Ok(id) => {
                    publish.packet_id = Some(id);
                    if let (Some(d), Some(stored)) = (self.session.durable(), &stored_qos2) {
                        lsn = Some(d.sent_qos2(&self.client_id, stored, id.get()));
                    }
                }
                Err(d) => {
                    // Window full after all: back to the front of the queue.
                    self.session.mailbox.lock().requeue_front(std::iter::once(d));
                    return;
                }
            }
        }
        if alias {
            self.apply_topic_alias(&mut publish);
        }
        Stats::add(&self.broker.stats.publish_sent, 1);
        self.broker.stats.publish_out(publish.qos, publish.payload.len());
        self.send_packet_after(lsn, &Packet::Publish(publish));
    }

    fn dropped_too_large(&self) {
        self.broker.stats.drop(DropReason::TooLarge, 1);
    }

    fn apply_topic_alias(&mut self, publish: &mut Publish) {
        let Some(aliases) = self.aliases_out.as_mut() else { return };
        match aliases.alias_for(&publish.topic) {
            Some(OutboundAlias::Set(alias)) => publish.properties.topic_alias = Some(alias),
            Some(OutboundAlias::Use(alias)) => {
                publish.properties.topic_alias = Some(alias);
                publish.topic = Default::default();
            }
            None => {}
        }
    }

    /// Sends unacknowledged messages again, in order, when a session resumes: PUBLISH with DUP set, or
    /// PUBREL for exchanges past PUBREC [MQTT-4.4.0-1], as many as the client's window takes; `pump` sends
    /// the rest as acknowledgements free room.
    pub(super) fn resume_inflight(&mut self) {
        let now = Instant::now();
        // Expired messages are not sent again; nor is a message the new connection asks for smaller packets
        // than it needs: it is discarded as if it had been sent [MQTT-3.1.2-25]. Exchanges past PUBREC only
        // need their PUBREL. (Sized as sent: without the listener's mount point.)
        let (version, max_packet) = (self.version, self.client_max_packet);
        let mount = self.listener.mount_point.as_deref();
        let discarded = self.outbound.discard(|entry| {
            entry.message.as_ref().is_some_and(|d| {
                // [MQTT-4.3.3-7] A QoS 2 PUBLISH once sent is not subject to expiry any more.
                if d.message.is_expired(now) && entry.qos != QoS::ExactlyOnce {
                    return true;
                }
                let mut publish = publish_for(version, d, now);
                publish.topic = super::unmount(mount, &publish.topic);
                !fits(version, max_packet, &publish, d.qos, false)
            })
        });
        for delivery in discarded.iter().filter_map(|e| e.message.as_ref()) {
            self.dequeue_stored(delivery);
        }
        let resends: Vec<_> = self.outbound.resume().collect();
        for resend in resends {
            self.send_resend(resend, now);
        }
    }

    /// Sends an open exchange again. A QoS 1 message that expired while it waited for room is dropped.
    fn send_resend(&mut self, resend: Resend<Delivery>, now: Instant) {
        let (packet_id, delivery) = match resend {
            Resend::PubRel(id) => return self.send_packet(&Packet::PubRel(Ack::new(id))),
            Resend::Publish { packet_id, message, .. } => (packet_id, message),
        };
        if delivery.qos == QoS::AtLeastOnce && delivery.message.is_expired(now) {
            self.outbound.discard(|e| e.packet_id == packet_id);
            return self.dequeue_stored(&delivery);
        }
        let mut publish = publish_for(self.version, &delivery, now);
        publish.topic = self.unmount(&publish.topic);
        publish.dup = true;
        publish.packet_id = Some(packet_id);
        self.send_packet(&Packet::Publish(publish));
    }
}

/// The PUBLISH for a delivery (without packet id).
fn publish_for(version: ProtocolVersion, delivery: &Delivery, now: Instant) -> Publish {
    let message = &delivery.message;
    let mut publish = Publish {
        dup: false,
        qos: delivery.qos,
        retain: delivery.retain,
        topic: message.topic.clone(),
        packet_id: None,
        payload: message.payload.clone(),
        properties: Default::default(),
    };
    if version.is_v5() {
        publish.properties = message.properties.clone();
        publish.properties.subscription_identifiers = delivery.subscription_ids.clone();
        publish.properties.message_expiry_interval = message.remaining_expiry(now);
    }
    publish
}

/// [MQTT-3.1.2-24] Whether `publish` sent at `qos` fits the client's Maximum Packet Size, counting the
/// packet identifier it will get and, with `alias`, a Topic Alias property set alongside the topic.
fn fits(version: ProtocolVersion, max_packet: u32, publish: &Publish, qos: QoS, alias: bool) -> bool {
    if max_packet == u32::MAX {
        return true;
    }
    let mut sized = publish.clone();
    if qos != QoS::AtMostOnce {
        sized.packet_id = Some(NonZeroU16::MIN);
    }
    if alias {
        sized.properties.topic_alias = Some(u16::MAX);
    }
    Packet::Publish(sized).encoded_len(version) <= max_packet as usize
}
