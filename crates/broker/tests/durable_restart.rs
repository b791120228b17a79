//! Durable state across a broker restart, over real sockets: persistent sessions come back with their
//! subscriptions, queued messages, QoS 2 exchanges at the step they had reached, inbound QoS 2 identifiers,
//! retained messages and delayed wills; clean sessions and QoS 0 never touch the store; a failing store
//! is never acknowledged past. Restarts use an in-memory store shared by the two brokers (fast, exact), and
//! one test uses the disk store. Crashes (`kill -9`) are tested with the real binary in the `tern` crate.

use std::sync::Arc;
use std::time::Duration;

use tern_broker::config::{Config, Durability, ListenerConfig};
use tern_broker::storage::{keys, MemoryStore, Store};
use tern_codec::{Ack, Connect, LastWill, Packet, ProtocolVersion, Publish, QoS, ReasonCode};
use tern_test_support::raw::{connect_packet, publish_packet};
use tern_test_support::{pid, Event, RawClient, TestBroker};

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const QUIET: Duration = Duration::from_millis(300);

fn persistent(version: ProtocolVersion, id: &str) -> Connect {
    let mut connect = connect_packet(version, id);
    connect.clean_start = false;
    if version.is_v5() {
        connect.properties.session_expiry_interval = Some(3600);
    }
    connect
}

async fn start(store: &Arc<MemoryStore>) -> TestBroker {
    start_with(store, Config::default()).await
}

async fn start_with(store: &Arc<MemoryStore>, config: Config) -> TestBroker {
    let store = store.clone();
    TestBroker::start_with(config, move |b| b.with_store(store)).await
}

/// Stops the broker cleanly and starts another on the same store.
async fn restart(broker: TestBroker, store: &Arc<MemoryStore>) -> TestBroker {
    broker.shutdown().await;
    start(store).await
}

async fn resume(broker: &TestBroker, connect: Connect) -> (RawClient, bool) {
    let (client, ack) = RawClient::connect_accepted(broker.addr(), connect).await;
    (client, ack.session_present)
}

fn keys_with(store: &MemoryStore, tag: u8) -> usize {
    let mut n = 0;
    store
        .scan(&[tag], &mut |_, _| {
            n += 1;
            true
        })
        .expect("scan");
    n
}

#[tokio::test]
async fn a_persistent_session_keeps_subscriptions_and_queued_messages_across_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let broker = start(&store).await;
    let (mut sub, _) = resume(&broker, persistent(V311, "sub")).await;
    sub.subscribe("t/#", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "pub").await;
    for i in 0..3 {
        let ack = publisher.publish_at("t/a", format!("m{i}"), QoS::AtLeastOnce).await.expect("PUBACK");
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    }
    assert_eq!(keys_with(&store, keys::QUEUE), 3);
    assert_eq!(keys_with(&store, keys::MESSAGE), 3);

    let broker = restart(broker, &store).await;
    let (mut sub, present) = resume(&broker, persistent(V311, "sub")).await;
    assert!(present, "[MQTT-3.2.2-2] the session is back after the restart");
    for i in 0..3 {
        let p = sub.receive_and_ack().await;
        assert_eq!((p.topic.as_ref(), p.payload.as_ref()), ("t/a", format!("m{i}").as_bytes()));
        assert_eq!(p.qos, QoS::AtLeastOnce);
    }
    // The subscription is in the router again: a new message arrives live.
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "pub").await;
    publisher.publish_at("t/b", "live", QoS::AtLeastOnce).await;
    assert_eq!(sub.receive_and_ack().await.payload, "live");
    sub.expect_nothing(QUIET).await;
    // Acknowledged deliveries leave the store, and so do messages no queue holds any more.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(keys_with(&store, keys::QUEUE), 0);
    assert_eq!(keys_with(&store, keys::MESSAGE), 0);
}

#[tokio::test]
async fn one_message_for_many_persistent_queues_is_stored_once() {
    let store = Arc::new(MemoryStore::new());
    let broker = start(&store).await;
    for id in ["s1", "s2", "s3"] {
        let (mut s, _) = resume(&broker, persistent(V5, id)).await;
        s.subscribe("fan/#", QoS::ExactlyOnce).await;
        s.disconnect().await;
    }
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "pub").await;
    publisher.publish_at("fan/x", "once", QoS::ExactlyOnce).await;
    assert_eq!((keys_with(&store, keys::QUEUE), keys_with(&store, keys::MESSAGE)), (3, 1));
}

/// [MQTT-4.3.3] [MQTT-4.4.0-1] A QoS 2 delivery sent before the restart is resent with DUP and the same
/// packet identifier (the client may already have it); one past PUBREC is resumed with PUBREL only.
#[tokio::test]
async fn qos2_deliveries_resume_at_their_step_with_the_same_packet_identifier() {
    let store = Arc::new(MemoryStore::new());
    let broker = start(&store).await;
    let (mut sub, _) = resume(&broker, persistent(V5, "sub")).await;
    sub.subscribe("q2/#", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "pub").await;
    publisher.publish_at("q2/a", "first", QoS::ExactlyOnce).await;
    publisher.publish_at("q2/b", "second", QoS::ExactlyOnce).await;
    let first = sub.expect_publish().await;
    let second = sub.expect_publish().await;
    // The first is taken (PUBREC) and released by the broker; the client "crashes" before PUBCOMP.
    sub.send(Packet::PubRec(Ack::new(first.packet_id.expect("id")))).await;
    assert!(matches!(sub.next_packet().await, Packet::PubRel(r) if Some(r.packet_id) == first.packet_id));
    sub.drop_connection();

    let broker = restart(broker, &store).await;
    let (mut sub, present) = resume(&broker, persistent(V5, "sub")).await;
    assert!(present);
    let mut saw_pubrel = false;
    let mut resent = None;
    for _ in 0..2 {
        match sub.next_packet().await {
            Packet::PubRel(r) => {
                assert_eq!(Some(r.packet_id), first.packet_id, "PUBREL for the released exchange");
                saw_pubrel = true;
            }
            Packet::Publish(p) => resent = Some(p),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_pubrel, "the exchange past PUBREC resumes with PUBREL, not a second PUBLISH");
    let resent = resent.expect("the unacknowledged QoS 2 PUBLISH is resent");
    assert_eq!((resent.packet_id, resent.payload.clone()), (second.packet_id, second.payload.clone()));
    assert!(resent.dup, "[MQTT-3.3.1-1] DUP on redelivery");
    sub.send(Packet::PubComp(Ack::new(first.packet_id.expect("id")))).await;
    sub.ack(&resent).await;
    sub.expect_nothing(QUIET).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(keys_with(&store, keys::OUTBOUND_QOS2) + keys_with(&store, keys::QUEUE), 0);
}

/// [MQTT-4.3.3-10] An inbound QoS 2 PUBLISH acknowledged with PUBREC before the restart and sent again
/// after it (the publisher never saw PUBREC) is not delivered a second time.
#[tokio::test]
async fn an_inbound_qos2_identifier_awaiting_pubrel_survives_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let broker = start(&store).await;
    let (mut sub, _) = resume(&broker, persistent(V5, "sub")).await;
    sub.subscribe("in/#", QoS::AtLeastOnce).await;
    let (mut publisher, _) = resume(&broker, persistent(V5, "pub")).await;
    let mut publish = publish_packet("in/x", "exactly once", QoS::ExactlyOnce);
    publish.packet_id = Some(pid(7));
    publisher.send(Packet::Publish(publish.clone())).await;
    assert_eq!(publisher.expect_pubrec().await.packet_id, pid(7));
    assert_eq!(sub.receive_and_ack().await.payload, "exactly once");
    publisher.drop_connection();
    sub.disconnect().await;

    let broker = restart(broker, &store).await;
    let (mut sub, _) = resume(&broker, persistent(V5, "sub")).await;
    let (mut publisher, present) = resume(&broker, persistent(V5, "pub")).await;
    assert!(present);
    publish.dup = true;
    publisher.send(Packet::Publish(publish)).await;
    assert_eq!(publisher.expect_pubrec().await.packet_id, pid(7));
    publisher.send(Packet::PubRel(Ack::new(pid(7)))).await;
    assert_eq!(publisher.expect_pubcomp().await.reason_code, ReasonCode::SUCCESS);
    sub.expect_nothing(QUIET).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(keys_with(&store, keys::INBOUND_QOS2), 0, "PUBREL freed the stored identifier");
}

#[tokio::test]
async fn retained_messages_and_their_clearing_survive_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let broker = start(&store).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "pub").await;
    for (topic, payload) in [("r/a", "A"), ("r/b", "B"), ("r/c", "C")] {
        let mut p = publish_packet(topic, payload, QoS::AtLeastOnce);
        p.retain = true;
        p.properties.content_type = Some("text/plain".into());
        publisher.publish(p).await;
    }
    let mut clear = publish_packet("r/b", "", QoS::AtMostOnce);
    clear.retain = true;
    publisher.publish(clear).await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let broker = restart(broker, &store).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V5, "sub").await;
    sub.subscribe("r/#", QoS::AtLeastOnce).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let p = sub.receive_and_ack().await;
        assert!(p.retain, "[MQTT-3.3.1-9]");
        assert_eq!(p.properties.content_type.as_deref(), Some("text/plain"));
        got.push((p.topic.to_string(), p.payload.clone()));
    }
    got.sort();
    assert_eq!(got, vec![("r/a".to_owned(), "A".into()), ("r/c".to_owned(), "C".into())]);
    sub.expect_nothing(QUIET).await;
}

#[tokio::test]
async fn clean_sessions_and_qos0_never_touch_the_store() {
    let store = Arc::new(MemoryStore::new());
    let broker = start(&store).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "clean").await;
    sub.subscribe("c/#", QoS::ExactlyOnce).await;
    let (mut durable_sub, _) = resume(&broker, persistent(V311, "durable")).await;
    durable_sub.subscribe("c/#", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "pub").await;
    publisher.publish_at("c/1", "x", QoS::ExactlyOnce).await;
    publisher.publish_at("c/2", "y", QoS::AtMostOnce).await;
    sub.receive_and_ack().await;
    sub.receive_and_ack().await;
    durable_sub.receive_and_ack().await;
    durable_sub.receive_and_ack().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The durable session is stored (its QoS 0 subscription gets only QoS 0 deliveries); nothing else is,
    // not even the retained `$SYS` topics, which the broker makes afresh.
    let mut kinds = Vec::new();
    store
        .scan(b"", &mut |k, _| {
            kinds.push(k[0]);
            true
        })
        .expect("scan");
    kinds.sort();
    assert_eq!(kinds, vec![keys::SESSION, keys::VERSION[0]]);
}

#[tokio::test]
async fn a_session_that_expired_while_the_broker_was_down_is_dropped_at_start_up() {
    let store = Arc::new(MemoryStore::new());
    let broker = start(&store).await;
    let mut connect = persistent(V5, "short");
    connect.properties.session_expiry_interval = Some(1);
    let (mut c, _) = resume(&broker, connect.clone()).await;
    c.subscribe("e/#", QoS::AtLeastOnce).await;
    c.disconnect().await;
    broker.shutdown().await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let broker = start(&store).await;
    let (_c, present) = resume(&broker, connect).await;
    assert!(!present, "[MQTT-3.1.2-23] the session expired");
}

/// [MQTT-3.1.3-9] A will waiting for its delay when the broker stops is sent after the restart, when due.
#[tokio::test]
async fn a_delayed_will_is_sent_after_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let broker = start(&store).await;
    let mut connect = persistent(V5, "dying");
    connect.will = Some(LastWill {
        topic: "wills/dying".into(),
        payload: "gone".into(),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: tern_codec::Properties { will_delay_interval: Some(1), ..Default::default() },
    });
    let (c, _) = resume(&broker, connect).await;
    c.drop_connection();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(keys_with(&store, keys::WILL), 1);

    let broker = restart(broker, &store).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V5, "watcher").await;
    sub.subscribe("wills/#", QoS::AtLeastOnce).await;
    match sub.recv(Duration::from_secs(5)).await {
        Event::Packet(Packet::Publish(p)) => assert_eq!(p.payload, "gone"),
        other => panic!("expected the will, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(keys_with(&store, keys::WILL), 0);
}

/// A full disk: nothing is acknowledged that is not stored. MQTT 5 publishers get 0x97 for what they
/// publish while the store fails; acknowledgements already waiting go out, in order, once it writes again.
#[tokio::test]
async fn a_failing_store_is_never_acknowledged_past_and_the_broker_recovers() {
    let store = Arc::new(MemoryStore::new());
    let broker = start(&store).await;
    let (mut sub, _) = resume(&broker, persistent(V5, "sub")).await;
    sub.subscribe("d/#", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut v5 = RawClient::connect_ok(broker.addr(), V5, "pub5").await;
    let mut v3 = RawClient::connect_ok(broker.addr(), V311, "pub3").await;

    store.set_failing(true);
    let first = Publish { packet_id: Some(pid(1)), ..publish_packet("d/1", "kept", QoS::AtLeastOnce) };
    v5.send(Packet::Publish(first)).await;
    v5.expect_nothing(QUIET).await; // Not stored: not acknowledged.
    let second = Publish { packet_id: Some(pid(2)), ..publish_packet("d/2", "refused", QoS::AtLeastOnce) };
    v5.send(Packet::Publish(second)).await;
    let third = Publish { packet_id: Some(pid(3)), ..publish_packet("d/3", "v3", QoS::AtLeastOnce) };
    v3.send(Packet::Publish(third)).await;
    v3.expect_nothing(QUIET).await;
    // Other clients are served meanwhile.
    let mut other = RawClient::connect_ok(broker.addr(), V311, "other").await;
    other.ping().await;

    store.set_failing(false);
    let a = v5.expect_puback().await;
    let b = v5.expect_puback().await;
    assert_eq!((a.packet_id, a.reason_code), (pid(1), ReasonCode::SUCCESS));
    assert_eq!((b.packet_id, b.reason_code), (pid(2), ReasonCode::QUOTA_EXCEEDED));
    assert_eq!(v3.expect_puback().await.packet_id, pid(3));
    let (mut sub, _) = resume(&broker, persistent(V5, "sub")).await;
    let mut got = vec![sub.receive_and_ack().await.payload, sub.receive_and_ack().await.payload];
    got.sort();
    assert_eq!(got, vec!["kept", "v3"]);
    sub.expect_nothing(QUIET).await;
}

#[tokio::test]
async fn the_disk_store_keeps_state_across_restarts_and_refuses_a_second_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || {
        let listener =
            ListenerConfig { port: 0, bind_address: Some("127.0.0.1".into()), ..Default::default() };
        let mut c = Config { listeners: vec![listener], ..Config::default() };
        c.security.allow_anonymous = Some(true);
        c.persistence.durability = Durability::Fsync;
        c.persistence.location = dir.path().join("data");
        c
    };
    let broker = TestBroker::start(config()).await;
    let second = tern_broker::Broker::new(config()).start().await;
    assert!(second.unwrap_err().to_string().contains("in use by another process"));
    let (mut sub, _) = resume(&broker, persistent(V5, "sub")).await;
    sub.subscribe("disk/#", QoS::ExactlyOnce).await;
    sub.disconnect().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "pub").await;
    publisher.publish_at("disk/1", "on disk", QoS::ExactlyOnce).await;
    drop(publisher);
    broker.shutdown().await;

    // The previous broker's store lets go once its last task has ended.
    let mut restarted = None;
    for _ in 0..50 {
        match tern_broker::Broker::new(config()).start().await {
            Ok(b) => {
                restarted = Some(b);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let broker = restarted.expect("restarts on the same store");
    let addr = broker.local_addrs()[0];
    let (mut sub, ack) = RawClient::connect_accepted(addr, persistent(V5, "sub")).await;
    assert!(ack.session_present);
    assert_eq!(sub.receive_and_ack().await.payload, "on disk");
    broker.shutdown().await;
}

/// Bounded memory: an offline session's stored queue waits on disk, counted in memory, and is read back in
/// order when the client returns (new messages queued meanwhile come after it).
#[tokio::test]
async fn an_offline_queue_waits_on_disk_and_is_read_back_in_order() {
    let store = Arc::new(MemoryStore::new());
    let broker = start(&store).await;
    let (mut sub, _) = resume(&broker, persistent(V5, "away")).await;
    sub.subscribe("p/#", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "pub").await;
    for i in 0..50 {
        publisher.publish_at("p/x", format!("m{i:02}"), QoS::AtLeastOnce).await;
    }
    let session = broker.shared().sessions.get("away").expect("session");
    {
        let mailbox = session.mailbox.lock();
        assert_eq!((mailbox.len(), mailbox.paged().count()), (50, 50), "all of it paged out");
        assert_eq!(mailbox.front().map(|d| d.seq), None, "nothing in memory");
    }
    assert_eq!(broker.shared().durable.as_ref().expect("store").stored_messages(), 50);

    let (mut sub, present) = resume(&broker, persistent(V5, "away")).await;
    assert!(present);
    publisher.publish_at("p/x", "live", QoS::AtLeastOnce).await;
    for i in 0..50 {
        assert_eq!(sub.receive_and_ack().await.payload, format!("m{i:02}").into_bytes());
    }
    assert_eq!(sub.receive_and_ack().await.payload, "live");
    sub.expect_nothing(QUIET).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!((keys_with(&store, keys::QUEUE), keys_with(&store, keys::MESSAGE)), (0, 0));
}

/// The queue limits count what waits on disk: an offline session stays within `max_queued_messages`.
#[tokio::test]
async fn queue_limits_count_the_paged_out_queue() {
    let store = Arc::new(MemoryStore::new());
    let mut config = Config::default();
    config.limits.max_queued_messages = 10;
    let broker = start_with(&store, config).await;
    let (mut sub, _) = resume(&broker, persistent(V311, "small")).await;
    sub.subscribe("l/#", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "pub").await;
    for i in 0..40 {
        publisher.publish_at("l/x", format!("{i}"), QoS::AtLeastOnce).await;
    }
    let session = broker.shared().sessions.get("small").expect("session");
    // Held up to twice the limit for QoS 1 (see the mailbox), never more.
    assert_eq!(session.mailbox.lock().len(), 20);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(keys_with(&store, keys::QUEUE), 20);
}

/// A gauge without labels, as `/metrics` shows it.
fn gauge(broker: &TestBroker, name: &str) -> u64 {
    let metrics = tern_broker::metrics::render(broker.shared());
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {metrics}"))
}

/// A persistent subscriber online but slower than its publisher (which another subscriber keeps up with, so
/// the publisher is not held back) loses nothing: beyond twice `max_queued_messages` its QoS 1 messages
/// spill to the store and are read back in order, a batch at a time, as it catches up. The queue's memory
/// stays within the limit all along while its length grows with what was published.
#[tokio::test]
async fn a_slow_online_subscriber_overflow_spills_to_the_store_and_arrives_in_order() {
    const N: usize = 60;
    const LIMIT: usize = 5;
    let store = Arc::new(MemoryStore::new());
    let mut config = Config::default();
    config.limits.max_inflight_messages = 1;
    config.limits.max_queued_messages = LIMIT;
    let broker = start_with(&store, config).await;
    let (mut slow, _) = resume(&broker, persistent(V311, "slow")).await;
    slow.subscribe("spill/t", QoS::AtLeastOnce).await;
    let mut fast = RawClient::connect_ok(broker.addr(), V311, "fast").await;
    fast.subscribe("spill/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "pub").await;
    for i in 0..N {
        publisher.publish_at("spill/t", format!("m{i:02}"), QoS::AtLeastOnce).await;
        assert_eq!(fast.receive_and_ack().await.payload, format!("m{i:02}").into_bytes());
    }
    // Every message is the same size: its topic and payload.
    let size = "spill/t".len() + "m00".len();
    let memory_bound = 2 * LIMIT * size;
    let session = broker.shared().sessions.get("slow").expect("session");
    assert_eq!(session.dropped(), 0, "nothing lost");
    assert_eq!(gauge(&broker, "tern_queued_messages"), N as u64 - 1, "all but the one in flight queued");
    assert_eq!(gauge(&broker, "tern_queued_bytes"), ((N - 1) * size) as u64);
    let memory = gauge(&broker, "tern_queued_memory_bytes");
    assert!(memory <= memory_bound as u64, "{memory} bytes in memory");

    for i in 0..N {
        assert_eq!(slow.receive_and_ack().await.payload, format!("m{i:02}").into_bytes(), "in order");
        assert!(gauge(&broker, "tern_queued_memory_bytes") <= memory_bound as u64, "after {i}");
    }
    slow.expect_nothing(QUIET).await;
    assert_eq!(gauge(&broker, "tern_queued_messages"), 0);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(keys_with(&store, keys::QUEUE), 0, "every spilled message left the store once acknowledged");
}

/// An operator's removal of a retained message (admin API) is stored like a client's.
#[tokio::test]
async fn a_retained_message_removed_by_an_operator_stays_removed_after_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let broker = start(&store).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "pub").await;
    let mut p = publish_packet("ret/x", "old", QoS::AtLeastOnce);
    p.retain = true;
    publisher.publish(p).await;
    assert!(broker.shared().remove_retained("ret/x").is_some());
    let broker = restart(broker, &store).await;
    assert!(broker.shared().retained.read().get("ret/x").is_none());
}
