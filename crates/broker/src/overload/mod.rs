//! Overload protection: what the broker does when clients ask for more than it should give, so that one
//! client's flood or a storm of new connections never takes the service from everybody else.
//!
//! - the connection accept rate ([`ConnectionGate`]): new sockets beyond it are closed at once;
//! - per-client publish and byte rates ([`RateLimit`], kept by each connection): beyond them the client is
//!   disconnected (v5: 0x96 Message rate too high, 0x97 Quota exceeded);
//! - the memory high-water mark ([`MemoryWatch`]): above it new connections are refused and QoS 0 messages
//!   from clients are dropped first, until resident memory falls below 90% of the mark.
//!
//! The global and per-listener connection limits live with the listeners; subscription, topic level and
//! client id limits are checked where those packets are handled. Every limit has a counter in
//! [`Stats`](crate::stats::Stats).

pub mod memory;
mod rate;

pub use memory::{resident_memory, MemoryWatch};
pub use rate::{RateLimit, TokenBucket};

use std::time::Instant;

use parking_lot::Mutex;

use crate::config::LimitsConfig;

/// Admission of new network connections: the accept rate and the memory mark.
#[derive(Debug)]
pub struct ConnectionGate {
    rate: Option<Mutex<TokenBucket>>,
}

impl ConnectionGate {
    pub fn new(limits: &LimitsConfig) -> Self {
        let rate = (limits.max_connection_rate > 0).then(|| {
            let r = f64::from(limits.max_connection_rate);
            Mutex::new(TokenBucket::new(r, r, Instant::now()))
        });
        ConnectionGate { rate }
    }

    /// Whether one more connection fits in the accept rate now. Called by accept loops only, so the lock
    /// is never contended by message traffic.
    pub fn admit(&self, now: Instant) -> bool {
        match &self.rate {
            None => true,
            Some(bucket) => bucket.lock().take(1.0, now),
        }
    }
}

/// Which limit a client broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateExceeded {
    Messages,
    Bytes,
}
