//! Mosquitto's command-line clients (`mosquitto_pub`, `mosquitto_sub`), MQTT 3.1.1 and 5.0, against the
//! broker: pub/sub with wildcards, QoS 0/1/2, retained messages, the will of a killed client, a persistent
//! session receiving what was published while it was offline.
//!
//! The clients must be installed (Debian package mosquitto-clients, scripts/install-test-deps.sh): a
//! missing client fails these tests.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tern_codec::{ProtocolVersion, QoS};
use tern_test_support::process::{require_tool, run_checked};
use tern_test_support::{RawClient, TestBroker, TIMEOUT};
use tokio::process::{Child, Command};

const RUN: Duration = Duration::from_secs(30);

fn version_flag(v5: bool) -> &'static str {
    if v5 {
        "mqttv5"
    } else {
        "mqttv311"
    }
}

/// `tool -h 127.0.0.1 -p PORT -V VERSION args...`
fn client(tool: &str, broker: &TestBroker, v5: bool, args: &[&str]) -> Command {
    let mut command = Command::new(require_tool(tool));
    command.args(["-h", "127.0.0.1", "-p", &broker.port().to_string(), "-V", version_flag(v5)]).args(args);
    command
}

async fn pub_(broker: &TestBroker, v5: bool, args: &[&str]) {
    run_checked(client("mosquitto_pub", broker, v5, args), RUN).await;
}

/// Starts `mosquitto_sub` in the background and waits until the broker has `subscriptions` in total.
async fn spawn_sub(broker: &TestBroker, v5: bool, args: &[&str], subscriptions: usize) -> Child {
    let mut command = client("mosquitto_sub", broker, v5, args);
    command.kill_on_drop(true).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let child = command.spawn().expect("run mosquitto_sub");
    let deadline = Instant::now() + TIMEOUT;
    while broker.shared().router.subscription_count() < subscriptions {
        assert!(Instant::now() < deadline, "mosquitto_sub did not subscribe");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}

/// The output of a `mosquitto_sub -C N` started with [`spawn_sub`], once it has exited.
async fn output_of(child: Child) -> Vec<String> {
    let output = tokio::time::timeout(RUN, child.wait_with_output())
        .await
        .expect("mosquitto_sub exits")
        .expect("output");
    assert!(output.status.success(), "mosquitto_sub: {}", output.status);
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

async fn pubsub_with_wildcards(v5: bool) {
    let broker = TestBroker::start_default().await;
    let sub = spawn_sub(&broker, v5, &["-t", "m/+/temp", "-t", "m/house/#", "-v", "-C", "3"], 2).await;
    for topic in ["m/kitchen/temp", "m/house/hall/light", "m/kitchen/hum", "m/house"] {
        pub_(&broker, v5, &["-t", topic, "-m", &format!("to {topic}")]).await;
    }
    assert_eq!(
        output_of(sub).await,
        [
            "m/house to m/house",
            "m/house/hall/light to m/house/hall/light",
            "m/kitchen/temp to m/kitchen/temp"
        ]
    );
}

#[tokio::test]
async fn mosquitto_clients_v311_pubsub_with_wildcards() {
    pubsub_with_wildcards(false).await;
}

#[tokio::test]
async fn mosquitto_clients_v5_pubsub_with_wildcards() {
    pubsub_with_wildcards(true).await;
}

async fn qos_0_1_2(v5: bool) {
    let broker = TestBroker::start_default().await;
    let sub = spawn_sub(&broker, v5, &["-t", "m/qos", "-q", "2", "-C", "3", "-F", "%q %p"], 1).await;
    for qos in ["0", "1", "2"] {
        pub_(&broker, v5, &["-t", "m/qos", "-q", qos, "-m", &format!("qos {qos}")]).await;
    }
    assert_eq!(output_of(sub).await, ["0 qos 0", "1 qos 1", "2 qos 2"]);
}

#[tokio::test]
async fn mosquitto_clients_v311_qos_0_1_2() {
    qos_0_1_2(false).await;
}

#[tokio::test]
async fn mosquitto_clients_v5_qos_0_1_2() {
    qos_0_1_2(true).await;
}

async fn retained(v5: bool) {
    let broker = TestBroker::start_default().await;
    pub_(&broker, v5, &["-t", "m/ret", "-q", "1", "-r", "-m", "first"]).await;
    pub_(&broker, v5, &["-t", "m/ret", "-q", "1", "-r", "-m", "latest"]).await;
    let sub = client("mosquitto_sub", &broker, v5, &["-t", "m/#", "-q", "1", "-C", "1", "-F", "%r %q %t %p"]);
    assert_eq!(run_checked(sub, RUN).await.trim(), "1 1 m/ret latest");
    pub_(&broker, v5, &["-t", "m/ret", "-r", "-n"]).await; // an empty retained message clears it
    let mut late = RawClient::connect_ok(broker.addr(), ProtocolVersion::V311, "late").await;
    late.subscribe("m/#", QoS::AtMostOnce).await;
    late.expect_nothing(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn mosquitto_clients_v311_retained() {
    retained(false).await;
}

#[tokio::test]
async fn mosquitto_clients_v5_retained() {
    retained(true).await;
}

async fn will_of_a_killed_client(v5: bool) {
    let broker = TestBroker::start_default().await;
    let mut watcher = RawClient::connect_ok(broker.addr(), ProtocolVersion::V5, "watcher").await;
    watcher.subscribe("m/will", QoS::AtLeastOnce).await;
    let args = ["-t", "m/alive", "--will-topic", "m/will", "--will-payload", "died", "--will-qos", "1"];
    let mut sub = spawn_sub(&broker, v5, &args, 2).await;
    watcher.expect_nothing(Duration::from_millis(200)).await;
    sub.start_kill().expect("SIGKILL mosquitto_sub");
    sub.wait().await.expect("mosquitto_sub ends");
    let will = watcher.receive_and_ack().await;
    assert_eq!(
        (will.topic.as_ref(), will.payload.as_ref(), will.qos),
        ("m/will", &b"died"[..], QoS::AtLeastOnce)
    );
}

#[tokio::test]
async fn mosquitto_clients_v311_will_of_a_killed_client() {
    will_of_a_killed_client(false).await;
}

#[tokio::test]
async fn mosquitto_clients_v5_will_of_a_killed_client() {
    will_of_a_killed_client(true).await;
}

async fn persistent_session(v5: bool) {
    let broker = TestBroker::start_default().await;
    let mut session = vec!["-c", "-i", "m-persist", "-q", "1", "-t", "m/persist"];
    if v5 {
        session.extend(["-x", "300"]);
    }
    let subscribe_and_leave = [session.as_slice(), &["-E"]].concat();
    run_checked(client("mosquitto_sub", &broker, v5, &subscribe_and_leave), RUN).await;
    pub_(&broker, v5, &["-t", "m/persist", "-q", "1", "-m", "offline 1"]).await;
    pub_(&broker, v5, &["-t", "m/persist", "-q", "0", "-m", "offline qos 0"]).await;
    pub_(&broker, v5, &["-t", "m/persist", "-q", "2", "-m", "offline 2"]).await;
    let receive = [session.as_slice(), &["-C", "2", "-W", "10"]].concat();
    let output = run_checked(client("mosquitto_sub", &broker, v5, &receive), RUN).await;
    assert_eq!(output.lines().collect::<Vec<_>>(), ["offline 1", "offline 2"]);
}

#[tokio::test]
async fn mosquitto_clients_v311_persistent_session_receives_what_was_published_offline() {
    persistent_session(false).await;
}

#[tokio::test]
async fn mosquitto_clients_v5_persistent_session_receives_what_was_published_offline() {
    persistent_session(true).await;
}
