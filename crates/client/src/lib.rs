//! # tern-client
//!
//! An async MQTT 3.1, 3.1.1 and 5.0 client for tokio: a cheap, cloneable [`Client`] handle and one event
//! loop task that owns the connection and the session state. QoS 0, 1 and 2 in both directions with an
//! inflight window and redelivery, clean and persistent sessions, will, keep-alive, MQTT 5.0 topic aliases
//! (resolved when the server sends them, set on request when publishing) and the server's Maximum Packet
//! Size, TCP, TLS (rustls), WebSocket and WSS, Unix sockets, and optional reconnection with back-off.
//! Packets are encoded and decoded by `tern-codec`; the protocol rules are `tern-proto`'s state machines,
//! the ones the Tern broker runs.
//!
//! Runnable examples: `examples/smart_home_publisher.rs` and `examples/smart_home_subscriber.rs`
//! (`cargo run -p tern-client --example smart_home_subscriber -- localhost 1883`).
//!
//! ```no_run
//! use tern_client::{Client, ConnectOptions, Event, QoS};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The subscriber of a smart home: every temperature reading.
//! let (client, mut events, _connack) = Client::connect(ConnectOptions::new("localhost", 1883)).await?;
//! client.subscribe("home/#", QoS::AtLeastOnce).await?;
//!
//! // The publisher: a reading, acknowledged by the broker.
//! client.publish("home/temp", "23.5", QoS::AtLeastOnce, false).await?;
//!
//! while let Some(Event::Message(m)) = events.recv().await {
//!     println!("{} {}", m.topic, String::from_utf8_lossy(&m.payload));
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`client`]: the handle ([`Client`]) and the event stream ([`Events`])
//! - [`options`]: [`ConnectOptions`], [`Reconnect`]
//! - [`transport`]: TCP, TLS, WebSocket, Unix sockets
//! - [`tls`]: rustls configuration ([`TlsOptions`])
//! - `session`: the session state, sans I/O, on tern-proto's state machines: inflight window, QoS 1/2
//!   flows both ways, redelivery, who waits for which acknowledgement
//! - `connection`: one network connection's state, sans I/O: the server's limits, topic aliases, keep-alive
//! - `eventloop`: the task driving a connection: the only socket I/O

pub mod client;
mod connection;
pub mod error;
mod eventloop;
pub mod options;
mod session;
pub mod tls;
mod trace;
pub mod transport;

pub use client::{Client, Delivery, Events};
pub use error::{ClientError, ConnectError};
pub use eventloop::{DisconnectReason, Event, PublishOutcome};
pub use options::{ConnectOptions, Reconnect};
pub use tern_codec::{
    ByteString, Bytes, ConnAck, Disconnect, LastWill, Properties, ProtocolVersion, Publish, QoS, ReasonCode,
    RetainHandling, SubAck, SubscriptionOptions, SubscriptionRequest, UnsubAck,
};
pub use tls::TlsOptions;
pub use transport::Transport;
