//! # tern-broker
//!
//! The Tern MQTT broker as a library; the `tern` binary is a thin shell around it.
//!
//! # Layout
//! - [`config`]: the validated configuration, from mosquitto.conf or TOML
pub mod config;
