//! Topic matching checked against an independent reference: the spec's definition of 4.7 written as a
//! recursive comparison of level lists, on random filters and names, and on names built from a filter so that
//! matches are common.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use proptest::collection::vec;
use proptest::prelude::*;
use tern_codec::topic::{matches, validate_topic_filter, validate_topic_name};

/// 4.7.1: `#` matches the rest (its parent included), `+` one level, other levels compare exactly;
/// 4.7.2: a filter starting with a wildcard does not match a name starting with `$`.
fn reference(filter: &str, name: &str) -> bool {
    fn levels(filter: &[&str], name: &[&str]) -> bool {
        match (filter, name) {
            (["#"], _) => true,
            (["+", f @ ..], [_, n @ ..]) => levels(f, n),
            ([level, f @ ..], [n0, n @ ..]) => level == n0 && levels(f, n),
            ([], []) => true,
            _ => false,
        }
    }
    if name.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let f: Vec<&str> = filter.split('/').collect();
    let n: Vec<&str> = name.split('/').collect();
    levels(&f, &n)
}

/// A short alphabet so random names and filters share levels often; `$` to reach the `$SYS` rule.
fn level() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[ab$]", "[ab]{2}", Just("$SYS".to_owned())]
}

fn name() -> impl Strategy<Value = String> {
    vec(level(), 1..5).prop_map(|l| l.join("/")).prop_filter("not empty", |n| !n.is_empty())
}

fn filter() -> impl Strategy<Value = String> {
    (vec(prop_oneof![3 => level(), 1 => Just("+".to_owned())], 0..5), any::<bool>()).prop_filter_map(
        "not empty",
        |(mut levels, hash)| {
            if hash {
                levels.push("#".to_owned());
            }
            let f = levels.join("/");
            (!f.is_empty()).then_some(f)
        },
    )
}

/// A name the filter matches by the spec's rules (before the `$` rule): each `+` becomes one level, `#`
/// zero or more.
fn instance(filter: &str, fill: &[String]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut next = fill.iter().cycle();
    for level in filter.split('/') {
        match level {
            "+" => out.push(next.next().cloned().unwrap_or_default()),
            "#" => {
                let take = fill.len() % 3;
                out.extend(next.by_ref().take(take).cloned());
            }
            exact => out.push(exact.to_owned()),
        }
    }
    let name = out.join("/");
    if name.is_empty() {
        "/".to_owned()
    } else {
        name
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matches_agrees_with_the_reference(f in filter(), n in name()) {
        prop_assert_eq!(validate_topic_filter(&f), Ok(()));
        prop_assert_eq!(validate_topic_name(&n), Ok(()));
        prop_assert_eq!(matches(&f, &n), reference(&f, &n), "filter {:?} name {:?}", f, n);
    }

    #[test]
    fn a_filter_matches_its_instances(f in filter(), fill in vec("[ab]{0,2}", 1..4)) {
        let n = instance(&f, &fill);
        prop_assume!(validate_topic_name(&n).is_ok());
        prop_assert_eq!(matches(&f, &n), reference(&f, &n), "filter {:?} name {:?}", f, n);
        let dollar = n.starts_with('$') && (f.starts_with('+') || f.starts_with('#'));
        // Instances are built to match, except where the `$` rule forbids it (or `#` met the `/` fallback).
        if !dollar && n != "/" {
            prop_assert!(matches(&f, &n), "filter {:?} should match its instance {:?}", f, n);
        }
    }

    #[test]
    fn a_name_matches_itself_as_a_filter(n in name()) {
        prop_assert!(matches(&n, &n));
    }

    #[test]
    fn hash_matches_every_name_not_starting_with_dollar(n in name()) {
        prop_assert_eq!(matches("#", &n), !n.starts_with('$'));
    }
}

#[test]
fn reference_agrees_with_the_spec_examples() {
    // The reference itself is checked on the examples of 4.7.1.2 and 4.7.1.3 so it cannot drift.
    assert!(reference("sport/tennis/player1/#", "sport/tennis/player1"));
    assert!(reference("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
    assert!(reference("sport/#", "sport"));
    assert!(reference("sport/tennis/+", "sport/tennis/player1"));
    assert!(!reference("sport/tennis/+", "sport/tennis/player1/ranking"));
    assert!(!reference("sport/+", "sport"));
    assert!(reference("sport/+", "sport/"));
    assert!(reference("+/+", "/finance"));
    assert!(reference("/+", "/finance"));
    assert!(!reference("+", "/finance"));
    assert!(!reference("#", "$SYS/uptime"));
    assert!(reference("$SYS/#", "$SYS/uptime"));
}
