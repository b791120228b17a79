//! Topic aliases (MQTT 5.0 3.3.2.3.4): a two-byte number standing for a topic name on one connection, in one
//! direction. Each side announces how many aliases it accepts (Topic Alias Maximum); mappings live as long as
//! the network connection, not the session.

use std::collections::HashMap;

use tern_codec::ByteString;

use crate::error::ProtoError;

/// Aliases the peer set for messages it sends us.
#[derive(Debug, Clone, Default)]
pub struct InboundAliases {
    max: u16,
    topics: Vec<Option<ByteString>>,
}

impl InboundAliases {
    /// Accepts aliases 1..=max (what we advertised as Topic Alias Maximum; 0 allows none).
    pub fn new(max: u16) -> Self {
        InboundAliases { max, topics: Vec::new() }
    }

    /// The topic of a received PUBLISH: its topic name (setting `alias` to it if given), or the topic the
    /// alias stands for when the name is empty.
    pub fn resolve(&mut self, topic: &ByteString, alias: Option<u16>) -> Result<ByteString, ProtoError> {
        let Some(alias) = alias else {
            return if topic.is_empty() { Err(ProtoError::MissingTopic) } else { Ok(topic.clone()) };
        };
        if alias == 0 {
            return Err(ProtoError::TopicAliasZero);
        }
        if alias > self.max {
            return Err(ProtoError::TopicAliasOutOfRange { alias, max: self.max });
        }
        let slot = usize::from(alias - 1);
        if topic.is_empty() {
            return self.topics.get(slot).cloned().flatten().ok_or(ProtoError::TopicAliasUnknown(alias));
        }
        if self.topics.len() <= slot {
            self.topics.resize(slot + 1, None);
        }
        self.topics[slot] = Some(topic.clone());
        Ok(topic.clone())
    }
}

/// Aliases we set for messages we send to the peer, bounded by the peer's Topic Alias Maximum. When all are
/// taken, the least recently assigned one is reused for the new topic (round robin), so a connection that
/// cycles over many topics still saves bytes on the ones it repeats.
#[derive(Debug, Clone, Default)]
pub struct OutboundAliases {
    max: u16,
    by_topic: HashMap<ByteString, u16>,
    slots: Vec<ByteString>,
    next_victim: usize,
}

/// How to send a topic with aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundAlias {
    /// Send the topic name and this alias: the peer learns (or relearns) the mapping.
    Set(u16),
    /// Send an empty topic name and this alias: the peer knows the mapping.
    Use(u16),
}

impl OutboundAliases {
    /// Uses aliases 1..=max (the peer's Topic Alias Maximum; 0 disables aliases).
    pub fn new(max: u16) -> Self {
        OutboundAliases { max, ..OutboundAliases::default() }
    }

    /// How to send `topic`, or `None` to send it plainly (aliases disabled).
    pub fn alias_for(&mut self, topic: &ByteString) -> Option<OutboundAlias> {
        if self.max == 0 {
            return None;
        }
        if let Some(&alias) = self.by_topic.get(topic) {
            return Some(OutboundAlias::Use(alias));
        }
        let alias = if self.slots.len() < usize::from(self.max) {
            self.slots.push(topic.clone());
            self.slots.len()
        } else {
            let victim = self.next_victim;
            self.next_victim = (victim + 1) % self.slots.len();
            let old = std::mem::replace(&mut self.slots[victim], topic.clone());
            self.by_topic.remove(&old);
            victim + 1
        };
        let alias = u16::try_from(alias).ok()?;
        self.by_topic.insert(topic.clone(), alias);
        Some(OutboundAlias::Set(alias))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &'static str) -> ByteString {
        ByteString::from_static(s)
    }

    #[test]
    fn inbound_alias_is_set_then_used() {
        let mut aliases = InboundAliases::new(4);
        assert_eq!(aliases.resolve(&t("a/b"), Some(2)), Ok(t("a/b")));
        assert_eq!(aliases.resolve(&t(""), Some(2)), Ok(t("a/b")));
        // Re-mapping an alias to a new topic replaces it.
        assert_eq!(aliases.resolve(&t("c"), Some(2)), Ok(t("c")));
        assert_eq!(aliases.resolve(&t(""), Some(2)), Ok(t("c")));
    }

    #[test]
    fn inbound_alias_errors_map_to_0x94() {
        let mut aliases = InboundAliases::new(2);
        let out_of_range = aliases.resolve(&t("a"), Some(3)).unwrap_err();
        assert_eq!(out_of_range, ProtoError::TopicAliasOutOfRange { alias: 3, max: 2 });
        assert_eq!(out_of_range.reason_code().0, 0x94);
        assert_eq!(aliases.resolve(&t(""), Some(1)), Err(ProtoError::TopicAliasUnknown(1)));
        assert_eq!(aliases.resolve(&t("a"), Some(0)), Err(ProtoError::TopicAliasZero));
        assert_eq!(aliases.resolve(&t(""), None), Err(ProtoError::MissingTopic));
        assert_eq!(InboundAliases::new(0).resolve(&t("a"), Some(1)).unwrap_err().reason_code().0, 0x94);
    }

    #[test]
    fn outbound_aliases_are_bounded_and_reused_round_robin() {
        let mut aliases = OutboundAliases::new(2);
        assert_eq!(aliases.alias_for(&t("a")), Some(OutboundAlias::Set(1)));
        assert_eq!(aliases.alias_for(&t("a")), Some(OutboundAlias::Use(1)));
        assert_eq!(aliases.alias_for(&t("b")), Some(OutboundAlias::Set(2)));
        assert_eq!(aliases.alias_for(&t("c")), Some(OutboundAlias::Set(1)));
        assert_eq!(aliases.alias_for(&t("a")), Some(OutboundAlias::Set(2)));
        assert_eq!(aliases.alias_for(&t("c")), Some(OutboundAlias::Use(1)));
        assert_eq!(OutboundAliases::new(0).alias_for(&t("a")), None);
    }
}
