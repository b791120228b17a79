//! Keep-alive over real sockets: PINGREQ/PINGRESP, disconnection of a client silent for 1.5 times its
//! keep-alive (with its will), keep-alive 0, and `max_keepalive` (5.0 Server Keep Alive) (MQTT 3.1.1 and
//! 5.0 section 3.1.2.10, 3.12, 3.13).
//!
//! Keep-alives are 1 second so the tests are short. Lower bounds ("not before") are checked with margins;
//! upper bounds only with the generous expectation timeout: never a check on speed.

use std::time::Duration;

use tern_broker::config::Config;
use tern_codec::{Connect, LastWill, Packet, ProtocolVersion, QoS, ReasonCode};
use tern_test_support::raw::connect_packet;
use tern_test_support::{RawClient, TestBroker};

const V31: ProtocolVersion = ProtocolVersion::V31;
const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn with_keep_alive(version: ProtocolVersion, id: &str, keep_alive: u16) -> Connect {
    Connect { keep_alive, ..connect_packet(version, id) }
}

/// [MQTT-3.12.4-1] The broker answers PINGREQ with PINGRESP: `D0 00`.
#[tokio::test]
async fn pingreq_is_answered_with_pingresp_mqtt_3_12_4_1() {
    let broker = TestBroker::start_default().await;
    for version in [V31, V311, V5] {
        let mut client = RawClient::connect_ok(broker.addr(), version, "pinger").await;
        client.send(Packet::PingReq).await;
        assert_eq!(client.expect_bytes(2).await, [0xD0, 0x00]);
        client.disconnect().await;
    }
}

/// [MQTT-3.1.2-24] (3.1.1), [MQTT-3.1.2-22] (5.0) A client that sends nothing for one and a half times its
/// keep-alive is disconnected: 5.0 gets DISCONNECT 0x8D Keep Alive timeout, 3.x a close. Not before the
/// keep-alive itself has passed.
#[tokio::test]
async fn silent_client_is_disconnected_after_one_and_a_half_keep_alives_mqtt_3_1_2_24() {
    let broker = TestBroker::start_default().await;
    let mut checks = Vec::new();
    for version in [V31, V311, V5] {
        let connect = with_keep_alive(version, &format!("silent{}", version.level()), 1);
        let (mut client, _) = RawClient::connect_accepted(broker.addr(), connect).await;
        checks.push(tokio::spawn(async move {
            client.expect_nothing(Duration::from_millis(900)).await;
            client.expect_disconnect(ReasonCode::KEEP_ALIVE_TIMEOUT).await;
        }));
    }
    for check in checks {
        check.await.expect("keep-alive check");
    }
}

/// [MQTT-3.1.2-23] (3.1.1) Any control packet resets the keep-alive: a client sending PINGREQ or PUBLISH
/// more often than its keep-alive stays connected well past it.
#[tokio::test]
async fn any_packet_keeps_the_connection_alive_mqtt_3_1_2_23() {
    let broker = TestBroker::start_default().await;
    let (mut pinger, _) =
        RawClient::connect_accepted(broker.addr(), with_keep_alive(V311, "alive-ping", 1)).await;
    let (mut talker, _) =
        RawClient::connect_accepted(broker.addr(), with_keep_alive(V5, "alive-pub", 1)).await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        pinger.ping().await;
        talker.publish_qos0("alive/t", "still here").await;
    }
    talker.ping().await;
}

/// [MQTT-3.1.2-10] (3.1.1 Keep Alive) Keep-alive 0 turns the mechanism off: a silent client is not
/// disconnected.
#[tokio::test]
async fn keep_alive_zero_is_never_timed_out() {
    let broker = TestBroker::start_default().await;
    let (mut client, ack) =
        RawClient::connect_accepted(broker.addr(), with_keep_alive(V311, "forever", 0)).await;
    assert_eq!(ack.properties.server_keep_alive, None);
    client.expect_nothing(Duration::from_millis(2500)).await;
    client.ping().await;
}

/// [MQTT-3.1.2-8] A client disconnected for keep-alive expiry lost its connection: its will is published.
#[tokio::test]
async fn keep_alive_expiry_publishes_the_will() {
    let broker = TestBroker::start_default().await;
    let mut watcher = RawClient::connect_ok(broker.addr(), V311, "ka-watcher").await;
    watcher.subscribe("ka/will", QoS::AtLeastOnce).await;
    for version in [V311, V5] {
        let mut connect = with_keep_alive(version, "ka-will", 1);
        connect.will = Some(LastWill {
            topic: "ka/will".into(),
            payload: "timed out".into(),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Default::default(),
        });
        let (mut client, _) = RawClient::connect_accepted(broker.addr(), connect).await;
        client.expect_disconnect(ReasonCode::KEEP_ALIVE_TIMEOUT).await;
        let will = watcher.receive_and_ack().await;
        assert_eq!(will.payload, "timed out");
    }
}

/// [MQTT-3.2.2-21] (5.0) With `max_keepalive`, a 5.0 client asking for more (or for 0) is told the
/// Server Keep Alive in CONNACK, and is held to it.
#[tokio::test]
async fn v5_client_is_given_and_held_to_the_server_keep_alive_mqtt_3_2_2_21() {
    let mut config = Config::default();
    config.limits.max_keepalive = 1;
    let broker = TestBroker::start(config).await;
    let (_ok, ack) = RawClient::connect_accepted(broker.addr(), with_keep_alive(V5, "within", 1)).await;
    assert_eq!(ack.properties.server_keep_alive, None, "1 is within the limit");
    for asked in [0, 60] {
        let (mut client, ack) =
            RawClient::connect_accepted(broker.addr(), with_keep_alive(V5, &format!("ska{asked}"), asked))
                .await;
        assert_eq!(ack.properties.server_keep_alive, Some(1), "asked {asked}");
        client.expect_nothing(Duration::from_millis(900)).await;
        client.expect_disconnect(ReasonCode::KEEP_ALIVE_TIMEOUT).await;
    }
}

/// A 3.x client cannot be told a Server Keep Alive: asking for more than `max_keepalive` is refused with
/// CONNACK return code 2 (identifier rejected), as Mosquitto does.
#[tokio::test]
async fn v3_client_over_max_keepalive_is_refused() {
    let mut config = Config::default();
    config.limits.max_keepalive = 10;
    let broker = TestBroker::start(config).await;
    let (mut client, ack) = RawClient::connect(broker.addr(), with_keep_alive(V311, "too-long", 11)).await;
    assert_eq!(ack.reason_code, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
    client.expect_closed(tern_test_support::TIMEOUT).await;
    RawClient::connect_accepted(broker.addr(), with_keep_alive(V311, "short-enough", 10)).await;
}
