//! Eclipse Paho for Python (paho-mqtt 2.x), MQTT 3.1.1 and 5.0, against the broker: the scenarios of
//! tests/interop/paho_scenarios.py (pub/sub with wildcards, QoS 0/1/2, retained messages, the will of a
//! killed client, a persistent session receiving what was published while it was offline).
//!
//! Paho must be installed (scripts/install-test-deps.sh): a missing client fails these tests.

use std::time::Duration;

use tern_test_support::process::{require_python_module, require_tool, run_checked, workspace_root};
use tern_test_support::TestBroker;

async fn paho(protocol: &str, scenario: &str) {
    let python = require_tool("python3");
    require_python_module("paho.mqtt.enums"); // paho-mqtt 2.x
    let broker = TestBroker::start_default().await;
    let mut command = tokio::process::Command::new(python);
    command.arg(workspace_root().join("tests/interop/paho_scenarios.py")).args([
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
async fn paho_v311_pubsub_with_wildcards() {
    paho("311", "pubsub_wildcards").await;
}

#[tokio::test]
async fn paho_v5_pubsub_with_wildcards() {
    paho("5", "pubsub_wildcards").await;
}

#[tokio::test]
async fn paho_v311_qos_0_1_2() {
    paho("311", "qos").await;
}

#[tokio::test]
async fn paho_v5_qos_0_1_2() {
    paho("5", "qos").await;
}

#[tokio::test]
async fn paho_v311_retained() {
    paho("311", "retained").await;
}

#[tokio::test]
async fn paho_v5_retained() {
    paho("5", "retained").await;
}

#[tokio::test]
async fn paho_v311_will_of_a_killed_client() {
    paho("311", "will").await;
}

#[tokio::test]
async fn paho_v5_will_of_a_killed_client() {
    paho("5", "will").await;
}

#[tokio::test]
async fn paho_v311_persistent_session_receives_what_was_published_offline() {
    paho("311", "persistent").await;
}

#[tokio::test]
async fn paho_v5_persistent_session_receives_what_was_published_offline() {
    paho("5", "persistent").await;
}
