//! Drop-in compatibility: the same exchanges of raw frames against Tern and against a real Mosquitto
//! (2.x, started on a free port) give the same answers, byte for byte where the spec leaves no choice and
//! where Mosquitto's choice is the one clients rely on.
//!
//! Mosquitto must be installed (scripts/install-test-deps.sh): a missing broker fails these tests.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tern_broker::config::Config;
use tern_codec::{Connect, Packet, ProtocolVersion, Publish, QoS, Unsubscribe};
use tern_test_support::raw::{connect_packet, publish_packet, qos_options, subscribe_packet};
use tern_test_support::{pid, Event, Mosquitto, RawClient, TestBroker};

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const QUIET: Duration = Duration::from_millis(250);

/// What a client saw, one line per event, comparable across brokers. CONNACK properties (each broker
/// advertises its own limits) and assigned identifiers are left out.
#[derive(Debug, Default, PartialEq, Eq)]
struct Transcript(Vec<String>);

impl Transcript {
    async fn record(&mut self, client: &mut RawClient, wait: Duration) {
        let line = match client.recv(wait).await {
            Event::Packet(Packet::ConnAck(mut ack)) => {
                ack.properties = Default::default();
                format!("{:?}", Packet::ConnAck(ack))
            }
            // Packet identifiers of deliveries are each broker's own choice: only their presence counts.
            Event::Packet(Packet::Publish(p)) => format!(
                "PUBLISH {} {:?} q{} r{} d{} id:{}",
                p.topic,
                p.payload,
                p.qos.as_u8(),
                u8::from(p.retain),
                u8::from(p.dup),
                p.packet_id.is_some()
            ),
            Event::Packet(packet) => format!("{packet:?}"),
            other => format!("{other:?}"),
        };
        self.0.push(line);
    }

    /// Records everything until nothing more comes for `quiet`.
    async fn record_all(&mut self, client: &mut RawClient, quiet: Duration) {
        loop {
            self.record(client, quiet).await;
            if self.0.last().is_some_and(|l| l == "Timeout") {
                return;
            }
        }
    }

    async fn bytes(&mut self, client: &mut RawClient, n: usize) {
        self.0.push(format!("{:02X?}", client.expect_bytes(n).await));
    }
}

/// Runs `exchange` against Mosquitto and against Tern and checks both transcripts are the same.
async fn same_as_mosquitto<F, Fut>(exchange: F)
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Transcript>,
{
    same_as_mosquitto_configured("allow_anonymous true\n", Config::default(), exchange).await;
}

/// Like [`same_as_mosquitto`], with Mosquitto configured by `mosquitto_conf` (lines after its `listener`)
/// and Tern by the equivalent `config`.
async fn same_as_mosquitto_configured<F, Fut>(mosquitto_conf: &str, config: Config, exchange: F)
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = Transcript>,
{
    let mosquitto = Mosquitto::start_with(mosquitto_conf);
    let expected = exchange(SocketAddr::from(([127, 0, 0, 1], mosquitto.port))).await;
    let tern = TestBroker::start(config).await;
    let got = exchange(tern.addr()).await;
    assert_eq!(got, expected, "Tern (left) and Mosquitto (right) differ");
}

async fn connected(addr: SocketAddr, version: ProtocolVersion, id: &str, t: &mut Transcript) -> RawClient {
    let mut client = RawClient::tcp(addr, version).await;
    client.send(Packet::Connect(Box::new(connect_packet(version, id)))).await;
    t.record(&mut client, Duration::from_secs(5)).await;
    client
}

/// CONNACK return codes of 3.1.1 for an unsupported protocol level, a zero-length id without clean session,
/// and the close after them; a first packet other than CONNECT closes.
#[tokio::test]
async fn connack_refusals_match_mosquitto() {
    same_as_mosquitto(|addr| async move {
        let mut t = Transcript::default();
        let mut bad_level = RawClient::tcp(addr, V311).await;
        bad_level.send_raw(&[0x10, 0x0D, 0, 4, b'M', b'Q', b'T', b'T', 6, 2, 0, 60, 0, 1, b'c']).await;
        t.bytes(&mut bad_level, 4).await;
        t.record(&mut bad_level, Duration::from_secs(5)).await;

        let mut no_id = RawClient::tcp(addr, V311).await;
        no_id
            .send(Packet::Connect(Box::new(Connect { clean_start: false, ..connect_packet(V311, "") })))
            .await;
        t.bytes(&mut no_id, 4).await;
        t.record(&mut no_id, Duration::from_secs(5)).await;

        let mut not_connect = RawClient::tcp(addr, V311).await;
        not_connect.send(Packet::PingReq).await;
        t.record(&mut not_connect, Duration::from_secs(5)).await;
        t
    })
    .await;
}

/// SUBACK and UNSUBACK of 3.1.1, byte for byte.
#[tokio::test]
async fn suback_and_unsuback_bytes_match_mosquitto() {
    same_as_mosquitto(|addr| async move {
        let mut t = Transcript::default();
        let mut client = connected(addr, V311, "codes", &mut t).await;
        let filters = [
            ("a", qos_options(QoS::AtMostOnce)),
            ("b/+", qos_options(QoS::AtLeastOnce)),
            ("c/#", qos_options(QoS::ExactlyOnce)),
        ];
        client.send(Packet::Subscribe(subscribe_packet(pid(0x1234), &filters))).await;
        t.bytes(&mut client, 7).await;
        let unsubscribe = Unsubscribe {
            packet_id: pid(0x4321),
            filters: vec!["b/+".into(), "none".into()],
            properties: Default::default(),
        };
        client.send(Packet::Unsubscribe(unsubscribe)).await;
        t.bytes(&mut client, 4).await;
        t
    })
    .await;
}

/// Delivered QoS for every published QoS and granted QoS, RETAIN on routed and on retained messages, and
/// `$` topics against leading wildcards, as a 3.1.1 subscriber sees them.
#[tokio::test]
async fn routing_matches_mosquitto() {
    same_as_mosquitto(|addr| async move {
        let mut t = Transcript::default();
        let mut publisher = connected(addr, V311, "publisher", &mut t).await;
        publisher
            .publish(Publish { retain: true, qos: QoS::AtLeastOnce, ..Publish::new("keep/x", "retained") })
            .await;
        let mut subs = Vec::new();
        for granted in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let mut sub = connected(addr, V311, &format!("sub{}", granted.as_u8()), &mut t).await;
            sub.subscribe_with(&[("route/#", qos_options(granted)), ("keep/#", qos_options(granted))]).await;
            t.record(&mut sub, Duration::from_secs(5)).await; // the retained message
            subs.push(sub);
        }
        let mut wild = connected(addr, V311, "wild", &mut t).await;
        wild.subscribe_with(&[("#", qos_options(QoS::AtMostOnce)), ("+/x", qos_options(QoS::AtMostOnce))])
            .await;
        publisher.publish_qos0("$dollar/x", "hidden").await;
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let mut publish = publish_packet("route/t", format!("q{}", qos.as_u8()), qos);
            publish.retain = true;
            publisher.publish(publish).await;
            for sub in &mut subs {
                t.record(sub, Duration::from_secs(5)).await;
            }
        }
        t.record_all(&mut wild, QUIET).await; // keep/x (retained) and route/t, never $dollar/x
        t
    })
    .await;
}

/// MQTT 5.0 reason codes: PUBACK 0x10 without subscribers and 0x00 with one, SUBACK granted QoS, UNSUBACK
/// 0x00 and 0x11 No subscription existed. (Where the spec allows a choice Tern says more than Mosquitto:
/// PUBCOMP 0x92 for an unknown PUBREL, DISCONNECT 0x82 before closing on a protocol error; those are
/// checked in publish_qos.rs and connect.rs.)
#[tokio::test]
async fn v5_reason_codes_match_mosquitto() {
    same_as_mosquitto(|addr| async move {
        let mut t = Transcript::default();
        let mut client = connected(addr, V5, "reasons", &mut t).await;
        let mut publish = publish_packet("reasons/t", "x", QoS::AtLeastOnce);
        publish.packet_id = Some(pid(1));
        client.send(Packet::Publish(publish.clone())).await;
        t.record(&mut client, Duration::from_secs(5)).await;
        let filters =
            [("reasons/t", qos_options(QoS::AtMostOnce)), ("other/#", qos_options(QoS::ExactlyOnce))];
        client.send(Packet::Subscribe(subscribe_packet(pid(2), &filters))).await;
        t.record(&mut client, Duration::from_secs(5)).await;
        client.send(Packet::Publish(publish)).await;
        t.record_all(&mut client, QUIET).await; // PUBACK 0x00 and the message itself, in either order
        t.0.sort();
        let unsubscribe = Unsubscribe {
            packet_id: pid(3),
            filters: vec!["other/#".into(), "none".into()],
            properties: Default::default(),
        };
        client.send(Packet::Unsubscribe(unsubscribe)).await;
        t.record(&mut client, Duration::from_secs(5)).await;
        t
    })
    .await;
}

/// `allow_anonymous false` without a password file: clients without a user name are not authorized, and
/// neither are clients with one (there is nothing to check it against): 3.1.1 return code 5 for both.
#[tokio::test]
async fn allow_anonymous_false_without_password_file_matches_mosquitto() {
    let mut config = Config::default();
    config.security.allow_anonymous = Some(false);
    same_as_mosquitto_configured("allow_anonymous false\n", config, |addr| async move {
        let mut t = Transcript::default();
        for username in [None, Some("bob")] {
            let mut client = RawClient::tcp(addr, V311).await;
            let connect = Connect {
                username: username.map(Into::into),
                password: username.map(|_| tern_codec::Bytes::from_static(b"secret")),
                ..connect_packet(V311, "anon-or-not")
            };
            client.send(Packet::Connect(Box::new(connect))).await;
            t.bytes(&mut client, 4).await;
            t.record(&mut client, Duration::from_secs(5)).await;
        }
        t
    })
    .await;
}
