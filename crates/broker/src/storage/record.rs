//! Stored records in a small versioned binary format: every value starts with its format version byte.
//! A message is stored as the MQTT 5.0 PUBLISH packet it would be sent as (our own codec reads it back,
//! properties and all), behind the few fields a packet does not carry.
//!
//! Times are stored as wall-clock milliseconds since the Unix epoch and turned back into `Instant`s at
//! load, so a message expiry or a session expiry keeps running while the broker is down.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use tern_codec::{
    ByteString, LastWill, Limits, Packet, ProtocolVersion, Publish, QoS, RetainHandling, SubscriptionOptions,
};

use crate::message::Message;
use crate::session::Subscription;

/// Version byte of the records this build writes.
pub const RECORD_VERSION: u8 = 1;

/// A stored value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record truncated")]
    Truncated,
    #[error("record version {0} is unknown")]
    Version(u8),
    #[error("record field invalid: {0}")]
    Invalid(&'static str),
}

/// Milliseconds since the epoch of the moment `at`, seen from (`now`, `wall`).
pub fn wall_ms(at: Instant, now: Instant, wall: SystemTime) -> u64 {
    let t = if at >= now { wall + (at - now) } else { wall - (now - at) };
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0).max(1)
}

/// The `Instant` of a wall-clock time in milliseconds, seen from (`now`, `wall`).
pub fn instant_of(ms: u64, now: Instant, wall: SystemTime) -> Instant {
    let t = UNIX_EPOCH + Duration::from_millis(ms);
    match t.duration_since(wall) {
        Ok(ahead) => now + ahead,
        Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
    }
}

/// Appends fields.
#[derive(Debug, Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn new() -> Self {
        Writer(vec![RECORD_VERSION])
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A length-prefixed byte string (u32 length).
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
        self
    }
    pub fn opt_str(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(s) => self.u8(1).bytes(s.as_bytes()),
            None => self.u8(0),
        }
    }
}

/// Reads fields back.
#[derive(Debug)]
pub struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// Starts reading a record, checking its version.
    pub fn new(record: &'a [u8]) -> Result<Self, RecordError> {
        let (&version, rest) = record.split_first().ok_or(RecordError::Truncated)?;
        if version != RECORD_VERSION {
            return Err(RecordError::Version(version));
        }
        Ok(Reader(rest))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.0.len() < n {
            return Err(RecordError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, RecordError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> Result<u32, RecordError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self) -> Result<u64, RecordError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], RecordError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn str(&mut self) -> Result<ByteString, RecordError> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map(ByteString::from).map_err(|_| RecordError::Invalid("UTF-8 string"))
    }
    pub fn opt_str(&mut self) -> Result<Option<ByteString>, RecordError> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.str().map(Some),
        }
    }
    pub fn rest(self) -> &'a [u8] {
        self.0
    }
    pub fn end(self) -> Result<(), RecordError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(RecordError::Invalid("trailing bytes"))
        }
    }
}

fn qos_of(b: u8) -> Result<QoS, RecordError> {
    QoS::from_u8(b).ok_or(RecordError::Invalid("QoS"))
}

/// A PUBLISH packet as MQTT 5.0 bytes.
pub fn encode_publish(publish: Publish) -> Vec<u8> {
    let mut publish = publish;
    publish.packet_id = (publish.qos != QoS::AtMostOnce).then_some(std::num::NonZeroU16::MIN);
    let mut buf = BytesMut::new();
    // What the broker accepted always encodes: it was decoded (or built) under the same rules.
    if tern_codec::encode(&Packet::Publish(publish), ProtocolVersion::V5, &mut buf).is_err() {
        buf.clear();
    }
    buf.to_vec()
}

pub fn decode_publish(bytes: &[u8]) -> Result<Publish, RecordError> {
    let mut buf = BytesMut::from(bytes);
    let limits = Limits { version: ProtocolVersion::V5, max_packet_size: u32::MAX };
    match tern_codec::decode(&mut buf, &limits) {
        Ok(Some(Packet::Publish(p))) if buf.is_empty() => Ok(p),
        _ => Err(RecordError::Invalid("PUBLISH packet")),
    }
}

/// A message: expiry, publisher, then the PUBLISH packet.
pub fn encode_message(m: &Message, now: Instant, wall: SystemTime) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(m.expires_at.map_or(0, |t| wall_ms(t, now, wall)));
    w.opt_str(m.publisher.as_deref());
    w.0.extend(encode_publish(Publish {
        dup: false,
        qos: m.qos,
        retain: m.retain,
        topic: m.topic.clone(),
        packet_id: None,
        payload: m.payload.clone(),
        properties: m.properties.clone(),
    }));
    w.0
}

pub fn decode_message(record: &[u8], now: Instant, wall: SystemTime) -> Result<Message, RecordError> {
    let mut r = Reader::new(record)?;
    let expires = r.u64()?;
    let publisher = r.opt_str()?;
    let publish = decode_publish(r.rest())?;
    let topic = publish.topic.clone();
    let mut message = Message::from_publish(publish, topic, publisher, now);
    message.expires_at = (expires != 0).then(|| instant_of(expires, now, wall));
    Ok(message)
}

/// What start-up needs of a stored message without decoding it: when it expires (wall-clock ms, 0:
/// never) and its size for the queue limits (topic and payload bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSummary {
    pub expires: u64,
    pub size: usize,
}

pub fn message_summary(record: &[u8]) -> Result<MessageSummary, RecordError> {
    let mut r = Reader::new(record)?;
    let expires = r.u64()?;
    let _publisher = r.opt_str()?;
    let packet = r.rest();
    let (&first, rest) = packet.split_first().ok_or(RecordError::Truncated)?;
    let (len, n) = tern_codec::wire::decode_varint(rest)
        .ok()
        .flatten()
        .ok_or(RecordError::Invalid("PUBLISH remaining length"))?;
    let body = rest.get(n..).filter(|b| b.len() == len as usize).ok_or(RecordError::Truncated)?;
    let topic_len = usize::from(u16::from_be_bytes([
        *body.first().ok_or(RecordError::Truncated)?,
        *body.get(1).ok_or(RecordError::Truncated)?,
    ]));
    let mut at = 2 + topic_len + if (first >> 1) & 3 != 0 { 2 } else { 0 };
    let (props, m) = body
        .get(at..)
        .and_then(|b| tern_codec::wire::decode_varint(b).ok().flatten())
        .ok_or(RecordError::Invalid("PUBLISH properties"))?;
    at += m + props as usize;
    let payload = body.len().checked_sub(at).ok_or(RecordError::Truncated)?;
    Ok(MessageSummary { expires, size: topic_len + payload })
}

/// A will as the PUBLISH it becomes (its Message Expiry Interval starts when it is sent).
pub fn encode_will(will: &LastWill) -> Vec<u8> {
    let mut properties = will.properties.clone();
    properties.will_delay_interval = None;
    encode_publish(Publish {
        dup: false,
        qos: will.qos,
        retain: will.retain,
        topic: will.topic.clone(),
        packet_id: None,
        payload: will.payload.clone(),
        properties,
    })
}

pub fn decode_will(bytes: &[u8]) -> Result<LastWill, RecordError> {
    let p = decode_publish(bytes)?;
    Ok(LastWill {
        topic: p.topic,
        payload: p.payload,
        qos: p.qos,
        retain: p.retain,
        properties: p.properties,
    })
}

/// A session: its expiry, when it went offline, its subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub expiry_interval: u32,
    /// Wall-clock ms when the client disconnected; 0 while connected.
    pub disconnected_at: u64,
    pub subscriptions: Vec<(ByteString, Subscription)>,
}

impl SessionRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(self.expiry_interval).u64(self.disconnected_at).u32(self.subscriptions.len() as u32);
        for (filter, s) in &self.subscriptions {
            let o = s.options;
            let flags =
                u8::from(o.no_local) | u8::from(o.retain_as_published) << 1 | (o.retain_handling as u8) << 2;
            w.bytes(filter.as_bytes()).u8(o.qos.as_u8()).u8(flags).u32(s.id.unwrap_or(0));
        }
        w.0
    }

    pub fn decode(record: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader::new(record)?;
        let expiry_interval = r.u32()?;
        let disconnected_at = r.u64()?;
        let n = r.u32()? as usize;
        let mut subscriptions = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let filter = r.str()?;
            let qos = qos_of(r.u8()?)?;
            let flags = r.u8()?;
            let retain_handling = match (flags >> 2) & 3 {
                0 => RetainHandling::SendAtSubscribe,
                1 => RetainHandling::SendAtSubscribeIfNew,
                2 => RetainHandling::DoNotSend,
                _ => return Err(RecordError::Invalid("retain handling")),
            };
            let id = r.u32()?;
            let options = SubscriptionOptions {
                qos,
                no_local: flags & 1 != 0,
                retain_as_published: flags & 2 != 0,
                retain_handling,
            };
            subscriptions.push((filter, Subscription { options, id: (id != 0).then_some(id) }));
        }
        r.end()?;
        Ok(SessionRecord { expiry_interval, disconnected_at, subscriptions })
    }
}

/// One delivery in a session's queue, referring to its message by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    pub message_id: u64,
    pub qos: QoS,
    pub retain: bool,
    /// The packet identifier it was sent with (QoS 2 only: resent with the same one), 0 if not sent.
    pub packet_id: u16,
    pub shared: Option<ByteString>,
    pub subscription_ids: Vec<u32>,
}

impl QueueRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u64(self.message_id).u8(self.qos.as_u8()).u8(u8::from(self.retain)).u16(self.packet_id);
        w.opt_str(self.shared.as_deref()).u16(self.subscription_ids.len() as u16);
        for id in &self.subscription_ids {
            w.u32(*id);
        }
        w.0
    }

    pub fn decode(record: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader::new(record)?;
        let message_id = r.u64()?;
        let qos = qos_of(r.u8()?)?;
        let retain = r.u8()? != 0;
        let packet_id = r.u16()?;
        let shared = r.opt_str()?;
        let n = r.u16()?;
        let subscription_ids = (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?;
        r.end()?;
        Ok(QueueRecord { message_id, qos, retain, packet_id, shared, subscription_ids })
    }
}

/// A will waiting for its Will Delay Interval.
#[derive(Debug, Clone)]
pub struct WillRecord {
    /// Wall-clock ms when it is due.
    pub due: u64,
    /// Index of the listener the client came through (whose rules authorize it).
    pub listener: u32,
    pub username: Option<ByteString>,
    pub message: Vec<u8>,
}

impl WillRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u64(self.due).u32(self.listener).opt_str(self.username.as_deref()).bytes(&self.message);
        w.0
    }

    pub fn decode(record: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader::new(record)?;
        let due = r.u64()?;
        let listener = r.u32()?;
        let username = r.opt_str()?;
        let message = r.bytes()?.to_vec();
        r.end()?;
        Ok(WillRecord { due, listener, username, message })
    }
}

/// A record with nothing but its version (packet-id state).
pub fn marker() -> Vec<u8> {
    Writer::new().0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_message_round_trips_with_properties_and_expiry() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut p = Publish::new("home/temp", "23.5");
        p.qos = QoS::ExactlyOnce;
        p.retain = true;
        p.properties.content_type = Some("text/plain".into());
        p.properties.user_properties.push(("k".into(), "v".into()));
        p.properties.message_expiry_interval = Some(60);
        let m = Message::from_publish(p, "home/temp".into(), Some("sensor-1".into()), now);
        let back = decode_message(&encode_message(&m, now, wall), now, wall).expect("decode");
        assert_eq!((back.topic, back.payload, back.qos, back.retain), (m.topic, m.payload, m.qos, m.retain));
        assert_eq!(back.properties, m.properties);
        assert_eq!(back.publisher, m.publisher);
        let left = back.expires_at.expect("expiry").duration_since(now);
        assert!(left > Duration::from_millis(59_900) && left <= Duration::from_secs(60), "{left:?}");
    }

    #[test]
    fn a_summary_gives_the_size_and_expiry_without_decoding() {
        let now = Instant::now();
        let wall = SystemTime::now();
        for qos in [QoS::AtMostOnce, QoS::ExactlyOnce] {
            let mut p = Publish::new("a/b", vec![7u8; 300]);
            p.qos = qos;
            p.properties.user_properties.push(("k".into(), "v".into()));
            p.properties.message_expiry_interval = Some(10);
            let m = Message::from_publish(p, "a/b".into(), Some("c".into()), now);
            let summary = message_summary(&encode_message(&m, now, wall)).expect("summary");
            assert_eq!(summary.size, m.size());
            assert_eq!(summary.expires, wall_ms(m.expires_at.expect("expiry"), now, wall));
        }
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let s = SessionRecord { expiry_interval: 5, disconnected_at: 0, subscriptions: vec![] }.encode();
        assert_eq!(SessionRecord::decode(&s[..s.len() - 1]), Err(RecordError::Truncated));
        let mut v = s.clone();
        v[0] = 99;
        assert_eq!(SessionRecord::decode(&v), Err(RecordError::Version(99)));
        let now = Instant::now();
        assert!(decode_message(&[RECORD_VERSION, 0, 0], now, SystemTime::now()).is_err());
    }

    fn subscription() -> impl Strategy<Value = (ByteString, Subscription)> {
        ("[a-z/+#]{1,12}", 0u8..3, any::<bool>(), any::<bool>(), 0u8..3, any::<u32>()).prop_map(
            |(f, q, nl, rap, rh, id)| {
                let retain_handling = [
                    RetainHandling::SendAtSubscribe,
                    RetainHandling::SendAtSubscribeIfNew,
                    RetainHandling::DoNotSend,
                ][rh as usize];
                let options = SubscriptionOptions {
                    qos: QoS::from_u8(q).unwrap_or(QoS::AtMostOnce),
                    no_local: nl,
                    retain_as_published: rap,
                    retain_handling,
                };
                (ByteString::from(f), Subscription { options, id: (id != 0).then_some(id) })
            },
        )
    }

    proptest! {
        #[test]
        fn session_records_round_trip(expiry: u32, at: u64, subs in proptest::collection::vec(subscription(), 0..8)) {
            let r = SessionRecord { expiry_interval: expiry, disconnected_at: at, subscriptions: subs };
            prop_assert_eq!(SessionRecord::decode(&r.encode()), Ok(r));
        }

        #[test]
        fn queue_records_round_trip(mid: u64, q in 1u8..3, retain: bool, pid: u16, shared in proptest::option::of("[a-z]{1,8}"), ids in proptest::collection::vec(1u32..1000, 0..4)) {
            let r = QueueRecord {
                message_id: mid, qos: QoS::from_u8(q).unwrap_or(QoS::AtLeastOnce), retain, packet_id: pid,
                shared: shared.map(ByteString::from), subscription_ids: ids,
            };
            prop_assert_eq!(QueueRecord::decode(&r.encode()), Ok(r));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = SessionRecord::decode(&bytes);
            let _ = QueueRecord::decode(&bytes);
            let _ = message_summary(&bytes);
            let _ = WillRecord::decode(&bytes);
            let _ = decode_message(&bytes, Instant::now(), SystemTime::now());
        }
    }
}
