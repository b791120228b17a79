//! Sans-I/O MQTT protocol state.
