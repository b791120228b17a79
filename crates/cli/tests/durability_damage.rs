//! The store under damage, with the real binary: a journal torn by `kill -9` (or with bytes flipped) is
//! recovered to its last good prefix, loudly, and never keeps the broker down; a full disk stops the
//! acknowledgements of what cannot be stored, and the broker recovers by itself when space returns.

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tern_codec::{Connect, Packet, ProtocolVersion, Publish, QoS, ReasonCode};
use tern_test_support::raw::{connect_packet, publish_packet};
use tern_test_support::{free_port, pid, Event, RawClient};

const V5: ProtocolVersion = ProtocolVersion::V5;

/// A broker process on a fixed port and store directory, restartable.
struct Broker {
    child: Option<Child>,
    port: u16,
    conf: PathBuf,
    log: PathBuf,
}

impl Broker {
    fn start(dir: &Path, data: &Path) -> Broker {
        let port = free_port();
        let conf = dir.join("tern.toml");
        let text = format!(
            "sys_interval = 0\n[[listeners]]\nport = {port}\nbind_address = \"127.0.0.1\"\n[security]\n\
             allow_anonymous = true\n[persistence]\ndurability = \"fsync\"\nlocation = \"{}\"\n",
            data.display()
        );
        std::fs::write(&conf, text).unwrap();
        let mut b = Broker { child: None, port, conf, log: dir.join("tern.log") };
        b.restart();
        b
    }

    fn restart(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tern"))
            .args(["broker", "-c"])
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(self.addr()).is_err() {
            assert!(Instant::now() < deadline, "broker did not listen:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn persistent(id: &str) -> Connect {
    let mut c = connect_packet(V5, id);
    c.clean_start = false;
    c.properties.session_expiry_interval = Some(3600);
    c
}

/// Subscribes a persistent session to `t/#` and leaves it offline; publishes `n` acknowledged messages.
async fn queue_messages(addr: SocketAddr, n: usize) {
    let (mut sub, _) = RawClient::connect_accepted(addr, persistent("sub")).await;
    sub.subscribe("t/#", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut publisher = RawClient::connect_ok(addr, V5, "pub").await;
    for i in 0..n {
        let ack = publisher.publish_at("t/x", format!("m{i:03}"), QoS::AtLeastOnce).await.unwrap();
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    }
}

/// What the offline subscriber gets when it comes back.
async fn drain(addr: SocketAddr) -> Vec<String> {
    let (mut sub, _) = RawClient::connect_accepted(addr, persistent("sub")).await;
    let mut got = Vec::new();
    loop {
        match sub.recv(Duration::from_millis(700)).await {
            Event::Packet(Packet::Publish(p)) => {
                sub.ack(&p).await;
                got.push(String::from_utf8_lossy(&p.payload).into_owned());
            }
            Event::Packet(_) => {}
            _ => return got,
        }
    }
}

/// Where the journal data ends (journals are preallocated with zeros).
fn journal_with_data(data: &Path) -> (PathBuf, u64) {
    for entry in std::fs::read_dir(data).unwrap().flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "jnl") {
            let bytes = std::fs::read(&p).unwrap();
            let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1) as u64;
            if end > 0 {
                return (p, end);
            }
        }
    }
    panic!("no journal with data in {}", data.display());
}

fn assert_prefix(got: &[String], max: usize) {
    let expected: Vec<String> = (0..got.len()).map(|i| format!("m{i:03}")).collect();
    assert_eq!(got, expected.as_slice(), "a prefix of what was published, in order");
    assert!(got.len() <= max);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn a_journal_torn_by_kill_9_is_cut_back_to_its_last_complete_batch() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut broker = Broker::start(dir.path(), &data);
    let rt = runtime();
    rt.block_on(queue_messages(broker.addr(), 30));
    broker.kill();
    // Tear the last batch, as a crash in the middle of a write would.
    let (journal, end) = journal_with_data(&data);
    std::fs::OpenOptions::new().write(true).open(&journal).unwrap().set_len(end - 5).unwrap();
    broker.restart();
    let got = rt.block_on(drain(broker.addr()));
    let log = broker.log();
    assert!(log.contains("torn or corrupted journal tail discarded"), "a loud line:\n{log}");
    assert!(got.len() >= 28, "only the torn batch is lost: {got:?}");
    assert_prefix(&got, 29);
}

#[test]
fn flipped_journal_bytes_never_keep_the_broker_down() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut broker = Broker::start(dir.path(), &data);
    let rt = runtime();
    rt.block_on(queue_messages(broker.addr(), 30));
    broker.kill();
    let (journal, end) = journal_with_data(&data);
    let mut bytes = std::fs::read(&journal).unwrap();
    for b in &mut bytes[(end / 2) as usize..(end / 2 + 16) as usize] {
        *b ^= 0x5A;
    }
    std::fs::write(&journal, bytes).unwrap();
    broker.restart();
    let got = rt.block_on(drain(broker.addr()));
    let log = broker.log();
    assert!(
        log.contains("torn or corrupted journal tail discarded") || log.contains("quarantine"),
        "the damage is reported:\n{log}"
    );
    assert_prefix(&got, 30);
    // And the broker works as before.
    rt.block_on(async {
        let mut c = RawClient::connect_ok(broker.addr(), V5, "after").await;
        c.ping().await;
    });
    assert!(broker.is_running());
}

/// A small tmpfs as the store's disk, filled up, then freed (needs the right to mount: root).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![1u8; 64 * 1024];
        while f.write_all(&chunk).and_then(|()| f.flush()).is_ok() {}
        let small = vec![1u8; 512];
        while f.write_all(&small).and_then(|()| f.flush()).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_acknowledgements_and_the_broker_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "16m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let mut broker = Broker::start(dir.path(), &disk.0.join("data"));
    let rt = runtime();
    rt.block_on(async {
        let (mut sub, _) = RawClient::connect_accepted(broker.addr(), persistent("sub")).await;
        sub.subscribe("t/#", QoS::AtLeastOnce).await;
        sub.disconnect().await;
        let mut publisher = RawClient::connect_ok(broker.addr(), V5, "pub").await;
        let ok = publisher.publish_at("t/x", "before", QoS::AtLeastOnce).await.unwrap();
        assert_eq!(ok.reason_code, ReasonCode::SUCCESS);

        let filler = disk.fill();
        // Publish until the store cannot keep up: acknowledgements stop (or say 0x97), never lie.
        let payload = vec![b'x'; 4096];
        let mut unanswered = Vec::new();
        let mut refused = 0;
        for i in 1..=2000u16 {
            let p = Publish {
                packet_id: Some(pid(i)),
                ..publish_packet("t/x", payload.clone(), QoS::AtLeastOnce)
            };
            publisher.send(Packet::Publish(p)).await;
            match publisher.recv(Duration::from_millis(300)).await {
                Event::Packet(Packet::PubAck(a)) if a.reason_code == ReasonCode::SUCCESS => {}
                Event::Packet(Packet::PubAck(a)) => {
                    assert_eq!(a.reason_code, ReasonCode::QUOTA_EXCEEDED);
                    refused += 1;
                    break;
                }
                Event::Timeout => {
                    unanswered.push(i);
                    if unanswered.len() >= 3 {
                        break;
                    }
                }
                other => panic!("unexpected {other:?}\n{}", broker.log()),
            }
        }
        assert!(!unanswered.is_empty() || refused > 0, "the full disk was noticed");
        let log = broker.log();
        assert!(log.contains("Store write failed"), "{log}");

        // Space returns: what was held back is acknowledged, and the broker carries on.
        std::fs::remove_file(filler).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut acked = 0;
        while acked < unanswered.len() {
            assert!(Instant::now() < deadline, "no recovery:\n{}", broker.log());
            if let Event::Packet(Packet::PubAck(_)) = publisher.recv(Duration::from_millis(500)).await {
                acked += 1;
            }
        }
        let mut after = RawClient::connect_ok(broker.addr(), V5, "pub2").await;
        let mut ack = after.publish_at("t/x", "after", QoS::AtLeastOnce).await.unwrap();
        for _ in 0..20 {
            if ack.reason_code == ReasonCode::SUCCESS {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            ack = after.publish_at("t/x", "after", QoS::AtLeastOnce).await.unwrap();
        }
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "{}", broker.log());
    });
    assert!(broker.is_running(), "the broker stayed up");
    broker.kill();
    drop(disk);
}
