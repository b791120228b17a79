//! Test whether `tern pub` and `tern sub` take mosquitto_pub's and mosquitto_sub's TLS flags (`--cafile`,
//! `--capath`, `--cert`/`--key`, `--insecure`, `--tls-version`, `mqtts://` URLs) with the same outcome:
//! each case runs both tools with the same flags against a Tern and a Mosquitto TLS listener, and checks
//! the delivery, the exit status and, where it fails, the message.
//!
//! Where Mosquitto's message depends on a race (whether OpenSSL finishes the handshake inside
//! `mosquitto_connect` or later in the network loop, whether the broker's alert or its reset arrives first),
//! Tern prints the usual one and Mosquitto may print any of them.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::process::Command;

use common::{normalise, run, tool};
use tern_test_support::pki::{Ca, CertFiles};
use tern_test_support::{require_tool, AnyBroker, BrokerKind, Mosquitto};

against_both_brokers!(
    a_cafile_naming_the_servers_ca_is_trusted,
    a_capath_of_hashed_names_is_trusted,
    a_capath_of_plain_pem_files_is_trusted_by_tern,
    a_server_certificate_for_another_host_is_refused_unless_insecure,
    a_server_certificate_from_another_ca_is_refused,
    a_client_certificate_is_accepted_where_one_is_required,
    no_client_certificate_is_refused_where_one_is_required,
    a_client_certificate_from_another_ca_is_refused,
    tls_version_tlsv1_2_also_reaches_a_tlsv1_3_only_listener,
    mqtts_url_implies_tls_with_the_os_roots,
    missing_tls_files_and_unknown_versions_fail_before_connecting,
    plain_mqtt_to_a_tls_listener_fails_as_mosquitto_pub_does,
);

/// A failed TLS handshake. Mosquitto's tools report it from `mosquitto_connect`, or as the error their
/// network loop ended with when the handshake finished there.
const HANDSHAKE_FAILS: &[(i32, &str)] =
    &[(1, "Unable to connect (A TLS error occurred.)."), (8, "Error: A TLS error occurred.")];

/// A client certificate refused after a TLS 1.3 handshake: the broker's alert, or its reset, meets the
/// client's first read.
const CERTIFICATE_REFUSED: &[(i32, &str)] =
    &[(1, "Error: Protocol error"), (7, "Error: The connection was lost.")];

const FILE_NOT_FOUND: &[(i32, &str)] = &[(1, "Error: Problem setting TLS options: File not found.")];

/// The certificates of one test: the broker's CA, a stranger CA, and what they issue, as files in `dir`.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    stranger: Ca,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new(dir.path(), "ca");
        let stranger = Ca::new(dir.path(), "stranger");
        Pki { dir, ca, stranger }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `--cafile` naming the broker's CA.
    fn cafile(&self) -> String {
        self.ca.cert_path.display().to_string()
    }
}

/// mosquitto.conf lines for a TLS listener presenting `server` and trusting the test CA for client
/// certificates, then `extra`.
fn listener(pki: &Pki, server: &CertFiles, extra: &str) -> String {
    format!(
        "allow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\n{extra}",
        pki.cafile(),
        server.cert.display(),
        server.key.display()
    )
}

fn tls_broker(kind: BrokerKind, pki: &Pki, extra: &str) -> AnyBroker {
    AnyBroker::start_with(kind, &listener(pki, &pki.ca.server("server"), extra))
}

/// How one run of a tool ended: its exit status and its last line on stderr (tool names normalised).
fn outcome(out: &std::process::Output) -> (i32, String) {
    let stderr = normalise(&out.stderr);
    (out.status.code().unwrap_or(-1), stderr.lines().last().unwrap_or_default().to_owned())
}

/// `-h localhost -p PORT` then `flags`, then what the tool needs: `tern`/`mosquitto_` `pub` publishes a
/// retained message, `sub` reads one.
fn client(real: bool, name: &str, port: u16, flags: &[&str], message: &str) -> Command {
    let port = port.to_string();
    let mut args = vec!["-h", "localhost", "-p", &port];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["-t", "tls/t"]);
    if name == "pub" {
        args.extend_from_slice(&["-m", message, "-r", "-q", "1"]);
    } else {
        args.extend_from_slice(&["-C", "1", "-W", "5"]);
    }
    tool(real, name, &args)
}

/// Each tool, with `flags`, publishes a retained message and reads it back.
fn assert_delivers(broker: &AnyBroker, flags: &[&str]) {
    for real in [false, true] {
        let message = if real { "from mosquitto" } else { "from tern" };
        let out = run(client(real, "pub", broker.port, flags, message), b"");
        assert_eq!(outcome(&out), (0, String::new()), "pub {message} with {flags:?}");
        let out = run(client(real, "sub", broker.port, flags, ""), b"");
        assert_eq!(outcome(&out), (0, String::new()), "sub {message} with {flags:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{message}\n"), "{flags:?}");
    }
}

/// Both tools fail with `flags`: Tern as the first of `forms`, Mosquitto as any of them.
fn assert_fails(broker: &AnyBroker, flags: &[&str], forms: &[(i32, &str)]) {
    let forms: Vec<(i32, String)> = forms.iter().map(|&(code, line)| (code, line.to_owned())).collect();
    for name in ["pub", "sub"] {
        let tern = outcome(&run(client(false, name, broker.port, flags, "m"), b""));
        assert_eq!(tern, forms[0], "tern {name} {flags:?}");
        let mosquitto = outcome(&run(client(true, name, broker.port, flags, "m"), b""));
        assert!(forms.contains(&mosquitto), "mosquitto_{name} {flags:?}: {mosquitto:?}");
    }
}

fn a_cafile_naming_the_servers_ca_is_trusted(kind: BrokerKind) {
    let pki = Pki::new();
    let broker = tls_broker(kind, &pki, "");
    assert_delivers(&broker, &["--cafile", &pki.cafile()]);
}

fn a_capath_of_hashed_names_is_trusted(kind: BrokerKind) {
    let pki = Pki::new();
    let broker = tls_broker(kind, &pki, "");
    // What c_rehash makes: HASH.0 links to the PEM files, as OpenSSL looks certificates up.
    let capath = pki.dir.path().join("capath");
    std::fs::create_dir(&capath).unwrap();
    std::fs::copy(&pki.ca.cert_path, capath.join("ca.pem")).unwrap();
    let rehash = Command::new(require_tool("openssl")).arg("rehash").arg(&capath).status().unwrap();
    assert!(rehash.success());
    assert_delivers(&broker, &["--capath", &capath.display().to_string()]);
}

/// Tern reads every PEM file of the directory; OpenSSL, and so Mosquitto, only finds hashed names.
fn a_capath_of_plain_pem_files_is_trusted_by_tern(kind: BrokerKind) {
    let pki = Pki::new();
    let broker = tls_broker(kind, &pki, "");
    let capath = pki.dir.path().join("plain");
    std::fs::create_dir(&capath).unwrap();
    std::fs::copy(&pki.ca.cert_path, capath.join("ca.pem")).unwrap();
    std::fs::write(capath.join("README"), "not a certificate\n").unwrap();
    let flags = ["--capath", capath.to_str().unwrap()];
    let out = run(client(false, "pub", broker.port, &flags, "plain"), b"");
    assert_eq!(outcome(&out), (0, String::new()));
    let out = run(client(false, "sub", broker.port, &flags, ""), b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "plain\n");
    let mosquitto = outcome(&run(client(true, "pub", broker.port, &flags, "plain"), b""));
    assert!(HANDSHAKE_FAILS.iter().any(|&(c, l)| (c, l.to_owned()) == mosquitto), "{mosquitto:?}");
}

fn a_server_certificate_for_another_host_is_refused_unless_insecure(kind: BrokerKind) {
    let pki = Pki::new();
    let server = pki.ca.server_for("elsewhere", &["elsewhere.example"]);
    let broker = AnyBroker::start_with(kind, &listener(&pki, &server, ""));
    let cafile = pki.cafile();
    assert_fails(&broker, &["--cafile", &cafile], HANDSHAKE_FAILS);
    // The chain is still checked: --insecure skips only the host name.
    assert_delivers(&broker, &["--cafile", &cafile, "--insecure"]);
    let stranger = pki.stranger.cert_path.display().to_string();
    assert_fails(&broker, &["--cafile", &stranger, "--insecure"], HANDSHAKE_FAILS);
}

fn a_server_certificate_from_another_ca_is_refused(kind: BrokerKind) {
    let pki = Pki::new();
    let broker = tls_broker(kind, &pki, "");
    assert_fails(&broker, &["--cafile", &pki.stranger.cert_path.display().to_string()], HANDSHAKE_FAILS);
}

fn a_client_certificate_is_accepted_where_one_is_required(kind: BrokerKind) {
    let pki = Pki::new();
    let broker = tls_broker(kind, &pki, "require_certificate true\n");
    let client = pki.ca.client("client", "sensor-1");
    let (cert, key) = (client.cert.display().to_string(), client.key.display().to_string());
    assert_delivers(&broker, &["--cafile", &pki.cafile(), "--cert", &cert, "--key", &key]);
}

fn no_client_certificate_is_refused_where_one_is_required(kind: BrokerKind) {
    let pki = Pki::new();
    let broker = tls_broker(kind, &pki, "require_certificate true\n");
    assert_fails(&broker, &["--cafile", &pki.cafile()], CERTIFICATE_REFUSED);
}

fn a_client_certificate_from_another_ca_is_refused(kind: BrokerKind) {
    let pki = Pki::new();
    let broker = tls_broker(kind, &pki, "require_certificate true\n");
    let client = pki.stranger.client("stranger-client", "sensor-1");
    let (cert, key) = (client.cert.display().to_string(), client.key.display().to_string());
    assert_fails(&broker, &["--cafile", &pki.cafile(), "--cert", &cert, "--key", &key], CERTIFICATE_REFUSED);
}

/// `--tls-version` names the lowest version, as OpenSSL clients take it: tlsv1.2 also speaks 1.3.
fn tls_version_tlsv1_2_also_reaches_a_tlsv1_3_only_listener(kind: BrokerKind) {
    let pki = Pki::new();
    let broker = tls_broker(kind, &pki, "tls_version tlsv1.3\n");
    for version in ["tlsv1.2", "tlsv1.3"] {
        assert_delivers(&broker, &["--cafile", &pki.cafile(), "--tls-version", version]);
    }
}

/// `mqtts://` means TLS, trusting the OS roots (which do not know the test CA) unless `--cafile` is given.
fn mqtts_url_implies_tls_with_the_os_roots(kind: BrokerKind) {
    let pki = Pki::new();
    let broker = tls_broker(kind, &pki, "");
    let url = format!("mqtts://localhost:{}/tls/t", broker.port);
    let with_url = |real: bool, extra: &[&str]| {
        let mut args = vec!["-L", url.as_str(), "-m", "by url"];
        args.extend_from_slice(extra);
        outcome(&run(tool(real, "pub", &args), b""))
    };
    let (code, line) = HANDSHAKE_FAILS[0];
    assert_eq!(with_url(false, &[]), (code, line.to_owned()));
    let mosquitto = with_url(true, &[]);
    assert!(HANDSHAKE_FAILS.iter().any(|&(c, l)| (c, l.to_owned()) == mosquitto), "{mosquitto:?}");
    let cafile = pki.cafile();
    assert_eq!(with_url(false, &["--cafile", &cafile]), (0, String::new()));
    assert_eq!(with_url(true, &["--cafile", &cafile]), (0, String::new()));
}

/// libmosquitto opens the CA, certificate and key files and checks the TLS version before connecting.
fn missing_tls_files_and_unknown_versions_fail_before_connecting(kind: BrokerKind) {
    let pki = Pki::new();
    let broker = tls_broker(kind, &pki, "");
    let client = pki.ca.client("client", "sensor-1");
    let (cert, key) = (client.cert.display().to_string(), client.key.display().to_string());
    let (cafile, missing) = (pki.cafile(), pki.path("missing.pem"));
    assert_fails(&broker, &["--cafile", &missing], FILE_NOT_FOUND);
    assert_fails(&broker, &["--cafile", &cafile, "--cert", &missing, "--key", &key], FILE_NOT_FOUND);
    assert_fails(&broker, &["--cafile", &cafile, "--cert", &cert, "--key", &missing], FILE_NOT_FOUND);
    let invalid = &[(1, "Error: Problem setting TLS options, check the options are valid.")];
    assert_fails(&broker, &["--cafile", &cafile, "--tls-version", "tlsv1.0"], invalid);
    // A CA directory is only read when connecting.
    assert_fails(&broker, &["--capath", &pki.path("no-such-dir")], HANDSHAKE_FAILS);
}

/// A Mosquitto listener limited to TLS 1.2 (by OpenSSL's configuration: `tls_version` in mosquitto.conf is
/// a lowest version, in Tern as in Mosquitto, so neither can be limited to 1.2 by its own settings).
#[test]
fn tls_version_tlsv1_3_is_refused_by_a_tlsv1_2_only_listener() {
    let pki = Pki::new();
    let openssl_conf = pki.dir.path().join("openssl.cnf");
    std::fs::write(
        &openssl_conf,
        "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n[tls]\nMaxProtocol = TLSv1.2\n",
    )
    .unwrap();
    let conf = listener(&pki, &pki.ca.server("server"), "");
    let broker =
        AnyBroker::from(Mosquitto::start_with_env(&conf, &[("OPENSSL_CONF", openssl_conf.as_path())]));
    let cafile = pki.cafile();
    assert_fails(&broker, &["--cafile", &cafile, "--tls-version", "tlsv1.3"], HANDSHAKE_FAILS);
    assert_delivers(&broker, &["--cafile", &cafile, "--tls-version", "tlsv1.2"]);
}

/// Without TLS flags the tools speak plain MQTT: Tern's listener answers with a TLS alert (not MQTT, a
/// protocol error), Mosquitto's drops the connection (lost). mosquitto_sub retries for ever, so only the
/// publishers are compared.
fn plain_mqtt_to_a_tls_listener_fails_as_mosquitto_pub_does(kind: BrokerKind) {
    let pki = Pki::new();
    let broker = tls_broker(kind, &pki, "");
    let tern = outcome(&run(client(false, "pub", broker.port, &[], "plain"), b""));
    let mosquitto = outcome(&run(client(true, "pub", broker.port, &[], "plain"), b""));
    assert_eq!(tern, mosquitto);
    let expected = match kind {
        BrokerKind::Tern => {
            (2, "Error: A network protocol error occurred when communicating with the broker.")
        }
        BrokerKind::Mosquitto => (7, "Error: The connection was lost."),
    };
    assert_eq!(tern, (expected.0, expected.1.to_owned()));
}
