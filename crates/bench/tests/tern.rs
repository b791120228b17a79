//! Every scenario end to end against the Tern broker, in-process: small, fast runs whose counts must be
//! exact (never assertions on speed).

mod support;

use support::{assert_exact, run, tern};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_qos1_deliver_every_acknowledged_message_once() {
    let (broker, port) = tern().await;
    let s = run("pairs -c 4 -q 1 -n 300 -d 20s", port).await;
    assert_exact(&s, 1200, 1200);
    assert_eq!((s.publishers, s.subscribers), (4, 4));
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_qos2_over_mqtt5_complete_every_flow() {
    let (broker, port) = tern().await;
    let s = run("pairs -c 3 -q 2 -V 5 -n 200 -d 20s", port).await;
    assert_exact(&s, 600, 600);
    assert_eq!(s.messages.map(|m| m.unacknowledged), Some(0));
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_qos0_at_a_low_rate_stop_after_the_duration() {
    let (broker, port) = tern().await;
    let s = run("pairs -c 2 -q 0 -r 100 -d 1s", port).await;
    let m = s.messages.unwrap();
    // 100 msg/s for one second: the first is sent at once, the rest on schedule.
    assert!((95..=101).contains(&(m.published / 2)), "{s}");
    assert_exact(&s, m.published, m.published);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_delivers_each_message_to_every_subscriber() {
    let (broker, port) = tern().await;
    let s = run("fanout -c 10 -q 1 -n 50 -r 200 -d 20s", port).await;
    assert_exact(&s, 50, 500);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanin_wildcard_subscriber_receives_every_publisher() {
    let (broker, port) = tern().await;
    let s = run("fanin -c 10 -q 1 -n 100 -d 20s", port).await;
    assert_exact(&s, 1000, 1000);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanin_shared_group_receives_each_message_once() {
    let (broker, port) = tern().await;
    let s = run("fanin -c 6 --shared --subscribers 3 -q 1 -V 5 -n 100 -d 20s", port).await;
    assert_eq!(s.scenario, "fanin-shared");
    assert_exact(&s, 600, 600);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subs_routes_each_message_to_the_one_matching_filter() {
    let (broker, port) = tern().await;
    let s = run("subs --filters 900 --subscribers 3 -c 3 --per-subscribe 50 -q 1 -n 300 -d 20s", port).await;
    assert_eq!(s.filters, Some(900));
    assert_exact(&s, 900, 900);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_subscription_receives_every_stored_message_and_they_are_cleared() {
    let (broker, port) = tern().await;
    let s = run("retained -c 500 -q 1", port).await;
    let r = s.retained.unwrap();
    assert_eq!(
        (r.stored, r.received, r.missing, r.duplicated, r.without_retain_flag),
        (500, 500, 0, 0, 0),
        "{s}"
    );
    assert_eq!(s.errors, 0, "{:?}", s.error_samples);
    assert_eq!(broker.shared().retained.read().len(), 0, "cleared at the end");
    let kept = run("retained -c 20 -q 0 --keep", port).await;
    assert_eq!(kept.retained.map(|r| r.received), Some(20));
    assert_eq!(broker.shared().retained.read().len(), 20, "--keep leaves them");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conn_opens_and_holds_every_connection_from_several_sources() {
    let (broker, port) = tern().await;
    let s = run("conn -c 60 --sources 3 --concurrency 20 --hold 300ms", port).await;
    let c = s.connections.unwrap();
    assert_eq!((c.requested, c.connected, c.failed, c.dropped, c.sources), (60, 60, 0, 0, 3), "{s}");
    assert_eq!(s.latency.map(|l| l.count), Some(60), "one connect latency per connection");
    let stats = &broker.shared().stats;
    assert!(tern_broker::stats::Stats::get(&stats.clients_maximum) >= 60);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_cpu_and_memory_are_reported_for_a_given_pid() {
    let (broker, port) = tern().await;
    // The broker runs in this process: its pid is ours.
    let pid = std::process::id();
    let s = run(&format!("pairs -c 1 -q 1 -n 50 -d 10s --broker-pid {pid}"), port).await;
    let usage = s.broker_usage.expect("broker usage");
    assert!(usage.rss_kib > 0 && usage.cpu_seconds >= 0.0);
    assert!(s.generator.is_some());
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_is_not_there_fails_set_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = support::scenario("pairs -c 1 --setup-timeout 2s", port).execute().await.unwrap_err();
    assert!(format!("{err:#}").contains("set-up failed"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_target_needs_allow_remote() {
    let err = support::scenario("pairs -c 1 -h 192.0.2.1", 1883).execute().await.unwrap_err();
    assert!(format!("{err:#}").contains("--allow-remote"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos0_publisher_is_not_limited_by_packet_identifiers() {
    let (broker, port) = tern().await;
    // More messages than there are packet identifiers: QoS 0 uses none, so nothing holds the publisher.
    let s = run("pairs -c 1 -q 0 -n 70000 -d 30s", port).await;
    let m = s.messages.unwrap();
    assert_eq!((m.published, m.accepted), (70_000, 70_000), "{s}");
    assert_eq!((m.duplicated, m.unexpected, m.malformed), (0, 0, 0), "{s}");
    broker.shutdown().await;
}
