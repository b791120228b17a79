//! The smart-home examples in `examples/`, run against Tern and against Mosquitto: the thermometer publishes
//! `home/temp` "23.5" at QoS 1 and the display shows it.
#![allow(clippy::unwrap_used)] // tests may unwrap

#[macro_use]
mod common;

#[allow(dead_code)] // its `main` is the example's own
#[path = "../examples/smart_home_publisher.rs"]
mod smart_home_publisher;
#[allow(dead_code)]
#[path = "../examples/smart_home_subscriber.rs"]
mod smart_home_subscriber;

use common::{AnyBroker, BrokerKind};
use tern_client::{ConnectOptions, ProtocolVersion, ReasonCode};

against_both_brokers!(the_display_shows_the_thermometer_reading);

async fn the_display_shows_the_thermometer_reading(kind: BrokerKind) {
    let broker = AnyBroker::start(kind);
    for version in common::VERSIONS {
        let options = ConnectOptions::new("127.0.0.1", broker.port).version(version);
        let reading = format!("23.5 ({version})");
        // MQTT 3.1 needs a client identifier [MQTT-3.1.3-3 of 3.1.1 relaxes it].
        let thermometer = options.clone().client_id("living-room-thermometer");
        let outcome = smart_home_publisher::publish_reading(thermometer, &reading).await.unwrap();
        // Nobody subscribes yet: 5.0 says so, 3.x only acknowledges.
        let expected = if version == ProtocolVersion::V5 {
            ReasonCode::NO_MATCHING_SUBSCRIBERS
        } else {
            ReasonCode::SUCCESS
        };
        assert_eq!(outcome, expected, "{version}");
        let mut shown = Vec::new();
        let display = options.client_id("hallway-display");
        smart_home_subscriber::display_readings(display, Some(1), |t, p| shown.push(format!("{t} {p}")))
            .await
            .unwrap();
        assert_eq!(shown, vec![format!("home/temp {reading}")]);
    }
}
