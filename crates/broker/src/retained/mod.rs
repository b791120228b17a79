//! Retained messages: the last message published with RETAIN on each topic, handed to new subscribers
//! (MQTT 3.3.1.3).
//!
//! [`RetainedIndex`] stores them by topic name and finds them by topic filter without scanning the store.

mod index;

pub use index::RetainedIndex;
