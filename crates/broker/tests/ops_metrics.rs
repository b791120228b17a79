//! The Prometheus endpoint: the exposition parses with Python's prometheus_client parsers (the Prometheus
//! text parser and the strict OpenMetrics one), and every metric family moves as a scripted workload says.

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod ops_support;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use ops_support::{config, http, start, Mqtt};
use tern_codec::{Connect, ProtocolVersion, QoS};

/// Parses with both Python parsers; returns every sample as "name{k=v,...}" -> value (labels sorted).
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families
text = sys.stdin.read()
samples = {}
for family in text_string_to_metric_families(text):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        samples[f"{s.name}{{{labels}}}"] = s.value
types = {f.name: f.type for f in om_families(text)}
print(json.dumps({"samples": samples, "types": types}))
"#;

struct Scrape {
    samples: HashMap<String, f64>,
    types: HashMap<String, String>,
}

impl Scrape {
    fn get(&self, key: &str) -> f64 {
        *self.samples.get(key).unwrap_or_else(|| panic!("no sample {key}"))
    }
}

async fn scrape(http_addr: SocketAddr) -> Scrape {
    let response = http(http_addr, "GET", "/metrics", None, None).await;
    assert_eq!(response.status, 200);
    assert!(response.header("content-type").unwrap().starts_with("application/openmetrics-text"));
    assert!(response.body.ends_with("# EOF\n"));
    let mut python = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client (scripts/install-test-deps.sh)");
    python.stdin.take().unwrap().write_all(response.body.as_bytes()).unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parsers rejected the exposition: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let samples = parsed["samples"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
        .collect();
    let types = parsed["types"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    Scrape { samples, types }
}

#[tokio::test]
async fn metrics_parse_and_follow_a_scripted_workload() {
    let mut cfg = config();
    cfg.http.listen = Some("127.0.0.1:0".into());
    cfg.limits.max_queued_messages = 2;
    let (broker, addr) = start(cfg).await;
    let http_addr = broker.http_addr().unwrap();

    let before = scrape(http_addr).await;
    assert_eq!(before.get("tern_connections{}"), 0.0);
    assert_eq!(before.get("tern_publish_received_total{qos=1}"), 0.0);
    assert_eq!(before.get("tern_publish_latency_seconds_count{}"), 0.0);
    assert_eq!(before.types["tern_publish_latency_seconds"], "histogram");
    assert_eq!(before.types["tern_publish_received"], "counter");
    assert_eq!(before.types["tern_connections"], "gauge");
    assert_eq!(before.types["tern_build"], "info");

    // Workload: a subscriber, 5 QoS 1 and 2 QoS 0 messages, one retained; a persistent session that
    // goes offline and overflows its queue of 2 (QoS 1 is held up to twice the limit, then dropped).
    let mut sub = Mqtt::connect(addr, "sub", ProtocolVersion::V5).await;
    sub.subscribe("m/#", QoS::AtLeastOnce).await;
    let persistent = Connect { client_id: "away".into(), clean_start: false, ..Connect::default() };
    let (mut away, _) = Mqtt::connect_with(addr, persistent).await;
    away.subscribe("m/#", QoS::AtLeastOnce).await;
    away.disconnect().await;
    assert!(ops_support::eventually(|| broker.shared().clients.len() == 1).await);

    let mut publisher = Mqtt::connect(addr, "pub", ProtocolVersion::V311).await;
    for i in 0..5u8 {
        publisher.publish("m/q1", &[i; 7], QoS::AtLeastOnce, i == 0).await;
    }
    for _ in 0..2 {
        publisher.publish("m/q0", b"abc", QoS::AtMostOnce, false).await;
    }
    for _ in 0..7 {
        sub.next_publish().await.unwrap();
    }

    let after = scrape(http_addr).await;
    assert_eq!(after.get("tern_connections{}"), 2.0);
    assert_eq!(after.get("tern_connections_maximum{}"), 2.0);
    assert_eq!(after.get("tern_connections_accepted_total{}"), 3.0);
    assert_eq!(after.get("tern_sockets_opened_total{}"), 3.0);
    assert_eq!(after.get("tern_sessions{}"), 3.0);
    assert_eq!(after.get("tern_sessions_offline{}"), 1.0);
    assert_eq!(after.get("tern_subscriptions{}"), 2.0);
    assert_eq!(after.get("tern_retained_messages{}"), 1.0);
    assert_eq!(after.get("tern_publish_received_total{qos=1}"), 5.0);
    assert_eq!(after.get("tern_publish_received_total{qos=0}"), 2.0);
    assert_eq!(after.get("tern_publish_received_total{qos=2}"), 0.0);
    assert_eq!(after.get("tern_publish_received_bytes_total{qos=1}"), 35.0);
    assert_eq!(after.get("tern_publish_received_bytes_total{qos=0}"), 6.0);
    assert_eq!(after.get("tern_publish_sent_total{qos=1}"), 5.0);
    assert_eq!(after.get("tern_publish_sent_total{qos=0}"), 2.0);
    assert_eq!(after.get("tern_publish_sent_bytes_total{qos=1}"), 35.0);
    // The offline session: 4 QoS 1 queued, the fifth dropped (queue full); QoS 0 not queued offline.
    assert_eq!(after.get("tern_queued_messages{}"), 4.0);
    assert_eq!(after.get("tern_queue_depth_max{}"), 4.0);
    assert_eq!(after.get("tern_queued_bytes{}"), 4.0 * (4.0 + 7.0));
    assert_eq!(after.get("tern_publish_dropped_total{reason=queue_full}"), 1.0);
    assert_eq!(after.get("tern_publish_dropped_total{reason=offline}"), 2.0);
    assert_eq!(after.get("tern_publish_dropped_total{reason=memory}"), 0.0);
    assert_eq!(after.get("tern_publish_latency_seconds_count{}"), 7.0);
    assert_eq!(after.get("tern_publish_latency_seconds_bucket{le=+Inf}"), 7.0);
    assert_eq!(after.get("tern_routing_duration_seconds_count{}"), 7.0);
    assert!(after.get("tern_bytes_received_total{}") > before.get("tern_bytes_received_total{}"));
    assert!(after.get("tern_packets_sent_total{}") >= 7.0 + 5.0);
    assert!(after.get("tern_resident_memory_bytes{}") > 0.0);
    assert_eq!(after.get("tern_overloaded{}"), 0.0);

    // Refusals and protocol errors.
    let mut cfg_auth = Connect { protocol: ProtocolVersion::V5, client_id: "x".into(), ..Connect::default() };
    cfg_auth.properties.authentication_method = Some("SCRAM".into());
    let (_refused, ack) = Mqtt::connect_with(addr, cfg_auth).await;
    assert_eq!(ack.reason_code.0, 0x8C);
    let mut bad = Mqtt::connect(addr, "bad", ProtocolVersion::V5).await;
    // A second CONNECT is a protocol error [MQTT-3.1.0-2]: DISCONNECT 0x82.
    bad.send(&tern_codec::Packet::Connect(Box::new(Connect {
        protocol: ProtocolVersion::V5,
        ..Connect::default()
    })))
    .await;
    assert!(bad.recv_until(|p| matches!(p, tern_codec::Packet::Disconnect(_))).await.is_some());
    assert!(ops_support::eventually(|| broker.shared().clients.len() == 2).await);
    let errors = scrape(http_addr).await;
    assert_eq!(errors.get("tern_connections_refused_total{reason=handshake}"), 1.0);
    assert_eq!(errors.get("tern_packet_errors_total{reason=Protocol Error,reason_code=0x82}"), 1.0);
    broker.shutdown().await;
}

#[tokio::test]
async fn auth_failures_are_counted() {
    #[derive(Debug)]
    struct OnlyAlice;
    impl tern_broker::auth::Authenticator for OnlyAlice {
        fn authenticate(&self, info: &tern_broker::auth::ConnectInfo<'_>) -> tern_broker::auth::AuthDecision {
            if info.username == Some("alice") && info.password == Some(b"pw".as_slice()) {
                tern_broker::auth::AuthDecision::Allow
            } else {
                tern_broker::auth::AuthDecision::Deny(tern_codec::ReasonCode::BAD_USER_NAME_OR_PASSWORD)
            }
        }
    }
    let mut cfg = config();
    cfg.http.listen = Some("127.0.0.1:0".into());
    let broker = tern_broker::Broker::new(tern_test_support::in_memory(cfg))
        .with_authenticator(std::sync::Arc::new(OnlyAlice))
        .start()
        .await
        .unwrap();
    let addr = broker.local_addrs()[0];
    let wrong = Connect {
        client_id: "c".into(),
        username: Some("alice".into()),
        password: Some("nope".into()),
        ..Connect::default()
    };
    let (_c, ack) = Mqtt::connect_with(addr, wrong).await;
    assert_eq!(ack.reason_code.0, 0x86);
    let scrape = scrape(broker.http_addr().unwrap()).await;
    assert_eq!(scrape.get("tern_auth_failures_total{}"), 1.0);
    assert_eq!(scrape.get("tern_connections_refused_total{reason=auth}"), 1.0);
    broker.shutdown().await;
}

/// The store's commit histograms count one observation per batch written, with a sum that grows, after a
/// QoS 1 workload to a persistent session in `fsync` mode.
#[tokio::test]
async fn store_commit_histograms_grow_with_a_durable_workload() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.http.listen = Some("127.0.0.1:0".into());
    cfg.persistence.location = dir.path().join("tern-data");
    cfg.persistence.durability = tern_broker::config::Durability::Fsync;
    let (broker, addr) = start(cfg).await;
    let http_addr = broker.http_addr().unwrap();
    let before = scrape(http_addr).await;
    assert_eq!(before.types["tern_store_commit_seconds"], "histogram");
    assert_eq!(before.types["tern_store_write_seconds"], "histogram");

    let persistent = Connect { client_id: "keep".into(), clean_start: false, ..Connect::default() };
    let (mut keep, _) = Mqtt::connect_with(addr, persistent).await;
    keep.subscribe("d/#", QoS::AtLeastOnce).await;
    let mut publisher = Mqtt::connect(addr, "pub", ProtocolVersion::V311).await;
    for i in 0..10u8 {
        assert_eq!(publisher.publish("d/x", &[i; 16], QoS::AtLeastOnce, false).await, Some(0));
    }
    for _ in 0..10 {
        keep.next_publish().await.unwrap();
    }

    let after = scrape(http_addr).await;
    let batches = after.get("tern_store_batches_total{}") - before.get("tern_store_batches_total{}");
    assert!(batches >= 1.0);
    for name in ["tern_store_commit_seconds", "tern_store_write_seconds"] {
        let count = |s: &Scrape| s.get(&format!("{name}_count{{}}"));
        let sum = |s: &Scrape| s.get(&format!("{name}_sum{{}}"));
        assert_eq!(count(&after) - count(&before), batches, "{name}: one observation per batch");
        assert!(sum(&after) > sum(&before), "{name}: the sum grows");
        assert_eq!(after.get(&format!("{name}_bucket{{le=+Inf}}")), count(&after));
    }
    assert!(
        after.get("tern_store_commit_seconds_sum{}") >= after.get("tern_store_write_seconds_sum{}"),
        "a commit waits at least its own write"
    );
    broker.shutdown().await;
}
