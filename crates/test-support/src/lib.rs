//! # tern-test-support
//!
//! What Tern's end-to-end and interop tests share: everything runs over real sockets on 127.0.0.1, on
//! ports the kernel picks, so tests can run in parallel and never touch a port somebody else uses.
//!
//! ```no_run
//! use tern_codec::{ProtocolVersion, QoS};
//! use tern_test_support::{RawClient, TestBroker};
//!
//! # async fn example() {
//! let broker = TestBroker::start_default().await;
//! let mut sub = RawClient::connect_ok(broker.addr(), ProtocolVersion::V311, "sub").await;
//! sub.subscribe("a/+", QoS::AtMostOnce).await;
//! let mut publisher = RawClient::connect_ok(broker.addr(), ProtocolVersion::V5, "pub").await;
//! publisher.publish_qos0("a/b", "hello").await;
//! assert_eq!(sub.expect_publish().await.payload, "hello");
//! # }
//! ```
//!
//! # Layout
//! - [`broker`]: [`TestBroker`], the real broker library on an ephemeral port
//! - [`raw`]: [`RawClient`], MQTT frames over a TcpStream, for exact wire behaviour; packet builders
//! - [`mosquitto`]: a real Mosquitto broker with a generated configuration, for client interop tests
//! - [`pki`]: CA, server and client certificates and CRLs for TLS tests
//! - [`inprocess`]: a Tern broker in this process configured with mosquitto.conf lines, like [`mosquitto`]'s
//! - [`server`]: [`AnyBroker`], either of them, for tests that run against both
//! - [`proxy`]: a lossy link between a client and a broker: lost packets, cut connections
//! - [`process`]: free ports, the `tern` binary, third-party tools that must be present

pub mod broker;
pub mod inprocess;
pub mod mosquitto;
pub mod pki;
pub mod process;
pub mod proxy;
pub mod raw;
pub mod server;

pub use broker::{in_memory, TestBroker};
pub use mosquitto::Mosquitto;
pub use process::{
    free_port, require_node_package, require_python_module, require_tool, run_checked, workspace_root,
    ChildGuard, TernBroker,
};
pub use raw::{
    connect_packet, pid, publish_packet, qos_options, subscribe_packet, Event, RawClient, TIMEOUT,
};
pub use server::{AnyBroker, BrokerKind, BROKER_KINDS};

/// Waits until `cond` holds, checking every 20 ms for at most 5 s.
pub async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..250 {
        if cond() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    cond()
}
