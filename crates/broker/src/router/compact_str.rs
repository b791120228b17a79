//! Short strings stored inline.
//!
//! Topic levels (`site`, `42`, `temp`, `b8:27:eb:12:34:56`) are short. Kept inline they cost no allocation,
//! and comparing one during a lookup reads the memory the lookup already touched instead of following a
//! pointer (a cache miss per level on a large index).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Longest string kept inline: the type is then 24 bytes, a `String`'s size.
const INLINE: usize = 22;

/// An immutable string, inline up to [`INLINE`] bytes. Looked up in maps by its bytes
/// ([`Borrow<[u8]>`](Borrow)).
#[derive(Clone)]
pub(crate) struct CompactStr(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl From<&str> for CompactStr {
    fn from(text: &str) -> Self {
        let mut bytes = [0; INLINE];
        match (bytes.get_mut(..text.len()), u8::try_from(text.len())) {
            (Some(inline), Ok(len)) => {
                inline.copy_from_slice(text.as_bytes());
                CompactStr(Repr::Inline { len, bytes })
            }
            _ => CompactStr(Repr::Heap(text.into())),
        }
    }
}

impl CompactStr {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Repr::Heap(text) => text.as_bytes(),
        }
    }
}

impl Borrow<[u8]> for CompactStr {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for CompactStr {
    /// Hashes as its bytes do, so that maps can be searched with `&[u8]`.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for CompactStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for CompactStr {}

impl fmt::Debug for CompactStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_strings_read_back_unchanged() {
        for text in [
            "",
            "a",
            "temp",
            "site/42/device/7/temp",
            "é/ü",
            "site/42/device/7/temperature",
            &"x".repeat(300),
        ] {
            let compact = CompactStr::from(text);
            assert_eq!(compact.as_bytes(), text.as_bytes());
            assert_eq!(compact, CompactStr::from(text));
        }
        assert!(matches!(CompactStr::from("x".repeat(INLINE).as_str()).0, Repr::Inline { .. }));
        assert!(matches!(CompactStr::from("x".repeat(INLINE + 1).as_str()).0, Repr::Heap(_)));
        assert_eq!(std::mem::size_of::<CompactStr>(), 24);
    }

    #[test]
    fn map_lookup_by_bytes_finds_inline_and_heap_keys() {
        let long = "y".repeat(40);
        let map: std::collections::HashMap<CompactStr, u8> =
            [(CompactStr::from("temp"), 1), (CompactStr::from(long.as_str()), 2)].into_iter().collect();
        assert_eq!(map.get("temp".as_bytes()), Some(&1));
        assert_eq!(map.get(long.as_bytes()), Some(&2));
        assert_eq!(map.get("tem".as_bytes()), None);
    }
}
