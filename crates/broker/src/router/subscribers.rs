//! The subscribers of one topic filter: a compact map from key (a session) to value (its options).
//!
//! Most filters have one subscriber (a device's own command topic), some have a few, a handful have
//! thousands (`alerts/#` on a dashboard fleet). One subscriber is stored inline without an allocation, a few
//! in a vector scanned linearly, many in a hash map so that adding or removing one stays O(1).

use std::collections::HashMap;
use std::hash::Hash;

/// Above this many subscribers a filter indexes them with a hash map.
const SMALL_MAX: usize = 16;
/// A hash-mapped filter goes back to a vector at this many subscribers.
const SMALL_AGAIN: usize = SMALL_MAX / 2;

/// The subscribers of one filter, never empty while stored in an index.
#[derive(Debug)]
pub(crate) enum Subscribers<K, V> {
    One(K, V),
    Few(Vec<(K, V)>),
    /// Boxed so that a filter's subscribers take 24 bytes inline (or `K` and `V`), not a hash map's 48.
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<K, V>>),
}

impl<K: Eq + Hash, V> Subscribers<K, V> {
    pub(crate) fn new(key: K, value: V) -> Self {
        Subscribers::One(key, value)
    }

    /// Adds or replaces `key`; returns the value replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self {
            Subscribers::One(k, v) if *k == key => Some(std::mem::replace(v, value)),
            Subscribers::One(..) => {
                let Subscribers::One(k, v) = std::mem::replace(self, Subscribers::Few(Vec::new())) else {
                    return None;
                };
                *self = Subscribers::Few(vec![(k, v), (key, value)]);
                None
            }
            Subscribers::Few(few) => {
                if let Some((_, v)) = few.iter_mut().find(|(k, _)| *k == key) {
                    return Some(std::mem::replace(v, value));
                }
                if few.len() < SMALL_MAX {
                    few.push((key, value));
                } else {
                    let mut many: HashMap<K, V> = std::mem::take(few).into_iter().collect();
                    many.insert(key, value);
                    *self = Subscribers::Many(Box::new(many));
                }
                None
            }
            Subscribers::Many(many) => many.insert(key, value),
        }
    }

    /// Removes `key`; returns its value. The caller drops `self` once [`Self::is_empty`].
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        match self {
            Subscribers::One(k, _) if k == key => {
                match std::mem::replace(self, Subscribers::Few(Vec::new())) {
                    Subscribers::One(_, v) => Some(v),
                    _ => None,
                }
            }
            Subscribers::One(..) => None,
            Subscribers::Few(few) => {
                let at = few.iter().position(|(k, _)| k == key)?;
                let (_, value) = few.swap_remove(at);
                if few.len() == 1 {
                    if let Some((k, v)) = few.pop() {
                        *self = Subscribers::One(k, v);
                    }
                }
                Some(value)
            }
            Subscribers::Many(many) => {
                let value = many.remove(key)?;
                if many.len() <= SMALL_AGAIN {
                    let few: Vec<_> = std::mem::take(&mut **many).into_iter().collect();
                    *self = Subscribers::Few(few);
                } else if many.capacity() > 4 * many.len() {
                    many.shrink_to_fit();
                }
                Some(value)
            }
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        match self {
            Subscribers::One(k, v) => (k == key).then_some(v),
            Subscribers::Few(few) => few.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Subscribers::Many(many) => many.get(key),
        }
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self {
            Subscribers::One(k, v) => (k == key).then_some(v),
            Subscribers::Few(few) => few.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            Subscribers::Many(many) => many.get_mut(key),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Subscribers::Few(few) if few.is_empty())
    }

    /// Calls `f` for every subscriber (the hot path of matching: no iterator adapters in the way).
    #[inline]
    pub(crate) fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        match self {
            Subscribers::One(k, v) => f(k, v),
            Subscribers::Few(few) => few.iter().for_each(|(k, v)| f(k, v)),
            Subscribers::Many(many) => many.iter().for_each(|(k, v)| f(k, v)),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let (one, few, many) = match self {
            Subscribers::One(k, v) => (Some((k, v)), None, None),
            Subscribers::Few(few) => (None, Some(few.iter().map(|(k, v)| (k, v))), None),
            Subscribers::Many(many) => (None, None, Some(many.iter())),
        };
        one.into_iter().chain(few.into_iter().flatten()).chain(many.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_subscriber_through_growth_and_shrinking() {
        let mut subs = Subscribers::new(0u32, 0u32);
        for k in 1..40 {
            assert_eq!(subs.insert(k, k), None);
        }
        assert!(matches!(subs, Subscribers::Many(_)));
        assert_eq!(subs.insert(7, 70), Some(7));
        assert_eq!(subs.get(&7), Some(&70));
        for k in 0..39 {
            assert!(subs.remove(&k).is_some(), "key {k}");
            assert_eq!(subs.remove(&k), None);
        }
        assert!(matches!(subs, Subscribers::One(39, 39)));
        assert!(!subs.is_empty());
        assert_eq!(subs.remove(&39), Some(39));
        assert!(subs.is_empty());
    }

    #[test]
    fn iter_and_for_each_see_the_same_subscribers() {
        let mut subs = Subscribers::new(1u8, 'a');
        subs.insert(2, 'b');
        subs.insert(3, 'c');
        let mut seen = Vec::new();
        subs.for_each(|k, v| seen.push((*k, *v)));
        let mut iterated: Vec<_> = subs.iter().map(|(k, v)| (*k, *v)).collect();
        seen.sort();
        iterated.sort();
        assert_eq!(seen, vec![(1, 'a'), (2, 'b'), (3, 'c')]);
        assert_eq!(iterated, seen);
    }
}
