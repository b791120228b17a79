//! Authentication: who a client is, checked from the CONNECT user name and password.
//!
//! # Layout
//! - [`password`]: mosquitto-compatible password files and the hashes they hold

pub mod password;
