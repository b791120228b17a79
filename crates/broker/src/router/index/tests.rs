use std::collections::BTreeMap;

use proptest::prelude::*;
use tern_codec::topic::matches;

use super::*;

type Index = SubscriptionIndex<u32, u32>;

/// The (filter, key, value) triples matching `topic`, sorted.
fn matched(index: &Index, topic: &str) -> Vec<(String, u32, u32)> {
    let mut found = Vec::new();
    index.for_each_match(topic, |filter, key, value| found.push((filter.to_owned(), *key, *value)));
    found.sort();
    found
}

fn filters_matching(index: &Index, topic: &str) -> Vec<String> {
    let mut filters: Vec<_> = matched(index, topic).into_iter().map(|(filter, _, _)| filter).collect();
    filters.dedup();
    filters
}

fn index_of(filters: &[&str]) -> Index {
    let mut index = Index::new();
    for (key, filter) in filters.iter().enumerate() {
        index.insert(filter, key as u32, 0);
    }
    index
}

#[test]
fn matching_table_agrees_with_the_spec_examples() {
    // [MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.2-1] and the non-normative examples of 4.7.1.
    let filters = [
        "home/+/temperature",
        "home/#",
        "#",
        "+/broker/uptime",
        "$SYS/#",
        "$SYS/+/uptime",
        "+",
        "+/+",
        "/+",
        "a/b",
        "a/+/#",
        "sport/tennis/player1/#",
        "sport/+",
        "$SYS/broker/uptime",
    ];
    let index = index_of(&filters);
    let topics = [
        "home/livingroom/temperature",
        "home/a/b/temperature",
        "home//temperature",
        "home",
        "home/",
        "homes/a",
        "/",
        "$SYS/broker/uptime",
        "a",
        "a/b",
        "a/b/",
        "a/B",
        "sport",
        "sport/",
        "sport/tennis/player1",
        "sport/tennis/player1/score/wimbledon",
        "",
    ];
    for topic in topics {
        let mut expected: Vec<String> =
            filters.iter().filter(|filter| matches(filter, topic)).map(|f| f.to_string()).collect();
        expected.sort();
        assert_eq!(filters_matching(&index, topic), expected, "topic {topic:?}");
    }
}

#[test]
fn wildcard_at_first_level_does_not_match_dollar_topics() {
    // [MQTT-4.7.2-1]
    let index =
        index_of(&["#", "+/monitor/Clients", "+", "$SYS/#", "$SYS/monitor/+", "$SYS/monitor/Clients"]);
    assert_eq!(
        filters_matching(&index, "$SYS/monitor/Clients"),
        ["$SYS/#", "$SYS/monitor/+", "$SYS/monitor/Clients"]
    );
    assert_eq!(filters_matching(&index, "$SYS"), ["$SYS/#"]);
    assert_eq!(filters_matching(&index, "SYS"), ["#", "+"]);
}

#[test]
fn multi_level_wildcard_matches_the_parent_level() {
    // [MQTT-4.7.1-1] "sport/#" also matches "sport".
    let index = index_of(&["sport/#", "sport/tennis/#", "#"]);
    assert_eq!(filters_matching(&index, "sport"), ["#", "sport/#"]);
    assert_eq!(filters_matching(&index, "sport/tennis"), ["#", "sport/#", "sport/tennis/#"]);
    assert_eq!(filters_matching(&index, "sport/tennis/x/y"), ["#", "sport/#", "sport/tennis/#"]);
    assert_eq!(filters_matching(&index, "sports"), ["#"]);
}

#[test]
fn empty_levels_are_levels() {
    // 4.7.1.3: "/finance" has two levels, the first empty; "+" matches an empty level.
    let index = index_of(&["/finance", "+/+", "/+", "+", "//#", "a//b"]);
    assert_eq!(filters_matching(&index, "/finance"), ["+/+", "/+", "/finance"]);
    assert_eq!(filters_matching(&index, "finance"), ["+"]);
    assert_eq!(filters_matching(&index, "//"), ["//#"]);
    assert_eq!(filters_matching(&index, "/"), ["+/+", "/+", "//#"]);
    assert_eq!(filters_matching(&index, "a//b"), ["a//b"]);
    assert_eq!(filters_matching(&index, "a/b"), ["+/+"]);
}

#[test]
fn overlapping_filters_each_report_their_subscribers() {
    let mut index = Index::new();
    index.insert("site/1/device/7/temp", 1, 10);
    index.insert("site/1/+/+/temp", 2, 20);
    index.insert("site/1/#", 3, 30);
    index.insert("site/+/device/+/temp", 4, 40);
    index.insert("site/1/device/7/humidity", 5, 50);
    assert_eq!(
        matched(&index, "site/1/device/7/temp"),
        [
            ("site/+/device/+/temp".into(), 4, 40),
            ("site/1/#".into(), 3, 30),
            ("site/1/+/+/temp".into(), 2, 20),
            ("site/1/device/7/temp".into(), 1, 10),
        ]
    );
    assert_eq!(matched(&index, "site/2/device/7/temp"), [("site/+/device/+/temp".into(), 4, 40)]);
}

#[test]
fn one_key_on_several_filters_is_one_subscription_each() {
    let mut index = Index::new();
    for filter in ["a/b", "a/+", "a/#", "#"] {
        assert_eq!(index.insert(filter, 7, 1), None);
    }
    assert_eq!((index.len(), index.filter_count()), (4, 4));
    assert_eq!(matched(&index, "a/b").len(), 4);
    assert_eq!(index.remove("a/+", &7), Some(1));
    assert_eq!(filters_matching(&index, "a/b"), ["#", "a/#", "a/b"]);
    assert_eq!(index.get("a/#", &7), Some(&1));
    assert_eq!(index.get("a/+", &7), None);
}

#[test]
fn insert_replaces_the_same_key_on_the_same_filter() {
    // [MQTT-3.8.4-3] a new SUBSCRIBE to an existing filter replaces that subscription.
    let mut index = Index::new();
    assert_eq!(index.insert("a/+", 1, 1), None);
    assert_eq!(index.insert("a/+", 1, 2), Some(1));
    assert_eq!(index.insert("a/b", 1, 1), None);
    assert_eq!(index.insert("a/b", 1, 3), Some(1));
    assert_eq!(index.get_mut("a/+", &2), None);
    assert_eq!(index.get_mut("a/#", &1), None);
    assert_eq!((index.len(), index.filter_count()), (2, 2));
    assert_eq!(matched(&index, "a/b"), [("a/+".into(), 1, 2), ("a/b".into(), 1, 3)]);
}

#[test]
fn many_subscribers_on_one_filter_are_all_matched() {
    let mut index = Index::new();
    for key in 0..1000 {
        index.insert("alerts/#", key, key);
        index.insert("alerts/fire", key, key);
    }
    assert_eq!((index.len(), index.filter_count()), (2000, 2));
    assert_eq!(matched(&index, "alerts/fire").len(), 2000);
    for key in 0..999 {
        assert_eq!(index.remove("alerts/#", &key), Some(key));
    }
    assert_eq!(matched(&index, "alerts/x"), [("alerts/#".into(), 999, 999)]);
}

#[test]
fn removing_the_last_subscription_prunes_its_nodes() {
    let mut index = Index::new();
    index.insert("a/b/+/d", 1, 0);
    let with_one = index.node_count();
    assert_eq!(with_one, 5); // root, a, b, +, d
    index.insert("a/b/+/d/#", 2, 0);
    index.insert("a/+/c", 3, 0);
    index.insert("x/y/z", 4, 0); // exact: no trie node
    assert_eq!(index.node_count(), 7);
    assert_eq!(index.remove("a/+/c", &3), Some(0));
    assert_eq!(index.node_count(), 5);
    assert_eq!(index.remove("a/b/+/d", &1), Some(0));
    assert_eq!(index.node_count(), 5, "a/b/+/d still carries a/b/+/d/#");
    assert_eq!(index.remove("a/b/+/d", &1), None);
    assert_eq!(index.remove("a/b/+/d/#", &2), Some(0));
    assert_eq!(index.node_count(), 1);
    assert_eq!(index.remove("x/y/z", &4), Some(0));
    assert!(index.is_empty());
    assert_eq!(index.filter_count(), 0);
    assert_eq!(index.iter().count(), 0);
}

#[test]
fn removing_an_unknown_subscription_changes_nothing() {
    let mut index = index_of(&["a/+", "a/b"]);
    assert_eq!(index.remove("a/+", &9), None);
    assert_eq!(index.remove("a/+/c", &0), None);
    assert_eq!(index.remove("a/#", &0), None);
    assert_eq!(index.remove("a/c", &1), None);
    assert_eq!(index.remove("a/b", &0), None);
    assert_eq!((index.len(), index.filter_count(), index.node_count()), (2, 2, 3));
}

#[test]
fn invalid_filters_neither_panic_nor_match() {
    // [MQTT-4.7.1-1] '#' must be last; the caller validates, the index stays safe regardless.
    let mut index = Index::new();
    index.insert("a/#/b", 1, 0);
    index.insert("a#", 2, 0);
    assert!(matched(&index, "a/x/b").is_empty());
    assert!(matched(&index, "a").is_empty());
    assert_eq!(index.get("a/#/b", &1), Some(&0));
    assert_eq!(index.remove("a/#/b", &1), Some(0));
    assert_eq!(index.remove("a#", &2), Some(0));
    assert_eq!(index.node_count(), 1);
}

#[test]
fn very_deep_filters_do_not_overflow_the_stack() {
    // A topic can be 65,535 bytes: 32,768 levels.
    let deep_filter = ["+"; 32_768].join("/");
    let deep_topic = ["a"; 32_768].join("/");
    let mut index = Index::new();
    index.insert(&deep_filter, 1, 1);
    index.insert(&format!("{}/#", ["a"; 30_000].join("/")), 2, 2);
    assert_eq!(matched(&index, &deep_topic).len(), 2);
    assert_eq!(index.remove(&deep_filter, &1), Some(1));
    drop(index);
}

#[test]
fn many_plus_branches_pending_at_once_are_all_walked() {
    // Each level of `a/a/.../a` has a `+` sibling: the walk holds 40 branches at once, more than fit inline.
    let filters: Vec<String> = (0..40)
        .map(|plus_at| {
            (0..40).map(|level| if level == plus_at { "+" } else { "a" }).collect::<Vec<_>>().join("/")
        })
        .collect();
    let mut index = Index::new();
    for (key, filter) in filters.iter().enumerate() {
        index.insert(filter, key as u32, 0);
    }
    let topic = ["a"; 40].join("/");
    assert_eq!(matched(&index, &topic).len(), 40);
    assert_eq!(matched(&index, &["a"; 39].join("/")).len(), 0);
}

#[test]
fn iter_lists_every_subscription() {
    let mut index = Index::new();
    index.insert("a/b", 1, 10);
    index.insert("a/b", 2, 20);
    index.insert("a/+", 1, 30);
    index.insert("#", 3, 40);
    let mut all: Vec<_> = index.iter().map(|(f, k, v)| (f.to_owned(), *k, *v)).collect();
    all.sort();
    assert_eq!(
        all,
        [("#".into(), 3, 40), ("a/+".into(), 1, 30), ("a/b".into(), 1, 10), ("a/b".into(), 2, 20)]
    );
}

/// Topic filters over a small alphabet so that random filters and topics often overlap.
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

fn topic() -> impl Strategy<Value = String> {
    let level = prop::sample::select(vec!["a", "b", "", "$SYS", "$x"]);
    prop::collection::vec(level, 1..6).prop_map(|levels| levels.join("/"))
}

#[derive(Debug, Clone)]
enum Op {
    Insert(String, u32, u32),
    Remove(String, u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (filter(), 0..4u32, any::<u32>()).prop_map(|(f, k, v)| Op::Insert(f, k, v)),
        (filter(), 0..4u32).prop_map(|(f, k)| Op::Remove(f, k)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn behaves_like_matching_every_filter_in_turn(
        ops in prop::collection::vec(op(), 0..60),
        topics in prop::collection::vec(topic(), 1..10),
    ) {
        let mut index = Index::new();
        let mut reference: BTreeMap<(String, u32), u32> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(filter, key, value) => {
                    prop_assert_eq!(index.insert(&filter, key, value), reference.insert((filter, key), value));
                }
                Op::Remove(filter, key) => {
                    prop_assert_eq!(index.remove(&filter, &key), reference.remove(&(filter, key)));
                }
            }
            prop_assert_eq!(index.len(), reference.len());
        }
        let mut filters: Vec<_> = reference.keys().map(|(filter, _)| filter.clone()).collect();
        filters.dedup();
        prop_assert_eq!(index.filter_count(), filters.len());
        for ((filter, key), value) in &reference {
            prop_assert_eq!(index.get(filter, key), Some(value));
        }
        for ((filter, key), value) in reference.iter_mut() {
            let in_index = index.get_mut(filter, key);
            prop_assert_eq!(in_index.as_deref(), Some(&*value));
            if let Some(in_index) = in_index {
                *in_index = in_index.wrapping_add(1);
                *value = value.wrapping_add(1);
            }
        }
        let mut listed: Vec<_> = index.iter().map(|(f, k, v)| ((f.to_owned(), *k), *v)).collect();
        listed.sort();
        prop_assert_eq!(listed, reference.clone().into_iter().collect::<Vec<_>>());
        for topic in &topics {
            let expected: Vec<_> = reference
                .iter()
                .filter(|((filter, _), _)| matches(filter, topic))
                .map(|((filter, key), value)| (filter.clone(), *key, *value))
                .collect();
            prop_assert_eq!(matched(&index, topic), expected, "topic {:?}", topic);
        }
        // Pruning leaves exactly the nodes the live filters need.
        let mut rebuilt = Index::new();
        for ((filter, key), value) in &reference {
            rebuilt.insert(filter, *key, *value);
        }
        prop_assert_eq!(index.node_count(), rebuilt.node_count());
    }
}
