//! Sessions: what the broker keeps for a client id — subscriptions, the queue of messages waiting for it,
//! unacknowledged QoS 1/2 exchanges in both directions, and its expiry — across network connections.
//!
//! A [`Session`] is shared (`Arc`) between the router, which pushes deliveries into its [`Mailbox`], and the
//! connection that currently serves it. The connection owns the protocol state (inflight windows) while it
//! is up and parks it in the session when it ends, so the next connection with the same client id resumes
//! exactly where the last one stopped: redelivering unacknowledged messages in order with DUP set.
//!
//! # Layout
//! - [`control`]: messages to the connection serving the session (takeover, kick, recheck)
//! - [`mailbox`]: the bounded per-session queue
//! - [`registry`]: client id -> session, connection takeover, session expiry

pub mod control;
pub mod mailbox;
pub mod registry;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tern_codec::{ByteString, QoS, SubscriptionOptions};
use tern_proto::{Inbound, Outbound};
use tokio::sync::Notify;

pub use control::{Control, ControlReceiver, ControlSender};
pub use mailbox::{Delivery, Enqueued, Mailbox, Paged, QueueLimits, SharedQueueLimits};
pub use registry::SessionRegistry;

use crate::storage::record::SessionRecord;
use crate::storage::Durable;

/// The origin of [`Session::last_drain`] times.
fn epoch() -> std::time::Instant {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

/// One subscription of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    pub options: SubscriptionOptions,
    /// Subscription Identifier (MQTT 5.0).
    pub id: Option<u32>,
}

/// Protocol state a connection leaves behind for the next one.
#[derive(Debug)]
pub struct ParkedState {
    pub outbound: Outbound<Delivery>,
    pub inbound: Inbound,
}

/// The connection currently serving a session.
#[derive(Debug)]
pub struct Attached {
    pub connection_id: u64,
    pub control: ControlSender,
}

/// Mutable session state other than the mailbox.
#[derive(Debug, Default)]
pub struct SessionState {
    /// Topic filter (as subscribed, `$share/...` included) -> subscription.
    pub subscriptions: HashMap<ByteString, Subscription>,
    pub parked: Option<ParkedState>,
    pub attached: Option<Attached>,
    /// Session Expiry Interval in seconds (`u32::MAX`: never). 0 ends the session with its connection.
    pub expiry_interval: u32,
}

/// A session, shared by the router and its connection.
#[derive(Debug)]
pub struct Session {
    pub client_id: ByteString,
    pub mailbox: Mutex<Mailbox>,
    pub state: Mutex<SessionState>,
    /// Wakes the connection when the mailbox gets a delivery.
    notify: Notify,
    online: AtomicBool,
    /// Bumped on every attach and detach: timers (will delay, expiry) check it to know whether the session
    /// they were started for is still offline.
    generation: AtomicU64,
    /// The broker's queue limits, read at each message (a reload changes them for every session).
    limits: SharedQueueLimits,
    /// Deliveries dropped by queue limits.
    dropped: AtomicU64,
    /// Wakes publishers waiting for this congested session's queue to go below its limit.
    drained: Notify,
    /// A publisher waited for this session in vain: it is not waited for again until its queue drains.
    stalled: AtomicBool,
    /// When the connection last took deliveries out of the queue (ms since `EPOCH`): a congested session
    /// that keeps draining is still worth waiting for.
    last_drain: AtomicU64,
    /// The store, when the broker has one.
    durable: OnceLock<Arc<Durable>>,
    /// The session outlives its connection (expiry > 0) and is kept in the store.
    persistent: AtomicBool,
    /// Sequence number of the next stored delivery.
    next_seq: AtomicU64,
    /// A delayed will of this session is stored.
    pub(crate) will_stored: AtomicBool,
    /// The will waiting for its delay: sent when it runs out or when the session ends, whichever is first.
    pub(crate) pending_will: Mutex<Option<Box<crate::broker::PendingWill>>>,
}

impl Session {
    pub fn new(client_id: ByteString, limits: impl Into<SharedQueueLimits>) -> Self {
        Session {
            client_id,
            mailbox: Mutex::new(Mailbox::default()),
            state: Mutex::new(SessionState::default()),
            notify: Notify::new(),
            online: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            limits: limits.into(),
            dropped: AtomicU64::new(0),
            drained: Notify::new(),
            stalled: AtomicBool::new(false),
            last_drain: AtomicU64::new(0),
            durable: OnceLock::new(),
            persistent: AtomicBool::new(false),
            next_seq: AtomicU64::new(1),
            will_stored: AtomicBool::new(false),
            pending_will: Mutex::new(None),
        }
    }

    /// The session keeps its durable state in `durable` while it is persistent.
    pub fn with_durable(self, durable: Option<Arc<Durable>>) -> Self {
        if let Some(d) = durable {
            let _ = self.durable.set(d);
        }
        self
    }

    /// The store, if this session is kept in one (persistent, and the broker has a store).
    pub fn durable(&self) -> Option<&Arc<Durable>> {
        self.durable.get().filter(|_| self.persistent.load(Ordering::Acquire))
    }

    pub(crate) fn set_persistent(&self, persistent: bool) {
        self.persistent.store(persistent, Ordering::Release);
    }

    /// Stored deliveries continue after `seq` (recovery).
    pub(crate) fn continue_after(&self, seq: u64) {
        self.next_seq.fetch_max(seq + 1, Ordering::Relaxed);
    }

    /// Reads the next batch of paged-out deliveries (at most `max_queued_messages`) back into the queue,
    /// where they belong in order: those of an offline session when its client returns, an online one's
    /// overflow as its queue in memory empties. Memory holds one batch, however long the queue on disk.
    /// False when there was nothing to read (or no store to read it from).
    pub async fn page_in(&self) -> bool {
        let Some(durable) = self.durable.get() else { return false };
        let batch: Vec<Paged> =
            self.mailbox.lock().paged().take(self.limits.get().max_messages.max(1)).copied().collect();
        if batch.is_empty() {
            return false;
        }
        let loaded = durable.read_back(&self.client_id, &batch).await;
        let lost = self.mailbox.lock().page_in(batch.len(), loaded);
        if !lost.is_empty() {
            tracing::warn!(client_id = %self.client_id, "{} queued messages could not be read back from the store", lost.len());
            durable.forget_paged(&self.client_id, &lost);
        }
        true
    }

    /// Reads every paged-out delivery back (the session stops being stored).
    pub async fn page_in_all(&self) {
        // Each batch takes its entries off the paged queue, read back or not: this ends.
        while self.page_in().await {}
    }

    /// Saves the session record (expiry, subscriptions); `disconnected_at` is wall-clock ms, 0 while
    /// connected. Returns the LSN to wait for, if the session is stored.
    pub fn save(&self, disconnected_at: u64) -> Option<u64> {
        let durable = self.durable()?;
        let state = self.state.lock();
        let record = SessionRecord {
            expiry_interval: state.expiry_interval,
            disconnected_at,
            subscriptions: state.subscriptions.iter().map(|(f, s)| (f.clone(), *s)).collect(),
        };
        drop(state);
        Some(durable.save_session(&self.client_id, &record))
    }

    /// Queues a delivery and wakes the connection; returns what happened to it. A QoS 1/2 delivery to a
    /// persistent session is stored as it is queued.
    pub fn deliver(&self, mut delivery: Delivery) -> Enqueued {
        let online = self.is_online();
        let durable = self.durable().filter(|_| delivery.qos != QoS::AtMostOnce);
        let mut mailbox = self.mailbox.lock();
        if durable.is_some() {
            delivery.seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        }
        // Beyond the hard limit, an online persistent session's delivery waits on disk rather than be lost.
        let spill = online && durable.is_some() && delivery.shared.is_none();
        let outcome = mailbox.push(delivery, &self.limits.get(), online, spill);
        if let (Some(d), true) = (durable, outcome.is_queued()) {
            if let Some(queued) = mailbox.back() {
                d.enqueue(&self.client_id, queued.seq, queued);
            }
            if !online || outcome == Enqueued::Spilled || mailbox.has_paged() {
                // The client is away, the queue is beyond its hard limit, or older deliveries wait on disk
                // (this one waits behind them, in order): on disk, not in memory.
                mailbox.page_out_last();
            }
        }
        drop(mailbox);
        if outcome.is_queued() {
            self.notify.notify_one();
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    /// Resolves when deliveries may be waiting. A notification sent while nobody waits is kept, so checking
    /// the mailbox after this resolves never misses one.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// Whether a publisher should wait for this session: online, over its queue limit, not stalled.
    pub fn is_congested(&self) -> bool {
        self.is_online()
            && !self.stalled.load(Ordering::Relaxed)
            && self.mailbox.lock().is_over_limit(&self.limits.get())
    }

    /// Waits until the queue is below its limit (or the session goes offline), for as long as the session
    /// keeps draining: a session that makes no progress for `patience` is marked stalled so no publisher
    /// waits for it again until it drains.
    pub async fn wait_drained(&self, patience: std::time::Duration) {
        // Progress counts from the last drain, or from now if that was before the wait began.
        let started = std::time::Instant::now();
        let last_progress = || {
            let drained_at =
                epoch() + std::time::Duration::from_millis(self.last_drain.load(Ordering::Relaxed));
            drained_at.max(started)
        };
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.is_congested() {
                return;
            }
            let until = tokio::time::Instant::from_std(last_progress() + patience);
            if tokio::time::timeout_at(until, notified).await.is_err() {
                if last_progress() + patience > std::time::Instant::now() {
                    continue; // It drained meanwhile: keep waiting.
                }
                self.stalled.store(true, Ordering::Relaxed);
                return;
            }
        }
    }

    /// The connection took deliveries out of the queue. Waiting publishers are woken once it is down to
    /// half its limit, not at every delivery: woken together, they refill it in one burst while the
    /// subscriber then drains alone, instead of all of them contending for every free slot.
    pub(crate) fn after_pop(&self, mailbox: &Mailbox) {
        self.last_drain.store(epoch().elapsed().as_millis() as u64, Ordering::Relaxed);
        let limits = self.limits.get();
        if !mailbox.is_over_limit(&limits) {
            self.stalled.store(false, Ordering::Relaxed);
        }
        if mailbox.is_at_low_water(&limits) {
            self.drained.notify_waiters();
        }
    }

    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Acquire)
    }

    pub(crate) fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Messages waiting in the queue.
    pub fn queued(&self) -> usize {
        self.mailbox.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use std::time::Duration;
    use tern_codec::Publish;

    fn congested_session() -> Arc<Session> {
        let limits =
            QueueLimits { max_messages: 4, max_bytes: 0, queue_qos0_offline: false, max_stored: usize::MAX };
        let s = Arc::new(Session::new("sub".into(), limits));
        s.set_online(true);
        for _ in 0..5 {
            let mut p = Publish::new("t", "x");
            p.qos = QoS::AtLeastOnce;
            let message = Arc::new(Message::from_publish(p, "t".into(), None, std::time::Instant::now()));
            let d = Delivery {
                message,
                qos: QoS::AtLeastOnce,
                retain: false,
                subscription_ids: vec![],
                shared: None,
                seq: 0,
            };
            s.deliver(d);
        }
        assert!(s.is_congested());
        s
    }

    fn pop(s: &Session) {
        let mut mailbox = s.mailbox.lock();
        mailbox.pop();
        s.after_pop(&mailbox);
    }

    #[tokio::test]
    async fn a_publisher_waits_for_a_congested_subscriber_as_long_as_it_drains() {
        let s = congested_session();
        let drainer = {
            let s = s.clone();
            tokio::spawn(async move {
                for _ in 0..3 {
                    tokio::time::sleep(Duration::from_millis(80)).await;
                    pop(&s);
                }
            })
        };
        // Patience is shorter than the whole drain, but every pop renews it.
        let started = tokio::time::Instant::now();
        s.wait_drained(Duration::from_millis(150)).await;
        assert!(started.elapsed() >= Duration::from_millis(160), "waited past its patience while it drained");
        assert!(!s.stalled.load(Ordering::Relaxed), "a draining subscriber is not stalled");
        assert!(!s.is_congested());
        drainer.await.expect("drainer");
    }

    #[tokio::test]
    async fn a_subscriber_that_does_not_drain_is_marked_stalled_and_not_waited_for_again() {
        let s = congested_session();
        s.wait_drained(Duration::from_millis(100)).await;
        assert!(s.stalled.load(Ordering::Relaxed));
        assert!(!s.is_congested(), "publishers carry on without it");
        // Draining below the limit makes it worth waiting for again.
        pop(&s);
        pop(&s);
        assert!(!s.stalled.load(Ordering::Relaxed));
    }
}
