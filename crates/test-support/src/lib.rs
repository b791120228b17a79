//! Test support.
//!
//! - [`mosquitto`]: a real Mosquitto broker on a free loopback port, for interoperability tests

pub mod mosquitto;
