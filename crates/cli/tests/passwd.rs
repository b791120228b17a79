//! `tern passwd` and mosquitto_passwd write files the other reads, and a real mosquitto broker accepts the
//! passwords `tern passwd` hashes.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{run, tern, tool};
use tern_broker::auth::password::PasswordFile;
use tern_test_support::mosquitto::Mosquitto;

fn passwd(real: bool, args: &[&str], stdin: &[u8]) -> std::process::Output {
    run(tool(real, "passwd", args), stdin)
}

fn load(path: &Path) -> PasswordFile {
    PasswordFile::load(path).unwrap()
}

#[test]
fn files_written_by_mosquitto_passwd_verify_in_tern() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pw");
    let fs = f.to_str().unwrap();
    assert!(passwd(true, &["-c", "-b", fs, "alice", "secret"], b"").status.success());
    assert!(passwd(true, &["-H", "sha512", "-b", fs, "bob", "hunter2"], b"").status.success());
    assert!(passwd(true, &["-b", fs, "carol", "c:ol on"], b"").status.success());
    let file = load(&f);
    assert!(file.authenticate("alice", b"secret"));
    assert!(file.authenticate("bob", b"hunter2"));
    assert!(file.authenticate("carol", b"c:ol on"));
    assert!(!file.authenticate("alice", b"hunter2"));
    assert!(!file.authenticate("dave", b"secret"));
}

#[test]
fn tern_passwd_edits_files_mosquitto_passwd_wrote_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pw");
    let fs = f.to_str().unwrap();
    assert!(passwd(true, &["-c", "-b", fs, "alice", "a1"], b"").status.success());
    assert!(passwd(false, &["-I", "1000", "-b", fs, "bob", "b1"], b"").status.success());
    assert!(passwd(false, &["-H", "sha512", "-b", fs, "alice", "a2"], b"").status.success());
    // mosquitto_passwd edits the file tern wrote.
    assert!(passwd(true, &["-b", fs, "carol", "c1"], b"").status.success());
    assert!(passwd(true, &["-D", fs, "bob"], b"").status.success());
    let file = load(&f);
    assert!(file.authenticate("alice", b"a2"));
    assert!(file.authenticate("carol", b"c1"));
    assert!(file.get("bob").is_none());
    // And tern deletes what mosquitto added.
    assert!(passwd(false, &["-D", fs, "carol"], b"").status.success());
    assert!(load(&f).get("carol").is_none());
}

/// Starts mosquitto with `password_file` and checks who mosquitto_pub can connect as.
fn mosquitto_accepts(pwfile: &Path, user: &str, password: &str) -> bool {
    let broker =
        Mosquitto::start_with(&format!("allow_anonymous false\npassword_file {}\n", pwfile.display()));
    let port = broker.port.to_string();
    let out = run(tool(true, "pub", &["-p", &port, "-t", "t", "-m", "x", "-u", user, "-P", password]), b"");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not authorised"), "{err}");
    }
    out.status.success()
}

#[test]
fn mosquitto_accepts_passwords_hashed_by_tern_passwd() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pw");
    let fs = f.to_str().unwrap();
    // Default (PBKDF2, 210,000 iterations), explicit sha512-pbkdf2 and sha512.
    assert!(passwd(false, &["-c", "-b", fs, "dflt", "p-default"], b"").status.success());
    assert!(passwd(false, &["-H", "sha512-pbkdf2", "-b", fs, "pbk", "p-pbkdf2"], b"").status.success());
    assert!(passwd(false, &["-H", "sha512", "-b", fs, "old", "p-sha512"], b"").status.success());
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.contains("dflt:$7$210000$"), "{text}");
    assert!(mosquitto_accepts(&f, "dflt", "p-default"));
    assert!(mosquitto_accepts(&f, "pbk", "p-pbkdf2"));
    assert!(mosquitto_accepts(&f, "old", "p-sha512"));
    assert!(!mosquitto_accepts(&f, "pbk", "p-default"));
    assert!(!mosquitto_accepts(&f, "nobody", "p-default"));
}

#[test]
fn argon2id_hashes_verify_in_tern() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pw");
    let fs = f.to_str().unwrap();
    assert!(passwd(false, &["-c", "-H", "argon2id", "-b", fs, "u", "strong"], b"").status.success());
    assert!(std::fs::read_to_string(&f).unwrap().starts_with("u:$argon2id$v=19$"));
    assert!(load(&f).authenticate("u", b"strong"));
}

#[test]
fn update_hashes_a_plain_text_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pw");
    let fs = f.to_str().unwrap();
    std::fs::write(&f, "x:y\n# staff\nz:w w\n").unwrap();
    assert!(passwd(false, &["-I", "1000", "-U", fs], b"").status.success());
    let once = std::fs::read_to_string(&f).unwrap();
    assert!(once.contains("# staff\n"));
    let file = load(&f);
    assert!(file.authenticate("x", b"y"));
    assert!(file.authenticate("z", b"w w"));
    // Running -U again leaves hashes alone.
    assert!(passwd(false, &["-U", fs], b"").status.success());
    assert_eq!(std::fs::read_to_string(&f).unwrap(), once);
    assert!(mosquitto_accepts(&f, "x", "y"));
}

#[test]
fn password_is_asked_twice_from_standard_input_when_it_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pw");
    let fs = f.to_str().unwrap();
    let out = passwd(false, &["-c", "-I", "1000", fs, "u"], b"typed\ntyped\n");
    assert!(out.status.success(), "{out:?}");
    assert!(load(&f).authenticate("u", b"typed"));
    for (real, input, code, message) in [
        (false, &b"a\nb\n"[..], 2, "Error: Passwords do not match.\n"),
        (false, b"\n\n", 1, "Error: Empty password.\n"),
    ] {
        let out = passwd(real, &[fs, "v"], input);
        assert_eq!(out.status.code(), Some(code));
        assert_eq!(String::from_utf8_lossy(&out.stderr), message);
    }
}

#[test]
fn errors_and_exit_codes_match_mosquitto_passwd() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pw");
    let fs = f.to_str().unwrap();
    assert!(passwd(true, &["-c", "-b", fs, "alice", "a"], b"").status.success());
    let corrupt = dir.path().join("corrupt");
    std::fs::write(&corrupt, "ok:$6$aaaa$bbbb\nbad line\n").unwrap();
    let cs = corrupt.to_str().unwrap();
    let missing = dir.path().join("missing");
    let ms = missing.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["-D", fs, "nobody"],
        &["-c", fs],
        &["-H", "md5", fs, "u"],
        &["-b", fs, "a:b", "p"],
        &["-b", fs, "a\tb", "p"],
        &["-c", "-D", fs, "u"],
        &["-c", "-U", fs],
        &["-D", "-U", fs],
        &["-b", "-D", fs, "u"],
        &["-D", fs],
        &["-U"],
        &["-I", "0", "-b", fs, "u", "p"],
        &["-b", ms, "u", "p"],
        &["-D", cs, "ok"],
    ];
    for args in cases {
        let ours = passwd(false, args, b"");
        let theirs = passwd(true, args, b"");
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&theirs.stderr),
            "{args:?}"
        );
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
    }
    // The file was not touched by any failure.
    assert!(load(&f).authenticate("alice", b"a"));
}

#[test]
fn help_states_the_default_hash_and_no_arguments_print_it() {
    let mut cmd = tern();
    cmd.arg("passwd");
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Defaults to sha512-pbkdf2 with 210000 iterations"), "{text}");
    assert!(text.contains("argon2id"));
}
