//! `tern pub`, `tern sub` and `tern rr` compared with mosquitto_pub, mosquitto_sub and mosquitto_rr: same
//! output, messages and exit statuses, each test against Tern's broker (`name::tern`) and against a real
//! Mosquitto broker (`name::mosquitto`).
#![allow(clippy::unwrap_used, clippy::async_yields_async)] // tests may unwrap; the responder task handle is returned on purpose

#[macro_use]
mod common;

use common::{normalise, run, tern, tool, Subscriber};
use tern_test_support::{AnyBroker, BrokerKind};

against_both_brokers!(
    payload_verbose_and_format_output_match_mosquitto_sub,
    json_output_matches_mosquitto_sub_apart_from_the_time,
    retained_filters_match_mosquitto_sub,
    timeouts_and_exit_codes_match_mosquitto_sub,
    refused_connections_print_the_same_message_and_exit_with_the_connack_code,
    tern_pub_modes_deliver_what_mosquitto_pub_delivers,
    tern_sub_live_messages_match_mosquitto_sub_at_each_qos,
    remove_retained_clears_what_it_prints,
    retained_only_exits_at_the_first_live_message,
    defaults_file_in_xdg_config_home_is_read_as_mosquitto_reads_its_own,
    will_of_a_killed_tern_sub_is_published,
    url_option_carries_host_port_credentials_and_topic,
    tern_rr_prints_the_response_to_its_request,
    persistent_session_flags_queue_what_arrived_while_away,
    no_stale_flag_skips_retained_messages
);

/// Publishes the retained messages the format tests print (MQTT 5.0, with properties).
fn retained_fixture(broker: &AnyBroker) {
    let port = broker.port.to_string();
    let publish = |args: &[&str]| {
        let mut all = vec!["-p", &port, "-r", "-V", "5"];
        all.extend_from_slice(args);
        let out = run(tool(true, "pub", &all), b"");
        assert!(out.status.success(), "{out:?}");
    };
    publish(&[
        "-t",
        "fx/a",
        "-m",
        "{\"a\": [1, 2.50, {\"b\": null}]}",
        "-q",
        "1",
        "-D",
        "publish",
        "content-type",
        "text/json",
        "-D",
        "publish",
        "user-property",
        "k",
        "v",
        "-D",
        "publish",
        "user-property",
        "k2",
        "v2",
        "-D",
        "publish",
        "response-topic",
        "r/t",
        "-D",
        "publish",
        "correlation-data",
        "cd1",
        "-D",
        "publish",
        "payload-format-indicator",
        "1",
    ]);
    publish(&["-t", "fx/b", "-m", "", "-q", "2"]); // an empty retained message deletes: fx/b stays absent
    publish(&["-t", "fx/c", "-m", "he\"l\\lo\nx\u{1}y\u{e9}"]);
}

/// Runs `tern sub` and `mosquitto_sub` with the same arguments; asserts equal stdout, stderr and status.
fn same_sub_output(broker: &AnyBroker, args: &[&str]) -> String {
    let port = broker.port.to_string();
    let mut all = vec!["-p", port.as_str(), "-W", "5"];
    all.extend_from_slice(args);
    let ours = run(tool(false, "sub", &all), b"");
    let theirs = run(tool(true, "sub", &all), b"");
    assert_eq!(normalise(&ours.stderr), normalise(&theirs.stderr), "stderr of {args:?}");
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        String::from_utf8_lossy(&theirs.stdout),
        "stdout of {args:?}"
    );
    assert_eq!(ours.status.code(), theirs.status.code(), "status of {args:?}");
    String::from_utf8_lossy(&ours.stdout).into_owned()
}

fn payload_verbose_and_format_output_match_mosquitto_sub(kind: BrokerKind) {
    // Test whether every %-code, flag, width, precision, escape and -v/-N prints as mosquitto_sub prints it.
    let broker = AnyBroker::start(kind);
    retained_fixture(&broker);
    for version in ["311", "5"] {
        let base = ["-t", "fx/#", "-C", "2", "-q", "2", "-V", version];
        let formats: &[&[&str]] = &[
            &[],
            &["-v"],
            &["-v", "-N"],
            &["-N"],
            &["-F", "%t|%q|%r|%l|%x|%X|%p|%%|%m"],
            &["-F", "[%20x][%-20p][%05p][%3p][%4x][%-5l][%05l][%-05l][%.2p][%010t][%-3q][%5r]"],
            &["-F", "%A|%C|%D|%E|%F|%P|%R|%S|%5A|%-5F|%05E|%8.3C|%-6R|"],
            &["-F", "\\\\ \\a\\e\\n\\r\\t\\v\\0 @@ %-10.3t %010.5p", "-N"],
        ];
        for format in formats {
            let mut args = base.to_vec();
            args.extend_from_slice(format);
            same_sub_output(&broker, &args);
        }
    }
}

/// Removes the time stamps (`"tst":"..."`) that differ between two runs.
fn mask_tst(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\"tst\":") {
        out.push_str(&rest[..i + 6]);
        rest = &rest[i + 6..];
        let skip = rest.find('"').map(|q| q + 1).unwrap_or(0);
        let end = rest[skip..].find('"').map(|e| skip + e + 1).unwrap_or(rest.len());
        out.push_str("TST");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn json_output_matches_mosquitto_sub_apart_from_the_time(kind: BrokerKind) {
    // Property order follows the wire in mosquitto_sub and a fixed order in tern, so the JSON tests use
    // messages whose properties mosquitto forwards in that same order.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    for (topic, payload) in [
        (
            "js/a",
            "{\"x\": [1, 2.50, 1e3, -0.1, true, null, {}, [], {\"y\": \"z\\u00e9\"}], \"a\": 12345678901}",
        ),
        ("js/b", "not json"),
        ("js/c", "[]"),
    ] {
        let out = run(tool(true, "pub", &["-p", &port, "-t", topic, "-m", payload, "-r", "-q", "1"]), b"");
        assert!(out.status.success());
    }
    for args in [&["-F", "%j"][..], &["-F", "%J"], &["-F", "%j", "--pretty"], &["-F", "%J|%j", "--pretty"]] {
        let mut all = vec!["-p", port.as_str(), "-W", "5", "-t", "js/#", "-C", "3", "-q", "1"];
        all.extend_from_slice(args);
        let ours = run(tool(false, "sub", &all), b"");
        let theirs = run(tool(true, "sub", &all), b"");
        assert_eq!(
            mask_tst(&String::from_utf8_lossy(&ours.stdout)),
            mask_tst(&String::from_utf8_lossy(&theirs.stdout)),
            "{args:?}"
        );
        assert_eq!(normalise(&ours.stderr), normalise(&theirs.stderr));
        assert_eq!(ours.status.code(), theirs.status.code());
    }
}

fn retained_filters_match_mosquitto_sub(kind: BrokerKind) {
    // -R, --retained-only, -T, -U, -E, -C with retained messages.
    let broker = AnyBroker::start(kind);
    retained_fixture(&broker);
    same_sub_output(&broker, &["-t", "fx/#", "-v", "-T", "fx/b", "-C", "2"]);
    same_sub_output(&broker, &["-t", "fx/#", "-v", "-T", "fx/+", "-E"]);
    same_sub_output(&broker, &["-t", "fx/#", "-v", "-E"]);
    same_sub_output(&broker, &["-t", "fx/#", "-t", "fx/a", "-v", "-C", "3"]);
    same_sub_output(&broker, &["-t", "fx/a", "-U", "fx/b", "-v", "-C", "1"]);
    same_sub_output(&broker, &["-t", "fx/a", "-v", "-C", "1", "-V", "5", "--retain-as-published"]);
}

fn timeouts_and_exit_codes_match_mosquitto_sub(kind: BrokerKind) {
    let broker = AnyBroker::start(kind);
    same_sub_output(&broker, &["-t", "nothing/here", "-W", "1"]);
    same_sub_output(&broker, &["-t", "nothing/here", "-E"]);
}

fn refused_connections_print_the_same_message_and_exit_with_the_connack_code(kind: BrokerKind) {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    assert!(run(tool(true, "passwd", &["-c", "-b", pw.to_str().unwrap(), "u", "p"]), b"").status.success());
    let broker =
        AnyBroker::start_with(kind, &format!("allow_anonymous false\npassword_file {}\n", pw.display()));
    let port = broker.port.to_string();
    for version in ["31", "311", "5"] {
        for creds in [&[][..], &["-u", "u", "-P", "wrong"], &["-u", "nobody", "-P", "p"]] {
            for name in ["sub", "pub"] {
                let mut args = vec!["-p", port.as_str(), "-t", "a", "-V", version];
                if name == "pub" {
                    args.extend_from_slice(&["-m", "x"]);
                }
                args.extend_from_slice(creds);
                let ours = run(tool(false, name, &args), b"");
                let theirs = run(tool(true, name, &args), b"");
                assert_eq!(normalise(&ours.stderr), normalise(&theirs.stderr), "{name} {args:?}");
                assert_eq!(ours.status.code(), theirs.status.code(), "{name} {args:?}");
            }
        }
    }
    // The right password gets in.
    let ok = run(tool(false, "pub", &["-p", &port, "-t", "a", "-m", "x", "-u", "u", "-P", "p"]), b"");
    assert!(ok.status.success(), "{ok:?}");
    // Quiet mode prints nothing but keeps the status.
    let quiet = run(tool(false, "sub", &["-p", &port, "-t", "a", "--quiet"]), b"");
    assert!(quiet.stderr.is_empty());
    assert_eq!(quiet.status.code(), Some(5));
}

#[test]
fn tern_broker_refuses_connections_with_the_codes_mosquitto_uses() {
    // Scripts test mosquitto_pub's exit status, which is the CONNACK code: a failed login is 5 / 0x87 Not
    // authorized with Mosquitto 2.0, whether the user is unknown or the password wrong.
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    assert!(run(tool(true, "passwd", &["-c", "-b", pw.to_str().unwrap(), "u", "p"]), b"").status.success());
    let config = format!("allow_anonymous false\npassword_file {}\n", pw.display());
    let tern = AnyBroker::start_with(BrokerKind::Tern, &config);
    let mosquitto = AnyBroker::start_with(BrokerKind::Mosquitto, &config);
    for version in ["31", "311", "5"] {
        for creds in
            [&[][..], &["-u", "u", "-P", "wrong"], &["-u", "nobody", "-P", "p"], &["-u", "u", "-P", "p"]]
        {
            let outputs: Vec<_> = [&tern, &mosquitto]
                .iter()
                .map(|broker| {
                    let port = broker.port.to_string();
                    let mut args = vec!["-p", port.as_str(), "-t", "a", "-m", "x", "-V", version];
                    args.extend_from_slice(creds);
                    run(tool(true, "pub", &args), b"")
                })
                .collect();
            assert_eq!(
                (outputs[0].status.code(), normalise(&outputs[0].stderr)),
                (outputs[1].status.code(), normalise(&outputs[1].stderr)),
                "tern, then mosquitto: -V {version} {creds:?}"
            );
        }
    }
}

#[test]
fn connection_refused_by_the_network_matches() {
    let port = tern_test_support::mosquitto::free_port().to_string();
    for name in ["pub", "sub"] {
        let args = ["-p", port.as_str(), "-t", "a", "-m", "x"];
        let args = if name == "pub" { &args[..] } else { &args[..4] };
        let ours = run(tool(false, name, args), b"");
        let theirs = run(tool(true, name, args), b"");
        assert_eq!(normalise(&ours.stderr), normalise(&theirs.stderr));
        assert_eq!(ours.status.code(), theirs.status.code());
    }
}

#[test]
fn argument_errors_match_mosquitto() {
    let cases: &[(&str, &[&str])] = &[
        ("pub", &["-t", "a", "-q", "3", "-m", "x"]),
        ("pub", &["-z"]),
        ("pub", &["-t", "a/+", "-m", "x"]),
        ("pub", &["-t", "a", "-m", "x", "-n"]),
        ("pub", &["-t", "a", "-m", "x", "-k", "2"]),
        ("pub", &["-t", "a", "-m", "x", "-V", "6"]),
        ("pub", &["-t", "a", "-m", "x", "-i", "a", "-I", "b"]),
        ("pub", &["-t", "a", "-m", "x", "--will-retain"]),
        ("pub", &["-t", "a", "-m", "x", "-x", "abc"]),
        ("pub", &["-t", "a", "-m", "x", "-p", "70000"]),
        ("pub", &["-t", "a", "-m"]),
        ("pub", &["-t", "a", "-m", "x", "-v"]),
        ("sub", &["-t", "a", "-F", "%z"]),
        ("sub", &["-t", "a", "-F", "%"]),
        ("sub", &["-t", "a", "-F", "\\q"]),
        ("sub", &["-t", "a/#/b"]),
        ("sub", &["-t", "a", "-c"]),
        ("sub", &["-t", "a", "-C", "0"]),
        ("sub", &["-t", "a", "-W", "0"]),
        ("sub", &["-t", "a", "-R", "--retained-only"]),
        ("sub", &["-t", "a", "-m", "x"]),
        ("sub", &[]),
        ("pub", &["-t", "a", "-f", "/nonexistent/file"]),
        ("rr", &["-t", "a", "-m", "x"]),
    ];
    for (name, args) in cases {
        let ours = run(tool(false, name, args), b"");
        let theirs = run(tool(true, name, args), b"");
        assert_eq!(normalise(&ours.stderr), normalise(&theirs.stderr), "{name} {args:?}");
        assert_eq!(ours.status.code(), theirs.status.code(), "{name} {args:?}");
    }
}

fn tern_pub_modes_deliver_what_mosquitto_pub_delivers(kind: BrokerKind) {
    // -m, -f, -s, -n, -l, --repeat, -r, QoS 0/1/2 and each protocol version: the same messages reach a
    // mosquitto_sub for tern pub and for mosquitto_pub.
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload");
    std::fs::write(&file, b"from a file\nline two").unwrap();
    let file = file.to_str().unwrap().to_owned();
    let cases: Vec<(Vec<&str>, &[u8], usize)> = vec![
        (vec!["-m", "23.5", "-q", "1"], b"", 1),
        (vec!["-m", "23.5", "-q", "2", "-V", "5"], b"", 1),
        (vec!["-m", "23.5", "-V", "31"], b"", 1),
        (vec!["-f", &file], b"", 1),
        (vec!["-s", "-q", "1"], b"all of\nstdin", 1),
        (vec!["-n"], b"", 1),
        (vec!["-l", "-q", "1"], b"a\n\nb\r\nc", 4),
        (vec!["-m", "again", "--repeat", "3", "--repeat-delay", "0.01"], b"", 3),
        (
            vec![
                "-m",
                "props",
                "-V",
                "5",
                "-D",
                "publish",
                "user-property",
                "k",
                "v",
                "-D",
                "publish",
                "content-type",
                "c/t",
            ],
            b"",
            1,
        ),
    ];
    for (args, stdin, count) in cases {
        let mut outputs = Vec::new();
        for real in [true, false] {
            let count = (count + 1).to_string();
            let sub = Subscriber::start(
                &broker,
                tool(
                    true,
                    "sub",
                    &[
                        "-p",
                        &port,
                        "-t",
                        "sync/#",
                        "-t",
                        "home/temp",
                        "-q",
                        "2",
                        "-V",
                        "5",
                        "-C",
                        &count,
                        "-F",
                        "%t %q %r [%p] %P %C",
                        "-W",
                        "10",
                    ],
                ),
            );
            let mut all = vec!["-p", port.as_str(), "-t", "home/temp"];
            all.extend_from_slice(&args);
            let out = run(tool(!real, "pub", &all), stdin);
            assert!(out.status.success(), "{args:?}: {out:?}");
            outputs.push(sub.finish());
        }
        assert_eq!(
            String::from_utf8_lossy(&outputs[0].0),
            String::from_utf8_lossy(&outputs[1].0),
            "{args:?}"
        );
        assert_eq!(outputs[0].1, 0);
    }
}

fn tern_sub_live_messages_match_mosquitto_sub_at_each_qos(kind: BrokerKind) {
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    for version in ["31", "311", "5"] {
        let args =
            ["-p", port.as_str(), "-t", "sync/#", "-t", "live/#", "-v", "-q", "2", "-C", "7", "-V", version];
        let ours = Subscriber::start(&broker, tool(false, "sub", &args));
        let theirs = Subscriber::start(&broker, tool(true, "sub", &args));
        for (qos, msg) in [("0", "zero"), ("1", "one"), ("2", "two"), ("1", ""), ("2", "last")] {
            let out = run(
                tool(true, "pub", &["-p", &port, "-t", &format!("live/q{qos}"), "-m", msg, "-q", qos]),
                b"",
            );
            assert!(out.status.success());
        }
        let out = run(tool(true, "pub", &["-p", &port, "-t", "live/null", "-n"]), b"");
        assert!(out.status.success());
        let (ours, theirs) = (ours.finish(), theirs.finish());
        // libmosquitto hands a QoS 2 message over at PUBREL, tern at PUBLISH (both allowed by
        // [MQTT-4.3.3]), so QoS 1 and 2 messages may interleave differently: compare as sets.
        let lines = |b: &[u8]| {
            let mut v: Vec<String> = String::from_utf8_lossy(b).lines().map(str::to_owned).collect();
            v.sort();
            v
        };
        assert_eq!(lines(&ours.0), lines(&theirs.0), "{version}");
        assert_eq!(ours.1, theirs.1);
    }
}

fn remove_retained_clears_what_it_prints(kind: BrokerKind) {
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    for t in ["rm/a", "rm/b"] {
        assert!(run(tool(true, "pub", &["-p", &port, "-t", t, "-m", "x", "-r"]), b"").status.success());
    }
    let out = run(
        tool(false, "sub", &["-p", &port, "-t", "rm/#", "--remove-retained", "-C", "2", "-v", "-W", "5"]),
        b"",
    );
    // The order of retained messages for a wildcard is the broker's (Mosquitto: the order they were set).
    let mut printed: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
    printed.sort();
    assert_eq!(printed, ["rm/a x", "rm/b x"]);
    // Nothing retained is left: a new subscriber times out.
    let out = run(tool(true, "sub", &["-p", &port, "-t", "rm/#", "-W", "1"]), b"");
    assert_eq!(out.status.code(), Some(27));
    assert!(out.stdout.is_empty());
}

fn retained_only_exits_at_the_first_live_message(kind: BrokerKind) {
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    assert!(run(tool(true, "pub", &["-p", &port, "-t", "ro/a", "-m", "kept", "-r"]), b"").status.success());
    let sub = Subscriber::start(
        &broker,
        tool(false, "sub", &["-p", &port, "-t", "sync/#", "-t", "ro/#", "-v", "--retained-only", "-W", "10"]),
    );
    assert!(run(tool(true, "pub", &["-p", &port, "-t", "ro/live", "-m", "live"]), b"").status.success());
    let (rest, code) = sub.finish();
    assert_eq!(String::from_utf8_lossy(&rest), "ro/a kept\n");
    assert_eq!(code, 0);
}

fn defaults_file_in_xdg_config_home_is_read_as_mosquitto_reads_its_own(kind: BrokerKind) {
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    assert!(run(tool(true, "pub", &["-p", &port, "-t", "dflt/a", "-m", "hello world", "-r"]), b"")
        .status
        .success());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tern_sub"), format!("# defaults\n-p {port}\n-F %t=%p\n-C 1\n")).unwrap();
    let mut cmd = tern();
    cmd.env("XDG_CONFIG_HOME", dir.path()).args(["sub", "-t", "dflt/#", "-W", "5"]);
    let out = run(cmd, b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "dflt/a=hello world\n");
    std::fs::write(dir.path().join("tern_pub"), format!("-p {port}\n-t dflt/b\n")).unwrap();
    let mut cmd = tern();
    cmd.env("XDG_CONFIG_HOME", dir.path()).args(["pub", "-m", "from defaults", "-r"]);
    assert!(run(cmd, b"").status.success());
    let out = run(tool(true, "sub", &["-p", &port, "-t", "dflt/b", "-C", "1", "-W", "5"]), b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from defaults\n");
}

fn will_of_a_killed_tern_sub_is_published(kind: BrokerKind) {
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    let mut victim = Subscriber::start(
        &broker,
        tool(
            false,
            "sub",
            &[
                "-p",
                &port,
                "-t",
                "sync/#",
                "-v",
                "--will-topic",
                "wills/sub",
                "--will-payload",
                "gone",
                "--will-qos",
                "1",
            ],
        ),
    );
    let watcher = Subscriber::start(
        &broker,
        tool(true, "sub", &["-p", &port, "-t", "sync/#", "-t", "wills/#", "-v", "-C", "2", "-W", "10"]),
    );
    victim.child.kill().unwrap();
    let _ = victim.child.wait();
    let (rest, code) = watcher.finish();
    assert_eq!(String::from_utf8_lossy(&rest), "wills/sub gone\n");
    assert_eq!(code, 0);
}

fn url_option_carries_host_port_credentials_and_topic(kind: BrokerKind) {
    let broker = AnyBroker::start(kind);
    let port = broker.port;
    let url = format!("mqtt://someone:secret@127.0.0.1:{port}/url/topic");
    assert!(run(tool(false, "pub", &["-L", &url, "-m", "via url", "-r"]), b"").status.success());
    let out = run(tool(false, "sub", &["-L", &url, "-C", "1", "-v", "-W", "5"]), b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "url/topic via url\n");
}

fn tern_rr_prints_the_response_to_its_request(kind: BrokerKind) {
    // A responder answers each request on its response topic; rr prints the answer and exits 0.
    let broker = AnyBroker::start(kind);
    let port = broker.port;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let responder = rt.block_on(async {
        use tern_client::{Client, ConnectOptions, Event, ProtocolVersion, QoS};
        let opts = ConnectOptions::new("127.0.0.1", port).version(ProtocolVersion::V5);
        let (client, mut events, _) = Client::connect(opts).await.unwrap();
        client.subscribe("svc/time", QoS::AtLeastOnce).await.unwrap();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let Event::Message(m) = event {
                    if let Some(rt) = m.properties.response_topic.clone() {
                        let answer = format!("answer to {}", String::from_utf8_lossy(&m.payload));
                        client.publish(rt, answer, QoS::AtLeastOnce, false).await.unwrap();
                    }
                }
            }
        })
    });
    let p = port.to_string();
    let out = run(
        tool(false, "rr", &["-p", &p, "-t", "svc/time", "-e", "svc/reply", "-m", "what time", "-W", "5"]),
        b"",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "answer to what time\n");
    assert_eq!(out.status.code(), Some(0));
    let out =
        run(tool(false, "rr", &["-p", &p, "-t", "svc/none", "-e", "svc/reply", "-m", "q", "-W", "1"]), b"");
    let theirs =
        run(tool(true, "rr", &["-p", &p, "-t", "svc/none", "-e", "svc/reply", "-m", "q", "-W", "1"]), b"");
    assert_eq!(normalise(&out.stderr), normalise(&theirs.stderr));
    assert_eq!(out.status.code(), theirs.status.code());
    responder.abort();
}

#[test]
fn help_is_printed_for_help_and_exits_1_like_mosquitto() {
    for name in ["pub", "sub", "rr"] {
        let out = run(tool(false, name, &["--help"]), b"");
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("Usage: tern {name}")), "{text}");
        for flag in [
            "-h :",
            "-p :",
            "-i :",
            "-u :",
            "-P :",
            "--will-topic",
            "--cafile",
            "--insecure",
            "--tls-version",
        ] {
            assert!(text.contains(flag), "{name} --help lacks {flag}");
        }
    }
}

#[test]
fn tern_pub_and_sub_work_against_tern_broker_as_mosquitto_tools_do() {
    // Retained messages at each QoS and version through `tern broker`, printed by both subscribers alike.
    // `tern broker -p PORT`, run in a directory of its own (where its store goes).
    let broker = tern_test_support::TernBroker::start(std::path::Path::new(env!("CARGO_BIN_EXE_tern")), &[]);
    let port = broker.port().to_string();
    for (i, version) in ["31", "311", "5"].iter().enumerate() {
        for qos in ["0", "1", "2"] {
            let topic = format!("tb/{version}/{qos}");
            let out = run(
                tool(
                    false,
                    "pub",
                    &["-p", &port, "-t", &topic, "-m", "23.5", "-q", qos, "-r", "-V", version],
                ),
                b"",
            );
            assert!(out.status.success(), "{out:?}");
        }
        let filter = format!("tb/{version}/#");
        let args = [
            "-p",
            port.as_str(),
            "-t",
            filter.as_str(),
            "-C",
            "3",
            "-W",
            "5",
            "-q",
            "2",
            "-V",
            version,
            "-F",
            "%t %q %r %p",
        ];
        let ours = run(tool(false, "sub", &args), b"");
        let theirs = run(tool(true, "sub", &args), b"");
        let lines = |b: &[u8]| {
            let mut v: Vec<String> = String::from_utf8_lossy(b).lines().map(str::to_owned).collect();
            v.sort();
            v
        };
        assert_eq!(lines(&ours.stdout), lines(&theirs.stdout), "{version}");
        assert_eq!(lines(&ours.stdout).len(), 3, "{i}: {:?}", String::from_utf8_lossy(&ours.stderr));
        assert_eq!(ours.status.code(), Some(0));
    }
}

/// `-c -i ID` (and `-x` for 5.0): the session outlives the subscriber, and QoS 1 messages published while it
/// is away arrive when it returns, for `tern sub` as for `mosquitto_sub`; without `-c` nothing is kept.
fn persistent_session_flags_queue_what_arrived_while_away(kind: BrokerKind) {
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    for version in ["311", "5"] {
        for real in [false, true] {
            for persistent in [true, false] {
                let id = format!("away-{real}-{version}-{persistent}");
                let topic = format!("away/{id}");
                let mut base = vec!["-p", port.as_str(), "-t", topic.as_str(), "-q", "1", "-i", id.as_str()];
                base.extend(["-V", version]);
                if persistent {
                    base.push("-c");
                    if version == "5" {
                        base.extend(["-x", "60"]);
                    }
                }
                let first = [base.as_slice(), &["-W", "1"]].concat();
                let out = run(tool(real, "sub", &first), b"");
                assert_eq!(out.status.code(), Some(27), "first visit of {id}: {out:?}");
                for m in ["one", "two"] {
                    let out = run(tool(true, "pub", &["-p", &port, "-t", &topic, "-m", m, "-q", "1"]), b"");
                    assert!(out.status.success());
                }
                let second = [base.as_slice(), &["-C", "2", "-W", "2"]].concat();
                let out = run(tool(real, "sub", &second), b"");
                let (stdout, code) = (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code());
                if persistent {
                    assert_eq!((stdout.as_str(), code), ("one\ntwo\n", Some(0)), "{id}");
                } else {
                    assert_eq!((stdout.as_str(), code), ("", Some(27)), "{id}");
                }
            }
        }
    }
}

/// `-R`: retained messages (stale ones, sent because of the subscription) are not printed.
fn no_stale_flag_skips_retained_messages(kind: BrokerKind) {
    let broker = AnyBroker::start(kind);
    let port = broker.port.to_string();
    assert!(run(tool(true, "pub", &["-p", &port, "-t", "ns/a", "-m", "old", "-r"]), b"").status.success());
    for real in [false, true] {
        let out = run(tool(real, "sub", &["-p", &port, "-t", "ns/#", "-v", "-W", "1"]), b"");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ns/a old\n", "without -R ({real})");
        let out = run(tool(real, "sub", &["-p", &port, "-t", "ns/#", "-v", "-R", "-W", "1"]), b"");
        assert_eq!((out.stdout.as_slice(), out.status.code()), (&b""[..], Some(27)), "with -R ({real})");
    }
}
