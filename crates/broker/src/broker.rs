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
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tern_codec::{ByteString, LastWill};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::auth::{Authorizer, ClientInfo};
use crate::config::Config;
use crate::listener::ListenerContext;
use crate::message::Message;
use crate::retained::RetainedIndex;
use crate::router::{RouteOutcome, Router};
use crate::session::{Attached, Control, ParkedState, QueueLimits, Session, SessionRegistry};
use crate::stats::Stats;

/// Session expiry that means "never".
pub const NEVER_EXPIRES: u32 = u32::MAX;

/// How long a new connection waits for the connection it takes over to let go.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// State shared by all connections.
#[derive(Debug)]
pub struct BrokerShared {
    pub config: Config,
    pub router: Router,
    pub retained: RwLock<RetainedIndex<Arc<Message>>>,
    pub sessions: SessionRegistry,
    pub stats: Stats,
    pub shutdown: CancellationToken,
    next_connection_id: AtomicU64,
    pub started: Instant,
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
        BrokerShared {
            config,
            router: Router::default(),
            retained: RwLock::new(RetainedIndex::new()),
            sessions: SessionRegistry::default(),
            stats: Stats::default(),
            shutdown: CancellationToken::new(),
            next_connection_id: AtomicU64::new(1),
            started: Instant::now(),
        }
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn queue_limits(&self) -> QueueLimits {
        let l = &self.config.limits;
        QueueLimits {
            max_messages: l.max_queued_messages.max(1),
            max_bytes: l.max_queued_bytes,
            queue_qos0_offline: l.queue_qos0_messages,
        }
    }

    /// Stores (or clears) a retained message [MQTT-3.3.1-5], [MQTT-3.3.1-6]: a retained PUBLISH with an
    /// empty payload removes the topic's retained message and is not stored itself.
    pub fn store_retained(&self, message: &Arc<Message>) {
        let mut retained = self.retained.write();
        if message.payload.is_empty() {
            retained.remove(&message.topic);
        } else {
            retained.insert(&message.topic, message.clone());
        }
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
        if message.retain && self.config.limits.retain_available {
            self.store_retained(&message);
        }
        let outcome = self.router.route(&message);
        Stats::add(&self.stats.publish_dropped, outcome.dropped as u64);
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
        control: mpsc::Sender<Control>,
    ) -> Attachment {
        loop {
            let (session, existed) = self
                .sessions
                .get_or_insert_with(client_id, || Session::new(client_id.clone(), self.queue_limits()));
            let previous = session.state.lock().attached.take();
            if let Some(previous) = previous {
                let (ack_tx, ack_rx) = oneshot::channel();
                if previous.control.send(Control::TakenOver(ack_tx)).await.is_ok() {
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
            return Attachment { session, session_present: existed, parked };
        }
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
        if !self.config.limits.queue_qos0_messages {
            session.mailbox.lock().retain(|d| d.qos != tern_codec::QoS::AtMostOnce);
        }
        let expiry = self.effective_expiry(expiry_interval);
        if let Some(after) = expiry {
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
    fn effective_expiry(&self, expiry_interval: u32) -> Option<Duration> {
        let own = (expiry_interval != NEVER_EXPIRES).then(|| Duration::from_secs(u64::from(expiry_interval)));
        match (own, self.config.limits.persistent_client_expiration) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ends a session: its subscriptions leave the router, its queue is dropped, its client id is free.
    pub fn end_session(&self, session: &Arc<Session>) {
        let subscriptions = std::mem::take(&mut session.state.lock().subscriptions);
        for filter in subscriptions.keys() {
            self.router.unsubscribe(filter, &session.client_id);
        }
        session.mailbox.lock().clear();
        session.state.lock().parked = None;
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
        let broker = self.clone();
        let session = session.clone();
        let generation = session.generation();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(u64::from(delay))) => {}
                _ = broker.shutdown.cancelled() => return,
            }
            if session.generation() == generation {
                broker.publish_will(&session, will, username.as_deref(), &*listener.authorizer());
            }
        });
    }

    fn publish_will(
        &self,
        session: &Session,
        will: LastWill,
        username: Option<&str>,
        authorizer: &dyn Authorizer,
    ) {
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
