//! The ACL rules as a table of (client, user, topic, access) → decision, the parse errors with their
//! lines, and properties of the filter algebra SUBSCRIBE checks rest on.

use std::path::Path;

use proptest::prelude::*;

use super::filter::{covers, intersect, parts, Filter, Identity, Part};
use super::*;
use tern_codec::topic::TopicError;

const ACL: &str = "\
# Anonymous clients (before the first user line).
topic read public/#
topic readwrite anon/+/chat
topic read $SYS/broker/uptime
topic read x/%c

user alice
topic readwrite home/alice/#
topic deny home/alice/secret
topic write sensors/+/alice
topic read $SYS/#
topic readwrite devices/#

user bob
topic read home/#
topic deny home/+/secret/#

user admin
topic #

user a/#
topic read whatever

user with space
topic readwrite my topic/with space

# Every client.
pattern readwrite devices/%c/#
pattern read users/%u/inbox
pattern deny devices/%c/firmware
pattern write $SYS/broker/connection/%c/state
pattern read %c/private/#
";

fn acl() -> AclFile {
    match AclFile::parse(ACL, "acl") {
        Ok(acl) => acl,
        Err(e) => panic!("{e}"),
    }
}

use Access::{Read, Subscribe, Write};

/// (client id, user name, topic or filter, access, expected, why)
type Case = (&'static str, Option<&'static str>, &'static str, Access, bool, &'static str);

const CASES: &[Case] = &[
    // Anonymous clients get the lines before the first `user`.
    ("c1", None, "public/news", Read, true, "anonymous read rule"),
    ("c1", None, "public", Read, true, "`#` matches its parent level"),
    ("c1", None, "public/news", Write, false, "read-only rule"),
    ("c1", None, "anon/x/chat", Write, true, "no access keyword is readwrite, `+` one level"),
    ("c1", None, "anon/x/y/chat", Write, false, "`+` is exactly one level"),
    ("c1", None, "$SYS/broker/uptime", Read, true, "`$SYS` topic named explicitly"),
    ("c1", None, "$SYS/broker/load", Read, false, "only the `$SYS` topic named"),
    ("c1", None, "home/alice/kitchen", Read, false, "user rules are not the anonymous client's"),
    ("c1", None, "x/c1", Read, false, "`%c` in a topic line is literal"),
    ("c1", None, "x/%c", Read, true, "`%c` in a topic line is literal"),
    ("c1", None, "devices/c1/temp", Write, true, "patterns apply to anonymous clients"),
    ("c1", None, "users/c1/inbox", Read, false, "a `%u` pattern never applies without a user name"),
    // A user gets its own block and the patterns, not the anonymous lines.
    ("a1", Some("alice"), "home/alice/kitchen", Write, true, "user readwrite rule"),
    ("a1", Some("alice"), "home/alice/secret", Read, false, "deny wins over a broader grant"),
    ("a1", Some("alice"), "home/alice/secret/x", Read, true, "deny without `#` is one topic"),
    ("a1", Some("alice"), "sensors/x/alice", Write, true, "write rule"),
    ("a1", Some("alice"), "sensors/x/alice", Read, false, "write rule grants no read"),
    ("a1", Some("alice"), "public/news", Read, false, "anonymous lines are not a user's"),
    ("a1", Some("alice"), "$SYS/broker/load", Read, true, "explicit `$SYS/#`"),
    ("a1", Some("alice"), "$SYS/broker/load", Write, false, "nobody publishes to `$SYS`"),
    ("a1", Some("alice"), "users/alice/inbox", Read, true, "`%u` pattern"),
    ("a1", Some("alice"), "users/bob/inbox", Read, false, "`%u` is the user's own name"),
    ("dev1", Some("alice"), "devices/dev1/firmware", Write, false, "a deny pattern wins over a user grant"),
    ("dev2", Some("alice"), "devices/dev1/firmware", Write, true, "the deny pattern is per client id"),
    ("b1", Some("bob"), "home/alice/kitchen", Read, true, "read rule"),
    ("b1", Some("bob"), "home/alice/kitchen", Write, false, "read rule grants no write"),
    ("b1", Some("bob"), "home/alice/secret", Read, false, "deny `.../#` covers its parent"),
    ("b1", Some("bob"), "home/alice/secret/key", Read, false, "deny with `+` and `#`"),
    ("r", Some("admin"), "any/topic/at/all", Write, true, "`#` grants everything ..."),
    ("r", Some("admin"), "$SYS/broker/uptime", Read, false, "... but never a `$` topic"),
    ("r", Some("admin"), "$other/x", Read, false, "... of any kind"),
    ("r", Some("admin"), "$share/g/x", Write, false, "nobody publishes to `$share`"),
    ("r", Some("admin"), "$share/g/x", Read, false, "nor reads `$share`"),
    ("s", Some("with space"), "my topic/with space", Read, true, "names and topics may hold spaces"),
    // A user name with no block gets only the patterns.
    ("c", Some("carol"), "users/carol/inbox", Read, true, "pattern `%u`"),
    ("carol-dev", Some("carol"), "devices/carol-dev/x", Write, true, "pattern `%c`"),
    ("c", Some("carol"), "public/news", Read, false, "no block: no topic rules"),
    ("c", Some(""), "users//inbox", Read, true, "an empty user name is a user name"),
    // Ids holding wildcards cannot widen patterns (CVE-2017-7650).
    ("+", None, "devices/x/y", Write, false, "client id `+` gets no pattern access"),
    ("#", Some("carol"), "devices/anything", Read, false, "client id `#` gets no pattern access"),
    ("c", Some("+"), "users/bob/inbox", Read, false, "user name `+` gets no pattern access"),
    ("c", Some("a/#"), "users/a/x/inbox", Read, false, "user name `a/#` gets no pattern access"),
    ("c", Some("a/#"), "whatever", Read, true, "... but keeps its own topic rules"),
    ("c", Some("a/#"), "devices/c/x", Read, false, "... and no pattern, even for its own id"),
    // Textual substitution, as Mosquitto: an id holding `/` spans levels; `$` stays out of reach.
    ("dev/1", None, "devices/dev/1/temp", Write, true, "client id with `/`"),
    ("dev/1", None, "devices/dev/2/temp", Write, false, "client id with `/`, other device"),
    ("me", None, "me/private/x", Read, true, "`%c` as the first level"),
    ("$SYS", None, "$SYS/private/x", Read, false, "a client id cannot make a pattern reach `$SYS`"),
    ("bridge1", None, "$SYS/broker/connection/bridge1/state", Write, false, "`$SYS` writes are refused"),
    ("c1", None, "", Read, false, "an empty topic matches nothing"),
    // SUBSCRIBE: granted when some topic the filter matches could be read.
    ("c1", None, "public/#", Subscribe, true, "filter within a read rule"),
    ("c1", None, "#", Subscribe, true, "`#` overlaps `public/#`; deliveries are checked one by one"),
    ("c1", None, "+/news", Subscribe, true, "overlaps at public/news"),
    ("c1", None, "home/#", Subscribe, false, "nothing readable under home/"),
    ("c1", None, "$SYS/#", Subscribe, true, "overlaps the `$SYS` topic named"),
    ("c1", None, "$SYS/broker/load", Subscribe, false, "not the `$SYS` topic named"),
    ("c1", None, "anon/x/chat", Subscribe, true, "readwrite rule"),
    ("c1", None, "users/#", Subscribe, false, "`%u` patterns are not an anonymous client's"),
    ("c1", None, "$share/g/public/#", Subscribe, true, "a shared subscription is checked by its filter"),
    ("c1", None, "$share/g/home/#", Subscribe, false, "... either way"),
    ("a1", Some("alice"), "home/alice/#", Subscribe, true, "user rule"),
    ("a1", Some("alice"), "home/alice/secret", Subscribe, false, "entirely denied"),
    ("a1", Some("alice"), "home/+/secret", Subscribe, false, "readable part entirely denied"),
    ("a1", Some("alice"), "sensors/#", Subscribe, false, "a write rule grants no subscription"),
    ("b1", Some("bob"), "home/#", Subscribe, true, "partly denied: deliveries are filtered"),
    ("b1", Some("bob"), "home/x/secret/#", Subscribe, false, "covered by `home/+/secret/#`"),
    ("b1", Some("bob"), "home/x/secret", Subscribe, false, "deny `#` covers the parent level"),
    ("r", Some("admin"), "#", Subscribe, true, "everything"),
    ("r", Some("admin"), "$SYS/#", Subscribe, false, "`#` never grants `$SYS`"),
    ("c", Some("carol"), "users/carol/#", Subscribe, true, "pattern `%u`"),
    ("c", Some("carol"), "users/+/inbox", Subscribe, true, "overlaps the own inbox"),
    ("c", Some("carol"), "users/bob/inbox", Subscribe, false, "someone else's inbox"),
    ("+", None, "devices/#", Subscribe, false, "client id `+` gets no pattern access"),
    ("dev1", Some("alice"), "devices/dev1/firmware", Subscribe, false, "deny pattern covers it"),
    ("me", None, "me/private/#", Subscribe, true, "`%c` as first level"),
    ("$SYS", None, "$SYS/private/#", Subscribe, false, "`%c` cannot reach `$SYS`"),
];

#[test]
fn every_rule_decides_as_mosquittos_manual_says() {
    let acl = acl();
    let mut wrong = Vec::new();
    for &(client, user, topic, access, expected, why) in CASES {
        if acl.check(client, user, topic, access) != expected {
            wrong.push(format!("{client:?} {user:?} {topic:?} {access:?}: expected {expected} ({why})"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_empty_acl_grants_nothing_but_the_builtin_rules_stay() {
    let acl = AclFile::parse("# nothing\n", "acl").unwrap();
    assert!(!acl.check("c", None, "a", Read));
    assert!(!acl.check("c", Some("u"), "a", Subscribe));
    assert!(builtin_denied("$SYS/broker/uptime", Write));
    assert!(builtin_denied("$SYS", Write));
    assert!(builtin_denied("$share/g/t", Write));
    assert!(!builtin_denied("$SYS/broker/uptime", Read));
    assert!(!builtin_denied("$SYSTEM/x", Write));
    assert!(!builtin_denied("a/$SYS", Write));
}

#[test]
fn user_blocks_with_the_same_name_merge() {
    let acl =
        AclFile::parse("user u\ntopic read a\nuser v\ntopic read b\nuser u\ntopic read c\n", "acl").unwrap();
    assert!(acl.check("c", Some("u"), "a", Read) && acl.check("c", Some("u"), "c", Read));
    assert!(!acl.check("c", Some("u"), "b", Read));
}

#[test]
fn line_endings_indentation_and_tabs_are_tolerated() {
    let acl =
        AclFile::parse("  # indented comment\r\n\ttopic\tread\ta/b  \r\n\r\nuser  u \r\n", "acl").unwrap();
    assert!(acl.check("c", None, "a/b", Read));
    assert!(!acl.check("c", None, "a/b", Write));
}

fn parse_error(text: &str) -> (usize, AclProblem) {
    match AclFile::parse(text, "acl") {
        Err(AclError::Line { at, problem }) => {
            assert_eq!(at.file, Path::new("acl"));
            (at.line, problem)
        }
        other => panic!("expected a line error, got {other:?}"),
    }
}

#[test]
fn every_parse_error_names_its_line() {
    assert_eq!(parse_error("# a\nfoo bar\n"), (2, AclProblem::UnknownKeyword("foo".into())));
    assert_eq!(parse_error("topic\n"), (1, AclProblem::MissingTopic("topic")));
    assert_eq!(parse_error("\n\npattern   \n"), (3, AclProblem::MissingTopic("pattern")));
    assert_eq!(parse_error("topic read\n"), (1, AclProblem::MissingTopic("topic")));
    assert_eq!(parse_error("pattern deny\n"), (1, AclProblem::MissingTopic("pattern")));
    assert_eq!(parse_error("topic rw a/b\n"), (1, AclProblem::InvalidAccess("rw".into())));
    let misplaced =
        AclProblem::InvalidTopic { topic: "a/#/b".into(), error: TopicError::MisplacedMultiLevelWildcard };
    assert_eq!(parse_error("user u\ntopic read a/#/b\n"), (2, misplaced));
    let plus =
        AclProblem::InvalidTopic { topic: "a+".into(), error: TopicError::MisplacedSingleLevelWildcard };
    assert_eq!(parse_error("topic a+\n"), (1, plus));
    assert_eq!(parse_error("pattern read a/%c-x\n"), (1, AclProblem::PartialSubstitution("a/%c-x".into())));
    assert_eq!(parse_error("pattern read %uu/x\n"), (1, AclProblem::PartialSubstitution("%uu/x".into())));
    assert_eq!(parse_error("user\n"), (1, AclProblem::MissingUser));
    assert_eq!(parse_error("user   \n"), (1, AclProblem::MissingUser));
    let e = AclFile::parse("topic read\n", "/etc/tern/acl").unwrap_err();
    assert_eq!(e.to_string(), "/etc/tern/acl:1: `topic` needs a topic");
}

#[test]
fn a_topic_line_may_name_a_percent_level_literally() {
    let acl = AclFile::parse("topic read a/%c-x\n", "acl").unwrap();
    assert!(acl.check("c", None, "a/%c-x", Read));
}

#[test]
fn load_reads_the_file_and_reports_unreadable_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acl");
    std::fs::write(&path, "topic read a\n").unwrap();
    assert!(AclFile::load(&path).unwrap().check("c", None, "a", Read));
    std::fs::write(&path, b"topic read a\ntopic read \xff\n").unwrap();
    match AclFile::load(&path) {
        Err(AclError::Line { at, problem: AclProblem::NotUtf8 }) => {
            assert_eq!((at.file, at.line), (path.clone(), 2))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(AclFile::load(dir.path().join("missing")), Err(AclError::Read { .. })));
}

#[test]
fn debians_example_acl_file_parses_and_means_what_it_says() {
    let text = "# This affects access control for clients with no username.\ntopic read $SYS/#\n\n\
                # This only affects clients with username \"roger\".\nuser roger\ntopic foo/bar\n\n\
                # This affects all clients.\npattern write $SYS/broker/connection/%c/state\n";
    let acl = AclFile::parse(text, "aclfile.example").unwrap();
    assert!(acl.check("c", None, "$SYS/broker/uptime", Read));
    assert!(acl.check("c", Some("roger"), "foo/bar", Write));
    assert!(!acl.check("c", Some("roger"), "$SYS/broker/uptime", Read));
}

// Properties of the filter algebra over a small alphabet, where collisions are frequent.

fn level() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["a", "b", "", "$s"])
}

fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(level(), 1..5)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("empty topic", |t| !t.is_empty())
}

fn filter() -> impl Strategy<Value = String> {
    let part = prop::sample::select(vec!["a", "b", "", "$s", "+"]);
    (prop::collection::vec(part, 0..4), any::<bool>()).prop_filter_map(
        "empty filter",
        |(mut levels, hash)| {
            if hash {
                levels.push("#");
            }
            Some(levels.join("/")).filter(|f| !f.is_empty())
        },
    )
}

const NOBODY: Identity<'static> = Identity { client_id: "c", username: None };

fn matches_parts(p: &[Part<'_>], topic: &str) -> bool {
    let text: Vec<&str> = p
        .iter()
        .map(|part| match part {
            Part::Literal(l) => *l,
            Part::Plus => "+",
            Part::Hash => "#",
        })
        .collect();
    tern_codec::topic::matches(&text.join("/"), topic)
}

proptest! {
    #[test]
    fn compiled_filters_match_like_the_codec(f in filter(), t in topic()) {
        let compiled = Filter::compile(&f, false).unwrap();
        prop_assert_eq!(compiled.matches(&t, NOBODY), tern_codec::topic::matches(&f, &t));
    }

    #[test]
    fn intersection_matches_exactly_the_topics_both_match(a in filter(), b in filter(), t in topic()) {
        let both = intersect(&parts(&a), &parts(&b));
        let expected = tern_codec::topic::matches(&a, &t) && tern_codec::topic::matches(&b, &t);
        prop_assert_eq!(both.is_some_and(|i| matches_parts(&i, &t)), expected);
    }

    #[test]
    fn a_covering_filter_matches_every_topic_the_covered_one_does(d in filter(), x in filter(), t in topic()) {
        if covers(&parts(&d), &parts(&x)) && tern_codec::topic::matches(&x, &t) {
            prop_assert!(tern_codec::topic::matches(&d, &t));
        }
    }

    #[test]
    fn a_subscription_is_granted_whenever_a_delivery_through_it_would_be(
        rules in prop::collection::vec((filter(), 0..3u8), 1..5),
        f in filter(),
        t in topic(),
    ) {
        let text: String = rules
            .iter()
            .map(|(rule, access)| format!("topic {} {rule}\n", ["read", "readwrite", "deny"][*access as usize]))
            .collect();
        let acl = AclFile::parse(&text, "acl").unwrap();
        if tern_codec::topic::matches(&f, &t) && acl.check("c", None, &t, Read) {
            prop_assert!(acl.check("c", None, &f, Subscribe), "{text}filter {f} topic {t}");
        }
    }
}

fn pattern() -> impl Strategy<Value = String> {
    let part = prop::sample::select(vec!["a", "", "$s", "+", "%c", "%u"]);
    (prop::collection::vec(part, 1..4), any::<bool>()).prop_filter_map(
        "empty pattern",
        |(mut levels, hash)| {
            if hash {
                levels.push("#");
            }
            Some(levels.join("/")).filter(|f| !f.is_empty())
        },
    )
}

fn name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["a", "b", "a/b", "$s", ""])
}

proptest! {
    #[test]
    fn patterns_match_like_mosquittos_textual_substitution(
        p in pattern(),
        client_id in name(),
        username in prop::option::of(name()),
        t in topic(),
    ) {
        let compiled = Filter::compile(&p, true).unwrap();
        let id = Identity { client_id, username };
        let levels: Vec<&str> = p.split('/').collect();
        let expected = if levels.contains(&"%u") && username.is_none() {
            false
        } else if t.starts_with('$') && !levels[0].starts_with('$') {
            // Mosquitto compares the pattern's own first character, not the substituted one.
            false
        } else {
            let substituted: Vec<&str> = levels
                .iter()
                .map(|&level| match level {
                    "%c" => client_id,
                    "%u" => username.unwrap_or_default(),
                    other => other,
                })
                .collect();
            tern_codec::topic::matches(&substituted.join("/"), &t)
        };
        prop_assert_eq!(compiled.matches(&t, id), expected);
    }

    #[test]
    fn a_subscription_is_granted_whenever_a_pattern_delivery_through_it_would_be(
        rules in prop::collection::vec((pattern(), 0..3u8), 1..4),
        client_id in name(),
        username in prop::option::of(name()),
        f in filter(),
        t in topic(),
    ) {
        let text: String = rules
            .iter()
            .map(|(rule, access)| format!("pattern {} {rule}\n", ["read", "readwrite", "deny"][*access as usize]))
            .collect();
        let acl = AclFile::parse(&text, "acl").unwrap();
        if tern_codec::topic::matches(&f, &t) && acl.check(client_id, username, &t, Read) {
            prop_assert!(acl.check(client_id, username, &f, Subscribe), "{text}filter {f} topic {t}");
        }
    }
}
