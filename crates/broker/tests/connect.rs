//! CONNECT and CONNACK over real sockets: protocol name and level, client identifier rules, credentials,
//! a second CONNECT, the session present flag and client takeover (MQTT 3.1.1 and 5.0 section 3.1, 3.2).

use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tern_broker::auth::{AuthDecision, Authenticator, ConnectInfo};
use tern_broker::config::Config;
use tern_codec::{Connect, LastWill, Packet, ProtocolVersion, QoS, ReasonCode};
use tern_test_support::raw::connect_packet;
use tern_test_support::{RawClient, TestBroker, TIMEOUT};

const V31: ProtocolVersion = ProtocolVersion::V31;
const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// A CONNECT frame built by hand, for what the codec refuses to encode.
fn raw_connect(name: &[u8], level: u8, flags: u8, client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(name.len() as u16).to_be_bytes());
    body.extend_from_slice(name);
    body.push(level);
    body.push(flags);
    body.extend_from_slice(&60u16.to_be_bytes());
    if level == 5 {
        body.push(0); // no properties
    }
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut frame = vec![0x10, body.len() as u8];
    frame.extend(body);
    frame
}

fn persistent(version: ProtocolVersion, client_id: &str) -> Connect {
    let mut connect = connect_packet(version, client_id);
    connect.clean_start = false;
    if version.is_v5() {
        connect.properties.session_expiry_interval = Some(300);
    }
    connect
}

fn with_will(mut connect: Connect, topic: &str, payload: &'static str) -> Connect {
    connect.will = Some(LastWill {
        topic: topic.into(),
        payload: payload.into(),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Default::default(),
    });
    connect
}

// --- accepted connections --------------------------------------------------------------------------------

/// [MQTT-3.2.0-1] A 3.1.1 CONNECT is answered by CONNACK, return code 0 and session present 0 for a new
/// session, exactly `20 02 00 00` on the wire.
#[tokio::test]
async fn v311_connect_is_answered_with_connack_accepted_mqtt_3_2_0_1() {
    let broker = TestBroker::start_default().await;
    let mut client = RawClient::tcp(broker.addr(), V311).await;
    client.send(Packet::Connect(Box::new(connect_packet(V311, "c311")))).await;
    assert_eq!(client.expect_bytes(4).await, [0x20, 0x02, 0x00, 0x00]);
    client.ping().await;
}

/// MQTT 3.1 (protocol name "MQIsdp", level 3) is accepted with return code 0: old clients keep working.
#[tokio::test]
async fn v31_mqisdp_connect_is_accepted() {
    let broker = TestBroker::start_default().await;
    let mut client = RawClient::tcp(broker.addr(), V31).await;
    client.send_raw(&raw_connect(b"MQIsdp", 3, 0x02, "c31")).await;
    assert_eq!(client.expect_bytes(4).await, [0x20, 0x02, 0x00, 0x00]);
    client.ping().await;
}

/// [MQTT-3.2.2-3] A 5.0 CONNACK is Success and tells the client the server's limits: Receive Maximum
/// (the inflight limit) and Topic Alias Maximum; no Assigned Client Identifier when the client chose one.
#[tokio::test]
async fn v5_connect_is_answered_with_connack_success_and_server_limits() {
    let mut config = Config::default();
    config.limits.max_inflight_messages = 7;
    let broker = TestBroker::start(config).await;
    let (_client, connack) = RawClient::connect_accepted(broker.addr(), connect_packet(V5, "c5")).await;
    assert!(!connack.session_present);
    assert_eq!(connack.properties.receive_maximum, Some(7));
    assert_eq!(connack.properties.topic_alias_maximum, Some(10));
    assert_eq!(connack.properties.assigned_client_identifier, None);
}

// --- protocol name and level -----------------------------------------------------------------------------

/// [MQTT-3.1.2-2] An unsupported protocol level gets CONNACK return code 1 (unacceptable protocol
/// version), in the 3.x form every client can read, then the connection is closed.
#[tokio::test]
async fn unsupported_protocol_level_gets_return_code_1_then_close_mqtt_3_1_2_2() {
    let broker = TestBroker::start_default().await;
    for level in [0u8, 2, 6, 7, 0x7F] {
        let mut client = RawClient::tcp(broker.addr(), V311).await;
        client.send_raw(&raw_connect(b"MQTT", level, 0x02, "bad-level")).await;
        assert_eq!(client.expect_bytes(4).await, [0x20, 0x02, 0x00, 0x01], "level {level}");
        client.expect_closed(TIMEOUT).await;
    }
    // MQTT 3.1's name with 3.1.1's level is just as unacceptable.
    let mut client = RawClient::tcp(broker.addr(), V311).await;
    client.send_raw(&raw_connect(b"MQIsdp", 4, 0x02, "bad-level")).await;
    assert_eq!(client.expect_bytes(4).await, [0x20, 0x02, 0x00, 0x01]);
    client.expect_closed(TIMEOUT).await;
}

/// [MQTT-3.1.2-2] (5.0) A CONNECT of level 5 the server cannot accept as 5.0 (here under 3.1's protocol
/// name) is refused with the 5.0 CONNACK reason 0x84 Unsupported Protocol Version, then closed.
#[tokio::test]
async fn v5_level_that_cannot_be_accepted_gets_reason_0x84_then_close() {
    let broker = TestBroker::start_default().await;
    let mut client = RawClient::tcp(broker.addr(), V5).await;
    client.send_raw(&raw_connect(b"MQIsdp", 5, 0x02, "bad-v5")).await;
    let connack = client.expect_connack().await;
    assert_eq!(connack.reason_code, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
    assert!(!connack.session_present);
    client.expect_closed(TIMEOUT).await;
}

/// [MQTT-3.1.2-1] A protocol name other than "MQTT" (or 3.1's "MQIsdp") closes the connection without a
/// CONNACK.
#[tokio::test]
async fn unknown_protocol_name_closes_without_connack_mqtt_3_1_2_1() {
    let broker = TestBroker::start_default().await;
    let mut client = RawClient::tcp(broker.addr(), V311).await;
    client.send_raw(&raw_connect(b"MQTX", 4, 0x02, "bad-name")).await;
    client.expect_closed(TIMEOUT).await;
}

/// [MQTT-3.1.2-3] The reserved flag of CONNECT must be 0: otherwise the connection is closed.
#[tokio::test]
async fn reserved_connect_flag_closes_the_connection_mqtt_3_1_2_3() {
    let broker = TestBroker::start_default().await;
    let mut client = RawClient::tcp(broker.addr(), V311).await;
    client.send_raw(&raw_connect(b"MQTT", 4, 0x03, "reserved")).await;
    client.expect_closed(TIMEOUT).await;
}

/// [MQTT-3.1.0-1] The first packet must be CONNECT: anything else closes the connection.
#[tokio::test]
async fn first_packet_other_than_connect_closes_the_connection_mqtt_3_1_0_1() {
    let broker = TestBroker::start_default().await;
    for first in [Packet::PingReq, Packet::Publish(tern_codec::Publish::new("a", "b"))] {
        let mut client = RawClient::tcp(broker.addr(), V311).await;
        client.send(first).await;
        client.expect_closed(TIMEOUT).await;
    }
}

// --- client identifiers ----------------------------------------------------------------------------------

/// [MQTT-3.1.3-6], [MQTT-3.1.3-7] A 3.1.1 client may send a zero-length client id with clean session 1:
/// the server accepts it and treats it as a unique client.
#[tokio::test]
async fn v311_zero_length_client_id_with_clean_session_is_accepted_mqtt_3_1_3_6() {
    let broker = TestBroker::start_default().await;
    let mut a = RawClient::connect_ok(broker.addr(), V311, "").await;
    let mut b = RawClient::connect_ok(broker.addr(), V311, "").await;
    // Two anonymous clients are two clients: neither takes the other over.
    a.ping().await;
    b.ping().await;
}

/// [MQTT-3.1.3-8] A zero-length client id with clean session 0 is refused with return code 2 (identifier
/// rejected), then the connection is closed [MQTT-3.2.2-5].
#[tokio::test]
async fn v311_zero_length_client_id_without_clean_session_is_refused_with_code_2_mqtt_3_1_3_8() {
    let broker = TestBroker::start_default().await;
    let mut client = RawClient::tcp(broker.addr(), V311).await;
    client.send(Packet::Connect(Box::new(persistent(V311, "")))).await;
    assert_eq!(client.expect_bytes(4).await, [0x20, 0x02, 0x00, 0x02]);
    client.expect_closed(TIMEOUT).await;
}

/// MQTT 3.1 (section 3.1, Client Identifier): 1 to 23 characters; an empty or longer id is refused with
/// return code 2.
#[tokio::test]
async fn v31_client_id_must_be_1_to_23_characters() {
    let broker = TestBroker::start_default().await;
    for id in ["", "abcdefghijklmnopqrstuvwx"] {
        let mut client = RawClient::tcp(broker.addr(), V31).await;
        client.send_raw(&raw_connect(b"MQIsdp", 3, 0x02, id)).await;
        assert_eq!(client.expect_bytes(4).await, [0x20, 0x02, 0x00, 0x02], "client id {id:?}");
        client.expect_closed(TIMEOUT).await;
    }
    let mut client = RawClient::tcp(broker.addr(), V31).await;
    client.send_raw(&raw_connect(b"MQIsdp", 3, 0x02, "abcdefghijklmnopqrstuvw")).await;
    assert_eq!(client.expect_bytes(4).await, [0x20, 0x02, 0x00, 0x00]);
}

/// [MQTT-3.1.3-6], [MQTT-3.2.2-16] A 5.0 client with a zero-length client id gets one assigned, in the
/// CONNACK's Assigned Client Identifier, unique per connection; with clean start 0 too.
#[tokio::test]
async fn v5_zero_length_client_id_gets_an_assigned_client_identifier_mqtt_3_2_2_16() {
    let broker = TestBroker::start_default().await;
    let (_a, ack_a) = RawClient::connect_accepted(broker.addr(), connect_packet(V5, "")).await;
    let (_b, ack_b) = RawClient::connect_accepted(broker.addr(), persistent(V5, "")).await;
    let id_a = ack_a.properties.assigned_client_identifier.expect("assigned id");
    let id_b = ack_b.properties.assigned_client_identifier.expect("assigned id");
    assert!(!id_a.is_empty());
    assert_ne!(id_a, id_b);
    assert!(broker.shared().sessions.get(&id_a).is_some(), "the session is known by the assigned id");
}

/// A broker configured to refuse zero-length ids refuses them in 5.0 too: 0x85 Client Identifier not valid.
#[tokio::test]
async fn zero_length_client_id_is_refused_when_not_allowed() {
    let mut config = Config::default();
    config.security.allow_zero_length_clientid = false;
    let broker = TestBroker::start(config).await;
    let (mut v5, ack) = RawClient::connect(broker.addr(), connect_packet(V5, "")).await;
    assert_eq!(ack.reason_code, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
    v5.expect_closed(TIMEOUT).await;
    let (mut v311, ack) = RawClient::connect(broker.addr(), connect_packet(V311, "")).await;
    assert_eq!(ack.reason_code, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID); // return code 2
    v311.expect_closed(TIMEOUT).await;
}

// --- credentials -------------------------------------------------------------------------------------------

/// Client id, user name and password as the authenticator saw them.
type Presented = (String, Option<String>, Option<Vec<u8>>);

#[derive(Debug, Default)]
struct RecordingAuthenticator {
    seen: Mutex<Vec<Presented>>,
}

impl Authenticator for RecordingAuthenticator {
    fn authenticate(&self, info: &ConnectInfo<'_>) -> AuthDecision {
        let username = info.username.map(str::to_owned);
        self.seen.lock().push((
            info.client_id.to_owned(),
            username.clone(),
            info.password.map(<[u8]>::to_vec),
        ));
        match (info.username, info.password) {
            (Some("alice"), Some(b"secret")) => AuthDecision::Allow,
            (None, _) => AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED),
            _ => AuthDecision::Deny(ReasonCode::BAD_USER_NAME_OR_PASSWORD),
        }
    }
}

fn with_credentials(
    mut connect: Connect,
    username: Option<&str>,
    password: Option<&'static [u8]>,
) -> Connect {
    connect.username = username.map(Into::into);
    connect.password = password.map(tern_codec::Bytes::from_static);
    connect
}

/// [MQTT-3.1.3-10..-12] The user name and password of CONNECT reach the authenticator as sent; its refusal
/// is CONNACK 4 / 5 (3.1.1) or 0x86 / 0x87 (5.0), then the connection closes [MQTT-3.2.2-5].
#[tokio::test]
async fn credentials_are_passed_to_the_authenticator_and_its_refusal_is_answered() {
    let auth = Arc::new(RecordingAuthenticator::default());
    let shared: Arc<dyn Authenticator> = auth.clone();
    let broker = TestBroker::start_with(Config::default(), move |b| b.with_authenticator(shared)).await;
    for version in [V311, V5] {
        let good = with_credentials(connect_packet(version, "good"), Some("alice"), Some(b"secret"));
        let (mut client, _) = RawClient::connect_accepted(broker.addr(), good).await;
        client.ping().await;

        let wrong = with_credentials(connect_packet(version, "wrong"), Some("alice"), Some(b"guess"));
        let (mut client, ack) = RawClient::connect(broker.addr(), wrong).await;
        assert_eq!(ack.reason_code, ReasonCode::BAD_USER_NAME_OR_PASSWORD, "{version:?}");
        client.expect_closed(TIMEOUT).await;

        let anonymous = connect_packet(version, "anon");
        let (mut client, ack) = RawClient::connect(broker.addr(), anonymous).await;
        assert_eq!(ack.reason_code, ReasonCode::NOT_AUTHORIZED, "{version:?}");
        client.expect_closed(TIMEOUT).await;
    }
    let seen = auth.seen.lock().clone();
    assert!(seen.contains(&("good".into(), Some("alice".into()), Some(b"secret".to_vec()))));
    assert!(seen.contains(&("wrong".into(), Some("alice".into()), Some(b"guess".to_vec()))));
    assert!(seen.contains(&("anon".into(), None, None)));
}

/// The exact 3.1.1 bytes of an authentication refusal: return code 4 for bad credentials, 5 for not
/// authorized (3.1.1 table 3.1).
#[tokio::test]
async fn v311_refusals_use_return_codes_4_and_5_on_the_wire() {
    let auth: Arc<dyn Authenticator> = Arc::new(RecordingAuthenticator::default());
    let broker = TestBroker::start_with(Config::default(), move |b| b.with_authenticator(auth)).await;
    let mut client = RawClient::tcp(broker.addr(), V311).await;
    let wrong = with_credentials(connect_packet(V311, "w"), Some("alice"), Some(b"guess"));
    client.send(Packet::Connect(Box::new(wrong))).await;
    assert_eq!(client.expect_bytes(4).await, [0x20, 0x02, 0x00, 0x04]);
    let mut client = RawClient::tcp(broker.addr(), V311).await;
    client.send(Packet::Connect(Box::new(connect_packet(V311, "anon")))).await;
    assert_eq!(client.expect_bytes(4).await, [0x20, 0x02, 0x00, 0x05]);
}

/// With `allow_anonymous false`, a client without a user name is not authorized: 5 (3.1.1) / 0x87 (5.0);
/// without a password file to check it against, neither is one with a user name (as Mosquitto 2.0.11).
#[tokio::test]
async fn anonymous_client_is_refused_when_anonymous_is_not_allowed() {
    let mut config = Config::default();
    config.security.allow_anonymous = Some(false);
    let broker = TestBroker::start(config).await;
    for version in [V311, V5] {
        let (mut client, ack) = RawClient::connect(broker.addr(), connect_packet(version, "anon")).await;
        assert_eq!(ack.reason_code, ReasonCode::NOT_AUTHORIZED, "{version:?}");
        client.expect_closed(TIMEOUT).await;
    }
    // Without a password file there is nothing to check a user name against: refused too, as Mosquitto 2
    // (see mosquitto_compat.rs).
    let named = with_credentials(connect_packet(V311, "named"), Some("bob"), None);
    let (mut client, ack) = RawClient::connect(broker.addr(), named).await;
    assert_eq!(ack.reason_code, ReasonCode::NOT_AUTHORIZED);
    client.expect_closed(TIMEOUT).await;
}

// --- a second CONNECT ------------------------------------------------------------------------------------

/// [MQTT-3.1.0-2] A second CONNECT is a protocol violation: a 3.1.1 connection is closed.
#[tokio::test]
async fn second_connect_closes_a_v311_connection_mqtt_3_1_0_2() {
    let broker = TestBroker::start_default().await;
    let mut client = RawClient::connect_ok(broker.addr(), V311, "twice").await;
    client.send(Packet::Connect(Box::new(connect_packet(V311, "twice")))).await;
    client.expect_closed(TIMEOUT).await;
}

/// [MQTT-3.1.0-2] A 5.0 client sending a second CONNECT gets DISCONNECT 0x82 Protocol Error, then close.
#[tokio::test]
async fn second_connect_gets_v5_disconnect_protocol_error_mqtt_3_1_0_2() {
    let broker = TestBroker::start_default().await;
    let mut client = RawClient::connect_ok(broker.addr(), V5, "twice5").await;
    client.send(Packet::Connect(Box::new(connect_packet(V5, "twice5")))).await;
    client.expect_disconnect(ReasonCode::PROTOCOL_ERROR).await;
}

// --- session present -------------------------------------------------------------------------------------

/// [MQTT-3.2.2-1], [MQTT-3.2.2-2], [MQTT-3.2.2-3] (3.1.1): session present is 0 with clean session 1, 1 when
/// a stored session is resumed, 0 when there is none.
#[tokio::test]
async fn v311_session_present_reflects_the_stored_session_mqtt_3_2_2_2() {
    let broker = TestBroker::start_default().await;
    let (client, ack) = RawClient::connect_accepted(broker.addr(), persistent(V311, "sp")).await;
    assert!(!ack.session_present, "no session existed");
    client.disconnect().await;
    let (client, ack) = RawClient::connect_accepted(broker.addr(), persistent(V311, "sp")).await;
    assert!(ack.session_present, "the stored session is resumed");
    client.disconnect().await;
    let (client, ack) = RawClient::connect_accepted(broker.addr(), connect_packet(V311, "sp")).await;
    assert!(!ack.session_present, "clean session 1 always starts anew");
    client.disconnect().await;
    let (_client, ack) = RawClient::connect_accepted(broker.addr(), persistent(V311, "sp")).await;
    assert!(!ack.session_present, "the clean session ended with its connection");
}

/// [MQTT-3.2.2-2], [MQTT-3.2.2-3] (5.0): clean start 1 gives session present 0; clean start 0 resuming a
/// session that has not expired gives 1.
#[tokio::test]
async fn v5_session_present_reflects_the_stored_session_mqtt_3_2_2_3() {
    let broker = TestBroker::start_default().await;
    let (client, ack) = RawClient::connect_accepted(broker.addr(), persistent(V5, "sp5")).await;
    assert!(!ack.session_present);
    client.disconnect().await;
    let (client, ack) = RawClient::connect_accepted(broker.addr(), persistent(V5, "sp5")).await;
    assert!(ack.session_present);
    client.disconnect().await;
    let mut clean = persistent(V5, "sp5");
    clean.clean_start = true;
    let (_client, ack) = RawClient::connect_accepted(broker.addr(), clean).await;
    assert!(!ack.session_present, "[MQTT-3.2.2-2] clean start discards the session");
}

// --- takeover ------------------------------------------------------------------------------------------------

/// [MQTT-3.1.4-2] (3.1.1) A CONNECT with the client id of a connected client disconnects the existing one;
/// the new connection is accepted.
#[tokio::test]
async fn takeover_closes_the_old_v311_connection_mqtt_3_1_4_2() {
    let broker = TestBroker::start_default().await;
    let mut old = RawClient::connect_ok(broker.addr(), V311, "same").await;
    let mut new = RawClient::connect_ok(broker.addr(), V311, "same").await;
    old.expect_closed(TIMEOUT).await;
    new.ping().await;
}

/// [MQTT-3.1.4-3] (5.0) The existing connection gets DISCONNECT 0x8E Session taken over, then is closed.
#[tokio::test]
async fn takeover_sends_disconnect_0x8e_to_the_old_v5_connection_mqtt_3_1_4_3() {
    let broker = TestBroker::start_default().await;
    let mut old = RawClient::connect_ok(broker.addr(), V5, "same5").await;
    let mut new = RawClient::connect_ok(broker.addr(), V5, "same5").await;
    old.expect_disconnect(ReasonCode::SESSION_TAKEN_OVER).await;
    new.ping().await;
}

/// [MQTT-3.1.2-8] The connection taken over did not DISCONNECT: its will is published (5.0: with no Will
/// Delay Interval, at once).
#[tokio::test]
async fn takeover_publishes_the_will_of_the_old_connection() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let mut watcher = RawClient::connect_ok(broker.addr(), V311, "watcher").await;
        watcher.subscribe("will/#", QoS::AtMostOnce).await;
        let id = format!("taken-{version:?}");
        let (_old, _) = RawClient::connect_accepted(
            broker.addr(),
            with_will(connect_packet(version, &id), "will/t", "gone"),
        )
        .await;
        let _new = RawClient::connect_ok(broker.addr(), version, &id).await;
        let will = watcher.expect_publish().await;
        assert_eq!((will.topic.as_ref(), will.payload.as_ref()), ("will/t", &b"gone"[..]), "{version:?}");
        watcher.disconnect().await;
    }
}

/// [MQTT-3.1.4-3] The new connection with clean session 0 resumes the session taken over: session present
/// 1, and the old connection's subscriptions deliver to it.
#[tokio::test]
async fn takeover_hands_the_persistent_session_to_the_new_connection() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let id = format!("handover-{version:?}");
        let (mut old, _) = RawClient::connect_accepted(broker.addr(), persistent(version, &id)).await;
        old.subscribe("handover/t", QoS::AtLeastOnce).await;
        let (mut new, ack) = RawClient::connect_accepted(broker.addr(), persistent(version, &id)).await;
        assert!(ack.session_present, "{version:?}");
        old.expect_disconnect(ReasonCode::SESSION_TAKEN_OVER).await;
        let mut publisher = RawClient::connect_ok(broker.addr(), V311, "handover-pub").await;
        publisher.publish_at("handover/t", "m", QoS::AtLeastOnce).await;
        let delivered = new.receive_and_ack().await;
        assert_eq!(delivered.payload, "m");
        assert_eq!(delivered.qos, QoS::AtLeastOnce);
        publisher.disconnect().await;
    }
}

/// [MQTT-3.1.2-4] A new connection taking over with clean start 1 does not resume the session: session
/// present 0 and the old subscriptions are gone.
#[tokio::test]
async fn takeover_with_clean_start_discards_the_old_session() {
    let broker = TestBroker::start_default().await;
    for version in [V311, V5] {
        let id = format!("discard-{version:?}");
        let (mut old, _) = RawClient::connect_accepted(broker.addr(), persistent(version, &id)).await;
        old.subscribe("discard/t", QoS::AtLeastOnce).await;
        let (mut new, ack) = RawClient::connect_accepted(broker.addr(), connect_packet(version, &id)).await;
        assert!(!ack.session_present, "{version:?}");
        let mut publisher = RawClient::connect_ok(broker.addr(), V311, "discard-pub").await;
        publisher.publish_qos0("discard/t", "m").await;
        publisher.ping().await;
        new.expect_nothing(Duration::from_millis(300)).await;
        publisher.disconnect().await;
    }
}

/// [MQTT-3.2.2-12] (5.0) A will with a QoS above the server's Maximum QoS is refused at CONNECT with 0x9B
/// QoS not supported; a 3.1.1 client, which cannot be told why, is closed without CONNACK (as Mosquitto).
#[tokio::test]
async fn will_qos_above_maximum_qos_is_refused_at_connect_mqtt_3_2_2_12() {
    let mut config = Config::default();
    config.limits.max_qos = 1;
    let broker = TestBroker::start(config).await;
    for version in [V311, V5] {
        let mut connect = with_will(connect_packet(version, "will-qos2"), "w/t", "x");
        if let Some(will) = connect.will.as_mut() {
            will.qos = QoS::ExactlyOnce;
        }
        let mut client = RawClient::tcp(broker.addr(), version).await;
        client.send(Packet::Connect(Box::new(connect.clone()))).await;
        if version.is_v5() {
            assert_eq!(client.expect_connack().await.reason_code, ReasonCode::QOS_NOT_SUPPORTED);
        }
        client.expect_closed(TIMEOUT).await;
        if let Some(will) = connect.will.as_mut() {
            will.qos = QoS::AtLeastOnce;
        }
        RawClient::connect_accepted(broker.addr(), connect).await;
    }
}

/// [MQTT-3.2.2-12] The Maximum QoS that counts for a will is the listener's, the one its CONNACK announces.
#[tokio::test]
async fn a_listeners_own_maximum_qos_applies_to_wills_mqtt_3_2_2_12() {
    let broker = tern_test_support::inprocess::TernBroker::start_with("allow_anonymous true\nmax_qos 1\n");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], broker.port));
    let mut connect = with_will(connect_packet(V5, "listener-will"), "w/t", "x");
    if let Some(will) = connect.will.as_mut() {
        will.qos = QoS::ExactlyOnce;
    }
    let mut client = RawClient::tcp(addr, V5).await;
    client.send(Packet::Connect(Box::new(connect))).await;
    assert_eq!(client.expect_connack().await.reason_code, ReasonCode::QOS_NOT_SUPPORTED);
}

/// [MQTT-3.2.2-13] (5.0) A will with Will Retain 1 on a server without retained messages is refused at
/// CONNECT with 0x9A Retain not supported; a 3.1.1 client is closed without CONNACK (as Mosquitto).
#[tokio::test]
async fn retained_will_is_refused_when_retain_is_unavailable_mqtt_3_2_2_13() {
    let mut config = Config::default();
    config.limits.retain_available = false;
    let broker = TestBroker::start(config).await;
    for version in [V311, V5] {
        let mut connect = with_will(connect_packet(version, "will-retain"), "w/t", "x");
        if let Some(will) = connect.will.as_mut() {
            will.retain = true;
        }
        let mut client = RawClient::tcp(broker.addr(), version).await;
        client.send(Packet::Connect(Box::new(connect.clone()))).await;
        if version.is_v5() {
            assert_eq!(client.expect_connack().await.reason_code, ReasonCode::RETAIN_NOT_SUPPORTED);
        }
        client.expect_closed(TIMEOUT).await;
        if let Some(will) = connect.will.as_mut() {
            will.retain = false;
        }
        RawClient::connect_accepted(broker.addr(), connect).await;
    }
}
