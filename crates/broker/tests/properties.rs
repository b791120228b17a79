//! MQTT 5.0 properties over real sockets: what a publisher sets reaches subscribers unchanged (user
//! properties, payload format, content type, response topic, correlation data), message expiry counts down
//! and drops stale messages, topic aliases from the client resolve, subscription identifiers come back,
//! reason strings follow Request Problem Information (MQTT 5.0 sections 3.1.2.11, 3.3.2.3, 3.8.2.1).

use std::time::Duration;

use tern_broker::config::Config;
use tern_codec::{Bytes, Packet, ProtocolVersion, Publish, QoS, ReasonCode};
use tern_test_support::raw::{connect_packet, qos_options, subscribe_packet};
use tern_test_support::{RawClient, TestBroker};

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const QUIET: Duration = Duration::from_millis(300);

/// [MQTT-3.3.2-17], [MQTT-3.3.2-18] User properties are forwarded unchanged and in order (repeated keys
/// included); [MQTT-3.3.2-4], [MQTT-3.3.2-15], [MQTT-3.3.2-16], [MQTT-3.3.2-20] Payload Format Indicator,
/// Response Topic, Correlation Data and Content Type too. A 3.1.1 subscriber gets the bare message.
#[tokio::test]
async fn publish_properties_reach_subscribers_unchanged_mqtt_3_3_2_17() {
    let broker = TestBroker::start_default().await;
    let mut sub5 = RawClient::connect_ok(broker.addr(), V5, "props5").await;
    sub5.subscribe("props/t", QoS::AtLeastOnce).await;
    let mut sub3 = RawClient::connect_ok(broker.addr(), V311, "props3").await;
    sub3.subscribe("props/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "props-pub").await;
    let mut publish = Publish { qos: QoS::AtLeastOnce, ..Publish::new("props/t", "{\"t\": 21.5}") };
    let p = &mut publish.properties;
    p.user_properties = vec![
        ("z".into(), "last?".into()),
        ("a".into(), "1".into()),
        ("a".into(), "2".into()),
        ("ü".into(), "".into()),
    ];
    p.payload_format_indicator = Some(true);
    p.content_type = Some("application/json".into());
    p.response_topic = Some("props/reply".into());
    p.correlation_data = Some(Bytes::from_static(&[0, 1, 2, 255]));
    let sent = publish.properties.clone();
    publisher.publish(publish).await;

    let got = sub5.receive_and_ack().await;
    assert_eq!(got.properties.user_properties, sent.user_properties);
    assert_eq!(got.properties.payload_format_indicator, sent.payload_format_indicator);
    assert_eq!(got.properties.content_type, sent.content_type);
    assert_eq!(got.properties.response_topic, sent.response_topic);
    assert_eq!(got.properties.correlation_data, sent.correlation_data);
    assert_eq!(got.properties.topic_alias, None);
    assert_eq!(sub3.receive_and_ack().await.payload, "{\"t\": 21.5}");
}

/// User properties of a retained message are kept with it and sent with it on subscribe.
#[tokio::test]
async fn retained_message_keeps_its_user_properties() {
    let broker = TestBroker::start_default().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "rprops-pub").await;
    let mut publish = Publish { retain: true, ..Publish::new("rprops/t", "v") };
    publish.properties.user_properties = vec![("origin".into(), "sensor-7".into())];
    publisher.publish(publish).await;
    let mut sub = RawClient::connect_ok(broker.addr(), V5, "rprops").await;
    sub.subscribe("rprops/t", QoS::AtMostOnce).await;
    let got = sub.expect_publish().await;
    assert!(got.retain);
    assert_eq!(got.properties.user_properties, vec![("origin".into(), "sensor-7".into())]);
}

/// [MQTT-3.3.2-6] The Message Expiry Interval forwarded is what is left of it; [MQTT-3.3.2-5] a message that
/// expired while queued for an offline session is not delivered.
#[tokio::test]
async fn message_expiry_counts_down_and_expired_messages_are_not_delivered_mqtt_3_3_2_5() {
    let broker = TestBroker::start_default().await;
    let persistent = {
        let mut c = connect_packet(V5, "expiry-sub");
        c.clean_start = false;
        c.properties.session_expiry_interval = Some(60);
        c
    };
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), persistent.clone()).await;
    sub.subscribe("mexp/#", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "expiry-pub").await;
    let mut short = Publish { qos: QoS::AtLeastOnce, ..Publish::new("mexp/short", "stale") };
    short.properties.message_expiry_interval = Some(1);
    publisher.publish(short).await;
    let mut long = Publish { qos: QoS::AtLeastOnce, ..Publish::new("mexp/long", "fresh") };
    long.properties.message_expiry_interval = Some(30);
    publisher.publish(long).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let (mut sub, ack) = RawClient::connect_accepted(broker.addr(), persistent).await;
    assert!(ack.session_present);
    let got = sub.receive_and_ack().await;
    assert_eq!(got.payload, "fresh");
    let left = got.properties.message_expiry_interval.expect("expiry forwarded");
    assert!((1..=28).contains(&left), "{left} s left of 30 after 2 s offline");
    sub.expect_nothing(QUIET).await;
}

/// [MQTT-3.3.2-5] An online subscriber whose Receive Maximum is used up: a message that expires while it
/// waits behind the full window is never sent; one that does not arrives with what is left of its interval.
#[tokio::test]
async fn message_expiring_behind_a_full_receive_maximum_is_not_delivered_mqtt_3_3_2_5() {
    let broker = TestBroker::start_default().await;
    let mut connect = connect_packet(V5, "expiry-window");
    connect.properties.receive_maximum = Some(1);
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    sub.subscribe("mwin/#", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "expiry-window-pub").await;
    publisher.publish_at("mwin/first", "holds the window", QoS::AtLeastOnce).await;
    let first = sub.expect_publish().await;
    let mut short = Publish { qos: QoS::AtLeastOnce, ..Publish::new("mwin/short", "stale") };
    short.properties.message_expiry_interval = Some(1);
    publisher.publish(short).await;
    let mut long = Publish { qos: QoS::AtLeastOnce, ..Publish::new("mwin/long", "fresh") };
    long.properties.message_expiry_interval = Some(30);
    publisher.publish(long).await;
    sub.expect_nothing(QUIET).await; // The window is full: both wait.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    sub.ack(&first).await;
    let got = sub.expect_publish().await;
    assert_eq!(got.payload, "fresh", "the expired message must not be sent");
    let left = got.properties.message_expiry_interval.expect("expiry forwarded");
    assert!((1..=29).contains(&left), "{left} s left of 30 after ~2 s waiting");
    sub.ack(&got).await;
    sub.expect_nothing(QUIET).await;
}

/// (5.0 3.3.2.3.4 Topic Alias) A client may set a topic alias with a topic and then send an empty topic
/// with the alias: the broker routes both to the full topic.
#[tokio::test]
async fn client_topic_alias_is_resolved() {
    let broker = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(broker.addr(), V311, "alias-sub").await;
    sub.subscribe("alias/long/topic/name", QoS::AtMostOnce).await;
    let (mut publisher, ack) =
        RawClient::connect_accepted(broker.addr(), connect_packet(V5, "alias-pub")).await;
    assert!(ack.properties.topic_alias_maximum.is_some_and(|m| m >= 1));
    let mut first = Publish::new("alias/long/topic/name", "set");
    first.properties.topic_alias = Some(1);
    publisher.send(Packet::Publish(first)).await;
    let mut second = Publish::new("", "used");
    second.properties.topic_alias = Some(1);
    publisher.send(Packet::Publish(second)).await;
    for payload in ["set", "used"] {
        let got = sub.expect_publish().await;
        assert_eq!((got.topic.as_ref(), got.payload.as_ref()), ("alias/long/topic/name", payload.as_bytes()));
    }
}

/// [MQTT-3.3.4-3] (5.0 Subscription Identifier) A message is delivered with the identifier of the subscription
/// that matched it; the identifier of the publisher's own PUBLISH is never forwarded.
#[tokio::test]
async fn subscription_identifier_is_returned_with_matching_messages() {
    let broker = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(broker.addr(), V5, "subid").await;
    let mut subscribe = subscribe_packet(sub.next_packet_id(), &[("subid/+", qos_options(QoS::AtMostOnce))]);
    subscribe.properties.subscription_identifiers = vec![42];
    sub.send(Packet::Subscribe(subscribe)).await;
    sub.expect_suback().await;
    let mut plain = subscribe_packet(sub.next_packet_id(), &[("other/t", qos_options(QoS::AtMostOnce))]);
    plain.properties = Default::default();
    sub.send(Packet::Subscribe(plain)).await;
    sub.expect_suback().await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V5, "subid-pub").await;
    publisher.publish_qos0("subid/a", "x").await;
    assert_eq!(sub.expect_publish().await.properties.subscription_identifiers, [42]);
    publisher.publish_qos0("other/t", "y").await;
    assert!(sub.expect_publish().await.properties.subscription_identifiers.is_empty());
}

/// [MQTT-3.1.2-29] A reason string explains a refusal unless the client set Request Problem Information 0.
#[tokio::test]
async fn reason_string_follows_request_problem_information_mqtt_3_1_2_29() {
    let mut config = Config::default();
    config.limits.message_size_limit = 4;
    let broker = TestBroker::start(config).await;
    for (request, expect_reason_string) in [(None, true), (Some(true), true), (Some(false), false)] {
        let mut connect = connect_packet(V5, "problems");
        connect.properties.request_problem_information = request;
        let (mut client, _) = RawClient::connect_accepted(broker.addr(), connect).await;
        let ack = client.publish_at("rs/t", "too long", QoS::AtLeastOnce).await.expect("PUBACK");
        assert_eq!(ack.reason_code, ReasonCode::QUOTA_EXCEEDED);
        assert_eq!(ack.properties.reason_string.is_some(), expect_reason_string, "request {request:?}");
        client.disconnect().await;
    }
}

/// [MQTT-3.1.4-1] (3.1.2.11.3: Receive Maximum 0 is a protocol error) A CONNECT with an invalid property
/// value is refused: closed, with or without a CONNACK of 0x80 or more first.
#[tokio::test]
async fn receive_maximum_zero_in_connect_is_refused() {
    let broker = TestBroker::start_default().await;
    let mut client = RawClient::tcp(broker.addr(), V5).await;
    // The codec refuses to encode it; write the frame by hand: CONNECT with property 0x21 = 0.
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 3, 0x21, 0, 0, 0, 3];
    body.extend_from_slice(b"rm0");
    let mut frame = vec![0x10, body.len() as u8];
    frame.extend(body);
    client.send_raw(&frame).await;
    match client.recv(tern_test_support::TIMEOUT).await {
        tern_test_support::Event::Closed => {}
        tern_test_support::Event::Packet(Packet::ConnAck(ack)) => {
            assert!(ack.reason_code.is_error(), "{ack:?}");
            client.expect_closed(tern_test_support::TIMEOUT).await;
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// [MQTT-3.1.2-26] (5.0) The broker may use topic aliases towards a client up to the client's Topic Alias
/// Maximum: the first message on a topic sets the alias, later ones may send only the alias.
/// Resolving them as a client must gives back every topic.
#[tokio::test]
async fn broker_topic_aliases_stay_within_the_client_maximum_and_resolve() {
    let broker = TestBroker::start_default().await;
    let mut connect = connect_packet(V5, "alias-receiver");
    connect.properties.topic_alias_maximum = Some(2);
    let (mut sub, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    sub.subscribe("ta/#", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), V311, "alias-sender").await;
    let topics = ["ta/a", "ta/b", "ta/a", "ta/c", "ta/a", "ta/b", "ta/c", "ta/c"];
    for topic in topics {
        publisher.publish_qos0(topic, topic).await;
    }
    let mut aliases: std::collections::HashMap<u16, String> = Default::default();
    for topic in topics {
        let got = sub.expect_publish().await;
        let resolved = match got.properties.topic_alias {
            Some(alias) => {
                assert!((1..=2).contains(&alias), "alias {alias} above the maximum of 2");
                if !got.topic.is_empty() {
                    aliases.insert(alias, got.topic.to_string());
                }
                aliases.get(&alias).cloned().expect("alias set before use")
            }
            None => got.topic.to_string(),
        };
        assert_eq!(resolved, topic);
        assert_eq!(got.payload, topic);
    }
}

/// [MQTT-3.4.2-2], [MQTT-3.1.2-24] A reason string is left out of an acknowledgement when it would make it
/// larger than the client's Maximum Packet Size; the acknowledgement itself is always sent.
#[tokio::test]
async fn reason_string_never_pushes_an_ack_over_the_client_maximum_packet_size() {
    let mut config = Config::default();
    config.limits.message_size_limit = 4;
    let broker = TestBroker::start(config).await;
    let mut connect = connect_packet(V5, "small-acks");
    connect.properties.maximum_packet_size = Some(16);
    let (mut client, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let ack = client.publish_at("rs/t", "too long", qos).await.expect("PUBACK or PUBREC");
        assert_eq!(ack.reason_code, ReasonCode::QUOTA_EXCEEDED);
        let packet = if qos == QoS::AtLeastOnce { Packet::PubAck(ack) } else { Packet::PubRec(ack) };
        let size = packet.encoded_len(V5);
        assert!(size <= 16, "{size}-byte acknowledgement sent to a client accepting 16: {packet:?}");
    }
}
