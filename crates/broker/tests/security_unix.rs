//! Test whether `listener 0 PATH` serves MQTT on a Unix domain socket: the mosquitto tools' `--unix`,
//! security of its own with `per_listener_settings`, messages shared with TCP listeners, and the socket
//! file removed at shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use bytes::BytesMut;
use common::*;
use tern_client::{QoS, Transport};
use tern_codec::{decode, encode, Connect, Limits, Packet, ProtocolVersion, Subscribe, SubscriptionRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn mosquitto(tool: &str, socket: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(tool);
    cmd.arg("--unix").arg(socket).args(args);
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn mosquitto_tools_publish_and_subscribe_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("tern.sock");
    let broker = start(
        dir.path(),
        &format!("listener 0 {}\nlistener 1 127.0.0.1\nallow_anonymous true\n", socket.display()),
    )
    .await;
    let out =
        run(mosquitto("mosquitto_pub", &socket, &["-t", "unix/t", "-m", "local", "-r", "-q", "1"])).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = run(mosquitto("mosquitto_sub", &socket, &["-t", "unix/t", "-C", "1", "-W", "5", "-v"])).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "unix/t local", "{}", text(&out));
    // The TCP listener shares the same topics.
    let (client, mut events) = connect(v5(broker.port(0), "tcp")).await;
    client.subscribe("unix/#", QoS::AtLeastOnce).await.unwrap();
    assert_eq!(next_message(&mut events).await.payload, "local");
    let out = run(mosquitto("mosquitto_pub", &socket, &["-t", "unix/live", "-m", "live", "-V", "5"])).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(next_message(&mut events).await.payload, "live");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unix_socket_listener_has_its_own_security_with_per_listener_settings() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("tern.sock");
    let passwords = dir.path().join("passwd");
    mosquitto_passwd(&passwords, &[], "local", "trusted").await;
    let broker = start(
        dir.path(),
        &format!(
            "per_listener_settings true\nlistener 1 127.0.0.1\nallow_anonymous true\n\
             listener 0 {}\npassword_file {}\n",
            socket.display(),
            passwords.display()
        ),
    )
    .await;
    let refused = run(mosquitto("mosquitto_pub", &socket, &["-t", "t", "-m", "m"])).await;
    assert_eq!(refused.status.code(), Some(5), "not authorised: {}", text(&refused));
    let accepted =
        run(mosquitto("mosquitto_pub", &socket, &["-t", "t", "-m", "m", "-u", "local", "-P", "trusted"]))
            .await;
    assert!(accepted.status.success(), "{}", text(&accepted));
    let over_unix = v5(0, "u").transport(Transport::Unix(socket.clone()));
    assert_eq!(refusal(over_unix.clone()).await, 0x87);
    connect(over_unix.credentials("local", "trusted")).await;
    // The TCP listener keeps its anonymous access.
    connect(v5(broker.port(0), "anonymous")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn packets_written_together_with_connect_are_all_answered() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("tern.sock");
    let _broker =
        start(dir.path(), &format!("listener 0 {}\nallow_anonymous true\n", socket.display())).await;
    let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let mut out = BytesMut::new();
    let connect =
        Connect { protocol: ProtocolVersion::V311, client_id: "pipelined".into(), ..Connect::default() };
    let subscribe = Subscribe {
        packet_id: std::num::NonZeroU16::new(7).unwrap(),
        filters: vec![SubscriptionRequest { filter: "p/#".into(), options: Default::default() }],
        properties: Default::default(),
    };
    for packet in [Packet::Connect(Box::new(connect)), Packet::Subscribe(subscribe), Packet::PingReq] {
        encode(&packet, ProtocolVersion::V311, &mut out).unwrap();
    }
    stream.write_all(&out).await.unwrap();
    let limits = Limits { version: ProtocolVersion::V311, ..Limits::default() };
    let mut buf = BytesMut::new();
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        while let Some(packet) = decode(&mut buf, &limits).unwrap() {
            kinds.push(packet.packet_type());
        }
        if kinds.len() < 3 {
            let n =
                tokio::time::timeout(PATIENCE, stream.read_buf(&mut buf)).await.expect("no answer").unwrap();
            assert!(n > 0, "closed after {kinds:?}");
        }
    }
    use tern_codec::PacketType::{ConnAck, PingResp, SubAck};
    assert_eq!(kinds, [ConnAck, SubAck, PingResp]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_socket_file_is_removed_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("tern.sock");
    let broker = start(dir.path(), &format!("listener 0 {}\nallow_anonymous true\n", socket.display())).await;
    assert!(socket.exists());
    broker.running.shutdown().await;
    assert!(!socket.exists());
}
