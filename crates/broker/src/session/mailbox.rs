//! A session's queue of messages waiting to be written to its client: the pipe from the router to the
//! connection while the client is online, and the offline queue while it is away.
//!
//! Bounded in messages and bytes so a slow or absent subscriber never makes broker memory grow without
//! bound. At the limit (`max_queued_messages` / `max_queued_bytes`) QoS 0 goes first: an incoming QoS 0
//! message is dropped, an incoming QoS 1/2 message evicts the oldest queued QoS 0 one if there is any, and
//! is otherwise *held* above the limit, up to twice it. A message held above the limit tells the router the
//! session is congested; when every recipient of a message is congested (fan-in), its publisher reads no
//! more until they drain (see `connection`): flow control instead of loss, at nobody else's expense. Only
//! beyond the hard limit — a subscriber slower than a publisher that others keep up with, one that stays
//! stalled, or an offline one — is a QoS 1/2 message dropped (and counted).

use std::collections::VecDeque;
use std::sync::Arc;

use arc_swap::ArcSwap;

use tern_codec::QoS;

use crate::message::Message;

/// One message on its way to one subscriber.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Arc<Message>,
    /// min(published QoS, granted QoS).
    pub qos: QoS,
    /// The RETAIN flag as sent to this subscriber.
    pub retain: bool,
    /// Identifiers of the subscriptions that matched (MQTT 5.0).
    pub subscription_ids: Vec<u32>,
    /// The shared subscription (`$share/{group}/{filter}`) it was given through, if any: when the session
    /// ends before acknowledging it, another member of the group gets it.
    pub shared: Option<tern_codec::ByteString>,
    /// Its place in the session's stored queue; 0 when not stored (QoS 0, clean session, no store).
    pub seq: u64,
}

impl Delivery {
    fn size(&self) -> usize {
        self.message.size()
    }
}

/// Limits of one session's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    pub max_messages: usize,
    /// 0 is unlimited.
    pub max_bytes: usize,
    /// Queue QoS 0 messages while the client is offline.
    pub queue_qos0_offline: bool,
}

/// The queue limits in force, one handle shared by every session: a reload stores new limits once and
/// every session, connected or not, applies them to the next message it queues (what is already queued
/// stays; a lowered limit makes a session congested until it drains below it).
#[derive(Debug, Clone)]
pub struct SharedQueueLimits(Arc<ArcSwap<QueueLimits>>);

impl SharedQueueLimits {
    pub fn new(limits: QueueLimits) -> Self {
        SharedQueueLimits(Arc::new(ArcSwap::from_pointee(limits)))
    }

    /// The limits in force now.
    pub fn get(&self) -> QueueLimits {
        **self.0.load()
    }

    /// Puts `limits` in force for every session holding this handle.
    pub fn set(&self, limits: QueueLimits) {
        self.0.store(Arc::new(limits));
    }
}

impl From<QueueLimits> for SharedQueueLimits {
    fn from(limits: QueueLimits) -> Self {
        SharedQueueLimits::new(limits)
    }
}

/// What happened to a message handed to a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Queued,
    /// Queued after evicting the oldest QoS 0 message.
    QueuedEvictedQoS0,
    /// Held above the limit: the session is congested.
    QueuedOverLimit,
    /// Dropped: the queue is full.
    DroppedQueueFull,
    /// Dropped: QoS 0 for an offline client that does not queue QoS 0.
    DroppedOffline,
}

/// A stored delivery of an offline session, kept on disk only: what is needed to count it against the
/// limits, to release its message, and to read it back when the client returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paged {
    pub seq: u64,
    pub message_id: u64,
    pub size: usize,
}

#[derive(Debug, Default)]
pub struct Mailbox {
    queue: VecDeque<Delivery>,
    /// Stored deliveries of an offline session, older than everything stored in `queue`, in order.
    paged: VecDeque<Paged>,
    /// Bytes of `queue` and `paged`.
    bytes: usize,
    /// Messages dropped because of the limits, since the session began.
    pub dropped: u64,
}

impl Mailbox {
    /// Messages queued, in memory and paged out.
    pub fn len(&self) -> usize {
        self.queue.len() + self.paged.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.paged.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether `incoming` more bytes would go over the limit scaled by `factor` (1: soft, 2: hard).
    fn is_full(&self, limits: &QueueLimits, incoming: usize, factor: usize) -> bool {
        self.len() >= limits.max_messages.saturating_mul(factor)
            || (limits.max_bytes > 0
                && self.bytes + incoming > limits.max_bytes.saturating_mul(factor)
                && !self.is_empty())
    }

    /// Whether the queue is at or above its limit.
    pub fn is_over_limit(&self, limits: &QueueLimits) -> bool {
        self.is_full(limits, 0, 1)
    }

    /// Whether the queue is down to half its limit (where waiting publishers are let go again).
    pub fn is_at_low_water(&self, limits: &QueueLimits) -> bool {
        self.len() <= limits.max_messages / 2 && (limits.max_bytes == 0 || self.bytes <= limits.max_bytes / 2)
    }

    /// Queues `delivery` within `limits`.
    pub fn push(&mut self, delivery: Delivery, limits: &QueueLimits, online: bool) -> Enqueued {
        if !online && delivery.qos == QoS::AtMostOnce && !limits.queue_qos0_offline {
            self.dropped += 1;
            return Enqueued::DroppedOffline;
        }
        let size = delivery.size();
        let mut outcome = Enqueued::Queued;
        if self.is_full(limits, size, 1) {
            if delivery.qos == QoS::AtMostOnce {
                self.dropped += 1;
                return Enqueued::DroppedQueueFull;
            }
            match self.queue.iter().position(|d| d.qos == QoS::AtMostOnce) {
                Some(pos) => {
                    if let Some(evicted) = self.queue.remove(pos) {
                        self.bytes -= evicted.size();
                    }
                    self.dropped += 1;
                    outcome = Enqueued::QueuedEvictedQoS0;
                }
                None if !self.is_full(limits, size, 2) => outcome = Enqueued::QueuedOverLimit,
                None => {
                    self.dropped += 1;
                    return Enqueued::DroppedQueueFull;
                }
            }
        }
        self.bytes += size;
        self.queue.push_back(delivery);
        outcome
    }

    /// The next delivery, if any.
    pub fn front(&self) -> Option<&Delivery> {
        self.queue.front()
    }

    /// The delivery queued last.
    pub fn back(&self) -> Option<&Delivery> {
        self.queue.back()
    }

    /// Keeps the stored deliveries of a session going offline on disk only: the messages they hold leave
    /// memory once no other queue holds them. Deliveries that are not stored (QoS 0) stay.
    pub fn page_out(&mut self) {
        let (stored, kept): (VecDeque<Delivery>, VecDeque<Delivery>) =
            self.queue.drain(..).partition(|d| Self::paged_entry(d).is_some());
        self.queue = kept;
        self.paged.extend(stored.iter().filter_map(Self::paged_entry));
    }

    /// Pages out the delivery queued last (one just stored for an offline session).
    pub fn page_out_last(&mut self) {
        if let Some(entry) = self.queue.back().and_then(Self::paged_entry) {
            self.queue.pop_back();
            self.paged.push_back(entry);
        }
    }

    /// A shared delivery stays in memory: if the session ends, it goes to another member of its group.
    fn paged_entry(d: &Delivery) -> Option<Paged> {
        let message_id = *d.message.stored.get()?;
        (d.seq != 0 && d.shared.is_none()).then_some(Paged { seq: d.seq, message_id, size: d.size() })
    }

    /// Queues a delivery restored from the store, whatever the limits (it was within them when stored).
    pub fn push_restored(&mut self, delivery: Delivery) {
        self.bytes += delivery.size();
        self.queue.push_back(delivery);
    }

    /// Counts a delivery that is on disk only (recovery), whatever the limits (it was within them).
    pub fn push_paged(&mut self, entry: Paged) {
        self.bytes += entry.size;
        self.paged.push_back(entry);
    }

    /// Whether deliveries are on disk only.
    pub fn has_paged(&self) -> bool {
        !self.paged.is_empty()
    }

    /// The paged-out entries, to read back.
    pub fn paged(&self) -> impl Iterator<Item = &Paged> {
        self.paged.iter()
    }

    /// Puts deliveries read back from disk in front of the queue, in place of their paged entries, and
    /// forgets the paged entries that could not be read (returned, to release their messages).
    pub fn page_in(&mut self, loaded: Vec<Delivery>) -> Vec<Paged> {
        let seqs: std::collections::HashSet<u64> = loaded.iter().map(|d| d.seq).collect();
        let lost: Vec<Paged> = self.paged.drain(..).filter(|p| !seqs.contains(&p.seq)).collect();
        self.bytes -= self.paged_bytes_of(&loaded, &lost);
        self.requeue_front(loaded.into_iter());
        lost
    }

    fn paged_bytes_of(&self, loaded: &[Delivery], lost: &[Paged]) -> usize {
        loaded.iter().map(Delivery::size).sum::<usize>() + lost.iter().map(|p| p.size).sum::<usize>()
    }

    /// Every queued delivery, to forget them in the store.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Delivery> {
        self.queue.iter_mut()
    }

    pub fn pop(&mut self) -> Option<Delivery> {
        let d = self.queue.pop_front()?;
        self.bytes -= d.size();
        Some(d)
    }

    /// Puts deliveries back at the front, in order (a connection ended before sending them).
    pub fn requeue_front(&mut self, deliveries: impl DoubleEndedIterator<Item = Delivery>) {
        for d in deliveries.rev() {
            self.bytes += d.size();
            self.queue.push_front(d);
        }
    }

    /// Drops queued QoS 0 messages (a client going offline that does not queue them) and expired ones.
    pub fn retain(&mut self, mut keep: impl FnMut(&Delivery) -> bool) {
        let bytes = &mut self.bytes;
        self.queue.retain(|d| {
            let k = keep(d);
            if !k {
                *bytes -= d.size();
            }
            k
        });
    }

    /// Takes every queued delivery in memory out, in order, and the paged-out ones.
    pub fn drain(&mut self) -> (Vec<Delivery>, Vec<Paged>) {
        self.bytes = 0;
        (self.queue.drain(..).collect(), self.paged.drain(..).collect())
    }

    pub fn clear(&mut self) {
        self.queue.clear();
        self.paged.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use tern_codec::Publish;

    fn delivery(qos: QoS, payload: &'static str) -> Delivery {
        let mut p = Publish::new("t", payload);
        p.qos = qos;
        let message = Message::from_publish(p, "t".into(), None, std::time::Instant::now());
        Delivery {
            message: Arc::new(message),
            qos,
            retain: false,
            subscription_ids: Vec::new(),
            shared: None,
            seq: 0,
        }
    }

    const LIMITS: QueueLimits = QueueLimits { max_messages: 2, max_bytes: 0, queue_qos0_offline: false };

    #[test]
    fn full_queue_drops_qos0_and_holds_qos12_up_to_twice_the_limit() {
        let mut mb = Mailbox::default();
        assert_eq!(mb.push(delivery(QoS::AtLeastOnce, "a"), &LIMITS, true), Enqueued::Queued);
        assert_eq!(mb.push(delivery(QoS::AtLeastOnce, "b"), &LIMITS, true), Enqueued::Queued);
        assert!(mb.is_over_limit(&LIMITS));
        assert_eq!(mb.push(delivery(QoS::AtMostOnce, "c"), &LIMITS, true), Enqueued::DroppedQueueFull);
        assert_eq!(mb.push(delivery(QoS::ExactlyOnce, "d"), &LIMITS, true), Enqueued::QueuedOverLimit);
        assert_eq!(mb.push(delivery(QoS::AtLeastOnce, "e"), &LIMITS, true), Enqueued::QueuedOverLimit);
        assert_eq!(mb.push(delivery(QoS::AtLeastOnce, "f"), &LIMITS, true), Enqueued::DroppedQueueFull);
        assert_eq!(mb.dropped, 2);
        assert_eq!(mb.len(), 4);
    }

    #[test]
    fn qos1_evicts_oldest_qos0_when_full() {
        let mut mb = Mailbox::default();
        mb.push(delivery(QoS::AtMostOnce, "a"), &LIMITS, true);
        mb.push(delivery(QoS::AtLeastOnce, "b"), &LIMITS, true);
        assert_eq!(mb.push(delivery(QoS::AtLeastOnce, "c"), &LIMITS, true), Enqueued::QueuedEvictedQoS0);
        let payloads: Vec<_> = std::iter::from_fn(|| mb.pop()).map(|d| d.message.payload.clone()).collect();
        assert_eq!(payloads, vec!["b", "c"]);
        assert_eq!(mb.bytes(), 0);
    }

    #[test]
    fn offline_qos0_is_dropped_unless_configured() {
        let mut mb = Mailbox::default();
        assert_eq!(mb.push(delivery(QoS::AtMostOnce, "a"), &LIMITS, false), Enqueued::DroppedOffline);
        let queue_qos0 = QueueLimits { queue_qos0_offline: true, ..LIMITS };
        assert_eq!(mb.push(delivery(QoS::AtMostOnce, "a"), &queue_qos0, false), Enqueued::Queued);
    }

    #[test]
    fn byte_limit_applies() {
        let mut mb = Mailbox::default();
        let limits = QueueLimits { max_messages: 100, max_bytes: 5, queue_qos0_offline: false };
        assert_eq!(mb.push(delivery(QoS::AtLeastOnce, "abc"), &limits, true), Enqueued::Queued);
        assert_eq!(mb.push(delivery(QoS::AtMostOnce, "abc"), &limits, true), Enqueued::DroppedQueueFull);
        assert_eq!(mb.push(delivery(QoS::AtLeastOnce, "abc"), &limits, true), Enqueued::QueuedOverLimit);
        assert_eq!(mb.push(delivery(QoS::AtLeastOnce, "abc"), &limits, true), Enqueued::DroppedQueueFull);
        assert_eq!(mb.bytes(), 8);
    }
}
