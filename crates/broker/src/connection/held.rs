//! Packets held back until the store has made durable what they promise: the PUBACK or PUBREC of a
//! message queued for persistent sessions, the PUBCOMP that frees an inbound QoS 2 identifier, the PUBREL
//! and the QoS 2 PUBLISH whose packet identifier a restart must know, the SUBACK of a stored subscription.
//!
//! Held packets are kept in segments by the LSN they wait for; any packet sent while some are held goes
//! behind them, so the client sees packets in the order the broker made them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tern_codec::Packet;
use tokio::sync::watch;

use super::{encode_limited, Connection};
use crate::stats::Stats;
use crate::storage::Durable;

#[derive(Debug)]
pub(super) struct Held {
    durable: Option<watch::Receiver<u64>>,
    segments: VecDeque<(u64, BytesMut)>,
}

impl Held {
    pub(super) fn new(durable: Option<&Arc<Durable>>) -> Self {
        Held { durable: durable.map(|d| d.committer().watch()), segments: VecDeque::new() }
    }

    pub(super) fn is_waiting(&self) -> bool {
        !self.segments.is_empty()
    }

    /// The buffer a packet goes to while others are held.
    pub(super) fn tail(&mut self) -> Option<&mut BytesMut> {
        self.segments.back_mut().map(|(_, b)| b)
    }

    /// The buffer for a packet that must wait for `lsn`, or `None` if it may go now.
    fn hold(&mut self, lsn: u64) -> Option<&mut BytesMut> {
        let durable = self.durable.as_ref().map_or(u64::MAX, |rx| *rx.borrow());
        if lsn <= durable && self.segments.is_empty() {
            return None;
        }
        if self.segments.back().is_none_or(|(l, _)| *l < lsn) {
            self.segments.push_back((lsn, BytesMut::new()));
        }
        self.tail()
    }

    /// Resolves when the durable LSN moves.
    pub(super) async fn changed(&mut self) {
        let moved = match &mut self.durable {
            Some(rx) => rx.changed().await.is_ok(),
            None => false,
        };
        if !moved {
            std::future::pending::<()>().await;
        }
    }

    /// Moves the segments whose LSN is durable into `out`.
    fn release(&mut self, out: &mut BytesMut) {
        let Some(rx) = &mut self.durable else { return };
        let durable = *rx.borrow_and_update();
        while self.segments.front().is_some_and(|(lsn, _)| *lsn <= durable) {
            if let Some((_, buf)) = self.segments.pop_front() {
                out.extend_from_slice(&buf);
            }
        }
    }
}

impl Connection {
    /// Sends `packet` once `lsn` is durable (at once if it is).
    pub(super) fn send_packet_after(&mut self, lsn: Option<u64>, packet: &Packet) {
        let Some(lsn) = lsn else { return self.send_packet(packet) };
        let (version, max) = (self.version, self.client_max_packet);
        match self.held.hold(lsn) {
            Some(buf) => {
                if encode_limited(packet, version, max, buf) {
                    Stats::add(&self.broker.stats.messages_sent, 1);
                }
            }
            None => self.send_packet(packet),
        }
    }

    /// Moves held packets whose state is now durable to the write buffer.
    pub(super) fn release_held(&mut self) {
        if self.held.is_waiting() {
            self.held.release(&mut self.wbuf);
        }
    }

    /// Waits (at most `timeout`) for the held packets to be released, then drops what is left.
    pub(super) async fn flush_held(&mut self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.held.is_waiting() {
            self.release_held();
            if !self.held.is_waiting()
                || tokio::time::timeout_at(deadline, self.held.changed()).await.is_err()
            {
                break;
            }
        }
        self.held.segments.clear();
    }
}
