//! Test whether shared subscriptions (`$share/{group}/{filter}`, MQTT 5.0 section 4.8.2) work for MQTT 5
//! and 3.1.1 clients alike: each message to exactly one member, by the configured policy, members at their
//! own granted QoS, no retained messages on a shared subscribe, and messages of a member whose session ends
//! unacknowledged going to another member — with our raw client and with paho-mqtt.

use std::collections::HashMap;
use std::time::Duration;

use tern_broker::config::{Config, SharedSubscriptionPolicy};
use tern_codec::{Ack, Packet, ProtocolVersion, Publish, QoS, ReasonCode};
use tern_test_support::process::{require_python_module, require_tool, run_checked, workspace_root};
use tern_test_support::{connect_packet, publish_packet, Event, RawClient, TestBroker};

const QUIET: Duration = Duration::from_millis(300);

async fn member(
    broker: &TestBroker,
    version: ProtocolVersion,
    id: &str,
    filter: &str,
    qos: QoS,
) -> RawClient {
    let mut client = RawClient::connect_ok(broker.addr(), version, id).await;
    let suback = client.subscribe(filter, qos).await;
    assert_eq!(suback.reason_codes, vec![ReasonCode::granted(qos)]);
    client
}

/// Every PUBLISH `client` receives until it is quiet for [`QUIET`], acknowledged.
async fn drain(client: &mut RawClient) -> Vec<Publish> {
    let mut out = Vec::new();
    loop {
        match client.recv(QUIET).await {
            Event::Packet(Packet::Publish(p)) => {
                client.ack(&p).await;
                out.push(p);
            }
            Event::Timeout => return out,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn payloads(publishes: &[Publish]) -> Vec<String> {
    publishes.iter().map(|p| String::from_utf8_lossy(&p.payload).into_owned()).collect()
}

async fn publish_n(broker: &TestBroker, topic: &str, n: usize, qos: QoS) {
    let mut publisher = RawClient::connect_ok(broker.addr(), ProtocolVersion::V5, "publisher").await;
    for i in 0..n {
        publisher.publish_at(topic, format!("m{i}"), qos).await;
    }
}

#[tokio::test]
async fn each_message_goes_to_exactly_one_member_round_robin_for_v5_and_v311_members_alike() {
    let broker = TestBroker::start_default().await;
    let mut a = member(&broker, ProtocolVersion::V5, "a", "$share/g/jobs/+", QoS::AtLeastOnce).await;
    let mut b = member(&broker, ProtocolVersion::V311, "b", "$share/g/jobs/+", QoS::AtLeastOnce).await;
    publish_n(&broker, "jobs/1", 10, QoS::AtLeastOnce).await;
    let (got_a, got_b) = (drain(&mut a).await, drain(&mut b).await);
    assert_eq!((got_a.len(), got_b.len()), (5, 5), "round robin splits evenly");
    let mut all = payloads(&got_a);
    all.extend(payloads(&got_b));
    all.sort();
    let mut expected: Vec<_> = (0..10).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(all, expected, "every message exactly once");
}

#[tokio::test]
async fn a_v311_only_group_shares_like_a_v5_group_and_groups_are_independent() {
    let broker = TestBroker::start_default().await;
    let mut a = member(&broker, ProtocolVersion::V311, "a", "$share/one/t", QoS::AtMostOnce).await;
    let mut b = member(&broker, ProtocolVersion::V311, "b", "$share/one/t", QoS::AtMostOnce).await;
    let mut c = member(&broker, ProtocolVersion::V311, "c", "$share/two/t", QoS::AtMostOnce).await;
    let mut plain = member(&broker, ProtocolVersion::V311, "plain", "t", QoS::AtMostOnce).await;
    publish_n(&broker, "t", 4, QoS::AtMostOnce).await;
    assert_eq!(drain(&mut a).await.len() + drain(&mut b).await.len(), 4, "group one: each message once");
    assert_eq!(drain(&mut c).await.len(), 4, "group two gets its own copy");
    assert_eq!(drain(&mut plain).await.len(), 4, "a plain subscriber gets every message");
}

#[tokio::test]
async fn retained_messages_are_not_sent_on_a_shared_subscribe_mqtt_4_8_2() {
    let broker = TestBroker::start_default().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), ProtocolVersion::V5, "p").await;
    let mut retained = publish_packet("r/1", "kept", QoS::AtLeastOnce);
    retained.retain = true;
    publisher.publish(retained).await;
    for version in [ProtocolVersion::V5, ProtocolVersion::V311] {
        let mut shared =
            member(&broker, version, &format!("s{}", version.level()), "$share/g/r/#", QoS::AtLeastOnce)
                .await;
        shared.expect_nothing(QUIET).await;
    }
    let mut plain = member(&broker, ProtocolVersion::V5, "plain", "r/#", QoS::AtLeastOnce).await;
    assert_eq!(plain.expect_publish().await.payload, "kept", "the retained message exists");
}

#[tokio::test]
async fn each_member_receives_at_its_own_granted_qos_mqtt_4_8_2_3() {
    let broker = TestBroker::start_default().await;
    let mut low = member(&broker, ProtocolVersion::V5, "low", "$share/g/q", QoS::AtMostOnce).await;
    let mut high = member(&broker, ProtocolVersion::V5, "high", "$share/g/q", QoS::ExactlyOnce).await;
    publish_n(&broker, "q", 4, QoS::ExactlyOnce).await;
    let (got_low, got_high) = (drain(&mut low).await, drain(&mut high).await);
    assert_eq!(got_low.len() + got_high.len(), 4);
    assert!(got_low.iter().all(|p| p.qos == QoS::AtMostOnce), "{got_low:?}");
    assert!(got_high.iter().all(|p| p.qos == QoS::ExactlyOnce), "{got_high:?}");
}

async fn broker_with(policy: SharedSubscriptionPolicy) -> TestBroker {
    let mut config = Config::default();
    config.limits.shared_subscription_policy = policy;
    TestBroker::start(config).await
}

/// Publishes `per_publisher` messages from each publisher on `topics` and returns who got what: member ->
/// payloads.
async fn spread(
    broker: &TestBroker,
    members: &mut [RawClient],
    publishers: &[&str],
    topics: &[&str],
) -> Vec<Vec<String>> {
    for p in publishers {
        let mut publisher = RawClient::connect_ok(broker.addr(), ProtocolVersion::V5, p).await;
        for t in topics {
            for i in 0..3 {
                publisher.publish_at(t, format!("{p}|{t}|{i}"), QoS::AtLeastOnce).await;
            }
        }
    }
    let mut out = Vec::new();
    for m in members.iter_mut() {
        out.push(payloads(&drain(m).await));
    }
    out
}

#[tokio::test]
async fn hash_client_id_keeps_each_publishers_messages_on_one_member() {
    let broker = broker_with(SharedSubscriptionPolicy::HashClientId).await;
    let mut members = Vec::new();
    for id in ["m1", "m2", "m3"] {
        members.push(member(&broker, ProtocolVersion::V5, id, "$share/g/h/+", QoS::AtLeastOnce).await);
    }
    let publishers = ["p1", "p2", "p3", "p4", "p5", "p6"];
    let got = spread(&broker, &mut members, &publishers, &["h/a", "h/b"]).await;
    assert_eq!(got.iter().map(Vec::len).sum::<usize>(), publishers.len() * 6);
    let mut owner: HashMap<String, usize> = HashMap::new();
    for (m, payloads) in got.iter().enumerate() {
        for p in payloads {
            let publisher = p.split('|').next().unwrap().to_owned();
            assert_eq!(*owner.entry(publisher.clone()).or_insert(m), m, "{publisher} went to two members");
        }
    }
}

#[tokio::test]
async fn hash_topic_keeps_each_topics_messages_on_one_member() {
    let broker = broker_with(SharedSubscriptionPolicy::HashTopic).await;
    let mut members = Vec::new();
    for id in ["m1", "m2", "m3"] {
        members.push(member(&broker, ProtocolVersion::V311, id, "$share/g/h/+", QoS::AtLeastOnce).await);
    }
    let topics = ["h/a", "h/b", "h/c", "h/d", "h/e"];
    let got = spread(&broker, &mut members, &["p1", "p2"], &topics).await;
    assert_eq!(got.iter().map(Vec::len).sum::<usize>(), topics.len() * 6);
    let mut owner: HashMap<String, usize> = HashMap::new();
    for (m, payloads) in got.iter().enumerate() {
        for p in payloads {
            let topic = p.split('|').nth(1).unwrap().to_owned();
            assert_eq!(*owner.entry(topic.clone()).or_insert(m), m, "{topic} went to two members");
        }
    }
}

#[tokio::test]
async fn random_gives_each_message_to_exactly_one_member() {
    let broker = broker_with(SharedSubscriptionPolicy::Random).await;
    let mut a = member(&broker, ProtocolVersion::V5, "a", "$share/g/r", QoS::AtLeastOnce).await;
    let mut b = member(&broker, ProtocolVersion::V5, "b", "$share/g/r", QoS::AtLeastOnce).await;
    publish_n(&broker, "r", 40, QoS::AtLeastOnce).await;
    let (got_a, got_b) = (drain(&mut a).await, drain(&mut b).await);
    assert_eq!(got_a.len() + got_b.len(), 40);
    assert!(!got_a.is_empty() && !got_b.is_empty(), "40 random picks reach both members");
}

/// A v5 member that takes one message at a time (Receive Maximum 1) and never acknowledges.
async fn slow_member(broker: &TestBroker, id: &str, qos: QoS) -> RawClient {
    let mut connect = connect_packet(ProtocolVersion::V5, id);
    connect.properties.receive_maximum = Some(1);
    let (mut client, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    client.subscribe("$share/g/work", qos).await;
    client
}

#[tokio::test]
async fn a_members_unacknowledged_qos1_messages_go_to_another_member_when_its_session_ends() {
    let broker = TestBroker::start_default().await;
    let mut leaving = slow_member(&broker, "leaving", QoS::AtLeastOnce).await;
    publish_n(&broker, "work", 3, QoS::AtLeastOnce).await;
    // One in flight (not acknowledged), two queued behind Receive Maximum 1.
    let inflight = leaving.expect_publish().await;
    assert_eq!(inflight.payload, "m0");
    leaving.expect_nothing(QUIET).await;
    let mut staying =
        member(&broker, ProtocolVersion::V311, "staying", "$share/g/work", QoS::AtLeastOnce).await;
    // The session (expiry 0) ends with the connection.
    leaving.drop_connection();
    let got = drain(&mut staying).await;
    assert_eq!(payloads(&got), ["m0", "m1", "m2"], "in order, none lost");
    assert!(got.iter().all(|p| !p.dup), "a first delivery to this client has DUP 0 [MQTT-3.3.1-3]");
    assert_eq!(tern_broker::stats::Stats::get(&broker.shared().stats.shared_redelivered), 3);
}

#[tokio::test]
async fn a_qos2_message_already_sent_is_never_given_to_another_member_mqtt_4_8_2_5() {
    let broker = TestBroker::start_default().await;
    let mut leaving = slow_member(&broker, "leaving", QoS::ExactlyOnce).await;
    publish_n(&broker, "work", 2, QoS::ExactlyOnce).await;
    assert_eq!(leaving.expect_publish().await.payload, "m0");
    let mut staying =
        member(&broker, ProtocolVersion::V5, "staying", "$share/g/work", QoS::ExactlyOnce).await;
    leaving.drop_connection();
    // m1 was only queued: its delivery had not started, so another member gets it; m0 is not resent.
    assert_eq!(payloads(&drain(&mut staying).await), ["m1"]);
}

#[tokio::test]
async fn a_qos2_shared_delivery_is_completed_when_the_member_reconnects_mqtt_4_8_2_4() {
    let broker = TestBroker::start_default().await;
    let mut connect = connect_packet(ProtocolVersion::V5, "persistent");
    connect.properties.session_expiry_interval = Some(60);
    let (mut client, _) = RawClient::connect_accepted(broker.addr(), connect.clone()).await;
    client.subscribe("$share/g/two", QoS::ExactlyOnce).await;
    let mut other = member(&broker, ProtocolVersion::V5, "other", "$share/g/two", QoS::ExactlyOnce).await;
    // Round robin: the first message goes to the first member.
    publish_n(&broker, "two", 1, QoS::ExactlyOnce).await;
    let first = client.expect_publish().await;
    client.drop_connection();
    tokio::time::sleep(QUIET).await;
    connect.clean_start = false;
    let (mut client, connack) = RawClient::connect_accepted(broker.addr(), connect).await;
    assert!(connack.session_present);
    let again = client.expect_publish().await;
    assert!(again.dup, "[MQTT-3.3.1-1] a re-delivery has DUP 1");
    assert_eq!((again.packet_id, again.payload.clone()), (first.packet_id, first.payload.clone()));
    client.ack(&again).await;
    other.expect_nothing(QUIET).await;
}

#[tokio::test]
async fn a_refusing_puback_to_a_shared_delivery_does_not_send_it_elsewhere_mqtt_4_8_2_6() {
    let broker = TestBroker::start_default().await;
    let mut refuser = member(&broker, ProtocolVersion::V5, "refuser", "$share/g/x", QoS::AtLeastOnce).await;
    let mut other = member(&broker, ProtocolVersion::V5, "other", "$share/g/x", QoS::AtLeastOnce).await;
    publish_n(&broker, "x", 1, QoS::AtLeastOnce).await;
    let publish = refuser.expect_publish().await;
    let mut ack = Ack::new(publish.packet_id.unwrap());
    ack.reason_code = ReasonCode::UNSPECIFIED_ERROR;
    refuser.send(Packet::PubAck(ack)).await;
    refuser.disconnect().await;
    other.expect_nothing(QUIET).await;
}

#[tokio::test]
async fn paho_v5_and_v311_members_share_one_group() {
    let python = require_tool("python3");
    require_python_module("paho.mqtt.enums");
    let broker = TestBroker::start_default().await;
    let mut command = tokio::process::Command::new(python);
    command.arg(workspace_root().join("tests/interop/paho_mqtt5.py")).args([
        "--port",
        &broker.port().to_string(),
        "shared",
    ]);
    let output = run_checked(command, Duration::from_secs(60)).await;
    assert!(output.contains("ok shared"), "{output}");
}

/// MQTT 5.0 4.8.2: a client with a non-shared and a shared subscription that both match gets one copy by
/// the non-shared subscription and, as the group's only member, the group's copy as well: two in all, each
/// at the QoS its subscription granted.
#[tokio::test]
async fn a_client_with_a_plain_and_a_shared_match_gets_a_copy_for_each() {
    let broker = TestBroker::start_default().await;
    let mut client = member(&broker, ProtocolVersion::V5, "both", "plant/1/temp", QoS::AtMostOnce).await;
    let suback = client.subscribe("$share/g/plant/+/temp", QoS::AtLeastOnce).await;
    assert_eq!(suback.reason_codes, vec![ReasonCode::GRANTED_QOS_1]);
    publish_n(&broker, "plant/1/temp", 3, QoS::AtLeastOnce).await;
    let got = drain(&mut client).await;
    let mut qos: Vec<(String, QoS)> =
        got.iter().map(|p| (String::from_utf8_lossy(&p.payload).into_owned(), p.qos)).collect();
    qos.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.as_u8().cmp(&b.1.as_u8())));
    let expected: Vec<(String, QoS)> = (0..3)
        .flat_map(|i| [(format!("m{i}"), QoS::AtMostOnce), (format!("m{i}"), QoS::AtLeastOnce)])
        .collect();
    assert_eq!(qos, expected);
}
