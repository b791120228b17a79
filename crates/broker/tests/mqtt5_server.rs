//! Test whether the MQTT 5 server features an operator turns on behave as the standard says: Response
//! Information on request (3.1.2.11.6, 3.2.2.3.15), Payload Format Indicator validation with 0x99
//! (3.3.2.3.2), server redirection with 0x9C/0x9D and Server Reference (4.11), and 0x97 Quota exceeded —
//! with our raw client and with paho-mqtt.

use std::time::Duration;

use tern_broker::broker::Redirect;
use tern_broker::config::Config;
use tern_codec::{Bytes, LastWill, Packet, ProtocolVersion, QoS, ReasonCode};
use tern_test_support::process::{require_python_module, require_tool, run_checked, workspace_root};
use tern_test_support::{connect_packet, publish_packet, Event, RawClient, TestBroker, TIMEOUT};

const QUIET: Duration = Duration::from_millis(300);

async fn broker(configure: impl FnOnce(&mut Config)) -> TestBroker {
    let mut config = Config::default();
    configure(&mut config);
    TestBroker::start(config).await
}

async fn paho(broker: &TestBroker, scenario: &str) {
    let python = require_tool("python3");
    require_python_module("paho.mqtt.enums");
    let mut command = tokio::process::Command::new(python);
    command.arg(workspace_root().join("tests/interop/paho_mqtt5.py")).args([
        "--port",
        &broker.port().to_string(),
        scenario,
    ]);
    let output = run_checked(command, Duration::from_secs(60)).await;
    assert!(output.contains(&format!("ok {scenario}")), "{output}");
}

// --- Response Information ------------------------------------------------------------------------------

#[tokio::test]
async fn response_information_is_sent_only_when_requested_and_configured_mqtt_3_1_2_28() {
    let b = broker(|c| c.mqtt.response_information_prefix = Some("reply/".into())).await;
    let mut asking = connect_packet(ProtocolVersion::V5, "asker");
    asking.properties.request_response_information = Some(true);
    let (_c, connack) = RawClient::connect_accepted(b.addr(), asking.clone()).await;
    assert_eq!(connack.properties.response_information.as_deref(), Some("reply/asker"));
    let mut declining = connect_packet(ProtocolVersion::V5, "decliner");
    declining.properties.request_response_information = Some(false);
    let (_c, connack) = RawClient::connect_accepted(b.addr(), declining).await;
    assert_eq!(connack.properties.response_information, None, "0 means MUST NOT [MQTT-3.1.2-28]");
    let (_c, connack) =
        RawClient::connect_accepted(b.addr(), connect_packet(ProtocolVersion::V5, "silent")).await;
    assert_eq!(connack.properties.response_information, None, "absent means 0");
    // Not configured: nothing, even when asked.
    let plain = TestBroker::start_default().await;
    let (_c, connack) = RawClient::connect_accepted(plain.addr(), asking).await;
    assert_eq!(connack.properties.response_information, None);
}

#[tokio::test]
async fn paho_v5_gets_response_information() {
    let b = broker(|c| c.mqtt.response_information_prefix = Some("reply/".into())).await;
    paho(&b, "response_information").await;
}

// --- Payload Format Indicator -------------------------------------------------------------------------

async fn validating() -> TestBroker {
    broker(|c| c.mqtt.validate_utf8_payloads = true).await
}

fn utf8_flagged(payload: &'static [u8], qos: QoS) -> tern_codec::Publish {
    let mut p = publish_packet("pfi/t", Bytes::from_static(payload), qos);
    p.properties.payload_format_indicator = Some(true);
    p
}

#[tokio::test]
async fn a_payload_flagged_utf8_that_is_not_gets_0x99_and_is_not_delivered() {
    let b = validating().await;
    let mut sub = RawClient::connect_ok(b.addr(), ProtocolVersion::V5, "sub").await;
    sub.subscribe("pfi/#", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect_ok(b.addr(), ProtocolVersion::V5, "pub").await;
    let ack = publisher.publish(utf8_flagged(b"\xff\xfe", QoS::AtLeastOnce)).await.unwrap();
    assert_eq!(ack.reason_code, ReasonCode::PAYLOAD_FORMAT_INVALID);
    let ack = publisher.publish(utf8_flagged(b"\xc3\x28", QoS::ExactlyOnce)).await.unwrap();
    assert_eq!(ack.reason_code, ReasonCode::PAYLOAD_FORMAT_INVALID);
    sub.expect_nothing(QUIET).await;
    // Valid UTF-8 passes, the indicator forwarded unaltered [MQTT-3.3.2-4].
    let ack = publisher.publish(utf8_flagged("grüße".as_bytes(), QoS::AtLeastOnce)).await.unwrap();
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    let got = sub.expect_publish().await;
    assert_eq!(got.properties.payload_format_indicator, Some(true));
    // At QoS 0 there is no ack to refuse in: DISCONNECT 0x99.
    publisher.send(Packet::Publish(utf8_flagged(b"\xff", QoS::AtMostOnce))).await;
    publisher.expect_disconnect(ReasonCode::PAYLOAD_FORMAT_INVALID).await;
}

#[tokio::test]
async fn without_validation_any_payload_passes_unaltered() {
    let b = TestBroker::start_default().await;
    let mut sub = RawClient::connect_ok(b.addr(), ProtocolVersion::V5, "sub").await;
    sub.subscribe("pfi/#", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(b.addr(), ProtocolVersion::V5, "pub").await;
    let ack = publisher.publish(utf8_flagged(b"\xff\xfe", QoS::AtLeastOnce)).await.unwrap();
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    assert_eq!(&sub.expect_publish().await.payload[..], b"\xff\xfe");
}

#[tokio::test]
async fn a_will_flagged_utf8_that_is_not_is_refused_with_connack_0x99() {
    let b = validating().await;
    let mut connect = connect_packet(ProtocolVersion::V5, "will");
    let mut will = LastWill {
        topic: "w".into(),
        payload: Bytes::from_static(b"\xff"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Default::default(),
    };
    will.properties.payload_format_indicator = Some(true);
    connect.will = Some(will);
    let (mut client, connack) = RawClient::connect(b.addr(), connect).await;
    assert_eq!(connack.reason_code, ReasonCode::PAYLOAD_FORMAT_INVALID);
    client.expect_closed(TIMEOUT).await;
}

#[tokio::test]
async fn paho_v5_gets_puback_0x99_for_an_invalid_utf8_payload() {
    paho(&validating().await, "payload_format_invalid").await;
}

// --- Server redirection ------------------------------------------------------------------------------

#[tokio::test]
async fn a_redirecting_server_refuses_connect_with_0x9c_or_0x9d_and_the_server_reference() {
    for (moved, rc) in [(false, ReasonCode::USE_ANOTHER_SERVER), (true, ReasonCode::SERVER_MOVED)] {
        let b = broker(|c| {
            c.mqtt.server_reference = Some("other.example:1883".into());
            c.mqtt.server_moved = moved;
        })
        .await;
        let (mut client, connack) =
            RawClient::connect(b.addr(), connect_packet(ProtocolVersion::V5, "c")).await;
        assert_eq!(connack.reason_code, rc);
        assert_eq!(connack.properties.server_reference.as_deref(), Some("other.example:1883"));
        assert!(!connack.session_present, "[MQTT-3.2.2-6]");
        client.expect_closed(TIMEOUT).await;
        // 3.1.1 cannot be told where to go: server unavailable.
        let (mut old, connack) =
            RawClient::connect(b.addr(), connect_packet(ProtocolVersion::V311, "o")).await;
        assert_eq!(connack.reason_code.to_v3_connack(), 3);
        old.expect_closed(TIMEOUT).await;
    }
}

/// MQTT 5.0 section 4.11: a temporary redirection at run time is DISCONNECT 0x9C Use another server.
#[tokio::test]
async fn a_temporary_redirection_at_run_time_is_disconnect_0x9c() {
    let b = TestBroker::start_default().await;
    let mut v5 = RawClient::connect_ok(b.addr(), ProtocolVersion::V5, "v5").await;
    b.shared().set_redirect(Some(Redirect { server_reference: "other.example:1883".into(), moved: false }));
    match v5.next_packet().await {
        Packet::Disconnect(d) => {
            assert_eq!(d.reason_code, ReasonCode::USE_ANOTHER_SERVER);
            assert_eq!(d.properties.server_reference.as_deref(), Some("other.example:1883"));
        }
        other => panic!("expected DISCONNECT 0x9C, got {other:?}"),
    }
    v5.expect_closed(TIMEOUT).await;
}

#[tokio::test]
async fn redirecting_at_run_time_disconnects_v5_clients_with_the_server_reference() {
    let b = TestBroker::start_default().await;
    let mut v5 = RawClient::connect_ok(b.addr(), ProtocolVersion::V5, "v5").await;
    let mut v311 = RawClient::connect_ok(b.addr(), ProtocolVersion::V311, "v311").await;
    b.shared().set_redirect(Some(Redirect { server_reference: "new.example".into(), moved: true }));
    match v5.next_packet().await {
        Packet::Disconnect(d) => {
            assert_eq!(d.reason_code, ReasonCode::SERVER_MOVED);
            assert_eq!(d.properties.server_reference.as_deref(), Some("new.example"));
        }
        other => panic!("expected DISCONNECT 0x9D, got {other:?}"),
    }
    v5.expect_closed(TIMEOUT).await;
    v311.expect_closed(TIMEOUT).await;
    let (_c, connack) = RawClient::connect(b.addr(), connect_packet(ProtocolVersion::V5, "late")).await;
    assert_eq!(connack.reason_code, ReasonCode::SERVER_MOVED);
    b.shared().set_redirect(None);
    RawClient::connect_ok(b.addr(), ProtocolVersion::V5, "back").await;
}

#[tokio::test]
async fn paho_v5_is_told_the_server_moved() {
    let b = broker(|c| {
        c.mqtt.server_reference = Some("other.example:1883".into());
        c.mqtt.server_moved = true;
    })
    .await;
    paho(&b, "server_moved").await;
}

// --- Quota exceeded ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_message_every_matching_queue_is_too_full_for_gets_puback_0x97() {
    let b = broker(|c| c.limits.max_queued_messages = 1).await;
    let mut connect = connect_packet(ProtocolVersion::V5, "away");
    connect.properties.session_expiry_interval = Some(60);
    let (mut away, _) = RawClient::connect_accepted(b.addr(), connect).await;
    away.subscribe("q/t", QoS::AtLeastOnce).await;
    away.disconnect().await;
    let mut publisher = RawClient::connect_ok(b.addr(), ProtocolVersion::V5, "pub").await;
    // QoS 1 and 2 may go up to twice the queue limit (flow control holds them there); beyond it, 0x97.
    for payload in ["1", "2"] {
        let ack = publisher.publish_at("q/t", payload, QoS::AtLeastOnce).await.unwrap();
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    }
    let third = publisher.publish_at("q/t", "3", QoS::AtLeastOnce).await.unwrap();
    assert_eq!(third.reason_code, ReasonCode::QUOTA_EXCEEDED);
    let none = publisher.publish_at("q/nobody", "3", QoS::AtLeastOnce).await.unwrap();
    assert_eq!(none.reason_code, ReasonCode::NO_MATCHING_SUBSCRIBERS);
    assert!(matches!(publisher.recv(QUIET).await, Event::Timeout), "the publisher stays connected");
}

// --- Wildcard, Shared and Subscription Identifiers Available ---------------------------------------------

/// A broker configured without wildcard subscriptions, shared subscriptions and Subscription Identifiers.
async fn without_subscription_features() -> TestBroker {
    broker(|c| {
        c.limits.wildcard_subscription_available = false;
        c.limits.shared_subscription_available = false;
        c.limits.subscription_identifiers_available = false;
    })
    .await
}

/// MQTT 5.0 3.2.2.3.11-13: a feature switched off is announced in CONNACK (absent means available).
#[tokio::test]
async fn connack_says_which_subscription_features_are_not_available() {
    let (_c, ack) = RawClient::connect_accepted(
        TestBroker::start_default().await.addr(),
        connect_packet(ProtocolVersion::V5, "features-on"),
    )
    .await;
    let p = &ack.properties;
    assert_eq!(
        (
            p.wildcard_subscription_available,
            p.shared_subscription_available,
            p.subscription_identifier_available
        ),
        (None, None, None)
    );
    let broker = without_subscription_features().await;
    let (_c, ack) =
        RawClient::connect_accepted(broker.addr(), connect_packet(ProtocolVersion::V5, "features-off")).await;
    let p = &ack.properties;
    assert_eq!(
        (
            p.wildcard_subscription_available,
            p.shared_subscription_available,
            p.subscription_identifier_available
        ),
        (Some(false), Some(false), Some(false))
    );
}

/// MQTT 5.0 3.2.2.3.11-13: asking for a feature CONNACK said is not available is a Protocol Error answered
/// with DISCONNECT 0xA2 (wildcards), 0x9E (shared) or 0xA1 (Subscription Identifiers); exact filters work.
#[tokio::test]
async fn v5_subscriptions_the_server_does_not_offer_are_disconnected_with_their_reason_code() {
    let broker = without_subscription_features().await;
    let cases: [(&str, Option<u32>, ReasonCode); 4] = [
        ("plant/+/temp", None, ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED),
        ("plant/#", None, ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED),
        ("$share/g/plant/1/temp", None, ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED),
        ("plant/1/temp", Some(7), ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED),
    ];
    for (i, (filter, id, expected)) in cases.into_iter().enumerate() {
        let mut client = RawClient::connect_ok(broker.addr(), ProtocolVersion::V5, &format!("off-{i}")).await;
        let options = tern_codec::SubscriptionOptions { qos: QoS::AtMostOnce, ..Default::default() };
        let mut subscribe =
            tern_test_support::subscribe_packet(tern_test_support::pid(1), &[(filter, options)]);
        subscribe.properties.subscription_identifiers = id.into_iter().collect();
        client.send(Packet::Subscribe(subscribe)).await;
        client.expect_disconnect(expected).await;
    }
    let mut exact = RawClient::connect_ok(broker.addr(), ProtocolVersion::V5, "exact").await;
    let ack = exact.subscribe("plant/1/temp", QoS::AtLeastOnce).await;
    assert_eq!(ack.reason_codes, vec![ReasonCode::GRANTED_QOS_1]);
}

/// A 3.1.1 client was never told: the filters the server does not offer fail in SUBACK (0x80), the others
/// in the same SUBSCRIBE are granted, and the connection stays up.
#[tokio::test]
async fn v311_subscriptions_the_server_does_not_offer_fail_in_suback() {
    let broker = without_subscription_features().await;
    let mut client = RawClient::connect_ok(broker.addr(), ProtocolVersion::V311, "off-311").await;
    let qos1 = tern_codec::SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() };
    let ack =
        client.subscribe_with(&[("plant/#", qos1), ("$share/g/plant/1", qos1), ("plant/1", qos1)]).await;
    assert_eq!(
        ack.reason_codes,
        vec![ReasonCode::UNSPECIFIED_ERROR, ReasonCode::UNSPECIFIED_ERROR, ReasonCode::GRANTED_QOS_1]
    );
    client.ping().await;
}
