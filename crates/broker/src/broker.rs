//! The broker core: state shared by every connection (router, retained messages, sessions, security) and
//! the session lifecycle — attach with takeover, detach, expiry, wills.
//!
//! ```text
//!  CONNECT ──► attach ──► (old connection? ── Control::TakenOver ──► it closes, parks its state, acks)
//!                 │
//!                 ├─ clean start: the old session ends, a new one begins (session present = 0)
//!                 └─ otherwise: resume the parked state and queued messages (session present = 1)
//!  connection ends ──► detach ──► expiry 0: the session ends now
//!                                 otherwise: offline, queueing; ends when its expiry interval runs out
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tern_codec::{ByteString, LastWill};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::auth::{Authorizer, ClientInfo};
use crate::clients::ClientDirectory;
use crate::config::Config;
use crate::limits::LiveLimits;
use crate::listener::ListenerContext;
use crate::message::Message;
use crate::overload::{ConnectionGate, MemoryWatch};
use crate::retained::RetainedIndex;
use crate::router::{RouteOutcome, Router};
use crate::session::{
    Attached, Control, ControlSender, Delivery, ParkedState, Session, SessionRegistry, SharedQueueLimits,
};
use crate::stats::{DropReason, Stats};
use crate::storage::record::{self, WillRecord};
use crate::storage::Durable;
use tern_proto::OutboundState;

/// Session expiry that means "never".
pub const NEVER_EXPIRES: u32 = u32::MAX;

/// What a reload answers: what was done, or why nothing changed.
pub type ReloadOutcome = std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send>>;

/// Reloads the configuration when an operator asks through the admin API (the binary sets it: the file
/// to re-read is its business).
pub type ReloadHook = Arc<dyn Fn() -> ReloadOutcome + Send + Sync>;

/// How long a new connection waits for the connection it takes over to let go.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// State shared by all connections.
#[derive(Debug)]
pub struct BrokerShared {
    /// The configuration the broker started with; the limits a reload changes are in `limits`.
    pub config: Config,
    /// The `[limits]` in force.
    pub limits: LiveLimits,
    pub router: Router,
    pub retained: RwLock<RetainedIndex<Arc<Message>>>,
    pub sessions: SessionRegistry,
    pub stats: Stats,
    pub shutdown: CancellationToken,
    next_connection_id: AtomicU64,
    pub started: Instant,
    /// Connected clients, for operators.
    pub clients: ClientDirectory,
    /// Admission of new connections (accept rate).
    pub connection_gate: ConnectionGate,
    /// Resident memory and the high-water mark.
    pub memory: MemoryWatch,
    reload: ReloadSlot,
    /// Where MQTT 5 clients are sent instead (Server Reference), if anywhere: from `mqtt.server_reference`,
    /// changed at run time by `RunningBroker::redirect`.
    pub redirect: arc_swap::ArcSwapOption<Redirect>,
    /// The store of durable state; `None` in memory mode.
    pub durable: Option<Arc<Durable>>,
    /// The listeners, in configuration order (a stored will names the one its client came through).
    pub(crate) listeners: OnceLock<Vec<Arc<ListenerContext>>>,
}

/// Wall-clock milliseconds since the Unix epoch, as the store keeps times.
pub(crate) fn wall_now_ms() -> u64 {
    record::wall_ms(Instant::now(), Instant::now(), std::time::SystemTime::now())
}

/// Where the reload hook is kept (a closure has no `Debug`).
#[derive(Default)]
struct ReloadSlot(RwLock<Option<ReloadHook>>);

impl std::fmt::Debug for ReloadSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.read().is_some() { "ReloadSlot(set)" } else { "ReloadSlot(unset)" })
    }
}

/// Clients are sent to another server (MQTT 5.0 section 4.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The Server Reference: host, host:port, or several separated by spaces.
    pub server_reference: ByteString,
    /// Permanent (0x9D Server moved) rather than temporary (0x9C Use another server).
    pub moved: bool,
}

impl Redirect {
    /// The reason code that announces it.
    pub fn reason_code(&self) -> tern_codec::ReasonCode {
        if self.moved {
            tern_codec::ReasonCode::SERVER_MOVED
        } else {
            tern_codec::ReasonCode::USE_ANOTHER_SERVER
        }
    }
}

/// A will waiting for its Will Delay Interval.
#[derive(Debug)]
pub struct PendingWill {
    pub will: LastWill,
    pub username: Option<ByteString>,
    pub listener: Arc<ListenerContext>,
}

/// A session handed to a new connection.
#[derive(Debug)]
pub struct Attachment {
    pub session: Arc<Session>,
    pub session_present: bool,
    pub parked: Option<ParkedState>,
}

impl BrokerShared {
    pub fn new(config: Config) -> Self {
        let redirect = config.mqtt.server_reference.as_ref().map(|r| {
            Arc::new(Redirect { server_reference: r.as_str().into(), moved: config.mqtt.server_moved })
        });
        BrokerShared {
            redirect: arc_swap::ArcSwapOption::new(redirect),
            router: Router::new(config.limits.shared_subscription_policy),
            retained: RwLock::new(RetainedIndex::new()),
            sessions: SessionRegistry::default(),
            stats: Stats::default(),
            shutdown: CancellationToken::new(),
            next_connection_id: AtomicU64::new(1),
            started: Instant::now(),
            clients: ClientDirectory::default(),
            connection_gate: ConnectionGate::new(&config.limits),
            memory: MemoryWatch::new(config.limits.memory_high_water),
            reload: ReloadSlot::default(),
            durable: None,
            listeners: OnceLock::new(),
            limits: LiveLimits::new(&config.limits),
            config,
        }
    }

    /// Sets what "reload the configuration" does.
    pub fn set_reload_hook(&self, hook: ReloadHook) {
        *self.reload.0.write() = Some(hook);
    }

    /// Runs the reload hook; `None` when none is set.
    pub async fn reload_hook(&self) -> Option<Result<String, String>> {
        // Cloned first: the lock is never held across the await.
        let hook = self.reload.0.read().clone();
        match hook {
            Some(h) => Some(h().await),
            None => None,
        }
    }

    /// Sends clients to another server from now on (`None`: stops): see `RunningBroker::redirect`.
    pub fn set_redirect(&self, redirect: Option<Redirect>) {
        self.redirect.store(redirect.clone().map(Arc::new));
        let Some(redirect) = redirect else { return };
        for session in self.sessions.all() {
            let control = session.state.lock().attached.as_ref().map(|a| a.control.clone());
            if let Some(control) = control {
                let _ = control.send(Control::Redirect(redirect.clone()));
            }
        }
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The queue limits in force, shared by every session.
    pub fn queue_limits(&self) -> SharedQueueLimits {
        self.limits.queue()
    }

    /// Stores (or clears) a retained message [MQTT-3.3.1-5], [MQTT-3.3.1-6]: a retained PUBLISH with an
    /// empty payload removes the topic's retained message and is not stored itself.
    pub fn store_retained(&self, message: &Arc<Message>) {
        let mut retained = self.retained.write();
        let stored = if message.payload.is_empty() {
            retained.remove(&message.topic).is_some().then_some(None)
        } else {
            retained.insert(&message.topic, message.clone());
            Some(Some(message.as_ref()))
        };
        // Under the index lock: the store sees the changes of one topic in the order the index does.
        // `$SYS` topics are the broker's own, made afresh after a restart.
        let durable = self.durable.as_ref().filter(|_| !message.topic.starts_with("$SYS/"));
        if let (Some(durable), Some(change)) = (durable, stored) {
            durable.retain(&message.topic, change);
        }
    }

    /// Removes the retained message of `topic` (an operator's request), in the store too.
    pub fn remove_retained(&self, topic: &str) -> Option<Arc<Message>> {
        let mut retained = self.retained.write();
        let removed = retained.remove(topic)?;
        if let Some(durable) = &self.durable {
            durable.retain(topic, None);
        }
        Some(removed)
    }

    /// Retained messages matching `filter` that have not expired.
    pub fn retained_matching(&self, filter: &str, now: Instant) -> Vec<Arc<Message>> {
        let mut out = Vec::new();
        self.retained.read().for_each_match(filter, |_, m| {
            if !m.is_expired(now) {
                out.push(m.clone());
            }
        });
        out
    }

    /// Publishes a message accepted from a client (or a will): retained store, then fan-out.
    pub fn publish(&self, message: Arc<Message>) -> RouteOutcome {
        if message.qos == tern_codec::QoS::AtMostOnce && message.publisher.is_some() && self.memory.is_over()
        {
            // Above the memory mark QoS 0 from clients goes first; it was never promised delivery.
            self.stats.drop(DropReason::Memory, 1);
            return RouteOutcome::default();
        }
        if message.retain && self.limits.current().retain_available {
            self.store_retained(&message);
        }
        let started = Instant::now();
        let outcome = self.router.route(&message);
        self.stats.routing_time.observe(started.elapsed());
        self.stats.drop(DropReason::Offline, outcome.dropped_offline as u64);
        self.stats.drop(
            DropReason::QueueFull,
            (outcome.dropped - outcome.dropped_offline + outcome.evicted) as u64,
        );
        outcome
    }

    /// Attaches a new connection to the session of `client_id`, taking it over from a connection still
    /// holding it [MQTT-3.1.4-3] and ending it first if `clean_start` [MQTT-3.1.2-4].
    pub async fn attach(
        &self,
        client_id: &ByteString,
        clean_start: bool,
        expiry_interval: u32,
        connection_id: u64,
        control: ControlSender,
    ) -> Attachment {
        loop {
            let (session, existed) = self.sessions.get_or_insert_with(client_id, || {
                Session::new(client_id.clone(), self.queue_limits()).with_durable(self.durable.clone())
            });
            let previous = session.state.lock().attached.take();
            if let Some(previous) = previous {
                let (ack_tx, ack_rx) = oneshot::channel();
                if previous.control.send(Control::TakenOver(ack_tx)).is_ok() {
                    // An error means the old connection ended on its own: it parked its state before.
                    let _ = tokio::time::timeout(TAKEOVER_TIMEOUT, ack_rx).await;
                }
                // The old connection may have ended the session (expiry 0): look again.
                continue;
            }
            if existed && clean_start {
                self.end_session(&session);
                continue;
            }
            let mut state = session.state.lock();
            if state.attached.is_some() {
                continue; // Another connection attached meanwhile; take it over in turn.
            }
            match self.sessions.get(client_id) {
                Some(current) if Arc::ptr_eq(&current, &session) => {}
                _ => continue, // Ended meanwhile.
            }
            state.attached = Some(Attached { connection_id, control: control.clone() });
            state.expiry_interval = expiry_interval;
            let parked = state.parked.take();
            drop(state);
            session.set_online(true);
            self.store_attached(&session, expiry_interval);
            return Attachment { session, session_present: existed, parked };
        }
    }

    /// Keeps the store in step with a session that just got a connection: a persistent one is saved (and a
    /// stored delayed will cancelled).
    fn store_attached(&self, session: &Arc<Session>, expiry_interval: u32) {
        // [MQTT-3.1.3-9] The session resumed before the Will Delay Interval passed: no will.
        session.pending_will.lock().take();
        let Some(durable) = &self.durable else { return };
        if session.will_stored.swap(false, Ordering::AcqRel) {
            durable.forget_will(&session.client_id);
        }
        if expiry_interval > 0 {
            session.set_persistent(true);
            session.save(0);
        }
    }

    /// After attaching: reads back what waited on disk while the client was away, and stops storing a
    /// session that now ends with its connection (expiry 0). Before the first delivery is sent.
    pub async fn resume_stored(
        &self,
        session: &Arc<Session>,
        expiry_interval: u32,
        parked: &mut Option<ParkedState>,
    ) {
        let Some(durable) = &self.durable else { return };
        if expiry_interval > 0 || session.durable().is_none() {
            session.page_in().await;
            return;
        }
        session.page_in_all().await;
        // Resumed with expiry 0: what was stored goes; in memory, the deliveries are no longer stored.
        session.set_persistent(false);
        let mut mailbox = session.mailbox.lock();
        let mut held: Vec<Delivery> = Vec::new();
        for d in mailbox.iter_mut() {
            held.push(d.clone());
            d.seq = 0;
        }
        drop(mailbox);
        if let Some(p) = parked {
            let entries: Vec<_> = p.outbound.drain().collect();
            for mut entry in entries {
                if let Some(d) = &mut entry.message {
                    held.push(d.clone());
                    d.seq = 0;
                }
                p.outbound.restore(entry);
            }
        }
        durable.forget_session(&session.client_id, held.iter(), &[]);
    }

    /// The connection `connection_id` stopped serving `session`. Parks its protocol state; ends the
    /// session if its expiry interval is 0, or starts the expiry timer.
    pub fn detach(
        self: &Arc<Self>,
        session: &Arc<Session>,
        connection_id: u64,
        parked: ParkedState,
        expiry_interval: u32,
    ) {
        let mut state = session.state.lock();
        let ours = state.attached.as_ref().is_some_and(|a| a.connection_id == connection_id);
        if ours {
            state.attached = None;
            state.expiry_interval = expiry_interval;
        }
        state.parked = Some(parked);
        drop(state);
        if !ours {
            // Taken over: the new connection resumes the session, unless it had to end with this one.
            if expiry_interval == 0 {
                self.end_session(session);
            }
            return;
        }
        session.set_online(false);
        if expiry_interval == 0 {
            self.end_session(session);
            return;
        }
        session.save(wall_now_ms());
        let mut mailbox = session.mailbox.lock();
        if !self.limits.current().queue_qos0_messages {
            mailbox.retain(|d| d.qos != tern_codec::QoS::AtMostOnce);
        }
        if session.durable().is_some() {
            mailbox.page_out();
        }
        drop(mailbox);
        let expiry = self.effective_expiry(expiry_interval);
        if let Some(after) = expiry {
            self.expire_after(session, after);
        }
    }

    /// Ends `session` after `after` unless a connection takes it up meanwhile.
    pub(crate) fn expire_after(self: &Arc<Self>, session: &Arc<Session>, after: Duration) {
        {
            let broker = self.clone();
            let session = session.clone();
            let generation = session.generation();
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(after) => {}
                    _ = broker.shutdown.cancelled() => return,
                }
                if session.generation() == generation && !session.is_online() {
                    debug!(client_id = %session.client_id, "session expired");
                    Stats::add(&broker.stats.clients_expired, 1);
                    broker.end_session(&session);
                }
            });
        }
    }

    /// How long an offline session lives: its expiry interval, capped by `persistent_client_expiration`.
    pub(crate) fn effective_expiry(&self, expiry_interval: u32) -> Option<Duration> {
        let own = (expiry_interval != NEVER_EXPIRES).then(|| Duration::from_secs(u64::from(expiry_interval)));
        match (own, self.limits.current().persistent_client_expiration) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ends a session: its subscriptions leave the router, its queue is dropped, its client id is free.
    ///
    /// Messages it got through a shared subscription and will now never acknowledge go to another member
    /// of the group (MQTT 5.0 section 4.8.2): those still queued, and QoS 1 ones sent but not acknowledged.
    /// A QoS 2 message already sent is not: it may have been received, and it MUST NOT go to another
    /// client [MQTT-4.8.2-5].
    pub fn end_session(&self, session: &Arc<Session>) {
        // A will waiting for its delay is sent when the session ends, if that comes first (MQTT 5.0
        // 3.1.3.2.2): a Clean Start reconnect or the session's expiry.
        self.send_pending_will(session);
        let subscriptions = std::mem::take(&mut session.state.lock().subscriptions);
        for filter in subscriptions.keys() {
            self.router.unsubscribe(filter, &session.client_id);
        }
        // Everything the session still held: inflight (with the message until acknowledged), then queued.
        let mut held: Vec<Delivery> = Vec::new();
        let mut orphans: Vec<Delivery> = Vec::new();
        if let Some(parked) = session.state.lock().parked.take() {
            for entry in parked.outbound.iter() {
                let Some(d) = &entry.message else { continue };
                held.push(d.clone());
                if entry.state == OutboundState::AwaitingPubAck && d.shared.is_some() {
                    orphans.push(d.clone());
                }
            }
        }
        let (queued, paged) = session.mailbox.lock().drain();
        orphans.extend(queued.iter().filter(|d| d.shared.is_some()).cloned());
        held.extend(queued);
        let now = Instant::now();
        for delivery in &orphans {
            if !delivery.message.is_expired(now) && self.router.redeliver_shared(delivery, &session.client_id)
            {
                Stats::add(&self.stats.shared_redelivered, 1);
            }
        }
        if let Some(durable) = session.durable() {
            // After the redeliveries, which may store the same messages for other sessions.
            session.set_persistent(false);
            durable.forget_session(&session.client_id, held.iter(), &paged);
        }
        self.sessions.remove_if_same(session);
    }

    /// Sends a Last Will now, or after its Will Delay Interval unless the session resumes first
    /// [MQTT-3.1.3-9]; never later than the session's end. The will is checked against the listener's
    /// authorizer in force when it is sent, which a reload may have changed meanwhile.
    pub fn handle_will(
        self: &Arc<Self>,
        session: &Arc<Session>,
        will: LastWill,
        username: Option<ByteString>,
        session_expiry: u32,
        listener: Arc<ListenerContext>,
    ) {
        let delay = will.properties.will_delay_interval.unwrap_or(0).min(session_expiry);
        if delay == 0 {
            self.publish_will(session, will, username.as_deref(), &*listener.authorizer());
            return;
        }
        if let Some(durable) = session.durable() {
            let index = self.listeners.get().and_then(|ls| ls.iter().position(|l| Arc::ptr_eq(l, &listener)));
            let stored = WillRecord {
                due: wall_now_ms() + u64::from(delay) * 1000,
                listener: index.unwrap_or(0) as u32,
                username: username.clone(),
                message: record::encode_will(&will),
            };
            durable.save_will(&session.client_id, &stored);
            session.will_stored.store(true, Ordering::Release);
        }
        self.schedule_will(session, will, username, Duration::from_secs(u64::from(delay)), listener);
    }

    /// Sends `will` after `delay` unless the session is taken up again (or shut down) first.
    pub(crate) fn schedule_will(
        self: &Arc<Self>,
        session: &Arc<Session>,
        will: LastWill,
        username: Option<ByteString>,
        delay: Duration,
        listener: Arc<ListenerContext>,
    ) {
        *session.pending_will.lock() = Some(Box::new(PendingWill { will, username, listener }));
        let broker = self.clone();
        let session = session.clone();
        let generation = session.generation();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = broker.shutdown.cancelled() => return,
            }
            if session.generation() == generation {
                broker.send_pending_will(&session);
            }
        });
    }

    /// Sends the will waiting for its delay, if there is one (its delay ran out, or its session ended).
    fn send_pending_will(&self, session: &Session) {
        let pending = session.pending_will.lock().take();
        if let Some(p) = pending {
            self.publish_will(session, p.will, p.username.as_deref(), &*p.listener.authorizer());
        }
    }

    fn publish_will(
        &self,
        session: &Session,
        will: LastWill,
        username: Option<&str>,
        authorizer: &dyn Authorizer,
    ) {
        if session.will_stored.swap(false, Ordering::AcqRel) {
            if let Some(durable) = &self.durable {
                durable.forget_will(&session.client_id);
            }
        }
        let client = ClientInfo { client_id: &session.client_id, username };
        if crate::auth::is_reserved_for_publish(&will.topic) || !authorizer.can_publish(&client, &will.topic)
        {
            info!(client_id = %session.client_id, topic = %will.topic, "will not sent: not authorized");
            return;
        }
        let publish = tern_codec::Publish {
            topic: will.topic.clone(),
            payload: will.payload,
            qos: will.qos,
            retain: will.retain,
            properties: will.properties,
            ..tern_codec::Publish::default()
        };
        let mut message =
            Message::from_publish(publish, will.topic, Some(session.client_id.clone()), Instant::now());
        message.properties.will_delay_interval = None;
        debug!(client_id = %session.client_id, topic = %message.topic, "sending will");
        self.publish(Arc::new(message));
    }
}
