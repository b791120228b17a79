//! Many clients at once on a multi-threaded runtime: concurrent publishers and subscribers lose and
//! duplicate nothing at QoS 2 and keep each publisher's order [MQTT-4.6.0-5]; a storm of connections with
//! one client id leaves exactly one of them connected [MQTT-3.1.4-3]; clients that come and go leave nothing
//! behind. Bounded in clients and messages.

use std::collections::HashMap;
use std::time::Duration;

use tern_broker::config::Config;
use tern_broker::stats::Stats;
use tern_codec::{Connect, Packet, ProtocolVersion, QoS, ReasonCode};
use tern_test_support::raw::connect_packet;
use tern_test_support::{Event, RawClient, TestBroker};

const PUBLISHERS: usize = 8;
const MESSAGES: usize = 150;
const SUBSCRIBERS: usize = 4;

/// [MQTT-4.3.3], [MQTT-4.6.0-5] Eight publishers and four subscribers at QoS 2, all at once: every
/// subscriber gets every message exactly once, each publisher's messages in the order they were sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_and_subscribers_get_every_message_once_in_order() {
    let mut config = Config::default();
    config.limits.max_queued_messages = 100_000; // this test is about correctness, not queue limits
    let broker = TestBroker::start(config).await;
    let addr = broker.addr();
    let mut subscribers = Vec::new();
    for s in 0..SUBSCRIBERS {
        let version = if s % 2 == 0 { ProtocolVersion::V311 } else { ProtocolVersion::V5 };
        let mut sub = RawClient::connect_ok(addr, version, &format!("load-sub{s}")).await;
        sub.subscribe("load/#", QoS::ExactlyOnce).await;
        subscribers.push(tokio::spawn(async move {
            let mut next: HashMap<String, usize> = HashMap::new();
            for _ in 0..PUBLISHERS * MESSAGES {
                let got = sub.receive_and_ack().await;
                let text = String::from_utf8(got.payload.to_vec()).expect("utf-8 payload");
                let (publisher, n) = text.split_once(':').expect("publisher:n");
                let n: usize = n.parse().expect("number");
                let expected = next.entry(publisher.to_owned()).or_default();
                assert_eq!(n, *expected, "subscriber {s}: from {publisher}, got {n} after {}", *expected);
                *expected += 1;
                assert_eq!(got.qos, QoS::ExactlyOnce);
            }
            sub.expect_nothing(Duration::from_millis(300)).await;
            next
        }));
    }
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let version = if p % 2 == 0 { ProtocolVersion::V5 } else { ProtocolVersion::V311 };
        publishers.push(tokio::spawn(async move {
            let mut publisher = RawClient::connect_ok(addr, version, &format!("load-pub{p}")).await;
            for n in 0..MESSAGES {
                publisher.publish_at(&format!("load/{p}"), format!("p{p}:{n}"), QoS::ExactlyOnce).await;
            }
            publisher.disconnect().await;
        }));
    }
    for publisher in publishers {
        publisher.await.expect("publisher");
    }
    for subscriber in subscribers {
        let counts = subscriber.await.expect("subscriber");
        assert_eq!(counts.len(), PUBLISHERS);
        assert!(counts.values().all(|&n| n == MESSAGES));
    }
}

/// [MQTT-3.1.4-3] Twelve connections with the same client id at once: each new one takes the session over,
/// every connection but one is told 0x8E Session taken over and closed, and the one left is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_storm_leaves_exactly_one_connection() {
    let broker = TestBroker::start_default().await;
    let addr = broker.addr();
    let connect = Connect {
        clean_start: false,
        properties: tern_codec::Properties { session_expiry_interval: Some(60), ..Default::default() },
        ..connect_packet(ProtocolVersion::V5, "storm")
    };
    // The session's subscription, made first: it survives every takeover.
    let (mut first, _) = RawClient::connect_accepted(addr, connect.clone()).await;
    first.subscribe("storm/t", QoS::AtMostOnce).await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let connect = connect.clone();
        tasks.push(tokio::spawn(async move {
            let (mut client, ack) = RawClient::connect_accepted(addr, connect).await;
            assert!(ack.session_present);
            match client.recv(Duration::from_secs(3)).await {
                Event::Packet(Packet::Disconnect(d)) => {
                    assert_eq!(d.reason_code, ReasonCode::SESSION_TAKEN_OVER);
                    None
                }
                Event::Timeout => Some(client),
                other => panic!("unexpected {other:?}"),
            }
        }));
    }
    first.expect_disconnect(ReasonCode::SESSION_TAKEN_OVER).await;
    let mut survivors = Vec::new();
    for task in tasks {
        if let Some(client) = task.await.expect("connection task") {
            survivors.push(client);
        }
    }
    assert_eq!(survivors.len(), 1, "exactly one connection keeps the session");
    let mut survivor = survivors.pop().expect("one survivor");
    assert_eq!(broker.shared().sessions.len(), 1);
    assert_eq!(Stats::get(&broker.shared().stats.clients_connected), 1);
    let mut publisher = RawClient::connect_ok(addr, ProtocolVersion::V311, "storm-pub").await;
    publisher.publish_qos0("storm/t", "to the survivor").await;
    assert_eq!(survivor.expect_publish().await.payload, "to the survivor");
    survivor.expect_nothing(Duration::from_millis(300)).await;
}

/// Clients that connect and leave, one after another, leave no task behind: the broker holds tasks for the
/// connections that are open, not for every connection it ever served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_ended_leave_no_task_behind() {
    let broker = TestBroker::start_default().await;
    let addr = broker.addr();
    for n in 0..200 {
        let version = if n % 2 == 0 { ProtocolVersion::V311 } else { ProtocolVersion::V5 };
        let client = RawClient::connect_ok(addr, version, &format!("churn{n}")).await;
        if n % 3 == 0 {
            client.drop_connection();
        } else {
            client.disconnect().await;
        }
    }
    let stays = RawClient::connect_ok(addr, ProtocolVersion::V311, "stays").await;
    // The last few connections may still be closing; the 200 before them are gone.
    let held = broker.running().connection_tasks();
    assert!(held <= 20, "{held} connection tasks held for 1 open connection after 200 came and went");
    drop(stays);
}
