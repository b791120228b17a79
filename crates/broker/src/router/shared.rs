//! Shared subscriptions (MQTT 5.0 section 4.8.2, also offered to 3.1.1 clients): the sessions subscribed
//! to `$share/{group}/{filter}` form a group, and each matching message goes to exactly one of them.
//!
//! The member is chosen by the configured [`SharedSubscriptionPolicy`]; whatever the policy, members whose
//! client is connected come first, so an offline member only queues messages when nobody else can take
//! them. Hash policies start from the member the hash names and move on to the next connected one, so a
//! publisher's (or a topic's) messages stay on one member while it is connected.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;
use tern_codec::ByteString;

use super::Subscriber;
use crate::config::SharedSubscriptionPolicy;
use crate::message::Message;

/// The members of one shared subscription group on one filter, in the order they joined.
#[derive(Debug, Default)]
pub struct SharedGroup {
    members: Vec<(ByteString, Subscriber)>,
    next: AtomicUsize,
}

impl SharedGroup {
    /// Adds or replaces the member `client_id`; returns whether it was a member already.
    pub fn upsert(&mut self, client_id: &ByteString, subscriber: Subscriber) -> bool {
        match self.members.iter_mut().find(|(id, _)| id == client_id) {
            Some(entry) => {
                entry.1 = subscriber;
                true
            }
            None => {
                self.members.push((client_id.clone(), subscriber));
                false
            }
        }
    }

    /// Removes the member `client_id`; returns whether it was one.
    pub fn remove(&mut self, client_id: &ByteString) -> bool {
        let before = self.members.len();
        self.members.retain(|(id, _)| id != client_id);
        self.members.len() != before
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ByteString, &Subscriber)> {
        self.members.iter().map(|(id, s)| (id, s))
    }

    /// The member to give `message` to, never `except`: by `policy`, preferring connected members.
    pub fn pick(
        &self,
        policy: SharedSubscriptionPolicy,
        message: &Message,
        except: Option<&ByteString>,
    ) -> Option<&Subscriber> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        let start = match policy {
            SharedSubscriptionPolicy::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed),
            SharedSubscriptionPolicy::Random => rand::thread_rng().gen_range(0..n),
            SharedSubscriptionPolicy::HashClientId => hash(message.publisher.as_deref().unwrap_or("")),
            SharedSubscriptionPolicy::HashTopic => hash(&message.topic),
        };
        let candidates = || {
            (0..n)
                .map(move |i| &self.members[(start + i) % n])
                .filter(|(id, _)| Some(id) != except)
                .map(|(_, s)| s)
        };
        candidates().find(|s| s.session.is_online()).or_else(|| candidates().next())
    }
}

fn hash(text: &str) -> usize {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish() as usize
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use tern_codec::Publish;

    use super::*;
    use crate::session::{QueueLimits, Session, Subscription};

    const LIMITS: QueueLimits =
        QueueLimits { max_messages: 10, max_bytes: 0, queue_qos0_offline: false, max_stored: usize::MAX };

    fn group(members: &[(&str, bool)]) -> SharedGroup {
        let mut g = SharedGroup::default();
        for (id, online) in members {
            let session = Arc::new(Session::new((*id).into(), LIMITS));
            session.set_online(*online);
            let sub =
                Subscriber { session, subscription: Subscription { options: Default::default(), id: None } };
            g.upsert(&(*id).into(), sub);
        }
        g
    }

    fn message(topic: &str, publisher: &str) -> Message {
        Message::from_publish(Publish::new(topic, "x"), topic.into(), Some(publisher.into()), Instant::now())
    }

    fn picked(g: &SharedGroup, policy: SharedSubscriptionPolicy, m: &Message) -> String {
        g.pick(policy, m, None).unwrap().session.client_id.to_string()
    }

    #[test]
    fn round_robin_takes_each_connected_member_in_turn() {
        let g = group(&[("a", true), ("b", true), ("c", true)]);
        let m = message("t", "p");
        let order: Vec<_> = (0..6).map(|_| picked(&g, SharedSubscriptionPolicy::RoundRobin, &m)).collect();
        assert_eq!(order, ["a", "b", "c", "a", "b", "c"]);
    }

    #[test]
    fn every_policy_prefers_connected_members() {
        let g = group(&[("off1", false), ("on", true), ("off2", false)]);
        for policy in [
            SharedSubscriptionPolicy::RoundRobin,
            SharedSubscriptionPolicy::Random,
            SharedSubscriptionPolicy::HashClientId,
            SharedSubscriptionPolicy::HashTopic,
        ] {
            for i in 0..10 {
                assert_eq!(
                    picked(&g, policy, &message(&format!("t/{i}"), &format!("p{i}"))),
                    "on",
                    "{policy:?}"
                );
            }
        }
    }

    #[test]
    fn hash_policies_are_sticky_per_publisher_or_topic() {
        let g = group(&[("a", true), ("b", true), ("c", true), ("d", true)]);
        let by_client = SharedSubscriptionPolicy::HashClientId;
        let first = picked(&g, by_client, &message("t/1", "sensor-7"));
        for i in 0..20 {
            assert_eq!(picked(&g, by_client, &message(&format!("t/{i}"), "sensor-7")), first);
        }
        let by_topic = SharedSubscriptionPolicy::HashTopic;
        let first = picked(&g, by_topic, &message("room/1", "p0"));
        for i in 0..20 {
            assert_eq!(picked(&g, by_topic, &message("room/1", &format!("p{i}"))), first);
        }
        // Different publishers spread over the members.
        let spread: std::collections::HashSet<_> =
            (0..64).map(|i| picked(&g, by_client, &message("t", &format!("sensor-{i}")))).collect();
        assert!(spread.len() > 1, "{spread:?}");
    }

    #[test]
    fn random_reaches_every_member() {
        let g = group(&[("a", true), ("b", true), ("c", true)]);
        let m = message("t", "p");
        let seen: std::collections::HashSet<_> =
            (0..200).map(|_| picked(&g, SharedSubscriptionPolicy::Random, &m)).collect();
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn a_leaving_member_is_never_picked_for_redelivery() {
        let g = group(&[("a", true), ("b", false)]);
        let m = message("t", "p");
        let except = ByteString::from("a");
        for _ in 0..5 {
            let s = g.pick(SharedSubscriptionPolicy::RoundRobin, &m, Some(&except)).unwrap();
            assert_eq!(&*s.session.client_id, "b");
        }
        let alone = group(&[("a", true)]);
        assert!(alone.pick(SharedSubscriptionPolicy::RoundRobin, &m, Some(&except)).is_none());
    }
}
