//! Helpers shared by the client's end-to-end tests.
#![allow(dead_code, unused_macros, clippy::unwrap_used)] // each test file uses some of them; tests may unwrap

use std::time::Duration;

use tern_client::{ConnectOptions, Event, Events, ProtocolVersion, Publish};
pub use tern_test_support::{AnyBroker, BrokerKind};

pub const VERSIONS: [ProtocolVersion; 3] = [ProtocolVersion::V31, ProtocolVersion::V311, ProtocolVersion::V5];

/// Runs each `async fn(BrokerKind)` once against Tern and once against Mosquitto, as `name::tern` and
/// `name::mosquitto`; a test still running after a minute fails.
macro_rules! against_both_brokers {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn tern() {
                $crate::common::time_limited(super::$name(tern_test_support::BrokerKind::Tern)).await
            }
            #[tokio::test]
            async fn mosquitto() {
                $crate::common::time_limited(super::$name(tern_test_support::BrokerKind::Mosquitto)).await
            }
        }
    )*};
}

/// Runs a test body, failing it if it takes more than a minute (a lost acknowledgement would otherwise
/// hang it).
pub async fn time_limited(test: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(Duration::from_secs(60), test).await.is_err() {
        panic!("the test did not finish within a minute");
    }
}

/// The next event, within 5 s.
pub async fn next_event(events: &mut Events) -> Event {
    match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("event loop ended"),
        Err(_) => panic!("no event within 5 s"),
    }
}

/// The next application message, within 5 s, skipping other events.
pub async fn next_message(events: &mut Events) -> Publish {
    loop {
        if let Event::Message(m) = next_event(events).await {
            return m;
        }
    }
}

/// Asserts that no application message arrives within `wait`.
pub async fn no_message_within(events: &mut Events, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => return,
            Ok(Some(Event::Message(m))) => panic!("unexpected message {m:?}"),
            Ok(Some(_)) => continue,
            Ok(None) => panic!("event loop ended"),
        }
    }
}

/// Options for the broker's port at `version`, with a client identifier.
pub fn options(port: u16, version: ProtocolVersion, id: &str) -> ConnectOptions {
    ConnectOptions::new("127.0.0.1", port).version(version).client_id(id)
}

/// The output of `future`, which must be ready within 5 s.
pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(5), future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Waits until `condition` holds, checking every 10 ms, at most 5 s.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
