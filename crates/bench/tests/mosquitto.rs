//! Every scenario end to end against a real Mosquitto (the generator works with any broker), including TLS.

mod support;

use support::{assert_exact, run, Mosquitto};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_qos1_exact_counts() {
    let m = Mosquitto::start("");
    let s = run(&format!("pairs -c 4 -q 1 -n 300 -d 20s --broker-pid {}", m.pid()), m.port).await;
    assert_exact(&s, 1200, 1200);
    assert!(s.broker_usage.is_some_and(|u| u.rss_kib > 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_qos2_mqtt5_exact_counts() {
    let m = Mosquitto::start("");
    let s = run("pairs -c 2 -q 2 -V 5 -n 200 -d 20s", m.port).await;
    assert_exact(&s, 400, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_exact_counts() {
    let m = Mosquitto::start("");
    let s = run("fanout -c 8 -q 1 -n 40 -r 200 -d 20s", m.port).await;
    assert_exact(&s, 40, 320);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanin_wildcard_and_shared_exact_counts() {
    let m = Mosquitto::start("");
    let s = run("fanin -c 5 -q 1 -n 100 -r 500 -d 20s", m.port).await;
    assert_exact(&s, 500, 500);
    let s = run("fanin -c 4 --shared --subscribers 2 -q 1 -n 100 -r 500 -d 20s", m.port).await;
    assert_exact(&s, 400, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subs_exact_counts() {
    let m = Mosquitto::start("");
    let s = run("subs --filters 600 --subscribers 2 -c 2 -q 1 -n 200 -r 1000 -d 20s", m.port).await;
    assert_exact(&s, 400, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_all_received_once_with_the_flag() {
    let m = Mosquitto::start("");
    let s = run("retained -c 300 -q 0", m.port).await;
    let r = s.retained.unwrap();
    assert_eq!(
        (r.stored, r.received, r.missing, r.duplicated, r.without_retain_flag),
        (300, 300, 0, 0, 0),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conn_storm_and_hold() {
    let m = Mosquitto::start("");
    let s = run(&format!("conn -c 40 --sources 2 --hold 200ms --broker-pid {}", m.pid()), m.port).await;
    let c = s.connections.unwrap();
    assert_eq!((c.connected, c.failed, c.dropped), (40, 0, 0), "{s}");
    assert!(c.broker_kib_per_connection.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_over_tls_verified_with_a_cafile() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let (ca_path, cert_path, key_path) =
        (dir.path().join("ca.pem"), dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::write(&ca_path, ca.pem()).unwrap();
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let m = Mosquitto::start(&format!(
        "cafile {}\ncertfile {}\nkeyfile {}",
        ca_path.display(),
        cert_path.display(),
        key_path.display()
    ));
    let s = run(&format!("pairs -c 2 -q 1 -n 100 -d 20s --tls --cafile {}", ca_path.display()), m.port).await;
    assert_exact(&s, 200, 200);
    let s = run("pairs -c 1 -q 0 -n 20 -r 100 -d 20s --tls --insecure", m.port).await;
    assert_exact(&s, 20, 20);
    // Without the CA (system roots only), the certificate is refused.
    let err = support::scenario("pairs -c 1 -q 0 -n 1 --tls --setup-timeout 3s", m.port)
        .execute()
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("set-up failed"), "{err:#}");
}
