//! Test whether TLS listeners admit exactly the clients they should: server certificates, client
//! certificates checked against `cafile`/`capath` and a CRL, `require_certificate`, `tls_version`, and the
//! certificate's identity as user name — with the mosquitto tools, Paho (Python) and Tern's own client.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use tern_client::{Client, ClientError, ConnectOptions, ProtocolVersion, QoS, TlsOptions, Transport};
use tern_test_support::mosquitto::Mosquitto;
use tern_test_support::pki::{Ca, CertFiles};

/// A CA with a server certificate and two clients, and another CA with a client of its own.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    server: CertFiles,
    alice: CertFiles,
    bob: CertFiles,
    /// A client certificate from another CA.
    mallory: CertFiles,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    // Mosquitto drops root privileges: let it read the files too.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let other = Ca::new(dir.path(), "other-ca");
    Pki {
        server: ca.server("server"),
        alice: ca.client("alice", "alice"),
        bob: ca.client("bob", "bob"),
        mallory: other.client("mallory", "mallory"),
        ca,
        dir,
    }
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The TLS lines of a listener: server certificate and key, and the CA for client certificates.
    fn listener(&self, extra: &str) -> String {
        format!(
            "cafile {}\ncertfile {}\nkeyfile {}\n{extra}",
            self.ca.cert_path.display(),
            self.server.cert.display(),
            self.server.key.display()
        )
    }

    /// Options for Tern's client over TLS to `localhost:port`, with a client certificate if given.
    fn client(&self, port: u16, cert: Option<&CertFiles>) -> ConnectOptions {
        let tls = TlsOptions {
            ca_file: Some(self.ca.cert_path.clone()),
            client_cert: cert.map(|c| (c.cert.clone(), c.key.clone())),
            ..TlsOptions::default()
        };
        ConnectOptions::new("localhost", port).version(ProtocolVersion::V5).transport(Transport::Tls(tls))
    }
}

/// `mosquitto_pub`/`mosquitto_sub` arguments for TLS to `localhost:port`, with a client certificate.
fn mosquitto_tls(pki: &Pki, port: u16, cert: Option<&CertFiles>) -> Vec<String> {
    let mut args = vec![
        "-h".into(),
        "localhost".into(),
        "-p".into(),
        port.to_string(),
        "--cafile".into(),
        pki.ca.cert_path.display().to_string(),
    ];
    if let Some(c) = cert {
        args.extend([
            "--cert".into(),
            c.cert.display().to_string(),
            "--key".into(),
            c.key.display().to_string(),
        ]);
    }
    args
}

/// `mosquitto_pub -r` then `mosquitto_sub -C 1`: both tools work, and the message went through.
async fn mosquitto_round_trip(
    pki: &Pki,
    port: u16,
    cert: Option<&CertFiles>,
    topic: &str,
) -> Result<(), String> {
    let tls = mosquitto_tls(pki, port, cert);
    let publish = run(tokio::process::Command::new("mosquitto_pub")
        .args(&tls)
        .args(["-t", topic, "-m", "over tls", "-r", "-q", "1"]))
    .await;
    if !publish.status.success() {
        return Err(text(&publish));
    }
    let subscribe = run(tokio::process::Command::new("mosquitto_sub")
        .args(&tls)
        .args(["-t", topic, "-C", "1", "-W", "5", "-v"]))
    .await;
    match String::from_utf8_lossy(&subscribe.stdout).trim() {
        line if line == format!("{topic} over tls") => Ok(()),
        _ => Err(text(&subscribe)),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mosquitto_tools_publish_and_subscribe_with_client_certificates() {
    let pki = pki();
    let broker = start(
        pki.dir.path(),
        &format!(
            "listener 1 127.0.0.1\n{}require_certificate true\nallow_anonymous true\n",
            pki.listener("")
        ),
    )
    .await;
    mosquitto_round_trip(&pki, broker.port(0), Some(&pki.alice), "tls/tools").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn paho_publishes_and_subscribes_with_a_client_certificate() {
    let pki = pki();
    let broker = start(
        pki.dir.path(),
        &format!(
            "listener 1 127.0.0.1\n{}require_certificate true\nallow_anonymous true\n",
            pki.listener("")
        ),
    )
    .await;
    let port = broker.port(0).to_string();
    for version in ["311", "5"] {
        let out = run(paho(&[
            "--host",
            "localhost",
            "--port",
            &port,
            "--cafile",
            &pki.ca.cert_path.display().to_string(),
            "--cert",
            &pki.alice.cert.display().to_string(),
            "--key",
            &pki.alice.key.display().to_string(),
            "--version",
            version,
            "--topic",
            "tls/paho",
            "--message",
            version,
        ]))
        .await;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!("received tls/paho {version}"),
            "{}",
            text(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_certificate_from_another_ca_is_refused() {
    let pki = pki();
    // Whether client certificates are required or only verified when presented.
    let broker = start(
        pki.dir.path(),
        &format!(
            "listener 1 127.0.0.1\n{}require_certificate true\nlistener 2 127.0.0.1\n{}allow_anonymous true\n",
            pki.listener(""),
            pki.listener("")
        ),
    )
    .await;
    for port in [broker.port(0), broker.port(1)] {
        let refused = mosquitto_round_trip(&pki, port, Some(&pki.mallory), "tls/other-ca").await;
        assert!(refused.is_err(), "port {port}: the other CA's certificate was accepted");
        assert!(Client::connect(pki.client(port, Some(&pki.mallory))).await.is_err());
        let out = run(paho(&[
            "--host",
            "localhost",
            "--port",
            &port.to_string(),
            "--cafile",
            &pki.ca.cert_path.display().to_string(),
            "--cert",
            &pki.mallory.cert.display().to_string(),
            "--key",
            &pki.mallory.key.display().to_string(),
            "--topic",
            "tls/other-ca",
            "--message",
            "x",
        ]))
        .await;
        assert!(
            !out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("received"),
            "{}",
            text(&out)
        );
        // The same listener admits a certificate from its own CA.
        mosquitto_round_trip(&pki, port, Some(&pki.bob), "tls/own-ca").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn require_certificate_refuses_a_client_without_one() {
    let pki = pki();
    let broker = start(
        pki.dir.path(),
        &format!(
            "listener 1 127.0.0.1\n{}require_certificate true\nlistener 2 127.0.0.1\n{}allow_anonymous true\n",
            pki.listener(""),
            pki.listener("")
        ),
    )
    .await;
    let required = broker.port(0);
    assert!(mosquitto_round_trip(&pki, required, None, "tls/no-cert").await.is_err());
    assert!(Client::connect(pki.client(required, None)).await.is_err());
    let out = run(paho(&[
        "--host",
        "localhost",
        "--port",
        &required.to_string(),
        "--cafile",
        &pki.ca.cert_path.display().to_string(),
        "--topic",
        "tls/no-cert",
        "--message",
        "x",
    ]))
    .await;
    assert!(!out.status.success(), "{}", text(&out));
    // Where certificates are optional, a client without one gets in.
    mosquitto_round_trip(&pki, broker.port(1), None, "tls/no-cert").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn capath_holds_the_cas_client_certificates_must_chain_to() {
    let pki = pki();
    let capath = pki.dir.path().join("ca.d");
    std::fs::create_dir(&capath).unwrap();
    std::fs::copy(&pki.ca.cert_path, capath.join("ca.pem")).unwrap();
    // capath directories hold other files too (hash links, READMEs): they are skipped.
    std::fs::write(capath.join("README"), "not a certificate\n").unwrap();
    let conf = format!(
        "listener 1 127.0.0.1\ncapath {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\nallow_anonymous true\n",
        capath.display(),
        pki.server.cert.display(),
        pki.server.key.display()
    );
    let broker = start(pki.dir.path(), &conf).await;
    mosquitto_round_trip(&pki, broker.port(0), Some(&pki.alice), "tls/capath").await.unwrap();
    assert!(Client::connect(pki.client(broker.port(0), Some(&pki.mallory))).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crl_revoking_a_client_certificate_refuses_it() {
    let pki = pki();
    let crl = pki.path("revoked.crl");
    pki.ca.crl(Path::new(&crl), &[&pki.alice]);
    let broker = start(
        pki.dir.path(),
        &format!(
            "listener 1 127.0.0.1\n{}require_certificate true\ncrlfile {crl}\nallow_anonymous true\n",
            pki.listener("")
        ),
    )
    .await;
    let port = broker.port(0);
    assert!(mosquitto_round_trip(&pki, port, Some(&pki.alice), "tls/crl").await.is_err());
    assert!(Client::connect(pki.client(port, Some(&pki.alice))).await.is_err());
    // Bob's certificate, from the same CA, is not on the list.
    mosquitto_round_trip(&pki, port, Some(&pki.bob), "tls/crl").await.unwrap();
    Client::connect(pki.client(port, Some(&pki.bob))).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_version_tlsv1_3_refuses_a_tls_1_2_only_client() {
    let pki = pki();
    let broker = start(
        pki.dir.path(),
        &format!("listener 1 127.0.0.1\n{}tls_version tlsv1.3\nallow_anonymous true\n", pki.listener("")),
    )
    .await;
    let port = broker.port(0).to_string();
    let ca = pki.ca.cert_path.display().to_string();
    let paho_with = |max: Option<&str>| {
        let mut args = vec![
            "--host",
            "localhost",
            "--port",
            &port,
            "--cafile",
            &ca,
            "--topic",
            "tls/v13",
            "--message",
            "m",
        ];
        args.extend(max.map(|m| ["--tls-max", m]).into_iter().flatten());
        paho(&args)
    };
    let out = run(paho_with(Some("1.2"))).await;
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("error:"), "{}", text(&out));
    let out = run(paho_with(None)).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "received tls/v13 m", "{}", text(&out));
    let mut only_12 = pki.client(broker.port(0), None);
    if let Transport::Tls(tls) = &mut only_12.transport {
        tls.version = Some("tlsv1.2".into());
    }
    assert!(Client::connect(only_12).await.is_err());
    // A TLS 1.2 listener (the default) still takes TLS 1.3 clients.
    let dir = tempfile::tempdir().unwrap();
    let default =
        start(dir.path(), &format!("listener 1 127.0.0.1\n{}allow_anonymous true\n", pki.listener(""))).await;
    let port = default.port(0).to_string();
    let out = run(paho(&[
        "--host",
        "localhost",
        "--port",
        &port,
        "--cafile",
        &ca,
        "--tls-max",
        "1.2",
        "--topic",
        "t",
        "--message",
        "m",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out));
}

/// A broker whose only user is `admin` (granted everything by the ACL) and whose `%u` pattern grants each
/// user its own `users/<name>/#`.
async fn identity_acl(pki: &Pki) -> String {
    let acl = pki.path("acl");
    std::fs::write(&acl, "user admin\ntopic readwrite #\n\npattern readwrite users/%u/#\n").unwrap();
    let passwords = pki.path("passwd");
    mosquitto_passwd(Path::new(&passwords), &[], "admin", "secret").await;
    std::fs::set_permissions(&passwords, std::fs::Permissions::from_mode(0o644)).unwrap();
    format!("acl_file {acl}\npassword_file {passwords}\nallow_anonymous false\n")
}

async fn publish_result(client: &Client, topic: &str) -> Result<(), ClientError> {
    client.publish(topic, "x", QoS::AtLeastOnce, false).await.map(drop)
}

#[tokio::test(flavor = "multi_thread")]
async fn use_identity_as_username_makes_the_common_name_the_user_name() {
    let pki = pki();
    let conf = format!(
        "listener 1 127.0.0.1\n{}require_certificate true\nuse_identity_as_username true\n{}",
        pki.listener(""),
        identity_acl(&pki).await
    );
    let broker = start(pki.dir.path(), &conf).await;
    // The user name and password in CONNECT are ignored: the certificate says who the client is.
    let options =
        pki.client(broker.port(0), Some(&pki.alice)).client_id("alice-1").credentials("admin", "secret");
    let (client, _events) = connect(options).await;
    publish_result(&client, "users/alice/status").await.unwrap();
    assert_eq!(publish_result(&client, "users/admin/status").await, Err(DENIED));
    assert_eq!(publish_result(&client, "anything").await, Err(DENIED));
    // The mosquitto tools see the same: bob may write under users/bob/ only.
    let tls = mosquitto_tls(&pki, broker.port(0), Some(&pki.bob));
    let out = run(tokio::process::Command::new("mosquitto_pub").args(&tls).args([
        "-t",
        "users/bob/x",
        "-m",
        "1",
        "-q",
        "1",
        "-V",
        "5",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let out = run(tokio::process::Command::new("mosquitto_pub").args(&tls).args([
        "-t",
        "users/alice/x",
        "-m",
        "1",
        "-q",
        "1",
        "-V",
        "5",
    ]))
    .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("Not authorized"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_without_a_certificate_where_its_identity_is_the_user_name_is_refused_as_mosquitto_refuses_it(
) {
    let pki = pki();
    // Certificates are optional on this listener, but the user name must come from one.
    let conf = format!("{}use_identity_as_username true\n{}", pki.listener(""), identity_acl(&pki).await);
    let mosquitto = Mosquitto::start_with(&conf);
    let dir = tempfile::tempdir().unwrap();
    let tern = start(dir.path(), &format!("listener 1 127.0.0.1\n{conf}")).await;
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let theirs =
            refusal(pki.client(mosquitto.port, None).version(version).credentials("admin", "secret")).await;
        let ours =
            refusal(pki.client(tern.port(0), None).version(version).credentials("admin", "secret")).await;
        assert_eq!(ours, theirs, "{version:?}");
        assert_eq!(ours, 0x86, "{version:?}: bad user name or password (3.1.1 return code 4)");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn use_subject_as_username_gives_the_subject_as_mosquitto_writes_it() {
    let pki = pki();
    // Mosquitto logs the user name it derives from the certificate: the ACL names that user.
    let mosquitto = Mosquitto::start_with(&format!(
        "{}require_certificate true\nuse_subject_as_username true\nallow_anonymous false\n",
        pki.listener("")
    ));
    let out = run(tokio::process::Command::new("mosquitto_pub")
        .args(mosquitto_tls(&pki, mosquitto.port, Some(&pki.alice)))
        .args(["-t", "t", "-m", "m"]))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let log = mosquitto.log();
    let subject =
        log.split("u'").nth(1).and_then(|rest| rest.split("')").next()).expect("user name in the log");
    assert_eq!(subject, "O=Tern Tests,CN=alice");

    let acl = pki.path("acl");
    std::fs::write(&acl, format!("user {subject}\ntopic readwrite fleet/#\n")).unwrap();
    let conf = format!(
        "listener 1 127.0.0.1\n{}require_certificate true\nuse_subject_as_username true\nacl_file {acl}\n",
        pki.listener("")
    );
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &conf).await;
    let (client, _events) = connect(pki.client(broker.port(0), Some(&pki.alice))).await;
    publish_result(&client, "fleet/alice").await.unwrap();
    assert_eq!(publish_result(&client, "users/alice").await, Err(DENIED));
}

#[tokio::test(flavor = "multi_thread")]
async fn subject_user_names_are_written_as_openssl_writes_rfc_2253() {
    use rcgen::{DistinguishedName, DnType, DnValue};
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "ca");
    let subjects: Vec<Vec<(DnType, DnValue)>> = vec![
        vec![(DnType::CommonName, "sensor-1".into()), (DnType::OrganizationName, "Tern Tests".into())],
        // Characters RFC 2253 escapes, leading `#` and spaces, non-ASCII and control characters.
        vec![
            (DnType::CountryName, DnValue::PrintableString("FR".try_into().unwrap())),
            (DnType::LocalityName, "Zürich".into()),
            (DnType::OrganizationName, "Tern, \"Tests\" <a+b>; c\\d".into()),
            (DnType::OrganizationalUnitName, "#ops ".into()),
            (DnType::CommonName, " tab\there".into()),
        ],
        // Other string types, and an attribute OpenSSL has no short name for.
        vec![
            (DnType::StateOrProvinceName, DnValue::BmpString("Île-de-France".try_into().unwrap())),
            (DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 99999, 1]), "custom".into()),
            (DnType::CommonName, DnValue::TeletexString("teletex".try_into().unwrap())),
        ],
    ];
    for (i, entries) in subjects.into_iter().enumerate() {
        let mut subject = DistinguishedName::new();
        for (kind, value) in entries {
            subject.push(kind, value);
        }
        let files = ca.client_with_subject(&format!("c{i}"), subject);
        let out = run(tokio::process::Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
            .arg(&files.cert))
        .await;
        let openssl =
            String::from_utf8_lossy(&out.stdout).trim().strip_prefix("subject=").unwrap().to_owned();
        let pem = std::fs::read(&files.cert).unwrap();
        let der = rustls_pemfile::certs(&mut pem.as_slice()).next().unwrap().unwrap();
        let ours = tern_broker::listener::tls::certificate_username(&der, true).unwrap();
        assert_eq!(ours, openssl, "subject {i}");
    }
}

/// Whether `openssl s_client` completes a handshake with `localhost:port` given these options.
async fn openssl_handshake(pki: &Pki, port: u16, options: &[&str]) -> bool {
    let out = run(tokio::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("localhost:{port}"), "-verify_return_error", "-CAfile"])
        .arg(&pki.ca.cert_path)
        .args(options))
    .await;
    out.status.success()
}

#[tokio::test(flavor = "multi_thread")]
async fn ciphers_and_ciphers_tls13_restrict_the_suites_a_client_may_use() {
    let pki = pki();
    let conf = format!(
        "listener 1 127.0.0.1\n{}ciphers ECDHE-ECDSA-AES256-GCM-SHA384:DHE-RSA-AES256-SHA:!aNULL\n\
         ciphers_tls1.3 TLS_CHACHA20_POLY1305_SHA256\nallow_anonymous true\n",
        pki.listener("")
    );
    let broker = start(pki.dir.path(), &conf).await;
    let port = broker.port(0);
    assert!(openssl_handshake(&pki, port, &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"]).await);
    assert!(!openssl_handshake(&pki, port, &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]).await);
    assert!(
        openssl_handshake(&pki, port, &["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"]).await
    );
    assert!(!openssl_handshake(&pki, port, &["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"]).await);
    // Without the directives, rustls' choice.
    let dir = tempfile::tempdir().unwrap();
    let default =
        start(dir.path(), &format!("listener 1 127.0.0.1\n{}allow_anonymous true\n", pki.listener(""))).await;
    assert!(
        openssl_handshake(&pki, default.port(0), &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])
            .await
    );
    // A list that names nothing rustls has does not leave the listener open to everything: it does not start.
    let conf = format!("listener 1 127.0.0.1\n{}ciphers HIGH:!aNULL:!MD5\n", pki.listener(""));
    std::fs::write(dir.path().join("bad.conf"), conf).unwrap();
    let mut config = tern_broker::config::Config::load(dir.path().join("bad.conf")).unwrap();
    config.listeners[0].port = 0;
    let error =
        tern_broker::Broker::new(tern_test_support::in_memory(config)).start().await.unwrap_err().to_string();
    assert!(error.contains("ciphers HIGH:!aNULL:!MD5: names none of the cipher suites"), "{error}");
    assert!(error.contains("ECDHE-ECDSA-AES256-GCM-SHA384"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_common_name_holding_nul_is_no_user_name() {
    let pki = pki();
    // `admin\0.sensor`: a C string comparison would read it as `admin`.
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(rcgen::DnType::CommonName, "admin\0.sensor");
    let nul = pki.ca.client_with_subject("nul", subject);
    let conf = format!(
        "listener 1 127.0.0.1\n{}require_certificate true\nuse_identity_as_username true\n{}",
        pki.listener(""),
        identity_acl(&pki).await
    );
    let broker = start(pki.dir.path(), &conf).await;
    assert_eq!(refusal(pki.client(broker.port(0), Some(&nul))).await, 0x86);
    connect(pki.client(broker.port(0), Some(&pki.alice))).await;
}
