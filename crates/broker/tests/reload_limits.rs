//! Test whether a reload (what SIGHUP does) puts new `[limits]` in force for clients already connected and
//! sessions already offline, and names the settings that only a restart changes.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use tern_client::{Client, ClientError, Events, QoS, ReasonCode};

const CONF: &str = "listener 1 127.0.0.1\nallow_anonymous true\n";

/// Rewrites the broker's configuration file as `CONF` plus `extra`, and reloads it.
fn reload_with(broker: &TestBroker, extra: &str) -> tern_broker::Reloaded {
    std::fs::write(&broker.config_path, format!("{CONF}{extra}")).unwrap();
    broker.reload().unwrap()
}

/// The topics of the messages that arrive before one on `end`.
async fn topics_until(events: &mut Events, end: &str) -> Vec<String> {
    let mut topics = Vec::new();
    loop {
        let message = next_message(events).await;
        if message.topic == end {
            return topics;
        }
        topics.push(message.topic.to_string());
    }
}

/// `message_size_limit` lowered by a reload: a connected 5.0 publisher is told 0x97 Quota exceeded in
/// PUBACK (0x95 Packet too large is not a PUBACK reason code, MQTT 5.0 3.4.2.1) and the message goes to
/// nobody; a connected 3.1.1 publisher's is dropped too.
#[tokio::test(flavor = "multi_thread")]
async fn a_lowered_message_size_limit_refuses_a_larger_publish_of_a_connected_client() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), CONF).await;
    let port = broker.port(0);
    let (subscriber, mut events) = connect(v5(port, "sub")).await;
    subscriber.subscribe("t/#", QoS::AtLeastOnce).await.unwrap();
    let (publisher, _e) = connect(v5(port, "pub")).await;
    let (old, _e) = connect(v311(port, "pub-311")).await;
    let large = "x".repeat(20);
    publisher.publish("t/before", large.clone(), QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.topic, "t/before");

    let reloaded = reload_with(&broker, "message_size_limit 10\n");
    assert!(reloaded.needs_restart.is_empty(), "{reloaded:?}");
    let refused = publisher.publish("t/large", large.clone(), QoS::AtLeastOnce, false).await;
    assert_eq!(refused.map(drop), Err(ClientError::Refused(ReasonCode::QUOTA_EXCEEDED)));
    old.publish("t/large-311", large, QoS::AtLeastOnce, false).await.unwrap();
    publisher.publish("t/small", "ten bytes!", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(topics_until(&mut events, "t/small").await, Vec::<String>::new());
}

/// Queue limits changed by a reload apply to a session that was already offline, from the next message.
#[tokio::test(flavor = "multi_thread")]
async fn lowered_queue_limits_apply_to_a_session_already_offline() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &format!("{CONF}max_queued_messages 100\n")).await;
    let port = broker.port(0);
    let persistent = || v5(port, "away").clean_start(false).session_expiry(600);
    let (away, _e) = connect(persistent()).await;
    away.subscribe("q/#", QoS::AtLeastOnce).await.unwrap();
    away.disconnect().await.unwrap();
    let shared = broker.running.shared();
    assert!(
        tern_test_support::eventually(|| shared.sessions.get("away").is_some_and(|s| !s.is_online())).await
    );

    // At most 3 queued, QoS 0 included: of 10 QoS 0 messages the first 3 are kept.
    reload_with(&broker, "max_queued_messages 3\nqueue_qos0_messages true\n");
    let publisher = Client::connect(v5(port, "pub")).await.unwrap().0;
    for i in 0..10 {
        publisher.publish(format!("q/{i}"), "m", QoS::AtMostOnce, false).await.unwrap();
    }
    // Acknowledged, so the QoS 0 messages before it were routed while the session was away.
    publisher.publish("elsewhere", "m", QoS::AtLeastOnce, false).await.unwrap();
    let (back, mut events) = connect(persistent()).await;
    // The marker goes in once the queue was sent (a QoS 1 message would evict a queued QoS 0 one).
    let session = shared.sessions.get("away").unwrap();
    assert!(tern_test_support::eventually(|| session.mailbox.lock().is_empty()).await);
    publisher.publish("q/end", "m", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(topics_until(&mut events, "q/end").await, ["q/0", "q/1", "q/2"]);
    drop(back);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_names_the_changed_settings_that_need_a_restart_and_applies_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), CONF).await;
    // In mosquitto.conf both are settings of the listener above them.
    let reloaded = reload_with(&broker, "max_connections 5\nmax_qos 1\nmessage_size_limit 10\n");
    assert_eq!(reloaded.needs_restart, ["max_connections (port 0)", "max_qos (port 0)"]);
    let (client, _e) = connect(v5(broker.port(0), "c")).await;
    // max_qos is still 2 (QoS 2 accepted), message_size_limit is 10.
    client.publish("t", "ok", QoS::ExactlyOnce, false).await.unwrap();
    let refused = client.publish("t", "x".repeat(11), QoS::AtLeastOnce, false).await;
    assert_eq!(refused.map(drop), Err(ClientError::Refused(ReasonCode::QUOTA_EXCEEDED)));
    // Said again at the next reload while the file still differs from what is in force.
    let again = reload_with(&broker, "max_connections 5\n");
    assert_eq!(again.needs_restart, ["max_connections (port 0)"]);
}
