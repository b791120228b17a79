//! MQTT 5.0 topic aliases end to end, against Tern and against Mosquitto: the client resolves the aliases a
//! broker sends, sets its own within the broker's Topic Alias Maximum, and refuses to send one out of range.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[macro_use]
mod common;

use common::{next_message, options, AnyBroker, BrokerKind};
use tern_client::{Client, ClientError, ProtocolVersion, Publish, QoS};
use tern_codec::{decode, Limits, Packet};
use tern_test_support::proxy::LossyLink;

against_both_brokers!(
    messages_sent_with_topic_aliases_reach_the_application_with_their_topic,
    the_client_sets_topic_aliases_within_the_broker_maximum,
    a_topic_alias_above_the_broker_maximum_is_refused_mqtt_3_3_2_9,
);

async fn messages_sent_with_topic_aliases_reach_the_application_with_their_topic(kind: BrokerKind) {
    // A client announcing a Topic Alias Maximum may get PUBLISH packets with an alias and no topic name;
    // every message still reaches the application with its topic.
    let broker = AnyBroker::start(kind);
    let opts = options(broker.port, ProtocolVersion::V5, "display").topic_alias_maximum(2);
    let (sub, mut events, _) = Client::connect(opts).await.unwrap();
    sub.subscribe("home/#", QoS::AtLeastOnce).await.unwrap();
    let (p, _pe, _) = Client::connect(options(broker.port, ProtocolVersion::V5, "sensor")).await.unwrap();
    let topics = ["home/temp", "home/temp", "home/hum", "home/temp", "home/door", "home/hum", "home/temp"];
    for (i, topic) in topics.iter().enumerate() {
        p.publish(*topic, i.to_string(), QoS::AtLeastOnce, false).await.unwrap();
    }
    let mut aliased = 0;
    for (i, topic) in topics.iter().enumerate() {
        let m = next_message(&mut events).await;
        assert_eq!((&m.topic[..], &m.payload[..]), (*topic, i.to_string().as_bytes()));
        if let Some(alias) = m.properties.topic_alias {
            assert!((1..=2).contains(&alias), "alias {alias} above the announced maximum 2");
            aliased += 1;
        }
    }
    if kind == BrokerKind::Tern {
        // Tern uses the aliases a client allows (Mosquitto 2.0 sends topic names only).
        assert_eq!(aliased, topics.len());
    }
}

async fn the_client_sets_topic_aliases_within_the_broker_maximum(kind: BrokerKind) {
    // [MQTT-3.3.2-9] with outbound aliases on, repeated topics travel as an alias alone; the broker resolves
    // them for subscribers.
    let broker = AnyBroker::start_with(kind, "allow_anonymous true\nmax_topic_alias 1\n");
    let (sub, mut events, _) =
        Client::connect(options(broker.port, ProtocolVersion::V311, "s")).await.unwrap();
    sub.subscribe("home/#", QoS::AtLeastOnce).await.unwrap();
    let link = LossyLink::start(broker.port).await;
    let opts = options(link.port, ProtocolVersion::V5, "sensor").outbound_topic_aliases(5);
    let (p, _pe, connack) = Client::connect(opts).await.unwrap();
    assert_eq!(connack.properties.topic_alias_maximum, Some(1));
    let topics = ["home/temp", "home/temp", "home/hum", "home/hum", "home/temp"];
    for (i, topic) in topics.iter().enumerate() {
        p.publish(*topic, i.to_string(), QoS::AtLeastOnce, false).await.unwrap();
        let m = next_message(&mut events).await;
        assert_eq!((&m.topic[..], &m.payload[..]), (*topic, i.to_string().as_bytes()));
    }
    let limits = Limits::new(ProtocolVersion::V5);
    let sent: Vec<(String, Option<u16>)> = link
        .from_client()
        .into_iter()
        .filter_map(|frame| match decode(&mut frame.as_ref().into(), &limits) {
            Ok(Some(Packet::Publish(p))) => Some((p.topic.to_string(), p.properties.topic_alias)),
            _ => None,
        })
        .collect();
    let expected = [("home/temp", 1), ("", 1), ("home/hum", 1), ("", 1), ("home/temp", 1)];
    assert_eq!(sent, expected.map(|(t, a)| (t.to_owned(), Some(a))));
}

async fn a_topic_alias_above_the_broker_maximum_is_refused_mqtt_3_3_2_9(kind: BrokerKind) {
    let broker = AnyBroker::start_with(kind, "allow_anonymous true\nmax_topic_alias 2\n");
    let (c, mut events, _) = Client::connect(options(broker.port, ProtocolVersion::V5, "c")).await.unwrap();
    c.subscribe("a/#", QoS::AtLeastOnce).await.unwrap();
    let mut publish = Publish { qos: QoS::AtLeastOnce, ..Publish::new("a/b", "x") };
    publish.properties.topic_alias = Some(3);
    let err = c.publish_message(publish.clone()).await.unwrap().await.unwrap_err();
    assert!(matches!(err, ClientError::TopicAlias(_)), "{err}");
    // Aliases the application sets itself, within range, work as set.
    publish.properties.topic_alias = Some(2);
    c.publish_message(publish.clone()).await.unwrap().await.unwrap();
    assert_eq!(next_message(&mut events).await.topic, "a/b");
    let alias_only = Publish { topic: Default::default(), ..publish };
    c.publish_message(alias_only).await.unwrap().await.unwrap();
    assert_eq!(next_message(&mut events).await.topic, "a/b");
}
