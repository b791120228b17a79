//! The publisher of the classic smart-home example: a thermometer reporting the living-room temperature,
//! `home/temp` "23.5" at QoS 1. The broker acknowledges it (PUBACK) before `publish` returns, and keeps it
//! as the topic's retained message, so a display that connects later shows the last reading at once.
//!
//! ```text
//! cargo run -p tern-client --example smart_home_publisher -- [HOST [PORT [READING]]]
//! ```

use std::error::Error;

use tern_client::{Client, ConnectOptions, QoS, ReasonCode};

/// Connects, publishes one temperature reading at QoS 1 (retained) and disconnects. Returns the broker's
/// answer: SUCCESS, or (MQTT 5.0) No matching subscribers.
pub async fn publish_reading(options: ConnectOptions, reading: &str) -> Result<ReasonCode, Box<dyn Error>> {
    let (client, _events, _connack) = Client::connect(options).await?;
    let outcome = client.publish("home/temp", reading.to_owned(), QoS::AtLeastOnce, true).await?;
    client.disconnect().await?;
    Ok(outcome)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "localhost".to_owned());
    let port = args.next().map(|p| p.parse()).transpose()?.unwrap_or(1883);
    let reading = args.next().unwrap_or_else(|| "23.5".to_owned());
    let options = ConnectOptions::new(host, port).client_id("living-room-thermometer");
    let outcome = publish_reading(options, &reading).await?;
    println!("home/temp {reading} published: {outcome}");
    Ok(())
}
