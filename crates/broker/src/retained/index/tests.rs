use std::collections::BTreeMap;

use proptest::prelude::*;
use tern_codec::topic::matches;

use super::*;

fn index_of(topics: &[&str]) -> RetainedIndex<u32> {
    let mut index = RetainedIndex::new();
    for (value, topic) in topics.iter().enumerate() {
        index.insert(topic, value as u32);
    }
    index
}

fn matched<V: Clone + Ord>(index: &RetainedIndex<V>, filter: &str) -> Vec<(String, V)> {
    let mut found = Vec::new();
    index.for_each_match(filter, |topic, value| found.push((topic.to_owned(), value.clone())));
    found.sort();
    found
}

fn topics_matching(index: &RetainedIndex<u32>, filter: &str) -> Vec<String> {
    matched(index, filter).into_iter().map(|(topic, _)| topic).collect()
}

#[test]
fn matching_table_agrees_with_the_reference() {
    // [MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.2-1]
    let topics = [
        "home",
        "home/",
        "home/livingroom/temperature",
        "home//temperature",
        "home/a/b/temperature",
        "homes/a",
        "/",
        "/a",
        "a",
        "a/b",
        "a/b/",
        "$SYS/broker/uptime",
        "$SYS",
        "sport/tennis/player1/score/wimbledon",
    ];
    let index = index_of(&topics);
    let filters = [
        "home/+/temperature",
        "home/#",
        "#",
        "+",
        "+/+",
        "/+",
        "+/broker/uptime",
        "$SYS/#",
        "$SYS/+/uptime",
        "a/+/#",
        "a/b",
        "sport/+",
        "sport/tennis/player1/#",
        "nothing/#",
    ];
    for filter in filters {
        let mut expected: Vec<String> =
            topics.iter().filter(|topic| matches(filter, topic)).map(|t| t.to_string()).collect();
        expected.sort();
        assert_eq!(topics_matching(&index, filter), expected, "filter {filter:?}");
    }
}

#[test]
fn wildcard_first_level_skips_dollar_topics() {
    // [MQTT-4.7.2-1]
    let index = index_of(&["$SYS/broker/uptime", "$share", "sys/broker/uptime"]);
    assert_eq!(topics_matching(&index, "#"), ["sys/broker/uptime"]);
    assert_eq!(topics_matching(&index, "+/broker/uptime"), ["sys/broker/uptime"]);
    assert_eq!(topics_matching(&index, "+"), Vec::<String>::new());
    assert_eq!(topics_matching(&index, "$SYS/#"), ["$SYS/broker/uptime"]);
    assert_eq!(topics_matching(&index, "$share"), ["$share"]);
}

#[test]
fn multi_level_wildcard_matches_the_parent_topic() {
    // [MQTT-4.7.1-1]
    let index = index_of(&["sport", "sport/tennis", "sport/tennis/player1"]);
    assert_eq!(topics_matching(&index, "sport/#"), ["sport", "sport/tennis", "sport/tennis/player1"]);
    assert_eq!(topics_matching(&index, "sport/tennis/#"), ["sport/tennis", "sport/tennis/player1"]);
    assert_eq!(topics_matching(&index, "sport/+/#"), ["sport/tennis", "sport/tennis/player1"]);
}

#[test]
fn insert_replaces_and_remove_returns_the_value() {
    let mut index = RetainedIndex::new();
    assert_eq!(index.insert("a/b", 1), None);
    assert_eq!(index.insert("a/b", 2), Some(1));
    assert_eq!(index.insert("a", 3), None);
    assert_eq!(index.len(), 2);
    assert_eq!(index.get("a/b"), Some(&2));
    assert_eq!(index.get("a/c"), None);
    assert_eq!(index.remove("a/b"), Some(2));
    assert_eq!(index.remove("a/b"), None);
    assert_eq!(index.get("a"), Some(&3));
    assert_eq!(index.len(), 1);
}

#[test]
fn removing_a_topic_prunes_its_nodes() {
    let mut index = RetainedIndex::new();
    index.insert("a/b/c/d", 1);
    assert_eq!(index.node_count(), 5);
    index.insert("a/b", 2);
    index.insert("a/x/y", 3);
    assert_eq!(index.node_count(), 7);
    assert_eq!(index.remove("a/b/c/d"), Some(1));
    assert_eq!(index.node_count(), 5, "a/b still holds a value");
    assert_eq!(index.remove("a/b"), Some(2));
    assert_eq!(index.node_count(), 4);
    assert_eq!(index.remove("a"), None);
    assert_eq!(index.remove("a/x/y"), Some(3));
    assert_eq!(index.node_count(), 1);
    assert!(index.is_empty());
}

#[test]
fn retain_drops_rejected_entries_and_prunes() {
    let mut index = index_of(&["a/b/c", "a/b", "a/d", "x/y/z", "$SYS/q"]);
    let before = index.node_count();
    index.retain(|topic, value| {
        *value += 100;
        topic.starts_with("a/b")
    });
    assert_eq!(index.len(), 2);
    assert_eq!(matched(&index, "#"), [("a/b".into(), 101), ("a/b/c".into(), 100)]);
    assert_eq!(index.get("$SYS/q"), None);
    assert_eq!(index.node_count(), 4);
    assert!(before > 4);
    index.retain(|_, _| false);
    assert_eq!((index.len(), index.node_count()), (0, 1));
}

#[test]
fn hash_over_many_topics_returns_each_once() {
    let mut index = RetainedIndex::new();
    for site in 0..100 {
        for device in 0..100 {
            index.insert(&format!("site/{site}/device/{device}/temp"), site * 100 + device);
        }
    }
    let mut values = Vec::new();
    index.for_each_match("site/#", |_, value| values.push(*value));
    values.sort_unstable();
    assert_eq!(values, (0..10_000).collect::<Vec<_>>());
    assert_eq!(matched(&index, "site/7/device/+/temp").len(), 100);
    assert_eq!(matched(&index, "site/+/device/7/temp").len(), 100);
}

#[test]
fn very_deep_topics_do_not_overflow_the_stack() {
    let deep = ["a"; 32_768].join("/");
    let mut index = RetainedIndex::new();
    index.insert(&deep, 1);
    assert_eq!(matched(&index, "#").len(), 1);
    assert_eq!(matched(&index, &["+"; 32_768].join("/")).len(), 1);
    index.insert("a", 2);
    assert_eq!(index.remove(&deep), Some(1));
    index.insert(&deep, 1);
    drop(index);
}

#[test]
fn iter_lists_every_topic() {
    let index = index_of(&["a", "a/b", "$SYS/x"]);
    let mut all: Vec<_> = index.iter().map(|(topic, value)| (topic.to_owned(), *value)).collect();
    all.sort();
    assert_eq!(all, [("$SYS/x".into(), 2), ("a".into(), 0), ("a/b".into(), 1)]);
}

fn topic() -> impl Strategy<Value = String> {
    let level = prop::sample::select(vec!["a", "b", "", "$SYS", "$x"]);
    prop::collection::vec(level, 1..5).prop_map(|levels| levels.join("/"))
}

fn filter() -> impl Strategy<Value = String> {
    let level = prop::sample::select(vec!["a", "b", "", "$SYS", "+"]);
    (prop::collection::vec(level, 0..5), any::<bool>()).prop_map(|(levels, hash)| {
        match (levels.is_empty(), hash) {
            (true, _) => "#".to_owned(),
            (false, true) => format!("{}/#", levels.join("/")),
            (false, false) => levels.join("/"),
        }
    })
}

#[derive(Debug, Clone)]
enum Op {
    Insert(String, u32),
    Remove(String),
    /// Keep the values with this remainder modulo 3.
    Retain(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (topic(), any::<u32>()).prop_map(|(t, v)| Op::Insert(t, v)),
        2 => topic().prop_map(Op::Remove),
        1 => (0..3u32).prop_map(Op::Retain),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn behaves_like_matching_every_topic_in_turn(
        ops in prop::collection::vec(op(), 0..60),
        filters in prop::collection::vec(filter(), 1..10),
    ) {
        let mut index = RetainedIndex::new();
        let mut reference: BTreeMap<String, u32> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(topic, value) => {
                    prop_assert_eq!(index.insert(&topic, value), reference.insert(topic, value));
                }
                Op::Remove(topic) => prop_assert_eq!(index.remove(&topic), reference.remove(&topic)),
                Op::Retain(rest) => {
                    index.retain(|_, value| *value % 3 == rest);
                    reference.retain(|_, value| *value % 3 == rest);
                }
            }
            prop_assert_eq!(index.len(), reference.len());
        }
        for (topic, value) in &reference {
            prop_assert_eq!(index.get(topic), Some(value));
        }
        let mut listed: Vec<_> = index.iter().map(|(t, v)| (t.to_owned(), *v)).collect();
        listed.sort();
        prop_assert_eq!(listed, reference.clone().into_iter().collect::<Vec<_>>());
        for filter in &filters {
            let expected: Vec<_> = reference
                .iter()
                .filter(|(topic, _)| matches(filter, topic))
                .map(|(topic, value)| (topic.clone(), *value))
                .collect();
            prop_assert_eq!(matched(&index, filter), expected, "filter {:?}", filter);
        }
        let mut rebuilt = RetainedIndex::new();
        for (topic, value) in &reference {
            rebuilt.insert(topic, *value);
        }
        prop_assert_eq!(index.node_count(), rebuilt.node_count());
    }
}
