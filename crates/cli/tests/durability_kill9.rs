//! `kill -9` under load loses nothing that was acknowledged.
//!
//! The real `tern` binary runs on a store in a temporary directory. Two publishers (QoS 1 to `k/1`, QoS 2
//! to `k/2`), an online QoS 2 subscriber (S1) and an offline QoS 1 subscriber (S2) all use persistent
//! sessions. The broker is killed with SIGKILL at a random moment under load, again and again, and
//! restarted on the same store each time. At the end every message whose PUBACK (QoS 1) or PUBREC (QoS 2)
//! the publisher received must have reached S1 (QoS 2 ones exactly once) and S2 (at least once), and the
//! retained messages stored before the first kill must still be there.
//!
//! Run with `--no-capture` to see the summary lines.

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tern_codec::{encode, Ack, BytesMut, Connect, Packet, ProtocolVersion, Publish, QoS, ReasonCode};
use tern_test_support::{connect_packet, free_port, pid, ChildGuard, Event, RawClient};
use tokio::time::Instant;

const V5: ProtocolVersion = ProtocolVersion::V5;
/// Kills per run (the brief asks for at least 20).
const KILLS: usize = 22;
/// PUBLISH packets a publisher keeps unacknowledged at once; below the broker's Receive Maximum (20).
const WINDOW: usize = 8;
/// A publisher starts at most one message per this long (up to 500 a second): enough to keep the store
/// busy, few enough that the run stays short and S2's queue reasonable.
const PACE: Duration = Duration::from_millis(2);
/// Load lasts this long (random, in milliseconds) before the broker is killed.
const LOAD_MS: std::ops::RangeInclusive<u64> = 100..=400;
/// The longest a load task may run: far beyond a round, so it only ends a task the kill did not end.
const TASK_LIMIT: Duration = Duration::from_secs(10);
/// The final drain ends after this long with nothing arriving.
const QUIET: Duration = Duration::from_secs(2);
const RETAINED: usize = 5;

// ---------------------------------------------------------------------------------------------------------
// The broker process

/// `tern broker -c CONF` on a fixed port and a store that outlives the process.
struct Broker {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<ChildGuard>,
    starts: usize,
    /// Spawn to listening, for every start after a kill.
    restarts: Vec<Duration>,
}

impl Broker {
    fn new(durability: &str) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = format!(
            "sys_interval = 0\n\n\
             [[listeners]]\nport = {port}\nbind_address = \"127.0.0.1\"\n\n\
             [security]\nallow_anonymous = true\n\n\
             [limits]\n# Unlimited: S2 is offline for the whole run and must get everything acknowledged.\n\
             max_queued_messages = 0\n\n\
             [persistence]\ndurability = \"{durability}\"\nlocation = \"{}\"\n",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("tern.toml"), config).unwrap();
        Broker { dir, port, child: None, starts: 0, restarts: Vec::new() }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("tern.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The last `n` lines of the log, and every warning or error before them.
    fn log_excerpt(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let cut = lines.len().saturating_sub(n);
        let mut out = String::new();
        for line in &lines[..cut] {
            let lower = line.to_ascii_lowercase();
            if lower.contains("warn") || lower.contains("error") || lower.contains("damaged") {
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push_str(&format!("... last {} lines:\n", lines.len() - cut));
        for line in &lines[cut..] {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// Starts the broker on the store and waits (at most 10 s) until it listens.
    async fn start(&mut self) {
        assert!(self.child.is_none(), "the broker is running already");
        self.starts += 1;
        let mut log = OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        writeln!(log, "===== test: start {} =====", self.starts).unwrap();
        let began = std::time::Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_tern"))
            .args(["broker", "-c"])
            .arg(self.dir.path().join("tern.toml"))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut child = ChildGuard::new(child);
        let deadline = began + Duration::from_secs(10);
        loop {
            if tokio::net::TcpStream::connect(self.addr()).await.is_ok() {
                break;
            }
            if let Some(status) = child.exited() {
                panic!("broker exited ({status}) before listening:\n{}", self.log_excerpt(60));
            }
            assert!(
                std::time::Instant::now() < deadline,
                "broker not listening on {} after 10 s:\n{}",
                self.addr(),
                self.log_excerpt(60)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if self.starts > 1 {
            self.restarts.push(began.elapsed());
        }
        self.child = Some(child);
    }

    /// SIGKILL (`Child::kill` on Unix), and waits for the process to be gone.
    fn kill(&mut self) {
        let mut child = self.child.take().expect("the broker is running");
        if let Some(status) = child.exited() {
            panic!("the broker died by itself ({status}):\n{}", self.log_excerpt(60));
        }
        child.kill();
    }

    /// The last "Restored ..." line the broker logged at start-up.
    fn last_restored(&self) -> String {
        self.log().lines().rfind(|l| l.contains("Restored")).unwrap_or("(none)").to_owned()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- broker log (store in {}) -----\n{}",
                self.dir.path().display(),
                self.log_excerpt(80)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Clients

/// A persistent session: clean start off, an hour of session expiry.
fn persistent(client_id: &str) -> Connect {
    let mut connect = connect_packet(V5, client_id);
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(3600);
    connect
}

async fn connect(addr: SocketAddr, client_id: &str, session_present: bool) -> RawClient {
    let (client, connack) = RawClient::connect(addr, persistent(client_id)).await;
    assert_eq!(connack.reason_code, ReasonCode::SUCCESS, "{client_id}: CONNACK {connack:?}");
    assert_eq!(connack.session_present, session_present, "{client_id}: session present in {connack:?}");
    client
}

/// Sends one packet; false if the connection is gone (the broker was killed).
async fn send(client: &mut RawClient, packet: &Packet) -> bool {
    let mut buf = BytesMut::new();
    encode(packet, V5, &mut buf).unwrap();
    client.try_send_raw(&buf).await.is_ok()
}

fn payload(tag: u8, seq: u64) -> String {
    format!("{tag}-{seq:06}")
}

/// `(tag, seq)` of a `k/...` payload.
fn parse_payload(topic: &str, payload: &[u8]) -> (u8, u64) {
    let text = std::str::from_utf8(payload).unwrap();
    let (tag, seq) = text.split_once('-').unwrap_or_else(|| panic!("payload {text:?} on {topic}"));
    let tag: u8 = tag.parse().unwrap();
    assert_eq!(topic, format!("k/{tag}"), "payload {text:?} on the wrong topic");
    (tag, seq.parse().unwrap())
}

/// A publisher's state, kept across connections like its persistent session.
#[derive(Debug)]
struct Publisher {
    client_id: &'static str,
    topic: &'static str,
    tag: u8,
    qos: QoS,
    next_seq: u64,
    last_pid: u16,
    /// Sequence numbers whose PUBACK / PUBREC came back below 0x80.
    acknowledged: BTreeSet<u64>,
    sent: u64,
    /// Cut off by a kill before their PUBACK / PUBREC: neither acknowledged nor ever sent again.
    abandoned: u64,
    /// Refused (an ack of 0x80 or more).
    refused: u64,
    /// QoS 2: PUBREC received and PUBREL sent, PUBCOMP not received yet.
    awaiting_pubcomp: HashSet<u16>,
    /// QoS 2: PUBLISH sent, cut off before its PUBREC. The broker may hold the identifier as awaiting
    /// PUBREL (it counts against the Receive Maximum for good): released at the next connection.
    abandoned_ids: HashSet<u16>,
    /// QoS 2: PUBCOMP 0x92 (identifier not found) after the PUBREL of an acknowledged message was resent.
    pubcomp_not_found: u64,
}

impl Publisher {
    fn new(client_id: &'static str, topic: &'static str, tag: u8, qos: QoS) -> Publisher {
        Publisher {
            client_id,
            topic,
            tag,
            qos,
            next_seq: 1,
            last_pid: 0,
            acknowledged: BTreeSet::new(),
            sent: 0,
            abandoned: 0,
            refused: 0,
            awaiting_pubcomp: HashSet::new(),
            abandoned_ids: HashSet::new(),
            pubcomp_not_found: 0,
        }
    }

    /// A packet identifier not used by any exchange in flight.
    fn next_pid(&mut self, inflight: &HashMap<u16, u64>) -> NonZeroU16 {
        loop {
            self.last_pid = self.last_pid % u16::MAX + 1;
            let id = self.last_pid;
            if !inflight.contains_key(&id)
                && !self.awaiting_pubcomp.contains(&id)
                && !self.abandoned_ids.contains(&id)
            {
                return pid(id);
            }
        }
    }

    fn on_pubcomp(&mut self, ack: &Ack) {
        let id = ack.packet_id.get();
        if self.awaiting_pubcomp.remove(&id) {
            if ack.reason_code == ReasonCode::PACKET_IDENTIFIER_NOT_FOUND {
                // The broker had processed the PUBREL before it was killed, but the PUBCOMP never came.
                self.pubcomp_not_found += 1;
            }
        } else {
            // Either reason code is right for an abandoned one: only the broker knew if it had arrived.
            assert!(
                self.abandoned_ids.remove(&id),
                "{}: PUBCOMP for unknown id {id}: {ack:?}",
                self.client_id
            );
        }
    }

    /// Publishes until the connection dies, `WINDOW` messages in flight.
    async fn run(mut self, mut client: RawClient) -> Publisher {
        let deadline = Instant::now() + TASK_LIMIT;
        let mut inflight: HashMap<u16, u64> = HashMap::new();
        let name = self.client_id;
        'connection: {
            if self.qos == QoS::ExactlyOnce {
                // [MQTT-4.4.0-1] On reconnect, resend the PUBREL of every exchange past PUBREC, and complete
                // them before anything new. The abandoned identifiers are released too (never their PUBLISH):
                // the broker answers PUBCOMP, 0x92 for those it never received.
                let release: Vec<u16> =
                    self.awaiting_pubcomp.iter().chain(&self.abandoned_ids).copied().collect();
                for id in release {
                    if !send(&mut client, &Packet::PubRel(Ack::new(pid(id)))).await {
                        break 'connection;
                    }
                }
                while !(self.awaiting_pubcomp.is_empty() && self.abandoned_ids.is_empty()) {
                    match client.recv(deadline.saturating_duration_since(Instant::now())).await {
                        Event::Packet(Packet::PubComp(ack)) => self.on_pubcomp(&ack),
                        Event::Packet(other) => panic!("{name}: expected PUBCOMP, got {other:?}"),
                        Event::Invalid(e) => panic!("{name}: undecodable bytes from the broker: {e}"),
                        Event::Closed | Event::Timeout => break 'connection,
                    }
                }
            }
            let mut next_send = Instant::now();
            while Instant::now() < deadline {
                while inflight.len() + self.awaiting_pubcomp.len() < WINDOW && Instant::now() >= next_send {
                    // Paced, without catching up a long pause in a burst.
                    next_send = (next_send + PACE).max(Instant::now() - PACE * 4);
                    let id = self.next_pid(&inflight);
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    let publish = Publish {
                        qos: self.qos,
                        packet_id: Some(id),
                        ..Publish::new(self.topic, payload(self.tag, seq))
                    };
                    inflight.insert(id.get(), seq);
                    self.sent += 1;
                    if !send(&mut client, &Packet::Publish(publish)).await {
                        break 'connection;
                    }
                }
                let window_full = inflight.len() + self.awaiting_pubcomp.len() >= WINDOW;
                let wait = if window_full {
                    Duration::from_millis(500)
                } else {
                    next_send.saturating_duration_since(Instant::now())
                };
                match client.recv(wait).await {
                    Event::Packet(Packet::PubAck(ack)) if self.qos == QoS::AtLeastOnce => {
                        let seq = inflight.remove(&ack.packet_id.get());
                        let seq = seq.unwrap_or_else(|| panic!("{name}: PUBACK for an unknown id: {ack:?}"));
                        if ack.reason_code.is_error() {
                            self.refused += 1;
                        } else {
                            self.acknowledged.insert(seq);
                        }
                    }
                    Event::Packet(Packet::PubRec(ack)) if self.qos == QoS::ExactlyOnce => {
                        let seq = inflight.remove(&ack.packet_id.get());
                        let seq = seq.unwrap_or_else(|| panic!("{name}: PUBREC for an unknown id: {ack:?}"));
                        if ack.reason_code.is_error() {
                            // A PUBREC of 0x80 or more ends the exchange [MQTT-4.3.3].
                            self.refused += 1;
                            continue;
                        }
                        // Acknowledged: the broker owns the message now [MQTT-4.3.3].
                        self.acknowledged.insert(seq);
                        self.awaiting_pubcomp.insert(ack.packet_id.get());
                        if !send(&mut client, &Packet::PubRel(Ack::new(ack.packet_id))).await {
                            break 'connection;
                        }
                    }
                    Event::Packet(Packet::PubComp(ack)) if self.qos == QoS::ExactlyOnce => {
                        self.on_pubcomp(&ack)
                    }
                    Event::Packet(other) => panic!("{name}: unexpected {other:?}"),
                    Event::Invalid(e) => panic!("{name}: undecodable bytes from the broker: {e}"),
                    Event::Timeout => {}
                    Event::Closed => break 'connection,
                }
            }
        }
        // The connection is gone: what was not acknowledged is abandoned.
        self.abandoned += inflight.len() as u64;
        if self.qos == QoS::ExactlyOnce {
            self.abandoned_ids.extend(inflight.keys());
        }
        self
    }
}

/// A subscriber's state, kept across connections like its persistent session: a correct QoS 2 receiver
/// that passes a message on at PUBLISH and takes the same packet identifier for a duplicate until PUBREL.
#[derive(Debug)]
struct Subscriber {
    client_id: &'static str,
    /// Sleep this long per PUBLISH (a slow consumer builds a queue in the broker).
    delay: Option<Duration>,
    /// QoS 2 packet identifiers between our PUBREC and the broker's PUBREL.
    awaiting_pubrel: HashSet<u16>,
    /// Deliveries counted per `(tag, seq)`, at any QoS.
    got: HashMap<(u8, u64), u32>,
    /// Deliveries of `k/2` messages counted at QoS 2, per seq: more than one is a duplicate.
    got_qos2: HashMap<u64, u32>,
    /// PUBLISH packets received, including protocol duplicates.
    publishes: u64,
    /// QoS 2 PUBLISH packets with an identifier awaiting PUBREL: resent by the broker, not counted.
    resent_qos2: u64,
}

impl Subscriber {
    fn new(client_id: &'static str, delay: Option<Duration>) -> Subscriber {
        Subscriber {
            client_id,
            delay,
            awaiting_pubrel: HashSet::new(),
            got: HashMap::new(),
            got_qos2: HashMap::new(),
            publishes: 0,
            resent_qos2: 0,
        }
    }

    /// Receives until the connection dies, or (with `quiet`) until nothing arrived for that long and no
    /// QoS 2 exchange is left open.
    async fn run(mut self, mut client: RawClient, quiet: Option<Duration>) -> Subscriber {
        let name = self.client_id;
        let deadline =
            Instant::now() + TASK_LIMIT + quiet.map_or(Duration::ZERO, |_| Duration::from_secs(20));
        while Instant::now() < deadline {
            let wait = quiet.unwrap_or(Duration::from_millis(500));
            let packet = match client.recv(wait).await {
                Event::Packet(packet) => packet,
                Event::Timeout if quiet.is_some() && self.awaiting_pubrel.is_empty() => break,
                Event::Timeout => continue,
                Event::Closed => break,
                Event::Invalid(e) => panic!("{name}: undecodable bytes from the broker: {e}"),
            };
            let answer = match packet {
                Packet::Publish(publish) => {
                    self.publishes += 1;
                    let key = parse_payload(&publish.topic, &publish.payload);
                    let id = publish.packet_id.unwrap_or_else(|| panic!("{name}: QoS 0 {publish:?}"));
                    let answer = match publish.qos {
                        QoS::ExactlyOnce => {
                            // [MQTT-4.3.3] The same identifier before PUBREL is the same message.
                            if self.awaiting_pubrel.insert(id.get()) {
                                *self.got.entry(key).or_default() += 1;
                                assert_eq!(key.0, 2, "{name}: QoS 2 delivery of {publish:?}");
                                *self.got_qos2.entry(key.1).or_default() += 1;
                            } else {
                                assert!(
                                    publish.dup,
                                    "{name}: a resent QoS 2 PUBLISH without DUP: {publish:?}"
                                );
                                self.resent_qos2 += 1;
                            }
                            Packet::PubRec(Ack::new(id))
                        }
                        QoS::AtLeastOnce => {
                            *self.got.entry(key).or_default() += 1;
                            Packet::PubAck(Ack::new(id))
                        }
                        QoS::AtMostOnce => unreachable!(),
                    };
                    if let Some(delay) = self.delay {
                        tokio::time::sleep(delay).await;
                    }
                    answer
                }
                Packet::PubRel(ack) => {
                    self.awaiting_pubrel.remove(&ack.packet_id.get());
                    Packet::PubComp(Ack::new(ack.packet_id))
                }
                other => panic!("{name}: unexpected {other:?}"),
            };
            if !send(&mut client, &answer).await {
                break;
            }
        }
        self
    }
}

// ---------------------------------------------------------------------------------------------------------
// The test

fn percentile(mut values: Vec<Duration>, p: f64) -> Duration {
    values.sort();
    values.get(((values.len().max(1) - 1) as f64 * p).round() as usize).copied().unwrap_or_default()
}

/// Acknowledged sequence numbers missing from `got`.
fn missing(acknowledged: &BTreeSet<u64>, tag: u8, got: &HashMap<(u8, u64), u32>) -> Vec<u64> {
    acknowledged.iter().copied().filter(|seq| !got.contains_key(&(tag, *seq))).collect()
}

fn first(ids: &[u64]) -> String {
    let shown: Vec<String> = ids.iter().take(20).map(u64::to_string).collect();
    format!("{}{}", shown.join(", "), if ids.len() > 20 { ", ..." } else { "" })
}

async fn kill_9_under_load(durability: &str) {
    let began = std::time::Instant::now();
    let seed: u64 = rand::thread_rng().gen();
    println!("durability {durability}: seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut broker = Broker::new(durability);
    broker.start().await;
    let addr = broker.addr();

    // The sessions, created once. S2 subscribes and goes offline for the whole run.
    let mut s2 = connect(addr, "kill9-s2", false).await;
    let ack = s2.subscribe("k/#", QoS::AtLeastOnce).await;
    assert_eq!(ack.reason_codes, [ReasonCode::GRANTED_QOS_1], "S2 SUBACK");
    s2.disconnect().await;
    let mut s1c = connect(addr, "kill9-s1", false).await;
    let ack = s1c.subscribe("k/#", QoS::ExactlyOnce).await;
    assert_eq!(ack.reason_codes, [ReasonCode::GRANTED_QOS_2], "S1 SUBACK");
    s1c.disconnect().await;
    let mut p1c = connect(addr, "kill9-p1", false).await;
    for i in 0..RETAINED {
        let publish = Publish {
            qos: QoS::AtLeastOnce,
            retain: true,
            ..Publish::new(format!("r/{i}"), format!("retained-{i}"))
        };
        let ack = p1c.publish(publish).await.unwrap();
        assert!(!ack.reason_code.is_error(), "retained r/{i}: {ack:?}");
    }
    p1c.disconnect().await;
    connect(addr, "kill9-p2", false).await.disconnect().await;

    let mut s1 = Subscriber::new("kill9-s1", Some(Duration::from_millis(1)));
    let mut p1 = Publisher::new("kill9-p1", "k/1", 1, QoS::AtLeastOnce);
    let mut p2 = Publisher::new("kill9-p2", "k/2", 2, QoS::ExactlyOnce);
    let mut load = Duration::ZERO;
    for round in 0..KILLS {
        if round > 0 {
            broker.start().await;
        }
        // Every session comes back from the store: session present [MQTT-3.2.2-2].
        let s1c = connect(addr, s1.client_id, true).await;
        let p1c = connect(addr, p1.client_id, true).await;
        let p2c = connect(addr, p2.client_id, true).await;
        let tasks = (tokio::spawn(s1.run(s1c, None)), tokio::spawn(p1.run(p1c)), tokio::spawn(p2.run(p2c)));
        let ms = rng.gen_range(LOAD_MS);
        load += Duration::from_millis(ms);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        broker.kill();
        s1 = tasks.0.await.unwrap();
        p1 = tasks.1.await.unwrap();
        p2 = tasks.2.await.unwrap();
    }

    // The last restart: S1 finishes, S2 comes back for everything, the retained messages are checked.
    broker.start().await;
    let restored = broker.last_restored();
    let s1c = connect(addr, s1.client_id, true).await;
    let s2c = connect(addr, "kill9-s2", true).await;
    s1.delay = None;
    let s1_task = tokio::spawn(s1.run(s1c, Some(QUIET)));
    let s2 = Subscriber::new("kill9-s2", None).run(s2c, Some(QUIET)).await;
    let s1 = s1_task.await.unwrap();

    let mut check = RawClient::connect_ok(addr, V5, "kill9-retained-check").await;
    check.subscribe("r/#", QoS::AtLeastOnce).await;
    let mut retained = HashMap::new();
    while retained.len() < RETAINED {
        let publish = check.receive_and_ack().await;
        assert!(publish.retain, "not marked retained: {publish:?}");
        retained.insert(publish.topic.to_string(), String::from_utf8(publish.payload.to_vec()).unwrap());
    }
    check.expect_nothing(Duration::from_millis(200)).await;
    check.disconnect().await;
    for i in 0..RETAINED {
        assert_eq!(retained.get(&format!("r/{i}")), Some(&format!("retained-{i}")), "retained r/{i}");
    }
    broker.kill();

    let lost1_s1 = missing(&p1.acknowledged, 1, &s1.got);
    let lost1_s2 = missing(&p1.acknowledged, 1, &s2.got);
    let lost2_s1: Vec<u64> =
        p2.acknowledged.iter().copied().filter(|seq| !s1.got_qos2.contains_key(seq)).collect();
    let lost2_s2 = missing(&p2.acknowledged, 2, &s2.got);
    let mut duplicates: Vec<u64> = s1.got_qos2.iter().filter(|(_, n)| **n > 1).map(|(seq, _)| *seq).collect();
    duplicates.sort();
    let lost: BTreeSet<(u8, u64)> = lost1_s1
        .iter()
        .chain(&lost1_s2)
        .map(|seq| (1, *seq))
        .chain(lost2_s1.iter().chain(&lost2_s2).map(|seq| (2, *seq)))
        .collect();
    let acknowledged = p1.acknowledged.len() + p2.acknowledged.len();
    println!(
        "durability {durability}: {KILLS} kills, {acknowledged} acknowledged ({} QoS 1, {} QoS 2), {} lost, {} duplicates at QoS 2, restart p50 {} ms",
        p1.acknowledged.len(),
        p2.acknowledged.len(),
        lost.len(),
        duplicates.len(),
        percentile(broker.restarts.clone(), 0.5).as_millis(),
    );
    println!(
        "durability {durability}: detail: {:.1} s of load; sent {} QoS 1 / {} QoS 2, abandoned at a kill {} / {}, refused {} / {}; \
         S1 {} PUBLISH ({} QoS 2 resent with DUP, not counted), S2 {} PUBLISH; PUBCOMP 0x92 after a resent PUBREL {}; \
         restart max {} ms; last start: {restored}; test took {:.1} s",
        load.as_secs_f64(),
        p1.sent,
        p2.sent,
        p1.abandoned,
        p2.abandoned,
        p1.refused,
        p2.refused,
        s1.publishes,
        s1.resent_qos2,
        s2.publishes,
        p2.pubcomp_not_found,
        percentile(broker.restarts.clone(), 1.0).as_millis(),
        began.elapsed().as_secs_f64(),
    );

    assert!(
        p1.acknowledged.len() >= 100 && p2.acknowledged.len() >= 100,
        "too little load to prove anything: {} QoS 1 and {} QoS 2 acknowledged",
        p1.acknowledged.len(),
        p2.acknowledged.len()
    );
    assert_eq!(p1.refused + p2.refused, 0, "the broker refused publishes");
    assert!(s2.publishes > 0, "S2's subscription did not survive: it received nothing");
    assert!(s1.awaiting_pubrel.is_empty(), "S1: QoS 2 exchanges never released: {:?}", s1.awaiting_pubrel);
    assert!(
        lost1_s1.is_empty(),
        "{} acknowledged QoS 1 messages lost to S1: {}",
        lost1_s1.len(),
        first(&lost1_s1)
    );
    assert!(
        lost1_s2.is_empty(),
        "{} acknowledged QoS 1 messages lost to S2: {}",
        lost1_s2.len(),
        first(&lost1_s2)
    );
    assert!(
        lost2_s1.is_empty(),
        "{} acknowledged QoS 2 messages lost to S1: {}",
        lost2_s1.len(),
        first(&lost2_s1)
    );
    assert!(
        lost2_s2.is_empty(),
        "{} acknowledged QoS 2 messages lost to S2: {}",
        lost2_s2.len(),
        first(&lost2_s2)
    );
    // [MQTT-4.3.3] QoS 2 is exactly once, across restarts too.
    assert!(
        duplicates.is_empty(),
        "{} QoS 2 messages delivered twice to S1: {}",
        duplicates.len(),
        first(&duplicates)
    );
}

/// `fsync` mode: every acknowledgement waits for its fsync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_acknowledged_fsync() {
    kill_9_under_load("fsync").await;
}

/// `buffered` mode: acknowledged once handed to the OS, which a killed process cannot lose either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_nothing_acknowledged_buffered() {
    kill_9_under_load("buffered").await;
}
