//! Keeps registry.txt honest: every statement appears once per version, every test it names exists and
//! cites the statement, and every conformance test is in it.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// One line of registry.txt.
#[derive(Debug)]
struct Entry {
    version: String,
    id: String,
    kind: String,
    reference: String,
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn entries() -> Vec<Entry> {
    let text = std::fs::read_to_string(tests_dir().join("conformance/registry.txt")).expect("registry.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let cols: Vec<&str> = line.split(" | ").map(str::trim).collect();
            assert!(cols.len() == 5, "registry.txt: five columns expected: {line}");
            Entry {
                version: cols[0].to_owned(),
                id: cols[1].to_owned(),
                kind: cols[2].to_owned(),
                reference: cols[3].to_owned(),
            }
        })
        .collect()
}

/// The source files of a test target: `tests/NAME.rs`, or every file of `tests/NAME/`.
fn sources(target: &str) -> Vec<String> {
    let single = tests_dir().join(format!("{target}.rs"));
    if single.is_file() {
        return vec![std::fs::read_to_string(single).expect("test source")];
    }
    let dir = tests_dir().join(target);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("no test target {target}: {e}")) {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            out.push(std::fs::read_to_string(path).expect("test source"));
        }
    }
    out
}

/// The text of test `name` in `source`: its doc comment and attributes, signature and body, up to the next
/// item.
fn test_text<'a>(source: &'a str, name: &str) -> Option<&'a str> {
    let at = source.find(&format!("fn {name}("))?;
    let start = source[..at].rfind("\n\n").map_or(0, |i| i + 2);
    let end = source[at..].find("\n}\n").map_or(source.len(), |i| at + i + 3);
    Some(&source[start..end])
}

/// Whether `text` names `id` in a test name: MQTT-4.8.2-3 as `_4_8_2_3` followed by no digit.
fn names(text: &str, id: &str) -> bool {
    let token = format!("_{}", id.trim_start_matches("MQTT-").replace(['.', '-'], "_"));
    text.match_indices(&token)
        .any(|(at, _)| !text[at + token.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

#[test]
fn every_statement_is_listed_once_with_a_known_kind() {
    let mut seen = HashSet::new();
    let mut counts = std::collections::BTreeMap::new();
    for e in entries() {
        assert!(["5", "3.1.1"].contains(&e.version.as_str()), "version of {}: {}", e.id, e.version);
        assert!(e.id.starts_with("MQTT-"), "{}", e.id);
        assert!(seen.insert((e.version.clone(), e.id.clone())), "{} {} is listed twice", e.version, e.id);
        assert!(
            ["test", "client", "untestable", "na", "open"].contains(&e.kind.as_str()),
            "kind of {}: {}",
            e.id,
            e.kind
        );
        assert!(!e.reference.is_empty(), "{} {} needs a test or a reason", e.version, e.id);
        *counts.entry(e.version).or_insert(0) += 1;
    }
    // MQTT 5.0 appendix B: 247 statements in chapters 1-4 and 4 in chapter 6. MQTT 3.1.1: 141 numbered
    // statements in its body (appendix B leaves a few out).
    assert_eq!(counts.get("5"), Some(&251));
    assert_eq!(counts.get("3.1.1"), Some(&141));
}

#[test]
fn every_named_test_exists_and_cites_its_statement() {
    for e in entries().into_iter().filter(|e| e.kind == "test") {
        for reference in e.reference.split(',').map(str::trim) {
            let parts: Vec<&str> = reference.split("::").collect();
            let (files, name) = match parts[..] {
                [target, name] => (sources(target), name),
                [target, module, name] => {
                    let path = tests_dir().join(target).join(format!("{module}.rs"));
                    (vec![std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))], name)
                }
                _ => panic!("TARGET::NAME or TARGET::MODULE::NAME: {reference}"),
            };
            let text = files.iter().find_map(|s| test_text(s, name));
            let text = text.unwrap_or_else(|| panic!("{} {}: no test {reference}", e.version, e.id));
            // "MQTT-3.1.2.7" is how 3.1.1 itself writes one of its identifiers.
            let cited = text.contains(&format!("{}]", e.id))
                || names(text, &e.id)
                || files.iter().any(|s| s.contains(&format!("\"[{}]", e.id)));
            assert!(cited, "{} {}: {reference} does not cite it", e.version, e.id);
        }
    }
}

#[test]
fn every_conformance_test_is_in_the_registry() {
    let referenced: BTreeSet<String> = entries()
        .iter()
        .filter(|e| e.kind == "test")
        .flat_map(|e| {
            e.reference
                .split(',')
                .map(|r| r.trim().rsplit("::").next().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    for source in sources("conformance") {
        for line in source.lines().filter(|l| l.starts_with("async fn mqtt_")) {
            let name = &line["async fn ".len()..line.find('(').expect("signature")];
            assert!(referenced.contains(name), "{name} is in no registry line");
        }
    }
}
