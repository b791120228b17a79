//! A connection's memory of what the authorizer already answered.
//!
//! Publishes, subscriptions and deliveries ask the [`Authorizer`](super::Authorizer) about topics a client
//! uses again and again; the answers are kept per connection, keyed by the *generation* of the listener's
//! security. A reload bumps the generation, so every remembered answer is stale at once and the next check
//! asks the new rules: no walk over the connections, no lock, nothing to invalidate one by one.
//!
//! The cache is bounded in answers ([`DecisionCache::CAPACITY`]) and in topic bytes
//! ([`DecisionCache::MAX_BYTES`]; longer topics than [`DecisionCache::MAX_TOPIC`] are asked every time):
//! when full it starts over, so a client that uses ever new topics costs what it would without a cache,
//! and a connection's cache stays a few kilobytes whatever the client does. An idle connection that never
//! asked anything holds no allocation.

use std::collections::HashMap;

/// What is asked about a topic (or filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    Publish,
    Subscribe,
    Receive,
}

/// Authorization answers of one connection, valid for one generation of the rules.
#[derive(Debug, Default)]
pub struct DecisionCache {
    entries: Option<Box<Entries>>,
}

#[derive(Debug)]
struct Entries {
    generation: u64,
    /// Per kind of check, so that a lookup borrows the topic instead of building a key.
    answers: [HashMap<Box<str>, bool>; 3],
    len: usize,
    /// Bytes of the topics kept.
    bytes: usize,
}

impl DecisionCache {
    /// Answers kept at most; then the cache is emptied and filled again.
    pub const CAPACITY: usize = 64;
    /// Topic bytes kept at most.
    pub const MAX_BYTES: usize = 4096;
    /// Topics longer than this are not kept.
    pub const MAX_TOPIC: usize = 256;

    /// The answer for `check` on `topic` under the rules of `generation`: remembered if it was asked under
    /// the same generation, else `decide()`'s, which is remembered.
    pub fn decide(
        &mut self,
        generation: u64,
        check: Check,
        topic: &str,
        decide: impl FnOnce() -> bool,
    ) -> bool {
        if topic.len() > Self::MAX_TOPIC {
            return decide();
        }
        let entries = self.entries.get_or_insert_with(|| {
            Box::new(Entries { generation, answers: Default::default(), len: 0, bytes: 0 })
        });
        if entries.generation != generation {
            entries.clear(generation);
        }
        let answers = &mut entries.answers[check as usize];
        if let Some(&answer) = answers.get(topic) {
            return answer;
        }
        let answer = decide();
        if entries.len >= Self::CAPACITY || entries.bytes + topic.len() > Self::MAX_BYTES {
            entries.clear(generation);
        }
        entries.answers[check as usize].insert(topic.into(), answer);
        entries.len += 1;
        entries.bytes += topic.len();
        answer
    }

    /// How many answers are remembered.
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| e.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Entries {
    fn clear(&mut self, generation: u64) {
        for answers in &mut self.answers {
            answers.clear();
        }
        self.len = 0;
        self.bytes = 0;
        self.generation = generation;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_repeated_check_is_answered_from_memory() {
        let mut cache = DecisionCache::default();
        let asked = Cell::new(0);
        let ask = || {
            asked.set(asked.get() + 1);
            true
        };
        assert!(cache.decide(1, Check::Publish, "a/b", ask));
        assert!(cache.decide(1, Check::Publish, "a/b", ask));
        assert_eq!(asked.get(), 1);
    }

    #[test]
    fn a_new_generation_makes_every_answer_stale() {
        let mut cache = DecisionCache::default();
        assert!(cache.decide(1, Check::Publish, "a", || true));
        assert!(cache.decide(1, Check::Receive, "b", || true));
        assert!(!cache.decide(2, Check::Publish, "a", || false));
        assert_eq!(cache.len(), 1, "the answers of generation 1 are gone");
        assert!(!cache.decide(2, Check::Receive, "b", || false));
    }

    #[test]
    fn checks_of_different_kinds_do_not_share_answers() {
        let mut cache = DecisionCache::default();
        assert!(cache.decide(1, Check::Subscribe, "a/#", || true));
        assert!(!cache.decide(1, Check::Publish, "a/#", || false));
        assert!(!cache.decide(1, Check::Receive, "a/#", || false));
        assert!(cache.decide(1, Check::Subscribe, "a/#", || false));
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let mut cache = DecisionCache::default();
        for i in 0..DecisionCache::CAPACITY * 3 + 7 {
            cache.decide(1, Check::Receive, &format!("t/{i}"), || true);
            assert!(cache.len() <= DecisionCache::CAPACITY);
        }
        assert!(!cache.is_empty());
    }

    #[test]
    fn long_topics_are_bounded_in_bytes_and_the_longest_are_not_kept() {
        let mut cache = DecisionCache::default();
        let long = "x".repeat(DecisionCache::MAX_TOPIC);
        for i in 0..100 {
            cache.decide(1, Check::Publish, &format!("{i}{long}"), || true);
            let bytes = cache.entries.as_ref().map_or(0, |e| e.bytes);
            assert!(bytes <= DecisionCache::MAX_BYTES, "{bytes}");
        }
        let asked = Cell::new(0);
        let longest = "y".repeat(DecisionCache::MAX_TOPIC + 1);
        for _ in 0..2 {
            cache.decide(1, Check::Publish, &longest, || {
                asked.set(asked.get() + 1);
                true
            });
        }
        assert_eq!(asked.get(), 2);
    }

    #[test]
    fn a_connection_that_asked_nothing_holds_no_allocation() {
        let cache = DecisionCache::default();
        assert!(cache.entries.is_none());
        assert_eq!(std::mem::size_of::<DecisionCache>(), std::mem::size_of::<usize>());
    }
}
