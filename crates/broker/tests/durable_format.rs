//! The stored format is versioned: a store written by an earlier release still opens. `fixtures/store-v1`
//! was written by format version 1 (regenerate with `TERN_WRITE_FIXTURE=1 cargo test --test durable_format
//! -- --ignored` only when adding a new version, never over an old one).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tern_broker::config::{Config, Durability, ListenerConfig};
use tern_codec::{Connect, Packet, ProtocolVersion, QoS};
use tern_test_support::raw::{connect_packet, publish_packet};
use tern_test_support::{pid, RawClient, TestBroker};

const V5: ProtocolVersion = ProtocolVersion::V5;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-v1")
}

fn config(location: &Path) -> Config {
    let listener = ListenerConfig { port: 0, bind_address: Some("127.0.0.1".into()), ..Default::default() };
    let mut c = Config { listeners: vec![listener], ..Config::default() };
    c.persistence.durability = Durability::Fsync;
    c.persistence.location = location.to_path_buf();
    c
}

fn persistent(id: &str) -> Connect {
    let mut c = connect_packet(V5, id);
    c.clean_start = false;
    c.properties.session_expiry_interval = Some(u32::MAX);
    c
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("fixture").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[tokio::test]
async fn a_version_1_store_still_opens_with_its_sessions_queues_and_retained_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    copy_dir(&fixture(), &data);
    let broker = TestBroker::start(config(&data)).await;
    let (mut sub, ack) = RawClient::connect_accepted(broker.addr(), persistent("fixture-sub")).await;
    assert!(ack.session_present);
    let mut got = Vec::new();
    for _ in 0..5 {
        let p = sub.receive_and_ack().await;
        got.push((p.topic.to_string(), p.payload, p.qos));
    }
    let (two, one) = (QoS::ExactlyOnce, QoS::AtLeastOnce);
    let expected = [
        ("fx/a", "one", two),
        ("fx/a", "two", two),
        ("fx/a", "three", two),
        ("fx/r", "kept", one),
        ("fx/none", "x", two),
    ];
    assert_eq!(got, expected.map(|(t, p, q)| (t.to_owned(), p.into(), q)).to_vec());
    // The subscription is back in the router, and the retained message in its index.
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "later").await;
    publisher.publish_at("fx/b", "live", QoS::AtLeastOnce).await;
    assert_eq!(sub.receive_and_ack().await.payload, "live");
    let mut reader = RawClient::connect_ok(broker.addr(), V5, "reader").await;
    reader.subscribe("fx/r", QoS::AtLeastOnce).await;
    assert_eq!(reader.receive_and_ack().await.payload, "kept");
    // The inbound QoS 2 identifier 9 of `fixture-pub` still awaits PUBREL: a resent PUBLISH is a duplicate.
    let (mut p, _) = RawClient::connect_accepted(broker.addr(), persistent("fixture-pub")).await;
    let mut dup = publish_packet("fx/a", "two", QoS::ExactlyOnce);
    dup.packet_id = Some(pid(9));
    dup.dup = true;
    p.send(Packet::Publish(dup)).await;
    assert_eq!(p.expect_pubrec().await.packet_id, pid(9));
    sub.expect_nothing(Duration::from_millis(300)).await;
    broker.shutdown().await;
}

/// Writes `fixtures/store-v1` (see the module documentation).
#[tokio::test]
#[ignore = "writes the fixture; run by hand for a new format version"]
async fn write_format_fixture() {
    if std::env::var_os("TERN_WRITE_FIXTURE").is_none() {
        return;
    }
    let out = fixture();
    let _ = std::fs::remove_dir_all(&out);
    let broker = TestBroker::start(config(&out)).await;
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), persistent("fixture-sub")).await;
    sub.subscribe("fx/#", QoS::ExactlyOnce).await;
    sub.disconnect().await;
    let (mut publisher, _) = RawClient::connect_accepted(broker.addr(), persistent("fixture-pub")).await;
    for payload in ["one", "two", "three"] {
        publisher.publish_at("fx/a", payload, QoS::ExactlyOnce).await;
    }
    let mut retained = publish_packet("fx/r", "kept", QoS::AtLeastOnce);
    retained.retain = true;
    publisher.publish(retained).await;
    let mut open = publish_packet("fx/none", "x", QoS::ExactlyOnce);
    open.packet_id = Some(pid(9));
    publisher.send(Packet::Publish(open)).await;
    publisher.expect_pubrec().await;
    publisher.drop_connection();
    tokio::time::sleep(Duration::from_millis(200)).await;
    broker.shutdown().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Journals are preallocated with zeros: keep only their data.
    for entry in std::fs::read_dir(&out).expect("out").flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "jnl") {
            let bytes = std::fs::read(&p).expect("read");
            let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            std::fs::write(&p, &bytes[..end]).expect("trim");
        }
    }
    // The engine expects its (empty) lock file.
    std::fs::write(out.join("lock"), b"").expect("lock file");
}
