//! Sessions: what the broker keeps for a client id — subscriptions, the queue of messages waiting for it,
//! unacknowledged QoS 1/2 exchanges in both directions, and its expiry — across network connections.
//!
//! A [`Session`] is shared (`Arc`) between the router, which pushes deliveries into its [`Mailbox`], and the
//! connection that currently serves it. The connection owns the protocol state (inflight windows) while it
//! is up and parks it in the session when it ends, so the next connection with the same client id resumes
//! exactly where the last one stopped: redelivering unacknowledged messages in order with DUP set.
//!
//! # Layout
//! - [`mailbox`]: the bounded per-session queue
//! - [`registry`]: client id -> session, connection takeover, session expiry

pub mod mailbox;
pub mod registry;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use tern_codec::{ByteString, SubscriptionOptions};
use tern_proto::{Inbound, Outbound};
use tokio::sync::{mpsc, oneshot, Notify};

pub use mailbox::{Delivery, Enqueued, Mailbox, QueueLimits};
pub use registry::SessionRegistry;

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

/// A message to the connection serving a session.
#[derive(Debug)]
pub enum Control {
    /// Another connection with the same client id takes the session over [MQTT-3.1.4-3]: close, handle the
    /// will, park the state, then answer.
    TakenOver(oneshot::Sender<()>),
    /// An administrator disconnects the client.
    Kick(tern_codec::ReasonCode),
    /// The broker sends its clients to another server: v5 clients get DISCONNECT 0x9C/0x9D with the Server
    /// Reference.
    Redirect(crate::broker::Redirect),
    /// The security settings were reloaded: authenticate again, drop what is no longer allowed.
    Recheck,
}

/// The connection currently serving a session.
#[derive(Debug)]
pub struct Attached {
    pub connection_id: u64,
    pub control: mpsc::Sender<Control>,
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
    limits: QueueLimits,
    /// Deliveries dropped by queue limits.
    dropped: AtomicU64,
    /// Wakes publishers waiting for this congested session's queue to go below its limit.
    drained: Notify,
    /// A publisher waited for this session in vain: it is not waited for again until its queue drains.
    stalled: AtomicBool,
}

impl Session {
    pub fn new(client_id: ByteString, limits: QueueLimits) -> Self {
        Session {
            client_id,
            mailbox: Mutex::new(Mailbox::default()),
            state: Mutex::new(SessionState::default()),
            notify: Notify::new(),
            online: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            limits,
            dropped: AtomicU64::new(0),
            drained: Notify::new(),
            stalled: AtomicBool::new(false),
        }
    }

    /// Queues a delivery and wakes the connection; returns what happened to it.
    pub fn deliver(&self, delivery: Delivery) -> Enqueued {
        let online = self.is_online();
        let outcome = self.mailbox.lock().push(delivery, &self.limits, online);
        match outcome {
            Enqueued::Queued | Enqueued::QueuedEvictedQoS0 | Enqueued::QueuedOverLimit => {
                self.notify.notify_one()
            }
            Enqueued::DroppedQueueFull | Enqueued::DroppedOffline => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
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
            && self.mailbox.lock().is_over_limit(&self.limits)
    }

    /// Waits until the queue is below its limit (or the session goes offline), at most until `deadline`;
    /// a session that does not drain in time is marked stalled so no publisher waits for it again until it
    /// does.
    pub async fn wait_drained(&self, deadline: tokio::time::Instant) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.is_congested() {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                self.stalled.store(true, Ordering::Relaxed);
                return;
            }
        }
    }

    /// The connection took deliveries out of the queue: wake waiting publishers once it is below its limit.
    pub(crate) fn after_pop(&self, mailbox: &Mailbox) {
        if !mailbox.is_over_limit(&self.limits) {
            self.stalled.store(false, Ordering::Relaxed);
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
