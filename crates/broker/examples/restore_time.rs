//! How long a restart takes with a large store: fills `SESSIONS` offline persistent sessions with
//! `PER_SESSION` queued QoS 1 messages each through a real broker (over TCP), stops it, and times the
//! start of a new broker on the same store (state rebuilt before the listeners open).
//!
//! `cargo run --release -p tern-broker --example restore_time -- [SESSIONS [PER_SESSION [DIR]]]`
//! (defaults: 1000 sessions x 1000 messages = 1 million, in a temporary directory).

use std::time::{Duration, Instant};

use tern_broker::config::{Config, Durability, ListenerConfig};
use tern_broker::Broker;
use tern_codec::{Connect, Packet, ProtocolVersion, Publish, QoS};
use tern_test_support::raw::connect_packet;
use tern_test_support::RawClient;

fn config(dir: &std::path::Path) -> Config {
    let listener = ListenerConfig { port: 0, bind_address: Some("127.0.0.1".into()), ..Default::default() };
    let mut c = Config { listeners: vec![listener], ..Config::default() };
    c.security.allow_anonymous = Some(true);
    c.sys_interval = 0;
    c.limits.max_queued_messages = 0;
    c.persistence.durability = Durability::Buffered;
    c.persistence.location = dir.to_path_buf();
    c
}

fn persistent(id: &str) -> Connect {
    Connect { clean_start: false, ..connect_packet(ProtocolVersion::V311, id) }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sessions: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let per_session: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = args.get(2).map_or_else(|| temp.path().join("data"), std::path::PathBuf::from);

    let broker = Broker::new(config(&dir)).start().await.expect("broker starts");
    let addr = broker.local_addrs()[0];
    for s in 0..sessions {
        let (mut sub, _) = RawClient::connect_accepted(addr, persistent(&format!("s{s}"))).await;
        sub.subscribe(&format!("r/{s}"), QoS::AtLeastOnce).await;
        sub.disconnect().await;
    }
    let filled = Instant::now();
    let mut publisher = RawClient::connect_ok(addr, ProtocolVersion::V311, "filler").await;
    let window = 500;
    let total = sessions * per_session;
    let mut sent = 0;
    while sent < total {
        let n = window.min(total - sent);
        for i in sent..sent + n {
            let mut p = Publish::new(format!("r/{}", i % sessions), vec![b'x'; 64]);
            p.qos = QoS::AtLeastOnce;
            p.packet_id = std::num::NonZeroU16::new((i % 60_000 + 1) as u16);
            publisher.send(Packet::Publish(p)).await;
        }
        for _ in 0..n {
            publisher.expect_puback().await;
        }
        sent += n;
    }
    let fill_secs = filled.elapsed().as_secs_f64();
    println!(
        "queued {total} messages for {sessions} offline sessions in {fill_secs:.1} s ({:.0} msg/s)",
        total as f64 / fill_secs
    );
    drop(publisher);
    broker.shutdown().await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let broker = Broker::new(config(&dir)).start().await.expect("broker restarts");
    let took = started.elapsed();
    let queued: usize = broker.shared().sessions.all().iter().map(|s| s.queued()).sum();
    println!(
        "restart with {queued} queued messages in {} sessions: {:.2} s until listening",
        broker.shared().sessions.len(),
        took.as_secs_f64()
    );
    let rss = |field: &str| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
            })
            .unwrap_or_default()
    };
    println!(
        "resident memory after the restart: {} kB (peak of the whole run {} kB)",
        rss("VmRSS:"),
        rss("VmHWM:")
    );
    broker.shutdown().await;
}
