//! A subscriber: receives benchmark messages, acknowledges them per their QoS, measures latency from the
//! send time in each payload and records every (publisher, sequence) it sees.
//!
//! ```text
//!  QoS 1:  PUBLISH(id) ──► PUBACK(id)
//!  QoS 2:  PUBLISH(id) ──► PUBREC(id) ──PUBREL(id)──► PUBCOMP(id)
//! ```
//! Every PUBLISH that arrives is counted, even a QoS 2 retransmission: on one connection that is never
//! interrupted, a correct broker sends each message once, so any repeat is a duplicate.

use std::sync::Arc;

use tern_codec::{Ack, Packet, QoS};
use tokio::sync::watch;

use crate::client::{ClientError, Conn};
use crate::metrics::{add, Metrics};
use crate::payload::{clock_ns, Header};
use crate::seqset::SeqSet;

/// What a subscriber saw.
#[derive(Debug, Clone, Default)]
pub struct SubscriberResult {
    pub id: usize,
    /// Every benchmark PUBLISH received, repeats included.
    pub received: u64,
    /// Sequence numbers seen, by publisher id.
    pub seen: Vec<SeqSet>,
    /// Messages that are not benchmark messages of the expected size.
    pub malformed: u64,
    /// Messages received with the RETAIN flag set.
    pub retained: u64,
    pub error: Option<String>,
}

/// Receives until `stop` turns true.
pub async fn run(
    mut conn: Conn,
    id: usize,
    payload_size: usize,
    mut stop: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) -> SubscriberResult {
    let mut result = SubscriberResult { id, ..SubscriberResult::default() };
    let outcome = receive(&mut conn, payload_size, &mut stop, &metrics, &mut result).await;
    if let Err(e) = outcome {
        metrics.error(format!("subscriber {id}: {e}"));
        result.error = Some(e.to_string());
    }
    conn.close().await;
    result
}

async fn receive(
    conn: &mut Conn,
    payload_size: usize,
    stop: &mut watch::Receiver<bool>,
    metrics: &Metrics,
    result: &mut SubscriberResult,
) -> Result<(), ClientError> {
    let mut latencies = Vec::with_capacity(1024);
    loop {
        if *stop.borrow_and_update() {
            return Ok(());
        }
        tokio::select! {
            biased;
            changed = stop.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            progress = conn.pump() => {
                if progress?.read == 0 {
                    continue;
                }
                let before = result.received;
                handle(conn, payload_size, result, &mut latencies)?;
                add(&metrics.received, result.received - before);
                if result.received > before {
                    metrics.last_receive_ns.fetch_max(clock_ns(), std::sync::atomic::Ordering::Relaxed);
                }
                metrics.record_latencies(result.id, &mut latencies);
            }
        }
    }
}

/// Handles every buffered packet, queueing acknowledgements.
fn handle(
    conn: &mut Conn,
    payload_size: usize,
    result: &mut SubscriberResult,
    latencies: &mut Vec<u64>,
) -> Result<(), ClientError> {
    let now = clock_ns();
    while let Some(packet) = conn.decode()? {
        match packet {
            Packet::Publish(publish) => {
                match (Header::parse(&publish.payload), publish.payload.len() == payload_size) {
                    (Some(h), true) => {
                        result.received += 1;
                        latencies.push(now.saturating_sub(h.sent_ns));
                        let p = h.publisher as usize;
                        if p >= result.seen.len() {
                            result.seen.resize_with(p + 1, SeqSet::default);
                        }
                        result.seen[p].insert(h.sequence);
                    }
                    _ => result.malformed += 1,
                }
                if publish.retain {
                    result.retained += 1;
                }
                match (publish.qos, publish.packet_id) {
                    (QoS::AtLeastOnce, Some(id)) => conn.send(&Packet::PubAck(Ack::new(id)))?,
                    (QoS::ExactlyOnce, Some(id)) => conn.send(&Packet::PubRec(Ack::new(id)))?,
                    _ => {}
                }
            }
            Packet::PubRel(ack) => conn.send(&Packet::PubComp(Ack::new(ack.packet_id)))?,
            Packet::SubAck(ack) => {
                if let Some(code) = ack.reason_codes.iter().find(|c| c.is_error()) {
                    return Err(ClientError::SubscribeRefused {
                        filter: format!("(packet {})", ack.packet_id),
                        code: *code,
                    });
                }
            }
            Packet::PingResp | Packet::UnsubAck(_) => {}
            Packet::Disconnect(d) => return Err(ClientError::Disconnected(d.reason_code)),
            other => return Err(ClientError::Unexpected(other.packet_type())),
        }
    }
    Ok(())
}

/// Receives on `conn` until `count` benchmark messages arrived (or the future is dropped): used where one
/// connection's receipt is what is timed (retained messages).
pub async fn receive_count(
    conn: &mut Conn,
    payload_size: usize,
    count: u64,
    result: &mut SubscriberResult,
) -> Result<(), ClientError> {
    let mut latencies = Vec::new();
    while result.received + result.malformed < count {
        if conn.pump().await?.read > 0 {
            handle(conn, payload_size, result, &mut latencies)?;
            latencies.clear();
        }
    }
    conn.flush().await
}
