//! Test support.
//!
//! - [`mosquitto`]: a real Mosquitto broker on a free loopback port, for interoperability tests
//! - [`pki`]: CA, server and client certificates and CRLs for TLS tests

pub mod mosquitto;
pub mod pki;
