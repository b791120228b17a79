//! IPv6 listeners from mosquitto.conf: `listener PORT ::1` binds the IPv6 loopback only.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use tern_broker::config::Config;
use tern_broker::Broker;
use tern_codec::{ProtocolVersion, QoS};
use tern_test_support::{in_memory, RawClient};

#[tokio::test]
async fn a_listener_on_ipv6_loopback_serves_clients_over_ipv6() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback (::1)");
        return;
    }
    let mut config = Config::from_mosquitto_str("listener 1883 ::1\nallow_anonymous true\n", "v6.conf")
        .expect("config loads");
    assert_eq!(config.listeners[0].bind_address.as_deref(), Some("::1"));
    config.listeners[0].port = 0; // A free port, as every test broker uses.
    let running = Broker::new(in_memory(config)).start().await.expect("broker starts");
    let addrs = running.local_addrs();
    assert_eq!(addrs.len(), 1);
    assert_eq!(addrs[0].ip(), IpAddr::V6(Ipv6Addr::LOCALHOST), "bound to ::1 only");
    let port = addrs[0].port();
    let v6: SocketAddr = (Ipv6Addr::LOCALHOST, port).into();

    let mut sub = RawClient::connect_ok(v6, ProtocolVersion::V5, "v6-sub").await;
    sub.subscribe("v6/t", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect_ok(v6, ProtocolVersion::V311, "v6-pub").await;
    publisher.publish_qos0("v6/t", "over ipv6").await;
    assert_eq!(sub.expect_publish().await.payload, "over ipv6");
    // Not on the IPv4 loopback.
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err());
}
