//! What the broker tells the store, in the words of the protocol: a session was saved or ended, a delivery
//! was queued, sent, acknowledged; a QoS 2 exchange moved on; a retained message or a delayed will changed.
//! Every method queues its changes with the [`Committer`] and returns the LSN to wait for before telling the
//! client anything that depends on them.
//!
//! A message is stored once (`m` + id) however many queues hold it; queue records refer to it. Its
//! reference count lives here, in memory (rebuilt at load): the last queue to let go deletes it. The lock
//! on the counts is held while the changes are queued, so a message deleted by one thread and needed again
//! by another is written back after its deletion, never before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use parking_lot::Mutex;

use super::record::{self, QueueRecord, SessionRecord, WillRecord};
use super::{keys, Committer, Op, Store, StoreError};
use crate::message::Message;
use crate::session::{Delivery, Paged};

/// The deliveries of `wanted` (seq -> message id) under `prefix`, in order, their messages shared.
fn read_queue(
    store: &dyn Store,
    prefix: &[u8],
    wanted: &HashMap<u64, u64>,
) -> Result<Vec<Delivery>, StoreError> {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let mut records = Vec::with_capacity(wanted.len());
    // Keys are in sequence order: a batch read back from a long queue stops after its last delivery.
    let last = wanted.keys().copied().max().unwrap_or(0);
    store.scan(prefix, &mut |k, v| {
        let seq = keys::split_client_key(k).and_then(|(_, r)| keys::be_u64(r));
        if seq.is_some_and(|seq| seq > last) {
            return false;
        }
        if let (Some(seq), Ok(q)) = (seq, QueueRecord::decode(v)) {
            if wanted.get(&seq) == Some(&q.message_id) {
                records.push((seq, q));
            }
        }
        true
    })?;
    let mut messages: HashMap<u64, Option<Arc<Message>>> = HashMap::new();
    let mut out = Vec::with_capacity(records.len());
    for (seq, q) in records {
        let message = match messages.get(&q.message_id) {
            Some(m) => m.clone(),
            None => {
                let m = store.get(&keys::message(q.message_id))?.and_then(|v| {
                    let m = record::decode_message(&v, now, wall).ok()?;
                    let _ = m.stored.set(q.message_id);
                    Some(Arc::new(m))
                });
                messages.insert(q.message_id, m.clone());
                m
            }
        };
        let Some(message) = message else { continue };
        out.push(Delivery {
            message,
            qos: q.qos,
            retain: q.retain,
            subscription_ids: q.subscription_ids,
            shared: q.shared,
            seq,
        });
    }
    Ok(out)
}

#[derive(Debug)]
pub struct Durable {
    committer: Arc<Committer>,
    store: Arc<dyn Store>,
    next_message_id: AtomicU64,
    /// Message id -> number of queue records referring to it.
    refs: Mutex<HashMap<u64, u32>>,
}

impl Durable {
    pub fn new(store: Arc<dyn Store>, committer: Arc<Committer>) -> Self {
        Durable { committer, store, next_message_id: AtomicU64::new(1), refs: Mutex::new(HashMap::new()) }
    }

    pub fn committer(&self) -> &Arc<Committer> {
        &self.committer
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Called by recovery: ids continue after the largest stored one; counts are those found.
    pub(crate) fn restore_refs(&self, next_id: u64, refs: HashMap<u64, u32>) {
        self.next_message_id.store(next_id.max(1), Ordering::Relaxed);
        *self.refs.lock() = refs;
    }

    /// Messages stored (for metrics and `$SYS/broker/store/messages/count`).
    pub fn stored_messages(&self) -> usize {
        self.refs.lock().len()
    }

    pub fn submitted(&self) -> u64 {
        self.committer.submitted()
    }

    pub fn is_failing(&self) -> bool {
        self.committer.is_failing()
    }

    /// Takes a reference to `message` for one more queue record, storing it if it is not stored.
    fn hold(&self, refs: &mut HashMap<u64, u32>, message: &Message, ops: &mut Vec<Op>) -> u64 {
        let id = *message.stored.get_or_init(|| self.next_message_id.fetch_add(1, Ordering::Relaxed));
        match refs.get_mut(&id) {
            Some(n) => *n += 1,
            None => {
                let now = Instant::now();
                ops.push(Op::Insert(
                    keys::message(id),
                    record::encode_message(message, now, SystemTime::now()),
                ));
                refs.insert(id, 1);
            }
        }
        id
    }

    fn release(&self, refs: &mut HashMap<u64, u32>, id: u64, ops: &mut Vec<Op>) {
        if let Some(n) = refs.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                refs.remove(&id);
                ops.push(Op::Delete(keys::message(id)));
            }
        }
    }

    fn queue_record(id: u64, delivery: &Delivery, packet_id: u16) -> Vec<u8> {
        QueueRecord {
            message_id: id,
            qos: delivery.qos,
            retain: delivery.retain,
            packet_id,
            shared: delivery.shared.clone(),
            subscription_ids: delivery.subscription_ids.clone(),
        }
        .encode()
    }

    /// A delivery joined the queue of a persistent session under `seq`.
    pub fn enqueue(&self, client_id: &str, seq: u64, delivery: &Delivery) -> u64 {
        let mut ops = Vec::with_capacity(2);
        let mut refs = self.refs.lock();
        let id = self.hold(&mut refs, &delivery.message, &mut ops);
        ops.push(Op::Insert(keys::queue(client_id, seq), Self::queue_record(id, delivery, 0)));
        self.committer.submit(ops)
    }

    /// A queued delivery is done with: acknowledged (PUBACK), refused, expired or discarded.
    pub fn dequeue(&self, client_id: &str, delivery: &Delivery) -> u64 {
        let mut ops = vec![Op::Delete(keys::queue(client_id, delivery.seq))];
        let mut refs = self.refs.lock();
        if let Some(&id) = delivery.message.stored.get() {
            self.release(&mut refs, id, &mut ops);
        }
        self.committer.submit(ops)
    }

    /// A QoS 2 delivery is about to be sent with `packet_id`: after a restart it is resent with the same
    /// identifier, so a client that already has it recognises the duplicate [MQTT-4.3.3].
    pub fn sent_qos2(&self, client_id: &str, delivery: &Delivery, packet_id: u16) -> u64 {
        let Some(&id) = delivery.message.stored.get() else { return self.submitted() };
        let value = Self::queue_record(id, delivery, packet_id);
        self.committer.submit(vec![Op::Put(keys::queue(client_id, delivery.seq), value)])
    }

    /// PUBREC received: the client has the message; only the packet identifier awaits PUBCOMP.
    pub fn released_qos2(&self, client_id: &str, delivery: &Delivery, packet_id: u16) -> u64 {
        let mut ops = vec![
            Op::Delete(keys::queue(client_id, delivery.seq)),
            Op::Put(keys::packet_id(keys::OUTBOUND_QOS2, client_id, packet_id), record::marker()),
        ];
        let mut refs = self.refs.lock();
        if let Some(&id) = delivery.message.stored.get() {
            self.release(&mut refs, id, &mut ops);
        }
        self.committer.submit(ops)
    }

    /// PUBCOMP received: the outbound exchange is over.
    pub fn completed_qos2(&self, client_id: &str, packet_id: u16) -> u64 {
        self.committer.submit(vec![Op::Delete(keys::packet_id(keys::OUTBOUND_QOS2, client_id, packet_id))])
    }

    /// An inbound QoS 2 PUBLISH was accepted: its identifier awaits PUBREL, and a resent PUBLISH with it
    /// is a duplicate, even after a restart.
    pub fn received_qos2(&self, client_id: &str, packet_id: u16) -> u64 {
        let key = keys::packet_id(keys::INBOUND_QOS2, client_id, packet_id);
        self.committer.submit(vec![Op::Put(key, record::marker())])
    }

    /// PUBREL received: the identifier is free again.
    pub fn released_inbound(&self, client_id: &str, packet_id: u16) -> u64 {
        self.committer.submit(vec![Op::Delete(keys::packet_id(keys::INBOUND_QOS2, client_id, packet_id))])
    }

    /// The session record (expiry, subscriptions) changed.
    pub fn save_session(&self, client_id: &str, record: &SessionRecord) -> u64 {
        self.committer.submit(vec![Op::Put(keys::session(client_id), record.encode())])
    }

    /// A session ended: everything stored for it goes, and the messages only it held (`held`: the
    /// stored deliveries in memory; `paged`: those on disk only).
    pub fn forget_session<'a>(
        &self,
        client_id: &str,
        held: impl Iterator<Item = &'a Delivery>,
        paged: &[Paged],
    ) -> u64 {
        let mut ops = vec![Op::Delete(keys::session(client_id)), Op::Delete(keys::will(client_id))];
        for tag in [keys::QUEUE, keys::OUTBOUND_QOS2, keys::INBOUND_QOS2] {
            ops.push(Op::DeletePrefix(keys::client_prefix(tag, client_id)));
        }
        let mut refs = self.refs.lock();
        let ids = held.filter(|d| d.seq != 0).filter_map(|d| d.message.stored.get().copied());
        for id in ids.chain(paged.iter().map(|p| p.message_id)) {
            self.release(&mut refs, id, &mut ops);
        }
        self.committer.submit(ops)
    }

    /// Paged-out deliveries that could not be read back are given up.
    pub fn forget_paged(&self, client_id: &str, lost: &[Paged]) -> u64 {
        let mut ops = Vec::with_capacity(2 * lost.len());
        let mut refs = self.refs.lock();
        for p in lost {
            ops.push(Op::Delete(keys::queue(client_id, p.seq)));
            self.release(&mut refs, p.message_id, &mut ops);
        }
        self.committer.submit(ops)
    }

    /// Reads paged-out deliveries back from the store, in order. Waits until everything written so far
    /// is in the store (they may still be on their way), then reads off the async threads.
    pub async fn read_back(&self, client_id: &str, paged: &[Paged]) -> Vec<Delivery> {
        self.committer.wait(self.committer.submitted()).await;
        let store = self.store.clone();
        let prefix = keys::client_prefix(keys::QUEUE, client_id);
        let wanted: HashMap<u64, u64> = paged.iter().map(|p| (p.seq, p.message_id)).collect();
        let read = tokio::task::spawn_blocking(move || read_queue(store.as_ref(), &prefix, &wanted)).await;
        match read {
            Ok(Ok(deliveries)) => deliveries,
            Ok(Err(e)) => {
                tracing::error!(%client_id, "cannot read the queue back from the store: {e}");
                Vec::new()
            }
            Err(_) => Vec::new(),
        }
    }

    /// The retained message of a topic was set (`Some`) or cleared.
    pub fn retain(&self, topic: &str, message: Option<&Message>) -> u64 {
        let key = keys::retained(topic);
        let op = match message {
            Some(m) => Op::Put(key, record::encode_message(m, Instant::now(), SystemTime::now())),
            None => Op::Delete(key),
        };
        self.committer.submit(vec![op])
    }

    /// A will waits for its delay; it is sent after a restart if still due.
    pub fn save_will(&self, client_id: &str, will: &WillRecord) -> u64 {
        self.committer.submit(vec![Op::Put(keys::will(client_id), will.encode())])
    }

    /// The delayed will was sent or cancelled (the client came back).
    pub fn forget_will(&self, client_id: &str) -> u64 {
        self.committer.submit(vec![Op::Delete(keys::will(client_id))])
    }
}
