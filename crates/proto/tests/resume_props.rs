//! Any interleaving of sends, packet deliveries, disconnects and resumes, in memory: every message is
//! acknowledged exactly once, a QoS 2 message is delivered exactly once and a QoS 1 message at least once,
//! first deliveries keep the send order, and no packet identifier in flight is reused (the pair checks that
//! and the window on every packet).

mod support;

use proptest::prelude::*;
use support::Pair;
use tern_codec::QoS;

#[derive(Debug, Clone)]
enum Op {
    Publish(QoS),
    ReceiverTakes,
    SenderTakes,
    /// The connection drops; a new one resumes the session with this window.
    Reconnect(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop_oneof![Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)].prop_map(Op::Publish),
        4 => Just(Op::ReceiverTakes),
        4 => Just(Op::SenderTakes),
        1 => (1u16..=4).prop_map(Op::Reconnect),
    ]
}

proptest! {
    #[test]
    fn every_message_is_acknowledged_exactly_once_whatever_the_interleaving(
        window in 1u16..=4,
        ops in prop::collection::vec(op(), 0..80),
        last_window in 1u16..=4,
    ) {
        let mut pair = Pair::new(window);
        for op in ops {
            match op {
                Op::Publish(qos) => {
                    pair.publish(qos);
                }
                Op::ReceiverTakes => {
                    pair.receiver_takes_one();
                }
                Op::SenderTakes => {
                    pair.sender_takes_one();
                }
                Op::Reconnect(window) => {
                    pair.reconnect(window);
                }
            }
        }
        pair.reconnect(last_window);
        pair.run();

        prop_assert!(pair.sender.is_empty());
        prop_assert_eq!(pair.receiver.pending_qos2().count(), 0);
        let mut completed = pair.completed.clone();
        completed.sort_unstable();
        prop_assert_eq!(completed, pair.sent_messages(), "each message acknowledged exactly once");
        for (message, qos) in &pair.sent {
            let times = pair.delivered.iter().filter(|m| *m == message).count();
            match qos {
                QoS::ExactlyOnce => prop_assert_eq!(times, 1, "[MQTT-4.3.3] QoS 2 message {} delivered once", message),
                _ => prop_assert!(times >= 1, "[MQTT-4.3.2] QoS 1 message {} delivered", message),
            }
        }
        prop_assert_eq!(pair.first_deliveries(), pair.sent_messages(), "[MQTT-4.6.0-1] order kept");
    }
}
