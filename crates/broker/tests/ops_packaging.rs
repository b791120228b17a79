//! The shipped packaging and operations docs stay true to the code: the sample configuration loads, the
//! systemd unit reloads with SIGHUP, the OpenAPI file lists exactly the routes served, and the operating
//! guide names every metric the broker exports.

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod ops_support;

use tern_broker::config::Config;

const TERN_TOML: &str = include_str!("../../../packaging/tern.toml");
const SERVICE: &str = include_str!("../../../packaging/tern.service");
const DOCKERFILE: &str = include_str!("../../../packaging/Dockerfile");
const MOSQUITTO_CONF: &str = include_str!("../../../packaging/mosquitto.conf");
const OPENAPI: &str = include_str!("../../../docs/admin-api.yaml");
const OPERATING: &str = include_str!("../../../docs/operating.md");
const ROUTES: &str = include_str!("../src/admin/routes.rs");

fn packaging(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging").join(name)
}

#[test]
fn the_sample_tern_toml_loads_with_every_operations_setting() {
    let (config, notices) = Config::load_with_notices(packaging("tern.toml")).unwrap();
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(config, Config::from_toml_str(TERN_TOML, "tern.toml").unwrap());
    assert_eq!(config.sys_interval, 10);
    assert_eq!(config.http.listen.as_deref(), Some("127.0.0.1:9883"));
    assert!(config.http.token.is_none(), "no shipped secret");
    let l = &config.limits;
    assert_eq!(
        (l.max_connection_rate, l.max_publish_rate, l.max_publish_bytes_rate),
        (500, 1000, 10 * 1024 * 1024)
    );
    assert_eq!(
        (l.max_subscriptions_per_client, l.max_topic_levels, l.max_client_id_length),
        (1000, 128, 256)
    );
    assert_eq!(l.memory_high_water, 2 << 30);
}

#[tokio::test]
async fn a_broker_runs_on_the_sample_configuration() {
    let mut config = Config::load(packaging("tern.toml")).unwrap();
    // Ephemeral ports instead of 1883 and 9883, and no password file; everything else as shipped.
    config.security.password_file = None;
    config.listeners[0].port = 0;
    config.listeners[0].bind_address = Some("127.0.0.1".into());
    config.http.listen = Some("127.0.0.1:0".into());
    let broker = tern_broker::Broker::new(tern_test_support::in_memory(config)).start().await.unwrap();
    let health = ops_support::http(broker.http_addr().unwrap(), "GET", "/health", None, None).await;
    assert_eq!(health.status, 200);
    broker.shutdown().await;
}

#[test]
fn the_systemd_unit_reloads_with_sighup_and_the_image_installs_the_cli_crate() {
    assert!(SERVICE.lines().any(|l| l == "ExecReload=/bin/kill -HUP $MAINPID"));
    assert!(SERVICE.lines().any(|l| l.starts_with("ExecStart=/usr/local/bin/tern broker -c ")));
    assert!(DOCKERFILE.contains("cargo install --locked --path crates/cli"));
    assert!(DOCKERFILE.contains("ENTRYPOINT [\"/usr/local/bin/tern\", \"broker\"]"));
}

#[test]
fn the_sample_mosquitto_conf_loads_as_mosquitto_would() {
    let (config, notices) = Config::load_with_notices(packaging("mosquitto.conf")).unwrap();
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(config.listeners.len(), 1);
    assert_eq!(config.listeners[0].port, 1883);
    assert_eq!(config.security.allow_anonymous, Some(true));
    assert!(config.persistence.enabled());
    assert_eq!(config.sys_interval, 10);
}

#[test]
fn the_sample_mosquitto_conf_keeps_to_common_directives() {
    let directives: Vec<&str> = MOSQUITTO_CONF
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        directives,
        ["listener", "allow_anonymous", "persistence", "persistence_location", "sys_interval"]
    );
}

/// Paths in the route table of `admin/routes.rs`, `{...}` placeholders as in OpenAPI.
fn served_paths() -> Vec<String> {
    let mut paths: Vec<String> = ROUTES
        .lines()
        .filter_map(|l| l.strip_prefix("//! |"))
        .filter_map(|l| l.split('|').nth(1))
        .filter_map(|cell| cell.trim().strip_prefix('`')?.split(['`', '?']).next().map(str::to_owned))
        .collect();
    paths.sort();
    paths
}

#[test]
fn the_openapi_file_lists_exactly_the_served_routes() {
    let mut documented: Vec<String> = OPENAPI
        .lines()
        .filter(|l| l.starts_with("  /") && l.ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':').to_owned())
        .collect();
    documented.sort();
    let served = served_paths();
    assert_eq!(served.len(), 11, "{served:?}");
    assert_eq!(documented, served);
}

#[tokio::test]
async fn the_operating_guide_names_every_exported_metric() {
    let mut config = ops_support::config();
    config.http.listen = Some("127.0.0.1:0".into());
    let (broker, _) = ops_support::start(config).await;
    let metrics = ops_support::http(broker.http_addr().unwrap(), "GET", "/metrics", None, None).await.body;
    let families: Vec<&str> =
        metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
    assert!(families.len() > 30);
    for family in families {
        assert!(OPERATING.contains(&format!("`{family}`")), "docs/operating.md does not describe {family}");
    }
    broker.shutdown().await;
}
