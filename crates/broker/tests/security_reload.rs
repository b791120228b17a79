//! Test whether a reload (what SIGHUP does) puts new security settings in force without dropping
//! connections, disconnects clients the new rules refuse, and — when any file is broken — changes nothing
//! at all and names the file and line (Mosquitto 2.0 runs without ACL checks after a bad ACL reload; Tern
//! fails closed).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use tern_client::{Client, Disconnect, ProtocolVersion, QoS, ReasonCode, TlsOptions, Transport};
use tern_test_support::pki::{Ca, CertFiles};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

struct Files {
    dir: tempfile::TempDir,
    acl: PathBuf,
    passwd: PathBuf,
}

/// A broker with a password file (alice, bob) and an ACL file; anonymous clients allowed unless `extra`
/// says otherwise.
async fn broker(acl: &str, extra: &str) -> (TestBroker, Files) {
    let dir = tempfile::tempdir().unwrap();
    let files = Files { acl: dir.path().join("acl"), passwd: dir.path().join("passwd"), dir };
    write(&files.acl, acl);
    mosquitto_passwd(&files.passwd, &[], "alice", "alice-pw").await;
    mosquitto_passwd(&files.passwd, &[], "bob", "bob-pw").await;
    let conf = format!(
        "listener 1 127.0.0.1\npassword_file {}\nacl_file {}\n{extra}",
        files.passwd.display(),
        files.acl.display()
    );
    (start(files.dir.path(), &conf).await, files)
}

fn user(port: u16, name: &str) -> tern_client::ConnectOptions {
    v5(port, name).credentials(name, format!("{name}-pw"))
}

/// A QoS 1 publish and its outcome; a panic if the broker answers nothing within [`PATIENCE`].
async fn publish(client: &Client, topic: &str) -> Result<(), tern_client::ClientError> {
    let publish = client.publish(topic, topic.to_owned(), QoS::AtLeastOnce, false);
    tokio::time::timeout(PATIENCE, publish).await.expect("no answer to PUBLISH in time").map(drop)
}

const ACL: &str = "user alice\ntopic readwrite a/#\ntopic readwrite b/#\n\nuser bob\ntopic readwrite #\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_acl_line_changes_nothing_and_names_its_file_and_line() {
    let (broker, files) = broker(ACL, "allow_anonymous true\n").await;
    let port = broker.port(0);
    let (alice, mut events) = connect(user(port, "alice")).await;
    alice.subscribe("a/#", QoS::AtLeastOnce).await.unwrap();
    // The new file would grant c/# but has a bad third line.
    write(&files.acl, "user alice\ntopic readwrite c/#\ntopic readwirte a/#\n");
    let error = broker.reload().unwrap_err();
    assert!(error.contains(&format!("{}:3", files.acl.display())), "{error}");
    assert!(error.contains("readwirte"), "{error}");
    // The old rules stay in force, for connected and new clients alike.
    publish(&alice, "a/1").await.unwrap();
    assert_eq!(next_message(&mut events).await.topic, "a/1");
    assert_eq!(publish(&alice, "c/1").await, Err(DENIED));
    let (again, _e) = connect(user(port, "alice")).await;
    assert_eq!(publish(&again, "c/1").await, Err(DENIED));
    publish(&again, "b/1").await.unwrap();
    // Not open either: an anonymous client, granted nothing, is still refused.
    let (anonymous, _e) = connect(v5(port, "anon")).await;
    assert_eq!(publish(&anonymous, "a/1").await, Err(DENIED));
    // An unreadable ACL file changes nothing either.
    std::fs::remove_file(&files.acl).unwrap();
    let error = broker.reload().unwrap_err();
    assert!(error.contains(&files.acl.display().to_string()), "{error}");
    publish(&again, "b/2").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_password_file_changes_nothing_and_names_its_file_and_line() {
    let (broker, files) = broker(ACL, "allow_anonymous false\n").await;
    let port = broker.port(0);
    let (alice, _events) = connect(user(port, "alice")).await;
    let good = std::fs::read_to_string(&files.passwd).unwrap();
    // A new user, then a line that is not `user:hash`.
    mosquitto_passwd(&files.passwd, &[], "carol", "carol-pw").await;
    std::fs::write(&files.passwd, format!("{}bob\n", std::fs::read_to_string(&files.passwd).unwrap()))
        .unwrap();
    let error = broker.reload().unwrap_err();
    assert!(error.contains(&format!("{}:4", files.passwd.display())), "{error}");
    assert_eq!(refusal(user(port, "carol")).await, 0x87, "carol is not in force");
    connect(user(port, "bob")).await;
    assert!(still_connected(&alice).await);
    // A password file that cannot be read at all.
    std::fs::remove_file(&files.passwd).unwrap();
    std::fs::create_dir(&files.passwd).unwrap();
    let error = broker.reload().unwrap_err();
    assert!(error.contains(&files.passwd.display().to_string()), "{error}");
    connect(user(port, "alice")).await;
    std::fs::remove_dir(&files.passwd).unwrap();
    write(&files.passwd, &good);
    broker.reload().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_a_user_disconnects_it_and_no_one_else() {
    let (broker, files) = broker(ACL, "allow_anonymous false\n").await;
    let port = broker.port(0);
    let (alice, mut alice_events) = connect(user(port, "alice")).await;
    let alice3_options = v311(port, "alice-3").credentials("alice", "alice-pw");
    let (_alice3, mut alice3_events) = connect(alice3_options).await;
    let (bob, mut bob_events) = connect(user(port, "bob")).await;
    bob.subscribe("b/#", QoS::AtLeastOnce).await.unwrap();
    let out =
        run(tokio::process::Command::new("mosquitto_passwd").arg("-D").arg(&files.passwd).arg("alice")).await;
    assert!(out.status.success(), "{}", text(&out));
    broker.reload().unwrap();
    // v5: DISCONNECT 0x87 Not authorized; 3.1.1: the connection is closed.
    assert_eq!(disconnected(&mut alice_events).await, Some(0x87));
    assert_eq!(disconnected(&mut alice3_events).await, None);
    assert!(publish(&alice, "b/1").await.is_err());
    assert_eq!(refusal(user(port, "alice")).await, 0x87);
    // bob was not disturbed.
    publish(&bob, "b/2").await.unwrap();
    assert_eq!(next_message(&mut bob_events).await.topic, "b/2");
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_grant_drops_the_subscription_and_keeps_the_connection() {
    let (broker, files) = broker(ACL, "allow_anonymous false\n").await;
    let port = broker.port(0);
    let (alice, mut events) = connect(user(port, "alice")).await;
    alice.subscribe("a/#", QoS::AtLeastOnce).await.unwrap();
    alice.subscribe("b/#", QoS::AtLeastOnce).await.unwrap();
    let (bob, _e) = connect(user(port, "bob")).await;
    write(&files.acl, "user alice\ntopic readwrite a/#\ntopic write b/#\n\nuser bob\ntopic readwrite #\n");
    broker.reload().unwrap();
    publish(&bob, "b/1").await.unwrap();
    publish(&bob, "a/1").await.unwrap();
    assert_eq!(drain(&mut events).await, [("a/1".to_owned(), "a/1".to_owned())]);
    assert!(still_connected(&alice).await);
    // The subscription is gone, not just muted: granting read again does not bring it back.
    write(&files.acl, ACL);
    broker.reload().unwrap();
    publish(&bob, "b/2").await.unwrap();
    assert_eq!(drain(&mut events).await, []);
    // Writing is checked against the rules in force at each publish.
    write(&files.acl, "user alice\ntopic read a/#\n\nuser bob\ntopic readwrite #\n");
    broker.reload().unwrap();
    assert_eq!(publish(&alice, "a/2").await, Err(DENIED));
}

#[tokio::test(flavor = "multi_thread")]
async fn refusing_anonymous_clients_disconnects_those_connected() {
    let (broker, files) =
        broker("topic readwrite public/#\nuser alice\ntopic readwrite #\n", "allow_anonymous true\n").await;
    let port = broker.port(0);
    let (_anonymous, mut anonymous_events) = connect(v5(port, "anon")).await;
    let (alice, _e) = connect(user(port, "alice")).await;
    let conf = std::fs::read_to_string(&broker.config_path).unwrap();
    write(&broker.config_path, &conf.replace("allow_anonymous true", "allow_anonymous false"));
    broker.reload().unwrap();
    assert_eq!(disconnected(&mut anonymous_events).await, Some(0x87));
    assert_eq!(refusal(v5(port, "anon")).await, 0x87);
    assert!(still_connected(&alice).await);
    drop(files);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delayed_will_is_checked_against_the_rules_in_force_when_it_is_sent() {
    let (broker, files) = broker(ACL, "allow_anonymous false\n").await;
    let port = broker.port(0);
    let (bob, mut events) = connect(user(port, "bob")).await;
    bob.subscribe("a/#", QoS::AtLeastOnce).await.unwrap();
    let leave = |id: &'static str| async move {
        let mut options = user(port, "alice").client_id(id).session_expiry(60);
        options = options.will(format!("a/{id}"), "gone", QoS::AtLeastOnce, false);
        options.connect.will.as_mut().unwrap().properties.will_delay_interval = Some(1);
        let (alice, _e) = connect(options).await;
        alice.disconnect_with(Disconnect::new(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE)).await.unwrap();
    };
    // A will due in a second arrives.
    leave("first").await;
    assert_eq!(next_message(&mut events).await.topic, "a/first");
    // Before the next one is due, alice loses the right to write a/#.
    leave("second").await;
    write(&files.acl, "user alice\ntopic read a/#\n\nuser bob\ntopic readwrite #\n");
    broker.reload().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(drain(&mut events).await, []);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_listener_file_leaves_every_listener_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first.acl"), dir.path().join("second.acl"));
    write(&first, "topic readwrite one/#\n");
    write(&second, "topic readwrite two/#\n");
    let broker = start(
        dir.path(),
        &format!(
            "per_listener_settings true\nlistener 1 127.0.0.1\nallow_anonymous true\nacl_file {}\n\
             listener 2 127.0.0.1\nallow_anonymous true\nacl_file {}\n",
            first.display(),
            second.display()
        ),
    )
    .await;
    // The first listener's change is valid, the second's is not: neither applies.
    write(&first, "topic readwrite uno/#\n");
    write(&second, "topic readwrite two/#\npattern\n");
    let error = broker.reload().unwrap_err();
    assert!(error.contains(&format!("{}:2", second.display())), "{error}");
    let (client, _e) = connect(v5(broker.port(0), "c")).await;
    publish(&client, "one/x").await.unwrap();
    assert_eq!(publish(&client, "uno/x").await, Err(DENIED));
    // A configuration file with a bad line changes nothing either, and says where.
    let conf = std::fs::read_to_string(&broker.config_path).unwrap();
    write(&first, "topic readwrite uno/#\n");
    write(&second, "topic readwrite two/#\n");
    write(&broker.config_path, &format!("{conf}max_qos 3\n"));
    let error = broker.reload().unwrap_err();
    assert!(error.contains(&format!("{}:8", broker.config_path.display())), "{error}");
    assert_eq!(publish(&client, "uno/x").await, Err(DENIED));
    // Listeners themselves change only at a restart.
    write(&broker.config_path, &format!("{conf}listener 3 127.0.0.1\n"));
    assert!(broker.reload().unwrap_err().contains("restart"));
    write(&broker.config_path, &conf);
    broker.reload().unwrap();
    publish(&client, "uno/x").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_certificate_changes_nothing_and_a_good_one_serves_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new(dir.path(), "old-ca");
    let old = old_ca.server("old");
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    std::fs::copy(&old.cert, &cert).unwrap();
    std::fs::copy(&old.key, &key).unwrap();
    let conf = format!(
        "listener 1 127.0.0.1\ncertfile {}\nkeyfile {}\nallow_anonymous true\n",
        cert.display(),
        key.display()
    );
    let broker = start(dir.path(), &conf).await;
    let port = broker.port(0);
    let trusting = |ca: &Ca| {
        let tls = TlsOptions { ca_file: Some(ca.cert_path.clone()), ..TlsOptions::default() };
        tern_client::ConnectOptions::new("localhost", port)
            .version(ProtocolVersion::V5)
            .transport(Transport::Tls(tls))
    };
    let (open, mut events) = connect(trusting(&old_ca)).await;
    open.subscribe("tls/#", QoS::AtLeastOnce).await.unwrap();
    // A certificate file that holds no certificate, then a key that does not match the certificate.
    let new_ca = Ca::new(dir.path(), "new-ca");
    let new = new_ca.server("new");
    write(&cert, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    let error = broker.reload().unwrap_err();
    assert!(error.contains(&cert.display().to_string()), "{error}");
    std::fs::copy(&new.cert, &cert).unwrap();
    let error = broker.reload().unwrap_err();
    assert!(error.contains(&format!("{} with {}", cert.display(), key.display())), "{error}");
    Client::connect(trusting(&old_ca)).await.unwrap();
    assert!(Client::connect(trusting(&new_ca)).await.is_err());
    // The matching key: new connections get the new certificate; the open one is untouched.
    std::fs::copy(&new.key, &key).unwrap();
    broker.reload().unwrap();
    assert!(Client::connect(trusting(&old_ca)).await.is_err());
    let (fresh, _e) = connect(trusting(&new_ca)).await;
    fresh.publish("tls/after", "x", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(next_message(&mut events).await.topic, "tls/after");
}

/// Options for a v5 client of `port` over TLS, trusting `server_ca`, presenting `cert`.
fn with_certificate(server_ca: &Ca, port: u16, cert: &CertFiles) -> tern_client::ConnectOptions {
    let tls = TlsOptions {
        ca_file: Some(server_ca.cert_path.clone()),
        client_cert: Some((cert.cert.clone(), cert.key.clone())),
        ..TlsOptions::default()
    };
    tern_client::ConnectOptions::new("localhost", port)
        .version(ProtocolVersion::V5)
        .transport(Transport::Tls(tls))
}

/// A CRL put in force by a reload refuses new connections with the certificates it revokes, and
/// disconnects the clients already connected with them (v5: DISCONNECT 0x87; 3.1.1: closed); clients with
/// other certificates stay connected.
#[tokio::test(flavor = "multi_thread")]
async fn a_crl_put_in_force_by_a_reload_refuses_the_certificates_it_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let server = ca.server("server");
    let (alice, bob) = (ca.client("alice", "alice"), ca.client("bob", "bob"));
    let carol = ca.client("carol", "carol");
    let crl = dir.path().join("ca.crl");
    ca.crl(&crl, &[]);
    let conf = format!(
        "listener 1 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\ncrlfile {}\nrequire_certificate true\n\
         allow_anonymous true\n",
        ca.cert_path.display(),
        server.cert.display(),
        server.key.display(),
        crl.display()
    );
    let broker = start(dir.path(), &conf).await;
    let with = |cert: &CertFiles| with_certificate(&ca, broker.port(0), cert);
    let (_alice_open, mut alice_events) = connect(with(&alice).client_id("alice")).await;
    let (_carol_open, mut carol_events) =
        connect(with(&carol).client_id("carol").version(ProtocolVersion::V311)).await;
    let (bob_open, _e) = connect(with(&bob).client_id("bob")).await;
    ca.crl(&crl, &[&alice, &carol]);
    broker.reload().unwrap();
    assert_eq!(disconnected(&mut alice_events).await, Some(0x87));
    assert_eq!(disconnected(&mut carol_events).await, None);
    assert!(still_connected(&bob_open).await);
    assert!(Client::connect(with(&alice)).await.is_err());
    Client::connect(with(&bob)).await.unwrap();
    // A CRL that does not parse changes nothing.
    write(&crl, "-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n");
    let error = broker.reload().unwrap_err();
    assert!(error.contains(&crl.display().to_string()), "{error}");
    assert!(Client::connect(with(&alice)).await.is_err());
    Client::connect(with(&bob)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remembered_grant_is_lost_at_once_by_a_reload_that_revokes_it() {
    let (broker, files) = broker(ACL, "allow_anonymous false\n").await;
    let port = broker.port(0);
    let (alice, mut events) = connect(user(port, "alice")).await;
    alice.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    let (bob, _e) = connect(user(port, "bob")).await;
    // alice's connection has been allowed to write a/2 and to receive a/1.
    publish(&bob, "a/1").await.unwrap();
    assert_eq!(next_message(&mut events).await.topic, "a/1");
    publish(&alice, "a/2").await.unwrap();
    assert_eq!(next_message(&mut events).await.topic, "a/2");
    // Now only b/# is hers: the `#` subscription stays (b/# is readable), a/# is neither written nor read.
    write(&files.acl, "user alice\ntopic readwrite b/#\n\nuser bob\ntopic readwrite #\n");
    broker.reload().unwrap();
    assert_eq!(publish(&alice, "a/2").await, Err(DENIED));
    publish(&bob, "a/1").await.unwrap();
    publish(&bob, "b/1").await.unwrap();
    // Both come from bob in this order: had a/1 been delivered, it would arrive first.
    assert_eq!(next_message(&mut events).await.topic, "b/1");
}

/// Allows everything and counts the questions it is asked.
#[derive(Debug, Default)]
struct Counting {
    publish: std::sync::atomic::AtomicUsize,
    receive: std::sync::atomic::AtomicUsize,
}

impl Counting {
    fn counts(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering::SeqCst;
        (self.publish.load(SeqCst), self.receive.load(SeqCst))
    }
}

impl tern_broker::auth::Authorizer for Counting {
    fn can_publish(&self, _: &tern_broker::auth::ClientInfo<'_>, _: &str) -> bool {
        self.publish.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        true
    }
    fn can_subscribe(&self, _: &tern_broker::auth::ClientInfo<'_>, _: &str) -> bool {
        true
    }
    fn can_receive(&self, _: &tern_broker::auth::ClientInfo<'_>, _: &str) -> bool {
        self.receive.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        true
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_asks_the_authorizer_once_per_topic_until_the_next_reload() {
    let dir = tempfile::tempdir().unwrap();
    let counting = std::sync::Arc::new(Counting::default());
    let authorizer = counting.clone();
    let conf = "listener 1 127.0.0.1\nallow_anonymous true\n";
    let broker = start_with(dir.path(), conf, |b| b.with_authorizer(authorizer)).await;
    let (client, mut events) = connect(v5(broker.port(0), "c")).await;
    client.subscribe("t/#", QoS::AtLeastOnce).await.unwrap();
    for _ in 0..3 {
        publish(&client, "t/1").await.unwrap();
        assert_eq!(next_message(&mut events).await.topic, "t/1");
    }
    assert_eq!(counting.counts(), (1, 1));
    // A reload makes the answers stale (the authorizer set in code stays in force): asked again, once.
    broker.reload().unwrap();
    for _ in 0..2 {
        publish(&client, "t/1").await.unwrap();
        assert_eq!(next_message(&mut events).await.topic, "t/1");
    }
    assert_eq!(counting.counts(), (2, 2));
}

/// A reload that replaces the CA of client certificates disconnects the clients whose certificate it did
/// not sign, though their user name came from that certificate (`use_identity_as_username`).
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_that_no_longer_trusts_a_certificate_disconnects_its_client() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (Ca::new(dir.path(), "old-ca"), Ca::new(dir.path(), "new-ca"));
    let server = old_ca.server("server");
    let alice = old_ca.client("alice", "alice");
    let cafile = dir.path().join("clients-ca.crt");
    std::fs::copy(&old_ca.cert_path, &cafile).unwrap();
    let conf = format!(
        "listener 1 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n\
         use_identity_as_username true\nallow_anonymous false\n",
        cafile.display(),
        server.cert.display(),
        server.key.display()
    );
    let broker = start(dir.path(), &conf).await;
    let (open, mut events) = connect(with_certificate(&old_ca, broker.port(0), &alice)).await;
    // A reload that changes nothing keeps it.
    broker.reload().unwrap();
    assert!(still_connected(&open).await);
    std::fs::copy(&new_ca.cert_path, &cafile).unwrap();
    broker.reload().unwrap();
    assert_eq!(disconnected(&mut events).await, Some(0x87));
    assert!(Client::connect(with_certificate(&old_ca, broker.port(0), &alice)).await.is_err());
}
