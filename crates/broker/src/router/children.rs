//! The exact-level children of a topic trie node.
//!
//! Most nodes of a topic trie have a handful of children (`site/7/` has `device`, `gateway`, ...), a few
//! have very many (`site/` has one per site). A small vector scanned linearly is both smaller and faster than
//! a hash map for the first kind, so a node starts with one and switches to a hash map past
//! [`SMALL_MAX`] children, switching back (and so returning the memory) when it shrinks well below that.
//! Levels are [`CompactStr`]s: short ones sit inline in the vector or map, next to the child.

use std::collections::HashMap;

use super::compact_str::CompactStr;

/// Above this many children a node indexes them with a hash map.
const SMALL_MAX: usize = 8;
/// A hash-mapped node goes back to a vector at this many children (hysteresis against flapping).
const SMALL_AGAIN: usize = SMALL_MAX / 2;

/// Children of a trie node keyed by their level (the text between two `/`).
#[derive(Debug)]
pub(crate) enum Children<N> {
    /// Few children, scanned linearly.
    Few(Vec<(CompactStr, N)>),
    /// Many children, hashed (std's keyed hasher: levels are chosen by clients, so no fixed-seed hash).
    /// Boxed so that the common small node pays 24 bytes for its children, not a hash map's 48.
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<CompactStr, N>>),
}

impl<N> Default for Children<N> {
    fn default() -> Self {
        Children::Few(Vec::new())
    }
}

impl<N> Children<N> {
    pub(crate) fn get(&self, level: &str) -> Option<&N> {
        match self {
            Children::Few(few) => few.iter().find(|(l, _)| l.as_bytes() == level.as_bytes()).map(|(_, n)| n),
            Children::Many(many) => many.get(level.as_bytes()),
        }
    }

    pub(crate) fn get_mut(&mut self, level: &str) -> Option<&mut N> {
        match self {
            Children::Few(few) => {
                few.iter_mut().find(|(l, _)| l.as_bytes() == level.as_bytes()).map(|(_, n)| n)
            }
            Children::Many(many) => many.get_mut(level.as_bytes()),
        }
    }

    /// The child at `level`, created with `make` if absent.
    pub(crate) fn get_or_insert_with(&mut self, level: &str, make: impl FnOnce() -> N) -> &mut N {
        if let Children::Few(few) = self {
            if few.len() >= SMALL_MAX && !few.iter().any(|(l, _)| l.as_bytes() == level.as_bytes()) {
                let many: HashMap<CompactStr, N> = std::mem::take(few).into_iter().collect();
                *self = Children::Many(Box::new(many));
            }
        }
        match self {
            Children::Few(few) => {
                let at = match few.iter().position(|(l, _)| l.as_bytes() == level.as_bytes()) {
                    Some(at) => at,
                    None => {
                        // Grow one at a time: most nodes keep one or two children for their whole life.
                        few.reserve_exact(1);
                        few.push((level.into(), make()));
                        few.len() - 1
                    }
                };
                &mut few[at].1
            }
            Children::Many(many) => many.entry(level.into()).or_insert_with(make),
        }
    }

    pub(crate) fn remove(&mut self, level: &str) -> Option<N> {
        match self {
            Children::Few(few) => {
                let at = few.iter().position(|(l, _)| l.as_bytes() == level.as_bytes())?;
                let (_, child) = few.swap_remove(at);
                if few.is_empty() {
                    // Give the buffer back: an emptied node may live on (it holds subscriptions).
                    *few = Vec::new();
                }
                Some(child)
            }
            Children::Many(many) => {
                let child = many.remove(level.as_bytes())?;
                if many.len() <= SMALL_AGAIN {
                    let few: Vec<_> = std::mem::take(&mut **many).into_iter().collect();
                    *self = Children::Few(few);
                } else if many.capacity() > 4 * many.len() {
                    many.shrink_to_fit();
                }
                Some(child)
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Children::Few(few) => few.len(),
            Children::Many(many) => many.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every child with its level's bytes, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &N)> {
        let (few, many) = match self {
            Children::Few(few) => (Some(few.iter().map(|(l, n)| (l.as_bytes(), n))), None),
            Children::Many(many) => (None, Some(many.iter().map(|(l, n)| (l.as_bytes(), n)))),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }

    /// Every child, mutably, in no particular order.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut N> {
        let (few, many) = match self {
            Children::Few(few) => (Some(few.iter_mut().map(|(_, n)| n)), None),
            Children::Many(many) => (None, Some(many.values_mut())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }

    /// Moves every child out (used to tear a deep trie down without recursion).
    pub(crate) fn drain_into(&mut self, out: &mut Vec<N>) {
        match std::mem::take(self) {
            Children::Few(few) => out.extend(few.into_iter().map(|(_, n)| n)),
            Children::Many(many) => out.extend(many.into_values()),
        }
    }
}

/// Splits the first level off a topic name or filter: `a/b/c` gives `a` and `Some("b/c")`, `a` gives `a` and
/// `None`, and `a/` gives `a` and `Some("")` (an empty last level).
pub(crate) fn split_level(text: &str) -> (&str, Option<&str>) {
    match text.split_once('/') {
        Some((level, rest)) => (level, Some(rest)),
        None => (text, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_into_a_hash_map_and_back_keeping_every_child() {
        let mut children = Children::default();
        for i in 0..20u32 {
            *children.get_or_insert_with(&i.to_string(), || 0) += i;
        }
        assert!(matches!(children, Children::Many(_)));
        for i in 0..20u32 {
            assert_eq!(children.get(&i.to_string()), Some(&i));
        }
        for i in 0..17u32 {
            assert_eq!(children.remove(&i.to_string()), Some(i));
        }
        assert!(matches!(children, Children::Few(_)));
        assert_eq!(children.len(), 3);
        let mut left: Vec<_> =
            children.iter().map(|(l, n)| (String::from_utf8_lossy(l).into_owned(), *n)).collect();
        left.sort();
        assert_eq!(left, vec![("17".into(), 17), ("18".into(), 18), ("19".into(), 19)]);
        assert_eq!(children.remove("0"), None);
    }

    #[test]
    fn split_level_keeps_empty_levels() {
        assert_eq!(split_level("a/b/c"), ("a", Some("b/c")));
        assert_eq!(split_level("a"), ("a", None));
        assert_eq!(split_level("a/"), ("a", Some("")));
        assert_eq!(split_level("/a"), ("", Some("a")));
        assert_eq!(split_level(""), ("", None));
    }
}
