//! Start-up: the broker's state rebuilt from the store before any listener opens.
//!
//! Sessions come back offline, with their subscriptions in the router, their queue in order, QoS 2
//! exchanges at the step they had reached (resent with the same packet identifier, or as PUBREL), inbound
//! QoS 2 identifiers still awaiting PUBREL, and their expiry timer running from when the client left.
//! Expired sessions and messages are dropped; so is anything a damaged record makes unreadable (counted and
//! logged, never fatal).

use std::collections::HashMap;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tern_codec::QoS;
use tern_proto::{Inbound, Inflight, Outbound, OutboundState};
use tracing::warn;

use super::record::{self, MessageSummary, QueueRecord, SessionRecord, WillRecord};
use super::{keys, Op, StoreError, FORMAT_VERSION};
use crate::broker::{wall_now_ms, BrokerShared};
use crate::message::Message;
use crate::session::{Delivery, Paged, ParkedState, Session};

/// What was restored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub sessions: usize,
    pub queued: usize,
    pub inflight: usize,
    pub retained: usize,
    pub wills: usize,
    pub expired_sessions: usize,
    pub expired_messages: usize,
    /// Records that could not be read and were dropped.
    pub damaged: usize,
    pub elapsed: Duration,
}

struct Loading {
    session: Arc<Session>,
    parked: ParkedState,
    max_seq: u64,
    /// Time left before it expires (`None`: never).
    left: Option<Duration>,
}

/// Rebuilds sessions, queues, inflight state, retained messages and delayed wills from the store.
pub fn recover(broker: &Arc<BrokerShared>) -> Result<Recovered, StoreError> {
    let Some(durable) = broker.durable.clone() else { return Ok(Recovered::default()) };
    let started = Instant::now();
    let (now, wall, now_ms) = (Instant::now(), SystemTime::now(), wall_now_ms());
    let store = durable.store().clone();
    let mut report = Recovered::default();
    let mut cleanup: Vec<Op> = Vec::new();

    match store.get(keys::VERSION)? {
        Some(v) => {
            let found = v.get(..4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_be_bytes);
            if found > FORMAT_VERSION {
                return Err(StoreError::TooNew { found });
            }
        }
        None => cleanup.push(Op::Put(keys::VERSION.to_vec(), FORMAT_VERSION.to_be_bytes().to_vec())),
    }

    // Messages are not decoded here: queues wait on disk until their clients return. Only what the
    // limits and expiry need is kept.
    let mut messages: HashMap<u64, MessageSummary> = HashMap::new();
    let mut max_message_id = 0;
    store.scan(&[keys::MESSAGE], &mut |k, v| {
        let id = keys::be_u64(&k[1..]).unwrap_or(0);
        max_message_id = max_message_id.max(id);
        match record::message_summary(v) {
            Ok(m) if id != 0 => {
                messages.insert(id, m);
            }
            _ => {
                report.damaged += 1;
                cleanup.push(Op::Delete(k.to_vec()));
            }
        }
        true
    })?;

    let window = broker.config.limits.max_inflight_messages.max(1);
    let mut sessions: HashMap<String, Loading> = HashMap::new();
    store.scan(&[keys::SESSION], &mut |k, v| {
        let Ok(client_id) = std::str::from_utf8(&k[1..]) else {
            report.damaged += 1;
            cleanup.push(Op::Delete(k.to_vec()));
            return true;
        };
        let rec = match SessionRecord::decode(v) {
            Ok(r) => r,
            Err(e) => {
                warn!("Store: session {client_id:?} unreadable ({e}); dropped.");
                report.damaged += 1;
                forget(&mut cleanup, client_id);
                return true;
            }
        };
        let left = remaining(broker, &rec, now_ms);
        if left == Some(Duration::ZERO) {
            report.expired_sessions += 1;
            forget(&mut cleanup, client_id);
            return true;
        }
        let session = Arc::new(
            Session::new(client_id.into(), broker.queue_limits()).with_durable(Some(durable.clone())),
        );
        session.set_persistent(true);
        {
            let mut state = session.state.lock();
            state.expiry_interval = rec.expiry_interval;
            for (filter, sub) in &rec.subscriptions {
                broker.router.subscribe(filter, &session, *sub);
                state.subscriptions.insert(filter.clone(), *sub);
            }
        }
        let parked = ParkedState { outbound: Outbound::new(window), inbound: Inbound::new(u16::MAX) };
        sessions.insert(client_id.to_owned(), Loading { session, parked, max_seq: 0, left });
        true
    })?;

    // Past PUBREC first: those exchanges only wait for PUBCOMP.
    store.scan(&[keys::OUTBOUND_QOS2], &mut |k, _| {
        match keys::split_client_key(k).and_then(|(c, r)| Some((c, NonZeroU16::new(keys::be_u16(r)?)?))) {
            Some((client_id, packet_id)) => match sessions.get_mut(client_id) {
                Some(l) => {
                    l.parked.outbound.restore(Inflight {
                        packet_id,
                        qos: QoS::ExactlyOnce,
                        state: OutboundState::AwaitingPubComp,
                        message: None,
                    });
                    report.inflight += 1;
                }
                None => cleanup.push(Op::Delete(k.to_vec())),
            },
            None => {
                report.damaged += 1;
                cleanup.push(Op::Delete(k.to_vec()));
            }
        }
        true
    })?;

    let mut refs: HashMap<u64, u32> = HashMap::new();
    // Deliveries that must be in memory: QoS 2 already sent (resumed with their packet identifier) and
    // shared ones (handed to another member if the session ends). Loaded after the scan.
    let mut in_memory: Vec<(String, u64, QueueRecord)> = Vec::new();
    store.scan(&[keys::QUEUE], &mut |k, v| {
        let parsed = keys::split_client_key(k).and_then(|(c, r)| Some((c, keys::be_u64(r)?)));
        let (Some((client_id, seq)), Ok(q)) = (parsed, QueueRecord::decode(v)) else {
            report.damaged += 1;
            cleanup.push(Op::Delete(k.to_vec()));
            return true;
        };
        let (Some(l), Some(message)) = (sessions.get_mut(client_id), messages.get(&q.message_id)) else {
            // Its session ended or its message is unreadable.
            cleanup.push(Op::Delete(k.to_vec()));
            return true;
        };
        l.max_seq = l.max_seq.max(seq);
        if message.expires != 0 && message.expires <= now_ms {
            report.expired_messages += 1;
            cleanup.push(Op::Delete(k.to_vec()));
            return true;
        }
        *refs.entry(q.message_id).or_insert(0) += 1;
        if (q.qos == QoS::ExactlyOnce && q.packet_id != 0) || q.shared.is_some() {
            in_memory.push((client_id.to_owned(), seq, q));
        } else {
            // On disk only until the client comes back.
            let size = message.size;
            l.session.mailbox.lock().push_paged(Paged { seq, message_id: q.message_id, size });
            report.queued += 1;
        }
        true
    })?;
    let mut loaded: HashMap<u64, Option<Arc<Message>>> = HashMap::new();
    for (client_id, seq, q) in in_memory {
        let message = loaded
            .entry(q.message_id)
            .or_insert_with(|| {
                let record = store.get(&keys::message(q.message_id)).ok().flatten()?;
                let m = record::decode_message(&record, now, wall).ok()?;
                let _ = m.stored.set(q.message_id);
                Some(Arc::new(m))
            })
            .clone();
        let (Some(l), Some(message)) = (sessions.get_mut(&client_id), message) else {
            report.damaged += 1;
            cleanup.push(Op::Delete(keys::queue(&client_id, seq)));
            if let Some(n) = refs.get_mut(&q.message_id) {
                *n -= 1;
                if *n == 0 {
                    refs.remove(&q.message_id);
                }
            }
            continue;
        };
        let delivery = Delivery {
            message,
            qos: q.qos,
            retain: q.retain,
            subscription_ids: q.subscription_ids,
            shared: q.shared,
            seq,
        };
        match NonZeroU16::new(q.packet_id) {
            Some(packet_id) if q.qos == QoS::ExactlyOnce && !l.parked.outbound.contains(packet_id) => {
                l.parked.outbound.restore(Inflight {
                    packet_id,
                    qos: QoS::ExactlyOnce,
                    state: OutboundState::AwaitingPubRec,
                    message: Some(delivery),
                });
                report.inflight += 1;
            }
            _ => {
                l.session.mailbox.lock().push_restored(delivery);
                report.queued += 1;
            }
        }
    }

    store.scan(&[keys::INBOUND_QOS2], &mut |k, _| {
        match keys::split_client_key(k).and_then(|(c, r)| Some((c, NonZeroU16::new(keys::be_u16(r)?)?))) {
            Some((client_id, packet_id)) => match sessions.get_mut(client_id) {
                Some(l) => l.parked.inbound.restore_qos2(packet_id),
                None => cleanup.push(Op::Delete(k.to_vec())),
            },
            None => {
                report.damaged += 1;
                cleanup.push(Op::Delete(k.to_vec()));
            }
        }
        true
    })?;

    for id in messages.keys().filter(|id| !refs.contains_key(id)) {
        cleanup.push(Op::Delete(keys::message(*id)));
    }
    durable.restore_refs(max_message_id + 1, refs);

    store.scan(&[keys::RETAINED], &mut |k, v| {
        match record::decode_message(v, now, wall) {
            Ok(m) if m.is_expired(now) => {
                report.expired_messages += 1;
                cleanup.push(Op::Delete(k.to_vec()));
            }
            Ok(m) => {
                broker.retained.write().insert(&m.topic.clone(), Arc::new(m));
                report.retained += 1;
            }
            Err(_) => {
                report.damaged += 1;
                cleanup.push(Op::Delete(k.to_vec()));
            }
        }
        true
    })?;

    let mut wills = Vec::new();
    store.scan(&[keys::WILL], &mut |k, v| {
        let client_id = String::from_utf8_lossy(&k[1..]).into_owned();
        match WillRecord::decode(v).and_then(|w| Ok((record::decode_will(&w.message)?, w))) {
            Ok((will, rec)) => wills.push((client_id, will, rec)),
            Err(_) => {
                report.damaged += 1;
                cleanup.push(Op::Delete(k.to_vec()));
            }
        }
        true
    })?;

    for l in sessions.into_values() {
        l.session.continue_after(l.max_seq);
        l.session.state.lock().parked = Some(l.parked);
        broker.sessions.replace(l.session.clone());
        report.sessions += 1;
        if let Some(left) = l.left {
            broker.expire_after(&l.session, left);
        }
    }
    report.wills = restore_wills(broker, wills, now_ms, &mut cleanup);

    if !cleanup.is_empty() {
        durable.committer().submit(cleanup);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// How long a stored session has left (`None`: never expires; zero: expired).
fn remaining(broker: &BrokerShared, rec: &SessionRecord, now_ms: u64) -> Option<Duration> {
    let total = broker.effective_expiry(rec.expiry_interval)?;
    // A session connected when the broker stopped counts as gone from now on.
    let since = if rec.disconnected_at == 0 { now_ms } else { rec.disconnected_at };
    let gone = Duration::from_millis(now_ms.saturating_sub(since));
    Some(total.saturating_sub(gone))
}

/// Removes everything stored for a session that will not be restored.
fn forget(ops: &mut Vec<Op>, client_id: &str) {
    ops.push(Op::Delete(keys::session(client_id)));
    for tag in [keys::QUEUE, keys::OUTBOUND_QOS2, keys::INBOUND_QOS2] {
        ops.push(Op::DeletePrefix(keys::client_prefix(tag, client_id)));
    }
}

/// Delayed wills: sent now if their time came while the broker was down, else scheduled again.
fn restore_wills(
    broker: &Arc<BrokerShared>,
    wills: Vec<(String, tern_codec::LastWill, WillRecord)>,
    now_ms: u64,
    cleanup: &mut Vec<Op>,
) -> usize {
    let mut restored = 0;
    let Some(listeners) = broker.listeners.get() else { return 0 };
    for (client_id, will, rec) in wills {
        let listener = listeners.get(rec.listener as usize).or_else(|| listeners.first());
        let (Some(listener), Some(session)) = (listener, broker.sessions.get(&client_id)) else {
            cleanup.push(Op::Delete(keys::will(&client_id)));
            continue;
        };
        session.will_stored.store(true, std::sync::atomic::Ordering::Release);
        let delay = Duration::from_millis(rec.due.saturating_sub(now_ms));
        broker.schedule_will(&session, will, rec.username, delay, listener.clone());
        restored += 1;
    }
    restored
}
