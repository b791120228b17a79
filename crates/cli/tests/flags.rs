//! `tern pub`, `tern sub` and `tern rr` flag by flag against mosquitto_pub, mosquitto_sub and mosquitto_rr:
//! `-d` packet logs, connection flags (`-I`, `-k`, `--unix`, `--will-retain`), `-D` properties, time formats
//! of `-F`, and the request/response of `rr`. Each test runs against Tern's broker (`name::tern`) and a real
//! Mosquitto broker (`name::mosquitto`).
#![allow(clippy::unwrap_used)] // tests may unwrap

#[macro_use]
mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{mask_client_ids, normalise, run, tool, tool_line_buffered, Subscriber};
use tern_test_support::{AnyBroker, BrokerKind};

against_both_brokers!(
    debug_log_of_a_publish_matches_mosquitto_pub_at_each_qos,
    debug_log_names_the_assigned_client_identifier_from_the_connack_on,
    debug_log_of_a_subscriber_matches_mosquitto_sub_at_each_qos,
    debug_log_of_a_request_matches_mosquitto_rr,
    unsubscribe_option_is_sent_with_the_subscribe_as_mosquitto_sub_sends_it,
    id_prefix_is_followed_by_the_process_id,
    host_option_picks_the_address_and_failures_read_as_mosquittos,
    connect_properties_on_mqtt_3_are_refused_before_connecting,
    keepalive_sends_pingreq_when_idle_as_mosquitto_sub_does,
    server_keep_alive_shortens_a_longer_keepalive,
    unix_socket_option_connects_to_a_socket_listener,
    will_retain_makes_the_will_of_a_killed_client_retained,
    connect_session_expiry_keeps_the_session_and_disconnect_expiry_zero_ends_it,
    publish_user_properties_reach_the_subscriber,
    subscribe_and_unsubscribe_properties_are_sent_as_mosquitto_sends_them,
    invalid_properties_are_refused_with_mosquittos_messages_and_status,
    time_formats_have_the_shape_mosquitto_sub_prints,
    rr_sends_the_response_topic_and_prints_the_first_response,
    rr_times_out_with_the_status_of_mosquitto_rr
);

/// Runs `tern <name>` and `mosquitto_<name>` with `args`; returns both outputs (ours first) after
/// asserting equal exit statuses.
fn both(name: &str, args: &[&str], stdin: &[u8]) -> [std::process::Output; 2] {
    let ours = run(tool(false, name, args), stdin);
    let theirs = run(tool(true, name, args), stdin);
    assert_eq!(ours.status.code(), theirs.status.code(), "status of {name} {args:?}: {ours:?} {theirs:?}");
    [ours, theirs]
}

/// Asserts that tern and mosquitto print the same `-d` log (client identifiers masked) for `args`.
fn same_debug_log(name: &str, args: &[&str]) -> String {
    let [ours, theirs] = both(name, args, b"");
    let ours = mask_client_ids(&String::from_utf8_lossy(&ours.stdout));
    assert_eq!(ours, mask_client_ids(&String::from_utf8_lossy(&theirs.stdout)), "{name} {args:?}");
    ours
}

fn debug_log_of_a_publish_matches_mosquitto_pub_at_each_qos(kind: BrokerKind) {
    // Test whether every packet of a QoS 0, 1 and 2 publish is logged as libmosquitto logs it, and whether
    // QoS 0 messages take their number in the sequence of message ids as libmosquitto's do.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    for version in ["311", "5"] {
        for qos in ["0", "1", "2"] {
            let args = ["-p", &port, "-d", "-i", "dbg", "-V", version, "-t", "d/t", "-m", "hello", "-q", qos];
            let log = same_debug_log("pub", &args);
            assert!(log.contains("m1, 'd/t', ... (5 bytes))"), "{log}");
        }
        let args = ["-p", &port, "-d", "-i", "dbg", "-V", version, "-t", "d/t", "-m", "x", "--repeat", "3"];
        let log = same_debug_log("pub", &args);
        assert!(log.contains("(d0, q0, r0, m3, 'd/t', ... (1 bytes))"), "{log}");
    }
    let log = same_debug_log("pub", &["-p", &port, "-d", "-t", "d/t", "-l", "-q", "1"]);
    assert!(log.starts_with("Client (null) sending CONNECT"), "{log}");
}

fn debug_log_names_the_assigned_client_identifier_from_the_connack_on(kind: BrokerKind) {
    // Test whether, with MQTT 5.0 and no -i, the lines from CONNACK on name the Assigned Client Identifier
    // [MQTT-3.2.2-16] rather than "(null)".
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    let log = same_debug_log("pub", &["-p", &port, "-d", "-V", "5", "-t", "d/t", "-m", "x", "-q", "1"]);
    let lines: Vec<_> = log.lines().collect();
    assert_eq!(lines[0], "Client (null) sending CONNECT");
    assert_eq!(lines[1], "Client <id> received CONNACK (0)");
    assert!(lines[2..].iter().all(|l| l.starts_with("Client <id> ")), "{log}");
}

fn debug_log_of_a_subscriber_matches_mosquitto_sub_at_each_qos(kind: BrokerKind) {
    // Test whether SUBSCRIBE, SUBACK and incoming messages at QoS 2, 1 and 0 are logged as mosquitto_sub
    // logs them, each message printed after its acknowledgement (a QoS 2 message after PUBREL and PUBCOMP).
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    let mut logs = Vec::new();
    for real in [false, true] {
        let topic = format!("ds/{real}");
        let cmd = tool_line_buffered(
            real,
            "sub",
            &["-p", &port, "-d", "-i", "dsub", "-t", &topic, "-t", "x/y", "-q", "2", "-C", "3"],
        );
        let (mut sub, mut log) = Subscriber::start_until(cmd, "Subscribed (mid: 1): 2, 2");
        log.push("Subscribed (mid: 1): 2, 2\n".into());
        // Each message is printed before the next is published: they arrive in this order.
        for (qos, payload) in [("2", "two"), ("1", "one"), ("0", "zero")] {
            let out = run(tool(true, "pub", &["-p", &port, "-t", &topic, "-m", payload, "-q", qos]), b"");
            assert!(out.status.success(), "{out:?}");
            loop {
                let mut line = String::new();
                assert!(std::io::BufRead::read_line(&mut sub.stdout, &mut line).unwrap() > 0, "{log:?}");
                log.push(line.clone());
                if line == format!("{payload}\n") {
                    break;
                }
            }
        }
        let (rest, code) = sub.finish();
        assert_eq!(code, 0);
        let log = log.concat() + &String::from_utf8_lossy(&rest);
        logs.push(mask_client_ids(&log.replace(&topic, "ds/T")));
    }
    assert_eq!(logs[0], logs[1]);
    assert!(logs[0].contains("Client <id> received PUBREL (Mid: 1)\nClient <id> sending PUBCOMP (m1)\ntwo\n"));
}

fn debug_log_of_a_request_matches_mosquitto_rr(kind: BrokerKind) {
    // Test whether tern rr -d logs what mosquitto_rr does: no "Subscribed" line, and the request numbered
    // after the SUBSCRIBE.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    let log =
        same_debug_log("rr", &["-p", &port, "-d", "-i", "drr", "-t", "rq", "-e", "rs", "-m", "x", "-W", "1"]);
    assert!(!log.contains("Subscribed"), "{log}");
    assert!(log.contains("sending PUBLISH (d0, q0, r0, m2, 'rq', ... (1 bytes))"), "{log}");
}

fn unsubscribe_option_is_sent_with_the_subscribe_as_mosquitto_sub_sends_it(kind: BrokerKind) {
    // Test whether -U sends one UNSUBSCRIBE per topic right after the SUBSCRIBE, before any SUBACK, numbered
    // after it, and whether the answers and a message then log as mosquitto_sub logs them.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    let mut logs = Vec::new();
    for real in [false, true] {
        let topic = format!("us/{real}");
        let args =
            ["-p", &port, "-d", "-i", "us", "-V", "5", "-t", &topic, "-U", "a/b", "-U", "c/d", "-C", "1"];
        let (mut sub, mut log) =
            Subscriber::start_until(tool_line_buffered(real, "sub", &args), "Subscribed");
        log.push("Subscribed\n".into());
        for _ in 0..2 {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut sub.stdout, &mut line).unwrap();
            log.push(line);
        }
        let out = run(tool(true, "pub", &["-p", &port, "-t", &topic, "-m", "m"]), b"");
        assert!(out.status.success());
        let (rest, code) = sub.finish();
        assert_eq!(code, 0);
        logs.push(mask_client_ids(&(log.concat() + &String::from_utf8_lossy(&rest)).replace(&topic, "us/T")));
    }
    assert_eq!(logs[0], logs[1]);
    let want = "sending SUBSCRIBE (Mid: 1, Topic: us/T, QoS: 0, Options: 0x00)\n\
                Client <id> sending UNSUBSCRIBE (Mid: 2, Topic: a/b)\n\
                Client <id> sending UNSUBSCRIBE (Mid: 3, Topic: c/d)\n\
                Client <id> received SUBACK\n";
    assert!(logs[0].contains(want), "{}", logs[0]);
}

fn id_prefix_is_followed_by_the_process_id(kind: BrokerKind) {
    // Test whether -I PREFIX makes the client identifier PREFIX followed by the process id, as mosquitto's
    // clients make it.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    for real in [false, true] {
        let mut cmd = tool(real, "pub", &["-p", &port, "-d", "-I", "pre-", "-t", "i/t", "-m", "x"]);
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap();
        let pid = child.id();
        let out = common::wait(child, Duration::from_secs(20));
        let log = String::from_utf8_lossy(&out.stdout);
        assert!(log.starts_with(&format!("Client pre-{pid} sending CONNECT\n")), "{log}");
    }
}

fn host_option_picks_the_address_and_failures_read_as_mosquittos(kind: BrokerKind) {
    // Test whether -h is the host connected to: the broker's address works, another loopback address (no
    // listener) is refused, a name that cannot resolve (.invalid, RFC 6761) is a lookup error.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    for (host, status) in [("127.0.0.1", 0), ("127.0.0.2", 1), ("broker.invalid", 1)] {
        let [ours, theirs] = both("pub", &["-h", host, "-p", &port, "-t", "h/t", "-m", "x"], b"");
        assert_eq!(ours.status.code(), Some(status), "{host}");
        assert_eq!(normalise(&ours.stderr), normalise(&theirs.stderr), "{host}");
    }
}

fn connect_properties_on_mqtt_3_are_refused_before_connecting(kind: BrokerKind) {
    // Test whether -D connect properties followed by -V 311 or 31 end the tool before it connects, as
    // libmosquitto refuses them.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    for (name, args) in [
        (
            "pub",
            &["-t", "v3/t", "-m", "x", "-D", "connect", "session-expiry-interval", "10", "-V", "311"][..],
        ),
        ("pub", &["-t", "v3/t", "-m", "x", "-D", "connect", "user-property", "a", "b", "-V", "31"]),
        ("sub", &["-t", "v3/t", "-W", "1", "-D", "connect", "user-property", "a", "b", "-V", "311"]),
    ] {
        let mut all = vec!["-p", port.as_str(), "-d"];
        all.extend_from_slice(args);
        let [ours, theirs] = both(name, &all, b"");
        assert_eq!(normalise(&ours.stderr), normalise(&theirs.stderr), "{args:?}");
        assert_eq!(ours.stdout, theirs.stdout, "{args:?}");
    }
}

fn keepalive_sends_pingreq_when_idle_as_mosquitto_sub_does(kind: BrokerKind) {
    // Test whether -k 5 is the keep-alive: an idle client sends PINGREQ after 5 s [MQTT-3.1.2-23] (3.1.1).
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    let log = same_debug_log("sub", &["-p", &port, "-d", "-i", "ka", "-k", "5", "-t", "k/t", "-W", "7"]);
    assert!(log.contains("Client <id> sending PINGREQ\nClient <id> received PINGRESP\n"), "{log}");
}

fn server_keep_alive_shortens_a_longer_keepalive(kind: BrokerKind) {
    // Test whether a broker's Server Keep Alive (max_keepalive 10) replaces -k 60 [MQTT-3.2.2-21]: the
    // client pings after 10 s of silence, as mosquitto_sub does.
    let broker = AnyBroker::start_with(kind, "allow_anonymous true\nmax_keepalive 10\n");
    let port = broker.port.to_string();
    let args = ["-p", &port, "-d", "-i", "ska", "-V", "5", "-k", "60", "-t", "k/t", "-W", "12"];
    let log = same_debug_log("sub", &args);
    assert!(log.contains("Client <id> sending PINGREQ\nClient <id> received PINGRESP\n"), "{log}");
}

fn unix_socket_option_connects_to_a_socket_listener(kind: BrokerKind) {
    // Test whether --unix PATH connects over a Unix domain socket (mosquitto.conf `listener 0 PATH`).
    let dir = tempfile::tempdir().unwrap();
    // Mosquitto started as root binds the socket as its own unprivileged user.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let sock = dir.path().join("mqtt.sock");
    let sock = sock.to_str().unwrap();
    let broker = AnyBroker::start_with(kind, &format!("listener 0 {sock}\nallow_anonymous true\n"));
    let port = broker.port.to_string();
    for real in [false, true] {
        let out =
            run(tool(real, "pub", &["--unix", sock, "-t", "u/t", "-m", "over unix", "-r", "-q", "1"]), b"");
        assert!(out.status.success(), "{out:?}");
        let got = run(tool(real, "sub", &["--unix", sock, "-t", "u/t", "-C", "1", "-W", "5"]), b"");
        assert_eq!(String::from_utf8_lossy(&got.stdout), "over unix\n");
        // The same broker's TCP listener sees the message too: the socket was its own.
        let tcp = run(tool(true, "sub", &["-p", &port, "-t", "u/t", "-C", "1", "-W", "5"]), b"");
        assert_eq!(String::from_utf8_lossy(&tcp.stdout), "over unix\n");
    }
}

fn will_retain_makes_the_will_of_a_killed_client_retained(kind: BrokerKind) {
    // Test whether --will-retain publishes the will of a client that vanished as a retained message
    // [MQTT-3.1.2-17]: a subscriber arriving later gets it with the retain flag.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    for real in [false, true] {
        let topic = format!("w/{real}");
        let args = [
            "-p",
            &port,
            "-t",
            "sync/#",
            "-v",
            "--will-topic",
            &topic,
            "--will-payload",
            "gone",
            "--will-retain",
        ];
        let mut sub = Subscriber::start(&broker, tool(real, "sub", &args));
        sub.child.kill().unwrap();
        let _ = sub.child.wait();
        let got =
            run(tool(true, "sub", &["-p", &port, "-t", &topic, "-C", "1", "-W", "5", "-F", "%r %t %p"]), b"");
        assert_eq!(String::from_utf8_lossy(&got.stdout), format!("1 {topic} gone\n"), "{got:?}");
    }
}

fn connect_session_expiry_keeps_the_session_and_disconnect_expiry_zero_ends_it(kind: BrokerKind) {
    // Test whether -D connect session-expiry-interval keeps the session after the client leaves
    // [MQTT-3.1.2-23] (5.0), and whether -D disconnect session-expiry-interval 0 ends it at DISCONNECT
    // (5.0, 3.14.2.2.2).
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    for real in [false, true] {
        for (disconnect_expiry, kept) in [(None, true), (Some("0"), false)] {
            let id = format!("se-{real}-{kept}");
            let topic = format!("se/{id}");
            let mut args = vec!["-p", &port, "-i", &id, "-t", &topic, "-q", "1", "-E"];
            args.extend(["-D", "connect", "session-expiry-interval", "60"]);
            if let Some(v) = disconnect_expiry {
                args.extend(["-D", "disconnect", "session-expiry-interval", v]);
            }
            assert!(run(tool(real, "sub", &args), b"").status.success());
            let out = run(tool(true, "pub", &["-p", &port, "-t", &topic, "-m", "queued", "-q", "1"]), b"");
            assert!(out.status.success());
            // Resume without subscribing again: only a kept session has the subscription and the message.
            let resume = ["-p", &port, "-i", &id, "-c", "-V", "5", "-t", "other/t", "-C", "1", "-W", "2"];
            let got = run(tool(real, "sub", &resume), b"");
            let want = if kept { "queued\n" } else { "" };
            assert_eq!(String::from_utf8_lossy(&got.stdout), want, "{real} {disconnect_expiry:?}");
        }
    }
}

fn publish_user_properties_reach_the_subscriber(kind: BrokerKind) {
    // Test whether -D publish user-property (twice) arrives in order, as %P prints it [MQTT-3.3.2-18].
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    for real in [false, true] {
        let topic = format!("up/{real}");
        let args = ["-p", &port, "-t", &topic, "-m", "x", "-r", "-D", "publish", "user-property", "k", "v"];
        let mut args = args.to_vec();
        args.extend(["-D", "publish", "user-property", "k2", "v 2"]);
        assert!(run(tool(real, "pub", &args), b"").status.success());
        let [ours, theirs] =
            both("sub", &["-p", &port, "-t", &topic, "-V", "5", "-C", "1", "-W", "5", "-F", "%P|%p"], b"");
        assert_eq!(String::from_utf8_lossy(&ours.stdout), "k:v k2:v 2|x\n");
        assert_eq!(ours.stdout, theirs.stdout);
    }
}

fn subscribe_and_unsubscribe_properties_are_sent_as_mosquitto_sends_them(kind: BrokerKind) {
    // Test whether -D subscribe / unsubscribe / disconnect properties are accepted by both brokers and leave
    // the exchange as mosquitto_sub's: the subscription works, the log is the same.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    let mut args = vec!["-p", &port, "-d", "-i", "sp", "-t", "sp/t", "-E"];
    args.extend(["-D", "subscribe", "user-property", "sk", "sv"]);
    args.extend(["-D", "subscribe", "subscription-identifier", "7"]);
    args.extend(["-D", "unsubscribe", "user-property", "uk", "uv"]);
    args.extend(["-D", "disconnect", "user-property", "dk", "dv"]);
    let log = same_debug_log("sub", &args);
    assert!(log.contains("Subscribed (mid: 1): 0"), "{log}");
}

fn invalid_properties_are_refused_with_mosquittos_messages_and_status(kind: BrokerKind) {
    // Test whether -D errors (unknown command or name, property not allowed in the packet (5.0,
    // 2.2.2.2), out of range, forbidden values, duplicates) print what mosquitto_pub prints and exit the same.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    let cases: &[&[&str]] = &[
        &["publish", "session-expiry-interval", "5"],
        &["connect", "content-type", "x"],
        &["will", "receive-maximum", "1"],
        &["bogus", "user-property", "a", "b"],
        &["publish", "nosuch", "1"],
        &["publish", "user-property", "k"],
        &["publish"],
        &["auth", "authentication-method", "x"],
        &["connect", "receive-maximum", "70000"],
        &["publish", "message-expiry-interval", "-1"],
        &["publish", "payload-format-indicator", "256"],
        &["connect", "receive-maximum", "abc"],
        &["connect", "maximum-packet-size", "0"],
        &["connect", "request-problem-information", "2"],
        &["publish", "topic-alias", "0"],
        &["connect", "receive-maximum", "5", "-D", "connect", "receive-maximum", "6"],
        &["publish", "correlation-data", "a", "-D", "publish", "correlation-data", "b"],
    ];
    for case in cases {
        let mut args = vec!["-p", &port, "-t", "ip/t", "-m", "x", "-D"];
        args.extend_from_slice(case);
        let [ours, theirs] = both("pub", &args, b"");
        assert_eq!(ours.status.code(), Some(1), "{case:?}");
        assert_eq!(normalise(&ours.stderr), normalise(&theirs.stderr), "{case:?}");
    }
}

fn time_formats_have_the_shape_mosquitto_sub_prints(kind: BrokerKind) {
    // Test whether %I (ISO 8601), %U (unix time with nanoseconds) and @-strftime codes print as mosquitto_sub
    // prints them: the same text once every digit is masked, and the time of now.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    let out = run(tool(true, "pub", &["-p", &port, "-t", "tf/t", "-m", "x", "-r", "-q", "1"]), b"");
    assert!(out.status.success());
    let format = "%I|%U|@Y-@m-@dT@H:@M:@S|@@|%10I|%-30U|\\t%t";
    let [ours, theirs] = both("sub", &["-p", &port, "-t", "tf/t", "-C", "1", "-W", "5", "-F", format], b"");
    let shape = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .chars()
            .map(|c| if c.is_ascii_digit() { '0' } else { c })
            .collect::<String>()
    };
    assert_eq!(shape(&ours.stdout), shape(&theirs.stdout));
    let text = String::from_utf8_lossy(&ours.stdout);
    let fields: Vec<_> = text.split('|').collect();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let unix: f64 = fields[1].parse().unwrap();
    assert!((now - unix).abs() < 60.0, "{text}");
    assert_eq!(fields[1].split_once('.').map(|(_, ns)| ns.len()), Some(9), "{text}");
    assert!(fields[0].starts_with(&fields[2][..10]), "{text}");
}

fn rr_sends_the_response_topic_and_prints_the_first_response(kind: BrokerKind) {
    // Test whether tern rr sends -e as the Response Topic and -D publish correlation-data as Correlation Data
    // (none when not given; 5.0, 4.10), and prints the first message on the response topic whatever its
    // correlation data, as mosquitto_rr does.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    for real in [false, true] {
        let req = format!("rq/{real}");
        let resp = format!("rs/{real}");
        let responder_args =
            ["-p", &port, "-V", "5", "-t", &req, "-t", "sync/#", "-v", "-C", "3", "-F", "%t|%p|%R|%D"];
        let mut responder = Subscriber::start(&broker, tool(true, "sub", &responder_args));
        let out =
            run(tool(real, "rr", &["-p", &port, "-t", &req, "-e", &resp, "-m", "plain", "-W", "1"]), b"");
        assert_eq!(out.status.code(), Some(27));
        let corr =
            ["-p", &port, "-t", &req, "-e", &resp, "-m", "with", "-D", "publish", "correlation-data", "c1"];
        let mut rr = tool(real, "rr", &corr);
        rr.args(["-W", "5", "-v"]);
        rr.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let rr = rr.spawn().unwrap();
        // The requests as the responder sees them; once the second is there, tern rr listens for answers.
        let mut seen = String::new();
        for _ in 0..2 {
            std::io::BufRead::read_line(&mut responder.stdout, &mut seen).unwrap();
        }
        assert_eq!(seen, format!("{req}|plain|{resp}|\n{req}|with|{resp}|c1\n"));
        let answer = |m: &str, c: &str| {
            let args = ["-p", &port, "-t", &resp, "-m", m, "-D", "publish", "correlation-data", c];
            assert!(run(tool(true, "pub", &args), b"").status.success());
        };
        answer("other", "zz");
        answer("mine", "c1");
        let out = common::wait(rr, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{resp} other\n"));
        assert_eq!(responder.finish().1, 0);
    }
}

fn rr_times_out_with_the_status_of_mosquitto_rr(kind: BrokerKind) {
    // Test whether -W ends tern rr without a response with "Timed out" and mosquitto_rr's exit status.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    let [ours, theirs] = both("rr", &["-p", &port, "-t", "rt/q", "-e", "rt/r", "-m", "x", "-W", "1"], b"");
    assert_eq!(ours.status.code(), Some(27));
    assert_eq!(normalise(&ours.stderr), normalise(&theirs.stderr));
    assert_eq!(normalise(&ours.stderr), "Timed out\n");
}
