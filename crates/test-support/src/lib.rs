//! Test support.
//!
//! - [`broker`]: a Tern broker in this process on a free loopback port, configured like [`mosquitto`]'s
//! - [`mosquitto`]: a real Mosquitto broker on a free loopback port, for interoperability tests
//! - [`server`]: either of them, for tests that run against both
//! - [`proxy`]: a lossy link between a client and a broker: lost packets, cut connections

pub mod broker;
pub mod mosquitto;
pub mod proxy;
pub mod server;

pub use server::{BrokerKind, TestBroker, BROKER_KINDS};
