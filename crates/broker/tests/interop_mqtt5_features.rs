//! MQTT 5.0 features, and MQTT 3.1, end to end with a third-party client: each scenario of
//! tests/interop/paho_mqtt5_features.py (Eclipse Paho, paho-mqtt 2.x) against a broker configured for it.
//! Our own client's tests of the same rules are in properties.rs, subscribe.rs, session.rs, will.rs,
//! keep_alive.rs, limits.rs, connect.rs and mqtt5_server.rs.

use std::sync::Arc;
use std::time::Duration;

use tern_broker::auth::{Authorizer, ClientInfo};
use tern_broker::config::Config;
use tern_test_support::process::{require_python_module, require_tool, run_checked, workspace_root};
use tern_test_support::TestBroker;

/// Denies publishing and subscribing under `secret/`.
#[derive(Debug)]
struct NoSecrets;

impl Authorizer for NoSecrets {
    fn can_publish(&self, _: &ClientInfo<'_>, topic: &str) -> bool {
        !topic.starts_with("secret/")
    }
    fn can_subscribe(&self, _: &ClientInfo<'_>, filter: &str) -> bool {
        !filter.starts_with("secret/")
    }
    fn can_receive(&self, _: &ClientInfo<'_>, topic: &str) -> bool {
        !topic.starts_with("secret/")
    }
}

/// Runs `scenario` against a broker with the default configuration changed by `configure`, and with
/// [`NoSecrets`] if `restricted`.
async fn paho_with(scenario: &str, restricted: bool, configure: impl FnOnce(&mut Config)) {
    let python = require_tool("python3");
    require_python_module("paho.mqtt.enums");
    let mut config = Config::default();
    configure(&mut config);
    let broker = match restricted {
        true => TestBroker::start_with(config, |b| b.with_authorizer(Arc::new(NoSecrets))).await,
        false => TestBroker::start(config).await,
    };
    let mut command = tokio::process::Command::new(python);
    command.arg(workspace_root().join("tests/interop/paho_mqtt5_features.py")).args([
        "--port",
        &broker.port().to_string(),
        scenario,
    ]);
    let output = run_checked(command, Duration::from_secs(40)).await;
    assert!(output.contains(&format!("ok {scenario}")), "{output}");
}

async fn paho(scenario: &str) {
    paho_with(scenario, false, |_| {}).await;
}

// --- Topic aliases ----------------------------------------------------------------------------------------

#[tokio::test]
async fn paho_topic_alias_from_client_is_resolved_mqtt_3_3_2_12() {
    paho("topic_alias_from_client").await;
}

#[tokio::test]
async fn paho_topic_alias_above_maximum_or_unknown_is_disconnected_mqtt_3_3_2_9() {
    paho("topic_alias_errors").await;
}

#[tokio::test]
async fn paho_topic_aliases_to_client_stay_within_its_maximum_mqtt_3_3_2_11() {
    paho("topic_alias_to_client").await;
}

// --- Message Expiry ---------------------------------------------------------------------------------------

#[tokio::test]
async fn paho_message_expiry_drops_expired_and_counts_down_the_rest_mqtt_3_3_2_5() {
    paho("message_expiry").await;
}

// --- Subscription options ---------------------------------------------------------------------------------

#[tokio::test]
async fn paho_no_local_keeps_own_messages_back_mqtt_3_8_3_3() {
    paho("no_local").await;
}

#[tokio::test]
async fn paho_retain_as_published_sets_the_retain_flag_mqtt_3_3_1_12() {
    paho("retain_as_published").await;
}

#[tokio::test]
async fn paho_retain_handling_0_1_2_mqtt_3_3_1_9() {
    paho("retain_handling").await;
}

#[tokio::test]
async fn paho_granted_qos_per_filter_and_maximum_qos_retain_available_mqtt_3_2_2_9() {
    paho_with("granted_qos_and_connack_limits", true, |c| {
        c.limits.max_qos = 1;
        c.limits.retain_available = false;
    })
    .await;
}

// --- Subscription Identifiers -----------------------------------------------------------------------------

#[tokio::test]
async fn paho_subscription_identifiers_of_every_matching_subscription_mqtt_3_3_4_3() {
    paho("subscription_identifiers").await;
}

// --- Properties passed through ----------------------------------------------------------------------------

#[tokio::test]
async fn paho_response_topic_and_correlation_data_pass_unchanged_mqtt_3_3_2_15() {
    paho("request_response").await;
}

#[tokio::test]
async fn paho_payload_format_content_type_and_user_properties_pass_unchanged_mqtt_3_3_2_17() {
    paho("publish_properties").await;
}

// --- Server side of CONNACK and flow control --------------------------------------------------------------

#[tokio::test]
async fn paho_empty_client_id_gets_an_assigned_client_identifier_mqtt_3_2_2_16() {
    paho("assigned_client_identifier").await;
}

#[tokio::test]
async fn paho_is_told_the_server_keep_alive_mqtt_3_2_2_21() {
    paho_with("server_keep_alive", false, |c| c.limits.max_keepalive = 10).await;
}

#[tokio::test]
async fn paho_receive_maximum_of_the_client_is_honoured_mqtt_3_3_4_9() {
    paho("receive_maximum").await;
}

#[tokio::test]
async fn paho_reason_string_only_when_problem_information_is_requested_mqtt_3_1_2_29() {
    paho_with("reason_string", true, |c| c.mqtt.validate_utf8_payloads = true).await;
}

// --- Will Delay Interval ----------------------------------------------------------------------------------

#[tokio::test]
async fn paho_will_delay_defers_the_will_and_reconnecting_cancels_it_mqtt_3_1_3_9() {
    paho("will_delay").await;
}

// --- DISCONNECT from the server ---------------------------------------------------------------------------

#[tokio::test]
async fn paho_session_taken_over_gets_disconnect_0x8e_mqtt_3_1_4_3() {
    paho("session_taken_over").await;
}

#[tokio::test]
async fn paho_silent_client_gets_disconnect_0x8d_mqtt_3_1_2_22() {
    paho("keep_alive_timeout").await;
}

/// 3.14.2.2.2: a Session Expiry Interval set at DISCONNECT after 0 at CONNECT is a protocol error.
#[tokio::test]
async fn paho_session_expiry_raised_at_disconnect_is_a_protocol_error_and_publishes_the_will() {
    paho("session_expiry_raised_at_disconnect").await;
}

// --- Session Expiry Interval ------------------------------------------------------------------------------

#[tokio::test]
async fn paho_session_is_kept_for_its_expiry_interval_then_dropped_mqtt_3_1_2_23() {
    paho("session_expiry").await;
}

// --- MQTT 3.1 ---------------------------------------------------------------------------------------------

/// MQTT 3.1 section 3.1: a Client Identifier of 1 to 23 characters, else return code 2.
#[tokio::test]
async fn paho_mqtt31_round_trip_and_23_character_client_id_rule() {
    paho("mqtt31").await;
}
