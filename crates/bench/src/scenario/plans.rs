//! Who publishes where and who subscribes to what, for each message scenario; and which subscribers
//! together owe which publishers' messages (a delivery unit), so that loss is counted exactly.
//!
//! Every topic lives under `{topic prefix}/{run id}`, so concurrent or earlier runs never mix.

use std::sync::Arc;

use tern_codec::ByteString;

use crate::options::CommonArgs;
use crate::publisher::PublisherSpec;

/// A message scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: &'static str,
    /// The filters of each subscriber connection.
    pub subscribers: Vec<Vec<ByteString>>,
    /// Filters per SUBSCRIBE packet.
    pub per_subscribe: usize,
    pub publishers: Vec<PublisherSpec>,
    pub units: Vec<Unit>,
    /// Size of the filter table, when that is what the scenario is about.
    pub filters: Option<u64>,
}

/// Subscribers that together must receive every accepted message of `publishers` exactly once: one
/// subscriber alone, or a shared-subscription group, or subscribers splitting a filter table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub subscribers: Vec<usize>,
    pub publishers: Vec<u32>,
}

fn prefix(common: &CommonArgs, run: &str) -> String {
    format!("{}/{run}", common.topic_prefix)
}

fn publisher(id: u32, topics: Arc<[ByteString]>, offset: usize) -> PublisherSpec {
    PublisherSpec { id, topics, offset, retain: false }
}

/// Pair `i`: publisher `i` to `{p}/pair/{i}`, subscriber `i` to the same topic.
pub fn pairs(common: &CommonArgs, run: &str, pairs: u32) -> Plan {
    let p = prefix(common, run);
    let topics: Vec<ByteString> = (0..pairs).map(|i| ByteString::from(format!("{p}/pair/{i}"))).collect();
    Plan {
        scenario: "pairs",
        subscribers: topics.iter().map(|t| vec![t.clone()]).collect(),
        per_subscribe: 1,
        publishers: (0..pairs)
            .map(|i| publisher(i, Arc::from(vec![topics[i as usize].clone()]), 0))
            .collect(),
        units: (0..pairs).map(|i| Unit { subscribers: vec![i as usize], publishers: vec![i] }).collect(),
        filters: None,
    }
}

/// Every publisher to `{p}/fanout`; every subscriber to it receives everything.
pub fn fanout(common: &CommonArgs, run: &str, publishers: u32, subscribers: u32) -> Plan {
    let topic = ByteString::from(format!("{}/fanout", prefix(common, run)));
    let topics: Arc<[ByteString]> = Arc::from(vec![topic.clone()]);
    Plan {
        scenario: "fanout",
        subscribers: (0..subscribers).map(|_| vec![topic.clone()]).collect(),
        per_subscribe: 1,
        publishers: (0..publishers).map(|i| publisher(i, topics.clone(), 0)).collect(),
        units: (0..subscribers)
            .map(|s| Unit { subscribers: vec![s as usize], publishers: (0..publishers).collect() })
            .collect(),
        filters: None,
    }
}

/// Publisher `i` to `{p}/fanin/{i}`; subscribers to `{p}/fanin/+`, each receiving everything, or with a
/// share `group`, `$share/{group}/{p}/fanin/+`, the group receiving everything once.
pub fn fanin(common: &CommonArgs, run: &str, publishers: u32, subscribers: u32, group: Option<&str>) -> Plan {
    let p = prefix(common, run);
    let filter = match group {
        Some(g) => ByteString::from(format!("$share/{g}/{p}/fanin/+")),
        None => ByteString::from(format!("{p}/fanin/+")),
    };
    let all: Vec<u32> = (0..publishers).collect();
    let units = match group {
        Some(_) => vec![Unit { subscribers: (0..subscribers as usize).collect(), publishers: all }],
        None => (0..subscribers as usize)
            .map(|s| Unit { subscribers: vec![s], publishers: all.clone() })
            .collect(),
    };
    Plan {
        scenario: if group.is_some() { "fanin-shared" } else { "fanin" },
        subscribers: (0..subscribers).map(|_| vec![filter.clone()]).collect(),
        per_subscribe: 1,
        publishers: (0..publishers)
            .map(|i| publisher(i, Arc::from(vec![ByteString::from(format!("{p}/fanin/{i}"))]), 0))
            .collect(),
        units,
        filters: None,
    }
}

/// Filter `i` (held by subscriber `i % subscribers`) and the one topic that matches it and no other:
/// exact `{p}/e/{i}`; `{p}/p/+/{i}` matched by `{p}/p/x/{i}`; `{p}/h/{i}/#` matched by `{p}/h/{i}/x`.
pub fn filter_and_topic(p: &str, i: u32) -> (ByteString, ByteString) {
    match i % 3 {
        0 => {
            let t = ByteString::from(format!("{p}/e/{i}"));
            (t.clone(), t)
        }
        1 => (ByteString::from(format!("{p}/p/+/{i}")), ByteString::from(format!("{p}/p/x/{i}"))),
        _ => (ByteString::from(format!("{p}/h/{i}/#")), ByteString::from(format!("{p}/h/{i}/x"))),
    }
}

/// A table of `filters` filters split over `subscribers` connections; publishers walk through the matching
/// topics, each starting at its own offset, so every message is routed to exactly one subscriber.
pub fn subs(
    common: &CommonArgs,
    run: &str,
    filters: u32,
    subscribers: u32,
    publishers: u32,
    per_subscribe: u32,
) -> Plan {
    let p = prefix(common, run);
    let mut held = vec![Vec::new(); subscribers as usize];
    let mut topics = Vec::with_capacity(filters as usize);
    for i in 0..filters {
        let (filter, topic) = filter_and_topic(&p, i);
        held[(i % subscribers) as usize].push(filter);
        topics.push(topic);
    }
    let topics: Arc<[ByteString]> = Arc::from(topics);
    let stride = (filters as usize / publishers as usize).max(1);
    Plan {
        scenario: "subs",
        subscribers: held,
        per_subscribe: per_subscribe as usize,
        publishers: (0..publishers).map(|i| publisher(i, topics.clone(), i as usize * stride)).collect(),
        units: vec![Unit {
            subscribers: (0..subscribers as usize).collect(),
            publishers: (0..publishers).collect(),
        }],
        filters: Some(u64::from(filters)),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use tern_codec::topic::{matches, validate_topic_filter, validate_topic_name};

    use super::*;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn common() -> CommonArgs {
        Cli::parse_from(["bench"]).common
    }

    /// Subscribers of a plan that receive a topic, by the matching rules of MQTT 4.7.
    fn receivers(plan: &Plan, topic: &str) -> Vec<usize> {
        (0..plan.subscribers.len())
            .filter(|&s| {
                plan.subscribers[s].iter().any(|f| match tern_codec::topic::parse_shared(f) {
                    Some(Ok(shared)) => matches(shared.filter, topic),
                    _ => matches(f, topic),
                })
            })
            .collect()
    }

    #[test]
    fn every_subs_topic_matches_exactly_one_filter_of_the_table() {
        let plan = subs(&common(), "r1", 300, 4, 3, 100);
        let p = "bench/r1";
        for i in 0..300 {
            let (filter, topic) = filter_and_topic(p, i);
            assert_eq!(validate_topic_filter(&filter), Ok(()));
            assert_eq!(validate_topic_name(&topic), Ok(()));
            assert_eq!(receivers(&plan, &topic), vec![(i % 4) as usize], "topic {topic}");
            let matching: Vec<_> = (0..300).filter(|&j| matches(&filter_and_topic(p, j).0, &topic)).collect();
            assert_eq!(matching, vec![i], "[MQTT-4.7.1] {topic} matches one filter only");
        }
        assert_eq!(plan.subscribers.iter().map(Vec::len).sum::<usize>(), 300);
    }

    #[test]
    fn pairs_route_each_publisher_to_its_own_subscriber_only() {
        let plan = pairs(&common(), "r2", 5);
        for (i, publisher) in plan.publishers.iter().enumerate() {
            assert_eq!(receivers(&plan, &publisher.topics[0]), vec![i]);
            assert_eq!(plan.units[i], Unit { subscribers: vec![i], publishers: vec![i as u32] });
        }
    }

    #[test]
    fn fanout_reaches_every_subscriber_and_fanin_reaches_the_wildcard_one() {
        let plan = fanout(&common(), "r3", 1, 7);
        assert_eq!(receivers(&plan, &plan.publishers[0].topics[0]).len(), 7);
        assert_eq!(plan.units.len(), 7);
        let plan = fanin(&common(), "r3", 9, 1, None);
        for publisher in &plan.publishers {
            assert_eq!(receivers(&plan, &publisher.topics[0]), vec![0]);
        }
        let shared = fanin(&common(), "r3", 9, 3, Some("g"));
        assert!(shared.subscribers[0][0].starts_with("$share/g/"));
        assert_eq!(shared.units.len(), 1, "a shared group owes each message once");
        assert_eq!(receivers(&shared, &shared.publishers[0].topics[0]).len(), 3);
    }
}
