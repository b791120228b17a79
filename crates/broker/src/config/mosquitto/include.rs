//! `include_dir`: the files it loads and their order.
//!
//! Every entry whose name ends in `.conf` (case-sensitive), in Mosquitto's order: case-insensitive
//! first, and for names equal but for case, upper case before lower case (`00.conf`, `A.conf`, `a.conf`,
//! `B.conf`, `b.conf`).

use std::cmp::Ordering;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

/// The `.conf` files of `dir`, in the order Mosquitto loads them.
pub(super) fn conf_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let bytes = name.as_encoded_bytes();
        if bytes.len() > ".conf".len() && bytes.ends_with(b".conf") {
            files.push(entry.path());
        }
    }
    files.sort_by(|a, b| mosquitto_order(name_of(a), name_of(b)));
    Ok(files)
}

fn name_of(path: &Path) -> &[u8] {
    path.file_name().map(OsStr::as_encoded_bytes).unwrap_or_default()
}

/// Mosquitto's `scmp_p`: byte by byte, ASCII upper-cased first, then raw (so `A` < `a` < `B`).
fn mosquitto_order(a: &[u8], b: &[u8]) -> Ordering {
    let key = |c: u8| (c.to_ascii_uppercase(), c);
    a.iter().map(|&c| key(c)).cmp(b.iter().map(|&c| key(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_load_in_the_man_page_order() {
        let mut names = vec!["b.conf", "A.conf", "01.conf", "a.conf", "B.conf", "00.conf"];
        names.sort_by(|a, b| mosquitto_order(a.as_bytes(), b.as_bytes()));
        assert_eq!(names, ["00.conf", "01.conf", "A.conf", "a.conf", "B.conf", "b.conf"]);
    }

    #[test]
    fn only_names_ending_in_conf_are_loaded() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.conf", "a.conf", ".conf", "x.conf.bak", "y.CONF", "notes.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let files = conf_files(dir.path()).unwrap();
        let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["a.conf", "b.conf"]);
    }
}
