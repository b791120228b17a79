//! `$SYS`: every topic Mosquitto 2 publishes, with values that follow a scripted workload.

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod ops_support;

use std::collections::HashMap;
use std::time::Duration;

use ops_support::{config, start, Mqtt};
use tern_codec::{Packet, ProtocolVersion, QoS};

/// Reads `$SYS` messages for `wait`, keeping the latest value per topic.
async fn collect(sys: &mut Mqtt, wait: Duration, into: &mut HashMap<String, String>) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return;
        }
        match sys.recv_within(left).await {
            Some(Packet::Publish(p)) => {
                into.insert(p.topic.to_string(), String::from_utf8(p.payload.to_vec()).unwrap());
            }
            Some(_) => {}
            None => return,
        }
    }
}

fn number(values: &HashMap<String, String>, topic: &str) -> f64 {
    let v = values.get(topic).unwrap_or_else(|| panic!("{topic} not published"));
    v.parse().unwrap_or_else(|_| panic!("{topic} = {v:?} is not a number"))
}

#[tokio::test]
async fn sys_tree_has_mosquittos_topics_and_follows_a_scripted_workload() {
    let mut cfg = config();
    cfg.sys_interval = 1;
    let (broker, addr) = start(cfg).await;

    let mut sys = Mqtt::connect(addr, "sys-reader", ProtocolVersion::V311).await;
    sys.subscribe("$SYS/#", QoS::AtMostOnce).await;
    let mut values = HashMap::new();
    collect(&mut sys, Duration::from_millis(2500), &mut values).await;

    // Every topic name of Mosquitto 2.0 `$SYS/broker`, nothing else.
    let mut names: Vec<&str> = values.keys().map(String::as_str).collect();
    names.sort();
    let expected: Vec<&str> = include_str!("../src/sys/mosquitto-2.0-topics.txt").lines().collect();
    assert_eq!(names, expected);
    assert_eq!(values["$SYS/broker/version"], format!("tern version {}", env!("CARGO_PKG_VERSION")));
    assert!(values["$SYS/broker/uptime"].ends_with(" seconds"));
    assert_eq!(number(&values, "$SYS/broker/clients/connected"), 1.0);
    assert_eq!(number(&values, "$SYS/broker/publish/messages/received"), 0.0);
    assert_eq!(number(&values, "$SYS/broker/subscriptions/count"), 1.0);
    let retained_before = number(&values, "$SYS/broker/retained messages/count");
    assert!(retained_before >= 52.0, "the $SYS messages are retained themselves");

    // The workload: a subscriber, a publisher sending 5 QoS 1 messages of 10 bytes, one retained.
    let mut sub = Mqtt::connect(addr, "worker-sub", ProtocolVersion::V5).await;
    sub.subscribe("work/#", QoS::AtLeastOnce).await;
    let mut publisher = Mqtt::connect(addr, "worker-pub", ProtocolVersion::V311).await;
    for i in 0..5 {
        publisher.publish("work/item", format!("payload-{i:02}").as_bytes(), QoS::AtLeastOnce, i == 4).await;
    }
    for _ in 0..5 {
        assert!(sub.next_publish().await.is_some());
    }
    collect(&mut sys, Duration::from_millis(2200), &mut values).await;
    assert_eq!(number(&values, "$SYS/broker/clients/connected"), 3.0);
    assert_eq!(number(&values, "$SYS/broker/clients/active"), 3.0);
    assert_eq!(number(&values, "$SYS/broker/clients/maximum"), 3.0);
    assert_eq!(number(&values, "$SYS/broker/clients/total"), 3.0);
    assert_eq!(number(&values, "$SYS/broker/publish/messages/received"), 5.0);
    assert_eq!(number(&values, "$SYS/broker/publish/bytes/received"), 50.0);
    assert_eq!(number(&values, "$SYS/broker/subscriptions/count"), 2.0);
    assert_eq!(number(&values, "$SYS/broker/retained messages/count"), retained_before + 1.0);
    assert!(number(&values, "$SYS/broker/publish/messages/sent") >= 5.0);
    assert!(number(&values, "$SYS/broker/publish/bytes/sent") >= 50.0);
    assert!(number(&values, "$SYS/broker/messages/received") >= 5.0 + 5.0);
    assert!(number(&values, "$SYS/broker/bytes/received") > 50.0);
    assert!(number(&values, "$SYS/broker/load/publish/received/1min") > 0.0);
    assert!(number(&values, "$SYS/broker/load/connections/1min") > 0.0);
    assert!(number(&values, "$SYS/broker/load/sockets/1min") > 0.0);
    assert!(number(&values, "$SYS/broker/heap/current") > 0.0);

    // The publisher leaves (clean session: its session ends); a persistent subscriber goes offline.
    publisher.disconnect().await;
    let persistent = tern_codec::Connect {
        protocol: ProtocolVersion::V311,
        client_id: "persistent".into(),
        clean_start: false,
        ..tern_codec::Connect::default()
    };
    let (mut p, _) = Mqtt::connect_with(addr, persistent).await;
    p.subscribe("offline/#", QoS::AtLeastOnce).await;
    p.disconnect().await;
    collect(&mut sys, Duration::from_millis(2200), &mut values).await;
    assert_eq!(number(&values, "$SYS/broker/clients/connected"), 2.0);
    assert_eq!(number(&values, "$SYS/broker/clients/disconnected"), 1.0);
    assert_eq!(number(&values, "$SYS/broker/clients/inactive"), 1.0);
    assert_eq!(number(&values, "$SYS/broker/clients/total"), 3.0);
    assert_eq!(number(&values, "$SYS/broker/clients/maximum"), 3.0, "never more than 3 at once");
    assert_eq!(number(&values, "$SYS/broker/subscriptions/count"), 3.0);
    broker.shutdown().await;
}

#[tokio::test]
async fn clients_cannot_publish_to_sys_and_a_late_subscriber_gets_the_retained_tree() {
    let mut cfg = config();
    cfg.sys_interval = 1;
    let (broker, addr) = start(cfg).await;
    let mut rogue = Mqtt::connect(addr, "rogue", ProtocolVersion::V5).await;
    // [MQTT-4.7.2-1] `$` topics are the server's: v5 answers 0x87 Not authorized.
    assert_eq!(rogue.publish("$SYS/broker/version", b"fake", QoS::AtLeastOnce, true).await, Some(0x87));
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut late = Mqtt::connect(addr, "late", ProtocolVersion::V311).await;
    late.subscribe("$SYS/broker/version", QoS::AtMostOnce).await;
    let version = late.next_publish().await.unwrap();
    assert!(version.retain, "[MQTT-3.3.1-9] sent from the retained store");
    assert_eq!(&version.payload[..], format!("tern version {}", env!("CARGO_PKG_VERSION")).as_bytes());
    broker.shutdown().await;
}

#[tokio::test]
async fn sys_interval_zero_publishes_nothing() {
    let (broker, addr) = start(config()).await;
    let mut sys = Mqtt::connect(addr, "sys-reader", ProtocolVersion::V311).await;
    sys.subscribe("$SYS/#", QoS::AtMostOnce).await;
    assert!(sys.recv_within(Duration::from_millis(1500)).await.is_none());
    assert_eq!(broker.shared().retained.read().len(), 0);
    broker.shutdown().await;
}
