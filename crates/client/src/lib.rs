//! Async MQTT client.
