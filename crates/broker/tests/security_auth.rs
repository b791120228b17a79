//! Test whether password files and `allow_anonymous` decide who connects as in Mosquitto 2.0: files made
//! by Debian's `mosquitto_passwd` (`$7$` PBKDF2-SHA512 and `-H sha512` `$6$`), the CONNACK codes of every
//! refusal compared with a real `mosquitto` given the same files, and per-listener settings.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use tern_broker::auth::password::{hash_password, Algorithm};
use tern_client::{Client, ConnectOptions, ProtocolVersion, QoS};
use tern_test_support::mosquitto::Mosquitto;

/// A password file with alice (`$7$`, mosquitto_passwd's default) and bob (`-H sha512`, `$6$`).
async fn mosquitto_password_file(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("passwd");
    mosquitto_passwd(&file, &[], "alice", "wonderland").await;
    mosquitto_passwd(&file, &["-H", "sha512"], "bob", "builder").await;
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("alice:$7$101$") && text.contains("bob:$6$"), "{text}");
    file
}

fn readable_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // Mosquitto drops root privileges: let it read the files too.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn users_of_a_password_file_made_by_mosquitto_passwd_log_in() {
    let dir = readable_dir();
    let file = mosquitto_password_file(dir.path()).await;
    let broker = start(
        dir.path(),
        &format!("listener 1 127.0.0.1\npassword_file {}\nallow_anonymous false\n", file.display()),
    )
    .await;
    for version in [ProtocolVersion::V31, ProtocolVersion::V311, ProtocolVersion::V5] {
        for (user, password) in [("alice", "wonderland"), ("bob", "builder")] {
            let options = ConnectOptions::new("127.0.0.1", broker.port(0)).version(version).client_id(user);
            let (client, mut events) = connect(options.credentials(user, password)).await;
            client.subscribe("auth/echo", QoS::AtLeastOnce).await.unwrap();
            client.publish("auth/echo", user, QoS::AtLeastOnce, false).await.unwrap();
            assert_eq!(next_message(&mut events).await.payload, user.as_bytes());
            client.disconnect().await.unwrap();
        }
    }
}

/// The outcome of connecting: `None` if accepted, else the CONNACK code (v5 code; 3.x return codes mapped
/// to it: 4 is 0x86, 5 is 0x87).
async fn outcome(options: ConnectOptions) -> Option<u8> {
    match Client::connect(options).await {
        Ok((client, _, _)) => {
            client.disconnect().await.unwrap();
            None
        }
        Err(e) => Some(e.refusal().unwrap_or_else(|| panic!("no CONNACK: {e}")).0),
    }
}

/// Who tries to connect.
#[derive(Debug, Clone, Copy)]
enum Attempt {
    RightPassword,
    WrongPassword,
    UnknownUser,
    UserWithoutPassword,
    Anonymous,
}

fn attempt(port: u16, version: ProtocolVersion, attempt: Attempt) -> ConnectOptions {
    let options = ConnectOptions::new("127.0.0.1", port).version(version).client_id("auth-check");
    match attempt {
        Attempt::RightPassword => options.credentials("alice", "wonderland"),
        Attempt::WrongPassword => options.credentials("alice", "looking-glass"),
        Attempt::UnknownUser => options.credentials("mallory", "wonderland"),
        Attempt::UserWithoutPassword => {
            let mut options = options;
            options.connect.username = Some("alice".into());
            options
        }
        Attempt::Anonymous => options,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_answers_the_connack_code_mosquitto_2_answers() {
    let dir = readable_dir();
    let file = mosquitto_password_file(dir.path()).await;
    let passwords = format!("password_file {}\n", file.display());
    let configurations = [
        format!("{passwords}allow_anonymous false\n"),
        format!("{passwords}allow_anonymous true\n"),
        "allow_anonymous false\n".to_owned(),
    ];
    for conf in configurations {
        let mosquitto = Mosquitto::start_with(&conf);
        let tern_dir = tempfile::tempdir().unwrap();
        let tern = start(tern_dir.path(), &format!("listener 1 127.0.0.1\n{conf}")).await;
        for version in [ProtocolVersion::V31, ProtocolVersion::V311, ProtocolVersion::V5] {
            for who in [
                Attempt::RightPassword,
                Attempt::WrongPassword,
                Attempt::UnknownUser,
                Attempt::UserWithoutPassword,
                Attempt::Anonymous,
            ] {
                let theirs = outcome(attempt(mosquitto.port, version, who)).await;
                let ours = outcome(attempt(tern.port(0), version, who)).await;
                assert_eq!(ours, theirs, "{conf:?} {version:?} {who:?}");
                // Mosquitto 2.0 answers "not authorised" to every failure: 5 (3.x) / 0x87 (5.0).
                assert!(matches!(ours, None | Some(0x87)), "{conf:?} {version:?} {who:?}: {ours:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_clients_get_in_only_where_allowed_and_given_user_names_are_still_checked() {
    let dir = readable_dir();
    let file = mosquitto_password_file(dir.path()).await;
    let broker = start(
        dir.path(),
        &format!("listener 1 127.0.0.1\npassword_file {}\nallow_anonymous true\n", file.display()),
    )
    .await;
    let port = broker.port(0);
    assert_eq!(outcome(v5(port, "anonymous")).await, None);
    assert_eq!(outcome(v5(port, "alice").credentials("alice", "wonderland")).await, None);
    assert_eq!(outcome(v5(port, "alice").credentials("alice", "nope")).await, Some(0x87));
    assert_eq!(outcome(v311(port, "mallory").credentials("mallory", "x")).await, Some(0x87));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_file_made_by_tern_with_argon2id_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    let hash = hash_password(b"correct horse", Algorithm::Argon2id).unwrap();
    std::fs::write(&file, format!("carol:{hash}\n")).unwrap();
    assert!(std::fs::read_to_string(&file).unwrap().starts_with("carol:$argon2id$"));
    let broker =
        start(dir.path(), &format!("listener 1 127.0.0.1\npassword_file {}\n", file.display())).await;
    assert_eq!(outcome(v5(broker.port(0), "c").credentials("carol", "correct horse")).await, None);
    assert_eq!(outcome(v5(broker.port(0), "c").credentials("carol", "battery staple")).await, Some(0x87));
}

#[tokio::test(flavor = "multi_thread")]
async fn per_listener_settings_give_each_listener_its_own_rules() {
    let dir = readable_dir();
    let file = mosquitto_password_file(dir.path()).await;
    let bob_only = dir.path().join("bob-only");
    mosquitto_passwd(&bob_only, &[], "bob", "other-password").await;
    let broker = start(
        dir.path(),
        &format!(
            "per_listener_settings true\n\
             listener 1 127.0.0.1\nallow_anonymous true\n\
             listener 2 127.0.0.1\npassword_file {}\nallow_anonymous false\n\
             listener 3 127.0.0.1\npassword_file {}\n",
            file.display(),
            bob_only.display()
        ),
    )
    .await;
    let (open, closed, bobs) = (broker.port(0), broker.port(1), broker.port(2));
    // The first listener has no password file: anonymous clients, and any user name, get in.
    assert_eq!(outcome(v5(open, "a")).await, None);
    assert_eq!(outcome(v5(open, "a").credentials("anyone", "anything")).await, None);
    // The second checks its password file and refuses anonymous clients.
    assert_eq!(outcome(v5(closed, "a")).await, Some(0x87));
    assert_eq!(outcome(v5(closed, "a").credentials("alice", "wonderland")).await, None);
    assert_eq!(outcome(v5(closed, "a").credentials("anyone", "anything")).await, Some(0x87));
    // The third has its own file, and says nothing of anonymous clients: refused, as Mosquitto 2 does.
    assert_eq!(outcome(v5(bobs, "a")).await, Some(0x87));
    assert_eq!(outcome(v5(bobs, "a").credentials("alice", "wonderland")).await, Some(0x87));
    assert_eq!(outcome(v5(bobs, "a").credentials("bob", "builder")).await, Some(0x87));
    assert_eq!(outcome(v5(bobs, "a").credentials("bob", "other-password")).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_per_listener_settings_one_password_file_guards_every_listener() {
    let dir = readable_dir();
    let file = mosquitto_password_file(dir.path()).await;
    let broker = start(
        dir.path(),
        &format!(
            "password_file {}\nallow_anonymous false\nlistener 1 127.0.0.1\nlistener 2 127.0.0.1\nprotocol websockets\n",
            file.display()
        ),
    )
    .await;
    for (port, transport) in [
        (broker.port(0), tern_client::Transport::Tcp),
        (broker.port(1), tern_client::Transport::Ws { path: "/mqtt".into() }),
    ] {
        let options = v5(port, "a").transport(transport);
        assert_eq!(outcome(options.clone()).await, Some(0x87));
        assert_eq!(outcome(options.clone().credentials("bob", "builder")).await, None);
        assert_eq!(outcome(options.credentials("bob", "wonderland")).await, Some(0x87));
    }
}
