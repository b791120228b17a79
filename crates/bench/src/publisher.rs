//! A publisher: sends numbered, timestamped messages at a rate (or as fast as the broker takes them) until
//! its count or the duration is reached, then waits for its outstanding acknowledgements.
//!
//! ```text
//!  QoS 1:  PUBLISH(id) ──► PUBACK(id)                       acknowledged = accepted by the broker
//!  QoS 2:  PUBLISH(id) ──► PUBREC(id) ──PUBREL(id)──► PUBCOMP(id)
//!                            └ acknowledged here; the window slot is freed at PUBCOMP
//! ```
//! Messages are encoded straight into the write buffer (header by the codec, then the payload header and
//! filler), many per write. The packet identifier of sequence `s` is `s % 65535 + 1`; at most `inflight`
//! (and always fewer than 65535) are outstanding, so an identifier names one sequence number unambiguously.

use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_codec::{Ack, ByteString, Bytes, Packet, Publish, QoS};
use tokio::sync::watch;

use crate::client::{ClientError, Conn};
use crate::metrics::{add, Metrics};
use crate::payload::{clock_ns, Header};
use crate::seqset::SeqSet;

/// Stop adding messages to the write buffer above this many bytes.
const WRITE_HIGH_WATER: usize = 64 * 1024;
const ID_SPACE: u64 = 65_535;

/// What one publisher sends.
#[derive(Debug, Clone)]
pub struct PublisherSpec {
    pub id: u32,
    /// Topics used in turn, starting at `offset`.
    pub topics: Arc<[ByteString]>,
    pub offset: usize,
    pub retain: bool,
}

/// How every publisher of a run behaves.
#[derive(Debug, Clone)]
pub struct Load {
    pub qos: QoS,
    pub payload_size: usize,
    /// Messages per second; 0 is as fast as possible.
    pub rate: f64,
    pub duration: Duration,
    pub max_messages: u64,
    pub inflight: u16,
    pub drain_timeout: Duration,
}

/// What a publisher did.
#[derive(Debug, Clone, Default)]
pub struct PublisherResult {
    pub id: u32,
    pub sent: u64,
    /// Sequence numbers the broker accepted (PUBACK / PUBREC without error); for QoS 0, all sent.
    pub accepted: SeqSet,
    /// Acknowledged with an error reason code.
    pub rejected: u64,
    /// Still unacknowledged when the drain timeout ran out.
    pub unacknowledged: u64,
    /// When publishing stopped, since the start signal.
    pub publishing_time: Duration,
    pub error: Option<String>,
}

/// Publishes from the moment `start` carries the start instant. The connection is left open.
pub async fn run(
    conn: &mut Conn,
    spec: PublisherSpec,
    load: Load,
    mut start: watch::Receiver<Option<Instant>>,
    metrics: Arc<Metrics>,
) -> PublisherResult {
    let mut state = State::new(&spec, &load, conn);
    let started = loop {
        if let Some(at) = *start.borrow_and_update() {
            break Some(at);
        }
        if start.changed().await.is_err() {
            break None;
        }
    };
    let outcome = match started {
        Some(at) => state.publish(conn, at, &metrics).await,
        None => Ok(()),
    };
    let mut result = state.result;
    if let Err(e) = outcome {
        metrics.error(format!("publisher {}: {e}", spec.id));
        result.error = Some(e.to_string());
    }
    if load.qos == QoS::AtMostOnce {
        result.accepted = SeqSet::range(result.sent);
    }
    result
}

struct State<'a> {
    spec: &'a PublisherSpec,
    load: &'a Load,
    template: Publish,
    window: u64,
    next_seq: u64,
    /// Lowest sequence number not yet settled.
    lowest_open: u64,
    /// Sequence numbers whose flow is over (acknowledged, completed or rejected).
    settled: SeqSet,
    outstanding: u64,
    result: PublisherResult,
}

impl<'a> State<'a> {
    fn new(spec: &'a PublisherSpec, load: &'a Load, conn: &Conn) -> State<'a> {
        let server_window = conn.connack.properties.receive_maximum.unwrap_or(u16::MAX);
        let window = u64::from(load.inflight.min(server_window)).min(ID_SPACE - 1);
        let template = Publish {
            qos: load.qos,
            retain: spec.retain,
            // Only its length matters: encode_header writes the header, the payload is written after it.
            payload: Bytes::from(vec![0u8; load.payload_size]),
            ..Publish::default()
        };
        State {
            spec,
            load,
            template,
            window,
            next_seq: 0,
            lowest_open: 0,
            settled: SeqSet::default(),
            outstanding: 0,
            result: PublisherResult { id: spec.id, ..PublisherResult::default() },
        }
    }

    async fn publish(
        &mut self,
        conn: &mut Conn,
        start: Instant,
        metrics: &Metrics,
    ) -> Result<(), ClientError> {
        let end = start + self.load.duration;
        let mut drain_deadline = None;
        loop {
            let now = Instant::now();
            let publishing = drain_deadline.is_none();
            if publishing {
                if now >= end || self.next_seq >= self.load.max_messages {
                    self.result.publishing_time = now.duration_since(start);
                    drain_deadline = Some(now + self.load.drain_timeout);
                } else {
                    let n = self.enqueue(conn, start, now)?;
                    add(&metrics.published, n);
                }
            }
            let wake = match drain_deadline {
                Some(deadline) => {
                    if self.outstanding == 0 && conn.wbuf.is_empty() {
                        return Ok(());
                    }
                    if now >= deadline {
                        self.result.unacknowledged = self.outstanding;
                        return Ok(());
                    }
                    deadline
                }
                None => self.next_due(conn, start, now).min(end),
            };
            tokio::select! {
                biased;
                progress = conn.pump() => {
                    if progress?.read > 0 {
                        let acked = self.handle_acks(conn)?;
                        add(&metrics.acked, acked);
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    /// When the next message is due: now when more can be sent at full speed, never when the window or the
    /// write buffer is full (an acknowledgement or a write wakes us then).
    fn next_due(&self, conn: &Conn, start: Instant, now: Instant) -> Instant {
        let blocked = conn_blocked(self.outstanding, self.window, self.load.qos)
            || conn.wbuf.len() >= WRITE_HIGH_WATER
            || !self.ids_free();
        if blocked || self.load.rate <= 0.0 {
            // At full speed the buffer was just filled: a write or an acknowledgement wakes us.
            return now + Duration::from_secs(3600);
        }
        start + Duration::from_secs_f64(self.next_seq as f64 / self.load.rate)
    }

    /// Adds the messages that are due to the write buffer; returns how many.
    fn enqueue(&mut self, conn: &mut Conn, start: Instant, now: Instant) -> Result<u64, ClientError> {
        let due = if self.load.rate > 0.0 {
            (now.duration_since(start).as_secs_f64() * self.load.rate) as u64 + 1
        } else {
            u64::MAX
        };
        let limit = due.min(self.load.max_messages);
        let sent_ns = clock_ns();
        let mut n = 0;
        while self.next_seq < limit
            && conn.wbuf.len() < WRITE_HIGH_WATER
            && !conn_blocked(self.outstanding, self.window, self.load.qos)
            && self.ids_free()
        {
            let seq = self.next_seq;
            let topics = &self.spec.topics;
            self.template.topic = topics[(self.spec.offset + seq as usize) % topics.len()].clone();
            self.template.packet_id = (self.load.qos != QoS::AtMostOnce).then(|| packet_id(seq));
            self.template.encode_header(conn.version, &mut conn.wbuf)?;
            Header { sent_ns, publisher: self.spec.id, sequence: seq }
                .put(self.load.payload_size, &mut conn.wbuf);
            self.next_seq += 1;
            if self.load.qos != QoS::AtMostOnce {
                self.outstanding += 1;
            }
            n += 1;
        }
        self.result.sent = self.next_seq;
        Ok(n)
    }

    /// Whether the next sequence number's packet identifier is free: QoS 0 uses none; otherwise fewer than
    /// 65535 sequence numbers may be open at once, even if acknowledgements come out of order.
    fn ids_free(&self) -> bool {
        self.load.qos == QoS::AtMostOnce || self.next_seq - self.lowest_open < ID_SPACE - 1
    }

    /// The sequence number an acknowledgement's identifier stands for, if it is outstanding.
    fn sequence_of(&self, id: NonZeroU16) -> Option<u64> {
        sequence_for(id, self.lowest_open, self.next_seq).filter(|&seq| !self.settled.contains(seq))
    }

    fn settle(&mut self, seq: u64) {
        self.settled.insert(seq);
        self.outstanding = self.outstanding.saturating_sub(1);
        while self.settled.contains(self.lowest_open) {
            self.lowest_open += 1;
        }
    }

    /// Handles every buffered acknowledgement; returns how many messages were newly accepted.
    fn handle_acks(&mut self, conn: &mut Conn) -> Result<u64, ClientError> {
        let mut accepted = 0;
        while let Some(packet) = conn.decode()? {
            match packet {
                Packet::PubAck(ack) if self.load.qos == QoS::AtLeastOnce => {
                    let seq = self
                        .sequence_of(ack.packet_id)
                        .ok_or(ClientError::Unexpected(tern_codec::PacketType::PubAck))?;
                    if ack.reason_code.is_error() {
                        self.result.rejected += 1;
                    } else {
                        self.result.accepted.insert(seq);
                        accepted += 1;
                    }
                    self.settle(seq);
                }
                Packet::PubRec(ack) if self.load.qos == QoS::ExactlyOnce => {
                    let seq = self
                        .sequence_of(ack.packet_id)
                        .ok_or(ClientError::Unexpected(tern_codec::PacketType::PubRec))?;
                    if ack.reason_code.is_error() {
                        // [MQTT-4.3.3] A PUBREC with an error ends the flow: no PUBREL.
                        self.result.rejected += 1;
                        self.settle(seq);
                    } else {
                        if self.result.accepted.insert(seq) {
                            accepted += 1;
                        }
                        conn.send(&Packet::PubRel(Ack::new(ack.packet_id)))?;
                    }
                }
                Packet::PubComp(ack) if self.load.qos == QoS::ExactlyOnce => {
                    let seq = self
                        .sequence_of(ack.packet_id)
                        .ok_or(ClientError::Unexpected(tern_codec::PacketType::PubComp))?;
                    self.settle(seq);
                }
                Packet::PingResp => {}
                Packet::Disconnect(d) => return Err(ClientError::Disconnected(d.reason_code)),
                other => return Err(ClientError::Unexpected(other.packet_type())),
            }
        }
        Ok(accepted)
    }
}

fn conn_blocked(outstanding: u64, window: u64, qos: QoS) -> bool {
    qos != QoS::AtMostOnce && outstanding >= window
}

/// The sequence number in `lowest_open..next_seq` whose packet identifier is `id`: unique because fewer
/// than 65535 sequence numbers are ever open.
fn sequence_for(id: NonZeroU16, lowest_open: u64, next_seq: u64) -> Option<u64> {
    let residue = u64::from(id.get() - 1);
    let seq = lowest_open + (residue + ID_SPACE - lowest_open % ID_SPACE) % ID_SPACE;
    (seq < next_seq).then_some(seq)
}

fn packet_id(seq: u64) -> NonZeroU16 {
    // seq % 65535 + 1 is in 1..=65535.
    NonZeroU16::new((seq % ID_SPACE + 1) as u16).unwrap_or(NonZeroU16::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_ids_cycle_through_every_nonzero_value() {
        assert_eq!(packet_id(0).get(), 1);
        assert_eq!(packet_id(65_534).get(), 65_535);
        assert_eq!(packet_id(65_535).get(), 1);
    }

    #[test]
    fn acknowledged_identifier_maps_back_to_its_open_sequence() {
        for (lowest, next) in [(0u64, 20u64), (65_530, 65_560), (1_000_000, 1_000_100)] {
            for seq in lowest..next {
                assert_eq!(sequence_for(packet_id(seq), lowest, next), Some(seq));
            }
        }
        // An identifier of no open sequence number is not acknowledged.
        assert_eq!(sequence_for(packet_id(25), 0, 20), None);
    }

    #[test]
    fn window_blocks_only_acknowledged_qos() {
        assert!(!conn_blocked(100, 20, QoS::AtMostOnce));
        assert!(conn_blocked(20, 20, QoS::AtLeastOnce));
        assert!(!conn_blocked(19, 20, QoS::ExactlyOnce));
    }
}
