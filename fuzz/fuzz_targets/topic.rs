//! Topic validation, `$share` parsing and matching on arbitrary strings, with matching checked against a
//! straightforward level-by-level reference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_codec::topic::{matches, parse_shared, validate_topic_filter, validate_topic_name};

/// Reference matcher: compares level lists recursively [MQTT-4.7.1], [MQTT-4.7.2-1].
fn reference(filter: &[&str], name: &[&str]) -> bool {
    match (filter.split_first(), name.split_first()) {
        (Some((&"#", _)), _) => true,
        (Some((&"+", f)), Some((_, n))) => reference(f, n),
        (Some((level, f)), Some((n0, n))) => level == n0 && reference(f, n),
        (None, None) => true,
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (filter, name) = text.split_once('\u{1}').unwrap_or((text, text));
    let filter_ok = validate_topic_filter(filter).is_ok();
    let name_ok = validate_topic_name(name).is_ok();
    if let Some(Ok(shared)) = parse_shared(filter) {
        assert!(filter_ok);
        assert_eq!(shared.to_string(), filter);
        // The part after the share name is a plain filter; one that itself starts with "$share/" is not
        // a nested share (validate_topic_filter would read it as one).
        if !shared.filter.starts_with("$share/") {
            assert!(validate_topic_filter(shared.filter).is_ok());
        }
    }
    if filter_ok && name_ok && parse_shared(filter).is_none() {
        let f: Vec<&str> = filter.split('/').collect();
        let n: Vec<&str> = name.split('/').collect();
        let dollar = name.starts_with('$') && (f[0] == "#" || f[0] == "+");
        assert_eq!(matches(filter, name), !dollar && reference(&f, &n), "{filter:?} {name:?}");
    }
});
