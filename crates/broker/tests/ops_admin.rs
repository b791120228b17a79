//! The HTTP admin API end to end over real sockets: authentication, clients, subscriptions, retained
//! messages, publishing, disconnecting, reload, health and readiness.

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod ops_support;

use std::sync::Arc;

use ops_support::{config, http, start, Mqtt};
use tern_codec::{Connect, Packet, ProtocolVersion, QoS};

const TOKEN: &str = "Bearer t0ken-for-tests";

fn with_http(token: Option<&str>) -> tern_broker::config::Config {
    let mut cfg = config();
    cfg.http.listen = Some("127.0.0.1:0".into());
    cfg.http.token = token.map(str::to_owned);
    cfg
}

#[tokio::test]
async fn the_api_needs_credentials_when_configured_and_probes_do_not() {
    let (broker, _) = start(with_http(Some("t0ken-for-tests"))).await;
    let addr = broker.http_addr().unwrap();
    let denied = http(addr, "GET", "/api/v1/clients", None, None).await;
    assert_eq!(denied.status, 401);
    assert_eq!(denied.header("www-authenticate"), Some("Bearer realm=\"tern\""));
    assert_eq!(http(addr, "GET", "/api/v1/clients", Some("Bearer wrong"), None).await.status, 401);
    assert_eq!(http(addr, "POST", "/api/v1/publish", None, Some(r#"{"topic":"a"}"#)).await.status, 401);
    assert_eq!(http(addr, "GET", "/api/v1/clients", Some(TOKEN), None).await.status, 200);
    assert_eq!(http(addr, "GET", "/health", None, None).await.json()["status"], "ok");
    assert_eq!(http(addr, "GET", "/ready", None, None).await.json()["status"], "ready");
    // Scrapers need no credentials unless `metrics_auth` is set.
    assert_eq!(http(addr, "GET", "/metrics", None, None).await.status, 200);
    assert_eq!(http(addr, "GET", "/nothing", Some(TOKEN), None).await.status, 404);
    assert_eq!(http(addr, "PUT", "/api/v1/publish", Some(TOKEN), None).await.status, 405);
    broker.shutdown().await;
}

#[tokio::test]
async fn basic_auth_and_metrics_auth() {
    let mut cfg = with_http(None);
    cfg.http.username = Some("ops".into());
    cfg.http.password = Some("pa55".into());
    cfg.http.metrics_auth = true;
    let (broker, _) = start(cfg).await;
    let addr = broker.http_addr().unwrap();
    // base64("ops:pa55") and base64("ops:nope").
    assert_eq!(http(addr, "GET", "/metrics", None, None).await.status, 401);
    assert_eq!(http(addr, "GET", "/metrics", Some("Basic b3BzOnBhNTU="), None).await.status, 200);
    assert_eq!(http(addr, "GET", "/api/v1/broker", Some("Basic b3BzOm5vcGU="), None).await.status, 401);
    let info = http(addr, "GET", "/api/v1/broker", Some("Basic b3BzOnBhNTU="), None).await.json();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    broker.shutdown().await;
}

#[tokio::test]
async fn a_public_address_without_credentials_is_refused() {
    let mut cfg = with_http(None);
    cfg.http.listen = Some("0.0.0.0:0".into());
    let err = tern_broker::Broker::new(tern_test_support::in_memory(cfg)).start().await.unwrap_err();
    assert!(err.to_string().contains("without credentials"), "{err}");
    // With a token it starts.
    let mut cfg = with_http(Some("secret"));
    cfg.http.listen = Some("0.0.0.0:0".into());
    let broker = tern_broker::Broker::new(tern_test_support::in_memory(cfg)).start().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test]
async fn clients_are_listed_inspected_and_disconnected() {
    let (broker, mqtt) = start(with_http(Some("t0ken-for-tests"))).await;
    let addr = broker.http_addr().unwrap();
    let connect = Connect {
        protocol: ProtocolVersion::V5,
        client_id: "sensor/1".into(),
        keep_alive: 42,
        username: Some("sensor".into()),
        ..Connect::default()
    };
    let (mut sensor, _) = Mqtt::connect_with(mqtt, connect).await;
    sensor.subscribe("cmd/sensor-1/#", QoS::AtLeastOnce).await;
    sensor.subscribe("$share/g/all/#", QoS::AtMostOnce).await;
    let _other = Mqtt::connect(mqtt, "other", ProtocolVersion::V311).await;

    let list = http(addr, "GET", "/api/v1/clients", Some(TOKEN), None).await.json();
    let clients = list["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2);
    assert_eq!(clients[0]["client_id"], "other");
    assert_eq!(clients[0]["protocol_version"], 4);
    let sensor_json = &clients[1];
    assert_eq!(sensor_json["client_id"], "sensor/1");
    assert_eq!(sensor_json["protocol"], "MQTT v5.0");
    assert_eq!(sensor_json["keep_alive"], 42);
    assert_eq!(sensor_json["username"], "sensor");
    assert_eq!(sensor_json["subscription_count"], 2);
    assert!(sensor_json["address"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(sensor_json["connected_since"].as_u64().unwrap() > 1_600_000_000);

    // A client id with a `/` is percent-encoded in the path.
    let detail = http(addr, "GET", "/api/v1/clients/sensor%2F1", Some(TOKEN), None).await.json();
    assert_eq!(detail["inflight"], 0);
    assert_eq!(detail["queued"], 0);
    let filters: Vec<&str> =
        detail["subscriptions"].as_array().unwrap().iter().map(|s| s["filter"].as_str().unwrap()).collect();
    assert_eq!(filters, ["$share/g/all/#", "cmd/sensor-1/#"]);
    assert_eq!(http(addr, "GET", "/api/v1/clients/nobody", Some(TOKEN), None).await.status, 404);

    // Subscriptions by filter, by client, and by the topic they would receive.
    let by_topic =
        http(addr, "GET", "/api/v1/subscriptions?topic=cmd/sensor-1/reboot", Some(TOKEN), None).await.json();
    assert_eq!(by_topic["subscriptions"].as_array().unwrap().len(), 1);
    assert_eq!(by_topic["subscriptions"][0]["client_id"], "sensor/1");
    assert_eq!(by_topic["subscriptions"][0]["qos"], 1);
    let by_filter =
        http(addr, "GET", "/api/v1/subscriptions?filter=%24share%2Fg%2Fall%2F%23", Some(TOKEN), None)
            .await
            .json();
    assert_eq!(by_filter["subscriptions"].as_array().unwrap().len(), 1);
    let by_client =
        http(addr, "GET", "/api/v1/subscriptions?client_id=other", Some(TOKEN), None).await.json();
    assert_eq!(by_client["subscriptions"].as_array().unwrap().len(), 0);

    // Disconnect: a v5 client is told 0x98 Administrative action.
    let kicked = http(addr, "DELETE", "/api/v1/clients/sensor%2F1", Some(TOKEN), None).await;
    assert_eq!(kicked.status, 202);
    match sensor.recv_until(|p| matches!(p, Packet::Disconnect(_))).await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code.0, 0x98),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    assert!(ops_support::eventually(|| broker.shared().clients.get("sensor/1").is_none()).await);
    assert_eq!(http(addr, "DELETE", "/api/v1/clients/sensor%2F1", Some(TOKEN), None).await.status, 404);
    broker.shutdown().await;
}

#[tokio::test]
async fn offline_sessions_are_listed_on_request() {
    let (broker, mqtt) = start(with_http(None)).await;
    let addr = broker.http_addr().unwrap();
    let (mut away, _) = Mqtt::connect_with(
        mqtt,
        Connect { client_id: "away".into(), clean_start: false, ..Connect::default() },
    )
    .await;
    away.subscribe("x/#", QoS::AtLeastOnce).await;
    away.disconnect().await;
    assert!(ops_support::eventually(|| broker.shared().clients.is_empty()).await);
    // No credentials configured on loopback: the API is open.
    assert_eq!(
        http(addr, "GET", "/api/v1/clients", None, None).await.json()["clients"].as_array().unwrap().len(),
        0
    );
    let all = http(addr, "GET", "/api/v1/clients?include_offline=true", None, None).await.json();
    assert_eq!(all["clients"][0]["client_id"], "away");
    assert_eq!(all["clients"][0]["connected"], false);
    let detail = http(addr, "GET", "/api/v1/clients/away", None, None).await.json();
    assert_eq!(detail["subscriptions"][0]["filter"], "x/#");
    broker.shutdown().await;
}

#[tokio::test]
async fn messages_are_published_and_retained_messages_read_and_deleted() {
    let (broker, mqtt) = start(with_http(Some("t0ken-for-tests"))).await;
    let addr = broker.http_addr().unwrap();
    let mut sub = Mqtt::connect(mqtt, "sub", ProtocolVersion::V311).await;
    sub.subscribe("cfg/#", QoS::AtLeastOnce).await;

    let sent = http(
        addr,
        "POST",
        "/api/v1/publish",
        Some(TOKEN),
        Some(r#"{"topic":"cfg/a","payload":"on","qos":1,"retain":true}"#),
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(sent.json()["delivered"], 1);
    let got = sub.next_publish().await.unwrap();
    assert_eq!((&*got.topic, &got.payload[..], got.qos), ("cfg/a", &b"on"[..], QoS::AtLeastOnce));
    let binary = r#"{"topic":"cfg/b","payload_base64":"AAEC/w==","retain":true}"#;
    assert_eq!(http(addr, "POST", "/api/v1/publish", Some(TOKEN), Some(binary)).await.status, 200);
    assert_eq!(&sub.next_publish().await.unwrap().payload[..], &[0, 1, 2, 255]);

    // Bad requests.
    for body in [
        r#"{"topic":"a/#"}"#,
        r#"{"topic":"$SYS/x"}"#,
        r#"{"topic":"a","qos":3}"#,
        r#"{"topic":"a","payload":"x","payload_base64":"eA=="}"#,
        "not json",
    ] {
        assert_eq!(
            http(addr, "POST", "/api/v1/publish", Some(TOKEN), Some(body)).await.status,
            400,
            "{body}"
        );
    }

    let list = http(addr, "GET", "/api/v1/retained?filter=cfg%2F%2B", Some(TOKEN), None).await.json();
    let retained = list["retained"].as_array().unwrap();
    assert_eq!(retained.len(), 2);
    assert_eq!(retained[0]["topic"], "cfg/a");
    assert_eq!(retained[0]["payload"], "on");
    assert_eq!(retained[1]["payload"], serde_json::Value::Null, "not UTF-8");
    assert_eq!(retained[1]["payload_base64"], "AAEC/w==");
    let one = http(addr, "GET", "/api/v1/retained/cfg/a", Some(TOKEN), None).await.json();
    assert_eq!(one["qos"], 1);
    assert_eq!(http(addr, "GET", "/api/v1/retained?filter=a%2F%23%2Fb", Some(TOKEN), None).await.status, 400);

    assert_eq!(http(addr, "DELETE", "/api/v1/retained/cfg/a", Some(TOKEN), None).await.status, 200);
    assert_eq!(http(addr, "GET", "/api/v1/retained/cfg/a", Some(TOKEN), None).await.status, 404);
    assert_eq!(http(addr, "DELETE", "/api/v1/retained/cfg/a", Some(TOKEN), None).await.status, 404);
    // A new subscriber gets only what is left.
    let mut late = Mqtt::connect(mqtt, "late", ProtocolVersion::V311).await;
    late.subscribe("cfg/#", QoS::AtMostOnce).await;
    assert_eq!(&*late.next_publish().await.unwrap().topic, "cfg/b");
    assert!(late.recv_within(std::time::Duration::from_millis(300)).await.is_none());
    broker.shutdown().await;
}

#[tokio::test]
async fn reload_calls_the_hook_or_answers_501() {
    let (broker, _) = start(with_http(None)).await;
    let addr = broker.http_addr().unwrap();
    assert_eq!(http(addr, "POST", "/api/v1/reload", None, None).await.status, 501);
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    broker.shared().set_reload_hook(Arc::new(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async { Ok("reloaded 1 file".to_owned()) })
    }));
    let ok = http(addr, "POST", "/api/v1/reload", None, None).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["result"], "reloaded 1 file");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    broker.shared().set_reload_hook(Arc::new(|| Box::pin(async { Err("bad line 3".to_owned()) })));
    let failed = http(addr, "POST", "/api/v1/reload", None, None).await;
    assert_eq!(failed.status, 500);
    assert!(failed.json()["error"].as_str().unwrap().contains("bad line 3"));
    broker.shutdown().await;
}

#[tokio::test]
async fn an_oversized_request_body_is_refused() {
    let (broker, _) = start(with_http(None)).await;
    let addr = broker.http_addr().unwrap();
    let big =
        format!(r#"{{"topic":"a","payload":"{}"}}"#, "x".repeat(tern_broker::admin::routes::MAX_BODY + 1));
    assert_eq!(http(addr, "POST", "/api/v1/publish", None, Some(&big)).await.status, 413);
    assert_eq!(http(addr, "GET", "/health", None, None).await.status, 200);
    broker.shutdown().await;
}
