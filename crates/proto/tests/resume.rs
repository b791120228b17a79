//! Resuming a session on a new connection, in memory: QoS 2 exchanges cut at every step, QoS 1 redelivery
//! order, a smaller window on the new connection, and packet identifier exhaustion across a resume.

#![allow(clippy::unwrap_used)]

mod support;

use std::num::NonZeroU16;

use support::{Pair, Wire};
use tern_codec::QoS;
use tern_proto::{Outbound, Resend};

fn id(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v).unwrap()
}

/// [MQTT-4.4.0-1] [MQTT-4.3.3-10] A QoS 2 exchange cut after each of its steps resumes with the PUBLISH
/// (DUP 1) until the sender has the PUBREC, with PUBREL after; either way the message is delivered exactly
/// once and the exchange completes once.
#[test]
fn qos2_exchange_interrupted_at_every_step_completes_exactly_once_mqtt_4_4_0_1() {
    let m = 1;
    let p = id(1);
    let cases: [(&str, usize, Vec<Wire>); 5] = [
        (
            "PUBLISH sent, not received",
            0,
            vec![Wire::Publish { id: p, qos: QoS::ExactlyOnce, message: m, dup: true }],
        ),
        (
            "PUBLISH received, PUBREC lost",
            1,
            vec![Wire::Publish { id: p, qos: QoS::ExactlyOnce, message: m, dup: true }],
        ),
        ("PUBREC received, PUBREL lost", 2, vec![Wire::PubRel(p)]),
        ("PUBREL received, PUBCOMP lost", 3, vec![Wire::PubRel(p)]),
        ("PUBCOMP received", 4, vec![]),
    ];
    for (step, hops, expected) in cases {
        let mut pair = Pair::new(10);
        assert_eq!(pair.publish(QoS::ExactlyOnce), Some(p));
        for hop in 0..hops {
            let moved = if hop % 2 == 0 { pair.receiver_takes_one() } else { pair.sender_takes_one() };
            assert!(moved, "{step}: hop {hop}");
        }
        assert_eq!(pair.reconnect(10), expected, "{step}: what is sent again");
        pair.run();
        assert_eq!(pair.delivered, vec![m], "{step}: delivered exactly once");
        assert_eq!(pair.completed, vec![m], "{step}: completed once");
        assert!(pair.sender.is_empty(), "{step}: sender done");
        assert_eq!(pair.receiver.pending_qos2().count(), 0, "{step}: receiver done");
    }
}

/// [MQTT-4.3.3-10] The receiver keeps a QoS 2 identifier awaiting PUBREL across reconnects: the PUBLISH sent
/// again after a lost PUBREC is acknowledged, not delivered a second time, however often the link drops.
#[test]
fn qos2_publish_sent_again_over_several_reconnects_is_delivered_once_mqtt_4_3_3_10() {
    let mut pair = Pair::new(4);
    pair.publish(QoS::ExactlyOnce);
    for _ in 0..3 {
        assert!(pair.receiver_takes_one()); // PUBLISH arrives, PUBREC is lost
        pair.reconnect(4);
    }
    pair.run();
    assert_eq!(pair.delivered, vec![1]);
    assert_eq!(pair.completed, vec![1]);
}

/// [MQTT-4.6.0-1] Unacknowledged QoS 1 messages are sent again in their original order, with their original
/// identifiers and DUP 1, whichever were acknowledged in between; new messages come after them.
#[test]
fn qos1_redelivery_keeps_the_original_order_and_ids_mqtt_4_6_0_1() {
    let mut pair = Pair::new(10);
    let ids: Vec<_> = (0..5).map(|_| pair.publish(QoS::AtLeastOnce).unwrap()).collect();
    // All five arrive; only the acknowledgements of the 2nd and 4th get back.
    for _ in 0..5 {
        pair.receiver_takes_one();
    }
    pair.to_sender.retain(|w| matches!(w, Wire::PubAck(i) if *i == ids[1] || *i == ids[3]));
    pair.run();
    let again = pair.reconnect(10);
    let publish =
        |n: usize| Wire::Publish { id: ids[n], qos: QoS::AtLeastOnce, message: n as u32 + 1, dup: true };
    assert_eq!(again, vec![publish(0), publish(2), publish(4)]);
    assert!(pair.publish(QoS::AtLeastOnce).is_some());
    pair.run();
    assert_eq!(pair.first_deliveries(), pair.sent_messages());
    let mut completed = pair.completed.clone();
    completed.sort_unstable();
    assert_eq!(completed, vec![1, 2, 3, 4, 5, 6], "each acknowledged exactly once");
}

/// [MQTT-3.3.4-9] A session taken over by a connection with a smaller Receive Maximum gets only as many
/// messages again as that allows; the rest follow, in order, as acknowledgements free room, and a new
/// message waits behind them [MQTT-4.6.0-1].
#[test]
fn takeover_with_a_smaller_receive_maximum_resends_within_it_mqtt_3_3_4_9() {
    let mut pair = Pair::new(6);
    let ids: Vec<_> = (0..6)
        .map(|n| pair.publish(if n % 2 == 0 { QoS::AtLeastOnce } else { QoS::ExactlyOnce }).unwrap())
        .collect();
    let again = pair.reconnect(2);
    assert_eq!(again.len(), 2);
    assert_eq!(pair.sender.unsent(), 4);
    assert!(pair.sender.is_full());
    assert_eq!(pair.publish(QoS::AtLeastOnce), None, "nothing new before the older ones are sent again");
    // The first acknowledgement lets exactly one more go.
    assert!(pair.receiver_takes_one());
    assert!(pair.sender_takes_one());
    assert_eq!(pair.sender.unsent(), 3);
    pair.run();
    assert!(pair.sender.is_empty());
    assert_eq!(pair.first_deliveries(), pair.sent_messages());
    assert_eq!(pair.completed.len(), ids.len());
    assert!(pair.publish(QoS::AtLeastOnce).is_some());
}

/// A resumed window that exceeds the new one stays exceeded until enough complete: a new message starts only
/// when open exchanges are below the window, not merely when all were sent again.
#[test]
fn new_messages_wait_until_the_open_exchanges_fit_the_smaller_window() {
    let mut out = Outbound::new(3);
    for n in 0..3 {
        out.send(QoS::AtLeastOnce, n).unwrap();
    }
    out.set_window(1);
    let first: Vec<_> = out.resume().collect();
    assert_eq!(first.len(), 1);
    out.on_puback(first[0].packet_id()).unwrap();
    let second = out.poll_resend().unwrap();
    out.on_puback(second.packet_id()).unwrap();
    let third = out.poll_resend().unwrap();
    assert_eq!(out.unsent(), 0);
    assert!(out.is_full(), "the third is still open");
    out.on_puback(third.packet_id()).unwrap();
    assert_eq!(out.room(), 1);
}

/// [MQTT-2.2.1-3] With all 65535 identifiers in flight across a resume, a new message is refused, never given
/// an identifier in use; the first one freed is the next one used.
#[test]
fn packet_id_exhaustion_survives_resume_and_never_reuses_an_open_id_mqtt_2_2_1_3() {
    let mut out = Outbound::new(u16::MAX);
    for n in 0..u32::from(u16::MAX) {
        out.send(QoS::AtLeastOnce, n).unwrap();
    }
    assert_eq!(out.send(QoS::AtLeastOnce, 0), Err(0));
    let resent: Vec<_> = out.resume().collect();
    assert_eq!(resent.len(), usize::from(u16::MAX));
    assert!(resent.iter().zip(1..=u16::MAX).all(|(r, n)| r.packet_id() == id(n)), "original ids, in order");
    assert_eq!(out.send(QoS::AtLeastOnce, 0), Err(0), "still exhausted after resume");
    assert_eq!(out.reserve_id(), None);
    assert_eq!(out.on_puback(id(40_000)), Ok(Some(39_999)));
    assert_eq!(out.send(QoS::AtLeastOnce, 7), Ok(id(40_000)));
    assert_eq!(out.send(QoS::AtLeastOnce, 8), Err(8));
    assert!(matches!(resent.last(), Some(Resend::Publish { message: 65_534, .. })));
}
