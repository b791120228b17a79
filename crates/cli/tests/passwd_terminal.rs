//! Test whether `tern passwd` asks for the password on a terminal as mosquitto_passwd does: the prompts
//! `Password: ` and `Reenter password: `, nothing of what is typed echoed, mosquitto_passwd's message and
//! exit status when the two differ or are empty, and a hash that verifies.
#![allow(clippy::unwrap_used)]

mod common;

use common::on_terminal;
use tern_broker::auth::password::PasswordFile;

/// What the terminal shows when the password is typed twice: the prompts, and the newline of each answer.
const PROMPTS: &str = "Password: \r\nReenter password: \r\n";

#[test]
fn password_is_asked_twice_without_echo_and_its_hash_verifies() {
    let dir = tempfile::tempdir().unwrap();
    for real in [false, true] {
        let file = dir.path().join(if real { "mosquitto" } else { "tern" });
        let dialogue = [("Password: ", "s3cret pass\n"), ("Reenter password: ", "s3cret pass\n")];
        let out =
            on_terminal(real, "passwd", &["-c", "-I", "1000", file.to_str().unwrap(), "alice"], &dialogue);
        let shown = String::from_utf8_lossy(&out.stdout);
        assert_eq!((out.status.code(), shown.as_ref()), (Some(0), PROMPTS), "real: {real}");
        let passwords = PasswordFile::load(&file).unwrap();
        assert!(passwords.authenticate("alice", b"s3cret pass"), "real: {real}");
        assert!(!passwords.authenticate("alice", b"s3cret"), "real: {real}");
    }
}

#[test]
fn mismatched_or_empty_passwords_fail_as_mosquitto_passwd_does() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    let path = file.to_str().unwrap();
    let mismatch = [("Password: ", "first\n"), ("Reenter password: ", "second\n")];
    let empty = [("Password: ", "\n")];
    for (dialogue, code, shown) in [
        (&mismatch[..], 2, format!("{PROMPTS}Error: Passwords do not match.\r\n")),
        // The line break follows an accepted answer only.
        (&empty[..], 1, "Password: Error: Empty password.\r\n".to_owned()),
    ] {
        for real in [false, true] {
            let out = on_terminal(real, "passwd", &["-c", path, "bob"], dialogue);
            let transcript = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                (out.status.code(), transcript.as_ref()),
                (Some(code), shown.as_str()),
                "real: {real}"
            );
            assert!(!file.exists(), "real: {real}: no file is written");
        }
    }
}
