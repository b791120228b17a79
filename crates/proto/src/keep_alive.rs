//! Keep-alive: a peer silent for one and a half times the keep-alive interval is gone [MQTT-3.1.2-22]
//! (3.1.1: [MQTT-3.1.2-24]); a client that has sent nothing for the interval sends PINGREQ [MQTT-3.1.2-23].
//!
//! A client also watches the server: a PINGREQ still unanswered (nothing at all received) an interval after it
//! was sent means the server or the network is gone, and the client closes the connection (3.1.2.10: "within a
//! reasonable amount of time"). It judges the server by its answer to a ping, not by silence, because a server
//! has nothing to send to a client that only publishes at QoS 0.

use std::time::{Duration, Instant};

/// Keep-alive timing of one connection. A zero interval turns the mechanism off [MQTT-3.1.2-10].
#[derive(Debug, Clone, Copy)]
pub struct KeepAlive {
    interval: Option<Duration>,
    last_received: Instant,
    last_sent: Instant,
    /// When the client sent a PINGREQ that nothing has answered yet.
    ping_sent: Option<Instant>,
}

impl KeepAlive {
    pub fn new(seconds: u16, now: Instant) -> Self {
        let interval = (seconds > 0).then(|| Duration::from_secs(u64::from(seconds)));
        KeepAlive { interval, last_received: now, last_sent: now, ping_sent: None }
    }

    /// The interval, if keep-alive is on.
    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// Any packet received resets the peer's silence, and answers an outstanding PINGREQ.
    pub fn received(&mut self, now: Instant) {
        self.last_received = now;
        self.ping_sent = None;
    }

    /// Any packet sent resets our own silence.
    pub fn sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// When the peer counts as gone unless something arrives first: 1.5 x the interval after the last packet.
    pub fn deadline(&self) -> Option<Instant> {
        self.interval.map(|i| self.last_received + i + i / 2)
    }

    /// Whether the peer has been silent too long.
    pub fn expired(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }

    /// When a client should send PINGREQ if it sends nothing else before; `None` while one is unanswered.
    pub fn next_ping(&self) -> Option<Instant> {
        match self.ping_sent {
            Some(_) => None,
            None => self.interval.map(|i| self.last_sent + i),
        }
    }

    /// A client sent PINGREQ.
    pub fn ping_sent(&mut self, now: Instant) {
        self.last_sent = now;
        self.ping_sent.get_or_insert(now);
    }

    /// When a client gives the server up unless something arrives first: an interval after its unanswered
    /// PINGREQ.
    pub fn pingresp_deadline(&self) -> Option<Instant> {
        self.ping_sent.zip(self.interval).map(|(sent, i)| sent + i)
    }

    /// Whether a client's PINGREQ has gone unanswered too long.
    pub fn pingresp_overdue(&self, now: Instant) -> bool {
        self.pingresp_deadline().is_some_and(|d| now >= d)
    }

    /// Whether a client should send PINGREQ now.
    pub fn ping_due(&self, now: Instant) -> bool {
        self.next_ping().is_some_and(|t| now >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_peer_expires_after_one_and_a_half_intervals_mqtt_3_1_2_22() {
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(10, t0);
        assert!(!ka.expired(t0 + Duration::from_millis(14_999)));
        assert!(ka.expired(t0 + Duration::from_secs(15)));
        ka.received(t0 + Duration::from_secs(10));
        assert!(!ka.expired(t0 + Duration::from_secs(24)));
        assert!(ka.expired(t0 + Duration::from_secs(25)));
    }

    #[test]
    fn zero_keep_alive_never_expires_mqtt_3_1_2_10() {
        let t0 = Instant::now();
        let ka = KeepAlive::new(0, t0);
        assert_eq!(ka.deadline(), None);
        assert!(!ka.expired(t0 + Duration::from_secs(1_000_000)));
        assert!(!ka.ping_due(t0 + Duration::from_secs(1_000_000)));
    }

    #[test]
    fn ping_is_due_after_an_interval_without_sending() {
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(5, t0);
        assert!(!ka.ping_due(t0 + Duration::from_secs(4)));
        ka.sent(t0 + Duration::from_secs(4));
        assert!(!ka.ping_due(t0 + Duration::from_secs(8)));
        assert!(ka.ping_due(t0 + Duration::from_secs(9)));
    }

    #[test]
    fn unanswered_ping_gives_the_server_up_after_an_interval() {
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(5, t0);
        let ping = t0 + Duration::from_secs(5);
        assert!(ka.ping_due(ping));
        ka.ping_sent(ping);
        // No second PINGREQ while the first is unanswered.
        assert_eq!(ka.next_ping(), None);
        assert!(!ka.ping_due(ping + Duration::from_secs(100)));
        assert_eq!(ka.pingresp_deadline(), Some(ping + Duration::from_secs(5)));
        assert!(!ka.pingresp_overdue(ping + Duration::from_millis(4_999)));
        assert!(ka.pingresp_overdue(ping + Duration::from_secs(5)));
    }

    #[test]
    fn any_packet_answers_the_ping() {
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(5, t0);
        ka.ping_sent(t0 + Duration::from_secs(5));
        ka.received(t0 + Duration::from_secs(6));
        assert_eq!(ka.pingresp_deadline(), None);
        assert!(!ka.pingresp_overdue(t0 + Duration::from_secs(60)));
        assert_eq!(ka.next_ping(), Some(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn a_client_sending_only_qos0_is_not_given_up_for_server_silence() {
        // Only a ping measures the server; its silence while the client sends does not.
        let t0 = Instant::now();
        let mut ka = KeepAlive::new(5, t0);
        for s in 1..100 {
            ka.sent(t0 + Duration::from_secs(s));
        }
        assert!(!ka.pingresp_overdue(t0 + Duration::from_secs(100)));
        assert_eq!(ka.next_ping(), Some(t0 + Duration::from_secs(104)));
    }
}
