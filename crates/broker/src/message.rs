//! An application message inside the broker: built once when a PUBLISH (or a will) arrives and shared as
//! `Arc<Message>` by every subscriber queue, the retained store and inflight windows. Its payload is the
//! `Bytes` slice of the frame it was read from: never copied per subscriber.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tern_codec::{ByteString, Bytes, Properties, Publish, QoS};

/// A message on its way through the broker.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: ByteString,
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// The RETAIN flag it was published with.
    pub retain: bool,
    /// Properties forwarded to subscribers (MQTT 5.0): payload format, content type, response topic,
    /// correlation data, user properties. Never the topic alias or subscription identifiers of the publisher.
    pub properties: Properties,
    /// When the Message Expiry Interval runs out.
    pub expires_at: Option<Instant>,
    /// Client id of the publisher, for No Local; `None` for messages the broker makes itself.
    pub publisher: Option<ByteString>,
    /// When the broker received it (publish latency is measured from here).
    pub received_at: Instant,
    /// Its id in the store, once a persistent session's queue holds it (stored once for all queues).
    pub stored: OnceLock<u64>,
}

impl Message {
    /// The message a PUBLISH carries, received at `now`. `topic` is the resolved topic (after aliases and
    /// mount points).
    pub fn from_publish(
        publish: Publish,
        topic: ByteString,
        publisher: Option<ByteString>,
        now: Instant,
    ) -> Self {
        let mut properties = publish.properties;
        properties.topic_alias = None;
        properties.subscription_identifiers.clear();
        let expires_at =
            properties.message_expiry_interval.take().map(|secs| now + Duration::from_secs(u64::from(secs)));
        Message {
            topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties,
            expires_at,
            publisher,
            received_at: now,
            stored: OnceLock::new(),
        }
    }

    /// Whether the message expired before `now` [MQTT-3.3.2-5].
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }

    /// The Message Expiry Interval to forward: what is left of it [MQTT-3.3.2-6].
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        self.expires_at.map(|t| {
            let left = t.saturating_duration_since(now);
            // Round up so a message with time left is never forwarded with 0 (which means "no expiry").
            u32::try_from(left.as_secs() + u64::from(left.subsec_nanos() > 0)).unwrap_or(u32::MAX).max(1)
        })
    }

    /// Bytes the message holds, for queue limits.
    pub fn size(&self) -> usize {
        self.topic.len() + self.payload.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_reduced_by_time_in_the_broker_mqtt_3_3_2_6() {
        let now = Instant::now();
        let mut publish = Publish::new("a", "x");
        publish.properties.message_expiry_interval = Some(10);
        let message = Message::from_publish(publish, "a".into(), None, now);
        assert_eq!(message.remaining_expiry(now), Some(10));
        assert_eq!(message.remaining_expiry(now + Duration::from_millis(3500)), Some(7));
        assert!(!message.is_expired(now + Duration::from_millis(9999)));
        assert!(message.is_expired(now + Duration::from_secs(10)));
        assert!(message.properties.message_expiry_interval.is_none());
    }
}
