//! Conformance: every numbered normative statement of MQTT 5.0 and of MQTT 3.1.1 that binds a server, each
//! checked by an end-to-end test that names it, organised by the standards' sections.
//!
//! `registry.txt` lists every statement of both standards with the tests that check it (here or in the
//! feature test files beside this directory), or why it binds only the client or cannot be tested.
//! `scripts/conformance.py` turns it and the test results into CONFORMANCE.md; the `registry` test keeps
//! it honest: every test it names exists and cites the statement.
//!
//! # Layout
//! - `registry`: the consistency checks of registry.txt
//! - `v5`: MQTT 5.0 statements not checked by a feature test
//! - `v311`: MQTT 3.1.1 statements not checked by a feature test
//! - `websocket`: MQTT over WebSocket (section 6, both versions)
//! - `support`: frames and connections the tests share

mod registry;
mod support;
mod v311;
mod v5;
mod websocket;
