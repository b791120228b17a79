//! The subscription index: which subscriptions does a PUBLISH to a topic name reach?
//!
//! A topic filter is a path of levels, each exact, `+` (any one level) or `#` (last: the parent level and
//! everything below) [MQTT-4.7.1-1], [MQTT-4.7.1-2]. Matching a topic name against every filter in turn costs
//! O(subscriptions) per message, so the index is built so that the cost of matching depends only on the
//! topic's length and on the filters that could match it, never on the number of unrelated ones:
//!
//! - **Exact filters** (no wildcard: most subscriptions, like `site/7/device/12/cmd`) are one hash-map entry
//!   keyed by the whole filter. A filter without wildcards matches exactly the topic name equal to it, so
//!   they are found with one lookup of the topic. Keeping them out of the trie also keeps it small: with a
//!   node per level of every device's filter, the IoT mix of BENCHMARKS.md took 224 bytes per subscription
//!   instead of 83. Maps use std's keyed hasher: filters and topics are chosen by clients.
//! - **Wildcard filters** live in a trie of levels. A node has its exact-level children (see
//!   [`Children`]), one `+` child, and the subscriptions of the filter ending at the node (`here`) and of the
//!   filter made of the node's path followed by `/#` (`hash`). Matching walks the topic's levels down the
//!   exact child and the `+` child of each node reached, collecting `hash` on the way and `here` at the end.
//!   The walk uses an explicit stack, not recursion: a filter may have thousands of levels (a topic is up to
//!   65,535 bytes), and neither matching, removal nor dropping may overflow the thread's stack.
//!
//! Each filter stores its text once, so that matching hands out `&str` without allocating, and its
//! subscribers in a compact map ([`Subscribers`]). Removing the last subscription of a filter removes every
//! trie node left empty, so memory follows the subscriptions alive, not the history of churn.
//!
//! The `$` rule [MQTT-4.7.2-1]: a filter whose first level is a wildcard does not match a topic name
//! starting with `$`; the walk skips the root's `+` child and `#` subscriptions for such topics.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use tern_codec::topic::has_wildcard;

use super::children::{split_level, Children};
use super::subscribers::Subscribers;

/// Subscriptions keyed by (topic filter, key), matched against topic names.
///
/// Filters without wildcards sit in a hash map, the others in a trie of levels, so matching a topic costs
/// one lookup plus a walk of the trie branches the topic's levels lead to, never a scan of unrelated
/// filters. Removing a filter's last subscription prunes the nodes it leaves empty.
///
/// `K` identifies the subscriber (a session), `V` is what the broker keeps per subscription (its options).
pub struct SubscriptionIndex<K, V> {
    /// Filters without wildcards, keyed by the filter.
    exact: HashMap<Box<str>, Subscribers<K, V>>,
    /// Filters with at least one wildcard.
    root: Node<K, V>,
    /// Number of (filter, key) subscriptions.
    len: usize,
    /// Number of distinct filters.
    filters: usize,
}

/// A trie node: the filters whose wildcard-bearing path reaches this level.
struct Node<K, V> {
    children: Children<Node<K, V>>,
    plus: Option<Box<Node<K, V>>>,
    /// The filter ending at this node.
    here: Option<Box<Entry<K, V>>>,
    /// The filter made of this node's path and a final `#`.
    hash: Option<Box<Entry<K, V>>>,
}

/// One filter's text and subscribers.
struct Entry<K, V> {
    filter: Box<str>,
    subscribers: Subscribers<K, V>,
}

/// One step of a filter's path down the trie.
#[derive(Clone, Copy)]
enum Step<'a> {
    Exact(&'a str),
    Plus,
}

/// Where a filter's subscriptions sit in the node its path leads to.
#[derive(Clone, Copy)]
enum Slot {
    Here,
    Hash,
}

/// A filter's path in the trie (without a final `#`) and its slot.
///
/// A `#` that is not the last level is not a valid filter [MQTT-4.7.1-1]; it is taken as a plain level
/// here, which no topic name can match, so an invalid filter never panics nor matches.
fn path(filter: &str) -> (impl Iterator<Item = Step<'_>> + Clone, Slot) {
    let (levels, slot) = match filter.strip_suffix('#') {
        Some("") => (None, Slot::Hash),
        Some(parent) => match parent.strip_suffix('/') {
            Some(parent) => (Some(parent), Slot::Hash),
            None => (Some(filter), Slot::Here),
        },
        None => (Some(filter), Slot::Here),
    };
    let steps = levels.into_iter().flat_map(|levels| levels.split('/')).map(|level| match level {
        "+" => Step::Plus,
        exact => Step::Exact(exact),
    });
    (steps, slot)
}

impl<K, V> Node<K, V> {
    fn new() -> Self {
        Node { children: Children::default(), plus: None, here: None, hash: None }
    }

    fn child(&self, step: Step<'_>) -> Option<&Self> {
        match step {
            Step::Exact(level) => self.children.get(level),
            Step::Plus => self.plus.as_deref(),
        }
    }

    fn child_mut(&mut self, step: Step<'_>) -> Option<&mut Self> {
        match step {
            Step::Exact(level) => self.children.get_mut(level),
            Step::Plus => self.plus.as_deref_mut(),
        }
    }

    fn child_or_insert(&mut self, step: Step<'_>) -> &mut Self {
        match step {
            Step::Exact(level) => self.children.get_or_insert_with(level, Node::new),
            Step::Plus => self.plus.get_or_insert_with(|| Box::new(Node::new())),
        }
    }

    fn remove_child(&mut self, step: Step<'_>) {
        match step {
            Step::Exact(level) => drop(self.children.remove(level)),
            Step::Plus => self.plus = None,
        }
    }

    fn slot(&self, slot: Slot) -> &Option<Box<Entry<K, V>>> {
        match slot {
            Slot::Here => &self.here,
            Slot::Hash => &self.hash,
        }
    }

    fn slot_mut(&mut self, slot: Slot) -> &mut Option<Box<Entry<K, V>>> {
        match slot {
            Slot::Here => &mut self.here,
            Slot::Hash => &mut self.hash,
        }
    }

    /// Whether removing one branch below this node would leave it useless.
    fn holds_only_one_branch(&self) -> bool {
        self.here.is_none()
            && self.hash.is_none()
            && self.children.len() + usize::from(self.plus.is_some()) == 1
    }

    fn is_empty(&self) -> bool {
        self.here.is_none() && self.hash.is_none() && self.plus.is_none() && self.children.is_empty()
    }

    /// Moves the branches below this node into `out`.
    fn take_branches(&mut self, out: &mut Vec<Self>) {
        self.children.drain_into(out);
        if let Some(plus) = self.plus.take() {
            out.push(*plus);
        }
    }
}

impl<K, V> Drop for Node<K, V> {
    /// Tears the subtree down with a heap stack: the default recursive drop could overflow the thread's stack
    /// on a filter thousands of levels deep.
    fn drop(&mut self) {
        if self.children.is_empty() && self.plus.is_none() {
            return;
        }
        let mut below = Vec::new();
        self.take_branches(&mut below);
        while let Some(mut node) = below.pop() {
            node.take_branches(&mut below);
        }
    }
}

/// Trie branches still to walk while matching a topic: a small stack on the call's own stack frame, spilling
/// to the heap only when a topic reaches more `+` branches at once than fit inline.
struct Pending<'a, K, V> {
    inline: [Option<Branch<'a, K, V>>; 16],
    len: usize,
    spill: Vec<Branch<'a, K, V>>,
}

/// A trie node reached by a topic and the topic levels left below it.
type Branch<'a, K, V> = (&'a Node<K, V>, Option<&'a str>);

impl<'a, K, V> Pending<'a, K, V> {
    fn new() -> Self {
        Pending { inline: [None; 16], len: 0, spill: Vec::new() }
    }

    fn push(&mut self, node: &'a Node<K, V>, rest: Option<&'a str>) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = Some((node, rest));
                self.len += 1;
            }
            None => self.spill.push((node, rest)),
        }
    }

    fn pop(&mut self) -> Option<Branch<'a, K, V>> {
        if let Some(branch) = self.spill.pop() {
            return Some(branch);
        }
        self.len = self.len.checked_sub(1)?;
        self.inline.get_mut(self.len).and_then(Option::take)
    }
}

impl<K: Eq + Hash + Clone, V> Default for SubscriptionIndex<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> fmt::Debug for SubscriptionIndex<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionIndex")
            .field("subscriptions", &self.len)
            .field("filters", &self.filters)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Clone, V> SubscriptionIndex<K, V> {
    /// An empty index.
    pub fn new() -> Self {
        SubscriptionIndex { exact: HashMap::new(), root: Node::new(), len: 0, filters: 0 }
    }

    /// Adds or replaces `key`'s subscription to `filter` (a valid, non-shared topic filter); returns the old
    /// value.
    pub fn insert(&mut self, filter: &str, key: K, value: V) -> Option<V> {
        let replaced = if has_wildcard(filter) {
            let (steps, slot) = path(filter);
            let mut node = &mut self.root;
            for step in steps {
                node = node.child_or_insert(step);
            }
            match node.slot_mut(slot) {
                Some(entry) => entry.subscribers.insert(key, value),
                empty @ None => {
                    let subscribers = Subscribers::new(key, value);
                    *empty = Some(Box::new(Entry { filter: filter.into(), subscribers }));
                    self.filters += 1;
                    None
                }
            }
        } else {
            match self.exact.get_mut(filter) {
                Some(subscribers) => subscribers.insert(key, value),
                None => {
                    self.exact.insert(filter.into(), Subscribers::new(key, value));
                    self.filters += 1;
                    None
                }
            }
        };
        if replaced.is_none() {
            self.len += 1;
        }
        replaced
    }

    /// Removes `key`'s subscription to `filter`; returns its value. Trie nodes left empty are removed.
    pub fn remove(&mut self, filter: &str, key: &K) -> Option<V> {
        if !has_wildcard(filter) {
            let subscribers = self.exact.get_mut(filter)?;
            let value = subscribers.remove(key)?;
            self.len -= 1;
            if subscribers.is_empty() {
                self.exact.remove(filter);
                self.filters -= 1;
                if self.exact.capacity() > 4 * self.exact.len() {
                    self.exact.shrink_to_fit();
                }
            }
            return Some(value);
        }
        let (steps, slot) = path(filter);
        // Walk down, remembering the deepest node above the target that has to stay whatever happens
        // below it: if the target ends up empty, the branch under that node goes.
        let mut node = &mut self.root;
        let (mut depth, mut keep) = (0, 0);
        for step in steps.clone() {
            if depth > 0 && !node.holds_only_one_branch() {
                keep = depth;
            }
            node = node.child_mut(step)?;
            depth += 1;
        }
        let entry = node.slot_mut(slot);
        let value = entry.as_mut()?.subscribers.remove(key)?;
        self.len -= 1;
        if entry.as_ref().is_some_and(|entry| entry.subscribers.is_empty()) {
            *entry = None;
            self.filters -= 1;
            if depth > 0 && node.is_empty() {
                self.prune(steps, keep);
            }
        }
        Some(value)
    }

    /// Removes the branch following `steps` below the node `keep` steps down from the root.
    fn prune<'f>(&mut self, mut steps: impl Iterator<Item = Step<'f>>, keep: usize) {
        let mut node = &mut self.root;
        for step in steps.by_ref().take(keep) {
            match node.child_mut(step) {
                Some(child) => node = child,
                None => return,
            }
        }
        if let Some(step) = steps.next() {
            node.remove_child(step);
        }
    }

    /// `key`'s subscription to `filter`.
    pub fn get(&self, filter: &str, key: &K) -> Option<&V> {
        if !has_wildcard(filter) {
            return self.exact.get(filter)?.get(key);
        }
        let (steps, slot) = path(filter);
        let mut node = &self.root;
        for step in steps {
            node = node.child(step)?;
        }
        node.slot(slot).as_ref()?.subscribers.get(key)
    }

    /// `key`'s subscription to `filter`, to change in place (no trie nodes are removed and rebuilt, as a
    /// remove and insert would).
    pub fn get_mut(&mut self, filter: &str, key: &K) -> Option<&mut V> {
        if !has_wildcard(filter) {
            return self.exact.get_mut(filter)?.get_mut(key);
        }
        let (steps, slot) = path(filter);
        let mut node = &mut self.root;
        for step in steps {
            node = node.child_mut(step)?;
        }
        node.slot_mut(slot).as_mut()?.subscribers.get_mut(key)
    }

    /// Calls `f(filter, key, value)` for every subscription whose filter matches the topic name `topic`,
    /// applying the `$` rule [MQTT-4.7.2-1] (a filter starting with `+` or `#` never matches a `$` topic).
    pub fn for_each_match(&self, topic: &str, mut f: impl FnMut(&str, &K, &V)) {
        // An exact filter matches the topic equal to it, so the topic is the filter to report.
        if let Some(subscribers) = self.exact.get(topic) {
            subscribers.for_each(|key, value| f(topic, key, value));
        }
        let mut emit = |entry: &Option<Box<Entry<K, V>>>| {
            if let Some(entry) = entry {
                entry.subscribers.for_each(|key, value| f(&entry.filter, key, value));
            }
        };
        let root = &self.root;
        let (first, rest) = split_level(topic);
        let mut pending = Pending::new();
        if !topic.starts_with('$') {
            emit(&root.hash);
            if let Some(plus) = &root.plus {
                pending.push(plus, rest);
            }
        }
        if let Some(child) = root.children.get(first) {
            pending.push(child, rest);
        }
        while let Some((mut node, mut rest)) = pending.pop() {
            loop {
                // `#` matches the parent level too: `a/#` matches `a` [MQTT-4.7.1-1].
                emit(&node.hash);
                let Some(levels) = rest else {
                    emit(&node.here);
                    break;
                };
                let (level, next) = split_level(levels);
                if let Some(plus) = &node.plus {
                    pending.push(plus, next);
                }
                match node.children.get(level) {
                    Some(child) => (node, rest) = (child, next),
                    None => break,
                }
            }
        }
    }

    /// Number of (filter, key) subscriptions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index holds no subscription.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of distinct filters.
    pub fn filter_count(&self) -> usize {
        self.filters
    }

    /// Every subscription, in no particular order (admin listing, persistence).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &K, &V)> + '_ {
        let exact = self.exact.iter().map(|(filter, subscribers)| (&**filter, subscribers));
        let wildcard = Entries { nodes: vec![&self.root], ready: Vec::new() };
        exact.chain(wildcard).flat_map(|(filter, subscribers)| {
            subscribers.iter().map(move |(key, value)| (filter, key, value))
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
            nodes.extend(node.plus.as_deref());
        }
        count
    }
}

/// The wildcard filters of a trie with their subscribers, depth first.
struct Entries<'a, K, V> {
    nodes: Vec<&'a Node<K, V>>,
    ready: Vec<&'a Entry<K, V>>,
}

impl<'a, K, V> Iterator for Entries<'a, K, V> {
    type Item = (&'a str, &'a Subscribers<K, V>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.ready.pop() {
                return Some((&entry.filter, &entry.subscribers));
            }
            let node = self.nodes.pop()?;
            self.nodes.extend(node.children.iter().map(|(_, child)| child));
            self.nodes.extend(node.plus.as_deref());
            self.ready.extend(node.here.as_deref());
            self.ready.extend(node.hash.as_deref());
        }
    }
}

#[cfg(test)]
mod tests;
