//! Test whether an ACL file decides, end to end, what each client may publish, subscribe to and receive:
//! `topic` read/write/readwrite/deny lines, `user` blocks, anonymous lines, `%c`/`%u` patterns, deny
//! winning, `$` topics, wildcard user names and client ids; checked on PUBLISH (v5 0x87, 3.x acked and
//! dropped), SUBSCRIBE (v5 0x87, 3.x 0x80), every delivery, retained messages and wills — and deliveries
//! compared with a real Mosquitto given the same file.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use tern_client::{
    Client, Disconnect, Events, ProtocolVersion, QoS, ReasonCode, SubscriptionOptions, SubscriptionRequest,
};
use tern_test_support::mosquitto::Mosquitto;

const ACL: &str = "\
# Anonymous clients.
topic read public/#
topic readwrite anon/#

user alice
topic readwrite home/alice/#
topic deny home/alice/secret
topic read sensors/#
topic write commands/#
topic read $SYS/#
topic readwrite $app/#
topic deny devices/alice-1/firmware

user bob
topic read #

user admin
topic readwrite #

# Every client.
pattern readwrite devices/%c/#
pattern read users/%u/inbox
pattern deny sensors/secret/#
";

/// A broker with [`ACL`], anonymous clients allowed and no password file (any user name gets in).
async fn broker(dir: &Path) -> TestBroker {
    let acl = dir.join("acl");
    std::fs::write(&acl, ACL).unwrap();
    start(dir, &format!("listener 1 127.0.0.1\nallow_anonymous true\nacl_file {}\n", acl.display())).await
}

fn as_user(port: u16, id: &str, user: &str) -> tern_client::ConnectOptions {
    v5(port, id).credentials(user, "")
}

async fn publish(client: &Client, topic: &str) -> Result<(), tern_client::ClientError> {
    client.publish(topic, topic.to_owned(), QoS::AtLeastOnce, false).await.map(drop)
}

/// SUBACK reason code of one filter.
async fn subscribe(client: &Client, filter: &str) -> ReasonCode {
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap().reason_codes[0]
}

/// Topics received within [`QUIET`].
async fn topics(events: &mut Events) -> Vec<String> {
    let mut topics: Vec<String> = drain(events).await.into_iter().map(|(topic, _)| topic).collect();
    topics.sort();
    topics
}

#[tokio::test(flavor = "multi_thread")]
async fn read_write_readwrite_and_deny_lines_grant_what_they_say() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    let (alice, _events) = connect(as_user(broker.port(0), "alice-1", "alice")).await;
    publish(&alice, "home/alice/kitchen").await.unwrap();
    assert_eq!(publish(&alice, "home/alice/secret").await, Err(DENIED), "deny wins over readwrite");
    assert_eq!(publish(&alice, "sensors/t").await, Err(DENIED), "read only");
    publish(&alice, "commands/open").await.unwrap();
    assert_eq!(subscribe(&alice, "sensors/#").await, ReasonCode::GRANTED_QOS_1);
    assert_eq!(subscribe(&alice, "commands/#").await, ReasonCode::NOT_AUTHORIZED, "write only");
    assert_eq!(subscribe(&alice, "home/alice/secret").await, ReasonCode::NOT_AUTHORIZED, "denied");
    assert_eq!(publish(&alice, "elsewhere").await, Err(DENIED), "no rule, no access");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_publish_is_answered_0x87_in_v5_and_acknowledged_then_dropped_in_3_1_1() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    let port = broker.port(0);
    let (bob, mut bob_events) = connect(as_user(port, "bob-1", "bob")).await;
    assert_eq!(subscribe(&bob, "#").await, ReasonCode::GRANTED_QOS_1);
    let (alice, _events) = connect(as_user(port, "alice-5", "alice")).await;
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        assert_eq!(alice.publish("sensors/v5", "x", qos, false).await, Err(DENIED), "{qos:?}");
    }
    let (alice3, _events) = connect(v311(port, "alice-3").credentials("alice", "")).await;
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        assert_eq!(alice3.publish("sensors/v3", "x", qos, false).await, Ok(ReasonCode::SUCCESS), "{qos:?}");
    }
    // Nothing reached a subscriber; what alice may write still does.
    alice3.publish("commands/v3", "x", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(topics(&mut bob_events).await, ["commands/v3"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_through_which_nothing_is_readable_is_refused_0x87_in_v5_and_0x80_in_3_1_1() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    let port = broker.port(0);
    let (alice, _events) = connect(as_user(port, "alice-5", "alice")).await;
    let filters = ["commands/#", "sensors/+", "$share/g/commands/#", "$share/g/sensors/#", "#"];
    let requests = filters
        .iter()
        .map(|f| SubscriptionRequest {
            filter: (*f).into(),
            options: SubscriptionOptions { qos: QoS::AtLeastOnce, ..SubscriptionOptions::default() },
        })
        .collect::<Vec<_>>();
    let v5 = alice.subscribe_many(requests.clone(), Default::default()).await.unwrap();
    let granted = ReasonCode::GRANTED_QOS_1;
    let refused = ReasonCode::NOT_AUTHORIZED;
    assert_eq!(v5.reason_codes, [refused, granted, refused, granted, granted]);
    let (alice3, _events) = connect(v311(port, "alice-3").credentials("alice", "")).await;
    let v3 = alice3.subscribe_many(requests, Default::default()).await.unwrap();
    let codes: Vec<u8> = v3.reason_codes.iter().map(|rc| rc.to_v3_suback()).collect();
    assert_eq!(codes, [0x80, 0x01, 0x80, 0x01, 0x01]);
}

/// Topics published (by admin, who may write them all) in the delivery and retained tests.
const PUBLISHED: &[&str] = &[
    "home/alice/kitchen",
    "home/alice/secret",
    "home/bob/kitchen",
    "sensors/temp",
    "commands/open",
    "devices/alice-1/temp",
    "devices/other/temp",
    "users/alice/inbox",
    "users/bob/inbox",
    "public/news",
    "elsewhere",
];

/// What alice (client id `alice-1`) may read of [`PUBLISHED`].
const ALICE_READS: &[&str] =
    &["devices/alice-1/temp", "home/alice/kitchen", "sensors/temp", "users/alice/inbox"];

/// Alice subscribes to `#` on `port`; admin publishes every topic of [`PUBLISHED`]. What alice receives.
async fn hash_subscriber_receives(port: u16, version: ProtocolVersion) -> Vec<String> {
    let options = tern_client::ConnectOptions::new("127.0.0.1", port).version(version).client_id("alice-1");
    let (alice, mut events) = connect(options.credentials("alice", "")).await;
    assert!(!subscribe(&alice, "#").await.is_error());
    let (admin, _admin_events) = connect(as_user(port, "admin-1", "admin")).await;
    for topic in PUBLISHED {
        admin.publish(*topic, *topic, QoS::AtLeastOnce, false).await.unwrap();
    }
    topics(&mut events).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wildcard_subscriber_receives_only_what_it_may_read_as_with_mosquitto() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        assert_eq!(hash_subscriber_receives(broker.port(0), version).await, ALICE_READS, "{version:?}");
    }
    let (mosquitto, _dir) = mosquitto_with_acl();
    assert_eq!(hash_subscriber_receives(mosquitto.port, ProtocolVersion::V5).await, ALICE_READS);
}

/// A Mosquitto with [`ACL`], and the directory holding the file.
fn mosquitto_with_acl() -> (Mosquitto, tempfile::TempDir) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // Mosquitto drops root privileges: let it read the file.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let acl = dir.path().join("acl");
    std::fs::write(&acl, ACL).unwrap();
    (Mosquitto::start_with(&format!("allow_anonymous true\nacl_file {}\n", acl.display())), dir)
}

/// Admin publishes every topic of [`PUBLISHED`] retained on `port`; alice subscribes to `#` afterwards.
async fn retained_received(port: u16) -> Vec<String> {
    let (admin, _admin_events) = connect(as_user(port, "admin-1", "admin")).await;
    for topic in PUBLISHED {
        admin.publish(*topic, *topic, QoS::AtLeastOnce, true).await.unwrap();
    }
    let (alice, mut events) = connect(as_user(port, "alice-1", "alice")).await;
    assert!(!subscribe(&alice, "#").await.is_error());
    topics(&mut events).await
}

#[tokio::test(flavor = "multi_thread")]
async fn retained_messages_sent_on_subscribe_are_only_those_it_may_read_as_with_mosquitto() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    assert_eq!(retained_received(broker.port(0)).await, ALICE_READS);
    let (mosquitto, _dir) = mosquitto_with_acl();
    assert_eq!(retained_received(mosquitto.port).await, ALICE_READS);
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_lines_apply_to_clients_without_a_user_name_only() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    let port = broker.port(0);
    let (anonymous, mut events) = connect(v5(port, "anon-1")).await;
    assert_eq!(subscribe(&anonymous, "public/#").await, ReasonCode::GRANTED_QOS_1);
    assert_eq!(publish(&anonymous, "public/news").await, Err(DENIED), "read only");
    publish(&anonymous, "anon/chat").await.unwrap();
    let (admin, _e) = connect(as_user(port, "admin-1", "admin")).await;
    admin.publish("public/news", "hello", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(topics(&mut events).await, ["public/news"]);
    // A user, even one without a `user` block, does not get the anonymous lines.
    for user in ["alice", "dave"] {
        let (client, _e) = connect(as_user(port, &format!("{user}-1"), user)).await;
        assert_eq!(subscribe(&client, "public/#").await, ReasonCode::NOT_AUTHORIZED, "{user}");
        assert_eq!(publish(&client, "anon/chat").await, Err(DENIED), "{user}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn patterns_substitute_the_client_id_and_the_user_name() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    let port = broker.port(0);
    // dave has no `user` block: the patterns are all he gets.
    let (dave, _e) = connect(as_user(port, "c1", "dave")).await;
    publish(&dave, "devices/c1/temp").await.unwrap();
    assert_eq!(publish(&dave, "devices/c2/temp").await, Err(DENIED));
    assert_eq!(subscribe(&dave, "devices/c1/#").await, ReasonCode::GRANTED_QOS_1);
    assert_eq!(subscribe(&dave, "users/dave/inbox").await, ReasonCode::GRANTED_QOS_1);
    assert_eq!(subscribe(&dave, "users/erin/inbox").await, ReasonCode::NOT_AUTHORIZED);
    assert_eq!(subscribe(&dave, "users/+/inbox").await, ReasonCode::GRANTED_QOS_1, "dave's inbox matches");
    // An anonymous client gets `%c` patterns, never `%u` ones.
    let (anonymous, _e) = connect(v5(port, "c3")).await;
    publish(&anonymous, "devices/c3/temp").await.unwrap();
    assert_eq!(subscribe(&anonymous, "users/+/inbox").await, ReasonCode::NOT_AUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn deny_wins_over_grants_from_topic_and_pattern_lines() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    let port = broker.port(0);
    // alice reads sensors/# but a pattern denies sensors/secret/# to everyone.
    let (alice, mut events) = connect(as_user(port, "alice-1", "alice")).await;
    assert_eq!(subscribe(&alice, "sensors/secret/#").await, ReasonCode::NOT_AUTHORIZED);
    assert_eq!(subscribe(&alice, "sensors/#").await, ReasonCode::GRANTED_QOS_1);
    let (admin, _e) = connect(as_user(port, "admin-1", "admin")).await;
    assert_eq!(publish(&admin, "sensors/secret/key").await, Err(DENIED), "admin's readwrite # too");
    admin.publish("sensors/temp", "20", QoS::AtLeastOnce, false).await.unwrap();
    assert_eq!(topics(&mut events).await, ["sensors/temp"]);
    // alice's own deny line beats the `devices/%c/#` pattern granting her client id.
    publish(&alice, "devices/alice-1/temp").await.unwrap();
    assert_eq!(publish(&alice, "devices/alice-1/firmware").await, Err(DENIED));
}

#[tokio::test(flavor = "multi_thread")]
async fn hash_and_plus_never_grant_dollar_topics() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    let port = broker.port(0);
    // bob reads `#`, admin reads and writes `#`: neither reaches a `$` topic.
    let (bob, mut bob_events) = connect(as_user(port, "bob-1", "bob")).await;
    assert_eq!(subscribe(&bob, "$SYS/#").await, ReasonCode::NOT_AUTHORIZED);
    assert_eq!(subscribe(&bob, "$app/#").await, ReasonCode::NOT_AUTHORIZED);
    assert_eq!(subscribe(&bob, "#").await, ReasonCode::GRANTED_QOS_1);
    let (admin, _e) = connect(as_user(port, "admin-1", "admin")).await;
    assert_eq!(publish(&admin, "$app/x").await, Err(DENIED));
    assert_eq!(subscribe(&bob, "$SYS/broker/uptime").await, ReasonCode::NOT_AUTHORIZED);
    // alice names `$SYS/#` and `$app/#` outright: she gets the broker's `$SYS` tree.
    let (alice, mut alice_events) = connect(as_user(port, "alice-1", "alice")).await;
    assert_eq!(subscribe(&alice, "$SYS/#").await, ReasonCode::GRANTED_QOS_1);
    assert_eq!(subscribe(&alice, "$app/#").await, ReasonCode::GRANTED_QOS_1);
    publish(&alice, "$app/x").await.unwrap();
    let alice_got = topics(&mut alice_events).await;
    assert!(alice_got.contains(&"$app/x".to_owned()), "{alice_got:?}");
    assert!(alice_got.contains(&"$SYS/broker/uptime".to_owned()), "{alice_got:?}");
    assert_eq!(topics(&mut bob_events).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_name_or_client_id_holding_a_wildcard_gets_no_pattern_access() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    let port = broker.port(0);
    let (admin, _e) = connect(as_user(port, "admin-1", "admin")).await;
    // Substituted, the id `+` would turn `devices/%c/#` into `devices/+/#`: every device.
    for id in ["+", "#", "a+b"] {
        let (client, mut events) = connect(v5(port, id)).await;
        assert_eq!(subscribe(&client, "devices/+/#").await, ReasonCode::NOT_AUTHORIZED, "{id}");
        assert_eq!(subscribe(&client, "devices/other/#").await, ReasonCode::NOT_AUTHORIZED, "{id}");
        assert_eq!(
            subscribe(&client, "public/#").await,
            ReasonCode::GRANTED_QOS_1,
            "{id}: topic lines apply"
        );
        admin.publish("devices/other/temp", "x", QoS::AtLeastOnce, false).await.unwrap();
        assert_eq!(topics(&mut events).await, Vec::<String>::new(), "{id}");
    }
    // The user name `+` would read every inbox through `users/%u/inbox`.
    let (plus, _e) = connect(as_user(port, "plain", "+")).await;
    assert_eq!(subscribe(&plus, "users/+/inbox").await, ReasonCode::NOT_AUTHORIZED);
    assert_eq!(subscribe(&plus, "users/bob/inbox").await, ReasonCode::NOT_AUTHORIZED);
    // Its client id has no wildcard, but patterns are off for the whole client.
    assert_eq!(publish(&plus, "devices/plain/x").await, Err(DENIED));
    let (plain, _e) = connect(v5(port, "plain2")).await;
    publish(&plain, "devices/plain2/x").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_will_is_published_only_where_its_client_may_write() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    let port = broker.port(0);
    let (bob, mut events) = connect(as_user(port, "bob-1", "bob")).await;
    assert_eq!(subscribe(&bob, "#").await, ReasonCode::GRANTED_QOS_1);
    for (topic, sent) in
        [("commands/alice-gone", true), ("sensors/alice-gone", false), ("$SYS/alice-gone", false)]
    {
        let options = as_user(port, "alice-1", "alice").will(topic, "bye", QoS::AtLeastOnce, false);
        let (alice, _e) = connect(options).await;
        // v5 reason 0x04: disconnect and send the will.
        alice.disconnect_with(Disconnect::new(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE)).await.unwrap();
        let expected: Vec<String> = if sent { vec![topic.to_owned()] } else { Vec::new() };
        assert_eq!(topics(&mut events).await, expected, "{topic}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_publishes_to_sys_or_share_topics_whatever_the_acl_says() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl");
    std::fs::write(
        &acl,
        "user root\ntopic readwrite $SYS/#\ntopic readwrite $share/g/#\ntopic readwrite #\n",
    )
    .unwrap();
    // Without an ACL file, and with one granting `$SYS/#` and `$share/#` outright.
    let open = start(dir.path(), "listener 1 127.0.0.1\nallow_anonymous true\n").await;
    let other = tempfile::tempdir().unwrap();
    let granted = start(
        other.path(),
        &format!("listener 1 127.0.0.1\nallow_anonymous true\nacl_file {}\n", acl.display()),
    )
    .await;
    for port in [open.port(0), granted.port(0)] {
        let (watcher, mut events) = connect(as_user(port, "w", "root")).await;
        for filter in ["$SYS/#", "$share/g/#"] {
            assert!(!subscribe(&watcher, filter).await.is_error(), "{filter}");
        }
        let (root, _e) = connect(as_user(port, "r5", "root")).await;
        for topic in ["$SYS/broker/uptime", "$SYS", "$SYS/fake/alarm", "$share/g/t"] {
            assert_eq!(publish(&root, topic).await, Err(DENIED), "{port} {topic}");
        }
        let (root3, _e) = connect(v311(port, "r3").credentials("root", "")).await;
        root3.publish("$SYS/fake/alarm", "0", QoS::AtLeastOnce, true).await.unwrap();
        root3.publish("$SYS/broker/uptime", "forged", QoS::AtLeastOnce, true).await.unwrap();
        // The broker's own `$SYS` messages arrive; nothing the clients sent does.
        let forged = |got: Vec<(String, String)>| {
            got.into_iter()
                .filter(|(topic, payload)| !topic.starts_with("$SYS/broker/") || payload == "forged")
        };
        assert_eq!(forged(drain(&mut events).await).collect::<Vec<_>>(), []);
        // Not retained either.
        let (late, mut late_events) = connect(as_user(port, "late", "root")).await;
        assert!(!subscribe(&late, "$SYS/#").await.is_error());
        assert_eq!(forged(drain(&mut late_events).await).collect::<Vec<_>>(), []);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_acl_sees_topics_with_the_listeners_mount_point() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl");
    std::fs::write(&acl, "user alice\ntopic readwrite tenant-a/home/#\n").unwrap();
    let broker = start(
        dir.path(),
        &format!(
            "listener 1 127.0.0.1\nmount_point tenant-a/\nallow_anonymous true\nacl_file {}\n",
            acl.display()
        ),
    )
    .await;
    let (alice, mut events) = connect(as_user(broker.port(0), "alice-1", "alice")).await;
    assert_eq!(subscribe(&alice, "home/#").await, ReasonCode::GRANTED_QOS_1);
    publish(&alice, "home/kitchen").await.unwrap();
    assert_eq!(publish(&alice, "tenant-a/home/kitchen").await, Err(DENIED), "would be tenant-a/tenant-a/...");
    assert_eq!(topics(&mut events).await, ["home/kitchen"]);
}
