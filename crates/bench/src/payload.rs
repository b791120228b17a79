//! The payload every benchmark message carries: when it was sent, by which publisher, and its sequence
//! number, so that a subscriber measures latency and counts lost and duplicated messages exactly.
//!
//! ```text
//!  0        8           12          20                 size
//!  | sent ns | publisher | sequence  | filler (zeros)   |
//! ```
//! Integers are little-endian. The send time is nanoseconds on this process's monotonic clock, so latency
//! is only measured between a publisher and a subscriber of the same `tern bench` run.

use std::sync::OnceLock;
use std::time::Instant;

use bytes::BufMut;

/// Smallest payload that holds the header.
pub const HEADER_LEN: usize = 20;

/// The header of a benchmark message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Send time, nanoseconds since [`clock_ns`]'s origin.
    pub sent_ns: u64,
    pub publisher: u32,
    pub sequence: u64,
}

impl Header {
    /// Appends the header and `size - HEADER_LEN` filler bytes: no allocation beyond `buf`'s growth.
    pub fn put(&self, size: usize, buf: &mut impl BufMut) {
        buf.put_u64_le(self.sent_ns);
        buf.put_u32_le(self.publisher);
        buf.put_u64_le(self.sequence);
        buf.put_bytes(0, size.saturating_sub(HEADER_LEN));
    }

    /// Reads the header of a payload; `None` if the payload is too short to be one of ours.
    pub fn parse(payload: &[u8]) -> Option<Header> {
        let sent_ns = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
        let publisher = u32::from_le_bytes(payload.get(8..12)?.try_into().ok()?);
        let sequence = u64::from_le_bytes(payload.get(12..20)?.try_into().ok()?);
        Some(Header { sent_ns, publisher, sequence })
    }
}

/// Nanoseconds on a monotonic clock shared by every task of this process.
pub fn clock_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_through_a_payload_of_the_requested_size() {
        let header = Header { sent_ns: 123_456_789, publisher: 42, sequence: 1 << 40 };
        let mut buf = Vec::new();
        header.put(64, &mut buf);
        assert_eq!(buf.len(), 64);
        assert_eq!(Header::parse(&buf), Some(header));
    }

    #[test]
    fn short_payload_is_not_a_benchmark_message() {
        assert_eq!(Header::parse(&[0; HEADER_LEN - 1]), None);
    }

    #[test]
    fn clock_never_goes_backwards() {
        let a = clock_ns();
        let b = clock_ns();
        assert!(b >= a);
    }
}
