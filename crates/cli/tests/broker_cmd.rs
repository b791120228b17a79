//! `tern broker` as an operator runs it: the binary built by cargo, on a free port, over real sockets.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use tern_codec::{Connect, LastWill, ProtocolVersion, QoS, ReasonCode};
use tern_test_support::raw::connect_packet;
use tern_test_support::{RawClient, TernBroker, TIMEOUT};

const TERN: &str = env!("CARGO_BIN_EXE_tern");

/// Waits until the broker's log contains `text`.
fn wait_for_log(broker: &TernBroker, text: &str) {
    let deadline = Instant::now() + TIMEOUT;
    while !broker.log().contains(text) {
        assert!(Instant::now() < deadline, "log never said {text:?}:\n{}", broker.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `tern broker -p PORT` listens on loopback on that port, says where, and serves MQTT 3.1.1 and 5.0.
#[tokio::test]
async fn broker_listens_on_the_given_port_and_says_where() {
    let broker = TernBroker::start(TERN.as_ref(), &[]);
    wait_for_log(&broker, &format!("listen socket on 127.0.0.1:{}", broker.port()));
    let mut sub = RawClient::connect_ok(broker.addr(), ProtocolVersion::V5, "cli-sub").await;
    sub.subscribe("cli/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect_ok(broker.addr(), ProtocolVersion::V311, "cli-pub").await;
    publisher.publish_at("cli/t", "hello", QoS::AtLeastOnce).await;
    assert_eq!(sub.receive_and_ack().await.payload, "hello");
}

/// `-v` logs every connect, subscribe and publish, like `mosquitto -v`.
#[tokio::test]
async fn verbose_logs_connect_subscribe_and_publish() {
    let broker = TernBroker::start(TERN.as_ref(), &["-v"]);
    let mut client = RawClient::connect_ok(broker.addr(), ProtocolVersion::V311, "chatty").await;
    client.subscribe("verbose/t", QoS::AtLeastOnce).await;
    client.publish_at("verbose/t", "logged", QoS::AtMostOnce).await;
    client.expect_publish().await;
    wait_for_log(&broker, "New client connected from 127.0.0.1");
    // Mosquitto numbers protocols p1 (3.1), p2 (3.1.1), p5 (5.0) in this line, not by protocol level.
    wait_for_log(&broker, "as chatty (p2, c1, k60)");
    wait_for_log(&broker, "chatty 1 verbose/t");
    wait_for_log(&broker, "Received PUBLISH from chatty (d0, q0, r0, m0, 'verbose/t'");
}

async fn shuts_down_gracefully_on(signal: &str) {
    let mut broker = TernBroker::start(TERN.as_ref(), &[]);
    let mut watcher = RawClient::connect_ok(broker.addr(), ProtocolVersion::V5, "watcher").await;
    watcher.subscribe("will/#", QoS::AtMostOnce).await;
    let connect = Connect {
        will: Some(LastWill {
            topic: "will/t".into(),
            payload: "not on shutdown".into(),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Default::default(),
        }),
        ..connect_packet(ProtocolVersion::V311, "with-will")
    };
    let (mut with_will, _) = RawClient::connect_accepted(broker.addr(), connect).await;
    broker.process().signal(signal);
    // 5.0 clients are told the server is shutting down; no will comes first.
    watcher.expect_disconnect(ReasonCode::SERVER_SHUTTING_DOWN).await;
    with_will.expect_closed(TIMEOUT).await;
    let status = broker.process().wait_exit(Duration::from_secs(10)).expect("the broker exits");
    assert!(status.success(), "exit status {status}");
    assert!(broker.log().contains("terminating"), "{}", broker.log());
}

/// SIGTERM shuts the broker down gracefully: connections are closed (5.0 with DISCONNECT 0x8B), the wills of
/// live clients are not sent, and the process exits with status 0.
#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    shuts_down_gracefully_on("TERM").await;
}

/// Ctrl-C (SIGINT) shuts the broker down gracefully, like SIGTERM.
#[tokio::test]
async fn ctrl_c_shuts_down_gracefully() {
    shuts_down_gracefully_on("INT").await;
}

/// With no configuration at all `tern broker` listens on port 1883 on loopback only (127.0.0.1 and ::1),
/// allows anonymous clients and says so at start-up, as Mosquitto 2 does; its store goes next to where it
/// runs, and it says where.
#[tokio::test]
async fn with_no_configuration_the_broker_listens_on_loopback_port_1883_and_says_so() {
    if std::net::TcpListener::bind("127.0.0.1:1883").is_err() {
        eprintln!("skipped: port 1883 is taken on this machine");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("tern.log");
    let child = std::process::Command::new(TERN)
        .arg("broker")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let mut child = tern_test_support::ChildGuard::new(child);
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + TIMEOUT;
    while !read().contains("listen socket on 127.0.0.1:1883") {
        assert!(Instant::now() < deadline && child.exited().is_none(), "no listener:\n{}", read());
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = read();
    assert!(text.contains("Starting in local only mode"), "{text}");
    assert!(!text.contains("listen socket on 0.0.0.0"), "loopback only: {text}");
    assert!(
        text.contains(&format!(
            "Storing sessions, queues and retained messages in {}",
            dir.path().canonicalize().expect("dir").join("tern-data").display()
        )),
        "{text}"
    );
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1883));
    let mut c = RawClient::connect_ok(addr, ProtocolVersion::V311, "anonymous").await;
    c.ping().await;
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        assert!(text.contains("listen socket on [::1]:1883"), "{text}");
        let v6 = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 1883));
        RawClient::connect_ok(v6, ProtocolVersion::V5, "over-ipv6").await.ping().await;
    }
    assert_eq!(child.terminate(Duration::from_secs(10)).and_then(|s| s.code()), Some(0));
}

/// Logs never show passwords or payloads, even in `-v` mode (which logs every packet like `mosquitto -v`).
#[test]
fn verbose_logs_never_show_passwords_or_payloads() {
    let broker = TernBroker::start(TERN.as_ref(), &["-v"]);
    let port = broker.port().to_string();
    let out = std::process::Command::new(TERN)
        .env("XDG_CONFIG_HOME", "/nonexistent-tern-test-config")
        .args(["pub", "-p", &port, "-t", "secret/t", "-m", "payload-marker-7f3a", "-q", "1"])
        .args(["-u", "alice", "-P", "password-marker-9c2e"])
        .output()
        .expect("tern pub");
    assert!(out.status.success(), "{out:?}");
    wait_for_log(&broker, "Received PUBLISH from");
    let log = broker.log();
    assert!(log.contains("u'alice'"), "the user name is logged: {log}");
    assert!(!log.contains("password-marker-9c2e"), "password logged: {log}");
    assert!(!log.contains("payload-marker-7f3a"), "payload logged: {log}");
}

/// A directory of files for `--test-config`: a password file (alice), an ACL file, a CA with a server
/// certificate and an empty CRL, and the configuration using them.
struct Files {
    dir: tempfile::TempDir,
    ca: tern_test_support::pki::Ca,
    server: tern_test_support::pki::CertFiles,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let ca = tern_test_support::pki::Ca::new(dir.path(), "ca");
        let server = ca.server("server");
        ca.crl(&dir.path().join("ca.crl"), &[]);
        std::fs::write(dir.path().join("acl"), "user alice\ntopic readwrite a/#\n").unwrap();
        let passwd = dir.path().join("passwd").display().to_string();
        let out =
            std::process::Command::new(TERN).args(["passwd", "-c", "-b", &passwd, "alice", "pw"]).output();
        assert!(out.as_ref().is_ok_and(|o| o.status.success()), "{out:?}");
        Files { dir, ca, server }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// A configuration using every file, each directive on the line its comment says.
    fn conf(&self) -> String {
        format!(
            "allow_anonymous false\n\
             password_file {}\n\
             acl_file {}\n\
             listener 8883 127.0.0.1\n\
             cafile {}\n\
             certfile {}\n\
             keyfile {}\n\
             crlfile {}\n",
            self.path("passwd"),
            self.path("acl"),
            self.ca.cert_path.display(),
            self.server.cert.display(),
            self.server.key.display(),
            self.path("ca.crl"),
        )
    }

    /// `tern broker --test-config -c` on `conf`: the exit code and what was said.
    fn test_config(&self, conf: &str) -> (Option<i32>, String) {
        let file = self.path("tern.conf");
        std::fs::write(&file, conf).unwrap();
        let out =
            std::process::Command::new(TERN).args(["broker", "--test-config", "-c", &file]).output().unwrap();
        let said =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), said)
    }

    /// What `--test-config` says when `file` (one of those the configuration names) holds `text`.
    fn with_broken(&self, file: &str, text: &str) -> (Option<i32>, String) {
        std::fs::write(file, text).unwrap();
        self.test_config(&self.conf())
    }
}

#[test]
fn test_config_reads_every_file_the_configuration_names() {
    let files = Files::new();
    let (code, said) = files.test_config(&files.conf());
    assert_eq!((code, said), (Some(0), format!("{}: configuration OK\n", files.path("tern.conf"))));
}

#[test]
fn test_config_reports_a_bad_password_file_line_at_its_directive() {
    let files = Files::new();
    let passwd = files.path("passwd");
    let (code, said) = files.with_broken(&passwd, "alice\n");
    assert_eq!(code, Some(1));
    let expected =
        format!("{}:2: password_file: {passwd}:1: expected user:password_hash", files.path("tern.conf"));
    assert!(said.contains(&expected), "{said}");
}

#[test]
fn test_config_reports_a_bad_acl_line_and_an_unreadable_acl_file_at_their_directive() {
    let files = Files::new();
    let acl = files.path("acl");
    let (code, said) = files.with_broken(&acl, "user alice\ntopic raed a/#\n");
    assert_eq!(code, Some(1));
    assert!(said.contains(&format!("{}:3: acl_file: {acl}:2: ", files.path("tern.conf"))), "{said}");
    std::fs::remove_file(&acl).unwrap();
    let (code, said) = files.test_config(&files.conf());
    assert_eq!(code, Some(1));
    assert!(said.contains(&format!("{}:3: acl_file: cannot read {acl}", files.path("tern.conf"))), "{said}");
}

#[test]
fn test_config_reports_unusable_certificates_keys_and_crls_at_their_directive() {
    let files = Files::new();
    let conf = files.path("tern.conf");
    let other = files.ca.server("other");
    // A key that is not the certificate's.
    let key = files.server.key.display().to_string();
    let (code, said) = files.with_broken(&key, &std::fs::read_to_string(&other.key).unwrap());
    assert_eq!(code, Some(1));
    assert!(said.contains(&format!("{conf}:6: certfile: ")), "{said}");
    // A key file that holds no key.
    let (_, said) = files.with_broken(&key, "not a key\n");
    assert!(said.contains(&format!("{conf}:7: keyfile: {key}: no private key found")), "{said}");
    // A matching pair again, from now on.
    std::fs::copy(&other.key, &key).unwrap();
    std::fs::copy(&other.cert, &files.server.cert).unwrap();
    // A CRL that does not parse.
    let crl = files.path("ca.crl");
    let (code, said) =
        files.with_broken(&crl, "-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n");
    assert_eq!(code, Some(1));
    assert!(said.contains(&format!("{conf}:8: crlfile: ")), "{said}");
    // A CA file that is not there.
    std::fs::remove_file(&files.ca.cert_path).unwrap();
    let (_, said) = files.test_config(&files.conf());
    assert!(said.contains(&format!("{conf}:5: cafile: reading {}", files.ca.cert_path.display())), "{said}");
}

#[test]
fn test_config_reports_listeners_that_cannot_be_bound_together() {
    let files = Files::new();
    let (code, said) = files.test_config("listener 1883\nallow_anonymous true\nlistener 1883 127.0.0.1\n");
    assert_eq!(code, Some(1));
    let expected = format!("{}:3: listener: port 1883 is bound on all interfaces", files.path("tern.conf"));
    assert!(said.contains(&expected), "{said}");
}
