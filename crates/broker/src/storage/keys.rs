//! The key layout. One byte says what a record is; client ids end with a 0 byte (MQTT strings never contain
//! U+0000 [MQTT-1.5.4-2]) so that one session's keys are a prefix of their own; numbers are big-endian so
//! that key order is numeric order (a queue scans in the order it was written).
//!
//! | key                       | value                                      |
//! |---------------------------|--------------------------------------------|
//! | `v`                       | format version                             |
//! | `s` client-id             | session: expiry, subscriptions             |
//! | `q` client-id 0 seq       | queued or inflight delivery (→ `m`)        |
//! | `o` client-id 0 packet-id | outbound QoS 2 past PUBREC, awaiting PUBCOMP |
//! | `i` client-id 0 packet-id | inbound QoS 2 received, awaiting PUBREL    |
//! | `w` client-id             | will waiting for its delay                 |
//! | `m` message-id            | a message, stored once for all its queues  |
//! | `r` topic                 | the retained message of a topic            |

pub const VERSION: &[u8] = b"v";
pub const SESSION: u8 = b's';
pub const QUEUE: u8 = b'q';
pub const OUTBOUND_QOS2: u8 = b'o';
pub const INBOUND_QOS2: u8 = b'i';
pub const WILL: u8 = b'w';
pub const MESSAGE: u8 = b'm';
pub const RETAINED: u8 = b'r';

fn with_tag(tag: u8, rest: &[u8], extra: usize) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len() + extra);
    k.push(tag);
    k.extend_from_slice(rest);
    k
}

pub fn session(client_id: &str) -> Vec<u8> {
    with_tag(SESSION, client_id.as_bytes(), 0)
}

pub fn will(client_id: &str) -> Vec<u8> {
    with_tag(WILL, client_id.as_bytes(), 0)
}

/// The prefix of every `tag` record of one client.
pub fn client_prefix(tag: u8, client_id: &str) -> Vec<u8> {
    let mut k = with_tag(tag, client_id.as_bytes(), 9);
    k.push(0);
    k
}

pub fn queue(client_id: &str, seq: u64) -> Vec<u8> {
    let mut k = client_prefix(QUEUE, client_id);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub fn packet_id(tag: u8, client_id: &str, packet_id: u16) -> Vec<u8> {
    let mut k = client_prefix(tag, client_id);
    k.extend_from_slice(&packet_id.to_be_bytes());
    k
}

pub fn message(id: u64) -> Vec<u8> {
    with_tag(MESSAGE, &id.to_be_bytes(), 0)
}

pub fn retained(topic: &str) -> Vec<u8> {
    with_tag(RETAINED, topic.as_bytes(), 0)
}

/// Splits a per-client key (`q`, `o`, `i`) into client id and the number after it.
pub fn split_client_key(key: &[u8]) -> Option<(&str, &[u8])> {
    let body = key.get(1..)?;
    let nul = body.iter().position(|&b| b == 0)?;
    let client_id = std::str::from_utf8(&body[..nul]).ok()?;
    Some((client_id, &body[nul + 1..]))
}

pub fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

pub fn be_u16(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_clients_keys_do_not_prefix_anothers() {
        // "a" must not see the queue of "ab".
        assert!(!queue("ab", 1).starts_with(&client_prefix(QUEUE, "a")));
        assert!(queue("a", 1).starts_with(&client_prefix(QUEUE, "a")));
    }

    #[test]
    fn queue_keys_sort_by_sequence_and_split_back() {
        assert!(queue("c", 255) < queue("c", 256));
        let key = queue("c", 258);
        let (cid, rest) = split_client_key(&key).expect("split");
        assert_eq!((cid, be_u64(rest)), ("c", Some(258)));
        let key = packet_id(INBOUND_QOS2, "c", 7);
        assert_eq!(split_client_key(&key).and_then(|(_, r)| be_u16(r)), Some(7));
    }
}
