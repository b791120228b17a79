//! The router: every session's subscriptions in one read-mostly table, and the fan-out of a message to the
//! sessions whose subscriptions match it.
//!
//! Matching happens under a short read lock that is never held across `.await`; deliveries are handed to
//! the sessions' mailboxes after it is released. A client with several matching subscriptions gets one
//! copy, at the highest of their QoS, carrying every matching Subscription Identifier [MQTT-3.3.4-2],
//! [MQTT-3.3.4-4]. Shared subscriptions (`$share/{group}/{filter}`) give each message to one member of each
//! matching group, round-robin, preferring members that are online.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use tern_codec::topic::SharedFilter;
use tern_codec::ByteString;

use super::SubscriptionIndex;
use crate::message::Message;
use crate::session::{Delivery, Session, Subscription};

/// A session's subscription as the index holds it.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub session: Arc<Session>,
    pub subscription: Subscription,
}

/// The members of one shared subscription group on one filter.
#[derive(Debug, Default)]
pub struct SharedGroup {
    members: Vec<(ByteString, Subscriber)>,
    next: AtomicUsize,
}

impl SharedGroup {
    /// The member to give the next message to: round-robin over online members, or over all if none is.
    fn pick(&self) -> Option<&Subscriber> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.members[(start + i) % n].1)
            .find(|s| s.session.is_online())
            .or_else(|| Some(&self.members[start % n].1))
    }
}

/// What routing a message achieved.
#[derive(Debug, Clone, Default)]
pub struct RouteOutcome {
    /// Sessions the message was queued for.
    pub delivered: usize,
    /// Sessions whose queue was full (or offline without QoS 0 queueing).
    pub dropped: usize,
    /// Online sessions now above their queue limit: the publisher should wait for them (flow control).
    pub congested: Vec<Arc<Session>>,
}

/// Every subscription of every session.
#[derive(Debug, Default)]
pub struct Router {
    /// Plain subscriptions, keyed by client id.
    plain: RwLock<SubscriptionIndex<ByteString, Subscriber>>,
    /// Shared subscriptions: inner filter -> group name -> members.
    shared: RwLock<SubscriptionIndex<ByteString, SharedGroup>>,
}

impl Router {
    /// Adds or replaces a subscription; returns whether it existed before (for Retain Handling 1).
    pub fn subscribe(&self, filter: &str, session: &Arc<Session>, subscription: Subscription) -> bool {
        let subscriber = Subscriber { session: session.clone(), subscription };
        match tern_codec::topic::parse_shared(filter) {
            Some(Ok(SharedFilter { group, filter })) => {
                let mut shared = self.shared.write();
                let group_key = ByteString::from(group);
                let mut members = shared.remove(filter, &group_key).unwrap_or_default();
                let existed = match members.members.iter_mut().find(|(id, _)| *id == session.client_id) {
                    Some(entry) => {
                        entry.1 = subscriber;
                        true
                    }
                    None => {
                        members.members.push((session.client_id.clone(), subscriber));
                        false
                    }
                };
                shared.insert(filter, group_key, members);
                existed
            }
            _ => self.plain.write().insert(filter, session.client_id.clone(), subscriber).is_some(),
        }
    }

    /// Removes a subscription; returns whether it existed.
    pub fn unsubscribe(&self, filter: &str, client_id: &ByteString) -> bool {
        match tern_codec::topic::parse_shared(filter) {
            Some(Ok(SharedFilter { group, filter })) => {
                let mut shared = self.shared.write();
                let group_key = ByteString::from(group);
                let Some(mut members) = shared.remove(filter, &group_key) else {
                    return false;
                };
                let before = members.members.len();
                members.members.retain(|(id, _)| id != client_id);
                let existed = members.members.len() != before;
                if !members.members.is_empty() {
                    shared.insert(filter, group_key, members);
                }
                existed
            }
            _ => self.plain.write().remove(filter, client_id).is_some(),
        }
    }

    /// Subscriptions in the table (shared group members counted one each).
    pub fn subscription_count(&self) -> usize {
        let shared: usize = self.shared.read().iter().map(|(_, _, g)| g.members.len()).sum();
        self.plain.read().len() + shared
    }

    /// Every plain subscription as (filter, client id, subscription), for listings.
    pub fn list(&self) -> Vec<(String, ByteString, Subscription)> {
        let mut out: Vec<_> =
            self.plain.read().iter().map(|(f, k, s)| (f.to_owned(), k.clone(), s.subscription)).collect();
        for (filter, group, members) in self.shared.read().iter() {
            for (client, s) in &members.members {
                out.push((format!("$share/{group}/{filter}"), client.clone(), s.subscription));
            }
        }
        out
    }

    /// Queues `message` for every session with a matching subscription.
    pub fn route(&self, message: &Arc<Message>) -> RouteOutcome {
        let mut targets: Vec<(Arc<Session>, Subscription)> = Vec::new();
        self.plain.read().for_each_match(&message.topic, |_filter, client_id, sub| {
            if sub.subscription.options.no_local && message.publisher.as_ref() == Some(client_id) {
                return; // [MQTT-3.8.3-3] No Local: not back to the publisher.
            }
            targets.push((sub.session.clone(), sub.subscription));
        });
        let mut outcome = RouteOutcome::default();
        for (session, delivery) in merge_per_session(targets, message) {
            count(&mut outcome, &session, session.deliver(delivery));
        }
        let mut shared_targets = Vec::new();
        self.shared.read().for_each_match(&message.topic, |_filter, _group, members| {
            if let Some(member) = members.pick() {
                shared_targets.push((member.session.clone(), member.subscription));
            }
        });
        for (session, subscription) in shared_targets {
            // Retained flag: a routed message is never "retained" for shared subscribers either, unless
            // Retain As Published [MQTT-3.3.1-12].
            let delivery = delivery_for(message, &subscription, vec_of(subscription.id));
            count(&mut outcome, &session, session.deliver(delivery));
        }
        outcome
    }
}

fn count(outcome: &mut RouteOutcome, session: &Arc<Session>, enqueued: crate::session::Enqueued) {
    use crate::session::Enqueued::*;
    match enqueued {
        Queued | QueuedEvictedQoS0 => outcome.delivered += 1,
        QueuedOverLimit => {
            outcome.delivered += 1;
            if session.is_congested() {
                outcome.congested.push(session.clone());
            }
        }
        DroppedQueueFull | DroppedOffline => outcome.dropped += 1,
    }
}

fn vec_of(id: Option<u32>) -> Vec<u32> {
    id.into_iter().collect()
}

/// The delivery of `message` for one subscription: QoS is the minimum of published and granted
/// [MQTT-3.8.4-8]; RETAIN is kept only with Retain As Published [MQTT-3.3.1-12], [MQTT-3.3.1-13].
fn delivery_for(message: &Arc<Message>, sub: &Subscription, subscription_ids: Vec<u32>) -> Delivery {
    Delivery {
        message: message.clone(),
        qos: message.qos.min(sub.options.qos),
        retain: message.retain && sub.options.retain_as_published,
        subscription_ids,
    }
}

/// One delivery per session: the highest QoS of its matching subscriptions, all their identifiers.
fn merge_per_session(
    mut targets: Vec<(Arc<Session>, Subscription)>,
    message: &Arc<Message>,
) -> impl Iterator<Item = (Arc<Session>, Delivery)> {
    if targets.len() > 1 {
        targets.sort_unstable_by_key(|(s, _)| Arc::as_ptr(s) as usize);
    }
    let mut merged: Vec<(Arc<Session>, Delivery)> = Vec::with_capacity(targets.len());
    for (session, sub) in targets {
        let key = Arc::as_ptr(&session) as usize;
        match merged.last_mut() {
            Some((last, delivery)) if Arc::as_ptr(last) as usize == key => {
                let candidate = delivery_for(message, &sub, Vec::new());
                if candidate.qos > delivery.qos {
                    delivery.qos = candidate.qos;
                }
                delivery.retain |= candidate.retain;
                delivery.subscription_ids.extend(sub.id);
            }
            _ => {
                let delivery = delivery_for(message, &sub, vec_of(sub.id));
                merged.push((session, delivery));
            }
        }
    }
    merged.into_iter()
}
