//! The retained index: the last retained message of each topic name, found by topic filter.
//!
//! A retained message is kept per topic name and sent to every new subscription whose filter matches that
//! name [MQTT-3.3.1-6]. Subscribing to `site/#` or `+/status` must not compare the filter with every retained
//! topic, so topics are stored in a trie of levels and the filter walks it: an exact level follows one child,
//! `+` follows every child, `#` takes the whole subtree (the node itself included: `a/#` matches `a`). The
//! cost is the size of the matching subtrees, not of the store.
//!
//! Each node holding a message stores the full topic name once (`Box<str>`), so matches hand it out without
//! building it from the levels. Removing a topic removes the nodes it leaves empty.
//!
//! The `$` rule [MQTT-4.7.2-1]: a filter whose first level is a wildcard does not match topic names
//! starting with `$`; the walk skips the root's `$` children for such filters.
//!
//! Every walk (matching, removal, drop) uses a heap stack rather than recursion: topics can be thousands of
//! levels deep.

use std::fmt;

use crate::router::{split_level, Children};

/// Retained values keyed by topic name, matched by topic filter.
///
/// Topics sit in a trie of levels that a filter walks (`+` follows every child, `#` takes a subtree), so a
/// lookup costs the size of what matches, not of the store. Removal prunes the nodes left empty.
pub struct RetainedIndex<V> {
    root: Node<V>,
    len: usize,
}

struct Node<V> {
    children: Children<Node<V>>,
    entry: Option<Entry<V>>,
}

/// A topic name and its value.
struct Entry<V> {
    topic: Box<str>,
    value: V,
}

/// Trie work left while matching a filter.
enum Walk<'a, V> {
    /// Match the filter levels `rest` from this node (`None`: the filter ends here).
    Levels(&'a Node<V>, Option<&'a str>),
    /// Everything in this subtree matches (`#`).
    Subtree(&'a Node<V>),
}

impl<V> Node<V> {
    fn new() -> Self {
        Node { children: Children::default(), entry: None }
    }
}

impl<V> Drop for Node<V> {
    /// Tears the subtree down with a heap stack (the default recursive drop could overflow on deep topics).
    fn drop(&mut self) {
        if self.children.is_empty() {
            return;
        }
        let mut below = Vec::new();
        self.children.drain_into(&mut below);
        while let Some(mut node) = below.pop() {
            node.children.drain_into(&mut below);
        }
    }
}

impl<V> Default for RetainedIndex<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> fmt::Debug for RetainedIndex<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetainedIndex").field("topics", &self.len).finish_non_exhaustive()
    }
}

impl<V> RetainedIndex<V> {
    /// An empty index.
    pub fn new() -> Self {
        RetainedIndex { root: Node::new(), len: 0 }
    }

    /// Stores `value` for the topic name `topic` (no wildcards); returns the value it replaces.
    pub fn insert(&mut self, topic: &str, value: V) -> Option<V> {
        let mut node = &mut self.root;
        for level in topic.split('/') {
            node = node.children.get_or_insert_with(level, Node::new);
        }
        match &mut node.entry {
            Some(entry) => Some(std::mem::replace(&mut entry.value, value)),
            empty @ None => {
                *empty = Some(Entry { topic: topic.into(), value });
                self.len += 1;
                None
            }
        }
    }

    /// Removes the value of `topic`; the trie nodes left empty go with it.
    pub fn remove(&mut self, topic: &str) -> Option<V> {
        let mut node = &mut self.root;
        for level in topic.split('/') {
            node = node.children.get_mut(level)?;
        }
        let entry = node.entry.take()?;
        self.len -= 1;
        if node.children.is_empty() {
            self.prune(topic);
        }
        Some(entry.value)
    }

    /// Removes the empty branch ending at `topic`'s node, if that node is empty.
    fn prune(&mut self, topic: &str) {
        // The deepest node on the path that stays whatever happens below it: the root, or a node with a
        // value or with another branch.
        let mut node = &self.root;
        let mut keep = 0;
        for (depth, level) in topic.split('/').enumerate() {
            if depth > 0 && (node.entry.is_some() || node.children.len() > 1) {
                keep = depth;
            }
            match node.children.get(level) {
                Some(child) => node = child,
                None => return,
            }
        }
        if node.entry.is_some() || !node.children.is_empty() {
            return;
        }
        let mut node = &mut self.root;
        let mut levels = topic.split('/');
        for level in levels.by_ref().take(keep) {
            match node.children.get_mut(level) {
                Some(child) => node = child,
                None => return,
            }
        }
        if let Some(level) = levels.next() {
            node.children.remove(level);
        }
    }

    /// The value of `topic`.
    pub fn get(&self, topic: &str) -> Option<&V> {
        let mut node = &self.root;
        for level in topic.split('/') {
            node = node.children.get(level)?;
        }
        node.entry.as_ref().map(|entry| &entry.value)
    }

    /// Calls `f(topic, value)` for every retained topic the topic filter `filter` matches ($ rule applied,
    /// [MQTT-4.7.2-1]).
    pub fn for_each_match(&self, filter: &str, mut f: impl FnMut(&str, &V)) {
        let mut work = Vec::new();
        let (first, rest) = split_level(filter);
        match first {
            "#" | "+" => {
                for (level, child) in self.root.children.iter() {
                    if level.first() == Some(&b'$') {
                        continue;
                    }
                    work.push(if first == "#" { Walk::Subtree(child) } else { Walk::Levels(child, rest) });
                }
            }
            exact => work.extend(self.root.children.get(exact).map(|child| Walk::Levels(child, rest))),
        }
        while let Some(next) = work.pop() {
            match next {
                Walk::Subtree(node) => {
                    if let Some(entry) = &node.entry {
                        f(&entry.topic, &entry.value);
                    }
                    work.extend(node.children.iter().map(|(_, child)| Walk::Subtree(child)));
                }
                Walk::Levels(node, None) => {
                    if let Some(entry) = &node.entry {
                        f(&entry.topic, &entry.value);
                    }
                }
                Walk::Levels(node, Some(levels)) => {
                    let (level, rest) = split_level(levels);
                    match level {
                        // `#` matches its parent level too [MQTT-4.7.1-1].
                        "#" => work.push(Walk::Subtree(node)),
                        "+" => work.extend(node.children.iter().map(|(_, child)| Walk::Levels(child, rest))),
                        exact => work.extend(node.children.get(exact).map(|child| Walk::Levels(child, rest))),
                    }
                }
            }
        }
    }

    /// Number of retained topics.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no topic is retained.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps only the entries for which `keep(topic, value)` is true (expiry sweeps); prunes what empties.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut V) -> bool) {
        let mut removed = Vec::new();
        let mut nodes = vec![&mut self.root];
        while let Some(node) = nodes.pop() {
            let drop_entry = match &mut node.entry {
                Some(entry) => !keep(&entry.topic, &mut entry.value),
                None => false,
            };
            if drop_entry {
                removed.extend(node.entry.take().map(|entry| entry.topic));
            }
            nodes.extend(node.children.values_mut());
        }
        self.len -= removed.len();
        for topic in removed {
            self.prune(&topic);
        }
    }

    /// Every retained topic and its value, in no particular order (persistence, admin listing).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> + '_ {
        let mut nodes = vec![&self.root];
        std::iter::from_fn(move || loop {
            let node = nodes.pop()?;
            nodes.extend(node.children.iter().map(|(_, child)| child));
            if let Some(entry) = &node.entry {
                return Some((&*entry.topic, &entry.value));
            }
        })
    }

    /// Number of trie nodes, the root included (tests check that removal prunes).
    #[cfg(test)]
    fn node_count(&self) -> usize {
        let mut nodes = vec![&self.root];
        let mut count = 0;
        while let Some(node) = nodes.pop() {
            count += 1;
            nodes.extend(node.children.iter().map(|(_, child)| child));
        }
        count
    }
}

#[cfg(test)]
mod tests;
