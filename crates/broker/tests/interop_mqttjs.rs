//! MQTT.js (npm package mqtt 5.x), MQTT 3.1.1 and 5.0, against the broker: the scenarios of
//! tests/interop/mqttjs_scenarios.js (pub/sub with wildcards, QoS 0/1/2, retained messages, the will of a
//! killed client, a persistent session receiving what was published while it was offline).
//!
//! Node and MQTT.js must be installed (scripts/install-test-deps.sh): a missing client fails these tests.

use std::time::Duration;

use tern_test_support::process::{require_node_package, require_tool, run_checked};
use tern_test_support::TestBroker;

async fn mqttjs(protocol: &str, scenario: &str) {
    let node = require_tool("node");
    let dir = require_node_package("mqtt");
    let broker = TestBroker::start_default().await;
    let mut command = tokio::process::Command::new(node);
    command.current_dir(&dir).arg(dir.join("mqttjs_scenarios.js")).args([
        "--port",
        &broker.port().to_string(),
        "--protocol",
        protocol,
        scenario,
    ]);
    let output = run_checked(command, Duration::from_secs(60)).await;
    assert!(output.contains(&format!("ok {scenario}")), "{output}");
}

#[tokio::test]
async fn mqttjs_v311_pubsub_with_wildcards() {
    mqttjs("4", "pubsub_wildcards").await;
}

#[tokio::test]
async fn mqttjs_v5_pubsub_with_wildcards() {
    mqttjs("5", "pubsub_wildcards").await;
}

#[tokio::test]
async fn mqttjs_v311_qos_0_1_2() {
    mqttjs("4", "qos").await;
}

#[tokio::test]
async fn mqttjs_v5_qos_0_1_2() {
    mqttjs("5", "qos").await;
}

#[tokio::test]
async fn mqttjs_v311_retained() {
    mqttjs("4", "retained").await;
}

#[tokio::test]
async fn mqttjs_v5_retained() {
    mqttjs("5", "retained").await;
}

#[tokio::test]
async fn mqttjs_v311_will_of_a_killed_client() {
    mqttjs("4", "will").await;
}

#[tokio::test]
async fn mqttjs_v5_will_of_a_killed_client() {
    mqttjs("5", "will").await;
}

#[tokio::test]
async fn mqttjs_v311_persistent_session_receives_what_was_published_offline() {
    mqttjs("4", "persistent").await;
}

#[tokio::test]
async fn mqttjs_v5_persistent_session_receives_what_was_published_offline() {
    mqttjs("5", "persistent").await;
}
