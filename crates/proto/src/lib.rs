//! # tern-proto
//!
//! The rules of an MQTT conversation that are not about bytes: which packet identifiers are free, how many
//! QoS 1/2 messages may be in flight, where each QoS 2 exchange stands, when keep-alive expires, what a topic
//! alias means. Sans-I/O: nothing here touches a socket or reads the clock — time is an argument — so the
//! broker and the client drive the same state machines and tests run them deterministically in memory.
//!
//! Both ends of a connection are symmetric: each is a sender ([`Outbound`]: messages it published and awaits
//! acknowledgements for) and a receiver ([`Inbound`]: QoS 2 messages it received and awaits PUBREL for).
//!
//! # Layout
//! - [`outbound`]: packet-id allocation, the inflight window, PUBACK/PUBREC/PUBCOMP handling, and resuming
//!   a session on a new connection (redelivery in order within the new window)
//! - [`inbound`]: exactly-once bookkeeping for received QoS 2 messages, Receive Maximum enforcement
//! - [`keep_alive`]: keep-alive deadlines (1.5 x the interval) and when a client should ping
//! - [`topic_alias`]: topic aliases in both directions
//! - [`error`]: violations and their reason codes

pub mod error;
pub mod inbound;
pub mod keep_alive;
pub mod outbound;
pub mod topic_alias;

pub use error::ProtoError;
pub use inbound::{Inbound, InboundPublish};
pub use keep_alive::KeepAlive;
pub use outbound::{AckError, Inflight, Outbound, OutboundState, PubRecOutcome, Resend};
pub use topic_alias::{InboundAliases, OutboundAlias, OutboundAliases};
