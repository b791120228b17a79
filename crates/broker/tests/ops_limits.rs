//! Overload protection: each limit does what it says, is counted, and the broker stays up for the
//! clients that keep within them.

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod ops_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ops_support::{config, start, Mqtt};
use tern_broker::stats::{DropReason, LimitKind, RefuseReason};
use tern_codec::{Connect, Packet, ProtocolVersion, QoS};
use tokio::net::TcpStream;

/// A bystander publishes to itself and gets the message back: the broker still serves it.
async fn round_trip(client: &mut Mqtt, topic: &str) {
    client.publish(topic, b"ping", QoS::AtLeastOnce, false).await;
    let got = client.next_publish().await.expect("bystander got its message");
    assert_eq!(&*got.topic, topic);
}

async fn bystander(addr: std::net::SocketAddr) -> Mqtt {
    let mut b = Mqtt::connect(addr, "bystander", ProtocolVersion::V5).await;
    b.subscribe("bystander/#", QoS::AtLeastOnce).await;
    b
}

#[tokio::test]
async fn a_client_over_its_publish_rate_is_disconnected_with_0x96() {
    let mut cfg = config();
    cfg.limits.max_publish_rate = 20;
    let (broker, addr) = start(cfg).await;
    let mut calm = bystander(addr).await;
    let mut flooder = Mqtt::connect(addr, "flooder", ProtocolVersion::V5).await;
    for _ in 0..200 {
        if !flooder.try_send(&Packet::Publish(tern_codec::Publish::new("flood", "x"))).await {
            break;
        }
    }
    match flooder.recv_until(|p| matches!(p, Packet::Disconnect(_))).await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code.0, 0x96, "Message rate too high"),
        other => panic!("expected DISCONNECT 0x96, got {other:?}"),
    }
    let stats = &broker.shared().stats;
    assert_eq!(stats.limit_hits_for(LimitKind::PublishRate), 1);
    assert_eq!(tern_broker::stats::Stats::get(&stats.packet_errors[0x96]), 1);
    round_trip(&mut calm, "bystander/a").await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_client_over_its_byte_rate_is_disconnected_with_0x97_and_a_3x_client_is_closed() {
    let mut cfg = config();
    cfg.limits.max_publish_bytes_rate = 1000;
    let (broker, addr) = start(cfg).await;
    let mut calm = bystander(addr).await;
    let mut big = Mqtt::connect(addr, "big", ProtocolVersion::V5).await;
    let payload = vec![0u8; 600];
    big.publish("big", &payload, QoS::AtMostOnce, false).await;
    big.publish("big", &payload, QoS::AtMostOnce, false).await;
    match big.recv_until(|p| matches!(p, Packet::Disconnect(_))).await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code.0, 0x97, "Quota exceeded"),
        other => panic!("expected DISCONNECT 0x97, got {other:?}"),
    }
    // MQTT 3.1.1 has no DISCONNECT from the server: the connection is closed.
    let mut old = Mqtt::connect(addr, "old", ProtocolVersion::V311).await;
    old.publish("big", &payload, QoS::AtMostOnce, false).await;
    old.publish("big", &payload, QoS::AtMostOnce, false).await;
    assert!(old.recv().await.is_none());
    assert_eq!(broker.shared().stats.limit_hits_for(LimitKind::ByteRate), 2);
    round_trip(&mut calm, "bystander/b").await;
    broker.shutdown().await;
}

#[tokio::test]
async fn subscriptions_beyond_the_limit_are_refused_in_suback() {
    let mut cfg = config();
    cfg.limits.max_subscriptions_per_client = 2;
    let (broker, addr) = start(cfg).await;
    let mut v5 = Mqtt::connect(addr, "v5", ProtocolVersion::V5).await;
    assert_eq!(v5.subscribe("a", QoS::AtLeastOnce).await.reason_codes[0].0, 1);
    assert_eq!(v5.subscribe("b", QoS::AtLeastOnce).await.reason_codes[0].0, 1);
    assert_eq!(v5.subscribe("c", QoS::AtLeastOnce).await.reason_codes[0].0, 0x97, "Quota exceeded");
    // Replacing an existing subscription is not a new one.
    assert_eq!(v5.subscribe("a", QoS::AtMostOnce).await.reason_codes[0].0, 0);
    let mut v3 = Mqtt::connect(addr, "v3", ProtocolVersion::V311).await;
    v3.subscribe("a", QoS::AtMostOnce).await;
    v3.subscribe("b", QoS::AtMostOnce).await;
    assert_eq!(v3.subscribe("c", QoS::AtMostOnce).await.reason_codes[0].0, 0x80, "3.1.1 failure");
    assert_eq!(broker.shared().stats.limit_hits_for(LimitKind::Subscriptions), 2);
    assert_eq!(broker.shared().router.subscription_count(), 4);
    broker.shutdown().await;
}

#[tokio::test]
async fn topics_with_too_many_levels_are_refused() {
    let mut cfg = config();
    cfg.limits.max_topic_levels = 4;
    let (broker, addr) = start(cfg).await;
    let mut c = Mqtt::connect(addr, "deep", ProtocolVersion::V5).await;
    assert_eq!(c.subscribe("a/b/c/d/e", QoS::AtMostOnce).await.reason_codes[0].0, 0x8F);
    assert_eq!(
        c.subscribe("$share/g/a/b/c/+", QoS::AtMostOnce).await.reason_codes[0].0,
        0,
        "group name is no level"
    );
    assert_eq!(c.subscribe("a/b/c/#", QoS::AtLeastOnce).await.reason_codes[0].0, 1);
    assert_eq!(c.publish("a/b/c/d/e", b"x", QoS::AtLeastOnce, false).await, Some(0x90), "Topic Name invalid");
    assert_eq!(c.publish("a/b/c/d", b"x", QoS::AtLeastOnce, false).await, Some(0));
    let got = c.next_publish().await.unwrap();
    assert_eq!(&*got.topic, "a/b/c/d", "the refused message was never routed");
    assert_eq!(broker.shared().stats.limit_hits_for(LimitKind::TopicLevels), 2);
    broker.shutdown().await;
}

#[tokio::test]
async fn the_default_topic_level_limit_is_128() {
    let (broker, addr) = start(config()).await;
    let mut c = Mqtt::connect(addr, "deep", ProtocolVersion::V5).await;
    let at_limit = vec!["l"; 128].join("/");
    let beyond = vec!["l"; 129].join("/");
    assert_eq!(
        c.publish(&at_limit, b"x", QoS::AtLeastOnce, false).await,
        Some(0x10),
        "no subscribers, accepted"
    );
    assert_eq!(c.publish(&beyond, b"x", QoS::AtLeastOnce, false).await, Some(0x90));
    broker.shutdown().await;
}

#[tokio::test]
async fn long_client_ids_are_refused_at_connect() {
    let mut cfg = config();
    cfg.limits.max_client_id_length = 8;
    let (broker, addr) = start(cfg).await;
    let long = Connect { protocol: ProtocolVersion::V5, client_id: "nine-char".into(), ..Connect::default() };
    let (_c, ack) = Mqtt::connect_with(addr, long).await;
    assert_eq!(ack.reason_code.0, 0x85, "Client Identifier not valid");
    let long311 = Connect { client_id: "nine-char".into(), ..Connect::default() };
    let (_c, ack) = Mqtt::connect_with(addr, long311).await;
    assert_eq!(ack.reason_code.to_v3_connack(), 2, "identifier rejected");
    let _ok = Mqtt::connect(addr, "eight-ch", ProtocolVersion::V5).await;
    assert_eq!(broker.shared().stats.limit_hits_for(LimitKind::ClientIdLength), 2);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_connection_storm_is_cut_to_the_accept_rate_and_bystanders_keep_working() {
    let mut cfg = config();
    cfg.limits.max_connection_rate = 10;
    let (broker, addr) = start(cfg).await;
    let mut calm = bystander(addr).await;
    // 100 sockets at once: about the burst of 10 get in (minus the bystander), the rest are closed.
    let started = Instant::now();
    let mut storm = Vec::new();
    for _ in 0..100 {
        storm.push(TcpStream::connect(addr).await.unwrap());
    }
    let stats = &broker.shared().stats;
    assert!(ops_support::eventually(|| stats.refused_for(RefuseReason::Rate) >= 80).await);
    let elapsed = started.elapsed().as_secs_f64();
    let admitted = 100 - stats.refused_for(RefuseReason::Rate);
    assert!(admitted as f64 <= 10.0 + 10.0 * elapsed + 1.0, "{admitted} admitted in {elapsed:.2}s");
    round_trip(&mut calm, "bystander/storm").await;
    drop(storm);
    // The rate refills: a new client gets in after a short wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _late = Mqtt::connect(addr, "late", ProtocolVersion::V311).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn above_the_memory_mark_new_connections_are_refused_and_ready_fails() {
    let mut cfg = config();
    cfg.limits.memory_high_water = 1;
    cfg.http.listen = Some("127.0.0.1:0".into());
    let (broker, addr) = start(cfg).await;
    assert!(ops_support::eventually(|| broker.shared().memory.is_over()).await);
    let mut refused = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 1];
    let read =
        tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read(&mut refused, &mut buf))
            .await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed at once");
    assert!(broker.shared().stats.refused_for(RefuseReason::Memory) >= 1);
    let ready = ops_support::http(broker.http_addr().unwrap(), "GET", "/ready", None, None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["status"], "overloaded");
    broker.shutdown().await;
}

#[test]
fn above_the_memory_mark_qos0_from_clients_is_dropped_first() {
    use tern_broker::message::Message;
    use tern_broker::session::{Session, Subscription};

    let mut cfg = config();
    cfg.limits.memory_high_water = 1000;
    cfg.limits.queue_qos0_messages = true; // the session here is offline
    let broker = tern_broker::BrokerShared::new(cfg);
    let session = Arc::new(Session::new("s".into(), broker.queue_limits()));
    let options = tern_codec::SubscriptionOptions { qos: QoS::ExactlyOnce, ..Default::default() };
    broker.router.subscribe("t", &session, Subscription { options, id: None });
    let message = |qos: QoS, publisher: Option<&str>| {
        let mut p = tern_codec::Publish::new("t", "m");
        p.qos = qos;
        Arc::new(Message::from_publish(p, "t".into(), publisher.map(Into::into), std::time::Instant::now()))
    };
    assert!(broker.memory.record(2000));
    assert_eq!(broker.publish(message(QoS::AtMostOnce, Some("c"))).delivered, 0);
    assert_eq!(broker.publish(message(QoS::AtLeastOnce, Some("c"))).delivered, 1);
    assert_eq!(broker.publish(message(QoS::ExactlyOnce, Some("c"))).delivered, 1);
    assert_eq!(
        broker.publish(message(QoS::AtMostOnce, None)).delivered,
        1,
        "the broker's own ($SYS) still flow"
    );
    assert_eq!(broker.stats.dropped_for(DropReason::Memory), 1);
    // Back under 90% of the mark: QoS 0 flows again.
    assert!(!broker.memory.record(800));
    assert_eq!(broker.publish(message(QoS::AtMostOnce, Some("c"))).delivered, 1);
    assert_eq!(session.queued(), 4);
}

/// mosquitto.conf `max_connections` under a `listener` (with `per_listener_settings`): the limited listener
/// refuses its third connection (CONNACK "server unavailable", then the close) while the other listener
/// still accepts, the clients already in stay served, and the refusal is counted.
#[tokio::test]
async fn a_listener_max_connections_refuses_only_on_that_listener() {
    let text = "per_listener_settings true\n\
        listener 1883 127.0.0.1\nmax_connections 2\nallow_anonymous true\n\
        listener 1884 127.0.0.1\nallow_anonymous true\n";
    let mut cfg = tern_broker::config::Config::from_mosquitto_str(text, "limited.conf").unwrap();
    assert_eq!(cfg.listeners[0].max_connections, Some(2));
    let toml = "[[listeners]]\nport = 1883\nmax_connections = 2\n[[listeners]]\nport = 1884\n";
    let same = tern_broker::config::Config::from_toml_str(toml, "limited.toml").unwrap();
    assert_eq!((same.listeners[0].max_connections, same.listeners[1].max_connections), (Some(2), None));
    cfg.listeners.iter_mut().for_each(|l| l.port = 0);
    cfg.sys_interval = 0;
    let broker = tern_broker::Broker::new(tern_test_support::in_memory(cfg)).start().await.unwrap();
    let (limited, open) = (broker.local_addrs()[0], broker.local_addrs()[1]);
    let mut first = bystander(limited).await;
    let _second = Mqtt::connect(limited, "second", ProtocolVersion::V311).await;
    let connect =
        |id: &str| Connect { protocol: ProtocolVersion::V311, client_id: id.into(), ..Connect::default() };
    let (mut third, ack) = Mqtt::connect_with(limited, connect("third")).await;
    assert_eq!(ack.reason_code.to_v3_connack(), 3, "server unavailable");
    assert!(third.recv().await.is_none(), "the refused socket is closed");
    let stats = &broker.shared().stats;
    assert_eq!(stats.refused_for(RefuseReason::MaxConnections), 1);
    let mut others: Vec<Mqtt> = Vec::new();
    for i in 0..3 {
        others.push(Mqtt::connect(open, &format!("open-{i}"), ProtocolVersion::V5).await);
    }
    round_trip(&mut first, "bystander/limited").await;
    let mut watcher = bystander(open).await;
    round_trip(&mut watcher, "bystander/open").await;
    assert_eq!(stats.refused_for(RefuseReason::MaxConnections), 1, "the open listener refused nobody");
    let metrics = tern_broker::metrics::render(broker.shared());
    assert!(metrics.contains("tern_connections_refused_total{reason=\"max_connections\"} 1"), "{metrics}");
    broker.shutdown().await;
}
