//! Routing: deciding which subscriptions a PUBLISH reaches.
//!
//! [`SubscriptionIndex`] maps topic filters to subscribers and matches topic names against them without
//! looking at unrelated filters. Shared subscriptions (`$share/{group}/{filter}`, MQTT 4.8.2) are kept in a
//! second index keyed by group, so the index itself only ever sees plain filters.

mod children;
mod compact_str;
mod fanout;
mod index;
mod shared;
mod subscribers;

pub(crate) use children::{split_level, Children};
pub use fanout::{RouteOutcome, Router, Subscriber};
pub use index::SubscriptionIndex;
pub use shared::SharedGroup;
