//! The router: every session's subscriptions in one read-mostly table, and the fan-out of a message to the
//! sessions whose subscriptions match it.
//!
//! Matching happens under a short read lock that is never held across `.await`; deliveries are handed to
//! the sessions' mailboxes after it is released. A client with several matching subscriptions gets one
//! copy, at the highest of their QoS, carrying every matching Subscription Identifier [MQTT-3.3.4-2],
//! [MQTT-3.3.4-4]. Shared subscriptions (`$share/{group}/{filter}`) give each message to one member of each
//! matching group, round-robin, preferring members that are online.

use std::sync::Arc;

use parking_lot::RwLock;
use tern_codec::topic::SharedFilter;
use tern_codec::ByteString;

use super::shared::SharedGroup;
use super::SubscriptionIndex;
use crate::config::SharedSubscriptionPolicy;
use crate::message::Message;
use crate::session::{Delivery, Session, Subscription};

/// A session's subscription as the index holds it.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub session: Arc<Session>,
    pub subscription: Subscription,
}

/// What routing a message achieved.
#[derive(Debug, Clone, Default)]
pub struct RouteOutcome {
    /// Sessions the message was queued for.
    pub delivered: usize,
    /// Sessions whose queue was full (or offline without QoS 0 queueing).
    pub dropped: usize,
    /// Of `dropped`: offline sessions that do not queue QoS 0.
    pub dropped_offline: usize,
    /// Older QoS 0 messages evicted from full queues to make room for this one.
    pub evicted: usize,
    /// Of those, sessions whose queue was full: a quota, not a choice.
    pub full: usize,
    /// Online sessions now above their queue limit: the publisher should wait for them (flow control).
    pub congested: Vec<Arc<Session>>,
}

/// Every subscription of every session.
#[derive(Debug, Default)]
pub struct Router {
    /// How shared subscription groups pick a member.
    policy: SharedSubscriptionPolicy,
    /// Plain subscriptions, keyed by client id.
    plain: RwLock<SubscriptionIndex<ByteString, Subscriber>>,
    /// Shared subscriptions: inner filter -> group name -> members.
    shared: RwLock<SubscriptionIndex<ByteString, SharedGroup>>,
}

impl Router {
    /// An empty router whose shared subscription groups pick members by `policy`.
    pub fn new(policy: SharedSubscriptionPolicy) -> Self {
        Router { policy, ..Router::default() }
    }
    /// Adds or replaces a subscription; returns whether it existed before (for Retain Handling 1).
    pub fn subscribe(&self, filter: &str, session: &Arc<Session>, subscription: Subscription) -> bool {
        let subscriber = Subscriber { session: session.clone(), subscription };
        match tern_codec::topic::parse_shared(filter) {
            Some(Ok(SharedFilter { group, filter })) => {
                let mut shared = self.shared.write();
                let group_key = ByteString::from(group);
                let mut members = shared.remove(filter, &group_key).unwrap_or_default();
                let existed = members.upsert(&session.client_id, subscriber);
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
                let existed = members.remove(client_id);
                if !members.is_empty() {
                    shared.insert(filter, group_key, members);
                }
                existed
            }
            _ => self.plain.write().remove(filter, client_id).is_some(),
        }
    }

    /// Subscriptions in the table (shared group members counted one each).
    pub fn subscription_count(&self) -> usize {
        let shared: usize = self.shared.read().iter().map(|(_, _, g)| g.len()).sum();
        self.plain.read().len() + shared
    }

    /// Members of shared subscription groups.
    pub fn shared_subscription_count(&self) -> usize {
        self.shared.read().iter().map(|(_, _, g)| g.len()).sum()
    }

    /// Every plain subscription as (filter, client id, subscription), for listings.
    pub fn list(&self) -> Vec<(String, ByteString, Subscription)> {
        let mut out: Vec<_> =
            self.plain.read().iter().map(|(f, k, s)| (f.to_owned(), k.clone(), s.subscription)).collect();
        for (filter, group, members) in self.shared.read().iter() {
            for (client, s) in members.iter() {
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
        self.shared.read().for_each_match(&message.topic, |filter, group, members| {
            if let Some(member) = members.pick(self.policy, message, None) {
                let share: ByteString = format!("$share/{group}/{filter}").into();
                shared_targets.push((member.session.clone(), member.subscription, share));
            }
        });
        for (session, subscription, share) in shared_targets {
            // Retained flag: a routed message is never "retained" for shared subscribers either, unless
            // Retain As Published [MQTT-3.3.1-12].
            let mut delivery = delivery_for(message, &subscription, vec_of(subscription.id));
            delivery.shared = Some(share);
            count(&mut outcome, &session, session.deliver(delivery));
        }
        outcome
    }

    /// Gives a shared delivery that `leaving` will never acknowledge (its session ended) to another member
    /// of the same group, at that member's granted QoS (MQTT 5.0 section 4.8.2). Returns whether one took it.
    pub fn redeliver_shared(&self, delivery: &Delivery, leaving: &ByteString) -> bool {
        let Some(share) = &delivery.shared else { return false };
        let Some(Ok(SharedFilter { group, filter })) = tern_codec::topic::parse_shared(share) else {
            return false;
        };
        let target = {
            let shared = self.shared.read();
            let Some(members) = shared.get(filter, &ByteString::from(group)) else { return false };
            members
                .pick(self.policy, &delivery.message, Some(leaving))
                .map(|m| (m.session.clone(), m.subscription))
        };
        let Some((session, subscription)) = target else { return false };
        let mut redelivery = delivery_for(&delivery.message, &subscription, vec_of(subscription.id));
        redelivery.shared = delivery.shared.clone();
        session.deliver(redelivery).is_queued()
    }
}

fn count(outcome: &mut RouteOutcome, session: &Arc<Session>, enqueued: crate::session::Enqueued) {
    use crate::session::Enqueued::*;
    match enqueued {
        Queued => outcome.delivered += 1,
        QueuedEvictedQoS0 => {
            outcome.delivered += 1;
            outcome.evicted += 1;
        }
        QueuedOverLimit | Spilled => {
            outcome.delivered += 1;
            if session.is_congested() {
                outcome.congested.push(session.clone());
            }
        }
        DroppedQueueFull => {
            outcome.dropped += 1;
            outcome.full += 1;
        }
        DroppedOffline => {
            outcome.dropped += 1;
            outcome.dropped_offline += 1;
        }
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
        shared: None,
        seq: 0,
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
