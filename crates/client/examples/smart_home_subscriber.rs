//! The subscriber of the classic smart-home example: a display showing every reading published under
//! `home/`, received at QoS 1 (each is acknowledged, and none is lost while the connection lasts).
//!
//! ```text
//! cargo run -p tern-client --example smart_home_subscriber -- [HOST [PORT [COUNT]]]
//! ```
//!
//! It prints `topic payload` per reading, like `mosquitto_sub -t 'home/#' -q 1 -v`, and stops after COUNT
//! readings (never, without COUNT).

use std::error::Error;

use tern_client::{Client, ConnectOptions, Event, QoS};

/// Connects, subscribes to `home/#` at QoS 1 and hands each reading (topic, payload) to `show`, until
/// `count` readings were shown (or for ever) or the connection ends.
pub async fn display_readings(
    options: ConnectOptions,
    count: Option<usize>,
    mut show: impl FnMut(&str, &str),
) -> Result<(), Box<dyn Error>> {
    let (client, mut events, _connack) = Client::connect(options).await?;
    client.subscribe("home/#", QoS::AtLeastOnce).await?;
    let mut shown = 0;
    while count.is_none_or(|n| shown < n) {
        match events.recv().await {
            Some(Event::Message(m)) => {
                show(&m.topic, &String::from_utf8_lossy(&m.payload));
                shown += 1;
            }
            Some(Event::Disconnected(reason)) => return Err(format!("connection lost: {reason:?}").into()),
            Some(Event::Reconnected(_)) => {}
            None => break,
        }
    }
    client.disconnect().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "localhost".to_owned());
    let port = args.next().map(|p| p.parse()).transpose()?.unwrap_or(1883);
    let count = args.next().map(|n| n.parse()).transpose()?;
    let options = ConnectOptions::new(host, port).client_id("hallway-display");
    display_readings(options, count, |topic, payload| println!("{topic} {payload}")).await
}
