//! Test whether enhanced authentication (MQTT 5.0 section 4.12) works end to end: the AUTH exchange between
//! CONNECT and CONNACK, re-authentication on a live connection, refusals, and SCRAM-SHA-512 against the
//! `$7$` users of a mosquitto password file — with our raw client and with MQTT.js.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tern_broker::auth::enhanced::{AuthClient, AuthExchange, AuthStep, EnhancedAuth};
use tern_broker::auth::scram::client::ScramClient;
use tern_broker::config::Config;
use tern_codec::{Auth, Bytes, Connect, Packet, Properties, ProtocolVersion, QoS, ReasonCode};
use tern_test_support::process::{require_node_package, require_tool, run_checked};
use tern_test_support::{connect_packet, Event, RawClient, TestBroker, TIMEOUT};

// mosquitto_passwd 2.0.11: alice / secret ($7$, PBKDF2-SHA512) and bob / pw2 ($6$, salted SHA-512).
const PASSWORDS: &str = "alice:$7$101$xWVjKCAyclPUaGHb$CAhL/cXEJRQOJpY+mB5MtYSxsYYvE9d9RNHlXeJ2KZy/VtKMW8AxU3yDk4FtosXl5cOKZnjv93Jfpp8V+hlvPw==\n\
bob:$6$aKD2rkehvlsTmDbQ$g6xB7PlLyoXnhjKSFRu63TrSnls2r6Kf8/1HB9ziXcErzK1zsYOu2m9rJxnx5QVeqBmU9XoVxRsvcVBLA+sEsA==\n";
const SCRAM: &str = "SCRAM-SHA-512";

struct Fixture {
    broker: TestBroker,
    _dir: tempfile::TempDir,
}

async fn broker_with_passwords() -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("passwd");
    std::fs::write(&path, PASSWORDS).expect("password file written");
    let mut config = Config::default();
    config.security.password_file = Some(path);
    config.security.allow_anonymous = Some(false);
    Fixture { broker: TestBroker::start(config).await, _dir: dir }
}

fn auth_connect(client_id: &str, method: &str, data: Option<String>) -> Connect {
    let mut connect = connect_packet(ProtocolVersion::V5, client_id);
    connect.properties.authentication_method = Some(method.into());
    connect.properties.authentication_data = data.map(Bytes::from);
    connect
}

fn auth(reason_code: ReasonCode, method: &str, data: Option<String>) -> Packet {
    Packet::Auth(Auth {
        reason_code,
        properties: Properties {
            authentication_method: Some(method.into()),
            authentication_data: data.map(Bytes::from),
            ..Properties::default()
        },
    })
}

async fn expect_auth(client: &mut RawClient) -> Auth {
    match client.next_packet().await {
        Packet::Auth(a) => a,
        other => panic!("expected AUTH, got {other:?}"),
    }
}

/// Runs the SCRAM exchange up to (and returning) the broker's verdict packet.
async fn scram_connect(
    broker: &TestBroker,
    client_id: &str,
    user: &str,
    password: &[u8],
) -> (RawClient, Packet, ScramClient) {
    let mut scram = ScramClient::new(user, password);
    let mut client = RawClient::tcp(broker.addr(), ProtocolVersion::V5).await;
    client.send(Packet::Connect(Box::new(auth_connect(client_id, SCRAM, Some(scram.first()))))).await;
    let challenge = expect_auth(&mut client).await;
    // [MQTT-4.12.0-2] More data needed: reason 0x18; [MQTT-4.12.0-5] the method of CONNECT.
    assert_eq!(challenge.reason_code, ReasonCode::CONTINUE_AUTHENTICATION);
    assert_eq!(challenge.properties.authentication_method.as_deref(), Some(SCRAM));
    let server_first = challenge.properties.authentication_data.expect("server-first message");
    let last = scram.last(&server_first).expect("a well-formed server-first message");
    client.send(auth(ReasonCode::CONTINUE_AUTHENTICATION, SCRAM, Some(last))).await;
    let verdict = client.next_packet().await;
    (client, verdict, scram)
}

#[tokio::test]
async fn scram_sha_512_authenticates_a_mosquitto_pbkdf2_user_mqtt_4_12_0_2_and_4_12_0_5() {
    let f = broker_with_passwords().await;
    let (mut client, verdict, scram) = scram_connect(&f.broker, "scram-ok", "alice", b"secret").await;
    let Packet::ConnAck(connack) = verdict else { panic!("expected CONNACK, got {verdict:?}") };
    assert_eq!(connack.reason_code, ReasonCode::SUCCESS);
    assert_eq!(connack.properties.authentication_method.as_deref(), Some(SCRAM), "[MQTT-4.12.0-5]");
    let server_final = connack.properties.authentication_data.expect("server-final message in CONNACK");
    assert!(scram.verify(&server_final), "the broker proves it knows alice's keys");
    // The connection works as any other.
    client.subscribe("scram/t", QoS::AtLeastOnce).await;
    client.publish_at("scram/t", "hi", QoS::AtLeastOnce).await;
    assert_eq!(client.expect_publish().await.payload, "hi");
}

/// [MQTT-3.1.4-2] A failed authentication is refused and the connection closed.
#[tokio::test]
async fn scram_with_a_wrong_password_gets_connack_0x86_and_close_mqtt_4_12_0_4() {
    let f = broker_with_passwords().await;
    let (mut client, verdict, _) = scram_connect(&f.broker, "scram-bad", "alice", b"wrong").await;
    let Packet::ConnAck(connack) = verdict else { panic!("expected CONNACK, got {verdict:?}") };
    assert_eq!(connack.reason_code, ReasonCode::BAD_USER_NAME_OR_PASSWORD);
    client.expect_closed(TIMEOUT).await;
}

#[tokio::test]
async fn scram_for_an_unknown_user_fails_only_at_the_proof_with_0x86() {
    let f = broker_with_passwords().await;
    let (mut client, verdict, _) = scram_connect(&f.broker, "scram-who", "mallory", b"secret").await;
    let Packet::ConnAck(connack) = verdict else { panic!("expected CONNACK, got {verdict:?}") };
    assert_eq!(connack.reason_code, ReasonCode::BAD_USER_NAME_OR_PASSWORD);
    client.expect_closed(TIMEOUT).await;
}

#[tokio::test]
async fn a_user_stored_with_another_hash_cannot_use_scram_0x87() {
    let f = broker_with_passwords().await;
    let scram = ScramClient::new("bob", b"pw2");
    let (mut client, connack) =
        RawClient::connect(f.broker.addr(), auth_connect("scram-bob", SCRAM, Some(scram.first()))).await;
    assert_eq!(connack.reason_code, ReasonCode::NOT_AUTHORIZED);
    client.expect_closed(TIMEOUT).await;
    // bob still logs in with his password.
    let mut connect = connect_packet(ProtocolVersion::V5, "bob-pw");
    connect.username = Some("bob".into());
    connect.password = Some(Bytes::from_static(b"pw2"));
    RawClient::connect_accepted(f.broker.addr(), connect).await;
}

#[tokio::test]
async fn an_unsupported_authentication_method_gets_connack_0x8c_and_close_mqtt_4_12_0_1() {
    let f = broker_with_passwords().await;
    let (mut client, connack) =
        RawClient::connect(f.broker.addr(), auth_connect("gssapi", "GSSAPI", Some("x".into()))).await;
    assert_eq!(connack.reason_code, ReasonCode::BAD_AUTHENTICATION_METHOD);
    client.expect_closed(TIMEOUT).await;
    // Without a password file nothing is offered, SCRAM included.
    let open = TestBroker::start_default().await;
    let (mut client, connack) = RawClient::connect(
        open.addr(),
        auth_connect("scram", SCRAM, Some(ScramClient::new("a", b"b").first())),
    )
    .await;
    assert_eq!(connack.reason_code, ReasonCode::BAD_AUTHENTICATION_METHOD);
    client.expect_closed(TIMEOUT).await;
}

#[tokio::test]
async fn without_a_method_no_auth_is_sent_and_an_auth_from_the_client_is_a_protocol_error_mqtt_4_12_0_6_and_4_12_0_7(
) {
    let broker = TestBroker::start_default().await;
    let (mut client, connack) =
        RawClient::connect_accepted(broker.addr(), connect_packet(ProtocolVersion::V5, "plain")).await;
    assert_eq!(connack.properties.authentication_method, None, "[MQTT-4.12.0-6]");
    client.send(auth(ReasonCode::RE_AUTHENTICATE, SCRAM, None)).await;
    client.expect_disconnect(ReasonCode::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn another_packet_during_the_exchange_is_refused_with_0x82_mqtt_3_1_2_30() {
    let f = broker_with_passwords().await;
    let scram = ScramClient::new("alice", b"secret");
    let mut client = RawClient::tcp(f.broker.addr(), ProtocolVersion::V5).await;
    client.send(Packet::Connect(Box::new(auth_connect("early", SCRAM, Some(scram.first()))))).await;
    expect_auth(&mut client).await;
    client.send(Packet::PingReq).await;
    assert_eq!(client.expect_connack().await.reason_code, ReasonCode::PROTOCOL_ERROR);
    client.expect_closed(TIMEOUT).await;
}

#[tokio::test]
async fn a_client_auth_with_another_reason_or_method_during_the_exchange_is_a_protocol_error_mqtt_4_12_0_3() {
    let f = broker_with_passwords().await;
    for bad in [
        auth(ReasonCode::RE_AUTHENTICATE, SCRAM, Some("x".into())),
        auth(ReasonCode::CONTINUE_AUTHENTICATION, "OTHER", Some("x".into())),
    ] {
        let scram = ScramClient::new("alice", b"secret");
        let mut client = RawClient::tcp(f.broker.addr(), ProtocolVersion::V5).await;
        client.send(Packet::Connect(Box::new(auth_connect("odd", SCRAM, Some(scram.first()))))).await;
        expect_auth(&mut client).await;
        client.send(bad).await;
        assert_eq!(client.expect_connack().await.reason_code, ReasonCode::PROTOCOL_ERROR);
        client.expect_closed(TIMEOUT).await;
    }
}

/// Runs a SCRAM re-authentication on `client`; returns the broker's final packet.
async fn reauthenticate(client: &mut RawClient, user: &str, password: &[u8]) -> Packet {
    let mut scram = ScramClient::new(user, password);
    client.send(auth(ReasonCode::RE_AUTHENTICATE, SCRAM, Some(scram.first()))).await;
    let challenge = expect_auth(client).await;
    assert_eq!(challenge.reason_code, ReasonCode::CONTINUE_AUTHENTICATION);
    let server_first = challenge.properties.authentication_data.expect("server-first message");
    let last = scram.last(&server_first).expect("a well-formed server-first message");
    client.send(auth(ReasonCode::CONTINUE_AUTHENTICATION, SCRAM, Some(last))).await;
    let verdict = client.next_packet().await;
    if let Packet::Auth(a) = &verdict {
        assert!(scram.verify(a.properties.authentication_data.as_deref().unwrap_or_default()));
    }
    verdict
}

#[tokio::test]
async fn re_authentication_with_auth_0x19_succeeds_with_auth_0x00_and_the_connection_stays_mqtt_4_12_1_1() {
    let f = broker_with_passwords().await;
    let (mut client, verdict, _) = scram_connect(&f.broker, "reauth", "alice", b"secret").await;
    assert!(matches!(verdict, Packet::ConnAck(ref c) if c.reason_code == ReasonCode::SUCCESS), "{verdict:?}");
    for _ in 0..2 {
        match reauthenticate(&mut client, "alice", b"secret").await {
            Packet::Auth(a) => {
                assert_eq!(a.reason_code, ReasonCode::SUCCESS);
                assert_eq!(a.properties.authentication_method.as_deref(), Some(SCRAM), "[MQTT-4.12.0-5]");
            }
            other => panic!("expected AUTH 0x00, got {other:?}"),
        }
    }
    client.ping().await;
}

#[tokio::test]
async fn a_failed_re_authentication_gets_disconnect_and_close_mqtt_4_12_1_2() {
    let f = broker_with_passwords().await;
    let (mut client, verdict, _) = scram_connect(&f.broker, "reauth-bad", "alice", b"secret").await;
    assert!(matches!(verdict, Packet::ConnAck(ref c) if c.reason_code == ReasonCode::SUCCESS));
    match reauthenticate(&mut client, "alice", b"wrong").await {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::NOT_AUTHORIZED),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    client.expect_closed(TIMEOUT).await;
}

#[tokio::test]
async fn re_authentication_with_another_method_is_a_protocol_error_mqtt_4_12_1_1() {
    let f = broker_with_passwords().await;
    let (mut client, _, _) = scram_connect(&f.broker, "reauth-other", "alice", b"secret").await;
    client.send(auth(ReasonCode::RE_AUTHENTICATE, "SCRAM-SHA-256", Some("n,,n=alice,r=x".into()))).await;
    client.expect_disconnect(ReasonCode::PROTOCOL_ERROR).await;
}

/// A pluggable mechanism: the client must echo a counter the server sends, twice.
#[derive(Debug, Default)]
struct EchoTwice {
    started: AtomicUsize,
}

#[derive(Debug)]
struct EchoExchange {
    round: u8,
}

impl AuthExchange for EchoExchange {
    fn step(&mut self, data: Option<&[u8]>) -> AuthStep {
        let expected: &[u8] = match self.round {
            0 => b"hello",
            1 => b"1",
            _ => b"2",
        };
        if data != Some(expected) {
            return AuthStep::Fail(ReasonCode::NOT_AUTHORIZED);
        }
        self.round += 1;
        if self.round == 3 {
            AuthStep::Success { username: Some("echo-user".into()), data: None }
        } else {
            AuthStep::Continue(Bytes::from(self.round.to_string()))
        }
    }
}

impl EnhancedAuth for EchoTwice {
    fn method(&self) -> &str {
        "X-ECHO"
    }
    fn start(&self, _: &AuthClient<'_>) -> Box<dyn AuthExchange> {
        self.started.fetch_add(1, Ordering::Relaxed);
        Box::new(EchoExchange { round: 0 })
    }
}

#[tokio::test]
async fn a_pluggable_mechanism_runs_several_rounds_selected_by_method_name() {
    let echo = Arc::new(EchoTwice::default());
    let plugged = echo.clone();
    let broker = TestBroker::start_with(Config::default(), move |b| b.with_enhanced_auth(plugged)).await;
    let mut client = RawClient::tcp(broker.addr(), ProtocolVersion::V5).await;
    client.send(Packet::Connect(Box::new(auth_connect("echo", "X-ECHO", Some("hello".into()))))).await;
    for round in ["1", "2"] {
        let challenge = expect_auth(&mut client).await;
        assert_eq!(challenge.properties.authentication_data.as_deref(), Some(round.as_bytes()));
        client.send(auth(ReasonCode::CONTINUE_AUTHENTICATION, "X-ECHO", Some(round.into()))).await;
    }
    let connack = client.expect_connack().await;
    assert_eq!(connack.reason_code, ReasonCode::SUCCESS);
    assert_eq!(connack.properties.authentication_method.as_deref(), Some("X-ECHO"));
    assert_eq!(echo.started.load(Ordering::Relaxed), 1);
    // The wrong echo is refused with the mechanism's reason.
    let mut client = RawClient::tcp(broker.addr(), ProtocolVersion::V5).await;
    client.send(Packet::Connect(Box::new(auth_connect("echo2", "X-ECHO", Some("hello".into()))))).await;
    expect_auth(&mut client).await;
    client.send(auth(ReasonCode::CONTINUE_AUTHENTICATION, "X-ECHO", Some("9".into()))).await;
    assert_eq!(client.expect_connack().await.reason_code, ReasonCode::NOT_AUTHORIZED);
    assert!(matches!(client.recv(TIMEOUT).await, Event::Closed));
}

#[tokio::test]
async fn mqttjs_v5_authenticates_with_scram_sha_512_and_re_authenticates() {
    let node = require_tool("node");
    let dir = require_node_package("mqtt");
    let f = broker_with_passwords().await;
    let mut command = tokio::process::Command::new(node);
    command.current_dir(&dir).arg(dir.join("mqttjs_scram.js")).args([
        "--port",
        &f.broker.port().to_string(),
        "--user",
        "alice",
        "--password",
        "secret",
    ]);
    let output = run_checked(command, Duration::from_secs(60)).await;
    assert!(output.contains("ok scram connect"), "{output}");
    assert!(output.contains("ok scram reauth"), "{output}");
    assert!(output.contains("ok scram refused 134"), "{output}");
}

/// [MQTT-3.15.2-2], [MQTT-3.15.2-3] The broker's AUTH packets carry no Reason String or User Property that
/// could take them past the client's Maximum Packet Size (they carry none at all), during CONNECT and during
/// re-authentication.
#[tokio::test]
async fn auth_packets_carry_no_reason_string_or_user_property_mqtt_3_15_2_2() {
    let f = broker_with_passwords().await;
    let mut scram = ScramClient::new("alice", b"secret");
    let mut connect = auth_connect("small-auth", SCRAM, Some(scram.first()));
    connect.properties.maximum_packet_size = Some(300);
    connect.properties.request_problem_information = Some(true);
    let mut client = RawClient::tcp(f.broker.addr(), ProtocolVersion::V5).await;
    client.send(Packet::Connect(Box::new(connect))).await;
    let challenge = expect_auth(&mut client).await;
    assert!(challenge.properties.reason_string.is_none() && challenge.properties.user_properties.is_empty());
    let server_first = challenge.properties.authentication_data.expect("server-first message");
    let last = scram.last(&server_first).expect("a well-formed server-first message");
    client.send(auth(ReasonCode::CONTINUE_AUTHENTICATION, SCRAM, Some(last))).await;
    assert_eq!(client.expect_connack().await.reason_code, ReasonCode::SUCCESS);
    match reauthenticate(&mut client, "alice", b"secret").await {
        Packet::Auth(a) => {
            assert!(a.properties.reason_string.is_none() && a.properties.user_properties.is_empty())
        }
        other => panic!("expected AUTH 0x00, got {other:?}"),
    }
}
