//! # tern-client
//!
//! An async MQTT 3.1, 3.1.1 and 5.0 client for tokio: a cheap, cloneable [`Client`] handle and one event
//! loop task that owns the connection and the session state. QoS 0, 1 and 2 in both directions with an
//! inflight window and redelivery, clean and persistent sessions, will, keep-alive, TCP, TLS (rustls),
//! WebSocket and WSS, Unix sockets, and optional reconnection with back-off. Packets are encoded and
//! decoded by `tern-codec`.
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
//! - [`state`]: the sans-I/O session state: packet ids, inflight window, QoS flows
//! - `eventloop`: the task driving a connection

pub mod client;
pub mod error;
mod eventloop;
pub mod options;
pub mod state;
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
