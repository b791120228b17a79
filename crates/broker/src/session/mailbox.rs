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
//! stalled, or an offline one — is a QoS 1/2 message dropped (and counted); unless the session is persistent,
//! online and the broker has a store: then it *spills* to the store instead, and is read back in order, a
//! bounded batch at a time, as the queue in memory empties.
//!
//! ```text
//!  logical order:   queue[..spill_at]   paged (on disk, oldest first)   queue[spill_at..]
//!                   in memory, older    read back a batch at a time     in memory, newer: QoS 0, shared
//! ```
//!
//! While anything is paged out, a new stored delivery is paged out behind it, so none overtakes another.

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
    /// Deliveries queued in all (memory and store) up to which an online session spills to the store.
    pub max_stored: usize,
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
    /// Beyond the hard limit, to be kept in the store only (a persistent session online).
    Spilled,
    /// Dropped: the queue is full.
    DroppedQueueFull,
    /// Dropped: QoS 0 for an offline client that does not queue QoS 0.
    DroppedOffline,
}

impl Enqueued {
    /// Whether the delivery is in the queue (in memory or, spilled, on its way to disk).
    pub fn is_queued(self) -> bool {
        matches!(
            self,
            Enqueued::Queued | Enqueued::QueuedEvictedQoS0 | Enqueued::QueuedOverLimit | Enqueued::Spilled
        )
    }
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
    /// Stored deliveries on disk only (an offline session's queue, or an online one's overflow), in order.
    paged: VecDeque<Paged>,
    /// Deliveries of `queue` that come before `paged`; the rest come after it.
    spill_at: usize,
    /// Bytes of `queue` and `paged`.
    bytes: usize,
    /// Bytes of `paged`.
    paged_bytes: usize,
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

    /// Bytes of the deliveries held in memory (not those waiting on disk only).
    pub fn memory_bytes(&self) -> usize {
        self.bytes - self.paged_bytes
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

    /// Queues `delivery` within `limits`. With `spill`, a QoS 1/2 delivery beyond the hard limit is queued
    /// anyway as [`Enqueued::Spilled`], for the caller to store and page out.
    pub fn push(&mut self, delivery: Delivery, limits: &QueueLimits, online: bool, spill: bool) -> Enqueued {
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
                None if spill && self.len() < limits.max_stored => outcome = Enqueued::Spilled,
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

    /// The next delivery in memory, if any. `None` while the next one in order is on disk: page in first.
    pub fn front(&self) -> Option<&Delivery> {
        if self.needs_page_in() {
            return None;
        }
        self.queue.front()
    }

    /// Whether the next delivery in order waits on disk.
    pub fn needs_page_in(&self) -> bool {
        self.spill_at == 0 && !self.paged.is_empty()
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
        // Deliveries in memory are older than those already paged out (an online session's overflow).
        for entry in stored.iter().rev().filter_map(Self::paged_entry) {
            self.paged_bytes += entry.size;
            self.paged.push_front(entry);
        }
        self.spill_at = 0;
    }

    /// Pages out the delivery queued last (one just stored for an offline session).
    pub fn page_out_last(&mut self) {
        if let Some(entry) = self.queue.back().and_then(Self::paged_entry) {
            self.queue.pop_back();
            self.push_paged_entry(entry);
        }
    }

    fn push_paged_entry(&mut self, entry: Paged) {
        if self.paged.is_empty() {
            self.spill_at = self.queue.len();
        }
        self.paged_bytes += entry.size;
        self.paged.push_back(entry);
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
        self.push_paged_entry(entry);
    }

    /// Whether deliveries are on disk only.
    pub fn has_paged(&self) -> bool {
        !self.paged.is_empty()
    }

    /// The paged-out entries, to read back.
    pub fn paged(&self) -> impl Iterator<Item = &Paged> {
        self.paged.iter()
    }

    /// Puts deliveries read back from disk (the first `read` paged entries) where they belong in the queue,
    /// in place of their paged entries, and forgets the entries of those that could not be read (returned,
    /// to release their messages).
    pub fn page_in(&mut self, read: usize, loaded: Vec<Delivery>) -> Vec<Paged> {
        let seqs: std::collections::HashSet<u64> = loaded.iter().map(|d| d.seq).collect();
        let read = read.min(self.paged.len());
        let mut lost = Vec::new();
        for entry in self.paged.drain(..read) {
            self.paged_bytes -= entry.size;
            self.bytes -= entry.size;
            if !seqs.contains(&entry.seq) {
                lost.push(entry);
            }
        }
        for d in loaded {
            self.bytes += d.size();
            self.spill_at = self.spill_at.min(self.queue.len());
            self.queue.insert(self.spill_at, d);
            self.spill_at += 1;
        }
        lost
    }

    /// Every queued delivery, to forget them in the store.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Delivery> {
        self.queue.iter_mut()
    }

    /// The next delivery in order, if it is in memory.
    pub fn pop(&mut self) -> Option<Delivery> {
        if self.needs_page_in() {
            return None;
        }
        let d = self.queue.pop_front()?;
        self.bytes -= d.size();
        self.spill_at = self.spill_at.saturating_sub(1);
        Some(d)
    }

    /// Puts deliveries back at the front, in order (a connection ended before sending them).
    pub fn requeue_front(&mut self, deliveries: impl DoubleEndedIterator<Item = Delivery>) {
        for d in deliveries.rev() {
            self.bytes += d.size();
            self.queue.push_front(d);
            self.spill_at += 1;
        }
    }

    /// Drops queued QoS 0 messages (a client going offline that does not queue them) and expired ones.
    pub fn retain(&mut self, mut keep: impl FnMut(&Delivery) -> bool) {
        let (bytes, spill_at) = (&mut self.bytes, &mut self.spill_at);
        let mut pos = 0;
        let before = *spill_at;
        self.queue.retain(|d| {
            let k = keep(d);
            if !k {
                *bytes -= d.size();
                if pos < before {
                    *spill_at -= 1;
                }
            }
            pos += 1;
            k
        });
    }

    /// Takes every queued delivery in memory out, in order, and the paged-out ones.
    pub fn drain(&mut self) -> (Vec<Delivery>, Vec<Paged>) {
        self.bytes = 0;
        self.paged_bytes = 0;
        self.spill_at = 0;
        (self.queue.drain(..).collect(), self.paged.drain(..).collect())
    }

    pub fn clear(&mut self) {
        self.queue.clear();
        self.paged.clear();
        self.bytes = 0;
        self.paged_bytes = 0;
        self.spill_at = 0;
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

    const LIMITS: QueueLimits =
        QueueLimits { max_messages: 2, max_bytes: 0, queue_qos0_offline: false, max_stored: usize::MAX };

    #[test]
    fn full_queue_drops_qos0_and_holds_qos12_up_to_twice_the_limit() {
        let mut mb = Mailbox::default();
        assert_eq!(mb.push(delivery(QoS::AtLeastOnce, "a"), &LIMITS, true, false), Enqueued::Queued);
        assert_eq!(mb.push(delivery(QoS::AtLeastOnce, "b"), &LIMITS, true, false), Enqueued::Queued);
        assert!(mb.is_over_limit(&LIMITS));
        assert_eq!(mb.push(delivery(QoS::AtMostOnce, "c"), &LIMITS, true, false), Enqueued::DroppedQueueFull);
        assert_eq!(mb.push(delivery(QoS::ExactlyOnce, "d"), &LIMITS, true, false), Enqueued::QueuedOverLimit);
        assert_eq!(mb.push(delivery(QoS::AtLeastOnce, "e"), &LIMITS, true, false), Enqueued::QueuedOverLimit);
        assert_eq!(
            mb.push(delivery(QoS::AtLeastOnce, "f"), &LIMITS, true, false),
            Enqueued::DroppedQueueFull
        );
        assert_eq!(mb.dropped, 2);
        assert_eq!(mb.len(), 4);
    }

    #[test]
    fn qos1_evicts_oldest_qos0_when_full() {
        let mut mb = Mailbox::default();
        mb.push(delivery(QoS::AtMostOnce, "a"), &LIMITS, true, false);
        mb.push(delivery(QoS::AtLeastOnce, "b"), &LIMITS, true, false);
        assert_eq!(
            mb.push(delivery(QoS::AtLeastOnce, "c"), &LIMITS, true, false),
            Enqueued::QueuedEvictedQoS0
        );
        let payloads: Vec<_> = std::iter::from_fn(|| mb.pop()).map(|d| d.message.payload.clone()).collect();
        assert_eq!(payloads, vec!["b", "c"]);
        assert_eq!(mb.bytes(), 0);
    }

    #[test]
    fn offline_qos0_is_dropped_unless_configured() {
        let mut mb = Mailbox::default();
        assert_eq!(mb.push(delivery(QoS::AtMostOnce, "a"), &LIMITS, false, false), Enqueued::DroppedOffline);
        let queue_qos0 = QueueLimits { queue_qos0_offline: true, ..LIMITS };
        assert_eq!(mb.push(delivery(QoS::AtMostOnce, "a"), &queue_qos0, false, false), Enqueued::Queued);
    }

    #[test]
    fn byte_limit_applies() {
        let mut mb = Mailbox::default();
        let limits = QueueLimits {
            max_messages: 100,
            max_bytes: 5,
            queue_qos0_offline: false,
            max_stored: usize::MAX,
        };
        assert_eq!(mb.push(delivery(QoS::AtLeastOnce, "abc"), &limits, true, false), Enqueued::Queued);
        assert_eq!(
            mb.push(delivery(QoS::AtMostOnce, "abc"), &limits, true, false),
            Enqueued::DroppedQueueFull
        );
        assert_eq!(
            mb.push(delivery(QoS::AtLeastOnce, "abc"), &limits, true, false),
            Enqueued::QueuedOverLimit
        );
        assert_eq!(
            mb.push(delivery(QoS::AtLeastOnce, "abc"), &limits, true, false),
            Enqueued::DroppedQueueFull
        );
        assert_eq!(mb.bytes(), 8);
    }

    /// A delivery kept in the store as `seq` (its message stored under the same number).
    fn stored(payload: &'static str, seq: u64) -> Delivery {
        let d = delivery(QoS::AtLeastOnce, payload);
        let _ = d.message.stored.set(seq);
        Delivery { seq, ..d }
    }

    fn payloads(mb: &mut Mailbox) -> Vec<bytes::Bytes> {
        std::iter::from_fn(|| mb.pop()).map(|d| d.message.payload.clone()).collect()
    }

    #[test]
    fn spilling_stops_at_the_stored_limit_and_later_messages_are_dropped() {
        let mut mb = Mailbox::default();
        let limits = QueueLimits { max_stored: 6, ..LIMITS };
        for seq in 1..=4 {
            assert!(mb.push(stored("x", seq), &limits, true, true).is_queued());
        }
        for seq in 5..=6 {
            assert_eq!(mb.push(stored("x", seq), &limits, true, true), Enqueued::Spilled);
            mb.page_out_last();
        }
        // Memory and disk together hold `max_stored`: what comes next is lost, and counted.
        assert_eq!(mb.push(stored("x", 7), &limits, true, true), Enqueued::DroppedQueueFull);
        assert_eq!((mb.len(), mb.dropped), (6, 1));
    }

    #[test]
    fn overflow_spills_to_disk_and_is_read_back_in_order_one_batch_at_a_time() {
        let mut mb = Mailbox::default();
        for (n, p) in ["a", "b", "c", "d"].into_iter().enumerate() {
            assert!(mb.push(stored(p, n as u64 + 1), &LIMITS, true, true).is_queued());
        }
        let size = mb.bytes() / 4;
        for (p, seq) in [("e", 5), ("f", 6)] {
            assert_eq!(mb.push(stored(p, seq), &LIMITS, true, true), Enqueued::Spilled);
            mb.page_out_last();
        }
        assert_eq!((mb.len(), mb.paged().count(), mb.dropped), (6, 2, 0));
        assert_eq!((mb.bytes(), mb.memory_bytes()), (6 * size, 4 * size));
        // What is in memory goes first; then the next one in order is on disk.
        assert_eq!(payloads(&mut mb), ["a", "b", "c", "d"]);
        assert!(mb.needs_page_in());
        assert!(mb.front().is_none());
        assert!(mb.page_in(1, vec![stored("e", 5)]).is_empty());
        assert_eq!(payloads(&mut mb), ["e"]);
        // One that cannot be read back is handed back to be forgotten.
        assert_eq!(mb.page_in(1, Vec::new()).iter().map(|p| p.seq).collect::<Vec<_>>(), [6]);
        assert!(mb.is_empty());
        assert_eq!(mb.bytes(), 0);
    }

    #[test]
    fn without_spill_the_hard_limit_still_drops() {
        let mut mb = Mailbox::default();
        for n in 1..=4 {
            mb.push(stored("x", n), &LIMITS, true, false);
        }
        assert_eq!(mb.push(stored("y", 5), &LIMITS, true, false), Enqueued::DroppedQueueFull);
    }

    #[test]
    fn an_offline_queue_read_back_in_batches_comes_before_what_stayed_in_memory() {
        let mut mb = Mailbox::default();
        let limits =
            QueueLimits { max_messages: 10, max_bytes: 0, queue_qos0_offline: true, max_stored: usize::MAX };
        mb.push(stored("s1", 1), &limits, true, false);
        mb.push(delivery(QoS::AtMostOnce, "z"), &limits, true, false);
        mb.push(stored("s2", 2), &limits, true, false);
        mb.page_out(); // the client goes away
        assert_eq!(mb.memory_bytes(), delivery(QoS::AtMostOnce, "z").size());
        assert!(mb.front().is_none());
        assert!(mb.page_in(1, vec![stored("s1", 1)]).is_empty());
        assert_eq!(payloads(&mut mb), ["s1"]);
        // A new stored delivery while older ones are on disk waits behind them.
        mb.push(stored("s3", 3), &limits, true, false);
        mb.page_out_last();
        assert!(mb.page_in(2, vec![stored("s2", 2), stored("s3", 3)]).is_empty());
        assert_eq!(payloads(&mut mb), ["s2", "s3", "z"]);
        assert_eq!(mb.bytes(), 0);
    }
}
