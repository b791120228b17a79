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

/// A `$SYS/#` subscriber that keeps the latest value per topic and counts the PUBLISHes it got.
struct SysReader {
    client: Mqtt,
    values: HashMap<String, String>,
    received: u64,
}

impl SysReader {
    async fn start(addr: std::net::SocketAddr) -> SysReader {
        let mut client = Mqtt::connect(addr, "sys-reader", ProtocolVersion::V311).await;
        client.subscribe("$SYS/#", QoS::AtMostOnce).await;
        SysReader { client, values: HashMap::new(), received: 0 }
    }

    /// Reads one `$SYS` message (5 s at most); returns its topic and whether it was sent live (not retained).
    async fn next(&mut self) -> (String, bool) {
        match self.client.recv_until(|p| matches!(p, Packet::Publish(_))).await {
            Some(Packet::Publish(p)) => {
                self.received += 1;
                let value = String::from_utf8(p.payload.to_vec()).unwrap();
                self.values.insert(p.topic.to_string(), value);
                (p.topic.to_string(), !p.retain)
            }
            other => panic!("expected a $SYS message, got {other:?}"),
        }
    }

    /// Reads whole ticks (each starts with a live uptime) until, at the start of one, `done` holds for the
    /// values so far.
    async fn settle(&mut self, done: impl Fn(&HashMap<String, String>) -> bool) {
        let mut ticks = 0;
        loop {
            if let (topic, true) = self.next().await {
                if topic == "$SYS/broker/uptime" {
                    ticks += 1;
                    if ticks >= 2 && done(&self.values) {
                        return;
                    }
                }
            }
        }
    }

    fn number(&self, topic: &str) -> f64 {
        number(&self.values, topic)
    }

    /// Reads until `topic` holds `want` (10 s at most), failing with its last value otherwise.
    async fn until(&mut self, topic: &str, want: f64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.values.get(topic).and_then(|v| v.parse::<f64>().ok()) != Some(want) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{topic} = {:?}, want {want}",
                self.values.get(topic)
            );
            self.next().await;
        }
    }
}

/// Several publishers at QoS 0 and 1 with retained messages, two subscribers: every `$SYS` counter the
/// workload determines moves by exactly its share; those the `$SYS` messages themselves feed stay within
/// what the reader received.
#[tokio::test]
async fn sys_counters_move_by_exactly_the_workload() {
    const PUBLISHERS: u64 = 4;
    const EACH: u64 = 25; // QoS 0 and as many QoS 1, plus one retained QoS 1, per publisher
    const PAYLOAD: &[u8] = b"8 bytes!";
    let mut cfg = config();
    cfg.sys_interval = 1;
    let (broker, addr) = start(cfg).await;
    let mut sys = SysReader::start(addr).await;
    // Until every `$SYS` topic exists and the retained count includes them all (loads come a tick later).
    sys.settle(|v| v.get("$SYS/broker/retained messages/count") == Some(&v.len().to_string())).await;
    let base = |sys: &SysReader, topic: &str| sys.number(&format!("$SYS/broker/{topic}"));
    let before: HashMap<&str, f64> = [
        "messages/received",
        "messages/sent",
        "publish/messages/received",
        "publish/messages/sent",
        "publish/bytes/received",
        "bytes/received",
        "retained messages/count",
    ]
    .into_iter()
    .map(|t| (t, base(&sys, t)))
    .collect();
    let reader_before = sys.received;
    assert_eq!(base(&sys, "clients/connected"), 1.0);
    assert_eq!(base(&sys, "subscriptions/count"), 1.0);

    let mut subscribers = Vec::new();
    for i in 0..2 {
        let mut s = Mqtt::connect(addr, &format!("load-sub-{i}"), ProtocolVersion::V5).await;
        s.subscribe("load/#", QoS::AtLeastOnce).await;
        subscribers.push(s);
    }
    let mut publishers = Vec::new();
    for i in 0..PUBLISHERS {
        publishers.push(Mqtt::connect(addr, &format!("load-pub-{i}"), ProtocolVersion::V311).await);
    }
    for (i, p) in publishers.iter_mut().enumerate() {
        for _ in 0..EACH {
            p.publish(&format!("load/{i}/q0"), PAYLOAD, QoS::AtMostOnce, false).await;
            p.publish(&format!("load/{i}/q1"), PAYLOAD, QoS::AtLeastOnce, false).await;
        }
        p.publish(&format!("load/{i}/retained"), PAYLOAD, QoS::AtLeastOnce, true).await;
    }
    let published = PUBLISHERS * (2 * EACH + 1);
    let qos1_each = PUBLISHERS * (EACH + 1);
    for s in &mut subscribers {
        for _ in 0..published {
            s.next_publish().await.unwrap();
        }
    }

    let at = |topic: &str, delta: u64| before[topic] + delta as f64;
    sys.until("$SYS/broker/publish/messages/received", at("publish/messages/received", published)).await;
    let bytes = published * PAYLOAD.len() as u64;
    sys.until("$SYS/broker/publish/bytes/received", at("publish/bytes/received", bytes)).await;
    // Publishers: CONNECT and their PUBLISHes; subscribers: CONNECT, SUBSCRIBE and a PUBACK per QoS 1 copy.
    let packets_in = PUBLISHERS * (1 + published / PUBLISHERS) + 2 * (2 + qos1_each);
    sys.until("$SYS/broker/messages/received", at("messages/received", packets_in)).await;
    sys.until("$SYS/broker/retained messages/count", at("retained messages/count", PUBLISHERS)).await;
    sys.until("$SYS/broker/clients/connected", 1.0 + 2.0 + PUBLISHERS as f64).await;
    sys.until("$SYS/broker/clients/total", 1.0 + 2.0 + PUBLISHERS as f64).await;
    sys.until("$SYS/broker/clients/maximum", 1.0 + 2.0 + PUBLISHERS as f64).await;
    sys.until("$SYS/broker/subscriptions/count", 3.0).await;
    assert!(base(&sys, "bytes/received") >= at("bytes/received", bytes));

    // Sent: the copies, CONNACKs, SUBACKs and PUBACKs, plus the `$SYS` messages the reader got.
    let copies = 2 * published;
    sys.settle(|_| true).await;
    let reader_got = sys.received - reader_before;
    let sent = base(&sys, "publish/messages/sent") - before["publish/messages/sent"];
    assert!(sent >= copies as f64 && sent <= (copies + reader_got) as f64, "{sent} PUBLISH sent");
    let packets_out = copies + 2 + PUBLISHERS + 2 + qos1_each;
    let sent = base(&sys, "messages/sent") - before["messages/sent"];
    assert!(sent >= packets_out as f64 && sent <= (packets_out + reader_got) as f64, "{sent} packets sent");
    for load in ["messages/received", "publish/received", "bytes/received", "connections", "sockets"] {
        assert!(base(&sys, &format!("load/{load}/1min")) > 0.0, "load/{load}/1min");
    }
    broker.shutdown().await;
}
