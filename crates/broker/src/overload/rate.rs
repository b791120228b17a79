//! Token buckets: a rate with a burst allowance, refilled continuously from the time passed in.

use std::time::Instant;

use super::RateExceeded;

/// Tokens refill at `rate` per second up to `burst`; taking more than there are fails.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        TokenBucket { rate, burst, tokens: burst, last: now }
    }

    /// Takes `n` tokens if there are that many at `now`.
    pub fn take(&mut self, n: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

/// One client's publish limits: messages and payload bytes per second, each with a one-second burst.
#[derive(Debug, Clone)]
pub struct RateLimit {
    messages: Option<TokenBucket>,
    bytes: Option<TokenBucket>,
}

impl RateLimit {
    /// `None` when neither limit is set, so unlimited clients pay nothing.
    pub fn new(messages_per_sec: u32, bytes_per_sec: u64, now: Instant) -> Option<Self> {
        let messages = (messages_per_sec > 0).then(|| {
            let r = f64::from(messages_per_sec);
            TokenBucket::new(r, r, now)
        });
        let bytes = (bytes_per_sec > 0).then(|| {
            let r = bytes_per_sec as f64;
            TokenBucket::new(r, r, now)
        });
        (messages.is_some() || bytes.is_some()).then_some(RateLimit { messages, bytes })
    }

    /// Counts one PUBLISH of `payload` bytes.
    pub fn admit(&mut self, payload: usize, now: Instant) -> Result<(), RateExceeded> {
        if let Some(m) = &mut self.messages {
            if !m.take(1.0, now) {
                return Err(RateExceeded::Messages);
            }
        }
        if let Some(b) = &mut self.bytes {
            if !b.take(payload as f64, now) {
                return Err(RateExceeded::Bytes);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 10.0, t0);
        assert!((0..10).all(|_| b.take(1.0, t0)));
        assert!(!b.take(1.0, t0));
        assert!(b.take(1.0, t0 + Duration::from_millis(100)));
        assert!(!b.take(1.0, t0 + Duration::from_millis(100)));
        // Refill stops at the burst.
        let later = t0 + Duration::from_secs(60);
        assert!((0..10).all(|_| b.take(1.0, later)));
        assert!(!b.take(1.0, later));
    }

    #[test]
    fn no_limits_means_no_rate_limit() {
        assert!(RateLimit::new(0, 0, Instant::now()).is_none());
    }

    #[test]
    fn message_and_byte_rates_are_told_apart() {
        let t0 = Instant::now();
        let mut by_count = RateLimit::new(2, 0, t0).unwrap();
        assert_eq!(by_count.admit(1_000_000, t0), Ok(()));
        assert_eq!(by_count.admit(1_000_000, t0), Ok(()));
        assert_eq!(by_count.admit(1, t0), Err(RateExceeded::Messages));
        let mut by_bytes = RateLimit::new(0, 100, t0).unwrap();
        assert_eq!(by_bytes.admit(60, t0), Ok(()));
        assert_eq!(by_bytes.admit(60, t0), Err(RateExceeded::Bytes));
        assert_eq!(by_bytes.admit(60, t0 + Duration::from_millis(200)), Ok(()));
    }
}
