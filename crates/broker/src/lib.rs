//! # tern-broker
//!
//! The Tern MQTT broker as a library; the `tern` binary is a thin shell around it.
//!
//! # Layout
//! - [`auth`]: authorization: the ACL file
//! - [`config`]: the validated configuration, from mosquitto.conf or TOML
pub mod auth;
pub mod config;
