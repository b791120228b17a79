//! Limits over real sockets: connections, packet sizes in both directions, inflight windows and Receive
//! Maximum in both directions, queued messages of slow subscribers, message size, Maximum QoS and Retain
//! Available (MQTT 5.0 sections 3.1.2.11, 3.2.2.3, 3.3.4, 4.9; Mosquitto's limits for 3.x).

use std::time::{Duration, Instant};

use tern_broker::config::Config;
use tern_broker::stats::Stats;
use tern_codec::{Ack, Connect, LastWill, Packet, ProtocolVersion, Publish, QoS, ReasonCode};
use tern_test_support::raw::{connect_packet, publish_packet};
use tern_test_support::{pid, Event, RawClient, TestBroker, TIMEOUT};

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const QUIET: Duration = Duration::from_millis(300);

fn config(edit: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::default();
    edit(&mut config);
    config
}

// --- connections -------------------------------------------------------------------------------------------

/// `max_connections`: beyond the limit a new connection is refused (5.0: CONNACK 0x97 Quota exceeded; 3.1.1:
/// return code 3, server unavailable) and closed; once a client leaves, its place is free again.
#[tokio::test]
async fn connections_beyond_max_connections_are_closed() {
    let broker = TestBroker::start(config(|c| c.limits.max_connections = Some(2))).await;
    let first = RawClient::connect_ok(broker.addr(), V311, "first").await;
    let mut second = RawClient::connect_ok(broker.addr(), V5, "second").await;
    let (mut third, refused) = RawClient::connect(broker.addr(), connect_packet(V311, "third")).await;
    assert_eq!(refused.reason_code.to_v3_connack(), 3);
    third.expect_closed(TIMEOUT).await;
    let (mut fourth, refused) = RawClient::connect(broker.addr(), connect_packet(V5, "fourth")).await;
    assert_eq!(refused.reason_code, ReasonCode::QUOTA_EXCEEDED);
    fourth.expect_closed(TIMEOUT).await;
    second.ping().await;
    first.disconnect().await;
    // The first connection's permit is returned when its task ends, just after the close.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut again = RawClient::tcp(broker.addr(), V311).await;
        again.send(Packet::Connect(Box::new(connect_packet(V311, "again")))).await;
        match again.recv(TIMEOUT).await {
            Event::Packet(Packet::ConnAck(ack)) => {
                assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
                break;
            }
            Event::Closed if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("expected the freed place to be usable, got {other:?}"),
        }
    }
}

// --- packet size -----------------------------------------------------------------------------------------

/// 5.0 (3.2.2.3.6) The broker's Maximum Packet Size is in CONNACK; a 5.0 client sending a larger packet gets
/// DISCONNECT 0x95 Packet too large, a 3.1.1 client a close; its will is published and everybody else
/// carries on.
#[tokio::test]
async fn inbound_packet_over_max_packet_size_disconnects_the_sender() {
    let broker = TestBroker::start(config(|c| c.limits.max_packet_size = 1024)).await;
    let mut bystander = RawClient::connect_ok(broker.addr(), V5, "bystander").await;
    bystander.subscribe("big/#", QoS::AtMostOnce).await;
    for version in [V311, V5] {
        let connect = Connect {
            will: Some(LastWill {
                topic: "big/will".into(),
                payload: "too big".into(),
                qos: QoS::AtMostOnce,
                retain: false,
                properties: Default::default(),
            }),
            ..connect_packet(version, "big")
        };
        let (mut client, ack) = RawClient::connect_accepted(broker.addr(), connect).await;
        if version.is_v5() {
            assert_eq!(ack.properties.maximum_packet_size, Some(1024));
        }
        client.publish_qos0("big/t", vec![b'x'; 1020]).await; // 1 + 2 + 7 + 1020 + (5.0: 1) > 1024
        client.expect_disconnect(ReasonCode::PACKET_TOO_LARGE).await;
        assert_eq!(bystander.expect_publish().await.payload, "too big", "{version:?}");
    }
    let mut small = RawClient::connect_ok(broker.addr(), V311, "small").await;
    small.publish_qos0("big/t", vec![b'x'; 1000]).await;
    assert_eq!(bystander.expect_publish().await.payload.len(), 1000);
}

/// A subscriber asking for packets of at most 100 bytes, and one without a limit, on `mps/t`.
async fn size_limited_subscribers(
    broker: &TestBroker,
    qos: QoS,
    topic_alias_maximum: u16,
) -> (RawClient, RawClient) {
    let mut connect = connect_packet(V5, "limited");
    connect.properties.maximum_packet_size = Some(100);
    connect.properties.topic_alias_maximum = Some(topic_alias_maximum);
    let (mut limited, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    limited.subscribe("mps/t", qos).await;
    let mut unlimited = RawClient::connect_ok(broker.addr(), V5, "unlimited").await;
    unlimited.subscribe("mps/t", qos).await;
    (limited, unlimited)
}

/// The payload that makes a 5.0 PUBLISH to `mps/t` exactly `size` bytes at `qos` with no properties:
/// fixed header 2, topic 2 + 5, packet id 2 (QoS 1 and 2), properties length 1.
fn payload_for_packet_size(size: usize, qos: QoS) -> Vec<u8> {
    let overhead = 2 + 7 + 1 + if qos == QoS::AtMostOnce { 0 } else { 2 };
    vec![b'p'; size - overhead]
}

/// [MQTT-3.1.2-24], [MQTT-3.1.2-25] (5.0) The broker never sends a client a packet larger than the client's
/// Maximum Packet Size: such a message is dropped for that client only, at the exact boundary, for every
/// QoS; other subscribers get it and the client gets the next message that fits.
#[tokio::test]
async fn outbound_message_over_client_maximum_packet_size_is_dropped_for_that_client_only() {
    let broker = TestBroker::start_default().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "mps-pub").await;
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let (mut limited, mut unlimited) = size_limited_subscribers(&broker, qos, 0).await;
        let fits = payload_for_packet_size(100, qos);
        let too_big = payload_for_packet_size(101, qos);
        for payload in [fits.clone(), too_big.clone(), b"after".to_vec()] {
            publisher.publish_at("mps/t", payload, qos).await;
        }
        for expected in [&fits, &too_big, &b"after".to_vec()] {
            assert_eq!(&unlimited.receive_and_ack().await.payload.to_vec(), expected);
        }
        let got = limited.receive_and_ack().await;
        assert_eq!(got.payload.len(), fits.len(), "the 100-byte packet is sent ({qos:?})");
        let got = limited.receive_and_ack().await;
        assert_eq!(got.payload, "after", "the 101-byte packet is dropped ({qos:?})");
        limited.disconnect().await;
        unlimited.disconnect().await;
    }
}

/// [MQTT-3.1.2-24] (5.0) With topic aliases, the alias property counts towards the client's Maximum Packet
/// Size: a message that fits only without it is sent without it, and the alias the client knows stays
/// valid.
#[tokio::test]
async fn outbound_topic_alias_never_pushes_a_packet_over_maximum_packet_size() {
    let broker = TestBroker::start_default().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "alias-pub").await;
    let (mut limited, _unlimited) = size_limited_subscribers(&broker, QoS::AtLeastOnce, 5).await;
    let exact = payload_for_packet_size(100, QoS::AtLeastOnce);
    for payload in [exact.clone(), b"small".to_vec(), exact.clone(), b"small again".to_vec()] {
        publisher.publish_at("mps/t", payload, QoS::AtLeastOnce).await;
    }
    let mut alias_known = false;
    for _ in 0..4 {
        let got = limited.receive_and_ack().await;
        let size = Packet::Publish(got.clone()).encoded_len(V5);
        assert!(size <= 100, "{size}-byte packet sent to a client accepting 100");
        if got.topic.is_empty() {
            assert!(alias_known, "alias used before it was set");
        } else if got.properties.topic_alias.is_some() {
            alias_known = true;
        }
    }
}

/// [MQTT-3.1.2-25] (5.0) A message left unacknowledged is not redelivered to a resumed session whose new
/// connection asks for smaller packets than the message needs; the session carries on.
#[tokio::test]
async fn redelivery_respects_the_new_maximum_packet_size() {
    let broker = TestBroker::start_default().await;
    let persistent = |max: Option<u32>| {
        let mut connect = connect_packet(V5, "shrinking");
        connect.clean_start = false;
        connect.properties.session_expiry_interval = Some(300);
        connect.properties.maximum_packet_size = max;
        connect
    };
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), persistent(None)).await;
    sub.subscribe("shrink/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "shrink-pub").await;
    publisher.publish_at("shrink/t", vec![b'x'; 300], QoS::AtLeastOnce).await;
    assert_eq!(sub.expect_publish().await.payload.len(), 300);
    sub.drop_connection();

    let (mut sub, ack) = RawClient::connect_accepted(broker.addr(), persistent(Some(100))).await;
    assert!(ack.session_present);
    sub.expect_nothing(QUIET).await;
    publisher.publish_at("shrink/t", "fits", QoS::AtLeastOnce).await;
    assert_eq!(sub.receive_and_ack().await.payload, "fits");
}

// --- inflight windows and Receive Maximum --------------------------------------------------------------------

/// [MQTT-3.3.4-9] (5.0) The broker sends a client no more unacknowledged QoS 1 and 2 messages than the
/// client's Receive Maximum; each acknowledgement lets the next one go. QoS 0 is not counted.
#[tokio::test]
async fn client_receive_maximum_bounds_unacknowledged_deliveries_mqtt_3_3_4_9() {
    let broker = TestBroker::start_default().await;
    let mut connect = connect_packet(V5, "rm2");
    connect.properties.receive_maximum = Some(2);
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    sub.subscribe("rm/t", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "rm-pub").await;
    for i in 0..5 {
        let qos = if i % 2 == 0 { QoS::AtLeastOnce } else { QoS::ExactlyOnce };
        publisher.publish_at("rm/t", format!("m{i}"), qos).await;
    }
    let a = sub.expect_publish().await;
    let b = sub.expect_publish().await;
    assert_eq!((a.payload.as_ref(), b.payload.as_ref()), (&b"m0"[..], &b"m1"[..]));
    sub.expect_nothing(QUIET).await;
    sub.ack(&a).await;
    assert_eq!(sub.expect_publish().await.payload, "m2");
    sub.expect_nothing(QUIET).await;
    // A QoS 2 message counts until PUBCOMP, not PUBREC.
    sub.send(Packet::PubRec(Ack::new(b.packet_id.expect("id")))).await;
    assert_eq!(sub.expect_pubrel().await.packet_id, b.packet_id.expect("id"));
    sub.expect_nothing(QUIET).await;
    sub.send(Packet::PubComp(Ack::new(b.packet_id.expect("id")))).await;
    assert_eq!(sub.expect_publish().await.payload, "m3");
}

/// `max_inflight_messages` bounds the unacknowledged messages sent to 3.1.1 clients too.
#[tokio::test]
async fn max_inflight_messages_bounds_unacknowledged_deliveries_to_v3_clients() {
    let broker = TestBroker::start(config(|c| c.limits.max_inflight_messages = 3)).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "inflight3").await;
    sub.subscribe("if/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "if-pub").await;
    for i in 0..5 {
        publisher.publish_at("if/t", format!("m{i}"), QoS::AtLeastOnce).await;
    }
    let mut held = Vec::new();
    for i in 0..3 {
        let got = sub.expect_publish().await;
        assert_eq!(got.payload, format!("m{i}"));
        held.push(got);
    }
    sub.expect_nothing(QUIET).await;
    sub.ack(&held[1]).await;
    assert_eq!(sub.expect_publish().await.payload, "m3");
    sub.expect_nothing(QUIET).await;
}

/// 5.0 (3.2.2.3.3, 4.9) The broker's Receive Maximum is in CONNACK; a client exceeding it with unfinished
/// QoS 2 messages gets DISCONNECT 0x93 Receive Maximum exceeded.
#[tokio::test]
async fn v5_client_exceeding_the_broker_receive_maximum_is_disconnected() {
    let broker = TestBroker::start(config(|c| c.limits.max_inflight_messages = 2)).await;
    let (mut client, ack) = RawClient::connect_accepted(broker.addr(), connect_packet(V5, "greedy")).await;
    assert_eq!(ack.properties.receive_maximum, Some(2));
    for i in 1..=2u16 {
        let mut publish = publish_packet("greedy/t", "x", QoS::ExactlyOnce);
        publish.packet_id = Some(pid(i));
        client.send(Packet::Publish(publish)).await;
        assert_eq!(client.expect_pubrec().await.packet_id, pid(i));
    }
    let mut third = publish_packet("greedy/t", "x", QoS::ExactlyOnce);
    third.packet_id = Some(pid(3));
    client.send(Packet::Publish(third)).await;
    client.expect_disconnect(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED).await;
}

// --- slow subscribers -------------------------------------------------------------------------------------

/// One message in flight and five queued per client: a subscriber that does not ack is soon congested.
async fn small_queues_broker() -> TestBroker {
    TestBroker::start(config(|c| {
        c.limits.max_inflight_messages = 1;
        c.limits.max_queued_messages = 5;
    }))
    .await
}

/// A slow subscriber never makes the broker hold more than twice `max_queued_messages` for it: once its
/// queue is full, QoS 0 messages for it are dropped and counted, QoS 1/2 messages are held above the limit;
/// what was queued and held is delivered, in order, when it catches up. The other subscriber gets
/// everything at once, and the publisher never waits for the slow one.
#[tokio::test]
async fn slow_subscriber_queue_is_bounded_and_does_not_affect_others() {
    let broker = small_queues_broker().await;
    let mut slow = RawClient::connect_ok(broker.addr(), V311, "slow").await;
    slow.subscribe("slow/t", QoS::AtLeastOnce).await;
    let mut fast = RawClient::connect_ok(broker.addr(), V5, "fast").await;
    fast.subscribe("slow/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "slow-pub").await;

    let mut sent = Vec::new();
    let mut publish = |payload: String, qos: QoS| {
        sent.push(payload.clone());
        publish_packet("slow/t", payload, qos)
    };
    let mut batch = vec![publish("inflight".into(), QoS::AtLeastOnce)];
    batch.extend((0..5).map(|i| publish(format!("queued {i}"), QoS::AtLeastOnce)));
    batch.extend((0..10).map(|i| publish(format!("qos0 {i}"), QoS::AtMostOnce)));
    batch.extend((0..3).map(|i| publish(format!("over {i}"), QoS::AtLeastOnce)));
    // The fast subscriber keeps up (it has the same limits); every PUBACK comes back to the publisher.
    for (message, payload) in batch.into_iter().zip(&sent) {
        publisher.publish(message).await;
        assert_eq!(&fast.receive_and_ack().await.payload, payload);
    }

    let session = broker.shared().sessions.get("slow").expect("slow session");
    assert_eq!(session.queued(), 8, "5 queued and 3 held above the limit");
    assert_eq!(session.dropped(), 10, "the QoS 0 messages");
    assert!(Stats::get(&broker.shared().stats.publish_dropped) >= 10);
    assert_eq!(Stats::get(&broker.shared().stats.flow_control_waits), 0, "the publisher was never held back");

    let first = slow.expect_publish().await;
    assert_eq!(first.payload, "inflight");
    slow.expect_nothing(QUIET).await;
    slow.ack(&first).await;
    for i in 0..5 {
        assert_eq!(slow.receive_and_ack().await.payload, format!("queued {i}"));
    }
    for i in 0..3 {
        assert_eq!(slow.receive_and_ack().await.payload, format!("over {i}"));
    }
    slow.expect_nothing(QUIET).await;
}

/// Fan-in flow control: when the only subscriber of a publisher's messages is above its queue limit, the
/// publisher's further packets are not read until the subscriber drains, so a fast publisher cannot bury a
/// slow subscriber: all 60 pipelined QoS 1 messages arrive, in order, though the queue holds at most 10.
#[tokio::test]
async fn a_publisher_whose_only_subscriber_is_congested_waits_and_nothing_is_lost() {
    let broker = small_queues_broker().await;
    let mut slow = RawClient::connect_ok(broker.addr(), V311, "fanin-sub").await;
    slow.subscribe("fanin/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "fanin-pub").await;
    for i in 1..=60u16 {
        let mut publish = publish_packet("fanin/t", format!("m{i}"), QoS::AtLeastOnce);
        publish.packet_id = Some(pid(i));
        publisher.send(Packet::Publish(publish)).await;
    }
    for i in 1..=60 {
        assert_eq!(slow.receive_and_ack().await.payload, format!("m{i}"));
    }
    for i in 1..=60u16 {
        assert_eq!(publisher.expect_puback().await.packet_id, pid(i));
    }
    let session = broker.shared().sessions.get("fanin-sub").expect("subscriber session");
    assert_eq!(session.dropped(), 0);
    assert!(Stats::get(&broker.shared().stats.flow_control_waits) > 0, "the publisher was held back");
}

/// A subscriber that stops reading its socket altogether: the broker's writes to it back up, its queue
/// stays within `max_queued_messages` (QoS 0 overflow dropped and counted), and the publisher and another
/// subscriber carry on at full speed.
#[tokio::test]
async fn stalled_subscriber_does_not_hold_up_others_or_grow_memory() {
    let broker = TestBroker::start(config(|c| c.limits.max_queued_messages = 100)).await;
    let mut stalled = RawClient::tcp_small_buffer(broker.addr(), V311, 4096).await;
    stalled.send(Packet::Connect(Box::new(connect_packet(V311, "stalled")))).await;
    stalled.expect_connack().await;
    stalled.subscribe("flood/t", QoS::AtMostOnce).await;
    let mut fast = RawClient::connect_ok(broker.addr(), V311, "flood-fast").await;
    fast.subscribe("flood/t", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "flood-pub").await;
    let payload = vec![b'f'; 4096];
    for round in 0..10 {
        for _ in 0..200 {
            publisher.publish_qos0("flood/t", payload.clone()).await;
        }
        publisher.ping().await;
        for _ in 0..200 {
            assert_eq!(fast.expect_publish().await.payload.len(), 4096, "round {round}");
        }
    }
    let session = broker.shared().sessions.get("stalled").expect("stalled session");
    assert!(session.queued() <= 100, "queue of {} messages", session.queued());
    assert!(session.dropped() > 0, "a stalled subscriber loses QoS 0 messages");
    drop(stalled);
}

// --- message size, Maximum QoS, Retain Available -------------------------------------------------------

/// `message_size_limit`: a larger payload is not delivered; a 5.0 publisher is told 0x97 Quota exceeded,
/// a 3.1.1 publisher gets a normal PUBACK (it has no way to be told), as Mosquitto does.
#[tokio::test]
async fn payload_over_message_size_limit_is_refused() {
    let broker = TestBroker::start(config(|c| c.limits.message_size_limit = 10)).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "msl-sub").await;
    sub.subscribe("msl/t", QoS::AtMostOnce).await;
    let mut v5 = RawClient::connect_ok(broker.addr(), V5, "msl5").await;
    let ack = v5.publish_at("msl/t", "eleven byte", QoS::AtLeastOnce).await.expect("PUBACK");
    assert_eq!(ack.reason_code, ReasonCode::QUOTA_EXCEEDED);
    let mut v311 = RawClient::connect_ok(broker.addr(), V311, "msl311").await;
    v311.publish_at("msl/t", "eleven byte", QoS::AtLeastOnce).await;
    v311.publish_at("msl/t", "ten bytes!", QoS::AtLeastOnce).await;
    assert_eq!(sub.expect_publish().await.payload, "ten bytes!");
    sub.expect_nothing(QUIET).await;
}

/// [MQTT-3.2.2-11] (5.0) With `max_qos 1` CONNACK says Maximum QoS 1, and a QoS 2 PUBLISH is answered
/// with DISCONNECT 0x9B QoS not supported.
#[tokio::test]
async fn v5_publish_above_maximum_qos_is_disconnected_mqtt_3_2_2_11() {
    let broker = TestBroker::start(config(|c| c.limits.max_qos = 1)).await;
    let (mut client, ack) = RawClient::connect_accepted(broker.addr(), connect_packet(V5, "qos2")).await;
    assert_eq!(ack.properties.maximum_qos, Some(QoS::AtLeastOnce));
    client.publish_at("mq/t", "ok", QoS::AtLeastOnce).await;
    let mut publish = publish_packet("mq/t", "too much", QoS::ExactlyOnce);
    publish.packet_id = Some(pid(100));
    client.send(Packet::Publish(publish)).await;
    client.expect_disconnect(ReasonCode::QOS_NOT_SUPPORTED).await;
}

/// [MQTT-3.2.2-14] (5.0) With retain unavailable CONNACK says Retain Available 0 and a retained PUBLISH is
/// answered with DISCONNECT 0x9A Retain not supported.
#[tokio::test]
async fn v5_retained_publish_when_retain_is_unavailable_is_disconnected_mqtt_3_2_2_14() {
    let broker = TestBroker::start(config(|c| c.limits.retain_available = false)).await;
    let (mut client, ack) = RawClient::connect_accepted(broker.addr(), connect_packet(V5, "retainer")).await;
    assert_eq!(ack.properties.retain_available, Some(false));
    client.send(Packet::Publish(Publish { retain: true, ..Publish::new("ra/t", "kept?") })).await;
    client.expect_disconnect(ReasonCode::RETAIN_NOT_SUPPORTED).await;
}

/// `max_queued_bytes` bounds an offline session's queue in bytes as well as in messages: QoS 1/2 messages
/// are held above the limit up to twice it (see session/mailbox.rs), what does not fit then is dropped and
/// counted, and what was kept is delivered, in order, when the client returns.
#[tokio::test]
async fn offline_queue_is_bounded_in_bytes() {
    let broker = TestBroker::start(config(|c| c.limits.max_queued_bytes = 120)).await;
    let mut connect = connect_packet(V311, "bytes-bound");
    connect.clean_start = false;
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), connect.clone()).await;
    sub.subscribe("qb/t", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "bytes-pub").await;
    for i in 0..8 {
        // 4 bytes of topic and 46 of payload: 50 bytes each.
        publisher.publish_at("qb/t", format!("{i}{}", "x".repeat(45)), QoS::AtLeastOnce).await;
    }
    let session = broker.shared().sessions.get("bytes-bound").expect("session");
    let (queued, bytes) = (session.queued(), session.mailbox.lock().bytes());
    assert!(bytes <= 2 * 120, "{bytes} bytes queued for a limit of 120");
    assert!(queued >= 2, "what fits the limit is kept");
    assert_eq!(session.dropped() as usize, 8 - queued);
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    for i in 0..queued {
        assert!(sub.receive_and_ack().await.payload.starts_with(i.to_string().as_bytes()));
    }
    sub.expect_nothing(QUIET).await;
}

/// `max_queued_messages 0` means no limit (Mosquitto's meaning, and Tern's documented one): an offline
/// session keeps every QoS 1 message published for it.
#[tokio::test]
async fn max_queued_messages_zero_is_no_limit() {
    let broker = TestBroker::start(config(|c| c.limits.max_queued_messages = 0)).await;
    let mut connect = connect_packet(V311, "unbounded");
    connect.clean_start = false;
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), connect.clone()).await;
    sub.subscribe("unbounded/t", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "unbounded-pub").await;
    for i in 0..50 {
        publisher.publish_at("unbounded/t", format!("{i}"), QoS::AtLeastOnce).await;
    }
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    for i in 0..50 {
        assert_eq!(sub.receive_and_ack().await.payload, format!("{i}"));
    }
}

/// `max_inflight_bytes` (Mosquitto): QoS 1/2 messages go out while their bytes in flight stay within the
/// limit; the rest wait for acknowledgements.
#[tokio::test]
async fn max_inflight_bytes_holds_deliveries_until_acknowledgements_free_room() {
    let broker = TestBroker::start(config(|c| c.limits.max_inflight_bytes = 250)).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "sub").await;
    sub.subscribe("ib", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "pub").await;
    for i in 0..4u8 {
        publisher.publish_at("ib", vec![b'0' + i; 100], QoS::AtLeastOnce).await;
    }
    // 102 bytes each (topic and payload): two fit in 250, a third would not.
    let first = sub.expect_publish().await;
    let second = sub.expect_publish().await;
    sub.expect_nothing(QUIET).await;
    sub.ack(&first).await;
    let third = sub.expect_publish().await;
    assert_eq!(third.payload[0], b'2');
    sub.expect_nothing(QUIET).await;
    sub.ack(&second).await;
    sub.ack(&third).await;
    assert_eq!(sub.receive_and_ack().await.payload[0], b'3');
}
